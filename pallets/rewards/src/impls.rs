//! The logic behind the calls, the escrow and reward seams, releases and the invariants.

use crate::{pallet::*, types::*, weights::WeightInfo, Owed, LOG_TARGET, RELEASE_SLACK};
use alloc::vec::Vec;
use mnemo_primitives::{
	batch::{self, MerkleProof, Payout},
	Balance, BatchCharge, BatchEscrow, BatchId, BatchPayout, Charge, PaymentEscrow, ReceiptId, RewardSink, Settlement,
};
use polkadot_sdk::{
	frame_support::{
		ensure,
		pallet_prelude::*,
		storage::with_storage_layer,
		traits::{
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Preservation, Restriction},
		},
		BoundedVec,
	},
	frame_system::{self, pallet_prelude::BlockNumberFor},
	sp_runtime::{
		traits::{One, Saturating, UniqueSaturatedInto, Zero},
		DispatchError, DispatchResult, TokenError,
	},
};

impl<B: Default + One> Default for RewardParams<B> {
	/// The default split, no notice, one-block spend periods (genesis presets set real ones).
	fn default() -> Self {
		RewardParams { split: FeeSplit::default(), notice: B::default(), spend_period: B::one() }
	}
}

impl<T: Config> From<SplitError> for Error<T> {
	fn from(e: SplitError) -> Self {
		match e {
			SplitError::SharesExceedWhole => Error::SharesExceedWhole,
			SplitError::DuplicateContribution => Error::DuplicateContribution,
			SplitError::DuplicateAttestor => Error::DuplicateAttestor,
		}
	}
}

impl<T: Config> Pallet<T> {
	fn now() -> BlockNumberFor<T> {
		frame_system::Pallet::<T>::block_number()
	}

	fn reason() -> T::RuntimeHoldReason {
		HoldReason::Channel.into()
	}

	/// The parameters in force.
	pub fn current_params() -> RewardParams<BlockNumberFor<T>> {
		Params::<T>::get().unwrap_or_default()
	}

	/// Refuse a split whose parts do not sum to 100%, or an empty spend period.
	pub(crate) fn check_params(params: &RewardParams<BlockNumberFor<T>>) -> DispatchResult {
		ensure!(params.split.is_whole(), Error::<T>::InvalidSplit);
		ensure!(!params.spend_period.is_zero(), Error::<T>::ZeroPeriod);
		Ok(())
	}

	/// What a payer holds for all its channels together (under [`HoldReason::Channel`]).
	pub fn held_for_channels(who: &T::AccountId) -> Balance {
		T::Currency::balance_on_hold(&Self::reason(), who)
	}

	/// Where the fee of `receipt` is, if it is still held.
	pub fn funds_of(receipt: ReceiptId) -> Option<ReceiptFunds<T>> {
		Escrows::<T>::get(receipt)
			.map(ReceiptFunds::Escrowed)
			.or_else(|| Pending::<T>::get(receipt).map(ReceiptFunds::Pending))
	}

	/// The spend period of block `now`.
	fn period_of(now: BlockNumberFor<T>) -> u32 {
		let length = Self::current_params().spend_period.max(One::one());
		(now / length).unique_saturated_into()
	}

	pub(crate) fn do_open_channel(payer: &T::AccountId, operator: &T::AccountId, deposit: Balance) -> DispatchResult {
		ensure!(payer != operator, Error::<T>::SelfChannel);
		ensure!(deposit > 0, Error::<T>::ZeroAmount);
		ensure!(deposit >= T::MinChannelDeposit::get(), Error::<T>::DepositTooLow);
		ensure!(!Channels::<T>::contains_key(payer, operator), Error::<T>::ChannelExists);
		ChannelCount::<T>::try_mutate(payer, |n| {
			ensure!(*n < T::MaxChannels::get(), Error::<T>::TooManyChannels);
			*n += 1;
			Ok::<_, Error<T>>(())
		})?;
		T::Currency::hold(&Self::reason(), payer, deposit)?;
		let id = NextChannel::<T>::mutate(|n| {
			let id = *n;
			*n = n.saturating_add(1);
			id
		});
		Channels::<T>::insert(payer, operator, Channel { id, balance: deposit, ..Default::default() });
		Self::deposit_event(Event::ChannelOpened { payer: payer.clone(), operator: operator.clone(), channel: id, deposit });
		Ok(())
	}

	pub(crate) fn do_top_up(payer: &T::AccountId, operator: &T::AccountId, amount: Balance) -> DispatchResult {
		ensure!(amount > 0, Error::<T>::ZeroAmount);
		let mut ch = Channels::<T>::get(payer, operator).ok_or(Error::<T>::NoChannel)?;
		ensure!(ch.closes_at.is_none(), Error::<T>::ChannelClosing);
		T::Currency::hold(&Self::reason(), payer, amount)?;
		ch.balance = ch.balance.saturating_add(amount);
		Channels::<T>::insert(payer, operator, ch);
		Self::deposit_event(Event::ChannelToppedUp {
			payer: payer.clone(),
			operator: operator.clone(),
			amount,
			balance: ch.balance,
		});
		Ok(())
	}

	pub(crate) fn do_close_channel(payer: &T::AccountId, operator: &T::AccountId) -> DispatchResult {
		let mut ch = Channels::<T>::get(payer, operator).ok_or(Error::<T>::NoChannel)?;
		ensure!(ch.closes_at.is_none(), Error::<T>::ChannelClosing);
		// At least the next block: a channel never closes in the block that closes it.
		let closes_at = Self::now().saturating_add(Self::current_params().notice.max(One::one()));
		ch.closes_at = Some(closes_at);
		Channels::<T>::insert(payer, operator, ch);
		Self::deposit_event(Event::ChannelClosing {
			payer: payer.clone(),
			operator: operator.clone(),
			closes_at,
			balance: ch.balance,
		});
		Ok(())
	}

	pub(crate) fn do_finish_close(payer: &T::AccountId, operator: &T::AccountId) -> DispatchResult {
		let ch = Channels::<T>::get(payer, operator).ok_or(Error::<T>::NoChannel)?;
		ensure!(ch.closes_at.is_some_and(|at| at <= Self::now()), Error::<T>::ChannelOpen);
		if ch.balance > 0 {
			T::Currency::release(&Self::reason(), payer, ch.balance, Precision::Exact)?;
		}
		Channels::<T>::remove(payer, operator);
		ChannelCount::<T>::mutate_exists(payer, |n| {
			*n = n.map(|n| n.saturating_sub(1)).filter(|n| *n > 0);
		});
		Self::deposit_event(Event::ChannelClosed {
			payer: payer.clone(),
			operator: operator.clone(),
			returned: ch.balance,
			spent: ch.spent,
		});
		Ok(())
	}

	pub(crate) fn do_claim_payout(
		operator: T::AccountId,
		batch: BatchId,
		payout: Payout<T::AccountId>,
		proof: MerkleProof,
	) -> DispatchResult {
		let mut book = PayoutBooks::<T>::get(&operator).ok_or(Error::<T>::NoPayouts)?;
		let tree = book.roots.iter().find(|r| r.batch == batch).ok_or(Error::<T>::UnknownRoot)?;
		ensure!(batch::verify(&tree.root, tree.count, payout.hash(), &proof), Error::<T>::BadProof);
		let before = PaidOut::<T>::get(&operator, &payout.who);
		let amount = payout.amount.saturating_sub(before);
		ensure!(amount > 0, Error::<T>::AlreadyClaimed);
		// Trees whose totals sum to more than the batches added cannot pay past it.
		book.paid =
			book.paid.checked_add(amount).filter(|p| *p <= book.settled).ok_or(Error::<T>::PayoutsExhausted)?;
		T::Currency::transfer(&Self::account_id(), &payout.who, amount, Preservation::Preserve).map_err(|e| {
			if e == DispatchError::Token(TokenError::BelowMinimum) {
				Error::<T>::BelowMinimum.into()
			} else {
				e
			}
		})?;
		PaidOut::<T>::insert(&operator, &payout.who, payout.amount);
		PayoutBooks::<T>::insert(&operator, book);
		Ledgers::<T>::mutate(&payout.who, |l| l.claimed = l.claimed.saturating_add(amount));
		Self::deposit_event(Event::PayoutClaimed { operator, batch, who: payout.who, amount, total: payout.amount });
		Ok(())
	}

	pub(crate) fn do_claim(who: &T::AccountId) -> DispatchResult {
		let mut ledger = Ledgers::<T>::get(who);
		let amount = ledger.claimable;
		ensure!(amount > 0, Error::<T>::NothingToClaim);
		T::Currency::transfer(&Self::account_id(), who, amount, Preservation::Preserve).map_err(|e| {
			if e == DispatchError::Token(TokenError::BelowMinimum) {
				Error::<T>::BelowMinimum.into()
			} else {
				e
			}
		})?;
		ledger.claimable = 0;
		ledger.refunds = 0;
		ledger.claimed = ledger.claimed.saturating_add(amount);
		Ledgers::<T>::insert(who, ledger);
		Self::deposit_event(Event::Claimed { who: who.clone(), amount });
		Ok(())
	}

	/// Add `amount` charged in `period` to `payer`'s spend totals, or take it off (a refund).
	fn record_spend(payer: &T::AccountId, adapter: mnemo_primitives::AdapterId, period: u32, amount: Balance, add: bool) {
		let apply = |v: &mut Balance| *v = if add { v.saturating_add(amount) } else { v.saturating_sub(amount) };
		SpentByAdapter::<T>::mutate(payer, adapter, apply);
		Self::record_spend_total(payer, period, amount, add);
	}

	/// Add `amount` charged in `period` to `payer`'s total and per-period spend, or take it off.
	fn record_spend_total(payer: &T::AccountId, period: u32, amount: Balance, add: bool) {
		let apply = |v: &mut Balance| *v = if add { v.saturating_add(amount) } else { v.saturating_sub(amount) };
		Spent::<T>::mutate(payer, |s| {
			apply(&mut s.total);
			s.receipts = if add { s.receipts.saturating_add(1) } else { s.receipts.saturating_sub(1) };
		});
		SpentByPeriod::<T>::mutate(payer, |periods| {
			if let Some((_, v)) = periods.iter_mut().rev().find(|(p, _)| *p == period) {
				apply(v);
			} else if add {
				// The oldest period gives way.
				let _ = periods.force_insert_keep_right(periods.len(), (period, amount));
			}
		});
	}

	/// Put `amount` from the pallet account back to `payer`: into its channel `channel` to
	/// `operator` while that channel is open (it may be charged again, within the payer's
	/// vouchers), else into its account; if neither can take it (the account is gone and the amount is below
	/// the existential deposit), make it claimable. Never fails.
	fn give_back(payer: &T::AccountId, operator: &T::AccountId, channel: u64, amount: Balance) {
		let returned = with_storage_layer(|| {
			match Channels::<T>::get(payer, operator).filter(|ch| ch.id == channel) {
				Some(mut ch) => {
					T::Currency::transfer_and_hold(
						&Self::reason(),
						&Self::account_id(),
						payer,
						amount,
						Precision::Exact,
						Preservation::Preserve,
						Fortitude::Polite,
					)?;
					ch.balance = ch.balance.saturating_add(amount);
					ch.spent = ch.spent.saturating_sub(amount);
					Channels::<T>::insert(payer, operator, ch);
				},
				None => {
					T::Currency::transfer(&Self::account_id(), payer, amount, Preservation::Preserve)?;
				},
			}
			Ok::<_, DispatchError>(())
		});
		if let Err(e) = returned {
			log::debug!(target: LOG_TARGET, "refund to the payer failed ({e:?}); made claimable");
			Ledgers::<T>::mutate(payer, |l| {
				l.claimable = l.claimable.saturating_add(amount);
				l.refunds = l.refunds.saturating_add(amount);
			});
		}
	}

	/// Release the settlements due at `now`. Bounded by `MaxReleasesPerBlock`.
	pub(crate) fn release_due(now: BlockNumberFor<T>) -> Weight {
		let due = Releases::<T>::take(now);
		if due.is_empty() {
			return T::WeightInfo::on_initialize_idle();
		}
		let n = due.len() as u32;
		for receipt in due {
			Self::release(receipt, now);
		}
		T::WeightInfo::release(n)
	}

	/// Make the credits of a pending settlement claimable. A refunded one is gone: nothing to do.
	fn release(receipt: ReceiptId, now: BlockNumberFor<T>) {
		let Some(p) = Pending::<T>::take(receipt) else { return };
		for payee in p.payees {
			let amount = payee.amounts.total();
			Ledgers::<T>::mutate(&payee.who, |l| {
				l.pending = l.pending.saturating_sub(amount);
				l.claimable = l.claimable.saturating_add(amount);
				l.earned.accrue(&payee.amounts);
			});
			RecentCredits::<T>::mutate(&payee.who, |r| {
				// The oldest credit gives way.
				let record = CreditRecord { receipt, adapter: p.adapter, amounts: payee.amounts, released_at: now };
				let _ = r.force_insert_keep_right(r.len(), record);
			});
			Self::deposit_event(Event::Credited { who: payee.who, receipt, amount });
		}
		for (contribution, amount) in p.contributions {
			ContributionEarnings::<T>::mutate(contribution, |e| *e = e.saturating_add(amount));
		}
		Self::deposit_event(Event::Released { receipt, fee: p.fee });
	}

	/// What the pallet account owes, summed over all escrows, pending settlements and ledgers.
	/// Reads the whole of that state: for `try_state`, tests and offchain use, not for calls.
	pub fn owed() -> Owed {
		let sum = |it: &mut dyn Iterator<Item = Balance>| it.fold(0u128, |s, x| s.saturating_add(x));
		Owed {
			escrowed: sum(&mut Escrows::<T>::iter_values().map(|e| e.amount))
				.saturating_add(sum(&mut BatchEscrows::<T>::iter_values().map(|e| e.total))),
			pending: sum(&mut Pending::<T>::iter_values().map(|p| p.fee)),
			claimable: sum(&mut Ledgers::<T>::iter_values().map(|l| l.claimable))
				.saturating_add(sum(&mut PayoutBooks::<T>::iter_values().map(|p| p.settled.saturating_sub(p.paid)))),
		}
	}

	/// The pallet's invariants: the pallet account covers what it owes, every settlement
	/// credits exactly its fee, is queued for release and is what the ledgers count as pending,
	/// the channel counts are right, and each payer holds exactly its channels' balances.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		let queued: Vec<ReceiptId> = Releases::<T>::iter_values().flat_map(|v| v.into_inner()).collect();
		for (id, p) in Pending::<T>::iter() {
			ensure!(!Escrows::<T>::contains_key(id), "a receipt is both escrowed and settled");
			let credited = p.payees.iter().fold(0u128, |s, x| s.saturating_add(x.amounts.total()));
			ensure!(credited == p.fee, "a settlement does not credit exactly its fee");
			ensure!(queued.contains(&id), "a pending settlement is not queued for release");
		}
		let mut ledger_pending = 0u128;
		for l in Ledgers::<T>::iter_values() {
			ledger_pending = ledger_pending.saturating_add(l.pending);
			ensure!(l.refunds <= l.claimable, "refunds exceed what is claimable");
		}
		let Owed { escrowed, pending, claimable } = Self::owed();
		ensure!(ledger_pending == pending, "ledgers' pending credits do not match the settlements");
		let owed = escrowed.saturating_add(pending).saturating_add(claimable);
		ensure!(
			T::Currency::balance(&Self::account_id()) >= owed,
			"the pallet account holds less than it owes"
		);
		for (payer, n) in ChannelCount::<T>::iter() {
			ensure!(n > 0 && n <= T::MaxChannels::get(), "channel count out of range");
			let channels: Vec<Channel<BlockNumberFor<T>>> = Channels::<T>::iter_prefix_values(&payer).collect();
			ensure!(channels.len() as u32 == n, "channel count is wrong");
			let balance = channels.iter().fold(0u128, |s, c| s.saturating_add(c.balance));
			ensure!(Self::held_for_channels(&payer) == balance, "a payer's hold is not its channels' balances");
		}
		for payer in Channels::<T>::iter_keys().map(|(p, _)| p) {
			ensure!(ChannelCount::<T>::contains_key(&payer), "channels without a count");
		}
		if let Some(params) = Params::<T>::get() {
			ensure!(Self::check_params(&params).is_ok(), "invalid parameters in force");
		}
		Ok(())
	}
}

impl<T: Config> Pallet<T> {
	/// Move `amount` from `payer`'s channel to `operator` into the pallet's escrow, as voucher
	/// `seq` of channel `channel` consenting to `cumulative` in all: the channel must be open and
	/// be that channel, the voucher newer than the last one drawn, the channel's spending within
	/// `cumulative` and its balance enough. The channel as it is after; changes nothing if it fails.
	fn draw_on_channel(
		payer: &T::AccountId,
		operator: &T::AccountId,
		channel: u64,
		seq: u64,
		cumulative: Balance,
		amount: Balance,
		now: BlockNumberFor<T>,
	) -> Result<Channel<BlockNumberFor<T>>, DispatchError> {
		let mut ch = Channels::<T>::get(payer, operator).ok_or(Error::<T>::NoChannel)?;
		ensure!(ch.id == channel, Error::<T>::WrongChannel);
		ensure!(ch.closes_at.is_none_or(|at| now < at), Error::<T>::ChannelClosed);
		ensure!(seq > ch.seq, Error::<T>::StaleVoucher);
		let spent = ch.spent.checked_add(amount).filter(|s| *s <= cumulative).ok_or(Error::<T>::AboveConsent)?;
		ch.balance = ch.balance.checked_sub(amount).ok_or(Error::<T>::ChannelDepleted)?;
		T::Currency::transfer_on_hold(
			&Self::reason(),
			payer,
			&Self::account_id(),
			amount,
			Precision::Exact,
			Restriction::Free,
			Fortitude::Polite,
		)?;
		ch.spent = spent;
		ch.seq = seq;
		Channels::<T>::insert(payer, operator, &ch);
		Ok(ch)
	}
}

impl<T: Config> PaymentEscrow<T::AccountId> for Pallet<T> {
	fn charge(c: Charge<T::AccountId>) -> Result<(), DispatchError> {
		ensure!(c.amount > 0, Error::<T>::ZeroAmount);
		ensure!(
			!Escrows::<T>::contains_key(c.receipt) && !Pending::<T>::contains_key(c.receipt),
			Error::<T>::DuplicateReceipt
		);
		let now = Self::now();
		let ch = Self::draw_on_channel(&c.payer, &c.operator, c.channel, c.seq, c.cumulative, c.amount, now)?;
		let period = Self::period_of(now);
		Self::record_spend(&c.payer, c.adapter, period, c.amount, true);
		Escrows::<T>::insert(
			c.receipt,
			Escrow {
				payer: c.payer.clone(),
				operator: c.operator.clone(),
				channel: c.channel,
				adapter: c.adapter,
				amount: c.amount,
				period,
			},
		);
		Self::deposit_event(Event::Charged {
			receipt: c.receipt,
			payer: c.payer,
			operator: c.operator,
			adapter: c.adapter,
			amount: c.amount,
			seq: c.seq,
			spent: ch.spent,
			balance: ch.balance,
		});
		Ok(())
	}

	fn refund(receipt: ReceiptId) -> Result<Balance, DispatchError> {
		let (payer, operator, channel, adapter, period, amount, clawed_back) = if let Some(e) = Escrows::<T>::take(receipt) {
			(e.payer, e.operator, e.channel, e.adapter, e.period, e.amount, false)
		} else if let Some(p) = Pending::<T>::take(receipt) {
			for payee in &p.payees {
				Ledgers::<T>::mutate_exists(&payee.who, |l| {
					if let Some(ledger) = l {
						ledger.pending = ledger.pending.saturating_sub(payee.amounts.total());
						if ledger.is_empty() {
							*l = None;
						}
					}
				});
			}
			(p.payer, p.operator, p.channel, p.adapter, p.period, p.fee, true)
		} else {
			return Err(Error::<T>::UnknownReceipt.into());
		};
		Self::record_spend(&payer, adapter, period, amount, false);
		Self::give_back(&payer, &operator, channel, amount);
		Self::deposit_event(Event::Refunded { receipt, payer, amount, clawed_back });
		Ok(amount)
	}
}

impl<T: Config> RewardSink<T::AccountId, BlockNumberFor<T>> for Pallet<T> {
	fn settle(s: Settlement<T::AccountId, BlockNumberFor<T>>) -> Result<Balance, DispatchError> {
		ensure!(s.contributions.len() as u32 <= T::MaxContributions::get(), Error::<T>::TooManyContributions);
		ensure!(s.attestors.len() as u32 <= T::MaxAttestors::get(), Error::<T>::TooManyAttestors);
		let escrow = Escrows::<T>::get(s.receipt).ok_or_else(|| {
			if Pending::<T>::contains_key(s.receipt) {
				Error::<T>::AlreadySettled
			} else {
				Error::<T>::UnknownReceipt
			}
		})?;
		let params = Self::current_params();
		let split = split_fee(
			escrow.amount,
			&params.split,
			&s.adapter_owner,
			&T::Treasury::get(),
			&s.contributions,
			&s.attestors,
		)
		.map_err(Error::<T>::from)?;
		let payees: BoundedVec<_, MaxPayees<T>> =
			split.payees.try_into().map_err(|_| Error::<T>::TooManyContributions)?;
		let contributions: BoundedVec<_, T::MaxContributions> =
			split.contributions.try_into().map_err(|_| Error::<T>::TooManyContributions)?;

		// The first block from `release_at` (and after this one) with a free release slot.
		let first = s.release_at.max(Self::now().saturating_add(One::one()));
		let release_at = (0..RELEASE_SLACK)
			.map(|i| first.saturating_add(i.into()))
			.find(|b| Releases::<T>::mutate(b, |q| q.try_push(s.receipt).is_ok()))
			.ok_or(Error::<T>::ReleaseQueueFull)?;

		for payee in &payees {
			Ledgers::<T>::mutate(&payee.who, |l| l.pending = l.pending.saturating_add(payee.amounts.total()));
		}
		Escrows::<T>::remove(s.receipt);
		let count = payees.len() as u32;
		Pending::<T>::insert(
			s.receipt,
			PendingSettlement {
				payer: escrow.payer,
				operator: escrow.operator,
				channel: escrow.channel,
				adapter: escrow.adapter,
				fee: escrow.amount,
				period: escrow.period,
				release_at,
				payees,
				contributions,
			},
		);
		Self::deposit_event(Event::Settled { receipt: s.receipt, fee: escrow.amount, payees: count, release_at });
		Ok(escrow.amount)
	}
}

impl<T: Config> BatchEscrow<T::AccountId> for Pallet<T> {
	fn split() -> FeeSplit {
		Self::current_params().split
	}

	fn charges(batch: BatchId) -> Vec<(T::AccountId, Balance)> {
		BatchCharges::<T>::iter_prefix(batch).map(|(payer, (_, amount))| (payer, amount)).collect()
	}

	fn charge(batch: BatchId, c: BatchCharge<T::AccountId>) -> Result<(), DispatchError> {
		ensure!(c.amount > 0, Error::<T>::ZeroAmount);
		ensure!(!BatchCharges::<T>::contains_key(batch, &c.payer), Error::<T>::DuplicateCharge);
		let now = Self::now();
		let mut escrow = BatchEscrows::<T>::get(batch).unwrap_or(BatchEscrowOf::<T> {
			operator: c.operator.clone(),
			total: 0,
			payers: 0,
			period: Self::period_of(now),
		});
		ensure!(escrow.operator == c.operator, Error::<T>::UnknownBatch);
		ensure!(escrow.payers < T::MaxPayersPerBatch::get(), Error::<T>::TooManyPayers);
		let ch = Self::draw_on_channel(&c.payer, &c.operator, c.channel, c.seq, c.cumulative, c.amount, now)?;
		escrow.total = escrow.total.saturating_add(c.amount);
		escrow.payers += 1;
		Self::record_spend_total(&c.payer, escrow.period, c.amount, true);
		BatchCharges::<T>::insert(batch, &c.payer, (c.channel, c.amount));
		BatchEscrows::<T>::insert(batch, escrow);
		Self::deposit_event(Event::BatchCharged {
			batch,
			payer: c.payer,
			operator: c.operator,
			amount: c.amount,
			seq: c.seq,
			spent: ch.spent,
			balance: ch.balance,
		});
		Ok(())
	}

	fn refund(batch: BatchId) -> Result<Balance, DispatchError> {
		let escrow = BatchEscrows::<T>::take(batch).ok_or(Error::<T>::UnknownBatch)?;
		let mut payers = 0u32;
		for (payer, (channel, amount)) in BatchCharges::<T>::drain_prefix(batch) {
			Self::record_spend_total(&payer, escrow.period, amount, false);
			Self::give_back(&payer, &escrow.operator, channel, amount);
			payers += 1;
		}
		Self::deposit_event(Event::BatchRefunded { batch, payers, amount: escrow.total });
		Ok(escrow.total)
	}

	fn settle(batch: BatchId, p: BatchPayout<T::AccountId>) -> Result<(), DispatchError> {
		let escrow = BatchEscrows::<T>::get(batch).ok_or(Error::<T>::UnknownBatch)?;
		ensure!(p.total.checked_add(p.attestors_part) == Some(escrow.total), Error::<T>::PayoutMismatch);
		ensure!(p.attestors.len() as u32 <= T::MaxAttestors::get(), Error::<T>::TooManyAttestors);
		for (i, a) in p.attestors.iter().enumerate() {
			ensure!(!p.attestors[..i].contains(a), Error::<T>::DuplicateAttestor);
		}
		BatchEscrows::<T>::remove(batch);
		let _ = BatchCharges::<T>::clear_prefix(batch, escrow.payers.max(1), None);
		// The attestors' part equally to the panel that agreed, the rest (or all, with no such
		// attestor) to the treasury: credited at once, the challenge window being behind.
		let each = p.attestors_part.checked_div(p.attestors.len() as Balance).unwrap_or(0);
		let credit = |who: &T::AccountId, role: Role, amount: Balance| {
			if amount == 0 {
				return;
			}
			Ledgers::<T>::mutate(who, |l| {
				l.claimable = l.claimable.saturating_add(amount);
				*l.earned.slot(role) = l.earned.get(role).saturating_add(amount);
			});
		};
		for a in &p.attestors {
			credit(a, Role::Attestor, each);
		}
		let dust = p.attestors_part.saturating_sub(each.saturating_mul(p.attestors.len() as Balance));
		credit(&T::Treasury::get(), Role::Treasury, dust);
		// The batch's running totals become what the operator's payees claim against; the
		// oldest root gives way.
		PayoutBooks::<T>::mutate(&escrow.operator, |book| {
			let book = book.get_or_insert_with(Default::default);
			if book.roots.is_full() {
				book.roots.remove(0);
			}
			let _ = book.roots.try_push(PayoutRoot { batch, root: p.root, count: p.count });
			book.settled = book.settled.saturating_add(p.total);
		});
		Self::deposit_event(Event::BatchSettled {
			batch,
			operator: escrow.operator,
			total: p.total,
			count: p.count,
			attestors: p.attestors.len() as u32,
			attestors_part: p.attestors_part,
		});
		Ok(())
	}
}

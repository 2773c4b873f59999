//! The logic behind the calls, the batch escrow seam and the invariants.

use crate::{pallet::*, types::*, weights::WeightInfo, Owed, LOG_TARGET};
use alloc::vec::Vec;
use mnemo_primitives::{
	batch::{self, ChargedPayer, MerkleProof, Payout},
	Balance, BatchCharge, BatchEscrow, BatchId, BatchPayout,
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
		// At least `MinNotice`, whatever the parameters say (a genesis may set less), and at
		// least the next block: a channel never closes in the block that closes it.
		let notice = Self::current_params().notice.max(T::MinNotice::get()).max(One::one());
		let closes_at = Self::now().saturating_add(notice);
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

	/// Add `amount` charged in `period` for `receipts` receipts to `payer`'s total and
	/// per-period spend, or take it off (a refund).
	fn record_spend(payer: &T::AccountId, period: u32, amount: Balance, receipts: u32, add: bool) {
		let apply = |v: &mut Balance| *v = if add { v.saturating_add(amount) } else { v.saturating_sub(amount) };
		Spent::<T>::mutate(payer, |s| {
			apply(&mut s.total);
			let n = u64::from(receipts);
			s.receipts = if add { s.receipts.saturating_add(n) } else { s.receipts.saturating_sub(n) };
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

	/// Give up to `budget` payers of refunded batches (`Refunding`) their charges back, one batch
	/// after another; a batch whose last payer is back is done. The weight used.
	pub(crate) fn give_back_refunds(budget: u32) -> Weight {
		let mut done = 0u32;
		while done < budget {
			let Some((batch, mut r)) = Refunding::<T>::iter().next() else { break };
			let mut left = BatchCharges::<T>::get(batch).into_inner();
			let back = left.split_off(left.len().saturating_sub((budget - done) as usize));
			for (payer, BatchChargeRecord { channel, amount, receipts, .. }) in back {
				Self::record_spend(&payer, r.escrow.period, amount, receipts, false);
				Self::give_back(&payer, &r.escrow.operator, channel, amount);
				r.left = r.left.saturating_sub(amount);
				r.payers_left = r.payers_left.saturating_sub(1);
				done += 1;
			}
			if left.is_empty() {
				BatchCharges::<T>::remove(batch);
				Refunding::<T>::remove(batch);
				Self::deposit_event(Event::BatchRefunded { batch, payers: r.escrow.payers, amount: r.escrow.total });
			} else {
				BatchCharges::<T>::insert(batch, BoundedVec::truncate_from(left));
				Refunding::<T>::insert(batch, r);
			}
		}
		T::WeightInfo::give_back_refunds(done)
	}

	/// What the pallet account owes, summed over all batch escrows, payout books and ledgers.
	/// Reads the whole of that state: for `try_state`, tests and offchain use, not for calls.
	pub fn owed() -> Owed {
		let sum = |it: &mut dyn Iterator<Item = Balance>| it.fold(0u128, |s, x| s.saturating_add(x));
		Owed {
			escrowed: sum(&mut BatchEscrows::<T>::iter_values().map(|e| e.total))
				.saturating_add(sum(&mut Refunding::<T>::iter_values().map(|r| r.left))),
			claimable: sum(&mut Ledgers::<T>::iter_values().map(|l| l.claimable))
				.saturating_add(sum(&mut PayoutBooks::<T>::iter_values().map(|p| p.settled.saturating_sub(p.paid)))),
		}
	}

	/// The pallet's invariants: the pallet account covers what it owes, each batch escrow is
	/// its charges, no operator's payees claimed more than its batches added, the channel counts
	/// are right, and each payer holds exactly its channels' balances.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		let sum = |batch| BatchCharges::<T>::get(batch).iter().fold((0u32, 0u128), |(n, s), (_, c)| (n + 1, s.saturating_add(c.amount)));
		for (batch, e) in BatchEscrows::<T>::iter() {
			ensure!(sum(batch) == (e.payers, e.total), "a batch escrow is not the sum of its charges");
		}
		for (batch, r) in Refunding::<T>::iter() {
			ensure!(sum(batch) == (r.payers_left, r.left), "a refund in progress is not the sum of its charges left");
			ensure!(!BatchEscrows::<T>::contains_key(batch), "a batch both escrowed and refunding");
		}
		for batch in BatchCharges::<T>::iter_keys() {
			ensure!(
				BatchEscrows::<T>::contains_key(batch) || Refunding::<T>::contains_key(batch),
				"charges of a batch neither escrowed nor refunding"
			);
		}
		for book in PayoutBooks::<T>::iter_values() {
			ensure!(book.paid <= book.settled, "an operator's payees claimed more than its batches added");
		}
		for l in Ledgers::<T>::iter_values() {
			ensure!(l.refunds <= l.claimable, "refunds exceed what is claimable");
		}
		let Owed { escrowed, claimable } = Self::owed();
		ensure!(
			T::Currency::balance(&Self::account_id()) >= escrowed.saturating_add(claimable),
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

impl<T: Config> Pallet<T> {
	fn charged(payer: T::AccountId, c: BatchChargeRecord) -> ChargedPayer<T::AccountId> {
		ChargedPayer {
			payer,
			channel: c.channel,
			after: c.after,
			seq: c.seq,
			amount: c.amount,
			first_leaf: c.first_leaf,
			receipts: c.receipts,
		}
	}
}

impl<T: Config> BatchEscrow<T::AccountId> for Pallet<T> {
	fn split() -> FeeSplit {
		Self::current_params().split
	}

	fn charges(batch: BatchId) -> Vec<ChargedPayer<T::AccountId>> {
		BatchCharges::<T>::get(batch).into_iter().map(|(payer, c)| Self::charged(payer, c)).collect()
	}

	fn charge_of(batch: BatchId, payer: &T::AccountId) -> Option<ChargedPayer<T::AccountId>> {
		BatchCharges::<T>::get(batch).into_iter().find(|(p, _)| p == payer).map(|(p, c)| Self::charged(p, c))
	}

	fn charge(batch: BatchId, charges: Vec<BatchCharge<T::AccountId>>) -> Result<(), DispatchError> {
		with_storage_layer(|| {
			let now = Self::now();
			let mut records = BatchCharges::<T>::get(batch);
			let mut escrow: Option<BatchEscrowOf<T>> = BatchEscrows::<T>::get(batch);
			// Charges without an escrow: the batch was refunded and is still giving them back.
			ensure!(escrow.is_some() || records.is_empty(), Error::<T>::UnknownBatch);
			for c in charges {
				ensure!(c.amount > 0, Error::<T>::ZeroAmount);
				ensure!(!records.iter().any(|(p, _)| *p == c.payer), Error::<T>::DuplicateCharge);
				let e = escrow.get_or_insert_with(|| BatchEscrowOf::<T> {
					operator: c.operator.clone(),
					total: 0,
					payers: 0,
					period: Self::period_of(now),
				});
				ensure!(e.operator == c.operator, Error::<T>::UnknownBatch);
				ensure!((records.len() as u32) < T::MaxPayersPerBatch::get(), Error::<T>::TooManyPayers);
				let after = Channels::<T>::get(&c.payer, &c.operator).map_or(0, |ch| ch.seq);
				let ch = Self::draw_on_channel(&c.payer, &c.operator, c.channel, c.seq, c.cumulative, c.amount, now)?;
				let record = BatchChargeRecord {
					channel: c.channel,
					after,
					seq: c.seq,
					amount: c.amount,
					receipts: c.receipts,
					first_leaf: c.first_leaf,
				};
				records.try_push((c.payer.clone(), record)).map_err(|_| Error::<T>::TooManyPayers)?;
				e.total = e.total.saturating_add(c.amount);
				e.payers += 1;
				Self::record_spend(&c.payer, e.period, c.amount, c.receipts, true);
				Self::deposit_event(Event::BatchCharged {
					batch,
					payer: c.payer,
					operator: c.operator,
					amount: c.amount,
					seq: c.seq,
					spent: ch.spent,
					balance: ch.balance,
				});
			}
			if let Some(e) = escrow {
				BatchEscrows::<T>::insert(batch, e);
				BatchCharges::<T>::insert(batch, records);
			}
			Ok(())
		})
	}

	fn refund(batch: BatchId) -> Result<Balance, DispatchError> {
		let escrow = BatchEscrows::<T>::take(batch).ok_or(Error::<T>::UnknownBatch)?;
		let (payers, amount) = (escrow.payers, escrow.total);
		Refunding::<T>::insert(batch, RefundOf { escrow, payers_left: payers, left: amount });
		Self::deposit_event(Event::BatchRefundQueued { batch, payers, amount });
		Ok(amount)
	}

	fn settle(batch: BatchId, p: BatchPayout<T::AccountId>) -> Result<(), DispatchError> {
		let escrow = BatchEscrows::<T>::get(batch).ok_or(Error::<T>::UnknownBatch)?;
		ensure!(p.total.checked_add(p.attestors_part) == Some(escrow.total), Error::<T>::PayoutMismatch);
		ensure!(p.attestors.len() as u32 <= T::MaxAttestors::get(), Error::<T>::TooManyAttestors);
		for (i, a) in p.attestors.iter().enumerate() {
			ensure!(!p.attestors[..i].contains(a), Error::<T>::DuplicateAttestor);
		}
		BatchEscrows::<T>::remove(batch);
		BatchCharges::<T>::remove(batch);
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
			let _ = book.roots.try_push(PayoutRoot { batch, root: p.root, blob: p.blob, count: p.count });
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

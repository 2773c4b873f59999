//! The logic behind the calls, the escrow and reward seams, releases and the invariants.

use crate::{pallet::*, types::*, weights::WeightInfo, Owed, LOG_TARGET, RELEASE_SLACK};
use alloc::vec::Vec;
use mnemo_primitives::{Balance, Charge, PaymentEscrow, ReceiptId, RewardSink, Settlement};
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
		HoldReason::Credit.into()
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

	/// A payer's credit: what it holds under [`HoldReason::Credit`].
	pub fn credit_of(who: &T::AccountId) -> Balance {
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

	pub(crate) fn do_deposit_credit(who: &T::AccountId, amount: Balance) -> DispatchResult {
		ensure!(amount > 0, Error::<T>::ZeroAmount);
		T::Currency::hold(&Self::reason(), who, amount)?;
		let credit = Self::credit_of(who);
		Self::deposit_event(Event::CreditDeposited { who: who.clone(), amount, credit });
		Ok(())
	}

	pub(crate) fn do_withdraw_credit(who: &T::AccountId, amount: Balance) -> DispatchResult {
		ensure!(amount > 0, Error::<T>::ZeroAmount);
		ensure!(Self::credit_of(who) >= amount, Error::<T>::InsufficientCredit);
		let at = Self::now().saturating_add(Self::current_params().notice);
		Withdrawals::<T>::insert(who, Unlocking { amount, at });
		Self::deposit_event(Event::WithdrawalScheduled { who: who.clone(), amount, at });
		Ok(())
	}

	pub(crate) fn do_complete_withdrawal(who: &T::AccountId) -> DispatchResult {
		let unlocking = Withdrawals::<T>::get(who).ok_or(Error::<T>::NoWithdrawal)?;
		ensure!(Self::now() >= unlocking.at, Error::<T>::NoticeNotOver);
		let amount = unlocking.amount.min(Self::credit_of(who));
		if amount > 0 {
			T::Currency::release(&Self::reason(), who, amount, Precision::Exact)?;
		}
		Withdrawals::<T>::remove(who);
		let credit = Self::credit_of(who);
		Self::deposit_event(Event::CreditWithdrawn { who: who.clone(), amount, credit });
		Ok(())
	}

	pub(crate) fn do_approve(
		payer: &T::AccountId,
		operator: &T::AccountId,
		allowance: Balance,
		expires_at: BlockNumberFor<T>,
	) -> DispatchResult {
		ensure!(payer != operator, Error::<T>::SelfApproval);
		ensure!(allowance > 0, Error::<T>::ZeroAmount);
		let now = Self::now();
		ensure!(
			expires_at > now && expires_at >= now.saturating_add(Self::current_params().notice),
			Error::<T>::ExpiryTooSoon
		);
		match Allowances::<T>::get(payer, operator) {
			Some(old) if old.expires_at > now => ensure!(
				allowance >= old.remaining && expires_at >= old.expires_at,
				Error::<T>::AllowanceDecrease
			),
			Some(_) => {},
			None => OperatorCount::<T>::try_mutate(payer, |n| {
				ensure!(*n < T::MaxOperators::get(), Error::<T>::TooManyOperators);
				*n += 1;
				Ok::<_, Error<T>>(())
			})?,
		}
		Allowances::<T>::insert(payer, operator, Allowance { remaining: allowance, expires_at });
		Self::deposit_event(Event::OperatorApproved {
			payer: payer.clone(),
			operator: operator.clone(),
			allowance,
			expires_at,
		});
		Ok(())
	}

	pub(crate) fn do_revoke(payer: &T::AccountId, operator: &T::AccountId) -> DispatchResult {
		let notice_over = Self::now().saturating_add(Self::current_params().notice);
		let expires_at = Allowances::<T>::try_mutate(payer, operator, |a| {
			let a = a.as_mut().ok_or(Error::<T>::NoAllowance)?;
			a.expires_at = a.expires_at.min(notice_over);
			Ok::<_, Error<T>>(a.expires_at)
		})?;
		Self::deposit_event(Event::OperatorRevoked {
			payer: payer.clone(),
			operator: operator.clone(),
			expires_at,
		});
		Ok(())
	}

	pub(crate) fn do_remove_allowance(payer: &T::AccountId, operator: &T::AccountId) -> DispatchResult {
		let a = Allowances::<T>::get(payer, operator).ok_or(Error::<T>::NoAllowance)?;
		ensure!(a.expires_at <= Self::now(), Error::<T>::AllowanceLive);
		Allowances::<T>::remove(payer, operator);
		OperatorCount::<T>::mutate_exists(payer, |n| {
			*n = n.map(|n| n.saturating_sub(1)).filter(|n| *n > 0);
		});
		Self::deposit_event(Event::AllowanceRemoved { payer: payer.clone(), operator: operator.clone() });
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
		Spent::<T>::mutate(payer, |s| {
			apply(&mut s.total);
			s.receipts = if add { s.receipts.saturating_add(1) } else { s.receipts.saturating_sub(1) };
		});
		SpentByAdapter::<T>::mutate(payer, adapter, apply);
		SpentByPeriod::<T>::mutate(payer, |periods| {
			if let Some((_, v)) = periods.iter_mut().rev().find(|(p, _)| *p == period) {
				apply(v);
			} else if add {
				// The oldest period gives way.
				let _ = periods.force_insert_keep_right(periods.len(), (period, amount));
			}
		});
	}

	/// Put `amount` from the pallet account back into `payer`'s credit; if its account is gone
	/// and cannot take a hold, make the amount claimable instead. Never fails.
	fn give_back(payer: &T::AccountId, amount: Balance) {
		let held = with_storage_layer(|| {
			T::Currency::transfer_and_hold(
				&Self::reason(),
				&Self::account_id(),
				payer,
				amount,
				Precision::Exact,
				Preservation::Preserve,
				Fortitude::Polite,
			)
		});
		if let Err(e) = held {
			log::debug!(target: LOG_TARGET, "refund to credit failed ({e:?}); made claimable");
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
			escrowed: sum(&mut Escrows::<T>::iter_values().map(|e| e.amount)),
			pending: sum(&mut Pending::<T>::iter_values().map(|p| p.fee)),
			claimable: sum(&mut Ledgers::<T>::iter_values().map(|l| l.claimable)),
		}
	}

	/// The pallet's invariants: the pallet account covers what it owes, every settlement
	/// credits exactly its fee, is queued for release and is what the ledgers count as pending,
	/// and the allowance counts are right.
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
		for (payer, n) in OperatorCount::<T>::iter() {
			ensure!(n > 0 && n <= T::MaxOperators::get(), "operator count out of range");
			ensure!(Allowances::<T>::iter_prefix(&payer).count() as u32 == n, "operator count is wrong");
		}
		for payer in Allowances::<T>::iter_keys().map(|(p, _)| p) {
			ensure!(OperatorCount::<T>::contains_key(&payer), "allowances without a count");
		}
		if let Some(params) = Params::<T>::get() {
			ensure!(Self::check_params(&params).is_ok(), "invalid parameters in force");
		}
		Ok(())
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
		let mut allowance = Allowances::<T>::get(&c.payer, &c.operator).ok_or(Error::<T>::NoAllowance)?;
		ensure!(now < allowance.expires_at, Error::<T>::AllowanceExpired);
		allowance.remaining = allowance.remaining.checked_sub(c.amount).ok_or(Error::<T>::AllowanceExceeded)?;
		ensure!(Self::credit_of(&c.payer) >= c.amount, Error::<T>::InsufficientCredit);
		// Changes nothing if it fails.
		T::Currency::transfer_on_hold(
			&Self::reason(),
			&c.payer,
			&Self::account_id(),
			c.amount,
			Precision::Exact,
			Restriction::Free,
			Fortitude::Polite,
		)?;
		Allowances::<T>::insert(&c.payer, &c.operator, allowance);
		let period = Self::period_of(now);
		Self::record_spend(&c.payer, c.adapter, period, c.amount, true);
		Escrows::<T>::insert(
			c.receipt,
			Escrow { payer: c.payer.clone(), operator: c.operator.clone(), adapter: c.adapter, amount: c.amount, period },
		);
		Self::deposit_event(Event::Charged {
			receipt: c.receipt,
			credit_left: Self::credit_of(&c.payer),
			payer: c.payer,
			operator: c.operator,
			adapter: c.adapter,
			amount: c.amount,
			allowance_left: allowance.remaining,
		});
		Ok(())
	}

	fn refund(receipt: ReceiptId) -> Result<Balance, DispatchError> {
		let (payer, operator, adapter, period, amount, clawed_back) = if let Some(e) = Escrows::<T>::take(receipt) {
			(e.payer, e.operator, e.adapter, e.period, e.amount, false)
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
			(p.payer, p.operator, p.adapter, p.period, p.fee, true)
		} else {
			return Err(Error::<T>::UnknownReceipt.into());
		};
		Self::record_spend(&payer, adapter, period, amount, false);
		// What was not spent may be charged again: the allowance gets it back, if it still exists.
		Allowances::<T>::mutate(&payer, &operator, |a| {
			if let Some(a) = a {
				a.remaining = a.remaining.saturating_add(amount);
			}
		});
		Self::give_back(&payer, amount);
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

//! The pallet's logic outside batches: parameters, registration, strikes and slashes, and the
//! invariants `do_try_state` checks.

use crate::{frame_support, frame_system, pallet::*, types::*, LOG_TARGET};
use frame_support::{
	pallet_prelude::*,
	traits::{
		fungible::MutateHold,
		tokens::{Fortitude, Precision, Restriction},
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use mnemo_primitives::{Balance, BatchId};
use polkadot_sdk::sp_runtime::{
	traits::Saturating,
	Perbill,
};

impl<T: Config> Pallet<T> {
	/// The defaults: 3 attestors per receipt, all 3 close the commit phase early, 2 settle at a
	/// deadline; 10 blocks to commit and 10 to reveal; 50 to challenge and 50 more to resolve;
	/// a day's retention (14,400 blocks of 6 s); 10% tolerance; 3 strikes in 1,000 blocks slash
	/// 10%; an upheld challenge costs each panel attestor 20%; minimum fee 1; vouchers live at
	/// most 600 blocks.
	pub fn default_params() -> Params<BlockNumberFor<T>> {
		Params {
			assigned: 3,
			quorum: 3,
			min_reports: 2,
			commit_period: 10u32.into(),
			reveal_period: 10u32.into(),
			challenge_window: 50u32.into(),
			resolution_period: 50u32.into(),
			retention: 14_400u32.into(),
			tolerance: Perbill::from_percent(10),
			strikes_to_slash: 3,
			strike_window: 1_000u32.into(),
			strike_slash: Perbill::from_percent(10),
			challenge_slash: Perbill::from_percent(20),
			min_fee: 1,
			max_voucher_lifetime: 600u32.into(),
		}
	}

	pub(crate) fn current_params() -> Params<BlockNumberFor<T>> {
		CurrentParams::<T>::get().unwrap_or_else(Self::default_params)
	}

	/// Check parameters before they are stored.
	pub fn check_params(p: &Params<BlockNumberFor<T>>) -> Result<(), Error<T>> {
		let one: BlockNumberFor<T> = 1u32.into();
		let ok = 1 <= p.min_reports
			&& p.min_reports <= p.quorum
			&& p.quorum <= p.assigned
			&& p.assigned <= T::MaxAssigned::get()
			&& [p.commit_period, p.reveal_period, p.challenge_window, p.resolution_period, p.strike_window, p.max_voucher_lifetime]
				.iter()
				.all(|x| *x >= one)
			&& p.retention >= p.max_voucher_lifetime
			&& p.strikes_to_slash >= 1
			&& p.min_fee > 0;
		ensure!(ok, Error::<T>::InvalidParams);
		Ok(())
	}

	fn now() -> BlockNumberFor<T> {
		frame_system::Pallet::<T>::block_number()
	}

	// ---- operators and attestors ----

	pub(crate) fn do_register_operator(who: T::AccountId) -> DispatchResult {
		ensure!(!Operators::<T>::contains_key(&who), Error::<T>::AlreadyOperator);
		let bond = T::OperatorBond::get();
		T::Currency::hold(&HoldReason::OperatorBond.into(), &who, bond)?;
		Operators::<T>::insert(&who, bond);
		Self::deposit_event(Event::OperatorRegistered { who, bond });
		Ok(())
	}

	pub(crate) fn do_unregister_operator(who: T::AccountId) -> DispatchResult {
		ensure!(Operators::<T>::contains_key(&who), Error::<T>::NotOperator);
		// The bond answers for every batch in flight: it stays until they have settled.
		ensure!(OperatorBatches::<T>::get(&who).pending.is_empty(), Error::<T>::BatchesInFlight);
		let bond = Operators::<T>::take(&who).ok_or(Error::<T>::NotOperator)?;
		let returned = T::Currency::release(&HoldReason::OperatorBond.into(), &who, bond, Precision::BestEffort)?;
		Self::deposit_event(Event::OperatorUnregistered { who, returned });
		Ok(())
	}

	pub(crate) fn do_register_attestor(who: T::AccountId, key: T::AttestorId) -> DispatchResult {
		ensure!(!Attestors::<T>::contains_key(&who), Error::<T>::AlreadyAttestor);
		ensure!(!AttestorOf::<T>::contains_key(&key), Error::<T>::KeyInUse);
		Active::<T>::try_mutate(|a| a.try_push(who.clone())).map_err(|_| Error::<T>::TooManyAttestors)?;
		let bond = T::AttestorBond::get();
		T::Currency::hold(&HoldReason::AttestorBond.into(), &who, bond)?;
		AttestorOf::<T>::insert(&key, &who);
		Attestors::<T>::insert(
			&who,
			Attestor {
				key: key.clone(),
				bond,
				strikes: 0,
				window_start: Self::now(),
				open: 0,
				active: true,
			},
		);
		Self::deposit_event(Event::AttestorRegistered { who, key, bond });
		Ok(())
	}

	pub(crate) fn do_unregister_attestor(who: T::AccountId) -> DispatchResult {
		let mut a = Attestors::<T>::get(&who).ok_or(Error::<T>::NotAttestor)?;
		if a.active {
			a.active = false;
			Active::<T>::mutate(|list| list.retain(|x| x != &who));
			Attestors::<T>::insert(&who, &a);
		}
		if a.open > 0 {
			Self::deposit_event(Event::AttestorLeaving { who, open: a.open });
			return Ok(());
		}
		let returned = T::Currency::release(&HoldReason::AttestorBond.into(), &who, a.bond, Precision::BestEffort)?;
		AttestorOf::<T>::remove(&a.key);
		Attestors::<T>::remove(&who);
		Self::deposit_event(Event::AttestorUnregistered { who, returned });
		Ok(())
	}

	/// A strike for `who`; at `strikes_to_slash` within the window, a slash to the treasury.
	pub(crate) fn strike(who: &T::AccountId, batch: BatchId, fault: Fault) {
		let params = Self::current_params();
		let now = Self::now();
		let Some(mut a) = Attestors::<T>::get(who) else { return };
		if now >= a.window_start.saturating_add(params.strike_window) {
			a.strikes = 0;
			a.window_start = now;
		}
		a.strikes.saturating_inc();
		Self::deposit_event(Event::AttestorStruck { attestor: who.clone(), batch, fault, strikes: a.strikes });
		if a.strikes >= params.strikes_to_slash {
			a.strikes = 0;
			a.window_start = now;
			let amount = Self::slash_bond(who, &mut a, params.strike_slash, &T::Treasury::get());
			Self::deposit_event(Event::AttestorSlashed {
				attestor: who.clone(),
				amount,
				bond_left: a.bond,
				active: a.active,
			});
		}
		Attestors::<T>::insert(who, a);
	}

	/// Move `part` of `a`'s bond to `to`; below `AttestorBond` it sits on no new panel.
	/// The caller stores `a`.
	fn slash_bond(who: &T::AccountId, a: &mut Attestor<T>, part: Perbill, to: &T::AccountId) -> Balance {
		let slashed = T::Currency::transfer_on_hold(
			&HoldReason::AttestorBond.into(),
			who,
			to,
			part.mul_floor(a.bond),
			Precision::BestEffort,
			Restriction::Free,
			Fortitude::Force,
		)
		.unwrap_or_else(|e| {
			log::error!(target: LOG_TARGET, "attestor {who:?} not slashed: {e:?}");
			0
		});
		a.bond = a.bond.saturating_sub(slashed);
		if a.active && a.bond < T::AttestorBond::get() {
			a.active = false;
			Active::<T>::mutate(|list| list.retain(|x| x != who));
		}
		slashed
	}

	// ---- invariants ----

	/// The pallet's invariants (run after every test, and by `try-runtime`).
	#[cfg(any(feature = "try-runtime", feature = "std", test))]
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		let active = Active::<T>::get();
		for a in active.iter() {
			let rec = Attestors::<T>::get(a).ok_or("an active attestor is not registered")?;
			ensure!(rec.active && rec.bond >= T::AttestorBond::get(), "an active attestor is inactive or under-bonded");
		}
		let mut open: BTreeMap<T::AccountId, u32> = BTreeMap::new();
		for (who, a) in Attestors::<T>::iter() {
			ensure!(AttestorOf::<T>::get(&a.key).as_ref() == Some(&who), "attestor key index out of sync");
			ensure!(a.active == active.contains(&who), "active flag and active list disagree");
			open.insert(who, 0);
		}
		ensure!(AttestorOf::<T>::iter().count() as u32 == Attestors::<T>::count(), "stale attestor keys");
		let (next, cursor) = (NextBatch::<T>::get(), BatchPruneCursor::<T>::get());
		for (id, b) in Batches::<T>::iter() {
			ensure!(id < next && id >= cursor, "a batch id outside [cursor, next)");
			let mut distinct = b.panel.clone().into_inner();
			distinct.sort();
			distinct.dedup();
			ensure!(distinct.len() == b.panel.len(), "an attestor twice on a panel");
			for (a, _) in BatchReports::<T>::iter_prefix(id) {
				ensure!(b.panel.contains(&a), "a report from outside the panel");
			}
			if matches!(b.phase, BatchPhase::Open { .. } | BatchPhase::Commit { .. } | BatchPhase::Reveal { .. }) {
				for a in b.panel.iter() {
					if let Some(n) = open.get_mut(a) {
						*n += 1;
					}
				}
			}
		}
		for (who, n) in open {
			let a = Attestors::<T>::get(&who).ok_or("attestor vanished")?;
			ensure!(a.open == n, "an attestor's open count is wrong");
		}
		Ok(())
	}
}

//! Benchmarks of every call, each at its worst case. (The batch escrow's work is measured in
//! pallet-attribution's benchmarks of the calls that use it.)

use super::*;
use crate::types::*;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{
	pallet_prelude::Get,
	traits::{
		fungible::{Inspect, Mutate},
		EnsureOrigin,
	},
	BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use mnemo_primitives::{
	batch::{merkle_proof, merkle_root, Payout},
	Balance, BatchCharge, BatchEscrow, BatchPayout,
};
use polkadot_sdk::frame_benchmarking;
use sp_runtime::traits::{One, Saturating};

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	T::Currency::set_balance(&who, big());
	who
}

fn big() -> Balance {
	1u128 << 80
}

/// The pallet account exists (genesis does this in a real chain).
fn pallet_account<T: Config>() {
	let account = Pallet::<T>::account_id();
	T::Currency::set_balance(&account, T::Currency::minimum_balance().max(1));
}

fn now<T: Config>() -> BlockNumberFor<T> {
	frame_system::Pallet::<T>::block_number()
}

/// A payer with an open channel to an operator.
fn payer_and_operator<T: Config>() -> (T::AccountId, T::AccountId) {
	pallet_account::<T>();
	let payer = funded::<T>("payer", 0);
	let operator = funded::<T>("operator", 0);
	Pallet::<T>::do_open_channel(&payer, &operator, big() / 2).expect("opened");
	(payer, operator)
}

/// A batch whose escrow holds `fee` of a payer's, settled into `owner`'s ledger as its
/// attestors' part (what `claim` pays out).
fn settled_into<T: Config>(owner: &T::AccountId, fee: Balance) {
	let (payer, operator) = payer_and_operator::<T>();
	let charge = BatchCharge { operator, payer, channel: 0, seq: 1, cumulative: big(), amount: fee, receipts: 1, first_leaf: 0 };
	<Pallet<T> as BatchEscrow<_>>::charge(1, alloc::vec![charge]).expect("charged");
	let payout = BatchPayout { root: Default::default(), blob: Default::default(), count: 0, total: 0, attestors: alloc::vec![owner.clone()], attestors_part: fee };
	<Pallet<T> as BatchEscrow<_>>::settle(1, payout).expect("settled");
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn open_channel() {
		let payer = funded::<T>("payer", 0);
		// All slots but one taken: the new channel is counted against the bound.
		for i in 1..T::MaxChannels::get() {
			Pallet::<T>::do_open_channel(&payer, &account("operator", i, 0), T::MinChannelDeposit::get()).expect("opened");
		}
		let operator: T::AccountId = account("operator", 0, 0);
		let deposit = T::MinChannelDeposit::get().max(1_000_000);
		#[extrinsic_call]
		_(RawOrigin::Signed(payer.clone()), operator.clone(), deposit);
		assert_eq!(Channels::<T>::get(&payer, &operator).map(|c| c.balance), Some(deposit));
	}

	#[benchmark]
	fn top_up() {
		let (payer, operator) = payer_and_operator::<T>();
		let before = Pallet::<T>::held_for_channels(&payer);
		#[extrinsic_call]
		_(RawOrigin::Signed(payer.clone()), operator.clone(), 1_000);
		assert_eq!(Pallet::<T>::held_for_channels(&payer), before + 1_000);
	}

	#[benchmark]
	fn close_channel() {
		let (payer, operator) = payer_and_operator::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(payer.clone()), operator.clone());
		assert!(Channels::<T>::get(&payer, &operator).is_some_and(|c| c.closes_at.is_some()));
	}

	#[benchmark]
	fn finish_close() {
		let (payer, operator) = payer_and_operator::<T>();
		Pallet::<T>::do_close_channel(&payer, &operator).expect("closing");
		frame_system::Pallet::<T>::set_block_number(now::<T>() + Pallet::<T>::current_params().notice.max(T::MinNotice::get()) + One::one());
		let caller = funded::<T>("caller", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(caller), payer.clone(), operator.clone());
		assert!(!Channels::<T>::contains_key(&payer, &operator));
		assert_eq!(Pallet::<T>::held_for_channels(&payer), 0);
	}

	#[benchmark]
	fn claim() {
		// A fresh account: the transfer creates it.
		let who: T::AccountId = account("owner", 0, 0);
		settled_into::<T>(&who, 1_000_000_000_000);
		let amount = Ledgers::<T>::get(&who).claimable;
		assert!(amount >= T::Currency::minimum_balance());
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert_eq!(T::Currency::balance(&who), amount);
	}

	#[benchmark]
	fn set_params() -> Result<(), BenchmarkError> {
		let params = RewardParams { notice: T::MinNotice::get().saturating_add(7u32.into()), ..Pallet::<T>::current_params() };
		let origin = T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, params);
		assert_eq!(Params::<T>::get(), Some(params));
		Ok(())
	}
	/// `n` refunded batches of one payer each (each its own channel, open: the charge goes back
	/// into it), all given back in the block: a batch's own work for each payer, the worst.
	#[benchmark]
	fn give_back_refunds(n: Linear<0, { T::MaxRefundsPerBlock::get() }>) {
		pallet_account::<T>();
		let operator = funded::<T>("operator", 0);
		let mut payers = Vec::new();
		for i in 0..n {
			let payer = funded::<T>("payer", i);
			Pallet::<T>::do_open_channel(&payer, &operator, big() / 2).expect("opened");
			let channel = Channels::<T>::get(&payer, &operator).expect("open").id;
			let charge = BatchCharge { operator: operator.clone(), payer: payer.clone(), channel, seq: 1, cumulative: big(), amount: 1_000, receipts: 1, first_leaf: 0 };
			<Pallet<T> as BatchEscrow<_>>::charge(u64::from(i), alloc::vec![charge]).expect("charged");
			<Pallet<T> as BatchEscrow<_>>::refund(u64::from(i)).expect("refunded");
			payers.push(payer);
		}
		#[block]
		{
			Pallet::<T>::give_back_refunds(T::MaxRefundsPerBlock::get());
		}
		assert_eq!(Refunding::<T>::iter().count(), 0);
		assert!(payers.iter().all(|p| Channels::<T>::get(p, &operator).is_some_and(|c| c.spent == 0)));
	}

	#[benchmark]
	fn claim_payout(d: Linear<1, 13>) {
		// An operator's book full of roots, the last a tree of 2^d running totals (its path d
		// hashes long); the last leaf claimed against it, part of it claimed before.
		pallet_account::<T>();
		let amount = T::Currency::minimum_balance().max(1) * 1_000;
		let n = 1u32 << d;
		let payouts: Vec<Payout<T::AccountId>> =
			(0..n).map(|i| Payout { who: account("payee", i, 0), amount }).collect();
		let hashes: Vec<_> = payouts.iter().map(Payout::hash).collect();
		let total = amount * Balance::from(n);
		let pot = Pallet::<T>::account_id();
		T::Currency::set_balance(&pot, T::Currency::minimum_balance().max(1) + total);
		let operator: T::AccountId = account("operator", 0, 0);
		let mut roots: Vec<PayoutRoot> =
			(0..RECENT_PAYOUT_ROOTS as u64 - 1).map(|b| PayoutRoot { batch: b, root: Default::default(), blob: Default::default(), count: 1 }).collect();
		let last_batch = RECENT_PAYOUT_ROOTS as u64 - 1;
		roots.push(PayoutRoot { batch: last_batch, root: merkle_root(&hashes), blob: Default::default(), count: n });
		PayoutBooks::<T>::insert(&operator, PayoutBook { roots: BoundedVec::truncate_from(roots), settled: total, paid: 0 });
		let last = payouts[(n - 1) as usize].clone();
		let before = T::Currency::minimum_balance().max(1);
		T::Currency::set_balance(&last.who, before);
		PaidOut::<T>::insert(&operator, &last.who, 1);
		let proof = merkle_proof(&hashes, n - 1).expect("in range");
		let caller = funded::<T>("caller", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(caller), operator.clone(), last_batch, last.clone(), proof);
		assert_eq!(T::Currency::balance(&last.who), before + amount - 1);
		assert_eq!(PaidOut::<T>::get(&operator, &last.who), amount);
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}

//! Benchmarks of every call, the seams pallet-attribution calls, and the release hook, each at
//! its worst case.

use super::*;
use crate::types::*;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{
	pallet_prelude::Get,
	traits::{
		fungible::{Inspect, Mutate},
		EnsureOrigin, Hooks,
	},
	BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use mnemo_primitives::{
	batch::{merkle_proof, merkle_root, Payout},
	Balance, Charge, ContributionShare, PaymentEscrow, RewardSink, Settlement,
};
use polkadot_sdk::frame_benchmarking;
use sp_runtime::{traits::One, Perbill};

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

fn charged<T: Config>(receipt: u64) -> (T::AccountId, T::AccountId) {
	let (payer, operator) = payer_and_operator::<T>();
	let fee = 1_000_000_000_000u128;
	Pallet::<T>::charge(Charge {
		operator: operator.clone(),
		payer: payer.clone(),
		receipt,
		adapter: 1,
		amount: fee,
		channel: 0,
		seq: receipt + 1,
		cumulative: big(),
	})
	.expect("charged");
	(payer, operator)
}

/// A settlement of `receipt` with `c` contributions and `a` attestors, all distinct accounts.
fn settlement<T: Config>(receipt: u64, c: u32, a: u32) -> Settlement<T::AccountId, BlockNumberFor<T>> {
	let contributions = (0..c)
		.map(|i| ContributionShare {
			contribution: i as u64,
			contributor: account("contributor", i, 0),
			datanet_owner: account("curator", i, 0),
			share: Perbill::from_rational(1, c.max(1)),
		})
		.collect();
	Settlement {
		receipt,
		adapter_owner: account("owner", 0, 0),
		contributions,
		attestors: (0..a).map(|i| account("attestor", i, 0)).collect(),
		release_at: now::<T>() + One::one(),
	}
}

fn max_c<T: Config>() -> u32 {
	T::MaxContributions::get()
}
fn max_a<T: Config>() -> u32 {
	T::MaxAttestors::get()
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
		frame_system::Pallet::<T>::set_block_number(now::<T>() + Pallet::<T>::current_params().notice + One::one());
		let caller = funded::<T>("caller", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(caller), payer.clone(), operator.clone());
		assert!(!Channels::<T>::contains_key(&payer, &operator));
		assert_eq!(Pallet::<T>::held_for_channels(&payer), 0);
	}

	#[benchmark]
	fn claim() {
		charged::<T>(1);
		Pallet::<T>::settle(settlement::<T>(1, 1, 0)).expect("settled");
		let at = now::<T>() + One::one();
		frame_system::Pallet::<T>::set_block_number(at);
		Pallet::<T>::release_due(at);
		// A fresh account: the transfer creates it.
		let who: T::AccountId = account("owner", 0, 0);
		let amount = Ledgers::<T>::get(&who).claimable;
		assert!(amount >= T::Currency::minimum_balance());
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert_eq!(T::Currency::balance(&who), amount);
	}

	#[benchmark]
	fn set_params() -> Result<(), BenchmarkError> {
		let params = RewardParams { notice: 7u32.into(), ..Pallet::<T>::current_params() };
		let origin = T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, params);
		assert_eq!(Params::<T>::get(), Some(params));
		Ok(())
	}

	#[benchmark]
	fn charge() {
		let (payer, operator) = payer_and_operator::<T>();
		let c = Charge { operator, payer, receipt: 1, adapter: 1, amount: 1_000_000_000_000, channel: 0, seq: 1, cumulative: big() };
		#[block]
		{
			Pallet::<T>::charge(c).expect("charged");
		}
		assert!(Escrows::<T>::contains_key(1));
	}

	#[benchmark]
	fn settle(c: Linear<0, { max_c::<T>() }>, a: Linear<0, { max_a::<T>() }>) {
		charged::<T>(1);
		// The release slots of the settlement's block are full: it searches the next one.
		let first = now::<T>() + One::one();
		let full: BoundedVec<_, T::MaxReleasesPerBlock> =
			(0..T::MaxReleasesPerBlock::get() as u64).map(|i| 1_000 + i).collect::<Vec<_>>().try_into().unwrap();
		Releases::<T>::insert(first, full);
		let s = settlement::<T>(1, c, a);
		#[block]
		{
			Pallet::<T>::settle(s).expect("settled");
		}
		assert_eq!(Pending::<T>::get(1).map(|p| p.release_at), Some(first + One::one()));
	}

	#[benchmark]
	fn refund_escrowed() {
		charged::<T>(1);
		#[block]
		{
			Pallet::<T>::refund(1).expect("refunded");
		}
		assert!(!Escrows::<T>::contains_key(1));
	}

	#[benchmark]
	fn refund_pending(p: Linear<1, { max_c::<T>() }>) {
		charged::<T>(1);
		Pallet::<T>::settle(settlement::<T>(1, p, max_a::<T>())).expect("settled");
		#[block]
		{
			Pallet::<T>::refund(1).expect("refunded");
		}
		assert!(!Pending::<T>::contains_key(1));
	}

	#[benchmark]
	fn release(r: Linear<1, { T::MaxReleasesPerBlock::get() }>) {
		let (payer, operator) = payer_and_operator::<T>();
		for receipt in 0..r as u64 {
			let c = Charge {
				operator: operator.clone(),
				payer: payer.clone(),
				receipt,
				adapter: 1,
				amount: 1_000_000_000_000,
				channel: 0,
				seq: receipt + 1,
				cumulative: big(),
			};
			Pallet::<T>::charge(c).expect("charged");
			Pallet::<T>::settle(settlement::<T>(receipt, max_c::<T>(), max_a::<T>())).expect("settled");
		}
		let at = now::<T>() + One::one();
		frame_system::Pallet::<T>::set_block_number(at);
		#[block]
		{
			Pallet::<T>::on_initialize(at);
		}
		assert_eq!(Pallet::<T>::owed().pending, 0);
	}

	#[benchmark]
	fn on_initialize_idle() {
		let at = now::<T>() + One::one();
		#[block]
		{
			Pallet::<T>::on_initialize(at);
		}
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
			(0..RECENT_PAYOUT_ROOTS as u64 - 1).map(|b| PayoutRoot { batch: b, root: Default::default(), count: 1 }).collect();
		let last_batch = RECENT_PAYOUT_ROOTS as u64 - 1;
		roots.push(PayoutRoot { batch: last_batch, root: merkle_root(&hashes), count: n });
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

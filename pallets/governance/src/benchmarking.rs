//! Benchmarks (v2) of every call and of the hook's steps, each in its worst case. `v` is the
//! number of open votes a change of power has to update.

use super::*;
use crate::{frame_support, frame_system};
use alloc::{boxed::Box, vec};
use frame_benchmarking::v2::*;
use frame_support::traits::{
	fungible::{Inspect, InspectHold, Mutate},
	EnsureOrigin, Get, Hooks,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use polkadot_sdk::{frame_benchmarking, sp_runtime::traits::{One, Saturating}};

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount = T::Currency::minimum_balance()
		.saturating_add(T::ProposalThreshold::get().saturating_mul(100u32.into()))
		.saturating_add(Pallet::<T>::deposit_for(4_096).saturating_mul(64u32.into()))
		.saturating_add(1_000_000u32.into());
	T::Currency::set_balance(&who, amount);
	who
}

fn staked<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who = funded::<T>(name, i);
	Pallet::<T>::do_stake(who.clone(), T::ProposalThreshold::get().saturating_mul(10u32.into()))
		.expect("funded");
	who
}

/// A call that does not fit inline, so proposing it notes a preimage.
fn big_call<T: Config>() -> <T as Config>::RuntimeCall {
	frame_system::Call::<T>::remark { remark: vec![1u8; 256] }.into()
}

/// Open `n` proposals, each ending in its own block.
fn open<T: Config>(n: u32) -> alloc::vec::Vec<ProposalId> {
	let proposer = funded::<T>("proposer", 0);
	let start = frame_system::Pallet::<T>::block_number();
	(0..n)
		.map(|i| {
			frame_system::Pallet::<T>::set_block_number(start.saturating_add(i.into()));
			Pallet::<T>::do_propose(proposer.clone(), big_call::<T>(), ProposalKind::ParameterChange, false)
				.expect("room for the proposal")
		})
		.collect()
}

/// `who` votes aye on each of `ids`.
fn vote_all<T: Config>(who: &T::AccountId, ids: &[ProposalId]) {
	for id in ids {
		Pallet::<T>::do_vote(who.clone(), *id, Vote::Aye).expect("can vote");
	}
}

fn set_up<T: Config>() {
	frame_system::Pallet::<T>::set_block_number(One::one());
	for kind in ProposalKind::ALL {
		Params::<T>::insert(kind, KindParams {
			voting_period: 10u32.into(),
			enactment_delay: 5u32.into(),
			quorum: Default::default(),
			approval: Default::default(),
		});
	}
	Periods::<T>::put(StakePeriods { unbonding: 10u32.into(), conviction: 10u32.into() });
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn stake(v: Linear<0, { T::MaxVotes::get() }>) {
		set_up::<T>();
		let who = staked::<T>("voter", 0);
		vote_all::<T>(&who, &open::<T>(v));
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), 1_000u32.into());
		assert_eq!(T::Currency::balance_on_hold(&HoldReason::Stake.into(), &who), Stakes::<T>::get(&who).unwrap().staked);
	}

	#[benchmark]
	fn unstake(v: Linear<0, { T::MaxVotes::get() }>) {
		set_up::<T>();
		let target = staked::<T>("delegate", 0);
		vote_all::<T>(&target, &open::<T>(v));
		let who = staked::<T>("delegator", 0);
		Pallet::<T>::do_delegate(who.clone(), target).unwrap();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), 1_000u32.into());
		assert_eq!(Stakes::<T>::get(&who).unwrap().unbonding.len(), 1);
	}

	#[benchmark]
	fn withdraw_unbonded() {
		set_up::<T>();
		let who = staked::<T>("staker", 0);
		for _ in 0..T::MaxUnbonding::get() {
			Pallet::<T>::do_unstake(who.clone(), 1u32.into()).unwrap();
		}
		let later = frame_system::Pallet::<T>::block_number().saturating_add(100u32.into());
		frame_system::Pallet::<T>::set_block_number(later);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(Stakes::<T>::get(&who).unwrap().unbonding.is_empty());
	}

	#[benchmark]
	fn set_conviction(v: Linear<0, { T::MaxVotes::get() }>) {
		set_up::<T>();
		let who = staked::<T>("voter", 0);
		vote_all::<T>(&who, &open::<T>(v));
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), Conviction::Locked4x);
		assert_eq!(Stakes::<T>::get(&who).unwrap().conviction, Conviction::Locked4x);
	}

	#[benchmark]
	fn delegate(v: Linear<0, { T::MaxVotes::get() }>) {
		set_up::<T>();
		let to = staked::<T>("delegate", 0);
		vote_all::<T>(&to, &open::<T>(v));
		let who = staked::<T>("delegator", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), to.clone());
		assert_eq!(Stakes::<T>::get(&to).unwrap().delegators, 1);
	}

	#[benchmark]
	fn undelegate(v: Linear<0, { T::MaxVotes::get() }>) {
		set_up::<T>();
		let to = staked::<T>("delegate", 0);
		vote_all::<T>(&to, &open::<T>(v));
		let who = staked::<T>("delegator", 0);
		Pallet::<T>::do_delegate(who.clone(), to.clone()).unwrap();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert_eq!(Stakes::<T>::get(&to).unwrap().delegators, 0);
	}

	#[benchmark]
	fn propose() {
		set_up::<T>();
		let who = staked::<T>("proposer", 1);
		#[extrinsic_call]
		_(RawOrigin::Signed(who), Box::new(big_call::<T>()), ProposalKind::ParameterChange);
		assert_eq!(Proposals::<T>::count(), 1);
	}

	#[benchmark]
	fn vote(v: Linear<1, { T::MaxVotes::get() }>) {
		set_up::<T>();
		let who = staked::<T>("voter", 0);
		let ids = open::<T>(v);
		vote_all::<T>(&who, &ids[..ids.len() - 1]);
		let last = *ids.last().unwrap();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), last, Vote::Nay);
		assert_eq!(VotesOf::<T>::get(&who).len() as u32, v);
	}

	#[benchmark]
	fn remove_vote() {
		set_up::<T>();
		let who = staked::<T>("voter", 0);
		let ids = open::<T>(1);
		vote_all::<T>(&who, &ids);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), ids[0]);
		assert!(Ballots::<T>::get(ids[0], &who).is_none());
	}

	#[benchmark]
	fn cancel() -> Result<(), BenchmarkError> {
		set_up::<T>();
		let ids = open::<T>(1);
		let origin = T::CancelOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as <T as frame_system::Config>::RuntimeOrigin, ids[0], true);
		assert_eq!(Proposals::<T>::count(), 0);
		Ok(())
	}

	#[benchmark]
	fn set_params() -> Result<(), BenchmarkError> {
		set_up::<T>();
		let origin = T::ParamsOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let mut params = KindParams::default_for(ProposalKind::TreasurySpend);
		params.voting_period = One::one();
		#[extrinsic_call]
		_(origin as <T as frame_system::Config>::RuntimeOrigin, ProposalKind::TreasurySpend, params);
		assert_eq!(Params::<T>::get(ProposalKind::TreasurySpend), Some(params));
		Ok(())
	}

	#[benchmark]
	fn set_periods() -> Result<(), BenchmarkError> {
		set_up::<T>();
		let origin = T::ParamsOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let periods = StakePeriods { unbonding: One::one(), conviction: One::one() };
		#[extrinsic_call]
		_(origin as <T as frame_system::Config>::RuntimeOrigin, periods);
		assert_eq!(Periods::<T>::get(), periods);
		Ok(())
	}

	#[benchmark]
	fn spend() -> Result<(), BenchmarkError> {
		set_up::<T>();
		let treasury = T::Treasury::get();
		T::Currency::set_balance(&treasury, T::Currency::minimum_balance().saturating_mul(1_000u32.into()));
		let to: T::AccountId = account("beneficiary", 0, 0);
		let amount = T::Currency::minimum_balance().saturating_mul(10u32.into());
		let origin = T::SpendOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as <T as frame_system::Config>::RuntimeOrigin, to.clone(), amount);
		assert_eq!(T::Currency::balance(&to), amount);
		Ok(())
	}

	#[benchmark]
	fn on_initialize_idle() {
		set_up::<T>();
		let now = frame_system::Pallet::<T>::block_number();
		#[block]
		{
			Pallet::<T>::on_initialize(now);
		}
	}

	#[benchmark]
	fn decide() {
		set_up::<T>();
		let ids = open::<T>(1);
		let ends_at: BlockNumberFor<T> = Proposals::<T>::get(ids[0]).unwrap().ends_at;
		#[block]
		{
			Pallet::<T>::on_initialize(ends_at);
		}
		// No votes: rejected, and the rejection path removes the most.
		assert_eq!(Proposals::<T>::count(), 0);
	}

	#[benchmark]
	fn enact() {
		set_up::<T>();
		let who = staked::<T>("voter", 0);
		let ids = open::<T>(1);
		vote_all::<T>(&who, &ids);
		let p = Proposals::<T>::get(ids[0]).unwrap();
		Pallet::<T>::on_initialize(p.ends_at);
		assert_eq!(Proposals::<T>::get(ids[0]).unwrap().status, ProposalStatus::Passed);
		#[block]
		{
			Pallet::<T>::on_initialize(p.enact_at);
		}
		assert_eq!(Proposals::<T>::count(), 0);
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}

//! pallet-governance in the real runtime: stakers pass a parameter change that is enacted with
//! the governance origin; a proposal without quorum fails; governance cancels a spam proposal;
//! the governance origin reaches other pallets (datanets' removals) and the treasury.

use super::*;
use frame_support::{
	assert_noop, assert_ok,
	dispatch::DispatchClass,
	traits::{fungible::InspectHold, Hooks},
};
use pallet_governance::{
	Event as GovEvent, Failure, GovernanceOrigin, ProposalKind, StakePeriods, Vote, WeightInfo,
};
use polkadot_sdk::sp_keyring::Sr25519Keyring as K;

fn run_to(n: BlockNumber) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Governance::on_initialize(next);
	}
}

fn gov_events() -> Vec<GovEvent<Runtime>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Governance(e) => Some(e),
			_ => None,
		})
		.collect()
}

fn propose(who: K, call: RuntimeCall, kind: ProposalKind) -> pallet_governance::ProposalId {
	let id = pallet_governance::NextProposalId::<Runtime>::get();
	assert_ok!(Governance::propose(signed(who), Box::new(call), kind));
	id
}

fn set_periods(unbonding: BlockNumber) -> RuntimeCall {
	RuntimeCall::Governance(pallet_governance::Call::set_periods {
		periods: StakePeriods { unbonding, conviction: 10 },
	})
}

#[test]
fn stakers_pass_a_parameter_change_and_the_runtime_enacts_it() {
	new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		// The development preset votes for 10 blocks and enacts 2 blocks later.
		for (k, stake) in [(K::Alice, 300), (K::Bob, 200), (K::Charlie, 100), (K::Dave, 400)] {
			assert_ok!(Governance::stake(signed(k), stake * UNIT));
		}
		assert_ok!(Governance::set_conviction(signed(K::Charlie), pallet_governance::Conviction::Locked3x));
		let id = propose(K::Alice, set_periods(50), ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(signed(K::Alice), id, Vote::Aye));
		assert_ok!(Governance::vote(signed(K::Bob), id, Vote::Nay));
		assert_ok!(Governance::vote(signed(K::Charlie), id, Vote::Aye));
		assert_ok!(Governance::vote(signed(K::Dave), id, Vote::Abstain));
		let tally = pallet_governance::Proposals::<Runtime>::get(id).unwrap().tally;
		assert_eq!((tally.ayes, tally.nays, tally.turnout), (600 * UNIT, 200 * UNIT, 1_000 * UNIT));

		run_to(11);
		assert!(matches!(gov_events().last(), Some(GovEvent::Passed { proposal, .. }) if *proposal == id));
		assert_eq!(pallet_governance::Periods::<Runtime>::get().unbonding, 10);
		run_to(13);
		assert_eq!(pallet_governance::Periods::<Runtime>::get().unbonding, 50);
		assert_eq!(gov_events().last(), Some(&GovEvent::Enacted { proposal: id, result: Ok(()) }));
		Governance::do_try_state().unwrap();
	});
}

#[test]
fn a_proposal_without_quorum_fails_in_the_runtime() {
	new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		assert_ok!(Governance::stake(signed(K::Alice), 100 * UNIT));
		assert_ok!(Governance::stake(signed(K::Bob), 2_000 * UNIT));
		let id = propose(K::Alice, set_periods(50), ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(signed(K::Alice), id, Vote::Aye));
		run_to(13);
		assert!(matches!(
			gov_events().last(),
			Some(GovEvent::Rejected { reason: Failure::NoQuorum, .. })
		));
		assert_eq!(pallet_governance::Periods::<Runtime>::get().unbonding, 10);
		let held = Balances::balance_on_hold(
			&RuntimeHoldReason::Governance(pallet_governance::HoldReason::ProposalDeposit),
			&acc(K::Alice),
		);
		assert_eq!(held, 0, "the deposit went back");
	});
}

#[test]
fn governance_cancels_a_spam_proposal_and_the_treasury_gets_its_deposit() {
	new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		assert_ok!(Governance::stake(signed(K::Alice), 500 * UNIT));
		assert_ok!(Governance::stake(signed(K::Bob), 100 * UNIT));
		// Spends vote longer, so the spam is still open when the cancel is enacted.
		let mut long = pallet_governance::Params::<Runtime>::get(ProposalKind::TreasurySpend).unwrap();
		long.voting_period = 100;
		assert_ok!(Governance::set_params(RuntimeOrigin::root(), ProposalKind::TreasurySpend, long));
		let spam_call = RuntimeCall::Governance(pallet_governance::Call::spend {
			to: acc(K::Bob),
			amount: 1_000 * UNIT,
		});
		let spam = propose(K::Bob, spam_call, ProposalKind::TreasurySpend);
		let deposit = pallet_governance::Proposals::<Runtime>::get(spam).unwrap().deposit;
		let treasury = Balances::free_balance(configs::TreasuryAccount::get());
		let cancel = RuntimeCall::Governance(pallet_governance::Call::cancel { proposal: spam, slash: true });
		let id = propose(K::Alice, cancel, ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(signed(K::Alice), id, Vote::Aye));
		run_to(13);
		assert!(gov_events().contains(&GovEvent::Cancelled { proposal: spam, slashed: deposit }));
		assert_eq!(Balances::free_balance(configs::TreasuryAccount::get()), treasury + deposit);
		assert!(pallet_governance::Proposals::<Runtime>::get(spam).is_none());
		Governance::do_try_state().unwrap();
	});
}

#[test]
fn the_governance_origin_is_accepted_where_the_runtime_says() {
	new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		let passed = |k| RuntimeOrigin::from(GovernanceOrigin::Passed(k));
		let treasury = configs::TreasuryAccount::get();
		assert_ok!(Balances::force_set_balance(RuntimeOrigin::root(), treasury.clone().into(), 100 * UNIT));
		// Only a treasury-spend proposal (or root) pays from the treasury.
		assert_noop!(
			Governance::spend(passed(ProposalKind::ParameterChange), acc(K::Ferdie), UNIT),
			sp_runtime::DispatchError::BadOrigin
		);
		assert_ok!(Governance::spend(passed(ProposalKind::TreasurySpend), acc(K::Ferdie), UNIT));
		// Datanets' removals accept any passed proposal: the call gets past the origin check.
		assert_noop!(
			Datanets::remove(passed(ProposalKind::ParameterChange), 0),
			pallet_datanets::Error::<Runtime>::UnknownContribution
		);
	});
}

/// The figure the issue asks for: how many `vote` calls fit in one block, at their worst-case
/// weight (a voter with `MaxVotes` open votes), within the normal dispatch class.
#[test]
fn votes_per_block() {
	let per_vote = <Runtime as pallet_governance::Config>::WeightInfo::vote(32);
	let normal = configs::RuntimeBlockWeights::get().get(DispatchClass::Normal).max_total.unwrap();
	let n = (normal.ref_time() / per_vote.ref_time()).min(normal.proof_size() / per_vote.proof_size().max(1));
	println!("# votes per block: {n} (vote(32) = {per_vote}, normal class = {normal})");
	assert!(n > 0);
}

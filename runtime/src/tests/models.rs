//! pallet-models in the real runtime: a model proposal opens a model-approval proposal in
//! pallet-governance; stakers pass it and the enactment approves the model (with the
//! model-approval origin), or they let it fail and governance's hook rejects the model and
//! slashes its bond. The training data is checked through pallet-datanets.

use super::*;
use frame_support::{
	assert_noop, assert_ok,
	traits::{fungible::InspectHold, Get, Hooks},
};
use pallet_governance::{GovernanceOrigin, ProposalKind, Vote};
use pallet_models::{EvalSpec, Job, LoraParams, ModelSpec, Stage, Target, Text};
use polkadot_sdk::{sp_keyring::Sr25519Keyring as K, sp_runtime::Perbill};

fn run_to(n: BlockNumber) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Governance::on_initialize(next);
		Models::on_initialize(next);
	}
}

fn b<S: Get<u32>>(s: &str) -> frame_support::BoundedVec<u8, S> {
	s.as_bytes().to_vec().try_into().unwrap()
}

/// Version 1 of datanet 0, as `publish_version` leaves it (the models pallet reads only that
/// the version exists, through the `DatanetsInspect` seam).
pub(super) fn published() {
	pallet_datanets::Versions::<Runtime>::insert(
		0,
		1,
		pallet_datanets::VersionInfo {
			count: 3,
			total_bytes: 300,
			total_rows: 30,
			root: Default::default(),
			published_at: 1,
		},
	);
}

pub(super) fn spec(datanet_version: u32) -> ModelSpec<Runtime> {
	ModelSpec {
		name: b("bard-lora"),
		purpose: Text::Inline(b("Answer in the voice of the plays.")),
		use_case: Text::Inline(b("Drama tutoring.")),
		base_model: b("smollm2-135m"),
		datanets: vec![(0, datanet_version)].try_into().unwrap(),
		lora: LoraParams {
			rank: 8,
			alpha: 16,
			targets: vec![Target::Q, Target::V].try_into().unwrap(),
			epochs: 2,
			learning_rate: Perbill::from_parts(200_000),
			seed: 42,
		},
		eval: EvalSpec { holdout: Perbill::from_percent(10), max_eval_tokens: 0, tolerance: Perbill::from_percent(2) },
		parent: None,
	}
}

fn bond_held(who: K) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::Models(pallet_models::HoldReason::ModelBond), &acc(who))
}

#[test]
fn stakers_approve_a_proposed_model_and_its_training_job_is_queued() {
	new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		published();
		// The data must exist: version 2 was never published.
		assert_noop!(
			Models::propose_model(signed(K::Bob), spec(2)),
			pallet_models::Error::<Runtime>::UnknownDatanetVersion
		);
		assert_ok!(Governance::stake(signed(K::Alice), 300 * UNIT));
		// Bob needs no governance stake: the pallet opens the proposal for him.
		assert_ok!(Models::propose_model(signed(K::Bob), spec(1)));
		let m = pallet_models::ModelRecords::<Runtime>::get(0).unwrap();
		assert_eq!(bond_held(K::Bob), configs::ModelBond::get());
		let p = pallet_governance::Proposals::<Runtime>::get(m.proposal).unwrap();
		assert_eq!((p.kind, p.proposer), (ProposalKind::ModelApproval, acc(K::Bob)));
		assert_ok!(Governance::vote(signed(K::Alice), m.proposal, Vote::Aye));
		// Votes for 10 blocks, enacted 2 later (development preset).
		run_to(13);
		let m = pallet_models::ModelRecords::<Runtime>::get(0).unwrap();
		assert_eq!((m.stage, m.attempt), (Stage::Approved, 1));
		assert_eq!(pallet_models::Jobs::<Runtime>::get(0), Some(Job::Queued));
		assert_eq!(bond_held(K::Bob), 0, "the bond went back on approval");
		assert!(System::events().iter().any(|r| matches!(
			r.event,
			RuntimeEvent::Models(pallet_models::Event::ModelApproved { model: 0, .. })
		)));
		// Only the model-approval origin approves: another kind of passed proposal may not.
		assert_ok!(Models::propose_model(signed(K::Bob), spec(1)));
		assert_noop!(
			Models::approve_model(GovernanceOrigin::Passed(ProposalKind::TreasurySpend).into(), 1),
			sp_runtime::DispatchError::BadOrigin
		);
		assert_ok!(Models::approve_model(GovernanceOrigin::Passed(ProposalKind::ModelApproval).into(), 1));
	});
}

#[test]
fn a_model_proposal_that_fails_in_governance_rejects_the_model_and_slashes_its_bond() {
	new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		published();
		assert_ok!(Governance::stake(signed(K::Alice), 300 * UNIT));
		assert_ok!(Models::propose_model(signed(K::Bob), spec(1)));
		let proposal = pallet_models::ModelRecords::<Runtime>::get(0).unwrap().proposal;
		assert_ok!(Governance::vote(signed(K::Alice), proposal, Vote::Nay));
		let treasury = Balances::free_balance(configs::TreasuryAccount::get());
		run_to(13);
		let m = pallet_models::ModelRecords::<Runtime>::get(0).unwrap();
		assert_eq!(m.stage, Stage::Rejected);
		let bond = configs::ModelBond::get();
		assert_eq!(Balances::free_balance(configs::TreasuryAccount::get()), treasury + bond);
		assert_eq!(bond_held(K::Bob), 0);
		assert!(System::events().iter().any(|r| matches!(
			&r.event,
			RuntimeEvent::Models(pallet_models::Event::ModelRejected { model: 0, slashed, .. }) if *slashed == bond
		)));
	});
}

#[test]
fn a_builder_withdraws_and_the_governance_proposal_goes_with_the_model() {
	new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		published();
		let free = Balances::free_balance(acc(K::Bob));
		assert_ok!(Models::propose_model(signed(K::Bob), spec(1)));
		let proposal = pallet_models::ModelRecords::<Runtime>::get(0).unwrap().proposal;
		assert_ok!(Models::withdraw_model(signed(K::Bob), 0));
		assert!(pallet_governance::Proposals::<Runtime>::get(proposal).is_none());
		// Bond and proposal deposit both came back; only the fees of two calls are gone (none
		// here: calls dispatched directly pay no fee).
		assert_eq!(Balances::free_balance(acc(K::Bob)), free);
		run_to(13);
		assert_eq!(pallet_models::ModelRecords::<Runtime>::get(0).unwrap().stage, Stage::Withdrawn);
	});
}

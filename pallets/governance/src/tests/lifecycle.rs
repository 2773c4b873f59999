//! Proposals from opening to decision and enactment; cancellation; the error paths of `propose`.

use crate::{
	mock::*, Deadlines, Enactments, Error, Event, Failure, HoldReason, OpenProposal, Params,
	ProposalKind, ProposalStatus, Proposals, Tally, Vote,
};
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		traits::{fungible::InspectHold, Bounded, QueryPreimage},
	},
	frame_system,
	sp_runtime::DispatchError,
};

fn deposit_held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::ProposalDeposit.into(), &who)
}

fn deposit_of(call: &RuntimeCall) -> Balance {
	use codec::Encode;
	DEPOSIT_BASE + DEPOSIT_PER_BYTE * call.encoded_size() as Balance
}

#[test]
fn stakers_pass_a_parameter_change_and_it_is_enacted_after_the_delay() {
	build_and_execute(|| {
		// Four stakers, 2 000 in all; the quorum is 30% of it.
		stake_all(&[ALICE, BOB, CAROL], 500);
		stake_all(&[DAVE], 500);
		let call = set_voting_call(7);
		let deposit = deposit_of(&call);
		let id = propose(ALICE, call, ProposalKind::ParameterChange);
		let ends_at = 1 + VOTING;
		let enact_at = ends_at + DELAY;
		assert!(matches!(
			events().last(),
			Some(Event::Proposed { proposal, proposer: ALICE, kind: ProposalKind::ParameterChange, deposit: d, ends_at: e, enact_at: a, .. })
				if *proposal == id && *d == deposit && *e == ends_at && *a == enact_at
		));
		assert_eq!(deposit_held(ALICE), deposit);

		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		assert_ok!(Governance::vote(RuntimeOrigin::signed(BOB), id, Vote::Aye));
		assert_ok!(Governance::vote(RuntimeOrigin::signed(CAROL), id, Vote::Nay));

		run_to_block(ends_at);
		let tally = Tally { ayes: 1_000, nays: 500, abstentions: 0, turnout: 1_500 };
		assert_eq!(
			events().last(),
			Some(&Event::Passed { proposal: id, tally, enact_at, deposit_returned: deposit })
		);
		assert_eq!(deposit_held(ALICE), 0);
		assert_eq!(Proposals::<Test>::get(id).unwrap().status, ProposalStatus::Passed);
		// Not yet enacted.
		assert_eq!(Params::<Test>::get(ProposalKind::TreasurySpend).unwrap().voting_period, VOTING);

		run_to_block(enact_at);
		assert_eq!(Params::<Test>::get(ProposalKind::TreasurySpend).unwrap().voting_period, 7);
		let evs = events();
		assert_eq!(evs[evs.len() - 1], Event::Enacted { proposal: id, result: Ok(()) });
		assert!(matches!(evs[evs.len() - 2], Event::ParamsSet { kind: ProposalKind::TreasurySpend, .. }));
		assert!(Proposals::<Test>::get(id).is_none());
		assert!(Enactments::<Test>::get(enact_at).is_empty());
	});
}

#[test]
fn a_proposal_without_quorum_fails_and_is_not_enacted() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		stake_all(&[BOB, CAROL, DAVE], 1_000);
		let call = set_voting_call(7);
		let deposit = deposit_of(&call);
		let id = propose(ALICE, call, ProposalKind::ParameterChange);
		// 500 of 3 500 staked is below 30%, even with every vote aye.
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		run_to_block(1 + VOTING);
		assert_eq!(
			events().last(),
			Some(&Event::Rejected {
				proposal: id,
				reason: Failure::NoQuorum,
				tally: Tally { ayes: 500, nays: 0, abstentions: 0, turnout: 500 },
				quorum_stake: 1_050,
				deposit_returned: deposit,
			})
		);
		assert_eq!(deposit_held(ALICE), 0);
		assert!(Proposals::<Test>::get(id).is_none());
		assert!(Enactments::<Test>::get(1 + VOTING + DELAY).is_empty());
		assert_eq!(FailedProposals::get(), vec![id]);
		run_to_block(1 + VOTING + DELAY);
		assert_eq!(Params::<Test>::get(ProposalKind::TreasurySpend).unwrap().voting_period, VOTING);
	});
}

#[test]
fn abstentions_count_for_quorum_but_not_for_approval() {
	build_and_execute(|| {
		stake_all(&[ALICE, BOB, CAROL], 500);
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(BOB), id, Vote::Abstain));
		assert_ok!(Governance::vote(RuntimeOrigin::signed(CAROL), id, Vote::Nay));
		run_to_block(1 + VOTING);
		assert!(matches!(
			events().last(),
			Some(Event::Rejected { reason: Failure::NotApproved, .. })
		));
	});
}

#[test]
fn governance_cancels_a_spam_proposal_and_slashes_its_deposit() {
	build_and_execute(|| {
		stake_all(&[ALICE, BOB], 500);
		// Spends vote for 100 blocks: the spam is still open when the cancel passes.
		let mut long = params(ProposalKind::TreasurySpend);
		long.voting_period = 100;
		assert_ok!(Governance::set_params(RuntimeOrigin::root(), ProposalKind::TreasurySpend, long));
		let spam = RuntimeCall::Governance(crate::Call::spend { to: BOB, amount: 5_000 });
		let spam_deposit = deposit_of(&spam);
		let spam_id = propose(BOB, spam, ProposalKind::TreasurySpend);
		let treasury = Balances::free_balance(TREASURY);

		let cancel = RuntimeCall::Governance(crate::Call::cancel { proposal: spam_id, slash: true });
		let id = propose(ALICE, cancel, ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		run_to_block(1 + VOTING + DELAY);

		let evs = events();
		assert!(evs.contains(&Event::Cancelled { proposal: spam_id, slashed: spam_deposit }));
		assert_eq!(evs.last(), Some(&Event::Enacted { proposal: id, result: Ok(()) }));
		assert_eq!(Balances::free_balance(TREASURY), treasury + spam_deposit);
		assert_eq!(deposit_held(BOB), 0);
		assert!(Proposals::<Test>::get(spam_id).is_none());
		assert!(Deadlines::<Test>::get(101).is_empty());
		// Nothing happens at the spam's old deadline.
		run_to_block(101 + DELAY);
		assert_eq!(events().len(), evs.len());
	});
}

#[test]
fn a_cancel_without_slash_returns_the_deposit() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_noop!(
			Governance::cancel(RuntimeOrigin::signed(ALICE), id, false),
			DispatchError::BadOrigin
		);
		// A passed proposal of the wrong kind is still governance: any kind may cancel.
		assert_ok!(Governance::cancel(passed(ProposalKind::ModelApproval), id, false));
		assert_eq!(events().last(), Some(&Event::Cancelled { proposal: id, slashed: 0 }));
		assert_eq!(FailedProposals::get(), vec![id]);
		assert_eq!(deposit_held(ALICE), 0);
		assert_eq!(Balances::free_balance(ALICE), START - 500);
		assert_noop!(Governance::cancel(RuntimeOrigin::root(), id, false), Error::<Test>::UnknownProposal);
		run_to_block(1 + VOTING + DELAY);
		assert!(!events().iter().any(|e| matches!(e, Event::Rejected { .. } | Event::Enacted { .. })));
	});
}

#[test]
fn propose_error_paths() {
	build_and_execute(|| {
		let origin = |a| RuntimeOrigin::signed(a);
		let call = || Box::new(set_voting_call(7));
		stake_all(&[CAROL], THRESHOLD - 1);
		assert_noop!(
			Governance::propose(origin(CAROL), call(), ProposalKind::ParameterChange),
			Error::<Test>::BelowProposalThreshold
		);
		// Enough stake, too little left for the deposit.
		stake_all(&[DAVE], START - 10);
		assert_noop!(
			Governance::propose(origin(DAVE), call(), ProposalKind::ParameterChange),
			Error::<Test>::InsufficientBalance
		);
		stake_all(&[ALICE], 500);
		let heavy = Box::new(RuntimeCall::System(frame_system::Call::set_code { code: vec![] }));
		assert_noop!(
			Governance::propose(origin(ALICE), heavy, ProposalKind::ParameterChange),
			Error::<Test>::CallTooHeavy
		);
		Params::<Test>::remove(ProposalKind::ModelApproval);
		assert_noop!(
			Governance::propose(origin(ALICE), call(), ProposalKind::ModelApproval),
			Error::<Test>::KindNotConfigured
		);

		// Two proposals may end in one block.
		propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		propose(ALICE, set_voting_call(8), ProposalKind::ParameterChange);
		assert_noop!(
			Governance::propose(origin(ALICE), call(), ProposalKind::ParameterChange),
			Error::<Test>::DeadlineFull
		);
		// A spend that ends later but is enacted in the same block as those two.
		let mut same = params(ProposalKind::TreasurySpend);
		same.voting_period = VOTING + DELAY;
		same.enactment_delay = 0;
		assert_ok!(Governance::set_params(RuntimeOrigin::root(), ProposalKind::TreasurySpend, same));
		assert_noop!(
			Governance::propose(origin(ALICE), call(), ProposalKind::TreasurySpend),
			Error::<Test>::EnactmentFull
		);
		// At most four open at once.
		run_to_block(2);
		propose(ALICE, set_voting_call(9), ProposalKind::ParameterChange);
		propose(ALICE, set_voting_call(10), ProposalKind::ParameterChange);
		run_to_block(3);
		assert_noop!(
			Governance::propose(origin(ALICE), call(), ProposalKind::ParameterChange),
			Error::<Test>::TooManyProposals
		);
	});
}

#[test]
fn a_large_call_is_kept_as_a_preimage_until_it_is_enacted() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		let call = RuntimeCall::System(frame_system::Call::remark { remark: vec![7u8; 300] });
		let deposit = deposit_of(&call);
		let id = propose(ALICE, call, ProposalKind::ParameterChange);
		assert_eq!(deposit_held(ALICE), deposit);
		let bounded = Proposals::<Test>::get(id).unwrap().call;
		let Bounded::Lookup { hash, len } = bounded else { panic!("stored inline") };
		assert!(len > 300);
		assert_eq!(Preimage::len(&hash), Some(len));
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		run_to_block(1 + VOTING + DELAY);
		assert_eq!(events().last(), Some(&Event::Enacted { proposal: id, result: Ok(()) }));
		assert_eq!(Preimage::len(&hash), None, "the preimage is released");
	});
}

#[test]
fn a_rejected_proposal_releases_its_preimage() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		let call = RuntimeCall::System(frame_system::Call::remark { remark: vec![7u8; 300] });
		let id = propose(ALICE, call, ProposalKind::ParameterChange);
		let Bounded::Lookup { hash, .. } = Proposals::<Test>::get(id).unwrap().call else {
			panic!("stored inline")
		};
		run_to_block(1 + VOTING);
		assert!(matches!(events().last(), Some(Event::Rejected { reason: Failure::NoQuorum, .. })));
		assert_eq!(Preimage::len(&hash), None);
	});
}

#[test]
fn a_call_that_fails_at_enactment_is_reported() {
	build_and_execute(|| {
		stake_all(&[ALICE, BOB], 500);
		let call = RuntimeCall::Governance(crate::Call::spend { to: EVE, amount: 2 * START });
		let id = propose(ALICE, call, ProposalKind::TreasurySpend);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		assert_ok!(Governance::vote(RuntimeOrigin::signed(BOB), id, Vote::Aye));
		run_to_block(1 + VOTING + DELAY);
		assert_eq!(
			events().last(),
			Some(&Event::Enacted {
				proposal: id,
				result: Err(Error::<Test>::InsufficientBalance.into())
			})
		);
		assert_eq!(Balances::free_balance(EVE), START);
	});
}

#[test]
fn another_pallet_opens_a_proposal_for_an_account_without_stake() {
	build_and_execute(|| {
		let call = set_voting_call(7);
		let deposit = deposit_of(&call);
		let id = <Governance as OpenProposal<_, _>>::open(EVE, call, ProposalKind::ModelApproval)
			.unwrap();
		assert_eq!(deposit_held(EVE), deposit);
		assert_eq!(Proposals::<Test>::get(id).unwrap().kind, ProposalKind::ModelApproval);
		// The deposit is still required.
		assert_eq!(
			<Governance as OpenProposal<_, _>>::open(POOR, set_voting_call(7), ProposalKind::ModelApproval),
			Err(Error::<Test>::InsufficientBalance.into())
		);
	});
}

#[test]
fn the_opening_pallet_withdraws_an_ongoing_proposal_without_a_decision() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		let call = set_voting_call(7);
		let deposit = deposit_of(&call);
		let id = <Governance as OpenProposal<_, _>>::open(EVE, call, ProposalKind::ModelApproval)
			.unwrap();
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		assert_ok!(<Governance as OpenProposal<_, _>>::withdraw(id));
		assert_eq!(events().last(), Some(&Event::ProposalWithdrawn { proposal: id, deposit_returned: deposit }));
		assert_eq!(deposit_held(EVE), 0);
		assert!(Proposals::<Test>::get(id).is_none());
		assert_eq!(
			<Governance as OpenProposal<_, _>>::withdraw(id),
			Err(Error::<Test>::UnknownProposal.into())
		);
		run_to_block(1 + VOTING + DELAY);
		// No decision, no enactment, and the failure hook is not told.
		assert!(!events().iter().any(|e| matches!(e, Event::Rejected { .. } | Event::Enacted { .. })));
		assert!(FailedProposals::get().is_empty());

		// A passed proposal can no longer be withdrawn.
		let id = <Governance as OpenProposal<_, _>>::open(EVE, set_voting_call(8), ProposalKind::ModelApproval)
			.unwrap();
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		run_to_block(System::block_number() + VOTING);
		assert!(matches!(events().last(), Some(Event::Passed { .. })));
		assert_eq!(
			<Governance as OpenProposal<_, _>>::withdraw(id),
			Err(Error::<Test>::NotOngoing.into())
		);
	});
}

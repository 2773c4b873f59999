//! Delegating voting power: one level deep, no double counting.

use crate::{mock::*, Backing, Error, Event, Proposals, ProposalKind, Stakes, Vote};
use polkadot_sdk::frame_support::{assert_noop, assert_ok};

#[test]
fn delegating_moves_power_to_the_delegate() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		stake_all(&[BOB], 300);
		assert_ok!(Governance::delegate(RuntimeOrigin::signed(BOB), ALICE));
		assert_eq!(
			events().last(),
			Some(&Event::Delegated { who: BOB, to: ALICE, backing: Backing { stake: 300, power: 300 } })
		);
		assert_eq!(Governance::account_view(&ALICE).power, 800);
		assert_eq!(Governance::account_view(&ALICE).delegators, 1);
		assert_eq!(Governance::account_view(&BOB).power, 0);
		assert_eq!(Governance::account_view(&BOB).delegate, Some(ALICE));

		assert_ok!(Governance::undelegate(RuntimeOrigin::signed(BOB)));
		assert_eq!(
			events().last(),
			Some(&Event::Undelegated { who: BOB, from: ALICE, backing: Backing { stake: 300, power: 300 } })
		);
		assert_eq!(Governance::account_view(&ALICE).power, 500);
		assert_eq!(Governance::account_view(&BOB).power, 300);
	});
}

#[test]
fn an_account_without_stake_can_receive_delegations_and_vote_with_them() {
	build_and_execute(|| {
		stake_all(&[ALICE, BOB], 500);
		assert_ok!(Governance::delegate(RuntimeOrigin::signed(BOB), CAROL));
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(CAROL), id, Vote::Nay));
		assert_eq!(Proposals::<Test>::get(id).unwrap().tally.nays, 500);
		// Bob takes his power back: Carol's vote stays, with no power, and her record goes.
		assert_ok!(Governance::undelegate(RuntimeOrigin::signed(BOB)));
		assert_eq!(Proposals::<Test>::get(id).unwrap().tally.nays, 0);
		assert!(Stakes::<Test>::get(CAROL).is_none());
	});
}

#[test]
fn delegation_error_paths() {
	build_and_execute(|| {
		assert_noop!(Governance::delegate(RuntimeOrigin::signed(BOB), ALICE), Error::<Test>::NotStaker);
		assert_noop!(Governance::undelegate(RuntimeOrigin::signed(BOB)), Error::<Test>::NotDelegating);
		stake_all(&[ALICE, BOB, CAROL], 300);
		assert_noop!(
			Governance::delegate(RuntimeOrigin::signed(BOB), BOB),
			Error::<Test>::SelfDelegation
		);
		assert_ok!(Governance::delegate(RuntimeOrigin::signed(BOB), ALICE));
		assert_noop!(
			Governance::delegate(RuntimeOrigin::signed(BOB), CAROL),
			Error::<Test>::AlreadyDelegating
		);
		// No chains, so no cycles: not to a delegator, and not onwards from a delegate.
		assert_noop!(
			Governance::delegate(RuntimeOrigin::signed(CAROL), BOB),
			Error::<Test>::TargetDelegates
		);
		assert_noop!(
			Governance::delegate(RuntimeOrigin::signed(ALICE), CAROL),
			Error::<Test>::HasDelegators
		);
		assert_noop!(Governance::undelegate(RuntimeOrigin::signed(CAROL)), Error::<Test>::NotDelegating);
		// A delegating account cannot vote.
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_noop!(
			Governance::vote(RuntimeOrigin::signed(BOB), id, Vote::Aye),
			Error::<Test>::Delegating
		);
		// An account with a live vote cannot delegate it away.
		assert_ok!(Governance::vote(RuntimeOrigin::signed(CAROL), id, Vote::Aye));
		assert_noop!(
			Governance::delegate(RuntimeOrigin::signed(CAROL), DAVE),
			Error::<Test>::VotesLive
		);
	});
}

#[test]
fn power_is_never_counted_twice() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		stake_all(&[BOB], 300);
		assert_ok!(Governance::delegate(RuntimeOrigin::signed(BOB), ALICE));
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		assert_eq!(Proposals::<Test>::get(id).unwrap().tally.ayes, 800);

		// Bob's stake grows: Alice's open vote grows with it.
		assert_ok!(Governance::stake(RuntimeOrigin::signed(BOB), 100));
		assert_eq!(Proposals::<Test>::get(id).unwrap().tally.ayes, 900);

		// Bob takes his power back and votes himself: it leaves Alice's vote first.
		assert_ok!(Governance::undelegate(RuntimeOrigin::signed(BOB)));
		assert_ok!(Governance::vote(RuntimeOrigin::signed(BOB), id, Vote::Nay));
		let tally = Proposals::<Test>::get(id).unwrap().tally;
		assert_eq!((tally.ayes, tally.nays, tally.turnout), (500, 400, 900));

		// Bob cannot unstake with a live vote; a delegator's unstake shrinks its delegate's vote.
		assert_noop!(Governance::unstake(RuntimeOrigin::signed(BOB), 400), Error::<Test>::VotesLive);
		stake_all(&[CAROL], 200);
		assert_ok!(Governance::delegate(RuntimeOrigin::signed(CAROL), ALICE));
		assert_eq!(Proposals::<Test>::get(id).unwrap().tally.ayes, 700);
		assert_ok!(Governance::unstake(RuntimeOrigin::signed(CAROL), 150));
		assert_eq!(Proposals::<Test>::get(id).unwrap().tally.ayes, 550);
	});
}

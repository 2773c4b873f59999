//! Voting, changing and removing votes.

use crate::{mock::*, Ballots, Error, Event, ProposalKind, Proposals, Tally, Vote, VotesOf};
use polkadot_sdk::frame_support::{assert_noop, assert_ok};

#[test]
fn votes_count_power_and_can_be_changed_until_the_end() {
	build_and_execute(|| {
		stake_all(&[ALICE, BOB], 500);
		assert_ok!(Governance::set_conviction(
			RuntimeOrigin::signed(BOB),
			crate::Conviction::Locked2x
		));
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		assert_ok!(Governance::vote(RuntimeOrigin::signed(BOB), id, Vote::Nay));
		let tally = Tally { ayes: 500, nays: 1_000, abstentions: 0, turnout: 1_000 };
		assert_eq!(
			events().last(),
			Some(&Event::Voted { proposal: id, who: BOB, vote: Vote::Nay, power: 1_000, tally })
		);
		// Bob changes his mind, then abstains.
		assert_ok!(Governance::vote(RuntimeOrigin::signed(BOB), id, Vote::Aye));
		assert_eq!(Proposals::<Test>::get(id).unwrap().tally.ayes, 1_500);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(BOB), id, Vote::Abstain));
		let tally = Proposals::<Test>::get(id).unwrap().tally;
		assert_eq!(tally, Tally { ayes: 500, nays: 0, abstentions: 1_000, turnout: 1_000 });
		assert_eq!(VotesOf::<Test>::get(BOB).to_vec(), vec![id]);
		assert_eq!(Governance::account_view(&BOB).votes, vec![(id, Vote::Abstain)]);
	});
}

#[test]
fn more_stake_after_voting_grows_the_vote() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		assert_ok!(Governance::stake(RuntimeOrigin::signed(ALICE), 250));
		assert_eq!(Ballots::<Test>::get(id, ALICE).unwrap().backing.power, 750);
		assert_eq!(Proposals::<Test>::get(id).unwrap().tally.ayes, 750);
	});
}

#[test]
fn removing_a_vote_takes_it_out_of_the_tally() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		assert_ok!(Governance::remove_vote(RuntimeOrigin::signed(ALICE), id));
		assert_eq!(
			events().last(),
			Some(&Event::VoteRemoved { proposal: id, who: ALICE, tally: Tally::default() })
		);
		assert!(Ballots::<Test>::get(id, ALICE).is_none());
		assert!(VotesOf::<Test>::get(ALICE).is_empty());
		assert_noop!(Governance::remove_vote(RuntimeOrigin::signed(ALICE), id), Error::<Test>::NotVoted);
		// Nothing left that locks the stake.
		assert_ok!(Governance::unstake(RuntimeOrigin::signed(ALICE), 500));
	});
}

#[test]
fn the_record_of_a_finished_vote_can_be_cleared() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Nay));
		run_to_block(1 + VOTING);
		assert!(Proposals::<Test>::get(id).is_none());
		let before = events().len();
		assert_ok!(Governance::remove_vote(RuntimeOrigin::signed(ALICE), id));
		assert_eq!(events().len(), before, "no VoteRemoved for a finished proposal");
		assert!(Ballots::<Test>::get(id, ALICE).is_none());
	});
}

#[test]
fn vote_error_paths() {
	build_and_execute(|| {
		stake_all(&[ALICE, BOB], 500);
		assert_noop!(
			Governance::vote(RuntimeOrigin::signed(ALICE), 7, Vote::Aye),
			Error::<Test>::UnknownProposal
		);
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_noop!(
			Governance::vote(RuntimeOrigin::signed(CAROL), id, Vote::Aye),
			Error::<Test>::NoVotingPower
		);
		// Passed and waiting for enactment: no more votes.
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		run_to_block(1 + VOTING);
		assert_noop!(
			Governance::vote(RuntimeOrigin::signed(BOB), id, Vote::Nay),
			Error::<Test>::NotOngoing
		);
	});
}

#[test]
fn an_account_votes_on_at_most_max_votes_open_proposals() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		let mut ids = vec![];
		for n in 0..=MAX_VOTES as u64 {
			// At most MAX_DECISIONS proposals end in one block.
			run_to_block(1 + n);
			ids.push(propose(ALICE, set_voting_call(7 + n), ProposalKind::ParameterChange));
		}
		for id in &ids[..MAX_VOTES as usize] {
			assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), *id, Vote::Aye));
		}
		assert_noop!(
			Governance::vote(RuntimeOrigin::signed(ALICE), ids[MAX_VOTES as usize], Vote::Aye),
			Error::<Test>::TooManyVotes
		);
	});
}

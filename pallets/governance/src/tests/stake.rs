//! Staking, unbonding, withdrawing, conviction.

use crate::{mock::*, Conviction, Error, Event, HoldReason, Stakes, TotalStaked, Unbonding, Vote};
use polkadot_sdk::frame_support::{
	assert_noop, assert_ok,
	traits::fungible::{Inspect, InspectHold},
};

fn held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::Stake.into(), &who)
}

#[test]
fn stake_holds_the_amount_and_counts_it() {
	build_and_execute(|| {
		assert_ok!(Governance::stake(RuntimeOrigin::signed(ALICE), 300));
		assert_ok!(Governance::stake(RuntimeOrigin::signed(ALICE), 200));
		assert_eq!(held(ALICE), 500);
		assert_eq!(Balances::balance(&ALICE), START - 500);
		assert_eq!(TotalStaked::<Test>::get(), 500);
		assert_eq!(Stakes::<Test>::get(ALICE).unwrap().staked, 500);
		assert_eq!(
			events().last(),
			Some(&Event::Staked { who: ALICE, amount: 200, staked: 500, power: 500 })
		);
	});
}

#[test]
fn stake_refuses_zero_and_more_than_the_free_balance() {
	build_and_execute(|| {
		assert_noop!(Governance::stake(RuntimeOrigin::signed(ALICE), 0), Error::<Test>::ZeroAmount);
		assert_noop!(
			Governance::stake(RuntimeOrigin::signed(POOR), 100),
			Error::<Test>::InsufficientBalance
		);
	});
}

#[test]
fn unstaked_stake_stops_counting_and_comes_back_after_the_unbonding_period() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		assert_ok!(Governance::unstake(RuntimeOrigin::signed(ALICE), 200));
		let unlocks_at = 1 + UNBONDING;
		assert_eq!(events().last(), Some(&Event::Unstaked { who: ALICE, amount: 200, unlocks_at }));
		assert_eq!(TotalStaked::<Test>::get(), 300);
		let info = Stakes::<Test>::get(ALICE).unwrap();
		assert_eq!(info.staked, 300);
		assert_eq!(info.unbonding.to_vec(), vec![Unbonding { amount: 200, unlocks_at }]);
		// Still held while unbonding.
		assert_eq!(held(ALICE), 500);

		run_to_block(unlocks_at - 1);
		assert_noop!(
			Governance::withdraw_unbonded(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::NothingToWithdraw
		);
		run_to_block(unlocks_at);
		assert_ok!(Governance::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert_eq!(events().last(), Some(&Event::Withdrawn { who: ALICE, amount: 200 }));
		assert_eq!(held(ALICE), 300);
		assert_eq!(Balances::balance(&ALICE), START - 300);
	});
}

#[test]
fn a_fully_withdrawn_staker_leaves_no_record() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		assert_ok!(Governance::unstake(RuntimeOrigin::signed(ALICE), 500));
		run_to_block(1 + UNBONDING);
		assert_ok!(Governance::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert!(Stakes::<Test>::get(ALICE).is_none());
		assert_eq!(Balances::balance(&ALICE), START);
	});
}

#[test]
fn unstake_error_paths() {
	build_and_execute(|| {
		assert_noop!(Governance::unstake(RuntimeOrigin::signed(ALICE), 1), Error::<Test>::NotStaker);
		assert_noop!(
			Governance::withdraw_unbonded(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::NotStaker
		);
		stake_all(&[ALICE], 500);
		assert_noop!(Governance::unstake(RuntimeOrigin::signed(ALICE), 0), Error::<Test>::ZeroAmount);
		assert_noop!(
			Governance::unstake(RuntimeOrigin::signed(ALICE), 501),
			Error::<Test>::InsufficientStake
		);
		assert_ok!(Governance::unstake(RuntimeOrigin::signed(ALICE), 1));
		assert_ok!(Governance::unstake(RuntimeOrigin::signed(ALICE), 1));
		assert_noop!(
			Governance::unstake(RuntimeOrigin::signed(ALICE), 1),
			Error::<Test>::TooManyUnbonding
		);
	});
}

#[test]
fn stake_with_a_live_vote_cannot_be_unstaked_until_the_decision() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		let id = propose(ALICE, set_voting_call(7), crate::ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		assert_noop!(Governance::unstake(RuntimeOrigin::signed(ALICE), 1), Error::<Test>::VotesLive);
		run_to_block(1 + VOTING);
		// Decided: the vote is no longer live.
		assert_ok!(Governance::unstake(RuntimeOrigin::signed(ALICE), 1));
	});
}

#[test]
fn conviction_multiplies_power_and_locks_the_stake() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		assert_ok!(Governance::set_conviction(RuntimeOrigin::signed(ALICE), Conviction::Locked3x));
		let locked_until = 1 + 2 * CONVICTION;
		assert_eq!(
			events().last(),
			Some(&Event::ConvictionSet {
				who: ALICE,
				conviction: Conviction::Locked3x,
				locked_until,
				power: 1_500
			})
		);
		assert_eq!(Governance::account_view(&ALICE).power, 1_500);
		// Locked: no unstaking, no lower conviction; a higher one is fine.
		assert_noop!(
			Governance::unstake(RuntimeOrigin::signed(ALICE), 1),
			Error::<Test>::ConvictionLocked
		);
		assert_noop!(
			Governance::set_conviction(RuntimeOrigin::signed(ALICE), Conviction::Locked2x),
			Error::<Test>::ConvictionLocked
		);
		assert_ok!(Governance::set_conviction(RuntimeOrigin::signed(ALICE), Conviction::Locked4x));
		let locked_until = 1 + 4 * CONVICTION;
		assert_eq!(Stakes::<Test>::get(ALICE).unwrap().locked_until, locked_until);

		run_to_block(locked_until);
		assert_ok!(Governance::set_conviction(RuntimeOrigin::signed(ALICE), Conviction::None));
		assert_eq!(Governance::account_view(&ALICE).power, 500);
		assert_ok!(Governance::unstake(RuntimeOrigin::signed(ALICE), 500));
	});
}

#[test]
fn conviction_needs_stake() {
	build_and_execute(|| {
		assert_noop!(
			Governance::set_conviction(RuntimeOrigin::signed(ALICE), Conviction::Locked2x),
			Error::<Test>::NotStaker
		);
	});
}

//! Parameters, periods, treasury spends and the view functions.

use crate::{
	mock::*, Error, Event, KindParams, Params, Periods, ProposalKind, ProposalStatus, StakePeriods,
	Tally, Vote,
};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::{traits::Hash, DispatchError, Perbill},
};

#[test]
fn set_params_changes_the_rules_of_new_proposals_only() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		let old = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		let new = KindParams {
			voting_period: 30,
			enactment_delay: 0,
			quorum: Perbill::from_percent(1),
			approval: Perbill::from_percent(90),
		};
		assert_ok!(Governance::set_params(passed(ProposalKind::ParameterChange), ProposalKind::ParameterChange, new));
		assert_eq!(events().last(), Some(&Event::ParamsSet { kind: ProposalKind::ParameterChange, params: new }));
		assert_eq!(Params::<Test>::get(ProposalKind::ParameterChange), Some(new));
		assert_eq!(crate::Proposals::<Test>::get(old).unwrap().ends_at, 1 + VOTING);
		let id = propose(ALICE, set_voting_call(8), ProposalKind::ParameterChange);
		let p = crate::Proposals::<Test>::get(id).unwrap();
		assert_eq!((p.ends_at, p.enact_at), (31, 31));
	});
}

#[test]
fn set_params_error_paths() {
	build_and_execute(|| {
		let good = params(ProposalKind::ParameterChange);
		assert_noop!(
			Governance::set_params(RuntimeOrigin::signed(ALICE), ProposalKind::ParameterChange, good),
			DispatchError::BadOrigin
		);
		for bad in [
			KindParams { voting_period: 0, ..good },
			KindParams { voting_period: MAX_PERIOD + 1, ..good },
			KindParams { enactment_delay: MAX_PERIOD + 1, ..good },
		] {
			assert_noop!(
				Governance::set_params(RuntimeOrigin::root(), ProposalKind::ParameterChange, bad),
				Error::<Test>::BadParams
			);
		}
	});
}

#[test]
fn set_periods_applies_to_new_unbonding_and_locks() {
	build_and_execute(|| {
		stake_all(&[ALICE], 500);
		assert_ok!(Governance::unstake(RuntimeOrigin::signed(ALICE), 100));
		let periods = StakePeriods { unbonding: 3, conviction: 4 };
		assert_ok!(Governance::set_periods(RuntimeOrigin::root(), periods));
		assert_eq!(events().last(), Some(&Event::PeriodsSet { periods }));
		assert_eq!(Periods::<Test>::get(), periods);
		assert_ok!(Governance::unstake(RuntimeOrigin::signed(ALICE), 100));
		let unbonding = crate::Stakes::<Test>::get(ALICE).unwrap().unbonding;
		assert_eq!(unbonding[0].unlocks_at, 1 + UNBONDING, "unbonding under way keeps its end");
		assert_eq!(unbonding[1].unlocks_at, 1 + 3);

		assert_noop!(
			Governance::set_periods(RuntimeOrigin::signed(ALICE), periods),
			DispatchError::BadOrigin
		);
		for bad in [
			StakePeriods { unbonding: 0, conviction: 4 },
			StakePeriods { unbonding: 3, conviction: 0 },
			StakePeriods { unbonding: MAX_PERIOD + 1, conviction: 4 },
			StakePeriods { unbonding: 3, conviction: MAX_PERIOD + 1 },
		] {
			assert_noop!(Governance::set_periods(RuntimeOrigin::root(), bad), Error::<Test>::BadParams);
		}
	});
}

#[test]
fn only_a_treasury_spend_proposal_pays_from_the_treasury() {
	build_and_execute(|| {
		assert_ok!(Governance::spend(passed(ProposalKind::TreasurySpend), EVE, 300));
		assert_eq!(events().last(), Some(&Event::Spent { to: EVE, amount: 300 }));
		assert_eq!(Balances::free_balance(EVE), START + 300);
		assert_eq!(Balances::free_balance(TREASURY), START - 300);
		assert_noop!(
			Governance::spend(passed(ProposalKind::ParameterChange), EVE, 300),
			DispatchError::BadOrigin
		);
		assert_noop!(Governance::spend(RuntimeOrigin::signed(EVE), EVE, 300), DispatchError::BadOrigin);
		assert_noop!(
			Governance::spend(passed(ProposalKind::TreasurySpend), EVE, 0),
			Error::<Test>::ZeroAmount
		);
		// The treasury keeps its existential deposit.
		assert_noop!(
			Governance::spend(passed(ProposalKind::TreasurySpend), EVE, START - 300),
			Error::<Test>::InsufficientBalance
		);
	});
}

#[test]
fn the_views_show_open_proposals_and_an_accounts_position() {
	build_and_execute(|| {
		stake_all(&[ALICE, BOB], 500);
		assert_ok!(Governance::delegate(RuntimeOrigin::signed(BOB), ALICE));
		let id = propose(ALICE, set_voting_call(7), ProposalKind::ParameterChange);
		assert_ok!(Governance::vote(RuntimeOrigin::signed(ALICE), id, Vote::Aye));
		let views = Governance::proposal_views();
		assert_eq!(views.len(), 1);
		let v = &views[0];
		assert_eq!((v.id, v.proposer, v.kind), (id, ALICE, ProposalKind::ParameterChange));
		assert_eq!(v.tally, Tally { ayes: 1_000, nays: 0, abstentions: 0, turnout: 1_000 });
		assert_eq!(v.quorum_stake, 300);
		assert_eq!(v.status, ProposalStatus::Ongoing);
		assert_eq!(v.call_hash, <Test as polkadot_sdk::frame_system::Config>::Hashing::hash_of(&set_voting_call(7)));

		let a = Governance::account_view(&ALICE);
		assert_eq!((a.staked, a.power, a.delegators, a.votes.clone()), (500, 1_000, 1, vec![(id, Vote::Aye)]));
		let b = Governance::account_view(&BOB);
		assert_eq!((b.staked, b.power, b.delegate), (500, 0, Some(ALICE)));
	});
}

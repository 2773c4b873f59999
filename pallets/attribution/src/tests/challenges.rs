//! Challenges of settled attributions: upheld, dismissed, expired, refused.

use crate::{mock::*, *};
use mnemo_primitives::ContentHash;
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::DispatchError,
};

fn settled() -> (ReceiptId, Vec<AccountId>) {
	setup();
	reported(1, &[(digest(1), scores()), (digest(1), scores()), (digest(1), scores())])
}

fn evidence() -> ContentHash {
	ContentHash::of(b"the output quotes contribution 101, not 100")
}

#[test]
fn an_upheld_challenge_refunds_the_payer_and_pays_the_challenger_from_the_panel() {
	build_and_execute(|| {
		let (id, panel) = settled();
		assert_eq!(credit(PAYER), 10_000 - 5);
		assert_ok!(Attribution::challenge(RuntimeOrigin::signed(CHALLENGER), id, evidence()));
		assert_eq!(held(HoldReason::ChallengeBond, CHALLENGER), CHALLENGE_BOND);
		assert_ok!(Attribution::resolve_challenge(RuntimeOrigin::root(), id, true));
		// The pending credits are clawed back to the payer.
		assert_eq!(credit(PAYER), 10_000);
		assert!(Settled::get().is_empty());
		// 20% of each panel bond (40 × 3) to the challenger, whose bond comes back.
		assert_eq!(free(CHALLENGER), START + 3 * 40);
		assert_eq!(held(HoldReason::ChallengeBond, CHALLENGER), 0);
		for a in &panel {
			assert_eq!(held(HoldReason::AttestorBond, *a), 160);
			assert!(!Active::<Test>::get().contains(a));
		}
		assert_eq!(
			Receipts::<Test>::get(id).unwrap().phase,
			Phase::Refunded { at: 1, why: RefundReason::ChallengeUpheld }
		);
		assert!(matches!(events().last(), Some(Event::ChallengeUpheld { reward: 120, refunded: 5, challenger: CHALLENGER, .. })));
	});
}

#[test]
fn a_dismissed_challenge_costs_the_challenger_its_bond() {
	build_and_execute(|| {
		let (id, _) = settled();
		assert_ok!(Attribution::challenge(RuntimeOrigin::signed(CHALLENGER), id, evidence()));
		assert_ok!(Attribution::resolve_challenge(RuntimeOrigin::root(), id, false));
		assert_eq!(free(CHALLENGER), START - CHALLENGE_BOND);
		assert_eq!(free(TREASURY), START + CHALLENGE_BOND);
		assert!(matches!(Receipts::<Test>::get(id).unwrap().phase, Phase::Settled { .. }));
		assert_eq!(credit(PAYER), 10_000 - 5);
		assert!(matches!(events().last(), Some(Event::ChallengeDismissed { slashed: CHALLENGE_BOND, .. })));
	});
}

#[test]
fn challenges_are_filed_once_within_the_window() {
	build_and_execute(|| {
		let (id, _) = settled();
		let unsettled = recorded(2);
		assert_noop!(Attribution::challenge(RuntimeOrigin::signed(CHALLENGER), unsettled, evidence()), Error::<Test>::WrongPhase);
		assert_noop!(Attribution::challenge(RuntimeOrigin::signed(CHALLENGER), 99, evidence()), Error::<Test>::UnknownReceipt);
		assert!(Attribution::challenge(RuntimeOrigin::signed(POOR), id, evidence()).is_err());
		assert_noop!(Attribution::resolve_challenge(RuntimeOrigin::root(), id, true), Error::<Test>::NoChallenge);
		assert_ok!(Attribution::challenge(RuntimeOrigin::signed(CHALLENGER), id, evidence()));
		assert_noop!(Attribution::challenge(RuntimeOrigin::signed(A5), id, evidence()), Error::<Test>::AlreadyChallenged);
		assert_noop!(Attribution::resolve_challenge(RuntimeOrigin::signed(OWNER), id, false), DispatchError::BadOrigin);
		assert_ok!(Attribution::resolve_challenge(RuntimeOrigin::root(), id, false));
		// Settled at 1 with a 10-block window: open through block 11.
		run_to_block(12);
		assert_noop!(Attribution::challenge(RuntimeOrigin::signed(A5), id, evidence()), Error::<Test>::ChallengeClosed);
	});
}

#[test]
fn an_unresolved_challenge_expires_when_the_credits_are_released() {
	build_and_execute(|| {
		let (id, _) = settled();
		assert_ok!(Attribution::challenge(RuntimeOrigin::signed(CHALLENGER), id, evidence()));
		assert_noop!(Attribution::expire_challenge(RuntimeOrigin::signed(PAYER), id), Error::<Test>::WrongPhase);
		run_to_block(21);
		assert_noop!(Attribution::resolve_challenge(RuntimeOrigin::root(), id, true), Error::<Test>::ChallengeClosed);
		assert_ok!(Attribution::expire_challenge(RuntimeOrigin::signed(PAYER), id));
		assert_eq!(free(CHALLENGER), START);
		assert!(matches!(events().last(), Some(Event::ChallengeExpired { returned: CHALLENGE_BOND, .. })));
		assert_noop!(Attribution::expire_challenge(RuntimeOrigin::signed(PAYER), id), Error::<Test>::NoChallenge);
	});
}

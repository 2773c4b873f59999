//! Serving operators and attestors: bonds, keys, leaving.

use crate::{mock::*, *};
use polkadot_sdk::frame_support::{assert_noop, assert_ok};

#[test]
fn operators_register_with_a_bond_and_leave_with_it() {
	build_and_execute(|| {
		assert_ok!(Attribution::register_operator(RuntimeOrigin::signed(OPERATOR)));
		assert_eq!(held(HoldReason::OperatorBond, OPERATOR), OPERATOR_BOND);
		assert_noop!(Attribution::register_operator(RuntimeOrigin::signed(OPERATOR)), Error::<Test>::AlreadyOperator);
		assert_ok!(Attribution::unregister_operator(RuntimeOrigin::signed(OPERATOR)));
		assert_eq!(held(HoldReason::OperatorBond, OPERATOR), 0);
		assert_eq!(free(OPERATOR), START);
		assert!(matches!(events().last(), Some(Event::OperatorUnregistered { who: OPERATOR, returned: OPERATOR_BOND })));
		assert_noop!(Attribution::unregister_operator(RuntimeOrigin::signed(OPERATOR)), Error::<Test>::NotOperator);
	});
}

#[test]
fn an_operator_needs_the_bond() {
	build_and_execute(|| {
		assert!(Attribution::register_operator(RuntimeOrigin::signed(POOR)).is_err());
		assert!(!Operators::<Test>::contains_key(POOR));
	});
}

#[test]
fn attestors_register_once_per_account_and_key() {
	build_and_execute(|| {
		let key = attestor(A1);
		assert_eq!(held(HoldReason::AttestorBond, A1), ATTESTOR_BOND);
		assert_eq!(Active::<Test>::get().into_inner(), vec![A1]);
		assert_noop!(
			Attribution::register_attestor(RuntimeOrigin::signed(A1), new_key("//other")),
			Error::<Test>::AlreadyAttestor
		);
		assert_noop!(Attribution::register_attestor(RuntimeOrigin::signed(A2), key), Error::<Test>::KeyInUse);
		assert!(Attribution::register_attestor(RuntimeOrigin::signed(POOR), new_key("//poor")).is_err());
	});
}

#[test]
fn the_active_list_is_bounded() {
	build_and_execute(|| {
		for who in 100..100 + u64::from(MAX_ATTESTORS) {
			let _ = Balances::force_set_balance(RuntimeOrigin::root(), who, START);
			attestor(who);
		}
		let _ = Balances::force_set_balance(RuntimeOrigin::root(), 500, START);
		assert_noop!(
			Attribution::register_attestor(RuntimeOrigin::signed(500), new_key("//extra")),
			Error::<Test>::TooManyAttestors
		);
	});
}

#[test]
fn an_attestor_leaves_once_its_receipts_are_done_and_their_challenge_windows_closed() {
	build_and_execute(|| {
		Attribution::register_operator(RuntimeOrigin::signed(OPERATOR)).unwrap();
		for a in [A1, A2, A3] {
			attestor(a);
		}
		let id = recorded(1);
		// Leaving stops new assignments but keeps the bond while the receipt is open.
		assert_ok!(Attribution::unregister_attestor(RuntimeOrigin::signed(A1)));
		assert!(matches!(events().last(), Some(Event::AttestorLeaving { who: A1, open: 1, .. })));
		assert!(!Active::<Test>::get().contains(&A1));
		assert_eq!(held(HoldReason::AttestorBond, A1), ATTESTOR_BOND);
		// It still reports on what it was assigned.
		for a in [A1, A2, A3] {
			commit(a, id, digest(1), &scores());
		}
		for a in [A1, A2, A3] {
			reveal(a, id, digest(1), &scores());
		}
		let Some(Phase::Settled { release_at, .. }) = Receipts::<Test>::get(id).map(|r| r.phase) else { panic!() };
		// Its bond backs the settlement until the credits are released.
		assert_ok!(Attribution::unregister_attestor(RuntimeOrigin::signed(A1)));
		assert!(matches!(events().last(), Some(Event::AttestorLeaving { open: 0, locked_until, .. }) if *locked_until == release_at));
		run_to_block(release_at);
		assert_ok!(Attribution::unregister_attestor(RuntimeOrigin::signed(A1)));
		assert!(matches!(events().last(), Some(Event::AttestorUnregistered { who: A1, returned: ATTESTOR_BOND })));
		assert_eq!(free(A1), START);
		assert!(AttestorOf::<Test>::iter().all(|(_, who)| who != A1));
		assert_noop!(Attribution::unregister_attestor(RuntimeOrigin::signed(A1)), Error::<Test>::NotAttestor);
	});
}

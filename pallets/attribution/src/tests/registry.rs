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
fn an_attestor_leaves_once_the_batches_on_its_panels_are_decided() {
	build_and_execute(|| {
		setup();
		super::batches::opened(super::batches::leaves());
		let panel = Batches::<Test>::get(0).unwrap().panel.into_inner();
		let leaver = panel[0];
		// Leaving stops new panels but keeps the bond while its panel's verdict is not in.
		assert_ok!(Attribution::unregister_attestor(RuntimeOrigin::signed(leaver)));
		assert!(matches!(events().last(), Some(Event::AttestorLeaving { who, open: 1 }) if *who == leaver));
		assert!(!Active::<Test>::get().contains(&leaver));
		assert_eq!(held(HoldReason::AttestorBond, leaver), ATTESTOR_BOND);
		// It still reports on the batch it sits on; the verdict frees it.
		let n = Batches::<Test>::get(0).unwrap().sample.len();
		super::batches::panel_reports(|_| (super::batches::honest(n), BatchAudit::AddsUp));
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Challenge { .. }));
		assert_ok!(Attribution::unregister_attestor(RuntimeOrigin::signed(leaver)));
		assert!(matches!(events().last(), Some(Event::AttestorUnregistered { who, returned: ATTESTOR_BOND }) if *who == leaver));
		assert_eq!(free(leaver), START);
		assert!(AttestorOf::<Test>::iter().all(|(_, who)| who != leaver));
		assert_noop!(Attribution::unregister_attestor(RuntimeOrigin::signed(leaver)), Error::<Test>::NotAttestor);
	});
}

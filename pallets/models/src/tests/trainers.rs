use crate::{mock::*, *};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::TokenError,
};

#[test]
fn trainers_register_with_a_bond_and_leave_when_idle() {
	build_and_execute(|| {
		let key = new_key("//T1");
		assert_ok!(Models::register_trainer(RuntimeOrigin::signed(T1), key.clone()));
		assert_eq!(last_event(), Event::TrainerRegistered { who: T1, key: key.clone(), bond: TRAINER_BOND });
		assert_eq!(held(HoldReason::TrainerBond, T1), TRAINER_BOND);
		assert_eq!(TrainerOf::<Test>::get(&key), Some(T1));
		assert_noop!(
			Models::register_trainer(RuntimeOrigin::signed(T1), new_key("//T1b")),
			Error::<Test>::AlreadyTrainer
		);
		assert_noop!(Models::register_trainer(RuntimeOrigin::signed(T2), key.clone()), Error::<Test>::KeyInUse);
		assert_noop!(
			Models::register_trainer(RuntimeOrigin::signed(POOR), new_key("//Poor")),
			TokenError::FundsUnavailable
		);
		assert_ok!(Models::unregister_trainer(RuntimeOrigin::signed(T1)));
		assert_eq!(last_event(), Event::TrainerUnregistered { who: T1, returned: TRAINER_BOND });
		assert_eq!(free(T1), START);
		assert!(TrainerOf::<Test>::get(&key).is_none());
		assert_noop!(Models::unregister_trainer(RuntimeOrigin::signed(T1)), Error::<Test>::NotTrainer);
	});
}

#[test]
fn there_are_at_most_max_trainers() {
	build_and_execute(|| {
		for who in [T1, T2, T3, T4] {
			trainer(who);
		}
		assert_noop!(
			Models::register_trainer(RuntimeOrigin::signed(T5), new_key("//T5")),
			Error::<Test>::TooManyTrainers
		);
		assert_eq!(Trainers::<Test>::count(), MAX_TRAINERS);
	});
}

#[test]
fn a_trainer_with_a_job_cannot_leave_until_it_is_evaluated() {
	build_and_execute(|| {
		let (id, _, k2, k3) = reported();
		assert_noop!(Models::unregister_trainer(RuntimeOrigin::signed(T1)), Error::<Test>::TrainerBusy);
		assert_ok!(dispatch_authorized(attest_call(&k2, id, 1, metrics(3.0, 2.5))));
		assert_noop!(Models::unregister_trainer(RuntimeOrigin::signed(T1)), Error::<Test>::TrainerBusy);
		assert_ok!(dispatch_authorized(attest_call(&k3, id, 1, metrics(3.0, 2.5))));
		assert_ok!(Models::unregister_trainer(RuntimeOrigin::signed(T1)));
	});
}

use crate::{mock::*, *};
use codec::Encode;
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok, traits::Authorize},
	sp_runtime::{
		transaction_validity::{InvalidTransaction, TransactionSource},
		DispatchError,
	},
};

fn authorize(call: &RuntimeCall) -> Result<(), InvalidTransaction> {
	use polkadot_sdk::sp_runtime::transaction_validity::TransactionValidityError;
	match call.authorize(TransactionSource::External).expect("authorized call") {
		Ok(_) => Ok(()),
		Err(TransactionValidityError::Invalid(e)) => Err(e),
		Err(e) => panic!("unexpected {e:?}"),
	}
}

#[test]
fn a_trainer_claims_a_queued_job_with_a_deadline() {
	build_and_execute(|| {
		let id = approved();
		let key = trainer(T1);
		let call = claim_call(&key, id, 1);
		let (valid, _) = call.authorize(TransactionSource::External).unwrap().unwrap();
		assert_eq!(valid.provides, vec![("MnemoModels", (b"claim", id, 1u32)).encode()]);
		assert_eq!(valid.priority, 1 << 20);
		assert_ok!(dispatch_authorized(call));
		assert_eq!(last_event(), Event::JobClaimed { model: id, attempt: 1, trainer: T1, deadline: 11 });
		assert_eq!(Jobs::<Test>::get(id), Some(Job::Claimed { trainer: T1, deadline: 11 }));
		assert!(!Queue::<Test>::contains_key(id));
		assert_eq!(Trainers::<Test>::get(T1).unwrap().job, Some(id));
		assert_eq!(ModelRecords::<Test>::get(id).unwrap().stage, Stage::Training);
		assert_eq!(Deadlines::<Test>::get(11).into_inner(), vec![id]);
	});
}

#[test]
fn claims_that_do_not_fit_are_refused_before_the_pool() {
	build_and_execute(|| {
		let id = approved();
		let key = trainer(T1);
		// Unregistered key, wrong attempt, unknown model, bad signature.
		let stranger = new_key("//Stranger");
		assert_eq!(authorize(&claim_call(&stranger, id, 1)), Err(InvalidTransaction::Stale));
		assert_eq!(authorize(&claim_call(&key, id, 2)), Err(InvalidTransaction::Stale));
		assert_eq!(authorize(&claim_call(&key, 9, 1)), Err(InvalidTransaction::Stale));
		let RuntimeCall::Models(crate::Call::claim_job { claim, .. }) = claim_call(&key, id, 1) else { panic!() };
		let forged = RuntimeCall::Models(crate::Call::claim_job {
			claim,
			signature: match claim_call(&key, id, 2) {
				RuntimeCall::Models(crate::Call::claim_job { signature, .. }) => signature,
				_ => unreachable!(),
			},
		});
		assert_eq!(authorize(&forged), Err(InvalidTransaction::BadProof));
		// Dispatching without authorization is refused too.
		assert_noop!(
			Models::claim_job(RuntimeOrigin::signed(T1), Claim { model: id, attempt: 1, key: key.clone() }, zero_signature()),
			DispatchError::BadOrigin
		);
		// One job at a time; a claimed job is not claimable.
		assert_ok!(dispatch_authorized(claim_call(&key, id, 1)));
		let second = approved();
		assert_eq!(authorize(&claim_call(&key, second, 1)), Err(InvalidTransaction::Stale));
		assert_eq!(e(Models::check_claim(&Claim { model: second, attempt: 1, key: key.clone() })), Err(Error::<Test>::TrainerBusy.into()));
		let k2 = trainer(T2);
		assert_eq!(e(Models::check_claim(&Claim { model: id, attempt: 1, key: k2 })), Err(Error::<Test>::BadSubmission.into()));
	});
}

#[test]
fn the_claiming_trainer_reports_and_the_model_is_trained() {
	build_and_execute(|| {
		let id = approved();
		let (k1, k2) = (trainer(T1), trainer(T2));
		assert_ok!(dispatch_authorized(claim_call(&k1, id, 1)));
		run_to_block(4);
		// Only the claimant may report, for the current attempt, with metrics for each datanet.
		assert_eq!(e(Models::check_report(&report(&k2, id, 1, metrics(3.0, 2.5)))), Err(Error::<Test>::BadSubmission.into()));
		assert_eq!(e(Models::check_report(&report(&new_key("//X"), id, 1, metrics(3.0, 2.5)))), Err(Error::<Test>::NotTrainer.into()));
		assert_eq!(e(Models::check_report(&report(&k1, id, 2, metrics(3.0, 2.5)))), Err(Error::<Test>::BadSubmission.into()));
		let mut wrong = metrics(3.0, 2.5);
		wrong[0].version = 2;
		assert_eq!(e(Models::check_report(&report(&k1, id, 1, wrong))), Err(Error::<Test>::BadMetrics.into()));
		assert_eq!(e(Models::check_report(&report(&k1, id, 1, Default::default()))), Err(Error::<Test>::BadMetrics.into()));

		assert_ok!(dispatch_authorized(report_call(&k1, id, 1, metrics(3.0, 2.5))));
		assert_eq!(
			last_event(),
			Event::TrainingReported { model: id, attempt: 1, trainer: T1, adapter_hash: adapter_hash(), metrics: metrics(3.0, 2.5) }
		);
		assert_eq!(ModelRecords::<Test>::get(id).unwrap().stage, Stage::Trained);
		// The training deadline is gone; the evaluation deadline is 5 blocks on.
		assert!(Deadlines::<Test>::get(11).is_empty());
		assert_eq!(Deadlines::<Test>::get(9).into_inner(), vec![id]);
		assert!(matches!(Jobs::<Test>::get(id), Some(Job::Reported { confirms: 0, disputes: 0, deadline: 9, .. })));
		// A second report is stale.
		assert_eq!(authorize(&report_call(&k1, id, 1, metrics(3.0, 2.5))), Err(InvalidTransaction::Stale));
	});
}

fn report(key: &TrainerKey, model: u32, attempt: u32, metrics: Metrics<Test>) -> TrainingReport<Test> {
	TrainingReport { model, attempt, key: key.clone(), adapter_hash: adapter_hash(), metrics }
}

#[test]
fn a_trainer_that_misses_its_deadline_is_slashed_and_the_job_is_requeued() {
	build_and_execute(|| {
		let id = approved();
		let k1 = trainer(T1);
		assert_ok!(dispatch_authorized(claim_call(&k1, id, 1)));
		let treasury = free(TREASURY);
		run_to_block(11);
		let slashed = TRAINER_BOND / 10;
		let evs = events();
		assert!(evs.contains(&Event::JobTimedOut { model: id, attempt: 1, trainer: T1, slashed }));
		assert_eq!(evs.last(), Some(&Event::JobRequeued { model: id, attempt: 2 }));
		assert_eq!(free(TREASURY), treasury + slashed);
		let t = Trainers::<Test>::get(T1).unwrap();
		assert_eq!((t.bond, t.job), (TRAINER_BOND - slashed, None));
		assert_eq!(Jobs::<Test>::get(id), Some(Job::Queued));
		assert_eq!(ModelRecords::<Test>::get(id).unwrap().stage, Stage::Approved);
		// The late report of attempt 1 is refused; the slashed trainer may not claim again
		// until it re-bonds, so another trainer takes attempt 2.
		assert_eq!(authorize(&report_call(&k1, id, 1, metrics(3.0, 2.5))), Err(InvalidTransaction::Stale));
		assert_eq!(e(Models::check_claim(&Claim { model: id, attempt: 2, key: k1.clone() })), Err(Error::<Test>::BondTooLow.into()));
		let k2 = trainer(T2);
		assert_ok!(dispatch_authorized(claim_call(&k2, id, 2)));
		// Attempt 2 times out too: with max_attempts 2 the model fails.
		run_to_block(21);
		assert_eq!(last_event(), Event::ModelFailed { model: id, attempts: 2 });
		assert_eq!(ModelRecords::<Test>::get(id).unwrap().stage, Stage::Failed);
		assert!(Jobs::<Test>::get(id).is_none());
		assert!(!Queue::<Test>::contains_key(id));
		// Leaving returns what is left of the bond.
		assert_ok!(Models::unregister_trainer(RuntimeOrigin::signed(T1)));
		assert_eq!(last_event(), Event::TrainerUnregistered { who: T1, returned: TRAINER_BOND - slashed });
	});
}

#[test]
fn deadlines_spill_into_the_next_blocks_and_then_refuse() {
	build_and_execute(|| {
		// MAX_DEADLINES = 2 per block and 4 blocks of slack: 10 deadlines fit from block 11.
		let got: Vec<u64> = (100..110).map(|id| Models::schedule(11, id).unwrap()).collect();
		assert_eq!(got, vec![11, 11, 12, 12, 13, 13, 14, 14, 15, 15]);
		assert_eq!(e(Models::schedule(11, 110)), Err(Error::<Test>::DeadlinesFull.into()));
		// A claim whose deadline finds no room is refused and can be retried later.
		let id = approved();
		let k = trainer(T1);
		assert_noop!(dispatch_authorized(claim_call(&k, id, 1)), Error::<Test>::DeadlinesFull);
		run_to_block(2);
		assert_ok!(dispatch_authorized(claim_call(&k, id, 1)));
		assert_eq!(Jobs::<Test>::get(id), Some(Job::Claimed { trainer: T1, deadline: 16 }));
		// The test's fake entries go, so the hook does not meet them.
		for b in 11..=15 {
			Deadlines::<Test>::mutate(b, |d| d.retain(|x| *x < 100));
		}
	});
}

#[test]
fn governance_sets_the_job_settings_within_bounds() {
	build_and_execute(|| {
		let mut s = settings();
		s.training_period = 50;
		assert_noop!(Models::set_settings(RuntimeOrigin::signed(BUILDER), s), DispatchError::BadOrigin);
		assert_ok!(Models::set_settings(RuntimeOrigin::root(), s));
		assert_eq!(last_event(), Event::SettingsSet { settings: s });
		assert_eq!(JobSettings::<Test>::get(), s);
		for bad in [
			Settings { training_period: 0, ..s },
			Settings { evaluation_period: 0, ..s },
			Settings { eval_quorum: 0, ..s },
			Settings { eval_quorum: MAX_TRAINERS, ..s },
			Settings { max_attempts: 0, ..s },
		] {
			assert_noop!(Models::set_settings(RuntimeOrigin::root(), bad), Error::<Test>::BadSettings);
		}
		// New claims use the new period.
		let id = approved();
		let k = trainer(T1);
		assert_ok!(dispatch_authorized(claim_call(&k, id, 1)));
		assert_eq!(Jobs::<Test>::get(id), Some(Job::Claimed { trainer: T1, deadline: 51 }));
	});
}

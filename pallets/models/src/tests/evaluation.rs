use crate::{mock::*, *};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::Perbill,
};

#[test]
fn a_quorum_of_other_trainers_confirms_and_the_adapter_is_registered() {
	build_and_execute(|| {
		let (id, _, k2, k3) = reported();
		run_to_block(3);
		assert_ok!(dispatch_authorized(attest_call(&k2, id, 1, metrics(3.0, 2.5))));
		assert_eq!(
			last_event(),
			Event::EvaluationAttested { model: id, attempt: 1, attestor: T2, confirmed: true, confirms: 1, disputes: 0 }
		);
		assert_eq!(ModelRecords::<Test>::get(id).unwrap().stage, Stage::Trained);
		// Within the 2% tolerance: 3.05 vs 3.0 and 2.48 vs 2.5.
		assert_ok!(dispatch_authorized(attest_call(&k3, id, 1, metrics(3.05, 2.48))));
		assert_eq!(
			last_event(),
			Event::ModelEvaluated { model: id, adapter: 0, artifact: adapter_hash(), metrics: metrics(3.0, 2.5), improved: true }
		);
		let m = ModelRecords::<Test>::get(id).unwrap();
		assert_eq!((m.stage, m.adapter), (Stage::Evaluated, Some(0)));
		let a = Adapters::<Test>::get(0).unwrap();
		assert_eq!((a.model, a.owner, a.trainer, a.artifact), (id, BUILDER, T1, adapter_hash()));
		assert_eq!((a.metrics, a.price_per_1k, a.parent), (metrics(3.0, 2.5), None, None));
		assert_eq!(a.datanets.into_inner(), vec![(0, 1)]);
		assert_eq!(AdaptersByDatanet::<Test>::get(0, 0), Some(1));
		assert!(Jobs::<Test>::get(id).is_none());
		assert_eq!(Attestations::<Test>::iter_prefix(id).count(), 0);
		assert_eq!(Trainers::<Test>::get(T1).unwrap().job, None);
		// The evaluation deadline is gone.
		assert!(Deadlines::<Test>::get(1 + 5).is_empty());
	});
}

#[test]
fn an_adapter_that_did_not_improve_is_published_as_such() {
	build_and_execute(|| {
		let id = approved();
		let (k1, k2, k3) = (trainer(T1), trainer(T2), trainer(T3));
		assert_ok!(dispatch_authorized(claim_call(&k1, id, 1)));
		assert_ok!(dispatch_authorized(report_call(&k1, id, 1, metrics(3.0, 3.2))));
		assert_ok!(dispatch_authorized(attest_call(&k2, id, 1, metrics(3.0, 3.2))));
		assert_ok!(dispatch_authorized(attest_call(&k3, id, 1, metrics(3.0, 3.2))));
		assert!(matches!(last_event(), Event::ModelEvaluated { improved: false, .. }));
	});
}

#[test]
fn attestations_must_come_from_other_registered_trainers_once_about_the_reported_adapter() {
	build_and_execute(|| {
		let (id, k1, k2, _) = reported();
		let check = |key: &TrainerKey, attempt: u32, hash: mnemo_primitives::ContentHash, m: Metrics<Test>| {
			Models::check_attestation(&Attestation { model: id, attempt, key: key.clone(), adapter_hash: hash, metrics: m })
		};
		assert_eq!(e(check(&k1, 1, adapter_hash(), metrics(3.0, 2.5))), Err(Error::<Test>::BadSubmission.into()));
		assert_eq!(e(check(&new_key("//X"), 1, adapter_hash(), metrics(3.0, 2.5))), Err(Error::<Test>::NotTrainer.into()));
		assert_eq!(e(check(&k2, 2, adapter_hash(), metrics(3.0, 2.5))), Err(Error::<Test>::BadSubmission.into()));
		let other = mnemo_primitives::ContentHash::of(b"other");
		assert_eq!(e(check(&k2, 1, other, metrics(3.0, 2.5))), Err(Error::<Test>::BadSubmission.into()));
		assert_eq!(e(check(&k2, 1, adapter_hash(), Default::default())), Err(Error::<Test>::BadMetrics.into()));
		assert_ok!(dispatch_authorized(attest_call(&k2, id, 1, metrics(3.0, 2.5))));
		assert_eq!(e(check(&k2, 1, adapter_hash(), metrics(3.0, 2.5))), Err(Error::<Test>::BadSubmission.into()));
		assert_noop!(
			Models::attest_evaluation(
				RuntimeOrigin::signed(T2),
				Attestation { model: id, attempt: 1, key: k2, adapter_hash: adapter_hash(), metrics: metrics(3.0, 2.5) },
				zero_signature()
			),
			polkadot_sdk::sp_runtime::DispatchError::BadOrigin
		);
	});
}

#[test]
fn a_quorum_of_disputes_voids_the_report_slashes_the_trainer_and_requeues() {
	build_and_execute(|| {
		let (id, _, k2, k3) = reported();
		let treasury = free(TREASURY);
		// The adapter's loss is really 2.9, not 2.5: outside the tolerance.
		assert_ok!(dispatch_authorized(attest_call(&k2, id, 1, metrics(3.0, 2.9))));
		assert!(matches!(last_event(), Event::EvaluationAttested { confirmed: false, disputes: 1, .. }));
		assert_ok!(dispatch_authorized(attest_call(&k3, id, 1, metrics(3.0, 2.9))));
		let slashed = TRAINER_BOND / 2;
		let evs = events();
		assert!(evs.contains(&Event::ReportDisputed { model: id, attempt: 1, trainer: T1, slashed }));
		assert_eq!(evs.last(), Some(&Event::JobRequeued { model: id, attempt: 2 }));
		assert_eq!(free(TREASURY), treasury + slashed);
		assert_eq!(Trainers::<Test>::get(T1).unwrap().bond, TRAINER_BOND - slashed);
		assert_eq!(Jobs::<Test>::get(id), Some(Job::Queued));
		assert_eq!(Attestations::<Test>::iter_prefix(id).count(), 0);
		assert!(Deadlines::<Test>::get(6).is_empty());
		// The honest attestor can now claim attempt 2.
		assert_ok!(dispatch_authorized(claim_call(&k2, id, 2)));
	});
}

#[test]
fn without_a_quorum_in_the_evaluation_period_the_job_is_requeued_without_slashing() {
	build_and_execute(|| {
		let (id, _, k2, _) = reported();
		assert_ok!(dispatch_authorized(attest_call(&k2, id, 1, metrics(3.0, 2.5))));
		run_to_block(6);
		let evs = events();
		assert!(evs.contains(&Event::EvaluationExpired { model: id, attempt: 1, confirms: 1, disputes: 0 }));
		assert_eq!(evs.last(), Some(&Event::JobRequeued { model: id, attempt: 2 }));
		let t = Trainers::<Test>::get(T1).unwrap();
		assert_eq!((t.bond, t.job), (TRAINER_BOND, None));
		assert_eq!(Attestations::<Test>::iter_prefix(id).count(), 0);
	});
}

#[test]
fn tolerance_is_relative_to_the_reported_loss_and_covers_every_datanet() {
	let m = |b: f64, a: f64| metrics(b, a).into_inner();
	let tol = Perbill::from_percent(2);
	assert!(within_tolerance(&m(3.0, 2.5), &m(3.0, 2.5), tol));
	assert!(within_tolerance(&m(3.0, 2.5), &m(3.05, 2.46), tol));
	assert!(!within_tolerance(&m(3.0, 2.5), &m(3.07, 2.5), tol));
	assert!(!within_tolerance(&m(3.0, 2.5), &m(3.0, 2.44), tol));
	assert!(!within_tolerance(&m(3.0, 2.5), &[], tol));
	let mut other = m(3.0, 2.5);
	other[0].datanet = 1;
	assert!(!within_tolerance(&m(3.0, 2.5), &other, tol));
	assert!(within_tolerance(&m(3.0, 2.5), &m(3.0, 2.5), Perbill::zero()));
}

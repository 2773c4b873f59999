//! The trainer worker against a scripted engine: each test expects the exact requests the
//! worker sends, answers with real bodies, and checks the transactions it submits.

use crate::{mock::*, *};
use codec::Decode;
use mnemo_primitives::{
	engine::{DataRef, DatanetData, EvalRequest, TrainRequest},
	offchain_keys, ContentHash,
};
use polkadot_sdk::{
	frame_support::{assert_ok, traits::Hooks},
	sp_core::offchain::{testing, StorageKind},
	sp_keystore::Keystore,
};
use std::sync::Arc;

const ENGINE: &str = "http://127.0.0.1:8844";

fn set_engine_url(url: &str) {
	polkadot_sdk::sp_io::offchain::local_storage_set(
		StorageKind::PERSISTENT,
		offchain_keys::ENGINE_URL,
		url.as_bytes(),
	);
}

type Pool = Arc<parking_lot::RwLock<testing::PoolState>>;

fn pool_calls(pool: &Pool) -> Vec<RuntimeCall> {
	std::mem::take(&mut pool.write().transactions)
		.into_iter()
		.map(|tx| Extrinsic::decode(&mut &*tx).expect("an extrinsic").function)
		.collect()
}

fn data() -> Vec<DatanetData> {
	vec![DatanetData {
		datanet: 0,
		version: 1,
		contributions: [1u64, 2, 3]
			.iter()
			.map(|c| DataRef { contribution: *c, content_hash: ContentHash::of(&c.to_le_bytes()) })
			.collect(),
	}]
}

fn train_request(model: u32, attempt: u32) -> TrainRequest {
	let s = spec();
	TrainRequest {
		job: model,
		attempt,
		base_model: "smollm2-135m".into(),
		datanets: data(),
		lora: s.lora_spec(),
		eval: s.eval_settings(),
	}
}

fn expect_train(state: &mut testing::OffchainState, model: u32, attempt: u32, response: &str) {
	state.expect_request(mnemo_ocw::testing::expected_post(
		&format!("{ENGINE}/v1/train"),
		&train_request(model, attempt),
		response,
	));
}

fn expect_status(state: &mut testing::OffchainState, run: &str, response: &str) {
	state.expect_request(mnemo_ocw::testing::expected_get(&format!("{ENGINE}/v1/train/{run}"), response));
}

fn eval_json(base: f64, adapter: f64) -> String {
	format!(
		r#"{{"per_datanet":[{{"datanet":0,"version":1,"eval_tokens":512,"base":{{"loss":{base},"perplexity":{}}},"adapter":{{"loss":{adapter},"perplexity":{}}}}}]}}"#,
		base.exp(),
		adapter.exp()
	)
}

fn done_json(run: &str) -> String {
	format!(
		r#"{{"id":"{run}","state":"done","progress":1.0,"adapter_hash":"{}","metrics":{}}}"#,
		adapter_hash().to_hex(),
		eval_json(3.0, 2.5)
	)
}

fn worker() {
	Models::offchain_worker(System::block_number());
}

fn next_block() {
	run_to_block(System::block_number() + 1);
}

/// Two trainer keys in one node's keystore, registered for T1 and T2.
fn two_trainers() -> (polkadot_sdk::sp_keystore::testing::MemoryKeystore, TrainerKey, TrainerKey) {
	let (keystore, k1) = keystore_with_trainer("//Trainer1");
	let k2: TrainerKey = keystore.sr25519_generate_new(crate::KEY_TYPE, Some("//Trainer2")).unwrap().into();
	(keystore, k1, k2)
}

#[test]
fn the_worker_claims_trains_reports_and_another_key_attests() {
	let (keystore, k1, k2) = two_trainers();
	let (mut ext, offchain, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		set_engine_url(ENGINE);
		assert_ok!(Models::register_trainer(RuntimeOrigin::signed(T1), k1.clone()));
		let id = approved();

		// Block 1: the idle trainer claims the queued job (no engine call yet). Only one key
		// may hold it: the other key's claim of the same job is refused before the pool.
		worker();
		let calls = pool_calls(&pool);
		assert_eq!(calls.len(), 1);
		let RuntimeCall::Models(crate::Call::claim_job { claim, .. }) = &calls[0] else {
			panic!("unexpected {:?}", calls[0]);
		};
		assert_eq!(claim, &Claim { model: id, attempt: 1, key: k1.clone() });
		assert_ok!(dispatch_authorized(calls[0].clone()));
		assert_ok!(Models::register_trainer(RuntimeOrigin::signed(T2), k2.clone()));

		// Block 2: it starts the run on the engine, with the datanet version's contributions.
		next_block();
		expect_train(&mut offchain.write(), id, 1, r#"{"id":"run-1"}"#);
		worker();
		assert!(pool_calls(&pool).is_empty());

		// Block 3: still running.
		next_block();
		expect_status(&mut offchain.write(), "run-1", r#"{"id":"run-1","state":"running","progress":0.4}"#);
		worker();
		assert!(pool_calls(&pool).is_empty());

		// Block 4: done: the report goes out, signed by the claiming key.
		next_block();
		expect_status(&mut offchain.write(), "run-1", &done_json("run-1"));
		worker();
		let calls = pool_calls(&pool);
		assert_eq!(calls.len(), 1);
		let RuntimeCall::Models(crate::Call::report_training { report, .. }) = &calls[0] else {
			panic!("unexpected {:?}", calls[0]);
		};
		assert_eq!(
			(report.model, report.attempt, &report.key, report.adapter_hash),
			(id, 1, &k1, adapter_hash())
		);
		// The engine's numbers, in fixed point (JSON float parsing may differ in the last bits).
		let expected = metrics(3.0, 2.5);
		assert!(within_tolerance(&expected, &report.metrics, polkadot_sdk::sp_runtime::Perbill::from_parts(1)));
		let ppl = |m: &Metrics<Test>| m[0].adapter_perplexity.into_inner() / 1_000_000_000;
		assert_eq!(ppl(&report.metrics), ppl(&expected));
		assert_ok!(dispatch_authorized(calls[0].clone()));

		// Block 5: the other key re-evaluates the adapter and attests; the reporter does not.
		next_block();
		let eval = EvalRequest {
			base_model: "smollm2-135m".into(),
			adapter_hash: adapter_hash(),
			datanets: data(),
			lora: spec().lora_spec(),
			eval: spec().eval_settings(),
		};
		offchain.write().expect_request(mnemo_ocw::testing::expected_post(
			&format!("{ENGINE}/v1/eval"),
			&eval,
			&eval_json(3.01, 2.49),
		));
		worker();
		let calls = pool_calls(&pool);
		assert_eq!(calls.len(), 1);
		let RuntimeCall::Models(crate::Call::attest_evaluation { attestation, .. }) = &calls[0] else {
			panic!("unexpected {:?}", calls[0]);
		};
		assert_eq!((attestation.key.clone(), attestation.attempt), (k2.clone(), 1));
		assert_ok!(dispatch_authorized(calls[0].clone()));
		assert!(matches!(last_event(), Event::EvaluationAttested { attestor: T2, confirmed: true, .. }));

		// Nothing more to do: no requests, no transactions.
		next_block();
		worker();
		assert!(pool_calls(&pool).is_empty());
	});
}

#[test]
fn an_engine_error_leaves_the_job_claimed_and_the_worker_starts_it_again() {
	let (keystore, k1) = keystore_with_trainer("//Trainer1");
	let (mut ext, offchain, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		set_engine_url(ENGINE);
		assert_ok!(Models::register_trainer(RuntimeOrigin::signed(T1), k1.clone()));
		let id = approved();
		worker();
		assert_ok!(dispatch_authorized(pool_calls(&pool).remove(0)));

		// The engine refuses to start: nothing stored, nothing submitted, the job stays claimed.
		next_block();
		expect_train(&mut offchain.write(), id, 1, r#"{"error":"base model smollm2-135m is not installed"}"#);
		worker();
		assert!(pool_calls(&pool).is_empty());
		assert!(matches!(Jobs::<Test>::get(id), Some(Job::Claimed { trainer: T1, .. })));

		// Next block it asks again; this time the run starts, then fails.
		next_block();
		expect_train(&mut offchain.write(), id, 1, r#"{"id":"run-7"}"#);
		worker();
		next_block();
		expect_status(&mut offchain.write(), "run-7", r#"{"id":"run-7","state":"failed","error":"out of memory"}"#);
		worker();
		assert!(pool_calls(&pool).is_empty());

		// The failed run is forgotten: the worker starts a new one, which completes.
		next_block();
		expect_train(&mut offchain.write(), id, 1, r#"{"id":"run-8"}"#);
		worker();
		next_block();
		expect_status(&mut offchain.write(), "run-8", &done_json("run-8"));
		worker();
		let calls = pool_calls(&pool);
		assert_eq!(calls.len(), 1);
		assert_ok!(dispatch_authorized(calls[0].clone()));
		assert_eq!(ModelRecords::<Test>::get(id).unwrap().stage, Stage::Trained);
	});
}

#[test]
fn metrics_that_do_not_match_the_job_are_not_reported() {
	let (keystore, k1) = keystore_with_trainer("//Trainer1");
	let (mut ext, offchain, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		set_engine_url(ENGINE);
		assert_ok!(Models::register_trainer(RuntimeOrigin::signed(T1), k1.clone()));
		let id = approved();
		worker();
		assert_ok!(dispatch_authorized(pool_calls(&pool).remove(0)));
		next_block();
		expect_train(&mut offchain.write(), id, 1, r#"{"id":"run-1"}"#);
		worker();
		// A negative loss, then metrics for the wrong datanet version: neither is reported.
		next_block();
		let negative = done_json("run-1").replace("\"loss\":3", "\"loss\":-3");
		expect_status(&mut offchain.write(), "run-1", &negative);
		worker();
		assert!(pool_calls(&pool).is_empty());
		next_block();
		let wrong = done_json("run-1").replace("\"version\":1", "\"version\":2");
		expect_status(&mut offchain.write(), "run-1", &wrong);
		worker();
		assert!(pool_calls(&pool).is_empty());
		// The job is not lost: its deadline will requeue it.
		assert!(matches!(Jobs::<Test>::get(id), Some(Job::Claimed { .. })));
	});
}

#[test]
fn the_worker_is_idle_without_an_engine_url_or_a_registered_key() {
	let (keystore, k1) = keystore_with_trainer("//Trainer1");
	let (mut ext, _offchain, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		approved();
		// A key in the keystore that is not registered: nothing (an unexpected request panics).
		set_engine_url(ENGINE);
		worker();
		assert!(pool_calls(&pool).is_empty());
		// Registered but no engine URL: nothing either.
		polkadot_sdk::sp_io::offchain::local_storage_clear(StorageKind::PERSISTENT, offchain_keys::ENGINE_URL);
		assert_ok!(Models::register_trainer(RuntimeOrigin::signed(T1), k1));
		worker();
		assert!(pool_calls(&pool).is_empty());
	});
}

#[test]
fn a_claim_still_in_the_pool_is_not_sent_again_within_the_retry_window() {
	let (keystore, k1) = keystore_with_trainer("//Trainer1");
	let (mut ext, _offchain, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		set_engine_url(ENGINE);
		assert_ok!(Models::register_trainer(RuntimeOrigin::signed(T1), k1));
		approved();
		worker();
		assert_eq!(pool_calls(&pool).len(), 1);
		next_block();
		worker();
		assert!(pool_calls(&pool).is_empty());
		run_to_block(1 + crate::ocw::RETRY_AFTER as u64);
		worker();
		assert_eq!(pool_calls(&pool).len(), 1, "retried after the window");
	});
}

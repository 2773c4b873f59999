//! The attestor worker against a scripted engine: each test expects the exact request the
//! worker sends, answers with a real body, and dispatches the transactions it submits.

use crate::{mock::*, *};
use codec::Decode;
use mnemo_primitives::{
	engine::{AttributionResponse, ContributionScore},
	offchain_keys, ContentHash,
};
use polkadot_sdk::{
	frame_support::{assert_ok, traits::Hooks},
	sp_core::offchain::{testing, StorageKind},
};
use std::sync::Arc;

const ENGINE: &str = "http://127.0.0.1:8844";

type Pool = Arc<parking_lot::RwLock<testing::PoolState>>;

fn set_engine_url(url: &str) {
	polkadot_sdk::sp_io::offchain::local_storage_set(StorageKind::PERSISTENT, offchain_keys::ENGINE_URL, url.as_bytes());
}

fn pool_calls(pool: &Pool) -> Vec<RuntimeCall> {
	std::mem::take(&mut pool.write().transactions)
		.into_iter()
		.map(|tx| Extrinsic::decode(&mut &*tx).expect("an extrinsic").function)
		.collect()
}

/// One attestor (the worker's key) is a whole panel.
fn single_attestor_setup(key: AttestorKey) {
	let mut p = params();
	(p.assigned, p.quorum, p.min_reports) = (1, 1, 1);
	assert_ok!(Attribution::set_params(RuntimeOrigin::root(), p));
	Attribution::register_operator(RuntimeOrigin::signed(OPERATOR)).unwrap();
	assert_ok!(Attribution::register_attestor(RuntimeOrigin::signed(A1), key));
	set_engine_url(ENGINE);
}

fn answer(scores: &[(u64, f64)]) -> AttributionResponse {
	AttributionResponse {
		contributions: scores.iter().map(|(c, s)| ContributionScore { contribution: *c, score: *s }).collect(),
		residual: 0.0,
		method: "datainf".into(),
		method_version: 1,
		digest: digest(1),
		tokens: 15,
	}
}

#[test]
fn engine_scores_become_well_formed_report_scores() {
	// Sorted by contribution, zeros dropped.
	assert_eq!(answer(&[(5, 0.2), (3, 0.7), (4, 0.0)]).scores(4), Some(vec![(3, pb(70)), (5, pb(20))]));
	// The k highest.
	assert_eq!(answer(&[(1, 0.1), (2, 0.3), (3, 0.2)]).scores(2), Some(vec![(2, pb(30)), (3, pb(20))]));
	// Rounding above 100% is trimmed from the highest.
	let s = answer(&[(1, 0.6666666666), (2, 0.3333333338)]).scores(4).unwrap();
	assert_eq!(s.iter().map(|(_, p)| p.deconstruct() as u64).sum::<u64>(), 1_000_000_000);
	// Malformed: out of range, repeated.
	assert_eq!(answer(&[(1, -0.1)]).scores(4), None);
	assert_eq!(answer(&[(1, f64::NAN)]).scores(4), None);
	assert_eq!(answer(&[(1, 0.2), (1, 0.3)]).scores(4), None);
}

/// A batch of [`super::batches::leaves`] committed with its whole blob in the engine's store
/// (its payouts skimmed by the operator if `skim`), sampled and opened; the blob's bytes.
fn batch_in_commit(state: Option<&mut testing::OffchainState>, skim: bool, score: &str, answered: usize) -> Vec<u8> {
	use mnemo_primitives::batch::{self, Blob};
	let leaves = super::batches::leaves();
	let facts = Attribution::adapter_facts(ADAPTER).unwrap();
	let terms = Attribution::batch_terms();
	let p = batch::payouts(&leaves, &terms.split, &terms.treasury, |_| Some(OWNER), |c| facts.owners(c)).unwrap();
	let mut blob = Blob { prev: None, terms: terms.hash(), leaves: leaves.clone(), payouts: p.payouts, attestors: p.attestors };
	if skim {
		for p in blob.payouts.iter_mut().filter(|p| p.who == C1) {
			p.who = OPERATOR;
		}
		blob.payouts.sort_by_key(|p| p.who);
	}
	let bytes = codec::Encode::encode(&blob);
	let header = blob.header(ContentHash::of(&bytes));
	let charges = super::batches::charges(&leaves);
	assert_ok!(Attribution::submit_batch(RuntimeOrigin::signed(OPERATOR), header, charges.try_into().unwrap()));
	run_to_block(3);
	let sample = Batches::<Test>::get(0).unwrap().sample.into_inner();
	let hashes = blob.leaf_hashes();
	let opened: Vec<_> = sample.iter().map(|i| (leaves[*i as usize].clone(), batch::merkle_proof(&hashes, *i).unwrap())).collect();
	assert_ok!(Attribution::open_sample(RuntimeOrigin::signed(OPERATOR), 0, opened.try_into().unwrap()));
	// What the worker asks the engine: the blob, then each sampled leaf's attribution (the
	// first `answered` of them: it stops at a bad answer).
	let Some(state) = state else { return bytes };
	state.expect_request(mnemo_ocw::testing::expected_blob(&format!("{ENGINE}/v1/blobs/{}", ContentHash::of(&bytes).to_hex()), bytes.clone()));
	for i in sample.iter().take(answered) {
		let req = facts.request(u64::from(*i), leaves[*i as usize].transcript, MAX_CONTRIBUTIONS);
		let answer = format!(
			r#"{{"contributions":[{{"contribution":100,"score":{score}}}],"residual":0.95,"method":"datainf","method_version":1,"digest":"{}","tokens":500}}"#,
			ContentHash([7; 32]).to_hex()
		);
		state.expect_request(mnemo_ocw::testing::expected_post(&format!("{ENGINE}/v1/attribution"), &req, &answer));
	}
	bytes
}

#[test]
fn a_panel_attestor_audits_the_batch_recomputes_its_sample_and_reports_by_commit_reveal() {
	let (keystore, key) = keystore_with_attestor("//Attestor");
	let (mut ext, state, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		single_attestor_setup(key);
		batch_in_commit(Some(&mut state.write()), false, "0.05", 3);
		Attribution::offchain_worker(3);
		let calls = pool_calls(&pool);
		assert_eq!(calls.len(), 1);
		assert!(matches!(&calls[0], RuntimeCall::Attribution(Call::commit_batch_report { commit, .. }) if commit.batch == 0));
		for c in calls {
			assert_ok!(dispatch_authorized(c));
		}
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Reveal { .. }));
		// Next block: the reveal, from what the worker kept; the sample held up.
		Attribution::offchain_worker(4);
		let calls = pool_calls(&pool);
		assert!(matches!(&calls[..], [RuntimeCall::Attribution(Call::reveal_batch_report { reveal, .. })] if reveal.audit == BatchAudit::AddsUp && reveal.reports.len() == 3));
		for c in calls {
			assert_ok!(dispatch_authorized(c));
		}
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Challenge { .. }));
		// Nothing more to do about it.
		Attribution::offchain_worker(5);
		assert!(pool_calls(&pool).is_empty());
	});
}

#[test]
fn payouts_the_operator_skimmed_are_reported_and_the_batch_refunded() {
	let (keystore, key) = keystore_with_attestor("//Attestor");
	let (mut ext, state, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		single_attestor_setup(key);
		batch_in_commit(Some(&mut state.write()), true, "0.05", 3);
		Attribution::offchain_worker(3);
		for c in pool_calls(&pool) {
			assert_ok!(dispatch_authorized(c));
		}
		Attribution::offchain_worker(4);
		let calls = pool_calls(&pool);
		assert!(matches!(&calls[..], [RuntimeCall::Attribution(Call::reveal_batch_report { reveal, .. })] if reveal.audit == BatchAudit::DoesNotAddUp));
		for c in calls {
			assert_ok!(dispatch_authorized(c));
		}
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { why: BatchRefund::BadTotals, .. }));
	});
}

#[test]
fn a_malformed_engine_answer_is_not_reported() {
	let (keystore, key) = keystore_with_attestor("//Attestor");
	let (mut ext, state, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		single_attestor_setup(key);
		batch_in_commit(Some(&mut state.write()), false, "1.5", 1);
		Attribution::offchain_worker(3);
		assert!(pool_calls(&pool).is_empty());
		// Within the retry window the worker does not ask again.
		Attribution::offchain_worker(3);
		assert!(pool_calls(&pool).is_empty());
	});
}

#[test]
fn without_an_engine_url_the_worker_submits_nothing() {
	let (keystore, key) = keystore_with_attestor("//Attestor");
	let (mut ext, _state, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		single_attestor_setup(key);
		batch_in_commit(None, false, "0.05", 0);
		polkadot_sdk::sp_io::offchain::local_storage_clear(StorageKind::PERSISTENT, offchain_keys::ENGINE_URL);
		Attribution::offchain_worker(3);
		assert!(pool_calls(&pool).is_empty());
	});
}

#[test]
fn a_batch_its_operator_does_not_serve_is_reported_unavailable() {
	let (keystore, key) = keystore_with_attestor("//Attestor");
	let (mut ext, state, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		single_attestor_setup(key);
		let bytes = batch_in_commit(None, false, "0.05", 0);
		// Under the batch's name, the engine has other bytes (as it would answer 404 for none).
		state.write().expect_request(mnemo_ocw::testing::expected_blob(
			&format!("{ENGINE}/v1/blobs/{}", ContentHash::of(&bytes).to_hex()),
			b"not the batch".to_vec(),
		));
		Attribution::offchain_worker(3);
		for c in pool_calls(&pool) {
			assert_ok!(dispatch_authorized(c));
		}
		Attribution::offchain_worker(4);
		let calls = pool_calls(&pool);
		assert!(matches!(&calls[..], [RuntimeCall::Attribution(Call::reveal_batch_report { reveal, .. })] if reveal.audit == BatchAudit::Unavailable && reveal.reports.is_empty()));
		for c in calls {
			assert_ok!(dispatch_authorized(c));
		}
		// A majority (the whole panel of one) could not get it: a fresh panel tries.
		assert!(System::events().iter().any(|e| matches!(
			&e.event,
			RuntimeEvent::Attribution(Event::PanelRedrawn { batch: 0, round: 1, why: BatchRefund::Withheld, .. })
		)));
	});
}

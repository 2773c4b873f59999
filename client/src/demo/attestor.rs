//! The fault of an attestor that reports wrong scores. `//Mallory` registers as an attestor
//! like the honest ones, and for each batch whose panel it sits on it recomputes the sampled
//! receipts as they do (so it reports the right digests and token counts), then commits to and
//! reveals other scores: every answer credited to one contribution, as if it colluded with that
//! contributor. It runs outside the node, on `mnemo_client::attest`: the same commit-reveal
//! calls, signed by its attestor key and submitted as authorized transactions, as the node's
//! worker makes them. The chain must strike it (`Deviation`), leave it unpaid and settle the
//! batch on the honest majority.

use super::R;
use crate::{
	attest::{self, BatchCommit, BatchReveal, SampleReport, Score},
	cli::engine::Engine,
	BatchPhase, BlobOf, Client, Signer,
};
use mnemo_primitives::{
	batch::MAX_LEAF_SHARES,
	engine::AttributionResponse,
	BatchId, ContributionId,
};
use polkadot_sdk::{
	sp_core::{sr25519, Pair as _},
	sp_runtime::Perbill,
};
use serde_json::{json, Value};
use std::{
	collections::BTreeMap,
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc,
	},
	time::{Duration, Instant},
};

/// The second honest attestor (its key is in the node's keystore too).
pub const HONEST: &str = "//Grace";
/// The attestor that reports wrong scores (its key is only here).
pub const DISHONEST: &str = "//Mallory";

/// What Mallory did about one batch.
struct Kept {
	reports: Vec<SampleReport>,
	salt: [u8; 32],
	/// What the engine's answers would have reported.
	honest: Vec<Vec<Score>>,
	commit: Vec<u8>,
	committed: Option<Instant>,
	revealed: Option<Instant>,
	errors: Vec<String>,
}

fn pct(s: &[Score]) -> String {
	if s.is_empty() {
		return "nothing".into();
	}
	s.iter().map(|(c, p)| format!("#{c} {:.2}%", p.deconstruct() as f64 / 1e7)).collect::<Vec<_>>().join(", ")
}

/// Mallory's reports on `batch`: each sampled receipt recomputed by the engine, its scores
/// replaced by the whole answer credited to `favoured`; and the honest scores.
fn reports(client: &Client, engine: &Engine, id: BatchId, favoured: ContributionId) -> R<(Vec<SampleReport>, Vec<Vec<Score>>)> {
	let b = client.batch(id).map_err(|e| e.to_string())?.ok_or(format!("batch {id} is gone"))?;
	let bytes = engine.get_blob(&b.header.blob.0).map_err(|e| format!("batch {id}: {}", e.human()))?;
	let blob = <BlobOf as codec::Decode>::decode(&mut &bytes[..]).map_err(|e| format!("batch {id}: its blob: {e}"))?;
	let top_k = client.batch_terms().map_err(|e| e.to_string())?.top_k.min(MAX_LEAF_SHARES);
	let (mut reports, mut honest) = (Vec::new(), Vec::new());
	for i in &b.sample {
		let leaf = blob.leaves.get(*i as usize).ok_or(format!("batch {id} has no leaf {i}"))?;
		let facts = client.adapter_facts(leaf.voucher.adapter).map_err(|e| e.to_string())?.ok_or("the adapter has no facts")?;
		let request = serde_json::to_value(facts.request(u64::from(*i), leaf.transcript, top_k)).map_err(|e| e.to_string())?;
		let answer = engine.attribute(&request).map_err(|e| format!("batch {id} leaf {i}: the engine: {}", e.human()))?;
		let answer: AttributionResponse = serde_json::from_value(answer).map_err(|e| format!("batch {id} leaf {i}: the engine's answer: {e}"))?;
		honest.push(answer.scores(top_k as usize).unwrap_or_default());
		reports.push(SampleReport { tokens: answer.tokens, digest: answer.digest, scores: vec![(favoured, Perbill::one())] });
	}
	Ok((reports, honest))
}

/// Runs Mallory until `stop`, polling every 500 ms; returns what it reported per batch.
pub fn run(http: String, engine_url: String, favoured: ContributionId, stop: Arc<AtomicBool>) -> R<Value> {
	let client = Client::connect(&http).map_err(|e| e.to_string())?;
	let key = Signer::from_suri(DISHONEST).map_err(|e| e.to_string())?;
	let who = key.account();
	let engine = Engine::new(&engine_url, Duration::from_secs(300));
	let mut kept: BTreeMap<BatchId, Kept> = BTreeMap::new();
	let retry = Duration::from_secs(6);
	while !stop.load(Ordering::Relaxed) {
		for id in client.panels(&who).map_err(|e| e.to_string())? {
			let Some(b) = client.batch(id).map_err(|e| e.to_string())? else { continue };
			let on_chain = client.batch_report(id, &who).map_err(|e| e.to_string())?;
			match b.phase {
				BatchPhase::Commit { .. } if on_chain.is_none() => {
					if !kept.contains_key(&id) {
						let (reports, honest) = reports(&client, &engine, id, favoured)?;
						// A fresh secret from the OS's randomness.
						let (_, salt) = sr25519::Pair::generate();
						let commitment = attest::batch_commitment(id, &who, &reports, attest::BatchAudit::AddsUp, &salt);
						let commit = BatchCommit { batch: id, key: who.clone().into(), commitment };
						let call = attest::commit_batch_report_call(&commit, &key);
						kept.insert(id, Kept {
							reports,
							salt,
							honest,
							commit: client.authorized_extrinsic(&call),
							committed: None,
							revealed: None,
							errors: Vec::new(),
						});
					}
					let Some(k) = kept.get_mut(&id) else { continue };
					if k.committed.is_none_or(|t| t.elapsed() > retry) {
						k.committed = Some(Instant::now());
						if let Err(e) = client.submit_extrinsic(&k.commit) {
							k.errors.push(format!("commit: {e}"));
						}
					}
				},
				BatchPhase::Reveal { .. } if on_chain.as_ref().is_some_and(|r| r.revealed.is_none()) => {
					let Some(k) = kept.get_mut(&id) else { continue };
					if k.revealed.is_none_or(|t| t.elapsed() > retry) {
						k.revealed = Some(Instant::now());
						let reveal = BatchReveal { batch: id, key: who.clone().into(), reports: k.reports.clone(), audit: attest::BatchAudit::AddsUp, salt: k.salt };
						let ext = client.authorized_extrinsic(&attest::reveal_batch_report_call(&reveal, &key));
						if let Err(e) = client.submit_extrinsic(&ext) {
							k.errors.push(format!("reveal: {e}"));
						}
					}
				},
				_ => {},
			}
		}
		std::thread::sleep(Duration::from_millis(500));
	}
	Ok(json!(kept
		.iter()
		.map(|(id, k)| json!({"batch": id, "reported": k.reports.iter().map(|r| pct(&r.scores)).collect::<Vec<_>>(),
			"engine": k.honest.iter().map(|s| pct(s)).collect::<Vec<_>>(),
			"committed": k.committed.is_some(), "revealed": k.revealed.is_some(), "pool_errors": k.errors}))
		.collect::<Vec<_>>()))
}

//! The fault of an attestor that reports wrong scores. `//Mallory` registers as an attestor
//! like the honest ones, and for each receipt it is assigned it asks the engine for the
//! attribution as they do (so it reports the right digest), then commits to and reveals other
//! scores: the whole answer credited to one contribution, as if it colluded with that
//! contributor. It runs outside the node, on `mnemo_client::attest`: the same commit-reveal
//! calls, signed by its attestor key and submitted as authorized transactions, as the node's
//! worker makes them. The chain must strike it (`Deviation`) and settle on the honest majority.

use super::{attribution_request, R};
use crate::{
	attest::{self, Commit, Phase, Reveal, Score},
	cli::engine::Engine,
	Client, Signer,
};
use mnemo_primitives::{
	engine::{fraction_to_perbill, AttributionResponse},
	ContentHash, ContributionId, ReceiptId,
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

/// What Mallory did about one receipt.
struct Kept {
	digest: ContentHash,
	reported: Vec<Score>,
	salt: [u8; 32],
	/// What the engine's answer would have reported.
	honest: Vec<Score>,
	commit: Vec<u8>,
	committed: Option<Instant>,
	revealed: Option<Instant>,
	errors: Vec<String>,
}

/// The engine's answer as a worker reports it: rounded to `Perbill`, zeros dropped, ascending.
fn engine_scores(a: &AttributionResponse) -> Vec<Score> {
	let mut s: Vec<Score> = a
		.contributions
		.iter()
		.filter_map(|c| Some((c.contribution, fraction_to_perbill(c.score)?)))
		.filter(|(_, p)| !p.is_zero())
		.collect();
	s.sort_by_key(|(c, _)| *c);
	s
}

fn pct(s: &[Score]) -> String {
	if s.is_empty() {
		return "nothing".into();
	}
	s.iter()
		.map(|(c, p)| format!("#{c} {:.2}%", p.deconstruct() as f64 / 1e7))
		.collect::<Vec<_>>()
		.join(", ")
}

/// Runs Mallory until `stop`, polling every 500 ms; returns what it reported per receipt.
pub fn run(
	http: String,
	engine_url: String,
	facts: Value,
	favoured: ContributionId,
	stop: Arc<AtomicBool>,
) -> R<Value> {
	let client = Client::connect(&http).map_err(|e| e.to_string())?;
	let key = Signer::from_suri(DISHONEST).map_err(|e| e.to_string())?;
	let who = key.account();
	let engine = Engine::new(&engine_url, Duration::from_secs(300));
	let mut kept: BTreeMap<ReceiptId, Kept> = BTreeMap::new();
	let retry = Duration::from_secs(6);
	while !stop.load(Ordering::Relaxed) {
		for id in client.assignments(&who).map_err(|e| e.to_string())? {
			let Some(r) = client.receipt(id).map_err(|e| e.to_string())? else {
				continue;
			};
			let on_chain = client.report(id, &who).map_err(|e| e.to_string())?;
			match r.phase {
				Phase::Commit { .. } if on_chain.is_none() => {
					let k = match kept.entry(id) {
						std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
						std::collections::btree_map::Entry::Vacant(v) => {
							let request = attribution_request(
								&facts,
								&json!(id),
								&json!(r.transcript),
								&super::data_refs(&facts),
							);
							let answer = engine
								.attribute(&request)
								.map_err(|e| format!("receipt {id}: the engine: {}", e.human()))?;
							let answer: AttributionResponse = serde_json::from_value(answer)
								.map_err(|e| format!("receipt {id}: the engine's answer: {e}"))?;
							let reported = vec![(favoured, Perbill::one())];
							// A fresh secret from the OS's randomness.
							let (_, salt) = sr25519::Pair::generate();
							let commitment =
								attest::commitment(id, &who, &answer.digest, &reported, &salt);
							let commit = Commit {
								receipt: id,
								key: who.clone().into(),
								commitment,
							};
							let call = attest::commit_report_call(&commit, &key);
							v.insert(Kept {
								digest: answer.digest,
								honest: engine_scores(&answer),
								reported,
								salt,
								commit: client.authorized_extrinsic(&call),
								committed: None,
								revealed: None,
								errors: Vec::new(),
							})
						}
					};
					if k.committed.is_none_or(|t| t.elapsed() > retry) {
						k.committed = Some(Instant::now());
						if let Err(e) = client.submit_extrinsic(&k.commit) {
							k.errors.push(format!("commit: {e}"));
						}
					}
				}
				Phase::Reveal { .. }
					if on_chain.as_ref().is_some_and(|rep| rep.revealed.is_none()) =>
				{
					let Some(k) = kept.get_mut(&id) else { continue };
					if k.revealed.is_none_or(|t| t.elapsed() > retry) {
						k.revealed = Some(Instant::now());
						let reveal = Reveal {
							receipt: id,
							key: who.clone().into(),
							digest: k.digest,
							scores: k.reported.clone(),
							salt: k.salt,
						};
						let ext =
							client.authorized_extrinsic(&attest::reveal_report_call(&reveal, &key));
						if let Err(e) = client.submit_extrinsic(&ext) {
							k.errors.push(format!("reveal: {e}"));
						}
					}
				}
				_ => {}
			}
		}
		std::thread::sleep(Duration::from_millis(500));
	}
	Ok(json!(kept
		.iter()
		.map(|(id, k)| json!({"receipt": id, "digest": k.digest, "reported": pct(&k.reported), "engine": pct(&k.honest),
			"committed": k.committed.is_some(), "revealed": k.revealed.is_some(), "pool_errors": k.errors}))
		.collect::<Vec<_>>()))
}

//! `mnemo-load`: a load test of paid inference. Against a running node and a serving engine
//! (the ones `scripts/load` starts through the demo), it funds a set of payer accounts, opens a
//! payment channel from each to the engine's operator, and sends `--requests` paid chat requests
//! with one voucher each, one request in flight per payer (a `503`, the engine's backpressure, is
//! waited out and the request sent again under a voucher signed afresh; counted as
//! `backpressure_503`). Then it waits for the engine's batches
//! to land and settle, and reads the chain back with the same client any payer uses:
//!
//! - **served**: requests the engine answered `200` (each acknowledged one must reach a batch);
//! - **settled** / **refunded**: receipts in batches that settled / were refunded;
//! - **blocks**: from the block the first batch was submitted in to the one the last ended in,
//!   and **peak_settled_per_block**: the most receipts settled in one block;
//! - **conserved**: every unit accounted for — each settled batch's fees equal its leaves' fees
//!   and its payouts plus the attestors' part; the running payouts grew by exactly the batches'
//!   payouts; the operator's payout book by the same; each payer's channel was charged exactly
//!   the fees of its receipts (read from the batches' blobs, each proven against the batch's
//!   root), the chain's spend totals agree, and each served request is in exactly one batch.
//!
//! It exits non-zero unless everything served settled and was conserved. `--json` ends the output
//! with one JSON object of the figures.

use crate::{
	cli::engine::Engine,
	BatchPhase, BlobOf, Client, SignedVoucher, Signer, VoucherOf,
};
use clap::Parser;
use mnemo_primitives::{inference_fee, AccountId, AdapterId, Balance, BatchId, BlockNumber, ContentHash};
use serde_json::{json, Value};
use std::{
	collections::{BTreeMap, BTreeSet},
	sync::{
		atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering},
		Mutex,
	},
	time::{Duration, Instant},
};

const UNIT: Balance = 1_000_000_000_000;

#[derive(Parser, Debug)]
#[command(name = "mnemo-load", about = "Drives paid inferences through a serving engine and checks on chain that every one settled and every unit is accounted for.")]
pub struct Opts {
	/// The node (HTTP or WebSocket RPC).
	#[arg(long, env = "MNEMO_URL", default_value = "http://127.0.0.1:9944")]
	pub url: String,
	/// The serving engine.
	#[arg(long, env = "MNEMO_ENGINE", default_value = "http://127.0.0.1:8844")]
	pub engine: String,
	/// The metered deployment to ask (its name on the engine).
	#[arg(long, default_value = "shakespeare")]
	pub model: String,
	/// How many paid requests.
	#[arg(long, default_value_t = 50_000)]
	pub requests: usize,
	/// How many payers (one request in flight each; at most 256, the payers one batch charges).
	#[arg(long, default_value_t = 16)]
	pub payers: usize,
	/// Answer tokens per request.
	#[arg(long, default_value_t = 1)]
	pub max_tokens: u32,
	/// The funded account that pays the payers' deposits.
	#[arg(long, default_value = "//Alice")]
	pub funder: String,
	/// Names this run's payers (`//Load//SEED//i`) and picks its prompts: a run with a new seed
	/// has fresh payers on the same chain.
	#[arg(long, default_value_t = 1)]
	pub seed: u64,
	/// Seconds to wait for the last batch to settle.
	#[arg(long, default_value_t = 1800)]
	pub settle_timeout: u64,
	/// End the output with one JSON object of the figures.
	#[arg(long)]
	pub json: bool,
}

type R<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
	e.to_string()
}

/// Runs the load test; the process exit code.
pub fn main() -> i32 {
	let o = Opts::parse();
	match run(&o) {
		Ok(figures) => {
			let ok = figures["conserved"] == true && figures["settled"] == figures["served"];
			if o.json {
				println!("{figures}");
			}
			if !ok {
				eprintln!("mnemo-load: not every served inference settled with every unit accounted for (see above)");
			}
			i32::from(!ok)
		},
		Err(e) => {
			eprintln!("mnemo-load: {e}");
			2
		},
	}
}

/// What the run found out about the deployment and the chain before the load.
struct Setup {
	adapter: AdapterId,
	operator: AccountId,
	price: Balance,
	min_fee: Balance,
	lifetime: BlockNumber,
}

fn setup(o: &Opts, client: &Client, engine: &Engine) -> R<Setup> {
	let models = engine.models().map_err(|e| e.human())?;
	let m = models["data"]
		.as_array()
		.into_iter()
		.flatten()
		.find(|m| m["id"] == o.model.as_str())
		.ok_or_else(|| format!("the engine at {} serves no `{}`", o.engine, o.model))?;
	let adapter = m["mnemo"]["chain_adapter"].as_u64().ok_or_else(|| format!("`{}` is not metered (no adapter on chain)", o.model))? as AdapterId;
	let price: Balance = m["mnemo"]["price_per_1k"].as_str().and_then(|p| p.parse().ok()).ok_or("the engine gives no price")?;
	let operator = models["mnemo"]["metering"]["operator"]
		.as_str()
		.and_then(|h| crate::parse_account(&format!("0x{h}")))
		.ok_or("the engine does not meter (no operator)")?;
	let params = client.attribution_params().map_err(err)?.ok_or("the chain has no attribution parameters")?;
	Ok(Setup { adapter, operator, price, min_fee: params.min_fee, lifetime: params.max_voucher_lifetime.min(600) })
}

/// Submits `calls` (signer, call) at consecutive nonces per signer, then waits for all of them.
fn submit_all(client: &Client, calls: &[(&Signer, Vec<u8>)]) -> R<()> {
	let mut nonces: BTreeMap<AccountId, u32> = BTreeMap::new();
	let mut last: BTreeMap<AccountId, u32> = BTreeMap::new();
	for (signer, call) in calls {
		let who = signer.account();
		let nonce = match nonces.get(&who) {
			Some(n) => *n,
			None => client.next_nonce(&who).map_err(err)?,
		};
		client.submit_extrinsic(&client.extrinsic(signer, call, nonce)).map_err(|e| format!("submitting for {who}: {e}"))?;
		nonces.insert(who.clone(), nonce + 1);
		last.insert(who, nonce);
	}
	for (who, n) in last {
		client.wait_nonce(&who, n, Duration::from_secs(120)).map_err(err)?;
	}
	// And one block more: the node's transaction pool validates against its own view of the best
	// block, which follows the import by a moment. Calls that depend on these (a channel opened
	// with the balance just transferred) were refused as unpayable in that moment (seen at
	// 6-second blocks).
	let seen = client.best_number().map_err(err)?;
	let start = Instant::now();
	while client.best_number().map_err(err)? <= seen {
		if start.elapsed() > Duration::from_secs(120) {
			return Err(format!("no block after #{seen} in 120 s"));
		}
		std::thread::sleep(Duration::from_millis(250));
	}
	Ok(())
}

/// One payer as the load drives it.
struct Payer {
	signer: Signer,
	channel: u64,
	/// Requests the engine answered: request id → the most its voucher allowed.
	served: BTreeMap<[u8; 16], Balance>,
}

/// What the drive saw.
#[derive(Default)]
struct Drive {
	errors: BTreeMap<String, usize>,
	/// 503 answers waited out and sent again, and the first one's message.
	backpressure: usize,
	backpressure_example: String,
	latencies_ms: Vec<f64>,
	seconds: f64,
}

/// The prompts: lines to go on from, picked by the seed.
const PROMPTS: [&str; 6] = [
	"Go on: To be, or not to be",
	"Go on: Now is the winter of our discontent",
	"Go on: All the world's a stage",
	"Go on: Shall I compare thee to a summer's day?",
	"Go on: Friends, Romans, countrymen",
	"Go on: Double, double toil and trouble",
];

fn request_id(seed: u64, i: usize) -> [u8; 16] {
	polkadot_sdk::sp_crypto_hashing::blake2_128(&codec::Encode::encode(&(b"mnemo-load", seed, i as u64)))
}

/// Sends the requests, `payers.len()` at a time: each payer signs its next voucher on its
/// channel (numbered and cumulative) and waits for the answer before the next.
fn drive(o: &Opts, s: &Setup, genesis: polkadot_sdk::sp_core::H256, client: &Client, payers: &mut [Payer]) -> R<Drive> {
	let next = AtomicUsize::new(0);
	let best = AtomicU32::new(client.best_number().map_err(err)?);
	let stop = AtomicBool::new(false);
	let out = Mutex::new(Drive::default());
	let agent: ureq::Agent = ureq::Agent::config_builder()
		.timeout_global(Some(Duration::from_secs(120)))
		.http_status_as_error(false)
		.build()
		.into();
	let url = format!("{}/v1/chat/completions", o.engine.trim_end_matches('/'));
	let started = Instant::now();
	let done = AtomicUsize::new(0);
	std::thread::scope(|sc| {
		// The best block, for the vouchers' expiry.
		sc.spawn(|| {
			while !stop.load(Ordering::Relaxed) {
				if let Ok(n) = client.best_number() {
					best.store(n, Ordering::Relaxed);
				}
				std::thread::sleep(Duration::from_millis(500));
			}
		});
		// Progress, every 10 s.
		sc.spawn(|| {
			let mut last = Instant::now();
			while !stop.load(Ordering::Relaxed) {
				std::thread::sleep(Duration::from_millis(200));
				if last.elapsed() >= Duration::from_secs(10) {
					last = Instant::now();
					let n = done.load(Ordering::Relaxed);
					eprintln!("   {n} of {} requests answered ({:.0}/s)", o.requests, n as f64 / started.elapsed().as_secs_f64());
				}
			}
		});
		let workers: Vec<_> = payers
			.iter_mut()
			.map(|p| {
				let (next, best, out, agent, url, done) = (&next, &best, &out, &agent, &url, &done);
				sc.spawn(move || {
					let (mut seq, mut cumulative) = (0u64, 0 as Balance);
					loop {
						let i = next.fetch_add(1, Ordering::Relaxed);
						if i >= o.requests {
							return;
						}
						let prompt = format!("{} ({i})", PROMPTS[(o.seed as usize + i) % PROMPTS.len()]);
						// As the CLI does: the prompt's bytes bound its tokens, the chat
						// template adds up to 256.
						let max_tokens = o.max_tokens + prompt.len() as u32 + 256;
						let cost = inference_fee(s.price, max_tokens, s.min_fee);
						let body = json!({"model": o.model, "messages": [{"role": "user", "content": prompt}],
							"max_tokens": o.max_tokens, "temperature": 0.0});
						// A 503 is the engine's backpressure (busy, or a settlement backlog its
						// voucher would not outlive): wait as it asks and send the request again,
						// with a voucher signed afresh against the newer best block.
						let status = loop {
							let v = VoucherOf {
								request: request_id(o.seed, i),
								operator: s.operator.clone(),
								adapter: s.adapter,
								max_price_per_1k: s.price,
								max_tokens,
								channel: p.channel,
								seq: seq + 1,
								cumulative: cumulative + cost,
								// A few blocks short of the longest the chain takes: the engine's
								// view of the best block may be a block or two behind this one.
								expires_at: best.load(Ordering::Relaxed) + s.lifetime - (s.lifetime / 10).min(10),
								genesis,
							};
							let header = SignedVoucher::sign(&p.signer, v.clone()).to_header();
							let t = Instant::now();
							let answer = agent
								.post(url.as_str())
								.header("content-type", "application/json")
								.header(crate::voucher::HEADER, &header)
								.send(body.to_string());
							let ms = t.elapsed().as_secs_f64() * 1e3;
							match answer {
								Ok(mut r) => {
									let status = r.status().as_u16();
									if status == 200 {
										seq += 1;
										cumulative += cost;
										p.served.insert(v.request, cost);
										let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
										o.latencies_ms.push(ms);
										break None;
									}
									let text = r.body_mut().read_to_string().unwrap_or_default();
									if status == 503 {
										let wait = r.headers().get("retry-after").and_then(|h| h.to_str().ok()?.parse::<u64>().ok()).unwrap_or(1);
										let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
										o.backpressure += 1;
										if o.backpressure_example.is_empty() {
											o.backpressure_example = text.chars().take(300).collect();
										}
										drop(o);
										std::thread::sleep(Duration::from_secs(wait.clamp(1, 30)));
										continue;
									}
									break Some(format!("{status}: {}", text.chars().take(200).collect::<String>()));
								},
								Err(e) => break Some(format!("unreachable: {e}")),
							}
						};
						done.fetch_add(1, Ordering::Relaxed);
						if let Some(e) = status {
							*out.lock().unwrap_or_else(|e| e.into_inner()).errors.entry(e).or_default() += 1;
						}
					}
				})
			})
			.collect();
		for w in workers {
			let _ = w.join();
		}
		stop.store(true, Ordering::Relaxed);
	});
	let mut d = out.into_inner().unwrap_or_else(|e| e.into_inner());
	d.seconds = started.elapsed().as_secs_f64();
	Ok(d)
}

/// A batch of the operator's, as the load follows it.
struct Followed {
	fees: Balance,
	submitted_at: BlockNumber,
	header: crate::BatchHeader,
	/// How it ended: settled (`true`) or refunded, and at which block.
	ended: Option<(bool, BlockNumber)>,
}

/// Reads the operator's batches numbered `from..` once: each one not seen to end yet, again.
/// The load follows them while it drives, not only after: a batch that ended early is pruned
/// from the chain's state `BatchRetention` blocks later, which a long run outlasts.
fn follow(client: &Client, operator: &AccountId, from: BatchId, batches: &mut BTreeMap<BatchId, Followed>) -> R<()> {
	let next = client.next_batch().map_err(err)?;
	for id in from..next {
		if batches.get(&id).is_some_and(|b| b.ended.is_some()) {
			continue;
		}
		match client.batch(id).map_err(err)? {
			Some(b) if b.operator == *operator => {
				let ended = match b.phase {
					BatchPhase::Settled { at } => Some((true, at)),
					BatchPhase::Refunded { at, .. } => Some((false, at)),
					_ => None,
				};
				batches.insert(id, Followed { fees: b.fees, submitted_at: b.submitted_at, header: b.header, ended });
			},
			Some(_) => {},
			None if batches.contains_key(&id) =>
				return Err(format!("batch {id} left the chain's state before the load saw how it ended: raise the chain's retention")),
			None => {},
		}
	}
	Ok(())
}

/// Follows the operator's batches (`batches`, as followed while driving) until the ones
/// carrying every served request ended (or `limit` passed).
fn settle(
	client: &Client,
	operator: &AccountId,
	from: BatchId,
	mut batches: BTreeMap<BatchId, Followed>,
	served: usize,
	limit: Duration,
) -> R<BTreeMap<BatchId, Followed>> {
	let start = Instant::now();
	let mut last_note = Instant::now();
	loop {
		follow(client, operator, from, &mut batches)?;
		let recorded: u64 = batches.values().map(|b| u64::from(b.header.leaves)).sum();
		let open = batches.values().filter(|b| b.ended.is_none()).count();
		if recorded >= served as u64 && open == 0 {
			return Ok(batches);
		}
		if start.elapsed() > limit {
			eprintln!("   gave up after {} s: {recorded} of {served} receipts in batches, {open} batch(es) not ended", limit.as_secs());
			return Ok(batches);
		}
		if last_note.elapsed() >= Duration::from_secs(10) {
			last_note = Instant::now();
			let settled: u64 = batches.values().filter(|b| matches!(b.ended, Some((true, _)))).map(|b| u64::from(b.header.leaves)).sum();
			eprintln!("   {recorded} of {served} receipts in {} batch(es), {settled} settled, {open} batch(es) in flight", batches.len());
		}
		std::thread::sleep(Duration::from_secs(1));
	}
}

fn total_payouts(blob: &BlobOf) -> Balance {
	blob.payouts.iter().map(|p| p.amount).sum()
}

fn fetch_blob(engine: &Engine, hash: &ContentHash) -> R<BlobOf> {
	crate::cli::receipts::fetch_blob(engine, hash).map_err(|e| e.human())
}

fn run(o: &Opts) -> R<Value> {
	if o.payers == 0 || o.payers > 256 {
		return Err("--payers must be 1 to 256 (one batch charges at most 256 payers)".into());
	}
	if o.requests == 0 {
		return Err("--requests must be at least 1".into());
	}
	let t0 = Instant::now();
	let client = Client::connect(&o.url).map_err(|e| format!("cannot reach the node at {}: {e}", o.url))?;
	let engine = Engine::new(&o.engine, Duration::from_secs(60));
	let s = setup(o, &client, &engine)?;
	let funder = Signer::from_suri(&o.funder).map_err(err)?;

	// Payers, funded, each with a channel deep enough for its share of the requests.
	let per_payer = o.requests.div_ceil(o.payers);
	let worst = inference_fee(s.price, o.max_tokens + 64 + 256, s.min_fee);
	let deposit = worst.saturating_mul(per_payer as Balance);
	let signers: Vec<Signer> =
		(0..o.payers).map(|i| Signer::from_suri(&format!("//Load//{}//{i}", o.seed))).collect::<Result<_, _>>().map_err(err)?;
	eprintln!(
		"==> {} payers, {} requests ({per_payer} each, one in flight per payer), at most {} each: {} deposited per channel to operator {}",
		o.payers, o.requests, crate::demo::fmt_mnemo(worst), crate::demo::fmt_mnemo(deposit), s.operator
	);
	let transfers: Vec<(&Signer, Vec<u8>)> =
		signers.iter().map(|p| (&funder, Client::transfer_call(&p.account(), deposit + UNIT))).collect();
	submit_all(&client, &transfers)?;
	let opens: Vec<(&Signer, Vec<u8>)> = signers.iter().map(|p| (p, Client::open_channel_call(&s.operator, deposit))).collect();
	submit_all(&client, &opens)?;
	let mut payers = Vec::new();
	for signer in signers {
		let ch = client.channel(&signer.account(), &s.operator).map_err(err)?.ok_or_else(|| format!("{} has no channel after opening one", signer.account()))?;
		if ch.spent != 0 || ch.seq != 0 {
			return Err(format!("{}'s channel was used before (seq {}): run with another --seed", signer.account(), ch.seq));
		}
		payers.push(Payer { signer, channel: ch.id, served: BTreeMap::new() });
	}
	let from_batch = client.next_batch().map_err(err)?;
	// The batch the load's first batch extends (the operator's head before it): a run longer
	// than the chain's retention outlives its record and its payout root.
	let head_before = client.operator_head(&s.operator).map_err(err)?;
	let book_before = client.payout_book(&s.operator).map_err(err)?.map_or(0, |b| b.settled);
	let start_block = client.best_number().map_err(err)?;

	eprintln!("==> driving {} requests at `{}` ({} answer token(s) each)  [{:.0} s]", o.requests, o.model, o.max_tokens, t0.elapsed().as_secs_f64());
	// The batches are followed from the start, beside the requests.
	let followed = Mutex::new(BTreeMap::new());
	let driving = AtomicBool::new(true);
	let d = std::thread::scope(|sc| {
		let follower = sc.spawn(|| -> R<()> {
			while driving.load(Ordering::Relaxed) {
				follow(&client, &s.operator, from_batch, &mut followed.lock().unwrap_or_else(|p| p.into_inner()))?;
				std::thread::sleep(Duration::from_secs(2));
			}
			Ok(())
		});
		let d = drive(o, &s, client.genesis, &client, &mut payers);
		driving.store(false, Ordering::Relaxed);
		let followed = follower.join().unwrap_or_else(|_| Err("the thread following the batches panicked".into()));
		followed.and(d)
	})?;
	let followed = followed.into_inner().unwrap_or_else(|p| p.into_inner());
	let served: usize = payers.iter().map(|p| p.served.len()).sum();
	let end_block = client.best_number().map_err(err)?;
	let mut lat = d.latencies_ms.clone();
	lat.sort_by(f64::total_cmp);
	let pct = |q: f64| lat.get(((lat.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
	eprintln!(
		"   {served} served in {:.1} s ({:.1}/s; latency p50 {:.0} ms, p99 {:.0} ms) over blocks {start_block}..{end_block}; {} refused",
		d.seconds, served as f64 / d.seconds, pct(0.5), pct(0.99), d.errors.values().sum::<usize>()
	);
	if d.backpressure > 0 {
		eprintln!("   {} answers were 503 (waited out and sent again), e.g.: {}", d.backpressure, d.backpressure_example);
	}
	for (e, n) in d.errors.iter().take(5) {
		eprintln!("   {n} × {e}");
	}

	eprintln!("==> waiting for the batches to land, be sampled, checked and settled  [{:.0} s]", t0.elapsed().as_secs_f64());
	let batches = settle(&client, &s.operator, from_batch, followed, served, Duration::from_secs(o.settle_timeout))?;

	// A refunded batch's payers get their charges back a few a block after it ends: the
	// channels are read once they all have.
	let refunded_batches: Vec<BatchId> = batches.iter().filter(|(_, b)| matches!(b.ended, Some((false, _)))).map(|(id, _)| *id).collect();
	let until = Instant::now() + Duration::from_secs(o.settle_timeout);
	loop {
		let mut left = 0usize;
		for id in &refunded_batches {
			left += usize::from(client.refund_left(*id).map_err(err)?.is_some());
		}
		if left == 0 {
			break;
		}
		if Instant::now() > until {
			return Err(format!("{left} refunded batch(es) still giving their payers' charges back after the settle timeout"));
		}
		std::thread::sleep(Duration::from_secs(2));
	}

	eprintln!("==> reading the chain back: batches, blobs, channels, spend logs  [{:.0} s]", t0.elapsed().as_secs_f64());
	let mut problems: Vec<String> = Vec::new();
	let (mut settled, mut refunded, mut per_block) = (0u64, 0u64, BTreeMap::<BlockNumber, u64>::new());
	let mut settled_payouts: Balance = 0;
	// Each blob's running total, kept for the batch that extends it (fetched once).
	let mut totals: BTreeMap<ContentHash, Balance> = BTreeMap::new();
	for (id, b) in &batches {
		match b.ended {
			Some((true, at)) => {
				settled += u64::from(b.header.leaves);
				*per_block.entry(at).or_default() += u64::from(b.header.leaves);
				settled_payouts += b.header.payouts_total;
				// The batch's own books: its fees are its leaves' fees, split into its payouts
				// and the attestors' part, and its running payouts grew by exactly its payouts.
				let blob = fetch_blob(&engine, &b.header.blob)?;
				let leaf_fees: Balance = blob.leaves.iter().map(|l| l.fee).sum();
				let prev_total = match b.header.prev {
					Some(prev) => {
						// The batch it extends: one of the load's, or the operator's last before.
						let blob_hash = match batches.get(&prev) {
							Some(p) => Some(p.header.blob),
							None if head_before.is_some_and(|h| h.batch == prev) => head_before.map(|h| h.blob),
							None => match client.batch(prev).map_err(err)? {
								Some(p) => Some(p.header.blob),
								// Pruned since: the payout book keeps its latest settled roots' blobs.
								None => client.payout_book(&s.operator).map_err(err)?.and_then(|book| book.roots.iter().find(|r| r.batch == prev).map(|r| r.blob)),
							},
						};
						match blob_hash {
							Some(h) => match totals.get(&h) {
								Some(t) => *t,
								None => total_payouts(&fetch_blob(&engine, &h)?),
							},
							None => {
								problems.push(format!("batch {id}: the batch it extends ({prev}) can no longer be found"));
								continue;
							},
						}
					},
					None => 0,
				};
				if leaf_fees != b.fees || b.fees != b.header.payouts_total + b.header.attestors_part {
					problems.push(format!(
						"batch {id}: leaves' fees {leaf_fees}, charged {}, payouts {} + attestors {}",
						b.fees, b.header.payouts_total, b.header.attestors_part
					));
				}
				let total = total_payouts(&blob);
				totals.insert(b.header.blob, total);
				if total != prev_total + b.header.payouts_total {
					problems.push(format!(
						"batch {id}: running payouts {total} after, {prev_total} before, but it adds {}",
						b.header.payouts_total
					));
				}
			},
			Some((false, _)) => refunded += u64::from(b.header.leaves),
			None => {},
		}
	}
	let book_after = client.payout_book(&s.operator).map_err(err)?.map_or(0, |b| b.settled);
	if book_after - book_before != settled_payouts {
		problems.push(format!("the operator's payout book grew by {} but its settled batches paid out {settled_payouts}", book_after - book_before));
	}
	// Each payer: its channel charged exactly its settled receipts' fees, each served request in
	// exactly one batch, never above what its voucher allowed.
	let mut charged_total: Balance = 0;
	for p in &payers {
		let who = p.signer.account();
		let entries = crate::cli::receipts::spend_entries(&o.url, &who, Some(start_block), None).map_err(|e| e.human())?;
		let (mut seen, mut fees): (BTreeSet<[u8; 16]>, Balance) = (BTreeSet::new(), 0);
		for e in &entries {
			let id = e["batch"].as_u64().unwrap_or(u64::MAX);
			let Some(b) = batches.get(&id) else {
				problems.push(format!("{who}: charged by batch {id}, which is not one of the load's"));
				continue;
			};
			let leaves = crate::cli::receipts::receipts_of(&engine, e, &who).map_err(|e| e.human())?;
			for (_, l) in leaves {
				let allowed = p.served.get(&l.voucher.request);
				if allowed.is_none_or(|a| l.fee > *a) || !seen.insert(l.voucher.request) {
					problems.push(format!("{who}: receipt {} was not served, is charged above its voucher, or is in two batches", hex::encode(l.voucher.request)));
				}
				if matches!(b.ended, Some((true, _))) {
					fees += l.fee;
				}
			}
		}
		if seen.len() != p.served.len() {
			problems.push(format!("{who}: {} requests served, {} in batches", p.served.len(), seen.len()));
		}
		let spent = client.channel(&who, &s.operator).map_err(err)?.map_or(0, |c| c.spent);
		let totals = client.spend_totals(&who).map_err(err)?;
		if spent != fees || totals.total != fees {
			problems.push(format!("{who}: its receipts' fees are {fees}; its channel was charged {spent}, its spend totals say {}", totals.total));
		}
		charged_total += spent;
	}
	let settled_fees: Balance = batches.values().filter(|b| matches!(b.ended, Some((true, _)))).map(|b| b.fees).sum();
	if charged_total != settled_fees {
		problems.push(format!("the payers' channels were charged {charged_total}, the settled batches' fees are {settled_fees}"));
	}
	if settled + refunded != served as u64 {
		problems.push(format!("{served} served, {settled} settled, {refunded} refunded: {} unaccounted for", served as i64 - (settled + refunded) as i64));
	}

	let first = batches.values().map(|b| b.submitted_at).min().unwrap_or(0);
	let last = batches.values().filter_map(|b| b.ended.map(|e| e.1)).max().unwrap_or(first);
	let blocks = if batches.is_empty() { 0 } else { last - first + 1 };
	let (peak_block, peak) = per_block.iter().max_by_key(|(_, n)| **n).map(|(b, n)| (*b, *n)).unwrap_or((0, 0));
	let conserved = problems.is_empty();
	for p in &problems {
		eprintln!("   ✗ {p}");
	}
	let figures = json!({
		"requests": o.requests, "payers": o.payers, "served": served, "refused": d.errors.values().sum::<usize>(),
		"backpressure_503": d.backpressure,
		"settled": settled, "refunded": refunded, "batches": batches.len(),
		"blocks": blocks, "first_block": first, "last_block": last,
		"peak_settled_per_block": peak, "peak_block": peak_block,
		"settled_per_block": if blocks > 0 { settled as f64 / f64::from(blocks) } else { 0.0 },
		"served_per_second": served as f64 / d.seconds, "drive_seconds": d.seconds,
		"latency_ms": {"p50": pct(0.5), "p99": pct(0.99)},
		"charged": charged_total.to_string(), "paid_out": settled_payouts.to_string(),
		"conserved": conserved, "problems": problems, "seconds": t0.elapsed().as_secs_f64(),
	});
	eprintln!(
		"==> {served} served, {settled} settled, {refunded} refunded in {} batches over {blocks} blocks (#{first}..#{last}); \
		 peak {peak} settled in block #{peak_block}; {} charged, conservation {}  [{:.0} s]",
		batches.len(), crate::demo::fmt_mnemo(charged_total), if conserved { "holds to the last unit" } else { "FAILED" }, t0.elapsed().as_secs_f64()
	);
	Ok(figures)
}

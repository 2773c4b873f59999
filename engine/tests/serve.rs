//! Serving: the batched heterogeneous forward pass against each request alone, the matmul count
//! of a mixed batch, continuous batching, and the adapter bank's LRU.

mod common;

use common::*;
use mnemo_engine::{
	model::generate::Sampling,
	home::Base,
	model::lora::{Lora, Target},
	model::{KvArena, KvCache, LowRank, SeqStep, ToHost},
	serve::{
		bank::{HostAdapter, LoraBank},
		Event, Finish, Job, MemorySource, ServeConfig, Server,
	},
};
use mnemo_primitives::ContentHash;
use std::{
	sync::{atomic::Ordering, Arc},
	time::{Duration, Instant},
};

/// An adapter on `base` with random, non-zero A and B.
fn random_adapter(base: &Base, rank: usize, targets: &[Target], seed: u64) -> Lora {
	// B's scale: enough that every adapter moves the tiny base's logits by well over 1e-2.
	mnemo_engine::bench::serve::random_adapter(base, rank, targets, seed, 0.2).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
	assert_eq!(a.len(), b.len());
	a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Stated tolerance: batched and alone logits agree to 1e-4 absolute (they are not bit-equal:
/// the matmul blocking depends on how many rows a product has).
const TOL: f32 = 1e-4;

#[test]
fn a_mixed_batch_gives_each_request_the_logits_it_gets_alone() {
	let base = tiny_base();
	let m = &base.model;
	let layers = m.config.layers;
	let adapters = [
		random_adapter(&base, 8, &[Target::Q, Target::V], 1),
		random_adapter(&base, 4, &[Target::Q, Target::K, Target::V, Target::O, Target::Gate, Target::Up, Target::Down], 2),
		random_adapter(&base, 2, &[Target::Down], 3),
	];
	let mut bank = LoraBank::new(&m.config, 8, &Target::ALL, LoraBank::slot_bytes(&m.config, 8, &Target::ALL) * 4, &device()).unwrap();
	let mut slots = Vec::new();
	for (i, a) in adapters.iter().enumerate() {
		let h = ContentHash::of(&[i as u8]);
		slots.push(bank.acquire(h, || Ok(HostAdapter::from_lora(h, a, layers))).unwrap().unwrap());
	}
	// Four requests of different lengths: three adapters and the base model.
	let prompts: Vec<Vec<u32>> = ["To be, or not to be", "Now is the winter", "A horse! a horse!", "Friends, Romans, countrymen, lend me"]
		.iter()
		.map(|p| base.tokenizer.encode(p).unwrap())
		.collect();
	let which: [Option<usize>; 4] = [Some(0), Some(1), None, Some(2)];
	let slot_of = |w: Option<usize>| w.map_or(0, |i| slots[i]);

	// Prefill: all rows' logits, teacher-forced.
	let mut arena = KvArena::new(&m.config, KvCache::bytes_per_position(&m.config) * 200, 200, &device()).unwrap();
	let mut spans: Vec<_> = prompts.iter().map(|p| arena.reserve(p.len() + 1).unwrap()).collect();
	let rows: Vec<usize> = prompts.iter().zip(which).flat_map(|(p, w)| std::iter::repeat_n(slot_of(w), p.len())).collect();
	let batched = {
		let mut seqs: Vec<SeqStep> = prompts.iter().zip(spans.iter_mut()).map(|(p, c)| SeqStep { tokens: p, span: c }).collect();
		let lr = bank.batch(&rows);
		assert_eq!(lr.shape(), (4, 0), "each prompt is a segment multiplied by its own slot's matrices");
		m.logits_ragged(&mut arena.cache, &mut seqs, Some(&lr as &dyn LowRank), false).to_host()
	};
	let v = m.config.vocab;
	let mut off = 0;
	let mut worst = 0f32;
	for (p, w) in prompts.iter().zip(which) {
		let alone = m.forward(&[p.clone()], w.map(|i| &adapters[i]), None).to_host();
		let d = max_abs_diff(&batched[off * v..(off + p.len()) * v], &alone);
		worst = worst.max(d);
		if let Some(i) = w {
			let plain = m.forward(&[p.clone()], None, None).to_host();
			assert!(max_abs_diff(&plain, &alone) > 1e-2, "adapter {i} changes the logits (the test can fail)");
		}
		off += p.len();
	}
	// One decode step for every request together, against the whole sequence alone.
	let next: Vec<Vec<u32>> = (0..4).map(|i| vec![(7 + 11 * i) as u32]).collect();
	let rows: Vec<usize> = which.iter().map(|w| slot_of(*w)).collect();
	m.base_matmuls.store(0, Ordering::Relaxed);
	let gathered_before = bank.stats.gathered_matmuls.load(Ordering::Relaxed);
	let step = {
		let mut seqs: Vec<SeqStep> = next.iter().zip(spans.iter_mut()).map(|(p, c)| SeqStep { tokens: p, span: c }).collect();
		let lr = bank.batch(&rows);
		assert_eq!(lr.shape(), (0, 1), "single decoding rows are gathered per row, in one block");
		m.logits_ragged(&mut arena.cache, &mut seqs, Some(&lr as &dyn LowRank), true).to_host()
	};
	assert_eq!(
		m.base_matmuls.load(Ordering::Relaxed),
		(layers * 7) as u64,
		"one base matmul per projection per layer for the whole mixed batch"
	);
	assert_eq!(
		bank.stats.gathered_matmuls.load(Ordering::Relaxed) - gathered_before,
		(layers * 7) as u64,
		"one gathered low-rank product per adapted projection per layer, not one per request"
	);
	for (i, w) in which.iter().enumerate() {
		let mut full = prompts[i].clone();
		full.extend(&next[i]);
		let alone = m.forward(&[full.clone()], w.map(|a| &adapters[a]), None).to_host();
		let last = &alone[(full.len() - 1) * v..];
		worst = worst.max(max_abs_diff(&step[i * v..(i + 1) * v], last));
	}
	println!("largest |batched − alone| logit difference: {worst:.2e} (tolerance {TOL:.0e})");
	assert!(worst <= TOL, "batched logits differ from alone by {worst}");
}

fn server(base: &Base, adapters: &[&Lora], config: ServeConfig) -> (Server, Vec<ContentHash>) {
	let mut mem = MemorySource::new(&base.model.config, &device());
	let hashes = adapters.iter().map(|a| mem.insert(a.to_safetensors().unwrap())).collect();
	let source = Arc::new(mem);
	let s = Server::start(Arc::new(base.model.clone_shared()), Arc::new(base.tokenizer.clone()), source, config).unwrap();
	(s, hashes)
}

fn job(prompt: Vec<u32>, adapter: Option<ContentHash>, max_tokens: usize) -> (Job, tokio::sync::mpsc::UnboundedReceiver<Event>) {
	let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
	let j = Job {
		prompt,
		adapter,
		sampling: Sampling { max_tokens, ..Default::default() },
		stop: vec![],
		ignore_eos: true,
		events: tx,
		on_finish: None,
	};
	(j, rx)
}

/// Blocks until the request's first token arrives (it is running, its prompt is in).
fn first_token(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) {
	match rx.blocking_recv().expect("the scheduler answers") {
		Event::Delta(_) => {},
		other => panic!("expected a token, got {other:?}"),
	}
}

/// Blocks until the request ends; returns its outcome and how many deltas came before.
fn finish(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> (mnemo_engine::serve::Outcome, usize) {
	let mut deltas = 0;
	loop {
		match rx.blocking_recv().expect("the scheduler answers") {
			Event::Delta(_) => deltas += 1,
			Event::Done(o) => return (o, deltas),
			Event::Failed(e) => panic!("request failed: {e}"),
		}
	}
}

#[test]
fn a_request_admitted_mid_decode_finishes_before_earlier_ones() {
	let base = tiny_base();
	let a = random_adapter(&base, 4, &[Target::Q, Target::V], 5);
	let b = random_adapter(&base, 4, &[Target::Q, Target::V], 6);
	let (s, h) = server(&base, &[&a, &b], ServeConfig::default());
	let prompt = base.tokenizer.encode("Once more unto the breach").unwrap();
	let (long, mut long_rx) = job(prompt.clone(), Some(h[0]), 120);
	s.submit(long).unwrap();
	// Wait until the long request is decoding.
	first_token(&mut long_rx);
	let (short, mut short_rx) = job(prompt.clone(), Some(h[1]), 4);
	s.submit(short).unwrap();
	let (o, _) = finish(&mut short_rx);
	assert_eq!((o.output_tokens, o.finish), (4, Finish::Length));
	assert!(s.stats.admitted_mid_batch.load(Ordering::Relaxed) >= 1, "the short request joined a running batch");
	// The long one is still running when the short one is done.
	assert!(s.stats.running.load(Ordering::Relaxed) >= 1 || long_rx.len() > 0);
	let (o, _) = finish(&mut long_rx);
	assert_eq!(o.output_tokens, 120);
	assert_eq!(s.stats.running.load(Ordering::Relaxed), 0);

	// Batched greedy decoding gives each request the text it gets alone.
	let alone = mnemo_engine::model::generate::generate_ids(
		&base.model,
		&base.tokenizer,
		&[prompt.clone()],
		Some(&b),
		&Sampling { max_tokens: 4, ..Default::default() },
	)
	.unwrap();
	let (together, _) = {
		let (j1, mut r1) = job(prompt.clone(), Some(h[0]), 8);
		let (j2, mut r2) = job(prompt.clone(), Some(h[1]), 4);
		s.submit(j1).unwrap();
		s.submit(j2).unwrap();
		let out = finish(&mut r2);
		finish(&mut r1);
		out
	};
	assert_eq!(together.text, base.tokenizer.decode(&alone[0]).unwrap());
}

#[test]
fn the_bank_evicts_the_least_recently_used_adapter_and_never_a_pinned_one() {
	let base = tiny_base();
	let layers = base.model.config.layers;
	let ads: Vec<Lora> = (0..3).map(|i| random_adapter(&base, 4, &[Target::Q, Target::V], 10 + i)).collect();
	let hs: Vec<ContentHash> = (0..3u8).map(|i| ContentHash::of(&[i])).collect();
	let qv = [Target::Q, Target::V];
	let slot = LoraBank::slot_bytes(&base.model.config, 4, &qv);
	let mut bank = LoraBank::new(&base.model.config, 4, &qv, slot * 2, &device()).unwrap();
	assert_eq!(bank.capacity(), 2);
	let load = |i: usize| {
		let (h, a) = (hs[i], &ads[i]);
		move || Ok(HostAdapter::from_lora(h, a, layers))
	};
	bank.acquire(hs[0], load(0)).unwrap().unwrap();
	bank.acquire(hs[1], load(1)).unwrap().unwrap();
	// Both pinned: the third must wait.
	assert_eq!(bank.acquire(hs[2], load(2)).unwrap(), None);
	bank.release(&hs[0]);
	bank.release(&hs[1]);
	bank.acquire(hs[1], load(1)).unwrap().unwrap(); // a hit: 1 is now the most recent
	bank.release(&hs[1]);
	bank.acquire(hs[2], load(2)).unwrap().unwrap();
	assert_eq!(bank.resident(), vec![hs[1], hs[2]], "adapter 0, least recently used, was evicted");
	assert_eq!(bank.stats.evictions.load(Ordering::Relaxed), 1);
	// A reused slot holds the new adapter exactly: its rows equal the adapter alone.
	let p = base.tokenizer.encode("My kingdom for a horse").unwrap();
	let mut arena = KvArena::new(&base.model.config, KvCache::bytes_per_position(&base.model.config) * 64, 64, &device()).unwrap();
	let mut span = arena.reserve(p.len()).unwrap();
	let slot2 = bank.acquire(hs[2], load(2)).unwrap().unwrap();
	let lr = bank.batch(&vec![slot2; p.len()]);
	let got = base
		.model
		.logits_ragged(&mut arena.cache, &mut [SeqStep { tokens: &p, span: &mut span }], Some(&lr as &dyn LowRank), false)
		.to_host();
	let want = base.model.forward(&[p.clone()], Some(&ads[2]), None).to_host();
	assert!(max_abs_diff(&got, &want) <= TOL);
	// An adapter wider than the bank is refused with a clear message.
	let wide = random_adapter(&base, 8, &[Target::Q], 99);
	bank.release(&hs[2]);
	let err = bank.acquire(ContentHash::of(b"wide"), || Ok(HostAdapter::from_lora(ContentHash::of(b"wide"), &wide, layers))).unwrap_err();
	assert!(err.to_string().contains("above this server's serving rank"), "{err}");
	// So is one of a projection the bank does not serve, and its slot is freed.
	let mlp = random_adapter(&base, 4, &[Target::Q, Target::Up], 98);
	let err = bank.acquire(ContentHash::of(b"mlp"), || Ok(HostAdapter::from_lora(ContentHash::of(b"mlp"), &mlp, layers))).unwrap_err();
	assert!(err.to_string().contains("adapts up_proj, which this server does not serve (it serves q_proj, v_proj)"), "{err}");
	assert!(!bank.reserved(&ContentHash::of(b"mlp")) && !bank.contains(&ContentHash::of(b"mlp")));

	// Through the scheduler: a budget of one slot, three adapters in turn.
	let config = ServeConfig { adapter_budget: slot, rank: 4, ..Default::default() };
	let (s, h) = server(&base, &[&ads[0], &ads[1], &ads[2]], config);
	for i in [0, 1, 2, 0] {
		let (j, mut rx) = job(p.clone(), Some(h[i]), 2);
		s.submit(j).unwrap();
		finish(&mut rx);
	}
	assert_eq!(s.stats.bank.loads.load(Ordering::Relaxed), 4, "every switch loads: the budget holds one");
	assert_eq!(s.stats.bank.evictions.load(Ordering::Relaxed), 3);
	assert_eq!(s.stats.resident_adapters.load(Ordering::Relaxed), 1);
}

#[test]
fn a_full_queue_refuses_and_a_gone_client_is_cancelled() {
	let base = tiny_base();
	let config = ServeConfig { max_batch: 1, max_queue: 1, ..Default::default() };
	let (s, _) = server(&base, &[], config);
	let p = base.tokenizer.encode("Is this a dagger").unwrap();
	let mut kept = Vec::new();
	let mut refused = 0;
	for _ in 0..4 {
		let (j, rx) = job(p.clone(), None, 150);
		match s.submit(j) {
			Ok(()) => kept.push(rx),
			Err(e) => {
				assert_eq!(e.status(), 429, "{e}");
				refused += 1;
			},
		}
	}
	assert!(refused >= 2, "one running and one waiting at most; {refused} refused");
	// The clients go away: their requests are cancelled, nothing keeps running.
	drop(kept);
	let start = Instant::now();
	while s.stats.running.load(Ordering::Relaxed) > 0 || s.stats.cancelled.load(Ordering::Relaxed) < 1 {
		assert!(start.elapsed() < Duration::from_secs(20), "requests of gone clients were not cancelled");
		std::thread::sleep(Duration::from_millis(20));
	}
	// Bad requests are refused before they queue.
	let (j, _rx) = job(vec![], None, 4);
	assert_eq!(s.submit(j).unwrap_err().status(), 400);
	let (j, _rx) = job(p.clone(), None, 10_000);
	assert!(s.submit(j).unwrap_err().to_string().contains("exceed the model's context"));
}

/// Catches head-of-line blocking: with the bank's one slot pinned by a long request, a request
/// for another adapter must wait, but one behind it that needs no adapter must not wait behind
/// it. The waiting one still runs, first, once the slot is released.
#[test]
fn a_request_waiting_for_a_slot_does_not_hold_up_those_behind_it() {
	let base = tiny_base();
	let a = random_adapter(&base, 4, &[Target::Q, Target::V], 7);
	let b = random_adapter(&base, 4, &[Target::Q, Target::V], 8);
	let one_slot = ServeConfig { rank: 4, adapter_budget: LoraBank::slot_bytes(&base.model.config, 4, &[Target::Q, Target::V]), ..ServeConfig::default() };
	let (s, h) = server(&base, &[&a, &b], one_slot);
	let prompt = base.tokenizer.encode("Once more unto the breach").unwrap();
	let (long, mut long_rx) = job(prompt.clone(), Some(h[0]), 220);
	s.submit(long).unwrap();
	first_token(&mut long_rx);
	let (blocked, mut blocked_rx) = job(prompt.clone(), Some(h[1]), 4);
	s.submit(blocked).unwrap();
	// Let the loader read the second adapter: only then is that request ready and asks the bank
	// for a slot (before, it is passed over anyway, and the test would prove nothing).
	std::thread::sleep(Duration::from_millis(50));
	assert!(long_rx.len() < 150, "the long request is still decoding ({} tokens out)", long_rx.len());
	let (plain, mut plain_rx) = job(prompt.clone(), None, 4);
	s.submit(plain).unwrap();
	let (o, _) = finish(&mut plain_rx);
	assert_eq!((o.output_tokens, o.finish), (4, Finish::Length));
	// The base-model request finished while the long one still holds the only slot, and the
	// one needing another adapter is still waiting for it.
	assert_eq!(s.stats.running.load(Ordering::Relaxed), 1, "only the long request runs");
	assert!(blocked_rx.is_empty(), "the request for the second adapter has not started: the slot is pinned");
	let (o, _) = finish(&mut long_rx);
	assert_eq!(o.output_tokens, 220);
	let (o, _) = finish(&mut blocked_rx);
	assert_eq!((o.output_tokens, o.finish), (4, Finish::Length));
}

/// Chunked prefill: with a step budget of 8 tokens, a 100-token prompt goes in over a dozen
/// steps, and the request decoding beside it gets a token at every one of them instead of
/// waiting for the whole prompt; the chunked request's text is the text it gets alone.
#[test]
fn a_long_prompt_is_fed_in_chunks_while_others_keep_decoding() {
	let base = tiny_base();
	let a = random_adapter(&base, 4, &[Target::Q, Target::V], 21);
	let config = ServeConfig { step_tokens: 8, ..ServeConfig::default() };
	let (s, h) = server(&base, &[&a], config);
	let short = base.tokenizer.encode("Now is the winter").unwrap();
	let (d, mut d_rx) = job(short, None, 120);
	s.submit(d).unwrap();
	first_token(&mut d_rx);
	let long: Vec<u32> = base.tokenizer.encode(&"Friends, Romans, countrymen, lend me your ears; ".repeat(3)).unwrap()[..100].to_vec();
	let before = d_rx.len();
	let chunks_before = s.stats.prefill_chunks.load(Ordering::Relaxed);
	let (l, mut l_rx) = job(long.clone(), Some(h[0]), 4);
	s.submit(l).unwrap();
	first_token(&mut l_rx);
	let decoded_meanwhile = d_rx.len() - before;
	let chunks = s.stats.prefill_chunks.load(Ordering::Relaxed) - chunks_before;
	// Beside one decoding request, each step has 7 tokens for the prompt: 100 / 7 → 15 chunks.
	assert_eq!(chunks, 15, "the prompt went in 7 tokens at a time");
	assert!(decoded_meanwhile >= 14, "the decoding request got {decoded_meanwhile} tokens during the prompt's 15 steps");
	let (o, _) = finish(&mut l_rx);
	let alone = mnemo_engine::model::generate::generate_ids(
		&base.model,
		&base.tokenizer,
		&[long],
		Some(&a),
		&Sampling { max_tokens: 4, ..Default::default() },
	)
	.unwrap();
	assert_eq!(o.text, base.tokenizer.decode(&alone[0]).unwrap(), "chunked prefill gives the text of one pass");
	finish(&mut d_rx);
}

/// The KV budget: a request larger than the whole arena is refused when submitted; one that does
/// not fit beside a running request waits for its span instead of growing memory (it is not
/// admitted into the running batch), then runs. With room for both, the same second request
/// joins the running batch (so the check can fail).
#[test]
fn requests_wait_for_kv_memory_and_one_that_never_fits_is_refused() {
	let base = tiny_base();
	let per = KvCache::bytes_per_position(&base.model.config);
	let p = base.tokenizer.encode("Is this a dagger which I see").unwrap();
	let (first, second) = (p.len() + 150, p.len() + 40);
	for (positions, fits) in [(first + second, true), (first + second - 1, false)] {
		let (s, _) = server(&base, &[], ServeConfig { kv_budget: per * positions as u64, ..ServeConfig::default() });
		assert_eq!(s.stats.kv_positions.load(Ordering::Relaxed), positions);
		let (j, _rx) = job(p.clone(), None, positions + 1 - p.len());
		let err = s.submit(j).unwrap_err();
		assert_eq!(err.status(), 400);
		assert!(err.to_string().contains(&format!("KV budget holds {positions}")), "{err}");
		let (a, mut a_rx) = job(p.clone(), None, 150);
		s.submit(a).unwrap();
		first_token(&mut a_rx);
		let (b, mut b_rx) = job(p.clone(), None, 40);
		s.submit(b).unwrap();
		let (o, _) = finish(&mut a_rx);
		assert_eq!(o.output_tokens, 150);
		let (o, _) = finish(&mut b_rx);
		assert_eq!(o.output_tokens, 40);
		let joined = s.stats.admitted_mid_batch.load(Ordering::Relaxed);
		if fits {
			assert_eq!(joined, 1, "with room for both, the second joins the running batch");
		} else {
			assert_eq!(joined, 0, "the second request waited for the first one's KV span");
		}
		assert_eq!(s.stats.kv_used.load(Ordering::Relaxed), 0, "every span is back");
	}
}

/// A request that needs most of the KV arena is not starved by a stream of short ones that
/// always fit beside each other: after being passed over a few times it holds the door, the
/// short ones in flight finish, and it runs. (Without that rule it runs only when the three
/// short ones in flight happen to end at the same step: checked, it then waited for 18.)
#[test]
fn a_long_request_is_not_starved_by_short_ones() {
	let base = tiny_base();
	let per = KvCache::bytes_per_position(&base.model.config);
	let p = base.tokenizer.encode("Is this a dagger which I see").unwrap();
	let lengths = [20, 27, 33];
	let short_need = p.len() + 33;
	let positions = 3 * short_need;
	// The long one fits only when no short one runs.
	let long_tokens = positions - short_need + 1 - p.len();
	let (s, _) = server(&base, &[], ServeConfig { kv_budget: per * positions as u64, ..ServeConfig::default() });
	// Three short requests always in flight: whenever one ends, another of its length comes.
	let mut flight = std::collections::VecDeque::new();
	for n in lengths {
		let (j, rx) = job(p.clone(), None, n);
		s.submit(j).unwrap();
		flight.push_back((n, rx));
	}
	let (long, mut long_rx) = job(p.clone(), None, long_tokens);
	s.submit(long).unwrap();
	let mut replaced = 0;
	let mut started = false;
	while !started && replaced < 100 {
		let (n, mut rx) = flight.pop_front().unwrap();
		finish(&mut rx);
		started = !long_rx.is_empty();
		let (j, rx) = job(p.clone(), None, n);
		s.submit(j).unwrap();
		flight.push_back((n, rx));
		replaced += 1;
	}
	println!("the long request started after {replaced} short ones ended");
	assert!(started && replaced <= 12, "the long request waited while {replaced} short ones ended");
	assert_eq!(finish(&mut long_rx).0.output_tokens as usize, long_tokens);
	for (_, mut rx) in flight {
		finish(&mut rx);
	}
}

/// Counts reads, so a test can tell when an adapter is read and parsed.
struct Counting(MemorySource, std::sync::atomic::AtomicUsize);

impl mnemo_engine::serve::AdapterSource for Counting {
	fn load(&self, hash: &ContentHash) -> mnemo_engine::Result<HostAdapter> {
		self.1.fetch_add(1, Ordering::SeqCst);
		self.0.load(hash)
	}
}

/// Adapters are read only into slots reserved for them: while the bank's one slot is pinned,
/// requests for five other adapters read none (before, each was parsed into memory outside the
/// budget, and stayed there when its client left). Requests whose clients left are cancelled
/// without anything read for them.
#[test]
fn adapters_are_read_only_into_reserved_slots() {
	let base = tiny_base();
	let ads: Vec<Lora> = (0..6).map(|i| random_adapter(&base, 4, &[Target::Q], 30 + i)).collect();
	let mut mem = MemorySource::new(&base.model.config, &device());
	let h: Vec<ContentHash> = ads.iter().map(|a| mem.insert(a.to_safetensors().unwrap())).collect();
	let source = Arc::new(Counting(mem, Default::default()));
	let one_slot = ServeConfig { rank: 4, adapter_budget: LoraBank::slot_bytes(&base.model.config, 4, &[Target::Q, Target::V]), ..ServeConfig::default() };
	let s = Server::start(Arc::new(base.model.clone_shared()), Arc::new(base.tokenizer.clone()), source.clone(), one_slot).unwrap();
	let p = base.tokenizer.encode("Out, damned spot").unwrap();
	let (long, mut long_rx) = job(p.clone(), Some(h[0]), 150);
	s.submit(long).unwrap();
	first_token(&mut long_rx);
	for &a in &h[1..] {
		let (j, rx) = job(p.clone(), Some(a), 4);
		s.submit(j).unwrap();
		drop(rx);
	}
	std::thread::sleep(Duration::from_millis(100));
	assert_eq!(source.1.load(Ordering::SeqCst), 1, "nothing is read while no slot can take it");
	let (o, _) = finish(&mut long_rx);
	assert_eq!(o.output_tokens, 150);
	let start = Instant::now();
	while s.stats.cancelled.load(Ordering::Relaxed) < 5 {
		assert!(start.elapsed() < Duration::from_secs(20), "requests of gone clients were not cancelled");
		std::thread::sleep(Duration::from_millis(10));
	}
	assert_eq!(source.1.load(Ordering::SeqCst), 1, "nothing was read for requests whose clients had left");
	assert_eq!(s.stats.resident_adapters.load(Ordering::Relaxed), 1);
}

/// The README's figures for the default bank: `serve`'s flags default to `ServeConfig::default()`,
/// whose budget holds 72 SmolLM2 adapters of q and v at the default highest rank (16), 145 at
/// rank 8, and 13 at rank 16 if all seven projections are served.
#[test]
fn the_default_bank_holds_what_the_readme_says() {
	let c = ServeConfig::default();
	let smollm2 = mnemo_engine::model::Config::smollm2_135m();
	assert_eq!((c.rank, c.adapter_budget, &c.targets[..]), (16, 256 << 20, &[Target::Q, Target::V][..]));
	let slots = |rank, targets: &[Target]| LoraBank::new(&smollm2, rank, targets, c.adapter_budget, &device()).unwrap().capacity();
	assert_eq!(slots(c.rank, &c.targets), 72);
	assert_eq!(slots(8, &c.targets), 145);
	assert_eq!(slots(c.rank, &Target::ALL), 13);
	// The default KV budget (1 GiB): 23,301 SmolLM2 positions, 20 requests of 1,024 + 128.
	assert_eq!(c.kv_budget, 1 << 30);
	let kv = KvArena::positions(&smollm2, c.kv_budget, c.max_batch * smollm2.max_seq);
	assert_eq!((kv, kv / 1152), (23_301, 20));
}

/// Decoding rows on one adapter run side by side in a step, so a run of `SEGMENT_ROWS` or more
/// multiplies by its slot's matrices where they lie: sixteen requests submitted alternating
/// between two adapters gather rows only in the few steps before all of them decode (in
/// submission order each of the 40 decode steps would gather all 16 rows).
#[test]
fn decoding_rows_on_one_adapter_are_multiplied_together() {
	let base = tiny_base();
	let a = random_adapter(&base, 4, &[Target::Q, Target::V], 41);
	let b = random_adapter(&base, 4, &[Target::Q, Target::V], 42);
	let (s, h) = server(&base, &[&a, &b], ServeConfig::default());
	let prompt = base.tokenizer.encode("Once more unto the breach, dear friends").unwrap();
	let rxs: Vec<_> = (0..16)
		.map(|i| {
			let (j, rx) = job(prompt.clone(), Some(h[i % 2]), 40);
			s.submit(j).unwrap();
			rx
		})
		.collect();
	for mut rx in rxs {
		assert_eq!(finish(&mut rx).0.output_tokens, 40);
	}
	let steps = s.stats.steps.load(Ordering::Relaxed);
	let gathered = s.stats.bank.gathered_rows.load(Ordering::Relaxed);
	println!("{steps} steps, {gathered} rows gathered of {} decoded", 16 * 40);
	assert!(steps >= 40);
	assert!(gathered <= 5 * 16, "{gathered} rows gathered in {steps} steps");
}

/// Gathered rows multiply only as many of their slots' columns as the highest rank among their
/// adapters (the columns past an adapter's rank are zeros): adapters of rank 2 and 4 in a bank of
/// rank 8 give each row the logits it gets alone.
#[test]
fn gathered_rows_of_lower_rank_adapters_give_their_own_logits() {
	let base = tiny_base();
	let m = &base.model;
	let qv = [Target::Q, Target::V];
	let ads = [random_adapter(&base, 2, &qv, 51), random_adapter(&base, 4, &qv, 52)];
	let mut bank = LoraBank::new(&m.config, 8, &qv, LoraBank::slot_bytes(&m.config, 8, &qv) * 2, &device()).unwrap();
	let slots: Vec<usize> = ads
		.iter()
		.enumerate()
		.map(|(i, a)| {
			let h = ContentHash::of(&[60 + i as u8]);
			bank.acquire(h, || Ok(HostAdapter::from_lora(h, a, m.config.layers))).unwrap().unwrap()
		})
		.collect();
	let which = [0usize, 1, 0];
	let tokens: Vec<Vec<u32>> = [17u32, 101, 42].iter().map(|&t| vec![t]).collect();
	let mut arena = KvArena::new(&m.config, KvCache::bytes_per_position(&m.config) * 8, 8, &device()).unwrap();
	let mut spans: Vec<_> = (0..3).map(|_| arena.reserve(2).unwrap()).collect();
	let rows: Vec<usize> = which.iter().map(|&w| slots[w]).collect();
	let lr = bank.batch(&rows);
	assert_eq!(lr.shape(), (0, 1), "three single rows, gathered");
	let mut seqs: Vec<SeqStep> = tokens.iter().zip(spans.iter_mut()).map(|(t, span)| SeqStep { tokens: t, span }).collect();
	let got = m.logits_ragged(&mut arena.cache, &mut seqs, Some(&lr as &dyn LowRank), false).to_host();
	let v = m.config.vocab;
	for (r, (t, &w)) in tokens.iter().zip(&which).enumerate() {
		let alone = m.forward(&[t.clone()], Some(&ads[w]), None).to_host();
		assert!(max_abs_diff(&got[r * v..(r + 1) * v], &alone) <= TOL, "row {r}");
		assert!(max_abs_diff(&alone, &m.forward(&[t.clone()], None, None).to_host()) > 1e-3, "the adapter changes row {r}");
	}
}

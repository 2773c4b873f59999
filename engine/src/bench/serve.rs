//! `mnemo-engine bench serve`: serving throughput with many adapters on one base, against the
//! same load on one adapter merged into the weights and against naive swapping (merge, run
//! alone, unmerge, per request). Figures are printed side by side in one run, never asserted.
//!
//! The server runs at the engine's shipped defaults ([`ServeConfig::default`]: slot rank, bank
//! and KV budgets, step token budget); only `max_batch` and the queue length are set. The load
//! is closed: every request is submitted at once to the scheduler (the library, not HTTP), each
//! with a prompt of `prompt_len` tokens and exactly `max_tokens` output tokens (`ignore_eos`).
//! Adapters are random rank-`rank` LoRAs on `targets` with non-zero B (a trained adapter's
//! cost), drawn per request uniformly or Zipf-skewed (s = 1); when the load names more adapters
//! than the default bank holds, reading them into slots is part of the measured time.
//!
//! The largest Zipf load at the first prompt length also runs with a LoRA training loop (the
//! engine's own step, batch 8) on the same model in a thread beside the server, to show what a
//! training job costs the requests that share its cores.
//!
//! Reported per configuration, over `runs` runs: output tokens per second over the whole load
//! (median and range), time to first token (TTFT, from submission) and time per output token
//! (TPOT, vLLM's definition: `(done − first token) / (tokens − 1)` per request), p50 and p99
//! over every request of every run.

use crate::{
	error::{Error, Result},
	home::{self, Base},
	model::lora::{Lora, LoraConfig, Target},
	model::{KvCache, Llama, ToHost},
	serve::{
		bank::LoraBank,
		AdapterSource, Event, Job, MemorySource, ServeConfig, Server,
	},
};
use burn::{
	module::Param,
	tensor::{Device, Tensor, TensorData},
};
use mnemo_primitives::ContentHash;
use rand::{Rng, SeedableRng};
use std::{
	path::Path,
	sync::Arc,
	time::Instant,
};

/// Options of `bench serve`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
	/// Base models (comma-separated).
	#[arg(long, default_value = "tiny,smollm2-135m")]
	pub bases: String,
	/// Requests in the load.
	#[arg(long, default_value_t = 128)]
	pub requests: usize,
	/// Prompt tokens per request (comma-separated lengths, each its own load).
	#[arg(long, default_value = "16")]
	pub prompt_lens: String,
	/// Runs of every configuration (the table gives the median and the range).
	#[arg(long, default_value_t = 1)]
	pub runs: usize,
	/// Output tokens per request.
	#[arg(long, default_value_t = 32)]
	pub max_tokens: usize,
	/// Distinct adapters in the load (comma-separated counts).
	#[arg(long, default_value = "1,8,64")]
	pub adapters: String,
	#[arg(long, default_value_t = 8)]
	pub rank: usize,
	/// Adapted projections.
	#[arg(long, default_value = "q,v")]
	pub targets: String,
	/// Most requests decoding together.
	#[arg(long, default_value_t = 32)]
	pub max_batch: usize,
	/// Skip naive swapping (it runs one request at a time and is slow on big models).
	#[arg(long)]
	pub no_swap: bool,
	#[arg(long)]
	pub json: bool,
}

/// One measured configuration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
	pub base: String,
	pub prompt_len: usize,
	pub load: String,
	pub adapters: usize,
	pub runs: usize,
	/// Output tokens of one run.
	pub tokens: u64,
	/// Median over the runs, and the slowest and fastest run.
	pub tokens_per_second: f64,
	pub tokens_per_second_min: f64,
	pub tokens_per_second_max: f64,
	pub ttft_p50_ms: f64,
	pub ttft_p99_ms: f64,
	pub tpot_p50_ms: f64,
	pub tpot_p99_ms: f64,
	/// Throughput over the merged single-adapter throughput of the same base.
	pub vs_merged: f64,
}

/// What the run measured on one base besides the rows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Facts {
	pub base: String,
	pub cold_load_ms: f64,
	/// Bank bytes per slot at the serving rank for the benchmark's targets.
	pub bytes_per_slot: u64,
	pub base_parameters: usize,
	/// Slots the default budget holds for the benchmark's targets, and positions the default KV
	/// budget holds.
	pub bank_slots: usize,
	pub kv_positions: usize,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
	pub options: String,
	pub rows: Vec<Row>,
	pub facts: Vec<Facts>,
}

/// An adapter on `base` with random, non-zero A and B (a trained adapter's cost and shape), B
/// drawn with standard deviation `std`.
pub fn random_adapter(base: &Base, rank: usize, targets: &[Target], seed: u64, std: f32) -> Result<Lora> {
	let cfg = LoraConfig::new(rank, 2.0 * rank as f64, targets.to_vec(), &base.id)?;
	let dev = base.model.device();
	let mut l = Lora::init(cfg, &base.model.config, seed, dev);
	let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5e7e);
	for p in l.weights.pairs.iter_mut() {
		let [r, o] = p.b.val().dims();
		let b: Vec<f32> = (0..r * o).map(|_| crate::model::normal(&mut rng) * std).collect();
		p.b = Param::from_tensor(Tensor::from_data(TensorData::new(b, [r, o]), dev));
	}
	Ok(l)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
	if v.is_empty() {
		return f64::NAN;
	}
	v.sort_by(f64::total_cmp);
	let i = ((v.len() - 1) as f64 * p).round() as usize;
	v[i]
}

/// Which adapter each request names: uniform, or Zipf with s = 1.
fn assignment(n_requests: usize, n_adapters: usize, zipf: bool, seed: u64) -> Vec<usize> {
	let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
	let weights: Vec<f64> = (1..=n_adapters).map(|k| if zipf { 1.0 / k as f64 } else { 1.0 }).collect();
	let total: f64 = weights.iter().sum();
	(0..n_requests)
		.map(|_| {
			let mut r = rng.random::<f64>() * total;
			for (i, w) in weights.iter().enumerate() {
				r -= w;
				if r <= 0.0 {
					return i;
				}
			}
			n_adapters - 1
		})
		.collect()
}

/// One run of a load: output tokens, seconds, and per request its TTFT and TPOT in ms.
struct Run {
	tokens: u64,
	seconds: f64,
	ttft: Vec<f64>,
	tpot: Vec<f64>,
}

/// Runs the load through a scheduler.
fn run_load(server: &Server, prompts: &[Vec<u32>], adapters: &[Option<ContentHash>], max_tokens: usize) -> Result<Run> {
	let start = Instant::now();
	let mut rxs = Vec::new();
	for (p, a) in prompts.iter().zip(adapters) {
		let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
		server.submit(Job {
			prompt: p.clone(),
			adapter: *a,
			sampling: crate::model::generate::Sampling { max_tokens, ..Default::default() },
			stop: vec![],
			ignore_eos: true,
			events: tx,
			on_finish: None,
		})?;
		rxs.push(rx);
	}
	// One thread per request records when its first text and its end arrive.
	let handles: Vec<_> = rxs
		.into_iter()
		.map(|mut rx| {
			std::thread::spawn(move || -> Result<(Instant, Instant, u32)> {
				let mut first = None;
				loop {
					match rx.blocking_recv() {
						Some(Event::Delta(_)) => {
							first.get_or_insert_with(Instant::now);
						},
						Some(Event::Done(o)) => {
							let now = Instant::now();
							return Ok((first.unwrap_or(now), now, o.output_tokens));
						},
						Some(Event::Failed(e)) => return Err(e),
						None => return Err(Error::Internal("the scheduler dropped a request".into())),
					}
				}
			})
		})
		.collect();
	let mut run = Run { tokens: 0, seconds: 0.0, ttft: Vec::new(), tpot: Vec::new() };
	for h in handles {
		let (first, done, n) = h.join().map_err(|_| Error::Internal("bench thread".into()))??;
		run.tokens += n as u64;
		run.ttft.push((first - start).as_secs_f64() * 1e3);
		if n > 1 {
			run.tpot.push((done - first).as_secs_f64() * 1e3 / (n - 1) as f64);
		}
	}
	run.seconds = start.elapsed().as_secs_f64();
	Ok(run)
}

/// Naive swapping: per request, merge its adapter into the weights, run it alone, unmerge.
fn run_swap(base: &Llama, prompts: &[Vec<u32>], loras: &[&Lora], max_tokens: usize) -> Run {
	let mut model = base.clone_shared();
	let start = Instant::now();
	let mut run = Run { tokens: 0, seconds: 0.0, ttft: Vec::new(), tpot: Vec::new() };
	for (p, l) in prompts.iter().zip(loras) {
		let began = Instant::now();
		model.merge(l);
		let mut cache = KvCache::new(&model.config, 1, p.len() + max_tokens, model.device());
		let mut feed = p.clone();
		let mut first = None;
		for _ in 0..max_tokens {
			let logits = model.forward(&[feed.clone()], None, Some(&mut cache));
			let [_, t, v] = logits.dims();
			let last = logits.narrow(1, t - 1, 1).reshape([v]).to_host();
			let t = crate::model::generate::pick(&last, &Default::default(), &mut rand::rng());
			first.get_or_insert_with(Instant::now);
			feed = vec![t];
		}
		let done = Instant::now();
		model.unmerge(l);
		run.tokens += max_tokens as u64;
		let first = first.unwrap_or(done);
		run.ttft.push((first - began).as_secs_f64() * 1e3);
		run.tpot.push((done - first).as_secs_f64() * 1e3 / (max_tokens - 1).max(1) as f64);
	}
	run.seconds = start.elapsed().as_secs_f64();
	run
}

/// Comma-separated counts, each at least 1.
fn counts(flag: &str, s: &str) -> Result<Vec<usize>> {
	s.split(',')
		.map(|v| match v.trim().parse::<usize>() {
			Ok(n) if n > 0 => Ok(n),
			_ => Err(Error::bad(format!("--{flag}: `{v}` is not a count of at least 1"))),
		})
		.collect()
}

/// A configuration's runs, labelled.
struct Measured {
	prompt_len: usize,
	load: String,
	adapters: usize,
	runs: Vec<Run>,
}

impl Measured {
	fn tps(&self) -> Vec<f64> {
		let mut v: Vec<f64> = self.runs.iter().map(|r| r.tokens as f64 / r.seconds).collect();
		v.sort_by(f64::total_cmp);
		v
	}

	fn median_tps(&self) -> f64 {
		let v = self.tps();
		let n = v.len();
		if n % 2 == 1 {
			v[n / 2]
		} else {
			(v[n / 2 - 1] + v[n / 2]) / 2.0
		}
	}
}

/// Runs the benchmark.
pub fn run(home: &Path, device: &Device, o: &Options, log: impl Fn(&str)) -> Result<Report> {
	if o.requests == 0 || o.max_tokens < 2 || o.runs == 0 {
		return Err(Error::bad("--requests ≥ 1, --max-tokens ≥ 2 and --runs ≥ 1"));
	}
	let targets = Target::parse_list(&o.targets.split(',').collect::<Vec<_>>())?;
	let adapter_counts = counts("adapters", &o.adapters)?;
	let prompt_lens = counts("prompt-lens", &o.prompt_lens)?;
	let most = adapter_counts.iter().copied().max().unwrap_or(1);
	let longest = prompt_lens.iter().copied().max().unwrap_or(1);
	let mut rows = Vec::new();
	let mut facts = Vec::new();
	for id in o.bases.split(',').map(str::trim).filter(|s| !s.is_empty()) {
		let max_seq = longest + o.max_tokens + 8;
		let base = home::load(home, id, max_seq, device)?;
		let config = ServeConfig {
			max_batch: o.max_batch,
			max_queue: o.requests.max(most) + 1,
			targets: targets.clone(),
			..ServeConfig::default()
		};
		if o.rank > config.rank {
			return Err(Error::bad(format!("--rank {} is above the serving rank {} the engine ships with", o.rank, config.rank)));
		}
		log(&format!("{id}: {most} random rank-{} adapters on {}", o.rank, o.targets));
		let loras: Vec<Lora> = (0..most).map(|i| random_adapter(&base, o.rank, &targets, i as u64 + 1, 0.02)).collect::<Result<_>>()?;
		let mut mem = MemorySource::new(&base.model.config, device);
		let hashes: Vec<ContentHash> = loras.iter().map(|l| Ok(mem.insert(l.to_safetensors()?))).collect::<Result<_>>()?;
		let source = Arc::new(mem);
		// Cold load: read and parse the safetensors, then write the bank slot.
		let slot = LoraBank::slot_bytes(&base.model.config, config.rank, &targets);
		let mut bank = LoraBank::new(&base.model.config, config.rank, &targets, slot * 2, device)?;
		let mut cold = Vec::new();
		for h in hashes.iter().take(8) {
			let t = Instant::now();
			bank.acquire(*h, || source.load(h))?;
			bank.release(h);
			cold.push(t.elapsed().as_secs_f64() * 1e3);
		}
		let text = "Once upon a time, in a quiet village by the sea, there lived an old fisherman who ".repeat(8);
		let piece = base.tokenizer.encode(&text)?;
		let all: Vec<u32> = piece.iter().copied().cycle().take(longest + 13).collect();
		let model = Arc::new(base.model.clone_shared());
		let tok = Arc::new(base.tokenizer.clone());
		let merged = Server::start(Arc::new(base.model.merged(&loras[0])), tok.clone(), source.clone(), config.clone())?;
		let server = Server::start(model.clone(), tok.clone(), source.clone(), config.clone())?;
		let mut measured: Vec<Measured> = Vec::new();
		for (n_len, &prompt_len) in prompt_lens.iter().enumerate() {
			let prompts: Vec<Vec<u32>> = (0..o.requests).map(|r| all[r % 13..r % 13 + prompt_len].to_vec()).collect();
			let repeat = |label: String, adapters: usize, f: &mut dyn FnMut() -> Result<Run>| -> Result<Measured> {
				log(&format!("{id}: {prompt_len}-token prompts, {label}"));
				let runs = (0..o.runs).map(|_| f()).collect::<Result<_>>()?;
				Ok(Measured { prompt_len, load: label, adapters, runs })
			};
			// (a) One adapter merged into the weights: the same scheduler, no low-rank path.
			run_load(&merged, &prompts[..o.max_batch.min(o.requests)], &vec![None; o.requests], 2)?;
			measured.push(repeat("merged, 1 adapter".into(), 1, &mut || run_load(&merged, &prompts, &vec![None; o.requests], o.max_tokens))?);
			// (b) Many adapters on the base, from the bank, each load started with the bank as
			// the last one left it.
			for &n in &adapter_counts {
				for zipf in [false, true] {
					if n == 1 && zipf {
						continue;
					}
					let which = assignment(o.requests, n, zipf, 7);
					let ads: Vec<Option<ContentHash>> = which.iter().map(|&i| Some(hashes[i])).collect();
					let label = format!("{n} adapter{}, {}", if n == 1 { "" } else { "s" }, if zipf { "Zipf" } else { "uniform" });
					measured.push(repeat(label, n, &mut || run_load(&server, &prompts, &ads, o.max_tokens))?);
				}
			}
			// (c) The largest Zipf load again, with the engine's LoRA training step (batch 8)
			// looping on the same model beside the server.
			if n_len == 0 {
				let which = assignment(o.requests, most, true, 7);
				let ads: Vec<Option<ContentHash>> = which.iter().map(|&i| Some(hashes[i])).collect();
				let seq = 64.min(max_seq - 1).min(all.len() - 8);
				let rows: Vec<Vec<u32>> = (0..8).map(|r| all[r % 7..r % 7 + seq + 1].to_vec()).collect();
				let mut steps_total = 0;
				let label = format!("{most} adapters, Zipf, training beside");
				let mut m = repeat(label, most, &mut || {
					let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
					let trainer = {
						let (model, stop, rows) = (model.clone(), stop.clone(), rows.clone());
						std::thread::spawn(move || training_loop(&model, &rows, seq, &stop))
					};
					let run = run_load(&server, &prompts, &ads, o.max_tokens);
					stop.store(true, std::sync::atomic::Ordering::Relaxed);
					steps_total += trainer.join().map_err(|_| Error::Internal("the training thread panicked".into()))??;
					run
				})?;
				m.load = format!("{} ({steps_total} steps of 8 × {seq} in all runs)", m.load);
				measured.push(m);
			}
			if !o.no_swap {
				let which = assignment(o.requests, most, false, 7);
				let ls: Vec<&Lora> = which.iter().map(|&i| &loras[i]).collect();
				measured.push(repeat(format!("naive swap, {most} adapters, uniform"), most, &mut || {
					Ok(run_swap(&base.model, &prompts, &ls, o.max_tokens))
				})?);
			}
		}
		for m in &measured {
			let merged_tps = measured.iter().find(|x| x.prompt_len == m.prompt_len).map_or(f64::NAN, Measured::median_tps);
			let tps = m.tps();
			let mut ttft: Vec<f64> = m.runs.iter().flat_map(|r| r.ttft.iter().copied()).collect();
			let mut tpot: Vec<f64> = m.runs.iter().flat_map(|r| r.tpot.iter().copied()).collect();
			rows.push(Row {
				base: id.to_string(),
				prompt_len: m.prompt_len,
				load: m.load.clone(),
				adapters: m.adapters,
				runs: m.runs.len(),
				tokens: m.runs[0].tokens,
				tokens_per_second: m.median_tps(),
				tokens_per_second_min: tps[0],
				tokens_per_second_max: tps[tps.len() - 1],
				ttft_p50_ms: percentile(&mut ttft, 0.5),
				ttft_p99_ms: percentile(&mut ttft, 0.99),
				tpot_p50_ms: percentile(&mut tpot, 0.5),
				tpot_p99_ms: percentile(&mut tpot, 0.99),
				vs_merged: m.median_tps() / merged_tps,
			});
		}
		facts.push(Facts {
			base: id.to_string(),
			cold_load_ms: cold.iter().sum::<f64>() / cold.len().max(1) as f64,
			bytes_per_slot: bank.bytes_per_slot(),
			base_parameters: base.model.config.parameters(),
			bank_slots: server.stats.bank_slots.load(std::sync::atomic::Ordering::Relaxed),
			kv_positions: server.stats.kv_positions.load(std::sync::atomic::Ordering::Relaxed),
		});
	}
	let d = ServeConfig::default();
	Ok(Report {
		options: format!(
			"{} requests × {} prompt + {} output tokens, adapters of rank {} on {}, batch ≤ {}, {} run(s); defaults: slot rank {}, bank {} MiB, KV {} MiB, {} tokens per step",
			o.requests, o.prompt_lens, o.max_tokens, o.rank, o.targets, o.max_batch, o.runs, d.rank, d.adapter_budget >> 20, d.kv_budget >> 20, d.step_tokens
		),
		rows,
		facts,
	})
}

/// The benchmarks' LoRA training step ([`super::LoraStep`], batch 8 × `seq`) looped on `model`
/// until `stop`; the steps run.
fn training_loop(model: &Llama, rows: &[Vec<u32>], seq: usize, stop: &std::sync::atomic::AtomicBool) -> Result<usize> {
	let mut step = super::LoraStep::new(model, "bench", rows, seq)?;
	let mut steps = 0;
	while !stop.load(std::sync::atomic::Ordering::Relaxed) {
		step = step.step(model)?;
		steps += 1;
	}
	Ok(steps)
}

impl Report {
	/// The tables as Markdown.
	pub fn table(&self) -> String {
		let mut s = format!("Serving ({})\n\n", self.options);
		s.push_str("| base | prompt | load | output tok/s (median) | range | TTFT p50 ms | TTFT p99 ms | TPOT p50 ms | TPOT p99 ms | vs merged |\n|---|---|---|---|---|---|---|---|---|---|\n");
		for r in &self.rows {
			s.push_str(&format!(
				"| {} | {} | {} | {:.0} | {:.0}–{:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {:.2} |\n",
				r.base,
				r.prompt_len,
				r.load,
				r.tokens_per_second,
				r.tokens_per_second_min,
				r.tokens_per_second_max,
				r.ttft_p50_ms,
				r.ttft_p99_ms,
				r.tpot_p50_ms,
				r.tpot_p99_ms,
				r.vs_merged
			));
		}
		s.push_str("\n| base | parameters | adapter cold load ms | bank bytes per slot | default bank slots | default KV positions |\n|---|---|---|---|---|---|\n");
		for f in &self.facts {
			s.push_str(&format!(
				"| {} | {} | {:.1} | {} | {} | {} |\n",
				f.base, f.base_parameters, f.cold_load_ms, f.bytes_per_slot, f.bank_slots, f.kv_positions
			));
		}
		s
	}
}

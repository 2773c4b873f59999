//! `mnemo-engine bench serve`: serving throughput with many adapters on one base, against the
//! same load on one adapter merged into the weights and against naive swapping (merge, run
//! alone, unmerge, per request). Figures are printed side by side in one run, never asserted.
//!
//! The load is closed: every request is submitted at once to the scheduler (the library, not
//! HTTP), each with a prompt of `prompt_len` tokens and exactly `max_tokens` output tokens
//! (`ignore_eos`). Adapters are random rank-`rank` LoRAs on `targets` with non-zero B (a trained
//! adapter's cost), drawn per request uniformly or Zipf-skewed (s = 1). Adapters are loaded
//! before the clock starts; the cold-load time is measured on its own.
//!
//! The largest Zipf load also runs a second time with a LoRA training loop (the engine's own
//! step, batch 8) on the same model in a thread beside the server, to show what a training job
//! costs the requests that share its cores.
//!
//! Reported per configuration: output tokens per second over the whole load, and the time per
//! output token (TPOT, vLLM's definition: `(done − first token) / (tokens − 1)` per request),
//! p50 and p99 over requests.

use crate::{
	error::{Error, Result},
	home::{self, Base},
	model::lora::{Lora, LoraConfig, Target},
	model::{KvCache, Llama, SeqStep, ToHost},
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
	/// Prompt tokens per request.
	#[arg(long, default_value_t = 16)]
	pub prompt_len: usize,
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
	pub load: String,
	pub adapters: usize,
	pub tokens: u64,
	pub seconds: f64,
	pub tokens_per_second: f64,
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
	pub bytes_per_adapter: u64,
	pub bytes_per_adapter_all_targets: u64,
	pub base_parameters: usize,
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

/// Runs the load through a scheduler; returns (tokens, seconds, TPOTs in ms).
fn run_load(server: &Server, prompts: &[Vec<u32>], adapters: &[Option<ContentHash>], max_tokens: usize) -> Result<(u64, f64, Vec<f64>)> {
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
	let mut tokens = 0u64;
	let mut tpot = Vec::new();
	for h in handles {
		let (first, done, n) = h.join().map_err(|_| Error::Internal("bench thread".into()))??;
		tokens += n as u64;
		if n > 1 {
			tpot.push((done - first).as_secs_f64() * 1e3 / (n - 1) as f64);
		}
	}
	Ok((tokens, start.elapsed().as_secs_f64(), tpot))
}

/// Naive swapping: per request, merge its adapter into the weights, run it alone, unmerge.
fn run_swap(base: &Llama, prompts: &[Vec<u32>], loras: &[&Lora], max_tokens: usize) -> (u64, f64, Vec<f64>) {
	let mut model = base.clone_shared();
	let start = Instant::now();
	let mut tokens = 0;
	let mut tpot = Vec::new();
	for (p, l) in prompts.iter().zip(loras) {
		model.merge(l);
		let mut cache = KvCache::new(model.config.layers);
		let mut feed = p.clone();
		let mut first = None;
		for _ in 0..max_tokens {
			let logits = model.logits_ragged(&mut [SeqStep { tokens: &feed, cache: &mut cache }], None, true).to_host();
			let t = crate::model::generate::pick(&logits, &Default::default(), &mut rand::rng());
			first.get_or_insert_with(Instant::now);
			feed = vec![t];
		}
		let done = Instant::now();
		model.unmerge(l);
		tokens += max_tokens as u64;
		tpot.push((done - first.unwrap_or(done)).as_secs_f64() * 1e3 / (max_tokens - 1).max(1) as f64);
	}
	(tokens, start.elapsed().as_secs_f64(), tpot)
}

/// Runs the benchmark.
pub fn run(home: &Path, device: &Device, o: &Options, log: impl Fn(&str)) -> Result<Report> {
	if o.requests == 0 || o.max_tokens < 2 || o.prompt_len == 0 {
		return Err(Error::bad("--requests ≥ 1, --max-tokens ≥ 2 and --prompt-len ≥ 1"));
	}
	let targets = Target::parse_list(&o.targets.split(',').collect::<Vec<_>>())?;
	let counts: Vec<usize> =
		o.adapters.split(',').map(|s| s.trim().parse::<usize>().map_err(|_| Error::bad(format!("--adapters: `{s}`")))).collect::<Result<_>>()?;
	if counts.contains(&0) {
		return Err(Error::bad("--adapters counts must be at least 1"));
	}
	let most = counts.iter().copied().max().unwrap_or(1);
	let mut rows = Vec::new();
	let mut facts = Vec::new();
	for id in o.bases.split(',').map(str::trim).filter(|s| !s.is_empty()) {
		let max_seq = o.prompt_len + o.max_tokens + 8;
		let base = home::load(home, id, max_seq, device)?;
		log(&format!("{id}: {most} random rank-{} adapters on {}", o.rank, o.targets));
		let loras: Vec<Lora> = (0..most).map(|i| random_adapter(&base, o.rank, &targets, i as u64 + 1, 0.02)).collect::<Result<_>>()?;
		let mut mem = MemorySource::new(&base.model.config, device);
		let hashes: Vec<ContentHash> = loras.iter().map(|l| Ok(mem.insert(l.to_safetensors()?))).collect::<Result<_>>()?;
		let source = Arc::new(mem);
		// Cold load: read and parse the safetensors, then write the bank slot.
		let mut bank = LoraBank::new(&base.model.config, o.rank, LoraBank::slot_bytes(&base.model.config, o.rank) * 2, device)?;
		let mut cold = Vec::new();
		for h in hashes.iter().take(8) {
			let t = Instant::now();
			bank.acquire(*h, || source.load(h))?;
			bank.release(h);
			cold.push(t.elapsed().as_secs_f64() * 1e3);
		}
		let text = "Once upon a time, in a quiet village by the sea, there lived an old fisherman who ".repeat(8);
		let all = base.tokenizer.encode(&text)?;
		let prompts: Vec<Vec<u32>> = (0..o.requests)
			.map(|r| {
				let mut p = all.clone();
				p.rotate_left(r % 13);
				p.truncate(o.prompt_len);
				p
			})
			.collect();
		let budget = LoraBank::slot_bytes(&base.model.config, o.rank) * (most as u64 + 1);
		let config = ServeConfig { max_batch: o.max_batch, max_queue: o.requests + 1, rank: o.rank, adapter_budget: budget };
		let model = Arc::new(base.model.clone_shared());
		let tok = Arc::new(base.tokenizer.clone());
		let mut measured = Vec::new();

		// (a) One adapter merged into the weights: the same scheduler, no low-rank path.
		{
			let merged = Arc::new(base.model.merged(&loras[0]));
			let server = Server::start(merged, tok.clone(), source.clone(), config.clone())?;
			run_load(&server, &prompts[..o.max_batch.min(o.requests)], &vec![None; o.requests], 2)?;
			log(&format!("{id}: merged single adapter"));
			let (n, s, t) = run_load(&server, &prompts, &vec![None; o.requests], o.max_tokens)?;
			measured.push(("merged, 1 adapter".to_string(), 1, n, s, t));
		}
		let server = Server::start(model.clone(), tok.clone(), source.clone(), config.clone())?;
		// Warm: every adapter resident before the clock starts.
		let warm: Vec<Option<ContentHash>> = hashes.iter().map(|h| Some(*h)).collect();
		let warm_prompts: Vec<Vec<u32>> = (0..most).map(|i| prompts[i % prompts.len()].clone()).collect();
		run_load(&server, &warm_prompts, &warm, 2)?;
		let bytes_per_adapter = server.stats.bytes_per_adapter.load(std::sync::atomic::Ordering::Relaxed);
		for &n in &counts {
			for zipf in [false, true] {
				if n == 1 && zipf {
					continue;
				}
				let which = assignment(o.requests, n, zipf, 7);
				let ads: Vec<Option<ContentHash>> = which.iter().map(|&i| Some(hashes[i])).collect();
				let label = format!("{n} adapter{}, {}", if n == 1 { "" } else { "s" }, if zipf { "Zipf" } else { "uniform" });
				log(&format!("{id}: {label}"));
				let (tk, s, t) = run_load(&server, &prompts, &ads, o.max_tokens)?;
				measured.push((label, n, tk, s, t));
			}
		}
		// (c) The largest Zipf load again, with the engine's LoRA training step (batch 8) looping
		// on the same model beside the server: what a training job costs the requests it shares
		// the cores with.
		{
			let which = assignment(o.requests, most, true, 7);
			let ads: Vec<Option<ContentHash>> = which.iter().map(|&i| Some(hashes[i])).collect();
			let seq = 64.min(max_seq - 1).min(all.len() - 1);
			let rows: Vec<Vec<u32>> = (0..8).map(|r| all[r % 7..r % 7 + seq + 1].to_vec()).collect();
			let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
			let trainer = {
				let (model, stop) = (model.clone(), stop.clone());
				std::thread::spawn(move || -> Result<usize> {
					let ad = model.device().clone().autodiff();
					let mut lora = Lora::init(LoraConfig::new(8, 16.0, vec![Target::Q, Target::V], "bench")?, &model.config, 0, &ad);
					let mut optim = burn::optim::AdamWConfig::new().with_weight_decay(0.0).init();
					let inputs: Vec<Vec<u32>> = rows.iter().map(|r| r[..seq].to_vec()).collect();
					let targets: Vec<Vec<u32>> = rows.iter().map(|r| r[1..].to_vec()).collect();
					let weights = vec![1.0 / (8 * seq) as f32; 8 * seq];
					let mut steps = 0;
					while !stop.load(std::sync::atomic::Ordering::Relaxed) {
						let (_, grads) = crate::train::batch_gradients(&model, &lora, &inputs, &targets, &weights)?;
						lora.weights = optim.step(1e-4, lora.weights, grads);
						steps += 1;
					}
					Ok(steps)
				})
			};
			let label = format!("{most} adapters, Zipf, training beside");
			log(&format!("{id}: {label}"));
			let measured_load = run_load(&server, &prompts, &ads, o.max_tokens);
			stop.store(true, std::sync::atomic::Ordering::Relaxed);
			let steps = trainer.join().map_err(|_| Error::Internal("the training thread panicked".into()))??;
			let (tk, s, t) = measured_load?;
			measured.push((format!("{label} ({steps} steps of 8 × {seq})"), most, tk, s, t));
		}
		if !o.no_swap {
			let which = assignment(o.requests, most, false, 7);
			let ls: Vec<&Lora> = which.iter().map(|&i| &loras[i]).collect();
			log(&format!("{id}: naive swapping, {most} adapters"));
			let (tk, s, t) = run_swap(&base.model, &prompts, &ls, o.max_tokens);
			measured.push((format!("naive swap, {most} adapters, uniform"), most, tk, s, t));
		}
		let merged_tps = measured[0].2 as f64 / measured[0].3;
		for (load, n, tokens, seconds, mut tpot) in measured {
			let tps = tokens as f64 / seconds;
			rows.push(Row {
				base: id.to_string(),
				load,
				adapters: n,
				tokens,
				seconds,
				tokens_per_second: tps,
				tpot_p50_ms: percentile(&mut tpot, 0.5),
				tpot_p99_ms: percentile(&mut tpot, 0.99),
				vs_merged: tps / merged_tps,
			});
		}
		facts.push(Facts {
			base: id.to_string(),
			cold_load_ms: cold.iter().sum::<f64>() / cold.len().max(1) as f64,
			// The cold-load bank holds adapters of the benchmark's targets.
			bytes_per_adapter: bank.bytes_per_slot(),
			bytes_per_adapter_all_targets: bytes_per_adapter,
			base_parameters: base.model.config.parameters(),
		});
	}
	Ok(Report {
		options: format!(
			"{} requests × {} prompt + {} output tokens, rank {} on {}, batch ≤ {}",
			o.requests, o.prompt_len, o.max_tokens, o.rank, o.targets, o.max_batch
		),
		rows,
		facts,
	})
}

impl Report {
	/// The tables as Markdown.
	pub fn table(&self) -> String {
		let mut s = format!("Serving ({})\n\n", self.options);
		s.push_str("| base | load | output tok/s | TPOT p50 ms | TPOT p99 ms | vs merged |\n|---|---|---|---|---|---|\n");
		for r in &self.rows {
			s.push_str(&format!(
				"| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} |\n",
				r.base, r.load, r.tokens_per_second, r.tpot_p50_ms, r.tpot_p99_ms, r.vs_merged
			));
		}
		s.push_str("\n| base | parameters | adapter cold load ms | bank bytes per adapter (its targets) | bank bytes per slot (all 7 targets) |\n|---|---|---|---|---|\n");
		for f in &self.facts {
			s.push_str(&format!(
				"| {} | {} | {:.1} | {} | {} |\n",
				f.base, f.base_parameters, f.cold_load_ms, f.bytes_per_adapter, f.bytes_per_adapter_all_targets
			));
		}
		s
	}
}

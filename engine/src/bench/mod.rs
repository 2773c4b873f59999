//! `mnemo-engine bench`: throughput figures, printed, never asserted. Generation at batch 1 and 8
//! (greedy, KV cache, tokens generated per second over all rows) and LoRA training steps
//! (forward, backward and AdamW on rank-8 q/v adapters; predicted tokens per second).

pub mod attribution;
pub mod serve;

use crate::{
	error::Result,
	model::generate::{generate_ids, Sampling},
	home::Base,
	model::lora::{Lora, LoraConfig, Target},
	model::Llama,
	train::batch_gradients,
};
use burn::optim::AdamWConfig;
use std::time::Instant;

/// One measured figure.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
	pub model: String,
	pub task: String,
	pub batch: usize,
	pub seq: usize,
	pub tokens: u64,
	pub seconds: f64,
	pub tokens_per_second: f64,
	/// Compute threads it ran on.
	pub threads: usize,
	/// Generation: the weights' format, and the tokens per second a step (batch rows at once)
	/// could reach if reading the weights at the measured memory bandwidth were all it did.
	pub weights: String,
	pub bound_tokens_per_second: Option<f64>,
}

fn prompt(base: &Base, len: usize, row: usize) -> Vec<u32> {
	let text = "Once upon a time, in a quiet village by the sea, there lived an old fisherman who ".repeat(8);
	let mut ids = base.tokenizer.encode(&text).unwrap_or_default();
	ids.rotate_left(row % 7);
	ids.truncate(len);
	ids
}

/// Bytes per second this machine reads from memory: the best of three parallel sums over 512 MiB
/// (far beyond the caches), on the compute pool.
pub fn memory_bandwidth() -> f64 {
	use rayon::prelude::*;
	let buf = vec![1u64; 64 << 20];
	let mut best = 0f64;
	for _ in 0..3 {
		let t = Instant::now();
		let sum: u64 = crate::threads::run(|| buf.par_chunks(1 << 16).map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x))).sum());
		let secs = t.elapsed().as_secs_f64();
		std::hint::black_box(sum);
		best = best.max((buf.len() * 8) as f64 / secs);
	}
	best
}

/// Generation throughput: `batch` rows of a `prompt_len`-token prompt, `new_tokens` each, on
/// weights in the format `weights` names; `bandwidth` (bytes/s) gives the bound.
pub fn generation(base: &Base, weights: &str, bandwidth: f64, batch: usize, prompt_len: usize, new_tokens: usize) -> Result<Row> {
	let prompts: Vec<Vec<u32>> = (0..batch).map(|r| prompt(base, prompt_len, r)).collect();
	// Rows may stop early at end of text: only tokens actually generated are counted.
	let s = Sampling { max_tokens: new_tokens, ..Default::default() };
	generate_ids(&base.model, &base.tokenizer, &prompts[..1], None, &Sampling { max_tokens: 2, ..s.clone() })?;
	let t = Instant::now();
	let out = generate_ids(&base.model, &base.tokenizer, &prompts, None, &s)?;
	let seconds = t.elapsed().as_secs_f64();
	let tokens: u64 = out.iter().map(|r| r.len() as u64).sum();
	Ok(Row {
		model: base.id.clone(),
		task: "generate".into(),
		batch,
		seq: prompt_len,
		tokens,
		seconds,
		tokens_per_second: tokens as f64 / seconds,
		threads: crate::threads::current(),
		weights: weights.into(),
		bound_tokens_per_second: Some(bandwidth / base.model.decode_bytes() as f64 * batch as f64),
	})
}

/// The benchmarks' LoRA training step: a rank-8 q/v adapter trained with AdamW (lr 1e-4) on the
/// mean loss over every predicted token of `rows` (each `seq + 1` tokens), as the PyTorch step
/// of `scripts/bench-engine` computes it. Also the training job `bench serve` runs beside the
/// server.
pub struct LoraStep {
	lora: Lora,
	optim: burn::optim::ModuleOptimizer,
	inputs: Vec<Vec<u32>>,
	targets: Vec<Vec<u32>>,
	weights: Vec<f32>,
}

impl LoraStep {
	pub fn new(model: &Llama, id: &str, rows: &[Vec<u32>], seq: usize) -> Result<Self> {
		let ad = model.device().clone().autodiff();
		let cfg = LoraConfig::new(8, 16.0, vec![Target::Q, Target::V], id)?;
		Ok(LoraStep {
			lora: Lora::init(cfg, &model.config, 0, &ad),
			optim: AdamWConfig::new().with_weight_decay(0.0).init(),
			inputs: rows.iter().map(|r| r[..seq].to_vec()).collect(),
			targets: rows.iter().map(|r| r[1..=seq].to_vec()).collect(),
			weights: vec![1.0 / (rows.len() * seq) as f32; rows.len() * seq],
		})
	}

	/// One step: forward, backward, AdamW.
	pub fn step(mut self, model: &Llama) -> Result<Self> {
		let (_, grads) = batch_gradients(model, &self.lora, &self.inputs, &self.targets, &self.weights)?;
		self.lora.weights = self.optim.step(1e-4, self.lora.weights, grads);
		Ok(self)
	}
}

/// LoRA training throughput: `steps` timed steps (after one warm-up) of `batch` × `seq`.
pub fn lora_steps(base: &Base, batch: usize, seq: usize, steps: usize) -> Result<Row> {
	let data: Vec<Vec<u32>> = (0..batch).map(|r| prompt(base, seq + 1, r)).collect();
	let mut step = LoraStep::new(&base.model, &base.id, &data, seq)?;
	let mut t = Instant::now();
	for i in 0..=steps {
		if i == 1 {
			t = Instant::now(); // step 0 warms up
		}
		step = step.step(&base.model)?;
	}
	let seconds = t.elapsed().as_secs_f64();
	let tokens = (steps * batch * seq) as u64;
	Ok(Row {
		model: base.id.clone(),
		task: "lora-train".into(),
		batch,
		seq,
		tokens,
		seconds,
		tokens_per_second: tokens as f64 / seconds,
		threads: crate::threads::current(),
		weights: "f32".into(),
		bound_tokens_per_second: None,
	})
}

/// The table `mnemo-engine bench` prints.
pub fn table(rows: &[Row]) -> String {
	let mut out = format!(
		"{:<14} {:<11} {:>7} {:>5} {:>5} {:>8} {:>9} {:>10} {:>7} {:>9} {:>8}\n",
		"model", "task", "weights", "batch", "seq", "tokens", "seconds", "tokens/s", "threads", "bound/s", "of bound"
	);
	for r in rows {
		let (bound, of) = match r.bound_tokens_per_second {
			Some(b) => (format!("{b:.1}"), format!("{:.2}", r.tokens_per_second / b)),
			None => ("-".into(), "-".into()),
		};
		out.push_str(&format!(
			"{:<14} {:<11} {:>7} {:>5} {:>5} {:>8} {:>9.3} {:>10.1} {:>7} {:>9} {:>8}\n",
			r.model, r.task, r.weights, r.batch, r.seq, r.tokens, r.seconds, r.tokens_per_second, r.threads, bound, of
		));
	}
	out
}

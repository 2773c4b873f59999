//! ModelFactory: LoRA fine-tuning of a frozen base model on contributions, and the evaluation of
//! base versus adapter on the held-out split.
//!
//! Training defaults (also written into `metrics.json`, and part of what any downstream digest
//! covers): chunks of 128 predicted tokens, batches of 8 chunks (right-padded, padding masked),
//! AdamW (β 0.9/0.999, ε 1e-8, no weight decay) with gradient-norm clipping at 1.0, learning rate
//! warmed up linearly over the first 10% of steps (at most 20) then constant, chunks shuffled
//! per epoch from the seed, loss on completions only for prompt/completion rows.
//!
//! Evaluation sums each chunk's token losses on the host in f64, in a fixed order, so the same
//! inputs give bit-identical metrics on the same backend.

pub mod data;
pub mod plot;
pub mod validate;

use crate::{
	train::data::{split, Chunk, Contribution, DataSettings, Split},
	error::{Error, Result},
	model::lora::{Lora, LoraConfig},
	model::Llama,
	model::tokenizer::Tokenizer,
};
use mnemo_primitives::engine::{DatanetEval, LossPpl};
use burn::{
	grad_clipping::GradientClippingConfig,
	optim::{AdamWConfig, GradientsParams},
	tensor::Tensor,
};
use rand::{seq::SliceRandom, SeedableRng};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of one training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
	pub rank: usize,
	pub alpha: f64,
	pub targets: Vec<String>,
	pub epochs: usize,
	pub learning_rate: f64,
	pub seed: u64,
	pub batch: usize,
	pub data: DataSettings,
}

impl Default for TrainSettings {
	fn default() -> Self {
		TrainSettings {
			rank: 8,
			alpha: 16.0,
			targets: vec!["q_proj".into(), "v_proj".into()],
			epochs: 1,
			learning_rate: 1e-3,
			seed: 0,
			batch: 8,
			data: DataSettings::default(),
		}
	}
}

/// Most epochs and largest batch accepted.
pub const MAX_EPOCHS: usize = 1000;
pub const MAX_BATCH: usize = 256;

impl TrainSettings {
	/// Checks every setting and returns the adapter's config for a base model `base`.
	pub fn check(&self, base: &str) -> Result<LoraConfig> {
		self.data.check()?;
		if self.epochs == 0 || self.epochs > MAX_EPOCHS {
			return Err(Error::bad(format!("epochs {} is out of range 1..={MAX_EPOCHS}", self.epochs)));
		}
		if self.batch == 0 || self.batch > MAX_BATCH {
			return Err(Error::bad(format!("batch {} is out of range 1..={MAX_BATCH}", self.batch)));
		}
		if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate < 1.0) {
			return Err(Error::bad(format!("learning rate {} must be in (0, 1)", self.learning_rate)));
		}
		LoraConfig::new(self.rank, self.alpha, crate::model::lora::Target::parse_list(&self.targets)?, base)
	}
}

/// Mean loss (nats per predicted token) and perplexity of `nll` summed over `tokens`.
fn loss_ppl(nll: f64, tokens: u64) -> LossPpl {
	let loss = if tokens == 0 { 0.0 } else { nll / tokens as f64 };
	LossPpl { loss, perplexity: loss.exp() }
}

/// Base versus adapter on one group of held-out chunks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupEval {
	pub eval_tokens: u64,
	pub base: LossPpl,
	pub adapter: LossPpl,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContributionEval {
	pub contribution: String,
	pub content_hash: String,
	#[serde(skip_serializing_if = "Option::is_none")]
	pub datanet: Option<(u32, u32)>,
	#[serde(flatten)]
	pub eval: GroupEval,
}

/// The `eval` part of `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
	pub eval_tokens: u64,
	pub base: LossPpl,
	pub adapter: LossPpl,
	pub per_contribution: Vec<ContributionEval>,
	/// In the chain's terms: what `POST /v1/train` and `POST /v1/eval` answer.
	pub per_datanet: Vec<DatanetEval>,
}

/// The `train` part of `metrics.json` (no timings, so the file is deterministic).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
	pub settings: TrainSettings,
	pub base_model: String,
	pub train_chunks: usize,
	pub eval_chunks: usize,
	pub train_tokens: u64,
	pub steps: usize,
	/// Mean training loss of every step.
	pub losses: Vec<f64>,
}

/// `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
	pub eval: Evaluation,
	pub train: TrainLog,
}

/// What a step reports while training runs.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
	pub step: usize,
	pub steps: usize,
	pub loss: f64,
	pub tokens: u64,
}

/// A trained adapter and its metrics.
pub struct Trained {
	pub lora: Lora,
	pub metrics: Metrics,
}

/// Inputs and mask of a batch: rows right-padded with `pad` to the longest.
fn batch_rows(chunks: &[&Chunk], pad: u32) -> (Vec<Vec<u32>>, Vec<Vec<u32>>, Vec<f32>) {
	let len = chunks.iter().map(|c| c.tokens.len() - 1).max().unwrap_or(0);
	let mut inputs = Vec::new();
	let mut targets = Vec::new();
	let mut mask = Vec::new();
	for c in chunks {
		let n = c.tokens.len() - 1;
		let mut i = c.tokens[..n].to_vec();
		let mut t = c.tokens[1..].to_vec();
		i.resize(len, pad);
		t.resize(len, pad);
		inputs.push(i);
		targets.push(t);
		mask.extend(c.mask.iter().map(|&m| m as u8 as f32));
		mask.extend(std::iter::repeat_n(0.0, len - n));
	}
	(inputs, targets, mask)
}

/// Per-position negative log-likelihood (`batch × len`, row-major) of `targets` after `inputs`.
pub(crate) fn token_nll(model: &Llama, inputs: &[Vec<u32>], targets: &[Vec<u32>], lora: Option<&Lora>) -> Vec<f32> {
	model.head_nll(rows(model.hidden(inputs, lora, None)), &targets.concat())
}

/// `[batch, len, hidden]` as `[batch · len, hidden]`.
pub(crate) fn rows(h: Tensor<3>) -> Tensor<2> {
	let [b, t, d] = h.dims();
	h.reshape([b * t, d])
}

/// Sequences a training task takes at once: as many as make up this many tokens (at least one).
/// Fewer rows per product and the weights' packing dominates; more, and there are fewer tasks
/// than threads. Measured on SmolLM2, batch 8 × 64, two threads: 1 row per task 181 tok/s,
/// 2 rows 208, 4 rows 228, all 8 rows in one task 177.
pub const TOKENS_PER_TASK: usize = 256;

/// The loss `Σ weights · nll` of a batch (`weights`: one per target, row-major) and its
/// gradient for `lora`'s weights. The batch is cut into tasks of [`TOKENS_PER_TASK`] tokens'
/// worth of sequences, each a task of its own on the compute pool: its forward and backward
/// pass run with a fork of the adapter (its own autodiff leaves), so the threads share the
/// element-wise work, the small products and the bookkeeping, not only the large products. The
/// tasks' gradients are summed in task order, and the cut depends only on the batch's shape,
/// so the result is the same at any thread count.
pub fn batch_gradients(model: &Llama, lora: &Lora, inputs: &[Vec<u32>], targets: &[Vec<u32>], weights: &[f32]) -> Result<(f64, GradientsParams)> {
	use rayon::prelude::*;
	let t = inputs.first().map_or(0, Vec::len);
	if inputs.is_empty() || t == 0 || targets.len() != inputs.len() || weights.len() != inputs.len() * t {
		return Err(Error::Internal("a batch needs rows of equal length, one weight per target".into()));
	}
	let per_task: Vec<Result<(f64, Vec<Tensor<2>>)>> = crate::threads::run(|| {
		let shard = (TOKENS_PER_TASK / t).max(1);
		(0..inputs.len().div_ceil(shard))
			.into_par_iter()
			.with_max_len(1)
			.map(|i| {
				let (a, b) = (i * shard, ((i + 1) * shard).min(inputs.len()));
				let fork = lora.fork();
				let h = rows(model.hidden(&inputs[a..b], Some(&fork), None));
				let loss = model.head_loss(h, &targets[a..b].concat(), &weights[a * t..b * t]);
				Ok((loss.value, fork.gradients(&loss.backward.backward())?))
			})
			.collect()
	});
	let mut value = 0f64;
	let mut sum: Option<Vec<Tensor<2>>> = None;
	for task in per_task {
		let (v, g) = task?;
		value += v;
		sum = Some(match sum {
			None => g,
			Some(acc) => acc.into_iter().zip(g).map(|(a, b)| a + b).collect(),
		});
	}
	let mut grads = GradientsParams::new();
	for (pair, g) in lora.weights.pairs.iter().zip(sum.unwrap_or_default().chunks_exact(2)) {
		grads.register(pair.a.id, g[0].clone());
		grads.register(pair.b.id, g[1].clone());
	}
	Ok((value, grads))
}

/// Summed loss and target count of each chunk, base (no adapter) or with `lora`.
pub fn chunk_losses(model: &Llama, lora: Option<&Lora>, chunks: &[&Chunk], batch: usize, pad: u32) -> Vec<(f64, u64)> {
	// On the compute pool: the threaded products and everything between them run on its threads.
	crate::threads::run(|| {
		let mut out = Vec::with_capacity(chunks.len());
		for group in chunks.chunks(batch.max(1)) {
			let (inputs, targets, mask) = batch_rows(group, pad);
			let len = inputs[0].len();
			let nll = token_nll(model, &inputs, &targets, lora);
			for (r, c) in group.iter().enumerate() {
				let mut sum = 0f64;
				for j in 0..len {
					if mask[r * len + j] > 0.0 {
						sum += nll[r * len + j] as f64;
					}
				}
				out.push((sum, c.targets() as u64));
			}
		}
		out
	})
}

/// The held-out chunks evaluated: all of them, or per datanet the first (in split-key order)
/// up to `max_eval_tokens` targets.
fn capped<'a>(eval: &'a [Chunk], contributions: &[Contribution], max_tokens: usize) -> Vec<&'a Chunk> {
	let mut sorted: Vec<&Chunk> = eval.iter().collect();
	sorted.sort_by(|a, b| a.key.cmp(&b.key));
	if max_tokens == 0 {
		return sorted;
	}
	let mut used: std::collections::BTreeMap<Option<(u32, u32)>, usize> = Default::default();
	sorted
		.into_iter()
		.filter(|c| {
			let n = used.entry(contributions[c.contribution].datanet).or_default();
			let keep = *n < max_tokens;
			*n += c.targets();
			keep
		})
		.collect()
}

/// Base versus adapter on the held-out split, per contribution and per datanet.
pub fn evaluate(model: &Llama, lora: &Lora, contributions: &[Contribution], data: &Split, s: &DataSettings, batch: usize, pad: u32) -> Evaluation {
	let chunks = capped(&data.eval, contributions, s.max_eval_tokens);
	let base = chunk_losses(model, None, &chunks, batch, pad);
	let adapted = chunk_losses(model, Some(lora), &chunks, batch, pad);
	let group = |pick: &dyn Fn(&Chunk) -> bool| -> GroupEval {
		let (mut bn, mut an, mut n) = (0f64, 0f64, 0u64);
		for (i, c) in chunks.iter().enumerate() {
			if pick(c) {
				bn += base[i].0;
				an += adapted[i].0;
				n += base[i].1;
			}
		}
		GroupEval { eval_tokens: n, base: loss_ppl(bn, n), adapter: loss_ppl(an, n) }
	};
	let all = group(&|_| true);
	let per_contribution = contributions
		.iter()
		.enumerate()
		.map(|(i, c)| ContributionEval {
			contribution: c.label.clone(),
			content_hash: c.hash.to_hex(),
			datanet: c.datanet,
			eval: group(&|ch| ch.contribution == i),
		})
		.collect();
	let mut datanets: Vec<(u32, u32)> = contributions.iter().filter_map(|c| c.datanet).collect();
	datanets.sort();
	datanets.dedup();
	let per_datanet = datanets
		.into_iter()
		.map(|(datanet, version)| {
			let g = group(&|ch| contributions[ch.contribution].datanet == Some((datanet, version)));
			DatanetEval { datanet, version, eval_tokens: g.eval_tokens, base: g.base, adapter: g.adapter }
		})
		.collect();
	Evaluation { eval_tokens: all.eval_tokens, base: all.base, adapter: all.adapter, per_contribution, per_datanet }
}

/// Fine-tunes a LoRA adapter for `model` on `contributions`, then evaluates it.
pub fn train(
	model: &Llama,
	tok: &Tokenizer,
	base_model: &str,
	contributions: &[Contribution],
	s: &TrainSettings,
	mut progress: impl FnMut(Progress),
) -> Result<Trained> {
	let config = s.check(base_model)?;
	if contributions.is_empty() {
		return Err(Error::bad("no contributions to train on"));
	}
	if s.data.chunk_len + 1 > model.config.max_seq {
		return Err(Error::bad(format!("chunk length {} exceeds the model's context {}", s.data.chunk_len, model.config.max_seq - 1)));
	}
	let data = split(contributions, tok, &s.data)?;
	let ad = model.device().clone().autodiff();
	let mut lora = Lora::init(config.clone(), &model.config, s.seed, &ad);
	let mut optim = AdamWConfig::new()
		.with_weight_decay(0.0)
		.with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
		.init();
	let per_epoch = data.train.len().div_ceil(s.batch);
	let steps = per_epoch * s.epochs;
	let warmup = (steps / 10).clamp(1, 20);
	let mut losses = Vec::with_capacity(steps);
	let mut tokens = 0u64;
	let mut order: Vec<usize> = (0..data.train.len()).collect();
	let mut step = 0;
	for epoch in 0..s.epochs {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
		order.shuffle(&mut rng);
		for idx in order.chunks(s.batch) {
			let group: Vec<&Chunk> = idx.iter().map(|&i| &data.train[i]).collect();
			let (inputs, targets, mask) = batch_rows(&group, tok.eos);
			let count: f32 = mask.iter().sum();
			let weights: Vec<f32> = mask.iter().map(|m| m / count.max(1.0)).collect();
			let (value, grads) = batch_gradients(model, &lora, &inputs, &targets, &weights)?;
			if !value.is_finite() {
				return Err(Error::Internal(format!("training diverged at step {step} (loss {value}); lower the learning rate")));
			}
			let lr = s.learning_rate * ((step + 1) as f64 / warmup as f64).min(1.0);
			lora.weights = optim.step(lr, lora.weights, grads);
			step += 1;
			tokens += count as u64;
			losses.push(value);
			progress(Progress { step, steps, loss: value, tokens });
		}
	}
	// Evaluate exactly what is saved: the adapter as its safetensors bytes, loaded back.
	let bytes = lora.to_safetensors()?;
	let lora = Lora::from_safetensors(&bytes, None, &model.config, model.device())?;
	let eval = evaluate(model, &lora, contributions, &data, &s.data, s.batch, tok.eos);
	let train = TrainLog {
		settings: s.clone(),
		base_model: base_model.to_string(),
		train_chunks: data.train.len(),
		eval_chunks: data.eval.len(),
		train_tokens: tokens,
		steps,
		losses,
	};
	Ok(Trained { lora, metrics: Metrics { eval, train } })
}

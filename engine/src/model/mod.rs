//! The Llama-architecture decoder: token embedding, `layers` blocks of (RMSNorm, grouped-query
//! attention with rotate-half RoPE, RMSNorm, SwiGLU MLP), a final RMSNorm and an LM head tied to
//! the embedding, or its own `lm_head.weight` (GGUF's `output.weight`) when the file has one. It
//! runs on whichever burn device it was loaded on (`flex` CPU by default, `cuda` with the
//! feature); nothing in it names a backend.
//!
//! Weights are frozen constants. Trainable low-rank adapters ([`crate::model::lora::Lora`]) are passed
//! to [`Llama::forward`] and added to the projections they target, so one base model in memory
//! serves the base and any number of adapters.

pub mod cache;
pub mod generate;
pub mod gguf;
mod host;
pub mod lora;
pub mod quant;
pub mod tokenizer;

use crate::{
	error::{Error, Result},
	model::gguf::Gguf,
	model::lora::{Lora, Target},
};
use burn::tensor::{activation, Device, Int, Tensor, TensorData};
pub use cache::{KvArena, KvCache, KvSpan};
use quant::QMatrix;
use std::sync::Arc;
use rand::{Rng, SeedableRng};

/// Shape of a Llama model.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Config {
	pub vocab: usize,
	pub hidden: usize,
	pub intermediate: usize,
	pub layers: usize,
	pub heads: usize,
	pub kv_heads: usize,
	pub head_dim: usize,
	pub rope_theta: f64,
	pub rms_eps: f64,
	/// Longest sequence (prompt and output) the model is run on.
	pub max_seq: usize,
}

impl Config {
	/// SmolLM2-135M(-Instruct).
	pub fn smollm2_135m() -> Self {
		Config {
			vocab: 49152,
			hidden: 576,
			intermediate: 1536,
			layers: 30,
			heads: 9,
			kv_heads: 3,
			head_dim: 64,
			rope_theta: 100_000.0,
			rms_eps: 1e-5,
			max_seq: 2048,
		}
	}

	/// The tiny model of the same architecture the tests train (about 0.3M parameters).
	pub fn tiny(vocab: usize) -> Self {
		Config {
			vocab,
			hidden: 96,
			intermediate: 256,
			layers: 3,
			heads: 4,
			kv_heads: 2,
			head_dim: 24,
			rope_theta: 10_000.0,
			rms_eps: 1e-5,
			max_seq: 256,
		}
	}

	/// Input and output width of a projection.
	pub fn dims(&self, t: Target) -> (usize, usize) {
		let (h, q, kv, i) =
			(self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim, self.intermediate);
		match t {
			Target::Q => (h, q),
			Target::K | Target::V => (h, kv),
			Target::O => (q, h),
			Target::Gate | Target::Up => (h, i),
			Target::Down => (i, h),
		}
	}

	pub fn parameters(&self) -> usize {
		let per_layer: usize =
			Target::ALL.iter().map(|t| self.dims(*t)).map(|(i, o)| i * o).sum::<usize>() + 2 * self.hidden;
		self.vocab * self.hidden + self.layers * per_layer + self.hidden
	}

	fn check(&self) -> Result<(), String> {
		let ok = self.vocab > 0 &&
			self.hidden > 0 &&
			self.layers > 0 &&
			self.heads > 0 &&
			self.kv_heads > 0 &&
			self.heads % self.kv_heads == 0 &&
			self.head_dim % 2 == 0 &&
			self.max_seq > 0;
		ok.then_some(()).ok_or_else(|| format!("inconsistent model shape {self:?}"))
	}
}

/// One decoder block's weights.
#[derive(Clone)]
pub struct Block {
	attn_norm: Tensor<1>,
	ffn_norm: Tensor<1>,
	/// q, k, v, o, gate, up, down in [`Target::ALL`] order.
	proj: [Weight; 7],
}

/// A projection's weights: f32 stored `[in, out]` so `x · W` is a plain matmul, or quantised
/// blocks (`[out, in]`) multiplied by [`QMatrix::matmul`] (a serving model, [`Llama::quantized`]).
#[derive(Clone)]
enum Weight {
	F32(Tensor<2>),
	Quant(Arc<QMatrix>),
}

impl Weight {
	/// The `[in, out]` f32 matrix (dequantised for Q8_0).
	fn f32(&self, device: &Device) -> Tensor<2> {
		match self {
			Weight::F32(w) => w.clone(),
			Weight::Quant(q) => Tensor::<2>::from_data(TensorData::new(q.dequantize(), [q.out, q.inp]), device).transpose(),
		}
	}

	/// `x · W` for the rows `x`: the quantised product for a few rows, the f32 one otherwise.
	fn apply(&self, x: Tensor<2>, device: &Device) -> Tensor<2> {
		if let Weight::Quant(q) = self {
			if let Some(y) = quantised_product(q, &x, device) {
				return y;
			}
		}
		x.matmul(self.f32(device))
	}
}

/// `x · Wᵀ` by [`QMatrix::matmul`] when `x` has few enough rows for it ([`quant::DIRECT_ROWS`]);
/// `None` otherwise (the caller uses the f32 product).
fn quantised_product(q: &QMatrix, x: &Tensor<2>, device: &Device) -> Option<Tensor<2>> {
	let rows = x.dims()[0];
	(rows <= quant::DIRECT_ROWS)
		.then(|| Tensor::<2>::from_data(TensorData::new(q.matmul(&x.clone().to_host(), rows), [rows, q.out]), device))
}

/// A loaded model.
pub struct Llama {
	pub config: Config,
	device: Device,
	embed: Tensor<2>,
	/// The LM head `[vocab, hidden]` when it is not the embedding (an untied `lm_head.weight`,
	/// GGUF's `output.weight`).
	head: Option<Tensor<2>>,
	blocks: Vec<Block>,
	norm: Tensor<1>,
	cos: Tensor<2>,
	sin: Tensor<2>,
	/// The LM head (the embedding) in Q8_0, for the last rows of decode steps (a quantised
	/// model).
	head_q8: Option<Arc<QMatrix>>,
	/// Host copies of the norms and rotary tables for small forward passes of a quantised model
	/// ([`host`]).
	host: Option<Arc<host::HostTables>>,
	/// Base projection matmuls run so far (each of q, k, v, o, gate, up, down in each layer
	/// counts one per forward pass, whatever the batch): what the serving tests count.
	pub base_matmuls: std::sync::atomic::AtomicU64,
}

/// A low-rank update added to the projections of a forward pass: one adapter ([`Lora`]) for
/// every row, or a different adapter per row (the serving bank's gathered path).
pub trait LowRank {
	/// The update `[n, out]` for the rows `x: [n, in]` of `layer`'s `target` projection, or
	/// `None` when no row's adapter targets it.
	fn delta(&self, layer: usize, target: Target, x: Tensor<2>) -> Option<Tensor<2>>;
}

impl LowRank for Lora {
	fn delta(&self, layer: usize, target: Target, x: Tensor<2>) -> Option<Tensor<2>> {
		Lora::delta(self, layer, target, x)
	}
}

/// One sequence of a ragged batch: the tokens it adds this step and its span of the arena's
/// KV cache.
pub struct SeqStep<'a> {
	pub tokens: &'a [u32],
	pub span: &'a mut KvSpan,
}

/// Logits the LM head computes at a time in [`Llama::head_loss`] (16 MiB of f32): rows enough
/// to keep the matrix products efficient, few enough that a training batch's logits are never
/// materialised whole (512 rows × 49,152 words would be 100 MB, and autodiff kept several).
pub const HEAD_CHUNK_ELEMENTS: usize = 1 << 22;

/// What [`Llama::head_loss`] computes.
pub struct HeadLoss {
	/// Each row's negative log-likelihood of its target (nats).
	pub nll: Vec<f32>,
	/// `Σ weights · nll`, summed in f64 in row order.
	pub value: f64,
	/// A scalar whose gradient with respect to the hidden states is the loss's (its value is
	/// not the loss).
	pub backward: Tensor<1>,
}

/// Weights in Hugging Face's orientation (`[out, in]` matrices) by HF-style name, row-major.
pub trait WeightSource {
	fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>>;
	/// Whether the source holds an optional weight (`lm_head.weight`, absent when the LM head
	/// is tied to the embedding).
	fn has(&self, _name: &str) -> bool {
		false
	}
}

impl Llama {
	/// Builds the model from weights named as in Hugging Face's `LlamaForCausalLM`
	/// (`model.layers.{i}.self_attn.q_proj.weight`, ...; `model.embed_tokens.weight` doubles as
	/// the LM head unless the source has its own `lm_head.weight`).
	pub fn from_source(config: Config, source: &dyn WeightSource, device: &Device) -> Result<Self> {
		config.check().map_err(Error::Internal)?;
		let (h, v) = (config.hidden, config.vocab);
		let mat = |name: &str, rows: usize, cols: usize| -> Result<Tensor<2>> {
			let data = source.get(name, &[rows, cols])?;
			Ok(Tensor::<2>::from_data(TensorData::new(data, [rows, cols]), device))
		};
		let vec = |name: &str, n: usize| -> Result<Tensor<1>> {
			Ok(Tensor::<1>::from_data(TensorData::new(source.get(name, &[n])?, [n]), device))
		};
		let embed = mat("model.embed_tokens.weight", v, h)?;
		let head = if source.has("lm_head.weight") { Some(mat("lm_head.weight", v, h)?) } else { None };
		let mut blocks = Vec::with_capacity(config.layers);
		for l in 0..config.layers {
			let p = format!("model.layers.{l}");
			let proj = |t: Target| -> Result<Tensor<2>> {
				let (i, o) = config.dims(t);
				Ok(mat(&format!("{p}.{}.weight", t.hf_path()), o, i)?.transpose())
			};
			blocks.push(Block {
				attn_norm: vec(&format!("{p}.input_layernorm.weight"), h)?,
				ffn_norm: vec(&format!("{p}.post_attention_layernorm.weight"), h)?,
				proj: [
					Weight::F32(proj(Target::Q)?),
					Weight::F32(proj(Target::K)?),
					Weight::F32(proj(Target::V)?),
					Weight::F32(proj(Target::O)?),
					Weight::F32(proj(Target::Gate)?),
					Weight::F32(proj(Target::Up)?),
					Weight::F32(proj(Target::Down)?),
				],
			});
		}
		let norm = vec("model.norm.weight", h)?;
		let (cos, sin) = rope_tables(&config, device);
		Ok(Llama {
			config,
			device: device.clone(),
			embed,
			head,
			blocks,
			norm,
			cos,
			sin,
			head_q8: None,
			host: None,
			base_matmuls: Default::default(),
		})
	}

	/// Loads a llama.cpp GGUF file: shape from `llama.*`, weights dequantised to f32 and the
	/// q/k rows put back in Hugging Face's order.
	pub fn from_gguf(g: &Gguf, max_seq: usize, device: &Device) -> Result<Self> {
		let arch = g.get("general.architecture")?.as_str().unwrap_or_default().to_string();
		if arch != "llama" {
			return Err(Error::format(g.path(), format!("architecture `{arch}` is not llama")));
		}
		let u = |k: &str| g.get_u64(&format!("llama.{k}")).map(|v| v as usize);
		let hidden = u("embedding_length")?;
		let heads = u("attention.head_count")?;
		// The width of a head: the file's key length when it gives one (models whose heads are
		// not `hidden / heads` wide), else `hidden / heads`.
		let head_dim = u("attention.key_length").unwrap_or(hidden / heads.max(1));
		if let Ok(v) = u("attention.value_length") {
			if v != head_dim {
				return Err(Error::format(g.path(), format!("value heads {v} wide and key heads {head_dim} wide are not supported")));
			}
		}
		if let Ok(t) = g.get("llama.rope.scaling.type") {
			let t = t.as_str().unwrap_or("?");
			if t != "none" {
				return Err(Error::format(g.path(), format!("RoPE scaling `{t}` is not supported (only unscaled RoPE)")));
			}
		}
		if let Ok(r) = u("rope.dimension_count") {
			if r != head_dim {
				return Err(Error::format(g.path(), format!("RoPE over {r} of a head's {head_dim} dimensions is not supported (only the whole head)")));
			}
		}
		let config = Config {
			vocab: g.info("token_embd.weight")?.dims.get(1).copied().unwrap_or(0) as usize,
			hidden,
			intermediate: u("feed_forward_length")?,
			layers: u("block_count")?,
			heads,
			kv_heads: u("attention.head_count_kv").unwrap_or(heads),
			head_dim,
			rope_theta: g.get_f64("llama.rope.freq_base").unwrap_or(10_000.0),
			rms_eps: g.get_f64("llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
			max_seq: max_seq.min(u("context_length").unwrap_or(max_seq)),
		};
		Self::from_source(config.clone(), &GgufWeights { g, config: &config }, device)
	}

	pub fn device(&self) -> &Device {
		&self.device
	}

	/// The LM head `[vocab, hidden]`: its own weights, or the embedding's when tied.
	fn head_weights(&self) -> Tensor<2> {
		self.head.clone().unwrap_or_else(|| self.embed.clone())
	}

	/// Logits `[batch, len, vocab]` for `tokens` (`batch` rows of equal length), continuing the
	/// positions in `cache` when one is given, with `lora` added to the projections it targets.
	pub fn forward(&self, tokens: &[Vec<u32>], lora: Option<&Lora>, cache: Option<&mut KvCache>) -> Tensor<3> {
		let h = self.hidden(tokens, lora, cache);
		let [b, t, d] = h.dims();
		self.lm_head(h.reshape([b * t, d])).reshape([b, t, self.config.vocab])
	}

	/// Logits `[n, vocab]` of the final hidden states `[n, hidden]`: the Q8_0 head for a few
	/// rows of a quantised model, the f32 embedding otherwise.
	fn lm_head(&self, h: Tensor<2>) -> Tensor<2> {
		match self.head_q8.as_ref().and_then(|q| quantised_product(q, &h, &self.device)) {
			Some(logits) => logits,
			None => h.matmul(self.head_weights().transpose()),
		}
	}

	/// The negative log-likelihood of each `targets[r]` under the LM head at the hidden state
	/// `hidden[r]` (`[n, hidden]`: [`Self::hidden`] reshaped to rows), computed
	/// [`HEAD_CHUNK_ELEMENTS`] logits at a time, so the `[n, vocabulary]` logits and their
	/// log-softmax are never held whole.
	pub fn head_nll(&self, hidden: Tensor<2>, targets: &[u32]) -> Vec<f32> {
		self.head(hidden.inner(), targets, None).0
	}

	/// The loss `Σ_r weights[r] · nll[r]` of [`Self::head_nll`], and a scalar to call
	/// `backward()` on whose gradient with respect to `hidden` is the loss's:
	/// `(softmax(z_r) − onehot(y_r)) · E · weights[r]` per row, from the same chunks of logits.
	/// No autodiff graph is recorded over the logits (the head is frozen), which saves the
	/// memory and the passes of differentiating the log-softmax op by op.
	pub fn head_loss(&self, hidden: Tensor<2>, targets: &[u32], weights: &[f32]) -> HeadLoss {
		let (nll, grad) = self.head(hidden.clone().inner(), targets, Some(weights));
		let value = nll.iter().zip(weights).map(|(l, w)| f64::from(*l) * f64::from(*w)).sum();
		HeadLoss { nll, value, backward: (hidden * grad.expect("weights were given")).sum() }
	}

	/// Per-row NLL and, with `weights`, the weighted gradient with respect to the rows `h`.
	/// The log-softmax runs on the host, rows spread over the compute threads: each row is
	/// summed by one thread in index order, so the answer does not depend on the thread count.
	fn head(&self, h: Tensor<2>, targets: &[u32], weights: Option<&[f32]>) -> (Vec<f32>, Option<Tensor<2>>) {
		use rayon::prelude::*;
		let [n, _] = h.dims();
		let vocab = self.config.vocab;
		assert_eq!(n, targets.len(), "one target per row");
		assert!(weights.is_none_or(|w| w.len() == n), "one weight per row");
		assert!(targets.iter().all(|&t| (t as usize) < vocab), "targets are token ids of the vocabulary");
		let rows = (HEAD_CHUNK_ELEMENTS / vocab).clamp(1, n.max(1));
		let head = self.head_weights().transpose();
		let mut nll = vec![0f32; n];
		let mut grads = Vec::with_capacity(n.div_ceil(rows));
		for start in (0..n).step_by(rows) {
			let len = rows.min(n - start);
			let z = h.clone().narrow(0, start, len).matmul(head.clone());
			let mut z = z.into_data().try_into_vec::<f32>().expect("f32 logits");
			let out = &mut nll[start..start + len];
			z.par_chunks_mut(vocab).zip(out.par_iter_mut()).enumerate().for_each(|(r, (row, nll))| {
				let target = targets[start + r] as usize;
				let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
				let picked = row[target];
				let mut sum = 0f64;
				for x in row.iter_mut() {
					// Below -104 `expf` is +0 in f32, and glibc takes a slow path to say so
					// (setting errno): a quarter of an attribution's time on the tiny model,
					// whose logits spread widely. Skipping it gives the same bits.
					let d = *x - max;
					*x = if d < -104.0 { 0.0 } else { d.exp() };
					sum += f64::from(*x);
				}
				*nll = (f64::from(max - picked) + sum.ln()) as f32;
				// (softmax − onehot) · weight: the loss's gradient with respect to the logits.
				if let Some(w) = weights {
					let w = w[start + r];
					let scale = (f64::from(w) / sum) as f32;
					row.iter_mut().for_each(|x| *x *= scale);
					row[target] -= w;
				}
			});
			if weights.is_some() {
				let dz = Tensor::<2>::from_data(TensorData::new(z, [len, vocab]), &self.device);
				grads.push(dz.matmul(self.head_weights()));
			}
		}
		let grad = weights.map(|_| if grads.len() == 1 { grads.pop().expect("one chunk") } else { Tensor::cat(grads, 0) });
		(nll, grad)
	}

	/// The final hidden states `[batch, len, hidden]` (after the last norm).
	pub fn hidden(&self, tokens: &[Vec<u32>], lora: Option<&Lora>, mut cache: Option<&mut KvCache>) -> Tensor<3> {
		let c = &self.config;
		let b = tokens.len();
		let t = tokens.first().map_or(0, Vec::len);
		assert!(b > 0 && t > 0 && tokens.iter().all(|r| r.len() == t), "rows of equal, non-zero length");
		let past = cache.as_ref().map_or(0, |c| c.len);
		assert!(past + t <= c.max_seq, "sequence longer than max_seq; callers check this");
		assert!(cache.as_ref().is_none_or(|k| k.rows() == b && past + t <= k.positions()), "callers size the cache");
		let low_rank = lora.map(|l| l as &dyn LowRank);
		let ids: Vec<i64> = tokens.iter().flatten().map(|&i| i as i64).collect();
		let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [b * t]), &self.device);
		let mut x = self.embed.clone().select(0, ids).reshape([b, t, c.hidden]);
		let mask = (t > 1).then(|| causal_mask(t, past, c.heads / c.kv_heads, &self.device));
		if let Some(path) = self.host_path(b * t) {
			let positions: Vec<usize> = (0..b).flat_map(|_| past..past + t).collect();
			let h = {
				let mut attention = |l: usize, q: Vec<f32>, k: Vec<f32>, v: Vec<f32>| {
					let heads = |d: Vec<f32>, h: usize| Tensor::<4>::from_data(TensorData::new(d, [b, t, h, c.head_dim]), &self.device).swap_dims(1, 2);
					let (q, k, v) = (heads(q, c.heads), heads(k, c.kv_heads), heads(v, c.kv_heads));
					let (k, v) = match cache.as_deref_mut() {
						Some(cache) => cache.write(l, past, 0, k, v),
						None => (k, v),
					};
					self.attend(q, k, v, mask.as_ref()).swap_dims(1, 2).reshape([b * t, c.heads * c.head_dim]).to_host()
				};
				self.host_layers(path, x.reshape([b * t, c.hidden]).to_host(), &positions, low_rank, &mut attention)
			};
			if let Some(cache) = cache {
				cache.len += t;
			}
			return Tensor::<3>::from_data(TensorData::new(h, [b, t, c.hidden]), &self.device);
		}
		let cos = self.cos.clone().narrow(0, past, t);
		let sin = self.sin.clone().narrow(0, past, t);
		for (l, block) in self.blocks.iter().enumerate() {
			let proj = |i: usize, x: Tensor<2>| self.project(l, block, i, low_rank, x);
			let xn = rms_norm(x.clone(), &block.attn_norm, c.rms_eps).reshape([b * t, c.hidden]);
			let q = proj(0, xn.clone()).reshape([b, t, c.heads, c.head_dim]).swap_dims(1, 2);
			let k = proj(1, xn.clone()).reshape([b, t, c.kv_heads, c.head_dim]).swap_dims(1, 2);
			let v = proj(2, xn).reshape([b, t, c.kv_heads, c.head_dim]).swap_dims(1, 2);
			let q = rope(q, &cos, &sin);
			let k = rope(k, &cos, &sin);
			let (k, v) = match cache.as_deref_mut() {
				Some(cache) => cache.write(l, past, 0, k, v),
				None => (k, v),
			};
			let attn = self.attend(q, k, v, mask.as_ref()).swap_dims(1, 2).reshape([b * t, c.heads * c.head_dim]);
			x = x + proj(3, attn).reshape([b, t, c.hidden]);
			let xn = rms_norm(x.clone(), &block.ffn_norm, c.rms_eps).reshape([b * t, c.hidden]);
			let update = self.mlp(l, block, low_rank, xn);
			x = x + update.reshape([b, t, c.hidden]);
		}
		if let Some(cache) = cache {
			cache.len += t;
		}
		rms_norm(x, &self.norm, c.rms_eps)
	}

	/// Projection `i` ([`Target::ALL`] order) of `block` (layer `l`) for the rows `x`: the base
	/// matmul plus the low-rank update, if any.
	fn project(&self, l: usize, block: &Block, i: usize, low_rank: Option<&dyn LowRank>, x: Tensor<2>) -> Tensor<2> {
		self.base_matmuls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
		let base = block.proj[i].apply(x.clone(), &self.device);
		match low_rank.and_then(|a| a.delta(l, Target::ALL[i], x)) {
			Some(d) => base + d,
			None => base,
		}
	}

	/// Softmax attention of `q: [b, heads, t, d]` (the last `t` positions) over `k`,
	/// `v: [b, kv_heads, s, d]` (all `s` positions), plus the [`causal_mask`] `mask` (needed when
	/// `t > 1`). The `heads / kv_heads` query heads that share a key head are stacked into one
	/// product against it, so the keys and values are read where they lie (a cache view) and
	/// never repeated per query head.
	fn attend(&self, q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, mask: Option<&Tensor<4>>) -> Tensor<4> {
		let [b, heads, t, d] = q.dims();
		let [_, kv_heads, _, _] = k.dims();
		let rep = heads / kv_heads;
		let q = q.reshape([b, kv_heads, rep * t, d]);
		let mut scores = q.matmul(k.swap_dims(2, 3)).div_scalar((d as f64).sqrt());
		if let Some(m) = mask {
			scores = scores + m.clone();
		}
		activation::softmax(scores, 3).matmul(v).reshape([b, heads, t, d])
	}

	/// The SwiGLU MLP of `block` on the normalised rows `xn`: its residual update.
	fn mlp(&self, l: usize, block: &Block, low_rank: Option<&dyn LowRank>, xn: Tensor<2>) -> Tensor<2> {
		let gate = activation::silu(self.project(l, block, 4, low_rank, xn.clone()));
		let up = self.project(l, block, 5, low_rank, xn);
		self.project(l, block, 6, low_rank, gate * up)
	}

	/// A model of `config` with random weights from `seed` (normal, std 0.02, the embedding 0.4;
	/// norms 1), for
	/// tests and for pretraining the tiny model.
	pub fn random(config: Config, seed: u64, device: &Device) -> Result<Self> {
		struct Random(u64);
		impl WeightSource for Random {
			fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
				let n = shape.iter().product();
				if name.ends_with("norm.weight") {
					return Ok(vec![1.0; n]);
				}
				let seed = self.0 ^ u64::from_le_bytes(mnemo_primitives::ContentHash::of(name.as_bytes()).0[..8].try_into().expect("8"));
				let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
				// The tied embedding is also the LM head: wide enough for confident logits.
				let std = if name == "model.embed_tokens.weight" { 0.4 } else { 0.02 };
				Ok((0..n).map(|_| normal(&mut rng) * std).collect())
			}
		}
		Self::from_source(config, &Random(seed), device)
	}

	/// Every weight in Hugging Face's names and orientation (for writing model files).
	pub fn weights(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
		let host2 = |t: &Tensor<2>| t.clone().to_host();
		let host1 = |t: &Tensor<1>| t.clone().to_host();
		let (h, v) = (self.config.hidden, self.config.vocab);
		let mut out = vec![("model.embed_tokens.weight".to_string(), vec![v, h], host2(&self.embed))];
		for (l, block) in self.blocks.iter().enumerate() {
			let p = format!("model.layers.{l}");
			out.push((format!("{p}.input_layernorm.weight"), vec![h], host1(&block.attn_norm)));
			out.push((format!("{p}.post_attention_layernorm.weight"), vec![h], host1(&block.ffn_norm)));
			for (i, t) in Target::ALL.iter().enumerate() {
				let (inp, outp) = self.config.dims(*t);
				out.push((format!("{p}.{}.weight", t.hf_path()), vec![outp, inp], host2(&block.proj[i].f32(&self.device).transpose())));
			}
		}
		out.push(("model.norm.weight".to_string(), vec![h], host1(&self.norm)));
		if let Some(head) = &self.head {
			out.push(("lm_head.weight".to_string(), vec![v, h], host2(head)));
		}
		out
	}

	/// One forward pass over a ragged batch, as continuous batching runs it: every sequence
	/// brings its own new tokens (a whole prompt when it is admitted, one token per decode step
	/// after, or a prompt in chunks) and its own span of the arena `cache`. The rows of all
	/// sequences go through each base projection together, one matmul per projection per layer,
	/// with `low_rank` adding each row's own adapter update; attention runs per sequence over its
	/// own span, written in place. Returns the final hidden
	/// states of every row (`[Σ tokens, hidden]`, sequences in order) when `last_only` is false,
	/// else of each sequence's last row (`[sequences, hidden]`).
	pub fn hidden_ragged(&self, cache: &mut KvCache, seqs: &mut [SeqStep<'_>], low_rank: Option<&dyn LowRank>, last_only: bool) -> Tensor<2> {
		let c = &self.config;
		assert!(!seqs.is_empty() && seqs.iter().all(|s| !s.tokens.is_empty()), "non-empty sequences");
		assert!(
			seqs.iter().all(|s| s.span.len + s.tokens.len() <= c.max_seq.min(s.span.cap())),
			"callers check the context and the span"
		);
		assert!(cache.rows() == 1 && seqs.iter().all(|s| s.span.start() + s.span.cap() <= cache.positions()), "spans of this arena");
		let n: usize = seqs.iter().map(|s| s.tokens.len()).sum();
		let ids: Vec<i64> = seqs.iter().flat_map(|s| s.tokens.iter().map(|&t| t as i64)).collect();
		let positions: Vec<i64> =
			seqs.iter().flat_map(|s| (s.span.len..s.span.len + s.tokens.len()).map(|p| p as i64)).collect();
		let int = |v: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(v.clone(), [v.len()]), &self.device);
		let mut x = self.embed.clone().select(0, int(ids));
		let positions = int(positions);
		let cos = self.cos.clone().select(0, positions.clone()).unsqueeze_dim::<3>(1);
		let sin = self.sin.clone().select(0, positions).unsqueeze_dim::<3>(1);
		// Each sequence's mask, made once for every layer.
		let masks: Vec<Option<Tensor<4>>> = seqs
			.iter()
			.map(|s| (s.tokens.len() > 1).then(|| causal_mask(s.tokens.len(), s.span.len, c.heads / c.kv_heads, &self.device)))
			.collect();
		let mut last = Vec::with_capacity(seqs.len());
		let mut end = 0;
		for s in seqs.iter() {
			end += s.tokens.len();
			last.push(end - 1);
		}
		if let Some(path) = self.host_path(n) {
			let positions: Vec<usize> = seqs.iter().flat_map(|s| s.span.len..s.span.len + s.tokens.len()).collect();
			let h = {
				let mut attention = |l: usize, q: Vec<f32>, k: Vec<f32>, v: Vec<f32>| {
					let rows = |d: Vec<f32>, h: usize| Tensor::<3>::from_data(TensorData::new(d, [n, h, c.head_dim]), &self.device);
					let (q, k, v) = (rows(q, c.heads), rows(k, c.kv_heads), rows(v, c.kv_heads));
					self.attend_spans(cache, seqs, &masks, l, q, k, v).to_host()
				};
				self.host_layers(path, x.to_host(), &positions, low_rank, &mut attention)
			};
			for s in seqs.iter_mut() {
				s.span.len += s.tokens.len();
			}
			let w = c.hidden;
			let (h, rows) = match last_only {
				true => (last.iter().flat_map(|&r| h[r * w..(r + 1) * w].iter().copied()).collect(), last.len()),
				false => (h, n),
			};
			return Tensor::<2>::from_data(TensorData::new(h, [rows, w]), &self.device);
		}
		for (l, block) in self.blocks.iter().enumerate() {
			let proj = |i: usize, x: Tensor<2>| self.project(l, block, i, low_rank, x);
			let xn = rms_norm(x.clone(), &block.attn_norm, c.rms_eps);
			let q = rope3(proj(0, xn.clone()).reshape([n, c.heads, c.head_dim]), &cos, &sin);
			let k = rope3(proj(1, xn.clone()).reshape([n, c.kv_heads, c.head_dim]), &cos, &sin);
			let v = proj(2, xn).reshape([n, c.kv_heads, c.head_dim]);
			let attn = self.attend_spans(cache, seqs, &masks, l, q, k, v);
			x = x + proj(3, attn);
			let update = self.mlp(l, block, low_rank, rms_norm(x.clone(), &block.ffn_norm, c.rms_eps));
			x = x + update;
		}
		for s in seqs.iter_mut() {
			s.span.len += s.tokens.len();
		}
		if last_only {
			x = x.select(0, int(last.iter().map(|&r| r as i64).collect()));
		}
		rms_norm(x, &self.norm, c.rms_eps)
	}

	/// Layer `l`'s attention for a ragged batch's rows `q: [n, heads, d]`, `k`, `v: [n, kv_heads,
	/// d]`: each sequence's keys and values written into its span, its queries attended over
	/// the span; `[n, heads · d]`, sequences in order.
	#[allow(clippy::too_many_arguments)]
	fn attend_spans(&self, cache: &mut KvCache, seqs: &[SeqStep<'_>], masks: &[Option<Tensor<4>>], l: usize, q: Tensor<3>, k: Tensor<3>, v: Tensor<3>) -> Tensor<2> {
		let c = &self.config;
		let mut outs = Vec::with_capacity(seqs.len());
		let mut off = 0;
		for (s, mask) in seqs.iter().zip(masks) {
			let t = s.tokens.len();
			let heads = |x: Tensor<3>| x.narrow(0, off, t).swap_dims(0, 1).unsqueeze_dim::<4>(0);
			let (start, past) = (s.span.start(), s.span.len);
			let (k, v) = cache.write(l, start + past, start, heads(k.clone()), heads(v.clone()));
			let attn = self.attend(heads(q.clone()), k, v, mask.as_ref());
			outs.push(attn.swap_dims(1, 2).reshape([t, c.heads * c.head_dim]));
			off += t;
		}
		if outs.len() == 1 { outs.pop().expect("one") } else { Tensor::cat(outs, 0) }
	}

	/// Logits for the rows [`Self::hidden_ragged`] returns.
	pub fn logits_ragged(&self, cache: &mut KvCache, seqs: &mut [SeqStep<'_>], low_rank: Option<&dyn LowRank>, last_only: bool) -> Tensor<2> {
		self.lm_head(self.hidden_ragged(cache, seqs, low_rank, last_only))
	}

	/// A copy of this model sharing its tensors, with `lora` merged into the copy's weights
	/// (the single-adapter baseline the serving benchmark compares against).
	pub fn merged(&self, lora: &Lora) -> Llama {
		let mut m = self.clone_shared();
		m.merge(lora);
		m
	}

	/// Another handle on the same weights (burn tensors are shared, not copied), with its own
	/// matmul counter.
	pub fn clone_shared(&self) -> Llama {
		Llama {
			config: self.config.clone(),
			device: self.device.clone(),
			embed: self.embed.clone(),
			head: self.head.clone(),
			blocks: self.blocks.clone(),
			norm: self.norm.clone(),
			cos: self.cos.clone(),
			sin: self.sin.clone(),
			head_q8: self.head_q8.clone(),
			host: self.host.clone(),
			base_matmuls: Default::default(),
		}
	}

	/// A copy for serving with every projection held in `format`'s blocks and the LM head in
	/// Q8_0 (the embedding lookup and the norms stay f32): decode steps read ~1.1 (Q8_0) or
	/// ~0.75 (Q4_1) bytes per weight instead of 4. Q4_1 gives back a Q4_1 file's own values;
	/// Q8_0 of them adds its own rounding. Prompts and training dequantise per product. Errors
	/// when a projection's input width is not a whole number of 32-weight blocks.
	pub fn quantized(&self, format: quant::Format) -> Result<Llama> {
		let mut m = self.clone_shared();
		for block in m.blocks.iter_mut() {
			for w in block.proj.iter_mut() {
				let t = w.f32(&self.device).transpose();
				let [out, inp] = t.dims();
				*w = Weight::Quant(Arc::new(QMatrix::quantize(&t.to_host(), out, inp, format)?));
			}
		}
		let [vocab, hidden] = self.embed.dims();
		m.head_q8 = Some(Arc::new(QMatrix::quantize(&self.head_weights().to_host(), vocab, hidden, quant::Format::Q8_0)?));
		let host1 = |t: &Tensor<1>| t.clone().to_host();
		m.host = Some(Arc::new(host::HostTables {
			norms: self.blocks.iter().map(|b| (host1(&b.attn_norm), host1(&b.ffn_norm))).collect(),
			final_norm: host1(&self.norm),
			cos: self.cos.clone().to_host(),
			sin: self.sin.clone().to_host(),
		}));
		Ok(m)
	}

	/// Bytes of weights one decode step reads (every projection and the LM head; the embedding
	/// rows of the new tokens and the norms are left out).
	pub fn decode_bytes(&self) -> u64 {
		let proj: u64 = self
			.blocks
			.iter()
			.flat_map(|b| b.proj.iter())
			.map(|w| match w {
				Weight::F32(t) => (t.dims()[0] * t.dims()[1] * 4) as u64,
				Weight::Quant(q) => q.bytes(),
			})
			.sum();
		let head = self.head_q8.as_ref().map_or((self.config.vocab * self.config.hidden * 4) as u64, |q| q.bytes());
		proj + head
	}

	/// Subtracts `lora`'s update again (after [`Self::merge`]).
	pub fn unmerge(&mut self, lora: &Lora) {
		self.add_update(lora, -1.0);
	}

	/// Adds `lora`'s low-rank update into the weights it targets (`W += scale · A·B`).
	pub fn merge(&mut self, lora: &Lora) {
		self.add_update(lora, 1.0);
	}

	fn add_update(&mut self, lora: &Lora, sign: f64) {
		for (l, block) in self.blocks.iter_mut().enumerate() {
			for (i, t) in Target::ALL.iter().enumerate() {
				if let Some(delta) = lora.weight_delta(l, *t) {
					block.proj[i] = Weight::F32(block.proj[i].f32(&self.device) + delta.inner().mul_scalar(sign));
				}
			}
		}
	}
}

/// A tensor's values on the host as `f32`.
pub trait ToHost {
	fn to_host(self) -> Vec<f32>;
}

impl<const D: usize> ToHost for Tensor<D> {
	fn to_host(self) -> Vec<f32> {
		self.into_data().convert::<f32>().try_to_vec::<f32>().expect("converted to f32")
	}
}

/// A standard normal sample (Box–Muller), so initialisation depends on nothing but the seed.
pub fn normal(rng: &mut impl Rng) -> f32 {
	let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
	let u2: f64 = rng.random();
	((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

fn rms_norm<const D: usize>(x: Tensor<D>, weight: &Tensor<1>, eps: f64) -> Tensor<D> {
	let rms = (x.clone() * x.clone()).mean_dim(D - 1).add_scalar(eps).sqrt();
	(x / rms) * weight.clone().unsqueeze::<D>()
}

/// cos and sin tables `[max_seq, head_dim]` for rotate-half RoPE (frequencies repeated twice,
/// as Hugging Face's Llama builds them), computed in f64 on the host.
fn rope_tables(c: &Config, device: &Device) -> (Tensor<2>, Tensor<2>) {
	let half = c.head_dim / 2;
	let mut cos = Vec::with_capacity(c.max_seq * c.head_dim);
	let mut sin = Vec::with_capacity(c.max_seq * c.head_dim);
	for pos in 0..c.max_seq {
		for j in 0..c.head_dim {
			let inv = c.rope_theta.powf(-((2 * (j % half)) as f64) / c.head_dim as f64);
			let angle = pos as f64 * inv;
			cos.push(angle.cos() as f32);
			sin.push(angle.sin() as f32);
		}
	}
	let t = |d: Vec<f32>| Tensor::<2>::from_data(TensorData::new(d, [c.max_seq, c.head_dim]), device);
	(t(cos), t(sin))
}

/// `x · cos + rotate_half(x) · sin` for `x: [batch, heads, len, head_dim]`.
fn rope(x: Tensor<4>, cos: &Tensor<2>, sin: &Tensor<2>) -> Tensor<4> {
	let [_, _, _, d] = x.dims();
	let x1 = x.clone().narrow(3, 0, d / 2);
	let x2 = x.clone().narrow(3, d / 2, d / 2);
	let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
	x * cos.clone().unsqueeze::<4>() + rotated * sin.clone().unsqueeze::<4>()
}

/// Rotate-half RoPE for rows `x: [n, heads, head_dim]` at their own positions (`cos`, `sin`:
/// `[n, 1, head_dim]`).
fn rope3(x: Tensor<3>, cos: &Tensor<3>, sin: &Tensor<3>) -> Tensor<3> {
	let [_, _, d] = x.dims();
	let x1 = x.clone().narrow(2, 0, d / 2);
	let x2 = x.clone().narrow(2, d / 2, d / 2);
	let rotated = Tensor::cat(vec![x2.neg(), x1], 2);
	x * cos.clone() + rotated * sin.clone()
}

/// Additive mask `[1, 1, rep · len, past + len]` for `rep` query heads stacked per key head:
/// row `r · len + i` is query `i`, which may see key `j` when `j <= past + i` (0) and not
/// otherwise (a large negative number, finite: burn-flex's fused softmax turns −∞ into NaN).
fn causal_mask(len: usize, past: usize, rep: usize, device: &Device) -> Tensor<4> {
	let s = past + len;
	let data: Vec<f32> = (0..rep * len)
		.flat_map(|row| (0..s).map(move |j| if j <= past + row % len { 0.0 } else { -1e9 }))
		.collect();
	Tensor::<4>::from_data(TensorData::new(data, [1, 1, rep * len, s]), device)
}

/// GGUF tensors under llama.cpp's names, served under Hugging Face's.
struct GgufWeights<'a> {
	g: &'a Gguf,
	config: &'a Config,
}

/// llama.cpp's tensor name for a Hugging Face weight name.
pub fn gguf_name(hf: &str) -> Option<String> {
	if hf == "model.embed_tokens.weight" {
		return Some("token_embd.weight".into());
	}
	if hf == "model.norm.weight" {
		return Some("output_norm.weight".into());
	}
	if hf == "lm_head.weight" {
		return Some("output.weight".into());
	}
	let rest = hf.strip_prefix("model.layers.")?;
	let (layer, module) = rest.split_once('.')?;
	let short = match module {
		"input_layernorm.weight" => "attn_norm",
		"post_attention_layernorm.weight" => "ffn_norm",
		"self_attn.q_proj.weight" => "attn_q",
		"self_attn.k_proj.weight" => "attn_k",
		"self_attn.v_proj.weight" => "attn_v",
		"self_attn.o_proj.weight" => "attn_output",
		"mlp.gate_proj.weight" => "ffn_gate",
		"mlp.up_proj.weight" => "ffn_up",
		"mlp.down_proj.weight" => "ffn_down",
		_ => return None,
	};
	Some(format!("blk.{layer}.{short}.weight"))
}

/// llama.cpp's converter permutes the rows of q and k so that RoPE can rotate adjacent pairs:
/// `w.reshape(heads, 2, d/2, in).swap(1, 2)`. This is that permutation (`inverse = false`) and
/// its inverse, which puts rows back in Hugging Face's rotate-half order.
pub fn permute_rope_rows(w: &[f32], heads: usize, rows: usize, cols: usize, inverse: bool) -> Vec<f32> {
	let hd = rows / heads;
	let half = hd / 2;
	let mut out = vec![0.0; w.len()];
	for h in 0..heads {
		for i in 0..half {
			for pair in 0..2 {
				// HF row `h*hd + pair*half + i` is GGUF row `h*hd + 2*i + pair`.
				let hf = h * hd + pair * half + i;
				let gg = h * hd + 2 * i + pair;
				let (from, to) = if inverse { (gg, hf) } else { (hf, gg) };
				out[to * cols..(to + 1) * cols].copy_from_slice(&w[from * cols..(from + 1) * cols]);
			}
		}
	}
	out
}

impl WeightSource for GgufWeights<'_> {
	fn has(&self, name: &str) -> bool {
		gguf_name(name).is_some_and(|g| self.g.info(&g).is_ok())
	}

	fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
		let gname = gguf_name(name).ok_or_else(|| Error::Internal(format!("no GGUF name for {name}")))?;
		let info = self.g.info(&gname)?;
		let want: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
		if info.dims != want {
			return Err(Error::format(
				self.g.path(),
				format!("tensor `{gname}` has dims {:?}, expected {want:?}", info.dims),
			));
		}
		let data = self.g.dequantize(&gname)?;
		let c = self.config;
		Ok(if gname.ends_with("attn_q.weight") {
			permute_rope_rows(&data, c.heads, shape[0], shape[1], true)
		} else if gname.ends_with("attn_k.weight") {
			permute_rope_rows(&data, c.kv_heads, shape[0], shape[1], true)
		} else {
			data
		})
	}
}

//! Per-example gradients of a LoRA adapter's parameters, projected per module and cached.
//!
//! - **Loss.** An example's loss is its mean token NLL over the targets it predicts; its
//!   gradient (all modules together) is then scaled to unit L2 norm, so short examples, whose
//!   gradients are larger, do not win by length. A query's gradient is the gradient of its mean
//!   NLL over the output tokens, unscaled.
//! - **Projection.** Each LoRA module (one (layer, projection) pair: `A` then `B`, flattened
//!   row-major) is projected on its own, never with one global projection. A module of at most
//!   `max_dim` parameters is kept whole; a larger one goes through a CountSketch of `max_dim`
//!   buckets (each coordinate added with a random sign into one random bucket, which preserves
//!   inner products in expectation, as LoGra's projections do). The buckets and signs come
//!   from ChaCha8 seeded with blake2-256(`mnemo/attribution/sketch/v1` ‖ adapter hash ‖ module
//!   index), so every attestor draws the same projection for the same adapter.
//! - **Cache.** The gradients of every example are computed once per (adapter, examples,
//!   settings) and stored under `<adapter dir>/grads/<key>.grads`, where the key is the
//!   blake2-256 of all three: content-addressed by their inputs. A file that does not parse is
//!   recomputed.

use super::influence::ModuleGrads;
use crate::{
	error::{Error, Result},
	model::lora::Lora,
	model::{Llama, ToHost},
	train::rows,
};
use mnemo_primitives::ContentHash;
use rand::{Rng, SeedableRng};
use std::path::Path;

/// How one module's gradient is reduced.
pub enum ModuleProjection {
	Identity(usize),
	Sketch { dim: usize, bucket: Vec<u32>, negate: Vec<bool> },
}

impl ModuleProjection {
	pub fn dim(&self) -> usize {
		match self {
			ModuleProjection::Identity(d) => *d,
			ModuleProjection::Sketch { dim, .. } => *dim,
		}
	}

	fn apply(&self, x: &[f32]) -> Vec<f64> {
		match self {
			ModuleProjection::Identity(_) => x.iter().map(|v| f64::from(*v)).collect(),
			ModuleProjection::Sketch { dim, bucket, negate } => {
				let mut out = vec![0f64; *dim];
				for ((v, b), n) in x.iter().zip(bucket).zip(negate) {
					let v = f64::from(*v);
					out[*b as usize] += if *n { -v } else { v };
				}
				out
			},
		}
	}
}

/// The projections of every module of an adapter.
pub struct Projection(pub Vec<ModuleProjection>);

impl Projection {
	pub fn new(lora: &Lora, adapter: &ContentHash, max_dim: usize) -> Self {
		let mods = lora
			.weights
			.pairs
			.iter()
			.enumerate()
			.map(|(m, p)| {
				let n = p.a.val().dims().iter().product::<usize>() + p.b.val().dims().iter().product::<usize>();
				if n <= max_dim {
					return ModuleProjection::Identity(n);
				}
				let mut seed = b"mnemo/attribution/sketch/v1".to_vec();
				seed.extend_from_slice(&adapter.0);
				seed.extend_from_slice(&(m as u32).to_le_bytes());
				let mut rng = rand_chacha::ChaCha8Rng::from_seed(ContentHash::of(&seed).0);
				let bucket = (0..n).map(|_| rng.random_range(0..max_dim as u32)).collect();
				let negate = (0..n).map(|_| rng.random_bool(0.5)).collect();
				ModuleProjection::Sketch { dim: max_dim, bucket, negate }
			})
			.collect();
		Projection(mods)
	}
}

/// One example to take the gradient of: tokens, and which targets count.
pub struct Unit<'a> {
	pub tokens: &'a [u32],
	pub mask: &'a [bool],
}

/// The projected gradient of the mean NLL of `unit`'s targets, per module (in f64).
/// `lora` must live on an autodiff device.
pub fn gradient(model: &Llama, lora: &Lora, proj: &Projection, unit: &Unit) -> Result<Vec<Vec<f64>>> {
	let n = unit.tokens.len();
	let count = unit.mask.iter().filter(|m| **m).count();
	if n < 2 || count == 0 {
		return Err(Error::bad("an example needs at least one predicted token"));
	}
	let inputs = vec![unit.tokens[..n - 1].to_vec()];
	let targets = vec![unit.tokens[1..].to_vec()];
	let weights: Vec<f32> = unit.mask.iter().map(|m| f32::from(u8::from(*m)) / count as f32).collect();
	let loss = model.head_loss(rows(model.hidden(&inputs, Some(lora), None)), &targets.concat(), &weights);
	let grads = lora.gradients(&loss.backward.backward())?;
	Ok(grads
		.chunks_exact(2)
		.zip(&proj.0)
		.map(|(ab, p)| {
			let mut flat = ab[0].clone().to_host();
			flat.extend(ab[1].clone().to_host());
			p.apply(&flat)
		})
		.collect())
}

/// `g` scaled to unit L2 norm over all modules (left as it is when it is zero).
pub fn unit_norm(g: &mut [Vec<f64>]) {
	let norm = g.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
	if norm > 0.0 {
		g.iter_mut().flatten().for_each(|x| *x /= norm);
	}
}

/// The unit-normalised gradients of every unit, as one [`ModuleGrads`] per module.
pub fn compute(
	model: &Llama,
	lora: &Lora,
	proj: &Projection,
	units: &[Unit],
	mut progress: impl FnMut(usize, usize) + Send,
) -> Result<Vec<ModuleGrads>> {
	use rayon::prelude::*;
	let mut out: Vec<ModuleGrads> = proj.0.iter().map(|p| ModuleGrads { dim: p.dim(), rows: Vec::new() }).collect();
	// Units in parallel, one task each on a fork of the adapter (its own autodiff leaves); each
	// unit's gradient is computed on one thread, and they are gathered in unit order.
	let done = std::sync::atomic::AtomicUsize::new(0);
	let progress = std::sync::Mutex::new(&mut progress);
	let grads: Vec<Result<Vec<Vec<f64>>>> = crate::threads::run(|| {
		units
			.par_iter()
			.with_max_len(1)
			.map(|u| {
				let mut g = gradient(model, &lora.fork(), proj, u)?;
				unit_norm(&mut g);
				let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
				if let Ok(mut p) = progress.lock() {
					(*p)(n, units.len());
				}
				Ok(g)
			})
			.collect()
	});
	for g in grads {
		for (m, row) in out.iter_mut().zip(g?) {
			m.rows.extend(row.into_iter().map(|x| x as f32));
		}
	}
	Ok(out)
}

const MAGIC: &[u8; 8] = b"MNGRAD01";

/// The cache file's bytes.
pub fn encode(grads: &[ModuleGrads]) -> Vec<u8> {
	let mut out = MAGIC.to_vec();
	out.extend_from_slice(&(grads.len() as u32).to_le_bytes());
	for g in grads {
		out.extend_from_slice(&(g.dim as u32).to_le_bytes());
		out.extend_from_slice(&(g.rows.len() as u64).to_le_bytes());
		g.rows.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
	}
	out
}

/// Parses a cache file; `None` if it is not one.
pub fn decode(bytes: &[u8]) -> Option<Vec<ModuleGrads>> {
	let mut at = 0usize;
	let mut take = |n: usize| -> Option<&[u8]> {
		let s = bytes.get(at..at.checked_add(n)?)?;
		at += n;
		Some(s)
	};
	if take(8)? != MAGIC {
		return None;
	}
	let modules = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
	let mut out = Vec::with_capacity(modules.min(4096));
	for _ in 0..modules {
		let dim = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
		let len = usize::try_from(u64::from_le_bytes(take(8)?.try_into().ok()?)).ok()?;
		let raw = take(len.checked_mul(4)?)?;
		let rows = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
		if dim == 0 || len % dim != 0 {
			return None;
		}
		out.push(ModuleGrads { dim, rows });
	}
	(at == bytes.len()).then_some(out)
}

/// The cached gradients under `dir` for `key`, computing and storing them when missing.
pub fn cached(
	dir: Option<&Path>,
	key: &ContentHash,
	compute: impl FnOnce() -> Result<Vec<ModuleGrads>>,
) -> Result<(Vec<ModuleGrads>, bool)> {
	let Some(dir) = dir else { return Ok((compute()?, false)) };
	let path = dir.join(format!("{}.grads", key.to_hex()));
	if let Some(g) = std::fs::read(&path).ok().and_then(|b| decode(&b)) {
		return Ok((g, true));
	}
	let grads = compute()?;
	std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
	let tmp = dir.join(format!("{}.{}.part", key.to_hex(), std::process::id()));
	let f = std::fs::File::create(&tmp).map_err(Error::io(&tmp))?;
	use std::io::Write;
	(&f).write_all(&encode(&grads)).and_then(|_| f.sync_all()).map_err(Error::io(&tmp))?;
	std::fs::rename(&tmp, &path).map_err(Error::io(&path))?;
	Ok((grads, false))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn cache_files_round_trip_and_garbage_is_refused() {
		let g = vec![ModuleGrads { dim: 2, rows: vec![1.0, -2.0, 3.5, 0.0] }, ModuleGrads { dim: 3, rows: vec![0.5; 6] }];
		let bytes = encode(&g);
		assert_eq!(decode(&bytes), Some(g));
		assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
		assert_eq!(decode(b"not a cache"), None);
	}

	#[test]
	fn a_sketch_preserves_inner_products_roughly() {
		let n = 4000;
		let x: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
		let y: Vec<f32> = (0..n).map(|i| if i % 3 == 0 { x[i] } else { -((i * 13 % 7) as f32) / 7.0 }).collect();
		let exact: f64 = x.iter().zip(&y).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
		let p = ModuleProjection::Sketch {
			dim: 1024,
			bucket: (0..n).map(|_| rng.random_range(0..1024)).collect(),
			negate: (0..n).map(|_| rng.random_bool(0.5)).collect(),
		};
		let (px, py) = (p.apply(&x), p.apply(&y));
		let sketched: f64 = px.iter().zip(&py).map(|(a, b)| a * b).sum();
		let norm = (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() * y.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>()).sqrt();
		assert!((sketched - exact).abs() < 0.1 * norm, "sketched {sketched} vs exact {exact}");
	}
}

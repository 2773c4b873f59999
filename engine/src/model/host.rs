//! A quantised model's small forward passes (decode steps, up to [`quant::DIRECT_ROWS`] rows)
//! with the residual stream on the host.
//!
//! At batch 1 the quantised products read the weights near the memory's speed, and what else a
//! step does — two norms, the rotary embedding of q and k, the SwiGLU product and two residual
//! adds per layer — is work on a few kilobytes that costs more in tensor dispatches (about thirty
//! a layer, a few microseconds each) than in arithmetic. Here those run as plain loops over the
//! rows the quantised products already bring to the host, and only attention (the cache write and
//! the products over the cache) stays a tensor computation, handed in by the caller. The
//! arithmetic is the tensor path's, in f32: the same norm, the same rotate-half rotation from the
//! same tables, the same SiLU.

use super::{quant, quant::QMatrix, Llama, LowRank, Weight};
use crate::model::lora::Target;
use burn::tensor::{Tensor, TensorData};

/// Host copies of what the host path reads besides the quantised matrices.
pub(super) struct HostTables {
	/// Per layer: the attention and MLP norms' weights.
	pub norms: Vec<(Vec<f32>, Vec<f32>)>,
	pub final_norm: Vec<f32>,
	/// `[max_seq, head_dim]`, as the tensor path's tables.
	pub cos: Vec<f32>,
	pub sin: Vec<f32>,
}

/// Attention for layer `l` of the rows' q `[n, heads · d]`, k and v `[n, kv_heads · d]` (q and
/// k rotated): the attended values `[n, heads · d]`.
pub(super) type Attention<'a> = dyn FnMut(usize, Vec<f32>, Vec<f32>, Vec<f32>) -> Vec<f32> + 'a;

impl Llama {
	/// The host tables and every layer's matrices when `rows` rows can take the host path: a
	/// quantised model ([`Llama::quantized`]) with no projection turned back to f32, and few
	/// enough rows for the quantised product.
	pub(super) fn host_path(&self, rows: usize) -> Option<(&HostTables, Vec<[&QMatrix; 7]>)> {
		let tables = self.host.as_deref().filter(|_| rows <= quant::DIRECT_ROWS)?;
		let mut layers = Vec::with_capacity(self.blocks.len());
		for block in &self.blocks {
			let mut ms = Vec::with_capacity(7);
			for w in &block.proj {
				match w {
					Weight::Quant(q) => ms.push(&**q),
					Weight::F32(_) => return None,
				}
			}
			layers.push(ms.try_into().ok()?);
		}
		Some((tables, layers))
	}

	/// Every layer and the final norm for the rows `x` (`[n, hidden]`) at `positions`, with
	/// `attention` computing each layer's attention: the final hidden states `[n, hidden]`.
	pub(super) fn host_layers(
		&self,
		(tables, layers): (&HostTables, Vec<[&QMatrix; 7]>),
		mut x: Vec<f32>,
		positions: &[usize],
		low_rank: Option<&dyn LowRank>,
		attention: &mut Attention<'_>,
	) -> Vec<f32> {
		let c = &self.config;
		let n = positions.len();
		assert_eq!(x.len(), n * c.hidden, "rows of the model's width");
		for (l, ms) in layers.iter().enumerate() {
			// Projections `which` of the rows `x`: the quantised products (in one pass), plus
			// the low-rank updates of `x` (handed over as one tensor for all of them).
			let project = |which: &[usize], x: &[f32]| -> Vec<Vec<f32>> {
				let rows = low_rank.map(|_| Tensor::<2>::from_data(TensorData::new(x.to_vec(), [n, x.len() / n]), &self.device));
				self.base_matmuls.fetch_add(which.len() as u64, std::sync::atomic::Ordering::Relaxed);
				let base = QMatrix::matmul_many(&which.iter().map(|&i| ms[i]).collect::<Vec<_>>(), x, n);
				let mut ys = base.into_iter();
				which.iter().map(|&i| {
					let mut y = ys.next().expect("one product per projection");
					if let Some(d) = low_rank.zip(rows.as_ref()).and_then(|(lr, rows)| lr.delta(l, Target::ALL[i], rows.clone())) {
						add(&mut y, &super::ToHost::to_host(d));
					}
					y
				}).collect()
			};
			let xn = rms_norm(&x, &tables.norms[l].0, c.rms_eps as f32);
			let [mut q, mut k, v]: [Vec<f32>; 3] = project(&[0, 1, 2], &xn).try_into().expect("three projections");
			rope(&mut q, c.heads, c.head_dim, positions, tables);
			rope(&mut k, c.kv_heads, c.head_dim, positions, tables);
			let attn = attention(l, q, k, v);
			add(&mut x, &project(&[3], &attn)[0]);
			let xn = rms_norm(&x, &tables.norms[l].1, c.rms_eps as f32);
			let [gate, up]: [Vec<f32>; 2] = project(&[4, 5], &xn).try_into().expect("two projections");
			let h: Vec<f32> = gate.iter().zip(&up).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
			add(&mut x, &project(&[6], &h)[0]);
		}
		rms_norm(&x, &tables.final_norm, c.rms_eps as f32)
	}
}

fn add(x: &mut [f32], y: &[f32]) {
	x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
}

/// RMSNorm of each row: `x / sqrt(mean(x²) + eps) · w`, as the tensor path computes it.
fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
	let mut out = Vec::with_capacity(x.len());
	for row in x.chunks(w.len()) {
		let rms = (row.iter().map(|v| v * v).sum::<f32>() / w.len() as f32 + eps).sqrt();
		out.extend(row.iter().zip(w).map(|(v, w)| v / rms * w));
	}
	out
}

/// Rotate-half RoPE of `x` (`[n, heads · d]`), row `r` at `positions[r]`: `x · cos +
/// rotate_half(x) · sin`, `rotate_half(x) = [−x₂, x₁]`.
fn rope(x: &mut [f32], heads: usize, d: usize, positions: &[usize], t: &HostTables) {
	let half = d / 2;
	for (row, &p) in x.chunks_mut(heads * d).zip(positions) {
		let (cos, sin) = (&t.cos[p * d..(p + 1) * d], &t.sin[p * d..(p + 1) * d]);
		for h in row.chunks_mut(d) {
			for j in 0..half {
				let (x1, x2) = (h[j], h[j + half]);
				h[j] = x1 * cos[j] + -x2 * sin[j];
				h[j + half] = x2 * cos[j + half] + x1 * sin[j + half];
			}
		}
	}
}

//! Weights kept as Q8_0 in memory and dequantised inside the product.
//!
//! Decoding one token reads every weight once, so at batch 1 its speed is the memory bandwidth
//! over the bytes of the weights: SmolLM2 in f32 is ~540 MB a token, in Q8_0 (llama.cpp's block
//! format: 32 weights as signed bytes and one scale) ~150 MB. [`Q8Matrix`] holds a projection
//! that way, rows of the output each a run of blocks along the input, and [`Q8Matrix::matmul`]
//! multiplies a few rows of activations by it, converting each block's bytes to f32 in registers
//! (AVX2 and FMA when the CPU has them, picked at run time; plain Rust otherwise), each weight
//! read once for all rows. Larger row counts (prompts, training) dequantise the matrix and use
//! the f32 product instead, where arithmetic, not memory, is the limit.

use crate::error::{Error, Result};
use rayon::prelude::*;

/// Weights per block.
pub const BLOCK: usize = 32;

/// Rows the kernel multiplies per pass over the weights.
pub const KERNEL_ROWS: usize = 8;

/// Most activation rows the quantised product takes (a decoding batch); more (a prompt) go
/// through the f32 product, where arithmetic, not memory, is the limit.
pub const DIRECT_ROWS: usize = 64;

/// An `[out, in]` matrix (Hugging Face's orientation: `y = x · Wᵀ`) in Q8_0 blocks along `in`.
pub struct Q8Matrix {
	pub out: usize,
	pub inp: usize,
	/// One per block, `out · in / 32`, row-major.
	scales: Vec<f32>,
	quants: Vec<i8>,
}

impl Q8Matrix {
	/// Quantises `w` (`[out, in]`, row-major) as ggml's Q8_0 does: per block `d = max|w| / 127`,
	/// `q = round(w / d)`. `in` must be a whole number of blocks.
	pub fn quantize(w: &[f32], out: usize, inp: usize) -> Result<Self> {
		if inp % BLOCK != 0 || w.len() != out * inp {
			return Err(Error::bad(format!("a [{out}, {inp}] matrix cannot be held in Q8_0 blocks of {BLOCK} along its {inp} inputs")));
		}
		let blocks = w.len() / BLOCK;
		let mut scales = vec![0f32; blocks];
		let mut quants = vec![0i8; w.len()];
		scales.par_iter_mut().zip(quants.par_chunks_mut(BLOCK)).zip(w.par_chunks(BLOCK)).for_each(|((d, q), w)| {
			let amax = w.iter().fold(0f32, |a, x| a.max(x.abs()));
			*d = amax / 127.0;
			let id = if *d != 0.0 { 1.0 / *d } else { 0.0 };
			q.iter_mut().zip(w).for_each(|(q, x)| *q = (x * id).round() as i8);
		});
		Ok(Q8Matrix { out, inp, scales, quants })
	}

	/// Bytes read per product: the quants and the scales.
	pub fn bytes(&self) -> u64 {
		(self.quants.len() + 4 * self.scales.len()) as u64
	}

	/// The `[out, in]` values the blocks stand for.
	pub fn dequantize(&self) -> Vec<f32> {
		let mut w = vec![0f32; self.quants.len()];
		w.par_chunks_mut(BLOCK).zip(self.quants.par_chunks(BLOCK)).zip(&self.scales).for_each(|((w, q), d)| {
			w.iter_mut().zip(q).for_each(|(w, q)| *w = *d * f32::from(*q));
		});
		w
	}

	/// `x · Wᵀ` for `rows` rows of `x` (`[rows, in]`): `[rows, out]`, the weights read once per
	/// [`KERNEL_ROWS`] rows. Outputs are split between the threads of the current pool in fixed
	/// runs; each output is summed block by block in one order, so the result does not depend
	/// on the thread count.
	pub fn matmul(&self, x: &[f32], rows: usize) -> Vec<f32> {
		assert!(x.len() == rows * self.inp, "rows of `in` values");
		const RUN: usize = 64;
		let nb = self.inp / BLOCK;
		let kernel = kernel();
		let mut y = vec![0f32; rows * self.out];
		for first in (0..rows).step_by(KERNEL_ROWS) {
			let n = KERNEL_ROWS.min(rows - first);
			let x = &x[first * self.inp..(first + n) * self.inp];
			// Column-major while computing ([out, n]), so each task writes one stretch.
			let mut t = vec![0f32; self.out * n];
			t.par_chunks_mut(RUN * n).enumerate().for_each(|(c, chunk)| {
				for (k, y) in chunk.chunks_mut(n).enumerate() {
					let o = c * RUN + k;
					let q = &self.quants[o * self.inp..(o + 1) * self.inp];
					let s = &self.scales[o * nb..(o + 1) * nb];
					kernel(q, s, x, self.inp, y);
				}
			});
			for o in 0..self.out {
				for r in 0..n {
					y[(first + r) * self.out + o] = t[o * n + r];
				}
			}
		}
		y
	}
}

/// One output of every row: `y[r] = Σ_b s[b] · Σ_i q[32b + i] · x[r][32b + i]`.
type Kernel = fn(&[i8], &[f32], &[f32], usize, &mut [f32]);

fn kernel() -> Kernel {
	#[cfg(target_arch = "x86_64")]
	if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
		return |q, s, x, inp, y| {
			// SAFETY: the CPU has AVX2 and FMA (checked above); every load is in bounds (q and
			// each row of x hold `inp` values, a whole number of 8-wide loads).
			unsafe { avx2::dot(q, s, x, inp, y) }
		};
	}
	portable
}

/// The same sums in plain Rust, eight lanes per block as the AVX2 kernel keeps them.
fn portable(q: &[i8], s: &[f32], x: &[f32], inp: usize, y: &mut [f32]) {
	for (r, y) in y.iter_mut().enumerate() {
		let x = &x[r * inp..(r + 1) * inp];
		let mut acc = [0f32; 8];
		for (b, d) in s.iter().enumerate() {
			let mut lanes = [0f32; 8];
			for k in 0..BLOCK / 8 {
				for (l, lane) in lanes.iter_mut().enumerate() {
					let i = b * BLOCK + k * 8 + l;
					*lane = f32::from(q[i]).mul_add(x[i], *lane);
				}
			}
			for (a, l) in acc.iter_mut().zip(lanes) {
				*a = d.mul_add(l, *a);
			}
		}
		*y = acc.iter().sum();
	}
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
	use super::BLOCK;
	use std::arch::x86_64::*;

	#[target_feature(enable = "avx2,fma")]
	pub unsafe fn dot(q: &[i8], s: &[f32], x: &[f32], inp: usize, y: &mut [f32]) {
		let rows = y.len();
		assert!(q.len() == s.len() * BLOCK && y.len() <= super::KERNEL_ROWS && x.len() >= y.len() * inp && q.len() == inp);
		let mut acc = [_mm256_setzero_ps(); super::KERNEL_ROWS];
		for (b, d) in s.iter().enumerate() {
			let base = b * BLOCK;
			let d = _mm256_set1_ps(*d);
			// The block's 32 weights as four vectors of f32, converted once for every row.
			let qp = q.as_ptr().add(base);
			let w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(qp as *const __m128i)));
			let w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(qp.add(8) as *const __m128i)));
			let w2 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(qp.add(16) as *const __m128i)));
			let w3 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(qp.add(24) as *const __m128i)));
			for (r, a) in acc.iter_mut().enumerate().take(rows) {
				let xp = x.as_ptr().add(r * inp + base);
				let mut lanes = _mm256_mul_ps(w0, _mm256_loadu_ps(xp));
				lanes = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xp.add(8)), lanes);
				lanes = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xp.add(16)), lanes);
				lanes = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xp.add(24)), lanes);
				*a = _mm256_fmadd_ps(d, lanes, *a);
			}
		}
		for (r, y) in y.iter_mut().enumerate() {
			let mut lanes = [0f32; 8];
			_mm256_storeu_ps(lanes.as_mut_ptr(), acc[r]);
			*y = lanes.iter().sum();
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn values(n: usize, seed: u32) -> Vec<f32> {
		(0..n).map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2001) as f32 / 1000.0 - 1.0).collect()
	}

	#[test]
	fn the_product_is_the_dequantised_matrix_product_and_the_kernels_agree() {
		let (out, inp) = (70, 96);
		let w = values(out * inp, 1);
		let m = Q8Matrix::quantize(&w, out, inp).unwrap();
		let dq = m.dequantize();
		// Q8_0 keeps every weight within half a step of its block's scale.
		for (b, block) in w.chunks(BLOCK).enumerate() {
			for (i, v) in block.iter().enumerate() {
				assert!((v - dq[b * BLOCK + i]).abs() <= m.scales[b] / 2.0 + 1e-7);
			}
		}
		for rows in [1, 3, KERNEL_ROWS, 19] {
			let x = values(rows * inp, 7 + rows as u32);
			let y = m.matmul(&x, rows);
			for r in 0..rows {
				for o in 0..out {
					let want: f64 = (0..inp).map(|i| f64::from(x[r * inp + i]) * f64::from(dq[o * inp + i])).sum();
					assert!((f64::from(y[r * out + o]) - want).abs() < 1e-4, "row {r} output {o}");
				}
			}
			// The portable kernel gives the same sums as the one picked for this CPU.
			let nb = inp / BLOCK;
			for first in (0..rows).step_by(KERNEL_ROWS) {
				let n = KERNEL_ROWS.min(rows - first);
				let mut p = vec![0f32; n];
				for o in 0..out {
					let xs = &x[first * inp..(first + n) * inp];
					portable(&m.quants[o * inp..(o + 1) * inp], &m.scales[o * nb..(o + 1) * nb], xs, inp, &mut p);
					for r in 0..n {
						assert!((p[r] - y[(first + r) * out + o]).abs() < 1e-5);
					}
				}
			}
		}
		assert!(Q8Matrix::quantize(&w[..70 * 48], 70, 48).is_err(), "48 inputs are not whole blocks");
	}
}

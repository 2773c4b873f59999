//! Weights kept quantised in memory and dequantised inside the product.
//!
//! Decoding one token reads every weight once, so at batch 1 its speed is the memory bandwidth
//! over the bytes of the weights: SmolLM2 in f32 is ~540 MB a token. [`QMatrix`] holds a
//! projection in llama.cpp's block formats instead — Q8_0 (32 weights as signed bytes and one
//! scale: ~150 MB a token) or Q4_1 (32 weights as 4-bit levels, a scale and an offset: ~100 MB),
//! the format SmolLM2's GGUF file ships its matrices in, so holding them as Q4_1 gives back the
//! file's own values. Rows of the output are each a run of blocks along the input, and
//! [`QMatrix::matmul`] multiplies a few rows of activations by it, converting each block to f32
//! in registers (AVX2 and FMA when the CPU has them, picked at run time; plain Rust otherwise),
//! each weight read once per [`KERNEL_ROWS`] rows, by a kernel compiled once per row count so
//! that each row's accumulators stay in registers. Larger row counts (prompts, training)
//! dequantise the matrix and use the f32 product instead, where arithmetic, not memory, is the
//! limit.

use crate::error::{Error, Result};
use rayon::prelude::*;

/// Weights per block.
pub const BLOCK: usize = 32;

/// Rows the kernel multiplies per pass over the weights.
pub const KERNEL_ROWS: usize = 8;

/// Most activation rows the quantised product takes (a decoding batch); more (a prompt) go
/// through the f32 product.
pub const DIRECT_ROWS: usize = 64;

/// A block format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
	/// `w = d · q`, `q` a signed byte, `d = max|w| / 127`.
	Q8_0,
	/// `w = d · q + m`, `q` in 0..=15, `d = (max − min) / 15`, `m = min`.
	Q4_1,
}

impl Format {
	/// Bytes of quants per block.
	fn quant_bytes(self) -> usize {
		match self {
			Format::Q8_0 => BLOCK,
			Format::Q4_1 => BLOCK / 2,
		}
	}
}

/// An `[out, in]` matrix (Hugging Face's orientation: `y = x · Wᵀ`) in blocks along `in`.
pub struct QMatrix {
	pub out: usize,
	pub inp: usize,
	pub format: Format,
	/// One scale per block (`out · in / 32`, row-major), and one offset for Q4_1.
	scales: Vec<f32>,
	mins: Vec<f32>,
	/// Q8_0: one signed byte per weight. Q4_1: 16 bytes per block, byte `j` holding weight `j`
	/// in its low nibble and weight `j + 16` in its high one (ggml's order).
	quants: Vec<u8>,
}

impl QMatrix {
	/// Quantises `w` (`[out, in]`, row-major) as ggml's reference quantisers do. `in` must be a
	/// whole number of blocks.
	pub fn quantize(w: &[f32], out: usize, inp: usize, format: Format) -> Result<Self> {
		if inp % BLOCK != 0 || w.len() != out * inp {
			return Err(Error::bad(format!("a [{out}, {inp}] matrix cannot be held in blocks of {BLOCK} along its {inp} inputs")));
		}
		let blocks = w.len() / BLOCK;
		let qb = format.quant_bytes();
		let mut scales = vec![0f32; blocks];
		let mut mins = vec![0f32; if format == Format::Q4_1 { blocks } else { 0 }];
		let mut quants = vec![0u8; blocks * qb];
		match format {
			Format::Q8_0 => {
				scales.par_iter_mut().zip(quants.par_chunks_mut(qb)).zip(w.par_chunks(BLOCK)).for_each(|((d, q), w)| {
					let amax = w.iter().fold(0f32, |a, x| a.max(x.abs()));
					*d = amax / 127.0;
					let id = if *d != 0.0 { 1.0 / *d } else { 0.0 };
					q.iter_mut().zip(w).for_each(|(q, x)| *q = (x * id).round() as i8 as u8);
				});
			},
			Format::Q4_1 => {
				let blocks = scales.par_iter_mut().zip(mins.par_iter_mut()).zip(quants.par_chunks_mut(qb));
				blocks.zip(w.par_chunks(BLOCK)).for_each(|(((d, m), q), w)| {
					let min = w.iter().copied().fold(f32::INFINITY, f32::min);
					let max = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
					*d = (max - min) / 15.0;
					*m = min;
					let id = if *d != 0.0 { 1.0 / *d } else { 0.0 };
					let level = |x: f32| ((x - min) * id + 0.5).clamp(0.0, 15.0) as u8;
					for j in 0..BLOCK / 2 {
						q[j] = level(w[j]) | (level(w[j + BLOCK / 2]) << 4);
					}
				});
			},
		}
		Ok(QMatrix { out, inp, format, scales, mins, quants })
	}

	/// Bytes read per product: the quants, the scales and the offsets.
	pub fn bytes(&self) -> u64 {
		(self.quants.len() + 4 * (self.scales.len() + self.mins.len())) as u64
	}

	/// The `[out, in]` values the blocks stand for.
	pub fn dequantize(&self) -> Vec<f32> {
		let mut w = vec![0f32; self.out * self.inp];
		let qb = self.format.quant_bytes();
		w.par_chunks_mut(BLOCK).zip(self.quants.par_chunks(qb)).enumerate().for_each(|(b, (w, q))| {
			let d = self.scales[b];
			match self.format {
				Format::Q8_0 => w.iter_mut().zip(q).for_each(|(w, q)| *w = d * f32::from(*q as i8)),
				Format::Q4_1 => {
					let m = self.mins[b];
					for j in 0..BLOCK / 2 {
						w[j] = d * f32::from(q[j] & 0x0F) + m;
						w[j + BLOCK / 2] = d * f32::from(q[j] >> 4) + m;
					}
				},
			}
		});
		w
	}

	/// `x · Wᵀ` for `rows` rows of `x` (`[rows, in]`): `[rows, out]`. Outputs are split
	/// between the threads of the current pool in fixed runs; each output is summed block by
	/// block in one order, so the result does not depend on the thread count.
	pub fn matmul(&self, x: &[f32], rows: usize) -> Vec<f32> {
		Self::matmul_many(&[self], x, rows).pop().expect("one matrix, one product")
	}

	/// [`Self::matmul`] of each of `ms` (all `in` wide) with the same rows `x`, in one parallel
	/// pass over all their outputs: q, k and v (or gate and up) of a layer cost one hand-over to
	/// the pool, not three.
	pub fn matmul_many(ms: &[&QMatrix], x: &[f32], rows: usize) -> Vec<Vec<f32>> {
		/// Outputs per task.
		const RUN: usize = 32;
		let inp = ms.first().map_or(0, |m| m.inp);
		assert!(ms.iter().all(|m| m.inp == inp) && x.len() == rows * inp, "rows of `in` values");
		let offsets = ms.iter().any(|m| m.format == Format::Q4_1);
		let mut ys: Vec<Vec<f32>> = ms.iter().map(|m| vec![0f32; rows * m.out]).collect();
		let total: usize = ms.iter().map(|m| m.out).sum();
		for first in (0..rows).step_by(KERNEL_ROWS) {
			let n = KERNEL_ROWS.min(rows - first);
			let x = &x[first * inp..(first + n) * inp];
			// Q4_1's offsets multiply each block's sum of inputs: once per row and block.
			let xsum: Vec<f32> = if offsets { x.chunks(BLOCK).map(|b| b.iter().sum()).collect() } else { Vec::new() };
			// Column-major while computing (each matrix's [out, n] in turn), so each task
			// writes one stretch.
			let mut t = vec![0f32; total * n];
			let mut tasks = Vec::with_capacity(total / RUN + ms.len());
			let mut rest = t.as_mut_slice();
			for (i, m) in ms.iter().enumerate() {
				for o in (0..m.out).step_by(RUN) {
					let (chunk, tail) = std::mem::take(&mut rest).split_at_mut(RUN.min(m.out - o) * n);
					tasks.push((i, o, chunk));
					rest = tail;
				}
			}
			tasks.into_par_iter().for_each(|(i, first_out, chunk)| {
				let m = ms[i];
				let (nb, qb, kernel) = (inp / BLOCK, m.format.quant_bytes(), kernel(m.format));
				for (k, y) in chunk.chunks_mut(n).enumerate() {
					let o = first_out + k;
					let row = Row {
						q: &m.quants[o * nb * qb..(o + 1) * nb * qb],
						d: &m.scales[o * nb..(o + 1) * nb],
						m: if m.mins.is_empty() { &[] } else { &m.mins[o * nb..(o + 1) * nb] },
					};
					kernel(&row, x, &xsum, inp, y);
				}
			});
			let mut at = 0;
			for (m, y) in ms.iter().zip(&mut ys) {
				for o in 0..m.out {
					for r in 0..n {
						y[(first + r) * m.out + o] = t[at + o * n + r];
					}
				}
				at += m.out * n;
			}
		}
		ys
	}
}

/// One output's blocks.
struct Row<'a> {
	q: &'a [u8],
	d: &'a [f32],
	m: &'a [f32],
}

/// One output of every row of `x`: `y[r] = Σ_b d[b] · Σ_i q_bi · x[r][32b + i]` (+ `m[b] ·
/// Σ_i x[r][32b + i]` for Q4_1, from `xsum`).
type Kernel = fn(&Row<'_>, &[f32], &[f32], usize, &mut [f32]);

fn kernel(format: Format) -> Kernel {
	#[cfg(target_arch = "x86_64")]
	if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
		return match format {
			// SAFETY: the CPU has AVX2 and FMA (checked above); the kernels check their slices'
			// lengths before any load.
			Format::Q8_0 => |w, x, _, inp, y| unsafe { avx2::rows::<true>(w, x, &[], inp, y) },
			Format::Q4_1 => |w, x, xsum, inp, y| unsafe { avx2::rows::<false>(w, x, xsum, inp, y) },
		};
	}
	match format {
		Format::Q8_0 => portable_q8_0,
		Format::Q4_1 => portable_q4_1,
	}
}

/// The weight `i` (0..32) of a block's quants.
fn level(format: Format, q: &[u8], i: usize) -> f32 {
	match format {
		Format::Q8_0 => f32::from(q[i] as i8),
		Format::Q4_1 if i < BLOCK / 2 => f32::from(q[i] & 0x0F),
		Format::Q4_1 => f32::from(q[i - BLOCK / 2] >> 4),
	}
}

/// The eight lanes' sum as the AVX2 kernels take it: halves, then quarters, then the pair.
fn lanes_sum(l: &[f32; 8]) -> f32 {
	let four = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
	let two = [four[0] + four[2], four[1] + four[3]];
	two[0] + two[1]
}

/// The same sums in plain Rust, eight lanes per block as the AVX2 kernels keep them.
fn portable(format: Format, w: &Row<'_>, x: &[f32], xsum: &[f32], inp: usize, y: &mut [f32]) {
	let qb = format.quant_bytes();
	let nb = inp / BLOCK;
	for (r, y) in y.iter_mut().enumerate() {
		let xr = &x[r * inp..(r + 1) * inp];
		let mut acc = [0f32; 8];
		let mut offset = 0f32;
		for (b, d) in w.d.iter().enumerate() {
			let q = &w.q[b * qb..(b + 1) * qb];
			let mut lanes = [0f32; 8];
			for k in 0..BLOCK / 8 {
				for (l, lane) in lanes.iter_mut().enumerate() {
					let i = k * 8 + l;
					*lane = level(format, q, i).mul_add(xr[b * BLOCK + i], *lane);
				}
			}
			for (a, l) in acc.iter_mut().zip(lanes) {
				*a = d.mul_add(l, *a);
			}
			if format == Format::Q4_1 {
				offset = w.m[b].mul_add(xsum[r * nb + b], offset);
			}
		}
		*y = lanes_sum(&acc) + offset;
	}
}

fn portable_q8_0(w: &Row<'_>, x: &[f32], xsum: &[f32], inp: usize, y: &mut [f32]) {
	portable(Format::Q8_0, w, x, xsum, inp, y)
}

fn portable_q4_1(w: &Row<'_>, x: &[f32], xsum: &[f32], inp: usize, y: &mut [f32]) {
	portable(Format::Q4_1, w, x, xsum, inp, y)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
	use super::{Row, BLOCK, KERNEL_ROWS};
	use std::arch::x86_64::*;

	/// Multiplies the block's four vectors of f32 weights by each row's inputs into `acc`.
	#[inline]
	#[target_feature(enable = "avx2,fma")]
	unsafe fn block<const R: usize>(w: [__m256; 4], d: f32, x: &[f32], inp: usize, base: usize, acc: &mut [__m256; R]) {
		let d = _mm256_set1_ps(d);
		for (r, a) in acc.iter_mut().enumerate() {
			let xp = x.as_ptr().add(r * inp + base);
			let mut lanes = _mm256_mul_ps(w[0], _mm256_loadu_ps(xp));
			lanes = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(xp.add(8)), lanes);
			lanes = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(xp.add(16)), lanes);
			lanes = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(xp.add(24)), lanes);
			*a = _mm256_fmadd_ps(d, lanes, *a);
		}
	}

	/// Eight signed bytes at `p` as f32.
	#[target_feature(enable = "avx2,fma")]
	unsafe fn signed8(p: *const u8) -> __m256 {
		_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p as *const __m128i)))
	}

	/// The low eight bytes of `v` as unsigned f32.
	#[target_feature(enable = "avx2,fma")]
	unsafe fn unsigned8(v: __m128i) -> __m256 {
		_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))
	}

	/// Q8_0 (`SIGNED`) or Q4_1 for as many rows as `y` has, each count compiled on its own so
	/// that the rows' accumulators stay in registers.
	#[target_feature(enable = "avx2,fma")]
	pub unsafe fn rows<const SIGNED: bool>(w: &Row<'_>, x: &[f32], xsum: &[f32], inp: usize, y: &mut [f32]) {
		match y.len() {
			1 => blocks::<SIGNED, 1>(w, x, xsum, inp, y),
			2 => blocks::<SIGNED, 2>(w, x, xsum, inp, y),
			3 => blocks::<SIGNED, 3>(w, x, xsum, inp, y),
			4 => blocks::<SIGNED, 4>(w, x, xsum, inp, y),
			5 => blocks::<SIGNED, 5>(w, x, xsum, inp, y),
			6 => blocks::<SIGNED, 6>(w, x, xsum, inp, y),
			7 => blocks::<SIGNED, 7>(w, x, xsum, inp, y),
			_ => blocks::<SIGNED, KERNEL_ROWS>(w, x, xsum, inp, y),
		}
	}

	/// Every row's sum for one output: each block's levels converted to f32 once, multiplied by
	/// each row's inputs (Q4_1's offsets times the rows' block sums beside).
	#[target_feature(enable = "avx2,fma")]
	unsafe fn blocks<const SIGNED: bool, const R: usize>(w: &Row<'_>, x: &[f32], xsum: &[f32], inp: usize, y: &mut [f32]) {
		let nb = inp / BLOCK;
		let qb = if SIGNED { BLOCK } else { BLOCK / 2 };
		assert!(y.len() == R && R <= KERNEL_ROWS && w.q.len() == nb * qb && w.d.len() == nb && x.len() >= R * inp);
		assert!(SIGNED || (w.m.len() == nb && xsum.len() >= R * nb));
		let mut acc = [_mm256_setzero_ps(); R];
		let mut offset = [0f32; R];
		let low = _mm_set1_epi8(0x0F);
		for b in 0..nb {
			let v = if SIGNED {
				let qp = w.q.as_ptr().add(b * BLOCK);
				[signed8(qp), signed8(qp.add(8)), signed8(qp.add(16)), signed8(qp.add(24))]
			} else {
				let bytes = _mm_loadu_si128(w.q.as_ptr().add(b * BLOCK / 2) as *const __m128i);
				let lo = _mm_and_si128(bytes, low);
				let hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low);
				[unsigned8(lo), unsigned8(_mm_srli_si128(lo, 8)), unsigned8(hi), unsigned8(_mm_srli_si128(hi, 8))]
			};
			block(v, *w.d.get_unchecked(b), x, inp, b * BLOCK, &mut acc);
			if !SIGNED {
				for (r, o) in offset.iter_mut().enumerate() {
					*o = w.m.get_unchecked(b).mul_add(*xsum.get_unchecked(r * nb + b), *o);
				}
			}
		}
		for (r, y) in y.iter_mut().enumerate() {
			// [`super::lanes_sum`]'s order, in registers.
			let four = _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1));
			let two = _mm_add_ps(four, _mm_movehl_ps(four, four));
			let one = _mm_add_ss(two, _mm_shuffle_ps(two, two, 1));
			*y = _mm_cvtss_f32(one) + offset[r];
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
	fn products_are_the_dequantised_matrix_products_and_the_kernels_agree() {
		let (out, inp) = (70, 96);
		let w = values(out * inp, 1);
		for format in [Format::Q8_0, Format::Q4_1] {
			let m = QMatrix::quantize(&w, out, inp, format).unwrap();
			let dq = m.dequantize();
			// Every weight within half a step of its block's scale.
			for (b, block) in w.chunks(BLOCK).enumerate() {
				for (i, v) in block.iter().enumerate() {
					assert!((v - dq[b * BLOCK + i]).abs() <= m.scales[b] / 2.0 + 1e-6, "{format:?}");
				}
			}
			// Quantising the dequantised values again gives them back (the file's own blocks).
			let again = QMatrix::quantize(&dq, out, inp, format).unwrap().dequantize();
			assert!(dq.iter().zip(&again).all(|(a, b)| (a - b).abs() <= 1e-6), "{format:?} round trip");
			let nb = inp / BLOCK;
			let qb = format.quant_bytes();
			for rows in [1, 3, KERNEL_ROWS, 19] {
				let x = values(rows * inp, 7 + rows as u32);
				let y = m.matmul(&x, rows);
				for r in 0..rows {
					for o in 0..out {
						let want: f64 = (0..inp).map(|i| f64::from(x[r * inp + i]) * f64::from(dq[o * inp + i])).sum();
						assert!((f64::from(y[r * out + o]) - want).abs() < 1e-4, "{format:?} row {r} output {o}");
					}
				}
				// The portable kernel gives the sums of the one picked for this CPU.
				for first in (0..rows).step_by(KERNEL_ROWS) {
					let n = KERNEL_ROWS.min(rows - first);
					let xs = &x[first * inp..(first + n) * inp];
					let xsum: Vec<f32> = xs.chunks(BLOCK).map(|b| b.iter().sum()).collect();
					let mut p = vec![0f32; n];
					for o in 0..out {
						let row = Row {
							q: &m.quants[o * nb * qb..(o + 1) * nb * qb],
							d: &m.scales[o * nb..(o + 1) * nb],
							m: if m.mins.is_empty() { &[] } else { &m.mins[o * nb..(o + 1) * nb] },
						};
						portable(format, &row, xs, &xsum, inp, &mut p);
						for r in 0..n {
							assert_eq!(p[r].to_bits(), y[(first + r) * out + o].to_bits(), "{format:?}");
						}
					}
				}
			}
		}
		assert!(QMatrix::quantize(&w[..70 * 48], 70, 48, Format::Q8_0).is_err(), "48 inputs are not whole blocks");
	}

	#[test]
	fn several_matrices_in_one_pass_give_each_ones_product() {
		let inp = 64;
		let a = QMatrix::quantize(&values(40 * inp, 1), 40, inp, Format::Q8_0).unwrap();
		let b = QMatrix::quantize(&values(70 * inp, 2), 70, inp, Format::Q4_1).unwrap();
		let c = QMatrix::quantize(&values(33 * inp, 3), 33, inp, Format::Q8_0).unwrap();
		for rows in [1, 11] {
			let x = values(rows * inp, 9);
			let many = QMatrix::matmul_many(&[&a, &b, &c], &x, rows);
			for (m, y) in [&a, &b, &c].iter().zip(&many) {
				let alone = m.matmul(&x, rows);
				assert_eq!(alone.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), y.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
			}
		}
	}
}

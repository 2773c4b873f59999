//! Weights kept quantised in memory and dequantised inside the product.
//!
//! Decoding one token reads every weight once, so at batch 1 its speed is the memory bandwidth
//! over the bytes of the weights: SmolLM2 in f32 is ~540 MB a token. [`QMatrix`] holds a
//! projection in llama.cpp's block formats instead — Q8_0 (32 weights as signed bytes and one
//! scale: ~150 MB a token) or Q4_1 (32 weights as 4-bit levels, a scale and an offset: ~100 MB),
//! the format SmolLM2's GGUF file ships its matrices in, so holding them as Q4_1 gives back the
//! file's own values. Rows of the output are each a run of blocks along the input, and
//! [`QMatrix::matmul`] multiplies a few rows of activations by it (AVX2 and FMA when the CPU has
//! them, picked at run time; plain Rust otherwise, the same sums bit for bit), each weight read
//! once per [`KERNEL_ROWS`] rows. The activations are rounded to 16-bit integers, one scale per
//! block of 32, so a block's products are exact integer sums (`madd` of 16-bit pairs) scaled
//! once: an error of at most half a step in 65,534 of the block's largest input, far below the
//! weights' own, for a fifth fewer instructions than converting every weight to f32. Larger row
//! counts (prompts, training) dequantise the matrix and use the f32 product instead, where
//! arithmetic, not memory, is the limit.

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

	/// `x · Wᵀ` for `rows` rows of `x` (`[rows, in]`): `[rows, out]`. Each row's blocks of 32
	/// inputs are first rounded to 16-bit integers with one scale per block ([`Activations`]),
	/// so a block's 32 products are summed exactly in integers and scaled once; the rounding is
	/// half a step in 65,534 of the block's largest input, far below the weights' own. Outputs
	/// are split between the threads of the current pool in fixed runs; each output is summed
	/// block by block in one order, so the result does not depend on the thread count.
	pub fn matmul(&self, x: &[f32], rows: usize) -> Vec<f32> {
		Self::matmul_many(&[self], x, rows).pop().expect("one matrix, one product")
	}

	/// [`Self::matmul`] of each of `ms` (all `in` wide) with the same rows `x`, in one parallel
	/// pass over all their outputs: q, k and v (or gate and up) of a layer cost one hand-over to
	/// the pool, not three, and one rounding of the activations.
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
			let a = Activations::of(&x[first * inp..(first + n) * inp], offsets);
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
					kernel(&row, &a, inp, y);
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

/// Up to [`KERNEL_ROWS`] rows of activations as the kernels take them: each block of 32 inputs
/// `x ≈ s · q`, `q` a 16-bit integer, `s = max|x| / 32767`.
struct Activations {
	q: Vec<i16>,
	/// One scale per row and block.
	s: Vec<f32>,
	/// Q4_1: each row's block sums of the inputs as given (the offsets multiply them).
	sum: Vec<f32>,
}

impl Activations {
	/// `x` rounded; with the block sums of the inputs when `offsets` (a Q4_1 matrix takes them).
	fn of(x: &[f32], offsets: bool) -> Self {
		let mut q = vec![0i16; x.len()];
		let mut s = Vec::with_capacity(x.len() / BLOCK);
		for (x, q) in x.chunks(BLOCK).zip(q.chunks_mut(BLOCK)) {
			let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
			let d = amax / 32767.0;
			let id = if d != 0.0 { 1.0 / d } else { 0.0 };
			// Half away from zero, then toward zero: an inline conversion, not a call to `round`.
			q.iter_mut().zip(x).for_each(|(q, v)| {
				let t = v * id;
				*q = (t + 0.5f32.copysign(t)) as i16;
			});
			s.push(d);
		}
		let sum = if offsets { x.chunks(BLOCK).map(|b| b.iter().sum()).collect() } else { Vec::new() };
		Activations { q, s, sum }
	}
}

/// One output's blocks.
struct Row<'a> {
	q: &'a [u8],
	d: &'a [f32],
	m: &'a [f32],
}

/// One output of every row of the activations: `y[r] = Σ_b d[b] · s[r][b] · Σ_i q_bi · x_q[r][32b
/// + i]` (+ `m[b] · Σ_i x[r][32b + i]` for Q4_1).
type Kernel = fn(&Row<'_>, &Activations, usize, &mut [f32]);

fn kernel(format: Format) -> Kernel {
	#[cfg(target_arch = "x86_64")]
	if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
		return match format {
			// SAFETY: the CPU has AVX2 and FMA (checked above); the kernel checks its slices'
			// lengths before any load.
			Format::Q8_0 => |w, x, inp, y| unsafe { avx2::rows::<true>(w, x, inp, y) },
			Format::Q4_1 => |w, x, inp, y| unsafe { avx2::rows::<false>(w, x, inp, y) },
		};
	}
	match format {
		Format::Q8_0 => |w, x, inp, y| portable(Format::Q8_0, w, x, inp, y),
		Format::Q4_1 => |w, x, inp, y| portable(Format::Q4_1, w, x, inp, y),
	}
}

/// The weight `i` (0..32) of a block's quants, as an integer level.
fn level(format: Format, q: &[u8], i: usize) -> i32 {
	match format {
		Format::Q8_0 => i32::from(q[i] as i8),
		Format::Q4_1 if i < BLOCK / 2 => i32::from(q[i] & 0x0F),
		Format::Q4_1 => i32::from(q[i - BLOCK / 2] >> 4),
	}
}

/// The eight lanes' sum as the AVX2 kernels take it: halves, then quarters, then the pair.
fn lanes_sum(l: &[f32; 8]) -> f32 {
	let four = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
	let two = [four[0] + four[2], four[1] + four[3]];
	two[0] + two[1]
}

/// The same sums in plain Rust, in the AVX2 kernel's eight lanes and order. Lane `l` of a block
/// is the exact integer sum of its weights `2l, 2l + 1, 16 + 2l, 17 + 2l` times their inputs.
/// Blocks go in pairs: `p = d₀s₀ · lane₀`, then `p = d₁s₁ · lane₁ + p` (fused), and the
/// row's lane adds `p` (a last odd block alone), so each lane's running sum waits on one add
/// per two blocks.
fn portable(format: Format, w: &Row<'_>, x: &Activations, inp: usize, y: &mut [f32]) {
	let qb = format.quant_bytes();
	let nb = inp / BLOCK;
	for (r, y) in y.iter_mut().enumerate() {
		let xq = &x.q[r * inp..(r + 1) * inp];
		let lane = |b: usize, l: usize| -> f32 {
			let (q, xb) = (&w.q[b * qb..(b + 1) * qb], &xq[b * BLOCK..(b + 1) * BLOCK]);
			[2 * l, 2 * l + 1, 16 + 2 * l, 17 + 2 * l].iter().map(|&i| level(format, q, i) * i32::from(xb[i])).sum::<i32>() as f32
		};
		let scale = |b: usize| w.d[b] * x.s[r * nb + b];
		let mut acc = [0f32; 8];
		let mut offset = 0f32;
		for b in (0..nb).step_by(2) {
			for (l, a) in acc.iter_mut().enumerate() {
				let mut p = scale(b) * lane(b, l);
				if b + 1 < nb {
					p = scale(b + 1).mul_add(lane(b + 1, l), p);
				}
				*a += p;
			}
		}
		if format == Format::Q4_1 {
			for b in 0..nb {
				offset = w.m[b].mul_add(x.sum[r * nb + b], offset);
			}
		}
		*y = lanes_sum(&acc) + offset;
	}
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
	use super::{Activations, Row, BLOCK, KERNEL_ROWS};
	use std::arch::x86_64::*;

	/// Q8_0 (`SIGNED`) or Q4_1: a block's 32 levels as two vectors of 16-bit integers, weights
	/// 0..16 and 16..32.
	#[target_feature(enable = "avx2,fma")]
	unsafe fn levels<const SIGNED: bool>(q: *const u8) -> (__m256i, __m256i) {
		if SIGNED {
			let lo = _mm256_cvtepi8_epi16(_mm_loadu_si128(q as *const __m128i));
			let hi = _mm256_cvtepi8_epi16(_mm_loadu_si128(q.add(16) as *const __m128i));
			(lo, hi)
		} else {
			let bytes = _mm_loadu_si128(q as *const __m128i);
			let low = _mm_set1_epi8(0x0F);
			let lo = _mm_and_si128(bytes, low);
			let hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low);
			(_mm256_cvtepu8_epi16(lo), _mm256_cvtepu8_epi16(hi))
		}
	}

	/// [`blocks`] for as many rows as `y` has, each count compiled on its own so that the
	/// rows' accumulators stay in registers.
	#[target_feature(enable = "avx2,fma")]
	pub unsafe fn rows<const SIGNED: bool>(w: &Row<'_>, x: &Activations, inp: usize, y: &mut [f32]) {
		match y.len() {
			1 => blocks::<SIGNED, 1>(w, x, inp, y),
			2 => blocks::<SIGNED, 2>(w, x, inp, y),
			3 => blocks::<SIGNED, 3>(w, x, inp, y),
			4 => blocks::<SIGNED, 4>(w, x, inp, y),
			5 => blocks::<SIGNED, 5>(w, x, inp, y),
			6 => blocks::<SIGNED, 6>(w, x, inp, y),
			7 => blocks::<SIGNED, 7>(w, x, inp, y),
			_ => blocks::<SIGNED, KERNEL_ROWS>(w, x, inp, y),
		}
	}

	/// A block's eight lanes for one row: `madd` pairs the 16-bit levels with the row's 16-bit
	/// inputs at `x` into exact 32-bit sums (|sum| ≤ 4 · 127 · 32767 < 2²⁴, so exact in f32 too).
	#[inline]
	#[target_feature(enable = "avx2,fma")]
	unsafe fn lanes((lo, hi): (__m256i, __m256i), x: *const i16) -> __m256 {
		let lo = _mm256_madd_epi16(lo, _mm256_loadu_si256(x as *const __m256i));
		let hi = _mm256_madd_epi16(hi, _mm256_loadu_si256(x.add(16) as *const __m256i));
		_mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi))
	}

	/// Every row's sum for one output, blocks in pairs as [`super::portable`] takes them.
	#[target_feature(enable = "avx2,fma")]
	unsafe fn blocks<const SIGNED: bool, const R: usize>(w: &Row<'_>, x: &Activations, inp: usize, y: &mut [f32]) {
		let nb = inp / BLOCK;
		let qb = if SIGNED { BLOCK } else { BLOCK / 2 };
		assert!(y.len() == R && w.q.len() == nb * qb && w.d.len() == nb && x.q.len() >= R * inp && x.s.len() >= R * nb);
		assert!(SIGNED || (w.m.len() == nb && x.sum.len() >= R * nb));
		let scale = |r: usize, b: usize| _mm256_set1_ps(*w.d.get_unchecked(b) * *x.s.get_unchecked(r * nb + b));
		let mut acc = [_mm256_setzero_ps(); R];
		let pairs = nb / 2;
		for p in 0..pairs {
			let b = 2 * p;
			let first = levels::<SIGNED>(w.q.as_ptr().add(b * qb));
			let second = levels::<SIGNED>(w.q.as_ptr().add((b + 1) * qb));
			for (r, acc) in acc.iter_mut().enumerate() {
				let xp = x.q.as_ptr().add(r * inp + b * BLOCK);
				let sum = _mm256_mul_ps(scale(r, b), lanes(first, xp));
				let sum = _mm256_fmadd_ps(scale(r, b + 1), lanes(second, xp.add(BLOCK)), sum);
				*acc = _mm256_add_ps(*acc, sum);
			}
		}
		if nb % 2 == 1 {
			let b = nb - 1;
			let last = levels::<SIGNED>(w.q.as_ptr().add(b * qb));
			for (r, acc) in acc.iter_mut().enumerate() {
				*acc = _mm256_add_ps(*acc, _mm256_mul_ps(scale(r, b), lanes(last, x.q.as_ptr().add(r * inp + b * BLOCK))));
			}
		}
		for (r, y) in y.iter_mut().enumerate() {
			let mut offset = 0f32;
			if !SIGNED {
				for b in 0..nb {
					offset = w.m.get_unchecked(b).mul_add(*x.sum.get_unchecked(r * nb + b), offset);
				}
			}
			// [`super::lanes_sum`]'s order, in registers.
			let four = _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1));
			let two = _mm_add_ps(four, _mm_movehl_ps(four, four));
			let one = _mm_add_ss(two, _mm_shuffle_ps(two, two, 1));
			*y = _mm_cvtss_f32(one) + offset;
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
					let xr = &x[r * inp..(r + 1) * inp];
					let a = Activations::of(xr, format == Format::Q4_1);
					for o in 0..out {
						let w = &dq[o * inp..(o + 1) * inp];
						// The product with the rounded activations (Q4_1's offsets times the sums of
						// the inputs as given), in f64.
						let min = |i: usize| f64::from(m.mins.get(o * nb + i / BLOCK).copied().unwrap_or(0.0));
						let rounded: f64 = (0..inp)
							.map(|i| f64::from(a.s[i / BLOCK]) * f64::from(a.q[i]) * (f64::from(w[i]) - min(i)) + f64::from(xr[i]) * min(i))
							.sum();
						let got = f64::from(y[r * out + o]);
						assert!((got - rounded).abs() < 1e-4, "{format:?} row {r} output {o}: {got} against {rounded}");
						// Against the exact product: within half an activation step per weight.
						let exact: f64 = (0..inp).map(|i| f64::from(xr[i]) * f64::from(w[i])).sum();
						let bound: f64 = (0..inp).map(|i| f64::from(a.s[i / BLOCK]) / 2.0 * f64::from(w[i].abs())).sum();
						assert!((got - exact).abs() <= bound + 1e-4, "{format:?} row {r} output {o}: {got} against {exact}, bound {bound}");
					}
				}
				// The portable kernel gives the sums of the one picked for this CPU, bit for bit.
				for first in (0..rows).step_by(KERNEL_ROWS) {
					let n = KERNEL_ROWS.min(rows - first);
					let a = Activations::of(&x[first * inp..(first + n) * inp], format == Format::Q4_1);
					let mut p = vec![0f32; n];
					for o in 0..out {
						let row = Row {
							q: &m.quants[o * nb * qb..(o + 1) * nb * qb],
							d: &m.scales[o * nb..(o + 1) * nb],
							m: if m.mins.is_empty() { &[] } else { &m.mins[o * nb..(o + 1) * nb] },
						};
						portable(format, &row, &a, inp, &mut p);
						for r in 0..n {
							assert_eq!(p[r].to_bits(), y[(first + r) * out + o].to_bits(), "{format:?}");
						}
					}
				}
			}
			// The activations' rounding: a block's largest input is ±32767 steps, zeros stay zero.
			let a = Activations::of(&[vec![0.0; BLOCK], values(BLOCK, 3)].concat(), format == Format::Q4_1);
			assert!(a.q[..BLOCK].iter().all(|&q| q == 0) && a.s[0] == 0.0);
			assert_eq!(a.q[BLOCK..].iter().map(|q| q.unsigned_abs()).max(), Some(32767));
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

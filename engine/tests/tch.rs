//! burn's tch backend (libtorch) against flex: the same weights give the same logits and the
//! same LoRA gradients within a stated tolerance. Built only with `--features tch`, run by
//! `scripts/engine-tch` (libtorch from the PyTorch wheel), never in CI.
#![cfg(feature = "tch")]

mod common;

use burn::tensor::Device;
use common::*;
use mnemo_engine::model::{
	lora::{Lora, LoraConfig, Target},
	Llama, ToHost,
};

/// Stated tolerance between the backends (different kernels, different summation orders).
const TOL: f32 = 1e-4;

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
	assert_eq!(a.len(), b.len());
	a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn tch_gives_flex_logits_and_lora_gradients() {
	let base = tiny_base();
	#[allow(deprecated)]
	let tch = Device::libtorch();
	// The same weights on libtorch: written out by the flex model, read back on tch.
	let weights = base.model.weights();
	struct Held(Vec<(String, Vec<usize>, Vec<f32>)>);
	impl mnemo_engine::model::WeightSource for Held {
		fn get(&self, name: &str, _shape: &[usize]) -> mnemo_engine::Result<Vec<f32>> {
			Ok(self.0.iter().find(|w| w.0 == name).expect("every weight").2.clone())
		}
	}
	let on_tch = Llama::from_source(base.model.config.clone(), &Held(weights), &tch).unwrap();
	let p = base.tokenizer.encode("Now is the winter of our discontent").unwrap();
	let a = base.model.forward(&[p.clone()], None, None).to_host();
	let b = on_tch.forward(&[p.clone()], None, None).to_host();
	let d = max_abs_diff(&a, &b);
	println!("flex vs tch logits: max |diff| {d:.2e} (tolerance {TOL:.0e})");
	assert!(d <= TOL);
	// One LoRA training step (forward, backward, AdamW): the loss and the adapter after it.
	let cfg = LoraConfig::new(4, 8.0, vec![Target::Q, Target::V], "tiny").unwrap();
	let step = |m: &Llama, dev: &Device| {
		let ad = dev.clone().autodiff();
		let mut lora = Lora::init(cfg.clone(), &m.config, 3, &ad);
		let inputs = vec![p[..p.len() - 1].to_vec()];
		let targets = vec![p[1..].to_vec()];
		let weights = vec![1.0 / (p.len() - 1) as f32; p.len() - 1];
		let (loss, grads) = mnemo_engine::train::batch_gradients(m, &lora, &inputs, &targets, &weights).unwrap();
		let mut optim = burn::optim::AdamWConfig::new().with_weight_decay(0.0).init();
		lora.weights = optim.step(1e-2, lora.weights, grads);
		let after: Vec<f32> = lora.weights.pairs.iter().flat_map(|p| [p.a.val().inner().to_host(), p.b.val().inner().to_host()]).flatten().collect();
		(loss, after)
	};
	let (la, wa) = step(&base.model, base.model.device());
	let (lb, wb) = step(&on_tch, &tch);
	let d = max_abs_diff(&wa, &wb);
	println!("flex vs tch: loss {la:.6} vs {lb:.6}; adapter after one step max |diff| {d:.2e}");
	assert!((la - lb).abs() <= f64::from(TOL));
	assert!(d <= TOL);
}

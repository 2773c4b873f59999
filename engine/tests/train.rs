//! ModelFactory on the pretrained tiny base: training lowers held-out loss, runs are
//! deterministic, adapters are written in PEFT's layout, evaluation matches `metrics.json`.

mod common;

use common::*;
use mnemo_engine::{
	train::data::{split, Contribution, DataSettings},
	home,
	model::lora::Lora,
	model::{Config, Llama},
	train::{self, chunk_losses, TrainSettings},
};

fn settings() -> TrainSettings {
	TrainSettings {
		rank: 8,
		alpha: 16.0,
		targets: ["q", "v", "o", "up", "down"].map(String::from).to_vec(),
		epochs: 8,
		learning_rate: 2e-2,
		seed: 42,
		batch: 8,
		data: DataSettings { chunk_len: 48, holdout: 0.2, max_eval_tokens: 0 },
	}
}

#[test]
fn the_tiny_base_is_pretrained_on_text_unlike_the_test_datanets() {
	let base = tiny_base();
	assert!(base.model.config.parameters() > 200_000 && base.model.config.parameters() < 1_000_000);
	// Fresh sentences from the pretraining grammar (another seed): the base predicts them well.
	let fresh = [Contribution::parse("fresh", home::pretraining_text(40, 999).as_bytes(), None).unwrap()];
	let s = DataSettings { chunk_len: 48, holdout: 0.5, max_eval_tokens: 0 };
	let data = split(&fresh, &base.tokenizer, &s).unwrap();
	let chunks: Vec<_> = data.train.iter().collect();
	let mean = |m: &Llama| {
		let l = chunk_losses(m, None, &chunks, 8, 0);
		l.iter().map(|x| x.0).sum::<f64>() / l.iter().map(|x| x.1).sum::<u64>() as f64
	};
	// A model that learned nothing does no better than uniform: ln 259 = 5.56 nats per token.
	let (pre, uniform) = (mean(&base.model), (259f64).ln());
	eprintln!("pretrained tiny base: {pre:.3} nats/token on fresh sentences (uniform {uniform:.3})");
	assert!(pre < 0.5 * uniform, "pretrained {pre:.3} nats/token vs uniform {uniform:.3}");
}

#[test]
fn training_lowers_held_out_loss_and_is_deterministic() {
	let base = tiny_base();
	let data = recipes(3);
	let run = || train::train(&base.model, &base.tokenizer, "tiny", &data, &settings(), |_| {}).unwrap();
	let a = run();
	let e = &a.metrics.eval;
	assert!(e.eval_tokens > 100);
	assert!(e.adapter.loss < 0.8 * e.base.loss, "adapter {:.3} vs base {:.3}", e.adapter.loss, e.base.loss);
	for c in &e.per_contribution {
		assert!(c.eval.eval_tokens > 0 && c.eval.adapter.loss < c.eval.base.loss, "{c:?}");
	}
	assert_eq!(e.per_datanet.len(), 1);
	assert_eq!(e.per_datanet[0].eval_tokens, e.eval_tokens);
	let losses = &a.metrics.train.losses;
	assert_eq!(losses.len(), a.metrics.train.steps);
	assert!(losses.last().unwrap() < &losses[0]);

	let b = run();
	assert_eq!(a.lora.to_safetensors().unwrap(), b.lora.to_safetensors().unwrap(), "same inputs, same adapter bytes");
	assert_eq!(serde_json::to_string(&a.metrics).unwrap(), serde_json::to_string(&b.metrics).unwrap());

	// Evaluating the saved adapter again (what `mnemo-engine eval` does) gives the same numbers.
	let dir = tempfile::tempdir().unwrap();
	a.lora.save_peft(dir.path()).unwrap();
	let loaded = Lora::load_peft(dir.path(), &base.model.config, &device()).unwrap();
	let s = settings();
	let split = split(&data, &base.tokenizer, &s.data).unwrap();
	let again = train::evaluate(&base.model, &loaded, &data, &split, &s.data, s.batch, base.tokenizer.eos);
	assert_eq!(&again, e);
}

#[test]
fn adapters_are_written_in_peft_layout() {
	let base = tiny_base();
	let mut s = settings();
	s.epochs = 1;
	s.targets = vec!["q".into(), "v".into(), "up".into()];
	let t = train::train(&base.model, &base.tokenizer, "tiny", &recipes(1), &s, |_| {}).unwrap();
	let dir = tempfile::tempdir().unwrap();
	let bytes = t.lora.save_peft(dir.path()).unwrap();
	let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
	let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
	names.sort();
	assert_eq!(names.len(), 3 * 3 * 2, "3 layers × 3 targets × (A, B)");
	let a = st.tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").unwrap();
	assert_eq!(a.shape(), [8, 96], "lora_A: [r, in_features]");
	let b = st.tensor("base_model.model.model.layers.2.mlp.up_proj.lora_B.weight").unwrap();
	assert_eq!(b.shape(), [256, 8], "lora_B: [out_features, r]");
	assert_eq!(a.dtype(), safetensors::Dtype::F32);
	let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
	assert_eq!(meta.metadata().as_ref().unwrap()["format"], "pt");

	let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("adapter_config.json")).unwrap()).unwrap();
	assert_eq!(cfg["peft_type"], "LORA");
	assert_eq!(cfg["task_type"], "CAUSAL_LM");
	assert_eq!(cfg["r"], 8);
	assert_eq!(cfg["lora_alpha"], 16.0);
	assert_eq!(cfg["target_modules"], serde_json::json!(["q_proj", "v_proj", "up_proj"]));
	assert_eq!(cfg["bias"], "none");
	assert_eq!(cfg["fan_in_fan_out"], false);

	// A damaged or mismatched file is refused with a reason.
	let err = Lora::from_safetensors(&bytes[..bytes.len() - 10], None, &base.model.config, &device()).unwrap_err();
	assert!(err.to_string().contains("adapter"), "{err}");
	let other = Config { hidden: 64, ..base.model.config.clone() };
	let err = Lora::from_safetensors(&bytes, None, &other, &device()).unwrap_err();
	assert!(err.to_string().contains("expected [8, 64]"), "{err}");
}

#[test]
fn bad_hyper_parameters_are_refused_before_training() {
	let base = tiny_base();
	let data = recipes(1);
	let bad = |f: &dyn Fn(&mut TrainSettings), want: &str| {
		let mut s = settings();
		f(&mut s);
		let err = train::train(&base.model, &base.tokenizer, "tiny", &data, &s, |_| {}).err().expect("refused").to_string();
		assert!(err.contains(want), "{err} should mention {want}");
	};
	bad(&|s| s.rank = 0, "rank 0");
	bad(&|s| s.targets = vec!["q".into(), "q_proj".into()], "listed twice");
	bad(&|s| s.targets = vec!["attn".into()], "unknown LoRA target");
	bad(&|s| s.epochs = 0, "epochs 0");
	bad(&|s| s.learning_rate = f64::NAN, "learning rate");
	bad(&|s| s.data.holdout = 0.0, "holdout");
	bad(&|s| s.data.chunk_len = 1000, "exceeds the model's context");
	bad(&|s| s.alpha = -1.0, "alpha");
	let err = train::train(&base.model, &base.tokenizer, "tiny", &[], &settings(), |_| {}).err().unwrap();
	assert!(err.to_string().contains("no contributions"));
}

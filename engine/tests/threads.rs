//! The thread count changes nothing but speed: training gives the same adapter bytes and
//! attribution the same scores and digest at 1 and 2 compute threads. The model here is big
//! enough that the products take burn-flex's and gemm's threaded paths (checked below), which
//! the tiny base's are not.

mod common;

use common::*;
use mnemo_engine::{
	attribution::{self, Inputs, Query, Settings},
	train::data::{Contribution, DataSettings},
	model::lora::Lora,
	model::{Config, Llama},
	train::{self, TrainSettings},
};
use mnemo_primitives::ContentHash;

/// burn-flex 0.22 runs a matrix product on one thread below `192³` multiply-adds
/// (`PARALLEL_THRESHOLD` in its `ops/matmul.rs`).
const FLEX_PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

fn config() -> Config {
	Config { vocab: 259, hidden: 256, intermediate: 768, layers: 2, heads: 4, kv_heads: 2, head_dim: 64, rope_theta: 10_000.0, rms_eps: 1e-5, max_seq: 128 }
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
	let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
	pool.install(|| {
		assert_eq!(rayon::current_num_threads(), threads);
		f()
	})
}

fn settings() -> TrainSettings {
	TrainSettings {
		targets: ["q", "v", "up"].map(String::from).to_vec(),
		epochs: 2,
		learning_rate: 5e-3,
		data: DataSettings { chunk_len: 48, holdout: 0.1, max_eval_tokens: 0 },
		..Default::default()
	}
}

#[test]
fn the_products_in_these_tests_are_large_enough_to_be_threaded() {
	let c = config();
	let s = settings();
	// Training: a batch of 8 chunks of 48 through the MLP; attribution: one 48-token unit.
	assert!(s.batch * s.data.chunk_len * c.hidden * c.hidden >= FLEX_PARALLEL_THRESHOLD);
	assert!(s.data.chunk_len * c.hidden * c.intermediate >= FLEX_PARALLEL_THRESHOLD);
}

#[test]
fn training_gives_the_same_adapter_and_metrics_at_1_and_2_threads() {
	let model = Llama::random(config(), 3, &device()).unwrap();
	let tok = tokenizer();
	let data = recipes(2);
	let run = |threads| {
		in_pool(threads, || {
			let t = train::train(&model, &tok, "test", &data, &settings(), |_| {}).unwrap();
			(t.lora.to_safetensors().unwrap(), serde_json::to_string(&t.metrics).unwrap())
		})
	};
	let (one, one_metrics) = run(1);
	let (two, two_metrics) = run(2);
	assert_eq!(ContentHash::of(&one), ContentHash::of(&two), "adapter bytes at 1 and 2 threads");
	assert_eq!(one_metrics, two_metrics);
	let untrained = Lora::init(settings().check("test").unwrap(), &config(), settings().seed, &device()).to_safetensors().unwrap();
	assert_ne!(one, untrained, "training moved the adapter");
}

#[test]
fn attribution_gives_the_same_bytes_at_1_and_2_threads() {
	let model = Llama::random(config(), 3, &device()).unwrap();
	let tok = tokenizer();
	let cs: Vec<Contribution> = ["kitchen", "garden", "sea"]
		.iter()
		.enumerate()
		.map(|(i, topic)| Contribution::parse(topic, topic_text(topic, 20 + i as u64, 4).as_bytes(), None).unwrap())
		.collect();
	let trained = train::train(&model, &tok, "test", &cs, &settings(), |_| {}).unwrap();
	let bytes = trained.lora.to_safetensors().unwrap();
	let lora_ad = Lora::from_safetensors(&bytes, None, &model.config, &device().autodiff()).unwrap();
	let query = Query { prompt: "At sea: ".into(), output: topic_text("sea", 77, 1).trim().to_string() };
	let ids: Vec<String> = cs.iter().map(|c| c.hash.to_hex()).collect();
	let inputs = Inputs {
		contributions: &cs,
		ids: &ids,
		adapter_hash: ContentHash::of(&bytes),
		query_hash: attribution::query_hash(&query),
		query: &query,
		cache: None,
	};
	let s = Settings { chunk_len: 48, min_span: 6, ..Default::default() };
	let run = |threads| {
		in_pool(threads, || {
			let a = attribution::attribute(&model, &tok, "test", &trained.lora, &lora_ad, &inputs, &s).unwrap();
			(a.scores, a.residual.to_bits(), a.digest, a.base_loss.to_bits(), a.adapter_loss.to_bits())
		})
	};
	let one = run(1);
	let two = run(2);
	assert!(!one.0.is_empty(), "some contribution is credited: {one:?}");
	assert_eq!(one, two, "1 thread versus 2");
}

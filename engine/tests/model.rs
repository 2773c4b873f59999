//! The decoder: shapes, the KV cache, LoRA's identity at B = 0, gradients against finite
//! differences, and loading from GGUF (f32 and Q4_1) through llama.cpp's q/k row order.

mod common;

use burn::tensor::{Tensor, TensorData};
use common::*;
use mnemo_engine::{
	model::gguf::{quantize_q4_1, Gguf, GgmlType, Writer},
	home,
	model::lora::{Lora, LoraConfig, Target},
	model::{permute_rope_rows, quant::Format, KvCache, Llama, ToHost},
};
use std::path::Path;

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
	assert_eq!(a.len(), b.len());
	a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn logits_have_the_right_shape_and_the_kv_cache_matches_a_full_pass() {
	let m = random_model(1);
	let tokens = vec![vec![5, 9, 40, 41, 100, 7], vec![3, 3, 3, 8, 200, 1]];
	let full = m.forward(&tokens, None, None);
	assert_eq!(full.dims(), [2, 6, 259]);
	let full = full.to_host();

	let mut cache = KvCache::new(&m.config, 2, 6, &device());
	let head: Vec<Vec<u32>> = tokens.iter().map(|r| r[..4].to_vec()).collect();
	let mut inc = m.forward(&head, None, Some(&mut cache)).to_host();
	for j in 4..6 {
		let step: Vec<Vec<u32>> = tokens.iter().map(|r| vec![r[j]]).collect();
		let out = m.forward(&step, None, Some(&mut cache)).to_host();
		// Interleave per row: inc holds [b][t][v]; rebuild row-wise below.
		inc.extend(out);
	}
	assert_eq!(cache.len, 6);
	let v = 259;
	for b in 0..2 {
		for t in 0..6 {
			let want = &full[(b * 6 + t) * v..(b * 6 + t + 1) * v];
			let got = if t < 4 {
				&inc[(b * 4 + t) * v..(b * 4 + t + 1) * v]
			} else {
				let base = 2 * 4 * v + (t - 4) * 2 * v;
				&inc[base + b * v..base + (b + 1) * v]
			};
			assert!(max_abs_diff(want, got) < 1e-4, "row {b} position {t}");
		}
	}
}

#[test]
fn an_untrained_adapter_is_exactly_the_base_model() {
	let m = random_model(2);
	let cfg = LoraConfig::new(4, 8.0, Target::ALL.to_vec(), "test").unwrap();
	let lora = Lora::init(cfg, &m.config, 3, &device());
	let tokens = vec![vec![10, 20, 30, 40, 50]];
	let base = m.forward(&tokens, None, None).to_host();
	let with = m.forward(&tokens, Some(&lora), None).to_host();
	assert_eq!(base, with, "B = 0 adds exactly nothing");
}

/// Loss of the model with `lora` on a fixed sequence (mean next-token NLL).
fn loss(m: &Llama, lora: &Lora, tokens: &[u32]) -> Tensor<1> {
	let inputs = vec![tokens[..tokens.len() - 1].to_vec()];
	let logits = m.forward(&inputs, Some(lora), None);
	let [b, t, _] = logits.dims();
	let ids: Vec<i64> = tokens[1..].iter().map(|&x| x as i64).collect();
	let ids = Tensor::<3, burn::tensor::Int>::from_data(TensorData::new(ids, [b, t, 1]), m.device());
	burn::tensor::activation::log_softmax(logits, 2).gather(2, ids).neg().mean()
}

#[test]
fn lora_gradients_match_finite_differences() {
	let m = random_model(4);
	let ad = device().autodiff();
	let cfg = LoraConfig::new(2, 4.0, vec![Target::Q, Target::V, Target::Down], "test").unwrap();
	let tokens = [7u32, 80, 81, 82, 9, 120, 33, 34];
	// Give B non-zero values so gradients flow into A as well.
	let peft = {
		let mut l = Lora::init(cfg.clone(), &m.config, 5, &device());
		for p in l.weights.pairs.iter_mut() {
			let [r, o] = p.b.val().dims();
			let vals: Vec<f32> = (0..r * o).map(|i| ((i * 37 % 17) as f32 - 8.0) / 40.0).collect();
			p.b = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(vals, [r, o]), &device()));
		}
		l.to_safetensors().unwrap()
	};
	let lora = Lora::from_safetensors(&peft, None, &m.config, &ad).unwrap();
	let l = loss(&m, &lora, &tokens);
	let grads = l.backward();
	let eps = 1e-2f32;
	let mut checked = 0;
	for (pi, pair) in lora.weights.pairs.iter().enumerate().step_by(2) {
		for (which, param) in [("A", &pair.a), ("B", &pair.b)] {
			let g = param.val().grad(&grads).expect("a gradient").to_host();
			let base_vals = param.val().inner().to_host();
			let dims = param.val().dims();
			for idx in [0, base_vals.len() / 2, base_vals.len() - 1] {
				let eval = |delta: f32| -> f64 {
					let mut l2 = Lora::from_safetensors(&peft, None, &m.config, &device()).unwrap();
					let p2 = &mut l2.weights.pairs[pi];
					let target = if which == "A" { &mut p2.a } else { &mut p2.b };
					let mut v = base_vals.clone();
					v[idx] += delta;
					*target = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(v, dims), &device()));
					loss(&m, &l2, &tokens).to_host()[0] as f64
				};
				let fd = (eval(eps) - eval(-eps)) / (2.0 * eps as f64);
				let an = g[idx] as f64;
				assert!((fd - an).abs() <= 2e-3 + 0.05 * an.abs(), "pair {pi} {which}[{idx}]: autodiff {an}, finite difference {fd}");
				checked += 1;
			}
		}
	}
	assert!(checked >= 12);
}

/// A GGUF file of `m` with its matrices stored as Q4_1 (norms and the embedding stay f32).
fn q4_1_file(m: &Llama) -> (Vec<u8>, Llama) {
	let g = Gguf::parse(home::to_gguf(m, "test"), Path::new("f32.gguf")).unwrap();
	let mut w = Writer::default();
	for (k, v) in &g.metadata {
		w.meta(k, v.clone());
	}
	for (name, info) in &g.tensors {
		let data = g.dequantize(name).unwrap();
		if info.dims.len() == 2 && name != "token_embd.weight" {
			w.tensor(name, info.dims.clone(), GgmlType::Q4_1, quantize_q4_1(&data));
		} else {
			w.tensor_f32(name, info.dims.clone(), &data);
		}
	}
	let bytes = w.to_bytes();
	// The same weights, dequantised and permuted back, as the expected model.
	let q = Gguf::parse(bytes.clone(), Path::new("q4.gguf")).unwrap();
	let expected = Llama::from_gguf(&q, m.config.max_seq, &device()).unwrap();
	(bytes, expected)
}

#[test]
fn a_model_written_as_gguf_loads_back_with_the_same_logits() {
	let m = random_model(6);
	let bytes = home::to_gguf(&m, "test");
	let g = Gguf::parse(bytes, Path::new("m.gguf")).unwrap();
	assert_eq!(g.info("blk.0.attn_q.weight").unwrap().dims, vec![32, 32], "ggml dims: [in, out]");
	let loaded = Llama::from_gguf(&g, 64, &device()).unwrap();
	assert_eq!(loaded.config, m.config);
	let tokens = vec![vec![1, 50, 60, 70, 80, 2]];
	assert_eq!(m.forward(&tokens, None, None).to_host(), loaded.forward(&tokens, None, None).to_host());

	// Loading without un-permuting q/k rows gives a different model: the permutation matters.
	let q = g.dequantize("blk.0.attn_q.weight").unwrap();
	assert_ne!(q, permute_rope_rows(&q, 4, 32, 32, true));

	// Q4_1 matrices: the loaded model is the dequantised one, close to the original.
	let (bytes, expected) = q4_1_file(&m);
	let g = Gguf::parse(bytes, Path::new("q.gguf")).unwrap();
	assert_eq!(g.info("blk.1.ffn_down.weight").unwrap().ty, GgmlType::Q4_1);
	let loaded = Llama::from_gguf(&g, 64, &device()).unwrap();
	let a = loaded.forward(&tokens, None, None).to_host();
	assert_eq!(a, expected.forward(&tokens, None, None).to_host());
	assert!(max_abs_diff(&a, &m.forward(&tokens, None, None).to_host()) < 0.05);
}

#[test]
fn rope_row_permutation_round_trips() {
	let w: Vec<f32> = (0..8 * 3).map(|i| i as f32).collect();
	let p = permute_rope_rows(&w, 2, 8, 3, false);
	assert_ne!(p, w);
	assert_eq!(permute_rope_rows(&p, 2, 8, 3, true), w);
	// Head 0, HF rows 0..4 are (x0, x1 | y0, y1); llama.cpp interleaves them as x0, y0, x1, y1.
	assert_eq!(&p[3..6], &w[6..9], "GGUF row 1 is HF row 2");
}

/// Catches a chunked LM head that drifts from the plain one: wrong rows in a chunk, a weight or
/// a max-shift lost, the one-hot term on the wrong rows. `head_loss` (chunks of logits, the
/// gradient formed on the host side of autodiff) against autodiff through the whole
/// `[batch, len, vocabulary]` log-softmax, with a vocabulary wide enough for several chunks.
#[test]
fn the_chunked_head_gives_the_loss_and_gradients_of_the_full_log_softmax() {
	use mnemo_engine::model::{Config, HEAD_CHUNK_ELEMENTS};
	let config = Config { vocab: 65_536, max_seq: 128, ..small_config() };
	let per_chunk = HEAD_CHUNK_ELEMENTS / config.vocab;
	let m = Llama::random(config.clone(), 7, &device()).unwrap();
	let (b, t) = (2, 100);
	assert!(b * t > 2 * per_chunk, "{} rows in chunks of {per_chunk}", b * t);
	let seq: Vec<Vec<u32>> = (0..b).map(|r| (0..=t).map(|j| ((r * 7919 + j * 104_729) % config.vocab) as u32).collect()).collect();
	let inputs: Vec<Vec<u32>> = seq.iter().map(|s| s[..t].to_vec()).collect();
	let targets: Vec<Vec<u32>> = seq.iter().map(|s| s[1..].to_vec()).collect();
	// Some rows masked out, the rest weighted to a mean.
	let mask: Vec<f32> = (0..b * t).map(|i| if i % 5 == 3 { 0.0 } else { 1.0 }).collect();
	let count: f32 = mask.iter().sum();
	let weights: Vec<f32> = mask.iter().map(|m| m / count).collect();

	let ad = device().autodiff();
	let cfg = LoraConfig::new(2, 4.0, vec![Target::Q, Target::V], "test").unwrap();
	let peft = {
		let mut l = Lora::init(cfg, &m.config, 5, &device());
		for p in l.weights.pairs.iter_mut() {
			let [r, o] = p.b.val().dims();
			let vals: Vec<f32> = (0..r * o).map(|i| ((i * 37 % 17) as f32 - 8.0) / 40.0).collect();
			p.b = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(vals, [r, o]), &device()));
		}
		l.to_safetensors().unwrap()
	};
	let grads_of = |backward: Tensor<1>, lora: &Lora| -> Vec<f32> {
		let g = backward.backward();
		lora.weights.pairs.iter().flat_map(|p| [p.a.val().grad(&g).unwrap().to_host(), p.b.val().grad(&g).unwrap().to_host()]).flatten().collect()
	};

	let plain = Lora::from_safetensors(&peft, None, &m.config, &ad).unwrap();
	let logits = m.forward(&inputs, Some(&plain), None);
	let ids: Vec<i64> = targets.iter().flatten().map(|&x| x as i64).collect();
	let ids = Tensor::<3, burn::tensor::Int>::from_data(TensorData::new(ids, [b, t, 1]), m.device());
	let nll = burn::tensor::activation::log_softmax(logits, 2).gather(2, ids).neg().reshape([b * t]);
	let w = Tensor::<1>::from_data(TensorData::new(weights.clone(), [b * t]), m.device());
	let reference = (nll.clone() * w).sum();
	let reference_value = reference.clone().to_host()[0] as f64;
	let reference_nll = nll.inner().to_host();
	let reference_grads = grads_of(reference, &plain);

	let chunked = Lora::from_safetensors(&peft, None, &m.config, &ad).unwrap();
	let h = m.hidden(&inputs, Some(&chunked), None).reshape([b * t, config.hidden]);
	let head = m.head_loss(h, &targets.concat(), &weights);
	assert!(max_abs_diff(&head.nll, &reference_nll) < 1e-4, "per-row NLL: {}", max_abs_diff(&head.nll, &reference_nll));
	assert!((head.value - reference_value).abs() < 1e-5 * reference_value.abs(), "loss {} vs {reference_value}", head.value);
	let grads = grads_of(head.backward, &chunked);
	let scale = reference_grads.iter().fold(0f32, |a, g| a.max(g.abs()));
	assert!(scale > 0.0, "the reference has gradients to compare");
	let diff = max_abs_diff(&grads, &reference_grads);
	assert!(diff < 1e-4 * scale, "gradients differ by {diff} (largest {scale})");
	// Without an adapter and without weights (evaluation's path): the base model's NLL.
	let ids: Vec<i64> = targets.iter().flatten().map(|&x| x as i64).collect();
	let ids = Tensor::<3, burn::tensor::Int>::from_data(TensorData::new(ids, [b, t, 1]), m.device());
	let base_nll = burn::tensor::activation::log_softmax(m.forward(&inputs, None, None), 2).gather(2, ids).neg().to_host();
	let head_nll = m.head_nll(m.hidden(&inputs, None, None).reshape([b * t, config.hidden]), &targets.concat());
	assert!(max_abs_diff(&head_nll, &base_nll) < 1e-4, "base NLL: {}", max_abs_diff(&head_nll, &base_nll));
}

/// Stated bound: the Q8_0 copy's logits stay within this of the f32 model's on the tiny base,
/// whose logits reach ±15 (measured: 0.72 at worst; 0.02 to 0.07 at most positions, the higher
/// figures with the LM head quantised too). Its top logits are often close, so a few greedy
/// choices flip (measured 37 of 40 and 98 of 100 agree).
const Q8_LOGIT_BOUND: f32 = 1.0;

fn argmax(v: &[f32]) -> usize {
	v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

/// Q8_0 serving weights: the quantised-product path (up to 64 rows, the LM head quantised too),
/// the dequantised path (more rows) and decoding through the cache all give the f32 model's
/// logits within a stated bound and its greedy choice at 9 positions of 10, and a decode
/// step reads about 3.6× fewer bytes.
#[test]
fn q8_weights_stay_within_the_stated_bound_of_f32() {
	let base = tiny_base();
	let f32m = &base.model;
	let q8 = f32m.quantized(Format::Q8_0).unwrap();
	let v = f32m.config.vocab;
	assert!(f32m.decode_bytes() as f64 / q8.decode_bytes() as f64 > 3.5, "{} vs {} bytes", f32m.decode_bytes(), q8.decode_bytes());
	let p = base.tokenizer.encode(&"To be, or not to be, that is the question. ".repeat(3)).unwrap();
	let mut report = Vec::new();
	// 40 rows through the quantised product, then 100 (more than it takes) dequantised.
	for n in [40, 100] {
		let rows: Vec<u32> = p.iter().cycle().take(n).copied().collect();
		let want = f32m.forward(&[rows.clone()], None, None).to_host();
		let got = q8.forward(&[rows.clone()], None, None).to_host();
		let agree = (0..n).filter(|&i| argmax(&want[i * v..(i + 1) * v]) == argmax(&got[i * v..(i + 1) * v])).count();
		report.push((n, max_abs_diff(&want, &got), agree));
	}
	// Decoding: the prompt through a cache, then single rows.
	let mut cw = KvCache::new(&f32m.config, 1, p.len() + 4, &device());
	let mut cq = KvCache::new(&q8.config, 1, p.len() + 4, &device());
	f32m.forward(&[p.clone()], None, Some(&mut cw));
	q8.forward(&[p.clone()], None, Some(&mut cq));
	let (mut decode, mut agree) = (0f32, 0);
	for t in [17u32, 101, 42, 7] {
		let a = f32m.forward(&[vec![t]], None, Some(&mut cw)).to_host();
		let b = q8.forward(&[vec![t]], None, Some(&mut cq)).to_host();
		decode = decode.max(max_abs_diff(&a, &b));
		agree += usize::from(argmax(&a) == argmax(&b));
	}
	report.push((1, decode, agree));
	println!("Q8_0 vs f32 (rows, max |logit diff|, greedy agreements): {report:?}; bound {Q8_LOGIT_BOUND}");
	for (n, d, agree) in report {
		assert!(d > 0.0, "the quantised copy is really quantised");
		assert!(d <= Q8_LOGIT_BOUND, "{n} rows: {d}");
		assert!(n < 40 || agree * 10 >= 9 * n, "{n} rows: greedy choices agree at {agree}");
	}
}

/// Q4_1 serving weights give back a Q4_1 file's own values: the tiny base written with Q4_1
/// matrices (as SmolLM2's file is), loaded (dequantised to f32), then held as Q4_1 again, gives
/// the loaded model's hidden states through the quantised product (40 rows) and the dequantised
/// one (100 rows) to float rounding, and a decode step reads over 5× fewer bytes of projections.
#[test]
fn q4_1_weights_give_back_a_q4_1_files_values() {
	let base = tiny_base();
	let (_, file_model) = q4_1_file(&base.model);
	let q4 = file_model.quantized(Format::Q4_1).unwrap();
	let q8 = file_model.quantized(Format::Q8_0).unwrap();
	let p = base.tokenizer.encode(&"To be, or not to be, that is the question. ".repeat(3)).unwrap();
	for n in [40, 100] {
		let rows: Vec<u32> = p.iter().cycle().take(n).copied().collect();
		let want = file_model.hidden(&[rows.clone()], None, None).to_host();
		let d4 = max_abs_diff(&want, &q4.hidden(&[rows.clone()], None, None).to_host());
		let d8 = max_abs_diff(&want, &q8.hidden(&[rows.clone()], None, None).to_host());
		println!("{n} rows: hidden states, Q4_1 copy {d4:.2e}, Q8_0 copy {d8:.2e}");
		assert!(d4 <= 1e-4, "Q4_1 gives the file's values back: {d4}");
		assert!(d8 > 10.0 * d4, "Q8_0 of the same values rounds again (the check can tell)");
	}
	assert!(file_model.decode_bytes() as f64 / q4.decode_bytes() as f64 > 3.0);
	assert!(q8.decode_bytes() > q4.decode_bytes());
}

/// A quantised model's small passes run on the host (`model/host.rs`), larger ones as tensors;
/// with Q4_1 weights that are the file's own, both must give the f32 model's hidden states to
/// float rounding: decode steps through a cache, a ragged serving step (a prompt chunk beside
/// decoding rows, each on its own span), with a LoRA adapter's update and without.
#[test]
fn a_quantised_models_host_passes_compute_what_the_tensor_path_does() {
	use mnemo_engine::model::{KvArena, LowRank, SeqStep};
	let base = tiny_base();
	let (_, f32m) = q4_1_file(&base.model);
	let q4 = f32m.quantized(Format::Q4_1).unwrap();
	let lora = mnemo_engine::bench::serve::random_adapter(&base, 4, &Target::ALL, 3, 0.2).unwrap();
	let p = base.tokenizer.encode("Now is the winter of our discontent").unwrap();
	for adapter in [None, Some(&lora)] {
		let mut worst = 0f32;
		let (mut cw, mut cq) = (KvCache::new(&f32m.config, 1, p.len() + 3, &device()), KvCache::new(&q4.config, 1, p.len() + 3, &device()));
		for rows in [p.clone(), vec![17], vec![101], vec![42]] {
			let a = f32m.hidden(&[rows.clone()], adapter, Some(&mut cw)).to_host();
			let b = q4.hidden(&[rows], adapter, Some(&mut cq)).to_host();
			worst = worst.max(max_abs_diff(&a, &b));
		}
		// Serving's ragged step: two sequences decode one token each beside a 5-token chunk.
		let ragged = |m: &Llama| {
			let mut arena = KvArena::new(&m.config, KvCache::bytes_per_position(&m.config) * 64, 64, &device()).unwrap();
			let mut spans: Vec<_> = (0..3).map(|_| arena.reserve(20).unwrap()).collect();
			let low_rank = adapter.map(|l| l as &dyn LowRank);
			let firsts = [&p[..4], &p[..6], &p[..1]];
			let mut seqs: Vec<SeqStep> = firsts.iter().zip(spans.iter_mut()).map(|(t, span)| SeqStep { tokens: t, span }).collect();
			m.hidden_ragged(&mut arena.cache, &mut seqs, low_rank, false);
			let next: [&[u32]; 3] = [&[9], &[77], &p[1..6]];
			let mut seqs: Vec<SeqStep> = next.iter().zip(spans.iter_mut()).map(|(t, span)| SeqStep { tokens: t, span }).collect();
			m.hidden_ragged(&mut arena.cache, &mut seqs, low_rank, false).to_host()
		};
		worst = worst.max(max_abs_diff(&ragged(&f32m), &ragged(&q4)));
		println!("host path vs f32 (adapter: {}): {worst:.2e}", adapter.is_some());
		assert!(worst <= 1e-4, "{worst}");
	}
	// The check can tell: Q8_0 of the same values rounds again.
	let q8 = f32m.quantized(Format::Q8_0).unwrap();
	let mut cache = KvCache::new(&q8.config, 1, p.len(), &device());
	let d = max_abs_diff(&f32m.hidden(&[p.clone()], None, None).to_host(), &q8.hidden(&[p.clone()], None, Some(&mut cache)).to_host());
	assert!(d > 1e-3, "{d}");
}

/// `lora`'s tensors rewritten in `dtype` (f16 or bf16), with a PEFT config saying `use_rslora`.
fn peft_file(lora: &Lora, dtype: safetensors::Dtype) -> (Vec<u8>, serde_json::Value) {
	let f32_file = lora.to_safetensors().unwrap();
	let st = safetensors::SafeTensors::deserialize(&f32_file).unwrap();
	let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
		.tensors()
		.into_iter()
		.map(|(name, view)| {
			let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
			let bytes: Vec<u8> = match dtype {
				safetensors::Dtype::F16 => values.flat_map(|v| half::f16::from_f32(v).to_le_bytes()).collect(),
				safetensors::Dtype::BF16 => values.flat_map(|v| half::bf16::from_f32(v).to_le_bytes()).collect(),
				_ => values.flat_map(|v| (v as i64).to_le_bytes()).collect(),
			};
			(name, view.shape().to_vec(), bytes)
		})
		.collect();
	let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
		.iter()
		.map(|(n, shape, b)| (n.clone(), safetensors::tensor::TensorView::new(dtype, shape.clone(), b).unwrap()))
		.collect();
	let bytes = safetensors::serialize(views, None).unwrap();
	let mut config = lora.config.peft_json();
	config["use_rslora"] = serde_json::json!(true);
	(bytes, config)
}

#[test]
fn peft_adapters_in_half_precision_with_rank_stabilised_scaling_load_as_peft_means_them() {
	let m = random_model(4);
	let cfg = LoraConfig::new(4, 8.0, vec![Target::Q, Target::V], "test").unwrap();
	let mut lora = Lora::init(cfg, &m.config, 5, &device());
	for p in lora.weights.pairs.iter_mut() {
		let [r, o] = p.b.val().dims();
		let vals: Vec<f32> = (0..r * o).map(|i| ((i * 37 % 17) as f32 - 8.0) / 40.0).collect();
		p.b = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(vals, [r, o]), &device()));
	}
	let tokens = vec![vec![7u32, 80, 81, 82, 9, 120]];
	for dtype in [safetensors::Dtype::F16, safetensors::Dtype::BF16] {
		let (bytes, config) = peft_file(&lora, dtype);
		let loaded = Lora::from_safetensors(&bytes, Some(&config), &m.config, &device()).unwrap();
		// alpha / √r, not alpha / r.
		assert!(loaded.config.rslora);
		assert_eq!(loaded.config.scale(), 8.0 / 2.0);
		// The values, widened from half precision.
		let tol = if dtype == safetensors::Dtype::F16 { 1e-3 } else { 1e-2 };
		for (a, b) in lora.weights.pairs.iter().zip(&loaded.weights.pairs) {
			assert!(max_abs_diff(&a.b.val().to_host(), &b.b.val().to_host()) <= tol, "{dtype:?}");
		}
		// The same outputs as the f32 adapter with alpha · √r under plain scaling (within the
		// half-precision rounding of its weights).
		let mut doubled = lora.config.peft_json();
		doubled["lora_alpha"] = serde_json::json!(8.0 * 2.0);
		let plain = Lora::from_safetensors(&lora.to_safetensors().unwrap(), Some(&doubled), &m.config, &device()).unwrap();
		let want = m.forward(&tokens, Some(&plain), None).to_host();
		let got = m.forward(&tokens, Some(&loaded), None).to_host();
		assert!(max_abs_diff(&want, &got) <= 20.0 * tol, "{dtype:?}: {}", max_abs_diff(&want, &got));
		// And not the outputs of alpha / r: the scaling is honoured, not ignored.
		let ignored = m.forward(&tokens, Some(&lora), None).to_host();
		assert!(max_abs_diff(&ignored, &got) > 20.0 * tol, "{dtype:?}: rslora made no difference");
	}
	// Another dtype is one clear refusal.
	let (bytes, config) = peft_file(&lora, safetensors::Dtype::I64);
	let err = Lora::from_safetensors(&bytes, Some(&config), &m.config, &device()).err().expect("refused").to_string();
	assert!(err.contains("F32, F16 or BF16"), "{err}");
	let mut bad = config.clone();
	bad["use_rslora"] = serde_json::json!("yes");
	let (f16, _) = peft_file(&lora, safetensors::Dtype::F16);
	let err = Lora::from_safetensors(&f16, Some(&bad), &m.config, &device()).err().expect("refused").to_string();
	assert!(err.contains("use_rslora"), "{err}");
}

/// `bytes` (a GGUF file) with `extra` metadata set and, if given, an `output.weight` tensor.
fn regguf(bytes: Vec<u8>, extra: &[(&str, mnemo_engine::model::gguf::Value)], output: Option<(Vec<u64>, &[f32])>) -> Vec<u8> {
	let g = Gguf::parse(bytes, Path::new("in.gguf")).unwrap();
	let mut w = Writer::default();
	for (k, v) in &g.metadata {
		w.meta(k, v.clone());
	}
	for (k, v) in extra {
		w.meta(k, v.clone());
	}
	for (name, info) in &g.tensors {
		w.tensor_f32(name, info.dims.clone(), &g.dequantize(name).unwrap());
	}
	if let Some((dims, data)) = output {
		w.tensor_f32("output.weight", dims, data);
	}
	w.to_bytes()
}

#[test]
fn an_untied_output_head_and_wide_heads_load_as_the_file_says_and_unsupported_files_are_refused() {
	use mnemo_engine::model::{gguf::Value, Config};
	// Widths in whole 32-weight blocks, so the model can be quantised too.
	let m = Llama::random(Config { intermediate: 64, ..small_config() }, 8, &device()).unwrap();
	let (v, h) = (m.config.vocab, m.config.hidden);
	let tokens = vec![vec![1u32, 50, 60, 70, 80, 2]];
	// An untied head: logits are the final hidden states times `output.weight`, not the
	// embedding.
	let head: Vec<f32> = (0..v * h).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 2000.0).collect();
	let bytes = regguf(home::to_gguf(&m, "test"), &[], Some((vec![h as u64, v as u64], &head)));
	let untied = Llama::from_gguf(&Gguf::parse(bytes, Path::new("u.gguf")).unwrap(), 64, &device()).unwrap();
	let hidden = untied.hidden(&tokens, None, None).to_host();
	let t = hidden.len() / h;
	let mut want = vec![0f32; t * v];
	for r in 0..t {
		for o in 0..v {
			want[r * v + o] = (0..h).map(|i| hidden[r * h + i] * head[o * h + i]).sum();
		}
	}
	let got = untied.forward(&tokens, None, None).to_host();
	assert!(max_abs_diff(&want, &got) < 1e-4, "{}", max_abs_diff(&want, &got));
	assert!(max_abs_diff(&got, &m.forward(&tokens, None, None).to_host()) > 0.1, "the head was ignored");
	// It survives writing and quantising.
	let again = Llama::from_gguf(&Gguf::parse(home::to_gguf(&untied, "u"), Path::new("u2.gguf")).unwrap(), 64, &device()).unwrap();
	assert_eq!(again.forward(&tokens, None, None).to_host(), got);
	let q = untied.quantized(Format::Q8_0).unwrap();
	assert!(max_abs_diff(&q.forward(&tokens, None, None).to_host(), &got) < 0.05);

	// Heads wider than hidden / heads: the file's key length decides.
	let wide = Llama::random(Config { head_dim: 16, ..small_config() }, 3, &device()).unwrap();
	let loaded = Llama::from_gguf(&Gguf::parse(home::to_gguf(&wide, "w"), Path::new("w.gguf")).unwrap(), 64, &device()).unwrap();
	assert_eq!(loaded.config.head_dim, 16);
	assert_eq!(loaded.forward(&tokens, None, None).to_host(), wide.forward(&tokens, None, None).to_host());

	// What the engine does not implement is refused by name, not run wrongly.
	let refuse = |extra: &[(&str, Value)], want: &str| {
		let bytes = regguf(home::to_gguf(&m, "test"), extra, None);
		let err = Llama::from_gguf(&Gguf::parse(bytes, Path::new("r.gguf")).unwrap(), 64, &device()).err().expect("refused").to_string();
		assert!(err.contains(want), "{err}");
	};
	refuse(&[("llama.rope.scaling.type", Value::String("yarn".into()))], "RoPE scaling `yarn`");
	refuse(&[("llama.rope.dimension_count", Value::U32(4))], "RoPE over 4");
	refuse(&[("general.architecture", Value::String("qwen2".into()))], "not llama");
	refuse(&[("llama.attention.value_length", Value::U32(4))], "value heads 4 wide");
}

/// Q4_K, Q5_K and Q6_K super-blocks dequantise to what llama.cpp's own Python package gives
/// (`tests/fixtures/kquants.json`, written by `scripts/kquant_fixture.py` with gguf-py 0.19.0).
#[test]
fn k_quant_blocks_dequantise_as_llama_cpp_does() {
	use mnemo_engine::model::gguf::dequantize;
	let fixture: serde_json::Value =
		serde_json::from_str(include_str!("fixtures/kquants.json")).expect("the fixture is JSON");
	for (name, ty) in [("Q4_K", GgmlType::Q4_K), ("Q5_K", GgmlType::Q5_K), ("Q6_K", GgmlType::Q6_K)] {
		let blocks = hex::decode(fixture[name]["blocks"].as_str().unwrap()).unwrap();
		let want: Vec<f32> = fixture[name]["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
		assert_eq!(want.len(), 3 * 256, "{name}");
		let got = dequantize(ty, &blocks);
		assert_eq!(got.len(), want.len(), "{name}");
		let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
		assert_eq!(worst, 0.0, "{name}: differs from llama.cpp's by up to {worst}");
		assert!(want.iter().any(|v| *v != 0.0), "{name}: a fixture of zeros proves nothing");
	}
}

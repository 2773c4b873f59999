//! LoRA adapters: `h = x·W + (alpha / r)·x·A·B` on the projections they target, with the base
//! weights `W` frozen. Initialised as PEFT does (A Kaiming-uniform, B zero, so a new adapter is
//! the base model exactly) and saved in PEFT's layout and key names:
//! `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight` (`[r, in]`) and
//! `...lora_B.weight` (`[out, r]`) in `adapter_model.safetensors`, plus `adapter_config.json`.

use crate::{
	model::ToHost,
	error::{Error, Result},
	model::Config,
};
use burn::{
	module::{Module, Param},
	tensor::{Device, Tensor, TensorData},
};
use rand::{Rng, SeedableRng};
use std::{collections::BTreeMap, path::Path};

/// A projection a LoRA adapter can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
	Q,
	K,
	V,
	O,
	Gate,
	Up,
	Down,
}

impl Target {
	pub const ALL: [Target; 7] = [Target::Q, Target::K, Target::V, Target::O, Target::Gate, Target::Up, Target::Down];

	/// Position in [`Self::ALL`].
	pub fn index(self) -> usize {
		self as usize
	}

	/// PEFT's module name (`q_proj`, ...).
	pub fn peft(self) -> &'static str {
		match self {
			Target::Q => "q_proj",
			Target::K => "k_proj",
			Target::V => "v_proj",
			Target::O => "o_proj",
			Target::Gate => "gate_proj",
			Target::Up => "up_proj",
			Target::Down => "down_proj",
		}
	}

	/// Path under a Hugging Face Llama layer (`self_attn.q_proj`, `mlp.up_proj`, ...).
	pub fn hf_path(self) -> String {
		match self {
			Target::Q | Target::K | Target::V | Target::O => format!("self_attn.{}", self.peft()),
			_ => format!("mlp.{}", self.peft()),
		}
	}

	/// Parses `q`, `q_proj`, `gate`, `gate_proj`, ...
	pub fn parse(s: &str) -> Result<Self> {
		let s = s.trim();
		Target::ALL
			.into_iter()
			.find(|t| t.peft() == s || t.peft().trim_end_matches("_proj") == s)
			.ok_or_else(|| Error::bad(format!("unknown LoRA target `{s}` (q, k, v, o, gate, up, down)")))
	}

	/// Parses a list, refusing an empty one and repeats.
	pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<Target>> {
		let mut out: Vec<Target> = Vec::new();
		for s in items {
			let t = Target::parse(s.as_ref())?;
			if out.contains(&t) {
				return Err(Error::bad(format!("LoRA target `{}` is listed twice", t.peft())));
			}
			out.push(t);
		}
		if out.is_empty() {
			return Err(Error::bad("a LoRA adapter needs at least one target module"));
		}
		out.sort();
		Ok(out)
	}
}

/// Largest rank accepted (the chain's `MaxRank` is lower).
pub const MAX_RANK: usize = 512;

/// An adapter's shape and scaling.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraConfig {
	pub rank: usize,
	pub alpha: f64,
	pub targets: Vec<Target>,
	/// The base model id the adapter belongs to.
	pub base: String,
	/// Rank-stabilised scaling (PEFT's `use_rslora`): `alpha / √r` instead of `alpha / r`.
	pub rslora: bool,
}

impl LoraConfig {
	pub fn new(rank: usize, alpha: f64, targets: Vec<Target>, base: &str) -> Result<Self> {
		if rank == 0 || rank > MAX_RANK {
			return Err(Error::bad(format!("LoRA rank {rank} is out of range 1..={MAX_RANK}")));
		}
		if !(alpha.is_finite() && alpha > 0.0) {
			return Err(Error::bad(format!("LoRA alpha {alpha} must be a positive number")));
		}
		if targets.is_empty() {
			return Err(Error::bad("a LoRA adapter needs at least one target module"));
		}
		Ok(LoraConfig { rank, alpha, targets, base: base.to_string(), rslora: false })
	}

	/// The factor on `x·A·B`: `alpha / r`, or `alpha / √r` for a rank-stabilised adapter.
	pub fn scale(&self) -> f64 {
		if self.rslora {
			self.alpha / (self.rank as f64).sqrt()
		} else {
			self.alpha / self.rank as f64
		}
	}

	/// `adapter_config.json` as PEFT writes it.
	pub fn peft_json(&self) -> serde_json::Value {
		serde_json::json!({
			"alpha_pattern": {},
			"auto_mapping": null,
			"base_model_name_or_path": hf_repo(&self.base),
			"bias": "none",
			"fan_in_fan_out": false,
			"inference_mode": true,
			"init_lora_weights": true,
			"layers_pattern": null,
			"layers_to_transform": null,
			"lora_alpha": self.alpha,
			"lora_dropout": 0.0,
			"modules_to_save": null,
			"peft_type": "LORA",
			"r": self.rank,
			"rank_pattern": {},
			"revision": null,
			"target_modules": self.targets.iter().map(|t| t.peft()).collect::<Vec<_>>(),
			"task_type": "CAUSAL_LM",
			"use_dora": false,
			"use_rslora": self.rslora,
		})
	}

	fn from_peft_json(v: &serde_json::Value, base: &str) -> Result<Self> {
		let bad = |what: &str| Error::bad(format!("adapter config: {what}"));
		if v.get("peft_type").and_then(|t| t.as_str()) != Some("LORA") {
			return Err(bad("peft_type is not LORA"));
		}
		if v.get("use_dora").and_then(|t| t.as_bool()) == Some(true) {
			return Err(bad("DoRA adapters are not supported"));
		}
		let rank = v.get("r").and_then(|r| r.as_u64()).ok_or_else(|| bad("`r` is missing"))? as usize;
		let alpha = v.get("lora_alpha").and_then(|r| r.as_f64()).ok_or_else(|| bad("`lora_alpha` is missing"))?;
		let targets: Vec<String> = v
			.get("target_modules")
			.and_then(|t| t.as_array())
			.ok_or_else(|| bad("`target_modules` is not a list"))?
			.iter()
			.filter_map(|t| t.as_str().map(str::to_string))
			.collect();
		let rslora = match v.get("use_rslora") {
			None | Some(serde_json::Value::Null) => false,
			Some(serde_json::Value::Bool(b)) => *b,
			Some(other) => return Err(bad(&format!("`use_rslora` is {other}, not true or false"))),
		};
		Ok(LoraConfig { rslora, ..LoraConfig::new(rank, alpha, Target::parse_list(&targets)?, base)? })
	}
}

/// The Hugging Face repository of a base model id, for `base_model_name_or_path`.
pub fn hf_repo(base: &str) -> String {
	match base {
		"smollm2-135m" => "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
		other => other.into(),
	}
}

/// One adapted projection: `a: [in, r]`, `b: [r, out]` (PEFT's `lora_A`, `lora_B` transposed).
#[derive(Module, Debug)]
pub struct LoraPair {
	pub a: Param<Tensor<2>>,
	pub b: Param<Tensor<2>>,
}

/// The trainable tensors, as one burn module for the optimiser.
#[derive(Module, Debug)]
pub struct LoraWeights {
	pub pairs: Vec<LoraPair>,
}

/// An adapter: its config and weights, and where each (layer, target) pair sits.
#[derive(Debug)]
pub struct Lora {
	pub config: LoraConfig,
	pub weights: LoraWeights,
	layers: usize,
}

impl Lora {
	/// A fresh adapter for `model`: A ~ U(-1/sqrt(in), 1/sqrt(in)) from `seed` (PEFT's Kaiming
	/// uniform with a = sqrt(5)), B = 0.
	pub fn init(config: LoraConfig, model: &Config, seed: u64, device: &Device) -> Self {
		let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
		let r = config.rank;
		let mut pairs = Vec::new();
		for _ in 0..model.layers {
			for &t in &config.targets {
				let (i, o) = model.dims(t);
				let bound = 1.0 / (i as f32).sqrt();
				let a: Vec<f32> = (0..i * r).map(|_| rng.random_range(-bound..bound)).collect();
				pairs.push(LoraPair {
					a: Param::from_tensor(Tensor::from_data(TensorData::new(a, [i, r]), device)),
					b: Param::from_tensor(Tensor::zeros([r, o], device)),
				});
			}
		}
		Lora { config, weights: LoraWeights { pairs }, layers: model.layers }
	}

	fn index(&self, layer: usize, target: Target) -> Option<usize> {
		let slot = self.config.targets.iter().position(|t| *t == target)?;
		(layer < self.layers).then(|| layer * self.config.targets.len() + slot)
	}

	/// `scale · x·A·B` for `x: [n, in]`, or `None` when the adapter does not target this
	/// projection.
	pub fn delta(&self, layer: usize, target: Target, x: Tensor<2>) -> Option<Tensor<2>> {
		let pair = &self.weights.pairs[self.index(layer, target)?];
		Some(x.matmul(pair.a.val()).matmul(pair.b.val()).mul_scalar(self.config.scale()))
	}

	/// `scale · A·B` (`[in, out]`), the update merging adds to a targeted weight.
	pub fn weight_delta(&self, layer: usize, target: Target) -> Option<Tensor<2>> {
		let pair = &self.weights.pairs[self.index(layer, target)?];
		Some(pair.a.val().matmul(pair.b.val()).mul_scalar(self.config.scale()))
	}

	/// Weights in PEFT's names and orientation, sorted by name.
	pub fn peft_tensors(&self) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
		let host = |t: Tensor<2>| t.to_host();
		let mut out = BTreeMap::new();
		for layer in 0..self.layers {
			for &t in &self.config.targets {
				let pair = &self.weights.pairs[self.index(layer, t).expect("targeted")];
				let prefix = format!("base_model.model.model.layers.{layer}.{}", t.hf_path());
				let a = pair.a.val().transpose();
				let b = pair.b.val().transpose();
				out.insert(format!("{prefix}.lora_A.weight"), (a.dims().to_vec(), host(a)));
				out.insert(format!("{prefix}.lora_B.weight"), (b.dims().to_vec(), host(b)));
			}
		}
		out
	}

	/// `adapter_model.safetensors` bytes: PEFT's tensors, `{"format": "pt"}` metadata plus our
	/// config, header keys in sorted order so the same weights always give the same bytes (and
	/// the same content hash).
	pub fn to_safetensors(&self) -> Result<Vec<u8>> {
		let tensors = self.peft_tensors();
		let bytes: BTreeMap<&String, Vec<u8>> =
			tensors.iter().map(|(k, (_, d))| (k, d.iter().flat_map(|v| v.to_le_bytes()).collect())).collect();
		let views = tensors
			.iter()
			.map(|(k, (shape, _))| {
				safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), &bytes[k])
					.map(|v| (k.clone(), v))
			})
			.collect::<Result<Vec<_>, _>>()
			.map_err(|e| Error::Internal(format!("safetensors: {e}")))?;
		let metadata = [
			("format".to_string(), "pt".to_string()),
			("mnemo.adapter_config".to_string(), self.config.peft_json().to_string()),
			("mnemo.base".to_string(), self.config.base.clone()),
		]
		.into_iter()
		.collect();
		let raw = safetensors::serialize(views, Some(metadata))
			.map_err(|e| Error::Internal(format!("safetensors: {e}")))?;
		canonical_header(raw)
	}

	/// A copy with the same values and fresh parameter ids: its own autodiff leaves, so that
	/// copies on several threads each record and differentiate a graph of their own.
	pub fn fork(&self) -> Lora {
		let leaf = |p: &Param<Tensor<2>>| Param::from_tensor(p.val().detach());
		let pairs = self.weights.pairs.iter().map(|p| LoraPair { a: leaf(&p.a), b: leaf(&p.b) }).collect();
		Lora { config: self.config.clone(), weights: LoraWeights { pairs }, layers: self.layers }
	}

	/// The gradient of every weight (`a`, `b` of each pair, in pair order) in `grads`.
	pub fn gradients(&self, grads: &burn::tensor::Gradients) -> Result<Vec<Tensor<2>>> {
		let get = |p: &Param<Tensor<2>>| p.val().grad(grads).ok_or_else(|| Error::Internal("a LoRA weight got no gradient".into()));
		self.weights.pairs.iter().flat_map(|p| [get(&p.a), get(&p.b)]).collect()
	}

	/// Reads an adapter from `adapter_model.safetensors` bytes written by [`Self::to_safetensors`]
	/// (or by PEFT, given its `adapter_config.json`), checking every tensor against `model`.
	pub fn from_safetensors(bytes: &[u8], config_json: Option<&serde_json::Value>, model: &Config, device: &Device) -> Result<Self> {
		let bad = |m: String| Error::bad(format!("adapter: {m}"));
		let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
		let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
		let info = meta.metadata().clone().unwrap_or_default();
		let base = info.get("mnemo.base").cloned().unwrap_or_default();
		let config = match (config_json, info.get("mnemo.adapter_config")) {
			(Some(v), _) => LoraConfig::from_peft_json(v, &base)?,
			(None, Some(s)) => {
				let v: serde_json::Value = serde_json::from_str(s).map_err(|e| bad(format!("config: {e}")))?;
				LoraConfig::from_peft_json(&v, &base)?
			},
			(None, None) => return Err(bad("no adapter_config.json and no config in the file".into())),
		};
		let r = config.rank;
		let mut pairs = Vec::new();
		for layer in 0..model.layers {
			for &t in &config.targets {
				let (i, o) = model.dims(t);
				let prefix = format!("base_model.model.model.layers.{layer}.{}", t.hf_path());
				let load = |suffix: &str, shape: [usize; 2]| -> Result<Tensor<2>> {
					let name = format!("{prefix}.{suffix}");
					let view = st.tensor(&name).map_err(|_| bad(format!("tensor `{name}` is missing")))?;
					if view.shape() != shape {
						return Err(bad(format!("tensor `{name}` is {:?}, expected {shape:?}", view.shape())));
					}
					// As PEFT saves them: f32, or f16 / bf16 (`save_pretrained` of a half-precision
					// model), widened to f32.
					let data: Vec<f32> = match view.dtype() {
						safetensors::Dtype::F32 => {
							view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
						},
						safetensors::Dtype::F16 => {
							view.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
						},
						safetensors::Dtype::BF16 => {
							view.data().chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
						},
						other => {
							return Err(bad(format!("tensor `{name}` is {other:?}; adapters are read in F32, F16 or BF16")))
						},
					};
					if data.iter().any(|v| !v.is_finite()) {
						return Err(bad(format!("tensor `{name}` holds a non-finite value")));
					}
					Ok(Tensor::<2>::from_data(TensorData::new(data, shape), device).transpose())
				};
				let a = load("lora_A.weight", [r, i])?;
				let b = load("lora_B.weight", [o, r])?;
				pairs.push(LoraPair { a: Param::from_tensor(a), b: Param::from_tensor(b) });
			}
		}
		if st.len() != pairs.len() * 2 {
			return Err(bad(format!("{} tensors, expected {}", st.len(), pairs.len() * 2)));
		}
		Ok(Lora { config, weights: LoraWeights { pairs }, layers: model.layers })
	}

	/// The base model id an adapter written by [`Self::to_safetensors`] names in its metadata.
	pub fn base_of(bytes: &[u8]) -> Result<String> {
		let (_, meta) =
			safetensors::SafeTensors::read_metadata(bytes).map_err(|e| Error::bad(format!("adapter: {e}")))?;
		meta.metadata()
			.as_ref()
			.and_then(|m| m.get("mnemo.base"))
			.filter(|b| !b.is_empty())
			.cloned()
			.ok_or_else(|| Error::bad("adapter: its metadata names no base model (`mnemo.base`)"))
	}

	/// Writes `adapter_model.safetensors` and `adapter_config.json` into `dir`; returns the
	/// safetensors bytes.
	pub fn save_peft(&self, dir: &Path) -> Result<Vec<u8>> {
		std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
		let bytes = self.to_safetensors()?;
		let st = dir.join("adapter_model.safetensors");
		std::fs::write(&st, &bytes).map_err(Error::io(&st))?;
		let cfg = dir.join("adapter_config.json");
		let json = serde_json::to_string_pretty(&self.config.peft_json()).expect("json");
		std::fs::write(&cfg, json).map_err(Error::io(&cfg))?;
		Ok(bytes)
	}

	/// Loads an adapter directory written by [`Self::save_peft`] or by PEFT.
	pub fn load_peft(dir: &Path, model: &Config, device: &Device) -> Result<Self> {
		let st = dir.join("adapter_model.safetensors");
		let bytes = std::fs::read(&st).map_err(Error::io(&st))?;
		let cfg = dir.join("adapter_config.json");
		let json = match std::fs::read(&cfg) {
			Ok(b) => Some(serde_json::from_slice(&b).map_err(|e| Error::bad(format!("{}: {e}", cfg.display())))?),
			Err(_) => None,
		};
		Self::from_safetensors(&bytes, json.as_ref(), model, device)
	}
}

/// Rewrites a safetensors header with its JSON keys sorted (the crate writes metadata from a
/// `HashMap`, whose order changes from run to run), padded to 8 bytes as the format requires.
fn canonical_header(raw: Vec<u8>) -> Result<Vec<u8>> {
	let bad = || Error::Internal("safetensors header".into());
	let n = u64::from_le_bytes(raw.get(..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
	let header: serde_json::Value = serde_json::from_slice(raw.get(8..8 + n).ok_or_else(bad)?).map_err(|_| bad())?;
	let mut json = serde_json::to_vec(&sorted(header)).map_err(|_| bad())?;
	json.resize(json.len().div_ceil(8) * 8, b' ');
	let mut out = (json.len() as u64).to_le_bytes().to_vec();
	out.extend_from_slice(&json);
	out.extend_from_slice(&raw[8 + n..]);
	Ok(out)
}

/// `v` with every object's keys inserted in sorted order (whether or not some dependency turned
/// on serde_json's insertion-ordered maps).
fn sorted(v: serde_json::Value) -> serde_json::Value {
	match v {
		serde_json::Value::Object(map) => {
			let mut entries: Vec<_> = map.into_iter().collect();
			entries.sort_by(|a, b| a.0.cmp(&b.0));
			serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
		},
		other => other,
	}
}

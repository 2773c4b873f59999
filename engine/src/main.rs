//! `mnemo-engine`: the engine's command line, a thin layer over the `mnemo_engine` library.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mnemo_engine::{
	data::{Contribution, DataSettings},
	generate::{self, Sampling},
	home::{self, Base},
	lora::Lora,
	service::{Engine, EngineConfig},
	train::{self, TrainSettings},
};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "mnemo-engine", version, about = "Mnemo's engine: LoRA fine-tuning, evaluation, blob store and HTTP API")]
struct Cli {
	/// The engine's home (models, blobs, jobs, adapters).
	#[arg(long, global = true, env = "MNEMO_HOME")]
	home: Option<PathBuf>,
	/// Device: `cpu` (burn flex) or `cuda` (with the cuda feature).
	#[arg(long, global = true, default_value = "cpu")]
	device: String,
	#[command(subcommand)]
	command: Command,
}

#[derive(Subcommand)]
enum Command {
	/// Base models: fetch them into the home directory, or list them.
	Models {
		#[command(subcommand)]
		command: ModelsCommand,
	},
	/// Continue a prompt with a base model (and optionally an adapter).
	Generate {
		#[command(flatten)]
		model: ModelArgs,
		#[arg(long)]
		prompt: String,
		/// Wrap the prompt as a user turn in the model's chat template.
		#[arg(long)]
		chat: bool,
		#[arg(long, default_value_t = 64)]
		max_tokens: usize,
		/// 0 = greedy.
		#[arg(long, default_value_t = 0.0)]
		temperature: f64,
		#[arg(long, default_value_t = 0.9)]
		top_p: f64,
		#[arg(long, default_value_t = 0)]
		seed: u64,
	},
	/// Fine-tune a LoRA adapter: writes adapter_model.safetensors, adapter_config.json,
	/// metrics.json and loss.png into --out.
	Train {
		#[arg(long, default_value = "smollm2-135m")]
		base: String,
		/// Files, directories (every file in them) or blob hashes in the engine's store; each is
		/// one contribution.
		#[arg(long, num_args = 1.., required = true)]
		data: Vec<String>,
		#[arg(long, default_value_t = 8)]
		rank: usize,
		#[arg(long, default_value_t = 16.0)]
		alpha: f64,
		/// Comma-separated: q, k, v, o, gate, up, down.
		#[arg(long, default_value = "q,v")]
		targets: String,
		#[arg(long, default_value_t = 1)]
		epochs: usize,
		#[arg(long, default_value_t = 1e-3)]
		lr: f64,
		#[arg(long, default_value_t = 0)]
		seed: u64,
		#[command(flatten)]
		split: SplitArgs,
		#[arg(long)]
		out: PathBuf,
	},
	/// Loss and perplexity on the held-out split, base versus adapter.
	Eval {
		#[command(flatten)]
		model: ModelArgs,
		#[arg(long, num_args = 1.., required = true)]
		data: Vec<String>,
		#[command(flatten)]
		split: SplitArgs,
		/// Print JSON instead of a table.
		#[arg(long)]
		json: bool,
	},
	/// Token ids and next-token logits of a prompt, as JSON (for checks against other
	/// implementations: engine/scripts/check_against_transformers.py).
	Inspect {
		#[command(flatten)]
		model: ModelArgs,
		#[arg(long)]
		prompt: String,
	},
	/// Throughput figures: generation at batch 1 and 8, LoRA training steps.
	Bench {
		/// Base models to measure (comma-separated); missing ones are fetched.
		#[arg(long, default_value = "tiny,smollm2-135m")]
		bases: String,
		/// Timed LoRA steps per model.
		#[arg(long, default_value_t = 3)]
		steps: usize,
		/// New tokens per row when generating.
		#[arg(long, default_value_t = 32)]
		new_tokens: usize,
		#[arg(long)]
		json: bool,
	},
	/// Serve the HTTP API.
	Serve {
		#[arg(long, default_value = "127.0.0.1:8844")]
		addr: String,
		/// Base models served (comma-separated).
		#[arg(long, default_value = "tiny,smollm2-135m")]
		bases: String,
		/// Largest blob accepted, in bytes.
		#[arg(long, default_value_t = mnemo_engine::store::DEFAULT_MAX_BLOB)]
		max_blob: u64,
	},
}

/// A base model and, optionally, an adapter on it.
#[derive(clap::Args)]
struct ModelArgs {
	/// A known base model id (`mnemo-engine models list`) or a llama GGUF file.
	#[arg(long, default_value = "smollm2-135m")]
	base: String,
	/// A PEFT adapter directory (adapter_model.safetensors, adapter_config.json).
	#[arg(long)]
	adapter: Option<PathBuf>,
}

impl ModelArgs {
	fn load(&self, home: &Path, max_seq: usize, dev: &burn::tensor::Device) -> anyhow::Result<(Base, Option<Lora>)> {
		let b = load_base(home, &self.base, max_seq, dev)?;
		let lora = match &self.adapter {
			Some(a) => Some(Lora::load_peft(a, &b.model.config, dev).with_context(|| format!("adapter {}", a.display()))?),
			None => None,
		};
		Ok((b, lora))
	}
}

/// How data is batched, chunked and split (the same for training and evaluation).
#[derive(clap::Args)]
struct SplitArgs {
	/// Chunks per batch.
	#[arg(long, default_value_t = 8)]
	batch: usize,
	/// Predicted tokens per chunk.
	#[arg(long, default_value_t = 128)]
	chunk_len: usize,
	/// Fraction of each contribution's chunks held out.
	#[arg(long, default_value_t = 0.1)]
	holdout: f64,
}

impl SplitArgs {
	fn data(&self) -> DataSettings {
		DataSettings { chunk_len: self.chunk_len, holdout: self.holdout, max_eval_tokens: 0 }
	}
}

#[derive(Subcommand)]
enum ModelsCommand {
	/// Fetch (or build) a base model into the home directory and say where it is.
	Fetch { id: String },
	/// List the known base models and whether each is present.
	List,
}

fn device(name: &str) -> anyhow::Result<burn::tensor::Device> {
	match name {
		"cpu" | "flex" => Ok(burn::tensor::Device::flex()),
		#[cfg(feature = "cuda")]
		"cuda" => Ok(burn::tensor::Device::cuda(0usize)),
		other => bail!("unknown device `{other}` (cpu{})", if cfg!(feature = "cuda") { ", cuda" } else { "; build with --features cuda for cuda" }),
	}
}

fn load_base(home: &Path, id_or_path: &str, max_seq: usize, dev: &burn::tensor::Device) -> anyhow::Result<Base> {
	let p = Path::new(id_or_path);
	if id_or_path.ends_with(".gguf") && p.exists() {
		return Ok(home::load_gguf(id_or_path, p, max_seq, dev)?);
	}
	Ok(home::load(home, id_or_path, max_seq, dev)?)
}

/// Contributions from files, directories and blob hashes.
fn contributions(home: &Path, data: &[String]) -> anyhow::Result<Vec<Contribution>> {
	let store = mnemo_engine::store::BlobStore::reader(&home.join("store"));
	let mut out = Vec::new();
	for item in data {
		let p = Path::new(item);
		if p.is_dir() {
			let mut files: Vec<PathBuf> = std::fs::read_dir(p)?.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
			files.sort();
			for f in files {
				out.push(Contribution::parse(&f.display().to_string(), &std::fs::read(&f)?, None)?);
			}
		} else if p.is_file() {
			out.push(Contribution::parse(item, &std::fs::read(p)?, None)?);
		} else if let Some(h) = mnemo_primitives::ContentHash::from_hex(item) {
			out.push(Contribution::parse(item, &store.get(&h)?, None)?);
		} else {
			bail!("`{item}` is neither a file, a directory nor a blob hash");
		}
	}
	Ok(out)
}

fn print_eval(e: &train::Evaluation) {
	println!("{:<48} {:>8} {:>10} {:>10} {:>10} {:>10}", "contribution", "tokens", "base loss", "base ppl", "lora loss", "lora ppl");
	for c in &e.per_contribution {
		let g = &c.eval;
		println!(
			"{:<48} {:>8} {:>10.4} {:>10.3} {:>10.4} {:>10.3}",
			c.contribution, g.eval_tokens, g.base.loss, g.base.perplexity, g.adapter.loss, g.adapter.perplexity
		);
	}
	println!(
		"{:<48} {:>8} {:>10.4} {:>10.3} {:>10.4} {:>10.3}",
		"all", e.eval_tokens, e.base.loss, e.base.perplexity, e.adapter.loss, e.adapter.perplexity
	);
}

fn main() -> std::process::ExitCode {
	match run() {
		Ok(()) => std::process::ExitCode::SUCCESS,
		Err(e) => {
			// One line for a person, whatever RUST_BACKTRACE says.
			eprintln!("error: {e:#}");
			std::process::ExitCode::FAILURE
		},
	}
}

fn run() -> anyhow::Result<()> {
	tracing_subscriber::fmt()
		.with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
		.with_writer(std::io::stderr)
		.init();
	let cli = Cli::parse();
	let home = cli.home.clone().unwrap_or_else(home::home);
	let dev = device(&cli.device)?;
	match cli.command {
		Command::Models { command: ModelsCommand::Fetch { id } } => {
			let path = home::fetch(&home, &id, |m| eprintln!("{m}"))?;
			println!("{id}: {}", path.display());
		},
		Command::Models { command: ModelsCommand::List } => {
			for k in home::KNOWN {
				let p = home::model_path(&home, k.id)?;
				let state = if p.exists() { p.display().to_string() } else { "not fetched".into() };
				println!("{:<14} {}\n{:<14} {}", k.id, k.about, "", state);
			}
		},
		Command::Generate { model, prompt, chat, max_tokens, temperature, top_p, seed } => {
			let (b, lora) = model.load(&home, 2048, &dev)?;
			let prompt = if chat { b.tokenizer.chat_prompt(&[("user".into(), prompt)]) } else { prompt };
			let s = Sampling { temperature, top_p, seed, max_tokens };
			let text = generate::generate(&b.model, &b.tokenizer, &prompt, lora.as_ref(), &s)?;
			println!("{text}");
		},
		Command::Train { base, data, rank, alpha, targets, epochs, lr, seed, split, out } => {
			let b = load_base(&home, &base, split.chunk_len + 1, &dev)?;
			let cs = contributions(&home, &data)?;
			let settings = TrainSettings {
				rank,
				alpha,
				targets: targets.split(',').map(str::to_string).collect(),
				epochs,
				learning_rate: lr,
				seed,
				batch: split.batch,
				data: split.data(),
			};
			let bar = ProgressBar::new(0);
			bar.set_style(
				ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]")
					.expect("template"),
			);
			let started = std::time::Instant::now();
			let trained = train::train(&b.model, &b.tokenizer, &b.id, &cs, &settings, |p| {
				bar.set_length(p.steps as u64);
				bar.set_position(p.step as u64);
				let tps = p.tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
				bar.set_message(format!("loss {:.4}  {:.0} tok/s", p.loss, tps));
			})?;
			bar.finish();
			let bytes = trained.lora.save_peft(&out)?;
			std::fs::write(out.join("metrics.json"), serde_json::to_vec_pretty(&trained.metrics)?)?;
			mnemo_engine::plot::loss_curve(&trained.metrics.train.losses, &out.join("loss.png"))?;
			print_eval(&trained.metrics.eval);
			println!(
				"adapter {} ({} bytes, blake2-256 {}) in {:.1}s",
				out.display(),
				bytes.len(),
				mnemo_primitives::ContentHash::of(&bytes).to_hex(),
				started.elapsed().as_secs_f64()
			);
		},
		Command::Eval { model, data, split, json } => {
			let (b, adapter) = model.load(&home, split.chunk_len + 1, &dev)?;
			let cs = contributions(&home, &data)?;
			let s = split.data();
			let chunks = mnemo_engine::data::split(&cs, &b.tokenizer, &s)?;
			let lora = match adapter {
				Some(a) => a,
				None => {
					// No adapter: an untrained one (B = 0) is the base model exactly.
					let cfg = mnemo_engine::lora::LoraConfig::new(1, 1.0, vec![mnemo_engine::lora::Target::Q], &b.id)?;
					Lora::init(cfg, &b.model.config, 0, &dev)
				},
			};
			let e = train::evaluate(&b.model, &lora, &cs, &chunks, &s, split.batch, b.tokenizer.eos);
			if json {
				println!("{}", serde_json::to_string_pretty(&e)?);
			} else {
				print_eval(&e);
			}
		},
		Command::Inspect { model, prompt } => {
			let (b, lora) = model.load(&home, 2048, &dev)?;
			let ids = b.tokenizer.encode(&prompt)?;
			if ids.is_empty() {
				bail!("the prompt has no tokens");
			}
			let logits = b.model.forward(&[ids.clone()], lora.as_ref(), None);
			let [_, t, v] = logits.dims();
			use mnemo_engine::model::ToHost;
			let last = logits.narrow(1, t - 1, 1).reshape([v]).to_host();
			println!("{}", serde_json::json!({"ids": ids, "logits": last}));
		},
		Command::Bench { bases, steps, new_tokens, json } => {
			let mut rows = Vec::new();
			for id in bases.split(',').map(str::trim).filter(|s| !s.is_empty()) {
				let b = load_base(&home, id, 512, &dev)?;
				eprintln!("measuring {id} on {}", cli.device);
				for batch in [1, 8] {
					rows.push(mnemo_engine::bench::generation(&b, batch, 16, new_tokens)?);
				}
				rows.push(mnemo_engine::bench::lora_steps(&b, 8, 64, steps)?);
			}
			if json {
				println!("{}", serde_json::to_string_pretty(&rows)?);
			} else {
				print!("{}", mnemo_engine::bench::table(&rows));
			}
		},
		Command::Serve { addr, bases, max_blob } => {
			let mut config = EngineConfig::new(home.clone());
			config.bases = bases.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
			for b in &config.bases {
				home::known(b)?;
			}
			config.max_blob = max_blob;
			let engine = Engine::start(config, dev)?;
			let rt = tokio::runtime::Runtime::new()?;
			rt.block_on(async move {
				let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
				eprintln!("mnemo-engine listening on http://{} (home {})", listener.local_addr()?, home.display());
				mnemo_engine::api::serve(engine, listener).await?;
				anyhow::Ok(())
			})?;
		},
	}
	Ok(())
}

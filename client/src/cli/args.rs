//! The command line (clap derive). The `--help` texts are the user's first manual: they say what
//! each step of the Mnemo loop is and what it costs.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const ABOUT: &str = "Mnemo: the appchain that pays the people who make AI models useful.";
const LONG_ABOUT: &str = "Mnemo: the appchain that pays the people who make AI models useful.

The loop, and the commands for each step:
  1. Communities curate data in datanets:     mnemo datanet create | contribute | review | publish
  2. Builders propose models on that data:    mnemo model propose
     stakers vote, trainers train and evaluate: mnemo gov stake | vote,  mnemo model show
  3. The builder deploys the adapter:         mnemo model deploy --price …
  4. Apps pay per inference on a channel:     mnemo channel open <operator> <deposit>,  mnemo chat
  5. Each inference gets a proof of attribution; its fee is split to contributors, the adapter's
     owner, attestors and the treasury:       mnemo attribution <receipt>,  mnemo watch
  6. Contributors see and claim what they earned: mnemo earnings --explain,  mnemo claim

Amounts are in MNEMO (`1.5`), or in the chain's smallest unit with a `u` suffix (`1500000000000u`).
Accounts are SS58 addresses, 0x-hex public keys, or dev SURIs such as //Bob.";

#[derive(Parser, Debug)]
#[command(name = "mnemo", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
	/// The node's WebSocket RPC.
	#[arg(long, global = true, env = "MNEMO_URL", default_value = "ws://127.0.0.1:9944")]
	pub url: String,
	/// The engine's HTTP API (blob store, OpenAI-compatible serving).
	#[arg(long, global = true, env = "MNEMO_ENGINE", default_value = "http://127.0.0.1:8844")]
	pub engine: String,
	/// The signing key as a secret URI: a dev account (`//Alice`), a mnemonic phrase or a 0x seed,
	/// with optional `//hard/soft` derivations and `///password`.
	#[arg(long, global = true, env = "MNEMO_SURI", hide_env_values = true, conflicts_with = "key_file")]
	pub suri: Option<String>,
	/// The signing key as a Polkadot.js JSON key file (exported from Polkadot.js apps or the
	/// browser extension). Its password comes from `MNEMO_KEY_PASSWORD` or a prompt.
	#[arg(long, global = true, env = "MNEMO_KEY_FILE")]
	pub key_file: Option<PathBuf>,
	/// Print one JSON object (errors too, as {"error": {"name", "message", "docs"}}).
	#[arg(long, global = true)]
	pub json: bool,
	/// Do not ask before a command that moves or holds money (for scripts).
	#[arg(long, short = 'y', global = true)]
	pub yes: bool,
	/// Seconds to wait for each step: connecting, an upload, a transaction's inclusion.
	#[arg(long, global = true, default_value_t = 60)]
	pub timeout: u64,
	#[command(subcommand)]
	pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
	/// Datanets: create one, contribute files, review, publish versions.
	Datanet {
		#[command(subcommand)]
		cmd: DatanetCmd,
	},
	/// Models: propose one on published datanet versions, follow it, deploy or retire it.
	Model {
		#[command(subcommand)]
		cmd: ModelCmd,
	},
	/// Governance: stake, delegate, propose and vote.
	Gov {
		#[command(subcommand)]
		cmd: GovCmd,
	},
	/// Workers: register the keys whose nodes validate, train, evaluate, attest and serve.
	Worker {
		#[command(subcommand)]
		cmd: WorkerCmd,
	},
	/// Payment channels: a deposit a serving operator charges for inferences, within the
	/// vouchers you sign.
	Channel {
		#[command(subcommand)]
		cmd: ChannelCmd,
	},
	/// Ask a deployed model through the engine's OpenAI-compatible API, paying on your channel
	/// to its operator.
	Chat(ChatArgs),
	/// What an account earned: its ledger and each operator's running payouts; `--explain` lists
	/// the receipts behind them.
	Earnings {
		/// Explain each receipt of the recent settled batches that paid the account: which
		/// inference, which contribution, which score, which share.
		#[arg(long)]
		explain: bool,
		/// Whose earnings (default: the signer).
		#[arg(long)]
		account: Option<String>,
	},
	/// Pay out everything the signer has earned: its ledger, and each operator's running payouts
	/// by proof.
	Claim,
	/// What a payer spent on inferences: totals, each batch that charged it and its receipts.
	SpendLog {
		/// Whose spending (default: the signer).
		#[arg(long)]
		account: Option<String>,
		/// Only receipts recorded at or after this block.
		#[arg(long)]
		from: Option<u32>,
		/// Only receipts recorded at or before this block.
		#[arg(long)]
		to: Option<u32>,
	},
	/// One paid inference by its request id: the batch that carries it (proven against the
	/// batch's root), its fee, tokens and attribution.
	Receipt {
		/// The request id (32 hex digits, printed by `mnemo chat`).
		request: String,
		/// Whose request (default: the signer).
		#[arg(long)]
		account: Option<String>,
	},
	/// An account's address and balances (default: the signer).
	Account {
		account: Option<String>,
	},
	/// Follow the chain's Mnemo events and print them as they happen (Ctrl-C stops).
	Watch {
		/// Stop after this many events.
		#[arg(long)]
		count: Option<usize>,
		/// Also print the system's and balances' events.
		#[arg(long)]
		all: bool,
	},
	/// Print a shell completion script: `mnemo completions bash > /etc/bash_completion.d/mnemo`.
	Completions {
		shell: clap_complete::Shell,
	},
}

#[derive(Subcommand, Debug)]
pub enum DatanetCmd {
	/// Create a datanet; the signer becomes its owner and holds its deposit.
	Create(DatanetCreate),
	/// Change a datanet's name, summary or description (owner only).
	Update {
		datanet: u32,
		#[arg(long)]
		name: Option<String>,
		#[arg(long)]
		summary: Option<String>,
		#[arg(long)]
		description: Option<String>,
		#[arg(long)]
		license: Option<String>,
	},
	/// A datanet: its rules, counts and latest version.
	Show { datanet: u32 },
	/// Every datanet.
	List,
	/// Close a datanet for good: no new contributions (owner only).
	Close { datanet: u32 },
	/// Contribute files: each is uploaded to the engine's blob store, its blake2-256 checked
	/// against the engine's, committed and then revealed on chain with its size and row count.
	/// Holds the datanet's bond until curators decide. Safe to re-run: a file already
	/// contributed by the signer is not contributed or paid for again.
	Contribute {
		datanet: u32,
		#[arg(required = true)]
		files: Vec<PathBuf>,
	},
	/// A curator's verdict on a pending contribution.
	Review {
		contribution: u64,
		verdict: Verdict,
		/// Why it is rejected (required with `reject`; the contributor sees it).
		#[arg(long)]
		reason: Option<String>,
	},
	/// Publish the next version: every approved contribution so far (owner only).
	Publish { datanet: u32 },
	/// Remove an approved contribution from later versions (owner), or ask for it (contributor).
	Remove { contribution: u64 },
	/// A datanet's contributions: all known, the signer's (`--mine`) or a version's.
	Contributions {
		datanet: u32,
		#[arg(long)]
		mine: bool,
		#[arg(long, conflicts_with = "mine")]
		version: Option<u32>,
	},
}

#[derive(Args, Debug)]
pub struct DatanetCreate {
	/// Short name, e.g. `shakespeare-plays`.
	#[arg(long)]
	pub name: String,
	/// One line on what belongs in it.
	#[arg(long, default_value = "")]
	pub summary: String,
	/// A longer description (inline).
	#[arg(long, default_value = "")]
	pub description: String,
	#[arg(long = "tag")]
	pub tags: Vec<String>,
	#[arg(long, default_value = "CC-BY-4.0")]
	pub license: String,
	#[arg(long, value_enum, default_value_t = Kind::Text)]
	pub kind: Kind,
	/// Bond each contribution holds until it is decided (MNEMO).
	#[arg(long, default_value = "1")]
	pub bond: String,
	/// Curators (default: the signer). Repeat for several.
	#[arg(long = "curator")]
	pub curators: Vec<String>,
	/// Curator verdicts that decide a contribution.
	#[arg(long, default_value_t = 1)]
	pub threshold: u32,
	/// Percent of the bond slashed when curators reject.
	#[arg(long, default_value_t = 50)]
	pub reject_slash: u32,
	/// Blocks a contribution waits for review before it expires.
	#[arg(long, default_value_t = 14_400)]
	pub review_period: u32,
	/// Contributions one account may make per quota period.
	#[arg(long, default_value_t = 100)]
	pub quota: u32,
	/// Blocks in a quota period.
	#[arg(long, default_value_t = 14_400)]
	pub quota_period: u32,
	/// Only invited accounts may contribute.
	#[arg(long)]
	pub invite_only: bool,
	/// Validator keys (0x sr25519 public keys) whose engine reports check contributions.
	#[arg(long = "validator")]
	pub validators: Vec<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
	Text,
	Image,
	Audio,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
	Approve,
	Reject,
}

#[derive(Subcommand, Debug)]
pub enum ModelCmd {
	/// Propose a model from a TOML spec (see client/README.md): holds the model bond and opens
	/// a model-approval proposal that stakers vote on.
	Propose {
		/// The spec: name, purpose, use_case, base_model, datanets = [[id, version]], [lora], [eval].
		spec: PathBuf,
	},
	/// A model: its stage, spec, training job and adapter.
	Show { model: u32 },
	/// Every model.
	List,
	/// Serve a model's evaluated adapter at a price per 1000 tokens (owner only).
	Deploy {
		model: u32,
		/// MNEMO per 1000 tokens.
		#[arg(long)]
		price: String,
		/// Also tell the engine (`--engine`) to serve the adapter under this name, metered at the
		/// chain's adapter id and price (`PUT /v1/deployments/NAME`).
		#[arg(long, value_name = "NAME")]
		serve_as: Option<String>,
	},
	/// Stop serving a model for good (owner only).
	Retire { model: u32 },
	/// Withdraw a model before it is approved: bond and proposal deposit come back.
	Withdraw { model: u32 },
}

#[derive(Subcommand, Debug)]
pub enum WorkerCmd {
	/// Bond the signer as a trainer whose node holds KEY (a `trnr` keystore key): its offchain
	/// worker claims training jobs, trains on the engine and re-evaluates others' adapters.
	RegisterTrainer {
		/// The worker key: 0x sr25519 public key, SS58, or a dev SURI such as //Alice.
		key: String,
	},
	/// Bond the signer as an attestor whose node holds KEY (an `attr` keystore key): its offchain
	/// worker computes attribution for the receipts it is assigned.
	RegisterAttestor { key: String },
	/// Bond the signer as a serving operator: it records inference receipts signed by payers.
	RegisterOperator,
	/// An account's worker roles: trainer, attestor, operator (default: the signer).
	Show { account: Option<String> },
}

#[derive(Subcommand, Debug)]
pub enum GovCmd {
	/// Stake MNEMO for voting power.
	Stake { amount: String },
	/// Start unbonding stake.
	Unstake { amount: String },
	/// Take back stake whose unbonding ended.
	Withdraw,
	/// Lend your voting power to another account.
	Delegate { to: String },
	/// Take your voting power back.
	Undelegate,
	/// Open a proposal (model approvals are opened by `mnemo model propose`).
	Propose {
		#[command(subcommand)]
		what: ProposeCmd,
	},
	/// Vote on an ongoing proposal with all your power.
	Vote { proposal: u32, vote: VoteArg },
	/// Ongoing and recent proposals, and the signer's stake and votes.
	Show,
}

#[derive(Subcommand, Debug)]
pub enum ProposeCmd {
	/// Pay `amount` from the treasury to `to`.
	Spend { to: String, amount: String },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteArg {
	Aye,
	Nay,
	Abstain,
}

#[derive(Subcommand, Debug)]
pub enum ChannelCmd {
	/// Open a payment channel to a serving operator, holding a deposit it may charge.
	Open { operator: String, deposit: String },
	/// Add to your open channel to an operator.
	TopUp { operator: String, amount: String },
	/// Close your channel to an operator: it may still charge for requests it served during
	/// the notice period; then `mnemo channel finish` returns the rest.
	Close { operator: String },
	/// Return what is left of a closed channel once its notice is over (anyone may).
	Finish {
		operator: String,
		/// Whose channel (default: the signer's).
		#[arg(long)]
		payer: Option<String>,
	},
	/// Your channels: balance, what was charged, the last voucher number, closing.
	Show {
		#[arg(long)]
		account: Option<String>,
	},
}

#[derive(Args, Debug)]
pub struct ChatArgs {
	/// The deployment's name on the engine, or the chain's adapter id.
	#[arg(long)]
	pub model: String,
	/// What to ask.
	pub prompt: String,
	#[arg(long, default_value_t = 128)]
	pub max_tokens: u32,
	#[arg(long, default_value_t = 0.0)]
	pub temperature: f64,
	/// The serving operator who records the receipt (default: the engine's, from `/v1/models`).
	#[arg(long)]
	pub operator: Option<String>,
	/// Most MNEMO per 1000 tokens you accept (default: the adapter's price on chain).
	#[arg(long)]
	pub max_price: Option<String>,
	/// Wait for the receipt to settle and print its attribution.
	#[arg(long)]
	pub wait: bool,
}

//! Command-line interface of `mnemo-node`.

use std::path::PathBuf;

/// Block time of `--dev` when `--dev-block-time` is not given, in milliseconds.
pub const DEFAULT_DEV_BLOCK_TIME_MS: u64 = 2000;

/// Sub-commands of `mnemo-node`.
#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Subcommand {
	/// Key management: generate, inspect and insert keys into the keystore.
	#[command(subcommand)]
	Key(sc_cli::KeySubcommand),

	/// Write a chain spec (`--chain dev|local|rococo-local`) as JSON, optionally `--raw`.
	BuildSpec(sc_cli::BuildSpecCmd),

	/// Validate blocks.
	CheckBlock(sc_cli::CheckBlockCmd),

	/// Export blocks.
	ExportBlocks(sc_cli::ExportBlocksCmd),

	/// Export the state of a given block into a chain spec.
	ExportState(sc_cli::ExportStateCmd),

	/// Import blocks.
	ImportBlocks(sc_cli::ImportBlocksCmd),

	/// Revert the chain to a previous state.
	Revert(sc_cli::RevertCmd),

	/// Remove the whole chain (parachain and relay chain databases).
	PurgeChain(cumulus_client_cli::PurgeChainCmd),

	/// Export the genesis head data of the parachain (for registering it on a relay chain).
	#[command(alias = "export-genesis-state")]
	ExportGenesisHead(cumulus_client_cli::ExportGenesisHeadCommand),

	/// Export the genesis wasm of the parachain (for registering it on a relay chain).
	ExportGenesisWasm(cumulus_client_cli::ExportGenesisWasmCommand),

	/// Measure the runtime's calls: `benchmark pallet --runtime <wasm built with the
	/// runtime-benchmarks feature> --pallet <name> --extrinsic '*'` (what `scripts/bench-weights`
	/// runs to write each pallet's `weights.rs`).
	#[command(subcommand)]
	Benchmark(BenchmarkCmd),
}

/// Benchmarks the node can run.
#[derive(Debug, clap::Subcommand)]
pub enum BenchmarkCmd {
	/// Run a pallet's benchmarks against a runtime blob and write its weights (substrate's
	/// `frame-benchmarking-cli`, the same command `frame-omni-bencher v1 benchmark pallet` runs).
	Pallet(Box<frame_benchmarking_cli::PalletCmd>),
}

/// A key to put into the node's keystore at start-up: `TYPE=SURI`, e.g. `mnem=//Alice`.
#[derive(Debug, Clone)]
pub struct DevKey {
	/// Four-character key type id.
	pub key_type: sp_core::crypto::KeyTypeId,
	/// Secret URI of an sr25519 key.
	pub suri: String,
}

fn parse_dev_key(s: &str) -> Result<DevKey, String> {
	let (ty, suri) = s
		.split_once('=')
		.ok_or_else(|| format!("`{s}`: expected TYPE=SURI, e.g. mnem=//Alice"))?;
	let ty: [u8; 4] = ty
		.as_bytes()
		.try_into()
		.map_err(|_| format!("`{ty}`: a key type is exactly four ASCII characters"))?;
	if suri.is_empty() {
		return Err("the SURI after `=` is empty".into());
	}
	Ok(DevKey {
		key_type: sp_core::crypto::KeyTypeId(ty),
		suri: suri.to_string(),
	})
}

/// Mnemo's collator node.
#[derive(Debug, clap::Parser)]
#[command(
	propagate_version = true,
	args_conflicts_with_subcommands = true,
	subcommand_negates_reqs = true
)]
pub struct Cli {
	#[command(subcommand)]
	pub subcommand: Option<Subcommand>,

	#[command(flatten)]
	pub run: cumulus_client_cli::RunCmd,

	/// In `--dev` mode: milliseconds between two sealed blocks (default 2000).
	///
	/// Setting it also turns on the relay-free dev mode for any `--chain`.
	#[arg(long, value_parser = clap::value_parser!(u64).range(100..))]
	pub dev_block_time: Option<u64>,

	/// Insert an sr25519 key into the keystore at start-up, as `TYPE=SURI` (repeatable),
	/// e.g. `--dev-key mnem=//Alice`. For development chains: the SURI is visible to anyone
	/// who can list processes. Production nodes use `author_insertKey` or `key insert`.
	#[arg(long = "dev-key", value_name = "TYPE=SURI", value_parser = parse_dev_key)]
	pub dev_keys: Vec<DevKey>,

	/// Do not run the hardware benchmark at start-up.
	#[arg(long)]
	pub no_hardware_benchmarks: bool,

	/// Relay chain arguments, after `--`.
	#[arg(raw = true)]
	pub relay_chain_args: Vec<String>,
}

impl Cli {
	/// The dev seal block time if the node runs relay-free, or `None` for a collator.
	pub fn dev_block_time(&self) -> Option<u64> {
		match self.dev_block_time {
			Some(ms) => Some(ms),
			None if self.run.base.shared_params.dev => Some(DEFAULT_DEV_BLOCK_TIME_MS),
			None => None,
		}
	}
}

/// The relay chain's command line, parsed from the arguments after `--`.
#[derive(Debug)]
pub struct RelayChainCli {
	/// The relay chain node's own command line.
	pub base: polkadot_cli::RunCmd,
	/// The relay chain id named in the parachain's chain spec.
	pub chain_id: Option<String>,
	/// Where the embedded relay chain node keeps its data.
	pub base_path: Option<PathBuf>,
}

impl RelayChainCli {
	/// Parse the relay chain arguments in the context of the parachain's configuration.
	pub fn new<'a>(
		para_config: &sc_service::Configuration,
		relay_chain_args: impl Iterator<Item = &'a String>,
	) -> Self {
		use clap::{CommandFactory, FromArgMatches};
		let cmd = polkadot_cli::RunCmd::command().no_binary_name(true);
		let matches = cmd.get_matches_from(relay_chain_args);
		let base = polkadot_cli::RunCmd::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
		let chain_id = crate::chain_spec::Extensions::try_get(&*para_config.chain_spec)
			.map(|e| e.relay_chain.clone());
		let base_path = Some(para_config.base_path.path().join("polkadot"));
		Self {
			base,
			chain_id,
			base_path,
		}
	}
}

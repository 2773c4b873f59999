//! The `mnemo` command-line client (feature `cli`): one command per flow a contributor, curator,
//! builder, voter, app or operator has, over the typed chain API ([`crate::typed`]) and the
//! engine's HTTP API.
//!
//! Every command prints a human answer, or with `--json` one JSON object (errors included:
//! `{"error": {"name", "message", "docs"}}`), and exits non-zero on failure. A command that moves
//! or holds money shows what it costs and asks on a terminal; `--yes` answers for scripts.

mod args;
mod chain;
mod datanet;
pub mod engine;
mod error;
mod gov;
mod keys;
mod model;
mod pay;
pub(crate) mod receipts;
mod watch;
mod worker;

pub use args::{Cli, Cmd};
pub use error::CliError;

use clap::{CommandFactory, Parser};
use serde_json::Value;
use std::io::IsTerminal;

/// What a command answers: a JSON object for `--json`, lines for people.
pub struct Report {
	pub json: Value,
	pub human: String,
}

impl Report {
	pub fn new(json: Value, human: impl Into<String>) -> Self {
		Report { json, human: human.into() }
	}
}

/// How to talk to the user: JSON or text, ask or not, draw progress or not.
#[derive(Clone, Copy)]
pub struct Ui {
	pub json: bool,
	pub yes: bool,
	/// Progress bars and questions go to a terminal only.
	pub tty: bool,
}

impl Ui {
	/// Shows what an action costs and asks to go on (on a terminal without `--yes`). Without a
	/// terminal and without `--yes` it refuses: a script must say it accepts the cost.
	pub fn confirm(&self, what: &str) -> Result<(), CliError> {
		if self.yes {
			return Ok(());
		}
		if !self.tty || self.json {
			return Err(CliError::new(
				"NotConfirmed",
				format!("{what}; pass --yes to go ahead without a terminal to ask on"),
			));
		}
		eprint!("{what}. Go ahead? [y/N] ");
		let mut line = String::new();
		std::io::stdin().read_line(&mut line).map_err(|e| CliError::new("NotConfirmed", e.to_string()))?;
		match line.trim() {
			"y" | "Y" | "yes" => Ok(()),
			_ => Err(CliError::new("NotConfirmed", "stopped: not confirmed")),
		}
	}

	/// A line of progress for people (never on stdout, never in `--json` mode).
	pub fn note(&self, msg: impl AsRef<str>) {
		if !self.json {
			eprintln!("{}", msg.as_ref());
		}
	}
}

/// Parses the arguments, runs the command, prints its answer or its error; returns the exit code.
pub fn main() -> i32 {
	let wants_json = std::env::args().any(|a| a == "--json");
	let cli = match Cli::try_parse() {
		Ok(cli) => cli,
		Err(e) => {
			use clap::error::ErrorKind;
			if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !wants_json {
				let _ = e.print();
				return e.exit_code();
			}
			let err = CliError::new("BadArguments", e.kind().to_string()).with_docs(e.to_string().trim().to_string());
			println!("{}", err.to_json());
			return 2;
		},
	};
	let ui = Ui { json: cli.json, yes: cli.yes, tty: std::io::stderr().is_terminal() && std::io::stdin().is_terminal() };
	if let Cmd::Completions { shell } = cli.cmd {
		clap_complete::generate(shell, &mut Cli::command(), "mnemo", &mut std::io::stdout());
		return 0;
	}
	let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
		Ok(rt) => rt,
		Err(e) => return print_error(&ui, &CliError::new("Io", format!("cannot start the async runtime: {e}"))),
	};
	let out = runtime.block_on(async {
		tokio::select! {
			r = run(cli, ui) => r,
			_ = tokio::signal::ctrl_c() => Err(CliError::new("Interrupted", "stopped by Ctrl-C; a transaction already sent may still land: run the command again to see where it stands")),
		}
	});
	runtime.shutdown_timeout(std::time::Duration::from_millis(200));
	match out {
		Ok(Some(report)) => {
			if ui.json {
				println!("{}", report.json);
			} else if !report.human.is_empty() {
				println!("{}", report.human.trim_end());
			}
			0
		},
		Ok(None) => 0,
		Err(e) => print_error(&ui, &e),
	}
}

fn print_error(ui: &Ui, e: &CliError) -> i32 {
	if ui.json {
		println!("{}", e.to_json());
	} else {
		eprintln!("error: {}", e.human());
	}
	1
}

/// Runs one parsed command. `Ok(None)`: the command printed as it went (chat, watch).
pub async fn run(cli: Cli, ui: Ui) -> Result<Option<Report>, CliError> {
	let ctx = Ctx::new(&cli, ui);
	match cli.cmd {
		Cmd::Datanet { cmd } => datanet::run(&ctx, cmd).await.map(Some),
		Cmd::Model { cmd } => model::run(&ctx, cmd).await.map(Some),
		Cmd::Gov { cmd } => gov::run(&ctx, cmd).await.map(Some),
		Cmd::Worker { cmd } => worker::run(&ctx, cmd).await.map(Some),
		Cmd::Channel { cmd } => pay::channel(&ctx, cmd).await.map(Some),
		Cmd::Chat(args) => pay::chat(&ctx, args).await,
		Cmd::Earnings { explain, account } => receipts::earnings(&ctx, explain, account).await.map(Some),
		Cmd::Claim => receipts::claim(&ctx).await.map(Some),
		Cmd::SpendLog { account, from, to } => receipts::spend_log(&ctx, account, from, to).await.map(Some),
		Cmd::Receipt { request, account } => receipts::receipt(&ctx, request, account).await.map(Some),
		Cmd::Account { account } => pay::account(&ctx, account).await.map(Some),
		Cmd::Watch { count, all } => watch::run(&ctx, count, all).await.map(|()| None),
		Cmd::Completions { .. } => Ok(None),
	}
}

/// What every command needs: where the node and the engine are, who signs, how to talk.
pub struct Ctx {
	pub url: String,
	pub engine: String,
	pub suri: Option<String>,
	pub key_file: Option<std::path::PathBuf>,
	pub timeout: std::time::Duration,
	pub ui: Ui,
}

impl Ctx {
	fn new(cli: &Cli, ui: Ui) -> Self {
		Ctx {
			url: cli.url.clone(),
			engine: cli.engine.trim_end_matches('/').to_string(),
			suri: cli.suri.clone(),
			key_file: cli.key_file.clone(),
			timeout: std::time::Duration::from_secs(cli.timeout),
			ui,
		}
	}

	/// The signing key (`--suri` or `--key-file`).
	pub fn signer(&self) -> Result<subxt_signer::sr25519::Keypair, CliError> {
		keys::signer(self.suri.as_deref(), self.key_file.as_deref())
	}

	/// The node, connected.
	pub async fn chain(&self) -> Result<chain::Chain, CliError> {
		chain::Chain::connect(&self.url, self.timeout, self.ui).await
	}

	/// The engine's HTTP API.
	pub fn engine(&self) -> engine::Engine {
		engine::Engine::new(&self.engine, self.timeout)
	}
}

/// `1.5 MNEMO` (trailing zeros dropped).
pub fn fmt_amount(units: u128) -> String {
	use mnemo_primitives::token::{DECIMALS, SYMBOL, UNIT};
	let (whole, frac) = (units / UNIT, units % UNIT);
	if frac == 0 {
		return format!("{whole} {SYMBOL}");
	}
	let frac = format!("{frac:0width$}", width = DECIMALS as usize);
	format!("{whole}.{} {SYMBOL}", frac.trim_end_matches('0'))
}

/// An amount: MNEMO with up to 12 decimals (`1.5`), or units with a `u` suffix (`1500u`).
pub fn parse_amount(s: &str) -> Result<u128, CliError> {
	use mnemo_primitives::token::{DECIMALS, UNIT};
	let bad = || CliError::bad_input(format!("`{s}` is not an amount (e.g. 1.5 for MNEMO, or 1500u for units)"));
	let s = s.trim();
	if let Some(units) = s.strip_suffix('u') {
		return units.replace('_', "").parse::<u128>().map_err(|_| bad());
	}
	let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
	if whole.is_empty() && frac.is_empty() || frac.len() > DECIMALS as usize || !frac.chars().all(|c| c.is_ascii_digit()) {
		return Err(bad());
	}
	let whole: u128 = if whole.is_empty() { 0 } else { whole.replace('_', "").parse().map_err(|_| bad())? };
	let frac: u128 = if frac.is_empty() { 0 } else { format!("{frac:0<width$}", width = DECIMALS as usize).parse().map_err(|_| bad())? };
	whole.checked_mul(UNIT).and_then(|w| w.checked_add(frac)).ok_or_else(bad)
}

/// Bytes the chain holds as text (names, reasons), lossless where they are UTF-8.
pub fn text(bytes: &[u8]) -> String {
	String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn amounts_parse_and_print() {
		assert_eq!(parse_amount("1").unwrap(), 1_000_000_000_000);
		assert_eq!(parse_amount("1.5").unwrap(), 1_500_000_000_000);
		assert_eq!(parse_amount("0.000000000001").unwrap(), 1);
		assert_eq!(parse_amount(".25").unwrap(), 250_000_000_000);
		assert_eq!(parse_amount("1500u").unwrap(), 1500);
		for bad in ["", ".", "1.0000000000001", "abc", "-1", "1.5.5", "u"] {
			assert_eq!(parse_amount(bad).unwrap_err().name, "BadInput", "{bad}");
		}
		assert_eq!(fmt_amount(1_500_000_000_000), "1.5 MNEMO");
		assert_eq!(fmt_amount(2_000_000_000_000), "2 MNEMO");
		assert_eq!(fmt_amount(1), "0.000000000001 MNEMO");
	}

	#[test]
	fn arguments_parse_into_commands() {
		let cli = Cli::try_parse_from(["mnemo", "--json", "--suri", "//Bob", "datanet", "contribute", "3", "a.txt", "b.txt"]).unwrap();
		assert!(cli.json);
		assert_eq!(cli.url, "ws://127.0.0.1:9944");
		match cli.cmd {
			Cmd::Datanet { cmd: args::DatanetCmd::Contribute { datanet, files } } => {
				assert_eq!(datanet, 3);
				assert_eq!(files.len(), 2);
			},
			other => panic!("parsed as {other:?}"),
		}
		let cli = Cli::try_parse_from(["mnemo", "datanet", "review", "7", "reject", "--reason", "off topic", "-y"]).unwrap();
		assert!(cli.yes);
		assert!(matches!(cli.cmd, Cmd::Datanet { cmd: args::DatanetCmd::Review { contribution: 7, verdict: args::Verdict::Reject, .. } }));
		// Missing files, a bad verdict, both signers, --mine with --version: refused by the parser.
		for bad in [
			vec!["mnemo", "datanet", "contribute", "3"],
			vec!["mnemo", "datanet", "review", "7", "maybe"],
			vec!["mnemo", "--suri", "//A", "--key-file", "k.json", "claim"],
			vec!["mnemo", "datanet", "contributions", "1", "--mine", "--version", "2"],
			vec!["mnemo", "datanet", "show", "not-a-number"],
		] {
			assert!(Cli::try_parse_from(&bad).is_err(), "{bad:?}");
		}
		Cli::command().debug_assert();
	}
}

//! `mnemo-node`: Mnemo's collator node.
//!
//! - `mnemo-node --dev`: a relay-free chain that seals a block on a timer (`--dev-block-time`),
//!   runs offchain workers with HTTP and offchain indexing on, and serves RPC on port 9944.
//! - `mnemo-node --collator --chain <spec> -- --chain <relay spec>`: an Aura collator with async
//!   backing on a relay chain (embedded relay node, or `--relay-chain-rpc-urls`).

mod chain_spec;
mod cli;
mod command;
mod rpc;
mod service;
mod shutdown;

fn main() {
	if let Err(e) = command::run() {
		// One clear line, not a debug dump: this is what a user sees for a bad `--chain`.
		eprintln!("Error: {e}");
		std::process::exit(1);
	}
}

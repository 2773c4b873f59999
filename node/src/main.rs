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
	let code = match command::run() {
		Ok(()) => 0,
		Err(e) => {
			// One clear line, not a debug dump: this is what a user sees for a bad `--chain`.
			eprintln!("Error: {e}");
			1
		},
	};
	exit_without_static_destructors(code)
}

/// End the process without running C and C++ `atexit` handlers.
///
/// By the time `command::run` returns, the node's tasks have stopped, the tokio runtime is shut
/// down and the offchain workers' handles are gone (see [`shutdown`]), so the database is closed
/// and every write is with the OS. What can still run are threads on their way out — the
/// offchain workers' pool, tokio's blocking threads — whose RocksDB thread-locals are torn down
/// as they exit. `exit` would destroy RocksDB's static mutexes under them and the process would
/// abort ("pthread lock: Invalid argument", SIGABRT) instead of exiting 0: a race CI lost once.
/// `_exit` ends all threads at once and destroys nothing.
///
/// Rust's own buffers are flushed first. The node's log lines go through `sc-tracing`'s
/// buffered stderr writer, which a background thread flushes every 50 ms and which would
/// otherwise be flushed by an `atexit` handler: waiting three of its periods lets the last lines
/// (the shutdown messages) out.
fn exit_without_static_destructors(code: i32) -> ! {
	use std::io::Write;
	std::thread::sleep(std::time::Duration::from_millis(150));
	let _ = std::io::stdout().flush();
	let _ = std::io::stderr().flush();
	// SAFETY: `_exit` takes no pointers and never returns; nothing after it runs.
	unsafe { libc::_exit(code) }
}

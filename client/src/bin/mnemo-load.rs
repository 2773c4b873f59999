//! `mnemo-load`: paid inferences driven through a serving engine, then checked on chain (see
//! `scripts/load` and the README).

fn main() {
	std::process::exit(mnemo_client::load::main());
}

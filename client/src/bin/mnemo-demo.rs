//! `mnemo-demo`: the whole Mnemo loop on this machine (see `scripts/demo` and the README).

fn main() {
	std::process::exit(mnemo_client::demo::main());
}

//! `mnemo`: the command-line client for everyone who uses a Mnemo chain. See `client/README.md`
//! and `mnemo --help`.

fn main() {
	std::process::exit(mnemo_client::cli::main());
}

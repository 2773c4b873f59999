//! `mnemo-engine`: the engine's command line (`src/cli/`), a thin layer over the `mnemo_engine`
//! library.

mod cli;

fn main() -> std::process::ExitCode {
	cli::main()
}

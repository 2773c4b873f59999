//! The `mnemo-engine` command line: `train` writes the adapter directory, `eval` reports the same
//! numbers as its `metrics.json`, and bad input is one line on stderr with exit code 1.

mod common;

use std::process::Command;

fn engine(args: &[&str]) -> std::process::Output {
	// Make sure the tiny fixture exists before the binary looks for it.
	common::tiny_base();
	Command::new(env!("CARGO_BIN_EXE_mnemo-engine")).args(args).env("MNEMO_HOME", common::test_home()).env("RUST_LOG", "warn").output().unwrap()
}

#[test]
fn train_writes_an_adapter_that_eval_reports_identically() {
	let dir = tempfile::tempdir().unwrap();
	let mut files = Vec::new();
	for c in common::recipes(2) {
		let p = dir.path().join(&c.label);
		let mnemo_engine::train::data::Row::Text(t) = &c.rows[0] else { unreachable!() };
		std::fs::write(&p, t).unwrap();
		files.push(p.display().to_string());
	}
	let out = dir.path().join("adapter");
	let split = ["--chunk-len", "48", "--holdout", "0.2", "--batch", "8"];
	let mut args = vec!["train", "--base", "tiny", "--targets", "q,v,up", "--epochs", "2", "--lr", "0.02", "--out", out.to_str().unwrap(), "--data"];
	args.extend(files.iter().map(String::as_str));
	args.extend(split);
	let o = engine(&args);
	assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
	let stdout = String::from_utf8_lossy(&o.stdout);
	assert!(stdout.contains("base loss") && stdout.contains("blake2-256"), "{stdout}");
	for f in ["adapter_model.safetensors", "adapter_config.json", "metrics.json", "loss.png"] {
		assert!(out.join(f).exists(), "{f}");
	}
	let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();

	let mut args = vec!["eval", "--base", "tiny", "--adapter", out.to_str().unwrap(), "--json", "--data"];
	args.extend(files.iter().map(String::as_str));
	args.extend(split);
	let o = engine(&args);
	assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
	let eval: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
	assert_eq!(eval, metrics["eval"]);
}

#[test]
fn bad_input_is_one_line_and_exit_code_1() {
	let dir = tempfile::tempdir().unwrap();
	let bad = dir.path().join("bad.jsonl");
	std::fs::write(&bad, "{\"txt\": 1}\n").unwrap();
	let good = dir.path().join("good.txt");
	std::fs::write(&good, "Some plain text to train on, long enough to split in two.\n").unwrap();
	let cases: [(Vec<&str>, &str); 4] = [
		(vec!["train", "--base", "nope", "--data", "x", "--out", "y"], "unknown base model `nope`"),
		(vec!["train", "--base", "tiny", "--data", "/no/such/file", "--out", "y"], "neither a file"),
		(vec!["train", "--base", "tiny", "--data", bad.to_str().unwrap(), "--out", "y"], "line 1: expected"),
		(vec!["train", "--base", "tiny", "--data", good.to_str().unwrap(), "--rank", "0", "--out", "y"], "LoRA rank 0"),
	];
	for (args, want) in cases {
		let o = engine(&args);
		assert_eq!(o.status.code(), Some(1), "{args:?}");
		let err = String::from_utf8_lossy(&o.stderr);
		assert!(err.trim().lines().count() == 1 && err.starts_with("error: ") && err.contains(want), "{args:?}: {err}");
	}
}

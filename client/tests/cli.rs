//! The `mnemo` binary, run as a user runs it, against a real `mnemo-node --dev` and a real
//! `mnemo-engine serve` on loopback (started here on free ports, stopped on drop): a datanet is
//! created, files contributed, reviewed and published, and the version read back; a duplicate is
//! refused with the module error's name; a re-run after a crash pays nothing twice; bad input is
//! one named error and a non-zero exit; every answer is `--json`, parsed and asserted on.
//!
//! Needs `mnemo-node` and `mnemo-engine` built into the same target directory (scripts/test
//! does); without the engine the test says so and stops, unless `MNEMO_REQUIRE_ENGINE=1`.

#![cfg(feature = "cli")]

use mnemo_client::{
	dev::{free_port, node_binary, DevNode},
	typed::{runtime, MnemoConfig, OnlineClient},
};
use serde_json::Value;
use std::{
	path::{Path, PathBuf},
	process::{Child, Command, Stdio},
	time::{Duration, Instant},
};

struct Engine {
	child: Child,
	url: String,
	_home: tempfile::TempDir,
}

impl Drop for Engine {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

fn target_dir() -> PathBuf {
	let exe = std::env::current_exe().unwrap();
	exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// `mnemo-engine serve --serve tiny` in a fresh home (the tiny base copied from the engine
/// tests' home when it is there, else built by `models fetch`).
fn start_engine() -> Option<Engine> {
	let bin = std::env::var_os("MNEMO_ENGINE_BIN").map(PathBuf::from).unwrap_or_else(|| target_dir().join("mnemo-engine"));
	if !bin.exists() {
		assert!(std::env::var("MNEMO_REQUIRE_ENGINE").is_err(), "{} is missing: cd engine && cargo build", bin.display());
		eprintln!("skipping: {} is not built (cd engine && cargo build)", bin.display());
		return None;
	}
	let home = tempfile::tempdir().unwrap();
	let tiny = target_dir().join("mnemo-test-home/models/tiny/tiny.gguf");
	if tiny.exists() {
		std::fs::create_dir_all(home.path().join("models/tiny")).unwrap();
		std::fs::copy(&tiny, home.path().join("models/tiny/tiny.gguf")).unwrap();
	} else {
		let ok = Command::new(&bin).args(["models", "fetch", "tiny"]).env("MNEMO_HOME", home.path()).status().unwrap();
		assert!(ok.success());
	}
	let port = free_port();
	let child = Command::new(&bin)
		.args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--bases", "tiny", "--serve", "tiny"])
		.env("MNEMO_HOME", home.path())
		.stdout(Stdio::null())
		.stderr(Stdio::null())
		.spawn()
		.unwrap();
	let engine = Engine { child, url: format!("http://127.0.0.1:{port}"), _home: home };
	let start = Instant::now();
	while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
		assert!(start.elapsed() < Duration::from_secs(120), "the engine did not start");
		std::thread::sleep(Duration::from_millis(200));
	}
	Some(engine)
}

/// Runs `mnemo --json --yes --url … --engine … ARGS` and parses its one JSON answer.
struct Mnemo {
	url: String,
	engine: String,
}

impl Mnemo {
	fn cmd(&self, args: &[&str]) -> Command {
		let mut c = Command::new(env!("CARGO_BIN_EXE_mnemo"));
		c.args(["--json", "--url", &self.url, "--engine", &self.engine, "--timeout", "60"]).args(args);
		c.env_remove("MNEMO_SURI").env_remove("MNEMO_KEY_FILE").env_remove("MNEMO_KEY_PASSWORD").stdin(Stdio::null());
		c
	}

	fn run_with(&self, mut c: Command) -> (i32, Value) {
		let out = c.output().unwrap();
		let stdout = String::from_utf8_lossy(&out.stdout);
		let line = stdout.lines().last().unwrap_or_default();
		let json: Value = serde_json::from_str(line).unwrap_or_else(|e| {
			panic!("not one JSON answer ({e}): stdout {stdout:?} stderr {:?}", String::from_utf8_lossy(&out.stderr))
		});
		(out.status.code().unwrap_or(-1), json)
	}

	fn run(&self, args: &[&str]) -> (i32, Value) {
		self.run_with(self.cmd(args))
	}

	/// A command that must succeed.
	fn ok(&self, args: &[&str]) -> Value {
		let (code, v) = self.run(args);
		assert_eq!(code, 0, "mnemo {args:?} failed: {v}");
		assert!(v.get("error").is_none(), "{v}");
		v
	}

	/// A command that must fail with the error `name`; returns the error object.
	fn fails(&self, args: &[&str], name: &str) -> Value {
		let (code, v) = self.run(args);
		assert_eq!(code, 1, "mnemo {args:?} should fail with {name}: {v}");
		assert_eq!(v["error"]["name"], name, "mnemo {args:?}: {v}");
		assert!(!v["error"]["message"].as_str().unwrap_or_default().is_empty());
		v["error"].clone()
	}
}

async fn nonce_and_free(api: &OnlineClient<MnemoConfig>, who: &subxt_signer::sr25519::Keypair) -> (u32, u128) {
	let at = api.at_current_block().await.unwrap();
	let info = at
		.storage()
		.entry(runtime::storage().system().account())
		.unwrap()
		.fetch((who.public_key().into(),))
		.await
		.unwrap()
		.decode()
		.unwrap();
	(info.nonce, info.data.free)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_drives_a_datanet_from_creation_to_a_published_version() {
	let Some(engine) = start_engine() else { return };
	let bin = node_binary(&std::env::current_exe().unwrap());
	assert!(bin.exists(), "{} is missing: build it first (cargo build -p mnemo-node)", bin.display());
	let (node, _) = tokio::task::spawn_blocking(move || DevNode::start(&bin, Duration::from_secs(120)).unwrap()).await.unwrap();
	let ws = node.url.replacen("http://", "ws://", 1);
	let m = Mnemo { url: ws.clone(), engine: engine.url.clone() };
	let api = OnlineClient::<MnemoConfig>::from_url(&ws).await.unwrap();
	let bob = subxt_signer::sr25519::dev::bob();
	let dir = tempfile::tempdir().unwrap();
	let file = |name: &str, text: &str| {
		let p = dir.path().join(name);
		std::fs::write(&p, text).unwrap();
		p.display().to_string()
	};
	let a = file("a.txt", "Now is the winter of our discontent\nMade glorious summer by this sun of York;\n");
	let b = file("b.txt", "{\"text\": \"If music be the food of love, play on\"}\n\n{\"text\": \"Give me excess of it\"}\n");
	let c = file("c.txt", "Friends, Romans, countrymen, lend me your ears;\nI come to bury Caesar, not to praise him.\n");

	// Create: Alice owns and curates.
	let created = m.ok(&["--suri", "//Alice", "--yes", "datanet", "create", "--name", "plays", "--summary", "Shakespeare", "--bond", "1"]);
	let d = created["datanet"].as_u64().unwrap().to_string();
	let shown = m.ok(&["datanet", "show", &d]);
	assert_eq!(shown["name"], "plays");
	assert_eq!(shown["rules"]["curators"][0], created["owner"]);
	assert_eq!(shown["rules"]["bond"], "1000000000000");
	let listed = m.ok(&["datanet", "list"]);
	assert!(listed["datanets"].as_array().unwrap().iter().any(|x| x["id"].to_string() == d));

	// A command that holds money, with no terminal to ask on and no --yes: refused, nothing sent.
	let before = nonce_and_free(&api, &bob).await;
	m.fails(&["--suri", "//Bob", "datanet", "contribute", &d, &a], "NotConfirmed");
	// An unreachable engine: the upload fails and nothing reaches the chain.
	let (code, v) = m.run_with({
		let mut cmd = Command::new(env!("CARGO_BIN_EXE_mnemo"));
		cmd.args(["--json", "--yes", "--url", &ws, "--engine", &format!("http://127.0.0.1:{}", free_port()), "--suri", "//Bob"]);
		cmd.args(["datanet", "contribute", &d, &a]).stdin(Stdio::null());
		cmd
	});
	assert_eq!((code, v["error"]["name"].as_str()), (1, Some("EngineUnreachable")), "{v}");
	assert_eq!(nonce_and_free(&api, &bob).await, before, "nothing was signed");

	// Contribute two files, then one alone (timed for the note).
	let two = m.ok(&["--suri", "//Bob", "--yes", "datanet", "contribute", &d, &a, &b]);
	let list = two["contributions"].as_array().unwrap();
	assert_eq!(list.len(), 2);
	assert_eq!(list[0]["rows"], 2);
	assert_eq!(list[1]["rows"], 2);
	assert_eq!(list[0]["already"], false);
	let hash_a = list[0]["hash"].as_str().unwrap().to_string();
	assert_eq!(hash_a, hex::encode(polkadot_sdk::sp_crypto_hashing::blake2_256(&std::fs::read(&a).unwrap())));
	// The engine holds the bytes under that hash.
	let blob = ureq::get(&format!("{}/v1/blobs/{hash_a}", engine.url)).call().unwrap().body_mut().read_to_vec().unwrap();
	assert_eq!(blob, std::fs::read(&a).unwrap());
	let started = Instant::now();
	let one = m.ok(&["--suri", "//Bob", "--yes", "datanet", "contribute", &d, &c]);
	eprintln!("mnemo datanet contribute, one file, dev chain: {:.1} s", started.elapsed().as_secs_f64());
	let ids: Vec<u64> = list.iter().chain(one["contributions"].as_array().unwrap()).map(|x| x["contribution"].as_u64().unwrap()).collect();

	// Re-run of a finished contribute: reported, nothing signed or paid.
	let before = nonce_and_free(&api, &bob).await;
	let again = m.ok(&["--suri", "//Bob", "--yes", "datanet", "contribute", &d, &a]);
	assert_eq!(again["contributions"][0]["already"], true);
	assert_eq!(again["contributions"][0]["contribution"], ids[0]);
	assert_eq!(nonce_and_free(&api, &bob).await, before, "a re-run pays nothing");

	// Re-run after a crash between commit and reveal: the open commitment is revealed, not paid twice.
	let e = file("e.txt", "O Romeo, Romeo! wherefore art thou Romeo?\n");
	let e_hash = polkadot_sdk::sp_crypto_hashing::blake2_256(&std::fs::read(&e).unwrap());
	let bob_id: subxt::utils::AccountId32 = bob.public_key().into();
	let datanet: u32 = d.parse().unwrap();
	let commitment = {
		use codec::Encode;
		subxt::utils::H256(polkadot_sdk::sp_crypto_hashing::blake2_256(&(datanet, e_hash, bob_id.0).encode()))
	};
	let at = api.at_current_block().await.unwrap();
	at.transactions()
		.sign_and_submit_then_watch_default(&runtime::transactions().datanets().commit(commitment), &bob)
		.await
		.unwrap()
		.wait_for_finalized_success()
		.await
		.unwrap();
	let (nonce_before, _) = nonce_and_free(&api, &bob).await;
	let resumed = m.ok(&["--suri", "//Bob", "--yes", "datanet", "contribute", &d, &e]);
	let (nonce_after, _) = nonce_and_free(&api, &bob).await;
	assert_eq!(nonce_after, nonce_before + 1, "only the reveal was signed, no second commit");
	assert_eq!(resumed["contributions"][0]["already"], false);
	let e_id = resumed["contributions"][0]["contribution"].as_u64().unwrap();

	// Someone else's copy: refused with the module error's name and docs, before anything is paid.
	let charlie = subxt_signer::sr25519::dev::charlie();
	let before = nonce_and_free(&api, &charlie).await;
	let dup = m.fails(&["--suri", "//Charlie", "--yes", "datanet", "contribute", &d, &a], "Datanets::Duplicate");
	assert!(dup["docs"].as_str().unwrap().contains("already in the datanet"), "{dup}");
	assert_eq!(nonce_and_free(&api, &charlie).await, before);

	// Bad input: one named error each.
	let bin_file = dir.path().join("bin.txt");
	std::fs::write(&bin_file, [0xff, 0xfe, 0, 1]).unwrap();
	m.fails(&["--suri", "//Bob", "--yes", "datanet", "contribute", &d, "/nonexistent/x.txt"], "FileNotFound");
	m.fails(&["--suri", "//Bob", "--yes", "datanet", "contribute", &d, bin_file.to_str().unwrap()], "NotUtf8");
	m.fails(&["--suri", "//Bob", "--yes", "datanet", "contribute", "999", &a], "UnknownDatanet");
	m.fails(&["datanet", "show", "999"], "UnknownDatanet");
	m.fails(&["datanet", "contribute", &d, &a], "NoSigner");
	let (code, v) = m.run(&["datanet", "show", "x"]);
	assert_eq!((code, v["error"]["name"].as_str()), (2, Some("BadArguments")), "a usage error exits 2: {v}");
	m.fails(&["--suri", "//Alice", "--yes", "datanet", "review", &ids[0].to_string(), "reject"], "BadInput");
	let (code, v) = m.run_with({
		// Found at run time: a test binary built in another checkout of the same target
		// directory keeps that checkout's compile-time path.
		let key = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("tests/fixtures/alice-polkadotjs.json");
		let mut cmd = m.cmd(&["--key-file", key.to_str().expect("a UTF-8 path"), "claim"]);
		cmd.env("MNEMO_KEY_PASSWORD", "not the password");
		cmd
	});
	assert_eq!((code, v["error"]["name"].as_str()), (1, Some("BadPassword")), "{v}");
	let (code, v) = m.run_with({
		let mut cmd = Command::new(env!("CARGO_BIN_EXE_mnemo"));
		cmd.args(["--json", "--url", &format!("ws://127.0.0.1:{}", free_port()), "datanet", "list"]);
		cmd
	});
	assert_eq!((code, v["error"]["name"].as_str()), (1, Some("NodeUnreachable")), "{v}");

	// A failed extrinsic: the chain's module error, named, with its docs from the metadata.
	let not_curator = m.fails(&["--suri", "//Charlie", "--yes", "datanet", "review", &ids[0].to_string(), "approve"], "Datanets::NotCurator");
	assert!(not_curator["docs"].as_str().unwrap().contains("curator"), "{not_curator}");

	// Follow the events while Alice reviews and publishes.
	let watch = m.cmd(&["watch", "--count", "3"]).stdout(Stdio::piped()).spawn().unwrap();
	tokio::time::sleep(Duration::from_secs(3)).await;

	// Review: approve all but e, reject e (slashed by half).
	for id in &ids {
		let r = m.ok(&["--suri", "//Alice", "--yes", "datanet", "review", &id.to_string(), "approve"]);
		assert_eq!(r["decided"]["approved"], true, "{r}");
		assert_eq!(r["decided"]["included_in"], 1);
	}
	let r = m.ok(&["--suri", "//Alice", "--yes", "datanet", "review", &e_id.to_string(), "reject", "--reason", "off topic"]);
	assert_eq!(r["decided"]["approved"], false, "{r}");
	assert_eq!(r["decided"]["slashed"], "500000000000");
	let watched = watch.wait_with_output().unwrap();
	let lines: Vec<Value> = String::from_utf8_lossy(&watched.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
	assert_eq!(lines.len(), 3, "{lines:?}");
	assert!(lines.iter().all(|l| l["pallet"] == "Datanets"), "{lines:?}");
	assert!(lines.iter().any(|l| l["event"] == "Approved"), "{lines:?}");

	// Publish, then read the version back.
	let published = m.ok(&["--suri", "//Alice", "--yes", "datanet", "publish", &d]);
	assert_eq!(published["version"], 1);
	assert_eq!(published["count"], 3);
	let v1 = m.ok(&["datanet", "contributions", &d, "--version", "1"]);
	let got: Vec<u64> = v1["contributions"].as_array().unwrap().iter().map(|x| x["id"].as_u64().unwrap()).collect();
	assert_eq!(got, ids);
	assert!(v1["contributions"].as_array().unwrap().iter().all(|x| x["status"] == "approved" && x["included_in"] == 1));
	let mine = m.ok(&["--suri", "//Bob", "datanet", "contributions", &d, "--mine"]);
	assert_eq!(mine["contributions"].as_array().unwrap().len(), 3, "the rejected one left the chain");
	m.fails(&["datanet", "contributions", &d, "--version", "2"], "UnknownVersion");
	m.fails(&["--suri", "//Alice", "--yes", "datanet", "publish", &d], "Datanets::NothingToPublish");

	// A model on that version: proposed from a TOML spec, and its proposal visible to voters.
	let spec = file(
		"model.toml",
		&format!("name = \"bard\"\npurpose = \"plays\"\nbase_model = \"tiny\"\ndatanets = [[{d}, 1]]\n[lora]\nrank = 4\nalpha = 8\ntargets = [\"q\", \"v\"]\nepochs = 1\nlearning_rate = 0.01\n"),
	);
	let proposed = m.ok(&["--suri", "//Dave", "--yes", "model", "propose", &spec]);
	let model = proposed["model"].as_u64().unwrap().to_string();
	let shown = m.ok(&["model", "show", &model]);
	assert_eq!(shown["stage"], "proposed");
	assert_eq!(shown["datanets"][0][0].to_string(), d);
	let gov = m.ok(&["gov", "show"]);
	assert!(gov["proposals"].as_array().unwrap().iter().any(|p| p["id"] == proposed["proposal"] && p["kind"] == "model approval"), "{gov}");

	// A payment channel: opened and shown, opened twice refused, topped up; earnings of a
	// contributor with nothing settled yet.
	let opened = m.ok(&["--suri", "//Eve", "--yes", "channel", "open", "//Ferdie", "2.5"]);
	assert_eq!(opened["deposit"], "2500000000000");
	m.fails(&["--suri", "//Eve", "--yes", "channel", "open", "//Ferdie", "1"], "Rewards::ChannelExists");
	let topped = m.ok(&["--suri", "//Eve", "--yes", "channel", "top-up", "//Ferdie", "0.5"]);
	assert_eq!(topped["balance"], "3000000000000");
	let shown = m.ok(&["--suri", "//Eve", "channel", "show"]);
	assert_eq!(shown["channels"][0]["balance"], "3000000000000");
	assert_eq!(shown["channels"][0]["seq"], 0);
	let earned = m.ok(&["--suri", "//Bob", "earnings", "--explain"]);
	assert_eq!(earned["claimable"], "0");
	assert_eq!(earned["credits"].as_array().unwrap().len(), 0);
	m.fails(&["--suri", "//Bob", "--yes", "claim"], "NothingToClaim");
	// A payer with no batch yet: an empty spend log; a request no batch carries, a malformed id.
	let spent = m.ok(&["--suri", "//Eve", "spend-log"]);
	assert_eq!((spent["receipts"].as_array().unwrap().len(), spent["batches"].as_array().unwrap().len()), (0, 0), "{spent}");
	m.fails(&["--suri", "//Eve", "receipt", "00112233445566778899aabbccddeeff"], "UnknownReceipt");
	m.fails(&["--suri", "//Eve", "receipt", "xyz"], "BadInput");

	// Chat with the engine's base model (free: no voucher), streamed.
	let chat = m.ok(&["chat", "--model", "tiny", "--max-tokens", "6", "Once upon a time"]);
	assert_eq!(chat["metered"], false);
	assert!(chat["usage"]["completion_tokens"].as_u64().unwrap() >= 1, "{chat}");
	assert!(!chat["text"].as_str().unwrap().is_empty() || chat["usage"]["completion_tokens"] == 0);
	m.fails(&["chat", "--model", "nope", "hi"], "UnknownModel");

	// Completions for a shell.
	let out = Command::new(env!("CARGO_BIN_EXE_mnemo")).args(["completions", "bash"]).output().unwrap();
	assert!(out.status.success());
	assert!(String::from_utf8_lossy(&out.stdout).contains("datanet"));
	drop(node);
}

/// A signing key given in the environment is a secret: `--help` names the variable, never its
/// value.
#[test]
fn help_names_the_key_variable_and_never_shows_the_key() {
	let phrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
	let out = Command::new(env!("CARGO_BIN_EXE_mnemo")).arg("--help").env("MNEMO_SURI", phrase).output().unwrap();
	let help = String::from_utf8_lossy(&out.stdout);
	assert!(out.status.success(), "{help}");
	assert!(help.contains("MNEMO_SURI"), "{help}");
	assert!(!help.contains("bottom drive"), "the key is printed: {help}");
}

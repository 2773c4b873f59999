//! A `mnemo-node --dev` on loopback, started and stopped by tests and tools (free ports, waits
//! for the first block, killed on drop).

use crate::{Client, Error, Result};
use std::{
	net::TcpListener,
	path::{Path, PathBuf},
	process::{Child, Command, Stdio},
	time::{Duration, Instant},
};

/// A running dev node; killed when dropped.
pub struct DevNode {
	child: Child,
	pub url: String,
}

impl Drop for DevNode {
	fn drop(&mut self) {
		let _ = self.child.kill();
		let _ = self.child.wait();
	}
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// `$MNEMO_NODE`, else `mnemo-node` in the target directory that holds `exe` (a test binary
/// in `target/debug/deps/`).
pub fn node_binary(exe: &Path) -> PathBuf {
	if let Some(p) = std::env::var_os("MNEMO_NODE") {
		return p.into();
	}
	exe.parent().and_then(Path::parent).unwrap_or(Path::new(".")).join("mnemo-node")
}

impl DevNode {
	/// Starts `binary --dev` on free ports and waits (up to `timeout`) for its first block.
	pub fn start(binary: &Path, timeout: Duration) -> Result<(DevNode, Client)> {
		let rpc = free_port();
		let child = Command::new(binary)
			.args(["--dev", "--rpc-port", &rpc.to_string(), "--port", &free_port().to_string()])
			.args(["--no-prometheus", "--no-telemetry", "--no-mdns", "--no-hardware-benchmarks"])
			.stdout(Stdio::null())
			.stderr(Stdio::null())
			.spawn()
			.map_err(|e| Error::Unreachable { url: binary.display().to_string(), msg: format!("cannot start it: {e}") })?;
		let node = DevNode { child, url: format!("http://127.0.0.1:{rpc}") };
		let start = Instant::now();
		loop {
			if let Ok(c) = Client::connect(&node.url) {
				if c.best_number().unwrap_or(0) > 0 {
					return Ok((node, c));
				}
			}
			if start.elapsed() > timeout {
				return Err(Error::Timeout { what: "the dev node's first block".into(), secs: timeout.as_secs() });
			}
			std::thread::sleep(Duration::from_millis(300));
		}
	}
}

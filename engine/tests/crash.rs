//! An acknowledged blob survives `kill -9` of the engine: the real binary is started, sent a
//! blob, killed without warning right after its 201, started again, and asked for the blob.

use std::{
	io::{BufRead, BufReader, Read, Write},
	net::TcpStream,
	process::{Child, Command, Stdio},
};

fn start(home: &std::path::Path) -> (Child, String) {
	let mut child = Command::new(env!("CARGO_BIN_EXE_mnemo-engine"))
		.args(["serve", "--addr", "127.0.0.1:0", "--bases", "tiny"])
		.env("MNEMO_HOME", home)
		.env("RUST_LOG", "warn")
		.stderr(Stdio::piped())
		.spawn()
		.unwrap();
	let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
	let addr = loop {
		let line = lines.next().expect("the engine says where it listens").unwrap();
		if let Some(rest) = line.split("listening on http://").nth(1) {
			break rest.split_whitespace().next().unwrap().to_string();
		}
	};
	(child, addr)
}

/// One HTTP/1.1 exchange; returns (status, body).
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
	let mut s = TcpStream::connect(addr).unwrap();
	write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
	s.write_all(body).unwrap();
	let mut raw = Vec::new();
	s.read_to_end(&mut raw).unwrap();
	let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
	let head = String::from_utf8_lossy(&raw[..split]).to_string();
	let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
	(status, raw[split + 4..].to_vec())
}

#[test]
fn an_acknowledged_blob_survives_kill_9() {
	let home = tempfile::tempdir().unwrap();
	let (mut engine, addr) = start(home.path());
	let blobs: Vec<Vec<u8>> = (0..20).map(|i| format!("contribution {i}: ").repeat(500 + i).into_bytes()).collect();
	let mut acked = Vec::new();
	for b in &blobs {
		let hash = mnemo_primitives::ContentHash::of(b).to_hex();
		let (status, _) = http(&addr, "PUT", &format!("/v1/blobs/{hash}"), b);
		assert_eq!(status, 201);
		acked.push((hash, b));
	}
	engine.kill().unwrap(); // SIGKILL: no shutdown, no flush.
	engine.wait().unwrap();

	let (mut engine, addr) = start(home.path());
	for (hash, bytes) in acked {
		let (status, body) = http(&addr, "GET", &format!("/v1/blobs/{hash}"), b"");
		assert_eq!(status, 200, "blob {hash} is lost");
		assert_eq!(&body, bytes);
	}
	assert_eq!(std::fs::read_dir(home.path().join("store/tmp")).unwrap().count(), 0);
	engine.kill().unwrap();
	engine.wait().unwrap();
}

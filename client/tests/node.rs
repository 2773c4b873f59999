//! The client against a real `mnemo-node --dev` on loopback: its extrinsics are accepted and
//! included, its storage reads see the result.

use mnemo_client::{Client, InferenceRecord, SignedVoucher, Signer};
use mnemo_primitives::{ContentHash, Voucher};
use std::{
	net::TcpListener,
	process::{Child, Command, Stdio},
	time::{Duration, Instant},
};

/// The node binary: `$MNEMO_NODE`, else `mnemo-node` beside this test's target directory.
fn node_binary() -> std::path::PathBuf {
	if let Some(p) = std::env::var_os("MNEMO_NODE") {
		return p.into();
	}
	let exe = std::env::current_exe().expect("test path");
	let bin = exe.parent().and_then(|d| d.parent()).expect("target/debug").join("mnemo-node");
	assert!(bin.exists(), "{} is missing: build it first (cargo build -p mnemo-node)", bin.display());
	bin
}

fn free_port() -> u16 {
	TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Node(Child);

impl Drop for Node {
	fn drop(&mut self) {
		let _ = self.0.kill();
		let _ = self.0.wait();
	}
}

fn dev_node() -> (Node, Client) {
	let rpc = free_port();
	let child = Command::new(node_binary())
		.args(["--dev", "--rpc-port", &rpc.to_string(), "--port", &free_port().to_string()])
		.args(["--no-prometheus", "--no-telemetry", "--no-mdns", "--no-hardware-benchmarks"])
		.stdout(Stdio::null())
		.stderr(Stdio::null())
		.spawn()
		.expect("start mnemo-node");
	let node = Node(child);
	let url = format!("http://127.0.0.1:{rpc}");
	let start = Instant::now();
	loop {
		if let Ok(c) = Client::connect(&url) {
			if c.best_number().unwrap_or(0) > 0 {
				return (node, c);
			}
		}
		assert!(start.elapsed() < Duration::from_secs(120), "the dev node did not produce a block in 120 s");
		std::thread::sleep(Duration::from_millis(300));
	}
}

#[test]
fn extrinsics_land_on_a_dev_node() {
	let (_node, chain) = dev_node();
	let alice = Signer::from_suri("//Alice").unwrap();
	let bob = Signer::from_suri("//Bob").unwrap();
	let wait = Duration::from_secs(60);

	// Registering as a serving operator holds the bond.
	if chain.operator_bond(&alice.account()).unwrap().is_none() {
		chain.submit_and_wait(&alice, &Client::register_operator_call(), wait).unwrap();
	}
	let bond = chain.operator_bond(&alice.account()).unwrap();
	assert!(bond.is_some_and(|b| b > 0), "Alice is an operator with a bond: {bond:?}");

	// A batch naming an adapter that is not deployed is included, and its receipt refused:
	// nothing is recorded under the request id.
	let v = Voucher {
		request: [9; 16],
		operator: alice.account(),
		adapter: 4_000_000,
		max_price_per_1k: 1_000_000,
		max_tokens: 100,
		expires_at: chain.best_number().unwrap() + 50,
		genesis: chain.genesis,
	};
	let sv = SignedVoucher::sign(&bob, v);
	let record = InferenceRecord {
		payer: sv.payer.clone(),
		voucher: sv.voucher.clone(),
		signature: sv.signature.clone(),
		input_tokens: 5,
		output_tokens: 5,
		transcript: ContentHash::of(b"transcript"),
	};
	let before = chain.nonce(&alice.account()).unwrap();
	let used = chain.submit_and_wait(&alice, &Client::record_inferences_call(&[record]), wait).unwrap();
	assert_eq!(used, before);
	assert_eq!(chain.nonce(&alice.account()).unwrap(), before + 1, "the batch was included");
	assert_eq!(chain.receipt_of_request(&alice.account(), &[9; 16]).unwrap(), None);

	// A transaction the node refuses comes back as an error naming the call.
	let bad = chain.call("author_submitExtrinsic", serde_json::json!(["0x0102"]));
	assert!(matches!(bad, Err(mnemo_client::Error::Rpc { .. })), "{bad:?}");
	// An unreachable node is one clear error.
	let err = Client::connect(&format!("http://127.0.0.1:{}", free_port())).err().expect("nothing listens");
	assert!(err.to_string().contains("cannot reach the node"), "{err}");
}

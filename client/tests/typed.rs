//! The generated, typed API against a real `mnemo-node --dev`: a signed call through subxt lands
//! and typed storage reads see it.

#![cfg(feature = "typed")]

use mnemo_client::{
	dev::{node_binary, DevNode},
	typed::{runtime, MnemoConfig, OnlineClient},
};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_call_lands_and_typed_storage_reads_it() {
	let bin = node_binary(&std::env::current_exe().unwrap());
	assert!(bin.exists(), "{} is missing: build it first (cargo build -p mnemo-node)", bin.display());
	let (node, _) = tokio::task::spawn_blocking(move || DevNode::start(&bin, Duration::from_secs(120)).unwrap()).await.unwrap();
	let api = OnlineClient::<MnemoConfig>::from_url(node.url.replacen("http://", "ws://", 1)).await.unwrap();
	let bob = subxt_signer::sr25519::dev::bob();
	let tx = runtime::transactions().attribution().register_operator();
	let at = api.at_current_block().await.unwrap();
	let events = at
		.transactions()
		.sign_and_submit_then_watch_default(&tx, &bob)
		.await
		.unwrap()
		.wait_for_finalized_success()
		.await
		.unwrap();
	let registered = events.find_first::<runtime::attribution::events::OperatorRegistered>().unwrap().expect("the event");
	assert!(registered.bond > 0);
	let at = api.at_current_block().await.unwrap();
	let bond = at
		.storage()
		.entry(runtime::storage().attribution().operators())
		.unwrap()
		.fetch((bob.public_key().into(),))
		.await
		.unwrap()
		.decode()
		.unwrap();
	assert_eq!(bond, registered.bond);
}

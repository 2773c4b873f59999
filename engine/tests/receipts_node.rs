//! The batch flusher against a real `mnemo-node --dev`: a metered request from a payer with a
//! payment channel on chain (read by the engine when it admits the request) is journaled, and
//! the flusher reads what a batch needs from the runtime (the payer's channel, the split terms,
//! the adapter's facts, the operator's latest batch: view functions under FRAME's ids and
//! storage), and gives the receipt up after `serve::meter::MAX_ATTEMPTS` tries when the chain knows no such adapter,
//! without sending a transaction.
//!
//! The chain here has no deployed adapter (deploying one takes the whole governance and training
//! loop, which `scripts/demo` runs, batches settling included): what this proves is the engine's
//! reads of the real runtime and its bounded retry, not settlement.
//!
//! Needs the node binary (`cargo build -p mnemo-node` at the workspace root; `scripts/test`
//! builds it first). Without it the test says so and passes only when `MNEMO_REQUIRE_NODE` is
//! unset, so `cargo test` in `engine/` alone still works.

mod common;

use axum::http::{Method, StatusCode};
use common::{http::*, *};
use mnemo_client::{
	dev::{node_binary, DevNode},
	SignedVoucher, Signer,
};
use mnemo_engine::{
	model::lora::{Lora, LoraConfig, Target},
	serve::ServeConfig,
	serve::deploy::{Metering, Serving, ServingConfig},
};
use mnemo_primitives::Voucher;
use serde_json::json;
use std::time::{Duration, Instant};

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
	let start = Instant::now();
	while !f() {
		assert!(start.elapsed() < Duration::from_secs(secs), "timed out after {secs} s waiting for {what}");
		std::thread::sleep(Duration::from_millis(250));
	}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_submitted_by_the_operator_key_and_retried_a_bounded_number_of_times() {
	let bin = node_binary(&std::env::current_exe().unwrap());
	if !bin.exists() {
		assert!(std::env::var_os("MNEMO_REQUIRE_NODE").is_none(), "{} is missing", bin.display());
		eprintln!("SKIPPED: {} is missing (build mnemo-node to run this test)", bin.display());
		return;
	}
	let (node, chain) = tokio::task::spawn_blocking(move || {
		let (node, c) = DevNode::start(&bin, Duration::from_secs(120)).unwrap();
		let alice = Signer::from_suri("//Alice").unwrap();
		if c.operator_bond(&alice.account()).unwrap().is_none() {
			c.submit_and_wait(&alice, &mnemo_client::Client::register_operator_call(), Duration::from_secs(60)).unwrap();
		}
		// Bob pays: a payment channel to Alice, the operator.
		let bob = Signer::from_suri("//Bob").unwrap();
		if c.channel(&bob.account(), &alice.account()).unwrap().is_none() {
			let open = mnemo_client::Client::open_channel_call(&alice.account(), 1_000_000_000_000);
			c.submit_and_wait(&bob, &open, Duration::from_secs(60)).unwrap();
		}
		assert_eq!(c.channel(&bob.account(), &alice.account()).unwrap().map(|ch| ch.balance), Some(1_000_000_000_000));
		(node, c)
	})
	.await
	.unwrap();
	let url = node.url.clone();
	let alice = Signer::from_suri("//Alice").unwrap();
	let nonce_before = chain.nonce(&alice.account()).unwrap();

	let home = tempfile::tempdir().unwrap();
	let e = engine(home.path());
	let metering =
		Metering { operator: alice.clone(), node: Some(url.clone()), genesis: None, flush_interval: Duration::from_millis(500) };
	let s = Serving::start(e.clone(), ServingConfig { base: "tiny".into(), serve: ServeConfig::default(), metering: Some(metering) }).unwrap();
	let app = mnemo_engine::api::router(e);
	let base = tiny_base();
	let lora = Lora::init(LoraConfig::new(4, 8.0, vec![Target::Q], "tiny").unwrap(), &base.model.config, 1, &device());
	let h = put(&app, &lora.to_safetensors().unwrap()).await;
	let (st, _) = call(&app, Method::PUT, "/v1/deployments/paid", json!({"adapter": h.to_hex(), "chain_adapter": 4_000_000u32, "price_per_1k": 1}).to_string()).await;
	assert_eq!(st, StatusCode::CREATED);

	let channel = chain.channel(&Signer::from_suri("//Bob").unwrap().account(), &alice.account()).unwrap().expect("opened").id;
	let v = Voucher {
		request: [42; 16],
		operator: alice.account(),
		adapter: 4_000_000,
		max_price_per_1k: 1,
		max_tokens: 100,
		channel,
		seq: 1,
		cumulative: 1_000,
		expires_at: chain.best_number().unwrap() + 200,
		genesis: chain.genesis,
	};
	// A paid completion with `payer`'s voucher `v`.
	let ask = |payer: &str, v: Voucher<_, _>| {
		let header = SignedVoucher::sign(&Signer::from_suri(payer).unwrap(), v).to_header();
		axum::http::Request::builder()
			.method(Method::POST)
			.uri("/v1/completions")
			.header("content-type", "application/json")
			.header("x-mnemo-voucher", header)
			.body(axum::body::Body::from(json!({"model": "paid", "prompt": "Now is the winter", "max_tokens": 4}).to_string()))
			.unwrap()
	};
	use tower::ServiceExt;
	let res = app.clone().oneshot(ask("//Bob", v.clone())).await.unwrap();
	assert_eq!(res.status(), StatusCode::OK);

	// Charlie has no channel to Alice: refused before anything runs, and told what to do.
	let res = app.clone().oneshot(ask("//Charlie", Voucher { request: [43; 16], ..v })).await.unwrap();
	assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
	let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
	let msg = String::from_utf8_lossy(&body).to_string();
	assert!(msg.contains("no payment channel") && msg.contains("mnemo channel open"), "{msg}");

	let meter = s.meter.clone().unwrap();
	tokio::task::spawn_blocking(move || {
		wait_for("the flusher to give the unattributable receipt up", 180, || meter.list("refused").len() == 1);
		assert_eq!(meter.list("pending").len(), 0);
		assert_eq!(chain.nonce(&alice.account()).unwrap(), nonce_before, "no transaction sent for a receipt the chain cannot take");
		assert_eq!(chain.next_batch().unwrap(), 0, "no batch on chain");
		// The view functions the flusher read answer as the runtime defines them.
		assert_eq!(chain.adapter_facts(4_000_000).unwrap(), None);
		assert_eq!(chain.operator_head(&alice.account()).unwrap(), None);
	})
	.await
	.unwrap();
	drop(node);
}

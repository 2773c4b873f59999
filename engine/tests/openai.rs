//! The OpenAI-compatible API: models, completions, chat, server-sent events, metering with
//! payer vouchers, and a clear error in OpenAI's shape for every bad input.

mod common;

use axum::{
	body::Body,
	http::{Method, Request, StatusCode},
	Router,
};
use common::{http::*, *};
use http_body_util::BodyExt;
use mnemo_client::{SignedVoucher, Signer};
use mnemo_engine::{
	api::router,
	model::lora::{LoraConfig, Target},
	serve::ServeConfig,
	serve::deploy::{Metering, Serving, ServingConfig},
};
use mnemo_primitives::{engine::Transcript, ContentHash, Voucher};
use serde_json::{json, Value};
use std::{sync::Arc, time::Duration};
use tower::ServiceExt;

/// An engine serving the tiny base, metered as //Alice on a chain of genesis 0x00…, with one
/// free and one metered deployment of trained-shaped adapters.
async fn serving(home: &std::path::Path) -> (Router, Arc<Serving>) {
	let e = engine(home);
	let metering = Metering {
		operator: Signer::from_suri("//Alice").unwrap(),
		node: None,
		genesis: Some(Default::default()),
		flush_interval: Duration::from_secs(3600),
	};
	let config = ServingConfig { base: "tiny".into(), serve: ServeConfig::default(), metering: Some(metering) };
	let s = Serving::start(e.clone(), config).unwrap();
	let app = router(e);
	for (name, seed, chain) in [("free", 1, None), ("paid", 2, Some(7u32))] {
		let h = put(&app, &adapter(4, vec![Target::Q, Target::V], seed)).await;
		let body = json!({"adapter": h.to_hex(), "chain_adapter": chain, "price_per_1k": "10"});
		let (st, b) = call(&app, Method::PUT, &format!("/v1/deployments/{name}"), body.to_string()).await;
		assert_eq!(st, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
	}
	(app, s)
}

/// A trained-shaped adapter of the tiny base (B nonzero), as safetensors.
fn adapter(rank: usize, targets: Vec<Target>, seed: u64) -> Vec<u8> {
	let mut l = mnemo_engine::model::lora::Lora::init(
		LoraConfig::new(rank, 8.0, targets, "tiny").unwrap(),
		&tiny_base().model.config,
		seed,
		&device(),
	);
	for p in l.weights.pairs.iter_mut() {
		p.b = burn::module::Param::from_tensor(p.b.val().ones_like().mul_scalar(0.01));
	}
	l.to_safetensors().unwrap()
}

async fn post(app: &Router, uri: &str, body: Value, headers: &[(&str, String)]) -> (StatusCode, Vec<u8>, Option<String>) {
	let mut req = Request::builder().method(Method::POST).uri(uri).header("content-type", "application/json");
	for (k, v) in headers {
		req = req.header(*k, v);
	}
	let res = app.clone().oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
	let status = res.status();
	let id = res.headers().get("x-mnemo-request-id").map(|v| v.to_str().unwrap().to_string());
	(status, res.into_body().collect().await.unwrap().to_bytes().to_vec(), id)
}

/// The message of an OpenAI-shaped error body.
fn oai_error(bytes: &[u8]) -> String {
	let v = json(bytes);
	v["error"]["message"].as_str().unwrap_or_else(|| panic!("not an OpenAI error: {v}")).to_string()
}

/// The `data:` payloads of a server-sent event stream.
fn sse(bytes: &[u8]) -> Vec<String> {
	let text = String::from_utf8(bytes.to_vec()).unwrap();
	assert!(text.ends_with("\n\n"), "events end with a blank line");
	text.split("\n\n")
		.filter(|e| !e.is_empty())
		.map(|e| e.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data event: {e:?}")).to_string())
		.collect()
}

fn voucher(request: u8, adapter: u32, max_tokens: u32) -> String {
	let v = Voucher {
		request: [request; 16],
		operator: Signer::from_suri("//Alice").unwrap().account(),
		adapter,
		max_price_per_1k: 10,
		max_tokens,
		// The `request`-th voucher on Bob's channel, each consenting to plenty more.
		channel: 0,
		seq: u64::from(request),
		cumulative: u128::from(request) * 1_000_000_000,
		expires_at: 1_000,
		genesis: Default::default(),
	};
	SignedVoucher::sign(&Signer::from_suri("//Bob").unwrap(), v).to_header()
}

#[tokio::test]
async fn completions_chat_and_models_answer_as_openai_does() {
	let home = tempfile::tempdir().unwrap();
	let (app, _s) = serving(home.path()).await;

	let (st, b) = call(&app, Method::GET, "/v1/models", "").await;
	assert_eq!(st, StatusCode::OK);
	let ids: Vec<String> = json(&b)["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
	assert_eq!(ids, vec!["tiny", "free", "paid"]);
	assert_eq!(json(&b)["data"][2]["mnemo"]["metered"], true);
	// One model by id, as OpenAI's `GET /v1/models/{id}`; an unknown one is `model_not_found`.
	let (st, b) = call(&app, Method::GET, "/v1/models/paid", "").await;
	assert_eq!(st, StatusCode::OK);
	assert_eq!((json(&b)["id"].as_str(), json(&b)["object"].as_str(), json(&b)["mnemo"]["metered"].as_bool()), (Some("paid"), Some("model"), Some(true)));
	let (st, b) = call(&app, Method::GET, "/v1/models/tiny", "").await;
	assert_eq!((st, json(&b)["mnemo"]["base"].as_bool()), (StatusCode::OK, Some(true)));
	let (st, b) = call(&app, Method::GET, "/v1/models/nope", "").await;
	assert_eq!((st, json(&b)["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("model_not_found")));

	let body = json!({"model": "free", "prompt": "To be, or not", "max_tokens": 6, "temperature": 0, "ignore_eos": true});
	let (st, b, id) = post(&app, "/v1/completions", body.clone(), &[]).await;
	assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
	let v = json(&b);
	assert_eq!(v["object"], "text_completion");
	assert_eq!(v["choices"][0]["finish_reason"], "length");
	assert_eq!(v["usage"]["completion_tokens"], 6);
	let prompt_tokens = tiny_base().tokenizer.encode("To be, or not").unwrap().len();
	assert_eq!(v["usage"]["prompt_tokens"], prompt_tokens, "usage counts the prompt's real tokens");
	assert_eq!(v["usage"]["total_tokens"], prompt_tokens + 6);
	assert_eq!(v["id"], format!("cmpl-{}", id.unwrap()));
	let text = v["choices"][0]["text"].as_str().unwrap().to_string();

	// Streaming gives the same text, in chunks, then [DONE].
	let mut sbody = body.clone();
	sbody["stream"] = json!(true);
	sbody["stream_options"] = json!({"include_usage": true});
	let (st, b, _) = post(&app, "/v1/completions", sbody, &[]).await;
	assert_eq!(st, StatusCode::OK);
	let events = sse(&b);
	assert_eq!(events.last().unwrap(), "[DONE]");
	let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
	let streamed: String = chunks.iter().filter_map(|c| c["choices"].get(0)).map(|c| c["text"].as_str().unwrap()).collect();
	assert_eq!(streamed, text);
	let finish = chunks.iter().filter_map(|c| c["choices"].get(0)).find(|c| !c["finish_reason"].is_null()).unwrap();
	assert_eq!(finish["finish_reason"], "length");
	assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 6, "the usage chunk comes last");

	// Chat: the first chunk opens the assistant's turn; the text matches the non-streamed one.
	let chat = json!({"model": "tiny", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5, "temperature": 0, "ignore_eos": true});
	let (st, b, _) = post(&app, "/v1/chat/completions", chat.clone(), &[]).await;
	assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
	let v = json(&b);
	assert_eq!(v["object"], "chat.completion");
	assert_eq!(v["choices"][0]["message"]["role"], "assistant");
	let said = v["choices"][0]["message"]["content"].as_str().unwrap().to_string();
	let mut schat = chat.clone();
	schat["stream"] = json!(true);
	let (_, b, _) = post(&app, "/v1/chat/completions", schat, &[]).await;
	let events = sse(&b);
	let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
	assert_eq!(chunks[0]["object"], "chat.completion.chunk");
	assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
	let streamed: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
	assert_eq!(streamed, said);

	// A stop string ends the text before it.
	let (_, b, _) = post(&app, "/v1/completions", json!({"model": "free", "prompt": "To be, or not", "max_tokens": 6,
		"temperature": 0, "ignore_eos": true, "stop": [text.chars().skip(2).take(2).collect::<String>()]}), &[]).await;
	let v = json(&b);
	assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
	assert!(text.starts_with(v["choices"][0]["text"].as_str().unwrap()));
}

#[tokio::test]
async fn a_metered_request_needs_a_voucher_and_leaves_a_durable_receipt() {
	let home = tempfile::tempdir().unwrap();
	let (app, s) = serving(home.path()).await;
	let body = json!({"model": "paid", "prompt": "Now is the winter", "max_tokens": 50, "temperature": 0, "ignore_eos": true});
	let (st, b, _) = post(&app, "/v1/completions", body.clone(), &[]).await;
	assert_eq!(st, StatusCode::UNAUTHORIZED);
	assert!(oai_error(&b).contains("X-Mnemo-Voucher"), "{}", oai_error(&b));
	assert_eq!(json(&b)["error"]["type"], "authentication_error");
	assert_eq!(json(&b)["error"]["code"], "unauthorized", "OpenAI's codes are strings");
	// For another adapter: refused before anything runs.
	let (st, _, _) = post(&app, "/v1/completions", body.clone(), &[("x-mnemo-voucher", voucher(1, 8, 100))]).await;
	assert_eq!(st, StatusCode::FORBIDDEN);

	let prompt_tokens = tiny_base().tokenizer.encode("Now is the winter").unwrap().len() as u32;
	let cap = prompt_tokens + 5;
	let (st, b, id) = post(&app, "/v1/completions", body.clone(), &[("x-mnemo-voucher", voucher(2, 7, cap))]).await;
	assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
	let v = json(&b);
	assert_eq!(id.unwrap(), hex::encode([2u8; 16]), "the request id is the voucher's");
	assert_eq!(v["usage"]["total_tokens"], cap, "max_tokens lowered to what the voucher pays for");
	assert_eq!(v["mnemo"]["metered"], true);
	// The transcript is in the store, as attestors will fetch it.
	let t = ContentHash::from_hex(v["mnemo"]["transcript"].as_str().unwrap()).unwrap();
	let stored: Transcript = serde_json::from_slice(&s.engine.store.get(&t).unwrap()).unwrap();
	assert_eq!(stored.prompt, "Now is the winter");
	assert_eq!(stored.output, v["choices"][0]["text"].as_str().unwrap());
	let meter = s.meter.as_ref().unwrap();
	assert_eq!(meter.list("pending"), vec![[2u8; 16]], "the receipt waits in the journal");
	// The same voucher again is refused; a free model needs none.
	let (st, b, _) = post(&app, "/v1/completions", body.clone(), &[("x-mnemo-voucher", voucher(2, 7, cap))]).await;
	assert_eq!(st, StatusCode::CONFLICT, "{}", oai_error(&b));
	let (st, _, _) = post(&app, "/v1/completions", json!({"model": "free", "prompt": "x", "max_tokens": 1}), &[]).await;
	assert_eq!(st, StatusCode::OK);
	let (_, m) = call(&app, Method::GET, "/metrics", "").await;
	let m = String::from_utf8(m).unwrap();
	assert!(m.contains("mnemo_engine_receipts{state=\"pending\"} 1"), "{m}");
}

#[tokio::test]
async fn bad_requests_get_a_clear_openai_error() {
	let home = tempfile::tempdir().unwrap();
	let (app, _s) = serving(home.path()).await;
	let long = "word ".repeat(400);
	let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
		("/v1/completions", json!({"model": "nope", "prompt": "x"}), StatusCode::NOT_FOUND, "not deployed"),
		("/v1/completions", json!({"prompt": "x"}), StatusCode::BAD_REQUEST, "model"),
		("/v1/completions", json!({"model": "tiny", "prompt": 5}), StatusCode::BAD_REQUEST, "prompt must be a string"),
		("/v1/completions", json!({"model": "tiny", "prompt": ""}), StatusCode::BAD_REQUEST, "empty"),
		("/v1/completions", json!({"model": "tiny", "prompt": long}), StatusCode::BAD_REQUEST, "context"),
		("/v1/completions", json!({"model": "tiny", "prompt": "x", "n": 2}), StatusCode::BAD_REQUEST, "n must be 1"),
		("/v1/completions", json!({"model": "tiny", "prompt": "x", "max_tokens": 0}), StatusCode::BAD_REQUEST, "at least 1"),
		("/v1/completions", json!({"model": "tiny", "prompt": "x", "temperature": -1}), StatusCode::BAD_REQUEST, "temperature"),
		("/v1/completions", json!({"model": "tiny", "prompt": "x", "stop": 3}), StatusCode::BAD_REQUEST, "stop"),
		("/v1/chat/completions", json!({"model": "tiny", "messages": []}), StatusCode::BAD_REQUEST, "empty"),
		("/v1/chat/completions", json!({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}), StatusCode::BAD_REQUEST, "tools"),
		("/v1/chat/completions", json!({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}), StatusCode::BAD_REQUEST, "response_format"),
		("/v1/chat/completions", json!({"model": "tiny", "messages": [{"role": "tool", "content": "x"}]}), StatusCode::BAD_REQUEST, "role"),
		("/v1/chat/completions", json!({"model": "tiny", "messages": [{"role": "user"}]}), StatusCode::BAD_REQUEST, "content"),
		("/v1/completions", json!({"model": "paid", "prompt": "x"}), StatusCode::UNAUTHORIZED, "voucher"),
	];
	for (uri, body, status, says) in cases {
		let (st, b, _) = post(&app, uri, body.clone(), &[]).await;
		assert_eq!(st, status, "{body}: {}", String::from_utf8_lossy(&b));
		assert!(oai_error(&b).contains(says), "{body}: `{}` should say `{says}`", oai_error(&b));
	}
	let (st, b, _) = post(&app, "/v1/completions", json!({"model": "paid", "prompt": "x"}), &[("x-mnemo-voucher", "zz".into())]).await;
	assert_eq!(st, StatusCode::BAD_REQUEST);
	assert!(oai_error(&b).contains("X-Mnemo-Voucher: not hex"), "{}", oai_error(&b));
	let req = Request::builder().method(Method::POST).uri("/v1/completions").header("content-type", "application/json");
	let res = app.clone().oneshot(req.body(Body::from("{not json")).unwrap()).await.unwrap();
	assert_eq!(res.status(), StatusCode::BAD_REQUEST);
	// Deployments: unknown adapter, bad hash, bad name, metered deployment of a missing adapter.
	let zero = ContentHash::of(b"nothing").to_hex();
	for (name, body, status) in [
		("x", json!({"adapter": zero}), StatusCode::NOT_FOUND),
		("x", json!({"adapter": "abc"}), StatusCode::BAD_REQUEST),
		("bad name!", json!({"adapter": zero}), StatusCode::BAD_REQUEST),
		("tiny", json!({"adapter": zero}), StatusCode::BAD_REQUEST),
		("x", json!({"adapter": zero, "price_per_1k": "lots"}), StatusCode::BAD_REQUEST),
	] {
		let (st, b) = call(&app, Method::PUT, &format!("/v1/deployments/{}", name.replace(' ', "%20")), body.to_string()).await;
		assert_eq!(st, status, "{name} {body}: {}", String::from_utf8_lossy(&b));
	}
	// Adapters the bank cannot hold: wider than the serving rank, or of a projection not served.
	for (rank, targets, says) in [
		(17, vec![Target::Q], "above this server's serving rank 16 (--max-rank)"),
		(4, vec![Target::Q, Target::Gate], "adapts gate_proj, which this server does not serve (--serve-targets q,v)"),
	] {
		let h = put(&app, &adapter(rank, targets, 3)).await;
		let body = json!({"adapter": h.to_hex()});
		let (st, b) = call(&app, Method::PUT, "/v1/deployments/unservable", body.to_string()).await;
		assert_eq!(st, StatusCode::BAD_REQUEST);
		assert!(String::from_utf8_lossy(&b).contains(says), "{}", String::from_utf8_lossy(&b));
	}
	let (st, _) = call(&app, Method::DELETE, "/v1/deployments/nope", "").await;
	assert_eq!(st, StatusCode::NOT_FOUND);
	let (st, _) = call(&app, Method::DELETE, "/v1/deployments/free", "").await;
	assert_eq!(st, StatusCode::NO_CONTENT);
	let (st, _, _) = post(&app, "/v1/completions", json!({"model": "free", "prompt": "x"}), &[]).await;
	assert_eq!(st, StatusCode::NOT_FOUND, "undeployed");
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_cancels_its_request() {
	use tokio::io::{AsyncReadExt, AsyncWriteExt};
	let home = tempfile::tempdir().unwrap();
	let (app, s) = serving(home.path()).await;
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let addr = listener.local_addr().unwrap();
	tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
	let body = json!({"model": "free", "prompt": "Out, damned spot", "max_tokens": 200, "stream": true, "ignore_eos": true}).to_string();
	let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
	let req = format!(
		"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
		body.len()
	);
	sock.write_all(req.as_bytes()).await.unwrap();
	let mut buf = vec![0u8; 4096];
	let n = sock.read(&mut buf).await.unwrap();
	let head = String::from_utf8_lossy(&buf[..n]).to_string();
	assert!(head.starts_with("HTTP/1.1 200") && head.contains("text/event-stream"), "{head}");
	drop(sock);
	let stats = &s.server.stats;
	let start = std::time::Instant::now();
	while stats.cancelled.load(std::sync::atomic::Ordering::Relaxed) < 1 || stats.running.load(std::sync::atomic::Ordering::Relaxed) > 0 {
		assert!(start.elapsed() < Duration::from_secs(30), "the request of a gone client kept running");
		tokio::time::sleep(Duration::from_millis(20)).await;
	}
	assert!(stats.output_tokens.load(std::sync::atomic::Ordering::Relaxed) < 200, "it stopped early");
}

//! The HTTP API in process: an engine on a fresh home and calls through its router.

use super::*;
use axum::{
	body::Body,
	http::{Method, Request, StatusCode},
	Router,
};
use http_body_util::BodyExt;
use mnemo_engine::api::service::{Engine, EngineConfig};
use mnemo_primitives::ContentHash;
use std::{path::Path, sync::Arc};
use tower::ServiceExt;

/// An engine serving the tiny base from a fresh home (the pretrained fixture copied in).
pub fn engine(home: &Path) -> Arc<Engine> {
	let fixture = home::fetch(&test_home(), "tiny", |_| {}).unwrap();
	let dest = home::model_path(home, "tiny").unwrap();
	std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
	std::fs::copy(fixture, dest).unwrap();
	let mut c = EngineConfig::new(home.to_path_buf());
	c.bases = vec!["tiny".into()];
	c.chunk_len = 48;
	c.max_blob = 64 * 1024;
	Engine::start(c, device()).unwrap()
}

pub async fn call(app: &Router, method: Method, uri: &str, body: impl Into<Body>) -> (StatusCode, Vec<u8>) {
	let req = Request::builder().method(method).uri(uri).header("content-type", "application/json").body(body.into()).unwrap();
	let res = app.clone().oneshot(req).await.unwrap();
	let status = res.status();
	(status, res.into_body().collect().await.unwrap().to_bytes().to_vec())
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
	serde_json::from_slice(bytes).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(bytes)))
}

/// The error message of a JSON error body.
pub fn error(bytes: &[u8]) -> String {
	json(bytes)["error"].as_str().expect("an `error` field").to_string()
}

pub async fn put(app: &Router, bytes: &[u8]) -> ContentHash {
	let h = ContentHash::of(bytes);
	let (s, _) = call(app, Method::PUT, &format!("/v1/blobs/{}", h.to_hex()), bytes.to_vec()).await;
	assert!(s == StatusCode::CREATED || s == StatusCode::OK, "{s}");
	h
}


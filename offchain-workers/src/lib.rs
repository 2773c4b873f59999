//! # mnemo-ocw
//!
//! The one HTTP client through which Mnemo's offchain workers call the engine.
//!
//! - The engine's base URL comes from node-local offchain storage
//!   ([`mnemo_primitives::offchain_keys::ENGINE_URL`], PERSISTENT kind), which the operator sets
//!   with the node's `mnemo_setEngineUrl` RPC. Nothing is hard-coded: a node without it set
//!   simply does no engine work ([`Error::NoEngineUrl`]).
//! - Bodies are the serde types of [`mnemo_primitives::engine`], as JSON.
//! - Every request has a deadline; every failure is an [`Error`] that says what happened, for the
//!   worker's log. Workers retry on a later block; nothing here panics.
//!
//! Runs inside the runtime's offchain context (`no_std` + alloc), through `sp_runtime::offchain`.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::{format, string::String, vec::Vec};
use mnemo_primitives::{
	engine::{
		AttributionRequest, AttributionResponse, ErrorBody, EvalMetrics, EvalRequest, TrainAccepted, TrainRequest, TrainStatus,
		ValidateRequest, ValidateResponse,
	},
	offchain_keys, ContentHash,
};
use polkadot_sdk::sp_runtime::offchain::{
	http,
	storage::{StorageRetrievalError, StorageValueRef},
	Duration, Timestamp,
};
use serde::{de::DeserializeOwned, Serialize};

/// How long one call to the engine may take before the worker gives up on it, in milliseconds.
pub const DEFAULT_DEADLINE_MS: u64 = 10_000;

/// How long an evaluation may take: the engine runs it while the worker waits (two minutes).
pub const EVAL_DEADLINE_MS: u64 = 120_000;

/// Largest response body a worker reads (1 MiB); a larger one is refused, not buffered.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Why a call to the engine failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
	/// The operator has not set the engine URL in offchain storage.
	NoEngineUrl,
	/// The stored engine URL breaks `mnemo_primitives::engine::check_engine_url` or is not UTF-8.
	BadEngineUrl,
	/// The request could not be sent or its answer read (connection refused, deadline passed…).
	Http(&'static str),
	/// The engine answered with a non-2xx status; `message` is its error body's text.
	Status { code: u16, message: String },
	/// The engine's answer was larger than [`MAX_RESPONSE_BYTES`].
	TooLarge,
	/// The engine's answer was not the JSON this worker expects; the serde error says why.
	BadJson(String),
	/// The blob the engine gave does not hash to the name it was asked for.
	WrongContent,
}

impl Error {
	/// Whether the content asked for was not served: the engine does not have it (404), or gave
	/// other bytes. A worker reports such content as unavailable; any other failure (no engine
	/// URL, the engine down or slow) is the worker's own, and it reports nothing.
	pub fn not_served(&self) -> bool {
		matches!(self, Error::Status { code: 404, .. } | Error::WrongContent)
	}
}

impl core::fmt::Display for Error {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		match self {
			Error::NoEngineUrl => write!(f, "no engine URL set (mnemo_setEngineUrl)"),
			Error::BadEngineUrl => write!(f, "the stored engine URL is not an http(s) URL"),
			Error::Http(what) => write!(f, "HTTP request to the engine failed: {what}"),
			Error::Status { code, message } => write!(f, "engine answered {code}: {message}"),
			Error::TooLarge => write!(f, "engine answer larger than allowed"),
			Error::BadJson(e) => write!(f, "engine answer is not the expected JSON: {e}"),
			Error::WrongContent => write!(f, "the engine's blob does not hash to its name"),
		}
	}
}

/// The engine's base URL from node-local offchain storage, without a trailing `/`.
pub fn engine_url() -> Result<String, Error> {
	// Raw UTF-8 bytes, as `mnemo_setEngineUrl` and `offchain_localStorageSet` write them.
	let raw = polkadot_sdk::sp_io::offchain::local_storage_get(
		polkadot_sdk::sp_core::offchain::StorageKind::PERSISTENT,
		offchain_keys::ENGINE_URL,
	)
	.ok_or(Error::NoEngineUrl)?;
	parse_base_url(&raw)
}

fn parse_base_url(raw: &[u8]) -> Result<String, Error> {
	let url = core::str::from_utf8(raw).map_err(|_| Error::BadEngineUrl)?.trim();
	mnemo_primitives::engine::check_engine_url(url).map_err(|_| Error::BadEngineUrl)?;
	Ok(String::from(url.trim_end_matches('/')))
}

/// `POST {engine}{path}` with `body` as JSON; the 2xx answer parsed as `Resp`.
pub fn post_json<Req: Serialize, Resp: DeserializeOwned>(
	path: &str,
	body: &Req,
	deadline_ms: u64,
) -> Result<Resp, Error> {
	let url = format!("{}{}", engine_url()?, path);
	let bytes = serde_json::to_vec(body).map_err(|e| Error::BadJson(format!("{e}")))?;
	let deadline = deadline_after(deadline_ms);
	let headers = post_headers(bytes.len());
	let mut request = http::Request::post(&url, alloc::vec![bytes]);
	for (name, value) in &headers {
		request = request.add_header(name, value);
	}
	let pending =
		request.deadline(deadline).send().map_err(|_| Error::Http("could not send"))?;
	read_json(pending, deadline)
}

/// The headers of a JSON `POST` with a body of `len` bytes. The length is explicit, so servers
/// that do not read chunked bodies get the body too.
fn post_headers(len: usize) -> [(&'static str, String); 3] {
	[
		("Content-Type", String::from("application/json")),
		("Content-Length", format!("{len}")),
		("Accept", String::from("application/json")),
	]
}

/// `GET {engine}{path}`; the 2xx answer parsed as `Resp`.
pub fn get_json<Resp: DeserializeOwned>(path: &str, deadline_ms: u64) -> Result<Resp, Error> {
	let url = format!("{}{}", engine_url()?, path);
	let deadline = deadline_after(deadline_ms);
	let pending = http::Request::get(&url)
		.add_header("Accept", "application/json")
		.deadline(deadline)
		.send()
		.map_err(|_| Error::Http("could not send"))?;
	read_json(pending, deadline)
}

/// Largest blob a worker fetches: a batch of the runtime's most receipts with room to spare.
pub const MAX_BLOB_BYTES: usize = 8 << 20;

/// `GET {engine}/v1/blobs/{hash}`: the blob's bytes, checked against `hash`.
pub fn get_blob(hash: &ContentHash) -> Result<Vec<u8>, Error> {
	let url = format!("{}/v1/blobs/{}", engine_url()?, hash.to_hex());
	let deadline = deadline_after(DEFAULT_DEADLINE_MS);
	let pending = http::Request::get(&url)
		.add_header("Accept", "application/octet-stream")
		.deadline(deadline)
		.send()
		.map_err(|_| Error::Http("could not send"))?;
	let body = read_body(pending, deadline, MAX_BLOB_BYTES)?;
	if ContentHash::of(&body) != *hash {
		return Err(Error::WrongContent);
	}
	Ok(body)
}

/// How long an attribution may take: the engine may compute gradients of a query (one minute).
pub const ATTRIBUTION_DEADLINE_MS: u64 = 60_000;

/// Ask the engine which training contributions made an inference's output
/// (`POST /v1/attribution`).
pub fn attribute(req: &AttributionRequest) -> Result<AttributionResponse, Error> {
	post_json("/v1/attribution", req, ATTRIBUTION_DEADLINE_MS)
}

/// Ask the engine to validate a pending contribution (`POST /v1/datanets/{id}/validate`).
pub fn validate_contribution(req: &ValidateRequest) -> Result<ValidateResponse, Error> {
	post_json(&format!("/v1/datanets/{}/validate", req.datanet), req, DEFAULT_DEADLINE_MS)
}

/// Record in node-local storage under `key` that a worker acts at block `now`, unless it already
/// did less than `window` blocks ago: `true` when the caller should act. Keeps a worker from
/// asking the engine (or submitting) about the same thing every block while its answer is on
/// its way; atomic across the node's concurrent workers.
pub fn mark_unless_recent(key: &[u8], now: u32, window: u32) -> bool {
	StorageValueRef::persistent(key)
		.mutate(|last: Result<Option<u32>, StorageRetrievalError>| match last {
			Ok(Some(at)) if now < at.saturating_add(window) => Err(()),
			_ => Ok(now),
		})
		.is_ok()
}

/// Start (or find) the engine's training run for a job (`POST /v1/train`). The engine keys runs
/// by `(job, attempt)`: asking again returns the same id, so a worker that lost the id after a
/// restart does not start a second run.
pub fn start_training(req: &TrainRequest) -> Result<TrainAccepted, Error> {
	post_json("/v1/train", req, DEFAULT_DEADLINE_MS)
}

/// Where a training run stands (`GET /v1/train/{id}`).
pub fn training_status(id: &str) -> Result<TrainStatus, Error> {
	if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
		return Err(Error::BadJson(format!("engine job id {id:?} is not [A-Za-z0-9_-]+")));
	}
	get_json(&format!("/v1/train/{id}"), DEFAULT_DEADLINE_MS)
}

/// Evaluate an adapter against its base model on the pinned held-out split (`POST /v1/eval`).
pub fn evaluate(req: &EvalRequest) -> Result<EvalMetrics, Error> {
	post_json("/v1/eval", req, EVAL_DEADLINE_MS)
}

fn deadline_after(ms: u64) -> Timestamp {
	polkadot_sdk::sp_io::offchain::timestamp().add(Duration::from_millis(ms))
}

fn read_json<Resp: DeserializeOwned>(
	pending: http::PendingRequest,
	deadline: Timestamp,
) -> Result<Resp, Error> {
	let body = read_body(pending, deadline, MAX_RESPONSE_BYTES)?;
	serde_json::from_slice(&body).map_err(|e| Error::BadJson(format!("{e}")))
}

/// A 2xx answer's body, at most `limit` bytes; any other answer as its error.
fn read_body(pending: http::PendingRequest, deadline: Timestamp, limit: usize) -> Result<Vec<u8>, Error> {
	let response = pending
		.try_wait(deadline)
		.map_err(|_| Error::Http("deadline passed"))?
		.map_err(|e| match e {
			http::Error::DeadlineReached => Error::Http("deadline passed"),
			http::Error::IoError => Error::Http("I/O error (is the engine running?)"),
			http::Error::Unknown => Error::Http("unknown request id"),
		})?;
	let code = response.code;
	let mut body = Vec::new();
	for chunk in response.body() {
		if body.len() >= limit {
			return Err(Error::TooLarge);
		}
		body.push(chunk);
	}
	if !(200..300).contains(&code) {
		let message = serde_json::from_slice::<ErrorBody>(&body)
			.map(|b| b.error)
			.unwrap_or_else(|_| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
		return Err(Error::Status { code, message });
	}
	Ok(body)
}

/// Test support: the exact exchange this client has with the engine, for sp-core's
/// `TestOffchainExt`, so tests of every worker expect the same request the client sends.
#[cfg(feature = "std")]
pub mod testing {
	use super::*;
	use polkadot_sdk::sp_core::offchain::testing::PendingRequest;

	/// `POST {uri}` of `body` as JSON, answered with `response` (status 200).
	pub fn expected_post(uri: &str, body: &impl Serialize, response: &str) -> PendingRequest {
		let body = serde_json::to_vec(body).expect("test bodies serialize");
		PendingRequest {
			method: "POST".into(),
			uri: uri.into(),
			headers: post_headers(body.len())
				.into_iter()
				.map(|(name, value)| (name.into(), value))
				.collect(),
			body,
			response: Some(response.as_bytes().to_vec()),
			sent: true,
			..Default::default()
		}
	}

	/// `GET {uri}` of a blob, answered with `bytes` (status 200).
	pub fn expected_blob(uri: &str, bytes: Vec<u8>) -> PendingRequest {
		PendingRequest {
			method: "GET".into(),
			uri: uri.into(),
			headers: alloc::vec![("Accept".into(), "application/octet-stream".into())],
			response: Some(bytes),
			sent: true,
			..Default::default()
		}
	}

	/// `GET {uri}`, answered with `response` (status 200).
	pub fn expected_get(uri: &str, response: &str) -> PendingRequest {
		PendingRequest {
			method: "GET".into(),
			uri: uri.into(),
			headers: alloc::vec![("Accept".into(), "application/json".into())],
			response: Some(response.as_bytes().to_vec()),
			sent: true,
			..Default::default()
		}
	}
}

#[cfg(test)]
mod tests;

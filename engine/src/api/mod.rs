//! The HTTP API (axum). Bodies are the `mnemo-primitives` engine types; every failure is a JSON
//! [`ErrorBody`] with a 4xx for bad input and a 5xx only for the engine's own faults.
//!
//! | Method and path | Body → answer |
//! |---|---|
//! | `PUT /v1/blobs/{hash}` | bytes (any content type) → 201 `{"hash", "size"}` (200 if already stored) |
//! | `POST /v1/blobs` | bytes → 201 `{"hash", "size"}` |
//! | `GET`, `HEAD /v1/blobs/{hash}` | → the bytes / their size |
//! | `POST /v1/datanets/{id}/validate` | `ValidateRequest` (+ `approved` hashes) → `ValidateResponse` |
//! | `POST /v1/train` | `TrainRequest` → 202 `TrainAccepted` |
//! | `GET /v1/train/{id}` | → `TrainStatus` |
//! | `POST /v1/eval` | `EvalRequest` → `EvalMetrics` |
//! | `POST /v1/attribution` | `AttributionRequest` → `AttributionResponse` |
//! | `GET /health` | → `{"status": "ok", ...}` |
//! | `GET /metrics` | → Prometheus text |

pub mod openai;
pub mod service;

use crate::{
	error::Error,
	api::service::Engine,
	train::validate,
};
use axum::{
	body::Bytes,
	extract::{rejection::BytesRejection, rejection::JsonRejection, DefaultBodyLimit, Path, State},
	http::{header, StatusCode},
	response::{IntoResponse, Response},
	routing::{get, post, put},
	Json, Router,
};
use mnemo_primitives::{
	engine::{
		AttributionRequest, ErrorBody, EvalRequest, TrainAccepted, TrainRequest, ValidateRequest, ValidateResponse,
	},
	ContentHash,
};
use std::sync::{atomic::Ordering, Arc};

/// Largest JSON body accepted.
pub const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

/// An error on its way to the client.
pub struct ApiError(pub StatusCode, pub String);

impl From<Error> for ApiError {
	fn from(e: Error) -> Self {
		let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
		if status.is_server_error() {
			tracing::error!("{e}");
		}
		ApiError(status, e.to_string())
	}
}

impl From<JsonRejection> for ApiError {
	fn from(r: JsonRejection) -> Self {
		let status = if r.status() == StatusCode::PAYLOAD_TOO_LARGE { r.status() } else { StatusCode::BAD_REQUEST };
		ApiError(status, format!("bad request body: {}", r.body_text()))
	}
}

impl From<BytesRejection> for ApiError {
	fn from(r: BytesRejection) -> Self {
		ApiError(r.status(), format!("cannot read the body: {}", r.body_text()))
	}
}

impl IntoResponse for ApiError {
	fn into_response(self) -> Response {
		(self.0, Json(ErrorBody { error: self.1 })).into_response()
	}
}

type ApiResult<T> = Result<T, ApiError>;

fn hash(s: &str) -> ApiResult<ContentHash> {
	ContentHash::from_hex(s).ok_or_else(|| {
		ApiError(StatusCode::BAD_REQUEST, format!("`{s}` is not a content hash (64 hex digits of blake2-256)"))
	})
}

/// Runs blocking work (disk, tensors) off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> crate::Result<T> + Send + 'static) -> ApiResult<T> {
	tokio::task::spawn_blocking(f)
		.await
		.map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("worker failed: {e}")))?
		.map_err(ApiError::from)
}

#[derive(serde::Serialize)]
struct Stored {
	hash: ContentHash,
	size: u64,
}

async fn put_blob(
	State(e): State<Arc<Engine>>,
	Path(h): Path<String>,
	body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Stored>)> {
	let expected = hash(&h)?;
	let body = body?;
	store_blob(e, body, Some(expected)).await
}

async fn post_blob(State(e): State<Arc<Engine>>, body: Result<Bytes, BytesRejection>) -> ApiResult<(StatusCode, Json<Stored>)> {
	store_blob(e, body?, None).await
}

async fn store_blob(e: Arc<Engine>, body: Bytes, expected: Option<ContentHash>) -> ApiResult<(StatusCode, Json<Stored>)> {
	let existed = expected.is_some_and(|h| e.store.size(&h).is_some());
	let size = body.len() as u64;
	let engine = e.clone();
	let hash = blocking(move || engine.store.put(&body, expected)).await?;
	if !existed {
		e.counters.blobs_stored.fetch_add(1, Ordering::Relaxed);
		e.counters.blob_bytes_stored.fetch_add(size, Ordering::Relaxed);
	}
	let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
	Ok((status, Json(Stored { hash, size })))
}

async fn get_blob(State(e): State<Arc<Engine>>, Path(h): Path<String>) -> ApiResult<Response> {
	let h = hash(&h)?;
	let bytes = blocking(move || e.store.get(&h)).await?;
	Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

async fn head_blob(State(e): State<Arc<Engine>>, Path(h): Path<String>) -> ApiResult<Response> {
	let h = hash(&h)?;
	match e.store.size(&h) {
		Some(n) => Ok(([(header::CONTENT_LENGTH, n.to_string())], ()).into_response()),
		None => Ok(StatusCode::NOT_FOUND.into_response()),
	}
}

/// A validation request with the approved contributions to compare against.
#[derive(serde::Deserialize)]
struct ValidateBody {
	#[serde(flatten)]
	req: ValidateRequest,
	/// Content hashes of the datanet's approved contributions (those missing from the store are
	/// skipped and named in `detail`).
	#[serde(default)]
	approved: Vec<ContentHash>,
}

async fn validate_contribution(
	State(e): State<Arc<Engine>>,
	Path(datanet): Path<String>,
	body: Result<Json<ValidateBody>, JsonRejection>,
) -> ApiResult<Json<ValidateResponse>> {
	let Json(ValidateBody { req, approved }) = body?;
	let id: u32 = datanet.parse().map_err(|_| ApiError(StatusCode::BAD_REQUEST, format!("`{datanet}` is not a datanet id")))?;
	if id != req.datanet {
		return Err(ApiError(StatusCode::BAD_REQUEST, format!("the path names datanet {id}, the body {}", req.datanet)));
	}
	let v = blocking(move || {
		let bytes = e.store.get(&req.content_hash)?;
		let mut missing = 0;
		let others: Vec<Vec<u8>> = approved
			.iter()
			.filter(|h| **h != req.content_hash)
			.filter_map(|h| e.store.get(h).map_err(|_| missing += 1).ok())
			.collect();
		let mut v = validate::validate(&req.kind, &bytes, req.byte_len, req.row_count, &others);
		if missing > 0 {
			let note = format!("{missing} approved contribution(s) were not in this engine's store and were not compared");
			v.detail = Some(v.detail.map_or(note.clone(), |d| format!("{d}; {note}")));
		}
		Ok(v)
	})
	.await?;
	Ok(Json(ValidateResponse {
		schema_ok: v.schema_ok,
		exact_duplicate: v.exact_duplicate,
		near_duplicate: v.near_duplicate,
		quality: v.quality,
		detail: v.detail,
	}))
}

async fn submit_train(
	State(e): State<Arc<Engine>>,
	body: Result<Json<TrainRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<TrainAccepted>)> {
	let Json(req) = body?;
	let id = blocking(move || e.submit(req)).await?;
	Ok((StatusCode::ACCEPTED, Json(TrainAccepted { id })))
}

async fn train_status(State(e): State<Arc<Engine>>, Path(id): Path<String>) -> ApiResult<Response> {
	Ok(Json(e.status(&id)?).into_response())
}

async fn evaluate(State(e): State<Arc<Engine>>, body: Result<Json<EvalRequest>, JsonRejection>) -> ApiResult<Response> {
	let Json(req) = body?;
	let m = blocking(move || e.evaluate(&req)).await?;
	Ok(Json(m).into_response())
}

async fn attribute(
	State(e): State<Arc<Engine>>,
	body: Result<Json<AttributionRequest>, JsonRejection>,
) -> ApiResult<Response> {
	let Json(req) = body?;
	let a = blocking(move || e.attribute(&req)).await?;
	Ok(Json(a).into_response())
}

async fn health(State(e): State<Arc<Engine>>) -> Response {
	Json(serde_json::json!({
		"status": "ok",
		"version": env!("CARGO_PKG_VERSION"),
		"bases": e.config.bases,
	}))
	.into_response()
}

async fn metrics(State(e): State<Arc<Engine>>) -> Response {
	let c = &e.counters;
	let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
	let mut out = String::new();
	let mut metric = |name: &str, kind: &str, help: &str, lines: Vec<(String, u64)>| {
		out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
		for (labels, v) in lines {
			out.push_str(&format!("{name}{labels} {v}\n"));
		}
	};
	metric("mnemo_engine_http_requests_total", "counter", "HTTP requests answered.", vec![(String::new(), n(&c.requests))]);
	metric(
		"mnemo_engine_http_errors_total",
		"counter",
		"HTTP requests answered with an error, by class.",
		vec![("{class=\"4xx\"}".into(), n(&c.client_errors)), ("{class=\"5xx\"}".into(), n(&c.server_errors))],
	);
	metric("mnemo_engine_blobs_stored_total", "counter", "Blobs newly stored.", vec![(String::new(), n(&c.blobs_stored))]);
	metric("mnemo_engine_blob_bytes_stored_total", "counter", "Bytes of blobs newly stored.", vec![(String::new(), n(&c.blob_bytes_stored))]);
	metric("mnemo_engine_evaluations_total", "counter", "Adapter evaluations served.", vec![(String::new(), n(&c.evaluations))]);
	metric("mnemo_engine_attributions_total", "counter", "Attributions served.", vec![(String::new(), n(&c.attributions))]);
	metric(
		"mnemo_engine_gradient_cache_hits_total",
		"counter",
		"Attributions whose training gradients came from the cache.",
		vec![(String::new(), n(&c.gradient_cache_hits))],
	);
	metric("mnemo_engine_train_steps_total", "counter", "LoRA training steps run.", vec![(String::new(), n(&c.train_steps))]);
	metric(
		"mnemo_engine_train_jobs",
		"gauge",
		"Training jobs by state.",
		e.job_counts().iter().map(|(s, k)| (format!("{{state=\"{}\"}}", format!("{s:?}").to_lowercase()), *k as u64)).collect(),
	);
	if let Some(s) = e.serving.get() {
		let st = &s.server.stats;
		let one = |v: u64| vec![(String::new(), v)];
		metric("mnemo_engine_serve_requests_total", "counter", "Inference requests accepted.", one(n(&st.requests)));
		metric("mnemo_engine_serve_refused_busy_total", "counter", "Inference requests refused with 429.", one(n(&st.refused_busy)));
		metric("mnemo_engine_serve_cancelled_total", "counter", "Inference requests whose client went away.", one(n(&st.cancelled)));
		metric("mnemo_engine_serve_output_tokens_total", "counter", "Tokens generated.", one(n(&st.output_tokens)));
		metric("mnemo_engine_serve_steps_total", "counter", "Batched decode steps.", one(n(&st.steps)));
		metric("mnemo_engine_serve_running", "gauge", "Requests in the running batch.", one(st.running.load(Ordering::Relaxed) as u64));
		metric("mnemo_engine_adapter_loads_total", "counter", "Adapters written into the bank.", one(n(&st.bank.loads)));
		metric("mnemo_engine_adapter_evictions_total", "counter", "Adapters evicted from the bank.", one(n(&st.bank.evictions)));
		metric("mnemo_engine_adapters_resident", "gauge", "Adapters in the bank.", one(st.resident_adapters.load(Ordering::Relaxed) as u64));
		metric("mnemo_engine_adapter_slots", "gauge", "Adapters the bank holds at once.", one(st.bank_slots.load(Ordering::Relaxed) as u64));
		if let Some(m) = &s.meter {
			metric(
				"mnemo_engine_receipts",
				"gauge",
				"Receipts by state.",
				vec![
					("{state=\"pending\"}".into(), n(&m.stats.pending)),
					("{state=\"recorded\"}".into(), n(&m.stats.recorded)),
					("{state=\"refused\"}".into(), n(&m.stats.refused)),
					("{state=\"expired\"}".into(), n(&m.stats.expired)),
				],
			);
			metric("mnemo_engine_receipt_flush_errors_total", "counter", "Failed receipt flushes.", one(n(&m.stats.flush_errors)));
			metric(
				"mnemo_engine_receipts_refused_backlog_total",
				"counter",
				"Metered requests refused with 503: the backlog would not be committed before their voucher expires.",
				one(n(&m.stats.refused_backlog)),
			);
			metric(
				"mnemo_engine_receipt_commit_rate_milli",
				"gauge",
				"Receipts committed per second while there is a backlog, in thousandths (0: not measured yet).",
				one(n(&m.stats.commit_rate_milli)),
			);
			metric("mnemo_engine_block_time_ms", "gauge", "The chain's block time as this engine sees it (0: not measured yet).", one(n(&m.stats.block_ms)));
		}
	}
	([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
	const SERVING: [&str; 4] = ["/v1/models", "/v1/completions", "/v1/chat/completions", "/v1/deployments"];
	if SERVING.iter().any(|p| uri.path() == *p || uri.path().starts_with(&format!("{p}/"))) {
		return ApiError(
			StatusCode::NOT_FOUND,
			format!(
				"{} is an OpenAI serving route, and this engine serves no model: start it with `mnemo-engine serve --serve <base>` (e.g. --serve tiny or --serve smollm2-135m)",
				uri.path()
			),
		);
	}
	ApiError(StatusCode::NOT_FOUND, format!("no such endpoint: {}", uri.path()))
}

async fn count(State(e): State<Arc<Engine>>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
	let res = next.run(req).await;
	let c = &e.counters;
	c.requests.fetch_add(1, Ordering::Relaxed);
	if res.status().is_client_error() {
		c.client_errors.fetch_add(1, Ordering::Relaxed);
	} else if res.status().is_server_error() {
		c.server_errors.fetch_add(1, Ordering::Relaxed);
	}
	res
}

/// The engine's routes.
pub fn router(engine: Arc<Engine>) -> Router {
	let blob_limit = DefaultBodyLimit::max(engine.store.max_size() as usize);
	let blobs = Router::new()
		.route("/v1/blobs/{hash}", put(put_blob).get(get_blob).head(head_blob))
		.route("/v1/blobs", post(post_blob))
		.layer(blob_limit);
	let serving = match engine.serving.get() {
		Some(s) => crate::api::openai::routes(s.clone()),
		None => Router::new(),
	};
	Router::new()
		.route("/v1/datanets/{id}/validate", post(validate_contribution))
		.route("/v1/train", post(submit_train))
		.route("/v1/train/{id}", get(train_status))
		.route("/v1/eval", post(evaluate))
		.route("/v1/attribution", post(attribute))
		.layer(DefaultBodyLimit::max(MAX_JSON_BODY))
		.merge(blobs)
		.route("/health", get(health))
		.route("/metrics", get(metrics))
		.with_state(engine.clone())
		.merge(serving)
		.fallback(not_found)
		.layer(axum::middleware::from_fn_with_state(engine, count))
}

/// Serves the API on `listener` until ctrl-c.
pub async fn serve(engine: Arc<Engine>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
	axum::serve(listener, router(engine))
		.with_graceful_shutdown(async {
			let _ = tokio::signal::ctrl_c().await;
		})
		.await
}

//! The OpenAI-compatible API over [`crate::serve::deploy`].
//!
//! | Method and path | |
//! |---|---|
//! | `GET /v1/models` | the base model and every deployed adapter |
//! | `POST /v1/completions` | `{model, prompt, max_tokens, temperature, top_p, seed, stop, stream}` |
//! | `POST /v1/chat/completions` | `{model, messages, ...}`, the prompt rendered with the model's chat template |
//! | `PUT /v1/deployments/{name}` | `{adapter, chain_adapter?, price_per_1k?}` → the deployment |
//! | `DELETE /v1/deployments/{name}` | undeploys |
//!
//! `model` is a deployment's name or the base model's id. With `stream: true` the answer comes as
//! server-sent events (`data: {chunk}` lines, then `data: [DONE]`). Errors use OpenAI's shape,
//! `{"error": {"message", "type", "code"}}`. Every answer carries `x-mnemo-request-id`; a
//! metered one also reports where its transcript is stored (`mnemo.transcript`).

use crate::{
	api::ApiError,
	model::generate::Sampling,
	serve::{Event, Finish, Job, Outcome},
	serve::deploy::{now, Serving},
};
use axum::{
	extract::{rejection::JsonRejection, DefaultBodyLimit, Path, State},
	http::{HeaderMap, HeaderValue, StatusCode},
	response::{
		sse::{Event as SseEvent, KeepAlive, Sse},
		IntoResponse, Response,
	},
	routing::{get, post, put},
	Json, Router,
};
use futures_util::StreamExt;
use mnemo_primitives::{engine::Transcript, Balance, ContentHash, RequestId};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// An error in OpenAI's shape: the status and message the engine's other routes give
/// ([`ApiError`]), in OpenAI's body.
pub struct OaiError(StatusCode, String);

impl<E: Into<ApiError>> From<E> for OaiError {
	fn from(e: E) -> Self {
		let ApiError(status, msg) = e.into();
		OaiError(status, msg)
	}
}

fn error_type(s: StatusCode) -> &'static str {
	match s.as_u16() {
		401 => "authentication_error",
		402 => "insufficient_quota",
		403 => "permission_error",
		404 => "not_found_error",
		409 => "conflict_error",
		429 => "rate_limit_error",
		s if s >= 500 => "server_error",
		_ => "invalid_request_error",
	}
}

/// OpenAI's `code`: a string (`model_not_found` for a model this engine does not serve, the
/// status's reason in snake case otherwise: `payment_required`, `too_many_requests`, …).
fn error_code(status: StatusCode, msg: &str) -> String {
	if status == StatusCode::NOT_FOUND && msg.starts_with("model `") {
		return "model_not_found".into();
	}
	status.canonical_reason().unwrap_or("error").to_ascii_lowercase().replace([' ', '-'], "_")
}

fn error_json(status: StatusCode, msg: &str) -> Value {
	json!({"error": {"message": msg, "type": error_type(status), "param": null, "code": error_code(status, msg)}})
}

impl IntoResponse for OaiError {
	fn into_response(self) -> Response {
		let mut r = (self.0, Json(error_json(self.0, &self.1))).into_response();
		// At capacity or behind on settlement: a client (the openai libraries among them) waits
		// this long before it tries again.
		if matches!(self.0, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) {
			r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
		}
		r
	}
}

type OaiResult<T> = Result<T, OaiError>;

fn bad(msg: impl Into<String>) -> OaiError {
	OaiError(StatusCode::BAD_REQUEST, msg.into())
}


/// Every model this engine serves, as OpenAI's model objects: the base, then each deployment.
fn model_objects(s: &Serving) -> Vec<Value> {
	let mut data = vec![json!({"id": s.base.id, "object": "model", "created": 0, "owned_by": "mnemo", "mnemo": {"base": true}})];
	for d in s.deployments() {
		data.push(json!({
			"id": d.name, "object": "model", "created": d.created, "owned_by": "mnemo",
			"mnemo": {"base": false, "adapter": d.adapter.to_hex(), "chain_adapter": d.chain_adapter,
				"price_per_1k": d.price_per_1k.to_string(), "rank": d.rank, "metered": d.chain_adapter.is_some()}
		}));
	}
	data
}

/// `GET /v1/models/{id}`: one model object, or 404 `model_not_found`.
async fn model(State(s): State<Arc<Serving>>, Path(id): Path<String>) -> OaiResult<Json<Value>> {
	model_objects(&s).into_iter().find(|m| m["id"] == id.as_str()).map(Json).ok_or_else(|| {
		OaiError(StatusCode::NOT_FOUND, format!("model `{id}` is not deployed here (GET /v1/models lists what is)"))
	})
}

async fn models(State(s): State<Arc<Serving>>) -> Json<Value> {
	let data = model_objects(&s);
	// Who records the receipts and for which chain: what a payer's voucher must name.
	let metering = s.meter.as_ref().map(|m| json!({"operator": hex::encode(<[u8; 32]>::from(m.operator.clone())), "genesis": hex::encode(m.genesis)}));
	Json(json!({"object": "list", "data": data, "mnemo": {"metering": metering}}))
}

/// `GET /v1/channels/{payer}`: the last voucher this engine accepted from `payer` (an SS58
/// address or 32 bytes of hex), so its client can sign the next one.
async fn channel(State(s): State<Arc<Serving>>, Path(payer): Path<String>) -> OaiResult<Json<Value>> {
	let Some(m) = &s.meter else {
		return Err(OaiError(StatusCode::NOT_FOUND, "this engine does not meter: it serves no paid adapter".into()));
	};
	let who = mnemo_client::parse_account(&payer).ok_or_else(|| bad(format!("`{payer}` is not an account (SS58 or 32 bytes of hex)")))?;
	let view = m.channel(&who).ok_or_else(|| {
		OaiError(StatusCode::NOT_FOUND, format!("no voucher from {who} yet: start from its channel on chain (seq and spent)"))
	})?;
	Ok(Json(json!({"payer": who.to_string(), "operator": m.operator.to_string(), "voucher": view.voucher, "seq": view.seq,
		"cumulative": view.cumulative, "expires_at": view.expires_at, "unsettled": view.unsettled})))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployBody {
	adapter: String,
	#[serde(default)]
	chain_adapter: Option<u32>,
	#[serde(default)]
	price_per_1k: Option<Value>,
}

async fn deploy(
	State(s): State<Arc<Serving>>,
	Path(name): Path<String>,
	body: Result<Json<DeployBody>, JsonRejection>,
) -> OaiResult<(StatusCode, Json<Value>)> {
	let Json(b) = body?;
	let adapter = ContentHash::from_hex(&b.adapter)
		.ok_or_else(|| bad(format!("`{}` is not a content hash (64 hex digits of blake2-256)", b.adapter)))?;
	// Balances are u128: accepted as a JSON number or a decimal string.
	let price: Balance = match &b.price_per_1k {
		None => 0,
		Some(Value::Number(n)) => n.as_u64().map(Balance::from).ok_or_else(|| bad("price_per_1k must be a whole number"))?,
		Some(Value::String(t)) => t.parse().map_err(|_| bad(format!("price_per_1k `{t}` is not a whole number")))?,
		Some(_) => return Err(bad("price_per_1k must be a whole number")),
	};
	let s2 = s.clone();
	let d = tokio::task::spawn_blocking(move || s2.deploy(&name, adapter, b.chain_adapter, price))
		.await
		.map_err(|e| OaiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
	Ok((StatusCode::CREATED, Json(serde_json::to_value(d).expect("json"))))
}

async fn undeploy(State(s): State<Arc<Serving>>, Path(name): Path<String>) -> OaiResult<StatusCode> {
	s.undeploy(&name)?;
	Ok(StatusCode::NO_CONTENT)
}

/// The sampling fields both endpoints share.
#[derive(serde::Deserialize)]
struct Common {
	model: String,
	#[serde(default)]
	max_tokens: Option<u64>,
	#[serde(default)]
	max_completion_tokens: Option<u64>,
	#[serde(default)]
	temperature: Option<f64>,
	#[serde(default)]
	top_p: Option<f64>,
	#[serde(default)]
	seed: Option<u64>,
	#[serde(default)]
	stop: Option<Value>,
	#[serde(default)]
	stream: bool,
	#[serde(default)]
	stream_options: Option<Value>,
	#[serde(default)]
	n: Option<u64>,
	#[serde(default)]
	logprobs: Option<Value>,
	#[serde(default)]
	echo: Option<bool>,
	/// vLLM's extension: generate to `max_tokens` whatever tokens come.
	#[serde(default)]
	ignore_eos: bool,
	/// Tool calling and structured output are not supported: refused, not ignored.
	#[serde(default)]
	tools: Option<Value>,
	#[serde(default)]
	functions: Option<Value>,
	#[serde(default)]
	response_format: Option<Value>,
	#[serde(default)]
	presence_penalty: Option<f64>,
	#[serde(default)]
	frequency_penalty: Option<f64>,
}

impl Common {
	fn check(&self, default_max: u64) -> OaiResult<(Sampling, Vec<String>)> {
		if self.n.unwrap_or(1) != 1 {
			return Err(bad("n must be 1: one completion per request"));
		}
		if self.logprobs.as_ref().is_some_and(|l| !l.is_null() && *l != Value::Bool(false)) {
			return Err(bad("logprobs are not supported"));
		}
		if self.tools.as_ref().or(self.functions.as_ref()).is_some_and(|t| !t.is_null()) {
			return Err(bad("tools and functions are not supported by these models"));
		}
		if self.response_format.as_ref().is_some_and(|f| f.get("type").and_then(Value::as_str).unwrap_or("text") != "text") {
			return Err(bad("only the text response_format is supported"));
		}
		if self.echo == Some(true) {
			return Err(bad("echo is not supported"));
		}
		if self.presence_penalty.unwrap_or(0.0) != 0.0 || self.frequency_penalty.unwrap_or(0.0) != 0.0 {
			return Err(bad("presence and frequency penalties are not supported (leave them at 0)"));
		}
		let max = self.max_completion_tokens.or(self.max_tokens).unwrap_or(default_max);
		if max == 0 {
			return Err(bad("max_tokens must be at least 1"));
		}
		let stop = match &self.stop {
			None | Some(Value::Null) => vec![],
			Some(Value::String(s)) => vec![s.clone()],
			Some(Value::Array(a)) if a.len() <= 4 => a
				.iter()
				.map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad("stop must be a string or a list of strings")))
				.collect::<OaiResult<_>>()?,
			Some(_) => return Err(bad("stop must be a string or a list of at most 4 strings")),
		};
		let sampling = Sampling {
			temperature: self.temperature.unwrap_or(1.0),
			top_p: self.top_p.unwrap_or(1.0),
			seed: self.seed.unwrap_or_else(rand::random),
			max_tokens: max.min(u32::MAX as u64) as usize,
		};
		sampling.check()?;
		Ok((sampling, stop))
	}

	fn include_usage(&self) -> bool {
		self.stream_options.as_ref().and_then(|o| o.get("include_usage")).and_then(Value::as_bool).unwrap_or(false)
	}
}

#[derive(serde::Deserialize)]
struct CompletionBody {
	prompt: Value,
	#[serde(flatten)]
	common: Common,
}

#[derive(serde::Deserialize)]
struct ChatBody {
	messages: Vec<Value>,
	#[serde(flatten)]
	common: Common,
}

async fn completions(
	State(s): State<Arc<Serving>>,
	headers: HeaderMap,
	body: Result<Json<CompletionBody>, JsonRejection>,
) -> OaiResult<Response> {
	let Json(b) = body?;
	let prompt = match &b.prompt {
		Value::String(p) => p.clone(),
		Value::Array(a) if a.len() == 1 && a[0].is_string() => a[0].as_str().expect("string").to_string(),
		_ => return Err(bad("prompt must be a string (or a list of one string)")),
	};
	run(s, headers, prompt, b.common, false).await
}

async fn chat(
	State(s): State<Arc<Serving>>,
	headers: HeaderMap,
	body: Result<Json<ChatBody>, JsonRejection>,
) -> OaiResult<Response> {
	let Json(b) = body?;
	if b.messages.is_empty() {
		return Err(bad("messages must not be empty"));
	}
	let mut turns = Vec::new();
	for (i, m) in b.messages.iter().enumerate() {
		let role = m.get("role").and_then(Value::as_str).ok_or_else(|| bad(format!("messages[{i}] has no role")))?;
		let role = match role {
			"system" | "developer" => "system",
			"user" => "user",
			"assistant" => "assistant",
			other => return Err(bad(format!("messages[{i}]: role `{other}` is not supported"))),
		};
		let content = match m.get("content") {
			Some(Value::String(t)) => t.clone(),
			Some(Value::Array(parts)) => parts
				.iter()
				.map(|p| match (p.get("type").and_then(Value::as_str), p.get("text").and_then(Value::as_str)) {
					(Some("text"), Some(t)) => Ok(t.to_string()),
					_ => Err(bad(format!("messages[{i}]: only text content parts are supported"))),
				})
				.collect::<OaiResult<Vec<_>>>()?
				.join(""),
			_ => return Err(bad(format!("messages[{i}] has no text content"))),
		};
		turns.push((role.to_string(), content));
	}
	let prompt = s.base.tokenizer.chat_prompt(&turns);
	run(s, headers, prompt, b.common, true).await
}

/// Runs one request: resolves the model, checks the voucher of a metered adapter, queues the
/// job and answers at once (JSON) or as it goes (SSE).
async fn run(s: Arc<Serving>, headers: HeaderMap, prompt: String, c: Common, chat: bool) -> OaiResult<Response> {
	let (mut sampling, stop) = c.check(if chat { 256 } else { 16 })?;
	let deployment = s.resolve(&c.model)?;
	let ids = s.base.tokenizer.encode(&prompt)?;
	if ids.is_empty() {
		return Err(bad("the prompt is empty"));
	}
	let ctx = s.server.max_seq();
	if ids.len() >= ctx {
		return Err(bad(format!("the prompt is {} tokens; the model's context is {ctx}", ids.len())));
	}
	if ids.len() + sampling.max_tokens > ctx {
		// OpenAI refuses here; lowering to the room left is kinder and just as truthful,
		// because finish_reason says `length`.
		sampling.max_tokens = ctx - ids.len();
	}
	let price = deployment.as_ref().and_then(Serving::price);
	let (request, voucher) = match (&price, &s.meter) {
		(Some(p), Some(m)) => {
			let h = headers.get(mnemo_client::voucher::HEADER).map(|v| v.to_str().unwrap_or("")).map(str::to_string);
			let (m, p, prompt_len, max) = (m.clone(), p.clone(), ids.len(), sampling.max_tokens);
			// Admission may read the payer's channel from the chain: off the async workers.
			let (sv, allowed) = tokio::task::spawn_blocking(move || m.admit(h.as_deref(), &p, prompt_len, max))
				.await
				.map_err(|e| OaiError(StatusCode::INTERNAL_SERVER_ERROR, format!("admission failed: {e}")))??;
			sampling.max_tokens = allowed;
			(sv.voucher.request, Some(sv))
		},
		(Some(_), None) => return Err(OaiError(StatusCode::INTERNAL_SERVER_ERROR, "metered adapter without a meter".into())),
		_ => (rand::random::<RequestId>(), None),
	};
	let transcript: Arc<Mutex<Option<ContentHash>>> = Arc::default();
	let on_finish = match (voucher, &s.meter) {
		(Some(sv), Some(m)) => {
			let (m, slot, prompt, base) = (m.clone(), transcript.clone(), prompt.clone(), s.base.clone());
			let price_per_1k = price.as_ref().map_or(0, |p| p.price_per_1k);
			Some(Box::new(move |o: &Outcome| {
				if o.output_tokens == 0 {
					m.release(&sv.voucher.request);
					return Ok(());
				}
				let t = Transcript { prompt, output: o.text.clone() };
				// Charged by the transcript's tokens: what anyone recounts from it.
				let (input_tokens, output_tokens) = base.tokenizer.transcript_tokens(&t)?;
				let t = serde_json::to_vec(&t).expect("json");
				let h = m.record(&sv, price_per_1k, &t, input_tokens, output_tokens)?;
				*slot.lock().expect("lock") = Some(h);
				Ok(())
			}) as crate::serve::OnFinish)
		},
		_ => None,
	};
	let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
	let job = Job {
		prompt: ids,
		adapter: deployment.as_ref().map(|d| d.adapter),
		sampling,
		stop,
		ignore_eos: c.ignore_eos,
		events: tx,
		on_finish,
	};
	if let Err(e) = s.server.submit(job) {
		if let Some(m) = &s.meter {
			m.release(&request);
		}
		return Err(e.into());
	}
	let meta = Meta {
		id: format!("{}-{}", if chat { "chatcmpl" } else { "cmpl" }, hex::encode(request)),
		request: hex::encode(request),
		model: c.model.clone(),
		created: now(),
		chat,
		metered: price.is_some(),
		adapter: deployment.map(|d| d.adapter.to_hex()),
		transcript,
	};
	let mut response = if c.stream { stream(meta.clone(), rx, c.include_usage()) } else { whole(&meta, rx).await? };
	response.headers_mut().insert("x-mnemo-request-id", HeaderValue::from_str(&meta.request).expect("hex"));
	Ok(response)
}

#[derive(Clone)]
struct Meta {
	id: String,
	request: String,
	model: String,
	created: u64,
	chat: bool,
	metered: bool,
	adapter: Option<String>,
	transcript: Arc<Mutex<Option<ContentHash>>>,
}

impl Meta {
	fn mnemo(&self) -> Value {
		let t = self.transcript.lock().expect("lock").map(|h| h.to_hex());
		json!({"request": self.request, "metered": self.metered, "adapter": self.adapter, "transcript": t})
	}

	fn usage(o: &Outcome) -> Value {
		json!({"prompt_tokens": o.input_tokens, "completion_tokens": o.output_tokens,
			"total_tokens": o.input_tokens + o.output_tokens})
	}

	fn object(&self, chunk: bool) -> &'static str {
		match (self.chat, chunk) {
			(true, false) => "chat.completion",
			(true, true) => "chat.completion.chunk",
			(false, _) => "text_completion",
		}
	}

	/// A streamed chunk carrying `text` (or the role, first) and maybe the finish reason.
	fn chunk(&self, text: Option<&str>, finish: Option<Finish>, role: bool) -> Value {
		let finish = finish.map(Finish::as_str);
		let choice = if self.chat {
			let mut delta = serde_json::Map::new();
			if role {
				delta.insert("role".into(), "assistant".into());
			}
			if let Some(t) = text {
				delta.insert("content".into(), t.into());
			}
			json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish})
		} else {
			json!({"index": 0, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": finish})
		};
		json!({"id": self.id, "object": self.object(true), "created": self.created, "model": self.model, "choices": [choice]})
	}
}

/// The whole answer as one JSON body.
async fn whole(meta: &Meta, mut rx: tokio::sync::mpsc::UnboundedReceiver<Event>) -> OaiResult<Response> {
	loop {
		match rx.recv().await {
			Some(Event::Delta(_)) => {},
			Some(Event::Done(o)) => {
				let choice = if meta.chat {
					json!({"index": 0, "message": {"role": "assistant", "content": o.text}, "logprobs": null,
						"finish_reason": o.finish.as_str()})
				} else {
					json!({"index": 0, "text": o.text, "logprobs": null, "finish_reason": o.finish.as_str()})
				};
				let body = json!({"id": meta.id, "object": meta.object(false), "created": meta.created, "model": meta.model,
					"choices": [choice], "usage": Meta::usage(&o), "mnemo": meta.mnemo()});
				return Ok(Json(body).into_response());
			},
			Some(Event::Failed(e)) => return Err(e.into()),
			None => return Err(OaiError(StatusCode::INTERNAL_SERVER_ERROR, "the serving thread dropped the request".into())),
		}
	}
}

/// The answer as server-sent events.
fn stream(meta: Meta, rx: tokio::sync::mpsc::UnboundedReceiver<Event>, include_usage: bool) -> Response {
	enum St {
		First(tokio::sync::mpsc::UnboundedReceiver<Event>),
		Open(tokio::sync::mpsc::UnboundedReceiver<Event>),
		Closed,
	}
	let data = |v: Value| Ok::<_, std::convert::Infallible>(SseEvent::default().data(v.to_string()));
	let events = futures_util::stream::unfold(St::First(rx), move |st| {
		let meta = meta.clone();
		async move {
			let (mut rx, first) = match st {
				St::First(rx) => (rx, true),
				St::Open(rx) => (rx, false),
				St::Closed => return None,
			};
			if first && meta.chat {
				return Some((vec![data(meta.chunk(Some(""), None, true))], St::Open(rx)));
			}
			match rx.recv().await {
				Some(Event::Delta(t)) => Some((vec![data(meta.chunk(Some(&t), None, false))], St::Open(rx))),
				Some(Event::Done(o)) => {
					let mut last = meta.chunk(None, Some(o.finish), false);
					last["mnemo"] = meta.mnemo();
					let mut out = vec![data(last)];
					if include_usage {
						let mut u = json!({"id": meta.id, "object": meta.object(true), "created": meta.created,
							"model": meta.model, "choices": []});
						u["usage"] = Meta::usage(&o);
						out.push(data(u));
					}
					out.push(Ok(SseEvent::default().data("[DONE]")));
					Some((out, St::Closed))
				},
				Some(Event::Failed(e)) => {
					let s = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
					Some((vec![data(error_json(s, &e.to_string()))], St::Closed))
				},
				None => None,
			}
		}
	})
	.flat_map(futures_util::stream::iter);
	Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// The serving routes (merged into [`crate::api::router`] when serving is on).
pub fn routes(s: Arc<Serving>) -> Router {
	Router::new()
		.route("/v1/models", get(models))
		.route("/v1/models/{id}", get(model))
		.route("/v1/completions", post(completions))
		.route("/v1/chat/completions", post(chat))
		.route("/v1/deployments/{name}", put(deploy).delete(undeploy))
		.route("/v1/channels/{payer}", get(channel))
		.layer(DefaultBodyLimit::max(crate::api::MAX_JSON_BODY))
		.with_state(s)
}

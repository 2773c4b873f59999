//! The engine's HTTP API as the CLI uses it: the blob store (an upload with a progress bar whose
//! echoed hash is checked against ours) and the OpenAI-compatible serving API (streamed).
//! Blocking (ureq): callers run it on a blocking thread ([`blocking`]).

use super::{chain::spinner, CliError, Ui};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::{io::Read, time::Duration};

pub struct Engine {
	pub url: String,
	agent: ureq::Agent,
	stream_agent: ureq::Agent,
}

/// Runs blocking engine I/O off the async runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, CliError> + Send + 'static) -> Result<T, CliError> {
	tokio::task::spawn_blocking(f).await.map_err(|e| CliError::new("Internal", format!("worker failed: {e}")))?
}

/// The engine's error text from an error body: `{"error": "…"}` or OpenAI's `{"error": {"message"}}`.
fn error_text(body: &str) -> String {
	match serde_json::from_str::<Value>(body) {
		Ok(v) => match &v["error"] {
			Value::String(s) => s.clone(),
			Value::Object(o) => o.get("message").and_then(Value::as_str).unwrap_or(body).to_string(),
			_ => body.to_string(),
		},
		Err(_) => body.chars().take(300).collect(),
	}
}

impl Engine {
	pub fn new(url: &str, timeout: Duration) -> Self {
		let agent = ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into();
		let stream_agent = ureq::Agent::config_builder()
			.timeout_connect(Some(timeout))
			.timeout_recv_response(Some(timeout))
			.http_status_as_error(false)
			.build()
			.into();
		Engine { url: url.trim_end_matches('/').to_string(), agent, stream_agent }
	}

	fn unreachable(&self, e: ureq::Error) -> CliError {
		CliError::new("EngineUnreachable", format!("cannot talk to the engine at {}: {e}", self.url))
	}

	fn answer(&self, mut resp: ureq::http::Response<ureq::Body>) -> Result<Value, CliError> {
		let status = resp.status().as_u16();
		let body = resp.body_mut().read_to_string().map_err(|e| self.unreachable(e))?;
		if status >= 400 {
			return Err(CliError::new(format!("Engine{status}"), format!("the engine answered {status}: {}", error_text(&body))));
		}
		serde_json::from_str(&body).map_err(|e| CliError::new("Decode", format!("the engine's answer is not JSON: {e}")))
	}

	/// Sends `body` as JSON with `req` and reads the engine's JSON answer.
	fn send_json(&self, req: ureq::RequestBuilder<ureq::typestate::WithBody>, body: &Value) -> Result<Value, CliError> {
		let resp = req.header("content-type", "application/json").send(body.to_string()).map_err(|e| self.unreachable(e))?;
		self.answer(resp)
	}

	/// Uploads `bytes` under `hash` (`PUT /v1/blobs/{hash}`, the engine refuses a body whose
	/// blake2-256 differs) and checks the hash it echoes. A progress bar for large files.
	pub fn put_blob(&self, bytes: Vec<u8>, hash: [u8; 32], label: &str, ui: Ui) -> Result<(), CliError> {
		let hex = hex::encode(hash);
		let pb = if ui.tty && !ui.json && bytes.len() > 256 * 1024 {
			let pb = ProgressBar::new(bytes.len() as u64);
			pb.set_style(
				ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
					.unwrap_or_else(|_| ProgressStyle::default_bar()),
			);
			pb.set_message(format!("uploading {label}"));
			pb
		} else {
			spinner(ui, format!("uploading {label}"))
		};
		let size = bytes.len();
		let reader = pb.wrap_read(std::io::Cursor::new(bytes));
		let resp = self
			.agent
			.put(format!("{}/v1/blobs/{hex}", self.url))
			.header("content-type", "application/octet-stream")
			.header("content-length", &size.to_string())
			.send(ureq::SendBody::from_owned_reader(reader))
			.map_err(|e| self.unreachable(e))?;
		pb.finish_and_clear();
		let v = self.answer(resp)?;
		let echoed = v["hash"].as_str().unwrap_or_default();
		if echoed != hex {
			return Err(CliError::new(
				"HashMismatch",
				format!("the engine stored {label} under {echoed}, not its blake2-256 {hex}; nothing was signed"),
			));
		}
		if v["size"].as_u64() != Some(size as u64) {
			return Err(CliError::new("SizeMismatch", format!("the engine stored {} bytes of {label}, not {size}", v["size"])));
		}
		Ok(())
	}

	/// `GET /v1/blobs/{hash}`: the bytes stored under `hash`, checked to hash to it.
	pub fn get_blob(&self, hash: &[u8; 32]) -> Result<Vec<u8>, CliError> {
		let hex = hex::encode(hash);
		let mut resp = self.agent.get(format!("{}/v1/blobs/{hex}", self.url)).call().map_err(|e| self.unreachable(e))?;
		let status = resp.status().as_u16();
		if status == 404 {
			return Err(CliError::new("BlobNotFound", format!("the engine at {} holds no blob {hex}", self.url)));
		}
		if status >= 400 {
			let body = resp.body_mut().read_to_string().unwrap_or_default();
			return Err(CliError::new(format!("Engine{status}"), format!("the engine answered {status}: {}", error_text(&body))));
		}
		let mut bytes = Vec::new();
		resp.body_mut().as_reader().read_to_end(&mut bytes).map_err(|e| CliError::new("EngineUnreachable", format!("reading blob {hex}: {e}")))?;
		if polkadot_sdk::sp_crypto_hashing::blake2_256(&bytes) != *hash {
			return Err(CliError::new("HashMismatch", format!("the engine's blob {hex} does not hash to it")));
		}
		Ok(bytes)
	}

	/// `PUT /v1/deployments/{name}`: serve an adapter from the engine's store under `name`.
	pub fn deploy(&self, name: &str, body: Value) -> Result<Value, CliError> {
		self.send_json(self.agent.put(format!("{}/v1/deployments/{name}", self.url)), &body)
	}

	/// `POST /v1/attribution`: the engine's attribution of a receipt's transcript to the
	/// contributions of the adapter's training data (an `AttributionRequest`).
	pub fn attribute(&self, request: &Value) -> Result<Value, CliError> {
		self.send_json(self.agent.post(format!("{}/v1/attribution", self.url)), request)
	}

	/// `GET /v1/models`.
	pub fn models(&self) -> Result<Value, CliError> {
		let resp = self.agent.get(format!("{}/v1/models", self.url)).call().map_err(|e| self.unreachable(e))?;
		self.answer(resp)
	}

	/// `GET /v1/channels/{payer}`: the last voucher the engine accepted from `payer` (`None`:
	/// none yet).
	pub fn channel(&self, payer: &str) -> Result<Option<Value>, CliError> {
		let resp = self.agent.get(format!("{}/v1/channels/{payer}", self.url)).call().map_err(|e| self.unreachable(e))?;
		if resp.status().as_u16() == 404 {
			return Ok(None);
		}
		self.answer(resp).map(Some)
	}

	/// `POST /v1/chat/completions` with `stream: true`: calls `on_delta` with each piece of text
	/// and returns the request id header and the last (usage) chunk.
	pub fn chat_stream(
		&self,
		body: Value,
		voucher: Option<String>,
		mut on_delta: impl FnMut(&str),
	) -> Result<(Option<String>, Value), CliError> {
		let mut req = self.stream_agent.post(format!("{}/v1/chat/completions", self.url)).header("content-type", "application/json");
		if let Some(v) = &voucher {
			req = req.header(crate::voucher::HEADER, v);
		}
		let mut resp = req.send(body.to_string().as_bytes()).map_err(|e| self.unreachable(e))?;
		if resp.status().as_u16() >= 400 {
			return self.answer(resp).map(|_| (None, Value::Null));
		}
		let request_id = resp.headers().get("x-mnemo-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
		let mut reader = resp.body_mut().as_reader();
		let (mut buf, mut pending, mut last) = ([0u8; 4096], Vec::new(), Value::Null);
		loop {
			let n = reader.read(&mut buf).map_err(|e| CliError::new("EngineUnreachable", format!("the stream broke: {e}")))?;
			if n == 0 {
				break;
			}
			pending.extend_from_slice(&buf[..n]);
			while let Some(pos) = pending.windows(2).position(|w| w == b"\n\n") {
				let event: Vec<u8> = pending.drain(..pos + 2).collect();
				let text = String::from_utf8_lossy(&event);
				let Some(data) = text.trim().strip_prefix("data:").map(str::trim) else { continue };
				if data == "[DONE]" {
					return Ok((request_id, last));
				}
				let chunk: Value = serde_json::from_str(data)
					.map_err(|e| CliError::new("Decode", format!("a streamed chunk is not JSON: {e}")))?;
				if let Some(err) = chunk.get("error") {
					return Err(CliError::new("EngineError", error_text(&serde_json::json!({"error": err}).to_string())));
				}
				if let Some(delta) = chunk["choices"][0]["delta"]["content"].as_str() {
					on_delta(delta);
				}
				last = chunk;
			}
		}
		Err(CliError::new("EngineUnreachable", "the stream ended before [DONE]"))
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn engine_errors_are_read_in_both_shapes() {
		assert_eq!(error_text(r#"{"error": "blob not found"}"#), "blob not found");
		assert_eq!(error_text(r#"{"error": {"message": "unknown model", "type": "x"}}"#), "unknown model");
		assert_eq!(error_text("plain"), "plain");
	}

	#[test]
	fn an_engine_that_is_not_there_is_one_clear_error() {
		let port = crate::dev::free_port();
		let e = Engine::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
		let err = e.models().unwrap_err();
		assert_eq!(err.name, "EngineUnreachable");
		assert!(err.message.contains(&format!("127.0.0.1:{port}")), "{err}");
	}
}

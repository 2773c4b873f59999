//! Bodies of the engine's HTTP API, shared by the engine (server), the chain's offchain workers
//! and clients, so the two sides cannot drift apart.
//!
//! JSON on the wire. Fractions travel as numbers in `[0, 1]`; the runtime turns them into
//! `Perbill` with [`fraction_to_perbill`] before anything reaches chain state (no floats there).

use crate::{AdapterId, ContentHash, ContributionId, DatanetId, DatanetVersion, ModelId, ReceiptId};
use alloc::{string::String, vec::Vec};
use polkadot_sdk::sp_runtime::{FixedPointNumber, FixedU128, Perbill};

/// `POST /v1/datanets/{datanet}/validate`: check one pending contribution before curators do.
///
/// The engine fetches the blob named by `content_hash` from its store, checks it against the
/// datanet's schema for its kind, and compares it with the datanet's approved data.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValidateRequest {
	/// The datanet (also in the path).
	pub datanet: DatanetId,
	/// The contribution being validated.
	pub contribution: ContributionId,
	/// Its content hash: the blob to validate.
	pub content_hash: ContentHash,
	/// Size the contributor declared, in bytes; the engine checks it against the blob.
	pub byte_len: u64,
	/// Rows the contributor declared.
	pub row_count: u32,
	/// `text`, `image` or `audio`: the datanet's kind, which decides the schema.
	pub kind: String,
}

/// The engine's answer to a [`ValidateRequest`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValidateResponse {
	/// The blob exists, matches the declared size and rows, and parses for the datanet's kind.
	pub schema_ok: bool,
	/// The blob is byte-for-byte (after normalisation) already in the datanet's approved data.
	pub exact_duplicate: bool,
	/// Highest similarity to any approved contribution, in `[0, 1]`.
	pub near_duplicate: f64,
	/// Quality score in `[0, 1]` (higher is better).
	pub quality: f64,
	/// A short human-readable reason, shown to curators.
	#[serde(default)]
	pub detail: Option<String>,
}

/// One contribution of a datanet version, as the engine fetches it: by content hash.
#[derive(
	Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, codec::Encode, codec::Decode, scale_info::TypeInfo,
)]
pub struct DataRef {
	pub contribution: ContributionId,
	pub content_hash: ContentHash,
}

/// A pinned datanet version and every contribution in it (what its merkle root covers).
#[derive(
	Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, codec::Encode, codec::Decode, scale_info::TypeInfo,
)]
pub struct DatanetData {
	pub datanet: DatanetId,
	pub version: DatanetVersion,
	pub contributions: Vec<DataRef>,
}

/// LoRA hyper-parameters of a training job, as the model's proposal pinned them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraSpec {
	pub rank: u32,
	pub alpha: u32,
	/// Module names in PEFT's spelling: `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`,
	/// `up_proj`, `down_proj`.
	pub targets: Vec<String>,
	pub epochs: u32,
	pub learning_rate: f64,
	pub seed: u64,
}

/// How the held-out split is evaluated.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalSettings {
	/// Fraction of each contribution's chunks held out for evaluation, in `(0, 1)`.
	pub holdout: f64,
	/// Most tokens evaluated per datanet (0 = all of the held-out split).
	pub max_eval_tokens: u32,
}

/// `POST /v1/train`: train a LoRA adapter for an on-chain training job.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainRequest {
	/// The chain's job: the model id.
	pub job: ModelId,
	/// Which attempt at the job this is (a timed-out job is re-assigned with the next attempt).
	pub attempt: u32,
	/// Base model identifier, e.g. `smollm2-135m`.
	pub base_model: String,
	pub datanets: Vec<DatanetData>,
	pub lora: LoraSpec,
	pub eval: EvalSettings,
}

/// The engine's answer to a [`TrainRequest`]: the id to poll with `GET /v1/train/{id}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainAccepted {
	pub id: String,
}

/// Where a training job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainState {
	Queued,
	Running,
	Done,
	Failed,
}

/// `GET /v1/train/{id}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainStatus {
	pub id: String,
	pub state: TrainState,
	/// Fraction done, in `[0, 1]`.
	#[serde(default)]
	pub progress: f64,
	/// When `done`: the adapter's content hash in the engine's blob store.
	#[serde(default)]
	pub adapter_hash: Option<ContentHash>,
	/// When `done`: the held-out evaluation.
	#[serde(default)]
	pub metrics: Option<EvalMetrics>,
	/// When `failed`: why.
	#[serde(default)]
	pub error: Option<String>,
}

/// Mean token loss (nats) and perplexity on a held-out split.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossPpl {
	pub loss: f64,
	pub perplexity: f64,
}

/// Base model versus adapter on one datanet version's held-out split.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatanetEval {
	pub datanet: DatanetId,
	pub version: DatanetVersion,
	/// Tokens evaluated.
	pub eval_tokens: u64,
	pub base: LossPpl,
	pub adapter: LossPpl,
}

/// An adapter's evaluation, per training datanet.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalMetrics {
	pub per_datanet: Vec<DatanetEval>,
}

/// `POST /v1/eval`: evaluate an adapter (fetched by hash) against its base model on the pinned
/// held-out split. Answered with [`EvalMetrics`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalRequest {
	pub base_model: String,
	pub adapter_hash: ContentHash,
	pub datanets: Vec<DatanetData>,
	pub lora: LoraSpec,
	pub eval: EvalSettings,
}

/// `POST /v1/attribution`: which training contributions made the output of one inference.
///
/// An attestor's offchain worker sends it for a receipt it is assigned to. The engine fetches
/// the adapter (`adapter_hash`) and the transcript (`transcript`, prompt and output as the
/// serving operator stored them) from its blob store, and the training data by content hash.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AttributionRequest {
	/// The receipt being attributed (for the engine's logs and caches).
	pub receipt: ReceiptId,
	/// The adapter that served the inference.
	pub adapter: AdapterId,
	/// Content hash of the adapter's weights.
	pub adapter_hash: ContentHash,
	/// The datanet versions the adapter was trained on, with every contribution in them.
	pub datanets: Vec<DatanetData>,
	/// Content hash of the transcript (prompt and output).
	pub transcript: ContentHash,
	/// Most contributions to return.
	pub top_k: u32,
}

/// What the serving layer stores in the blob store for each inference, and what
/// [`AttributionRequest::transcript`] names by content hash: JSON `{"prompt": …, "output": …}`,
/// the prompt as the model saw it (a chat rendered through the model's template) and the text it
/// produced.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Transcript {
	pub prompt: String,
	pub output: String,
}

/// One contribution's influence on an output.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContributionScore {
	pub contribution: ContributionId,
	/// Non-negative; the scores of one answer sum to at most 1.
	pub score: f64,
}

/// The engine's answer to an [`AttributionRequest`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AttributionResponse {
	/// At most `top_k` contributions, highest score first.
	pub contributions: Vec<ContributionScore>,
	/// What the scores leave unassigned: `1 - sum(scores)`.
	pub residual: f64,
	/// The method (`datainf`, `tracin`, `spans`, or a combination).
	pub method: String,
	/// The method's version: attestors on different versions disagree on the digest.
	pub method_version: u32,
	/// Digest of every input (adapter hash, datanet versions, transcript hash, method and its
	/// parameters): attestors that computed the same thing report the same digest.
	pub digest: ContentHash,
	/// The transcript's tokens, prompt and output, counted as the serving engine counts them for
	/// the fee ([`Transcript`]'s prompt and output each encoded alone).
	pub tokens: u32,
}

/// Scores as a report carries them: ascending by contribution, none zero, summing to at most
/// 100%.
pub fn well_formed(scores: &[(ContributionId, Perbill)]) -> bool {
	let ascending = scores.windows(2).all(|w| w[0].0 < w[1].0);
	let positive = scores.iter().all(|(_, s)| !s.is_zero());
	let sum: u64 = scores.iter().map(|(_, s)| u64::from(s.deconstruct())).sum();
	ascending && positive && sum <= u64::from(Perbill::one().deconstruct())
}

impl AttributionResponse {
	/// The answer as a report's scores, the same for an attestor and an operator: rounded to
	/// `Perbill`, zeros dropped, the `k` highest kept, ascending by contribution, and trimmed
	/// (from the highest) if rounding took the sum above 100%. `None` for a malformed answer (a
	/// score outside `[0, 1]`, a contribution twice).
	pub fn scores(&self, k: usize) -> Option<Vec<(ContributionId, Perbill)>> {
		let mut scores = Vec::with_capacity(self.contributions.len());
		for c in &self.contributions {
			let p = fraction_to_perbill(c.score)?;
			if !p.is_zero() {
				scores.push((c.contribution, p));
			}
		}
		scores.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
		scores.truncate(k);
		let sum: u64 = scores.iter().map(|(_, p)| u64::from(p.deconstruct())).sum();
		let excess = sum.saturating_sub(u64::from(Perbill::one().deconstruct()));
		if excess > 0 {
			let top = scores.first_mut()?;
			top.1 = Perbill::from_parts(top.1.deconstruct().saturating_sub(excess as u32));
		}
		scores.sort_by_key(|(c, _)| *c);
		well_formed(&scores).then_some(scores)
	}
}

/// The error body of every 4xx/5xx answer of the engine.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
	/// What went wrong, for a person.
	pub error: String,
}

/// Longest engine URL accepted, in bytes.
pub const MAX_ENGINE_URL_LEN: usize = 2048;

/// Why a string is not an engine URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadEngineUrl {
	/// Longer than [`MAX_ENGINE_URL_LEN`].
	TooLong,
	/// Does not start with `http://` or `https://`.
	NotHttp,
	/// Nothing between the scheme and the path.
	NoHost,
	/// Contains whitespace or control characters.
	Whitespace,
}

/// The one rule for engine URLs: `http(s)://host[:port][/path]`, no whitespace, bounded. The
/// node applies it when the operator sets the URL; the workers again when they read it (it can
/// also be written with `offchain_localStorageSet`).
pub fn check_engine_url(url: &str) -> Result<(), BadEngineUrl> {
	if url.len() > MAX_ENGINE_URL_LEN {
		return Err(BadEngineUrl::TooLong);
	}
	let rest = url
		.strip_prefix("http://")
		.or_else(|| url.strip_prefix("https://"))
		.ok_or(BadEngineUrl::NotHttp)?;
	if rest.split(['/', '?', '#']).next().unwrap_or_default().is_empty() {
		return Err(BadEngineUrl::NoHost);
	}
	if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
		return Err(BadEngineUrl::Whitespace);
	}
	Ok(())
}

/// A fraction in `[0, 1]` from JSON as `Perbill`, rounded to the nearest part per billion.
/// `None` for NaN, infinities and values outside `[0, 1]`: a worker must not report them.
pub fn fraction_to_perbill(x: f64) -> Option<Perbill> {
	if !x.is_finite() || !(0.0..=1.0).contains(&x) {
		return None;
	}
	let parts = x * 1_000_000_000.0 + 0.5;
	// `parts` is within [0.5, 1e9 + 0.5]: the cast cannot wrap.
	Some(Perbill::from_parts((parts as u32).min(1_000_000_000)))
}

/// Largest value [`to_fixed`] accepts: a loss or perplexity above it is not a measurement.
pub const MAX_METRIC: f64 = 1e12;

/// A non-negative metric from JSON as `FixedU128` (18 decimals), rounded to the nearest unit.
/// `None` for NaN, infinities, negatives and values above [`MAX_METRIC`].
pub fn to_fixed(x: f64) -> Option<FixedU128> {
	if !x.is_finite() || !(0.0..=MAX_METRIC).contains(&x) {
		return None;
	}
	let whole = x as u128; // x is in [0, 1e12]: exact truncation.
	let frac = ((x - whole as f64) * 1e18 + 0.5) as u128;
	Some(FixedU128::from_inner(whole.saturating_mul(FixedU128::DIV).saturating_add(frac)))
}

/// A `Perbill` as `f64`.
pub fn perbill_to_fraction(p: Perbill) -> f64 {
	p.deconstruct() as f64 / 1e9
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn validate_bodies_round_trip_as_json_with_hex_hashes() {
		let req = ValidateRequest {
			datanet: 3,
			contribution: 7,
			content_hash: ContentHash::of(b"row"),
			byte_len: 3,
			row_count: 1,
			kind: "text".into(),
		};
		let json = serde_json::to_string(&req).unwrap();
		assert!(json.contains(&format!("\"content_hash\":\"{}\"", req.content_hash.to_hex())));
		assert_eq!(serde_json::from_str::<ValidateRequest>(&json).unwrap(), req);

		let resp: ValidateResponse = serde_json::from_str(
			r#"{"schema_ok":true,"exact_duplicate":false,"near_duplicate":0.25,"quality":0.9}"#,
		)
		.unwrap();
		assert_eq!(resp.detail, None);
		assert_eq!(resp.near_duplicate, 0.25);
	}

	#[test]
	fn bad_hashes_are_refused_in_json() {
		let err = serde_json::from_str::<ContentHash>("\"abc\"").unwrap_err();
		assert!(err.to_string().contains("64 hex digits"), "{err}");
		assert!(serde_json::from_str::<ContentHash>("[1,2]").is_err());
	}

	#[test]
	fn engine_urls_follow_one_rule() {
		assert_eq!(check_engine_url("http://127.0.0.1:8844"), Ok(()));
		assert_eq!(check_engine_url("https://engine.example.org/mnemo"), Ok(()));
		assert_eq!(check_engine_url("ftp://x"), Err(BadEngineUrl::NotHttp));
		assert_eq!(check_engine_url("127.0.0.1:8844"), Err(BadEngineUrl::NotHttp));
		assert_eq!(check_engine_url("http://"), Err(BadEngineUrl::NoHost));
		assert_eq!(check_engine_url("http:///path"), Err(BadEngineUrl::NoHost));
		assert_eq!(check_engine_url("http://a b"), Err(BadEngineUrl::Whitespace));
		assert_eq!(check_engine_url("http://a\u{7}"), Err(BadEngineUrl::Whitespace));
		let long = format!("http://{}", "a".repeat(MAX_ENGINE_URL_LEN));
		assert_eq!(check_engine_url(&long), Err(BadEngineUrl::TooLong));
	}

	#[test]
	fn metrics_become_fixed_point_or_are_refused() {
		assert_eq!(to_fixed(0.0), Some(FixedU128::from_inner(0)));
		assert_eq!(to_fixed(2.5), Some(FixedU128::from_rational(5, 2)));
		assert_eq!(to_fixed(3.25), Some(FixedU128::from_rational(13, 4)));
		let x = 17.123_456_789;
		let back = to_fixed(x).unwrap().into_inner() as f64 / 1e18;
		assert!((back - x).abs() < 1e-12);
		assert_eq!(to_fixed(-1.0), None);
		assert_eq!(to_fixed(f64::NAN), None);
		assert_eq!(to_fixed(1e13), None);
		assert_eq!(perbill_to_fraction(Perbill::from_percent(10)), 0.1);
	}

	#[test]
	fn train_status_parses_what_the_engine_sends() {
		let done: TrainStatus = serde_json::from_str(&format!(
			r#"{{"id":"j1","state":"done","progress":1.0,"adapter_hash":"{}","metrics":{{"per_datanet":[{{"datanet":0,"version":1,"eval_tokens":512,"base":{{"loss":3.0,"perplexity":20.08}},"adapter":{{"loss":2.5,"perplexity":12.18}}}}]}}}}"#,
			ContentHash::of(b"adapter").to_hex()
		))
		.unwrap();
		assert_eq!(done.state, TrainState::Done);
		assert_eq!(done.metrics.unwrap().per_datanet[0].adapter.loss, 2.5);
		let running: TrainStatus = serde_json::from_str(r#"{"id":"j1","state":"running"}"#).unwrap();
		assert_eq!((running.state, running.adapter_hash, running.error), (TrainState::Running, None, None));
		assert!(serde_json::from_str::<TrainStatus>(r#"{"id":"j1","state":"exploded"}"#).is_err());
	}

	#[test]
	fn fractions_become_perbill_or_are_refused() {
		assert_eq!(fraction_to_perbill(0.0), Some(Perbill::zero()));
		assert_eq!(fraction_to_perbill(1.0), Some(Perbill::one()));
		assert_eq!(fraction_to_perbill(0.25), Some(Perbill::from_percent(25)));
		assert_eq!(fraction_to_perbill(1e-10), Some(Perbill::zero()));
		assert_eq!(fraction_to_perbill(f64::NAN), None);
		assert_eq!(fraction_to_perbill(f64::INFINITY), None);
		assert_eq!(fraction_to_perbill(-0.1), None);
		assert_eq!(fraction_to_perbill(1.0001), None);
	}
}

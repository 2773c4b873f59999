//! Bodies of the engine's HTTP API, shared by the engine (server), the chain's offchain workers
//! and clients, so the two sides cannot drift apart.
//!
//! JSON on the wire. Fractions travel as numbers in `[0, 1]`; the runtime turns them into
//! `Perbill` with [`fraction_to_perbill`] before anything reaches chain state (no floats there).

use crate::{ContentHash, ContributionId, DatanetId};
use alloc::string::String;
use polkadot_sdk::sp_runtime::Perbill;

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

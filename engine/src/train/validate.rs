//! Validation of a pending contribution before curators see it: schema, exact and near
//! duplicates of the datanet's approved contributions, and a quality score.
//!
//! - **Schema.** The blob exists, has the declared size, parses as text or JSONL rows
//!   ([`crate::train::data::parse_rows`]) and has the declared row count (JSONL: one row per non-empty
//!   line; plain text: one row per non-empty line). Only `text` datanets are checked by content.
//! - **Duplicates.** With the engine's one MinHash, attribution's
//!   ([`crate::attribution::dedup`]): text normalised (lower case, letters and digits, single
//!   spaces). Exact: equal normalised text. Near: the Jaccard similarity of word 3-gram shingle
//!   sets, estimated with 128 hash functions (error about ±0.09 at worst, less near 0 and 1).
//! - **Quality** in [0, 1]: the product of the share of letters and spaces among characters, the
//!   share of distinct shingles (1 for text that never repeats itself), and a penalty for
//!   implausible mean word lengths (below 2 or above 12 letters).

use crate::train::data::parse_rows;

use crate::attribution::dedup::{normalise, shingles, Signature};

/// Quality score of a text in [0, 1] (see the module docs).
pub fn quality(text: &str) -> f64 {
	let chars = text.chars().count().max(1) as f64;
	let letters = text.chars().filter(|c| c.is_alphabetic() || *c == ' ' || *c == '\n').count() as f64;
	// Text with no words has no shingles, so no novelty (`shingles` gives a blank text one, so
	// that two blank texts still compare as equal).
	let sh = if text.split_whitespace().next().is_some() { shingles(text) } else { Vec::new() };
	let mut distinct = sh.clone();
	distinct.sort();
	distinct.dedup();
	let novelty = if sh.is_empty() { 0.0 } else { distinct.len() as f64 / sh.len() as f64 };
	let words: Vec<&str> = text.split_whitespace().collect();
	let mean_len = words.iter().map(|w| w.chars().count()).sum::<usize>() as f64 / words.len().max(1) as f64;
	let shape = if (2.0..=12.0).contains(&mean_len) { 1.0 } else { 0.3 };
	(letters / chars * novelty * shape).clamp(0.0, 1.0)
}

/// The outcome of validating one blob.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
	pub schema_ok: bool,
	pub exact_duplicate: bool,
	pub near_duplicate: f64,
	pub quality: f64,
	pub detail: Option<String>,
}

/// Validates `bytes` (declared `byte_len` and `rows`) of a datanet of `kind` against the
/// approved contributions' bytes.
pub fn validate(kind: &str, bytes: &[u8], byte_len: u64, rows: u32, approved: &[Vec<u8>]) -> Verdict {
	let fail = |detail: String| Verdict { schema_ok: false, exact_duplicate: false, near_duplicate: 0.0, quality: 0.0, detail: Some(detail) };
	if bytes.len() as u64 != byte_len {
		return fail(format!("the blob is {} bytes; {byte_len} were declared", bytes.len()));
	}
	if kind != "text" {
		return fail(format!("this engine validates text datanets; `{kind}` is not checked"));
	}
	let parsed = match parse_rows(bytes) {
		Ok(r) => r,
		Err(e) => return fail(e),
	};
	let text = std::str::from_utf8(bytes).expect("parse_rows checked UTF-8");
	let counted = if text.trim_start().starts_with('{') { parsed.len() } else { text.lines().filter(|l| !l.trim().is_empty()).count() };
	if counted != rows as usize {
		return fail(format!("{counted} rows found; {rows} were declared"));
	}
	let norm = normalise(text);
	let sig = Signature::of(text);
	let mut exact = false;
	let mut near = 0f64;
	for other in approved {
		let Ok(o) = std::str::from_utf8(other) else { continue };
		exact |= normalise(o) == norm;
		near = near.max(Signature::of(o).similarity(&sig));
	}
	if exact {
		near = 1.0;
	}
	let q = quality(text);
	let detail = match (exact, near) {
		(true, _) => Some("the same text (up to case and spacing) is already approved".to_string()),
		(false, n) if n >= 0.5 => Some(format!("about {:.0}% of its 5-word phrases are in an approved contribution", n * 100.0)),
		_ if q < 0.5 => Some(format!("low quality score {q:.2}: little prose, or much repetition")),
		_ => None,
	};
	Verdict { schema_ok: true, exact_duplicate: exact, near_duplicate: near, quality: q, detail }
}

#[cfg(test)]
mod tests {
	use super::*;

	const PROSE: &str = "Now is the winter of our discontent made glorious summer by this sun of York, and all the clouds that lowered upon our house in the deep bosom of the ocean buried.";

	#[test]
	fn exact_and_near_duplicates_are_found() {
		let approved = vec![PROSE.as_bytes().to_vec()];
		let v = validate("text", PROSE.to_uppercase().as_bytes(), PROSE.len() as u64, 1, &approved);
		assert!(v.schema_ok && v.exact_duplicate && v.near_duplicate == 1.0);

		let edited = PROSE.replace("glorious", "splendid");
		let v = validate("text", edited.as_bytes(), edited.len() as u64, 1, &approved);
		assert!(!v.exact_duplicate);
		assert!(v.near_duplicate > 0.5 && v.near_duplicate < 1.0, "{}", v.near_duplicate);

		let other = "A completely different sentence about ships, tides, harbours and the weather at sea today.";
		let v = validate("text", other.as_bytes(), other.len() as u64, 1, &approved);
		assert!(v.near_duplicate < 0.1, "{}", v.near_duplicate);
		assert!(v.quality > 0.8, "{}", v.quality);
	}

	#[test]
	fn schema_failures_and_garbage_are_reported() {
		let v = validate("text", b"abc", 4, 1, &[]);
		assert!(!v.schema_ok && v.detail.unwrap().contains("declared"));
		let v = validate("text", b"a\nb\n", 4, 3, &[]);
		assert!(!v.schema_ok && v.detail.unwrap().contains("2 rows found"));
		let v = validate("image", b"abc", 3, 1, &[]);
		assert!(!v.schema_ok);
		let v = validate("text", b"{\"txt\": 1}", 10, 1, &[]);
		assert!(!v.schema_ok && v.detail.unwrap().contains("line 1"));
		let garbage = "#$%@ 1234 !!!! ".repeat(20);
		let v = validate("text", garbage.as_bytes(), garbage.len() as u64, 1, &[]);
		assert!(v.schema_ok && v.quality < 0.2, "{}", v.quality);
	}
}

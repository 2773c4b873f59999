//! Training data: contributions (one file or blob each), parsed into rows, tokenised into
//! chunks that remember their contribution, and split into train and held-out chunks.
//!
//! - **Rows.** UTF-8 text, or JSONL where every non-empty line is `{"text": …}` or
//!   `{"prompt": …, "completion": …}` (a file whose first non-blank character is `{` is JSONL
//!   and must parse as such).
//! - **Chunks.** Text rows are tokenised, each followed by `<|endoftext|>`, and the stream cut
//!   into windows of `chunk_len` predicted tokens. A prompt/completion row is one chunk of its
//!   own, truncated to `chunk_len`, with the loss on the completion only (prompt masking).
//! - **Split.** Within each contribution, chunks are ordered by the blake2-256 of (contribution
//!   hash, chunk index, chunk tokens); the first `round(holdout · n)` (at least one, and at most
//!   `n - 1`) are held out. A contribution of one chunk is cut in two so it still gives one
//!   held-out and one training chunk. The split depends on the content alone.

use crate::{
	error::{Error, Result},
	model::tokenizer::Tokenizer,
};
use mnemo_primitives::{ContentHash, DatanetId, DatanetVersion};

/// One row of a contribution.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
	Text(String),
	Pair { prompt: String, completion: String },
}

/// A contribution: its bytes' hash, where it comes from, and its rows.
#[derive(Clone, Debug)]
pub struct Contribution {
	/// A label for people: the file name or the on-chain contribution id.
	pub label: String,
	pub hash: ContentHash,
	/// The datanet version it belongs to, when it came from the chain.
	pub datanet: Option<(DatanetId, DatanetVersion)>,
	pub rows: Vec<Row>,
}

impl Contribution {
	/// Parses a contribution's bytes.
	pub fn parse(label: &str, bytes: &[u8], datanet: Option<(DatanetId, DatanetVersion)>) -> Result<Self> {
		Ok(Contribution { label: label.to_string(), hash: ContentHash::of(bytes), datanet, rows: parse_rows(bytes).map_err(|e| Error::bad(format!("{label}: {e}")))? })
	}
}

/// Rows of a text or JSONL file; an error names the line at fault.
pub fn parse_rows(bytes: &[u8]) -> Result<Vec<Row>, String> {
	let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text ({e})"))?;
	if text.trim().is_empty() {
		return Err("no text".into());
	}
	if !text.trim_start().starts_with('{') {
		return Ok(vec![Row::Text(text.to_string())]);
	}
	let mut rows = Vec::new();
	for (n, line) in text.lines().enumerate() {
		if line.trim().is_empty() {
			continue;
		}
		let v: serde_json::Value =
			serde_json::from_str(line).map_err(|e| format!("line {}: not JSON ({e})", n + 1))?;
		let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
		let row = match (field("text"), field("prompt"), field("completion")) {
			(Some(t), None, None) => Row::Text(t),
			(None, Some(prompt), Some(completion)) => Row::Pair { prompt, completion },
			_ => return Err(format!("line {}: expected {{\"text\"}} or {{\"prompt\", \"completion\"}} strings", n + 1)),
		};
		rows.push(row);
	}
	Ok(rows)
}

/// A training or evaluation example: `tokens` (inputs are all but the last, targets all but the
/// first) and which targets count towards the loss.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
	/// Index of its contribution in the list given to [`split`].
	pub contribution: usize,
	pub tokens: Vec<u32>,
	/// `mask[j]` says whether predicting `tokens[j + 1]` counts.
	pub mask: Vec<bool>,
	/// The split key: blake2-256 of (contribution hash, index, tokens).
	pub key: [u8; 32],
}

impl Chunk {
	pub fn targets(&self) -> usize {
		self.mask.iter().filter(|m| **m).count()
	}
}

/// How data becomes chunks.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataSettings {
	/// Predicted tokens per chunk.
	pub chunk_len: usize,
	/// Fraction of each contribution's chunks held out, in (0, 1).
	pub holdout: f64,
	/// Most held-out target tokens evaluated per datanet (0 = all).
	pub max_eval_tokens: usize,
}

impl Default for DataSettings {
	fn default() -> Self {
		DataSettings { chunk_len: 128, holdout: 0.1, max_eval_tokens: 0 }
	}
}

impl DataSettings {
	pub fn check(&self) -> Result<()> {
		if !(2..=4096).contains(&self.chunk_len) {
			return Err(Error::bad(format!("chunk length {} is out of range 2..=4096", self.chunk_len)));
		}
		if !(self.holdout > 0.0 && self.holdout < 1.0) {
			return Err(Error::bad(format!("holdout {} must be strictly between 0 and 1", self.holdout)));
		}
		Ok(())
	}
}

/// The chunks of every contribution, split.
#[derive(Clone, Debug, Default)]
pub struct Split {
	pub train: Vec<Chunk>,
	pub eval: Vec<Chunk>,
}

fn key(hash: &ContentHash, index: usize, tokens: &[u32]) -> [u8; 32] {
	let mut bytes = hash.0.to_vec();
	bytes.extend_from_slice(&(index as u64).to_le_bytes());
	tokens.iter().for_each(|t| bytes.extend_from_slice(&t.to_le_bytes()));
	ContentHash::of(&bytes).0
}

/// Tokenises and chunks one contribution (before the split).
pub fn chunks(c: &Contribution, index: usize, tok: &Tokenizer, chunk_len: usize) -> Result<Vec<Chunk>> {
	let mut out = Vec::new();
	let mut stream: Vec<u32> = Vec::new();
	let push = |tokens: Vec<u32>, mask: Vec<bool>, out: &mut Vec<Chunk>| {
		let i = out.len();
		out.push(Chunk { contribution: index, key: key(&c.hash, i, &tokens), tokens, mask });
	};
	for row in &c.rows {
		match row {
			Row::Text(t) => {
				stream.extend(tok.encode(t)?);
				stream.push(tok.eos);
			},
			Row::Pair { prompt, completion } => {
				let p = tok.encode(prompt)?;
				let mut tokens = p.clone();
				tokens.extend(tok.encode(completion)?);
				tokens.push(tok.eos);
				tokens.truncate(chunk_len + 1);
				let mask = (1..tokens.len()).map(|j| j >= p.len()).collect();
				if tokens.len() >= 2 {
					push(tokens, mask, &mut out);
				}
			},
		}
	}
	let mut start = 0;
	while start + 1 < stream.len() {
		let end = (start + chunk_len + 1).min(stream.len());
		let tokens = stream[start..end].to_vec();
		push(tokens.clone(), vec![true; tokens.len() - 1], &mut out);
		start += chunk_len;
	}
	Ok(out)
}

/// Chunks every contribution and splits each one's chunks into train and held-out.
pub fn split(contributions: &[Contribution], tok: &Tokenizer, s: &DataSettings) -> Result<Split> {
	s.check()?;
	let mut out = Split::default();
	for (i, c) in contributions.iter().enumerate() {
		let mut cs = chunks(c, i, tok, s.chunk_len)?;
		if cs.len() == 1 && cs[0].tokens.len() >= 4 {
			// One chunk: cut it in two so this contribution is both trained on and evaluated.
			let only = cs.remove(0);
			let mid = only.tokens.len() / 2;
			for (j, (tokens, mask)) in [
				(only.tokens[..=mid].to_vec(), only.mask[..mid].to_vec()),
				(only.tokens[mid..].to_vec(), only.mask[mid..].to_vec()),
			]
			.into_iter()
			.enumerate()
			{
				cs.push(Chunk { contribution: i, key: key(&c.hash, j, &tokens), tokens, mask });
			}
		}
		if cs.len() < 2 {
			tracing::warn!(contribution = %c.label, "too short to hold out a chunk; used for training only");
			out.train.extend(cs);
			continue;
		}
		cs.sort_by(|a, b| a.key.cmp(&b.key));
		let held = ((s.holdout * cs.len() as f64).round() as usize).clamp(1, cs.len() - 1);
		let train = cs.split_off(held);
		out.eval.extend(cs);
		out.train.extend(train);
	}
	if out.train.is_empty() {
		return Err(Error::bad("the data gives no training chunks"));
	}
	Ok(out)
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::model::tokenizer::byte_vocabulary;

	fn tok() -> Tokenizer {
		let (t, m, ty) = byte_vocabulary();
		Tokenizer::build(&t, &m, &ty, true, 0).unwrap()
	}

	#[test]
	fn rows_parse_from_text_and_jsonl_and_bad_rows_name_their_line() {
		assert_eq!(parse_rows(b"Hello\nworld").unwrap(), vec![Row::Text("Hello\nworld".into())]);
		let rows = parse_rows(b"{\"text\": \"a\"}\n\n{\"prompt\": \"p\", \"completion\": \"c\"}\n").unwrap();
		assert_eq!(rows, vec![Row::Text("a".into()), Row::Pair { prompt: "p".into(), completion: "c".into() }]);
		assert!(parse_rows(b"{\"text\": \"a\"}\n{\"txt\": 1}").unwrap_err().contains("line 2"));
		assert!(parse_rows(b"{\"text\": \"a\"}\n{oops").unwrap_err().contains("line 2: not JSON"));
		assert!(parse_rows(b"\xff\xfe").unwrap_err().contains("UTF-8"));
		assert!(parse_rows(b"  \n").unwrap_err().contains("no text"));
	}

	#[test]
	fn prompt_tokens_are_masked_and_text_is_chunked_with_one_token_overlap() {
		let t = tok();
		let c = Contribution::parse("p", b"{\"prompt\": \"ab\", \"completion\": \"cd\"}", None).unwrap();
		let cs = chunks(&c, 0, &t, 16).unwrap();
		assert_eq!(cs.len(), 1);
		assert_eq!(cs[0].tokens.len(), 5, "a b c d eos");
		assert_eq!(cs[0].mask, vec![false, true, true, true], "b is prompt; c, d, eos are predicted");

		let c = Contribution::parse("t", &[b'x'; 20], None).unwrap();
		let cs = chunks(&c, 3, &t, 8).unwrap();
		assert_eq!(cs.iter().map(|c| c.targets()).sum::<usize>(), 20, "20 bytes + eos = 21 tokens, 20 targets");
		assert_eq!(cs[0].tokens.len(), 9);
		assert!(cs.iter().all(|c| c.contribution == 3));
	}

	#[test]
	fn split_is_by_content_with_each_contribution_in_both_parts() {
		let t = tok();
		let text: Vec<u8> = (0..600).map(|i| b'a' + (i * 7 % 26) as u8).collect();
		let cs = vec![
			Contribution::parse("big", &text, Some((1, 1))).unwrap(),
			Contribution::parse("tiny", b"one short line", Some((1, 1))).unwrap(),
		];
		let s = DataSettings { chunk_len: 32, holdout: 0.2, max_eval_tokens: 0 };
		let a = split(&cs, &t, &s).unwrap();
		for i in 0..2 {
			assert!(a.train.iter().any(|c| c.contribution == i), "contribution {i} trains");
			assert!(a.eval.iter().any(|c| c.contribution == i), "contribution {i} is held out");
		}
		assert_eq!(a.eval.iter().filter(|c| c.contribution == 0).count(), 4, "19 chunks · 0.2 ≈ 4");
		// The same content in another order, under other labels, splits the same way.
		let mut rev = cs.clone();
		rev.reverse();
		rev[0].label = "renamed".into();
		let b = split(&rev, &t, &s).unwrap();
		let keys = |s: &Split| {
			let mut k: Vec<_> = s.eval.iter().map(|c| c.key).collect();
			k.sort();
			k
		};
		assert_eq!(keys(&a), keys(&b));
		assert!(split(&cs, &t, &DataSettings { holdout: 1.0, ..s.clone() }).is_err());
	}
}

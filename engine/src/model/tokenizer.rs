//! The tokenizer, built with the `tokenizers` crate from the vocabulary and merges inside the GGUF
//! file (the same byte-level BPE as the Hugging Face `tokenizer.json` of the model).
//!
//! SmolLM2's pre-tokenizer (`tokenizer.ggml.pre = "smollm"`) splits digits one by one and then
//! applies GPT-2's byte-level split without a prefix space. Tokens of type 3 (control) are the
//! special tokens (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, ...): they match whole in the
//! input and are skipped when decoding for a person. No BOS token is added (`add_bos_token` false).

use crate::{
	error::{Error, Result},
	model::gguf::{Gguf, Value},
};
use serde_json::json;

/// GGUF token type of control (special) tokens.
const TOKEN_TYPE_CONTROL: u64 = 3;

/// A model's tokenizer and the ids the engine needs by name.
#[derive(Clone)]
pub struct Tokenizer {
	inner: tokenizers::Tokenizer,
	/// End of text: generation stops here, and documents are separated by it in training.
	pub eos: u32,
	/// ChatML turn markers, when the vocabulary has them.
	pub im_start: Option<u32>,
	pub im_end: Option<u32>,
	specials: Vec<u32>,
}

impl Tokenizer {
	/// Builds the tokenizer from a GGUF file's `tokenizer.ggml.*` metadata.
	pub fn from_gguf(g: &Gguf) -> Result<Self> {
		let bad = |msg: String| Error::format(g.path(), msg);
		let model = g.get("tokenizer.ggml.model")?.as_str().unwrap_or_default();
		if model != "gpt2" {
			return Err(bad(format!("tokenizer model `{model}` (only byte-level BPE, `gpt2`, is supported)")));
		}
		let strings = |key: &str| -> Result<Vec<String>> {
			let items = g.get(key)?.as_array().ok_or_else(|| bad(format!("`{key}` is not an array")))?;
			items
				.iter()
				.map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad(format!("`{key}` holds a non-string"))))
				.collect()
		};
		let tokens = strings("tokenizer.ggml.tokens")?;
		let merges = match g.metadata.contains_key("tokenizer.ggml.merges") {
			true => strings("tokenizer.ggml.merges")?,
			false => Vec::new(),
		};
		let types: Vec<u64> = match g.metadata.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
			Some(items) => items.iter().map(|v| v.as_u64().unwrap_or(1)).collect(),
			None => vec![1; tokens.len()],
		};
		let pre = g.metadata.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("smollm");
		let digits = match pre {
			"smollm" => true,
			"gpt2" | "default" => false,
			other => return Err(bad(format!("pre-tokenizer `{other}` is not supported (smollm, gpt2)"))),
		};
		let eos = g.get_u64("tokenizer.ggml.eos_token_id")? as u32;
		Self::build(&tokens, &merges, &types, digits, eos)
			.map_err(|e| bad(format!("tokenizer: {e}")))
	}

	/// Builds a byte-level BPE tokenizer from its parts (tokens in GPT-2's byte-to-unicode
	/// spelling, merges as `"a b"`, GGUF token types).
	pub fn build(
		tokens: &[String],
		merges: &[String],
		types: &[u64],
		split_digits: bool,
		eos: u32,
	) -> Result<Self, String> {
		let vocab: serde_json::Map<String, serde_json::Value> =
			tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
		let specials: Vec<u32> = (0..tokens.len() as u32)
			.filter(|&i| types.get(i as usize) == Some(&TOKEN_TYPE_CONTROL))
			.collect();
		let added: Vec<_> = specials
			.iter()
			.map(|&i| {
				json!({"id": i, "content": tokens[i as usize], "single_word": false, "lstrip": false,
					"rstrip": false, "normalized": false, "special": true})
			})
			.collect();
		let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
		let pre_tokenizer = match split_digits {
			true => json!({"type": "Sequence", "pretokenizers": [
				{"type": "Digits", "individual_digits": true}, byte_level]}),
			false => byte_level.clone(),
		};
		let spec = json!({
			"version": "1.0",
			"truncation": null,
			"padding": null,
			"added_tokens": added,
			"normalizer": null,
			"pre_tokenizer": pre_tokenizer,
			"post_processor": null,
			"decoder": byte_level,
			"model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
				"end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
				"vocab": vocab, "merges": merges},
		});
		let inner = tokenizers::Tokenizer::from_bytes(spec.to_string()).map_err(|e| e.to_string())?;
		if eos as usize >= tokens.len() {
			return Err(format!("eos id {eos} is outside the vocabulary of {}", tokens.len()));
		}
		let id = |s: &str| inner.token_to_id(s);
		Ok(Tokenizer { im_start: id("<|im_start|>"), im_end: id("<|im_end|>"), inner, eos, specials })
	}

	/// Token ids of `text`; special tokens written in the text are recognised.
	pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
		let enc = self.inner.encode(text, false).map_err(|e| Error::bad(format!("cannot tokenise: {e}")))?;
		Ok(enc.get_ids().to_vec())
	}

	/// A transcript's prompt and output tokens as fees count them: each encoded alone. The
	/// serving engine charges for these and a panel attestor recounts them from the transcript,
	/// so both count the same whatever the sampler generated (an end-of-text token is not in the
	/// text, and is not charged).
	pub fn transcript_tokens(&self, t: &mnemo_primitives::engine::Transcript) -> Result<(u32, u32)> {
		Ok((self.encode(&t.prompt)?.len() as u32, self.encode(&t.output)?.len() as u32))
	}

	/// Text of `ids`, special tokens left out.
	pub fn decode(&self, ids: &[u32]) -> Result<String> {
		self.inner.decode(ids, true).map_err(|e| Error::bad(format!("cannot decode: {e}")))
	}

	pub fn vocab_size(&self) -> usize {
		self.inner.get_vocab_size(true)
	}

	pub fn is_special(&self, id: u32) -> bool {
		self.specials.contains(&id)
	}

	/// The ChatML prompt for `messages` (role, content), ending with the assistant's turn
	/// opened, as SmolLM2-Instruct's chat template writes it (with its default system prompt
	/// when the messages bring none).
	pub fn chat_prompt(&self, messages: &[(String, String)]) -> String {
		let mut out = String::new();
		if messages.first().is_none_or(|(role, _)| role != "system") {
			out.push_str(
				"<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
			);
		}
		for (role, content) in messages {
			out.push_str(&format!("<|im_start|>{role}\n{content}<|im_end|>\n"));
		}
		out.push_str("<|im_start|>assistant\n");
		out
	}
}

/// GPT-2's byte-to-unicode table: the printable characters each byte is spelled with in a
/// byte-level BPE vocabulary.
pub fn byte_alphabet() -> Vec<char> {
	let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
	let mut next = 256;
	(0..256u32)
		.map(|b| {
			if printable(b) {
				char::from_u32(b).expect("latin-1")
			} else {
				next += 1;
				char::from_u32(next - 1).expect("below 0x200")
			}
		})
		.collect()
}

/// The special tokens of the engine's small test tokenizers, in SmolLM2's order.
pub const TEST_SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// A byte-level tokenizer without merges (3 specials + 256 bytes), the vocabulary of the tiny
/// test models: `(tokens, merges, types)` as they go into a GGUF file.
pub fn byte_vocabulary() -> (Vec<String>, Vec<String>, Vec<u64>) {
	let mut tokens: Vec<String> = TEST_SPECIALS.iter().map(|s| s.to_string()).collect();
	let mut types = vec![TOKEN_TYPE_CONTROL; tokens.len()];
	tokens.extend(byte_alphabet().into_iter().map(String::from));
	types.resize(tokens.len(), 1);
	(tokens, Vec::new(), types)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn tiny() -> Tokenizer {
		let (tokens, merges, types) = byte_vocabulary();
		Tokenizer::build(&tokens, &merges, &types, true, 0).unwrap()
	}

	#[test]
	fn byte_level_text_round_trips_with_specials_recognised() {
		let t = tiny();
		assert_eq!(t.vocab_size(), 259);
		let text = "<|im_start|>user\nÉté 2024 — ok?<|im_end|>";
		let ids = t.encode(text).unwrap();
		assert_eq!(ids[0], 1, "<|im_start|> is one token");
		assert_eq!(*ids.last().unwrap(), 2, "<|im_end|> is one token");
		assert!(!ids[1..ids.len() - 1].contains(&1));
		assert_eq!(t.decode(&ids).unwrap(), "user\nÉté 2024 — ok?");
		assert!(t.is_special(0) && !t.is_special(100));
	}

	#[test]
	fn merges_apply_and_digits_split_one_by_one() {
		let (mut tokens, _, mut types) = byte_vocabulary();
		tokens.extend(["th".to_string(), "the".to_string(), "12".to_string()]);
		types.extend([1, 1, 1]);
		let merges = vec!["t h".to_string(), "th e".to_string(), "1 2".to_string()];
		let t = Tokenizer::build(&tokens, &merges, &types, true, 0).unwrap();
		let ids = t.encode("the 12").unwrap();
		assert_eq!(ids[0], 260, "`the` is merged");
		assert_eq!(ids.len(), 1 + 1 + 2, "the, Ġ, 1, 2: digits are never merged");
		let t = Tokenizer::build(&tokens, &merges, &types, false, 0).unwrap();
		assert_eq!(t.encode("12").unwrap(), vec![261], "without the digit split `12` merges");
	}

	#[test]
	fn chat_prompt_is_chatml_with_the_default_system_turn() {
		let t = tiny();
		let p = t.chat_prompt(&[("user".into(), "Hi".into())]);
		assert!(p.starts_with("<|im_start|>system\n"));
		assert!(p.ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
		let p = t.chat_prompt(&[("system".into(), "Be brief".into()), ("user".into(), "Hi".into())]);
		assert!(p.starts_with("<|im_start|>system\nBe brief<|im_end|>\n"));
	}
}

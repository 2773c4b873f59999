//! `mnemo watch`: follows the best blocks from now on and prints Mnemo's events readably (one
//! JSON object per line with `--json`), until Ctrl-C or `--count` events. Accounts are shown as
//! SS58 addresses, hashes and byte strings as hex, other values as they are.

use super::{CliError, Ctx};
use serde_json::{json, Value as Json};
use subxt::ext::scale_value::{Composite, Primitive, Value, ValueDef};
use subxt::utils::AccountId32;

/// The pallets whose events are Mnemo's.
const MNEMO: [&str; 5] = ["Datanets", "Governance", "Models", "Rewards", "Attribution"];

/// Event fields that hold accounts (32 bytes shown as SS58; other byte strings as hex, or as
/// text where the field holds text).
const ACCOUNTS: [&str; 14] = [
	"who", "owner", "payer", "operator", "curator", "contributor", "trainer", "attestor", "to", "from", "proposer",
	"validator", "delegate", "account",
];
const TEXT: [&str; 3] = ["reason", "name", "metadata"];

/// An event field as JSON: accounts in SS58, byte arrays in hex, big numbers as strings.
pub fn render(field: &str, v: &Value<()>) -> Json {
	match &v.value {
		ValueDef::Primitive(p) => match p {
			Primitive::Bool(b) => json!(b),
			Primitive::Char(c) => json!(c.to_string()),
			Primitive::String(s) => json!(s),
			Primitive::U128(n) if *n <= u64::MAX as u128 => json!(*n as u64),
			Primitive::U128(n) => json!(n.to_string()),
			Primitive::I128(n) => json!(n.to_string()),
			Primitive::U256(b) | Primitive::I256(b) => json!(format!("0x{}", hex::encode(b))),
		},
		ValueDef::BitSequence(b) => json!(format!("{b:?}")),
		ValueDef::Variant(var) => match &var.values {
			Composite::Unnamed(vals) if vals.is_empty() => json!(var.name),
			c => json!({ var.name.clone(): composite(field, c) }),
		},
		ValueDef::Composite(c) => composite(field, c),
	}
}

/// The bytes of a composite that is only bytes (an array or a vector of u8), looking through
/// one-field wrappers.
fn bytes_of(c: &Composite<()>) -> Option<Vec<u8>> {
	let Composite::Unnamed(vals) = c else { return None };
	if let [one] = vals.as_slice() {
		if let ValueDef::Composite(inner) = &one.value {
			return bytes_of(inner);
		}
	}
	vals.iter()
		.map(|x| match &x.value {
			ValueDef::Primitive(Primitive::U128(n)) if *n < 256 => Some(*n as u8),
			_ => None,
		})
		.collect()
}

fn composite(field: &str, c: &Composite<()>) -> Json {
	if let Some(bytes) = bytes_of(c).filter(|b| b.len() >= 4) {
		if ACCOUNTS.contains(&field) {
			if let Ok(a) = <[u8; 32]>::try_from(bytes.as_slice()) {
				return json!(AccountId32(a).to_string());
			}
		}
		if TEXT.contains(&field) {
			if let Ok(s) = String::from_utf8(bytes.clone()) {
				return json!(s);
			}
		}
		return json!(format!("0x{}", hex::encode(bytes)));
	}
	match c {
		Composite::Named(fields) => Json::Object(fields.iter().map(|(n, v)| (n.clone(), render(n, v))).collect()),
		Composite::Unnamed(vals) if vals.len() == 1 => render(field, &vals[0]),
		Composite::Unnamed(vals) => Json::Array(vals.iter().map(|v| render(field, v)).collect()),
	}
}

pub async fn run(ctx: &Ctx, count: Option<usize>, all: bool) -> Result<(), CliError> {
	let chain = ctx.chain().await?;
	let from = chain.at().await?.block_number();
	let mut blocks = chain.api.stream_best_blocks().await.map_err(|e| chain.unreachable(e))?;
	ctx.ui.note(format!("following {} from block {} (Ctrl-C stops)", chain.url, from + 1));
	let mut seen = 0usize;
	while let Some(block) = blocks.next().await {
		let block = block.map_err(|e| chain.unreachable(e))?;
		let number = block.number();
		if number <= from {
			continue;
		}
		let at = block.at().await.map_err(|e| chain.unreachable(e))?;
		let events = at.events().fetch().await.map_err(|e| chain.unreachable(e))?;
		for ev in events.iter() {
			let ev = ev.map_err(|e| CliError::new("Decode", e.to_string()))?;
			let (pallet, name) = (ev.pallet_name().to_string(), ev.event_name().to_string());
			if !all && !MNEMO.contains(&pallet.as_str()) {
				continue;
			}
			let fields = ev
				.decode_fields_unchecked_as::<Composite<()>>()
				.map(|c| composite("", &c))
				.unwrap_or(Json::Null);
			if ctx.ui.json {
				println!("{}", json!({"block": number, "pallet": pallet, "event": name, "fields": fields}));
			} else {
				println!("#{number} {pallet}.{name} {fields}");
			}
			seen += 1;
			if count.is_some_and(|c| seen >= c) {
				return Ok(());
			}
		}
	}
	Err(CliError::new("NodeUnreachable", "the node stopped sending blocks"))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn event_fields_render_accounts_hashes_and_text() {
		let bob = subxt_signer::sr25519::dev::bob().public_key().0;
		let bytes = |b: &[u8]| Value::unnamed_composite(b.iter().map(|x| Value::u128(*x as u128)));
		let fields = Composite::named([
			("who", Value::unnamed_composite([bytes(&bob)])),
			("content_hash", Value::unnamed_composite([bytes(&[7u8; 32])])),
			("reason", bytes(b"off topic")),
			("bond", Value::u128(u128::MAX)),
			("contribution", Value::u128(3)),
			("approve", Value::bool(true)),
			("kind", Value::unnamed_variant("Text", [])),
		]);
		let j = composite("", &fields);
		assert_eq!(j["who"], AccountId32(bob).to_string());
		assert_eq!(j["content_hash"], format!("0x{}", "07".repeat(32)));
		assert_eq!(j["reason"], "off topic");
		assert_eq!(j["bond"], u128::MAX.to_string());
		assert_eq!(j["contribution"], 3);
		assert_eq!(j["approve"], true);
		assert_eq!(j["kind"], "Text");
	}
}

//! `mnemo watch`: follows finalized-or-best blocks and prints Mnemo's events readably (one JSON
//! object per line with `--json`), until Ctrl-C or `--count` events.

use super::{CliError, Ctx};
use serde_json::json;

/// The pallets whose events are Mnemo's.
const MNEMO: [&str; 5] = ["Datanets", "Governance", "Models", "Rewards", "Attribution"];

pub async fn run(ctx: &Ctx, count: Option<usize>, all: bool) -> Result<(), CliError> {
	let chain = ctx.chain().await?;
	let mut blocks = chain.api.stream_best_blocks().await.map_err(|e| CliError::new("NodeUnreachable", e.to_string()))?;
	ctx.ui.note(format!("following {} (Ctrl-C stops)", chain.url));
	let mut seen = 0usize;
	while let Some(block) = blocks.next().await {
		let block = block.map_err(|e| CliError::new("NodeUnreachable", e.to_string()))?;
		let number = block.number();
		let at = block.at().await.map_err(|e| CliError::new("NodeUnreachable", e.to_string()))?;
		let events = at.events().fetch().await.map_err(|e| CliError::new("NodeUnreachable", e.to_string()))?;
		for ev in events.iter() {
			let ev = ev.map_err(|e| CliError::new("Decode", e.to_string()))?;
			let (pallet, name) = (ev.pallet_name().to_string(), ev.event_name().to_string());
			if !all && !MNEMO.contains(&pallet.as_str()) {
				continue;
			}
			let fields = ev.decode_fields_unchecked_as::<subxt::ext::scale_value::Composite<()>>().map(|c| c.to_string()).unwrap_or_default();
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

//! Money: payment channels to serving operators, `chat` (a paid inference through the engine's
//! OpenAI-compatible API with a voucher signed on the channel) and accounts. What batches say of
//! spending and earning is in `receipts`.

use super::{
	args::{ChannelCmd, ChatArgs},
	engine::blocking,
	fmt_amount, keys, parse_amount, CliError, Ctx, Report,
};
use crate::{
	typed::runtime::{self, rewards::events},
	voucher::SignedVoucher,
	VoucherOf,
};
use polkadot_sdk::sp_runtime::MultiSignature;
use serde_json::{json, Value};
use std::io::Write;
use subxt::utils::AccountId32;

pub(super) fn who(ctx: &Ctx, account: Option<String>) -> Result<AccountId32, CliError> {
	match account {
		Some(a) => keys::account(&a),
		None => Ok(ctx.signer()?.public_key().into()),
	}
}


pub async fn channel(ctx: &Ctx, cmd: ChannelCmd) -> Result<Report, CliError> {
	let chain = ctx.chain().await?;
	let tx = runtime::transactions().rewards();
	match cmd {
		ChannelCmd::Open { operator, deposit } => {
			let (operator, deposit) = (keys::account(&operator)?, parse_amount(&deposit)?);
			let signer = ctx.signer()?;
			let holds = format!("holds {} of your balance for {operator} to charge for inferences", fmt_amount(deposit));
			let inc = chain.submit(&signer, &tx.open_channel(operator, deposit), "Rewards.open_channel", Some(holds)).await?;
			let e = inc.event::<events::ChannelOpened>()?;
			Ok(Report::new(
				json!({"operator": e.operator.to_string(), "deposit": e.deposit.to_string(), "block": inc.block}),
				format!("channel to {} open with {}", e.operator, fmt_amount(e.deposit)),
			))
		},
		ChannelCmd::TopUp { operator, amount } => {
			let (operator, amount) = (keys::account(&operator)?, parse_amount(&amount)?);
			let signer = ctx.signer()?;
			let holds = format!("holds {} more of your balance", fmt_amount(amount));
			let inc = chain.submit(&signer, &tx.top_up(operator, amount), "Rewards.top_up", Some(holds)).await?;
			let e = inc.event::<events::ChannelToppedUp>()?;
			Ok(Report::new(
				json!({"operator": e.operator.to_string(), "amount": e.amount.to_string(), "balance": e.balance.to_string(), "block": inc.block}),
				format!("channel to {}: {} to charge", e.operator, fmt_amount(e.balance)),
			))
		},
		ChannelCmd::Close { operator } => {
			let operator = keys::account(&operator)?;
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.close_channel(operator), "Rewards.close_channel", None).await?;
			let e = inc.event::<events::ChannelClosing>()?;
			Ok(Report::new(
				json!({"operator": e.operator.to_string(), "closes_at": e.closes_at, "balance": e.balance.to_string(), "block": inc.block}),
				format!(
					"channel to {} closes at block {} ({} left); then run `mnemo channel finish {}`",
					e.operator,
					e.closes_at,
					fmt_amount(e.balance),
					e.operator
				),
			))
		},
		ChannelCmd::Finish { operator, payer } => {
			let operator = keys::account(&operator)?;
			let payer = who(ctx, payer)?;
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.finish_close(payer, operator), "Rewards.finish_close", None).await?;
			let e = inc.event::<events::ChannelClosed>()?;
			Ok(Report::new(
				json!({"payer": e.payer.to_string(), "operator": e.operator.to_string(), "returned": e.returned.to_string(), "spent": e.spent.to_string(), "block": inc.block}),
				format!("channel to {} closed: {} returned, {} spent on it", e.operator, fmt_amount(e.returned), fmt_amount(e.spent)),
			))
		},
		ChannelCmd::Show { account } => {
			let who = who(ctx, account)?;
			let channels = chain.view(runtime::view_functions().rewards().channels(who.clone())).await?;
			let mut human = format!("{who}: {} channel(s)\n", channels.len());
			for (op, c) in &channels {
				let closing = c.closes_at.map(|b| format!(", closing at block {b}")).unwrap_or_default();
				human += &format!("  to {op}: {} left, {} charged, last voucher {}{closing}\n", fmt_amount(c.balance), fmt_amount(c.spent), c.seq);
			}
			Ok(Report::new(
				json!({"account": who.to_string(), "channels": channels.iter().map(|(op, c)| json!({"operator": op.to_string(), "balance": c.balance.to_string(),
					"spent": c.spent.to_string(), "seq": c.seq, "closes_at": c.closes_at})).collect::<Vec<_>>()}),
				human,
			))
		},
	}
}

pub async fn account(ctx: &Ctx, account: Option<String>) -> Result<Report, CliError> {
	let who = who(ctx, account)?;
	let chain = ctx.chain().await?;
	let info = chain.fetch(runtime::storage().system().account(), (who.clone(),)).await?;
	let (free, reserved, frozen, nonce) = info.map(|i| (i.data.free, i.data.reserved, i.data.frozen, i.nonce)).unwrap_or_default();
	Ok(Report::new(
		json!({"account": who.to_string(), "public_key": format!("0x{}", hex::encode(who.0)), "free": free.to_string(), "held": reserved.to_string(), "frozen": frozen.to_string(), "nonce": nonce}),
		format!("{who}\n  free {}\n  held {}\n  frozen {}\n  nonce {nonce}", fmt_amount(free), fmt_amount(reserved), fmt_amount(frozen)),
	))
}

pub async fn chat(ctx: &Ctx, a: ChatArgs) -> Result<Option<Report>, CliError> {
	if a.prompt.trim().is_empty() {
		return Err(CliError::bad_input("the prompt is empty"));
	}
	let engine = std::sync::Arc::new(ctx.engine());
	let eng = engine.clone();
	let models = blocking(move || eng.models()).await?;
	let data = models["data"].as_array().cloned().unwrap_or_default();
	let deployment = data
		.iter()
		.find(|m| m["id"] == a.model || m["mnemo"]["chain_adapter"].as_u64().map(|x| x.to_string()) == Some(a.model.clone()))
		.ok_or_else(|| {
			let names: Vec<_> = data.iter().filter_map(|m| m["id"].as_str()).collect();
			CliError::new("UnknownModel", format!("the engine serves no `{}` (it serves: {})", a.model, names.join(", ")))
		})?;
	let name = deployment["id"].as_str().unwrap_or_default().to_string();
	let chain_adapter = deployment["mnemo"]["chain_adapter"].as_u64().map(|x| x as u32);
	let mut voucher = None;
	let mut meta = json!({"model": name, "metered": chain_adapter.is_some()});
	let mut payer_and_request = None;
	if let Some(adapter) = chain_adapter {
		let signer = ctx.signer()?;
		let chain = ctx.chain().await?;
		let payer: AccountId32 = signer.public_key().into();
		let operator = match &a.operator {
			Some(o) => keys::account(o)?,
			None => models["mnemo"]["metering"]["operator"]
				.as_str()
				.and_then(|h| keys::account(&format!("0x{h}")).ok())
				.ok_or_else(|| CliError::bad_input("the engine does not say who its operator is: pass --operator"))?,
		};
		let record = chain
			.view(runtime::view_functions().models().adapter(adapter))
			.await?
			.ok_or_else(|| CliError::new("UnknownAdapter", format!("adapter {adapter} is not on chain")))?;
		let price = match &a.max_price {
			Some(p) => parse_amount(p)?,
			None => record.price_per_1k.ok_or_else(|| CliError::new("Attribution::AdapterNotDeployed", format!("adapter {adapter} is not deployed")))?,
		};
		// The voucher caps prompt and answer tokens together. A token covers at least one byte
		// (byte-level and BPE vocabularies alike), so the prompt's bytes bound its tokens; the
		// chat template around it adds up to 256 more.
		let max_tokens = a.max_tokens + a.prompt.len() as u32 + 256;
		let params = chain.fetch(runtime::storage().attribution().current_params(), ()).await?;
		let min_fee = params.as_ref().map_or(0, |p| p.min_fee);
		let cost = mnemo_primitives::inference_fee(price, max_tokens, min_fee);
		let channels = chain.view(runtime::view_functions().rewards().channels(payer.clone())).await?;
		let Some(channel) = channels.into_iter().find(|(o, _)| *o == operator).map(|(_, c)| c) else {
			return Err(CliError::new(
				"NoChannel",
				format!("you have no payment channel to {operator}, the engine's operator: `mnemo channel open {operator} <deposit>` first"),
			));
		};
		if let Some(at) = channel.closes_at {
			return Err(CliError::new("ChannelClosing", format!("your channel to {operator} is closing (block {at}): open a new one once it has closed")));
		}
		if channel.balance < cost {
			return Err(CliError::new(
				"ChannelTooLow",
				format!("this request may cost {}; your channel to {operator} has {} left: `mnemo channel top-up {operator} <amount>`", fmt_amount(cost), fmt_amount(channel.balance)),
			));
		}
		ctx.ui.confirm(&format!("asking `{name}` may cost up to {} ({max_tokens} tokens at {} per 1000)", fmt_amount(cost), fmt_amount(price)))?;
		let request: [u8; 16] = rand_request();
		let best = chain.at().await?.block_number() as u32;
		// The chain refuses a voucher valid for longer than its `max_voucher_lifetime`.
		let lifetime = params.map(|p| p.max_voucher_lifetime).unwrap_or(600).min(600);
		// Where this voucher stands on the channel: after the last one the engine accepted on it,
		// if that one is still live (its receipt may not have landed yet); otherwise after what
		// the chain has charged, plus what the engine says the channel may still owe. A last
		// voucher for an earlier channel (closed since) does not count.
		let payer_id = polkadot_sdk::sp_runtime::AccountId32::from(payer.0);
		let eng = engine.clone();
		let payer_hex = hex::encode(payer.0);
		let last = blocking(move || eng.channel(&payer_hex)).await?;
		// The engine's last voucher, decoded once; one for an earlier channel does not count.
		let last = last.and_then(|l| {
			let sv = SignedVoucher::from_header(l["voucher"].as_str()?).ok()?;
			let unsettled: u128 = l["unsettled"].as_str().and_then(|u| u.parse().ok()).unwrap_or(0);
			(sv.voucher.channel == channel.id).then_some((sv, unsettled))
		});
		let (seq, base) = match last {
			Some((sv, unsettled)) => {
				// Only what this account itself signed counts: the engine cannot make it consent
				// to more.
				if sv.payer != payer_id || !sv.verify() || <polkadot_sdk::sp_runtime::AccountId32 as AsRef<[u8; 32]>>::as_ref(&sv.voucher.operator) != &operator.0 {
					return Err(CliError::new("Engine", "the engine's last voucher of yours is not one you signed for it"));
				}
				if sv.voucher.expires_at >= best {
					(sv.voucher.seq, sv.voucher.cumulative)
				} else {
					// Past its expiry the engine may or may not have moved on: cover both.
					(sv.voucher.seq.max(channel.seq), channel.spent.saturating_add(unsettled).max(sv.voucher.cumulative))
				}
			},
			None => (channel.seq, channel.spent),
		};
		let v = VoucherOf {
			request,
			operator: polkadot_sdk::sp_runtime::AccountId32::from(operator.0),
			adapter,
			max_price_per_1k: price,
			max_tokens,
			channel: channel.id,
			seq: seq + 1,
			cumulative: base.saturating_add(cost),
			expires_at: best + lifetime,
			genesis: polkadot_sdk::sp_core::H256(chain.api.genesis_hash().0),
		};
		let sig = signer.sign(&v.signing_payload());
		let signed = SignedVoucher {
			payer: payer_id,
			voucher: v,
			signature: MultiSignature::Sr25519(polkadot_sdk::sp_core::sr25519::Signature::from_raw(sig.0)),
		};
		meta["seq"] = json!(seq + 1);
		voucher = Some(signed.to_header());
		meta["request"] = json!(hex::encode(request));
		meta["max_cost"] = json!(cost.to_string());
		payer_and_request = Some((payer.clone(), request));
	}
	let body = json!({"model": name, "messages": [{"role": "user", "content": a.prompt}], "max_tokens": a.max_tokens,
		"temperature": a.temperature, "stream": true, "stream_options": {"include_usage": true}});
	let stream_to_stdout = !ctx.ui.json;
	let (request_id, last) = blocking(move || {
		let mut text = String::new();
		let r = engine.chat_stream(body, voucher, |d| {
			text.push_str(d);
			if stream_to_stdout {
				print!("{d}");
				let _ = std::io::stdout().flush();
			}
		})?;
		Ok((r, text))
	})
	.await
	.map(|((id, last), text)| {
		meta["text"] = json!(text);
		(id, last)
	})?;
	if stream_to_stdout {
		println!();
	}
	meta["usage"] = last["usage"].clone();
	meta["request_id"] = json!(request_id);
	if let Some((payer, request)) = payer_and_request {
		ctx.ui.note(format!("request {} (metered; the engine commits its receipt on chain in its next batch)", hex::encode(request)));
		if a.wait {
			let receipt = wait_settled(ctx, &payer, request).await?;
			ctx.ui.note(format!("batch {}, leaf {}: fee {}, {}", receipt["batch"], receipt["leaf"],
				fmt_amount(receipt["fee"].as_str().and_then(|f| f.parse().ok()).unwrap_or(0)), receipt["phase"].as_str().unwrap_or("")));
			meta["receipt"] = receipt;
		}
	}
	Ok(ctx.ui.json.then(|| Report::new(meta, "")))
}

/// Waits (up to `--timeout`, at least 10 minutes for settlement) for a batch to carry the
/// receipt of `request` and to settle (or be refunded); the receipt, proven against the batch.
async fn wait_settled(ctx: &Ctx, payer: &AccountId32, request: [u8; 16]) -> Result<Value, CliError> {
	let limit = ctx.timeout.max(std::time::Duration::from_secs(600));
	let pb = super::chain::spinner(ctx.ui, format!("waiting for the receipt's batch to land and settle (up to {} s)", limit.as_secs()));
	let deadline = std::time::Instant::now() + limit;
	loop {
		if let Some((receipt, done)) = super::receipts::find_receipt(ctx, payer, request).await? {
			pb.set_message(format!("batch {}: {}", receipt["batch"], receipt["phase"].as_str().unwrap_or("")));
			if done {
				pb.finish_and_clear();
				return Ok(receipt);
			}
		}
		if std::time::Instant::now() > deadline {
			return Err(CliError::new("Timeout", format!("the receipt was not settled within {} s; see `mnemo spend-log`", limit.as_secs())));
		}
		tokio::time::sleep(std::time::Duration::from_secs(2)).await;
	}
}

/// A fresh request id: 16 bytes of `/dev/urandom` mixed with the time and process id by
/// blake2-128 (the chain refuses a request id an operator already recorded).
fn rand_request() -> [u8; 16] {
	let mut seed = Vec::new();
	seed.extend(std::process::id().to_le_bytes());
	seed.extend(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos().to_le_bytes());
	let mut buf = [0u8; 16];
	if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
		let _ = std::io::Read::read_exact(&mut f, &mut buf);
	}
	seed.extend(buf);
	polkadot_sdk::sp_crypto_hashing::blake2_128(&seed)
}

//! Money: payment channels to serving operators, `chat` (a paid inference through the engine's
//! OpenAI-compatible API with a voucher signed on the channel), earnings and their explanation,
//! claiming, the spend log and a receipt's attribution.

use super::{
	args::{ChannelCmd, ChatArgs},
	chain::Chain,
	engine::blocking,
	fmt_amount, keys, parse_amount, CliError, Ctx, Report,
};
use crate::{
	typed::runtime::{self, rewards::events, runtime_types},
	voucher::SignedVoucher,
	VoucherOf,
};
use polkadot_sdk::sp_runtime::MultiSignature;
use serde_json::{json, Value};
use std::io::Write;
use subxt::utils::AccountId32;

fn who(ctx: &Ctx, account: Option<String>) -> Result<AccountId32, CliError> {
	match account {
		Some(a) => keys::account(&a),
		None => Ok(ctx.signer()?.public_key().into()),
	}
}

fn perbill(p: &runtime_types::sp_arithmetic::per_things::Perbill) -> f64 {
	p.0 as f64 / 1e9
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

pub async fn claim(ctx: &Ctx) -> Result<Report, CliError> {
	let signer = ctx.signer()?;
	let chain = ctx.chain().await?;
	let me: AccountId32 = signer.public_key().into();
	let ledger = chain.view(runtime::view_functions().rewards().ledger(me)).await?;
	if ledger.claimable == 0 {
		return Err(CliError::new(
			"NothingToClaim",
			format!("nothing is claimable yet ({} pending inside challenge windows)", fmt_amount(ledger.pending)),
		));
	}
	let inc = chain.submit(&signer, &runtime::transactions().rewards().claim(), "Rewards.claim", None).await?;
	let e = inc.event::<events::Claimed>()?;
	Ok(Report::new(json!({"amount": e.amount.to_string(), "block": inc.block}), format!("claimed {}", fmt_amount(e.amount))))
}

fn roles(r: &runtime_types::pallet_rewards::types::RoleAmounts) -> Value {
	json!({"contributor": r.contributor.to_string(), "adapter_owner": r.adapter_owner.to_string(),
		"datanet_owner": r.datanet_owner.to_string(), "attestor": r.attestor.to_string(), "treasury": r.treasury.to_string()})
}

fn roles_human(r: &runtime_types::pallet_rewards::types::RoleAmounts) -> String {
	[("contributor", r.contributor), ("adapter owner", r.adapter_owner), ("datanet owner", r.datanet_owner), ("attestor", r.attestor), ("treasury", r.treasury)]
		.iter()
		.filter(|(_, a)| *a > 0)
		.map(|(n, a)| format!("{n} {}", fmt_amount(*a)))
		.collect::<Vec<_>>()
		.join(", ")
}

pub async fn earnings(ctx: &Ctx, explain: bool, account: Option<String>) -> Result<Report, CliError> {
	let who = who(ctx, account)?;
	let chain = ctx.chain().await?;
	let l = chain.view(runtime::view_functions().rewards().ledger(who.clone())).await?;
	let mut human = format!(
		"{who}\n  claimable {}   pending {}   claimed {}   refunds {}\n  earned by role: {}\n",
		fmt_amount(l.claimable), fmt_amount(l.pending), fmt_amount(l.claimed), fmt_amount(l.refunds),
		Some(roles_human(&l.earned)).filter(|s| !s.is_empty()).unwrap_or("nothing yet".into())
	);
	let mut j = json!({"account": who.to_string(), "claimable": l.claimable.to_string(), "pending": l.pending.to_string(),
		"claimed": l.claimed.to_string(), "refunds": l.refunds.to_string(), "earned": roles(&l.earned)});
	if explain {
		let credits = chain.view(runtime::view_functions().rewards().recent_credits(who.clone())).await?;
		let attributions = chain.view(runtime::view_functions().attribution().recent_attributions(who.clone())).await?;
		let mut list = Vec::new();
		for c in &credits {
			let mine: Vec<_> = attributions.iter().filter(|(r, _, _)| *r == c.receipt).collect();
			// What each contribution earned from this receipt (the settlement's contribution split).
			let funds = chain.view(runtime::view_functions().rewards().receipt(c.receipt)).await?;
			let paid: Vec<(u64, u128)> = match &funds {
				Some(runtime_types::pallet_rewards::types::ReceiptFunds::Pending(p)) => p.contributions.0.clone(),
				_ => Vec::new(),
			};
			human += &format!("  receipt {} (adapter {}, released at block {}): {}\n", c.receipt, c.adapter, c.released_at, roles_human(&c.amounts));
			// Once released, the settlement's per-contribution split is gone from storage: the
			// credit's contributor amount is then divided over this account's contributions in
			// proportion to their scores (exact for one contribution, rounded down otherwise).
			let my_total: u128 = mine.iter().map(|(_, _, s)| s.0 as u128).sum();
			let mut why = Vec::new();
			for (_, contribution, score) in &mine {
				let amount = paid.iter().find(|(id, _)| id == contribution).map(|(_, a)| *a).or_else(|| {
					(my_total > 0).then(|| c.amounts.contributor.saturating_mul(score.0 as u128) / my_total)
				});
				human += &format!(
					"    contribution {contribution}: score share {:.2}%{}\n",
					perbill(score) * 100.0,
					amount.map(|a| format!(", paid {}", fmt_amount(a))).unwrap_or_default()
				);
				why.push(json!({"contribution": contribution, "share": perbill(score), "amount": amount.map(|a| a.to_string())}));
			}
			list.push(json!({"receipt": c.receipt, "adapter": c.adapter, "released_at": c.released_at, "amounts": roles(&c.amounts), "contributions": why}));
		}
		if credits.is_empty() {
			human += "  no credits yet\n";
		}
		j["credits"] = Value::Array(list);
	}
	Ok(Report::new(j, human))
}

pub async fn spend_log(ctx: &Ctx, account: Option<String>, from: Option<u32>, to: Option<u32>) -> Result<Report, CliError> {
	let who = who(ctx, account)?;
	let chain = ctx.chain().await?;
	let (totals, periods) = chain.view(runtime::view_functions().rewards().spend(who.clone())).await?;
	let at = chain.at().await?;
	let mut iter = at
		.storage()
		.iter(runtime::storage().attribution().receipts(), ())
		.await
		.map_err(|e| chain.unreachable(e))?;
	let mut receipts = Vec::new();
	while let Some(kv) = iter.next().await {
		let kv = kv.map_err(|e| chain.unreachable(e))?;
		let id = kv.key().ok().and_then(|k| k.part(0).and_then(|p| p.decode_as::<u64>().ok().flatten()));
		let r = kv.value().decode_as::<runtime_types::pallet_attribution::types::Receipt>().map_err(|e| CliError::new("Decode", e.to_string()))?;
		if r.payer != who || from.is_some_and(|f| r.recorded_at < f) || to.is_some_and(|t| r.recorded_at > t) {
			continue;
		}
		receipts.push((id, r));
	}
	receipts.sort_by_key(|(id, _)| *id);
	let mut human = format!("{who}: spent {} on {} receipts\n", fmt_amount(totals.total), totals.receipts);
	let list: Vec<_> = receipts
		.iter()
		.map(|(id, r)| {
			human += &format!(
				"  receipt {} at block {}: adapter {}, {} + {} tokens, fee {}, {}\n",
				id.map(|i| i.to_string()).unwrap_or("?".into()), r.recorded_at, r.adapter, r.input_tokens, r.output_tokens, fmt_amount(r.fee), phase(&r.phase)
			);
			json!({"receipt": id, "recorded_at": r.recorded_at, "adapter": r.adapter, "operator": r.operator.to_string(),
				"request": hex::encode(r.request), "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
				"fee": r.fee.to_string(), "phase": phase(&r.phase)})
		})
		.collect();
	Ok(Report::new(
		json!({"account": who.to_string(), "total": totals.total.to_string(), "receipts_count": totals.receipts,
			"periods": periods.iter().map(|(p, a)| json!({"period": p, "amount": a.to_string()})).collect::<Vec<_>>(), "receipts": list}),
		human,
	))
}

fn phase(p: &runtime_types::pallet_attribution::types::Phase<u32>) -> String {
	use runtime_types::pallet_attribution::types::Phase;
	match p {
		Phase::Commit { until } => format!("attestors committing until block {until}"),
		Phase::Reveal { until } => format!("attestors revealing until block {until}"),
		Phase::Settled { at, release_at } => format!("settled at block {at}, released at {release_at}"),
		Phase::Refunded { at, why } => format!("refunded at block {at} ({why:?})"),
	}
}

async fn receipt_json(chain: &Chain, receipt: u64) -> Result<(Value, String), CliError> {
	let (r, attribution, reports, challenge) = chain
		.view(runtime::view_functions().attribution().receipt(receipt))
		.await?
		.ok_or_else(|| CliError::new("UnknownReceipt", format!("there is no receipt {receipt} (or it was pruned)")))?;
	let funds = chain.view(runtime::view_functions().rewards().receipt(receipt)).await?;
	let mut human = format!(
		"receipt {receipt}: payer {}, operator {}, adapter {}\n  {} input + {} output tokens, fee {}, recorded at block {}\n  {}\n",
		r.payer, r.operator, r.adapter, r.input_tokens, r.output_tokens, fmt_amount(r.fee), r.recorded_at, phase(&r.phase)
	);
	let shares: Vec<Value> = attribution
		.as_ref()
		.map(|a| {
			a.shares
				.0
				.iter()
				.map(|(c, who, s)| {
					human += &format!("  contribution {c} by {who}: {:.2}%\n", perbill(s) * 100.0);
					json!({"contribution": c, "contributor": who.to_string(), "share": perbill(s)})
				})
				.collect()
		})
		.unwrap_or_default();
	let panel: Vec<String> = attribution.as_ref().map(|a| a.panel.0.iter().map(|w| w.to_string()).collect()).unwrap_or_default();
	if !panel.is_empty() {
		human += &format!("  attested by {}\n", panel.join(", "));
	}
	let split = match &funds {
		Some(runtime_types::pallet_rewards::types::ReceiptFunds::Pending(p)) => {
			for payee in &p.payees.0 {
				human += &format!("  paid {}: {}\n", payee.who, roles_human(&payee.amounts));
			}
			json!({"state": "settled", "release_at": p.release_at,
				"payees": p.payees.0.iter().map(|x| json!({"who": x.who.to_string(), "amounts": roles(&x.amounts)})).collect::<Vec<_>>()})
		},
		Some(runtime_types::pallet_rewards::types::ReceiptFunds::Escrowed(e)) => json!({"state": "escrowed", "amount": e.amount.to_string()}),
		None => Value::Null,
	};
	Ok((
		json!({"receipt": receipt, "payer": r.payer.to_string(), "operator": r.operator.to_string(), "adapter": r.adapter,
			"request": hex::encode(r.request), "input_tokens": r.input_tokens, "output_tokens": r.output_tokens, "fee": r.fee.to_string(),
			"transcript": hex::encode(r.transcript.0), "recorded_at": r.recorded_at, "phase": phase(&r.phase),
			"settled": matches!(r.phase, runtime_types::pallet_attribution::types::Phase::Settled { .. }),
			"attribution": shares, "panel": panel, "reports": reports.len(), "challenged": challenge.is_some(), "funds": split}),
		human,
	))
}

pub async fn attribution(ctx: &Ctx, receipt: u64) -> Result<Report, CliError> {
	let chain = ctx.chain().await?;
	let (j, human) = receipt_json(&chain, receipt).await?;
	Ok(Report::new(j, human))
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
	let mut operator_and_request = None;
	let mut chain_conn = None;
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
		operator_and_request = Some((operator, request));
		chain_conn = Some(chain);
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
	if let (Some((operator, request)), Some(chain)) = (operator_and_request, chain_conn) {
		ctx.ui.note(format!("request {} (metered; the engine records its receipt on chain)", hex::encode(request)));
		if a.wait {
			let receipt = wait_settled(ctx, &chain, operator, request).await?;
			let (j, human) = receipt_json(&chain, receipt).await?;
			ctx.ui.note(human.trim_end());
			meta["receipt"] = j;
		}
	}
	Ok(ctx.ui.json.then(|| Report::new(meta, "")))
}

/// Waits (up to `--timeout`, at least 10 minutes for settlement) for the receipt of `request`
/// to be recorded and settled.
async fn wait_settled(ctx: &Ctx, chain: &Chain, operator: AccountId32, request: [u8; 16]) -> Result<u64, CliError> {
	let limit = ctx.timeout.max(std::time::Duration::from_secs(600));
	let pb = super::chain::spinner(ctx.ui, format!("waiting for the receipt to be recorded and settled (up to {} s)", limit.as_secs()));
	let deadline = std::time::Instant::now() + limit;
	loop {
		if let Some(id) = chain.view(runtime::view_functions().attribution().receipt_of_request(operator.clone(), request)).await? {
			if let Some((r, ..)) = chain.view(runtime::view_functions().attribution().receipt(id)).await? {
				use runtime_types::pallet_attribution::types::Phase;
				pb.set_message(format!("receipt {id}: {}", phase(&r.phase)));
				if matches!(r.phase, Phase::Settled { .. } | Phase::Refunded { .. }) {
					pb.finish_and_clear();
					return Ok(id);
				}
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

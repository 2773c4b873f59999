//! Money: inference credit and operator allowances, `chat` (a paid inference through the
//! engine's OpenAI-compatible API with a signed voucher), earnings and their explanation,
//! claiming, the spend log and a receipt's attribution.

use super::{
	args::{ChatArgs, CreditCmd},
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

pub async fn credit(ctx: &Ctx, cmd: CreditCmd) -> Result<Report, CliError> {
	let chain = ctx.chain().await?;
	let tx = runtime::transactions().rewards();
	match cmd {
		CreditCmd::Deposit { amount } => {
			let amount = parse_amount(&amount)?;
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.deposit_credit(amount), "Rewards.deposit_credit", Some(format!("moves {} into credit", fmt_amount(amount)))).await?;
			let e = inc.event::<events::CreditDeposited>()?;
			Ok(Report::new(json!({"credit": e.credit.to_string(), "block": inc.block}), format!("credit is now {}", fmt_amount(e.credit))))
		},
		CreditCmd::Withdraw { amount: Some(amount) } => {
			let amount = parse_amount(&amount)?;
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.withdraw_credit(amount), "Rewards.withdraw_credit", None).await?;
			let e = inc.event::<events::WithdrawalScheduled>()?;
			Ok(Report::new(
				json!({"amount": e.amount.to_string(), "at": e.at, "block": inc.block}),
				format!("{} unlocks at block {}; then run `mnemo credit withdraw` to take it", fmt_amount(e.amount), e.at),
			))
		},
		CreditCmd::Withdraw { amount: None } => {
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.complete_withdrawal(), "Rewards.complete_withdrawal", None).await?;
			let e = inc.event::<events::CreditWithdrawn>()?;
			Ok(Report::new(
				json!({"amount": e.amount.to_string(), "credit": e.credit.to_string(), "block": inc.block}),
				format!("{} withdrawn; credit left {}", fmt_amount(e.amount), fmt_amount(e.credit)),
			))
		},
		CreditCmd::ApproveOperator { operator, allowance, until } => {
			let (operator, allowance) = (keys::account(&operator)?, parse_amount(&allowance)?);
			let signer = ctx.signer()?;
			let until = match until {
				Some(u) => u,
				None => chain.at().await?.block_number() as u32 + 30 * 14_400,
			};
			let holds = format!("lets {operator} charge up to {} of your credit until block {until}", fmt_amount(allowance));
			let inc = chain.submit(&signer, &tx.approve_operator(operator, allowance, until), "Rewards.approve_operator", Some(holds)).await?;
			let e = inc.event::<events::OperatorApproved>()?;
			Ok(Report::new(
				json!({"operator": e.operator.to_string(), "allowance": e.allowance.to_string(), "expires_at": e.expires_at, "block": inc.block}),
				format!("{} may charge up to {} until block {}", e.operator, fmt_amount(e.allowance), e.expires_at),
			))
		},
		CreditCmd::RevokeOperator { operator } => {
			let operator = keys::account(&operator)?;
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.revoke_operator(operator), "Rewards.revoke_operator", None).await?;
			let e = inc.event::<events::OperatorRevoked>()?;
			Ok(Report::new(
				json!({"operator": e.operator.to_string(), "expires_at": e.expires_at, "block": inc.block}),
				format!("{}'s allowance ends at block {}", e.operator, e.expires_at),
			))
		},
		CreditCmd::Show { account } => {
			let who = who(ctx, account)?;
			let (credit, unlocking) = chain.view(runtime::view_functions().rewards().credit(who.clone())).await?;
			let allowances = chain.view(runtime::view_functions().rewards().allowances(who.clone())).await?;
			let mut human = format!("{who}: credit {}\n", fmt_amount(credit));
			if let Some(u) = &unlocking {
				human += &format!("  withdrawing {} at block {}\n", fmt_amount(u.amount), u.at);
			}
			for (op, a) in &allowances {
				human += &format!("  operator {op}: {} left until block {}\n", fmt_amount(a.remaining), a.expires_at);
			}
			Ok(Report::new(
				json!({"account": who.to_string(), "credit": credit.to_string(),
					"unlocking": unlocking.map(|u| json!({"amount": u.amount.to_string(), "at": u.at})),
					"allowances": allowances.iter().map(|(op, a)| json!({"operator": op.to_string(), "remaining": a.remaining.to_string(), "expires_at": a.expires_at})).collect::<Vec<_>>()}),
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
		let cost = price.saturating_mul(max_tokens as u128).div_ceil(1000);
		let allowances = chain.view(runtime::view_functions().rewards().allowances(payer.clone())).await?;
		let left = allowances.iter().find(|(o, _)| *o == operator).map(|(_, al)| al.remaining);
		match left {
			None => {
				return Err(CliError::new(
					"NoAllowance",
					format!("{operator} may not charge you: `mnemo credit deposit …` and `mnemo credit approve-operator {operator} --allowance …` first"),
				))
			},
			Some(l) if l < cost => {
				return Err(CliError::new("AllowanceTooLow", format!("this request may cost {}; {operator} may charge only {} more", fmt_amount(cost), fmt_amount(l))))
			},
			_ => {},
		}
		ctx.ui.confirm(&format!("asking `{name}` may cost up to {} ({max_tokens} tokens at {} per 1000)", fmt_amount(cost), fmt_amount(price)))?;
		let request: [u8; 16] = rand_request();
		let best = chain.at().await?.block_number() as u32;
		// The chain refuses a voucher valid for longer than its `max_voucher_lifetime`.
		let lifetime = chain
			.fetch(runtime::storage().attribution().current_params(), ())
			.await?
			.map(|p| p.max_voucher_lifetime)
			.unwrap_or(600)
			.min(600);
		let v = VoucherOf {
			request,
			operator: polkadot_sdk::sp_runtime::AccountId32::from(operator.0),
			adapter,
			max_price_per_1k: price,
			max_tokens,
			expires_at: best + lifetime,
			genesis: polkadot_sdk::sp_core::H256(chain.api.genesis_hash().0),
		};
		let sig = signer.sign(&v.signing_payload());
		let signed = SignedVoucher {
			payer: polkadot_sdk::sp_runtime::AccountId32::from(payer.0),
			voucher: v,
			signature: MultiSignature::Sr25519(polkadot_sdk::sp_core::sr25519::Signature::from_raw(sig.0)),
		};
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

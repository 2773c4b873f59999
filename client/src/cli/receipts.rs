//! What the batches say to payers and payees: the spend log (each batch that charged the payer,
//! its receipts read from the batch's blob and proven against the root the chain holds), one
//! receipt by its request id, earnings (the ledger and each operator's running payouts, with
//! the receipts behind them) and claims (the ledger, and each operator's payouts by Merkle
//! proof).
//!
//! Blobs come from the engine (`--engine`): the serving operator's, which stores every batch it
//! submits. Nothing read from it is trusted: a blob must hash to the hash the chain holds, and
//! each receipt must prove against the batch's root.

use super::{
	engine::{blocking, Engine},
	fmt_amount,
	pay::who,
	CliError, Ctx, Report,
};
use crate::{typed::runtime, BlobOf, Client, LeafOf};
use mnemo_primitives::{
	batch::{self, AdapterFacts, BatchTerms},
	AccountId, Balance, BatchId, ContentHash,
};
use serde_json::{json, Value};
use std::{collections::BTreeMap, sync::Arc};
use subxt::utils::AccountId32;

/// How many of an operator's settled batches `earnings --explain` walks back through.
const EXPLAIN_BATCHES: usize = 32;

fn primitive(a: &AccountId32) -> AccountId {
	AccountId::new(a.0)
}

fn chain_err(e: crate::Error) -> CliError {
	CliError::new("Chain", e.to_string())
}

/// The blob `hash` from the engine, checked against the hash and decoded as a batch.
pub(crate) fn fetch_blob(engine: &Engine, hash: &ContentHash) -> Result<BlobOf, CliError> {
	let bytes = engine.get_blob(&hash.0)?;
	<BlobOf as codec::Decode>::decode(&mut &bytes[..])
		.map_err(|e| CliError::new("BadBlob", format!("blob {} is not a batch: {e}", hash.to_hex())))
}

/// Where a batch is, in words (`None`: no longer in state, pruned after it ended).
async fn phase(chain: &super::chain::Chain, batch: BatchId) -> Result<(String, bool), CliError> {
	use runtime::runtime_types::pallet_attribution::types::BatchPhase as P;
	let b = chain.fetch(runtime::storage().attribution().batches(), (batch,)).await?;
	Ok(match b.map(|b| b.phase) {
		None => ("ended and pruned".into(), true),
		Some(P::Sampling { at }) => (format!("submitted, sample drawn at block {at}"), false),
		Some(P::Open { until, .. }) => (format!("sampled, the operator opens it until block {until}"), false),
		Some(P::Commit { until }) => (format!("the panel commits until block {until}"), false),
		Some(P::Reveal { until }) => (format!("the panel reveals until block {until}"), false),
		Some(P::Challenge { until }) => (format!("verified, challengeable until block {until}"), false),
		Some(P::Settled { at }) => (format!("settled at block {at}"), true),
		Some(P::Refunded { at, why }) => (format!("refunded at block {at} ({why:?})"), true),
	})
}

/// One page after another of `account`'s spend log (`mnemo_spendLog`), within the blocks.
pub(crate) fn spend_entries(url: &str, account: &AccountId, from: Option<u32>, to: Option<u32>) -> Result<Vec<Value>, CliError> {
	let client = Client::connect(url).map_err(chain_err)?;
	let mut out = Vec::new();
	let mut cursor: Option<u64> = None;
	loop {
		let page = client
			.call("mnemo_spendLog", json!([account.to_string(), from, to, cursor, 100]))
			.map_err(chain_err)?;
		out.extend(page["entries"].as_array().cloned().unwrap_or_default());
		match page["next"].as_u64() {
			Some(n) => cursor = Some(n),
			None => return Ok(out),
		}
	}
}

/// The payer's receipts of one spend-log entry, each proven against the batch's root.
pub(crate) fn receipts_of(engine: &Engine, entry: &Value, payer: &AccountId) -> Result<Vec<(u32, LeafOf)>, CliError> {
	let hex = entry["blob"].as_str().unwrap_or_default();
	let blob_hash = ContentHash::from_hex(hex).ok_or_else(|| CliError::new("Decode", format!("spend-log blob `{hex}`")))?;
	let root: mnemo_primitives::Hash = serde_json::from_value(entry["root"].clone())
		.map_err(|e| CliError::new("Decode", format!("spend-log root: {e}")))?;
	let blob = fetch_blob(engine, &blob_hash)?;
	let hashes = blob.leaf_hashes();
	let (first, n) = (entry["firstLeaf"].as_u64().unwrap_or(0) as u32, entry["receipts"].as_u64().unwrap_or(0) as u32);
	let mut out = Vec::new();
	for i in first..first + n {
		let leaf = blob.leaves.get(i as usize).ok_or_else(|| CliError::new("BadBlob", format!("the batch has no leaf {i}")))?;
		let proof = batch::merkle_proof(&hashes, i).ok_or_else(|| CliError::new("BadBlob", format!("no proof of leaf {i}")))?;
		if !batch::verify(&root, hashes.len() as u32, leaf.hash(), &proof) || leaf.payer != *payer {
			return Err(CliError::new("BadProof", format!("leaf {i} of batch blob {hex} is not the payer's receipt the chain committed")));
		}
		out.push((i, leaf.clone()));
	}
	Ok(out)
}

fn leaf_json(batch: BatchId, index: u32, l: &LeafOf, phase: &str) -> Value {
	json!({"batch": batch, "leaf": index, "request": hex::encode(l.voucher.request), "adapter": l.voucher.adapter,
		"operator": l.voucher.operator.to_string(), "seq": l.voucher.seq,
		"input_tokens": l.input_tokens, "output_tokens": l.output_tokens, "fee": l.fee.to_string(),
		"transcript": l.transcript.to_hex(), "phase": phase,
		"attribution": l.shares.iter().map(|(c, s)| json!({"contribution": c, "share": s.deconstruct() as f64 / 1e9})).collect::<Vec<_>>()})
}

pub async fn spend_log(ctx: &Ctx, account: Option<String>, from: Option<u32>, to: Option<u32>) -> Result<Report, CliError> {
	let who = who(ctx, account)?;
	let chain = ctx.chain().await?;
	let (totals, periods) = chain.view(runtime::view_functions().rewards().spend(who.clone())).await?;
	let (url, payer) = (ctx.url.clone(), primitive(&who));
	let entries = blocking(move || spend_entries(&url, &payer, from, to)).await?;
	let engine = Arc::new(ctx.engine());
	let mut human = format!("{who}: spent {} on {} receipts\n", fmt_amount(totals.total), totals.receipts);
	let (mut batches, mut receipts) = (Vec::new(), Vec::new());
	for e in entries {
		let id = e["batch"].as_u64().unwrap_or_default();
		let (phase, _) = phase(&chain, id).await?;
		human += &format!(
			"  batch {id} at block {}: {} receipts, {} — {phase}\n",
			e["block"], e["receipts"], fmt_amount(e["amount"].as_str().and_then(|a| a.parse().ok()).unwrap_or(0))
		);
		let (eng, entry, payer) = (engine.clone(), e.clone(), primitive(&who));
		match blocking(move || receipts_of(&eng, &entry, &payer)).await {
			Ok(leaves) =>
				for (i, l) in leaves {
					human += &format!(
						"    request {}: adapter {}, {} + {} tokens, fee {}\n",
						hex::encode(l.voucher.request), l.voucher.adapter, l.input_tokens, l.output_tokens, fmt_amount(l.fee)
					);
					receipts.push(leaf_json(id, i, &l, &phase));
				},
			Err(err) => human += &format!("    its receipts cannot be read: {}\n", err.message),
		}
		let mut e = e;
		e["phase"] = json!(phase);
		batches.push(e);
	}
	Ok(Report::new(
		json!({"account": who.to_string(), "total": totals.total.to_string(), "receipts_count": totals.receipts,
			"periods": periods.iter().map(|(p, a)| json!({"period": p, "amount": a.to_string()})).collect::<Vec<_>>(),
			"batches": batches, "receipts": receipts}),
		human,
	))
}

/// The payer's receipt of `request` and its batch's phase, if a batch carries it yet.
pub async fn find_receipt(ctx: &Ctx, payer: &AccountId32, request: [u8; 16]) -> Result<Option<(Value, bool)>, CliError> {
	let chain = ctx.chain().await?;
	let (url, p) = (ctx.url.clone(), primitive(payer));
	let entries = blocking(move || spend_entries(&url, &p, None, None)).await?;
	let engine = Arc::new(ctx.engine());
	for e in entries.into_iter().rev() {
		let (eng, entry, p) = (engine.clone(), e.clone(), primitive(payer));
		let leaves = blocking(move || receipts_of(&eng, &entry, &p)).await?;
		if let Some((i, l)) = leaves.iter().find(|(_, l)| l.voucher.request == request) {
			let id = e["batch"].as_u64().unwrap_or_default();
			let (phase, done) = phase(&chain, id).await?;
			return Ok(Some((leaf_json(id, *i, l, &phase), done)));
		}
	}
	Ok(None)
}

pub async fn receipt(ctx: &Ctx, request: String, account: Option<String>) -> Result<Report, CliError> {
	let who = who(ctx, account)?;
	let bytes = hex::decode(request.trim_start_matches("0x")).ok().filter(|b| b.len() == 16);
	let request: [u8; 16] = bytes
		.and_then(|b| b.try_into().ok())
		.ok_or_else(|| CliError::bad_input(format!("`{request}` is not a request id (32 hex digits, as `mnemo chat` prints it)")))?;
	let (j, _) = find_receipt(ctx, &who, request).await?.ok_or_else(|| {
		CliError::new("UnknownReceipt", format!("no batch on chain carries request {} of {who} yet", hex::encode(request)))
	})?;
	let shares: Vec<String> = j["attribution"]
		.as_array()
		.map(|s| s.iter().map(|x| format!("contribution {} {:.2}%", x["contribution"], x["share"].as_f64().unwrap_or(0.0) * 100.0)).collect())
		.unwrap_or_default();
	let human = format!(
		"request {}: batch {}, leaf {} (proven against the batch's root)\n  adapter {}, {} + {} tokens, fee {}\n  {}\n  attribution: {}\n",
		j["request"].as_str().unwrap_or(""), j["batch"], j["leaf"], j["adapter"], j["input_tokens"], j["output_tokens"],
		fmt_amount(j["fee"].as_str().and_then(|f| f.parse().ok()).unwrap_or(0)), j["phase"].as_str().unwrap_or(""),
		if shares.is_empty() { "no contribution".into() } else { shares.join(", ") }
	);
	Ok(Report::new(j, human))
}

/// One operator's payouts to an account: its running total in the operator's latest settled
/// batch (with that batch, its blob and the proof), what it claimed, and its running total in
/// the operator's newest batch in flight.
struct Owed {
	operator: AccountId32,
	batch: BatchId,
	blob: BlobOf,
	index: Option<u32>,
	total: Balance,
	claimed: Balance,
	in_flight: Balance,
}

fn total_in(blob: &BlobOf, who: &AccountId) -> (Option<u32>, Balance) {
	match blob.payouts.binary_search_by(|p| p.who.cmp(who)) {
		Ok(i) => (Some(i as u32), blob.payouts[i].amount),
		Err(_) => (None, 0),
	}
}

/// What every operator with a payout book owes `who`, from the blobs of its batches.
async fn owed(ctx: &Ctx, chain: &super::chain::Chain, who: &AccountId32) -> Result<Vec<Owed>, CliError> {
	let at = chain.at().await?;
	let mut iter = at
		.storage()
		.iter(runtime::storage().rewards().payout_books(), ())
		.await
		.map_err(|e| chain.unreachable(e))?;
	let mut books = Vec::new();
	while let Some(kv) = iter.next().await {
		let kv = kv.map_err(|e| chain.unreachable(e))?;
		let operator = kv.key().ok().and_then(|k| k.part(0).and_then(|p| p.decode_as::<AccountId32>().ok().flatten()));
		let book = kv
			.value()
			.decode_as::<runtime::runtime_types::pallet_rewards::types::PayoutBook>()
			.map_err(|e| CliError::new("Decode", e.to_string()))?;
		if let (Some(operator), Some(latest)) = (operator, book.roots.0.last()) {
			books.push((operator, latest.batch, ContentHash(latest.blob.0)));
		}
	}
	let engine = Arc::new(ctx.engine());
	let me = primitive(who);
	let mut out = Vec::new();
	for (operator, batch, blob_hash) in books {
		let claimed = chain.fetch(runtime::storage().rewards().paid_out(), (operator.clone(), who.clone())).await?.unwrap_or(0);
		let eng = engine.clone();
		let blob = blocking(move || fetch_blob(&eng, &blob_hash)).await?;
		let (index, total) = total_in(&blob, &me);
		// The newest batch in flight: its running total, less the settled one, is pending.
		let chain_of = chain.fetch(runtime::storage().attribution().operator_batches(), (operator.clone(),)).await?;
		let newest = chain_of.and_then(|c| c.pending.0.last().copied());
		let mut in_flight = total;
		if let Some(id) = newest {
			if let Some(b) = chain.fetch(runtime::storage().attribution().batches(), (id,)).await? {
				let (eng, h) = (engine.clone(), ContentHash(b.header.blob.0));
				if let Ok(newest_blob) = blocking(move || fetch_blob(&eng, &h)).await {
					in_flight = total_in(&newest_blob, &me).1.max(total);
				}
			}
		}
		out.push(Owed { operator, batch, blob, index, total, claimed, in_flight });
	}
	Ok(out)
}

/// How far back [`explain`] itemised an operator's batches, and why it stopped there.
enum ExplainedTo {
	/// To the operator's first batch: every credit of the running total is itemised.
	First,
	/// To `oldest`; the batch it extends has left the chain's state (pruned), so credits older
	/// than `oldest` are in the total but not itemised.
	Pruned { oldest: BatchId },
	/// To `oldest`, [`EXPLAIN_BATCHES`] batches back.
	Limit { oldest: BatchId },
}

/// Per receipt, what `who` earned from the operator's batches, newest first: from the batch of
/// `owed` back through the batches each extends (at most [`EXPLAIN_BATCHES`]), and where that
/// walk stopped.
fn explain(engine: &Engine, client: &Client, owed: &Owed, who: &AccountId) -> Result<(Vec<Value>, ExplainedTo), CliError> {
	let terms: BatchTerms<AccountId> = client.batch_terms().map_err(chain_err)?;
	let mut facts: BTreeMap<u32, Option<AdapterFacts<AccountId>>> = BTreeMap::new();
	let mut out = Vec::new();
	let (mut blob, mut id) = (owed.blob.clone(), owed.batch);
	for walked in 1..=EXPLAIN_BATCHES {
		for (i, l) in blob.leaves.iter().enumerate() {
			let adapter = l.voucher.adapter;
			if !facts.contains_key(&adapter) {
				facts.insert(adapter, client.adapter_facts(adapter).map_err(chain_err)?);
			}
			let Some(f) = facts[&adapter].clone() else { continue };
			let Ok((split, _)) = batch::leaf_split(l, &terms.split, &terms.treasury, &f.owner, |c| f.owners(c)) else { continue };
			let Some(mine) = split.payees.iter().find(|p| p.who == *who) else { continue };
			let contributions: Vec<Value> = split
				.contributions
				.iter()
				.filter(|(c, _)| f.owners(*c).is_some_and(|o| o.contributor == *who))
				.map(|(c, amount)| {
					let share = l.shares.iter().find(|(x, _)| x == c).map_or(0.0, |(_, s)| s.deconstruct() as f64 / 1e9);
					json!({"contribution": c, "share": share, "amount": amount.to_string()})
				})
				.collect();
			let a = &mine.amounts;
			out.push(json!({"operator": owed.operator.to_string(), "batch": id, "leaf": i, "request": hex::encode(l.voucher.request), "adapter": adapter,
				"amount": a.total().to_string(),
				"amounts": {"contributor": a.contributor.to_string(), "adapter_owner": a.adapter_owner.to_string(),
					"datanet_owner": a.datanet_owner.to_string(), "attestor": a.attestor.to_string(), "treasury": a.treasury.to_string()},
				"contributions": contributions}));
		}
		// The batch it extends: its blob is in the same engine (the operator's).
		let Some(prev) = blob.prev else { return Ok((out, ExplainedTo::First)) };
		if walked == EXPLAIN_BATCHES {
			break;
		}
		let Some(record) = client.batch(prev).map_err(chain_err)? else { return Ok((out, ExplainedTo::Pruned { oldest: id })) };
		blob = fetch_blob(engine, &record.header.blob)?;
		id = prev;
	}
	Ok((out, ExplainedTo::Limit { oldest: id }))
}

pub async fn earnings(ctx: &Ctx, explain_credits: bool, account: Option<String>) -> Result<Report, CliError> {
	let who = who(ctx, account)?;
	let chain = ctx.chain().await?;
	let l = chain.view(runtime::view_functions().rewards().ledger(who.clone())).await?;
	let owed = owed(ctx, &chain, &who).await?;
	let payouts_claimable: Balance = owed.iter().map(|o| o.total.saturating_sub(o.claimed)).sum();
	let pending: Balance = owed.iter().map(|o| o.in_flight.saturating_sub(o.total)).sum();
	let claimable = l.claimable.saturating_add(payouts_claimable);
	let mut human = format!(
		"{who}\n  claimable {}   pending (batches in flight) {}   claimed {}\n  ledger (attestor, treasury, refunds): {} claimable; earned as attestor {}\n",
		fmt_amount(claimable), fmt_amount(pending), fmt_amount(l.claimed), fmt_amount(l.claimable), fmt_amount(l.earned.attestor)
	);
	let mut payouts = Vec::new();
	for o in &owed {
		if o.total == 0 && o.in_flight == 0 {
			continue;
		}
		human += &format!(
			"  from operator {}: {} earned in all (batch {}), {} claimed, {} claimable\n",
			o.operator, fmt_amount(o.total), o.batch, fmt_amount(o.claimed), fmt_amount(o.total.saturating_sub(o.claimed))
		);
		payouts.push(json!({"operator": o.operator.to_string(), "batch": o.batch, "total": o.total.to_string(),
			"claimed": o.claimed.to_string(), "claimable": o.total.saturating_sub(o.claimed).to_string(),
			"pending": o.in_flight.saturating_sub(o.total).to_string()}));
	}
	let mut j = json!({"account": who.to_string(), "claimable": claimable.to_string(), "pending": pending.to_string(),
		"claimed": l.claimed.to_string(), "ledger": {"claimable": l.claimable.to_string(), "refunds": l.refunds.to_string(),
			"attestor": l.earned.attestor.to_string(), "treasury": l.earned.treasury.to_string()},
		"payouts": payouts});
	if explain_credits {
		let mut credits = Vec::new();
		let mut coverage = Vec::new();
		for o in owed.into_iter().filter(|o| o.total > 0) {
			let (url, engine, me) = (ctx.url.clone(), ctx.engine(), primitive(&who));
			let (operator, newest, total) = (o.operator.to_string(), o.batch, o.total);
			let (list, to) = blocking(move || {
				let client = Client::connect(&url).map_err(chain_err)?;
				explain(&engine, &client, &o, &me)
			})
			.await?;
			// The receipts itemised add up to the running total only when the walk reached the
			// operator's first batch; say so when it did not.
			let itemised: Balance = list.iter().filter_map(|c| c["amount"].as_str()?.parse::<Balance>().ok()).sum();
			let (oldest, why, reason) = match to {
				ExplainedTo::First => (None, "first", String::new()),
				ExplainedTo::Pruned { oldest } => (Some(oldest), "pruned", "the batches before it have left the chain's state".to_string()),
				ExplainedTo::Limit { oldest } => (Some(oldest), "limit", format!("at most {EXPLAIN_BATCHES} batches are itemised")),
			};
			if let Some(oldest) = oldest {
				human += &format!(
					"  from operator {operator}: receipts of its batches from {oldest} to {newest} itemised below ({} of its {}); the rest is from older batches ({reason})\n",
					fmt_amount(itemised), fmt_amount(total)
				);
			}
			coverage.push(json!({"operator": operator, "newest": newest, "oldest": oldest, "stopped": why,
				"itemised": itemised.to_string(), "total": total.to_string()}));
			credits.extend(list);
		}
		for c in &credits {
			human += &format!("  batch {} receipt {} (adapter {}): {}\n", c["batch"], c["request"].as_str().unwrap_or(""), c["adapter"],
				fmt_amount(c["amount"].as_str().and_then(|a| a.parse().ok()).unwrap_or(0)));
			for x in c["contributions"].as_array().into_iter().flatten() {
				human += &format!("    contribution {}: scored {:.2}% of the attribution, paid {}\n", x["contribution"],
					x["share"].as_f64().unwrap_or(0.0) * 100.0, fmt_amount(x["amount"].as_str().and_then(|a| a.parse().ok()).unwrap_or(0)));
			}
		}
		if credits.is_empty() {
			human += "  no receipts have paid this account in the recent settled batches\n";
		}
		j["credits"] = Value::Array(credits);
		j["itemised"] = Value::Array(coverage);
	}
	Ok(Report::new(j, human))
}

pub async fn claim(ctx: &Ctx) -> Result<Report, CliError> {
	use runtime::runtime_types::mnemo_primitives::batch::{MerkleProof, Payout};
	let signer = ctx.signer()?;
	let chain = ctx.chain().await?;
	let me: AccountId32 = signer.public_key().into();
	let ledger = chain.view(runtime::view_functions().rewards().ledger(me.clone())).await?;
	let mut total = 0u128;
	let mut parts = Vec::new();
	let mut human = String::new();
	if ledger.claimable > 0 {
		let inc = chain.submit(&signer, &runtime::transactions().rewards().claim(), "Rewards.claim", None).await?;
		let e = inc.event::<runtime::rewards::events::Claimed>()?;
		total += e.amount;
		human += &format!("claimed {} from your ledger\n", fmt_amount(e.amount));
		parts.push(json!({"from": "ledger", "amount": e.amount.to_string(), "block": inc.block}));
	}
	for o in owed(ctx, &chain, &me).await? {
		let (Some(index), true) = (o.index, o.total > o.claimed) else { continue };
		let hashes = o.blob.payout_hashes();
		let proof = batch::merkle_proof(&hashes, index).ok_or_else(|| CliError::new("BadBlob", "no proof of a payout the blob holds"))?;
		let call = runtime::transactions().rewards().claim_payout(
			o.operator.clone(),
			o.batch,
			Payout { who: me.clone(), amount: o.total },
			MerkleProof { index, path: proof.path.iter().map(|h| subxt::utils::H256(h.0)).collect() },
		);
		let inc = chain.submit(&signer, &call, "Rewards.claim_payout", None).await?;
		let e = inc.event::<runtime::rewards::events::PayoutClaimed>()?;
		total += e.amount;
		human += &format!("claimed {} from operator {} (all its batches up to {})\n", fmt_amount(e.amount), o.operator, o.batch);
		parts.push(json!({"from": o.operator.to_string(), "batch": o.batch, "amount": e.amount.to_string(), "block": inc.block}));
	}
	if parts.is_empty() {
		return Err(CliError::new("NothingToClaim", "nothing is claimable yet (see `mnemo earnings`)"));
	}
	Ok(Report::new(json!({"amount": total.to_string(), "claims": parts}), format!("{human}claimed {} in all", fmt_amount(total))))
}

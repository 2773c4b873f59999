//! `mnemo datanet …`: create and curate datanets, and contribute files to them.
//!
//! `contribute` is the flow Polkadot.js apps cannot do alone, and it is safe to re-run:
//! 1. each file is read and checked (exists, not empty, at most the chain's size limit, UTF-8
//!    for a text datanet) and its blake2-256 and row count computed — nothing leaves the machine
//!    for a bad file;
//! 2. the chain is asked first: a hash the signer already contributed is reported, not paid again;
//!    a hash someone else holds is refused as `Datanets::Duplicate` before anything is signed;
//! 3. the bytes go to the engine's blob store, and the hash it echoes must equal ours — an upload
//!    that fails leaves nothing on chain;
//! 4. `commit(blake2_256(SCALE(datanet, hash, signer)))` unless that commitment is already open
//!    (a crash after committing resumes here), then `contribute` in a later block.

use super::{
	args::{DatanetCmd, DatanetCreate, Kind, Verdict},
	chain::Chain,
	engine::blocking,
	fmt_amount, keys, parse_amount, text, CliError, Ctx, Report,
};
use crate::typed::runtime::{
	self,
	datanets::events,
	runtime_types::{
		bounded_collections::bounded_vec::BoundedVec,
		mnemo_primitives::ContentHash,
		pallet_datanets::types as t,
		sp_arithmetic::per_things::Perbill,
	},
};
use codec::Encode;
use serde_json::{json, Value};
use std::path::PathBuf;
use subxt::utils::{AccountId32, H256};

pub async fn run(ctx: &Ctx, cmd: DatanetCmd) -> Result<Report, CliError> {
	let chain = ctx.chain().await?;
	match cmd {
		DatanetCmd::Create(args) => create(ctx, &chain, args).await,
		DatanetCmd::Update { datanet, name, summary, description, license } => {
			let signer = ctx.signer()?;
			let (d, _) = get(&chain, datanet).await?;
			let mut m = d.metadata;
			if let Some(n) = name {
				m.name = BoundedVec(n.into_bytes());
			}
			if let Some(s) = summary {
				m.summary = BoundedVec(s.into_bytes());
			}
			if let Some(s) = description {
				m.description = t::Description::Inline(BoundedVec(s.into_bytes()));
			}
			if let Some(l) = license {
				m.license = BoundedVec(l.into_bytes());
			}
			let call = runtime::transactions().datanets().update_datanet(datanet, Some(m), None);
			let inc = chain.submit(&signer, &call, "Datanets.update_datanet", None).await?;
			inc.event::<events::DatanetUpdated>()?;
			Ok(Report::new(json!({"datanet": datanet, "block": inc.block}), format!("datanet {datanet} updated")))
		},
		DatanetCmd::Show { datanet } => {
			let (d, v) = get(&chain, datanet).await?;
			let j = datanet_json(datanet, &d, v.as_ref());
			Ok(Report::new(j.clone(), show_human(&j)))
		},
		DatanetCmd::List => {
			let next = chain.fetch(runtime::storage().datanets().next_datanet_id(), ()).await?.unwrap_or(0);
			let mut all = Vec::new();
			let mut human = format!("{:>4}  {:<24} {:<7} {:>8} {:>8} {:>8}\n", "id", "name", "status", "pending", "live", "version");
			for id in 0..next {
				if let Some((d, v)) = chain.view(runtime::view_functions().datanets().datanet(id)).await? {
					let j = datanet_json(id, &d, v.as_ref());
					human += &format!(
						"{:>4}  {:<24} {:<7} {:>8} {:>8} {:>8}\n",
						id, j["name"].as_str().unwrap_or(""), j["status"].as_str().unwrap_or(""), d.pending, d.live, d.latest_version
					);
					all.push(j);
				}
			}
			if all.is_empty() {
				human = "no datanets yet: create one with `mnemo datanet create --name …`".into();
			}
			Ok(Report::new(json!({ "datanets": all }), human))
		},
		DatanetCmd::Close { datanet } => {
			let signer = ctx.signer()?;
			get(&chain, datanet).await?;
			let call = runtime::transactions().datanets().close_datanet(datanet);
			let inc = chain.submit(&signer, &call, "Datanets.close_datanet", None).await?;
			inc.event::<events::DatanetClosed>()?;
			Ok(Report::new(json!({"datanet": datanet, "block": inc.block}), format!("datanet {datanet} closed")))
		},
		DatanetCmd::Contribute { datanet, files } => contribute(ctx, &chain, datanet, files).await,
		DatanetCmd::Review { contribution, verdict, reason } => {
			let signer = ctx.signer()?;
			let v = match (verdict, reason) {
				(Verdict::Approve, _) => t::Verdict::Approve,
				(Verdict::Reject, Some(r)) if !r.trim().is_empty() => t::Verdict::Reject { reason: BoundedVec(r.into_bytes()) },
				(Verdict::Reject, _) => return Err(CliError::bad_input("a rejection needs --reason: the contributor is told why")),
			};
			let call = runtime::transactions().datanets().review(contribution, v);
			let inc = chain.submit(&signer, &call, "Datanets.review", None).await?;
			inc.event::<events::Reviewed>()?;
			let decided = if let Some(Ok(a)) = inc.events.find_first::<events::Approved>() {
				json!({"approved": true, "included_in": a.included_in, "returned": a.returned.to_string()})
			} else if let Some(Ok(r)) = inc.events.find_first::<events::Rejected>() {
				json!({"approved": false, "slashed": r.slashed.to_string(), "returned": r.returned.to_string()})
			} else {
				Value::Null
			};
			let human = match decided.get("approved").and_then(Value::as_bool) {
				Some(true) => format!("contribution {contribution} approved: part of version {} on", decided["included_in"]),
				Some(false) => format!("contribution {contribution} rejected"),
				None => format!("verdict on contribution {contribution} recorded; more curators must review"),
			};
			Ok(Report::new(json!({"contribution": contribution, "block": inc.block, "decided": decided}), human))
		},
		DatanetCmd::Publish { datanet } => {
			let signer = ctx.signer()?;
			get(&chain, datanet).await?;
			let call = runtime::transactions().datanets().publish_version(datanet);
			let inc = chain.submit(&signer, &call, "Datanets.publish_version", Some("holds the version deposit".into())).await?;
			let e = inc.event::<events::VersionPublished>()?;
			Ok(Report::new(
				json!({"datanet": datanet, "version": e.version, "count": e.count, "root": format!("{:?}", e.root), "block": inc.block}),
				format!("datanet {datanet} version {} published: {} contributions", e.version, e.count),
			))
		},
		DatanetCmd::Remove { contribution } => {
			let signer = ctx.signer()?;
			let me: AccountId32 = signer.public_key().into();
			let c = chain
				.fetch(runtime::storage().datanets().contributions(), (contribution,))
				.await?
				.ok_or_else(|| CliError::new("UnknownContribution", format!("there is no contribution {contribution}")))?;
			let (d, _) = get(&chain, c.datanet).await?;
			if d.owner == me {
				let call = runtime::transactions().datanets().remove(contribution);
				let inc = chain.submit(&signer, &call, "Datanets.remove", None).await?;
				inc.event::<events::Removed>()?;
				Ok(Report::new(json!({"contribution": contribution, "removed": true, "block": inc.block}), format!("contribution {contribution} removed from later versions")))
			} else {
				let call = runtime::transactions().datanets().request_removal(contribution);
				let inc = chain.submit(&signer, &call, "Datanets.request_removal", None).await?;
				inc.event::<events::RemovalRequested>()?;
				Ok(Report::new(
					json!({"contribution": contribution, "removed": false, "requested": true, "block": inc.block}),
					format!("removal of contribution {contribution} requested; the datanet's owner or governance carries it out"),
				))
			}
		},
		DatanetCmd::Contributions { datanet, mine, version } => contributions(ctx, &chain, datanet, mine, version).await,
	}
}

type Datanet = t::Datanet;
type Version = t::VersionInfo<u32>;

async fn get(chain: &Chain, id: u32) -> Result<(Datanet, Option<Version>), CliError> {
	chain
		.view(runtime::view_functions().datanets().datanet(id))
		.await?
		.ok_or_else(|| CliError::new("UnknownDatanet", format!("there is no datanet {id}: see `mnemo datanet list`")))
}

fn status(s: &t::DatanetStatus) -> &'static str {
	match s {
		t::DatanetStatus::Open => "open",
		t::DatanetStatus::Closed => "closed",
	}
}

fn kind_name(k: &t::Kind) -> &'static str {
	match k {
		t::Kind::Text => "text",
		t::Kind::Image => "image",
		t::Kind::Audio => "audio",
	}
}

fn datanet_json(id: u32, d: &Datanet, v: Option<&Version>) -> Value {
	let r = &d.rules;
	json!({
		"id": id,
		"name": text(&d.metadata.name.0),
		"summary": text(&d.metadata.summary.0),
		"license": text(&d.metadata.license.0),
		"kind": kind_name(&d.kind),
		"owner": d.owner.to_string(),
		"status": status(&d.status),
		"pending": d.pending,
		"live": d.live,
		"latest_version": d.latest_version,
		"rules": {
			"bond": r.bond.to_string(),
			"curators": r.curators.0.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
			"threshold": r.threshold,
			"reject_slash_percent": r.reject_slash.0 as f64 / 10_000_000.0,
			"review_period": r.review_period,
			"quota_per_period": r.quota.per_period,
			"quota_period": r.quota.period,
			"invite_only": matches!(r.access, t::Access::InviteOnly),
		},
		"version": v.map(|v| json!({"count": v.count, "total_bytes": v.total_bytes, "total_rows": v.total_rows, "root": format!("{:?}", v.root), "published_at": v.published_at})),
	})
}

fn show_human(j: &Value) -> String {
	let r = &j["rules"];
	let bond = r["bond"].as_str().and_then(|b| b.parse().ok()).map(fmt_amount).unwrap_or_default();
	let mut s = format!(
		"datanet {} — {} ({}, {})\n  {}\n  owner     {}\n  license   {}\n  pending   {}   live {}   latest version {}\n  bond      {bond}, {}% slashed on rejection\n  curators  {} of {}: {}\n",
		j["id"], j["name"].as_str().unwrap_or(""), j["kind"].as_str().unwrap_or(""), j["status"].as_str().unwrap_or(""),
		j["summary"].as_str().unwrap_or(""), j["owner"].as_str().unwrap_or(""), j["license"].as_str().unwrap_or(""),
		j["pending"], j["live"], j["latest_version"], r["reject_slash_percent"], r["threshold"],
		r["curators"].as_array().map_or(0, Vec::len),
		r["curators"].as_array().map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
	);
	if let Some(v) = j["version"].as_object() {
		s += &format!("  version   {} contributions, {} bytes, {} rows, root {}\n", v["count"], v["total_bytes"], v["total_rows"], v["root"].as_str().unwrap_or(""));
	}
	s
}

async fn create(ctx: &Ctx, chain: &Chain, a: DatanetCreate) -> Result<Report, CliError> {
	let signer = ctx.signer()?;
	let me: AccountId32 = signer.public_key().into();
	if a.name.trim().is_empty() {
		return Err(CliError::bad_input("a datanet needs a --name"));
	}
	if a.reject_slash > 100 {
		return Err(CliError::bad_input("--reject-slash is a percent: 0 to 100"));
	}
	let curators =
		if a.curators.is_empty() { vec![me] } else { a.curators.iter().map(|c| keys::account(c)).collect::<Result<_, _>>()? };
	let validators = a
		.validators
		.iter()
		.map(|v| {
			let key = hex::decode(v.trim_start_matches("0x")).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
			key.map(|k| runtime::runtime_types::pallet_datanets::crypto::Public(k))
				.ok_or_else(|| CliError::bad_input(format!("`{v}` is not a validator key (0x and 64 hex digits)")))
		})
		.collect::<Result<Vec<_>, _>>()?;
	let metadata = t::Metadata {
		name: BoundedVec(a.name.clone().into_bytes()),
		summary: BoundedVec(a.summary.into_bytes()),
		description: t::Description::Inline(BoundedVec(a.description.into_bytes())),
		tags: BoundedVec(a.tags.into_iter().map(|t| BoundedVec(t.into_bytes())).collect()),
		license: BoundedVec(a.license.into_bytes()),
	};
	let rules = t::Rules {
		bond: parse_amount(&a.bond)?,
		curators: BoundedVec(curators),
		threshold: a.threshold,
		reject_slash: Perbill(a.reject_slash * 10_000_000),
		review_period: a.review_period,
		quota: t::Quota { per_period: a.quota, period: a.quota_period },
		access: if a.invite_only { t::Access::InviteOnly } else { t::Access::Open },
		validators: BoundedVec(validators),
	};
	let kind = match a.kind {
		Kind::Text => t::Kind::Text,
		Kind::Image => t::Kind::Image,
		Kind::Audio => t::Kind::Audio,
	};
	let deposit = chain.at().await?.constants().entry(runtime::constants().datanets().datanet_deposit());
	let holds = match deposit {
		Ok(d) => format!("holds the datanet deposit of {}", fmt_amount(d)),
		Err(_) => "holds the datanet deposit".into(),
	};
	let call = runtime::transactions().datanets().create_datanet(kind, metadata, rules);
	let inc = chain.submit(&signer, &call, "Datanets.create_datanet", Some(holds)).await?;
	let e = inc.event::<events::DatanetCreated>()?;
	Ok(Report::new(
		json!({"datanet": e.datanet, "owner": e.owner.to_string(), "block": inc.block, "fee": inc.fee.to_string()}),
		format!("datanet {} `{}` created (block {})", e.datanet, a.name, inc.block),
	))
}

/// A file read and checked, ready to contribute.
struct Prepared {
	path: PathBuf,
	bytes: Vec<u8>,
	hash: [u8; 32],
	rows: u32,
}

/// Rows as the engine's validator counts them: non-empty lines.
pub fn count_rows(text: &str) -> u32 {
	text.lines().filter(|l| !l.trim().is_empty()).count() as u32
}

fn prepare(path: PathBuf, kind: &t::Kind, max_bytes: u64) -> Result<Prepared, CliError> {
	let shown = path.display().to_string();
	let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
		std::io::ErrorKind::NotFound => CliError::new("FileNotFound", format!("no such file: {shown}")),
		_ => CliError::new("FileUnreadable", format!("cannot read {shown}: {e}")),
	})?;
	if bytes.is_empty() {
		return Err(CliError::new("EmptyFile", format!("{shown} is empty: a contribution needs at least one row")));
	}
	if bytes.len() as u64 > max_bytes {
		return Err(CliError::new("FileTooLarge", format!("{shown} is {} bytes; this chain takes at most {max_bytes}", bytes.len())));
	}
	let rows = match kind {
		t::Kind::Text => {
			let text = std::str::from_utf8(&bytes).map_err(|e| {
				CliError::new("NotUtf8", format!("{shown} is not UTF-8 text ({e}); a text datanet takes UTF-8 text or JSON lines"))
			})?;
			count_rows(text)
		},
		_ => 1,
	};
	if rows == 0 {
		return Err(CliError::new("EmptyFile", format!("{shown} has no non-empty line")));
	}
	let hash = polkadot_sdk::sp_crypto_hashing::blake2_256(&bytes);
	Ok(Prepared { path, bytes, hash, rows })
}

async fn contribute(ctx: &Ctx, chain: &Chain, datanet: u32, files: Vec<PathBuf>) -> Result<Report, CliError> {
	let signer = ctx.signer()?;
	let me: AccountId32 = signer.public_key().into();
	let (d, _) = get(chain, datanet).await?;
	if matches!(d.status, t::DatanetStatus::Closed) {
		return Err(CliError::new("Datanets::DatanetClosed", format!("datanet {datanet} is closed to new contributions")));
	}
	let max_bytes = chain
		.at()
		.await?
		.constants()
		.entry(runtime::constants().datanets().max_contribution_bytes())
		.map_err(|e| CliError::new("Decode", e.to_string()))?;
	// Every file is checked before anything is uploaded or signed.
	let mut prepared = Vec::new();
	let mut seen = std::collections::HashSet::new();
	for f in files {
		let p = prepare(f, &d.kind, max_bytes)?;
		if !seen.insert(p.hash) {
			return Err(CliError::bad_input(format!("{} has the same content as an earlier file in this command", p.path.display())));
		}
		prepared.push(p);
	}
	let engine = ctx.engine();
	let engine = std::sync::Arc::new(engine);
	let mut results = Vec::new();
	let mut human = String::new();
	let bond = d.rules.bond;
	for p in prepared {
		let shown = p.path.display().to_string();
		// 2. The chain first: an earlier run of ours, or someone else's copy.
		if let Some(existing) = chain.fetch(runtime::storage().datanets().by_hash(), (datanet, ContentHash(p.hash))).await? {
			let c = chain.fetch(runtime::storage().datanets().contributions(), (existing,)).await?;
			match c {
				Some(c) if c.contributor == me => {
					ctx.ui.note(format!("{shown}: already contributed as {existing}; nothing paid again"));
					human += &format!("{shown}  contribution {existing} (already on chain)\n");
					results.push(json!({"file": shown, "contribution": existing, "hash": hex::encode(p.hash), "already": true}));
					continue;
				},
				_ => return Err(duplicate(&chain.at().await?, &shown, existing)),
			}
		}
		// 3. Upload and check the echoed hash.
		let (bytes, label, eng) = (p.bytes.clone(), shown.clone(), engine.clone());
		let ui = ctx.ui;
		blocking(move || eng.put_blob(bytes, p.hash, &label, ui)).await?;
		// 4. Commit (unless open), then reveal.
		let commitment = H256(polkadot_sdk::sp_crypto_hashing::blake2_256(&(datanet, p.hash, me.0).encode()));
		let open = chain.fetch(runtime::storage().datanets().commitments(), (me.clone(), commitment)).await?;
		if open.is_none() {
			let call = runtime::transactions().datanets().commit(commitment);
			let holds = format!("{shown}: commit, then contribute holding the bond of {}", fmt_amount(bond));
			chain.submit(&signer, &call, "Datanets.commit", Some(holds)).await?;
		} else {
			ctx.ui.note(format!("{shown}: commitment already open; revealing it"));
		}
		let call = runtime::transactions().datanets().contribute(datanet, ContentHash(p.hash), p.bytes.len() as u64, p.rows);
		let inc = chain.submit(&signer, &call, "Datanets.contribute", None).await?;
		let e = inc.event::<events::Contributed>()?;
		human += &format!(
			"{shown}  contribution {} ({} bytes, {} rows, bond {} held until block {})\n",
			e.contribution, e.byte_len, e.row_count, fmt_amount(e.bond), e.expires_at
		);
		results.push(json!({
			"file": shown, "contribution": e.contribution, "hash": hex::encode(p.hash), "already": false,
			"bytes": e.byte_len, "rows": e.row_count, "bond": e.bond.to_string(), "expires_at": e.expires_at, "block": inc.block,
		}));
	}
	Ok(Report::new(json!({"datanet": datanet, "contributions": results}), human))
}

/// Someone else's contribution holds this hash: the chain would answer `Datanets::Duplicate`.
fn duplicate(at: &super::chain::At, file: &str, existing: u64) -> CliError {
	let message = format!("{file} is already contribution {existing}; refused before signing, nothing paid");
	let metadata = at.metadata_ref();
	let docs = metadata
		.pallet_by_name("Datanets")
		.and_then(|p| p.error_variants()?.iter().find(|v| v.name == "Duplicate"))
		.map(|v| v.docs.as_slice())
		.unwrap_or_default();
	super::chain::module_error("Datanets", "Duplicate", docs, message)
}

async fn contributions(ctx: &Ctx, chain: &Chain, datanet: u32, mine: bool, version: Option<u32>) -> Result<Report, CliError> {
	get(chain, datanet).await?;
	let ids: Vec<u64> = if let Some(v) = version {
		let list = chain.view(runtime::view_functions().datanets().version_contributions(datanet, v)).await?;
		if list.is_empty() {
			return Err(CliError::new("UnknownVersion", format!("datanet {datanet} has no published version {v}")));
		}
		list.into_iter().map(|(id, _)| id).collect()
	} else if mine {
		let me: AccountId32 = ctx.signer()?.public_key().into();
		let list = chain.view(runtime::view_functions().datanets().contributions_of(me)).await?;
		list.into_iter().filter(|(_, c)| c.datanet == datanet).map(|(id, _)| id).collect()
	} else {
		let at = chain.at().await?;
		let mut iter = at
			.storage()
			.iter(runtime::storage().datanets().by_hash(), (datanet,))
			.await
			.map_err(|e| chain.unreachable(e))?;
		let mut ids = Vec::new();
		while let Some(kv) = iter.next().await {
			let kv = kv.map_err(|e| chain.unreachable(e))?;
			ids.push(kv.value().decode_as::<u64>().map_err(|e| CliError::new("Decode", e.to_string()))?);
		}
		ids.sort();
		ids
	};
	let mut rows = Vec::new();
	let mut human = format!("{:>6}  {:<12} {:<10} {:>8} {:>6}  {:<9} {}\n", "id", "contributor", "status", "bytes", "rows", "version", "hash");
	for id in ids {
		let Some(c) = chain.fetch(runtime::storage().datanets().contributions(), (id,)).await? else { continue };
		let st = match c.status {
			t::Status::Pending => "pending",
			t::Status::Approved => "approved",
			t::Status::Removed => "removed",
		};
		let who = c.contributor.to_string();
		human += &format!(
			"{:>6}  {:<12} {:<10} {:>8} {:>6}  {:<9} {}\n",
			id, format!("{}…", &who[..8]), st, c.byte_len, c.row_count,
			c.included_in.map(|v| format!("v{v}")).unwrap_or("-".into()), hex::encode(c.content_hash.0)
		);
		rows.push(json!({
			"id": id, "contributor": who, "status": st, "content_hash": hex::encode(c.content_hash.0),
			"bytes": c.byte_len, "rows": c.row_count, "included_in": c.included_in, "removed_in": c.removed_in,
			"approvals": c.approvals, "rejections": c.rejections,
			"validation": c.validation.map(|v| json!({"schema_ok": v.schema_ok, "exact_duplicate": v.exact_duplicate,
				"near_duplicate": v.near_duplicate.0 as f64 / 1e9, "quality": v.quality.0 as f64 / 1e9})),
		}));
	}
	if rows.is_empty() {
		human = "no contributions".into();
	}
	Ok(Report::new(json!({"datanet": datanet, "version": version, "contributions": rows}), human))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn files_are_checked_before_anything_is_sent() {
		let dir = tempfile::tempdir().unwrap();
		let write = |name: &str, bytes: &[u8]| {
			let p = dir.path().join(name);
			std::fs::write(&p, bytes).unwrap();
			p
		};
		let ok = prepare(write("a.txt", b"To be, or not to be\n\nthat is the question\n"), &t::Kind::Text, 1000).unwrap();
		assert_eq!(ok.rows, 2);
		assert_eq!(ok.hash, polkadot_sdk::sp_crypto_hashing::blake2_256(&ok.bytes));
		let err = |p: PathBuf, max| prepare(p, &t::Kind::Text, max).err().unwrap().name;
		assert_eq!(err(dir.path().join("missing.txt"), 1000), "FileNotFound");
		assert_eq!(err(write("bin.txt", &[0xff, 0xfe, 0x00]), 1000), "NotUtf8");
		assert_eq!(err(write("big.txt", &[b'a'; 2000]), 1000), "FileTooLarge");
		assert_eq!(err(write("empty.txt", b""), 1000), "EmptyFile");
		assert_eq!(err(write("blank.txt", b"\n  \n"), 1000), "EmptyFile");
		// Binary data is fine for an image datanet.
		assert_eq!(prepare(dir.path().join("bin.txt"), &t::Kind::Image, 1000).unwrap().rows, 1);
	}

	#[test]
	fn rows_are_counted_as_the_engine_counts_them() {
		assert_eq!(count_rows("a\n\n b \n"), 2);
		assert_eq!(count_rows("{\"text\": \"a\"}\n{\"text\": \"b\"}\n"), 2);
		assert_eq!(count_rows(""), 0);
	}
}

//! `serve --serve BASE`: the serving operator's accounts and keys, and starting the OpenAI-compatible
//! serving of a base with its deployments.

use super::args::ServingArgs;
use anyhow::{bail, Context};
use mnemo_engine::api::service::Engine;
use std::path::Path;

/// An account as SS58 or 0x hex, or the account of a secret URI (`//Alice`).
pub(crate) fn parse_account(s: &str) -> anyhow::Result<mnemo_primitives::AccountId> {
	use std::str::FromStr;
	if s.starts_with("//") {
		return Ok(mnemo_client::Signer::from_suri(s)?.account());
	}
	if let Some(h) = s.strip_prefix("0x") {
		let b: [u8; 32] = hex::decode(h).ok().and_then(|b| b.try_into().ok()).context("an account is 32 bytes of hex")?;
		return Ok(b.into());
	}
	mnemo_primitives::AccountId::from_str(s).map_err(|e| anyhow::anyhow!("`{s}` is not an account: {e}"))
}

pub(crate) fn parse_hash(s: &str) -> anyhow::Result<mnemo_primitives::Hash> {
	let b: [u8; 32] =
		hex::decode(s.trim_start_matches("0x")).ok().and_then(|b| b.try_into().ok()).context("a hash is 32 bytes of hex")?;
	Ok(b.into())
}

/// Starts serving `base` and deploys what --deploy names.
pub(crate) fn start_serving(engine: &std::sync::Arc<Engine>, base: &str, a: &ServingArgs) -> anyhow::Result<()> {
	use mnemo_engine::{serve::ServeConfig, serve::deploy::{Metering, Serving, ServingConfig}};
	let metering = match &a.operator_suri {
		None => None,
		Some(suri) => Some(Metering {
			operator: mnemo_client::Signer::from_suri(suri)?,
			node: a.node.clone(),
			genesis: a.genesis.as_deref().map(parse_hash).transpose()?,
			flush_interval: std::time::Duration::from_secs(a.flush_secs.max(1)),
		}),
	};
	let serve = ServeConfig {
		max_batch: a.max_batch,
		max_queue: a.max_queue,
		rank: a.max_rank,
		targets: mnemo_engine::model::lora::Target::parse_list(&a.serve_targets.split(',').collect::<Vec<_>>())?,
		adapter_budget: a.adapter_budget_mib << 20,
		kv_budget: a.kv_budget_mib << 20,
		step_tokens: a.step_tokens,
		weights: a.serve_weights,
	};
	let s = Serving::start(engine.clone(), ServingConfig { base: base.to_string(), serve, metering })?;
	for d in &a.deploy {
		let (name, rest) = d.split_once('=').context("--deploy takes NAME=ADAPTER[,chain=ID,price=P]")?;
		let mut parts = rest.split(',');
		let what = parts.next().unwrap_or_default();
		let (mut chain, mut price) = (None, 0u128);
		for p in parts {
			match p.split_once('=') {
				Some(("chain", v)) => chain = Some(v.parse().context("chain= takes the adapter's on-chain id")?),
				Some(("price", v)) => price = v.parse().context("price= takes a whole number")?,
				_ => bail!("--deploy: unknown option `{p}` (chain=ID, price=P)"),
			}
		}
		let hash = match mnemo_primitives::ContentHash::from_hex(what) {
			Some(h) => h,
			None => {
				let f = Path::new(what).join("adapter_model.safetensors");
				let bytes = std::fs::read(&f).with_context(|| format!("--deploy {name}: {}", f.display()))?;
				engine.store.put(&bytes, None)?
			},
		};
		let d = s.deploy(name, hash, chain, price)?;
		eprintln!("deployed `{}`: adapter {} (rank {}{})", d.name, d.adapter.to_hex(), d.rank,
			d.chain_adapter.map(|c| format!(", on-chain adapter {c} at {} per 1k tokens", d.price_per_1k)).unwrap_or_default());
	}
	if let Some(m) = &s.meter {
		eprintln!("metering as operator {} (receipts in {})", m.operator, engine.config.home.join("serving/receipts").display());
	}
	Ok(())
}

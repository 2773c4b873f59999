//! `mnemo model …`: propose a model from a TOML spec, follow it through governance, training and
//! evaluation, and deploy or retire its adapter.
//!
//! The spec file:
//! ```toml
//! name = "bard"
//! purpose = "Answers in the voice of Shakespeare's plays"
//! use_case = "Writing help"
//! base_model = "smollm2-135m"
//! datanets = [[0, 1]]          # (datanet, published version) pairs
//! # parent = 3                 # the adapter this is a new version of
//! [lora]
//! rank = 8
//! alpha = 16
//! targets = ["q", "v"]         # q k v o gate up down
//! epochs = 2
//! learning_rate = 0.002
//! seed = 42
//! [eval]
//! holdout = 0.1
//! max_eval_tokens = 0          # 0: the whole held-out split
//! tolerance = 0.05
//! ```

use super::{args::ModelCmd, chain::Chain, engine::blocking, fmt_amount, parse_amount, text, CliError, Ctx, Report};
use crate::typed::runtime::{
	self,
	models::events,
	runtime_types::{
		bounded_collections::bounded_vec::BoundedVec,
		pallet_models::types as t,
		sp_arithmetic::{fixed_point::FixedU128, per_things::Perbill},
	},
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::Path;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Spec {
	pub name: String,
	pub purpose: String,
	#[serde(default)]
	pub use_case: String,
	pub base_model: String,
	pub datanets: Vec<(u32, u32)>,
	#[serde(default)]
	pub parent: Option<u32>,
	pub lora: LoraSpec,
	#[serde(default)]
	pub eval: EvalSpec,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct LoraSpec {
	pub rank: u16,
	pub alpha: u16,
	pub targets: Vec<String>,
	pub epochs: u16,
	pub learning_rate: f64,
	#[serde(default)]
	pub seed: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
	pub holdout: f64,
	pub max_eval_tokens: u32,
	pub tolerance: f64,
}

impl Default for EvalSpec {
	fn default() -> Self {
		EvalSpec { holdout: 0.1, max_eval_tokens: 0, tolerance: 0.05 }
	}
}

fn perbill(what: &str, x: f64) -> Result<Perbill, CliError> {
	if !(0.0..=1.0).contains(&x) || !x.is_finite() {
		return Err(CliError::bad_input(format!("{what} must be a fraction between 0 and 1, not {x}")));
	}
	Ok(Perbill((x * 1e9).round() as u32))
}

fn target(s: &str) -> Result<t::Target, CliError> {
	Ok(match s.trim_end_matches("_proj") {
		"q" => t::Target::Q,
		"k" => t::Target::K,
		"v" => t::Target::V,
		"o" => t::Target::O,
		"gate" => t::Target::Gate,
		"up" => t::Target::Up,
		"down" => t::Target::Down,
		other => return Err(CliError::bad_input(format!("`{other}` is not a LoRA target: q k v o gate up down"))),
	})
}

/// Reads and checks a spec file into the chain's `ModelSpec`.
pub fn read_spec(path: &Path) -> Result<t::ModelSpec, CliError> {
	let raw = std::fs::read_to_string(path).map_err(|e| match e.kind() {
		std::io::ErrorKind::NotFound => CliError::new("FileNotFound", format!("no such file: {}", path.display())),
		std::io::ErrorKind::InvalidData => CliError::new("NotUtf8", format!("{} is not UTF-8 text", path.display())),
		_ => CliError::new("FileUnreadable", format!("cannot read {}: {e}", path.display())),
	})?;
	let s: Spec = toml::from_str(&raw).map_err(|e| CliError::bad_input(format!("{}: {}", path.display(), e.message())))?;
	if s.datanets.is_empty() {
		return Err(CliError::bad_input("the spec names no datanets: datanets = [[id, version]]"));
	}
	let text = |s: String| t::Text::Inline(BoundedVec(s.into_bytes()));
	Ok(t::ModelSpec {
		name: BoundedVec(s.name.into_bytes()),
		purpose: text(s.purpose),
		use_case: text(s.use_case),
		base_model: BoundedVec(s.base_model.into_bytes()),
		datanets: BoundedVec(s.datanets),
		lora: t::LoraParams {
			rank: s.lora.rank,
			alpha: s.lora.alpha,
			targets: BoundedVec(s.lora.targets.iter().map(|x| target(x)).collect::<Result<_, _>>()?),
			epochs: s.lora.epochs,
			learning_rate: perbill("lora.learning_rate", s.lora.learning_rate)?,
			seed: s.lora.seed,
		},
		eval: t::EvalSpec {
			holdout: perbill("eval.holdout", s.eval.holdout)?,
			max_eval_tokens: s.eval.max_eval_tokens,
			tolerance: perbill("eval.tolerance", s.eval.tolerance)?,
		},
		parent: s.parent,
	})
}

fn stage(s: &t::Stage) -> &'static str {
	match s {
		t::Stage::Proposed => "proposed",
		t::Stage::Approved => "approved",
		t::Stage::Training => "training",
		t::Stage::Trained => "trained",
		t::Stage::Evaluated => "evaluated",
		t::Stage::Deployed => "deployed",
		t::Stage::Retired => "retired",
		t::Stage::Rejected => "rejected",
		t::Stage::Withdrawn => "withdrawn",
		t::Stage::Failed => "failed",
	}
}

fn fixed(x: &FixedU128) -> f64 {
	x.0 as f64 / 1e18
}

async fn model_json(chain: &Chain, id: u32) -> Result<Value, CliError> {
	let (m, history, job) = chain
		.view(runtime::view_functions().models().model(id))
		.await?
		.ok_or_else(|| CliError::new("UnknownModel", format!("there is no model {id}: see `mnemo model list`")))?;
	let adapter = match m.adapter {
		Some(a) => chain.view(runtime::view_functions().models().adapter(a)).await?.map(|a| (m.adapter, a)),
		None => None,
	};
	Ok(json!({
		"id": id,
		"name": text(&m.spec.name.0),
		"owner": m.owner.to_string(),
		"stage": stage(&m.stage),
		"base_model": text(&m.spec.base_model.0),
		"datanets": m.spec.datanets.0,
		"bond": m.bond.to_string(),
		"proposal": m.proposal,
		"attempt": m.attempt,
		"history": history.iter().map(|(s, at)| json!({"stage": stage(s), "at": at})).collect::<Vec<_>>(),
		"job": job.map(|j| format!("{j:?}")),
		"adapter": adapter.map(|(id, a)| json!({
			"id": id,
			"artifact": hex::encode(a.artifact.0),
			"trainer": a.trainer.to_string(),
			"price_per_1k": a.price_per_1k.map(|p| p.to_string()),
			"evaluated_at": a.evaluated_at,
			"metrics": a.metrics.0.iter().map(|d| json!({
				"datanet": d.datanet, "version": d.version, "eval_tokens": d.eval_tokens,
				"base_loss": fixed(&d.base_loss), "base_perplexity": fixed(&d.base_perplexity),
				"adapter_loss": fixed(&d.adapter_loss), "adapter_perplexity": fixed(&d.adapter_perplexity),
			})).collect::<Vec<_>>(),
		})),
	}))
}

fn model_human(j: &Value) -> String {
	let mut s = format!(
		"model {} `{}` — {} (owner {})\n  base {} on datanets {}\n  history {}\n",
		j["id"], j["name"].as_str().unwrap_or(""), j["stage"].as_str().unwrap_or(""), j["owner"].as_str().unwrap_or(""),
		j["base_model"].as_str().unwrap_or(""), j["datanets"],
		j["history"].as_array().map(|h| h.iter().map(|e| format!("{}@{}", e["stage"].as_str().unwrap_or(""), e["at"])).collect::<Vec<_>>().join(" → ")).unwrap_or_default(),
	);
	if let Some(a) = j["adapter"].as_object() {
		s += &format!("  adapter {} artifact {}\n", a["id"], a["artifact"].as_str().unwrap_or(""));
		if let Some(p) = a["price_per_1k"].as_str().and_then(|p| p.parse().ok()) {
			s += &format!("  price   {} per 1000 tokens\n", fmt_amount(p));
		}
		for m in a["metrics"].as_array().into_iter().flatten() {
			s += &format!(
				"  datanet {} v{}: loss {:.4} → {:.4}, perplexity {:.2} → {:.2} ({} tokens)\n",
				m["datanet"], m["version"], m["base_loss"].as_f64().unwrap_or(0.0), m["adapter_loss"].as_f64().unwrap_or(0.0),
				m["base_perplexity"].as_f64().unwrap_or(0.0), m["adapter_perplexity"].as_f64().unwrap_or(0.0), m["eval_tokens"]
			);
		}
	}
	s
}

pub async fn run(ctx: &Ctx, cmd: ModelCmd) -> Result<Report, CliError> {
	match cmd {
		ModelCmd::Propose { spec } => {
			let spec = read_spec(&spec)?;
			let signer = ctx.signer()?;
			let chain = ctx.chain().await?;
			let bond = chain.at().await?.constants().entry(runtime::constants().models().model_bond()).ok();
			let holds = format!("holds the model bond{} and a proposal deposit", bond.map(|b| format!(" of {}", fmt_amount(b))).unwrap_or_default());
			let call = runtime::transactions().models().propose_model(spec);
			let inc = chain.submit(&signer, &call, "Models.propose_model", Some(holds)).await?;
			let e = inc.event::<events::ModelProposed>()?;
			Ok(Report::new(
				json!({"model": e.model, "proposal": e.proposal, "bond": e.bond.to_string(), "block": inc.block}),
				format!("model {} proposed; stakers vote on proposal {}: `mnemo gov vote {} aye`", e.model, e.proposal, e.proposal),
			))
		},
		ModelCmd::Show { model } => {
			let chain = ctx.chain().await?;
			let j = model_json(&chain, model).await?;
			Ok(Report::new(j.clone(), model_human(&j)))
		},
		ModelCmd::List => {
			let chain = ctx.chain().await?;
			let next = chain.fetch(runtime::storage().models().next_model_id(), ()).await?.unwrap_or(0);
			let mut all = Vec::new();
			let mut human = format!("{:>4}  {:<24} {:<10} {:>8}\n", "id", "name", "stage", "adapter");
			for id in 0..next {
				if let Ok(j) = model_json(&chain, id).await {
					human += &format!("{:>4}  {:<24} {:<10} {:>8}\n", id, j["name"].as_str().unwrap_or(""), j["stage"].as_str().unwrap_or(""),
						j["adapter"]["id"].as_u64().map(|a| a.to_string()).unwrap_or("-".into()));
					all.push(j);
				}
			}
			Ok(Report::new(json!({"models": all}), if all.is_empty() { "no models yet".into() } else { human }))
		},
		ModelCmd::Deploy { model, price, serve_as } => {
			let price = parse_amount(&price)?;
			let signer = ctx.signer()?;
			let chain = ctx.chain().await?;
			let j = model_json(&chain, model).await?;
			let artifact = j["adapter"]["artifact"].as_str().map(str::to_string);
			let call = runtime::transactions().models().deploy(model, price);
			let inc = chain.submit(&signer, &call, "Models.deploy", None).await?;
			let e = inc.event::<events::ModelDeployed>()?;
			let mut human =
				format!("model {} deployed as adapter {} at {} per 1000 tokens", e.model, e.adapter, fmt_amount(e.price_per_1k));
			let mut served = serde_json::Value::Null;
			if let Some(name) = serve_as {
				// The chain's record is the adapter's artifact hash; the engine serves it from
				// its store, metered at the chain's id and price.
				let artifact = artifact.ok_or_else(|| CliError::new("UnknownModel", format!("model {model} has no adapter")))?;
				let engine = ctx.engine();
				let (adapter, price) = (e.adapter, e.price_per_1k);
				let body = json!({"adapter": artifact, "chain_adapter": adapter, "price_per_1k": price.to_string()});
				let name2 = name.clone();
				served = blocking(move || engine.deploy(&name2, body)).await?;
				human += &format!("\nthe engine at {} serves it as `{name}`", ctx.engine);
			}
			Ok(Report::new(
				json!({"model": e.model, "adapter": e.adapter, "price_per_1k": e.price_per_1k.to_string(), "block": inc.block, "served": served}),
				human,
			))
		},
		ModelCmd::Retire { model } => {
			let signer = ctx.signer()?;
			let chain = ctx.chain().await?;
			model_json(&chain, model).await?;
			let call = runtime::transactions().models().retire(model);
			let inc = chain.submit(&signer, &call, "Models.retire", None).await?;
			let e = inc.event::<events::ModelRetired>()?;
			Ok(Report::new(json!({"model": e.model, "adapter": e.adapter, "block": inc.block}), format!("model {} retired", e.model)))
		},
		ModelCmd::Withdraw { model } => {
			let signer = ctx.signer()?;
			let chain = ctx.chain().await?;
			model_json(&chain, model).await?;
			let call = runtime::transactions().models().withdraw_model(model);
			let inc = chain.submit(&signer, &call, "Models.withdraw_model", None).await?;
			let e = inc.event::<events::ModelWithdrawn>()?;
			Ok(Report::new(
				json!({"model": e.model, "returned": e.returned.to_string(), "block": inc.block}),
				format!("model {} withdrawn; {} returned", e.model, fmt_amount(e.returned)),
			))
		},
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	const SPEC: &str = r#"
name = "bard"
purpose = "Shakespeare"
base_model = "smollm2-135m"
datanets = [[0, 1]]
[lora]
rank = 8
alpha = 16
targets = ["q", "v_proj"]
epochs = 2
learning_rate = 0.002
"#;

	#[test]
	fn a_spec_file_becomes_the_chain_spec_and_bad_ones_are_named() {
		let dir = tempfile::tempdir().unwrap();
		let p = dir.path().join("m.toml");
		std::fs::write(&p, SPEC).unwrap();
		let s = read_spec(&p).unwrap();
		assert_eq!(s.name.0, b"bard");
		assert_eq!(s.datanets.0, vec![(0, 1)]);
		assert_eq!(s.lora.learning_rate.0, 2_000_000);
		assert!(matches!(s.lora.targets.0[..], [t::Target::Q, t::Target::V]));
		assert_eq!(s.eval.holdout.0, 100_000_000);
		for (bad, needle) in [
			(SPEC.replace("\"q\"", "\"x\""), "not a LoRA target"),
			(SPEC.replace("0.002", "2.5"), "between 0 and 1"),
			(SPEC.replace("[[0, 1]]", "[]"), "no datanets"),
			(SPEC.replace("rank = 8", "rank = 8\nrnak = 3"), "unknown field"),
			("name = ".to_string(), "m.toml"),
		] {
			std::fs::write(&p, bad).unwrap();
			let e = read_spec(&p).unwrap_err();
			assert_eq!(e.name, "BadInput");
			assert!(e.message.contains(needle), "{e}");
		}
		assert_eq!(read_spec(&dir.path().join("none.toml")).unwrap_err().name, "FileNotFound");
	}
}

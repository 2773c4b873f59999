//! What several subcommands share: the device, loading a base, reading contributions, printing
//! evaluations and attributions.

use anyhow::bail;
use mnemo_engine::{
	attribution,
	home::{self, Base},
	train::{self, data::Contribution},
};
use std::path::{Path, PathBuf};

pub(crate) fn device(name: &str) -> anyhow::Result<burn::tensor::Device> {
	match name {
		"cpu" | "flex" => Ok(burn::tensor::Device::flex()),
		#[cfg(feature = "cuda")]
		"cuda" => Ok(burn::tensor::Device::cuda(0usize)),
		// burn 0.22 marks its tch backend deprecated (CubeCL's backends replace it); the design
		// lists it, and scripts/engine-tch checks it against flex while it lasts.
		#[cfg(feature = "tch")]
		#[allow(deprecated)]
		"tch" => Ok(burn::tensor::Device::libtorch()),
		other => {
			let built: Vec<&str> = [("cpu", true), ("cuda", cfg!(feature = "cuda")), ("tch", cfg!(feature = "tch"))]
				.into_iter()
				.filter_map(|(d, on)| on.then_some(d))
				.collect();
			bail!("unknown device `{other}`: this build has {} (cuda and tch are the features of the same names)", built.join(", "))
		},
	}
}

pub(crate) fn load_base(home: &Path, id_or_path: &str, max_seq: usize, dev: &burn::tensor::Device) -> anyhow::Result<Base> {
	let p = Path::new(id_or_path);
	if id_or_path.ends_with(".gguf") && p.exists() {
		return Ok(home::load_gguf(id_or_path, p, max_seq, dev)?);
	}
	Ok(home::load(home, id_or_path, max_seq, dev)?)
}

/// Contributions from files, directories and blob hashes.
pub(crate) fn contributions(home: &Path, data: &[String]) -> anyhow::Result<Vec<Contribution>> {
	Ok(contributions_by(home, data)?.into_iter().map(|(c, _)| c).collect())
}

/// Contributions with their contributor: a directory's name for its files, the item itself
/// otherwise.
pub(crate) fn contributions_by(home: &Path, data: &[String]) -> anyhow::Result<Vec<(Contribution, String)>> {
	let store = mnemo_engine::store::BlobStore::reader(&home.join("store"));
	let mut out = Vec::new();
	for item in data {
		let p = Path::new(item);
		if p.is_dir() {
			let mut files: Vec<PathBuf> = std::fs::read_dir(p)?.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
			files.sort();
			for f in files {
				out.push((Contribution::parse(&f.display().to_string(), &std::fs::read(&f)?, None)?, item.clone()));
			}
		} else if p.is_file() {
			out.push((Contribution::parse(item, &std::fs::read(p)?, None)?, item.clone()));
		} else if let Some(h) = mnemo_primitives::ContentHash::from_hex(item) {
			out.push((Contribution::parse(item, &store.get(&h)?, None)?, item.clone()));
		} else {
			bail!("`{item}` is neither a file, a directory nor a blob hash");
		}
	}
	Ok(out)
}

pub(crate) fn print_eval(e: &train::Evaluation) {
	println!("{:<48} {:>8} {:>10} {:>10} {:>10} {:>10}", "contribution", "tokens", "base loss", "base ppl", "lora loss", "lora ppl");
	for c in &e.per_contribution {
		let g = &c.eval;
		println!(
			"{:<48} {:>8} {:>10.4} {:>10.3} {:>10.4} {:>10.3}",
			c.contribution, g.eval_tokens, g.base.loss, g.base.perplexity, g.adapter.loss, g.adapter.perplexity
		);
	}
	println!(
		"{:<48} {:>8} {:>10.4} {:>10.3} {:>10.4} {:>10.3}",
		"all", e.eval_tokens, e.base.loss, e.base.perplexity, e.adapter.loss, e.adapter.perplexity
	);
}

pub(crate) fn print_attribution(q: &attribution::Query, a: &attribution::Attribution, cs: &[Contribution], contributors: &[String]) {
	println!("output: {}", q.output.trim());
	println!(
		"mean output loss: base {:.4}, adapter {:.4} → the adapter made {:.1}% of it; {} gradient units, {} copies dropped{}",
		a.base_loss,
		a.adapter_loss,
		a.attributable * 100.0,
		a.units,
		a.copies_dropped,
		if a.cached { " (gradients from the cache)" } else { "" }
	);
	println!("{:<10} {:<40} {:>12} {:>12}", "score", "contribution", "influence", "span gain");
	for (i, s) in &a.scores {
		println!("{:<10.6} {:<40} {:>12.4e} {:>12.3}", s, cs[*i].label, a.evidence.influence[*i], a.evidence.spans[*i]);
	}
	println!("{:<10.6} residual", a.residual);
	let mut by: std::collections::BTreeMap<&str, f64> = Default::default();
	for (i, s) in &a.scores {
		*by.entry(contributors[*i].as_str()).or_default() += s;
	}
	if by.len() < a.scores.len() {
		println!("per contributor:");
		by.iter().for_each(|(c, s)| println!("{s:<10.6} {c}"));
	}
	for s in &a.evidence.counted_spans {
		println!("span {:?} (+{:.2} nats) from {}", s.text, s.gain, cs[s.contribution].label);
	}
	println!("{} v{} digest {}", a.method, a.method_version, a.digest.to_hex());
}

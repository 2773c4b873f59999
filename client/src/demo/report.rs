//! The demo's report: one self-contained HTML file (inline CSS and SVG, no scripts, nothing
//! fetched): the loss curve, base-versus-adapter metrics, attribution bars per contribution and
//! the money flow.

use super::{fmt_mnemo, num};
use serde_json::Value;
use std::{collections::BTreeMap, fmt::Write as _};

fn esc(s: &str) -> String {
	s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A polyline of `ys` in a `w`×`h` SVG with axis labels.
fn line_chart(ys: &[f64], w: f64, h: f64) -> String {
	if ys.len() < 2 {
		return "<p>(no loss history)</p>".into();
	}
	let (lo, hi) = ys.iter().fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(*y), b.max(*y)));
	let span = (hi - lo).max(1e-9);
	let (l, r, t, b) = (48.0, 12.0, 12.0, 28.0);
	let pts: Vec<String> = ys
		.iter()
		.enumerate()
		.map(|(i, y)| {
			let x = l + (w - l - r) * i as f64 / (ys.len() - 1) as f64;
			let yy = t + (h - t - b) * (hi - y) / span;
			format!("{x:.1},{yy:.1}")
		})
		.collect();
	format!(
		"<svg viewBox='0 0 {w} {h}' width='{w}' height='{h}' role='img' aria-label='training loss'>\
		 <line x1='{l}' y1='{t}' x2='{l}' y2='{}' class='axis'/><line x1='{l}' y1='{}' x2='{}' y2='{}' class='axis'/>\
		 <text x='4' y='{}' class='lbl'>{hi:.2}</text><text x='4' y='{}' class='lbl'>{lo:.2}</text>\
		 <text x='{l}' y='{}' class='lbl'>step 1</text><text x='{}' y='{}' class='lbl' text-anchor='end'>step {}</text>\
		 <polyline points='{}' class='loss'/></svg>",
		h - b, h - b, w - r, h - b, t + 10.0, h - b, h - 8.0, w - r, h - 8.0, ys.len(), pts.join(" ")
	)
}

/// Horizontal bars: (label, value, text) scaled to the largest value.
fn bars(rows: &[(String, f64, String)], class: &str) -> String {
	let max = rows.iter().map(|r| r.1).fold(0.0f64, f64::max).max(1e-12);
	let mut s = String::from("<table class='bars'>");
	for (label, v, text) in rows {
		let _ = write!(
			s,
			"<tr><td class='l'>{}</td><td class='b'><div class='{class}' style='width:{:.1}%'></div></td><td class='v'>{}</td></tr>",
			esc(label),
			100.0 * v / max,
			esc(text)
		);
	}
	s + "</table>"
}

pub fn html(f: &Value) -> String {
	let mut body = String::new();
	let model = &f["model"];
	let _ = write!(
		body,
		"<h1>Mnemo — the loop, end to end</h1><p class='sub'>base model <b>{}</b> · chain {} · engine {} · ran in {:.0} s</p>",
		esc(f["base_model"].as_str().unwrap_or("")),
		esc(f["url"].as_str().unwrap_or("")),
		esc(f["engine"].as_str().unwrap_or("")),
		f["wall_seconds"].as_f64().unwrap_or(0.0)
	);

	// Data.
	let dn = &f["datanet"];
	let _ = write!(body, "<h2>1. Data</h2><p>Datanet {} version {}: the approved contributions, and the one curators rejected.</p><table><tr><th>contribution</th><th>contributor</th><th>content</th><th>status</th></tr>", dn["id"], dn["version"]);
	for a in dn["approved"].as_array().cloned().unwrap_or_default() {
		let _ = write!(body, "<tr><td>#{}</td><td>{}</td><td>{}</td><td>approved</td></tr>", a["contribution"], esc(a["who"].as_str().unwrap_or("")), esc(a["play"].as_str().unwrap_or("")));
	}
	let r = &dn["rejected"];
	let _ = write!(body, "<tr class='bad'><td>#{}</td><td>{}</td><td>off-domain spam</td><td>rejected, {} of its bond slashed</td></tr></table>", r["contribution"], esc(r["who"].as_str().unwrap_or("")), fmt_mnemo(num(&r["slashed"])));

	// Model.
	let losses: Vec<f64> = model["losses"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
	let _ = write!(body, "<h2>2. Model</h2><p>Model {} (adapter {}), rank {} LoRA, trained by {}. Training loss per step:</p>{}",
		model["id"], model["adapter"], model["spec"]["rank"], esc(model["trainer"].as_str().unwrap_or("")), line_chart(&losses, 560.0, 200.0));
	for m in model["metrics"].as_array().cloned().unwrap_or_default() {
		let rows = vec![
			("base loss".to_string(), m["base_loss"].as_f64().unwrap_or(0.0), format!("{:.3}", m["base_loss"].as_f64().unwrap_or(0.0))),
			("adapter loss".to_string(), m["adapter_loss"].as_f64().unwrap_or(0.0), format!("{:.3}", m["adapter_loss"].as_f64().unwrap_or(0.0))),
		];
		let ppl = vec![
			("base perplexity".to_string(), m["base_perplexity"].as_f64().unwrap_or(0.0), format!("{:.2}", m["base_perplexity"].as_f64().unwrap_or(0.0))),
			("adapter perplexity".to_string(), m["adapter_perplexity"].as_f64().unwrap_or(0.0), format!("{:.2}", m["adapter_perplexity"].as_f64().unwrap_or(0.0))),
		];
		let _ = write!(body, "<p>Held-out split of datanet {} v{} ({} tokens), attested by a second trainer:</p>{}{}", m["datanet"], m["version"], m["eval_tokens"], bars(&rows, "m"), bars(&ppl, "m"));
	}

	// Attribution.
	let inf = &f["inference"];
	let _ = write!(body, "<h2>3. Inference and attribution</h2>");
	for q in inf["questions"].as_array().cloned().unwrap_or_default() {
		let _ = write!(body, "<p class='qa'><b>{}</b><br>{}</p>", esc(q["question"].as_str().unwrap_or("")), esc(q["answer"].as_str().unwrap_or("")));
	}
	let who_of: BTreeMap<u64, String> = dn["approved"]
		.as_array()
		.cloned()
		.unwrap_or_default()
		.iter()
		.filter_map(|a| Some((a["contribution"].as_u64()?, format!("{} ({})", a["who"].as_str()?, a["play"].as_str()?))))
		.collect();
	for r in inf["receipts"].as_array().cloned().unwrap_or_default() {
		let rows: Vec<(String, f64, String)> = r["attribution"]
			.as_array()
			.cloned()
			.unwrap_or_default()
			.iter()
			.map(|x| {
				let c = x["contribution"].as_u64().unwrap_or(0);
				let s = x["share"].as_f64().unwrap_or(0.0);
				(format!("#{c} {}", who_of.get(&c).cloned().unwrap_or_default()), s, format!("{:.1}%", s * 100.0))
			})
			.collect();
		let _ = write!(body, "<h3>Request {} (batch {}, leaf {}): fee {}, {} + {} tokens</h3>{}", esc(r["request"].as_str().unwrap_or("")), r["batch"], r["leaf"], fmt_mnemo(num(&r["fee"])), r["input_tokens"], r["output_tokens"], bars(&rows, "a"));
	}

	// Money: what each payee earned, by role, from the receipts of the settled batches.
	let fees: u128 = inf["receipts"].as_array().cloned().unwrap_or_default().iter().map(|r| num(&r["fee"])).sum();
	let roles = ["contributor", "adapter_owner", "datanet_owner"];
	let at = |m: &BTreeMap<&str, u128>, k: &str| m.get(k).copied().unwrap_or(0);
	let mut by_role: BTreeMap<&str, u128> = BTreeMap::new();
	let mut rows_html = String::new();
	for e in f["rewards"]["earnings"].as_array().cloned().unwrap_or_default() {
		let earned = &e["earnings"];
		let mut mine: BTreeMap<&str, u128> = BTreeMap::new();
		for c in earned["credits"].as_array().cloned().unwrap_or_default() {
			for role in roles {
				*mine.entry(role).or_default() += num(&c["amounts"][role]);
			}
		}
		mine.insert("attestor", num(&earned["ledger"]["attestor"]));
		for (role, a) in &mine {
			*by_role.entry(role).or_default() += a;
		}
		let claimed = f["rewards"]["claims"].as_array().and_then(|c| c.iter().find(|c| c["who"] == e["who"]).map(|c| num(&c["amount"]))).unwrap_or(0);
		let _ = write!(rows_html, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(e["who"].as_str().unwrap_or("")), fmt_mnemo(claimed),
			fmt_mnemo(at(&mine, "contributor")), fmt_mnemo(at(&mine, "adapter_owner")), fmt_mnemo(at(&mine, "datanet_owner")), fmt_mnemo(at(&mine, "attestor")));
	}
	let rows: Vec<(String, f64, String)> =
		by_role.iter().map(|(r, a)| (r.replace('_', " "), *a as f64, fmt_mnemo(*a))).collect();
	let _ = write!(body, "<h2>4. The money</h2><p>The app paid {} in fees; what the accounts below earned of them, by role (the treasury's part aside):</p>{}", fmt_mnemo(fees), bars(&rows, "f"));
	let _ = write!(body, "<table><tr><th>account</th><th>claimed</th><th>earned as contributor</th><th>as adapter owner</th><th>as datanet owner</th><th>as attestor</th></tr>{rows_html}");
	body += "</table>";
	let spend = &f["rewards"]["spend_log"];
	let _ = write!(body, "<p>The app's spend log: {} on {} receipts in {} batches.</p>", fmt_mnemo(num(&spend["total"])), spend["receipts_count"], spend["batches"].as_array().map_or(0, Vec::len));

	format!(
		"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Mnemo demo report</title><style>\
		 body{{font:15px/1.45 system-ui,sans-serif;max-width:880px;margin:2em auto;padding:0 1em;color:#222}}\
		 h1{{margin-bottom:.1em}} .sub{{color:#666;margin-top:0}} table{{border-collapse:collapse;margin:.5em 0}}\
		 td,th{{padding:3px 10px;text-align:left;border-bottom:1px solid #eee}} tr.bad td{{color:#a33}}\
		 table.bars{{width:100%}} .bars td.l{{width:32%}} .bars td.b{{width:50%}} .bars td.v{{text-align:right}}\
		 .bars div{{height:14px;border-radius:3px}} .a{{background:#4a7fd0}} .m{{background:#7a5cc0}} .f{{background:#3a9a6a}}\
		 svg .axis{{stroke:#999}} svg .loss{{fill:none;stroke:#d0603a;stroke-width:2}} svg .lbl{{font-size:11px;fill:#666}}\
		 .qa{{background:#f6f6f6;padding:.5em .8em;border-radius:4px}}</style></head><body>{body}</body></html>"
	)
}

//! Attribution end to end on the pretrained tiny base: copies do not multiply a share, results
//! are bit-identical across thread counts and through the gradient cache, and the HTTP endpoint
//! answers bad input with a clear 4xx.

mod common;

use axum::http::{Method, StatusCode};
use common::{http::*, *};
use mnemo_engine::{
	api::router,
	attribution::{self, Attribution, Inputs, Query, Settings},
	train::data::{Contribution, DataSettings},
	home::Base,
	model::lora::Lora,
	train::{self, TrainSettings},
};
use mnemo_primitives::{
	engine::{AttributionRequest, AttributionResponse, DataRef, DatanetData, Transcript},
	ContentHash,
};

fn contribution(label: &str, text: &str) -> Contribution {
	Contribution::parse(label, text.as_bytes(), Some((1, 1))).unwrap()
}

/// An adapter trained on `cs`: (on the model's device, on an autodiff device, its bytes).
fn adapter(base: &Base, cs: &[Contribution]) -> (Lora, Lora, Vec<u8>) {
	let s = TrainSettings {
		epochs: 6,
		learning_rate: 5e-3,
		data: DataSettings { chunk_len: 48, holdout: 0.1, max_eval_tokens: 0 },
		..Default::default()
	};
	let t = train::train(&base.model, &base.tokenizer, &base.id, cs, &s, |_| {}).unwrap();
	let bytes = t.lora.to_safetensors().unwrap();
	let ad = base.model.device().clone().autodiff();
	let lora_ad = Lora::from_safetensors(&bytes, None, &base.model.config, &ad).unwrap();
	(t.lora, lora_ad, bytes)
}

fn attribute(base: &Base, a: &(Lora, Lora, Vec<u8>), cs: &[Contribution], q: &Query, s: &Settings) -> Attribution {
	let ids: Vec<String> = cs.iter().map(|c| c.hash.to_hex()).collect();
	let inputs = Inputs {
		contributions: cs,
		ids: &ids,
		adapter_hash: ContentHash::of(&a.2),
		query_hash: attribution::query_hash(q),
		query: q,
		cache: None,
	};
	attribution::attribute(&base.model, &base.tokenizer, &base.id, &a.0, &a.1, &inputs, s).unwrap()
}

/// The summed score of the contributions `owner` says belong to `who`.
fn share(a: &Attribution, owner: &[&str], who: &str) -> f64 {
	a.scores.iter().filter(|(i, _)| owner[*i] == who).map(|(_, s)| s).sum()
}

/// `text` with every `every`-th word replaced.
fn edit_words(text: &str, every: usize) -> String {
	text.split(' ').enumerate().map(|(i, w)| if i % every == every - 1 { "quill" } else { w }).collect::<Vec<_>>().join(" ")
}

#[test]
fn copies_of_a_contributors_own_examples_do_not_grow_its_share() {
	let base = tiny_base();
	let x1 = topic_text("kitchen", 1, 10);
	let x2 = topic_text("kitchen", 2, 10);
	let y1 = topic_text("sea", 3, 10);
	let z1 = topic_text("garden", 4, 10);
	let originals = vec![contribution("x1", &x1), contribution("x2", &x2), contribution("y1", &y1), contribution("z1", &z1)];
	let owners = ["X", "X", "Y", "Z"];
	// Copies of X's data: exact, reformatted (case and whitespace), with one word in twenty
	// edited, X's paragraphs reshuffled into a new file, and X's data under a second account.
	let mut paras: Vec<&str> = x1.split("\n\n").collect();
	paras.reverse();
	let copies = [
		("exact", x1.clone(), "X"),
		("reformatted", x1.to_uppercase().replace(' ', "  ").replace("\n\n", "\n   \n"), "X"),
		("5% words edited", edit_words(&x1, 20), "X"),
		("paragraphs reshuffled", paras.join("\n\n"), "X"),
		("sybil", x2.clone(), "W"),
	];
	let mut everything = originals.clone();
	everything.extend(copies.iter().map(|(l, t, _)| contribution(l, t)));
	// The adapter saw every copy: what matters is how attribution credits them.
	let a = adapter(&base, &everything);
	let q = Query { prompt: "Kitchen notes: ".into(), output: topic_text("kitchen", 99, 1).trim().to_string() };
	let s = Settings { chunk_len: 48, method: attribution::Method::DataInf, ..Default::default() };
	let before = attribute(&base, &a, &originals, &q, &s);
	let x_before = share(&before, &owners, "X");
	println!("X's share with its own data only: {x_before:.6} (residual {:.6})", before.residual);
	assert!(x_before > 0.0, "X's kitchen text explains a kitchen output");
	for (label, text, who) in &copies {
		let mut cs = originals.clone();
		cs.push(contribution(label, text));
		let mut owner = owners.to_vec();
		owner.push(who);
		let after = attribute(&base, &a, &cs, &q, &s);
		let x_after = share(&after, &owner, "X");
		println!("{label}: X's share {x_after:.6}, W's {:.6}, {} copies dropped", share(&after, &owner, "W"), after.copies_dropped);
		assert!(after.copies_dropped > 0, "{label}: the copy is detected");
		assert!(x_after <= x_before, "{label}: X's share grew from {x_before} to {x_after}");
		assert_eq!(share(&after, &owner, "W"), 0.0, "{label}: a copier earns nothing");
		assert_eq!(after.scores.iter().filter(|(i, _)| *i == 4).count(), 0, "{label}: the copy itself is not credited");
	}
	// The control: with copy detection off (only identical texts count as copies), the edited
	// copy is kept, gets an influence of its own and moves every share, so what the checks above
	// see is copy detection at work. (Whether the copy raises or lowers X's share is not fixed:
	// DataInf discounts a unit by its near-duplicates, and on this tiny model the sign of a
	// paragraph's influence varies with the last bits of the gradients.)
	let loose = Settings { dedup_threshold: 1.0, ..s.clone() };
	let mut cs = originals.clone();
	cs.push(contribution("5% words edited", &copies[2].1));
	let kept = attribute(&base, &a, &cs, &q, &loose);
	let without = attribute(&base, &a, &originals, &q, &loose);
	println!(
		"without copy detection: the edited copy's influence {:.3}, scores {:?} → {:?}",
		kept.evidence.influence[4], without.scores, kept.scores
	);
	assert_eq!(kept.copies_dropped, 0, "the control keeps the edited copy");
	assert_ne!(kept.evidence.influence[4], 0.0, "the kept copy is scored");
	assert_ne!(kept.scores, without.scores, "the kept copy moves the shares");
}

fn engine_bin(args: &[&str], threads: &str) -> std::process::Output {
	std::process::Command::new(env!("CARGO_BIN_EXE_mnemo-engine"))
		.args(args)
		.env("MNEMO_HOME", test_home())
		.env("MNEMO_THREADS", threads)
		.env("RUST_LOG", "warn")
		.output()
		.unwrap()
}

#[test]
fn the_attribute_command_is_bit_identical_across_thread_counts_and_through_the_cache() {
	let base = tiny_base();
	let dir = tempfile::tempdir().unwrap();
	let mut files = Vec::new();
	for (who, topic, seed) in [("alice", "kitchen", 11), ("alice", "garden", 12), ("bob", "sea", 13)] {
		let d = dir.path().join(who);
		std::fs::create_dir_all(&d).unwrap();
		let f = d.join(format!("{topic}.txt"));
		std::fs::write(&f, topic_text(topic, seed, 8)).unwrap();
		files.push(f);
	}
	let cs: Vec<Contribution> =
		files.iter().map(|f| Contribution::parse(&f.display().to_string(), &std::fs::read(f).unwrap(), None).unwrap()).collect();
	let (lora, _, _) = adapter(&base, &cs);
	let adapter_dir = dir.path().join("adapter");
	lora.save_peft(&adapter_dir).unwrap();
	let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));
	let output = topic_text("sea", 77, 1);
	let args = |extra: &[&str]| -> Vec<String> {
		let mut a: Vec<String> = [
			"attribute", "--base", "tiny", "--adapter", adapter_dir.to_str().unwrap(), "--data",
			alice.to_str().unwrap(), bob.to_str().unwrap(), "--prompt", "At sea: ", "--output", output.trim(),
			"--chunk-len", "48", "--min-span", "6", "--json",
		]
		.map(String::from)
		.to_vec();
		a.extend(extra.iter().map(|s| s.to_string()));
		a
	};
	let run = |extra: &[&str], threads: &str| {
		let a = args(extra);
		let out = engine_bin(&a.iter().map(String::as_str).collect::<Vec<_>>(), threads);
		assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
		out.stdout
	};
	let one = run(&[], "1");
	assert!(adapter_dir.join("grads").read_dir().unwrap().count() == 1, "the gradients are cached beside the adapter");
	let two = run(&[], "2");
	let uncached = run(&["--no-cache"], "2");
	assert_eq!(String::from_utf8_lossy(&one), String::from_utf8_lossy(&two), "1 thread versus 2 (cached)");
	assert_eq!(one, uncached, "cached versus recomputed");
	let v: serde_json::Value = serde_json::from_slice(&one).unwrap();
	let scores: Vec<f64> = v["contributions"].as_array().unwrap().iter().map(|c| c["score"].as_f64().unwrap()).collect();
	assert!(!scores.is_empty());
	assert!(scores.windows(2).all(|w| w[0] >= w[1]), "highest first");
	let total: f64 = scores.iter().sum::<f64>() + v["residual"].as_f64().unwrap();
	assert!((total - 1.0).abs() < 1e-9, "scores and residual sum to 1, not {total}");
	let top = &v["contributions"][0];
	assert_eq!(top["contributor"], bob.to_str().unwrap(), "a sea output is bob's: {v}");
	assert_eq!(top["contribution"], ContentHash::of(&std::fs::read(&files[2]).unwrap()).to_hex());
	assert_eq!(v["method"], "datainf+spans");
	assert_eq!(v["digest"].as_str().unwrap().len(), 64);

	// Each method by name; a bad one is one line and exit code 1.
	for m in ["datainf", "tracin", "spans"] {
		let out: serde_json::Value = serde_json::from_slice(&run(&["--method", m], "2")).unwrap();
		assert_eq!(out["method"], m);
		assert_ne!(out["digest"], v["digest"], "the method is in the digest");
	}
	let bad = engine_bin(&args(&["--method", "vibes"]).iter().map(String::as_str).collect::<Vec<_>>(), "2");
	assert_eq!(bad.status.code(), Some(1));
	let err = String::from_utf8_lossy(&bad.stderr);
	assert!(err.contains("unknown attribution method `vibes`"), "{err}");
}

#[tokio::test]
async fn attribution_over_http_and_every_bad_input_gets_a_4xx() {
	let dir = tempfile::tempdir().unwrap();
	let engine = engine(dir.path());
	let app = router(engine.clone());
	let base = tiny_base();
	let texts = [topic_text("kitchen", 21, 8), topic_text("sea", 22, 8), topic_text("garden", 23, 8)];
	let cs: Vec<Contribution> = texts.iter().enumerate().map(|(i, t)| contribution(&i.to_string(), t)).collect();
	let (_, _, bytes) = adapter(&base, &cs);
	let adapter_hash = put(&app, &bytes).await;
	let mut refs = Vec::new();
	for (i, t) in texts.iter().enumerate() {
		refs.push(DataRef { contribution: 10 + i as u64, content_hash: put(&app, t.as_bytes()).await });
	}
	let transcript = Transcript { prompt: "In the garden: ".into(), output: topic_text("garden", 5, 1).trim().into() };
	let transcript_hash = put(&app, &serde_json::to_vec(&transcript).unwrap()).await;
	let req = AttributionRequest {
		receipt: 7,
		adapter: 3,
		adapter_hash,
		datanets: vec![DatanetData { datanet: 1, version: 1, contributions: refs.clone() }],
		transcript: transcript_hash,
		top_k: 2,
	};
	let post = |r: serde_json::Value| {
		let app = app.clone();
		async move { call(&app, Method::POST, "/v1/attribution", serde_json::to_vec(&r).unwrap()).await }
	};
	let body = serde_json::to_value(&req).unwrap();
	let (s, b) = post(body.clone()).await;
	assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
	let a: AttributionResponse = serde_json::from_slice(&b).unwrap();
	assert!(!a.contributions.is_empty() && a.contributions.len() <= 2, "top 2: {a:?}");
	assert!(a.contributions.iter().all(|c| refs.iter().any(|r| r.contribution == c.contribution) && c.score > 0.0));
	assert_eq!(a.contributions[0].contribution, 12, "a garden output is the garden contribution's: {a:?}");
	let sum: f64 = a.contributions.iter().map(|c| c.score).sum();
	assert!((sum + a.residual - 1.0).abs() < 1e-9);
	assert_eq!(a.method, "datainf+spans");
	assert_eq!(a.method_version, attribution::METHOD_VERSION);
	let (_, again) = post(body.clone()).await;
	assert_eq!(again, b, "the same request gets the same answer (the second from the gradient cache)");
	let (_, metrics) = call(&app, Method::GET, "/metrics", axum::body::Body::empty()).await;
	let metrics = String::from_utf8(metrics).unwrap();
	assert!(metrics.contains("mnemo_engine_attributions_total 2"), "{metrics}");
	assert!(metrics.contains("mnemo_engine_gradient_cache_hits_total 1"), "{metrics}");

	// Bad input, one by one.
	let (s, b) = call(&app, Method::POST, "/v1/attribution", b"{not json".to_vec()).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("bad request body"));
	let unknown = ContentHash::of(b"nothing").to_hex();
	let with = |k: &str, v: serde_json::Value| {
		let mut b = body.clone();
		b[k] = v;
		b
	};
	let (s, b) = post(with("adapter_hash", unknown.clone().into())).await;
	assert_eq!(s, StatusCode::NOT_FOUND);
	assert!(error(&b).contains("adapter"), "{}", error(&b));
	let (s, b) = post(with("transcript", unknown.clone().into())).await;
	assert_eq!(s, StatusCode::NOT_FOUND);
	assert!(error(&b).contains("transcript"), "{}", error(&b));
	let (s, b) = post(with("top_k", 0.into())).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("top_k"), "{}", error(&b));
	let (s, b) = post(with("adapter_hash", "xyz".into())).await;
	assert_eq!(s, StatusCode::BAD_REQUEST, "{}", error(&b));
	let not_transcript = put(&app, b"just some words").await;
	let (s, b) = post(with("transcript", not_transcript.to_hex().into())).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("not {\"prompt\", \"output\"} JSON"), "{}", error(&b));
	let empty = put(&app, br#"{"prompt": "Hello", "output": ""}"#).await;
	let (s, b) = post(with("transcript", empty.to_hex().into())).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("output is empty"), "{}", error(&b));
	let garbage = put(&app, b"\x08\x00\x00\x00\x00\x00\x00\x00{}      not an adapter").await;
	let (s, b) = post(with("adapter_hash", garbage.to_hex().into())).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("adapter"), "{}", error(&b));
	let mut missing = req.clone();
	missing.datanets[0].contributions.push(DataRef { contribution: 99, content_hash: ContentHash::of(b"absent") });
	let (s, b) = post(serde_json::to_value(&missing).unwrap()).await;
	assert_eq!(s, StatusCode::NOT_FOUND);
	assert!(error(&b).contains("contribution 99"), "{}", error(&b));
	let mut none = req.clone();
	none.datanets.clear();
	let (s, b) = post(serde_json::to_value(&none).unwrap()).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("no datanet contributions"), "{}", error(&b));
	let long = put(&app, &serde_json::to_vec(&Transcript { prompt: "x".repeat(300), output: "y".into() }).unwrap()).await;
	let (s, b) = post(with("transcript", long.to_hex().into())).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("context"), "{}", error(&b));
}

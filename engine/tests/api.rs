//! The HTTP API in process: blobs, validation, training jobs, evaluation, health and metrics,
//! and a clear 4xx JSON error for every kind of bad input.

mod common;

use axum::{
	body::Body,
	http::{Method, Request, StatusCode},
	Router,
};
use common::{http::*, *};
use mnemo_engine::api::router;
use mnemo_primitives::{
	engine::{DataRef, DatanetData, EvalMetrics, EvalSettings, LoraSpec, TrainRequest, TrainState, TrainStatus},
	ContentHash,
};
use std::time::Duration;
use tower::ServiceExt;

#[tokio::test]
async fn blobs_are_stored_by_hash_and_bad_uploads_are_refused() {
	let dir = tempfile::tempdir().unwrap();
	let app = router(engine(dir.path()));
	let bytes = b"Friends, Romans, countrymen".to_vec();
	let h = ContentHash::of(&bytes);
	let uri = format!("/v1/blobs/{}", h.to_hex());
	let (s, b) = call(&app, Method::PUT, &uri, bytes.clone()).await;
	assert_eq!(s, StatusCode::CREATED);
	assert_eq!(json(&b)["hash"], h.to_hex());
	assert_eq!(call(&app, Method::PUT, &uri, bytes.clone()).await.0, StatusCode::OK, "idempotent");
	assert_eq!(call(&app, Method::GET, &uri, Body::empty()).await, (StatusCode::OK, bytes.clone()));
	let head = Request::builder().method(Method::HEAD).uri(&uri).body(Body::empty()).unwrap();
	let res = app.clone().oneshot(head).await.unwrap();
	assert_eq!(res.status(), StatusCode::OK);
	assert_eq!(res.headers()["content-length"], "27");

	let other = ContentHash::of(b"other").to_hex();
	let (s, b) = call(&app, Method::GET, &format!("/v1/blobs/{other}"), Body::empty()).await;
	assert_eq!(s, StatusCode::NOT_FOUND);
	assert!(error(&b).contains("no blob"));
	let head = Request::builder().method(Method::HEAD).uri(format!("/v1/blobs/{other}")).body(Body::empty()).unwrap();
	assert_eq!(app.clone().oneshot(head).await.unwrap().status(), StatusCode::NOT_FOUND);
	let (s, b) = call(&app, Method::PUT, &format!("/v1/blobs/{other}"), bytes.clone()).await;
	assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
	assert!(error(&b).contains("content hashes to"));
	let (s, b) = call(&app, Method::PUT, "/v1/blobs/not-a-hash", bytes.clone()).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("64 hex digits"));
	let big = vec![b'x'; 64 * 1024 + 1];
	let (s, _) = call(&app, Method::PUT, &format!("/v1/blobs/{}", ContentHash::of(&big).to_hex()), big).await;
	assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
	let (s, b) = call(&app, Method::POST, "/v1/blobs", b"anonymous".to_vec()).await;
	assert_eq!(s, StatusCode::CREATED);
	assert_eq!(json(&b)["hash"], ContentHash::of(b"anonymous").to_hex());
}

fn request(job: u32, data: &[ContentHash], epochs: u32) -> TrainRequest {
	TrainRequest {
		job,
		attempt: 1,
		base_model: "tiny".into(),
		datanets: vec![DatanetData {
			datanet: 1,
			version: 1,
			contributions: data.iter().enumerate().map(|(i, h)| DataRef { contribution: i as u64, content_hash: *h }).collect(),
		}],
		lora: LoraSpec {
			rank: 8,
			alpha: 16,
			targets: ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"].map(String::from).to_vec(),
			epochs,
			learning_rate: 0.02,
			seed: 9,
		},
		eval: EvalSettings { holdout: 0.2, max_eval_tokens: 0 },
	}
}

async fn recipe_blobs(app: &Router) -> Vec<ContentHash> {
	let mut out = Vec::new();
	for c in recipes(2) {
		let text = c.rows.iter().map(|r| match r {
			mnemo_engine::train::data::Row::Text(t) => t.clone(),
			_ => unreachable!(),
		});
		out.push(put(app, text.collect::<String>().as_bytes()).await);
	}
	out
}

async fn wait_done(app: &Router, id: &str) -> TrainStatus {
	for _ in 0..600 {
		let (s, b) = call(app, Method::GET, &format!("/v1/train/{id}"), Body::empty()).await;
		assert_eq!(s, StatusCode::OK);
		let st: TrainStatus = serde_json::from_slice(&b).unwrap();
		if matches!(st.state, TrainState::Done | TrainState::Failed) {
			return st;
		}
		tokio::time::sleep(Duration::from_millis(100)).await;
	}
	panic!("job {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_training_job_runs_to_an_adapter_that_evaluation_confirms() {
	let dir = tempfile::tempdir().unwrap();
	let app = router(engine(dir.path()));
	let data = recipe_blobs(&app).await;
	let body = serde_json::to_vec(&request(5, &data, 6)).unwrap();
	let (s, b) = call(&app, Method::POST, "/v1/train", body.clone()).await;
	assert_eq!(s, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&b));
	assert_eq!(json(&b)["id"], "job-5-1");
	let (s, b) = call(&app, Method::POST, "/v1/train", body).await;
	assert_eq!((s, json(&b)["id"].clone()), (StatusCode::ACCEPTED, "job-5-1".into()), "the same (job, attempt) is the same job");

	let st = wait_done(&app, "job-5-1").await;
	assert_eq!(st.state, TrainState::Done, "{:?}", st.error);
	assert_eq!(st.progress, 1.0);
	let adapter = st.adapter_hash.unwrap();
	let m = st.metrics.unwrap();
	assert_eq!(m.per_datanet.len(), 1);
	let d = &m.per_datanet[0];
	assert!(d.adapter.loss < d.base.loss, "{d:?}");
	assert!((d.base.perplexity - d.base.loss.exp()).abs() < 1e-9);

	// The adapter is in the blob store, with its PEFT files, metrics and loss curve beside it.
	let (s, bytes) = call(&app, Method::GET, &format!("/v1/blobs/{}", adapter.to_hex()), Body::empty()).await;
	assert_eq!(s, StatusCode::OK);
	assert!(safetensors::SafeTensors::deserialize(&bytes).is_ok());
	let adir = dir.path().join("adapters").join(adapter.to_hex());
	for f in ["adapter_model.safetensors", "adapter_config.json", "metrics.json", "loss.png"] {
		assert!(adir.join(f).exists(), "{f}");
	}
	assert_eq!(adir.join("grads").read_dir().unwrap().count(), 1, "the gradient cache is built with the adapter");

	// Another trainer re-evaluates it: the same numbers.
	let mut eval = serde_json::to_value(request(5, &data, 6)).unwrap();
	eval["adapter_hash"] = adapter.to_hex().into();
	let (s, b) = call(&app, Method::POST, "/v1/eval", serde_json::to_vec(&eval).unwrap()).await;
	assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
	let again: EvalMetrics = serde_json::from_slice(&b).unwrap();
	assert_eq!(again, m);

	// An adapter evaluated under other hyper-parameters, or one that is not stored, is refused.
	eval["lora"]["rank"] = 4.into();
	let (s, b) = call(&app, Method::POST, "/v1/eval", serde_json::to_vec(&eval).unwrap()).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("has rank 8"));
	eval["lora"]["rank"] = 8.into();
	eval["adapter_hash"] = ContentHash::of(b"none").to_hex().into();
	let (s, b) = call(&app, Method::POST, "/v1/eval", serde_json::to_vec(&eval).unwrap()).await;
	assert_eq!(s, StatusCode::NOT_FOUND);
	assert!(error(&b).contains("adapter"));
}

#[tokio::test]
async fn bad_training_requests_get_a_4xx_with_a_reason() {
	let dir = tempfile::tempdir().unwrap();
	let app = router(engine(dir.path()));
	let data = recipe_blobs(&app).await;
	let post = |body: Vec<u8>| {
		let app = app.clone();
		async move { call(&app, Method::POST, "/v1/train", body).await }
	};
	let (s, b) = post(b"{not json".to_vec()).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("bad request body"));
	let (s, b) = post(br#"{"job": 1}"#.to_vec()).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("missing field"));

	let variants: Vec<(Box<dyn Fn(&mut TrainRequest)>, StatusCode, &str)> = vec![
		(Box::new(|r| r.base_model = "gpt-9".into()), StatusCode::BAD_REQUEST, "not served here"),
		(Box::new(|r| r.lora.rank = 0), StatusCode::BAD_REQUEST, "rank"),
		(Box::new(|r| r.lora.targets = vec!["mlp".into()]), StatusCode::BAD_REQUEST, "unknown LoRA target"),
		(Box::new(|r| r.lora.learning_rate = 5.0), StatusCode::BAD_REQUEST, "learning rate"),
		(Box::new(|r| r.eval.holdout = 1.5), StatusCode::BAD_REQUEST, "holdout"),
		(Box::new(|r| r.datanets.clear()), StatusCode::BAD_REQUEST, "no datanet contributions"),
		(
			Box::new(|r| r.datanets[0].contributions[1].content_hash = ContentHash::of(b"missing")),
			StatusCode::NOT_FOUND,
			"contribution 1 of datanet 1",
		),
	];
	for (i, (change, status, want)) in variants.into_iter().enumerate() {
		let mut r = request(100 + i as u32, &data, 1);
		change(&mut r);
		let (s, b) = post(serde_json::to_vec(&r).unwrap()).await;
		assert_eq!(s, status, "case {i}: {}", String::from_utf8_lossy(&b));
		assert!(error(&b).contains(want), "case {i}: {} should mention {want}", error(&b));
	}
	let (s, b) = call(&app, Method::GET, "/v1/train/job-404-1", Body::empty()).await;
	assert_eq!(s, StatusCode::NOT_FOUND);
	assert!(error(&b).contains("no training job"));
	let (s, b) = call(&app, Method::GET, "/v2/anything", Body::empty()).await;
	assert_eq!(s, StatusCode::NOT_FOUND);
	assert!(error(&b).contains("no such endpoint"));
	// An OpenAI route on an engine that serves no model says how to serve one.
	for path in ["/v1/models", "/v1/chat/completions", "/v1/models/tiny"] {
		let (s, b) = call(&app, Method::GET, path, Body::empty()).await;
		assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
		assert!(error(&b).contains("mnemo-engine serve --serve"), "{path}: {}", error(&b));
	}
	let huge = vec![b' '; mnemo_engine::api::MAX_JSON_BODY + 1];
	assert_eq!(post(huge).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn contributions_are_validated_against_approved_ones() {
	let dir = tempfile::tempdir().unwrap();
	let app = router(engine(dir.path()));
	let approved = b"Recipe for soup: chop the onions, then add water, then simmer for ten minutes and serve warm.\n";
	let near = b"Recipe for soup: chop the onions, then add water, then simmer for ten minutes and serve hot.\n";
	let a = put(&app, approved).await;
	let n = put(&app, near).await;
	let body = serde_json::json!({
		"datanet": 3, "contribution": 7, "content_hash": n.to_hex(), "byte_len": near.len(), "row_count": 1,
		"kind": "text", "approved": [a.to_hex(), ContentHash::of(b"gone").to_hex()],
	});
	let (s, b) = call(&app, Method::POST, "/v1/datanets/3/validate", serde_json::to_vec(&body).unwrap()).await;
	assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
	let v = json(&b);
	assert_eq!(v["schema_ok"], true);
	assert_eq!(v["exact_duplicate"], false);
	assert!(v["near_duplicate"].as_f64().unwrap() > 0.5);
	assert!(v["detail"].as_str().unwrap().contains("1 approved contribution(s) were not in this engine's store"));

	let (s, b) = call(&app, Method::POST, "/v1/datanets/4/validate", serde_json::to_vec(&body).unwrap()).await;
	assert_eq!(s, StatusCode::BAD_REQUEST);
	assert!(error(&b).contains("the path names datanet 4"));
	let mut missing = body.clone();
	missing["content_hash"] = ContentHash::of(b"nothing").to_hex().into();
	let (s, _) = call(&app, Method::POST, "/v1/datanets/3/validate", serde_json::to_vec(&missing).unwrap()).await;
	assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_and_prometheus_metrics_report_the_engine() {
	let dir = tempfile::tempdir().unwrap();
	let app = router(engine(dir.path()));
	put(&app, b"one blob").await;
	call(&app, Method::GET, "/v1/blobs/zz", Body::empty()).await;
	let (s, b) = call(&app, Method::GET, "/health", Body::empty()).await;
	assert_eq!(s, StatusCode::OK);
	assert_eq!(json(&b)["status"], "ok");
	let (s, b) = call(&app, Method::GET, "/metrics", Body::empty()).await;
	assert_eq!(s, StatusCode::OK);
	let text = String::from_utf8(b).unwrap();
	assert!(text.contains("mnemo_engine_blobs_stored_total 1\n"), "{text}");
	assert!(text.contains("mnemo_engine_http_errors_total{class=\"4xx\"} 1\n"), "{text}");
	assert!(text.contains("mnemo_engine_train_jobs{state=\"queued\"} 0\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_accepted_before_a_restart_is_run_after_it() {
	let dir = tempfile::tempdir().unwrap();
	let data = {
		let app = router(engine(dir.path()));
		recipe_blobs(&app).await
	};
	// What `submit` wrote before answering 202, as a crash right after would leave it.
	let job = dir.path().join("jobs/job-8-1");
	std::fs::create_dir_all(&job).unwrap();
	std::fs::write(job.join("request.json"), serde_json::to_vec(&request(8, &data, 1)).unwrap()).unwrap();
	std::fs::write(job.join("status.json"), br#"{"id": "job-8-1", "state": "running", "progress": 0.4}"#).unwrap();
	let app = router(engine(dir.path()));
	let st = wait_done(&app, "job-8-1").await;
	assert_eq!(st.state, TrainState::Done, "{:?}", st.error);
	let persisted: TrainStatus = serde_json::from_slice(&std::fs::read(job.join("status.json")).unwrap()).unwrap();
	assert_eq!(persisted, st);
}

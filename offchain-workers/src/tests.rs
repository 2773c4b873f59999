use super::*;
use mnemo_primitives::ContentHash;
use polkadot_sdk::{
	sp_core::offchain::{testing, OffchainDbExt, OffchainWorkerExt, StorageKind},
	sp_io::TestExternalities,
};

fn request() -> ValidateRequest {
	ValidateRequest {
		datanet: 4,
		contribution: 9,
		content_hash: ContentHash::of(b"Exit, pursued by a bear."),
		byte_len: 24,
		row_count: 1,
		kind: "text".into(),
	}
}

/// Externalities with a test offchain worker, the engine URL set to `url` (if any) and the
/// HTTP exchanges `expect` registers.
fn with_engine(
	url: Option<&str>,
	expect: impl FnOnce(&mut testing::OffchainState),
) -> TestExternalities {
	let (offchain, state) = testing::TestOffchainExt::new();
	let mut ext = TestExternalities::default();
	ext.register_extension(OffchainWorkerExt::new(offchain.clone()));
	ext.register_extension(OffchainDbExt::new(offchain));
	if let Some(url) = url {
		ext.execute_with(|| {
			polkadot_sdk::sp_io::offchain::local_storage_set(
				StorageKind::PERSISTENT,
				offchain_keys::ENGINE_URL,
				url.as_bytes(),
			)
		});
	}
	expect(&mut state.write());
	ext
}

fn validate_exchange(url: &str, response: &str) -> testing::PendingRequest {
	testing::PendingRequest {
		method: "POST".into(),
		uri: url.into(),
		headers: vec![
			("Content-Type".into(), "application/json".into()),
			("Content-Length".into(), serde_json::to_vec(&request()).unwrap().len().to_string()),
			("Accept".into(), "application/json".into()),
		],
		body: serde_json::to_vec(&request()).unwrap(),
		response: Some(response.as_bytes().to_vec()),
		sent: true,
		..Default::default()
	}
}

#[test]
fn validate_posts_the_request_and_parses_the_answer() {
	let answer = r#"{"schema_ok":true,"exact_duplicate":false,"near_duplicate":0.125,"quality":0.75,"detail":"ok"}"#;
	with_engine(Some("http://127.0.0.1:8844/"), |s| {
		s.expect_request(validate_exchange("http://127.0.0.1:8844/v1/datanets/4/validate", answer))
	})
	.execute_with(|| {
		let resp = validate_contribution(&request()).unwrap();
		assert_eq!(
			resp,
			ValidateResponse {
				schema_ok: true,
				exact_duplicate: false,
				near_duplicate: 0.125,
				quality: 0.75,
				detail: Some("ok".into()),
			}
		);
	});
}

#[test]
fn no_engine_url_means_no_request() {
	with_engine(None, |_| {}).execute_with(|| {
		assert_eq!(validate_contribution(&request()), Err(Error::NoEngineUrl));
	});
}

#[test]
fn a_bad_stored_url_is_refused_before_any_request() {
	for bad in ["ftp://engine", "127.0.0.1:8844", "http://a b", ""] {
		with_engine(Some(bad), |_| {}).execute_with(|| {
			assert_eq!(validate_contribution(&request()), Err(Error::BadEngineUrl), "{bad}");
		});
	}
	with_engine(None, |_| {}).execute_with(|| {
		polkadot_sdk::sp_io::offchain::local_storage_set(
			StorageKind::PERSISTENT,
			offchain_keys::ENGINE_URL,
			&[0xff, 0xfe],
		);
		assert_eq!(engine_url(), Err(Error::BadEngineUrl));
	});
}

#[test]
fn an_answer_that_is_not_the_expected_json_is_an_error_not_a_panic() {
	with_engine(Some("http://engine:8844"), |s| {
		s.expect_request(validate_exchange(
			"http://engine:8844/v1/datanets/4/validate",
			r#"{"schema_ok":"yes"}"#,
		))
	})
	.execute_with(|| match validate_contribution(&request()) {
		Err(Error::BadJson(e)) => assert!(e.contains("schema_ok") || e.contains("expected"), "{e}"),
		other => panic!("expected BadJson, got {other:?}"),
	});
}

#[test]
fn get_json_reads_the_answer() {
	with_engine(Some("https://engine.example/base"), |s| {
		s.expect_request(testing::PendingRequest {
			method: "GET".into(),
			uri: "https://engine.example/base/v1/health".into(),
			headers: vec![("Accept".into(), "application/json".into())],
			response: Some(br#"{"error":"none"}"#.to_vec()),
			sent: true,
			..Default::default()
		})
	})
	.execute_with(|| {
		let body: ErrorBody = get_json("/v1/health", 1_000).unwrap();
		assert_eq!(body.error, "none");
	});
}

#[test]
fn errors_read_well_in_logs() {
	assert_eq!(
		Error::Status { code: 404, message: "unknown blob".into() }.to_string(),
		"engine answered 404: unknown blob"
	);
	assert!(Error::NoEngineUrl.to_string().contains("mnemo_setEngineUrl"));
}

#[test]
fn a_blob_that_is_not_what_its_name_says_was_not_served() {
	let asked = ContentHash::of(b"the batch");
	with_engine(Some("http://127.0.0.1:8844"), |s| {
		s.expect_request(crate::testing::expected_blob(
			&format!("http://127.0.0.1:8844/v1/blobs/{}", asked.to_hex()),
			b"another batch".to_vec(),
		))
	})
	.execute_with(|| {
		let e = get_blob(&asked).unwrap_err();
		assert_eq!(e, Error::WrongContent);
		assert!(e.not_served());
	});
	// Not found is not served; the worker's own failures are not the operator's.
	assert!(Error::Status { code: 404, message: "no blob".into() }.not_served());
	assert!(!Error::Status { code: 500, message: "disk full".into() }.not_served());
	assert!(!Error::Http("I/O error (is the engine running?)").not_served());
	assert!(!Error::NoEngineUrl.not_served());
}

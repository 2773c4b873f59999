use crate::{mock::*, *};
use codec::{Decode, Encode};
use mnemo_primitives::{engine::ValidateRequest, offchain_keys};
use polkadot_sdk::{
	frame_support::{assert_noop, traits::{Authorize, Hooks}},
	frame_system::RawOrigin,
	sp_application_crypto::RuntimeAppPublic,
	sp_core::offchain::{testing, StorageKind},
	sp_runtime::{
		transaction_validity::{InvalidTransaction, TransactionSource, TransactionValidityError},
		DispatchError, Perbill,
	},
};

const ENGINE: &str = "http://127.0.0.1:8844";

fn good() -> Validation {
	Validation {
		schema_ok: true,
		exact_duplicate: false,
		near_duplicate: Perbill::from_percent(12),
		quality: Perbill::from_percent(80),
	}
}

/// The standard datanet with `key` appointed as its validator.
fn create_with_validator(key: &ValidatorKey) -> u32 {
	let mut r = rules();
	r.validators = vec![key.clone()].try_into().unwrap();
	Datanets::do_create_datanet(OWNER, Kind::Text, metadata(), r).unwrap()
}

fn signed_call(
	key: &ValidatorKey,
	contribution: u64,
	content_hash: mnemo_primitives::ContentHash,
	validation: Validation,
) -> RuntimeCall {
	let report = ValidationReport { contribution, content_hash, validation, validator: key.clone() };
	let signature = key.sign(&report.encode()).expect("key in keystore");
	RuntimeCall::Datanets(crate::Call::submit_validation { report, signature })
}

fn authorize(call: &RuntimeCall) -> Result<(), TransactionValidityError> {
	call.authorize(TransactionSource::External).expect("authorized call").map(|_| ())
}

fn dispatch_authorized(call: RuntimeCall) {
	use polkadot_sdk::sp_runtime::traits::Dispatchable;
	authorize(&call).expect("authorized");
	call.dispatch(RawOrigin::Authorized.into()).expect("dispatched");
}

#[test]
fn a_report_signed_by_an_appointed_key_is_authorized_and_stored() {
	let (keystore, key) = keystore_with_validator("//Validator");
	let (mut ext, _, _) = offchain_ext(keystore);
	ext.execute_with(|| {
		let d = create_with_validator(&key);
		let c = contribute(ALICE, d, 1);
		let call = signed_call(&key, c, hash(1), good());
		let (valid, _) = call.authorize(TransactionSource::External).unwrap().unwrap();
		assert_eq!(valid.provides, vec![("DatanetsValidation", c).encode()]);
		assert_eq!(valid.priority, 1 << 20);
		dispatch_authorized(call);
		assert_eq!(
			last_event(),
			Event::Validated { contribution: c, validator: key.clone(), validation: good() }
		);
		let stored = Contributions::<Test>::get(c).unwrap();
		assert_eq!((stored.status, stored.validation), (Status::Pending, Some(good())));
		assert!(!AwaitingValidation::<Test>::contains_key(c));
		// A second report on the same contribution is stale.
		assert_eq!(
			authorize(&signed_call(&key, c, hash(1), good())),
			Err(InvalidTransaction::Stale.into())
		);
		Datanets::do_try_state().unwrap();
	});
}

#[test]
fn reports_that_are_forged_misdirected_or_stale_are_refused() {
	let (keystore, key) = keystore_with_validator("//Validator");
	let (mut ext, _, _) = offchain_ext(keystore);
	ext.execute_with(|| {
		let other = ValidatorKey::generate_pair(Some(b"//Stranger".to_vec()));
		let d = create_with_validator(&key);
		let c = contribute(ALICE, d, 1);
		// Signed by a key the datanet did not appoint.
		assert_eq!(
			authorize(&signed_call(&other, c, hash(1), good())),
			Err(InvalidTransaction::BadSigner.into())
		);
		// About other data than the contribution's.
		assert_eq!(
			authorize(&signed_call(&key, c, hash(2), good())),
			Err(InvalidTransaction::Call.into())
		);
		// Unknown contribution.
		assert_eq!(
			authorize(&signed_call(&key, 99, hash(1), good())),
			Err(InvalidTransaction::Stale.into())
		);
		// A signature that does not match the report.
		let report = ValidationReport { contribution: c, content_hash: hash(1), validation: good(), validator: key.clone() };
		let mut tampered = report.clone();
		tampered.validation.quality = Perbill::one();
		let signature = key.sign(&report.encode()).unwrap();
		let forged = RuntimeCall::Datanets(crate::Call::submit_validation { report: tampered.clone(), signature: signature.clone() });
		assert_eq!(authorize(&forged), Err(InvalidTransaction::BadProof.into()));
		// Only the authorized origin may dispatch it; a direct call with a bad report fails too.
		assert_noop!(
			Datanets::submit_validation(RuntimeOrigin::signed(ALICE), tampered, signature.clone()),
			DispatchError::BadOrigin
		);
		let misdirected = ValidationReport { contribution: 99, ..report };
		assert_noop!(
			Datanets::submit_validation(RawOrigin::Authorized.into(), misdirected, signature),
			Error::<Test>::BadReport
		);
	});
}

#[test]
fn an_invalid_schema_or_exact_duplicate_rejects_without_slashing() {
	let (keystore, key) = keystore_with_validator("//Validator");
	let (mut ext, _, _) = offchain_ext(keystore);
	ext.execute_with(|| {
		let d = create_with_validator(&key);
		let bad_schema = contribute(ALICE, d, 1);
		let duplicate = contribute(BOB, d, 2);
		let near = contribute(CAROL, d, 3);
		let treasury = free(TREASURY);
		for (c, v) in [
			(bad_schema, Validation { schema_ok: false, ..good() }),
			(duplicate, Validation { exact_duplicate: true, ..good() }),
		] {
			let n = Contributions::<Test>::get(c).unwrap().content_hash;
			dispatch_authorized(signed_call(&key, c, n, v));
			let who = if c == bad_schema { ALICE } else { BOB };
			assert_eq!(
				last_event(),
				Event::Rejected {
					datanet: d,
					contribution: c,
					who,
					by: RejectedBy::Validation,
					slashed: 0,
					returned: BOND + RECORD_DEPOSIT,
				}
			);
			assert_eq!(free(who), START);
			assert!(Contributions::<Test>::get(c).is_none());
			assert_eq!(Stats::<Test>::get(d, who).rejected, 1);
		}
		// A near duplicate is only advice for the curators.
		let v = Validation { near_duplicate: Perbill::from_percent(99), ..good() };
		dispatch_authorized(signed_call(&key, near, hash(3), v));
		assert_eq!(Contributions::<Test>::get(near).unwrap().status, Status::Pending);
		assert_eq!(free(TREASURY), treasury);
		Datanets::do_try_state().unwrap();
	});
}

fn set_engine_url(url: &str) {
	polkadot_sdk::sp_io::offchain::local_storage_set(
		StorageKind::PERSISTENT,
		offchain_keys::ENGINE_URL,
		url.as_bytes(),
	);
}

fn expect_validate(
	state: &mut testing::OffchainState,
	contribution: u64,
	n: u8,
	response: &str,
) {
	let body = ValidateRequest {
		datanet: 0,
		contribution,
		content_hash: hash(n),
		byte_len: 100,
		row_count: 10,
		kind: "text".into(),
	};
	state.expect_request(mnemo_ocw::testing::expected_post(
		&format!("{ENGINE}/v1/datanets/0/validate"),
		&body,
		response,
	));
}

const OK: &str = r#"{"schema_ok":true,"exact_duplicate":false,"near_duplicate":0.12,"quality":0.8}"#;

fn pool_calls(pool: &std::sync::Arc<parking_lot::RwLock<testing::PoolState>>) -> Vec<RuntimeCall> {
	std::mem::take(&mut pool.write().transactions)
		.into_iter()
		.map(|tx| Extrinsic::decode(&mut &*tx).expect("an extrinsic").function)
		.collect()
}

#[test]
fn the_worker_asks_the_engine_and_submits_a_signed_report() {
	let (keystore, key) = keystore_with_validator("//Validator");
	let (mut ext, offchain, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		set_engine_url(ENGINE);
		let d = create_with_validator(&key);
		let c = contribute(ALICE, d, 1);
		expect_validate(&mut offchain.write(), c, 1, OK);
		Datanets::offchain_worker(System::block_number());
		let calls = pool_calls(&pool);
		assert_eq!(calls.len(), 1);
		let RuntimeCall::Datanets(crate::Call::submit_validation { report, .. }) = &calls[0] else {
			panic!("unexpected call {:?}", calls[0]);
		};
		assert_eq!(report, &ValidationReport { contribution: c, content_hash: hash(1), validation: good(), validator: key.clone() });
		dispatch_authorized(calls[0].clone());
		assert_eq!(Contributions::<Test>::get(c).unwrap().validation, Some(good()));
		// Nothing left to validate: the next block's worker sends nothing.
		run_to_block(System::block_number() + 1);
		Datanets::offchain_worker(System::block_number());
		assert!(pool_calls(&pool).is_empty());
	});
}

/// Authorized reports carry no nonce: reports sent in two consecutive blocks, before either is
/// included, both land.
#[test]
fn reports_from_consecutive_blocks_both_land() {
	let (keystore, key) = keystore_with_validator("//Validator");
	let (mut ext, offchain, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		set_engine_url(ENGINE);
		let d = create_with_validator(&key);
		let first = contribute(ALICE, d, 1);
		expect_validate(&mut offchain.write(), first, 1, OK);
		Datanets::offchain_worker(System::block_number());
		let second = contribute(BOB, d, 2);
		// The first report is still in the pool: the worker does not ask about it again.
		expect_validate(&mut offchain.write(), second, 2, OK);
		Datanets::offchain_worker(System::block_number());
		let calls = pool_calls(&pool);
		assert_eq!(calls.len(), 2);
		for call in calls {
			dispatch_authorized(call);
		}
		assert!(Contributions::<Test>::get(first).unwrap().validation.is_some());
		assert!(Contributions::<Test>::get(second).unwrap().validation.is_some());
		Datanets::do_try_state().unwrap();
	});
}

#[test]
fn the_worker_stays_idle_without_an_engine_url_or_an_appointed_key() {
	let (keystore, key) = keystore_with_validator("//Validator");
	let (mut ext, _offchain, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		// An unexpected HTTP request would panic the test offchain extension.
		let d = create_with_validator(&key);
		contribute(ALICE, d, 1);
		Datanets::offchain_worker(System::block_number());
		assert!(pool_calls(&pool).is_empty());
		// With a URL but for a datanet that did not appoint this node's key.
		set_engine_url(ENGINE);
		let other = create();
		contribute(BOB, other, 2);
		Contributions::<Test>::remove(0);
		AwaitingValidation::<Test>::remove(0);
		Registry::<Test>::mutate(d, |d| d.as_mut().unwrap().pending = 0);
		Datanets::offchain_worker(System::block_number());
		assert!(pool_calls(&pool).is_empty());
	});
}

#[test]
fn an_engine_answer_out_of_range_is_not_reported_and_is_retried_later() {
	let (keystore, key) = keystore_with_validator("//Validator");
	let (mut ext, offchain, pool) = offchain_ext(keystore);
	ext.execute_with(|| {
		set_engine_url(ENGINE);
		let d = create_with_validator(&key);
		let c = contribute(ALICE, d, 1);
		let bad = r#"{"schema_ok":true,"exact_duplicate":false,"near_duplicate":1.5,"quality":0.8}"#;
		expect_validate(&mut offchain.write(), c, 1, bad);
		let at = System::block_number();
		Datanets::offchain_worker(at);
		assert!(pool_calls(&pool).is_empty());
		// Within the retry window the worker does not ask again (no request is expected).
		Datanets::offchain_worker(at + 1);
		assert!(pool_calls(&pool).is_empty());
		// After it, it asks again and reports.
		expect_validate(&mut offchain.write(), c, 1, OK);
		Datanets::offchain_worker(at + crate::ocw::RETRY_AFTER as u64);
		assert_eq!(pool_calls(&pool).len(), 1);
	});
}

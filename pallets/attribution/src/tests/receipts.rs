//! Recording inferences: vouchers, fees, escrow, assignment, refusals one by one.

use crate::{mock::*, *};
use mnemo_primitives::{offchain_keys, SpendEntry};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::{testing::TestSignature, DispatchError},
};

fn batch(records: Vec<InferenceRecord<Test>>) -> BoundedVec<InferenceRecord<Test>, ConstU32<4>> {
	records.try_into().unwrap()
}

fn record_with(f: impl FnOnce(&mut InferenceRecord<Test>)) -> DispatchError {
	let mut r = record(PAYER, voucher(1));
	f(&mut r);
	assert_ok!(Attribution::record_inferences(RuntimeOrigin::signed(OPERATOR), batch(vec![r])));
	assert_eq!(NextReceipt::<Test>::get(), 0, "nothing recorded");
	assert_eq!(credit(PAYER), 10_000, "nothing charged");
	last_refusal()
}

fn resign(r: &mut InferenceRecord<Test>) {
	r.signature = TestSignature(r.payer, r.voucher.signing_payload());
}

use polkadot_sdk::frame_support::traits::ConstU32;

#[test]
fn a_receipt_charges_the_fee_into_escrow_and_assigns_attestors() {
	build_and_execute(|| {
		setup();
		let id = recorded(1);
		// 500 tokens at 10 per 1,000: 5.
		let r = Receipts::<Test>::get(id).unwrap();
		assert_eq!(r.fee, 5);
		assert_eq!(credit(PAYER), 10_000 - 5);
		assert_eq!(Escrowed::get(), vec![(id, PAYER, 5)]);
		// Charged under the payer's voucher: its place on the channel and its consent.
		assert_eq!(ChargedUnder::get(), vec![(id, 1, 10)]);
		assert_eq!(r.assigned.len(), 3);
		assert_eq!(r.phase, Phase::Commit { until: 1 + 5 });
		for a in r.assigned.iter() {
			assert!(Assignments::<Test>::contains_key(a, id));
			assert_eq!(Attestors::<Test>::get(a).unwrap().open, 1);
		}
		assert_eq!(Requests::<Test>::get(OPERATOR, request_id(1)), Some(id));
		assert_eq!(SpendCount::<Test>::get(PAYER), 1);
		assert!(matches!(
			events().last(),
			Some(Event::ReceiptRecorded { receipt: 0, operator: OPERATOR, payer: PAYER, adapter: ADAPTER, input_tokens: 300, output_tokens: 200, fee: 5, commit_until: 6, .. })
		));
	});
}

#[test]
fn the_spend_log_entry_is_written_to_the_offchain_index_when_recorded() {
	let mut ext = new_test_ext();
	ext.register_extension(polkadot_sdk::sp_keystore::KeystoreExt::new(polkadot_sdk::sp_keystore::testing::MemoryKeystore::new()));
	ext.execute_with(|| {
		setup();
		recorded(1);
		recorded(2);
	});
	ext.persist_offchain_overlay();
	let db = ext.offchain_db();
	let read = |n: u64| {
		db.get(&offchain_keys::spend_log(&PAYER, n))
			.map(|v| <SpendEntry<AccountId, u64, polkadot_sdk::sp_core::H256> as codec::Decode>::decode(&mut &v[..]).unwrap())
	};
	let first = read(0).expect("entry 0");
	assert_eq!((first.receipt, first.request, first.fee, first.block), (0, request_id(1), 5, 1));
	assert_eq!((first.input_tokens, first.output_tokens, first.adapter, first.operator), (300, 200, ADAPTER, OPERATOR));
	assert_eq!(first.moment_ms, 1_700_000_006_000);
	assert_eq!(read(1).expect("entry 1").request, request_id(2));
	assert!(read(2).is_none());
}

#[test]
fn each_receipt_of_a_batch_is_charged_on_its_own() {
	build_and_execute(|| {
		setup();
		let (mut v2, v3) = (voucher(2), voucher(3));
		v2.request = request_id(2);
		let batch = batch(vec![record(PAYER, voucher(1)), record(POOR, v2), record(PAYER2, v3)]);
		assert_ok!(Attribution::record_inferences(RuntimeOrigin::signed(OPERATOR), batch));
		assert_eq!(NextReceipt::<Test>::get(), 2);
		assert_eq!(Receipts::<Test>::get(0).unwrap().payer, PAYER);
		assert_eq!(Receipts::<Test>::get(1).unwrap().payer, PAYER2);
		assert_eq!(last_refusal(), DispatchError::Token(polkadot_sdk::sp_runtime::TokenError::FundsUnavailable));
		assert_eq!(credit(POOR), 1);
		assert!(!Requests::<Test>::contains_key(OPERATOR, request_id(2)));
	});
}

#[test]
fn a_request_id_is_recorded_once_per_operator() {
	build_and_execute(|| {
		setup();
		recorded(1);
		let again = batch(vec![record(PAYER, voucher(1)), record(PAYER, voucher(1))]);
		assert_ok!(Attribution::record_inferences(RuntimeOrigin::signed(OPERATOR), again));
		assert_eq!(NextReceipt::<Test>::get(), 1);
		assert_eq!(last_refusal(), Error::<Test>::DuplicateRequest.into());
		assert_eq!(credit(PAYER), 10_000 - 5);
		// Twice in one batch: the second is the duplicate.
		let twice = batch(vec![record(PAYER, voucher(2)), record(PAYER, voucher(2))]);
		assert_ok!(Attribution::record_inferences(RuntimeOrigin::signed(OPERATOR), twice));
		assert_eq!(NextReceipt::<Test>::get(), 2);
		assert_eq!(last_refusal(), Error::<Test>::DuplicateRequest.into());
	});
}

#[test]
fn vouchers_bind_payer_operator_chain_time_price_and_tokens() {
	build_and_execute(|| {
		setup();
		assert_eq!(record_with(|r| r.signature = TestSignature(PAYER2, r.voucher.signing_payload())), Error::<Test>::BadVoucherSignature.into());
		assert_eq!(record_with(|r| r.payer = PAYER2), Error::<Test>::BadVoucherSignature.into());
		assert_eq!(record_with(|r| { r.voucher.operator = A1; resign(r) }), Error::<Test>::WrongOperator.into());
		assert_eq!(record_with(|r| { r.voucher.genesis = Default::default(); resign(r) }), Error::<Test>::GenesisMismatch.into());
		assert_eq!(record_with(|r| { r.voucher.expires_at = 0; resign(r) }), Error::<Test>::VoucherExpired.into());
		assert_eq!(record_with(|r| { r.voucher.expires_at = 1 + 21; resign(r) }), Error::<Test>::VoucherTooLong.into());
		assert_eq!(record_with(|r| { r.voucher.max_price_per_1k = PRICE - 1; resign(r) }), Error::<Test>::PriceAboveCap.into());
		assert_eq!(record_with(|r| { r.voucher.max_tokens = 499; resign(r) }), Error::<Test>::TooManyTokens.into());
		assert_eq!(record_with(|r| { r.input_tokens = u32::MAX; }), Error::<Test>::TooManyTokens.into());
		assert_eq!(record_with(|r| { r.input_tokens = 0; r.output_tokens = 0 }), Error::<Test>::NoTokens.into());
		assert_eq!(record_with(|r| { r.voucher.adapter = UNDEPLOYED; resign(r) }), Error::<Test>::AdapterNotDeployed.into());
		assert_eq!(record_with(|r| { r.voucher.adapter = 99; resign(r) }), Error::<Test>::AdapterNotDeployed.into());
		// A voucher for another request does not cover this one.
		assert_eq!(record_with(|r| r.voucher.request = request_id(9)), Error::<Test>::BadVoucherSignature.into());
	});
}

#[test]
fn wallet_wrapped_signatures_are_accepted() {
	build_and_execute(|| {
		setup();
		let mut r = record(PAYER, voucher(1));
		r.signature = TestSignature(PAYER, [&b"<Bytes>"[..], &r.voucher.signing_payload(), &b"</Bytes>"[..]].concat());
		assert_ok!(Attribution::record_inferences(RuntimeOrigin::signed(OPERATOR), batch(vec![r])));
		assert_eq!(NextReceipt::<Test>::get(), 1);
	});
}

#[test]
fn the_minimum_fee_applies_to_tiny_inferences() {
	build_and_execute(|| {
		setup();
		let mut r = record(PAYER, voucher(1));
		(r.input_tokens, r.output_tokens) = (1, 0);
		assert_ok!(Attribution::record_inferences(RuntimeOrigin::signed(OPERATOR), batch(vec![r])));
		assert_eq!(Receipts::<Test>::get(0).unwrap().fee, params().min_fee);
	});
}

#[test]
fn a_block_records_at_most_max_receipts_per_block() {
	build_and_execute(|| {
		setup();
		let records = (1..=4).map(|n| record(PAYER, voucher(n))).collect();
		assert_ok!(Attribution::record_inferences(RuntimeOrigin::signed(OPERATOR), batch(records)));
		assert_eq!(NextReceipt::<Test>::get(), u64::from(MAX_RECEIPTS_PER_BLOCK));
		assert_eq!(last_refusal(), Error::<Test>::BlockFull.into());
		run_to_block(2);
		recorded(4);
	});
}

#[test]
fn receipts_need_enough_active_attestors_and_an_operator() {
	build_and_execute(|| {
		Attribution::register_operator(RuntimeOrigin::signed(OPERATOR)).unwrap();
		attestor(A1);
		attestor(A2);
		assert_eq!(record_with(|_| {}), Error::<Test>::TooFewAttestors.into());
		assert_noop!(
			Attribution::record_inferences(RuntimeOrigin::signed(PAYER), batch(vec![record(PAYER, voucher(1))])),
			Error::<Test>::NotOperator
		);
		assert_noop!(Attribution::record_inferences(RuntimeOrigin::signed(OPERATOR), batch(vec![])), Error::<Test>::EmptyBatch);
	});
}

#[test]
fn assignment_draws_distinct_attestors_and_depends_on_the_randomness() {
	build_and_execute(|| {
		setup();
		attestor(A5);
		let mut panels = std::collections::BTreeSet::new();
		for n in 0..12u8 {
			Seed::set(u64::from(n));
			let panel = Attribution::assign(0, 3).unwrap().into_inner();
			let mut d = panel.clone();
			d.sort();
			d.dedup();
			assert_eq!(d.len(), 3);
			panels.insert(d);
		}
		assert!(panels.len() > 1, "different seeds draw different panels");
		Seed::set(7);
		assert_eq!(Attribution::assign(0, 3).unwrap(), Attribution::assign(0, 3).unwrap(), "same seed, same panel");
	});
}

//! Pruning finished receipts to the offchain index, in bounded steps, without allowing replay.

use crate::{mock::*, *};
use mnemo_primitives::offchain_keys;
use polkadot_sdk::{frame_support::assert_ok, sp_runtime::traits::Zero};

#[test]
fn finished_receipts_leave_state_after_the_retention_and_stay_in_the_offchain_index() {
	let mut ext = new_test_ext();
	ext.register_extension(polkadot_sdk::sp_keystore::KeystoreExt::new(polkadot_sdk::sp_keystore::testing::MemoryKeystore::new()));
	ext.execute_with(|| {
		setup();
		let (id, _) = reported(1, &[(digest(1), scores()), (digest(1), scores()), (digest(1), scores())]);
		// Released at 21, retained 20 more blocks.
		run_to_block(40);
		assert!(Receipts::<Test>::contains_key(id));
		run_to_block(41);
		assert!(!Receipts::<Test>::contains_key(id));
		assert!(!Attributions::<Test>::contains_key(id));
		assert!(Reports::<Test>::iter_prefix(id).next().is_none());
		assert!(!Requests::<Test>::contains_key(OPERATOR, request_id(1)));
		assert_eq!(PruneCursor::<Test>::get(), 1);
		assert!(events().iter().any(|e| matches!(e, Event::ReceiptPruned { receipt: 0 })));
		// The voucher expired long ago: the request cannot be replayed.
		let mut v = voucher(1);
		v.expires_at = 11;
		assert_ok!(Attribution::record_inferences(RuntimeOrigin::signed(OPERATOR), vec![record(PAYER, v)].try_into().unwrap()));
		assert_eq!(last_refusal(), Error::<Test>::VoucherExpired.into());
		Attribution::do_try_state().unwrap();
	});
	ext.persist_offchain_overlay();
	let stored = ext.offchain_db().get(&offchain_keys::receipt(0)).expect("the pruned record");
	let (r, a, reports) = <(Receipt<Test>, Option<types::FinalAttribution<Test>>, Vec<(AccountId, Report<Test>)>) as codec::Decode>::decode(&mut &stored[..]).unwrap();
	assert_eq!((r.payer, r.fee), (PAYER, 5));
	assert_eq!(a.unwrap().shares.len(), 2);
	assert_eq!(reports.len(), 3);
}

#[test]
fn pruning_waits_for_unfinished_receipts_and_open_challenges_in_order() {
	build_and_execute(|| {
		setup();
		let first = recorded(1); // refunded at 6 for lack of reports
		let (second, _) = reported(2, &[(digest(1), scores()), (digest(1), scores()), (digest(1), scores())]);
		assert_ok!(Attribution::challenge(RuntimeOrigin::signed(CHALLENGER), second, mnemo_primitives::ContentHash::of(b"x")));
		run_to_block(30);
		// The refunded one went at 6 + 20; the challenged one holds the cursor.
		assert!(!Receipts::<Test>::contains_key(first));
		assert!(Receipts::<Test>::contains_key(second));
		run_to_block(45);
		assert_eq!(PruneCursor::<Test>::get(), second);
		assert_ok!(Attribution::expire_challenge(RuntimeOrigin::signed(PAYER), second));
		run_to_block(46);
		assert!(!Receipts::<Test>::contains_key(second));
	});
}

#[test]
fn pruning_is_bounded_per_block_and_by_the_weight_left() {
	build_and_execute(|| {
		setup();
		for n in 1..=3 {
			recorded(n);
		}
		run_to_block(6); // all three refunded at 6
		System::set_block_number(26);
		assert!(Attribution::prune(26, polkadot_sdk::frame_support::weights::Weight::zero()).is_zero());
		assert_eq!(PruneCursor::<Test>::get(), 0);
		Attribution::prune(26, polkadot_sdk::frame_support::weights::Weight::MAX);
		assert_eq!(PruneCursor::<Test>::get(), 2, "MaxPrunePerBlock is 2");
		Attribution::prune(26, polkadot_sdk::frame_support::weights::Weight::MAX);
		assert_eq!(PruneCursor::<Test>::get(), 3);
	});
}

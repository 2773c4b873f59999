use crate::{mock::*, *};
use polkadot_sdk::frame_support::{assert_noop, assert_ok, traits::Hooks};

#[test]
fn undecided_contributions_expire_and_return_their_bond() {
	build_and_execute(|| {
		let d = create();
		let c = contribute(ALICE, d, 1);
		let decided = contribute(BOB, d, 2);
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), decided, Verdict::Approve));
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_2), decided, Verdict::Approve));
		let expires_at = Contributions::<Test>::get(c).unwrap().expires_at;
		assert_eq!(expires_at, 2 + 10);
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), c, Verdict::Approve));
		run_to_block(expires_at - 1);
		assert!(Contributions::<Test>::get(c).is_some());
		run_to_block(expires_at);
		assert_eq!(
			last_event(),
			Event::Expired { datanet: d, contribution: c, who: ALICE, returned: BOND + RECORD_DEPOSIT }
		);
		assert!(Contributions::<Test>::get(c).is_none());
		assert_eq!(Reviews::<Test>::iter_prefix(c).count(), 0);
		assert_eq!(free(ALICE), START);
		// The approved one stays.
		run_to_block(20);
		assert_eq!(Contributions::<Test>::get(decided).unwrap().status, Status::Approved);
		assert_eq!(ExpiryQueue::<Test>::iter().count(), 0);
	});
}

#[test]
fn a_full_expiry_bucket_spills_into_the_next_block() {
	build_and_execute(|| {
		let d = create();
		let mut r = rules();
		r.quota.per_period = 8;
		assert_ok!(Datanets::update_datanet(RuntimeOrigin::signed(OWNER), d, None, Some(r)));
		for n in 0..4u8 {
			commit(ALICE, d, n);
		}
		run_to_block(2);
		for n in 0..4u8 {
			assert_ok!(Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(n), 10, 1));
		}
		// MaxExpiringPerBlock = 3: the fourth expires a block later.
		assert_eq!(ExpiryQueue::<Test>::get(12).len(), 3);
		assert_eq!(ExpiryQueue::<Test>::get(13).into_inner(), vec![3]);
		assert_eq!(Contributions::<Test>::get(3).unwrap().expires_at, 13);
		run_to_block(12);
		assert_eq!(Registry::<Test>::get(d).unwrap().pending, 1);
		run_to_block(13);
		assert_eq!(Registry::<Test>::get(d).unwrap().pending, 0);
	});
}

#[test]
fn when_every_bucket_in_reach_is_full_the_contribution_waits() {
	build_and_execute(|| {
		let d = create();
		let full: Vec<u64> = (1000..1000 + MAX_EXPIRING as u64).collect();
		for b in 12..12 + crate::impls::EXPIRY_SLOTS_TRIED as u64 {
			ExpiryQueue::<Test>::insert(b, frame_support::BoundedVec::truncate_from(full.clone()));
		}
		commit(ALICE, d, 1);
		run_to_block(2);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 10, 1),
			Error::<Test>::ExpiryQueueFull
		);
		// Unknown ids in a bucket are skipped when it comes due.
		run_to_block(12);
		assert!(ExpiryQueue::<Test>::get(12).is_empty());
		// The weight of a block's expiry grows with its bucket.
		let w0 = <Datanets as Hooks<u64>>::on_initialize(100);
		let w3 = <Datanets as Hooks<u64>>::on_initialize(13);
		assert!(w3.ref_time() > w0.ref_time());
	});
}

use polkadot_sdk::frame_support;

use crate::{mock::*, *};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::DispatchError,
};

fn approved(who: AccountId, n: u8) -> u64 {
	let c = contribute(who, 0, n);
	assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), c, Verdict::Approve));
	assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_2), c, Verdict::Approve));
	c
}

#[test]
fn a_contributor_asks_for_removal_of_its_approved_data() {
	build_and_execute(|| {
		create();
		let pending = contribute(ALICE, 0, 9);
		assert_noop!(
			Datanets::request_removal(RuntimeOrigin::signed(ALICE), pending),
			Error::<Test>::NotApproved
		);
		let c = approved(ALICE, 1);
		assert_noop!(
			Datanets::request_removal(RuntimeOrigin::signed(BOB), c),
			Error::<Test>::NotContributor
		);
		assert_noop!(
			Datanets::request_removal(RuntimeOrigin::signed(ALICE), 77),
			Error::<Test>::UnknownContribution
		);
		assert_ok!(Datanets::request_removal(RuntimeOrigin::signed(ALICE), c));
		assert_eq!(last_event(), Event::RemovalRequested { datanet: 0, contribution: c, who: ALICE });
		assert!(Contributions::<Test>::get(c).unwrap().removal_requested);
		assert_noop!(
			Datanets::request_removal(RuntimeOrigin::signed(ALICE), c),
			Error::<Test>::AlreadyRequested
		);
	});
}

#[test]
fn the_owner_removes_and_the_record_deposit_comes_back() {
	build_and_execute(|| {
		create();
		let c = approved(ALICE, 1);
		assert_noop!(Datanets::remove(RuntimeOrigin::signed(BOB), c), Error::<Test>::NotOwner);
		assert_noop!(Datanets::remove(RuntimeOrigin::none(), c), DispatchError::BadOrigin);
		assert_ok!(Datanets::remove(RuntimeOrigin::signed(OWNER), c));
		assert_eq!(
			last_event(),
			Event::Removed {
				datanet: 0,
				contribution: c,
				who: ALICE,
				removed_in: 1,
				refunded: RECORD_DEPOSIT,
			}
		);
		let tomb = Contributions::<Test>::get(c).unwrap();
		assert_eq!((tomb.status, tomb.removed_in, tomb.record_deposit), (Status::Removed, Some(1), 0));
		assert_eq!(free(ALICE), START);
		assert!(!Members::<Test>::contains_key(0, c));
		let d = Registry::<Test>::get(0).unwrap();
		assert_eq!((d.live, d.changed), (0, true));
		assert_eq!(Stats::<Test>::get(0, ALICE).removed, 1);
		assert_noop!(Datanets::remove(RuntimeOrigin::signed(OWNER), c), Error::<Test>::NotApproved);
		// Removed data stays out: contributing it again is a duplicate.
		commit(ALICE, 0, 1);
		run_to_block(System::block_number() + 1);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), 0, hash(1), 10, 1),
			Error::<Test>::Duplicate
		);
	});
}

#[test]
fn governance_removes_without_being_the_owner() {
	build_and_execute(|| {
		create();
		let c = approved(BOB, 1);
		let pending = contribute(ALICE, 0, 2);
		assert_noop!(Datanets::remove(RuntimeOrigin::root(), pending), Error::<Test>::NotApproved);
		assert_noop!(Datanets::remove(RuntimeOrigin::root(), 99), Error::<Test>::UnknownContribution);
		assert_ok!(Datanets::remove(RuntimeOrigin::root(), c));
		assert!(matches!(last_event(), Event::Removed { contribution, who: BOB, .. } if contribution == c));
	});
}

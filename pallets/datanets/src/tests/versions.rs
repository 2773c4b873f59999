use crate::{mock::*, *};
use mnemo_primitives::DatanetsInspect;
use polkadot_sdk::{
	binary_merkle_tree::merkle_root,
	frame_support::{assert_noop, assert_ok},
	sp_runtime::traits::BlakeTwo256,
};

fn approve(c: u64) {
	assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), c, Verdict::Approve));
	assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_2), c, Verdict::Approve));
}

fn root_of(ns: &[u8]) -> polkadot_sdk::sp_core::H256 {
	merkle_root::<BlakeTwo256, _>(ns.iter().map(|n| hash(*n).0))
}

#[test]
fn publishing_freezes_every_approved_contribution_so_far() {
	build_and_execute(|| {
		let d = create();
		assert_noop!(
			Datanets::publish_version(RuntimeOrigin::signed(OWNER), d),
			Error::<Test>::NothingToPublish
		);
		let a = contribute(ALICE, d, 1);
		let b = contribute(BOB, d, 2);
		let pending = contribute(CAROL, d, 3);
		approve(a);
		approve(b);
		assert_noop!(
			Datanets::publish_version(RuntimeOrigin::signed(ALICE), d),
			Error::<Test>::NotOwner
		);
		assert_noop!(
			Datanets::publish_version(RuntimeOrigin::signed(OWNER), 9),
			Error::<Test>::UnknownDatanet
		);
		assert_ok!(Datanets::publish_version(RuntimeOrigin::signed(OWNER), d));
		assert_eq!(
			last_event(),
			Event::VersionPublished {
				datanet: d,
				version: 1,
				count: 2,
				total_bytes: 200,
				total_rows: 20,
				root: root_of(&[1, 2]),
			}
		);
		let v1 = Versions::<Test>::get(d, 1).unwrap();
		assert_eq!((v1.count, v1.published_at), (2, System::block_number()));
		assert_eq!(held(HoldReason::DatanetDeposit, OWNER), DATANET_DEPOSIT + VERSION_DEPOSIT);
		assert_eq!(Registry::<Test>::get(d).unwrap().deposit, DATANET_DEPOSIT + VERSION_DEPOSIT);
		assert_noop!(
			Datanets::publish_version(RuntimeOrigin::signed(OWNER), d),
			Error::<Test>::NothingToPublish
		);

		assert!(Datanets::version_exists(d, 1));
		assert!(!Datanets::version_exists(d, 0));
		assert!(!Datanets::version_exists(d, 2));
		assert!(Datanets::is_in_version(d, 1, a) && Datanets::is_in_version(d, 1, b));
		assert!(!Datanets::is_in_version(d, 1, pending));
		assert!(!Datanets::is_in_version(d + 1, 1, a));
		assert_eq!(Datanets::version_contributions(d, 1), vec![(a, hash(1)), (b, hash(2))]);

		// Versions are cumulative: version 2 has all three.
		approve(pending);
		assert!(!Datanets::is_in_version(d, 1, pending));
		assert_ok!(Datanets::publish_version(RuntimeOrigin::signed(OWNER), d));
		assert_eq!(Versions::<Test>::get(d, 2).unwrap().root, root_of(&[1, 2, 3]));
		assert_eq!(Versions::<Test>::get(d, 2).unwrap().count, 3);
		assert_eq!(Versions::<Test>::get(d, 1).unwrap().count, 2);
		assert!(Datanets::is_in_version(d, 2, pending));
		assert!(!Datanets::is_in_version(d, 1, pending));
		assert_eq!(Datanets::version_contributions(d, 2).len(), 3);
		let (dn, latest) = Datanets::datanet(d).unwrap();
		assert_eq!((dn.latest_version, latest.unwrap().count), (2, 3));
	});
}

#[test]
fn a_removed_contribution_leaves_later_versions_and_stops_earning_at_once() {
	build_and_execute(|| {
		let d = create();
		let a = contribute(ALICE, d, 1);
		let b = contribute(BOB, d, 2);
		approve(a);
		approve(b);
		assert_ok!(Datanets::publish_version(RuntimeOrigin::signed(OWNER), d));
		assert!(Datanets::earns_credit(a));
		assert_ok!(Datanets::remove(RuntimeOrigin::signed(OWNER), a));
		assert!(!Datanets::earns_credit(a));
		// Version 1 keeps it (models pinned it); version 2 leaves it out.
		assert!(Datanets::is_in_version(d, 1, a));
		assert_ok!(Datanets::publish_version(RuntimeOrigin::signed(OWNER), d));
		assert!(!Datanets::is_in_version(d, 2, a));
		assert!(Datanets::is_in_version(d, 2, b));
		assert_eq!(Versions::<Test>::get(d, 2).unwrap().root, root_of(&[2]));
		assert_eq!(Datanets::version_contributions(d, 1), vec![(a, hash(1)), (b, hash(2))]);
		assert_eq!(Datanets::version_contributions(d, 2), vec![(b, hash(2))]);
		assert_eq!(Datanets::version_contributions(d, 3), vec![]);
		assert_eq!(Datanets::contributor(a), Some(ALICE));
		assert_eq!(Datanets::datanet_owner(d), Some(OWNER));
		assert_eq!(Datanets::datanet_owner(9), None);
	});
}

#[test]
fn an_empty_version_has_the_zero_root() {
	build_and_execute(|| {
		let d = create();
		let a = contribute(ALICE, d, 1);
		approve(a);
		assert_ok!(Datanets::remove(RuntimeOrigin::signed(OWNER), a));
		assert_ok!(Datanets::publish_version(RuntimeOrigin::signed(OWNER), d));
		let v = Versions::<Test>::get(d, 1).unwrap();
		assert_eq!((v.count, v.total_bytes, v.root), (0, 0, Default::default()));
		assert!(!Datanets::is_in_version(d, 1, a));
	});
}

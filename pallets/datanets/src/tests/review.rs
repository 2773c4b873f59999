use crate::{mock::*, *};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::Perbill,
};

fn reject(reason: &str) -> Verdict<Test> {
	Verdict::Reject { reason: bounded(reason) }
}

#[test]
fn k_approvals_accept_and_return_the_bond() {
	build_and_execute(|| {
		let d = create();
		let c = contribute(ALICE, d, 1);
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), c, Verdict::Approve));
		assert_eq!(
			last_event(),
			Event::Reviewed { contribution: c, curator: CURATOR_1, approve: true, reason: None }
		);
		let pending = Contributions::<Test>::get(c).unwrap();
		assert_eq!((pending.status, pending.approvals), (Status::Pending, 1));
		assert_eq!(held(HoldReason::ContributionBond, ALICE), BOND);

		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_3), c, Verdict::Approve));
		assert_eq!(
			last_event(),
			Event::Approved { datanet: d, contribution: c, who: ALICE, included_in: 1, returned: BOND }
		);
		let approved = Contributions::<Test>::get(c).unwrap();
		assert_eq!(approved.status, Status::Approved);
		assert_eq!((approved.bond, approved.included_in), (0, Some(1)));
		assert_eq!(held(HoldReason::ContributionBond, ALICE), 0);
		assert_eq!(held(HoldReason::RecordDeposit, ALICE), RECORD_DEPOSIT);
		assert_eq!(free(ALICE), START - RECORD_DEPOSIT);
		assert!(Members::<Test>::contains_key(d, c));
		assert!(!AwaitingValidation::<Test>::contains_key(c));
		assert_eq!(Reviews::<Test>::iter_prefix(c).count(), 0);
		let dn = Registry::<Test>::get(d).unwrap();
		assert_eq!((dn.pending, dn.live, dn.changed), (0, 1, true));
		assert_eq!(Stats::<Test>::get(d, ALICE).approved, 1);
		assert_eq!(
			<Datanets as mnemo_primitives::DatanetsInspect<_>>::reputation(d, &ALICE),
			mnemo_primitives::Reputation { approved: 1, rejected: 0, removed: 0 }
		);
	});
}

#[test]
fn k_rejections_refuse_and_slash_part_of_the_bond_to_the_treasury() {
	build_and_execute(|| {
		let d = create();
		let c = contribute(ALICE, d, 1);
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), c, reject("off-topic")));
		assert_eq!(
			last_event(),
			Event::Reviewed {
				contribution: c,
				curator: CURATOR_1,
				approve: false,
				reason: Some(bounded("off-topic")),
			}
		);
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_2), c, Verdict::Approve));
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_3), c, reject("garbage")));
		// 50% of the bond of 50 is slashed; the rest and the record deposit come back.
		assert_eq!(
			last_event(),
			Event::Rejected {
				datanet: d,
				contribution: c,
				who: ALICE,
				by: RejectedBy::Curators,
				slashed: 25,
				returned: 25 + RECORD_DEPOSIT,
			}
		);
		assert_eq!(free(ALICE), START - 25);
		assert_eq!(free(TREASURY), START + 25);
		assert_eq!(held(HoldReason::ContributionBond, ALICE), 0);
		assert_eq!(held(HoldReason::RecordDeposit, ALICE), 0);
		assert!(Contributions::<Test>::get(c).is_none());
		assert!(ByHash::<Test>::get(d, hash(1)).is_none());
		assert_eq!(Reviews::<Test>::iter_prefix(c).count(), 0);
		assert_eq!(Stats::<Test>::get(d, ALICE).rejected, 1);
		assert_eq!(Registry::<Test>::get(d).unwrap().pending, 0);
	});
}

#[test]
fn the_slash_share_is_the_datanets_choice() {
	build_and_execute(|| {
		let d = create();
		for (pct, n) in [(0u32, 1u8), (100, 2)] {
			let mut r = rules();
			r.reject_slash = Perbill::from_percent(pct);
			assert_ok!(Datanets::update_datanet(RuntimeOrigin::signed(OWNER), d, None, Some(r)));
			let before = free(TREASURY);
			let c = contribute(BOB, d, n);
			assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), c, reject("no")));
			assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_2), c, reject("no")));
			let slashed = BOND * pct as u128 / 100;
			assert_eq!(free(TREASURY), before + slashed);
			assert!(matches!(last_event(), Event::Rejected { slashed: s, .. } if s == slashed));
		}
		assert_eq!(free(BOB), START - BOND);
	});
}

#[test]
fn review_errors() {
	build_and_execute(|| {
		let d = create();
		let c = contribute(ALICE, d, 1);
		assert_noop!(
			Datanets::review(RuntimeOrigin::signed(ALICE), c, Verdict::Approve),
			Error::<Test>::NotCurator
		);
		assert_noop!(
			Datanets::review(RuntimeOrigin::signed(CURATOR_1), 42, Verdict::Approve),
			Error::<Test>::UnknownContribution
		);
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), c, Verdict::Approve));
		assert_noop!(
			Datanets::review(RuntimeOrigin::signed(CURATOR_1), c, reject("changed my mind")),
			Error::<Test>::AlreadyReviewed
		);
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_2), c, Verdict::Approve));
		assert_noop!(
			Datanets::review(RuntimeOrigin::signed(CURATOR_3), c, Verdict::Approve),
			Error::<Test>::NotPending
		);
	});
}

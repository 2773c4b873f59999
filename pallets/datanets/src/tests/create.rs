use crate::{mock::*, *};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok, BoundedVec},
	sp_runtime::{DispatchError, Perbill, TokenError},
};

#[test]
fn create_holds_the_deposit_and_emits() {
	build_and_execute(|| {
		assert_ok!(Datanets::create_datanet(
			RuntimeOrigin::signed(OWNER),
			Kind::Text,
			metadata(),
			rules()
		));
		assert_eq!(
			last_event(),
			Event::DatanetCreated { datanet: 0, owner: OWNER, kind: Kind::Text, deposit: DATANET_DEPOSIT }
		);
		assert_eq!(held(HoldReason::DatanetDeposit, OWNER), DATANET_DEPOSIT);
		assert_eq!(free(OWNER), START - DATANET_DEPOSIT);
		let d = Registry::<Test>::get(0).unwrap();
		assert_eq!(d.owner, OWNER);
		assert_eq!(d.status, DatanetStatus::Open);
		assert_eq!(d.metadata, metadata());
		assert_eq!(d.latest_version, 0);
		assert_eq!(NextDatanetId::<Test>::get(), 1);
		assert_eq!(create(), 1);
	});
}

#[test]
fn create_refuses_bad_rules_and_holds_nothing() {
	build_and_execute(|| {
		let cases: Vec<(fn(&mut Rules<Test>), Error<Test>)> = vec![
			(|r| r.bond = MIN_BOND - 1, Error::BondTooLow),
			(|r| r.threshold = 0, Error::BadThreshold),
			(|r| r.threshold = 4, Error::BadThreshold),
			(|r| r.curators = BoundedVec::new(), Error::BadThreshold),
			(|r| r.quota.per_period = 0, Error::BadQuota),
			(|r| r.quota.period = 0, Error::BadQuota),
			(|r| r.review_period = 0, Error::BadReviewPeriod),
			(|r| r.review_period = 101, Error::BadReviewPeriod),
			(
				|r| r.curators = vec![CURATOR_1, CURATOR_1].try_into().unwrap(),
				Error::DuplicateMember,
			),
			(
				|r| {
					let (_, k) = keystore_with_validator("//V");
					r.validators = vec![k.clone(), k].try_into().unwrap()
				},
				Error::DuplicateMember,
			),
		];
		for (edit, err) in cases {
			let mut r = rules();
			edit(&mut r);
			assert_noop!(
				Datanets::create_datanet(RuntimeOrigin::signed(OWNER), Kind::Text, metadata(), r),
				err
			);
		}
		assert_eq!(held(HoldReason::DatanetDeposit, OWNER), 0);
	});
}

#[test]
fn create_without_the_deposit_fails() {
	build_and_execute(|| {
		assert_noop!(
			Datanets::create_datanet(RuntimeOrigin::signed(POOR), Kind::Text, metadata(), rules()),
			TokenError::FundsUnavailable
		);
		assert_noop!(
			Datanets::create_datanet(RuntimeOrigin::none(), Kind::Text, metadata(), rules()),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn the_owner_updates_metadata_and_rules() {
	build_and_execute(|| {
		let d = create();
		let mut m = metadata();
		m.description = Description::Hash(hash(7));
		assert_ok!(Datanets::update_datanet(RuntimeOrigin::signed(OWNER), d, Some(m.clone()), None));
		assert_eq!(last_event(), Event::DatanetUpdated { datanet: d, metadata: true, rules: false });
		let mut r = rules();
		r.threshold = 3;
		r.reject_slash = Perbill::from_percent(10);
		assert_ok!(Datanets::update_datanet(RuntimeOrigin::signed(OWNER), d, None, Some(r.clone())));
		assert_eq!(last_event(), Event::DatanetUpdated { datanet: d, metadata: false, rules: true });
		let stored = Registry::<Test>::get(d).unwrap();
		assert_eq!((stored.metadata, stored.rules), (m, r));

		let mut bad = rules();
		bad.threshold = 9;
		assert_noop!(
			Datanets::update_datanet(RuntimeOrigin::signed(OWNER), d, None, Some(bad)),
			Error::<Test>::BadThreshold
		);
		assert_noop!(
			Datanets::update_datanet(RuntimeOrigin::signed(ALICE), d, None, None),
			Error::<Test>::NotOwner
		);
		assert_noop!(
			Datanets::update_datanet(RuntimeOrigin::signed(OWNER), 9, None, None),
			Error::<Test>::UnknownDatanet
		);
	});
}

#[test]
fn ownership_moves_only_when_accepted_and_the_deposit_moves_with_it() {
	build_and_execute(|| {
		let d = create();
		assert_noop!(
			Datanets::transfer_ownership(RuntimeOrigin::signed(ALICE), d, ALICE),
			Error::<Test>::NotOwner
		);
		assert_ok!(Datanets::transfer_ownership(RuntimeOrigin::signed(OWNER), d, ALICE));
		assert_eq!(last_event(), Event::OwnershipOffered { datanet: d, from: OWNER, to: ALICE });
		assert_eq!(Registry::<Test>::get(d).unwrap().owner, OWNER);
		assert_noop!(
			Datanets::accept_ownership(RuntimeOrigin::signed(BOB), d),
			Error::<Test>::NotOffered
		);
		assert_noop!(
			Datanets::accept_ownership(RuntimeOrigin::signed(ALICE), 9),
			Error::<Test>::UnknownDatanet
		);
		assert_ok!(Datanets::accept_ownership(RuntimeOrigin::signed(ALICE), d));
		assert_eq!(
			last_event(),
			Event::OwnershipTransferred { datanet: d, from: OWNER, to: ALICE, deposit: DATANET_DEPOSIT }
		);
		assert_eq!(held(HoldReason::DatanetDeposit, OWNER), 0);
		assert_eq!(free(OWNER), START);
		assert_eq!(held(HoldReason::DatanetDeposit, ALICE), DATANET_DEPOSIT);
		let stored = Registry::<Test>::get(d).unwrap();
		assert_eq!((stored.owner, stored.pending_owner), (ALICE, None));
		assert_noop!(
			Datanets::close_datanet(RuntimeOrigin::signed(OWNER), d),
			Error::<Test>::NotOwner
		);
	});
}

#[test]
fn accepting_needs_the_deposit() {
	build_and_execute(|| {
		let d = create();
		assert_ok!(Datanets::transfer_ownership(RuntimeOrigin::signed(OWNER), d, POOR));
		assert_noop!(
			Datanets::accept_ownership(RuntimeOrigin::signed(POOR), d),
			TokenError::FundsUnavailable
		);
	});
}

#[test]
fn a_closed_datanet_takes_no_contributions_but_keeps_its_records() {
	build_and_execute(|| {
		let d = create();
		let c = contribute(ALICE, d, 1);
		assert_noop!(
			Datanets::close_datanet(RuntimeOrigin::signed(ALICE), d),
			Error::<Test>::NotOwner
		);
		assert_ok!(Datanets::close_datanet(RuntimeOrigin::signed(OWNER), d));
		assert_eq!(last_event(), Event::DatanetClosed { datanet: d });
		assert_noop!(
			Datanets::close_datanet(RuntimeOrigin::signed(OWNER), d),
			Error::<Test>::DatanetClosed
		);
		commit(BOB, d, 2);
		run_to_block(3);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(BOB), d, hash(2), 10, 1),
			Error::<Test>::DatanetClosed
		);
		// Pending contributions are still reviewed.
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), c, Verdict::Approve));
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_2), c, Verdict::Approve));
		assert_eq!(Contributions::<Test>::get(c).unwrap().status, Status::Approved);
		assert_eq!(held(HoldReason::DatanetDeposit, OWNER), DATANET_DEPOSIT);
	});
}

#[test]
fn invite_only_datanets_take_only_invited_accounts() {
	build_and_execute(|| {
		let mut r = rules();
		r.access = Access::InviteOnly;
		let d = Datanets::do_create_datanet(OWNER, Kind::Text, metadata(), r).unwrap();
		commit(ALICE, d, 1);
		run_to_block(2);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 10, 1),
			Error::<Test>::NotInvited
		);
		assert_noop!(
			Datanets::invite(RuntimeOrigin::signed(ALICE), d, ALICE),
			Error::<Test>::NotOwner
		);
		assert_ok!(Datanets::invite(RuntimeOrigin::signed(OWNER), d, ALICE));
		assert_eq!(last_event(), Event::Invited { datanet: d, who: ALICE });
		assert_noop!(
			Datanets::invite(RuntimeOrigin::signed(OWNER), d, ALICE),
			Error::<Test>::AlreadyInvited
		);
		assert_ok!(Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 10, 1));
		assert_ok!(Datanets::invite(RuntimeOrigin::signed(OWNER), d, BOB));
		assert_noop!(
			Datanets::invite(RuntimeOrigin::signed(OWNER), d, CAROL),
			Error::<Test>::TooManyInvites
		);
		assert_ok!(Datanets::uninvite(RuntimeOrigin::signed(OWNER), d, BOB));
		assert_eq!(last_event(), Event::Uninvited { datanet: d, who: BOB });
		assert_noop!(
			Datanets::uninvite(RuntimeOrigin::signed(OWNER), d, BOB),
			Error::<Test>::NotInvited
		);
		assert_ok!(Datanets::invite(RuntimeOrigin::signed(OWNER), d, CAROL));
		assert_eq!(Registry::<Test>::get(d).unwrap().invited, 2);
	});
}

use crate::{mock::*, *};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::TokenError,
};

#[test]
fn contributing_holds_the_bond_and_the_record_deposit() {
	build_and_execute(|| {
		let d = create();
		let commitment = Datanets::commitment_of(d, &hash(1), &ALICE);
		assert_ok!(Datanets::commit(RuntimeOrigin::signed(ALICE), commitment));
		assert_eq!(
			last_event(),
			Event::Committed { who: ALICE, commitment, deposit: COMMIT_DEPOSIT }
		);
		assert_eq!(held(HoldReason::CommitDeposit, ALICE), COMMIT_DEPOSIT);
		run_to_block(2);
		assert_ok!(Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 120, 12));
		assert_eq!(
			last_event(),
			Event::Contributed {
				datanet: d,
				contribution: 0,
				who: ALICE,
				content_hash: hash(1),
				byte_len: 120,
				row_count: 12,
				bond: BOND,
				expires_at: 12,
			}
		);
		assert_eq!(held(HoldReason::CommitDeposit, ALICE), 0);
		assert_eq!(held(HoldReason::ContributionBond, ALICE), BOND);
		assert_eq!(held(HoldReason::RecordDeposit, ALICE), RECORD_DEPOSIT);
		assert_eq!(free(ALICE), START - BOND - RECORD_DEPOSIT);
		let c = Contributions::<Test>::get(0).unwrap();
		assert_eq!((c.status, c.committed_at, c.submitted_at), (Status::Pending, 1, 2));
		assert_eq!(ByHash::<Test>::get(d, hash(1)), Some(0));
		assert!(ByContributor::<Test>::contains_key(ALICE, 0));
		assert!(AwaitingValidation::<Test>::contains_key(0));
		assert_eq!(ExpiryQueue::<Test>::get(12).into_inner(), vec![0]);
		assert_eq!(Registry::<Test>::get(d).unwrap().pending, 1);
		assert_eq!(Stats::<Test>::get(d, ALICE).used, 1);
		assert!(Commitments::<Test>::get(ALICE, commitment).is_none());
	});
}

#[test]
fn commitments_are_held_cancelled_and_not_doubled() {
	build_and_execute(|| {
		let commitment = Datanets::commitment_of(0, &hash(1), &ALICE);
		assert_ok!(Datanets::commit(RuntimeOrigin::signed(ALICE), commitment));
		assert_noop!(
			Datanets::commit(RuntimeOrigin::signed(ALICE), commitment),
			Error::<Test>::AlreadyCommitted
		);
		assert_ok!(Datanets::cancel_commitment(RuntimeOrigin::signed(ALICE), commitment));
		assert_eq!(last_event(), Event::CommitmentCancelled { who: ALICE, commitment });
		assert_eq!(held(HoldReason::CommitDeposit, ALICE), 0);
		assert_eq!(free(ALICE), START);
		assert_noop!(
			Datanets::cancel_commitment(RuntimeOrigin::signed(ALICE), commitment),
			Error::<Test>::UnknownCommitment
		);
		assert_noop!(
			Datanets::commit(RuntimeOrigin::signed(0), commitment),
			TokenError::FundsUnavailable
		);
	});
}

#[test]
fn a_contribution_must_reveal_an_older_commitment_of_its_own() {
	build_and_execute(|| {
		let d = create();
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 10, 1),
			Error::<Test>::NotCommitted
		);
		commit(ALICE, d, 1);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 10, 1),
			Error::<Test>::CommitmentTooRecent
		);
		run_to_block(2);
		// Another hash, another account or another datanet do not match the commitment.
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(2), 10, 1),
			Error::<Test>::NotCommitted
		);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(BOB), d, hash(1), 10, 1),
			Error::<Test>::NotCommitted
		);
		let other = create();
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), other, hash(1), 10, 1),
			Error::<Test>::NotCommitted
		);
		assert_ok!(Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 10, 1));
	});
}

/// The front-running attack: BOB reads ALICE's hash from her `contribute` in the pool, commits
/// to it and gets his own `contribute` in first. ALICE's older commitment wins: BOB's copy is
/// displaced and ALICE's contribution stands.
#[test]
fn a_copier_who_reads_the_hash_in_the_mempool_cannot_take_the_contribution() {
	build_and_execute(|| {
		let d = create();
		// Block 1: ALICE commits; the commitment reveals nothing about the hash.
		commit(ALICE, d, 1);
		run_to_block(2);
		// Block 2: ALICE's `contribute` sits in the pool; BOB sees the hash and commits.
		commit(BOB, d, 1);
		// Without a commitment, copying the call as it is fails outright.
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(CAROL), d, hash(1), 10, 1),
			Error::<Test>::NotCommitted
		);
		run_to_block(3);
		// Block 3: BOB's copy is included before ALICE's call.
		assert_ok!(Datanets::contribute(RuntimeOrigin::signed(BOB), d, hash(1), 10, 1));
		let bob_copy = 0;
		assert_eq!(ByHash::<Test>::get(d, hash(1)), Some(bob_copy));
		// ALICE's call lands: her commitment (block 1) is older than BOB's (block 2).
		assert_ok!(Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 10, 1));
		let alice = 1;
		let evs = events();
		assert_eq!(
			evs[evs.len() - 2],
			Event::Displaced { datanet: d, contribution: bob_copy, who: BOB, by: alice }
		);
		assert!(matches!(evs[evs.len() - 1], Event::Contributed { contribution: 1, who: ALICE, .. }));
		assert_eq!(ByHash::<Test>::get(d, hash(1)), Some(alice));
		assert!(Contributions::<Test>::get(bob_copy).is_none());
		assert_eq!(Contributions::<Test>::get(alice).unwrap().contributor, ALICE);
		// BOB got his money back (he loses only fees) and holds nothing.
		assert_eq!(free(BOB), START);
		assert_eq!(held(HoldReason::ContributionBond, BOB), 0);
		assert_eq!(Registry::<Test>::get(d).unwrap().pending, 1);
		// And BOB cannot displace ALICE in return: his commitment is younger.
		commit(BOB, d, 1);
		run_to_block(4);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(BOB), d, hash(1), 10, 1),
			Error::<Test>::Duplicate
		);
	});
}

#[test]
fn the_same_data_twice_is_a_duplicate() {
	build_and_execute(|| {
		let d = create();
		let first = contribute(ALICE, d, 1);
		commit(ALICE, d, 1);
		run_to_block(System::block_number() + 1);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 100, 10),
			Error::<Test>::Duplicate
		);
		// Approved data is a duplicate for everyone, whatever the commitment's age.
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), first, Verdict::Approve));
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_2), first, Verdict::Approve));
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 100, 10),
			Error::<Test>::Duplicate
		);
		// The same data may go into another datanet.
		let other = create();
		contribute(BOB, other, 1);
	});
}

#[test]
fn sizes_are_checked() {
	build_and_execute(|| {
		let d = create();
		commit(ALICE, d, 1);
		run_to_block(2);
		for (bytes, rows, err) in [
			(0, 1, Error::<Test>::Empty),
			(1, 0, Error::<Test>::Empty),
			((1 << 20) + 1, 1, Error::<Test>::TooLarge),
		] {
			assert_noop!(
				Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), bytes, rows),
				err
			);
		}
		assert_ok!(Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(1), 1 << 20, 1));
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), 7, hash(1), 1, 1),
			Error::<Test>::UnknownDatanet
		);
	});
}

#[test]
fn the_quota_counts_per_period() {
	build_and_execute(|| {
		let d = create();
		// Quota: 3 per 10 blocks; blocks 1..=9 are period 0.
		for n in 1..=3 {
			contribute(ALICE, d, n);
		}
		assert_eq!(System::block_number(), 4);
		commit(ALICE, d, 4);
		run_to_block(5);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(4), 10, 1),
			Error::<Test>::QuotaExceeded
		);
		// Others have their own quota.
		contribute(BOB, d, 5);
		run_to_block(10);
		assert_ok!(Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(4), 10, 1));
		assert_eq!(Stats::<Test>::get(d, ALICE).used, 1);
		assert_eq!(Stats::<Test>::get(d, ALICE).period_index, 1);
	});
}

#[test]
fn a_full_datanet_takes_no_more() {
	build_and_execute(|| {
		let d = create();
		let mut r = rules();
		r.quota.per_period = 10;
		assert_ok!(Datanets::update_datanet(RuntimeOrigin::signed(OWNER), d, None, Some(r)));
		// MaxContributions = 8 pending or approved.
		for n in 0..8 {
			contribute(ALICE, d, n);
		}
		commit(ALICE, d, 9);
		run_to_block(System::block_number() + 1);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(9), 10, 1),
			Error::<Test>::DatanetFull
		);
		assert_ok!(Datanets::withdraw(RuntimeOrigin::signed(ALICE), 0));
		assert_ok!(Datanets::contribute(RuntimeOrigin::signed(ALICE), d, hash(9), 10, 1));
	});
}

#[test]
fn a_contributor_without_the_bond_is_refused_and_keeps_its_commitment() {
	build_and_execute(|| {
		let d = create();
		let commitment = Datanets::commitment_of(d, &hash(1), &POOR);
		assert_ok!(Datanets::commit(RuntimeOrigin::signed(POOR), commitment));
		run_to_block(2);
		assert_noop!(
			Datanets::contribute(RuntimeOrigin::signed(POOR), d, hash(1), 10, 1),
			TokenError::FundsUnavailable
		);
		assert!(Commitments::<Test>::get(POOR, commitment).is_some());
	});
}

#[test]
fn withdrawing_a_pending_contribution_returns_everything() {
	build_and_execute(|| {
		let d = create();
		let c = contribute(ALICE, d, 1);
		assert_noop!(Datanets::withdraw(RuntimeOrigin::signed(BOB), c), Error::<Test>::NotContributor);
		assert_noop!(
			Datanets::withdraw(RuntimeOrigin::signed(ALICE), 99),
			Error::<Test>::UnknownContribution
		);
		assert_ok!(Datanets::withdraw(RuntimeOrigin::signed(ALICE), c));
		assert_eq!(
			last_event(),
			Event::Withdrawn { contribution: c, who: ALICE, refunded: BOND + RECORD_DEPOSIT }
		);
		assert_eq!(free(ALICE), START);
		assert!(Contributions::<Test>::get(c).is_none());
		assert!(ByHash::<Test>::get(d, hash(1)).is_none());
		assert!(!ByContributor::<Test>::contains_key(ALICE, c));
		assert!(!AwaitingValidation::<Test>::contains_key(c));
		assert_eq!(Registry::<Test>::get(d).unwrap().pending, 0);
		// The data may come back later.
		let again = contribute(ALICE, d, 1);
		// An approved contribution cannot be withdrawn, only removed.
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_1), again, Verdict::Approve));
		assert_ok!(Datanets::review(RuntimeOrigin::signed(CURATOR_2), again, Verdict::Approve));
		assert_noop!(
			Datanets::withdraw(RuntimeOrigin::signed(ALICE), again),
			Error::<Test>::NotPending
		);
	});
}

#[test]
fn view_functions_list_an_accounts_contributions() {
	build_and_execute(|| {
		let d = create();
		let a = contribute(ALICE, d, 1);
		let b = contribute(ALICE, d, 2);
		contribute(BOB, d, 3);
		let mine: Vec<_> = Datanets::contributions_by(&ALICE).into_iter().map(|(id, _)| id).collect();
		assert_eq!(mine, vec![a, b]);
		let (dn, version) = Datanets::datanet(d).unwrap();
		assert_eq!((dn.pending, version), (3, None));
		assert!(Datanets::datanet(5).is_none());
	});
}

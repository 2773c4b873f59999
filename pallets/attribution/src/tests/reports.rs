//! Commit-reveal, quorum, deadlines, aggregation, strikes and slashes.

use crate::{mock::*, *};
use polkadot_sdk::{frame_support::assert_ok, sp_runtime::DispatchError};

fn not_authorized() -> Result<(), DispatchError> {
	Err(DispatchError::Other("not authorized"))
}

fn struck(who: AccountId) -> Vec<Fault> {
	events()
		.into_iter()
		.filter_map(|e| match e {
			Event::AttestorStruck { attestor, fault, .. } if attestor == who => Some(fault),
			_ => None,
		})
		.collect()
}

fn phase(id: ReceiptId) -> Phase<u64> {
	Receipts::<Test>::get(id).unwrap().phase
}

#[test]
fn a_quorum_of_agreeing_reports_settles_with_their_scores() {
	build_and_execute(|| {
		setup();
		let (id, mut panel) = reported(1, &[(digest(1), scores()), (digest(1), scores()), (digest(1), scores())]);
		panel.sort();
		assert_eq!(phase(id), Phase::Settled { at: 1, release_at: 1 + 10 + 10 });
		let s = Settled::get().pop().expect("settled");
		assert_eq!((s.receipt, s.adapter_owner, s.release_at), (id, OWNER, 21));
		assert_eq!(s.attestors, panel);
		let credited: Vec<_> = s.contributions.iter().map(|c| (c.contribution, c.contributor, c.datanet_owner, c.share)).collect();
		assert_eq!(credited, vec![(100, C1, DN_OWNER, pb(50)), (102, C2, DN_OWNER, pb(30))]);
		let a = Attributions::<Test>::get(id).unwrap();
		assert_eq!(a.digest, digest(1));
		assert_eq!(a.shares.into_inner(), vec![(100, C1, pb(50)), (102, C2, pb(30))]);
		assert_eq!(Attribution::recent_attributions(C1), vec![(id, 100, pb(50))]);
		assert_eq!(Attribution::recent_attributions(C2), vec![(id, 102, pb(30))]);
		for a in &panel {
			let rec = Attestors::<Test>::get(a).unwrap();
			assert_eq!((rec.open, rec.locked_until, rec.strikes), (0, 21, 0));
			assert!(!Assignments::<Test>::contains_key(a, id));
		}
		assert!(matches!(events().last(), Some(Event::ReceiptSettled { fee: 5, release_at: 21, .. })));
	});
}

#[test]
fn the_quorum_closes_the_commit_phase_early() {
	build_and_execute(|| {
		setup();
		let id = recorded(1);
		let panel = assigned(id);
		commit(panel[0], id, digest(1), &scores());
		commit(panel[1], id, digest(1), &scores());
		assert!(matches!(phase(id), Phase::Commit { .. }));
		// Revealing before the commit phase closes is refused.
		assert_eq!(dispatch_authorized(reveal_call(panel[0], id, digest(1), &scores())), not_authorized());
		commit(panel[2], id, digest(1), &scores());
		assert_eq!(phase(id), Phase::Reveal { until: 1 + 5 });
		assert!(events().iter().any(|e| matches!(e, Event::RevealOpened { committed: 3, .. })));
	});
}

#[test]
fn only_assigned_attestors_commit_and_only_once() {
	build_and_execute(|| {
		setup();
		let id = recorded(1);
		let panel = assigned(id);
		let outsider = [A1, A2, A3, A4].into_iter().find(|a| !panel.contains(a)).unwrap();
		assert_eq!(e(Attribution::check_commit(&Commit { receipt: id, key: key_of(outsider), commitment: [0; 32] })), Err(Error::<Test>::NotAssigned.into()));
		assert_eq!(dispatch_authorized(commit_call(outsider, id, digest(1), &scores())), not_authorized());
		commit(panel[0], id, digest(1), &scores());
		assert_eq!(e(Attribution::check_commit(&Commit { receipt: id, key: key_of(panel[0]), commitment: [0; 32] })), Err(Error::<Test>::AlreadyCommitted.into()));
		assert_eq!(e(Attribution::check_commit(&Commit { receipt: 9, key: key_of(panel[0]), commitment: [0; 32] })), Err(Error::<Test>::UnknownReceipt.into()));
		assert_eq!(e(Attribution::check_commit(&Commit { receipt: id, key: new_key("//stranger"), commitment: [0; 32] })), Err(Error::<Test>::NotAttestor.into()));
		// A commitment signed by another key does not authorize.
		let commit = Commit { receipt: id, key: key_of(panel[1]), commitment: [0; 32] };
		let signature = {
			use polkadot_sdk::sp_application_crypto::RuntimeAppPublic;
			key_of(panel[2]).sign(&codec::Encode::encode(&commit)).unwrap()
		};
		assert_eq!(dispatch_authorized(RuntimeCall::Attribution(Call::commit_report { commit, signature })), not_authorized());
		// Past the commit deadline it is too late.
		run_to_block(7);
		assert_eq!(e(Attribution::check_commit(&Commit { receipt: id, key: key_of(panel[1]), commitment: [0; 32] })), Err(Error::<Test>::NotAssigned.into()));
	});
}

#[test]
fn reveals_must_match_the_commitment_and_the_training_data() {
	build_and_execute(|| {
		setup();
		let id = recorded(1);
		let panel = assigned(id);
		let outside = vec![(100, pb(50)), (200, pb(30))];
		commit(panel[0], id, digest(1), &scores());
		commit(panel[1], id, digest(1), &outside);
		commit(panel[2], id, digest(1), &scores());
		let check = |who, d, s: &[Score], salt_of| {
			let reveal = Reveal::<Test> { receipt: id, key: key_of(who), digest: d, scores: s.to_vec().try_into().unwrap(), salt: salt(salt_of) };
			e(Attribution::check_reveal(&reveal))
		};
		assert_eq!(check(panel[0], digest(2), &scores(), panel[0]), Err(Error::<Test>::CommitmentMismatch.into()));
		assert_eq!(check(panel[0], digest(1), &scores(), panel[1]), Err(Error::<Test>::CommitmentMismatch.into()));
		assert_eq!(check(panel[0], digest(1), &[(102, pb(30)), (100, pb(50))], panel[0]), Err(Error::<Test>::BadScores.into()));
		assert_eq!(check(panel[1], digest(1), &outside, panel[1]), Err(Error::<Test>::UnknownContribution.into()));
		reveal(panel[0], id, digest(1), &scores());
		assert_eq!(check(panel[0], digest(1), &scores(), panel[0]), Err(Error::<Test>::AlreadyRevealed.into()));
	});
}

#[test]
fn a_deadline_with_too_few_commitments_refunds_and_strikes_the_silent() {
	build_and_execute(|| {
		setup();
		let id = recorded(1);
		let panel = assigned(id);
		commit(panel[0], id, digest(1), &scores());
		run_to_block(6);
		assert_eq!(phase(id), Phase::Refunded { at: 6, why: RefundReason::TooFewReports });
		assert_eq!(credit(PAYER), 10_000);
		assert!(Escrowed::get().is_empty());
		assert!(struck(panel[0]).is_empty());
		assert_eq!(struck(panel[1]), vec![Fault::NoCommit]);
		assert_eq!(struck(panel[2]), vec![Fault::NoCommit]);
		assert!(Assignments::<Test>::iter().next().is_none());
		assert!(matches!(events().last(), Some(Event::ReceiptRefunded { amount: 5, why: RefundReason::TooFewReports, .. })));
	});
}

#[test]
fn a_deadline_with_the_minimum_settles_with_what_was_revealed() {
	build_and_execute(|| {
		setup();
		let id = recorded(1);
		let panel = assigned(id);
		commit(panel[0], id, digest(1), &scores());
		commit(panel[1], id, digest(1), &scores());
		run_to_block(6);
		assert_eq!(phase(id), Phase::Reveal { until: 11 });
		assert_eq!(struck(panel[2]), vec![Fault::NoCommit]);
		reveal(panel[0], id, digest(1), &scores());
		reveal(panel[1], id, digest(1), &scores());
		assert!(matches!(phase(id), Phase::Settled { at: 6, .. }));
		assert_eq!(Attributions::<Test>::get(id).unwrap().panel.len(), 2);
	});
}

#[test]
fn committers_who_do_not_reveal_are_struck_and_the_rest_settle_at_the_deadline() {
	build_and_execute(|| {
		setup();
		let id = recorded(1);
		let panel = assigned(id);
		for a in &panel {
			commit(*a, id, digest(1), &scores());
		}
		reveal(panel[0], id, digest(1), &scores());
		reveal(panel[1], id, digest(1), &scores());
		run_to_block(6);
		assert!(matches!(phase(id), Phase::Settled { at: 6, .. }));
		assert_eq!(struck(panel[2]), vec![Fault::NoReveal]);
		assert!(!Attributions::<Test>::get(id).unwrap().panel.contains(&panel[2]));
		// Too few reveals refund instead.
		let id = recorded(2);
		let panel = assigned(id);
		for a in &panel {
			commit(*a, id, digest(1), &scores());
		}
		reveal(panel[0], id, digest(1), &scores());
		run_to_block(11);
		assert_eq!(phase(id), Phase::Refunded { at: 11, why: RefundReason::TooFewReports });
	});
}

#[test]
fn a_minority_digest_is_struck_and_not_paid() {
	build_and_execute(|| {
		setup();
		let (id, panel) = reported(1, &[(digest(1), scores()), (digest(2), scores()), (digest(1), scores())]);
		assert_eq!(struck(panel[1]), vec![Fault::DigestMismatch]);
		let a = Attributions::<Test>::get(id).unwrap();
		assert_eq!(a.digest, digest(1));
		assert!(!a.panel.contains(&panel[1]) && a.panel.len() == 2);
	});
}

#[test]
fn without_a_majority_digest_the_fee_is_refunded() {
	build_and_execute(|| {
		setup();
		let (id, panel) = reported(1, &[(digest(1), scores()), (digest(2), scores()), (digest(3), scores())]);
		assert_eq!(phase(id), Phase::Refunded { at: 1, why: RefundReason::NoMajority });
		assert!(panel.iter().all(|a| struck(*a).is_empty()));
		assert_eq!(credit(PAYER), 10_000);
	});
}

#[test]
fn medians_settle_and_a_deviating_attestor_is_struck_then_slashed() {
	build_and_execute(|| {
		Attribution::register_operator(RuntimeOrigin::signed(OPERATOR)).unwrap();
		for a in [A1, A2, A3] {
			attestor(a);
		}
		let honest = vec![(100, pb(50)), (102, pb(30))];
		let close = vec![(100, pb(52)), (102, pb(28))];
		let off = vec![(101, pb(90))];
		let reports = |panel: &[AccountId]| -> Vec<(mnemo_primitives::ContentHash, Vec<Score>)> {
			panel.iter().map(|a| (digest(1), match *a { A1 => honest.clone(), A2 => close.clone(), _ => off.clone() })).collect()
		};
		let id = recorded(1);
		let panel = assigned(id);
		let rs = reports(&panel);
		for (a, (d, s)) in panel.iter().zip(&rs) {
			commit(*a, id, *d, s);
		}
		for (a, (d, s)) in panel.iter().zip(&rs) {
			reveal(*a, id, *d, s);
		}
		// Medians: 100 → 50, 102 → 28, 101 → 0; the median sum is 80: 50 and 28 scale to 80.
		let shares: Vec<_> = Attributions::<Test>::get(id).unwrap().shares.into_iter().map(|(c, _, s)| (c, s)).collect();
		assert_eq!(shares.iter().map(|(_, s)| s.deconstruct() as u64).sum::<u64>(), 800_000_000);
		assert_eq!(shares.iter().map(|(c, _)| *c).collect::<Vec<_>>(), vec![100, 102]);
		assert_eq!(struck(A3), vec![Fault::Deviation]);
		assert!(struck(A1).is_empty() && struck(A2).is_empty());
		// A second deviation within the window slashes 10% of the bond to the treasury; below
		// the bond, A3 takes no new assignments.
		let id = recorded(2);
		let panel = assigned(id);
		let rs = reports(&panel);
		for (a, (d, s)) in panel.iter().zip(&rs) {
			commit(*a, id, *d, s);
		}
		for (a, (d, s)) in panel.iter().zip(&rs) {
			reveal(*a, id, *d, s);
		}
		assert!(events().iter().any(|e| matches!(e, Event::AttestorSlashed { attestor: A3, amount: 20, bond_left: 180, active: false })));
		assert_eq!(free(TREASURY), START + 20);
		assert_eq!(held(HoldReason::AttestorBond, A3), 180);
		assert!(!Active::<Test>::get().contains(&A3));
		assert_eq!(Attestors::<Test>::get(A3).unwrap().strikes, 0);
	});
}

#[test]
fn strikes_outside_the_window_do_not_add_up() {
	build_and_execute(|| {
		setup();
		let id = recorded(1);
		let panel = assigned(id);
		commit(panel[0], id, digest(1), &scores());
		run_to_block(6);
		assert_eq!(Attestors::<Test>::get(panel[1]).unwrap().strikes, 1);
		run_to_block(200);
		let id = recorded(2);
		let again = assigned(id);
		run_to_block(205);
		for a in again {
			let rec = Attestors::<Test>::get(a).unwrap();
			assert_eq!(rec.strikes, 1, "the window restarted");
			assert_eq!(rec.bond, ATTESTOR_BOND);
		}
	});
}

#[test]
fn contributions_that_no_longer_earn_are_dropped_at_settlement() {
	build_and_execute(|| {
		setup();
		Removed::set(vec![102]);
		let (id, _) = reported(1, &[(digest(1), scores()), (digest(1), scores()), (digest(1), scores())]);
		let a = Attributions::<Test>::get(id).unwrap();
		assert_eq!(a.shares.into_inner(), vec![(100, C1, pb(50))]);
		assert_eq!(Settled::get().pop().unwrap().contributions.len(), 1);
	});
}

#[test]
fn a_refused_settlement_refunds_the_payer() {
	build_and_execute(|| {
		setup();
		SinkRefuses::set(true);
		let (id, _) = reported(1, &[(digest(1), scores()), (digest(1), scores()), (digest(1), scores())]);
		assert_eq!(phase(id), Phase::Refunded { at: 1, why: RefundReason::Unsettleable });
		assert_eq!(credit(PAYER), 10_000);
		assert!(!Attributions::<Test>::contains_key(id));
	});
}

#[test]
fn an_empty_report_is_a_valid_answer() {
	build_and_execute(|| {
		setup();
		let (id, _) = reported(1, &[(digest(1), vec![]), (digest(1), vec![]), (digest(1), vec![])]);
		assert!(matches!(phase(id), Phase::Settled { .. }));
		assert!(Settled::get().pop().unwrap().contributions.is_empty());
		assert_ok!(Attribution::do_try_state());
	});
}

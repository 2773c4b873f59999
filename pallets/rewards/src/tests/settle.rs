//! Settlement: the fee split into pending credits, their release after the challenge window,
//! and claw-backs while pending.

use crate::{mock::*, *};
use mnemo_primitives::{PaymentEscrow, RewardSink, Settlement};
use polkadot_sdk::frame_support::assert_ok;

fn amounts(who: AccountId, p: &PendingSettlement<Test>) -> RoleAmounts {
	p.payees.iter().find(|x| x.who == who).map(|x| x.amounts).unwrap_or_default()
}

fn pending(receipt: u64) -> PendingSettlement<Test> {
	match Rewards::receipt(receipt) {
		Some(ReceiptFunds::Pending(p)) => p,
		other => panic!("receipt {receipt} is not pending: {other:?}"),
	}
}

#[test]
fn the_default_split_to_the_last_unit() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(charge(1, 1_000));
		assert_eq!(settle(1), Ok(1_000));
		assert_eq!(last_event(), Event::Settled { receipt: 1, fee: 1_000, payees: 7, release_at: 1 + WINDOW });
		let p = pending(1);
		// Contributors 50%, shared by relative score: the scores are 60% and 30%, so 60/90 and
		// 30/90 of 500, rounded down.
		assert_eq!(amounts(C1, &p), RoleAmounts { contributor: 333, ..Default::default() });
		assert_eq!(amounts(C2, &p), RoleAmounts { contributor: 166, ..Default::default() });
		// Datanet owner 10% by the same relative scores: 66 + 33.
		assert_eq!(amounts(CURATOR, &p), RoleAmounts { datanet_owner: 99, ..Default::default() });
		// Adapter owner 20%: the scores found data, so no residual.
		assert_eq!(amounts(OWNER, &p), RoleAmounts { adapter_owner: 200, ..Default::default() });
		// Attestors 10% equally.
		assert_eq!(amounts(A1, &p), RoleAmounts { attestor: 50, ..Default::default() });
		assert_eq!(amounts(A2, &p), RoleAmounts { attestor: 50, ..Default::default() });
		// The treasury's 10% and the two units the relative shares left by rounding.
		assert_eq!(amounts(TREASURY, &p), RoleAmounts { treasury: 102, ..Default::default() });
		assert_eq!(p.contributions.into_inner(), vec![(100, 333), (101, 166)]);
		// Pending in the ledgers, nothing claimable yet.
		assert_eq!(ledger(C1), Ledger { pending: 333, ..Default::default() });
		assert_eq!(Rewards::owed(), Owed { escrowed: 0, pending: 1_000, claimable: 0 });
	});
}

#[test]
fn a_weak_attribution_still_pays_the_whole_pool_to_the_data_it_found() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(charge(1, 1_000));
		// As in the demo: attribution explains only 5% of the output, 3% and 2%.
		let weak = || Settlement {
			receipt: 1,
			adapter_owner: OWNER,
			contributions: vec![share(100, C1, 3), share(101, C2, 2)],
			attestors: vec![A1],
			release_at: 3,
		};
		assert_ok!(Rewards::settle(weak()));
		let p = pending(1);
		// Relative (the default): the contributors' 500 and the datanet owners' 100 by 3:2.
		assert_eq!(amounts(C1, &p).contributor, 300);
		assert_eq!(amounts(C2, &p).contributor, 200);
		assert_eq!(amounts(CURATOR, &p).datanet_owner, 100);
		assert_eq!(amounts(OWNER, &p).adapter_owner, 200);
		assert_ok!(Rewards::refund(1));

		// Absolute: each its score of the pools, the 95% the scores leave to the adapter owner.
		let mut params = params();
		params.split.pool = PoolRule::Absolute;
		assert_ok!(Rewards::set_params(RuntimeOrigin::root(), params));
		assert_ok!(charge(2, 1_000));
		assert_ok!(Rewards::settle(Settlement { receipt: 2, ..weak() }));
		let p = pending(2);
		assert_eq!(amounts(C1, &p).contributor, 15);
		assert_eq!(amounts(C2, &p).contributor, 10);
		assert_eq!(amounts(CURATOR, &p).datanet_owner, 3 + 2);
		assert_eq!(amounts(OWNER, &p).adapter_owner, 200 + 475 + 95);
	});
}

#[test]
fn rounding_dust_goes_to_the_treasury() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(charge(1, 999));
		assert_ok!(settle(1));
		let p = pending(1);
		// Pools: contributors 499, owner 199, datanet owners 99, attestors 99.
		assert_eq!(amounts(C1, &p).contributor, 332);
		assert_eq!(amounts(C2, &p).contributor, 166);
		assert_eq!(amounts(CURATOR, &p).datanet_owner, 66 + 33);
		assert_eq!(amounts(OWNER, &p).adapter_owner, 199);
		assert_eq!(amounts(A1, &p).attestor, 49);
		// The treasury's 103 (999 - the four other parts) and 2 of dust (one from the
		// contributors' pool, one from the attestors').
		assert_eq!(amounts(TREASURY, &p).treasury, 105);
		let total: Balance = p.payees.iter().map(|x| x.amounts.total()).sum();
		assert_eq!(total, 999);
	});
}

#[test]
fn one_credit_per_account_whatever_its_roles() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(charge(1, 1_000));
		// OWNER is also a contributor, its datanet's owner and an attestor.
		let mut own = share(100, OWNER, 50);
		own.datanet_owner = OWNER;
		assert_ok!(Rewards::settle(Settlement {
			receipt: 1,
			adapter_owner: OWNER,
			contributions: vec![own],
			attestors: vec![OWNER, A1],
			release_at: 3,
		}));
		let p = pending(1);
		assert_eq!(p.payees.iter().filter(|x| x.who == OWNER).count(), 1);
		// The only contribution scored takes the whole of both score-weighted parts.
		assert_eq!(
			amounts(OWNER, &p),
			RoleAmounts { contributor: 500, adapter_owner: 200, datanet_owner: 100, attestor: 50, treasury: 0 }
		);
		assert_eq!(p.payees.len(), 3);
	});
}

#[test]
fn without_attestors_or_scores_the_parts_go_where_documented() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(charge(1, 1_000));
		assert_ok!(Rewards::settle(Settlement {
			receipt: 1,
			adapter_owner: OWNER,
			contributions: vec![],
			attestors: vec![],
			release_at: 3,
		}));
		let p = pending(1);
		// The whole residual (contributors' and datanet owners' parts) to the adapter owner, the
		// attestors' part to the treasury.
		assert_eq!(amounts(OWNER, &p).adapter_owner, 200 + 500 + 100);
		assert_eq!(amounts(TREASURY, &p).treasury, 100 + 100);
		assert!(p.contributions.is_empty());
	});
}

#[test]
fn settlements_that_cannot_be_split_are_refused() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(charge(1, 1_000));
		let s = |contributions, attestors| Settlement {
			receipt: 1,
			adapter_owner: OWNER,
			contributions,
			attestors,
			release_at: 3,
		};
		assert_eq!(
			e(Rewards::settle(s(vec![share(100, C1, 60), share(101, C2, 41)], vec![]))),
			err(Error::SharesExceedWhole)
		);
		assert_eq!(
			e(Rewards::settle(s(vec![share(100, C1, 10), share(100, C2, 10)], vec![]))),
			err(Error::DuplicateContribution)
		);
		assert_eq!(e(Rewards::settle(s(vec![], vec![A1, A1]))), err(Error::DuplicateAttestor));
		let five = (0..5).map(|i| share(i, C1, 1)).collect();
		assert_eq!(e(Rewards::settle(s(five, vec![]))), err(Error::TooManyContributions));
		assert_eq!(e(Rewards::settle(s(vec![], vec![A1, A2, A3, OWNER]))), err(Error::TooManyAttestors));
		assert_eq!(
			e(Rewards::settle(Settlement { receipt: 9, ..s(vec![], vec![]) })),
			err(Error::UnknownReceipt)
		);
		assert!(matches!(Rewards::receipt(1), Some(ReceiptFunds::Escrowed(_))));
		assert_ok!(settle(1));
		assert_eq!(e(settle(1)), err(Error::AlreadySettled));
	});
}

#[test]
fn credits_become_claimable_after_the_window_with_their_explanation() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(charge(1, 1_000));
		assert_ok!(settle(1));
		run_to(WINDOW);
		assert_eq!(ledger(C1).claimable, 0);
		run_to(1 + WINDOW);
		assert_eq!(
			ledger(C1),
			Ledger {
				pending: 0,
				claimable: 333,
				claimed: 0,
				earned: RoleAmounts { contributor: 333, ..Default::default() },
				refunds: 0
			}
		);
		assert_eq!(ledger(OWNER).earned.adapter_owner, 200);
		assert_eq!(Rewards::contribution_earnings(vec![100, 101, 102]), vec![(100, 333), (101, 166), (102, 0)]);
		assert_eq!(
			Rewards::recent_credits(C1),
			vec![CreditRecord {
				receipt: 1,
				adapter: 7,
				amounts: RoleAmounts { contributor: 333, ..Default::default() },
				released_at: 1 + WINDOW
			}]
		);
		let evs = events();
		assert!(evs.contains(&Event::Credited { who: C1, receipt: 1, amount: 333 }));
		assert!(evs.contains(&Event::Credited { who: TREASURY, receipt: 1, amount: 102 }));
		assert_eq!(last_event(), Event::Released { receipt: 1, fee: 1_000 });
		assert_eq!(Rewards::receipt(1), None);
		assert_eq!(Rewards::owed(), Owed { escrowed: 0, pending: 0, claimable: 1_000 });
		// Released credits can no longer be clawed back.
		assert_eq!(e(Rewards::refund(1)), err(Error::UnknownReceipt));
	});
}

#[test]
fn recent_credits_keep_the_newest() {
	build_and_execute(|| {
		funded(10_000);
		for r in 1..=MAX_RECENT as u64 + 1 {
			assert_ok!(charge(r, 100));
			assert_ok!(settle(r));
			run_to(System::block_number() + WINDOW);
		}
		let receipts: Vec<_> = Rewards::recent_credits(C1).iter().map(|c| c.receipt).collect();
		assert_eq!(receipts, (2..=MAX_RECENT as u64 + 1).collect::<Vec<_>>());
		// 60 of the 90 points scored, of 50.
		assert_eq!(ledger(C1).earned.contributor, 33 * (MAX_RECENT as u128 + 1));
	});
}

#[test]
fn full_release_slots_push_a_settlement_to_the_next_block() {
	build_and_execute(|| {
		funded(10_000);
		for r in 1..=3 {
			assert_ok!(charge(r, 100));
			assert_ok!(settle(r));
		}
		assert_eq!(Releases::<Test>::get(1 + WINDOW).into_inner(), vec![1, 2]);
		assert_eq!(pending(3).release_at, 2 + WINDOW);
		assert_eq!(last_event(), Event::Settled { receipt: 3, fee: 100, payees: 7, release_at: 2 + WINDOW });
		run_to(1 + WINDOW);
		assert!(matches!(Rewards::receipt(3), Some(ReceiptFunds::Pending(_))));
		run_to(2 + WINDOW);
		assert_eq!(ledger(C1).claimable, 3 * 33);
		// A release block in the past (or now) is the next block.
		assert_ok!(charge(4, 100));
		assert_ok!(Rewards::settle(Settlement {
			receipt: 4,
			adapter_owner: OWNER,
			contributions: vec![],
			attestors: vec![],
			release_at: 0
		}));
		assert_eq!(pending(4).release_at, System::block_number() + 1);
	});
}

#[test]
fn release_slots_are_bounded() {
	build_and_execute(|| {
		funded(100_000);
		let slots = MAX_RELEASES * RELEASE_SLACK;
		for r in 1..=slots as u64 {
			assert_ok!(charge(r, 10));
			assert_ok!(settle(r));
		}
		assert_ok!(charge(1_000, 10));
		assert_eq!(e(settle(1_000)), err(Error::ReleaseQueueFull));
		assert!(matches!(Rewards::receipt(1_000), Some(ReceiptFunds::Escrowed(_))));
		// Each block releases at most its slots.
		run_to(1 + WINDOW);
		assert_eq!(events().iter().filter(|e| matches!(e, Event::Released { .. })).count(), MAX_RELEASES as usize);
		run_to(1 + WINDOW + RELEASE_SLACK as u64);
		assert_eq!(Rewards::owed().pending, 0);
	});
}

#[test]
fn a_pending_settlement_is_clawed_back_to_the_payer() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(charge(1, 1_000));
		assert_ok!(charge(2, 500));
		assert_ok!(settle(1));
		assert_ok!(settle(2));
		assert_eq!(ledger(C1).pending, 333 + 166);
		assert_eq!(Rewards::refund(1), Ok(1_000));
		assert_eq!(last_event(), Event::Refunded { receipt: 1, payer: PAYER, amount: 1_000, clawed_back: true });
		assert_eq!(held(PAYER), 10_000 - 500);
		assert_eq!(ledger(C1).pending, 166);
		assert_eq!(Rewards::spend(PAYER).0, SpendTotals { total: 500, receipts: 1 });
		run_to(1 + WINDOW);
		// Only the other receipt was released.
		assert_eq!(ledger(C1).claimable, 166);
		assert!(!events().contains(&Event::Released { receipt: 1, fee: 1_000 }));
		assert_eq!(Rewards::owed(), Owed { escrowed: 0, pending: 0, claimable: 500 });
	});
}

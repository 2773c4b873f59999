//! Batches: each payer's part charged on its channel, refunded whole, settled into the attestors'
//! part and the operator's running payouts, claimed by proof of an account's total: the
//! difference from what it claimed before, never past what the operator's batches added.

use crate::{mock::*, *};
use mnemo_primitives::{
	batch::{merkle_proof, merkle_root, MerkleProof, Payout},
	BatchCharge, BatchEscrow, BatchPayout,
};
use polkadot_sdk::{frame_support::assert_ok, sp_core::H256};

const BATCH: u64 = 7;

fn charge(batch: u64, payer: AccountId, amount: Balance, seq: u64, cumulative: Balance) -> Result<(), polkadot_sdk::sp_runtime::DispatchError> {
	let channel = Channels::<Test>::get(payer, OPERATOR).map_or(0, |c| c.id);
	<Rewards as BatchEscrow<_>>::charge(batch, vec![BatchCharge { operator: OPERATOR, payer, channel, seq, cumulative, amount, receipts: 2, first_leaf: 0 }])
}

/// PAYER and C1 each with a channel to OPERATOR, charged 600 and 400 in `BATCH`.
fn charged() {
	funded(10_000);
	assert_ok!(Rewards::open_channel(RuntimeOrigin::signed(C1), OPERATOR, 10_000));
	assert_ok!(charge(BATCH, PAYER, 600, 3, 1_000));
	assert_ok!(charge(BATCH, C1, 400, 1, 400));
}

/// A tree of running payouts.
fn tree_of(payouts: &[(AccountId, Balance)]) -> (Vec<Payout<AccountId>>, Vec<H256>, H256) {
	let payouts: Vec<Payout<AccountId>> = payouts.iter().map(|(who, amount)| Payout { who: *who, amount: *amount }).collect();
	let hashes: Vec<H256> = payouts.iter().map(Payout::hash).collect();
	let root = merkle_root(&hashes);
	(payouts, hashes, root)
}

/// The operator's first batch's running payouts: OWNER 500, CURATOR 300, C2 100 (900 of a
/// 1,000 batch; 100 to attestors).
fn tree() -> (Vec<Payout<AccountId>>, Vec<H256>, H256) {
	tree_of(&[(OWNER, 500), (CURATOR, 300), (C2, 100)])
}

fn settle_as(batch: u64, root: H256, count: u32, total: Balance, attestors: Vec<AccountId>, attestors_part: Balance) -> Result<(), polkadot_sdk::sp_runtime::DispatchError> {
	<Rewards as BatchEscrow<_>>::settle(batch, BatchPayout { root, blob: Default::default(), count, total, attestors, attestors_part })
}

fn settle(attestors: Vec<AccountId>) -> Result<(), polkadot_sdk::sp_runtime::DispatchError> {
	let (_, _, root) = tree();
	settle_as(BATCH, root, 3, 900, attestors, 100)
}

fn claim(batch: u64, p: &Payout<AccountId>, proof: MerkleProof) -> Result<(), polkadot_sdk::sp_runtime::DispatchError> {
	e(Rewards::claim_payout(RuntimeOrigin::signed(C1), OPERATOR, batch, p.clone(), proof))
}

#[test]
fn each_payer_is_charged_once_per_batch_within_its_consent() {
	build_and_execute(|| {
		charged();
		assert_eq!(last_event(), Event::BatchCharged { batch: BATCH, payer: C1, operator: OPERATOR, amount: 400, seq: 1, spent: 400, balance: 9_600 });
		assert_eq!(BatchEscrows::<Test>::get(BATCH).map(|e| (e.total, e.payers)), Some((1_000, 2)));
		assert_eq!(Rewards::owed().escrowed, 1_000);
		// Twice in one batch, beyond consent, a stale voucher, over the payers' bound: refused.
		assert_eq!(charge(BATCH, PAYER, 1, 4, 10_000), err(Error::DuplicateCharge));
		assert_eq!(charge(BATCH + 1, PAYER, 401, 4, 1_000), err(Error::AboveConsent));
		assert_eq!(charge(BATCH + 1, PAYER, 1, 3, 10_000), err(Error::StaleVoucher));
		assert_ok!(Rewards::open_channel(RuntimeOrigin::signed(C2), OPERATOR, 10));
		assert_ok!(Rewards::open_channel(RuntimeOrigin::signed(OWNER), OPERATOR, 10));
		assert_ok!(charge(BATCH, C2, 5, 1, 5));
		assert_eq!(charge(BATCH, OWNER, 5, 1, 5), err(Error::TooManyPayers));
		assert_eq!(Rewards::spend(PAYER).0, SpendTotals { total: 600, receipts: 2 });
	});
}

#[test]
fn a_batchs_charges_land_all_or_none() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(Rewards::open_channel(RuntimeOrigin::signed(C1), OPERATOR, 10_000));
		let c = |payer, seq, amount| BatchCharge { operator: OPERATOR, payer, channel: channel(payer).id, seq, cumulative: 1_000, amount, receipts: 1, first_leaf: 0 };
		// The same payer twice in one call: nothing is charged, not even the first two.
		let twice = vec![c(PAYER, 1, 100), c(C1, 1, 100), c(PAYER, 2, 100)];
		assert_eq!(e(<Rewards as BatchEscrow<_>>::charge(BATCH, twice)), err(Error::DuplicateCharge));
		// One charge in a call that fails on another (beyond its consent): none either.
		let over = vec![c(PAYER, 1, 100), c(C1, 1, 2_000)];
		assert_eq!(e(<Rewards as BatchEscrow<_>>::charge(BATCH, over)), err(Error::AboveConsent));
		assert_eq!((channel(PAYER).spent, channel(C1).spent), (0, 0));
		assert_eq!(BatchEscrows::<Test>::get(BATCH), None);
		assert!(BatchCharges::<Test>::get(BATCH).is_empty());
		// Both in one call: one escrow, one item of charges.
		assert_ok!(<Rewards as BatchEscrow<_>>::charge(BATCH, vec![c(PAYER, 1, 100), c(C1, 1, 300)]));
		assert_eq!(BatchEscrows::<Test>::get(BATCH).map(|e| (e.total, e.payers)), Some((400, 2)));
		assert_eq!(<Rewards as BatchEscrow<_>>::charges(BATCH).iter().map(|c| (c.payer, c.amount)).collect::<Vec<_>>(), vec![(PAYER, 100), (C1, 300)]);
		assert_eq!(<Rewards as BatchEscrow<_>>::charge_of(BATCH, &C1).map(|c| c.amount), Some(300));
		// Settled: the charges go with the escrow.
		assert_ok!(settle_as(BATCH, H256::zero(), 0, 400, vec![], 0));
		assert!(BatchCharges::<Test>::get(BATCH).is_empty());
	});
}

#[test]
fn a_refunded_batch_gives_every_charge_back_to_its_channel_in_the_blocks_after() {
	build_and_execute(|| {
		charged();
		assert_eq!(<Rewards as BatchEscrow<_>>::refund(BATCH), Ok(1_000));
		assert_eq!(last_event(), Event::BatchRefundQueued { batch: BATCH, payers: 2, amount: 1_000 });
		// Queued: nothing back yet, and still owed.
		assert_eq!(channel(PAYER).spent, 600);
		assert_eq!(Rewards::owed().escrowed, 1_000);
		assert_eq!(<Rewards as BatchEscrow<_>>::refund(BATCH), Err(Error::<Test>::UnknownBatch.into()));
		assert_eq!(settle(vec![A1]), err(Error::UnknownBatch));
		// Nor charged again while its charges are being given back (they would mix).
		assert_ok!(Rewards::open_channel(RuntimeOrigin::signed(C2), OPERATOR, 100));
		assert_eq!(charge(BATCH, C2, 5, 1, 5), err(Error::UnknownBatch));
		run_to(System::block_number() + 1);
		assert_eq!(last_event(), Event::BatchRefunded { batch: BATCH, payers: 2, amount: 1_000 });
		assert_eq!(channel(PAYER), Channel { id: 0, balance: 10_000, spent: 0, seq: 3, closes_at: None });
		assert_eq!(channel(C1).balance, 10_000);
		assert_eq!(Rewards::spend(PAYER).0, SpendTotals { total: 0, receipts: 0 });
		assert_eq!(Rewards::owed().escrowed, 0);
		assert_eq!(Refunding::<Test>::iter().count(), 0);
	});
}

#[test]
fn refunds_go_back_at_most_max_refunds_per_block_payers_a_block_across_batches() {
	build_and_execute(|| {
		charged();
		assert_ok!(Rewards::open_channel(RuntimeOrigin::signed(C2), OPERATOR, 100));
		assert_ok!(charge(BATCH, C2, 5, 1, 5));
		assert_ok!(charge(BATCH + 1, PAYER, 100, 4, 1_000));
		assert_ok!(<Rewards as BatchEscrow<_>>::refund(BATCH));
		assert_ok!(<Rewards as BatchEscrow<_>>::refund(BATCH + 1));
		let back = || [PAYER, C1, C2].iter().filter(|p| channel(**p).spent == 0).count() as u32;
		let refunded = || events().iter().filter(|e| matches!(e, Event::BatchRefunded { .. })).count();
		// Four charges, two a block: two blocks, whichever batch goes first.
		run_to(System::block_number() + 1);
		assert_eq!(Refunding::<Test>::iter().map(|(_, r)| r.payers_left).sum::<u32>(), 2);
		assert!(back() < 3);
		run_to(System::block_number() + 1);
		assert_eq!(refunded(), 2);
		assert_eq!(back(), 3);
		assert_eq!(Rewards::owed().escrowed, 0);
		// Nothing left: a block does nothing.
		let weight = <Rewards as Hooks<u64>>::on_initialize(System::block_number() + 1);
		assert_eq!(weight, <() as crate::WeightInfo>::give_back_refunds(0));
	});
}

#[test]
fn running_payouts_are_claimed_by_proof_as_the_difference_from_what_was_claimed() {
	build_and_execute(|| {
		charged();
		// The escrow must be the payouts plus the attestors' part, to the unit.
		let (_, _, root) = tree();
		assert_eq!(settle_as(BATCH, root, 3, 899, vec![A1], 100), err(Error::PayoutMismatch));
		let (payouts, hashes, _) = tree();
		let proof = |i: u32| merkle_proof(&hashes, i).unwrap();
		assert_eq!(claim(BATCH, &payouts[0], proof(0)), err(Error::NoPayouts));
		assert_ok!(settle(vec![A1, A2, A3]));
		assert_eq!(
			last_event(),
			Event::BatchSettled { batch: BATCH, operator: OPERATOR, total: 900, count: 3, attestors: 3, attestors_part: 100 }
		);
		// 100 among three attestors: 33 each, 1 of dust to the treasury, claimable at once.
		assert_eq!((ledger(A1).claimable, ledger(A3).earned.attestor, ledger(TREASURY).claimable), (33, 33, 1));
		assert_eq!(Rewards::owed(), Owed { escrowed: 0, claimable: 900 + 100 });
		let before = free(OWNER);
		assert_ok!(claim(BATCH, &payouts[0], proof(0)));
		assert_eq!(free(OWNER), before + 500);
		assert_eq!(last_event(), Event::PayoutClaimed { operator: OPERATOR, batch: BATCH, who: OWNER, amount: 500, total: 500 });
		assert_eq!(claim(BATCH, &payouts[0], proof(0)), err(Error::AlreadyClaimed));
		// A payout that is not in the tree, someone else's proof, a batch never settled: refused.
		assert_eq!(claim(BATCH, &Payout { who: CURATOR, amount: 301 }, proof(1)), err(Error::BadProof));
		assert_eq!(claim(BATCH, &payouts[1], proof(2)), err(Error::BadProof));
		assert_eq!(claim(BATCH + 1, &payouts[1], proof(1)), err(Error::UnknownRoot));
		assert_ok!(claim(BATCH, &payouts[1], proof(1)));

		// The operator's next batch (600 more, 540 to payees) raises OWNER to 800 and adds A2; C2
		// keeps its 100.
		assert_ok!(charge(BATCH + 1, PAYER, 600, 4, 1_600));
		let (next, next_hashes, next_root) = tree_of(&[(OWNER, 800), (CURATOR, 300), (C2, 100), (A2, 240)]);
		assert_ok!(settle_as(BATCH + 1, next_root, 4, 540, vec![A1], 60));
		let next_proof = |i: u32| merkle_proof(&next_hashes, i).unwrap();
		// OWNER receives only what the later total adds; the earlier total pays it nothing more.
		let before = free(OWNER);
		assert_ok!(claim(BATCH + 1, &next[0], next_proof(0)));
		assert_eq!(free(OWNER), before + 300);
		assert_eq!(claim(BATCH, &payouts[0], proof(0)), err(Error::AlreadyClaimed));
		// CURATOR claimed 300 against the first batch: the second's 300 owes it nothing.
		assert_eq!(claim(BATCH + 1, &next[1], next_proof(1)), err(Error::AlreadyClaimed));
		// C2 never claimed: one claim, against either batch, pays its whole 100, once.
		assert_ok!(claim(BATCH, &payouts[2], proof(2)));
		assert_eq!(claim(BATCH + 1, &next[2], next_proof(2)), err(Error::AlreadyClaimed));
		assert_eq!(Rewards::payouts(OPERATOR, C2).1, 100);
		assert_ok!(claim(BATCH + 1, &next[3], next_proof(3)));
		assert_eq!(Rewards::payouts(OPERATOR, OWNER).0.map(|b| (b.settled, b.paid)), Some((1_440, 1_440)));
		assert_eq!(Rewards::owed().claimable, 33 * 3 + 1 + 60);
	});
}

#[test]
fn a_claim_proves_against_any_of_the_operators_recent_roots_and_no_older() {
	build_and_execute(|| {
		funded(10_000);
		let (payouts, hashes, root) = tree_of(&[(OWNER, 10)]);
		for b in 0..=RECENT_PAYOUT_ROOTS as u64 {
			assert_ok!(charge(b, PAYER, 10, b + 1, 10 * (b as u128 + 1)));
			// The first batch's tree, then trees that owe OWNER nothing more.
			let r = if b == 0 { root } else { H256::repeat_byte(b as u8) };
			assert_ok!(settle_as(b, r, 1, 10, vec![], 0));
		}
		let book = Rewards::payouts(OPERATOR, OWNER).0.unwrap();
		assert_eq!(book.roots.len() as u32, RECENT_PAYOUT_ROOTS, "bounded: the oldest gave way");
		assert_eq!(book.roots[0].batch, 1);
		assert_eq!(claim(0, &payouts[0], merkle_proof(&hashes, 0).unwrap()), err(Error::UnknownRoot));
	});
}

#[test]
fn a_tree_whose_leaves_sum_past_its_total_pays_no_more_than_the_total() {
	build_and_execute(|| {
		charged();
		// The attack: an operator commits a tree whose leaves sum to 1,500 under a total of 900.
		let payouts = vec![Payout { who: OWNER, amount: 800 }, Payout { who: CURATOR, amount: 700 }];
		let hashes: Vec<H256> = payouts.iter().map(Payout::hash).collect();
		assert_ok!(settle_as(BATCH, merkle_root(&hashes), 2, 900, vec![], 100));
		assert_ok!(claim(BATCH, &payouts[0], merkle_proof(&hashes, 0).unwrap()));
		assert_eq!(claim(BATCH, &payouts[1], merkle_proof(&hashes, 1).unwrap()), err(Error::PayoutsExhausted));
		// The pallet account still covers everything it owes (try_state runs after the test).
		assert_eq!(ledger(TREASURY).claimable, 100, "no attestor agreed: their part to the treasury");
	});
}

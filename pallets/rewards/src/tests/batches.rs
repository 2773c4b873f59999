//! Batches: each payer's part charged on its channel, refunded whole, settled into the attestors'
//! part and a payouts tree claimed by proof, once each, the rest to the treasury when it expires.

use crate::{mock::*, *};
use mnemo_primitives::{
	batch::{merkle_proof, merkle_root, MerkleProof, Payout},
	BatchCharge, BatchEscrow, BatchPayout,
};
use polkadot_sdk::{frame_support::assert_ok, sp_core::H256};

const BATCH: u64 = 7;

fn charge(batch: u64, payer: AccountId, amount: Balance, seq: u64, cumulative: Balance) -> Result<(), polkadot_sdk::sp_runtime::DispatchError> {
	let channel = Channels::<Test>::get(payer, OPERATOR).map_or(0, |c| c.id);
	<Rewards as BatchEscrow<_, _>>::charge(batch, BatchCharge { operator: OPERATOR, payer, channel, seq, cumulative, amount })
}

/// PAYER and C1 each with a channel to OPERATOR, charged 600 and 400 in `BATCH`.
fn charged() {
	funded(10_000);
	assert_ok!(Rewards::open_channel(RuntimeOrigin::signed(C1), OPERATOR, 10_000));
	assert_ok!(charge(BATCH, PAYER, 600, 3, 1_000));
	assert_ok!(charge(BATCH, C1, 400, 1, 400));
}

/// A payouts tree: OWNER 500, CURATOR 300, C2 100 (900 of a 1,000 batch; 100 to attestors).
fn tree() -> (Vec<Payout<AccountId>>, Vec<H256>, H256) {
	let payouts = vec![Payout { who: OWNER, amount: 500 }, Payout { who: CURATOR, amount: 300 }, Payout { who: C2, amount: 100 }];
	let hashes: Vec<H256> = payouts.iter().map(Payout::hash).collect();
	let root = merkle_root(&hashes);
	(payouts, hashes, root)
}

fn settle(attestors: Vec<AccountId>) -> Result<(), polkadot_sdk::sp_runtime::DispatchError> {
	let (_, _, root) = tree();
	<Rewards as BatchEscrow<_, _>>::settle(
		BATCH,
		BatchPayout { root, count: 3, total: 900, attestors, attestors_part: 100, release_at: 2 },
	)
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
		assert_eq!(Rewards::spend(PAYER).0.total, 600);
	});
}

#[test]
fn a_refunded_batch_gives_every_charge_back_to_its_channel() {
	build_and_execute(|| {
		charged();
		assert_eq!(<Rewards as BatchEscrow<_, _>>::refund(BATCH), Ok(1_000));
		assert_eq!(last_event(), Event::BatchRefunded { batch: BATCH, payers: 2, amount: 1_000 });
		assert_eq!(channel(PAYER), Channel { id: 0, balance: 10_000, spent: 0, seq: 3, closes_at: None });
		assert_eq!(channel(C1).balance, 10_000);
		assert_eq!(Rewards::spend(PAYER).0.total, 0);
		assert_eq!(<Rewards as BatchEscrow<_, _>>::refund(BATCH), Err(Error::<Test>::UnknownBatch.into()));
		assert_eq!(settle(vec![A1]), err(Error::UnknownBatch));
	});
}

#[test]
fn payouts_are_claimed_by_proof_once_each_and_the_rest_expires_to_the_treasury() {
	build_and_execute(|| {
		charged();
		// The escrow must be the payouts plus the attestors' part, to the unit.
		let (_, _, root) = tree();
		let short = BatchPayout { root, count: 3, total: 899, attestors: vec![A1], attestors_part: 100, release_at: 2 };
		assert_eq!(<Rewards as BatchEscrow<_, _>>::settle(BATCH, short), Err(Error::<Test>::PayoutMismatch.into()));
		assert_ok!(settle(vec![A1, A2, A3]));
		// 100 among three attestors: 33 each, 1 of dust to the treasury, claimable at once.
		assert_eq!((ledger(A1).claimable, ledger(A3).earned.attestor, ledger(TREASURY).claimable), (33, 33, 1));
		assert_eq!(Rewards::owed(), Owed { escrowed: 0, pending: 0, claimable: 900 + 100 });
		let (payouts, hashes, _) = tree();
		let proof = |i: u32| merkle_proof(&hashes, i).unwrap();
		let claim = |p: &Payout<AccountId>, pr: MerkleProof| e(Rewards::claim_payout(RuntimeOrigin::signed(C1), BATCH, p.clone(), pr));
		assert_eq!(claim(&payouts[0], proof(0)), err(Error::NotReleased));
		run_to(2);
		let before = free(OWNER);
		assert_ok!(claim(&payouts[0], proof(0)));
		assert_eq!(free(OWNER), before + 500);
		assert_eq!(last_event(), Event::PayoutClaimed { batch: BATCH, who: OWNER, amount: 500 });
		assert_eq!(claim(&payouts[0], proof(0)), err(Error::AlreadyClaimed));
		// A payout that is not in the tree, or someone else's proof: refused.
		assert_eq!(claim(&Payout { who: CURATOR, amount: 301 }, proof(1)), err(Error::BadProof));
		assert_eq!(claim(&payouts[1], proof(2)), err(Error::BadProof));
		assert_ok!(claim(&payouts[1], proof(1)));
		// Not yet expired; then C2's unclaimed 100 goes to the treasury.
		assert_eq!(e(Rewards::expire_payouts(RuntimeOrigin::signed(C1), BATCH)), err(Error::PayoutsLive));
		run_to(2 + CLAIM_PERIOD);
		assert_ok!(Rewards::expire_payouts(RuntimeOrigin::signed(C1), BATCH));
		assert_eq!(last_event(), Event::PayoutsExpired { batch: BATCH, unclaimed: 100 });
		assert_eq!(ledger(TREASURY).claimable, 1 + 100);
		assert_eq!(claim(&payouts[2], proof(2)), err(Error::NoPayouts));
		assert_eq!(ClaimedPayouts::<Test>::iter_prefix(BATCH).count(), 0);
		assert_eq!(Rewards::owed().claimable, 33 * 3 + 1 + 100);
	});
}

#[test]
fn a_tree_whose_leaves_sum_past_its_total_pays_no_more_than_the_total() {
	build_and_execute(|| {
		charged();
		// The attack: an operator commits a tree whose leaves sum to 1,500 under a total of 900.
		let payouts = vec![Payout { who: OWNER, amount: 800 }, Payout { who: CURATOR, amount: 700 }];
		let hashes: Vec<H256> = payouts.iter().map(Payout::hash).collect();
		let p = BatchPayout { root: merkle_root(&hashes), count: 2, total: 900, attestors: vec![], attestors_part: 100, release_at: 1 };
		assert_ok!(<Rewards as BatchEscrow<_, _>>::settle(BATCH, p));
		assert_ok!(Rewards::claim_payout(RuntimeOrigin::signed(C1), BATCH, payouts[0].clone(), merkle_proof(&hashes, 0).unwrap()));
		assert_eq!(
			e(Rewards::claim_payout(RuntimeOrigin::signed(C1), BATCH, payouts[1].clone(), merkle_proof(&hashes, 1).unwrap())),
			err(Error::PayoutsExhausted)
		);
		// The pallet account still covers everything it owes (try_state runs after the test).
		assert_eq!(ledger(TREASURY).claimable, 100, "no attestor agreed: their part to the treasury");
	});
}

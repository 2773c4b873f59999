//! Batches: committed all or nothing, sampled from randomness drawn after the commitment, opened
//! by their operator leaf by leaf against the root, or refunded with the operator slashed.

use crate::{mock::*, *};
use mnemo_primitives::{
	batch::{self, LeafShares, MerkleProof},
	ContentHash, Voucher,
};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok, traits::ConstU32},
	sp_core::H256,
	sp_runtime::{testing::TestSignature, Perbill},
};

/// A voucher numbered `seq` for request `n`.
fn v(n: u8, seq: u64) -> Voucher<AccountId, u64> {
	Voucher { seq, cumulative: 1_000, ..voucher(n) }
}

/// Eight leaves: PAYER's requests 0..5 (vouchers 1..5), PAYER2's 5..8 (vouchers 1..3), 10 each.
fn leaves() -> Vec<BatchLeaf<Test>> {
	(0..8u8)
		.map(|i| {
			let (payer, seq) = if i < 5 { (PAYER, u64::from(i) + 1) } else { (PAYER2, u64::from(i) - 4) };
			let voucher = v(i, seq);
			let signature = TestSignature(payer, voucher.signing_payload());
			batch::Leaf {
				payer,
				voucher,
				signature,
				input_tokens: 300,
				output_tokens: 200,
				fee: 10,
				transcript: ContentHash([i; 32]),
				digest: ContentHash([7; 32]),
				shares: LeafShares::truncate_from(vec![(100, Perbill::from_percent(5))]),
			}
		})
		.collect()
}

fn header(leaves: &[BatchLeaf<Test>]) -> BatchHeader {
	let hashes: Vec<H256> = leaves.iter().map(|l| l.hash()).collect();
	BatchHeader {
		root: batch::merkle_root(&hashes),
		leaves: leaves.len() as u32,
		blob: ContentHash([9; 32]),
		payouts_root: H256::repeat_byte(1),
		payouts_count: 3,
		payouts_total: 72,
		attestors_part: 8,
	}
}

/// The charges of `leaves`: each payer's last voucher, its leaves and their fees.
fn charges(leaves: &[BatchLeaf<Test>]) -> Vec<PayerCharge<Test>> {
	let mut out: Vec<PayerCharge<Test>> = Vec::new();
	for l in leaves {
		match out.last_mut() {
			Some(c) if c.payer == l.payer => {
				c.voucher = l.voucher.clone();
				c.signature = l.signature.clone();
				c.leaves += 1;
				c.amount += l.fee;
			},
			_ => out.push(PayerCharge { payer: l.payer, voucher: l.voucher.clone(), signature: l.signature.clone(), leaves: 1, amount: l.fee }),
		}
	}
	out
}

fn submit(h: BatchHeader, c: Vec<PayerCharge<Test>>) -> polkadot_sdk::sp_runtime::DispatchResult {
	Attribution::submit_batch(RuntimeOrigin::signed(OPERATOR), h, c.try_into().unwrap())
}

#[test]
fn a_batch_is_charged_all_or_nothing_and_sampled_after_its_commitment() {
	build_and_execute(|| {
		setup();
		let l = leaves();
		assert_ok!(submit(header(&l), charges(&l)));
		assert_eq!(BatchCharged::get(), vec![(0, PAYER, 50), (0, PAYER2, 30)]);
		assert_eq!(credit(PAYER), 10_000 - 50);
		assert!(matches!(events().last(), Some(Event::BatchSubmitted { batch: 0, leaves: 8, payers: 2, fees: 80, sample_at: 3, .. })));
		assert_eq!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Sampling { at: 3 });
		// Drawn at block 3 from that block's randomness: three attestors, three distinct leaves.
		run_to_block(3);
		let b = Batches::<Test>::get(0).unwrap();
		assert_eq!(b.panel.len(), 3);
		assert_eq!(b.sample.len(), 3);
		assert!(b.sample.windows(2).all(|w| w[0] < w[1]) && b.sample.iter().all(|i| *i < 8));
		assert_eq!(b.phase, BatchPhase::Open { until: 6 });
		assert!(matches!(events().last(), Some(Event::BatchSampled { batch: 0, open_until: 6, .. })));
	});
}

#[test]
fn a_batch_that_does_not_add_up_or_whose_payer_did_not_sign_charges_nobody() {
	build_and_execute(|| {
		setup();
		let l = leaves();
		// One payer's latest voucher signed by someone else: the whole batch is refused.
		let mut c = charges(&l);
		c[1].signature = TestSignature(PAYER, c[1].voucher.signing_payload());
		assert_noop!(submit(header(&l), c), Error::<Test>::BadVoucherSignature);
		assert!(BatchCharged::get().is_empty());
		// Payouts and the attestors' part not equal to the charges; leaves not adding up.
		let mut h = header(&l);
		h.payouts_total += 1;
		assert_noop!(submit(h, charges(&l)), Error::<Test>::FeesMismatch);
		let mut h = header(&l);
		h.leaves = 9;
		assert_noop!(submit(h, charges(&l)), Error::<Test>::LeavesMismatch);
		// More fees than the operator's bond covers: SampleSize (3) · bond (100) / 2 = 150.
		let mut c = charges(&l);
		c[0].amount = 150;
		let mut h = header(&l);
		h.payouts_total = 150 + 30 - 8;
		assert_noop!(submit(h, c), Error::<Test>::BatchTooLarge);
		// Not an operator.
		assert_noop!(
			Attribution::submit_batch(RuntimeOrigin::signed(PAYER), header(&l), charges(&l).try_into().unwrap()),
			Error::<Test>::NotOperator
		);
	});
}

#[test]
fn the_operator_opens_exactly_its_sampled_leaves_against_the_root() {
	build_and_execute(|| {
		setup();
		let l = leaves();
		assert_ok!(submit(header(&l), charges(&l)));
		run_to_block(3);
		let sample = Batches::<Test>::get(0).unwrap().sample.into_inner();
		let hashes: Vec<H256> = l.iter().map(|x| x.hash()).collect();
		let opened = |indices: &[u32]| -> BoundedVec<(BatchLeaf<Test>, MerkleProof), ConstU32<3>> {
			indices.iter().map(|i| (l[*i as usize].clone(), batch::merkle_proof(&hashes, *i).unwrap())).collect::<Vec<_>>().try_into().unwrap()
		};
		let open = |who, x| Attribution::open_sample(RuntimeOrigin::signed(who), 0, x);
		assert_noop!(open(PAYER, opened(&sample)), Error::<Test>::NotBatchOperator);
		// Another leaf than the sampled one, or the sampled leaf changed after the commitment.
		let other = (0..8).find(|i| !sample.contains(i)).unwrap();
		assert_noop!(open(OPERATOR, opened(&[sample[0], sample[1], other])), Error::<Test>::WrongSample);
		let mut changed = opened(&sample);
		changed[0].0.fee += 1;
		assert_noop!(open(OPERATOR, changed), Error::<Test>::BadLeafProof);
		assert_ok!(open(OPERATOR, opened(&sample)));
		let claims = SampledClaims::<Test>::get(0);
		assert_eq!(claims.iter().map(|c| (c.index, c.tokens, c.fee)).collect::<Vec<_>>(), sample.iter().map(|i| (*i, 500, 10)).collect::<Vec<_>>());
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Commit { .. }));
		assert_noop!(open(OPERATOR, opened(&sample)), Error::<Test>::BatchPhase);
	});
}

#[test]
fn a_batch_not_opened_in_time_is_refunded_and_its_operator_slashed() {
	build_and_execute(|| {
		setup();
		let l = leaves();
		assert_ok!(submit(header(&l), charges(&l)));
		let treasury = free(TREASURY);
		run_to_block(6);
		// Withheld: every payer refunded, half the operator's bond to the treasury.
		assert_eq!(BatchesRefunded::get(), vec![0]);
		assert_eq!((credit(PAYER), credit(PAYER2)), (10_000, 10_000));
		assert_eq!(free(TREASURY), treasury + OPERATOR_BOND / 2);
		assert_eq!(Operators::<Test>::get(OPERATOR), Some(OPERATOR_BOND / 2));
		assert!(matches!(
			events().last(),
			Some(Event::BatchRefunded { batch: 0, why: BatchRefund::NotOpened, amount: 80, slashed: 50 })
		));
		assert_eq!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { at: 6, why: BatchRefund::NotOpened });
	});
}

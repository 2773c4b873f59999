//! Batches: committed all or nothing, sampled from randomness drawn after the commitment, opened
//! by their operator leaf by leaf against the root, or refunded with the operator slashed.

use crate::{mock::*, *};
use crate::BatchAudit::{AddsUp, DoesNotAddUp, Unavailable};
use mnemo_primitives::{
	batch::{self, LeafShares, MerkleProof},
	Balance, BatchId, ContentHash, Voucher,
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

/// Eight leaves: PAYER's requests 0..5 (vouchers 1..5), PAYER2's 5..8 (vouchers 1..3), 5 each
/// (500 tokens at the voucher's cap of 10 per 1,000).
pub(super) fn leaves() -> Vec<BatchLeaf<Test>> {
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
				fee: 5,
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
		payouts_total: 36,
		attestors_part: 4,
		prev: None,
		terms: Attribution::batch_terms().hash(),
	}
}

/// The charges of `leaves`: each payer's last voucher, its leaves and their fees.
pub(super) fn charges(leaves: &[BatchLeaf<Test>]) -> Vec<PayerCharge<Test>> {
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
		assert_eq!(BatchCharged::get(), vec![(0, PAYER, 25), (0, PAYER2, 15)]);
		assert_eq!(credit(PAYER), 10_000 - 25);
		assert!(matches!(events().last(), Some(Event::BatchSubmitted { batch: 0, leaves: 8, payers: 2, fees: 40, sample_at: 3, .. })));
		assert_eq!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Sampling { at: 3 });
		// Drawn at block 3 from that block's randomness: three attestors, three distinct leaves.
		run_to_block(3);
		let b = Batches::<Test>::get(0).unwrap();
		assert_eq!(b.panel.len(), 3);
		assert_eq!(b.sample.len(), 3);
		assert!(b.sample.windows(2).all(|w| w[0] < w[1]) && b.sample.iter().all(|i| *i < 8));
		assert_eq!(b.phase, BatchPhase::Open { until: 6, commit_until: 11 });
		assert!(matches!(events().last(), Some(Event::BatchSampled { batch: 0, open_until: 6, .. })));
	});
}

#[test]
fn each_payers_charge_is_written_to_its_spend_log_in_the_offchain_index() {
	let mut ext = new_keyed_ext();
	let h = ext.execute_with(|| {
		setup();
		assert_ok!(submit_on(None));
		let first = header(&leaves());
		run_to_block(2);
		assert_ok!(submit_on(Some(0)));
		first
	});
	ext.persist_offchain_overlay();
	let db = ext.offchain_db();
	let read = |payer: AccountId, n: u64| {
		db.get(&mnemo_primitives::offchain_keys::spend_log(&payer, n))
			.map(|v| <mnemo_primitives::SpendEntry<AccountId, u64, H256> as codec::Decode>::decode(&mut &v[..]).unwrap())
	};
	// PAYER's five receipts open each batch, PAYER2's three follow.
	let first = read(PAYER, 0).expect("PAYER's first entry");
	assert_eq!((first.batch, first.operator, first.receipts, first.first_leaf, first.amount, first.seq), (0, OPERATOR, 5, 0, 25, 5));
	assert_eq!((first.blob, first.root, first.block, first.moment_ms), (h.blob, h.root, 1, 1_700_000_006_000));
	assert_eq!(read(PAYER, 1).map(|e| (e.batch, e.block)), Some((1, 2)));
	assert!(read(PAYER, 2).is_none());
	let other = read(PAYER2, 0).expect("PAYER2's first entry");
	assert_eq!((other.receipts, other.first_leaf, other.amount, other.seq), (3, 5, 15, 3));
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
		h.payouts_total = 150 + 15 - 4;
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
		assert_eq!(claims.iter().map(|c| (c.index, c.tokens, c.fee)).collect::<Vec<_>>(), sample.iter().map(|i| (*i, 500, 5)).collect::<Vec<_>>());
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Commit { .. }));
		assert_noop!(open(OPERATOR, opened(&sample)), Error::<Test>::BatchPhase);
	});
}

#[test]
fn full_deadline_slots_cannot_keep_an_operator_from_opening_its_sample() {
	build_and_execute(|| {
		setup();
		let l = leaves();
		assert_ok!(submit(header(&l), charges(&l)));
		run_to_block(3);
		// The attack: every deadline slot of the blocks after the sample is taken (by batches of
		// other operators, here stand-ins), so a phase change that needs a new slot cannot get
		// one. Opening books none: the panel's deadline was booked when the sample was drawn.
		for block in 4..=3 + 5 + 16 + 8 {
			BatchDeadlines::<Test>::mutate(block, |d| while d.try_push(9_999).is_ok() {});
		}
		let sample = Batches::<Test>::get(0).unwrap().sample.into_inner();
		let hashes: Vec<H256> = l.iter().map(|x| x.hash()).collect();
		let opened: Vec<(BatchLeaf<Test>, MerkleProof)> =
			sample.iter().map(|i| (l[*i as usize].clone(), batch::merkle_proof(&hashes, *i).unwrap())).collect();
		assert_ok!(Attribution::open_sample(RuntimeOrigin::signed(OPERATOR), 0, opened.try_into().unwrap()));
		assert_eq!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Commit { until: 11 });
		// Its opening deadline passes without a slash.
		run_to_block(6);
		assert!(BatchesRefunded::get().is_empty());
	});
}

#[test]
fn attestors_leaving_shrink_the_panel_and_do_not_stop_settlement() {
	build_and_execute(|| {
		setup();
		// The attack: attestors knocked out of the active set (slashed below their bond, or
		// gone) until fewer are active than a panel's `assigned` (3). Two of the four leave.
		for a in [A3, A4] {
			assert_ok!(Attribution::unregister_attestor(RuntimeOrigin::signed(a)));
		}
		let sample = opened(leaves());
		let mut panel = Batches::<Test>::get(0).unwrap().panel.into_inner();
		panel.sort();
		assert_eq!(panel, vec![A1, A2], "every active attestor sits on the panel: two are enough for a verdict");
		panel_reports(|_| (honest(sample.len()), AddsUp));
		let BatchPhase::Challenge { until } = Batches::<Test>::get(0).unwrap().phase else { panic!("verified") };
		run_to_block(until);
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Settled { .. }));
		assert!(BatchesRefunded::get().is_empty());
	});
}

#[test]
fn with_fewer_active_attestors_than_a_verdict_needs_a_batch_is_refunded_without_a_slash() {
	build_and_execute(|| {
		setup();
		for a in [A2, A3, A4] {
			assert_ok!(Attribution::unregister_attestor(RuntimeOrigin::signed(a)));
		}
		let l = leaves();
		assert_ok!(submit(header(&l), charges(&l)));
		run_to_block(3);
		// One active attestor cannot reach `min_reports` (2): every payer back, the operator's
		// bond whole.
		assert_eq!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { at: 3, why: BatchRefund::NoPanel });
		assert_eq!(BatchesRefunded::get(), vec![0]);
		assert_eq!((credit(PAYER), credit(PAYER2)), (10_000, 10_000));
		assert_eq!(Operators::<Test>::get(OPERATOR), Some(OPERATOR_BOND));
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
			Some(Event::BatchRefunded { batch: 0, why: BatchRefund::NotOpened, amount: 40, slashed: 50, rewarded: 0 })
		));
		assert_eq!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { at: 6, why: BatchRefund::NotOpened });
	});
}

#[test]
fn the_hook_charges_each_deadline_for_what_it_did() {
	use crate::weights::WeightInfo;
	use polkadot_sdk::frame_support::traits::Hooks;
	type W = <Test as Config>::WeightInfo;
	let at = |n: u64| {
		System::set_block_number(n);
		<Attribution as Hooks<u64>>::on_initialize(n)
	};
	build_and_execute(|| {
		setup();
		let l = leaves();
		assert_ok!(submit(header(&l), charges(&l)));
		// Nothing due.
		assert_eq!(at(2), W::deadlines_idle());
		// Sampled.
		assert_eq!(at(3), W::deadlines_idle() + W::deadline_sample());
		open(0, &l);
		// Opened before its opening deadline: that deadline is stale.
		assert_eq!(at(6), W::deadlines_idle() + W::deadline_stale());
		// Nobody committed: too few reports, a fresh panel.
		let BatchPhase::Commit { until } = Batches::<Test>::get(0).unwrap().phase else { panic!("commit") };
		assert_eq!(at(until), W::deadlines_idle() + W::deadline_close_commit() + W::deadline_redraw());
		assert_eq!(AuditRound::<Test>::get(0), 1);
		assert!(Attribution::worst_deadline().all_gte(W::deadline_verdict() + W::deadline_redraw() + W::deadline_refund()));
	});
	build_and_execute(|| {
		setup();
		let l = leaves();
		assert_ok!(submit(header(&l), charges(&l)));
		at(3);
		// Never opened: refunded at its opening deadline.
		assert_eq!(at(6), W::deadlines_idle() + W::deadline_stale() + W::deadline_refund());
		assert_eq!(BatchesRefunded::get(), vec![0]);
	});
}

/// A batch submitted and its sample opened by its operator; the leaves and the sample.
pub(super) fn opened(leaves: Vec<BatchLeaf<Test>>) -> Vec<u32> {
	assert_ok!(submit(header(&leaves), charges(&leaves)));
	run_to_block(3);
	open(0, &leaves)
}

/// The operator opens the sample of `batch` (of `leaves`), drawn already; the sample.
fn open(batch: BatchId, leaves: &[BatchLeaf<Test>]) -> Vec<u32> {
	let sample = Batches::<Test>::get(batch).unwrap().sample.into_inner();
	let hashes: Vec<H256> = leaves.iter().map(|x| x.hash()).collect();
	let opened: Vec<(BatchLeaf<Test>, MerkleProof)> =
		sample.iter().map(|i| (leaves[*i as usize].clone(), batch::merkle_proof(&hashes, *i).unwrap())).collect();
	assert_ok!(Attribution::open_sample(RuntimeOrigin::signed(OPERATOR), batch, opened.try_into().unwrap()));
	sample
}

/// What an honest engine recomputes for every leaf of [`leaves`]: 500 tokens, digest 7,
/// contribution 100 at 5%.
pub(super) fn honest(n: usize) -> SampleReports<Test> {
	(0..n)
		.map(|_| SampleReport { tokens: 500, digest: ContentHash([7; 32]), scores: vec![(100, Perbill::from_percent(5))].try_into().unwrap() })
		.collect::<Vec<_>>()
		.try_into()
		.unwrap()
}

fn report(who: AccountId, reports: &SampleReports<Test>, audit: BatchAudit) {
	report_on(0, who, reports, audit)
}

fn report_on(batch: BatchId, who: AccountId, reports: &SampleReports<Test>, audit: BatchAudit) {
	let key = key_of(who);
	let commit = BatchCommit::<Test> { batch, key: key.clone(), commitment: batch_commitment::<Test>(batch, &who, reports, audit, &salt(who)) };
	let signature = sign(&key, &commit);
	dispatch_authorized(RuntimeCall::Attribution(crate::Call::commit_batch_report { commit, signature })).expect("committed");
}

fn try_reveal(who: AccountId, reports: &SampleReports<Test>, audit: BatchAudit) -> polkadot_sdk::sp_runtime::DispatchResult {
	try_reveal_on(0, who, reports, audit)
}

fn try_reveal_on(batch: BatchId, who: AccountId, reports: &SampleReports<Test>, audit: BatchAudit) -> polkadot_sdk::sp_runtime::DispatchResult {
	let key = key_of(who);
	let reveal = BatchReveal::<Test> { batch, key: key.clone(), reports: reports.clone(), audit, salt: salt(who) };
	let signature = sign(&key, &reveal);
	dispatch_authorized(RuntimeCall::Attribution(crate::Call::reveal_batch_report { reveal, signature }))
}

/// Every panel attestor commits, then reveals, `f(attestor)`.
pub(super) fn panel_reports(f: impl Fn(AccountId) -> (SampleReports<Test>, BatchAudit)) -> Vec<AccountId> {
	panel_reports_on(0, f)
}

fn panel_reports_on(batch: BatchId, f: impl Fn(AccountId) -> (SampleReports<Test>, BatchAudit)) -> Vec<AccountId> {
	let panel = Batches::<Test>::get(batch).unwrap().panel.into_inner();
	for a in &panel {
		let (r, audit) = f(*a);
		report_on(batch, *a, &r, audit);
	}
	assert!(matches!(Batches::<Test>::get(batch).unwrap().phase, BatchPhase::Reveal { .. }), "the whole panel committed: reveal");
	for a in &panel {
		let (r, audit) = f(*a);
		try_reveal_on(batch, *a, &r, audit).expect("revealed");
	}
	panel
}

#[test]
fn a_sample_that_holds_up_pays_the_batch_out_and_the_agreeing_panel() {
	build_and_execute(|| {
		setup();
		let sample = opened(leaves());
		let panel = panel_reports(|_| (honest(sample.len()), AddsUp));
		let BatchPhase::Challenge { until } = Batches::<Test>::get(0).unwrap().phase else { panic!("verified") };
		assert!(matches!(events().last(), Some(Event::BatchVerified { batch: 0, .. })));
		// Paid out when the challenge window closes.
		run_to_block(until);
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Settled { .. }));
		assert!(matches!(events().last(), Some(Event::BatchSettled { batch: 0, fees: 40, .. })));
		let Some(Event::BatchSettled { paid, .. }) = events().last().cloned() else { unreachable!() };
		let mut paid = paid.into_inner();
		paid.sort();
		let mut panel = panel;
		panel.sort();
		assert_eq!(paid, panel);
		assert!(BatchesRefunded::get().is_empty());
		assert_eq!(SampledClaims::<Test>::get(0).len(), 0, "the sample's claims leave state");
		// Settled: the operator's next batch extends it.
		let settled = BatchBase { batch: 0, blob: ContentHash([9; 32]), payouts_root: H256::repeat_byte(1) };
		assert_eq!(OperatorBatches::<Test>::get(OPERATOR), BatchChain { settled: Some(settled), pending: Default::default() });
		assert_eq!(Attribution::operator_head(OPERATOR), Some(settled));
	});
}

fn submit_on(prev: Option<u64>) -> polkadot_sdk::sp_runtime::DispatchResult {
	let l = leaves();
	submit(BatchHeader { prev, ..header(&l) }, charges(&l))
}

#[test]
fn a_batch_is_split_by_the_terms_in_force_and_keeps_them() {
	build_and_execute(|| {
		setup();
		let l = leaves();
		// Built under terms that are not the chain's (governance changed them since): refused.
		let stale = BatchHeader { terms: H256::repeat_byte(7), ..header(&l) };
		assert_noop!(submit(stale, charges(&l)), Error::<Test>::WrongTerms);
		assert_ok!(submit(header(&l), charges(&l)));
		let kept = Batches::<Test>::get(0).unwrap().terms;
		assert_eq!(kept, Attribution::batch_terms());
		// Governance raises the minimum fee: the batch in flight keeps the terms it was split by,
		// which its panel audits it and its verdict checks fees against.
		let mut p = Attribution::params();
		p.min_fee += 1;
		assert_ok!(Attribution::set_params(RuntimeOrigin::root(), p));
		assert_ne!(Attribution::batch_terms(), kept);
		assert_eq!(Batches::<Test>::get(0).unwrap().terms, kept);
	});
}

#[test]
fn a_batch_extends_its_operators_latest_batch_and_no_other() {
	build_and_execute(|| {
		setup();
		assert_noop!(submit_on(Some(0)), Error::<Test>::WrongPrev);
		assert_ok!(submit_on(None));
		assert_eq!(
			Attribution::operator_head(OPERATOR),
			Some(BatchBase { batch: 0, blob: ContentHash([9; 32]), payouts_root: H256::repeat_byte(1) })
		);
		// A second first batch, or one on a batch that is not the latest: refused.
		assert_noop!(submit_on(None), Error::<Test>::WrongPrev);
		assert_ok!(submit_on(Some(0)));
		assert_noop!(submit_on(Some(0)), Error::<Test>::WrongPrev);
		assert_ok!(submit_on(Some(1)));
		assert_eq!(Batches::<Test>::get(2).unwrap().base.map(|b| b.batch), Some(1));
		// Three in flight (the mock's `MaxPendingBatches`): the fourth waits.
		assert_noop!(submit_on(Some(2)), Error::<Test>::TooManyPendingBatches);
	});
}

#[test]
fn a_refunded_batch_takes_the_batches_built_on_it_with_it() {
	build_and_execute(|| {
		setup();
		assert_ok!(submit_on(None));
		run_to_block(2);
		assert_ok!(submit_on(Some(0)));
		// Batch 0 is not opened: refunded at block 6 with its operator slashed. Batch 1 counted
		// its fees in its running payouts: cut off.
		run_to_block(6);
		assert_eq!(BatchesRefunded::get(), vec![0]);
		assert_eq!(Attribution::operator_head(OPERATOR), None);
		// The operator's next batch extends what is left (nothing settled), not the orphan.
		assert_noop!(submit_on(Some(1)), Error::<Test>::WrongPrev);
		assert_ok!(submit_on(None));
		// The orphan is refunded in the next block (a deadline booked for it with the refund),
		// its payers whole, the operator not slashed again.
		let bond = Operators::<Test>::get(OPERATOR);
		run_to_block(7);
		assert_eq!(BatchesRefunded::get(), vec![0, 1]);
		assert!(events().iter().any(|e| matches!(
			e,
			Event::BatchRefunded { batch: 1, why: BatchRefund::Orphaned, amount: 40, slashed: 0, rewarded: 0 }
		)));
		assert_eq!(Operators::<Test>::get(OPERATOR), bond);
		assert_eq!(OperatorBatches::<Test>::get(OPERATOR).pending.into_inner(), vec![2]);
	});
}

/// Batches 0 and 1 (built on 0) submitted and opened; batch 1 verified by its panel while
/// batch 0's audit has not begun. The sample and batch 1's challenge deadline.
fn verified_ahead_of_its_base() -> (Vec<u32>, u64) {
	let l = leaves();
	assert_ok!(submit(header(&l), charges(&l)));
	run_to_block(2);
	assert_ok!(submit(BatchHeader { prev: Some(0), ..header(&l) }, charges(&l)));
	run_to_block(3);
	let sample = open(0, &l);
	run_to_block(4);
	open(1, &l);
	panel_reports_on(1, |_| (honest(sample.len()), AddsUp));
	let BatchPhase::Challenge { until } = Batches::<Test>::get(1).unwrap().phase else { panic!("verified") };
	(sample, until)
}

#[test]
fn a_batch_waiting_for_the_one_before_it_books_no_slot_and_pays_out_right_after_it() {
	build_and_execute(|| {
		setup();
		// The attack this stops: batches verified ahead of the one they extend each booked a
		// deadline slot every block while they waited, crowding out other batches' deadlines.
		// Batch 1, built on batch 0, is verified first.
		let (sample, window) = verified_ahead_of_its_base();
		past_commit();
		assert_eq!(redrawn(), vec![(1, BatchRefund::TooFewReports)]);
		run_to_block(window + 1);
		// Batch 1's window closed: it waits, with no deadline booked in any block.
		assert_eq!(Batches::<Test>::get(1).unwrap().phase, BatchPhase::Challenge { until: window });
		assert!(BatchDeadlines::<Test>::iter().all(|(_, due)| !due.contains(&1)));
		// Batch 0 is verified and pays out; batch 1 pays out in the next block.
		panel_reports(|_| (honest(sample.len()), AddsUp));
		let BatchPhase::Challenge { until } = Batches::<Test>::get(0).unwrap().phase else { panic!("verified") };
		run_to_block(until);
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Settled { .. }));
		assert_eq!(Batches::<Test>::get(1).unwrap().phase, BatchPhase::Challenge { until: until + 1 });
		run_to_block(until + 1);
		assert_eq!(Batches::<Test>::get(1).unwrap().phase, BatchPhase::Settled { at: until + 1 });
		assert!(BatchesRefunded::get().is_empty());
	});
}

#[test]
fn a_waiting_batch_whose_base_is_refunded_is_refunded_as_an_orphan() {
	build_and_execute(|| {
		setup();
		let (sample, window) = verified_ahead_of_its_base();
		// Batch 0's first panel is silent; the second finds its totals wrong, after batch 1's
		// window closed.
		past_commit();
		run_to_block(window + 1);
		panel_reports(|_| (honest(sample.len()), DoesNotAddUp));
		let now = System::block_number();
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { why: BatchRefund::BadTotals, .. }));
		// The waiting orphan gets a deadline in the next block, and is refunded there.
		run_to_block(now + 1);
		assert_eq!(Batches::<Test>::get(1).unwrap().phase, BatchPhase::Refunded { at: now + 1, why: BatchRefund::Orphaned });
		assert_eq!(BatchesRefunded::get(), vec![0, 1]);
	});
}

#[test]
fn an_operator_cannot_take_its_bond_back_while_a_batch_is_in_flight() {
	build_and_execute(|| {
		setup();
		// The attack: submit a batch, then leave with the bond before the sample is drawn, so
		// that a fraud found later has nothing to slash.
		assert_ok!(submit_on(None));
		assert_noop!(Attribution::unregister_operator(RuntimeOrigin::signed(OPERATOR)), Error::<Test>::BatchesInFlight);
		// Not opened: refunded and slashed; with nothing in flight it may leave with what is left.
		run_to_block(6);
		assert_eq!(Operators::<Test>::get(OPERATOR), Some(OPERATOR_BOND / 2));
		assert_ok!(Attribution::unregister_operator(RuntimeOrigin::signed(OPERATOR)));
	});
}

#[test]
fn a_falsified_sampled_leaf_is_caught_refunded_and_its_operator_slashed() {
	build_and_execute(|| {
		setup();
		// The operator claims more tokens (and so a higher fee) than its transcripts hold, on
		// every leaf: whichever are sampled, the panel counts 500.
		let inflated: Vec<BatchLeaf<Test>> = leaves()
			.into_iter()
			.map(|mut l| {
				l.input_tokens = 400;
				l
			})
			.collect();
		let sample = opened(inflated);
		let treasury = free(TREASURY);
		let panel = Batches::<Test>::get(0).unwrap().panel.into_inner();
		let before: Vec<Balance> = panel.iter().map(|a| free(*a)).collect();
		panel_reports(|_| (honest(sample.len()), AddsUp));
		assert_eq!(BatchesRefunded::get(), vec![0]);
		assert_eq!((credit(PAYER), credit(PAYER2)), (10_000, 10_000), "every payer refunded");
		// The whole bond slashed: a fifth to the panel that caught it (6 each of the 20, 2 of
		// rounding to the treasury), the rest to the treasury.
		let after: Vec<Balance> = panel.iter().map(|a| free(*a)).collect();
		assert!(after.iter().zip(&before).all(|(a, b)| a - b == 6), "{before:?} → {after:?}");
		assert_eq!(free(TREASURY), treasury + OPERATOR_BOND - 18, "the rest of the bond");
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { why: BatchRefund::Fraud, .. }));
	});
}

/// Runs to the end of the current panel's commit phase.
fn past_commit() {
	let BatchPhase::Commit { until } = Batches::<Test>::get(0).unwrap().phase else { panic!("commit phase") };
	run_to_block(until);
}

fn redrawn() -> Vec<(u32, BatchRefund)> {
	events()
		.into_iter()
		.filter_map(|e| match e {
			Event::PanelRedrawn { batch: 0, round, why, .. } => Some((round, why)),
			_ => None,
		})
		.collect()
}

#[test]
fn an_audit_with_too_few_reports_draws_a_fresh_panel_instead_of_refunding_an_honest_batch() {
	build_and_execute(|| {
		setup();
		// The attack this stops: an operator's batch (and every later one built on it, as
		// orphans) refunded because its panel was slow or silent, though nothing in it was wrong.
		let sample = opened(leaves());
		let first = Batches::<Test>::get(0).unwrap().panel.into_inner();
		report(first[0], &honest(sample.len()), AddsUp);
		past_commit();
		assert_eq!(redrawn(), vec![(1, BatchRefund::TooFewReports)]);
		let struck: Vec<AccountId> = events()
			.into_iter()
			.filter_map(|e| match e {
				Event::AttestorStruck { attestor, fault: Fault::NoCommit, .. } => Some(attestor),
				_ => None,
			})
			.collect();
		assert_eq!(struck, first[1..].to_vec(), "the silent are struck");
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Commit { .. }));
		assert_eq!(AuditRound::<Test>::get(0), 1);
		assert_eq!(BatchReports::<Test>::iter_prefix(0).count(), 0, "the first panel's reports are dropped");
		assert!(BatchesRefunded::get().is_empty());
		// The fresh panel audits the same opened sample, and the batch settles.
		panel_reports(|_| (honest(sample.len()), AddsUp));
		let BatchPhase::Challenge { until } = Batches::<Test>::get(0).unwrap().phase else { panic!("verified") };
		assert!(!AuditRound::<Test>::contains_key(0));
		run_to_block(until);
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Settled { .. }));
		assert_eq!(Operators::<Test>::get(OPERATOR), Some(OPERATOR_BOND));
		// No attestor is held by the batch any more.
		assert!(Attestors::<Test>::iter().all(|(_, a)| a.open == 0));
	});
}

#[test]
fn an_audit_without_a_majority_is_redone_by_a_fresh_panel() {
	build_and_execute(|| {
		setup();
		let sample = opened(leaves());
		// Three digests from three attestors: no majority on any sampled leaf.
		panel_reports(|a| {
			let mut r = honest(sample.len());
			for x in r.iter_mut() {
				x.digest = ContentHash([a as u8; 32]);
			}
			(r, AddsUp)
		});
		assert_eq!(redrawn(), vec![(1, BatchRefund::NoMajority)]);
		panel_reports(|_| (honest(sample.len()), AddsUp));
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Challenge { .. }));
		assert!(BatchesRefunded::get().is_empty());
	});
}

#[test]
fn after_the_last_audit_round_reaches_no_verdict_the_batch_is_refunded_without_a_slash() {
	build_and_execute(|| {
		setup();
		opened(leaves());
		// No panel ever reports: `AuditRounds` (3) panels, then a refund.
		for _ in 0..3 {
			past_commit();
		}
		assert_eq!(redrawn(), vec![(1, BatchRefund::TooFewReports), (2, BatchRefund::TooFewReports)]);
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { why: BatchRefund::TooFewReports, .. }));
		assert_eq!(BatchesRefunded::get(), vec![0]);
		assert_eq!((credit(PAYER), credit(PAYER2)), (10_000, 10_000));
		assert_eq!(Operators::<Test>::get(OPERATOR), Some(OPERATOR_BOND), "the operator did nothing wrong");
		assert!(!AuditRound::<Test>::contains_key(0));
		assert!(Attestors::<Test>::iter().all(|(_, a)| a.open == 0));
		// A panel silent as a whole points at content not served, not at each attestor: none
		// is struck for it.
		assert!(!events().iter().any(|e| matches!(e, Event::AttestorStruck { .. })));
	});
}

#[test]
fn with_one_audit_round_an_inconclusive_audit_refunds_at_once() {
	build_and_execute(|| {
		AuditRounds::set(1);
		setup();
		opened(leaves());
		past_commit();
		assert!(redrawn().is_empty());
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { why: BatchRefund::TooFewReports, .. }));
	});
}

/// What an attestor whose engine could not get the batch reveals: no sampled report.
fn none() -> SampleReports<Test> {
	Default::default()
}

#[test]
fn an_operator_that_withholds_its_batch_from_every_panel_is_slashed_for_withholding() {
	build_and_execute(|| {
		setup();
		// The attack: open the sample (so `NotOpened` cannot strike), then serve neither the blob
		// nor the transcripts. Before, the panel committed nothing and the batch was refunded
		// without a slash; now each panel reports it unavailable.
		opened(leaves());
		let treasury = free(TREASURY);
		for _ in 0..3 {
			panel_reports(|_| (none(), Unavailable));
		}
		assert_eq!(redrawn(), vec![(1, BatchRefund::Withheld), (2, BatchRefund::Withheld)]);
		assert_eq!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { at: 3, why: BatchRefund::Withheld });
		assert_eq!((credit(PAYER), credit(PAYER2)), (10_000, 10_000), "every payer refunded");
		// `WithholdSlash` (half the bond), all to the treasury: nobody earns by claiming content
		// was not served.
		assert_eq!(Operators::<Test>::get(OPERATOR), Some(OPERATOR_BOND / 2));
		assert_eq!(free(TREASURY), treasury + OPERATOR_BOND / 2);
		assert!(matches!(
			events().last(),
			Some(Event::BatchRefunded { batch: 0, why: BatchRefund::Withheld, amount: 40, slashed: 50, rewarded: 0 })
		));
		// The attestors did their part: none struck, none held.
		assert!(!events().iter().any(|e| matches!(e, Event::AttestorStruck { .. })));
		assert!(Attestors::<Test>::iter().all(|(_, a)| a.open == 0));
	});
}

#[test]
fn one_panel_that_could_not_get_the_batch_does_not_decide() {
	build_and_execute(|| {
		setup();
		let sample = opened(leaves());
		// The first panel's engines could not reach the operator's; the next one could.
		panel_reports(|_| (none(), Unavailable));
		assert_eq!(redrawn(), vec![(1, BatchRefund::Withheld)]);
		panel_reports(|_| (honest(sample.len()), AddsUp));
		let BatchPhase::Challenge { until } = Batches::<Test>::get(0).unwrap().phase else { panic!("verified") };
		run_to_block(until);
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Settled { .. }));
		assert_eq!(Operators::<Test>::get(OPERATOR), Some(OPERATOR_BOND));
	});
}

#[test]
fn an_attestor_the_operator_did_not_serve_is_neither_struck_nor_paid_when_the_rest_could_audit() {
	build_and_execute(|| {
		setup();
		let sample = opened(leaves());
		let panel = Batches::<Test>::get(0).unwrap().panel.into_inner();
		let unserved = panel[0];
		panel_reports(|a| if a == unserved { (none(), Unavailable) } else { (honest(sample.len()), AddsUp) });
		let Some(Event::BatchVerified { paid, .. }) = events().into_iter().rev().find(|e| matches!(e, Event::BatchVerified { .. })) else {
			panic!("verified on the reports of those who could audit")
		};
		assert_eq!(paid.len(), 2);
		assert!(!paid.contains(&unserved));
		assert!(!events().iter().any(|e| matches!(e, Event::AttestorStruck { .. })));
		assert!(redrawn().is_empty());
	});
}

#[test]
fn an_unavailable_finding_reports_no_sample_and_any_other_reports_all_of_it() {
	build_and_execute(|| {
		setup();
		let sample = opened(leaves());
		let a = Batches::<Test>::get(0).unwrap().panel[0];
		// Committed to an unavailable finding with reports: it cannot be revealed (the panel
		// cannot hold both), nor can reports left out of a finding that the batch adds up.
		report(a, &honest(sample.len()), Unavailable);
		let others: Vec<AccountId> = Batches::<Test>::get(0).unwrap().panel.iter().copied().filter(|x| *x != a).collect();
		for o in &others {
			report(*o, &none(), AddsUp);
		}
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Reveal { .. }));
		let reveal = |who: AccountId, reports: SampleReports<Test>, audit| BatchReveal::<Test> { batch: 0, key: key_of(who), reports, audit, salt: salt(who) };
		assert!(matches!(Attribution::check_batch_reveal(&reveal(a, honest(sample.len()), Unavailable)), Err(Error::<Test>::WrongReportCount)));
		assert!(matches!(Attribution::check_batch_reveal(&reveal(others[0], none(), AddsUp)), Err(Error::<Test>::WrongReportCount)));
		assert!(try_reveal(a, &honest(sample.len()), Unavailable).is_err());
		assert_eq!(BatchReports::<Test>::iter_prefix(0).filter(|(_, r)| r.revealed.is_some()).count(), 0);
	});
}

#[test]
fn a_deviating_panel_attestor_is_struck_and_unpaid() {
	build_and_execute(|| {
		setup();
		let sample = opened(leaves());
		let panel = Batches::<Test>::get(0).unwrap().panel.into_inner();
		let liar = panel[0];
		panel_reports(|a| {
			let mut r = honest(sample.len());
			if a == liar {
				r[0].scores = vec![(100, Perbill::from_percent(90))].try_into().unwrap();
			}
			(r, AddsUp)
		});
		let Some(Event::BatchVerified { paid, .. }) = events().into_iter().rev().find(|e| matches!(e, Event::BatchVerified { .. })) else {
			panic!("verified on the honest majority")
		};
		assert!(!paid.contains(&liar));
		assert_eq!(paid.len(), 2);
		assert!(events().iter().any(|e| matches!(e, Event::AttestorStruck { attestor, fault: Fault::Deviation, .. } if *attestor == liar)));
	});
}

#[test]
fn a_tie_on_the_totals_is_decided_by_a_fresh_panel_and_strikes_nobody() {
	build_and_execute(|| {
		setup();
		// The attack: the operator's friend on the panel says its wrong totals add up; with one
		// honest attestor against it and a third silent, the tie let the batch pass and struck
		// the honest one for deviating.
		let sample = opened(leaves());
		let panel = Batches::<Test>::get(0).unwrap().panel.into_inner();
		for a in &panel {
			report(*a, &honest(sample.len()), if *a == panel[0] { DoesNotAddUp } else { AddsUp });
		}
		assert_ok!(try_reveal(panel[0], &honest(sample.len()), DoesNotAddUp));
		assert_ok!(try_reveal(panel[1], &honest(sample.len()), AddsUp));
		let BatchPhase::Reveal { until } = Batches::<Test>::get(0).unwrap().phase else { panic!("reveal phase") };
		run_to_block(until);
		assert_eq!(redrawn(), vec![(1, BatchRefund::NoMajority)]);
		assert!(!events().iter().any(|e| matches!(e, Event::AttestorStruck { fault: Fault::Deviation, .. })));
		// The fresh panel finds them wrong: refunded, slashed.
		panel_reports(|_| (honest(sample.len()), DoesNotAddUp));
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { why: BatchRefund::BadTotals, .. }));
	});
}

#[test]
fn totals_the_panels_majority_finds_wrong_refund_the_batch() {
	build_and_execute(|| {
		setup();
		let sample = opened(leaves());
		let panel = Batches::<Test>::get(0).unwrap().panel.into_inner();
		let (one, two) = (panel[0], panel[1]);
		panel_reports(|a| (honest(sample.len()), if a != one && a != two { AddsUp } else { DoesNotAddUp }));
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { why: BatchRefund::BadTotals, .. }));
		// The one that said they add up, against the majority, is struck.
		assert!(events().iter().any(|e| matches!(e, Event::AttestorStruck { fault: Fault::Deviation, .. })));
	});
}

#[test]
fn a_leaf_charged_in_an_earlier_batch_and_charged_again_is_proven_false() {
	build_and_execute(|| {
		setup();
		let l = leaves();
		assert_ok!(submit(header(&l), charges(&l)));
		// The attack: PAYER's next voucher (6) consents to more than its request costs; the
		// operator fills the gap with PAYER's five receipts of batch 0, already paid, charged
		// again under voucher 6. Every leaf is signed by PAYER and within its caps.
		let mut again: Vec<BatchLeaf<Test>> = l[..5].to_vec();
		let voucher = Voucher { request: [60; 16], seq: 6, cumulative: 1_000, ..l[4].voucher.clone() };
		let signature = TestSignature(PAYER, voucher.signing_payload());
		again.push(batch::Leaf { voucher, signature, ..l[4].clone() });
		assert_ok!(submit(BatchHeader { prev: Some(0), payouts_total: 27, attestors_part: 3, ..header(&again) }, charges(&again)));
		let hashes: Vec<H256> = again.iter().map(|x| x.hash()).collect();
		let prove = |i: usize| Attribution::prove_fraud(RuntimeOrigin::signed(PAYER), 1, again[i].clone(), batch::merkle_proof(&hashes, i as u32).unwrap());
		// The new request is what the charge pays for; the old ones are not.
		assert_noop!(prove(5), Error::<Test>::LeafHolds);
		assert_ok!(prove(0));
		assert!(events().iter().any(|e| matches!(e, Event::FraudProven { batch: 1, index: 0, prover: PAYER })));
		assert!(matches!(Batches::<Test>::get(1).unwrap().phase, BatchPhase::Refunded { why: BatchRefund::Proven, .. }));
	});
}

#[test]
fn a_leaf_its_payer_never_signed_is_proven_false_before_the_batch_pays_out() {
	build_and_execute(|| {
		setup();
		// The operator slips in a request PAYER never made: a voucher "signed" by PAYER2.
		let mut l = leaves();
		let forged = l[2].voucher.signing_payload();
		l[2].signature = TestSignature(PAYER2, forged);
		let sample = opened(l.clone());
		// Whether or not the panel's sample caught it, anyone holding the blob proves it.
		let hashes: Vec<H256> = l.iter().map(|x| x.hash()).collect();
		let prove = |i: usize| Attribution::prove_fraud(RuntimeOrigin::signed(PAYER), 0, l[i].clone(), batch::merkle_proof(&hashes, i as u32).unwrap());
		// An honest leaf proves nothing; a leaf not in the tree is refused.
		assert_noop!(prove(0), Error::<Test>::LeafHolds);
		let mut stranger = l[0].clone();
		stranger.fee = 1;
		assert_noop!(
			Attribution::prove_fraud(RuntimeOrigin::signed(PAYER), 0, stranger, batch::merkle_proof(&hashes, 0).unwrap()),
			Error::<Test>::BadLeafProof
		);
		let (treasury, prover) = (free(TREASURY), free(PAYER));
		assert_ok!(prove(2));
		assert!(events().iter().any(|e| matches!(e, Event::FraudProven { batch: 0, index: 2, prover: PAYER })));
		assert_eq!((credit(PAYER), credit(PAYER2)), (10_000, 10_000), "every payer refunded");
		// Proving it paid: a fifth of the whole bond to the prover, the rest to the treasury.
		assert_eq!(free(PAYER), prover + OPERATOR_BOND / 5);
		assert_eq!(free(TREASURY), treasury + OPERATOR_BOND - OPERATOR_BOND / 5);
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { why: BatchRefund::Proven, .. }));
		assert_noop!(prove(2), Error::<Test>::BatchPhase);
		let _ = sample;
	});
}

#[test]
fn a_fee_above_what_the_voucher_allows_is_proven_false_in_the_challenge_window() {
	build_and_execute(|| {
		setup();
		// Every leaf charges 6 where 500 tokens at the cap of 10 per 1,000 allow 5. The verdict
		// would catch it on a sampled leaf; any leaf's proof catches it before the sample is
		// even drawn.
		let l: Vec<BatchLeaf<Test>> = leaves()
			.into_iter()
			.map(|mut x| {
				x.fee = 6;
				x
			})
			.collect();
		let mut h = header(&l);
		h.payouts_total = 48 - 4;
		assert_ok!(submit(h, charges(&l)));
		let hashes: Vec<H256> = l.iter().map(|x| x.hash()).collect();
		assert_ok!(Attribution::prove_fraud(RuntimeOrigin::signed(PAYER2), 0, l[6].clone(), batch::merkle_proof(&hashes, 6).unwrap()));
		assert!(matches!(Batches::<Test>::get(0).unwrap().phase, BatchPhase::Refunded { why: BatchRefund::Proven, .. }));
	});
}

#[test]
fn finished_batches_leave_state_after_the_retention() {
	build_and_execute(|| {
		setup();
		let l = leaves();
		assert_ok!(submit(header(&l), charges(&l)));
		// Not opened: refunded at block 6; kept for the retention, then pruned.
		run_to_block(6);
		let retention = Attribution::params().retention;
		run_to_block(6 + retention - 1);
		assert!(Batches::<Test>::contains_key(0));
		run_to_block(6 + retention);
		assert!(!Batches::<Test>::contains_key(0));
		assert!(events().iter().any(|e| matches!(e, Event::BatchPruned { batch: 0 })));
		assert_eq!(BatchPruneCursor::<Test>::get(), 1);
	});
}

#[test]
fn an_operator_reads_what_it_attributes_against_and_whom_each_contribution_pays() {
	new_test_ext().execute_with(|| {
		Removed::set(vec![101]);
		let facts = Attribution::adapter_facts(ADAPTER).expect("a deployed adapter has facts");
		assert_eq!((facts.adapter, facts.owner), (ADAPTER, OWNER));
		assert_eq!(facts.adapter_hash, ContentHash::of(b"adapter weights"));
		// Every contribution of the pinned version, the removed one included: the engine
		// attributes against the version as its root covers it.
		assert_eq!(facts.datanets.len(), 1);
		let ids: Vec<_> = facts.datanets[0].contributions.iter().map(|c| c.contribution).collect();
		assert_eq!((facts.datanets[0].datanet, facts.datanets[0].version, ids), (0, 1, vec![100, 101, 102]));
		// Only those that still earn pay anyone: the removed one's share goes unpaid.
		let earning: Vec<_> = facts.earning.iter().map(|(c, o)| (*c, o.contributor, o.datanet_owner)).collect();
		assert_eq!(earning, vec![(100, C1, DN_OWNER), (102, C2, DN_OWNER)]);
		assert_eq!(facts.owners(101), None);
		assert_eq!(facts.owners(102).map(|o| o.contributor), Some(C2));
		// The request it sends its engine.
		let req = facts.request(3, ContentHash([4; 32]), 2);
		assert_eq!((req.adapter, req.adapter_hash, req.transcript, req.top_k), (ADAPTER, facts.adapter_hash, ContentHash([4; 32]), 2));
		// No weights, no facts.
		assert_eq!(Attribution::adapter_facts(99), None);
		let terms = Attribution::batch_terms();
		assert_eq!((terms.treasury, terms.top_k), (TREASURY, MAX_CONTRIBUTIONS));
		assert_eq!(terms.min_fee, Attribution::params().min_fee);
	});
}

/// `leaves()` with every voucher expiring at block `at`, signed again by its payer.
fn expiring_at(at: u64) -> Vec<BatchLeaf<Test>> {
	leaves()
		.into_iter()
		.map(|mut l| {
			l.voucher.expires_at = at;
			l.signature = TestSignature(l.payer, l.voucher.signing_payload());
			l
		})
		.collect()
}

#[test]
fn a_voucher_past_its_expiry_or_living_longer_than_the_chain_allows_charges_nobody() {
	// A voucher lives at most `max_voucher_lifetime` (20) blocks from the batch's block: one more
	// is refused, exactly that lands.
	build_and_execute(|| {
		setup();
		let (now, lifetime) = (System::block_number(), Attribution::params().max_voucher_lifetime);
		let l = expiring_at(now + lifetime + 1);
		assert_noop!(submit(header(&l), charges(&l)), Error::<Test>::VoucherTooLong);
		let l = expiring_at(now + lifetime);
		assert_ok!(submit(header(&l), charges(&l)));
		assert_eq!(BatchCharged::get(), vec![(0, PAYER, 25), (0, PAYER2, 15)]);
	});
	// Expired the block before the batch: refused, nobody charged; its last block still lands.
	build_and_execute(|| {
		setup();
		run_to_block(5);
		let l = expiring_at(4);
		assert_noop!(submit(header(&l), charges(&l)), Error::<Test>::VoucherExpired);
		assert!(BatchCharged::get().is_empty());
		assert_eq!(credit(PAYER), 10_000);
		let l = expiring_at(5);
		assert_ok!(submit(header(&l), charges(&l)));
		assert_eq!(BatchCharged::get(), vec![(0, PAYER, 25), (0, PAYER2, 15)]);
	});
}

/// One leaf of eight falsified (more tokens claimed than its transcript holds), every other one
/// honest, the batch's totals adding up: the panel catches it exactly when the draw, made after
/// the batch was committed, samples it (3 leaves of 8 in the mock), and the batch goes on to its
/// challenge window when it does not. That is the escape the detection maths counts,
/// `(1 − f)^s`: here 5 of the 8 single-leaf cheats.
#[test]
fn one_falsified_leaf_among_honest_ones_is_caught_exactly_when_it_is_sampled() {
	let mut caught = Vec::new();
	for bad in 0..8u32 {
		build_and_execute(|| {
			setup();
			let mut l = leaves();
			l[bad as usize].input_tokens = 400;
			let sample = opened(l);
			let treasury = free(TREASURY);
			panel_reports(|_| (honest(sample.len()), AddsUp));
			let phase = Batches::<Test>::get(0).unwrap().phase;
			if sample.contains(&bad) {
				assert!(matches!(phase, BatchPhase::Refunded { why: BatchRefund::Fraud, .. }), "leaf {bad} sampled: {phase:?}");
				assert_eq!(BatchesRefunded::get(), vec![0]);
				assert_eq!((credit(PAYER), credit(PAYER2)), (10_000, 10_000), "every payer refunded");
				assert_eq!(Operators::<Test>::get(OPERATOR), Some(0), "the whole bond slashed");
				assert_eq!(free(TREASURY), treasury + OPERATOR_BOND - 18, "the bond less the panel's fifth");
				caught.push(bad);
			} else {
				assert!(matches!(phase, BatchPhase::Challenge { .. }), "leaf {bad} not sampled: {phase:?}");
				assert!(BatchesRefunded::get().is_empty());
				assert_eq!(Operators::<Test>::get(OPERATOR), Some(OPERATOR_BOND));
			}
		});
	}
	assert_eq!(caught.len(), 3, "each sampled leaf, falsified alone, is caught: {caught:?}");
}

#[test]
fn a_payers_spend_log_still_proves_its_receipts_after_their_batch_left_the_chains_state() {
	let mut ext = new_keyed_ext();
	let l = ext.execute_with(|| {
		setup();
		let l = leaves();
		let sample = opened(l.clone());
		panel_reports(|_| (honest(sample.len()), AddsUp));
		let BatchPhase::Challenge { until } = Batches::<Test>::get(0).unwrap().phase else { panic!("verified") };
		run_to_block(until);
		let BatchPhase::Settled { at } = Batches::<Test>::get(0).unwrap().phase else { panic!("paid out") };
		run_to_block(at + Attribution::params().retention);
		assert!(!Batches::<Test>::contains_key(0), "pruned from state");
		l
	});
	ext.persist_offchain_overlay();
	let db = ext.offchain_db();
	// The pruned record went to the offchain index: its header says how many leaves the root has.
	let b = db.get(&mnemo_primitives::offchain_keys::batch(0)).expect("the pruned batch's record");
	let b = <Batch<Test> as codec::Decode>::decode(&mut &b[..]).unwrap();
	let hashes: Vec<H256> = l.iter().map(|x| x.hash()).collect();
	let mut charged = 0;
	for payer in [PAYER, PAYER2] {
		let e = db.get(&mnemo_primitives::offchain_keys::spend_log(&payer, 0)).expect("the payer's entry");
		let e = <mnemo_primitives::SpendEntry<AccountId, u64, H256> as codec::Decode>::decode(&mut &e[..]).unwrap();
		assert_eq!((e.batch, e.root, e.blob), (0, b.header.root, b.header.blob));
		// Its receipts (from the operator's blob, here `l`) are exactly the entry's range: each
		// the payer's, each proven against the root, their fees the charge, the last its voucher.
		let range = e.first_leaf as usize..(e.first_leaf + e.receipts) as usize;
		let mine = &l[range.clone()];
		assert!(mine.iter().all(|x| x.payer == payer));
		assert!(l.iter().enumerate().all(|(i, x)| range.contains(&i) || x.payer != payer), "no receipt of its outside the range");
		for i in range {
			let proof = batch::merkle_proof(&hashes, i as u32).unwrap();
			assert!(batch::verify(&e.root, b.header.leaves, hashes[i], &proof), "leaf {i}");
		}
		assert_eq!(mine.iter().map(|x| x.fee).sum::<Balance>(), e.amount);
		assert_eq!(mine.last().unwrap().voucher.seq, e.seq);
		charged += e.amount;
	}
	assert_eq!(charged, b.fees);
}

//! Benchmarks (v2) of every call and hook, each in its worst case.

use super::*;
use crate::{frame_support, frame_system};
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{fungible::Mutate, Authorize, EnsureOrigin, Get, Hooks},
	BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use mnemo_primitives::{Balance, ContentHash, ContributionId, Voucher};
use polkadot_sdk::{
	frame_benchmarking,
	sp_application_crypto::RuntimeAppPublic,
	sp_core::H256,
	sp_runtime::{traits::Zero, transaction_validity::TransactionSource, Perbill},
};

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount: Balance = 1_000_000_000_000_000_000_000;
	T::Currency::set_balance(&who, amount);
	who
}

/// Parameters at their most expensive: every batch gets a panel of `MaxAssigned` attestors.
fn widest<T: Config>() {
	// Events are only kept from block 1.
	frame_system::Pallet::<T>::set_block_number(1u32.into());
	let mut p = Pallet::<T>::default_params();
	p.assigned = T::MaxAssigned::get();
	p.quorum = p.assigned;
	p.min_reports = 1;
	CurrentParams::<T>::put(p);
}

fn operator<T: Config>() -> T::AccountId {
	let op = funded::<T>("operator", 0);
	Pallet::<T>::register_operator(RawOrigin::Signed(op.clone()).into()).expect("operator");
	op
}

/// `n` registered attestors with keys in the keystore.
fn attestors<T: Config>(n: u32) -> Vec<T::AccountId> {
	(0..n)
		.map(|i| {
			let who = funded::<T>("attestor", i);
			let key = T::AttestorId::generate_pair(None);
			Pallet::<T>::register_attestor(RawOrigin::Signed(who.clone()).into(), key).expect("attestor");
			who
		})
		.collect()
}

fn key_of<T: Config>(who: &T::AccountId) -> T::AttestorId {
	Attestors::<T>::get(who).expect("attestor").key
}

/// `k` scores over the contributions, summing to at most 100%.
fn scores<T: Config>(contributions: &[ContributionId], k: u32) -> Scores<T> {
	let k = (k as usize).min(contributions.len()).max(1);
	let each = Perbill::from_rational(1u32, k as u32 + 1);
	let mut s: Vec<Score> = contributions.iter().take(k).map(|c| (*c, each)).collect();
	s.sort_by_key(|(c, _)| *c);
	BoundedVec::truncate_from(s)
}

use codec::Encode;

/// A batch of `p` payers with one receipt each on the deployed adapter (500 tokens at 10 per
/// 1,000: a fee of 5; `bad` of them charged 6), every voucher signed by its payer: the leaves,
/// the header and the charges.
fn batch_of<T: Config>(op: &T::AccountId, p: u32, bad: u32) -> (Vec<BatchLeaf<T>>, BatchHeader, Vec<PayerCharge<T>>) {
	let (adapter, _) = T::BenchmarkHelper::deployed_adapter(1);
	let now = frame_system::Pallet::<T>::block_number();
	let genesis = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
	let leaves: Vec<BatchLeaf<T>> = (0..p)
		.map(|i| {
			let payer = T::BenchmarkHelper::payer(i, op);
			let mut request = [0u8; 16];
			request[..4].copy_from_slice(&i.to_le_bytes());
			let voucher = Voucher {
				request,
				operator: op.clone(),
				adapter,
				max_price_per_1k: 10,
				max_tokens: 1_000,
				channel: T::BenchmarkHelper::channel(&payer, op),
				seq: 1,
				cumulative: 1_000_000,
				expires_at: now + 10u32.into(),
				genesis: H256::from_slice(genesis.as_ref()),
			};
			let signature = T::BenchmarkHelper::sign(&payer, &voucher.signing_payload());
			mnemo_primitives::batch::Leaf {
				payer,
				voucher,
				signature,
				input_tokens: 300,
				output_tokens: 200,
				fee: if i < bad { 6 } else { 5 },
				transcript: ContentHash::of(&i.to_le_bytes()),
				digest: ContentHash::of(b"digest"),
				shares: Default::default(),
			}
		})
		.collect();
	let hashes: Vec<H256> = leaves.iter().map(|l| l.hash()).collect();
	let fees: Balance = leaves.iter().map(|l| l.fee).sum();
	let header = BatchHeader {
		root: mnemo_primitives::batch::merkle_root(&hashes),
		leaves: p,
		blob: ContentHash::of(b"blob"),
		payouts_root: H256::repeat_byte(1),
		payouts_count: 1,
		payouts_total: fees,
		attestors_part: 0,
		prev: None,
		terms: Pallet::<T>::terms().hash(),
	};
	let charges = leaves
		.iter()
		.map(|l| PayerCharge::<T> { payer: l.payer.clone(), voucher: l.voucher.clone(), signature: l.signature.clone(), leaves: 1, amount: l.fee })
		.collect();
	(leaves, header, charges)
}

/// A batch of `SampleSize` leaves submitted, sampled (all of them) and opened; its panel.
fn opened_batch<T: Config>() -> Vec<T::AccountId> {
	let op = operator::<T>();
	attestors::<T>(T::MaxAssigned::get());
	let n = T::SampleSize::get().min(T::MaxPayersPerBatch::get());
	let (leaves, header, charges) = batch_of::<T>(&op, n, 0);
	Pallet::<T>::submit_batch(RawOrigin::Signed(op.clone()).into(), header, BoundedVec::truncate_from(charges))
		.expect("submitted");
	let BatchPhase::Sampling { at } = Batches::<T>::get(0).expect("batch").phase else { panic!("sampling") };
	frame_system::Pallet::<T>::set_block_number(at);
	Pallet::<T>::on_initialize(at);
	let b = Batches::<T>::get(0).expect("batch");
	let hashes: Vec<H256> = leaves.iter().map(|l| l.hash()).collect();
	let opened: Vec<(BatchLeaf<T>, mnemo_primitives::batch::MerkleProof)> = b
		.sample
		.iter()
		.map(|i| (leaves[*i as usize].clone(), mnemo_primitives::batch::merkle_proof(&hashes, *i).expect("in range")))
		.collect();
	Pallet::<T>::open_sample(RawOrigin::Signed(op).into(), 0, BoundedVec::truncate_from(opened)).expect("opened");
	b.panel.into_inner()
}

/// The active set filled to `MaxAttestors` (panels are drawn from it).
fn full_active<T: Config>() {
	for i in Active::<T>::get().len() as u32..T::MaxAttestors::get() {
		let who = funded::<T>("extra", i);
		let key = T::AttestorId::generate_pair(None);
		Pallet::<T>::register_attestor(RawOrigin::Signed(who).into(), key).expect("attestor");
	}
}

/// Each of `who` one strike short of a slash: its next strike slashes its bond.
fn one_strike_short<T: Config>(who: &[T::AccountId]) {
	let params = Pallet::<T>::current_params();
	let now = frame_system::Pallet::<T>::block_number();
	for a in who {
		Attestors::<T>::mutate(a, |x| {
			if let Some(x) = x {
				x.strikes = params.strikes_to_slash.saturating_sub(1);
				x.window_start = now;
			}
		});
	}
}

/// Reports on every sampled leaf, each scoring `k` contributions.
fn batch_reports<T: Config>(k: u32) -> SampleReports<T> {
	let (_, contributions) = T::BenchmarkHelper::deployed_adapter(k);
	let n = Batches::<T>::get(0).map_or(0, |b| b.sample.len());
	let reports: Vec<SampleReport<T>> = (0..n)
		.map(|_| SampleReport { tokens: 500, digest: ContentHash::of(b"digest"), scores: scores::<T>(&contributions, k) })
		.collect();
	BoundedVec::truncate_from(reports)
}

fn batch_commit_of<T: Config>(who: &T::AccountId, r: &SampleReports<T>) -> (BatchCommit<T>, <T::AttestorId as RuntimeAppPublic>::Signature) {
	let key = key_of::<T>(who);
	let commit = BatchCommit { batch: 0, key: key.clone(), commitment: batch_commitment::<T>(0, who, r, BatchAudit::AddsUp, &[1; 32]) };
	let sig = key.sign(&commit.encode()).expect("keystore");
	(commit, sig)
}

fn batch_reveal_of<T: Config>(who: &T::AccountId, r: &SampleReports<T>) -> (BatchReveal<T>, <T::AttestorId as RuntimeAppPublic>::Signature) {
	let key = key_of::<T>(who);
	let reveal = BatchReveal { batch: 0, key: key.clone(), reports: r.clone(), audit: BatchAudit::AddsUp, salt: [1; 32] };
	let sig = key.sign(&reveal.encode()).expect("keystore");
	(reveal, sig)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_operator() {
		let who = funded::<T>("op", 1);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(Operators::<T>::contains_key(&who));
	}

	#[benchmark]
	fn unregister_operator() {
		let who = operator::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(!Operators::<T>::contains_key(&who));
	}

	#[benchmark]
	fn register_attestor(a: Linear<0, { T::MaxAttestors::get() - 1 }>) {
		attestors::<T>(a);
		let who = funded::<T>("new", 0);
		let key = T::AttestorId::generate_pair(None);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), key);
		assert!(Attestors::<T>::contains_key(&who));
	}

	#[benchmark]
	fn unregister_attestor(a: Linear<1, { T::MaxAttestors::get() }>) {
		let who = attestors::<T>(a).pop().expect("one");
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(!Attestors::<T>::contains_key(&who));
	}

	#[benchmark]
	fn authorize_report() -> Result<(), BenchmarkError> {
		widest::<T>();
		let panel = opened_batch::<T>();
		let (commit, signature) = batch_commit_of::<T>(&panel[0], &batch_reports::<T>(T::MaxContributions::get()));
		let call = Call::<T>::commit_batch_report { commit, signature };
		#[block]
		{
			call.authorize(TransactionSource::External)
				.ok_or("authorizable")?
				.map_err(|_| "authorized")?;
		}
		Ok(())
	}

	#[benchmark]
	fn set_params() -> Result<(), BenchmarkError> {
		let origin = T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let p = Pallet::<T>::default_params();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, p);
		Ok(())
	}

	/// Nothing due.
	#[benchmark]
	fn deadlines_idle() {
		#[block]
		{
			Pallet::<T>::process_batch_deadlines(1u32.into());
		}
	}

	/// A deadline its batch has moved past (a sample opened before its opening deadline).
	#[benchmark]
	fn deadline_stale() {
		widest::<T>();
		opened_batch::<T>();
		let now = frame_system::Pallet::<T>::block_number();
		#[block]
		{
			Pallet::<T>::deadline(0, now);
		}
		assert!(matches!(Batches::<T>::get(0).map(|b| b.phase), Some(BatchPhase::Commit { .. })));
	}

	/// A batch of `MaxPayersPerBatch` payers sampled: its panel drawn from a full active set,
	/// its sample from its leaves, both its next deadlines booked.
	#[benchmark]
	fn deadline_sample() {
		widest::<T>();
		let op = operator::<T>();
		full_active::<T>();
		let (_, header, charges) = batch_of::<T>(&op, T::MaxPayersPerBatch::get(), 0);
		Pallet::<T>::submit_batch(RawOrigin::Signed(op).into(), header, BoundedVec::truncate_from(charges)).expect("submitted");
		let BatchPhase::Sampling { at } = Batches::<T>::get(0).expect("batch").phase else { panic!("sampling") };
		frame_system::Pallet::<T>::set_block_number(at);
		#[block]
		{
			Pallet::<T>::deadline(0, at);
		}
		assert!(matches!(Batches::<T>::get(0).map(|b| b.phase), Some(BatchPhase::Open { .. })));
	}

	/// A batch refunded for fraud while its panel sits on it: its charges queued back to its
	/// payers, its operator slashed to the treasury and to every panel attestor as finders, the
	/// panel let go, and each of its operator's later batches (`MaxPendingBatches` - 1 of them,
	/// all verified and waiting for it) booked a deadline to be refunded as an orphan.
	#[benchmark]
	fn deadline_refund() {
		widest::<T>();
		let panel = opened_batch::<T>();
		let now = frame_system::Pallet::<T>::block_number();
		let b = Batches::<T>::get(0).expect("batch");
		let mut chain = OperatorBatches::<T>::get(&b.operator);
		for id in 1..u64::from(T::MaxPendingBatches::get()) {
			let mut later = b.clone();
			later.phase = BatchPhase::Challenge { until: now };
			Batches::<T>::insert(id, later);
			chain.pending.try_push(id).expect("below MaxPendingBatches");
		}
		OperatorBatches::<T>::insert(&b.operator, chain);
		NextBatch::<T>::put(u64::from(T::MaxPendingBatches::get()));
		#[block]
		{
			Pallet::<T>::refund_batch(0, b, BatchRefund::Fraud, T::FraudSlash::get(), now, &panel);
		}
		assert!(matches!(Batches::<T>::get(0).map(|b| b.phase), Some(BatchPhase::Refunded { .. })));
	}

	/// The commit deadline: one commitment in, the rest of the panel struck for silence, each
	/// strike a slash.
	#[benchmark]
	fn deadline_close_commit() {
		widest::<T>();
		let panel = opened_batch::<T>();
		let r = batch_reports::<T>(T::MaxContributions::get());
		Pallet::<T>::do_commit_batch(batch_commit_of::<T>(&panel[0], &r).0).expect("commit");
		one_strike_short::<T>(&panel[1..]);
		let BatchPhase::Commit { until } = Batches::<T>::get(0).expect("batch").phase else { panic!("commit") };
		frame_system::Pallet::<T>::set_block_number(until);
		#[block]
		{
			Pallet::<T>::deadline(0, until);
		}
		assert!(matches!(Batches::<T>::get(0).map(|b| b.phase), Some(BatchPhase::Reveal { .. })));
	}

	/// An inconclusive audit: a fresh panel drawn from a full active set, the whole earlier
	/// panel's reports dropped.
	#[benchmark]
	fn deadline_redraw() {
		widest::<T>();
		let panel = opened_batch::<T>();
		full_active::<T>();
		let r = batch_reports::<T>(T::MaxContributions::get());
		for who in &panel {
			Pallet::<T>::do_commit_batch(batch_commit_of::<T>(who, &r).0).expect("commit");
		}
		let now = frame_system::Pallet::<T>::block_number();
		let b = Batches::<T>::get(0).expect("batch");
		#[block]
		{
			Pallet::<T>::inconclusive(0, b, BatchRefund::TooFewReports, now);
		}
		assert_eq!(AuditRound::<T>::get(0), 1);
	}

	/// The reveal deadline: the verdict on every sampled leaf from all the panel but one, whose
	/// silence is struck (a slash). The panel's scores are not the operator's (its leaves claim
	/// none): fraud, so the verdict's heaviest end, a refund with the panel as finders, is in
	/// it too (the hook adds `deadline_refund` on top: an overestimate, never an under-).
	#[benchmark]
	fn deadline_verdict() {
		widest::<T>();
		let panel = opened_batch::<T>();
		let r = batch_reports::<T>(T::MaxContributions::get());
		for who in &panel {
			Pallet::<T>::do_commit_batch(batch_commit_of::<T>(who, &r).0).expect("commit");
		}
		let (last, rest) = panel.split_last().expect("a panel");
		for who in rest {
			Pallet::<T>::do_reveal_batch(batch_reveal_of::<T>(who, &r).0).expect("reveal");
		}
		one_strike_short::<T>(core::slice::from_ref(last));
		let BatchPhase::Reveal { until } = Batches::<T>::get(0).expect("batch").phase else { panic!("reveal") };
		frame_system::Pallet::<T>::set_block_number(until);
		#[block]
		{
			Pallet::<T>::deadline(0, until);
		}
		assert!(matches!(Batches::<T>::get(0).map(|b| b.phase), Some(BatchPhase::Refunded { why: BatchRefund::Fraud, .. })));
	}

	/// A verified batch of `MaxPayersPerBatch` payers paid out: its escrow settled (its charges
	/// cleared, `MaxAssigned` attestors credited), and the operator's next batch, waiting for
	/// it, woken.
	#[benchmark]
	fn deadline_pay_out() {
		widest::<T>();
		let op = operator::<T>();
		let panel = attestors::<T>(T::MaxAssigned::get());
		let (_, mut header, charges) = batch_of::<T>(&op, T::MaxPayersPerBatch::get(), 0);
		header.attestors_part = Balance::from(T::MaxAssigned::get());
		header.payouts_total = header.payouts_total.saturating_sub(header.attestors_part);
		Pallet::<T>::submit_batch(RawOrigin::Signed(op.clone()).into(), header, BoundedVec::truncate_from(charges)).expect("submitted");
		let now = frame_system::Pallet::<T>::block_number();
		let mut b = Batches::<T>::get(0).expect("batch");
		b.phase = BatchPhase::Challenge { until: now };
		b.panel = BoundedVec::truncate_from(panel);
		Batches::<T>::insert(0, b.clone());
		Batches::<T>::insert(1, b);
		OperatorBatches::<T>::mutate(&op, |c| c.pending.try_push(1).expect("room"));
		NextBatch::<T>::put(2);
		#[block]
		{
			Pallet::<T>::deadline(0, now);
		}
		assert!(matches!(Batches::<T>::get(0).map(|b| b.phase), Some(BatchPhase::Settled { .. })));
		assert!(matches!(Batches::<T>::get(1).map(|b| b.phase), Some(BatchPhase::Challenge { until }) if until > now));
	}

	/// A batch whose every panel (`AuditRounds` of them) committed and none revealed: refunded
	/// at the last reveal deadline, then pruned once the retention has passed.
	#[benchmark]
	fn prune_batch() {
		widest::<T>();
		opened_batch::<T>();
		let r = batch_reports::<T>(1);
		let mut until = BlockNumberFor::<T>::zero();
		for _ in 0..T::AuditRounds::get() {
			let b = Batches::<T>::get(0).expect("batch");
			assert!(matches!(b.phase, BatchPhase::Commit { .. }), "a panel audits");
			for who in b.panel.iter() {
				Pallet::<T>::do_commit_batch(batch_commit_of::<T>(who, &r).0).expect("commit");
			}
			let BatchPhase::Reveal { until: u } = Batches::<T>::get(0).expect("batch").phase else { panic!("reveal") };
			until = u;
			frame_system::Pallet::<T>::set_block_number(until);
			Pallet::<T>::on_initialize(until);
		}
		assert!(matches!(Batches::<T>::get(0).expect("batch").phase, BatchPhase::Refunded { .. }));
		let at = until + Pallet::<T>::current_params().retention;
		frame_system::Pallet::<T>::set_block_number(at);
		#[block]
		{
			Pallet::<T>::prune_batches(at, frame_support::weights::Weight::MAX);
		}
		assert!(!Batches::<T>::contains_key(0));
	}

	#[benchmark]
	fn submit_batch(p: Linear<1, { T::MaxPayersPerBatch::get() }>) {
		widest::<T>();
		let op = operator::<T>();
		let (_, header, charges) = batch_of::<T>(&op, p, 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(op), header, BoundedVec::truncate_from(charges));
		assert!(Batches::<T>::contains_key(0));
	}

	#[benchmark]
	fn open_sample(s: Linear<1, { T::SampleSize::get() }>) {
		// A batch of `s` leaves (so all are sampled), its panel and sample drawn.
		widest::<T>();
		let op = operator::<T>();
		attestors::<T>(T::MaxAssigned::get());
		let (leaves, header, charges) = batch_of::<T>(&op, s, 0);
		Pallet::<T>::submit_batch(RawOrigin::Signed(op.clone()).into(), header, BoundedVec::truncate_from(charges))
			.expect("submitted");
		let BatchPhase::Sampling { at } = Batches::<T>::get(0).expect("batch").phase else { panic!("sampling") };
		frame_system::Pallet::<T>::set_block_number(at);
		Pallet::<T>::on_initialize(at);
		let sample = Batches::<T>::get(0).expect("batch").sample.into_inner();
		assert_eq!(sample.len() as u32, s);
		let hashes: Vec<H256> = leaves.iter().map(|l| l.hash()).collect();
		let opened: Vec<(BatchLeaf<T>, mnemo_primitives::batch::MerkleProof)> = sample
			.iter()
			.map(|i| (leaves[*i as usize].clone(), mnemo_primitives::batch::merkle_proof(&hashes, *i).expect("in range")))
			.collect();
		#[extrinsic_call]
		_(RawOrigin::Signed(op), 0, BoundedVec::truncate_from(opened));
		assert!(matches!(Batches::<T>::get(0).map(|b| b.phase), Some(BatchPhase::Commit { .. })));
	}

	#[benchmark]
	fn commit_batch_report() {
		// The last of the panel commits: the commit phase closes.
		widest::<T>();
		let panel = opened_batch::<T>();
		let r = batch_reports::<T>(T::MaxContributions::get());
		for who in &panel[..panel.len() - 1] {
			Pallet::<T>::do_commit_batch(batch_commit_of::<T>(who, &r).0).expect("commit");
		}
		let (commit, signature) = batch_commit_of::<T>(panel.last().expect("a panel"), &r);
		#[extrinsic_call]
		_(RawOrigin::Authorized, commit, signature);
		assert!(matches!(Batches::<T>::get(0).map(|b| b.phase), Some(BatchPhase::Reveal { .. })));
	}

	#[benchmark]
	fn reveal_batch_report(k: Linear<1, { T::MaxContributions::get() }>) {
		// The last reveal: the verdict over every sampled leaf and the whole panel.
		widest::<T>();
		let panel = opened_batch::<T>();
		let r = batch_reports::<T>(k);
		for who in &panel {
			Pallet::<T>::do_commit_batch(batch_commit_of::<T>(who, &r).0).expect("commit");
		}
		let (last, rest) = panel.split_last().expect("a panel");
		for who in rest {
			Pallet::<T>::do_reveal_batch(batch_reveal_of::<T>(who, &r).0).expect("reveal");
		}
		let (reveal, signature) = batch_reveal_of::<T>(last, &r);
		#[extrinsic_call]
		_(RawOrigin::Authorized, reveal, signature);
		assert!(matches!(Batches::<T>::get(0).map(|b| b.phase), Some(BatchPhase::Challenge { .. } | BatchPhase::Refunded { .. })));
	}

	#[benchmark]
	fn prove_fraud(p: Linear<1, { T::MaxPayersPerBatch::get() }>) {
		// The refund of a batch of `p` payers, after one leaf's proof.
		widest::<T>();
		let op = operator::<T>();
		let (leaves, header, charges) = batch_of::<T>(&op, p, 1);
		Pallet::<T>::submit_batch(RawOrigin::Signed(op).into(), header, BoundedVec::truncate_from(charges)).expect("submitted");
		let hashes: Vec<H256> = leaves.iter().map(|l| l.hash()).collect();
		let proof = mnemo_primitives::batch::merkle_proof(&hashes, 0).expect("in range");
		let prover = funded::<T>("prover", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(prover), 0, leaves[0].clone(), proof);
		assert!(matches!(Batches::<T>::get(0).map(|b| b.phase), Some(BatchPhase::Refunded { .. })));
	}

	#[benchmark]
	fn prune_idle() {
		#[block]
		{
			Pallet::<T>::prune_batches(1u32.into(), frame_support::weights::Weight::MAX);
		}
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_keyed_ext(), crate::mock::Test);
}

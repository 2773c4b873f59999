//! Domain types of the attribution pallet and the aggregation of reports, a pure function.

use crate::pallet::Config;
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use mnemo_primitives::{AdapterId, Balance, BatchId, ContentHash, ContributionId, Voucher};
use polkadot_sdk::{
	frame_support::{BoundedVec, CloneNoBound, DebugNoBound, DefaultNoBound, EqNoBound, PartialEqNoBound},
	frame_system::pallet_prelude::BlockNumberFor,
	sp_runtime::Perbill,
};
use scale_info::TypeInfo;

pub(crate) type AccountIdOf<T> = <T as polkadot_sdk::frame_system::Config>::AccountId;

/// One contribution's score in a report or a final attribution.
pub type Score = (ContributionId, Perbill);

/// A report's scores: at most `MaxContributions`, strictly ascending by contribution id,
/// summing to at most 100%.
pub type Scores<T> = BoundedVec<Score, <T as Config>::MaxContributions>;

/// The attestors drawn to audit one batch's sample.
pub type Panel<T> = BoundedVec<AccountIdOf<T>, <T as Config>::MaxAssigned>;

/// Governance-set periods, quorum and penalties of attribution.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
	serde::Serialize, serde::Deserialize,
)]
pub struct Params<BlockNumber> {
	/// Attestors drawn onto each batch's panel (at most `MaxAssigned`; every active attestor
	/// when fewer are active, down to `min_reports`).
	pub assigned: u32,
	/// At most `assigned`; bounds `min_reports`.
	pub quorum: u32,
	/// Fewest reports a batch gets a verdict with (at least 1, at most `quorum`); with fewer
	/// active attestors, or fewer reports at a deadline, the batch is refunded.
	pub min_reports: u32,
	/// Blocks after the sample is opened during which the panel commits to its reports.
	pub commit_period: BlockNumber,
	/// Blocks after the commit phase closes during which committers reveal.
	pub reveal_period: BlockNumber,
	/// Blocks after settlement during which anyone may challenge it.
	pub challenge_window: BlockNumber,
	/// Further blocks governance has to resolve a challenge. Credits stay pending (and can be
	/// clawed back) until `challenge_window + resolution_period` after settlement; a challenge
	/// still open then expires and its bond comes back.
	pub resolution_period: BlockNumber,
	/// Blocks a finished batch stays in state before it is pruned to the offchain index.
	pub retention: BlockNumber,
	/// Largest L1 distance between a report's scores and the final attribution that is not a
	/// deviation.
	pub tolerance: Perbill,
	/// Strikes within `strike_window` blocks that slash an attestor.
	pub strikes_to_slash: u32,
	/// Blocks over which strikes add up.
	pub strike_window: BlockNumber,
	/// Part of an attestor's bond slashed to the treasury at `strikes_to_slash` strikes.
	pub strike_slash: Perbill,
	/// Part of each panel attestor's bond paid to the challenger of an upheld challenge.
	pub challenge_slash: Perbill,
	/// Smallest fee of a receipt, whatever its price and tokens: price-0 or tiny inferences
	/// cannot flood batches for free.
	pub min_fee: Balance,
	/// Longest a voucher may be valid, counted from the block a batch charging it lands in.
	pub max_voucher_lifetime: BlockNumber,
}

/// A registered attestor.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(T))]
pub struct Attestor<T: Config> {
	/// The offchain key its worker signs with.
	pub key: T::AttestorId,
	/// Its bond (held); slashes lower it.
	pub bond: Balance,
	/// Strikes since `window_start`.
	pub strikes: u32,
	/// Start of the current strike window.
	pub window_start: BlockNumberFor<T>,
	/// Batches whose panel it sits on, from their draw until its part in them ends.
	pub open: u32,
	/// Whether it sits on new panels (false once it asked to leave or fell below the bond).
	pub active: bool,
}

pub use mnemo_primitives::engine::well_formed;

/// The outcome of aggregating revealed reports.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Aggregate {
	/// No digest was reported by more than half of the reports.
	NoMajority,
	/// The majority's attribution.
	Agreed {
		/// The majority digest.
		digest: ContentHash,
		/// Final scores, highest first (ties by ascending id), at most `k`, summing to the
		/// median of the majority reports' sums.
		scores: Vec<Score>,
		/// Per report (in input order): `None` if it is in the paid panel, otherwise why not.
		verdicts: Vec<Option<Fault>>,
	},
}

/// Why a revealed report earns a strike.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
)]
pub enum Fault {
	/// Its digest differs from the majority's: it computed something else.
	DigestMismatch,
	/// Its scores are further than the tolerance (L1) from the final attribution.
	Deviation,
	/// On the panel, but did not commit before the commit phase closed at its deadline.
	NoCommit,
	/// Committed but did not reveal before the reveal deadline.
	NoReveal,
}

const ONE: u64 = 1_000_000_000;

/// The median of `values` (sorted in place); the mean of the two middle values, rounded down,
/// for an even count. `values` is not empty.
fn median(values: &mut [u64]) -> u64 {
	values.sort_unstable();
	let n = values.len();
	match (values.get(n / 2), n % 2) {
		(Some(hi), 1) => *hi,
		(Some(hi), _) => (values.get(n / 2 - 1).copied().unwrap_or(*hi) + hi) / 2,
		(None, _) => 0,
	}
}

fn parts(p: Perbill) -> u64 {
	u64::from(p.deconstruct())
}

/// Aggregate revealed reports `(digest, scores)` (each well formed) into one attribution.
///
/// 1. The **majority digest** is the one more than half of the reports carry; without one,
///    nothing is agreed. Reports with another digest are faulted `DigestMismatch`.
/// 2. For every contribution any majority report scores, the **median** of its score across the
///    majority reports (a report that omits it scores 0).
/// 3. The `k` highest medians are kept (ties: lower id first), and **renormalised** so they sum
///    to the median of the majority reports' own sums: the median of each contribution alone
///    need not add up to what the reports agree on in total. Renormalising rounds down and
///    gives the remaining parts one each to the largest remainders (ties: lower id first), so
///    the sum is exact.
/// 4. A majority report further than `tolerance` (L1 distance over all contributions) from the
///    result is faulted `Deviation`.
pub fn aggregate(reports: &[(ContentHash, Vec<Score>)], k: usize, tolerance: Perbill) -> Aggregate {
	let mut digests: Vec<(ContentHash, usize)> = Vec::new();
	for (d, _) in reports {
		match digests.iter_mut().find(|(x, _)| x == d) {
			Some((_, n)) => *n += 1,
			None => digests.push((*d, 1)),
		}
	}
	let Some(digest) = digests.iter().find(|(_, n)| n * 2 > reports.len()).map(|(d, _)| *d) else {
		return Aggregate::NoMajority;
	};
	let majority: Vec<&Vec<Score>> =
		reports.iter().filter(|(d, _)| *d == digest).map(|(_, s)| s).collect();
	let score_of = |scores: &[Score], c: ContributionId| {
		scores.binary_search_by_key(&c, |(id, _)| *id).ok().and_then(|i| scores.get(i)).map_or(0, |(_, s)| parts(*s))
	};

	let mut ids: Vec<ContributionId> = majority.iter().flat_map(|s| s.iter().map(|(c, _)| *c)).collect();
	ids.sort_unstable();
	ids.dedup();
	let mut medians: Vec<(ContributionId, u64)> = ids
		.iter()
		.map(|c| {
			let mut v: Vec<u64> = majority.iter().map(|s| score_of(s, *c)).collect();
			(*c, median(&mut v))
		})
		.filter(|(_, m)| *m > 0)
		.collect();
	medians.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
	medians.truncate(k);

	let mut sums: Vec<u64> = majority.iter().map(|s| s.iter().map(|(_, p)| parts(*p)).sum()).collect();
	let target = median(&mut sums).min(ONE);
	let total: u64 = medians.iter().map(|(_, m)| m).sum();
	let mut scores: Vec<Score> = Vec::with_capacity(medians.len());
	if total > 0 && target > 0 {
		// Floor of m·target/total, then the leftover parts to the largest remainders.
		let mut floors: Vec<(ContributionId, u64, u64)> = medians
			.iter()
			.map(|(c, m)| {
				let num = u128::from(*m) * u128::from(target);
				let q = (num / u128::from(total)) as u64; // ≤ target ≤ 1e9
				let r = (num % u128::from(total)) as u64;
				(*c, q, r)
			})
			.collect();
		let mut left = target.saturating_sub(floors.iter().map(|(_, q, _)| q).sum());
		let mut order: Vec<usize> = (0..floors.len()).collect();
		order.sort_by(|a, b| {
			let (fa, fb) = (&floors[*a], &floors[*b]);
			fb.2.cmp(&fa.2).then(fa.0.cmp(&fb.0))
		});
		for i in order {
			if left == 0 {
				break;
			}
			if let Some(f) = floors.get_mut(i) {
				f.1 += 1;
				left -= 1;
			}
		}
		floors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
		scores = floors
			.into_iter()
			.filter(|(_, q, _)| *q > 0)
			.map(|(c, q, _)| (c, Perbill::from_parts(q as u32)))
			.collect();
	}

	let final_of = |c: ContributionId| scores.iter().find(|(id, _)| *id == c).map_or(0, |(_, s)| parts(*s));
	let verdicts = reports
		.iter()
		.map(|(d, s)| {
			if *d != digest {
				return Some(Fault::DigestMismatch);
			}
			let mut all: Vec<ContributionId> =
				s.iter().map(|(c, _)| *c).chain(scores.iter().map(|(c, _)| *c)).collect();
			all.sort_unstable();
			all.dedup();
			let l1: u64 = all.iter().map(|c| score_of(s, *c).abs_diff(final_of(*c))).sum();
			(l1 > parts(tolerance)).then_some(Fault::Deviation)
		})
		.collect();
	Aggregate::Agreed { digest, scores, verdicts }
}

#[cfg(test)]
mod tests {
	use super::*;

	fn pb(x: u32) -> Perbill {
		Perbill::from_percent(x)
	}
	fn h(b: u8) -> ContentHash {
		ContentHash([b; 32])
	}

	#[test]
	fn median_of_odd_and_even_counts() {
		assert_eq!(median(&mut [3, 1, 2]), 2);
		assert_eq!(median(&mut [4, 1, 3, 2]), 2);
		assert_eq!(median(&mut [5]), 5);
	}

	#[test]
	fn agreeing_reports_give_their_scores() {
		let r = vec![(h(1), vec![(1, pb(60)), (2, pb(30))]); 3];
		let Aggregate::Agreed { digest, scores, verdicts } = aggregate(&r, 16, pb(5)) else { panic!() };
		assert_eq!(digest, h(1));
		assert_eq!(scores, vec![(1, pb(60)), (2, pb(30))]);
		assert_eq!(verdicts, vec![None; 3]);
	}

	#[test]
	fn medians_are_renormalised_to_the_median_sum_exactly() {
		// Sums 90, 90, 90; medians 50 (1), 20 (2), 10 (3) sum to 80 and are scaled to 90.
		let r = vec![
			(h(1), vec![(1, pb(50)), (2, pb(40))]),
			(h(1), vec![(1, pb(60)), (2, pb(20)), (3, pb(10))]),
			(h(1), vec![(1, pb(40)), (2, pb(20)), (3, pb(30))]),
		];
		let Aggregate::Agreed { scores, verdicts, .. } = aggregate(&r, 16, pb(100)) else { panic!() };
		let sum: u64 = scores.iter().map(|(_, s)| parts(*s)).sum();
		assert_eq!(sum, parts(pb(90)));
		assert_eq!(scores.iter().map(|(c, _)| *c).collect::<Vec<_>>(), vec![1, 2, 3]);
		assert_eq!(scores[0].1, Perbill::from_parts(562_500_000)); // 50·90/80
		assert_eq!(verdicts, vec![None; 3]);
	}

	#[test]
	fn minority_digest_and_deviating_reports_are_faulted() {
		let r = vec![
			(h(1), vec![(1, pb(60)), (2, pb(30))]),
			(h(1), vec![(1, pb(62)), (2, pb(28))]),
			(h(1), vec![(2, pb(90))]),
			(h(2), vec![(1, pb(60)), (2, pb(30))]),
		];
		let Aggregate::Agreed { verdicts, .. } = aggregate(&r, 16, pb(10)) else { panic!() };
		assert_eq!(verdicts, vec![None, None, Some(Fault::Deviation), Some(Fault::DigestMismatch)]);
	}

	#[test]
	fn no_strict_majority_agrees_nothing() {
		let r = vec![(h(1), vec![(1, pb(50))]), (h(2), vec![(1, pb(50))])];
		assert_eq!(aggregate(&r, 16, pb(10)), Aggregate::NoMajority);
	}

	#[test]
	fn only_the_top_k_are_kept() {
		let r = vec![(h(1), vec![(1, pb(10)), (2, pb(30)), (3, pb(20))])];
		let Aggregate::Agreed { scores, .. } = aggregate(&r, 2, pb(100)) else { panic!() };
		assert_eq!(scores.iter().map(|(c, _)| *c).collect::<Vec<_>>(), vec![2, 3]);
		let sum: u64 = scores.iter().map(|(_, s)| parts(*s)).sum();
		assert_eq!(sum, parts(pb(60)));
	}

	#[test]
	fn well_formed_scores() {
		assert!(well_formed(&[(1, pb(50)), (2, pb(50))]));
		assert!(!well_formed(&[(2, pb(50)), (1, pb(10))]));
		assert!(!well_formed(&[(1, pb(50)), (1, pb(10))]));
		assert!(!well_formed(&[(1, pb(0))]));
		assert!(!well_formed(&[(1, pb(60)), (2, pb(50))]));
	}

	proptest::proptest! {
		#[test]
		fn aggregate_sums_to_at_most_one_and_is_order_free(
			raw in proptest::collection::vec(proptest::collection::btree_map(0u64..20, 1u32..300_000_000, 0..6), 1..6),
			k in 1usize..8,
		) {
			let reports: Vec<(ContentHash, Vec<Score>)> = raw
				.iter()
				.map(|m| {
					let mut v: Vec<Score> = m.iter().map(|(c, s)| (*c, Perbill::from_parts(*s))).collect();
					// Keep each report at most 100%.
					while v.iter().map(|(_, s)| parts(*s)).sum::<u64>() > ONE { v.pop(); }
					(h(1), v)
				})
				.collect();
			let Aggregate::Agreed { scores, .. } = aggregate(&reports, k, pb(10)) else { panic!() };
			proptest::prop_assert!(scores.len() <= k);
			proptest::prop_assert!(scores.iter().map(|(_, s)| parts(*s)).sum::<u64>() <= ONE);
			let mut reversed = reports.clone();
			reversed.reverse();
			let Aggregate::Agreed { scores: again, .. } = aggregate(&reversed, k, pb(10)) else { panic!() };
			proptest::prop_assert_eq!(scores, again);
		}
	}
}

pub use mnemo_primitives::batch::BatchHeader;

/// One payer's part of a submitted batch: its latest voucher in the batch, signed, and what its
/// receipts in the batch cost.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
#[scale_info(skip_type_params(T))]
pub struct PayerCharge<T: Config> {
	pub payer: AccountIdOf<T>,
	/// The payer's latest voucher among its receipts in the batch.
	pub voucher: Voucher<AccountIdOf<T>, BlockNumberFor<T>>,
	/// Its signature of `voucher.signing_payload()` (raw or `<Bytes>`-wrapped).
	pub signature: T::PayerSignature,
	/// How many of the batch's leaves are its receipts.
	pub leaves: u32,
	/// What they cost in all.
	pub amount: Balance,
}

/// Where a batch is.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum BatchPhase<BlockNumber> {
	/// Committed; its panel and sample are drawn at `at`, from randomness that did not exist
	/// when it was committed.
	Sampling { at: BlockNumber },
	/// The operator opens the sampled leaves until `until` (inclusive); its panel then commits
	/// until `commit_until`, a deadline booked when the sample was drawn, so that opening never
	/// needs a free deadline slot (a full block cannot make an honest operator miss its opening).
	Open { until: BlockNumber, commit_until: BlockNumber },
	/// The panel commits to its reports until `until`.
	Commit { until: BlockNumber },
	/// The committers reveal until `until`.
	Reveal { until: BlockNumber },
	/// The sample held up; anyone may prove a leaf false until `until`, then it pays out.
	Challenge { until: BlockNumber },
	/// The sample held up: the batch was paid out at `at`.
	Settled { at: BlockNumber },
	/// Refunded at `at`.
	Refunded { at: BlockNumber, why: BatchRefund },
}

/// Why a batch was refunded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum BatchRefund {
	/// The operator did not open its sampled leaves in time: it withheld its batch.
	NotOpened,
	/// Fewer active attestors than a verdict needs (`min_reports`).
	NoPanel,
	/// Fewer than `min_reports` panel attestors committed or revealed.
	TooFewReports,
	/// No digest had a majority on a sampled leaf.
	NoMajority,
	/// A sampled leaf is not what the panel recomputed (digest, tokens, fee or scores): fraud.
	Fraud,
	/// The panel's majority found the batch's totals or payouts wrong: fraud.
	BadTotals,
	/// The payout was refused (its totals do not match the escrow).
	Unsettleable,
	/// Someone proved a leaf false: a request its payer never signed, or a fee above what its
	/// voucher allows.
	Proven,
	/// A batch it extends was refunded: its running payouts count fees that were never paid.
	Orphaned,
	/// The majority of the last panel could not get the batch's content from the operator (its
	/// blob, the blob it extends, or a sampled transcript): it withheld its batch.
	Withheld,
}

/// A panel attestor's finding on a batch as a whole. Encoded as the `bool` it replaced for the
/// first two (`false`, `true`), with a third finding after them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum BatchAudit {
	/// Some leaf's fee, a payer's or adapter's total, or the payouts do not add up: fraud.
	DoesNotAddUp,
	/// Every leaf, total and payout adds up.
	AddsUp,
	/// The attestor's engine could not get the batch's content (its blob, the blob it extends,
	/// or a sampled leaf's transcript): not found, or not what its hash names. It reports no
	/// sampled leaf.
	Unavailable,
}

pub use mnemo_primitives::batch::{BatchBase, BatchTerms};

/// An operator's batches: the last one settled and those in flight after it, oldest first, each
/// extending the one before. A refund cuts the list at the refunded batch; those after it are
/// orphans and are refunded at their next deadline.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, DefaultNoBound, Encode, Decode, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(T))]
pub struct BatchChain<T: Config> {
	pub settled: Option<BatchBase>,
	pub pending: BoundedVec<BatchId, T::MaxPendingBatches>,
}

/// A batch on chain: its commitment and where it is; a few hundred bytes whatever its size.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(T))]
pub struct Batch<T: Config> {
	pub operator: AccountIdOf<T>,
	pub header: BatchHeader,
	/// The sum of its charges.
	pub fees: Balance,
	pub submitted_at: BlockNumberFor<T>,
	/// The operator's batch it extends: whose running payouts plus its own fees' split are its
	/// payouts (`header.prev`, with its blob and root for the panel's audit).
	pub base: Option<BatchBase>,
	/// The terms in force when it was submitted, which its fees were split by: its panel audits
	/// it and its verdict checks fees by them, whatever governance sets later.
	pub terms: BatchTerms<AccountIdOf<T>>,
	pub phase: BatchPhase<BlockNumberFor<T>>,
	/// The attestors drawn for it.
	pub panel: Panel<T>,
	/// The leaf indices drawn for recomputation, ascending.
	pub sample: BoundedVec<u32, <T as Config>::SampleSize>,
}

/// What the operator claims for one sampled leaf, as it opened it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct SampledClaim {
	pub index: u32,
	pub adapter: AdapterId,
	/// The payer's price cap in the leaf's voucher.
	pub max_price_per_1k: Balance,
	pub tokens: u32,
	pub fee: Balance,
	pub digest: ContentHash,
	pub shares: mnemo_primitives::batch::LeafShares,
}

/// A receipt's leaf in a batch, with this runtime's types.
pub type BatchLeaf<T> =
	mnemo_primitives::batch::Leaf<AccountIdOf<T>, BlockNumberFor<T>, <T as Config>::PayerSignature>;

/// A panel attestor's recomputation of one sampled leaf.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(T))]
pub struct SampleReport<T: Config> {
	/// Prompt and generated tokens, counted from the transcript.
	pub tokens: u32,
	/// The engine's digest of its attribution inputs.
	pub digest: ContentHash,
	/// The scores, ascending by contribution, summing to at most 100%.
	pub scores: Scores<T>,
}

/// A panel attestor's reports on a batch's sample, in the sample's order.
pub type SampleReports<T> = BoundedVec<SampleReport<T>, <T as Config>::SampleSize>;

/// A panel attestor's commitment on a batch, later revealed.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(T))]
pub struct BatchReport<T: Config> {
	pub commitment: [u8; 32],
	/// Its reports on the sample, and its finding on the batch as a whole.
	pub revealed: Option<(SampleReports<T>, BatchAudit)>,
}

/// A panel attestor's commitment, signed by its key.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
#[scale_info(skip_type_params(T))]
pub struct BatchCommit<T: Config> {
	pub batch: mnemo_primitives::BatchId,
	pub key: T::AttestorId,
	/// [`batch_commitment`] of what it will reveal.
	pub commitment: [u8; 32],
}

/// A panel attestor's reveal, signed by its key.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
#[scale_info(skip_type_params(T))]
pub struct BatchReveal<T: Config> {
	pub batch: mnemo_primitives::BatchId,
	pub key: T::AttestorId,
	/// One per sampled leaf; none when the batch was `Unavailable`.
	pub reports: SampleReports<T>,
	/// Whether every leaf's fee, the payers' and adapters' totals and the payouts add up, or
	/// whether the batch could not be had at all.
	pub audit: BatchAudit,
	pub salt: [u8; 32],
}

/// What a panel attestor commits to on a batch: the account is in it, so a copied commitment
/// cannot be revealed.
pub fn batch_commitment<T: Config>(
	batch: mnemo_primitives::BatchId,
	attestor: &AccountIdOf<T>,
	reports: &SampleReports<T>,
	audit: BatchAudit,
	salt: &[u8; 32],
) -> [u8; 32] {
	(b"mnemo/attribution/batch-commit", batch, attestor, reports, audit, salt)
		.using_encoded(polkadot_sdk::sp_io::hashing::blake2_256)
}

/// The L1 distance between two sets of scores, in parts per billion.
pub fn l1_distance(a: &[Score], b: &[Score]) -> u64 {
	let mut ids: Vec<ContributionId> = a.iter().chain(b.iter()).map(|(c, _)| *c).collect();
	ids.sort_unstable();
	ids.dedup();
	let of = |s: &[Score], c: ContributionId| s.iter().find(|(x, _)| *x == c).map_or(0u64, |(_, p)| u64::from(p.deconstruct()));
	ids.iter().map(|c| of(a, *c).abs_diff(of(b, *c))).sum()
}

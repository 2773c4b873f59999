//! Benchmarks (v2) of every call, each in its worst case.

use super::*;
use crate::{frame_support, frame_system};
use alloc::vec;
use alloc::vec::Vec;
use codec::Encode;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{
		fungible::{Inspect, Mutate},
		Authorize, Get,
	},
	BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use mnemo_primitives::{ContentHash, ContributionId, DatanetId, DatanetVersion};
use polkadot_sdk::{
	frame_benchmarking,
	sp_application_crypto::RuntimeAppPublic,
	sp_runtime::{traits::Saturating, Perbill},
};
use polkadot_sdk::sp_runtime::transaction_validity::TransactionSource;

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount = T::Currency::minimum_balance()
		.saturating_add(T::DatanetDeposit::get().saturating_mul(4u32.into()))
		.saturating_add(T::MinBond::get().saturating_mul(10_000u32.into()))
		.saturating_add(T::RecordDeposit::get().saturating_mul(10_000u32.into()))
		.saturating_add(T::CommitDeposit::get().saturating_mul(10_000u32.into()))
		.saturating_add(T::VersionDeposit::get().saturating_mul(16u32.into()));
	T::Currency::set_balance(&who, amount);
	who
}

fn text<S: Get<u32>>(fill: u8) -> BoundedVec<u8, S> {
	BoundedVec::truncate_from(vec![fill; S::get() as usize])
}

fn full_metadata<T: Config>() -> Metadata<T> {
	Metadata {
		name: text(b'n'),
		summary: text(b's'),
		description: Description::Inline(text(b'd')),
		tags: BoundedVec::truncate_from(vec![text(b't'); T::MaxTags::get() as usize]),
		license: text(b'l'),
	}
}

/// `curators` curators (funded), `threshold` of them decide, and `validators` keys.
fn rules<T: Config>(curators: u32, threshold: u32, validators: Vec<T::ValidatorId>) -> Rules<T> {
	Rules {
		bond: T::MinBond::get(),
		curators: BoundedVec::truncate_from((0..curators).map(|i| funded::<T>("curator", i)).collect()),
		threshold,
		reject_slash: Perbill::from_percent(50),
		review_period: T::MaxReviewPeriod::get(),
		quota: Quota { per_period: u32::MAX, period: T::MaxReviewPeriod::get() },
		access: Access::Open,
		validators: BoundedVec::truncate_from(validators),
	}
}

fn create<T: Config>(owner: &T::AccountId, rules: Rules<T>) -> u32 {
	Pallet::<T>::do_create_datanet(owner.clone(), Kind::Text, full_metadata::<T>(), rules)
		.expect("datanet created")
}

fn next_block<T: Config>() {
	let now = frame_system::Pallet::<T>::block_number();
	frame_system::Pallet::<T>::set_block_number(now + 1u32.into());
}

fn hash(i: u32) -> ContentHash {
	ContentHash::of(&i.encode())
}

fn commit_to<T: Config>(who: &T::AccountId, d: u32, i: u32) {
	let c = Pallet::<T>::commitment_of(d, &hash(i), who);
	Pallet::<T>::do_commit(who.clone(), c).expect("committed");
}

/// Commit, move a block on and contribute `hash(i)`.
fn contribute_one<T: Config>(who: &T::AccountId, d: u32, i: u32) -> u64 {
	commit_to::<T>(who, d, i);
	next_block::<T>();
	Pallet::<T>::do_contribute(who.clone(), d, hash(i), 1_000, 10).expect("contributed")
}

fn curator<T: Config>(i: u32) -> T::AccountId {
	account("curator", i, 0)
}

fn approve<T: Config>(c: u64, threshold: u32) {
	for i in 0..threshold {
		Pallet::<T>::do_review(curator::<T>(i), c, Verdict::Approve).expect("approved");
	}
}

fn validators<T: Config>() -> Vec<T::ValidatorId> {
	(0..T::MaxValidators::get()).map(|_| T::ValidatorId::generate_pair(None)).collect()
}

fn report<T: Config>(
	c: u64,
	i: u32,
	schema_ok: bool,
	validator: T::ValidatorId,
) -> (ValidationReport<T::ValidatorId>, <T::ValidatorId as RuntimeAppPublic>::Signature) {
	let report = ValidationReport {
		contribution: c,
		content_hash: hash(i),
		validation: Validation {
			schema_ok,
			exact_duplicate: false,
			near_duplicate: Perbill::from_percent(10),
			quality: Perbill::from_percent(90),
		},
		validator: validator.clone(),
	};
	let signature = validator.sign(&report.encode()).expect("signed");
	(report, signature)
}

/// A pending contribution in a datanet appointing `MaxValidators` keys, and a signed report on
/// it by the last key (the worst case for the `contains` lookup).
fn pending_with_report<T: Config>(
	schema_ok: bool,
) -> (u64, ValidationReport<T::ValidatorId>, <T::ValidatorId as RuntimeAppPublic>::Signature) {
	let owner = funded::<T>("owner", 0);
	let keys = validators::<T>();
	let last = keys.last().cloned().expect("at least one validator");
	let d = create::<T>(&owner, rules::<T>(1, 1, keys));
	let who = funded::<T>("contributor", 0);
	let c = contribute_one::<T>(&who, d, 0);
	let (report, signature) = report::<T>(c, 0, schema_ok, last);
	(c, report, signature)
}

/// An approved contribution; returns the datanet's owner, the contributor and the contribution.
fn approved_contribution<T: Config>() -> (T::AccountId, T::AccountId, u64) {
	let owner = funded::<T>("owner", 0);
	let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
	let who = funded::<T>("contributor", 0);
	let c = contribute_one::<T>(&who, d, 0);
	approve::<T>(c, 1);
	(owner, who, c)
}

/// For other pallets' benchmarks (a runtime's benchmark helpers): a new datanet whose version 1
/// holds `n` approved contributions, each by its own contributor. Returns the datanet, the
/// version and the contributions in id order. Moves the block number on by `n`.
pub fn published_version<T: Config>(n: u32) -> (DatanetId, DatanetVersion, Vec<ContributionId>) {
	let d = NextDatanetId::<T>::get();
	let owner = funded::<T>("owner", d);
	let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
	let mut contributions = Vec::with_capacity(n as usize);
	for i in 0..n {
		// Distinct across datanets: the contributor's index and the content's seed.
		let unique = d.saturating_mul(1_000).saturating_add(i);
		let who = funded::<T>("contributor", unique);
		let c = contribute_one::<T>(&who, d, unique);
		approve::<T>(c, 1);
		contributions.push(c);
	}
	Pallet::<T>::do_publish_version(owner, d).expect("published");
	let v = Registry::<T>::get(d).map(|r| r.latest_version).expect("the datanet exists");
	(d, v, contributions)
}

#[benchmarks(where <T as frame_system::Config>::RuntimeCall: From<Call<T>>)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn create_datanet() {
		let owner = funded::<T>("owner", 0);
		let r = rules::<T>(T::MaxCurators::get(), T::MaxCurators::get(), validators::<T>());
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), Kind::Text, full_metadata::<T>(), r);
		assert_eq!(NextDatanetId::<T>::get(), 1);
	}

	#[benchmark]
	fn update_datanet() {
		let owner = funded::<T>("owner", 0);
		let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
		let r = rules::<T>(T::MaxCurators::get(), T::MaxCurators::get(), validators::<T>());
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), d, Some(full_metadata::<T>()), Some(r));
		assert_eq!(Registry::<T>::get(d).unwrap().rules.threshold, T::MaxCurators::get());
	}

	#[benchmark]
	fn transfer_ownership() {
		let owner = funded::<T>("owner", 0);
		let to = funded::<T>("to", 0);
		let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), d, to.clone());
		assert_eq!(Registry::<T>::get(d).unwrap().pending_owner, Some(to));
	}

	#[benchmark]
	fn accept_ownership() {
		let owner = funded::<T>("owner", 0);
		let to = funded::<T>("to", 0);
		let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
		Pallet::<T>::do_transfer_ownership(owner, d, to.clone()).unwrap();
		#[extrinsic_call]
		_(RawOrigin::Signed(to.clone()), d);
		assert_eq!(Registry::<T>::get(d).unwrap().owner, to);
	}

	#[benchmark]
	fn close_datanet() {
		let owner = funded::<T>("owner", 0);
		let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), d);
		assert_eq!(Registry::<T>::get(d).unwrap().status, DatanetStatus::Closed);
	}

	#[benchmark]
	fn invite() {
		let owner = funded::<T>("owner", 0);
		let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
		let who: T::AccountId = account("invited", 0, 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), d, who.clone());
		assert!(Invited::<T>::contains_key(d, who));
	}

	#[benchmark]
	fn uninvite() {
		let owner = funded::<T>("owner", 0);
		let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
		let who: T::AccountId = account("invited", 0, 0);
		Pallet::<T>::do_invite(owner.clone(), d, who.clone()).unwrap();
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), d, who.clone());
		assert!(!Invited::<T>::contains_key(d, who));
	}

	#[benchmark]
	fn commit() {
		let who = funded::<T>("contributor", 0);
		let c = Pallet::<T>::commitment_of(0, &hash(0), &who);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), c);
		assert!(Commitments::<T>::contains_key(who, c));
	}

	#[benchmark]
	fn cancel_commitment() {
		let who = funded::<T>("contributor", 0);
		let c = Pallet::<T>::commitment_of(0, &hash(0), &who);
		Pallet::<T>::do_commit(who.clone(), c).unwrap();
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), c);
		assert!(!Commitments::<T>::contains_key(who, c));
	}

	/// Worst case: the contribution displaces a younger copy of the same data, and every expiry
	/// bucket it tries but the last is full.
	#[benchmark]
	fn contribute() {
		let owner = funded::<T>("owner", 0);
		let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
		let who = funded::<T>("contributor", 0);
		let copier = funded::<T>("copier", 0);
		commit_to::<T>(&who, d, 0);
		next_block::<T>();
		commit_to::<T>(&copier, d, 0);
		next_block::<T>();
		Pallet::<T>::do_contribute(copier, d, hash(0), 1_000, 10).unwrap();
		let now = frame_system::Pallet::<T>::block_number();
		let first: BlockNumberFor<T> = now + T::MaxReviewPeriod::get();
		let full = BoundedVec::truncate_from(vec![u64::MAX; T::MaxExpiringPerBlock::get() as usize]);
		let mut at = first;
		for _ in 1..crate::impls::EXPIRY_SLOTS_TRIED {
			ExpiryQueue::<T>::insert(at, full.clone());
			at = at + 1u32.into();
		}
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), d, hash(0), 1_000, 10);
		assert_eq!(Contributions::<T>::get(1).unwrap().contributor, who);
		assert!(Contributions::<T>::get(0).is_none());
	}

	/// Worst case: all curators but one already reviewed it.
	#[benchmark]
	fn withdraw() {
		let owner = funded::<T>("owner", 0);
		let n = T::MaxCurators::get();
		let d = create::<T>(&owner, rules::<T>(n, n, vec![]));
		let who = funded::<T>("contributor", 0);
		let c = contribute_one::<T>(&who, d, 0);
		for i in 0..n - 1 {
			Pallet::<T>::do_review(curator::<T>(i), c, Verdict::Approve).unwrap();
		}
		#[extrinsic_call]
		_(RawOrigin::Signed(who), c);
		assert!(Contributions::<T>::get(c).is_none());
	}

	/// Worst case: the deciding rejection, after every other curator rejected: slash to the
	/// treasury, release the rest, clear every review.
	#[benchmark]
	fn review() {
		let owner = funded::<T>("owner", 0);
		let n = T::MaxCurators::get();
		let d = create::<T>(&owner, rules::<T>(n, n, vec![]));
		let who = funded::<T>("contributor", 0);
		let c = contribute_one::<T>(&who, d, 0);
		let reject = || Verdict::Reject { reason: text(b'r') };
		for i in 0..n - 1 {
			Pallet::<T>::do_review(curator::<T>(i), c, reject()).unwrap();
		}
		#[extrinsic_call]
		_(RawOrigin::Signed(curator::<T>(n - 1)), c, reject());
		assert!(Contributions::<T>::get(c).is_none());
	}

	/// Worst case: the report rejects the contribution (schema invalid).
	#[benchmark]
	fn submit_validation() {
		let (c, report, signature) = pending_with_report::<T>(false);
		#[extrinsic_call]
		_(RawOrigin::Authorized, report, signature);
		assert!(Contributions::<T>::get(c).is_none());
	}

	/// Signature check and lookups; the key is the last of `MaxValidators`.
	#[benchmark]
	fn authorize_submit_validation() {
		let (_, report, signature) = pending_with_report::<T>(true);
		let call: <T as frame_system::Config>::RuntimeCall =
			Call::<T>::submit_validation { report, signature }.into();
		#[block]
		{
			call.authorize(TransactionSource::External)
				.expect("the call has authorize logic")
				.expect("authorized");
		}
	}

	#[benchmark]
	fn publish_version(n: Linear<0, { T::MaxContributions::get() }>) {
		let owner = funded::<T>("owner", 0);
		let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
		let who = funded::<T>("contributor", 0);
		for i in 0..n {
			let c = contribute_one::<T>(&who, d, i);
			approve::<T>(c, 1);
		}
		Registry::<T>::mutate(d, |d| d.as_mut().unwrap().changed = true);
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), d);
		assert_eq!(Versions::<T>::get(d, 1).unwrap().count, n);
	}

	#[benchmark]
	fn request_removal() {
		let (_, who, c) = approved_contribution::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(who), c);
		assert!(Contributions::<T>::get(c).unwrap().removal_requested);
	}

	#[benchmark]
	fn remove() {
		let (owner, _, c) = approved_contribution::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), c);
		assert_eq!(Contributions::<T>::get(c).unwrap().status, Status::Removed);
	}

	/// `n` pending contributions expire in one block.
	#[benchmark]
	fn expire(n: Linear<0, { T::MaxExpiringPerBlock::get() }>) {
		let owner = funded::<T>("owner", 0);
		let d = create::<T>(&owner, rules::<T>(1, 1, vec![]));
		let who = funded::<T>("contributor", 0);
		for i in 0..n {
			commit_to::<T>(&who, d, i);
		}
		next_block::<T>();
		for i in 0..n {
			Pallet::<T>::do_contribute(who.clone(), d, hash(i), 1_000, 10).unwrap();
		}
		let due = frame_system::Pallet::<T>::block_number() + T::MaxReviewPeriod::get();
		#[block]
		{
			Pallet::<T>::expire_due(due);
		}
		assert_eq!(Registry::<T>::get(d).unwrap().pending, 0);
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_bench_ext(), crate::mock::Test);
}

//! Benchmarks (v2) of every call, each in its worst case.

use super::*;
use crate::{frame_support, frame_system};
use alloc::vec;
use codec::Encode;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{
		fungible::{Inspect, Mutate},
		Authorize, EnsureOrigin, Get, Hooks,
	},
	BoundedVec,
};
use frame_system::RawOrigin;
use mnemo_primitives::{AdapterId, ContentHash, ModelId};
use polkadot_sdk::{
	frame_benchmarking,
	sp_application_crypto::RuntimeAppPublic,
	sp_runtime::{traits::Saturating, FixedU128, Perbill},
};
use polkadot_sdk::sp_runtime::transaction_validity::TransactionSource;

fn funded<T: Config>(name: &'static str, i: u32) -> T::AccountId {
	let who: T::AccountId = account(name, i, 0);
	let amount = T::Currency::minimum_balance()
		.saturating_add(T::ModelBond::get().saturating_mul(100u32.into()))
		.saturating_add(T::TrainerBond::get().saturating_mul(4u32.into()));
	T::Currency::set_balance(&who, amount);
	who
}

fn text<S: Get<u32>>(fill: u8) -> BoundedVec<u8, S> {
	BoundedVec::truncate_from(vec![fill; S::get() as usize])
}

/// The largest spec: `d` datanets, every target, inline texts of full length.
fn spec<T: Config>(d: u32) -> ModelSpec<T> {
	ModelSpec {
		name: text(b'n'),
		purpose: Text::Inline(text(b'p')),
		use_case: Text::Inline(text(b'u')),
		base_model: text(b'b'),
		datanets: BoundedVec::truncate_from((0..d).map(T::BenchmarkHelper::published_version).collect()),
		lora: LoraParams {
			rank: T::MaxRank::get(),
			alpha: 16,
			targets: BoundedVec::truncate_from(vec![
				Target::Q,
				Target::K,
				Target::V,
				Target::O,
				Target::Gate,
				Target::Up,
				Target::Down,
			]),
			epochs: T::MaxEpochs::get(),
			learning_rate: Perbill::from_parts(200_000),
			seed: 7,
		},
		eval: EvalSpec {
			holdout: Perbill::from_percent(10),
			max_eval_tokens: 0,
			tolerance: Perbill::from_percent(2),
		},
		parent: None,
	}
}

fn proposed<T: Config>() -> (T::AccountId, ModelId) {
	let builder = funded::<T>("builder", 0);
	let id = Pallet::<T>::do_propose_model(builder.clone(), spec::<T>(T::MaxDatanets::get())).unwrap();
	(builder, id)
}

fn approved<T: Config>() -> (T::AccountId, ModelId) {
	let (builder, id) = proposed::<T>();
	Pallet::<T>::do_approve(id).unwrap();
	(builder, id)
}

fn trainer<T: Config>(i: u32) -> (T::AccountId, T::TrainerId) {
	let who = funded::<T>("trainer", i);
	let key = T::TrainerId::generate_pair(None);
	Pallet::<T>::do_register_trainer(who.clone(), key.clone()).unwrap();
	(who, key)
}

fn metrics<T: Config>(m: &Model<T>, loss: u128) -> Metrics<T> {
	BoundedVec::truncate_from(
		m.spec
			.datanets
			.iter()
			.map(|(d, v)| DatanetMetrics {
				datanet: *d,
				version: *v,
				eval_tokens: 4096,
				base_loss: FixedU128::from_u32(3),
				base_perplexity: FixedU128::from_u32(20),
				adapter_loss: FixedU128::from_rational(loss, 100),
				adapter_perplexity: FixedU128::from_u32(12),
			})
			.collect::<alloc::vec::Vec<_>>(),
	)
}

fn artifact() -> ContentHash {
	ContentHash::of(b"adapter")
}

/// Attempt 1's report of model `id` by `key`, adapter loss 2.50.
fn report_of<T: Config>(id: ModelId, key: &T::TrainerId) -> TrainingReport<T> {
	let m = ModelRecords::<T>::get(id).unwrap();
	TrainingReport { model: id, attempt: 1, key: key.clone(), adapter_hash: artifact(), metrics: metrics(&m, 250) }
}

/// An attestation of attempt 1 of model `id` by `key`, measuring adapter loss `loss`/100.
fn attestation_of<T: Config>(id: ModelId, key: &T::TrainerId, loss: u128) -> Attestation<T> {
	let m = ModelRecords::<T>::get(id).unwrap();
	Attestation { model: id, attempt: 1, key: key.clone(), adapter_hash: artifact(), metrics: metrics(&m, loss) }
}

/// An approved model claimed by trainer 0.
fn claimed<T: Config>() -> (ModelId, T::TrainerId) {
	let (_, id) = approved::<T>();
	let (_, key) = trainer::<T>(0);
	Pallet::<T>::do_claim(Claim { model: id, attempt: 1, key: key.clone() }).unwrap();
	(id, key)
}

/// A model reported by trainer 0, with `attestors` more trainers registered.
fn reported<T: Config>(attestors: u32) -> (ModelId, alloc::vec::Vec<T::TrainerId>) {
	let (id, key) = claimed::<T>();
	Pallet::<T>::do_report(report_of(id, &key)).unwrap();
	(id, (1..=attestors).map(|i| trainer::<T>(i).1).collect())
}

/// A model evaluated by a quorum of 1.
fn evaluated<T: Config>() -> (T::AccountId, ModelId) {
	let mut s = JobSettings::<T>::get();
	s.eval_quorum = 1;
	JobSettings::<T>::put(s);
	let (id, keys) = reported::<T>(1);
	Pallet::<T>::do_attest(attestation_of(id, &keys[0], 250)).unwrap();
	(ModelRecords::<T>::get(id).unwrap().owner, id)
}

/// For other pallets' benchmarks (a runtime's benchmark helpers): a deployed adapter of the
/// largest spec, trained on the datanet versions the runtime's `BenchmarkHelper` publishes,
/// priced at `price_per_1k`. Returns the adapter and its owner.
pub fn deployed_adapter<T: Config>(price_per_1k: BalanceOf<T>) -> (AdapterId, T::AccountId) {
	let (owner, id) = evaluated::<T>();
	Pallet::<T>::do_deploy(owner.clone(), id, price_per_1k).expect("deployed");
	let adapter = ModelRecords::<T>::get(id).and_then(|m| m.adapter).expect("an evaluated model has an adapter");
	(adapter, owner)
}

fn signed<P: Encode, K: RuntimeAppPublic>(key: &K, payload: &P) -> K::Signature {
	key.sign(&payload.encode()).expect("the benchmark's key is in the keystore")
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn propose_model(d: Linear<1, { T::MaxDatanets::get() }>) {
		let builder = funded::<T>("builder", 0);
		let s = spec::<T>(d);
		#[extrinsic_call]
		_(RawOrigin::Signed(builder), s);
		assert_eq!(ModelRecords::<T>::get(0).unwrap().stage, Stage::Proposed);
	}

	#[benchmark]
	fn withdraw_model() {
		let (builder, id) = proposed::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(builder), id);
		assert_eq!(ModelRecords::<T>::get(id).unwrap().stage, Stage::Withdrawn);
	}

	#[benchmark]
	fn approve_model() -> Result<(), BenchmarkError> {
		let (_, id) = proposed::<T>();
		let origin = T::ApproveOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, id);
		assert_eq!(ModelRecords::<T>::get(id).unwrap().stage, Stage::Approved);
		Ok(())
	}

	#[benchmark]
	fn reject_model() -> Result<(), BenchmarkError> {
		let (_, id) = proposed::<T>();
		let origin = T::ApproveOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, id);
		assert_eq!(ModelRecords::<T>::get(id).unwrap().stage, Stage::Rejected);
		Ok(())
	}

	#[benchmark]
	fn register_trainer() {
		let who = funded::<T>("trainer", 0);
		let key = T::TrainerId::generate_pair(None);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), key);
		assert!(Trainers::<T>::contains_key(&who));
	}

	#[benchmark]
	fn unregister_trainer() {
		let (who, _) = trainer::<T>(0);
		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));
		assert!(!Trainers::<T>::contains_key(&who));
	}

	#[benchmark]
	fn claim_job() {
		let (_, id) = approved::<T>();
		let (who, key) = trainer::<T>(0);
		let claim = Claim { model: id, attempt: 1, key: key.clone() };
		let signature = signed(&key, &claim);
		#[extrinsic_call]
		_(RawOrigin::Authorized, claim, signature);
		assert_eq!(Trainers::<T>::get(&who).unwrap().job, Some(id));
	}

	#[benchmark]
	fn report_training() {
		let (id, key) = claimed::<T>();
		let report = report_of(id, &key);
		let signature = signed(&key, &report);
		#[extrinsic_call]
		_(RawOrigin::Authorized, report, signature);
		assert_eq!(ModelRecords::<T>::get(id).unwrap().stage, Stage::Trained);
	}

	/// The attestation that completes a quorum of `t + 1`: the adapter is registered and `t`
	/// earlier attestations are cleared.
	#[benchmark]
	fn attest_evaluation(t: Linear<0, { T::MaxTrainers::get() - 2 }>) {
		let mut s = JobSettings::<T>::get();
		s.eval_quorum = t + 1;
		JobSettings::<T>::put(s);
		let (id, keys) = reported::<T>(t + 1);
		for key in &keys[..t as usize] {
			Pallet::<T>::do_attest(attestation_of(id, key, 250)).unwrap();
		}
		let key = keys[t as usize].clone();
		let attestation = attestation_of::<T>(id, &key, 251);
		let signature = signed(&key, &attestation);
		#[extrinsic_call]
		_(RawOrigin::Authorized, attestation, signature);
		assert_eq!(ModelRecords::<T>::get(id).unwrap().stage, Stage::Evaluated);
	}

	/// Signature check and the checks of a report (the largest payload).
	#[benchmark]
	fn authorize_trainer() {
		let (id, key) = claimed::<T>();
		let report = report_of(id, &key);
		let signature = signed(&key, &report);
		let call: <T as frame_system::Config>::RuntimeCall = Call::<T>::report_training { report, signature }.into();
		#[block]
		{
			call.authorize(TransactionSource::External)
				.expect("the call has authorize logic")
				.expect("authorized");
		}
	}

	#[benchmark]
	fn deploy() {
		let (owner, id) = evaluated::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id, 1_000u32.into());
		assert_eq!(ModelRecords::<T>::get(id).unwrap().stage, Stage::Deployed);
	}

	#[benchmark]
	fn set_price() {
		let (owner, id) = evaluated::<T>();
		Pallet::<T>::do_deploy(owner.clone(), id, 1_000u32.into()).unwrap();
		let adapter = ModelRecords::<T>::get(id).unwrap().adapter.unwrap();
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), adapter, 2_000u32.into());
		assert_eq!(Adapters::<T>::get(adapter).unwrap().price_per_1k, Some(2_000u32.into()));
	}

	#[benchmark]
	fn retire() {
		let (owner, id) = evaluated::<T>();
		Pallet::<T>::do_deploy(owner.clone(), id, 1_000u32.into()).unwrap();
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), id);
		assert_eq!(ModelRecords::<T>::get(id).unwrap().stage, Stage::Retired);
	}

	#[benchmark]
	fn set_settings() -> Result<(), BenchmarkError> {
		let origin = T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let mut s = JobSettings::<T>::get();
		s.training_period = 77u32.into();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, s);
		assert_eq!(JobSettings::<T>::get().training_period, 77u32.into());
		Ok(())
	}

	#[benchmark]
	fn on_initialize_idle() {
		let now = frame_system::Pallet::<T>::block_number();
		#[block]
		{
			Pallet::<T>::on_initialize(now);
		}
	}

	/// A claimed job times out: the trainer is slashed and the job requeued.
	#[benchmark]
	fn expire_job() {
		let (id, _) = claimed::<T>();
		let Some(Job::Claimed { deadline, .. }) = Jobs::<T>::get(id) else { panic!("claimed") };
		#[block]
		{
			Pallet::<T>::process_deadlines(deadline);
		}
		assert_eq!(Jobs::<T>::get(id), Some(Job::Queued));
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_bench_ext(), crate::mock::Test);
}

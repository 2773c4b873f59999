//! The logic behind the calls and the hook: each call in `lib.rs` checks its origin and calls one
//! of these.

use crate::{frame_support, frame_system, pallet::*, sp_runtime, types::*, WeightInfo, LOG_TARGET};
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::MutateHold,
		tokens::{Fortitude, Precision, Restriction},
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use mnemo_primitives::{
	governance::{OpenProposal, ProposalFailed, ProposalId, ProposalKind},
	ContentHash, DatanetsInspect, ModelId,
};
use sp_runtime::{
	traits::{Saturating, Zero},
	Perbill,
};

/// How many blocks past its target a deadline may land when the target's bucket is full.
const DEADLINE_SLACK: u32 = 4;

impl<T: Config> Pallet<T> {
	// ---- proposals ----

	pub(crate) fn check_spec(who: &T::AccountId, spec: &ModelSpec<T>) -> DispatchResult {
		ensure!(!spec.base_model.is_empty(), Error::<T>::NoBaseModel);
		ensure!(!spec.datanets.is_empty(), Error::<T>::NoDatanets);
		for (i, (d, v)) in spec.datanets.iter().enumerate() {
			ensure!(!spec.datanets[..i].iter().any(|(e, _)| e == d), Error::<T>::DuplicateDatanet);
			ensure!(T::Datanets::version_exists(*d, *v), Error::<T>::UnknownDatanetVersion);
		}
		let l = &spec.lora;
		ensure!(l.rank >= 1 && l.rank <= T::MaxRank::get() && l.alpha >= 1, Error::<T>::BadRank);
		ensure!(l.epochs >= 1 && l.epochs <= T::MaxEpochs::get(), Error::<T>::BadEpochs);
		ensure!(!l.learning_rate.is_zero(), Error::<T>::BadLearningRate);
		let unique = l.targets.iter().enumerate().all(|(i, t)| !l.targets[..i].contains(t));
		ensure!(!l.targets.is_empty() && unique, Error::<T>::BadTargets);
		let e = &spec.eval;
		ensure!(
			!e.holdout.is_zero() && e.holdout < Perbill::one() && e.tolerance < Perbill::one(),
			Error::<T>::BadEvalSpec
		);
		if let Some(parent) = spec.parent {
			let p = Adapters::<T>::get(parent).ok_or(Error::<T>::BadParent)?;
			ensure!(&p.owner == who && p.base_model == spec.base_model, Error::<T>::BadParent);
		}
		Ok(())
	}

	pub(crate) fn do_propose_model(who: T::AccountId, spec: ModelSpec<T>) -> Result<ModelId, DispatchError> {
		Self::check_spec(&who, &spec)?;
		let id = NextModelId::<T>::get();
		let bond = T::ModelBond::get();
		T::Currency::hold(&HoldReason::ModelBond.into(), &who, bond)?;
		let call: <T as frame_system::Config>::RuntimeCall = Call::<T>::approve_model { model: id }.into();
		let proposal = T::Proposals::open(who.clone(), call, ProposalKind::ModelApproval)?;
		NextModelId::<T>::put(id.saturating_add(1));
		ByProposal::<T>::insert(proposal, id);
		let now = frame_system::Pallet::<T>::block_number();
		Self::deposit_event(Event::ModelProposed {
			model: id,
			owner: who.clone(),
			proposal,
			bond,
			base_model: spec.base_model.clone(),
			datanets: spec.datanets.clone(),
		});
		let model = Model {
			owner: who,
			spec,
			stage: Stage::Proposed,
			bond,
			proposal,
			attempt: 0,
			adapter: None,
			proposed_at: now,
		};
		ModelRecords::<T>::insert(id, model);
		Self::record(id, Stage::Proposed);
		Ok(id)
	}

	pub(crate) fn do_withdraw_model(who: T::AccountId, id: ModelId) -> DispatchResult {
		let mut m = ModelRecords::<T>::get(id).ok_or(Error::<T>::UnknownModel)?;
		ensure!(m.owner == who, Error::<T>::NotOwner);
		Self::set_stage(id, &mut m, Stage::Withdrawn)?;
		T::Proposals::withdraw(m.proposal)?;
		ByProposal::<T>::remove(m.proposal);
		let returned = Self::release_bond(&m);
		m.bond = Zero::zero();
		ModelRecords::<T>::insert(id, &m);
		Self::deposit_event(Event::ModelWithdrawn { model: id, owner: who, returned });
		Ok(())
	}

	pub(crate) fn do_approve(id: ModelId) -> DispatchResult {
		let mut m = ModelRecords::<T>::get(id).ok_or(Error::<T>::UnknownModel)?;
		Self::set_stage(id, &mut m, Stage::Approved)?;
		ByProposal::<T>::remove(m.proposal);
		let returned = Self::release_bond(&m);
		m.bond = Zero::zero();
		m.attempt = 1;
		ModelRecords::<T>::insert(id, &m);
		Jobs::<T>::insert(id, Job::Queued);
		Queue::<T>::insert(id, ());
		Self::deposit_event(Event::ModelApproved { model: id, returned });
		Ok(())
	}

	pub(crate) fn do_reject(id: ModelId) -> DispatchResult {
		let mut m = ModelRecords::<T>::get(id).ok_or(Error::<T>::UnknownModel)?;
		Self::set_stage(id, &mut m, Stage::Rejected)?;
		ByProposal::<T>::remove(m.proposal);
		let slashed = T::Currency::transfer_on_hold(
			&HoldReason::ModelBond.into(),
			&m.owner,
			&T::Treasury::get(),
			m.bond,
			Precision::BestEffort,
			Restriction::Free,
			Fortitude::Force,
		)?;
		m.bond = Zero::zero();
		ModelRecords::<T>::insert(id, &m);
		Self::deposit_event(Event::ModelRejected { model: id, owner: m.owner, slashed });
		Ok(())
	}

	fn release_bond(m: &Model<T>) -> BalanceOf<T> {
		T::Currency::release(&HoldReason::ModelBond.into(), &m.owner, m.bond, Precision::BestEffort)
			.unwrap_or_else(|e| {
				log::error!(target: LOG_TARGET, "model bond of {:?} not released: {e:?}", m.owner);
				Zero::zero()
			})
	}

	// ---- stages ----

	/// Move `m` to `to` if the lifecycle allows it, and record the change.
	pub(crate) fn set_stage(id: ModelId, m: &mut Model<T>, to: Stage) -> DispatchResult {
		ensure!(m.stage.can_become(to), Error::<T>::IllegalTransition);
		m.stage = to;
		Self::record(id, to);
		Ok(())
	}

	fn record(id: ModelId, stage: Stage) {
		let now = frame_system::Pallet::<T>::block_number();
		History::<T>::mutate(id, |h| {
			// The oldest change gives way. Cannot fail: `MaxHistory` is at least 1 by
			// `integrity_test`.
			let _ = h.force_insert_keep_right(h.len(), (stage, now));
		});
	}

	// ---- trainers ----

	pub(crate) fn do_register_trainer(who: T::AccountId, key: T::TrainerId) -> DispatchResult {
		ensure!(!Trainers::<T>::contains_key(&who), Error::<T>::AlreadyTrainer);
		ensure!(!TrainerOf::<T>::contains_key(&key), Error::<T>::KeyInUse);
		ensure!(Trainers::<T>::count() < T::MaxTrainers::get(), Error::<T>::TooManyTrainers);
		let bond = T::TrainerBond::get();
		T::Currency::hold(&HoldReason::TrainerBond.into(), &who, bond)?;
		TrainerOf::<T>::insert(&key, &who);
		Trainers::<T>::insert(&who, Trainer { key: key.clone(), bond, job: None });
		Self::deposit_event(Event::TrainerRegistered { who, key, bond });
		Ok(())
	}

	pub(crate) fn do_unregister_trainer(who: T::AccountId) -> DispatchResult {
		let t = Trainers::<T>::get(&who).ok_or(Error::<T>::NotTrainer)?;
		ensure!(t.job.is_none(), Error::<T>::TrainerBusy);
		let returned =
			T::Currency::release(&HoldReason::TrainerBond.into(), &who, t.bond, Precision::BestEffort)?;
		TrainerOf::<T>::remove(&t.key);
		Trainers::<T>::remove(&who);
		Self::deposit_event(Event::TrainerUnregistered { who, returned });
		Ok(())
	}

	/// The registered trainer behind `key`.
	fn trainer_of(key: &T::TrainerId) -> Result<(T::AccountId, Trainer<T>), Error<T>> {
		let who = TrainerOf::<T>::get(key).ok_or(Error::<T>::NotTrainer)?;
		let t = Trainers::<T>::get(&who).ok_or(Error::<T>::NotTrainer)?;
		Ok((who, t))
	}

	/// Slash `share` of a trainer's bond to the treasury; returns what was slashed.
	fn slash_trainer(who: &T::AccountId, share: Perbill) -> BalanceOf<T> {
		let Some(mut t) = Trainers::<T>::get(who) else { return Zero::zero() };
		let amount = share.mul_floor(t.bond);
		let slashed = T::Currency::transfer_on_hold(
			&HoldReason::TrainerBond.into(),
			who,
			&T::Treasury::get(),
			amount,
			Precision::BestEffort,
			Restriction::Free,
			Fortitude::Force,
		)
		.unwrap_or_else(|e| {
			log::error!(target: LOG_TARGET, "trainer {who:?} not slashed: {e:?}");
			Zero::zero()
		});
		t.bond = t.bond.saturating_sub(slashed);
		t.job = None;
		Trainers::<T>::insert(who, t);
		slashed
	}

	/// Record which job a trainer holds (`None`: it is free to claim another).
	fn set_job(who: &T::AccountId, job: Option<ModelId>) {
		Trainers::<T>::mutate(who, |t| {
			if let Some(t) = t {
				t.job = job;
			}
		});
	}

	// ---- jobs ----

	/// Whether `claim` may be taken: a registered, idle, fully bonded trainer and a queued job
	/// at that attempt. Returns the trainer's account and the model.
	pub(crate) fn check_claim(claim: &Claim<T::TrainerId>) -> Result<(T::AccountId, Model<T>), Error<T>> {
		let (who, t) = Self::trainer_of(&claim.key)?;
		ensure!(t.job.is_none(), Error::<T>::TrainerBusy);
		ensure!(t.bond >= T::TrainerBond::get(), Error::<T>::BondTooLow);
		let m = ModelRecords::<T>::get(claim.model).ok_or(Error::<T>::UnknownModel)?;
		ensure!(
			matches!(Jobs::<T>::get(claim.model), Some(Job::Queued)) && m.attempt == claim.attempt,
			Error::<T>::BadSubmission
		);
		Ok((who, m))
	}

	pub(crate) fn do_claim(claim: Claim<T::TrainerId>) -> DispatchResult {
		let (trainer, mut m) = Self::check_claim(&claim)?;
		let id = claim.model;
		Self::set_stage(id, &mut m, Stage::Training)?;
		let now = frame_system::Pallet::<T>::block_number();
		let deadline = Self::schedule(now.saturating_add(JobSettings::<T>::get().training_period), id)?;
		Queue::<T>::remove(id);
		Jobs::<T>::insert(id, Job::Claimed { trainer: trainer.clone(), deadline });
		Self::set_job(&trainer, Some(id));
		ModelRecords::<T>::insert(id, &m);
		Self::deposit_event(Event::JobClaimed { model: id, attempt: m.attempt, trainer, deadline });
		Ok(())
	}

	/// Whether `metrics` cover exactly the model's training datanets, in order.
	fn check_metrics(m: &Model<T>, metrics: &[DatanetMetrics]) -> Result<(), Error<T>> {
		ensure!(covers(metrics, &m.spec.datanets), Error::<T>::BadMetrics);
		Ok(())
	}

	/// Whether `report` comes from the trainer holding the job at that attempt, with metrics of
	/// the right shape. Returns the trainer, its deadline and the model.
	pub(crate) fn check_report(
		report: &TrainingReport<T>,
	) -> Result<(T::AccountId, BlockNumberFor<T>, Model<T>), Error<T>> {
		let (who, _) = Self::trainer_of(&report.key)?;
		let m = ModelRecords::<T>::get(report.model).ok_or(Error::<T>::UnknownModel)?;
		let deadline = match Jobs::<T>::get(report.model) {
			Some(Job::Claimed { trainer, deadline }) if trainer == who && m.attempt == report.attempt =>
				deadline,
			_ => return Err(Error::<T>::BadSubmission),
		};
		Self::check_metrics(&m, &report.metrics)?;
		Ok((who, deadline, m))
	}

	pub(crate) fn do_report(report: TrainingReport<T>) -> DispatchResult {
		let (trainer, old_deadline, mut m) = Self::check_report(&report)?;
		let id = report.model;
		Self::set_stage(id, &mut m, Stage::Trained)?;
		let now = frame_system::Pallet::<T>::block_number();
		Self::unschedule(old_deadline, id);
		let deadline = Self::schedule(now.saturating_add(JobSettings::<T>::get().evaluation_period), id)?;
		Jobs::<T>::insert(
			id,
			Job::Reported {
				trainer: trainer.clone(),
				adapter_hash: report.adapter_hash,
				metrics: report.metrics.clone(),
				confirms: 0,
				disputes: 0,
				deadline,
			},
		);
		ModelRecords::<T>::insert(id, &m);
		Self::deposit_event(Event::TrainingReported {
			model: id,
			attempt: m.attempt,
			trainer,
			adapter_hash: report.adapter_hash,
			metrics: report.metrics,
		});
		Ok(())
	}

	/// Whether `a` comes from a registered trainer other than the reporter, about the reported
	/// adapter at that attempt, for the first time. Returns the attestor, the model and its
	/// (reported) job.
	pub(crate) fn check_attestation(
		a: &Attestation<T>,
	) -> Result<(T::AccountId, Model<T>, Job<T>), Error<T>> {
		let (who, _) = Self::trainer_of(&a.key)?;
		let m = ModelRecords::<T>::get(a.model).ok_or(Error::<T>::UnknownModel)?;
		let job = Jobs::<T>::get(a.model).ok_or(Error::<T>::BadSubmission)?;
		match &job {
			Job::Reported { trainer, adapter_hash, .. }
				if *trainer != who && *adapter_hash == a.adapter_hash && m.attempt == a.attempt => {},
			_ => return Err(Error::<T>::BadSubmission),
		}
		ensure!(!Attestations::<T>::contains_key(a.model, &who), Error::<T>::BadSubmission);
		Self::check_metrics(&m, &a.metrics)?;
		Ok((who, m, job))
	}

	pub(crate) fn do_attest(a: Attestation<T>) -> DispatchResult {
		let (attestor, m, job) = Self::check_attestation(&a)?;
		let id = a.model;
		let Job::Reported { trainer, adapter_hash, metrics, mut confirms, mut disputes, deadline } = job
		else {
			// `check_attestation` only passes reported jobs.
			return Err(Error::<T>::BadSubmission.into());
		};
		let confirmed = within_tolerance(&metrics, &a.metrics, m.spec.eval.tolerance);
		if confirmed {
			confirms.saturating_inc();
		} else {
			disputes.saturating_inc();
		}
		Attestations::<T>::insert(id, &attestor, confirmed);
		Self::deposit_event(Event::EvaluationAttested {
			model: id,
			attempt: m.attempt,
			attestor,
			confirmed,
			confirms,
			disputes,
		});
		let quorum = JobSettings::<T>::get().eval_quorum;
		if confirms >= quorum {
			Self::unschedule(deadline, id);
			Self::evaluated(id, m, trainer, adapter_hash, metrics)
		} else if disputes >= quorum {
			Self::unschedule(deadline, id);
			let slashed = Self::slash_trainer(&trainer, JobSettings::<T>::get().dispute_slash);
			Self::deposit_event(Event::ReportDisputed { model: id, attempt: m.attempt, trainer, slashed });
			Self::requeue_or_fail(id, m)
		} else {
			Jobs::<T>::insert(id, Job::Reported { trainer, adapter_hash, metrics, confirms, disputes, deadline });
			Ok(())
		}
	}

	/// A quorum confirmed: register the adapter, close the job.
	fn evaluated(
		id: ModelId,
		mut m: Model<T>,
		trainer: T::AccountId,
		artifact: ContentHash,
		metrics: Metrics<T>,
	) -> DispatchResult {
		Self::set_stage(id, &mut m, Stage::Evaluated)?;
		let adapter = NextAdapterId::<T>::get();
		NextAdapterId::<T>::put(adapter.saturating_add(1));
		for (d, v) in m.spec.datanets.iter() {
			AdaptersByDatanet::<T>::insert(d, adapter, v);
		}
		let improved = metrics.iter().all(DatanetMetrics::improved);
		Adapters::<T>::insert(
			adapter,
			Adapter {
				model: id,
				owner: m.owner.clone(),
				base_model: m.spec.base_model.clone(),
				datanets: m.spec.datanets.clone(),
				artifact,
				metrics: metrics.clone(),
				parent: m.spec.parent,
				price_per_1k: None,
				trainer: trainer.clone(),
				evaluated_at: frame_system::Pallet::<T>::block_number(),
			},
		);
		m.adapter = Some(adapter);
		ModelRecords::<T>::insert(id, &m);
		Self::close_job(id);
		Self::set_job(&trainer, None);
		Self::deposit_event(Event::ModelEvaluated { model: id, adapter, artifact, metrics, improved });
		Ok(())
	}

	fn close_job(id: ModelId) {
		Jobs::<T>::remove(id);
		Queue::<T>::remove(id);
		let _ = Attestations::<T>::clear_prefix(id, T::MaxTrainers::get(), None);
	}

	/// The attempt failed: queue the next one, or fail the model after `max_attempts`.
	fn requeue_or_fail(id: ModelId, mut m: Model<T>) -> DispatchResult {
		Self::close_job(id);
		if m.attempt >= JobSettings::<T>::get().max_attempts {
			Self::set_stage(id, &mut m, Stage::Failed)?;
			ModelRecords::<T>::insert(id, &m);
			Self::deposit_event(Event::ModelFailed { model: id, attempts: m.attempt });
		} else {
			Self::set_stage(id, &mut m, Stage::Approved)?;
			m.attempt.saturating_inc();
			ModelRecords::<T>::insert(id, &m);
			Jobs::<T>::insert(id, Job::Queued);
			Queue::<T>::insert(id, ());
			Self::deposit_event(Event::JobRequeued { model: id, attempt: m.attempt });
		}
		Ok(())
	}

	/// Put `id` in the first bucket from `at` with room (at most [`DEADLINE_SLACK`] blocks
	/// later); returns the deadline it got.
	pub(crate) fn schedule(at: BlockNumberFor<T>, id: ModelId) -> Result<BlockNumberFor<T>, Error<T>> {
		for slack in 0..=DEADLINE_SLACK {
			let block = at.saturating_add(slack.into());
			if Deadlines::<T>::try_mutate(block, |ids| ids.try_push(id)).is_ok() {
				return Ok(block);
			}
		}
		Err(Error::<T>::DeadlinesFull)
	}

	fn unschedule(at: BlockNumberFor<T>, id: ModelId) {
		Deadlines::<T>::mutate_exists(at, |ids| {
			if let Some(v) = ids {
				v.retain(|x| *x != id);
				if v.is_empty() {
					*ids = None;
				}
			}
		});
	}

	/// The hook: jobs whose training or evaluation period ends at `now`.
	pub(crate) fn process_deadlines(now: BlockNumberFor<T>) -> Weight {
		let mut weight = T::WeightInfo::on_initialize_idle();
		for id in Deadlines::<T>::take(now) {
			weight.saturating_accrue(T::WeightInfo::expire_job());
			if let Err(e) = Self::expire(id, now) {
				log::error!(target: LOG_TARGET, "job of model {id} not expired: {e:?}");
			}
		}
		weight
	}

	fn expire(id: ModelId, now: BlockNumberFor<T>) -> DispatchResult {
		let m = ModelRecords::<T>::get(id).ok_or(Error::<T>::UnknownModel)?;
		match Jobs::<T>::get(id) {
			Some(Job::Claimed { trainer, deadline }) if deadline == now => {
				let slashed = Self::slash_trainer(&trainer, JobSettings::<T>::get().timeout_slash);
				Self::deposit_event(Event::JobTimedOut { model: id, attempt: m.attempt, trainer, slashed });
				Self::requeue_or_fail(id, m)
			},
			Some(Job::Reported { trainer, confirms, disputes, deadline, .. }) if deadline == now => {
				Self::set_job(&trainer, None);
				Self::deposit_event(Event::EvaluationExpired { model: id, attempt: m.attempt, confirms, disputes });
				Self::requeue_or_fail(id, m)
			},
			_ => Ok(()),
		}
	}

	// ---- the registry ----

	pub(crate) fn do_deploy(who: T::AccountId, id: ModelId, price: BalanceOf<T>) -> DispatchResult {
		let mut m = ModelRecords::<T>::get(id).ok_or(Error::<T>::UnknownModel)?;
		ensure!(m.owner == who, Error::<T>::NotOwner);
		ensure!(!price.is_zero(), Error::<T>::ZeroPrice);
		Self::set_stage(id, &mut m, Stage::Deployed)?;
		let adapter = m.adapter.ok_or(Error::<T>::UnknownAdapter)?;
		Adapters::<T>::try_mutate(adapter, |a| {
			let a = a.as_mut().ok_or(Error::<T>::UnknownAdapter)?;
			a.price_per_1k = Some(price);
			Ok::<_, Error<T>>(())
		})?;
		Deployed::<T>::insert(adapter, ());
		ModelRecords::<T>::insert(id, &m);
		Self::deposit_event(Event::ModelDeployed { model: id, adapter, price_per_1k: price });
		Ok(())
	}

	pub(crate) fn do_set_price(
		who: T::AccountId,
		adapter: mnemo_primitives::AdapterId,
		price: BalanceOf<T>,
	) -> DispatchResult {
		let mut a = Adapters::<T>::get(adapter).ok_or(Error::<T>::UnknownAdapter)?;
		ensure!(a.owner == who, Error::<T>::NotOwner);
		ensure!(Deployed::<T>::contains_key(adapter), Error::<T>::NotDeployed);
		ensure!(!price.is_zero(), Error::<T>::ZeroPrice);
		a.price_per_1k = Some(price);
		Adapters::<T>::insert(adapter, a);
		Self::deposit_event(Event::PriceSet { adapter, price_per_1k: price });
		Ok(())
	}

	pub(crate) fn do_retire(by_owner: Option<T::AccountId>, id: ModelId) -> DispatchResult {
		let mut m = ModelRecords::<T>::get(id).ok_or(Error::<T>::UnknownModel)?;
		if let Some(who) = &by_owner {
			ensure!(&m.owner == who, Error::<T>::NotOwner);
		}
		Self::set_stage(id, &mut m, Stage::Retired)?;
		if let Some(adapter) = m.adapter {
			Deployed::<T>::remove(adapter);
		}
		ModelRecords::<T>::insert(id, &m);
		Self::deposit_event(Event::ModelRetired { model: id, adapter: m.adapter, by_owner: by_owner.is_some() });
		Ok(())
	}

	pub(crate) fn check_settings(s: &Settings<BlockNumberFor<T>>) -> DispatchResult {
		ensure!(
			!s.training_period.is_zero() &&
				!s.evaluation_period.is_zero() &&
				s.eval_quorum >= 1 &&
				s.eval_quorum < T::MaxTrainers::get() &&
				s.max_attempts >= 1,
			Error::<T>::BadSettings
		);
		Ok(())
	}

	// ---- invariants ----

	/// What must hold after every block (run by `try_state` and after every unit test).
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		let mut queued = 0u32;
		for (id, job) in Jobs::<T>::iter() {
			let m = ModelRecords::<T>::get(id).ok_or("job of an unknown model")?;
			let busy = |who: &T::AccountId| Trainers::<T>::get(who).is_some_and(|t| t.job == Some(id));
			match job {
				Job::Queued => {
					ensure!(m.stage == Stage::Approved, "queued job of a model not Approved");
					ensure!(Queue::<T>::contains_key(id), "queued job missing from the queue");
					queued += 1;
				},
				Job::Claimed { trainer, deadline } => {
					ensure!(m.stage == Stage::Training, "claimed job of a model not Training");
					ensure!(busy(&trainer), "claiming trainer does not hold the job");
					ensure!(Deadlines::<T>::get(deadline).contains(&id), "claimed job without deadline");
				},
				Job::Reported { trainer, confirms, disputes, deadline, .. } => {
					ensure!(m.stage == Stage::Trained, "reported job of a model not Trained");
					ensure!(busy(&trainer), "reporting trainer does not hold the job");
					ensure!(Deadlines::<T>::get(deadline).contains(&id), "reported job without deadline");
					let n = Attestations::<T>::iter_prefix(id).count() as u32;
					ensure!(n == confirms + disputes, "attestations do not match the tally");
				},
			}
		}
		ensure!(Queue::<T>::iter_keys().count() as u32 == queued, "queue has entries without a job");
		let mut trainers = 0u32;
		for (who, t) in Trainers::<T>::iter() {
			trainers += 1;
			ensure!(TrainerOf::<T>::get(&t.key).as_ref() == Some(&who), "trainer key not indexed");
		}
		ensure!(trainers == Trainers::<T>::count(), "trainer count drifted");
		ensure!(TrainerOf::<T>::iter().count() as u32 == trainers, "stale trainer key");
		for (proposal, id) in ByProposal::<T>::iter() {
			let m = ModelRecords::<T>::get(id).ok_or("proposal of an unknown model")?;
			ensure!(m.stage == Stage::Proposed && m.proposal == proposal, "proposal of a decided model");
		}
		for id in Deployed::<T>::iter_keys() {
			let a = Adapters::<T>::get(id).ok_or("unknown deployed adapter")?;
			let m = ModelRecords::<T>::get(a.model).ok_or("adapter of an unknown model")?;
			ensure!(m.stage == Stage::Deployed && a.price_per_1k.is_some(), "deployed adapter not Deployed");
		}
		Ok(())
	}
}

impl<T: Config> ProposalFailed for Pallet<T> {
	fn proposal_failed(id: ProposalId) -> Weight {
		let Some(model) = ByProposal::<T>::get(id) else { return T::DbWeight::get().reads(1) };
		if let Err(e) = Self::do_reject(model) {
			log::error!(target: LOG_TARGET, "model {model} of failed proposal {id} not rejected: {e:?}");
		}
		Self::max_weight()
	}

	fn max_weight() -> Weight {
		T::WeightInfo::reject_model()
	}
}

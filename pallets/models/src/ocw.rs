//! The trainer worker: claims queued jobs, drives training on the engine, reports adapters, and
//! re-evaluates other trainers' adapters.
//!
//! Each block, on a node whose keystore holds a `trnr` key registered with `register_trainer`
//! and whose operator set the engine URL (`mnemo_setEngineUrl`), for each such key:
//!
//! 1. **Its job.** If the trainer holds a claimed job: without a run id stored for the job's
//!    attempt, `POST /v1/train` (the engine keys runs by job and attempt, so asking twice finds
//!    the same run) and store the id; with one, `GET /v1/train/{id}`. When the run is `done`,
//!    submit `report_training`; when it `failed` (or the engine forgot it), forget the id so a
//!    later block starts it again. Nothing here gives a job up: only its deadline does.
//! 2. **A claim.** An idle trainer claims the oldest queued job (`claim_job`). The chain decides
//!    between trainers on different nodes: one claim per job attempt lands.
//! 3. **An attestation.** For one reported adapter it did not train and has not attested,
//!    `POST /v1/eval` and submit `attest_evaluation` with what it measured.
//!
//! Every submission is an authorized (feeless, nonce-free) transaction signed by the trainer
//! key, so two blocks' submissions never collide on a nonce. A node-local mark keeps a worker
//! from asking the engine twice about one thing within [`RETRY_AFTER`] blocks.

use crate::{frame_system, pallet::*, types::*, LOG_TARGET};
use alloc::{format, string::String, vec::Vec};
use codec::Encode;
use frame_system::{
	offchain::{CreateAuthorizedTransaction, SubmitTransaction},
	pallet_prelude::BlockNumberFor,
};
use mnemo_primitives::{
	engine::{DataRef, DatanetData, EvalRequest, TrainRequest, TrainState},
	DatanetsInspect, ModelId,
};
use polkadot_sdk::{
	sp_application_crypto::RuntimeAppPublic,
	sp_runtime::offchain::storage::StorageValueRef,
};

/// Blocks before a worker asks the engine again about something it already asked about.
pub const RETRY_AFTER: u32 = 5;

/// How many queued jobs or reported adapters a worker looks at per block.
const SCAN: usize = 16;

pub(crate) fn run<T: Config>(now: BlockNumberFor<T>) {
	let keys: Vec<_> =
		T::TrainerId::all().into_iter().filter(|k| TrainerOf::<T>::contains_key(k)).collect();
	if keys.is_empty() {
		return;
	}
	if let Err(e) = mnemo_ocw::engine_url() {
		log::debug!(target: LOG_TARGET, "trainer worker idle: {e}");
		return;
	}
	let now: u32 = now.try_into().unwrap_or(u32::MAX);
	for key in keys {
		let Some(who) = TrainerOf::<T>::get(&key) else { continue };
		let Some(trainer) = Trainers::<T>::get(&who) else { continue };
		let result = match trainer.job {
			Some(model) => drive::<T>(model, &who, &key),
			None => claim_next::<T>(&key, now),
		};
		if let Err(e) = result {
			log::warn!(target: LOG_TARGET, "trainer worker: {e}");
		}
		if let Err(e) = attest_one::<T>(&who, &key, now) {
			log::warn!(target: LOG_TARGET, "trainer worker: {e}");
		}
	}
}

/// Mark `what` as done at `now`, unless it was done less than [`RETRY_AFTER`] blocks ago.
fn mark(what: &[u8], model: ModelId, attempt: u32, now: u32) -> bool {
	mnemo_ocw::mark_unless_recent(&local_key(what, model, attempt), now, RETRY_AFTER)
}

fn local_key(what: &[u8], model: ModelId, attempt: u32) -> Vec<u8> {
	let mut key = Vec::from(&b"mnemo::models::"[..]);
	key.extend_from_slice(what);
	key.extend_from_slice(&(model, attempt).encode());
	key
}

/// The contributions of each training datanet version, as the engine fetches them.
fn training_data<T: Config>(m: &Model<T>) -> Vec<DatanetData> {
	m.spec
		.datanets
		.iter()
		.map(|(d, v)| DatanetData {
			datanet: *d,
			version: *v,
			contributions: T::Datanets::version_contributions(*d, *v)
				.into_iter()
				.map(|(contribution, content_hash)| DataRef { contribution, content_hash })
				.collect(),
		})
		.collect()
}

fn base_model<T: Config>(m: &Model<T>) -> String {
	String::from_utf8_lossy(&m.spec.base_model).into_owned()
}

fn claim_next<T: Config>(key: &T::TrainerId, now: u32) -> Result<(), String> {
	let mut queued: Vec<ModelId> = Queue::<T>::iter_keys().take(SCAN).collect();
	queued.sort();
	for model in queued {
		let Some(m) = ModelRecords::<T>::get(model) else { continue };
		let claim = Claim { model, attempt: m.attempt, key: key.clone() };
		if Pallet::<T>::check_claim(&claim).is_err() || !mark(b"claim", model, m.attempt, now) {
			continue;
		}
		let signature = sign(key, &claim)?;
		submit::<T>(Call::<T>::claim_job { claim, signature })?;
		log::info!(target: LOG_TARGET, "claim of model {model}'s job (attempt {}) submitted", m.attempt);
		return Ok(());
	}
	Ok(())
}

/// Start, poll and report the trainer's claimed job.
fn drive<T: Config>(model: ModelId, who: &T::AccountId, key: &T::TrainerId) -> Result<(), String> {
	let Some(Job::Claimed { trainer, .. }) = Jobs::<T>::get(model) else { return Ok(()) };
	if &trainer != who {
		return Ok(());
	}
	let m = ModelRecords::<T>::get(model).ok_or("job of an unknown model")?;
	let run_key = local_key(b"run", model, m.attempt);
	let mut run_id = StorageValueRef::persistent(&run_key);
	let id = match run_id.get::<String>() {
		Ok(Some(id)) => id,
		_ => {
			let req = TrainRequest {
				job: model,
				attempt: m.attempt,
				base_model: base_model(&m),
				datanets: training_data(&m),
				lora: m.spec.lora_spec(),
				eval: m.spec.eval_settings(),
			};
			let accepted = mnemo_ocw::start_training(&req)
				.map_err(|e| format!("model {model}: training not started: {e}"))?;
			run_id.set(&accepted.id);
			log::info!(target: LOG_TARGET, "model {model}: engine run {} started", accepted.id);
			return Ok(());
		},
	};
	let status = match mnemo_ocw::training_status(&id) {
		Ok(s) => s,
		Err(mnemo_ocw::Error::Status { code: 404, .. }) => {
			// The engine lost the run (restarted without it): start again next block.
			run_id.clear();
			return Err(format!("model {model}: engine does not know run {id}; restarting it"));
		},
		Err(e) => return Err(format!("model {model}: run {id}: {e}")),
	};
	match status.state {
		TrainState::Queued | TrainState::Running => {
			log::info!(target: LOG_TARGET, "model {model}: run {id} {:?}, {:.0}%", status.state, status.progress * 100.0);
			Ok(())
		},
		TrainState::Failed => {
			run_id.clear();
			Err(format!("model {model}: run {id} failed: {}", status.error.unwrap_or_default()))
		},
		TrainState::Done => {
			let adapter_hash = status.adapter_hash.ok_or("a done run without an adapter hash")?;
			let metrics = status
				.metrics
				.as_ref()
				.and_then(|x| metrics_from_engine::<T>(x, &m.spec.datanets))
				.ok_or_else(|| format!("model {model}: run {id}'s metrics do not match the job"))?;
			let report =
				TrainingReport::<T> { model, attempt: m.attempt, key: key.clone(), adapter_hash, metrics };
			let signature = sign(key, &report)?;
			submit::<T>(Call::<T>::report_training { report, signature })?;
			log::info!(target: LOG_TARGET, "model {model}: adapter {} reported", adapter_hash.to_hex());
			Ok(())
		},
	}
}

/// Re-evaluate one reported adapter this trainer did not train and has not attested.
fn attest_one<T: Config>(who: &T::AccountId, key: &T::TrainerId, now: u32) -> Result<(), String> {
	for (model, job) in Jobs::<T>::iter().take(SCAN) {
		let Job::Reported { trainer, adapter_hash, .. } = job else { continue };
		if &trainer == who || Attestations::<T>::contains_key(model, who) {
			continue;
		}
		let Some(m) = ModelRecords::<T>::get(model) else { continue };
		if !mark(b"attest", model, m.attempt, now) {
			continue;
		}
		let req = EvalRequest {
			base_model: base_model(&m),
			adapter_hash,
			datanets: training_data(&m),
			lora: m.spec.lora_spec(),
			eval: m.spec.eval_settings(),
		};
		let measured = mnemo_ocw::evaluate(&req)
			.map_err(|e| format!("model {model}: adapter not evaluated: {e}"))?;
		let metrics = metrics_from_engine::<T>(&measured, &m.spec.datanets)
			.ok_or_else(|| format!("model {model}: the engine's evaluation does not match the job"))?;
		let attestation =
			Attestation::<T> { model, attempt: m.attempt, key: key.clone(), adapter_hash, metrics };
		let signature = sign(key, &attestation)?;
		submit::<T>(Call::<T>::attest_evaluation { attestation, signature })?;
		log::info!(target: LOG_TARGET, "model {model}: evaluation attested");
		return Ok(());
	}
	Ok(())
}

fn sign<K: RuntimeAppPublic>(key: &K, payload: &impl Encode) -> Result<K::Signature, String> {
	key.sign(&payload.encode())
		.ok_or_else(|| String::from("the keystore could not sign with the trainer key"))
}

fn submit<T: Config>(call: Call<T>) -> Result<(), String> {
	let xt = <T as CreateAuthorizedTransaction<Call<T>>>::create_authorized_transaction(call.into());
	SubmitTransaction::<T, Call<T>>::submit_transaction(xt)
		.map_err(|_| String::from("the transaction pool refused the submission"))
}

//! The attestor worker: audits the batches whose panels it sits on and recomputes their sampled
//! leaves, and reports by commit-reveal.
//!
//! Each block, on a node whose keystore holds an `attr` key registered with
//! `register_attestor` (engine URL from node-local offchain storage, `mnemo_setEngineUrl`), for
//! each such key and each batch whose panel holds the key's attestor:
//!
//! 1. **Commit phase, not committed.** `GET /v1/blobs/{blob}` from the engine: the whole batch,
//!    checked against its content hash and audited against its header and the chain
//!    (`mnemo_primitives::batch::audit`: consent and caps of every leaf, each payer's charge, the
//!    payouts as the split of every fee); `POST /v1/attribution` for each sampled leaf, whose
//!    digest, token count and scores become the reports; commit to them and the audit's outcome
//!    (`commit_batch_report`), keeping them in node-local storage.
//! 2. **Reveal phase, committed, not revealed.** `reveal_batch_report` from what it kept.
//!
//! Every submission is an authorized (feeless, nonce-free) transaction signed by the attestor
//! key, so two blocks' submissions never collide on a nonce. A node-local mark keeps a worker
//! from asking the engine or submitting twice about one batch within [`RETRY_AFTER`] blocks.

use crate::{frame_system, pallet::*, types::*, LOG_TARGET};
use alloc::{format, string::String, vec::Vec};
use codec::{Decode, Encode};
use frame_system::{
	offchain::{CreateAuthorizedTransaction, SubmitTransaction},
	pallet_prelude::BlockNumberFor,
};
use mnemo_primitives::{
	batch::{self, audit, AuditError, Blob, MAX_LEAF_SHARES},
	BatchEscrow, BatchId,
};
use polkadot_sdk::{sp_application_crypto::RuntimeAppPublic, sp_runtime::offchain::storage::StorageValueRef};

/// Blocks before a worker asks the engine or submits again about the same batch.
pub const RETRY_AFTER: u32 = 3;

pub(crate) fn run<T: Config>(now: BlockNumberFor<T>) {
	let keys: Vec<_> =
		T::AttestorId::all().into_iter().filter(|k| AttestorOf::<T>::contains_key(k)).collect();
	let now: u32 = now.try_into().unwrap_or(u32::MAX);
	for key in keys {
		let Some(who) = AttestorOf::<T>::get(&key) else { continue };
		for (batch, b) in Batches::<T>::iter() {
			if !b.panel.contains(&who) {
				continue;
			}
			let result = match b.phase {
				BatchPhase::Commit { .. } if !BatchReports::<T>::contains_key(batch, &who) => {
					if !mark(b"batch-commit", batch, &key, now) {
						continue;
					}
					commit_batch::<T>(batch, &b, &who, &key)
				},
				BatchPhase::Reveal { .. }
					if BatchReports::<T>::get(batch, &who).is_some_and(|r| r.revealed.is_none()) =>
				{
					if !mark(b"batch-reveal", batch, &key, now) {
						continue;
					}
					reveal_batch::<T>(batch, &key)
				},
				_ => Ok(()),
			};
			if let Err(e) = result {
				log::warn!(target: LOG_TARGET, "attestor worker, batch {batch}: {e}");
			}
		}
	}
}

/// A panel attestor's reports on `batch`: the whole batch fetched from the engine and audited
/// (its totals and payouts), each sampled leaf attributed again by the engine.
pub(crate) fn batch_reports<T: Config>(
	batch: BatchId,
	b: &Batch<T>,
) -> Result<(SampleReports<T>, bool), String> {
	let bytes = mnemo_ocw::get_blob(&b.header.blob).map_err(|e| format!("the batch's blob: {e}"))?;
	let blob = Blob::<T::AccountId, BlockNumberFor<T>, T::PayerSignature>::decode(&mut &bytes[..])
		.map_err(|_| String::from("the batch's blob does not decode"))?;
	// The running payouts it extends: those of the operator's batch before it.
	let (prev, prev_root) = match &b.base {
		None => (Vec::new(), batch::merkle_root(&[])),
		Some(base) => {
			let bytes = mnemo_ocw::get_blob(&base.blob).map_err(|e| format!("the blob of batch {} it extends: {e}", base.batch))?;
			let prev = Blob::<T::AccountId, BlockNumberFor<T>, T::PayerSignature>::decode(&mut &bytes[..])
				.map_err(|_| format!("the blob of batch {} it extends does not decode", base.batch))?;
			(prev.payouts, base.payouts_root)
		},
	};
	// The terms the batch was submitted under, whatever governance set since.
	let terms = b.terms.clone();
	let charges = T::BatchEscrow::charges(batch);
	let totals_ok = match audit(&blob, &b.header, &b.operator, &charges, &prev, &prev_root, &terms, Pallet::<T>::facts_of) {
		Ok(()) => true,
		Err(AuditError::WrongPrev) => return Err("the blob of the batch it extends is not the one committed".into()),
		Err(AuditError::WrongTerms) => return Err("the batch's terms on chain are not those its header commits".into()),
		Err(e) => {
			log::info!(target: LOG_TARGET, "batch {batch} does not add up: {e:?}");
			false
		},
	};
	let top_k = terms.top_k.min(MAX_LEAF_SHARES);
	let mut reports = Vec::with_capacity(b.sample.len());
	for index in b.sample.iter() {
		let leaf = blob.leaves.get(*index as usize).ok_or("the blob lacks a sampled leaf")?;
		let facts = Pallet::<T>::facts_of(leaf.voucher.adapter).ok_or("a sampled leaf's adapter has no facts")?;
		let resp = mnemo_ocw::attribute(&facts.request(u64::from(*index), leaf.transcript, top_k))
			.map_err(|e| format!("no attribution of leaf {index} from the engine: {e}"))?;
		let scores = resp.scores(top_k as usize).ok_or("the engine's scores are malformed (outside [0, 1] or repeated)")?;
		reports.push(SampleReport::<T> {
			tokens: resp.tokens,
			digest: resp.digest,
			scores: Scores::<T>::truncate_from(scores),
		});
	}
	Ok((SampleReports::<T>::truncate_from(reports), totals_ok))
}

fn commit_batch<T: Config>(batch: BatchId, b: &Batch<T>, who: &T::AccountId, key: &T::AttestorId) -> Result<(), String> {
	let (reports, totals_ok) = batch_reports::<T>(batch, b)?;
	let salt = polkadot_sdk::sp_io::offchain::random_seed();
	StorageValueRef::persistent(&local_key(b"batch-report", batch, key)).set(&(reports.clone(), totals_ok, salt));
	let commit = BatchCommit::<T> {
		batch,
		key: key.clone(),
		commitment: batch_commitment::<T>(batch, who, &reports, totals_ok, &salt),
	};
	let signature = sign(key, &commit)?;
	submit::<T>(Call::<T>::commit_batch_report { commit, signature })?;
	log::info!(target: LOG_TARGET, "batch {batch}: committed to {} sampled reports, totals {}", reports.len(), if totals_ok { "add up" } else { "do not add up" });
	Ok(())
}

fn reveal_batch<T: Config>(batch: BatchId, key: &T::AttestorId) -> Result<(), String> {
	let kept_key = local_key(b"batch-report", batch, key);
	let kept = StorageValueRef::persistent(&kept_key);
	let Ok(Some((reports, totals_ok, salt))) = kept.get::<(SampleReports<T>, bool, [u8; 32])>() else {
		return Err(String::from("committed, but this node no longer has the reports to reveal"));
	};
	let reveal = BatchReveal::<T> { batch, key: key.clone(), reports, totals_ok, salt };
	let signature = sign(key, &reveal)?;
	submit::<T>(Call::<T>::reveal_batch_report { reveal, signature })?;
	log::info!(target: LOG_TARGET, "batch {batch}: reports revealed");
	Ok(())
}

fn local_key(what: &[u8], id: u64, key: &impl Encode) -> Vec<u8> {
	let mut k = Vec::from(&b"mnemo::attribution::"[..]);
	k.extend_from_slice(what);
	(id, key).encode_to(&mut k);
	k
}

fn mark(what: &[u8], id: u64, key: &impl Encode, now: u32) -> bool {
	mnemo_ocw::mark_unless_recent(&local_key(what, id, key), now, RETRY_AFTER)
}

fn sign<K: RuntimeAppPublic>(key: &K, payload: &impl Encode) -> Result<K::Signature, String> {
	key.sign(&payload.encode())
		.ok_or_else(|| String::from("the keystore could not sign with the attestor key"))
}

fn submit<T: Config>(call: Call<T>) -> Result<(), String> {
	let xt = <T as CreateAuthorizedTransaction<Call<T>>>::create_authorized_transaction(call.into());
	SubmitTransaction::<T, Call<T>>::submit_transaction(xt)
		.map_err(|_| String::from("the transaction pool refused the submission"))
}

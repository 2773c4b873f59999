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
//!    (`commit_batch_report`), keeping them in node-local storage. When the engine does not have
//!    the batch's content (the blob, the blob it extends, or a sampled leaf's transcript: a 404,
//!    bytes that are not what their hash names, or a blob that is no batch), the outcome is
//!    `Unavailable`, with no
//!    reports: a majority of such findings is the operator withholding its batch. Any other
//!    failure (the engine down, slow, or answering malformed scores) is the worker's own, and
//!    it commits nothing.
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

/// What a panel attestor found: its reports on the sample and its finding on the batch whole.
type Findings<T> = (SampleReports<T>, BatchAudit);

/// The finding when the operator did not serve what the batch committed (see the module's
/// documentation); `Err` for any failure of the attestor's own.
fn not_served<T: Config>(batch: BatchId, what: &str, e: mnemo_ocw::Error) -> Result<Findings<T>, String> {
	if e.not_served() {
		log::info!(target: LOG_TARGET, "batch {batch}: {what} is not to be had ({e}): reporting it unavailable");
		return Ok((Default::default(), BatchAudit::Unavailable));
	}
	Err(format!("{what}: {e}"))
}

/// A panel attestor's reports on `batch`: the whole batch fetched from the engine and audited
/// (its totals and payouts), each sampled leaf attributed again by the engine.
pub(crate) fn batch_reports<T: Config>(batch: BatchId, b: &Batch<T>) -> Result<Findings<T>, String> {
	let bytes = match mnemo_ocw::get_blob(&b.header.blob) {
		Ok(bytes) => bytes,
		Err(e) => return not_served(batch, "the batch's blob", e),
	};
	// Bytes under the committed hash that are no batch blob: the batch was never served.
	let Ok(blob) = Blob::<T::AccountId, BlockNumberFor<T>, T::PayerSignature>::decode(&mut &bytes[..]) else {
		return not_served(batch, "the batch's blob", mnemo_ocw::Error::WrongContent);
	};
	// The running payouts it extends: those of the operator's batch before it.
	let (prev, prev_root) = match &b.base {
		None => (Vec::new(), batch::merkle_root(&[])),
		Some(base) => {
			let bytes = match mnemo_ocw::get_blob(&base.blob) {
				Ok(bytes) => bytes,
				Err(e) => return not_served(batch, &format!("the blob of batch {} it extends", base.batch), e),
			};
			let Ok(prev) = Blob::<T::AccountId, BlockNumberFor<T>, T::PayerSignature>::decode(&mut &bytes[..]) else {
				return not_served(batch, &format!("the blob of batch {} it extends", base.batch), mnemo_ocw::Error::WrongContent);
			};
			(prev.payouts, base.payouts_root)
		},
	};
	// The terms the batch was submitted under, whatever governance set since.
	let terms = b.terms.clone();
	let charges = T::BatchEscrow::charges(batch);
	let audit = match audit(&blob, &b.header, &b.operator, &charges, &prev, &prev_root, &terms, Pallet::<T>::facts_of) {
		Ok(()) => BatchAudit::AddsUp,
		Err(AuditError::WrongPrev) => return Err("the blob of the batch it extends is not the one committed".into()),
		Err(AuditError::WrongTerms) => return Err("the batch's terms on chain are not those its header commits".into()),
		Err(e) => {
			log::info!(target: LOG_TARGET, "batch {batch} does not add up: {e:?}");
			BatchAudit::DoesNotAddUp
		},
	};
	let top_k = terms.top_k.min(MAX_LEAF_SHARES);
	let mut reports = Vec::with_capacity(b.sample.len());
	for index in b.sample.iter() {
		let leaf = blob.leaves.get(*index as usize).ok_or("the blob lacks a sampled leaf")?;
		let facts = Pallet::<T>::facts_of(leaf.voucher.adapter).ok_or("a sampled leaf's adapter has no facts")?;
		let resp = match mnemo_ocw::attribute(&facts.request(u64::from(*index), leaf.transcript, top_k)) {
			Ok(resp) => resp,
			// Not found: the transcript, or the adapter or training data (which are not the
			// operator's to serve). The transcript itself says which.
			Err(e @ mnemo_ocw::Error::Status { code: 404, .. }) => match mnemo_ocw::get_blob(&leaf.transcript) {
				Err(t) if t.not_served() => return not_served(batch, &format!("the transcript of leaf {index}"), t),
				_ => return Err(format!("no attribution of leaf {index} from the engine: {e}")),
			},
			Err(e) => return Err(format!("no attribution of leaf {index} from the engine: {e}")),
		};
		let scores = resp.scores(top_k as usize).ok_or("the engine's scores are malformed (outside [0, 1] or repeated)")?;
		reports.push(SampleReport::<T> {
			tokens: resp.tokens,
			digest: resp.digest,
			scores: Scores::<T>::truncate_from(scores),
		});
	}
	Ok((SampleReports::<T>::truncate_from(reports), audit))
}

fn commit_batch<T: Config>(batch: BatchId, b: &Batch<T>, who: &T::AccountId, key: &T::AttestorId) -> Result<(), String> {
	let (reports, audit) = batch_reports::<T>(batch, b)?;
	let salt = polkadot_sdk::sp_io::offchain::random_seed();
	StorageValueRef::persistent(&local_key(b"batch-report", batch, key)).set(&(reports.clone(), audit, salt));
	let commit = BatchCommit::<T> {
		batch,
		key: key.clone(),
		commitment: batch_commitment::<T>(batch, who, &reports, audit, &salt),
	};
	let signature = sign(key, &commit)?;
	submit::<T>(Call::<T>::commit_batch_report { commit, signature })?;
	log::info!(target: LOG_TARGET, "batch {batch}: committed to {} sampled reports, the batch {audit:?}", reports.len());
	Ok(())
}

fn reveal_batch<T: Config>(batch: BatchId, key: &T::AttestorId) -> Result<(), String> {
	let kept_key = local_key(b"batch-report", batch, key);
	let kept = StorageValueRef::persistent(&kept_key);
	let Ok(Some((reports, audit, salt))) = kept.get::<(SampleReports<T>, BatchAudit, [u8; 32])>() else {
		return Err(String::from("committed, but this node no longer has the reports to reveal"));
	};
	let reveal = BatchReveal::<T> { batch, key: key.clone(), reports, audit, salt };
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

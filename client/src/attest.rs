//! An attestor outside the node: what the attribution pallet's attestor worker reads and submits,
//! built here in the runtime's layout. It reads the batches whose panels an attestor sits on,
//! its report on one and the pallet's parameters; it builds `commit_batch_report` and
//! `reveal_batch_report` signed by the attestor key, and submits them as the worker does:
//! authorized transactions (a v5 general extrinsic, no signer account, no nonce, no fee).
//!
//! `mnemo-demo --faults` runs a dishonest attestor on it; an operator whose attestor node is down
//! could report with it by hand. The chain checks every report the same way either way.

use crate::{blake2_128_concat, storage_prefix, twox_64_concat, Client, Error, Result, Signer, ATTRIBUTION_PALLET};
use codec::{Compact, Decode, Encode};
use mnemo_primitives::{AccountId, Balance, BatchId, BlockNumber, ContentHash, ContributionId};
use polkadot_sdk::{
	sp_core::{crypto::Pair as _, H256},
	sp_crypto_hashing::blake2_256,
	sp_runtime::{generic::Era, Perbill},
};

/// The runtime's pallet index of `pallet_sudo`.
pub const SUDO_PALLET: u8 = 15;

/// A contribution's share in a report.
pub type Score = (ContributionId, Perbill);

/// The attribution pallet's `Params` (same fields, same order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Params {
	pub assigned: u32,
	pub quorum: u32,
	pub min_reports: u32,
	pub commit_period: BlockNumber,
	pub reveal_period: BlockNumber,
	pub challenge_window: BlockNumber,
	pub resolution_period: BlockNumber,
	pub retention: BlockNumber,
	pub tolerance: Perbill,
	pub strikes_to_slash: u32,
	pub strike_window: BlockNumber,
	pub strike_slash: Perbill,
	pub challenge_slash: Perbill,
	pub min_fee: Balance,
	pub max_voucher_lifetime: BlockNumber,
}

/// A panel attestor's report on one sampled leaf (the pallet's `SampleReport`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SampleReport {
	/// Prompt and generated tokens, counted from the transcript.
	pub tokens: u32,
	/// The engine's digest of its attribution inputs.
	pub digest: ContentHash,
	/// Ascending by contribution, no zeros, summing to at most 100%.
	pub scores: Vec<Score>,
}

/// A panel attestor's finding on a batch as a whole (the pallet's `BatchAudit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum BatchAudit {
	/// Some fee, total or payout does not add up.
	DoesNotAddUp,
	/// Every fee, total and payout adds up.
	AddsUp,
	/// The operator did not serve the batch's content; no sampled report goes with it.
	Unavailable,
}

/// A panel attestor's report on a batch, once committed (the pallet's `BatchReport`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BatchReport {
	pub commitment: [u8; 32],
	pub revealed: Option<(Vec<SampleReport>, BatchAudit)>,
}

/// `commit_batch_report`'s payload, signed by the attestor key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BatchCommit {
	pub batch: BatchId,
	/// The attestor key (sr25519 public key).
	pub key: [u8; 32],
	pub commitment: [u8; 32],
}

/// `reveal_batch_report`'s payload, signed by the attestor key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BatchReveal {
	pub batch: BatchId,
	pub key: [u8; 32],
	/// One per sampled leaf, in the sample's order (none when `Unavailable`).
	pub reports: Vec<SampleReport>,
	/// Whether the batch's totals and payouts add up, or whether it could not be had.
	pub audit: BatchAudit,
	pub salt: [u8; 32],
}

/// What a panel attestor commits to (the pallet's `batch_commitment`): blake2-256 of the domain
/// tag, the batch, the attestor's account, the reports, the finding on the batch and the salt.
pub fn batch_commitment(batch: BatchId, attestor: &AccountId, reports: &[SampleReport], audit: BatchAudit, salt: &[u8; 32]) -> [u8; 32] {
	(b"mnemo/attribution/batch-commit", batch, attestor, reports, audit, salt).using_encoded(blake2_256)
}

/// `Attribution::commit_batch_report(commit, signature)`, signed by `key` (the attestor key).
pub fn commit_batch_report_call(commit: &BatchCommit, key: &Signer) -> Vec<u8> {
	let mut c = vec![ATTRIBUTION_PALLET, 13];
	commit.encode_to(&mut c);
	key.pair().sign(&commit.encode()).encode_to(&mut c);
	c
}

/// `Attribution::reveal_batch_report(reveal, signature)`, signed by `key`.
pub fn reveal_batch_report_call(reveal: &BatchReveal, key: &Signer) -> Vec<u8> {
	let mut c = vec![ATTRIBUTION_PALLET, 14];
	reveal.encode_to(&mut c);
	key.pair().sign(&reveal.encode()).encode_to(&mut c);
	c
}

/// `Attribution::set_params(params)` (the governance origin: wrap it in [`sudo_call`] on a dev
/// chain).
pub fn set_params_call(params: &Params) -> Vec<u8> {
	let mut c = vec![ATTRIBUTION_PALLET, 9];
	params.encode_to(&mut c);
	c
}

/// `Sudo::sudo(call)`.
pub fn sudo_call(call: &[u8]) -> Vec<u8> {
	let mut c = vec![SUDO_PALLET, 0];
	c.extend_from_slice(call);
	c
}

impl Client {
	/// An authorized transaction of `call`: a v5 general extrinsic with the runtime's extensions
	/// (`AuthorizeCall` first, which lets the call's own `authorize` check its signature) and no
	/// signer: immortal, nonce 0, no tip, metadata-hash check off.
	pub fn authorized_extrinsic(&self, call: &[u8]) -> Vec<u8> {
		// Format 5 | general; extension version 0; the explicit parts (era, nonce, tip, mode).
		let mut ext = vec![0x45u8, 0];
		(Era::Immortal, Compact(0u32), Compact(0 as Balance), 0u8).encode_to(&mut ext);
		ext.extend_from_slice(call);
		let mut out = Compact(ext.len() as u32).encode();
		out.extend(ext);
		out
	}

	/// Submits an encoded extrinsic to the pool; its hash. The pool's refusal is an error naming
	/// why (`author_submitExtrinsic`).
	pub fn submit_extrinsic(&self, ext: &[u8]) -> Result<H256> {
		let v = self.call(
			"author_submitExtrinsic",
			serde_json::json!([format!("0x{}", hex::encode(ext))]),
		)?;
		self.hex_result("author_submitExtrinsic", &v)?
			.filter(|b| b.len() == 32)
			.map(|b| H256::from_slice(&b))
			.ok_or_else(|| Error::Decode {
				method: "author_submitExtrinsic".into(),
				msg: format!("no hash: {v}"),
			})
	}

	/// The attribution pallet's parameters (`None`: the pallet's defaults are in force).
	pub fn attribution_params(&self) -> Result<Option<Params>> {
		self.storage_value(&storage_prefix("Attribution", "CurrentParams"))
	}

	/// `attestor`'s report on batch `id`, once committed.
	pub fn batch_report(&self, id: BatchId, attestor: &AccountId) -> Result<Option<BatchReport>> {
		let mut k = storage_prefix("Attribution", "BatchReports");
		twox_64_concat(&id, &mut k);
		blake2_128_concat(attestor, &mut k);
		self.storage_value(&k)
	}

	/// The batches whose panels `attestor` sits on that await its commitment or reveal (the
	/// pallet's `attestor` view function; empty if it is not an attestor).
	pub fn panels(&self, attestor: &AccountId) -> Result<Vec<BatchId>> {
		let v: Option<(AttestorRecord, Vec<BatchId>)> =
			self.view("Attribution", "attestor(T::AccountId) -> Option<(Attestor<T>,Vec<BatchId>)>", attestor)?;
		Ok(v.map(|(_, b)| b).unwrap_or_default())
	}
}

/// An attestor's record (the pallet's `Attestor`, same fields, same order).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AttestorRecord {
	pub key: [u8; 32],
	pub bond: Balance,
	pub strikes: u32,
	pub window_start: BlockNumber,
	pub open: u32,
	pub active: bool,
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn calls_and_keys_have_the_runtime_layout() {
		let key = Signer::from_suri("//Mallory").unwrap();
		let commit = BatchCommit { batch: 7, key: key.account().into(), commitment: [3; 32] };
		let call = commit_batch_report_call(&commit, &key);
		assert_eq!(&call[..2], &[54, 13]);
		assert_eq!(call.len(), 2 + 8 + 32 + 32 + 64, "commit, then a bare 64-byte sr25519 signature");
		let sig = polkadot_sdk::sp_core::sr25519::Signature::from_raw(call[call.len() - 64..].try_into().unwrap());
		assert!(polkadot_sdk::sp_core::sr25519::Pair::verify(&sig, commit.encode(), &key.pair().public()));
		let reports = vec![SampleReport { tokens: 40, digest: ContentHash([1; 32]), scores: vec![(4, Perbill::one())] }];
		let reveal = BatchReveal { batch: 7, key: commit.key, reports: reports.clone(), audit: BatchAudit::AddsUp, salt: [9; 32] };
		assert_eq!(&reveal_batch_report_call(&reveal, &key)[..2], &[54, 14]);
		assert_eq!(&sudo_call(&[54, 9])[..], &[15, 0, 54, 9]);
		// The commitment binds every part.
		let who = key.account();
		let c = batch_commitment(7, &who, &reports, BatchAudit::AddsUp, &[9; 32]);
		assert_ne!(c, batch_commitment(8, &who, &reports, BatchAudit::AddsUp, &[9; 32]));
		assert_ne!(c, batch_commitment(7, &who, &reports, BatchAudit::DoesNotAddUp, &[9; 32]));
		assert_ne!(c, batch_commitment(7, &who, &reports, BatchAudit::Unavailable, &[9; 32]));
		assert_ne!(c, batch_commitment(7, &who, &[], BatchAudit::AddsUp, &[9; 32]));
		assert_ne!(c, batch_commitment(7, &who, &reports, BatchAudit::AddsUp, &[8; 32]));
		// The finding is the byte the runtime reads: 0, 1 (the booleans it replaced), 2.
		assert_eq!(vec![BatchAudit::DoesNotAddUp, BatchAudit::AddsUp, BatchAudit::Unavailable].encode(), vec![3 << 2, 0, 1, 2]);
	}

	#[test]
	fn an_authorized_extrinsic_is_a_v5_general_one() {
		let c = Client { url: String::new(), agent: ureq::Agent::new_with_defaults(), genesis: H256::zero(), spec_version: 1, tx_version: 1 };
		let ext = c.authorized_extrinsic(&[54, 13, 42]);
		// Length 9: format byte, extension version, era, nonce, tip, mode, the call.
		assert_eq!(ext, vec![9 << 2, 0x45, 0, 0, 0, 0, 0, 54, 13, 42]);
	}
}

//! An attestor outside the node: what the attribution pallet's attestor worker reads and submits,
//! built here in the runtime's layout. It reads an attestor's assignments, a receipt and its
//! phase, a report and the pallet's parameters; it builds `commit_report` and `reveal_report`
//! signed by the attestor key, and submits them as the worker does: authorized transactions (a
//! v5 general extrinsic, no signer account, no nonce, no fee).
//!
//! `mnemo-demo --faults` runs a dishonest attestor on it; an operator whose attestor node is down
//! could report with it by hand. The chain checks every report the same way either way.

use crate::{
	blake2_128_concat, map_key, storage_prefix, twox_64_concat, Client, Error, Result, Signer, ATTRIBUTION_PALLET,
};
use codec::{Compact, Decode, Encode};
use mnemo_primitives::{
	AccountId, AdapterId, Balance, BlockNumber, ContentHash, ContributionId, ReceiptId, RequestId,
};
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

/// Where a receipt is (the pallet's `Phase`; a refund's reason as its index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Phase {
	Commit {
		until: BlockNumber,
	},
	Reveal {
		until: BlockNumber,
	},
	Settled {
		at: BlockNumber,
		release_at: BlockNumber,
	},
	Refunded {
		at: BlockNumber,
		why: u8,
	},
}

/// An inference receipt (the pallet's `Receipt`, same fields, same order).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Receipt {
	pub operator: AccountId,
	pub payer: AccountId,
	pub request: RequestId,
	pub adapter: AdapterId,
	pub input_tokens: u32,
	pub output_tokens: u32,
	pub transcript: ContentHash,
	pub fee: Balance,
	pub recorded_at: BlockNumber,
	pub voucher_expires_at: BlockNumber,
	pub assigned: Vec<AccountId>,
	pub phase: Phase,
}

/// One attestor's report on a receipt: its commitment and, once revealed, digest and scores.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Report {
	pub commitment: [u8; 32],
	pub revealed: Option<(ContentHash, Vec<Score>)>,
}

/// `commit_report`'s payload, signed by the attestor key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Commit {
	pub receipt: ReceiptId,
	/// The attestor key (sr25519 public key).
	pub key: [u8; 32],
	pub commitment: [u8; 32],
}

/// `reveal_report`'s payload, signed by the attestor key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Reveal {
	pub receipt: ReceiptId,
	pub key: [u8; 32],
	pub digest: ContentHash,
	/// Ascending by contribution, no zeros, summing to at most 100%.
	pub scores: Vec<Score>,
	pub salt: [u8; 32],
}

/// What an attestor commits to (the pallet's `commitment`): blake2-256 of the domain tag, the
/// receipt, the attestor's account, the digest, the scores and the salt.
pub fn commitment(
	receipt: ReceiptId,
	attestor: &AccountId,
	digest: &ContentHash,
	scores: &[Score],
	salt: &[u8; 32],
) -> [u8; 32] {
	(
		b"mnemo/attribution/commit",
		receipt,
		attestor,
		digest,
		scores,
		salt,
	)
		.using_encoded(blake2_256)
}

/// `Attribution::commit_report(commit, signature)`, signed by `key` (the attestor key).
pub fn commit_report_call(commit: &Commit, key: &Signer) -> Vec<u8> {
	let mut c = vec![ATTRIBUTION_PALLET, 5];
	commit.encode_to(&mut c);
	key.pair().sign(&commit.encode()).encode_to(&mut c);
	c
}

/// `Attribution::reveal_report(reveal, signature)`, signed by `key`.
pub fn reveal_report_call(reveal: &Reveal, key: &Signer) -> Vec<u8> {
	let mut c = vec![ATTRIBUTION_PALLET, 6];
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

	/// A receipt, while it is in state.
	pub fn receipt(&self, id: ReceiptId) -> Result<Option<Receipt>> {
		let mut k = storage_prefix("Attribution", "Receipts");
		twox_64_concat(&id, &mut k);
		self.storage_value(&k)
	}

	/// `attestor`'s report on receipt `id`, once committed.
	pub fn report(&self, id: ReceiptId, attestor: &AccountId) -> Result<Option<Report>> {
		let mut k = storage_prefix("Attribution", "Reports");
		twox_64_concat(&id, &mut k);
		blake2_128_concat(attestor, &mut k);
		self.storage_value(&k)
	}

	/// The receipts `attestor` is assigned to and has not revealed yet (at most 1,000).
	pub fn assignments(&self, attestor: &AccountId) -> Result<Vec<ReceiptId>> {
		let p = map_key("Attribution", "Assignments", attestor);
		let v = self.call(
			"state_getKeysPaged",
			serde_json::json!([format!("0x{}", hex::encode(&p)), 1000]),
		)?;
		let keys = v.as_array().ok_or_else(|| Error::Decode {
			method: "state_getKeysPaged".into(),
			msg: v.to_string(),
		})?;
		let mut out = Vec::new();
		for k in keys {
			let bytes = self
				.hex_result("state_getKeysPaged", k)?
				.unwrap_or_default();
			// The prefix, then twox64(id) ++ id.
			let id = bytes
				.get(p.len() + 8..)
				.and_then(|mut rest| ReceiptId::decode(&mut rest).ok())
				.ok_or_else(|| Error::Decode {
					method: "state_getKeysPaged".into(),
					msg: format!("not an Assignments key: 0x{}", hex::encode(&bytes)),
				})?;
			out.push(id);
		}
		Ok(out)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn calls_and_keys_have_the_runtime_layout() {
		let key = Signer::from_suri("//Mallory").unwrap();
		let commit = Commit {
			receipt: 7,
			key: key.account().into(),
			commitment: [3; 32],
		};
		let call = commit_report_call(&commit, &key);
		assert_eq!(&call[..2], &[54, 5]);
		assert_eq!(
			call.len(),
			2 + 8 + 32 + 32 + 64,
			"commit, then a bare 64-byte sr25519 signature"
		);
		let sig = polkadot_sdk::sp_core::sr25519::Signature::from_raw(
			call[call.len() - 64..].try_into().unwrap(),
		);
		assert!(polkadot_sdk::sp_core::sr25519::Pair::verify(
			&sig,
			commit.encode(),
			&key.pair().public()
		));
		let reveal = Reveal {
			receipt: 7,
			key: commit.key,
			digest: ContentHash([1; 32]),
			scores: vec![(4, Perbill::one())],
			salt: [9; 32],
		};
		assert_eq!(&reveal_report_call(&reveal, &key)[..2], &[54, 6]);
		assert_eq!(&sudo_call(&[54, 9])[..], &[15, 0, 54, 9]);
		// The commitment binds every part.
		let who = key.account();
		let c = commitment(7, &who, &reveal.digest, &reveal.scores, &reveal.salt);
		assert_ne!(
			c,
			commitment(8, &who, &reveal.digest, &reveal.scores, &reveal.salt)
		);
		assert_ne!(
			c,
			commitment(
				7,
				&who,
				&reveal.digest,
				&[(4, Perbill::from_percent(99))],
				&reveal.salt
			)
		);
		assert_ne!(
			c,
			commitment(7, &who, &reveal.digest, &reveal.scores, &[8; 32])
		);
		// A phase decodes as the pallet encodes it: variant index, then its fields.
		assert_eq!(
			Phase::decode(&mut &[1u8, 5, 0, 0, 0][..]).unwrap(),
			Phase::Reveal { until: 5 }
		);
		assert_eq!(
			Phase::decode(&mut &[3u8, 9, 0, 0, 0, 2][..]).unwrap(),
			Phase::Refunded { at: 9, why: 2 }
		);
	}

	#[test]
	fn an_authorized_extrinsic_is_a_v5_general_one() {
		let c = Client {
			url: String::new(),
			agent: ureq::Agent::new_with_defaults(),
			genesis: H256::zero(),
			spec_version: 1,
			tx_version: 1,
		};
		let ext = c.authorized_extrinsic(&[54, 5, 42]);
		// Length 9: format byte, extension version, era, nonce, tip, mode, the call.
		assert_eq!(ext, vec![9 << 2, 0x45, 0, 0, 0, 0, 0, 54, 5, 42]);
	}
}

//! The validation worker: asks the engine about new pending contributions and submits what it
//! says as an authorized (feeless, nonce-free) transaction signed by a validator key.
//!
//! Each block, on a node whose keystore holds a `dnet` key that some datanet appointed and
//! whose operator set the engine URL (`mnemo_setEngineUrl`), the worker takes up to
//! `MaxValidationsPerBlock` contributions from `AwaitingValidation`, calls
//! `POST /v1/datanets/{id}/validate`, and submits `submit_validation`. A node-local mark keeps it
//! from asking twice about one contribution within [`RETRY_AFTER`] blocks; the pool's `provides`
//! tag (the contribution id) keeps two nodes' reports from both landing.

use crate::{frame_support, frame_system};
use crate::{pallet::*, types::*, LOG_TARGET};
use frame_support::traits::Get;
use alloc::{string::String, vec::Vec};
use codec::Encode;
use frame_system::{
	offchain::{CreateAuthorizedTransaction, SubmitTransaction},
	pallet_prelude::BlockNumberFor,
};
use mnemo_primitives::{
	engine::{fraction_to_perbill, ValidateRequest},
	ContributionId,
};
use polkadot_sdk::sp_application_crypto::RuntimeAppPublic;

/// Blocks before a worker asks the engine again about a contribution it already asked about.
pub const RETRY_AFTER: u32 = 5;

/// How many entries of `AwaitingValidation` a worker looks at per block, per report it may send.
const SCAN_FACTOR: u32 = 4;

pub(crate) fn run<T: Config>(now: BlockNumberFor<T>) {
	let keys = T::ValidatorId::all();
	if keys.is_empty() {
		return;
	}
	if let Err(e) = mnemo_ocw::engine_url() {
		log::debug!(target: LOG_TARGET, "validation worker idle: {e}");
		return;
	}
	let now: u32 = now.try_into().unwrap_or(u32::MAX);
	let budget = T::MaxValidationsPerBlock::get();
	let mut sent = 0u32;
	for id in AwaitingValidation::<T>::iter_keys().take((budget * SCAN_FACTOR) as usize) {
		if sent >= budget {
			break;
		}
		let Some(c) = Contributions::<T>::get(id) else { continue };
		if c.status != Status::Pending || c.validation.is_some() {
			continue;
		}
		let Some(d) = Registry::<T>::get(c.datanet) else { continue };
		let Some(key) = keys.iter().find(|k| d.rules.validators.contains(k)) else { continue };
		if !claim(id, now) {
			continue;
		}
		sent += 1;
		match validate_one::<T>(id, &c, &d, key.clone()) {
			Ok(()) => log::info!(target: LOG_TARGET, "validation of contribution {id} submitted"),
			Err(e) => log::warn!(target: LOG_TARGET, "validation of contribution {id}: {e}"),
		}
	}
}

/// Mark `id` as asked about at `now`, unless it was asked about less than `RETRY_AFTER` blocks ago.
fn claim(id: ContributionId, now: u32) -> bool {
	let mut key = Vec::from(&b"mnemo::datanets::validating::"[..]);
	key.extend_from_slice(&id.to_le_bytes());
	mnemo_ocw::mark_unless_recent(&key, now, RETRY_AFTER)
}

fn validate_one<T: Config>(
	id: ContributionId,
	c: &Contribution<T>,
	d: &Datanet<T>,
	key: T::ValidatorId,
) -> Result<(), String> {
	let req = ValidateRequest {
		datanet: c.datanet,
		contribution: id,
		content_hash: c.content_hash,
		byte_len: c.byte_len,
		row_count: c.row_count,
		kind: d.kind.as_str().into(),
	};
	let resp = mnemo_ocw::validate_contribution(&req).map_err(|e| alloc::format!("{e}"))?;
	let fraction = |name: &str, x: f64| {
		fraction_to_perbill(x).ok_or_else(|| alloc::format!("engine's {name} {x} is not in [0, 1]"))
	};
	let validation = Validation {
		schema_ok: resp.schema_ok,
		exact_duplicate: resp.exact_duplicate,
		near_duplicate: fraction("near_duplicate", resp.near_duplicate)?,
		quality: fraction("quality", resp.quality)?,
	};
	let report =
		ValidationReport { contribution: id, content_hash: c.content_hash, validation, validator: key };
	let signature = report
		.validator
		.sign(&report.encode())
		.ok_or_else(|| String::from("the keystore could not sign with the validator key"))?;
	let call = Call::<T>::submit_validation { report, signature };
	let xt = <T as CreateAuthorizedTransaction<Call<T>>>::create_authorized_transaction(call.into());
	SubmitTransaction::<T, Call<T>>::submit_transaction(xt)
		.map_err(|_| String::from("the transaction pool refused the report"))
}

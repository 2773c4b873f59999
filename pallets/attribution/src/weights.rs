//! Weights for `pallet_attribution`.
//!
//! The `WeightInfo` trait lists one function per benchmark in `benchmarking.rs`.
//!
//! NOT YET GENERATED: the numbers below are estimates, not measurements. The database reads and
//! writes are counted from the code of each call's worst case (including what the rewards
//! pallet does behind the escrow and sink seams); the compute time is a rounded-up guess. They
//! are to be replaced by `scripts/bench-weights`,
//! which runs the benchmarks with a release `mnemo-node` (see `pallets/README.md`).

#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use core::marker::PhantomData;
use polkadot_sdk::frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, Weight},
};

/// Weight functions needed for `pallet_attribution`.
pub trait WeightInfo {
	fn register_operator() -> Weight;
	fn unregister_operator() -> Weight;
	fn register_attestor(a: u32) -> Weight;
	fn unregister_attestor(a: u32) -> Weight;
	fn authorize_report() -> Weight;
	fn set_params() -> Weight;
	fn on_initialize(d: u32) -> Weight;
	fn prune_batch() -> Weight;
	fn prune_idle() -> Weight;
	fn submit_batch(p: u32) -> Weight;
	fn open_sample(s: u32) -> Weight;
	fn prove_fraud(p: u32) -> Weight;
	fn commit_batch_report() -> Weight;
	fn reveal_batch_report(k: u32) -> Weight;
}

macro_rules! weights {
	($db:expr) => {
		fn submit_batch(p: u32) -> Weight {
			// Per payer: a signature check, its channel, its hold, both balances, the charge.
			Weight::from_parts(30_000_000, 4000)
				.saturating_add(Weight::from_parts(90_000_000, 6000).saturating_mul(p.into()))
				.saturating_add($db.reads(4_u64 + 5 * p as u64))
				.saturating_add($db.writes(4_u64 + 5 * p as u64))
		}
		fn open_sample(s: u32) -> Weight {
			// Per sampled leaf: a leaf hash, a path of up to 13 hashes.
			Weight::from_parts(20_000_000, 4000)
				.saturating_add(Weight::from_parts(2_000_000, 0).saturating_mul(s.into()))
				.saturating_add($db.reads(3_u64))
				.saturating_add($db.writes(3_u64))
		}
		fn commit_batch_report() -> Weight {
			Weight::from_parts(30_000_000, 4000)
				.saturating_add($db.reads(4_u64))
				.saturating_add($db.writes(3_u64))
		}
		fn reveal_batch_report(k: u32) -> Weight {
			// The verdict: per sampled leaf (16) the panel's reports aggregated; strikes; the
			// payout or the refund.
			Weight::from_parts(200_000_000, 20_000)
				.saturating_add(Weight::from_parts(4_000_000, 0).saturating_mul(k.into()))
				.saturating_add($db.reads(12_u64))
				.saturating_add($db.writes(12_u64))
		}
		fn prove_fraud(p: u32) -> Weight {
			// A leaf's hash and path, its signature, then the batch's refund: per payer its
			// channel, its hold and both balances; the operator's bond.
			Weight::from_parts(80_000_000, 6000)
				.saturating_add(Weight::from_parts(40_000_000, 6000).saturating_mul(p.into()))
				.saturating_add($db.reads(6_u64 + 4 * p as u64))
				.saturating_add($db.writes(6_u64 + 4 * p as u64))
		}
		fn register_operator() -> Weight {
			Weight::from_parts(30_000_000, 4000)
				.saturating_add($db.reads(2_u64))
				.saturating_add($db.writes(2_u64))
		}
		fn unregister_operator() -> Weight {
			Weight::from_parts(30_000_000, 4000)
				.saturating_add($db.reads(2_u64))
				.saturating_add($db.writes(2_u64))
		}
		fn register_attestor(a: u32) -> Weight {
			Weight::from_parts(35_000_000, 4000)
				.saturating_add(Weight::from_parts(50_000, 32).saturating_mul(a.into()))
				.saturating_add($db.reads(5_u64))
				.saturating_add($db.writes(5_u64))
		}
		fn unregister_attestor(a: u32) -> Weight {
			Weight::from_parts(35_000_000, 4000)
				.saturating_add(Weight::from_parts(50_000, 32).saturating_mul(a.into()))
				.saturating_add($db.reads(4_u64))
				.saturating_add($db.writes(5_u64))
		}
		fn authorize_report() -> Weight {
			// Signature check, key index, receipt, assignment or report, training data.
			Weight::from_parts(60_000_000, 4000).saturating_add($db.reads(8_u64))
		}
		fn set_params() -> Weight {
			Weight::from_parts(10_000_000, 0).saturating_add($db.writes(1_u64))
		}
		fn on_initialize(d: u32) -> Weight {
			// Each due batch at its worst: a verdict over the panel's reports on every sampled
			// leaf, or a refund of every payer's charge (an estimate, as below).
			Weight::from_parts(3_000_000, 1500)
				.saturating_add(Weight::from_parts(260_000_000, 110_000).saturating_mul(d.into()))
				.saturating_add($db.reads(1_u64 + 156 * d as u64))
				.saturating_add($db.writes(1_u64 + 104 * d as u64))
		}
		fn prune_batch() -> Weight {
			Weight::from_parts(25_000_000, 6000).saturating_add($db.reads(3_u64)).saturating_add($db.writes(3_u64))
		}
		fn prune_idle() -> Weight {
			Weight::from_parts(3_000_000, 1500).saturating_add($db.reads(3_u64)).saturating_add($db.writes(1_u64))
		}
	};
}

/// Weights for `pallet_attribution` using the node's recommended hardware.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: polkadot_sdk::frame_system::Config> WeightInfo for SubstrateWeight<T> {
	weights!(T::DbWeight::get());
}

// For backwards compatibility and tests.
impl WeightInfo for () {
	weights!(RocksDbWeight::get());
}

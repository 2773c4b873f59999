//! Weights for `pallet_models`.
//!
//! The `WeightInfo` trait lists one function per benchmark in `benchmarking.rs`.
//!
//! NOT YET GENERATED: the numbers below are estimates, not measurements. The database reads and
//! writes are counted from the code of each call's worst case; the compute time is a rounded-up
//! guess. They are to be replaced by `scripts/bench-weights`,
//! which runs the benchmarks with a release `mnemo-node` (see `pallets/README.md`).

#![allow(unused_parens)]
#![allow(unused_imports)]
#![allow(missing_docs)]

use core::marker::PhantomData;
use polkadot_sdk::frame_support::{
	traits::Get,
	weights::{constants::RocksDbWeight, Weight},
};

/// Weight functions needed for `pallet_models`.
pub trait WeightInfo {
	fn propose_model(d: u32) -> Weight;
	fn withdraw_model() -> Weight;
	fn approve_model() -> Weight;
	fn reject_model() -> Weight;
	fn register_trainer() -> Weight;
	fn unregister_trainer() -> Weight;
	fn claim_job() -> Weight;
	fn report_training() -> Weight;
	fn attest_evaluation(t: u32) -> Weight;
	fn authorize_trainer() -> Weight;
	fn deploy() -> Weight;
	fn set_price() -> Weight;
	fn retire() -> Weight;
	fn set_settings() -> Weight;
	fn on_initialize_idle() -> Weight;
	fn expire_job() -> Weight;
}

macro_rules! weights {
	($db:expr) => {
		fn propose_model(d: u32) -> Weight {
			// Datanet versions checked one read each; governance opens the proposal.
			Weight::from_parts(60_000_000, 8000)
				.saturating_add(Weight::from_parts(3_000_000, 2600).saturating_mul(d.into()))
				.saturating_add($db.reads(8_u64 + d as u64))
				.saturating_add($db.writes(10_u64))
		}
		fn withdraw_model() -> Weight {
			Weight::from_parts(35_000_000, 6000)
				.saturating_add($db.reads(3_u64))
				.saturating_add($db.writes(4_u64))
		}
		fn approve_model() -> Weight {
			Weight::from_parts(35_000_000, 6000)
				.saturating_add($db.reads(3_u64))
				.saturating_add($db.writes(6_u64))
		}
		fn reject_model() -> Weight {
			Weight::from_parts(40_000_000, 6000)
				.saturating_add($db.reads(4_u64))
				.saturating_add($db.writes(5_u64))
		}
		fn register_trainer() -> Weight {
			Weight::from_parts(35_000_000, 4000)
				.saturating_add($db.reads(4_u64))
				.saturating_add($db.writes(5_u64))
		}
		fn unregister_trainer() -> Weight {
			Weight::from_parts(30_000_000, 4000)
				.saturating_add($db.reads(2_u64))
				.saturating_add($db.writes(5_u64))
		}
		fn claim_job() -> Weight {
			Weight::from_parts(35_000_000, 8000)
				.saturating_add($db.reads(7_u64))
				.saturating_add($db.writes(6_u64))
		}
		fn report_training() -> Weight {
			Weight::from_parts(45_000_000, 10000)
				.saturating_add($db.reads(8_u64))
				.saturating_add($db.writes(6_u64))
		}
		fn attest_evaluation(t: u32) -> Weight {
			// A confirming quorum registers the adapter and clears up to `t` attestations.
			Weight::from_parts(60_000_000, 12000)
				.saturating_add(Weight::from_parts(1_500_000, 2500).saturating_mul(t.into()))
				.saturating_add($db.reads(10_u64))
				.saturating_add($db.writes(12_u64 + t as u64))
		}
		fn authorize_trainer() -> Weight {
			// Signature check plus the reads of the check.
			Weight::from_parts(50_000_000, 8000).saturating_add($db.reads(6_u64))
		}
		fn deploy() -> Weight {
			Weight::from_parts(30_000_000, 6000)
				.saturating_add($db.reads(3_u64))
				.saturating_add($db.writes(4_u64))
		}
		fn set_price() -> Weight {
			Weight::from_parts(20_000_000, 5000)
				.saturating_add($db.reads(2_u64))
				.saturating_add($db.writes(1_u64))
		}
		fn retire() -> Weight {
			Weight::from_parts(25_000_000, 6000)
				.saturating_add($db.reads(2_u64))
				.saturating_add($db.writes(3_u64))
		}
		fn set_settings() -> Weight {
			Weight::from_parts(12_000_000, 0).saturating_add($db.writes(1_u64))
		}
		fn on_initialize_idle() -> Weight {
			Weight::from_parts(4_000_000, 1500).saturating_add($db.reads(1_u64))
		}
		fn expire_job() -> Weight {
			// A timed-out claim: slash, requeue, clear attestations.
			Weight::from_parts(60_000_000, 12000)
				.saturating_add($db.reads(6_u64))
				.saturating_add($db.writes(8_u64))
		}
	};
}

/// Weights for `pallet_models` using the node's recommended hardware.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: polkadot_sdk::frame_system::Config> WeightInfo for SubstrateWeight<T> {
	weights!(T::DbWeight::get());
}

// For backwards compatibility and tests.
impl WeightInfo for () {
	weights!(RocksDbWeight::get());
}

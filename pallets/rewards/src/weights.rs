//! Weights for `pallet_rewards`.
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

/// Weight functions needed for `pallet_rewards`.
pub trait WeightInfo {
	fn open_channel() -> Weight;
	fn top_up() -> Weight;
	fn close_channel() -> Weight;
	fn finish_close() -> Weight;
	fn claim() -> Weight;
	fn set_params() -> Weight;
	fn claim_payout(d: u32) -> Weight;
}

macro_rules! weights {
	($db:expr) => {
		fn open_channel() -> Weight {
			// The channel, the count, the hold (account and holds).
			Weight::from_parts(30_000_000, 4000)
				.saturating_add($db.reads(4_u64))
				.saturating_add($db.writes(4_u64))
		}
		fn top_up() -> Weight {
			Weight::from_parts(30_000_000, 4000)
				.saturating_add($db.reads(3_u64))
				.saturating_add($db.writes(3_u64))
		}
		fn close_channel() -> Weight {
			Weight::from_parts(18_000_000, 3000)
				.saturating_add($db.reads(2_u64))
				.saturating_add($db.writes(1_u64))
		}
		fn finish_close() -> Weight {
			// The channel, the count, the release (account and holds).
			Weight::from_parts(30_000_000, 4000)
				.saturating_add($db.reads(4_u64))
				.saturating_add($db.writes(4_u64))
		}
		fn claim() -> Weight {
			Weight::from_parts(40_000_000, 6000)
				.saturating_add($db.reads(4_u64))
				.saturating_add($db.writes(4_u64))
		}
		fn set_params() -> Weight {
			Weight::from_parts(10_000_000, 0).saturating_add($db.writes(1_u64))
		}
		fn claim_payout(d: u32) -> Weight {
			// The operator's book (32 roots), what the account claimed before, its ledger, both
			// balances, a hash per level.
			Weight::from_parts(40_000_000, 5000)
				.saturating_add(Weight::from_parts(30_000, 0).saturating_mul(d.into()))
				.saturating_add($db.reads(5_u64))
				.saturating_add($db.writes(5_u64))
		}
	};
}

/// Weights for `pallet_rewards` using the node's recommended hardware.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: polkadot_sdk::frame_system::Config> WeightInfo for SubstrateWeight<T> {
	weights!(T::DbWeight::get());
}

// For backwards compatibility and tests.
impl WeightInfo for () {
	weights!(RocksDbWeight::get());
}

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
	fn charge() -> Weight;
	fn settle(c: u32, a: u32) -> Weight;
	fn refund_escrowed() -> Weight;
	fn refund_pending(p: u32) -> Weight;
	fn release(r: u32) -> Weight;
	fn on_initialize_idle() -> Weight;
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
		fn charge() -> Weight {
			// Channel, the payer's hold, both balances, escrow, three spend totals, the totals.
			Weight::from_parts(60_000_000, 8000)
				.saturating_add($db.reads(10_u64))
				.saturating_add($db.writes(9_u64))
		}
		fn settle(c: u32, a: u32) -> Weight {
			// The split, a release slot (up to the slack), and each payee's ledger.
			Weight::from_parts(50_000_000, 10000)
				.saturating_add(Weight::from_parts(2_000_000, 2600).saturating_mul((2 * c + a).into()))
				.saturating_add($db.reads(6_u64 + 2 * c as u64 + a as u64))
				.saturating_add($db.writes(5_u64 + 2 * c as u64 + a as u64))
		}
		fn refund_escrowed() -> Weight {
			Weight::from_parts(50_000_000, 8000)
				.saturating_add($db.reads(8_u64))
				.saturating_add($db.writes(8_u64))
		}
		fn refund_pending(p: u32) -> Weight {
			Weight::from_parts(50_000_000, 8000)
				.saturating_add(Weight::from_parts(1_000_000, 2600).saturating_mul(p.into()))
				.saturating_add($db.reads(8_u64 + p as u64))
				.saturating_add($db.writes(8_u64 + p as u64))
		}
		fn release(r: u32) -> Weight {
			// Each settlement at its largest: 42 payees (ledger and recent credits each) and 16
			// contributions.
			Weight::from_parts(5_000_000, 1500)
				.saturating_add(Weight::from_parts(120_000_000, 60_000).saturating_mul(r.into()))
				.saturating_add($db.reads(2_u64 + 101 * r as u64))
				.saturating_add($db.writes(2_u64 + 101 * r as u64))
		}
		fn claim_payout(d: u32) -> Weight {
			// The operator's book (32 roots), what the account claimed before, its ledger, both
			// balances, a hash per level.
			Weight::from_parts(40_000_000, 5000)
				.saturating_add(Weight::from_parts(30_000, 0).saturating_mul(d.into()))
				.saturating_add($db.reads(5_u64))
				.saturating_add($db.writes(5_u64))
		}
		fn on_initialize_idle() -> Weight {
			Weight::from_parts(3_000_000, 1500).saturating_add($db.reads(1_u64)).saturating_add($db.writes(1_u64))
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

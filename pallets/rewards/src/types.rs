//! Domain types of the rewards pallet. The fee split itself (its parameters and the pure function
//! that applies them) is in `mnemo_primitives::rewards`, shared with the serving engine, and
//! re-exported here.

use crate::pallet::Config;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use mnemo_primitives::Balance;
pub use mnemo_primitives::rewards::*;
use polkadot_sdk::frame_support::{pallet_prelude::ConstU32, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound};
use scale_info::TypeInfo;

pub(crate) type AccountIdOf<T> = <T as polkadot_sdk::frame_system::Config>::AccountId;

/// The pallet's governance-set parameters.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
	serde::Serialize, serde::Deserialize,
)]
pub struct RewardParams<BlockNumber> {
	/// How settled fees are shared.
	pub split: FeeSplit,
	/// Blocks between a payer closing a channel and the end of its charges (then what is left
	/// of its deposit can go back). At least the operators' flush interval and the vouchers'
	/// lifetime, so that a payer cannot take an inference and leave before its receipt lands.
	pub notice: BlockNumber,
	/// Length of a spend-total period, in blocks.
	pub spend_period: BlockNumber,
}

/// A payer's payment channel to one serving operator.
///
/// The payer holds a deposit for the operator to charge; each charge names the payer's voucher
/// by its `seq` (above the channel's last) and its `cumulative` consent (the channel's `spent`
/// may never pass it). The payer closes the channel with notice, so that receipts of requests
/// the operator already answered can still land.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct Channel<BlockNumber> {
	/// Its id, unique on the chain: vouchers name it, so that a voucher for a channel that was
	/// closed is void on one opened later between the same parties.
	pub id: u64,
	/// What is left of the deposit for the operator to charge (held from the payer).
	pub balance: Balance,
	/// What was charged on the channel so far, net of refunds.
	pub spent: Balance,
	/// The `seq` of the last voucher charged (0 before the first).
	pub seq: u64,
	/// Set when the payer closes it: from this block no charge lands, and anyone may return
	/// what is left to the payer.
	pub closes_at: Option<BlockNumber>,
}

/// An account's rewards.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct Ledger {
	/// Credited and not yet claimed.
	pub claimable: Balance,
	/// Claimed so far.
	pub claimed: Balance,
	/// Everything credited to it so far, by role (payouts claimed from operators' trees are
	/// counted in `claimed` only: a running total does not say by which role).
	pub earned: RoleAmounts,
	/// Refunds that could not go back to its credit (its account was gone), claimable too.
	pub refunds: Balance,
}

impl Ledger {
	/// Whether the ledger holds nothing worth keeping.
	pub fn is_empty(&self) -> bool {
		*self == Ledger::default()
	}
}

/// A payer's spending.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct SpendTotals {
	/// Fees charged and not refunded.
	pub total: Balance,
	/// Receipts charged and not refunded.
	pub receipts: u64,
}

/// One payer's charge in a batch: drawn on `channel`, for its vouchers `after + 1..=seq`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct BatchChargeRecord {
	pub channel: u64,
	/// The channel's last voucher number before the charge.
	pub after: u64,
	/// The voucher charged.
	pub seq: u64,
	pub amount: Balance,
	pub receipts: u32,
	/// Where the payer's receipts start in the batch.
	pub first_leaf: u32,
}

/// A batch's charges, held until the batch settles or is refunded.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(T))]
pub struct BatchEscrowOf<T: Config> {
	/// The operator that submitted the batch.
	pub operator: AccountIdOf<T>,
	/// The sum of its charges.
	pub total: Balance,
	/// How many payers it charged.
	pub payers: u32,
	/// The spend period it was charged in.
	pub period: u32,
}

/// A refunded batch's escrow while its payers are given back their charges.
#[derive(CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(T))]
pub struct RefundOf<T: Config> {
	/// The escrow as it was when the batch was refunded.
	pub escrow: BatchEscrowOf<T>,
	/// How many payers are still to be given back their charge.
	pub payers_left: u32,
	/// What is still to be given back.
	pub left: Balance,
}

/// One settled batch's tree of running payouts (`mnemo_primitives::batch::Payout` leaves).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct PayoutRoot {
	pub batch: mnemo_primitives::BatchId,
	pub root: mnemo_primitives::Hash,
	/// The batch's blob: the tree's leaves are its payouts.
	pub blob: mnemo_primitives::ContentHash,
	/// How many leaves (accounts) the tree has.
	pub count: u32,
}

/// An operator's payouts. Each of its settled batches commits, for every account its batches
/// ever paid, the running total owed to it; an account claims the difference between a recent
/// root's total and what it claimed before. `settled - paid` is what the pallet account holds
/// for the operator's payees; no claim takes `paid` past `settled`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct PayoutBook {
	/// The latest settled batches' roots, oldest first (at most `RECENT_PAYOUT_ROOTS`).
	pub roots: BoundedVec<PayoutRoot, ConstU32<{ crate::RECENT_PAYOUT_ROOTS }>>,
	/// What the operator's settled batches added to its payouts, in all.
	pub settled: Balance,
	/// What was claimed from them, in all.
	pub paid: Balance,
}

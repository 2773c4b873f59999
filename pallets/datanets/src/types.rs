//! The datanet domain: what a datanet is, what a contribution is, and their invariants.

use crate::{frame_support, frame_system};
use crate::Config;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	BoundedVec, CloneNoBound, EqNoBound, PartialEqNoBound, DebugNoBound,
};
use frame_system::pallet_prelude::BlockNumberFor;
use mnemo_primitives::{ContentHash, DatanetId, DatanetVersion};
use polkadot_sdk::sp_core::H256;
use polkadot_sdk::sp_runtime::Perbill;
use scale_info::TypeInfo;

pub(crate) type BalanceOf<T> = <<T as Config>::Currency as frame_support::traits::fungible::Inspect<
	<T as frame_system::Config>::AccountId,
>>::Balance;

/// What kind of data a datanet holds. Fixed at creation: it decides the schema the engine checks.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum Kind {
	/// UTF-8 text, one row per line (or JSON lines).
	Text,
	/// Images.
	Image,
	/// Audio clips.
	Audio,
}

impl Kind {
	/// The name the engine's API uses.
	pub fn as_str(&self) -> &'static str {
		match self {
			Kind::Text => "text",
			Kind::Image => "image",
			Kind::Audio => "audio",
		}
	}
}

/// Who may contribute.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum Access {
	/// Anyone who posts the bond.
	Open,
	/// Only accounts the owner invited.
	InviteOnly,
}

/// A long description: inline (bounded) or the content hash of a document in the blob store.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
)]
#[scale_info(skip_type_params(T))]
#[codec(mel_bound())]
pub enum Description<T: Config> {
	/// The text itself, at most `MaxDescriptionLen` bytes.
	Inline(BoundedVec<u8, T::MaxDescriptionLen>),
	/// The blake2-256 of a document in the blob store.
	Hash(ContentHash),
}

/// What a datanet is about. The owner can change all of it except the kind.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
)]
#[scale_info(skip_type_params(T))]
#[codec(mel_bound())]
pub struct Metadata<T: Config> {
	/// Short name, e.g. `shakespeare-plays`.
	pub name: BoundedVec<u8, T::StringLimit>,
	/// One-line summary.
	pub summary: BoundedVec<u8, T::MaxSummaryLen>,
	/// Long description or its hash.
	pub description: Description<T>,
	/// Domain tags, e.g. `literature`, `english`.
	pub tags: BoundedVec<BoundedVec<u8, T::StringLimit>, T::MaxTags>,
	/// SPDX license identifier of the data, e.g. `CC0-1.0`.
	pub license: BoundedVec<u8, T::StringLimit>,
}

/// How many contributions one account may make per period.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Quota<BlockNumber> {
	/// Contributions per period per contributor (at least 1).
	pub per_period: u32,
	/// Length of a period in blocks (at least 1). Periods are aligned to block 0.
	pub period: BlockNumber,
}

/// The rules a datanet's owner sets and can change.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
)]
#[scale_info(skip_type_params(T))]
#[codec(mel_bound())]
pub struct Rules<T: Config> {
	/// Bond held from a contributor while the contribution is pending (at least `MinBond`).
	pub bond: BalanceOf<T>,
	/// Accounts that review contributions.
	pub curators: BoundedVec<T::AccountId, T::MaxCurators>,
	/// k: approvals that accept a contribution, and rejections that refuse it (1 ≤ k ≤ curators).
	pub threshold: u32,
	/// Share of the bond slashed to the treasury when curators reject a contribution.
	pub reject_slash: Perbill,
	/// Blocks a contribution may stay pending before it expires and its bond is returned.
	pub review_period: BlockNumberFor<T>,
	/// Contributions per contributor per period.
	pub quota: Quota<BlockNumberFor<T>>,
	/// Open to anyone, or invite-only.
	pub access: Access,
	/// Offchain keys (the pallet's key type) whose validation reports this datanet accepts.
	pub validators: BoundedVec<T::ValidatorId, T::MaxValidators>,
}

/// Open for contributions, or closed for good.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum DatanetStatus {
	/// Takes contributions.
	Open,
	/// Takes no new contributions; pending ones are still reviewed; history is kept.
	Closed,
}

/// A datanet.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound)]
#[scale_info(skip_type_params(T))]
#[codec(mel_bound())]
pub struct Datanet<T: Config> {
	/// Who configures it and publishes versions.
	pub owner: T::AccountId,
	/// The account the owner handed over to, until it accepts.
	pub pending_owner: Option<T::AccountId>,
	/// Fixed at creation.
	pub kind: Kind,
	/// What it is about.
	pub metadata: Metadata<T>,
	/// How contributions are admitted.
	pub rules: Rules<T>,
	/// Open or closed.
	pub status: DatanetStatus,
	/// Held from the owner: the creation deposit plus one per published version.
	pub deposit: BalanceOf<T>,
	/// Latest published version (0 before the first).
	pub latest_version: DatanetVersion,
	/// Contributions pending review now.
	pub pending: u32,
	/// Approved, not removed contributions now (the next version's size).
	pub live: u32,
	/// Invited accounts (invite-only datanets).
	pub invited: u32,
	/// Whether anything was approved or removed since the latest version.
	pub changed: bool,
	/// Block of creation.
	pub created_at: BlockNumberFor<T>,
}

/// Where a contribution stands.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum Status {
	/// Waiting for curators; the bond is held.
	Pending,
	/// Accepted; the bond was returned, a small record deposit stays held.
	Approved,
	/// Tombstoned: excluded from every version from `removed_in` on; it earns nothing.
	Removed,
}

/// A curator's verdict, as submitted.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
)]
#[scale_info(skip_type_params(T))]
#[codec(mel_bound())]
pub enum Verdict<T: Config> {
	/// The data belongs in the datanet.
	Approve,
	/// It does not; the reason goes into the event for the contributor.
	Reject {
		/// Why, in a few words.
		reason: BoundedVec<u8, T::StringLimit>,
	},
}

/// What the validator's engine said about a contribution. Advisory for curators, except that an
/// invalid schema or an exact duplicate rejects it at once (bond returned, never slashed).
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Validation {
	/// The blob exists, matches the declared size and rows, and parses for the datanet's kind.
	pub schema_ok: bool,
	/// Exactly the same data is already approved in the datanet.
	pub exact_duplicate: bool,
	/// Highest similarity to approved data.
	pub near_duplicate: Perbill,
	/// Quality score (higher is better).
	pub quality: Perbill,
}

/// A contribution to a datanet.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound)]
#[scale_info(skip_type_params(T))]
#[codec(mel_bound())]
pub struct Contribution<T: Config> {
	/// The datanet it belongs to.
	pub datanet: DatanetId,
	/// Who contributed it.
	pub contributor: T::AccountId,
	/// blake2-256 of the data in the blob store.
	pub content_hash: ContentHash,
	/// Declared size in bytes.
	pub byte_len: u64,
	/// Declared number of rows.
	pub row_count: u32,
	/// Where it stands.
	pub status: Status,
	/// Bond held while pending (0 once decided).
	pub bond: BalanceOf<T>,
	/// Record deposit held while the record is on chain and not removed.
	pub record_deposit: BalanceOf<T>,
	/// Block its commitment was made: the earliest commitment to a hash wins (see README).
	pub committed_at: BlockNumberFor<T>,
	/// Block it was submitted.
	pub submitted_at: BlockNumberFor<T>,
	/// Block at which it expires if still pending.
	pub expires_at: BlockNumberFor<T>,
	/// Curator approvals so far.
	pub approvals: u32,
	/// Curator rejections so far.
	pub rejections: u32,
	/// The validator's report, if one arrived.
	pub validation: Option<Validation>,
	/// First version that includes it (set at approval: the next version to be published).
	pub included_in: Option<DatanetVersion>,
	/// First version that excludes it again (set at removal).
	pub removed_in: Option<DatanetVersion>,
	/// The contributor asked the owner or governance to remove it.
	pub removal_requested: bool,
}

impl<T: Config> Contribution<T> {
	/// Whether it is part of version `v` of its datanet (published or not).
	pub fn in_version(&self, v: DatanetVersion) -> bool {
		self.included_in.is_some_and(|i| i <= v) && self.removed_in.map_or(true, |r| v < r)
	}
}

/// A commitment to contribute: `blake2_256(SCALE(datanet, content_hash, who))`, made at least one
/// block before the contribution reveals the hash.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound)]
#[scale_info(skip_type_params(T))]
#[codec(mel_bound())]
pub struct Commitment<T: Config> {
	/// Block it was made.
	pub at: BlockNumberFor<T>,
	/// Deposit held for it, returned when it is used or cancelled.
	pub deposit: BalanceOf<T>,
}

/// A published version of a datanet: every approved, not removed contribution up to it.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct VersionInfo<BlockNumber> {
	/// Contributions in it.
	pub count: u32,
	/// Sum of their declared sizes.
	pub total_bytes: u64,
	/// Sum of their declared rows.
	pub total_rows: u64,
	/// Binary merkle root (blake2-256, `binary-merkle-tree`) over their content hashes, ordered by
	/// contribution id.
	pub root: H256,
	/// Block it was published.
	pub published_at: BlockNumber,
}

/// Per (datanet, contributor): reputation and quota use.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct ContributorStats {
	/// Contributions curators approved.
	pub approved: u32,
	/// Contributions rejected (by curators or by automated validation).
	pub rejected: u32,
	/// Approved contributions later removed.
	pub removed: u32,
	/// The quota period `used` counts in.
	pub period_index: u32,
	/// Contributions made in that period.
	pub used: u32,
}

/// The report a validator's offchain worker signs and submits.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct ValidationReport<ValidatorId> {
	/// The contribution it is about.
	pub contribution: mnemo_primitives::ContributionId,
	/// The content hash the engine checked (must match the contribution).
	pub content_hash: ContentHash,
	/// What the engine found.
	pub validation: Validation,
	/// The validator key that signs it.
	pub validator: ValidatorId,
}

/// Who refused a contribution.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum RejectedBy {
	/// k curators rejected it: part of the bond was slashed.
	Curators,
	/// A validator found an invalid schema or an exact duplicate: the bond was returned.
	Validation,
}

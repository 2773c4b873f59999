//! Seams: the small traits through which Mnemo's pallets talk to each other.
//!
//! A pallet never depends on another pallet's crate. It declares what it needs as an associated
//! type on its `Config` bound by one of these traits, and the runtime plugs in the pallet that
//! provides it. Unit tests plug in mocks. The traits grow with the pallets that implement them.

use crate::{
	AdapterId, Balance, BatchId, ContentHash, ContributionId, DatanetId, DatanetVersion, ModelId,
};
use polkadot_sdk::sp_runtime::{DispatchError, Perbill};

/// Read access to datanets: which contributions are approved in which version, and whose they are.
///
/// Implemented by `pallet-datanets`; consumed by `pallet-models` (training data must exist) and
/// `pallet-attribution`/`pallet-rewards` (scores may only credit approved contributions).
pub trait DatanetsInspect<AccountId> {
	/// Whether `datanet` exists and has published `version`.
	fn version_exists(datanet: DatanetId, version: DatanetVersion) -> bool;
	/// Whether `contribution` belongs to `datanet` at `version` (approved, included by that version,
	/// not removed before it). O(1).
	fn is_in_version(
		datanet: DatanetId,
		version: DatanetVersion,
		contribution: ContributionId,
	) -> bool;
	/// Who contributed `contribution`, if it exists.
	fn contributor(contribution: ContributionId) -> Option<AccountId>;
	/// The owner of `datanet`, if it exists.
	fn datanet_owner(datanet: DatanetId) -> Option<AccountId>;
	/// Whether `contribution` still earns attribution credit (approved and not removed).
	fn earns_credit(contribution: ContributionId) -> bool;
	/// A contributor's track record in a datanet.
	fn reputation(datanet: DatanetId, who: &AccountId) -> Reputation;
	/// The contributions of a published version, ordered by id, with their content hashes:
	/// exactly the set its merkle root covers. Reads state in proportion to the datanet's size:
	/// for offchain workers and runtime APIs, not for dispatchables.
	fn version_contributions(
		datanet: DatanetId,
		version: DatanetVersion,
	) -> alloc::vec::Vec<(ContributionId, ContentHash)>;
}

/// A contributor's track record in one datanet.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Reputation {
	/// Contributions curators approved.
	pub approved: u32,
	/// Contributions refused (by curators or automated validation).
	pub rejected: u32,
	/// Approved contributions later removed.
	pub removed: u32,
}

/// The lifecycle of a model as other pallets see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ModelStage {
	/// Proposed, awaiting governance.
	Proposed,
	/// Approved and waiting for (or in) training.
	Approved,
	/// Trained and evaluated but not yet serving.
	Evaluated,
	/// Deployed: serving inferences at a price.
	Deployed,
	/// Rejected, withdrawn or retired: no longer usable.
	Closed,
}

/// Read access to models and their adapters.
///
/// Implemented by `pallet-models`; consumed by `pallet-attribution` (receipts name a deployed
/// adapter, attestors need its training data) and `pallet-rewards` (the adapter owner's share).
pub trait ModelsInspect<AccountId> {
	/// The model an adapter belongs to.
	fn adapter_model(adapter: AdapterId) -> Option<ModelId>;
	/// The stage of a model.
	fn model_stage(model: ModelId) -> Option<ModelStage>;
	/// The account paid the adapter owner's share.
	fn adapter_owner(adapter: AdapterId) -> Option<AccountId>;
	/// Price per 1,000 tokens of a deployed adapter.
	fn adapter_price_per_1k_tokens(adapter: AdapterId) -> Option<Balance>;
	/// Content hash of the adapter's weights in the blob store.
	fn adapter_hash(adapter: AdapterId) -> Option<ContentHash>;
	/// The datanet versions the adapter was trained on.
	fn training_datanets(adapter: AdapterId) -> alloc::vec::Vec<(DatanetId, DatanetVersion)>;
}

/// One contribution's part of a receipt's fee.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ContributionShare<AccountId> {
	/// The contribution the attribution credits.
	pub contribution: ContributionId,
	/// Its contributor.
	pub contributor: AccountId,
	/// The owner of the datanet it belongs to.
	pub datanet_owner: AccountId,
	/// Its attribution score; the scores of one receipt sum to at most 100%, the rest being
	/// the residual that attribution did not assign.
	pub share: Perbill,
}

/// One payer's charge in a batch: the amount its receipts in the batch cost, under its latest
/// voucher in the batch.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BatchCharge<AccountId> {
	/// The serving operator that submitted the batch: the other end of the payer's channel.
	pub operator: AccountId,
	/// Who pays.
	pub payer: AccountId,
	/// The channel the voucher names.
	pub channel: u64,
	/// The voucher's number: above the channel's last.
	pub seq: u64,
	/// The voucher's cumulative consent: the channel's total may not pass it.
	pub cumulative: Balance,
	/// The sum of the payer's receipts' fees in the batch.
	pub amount: Balance,
	/// How many receipts of the payer's the batch carries, and where in the batch they start
	/// (the payer's spend log points there).
	pub receipts: u32,
	pub first_leaf: u32,
}

/// How a batch that passed attestation pays out.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BatchPayout<AccountId> {
	/// The root of the batch's tree of its operator's running payouts
	/// (`mnemo_primitives::batch::Payout` leaves).
	pub root: crate::Hash,
	/// The batch's blob, where the tree's leaves are (for payees to build their proofs).
	pub blob: crate::ContentHash,
	/// How many payouts (accounts) the tree has.
	pub count: u32,
	/// What the batch adds to them: its fees less the attestors' part.
	pub total: Balance,
	/// The attestors whose reports agreed: they share `attestors_part` equally.
	pub attestors: alloc::vec::Vec<AccountId>,
	/// The attestors' part of the batch's fees.
	pub attestors_part: Balance,
}

/// Escrow and payout of whole batches of receipts.
///
/// Implemented by `pallet-rewards`; consumed by `pallet-attribution`.
pub trait BatchEscrow<AccountId> {
	/// Charge each payer's part of `batch` on its channel to the operator: each channel must be
	/// open and its voucher's, the voucher's number above the channel's last, the channel's
	/// total within the voucher's cumulative consent and its balance enough; each payer once
	/// in a batch. Held with the batch's other charges (a batch is charged in one call, or
	/// several adding payers while it is held; not once refunded or settled). Fails changing
	/// nothing.
	fn charge(batch: BatchId, charges: alloc::vec::Vec<BatchCharge<AccountId>>) -> Result<(), DispatchError>;
	/// Give every charge of `batch` back to its payer's channel (or account). Returns the total.
	fn refund(batch: BatchId) -> Result<Balance, DispatchError>;
	/// Pay `batch` out: its escrow must equal `payout.total + payout.attestors_part` exactly;
	/// `payout.root` becomes claimable against, `payout.total` is added to what its operator's
	/// payees may claim.
	fn settle(batch: BatchId, payout: BatchPayout<AccountId>) -> Result<(), DispatchError>;
	/// The fee split in force: what a batch's payouts are computed with.
	fn split() -> crate::rewards::FeeSplit;
	/// What `batch` charged each payer and under which vouchers, while it is held.
	fn charges(batch: BatchId) -> alloc::vec::Vec<crate::batch::ChargedPayer<AccountId>>;
	/// What `batch` charged `payer`, while it is held.
	fn charge_of(batch: BatchId, payer: &AccountId) -> Option<crate::batch::ChargedPayer<AccountId>>;
}

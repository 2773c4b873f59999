//! Seams: the small traits through which Mnemo's pallets talk to each other.
//!
//! A pallet never depends on another pallet's crate. It declares what it needs as an associated
//! type on its `Config` bound by one of these traits, and the runtime plugs in the pallet that
//! provides it. Unit tests plug in mocks. The traits grow with the pallets that implement them.

use crate::{
	AdapterId, Balance, ContentHash, ContributionId, DatanetId, DatanetVersion, ModelId, ReceiptId,
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

/// Escrow of inference fees: charge a payer within the allowance it granted an operator, hold
/// the fee until attribution settles, then release or refund it.
///
/// Implemented by `pallet-rewards`; consumed by `pallet-attribution`.
pub trait PaymentEscrow<AccountId> {
	/// Charge `amount` from `payer` on behalf of `operator` for `receipt` and hold it in escrow.
	fn charge(
		operator: &AccountId,
		payer: &AccountId,
		receipt: ReceiptId,
		amount: Balance,
	) -> Result<(), DispatchError>;
	/// Return the escrowed fee of `receipt` to its payer (attribution failed or was challenged).
	fn refund(receipt: ReceiptId) -> Result<Balance, DispatchError>;
}

/// One recipient's share of a settled fee.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Share<AccountId> {
	/// Who is credited.
	pub who: AccountId,
	/// The fraction of the attributed part of the fee.
	pub share: Perbill,
}

/// Credit the shares of a settled fee to ledgers (pull-based: recipients claim later).
///
/// Implemented by `pallet-rewards`; consumed by `pallet-attribution` when a receipt settles.
pub trait RewardSink<AccountId> {
	/// Settle the escrowed fee of `receipt`: contributors by score, then the fixed shares.
	/// The sum credited equals the fee, to the last unit.
	fn settle(
		receipt: ReceiptId,
		adapter_owner: &AccountId,
		contributors: &[Share<AccountId>],
		attestors: &[AccountId],
	) -> Result<Balance, DispatchError>;
}

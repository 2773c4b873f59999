#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
pub mod benchmarking;
mod impls;
mod inspect;
#[cfg(test)]
mod mock;
mod ocw;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use types::*;
pub use weights::WeightInfo;

pub(crate) use polkadot_sdk::{frame_support, frame_system, sp_runtime};

/// Log target of this pallet and its offchain worker.
pub const LOG_TARGET: &str = "runtime::datanets";

/// The key type of validator keys: `dnet`. Insert one with `author_insertKey` (or the node's
/// `--dev-key dnet=//Alice`) and have a datanet owner appoint its public key.
pub const KEY_TYPE: sp_runtime::KeyTypeId = sp_runtime::KeyTypeId(*b"dnet");

/// Validator keys: sr25519 under [`KEY_TYPE`].
pub mod crypto {
	use polkadot_sdk::sp_application_crypto::{app_crypto, sr25519};
	app_crypto!(sr25519, super::KEY_TYPE);
}

/// The public key type a runtime normally uses as `ValidatorId`.
pub type ValidatorKey = crypto::Public;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			EnsureOrigin,
		},
	};
	use frame_system::{
		offchain::CreateAuthorizedTransaction,
		pallet_prelude::{BlockNumberFor, *},
	};
	use mnemo_primitives::{ContentHash, ContributionId, DatanetId, DatanetVersion};
	use polkadot_sdk::sp_application_crypto::RuntimeAppPublic;
	use polkadot_sdk::sp_core::H256;
	use sp_runtime::transaction_validity::{TransactionPriority, TransactionSource};

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the datanets pallet.
	///
	/// Requires `frame_system::AuthorizeCall` in the runtime's transaction extensions: validation
	/// reports are authorized (feeless, nonce-free) transactions.
	#[pallet::config]
	pub trait Config:
		polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>>
		+ CreateAuthorizedTransaction<Call<Self>>
	{
		/// The native currency; bonds and deposits are holds on it.
		type Currency: Inspect<Self::AccountId>
			+ Mutate<Self::AccountId>
			+ InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		type RuntimeHoldReason: From<HoldReason>;

		/// A validator's offchain key (normally [`crate::ValidatorKey`]).
		type ValidatorId: Member + Parameter + RuntimeAppPublic + Ord + MaxEncodedLen;

		/// Who besides a datanet's owner may remove an approved contribution (governance).
		type RemoveOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Where slashed bonds go.
		#[pallet::constant]
		type Treasury: Get<Self::AccountId>;

		/// Held from the owner while the datanet exists.
		#[pallet::constant]
		type DatanetDeposit: Get<BalanceOf<Self>>;
		/// Held from the owner per published version (the version record stays on chain).
		#[pallet::constant]
		type VersionDeposit: Get<BalanceOf<Self>>;
		/// Held from a contributor while its contribution record is on chain and not removed.
		#[pallet::constant]
		type RecordDeposit: Get<BalanceOf<Self>>;
		/// Held per open commitment.
		#[pallet::constant]
		type CommitDeposit: Get<BalanceOf<Self>>;
		/// The smallest bond a datanet may ask for.
		#[pallet::constant]
		type MinBond: Get<BalanceOf<Self>>;

		/// Longest name, tag, license or rejection reason, in bytes.
		#[pallet::constant]
		type StringLimit: Get<u32>;
		/// Longest summary, in bytes.
		#[pallet::constant]
		type MaxSummaryLen: Get<u32>;
		/// Longest inline description, in bytes.
		#[pallet::constant]
		type MaxDescriptionLen: Get<u32>;
		/// Most tags per datanet.
		#[pallet::constant]
		type MaxTags: Get<u32>;
		/// Most curators per datanet.
		#[pallet::constant]
		type MaxCurators: Get<u32>;
		/// Most validator keys per datanet.
		#[pallet::constant]
		type MaxValidators: Get<u32>;
		/// Most invited accounts per datanet.
		#[pallet::constant]
		type MaxInvites: Get<u32>;
		/// Most pending plus approved (not removed) contributions per datanet. Bounds the work of
		/// `publish_version`.
		#[pallet::constant]
		type MaxContributions: Get<u32>;
		/// Largest contribution, in bytes.
		#[pallet::constant]
		type MaxContributionBytes: Get<u64>;
		/// Most contributions that may expire in one block.
		#[pallet::constant]
		type MaxExpiringPerBlock: Get<u32>;
		/// Longest review period a datanet may set, in blocks.
		#[pallet::constant]
		type MaxReviewPeriod: Get<BlockNumberFor<Self>>;
		/// Pool priority of validation reports.
		#[pallet::constant]
		type ValidationPriority: Get<TransactionPriority>;
		/// Most contributions one node's worker validates per block.
		#[pallet::constant]
		type MaxValidationsPerBlock: Get<u32>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;
	}

	/// Why this pallet holds money.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A datanet's creation and version deposits, held from its owner.
		DatanetDeposit,
		/// A pending contribution's bond, held from its contributor.
		ContributionBond,
		/// A contribution record's storage deposit, held from its contributor.
		RecordDeposit,
		/// An open commitment's deposit.
		CommitDeposit,
	}

	/// The id the next datanet gets.
	#[pallet::storage]
	pub type NextDatanetId<T> = StorageValue<_, DatanetId, ValueQuery>;

	/// Datanets by id.
	#[pallet::storage]
	pub type Registry<T: Config> = StorageMap<_, Blake2_128Concat, DatanetId, Datanet<T>>;

	/// Accounts invited to an invite-only datanet.
	#[pallet::storage]
	pub type Invited<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, DatanetId, Blake2_128Concat, T::AccountId, ()>;

	/// The id the next contribution gets (unique across datanets).
	#[pallet::storage]
	pub type NextContributionId<T> = StorageValue<_, ContributionId, ValueQuery>;

	/// Contributions by id: pending, approved and removed ones. Refused, withdrawn and expired
	/// contributions leave (their history is in events).
	#[pallet::storage]
	pub type Contributions<T: Config> =
		StorageMap<_, Blake2_128Concat, ContributionId, Contribution<T>>;

	/// A datanet's contributions by content hash: what makes a repeat a `Duplicate`.
	#[pallet::storage]
	pub type ByHash<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, DatanetId, Identity, ContentHash, ContributionId>;

	/// An account's contributions (all datanets).
	#[pallet::storage]
	pub type ByContributor<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, ContributionId, ()>;

	/// A datanet's approved, not removed contributions: what its next version will contain.
	#[pallet::storage]
	pub type Members<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, DatanetId, Twox64Concat, ContributionId, ()>;

	/// Curator verdicts on pending contributions (`true` = approve); cleared when decided.
	#[pallet::storage]
	pub type Reviews<T: Config> =
		StorageDoubleMap<_, Twox64Concat, ContributionId, Blake2_128Concat, T::AccountId, bool>;

	/// Reputation and quota use per (datanet, contributor).
	#[pallet::storage]
	pub type Stats<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		DatanetId,
		Blake2_128Concat,
		T::AccountId,
		ContributorStats,
		ValueQuery,
	>;

	/// Open commitments: `(who, blake2_256(SCALE(datanet, content_hash, who)))`.
	#[pallet::storage]
	pub type Commitments<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Identity, H256, Commitment<T>>;

	/// Published versions.
	#[pallet::storage]
	pub type Versions<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		DatanetId,
		Twox64Concat,
		DatanetVersion,
		VersionInfo<BlockNumberFor<T>>,
	>;

	/// Pending contributions that expire at a block (a capped bucket per block).
	#[pallet::storage]
	pub type ExpiryQueue<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<ContributionId, T::MaxExpiringPerBlock>,
		ValueQuery,
	>;

	/// Pending contributions no validator has reported on yet: what the workers pick from.
	#[pallet::storage]
	pub type AwaitingValidation<T: Config> = StorageMap<_, Twox64Concat, ContributionId, ()>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A datanet was created.
		DatanetCreated {
			datanet: DatanetId,
			owner: T::AccountId,
			kind: Kind,
			deposit: BalanceOf<T>,
		},
		/// The owner changed the metadata and/or the rules.
		DatanetUpdated { datanet: DatanetId, metadata: bool, rules: bool },
		/// The owner offered the datanet to `to`, who must accept.
		OwnershipOffered { datanet: DatanetId, from: T::AccountId, to: T::AccountId },
		/// `to` accepted; the deposit moved from `from` to `to`.
		OwnershipTransferred {
			datanet: DatanetId,
			from: T::AccountId,
			to: T::AccountId,
			deposit: BalanceOf<T>,
		},
		/// The datanet takes no more contributions.
		DatanetClosed { datanet: DatanetId },
		/// `who` may contribute to the invite-only datanet.
		Invited { datanet: DatanetId, who: T::AccountId },
		/// `who` may no longer contribute (its past contributions stay).
		Uninvited { datanet: DatanetId, who: T::AccountId },
		/// `who` committed to a contribution it will reveal in a later block.
		Committed { who: T::AccountId, commitment: H256, deposit: BalanceOf<T> },
		/// `who` cancelled a commitment; its deposit was returned.
		CommitmentCancelled { who: T::AccountId, commitment: H256 },
		/// A contribution was submitted and its bond held; it awaits review until `expires_at`.
		Contributed {
			datanet: DatanetId,
			contribution: ContributionId,
			who: T::AccountId,
			content_hash: ContentHash,
			byte_len: u64,
			row_count: u32,
			bond: BalanceOf<T>,
			expires_at: BlockNumberFor<T>,
		},
		/// A pending contribution gave way to `by`, whose commitment to the same data is older.
		/// Its bond and deposit were returned.
		Displaced {
			datanet: DatanetId,
			contribution: ContributionId,
			who: T::AccountId,
			by: ContributionId,
		},
		/// The contributor withdrew a pending contribution; bond and deposit returned.
		Withdrawn { contribution: ContributionId, who: T::AccountId, refunded: BalanceOf<T> },
		/// A validator's report arrived.
		Validated { contribution: ContributionId, validator: T::ValidatorId, validation: Validation },
		/// A curator gave a verdict.
		Reviewed {
			contribution: ContributionId,
			curator: T::AccountId,
			approve: bool,
			reason: Option<BoundedVec<u8, T::StringLimit>>,
		},
		/// k curators approved: the bond was returned; the record deposit stays held. The
		/// contribution is part of every version from `included_in` on.
		Approved {
			datanet: DatanetId,
			contribution: ContributionId,
			who: T::AccountId,
			included_in: DatanetVersion,
			returned: BalanceOf<T>,
		},
		/// The contribution was refused and left the chain: `slashed` went to the treasury (only on
		/// a curator quorum), `returned` back to the contributor.
		Rejected {
			datanet: DatanetId,
			contribution: ContributionId,
			who: T::AccountId,
			by: RejectedBy,
			slashed: BalanceOf<T>,
			returned: BalanceOf<T>,
		},
		/// Nobody decided in time: bond and deposit returned.
		Expired { datanet: DatanetId, contribution: ContributionId, who: T::AccountId, returned: BalanceOf<T> },
		/// Version `version` was published: every approved, not removed contribution so far.
		VersionPublished {
			datanet: DatanetId,
			version: DatanetVersion,
			count: u32,
			total_bytes: u64,
			total_rows: u64,
			root: H256,
		},
		/// The contributor asked for an approved contribution to be removed.
		RemovalRequested { datanet: DatanetId, contribution: ContributionId, who: T::AccountId },
		/// The contribution was tombstoned: out of every version from `removed_in` on, and it
		/// earns no attribution credit from now. Its record deposit was returned.
		Removed {
			datanet: DatanetId,
			contribution: ContributionId,
			who: T::AccountId,
			removed_in: DatanetVersion,
			refunded: BalanceOf<T>,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No datanet with that id.
		UnknownDatanet,
		/// No contribution with that id.
		UnknownContribution,
		/// Only the datanet's owner may do this.
		NotOwner,
		/// Only the account the datanet was offered to may accept it.
		NotOffered,
		/// The datanet is closed.
		DatanetClosed,
		/// This invite-only datanet has not invited the caller.
		NotInvited,
		/// The account is already invited.
		AlreadyInvited,
		/// The datanet has as many invites as it may.
		TooManyInvites,
		/// The threshold must be at least 1 and at most the number of curators.
		BadThreshold,
		/// The bond is below the minimum.
		BondTooLow,
		/// Quota periods and counts must be at least 1.
		BadQuota,
		/// The review period must be at least 1 block and at most `MaxReviewPeriod`.
		BadReviewPeriod,
		/// Curators or validators are listed twice.
		DuplicateMember,
		/// No open commitment matches: commit `blake2_256(SCALE(datanet, hash, who))` first.
		NotCommitted,
		/// The commitment was made in this block; reveal in a later one.
		CommitmentTooRecent,
		/// The same commitment is already open.
		AlreadyCommitted,
		/// The caller has no such commitment.
		UnknownCommitment,
		/// This content hash is already in the datanet (pending, approved or removed).
		Duplicate,
		/// The caller has used its quota for this period.
		QuotaExceeded,
		/// The contribution is larger than `MaxContributionBytes`.
		TooLarge,
		/// A contribution needs at least one byte and one row.
		Empty,
		/// The datanet holds `MaxContributions` pending and approved contributions.
		DatanetFull,
		/// Too many contributions already expire around that block; try again next block.
		ExpiryQueueFull,
		/// Only the contributor may do this.
		NotContributor,
		/// The contribution is not pending.
		NotPending,
		/// The contribution is not approved.
		NotApproved,
		/// Only a curator of the datanet may review.
		NotCurator,
		/// This curator already reviewed this contribution.
		AlreadyReviewed,
		/// Removal was already requested.
		AlreadyRequested,
		/// Nothing was approved or removed since the latest version.
		NothingToPublish,
		/// The validation report is stale, for another hash, or from a key the datanet did not
		/// appoint.
		BadReport,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			Self::expire_due(now)
		}

		fn offchain_worker(now: BlockNumberFor<T>) {
			crate::ocw::run::<T>(now);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Create a datanet of `kind` with its metadata and rules. The caller becomes its owner.
		///
		/// Holds `DatanetDeposit` from the caller. Emits `DatanetCreated`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::create_datanet())]
		pub fn create_datanet(
			origin: OriginFor<T>,
			kind: Kind,
			metadata: Metadata<T>,
			rules: Rules<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_create_datanet(who, kind, metadata, rules).map(|_| ())
		}

		/// Replace the metadata and/or the rules of a datanet (the kind cannot change).
		///
		/// Owner only. New rules apply to contributions from now; votes already cast count.
		/// Emits `DatanetUpdated`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::update_datanet())]
		pub fn update_datanet(
			origin: OriginFor<T>,
			datanet: DatanetId,
			metadata: Option<Metadata<T>>,
			rules: Option<Rules<T>>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_update_datanet(who, datanet, metadata, rules)
		}

		/// Offer the datanet to `to`; it becomes owner when it calls `accept_ownership`.
		///
		/// Owner only. Emits `OwnershipOffered`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::transfer_ownership())]
		pub fn transfer_ownership(
			origin: OriginFor<T>,
			datanet: DatanetId,
			to: T::AccountId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_transfer_ownership(who, datanet, to)
		}

		/// Accept a datanet offered to the caller. The deposit is held from the caller and
		/// returned to the old owner. Emits `OwnershipTransferred`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::accept_ownership())]
		pub fn accept_ownership(origin: OriginFor<T>, datanet: DatanetId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_accept_ownership(who, datanet)
		}

		/// Close the datanet for good: no new contributions; pending ones are still reviewed,
		/// versions can still be published and every record keeps its history. The deposit
		/// stays held because the records stay. Owner only. Emits `DatanetClosed`.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::close_datanet())]
		pub fn close_datanet(origin: OriginFor<T>, datanet: DatanetId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_close_datanet(who, datanet)
		}

		/// Let `who` contribute to an invite-only datanet. Owner only. Emits `Invited`.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::invite())]
		pub fn invite(origin: OriginFor<T>, datanet: DatanetId, who: T::AccountId) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_invite(owner, datanet, who)
		}

		/// Withdraw an invitation; past contributions stay. Owner only. Emits `Uninvited`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::uninvite())]
		pub fn uninvite(origin: OriginFor<T>, datanet: DatanetId, who: T::AccountId) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_uninvite(owner, datanet, who)
		}

		/// Commit to contributing data without revealing its hash:
		/// `commitment = blake2_256(SCALE((datanet, content_hash, caller)))`. Reveal it with
		/// `contribute` in a later block. Holds `CommitDeposit` until then. Emits `Committed`.
		///
		/// This is what stops a copier who reads a hash in the mempool from taking the
		/// contribution: the older commitment wins (see the README).
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::commit())]
		pub fn commit(origin: OriginFor<T>, commitment: H256) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_commit(who, commitment)
		}

		/// Drop an open commitment and get its deposit back. Emits `CommitmentCancelled`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::cancel_commitment())]
		pub fn cancel_commitment(origin: OriginFor<T>, commitment: H256) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_cancel_commitment(who, commitment)
		}

		/// Contribute data already in the blob store under `content_hash`, revealing a commitment
		/// made in an earlier block. Holds the datanet's bond plus `RecordDeposit`; the
		/// contribution is Pending until curators decide or it expires.
		///
		/// Refused: `Duplicate` hash, `QuotaExceeded`, `TooLarge`, `Empty`, `DatanetClosed`,
		/// `NotInvited`, `DatanetFull`. Emits `Contributed` (and `Displaced` if it takes the place
		/// of a younger commitment's copy).
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::contribute())]
		pub fn contribute(
			origin: OriginFor<T>,
			datanet: DatanetId,
			content_hash: ContentHash,
			byte_len: u64,
			row_count: u32,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_contribute(who, datanet, content_hash, byte_len, row_count).map(|_| ())
		}

		/// Withdraw a pending contribution: bond and deposit come back. Contributor only.
		/// Emits `Withdrawn`.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::withdraw())]
		pub fn withdraw(origin: OriginFor<T>, contribution: ContributionId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_withdraw(who, contribution)
		}

		/// Review a pending contribution, once per curator. At k approvals it is Approved (bond
		/// returned); at k rejections it is Rejected and `reject_slash` of its bond goes to the
		/// treasury. Curators only. Emits `Reviewed`, then `Approved` or `Rejected` on decision.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::review())]
		pub fn review(
			origin: OriginFor<T>,
			contribution: ContributionId,
			verdict: Verdict<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_review(who, contribution, verdict)
		}

		/// A validator's report on a pending contribution, signed by a validator key the datanet
		/// appointed. Submitted by offchain workers as an authorized (feeless) transaction.
		/// An invalid schema or an exact duplicate rejects the contribution with its bond
		/// returned. Emits `Validated` (and `Rejected`).
		#[pallet::call_index(12)]
		#[pallet::weight(T::WeightInfo::submit_validation())]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_submit_validation())]
		#[pallet::authorize(Self::authorize_validation)]
		pub fn submit_validation(
			origin: OriginFor<T>,
			report: ValidationReport<T::ValidatorId>,
			// Checked in `authorize_validation`.
			_signature: <T::ValidatorId as RuntimeAppPublic>::Signature,
		) -> DispatchResult {
			ensure_authorized(origin)?;
			Self::do_submit_validation(report)
		}

		/// Publish the next version: every approved, not removed contribution so far, with its
		/// count, sizes and merkle root. Owner only. Holds `VersionDeposit`.
		/// Emits `VersionPublished`.
		#[pallet::call_index(13)]
		#[pallet::weight(T::WeightInfo::publish_version(T::MaxContributions::get()))]
		pub fn publish_version(origin: OriginFor<T>, datanet: DatanetId) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let count = Self::do_publish_version(who, datanet)?;
			Ok(Some(T::WeightInfo::publish_version(count)).into())
		}

		/// Ask for an approved contribution of the caller's to be removed (the owner or
		/// governance carries it out). Emits `RemovalRequested`.
		#[pallet::call_index(14)]
		#[pallet::weight(T::WeightInfo::request_removal())]
		pub fn request_removal(origin: OriginFor<T>, contribution: ContributionId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_request_removal(who, contribution)
		}

		/// Remove an approved contribution: it is tombstoned, left out of every later version
		/// and earns nothing from now; its record deposit goes back to the contributor.
		/// The datanet's owner or `RemoveOrigin` (governance). Emits `Removed`.
		#[pallet::call_index(15)]
		#[pallet::weight(T::WeightInfo::remove())]
		pub fn remove(origin: OriginFor<T>, contribution: ContributionId) -> DispatchResult {
			let by_owner = match T::RemoveOrigin::try_origin(origin) {
				Ok(_) => None,
				Err(origin) => Some(ensure_signed(origin)?),
			};
			Self::do_remove(by_owner, contribution)
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// A datanet and its latest version.
		pub fn datanet(
			datanet: DatanetId,
		) -> Option<(Datanet<T>, Option<VersionInfo<BlockNumberFor<T>>>)> {
			let d = Registry::<T>::get(datanet)?;
			let v = Versions::<T>::get(datanet, d.latest_version);
			Some((d, v))
		}

		/// An account's contributions, in every datanet, with their status.
		pub fn contributions_of(who: T::AccountId) -> Vec<(ContributionId, Contribution<T>)> {
			Self::contributions_by(&who)
		}

		/// The contributions of published version `version` of `datanet`, ordered by id: exactly
		/// what the engine materialises and what the version's merkle root covers. Empty for a
		/// version not published.
		pub fn version_contributions(
			datanet: DatanetId,
			version: DatanetVersion,
		) -> Vec<(ContributionId, ContentHash)> {
			<Self as mnemo_primitives::DatanetsInspect<T::AccountId>>::version_contributions(
				datanet, version,
			)
		}

		/// Reputation and quota use of `who` in `datanet`.
		pub fn contributor_stats(datanet: DatanetId, who: T::AccountId) -> ContributorStats {
			Stats::<T>::get(datanet, who)
		}
	}

	impl<T: Config> Pallet<T> {
		fn authorize_validation(
			_source: TransactionSource,
			report: &ValidationReport<T::ValidatorId>,
			signature: &<T::ValidatorId as RuntimeAppPublic>::Signature,
		) -> TransactionValidityWithRefund {
			Self::check_report(report)?;
			if !report.using_encoded(|bytes| report.validator.verify(&bytes, signature)) {
				return Err(InvalidTransaction::BadProof.into());
			}
			ValidTransaction::with_tag_prefix("DatanetsValidation")
				.priority(T::ValidationPriority::get())
				.and_provides(report.contribution)
				.longevity(16)
				.propagate(true)
				.build()
				.map(|v| (v, Weight::zero()))
		}
	}
}

#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod batches;
mod impls;
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
pub const LOG_TARGET: &str = "runtime::attribution";

/// The key type of attestor keys: `attr`. Insert one with `author_insertKey` (or the node's
/// `--dev-key attr=//Alice`) and register its public key with `register_attestor`.
pub const KEY_TYPE: sp_runtime::KeyTypeId = sp_runtime::KeyTypeId(*b"attr");

/// Attestor keys: sr25519 under [`KEY_TYPE`].
pub mod crypto {
	use polkadot_sdk::sp_application_crypto::{app_crypto, sr25519};
	app_crypto!(sr25519, super::KEY_TYPE);
}

/// The public key type a runtime normally uses as `AttestorId`.
pub type AttestorKey = crypto::Public;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			EnsureOrigin, Randomness, UnixTime,
		},
	};
	use frame_system::{
		offchain::CreateAuthorizedTransaction,
		pallet_prelude::{BlockNumberFor, *},
	};
	use mnemo_primitives::{
		batch::{AdapterFacts, BatchTerms, MerkleProof},
		AdapterId, Balance, BatchEscrow, BatchId, ContentHash, DatanetsInspect,
		ModelsInspect,
	};
	use polkadot_sdk::sp_application_crypto::RuntimeAppPublic;
	use sp_runtime::{
		traits::{IdentifyAccount, Verify},
		Perbill,
		transaction_validity::{TransactionPriority, TransactionSource},
	};

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the attribution pallet.
	///
	/// Requires `frame_system::AuthorizeCall` in the runtime's transaction extensions: attestors'
	/// commitments and reveals are authorized (feeless, nonce-free) transactions.
	#[pallet::config]
	pub trait Config:
		polkadot_sdk::frame_system::Config<
			RuntimeEvent: From<Event<Self>>,
			RuntimeCall: From<Call<Self>>,
		> + CreateAuthorizedTransaction<Call<Self>>
	{
		/// The native currency; bonds are holds on it.
		type Currency: Inspect<Self::AccountId, Balance = Balance>
			+ Mutate<Self::AccountId>
			+ InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		type RuntimeHoldReason: From<HoldReason>;

		/// An attestor's offchain key (normally [`crate::AttestorKey`]).
		type AttestorId: Member + Parameter + RuntimeAppPublic + Ord + MaxEncodedLen;

		/// What payers sign vouchers with (the runtime's `MultiSignature`).
		type PayerSignature: Verify<Signer: IdentifyAccount<AccountId = Self::AccountId>> + Parameter;

		/// Deployed adapters, their price, owner and training data (`pallet-models`).
		type Models: ModelsInspect<Self::AccountId>;

		/// Which contributions are in which datanet version and whose they are (`pallet-datanets`).
		type Datanets: DatanetsInspect<Self::AccountId>;

		/// Draws batches' panels and samples. On the parachain: the relay parent's storage root
		/// mixed with the subject (see the runtime); tests use a seeded substitute.
		type Randomness: Randomness<Self::Hash, BlockNumberFor<Self>>;

		/// Who sets the parameters (governance).
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Where slashes go.
		#[pallet::constant]
		type Treasury: Get<Self::AccountId>;

		/// Held from a serving operator while it is registered.
		#[pallet::constant]
		type OperatorBond: Get<Balance>;
		/// Held from an attestor while it is registered.
		#[pallet::constant]
		type AttestorBond: Get<Balance>;
		/// Most attestors on one batch's panel.
		#[pallet::constant]
		type MaxAssigned: Get<u32>;
		/// Most contributions in a report and in an attribution (the engine's top K).
		#[pallet::constant]
		type MaxContributions: Get<u32>;
		/// Most attestors taking assignments.
		#[pallet::constant]
		type MaxAttestors: Get<u32>;
		/// Most batches pruned in one block.
		#[pallet::constant]
		type MaxPrunePerBlock: Get<u32>;
		/// Pool priority of attestors' transactions.
		#[pallet::constant]
		type AttestorPriority: Get<TransactionPriority>;

		/// Wall-clock time for the spend log.
		type Time: UnixTime;

		/// Charges batches and pays them out (`pallet-rewards`).
		type BatchEscrow: BatchEscrow<Self::AccountId>;
		/// Most payers one batch charges.
		#[pallet::constant]
		type MaxPayersPerBatch: Get<u32>;
		/// Most receipts (leaves) in one batch.
		#[pallet::constant]
		type MaxReceiptsPerBatch: Get<u32>;
		/// Leaves drawn from each batch for recomputation.
		#[pallet::constant]
		type SampleSize: Get<u32>;
		/// Blocks between a batch's commitment and the draw of its sample: the randomness of a
		/// block the operator could not see.
		#[pallet::constant]
		type SampleDelay: Get<BlockNumberFor<Self>>;
		/// Blocks the operator has to open its sampled leaves.
		#[pallet::constant]
		type OpenPeriod: Get<BlockNumberFor<Self>>;
		/// Panels that may audit one batch's opened sample: an audit that reaches no verdict (too
		/// few reports, or no majority on a sampled leaf) is the panel's failure, not the
		/// operator's, so a fresh panel is drawn, up to this many in all; only after the last is
		/// the batch refunded (without a slash). At least 1.
		#[pallet::constant]
		type AuditRounds: Get<u32>;
		/// Most batches whose sample is drawn in one block.
		#[pallet::constant]
		type MaxBatchesPerBlock: Get<u32>;
		/// Most batches of one operator in flight (submitted, not yet settled or refunded).
		#[pallet::constant]
		type MaxPendingBatches: Get<u32>;
		/// Part of the operator's bond slashed (to the treasury) for a batch it does not open.
		#[pallet::constant]
		type WithholdSlash: Get<Perbill>;
		/// Part of the operator's bond slashed for a batch proven false.
		#[pallet::constant]
		type FraudSlash: Get<Perbill>;
		/// Part of a fraud's slash paid to whoever found it (the prover, or the panel that caught
		/// it); the rest goes to the treasury.
		#[pallet::constant]
		type FinderReward: Get<Perbill>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;

		/// Sets up what the benchmarks need from other pallets.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId, Self::PayerSignature>;
	}

	/// What the benchmarks need from the runtime.
	#[cfg(feature = "runtime-benchmarks")]
	pub trait BenchmarkHelper<AccountId, Signature> {
		/// A deployed adapter, and at least `k` contributions of its training data (fewer if
		/// the helper has fewer), each with a contributor and a datanet owner.
		fn deployed_adapter(k: u32) -> (AdapterId, Vec<mnemo_primitives::ContributionId>);
		/// A payer with an open channel to `operator`, its deposit ample.
		fn payer(i: u32, operator: &AccountId) -> AccountId;
		/// The id of `payer`'s channel to `operator`.
		fn channel(payer: &AccountId, operator: &AccountId) -> u64;
		/// The payer's signature of `payload`.
		fn sign(payer: &AccountId, payload: &[u8]) -> Signature;
	}

	/// Why this pallet holds money.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A serving operator's bond.
		OperatorBond,
		/// An attestor's bond.
		AttestorBond,
	}

	/// Periods, quorum and penalties.
	#[pallet::storage]
	pub type CurrentParams<T: Config> = StorageValue<_, Params<BlockNumberFor<T>>, OptionQuery>;

	/// Registered serving operators and their bonds.
	#[pallet::storage]
	pub type Operators<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, Balance>;

	/// Registered attestors.
	#[pallet::storage]
	pub type Attestors<T: Config> = CountedStorageMap<_, Blake2_128Concat, T::AccountId, Attestor<T>>;

	/// The account behind each registered attestor key.
	#[pallet::storage]
	pub type AttestorOf<T: Config> = StorageMap<_, Blake2_128Concat, T::AttestorId, T::AccountId>;

	/// Attestors that take assignments, in registration order.
	#[pallet::storage]
	pub type Active<T: Config> = StorageValue<_, BoundedVec<T::AccountId, T::MaxAttestors>, ValueQuery>;

	/// The id the next batch gets.
	#[pallet::storage]
	pub type NextBatch<T> = StorageValue<_, BatchId, ValueQuery>;

	/// Batches, until settled or refunded.
	#[pallet::storage]
	pub type Batches<T: Config> = StorageMap<_, Twox64Concat, BatchId, Batch<T>>;

	/// The batches each block draws samples for, or whose phase ends in it.
	#[pallet::storage]
	pub type BatchDeadlines<T: Config> =
		StorageMap<_, Twox64Concat, BlockNumberFor<T>, BoundedVec<BatchId, T::MaxBatchesPerBlock>, ValueQuery>;

	/// The sampled leaves of a batch as its operator opened them.
	#[pallet::storage]
	pub type SampledClaims<T: Config> =
		StorageMap<_, Twox64Concat, BatchId, BoundedVec<SampledClaim, T::SampleSize>, ValueQuery>;

	/// Panels drawn again for a batch whose audit reached no verdict (absent: none yet). Removed
	/// with the batch's verdict or refund.
	#[pallet::storage]
	pub type AuditRound<T: Config> = StorageMap<_, Twox64Concat, BatchId, u32, ValueQuery>;

	/// Panel attestors' commitments and reveals on batches.
	#[pallet::storage]
	pub type BatchReports<T: Config> =
		StorageDoubleMap<_, Twox64Concat, BatchId, Blake2_128Concat, T::AccountId, BatchReport<T>>;

	/// Each operator's batches: its last settled one and those in flight after it, each
	/// extending the running payouts of the one before.
	#[pallet::storage]
	pub type OperatorBatches<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, BatchChain<T>, ValueQuery>;

	/// How many spend-log entries each payer has in the offchain index.
	#[pallet::storage]
	pub type SpendCount<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u64, ValueQuery>;

	/// The oldest batch not yet pruned.
	#[pallet::storage]
	pub type BatchPruneCursor<T> = StorageValue<_, BatchId, ValueQuery>;

	#[pallet::genesis_config]
	pub struct GenesisConfig<T: Config> {
		pub params: Params<BlockNumberFor<T>>,
	}

	impl<T: Config> Default for GenesisConfig<T> {
		fn default() -> Self {
			Self { params: Pallet::<T>::default_params() }
		}
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			assert!(Pallet::<T>::check_params(&self.params).is_ok(), "invalid attribution params");
			CurrentParams::<T>::put(self.params);
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// An account registered as a serving operator.
		OperatorRegistered { who: T::AccountId, bond: Balance },
		/// An operator left; its bond was returned.
		OperatorUnregistered { who: T::AccountId, returned: Balance },
		/// An account registered as an attestor.
		AttestorRegistered { who: T::AccountId, key: T::AttestorId, bond: Balance },
		/// An attestor sits on no new panel; it can leave once the `open` batches whose panels
		/// it sits on are done.
		AttestorLeaving { who: T::AccountId, open: u32 },
		/// An attestor left; what is left of its bond was returned.
		AttestorUnregistered { who: T::AccountId, returned: Balance },
		/// An attestor earned a strike (`strikes` in its current window).
		AttestorStruck { attestor: T::AccountId, batch: BatchId, fault: Fault, strikes: u32 },
		/// Part of an attestor's bond went to the treasury; below `AttestorBond` it takes no
		/// new assignments (`active` false) until it registers again.
		AttestorSlashed { attestor: T::AccountId, amount: Balance, bond_left: Balance, active: bool },
		/// Governance changed the parameters.
		ParamsSet { params: Params<BlockNumberFor<T>> },
		/// `operator` committed batch `batch`: `leaves` receipts from `payers` payers, `fees` in
		/// all, escrowed; its panel and sample are drawn at `sample_at`.
		BatchSubmitted { batch: BatchId, operator: T::AccountId, leaves: u32, payers: u32, fees: Balance, root: polkadot_sdk::sp_core::H256, blob: ContentHash, sample_at: BlockNumberFor<T> },
		/// The panel and the sampled leaves of `batch` were drawn; the operator opens those leaves
		/// until `open_until`.
		BatchSampled { batch: BatchId, panel: Panel<T>, sample: alloc::vec::Vec<u32>, open_until: BlockNumberFor<T> },
		/// The operator opened the sampled leaves of `batch`; the panel commits until `commit_until`.
		SampleOpened { batch: BatchId, commit_until: BlockNumberFor<T> },
		/// A panel attestor committed to its reports on `batch`.
		BatchReportCommitted { batch: BatchId, attestor: T::AccountId, commits: u32 },
		/// The commit phase of `batch` closed: the `committed` attestors reveal until `until`.
		BatchRevealOpened { batch: BatchId, committed: u32, until: BlockNumberFor<T> },
		/// A panel attestor revealed its reports on `batch` and its finding on the batch as a
		/// whole (`audit`: adds up, does not, or could not be had from the operator).
		BatchReportRevealed { batch: BatchId, attestor: T::AccountId, audit: BatchAudit, reveals: u32 },
		/// Every sampled leaf of `batch` held up against the panel's recomputation: anyone may
		/// prove a leaf false until `challenge_until`; `paid` attestors share the attestors' part.
		BatchVerified { batch: BatchId, paid: Panel<T>, challenge_until: BlockNumberFor<T> },
		/// `batch`'s challenge window closed: its payouts are claimable.
		BatchSettled { batch: BatchId, fees: Balance, paid: Panel<T> },
		/// A finished batch left state; its record is in the offchain index.
		BatchPruned { batch: BatchId },
		/// `prover` proved leaf `index` of `batch` false.
		FraudProven { batch: BatchId, index: u32, prover: T::AccountId },
		/// `batch` was refunded to its payers (`amount`); `slashed` of its operator's bond was
		/// taken, `rewarded` of it to whoever found the fraud and the rest to the treasury.
		BatchRefunded { batch: BatchId, why: BatchRefund, amount: Balance, slashed: Balance, rewarded: Balance },
		/// The audit of `batch` reached no verdict (`why`: too few reports, no majority, or the
		/// panel's majority could not get the batch's content): a fresh `panel` (audit `round`, the first being 0) audits the same opened sample and
		/// commits until `commit_until`.
		PanelRedrawn { batch: BatchId, round: u32, why: BatchRefund, panel: Panel<T>, commit_until: BlockNumberFor<T> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// A batch has at least one leaf and at most `MaxReceiptsPerBatch`.
		BadBatchSize,
		/// The payers' leaves do not add up to the batch's.
		LeavesMismatch,
		/// The payers' charges do not equal the payouts plus the attestors' part.
		FeesMismatch,
		/// The batch's fees are above what the operator's bond covers (`SampleSize · bond / 2`).
		BatchTooLarge,
		/// No batch with that id (or it is finished).
		UnknownBatch,
		/// The batch is not in the phase this needs.
		BatchPhase,
		/// Not the batch's operator.
		NotBatchOperator,
		/// The opened leaves are not the sampled ones, in order.
		WrongSample,
		/// An opened leaf's path does not lead to the batch's root.
		BadLeafProof,
		/// Too many batches are drawn around that block; submit again in a later one.
		BatchDeadlinesFull,
		/// The batch does not extend the operator's latest batch (`operator_head`): one it was
		/// built on was refunded, or another landed first. Rebuild it on the latest.
		WrongPrev,
		/// The batch was split by other terms than those in force (`batch_terms`): governance
		/// changed them. Rebuild it.
		WrongTerms,
		/// The operator has `MaxPendingBatches` batches in flight: wait for one to settle.
		TooManyPendingBatches,
		/// The operator has batches in flight: its bond stays until they settle or are refunded.
		BatchesInFlight,
		/// Not on the batch's panel, or nothing left to do on it.
		NotOnPanel,
		/// A report per sampled leaf, in the sample's order.
		WrongReportCount,
		/// The leaf is consented to, its fee within its voucher and its payer's charge in the batch
		/// pays for it: nothing to prove.
		LeafHolds,
		/// The account is not a registered serving operator.
		NotOperator,
		/// The account is already an operator.
		AlreadyOperator,
		/// The account is already an attestor.
		AlreadyAttestor,
		/// The key is already registered.
		KeyInUse,
		/// The account or key is not a registered attestor.
		NotAttestor,
		/// `MaxAttestors` attestors take assignments already.
		TooManyAttestors,
		/// The batch is empty.
		EmptyBatch,
		/// The voucher names another operator.
		WrongOperator,
		/// The voucher is for another chain.
		GenesisMismatch,
		/// The voucher expired.
		VoucherExpired,
		/// The voucher is valid for longer than `max_voucher_lifetime`.
		VoucherTooLong,
		/// The payer did not sign the voucher.
		BadVoucherSignature,
		/// Fewer active attestors than `assigned`: nobody could attribute the receipt.
		TooFewAttestors,
		/// The attestor already committed.
		AlreadyCommitted,
		/// The attestor did not commit.
		NotCommitted,
		/// The attestor already revealed.
		AlreadyRevealed,
		/// The reveal does not match the commitment.
		CommitmentMismatch,
		/// Scores must be ascending by contribution, non-zero and sum to at most 100%.
		BadScores,
		/// Quorum bounds (1 ≤ min_reports ≤ quorum ≤ assigned ≤ MaxAssigned), periods (≥ 1),
		/// strikes (≥ 1), a minimum fee above zero, or a retention shorter than the longest
		/// voucher are invalid.
		InvalidParams,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			Self::process_batch_deadlines(now)
		}

		fn on_idle(now: BlockNumberFor<T>, remaining: Weight) -> Weight {
			Self::prune_batches(now, remaining)
		}

		fn offchain_worker(now: BlockNumberFor<T>) {
			crate::ocw::run::<T>(now);
		}

		fn integrity_test() {
			assert!(T::MaxAssigned::get() >= 1, "MaxAssigned must be at least 1");
			assert!(T::MaxContributions::get() >= 1, "MaxContributions must be at least 1");
			assert!(T::SampleSize::get() >= 1, "SampleSize must be at least 1");
			assert!(T::AuditRounds::get() >= 1, "AuditRounds must be at least 1");
			assert!(T::MaxBatchesPerBlock::get() >= 1, "MaxBatchesPerBlock must be at least 1");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Register the caller as a serving operator. Holds `OperatorBond`.
		/// Emits `OperatorRegistered`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_operator())]
		pub fn register_operator(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_operator(who)
		}

		/// Stop being an operator; the bond comes back. Refused while any of its batches is in
		/// flight (the bond answers for them). Emits `OperatorUnregistered`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::unregister_operator())]
		pub fn unregister_operator(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_unregister_operator(who)
		}

		/// Register the caller as an attestor whose worker signs with `key`. Holds
		/// `AttestorBond`. Emits `AttestorRegistered`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::register_attestor(T::MaxAttestors::get()))]
		pub fn register_attestor(origin: OriginFor<T>, key: T::AttestorId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_attestor(who, key)
		}

		/// Stop sitting on new panels and, once the batches whose panels it sits on are done, leave
		/// with what is left of the bond.
		/// Call again to complete. Emits `AttestorLeaving` or `AttestorUnregistered`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::unregister_attestor(T::MaxAttestors::get()))]
		pub fn unregister_attestor(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_unregister_attestor(who)
		}

		/// A serving operator commits a batch of receipts: the Merkle roots of its leaves and
		/// payouts, and each payer's latest voucher and amount. All or nothing: every payer's
		/// charge must hold, or nothing is charged. Emits `BatchSubmitted`.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::submit_batch(charges.len() as u32))]
		pub fn submit_batch(
			origin: OriginFor<T>,
			header: BatchHeader,
			charges: BoundedVec<PayerCharge<T>, T::MaxPayersPerBatch>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_submit_batch(who, header, charges)
		}

		/// The batch's operator opens its sampled leaves, each with its Merkle path, in the order
		/// of the sample. Emits `SampleOpened`.
		#[pallet::call_index(12)]
		#[pallet::weight(T::WeightInfo::open_sample(T::SampleSize::get()))]
		pub fn open_sample(
			origin: OriginFor<T>,
			batch: BatchId,
			leaves: BoundedVec<(BatchLeaf<T>, MerkleProof), T::SampleSize>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_open_sample(who, batch, leaves)
		}

		/// A panel attestor commits to its reports on a batch's sample. An authorized
		/// transaction signed by its key. Emits `BatchReportCommitted`, and `BatchRevealOpened`
		/// when the whole panel has committed.
		#[pallet::call_index(13)]
		#[pallet::weight(T::WeightInfo::commit_batch_report())]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_report())]
		#[pallet::authorize(Self::authorize_batch_commit)]
		pub fn commit_batch_report(
			origin: OriginFor<T>,
			commit: BatchCommit<T>,
			// Checked in `authorize_batch_commit`.
			_signature: <T::AttestorId as RuntimeAppPublic>::Signature,
		) -> DispatchResult {
			ensure_authorized(origin)?;
			Self::do_commit_batch(commit)
		}

		/// A committed panel attestor reveals its reports; when every committer has, the
		/// verdict. An authorized transaction signed by its key. Emits `BatchReportRevealed`,
		/// then `BatchSettled` or `BatchRefunded`.
		#[pallet::call_index(14)]
		#[pallet::weight(T::WeightInfo::reveal_batch_report(T::MaxContributions::get()))]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_report())]
		#[pallet::authorize(Self::authorize_batch_reveal)]
		pub fn reveal_batch_report(
			origin: OriginFor<T>,
			reveal: BatchReveal<T>,
			// Checked in `authorize_batch_reveal`.
			_signature: <T::AttestorId as RuntimeAppPublic>::Signature,
		) -> DispatchResult {
			ensure_authorized(origin)?;
			Self::do_reveal_batch(reveal)
		}

		/// Prove a leaf of a batch false, with its preimage and Merkle path, before the batch pays
		/// out: a request its payer never signed (or not for this operator), a fee above what its
		/// voucher allows for its tokens, or a request its payer's charge in the batch does not pay
		/// for (charged in an earlier batch, or on another channel). The batch is refunded and its
		/// operator slashed.
		/// Anyone. Emits `FraudProven` and `BatchRefunded`.
		#[pallet::call_index(15)]
		#[pallet::weight(T::WeightInfo::prove_fraud(T::MaxPayersPerBatch::get()))]
		pub fn prove_fraud(origin: OriginFor<T>, batch: BatchId, leaf: BatchLeaf<T>, proof: MerkleProof) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_prove_fraud(who, batch, leaf, proof)
		}

		/// Set the periods, quorum and penalties (open receipts keep their deadlines).
		/// `GovernanceOrigin`. Emits `ParamsSet`.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::set_params())]
		pub fn set_params(origin: OriginFor<T>, params: Params<BlockNumberFor<T>>) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Self::check_params(&params)?;
			CurrentParams::<T>::put(params);
			Self::deposit_event(Event::ParamsSet { params });
			Ok(())
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// An attestor's record and the batches whose panels it sits on that await its
		/// commitment or reveal.
		pub fn attestor(who: T::AccountId) -> Option<(Attestor<T>, Vec<BatchId>)> {
			let a = Attestors::<T>::get(&who)?;
			let waiting = Batches::<T>::iter()
				.filter(|(_, b)| b.panel.contains(&who) && matches!(b.phase, BatchPhase::Commit { .. } | BatchPhase::Reveal { .. }))
				.map(|(id, _)| id)
				.collect();
			Some((a, waiting))
		}

		/// The current parameters.
		pub fn params() -> Params<BlockNumberFor<T>> {
			Self::current_params()
		}

		/// What an operator's engine needs of the chain to attribute and split receipts of
		/// `adapter` in a batch, and what a panel attestor checks them against: its weights, its
		/// training data, whom its fees pay. `None` for an adapter without weights or owner.
		pub fn adapter_facts(adapter: AdapterId) -> Option<AdapterFacts<T::AccountId>> {
			Self::facts_of(adapter)
		}

		/// What every batch is split by: the fee split in force, the treasury, the minimum fee
		/// and how many contributions an attribution names at most.
		pub fn batch_terms() -> BatchTerms<T::AccountId> {
			Self::terms()
		}

		/// The batch `operator`'s next batch must extend (its `prev`), with that batch's blob
		/// and payouts root; `None`: its next batch is its first.
		pub fn operator_head(operator: T::AccountId) -> Option<BatchBase> {
			Self::head_of(&OperatorBatches::<T>::get(&operator))
		}
	}

	impl<T: Config> Pallet<T> {
		fn authorize_batch_commit(
			_source: TransactionSource,
			c: &BatchCommit<T>,
			signature: &<T::AttestorId as RuntimeAppPublic>::Signature,
		) -> TransactionValidityWithRefund {
			let attestor = Self::check_batch_commit(c).map_err(|_| InvalidTransaction::Stale)?;
			Self::valid_signed(&c.key, c, signature, (b"batch-commit", c.batch, attestor))
		}

		fn authorize_batch_reveal(
			_source: TransactionSource,
			r: &BatchReveal<T>,
			signature: &<T::AttestorId as RuntimeAppPublic>::Signature,
		) -> TransactionValidityWithRefund {
			let attestor = Self::check_batch_reveal(r).map_err(|_| InvalidTransaction::Stale)?;
			Self::valid_signed(&r.key, r, signature, (b"batch-reveal", r.batch, attestor))
		}

		/// A valid transaction if `key` signed `payload`, providing `tag` (one commitment and
		/// one reveal per attestor and batch reach a block).
		fn valid_signed(
			key: &T::AttestorId,
			payload: &impl Encode,
			signature: &<T::AttestorId as RuntimeAppPublic>::Signature,
			tag: impl Encode,
		) -> TransactionValidityWithRefund {
			if !payload.using_encoded(|bytes| key.verify(&bytes, signature)) {
				return Err(InvalidTransaction::BadProof.into());
			}
			ValidTransaction::with_tag_prefix("MnemoAttribution")
				.priority(T::AttestorPriority::get())
				.and_provides(tag)
				.longevity(16)
				.propagate(true)
				.build()
				.map(|v| (v, Weight::zero()))
		}
	}
}

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
pub const LOG_TARGET: &str = "runtime::models";

/// The key type of trainer keys: `trnr`. Insert one with `author_insertKey` (or the node's
/// `--dev-key trnr=//Alice`) and register its public key with `register_trainer`.
pub const KEY_TYPE: sp_runtime::KeyTypeId = sp_runtime::KeyTypeId(*b"trnr");

/// Trainer keys: sr25519 under [`KEY_TYPE`].
pub mod crypto {
	use polkadot_sdk::sp_application_crypto::{app_crypto, sr25519};
	app_crypto!(sr25519, super::KEY_TYPE);
}

/// The public key type a runtime normally uses as `TrainerId`.
pub type TrainerKey = crypto::Public;

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
	use mnemo_primitives::{
		governance::{OpenProposal, ProposalId},
		AdapterId, ContentHash, DatanetId, DatanetVersion, DatanetsInspect, ModelId,
	};
	use polkadot_sdk::sp_application_crypto::RuntimeAppPublic;
	use sp_runtime::transaction_validity::{TransactionPriority, TransactionSource};

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the models pallet.
	///
	/// Requires `frame_system::AuthorizeCall` in the runtime's transaction extensions: trainers'
	/// claims, reports and attestations are authorized (feeless, nonce-free) transactions.
	#[pallet::config]
	pub trait Config:
		polkadot_sdk::frame_system::Config<
			RuntimeEvent: From<Event<Self>>,
			RuntimeCall: From<Call<Self>>,
		> + CreateAuthorizedTransaction<Call<Self>>
	{
		/// The native currency; bonds are holds on it.
		type Currency: Inspect<Self::AccountId>
			+ Mutate<Self::AccountId>
			+ InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		type RuntimeHoldReason: From<HoldReason>;

		/// A trainer's offchain key (normally [`crate::TrainerKey`]).
		type TrainerId: Member + Parameter + RuntimeAppPublic + Ord + MaxEncodedLen;

		/// Which datanet versions exist and what they contain (`pallet-datanets`).
		type Datanets: DatanetsInspect<Self::AccountId>;

		/// Opens the model-approval proposal of each proposed model (`pallet-governance`).
		type Proposals: OpenProposal<Self::AccountId, <Self as frame_system::Config>::RuntimeCall>;

		/// Who approves and rejects models: a passed model-approval proposal (or root).
		type ApproveOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Who besides the owner may retire a model, and who sets the job settings (governance).
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Where slashed bonds go.
		#[pallet::constant]
		type Treasury: Get<Self::AccountId>;

		/// Held from a builder while its model is Proposed: returned on approval or withdrawal,
		/// slashed on rejection.
		#[pallet::constant]
		type ModelBond: Get<BalanceOf<Self>>;
		/// Held from a trainer while it is registered.
		#[pallet::constant]
		type TrainerBond: Get<BalanceOf<Self>>;

		/// Longest name or base model identifier, in bytes.
		#[pallet::constant]
		type StringLimit: Get<u32>;
		/// Longest inline purpose or use case, in bytes.
		#[pallet::constant]
		type MaxTextLen: Get<u32>;
		/// Most training datanets per model.
		#[pallet::constant]
		type MaxDatanets: Get<u32>;
		/// Largest LoRA rank.
		#[pallet::constant]
		type MaxRank: Get<u16>;
		/// Most training epochs.
		#[pallet::constant]
		type MaxEpochs: Get<u16>;
		/// Most registered trainers. Bounds the attestations of one report.
		#[pallet::constant]
		type MaxTrainers: Get<u32>;
		/// Most job deadlines in one block.
		#[pallet::constant]
		type MaxDeadlinesPerBlock: Get<u32>;
		/// Most stage changes kept in a model's history (the oldest give way).
		#[pallet::constant]
		type MaxHistory: Get<u32>;
		/// Pool priority of trainers' transactions.
		#[pallet::constant]
		type TrainerPriority: Get<TransactionPriority>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;

		/// Sets up what the benchmarks need from other pallets.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper;
	}

	/// What the benchmarks need from the runtime: published datanet versions to train on.
	#[cfg(feature = "runtime-benchmarks")]
	pub trait BenchmarkHelper {
		/// Make version 1 of datanet `i` exist (published), and return it.
		fn published_version(i: u32) -> (DatanetId, DatanetVersion);
	}

	/// Why this pallet holds money.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A proposed model's bond, held from its builder.
		ModelBond,
		/// A registered trainer's bond.
		TrainerBond,
	}

	/// The id the next model gets.
	#[pallet::storage]
	pub type NextModelId<T> = StorageValue<_, ModelId, ValueQuery>;

	/// Models by id, in every stage.
	#[pallet::storage]
	pub type ModelRecords<T: Config> = StorageMap<_, Blake2_128Concat, ModelId, Model<T>>;

	/// Each model's stage changes with the block they happened in (at most `MaxHistory`, newest
	/// last).
	#[pallet::storage]
	pub type History<T: Config> = StorageMap<
		_,
		Blake2_128Concat,
		ModelId,
		BoundedVec<(Stage, BlockNumberFor<T>), T::MaxHistory>,
		ValueQuery,
	>;

	/// The model each open approval proposal decides.
	#[pallet::storage]
	pub type ByProposal<T: Config> = StorageMap<_, Twox64Concat, ProposalId, ModelId>;

	/// Training jobs of Approved, Training and Trained models.
	#[pallet::storage]
	pub type Jobs<T: Config> = StorageMap<_, Twox64Concat, ModelId, Job<T>>;

	/// Jobs waiting for a trainer: what trainers' workers claim from.
	#[pallet::storage]
	pub type Queue<T: Config> = StorageMap<_, Twox64Concat, ModelId, ()>;

	/// Attestations of the current report of a model: `true` confirms, `false` disputes.
	#[pallet::storage]
	pub type Attestations<T: Config> =
		StorageDoubleMap<_, Twox64Concat, ModelId, Blake2_128Concat, T::AccountId, bool>;

	/// Registered trainers.
	#[pallet::storage]
	pub type Trainers<T: Config> = CountedStorageMap<_, Blake2_128Concat, T::AccountId, Trainer<T>>;

	/// The account behind each registered trainer key.
	#[pallet::storage]
	pub type TrainerOf<T: Config> = StorageMap<_, Blake2_128Concat, T::TrainerId, T::AccountId>;

	/// Jobs whose training or evaluation period ends at a block.
	#[pallet::storage]
	pub type Deadlines<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<ModelId, T::MaxDeadlinesPerBlock>,
		ValueQuery,
	>;

	/// The id the next adapter gets.
	#[pallet::storage]
	pub type NextAdapterId<T> = StorageValue<_, AdapterId, ValueQuery>;

	/// Adapters by id.
	#[pallet::storage]
	pub type Adapters<T: Config> = StorageMap<_, Blake2_128Concat, AdapterId, Adapter<T>>;

	/// Adapters by the datanets they were trained on.
	#[pallet::storage]
	pub type AdaptersByDatanet<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, DatanetId, Twox64Concat, AdapterId, DatanetVersion>;

	/// Deployed adapters (their price is in the adapter record).
	#[pallet::storage]
	pub type Deployed<T: Config> = StorageMap<_, Twox64Concat, AdapterId, ()>;

	/// Periods, quorum and slashes of training jobs.
	#[pallet::storage]
	pub type JobSettings<T: Config> = StorageValue<_, Settings<BlockNumberFor<T>>, ValueQuery>;

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		pub settings: Settings<BlockNumberFor<T>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			assert!(Pallet::<T>::check_settings(&self.settings).is_ok(), "invalid model job settings");
			JobSettings::<T>::put(self.settings);
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A builder proposed a model; stakers decide proposal `proposal`.
		ModelProposed {
			model: ModelId,
			owner: T::AccountId,
			proposal: ProposalId,
			bond: BalanceOf<T>,
			base_model: Name<T>,
			datanets: BoundedVec<(DatanetId, DatanetVersion), T::MaxDatanets>,
		},
		/// The builder withdrew the model before approval; bond returned.
		ModelWithdrawn { model: ModelId, owner: T::AccountId, returned: BalanceOf<T> },
		/// Stakers approved the model: bond returned, its training job queued.
		ModelApproved { model: ModelId, returned: BalanceOf<T> },
		/// Stakers rejected the model (or governance cancelled its proposal): bond slashed.
		ModelRejected { model: ModelId, owner: T::AccountId, slashed: BalanceOf<T> },
		/// An account registered as a trainer.
		TrainerRegistered { who: T::AccountId, key: T::TrainerId, bond: BalanceOf<T> },
		/// A trainer left; what is left of its bond was returned.
		TrainerUnregistered { who: T::AccountId, returned: BalanceOf<T> },
		/// A trainer claimed a job: the model is Training until it reports or `deadline` passes.
		JobClaimed { model: ModelId, attempt: u32, trainer: T::AccountId, deadline: BlockNumberFor<T> },
		/// The trainer reported an adapter: the model is Trained until attestors confirm it.
		TrainingReported {
			model: ModelId,
			attempt: u32,
			trainer: T::AccountId,
			adapter_hash: ContentHash,
			metrics: Metrics<T>,
		},
		/// Another trainer re-evaluated the adapter.
		EvaluationAttested {
			model: ModelId,
			attempt: u32,
			attestor: T::AccountId,
			confirmed: bool,
			confirms: u32,
			disputes: u32,
		},
		/// A quorum confirmed the metrics: adapter `adapter` exists. `improved` says whether its
		/// loss is below the base model's on every training datanet.
		ModelEvaluated {
			model: ModelId,
			adapter: AdapterId,
			artifact: ContentHash,
			metrics: Metrics<T>,
			improved: bool,
		},
		/// A quorum disputed the report: it is void and `slashed` of the trainer's bond went to
		/// the treasury.
		ReportDisputed { model: ModelId, attempt: u32, trainer: T::AccountId, slashed: BalanceOf<T> },
		/// The trainer missed its deadline: `slashed` of its bond went to the treasury.
		JobTimedOut { model: ModelId, attempt: u32, trainer: T::AccountId, slashed: BalanceOf<T> },
		/// No quorum of attestors within the evaluation period.
		EvaluationExpired { model: ModelId, attempt: u32, confirms: u32, disputes: u32 },
		/// The job is back in the queue for attempt `attempt`.
		JobRequeued { model: ModelId, attempt: u32 },
		/// Training failed `attempts` times: the model is Failed.
		ModelFailed { model: ModelId, attempts: u32 },
		/// The owner deployed the model's adapter at a price per 1,000 tokens.
		ModelDeployed { model: ModelId, adapter: AdapterId, price_per_1k: BalanceOf<T> },
		/// The owner changed a deployed adapter's price.
		PriceSet { adapter: AdapterId, price_per_1k: BalanceOf<T> },
		/// The model was retired (by its owner, or by governance when `by_owner` is false).
		ModelRetired { model: ModelId, adapter: Option<AdapterId>, by_owner: bool },
		/// Governance changed the job settings.
		SettingsSet { settings: Settings<BlockNumberFor<T>> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No model with that id.
		UnknownModel,
		/// No adapter with that id.
		UnknownAdapter,
		/// Only the model's owner may do this.
		NotOwner,
		/// The model's stage does not allow this change (see the lifecycle in the README).
		IllegalTransition,
		/// A model needs at least one training datanet.
		NoDatanets,
		/// A training datanet is listed twice.
		DuplicateDatanet,
		/// A training datanet version is not published.
		UnknownDatanetVersion,
		/// Rank must be at least 1 and at most `MaxRank`; alpha at least 1.
		BadRank,
		/// Epochs must be at least 1 and at most `MaxEpochs`.
		BadEpochs,
		/// The learning rate must be above zero.
		BadLearningRate,
		/// At least one target module, each once.
		BadTargets,
		/// The held-out fraction must be strictly between 0 and 1, and the tolerance below 1.
		BadEvalSpec,
		/// The base model identifier is empty.
		NoBaseModel,
		/// The parent adapter is unknown, not the caller's, or for another base model.
		BadParent,
		/// The account is already a trainer.
		AlreadyTrainer,
		/// The key is already registered.
		KeyInUse,
		/// The account is not a registered trainer.
		NotTrainer,
		/// The trainer holds a job; it may leave once the job is evaluated or times out.
		TrainerBusy,
		/// The trainer's bond was slashed below `TrainerBond`: unregister and register again.
		BondTooLow,
		/// There are `MaxTrainers` trainers.
		TooManyTrainers,
		/// The claim, report or attestation does not match the job, or its key is not the
		/// right trainer's.
		BadSubmission,
		/// The metrics do not cover exactly the model's training datanets, in order.
		BadMetrics,
		/// Too many jobs end around that block; try again in a later block.
		DeadlinesFull,
		/// The adapter is not deployed.
		NotDeployed,
		/// The price must be above zero.
		ZeroPrice,
		/// Periods and quorum must be at least 1, and at most `MaxTrainers - 1` attestors.
		BadSettings,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			Self::process_deadlines(now)
		}

		fn offchain_worker(now: BlockNumberFor<T>) {
			crate::ocw::run::<T>(now);
		}

		fn integrity_test() {
			assert!(T::MaxHistory::get() >= 1, "MaxHistory must be at least 1");
			assert!(T::MaxTrainers::get() >= 2, "MaxTrainers must leave room for an attestor");
			assert!(T::MaxDeadlinesPerBlock::get() >= 1, "MaxDeadlinesPerBlock must be at least 1");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Propose a model: its name, purpose, use case, base model, training datanet versions
		/// (published), LoRA hyper-parameters and evaluation spec. Holds `ModelBond` and opens a
		/// model-approval proposal for the caller (who pays its deposit).
		/// Emits `ModelProposed`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::propose_model(T::MaxDatanets::get()))]
		pub fn propose_model(origin: OriginFor<T>, spec: ModelSpec<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_propose_model(who, spec).map(|_| ())
		}

		/// Withdraw a model before approval: its proposal is withdrawn and both the bond and the
		/// proposal deposit come back. Owner only. Emits `ModelWithdrawn`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::withdraw_model().saturating_add(T::Proposals::withdraw_weight()))]
		pub fn withdraw_model(origin: OriginFor<T>, model: ModelId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_withdraw_model(who, model)
		}

		/// Approve a proposed model: its bond comes back and its training job is queued.
		/// `ApproveOrigin` (a passed model-approval proposal). Emits `ModelApproved`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::approve_model())]
		pub fn approve_model(origin: OriginFor<T>, model: ModelId) -> DispatchResult {
			T::ApproveOrigin::ensure_origin(origin)?;
			Self::do_approve(model)
		}

		/// Reject a proposed model: its bond goes to the treasury. `ApproveOrigin`. (A failed
		/// or cancelled proposal rejects its model without this call.) Emits `ModelRejected`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::reject_model())]
		pub fn reject_model(origin: OriginFor<T>, model: ModelId) -> DispatchResult {
			T::ApproveOrigin::ensure_origin(origin)?;
			Self::do_reject(model)
		}

		/// Register the caller as a trainer whose worker signs with `key`. Holds `TrainerBond`.
		/// Emits `TrainerRegistered`.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::register_trainer())]
		pub fn register_trainer(origin: OriginFor<T>, key: T::TrainerId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_trainer(who, key)
		}

		/// Stop being a trainer; what is left of the bond comes back. Not while holding a job.
		/// Emits `TrainerUnregistered`.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::unregister_trainer())]
		pub fn unregister_trainer(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_unregister_trainer(who)
		}

		/// A trainer's worker claims a queued job; it must report within the training period.
		/// An authorized transaction signed by the trainer's key. Emits `JobClaimed`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::claim_job())]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_trainer())]
		#[pallet::authorize(Self::authorize_claim)]
		pub fn claim_job(
			origin: OriginFor<T>,
			claim: Claim<T::TrainerId>,
			// Checked in `authorize_claim`.
			_signature: <T::TrainerId as RuntimeAppPublic>::Signature,
		) -> DispatchResult {
			ensure_authorized(origin)?;
			Self::do_claim(claim)
		}

		/// The claiming trainer reports the adapter it trained and its held-out metrics.
		/// An authorized transaction signed by its key. Emits `TrainingReported`.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::report_training())]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_trainer())]
		#[pallet::authorize(Self::authorize_report)]
		pub fn report_training(
			origin: OriginFor<T>,
			report: TrainingReport<T>,
			// Checked in `authorize_report`.
			_signature: <T::TrainerId as RuntimeAppPublic>::Signature,
		) -> DispatchResult {
			ensure_authorized(origin)?;
			Self::do_report(report)
		}

		/// Another trainer reports its own evaluation of a reported adapter; it confirms when
		/// within the spec's tolerance. At `eval_quorum` confirmations the model is Evaluated;
		/// at `eval_quorum` disputes the report is void. An authorized transaction signed by the
		/// attestor's key. Emits `EvaluationAttested`, then `ModelEvaluated` or `ReportDisputed`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::attest_evaluation(T::MaxTrainers::get()))]
		#[pallet::weight_of_authorize(T::WeightInfo::authorize_trainer())]
		#[pallet::authorize(Self::authorize_attestation)]
		pub fn attest_evaluation(
			origin: OriginFor<T>,
			attestation: Attestation<T>,
			// Checked in `authorize_attestation`.
			_signature: <T::TrainerId as RuntimeAppPublic>::Signature,
		) -> DispatchResult {
			ensure_authorized(origin)?;
			Self::do_attest(attestation)
		}

		/// Deploy an Evaluated model's adapter at `price_per_1k` per 1,000 tokens. Owner only.
		/// Emits `ModelDeployed`.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::deploy())]
		pub fn deploy(origin: OriginFor<T>, model: ModelId, price_per_1k: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_deploy(who, model, price_per_1k)
		}

		/// Change a deployed adapter's price (new inferences pay it). Owner only.
		/// Emits `PriceSet`.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::set_price())]
		pub fn set_price(origin: OriginFor<T>, adapter: AdapterId, price_per_1k: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_set_price(who, adapter, price_per_1k)
		}

		/// Retire an Evaluated or Deployed model: its adapter takes no new inferences. Owner or
		/// `GovernanceOrigin`. Emits `ModelRetired`.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::retire())]
		pub fn retire(origin: OriginFor<T>, model: ModelId) -> DispatchResult {
			let by_owner = match T::GovernanceOrigin::try_origin(origin) {
				Ok(_) => None,
				Err(origin) => Some(ensure_signed(origin)?),
			};
			Self::do_retire(by_owner, model)
		}

		/// Set the periods, quorum and slashes of training jobs (running jobs keep their
		/// deadlines). `GovernanceOrigin`. Emits `SettingsSet`.
		#[pallet::call_index(12)]
		#[pallet::weight(T::WeightInfo::set_settings())]
		pub fn set_settings(origin: OriginFor<T>, settings: Settings<BlockNumberFor<T>>) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Self::check_settings(&settings)?;
			JobSettings::<T>::put(settings);
			Self::deposit_event(Event::SettingsSet { settings });
			Ok(())
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// A model, its stage history and its current job.
		pub fn model(
			model: ModelId,
		) -> Option<(Model<T>, Vec<(Stage, BlockNumberFor<T>)>, Option<Job<T>>)> {
			let m = ModelRecords::<T>::get(model)?;
			Some((m, History::<T>::get(model).into_inner(), Jobs::<T>::get(model)))
		}

		/// An adapter's record.
		pub fn adapter(adapter: AdapterId) -> Option<Adapter<T>> {
			Adapters::<T>::get(adapter)
		}

		/// The adapters trained on `datanet`, with the version each used.
		pub fn adapters_by_datanet(datanet: DatanetId) -> Vec<(AdapterId, DatanetVersion)> {
			AdaptersByDatanet::<T>::iter_prefix(datanet).collect()
		}

		/// Deployed adapters with their model and price per 1,000 tokens.
		pub fn deployed() -> Vec<(AdapterId, ModelId, BalanceOf<T>)> {
			Deployed::<T>::iter_keys()
				.filter_map(|id| {
					let a = Adapters::<T>::get(id)?;
					Some((id, a.model, a.price_per_1k?))
				})
				.collect()
		}

		/// Queued jobs, oldest model first.
		pub fn queued_jobs() -> Vec<ModelId> {
			let mut ids: Vec<_> = Queue::<T>::iter_keys().collect();
			ids.sort();
			ids
		}
	}

	impl<T: Config> Pallet<T> {
		fn authorize_claim(
			_source: TransactionSource,
			claim: &Claim<T::TrainerId>,
			signature: &<T::TrainerId as RuntimeAppPublic>::Signature,
		) -> TransactionValidityWithRefund {
			Self::check_claim(claim).map_err(|_| InvalidTransaction::Stale)?;
			Self::valid_signed(&claim.key, claim, signature, (b"claim", claim.model, claim.attempt))
		}

		fn authorize_report(
			_source: TransactionSource,
			report: &TrainingReport<T>,
			signature: &<T::TrainerId as RuntimeAppPublic>::Signature,
		) -> TransactionValidityWithRefund {
			Self::check_report(report).map_err(|_| InvalidTransaction::Stale)?;
			Self::valid_signed(&report.key, report, signature, (b"report", report.model, report.attempt))
		}

		fn authorize_attestation(
			_source: TransactionSource,
			a: &Attestation<T>,
			signature: &<T::TrainerId as RuntimeAppPublic>::Signature,
		) -> TransactionValidityWithRefund {
			let (attestor, ..) = Self::check_attestation(a).map_err(|_| InvalidTransaction::Stale)?;
			Self::valid_signed(&a.key, a, signature, (b"attest", a.model, a.attempt, attestor))
		}

		/// A valid transaction if `key` signed `payload`, providing `tag` (so only one claim per
		/// job attempt, one report, one attestation per attestor reaches a block).
		fn valid_signed(
			key: &T::TrainerId,
			payload: &impl Encode,
			signature: &<T::TrainerId as RuntimeAppPublic>::Signature,
			tag: impl Encode,
		) -> TransactionValidityWithRefund {
			if !payload.using_encoded(|bytes| key.verify(&bytes, signature)) {
				return Err(InvalidTransaction::BadProof.into());
			}
			ValidTransaction::with_tag_prefix("MnemoModels")
				.priority(T::TrainerPriority::get())
				.and_provides(tag)
				.longevity(16)
				.propagate(true)
				.build()
				.map(|v| (v, Weight::zero()))
		}
	}
}

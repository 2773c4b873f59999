//! The model domain: what a model proposal pins, the stages it goes through, training jobs,
//! trainers, evaluation reports and adapters.

use crate::{frame_support, frame_system, Config};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound};
use frame_system::pallet_prelude::BlockNumberFor;
use mnemo_primitives::{
	engine::{self, DatanetEval, EvalMetrics, LoraSpec},
	governance::ProposalId,
	AdapterId, ContentHash, DatanetId, DatanetVersion, ModelId, ModelStage,
};
use polkadot_sdk::sp_runtime::{FixedU128, Perbill};
use scale_info::TypeInfo;

pub(crate) type BalanceOf<T> = <<T as Config>::Currency as frame_support::traits::fungible::Inspect<
	<T as frame_system::Config>::AccountId,
>>::Balance;

/// A short name or identifier, at most `StringLimit` bytes.
pub type Name<T> = BoundedVec<u8, <T as Config>::StringLimit>;

/// A long text: inline (bounded) or the content hash of a document in the blob store.
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
pub enum Text<T: Config> {
	/// The text itself, at most `MaxTextLen` bytes.
	Inline(BoundedVec<u8, T::MaxTextLen>),
	/// The blake2-256 of a document in the blob store.
	Hash(ContentHash),
}

/// A module of the Llama block a LoRA adapter may target (PEFT's names in [`Target::peft_name`]).
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum Target {
	Q,
	K,
	V,
	O,
	Gate,
	Up,
	Down,
}

impl Target {
	/// The module's name in Hugging Face PEFT (`target_modules`).
	pub fn peft_name(&self) -> &'static str {
		match self {
			Target::Q => "q_proj",
			Target::K => "k_proj",
			Target::V => "v_proj",
			Target::O => "o_proj",
			Target::Gate => "gate_proj",
			Target::Up => "up_proj",
			Target::Down => "down_proj",
		}
	}
}

/// Every target at most once: seven.
pub type Targets = BoundedVec<Target, frame_support::traits::ConstU32<7>>;

/// LoRA hyper-parameters. The learning rate is a `Perbill` (it is below 1; `2e-4` is
/// `Perbill::from_parts(200_000)`).
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct LoraParams {
	pub rank: u16,
	pub alpha: u16,
	pub targets: Targets,
	pub epochs: u16,
	pub learning_rate: Perbill,
	pub seed: u64,
}

/// How the adapter is evaluated: the held-out fraction of each contribution, a token cap, and
/// how far an attestor's measurement may be from the trainer's and still confirm it.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct EvalSpec {
	/// Fraction of each contribution's chunks held out, strictly between 0 and 1.
	pub holdout: Perbill,
	/// Most tokens evaluated per datanet; 0 = the whole held-out split.
	pub max_eval_tokens: u32,
	/// Relative tolerance: an attestor confirms when each of its losses is within
	/// `tolerance × reported` of the trainer's.
	pub tolerance: Perbill,
}

/// Everything a builder pins when proposing a model.
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
pub struct ModelSpec<T: Config> {
	pub name: Name<T>,
	pub purpose: Text<T>,
	pub use_case: Text<T>,
	/// Base model identifier, e.g. `smollm2-135m`.
	pub base_model: Name<T>,
	/// The training data: published datanet versions, each datanet once.
	pub datanets: BoundedVec<(DatanetId, DatanetVersion), T::MaxDatanets>,
	pub lora: LoraParams,
	pub eval: EvalSpec,
	/// The adapter this model is a new version of (same base model, owned by the builder).
	pub parent: Option<AdapterId>,
}

impl<T: Config> ModelSpec<T> {
	/// The engine's view of the hyper-parameters.
	pub fn lora_spec(&self) -> LoraSpec {
		LoraSpec {
			rank: self.lora.rank.into(),
			alpha: self.lora.alpha.into(),
			targets: self.lora.targets.iter().map(|t| t.peft_name().into()).collect(),
			epochs: self.lora.epochs.into(),
			learning_rate: engine::perbill_to_fraction(self.lora.learning_rate),
			seed: self.lora.seed,
		}
	}

	/// The engine's view of the evaluation settings.
	pub fn eval_settings(&self) -> engine::EvalSettings {
		engine::EvalSettings {
			holdout: engine::perbill_to_fraction(self.eval.holdout),
			max_eval_tokens: self.eval.max_eval_tokens,
		}
	}
}

/// Where a model is. The arrows a model may take are in [`Stage::can_become`].
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum Stage {
	/// Waiting for stakers to decide its proposal.
	Proposed,
	/// Approved: its training job waits for a trainer.
	Approved,
	/// A trainer claimed the job and is training.
	Training,
	/// The trainer reported an adapter; other trainers are re-evaluating it.
	Trained,
	/// A quorum of trainers confirmed the metrics: an adapter exists.
	Evaluated,
	/// Serving inferences at a price.
	Deployed,
	/// Retired by its owner or governance: takes no new inferences.
	Retired,
	/// Stakers turned the proposal down (or governance cancelled it); the bond was slashed.
	Rejected,
	/// The builder withdrew it before approval; the bond was returned.
	Withdrawn,
	/// Training failed `MaxAttempts` times.
	Failed,
}

impl Stage {
	/// The lifecycle's arrows. Anything else is an illegal transition.
	pub fn can_become(self, to: Stage) -> bool {
		use Stage::*;
		matches!(
			(self, to),
			(Proposed, Approved | Rejected | Withdrawn) |
				(Approved, Training) |
				(Training, Trained | Approved | Failed) |
				(Trained, Evaluated | Approved | Failed) |
				(Evaluated, Deployed | Retired) |
				(Deployed, Retired)
		)
	}

	/// How other pallets see the stage.
	pub fn public(self) -> ModelStage {
		match self {
			Stage::Proposed => ModelStage::Proposed,
			Stage::Approved | Stage::Training | Stage::Trained => ModelStage::Approved,
			Stage::Evaluated => ModelStage::Evaluated,
			Stage::Deployed => ModelStage::Deployed,
			Stage::Retired | Stage::Rejected | Stage::Withdrawn | Stage::Failed =>
				ModelStage::Closed,
		}
	}
}

/// A model on chain.
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
pub struct Model<T: Config> {
	/// The builder who proposed it; owns its adapter.
	pub owner: T::AccountId,
	pub spec: ModelSpec<T>,
	pub stage: Stage,
	/// Held from the owner while the model is Proposed.
	pub bond: BalanceOf<T>,
	/// The governance proposal that decides it.
	pub proposal: ProposalId,
	/// How many times training was attempted (the current attempt while Training/Trained).
	pub attempt: u32,
	/// The adapter, once Evaluated.
	pub adapter: Option<AdapterId>,
	pub proposed_at: BlockNumberFor<T>,
}

/// Base model versus adapter on one training datanet's held-out split, in fixed point.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct DatanetMetrics {
	pub datanet: DatanetId,
	pub version: DatanetVersion,
	pub eval_tokens: u64,
	pub base_loss: FixedU128,
	pub base_perplexity: FixedU128,
	pub adapter_loss: FixedU128,
	pub adapter_perplexity: FixedU128,
}

impl DatanetMetrics {
	/// From the engine's JSON; `None` if a number is not a finite, non-negative measurement.
	pub fn from_engine(e: &DatanetEval) -> Option<Self> {
		Some(Self {
			datanet: e.datanet,
			version: e.version,
			eval_tokens: e.eval_tokens,
			base_loss: engine::to_fixed(e.base.loss)?,
			base_perplexity: engine::to_fixed(e.base.perplexity)?,
			adapter_loss: engine::to_fixed(e.adapter.loss)?,
			adapter_perplexity: engine::to_fixed(e.adapter.perplexity)?,
		})
	}

	/// Whether the adapter's loss is below the base model's.
	pub fn improved(&self) -> bool {
		self.adapter_loss < self.base_loss
	}
}

/// An evaluation, one entry per training datanet in the spec's order.
pub type Metrics<T> = BoundedVec<DatanetMetrics, <T as Config>::MaxDatanets>;

/// Whether `metrics` cover exactly `datanets`, in that order: the shape every report and
/// attestation must have.
pub fn covers(metrics: &[DatanetMetrics], datanets: &[(DatanetId, DatanetVersion)]) -> bool {
	metrics.len() == datanets.len() &&
		metrics.iter().zip(datanets).all(|(m, (d, v))| (m.datanet, m.version) == (*d, *v))
}

/// Convert the engine's metrics, checking they cover exactly `datanets`, in that order.
pub fn metrics_from_engine<T: Config>(
	m: &EvalMetrics,
	datanets: &[(DatanetId, DatanetVersion)],
) -> Option<Metrics<T>> {
	let converted = m.per_datanet.iter().map(DatanetMetrics::from_engine).collect::<Option<alloc::vec::Vec<_>>>()?;
	if !covers(&converted, datanets) {
		return None;
	}
	Metrics::<T>::try_from(converted).ok()
}

/// A registered trainer.
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
pub struct Trainer<T: Config> {
	/// The offchain key its worker signs with.
	pub key: T::TrainerId,
	/// Held; timeouts and disputed reports slash part of it.
	pub bond: BalanceOf<T>,
	/// The job it holds, if any (one at a time).
	pub job: Option<ModelId>,
}

/// Where a model's training job is.
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
pub enum Job<T: Config> {
	/// Waiting for a trainer to claim it.
	Queued,
	/// `trainer` must report by `deadline`.
	Claimed { trainer: T::AccountId, deadline: BlockNumberFor<T> },
	/// `trainer` reported; attestors confirm or dispute until `deadline`.
	Reported {
		trainer: T::AccountId,
		adapter_hash: ContentHash,
		metrics: Metrics<T>,
		confirms: u32,
		disputes: u32,
		deadline: BlockNumberFor<T>,
	},
}

/// What a trainer's key signs to claim a job (an authorized transaction).
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Claim<Key> {
	pub model: ModelId,
	pub attempt: u32,
	pub key: Key,
}

/// What a trainer's key signs to report a trained adapter.
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
pub struct TrainingReport<T: Config> {
	pub model: ModelId,
	pub attempt: u32,
	pub key: T::TrainerId,
	pub adapter_hash: ContentHash,
	pub metrics: Metrics<T>,
}

/// What another trainer's key signs after re-evaluating a reported adapter.
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
pub struct Attestation<T: Config> {
	pub model: ModelId,
	pub attempt: u32,
	pub key: T::TrainerId,
	/// The adapter it evaluated (must be the reported one).
	pub adapter_hash: ContentHash,
	pub metrics: Metrics<T>,
}

/// Whether `measured` confirms `reported`: same datanets, and every loss within `tolerance`
/// (relative to the reported value) of the reported one.
pub fn within_tolerance(reported: &[DatanetMetrics], measured: &[DatanetMetrics], tolerance: Perbill) -> bool {
	let close = |a: FixedU128, b: FixedU128| {
		let diff = if a > b { a - b } else { b - a };
		diff.into_inner() <= tolerance.mul_ceil(a.into_inner())
	};
	reported.len() == measured.len() &&
		reported.iter().zip(measured).all(|(r, m)| {
			(r.datanet, r.version) == (m.datanet, m.version) &&
				close(r.base_loss, m.base_loss) &&
				close(r.adapter_loss, m.adapter_loss)
		})
}

/// A trained, evaluated adapter.
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
pub struct Adapter<T: Config> {
	pub model: ModelId,
	/// The builder; paid the adapter owner's share.
	pub owner: T::AccountId,
	pub base_model: Name<T>,
	pub datanets: BoundedVec<(DatanetId, DatanetVersion), T::MaxDatanets>,
	/// The weights (PEFT safetensors + config) in the blob store.
	pub artifact: ContentHash,
	/// The trainer's metrics, confirmed by a quorum of attestors.
	pub metrics: Metrics<T>,
	/// The adapter this one is a new version of.
	pub parent: Option<AdapterId>,
	/// Price per 1,000 tokens, set when deployed.
	pub price_per_1k: Option<BalanceOf<T>>,
	/// The trainer that produced it.
	pub trainer: T::AccountId,
	pub evaluated_at: BlockNumberFor<T>,
}

/// Timing and quorum of training jobs. Storage, set by governance; the development preset
/// sets short periods.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	serde::Serialize,
	serde::Deserialize,
)]
pub struct Settings<BlockNumber> {
	/// Blocks a trainer has from its claim to its report.
	pub training_period: BlockNumber,
	/// Blocks attestors have from the report to a quorum.
	pub evaluation_period: BlockNumber,
	/// Confirmations (distinct trainers other than the reporter) that make a model Evaluated;
	/// the same number of disputes voids the report.
	pub eval_quorum: u32,
	/// Attempts before a model is Failed.
	pub max_attempts: u32,
	/// Share of a trainer's bond slashed when it misses its deadline.
	pub timeout_slash: Perbill,
	/// Share of a trainer's bond slashed when a quorum disputes its report.
	pub dispute_slash: Perbill,
}

impl<B: From<u32>> Default for Settings<B> {
	fn default() -> Self {
		Self {
			training_period: 600u32.into(),
			evaluation_period: 300u32.into(),
			eval_quorum: 2,
			max_attempts: 3,
			timeout_slash: Perbill::from_percent(10),
			dispute_slash: Perbill::from_percent(50),
		}
	}
}

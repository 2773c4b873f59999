//! Configuration of Mnemo's own pallets.

use polkadot_sdk::*;

use frame_support::{
	parameter_types,
	traits::{fungible::HoldConsideration, ConstU128, ConstU16, ConstU32, EitherOfDiverse, LinearStoragePrice},
	weights::Weight,
	PalletId,
};
use frame_system::EnsureRoot;
use pallet_governance::{EnsureGovernance, EnsureKind, ProposalKind};
use mnemo_primitives::token::{deposit, MILLI_UNIT, UNIT};
use sp_runtime::traits::AccountIdConversion;

use crate::{
	AccountId, Balance, Balances, BlockNumber, Datanets, Governance, Models, Preimage, Rewards, Runtime, RuntimeCall, RuntimeEvent,
	RuntimeHoldReason, RuntimeOrigin, TxExtension, UncheckedExtrinsic, DAYS, MAXIMUM_BLOCK_WEIGHT,
};

/// Root (sudo, in the dev and local presets only) or a passed proposal of any kind.
pub type GovernanceOrRoot = EitherOfDiverse<EnsureRoot<AccountId>, EnsureGovernance>;

parameter_types! {
	/// The treasury's pallet id; its account receives slashed bonds.
	pub const TreasuryPalletId: PalletId = PalletId(*b"mn/trsry");
	/// The treasury account.
	pub TreasuryAccount: AccountId = TreasuryPalletId::get().into_account_truncating();
}

parameter_types! {
	/// A datanet record with its metadata, rules and invite list: 1 MNEMO plus its bytes.
	pub const DatanetDeposit: Balance = UNIT + deposit(1, 4_096);
	/// Half of an operator's bond for a batch it commits and then does not open.
	pub const WithholdSlash: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(50);
	/// All of an operator's bond for a batch proven false (docs/settlement.md: the maths sizes
	/// batches so that this loses more than cheating gains).
	pub const FraudSlash: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(100);
	/// A fifth of a fraud's slash to whoever found it: proving fraud pays.
	pub const FinderReward: sp_runtime::Perbill = sp_runtime::Perbill::from_percent(20);
	/// One version record.
	pub const VersionDeposit: Balance = deposit(1, 96);
	/// A contribution record and its indexes, kept while it is approved.
	pub const ContributionRecordDeposit: Balance = deposit(4, 300);
	/// An open commitment.
	pub const CommitDeposit: Balance = deposit(1, 48);
	/// The smallest bond a datanet may ask per contribution.
	pub const MinContributionBond: Balance = 10 * MILLI_UNIT;
	/// Largest contribution: 64 MiB.
	pub const MaxContributionBytes: u64 = 64 << 20;
	/// Longest review period a datanet may set: 30 days.
	pub const MaxReviewPeriod: BlockNumber = 30 * DAYS;
	/// Validation reports go ahead of ordinary transactions in the pool.
	pub const ValidationPriority: u64 = 1 << 20;
}

impl pallet_datanets::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type ValidatorId = pallet_datanets::ValidatorKey;
	// Governance (pallet-governance) replaces root here when it lands.
	type RemoveOrigin = GovernanceOrRoot;
	type Treasury = TreasuryAccount;
	type DatanetDeposit = DatanetDeposit;
	type VersionDeposit = VersionDeposit;
	type RecordDeposit = ContributionRecordDeposit;
	type CommitDeposit = CommitDeposit;
	type MinBond = MinContributionBond;
	type StringLimit = ConstU32<64>;
	type MaxSummaryLen = ConstU32<256>;
	type MaxDescriptionLen = ConstU32<2_048>;
	type MaxTags = ConstU32<8>;
	type MaxCurators = ConstU32<16>;
	type MaxValidators = ConstU32<8>;
	type MaxInvites = ConstU32<1_024>;
	type MaxContributions = ConstU32<2_048>;
	type MaxContributionBytes = MaxContributionBytes;
	type MaxExpiringPerBlock = ConstU32<64>;
	type MaxReviewPeriod = MaxReviewPeriod;
	type ValidationPriority = ValidationPriority;
	type MaxValidationsPerBlock = ConstU32<4>;
	type WeightInfo = pallet_datanets::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
	/// A model proposal's bond: 50 MNEMO (returned on approval, slashed on rejection).
	pub const ModelBond: Balance = 50 * UNIT;
	/// A trainer's bond: 100 MNEMO.
	pub const TrainerBond: Balance = 100 * UNIT;
	/// Trainers' claims, reports and attestations go ahead of ordinary transactions.
	pub const TrainerPriority: u64 = 1 << 20;
	pub const ModelApprovalKind: ProposalKind = ProposalKind::ModelApproval;
}

impl pallet_models::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type TrainerId = pallet_models::TrainerKey;
	type Datanets = Datanets;
	type Proposals = Governance;
	// Only a passed model-approval proposal (or root) approves or rejects a model.
	type ApproveOrigin = EitherOfDiverse<EnsureRoot<AccountId>, EnsureKind<ModelApprovalKind>>;
	type GovernanceOrigin = GovernanceOrRoot;
	type Treasury = TreasuryAccount;
	type ModelBond = ModelBond;
	type TrainerBond = TrainerBond;
	type StringLimit = ConstU32<64>;
	type MaxTextLen = ConstU32<1_024>;
	type MaxDatanets = ConstU32<8>;
	type MaxRank = ConstU16<256>;
	type MaxEpochs = ConstU16<100>;
	type MaxTrainers = ConstU32<64>;
	type MaxDeadlinesPerBlock = ConstU32<16>;
	type MaxHistory = ConstU32<32>;
	type TrainerPriority = TrainerPriority;
	type WeightInfo = pallet_models::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = ModelsBenchmarkHelper;
}

parameter_types! {
	/// The rewards pallet's id; its account holds escrowed fees and unclaimed rewards.
	pub const RewardsPalletId: PalletId = PalletId(*b"mn/rewrd");
}

impl pallet_rewards::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type GovernanceOrigin = GovernanceOrRoot;
	type PalletId = RewardsPalletId;
	type Treasury = TreasuryAccount;
	// Attribution's largest panel: a batch's attestors' part is shared among at most 8.
	type MaxAttestors = ConstU32<8>;
	type MaxChannels = ConstU32<32>;
	// A hundredth of a MNEMO: a channel's storage is not free.
	type MinChannelDeposit = ConstU128<{ UNIT / 100 }>;
	// Ten blocks (a minute at 6 s): an operator's engine submits what it holds within its build
	// budget (at most 30 s) and sees it land within three blocks.
	type MinNotice = ConstU32<10>;
	type MaxSpendPeriods = ConstU32<30>;
	type MaxPayersPerBatch = ConstU32<256>;
	// Sixteen payers a block: a full batch of 256 is back with its payers within 16 blocks.
	// Priced at its worst (each payer a batch of its own, its batch's charges read whole), a
	// block's share stays near 18 ms and 360 KiB of proof, beside the batch deadlines' worst
	// (the runtime test `the_batch_hooks_at_their_worst_fit_beside_a_block_full_of_transactions`).
	type MaxRefundsPerBlock = ConstU32<16>;
	type WeightInfo = pallet_rewards::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
	/// A serving operator's bond.
	pub const OperatorBond: Balance = 100 * UNIT;
	/// An attestor's bond: what strikes slash.
	pub const AttestorBond: Balance = 100 * UNIT;
	/// Attestors' commitments and reveals are feeless; they rank like trainers' reports.
	pub const AttestorPriority: u64 = TrainerPriority::get();
}

/// Assignment randomness: the relay parent's storage root, mixed with the parachain block's
/// parent hash and the subject. Nobody knows a relay block's state root before the relay chain
/// built it, so an operator cannot pick its attestors when it submits a batch; a collator can
/// only choose among the few relay parents it may build on. Where no relay state is available
/// (the `--dev` node's mocked relay, benchmarks) the parent hash alone remains: a documented
/// development substitute, not a source to rely on.
pub struct RelayRandomness;
impl frame_support::traits::Randomness<crate::Hash, BlockNumber> for RelayRandomness {
	fn random(subject: &[u8]) -> (crate::Hash, BlockNumber) {
		use cumulus_pallet_parachain_system::RelaychainStateProvider;
		use codec::Encode;
		let relay = cumulus_pallet_parachain_system::RelaychainDataProvider::<Runtime>::current_relay_chain_state();
		let parent = frame_system::Pallet::<Runtime>::parent_hash();
		let seed = (b"mnemo/relay-randomness", relay.state_root, parent, subject)
			.using_encoded(sp_io::hashing::blake2_256);
		(seed.into(), frame_system::Pallet::<Runtime>::block_number())
	}
}

impl pallet_attribution::Config for Runtime {
	type Time = crate::Timestamp;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type AttestorId = pallet_attribution::AttestorKey;
	type PayerSignature = crate::Signature;
	type Models = Models;
	type Datanets = Datanets;
	type Randomness = RelayRandomness;
	type GovernanceOrigin = GovernanceOrRoot;
	type Treasury = TreasuryAccount;
	type OperatorBond = OperatorBond;
	type AttestorBond = AttestorBond;
	// A panel of at most 5 attestors, each report naming at most 16 contributions.
	type MaxAssigned = ConstU32<5>;
	type MaxContributions = ConstU32<16>;
	type MaxAttestors = ConstU32<64>;
	type MaxPrunePerBlock = ConstU32<16>;
	type AttestorPriority = AttestorPriority;
	type BatchEscrow = Rewards;
	type MaxPayersPerBatch = ConstU32<256>;
	type MaxReceiptsPerBatch = ConstU32<4_096>;
	// Sixteen leaves of each batch recomputed (docs/settlement.md: the detection maths).
	type SampleSize = ConstU32<16>;
	type SampleDelay = ConstU32<2>;
	type OpenPeriod = ConstU32<10>;
	type MaxPendingBatches = ConstU32<64>;
	type AuditRounds = ConstU32<3>;
	type MaxBatchesPerBlock = ConstU32<16>;
	type WithholdSlash = WithholdSlash;
	type FraudSlash = FraudSlash;
	type FinderReward = FinderReward;
	type WeightInfo = pallet_attribution::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = AttributionBenchmarkHelper;
}

/// Sets up the attribution benchmarks in this runtime with the real pallets: a deployed adapter
/// trained on published datanet versions (through the models and datanets pallets' own setup),
/// and payers whose sr25519 keys the benchmark's keystore holds, each with a channel to the operator.
#[cfg(feature = "runtime-benchmarks")]
pub struct AttributionBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
const PAYER_KEYS: sp_core::crypto::KeyTypeId = sp_core::crypto::KeyTypeId(*b"payr");
#[cfg(feature = "runtime-benchmarks")]
impl pallet_attribution::BenchmarkHelper<AccountId, crate::Signature> for AttributionBenchmarkHelper {
	fn deployed_adapter(_k: u32) -> (u32, alloc::vec::Vec<u64>) {
		// Every published version holds `version_contributions()`, so the largest model spec
		// covers the attribution pallet's `MaxContributions`; one adapter serves all.
		let adapter = match pallet_models::Deployed::<Runtime>::iter_keys().next() {
			Some(a) => a,
			None => pallet_models::benchmarking::deployed_adapter::<Runtime>(UNIT).0,
		};
		use mnemo_primitives::ModelsInspect as _;
		let contributions = Models::training_datanets(adapter)
			.into_iter()
			.flat_map(|(d, v)| Datanets::version_contributions(d, v))
			.map(|(c, _)| c)
			.collect();
		(adapter, contributions)
	}
	fn payer(i: u32, operator: &AccountId) -> AccountId {
		use frame_support::traits::fungible::Mutate;
		let seed = alloc::format!("//mnemo-bench-payer-{i}");
		let key = sp_io::crypto::sr25519_generate(PAYER_KEYS, Some(seed.into_bytes()));
		let payer = AccountId::from(key);
		let plenty: Balance = 1 << 100;
		let _ = Balances::set_balance(&payer, plenty);
		// The same payer may come back (several receipts each): its channel is only opened once.
		if pallet_rewards::Channels::<Runtime>::get(&payer, operator).is_none() {
			Rewards::open_channel(RuntimeOrigin::signed(payer.clone()), operator.clone(), plenty / 2)
				.expect("the payer's channel");
		}
		payer
	}
	fn channel(payer: &AccountId, operator: &AccountId) -> u64 {
		pallet_rewards::Channels::<Runtime>::get(payer, operator).map_or(0, |c| c.id)
	}
	fn sign(payer: &AccountId, payload: &[u8]) -> crate::Signature {
		let public = sp_core::sr25519::Public::from_raw(*payer.as_ref());
		let signature = sp_io::crypto::sr25519_sign(PAYER_KEYS, &public, payload)
			.expect("the payer's key was generated in the benchmark keystore");
		sp_runtime::MultiSignature::Sr25519(signature)
	}
}

/// Contributions in each datanet version the models benchmarks publish: enough that a model of
/// `MaxDatanets` versions covers the attribution pallet's `MaxContributions`.
#[cfg(feature = "runtime-benchmarks")]
fn version_contributions() -> u32 {
	use frame_support::traits::Get;
	let wanted: u32 = <Runtime as pallet_attribution::Config>::MaxContributions::get();
	let datanets: u32 = <Runtime as pallet_models::Config>::MaxDatanets::get();
	wanted.div_ceil(datanets.max(1))
}

/// Publishes a real datanet version (created, contributed, approved and published through the
/// datanets pallet) for each datanet the models benchmarks train on.
#[cfg(feature = "runtime-benchmarks")]
pub struct ModelsBenchmarkHelper;
#[cfg(feature = "runtime-benchmarks")]
impl pallet_models::BenchmarkHelper for ModelsBenchmarkHelper {
	fn published_version(_i: u32) -> (u32, u32) {
		let (d, v, _) = pallet_datanets::benchmarking::published_version::<Runtime>(version_contributions());
		(d, v)
	}
}

// Offchain workers build transactions through these.

impl<C> frame_system::offchain::CreateTransactionBase<C> for Runtime
where
	RuntimeCall: From<C>,
{
	type RuntimeCall = RuntimeCall;
	type Extrinsic = UncheckedExtrinsic;
}

impl<C> frame_system::offchain::CreateTransaction<C> for Runtime
where
	RuntimeCall: From<C>,
{
	type Extension = TxExtension;

	fn create_transaction(call: RuntimeCall, extension: TxExtension) -> UncheckedExtrinsic {
		UncheckedExtrinsic::new_transaction(call, extension)
	}
}

/// Authorized calls (validation reports and the like) carry no signature and pay no fee: the
/// call's own `authorize` checks who may send it. Every other extension runs as usual and skips
/// what needs a signed origin (nonce, fee).
impl<C> frame_system::offchain::CreateAuthorizedTransaction<C> for Runtime
where
	RuntimeCall: From<C>,
{
	fn create_extension() -> TxExtension {
		(
			frame_system::AuthorizeCall::<Runtime>::new(),
			frame_system::CheckNonZeroSender::<Runtime>::new(),
			frame_system::CheckSpecVersion::<Runtime>::new(),
			frame_system::CheckTxVersion::<Runtime>::new(),
			frame_system::CheckGenesis::<Runtime>::new(),
			frame_system::CheckEra::<Runtime>::from(sp_runtime::generic::Era::Immortal),
			frame_system::CheckNonce::<Runtime>::from(0),
			frame_system::CheckWeight::<Runtime>::new(),
			pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(0),
			frame_metadata_hash_extension::CheckMetadataHash::<Runtime>::new(false),
		)
			.into()
	}
}

parameter_types! {
	pub const PreimageBaseDeposit: Balance = deposit(2, 64);
	pub const PreimageByteDeposit: Balance = deposit(0, 1);
	pub const PreimageHoldReason: RuntimeHoldReason =
		RuntimeHoldReason::Preimage(pallet_preimage::HoldReason::Preimage);
}

/// Preimages of large proposal calls; noted by hand, they are paid for with a hold.
impl pallet_preimage::Config for Runtime {
	type WeightInfo = pallet_preimage::weights::SubstrateWeight<Runtime>;
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type ManagerOrigin = GovernanceOrRoot;
	type Consideration = HoldConsideration<
		AccountId,
		Balances,
		PreimageHoldReason,
		LinearStoragePrice<PreimageBaseDeposit, PreimageByteDeposit, Balance>,
	>;
}

parameter_types! {
	/// Stake needed to open a proposal: 100 MNEMO.
	pub const ProposalThreshold: Balance = 100 * UNIT;
	/// A proposal's deposit: 10 MNEMO plus its call's bytes.
	pub const ProposalDepositBase: Balance = 10 * UNIT;
	pub const ProposalDepositPerByte: Balance = deposit(0, 1);
	/// A proposal's call may use 5% of a block: with 4 enactments a block, at most 20%.
	pub MaxProposalCallWeight: Weight = MAXIMUM_BLOCK_WEIGHT / 20;
	/// Longest voting period, enactment delay, unbonding or conviction period: 90 days.
	pub const MaxGovernancePeriod: BlockNumber = 90 * DAYS;
	pub const TreasurySpendKind: ProposalKind = ProposalKind::TreasurySpend;
}

impl pallet_governance::Config for Runtime {
	type RuntimeOrigin = RuntimeOrigin;
	type RuntimeCall = RuntimeCall;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Preimages = Preimage;
	type Treasury = TreasuryAccount;
	type CancelOrigin = GovernanceOrRoot;
	type ParamsOrigin = GovernanceOrRoot;
	type SpendOrigin = EitherOfDiverse<EnsureRoot<AccountId>, EnsureKind<TreasurySpendKind>>;
	type OnFailed = crate::Models;
	type ProposalThreshold = ProposalThreshold;
	type ProposalDepositBase = ProposalDepositBase;
	type ProposalDepositPerByte = ProposalDepositPerByte;
	type MaxCallWeight = MaxProposalCallWeight;
	type MaxPeriod = MaxGovernancePeriod;
	type MaxProposals = ConstU32<64>;
	type MaxDecisionsPerBlock = ConstU32<4>;
	type MaxVotes = ConstU32<32>;
	type MaxUnbonding = ConstU32<16>;
	type WeightInfo = pallet_governance::weights::SubstrateWeight<Runtime>;
}

//! The smallest runtime that runs the pallet: System, Balances and Models, with the datanets and
//! governance seams mocked (the runtime's tests use the real pallets).

use crate as pallet_models;
use crate::*;
use mnemo_primitives::{
	governance::{OpenProposal, ProposalId, ProposalKind},
	ContentHash, ContributionId, DatanetId, DatanetVersion, DatanetsInspect, Reputation,
};
use polkadot_sdk::{
	frame_support::{
		self, derive_impl, parameter_types,
		traits::{ConstU128, ConstU16, ConstU32, Hooks},
		weights::Weight,
		BoundedVec,
	},
	frame_system::{self, EnsureRoot},
	pallet_balances,
	sp_core::offchain::testing,
	sp_io::TestExternalities,
	sp_keystore::{testing::MemoryKeystore, Keystore, KeystoreExt},
	sp_runtime::{BuildStorage, DispatchError, DispatchResult, FixedU128, Perbill},
};

pub type AccountId = u64;
pub type Balance = u128;
type TxExtension = frame_system::AuthorizeCall<Test>;
pub type Extrinsic = polkadot_sdk::sp_runtime::testing::TestXt<RuntimeCall, TxExtension>;
type Block = polkadot_sdk::sp_runtime::generic::Block<
	polkadot_sdk::sp_runtime::generic::Header<u64, polkadot_sdk::sp_runtime::traits::BlakeTwo256>,
	Extrinsic,
>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Models: pallet_models,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<1>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

pub const MODEL_BOND: Balance = 100;
pub const TRAINER_BOND: Balance = 200;
pub const TREASURY: AccountId = 999;
pub const MAX_TRAINERS: u32 = 4;
pub const MAX_DEADLINES: u32 = 2;
pub const MAX_HISTORY: u32 = 8;

parameter_types! {
	pub const Treasury: AccountId = TREASURY;
	/// Published datanet versions and their contributions.
	pub static Published: Vec<((DatanetId, DatanetVersion), Vec<(ContributionId, ContentHash)>)> = Vec::new();
	/// Proposals the mock governance holds open: id, proposer, call, passed.
	pub static Open: Vec<(ProposalId, AccountId, RuntimeCall, bool)> = Vec::new();
	pub static NextProposal: ProposalId = 0;
}

/// The datanets seam: versions a test publishes with [`publish`].
pub struct MockDatanets;
impl DatanetsInspect<AccountId> for MockDatanets {
	fn version_exists(datanet: DatanetId, version: DatanetVersion) -> bool {
		Published::get().iter().any(|(k, _)| *k == (datanet, version))
	}
	fn is_in_version(d: DatanetId, v: DatanetVersion, c: ContributionId) -> bool {
		Self::version_contributions(d, v).iter().any(|(id, _)| *id == c)
	}
	fn contributor(_: ContributionId) -> Option<AccountId> {
		None
	}
	fn datanet_owner(_: DatanetId) -> Option<AccountId> {
		None
	}
	fn earns_credit(_: ContributionId) -> bool {
		true
	}
	fn reputation(_: DatanetId, _: &AccountId) -> Reputation {
		Reputation::default()
	}
	fn version_contributions(d: DatanetId, v: DatanetVersion) -> Vec<(ContributionId, ContentHash)> {
		Published::get().into_iter().find(|(k, _)| *k == (d, v)).map(|(_, c)| c).unwrap_or_default()
	}
}

/// Publish version `v` of datanet `d` with contributions `ids` (content `[id]`).
pub fn publish(d: DatanetId, v: DatanetVersion, ids: &[ContributionId]) {
	Published::mutate(|p| {
		p.push(((d, v), ids.iter().map(|c| (*c, ContentHash::of(&c.to_le_bytes()))).collect()))
	});
}

/// The governance seam: proposals are recorded; tests pass them with [`enact`] or fail them
/// through the `ProposalFailed` hook.
pub struct MockGovernance;
impl OpenProposal<AccountId, RuntimeCall> for MockGovernance {
	fn open(proposer: AccountId, call: RuntimeCall, kind: ProposalKind) -> Result<ProposalId, DispatchError> {
		assert_eq!(kind, ProposalKind::ModelApproval);
		let id = NextProposal::get();
		NextProposal::set(id + 1);
		Open::mutate(|o| o.push((id, proposer, call, false)));
		Ok(id)
	}
	fn withdraw(id: ProposalId) -> DispatchResult {
		let open = Open::get();
		let (_, _, _, passed) = open.iter().find(|p| p.0 == id).ok_or(DispatchError::Other("unknown proposal"))?;
		if *passed {
			return Err(DispatchError::Other("proposal already passed"));
		}
		Open::mutate(|o| o.retain(|p| p.0 != id));
		Ok(())
	}
	fn withdraw_weight() -> Weight {
		Weight::from_parts(1_000, 0)
	}
}

/// Pass proposal `id` and dispatch its call with root (the mock's `ApproveOrigin`).
pub fn enact(id: ProposalId) -> DispatchResult {
	use polkadot_sdk::sp_runtime::traits::Dispatchable;
	let (_, _, call, _) = Open::get().into_iter().find(|p| p.0 == id).expect("open proposal");
	Open::mutate(|o| o.retain(|p| p.0 != id));
	call.dispatch(RuntimeOrigin::root()).map(|_| ()).map_err(|e| e.error)
}

/// Mark proposal `id` passed and waiting for enactment (it can no longer be withdrawn).
pub fn pass(id: ProposalId) {
	Open::mutate(|o| o.iter_mut().filter(|p| p.0 == id).for_each(|p| p.3 = true));
}

impl pallet_models::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type TrainerId = crate::TrainerKey;
	type Datanets = MockDatanets;
	type Proposals = MockGovernance;
	type ApproveOrigin = EnsureRoot<AccountId>;
	type GovernanceOrigin = EnsureRoot<AccountId>;
	type Treasury = Treasury;
	type ModelBond = ConstU128<MODEL_BOND>;
	type TrainerBond = ConstU128<TRAINER_BOND>;
	type StringLimit = ConstU32<32>;
	type MaxTextLen = ConstU32<128>;
	type MaxDatanets = ConstU32<3>;
	type MaxRank = ConstU16<64>;
	type MaxEpochs = ConstU16<10>;
	type MaxTrainers = ConstU32<MAX_TRAINERS>;
	type MaxDeadlinesPerBlock = ConstU32<MAX_DEADLINES>;
	type MaxHistory = ConstU32<MAX_HISTORY>;
	type TrainerPriority = frame_support::traits::ConstU64<{ 1 << 20 }>;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockHelper;
}

#[cfg(feature = "runtime-benchmarks")]
pub struct MockHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper for MockHelper {
	fn published_version(i: u32) -> (DatanetId, DatanetVersion) {
		let d = 100 + i;
		if !MockDatanets::version_exists(d, 1) {
			publish(d, 1, &[u64::from(i)]);
		}
		(d, 1)
	}
}

impl<LocalCall> frame_system::offchain::CreateTransactionBase<LocalCall> for Test
where
	RuntimeCall: From<LocalCall>,
{
	type RuntimeCall = RuntimeCall;
	type Extrinsic = Extrinsic;
}

impl<LocalCall> frame_system::offchain::CreateTransaction<LocalCall> for Test
where
	RuntimeCall: From<LocalCall>,
{
	type Extension = TxExtension;
	fn create_transaction(call: RuntimeCall, extension: TxExtension) -> Extrinsic {
		Extrinsic::new_transaction(call, extension)
	}
}

impl<LocalCall> frame_system::offchain::CreateAuthorizedTransaction<LocalCall> for Test
where
	RuntimeCall: From<LocalCall>,
{
	fn create_extension() -> TxExtension {
		TxExtension::new()
	}
}

/// Accounts and what they start with.
pub const BUILDER: AccountId = 1;
pub const OTHER: AccountId = 2;
pub const T1: AccountId = 11;
pub const T2: AccountId = 12;
pub const T3: AccountId = 13;
pub const T4: AccountId = 14;
pub const T5: AccountId = 15;
pub const POOR: AccountId = 20;
pub const START: Balance = 1_000;

/// Periods and quorum of the tests: 10 blocks to train, 5 to evaluate, 2 attestors, 2 attempts.
pub fn settings() -> Settings<u64> {
	Settings {
		training_period: 10,
		evaluation_period: 5,
		eval_quorum: 2,
		max_attempts: 2,
		timeout_slash: Perbill::from_percent(10),
		dispute_slash: Perbill::from_percent(50),
	}
}

pub fn new_test_ext() -> TestExternalities {
	let mut t = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: [BUILDER, OTHER, T1, T2, T3, T4, T5, TREASURY]
			.into_iter()
			.map(|a| (a, START))
			.chain([(POOR, 10)])
			.collect(),
		..Default::default()
	}
	.assimilate_storage(&mut t)
	.unwrap();
	pallet_models::GenesisConfig::<Test> { settings: settings() }
		.assimilate_storage(&mut t)
		.unwrap();
	let mut ext = TestExternalities::new(t);
	ext.execute_with(|| {
		System::set_block_number(1);
		Published::set(Vec::new());
		Open::set(Vec::new());
		NextProposal::set(0);
		publish(0, 1, &[1, 2, 3]);
		publish(1, 2, &[7]);
	});
	ext
}

/// A fresh chain with an empty keystore, for the benchmarks (they generate trainer keys).
#[cfg(feature = "runtime-benchmarks")]
pub fn new_bench_ext() -> TestExternalities {
	let mut ext = new_test_ext();
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext
}

/// Run `test` in a fresh chain with a keystore and check the pallet's invariants after it.
pub fn build_and_execute(test: impl FnOnce()) {
	let mut ext = new_test_ext();
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext.execute_with(|| {
		test();
		Models::do_try_state().expect("invariants hold");
	});
}

pub fn bounded<S: frame_support::traits::Get<u32>>(s: &str) -> BoundedVec<u8, S> {
	s.as_bytes().to_vec().try_into().expect("fits")
}

/// A model on version 1 of datanet 0: rank 8, alpha 16, q and v, 2 epochs, lr 2e-4.
pub fn spec() -> ModelSpec<Test> {
	ModelSpec {
		name: bounded("bard-lora"),
		purpose: Text::Inline(bounded("Answer in the voice of Shakespeare's plays.")),
		use_case: Text::Hash(ContentHash::of(b"use case document")),
		base_model: bounded("smollm2-135m"),
		datanets: vec![(0, 1)].try_into().unwrap(),
		lora: LoraParams {
			rank: 8,
			alpha: 16,
			targets: vec![Target::Q, Target::V].try_into().unwrap(),
			epochs: 2,
			learning_rate: Perbill::from_parts(200_000),
			seed: 42,
		},
		eval: EvalSpec {
			holdout: Perbill::from_percent(10),
			max_eval_tokens: 0,
			tolerance: Perbill::from_percent(2),
		},
		parent: None,
	}
}

/// `BUILDER` proposes [`spec`]; returns the model id.
pub fn propose() -> u32 {
	Models::do_propose_model(BUILDER, spec()).expect("proposed")
}

/// Propose and approve a model: its job is queued.
pub fn approved() -> u32 {
	let id = propose();
	enact(ModelRecords::<Test>::get(id).unwrap().proposal).expect("approved");
	id
}

pub fn run_to_block(n: u64) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		<Models as Hooks<u64>>::on_initialize(next);
	}
}

/// The pallet's events so far, oldest first.
pub fn events() -> Vec<crate::Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Models(e) => Some(e),
			_ => None,
		})
		.collect()
}

pub fn last_event() -> crate::Event<Test> {
	events().pop().expect("an event")
}

pub fn held(reason: crate::HoldReason, who: AccountId) -> Balance {
	use frame_support::traits::fungible::InspectHold;
	Balances::balance_on_hold(&reason.into(), &who)
}

pub fn free(who: AccountId) -> Balance {
	Balances::free_balance(who)
}

/// A trainer key in the externalities' keystore.
pub fn new_key(seed: &str) -> TrainerKey {
	polkadot_sdk::sp_io::crypto::sr25519_generate(crate::KEY_TYPE, Some(seed.as_bytes().to_vec())).into()
}

fn fixed(x: f64) -> FixedU128 {
	mnemo_primitives::engine::to_fixed(x).expect("a measurement")
}

/// Register `who` as a trainer with a fresh key (unless it is one); returns its key.
pub fn trainer(who: AccountId) -> TrainerKey {
	if let Some(t) = Trainers::<Test>::get(who) {
		return t.key;
	}
	let key = new_key(&format!("//Trainer{who}"));
	Models::register_trainer(RuntimeOrigin::signed(who), key.clone()).expect("registered");
	key
}

/// Metrics for datanet 0 version 1: base loss `base`, adapter loss `adapter` (perplexity exp).
pub fn metrics(base: f64, adapter: f64) -> Metrics<Test> {
	let m = DatanetMetrics {
		datanet: 0,
		version: 1,
		eval_tokens: 512,
		base_loss: fixed(base),
		base_perplexity: fixed(base.exp()),
		adapter_loss: fixed(adapter),
		adapter_perplexity: fixed(adapter.exp()),
	};
	vec![m].try_into().unwrap()
}

pub fn adapter_hash() -> ContentHash {
	ContentHash::of(b"adapter weights")
}

/// Dispatch a trainer's call as the authorized transaction its worker would submit.
pub fn dispatch_authorized(call: RuntimeCall) -> DispatchResult {
	use polkadot_sdk::{
		frame_support::traits::Authorize,
		sp_runtime::{traits::Dispatchable, transaction_validity::TransactionSource},
	};
	call.authorize(TransactionSource::External)
		.expect("authorized call")
		.map_err(|_| DispatchError::Other("not authorized"))?;
	call.dispatch(frame_system::RawOrigin::Authorized.into()).map(|_| ()).map_err(|e| e.error)
}

/// The trainer key's signature of `payload` (what its worker signs).
fn sign(key: &TrainerKey, payload: &impl codec::Encode) -> <TrainerKey as polkadot_sdk::sp_application_crypto::RuntimeAppPublic>::Signature {
	use polkadot_sdk::sp_application_crypto::RuntimeAppPublic;
	key.sign(&payload.encode()).expect("key in keystore")
}

pub fn claim_call(key: &TrainerKey, model: u32, attempt: u32) -> RuntimeCall {
	let claim = Claim { model, attempt, key: key.clone() };
	let signature = sign(key, &claim);
	RuntimeCall::Models(crate::Call::claim_job { claim, signature })
}

pub fn report_call(key: &TrainerKey, model: u32, attempt: u32, metrics: Metrics<Test>) -> RuntimeCall {
	let report = TrainingReport { model, attempt, key: key.clone(), adapter_hash: adapter_hash(), metrics };
	let signature = sign(key, &report);
	RuntimeCall::Models(crate::Call::report_training { report, signature })
}

pub fn attest_call(key: &TrainerKey, model: u32, attempt: u32, metrics: Metrics<Test>) -> RuntimeCall {
	let attestation = Attestation { model, attempt, key: key.clone(), adapter_hash: adapter_hash(), metrics };
	let signature = sign(key, &attestation);
	RuntimeCall::Models(crate::Call::attest_evaluation { attestation, signature })
}

/// An approved model trained by `T1` and reported with base loss 3.0, adapter loss 2.5;
/// `T2`, `T3` are registered too. Returns (model, keys of T1, T2, T3).
pub fn reported() -> (u32, TrainerKey, TrainerKey, TrainerKey) {
	let id = approved();
	let (k1, k2, k3) = (trainer(T1), trainer(T2), trainer(T3));
	dispatch_authorized(claim_call(&k1, id, 1)).expect("claimed");
	dispatch_authorized(report_call(&k1, id, 1, metrics(3.0, 2.5))).expect("reported");
	(id, k1, k2, k3)
}

/// A model evaluated (T2 and T3 confirm) and deployed at 5 per 1,000 tokens.
pub fn deployed() -> (u32, u32) {
	let (id, _, k2, k3) = reported();
	dispatch_authorized(attest_call(&k2, id, 1, metrics(3.0, 2.5))).expect("attested");
	dispatch_authorized(attest_call(&k3, id, 1, metrics(3.01, 2.49))).expect("attested");
	Models::deploy(RuntimeOrigin::signed(BUILDER), id, 5).expect("deployed");
	(id, ModelRecords::<Test>::get(id).unwrap().adapter.unwrap())
}

/// Externalities with an offchain worker, a transaction pool and a keystore attached.
pub fn offchain_ext(
	keystore: MemoryKeystore,
) -> (
	TestExternalities,
	std::sync::Arc<parking_lot::RwLock<testing::OffchainState>>,
	std::sync::Arc<parking_lot::RwLock<testing::PoolState>>,
) {
	use polkadot_sdk::sp_core::offchain::{OffchainDbExt, OffchainWorkerExt, TransactionPoolExt};
	let (offchain, offchain_state) = testing::TestOffchainExt::new();
	let (pool, pool_state) = testing::TestTransactionPoolExt::new();
	let mut ext = new_test_ext();
	ext.register_extension(OffchainWorkerExt::new(offchain.clone()));
	ext.register_extension(OffchainDbExt::new(offchain));
	ext.register_extension(TransactionPoolExt::new(pool));
	ext.register_extension(KeystoreExt::new(keystore));
	(ext, offchain_state, pool_state)
}

/// A keystore with one trainer key; returns it with the key's public part.
pub fn keystore_with_trainer(seed: &str) -> (MemoryKeystore, TrainerKey) {
	let keystore = MemoryKeystore::new();
	let public = keystore.sr25519_generate_new(crate::KEY_TYPE, Some(seed)).expect("key generated");
	(keystore, public.into())
}

/// A check's outcome as a dispatch result, to compare errors.
pub fn e<R>(r: Result<R, crate::Error<Test>>) -> Result<(), DispatchError> {
	r.map(|_| ()).map_err(Into::into)
}

/// A signature that verifies nothing.
pub fn zero_signature() -> <TrainerKey as polkadot_sdk::sp_application_crypto::RuntimeAppPublic>::Signature {
	polkadot_sdk::sp_core::sr25519::Signature::from_raw([0u8; 64]).into()
}

//! The smallest runtime that runs the pallet: System, Balances and Attribution, with the models,
//! datanets, batch-escrow and randomness seams mocked (the runtime's tests use the real pallets).

use crate as pallet_attribution;
use codec::Encode;
pub use polkadot_sdk::frame_support::BoundedVec;
use crate::*;
use mnemo_primitives::{
	AdapterId, Balance, ContentHash, ContributionId, DatanetId, DatanetVersion, DatanetsInspect,
	ModelId, ModelStage, ModelsInspect, Reputation, RequestId, Voucher,
};
use polkadot_sdk::{
	frame_support::{
		self, derive_impl, parameter_types,
		traits::{ConstU128, ConstU32, Hooks},
		weights::Weight,
	},
	frame_system::{self, EnsureRoot},
	pallet_balances,
	sp_core::{offchain::testing, H256},
	sp_io::TestExternalities,
	sp_keystore::{testing::MemoryKeystore, Keystore, KeystoreExt},
	sp_runtime::{testing::TestSignature, BuildStorage, DispatchError, DispatchResult, Perbill},
};

pub type AccountId = u64;
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
		Attribution: pallet_attribution,
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

pub const OPERATOR_BOND: Balance = 100;
pub const ATTESTOR_BOND: Balance = 200;
pub const TREASURY: AccountId = 999;
pub const MAX_ASSIGNED: u32 = 4;
pub const MAX_CONTRIBUTIONS: u32 = 4;
pub const MAX_ATTESTORS: u32 = 6;

/// Accounts.
pub const OPERATOR: AccountId = 1;
pub const PAYER: AccountId = 2;
pub const PAYER2: AccountId = 3;
pub const POOR: AccountId = 4;
pub const A1: AccountId = 11;
pub const A2: AccountId = 12;
pub const A3: AccountId = 13;
pub const A4: AccountId = 14;
pub const A5: AccountId = 15;
pub const C1: AccountId = 21;
pub const C2: AccountId = 22;
pub const OWNER: AccountId = 31;
pub const DN_OWNER: AccountId = 32;
pub const CHALLENGER: AccountId = 41;
pub const START: Balance = 1_000;

/// The deployed adapter (10 per 1,000 tokens, trained on datanet 0 version 1) and one that is
/// only evaluated.
pub const ADAPTER: AdapterId = 7;
pub const UNDEPLOYED: AdapterId = 8;
pub const PRICE: Balance = 10;

parameter_types! {
	/// Credit each payer has with the mock escrow.
	pub static Credit: Vec<(AccountId, Balance)> = Vec::new();
	/// Contributions that no longer earn credit.
	pub static Removed: Vec<ContributionId> = Vec::new();
	/// Randomness seed of panels and samples.
	pub static Seed: u64 = 0;
	pub const Treasury: AccountId = TREASURY;
}

/// Contributions: id, datanet, version, contributor.
pub const CONTRIBUTIONS: [(ContributionId, DatanetId, DatanetVersion, AccountId); 4] =
	[(100, 0, 1, C1), (101, 0, 1, C1), (102, 0, 1, C2), (200, 1, 1, C2)];

pub struct MockModels;
impl ModelsInspect<AccountId> for MockModels {
	fn adapter_model(adapter: AdapterId) -> Option<ModelId> {
		[ADAPTER, UNDEPLOYED].contains(&adapter).then_some(adapter)
	}
	fn model_stage(model: ModelId) -> Option<ModelStage> {
		match model {
			ADAPTER => Some(ModelStage::Deployed),
			UNDEPLOYED => Some(ModelStage::Evaluated),
			_ => None,
		}
	}
	fn adapter_owner(adapter: AdapterId) -> Option<AccountId> {
		Self::adapter_model(adapter).map(|_| OWNER)
	}
	fn adapter_price_per_1k_tokens(adapter: AdapterId) -> Option<Balance> {
		(adapter == ADAPTER).then_some(PRICE)
	}
	fn adapter_hash(adapter: AdapterId) -> Option<ContentHash> {
		Self::adapter_model(adapter).map(|_| ContentHash::of(b"adapter weights"))
	}
	fn training_datanets(adapter: AdapterId) -> Vec<(DatanetId, DatanetVersion)> {
		if Self::adapter_model(adapter).is_some() {
			vec![(0, 1)]
		} else {
			vec![]
		}
	}
}

pub struct MockDatanets;
impl DatanetsInspect<AccountId> for MockDatanets {
	fn version_exists(d: DatanetId, v: DatanetVersion) -> bool {
		CONTRIBUTIONS.iter().any(|(_, dd, vv, _)| (*dd, *vv) == (d, v))
	}
	fn is_in_version(d: DatanetId, v: DatanetVersion, c: ContributionId) -> bool {
		CONTRIBUTIONS.iter().any(|x| (x.0, x.1, x.2) == (c, d, v))
	}
	fn contributor(c: ContributionId) -> Option<AccountId> {
		CONTRIBUTIONS.iter().find(|x| x.0 == c).map(|x| x.3)
	}
	fn datanet_owner(d: DatanetId) -> Option<AccountId> {
		Self::version_exists(d, 1).then_some(DN_OWNER)
	}
	fn earns_credit(c: ContributionId) -> bool {
		!Removed::get().contains(&c)
	}
	fn reputation(_: DatanetId, _: &AccountId) -> Reputation {
		Reputation::default()
	}
	fn version_contributions(d: DatanetId, v: DatanetVersion) -> Vec<(ContributionId, ContentHash)> {
		CONTRIBUTIONS
			.iter()
			.filter(|x| (x.1, x.2) == (d, v))
			.map(|x| (x.0, ContentHash::of(&x.0.to_le_bytes())))
			.collect()
	}
}

parameter_types! {
	pub const WithholdSlash: Perbill = Perbill::from_percent(50);
	pub const FraudSlash: Perbill = Perbill::from_percent(100);
	pub const FinderReward: Perbill = Perbill::from_percent(20);
	/// Batch charges: batch, payer, amount; refunded batches; settled batches.
	pub static BatchCharged: Vec<(u64, AccountId, Balance)> = Vec::new();
	/// Each charge as the chain records it (the payer's voucher numbers it covers), and each
	/// payer's last voucher charged.
	pub static ChargeRecords: Vec<(u64, mnemo_primitives::batch::ChargedPayer<AccountId>)> = Vec::new();
	pub static LastSeq: Vec<(AccountId, u64)> = Vec::new();
	/// Panels that may audit one batch.
	pub static AuditRounds: u32 = 3;
	pub static BatchesRefunded: Vec<u64> = Vec::new();
}

/// Batch escrow from the same credit table.
pub struct MockBatchEscrow;
impl MockBatchEscrow {
	fn charge_one(batch: u64, c: mnemo_primitives::BatchCharge<AccountId>) -> Result<(), DispatchError> {
		let mut credit = Credit::get();
		let entry = credit.iter_mut().find(|(p, _)| *p == c.payer).ok_or(DispatchError::Other("NoChannel"))?;
		if entry.1 < c.amount {
			return Err(DispatchError::Token(polkadot_sdk::sp_runtime::TokenError::FundsUnavailable));
		}
		entry.1 -= c.amount;
		Credit::set(credit);
		BatchCharged::mutate(|b| b.push((batch, c.payer, c.amount)));
		let after = LastSeq::get().iter().find(|(p, _)| *p == c.payer).map_or(0, |(_, s)| *s);
		LastSeq::mutate(|l| {
			l.retain(|(p, _)| *p != c.payer);
			l.push((c.payer, c.seq));
		});
		let record = mnemo_primitives::batch::ChargedPayer {
			payer: c.payer,
			channel: c.channel,
			after,
			seq: c.seq,
			amount: c.amount,
			first_leaf: c.first_leaf,
			receipts: c.receipts,
		};
		ChargeRecords::mutate(|r| r.push((batch, record)));
		Ok(())
	}
}
impl mnemo_primitives::BatchEscrow<AccountId> for MockBatchEscrow {
	fn charge(batch: u64, charges: Vec<mnemo_primitives::BatchCharge<AccountId>>) -> Result<(), DispatchError> {
		charges.into_iter().try_for_each(|c| Self::charge_one(batch, c))
	}
	fn refund(batch: u64) -> Result<Balance, DispatchError> {
		let mut total = 0;
		for (b, payer, amount) in BatchCharged::get() {
			if b == batch {
				Credit::mutate(|c| c.iter_mut().filter(|(p, _)| *p == payer).for_each(|(_, x)| *x += amount));
				total += amount;
			}
		}
		BatchCharged::mutate(|b| b.retain(|(x, ..)| *x != batch));
		BatchesRefunded::mutate(|r| r.push(batch));
		Ok(total)
	}
	fn settle(batch: u64, _p: mnemo_primitives::BatchPayout<AccountId>) -> Result<(), DispatchError> {
		BatchCharged::mutate(|b| b.retain(|(x, ..)| *x != batch));
		Ok(())
	}
	fn split() -> mnemo_primitives::rewards::FeeSplit {
		Default::default()
	}
	fn charges(batch: u64) -> Vec<mnemo_primitives::batch::ChargedPayer<AccountId>> {
		let live: Vec<AccountId> = BatchCharged::get().into_iter().filter(|(b, ..)| *b == batch).map(|(_, p, _)| p).collect();
		ChargeRecords::get().into_iter().filter(|(b, c)| *b == batch && live.contains(&c.payer)).map(|(_, c)| c).collect()
	}
	fn charge_of(batch: u64, payer: &AccountId) -> Option<mnemo_primitives::batch::ChargedPayer<AccountId>> {
		Self::charges(batch).into_iter().find(|c| c.payer == *payer)
	}
}

/// A seeded substitute for relay-chain randomness.
pub struct MockRandomness;
impl frame_support::traits::Randomness<H256, u64> for MockRandomness {
	fn random(subject: &[u8]) -> (H256, u64) {
		let h = (Seed::get(), subject).using_encoded(polkadot_sdk::sp_io::hashing::blake2_256);
		(H256(h), System::block_number())
	}
}

/// Six seconds per block from a fixed epoch.
pub struct MockTime;
impl frame_support::traits::UnixTime for MockTime {
	fn now() -> core::time::Duration {
		core::time::Duration::from_millis(1_700_000_000_000 + System::block_number() * 6_000)
	}
}

impl pallet_attribution::Config for Test {
	type Time = MockTime;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type AttestorId = crate::AttestorKey;
	type PayerSignature = TestSignature;
	type Models = MockModels;
	type Datanets = MockDatanets;
	type Randomness = MockRandomness;
	type GovernanceOrigin = EnsureRoot<AccountId>;
	type Treasury = Treasury;
	type OperatorBond = ConstU128<OPERATOR_BOND>;
	type AttestorBond = ConstU128<ATTESTOR_BOND>;
	type MaxAssigned = ConstU32<MAX_ASSIGNED>;
	type MaxContributions = ConstU32<MAX_CONTRIBUTIONS>;
	type MaxAttestors = ConstU32<MAX_ATTESTORS>;
	type MaxPrunePerBlock = ConstU32<2>;
	type AttestorPriority = frame_support::traits::ConstU64<{ 1 << 20 }>;
	type BatchEscrow = MockBatchEscrow;
	type MaxPayersPerBatch = ConstU32<4>;
	type MaxReceiptsPerBatch = ConstU32<64>;
	type SampleSize = ConstU32<3>;
	type SampleDelay = frame_support::traits::ConstU64<2>;
	type OpenPeriod = frame_support::traits::ConstU64<3>;
	type AuditRounds = AuditRounds;
	type MaxBatchesPerBlock = ConstU32<4>;
	type MaxPendingBatches = ConstU32<3>;
	type WithholdSlash = WithholdSlash;
	type FraudSlash = FraudSlash;
	type FinderReward = FinderReward;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = MockHelper;
}

#[cfg(feature = "runtime-benchmarks")]
pub struct MockHelper;
#[cfg(feature = "runtime-benchmarks")]
impl crate::BenchmarkHelper<AccountId, TestSignature> for MockHelper {
	fn deployed_adapter(_k: u32) -> (AdapterId, Vec<ContributionId>) {
		(ADAPTER, vec![100, 101, 102])
	}
	fn payer(i: u32, _operator: &AccountId) -> AccountId {
		// The benchmark harness rolls storage back between runs, not these tables.
		if NextBatch::<Test>::get() == 0 {
			BatchCharged::set(Vec::new());
		}
		let who = 10_000 + u64::from(i);
		Credit::mutate(|c| c.push((who, Balance::MAX / 4)));
		who
	}
	fn channel(_payer: &AccountId, _operator: &AccountId) -> u64 {
		0
	}
	fn sign(payer: &AccountId, payload: &[u8]) -> TestSignature {
		TestSignature(*payer, payload.to_vec())
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

/// The tests' parameters: 3 assigned, quorum 3, 2 settle at a deadline; 5 blocks to commit and
/// 5 to reveal; 10 to challenge and 10 to resolve; retention 20; tolerance 10%; 2 strikes in
/// 100 blocks slash 10%; an upheld challenge costs 20%; minimum fee 2; vouchers live 20 blocks.
pub fn params() -> Params<u64> {
	Params {
		assigned: 3,
		quorum: 3,
		min_reports: 2,
		commit_period: 5,
		reveal_period: 5,
		challenge_window: 10,
		resolution_period: 10,
		retention: 20,
		tolerance: Perbill::from_percent(10),
		strikes_to_slash: 2,
		strike_window: 100,
		strike_slash: Perbill::from_percent(10),
		challenge_slash: Perbill::from_percent(20),
		min_fee: 2,
		max_voucher_lifetime: 20,
	}
}

pub fn new_test_ext() -> TestExternalities {
	let mut t = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: [OPERATOR, PAYER, PAYER2, A1, A2, A3, A4, A5, C1, C2, OWNER, DN_OWNER, CHALLENGER, TREASURY]
			.into_iter()
			.map(|a| (a, START))
			.chain([(POOR, 10)])
			.collect(),
		..Default::default()
	}
	.assimilate_storage(&mut t)
	.unwrap();
	pallet_attribution::GenesisConfig::<Test> { params: params() }.assimilate_storage(&mut t).unwrap();
	let mut ext = TestExternalities::new(t);
	ext.execute_with(|| {
		System::set_block_number(1);
		Credit::set(vec![(PAYER, 10_000), (PAYER2, 10_000), (POOR, 1)]);
		BatchCharged::set(Vec::new());
		BatchesRefunded::set(Vec::new());
		Removed::set(Vec::new());
		Seed::set(0);
	});
	ext
}

/// A fresh chain with a keystore (attestors sign with keys from it): for the benchmarks,
/// [`build_and_execute`], and tests that read the offchain index afterwards.
pub fn new_keyed_ext() -> TestExternalities {
	let mut ext = new_test_ext();
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext
}

/// Run `test` in a fresh chain with a keystore and check the pallet's invariants after it.
pub fn build_and_execute(test: impl FnOnce()) {
	new_keyed_ext().execute_with(|| {
		test();
		Attribution::do_try_state().expect("invariants hold");
	});
}

pub fn run_to_block(n: u64) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		<Attribution as Hooks<u64>>::on_initialize(next);
		<Attribution as Hooks<u64>>::on_idle(next, Weight::MAX);
	}
}

/// The pallet's events so far, oldest first.
pub fn events() -> Vec<crate::Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Attribution(e) => Some(e),
			_ => None,
		})
		.collect()
}

pub fn held(reason: crate::HoldReason, who: AccountId) -> Balance {
	use frame_support::traits::fungible::InspectHold;
	Balances::balance_on_hold(&reason.into(), &who)
}

pub fn free(who: AccountId) -> Balance {
	Balances::free_balance(who)
}

pub fn credit(who: AccountId) -> Balance {
	Credit::get().into_iter().find(|(p, _)| *p == who).map_or(0, |(_, b)| b)
}

/// An attestor key in the externalities' keystore.
pub fn new_key(seed: &str) -> AttestorKey {
	polkadot_sdk::sp_io::crypto::sr25519_generate(crate::KEY_TYPE, Some(seed.as_bytes().to_vec())).into()
}

/// Register `who` as an attestor with a fresh key (unless it is one); returns its key.
pub fn attestor(who: AccountId) -> AttestorKey {
	if let Some(a) = Attestors::<Test>::get(who) {
		return a.key;
	}
	let key = new_key(&format!("//Attestor{who}"));
	Attribution::register_attestor(RuntimeOrigin::signed(who), key.clone()).expect("registered");
	key
}

/// The operator and attestors A1–A4 registered.
pub fn setup() {
	Attribution::register_operator(RuntimeOrigin::signed(OPERATOR)).expect("operator");
	for a in [A1, A2, A3, A4] {
		attestor(a);
	}
}

pub fn genesis() -> H256 {
	System::block_hash(0)
}

pub fn request_id(n: u8) -> RequestId {
	[n; 16]
}

/// A voucher of `payer` for request `n` on [`ADAPTER`], 1,000 tokens at most 10 per 1k, valid
/// 10 blocks; the `n`-th on the payer's channel, each consenting to 10 more.
pub fn voucher(n: u8) -> Voucher<AccountId, u64> {
	Voucher {
		request: request_id(n),
		operator: OPERATOR,
		adapter: ADAPTER,
		max_price_per_1k: PRICE,
		max_tokens: 1_000,
		channel: 0,
		seq: u64::from(n),
		cumulative: 10 * Balance::from(n),
		expires_at: System::block_number() + 10,
		genesis: genesis(),
	}
}

/// Dispatch an attestor's call as the authorized transaction its worker would submit.
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

pub fn sign(key: &AttestorKey, payload: &impl codec::Encode) -> <AttestorKey as polkadot_sdk::sp_application_crypto::RuntimeAppPublic>::Signature {
	use polkadot_sdk::sp_application_crypto::RuntimeAppPublic;
	key.sign(&payload.encode()).expect("key in keystore")
}

pub fn key_of(who: AccountId) -> AttestorKey {
	Attestors::<Test>::get(who).expect("attestor").key
}

pub fn salt(who: AccountId) -> [u8; 32] {
	[who as u8; 32]
}

pub fn digest(n: u8) -> ContentHash {
	ContentHash([n; 32])
}

pub fn pb(x: u32) -> Perbill {
	Perbill::from_percent(x)
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

/// A keystore with one attestor key; returns it with the key's public part.
pub fn keystore_with_attestor(seed: &str) -> (MemoryKeystore, AttestorKey) {
	let keystore = MemoryKeystore::new();
	let public = keystore.sr25519_generate_new(crate::KEY_TYPE, Some(seed)).expect("key generated");
	(keystore, public.into())
}


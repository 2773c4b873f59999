//! The smallest runtime that runs the pallet: System, Balances and Datanets.

use crate as pallet_datanets;
use crate::{Metadata, Rules};
use polkadot_sdk::{
	frame_support::{
		self, derive_impl, parameter_types,
		traits::{ConstU128, ConstU32, ConstU64},
		BoundedVec,
	},
	frame_system::{self, EnsureRoot},
	pallet_balances,
	sp_core::offchain::testing,
	sp_io::TestExternalities,
	sp_keystore::{testing::MemoryKeystore, Keystore, KeystoreExt},
	sp_runtime::{BuildStorage, Perbill},
};
use mnemo_primitives::ContentHash;

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
		Datanets: pallet_datanets,
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
	type ExistentialDeposit = ConstU128<ED>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

pub const ED: Balance = 1;
pub const DATANET_DEPOSIT: Balance = 100;
pub const VERSION_DEPOSIT: Balance = 10;
pub const RECORD_DEPOSIT: Balance = 2;
pub const COMMIT_DEPOSIT: Balance = 1;
pub const MIN_BOND: Balance = 5;
pub const TREASURY: AccountId = 999;
pub const MAX_EXPIRING: u32 = 3;

parameter_types! {
	pub const Treasury: AccountId = TREASURY;
	pub const DatanetDeposit: Balance = DATANET_DEPOSIT;
	pub const VersionDeposit: Balance = VERSION_DEPOSIT;
	pub const RecordDeposit: Balance = RECORD_DEPOSIT;
	pub const CommitDeposit: Balance = COMMIT_DEPOSIT;
	pub const MinBond: Balance = MIN_BOND;
	pub const MaxContributionBytes: u64 = 1 << 20;
}

impl pallet_datanets::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type ValidatorId = crate::ValidatorKey;
	type RemoveOrigin = EnsureRoot<AccountId>;
	type Treasury = Treasury;
	type DatanetDeposit = DatanetDeposit;
	type VersionDeposit = VersionDeposit;
	type RecordDeposit = RecordDeposit;
	type CommitDeposit = CommitDeposit;
	type MinBond = MinBond;
	type StringLimit = ConstU32<32>;
	type MaxSummaryLen = ConstU32<64>;
	type MaxDescriptionLen = ConstU32<256>;
	type MaxTags = ConstU32<4>;
	type MaxCurators = ConstU32<5>;
	type MaxValidators = ConstU32<3>;
	type MaxInvites = ConstU32<2>;
	type MaxContributions = ConstU32<8>;
	type MaxContributionBytes = MaxContributionBytes;
	type MaxExpiringPerBlock = ConstU32<MAX_EXPIRING>;
	type MaxReviewPeriod = ConstU64<100>;
	type ValidationPriority = ConstU64<{ 1 << 20 }>;
	type MaxValidationsPerBlock = ConstU32<2>;
	type WeightInfo = ();
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
pub const OWNER: AccountId = 1;
pub const ALICE: AccountId = 2;
pub const BOB: AccountId = 3;
pub const CAROL: AccountId = 4;
pub const CURATOR_1: AccountId = 11;
pub const CURATOR_2: AccountId = 12;
pub const CURATOR_3: AccountId = 13;
pub const POOR: AccountId = 20;
pub const START: Balance = 1_000;
pub const BOND: Balance = 50;

pub fn new_test_ext() -> TestExternalities {
	let mut t = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: [OWNER, ALICE, BOB, CAROL, CURATOR_1, CURATOR_2, CURATOR_3, TREASURY]
			.into_iter()
			.map(|a| (a, START))
			.chain([(POOR, 10)])
			.collect(),
		..Default::default()
	}
	.assimilate_storage(&mut t)
	.unwrap();
	let mut ext = TestExternalities::new(t);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// A fresh chain with an empty keystore, for the benchmarks (they generate validator keys).
#[cfg(feature = "runtime-benchmarks")]
pub fn new_bench_ext() -> TestExternalities {
	let mut ext = new_test_ext();
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext
}

/// Run `test` in a fresh chain and check the pallet's invariants after it.
pub fn build_and_execute(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Datanets::do_try_state().expect("invariants hold");
	});
}

pub fn bounded<S: frame_support::traits::Get<u32>>(s: &str) -> BoundedVec<u8, S> {
	s.as_bytes().to_vec().try_into().expect("fits")
}

pub fn metadata() -> Metadata<Test> {
	Metadata {
		name: bounded("shakespeare-plays"),
		summary: bounded("The 42 plays, one contribution per scene"),
		description: crate::Description::Inline(bounded("Public-domain text.")),
		tags: vec![bounded("literature"), bounded("english")].try_into().unwrap(),
		license: bounded("CC0-1.0"),
	}
}

/// Three curators, 2 of 3 decide, 50% slashed on rejection, 10 blocks to review, 3 per 10 blocks.
pub fn rules() -> Rules<Test> {
	Rules {
		bond: BOND,
		curators: vec![CURATOR_1, CURATOR_2, CURATOR_3].try_into().unwrap(),
		threshold: 2,
		reject_slash: Perbill::from_percent(50),
		review_period: 10,
		quota: crate::Quota { per_period: 3, period: 10 },
		access: crate::Access::Open,
		validators: BoundedVec::new(),
	}
}

/// Create the standard datanet (id 0) owned by `OWNER`.
pub fn create() -> u32 {
	Datanets::do_create_datanet(OWNER, crate::Kind::Text, metadata(), rules()).unwrap()
}

pub fn hash(n: u8) -> ContentHash {
	ContentHash::of(&[n])
}

pub fn run_to_block(n: u64) {
	use frame_support::traits::Hooks;
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		<Datanets as Hooks<u64>>::on_initialize(next);
	}
}

/// `who` commits to contributing `hash(n)` to datanet `d`.
pub fn commit(who: AccountId, d: u32, n: u8) {
	Datanets::commit(RuntimeOrigin::signed(who), Datanets::commitment_of(d, &hash(n), &who))
		.expect("committed");
}

/// Commit, move one block on, and contribute `hash(n)` as `who` to datanet `d`.
pub fn contribute(who: AccountId, d: u32, n: u8) -> u64 {
	commit(who, d, n);
	run_to_block(System::block_number() + 1);
	Datanets::contribute(RuntimeOrigin::signed(who), d, hash(n), 100, 10).unwrap();
	crate::NextContributionId::<Test>::get() - 1
}

/// The pallet's events so far, oldest first.
pub fn events() -> Vec<crate::Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Datanets(e) => Some(e),
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

/// A keystore with one validator key; returns it with the key's public part.
pub fn keystore_with_validator(seed: &str) -> (MemoryKeystore, crate::ValidatorKey) {
	let keystore = MemoryKeystore::new();
	let public = keystore
		.sr25519_generate_new(crate::KEY_TYPE, Some(seed))
		.expect("key generated");
	(keystore, public.into())
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

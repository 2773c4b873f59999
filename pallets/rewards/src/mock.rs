//! The smallest runtime that runs the pallet: System, Balances and Rewards. Tests play the part
//! of pallet-attribution by calling the batch escrow directly.

use crate as pallet_rewards;
use crate::*;
use mnemo_primitives::{
	batch::{merkle_proof, merkle_root, MerkleProof, Payout},
	BatchCharge, BatchEscrow, BatchId, BatchPayout,
};
use polkadot_sdk::{
	frame_support::{
		self, derive_impl, parameter_types,
		traits::{ConstU128, ConstU32, ConstU64},
		PalletId,
	},
	frame_system::{self, EnsureRoot},
	pallet_balances,
	sp_io::TestExternalities,
	sp_runtime::{BuildStorage, DispatchError},
};

pub use polkadot_sdk::frame_support::traits::Hooks;

pub type AccountId = u64;
pub type Balance = u128;
type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Rewards: pallet_rewards,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<Balance>;
}

pub const ED: Balance = 10;

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type AccountStore = System;
	type ExistentialDeposit = ConstU128<ED>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

pub const PAYER: AccountId = 1;
pub const OPERATOR: AccountId = 2;
pub const OWNER: AccountId = 3;
pub const CURATOR: AccountId = 4;
pub const C1: AccountId = 11;
pub const C2: AccountId = 12;
pub const A1: AccountId = 21;
pub const A2: AccountId = 22;
pub const A3: AccountId = 23;
pub const TREASURY: AccountId = 999;
/// Never funded: it exists only once it receives at least the existential deposit.
pub const FRESH: AccountId = 500;
pub const START: Balance = 1_000_000;
pub const NOTICE: u64 = 5;
pub const MIN_NOTICE: u64 = 2;
pub const PERIOD: u64 = 10;
pub const MAX_ATTESTORS: u32 = 3;
pub const MAX_CHANNELS: u32 = 2;
pub const MIN_DEPOSIT: Balance = 5;
pub const MAX_PERIODS: u32 = 2;
pub const MAX_BATCH_PAYERS: u32 = 3;
/// Fewer than a full batch's payers: a refund takes more than one block.
pub const MAX_REFUNDS_PER_BLOCK: u32 = 2;

parameter_types! {
	pub const RewardsPalletId: PalletId = PalletId(*b"mn/rewrd");
	pub const Treasury: AccountId = TREASURY;
}

impl pallet_rewards::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type GovernanceOrigin = EnsureRoot<AccountId>;
	type PalletId = RewardsPalletId;
	type Treasury = Treasury;
	type MaxAttestors = ConstU32<MAX_ATTESTORS>;
	type MaxChannels = ConstU32<MAX_CHANNELS>;
	type MinChannelDeposit = ConstU128<MIN_DEPOSIT>;
	type MinNotice = ConstU64<MIN_NOTICE>;
	type MaxSpendPeriods = ConstU32<MAX_PERIODS>;
	type MaxPayersPerBatch = ConstU32<MAX_BATCH_PAYERS>;
	type MaxRefundsPerBlock = ConstU32<MAX_REFUNDS_PER_BLOCK>;
	type WeightInfo = ();
}

pub fn params() -> RewardParams<u64> {
	RewardParams { split: FeeSplit::default(), notice: NOTICE, spend_period: PERIOD }
}

pub fn new_test_ext() -> TestExternalities {
	let mut t = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: [PAYER, OPERATOR, OWNER, CURATOR, C1, C2, A1, A2, A3, TREASURY]
			.into_iter()
			.map(|a| (a, START))
			.collect(),
		..Default::default()
	}
	.assimilate_storage(&mut t)
	.unwrap();
	pallet_rewards::GenesisConfig::<Test> { params: params() }.assimilate_storage(&mut t).unwrap();
	let mut ext = TestExternalities::new(t);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Run `test` at block 1, then check the pallet's invariants.
pub fn build_and_execute(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		Rewards::do_try_state().expect("invariants hold");
	});
}

/// Advance to block `n`, checking the invariants on the way.
pub fn run_to(n: u64) {
	while System::block_number() < n {
		System::set_block_number(System::block_number() + 1);
		<Rewards as Hooks<u64>>::on_initialize(System::block_number());
		Rewards::do_try_state().expect("invariants hold");
	}
}

/// The pallet's events so far, oldest first.
pub fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| if let RuntimeEvent::Rewards(e) = r.event { Some(e) } else { None })
		.collect()
}

pub fn last_event() -> Event<Test> {
	events().pop().expect("an event")
}

/// `PAYER` opens a channel to `OPERATOR` with `deposit`.
pub fn funded(deposit: Balance) {
	Rewards::open_channel(RuntimeOrigin::signed(PAYER), OPERATOR, deposit).expect("opened");
}

/// `OPERATOR` charges `PAYER` `amount` for one receipt in `batch` under the payer's next
/// voucher, which consents to any total (the tests of consent use [`charge_with`]).
pub fn charge(batch: BatchId, amount: Balance) -> Result<(), DispatchError> {
	let seq = channel(PAYER).seq + 1;
	charge_with(batch, amount, seq, Balance::MAX)
}

/// `OPERATOR` charges `PAYER` `amount` for one receipt in `batch` under the voucher
/// `(seq, cumulative)` for the channel open now.
pub fn charge_with(batch: BatchId, amount: Balance, seq: u64, cumulative: Balance) -> Result<(), DispatchError> {
	charge_of(PAYER, batch, amount, seq, cumulative)
}

/// `OPERATOR` charges `payer` on its channel open now.
pub fn charge_of(payer: AccountId, batch: BatchId, amount: Balance, seq: u64, cumulative: Balance) -> Result<(), DispatchError> {
	let channel = Channels::<Test>::get(payer, OPERATOR).map_or(0, |c| c.id);
	<Rewards as BatchEscrow<_>>::charge(batch, vec![BatchCharge { operator: OPERATOR, payer, channel, seq, cumulative, amount, receipts: 1, first_leaf: 0 }])
}

/// `payer`'s channel to `OPERATOR` (a default, empty one if there is none).
pub fn channel(payer: AccountId) -> Channel<u64> {
	Channels::<Test>::get(payer, OPERATOR).unwrap_or_default()
}

/// The running payouts of `OPERATOR` after one more batch paying OWNER `amount`: every batch of
/// these tests pays all its payouts to OWNER.
pub fn owner_tree(amount: Balance) -> (Payout<AccountId>, MerkleProof, mnemo_primitives::Hash) {
	let settled = PayoutBooks::<Test>::get(OPERATOR).map_or(0, |b| b.settled);
	let payout = Payout { who: OWNER, amount: settled + amount };
	let hashes = [payout.hash()];
	(payout, merkle_proof(&hashes, 0).expect("one leaf"), merkle_root(&hashes))
}

/// Settle `batch`: `part` (at most its escrow) to `attestors` equally, the rest to OWNER's
/// running payout.
pub fn settle_to(batch: BatchId, attestors: Vec<AccountId>, part: Balance) -> Result<(), DispatchError> {
	let total = BatchEscrows::<Test>::get(batch).map_or(0, |e| e.total);
	let part = part.min(total);
	let (_, _, root) = owner_tree(total - part);
	<Rewards as BatchEscrow<_>>::settle(batch, BatchPayout { root, blob: Default::default(), count: 1, total: total - part, attestors, attestors_part: part })
}

/// Settle `batch`: a tenth to A1, A2 and A3, the rest to OWNER's running payout.
pub fn settle(batch: BatchId) -> Result<(), DispatchError> {
	let total = BatchEscrows::<Test>::get(batch).map_or(0, |e| e.total);
	settle_to(batch, vec![A1, A2, A3], total / 10)
}

/// OWNER claims its running total from OPERATOR's latest settled batch.
pub fn claim_owner() -> Result<(), DispatchError> {
	let book = PayoutBooks::<Test>::get(OPERATOR).ok_or(DispatchError::Other("no payouts"))?;
	let latest = book.roots.last().ok_or(DispatchError::Other("no roots"))?;
	// OWNER's running total is everything the settled batches added: the tree `owner_tree` gave.
	let (payout, proof, _) = owner_tree(0);
	Rewards::claim_payout(RuntimeOrigin::signed(C2), OPERATOR, latest.batch, payout, proof)
}

/// A check's outcome as a dispatch result, to compare errors.
pub fn e<R>(r: Result<R, DispatchError>) -> Result<(), DispatchError> {
	r.map(|_| ())
}

pub fn err(error: Error<Test>) -> Result<(), DispatchError> {
	Err(error.into())
}

pub fn free(who: AccountId) -> Balance {
	Balances::free_balance(who)
}

/// What `who` holds for its channels.
pub fn held(who: AccountId) -> Balance {
	Rewards::held_for_channels(&who)
}

pub fn ledger(who: AccountId) -> Ledger {
	Ledgers::<Test>::get(who)
}

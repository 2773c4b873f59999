//! The smallest runtime that runs the pallet: System, Balances, Preimage and Governance.

use crate as pallet_governance;
use crate::{GovernanceOrigin, KindParams, ProposalKind, StakePeriods};
use polkadot_sdk::{
	frame_support::{
		self, derive_impl, parameter_types,
		traits::{ConstU128, ConstU32, EitherOfDiverse, Hooks},
		weights::Weight,
	},
	frame_system::{self, EnsureRoot},
	pallet_balances, pallet_preimage,
	sp_io::TestExternalities,
	sp_runtime::{BuildStorage, Perbill},
};

pub type AccountId = u64;
pub type Balance = u128;
type Block = frame_system::mocking::MockBlock<Test>;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Preimage: pallet_preimage,
		Governance: pallet_governance,
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

impl pallet_preimage::Config for Test {
	type WeightInfo = ();
	type RuntimeEvent = RuntimeEvent;
	type Currency = Balances;
	type ManagerOrigin = EnsureRoot<AccountId>;
	type Consideration = ();
}

pub const ED: Balance = 1;
pub const TREASURY: AccountId = 999;
pub const THRESHOLD: Balance = 100;
pub const DEPOSIT_BASE: Balance = 20;
pub const DEPOSIT_PER_BYTE: Balance = 1;
pub const MAX_VOTES: u32 = 3;
pub const MAX_DECISIONS: u32 = 2;
pub const MAX_PROPOSALS: u32 = 4;
pub const MAX_UNBONDING: u32 = 2;
pub const MAX_PERIOD: u64 = 1_000_000;

parameter_types! {
	pub const Treasury: AccountId = TREASURY;
	// 10 ms: room for any governance-gated call by the generated weights (`cancel`, the
	// heaviest, 1.35 ms with RocksDb's prices), not for `set_code` (about 110 ms).
	pub MaxCallWeight: Weight = Weight::from_parts(10_000_000_000, 100_000);
}

/// Governance passes proposals; root stands in for it where a test needs it directly.
type GovernanceOrRoot = EitherOfDiverse<EnsureRoot<AccountId>, crate::EnsureGovernance>;

parameter_types! {
	pub const Spend: ProposalKind = ProposalKind::TreasurySpend;
	/// The proposals the failure hook was told about, in order.
	pub static FailedProposals: Vec<crate::ProposalId> = Vec::new();
}

/// Records which proposals failed, as `pallet-models` would react to them.
pub struct RecordFailed;
impl crate::ProposalFailed for RecordFailed {
	fn proposal_failed(id: crate::ProposalId) -> Weight {
		FailedProposals::mutate(|v| v.push(id));
		Self::max_weight()
	}
	fn max_weight() -> Weight {
		Weight::from_parts(1_000, 0)
	}
}

impl pallet_governance::Config for Test {
	type RuntimeOrigin = RuntimeOrigin;
	type RuntimeCall = RuntimeCall;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Preimages = Preimage;
	type Treasury = Treasury;
	type CancelOrigin = GovernanceOrRoot;
	type ParamsOrigin = GovernanceOrRoot;
	type SpendOrigin = EitherOfDiverse<EnsureRoot<AccountId>, crate::EnsureKind<Spend>>;
	type OnFailed = RecordFailed;
	type ProposalThreshold = ConstU128<THRESHOLD>;
	type ProposalDepositBase = ConstU128<DEPOSIT_BASE>;
	type ProposalDepositPerByte = ConstU128<DEPOSIT_PER_BYTE>;
	type MaxCallWeight = MaxCallWeight;
	type MaxPeriod = frame_support::traits::ConstU64<MAX_PERIOD>;
	type MaxProposals = ConstU32<MAX_PROPOSALS>;
	type MaxDecisionsPerBlock = ConstU32<MAX_DECISIONS>;
	type MaxVotes = ConstU32<MAX_VOTES>;
	type MaxUnbonding = ConstU32<MAX_UNBONDING>;
	type WeightInfo = ();
}

/// Accounts and what they start with.
pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
pub const CAROL: AccountId = 3;
pub const DAVE: AccountId = 4;
pub const EVE: AccountId = 5;
pub const POOR: AccountId = 20;
pub const START: Balance = 10_000;

/// Voting 10 blocks, enacted 5 after; quorum 30%, approval 50%. Spends: 50% / 60%.
pub const VOTING: u64 = 10;
pub const DELAY: u64 = 5;
pub const UNBONDING: u64 = 20;
pub const CONVICTION: u64 = 50;

pub fn params(kind: ProposalKind) -> KindParams<u64> {
	match kind {
		ProposalKind::TreasurySpend => KindParams {
			voting_period: VOTING,
			enactment_delay: DELAY,
			quorum: Perbill::from_percent(50),
			approval: Perbill::from_percent(60),
		},
		_ => KindParams {
			voting_period: VOTING,
			enactment_delay: DELAY,
			quorum: Perbill::from_percent(30),
			approval: Perbill::from_percent(50),
		},
	}
}

pub fn new_test_ext() -> TestExternalities {
	let mut t = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: [ALICE, BOB, CAROL, DAVE, EVE, TREASURY]
			.into_iter()
			.map(|a| (a, START))
			.chain([(POOR, 10)])
			.collect(),
		..Default::default()
	}
	.assimilate_storage(&mut t)
	.unwrap();
	pallet_governance::GenesisConfig::<Test> {
		params: ProposalKind::ALL.iter().map(|k| (*k, params(*k))).collect(),
		periods: StakePeriods { unbonding: UNBONDING, conviction: CONVICTION },
	}
	.assimilate_storage(&mut t)
	.unwrap();
	let mut ext = TestExternalities::new(t);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Run `test`, then check the pallet's invariants.
pub fn build_and_execute(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		FailedProposals::set(Vec::new());
		test();
		Governance::do_try_state().expect("invariants hold");
	});
}

/// Advance to block `n`, running the pallet's `on_initialize` on the way.
pub fn run_to_block(n: u64) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Governance::on_initialize(next);
	}
}

/// The pallet's events so far, oldest first.
pub fn events() -> Vec<crate::Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Governance(e) => Some(e),
			_ => None,
		})
		.collect()
}

/// The origin a passed proposal of `kind` dispatches with.
pub fn passed(kind: ProposalKind) -> RuntimeOrigin {
	GovernanceOrigin::Passed(kind).into()
}

/// A call governance can pass: set the treasury-spend parameters' voting period to `blocks`.
pub fn set_voting_call(blocks: u64) -> RuntimeCall {
	let mut p = params(ProposalKind::TreasurySpend);
	p.voting_period = blocks;
	RuntimeCall::Governance(crate::Call::set_params { kind: ProposalKind::TreasurySpend, params: p })
}

/// Stake `amount` from each of `who`.
pub fn stake_all(who: &[AccountId], amount: Balance) {
	for a in who {
		frame_support::assert_ok!(Governance::stake(RuntimeOrigin::signed(*a), amount));
	}
}

/// `who` proposes `call` as `kind`; returns the proposal's id.
pub fn propose(who: AccountId, call: RuntimeCall, kind: ProposalKind) -> crate::ProposalId {
	let id = crate::NextProposalId::<Test>::get();
	frame_support::assert_ok!(Governance::propose(RuntimeOrigin::signed(who), Box::new(call), kind));
	id
}

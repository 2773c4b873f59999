//! Governance's domain types: stakes and their conviction, backing (stake and power), proposals,
//! ballots and tallies.

use crate::{frame_support, frame_system, Config};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	traits::{fungible::Inspect, Bounded},
	BoundedVec, DebugNoBound, PartialEqNoBound,
};
use frame_system::pallet_prelude::BlockNumberFor;
use polkadot_sdk::sp_runtime::{traits::Saturating, Perbill};
use scale_info::TypeInfo;

pub use mnemo_primitives::governance::{ProposalId, ProposalKind};

pub type BalanceOf<T> =
	<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;

/// The runtime call a proposal dispatches, stored inline when small or as a preimage hash.
pub type BoundedCallOf<T> =
	Bounded<<T as Config>::RuntimeCall, <T as frame_system::Config>::Hashing>;

/// The rules of one [`ProposalKind`], fixed into each proposal when it opens.
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
#[serde(rename_all = "camelCase")]
pub struct KindParams<BlockNumber> {
	/// Blocks from proposal to decision (at least 1).
	pub voting_period: BlockNumber,
	/// Blocks from decision to enactment (0: in the block of the decision).
	pub enactment_delay: BlockNumber,
	/// Share of the total stake that must stand behind the votes (aye, nay or abstain).
	pub quorum: Perbill,
	/// Share of aye power among aye and nay power needed to pass (abstentions only count for
	/// quorum).
	pub approval: Perbill,
}

/// How much voting power a unit of stake carries, and for how long it then cannot be unstaked.
///
/// The curve: power = stake × (1 + c) for c = 0, 1, 2, 3; the lock after choosing c ≥ 1 is
/// `ConvictionPeriod × 2^(c−1)`. Each further unit of power costs twice the lock of the one
/// before, so long locks buy influence, but with diminishing returns.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	PartialOrd,
	Ord,
	Debug,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub enum Conviction {
	/// Power 1× stake; no lock beyond the unbonding period.
	#[default]
	None,
	/// Power 2× stake; locked for one conviction period.
	Locked2x,
	/// Power 3× stake; locked for two conviction periods.
	Locked3x,
	/// Power 4× stake; locked for four conviction periods.
	Locked4x,
}

impl Conviction {
	/// Power per unit of stake.
	pub fn multiplier(self) -> u8 {
		match self {
			Conviction::None => 1,
			Conviction::Locked2x => 2,
			Conviction::Locked3x => 3,
			Conviction::Locked4x => 4,
		}
	}

	/// Lock length in conviction periods.
	pub fn lock_periods(self) -> u32 {
		match self {
			Conviction::None => 0,
			Conviction::Locked2x => 1,
			Conviction::Locked3x => 2,
			Conviction::Locked4x => 4,
		}
	}
}

/// What stands behind a vote: the stake (for quorum) and the power (for the result).
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct Backing<Balance> {
	pub stake: Balance,
	pub power: Balance,
}

impl<Balance: Saturating + Copy + Default + PartialEq> Backing<Balance> {
	pub fn add(self, other: Self) -> Self {
		Self { stake: self.stake.saturating_add(other.stake), power: self.power.saturating_add(other.power) }
	}

	pub fn sub(self, other: Self) -> Self {
		Self { stake: self.stake.saturating_sub(other.stake), power: self.power.saturating_sub(other.power) }
	}

	pub fn is_zero(&self) -> bool {
		*self == Self::default()
	}
}

/// Stake on its way out: held until `unlocks_at`, then `withdraw_unbonded` releases it.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Unbonding<Balance, BlockNumber> {
	pub amount: Balance,
	pub unlocks_at: BlockNumber,
}

/// An account's part in governance. All of `staked` plus all of `unbonding` is held under
/// `HoldReason::Stake`.
#[derive(
	Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, DebugNoBound, PartialEqNoBound,
)]
#[scale_info(skip_type_params(T))]
pub struct StakeInfo<T: Config> {
	/// Stake that counts for voting.
	pub staked: BalanceOf<T>,
	/// The power multiplier the staker chose.
	pub conviction: Conviction,
	/// No unstaking before this block (the conviction lock).
	pub locked_until: BlockNumberFor<T>,
	/// Stake on its way out.
	pub unbonding: BoundedVec<Unbonding<BalanceOf<T>, BlockNumberFor<T>>, T::MaxUnbonding>,
	/// The account this one's power is delegated to.
	pub delegate: Option<T::AccountId>,
	/// Backing delegated to this account by others.
	pub delegated_in: Backing<BalanceOf<T>>,
	/// How many accounts delegate to this one.
	pub delegators: u32,
}

impl<T: Config> Default for StakeInfo<T> {
	fn default() -> Self {
		Self {
			staked: Default::default(),
			conviction: Conviction::None,
			locked_until: Default::default(),
			unbonding: Default::default(),
			delegate: None,
			delegated_in: Default::default(),
			delegators: 0,
		}
	}
}

impl<T: Config> StakeInfo<T> {
	/// This account's own stake and power, wherever it counts.
	pub fn own(&self) -> Backing<BalanceOf<T>> {
		Backing {
			stake: self.staked,
			power: self.staked.saturating_mul(self.conviction.multiplier().into()),
		}
	}

	/// What this account votes with: its own backing unless delegated, plus what others delegate.
	pub fn voting(&self) -> Backing<BalanceOf<T>> {
		let own = if self.delegate.is_some() { Default::default() } else { self.own() };
		own.add(self.delegated_in)
	}

	/// All that is held for this account: stake and unbonding.
	pub fn held(&self) -> BalanceOf<T> {
		self.unbonding.iter().fold(self.staked, |acc, u| acc.saturating_add(u.amount))
	}

	/// Nothing left to keep.
	pub fn is_empty(&self) -> bool {
		self.staked == Default::default() &&
			self.unbonding.is_empty() &&
			self.delegate.is_none() &&
			self.delegators == 0 &&
			self.delegated_in.is_zero()
	}
}

/// A voter's choice.
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
)]
pub enum Vote {
	Aye,
	Nay,
	/// Counts for quorum, not for the result.
	Abstain,
}

/// One account's vote on one proposal, with the backing it carries now.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Ballot<Balance> {
	pub vote: Vote,
	pub backing: Backing<Balance>,
}

/// Power for each choice, and the stake behind all votes.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct Tally<Balance> {
	pub ayes: Balance,
	pub nays: Balance,
	pub abstentions: Balance,
	/// Stake behind all ballots (for quorum).
	pub turnout: Balance,
}

impl<Balance: Saturating + Copy> Tally<Balance> {
	pub fn add(&mut self, ballot: &Ballot<Balance>) {
		self.turnout = self.turnout.saturating_add(ballot.backing.stake);
		let side = self.side(ballot.vote);
		*side = side.saturating_add(ballot.backing.power);
	}

	pub fn remove(&mut self, ballot: &Ballot<Balance>) {
		self.turnout = self.turnout.saturating_sub(ballot.backing.stake);
		let side = self.side(ballot.vote);
		*side = side.saturating_sub(ballot.backing.power);
	}

	fn side(&mut self, vote: Vote) -> &mut Balance {
		match vote {
			Vote::Aye => &mut self.ayes,
			Vote::Nay => &mut self.nays,
			Vote::Abstain => &mut self.abstentions,
		}
	}
}

/// Where a proposal is in its life. Finished proposals leave storage; their events remain.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum ProposalStatus {
	/// Taking votes until `ends_at`.
	Ongoing,
	/// Passed; waiting for `enact_at`.
	Passed,
}

/// Why a proposal failed.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum Failure {
	/// The stake behind the votes was below the quorum.
	NoQuorum,
	/// Not enough of the aye/nay power was aye.
	NotApproved,
}

/// A proposal.
#[derive(Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, DebugNoBound)]
#[scale_info(skip_type_params(T))]
pub struct Proposal<T: Config> {
	pub proposer: T::AccountId,
	pub kind: ProposalKind,
	/// The call, dispatched with the governance origin of `kind` if the proposal passes.
	pub call: BoundedCallOf<T>,
	/// Held from the proposer until the decision; slashed if governance cancels it as spam.
	pub deposit: BalanceOf<T>,
	/// The rules of `kind` when the proposal opened.
	pub params: KindParams<BlockNumberFor<T>>,
	pub ends_at: BlockNumberFor<T>,
	pub enact_at: BlockNumberFor<T>,
	pub tally: Tally<BalanceOf<T>>,
	pub status: ProposalStatus,
}

/// An open proposal as the `proposals` view function reports it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct ProposalView<AccountId, Balance, BlockNumber, Hash> {
	pub id: ProposalId,
	pub proposer: AccountId,
	pub kind: ProposalKind,
	/// Hash of the encoded call (blake2-256), whether stored inline or as a preimage.
	pub call_hash: Hash,
	pub deposit: Balance,
	pub ends_at: BlockNumber,
	pub enact_at: BlockNumber,
	pub tally: Tally<Balance>,
	/// The stake the quorum asks for, at today's total stake.
	pub quorum_stake: Balance,
	pub status: ProposalStatus,
}

/// An account's governance position as the `account` view function reports it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct AccountView<AccountId, Balance, BlockNumber> {
	pub staked: Balance,
	pub unbonding: alloc::vec::Vec<Unbonding<Balance, BlockNumber>>,
	pub conviction: Conviction,
	pub locked_until: BlockNumber,
	/// What the account votes with now (0 while it delegates).
	pub power: Balance,
	pub delegate: Option<AccountId>,
	pub delegators: u32,
	/// Its votes on open proposals.
	pub votes: alloc::vec::Vec<(ProposalId, Vote)>,
}

/// How long stake stays held after `unstake`, and the unit of conviction locks.
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
#[serde(rename_all = "camelCase")]
pub struct StakePeriods<BlockNumber> {
	/// Blocks from `unstake` to `withdraw_unbonded`.
	pub unbonding: BlockNumber,
	/// One conviction period, in blocks.
	pub conviction: BlockNumber,
}

/// Blocks in a week at 6-second blocks: the defaults below are counted in it.
const WEEK: u32 = 7 * 14_400;

impl<BlockNumber: From<u32>> Default for StakePeriods<BlockNumber> {
	/// A week each.
	fn default() -> Self {
		Self { unbonding: WEEK.into(), conviction: WEEK.into() }
	}
}

impl<BlockNumber: From<u32>> KindParams<BlockNumber> {
	/// Rules a chain starts with unless its genesis says otherwise: a week of voting; model
	/// approvals and parameter changes need 10% of the stake behind the votes and a simple
	/// majority, enacted after a day; treasury spends need 20% and 60%, enacted after two days.
	pub fn default_for(kind: ProposalKind) -> Self {
		let day = WEEK / 7;
		match kind {
			ProposalKind::ModelApproval | ProposalKind::ParameterChange => Self {
				voting_period: WEEK.into(),
				enactment_delay: day.into(),
				quorum: Perbill::from_percent(10),
				approval: Perbill::from_percent(50),
			},
			ProposalKind::TreasurySpend => Self {
				voting_period: WEEK.into(),
				enactment_delay: (2 * day).into(),
				quorum: Perbill::from_percent(20),
				approval: Perbill::from_percent(60),
			},
		}
	}
}

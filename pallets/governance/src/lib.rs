#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod impls;
#[cfg(test)]
mod mock;
mod origin;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use origin::{EnsureGovernance, EnsureKind, GovernanceOrigin, OpenProposal, ProposalFailed};
pub use types::*;
pub use weights::WeightInfo;

pub(crate) use polkadot_sdk::{frame_support, frame_system, sp_runtime};

/// Log target of this pallet.
pub const LOG_TARGET: &str = "runtime::governance";

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::{boxed::Box, vec::Vec};
	use frame_support::{
		dispatch::{GetDispatchInfo, PostDispatchInfo},
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			EnsureOrigin, QueryPreimage, StorePreimage,
		},
	};
	use frame_system::pallet_prelude::{BlockNumberFor, *};
	use sp_runtime::traits::Dispatchable;

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the governance pallet.
	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The runtime's origin, which can be the governance origin of a passed proposal.
		type RuntimeOrigin: From<Origin>;

		/// The calls proposals carry.
		type RuntimeCall: Parameter
			+ Dispatchable<RuntimeOrigin = <Self as Config>::RuntimeOrigin, PostInfo = PostDispatchInfo>
			+ GetDispatchInfo
			+ From<Call<Self>>
			+ From<frame_system::Call<Self>>;

		/// The native currency; stakes and proposal deposits are holds on it.
		type Currency: Inspect<Self::AccountId>
			+ Mutate<Self::AccountId>
			+ InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons.
		type RuntimeHoldReason: From<HoldReason>;

		/// Where calls too large to store inline are kept, by hash (`pallet-preimage`).
		type Preimages: QueryPreimage<H = Self::Hashing> + StorePreimage;

		/// The treasury account: it receives slashed deposits and pays treasury spends.
		#[pallet::constant]
		type Treasury: Get<Self::AccountId>;

		/// Who may cancel a proposal (and slash its deposit as spam).
		type CancelOrigin: EnsureOrigin<<Self as frame_system::Config>::RuntimeOrigin>;

		/// Who may change the kinds' parameters and the periods.
		type ParamsOrigin: EnsureOrigin<<Self as frame_system::Config>::RuntimeOrigin>;

		/// Who may pay from the treasury.
		type SpendOrigin: EnsureOrigin<<Self as frame_system::Config>::RuntimeOrigin>;

		/// Told when a proposal is rejected or cancelled (`pallet-models` rejects the model a
		/// failed model-approval proposal was for). `()` when nobody listens.
		type OnFailed: ProposalFailed;

		/// Stake an account needs to open a proposal.
		#[pallet::constant]
		type ProposalThreshold: Get<BalanceOf<Self>>;

		/// Deposit for a proposal: this base ...
		#[pallet::constant]
		type ProposalDepositBase: Get<BalanceOf<Self>>;

		/// ... plus this per byte of the encoded call.
		#[pallet::constant]
		type ProposalDepositPerByte: Get<BalanceOf<Self>>;

		/// The most weight a proposal's call may declare; enactment runs it in `on_initialize`.
		#[pallet::constant]
		type MaxCallWeight: Get<Weight>;

		/// The longest voting period, enactment delay, unbonding or conviction period.
		#[pallet::constant]
		type MaxPeriod: Get<BlockNumberFor<Self>>;

		/// Open proposals at once (ongoing or waiting for enactment).
		#[pallet::constant]
		type MaxProposals: Get<u32>;

		/// Proposals decided in one block, and proposals enacted in one block.
		#[pallet::constant]
		type MaxDecisionsPerBlock: Get<u32>;

		/// Open proposals one account may vote on at once.
		#[pallet::constant]
		type MaxVotes: Get<u32>;

		/// Unbonding chunks one account may have at once.
		#[pallet::constant]
		type MaxUnbonding: Get<u32>;

		/// Weights of the calls and hooks.
		type WeightInfo: WeightInfo;
	}

	/// The origin of a passed proposal's call: governance, for a kind of proposal.
	#[pallet::origin]
	pub type Origin = origin::GovernanceOrigin;

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// Stake, including stake that is unbonding.
		#[codec(index = 0)]
		Stake,
		/// A proposal's deposit.
		#[codec(index = 1)]
		ProposalDeposit,
	}

	/// Every account's stake, conviction, unbonding and delegation.
	#[pallet::storage]
	pub type Stakes<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, StakeInfo<T>>;

	/// The sum of all stake that counts for voting (not unbonding). Quorums are shares of it.
	#[pallet::storage]
	pub type TotalStaked<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// The rules of each kind of proposal.
	#[pallet::storage]
	pub type Params<T: Config> =
		StorageMap<_, Twox64Concat, ProposalKind, KindParams<BlockNumberFor<T>>>;

	/// The unbonding and conviction periods.
	#[pallet::storage]
	pub type Periods<T: Config> = StorageValue<_, StakePeriods<BlockNumberFor<T>>, ValueQuery>;

	/// The id the next proposal gets.
	#[pallet::storage]
	pub type NextProposalId<T: Config> = StorageValue<_, ProposalId, ValueQuery>;

	/// Open proposals: ongoing, or passed and waiting for enactment.
	#[pallet::storage]
	pub type Proposals<T: Config> = CountedStorageMap<_, Twox64Concat, ProposalId, Proposal<T>>;

	/// Votes on open proposals, by proposal and voter.
	#[pallet::storage]
	pub type Ballots<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		ProposalId,
		Blake2_128Concat,
		T::AccountId,
		Ballot<BalanceOf<T>>,
	>;

	/// The proposals each account voted on; entries of finished proposals are pruned when the
	/// account next votes or unstakes.
	#[pallet::storage]
	pub type VotesOf<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, BoundedVec<ProposalId, T::MaxVotes>, ValueQuery>;

	/// Proposals decided at a block.
	#[pallet::storage]
	pub type Deadlines<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<ProposalId, T::MaxDecisionsPerBlock>,
		ValueQuery,
	>;

	/// Proposals enacted at a block (if they pass). A slot is taken when the proposal opens.
	#[pallet::storage]
	pub type Enactments<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<ProposalId, T::MaxDecisionsPerBlock>,
		ValueQuery,
	>;

	#[pallet::genesis_config]
	pub struct GenesisConfig<T: Config> {
		/// The rules of each kind; a kind left out cannot be proposed until governance sets it.
		pub params: Vec<(ProposalKind, KindParams<BlockNumberFor<T>>)>,
		/// The unbonding and conviction periods.
		pub periods: StakePeriods<BlockNumberFor<T>>,
	}

	impl<T: Config> Default for GenesisConfig<T> {
		/// Every kind with [`KindParams::default_for`], and a week for each period.
		fn default() -> Self {
			Self {
				params: ProposalKind::ALL.iter().map(|k| (*k, KindParams::default_for(*k))).collect(),
				periods: Default::default(),
			}
		}
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			for (kind, params) in &self.params {
				assert!(Pallet::<T>::params_are_valid(params), "invalid governance params for {kind:?}");
				Params::<T>::insert(kind, params);
			}
			assert!(Pallet::<T>::periods_are_valid(&self.periods), "invalid governance periods");
			Periods::<T>::put(self.periods);
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// `who` staked `amount` more; it now has `staked` at stake and votes with `power`.
		Staked { who: T::AccountId, amount: BalanceOf<T>, staked: BalanceOf<T>, power: BalanceOf<T> },
		/// `who` started unbonding `amount`; `withdraw_unbonded` returns it from `unlocks_at`.
		Unstaked { who: T::AccountId, amount: BalanceOf<T>, unlocks_at: BlockNumberFor<T> },
		/// Unbonded stake `amount` went back to `who`'s free balance.
		Withdrawn { who: T::AccountId, amount: BalanceOf<T> },
		/// `who` chose `conviction`: its stake cannot be unstaked before `locked_until`, and it
		/// now carries `power`.
		ConvictionSet {
			who: T::AccountId,
			conviction: Conviction,
			locked_until: BlockNumberFor<T>,
			power: BalanceOf<T>,
		},
		/// `who` delegated its voting power (`backing`) to `to`.
		Delegated { who: T::AccountId, to: T::AccountId, backing: Backing<BalanceOf<T>> },
		/// `who` took its voting power (`backing`) back from `from`.
		Undelegated { who: T::AccountId, from: T::AccountId, backing: Backing<BalanceOf<T>> },
		/// A proposal opened. Votes are taken until `ends_at`; if it passes, its call runs at
		/// `enact_at`.
		Proposed {
			proposal: ProposalId,
			proposer: T::AccountId,
			kind: ProposalKind,
			call_hash: T::Hash,
			deposit: BalanceOf<T>,
			ends_at: BlockNumberFor<T>,
			enact_at: BlockNumberFor<T>,
		},
		/// `who` voted (or changed its vote) with `power`; `tally` is the proposal's tally now.
		Voted {
			proposal: ProposalId,
			who: T::AccountId,
			vote: Vote,
			power: BalanceOf<T>,
			tally: Tally<BalanceOf<T>>,
		},
		/// `who` withdrew its vote; `tally` is the proposal's tally now.
		VoteRemoved { proposal: ProposalId, who: T::AccountId, tally: Tally<BalanceOf<T>> },
		/// The proposal passed; its call runs at `enact_at`. The deposit went back.
		Passed {
			proposal: ProposalId,
			tally: Tally<BalanceOf<T>>,
			enact_at: BlockNumberFor<T>,
			deposit_returned: BalanceOf<T>,
		},
		/// The proposal failed for `reason`; `quorum_stake` was the stake it needed behind its
		/// votes. The deposit went back.
		Rejected {
			proposal: ProposalId,
			reason: Failure,
			tally: Tally<BalanceOf<T>>,
			quorum_stake: BalanceOf<T>,
			deposit_returned: BalanceOf<T>,
		},
		/// The proposal's call ran with the governance origin; `result` is what it returned.
		Enacted { proposal: ProposalId, result: DispatchResult },
		/// Governance cancelled the proposal; `slashed` of its deposit went to the treasury and
		/// the rest back to the proposer.
		Cancelled { proposal: ProposalId, slashed: BalanceOf<T> },
		/// The pallet that opened the proposal for its proposer withdrew it (a builder withdrew
		/// its model); the deposit was returned.
		ProposalWithdrawn { proposal: ProposalId, deposit_returned: BalanceOf<T> },
		/// The rules of `kind` changed; they apply to proposals opened from now.
		ParamsSet { kind: ProposalKind, params: KindParams<BlockNumberFor<T>> },
		/// The unbonding and conviction periods changed; they apply from now.
		PeriodsSet { periods: StakePeriods<BlockNumberFor<T>> },
		/// The treasury paid `amount` to `to`.
		Spent { to: T::AccountId, amount: BalanceOf<T> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The amount is zero.
		ZeroAmount,
		/// The free balance cannot cover the stake or the deposit.
		InsufficientBalance,
		/// The account has nothing staked.
		NotStaker,
		/// More than the account has staked.
		InsufficientStake,
		/// The conviction lock has not ended.
		ConvictionLocked,
		/// The account has votes on open proposals; remove them or wait for the decisions.
		VotesLive,
		/// Too many unbonding chunks; withdraw the matured ones first.
		TooManyUnbonding,
		/// No unbonded stake has matured.
		NothingToWithdraw,
		/// An account cannot delegate to itself.
		SelfDelegation,
		/// The account already delegates; undelegate first.
		AlreadyDelegating,
		/// The account does not delegate.
		NotDelegating,
		/// The target delegates its own power; delegation is one level deep.
		TargetDelegates,
		/// Others delegate to this account; it cannot delegate onwards.
		HasDelegators,
		/// An account that delegates cannot vote; undelegate first.
		Delegating,
		/// Staked less than the proposal threshold.
		BelowProposalThreshold,
		/// This kind of proposal has no parameters yet.
		KindNotConfigured,
		/// The call declares more weight than an enactment may use.
		CallTooHeavy,
		/// Too many open proposals.
		TooManyProposals,
		/// Too many proposals end in that block; try again next block.
		DeadlineFull,
		/// Too many proposals are enacted in that block; try again next block.
		EnactmentFull,
		/// No open proposal has that id.
		UnknownProposal,
		/// The proposal no longer takes votes.
		NotOngoing,
		/// The account has no voting power.
		NoVotingPower,
		/// The account votes on too many open proposals.
		TooManyVotes,
		/// The account has not voted on that proposal.
		NotVoted,
		/// Parameters out of range: periods must be 1..=MaxPeriod (an enactment delay may be 0).
		BadParams,
		/// The call's preimage is gone or does not decode.
		PreimageMissing,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			Self::decide_and_enact(now)
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Stake `amount` of MNEMO for governance: it is held, and it votes with power
		/// stake × conviction multiplier (1× to 4×).
		///
		/// Any signed account. Votes already cast by the staker (or its delegate) grow with it.
		/// Emits `Staked`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::stake(T::MaxVotes::get()))]
		pub fn stake(origin: OriginFor<T>, #[pallet::compact] amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_stake(who, amount)
		}

		/// Start unbonding `amount` of stake. It stops counting at once and can be withdrawn after
		/// the unbonding period.
		///
		/// Staker only; not while the conviction lock runs or while it has votes on open
		/// proposals. Emits `Unstaked`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::unstake(T::MaxVotes::get()))]
		pub fn unstake(origin: OriginFor<T>, #[pallet::compact] amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_unstake(who, amount)
		}

		/// Release all unbonded stake whose unbonding period has ended.
		///
		/// Staker only. Emits `Withdrawn`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::withdraw_unbonded())]
		pub fn withdraw_unbonded(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_withdraw_unbonded(who)
		}

		/// Choose a conviction: None (1×, no lock), Locked2x (2×, one conviction period),
		/// Locked3x (3×, two periods), Locked4x (4×, four periods). The lock runs from now; a
		/// lower conviction only once the current lock has ended.
		///
		/// Staker only. Emits `ConvictionSet`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::set_conviction(T::MaxVotes::get()))]
		pub fn set_conviction(origin: OriginFor<T>, conviction: Conviction) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_set_conviction(who, conviction)
		}

		/// Let `to` vote with this account's stake and power. Delegation is one level deep: `to`
		/// must not delegate, and an account others delegate to cannot delegate.
		///
		/// Staker only, without votes on open proposals. Emits `Delegated`.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::delegate(T::MaxVotes::get()))]
		pub fn delegate(origin: OriginFor<T>, to: T::AccountId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_delegate(who, to)
		}

		/// Take the delegated power back; the delegate's open votes shrink by it.
		///
		/// Delegating accounts only. Emits `Undelegated`.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::undelegate(T::MaxVotes::get()))]
		pub fn undelegate(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_undelegate(who)
		}

		/// Open a proposal to run `call` with the governance origin of `kind`, if stakers pass it.
		///
		/// Needs `ProposalThreshold` staked. Holds a deposit of `ProposalDepositBase` plus
		/// `ProposalDepositPerByte` per byte of the call, returned at the decision (slashed if
		/// governance cancels the proposal as spam). Large calls are kept as a preimage. Emits
		/// `Proposed`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::propose())]
		pub fn propose(
			origin: OriginFor<T>,
			call: Box<<T as Config>::RuntimeCall>,
			kind: ProposalKind,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_propose(who, *call, kind, true).map(|_| ())
		}

		/// Vote aye, nay or abstain on an ongoing proposal, with all the account's power (its
		/// own unless delegated, plus what others delegate to it). Voting again changes the vote.
		/// Later changes of stake, conviction or delegation update the vote.
		///
		/// Stakers and delegates; not while delegating. Emits `Voted`.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::vote(T::MaxVotes::get()))]
		pub fn vote(origin: OriginFor<T>, proposal: ProposalId, vote: Vote) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_vote(who, proposal, vote)
		}

		/// Withdraw a vote on an ongoing proposal, or clear the record of a vote on a finished
		/// one.
		///
		/// The voter only. Emits `VoteRemoved` for an ongoing proposal.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::remove_vote())]
		pub fn remove_vote(origin: OriginFor<T>, proposal: ProposalId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_remove_vote(who, proposal)
		}

		/// Cancel an open proposal. With `slash`, its deposit goes to the treasury (spam);
		/// otherwise back to the proposer.
		///
		/// `CancelOrigin` only (governance itself). Emits `Cancelled`.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::cancel().saturating_add(T::OnFailed::max_weight()))]
		pub fn cancel(origin: OriginFor<T>, proposal: ProposalId, slash: bool) -> DispatchResult {
			T::CancelOrigin::ensure_origin(origin)?;
			Self::do_cancel(proposal, slash)?;
			T::OnFailed::proposal_failed(proposal);
			Ok(())
		}

		/// Set the rules of one kind of proposal: voting period, enactment delay, quorum and
		/// approval threshold. Open proposals keep the rules they opened with.
		///
		/// `ParamsOrigin` only. Emits `ParamsSet`.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::set_params())]
		pub fn set_params(
			origin: OriginFor<T>,
			kind: ProposalKind,
			params: KindParams<BlockNumberFor<T>>,
		) -> DispatchResult {
			T::ParamsOrigin::ensure_origin(origin)?;
			Self::do_set_params(kind, params)
		}

		/// Set the unbonding and conviction periods. Unbonding already under way and locks
		/// already set keep their end.
		///
		/// `ParamsOrigin` only. Emits `PeriodsSet`.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::set_periods())]
		pub fn set_periods(
			origin: OriginFor<T>,
			periods: StakePeriods<BlockNumberFor<T>>,
		) -> DispatchResult {
			T::ParamsOrigin::ensure_origin(origin)?;
			Self::do_set_periods(periods)
		}

		/// Pay `amount` from the treasury to `to`. The treasury keeps its existential deposit.
		///
		/// `SpendOrigin` only (a passed treasury-spend proposal). Emits `Spent`.
		#[pallet::call_index(12)]
		#[pallet::weight(T::WeightInfo::spend())]
		pub fn spend(
			origin: OriginFor<T>,
			to: T::AccountId,
			#[pallet::compact] amount: BalanceOf<T>,
		) -> DispatchResult {
			T::SpendOrigin::ensure_origin(origin)?;
			Self::do_spend(to, amount)
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// Open proposals, with their tallies and the stake their quorum asks for.
		pub fn proposals() -> Vec<ProposalView<T::AccountId, BalanceOf<T>, BlockNumberFor<T>, T::Hash>>
		{
			Self::proposal_views()
		}

		/// An account's stake, unbonding, conviction, power, delegation and open votes.
		pub fn account(who: T::AccountId) -> AccountView<T::AccountId, BalanceOf<T>, BlockNumberFor<T>> {
			Self::account_view(&who)
		}
	}
}

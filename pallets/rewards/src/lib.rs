#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod impls;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use types::*;
pub use weights::WeightInfo;

pub(crate) use polkadot_sdk::{frame_support, frame_system, sp_runtime};

/// Log target of this pallet.
pub const LOG_TARGET: &str = "runtime::rewards";

/// How many later blocks a settlement may be released in when its own block's release slots
/// are full.
pub const RELEASE_SLACK: u32 = 16;

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
		PalletId,
	};
	use frame_system::pallet_prelude::{BlockNumberFor, *};
	use mnemo_primitives::{AdapterId, Balance, ContributionId, ReceiptId};
	use sp_runtime::traits::AccountIdConversion;

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the rewards pallet.
	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The native currency: payers' credit is a hold on it; escrowed fees and unclaimed
		/// rewards sit in the pallet's account.
		type Currency: Inspect<Self::AccountId, Balance = Balance>
			+ Mutate<Self::AccountId>
			+ InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		type RuntimeHoldReason: From<HoldReason>;

		/// Who sets the fee split and the periods (governance).
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// The pallet's id; its account holds escrowed fees and unclaimed rewards.
		#[pallet::constant]
		type PalletId: Get<PalletId>;

		/// Receives the treasury's part of each fee and the rounding dust.
		#[pallet::constant]
		type Treasury: Get<Self::AccountId>;

		/// Most contributions credited by one settlement (attribution's top K).
		#[pallet::constant]
		type MaxContributions: Get<u32>;
		/// Most attestors credited by one settlement.
		#[pallet::constant]
		type MaxAttestors: Get<u32>;
		/// Most operators one payer may have allowances for.
		#[pallet::constant]
		type MaxOperators: Get<u32>;
		/// Most settlements released in one block.
		#[pallet::constant]
		type MaxReleasesPerBlock: Get<u32>;
		/// How many recent credits an account's explanation keeps (the oldest give way).
		#[pallet::constant]
		type MaxRecentCredits: Get<u32>;
		/// How many spend periods a payer's per-period totals keep (the oldest give way).
		#[pallet::constant]
		type MaxSpendPeriods: Get<u32>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;
	}

	/// Why this pallet holds money.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A payer's credit, from which operators charge inference fees.
		Credit,
	}

	/// The fee split and the periods.
	#[pallet::storage]
	pub type Params<T: Config> = StorageValue<_, RewardParams<BlockNumberFor<T>>, OptionQuery>;

	/// Each payer's withdrawal waiting out its notice.
	#[pallet::storage]
	pub type Withdrawals<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, Unlocking<BlockNumberFor<T>>>;

	/// What each operator may charge each payer: payer, operator → allowance.
	#[pallet::storage]
	pub type Allowances<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Blake2_128Concat,
		T::AccountId,
		Allowance<BlockNumberFor<T>>,
	>;

	/// How many allowances each payer has (at most `MaxOperators`).
	#[pallet::storage]
	pub type OperatorCount<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	/// Fees charged and held until their receipt settles or is refunded.
	#[pallet::storage]
	pub type Escrows<T: Config> = StorageMap<_, Twox64Concat, ReceiptId, Escrow<T>>;

	/// Settled fees whose credits are inside the challenge window.
	#[pallet::storage]
	pub type Pending<T: Config> = StorageMap<_, Twox64Concat, ReceiptId, PendingSettlement<T>>;

	/// The settlements each block releases at its start.
	#[pallet::storage]
	pub type Releases<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<ReceiptId, T::MaxReleasesPerBlock>,
		ValueQuery,
	>;

	/// Every account's rewards: pending, claimable, claimed, earned by role.
	#[pallet::storage]
	pub type Ledgers<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, Ledger, ValueQuery>;

	/// Each account's most recent released credits, newest last.
	#[pallet::storage]
	pub type RecentCredits<T: Config> = StorageMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		BoundedVec<CreditRecord<BlockNumberFor<T>>, T::MaxRecentCredits>,
		ValueQuery,
	>;

	/// What each contribution has earned its contributor, released credits only.
	#[pallet::storage]
	pub type ContributionEarnings<T: Config> =
		StorageMap<_, Twox64Concat, ContributionId, Balance, ValueQuery>;

	/// Each payer's spending, fees charged and not refunded.
	#[pallet::storage]
	pub type Spent<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, SpendTotals, ValueQuery>;

	/// Each payer's spending per adapter.
	#[pallet::storage]
	pub type SpentByAdapter<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		AdapterId,
		Balance,
		ValueQuery,
	>;

	/// Each payer's spending in its most recent periods: (period, amount), oldest first.
	#[pallet::storage]
	pub type SpentByPeriod<T: Config> = StorageMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		BoundedVec<(u32, Balance), T::MaxSpendPeriods>,
		ValueQuery,
	>;

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		pub params: RewardParams<BlockNumberFor<T>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			assert!(Pallet::<T>::check_params(&self.params).is_ok(), "invalid reward parameters");
			Params::<T>::put(self.params);
			// The pallet account must exist before the first fee (below the existential deposit)
			// reaches it, and stays alive from then on.
			let account = Pallet::<T>::account_id();
			let min = T::Currency::minimum_balance();
			let has = T::Currency::balance(&account);
			if has < min {
				let _ = T::Currency::mint_into(&account, min - has);
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// `who` deposited `amount` of credit; it now has `credit`.
		CreditDeposited { who: T::AccountId, amount: Balance, credit: Balance },
		/// `who` asked to withdraw `amount` of credit; it can complete the withdrawal from `at`.
		WithdrawalScheduled { who: T::AccountId, amount: Balance, at: BlockNumberFor<T> },
		/// `who` withdrew `amount` of credit; `credit` is left.
		CreditWithdrawn { who: T::AccountId, amount: Balance, credit: Balance },
		/// `payer` let `operator` charge up to `allowance` until block `expires_at`.
		OperatorApproved {
			payer: T::AccountId,
			operator: T::AccountId,
			allowance: Balance,
			expires_at: BlockNumberFor<T>,
		},
		/// `payer` revoked `operator`'s allowance; it ends at `expires_at`.
		OperatorRevoked { payer: T::AccountId, operator: T::AccountId, expires_at: BlockNumberFor<T> },
		/// An expired allowance was removed.
		AllowanceRemoved { payer: T::AccountId, operator: T::AccountId },
		/// `operator` charged `payer` `amount` for `receipt` (adapter `adapter`); it is held in
		/// escrow. `allowance_left` and `credit_left` are what remains.
		Charged {
			receipt: ReceiptId,
			payer: T::AccountId,
			operator: T::AccountId,
			adapter: AdapterId,
			amount: Balance,
			allowance_left: Balance,
			credit_left: Balance,
		},
		/// The fee of `receipt` was split among `payees` accounts; the credits are pending until
		/// block `release_at`.
		Settled { receipt: ReceiptId, fee: Balance, payees: u32, release_at: BlockNumberFor<T> },
		/// `amount` went back to `payer`'s credit for `receipt`; `clawed_back` if it had settled
		/// (its pending credits were cancelled).
		Refunded { receipt: ReceiptId, payer: T::AccountId, amount: Balance, clawed_back: bool },
		/// `who` can now claim `amount` more, earned by `receipt`.
		Credited { who: T::AccountId, receipt: ReceiptId, amount: Balance },
		/// The credits of `receipt`, `fee` in all, became claimable.
		Released { receipt: ReceiptId, fee: Balance },
		/// `who` received `amount` of rewards.
		Claimed { who: T::AccountId, amount: Balance },
		/// Governance set the fee split and periods.
		ParamsSet { params: RewardParams<BlockNumberFor<T>> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The amount must be more than zero.
		ZeroAmount,
		/// Not enough credit.
		InsufficientCredit,
		/// No withdrawal was asked for.
		NoWithdrawal,
		/// The withdrawal's notice has not passed yet.
		NoticeNotOver,
		/// A payer cannot approve itself.
		SelfApproval,
		/// An allowance must last at least the notice period from now.
		ExpiryTooSoon,
		/// Approving may only raise an allowance or extend it; lower one with `revoke_operator`.
		AllowanceDecrease,
		/// The payer has allowances for `MaxOperators` operators already.
		TooManyOperators,
		/// The operator has no allowance from the payer.
		NoAllowance,
		/// The operator's allowance has expired.
		AllowanceExpired,
		/// The operator's allowance does not cover the fee.
		AllowanceExceeded,
		/// The allowance is still live.
		AllowanceLive,
		/// The receipt was charged before.
		DuplicateReceipt,
		/// No escrowed or pending fee for this receipt (unknown, refunded, or already released).
		UnknownReceipt,
		/// The receipt is settled already.
		AlreadySettled,
		/// Attribution scores sum to more than 100%.
		SharesExceedWhole,
		/// A contribution appears twice in a settlement.
		DuplicateContribution,
		/// An attestor appears twice in a settlement.
		DuplicateAttestor,
		/// More contributions than `MaxContributions`.
		TooManyContributions,
		/// More attestors than `MaxAttestors`.
		TooManyAttestors,
		/// The release slots of the next blocks are full; settle again later.
		ReleaseQueueFull,
		/// The fee split's parts do not sum to exactly 100%.
		InvalidSplit,
		/// The spend period must be at least one block.
		ZeroPeriod,
		/// Nothing is claimable.
		NothingToClaim,
		/// The account holds less than the existential deposit and the claim would not bring it
		/// there: claim once the claimable amount reaches the existential deposit, or fund the
		/// account first. The rewards stay claimable.
		BelowMinimum,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// Release the settlements due in this block: their credits become claimable.
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			Self::release_due(now)
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Deposit `amount` as credit that operators you approve may charge for inferences.
		/// It stays in your account, held. Any signed account. Emits `CreditDeposited`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::deposit_credit())]
		pub fn deposit_credit(origin: OriginFor<T>, #[pallet::compact] amount: Balance) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_deposit_credit(&who, amount)
		}

		/// Ask to withdraw `amount` of credit (replacing an earlier request). Operators may still
		/// charge it during the notice period; complete with `complete_withdrawal` after it.
		/// Emits `WithdrawalScheduled`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::withdraw_credit())]
		pub fn withdraw_credit(origin: OriginFor<T>, #[pallet::compact] amount: Balance) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_withdraw_credit(&who, amount)
		}

		/// Release the credit asked for by `withdraw_credit` once its notice is over (as much of
		/// it as charges left). Emits `CreditWithdrawn`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::complete_withdrawal())]
		pub fn complete_withdrawal(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_complete_withdrawal(&who)
		}

		/// Let `operator` charge your credit up to `allowance` in all until block `expires_at`
		/// (at least the notice period away). Approving again may only raise the allowance or
		/// extend it. At most `MaxOperators` operators. Emits `OperatorApproved`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::approve_operator())]
		pub fn approve_operator(
			origin: OriginFor<T>,
			operator: T::AccountId,
			#[pallet::compact] allowance: Balance,
			expires_at: BlockNumberFor<T>,
		) -> DispatchResult {
			let payer = ensure_signed(origin)?;
			Self::do_approve(&payer, &operator, allowance, expires_at)
		}

		/// End `operator`'s allowance after the notice period, so that receipts of inferences
		/// it already served can still land. Emits `OperatorRevoked`.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::revoke_operator())]
		pub fn revoke_operator(origin: OriginFor<T>, operator: T::AccountId) -> DispatchResult {
			let payer = ensure_signed(origin)?;
			Self::do_revoke(&payer, &operator)
		}

		/// Remove an expired allowance, freeing the payer's operator slot. Anyone may call.
		/// Emits `AllowanceRemoved`.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::remove_allowance())]
		pub fn remove_allowance(
			origin: OriginFor<T>,
			payer: T::AccountId,
			operator: T::AccountId,
		) -> DispatchResult {
			ensure_signed(origin)?;
			Self::do_remove_allowance(&payer, &operator)
		}

		/// Receive everything claimable in your ledger. Fails with `BelowMinimum` if your
		/// account does not exist and the amount is below the existential deposit (the rewards
		/// stay claimable). Emits `Claimed`.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::claim())]
		pub fn claim(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_claim(&who)
		}

		/// Pay `who` everything claimable in its ledger (for example the treasury's). Anyone may
		/// call; the money goes to `who`. Emits `Claimed`.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::claim())]
		pub fn claim_for(origin: OriginFor<T>, who: T::AccountId) -> DispatchResult {
			ensure_signed(origin)?;
			Self::do_claim(&who)
		}

		/// Set the fee split (its parts summing to exactly 100%), the notice period and the
		/// spend period. Settlements already made keep their split. `GovernanceOrigin`.
		/// Emits `ParamsSet`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::set_params())]
		pub fn set_params(origin: OriginFor<T>, params: RewardParams<BlockNumberFor<T>>) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Self::check_params(&params)?;
			Params::<T>::put(params);
			Self::deposit_event(Event::ParamsSet { params });
			Ok(())
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// A payer's credit and its pending withdrawal.
		pub fn credit(who: T::AccountId) -> (Balance, Option<Unlocking<BlockNumberFor<T>>>) {
			(Self::credit_of(&who), Withdrawals::<T>::get(&who))
		}

		/// A payer's allowances: operator, what is left, when it expires.
		pub fn allowances(payer: T::AccountId) -> Vec<(T::AccountId, Allowance<BlockNumberFor<T>>)> {
			Allowances::<T>::iter_prefix(&payer).collect()
		}

		/// An account's rewards: pending, claimable, claimed, and earned by role.
		pub fn ledger(who: T::AccountId) -> Ledger {
			Ledgers::<T>::get(&who)
		}

		/// Why an account earned what it earned: its most recent credits, with the receipt that
		/// caused each, newest last.
		pub fn recent_credits(who: T::AccountId) -> Vec<CreditRecord<BlockNumberFor<T>>> {
			RecentCredits::<T>::get(&who).into_inner()
		}

		/// What each of `contributions` has earned its contributor so far.
		pub fn contribution_earnings(contributions: Vec<ContributionId>) -> Vec<(ContributionId, Balance)> {
			contributions.into_iter().map(|c| (c, ContributionEarnings::<T>::get(c))).collect()
		}

		/// Where the fee of `receipt` is: escrowed, or settled and pending with its payees.
		pub fn receipt(receipt: ReceiptId) -> Option<ReceiptFunds<T>> {
			Self::funds_of(receipt)
		}

		/// A payer's spending: totals, and per period (period index, amount) oldest first.
		/// Period `p` covers blocks `p × spend_period ..`.
		pub fn spend(payer: T::AccountId) -> (SpendTotals, Vec<(u32, Balance)>) {
			(Spent::<T>::get(&payer), SpentByPeriod::<T>::get(&payer).into_inner())
		}

		/// A payer's spending on each of `adapters`.
		pub fn spend_by_adapter(payer: T::AccountId, adapters: Vec<AdapterId>) -> Vec<(AdapterId, Balance)> {
			adapters.into_iter().map(|a| (a, SpentByAdapter::<T>::get(&payer, a))).collect()
		}

		/// The fee split and periods.
		pub fn params() -> Option<RewardParams<BlockNumberFor<T>>> {
			Params::<T>::get()
		}
	}

	impl<T: Config> Pallet<T> {
		/// The account that holds escrowed fees and unclaimed rewards.
		pub fn account_id() -> T::AccountId {
			T::PalletId::get().into_account_truncating()
		}
	}
}

/// What the pallet account owes: the sums over escrows, pending settlements and ledgers
/// (computed by [`Pallet::owed`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Owed {
	/// Fees charged and not yet settled.
	pub escrowed: mnemo_primitives::Balance,
	/// Settled fees whose credits are not yet released.
	pub pending: mnemo_primitives::Balance,
	/// Released credits and refunds not yet claimed.
	pub claimable: mnemo_primitives::Balance,
}

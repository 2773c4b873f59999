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

/// How many of an operator's latest settled batches a payout may be proven against: a claim
/// built on one stays valid while that many more settle.
pub const RECENT_PAYOUT_ROOTS: u32 = 32;

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
	use mnemo_primitives::{
		batch::{MerkleProof, Payout},
		Balance, BatchId,
	};
	use sp_runtime::traits::AccountIdConversion;

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the rewards pallet.
	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The native currency: payers' channel deposits are holds on it; escrowed fees and
		/// unclaimed rewards sit in the pallet's account.
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

		/// Most attestors credited by one batch's settlement.
		#[pallet::constant]
		type MaxAttestors: Get<u32>;
		/// Most channels one payer may have open (one per operator).
		#[pallet::constant]
		type MaxChannels: Get<u32>;
		/// Smallest deposit a channel is opened with: a channel's storage is not free.
		#[pallet::constant]
		type MinChannelDeposit: Get<Balance>;
		/// The shortest notice a closing channel gives its operator, whatever governance sets:
		/// time for the operator's batch of vouchers signed before the close to land.
		#[pallet::constant]
		type MinNotice: Get<BlockNumberFor<Self>>;
		/// How many spend periods a payer's per-period totals keep (the oldest give way).
		#[pallet::constant]
		type MaxSpendPeriods: Get<u32>;
		/// Most payers one batch charges.
		#[pallet::constant]
		type MaxPayersPerBatch: Get<u32>;
		/// Most payers given back their charge per block, across refunded batches (a refund
		/// is queued, and paid back in the blocks after it, at this pace: a block's work stays
		/// bounded however many batches are refunded at once).
		#[pallet::constant]
		type MaxRefundsPerBlock: Get<u32>;

		/// Weights of the calls, from the benchmarks.
		type WeightInfo: WeightInfo;
	}

	/// Why this pallet holds money.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A payer's channel deposits, from which operators charge inference fees.
		Channel,
	}

	/// The fee split and the periods.
	#[pallet::storage]
	pub type Params<T: Config> = StorageValue<_, RewardParams<BlockNumberFor<T>>, OptionQuery>;

	/// Payment channels: payer, operator → channel.
	#[pallet::storage]
	pub type Channels<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Blake2_128Concat,
		T::AccountId,
		Channel<BlockNumberFor<T>>,
	>;

	/// How many channels each payer has (at most `MaxChannels`).
	#[pallet::storage]
	pub type ChannelCount<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, u32, ValueQuery>;

	/// Batches' charges held until the batch settles or is refunded.
	#[pallet::storage]
	pub type BatchEscrows<T: Config> = StorageMap<_, Twox64Concat, BatchId, BatchEscrowOf<T>>;

	/// Refunded batches' escrows whose payers are not all given back yet, with what is left of
	/// each; `BatchCharges` keeps the charges still to give back. A few payers go back each block (`MaxRefundsPerBlock`), one batch
	/// after another.
	#[pallet::storage]
	pub type Refunding<T: Config> = StorageMap<_, Twox64Concat, BatchId, RefundOf<T>>;

	/// Each batch's charge of each payer (the channel, the vouchers it covers, the amount and how
	/// many receipts), in one item per batch: written once when the batch is charged, removed
	/// once when it settles (a refund takes them a few at a time).
	#[pallet::storage]
	pub type BatchCharges<T: Config> =
		StorageMap<_, Twox64Concat, BatchId, BoundedVec<(T::AccountId, BatchChargeRecord), T::MaxPayersPerBatch>, ValueQuery>;

	/// Each operator's payouts: its recent settled batches' roots of running totals, what its
	/// settled batches added to them and what was claimed.
	#[pallet::storage]
	pub type PayoutBooks<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, PayoutBook>;

	/// Operator, account → the running total the account claimed from the operator's payouts.
	#[pallet::storage]
	pub type PaidOut<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Blake2_128Concat, T::AccountId, Balance, ValueQuery>;

	/// The id the next channel opened gets.
	#[pallet::storage]
	pub type NextChannel<T: Config> = StorageValue<_, u64, ValueQuery>;

	/// Every account's rewards outside payout trees (attestors' parts, the treasury's, refunds
	/// that could not go back): claimable, claimed, earned by role.
	#[pallet::storage]
	pub type Ledgers<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, Ledger, ValueQuery>;

	/// Each payer's spending, fees charged and not refunded.
	#[pallet::storage]
	pub type Spent<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, SpendTotals, ValueQuery>;

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
		/// `payer` opened channel `channel` to `operator` with `deposit` (held) for it to charge;
		/// its vouchers name `channel`.
		ChannelOpened { payer: T::AccountId, operator: T::AccountId, channel: u64, deposit: Balance },
		/// `payer` added `amount` to its channel to `operator`; `balance` is left to charge.
		ChannelToppedUp { payer: T::AccountId, operator: T::AccountId, amount: Balance, balance: Balance },
		/// `payer` closed its channel to `operator`: charges land until block `closes_at`, then
		/// what is left (`balance` now) goes back with `finish_close`.
		ChannelClosing { payer: T::AccountId, operator: T::AccountId, closes_at: BlockNumberFor<T>, balance: Balance },
		/// The channel is gone: `returned` went back to the payer; `spent` was charged on it in
		/// all.
		ChannelClosed { payer: T::AccountId, operator: T::AccountId, returned: Balance, spent: Balance },
		/// `who` received `amount` of rewards.
		Claimed { who: T::AccountId, amount: Balance },
		/// Governance set the fee split and periods.
		ParamsSet { params: RewardParams<BlockNumberFor<T>> },
		/// `operator` charged `payer` `amount` on their channel for its receipts in `batch`,
		/// under the payer's voucher `seq`; the channel has `spent` in all and `balance` left.
		BatchCharged { batch: BatchId, payer: T::AccountId, operator: T::AccountId, amount: Balance, seq: u64, spent: Balance, balance: Balance },
		/// `batch` was refunded: its `payers` charges, `amount` in all, go back to them in the
		/// next blocks (at most `MaxRefundsPerBlock` payers a block, across batches).
		BatchRefundQueued { batch: BatchId, payers: u32, amount: Balance },
		/// Every charge of `batch`, `amount` in all, went back to its `payers`.
		BatchRefunded { batch: BatchId, payers: u32, amount: Balance },
		/// `batch` of `operator` settled: it added `total` to the operator's payouts, whose running
		/// totals for `count` accounts are now claimable by proof against its root;
		/// `attestors_part` was credited to its `attestors`.
		BatchSettled { batch: BatchId, operator: T::AccountId, total: Balance, count: u32, attestors: u32, attestors_part: Balance },
		/// `who` received `amount` from `operator`'s payouts, by proof of its running total
		/// `total` in `batch`: all it has claimed from that operator so far.
		PayoutClaimed { operator: T::AccountId, batch: BatchId, who: T::AccountId, amount: Balance, total: Balance },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The amount must be more than zero.
		ZeroAmount,
		/// A payer cannot open a channel to itself.
		SelfChannel,
		/// A channel is opened with at least `MinChannelDeposit`.
		DepositTooLow,
		/// The voucher is for another channel between the payer and the operator (one closed
		/// before this one was opened).
		WrongChannel,
		/// The payer has a channel to this operator already: top it up instead.
		ChannelExists,
		/// The payer has `MaxChannels` channels already.
		TooManyChannels,
		/// The payer has no channel to this operator.
		NoChannel,
		/// The channel is closing: no top-up, and closing again changes nothing.
		ChannelClosing,
		/// The channel closed (its notice is over): no charge lands on it any more.
		ChannelClosed,
		/// The channel's notice is not over yet (or it was never closed).
		ChannelOpen,
		/// The voucher's `seq` is not above the channel's last: a replayed or stale voucher.
		StaleVoucher,
		/// The charge would take the channel's total past what the payer's voucher consents to.
		AboveConsent,
		/// The channel's deposit does not cover the charge.
		ChannelDepleted,
		/// An attestor appears twice in a settlement.
		DuplicateAttestor,
		/// More attestors than `MaxAttestors`.
		TooManyAttestors,
		/// The fee split's parts do not sum to exactly 100%.
		InvalidSplit,
		/// The spend period must be at least one block.
		ZeroPeriod,
		/// Nothing is claimable.
		NothingToClaim,
		/// The payer was charged in this batch already.
		DuplicateCharge,
		/// The batch charges `MaxPayersPerBatch` payers already.
		TooManyPayers,
		/// No escrow for this batch (unknown, refunded or settled).
		UnknownBatch,
		/// The batch's escrow is not its payouts plus the attestors' part, to the unit.
		PayoutMismatch,
		/// The operator has no settled batch.
		NoPayouts,
		/// The batch is not among the operator's most recent settled batches
		/// (`RECENT_PAYOUT_ROOTS`): prove the total against a newer one.
		UnknownRoot,
		/// The payout and its proof do not lead to the batch's payouts root.
		BadProof,
		/// This running total was claimed already: nothing more is owed by it (a later batch's
		/// may be higher).
		AlreadyClaimed,
		/// The operator's claims so far and this one sum to more than its settled batches added
		/// to its payouts: its trees are not what they claimed to be.
		PayoutsExhausted,
		/// The account holds less than the existential deposit and the claim would not bring it
		/// there: claim once the claimable amount reaches the existential deposit, or fund the
		/// account first. The rewards stay claimable.
		BelowMinimum,
		/// A channel's notice is at least `MinNotice` blocks: shorter would let a payer close
		/// before its operator's batch of the vouchers it signed could land.
		NoticeTooShort,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(_: BlockNumberFor<T>) -> Weight {
			Self::give_back_refunds(T::MaxRefundsPerBlock::get())
		}

		fn integrity_test() {
			assert!(T::MaxRefundsPerBlock::get() >= 1, "MaxRefundsPerBlock must be at least 1");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Open a payment channel to `operator`, holding `deposit` of your balance for it to
		/// charge for inferences it serves you, each within a voucher you sign. At most
		/// `MaxChannels` channels. Emits `ChannelOpened`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::open_channel())]
		pub fn open_channel(
			origin: OriginFor<T>,
			operator: T::AccountId,
			#[pallet::compact] deposit: Balance,
		) -> DispatchResult {
			let payer = ensure_signed(origin)?;
			Self::do_open_channel(&payer, &operator, deposit)
		}

		/// Add `amount` to your open channel to `operator`. Emits `ChannelToppedUp`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::top_up())]
		pub fn top_up(
			origin: OriginFor<T>,
			operator: T::AccountId,
			#[pallet::compact] amount: Balance,
		) -> DispatchResult {
			let payer = ensure_signed(origin)?;
			Self::do_top_up(&payer, &operator, amount)
		}

		/// Close your channel to `operator`: receipts of requests it served you still land for
		/// the notice period (`RewardParams.notice`); then `finish_close` returns what is left.
		/// Emits `ChannelClosing`.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::close_channel())]
		pub fn close_channel(origin: OriginFor<T>, operator: T::AccountId) -> DispatchResult {
			let payer = ensure_signed(origin)?;
			Self::do_close_channel(&payer, &operator)
		}

		/// Once a closed channel's notice is over, return what is left of its deposit to the
		/// payer and remove it. Anyone may call. Emits `ChannelClosed`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::finish_close())]
		pub fn finish_close(origin: OriginFor<T>, payer: T::AccountId, operator: T::AccountId) -> DispatchResult {
			ensure_signed(origin)?;
			Self::do_finish_close(&payer, &operator)
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

		/// Pay an account what `operator` owes it: `payout` is its running total in the payouts
		/// of `batch`, one of the operator's `RECENT_PAYOUT_ROOTS` latest settled batches, proven
		/// by its Merkle path; the account receives that total less what it claimed from the
		/// operator before. One claim covers every batch up to `batch`. Anyone may submit it;
		/// the money goes to `payout.who`. Emits `PayoutClaimed`.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::claim_payout(proof.path.len() as u32))]
		pub fn claim_payout(
			origin: OriginFor<T>,
			operator: T::AccountId,
			batch: BatchId,
			payout: Payout<T::AccountId>,
			proof: MerkleProof,
		) -> DispatchResult {
			ensure_signed(origin)?;
			Self::do_claim_payout(operator, batch, payout, proof)
		}

		/// Set the fee split (its parts summing to exactly 100%), the notice period (at least
		/// `MinNotice`) and the spend period. `GovernanceOrigin`.
		/// Emits `ParamsSet`.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::set_params())]
		pub fn set_params(origin: OriginFor<T>, params: RewardParams<BlockNumberFor<T>>) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Self::check_params(&params)?;
			ensure!(params.notice >= T::MinNotice::get(), Error::<T>::NoticeTooShort);
			Params::<T>::put(params);
			Self::deposit_event(Event::ParamsSet { params });
			Ok(())
		}
	}

	#[pallet::view_functions]
	impl<T: Config> Pallet<T> {
		/// A payer's channels: operator and channel.
		pub fn channels(payer: T::AccountId) -> Vec<(T::AccountId, Channel<BlockNumberFor<T>>)> {
			Channels::<T>::iter_prefix(&payer).collect()
		}

		/// An account's rewards outside payout trees: claimable, claimed, and earned by role.
		pub fn ledger(who: T::AccountId) -> Ledger {
			Ledgers::<T>::get(&who)
		}

		/// A payer's spending: totals, and per period (period index, amount) oldest first.
		/// Period `p` covers blocks `p × spend_period ..`.
		pub fn spend(payer: T::AccountId) -> (SpendTotals, Vec<(u32, Balance)>) {
			(Spent::<T>::get(&payer), SpentByPeriod::<T>::get(&payer).into_inner())
		}

		/// The fee split and periods.
		pub fn params() -> Option<RewardParams<BlockNumberFor<T>>> {
			Params::<T>::get()
		}

		/// `operator`'s payouts (its recent settled roots, what its batches added and what was
		/// claimed) and the running total `who` claimed from them.
		pub fn payouts(operator: T::AccountId, who: T::AccountId) -> (Option<PayoutBook>, Balance) {
			(PayoutBooks::<T>::get(&operator), PaidOut::<T>::get(&operator, &who))
		}
	}

	impl<T: Config> Pallet<T> {
		/// The account that holds escrowed fees and unclaimed rewards.
		pub fn account_id() -> T::AccountId {
			T::PalletId::get().into_account_truncating()
		}
	}
}

/// What the pallet account owes: the sums over batch escrows, payout books and ledgers (computed
/// by [`Pallet::owed`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Owed {
	/// Batches' charges not yet settled or refunded.
	pub escrowed: mnemo_primitives::Balance,
	/// Settled payouts not yet claimed, and ledgers' claimable amounts.
	pub claimable: mnemo_primitives::Balance,
}

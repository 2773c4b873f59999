//! The logic behind the calls and the hook: each call in `lib.rs` checks its origin and calls one
//! of these.

use crate::{
	frame_support, frame_system, pallet::*, sp_runtime, types::*, GovernanceOrigin, ProposalFailed,
	WeightInfo,
	LOG_TARGET,
};
use alloc::vec::Vec;
use codec::Encode;
use frame_support::{
	dispatch::GetDispatchInfo,
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{Mutate, MutateHold},
		tokens::{Fortitude, Precision, Preservation, Restriction},
		QueryPreimage, StorePreimage,
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::traits::{Dispatchable, Hash, Saturating, Zero};

impl<T: Config> Pallet<T> {
	// ---- stake ----

	pub(crate) fn do_stake(who: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		T::Currency::hold(&HoldReason::Stake.into(), &who, amount)
			.map_err(|_| Error::<T>::InsufficientBalance)?;
		let mut info = Stakes::<T>::get(&who).unwrap_or_default();
		let before = info.own();
		info.staked = info.staked.saturating_add(amount);
		Self::own_backing_changed(&who, &info, before);
		let (staked, power) = (info.staked, info.own().power);
		Stakes::<T>::insert(&who, info);
		TotalStaked::<T>::mutate(|t| *t = t.saturating_add(amount));
		Self::deposit_event(Event::Staked { who, amount, staked, power });
		Ok(())
	}

	pub(crate) fn do_unstake(who: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		let mut info = Stakes::<T>::get(&who).ok_or(Error::<T>::NotStaker)?;
		ensure!(amount <= info.staked, Error::<T>::InsufficientStake);
		let now = frame_system::Pallet::<T>::block_number();
		ensure!(info.locked_until <= now, Error::<T>::ConvictionLocked);
		ensure!(Self::live_votes(&who).is_empty(), Error::<T>::VotesLive);
		let unlocks_at = now.saturating_add(Periods::<T>::get().unbonding);
		info.unbonding
			.try_push(Unbonding { amount, unlocks_at })
			.map_err(|_| Error::<T>::TooManyUnbonding)?;
		let before = info.own();
		info.staked = info.staked.saturating_sub(amount);
		if info.staked.is_zero() {
			info.conviction = Conviction::None;
		}
		Self::own_backing_changed(&who, &info, before);
		Stakes::<T>::insert(&who, info);
		TotalStaked::<T>::mutate(|t| *t = t.saturating_sub(amount));
		Self::deposit_event(Event::Unstaked { who, amount, unlocks_at });
		Ok(())
	}

	pub(crate) fn do_withdraw_unbonded(who: T::AccountId) -> DispatchResult {
		let mut info = Stakes::<T>::get(&who).ok_or(Error::<T>::NotStaker)?;
		let now = frame_system::Pallet::<T>::block_number();
		let mut amount = BalanceOf::<T>::zero();
		info.unbonding.retain(|u| {
			let matured = u.unlocks_at <= now;
			if matured {
				amount = amount.saturating_add(u.amount);
			}
			!matured
		});
		ensure!(!amount.is_zero(), Error::<T>::NothingToWithdraw);
		T::Currency::release(&HoldReason::Stake.into(), &who, amount, Precision::Exact)?;
		Self::store_stake(&who, info);
		Self::deposit_event(Event::Withdrawn { who, amount });
		Ok(())
	}

	pub(crate) fn do_set_conviction(who: T::AccountId, conviction: Conviction) -> DispatchResult {
		let mut info = Stakes::<T>::get(&who).ok_or(Error::<T>::NotStaker)?;
		ensure!(!info.staked.is_zero(), Error::<T>::NotStaker);
		let now = frame_system::Pallet::<T>::block_number();
		if conviction < info.conviction {
			ensure!(info.locked_until <= now, Error::<T>::ConvictionLocked);
		}
		let lock = Periods::<T>::get().conviction.saturating_mul(conviction.lock_periods().into());
		let before = info.own();
		info.conviction = conviction;
		info.locked_until = info.locked_until.max(now.saturating_add(lock));
		Self::own_backing_changed(&who, &info, before);
		let (locked_until, power) = (info.locked_until, info.own().power);
		Stakes::<T>::insert(&who, info);
		Self::deposit_event(Event::ConvictionSet { who, conviction, locked_until, power });
		Ok(())
	}

	// ---- delegation ----

	pub(crate) fn do_delegate(who: T::AccountId, to: T::AccountId) -> DispatchResult {
		ensure!(who != to, Error::<T>::SelfDelegation);
		let mut info = Stakes::<T>::get(&who).ok_or(Error::<T>::NotStaker)?;
		ensure!(!info.staked.is_zero(), Error::<T>::NotStaker);
		ensure!(info.delegate.is_none(), Error::<T>::AlreadyDelegating);
		ensure!(info.delegators == 0, Error::<T>::HasDelegators);
		ensure!(Self::live_votes(&who).is_empty(), Error::<T>::VotesLive);
		let mut target = Stakes::<T>::get(&to).unwrap_or_default();
		ensure!(target.delegate.is_none(), Error::<T>::TargetDelegates);

		let backing = info.own();
		let before = target.voting();
		target.delegated_in = target.delegated_in.add(backing);
		target.delegators.saturating_inc();
		Self::reweigh(&to, before, target.voting());
		Stakes::<T>::insert(&to, target);
		info.delegate = Some(to.clone());
		Stakes::<T>::insert(&who, info);
		Self::deposit_event(Event::Delegated { who, to, backing });
		Ok(())
	}

	pub(crate) fn do_undelegate(who: T::AccountId) -> DispatchResult {
		let mut info = Stakes::<T>::get(&who).ok_or(Error::<T>::NotDelegating)?;
		let from = info.delegate.take().ok_or(Error::<T>::NotDelegating)?;
		let backing = info.own();
		let mut target = Stakes::<T>::get(&from).unwrap_or_default();
		let before = target.voting();
		target.delegated_in = target.delegated_in.sub(backing);
		target.delegators.saturating_dec();
		Self::reweigh(&from, before, target.voting());
		Self::store_stake(&from, target);
		Self::store_stake(&who, info);
		Self::deposit_event(Event::Undelegated { who, from, backing });
		Ok(())
	}

	/// `who`'s own backing went from `before` to `info.own()`: update the delegate's record and
	/// votes if it delegates, else its own votes. `info` itself is stored by the caller.
	fn own_backing_changed(who: &T::AccountId, info: &StakeInfo<T>, before: Backing<BalanceOf<T>>) {
		let after = info.own();
		match &info.delegate {
			Some(to) => {
				let mut target = Stakes::<T>::get(to).unwrap_or_default();
				let was = target.voting();
				target.delegated_in = target.delegated_in.sub(before).add(after);
				Self::reweigh(to, was, target.voting());
				Stakes::<T>::insert(to, target);
			},
			None => {
				let was = before.add(info.delegated_in);
				Self::reweigh(who, was, info.voting());
			},
		}
	}

	/// `voter`'s voting backing changed: move its ballots on ongoing proposals to `after`.
	/// At most `MaxVotes` proposals.
	fn reweigh(voter: &T::AccountId, before: Backing<BalanceOf<T>>, after: Backing<BalanceOf<T>>) {
		if before == after {
			return;
		}
		for id in VotesOf::<T>::get(voter) {
			let Some(mut proposal) = Proposals::<T>::get(id) else { continue };
			if proposal.status != ProposalStatus::Ongoing {
				continue;
			}
			let Some(mut ballot) = Ballots::<T>::get(id, voter) else { continue };
			proposal.tally.remove(&ballot);
			ballot.backing = after;
			proposal.tally.add(&ballot);
			Ballots::<T>::insert(id, voter, ballot);
			Proposals::<T>::insert(id, proposal);
		}
	}

	/// Store `info`, or remove the record when nothing is left in it.
	fn store_stake(who: &T::AccountId, info: StakeInfo<T>) {
		if info.is_empty() {
			Stakes::<T>::remove(who);
		} else {
			Stakes::<T>::insert(who, info);
		}
	}

	// ---- proposals ----

	pub(crate) fn do_propose(
		who: T::AccountId,
		call: <T as Config>::RuntimeCall,
		kind: ProposalKind,
		check_threshold: bool,
	) -> Result<ProposalId, DispatchError> {
		if check_threshold {
			let staked = Stakes::<T>::get(&who).map(|s| s.staked).unwrap_or_default();
			ensure!(staked >= T::ProposalThreshold::get(), Error::<T>::BelowProposalThreshold);
		}
		let params = Params::<T>::get(kind).ok_or(Error::<T>::KindNotConfigured)?;
		ensure!(
			call.get_dispatch_info().total_weight().all_lte(T::MaxCallWeight::get()),
			Error::<T>::CallTooHeavy
		);
		ensure!(Proposals::<T>::count() < T::MaxProposals::get(), Error::<T>::TooManyProposals);

		let now = frame_system::Pallet::<T>::block_number();
		let ends_at = now.saturating_add(params.voting_period);
		let enact_at = ends_at.saturating_add(params.enactment_delay);
		let id = NextProposalId::<T>::get();
		let mut deadlines = Deadlines::<T>::get(ends_at);
		deadlines.try_push(id).map_err(|_| Error::<T>::DeadlineFull)?;
		let mut enactments = Enactments::<T>::get(enact_at);
		enactments.try_push(id).map_err(|_| Error::<T>::EnactmentFull)?;

		let deposit = Self::deposit_for(call.encoded_size() as u32);
		T::Currency::hold(&HoldReason::ProposalDeposit.into(), &who, deposit)
			.map_err(|_| Error::<T>::InsufficientBalance)?;
		let call_hash = T::Hashing::hash_of(&call);
		let call = T::Preimages::bound(call)?;

		Deadlines::<T>::insert(ends_at, deadlines);
		Enactments::<T>::insert(enact_at, enactments);
		NextProposalId::<T>::put(id.saturating_add(1));
		Proposals::<T>::insert(
			id,
			Proposal {
				proposer: who.clone(),
				kind,
				call,
				deposit,
				params,
				ends_at,
				enact_at,
				tally: Default::default(),
				status: ProposalStatus::Ongoing,
			},
		);
		Self::deposit_event(Event::Proposed {
			proposal: id,
			proposer: who,
			kind,
			call_hash,
			deposit,
			ends_at,
			enact_at,
		});
		Ok(id)
	}

	pub(crate) fn do_vote(who: T::AccountId, id: ProposalId, vote: Vote) -> DispatchResult {
		let mut proposal = Proposals::<T>::get(id).ok_or(Error::<T>::UnknownProposal)?;
		ensure!(proposal.status == ProposalStatus::Ongoing, Error::<T>::NotOngoing);
		let info = Stakes::<T>::get(&who).ok_or(Error::<T>::NoVotingPower)?;
		ensure!(info.delegate.is_none(), Error::<T>::Delegating);
		let backing = info.voting();
		ensure!(!backing.power.is_zero(), Error::<T>::NoVotingPower);

		let mut votes = Self::live_votes(&who);
		match Ballots::<T>::get(id, &who) {
			Some(old) => proposal.tally.remove(&old),
			None => votes.try_push(id).map_err(|_| Error::<T>::TooManyVotes)?,
		}
		let ballot = Ballot { vote, backing };
		proposal.tally.add(&ballot);
		let tally = proposal.tally;
		Ballots::<T>::insert(id, &who, ballot);
		VotesOf::<T>::insert(&who, votes);
		Proposals::<T>::insert(id, proposal);
		Self::deposit_event(Event::Voted { proposal: id, who, vote, power: backing.power, tally });
		Ok(())
	}

	pub(crate) fn do_remove_vote(who: T::AccountId, id: ProposalId) -> DispatchResult {
		let mut votes = VotesOf::<T>::get(&who);
		let at = votes.iter().position(|p| *p == id).ok_or(Error::<T>::NotVoted)?;
		votes.swap_remove(at);
		let ballot = Ballots::<T>::take(id, &who);
		if let (Some(ballot), Some(mut proposal)) = (ballot, Proposals::<T>::get(id)) {
			if proposal.status == ProposalStatus::Ongoing {
				proposal.tally.remove(&ballot);
				let tally = proposal.tally;
				Proposals::<T>::insert(id, proposal);
				Self::deposit_event(Event::VoteRemoved { proposal: id, who: who.clone(), tally });
			}
		}
		Self::store_votes(&who, votes);
		Ok(())
	}

	/// `who`'s votes on ongoing proposals. Entries of finished proposals are pruned here, with
	/// their ballots (at most `MaxVotes`).
	fn live_votes(who: &T::AccountId) -> BoundedVec<ProposalId, T::MaxVotes> {
		let mut votes = VotesOf::<T>::get(who);
		let before = votes.len();
		votes.retain(|id| {
			let live = Self::is_ongoing(*id);
			if !live {
				Ballots::<T>::remove(id, who);
			}
			live
		});
		if votes.len() != before {
			Self::store_votes(who, votes.clone());
		}
		votes
	}

	/// Whether `id` is an open proposal still taking votes.
	fn is_ongoing(id: ProposalId) -> bool {
		Proposals::<T>::get(id).is_some_and(|p| p.status == ProposalStatus::Ongoing)
	}

	fn store_votes(who: &T::AccountId, votes: BoundedVec<ProposalId, T::MaxVotes>) {
		if votes.is_empty() {
			VotesOf::<T>::remove(who);
		} else {
			VotesOf::<T>::insert(who, votes);
		}
	}

	/// Take an undecided or passed proposal off the chain: out of the deadline and enactment
	/// queues, its preimage dropped. Its deposit is the caller's to settle.
	fn take_proposal(id: ProposalId) -> Result<Proposal<T>, DispatchError> {
		let proposal = Proposals::<T>::take(id).ok_or(Error::<T>::UnknownProposal)?;
		Deadlines::<T>::mutate_exists(proposal.ends_at, |d| Self::drop_id(d, id));
		Enactments::<T>::mutate_exists(proposal.enact_at, |e| Self::drop_id(e, id));
		T::Preimages::drop(&proposal.call);
		Ok(proposal)
	}

	pub(crate) fn do_cancel(id: ProposalId, slash: bool) -> DispatchResult {
		let proposal = Self::take_proposal(id)?;
		let slashed = match (slash, proposal.status.clone()) {
			// A passed proposal's deposit went back at the decision.
			(_, ProposalStatus::Passed) => Zero::zero(),
			(true, ProposalStatus::Ongoing) => T::Currency::transfer_on_hold(
				&HoldReason::ProposalDeposit.into(),
				&proposal.proposer,
				&T::Treasury::get(),
				proposal.deposit,
				Precision::BestEffort,
				Restriction::Free,
				Fortitude::Force,
			)?,
			(false, ProposalStatus::Ongoing) => {
				Self::release_deposit(&proposal)?;
				Zero::zero()
			},
		};
		Self::deposit_event(Event::Cancelled { proposal: id, slashed });
		Ok(())
	}

	fn drop_id<S: Get<u32>>(slot: &mut Option<BoundedVec<ProposalId, S>>, id: ProposalId) {
		if let Some(ids) = slot {
			ids.retain(|p| *p != id);
			if ids.is_empty() {
				*slot = None;
			}
		}
	}

	/// The deposit for a proposal whose call encodes to `len` bytes.
	pub fn deposit_for(len: u32) -> BalanceOf<T> {
		T::ProposalDepositBase::get()
			.saturating_add(T::ProposalDepositPerByte::get().saturating_mul(len.into()))
	}

	fn release_deposit(proposal: &Proposal<T>) -> Result<BalanceOf<T>, DispatchError> {
		T::Currency::release(
			&HoldReason::ProposalDeposit.into(),
			&proposal.proposer,
			proposal.deposit,
			Precision::BestEffort,
		)
	}

	// ---- parameters and treasury ----

	pub(crate) fn params_are_valid(p: &KindParams<BlockNumberFor<T>>) -> bool {
		let max = T::MaxPeriod::get();
		!p.voting_period.is_zero() && p.voting_period <= max && p.enactment_delay <= max
	}

	pub(crate) fn periods_are_valid(p: &StakePeriods<BlockNumberFor<T>>) -> bool {
		let max = T::MaxPeriod::get();
		!p.unbonding.is_zero() && p.unbonding <= max && !p.conviction.is_zero() && p.conviction <= max
	}

	pub(crate) fn do_set_params(
		kind: ProposalKind,
		params: KindParams<BlockNumberFor<T>>,
	) -> DispatchResult {
		ensure!(Self::params_are_valid(&params), Error::<T>::BadParams);
		Params::<T>::insert(kind, params);
		Self::deposit_event(Event::ParamsSet { kind, params });
		Ok(())
	}

	pub(crate) fn do_set_periods(periods: StakePeriods<BlockNumberFor<T>>) -> DispatchResult {
		ensure!(Self::periods_are_valid(&periods), Error::<T>::BadParams);
		Periods::<T>::put(periods);
		Self::deposit_event(Event::PeriodsSet { periods });
		Ok(())
	}

	pub(crate) fn do_spend(to: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		T::Currency::transfer(&T::Treasury::get(), &to, amount, Preservation::Preserve)
			.map_err(|_| Error::<T>::InsufficientBalance)?;
		Self::deposit_event(Event::Spent { to, amount });
		Ok(())
	}

	// ---- the hook ----

	/// Decide the proposals whose voting ends at `now`, then enact the passed ones due at `now`.
	pub(crate) fn decide_and_enact(now: BlockNumberFor<T>) -> Weight {
		let mut weight = T::WeightInfo::on_initialize_idle();
		for id in Deadlines::<T>::take(now) {
			weight.saturating_accrue(T::WeightInfo::decide());
			weight.saturating_accrue(Self::decide(id));
		}
		for id in Enactments::<T>::take(now) {
			weight.saturating_accrue(T::WeightInfo::enact());
			weight.saturating_accrue(Self::enact(id));
		}
		weight
	}

	/// Decide proposal `id`; returns the weight of the failure hook, if it ran.
	fn decide(id: ProposalId) -> Weight {
		let Some(mut proposal) = Proposals::<T>::get(id) else { return Weight::zero() };
		let quorum_stake = proposal.params.quorum.mul_ceil(TotalStaked::<T>::get());
		let t = proposal.tally;
		let decided = t.ayes.saturating_add(t.nays);
		let failure = if t.turnout < quorum_stake || t.turnout.is_zero() {
			Some(Failure::NoQuorum)
		} else if decided.is_zero() || t.ayes < proposal.params.approval.mul_ceil(decided) {
			Some(Failure::NotApproved)
		} else {
			None
		};
		let deposit_returned = Self::release_deposit(&proposal).unwrap_or_else(|e| {
			log::error!(target: LOG_TARGET, "proposal {id}: deposit not released: {e:?}");
			Zero::zero()
		});
		match failure {
			None => {
				proposal.status = ProposalStatus::Passed;
				let enact_at = proposal.enact_at;
				Proposals::<T>::insert(id, proposal);
				Self::deposit_event(Event::Passed { proposal: id, tally: t, enact_at, deposit_returned });
				Weight::zero()
			},
			Some(reason) => {
				Proposals::<T>::remove(id);
				Enactments::<T>::mutate_exists(proposal.enact_at, |e| Self::drop_id(e, id));
				T::Preimages::drop(&proposal.call);
				Self::deposit_event(Event::Rejected {
					proposal: id,
					reason,
					tally: t,
					quorum_stake,
					deposit_returned,
				});
				T::OnFailed::proposal_failed(id)
			},
		}
	}

	/// Run a passed proposal's call; returns the weight the call used.
	fn enact(id: ProposalId) -> Weight {
		let Some(proposal) = Proposals::<T>::take(id) else { return Weight::zero() };
		if proposal.status != ProposalStatus::Passed {
			// Not reachable: failed and cancelled proposals leave the enactment queue.
			log::error!(target: LOG_TARGET, "proposal {id} due for enactment but not passed");
			return Weight::zero();
		}
		let (result, used) = match T::Preimages::peek(&proposal.call) {
			Ok((call, _)) => {
				let info = call.get_dispatch_info();
				let origin = GovernanceOrigin::Passed(proposal.kind).into();
				match call.dispatch(origin) {
					Ok(post) => (Ok(()), post.calc_actual_weight(&info)),
					Err(e) => (Err(e.error), e.post_info.calc_actual_weight(&info)),
				}
			},
			Err(_) => (Err(Error::<T>::PreimageMissing.into()), Weight::zero()),
		};
		T::Preimages::drop(&proposal.call);
		Self::deposit_event(Event::Enacted { proposal: id, result });
		used
	}

	// ---- views ----

	pub(crate) fn proposal_views(
	) -> Vec<ProposalView<T::AccountId, BalanceOf<T>, BlockNumberFor<T>, T::Hash>> {
		let total = TotalStaked::<T>::get();
		Proposals::<T>::iter()
			.map(|(id, p)| ProposalView {
				id,
				call_hash: p.call.hash(),
				quorum_stake: p.params.quorum.mul_ceil(total),
				proposer: p.proposer,
				kind: p.kind,
				deposit: p.deposit,
				ends_at: p.ends_at,
				enact_at: p.enact_at,
				tally: p.tally,
				status: p.status,
			})
			.collect()
	}

	pub(crate) fn account_view(
		who: &T::AccountId,
	) -> AccountView<T::AccountId, BalanceOf<T>, BlockNumberFor<T>> {
		let info = Stakes::<T>::get(who).unwrap_or_default();
		let votes = VotesOf::<T>::get(who)
			.into_iter()
			.filter(|id| Self::is_ongoing(*id))
			.filter_map(|id| Ballots::<T>::get(id, who).map(|b| (id, b.vote)))
			.collect();
		AccountView {
			staked: info.staked,
			unbonding: info.unbonding.to_vec(),
			conviction: info.conviction,
			locked_until: info.locked_until,
			power: if info.delegate.is_some() { Zero::zero() } else { info.voting().power },
			delegate: info.delegate,
			delegators: info.delegators,
			votes,
		}
	}

	// ---- invariants ----

	/// Holds equal stakes plus unbonding and open deposits; totals and delegations add up; every
	/// tally equals the sum of its ballots; queues and proposals point at each other.
	#[cfg(any(feature = "try-runtime", feature = "std"))]
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		use frame_support::traits::fungible::InspectHold;
		use sp_runtime::TryRuntimeError;
		let mut total = BalanceOf::<T>::zero();
		let mut delegated: alloc::collections::BTreeMap<T::AccountId, (Backing<BalanceOf<T>>, u32)> =
			Default::default();
		for (who, info) in Stakes::<T>::iter() {
			total = total.saturating_add(info.staked);
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::Stake.into(), &who) == info.held(),
				TryRuntimeError::Other("stake hold differs from staked plus unbonding")
			);
			if let Some(to) = &info.delegate {
				ensure!(info.delegators == 0, TryRuntimeError::Other("a delegate delegates"));
				let e = delegated.entry(to.clone()).or_default();
				e.0 = e.0.add(info.own());
				e.1 += 1;
			}
		}
		ensure!(total == TotalStaked::<T>::get(), TryRuntimeError::Other("TotalStaked is off"));
		for (who, info) in Stakes::<T>::iter() {
			let (backing, count) = delegated.remove(&who).unwrap_or_default();
			ensure!(
				info.delegated_in == backing && info.delegators == count,
				TryRuntimeError::Other("delegated backing differs from the delegators' stakes")
			);
		}
		ensure!(delegated.is_empty(), TryRuntimeError::Other("delegation to an account without record"));

		let mut deposits: alloc::collections::BTreeMap<T::AccountId, BalanceOf<T>> = Default::default();
		let mut count = 0u32;
		for (id, p) in Proposals::<T>::iter() {
			count += 1;
			ensure!(Enactments::<T>::get(p.enact_at).contains(&id), TryRuntimeError::Other("no enactment slot"));
			if p.status == ProposalStatus::Ongoing {
				ensure!(Deadlines::<T>::get(p.ends_at).contains(&id), TryRuntimeError::Other("no deadline"));
				let e = deposits.entry(p.proposer.clone()).or_default();
				*e = e.saturating_add(p.deposit);
				let mut tally = Tally::default();
				for (_, ballot) in Ballots::<T>::iter_prefix(id) {
					tally.add(&ballot);
				}
				ensure!(tally == p.tally, TryRuntimeError::Other("tally differs from its ballots"));
			}
		}
		ensure!(count == Proposals::<T>::count(), TryRuntimeError::Other("proposal counter is off"));
		ensure!(count <= T::MaxProposals::get(), TryRuntimeError::Other("too many proposals"));
		for (who, deposit) in deposits {
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::ProposalDeposit.into(), &who) == deposit,
				TryRuntimeError::Other("deposit hold differs from open proposals' deposits")
			);
		}
		for (_, ids) in Deadlines::<T>::iter() {
			for id in ids {
				ensure!(
					Self::is_ongoing(id),
					TryRuntimeError::Other("deadline of a proposal that is not ongoing")
				);
			}
		}
		for (_, ids) in Enactments::<T>::iter() {
			for id in ids {
				ensure!(Proposals::<T>::contains_key(id), TryRuntimeError::Other("enactment of nothing"));
			}
		}
		Ok(())
	}
}

impl<T: Config> crate::OpenProposal<T::AccountId, <T as Config>::RuntimeCall> for Pallet<T> {
	fn open(
		proposer: T::AccountId,
		call: <T as Config>::RuntimeCall,
		kind: ProposalKind,
	) -> Result<ProposalId, DispatchError> {
		Self::do_propose(proposer, call, kind, false)
	}

	fn withdraw(id: ProposalId) -> DispatchResult {
		let status = Proposals::<T>::get(id).ok_or(Error::<T>::UnknownProposal)?.status;
		ensure!(status == ProposalStatus::Ongoing, Error::<T>::NotOngoing);
		let proposal = Self::take_proposal(id)?;
		let deposit_returned = Self::release_deposit(&proposal)?;
		Self::deposit_event(Event::ProposalWithdrawn { proposal: id, deposit_returned });
		Ok(())
	}

	fn withdraw_weight() -> Weight {
		T::WeightInfo::cancel()
	}
}

//! The logic behind the calls. Each `do_*` assumes its caller checked the origin.

use crate::{frame_support, frame_system};
use crate::{pallet::*, types::*, weights::WeightInfo};
use alloc::vec::Vec;
use codec::Encode;
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::MutateHold,
		tokens::{Fortitude, Precision, Restriction},
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use mnemo_primitives::{ContentHash, ContributionId, DatanetId, DatanetVersion};
use polkadot_sdk::{
	binary_merkle_tree,
	sp_core::H256,
	sp_runtime::{
		traits::{BlakeTwo256, Saturating, Zero},
		ArithmeticError,
	},
};

/// How many later blocks `contribute` tries when the expiry bucket of its block is full.
pub(crate) const EXPIRY_SLOTS_TRIED: u32 = 8;

impl<T: Config> Pallet<T> {
	/// The commitment `contribute` looks for: `blake2_256(SCALE((datanet, content_hash, who)))`.
	pub fn commitment_of(datanet: DatanetId, content_hash: &ContentHash, who: &T::AccountId) -> H256 {
		H256(polkadot_sdk::sp_io::hashing::blake2_256(&(datanet, content_hash, who).encode()))
	}

	pub(crate) fn check_rules(rules: &Rules<T>) -> DispatchResult {
		ensure!(rules.bond >= T::MinBond::get(), Error::<T>::BondTooLow);
		ensure!(
			rules.threshold >= 1 && rules.threshold as usize <= rules.curators.len(),
			Error::<T>::BadThreshold
		);
		ensure!(
			rules.quota.per_period >= 1 && !rules.quota.period.is_zero(),
			Error::<T>::BadQuota
		);
		ensure!(
			!rules.review_period.is_zero() && rules.review_period <= T::MaxReviewPeriod::get(),
			Error::<T>::BadReviewPeriod
		);
		ensure!(all_distinct(&rules.curators), Error::<T>::DuplicateMember);
		ensure!(all_distinct(&rules.validators), Error::<T>::DuplicateMember);
		Ok(())
	}

	/// Release up to `amount` held from `who` for `reason`; returns what was released.
	fn release(
		reason: HoldReason,
		who: &T::AccountId,
		amount: BalanceOf<T>,
	) -> Result<BalanceOf<T>, DispatchError> {
		T::Currency::release(&reason.into(), who, amount, Precision::BestEffort)
	}

	fn owned(who: &T::AccountId, datanet: DatanetId) -> Result<Datanet<T>, DispatchError> {
		let d = Registry::<T>::get(datanet).ok_or(Error::<T>::UnknownDatanet)?;
		ensure!(d.owner == *who, Error::<T>::NotOwner);
		Ok(d)
	}

	pub(crate) fn do_create_datanet(
		who: T::AccountId,
		kind: Kind,
		metadata: Metadata<T>,
		rules: Rules<T>,
	) -> Result<DatanetId, DispatchError> {
		Self::check_rules(&rules)?;
		let id = NextDatanetId::<T>::get();
		let next = id.checked_add(1).ok_or(ArithmeticError::Overflow)?;
		let deposit = T::DatanetDeposit::get();
		T::Currency::hold(&HoldReason::DatanetDeposit.into(), &who, deposit)?;
		Registry::<T>::insert(
			id,
			Datanet {
				owner: who.clone(),
				pending_owner: None,
				kind,
				metadata,
				rules,
				status: DatanetStatus::Open,
				deposit,
				latest_version: 0,
				pending: 0,
				live: 0,
				invited: 0,
				changed: false,
				created_at: frame_system::Pallet::<T>::block_number(),
			},
		);
		NextDatanetId::<T>::put(next);
		Self::deposit_event(Event::DatanetCreated { datanet: id, owner: who, kind, deposit });
		Ok(id)
	}

	pub(crate) fn do_update_datanet(
		who: T::AccountId,
		datanet: DatanetId,
		metadata: Option<Metadata<T>>,
		rules: Option<Rules<T>>,
	) -> DispatchResult {
		let mut d = Self::owned(&who, datanet)?;
		if let Some(rules) = &rules {
			Self::check_rules(rules)?;
		}
		let (m, r) = (metadata.is_some(), rules.is_some());
		if let Some(metadata) = metadata {
			d.metadata = metadata;
		}
		if let Some(rules) = rules {
			d.rules = rules;
		}
		Registry::<T>::insert(datanet, d);
		Self::deposit_event(Event::DatanetUpdated { datanet, metadata: m, rules: r });
		Ok(())
	}

	pub(crate) fn do_transfer_ownership(
		who: T::AccountId,
		datanet: DatanetId,
		to: T::AccountId,
	) -> DispatchResult {
		let mut d = Self::owned(&who, datanet)?;
		d.pending_owner = Some(to.clone());
		Registry::<T>::insert(datanet, d);
		Self::deposit_event(Event::OwnershipOffered { datanet, from: who, to });
		Ok(())
	}

	pub(crate) fn do_accept_ownership(who: T::AccountId, datanet: DatanetId) -> DispatchResult {
		let mut d = Registry::<T>::get(datanet).ok_or(Error::<T>::UnknownDatanet)?;
		ensure!(d.pending_owner.as_ref() == Some(&who), Error::<T>::NotOffered);
		T::Currency::hold(&HoldReason::DatanetDeposit.into(), &who, d.deposit)?;
		Self::release(HoldReason::DatanetDeposit, &d.owner, d.deposit)?;
		let from = core::mem::replace(&mut d.owner, who.clone());
		d.pending_owner = None;
		let deposit = d.deposit;
		Registry::<T>::insert(datanet, d);
		Self::deposit_event(Event::OwnershipTransferred { datanet, from, to: who, deposit });
		Ok(())
	}

	pub(crate) fn do_close_datanet(who: T::AccountId, datanet: DatanetId) -> DispatchResult {
		let mut d = Self::owned(&who, datanet)?;
		ensure!(d.status == DatanetStatus::Open, Error::<T>::DatanetClosed);
		d.status = DatanetStatus::Closed;
		Registry::<T>::insert(datanet, d);
		Self::deposit_event(Event::DatanetClosed { datanet });
		Ok(())
	}

	pub(crate) fn do_invite(owner: T::AccountId, datanet: DatanetId, who: T::AccountId) -> DispatchResult {
		let mut d = Self::owned(&owner, datanet)?;
		ensure!(!Invited::<T>::contains_key(datanet, &who), Error::<T>::AlreadyInvited);
		ensure!(d.invited < T::MaxInvites::get(), Error::<T>::TooManyInvites);
		d.invited += 1;
		Invited::<T>::insert(datanet, &who, ());
		Registry::<T>::insert(datanet, d);
		Self::deposit_event(Event::Invited { datanet, who });
		Ok(())
	}

	pub(crate) fn do_uninvite(owner: T::AccountId, datanet: DatanetId, who: T::AccountId) -> DispatchResult {
		let mut d = Self::owned(&owner, datanet)?;
		ensure!(Invited::<T>::take(datanet, &who).is_some(), Error::<T>::NotInvited);
		d.invited = d.invited.saturating_sub(1);
		Registry::<T>::insert(datanet, d);
		Self::deposit_event(Event::Uninvited { datanet, who });
		Ok(())
	}

	pub(crate) fn do_commit(who: T::AccountId, commitment: H256) -> DispatchResult {
		ensure!(!Commitments::<T>::contains_key(&who, commitment), Error::<T>::AlreadyCommitted);
		let deposit = T::CommitDeposit::get();
		T::Currency::hold(&HoldReason::CommitDeposit.into(), &who, deposit)?;
		let at = frame_system::Pallet::<T>::block_number();
		Commitments::<T>::insert(&who, commitment, Commitment { at, deposit });
		Self::deposit_event(Event::Committed { who, commitment, deposit });
		Ok(())
	}

	pub(crate) fn do_cancel_commitment(who: T::AccountId, commitment: H256) -> DispatchResult {
		let c = Commitments::<T>::take(&who, commitment).ok_or(Error::<T>::UnknownCommitment)?;
		Self::release(HoldReason::CommitDeposit, &who, c.deposit)?;
		Self::deposit_event(Event::CommitmentCancelled { who, commitment });
		Ok(())
	}

	/// The first block from `from` whose expiry bucket has room, among `EXPIRY_SLOTS_TRIED`.
	fn expiry_slot(from: BlockNumberFor<T>) -> Option<BlockNumberFor<T>> {
		let mut at = from;
		for _ in 0..EXPIRY_SLOTS_TRIED {
			if (ExpiryQueue::<T>::decode_len(at).unwrap_or(0) as u32) < T::MaxExpiringPerBlock::get() {
				return Some(at);
			}
			at = at.saturating_add(1u32.into());
		}
		None
	}

	pub(crate) fn do_contribute(
		who: T::AccountId,
		datanet: DatanetId,
		content_hash: ContentHash,
		byte_len: u64,
		row_count: u32,
	) -> Result<ContributionId, DispatchError> {
		let now = frame_system::Pallet::<T>::block_number();
		let mut d = Registry::<T>::get(datanet).ok_or(Error::<T>::UnknownDatanet)?;
		ensure!(d.status == DatanetStatus::Open, Error::<T>::DatanetClosed);
		if d.rules.access == Access::InviteOnly {
			ensure!(Invited::<T>::contains_key(datanet, &who), Error::<T>::NotInvited);
		}
		ensure!(byte_len > 0 && row_count > 0, Error::<T>::Empty);
		ensure!(byte_len <= T::MaxContributionBytes::get(), Error::<T>::TooLarge);

		let key = Self::commitment_of(datanet, &content_hash, &who);
		let commitment = Commitments::<T>::get(&who, key).ok_or(Error::<T>::NotCommitted)?;
		ensure!(commitment.at < now, Error::<T>::CommitmentTooRecent);

		// The same data twice is a duplicate, unless the one already here is a pending copy
		// whose commitment is younger than ours: then it was copied from our reveal.
		let displaced = match ByHash::<T>::get(datanet, content_hash) {
			None => None,
			Some(existing) => {
				let other = Contributions::<T>::get(existing).ok_or(Error::<T>::Duplicate)?;
				ensure!(
					other.status == Status::Pending && other.committed_at > commitment.at,
					Error::<T>::Duplicate
				);
				Some((existing, other))
			},
		};

		let mut stats = Stats::<T>::get(datanet, &who);
		let period_index = Self::period_index(now, d.rules.quota.period);
		if stats.period_index != period_index {
			stats.period_index = period_index;
			stats.used = 0;
		}
		ensure!(stats.used < d.rules.quota.per_period, Error::<T>::QuotaExceeded);

		let occupied = d.pending.saturating_add(d.live).saturating_sub(displaced.is_some() as u32);
		ensure!(occupied < T::MaxContributions::get(), Error::<T>::DatanetFull);
		let expires_at = Self::expiry_slot(now.saturating_add(d.rules.review_period))
			.ok_or(Error::<T>::ExpiryQueueFull)?;
		let id = NextContributionId::<T>::get();
		let next = id.checked_add(1).ok_or(ArithmeticError::Overflow)?;

		// Checks done; now move money and write.
		Commitments::<T>::remove(&who, key);
		Self::release(HoldReason::CommitDeposit, &who, commitment.deposit)?;
		if let Some((old_id, old)) = displaced {
			Self::refund(&old)?;
			Self::forget_pending(old_id, &old, &mut d);
			Self::deposit_event(Event::Displaced {
				datanet,
				contribution: old_id,
				who: old.contributor,
				by: id,
			});
		}
		let bond = d.rules.bond;
		let record_deposit = T::RecordDeposit::get();
		T::Currency::hold(&HoldReason::ContributionBond.into(), &who, bond)?;
		T::Currency::hold(&HoldReason::RecordDeposit.into(), &who, record_deposit)?;

		Contributions::<T>::insert(
			id,
			Contribution {
				datanet,
				contributor: who.clone(),
				content_hash,
				byte_len,
				row_count,
				status: Status::Pending,
				bond,
				record_deposit,
				committed_at: commitment.at,
				submitted_at: now,
				expires_at,
				approvals: 0,
				rejections: 0,
				validation: None,
				included_in: None,
				removed_in: None,
				removal_requested: false,
			},
		);
		NextContributionId::<T>::put(next);
		ByHash::<T>::insert(datanet, content_hash, id);
		ByContributor::<T>::insert(&who, id, ());
		AwaitingValidation::<T>::insert(id, ());
		ExpiryQueue::<T>::try_mutate(expires_at, |q| q.try_push(id))
			.map_err(|_| Error::<T>::ExpiryQueueFull)?;
		stats.used += 1;
		Stats::<T>::insert(datanet, &who, stats);
		d.pending += 1;
		Registry::<T>::insert(datanet, d);
		Self::deposit_event(Event::Contributed {
			datanet,
			contribution: id,
			who,
			content_hash,
			byte_len,
			row_count,
			bond,
			expires_at,
		});
		Ok(id)
	}

	fn period_index(now: BlockNumberFor<T>, period: BlockNumberFor<T>) -> u32 {
		let now: u32 = now.try_into().unwrap_or(u32::MAX);
		let period: u32 = period.try_into().unwrap_or(u32::MAX).max(1);
		now / period
	}

	/// Release a pending contribution's bond and record deposit; returns the amount released.
	fn refund(c: &Contribution<T>) -> Result<BalanceOf<T>, DispatchError> {
		let bond = Self::release(HoldReason::ContributionBond, &c.contributor, c.bond)?;
		let record = Self::release(HoldReason::RecordDeposit, &c.contributor, c.record_deposit)?;
		Ok(bond.saturating_add(record))
	}

	/// Remove every trace of a pending contribution that leaves the chain (its money is
	/// already dealt with). Expiry buckets are left alone: a missing id there is skipped.
	fn forget_pending(id: ContributionId, c: &Contribution<T>, d: &mut Datanet<T>) {
		Contributions::<T>::remove(id);
		ByHash::<T>::remove(c.datanet, c.content_hash);
		ByContributor::<T>::remove(&c.contributor, id);
		Self::end_review(id);
		d.pending = d.pending.saturating_sub(1);
	}

	/// A contribution is no longer pending: it needs no validation and its reviews are done.
	fn end_review(id: ContributionId) {
		AwaitingValidation::<T>::remove(id);
		let _ = Reviews::<T>::clear_prefix(id, T::MaxCurators::get(), None);
	}

	fn contribution(id: ContributionId) -> Result<Contribution<T>, DispatchError> {
		Contributions::<T>::get(id).ok_or_else(|| Error::<T>::UnknownContribution.into())
	}

	/// The datanet of `c`, if `c` is pending.
	fn pending_in(c: &Contribution<T>) -> Result<Datanet<T>, DispatchError> {
		ensure!(c.status == Status::Pending, Error::<T>::NotPending);
		Ok(Registry::<T>::get(c.datanet).ok_or(Error::<T>::UnknownDatanet)?)
	}

	pub(crate) fn do_withdraw(who: T::AccountId, id: ContributionId) -> DispatchResult {
		let c = Self::contribution(id)?;
		ensure!(c.contributor == who, Error::<T>::NotContributor);
		let mut d = Self::pending_in(&c)?;
		let refunded = Self::refund(&c)?;
		Self::forget_pending(id, &c, &mut d);
		Registry::<T>::insert(c.datanet, d);
		Self::deposit_event(Event::Withdrawn { contribution: id, who, refunded });
		Ok(())
	}

	pub(crate) fn do_review(who: T::AccountId, id: ContributionId, verdict: Verdict<T>) -> DispatchResult {
		let mut c = Self::contribution(id)?;
		let d = Self::pending_in(&c)?;
		ensure!(d.rules.curators.contains(&who), Error::<T>::NotCurator);
		ensure!(!Reviews::<T>::contains_key(id, &who), Error::<T>::AlreadyReviewed);
		let (approve, reason) = match verdict {
			Verdict::Approve => (true, None),
			Verdict::Reject { reason } => (false, Some(reason)),
		};
		Reviews::<T>::insert(id, &who, approve);
		if approve {
			c.approvals += 1;
		} else {
			c.rejections += 1;
		}
		Self::deposit_event(Event::Reviewed { contribution: id, curator: who, approve, reason });
		let k = d.rules.threshold;
		if c.approvals >= k {
			Self::approve(id, c, d)?;
		} else if c.rejections >= k {
			Self::reject(id, c, d, RejectedBy::Curators)?;
		} else {
			Contributions::<T>::insert(id, c);
		}
		Ok(())
	}

	fn approve(id: ContributionId, mut c: Contribution<T>, mut d: Datanet<T>) -> DispatchResult {
		let returned = Self::release(HoldReason::ContributionBond, &c.contributor, c.bond)?;
		let included_in = d.latest_version.saturating_add(1);
		c.bond = Zero::zero();
		c.status = Status::Approved;
		c.included_in = Some(included_in);
		Self::end_review(id);
		Members::<T>::insert(c.datanet, id, ());
		Stats::<T>::mutate(c.datanet, &c.contributor, |s| s.approved.saturating_inc());
		d.pending = d.pending.saturating_sub(1);
		d.live = d.live.saturating_add(1);
		d.changed = true;
		Registry::<T>::insert(c.datanet, d);
		Self::deposit_event(Event::Approved {
			datanet: c.datanet,
			contribution: id,
			who: c.contributor.clone(),
			included_in,
			returned,
		});
		Contributions::<T>::insert(id, c);
		Ok(())
	}

	/// Refuse a pending contribution. Curators' rejections slash `reject_slash` of the bond to
	/// the treasury; automated rejections never slash.
	fn reject(
		id: ContributionId,
		c: Contribution<T>,
		mut d: Datanet<T>,
		by: RejectedBy,
	) -> DispatchResult {
		let reason = HoldReason::ContributionBond.into();
		let slashed = match by {
			RejectedBy::Curators => {
				let due = d.rules.reject_slash.mul_floor(c.bond);
				Self::slash_to_treasury(&reason, &c.contributor, due)
			},
			RejectedBy::Validation => Zero::zero(),
		};
		let mut rest = c.clone();
		rest.bond = c.bond.saturating_sub(slashed);
		let returned = Self::refund(&rest)?;
		Self::forget_pending(id, &c, &mut d);
		Registry::<T>::insert(c.datanet, d);
		Stats::<T>::mutate(c.datanet, &c.contributor, |s| s.rejected.saturating_inc());
		Self::deposit_event(Event::Rejected {
			datanet: c.datanet,
			contribution: id,
			who: c.contributor,
			by,
			slashed,
			returned,
		});
		Ok(())
	}

	/// Move `amount` held from `who` to the treasury; if the treasury cannot receive it (it
	/// would stay below the existential deposit), burn it instead. Returns what left `who`.
	fn slash_to_treasury(
		reason: &T::RuntimeHoldReason,
		who: &T::AccountId,
		amount: BalanceOf<T>,
	) -> BalanceOf<T> {
		if amount.is_zero() {
			return amount;
		}
		match T::Currency::transfer_on_hold(
			reason,
			who,
			&T::Treasury::get(),
			amount,
			Precision::BestEffort,
			Restriction::Free,
			Fortitude::Force,
		) {
			Ok(moved) => moved,
			Err(e) => {
				log::warn!(target: crate::LOG_TARGET, "slash to treasury failed ({e:?}); burning it");
				T::Currency::burn_held(reason, who, amount, Precision::BestEffort, Fortitude::Force)
					.unwrap_or_default()
			},
		}
	}

	/// Why a validation report is not acceptable now, as a pool error.
	pub(crate) fn check_report(
		report: &ValidationReport<T::ValidatorId>,
	) -> Result<(Contribution<T>, Datanet<T>), InvalidTransaction> {
		let c = Contributions::<T>::get(report.contribution).ok_or(InvalidTransaction::Stale)?;
		if c.status != Status::Pending || c.validation.is_some() {
			return Err(InvalidTransaction::Stale);
		}
		if c.content_hash != report.content_hash {
			return Err(InvalidTransaction::Call);
		}
		let d = Registry::<T>::get(c.datanet).ok_or(InvalidTransaction::Stale)?;
		if !d.rules.validators.contains(&report.validator) {
			return Err(InvalidTransaction::BadSigner);
		}
		Ok((c, d))
	}

	pub(crate) fn do_submit_validation(report: ValidationReport<T::ValidatorId>) -> DispatchResult {
		let (mut c, d) = Self::check_report(&report).map_err(|_| Error::<T>::BadReport)?;
		let id = report.contribution;
		let v = report.validation;
		c.validation = Some(v);
		AwaitingValidation::<T>::remove(id);
		Self::deposit_event(Event::Validated {
			contribution: id,
			validator: report.validator,
			validation: v,
		});
		if !v.schema_ok || v.exact_duplicate {
			Self::reject(id, c, d, RejectedBy::Validation)
		} else {
			Contributions::<T>::insert(id, c);
			Ok(())
		}
	}

	pub(crate) fn do_publish_version(who: T::AccountId, datanet: DatanetId) -> Result<u32, DispatchError> {
		let mut d = Self::owned(&who, datanet)?;
		ensure!(d.changed, Error::<T>::NothingToPublish);
		let version = d.latest_version.checked_add(1).ok_or(ArithmeticError::Overflow)?;
		let mut ids: Vec<ContributionId> = Members::<T>::iter_key_prefix(datanet).collect();
		ids.sort_unstable();
		let (mut total_bytes, mut total_rows) = (0u64, 0u64);
		let mut hashes = Vec::with_capacity(ids.len());
		for id in &ids {
			if let Some(c) = Contributions::<T>::get(id) {
				total_bytes = total_bytes.saturating_add(c.byte_len);
				total_rows = total_rows.saturating_add(c.row_count as u64);
				hashes.push(c.content_hash.0);
			}
		}
		let count = hashes.len() as u32;
		let root = binary_merkle_tree::merkle_root::<BlakeTwo256, _>(hashes);
		let deposit = T::VersionDeposit::get();
		T::Currency::hold(&HoldReason::DatanetDeposit.into(), &who, deposit)?;
		d.deposit = d.deposit.saturating_add(deposit);
		d.latest_version = version;
		d.changed = false;
		let published_at = frame_system::Pallet::<T>::block_number();
		Versions::<T>::insert(
			datanet,
			version,
			VersionInfo { count, total_bytes, total_rows, root, published_at },
		);
		Registry::<T>::insert(datanet, d);
		Self::deposit_event(Event::VersionPublished {
			datanet,
			version,
			count,
			total_bytes,
			total_rows,
			root,
		});
		Ok(count)
	}

	pub(crate) fn do_request_removal(who: T::AccountId, id: ContributionId) -> DispatchResult {
		let mut c = Self::contribution(id)?;
		ensure!(c.contributor == who, Error::<T>::NotContributor);
		ensure!(c.status == Status::Approved, Error::<T>::NotApproved);
		ensure!(!c.removal_requested, Error::<T>::AlreadyRequested);
		c.removal_requested = true;
		let datanet = c.datanet;
		Contributions::<T>::insert(id, c);
		Self::deposit_event(Event::RemovalRequested { datanet, contribution: id, who });
		Ok(())
	}

	/// Tombstone an approved contribution. `by_owner` is the signed caller, who must own the
	/// datanet; `None` when `RemoveOrigin` (governance) removes it.
	pub(crate) fn do_remove(by_owner: Option<T::AccountId>, id: ContributionId) -> DispatchResult {
		let mut c = Self::contribution(id)?;
		let mut d = Registry::<T>::get(c.datanet).ok_or(Error::<T>::UnknownDatanet)?;
		if let Some(who) = by_owner {
			ensure!(d.owner == who, Error::<T>::NotOwner);
		}
		ensure!(c.status == Status::Approved, Error::<T>::NotApproved);
		let refunded = Self::release(HoldReason::RecordDeposit, &c.contributor, c.record_deposit)?;
		let removed_in = d.latest_version.saturating_add(1);
		c.status = Status::Removed;
		c.removed_in = Some(removed_in);
		c.record_deposit = Zero::zero();
		Members::<T>::remove(c.datanet, id);
		Stats::<T>::mutate(c.datanet, &c.contributor, |s| s.removed.saturating_inc());
		d.live = d.live.saturating_sub(1);
		d.changed = true;
		Registry::<T>::insert(c.datanet, d);
		Self::deposit_event(Event::Removed {
			datanet: c.datanet,
			contribution: id,
			who: c.contributor.clone(),
			removed_in,
			refunded,
		});
		Contributions::<T>::insert(id, c);
		Ok(())
	}

	/// Expire the contributions whose review period ends at `now`. Bounded by
	/// `MaxExpiringPerBlock`.
	pub(crate) fn expire_due(now: BlockNumberFor<T>) -> Weight {
		let due = ExpiryQueue::<T>::take(now);
		let n = due.len() as u32;
		for id in due {
			let Some(c) = Contributions::<T>::get(id) else { continue };
			if c.status != Status::Pending {
				continue;
			}
			let Some(mut d) = Registry::<T>::get(c.datanet) else { continue };
			let returned = match Self::refund(&c) {
				Ok(r) => r,
				Err(e) => {
					log::error!(target: crate::LOG_TARGET, "expiry of {id} could not release: {e:?}");
					continue;
				},
			};
			Self::forget_pending(id, &c, &mut d);
			Registry::<T>::insert(c.datanet, d);
			Self::deposit_event(Event::Expired {
				datanet: c.datanet,
				contribution: id,
				who: c.contributor,
				returned,
			});
		}
		T::WeightInfo::expire(n)
	}

	/// An account's contributions with their records.
	pub fn contributions_by(who: &T::AccountId) -> Vec<(ContributionId, Contribution<T>)> {
		let mut out: Vec<_> = ByContributor::<T>::iter_key_prefix(who)
			.filter_map(|id| Contributions::<T>::get(id).map(|c| (id, c)))
			.collect();
		out.sort_by_key(|(id, _)| *id);
		out
	}

	/// The contributions of a version (published or the next one), ordered by id.
	pub fn version_members(datanet: DatanetId, version: DatanetVersion) -> Vec<(ContributionId, ContentHash)> {
		let mut out: Vec<_> = ByHash::<T>::iter_prefix(datanet)
			.filter_map(|(hash, id)| {
				Contributions::<T>::get(id).filter(|c| c.in_version(version)).map(|_| (id, hash))
			})
			.collect();
		out.sort_by_key(|(id, _)| *id);
		out
	}

	/// The pallet's invariants: holds equal what the records say is held, counts match.
	#[cfg(any(feature = "try-runtime", feature = "std"))]
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		let mut bonds = Held::<T>::new(HoldReason::ContributionBond);
		let mut records = Held::<T>::new(HoldReason::RecordDeposit);
		let mut pending: BTreeMap<DatanetId, u32> = BTreeMap::new();
		let mut live: BTreeMap<DatanetId, u32> = BTreeMap::new();
		for (id, c) in Contributions::<T>::iter() {
			bonds.add(&c.contributor, c.bond);
			records.add(&c.contributor, c.record_deposit);
			ensure!(ByHash::<T>::get(c.datanet, c.content_hash) == Some(id), "ByHash out of sync");
			match c.status {
				Status::Pending => {
					*pending.entry(c.datanet).or_default() += 1;
					ensure!(c.included_in.is_none(), "pending but included");
				},
				Status::Approved => {
					*live.entry(c.datanet).or_default() += 1;
					ensure!(c.bond.is_zero(), "approved but bond held");
					ensure!(Members::<T>::contains_key(c.datanet, id), "approved but not a member");
				},
				Status::Removed => {
					ensure!(c.bond.is_zero() && c.record_deposit.is_zero(), "removed but held");
					ensure!(!Members::<T>::contains_key(c.datanet, id), "removed but a member");
				},
			}
		}
		bonds.check("contribution bond holds differ from pending bonds")?;
		records.check("record deposit holds differ from records")?;
		let mut owners = Held::<T>::new(HoldReason::DatanetDeposit);
		for (id, d) in Registry::<T>::iter() {
			owners.add(&d.owner, d.deposit);
			ensure!(pending.get(&id).copied().unwrap_or(0) == d.pending, "pending count wrong");
			ensure!(live.get(&id).copied().unwrap_or(0) == d.live, "live count wrong");
			ensure!(
				Members::<T>::iter_key_prefix(id).count() as u32 == d.live,
				"members count wrong"
			);
		}
		owners.check("datanet deposit holds differ")?;
		let mut commits = Held::<T>::new(HoldReason::CommitDeposit);
		for (who, _, c) in Commitments::<T>::iter() {
			commits.add(&who, c.deposit);
		}
		commits.check("commit deposit holds differ")?;
		Ok(())
	}
}

/// What the records say each account has held for one reason, to compare with the holds.
#[cfg(any(feature = "try-runtime", feature = "std"))]
struct Held<T: Config> {
	reason: HoldReason,
	by_account: alloc::collections::btree_map::BTreeMap<T::AccountId, BalanceOf<T>>,
}

#[cfg(any(feature = "try-runtime", feature = "std"))]
impl<T: Config> Held<T> {
	fn new(reason: HoldReason) -> Self {
		Self { reason, by_account: Default::default() }
	}

	fn add(&mut self, who: &T::AccountId, amount: BalanceOf<T>) {
		let e = self.by_account.entry(who.clone()).or_default();
		*e = e.saturating_add(amount);
	}

	fn check(self, what: &'static str) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use frame_support::traits::fungible::InspectHold;
		for (who, amount) in self.by_account {
			ensure!(T::Currency::balance_on_hold(&self.reason.into(), &who) == amount, what);
		}
		Ok(())
	}
}

fn all_distinct<X: Ord + Clone>(xs: &[X]) -> bool {
	let mut v: Vec<X> = xs.to_vec();
	v.sort();
	v.windows(2).all(|w| w[0] != w[1])
}

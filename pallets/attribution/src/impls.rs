//! The pallet's logic: registration, recording, commit-reveal, aggregation and settlement,
//! strikes, challenges, deadlines, pruning, and the invariants `do_try_state` checks.

use crate::{frame_support, frame_system, pallet::*, types::*, weights::WeightInfo, LOG_TARGET};
use alloc::vec::Vec;
use codec::Encode;
use frame_support::{
	pallet_prelude::*,
	storage::with_storage_layer,
	traits::{
		fungible::MutateHold,
		tokens::{Fortitude, Precision, Restriction},
		Randomness, UnixTime,
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use mnemo_primitives::{
	offchain_keys, Balance, ContentHash, ContributionId, ContributionShare, DatanetsInspect,
	ModelStage, ModelsInspect, PaymentEscrow, ReceiptId, RewardSink, Settlement, SpendEntry,
};
use polkadot_sdk::sp_runtime::{
	traits::{Saturating, Zero},
	Perbill,
};

/// How many blocks past its due block a deadline may move when that block's slots are full.
pub const DEADLINE_SLACK: u32 = 16;

impl<T: Config> Pallet<T> {
	/// The defaults: 3 attestors per receipt, all 3 close the commit phase early, 2 settle at a
	/// deadline; 10 blocks to commit and 10 to reveal; 50 to challenge and 50 more to resolve;
	/// a day's retention (14,400 blocks of 6 s); 10% tolerance; 3 strikes in 1,000 blocks slash
	/// 10%; an upheld challenge costs each panel attestor 20%; minimum fee 1; vouchers live at
	/// most 600 blocks.
	pub fn default_params() -> Params<BlockNumberFor<T>> {
		Params {
			assigned: 3,
			quorum: 3,
			min_reports: 2,
			commit_period: 10u32.into(),
			reveal_period: 10u32.into(),
			challenge_window: 50u32.into(),
			resolution_period: 50u32.into(),
			retention: 14_400u32.into(),
			tolerance: Perbill::from_percent(10),
			strikes_to_slash: 3,
			strike_window: 1_000u32.into(),
			strike_slash: Perbill::from_percent(10),
			challenge_slash: Perbill::from_percent(20),
			min_fee: 1,
			max_voucher_lifetime: 600u32.into(),
		}
	}

	pub(crate) fn current_params() -> Params<BlockNumberFor<T>> {
		CurrentParams::<T>::get().unwrap_or_else(Self::default_params)
	}

	/// Check parameters before they are stored.
	pub fn check_params(p: &Params<BlockNumberFor<T>>) -> Result<(), Error<T>> {
		let one: BlockNumberFor<T> = 1u32.into();
		let ok = 1 <= p.min_reports
			&& p.min_reports <= p.quorum
			&& p.quorum <= p.assigned
			&& p.assigned <= T::MaxAssigned::get()
			&& [p.commit_period, p.reveal_period, p.challenge_window, p.resolution_period, p.strike_window, p.max_voucher_lifetime]
				.iter()
				.all(|x| *x >= one)
			&& p.retention >= p.max_voucher_lifetime
			&& p.strikes_to_slash >= 1
			&& p.min_fee > 0;
		ensure!(ok, Error::<T>::InvalidParams);
		Ok(())
	}

	fn now() -> BlockNumberFor<T> {
		frame_system::Pallet::<T>::block_number()
	}

	// ---- operators and attestors ----

	pub(crate) fn do_register_operator(who: T::AccountId) -> DispatchResult {
		ensure!(!Operators::<T>::contains_key(&who), Error::<T>::AlreadyOperator);
		let bond = T::OperatorBond::get();
		T::Currency::hold(&HoldReason::OperatorBond.into(), &who, bond)?;
		Operators::<T>::insert(&who, bond);
		Self::deposit_event(Event::OperatorRegistered { who, bond });
		Ok(())
	}

	pub(crate) fn do_unregister_operator(who: T::AccountId) -> DispatchResult {
		let bond = Operators::<T>::take(&who).ok_or(Error::<T>::NotOperator)?;
		let returned = T::Currency::release(&HoldReason::OperatorBond.into(), &who, bond, Precision::BestEffort)?;
		Self::deposit_event(Event::OperatorUnregistered { who, returned });
		Ok(())
	}

	pub(crate) fn do_register_attestor(who: T::AccountId, key: T::AttestorId) -> DispatchResult {
		ensure!(!Attestors::<T>::contains_key(&who), Error::<T>::AlreadyAttestor);
		ensure!(!AttestorOf::<T>::contains_key(&key), Error::<T>::KeyInUse);
		Active::<T>::try_mutate(|a| a.try_push(who.clone())).map_err(|_| Error::<T>::TooManyAttestors)?;
		let bond = T::AttestorBond::get();
		T::Currency::hold(&HoldReason::AttestorBond.into(), &who, bond)?;
		AttestorOf::<T>::insert(&key, &who);
		Attestors::<T>::insert(
			&who,
			Attestor {
				key: key.clone(),
				bond,
				strikes: 0,
				window_start: Self::now(),
				open: 0,
				locked_until: Zero::zero(),
				active: true,
			},
		);
		Self::deposit_event(Event::AttestorRegistered { who, key, bond });
		Ok(())
	}

	pub(crate) fn do_unregister_attestor(who: T::AccountId) -> DispatchResult {
		let mut a = Attestors::<T>::get(&who).ok_or(Error::<T>::NotAttestor)?;
		if a.active {
			a.active = false;
			Active::<T>::mutate(|list| list.retain(|x| x != &who));
			Attestors::<T>::insert(&who, &a);
		}
		if a.open > 0 || Self::now() < a.locked_until {
			Self::deposit_event(Event::AttestorLeaving { who, open: a.open, locked_until: a.locked_until });
			return Ok(());
		}
		let returned = T::Currency::release(&HoldReason::AttestorBond.into(), &who, a.bond, Precision::BestEffort)?;
		AttestorOf::<T>::remove(&a.key);
		Attestors::<T>::remove(&who);
		Self::deposit_event(Event::AttestorUnregistered { who, returned });
		Ok(())
	}

	// ---- receipts ----

	pub(crate) fn do_record_inferences(
		operator: T::AccountId,
		batch: BoundedVec<InferenceRecord<T>, T::MaxBatch>,
	) -> DispatchResult {
		ensure!(Operators::<T>::contains_key(&operator), Error::<T>::NotOperator);
		ensure!(!batch.is_empty(), Error::<T>::EmptyBatch);
		let params = Self::current_params();
		for record in batch {
			let (payer, request) = (record.payer.clone(), record.voucher.request);
			if let Err(error) = with_storage_layer(|| Self::record_one(&operator, record, &params)) {
				Self::deposit_event(Event::ReceiptRefused { operator: operator.clone(), payer, request, error });
			}
		}
		Ok(())
	}

	/// Check, charge and record one inference; fails changing nothing (the caller's storage
	/// layer reverts a charge made before a later failure).
	fn record_one(
		operator: &T::AccountId,
		r: InferenceRecord<T>,
		params: &Params<BlockNumberFor<T>>,
	) -> Result<ReceiptId, DispatchError> {
		let now = Self::now();
		let v = &r.voucher;
		ensure!(&v.operator == operator, Error::<T>::WrongOperator);
		let genesis = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
		ensure!(genesis.as_ref() == v.genesis.as_bytes(), Error::<T>::GenesisMismatch);
		ensure!(now <= v.expires_at, Error::<T>::VoucherExpired);
		ensure!(v.expires_at <= now.saturating_add(params.max_voucher_lifetime), Error::<T>::VoucherTooLong);
		ensure!(r.voucher.signed_by(&r.signature, &r.payer), Error::<T>::BadVoucherSignature);
		ensure!(!Requests::<T>::contains_key(operator, v.request), Error::<T>::DuplicateRequest);
		let deployed = T::Models::adapter_model(v.adapter).and_then(T::Models::model_stage) == Some(ModelStage::Deployed);
		let price = T::Models::adapter_price_per_1k_tokens(v.adapter).filter(|_| deployed).ok_or(Error::<T>::AdapterNotDeployed)?;
		ensure!(price <= v.max_price_per_1k, Error::<T>::PriceAboveCap);
		let tokens = r.input_tokens.checked_add(r.output_tokens).ok_or(Error::<T>::TooManyTokens)?;
		ensure!(tokens > 0, Error::<T>::NoTokens);
		ensure!(tokens <= v.max_tokens, Error::<T>::TooManyTokens);
		let (block, count) = BlockReceipts::<T>::get();
		let count = if block == now { count } else { 0 };
		ensure!(count < T::MaxReceiptsPerBlock::get(), Error::<T>::BlockFull);

		let id = NextReceipt::<T>::get();
		let assigned = Self::assign(id, params.assigned)?;
		let until = Self::schedule(now.saturating_add(params.commit_period), id)?;
		let fee = mnemo_primitives::inference_fee(price, tokens, params.min_fee);
		T::Escrow::charge(mnemo_primitives::Charge {
			operator: operator.clone(),
			payer: r.payer.clone(),
			receipt: id,
			adapter: v.adapter,
			amount: fee,
			channel: v.channel,
			seq: v.seq,
			cumulative: v.cumulative,
		})?;

		for a in &assigned {
			Assignments::<T>::insert(a, id, ());
			Attestors::<T>::mutate(a, |x| {
				if let Some(x) = x {
					x.open.saturating_inc();
				}
			});
		}
		let receipt = Receipt::<T> {
			operator: operator.clone(),
			payer: r.payer.clone(),
			request: v.request,
			adapter: v.adapter,
			input_tokens: r.input_tokens,
			output_tokens: r.output_tokens,
			transcript: r.transcript,
			fee,
			recorded_at: now,
			voucher_expires_at: v.expires_at,
			assigned: assigned.clone(),
			phase: Phase::Commit { until },
		};
		Receipts::<T>::insert(id, &receipt);
		Requests::<T>::insert(operator, v.request, id);
		NextReceipt::<T>::put(id.saturating_add(1));
		BlockReceipts::<T>::put((now, count.saturating_add(1)));
		Self::write_spend_log(id, &receipt);
		Self::deposit_event(Event::ReceiptRecorded {
			receipt: id,
			operator: operator.clone(),
			payer: r.payer,
			request: v.request,
			adapter: v.adapter,
			input_tokens: r.input_tokens,
			output_tokens: r.output_tokens,
			fee,
			assigned,
			commit_until: until,
		});
		Ok(id)
	}

	/// The payer's next spend-log entry, in the offchain index (nodes with
	/// `--enable-offchain-indexing true` keep it; `mnemo_spendLog` reads it).
	fn write_spend_log(id: ReceiptId, r: &Receipt<T>) {
		let n = SpendCount::<T>::mutate(&r.payer, |n| {
			let this = *n;
			n.saturating_inc();
			this
		});
		let entry = SpendEntry {
			receipt: id,
			request: r.request,
			operator: r.operator.clone(),
			adapter: r.adapter,
			input_tokens: r.input_tokens,
			output_tokens: r.output_tokens,
			fee: r.fee,
			block: r.recorded_at,
			parent_hash: frame_system::Pallet::<T>::parent_hash(),
			moment_ms: T::Time::now().as_millis() as u64,
		};
		polkadot_sdk::sp_io::offchain_index::set(&offchain_keys::spend_log(&r.payer, n), &entry.encode());
	}

	/// `n` distinct active attestors for receipt `id`, drawn from the randomness source by a
	/// partial Fisher–Yates shuffle of the active list.
	pub(crate) fn assign(id: ReceiptId, n: u32) -> Result<Panel<T>, Error<T>> {
		let mut pool = Active::<T>::get().into_inner();
		let n = n as usize;
		ensure!(pool.len() >= n, Error::<T>::TooFewAttestors);
		let (seed, _) = T::Randomness::random(&(b"mnemo/attribution/assign", id).encode());
		for i in 0..n {
			let draw = (seed.as_ref(), i as u32).using_encoded(polkadot_sdk::sp_io::hashing::blake2_256);
			let r = u64::from_le_bytes([draw[0], draw[1], draw[2], draw[3], draw[4], draw[5], draw[6], draw[7]]);
			let j = i + (r % (pool.len() - i) as u64) as usize;
			pool.swap(i, j);
		}
		pool.truncate(n);
		BoundedVec::try_from(pool).map_err(|_| Error::<T>::InvalidParams)
	}

	/// Put `id` in the first block from `at` (at most [`DEADLINE_SLACK`] later) with a free
	/// deadline slot; that block.
	fn schedule(at: BlockNumberFor<T>, id: ReceiptId) -> Result<BlockNumberFor<T>, Error<T>> {
		let mut block = at;
		for _ in 0..=DEADLINE_SLACK {
			if Deadlines::<T>::try_mutate(block, |d| d.try_push(id)).is_ok() {
				return Ok(block);
			}
			block = block.saturating_add(1u32.into());
		}
		Err(Error::<T>::DeadlinesFull)
	}

	// ---- commit and reveal ----

	/// The attestor a commitment comes from, if it may commit now.
	pub fn check_commit(c: &Commit<T>) -> Result<T::AccountId, Error<T>> {
		let who = AttestorOf::<T>::get(&c.key).ok_or(Error::<T>::NotAttestor)?;
		let r = Receipts::<T>::get(c.receipt).ok_or(Error::<T>::UnknownReceipt)?;
		ensure!(Assignments::<T>::contains_key(&who, c.receipt), Error::<T>::NotAssigned);
		ensure!(matches!(r.phase, Phase::Commit { until } if Self::now() <= until), Error::<T>::WrongPhase);
		ensure!(!Reports::<T>::contains_key(c.receipt, &who), Error::<T>::AlreadyCommitted);
		Ok(who)
	}

	pub(crate) fn do_commit(c: Commit<T>) -> DispatchResult {
		let who = Self::check_commit(&c)?;
		Reports::<T>::insert(c.receipt, &who, Report { commitment: c.commitment, revealed: None });
		let commits = Reports::<T>::iter_prefix(c.receipt).count() as u32;
		Self::deposit_event(Event::ReportCommitted { receipt: c.receipt, attestor: who, commits });
		if commits >= Self::current_params().quorum {
			if let Some(r) = Receipts::<T>::get(c.receipt) {
				Self::close_commit(c.receipt, r, false);
			}
		}
		Ok(())
	}

	/// Whether contribution `c` is in the training data of `adapter`; with the datanet it is in.
	/// The datanet among an adapter's training data `datanets` that contribution `c` is in.
	fn datanet_of(
		datanets: &[(mnemo_primitives::DatanetId, mnemo_primitives::DatanetVersion)],
		c: ContributionId,
	) -> Option<mnemo_primitives::DatanetId> {
		datanets.iter().find(|(d, v)| T::Datanets::is_in_version(*d, *v, c)).map(|(d, _)| *d)
	}

	/// The attestor a reveal comes from, if it may reveal this now.
	pub fn check_reveal(rv: &Reveal<T>) -> Result<T::AccountId, Error<T>> {
		let who = AttestorOf::<T>::get(&rv.key).ok_or(Error::<T>::NotAttestor)?;
		let r = Receipts::<T>::get(rv.receipt).ok_or(Error::<T>::UnknownReceipt)?;
		ensure!(matches!(r.phase, Phase::Reveal { until } if Self::now() <= until), Error::<T>::WrongPhase);
		let report = Reports::<T>::get(rv.receipt, &who).ok_or(Error::<T>::NotCommitted)?;
		ensure!(report.revealed.is_none(), Error::<T>::AlreadyRevealed);
		ensure!(well_formed(&rv.scores), Error::<T>::BadScores);
		ensure!(
			commitment(rv.receipt, &who, &rv.digest, &rv.scores, &rv.salt) == report.commitment,
			Error::<T>::CommitmentMismatch
		);
		let datanets = T::Models::training_datanets(r.adapter);
		ensure!(
			rv.scores.iter().all(|(c, _)| Self::datanet_of(&datanets, *c).is_some()),
			Error::<T>::UnknownContribution
		);
		Ok(who)
	}

	pub(crate) fn do_reveal(rv: Reveal<T>) -> DispatchResult {
		let who = Self::check_reveal(&rv)?;
		Reports::<T>::mutate(rv.receipt, &who, |rep| {
			if let Some(rep) = rep {
				rep.revealed = Some((rv.digest, rv.scores.clone()));
			}
		});
		Assignments::<T>::remove(&who, rv.receipt);
		let (mut commits, mut reveals) = (0u32, 0u32);
		for (_, rep) in Reports::<T>::iter_prefix(rv.receipt) {
			commits += 1;
			reveals += u32::from(rep.revealed.is_some());
		}
		Self::deposit_event(Event::ReportRevealed { receipt: rv.receipt, attestor: who, digest: rv.digest, reveals });
		if reveals == commits {
			if let Some(r) = Receipts::<T>::get(rv.receipt) {
				Self::finish(rv.receipt, r);
			}
		}
		Ok(())
	}

	/// Close the commit phase: early at `quorum` commitments, or at its deadline (then assigned
	/// attestors who did not commit are struck, and with fewer than `min_reports` commitments
	/// the fee is refunded).
	fn close_commit(id: ReceiptId, mut r: Receipt<T>, at_deadline: bool) {
		let params = Self::current_params();
		let silent: Vec<T::AccountId> =
			r.assigned.iter().filter(|a| !Reports::<T>::contains_key(id, *a)).cloned().collect();
		let committed = (r.assigned.len() - silent.len()) as u32;
		let opened = if committed >= params.min_reports {
			Self::schedule(Self::now().saturating_add(params.reveal_period), id).ok()
		} else {
			None
		};
		// Closing early without a free reveal slot: leave everything to the commit deadline.
		if opened.is_none() && !at_deadline {
			return;
		}
		for a in &silent {
			Assignments::<T>::remove(a, id);
			if at_deadline {
				Self::strike(a, id, Fault::NoCommit);
			}
		}
		match opened {
			Some(until) => {
				r.phase = Phase::Reveal { until };
				Receipts::<T>::insert(id, r);
				Self::deposit_event(Event::RevealOpened { receipt: id, committed, until });
			},
			None if committed < params.min_reports => Self::refund(id, r, RefundReason::TooFewReports),
			None => Self::refund(id, r, RefundReason::Unsettleable),
		}
	}

	/// End the reveal phase: strike committers who did not reveal, then settle with at least
	/// `min_reports` reveals or refund.
	fn finish(id: ReceiptId, r: Receipt<T>) {
		let params = Self::current_params();
		let mut reports: Vec<(T::AccountId, ContentHash, Vec<Score>)> = Vec::new();
		for (a, rep) in Reports::<T>::iter_prefix(id) {
			match rep.revealed {
				Some((digest, scores)) => reports.push((a, digest, scores.into_inner())),
				None => Self::strike(&a, id, Fault::NoReveal),
			}
		}
		if (reports.len() as u32) < params.min_reports {
			return Self::refund(id, r, RefundReason::TooFewReports);
		}
		// Deterministic order whatever the map's: by account.
		reports.sort_by(|a, b| a.0.cmp(&b.0));
		let input: Vec<(ContentHash, Vec<Score>)> = reports.iter().map(|(_, d, s)| (*d, s.clone())).collect();
		let Aggregate::Agreed { digest, scores, verdicts } =
			aggregate(&input, T::MaxContributions::get() as usize, params.tolerance)
		else {
			return Self::refund(id, r, RefundReason::NoMajority);
		};
		let mut panel: Vec<T::AccountId> = Vec::new();
		for ((a, ..), verdict) in reports.iter().zip(verdicts) {
			match verdict {
				Some(fault) => Self::strike(a, id, fault),
				None => panel.push(a.clone()),
			}
		}
		Self::settle(id, r, digest, scores, panel, &params);
	}

	fn settle(
		id: ReceiptId,
		mut r: Receipt<T>,
		digest: ContentHash,
		scores: Vec<Score>,
		panel: Vec<T::AccountId>,
		params: &Params<BlockNumberFor<T>>,
	) {
		let now = Self::now();
		let Some(adapter_owner) = T::Models::adapter_owner(r.adapter) else {
			return Self::refund(id, r, RefundReason::Unsettleable);
		};
		// Credit only contributions that still earn it, with their contributor and datanet
		// owner; a dropped one's score joins the residual.
		let datanets = T::Models::training_datanets(r.adapter);
		let contributions: Vec<_> = scores
			.iter()
			.filter(|(c, _)| T::Datanets::earns_credit(*c))
			.filter_map(|(c, share)| {
				let datanet = Self::datanet_of(&datanets, *c)?;
				Some(ContributionShare {
					contribution: *c,
					contributor: T::Datanets::contributor(*c)?,
					datanet_owner: T::Datanets::datanet_owner(datanet)?,
					share: *share,
				})
			})
			.collect();
		let shares: Vec<(ContributionId, T::AccountId, Perbill)> =
			contributions.iter().map(|s| (s.contribution, s.contributor.clone(), s.share)).collect();
		let release_at = now.saturating_add(params.challenge_window).saturating_add(params.resolution_period);
		let settled = T::Rewards::settle(Settlement {
			receipt: id,
			adapter_owner,
			contributions,
			attestors: panel.clone(),
			release_at,
		});
		if let Err(e) = settled {
			log::error!(target: LOG_TARGET, "receipt {id}: the reward sink refused the settlement: {e:?}");
			return Self::refund(id, r, RefundReason::Unsettleable);
		}
		for (c, contributor, score) in &shares {
			RecentAttributions::<T>::mutate(contributor, |ring| {
				let _ = ring.force_insert_keep_right(ring.len(), (id, *c, *score));
			});
		}
		for a in &panel {
			Attestors::<T>::mutate(a, |x| {
				if let Some(x) = x {
					x.locked_until = x.locked_until.max(release_at);
				}
			});
		}
		let panel = Panel::<T>::truncate_from(panel);
		let event_shares = BoundedVec::truncate_from(shares.iter().map(|(c, _, s)| (*c, *s)).collect());
		Attributions::<T>::insert(id, FinalAttribution { digest, shares: BoundedVec::truncate_from(shares), panel: panel.clone() });
		Self::close_assignments(id, &r);
		r.phase = Phase::Settled { at: now, release_at };
		let fee = r.fee;
		Receipts::<T>::insert(id, r);
		Self::deposit_event(Event::ReceiptSettled { receipt: id, fee, digest, shares: event_shares, panel, release_at });
	}

	fn refund(id: ReceiptId, mut r: Receipt<T>, why: RefundReason) {
		let amount = T::Escrow::refund(id).unwrap_or_else(|e| {
			log::error!(target: LOG_TARGET, "receipt {id}: refund failed: {e:?}");
			0
		});
		Self::close_assignments(id, &r);
		r.phase = Phase::Refunded { at: Self::now(), why };
		let payer = r.payer.clone();
		Receipts::<T>::insert(id, r);
		Self::deposit_event(Event::ReceiptRefunded { receipt: id, payer, amount, why });
	}

	/// The receipt is finished for its attestors: nothing left to do, one open receipt less.
	fn close_assignments(id: ReceiptId, r: &Receipt<T>) {
		for a in r.assigned.iter() {
			Assignments::<T>::remove(a, id);
			Attestors::<T>::mutate(a, |x| {
				if let Some(x) = x {
					x.open.saturating_dec();
				}
			});
		}
	}

	/// A strike for `who`; at `strikes_to_slash` within the window, a slash to the treasury.
	pub(crate) fn strike(who: &T::AccountId, receipt: ReceiptId, fault: Fault) {
		let params = Self::current_params();
		let now = Self::now();
		let Some(mut a) = Attestors::<T>::get(who) else { return };
		if now >= a.window_start.saturating_add(params.strike_window) {
			a.strikes = 0;
			a.window_start = now;
		}
		a.strikes.saturating_inc();
		Self::deposit_event(Event::AttestorStruck { attestor: who.clone(), receipt, fault, strikes: a.strikes });
		if a.strikes >= params.strikes_to_slash {
			a.strikes = 0;
			a.window_start = now;
			let amount = Self::slash_bond(who, &mut a, params.strike_slash, &T::Treasury::get());
			Self::deposit_event(Event::AttestorSlashed {
				attestor: who.clone(),
				amount,
				bond_left: a.bond,
				active: a.active,
			});
		}
		Attestors::<T>::insert(who, a);
	}

	/// Move `part` of `a`'s bond to `to`; below `AttestorBond` it stops taking assignments.
	/// The caller stores `a`.
	fn slash_bond(who: &T::AccountId, a: &mut Attestor<T>, part: Perbill, to: &T::AccountId) -> Balance {
		let slashed = T::Currency::transfer_on_hold(
			&HoldReason::AttestorBond.into(),
			who,
			to,
			part.mul_floor(a.bond),
			Precision::BestEffort,
			Restriction::Free,
			Fortitude::Force,
		)
		.unwrap_or_else(|e| {
			log::error!(target: LOG_TARGET, "attestor {who:?} not slashed: {e:?}");
			0
		});
		a.bond = a.bond.saturating_sub(slashed);
		if a.active && a.bond < T::AttestorBond::get() {
			a.active = false;
			Active::<T>::mutate(|list| list.retain(|x| x != who));
		}
		slashed
	}

	// ---- challenges ----

	pub(crate) fn do_challenge(who: T::AccountId, id: ReceiptId, evidence: ContentHash) -> DispatchResult {
		let r = Receipts::<T>::get(id).ok_or(Error::<T>::UnknownReceipt)?;
		let Phase::Settled { at, .. } = r.phase else { return Err(Error::<T>::WrongPhase.into()) };
		ensure!(Self::now() <= at.saturating_add(Self::current_params().challenge_window), Error::<T>::ChallengeClosed);
		ensure!(!Challenges::<T>::contains_key(id), Error::<T>::AlreadyChallenged);
		let bond = T::ChallengeBond::get();
		T::Currency::hold(&HoldReason::ChallengeBond.into(), &who, bond)?;
		Challenges::<T>::insert(id, Challenge { challenger: who.clone(), bond, evidence, filed_at: Self::now() });
		Self::deposit_event(Event::ChallengeFiled { receipt: id, challenger: who, bond, evidence });
		Ok(())
	}

	pub(crate) fn do_resolve(id: ReceiptId, uphold: bool) -> DispatchResult {
		let r = Receipts::<T>::get(id).ok_or(Error::<T>::UnknownReceipt)?;
		let c = Challenges::<T>::get(id).ok_or(Error::<T>::NoChallenge)?;
		let Phase::Settled { release_at, .. } = r.phase else { return Err(Error::<T>::WrongPhase.into()) };
		// From `release_at` the credits are claimable: too late to claw back.
		ensure!(Self::now() < release_at, Error::<T>::ChallengeClosed);
		let reason = HoldReason::ChallengeBond.into();
		if uphold {
			let refunded = T::Escrow::refund(id)?;
			let params = Self::current_params();
			let mut reward: Balance = 0;
			for a in Attributions::<T>::get(id).map(|x| x.panel.into_inner()).unwrap_or_default() {
				if let Some(mut rec) = Attestors::<T>::get(&a) {
					reward = reward.saturating_add(Self::slash_bond(&a, &mut rec, params.challenge_slash, &c.challenger));
					Attestors::<T>::insert(&a, rec);
				}
			}
			T::Currency::release(&reason, &c.challenger, c.bond, Precision::BestEffort)?;
			Challenges::<T>::remove(id);
			let mut r = r;
			r.phase = Phase::Refunded { at: Self::now(), why: RefundReason::ChallengeUpheld };
			Receipts::<T>::insert(id, r);
			Self::deposit_event(Event::ChallengeUpheld { receipt: id, challenger: c.challenger, reward, refunded });
		} else {
			let slashed = T::Currency::transfer_on_hold(
				&reason,
				&c.challenger,
				&T::Treasury::get(),
				c.bond,
				Precision::BestEffort,
				Restriction::Free,
				Fortitude::Force,
			)?;
			Challenges::<T>::remove(id);
			Self::deposit_event(Event::ChallengeDismissed { receipt: id, challenger: c.challenger, slashed });
		}
		Ok(())
	}

	/// A challenge nobody resolved before its receipt's credits were released: the bond
	/// comes back. Anyone may call it.
	pub(crate) fn do_expire_challenge(id: ReceiptId) -> DispatchResult {
		let c = Challenges::<T>::get(id).ok_or(Error::<T>::NoChallenge)?;
		let release_at = match Receipts::<T>::get(id).map(|r| r.phase) {
			Some(Phase::Settled { release_at, .. }) => release_at,
			_ => Zero::zero(),
		};
		ensure!(Self::now() >= release_at, Error::<T>::WrongPhase);
		let returned =
			T::Currency::release(&HoldReason::ChallengeBond.into(), &c.challenger, c.bond, Precision::BestEffort)?;
		Challenges::<T>::remove(id);
		Self::deposit_event(Event::ChallengeExpired { receipt: id, challenger: c.challenger, returned });
		Ok(())
	}

	// ---- deadlines and pruning ----

	pub(crate) fn process_deadlines(now: BlockNumberFor<T>) -> Weight {
		let due = Deadlines::<T>::take(now);
		let n = due.len() as u32;
		for id in due {
			let Some(r) = Receipts::<T>::get(id) else { continue };
			match r.phase {
				Phase::Commit { until } if until == now => Self::close_commit(id, r, true),
				Phase::Reveal { until } if until == now => Self::finish(id, r),
				// Closed early: this deadline is stale.
				_ => {},
			}
		}
		T::WeightInfo::on_initialize(n)
	}

	/// When a finished receipt may leave state: after the retention, after its voucher expired
	/// (so its request id cannot come back), and without an open challenge.
	pub(crate) fn prunable_at(r: &Receipt<T>, retention: BlockNumberFor<T>) -> Option<BlockNumberFor<T>> {
		let done = match r.phase {
			Phase::Settled { release_at, .. } => release_at,
			Phase::Refunded { at, .. } => at,
			_ => return None,
		};
		Some(done.saturating_add(retention).max(r.voucher_expires_at.saturating_add(1u32.into())))
	}

	/// Prune finished receipts in id order, at most `MaxPrunePerBlock` and what `remaining`
	/// allows, writing each to the offchain index first.
	pub(crate) fn prune(now: BlockNumberFor<T>, remaining: Weight) -> Weight {
		let per = T::WeightInfo::prune_receipt(T::MaxAssigned::get());
		let mut used = T::WeightInfo::prune_idle();
		if remaining.any_lt(used) {
			return Weight::zero();
		}
		let retention = Self::current_params().retention;
		let next = NextReceipt::<T>::get();
		let mut cursor = PruneCursor::<T>::get();
		let mut pruned = 0u32;
		while cursor < next && pruned < T::MaxPrunePerBlock::get() && !remaining.any_lt(used.saturating_add(per)) {
			used.saturating_accrue(per);
			let Some(r) = Receipts::<T>::get(cursor) else {
				cursor += 1;
				continue;
			};
			if Challenges::<T>::contains_key(cursor) || Self::prunable_at(&r, retention).is_none_or(|at| now < at) {
				break;
			}
			Self::prune_one(cursor, r);
			pruned += 1;
			cursor += 1;
		}
		PruneCursor::<T>::put(cursor);
		used
	}

	fn prune_one(id: ReceiptId, r: Receipt<T>) {
		let attribution = Attributions::<T>::take(id);
		let reports: Vec<(T::AccountId, Report<T>)> = Reports::<T>::drain_prefix(id).collect();
		Requests::<T>::remove(&r.operator, r.request);
		Receipts::<T>::remove(id);
		polkadot_sdk::sp_io::offchain_index::set(&offchain_keys::receipt(id), &(r, attribution, reports).encode());
		Self::deposit_event(Event::ReceiptPruned { receipt: id });
	}

	// ---- invariants ----

	/// The pallet's invariants (run after every test, and by `try-runtime`).
	#[cfg(any(feature = "try-runtime", feature = "std", test))]
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;
		let active = Active::<T>::get();
		for a in active.iter() {
			let rec = Attestors::<T>::get(a).ok_or("an active attestor is not registered")?;
			ensure!(rec.active && rec.bond >= T::AttestorBond::get(), "an active attestor is inactive or under-bonded");
		}
		let mut open: BTreeMap<T::AccountId, u32> = BTreeMap::new();
		for (who, a) in Attestors::<T>::iter() {
			ensure!(AttestorOf::<T>::get(&a.key).as_ref() == Some(&who), "attestor key index out of sync");
			ensure!(a.active == active.contains(&who), "active flag and active list disagree");
			open.insert(who, 0);
		}
		ensure!(AttestorOf::<T>::iter().count() as u32 == Attestors::<T>::count(), "stale attestor keys");
		let (next, cursor) = (NextReceipt::<T>::get(), PruneCursor::<T>::get());
		for (id, r) in Receipts::<T>::iter() {
			ensure!(id < next && id >= cursor, "a receipt id outside [cursor, next)");
			ensure!(Requests::<T>::get(&r.operator, r.request) == Some(id), "request index out of sync");
			let mut distinct = r.assigned.clone().into_inner();
			distinct.sort();
			distinct.dedup();
			ensure!(distinct.len() == r.assigned.len(), "an attestor assigned twice");
			for (a, _) in Reports::<T>::iter_prefix(id) {
				ensure!(r.assigned.contains(&a), "a report from an unassigned attestor");
			}
			let unfinished = matches!(r.phase, Phase::Commit { .. } | Phase::Reveal { .. });
			if unfinished {
				for a in r.assigned.iter() {
					if let Some(n) = open.get_mut(a) {
						*n += 1;
					}
				}
			}
			ensure!(
				matches!(r.phase, Phase::Settled { .. }) == Attributions::<T>::contains_key(id)
					|| matches!(r.phase, Phase::Refunded { why: RefundReason::ChallengeUpheld, .. }),
				"an attribution without a settlement"
			);
		}
		for (a, id, ()) in Assignments::<T>::iter() {
			let r = Receipts::<T>::get(id).ok_or("an assignment to a missing receipt")?;
			ensure!(r.assigned.contains(&a), "an assignment outside the panel");
			ensure!(matches!(r.phase, Phase::Commit { .. } | Phase::Reveal { .. }), "an assignment to a finished receipt");
		}
		for (who, n) in open {
			let a = Attestors::<T>::get(&who).ok_or("attestor vanished")?;
			ensure!(a.open == n, "an attestor's open count is wrong");
		}
		for (id, _) in Challenges::<T>::iter() {
			let r = Receipts::<T>::get(id).ok_or("a challenge of a missing receipt")?;
			ensure!(matches!(r.phase, Phase::Settled { .. }), "a challenge of an unsettled receipt");
		}
		Ok(())
	}
}

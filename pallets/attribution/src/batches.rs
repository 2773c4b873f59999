//! Batches: a serving operator commits many receipts at once; a panel and a sample of its leaves
//! are drawn from randomness the operator could not see; the operator opens the sampled leaves;
//! the panel recomputes them and audits the whole batch by commit–reveal; the verdict pays the
//! batch out after a challenge window in which anyone may prove a leaf false, or refunds it and
//! slashes its operator.

use crate::{pallet::*, types::*, weights::WeightInfo, LOG_TARGET};
use alloc::vec::Vec;
use codec::Encode;
use mnemo_primitives::{
	batch::{self, AdapterFacts, BatchTerms, ContributionOwners},
	engine::{DataRef, DatanetData},
	AdapterId, BatchCharge, BatchEscrow, BatchId, ContentHash, DatanetsInspect, ModelsInspect,
};
use polkadot_sdk::{
	frame_support::{
		ensure,
		pallet_prelude::*,
		traits::{
			fungible::MutateHold,
			tokens::{Fortitude, Precision, Restriction},
			Randomness, UnixTime,
		},
		BoundedVec,
	},
	frame_system::{self, pallet_prelude::BlockNumberFor},
	sp_runtime::{
		traits::{One, Zero},
		DispatchResult, Perbill, Saturating,
	},
};

/// How many blocks past its due block a batch's deadline may move when that block's slots are
/// full.
pub const DEADLINE_SLACK: u32 = 16;

impl<T: Config> Pallet<T> {
	/// What the chain says of `adapter` for batches (see the view function `adapter_facts`).
	pub fn facts_of(adapter: AdapterId) -> Option<AdapterFacts<T::AccountId>> {
		let adapter_hash = T::Models::adapter_hash(adapter)?;
		let owner = T::Models::adapter_owner(adapter)?;
		let mut datanets = Vec::new();
		let mut earning = Vec::new();
		for (datanet, version) in T::Models::training_datanets(adapter) {
			let contributions = T::Datanets::version_contributions(datanet, version);
			let datanet_owner = T::Datanets::datanet_owner(datanet);
			for (c, _) in &contributions {
				let contributor = T::Datanets::contributor(*c).filter(|_| T::Datanets::earns_credit(*c));
				if let (Some(contributor), Some(datanet_owner)) = (contributor, datanet_owner.clone()) {
					earning.push((*c, ContributionOwners { contributor, datanet_owner }));
				}
			}
			datanets.push(DatanetData {
				datanet,
				version,
				contributions: contributions
					.into_iter()
					.map(|(contribution, content_hash)| DataRef { contribution, content_hash })
					.collect(),
			});
		}
		earning.sort_by_key(|(c, _)| *c);
		earning.dedup_by_key(|(c, _)| *c);
		Some(AdapterFacts { adapter, adapter_hash, owner, datanets, earning })
	}

	/// What every batch is split by (see the view function `batch_terms`).
	pub fn terms() -> BatchTerms<T::AccountId> {
		BatchTerms {
			split: T::BatchEscrow::split(),
			treasury: T::Treasury::get(),
			min_fee: Self::current_params().min_fee,
			top_k: T::MaxContributions::get(),
		}
	}

	/// The batch an operator's next batch extends: its last in flight, or its last settled.
	pub(crate) fn head_of(chain: &BatchChain<T>) -> Option<BatchBase> {
		match chain.pending.last() {
			Some(id) => Batches::<T>::get(id).map(|b| BatchBase {
				batch: *id,
				blob: b.header.blob,
				payouts_root: b.header.payouts_root,
			}),
			None => chain.settled,
		}
	}

	fn batch_now() -> BlockNumberFor<T> {
		frame_system::Pallet::<T>::block_number()
	}

	/// Put `batch` in the first block from `at` with a free batch slot; that block.
	fn schedule_batch(at: BlockNumberFor<T>, batch: BatchId) -> Result<BlockNumberFor<T>, Error<T>> {
		let mut block = at;
		for _ in 0..=DEADLINE_SLACK {
			if BatchDeadlines::<T>::try_mutate(block, |d| d.try_push(batch)).is_ok() {
				return Ok(block);
			}
			block = block.saturating_add(1u32.into());
		}
		Err(Error::<T>::BatchDeadlinesFull)
	}

	pub(crate) fn do_submit_batch(
		operator: T::AccountId,
		header: BatchHeader,
		charges: BoundedVec<PayerCharge<T>, T::MaxPayersPerBatch>,
	) -> DispatchResult {
		let bond = Operators::<T>::get(&operator).ok_or(Error::<T>::NotOperator)?;
		ensure!(header.leaves >= 1 && header.leaves <= T::MaxReceiptsPerBatch::get(), Error::<T>::BadBatchSize);
		ensure!(!charges.is_empty(), Error::<T>::EmptyBatch);
		let leaves = charges.iter().try_fold(0u32, |s, c| s.checked_add(c.leaves)).ok_or(Error::<T>::LeavesMismatch)?;
		ensure!(leaves == header.leaves && charges.iter().all(|c| c.leaves > 0), Error::<T>::LeavesMismatch);
		let fees = charges.iter().try_fold(0u128, |s, c| s.checked_add(c.amount)).ok_or(Error::<T>::FeesMismatch)?;
		ensure!(
			header.payouts_total.checked_add(header.attestors_part) == Some(fees),
			Error::<T>::FeesMismatch
		);
		// Cheating on a batch must lose more than it can gain: fees at most s·B/2 (see the
		// settlement design's detection maths).
		let cap = bond.saturating_mul(u128::from(T::SampleSize::get())) / 2;
		ensure!(fees <= cap, Error::<T>::BatchTooLarge);

		let params = Self::current_params();
		let now = Self::batch_now();
		let genesis = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
		let batch = NextBatch::<T>::get();
		// Its running payouts extend the operator's latest batch's.
		let mut chain = OperatorBatches::<T>::get(&operator);
		let base = Self::head_of(&chain);
		ensure!(header.prev == base.map(|b| b.batch), Error::<T>::WrongPrev);
		// Split by the terms in force, which the batch keeps.
		let terms = Self::terms();
		ensure!(header.terms == terms.hash(), Error::<T>::WrongTerms);
		chain.pending.try_push(batch).map_err(|_| Error::<T>::TooManyPendingBatches)?;
		// Every voucher is checked before anyone is charged; a failed charge then reverts the
		// whole call (dispatch is transactional), so a batch is charged all or nothing.
		for c in &charges {
			let v = &c.voucher;
			ensure!(v.operator == operator, Error::<T>::WrongOperator);
			ensure!(genesis.as_ref() == v.genesis.as_bytes(), Error::<T>::GenesisMismatch);
			ensure!(now <= v.expires_at, Error::<T>::VoucherExpired);
			ensure!(v.expires_at <= now.saturating_add(params.max_voucher_lifetime), Error::<T>::VoucherTooLong);
			ensure!(c.voucher.signed_by(&c.signature, &c.payer), Error::<T>::BadVoucherSignature);
		}
		// Each payer's leaves follow the previous payer's, in the order of the charges; the
		// panel audits that they are the payer's (its spend log points there).
		let mut first_leaf = 0u32;
		let mut charged = Vec::with_capacity(charges.len());
		for c in &charges {
			let v = &c.voucher;
			Self::write_spend_log(batch, &operator, &header, c, first_leaf, now);
			charged.push(BatchCharge {
				operator: operator.clone(),
				payer: c.payer.clone(),
				channel: v.channel,
				seq: v.seq,
				cumulative: v.cumulative,
				amount: c.amount,
				receipts: c.leaves,
				first_leaf,
			});
			first_leaf = first_leaf.saturating_add(c.leaves);
		}
		T::BatchEscrow::charge(batch, charged)?;
		let sample_at = Self::schedule_batch(now.saturating_add(T::SampleDelay::get()), batch)?;
		Batches::<T>::insert(
			batch,
			Batch::<T> {
				operator: operator.clone(),
				header: header.clone(),
				fees,
				submitted_at: now,
				base,
				terms,
				phase: BatchPhase::Sampling { at: sample_at },
				panel: Default::default(),
				sample: Default::default(),
			},
		);
		NextBatch::<T>::put(batch.saturating_add(1));
		OperatorBatches::<T>::insert(&operator, chain);
		Self::deposit_event(Event::BatchSubmitted {
			batch,
			operator,
			leaves: header.leaves,
			payers: charges.len() as u32,
			fees,
			root: header.root,
			blob: header.blob,
			sample_at,
		});
		Ok(())
	}

	/// The payer's next spend-log entry, in the offchain index (nodes with
	/// `--enable-offchain-indexing true` keep it; `mnemo_spendLog` reads it).
	fn write_spend_log(
		batch: BatchId,
		operator: &T::AccountId,
		header: &BatchHeader,
		c: &PayerCharge<T>,
		first_leaf: u32,
		now: BlockNumberFor<T>,
	) {
		let n = SpendCount::<T>::mutate(&c.payer, |n| {
			let this = *n;
			n.saturating_inc();
			this
		});
		let entry = mnemo_primitives::SpendEntry {
			batch,
			operator: operator.clone(),
			receipts: c.leaves,
			first_leaf,
			amount: c.amount,
			seq: c.voucher.seq,
			blob: header.blob,
			root: header.root,
			block: now,
			parent_hash: frame_system::Pallet::<T>::parent_hash(),
			moment_ms: T::Time::now().as_millis() as u64,
		};
		polkadot_sdk::sp_io::offchain_index::set(&mnemo_primitives::offchain_keys::spend_log(&c.payer, n), &entry.encode());
	}

	/// `n` distinct leaf indices of `leaves` (all of them when there are no more than `n`),
	/// ascending, from `seed`.
	pub(crate) fn draw_sample(seed: &[u8], leaves: u32, n: u32) -> Vec<u32> {
		if leaves <= n {
			return (0..leaves).collect();
		}
		let mut picked: Vec<u32> = Vec::with_capacity(n as usize);
		let mut i = 0u32;
		while (picked.len() as u32) < n {
			let draw = (seed, b"sample", i).using_encoded(polkadot_sdk::sp_io::hashing::blake2_256);
			let r = u64::from_le_bytes([draw[0], draw[1], draw[2], draw[3], draw[4], draw[5], draw[6], draw[7]]);
			let index = (r % u64::from(leaves)) as u32;
			if !picked.contains(&index) {
				picked.push(index);
			}
			i = i.saturating_add(1);
		}
		picked.sort_unstable();
		picked
	}

	/// Draw the panel and sample of `batch` (its sampling block has come). The weight used.
	fn sample(batch: BatchId, mut b: Batch<T>, now: BlockNumberFor<T>) -> Weight {
		let used = T::WeightInfo::deadline_sample();
		let params = Self::current_params();
		let (seed, _) = T::Randomness::random(&(b"mnemo/attribution/batch", batch).encode());
		let panel = match Self::draw_panel(seed.as_ref(), params.assigned, params.min_reports) {
			Ok(p) => p,
			Err(_) => return used.saturating_add(Self::refund_batch(batch, b, BatchRefund::NoPanel, Zero::zero(), now, &[])),
		};
		let sample = Self::draw_sample(seed.as_ref(), b.header.leaves, T::SampleSize::get());
		// Both deadlines of the sample, the opening's and the panel's commitments', are booked now:
		// nothing the operator does later needs a free slot.
		let booked = Self::schedule_batch(now.saturating_add(T::OpenPeriod::get()), batch).and_then(|open_until| {
			Self::schedule_batch(open_until.saturating_add(params.commit_period), batch).map(|c| (open_until, c))
		});
		let Ok((open_until, commit_until)) = booked else {
			return used.saturating_add(Self::refund_batch(batch, b, BatchRefund::NoPanel, Zero::zero(), now, &[]));
		};
		Self::hold_panel(&panel, true);
		b.panel = panel.clone();
		b.sample = BoundedVec::truncate_from(sample.clone());
		b.phase = BatchPhase::Open { until: open_until, commit_until };
		Batches::<T>::insert(batch, b);
		Self::deposit_event(Event::BatchSampled { batch, panel, sample, open_until });
		used
	}

	/// Count a batch's panel in (`true`) or out of its attestors' open batches: an attestor
	/// cannot leave while it sits on a panel whose verdict is not in.
	fn hold_panel(panel: &[T::AccountId], hold: bool) {
		for a in panel {
			Attestors::<T>::mutate(a, |x| {
				if let Some(x) = x {
					x.open = if hold { x.open.saturating_add(1) } else { x.open.saturating_sub(1) };
				}
			});
		}
	}

	/// `n` distinct active attestors, drawn with `seed`; every active one when fewer are active,
	/// as long as they can give a verdict (`min_reports`). Attestors leaving or slashed out of
	/// the active set shrink panels; they do not stop settlement until too few are left to judge.
	fn draw_panel(seed: &[u8], n: u32, min_reports: u32) -> Result<Panel<T>, Error<T>> {
		let mut pool = Active::<T>::get().into_inner();
		let n = (n as usize).min(pool.len());
		ensure!(n >= (min_reports as usize).max(1), Error::<T>::TooFewAttestors);
		for i in 0..n {
			let draw = (seed, b"panel", i as u32).using_encoded(polkadot_sdk::sp_io::hashing::blake2_256);
			let r = u64::from_le_bytes([draw[0], draw[1], draw[2], draw[3], draw[4], draw[5], draw[6], draw[7]]);
			let j = i + (r % (pool.len() - i) as u64) as usize;
			pool.swap(i, j);
		}
		pool.truncate(n);
		BoundedVec::try_from(pool).map_err(|_| Error::<T>::InvalidParams)
	}

	pub(crate) fn do_open_sample(
		who: T::AccountId,
		batch: BatchId,
		leaves: BoundedVec<(BatchLeaf<T>, batch::MerkleProof), T::SampleSize>,
	) -> DispatchResult {
		let mut b = Batches::<T>::get(batch).ok_or(Error::<T>::UnknownBatch)?;
		ensure!(b.operator == who, Error::<T>::NotBatchOperator);
		let now = Self::batch_now();
		let BatchPhase::Open { until, commit_until } = b.phase else { return Err(Error::<T>::BatchPhase.into()) };
		ensure!(now <= until, Error::<T>::BatchPhase);
		ensure!(leaves.len() == b.sample.len(), Error::<T>::WrongSample);
		let mut claims = Vec::with_capacity(leaves.len());
		for ((leaf, proof), index) in leaves.iter().zip(b.sample.iter()) {
			ensure!(proof.index == *index, Error::<T>::WrongSample);
			ensure!(batch::verify(&b.header.root, b.header.leaves, leaf.hash(), proof), Error::<T>::BadLeafProof);
			claims.push(SampledClaim {
				index: *index,
				adapter: leaf.voucher.adapter,
				max_price_per_1k: leaf.voucher.max_price_per_1k,
				tokens: leaf.input_tokens.saturating_add(leaf.output_tokens),
				fee: leaf.fee,
				digest: leaf.digest,
				shares: leaf.shares.clone(),
			});
		}
		SampledClaims::<T>::insert(batch, BoundedVec::truncate_from(claims));
		b.phase = BatchPhase::Commit { until: commit_until };
		Batches::<T>::insert(batch, b);
		Self::deposit_event(Event::SampleOpened { batch, commit_until });
		Ok(())
	}

	/// Give `batch`'s charges back to its payers, slash `slash` of its operator's bond, and close
	/// it: `FinderReward` of the slash goes, in equal parts, to `finders` (who proved the fraud,
	/// or the panel that caught it), the rest to the treasury. Never fails. The weight used:
	/// the payers get their charges back in the blocks after (the escrow queues them), so the
	/// refund's own work does not grow with them.
	pub(crate) fn refund_batch(
		batch: BatchId,
		mut b: Batch<T>,
		why: BatchRefund,
		slash: Perbill,
		now: BlockNumberFor<T>,
		finders: &[T::AccountId],
	) -> Weight {
		let mut used = T::WeightInfo::deadline_refund();
		if matches!(b.phase, BatchPhase::Open { .. } | BatchPhase::Commit { .. } | BatchPhase::Reveal { .. }) {
			Self::hold_panel(&b.panel, false);
		}
		let amount = T::BatchEscrow::refund(batch).unwrap_or_else(|e| {
			log::error!(target: LOG_TARGET, "batch {batch}: refund failed: {e:?}");
			0
		});
		// The operator's batches after it counted its fees in their running payouts: cut off,
		// each is refunded as an orphan at the first free slot from the next block (a deadline
		// booked for it, its record not read here; one waiting to pay out has no other).
		let orphans = OperatorBatches::<T>::mutate(&b.operator, |c| match c.pending.iter().position(|x| *x == batch) {
			Some(i) => {
				let orphans = c.pending[i.saturating_add(1)..].to_vec();
				c.pending.truncate(i);
				orphans
			},
			None => Vec::new(),
		});
		let mut from = now.saturating_add(One::one());
		for o in orphans {
			match Self::schedule_batch(from, o) {
				// The blocks before `at` are full: the next orphan starts looking there.
				Ok(at) => from = at,
				Err(_) =>
					if let Some(ob) = Batches::<T>::get(o) {
						used.saturating_accrue(Self::refund_batch(o, ob, BatchRefund::Orphaned, Perbill::zero(), now, &[]));
					},
			}
		}
		let (mut slashed, mut rewarded) = (0, 0);
		if let Some(bond) = Operators::<T>::get(&b.operator).filter(|_| !slash.is_zero()) {
			let total = slash.mul_floor(bond);
			let reason = HoldReason::OperatorBond.into();
			// Part of the held bond moves to `to`; what cannot move stays held.
			let pay = |to: &T::AccountId, amount| {
				T::Currency::transfer_on_hold(&reason, &b.operator, to, amount, Precision::BestEffort, Restriction::Free, Fortitude::Force)
					.unwrap_or(0)
			};
			let each = T::FinderReward::get().mul_floor(total).checked_div(finders.len() as u128).unwrap_or(0);
			for f in finders {
				rewarded += pay(f, each);
			}
			slashed = rewarded + pay(&T::Treasury::get(), total.saturating_sub(rewarded));
			Operators::<T>::insert(&b.operator, bond.saturating_sub(slashed));
		}
		SampledClaims::<T>::remove(batch);
		AuditRound::<T>::remove(batch);
		let _ = BatchReports::<T>::clear_prefix(batch, T::MaxAssigned::get(), None);
		b.phase = BatchPhase::Refunded { at: now, why };
		Batches::<T>::insert(batch, b);
		Self::deposit_event(Event::BatchRefunded { batch, why, amount, slashed, rewarded });
		used
	}

	/// The panel attestor a batch commitment comes from, if it may commit now.
	pub fn check_batch_commit(c: &BatchCommit<T>) -> Result<T::AccountId, Error<T>> {
		let who = AttestorOf::<T>::get(&c.key).ok_or(Error::<T>::NotAttestor)?;
		let b = Batches::<T>::get(c.batch).ok_or(Error::<T>::UnknownBatch)?;
		ensure!(b.panel.contains(&who), Error::<T>::NotOnPanel);
		ensure!(matches!(b.phase, BatchPhase::Commit { until } if Self::batch_now() <= until), Error::<T>::BatchPhase);
		ensure!(!BatchReports::<T>::contains_key(c.batch, &who), Error::<T>::AlreadyCommitted);
		Ok(who)
	}

	pub(crate) fn do_commit_batch(c: BatchCommit<T>) -> DispatchResult {
		let who = Self::check_batch_commit(&c)?;
		BatchReports::<T>::insert(c.batch, &who, BatchReport { commitment: c.commitment, revealed: None });
		let commits = BatchReports::<T>::iter_prefix(c.batch).count() as u32;
		Self::deposit_event(Event::BatchReportCommitted { batch: c.batch, attestor: who, commits });
		if let Some(b) = Batches::<T>::get(c.batch) {
			if commits as usize == b.panel.len() {
				// Priced in the call's weight (its benchmark closes the commit phase).
				let _ = Self::close_batch_commit(c.batch, b, Self::batch_now());
			}
		}
		Ok(())
	}

	/// The panel attestor a batch reveal comes from, if it matches its commitment now.
	pub fn check_batch_reveal(r: &BatchReveal<T>) -> Result<T::AccountId, Error<T>> {
		let who = AttestorOf::<T>::get(&r.key).ok_or(Error::<T>::NotAttestor)?;
		let b = Batches::<T>::get(r.batch).ok_or(Error::<T>::UnknownBatch)?;
		ensure!(matches!(b.phase, BatchPhase::Reveal { until } if Self::batch_now() <= until), Error::<T>::BatchPhase);
		let report = BatchReports::<T>::get(r.batch, &who).ok_or(Error::<T>::NotCommitted)?;
		ensure!(report.revealed.is_none(), Error::<T>::AlreadyRevealed);
		// An attestor that could not get the batch reports no sampled leaf; any other, every one.
		let expected = if r.audit == BatchAudit::Unavailable { 0 } else { b.sample.len() };
		ensure!(r.reports.len() == expected, Error::<T>::WrongReportCount);
		ensure!(r.reports.iter().all(|x| well_formed(&x.scores)), Error::<T>::BadScores);
		ensure!(
			batch_commitment::<T>(r.batch, &who, &r.reports, r.audit, &r.salt) == report.commitment,
			Error::<T>::CommitmentMismatch
		);
		Ok(who)
	}

	pub(crate) fn do_reveal_batch(r: BatchReveal<T>) -> DispatchResult {
		let who = Self::check_batch_reveal(&r)?;
		BatchReports::<T>::mutate(r.batch, &who, |x| {
			if let Some(x) = x {
				x.revealed = Some((r.reports.clone(), r.audit));
			}
		});
		let (mut commits, mut reveals) = (0u32, 0u32);
		for (_, x) in BatchReports::<T>::iter_prefix(r.batch) {
			commits += 1;
			reveals += u32::from(x.revealed.is_some());
		}
		Self::deposit_event(Event::BatchReportRevealed { batch: r.batch, attestor: who, audit: r.audit, reveals });
		if reveals == commits {
			if let Some(b) = Batches::<T>::get(r.batch) {
				// Priced in the call's weight (its benchmark gives the verdict).
				let _ = Self::verdict(r.batch, b, Self::batch_now());
			}
		}
		Ok(())
	}

	/// Close a batch's commit phase: the whole panel committed, or its deadline came. The silent
	/// are struck, unless the whole panel was: then the likelier cause is the batch's content not
	/// being served (an operator withholding its blob), which must not cost honest attestors
	/// their bond. With fewer than `min_reports` commitments the audit is inconclusive.
	fn close_batch_commit(batch: BatchId, mut b: Batch<T>, now: BlockNumberFor<T>) -> Weight {
		let used = T::WeightInfo::deadline_close_commit();
		let params = Self::current_params();
		let silent: Vec<T::AccountId> = b.panel.iter().filter(|a| !BatchReports::<T>::contains_key(batch, *a)).cloned().collect();
		if silent.len() < b.panel.len() {
			for a in &silent {
				Self::strike(a, batch, Fault::NoCommit);
			}
		}
		let committed = (b.panel.len() - silent.len()) as u32;
		if committed < params.min_reports {
			return used.saturating_add(Self::inconclusive(batch, b, BatchRefund::TooFewReports, now));
		}
		match Self::schedule_batch(now.saturating_add(params.reveal_period), batch) {
			Ok(until) => {
				b.phase = BatchPhase::Reveal { until };
				Batches::<T>::insert(batch, b);
				Self::deposit_event(Event::BatchRevealOpened { batch, committed, until });
				used
			},
			Err(_) => used.saturating_add(Self::refund_batch(batch, b, BatchRefund::TooFewReports, Perbill::zero(), now, &[])),
		}
	}

	/// An audit that reached no verdict (`why`: too few reports, no majority on a sampled leaf,
	/// or a majority that could not get the batch's content). A fresh panel is drawn (with
	/// randomness of this block, keyed by the round) to audit the same opened sample, up to
	/// `AuditRounds` panels in all: one panel's bad luck (its engines down, its network cut off
	/// from the operator's) does not decide. After the last, or when no panel can be drawn or
	/// scheduled, the batch is refunded: without a slash when the panels failed, with
	/// `WithholdSlash` when the last panel's majority could not get the content, as for a sample
	/// never opened. The silent were struck already; the earlier panel's reports are dropped.
	/// The weight used.
	pub(crate) fn inconclusive(batch: BatchId, mut b: Batch<T>, why: BatchRefund, now: BlockNumberFor<T>) -> Weight {
		let round = AuditRound::<T>::get(batch).saturating_add(1);
		if round >= T::AuditRounds::get() {
			let slash = if why == BatchRefund::Withheld { T::WithholdSlash::get() } else { Perbill::zero() };
			return Self::refund_batch(batch, b, why, slash, now, &[]);
		}
		let used = T::WeightInfo::deadline_redraw();
		let params = Self::current_params();
		let (seed, _) = T::Randomness::random(&(b"mnemo/attribution/batch", batch, round).encode());
		let Ok(panel) = Self::draw_panel(seed.as_ref(), params.assigned, params.min_reports) else {
			return used.saturating_add(Self::refund_batch(batch, b, why, Perbill::zero(), now, &[]));
		};
		let Ok(until) = Self::schedule_batch(now.saturating_add(params.commit_period), batch) else {
			return used.saturating_add(Self::refund_batch(batch, b, why, Perbill::zero(), now, &[]));
		};
		Self::hold_panel(&b.panel, false);
		let _ = BatchReports::<T>::clear_prefix(batch, T::MaxAssigned::get(), None);
		Self::hold_panel(&panel, true);
		b.panel = panel.clone();
		b.phase = BatchPhase::Commit { until };
		Batches::<T>::insert(batch, b);
		AuditRound::<T>::insert(batch, round);
		Self::deposit_event(Event::PanelRedrawn { batch, round, why, panel, commit_until: until });
		used
	}

	/// The verdict on a batch: the panel's reports aggregated per sampled leaf and compared
	/// with what the operator opened, and the panel's majority on the totals. A sampled leaf
	/// that does not hold up, or totals the majority finds wrong, is fraud: the batch is
	/// refunded and its operator slashed. Otherwise the batch is paid out.
	///
	/// A majority of reports `Unavailable` makes the round inconclusive (`Withheld`). Those in
	/// a minority are neither struck nor paid (an operator may serve some attestors and not
	/// others), and the verdict is the others'.
	///
	/// The weight used.
	fn verdict(batch: BatchId, b: Batch<T>, now: BlockNumberFor<T>) -> Weight {
		let used = T::WeightInfo::deadline_verdict();
		let params = Self::current_params();
		let mut reports: Vec<(T::AccountId, SampleReports<T>, bool)> = Vec::new();
		let (mut revealed, mut unavailable) = (0u32, 0u32);
		for (a, x) in BatchReports::<T>::iter_prefix(batch) {
			match x.revealed {
				Some((_, BatchAudit::Unavailable)) => {
					revealed += 1;
					unavailable += 1;
				},
				Some((r, audit)) => {
					revealed += 1;
					reports.push((a, r, audit == BatchAudit::AddsUp));
				},
				None => Self::strike(&a, batch, Fault::NoReveal),
			}
		}
		if revealed < params.min_reports {
			return used.saturating_add(Self::inconclusive(batch, b, BatchRefund::TooFewReports, now));
		}
		if unavailable * 2 > revealed {
			return used.saturating_add(Self::inconclusive(batch, b, BatchRefund::Withheld, now));
		}
		if (reports.len() as u32) < params.min_reports {
			return used.saturating_add(Self::inconclusive(batch, b, BatchRefund::TooFewReports, now));
		}
		reports.sort_by(|x, y| x.0.cmp(&y.0));
		let mut faults: Vec<Option<Fault>> = alloc::vec![None; reports.len()];
		let mut fraud = false;
		for (j, claim) in SampledClaims::<T>::get(batch).iter().enumerate() {
			let input: Vec<(ContentHash, Vec<Score>)> = reports
				.iter()
				.filter_map(|(_, r, _)| r.get(j).map(|x| (x.digest, x.scores.to_vec())))
				.collect();
			let Aggregate::Agreed { digest, scores, verdicts } =
				aggregate(&input, T::MaxContributions::get() as usize, params.tolerance)
			else {
				return used.saturating_add(Self::inconclusive(batch, b, BatchRefund::NoMajority, now));
			};
			for (f, v) in faults.iter_mut().zip(verdicts) {
				if f.is_none() {
					*f = v;
				}
			}
			// The majority's token count: the value most of the majority digest's reports give.
			let mut counts: Vec<(u32, usize)> = Vec::new();
			for (_, r, _) in &reports {
				if let Some(x) = r.get(j).filter(|x| x.digest == digest) {
					match counts.iter_mut().find(|(t, _)| *t == x.tokens) {
						Some((_, n)) => *n += 1,
						None => counts.push((x.tokens, 1)),
					}
				}
			}
			let tokens = counts.iter().max_by_key(|(t, n)| (*n, core::cmp::Reverse(*t))).map_or(0, |(t, _)| *t);
			let cap = mnemo_primitives::inference_fee(claim.max_price_per_1k, tokens, b.terms.min_fee);
			let held = claim.digest == digest &&
				claim.tokens == tokens &&
				claim.fee <= cap &&
				l1_distance(&scores, &claim.shares) <= u64::from(params.tolerance.deconstruct());
			fraud |= !held;
		}
		let against = reports.iter().filter(|(_, _, ok)| !ok).count();
		// Half against and half for: neither side may be struck as the odd one out, and the
		// batch may not pass on it (a cheating operator's one friend on a panel of two would
		// otherwise outvote the honest attestor and get it struck). A fresh panel decides.
		if !fraud && against * 2 == reports.len() {
			return used.saturating_add(Self::inconclusive(batch, b, BatchRefund::NoMajority, now));
		}
		let totals_wrong = against * 2 > reports.len();
		for (f, (_, _, ok)) in faults.iter_mut().zip(reports.iter()) {
			if f.is_none() && *ok == totals_wrong {
				// In the minority on the totals.
				*f = Some(Fault::Deviation);
			}
		}
		let mut paid: Vec<T::AccountId> = Vec::new();
		for ((a, ..), f) in reports.iter().zip(faults) {
			match f {
				Some(fault) => Self::strike(a, batch, fault),
				None => paid.push(a.clone()),
			}
		}
		if fraud {
			return used.saturating_add(Self::refund_batch(batch, b, BatchRefund::Fraud, T::FraudSlash::get(), now, &paid));
		}
		if totals_wrong {
			return used.saturating_add(Self::refund_batch(batch, b, BatchRefund::BadTotals, T::FraudSlash::get(), now, &paid));
		}
		let mut b = b;
		let Ok(until) = Self::schedule_batch(now.saturating_add(params.challenge_window), batch) else {
			return used.saturating_add(Self::refund_batch(batch, b, BatchRefund::Unsettleable, Perbill::zero(), now, &[]));
		};
		// The panel's part ends here. The one that agreed is kept (in place of the drawn one)
		// for the payout.
		Self::hold_panel(&b.panel, false);
		b.panel = BoundedVec::truncate_from(paid.clone());
		b.phase = BatchPhase::Challenge { until };
		Batches::<T>::insert(batch, b);
		SampledClaims::<T>::remove(batch);
		AuditRound::<T>::remove(batch);
		let _ = BatchReports::<T>::clear_prefix(batch, T::MaxAssigned::get(), None);
		Self::deposit_event(Event::BatchVerified { batch, paid: BoundedVec::truncate_from(paid), challenge_until: until });
		used
	}

	/// Whether `batch` is verified, its challenge window closed, waiting (with no deadline
	/// booked) for the batch before it to settle.
	fn waiting(batch: &Batch<T>, now: BlockNumberFor<T>) -> bool {
		matches!(batch.phase, BatchPhase::Challenge { until } if until <= now)
	}

	/// Book the next block for a batch that was waiting on the one before it, which settled;
	/// refund it when no slot is free. Its own work is priced in its caller's weight; the weight
	/// of a refund it makes.
	fn wake(batch: BatchId, now: BlockNumberFor<T>) -> Weight {
		let Some(mut b) = Batches::<T>::get(batch).filter(|b| Self::waiting(b, now)) else { return Weight::zero() };
		match Self::schedule_batch(now.saturating_add(One::one()), batch) {
			Ok(until) => {
				b.phase = BatchPhase::Challenge { until };
				Batches::<T>::insert(batch, b);
				Weight::zero()
			},
			Err(_) => Self::refund_batch(batch, b, BatchRefund::Unsettleable, Perbill::zero(), now, &[]),
		}
	}

	/// The challenge window of a verified batch closed: pay it out once the batch it extends
	/// has settled. Until then it waits without a deadline (it books no slot block after
	/// block); the batch before it wakes it when it settles or is refunded.
	fn pay_out(batch: BatchId, b: Batch<T>, now: BlockNumberFor<T>) -> Weight {
		let used = T::WeightInfo::deadline_pay_out();
		let mut chain = OperatorBatches::<T>::get(&b.operator);
		if chain.pending.first() != Some(&batch) {
			return used;
		}
		let payout = mnemo_primitives::BatchPayout {
			root: b.header.payouts_root,
			blob: b.header.blob,
			count: b.header.payouts_count,
			total: b.header.payouts_total,
			attestors: b.panel.to_vec(),
			attestors_part: b.header.attestors_part,
		};
		if let Err(e) = T::BatchEscrow::settle(batch, payout) {
			log::warn!(target: LOG_TARGET, "batch {batch}: payout refused: {e:?}");
			return used.saturating_add(Self::refund_batch(batch, b, BatchRefund::Unsettleable, Perbill::zero(), now, &[]));
		}
		chain.pending.remove(0);
		chain.settled = Some(BatchBase { batch, blob: b.header.blob, payouts_root: b.header.payouts_root });
		let next = chain.pending.first().copied();
		OperatorBatches::<T>::insert(&b.operator, chain);
		let mut b = b;
		b.phase = BatchPhase::Settled { at: now };
		let (fees, paid) = (b.fees, b.panel.clone());
		Batches::<T>::insert(batch, b);
		Self::deposit_event(Event::BatchSettled { batch, fees, paid });
		match next {
			Some(next) => used.saturating_add(Self::wake(next, now)),
			None => used,
		}
	}

	pub(crate) fn do_prove_fraud(
		prover: T::AccountId,
		batch: BatchId,
		leaf: BatchLeaf<T>,
		proof: batch::MerkleProof,
	) -> DispatchResult {
		let b = Batches::<T>::get(batch).ok_or(Error::<T>::UnknownBatch)?;
		ensure!(
			!matches!(b.phase, BatchPhase::Settled { .. } | BatchPhase::Refunded { .. }),
			Error::<T>::BatchPhase
		);
		ensure!(batch::verify(&b.header.root, b.header.leaves, leaf.hash(), &proof), Error::<T>::BadLeafProof);
		let tokens = leaf.input_tokens.saturating_add(leaf.output_tokens);
		let cap = mnemo_primitives::inference_fee(leaf.voucher.max_price_per_1k, tokens, b.terms.min_fee);
		let consented = leaf.voucher.operator == b.operator && leaf.consented();
		let within = leaf.fee <= cap && tokens <= leaf.voucher.max_tokens;
		// Paid for by its payer's charge in this batch: a leaf charged before, or on another
		// channel, put in again under a later voucher's unused consent is not.
		let charged = T::BatchEscrow::charge_of(batch, &leaf.payer)
			.is_some_and(|c| c.covers(leaf.voucher.channel, leaf.voucher.seq));
		ensure!(!consented || !within || !charged, Error::<T>::LeafHolds);
		Self::deposit_event(Event::FraudProven { batch, index: proof.index, prover: prover.clone() });
		// Priced in the call's weight (its benchmark refunds a batch).
		let _ = Self::refund_batch(batch, b, BatchRefund::Proven, T::FraudSlash::get(), Self::batch_now(), &[prover.clone()]);
		Ok(())
	}

	/// Remove batches finished (paid out or refunded) more than `retention` blocks ago, oldest
	/// first, as far as `remaining` allows; each batch's record goes to the offchain index.
	pub(crate) fn prune_batches(now: BlockNumberFor<T>, remaining: Weight) -> Weight {
		let per = T::WeightInfo::prune_batch();
		let mut used = T::WeightInfo::prune_idle();
		if remaining.any_lt(used) {
			return Weight::zero();
		}
		let retention = Self::current_params().retention;
		let next = NextBatch::<T>::get();
		let mut cursor = BatchPruneCursor::<T>::get();
		let mut pruned = 0u32;
		while cursor < next && pruned < T::MaxPrunePerBlock::get() && !remaining.any_lt(used.saturating_add(per)) {
			used.saturating_accrue(per);
			let Some(b) = Batches::<T>::get(cursor) else {
				cursor += 1;
				continue;
			};
			let done = match b.phase {
				BatchPhase::Settled { at } | BatchPhase::Refunded { at, .. } => at,
				_ => break,
			};
			if now < done.saturating_add(retention) {
				break;
			}
			Batches::<T>::remove(cursor);
			polkadot_sdk::sp_io::offchain_index::set(&mnemo_primitives::offchain_keys::batch(cursor), &b.encode());
			Self::deposit_event(Event::BatchPruned { batch: cursor });
			pruned += 1;
			cursor += 1;
		}
		BatchPruneCursor::<T>::put(cursor);
		used
	}

	/// The batches with a deadline at `now`, each taken where its phase says: sampled, refunded
	/// (a sample not opened, an orphan), its commit phase closed, its verdict given, paid out. A
	/// deadline its batch has moved past costs only its reads. The weight used: what each batch's
	/// deadline did, as benchmarked (see [`Self::worst_deadline`]).
	pub(crate) fn process_batch_deadlines(now: BlockNumberFor<T>) -> Weight {
		let mut used = T::WeightInfo::deadlines_idle();
		for batch in BatchDeadlines::<T>::take(now) {
			used.saturating_accrue(Self::deadline(batch, now));
		}
		used
	}

	pub(crate) fn deadline(batch: BatchId, now: BlockNumberFor<T>) -> Weight {
		let stale = T::WeightInfo::deadline_stale();
		let Some(b) = Batches::<T>::get(batch) else { return stale };
		let live = matches!(b.phase, BatchPhase::Settled { .. } | BatchPhase::Refunded { .. }) ||
			OperatorBatches::<T>::get(&b.operator).pending.contains(&batch);
		if !live {
			return stale.saturating_add(Self::refund_batch(batch, b, BatchRefund::Orphaned, Perbill::zero(), now, &[]));
		}
		match b.phase {
			BatchPhase::Sampling { at } if at == now => Self::sample(batch, b, now),
			BatchPhase::Open { until, .. } if until == now =>
				stale.saturating_add(Self::refund_batch(batch, b, BatchRefund::NotOpened, T::WithholdSlash::get(), now, &[])),
			BatchPhase::Commit { until } if until == now => Self::close_batch_commit(batch, b, now),
			BatchPhase::Reveal { until } if until == now => Self::verdict(batch, b, now),
			BatchPhase::Challenge { until } if until == now => Self::pay_out(batch, b, now),
			// Moved on: this deadline is stale.
			_ => stale,
		}
	}

	/// The most one batch's deadline can cost, without the refunds of waiting batches it may
	/// wake when no slot is free for them: at most `MaxBatchesPerBlock` of them fall in a block.
	pub fn worst_deadline() -> Weight {
		let w = |a: Weight, b: Weight| a.max(b);
		let refund = T::WeightInfo::deadline_refund();
		let stale = T::WeightInfo::deadline_stale();
		let ends = w(refund, T::WeightInfo::deadline_redraw().saturating_add(refund));
		[
			stale.saturating_add(refund),
			T::WeightInfo::deadline_sample().saturating_add(refund),
			T::WeightInfo::deadline_close_commit().saturating_add(ends),
			T::WeightInfo::deadline_verdict().saturating_add(ends),
			T::WeightInfo::deadline_pay_out().saturating_add(refund),
		]
		.into_iter()
		.fold(Weight::zero(), w)
	}
}

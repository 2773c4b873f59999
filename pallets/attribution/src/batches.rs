//! Batches: a serving operator commits many receipts at once; a panel and a sample of its leaves
//! are drawn from randomness the operator could not see; the operator opens the sampled leaves.
//! (The panel's commit–reveal over the sample, the verdict and the payout follow.)

use crate::{pallet::*, types::*, weights::WeightInfo, LOG_TARGET};
use alloc::vec::Vec;
use codec::Encode;
use mnemo_primitives::{batch, BatchCharge, BatchEscrow, BatchId};
use polkadot_sdk::{
	frame_support::{
		ensure,
		pallet_prelude::*,
		traits::{
			fungible::MutateHold,
			tokens::{Fortitude, Precision, Restriction},
			Randomness,
		},
		BoundedVec,
	},
	frame_system::{self, pallet_prelude::BlockNumberFor},
	sp_runtime::{
		traits::{Verify, Zero},
		DispatchResult, Perbill, Saturating,
	},
};

impl<T: Config> Pallet<T> {
	fn batch_now() -> BlockNumberFor<T> {
		frame_system::Pallet::<T>::block_number()
	}

	/// Whether `signature` is the payer's signature of `voucher`, raw or `<Bytes>`-wrapped.
	fn payer_signed(c: &PayerCharge<T>) -> bool {
		let payload = c.voucher.signing_payload();
		if c.signature.verify(&payload[..], &c.payer) {
			return true;
		}
		let wrapped = [&b"<Bytes>"[..], &payload, &b"</Bytes>"[..]].concat();
		c.signature.verify(&wrapped[..], &c.payer)
	}

	/// Put `batch` in the first block from `at` with a free batch slot; that block.
	fn schedule_batch(at: BlockNumberFor<T>, batch: BatchId) -> Result<BlockNumberFor<T>, Error<T>> {
		let mut block = at;
		for _ in 0..=crate::impls::DEADLINE_SLACK {
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
		// Every voucher is checked before anyone is charged; a failed charge then reverts the
		// whole call (dispatch is transactional), so a batch is charged all or nothing.
		for c in &charges {
			let v = &c.voucher;
			ensure!(v.operator == operator, Error::<T>::WrongOperator);
			ensure!(genesis.as_ref() == v.genesis.as_bytes(), Error::<T>::GenesisMismatch);
			ensure!(now <= v.expires_at, Error::<T>::VoucherExpired);
			ensure!(v.expires_at <= now.saturating_add(params.max_voucher_lifetime), Error::<T>::VoucherTooLong);
			ensure!(Self::payer_signed(c), Error::<T>::BadVoucherSignature);
		}
		for c in &charges {
			let v = &c.voucher;
			T::BatchEscrow::charge(
				batch,
				BatchCharge {
					operator: operator.clone(),
					payer: c.payer.clone(),
					channel: v.channel,
					seq: v.seq,
					cumulative: v.cumulative,
					amount: c.amount,
				},
			)?;
		}
		let sample_at = Self::schedule_batch(now.saturating_add(T::SampleDelay::get()), batch)?;
		Batches::<T>::insert(
			batch,
			Batch::<T> {
				operator: operator.clone(),
				header: header.clone(),
				fees,
				submitted_at: now,
				phase: BatchPhase::Sampling { at: sample_at },
				panel: Default::default(),
				sample: Default::default(),
			},
		);
		NextBatch::<T>::put(batch.saturating_add(1));
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

	/// Draw the panel and sample of `batch` (its sampling block has come).
	fn sample(batch: BatchId, mut b: Batch<T>, now: BlockNumberFor<T>) {
		let params = Self::current_params();
		let (seed, _) = T::Randomness::random(&(b"mnemo/attribution/batch", batch).encode());
		let panel = match Self::draw_panel(seed.as_ref(), params.assigned) {
			Ok(p) => p,
			Err(_) => return Self::refund_batch(batch, b, BatchRefund::NoPanel, Zero::zero(), now),
		};
		let sample = Self::draw_sample(seed.as_ref(), b.header.leaves, T::SampleSize::get());
		let open_until = match Self::schedule_batch(now.saturating_add(T::OpenPeriod::get()), batch) {
			Ok(at) => at,
			Err(_) => return Self::refund_batch(batch, b, BatchRefund::NoPanel, Zero::zero(), now),
		};
		b.panel = panel.clone();
		b.sample = BoundedVec::truncate_from(sample.clone());
		b.phase = BatchPhase::Open { until: open_until };
		Batches::<T>::insert(batch, b);
		Self::deposit_event(Event::BatchSampled { batch, panel, sample, open_until });
	}

	/// `n` distinct active attestors, drawn with `seed`.
	fn draw_panel(seed: &[u8], n: u32) -> Result<Panel<T>, Error<T>> {
		let mut pool = Active::<T>::get().into_inner();
		let n = n as usize;
		ensure!(pool.len() >= n, Error::<T>::TooFewAttestors);
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
		ensure!(matches!(b.phase, BatchPhase::Open { until } if now <= until), Error::<T>::BatchPhase);
		ensure!(leaves.len() == b.sample.len(), Error::<T>::WrongSample);
		let mut claims = Vec::with_capacity(leaves.len());
		for ((leaf, proof), index) in leaves.iter().zip(b.sample.iter()) {
			ensure!(proof.index == *index, Error::<T>::WrongSample);
			ensure!(batch::verify(&b.header.root, b.header.leaves, leaf.hash(), proof), Error::<T>::BadLeafProof);
			claims.push(SampledClaim {
				index: *index,
				adapter: leaf.voucher.adapter,
				tokens: leaf.input_tokens.saturating_add(leaf.output_tokens),
				fee: leaf.fee,
				digest: leaf.digest,
				shares: leaf.shares.clone(),
			});
		}
		let commit_until = Self::schedule_batch(now.saturating_add(Self::current_params().commit_period), batch)?;
		SampledClaims::<T>::insert(batch, BoundedVec::truncate_from(claims));
		b.phase = BatchPhase::Commit { until: commit_until };
		Batches::<T>::insert(batch, b);
		Self::deposit_event(Event::SampleOpened { batch, commit_until });
		Ok(())
	}

	/// Give `batch`'s charges back to its payers, slash `slash` of its operator's bond to the
	/// treasury, and close it. Never fails.
	fn refund_batch(batch: BatchId, mut b: Batch<T>, why: BatchRefund, slash: Perbill, now: BlockNumberFor<T>) {
		let amount = T::BatchEscrow::refund(batch).unwrap_or_else(|e| {
			log::error!(target: LOG_TARGET, "batch {batch}: refund failed: {e:?}");
			0
		});
		let mut slashed = 0;
		if !slash.is_zero() {
			if let Some(bond) = Operators::<T>::get(&b.operator) {
				let amount = slash.mul_floor(bond);
				let reason = HoldReason::OperatorBond.into();
				// Moves part of the held bond to the treasury; the rest stays held.
				if let Ok(moved) = T::Currency::transfer_on_hold(
					&reason,
					&b.operator,
					&T::Treasury::get(),
					amount,
					Precision::BestEffort,
					Restriction::Free,
					Fortitude::Force,
				) {
					slashed = moved;
					Operators::<T>::insert(&b.operator, bond.saturating_sub(moved));
				}
			}
		}
		SampledClaims::<T>::remove(batch);
		b.phase = BatchPhase::Refunded { at: now, why };
		Batches::<T>::insert(batch, b);
		Self::deposit_event(Event::BatchRefunded { batch, why, amount, slashed });
	}

	/// Batches whose sampling block, or whose opening deadline, is `now`.
	pub(crate) fn process_batch_deadlines(now: BlockNumberFor<T>) -> Weight {
		let due = BatchDeadlines::<T>::take(now);
		let n = due.len() as u32;
		for batch in due {
			let Some(b) = Batches::<T>::get(batch) else { continue };
			match b.phase {
				BatchPhase::Sampling { at } if at == now => Self::sample(batch, b, now),
				BatchPhase::Open { until } if until == now =>
					Self::refund_batch(batch, b, BatchRefund::NotOpened, T::WithholdSlash::get(), now),
				// Moved on: this deadline is stale.
				_ => {},
			}
		}
		T::WeightInfo::on_initialize(n)
	}
}

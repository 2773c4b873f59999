//! Batches: the flusher commits the journal's receipts on chain many at a time.
//!
//! Each flush takes the pending receipts (each payer's in voucher order, never past a request of
//! the same payer still running), checks each payer's channel can pay for its part, attributes
//! every receipt with this engine (the operator's own attribution: the digest and the shares a
//! panel of attestors will recompute on a sample), splits every fee by the chain's split and adds
//! each account's part to the running totals of the operator's latest batch on chain (the one
//! the batch extends), stores the whole batch ([`BlobOf`]: every leaf, the running payouts) in
//! the blob store and commits it with `submit_batch`: the Merkle roots of its leaves and payouts
//! and one charge per payer. When the chain draws the batch's sample, the flusher opens the sampled leaves with
//! `open_sample`; it follows the batch until it is paid out or refunded.
//!
//! A batch takes what the flusher attributes within [`build_budget`] (a third of the time the
//! chain gives to open a sample); the rest wait for the next.
//!
//! A batch is written (fsynced) to `batches/` before its receipts leave `pending/` and before
//! it is submitted. One batch is in flight at a time: after a restart, or when a submission's
//! answer is lost, the flusher looks for it on chain (a batch of this operator with its root,
//! among those numbered since it was first submitted) before submitting it again. A batch that
//! does not land in [`MAX_ATTEMPTS`] submissions, one of whose vouchers would expire first, or
//! one whose base is no longer the operator's latest batch (it was refunded) is dissolved: its receipts go back to `pending/` (expired ones to `expired/`), each with one more
//! attempt counted, so a payer whose channel can no longer pay is left out of the next one.

use super::*;
use mnemo_client::{AdapterFacts, BatchHeader, BatchPhase, BatchRecord, BlobOf, LeafOf, MerkleProof, PayerCharge};
use mnemo_primitives::{
	batch::{self, LeafShares, MAX_LEAF_SHARES},
	engine::{AttributionRequest, AttributionResponse},
	AdapterId, BatchId,
};

/// Most receipts the flusher attributes at once.
const MAX_ATTRIBUTING: usize = 8;

/// Most receipts in one batch (the runtime's `MaxReceiptsPerBatch`).
pub const MAX_LEAVES: usize = 4096;

/// Most payers charged by one batch (the runtime's `MaxPayersPerBatch`).
pub const MAX_PAYERS: usize = 256;

/// Shortest time the flusher attributes receipts for one batch (see [`build_budget`]).
pub const BUILD_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// Longest, whatever the block time.
pub const MAX_BUILD_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// Blocks the operator has to open a batch's sample (the runtime's `OpenPeriod`).
pub const OPEN_PERIOD_BLOCKS: u32 = 10;

/// How long the flusher attributes receipts for one batch at `block_s` seconds a block: a third
/// of the time the chain gives it to open a sample (`OpenPeriod` blocks), between
/// [`BUILD_BUDGET`] and [`MAX_BUILD_BUDGET`]. The flusher also opens its landed batches' samples,
/// or the chain slashes the operator for withholding: a batch built for minutes (thousands of
/// receipts at tens of milliseconds each) would keep an honest operator from opening in time,
/// while at 6-second blocks a 5-second build left the flusher idle half of each cycle (landing
/// the batch waits for a block).
pub fn build_budget(block_s: Option<f64>) -> std::time::Duration {
	let third = block_s.map_or(0.0, |b| b * f64::from(OPEN_PERIOD_BLOCKS) / 3.0);
	std::time::Duration::from_secs_f64(third).clamp(BUILD_BUDGET, MAX_BUILD_BUDGET)
}

/// The operator's own attribution of a receipt (the engine's; tests use a fake).
pub trait Attributor: Send + Sync {
	fn attribute(&self, req: &AttributionRequest) -> Result<AttributionResponse>;
}

/// A batch in the journal.
#[derive(Clone, Debug, Encode, Decode)]
pub(super) struct BatchFile {
	pub(super) seq: u64,
	/// Its receipts, in leaf order.
	pub(super) entries: Vec<Entry>,
	pub(super) header: BatchHeader,
	pub(super) charges: Vec<PayerCharge>,
	/// The chain's next batch id before the first submission: it lands at or above it.
	from: BatchId,
	attempts: u32,
	/// Its id on chain, once landed.
	pub(super) id: Option<BatchId>,
	/// Whether its sample was opened.
	opened: bool,
}

/// How a landed batch ended.
enum Ended {
	Settled,
	Refunded,
	/// No longer in state: pruned after its end.
	Gone,
}

impl Meter {
	fn batch_path(&self, seq: u64) -> PathBuf {
		self.dir.join("batches").join(format!("{seq:012}.batch"))
	}

	/// The batches in the journal (not yet ended), oldest first.
	pub(super) fn batch_files(&self) -> Result<Vec<BatchFile>> {
		let d = self.dir.join("batches");
		let mut v: Vec<BatchFile> =
			std::fs::read_dir(&d).map_err(Error::io(&d))?.flatten().filter_map(|e| read_batch(&e.path())).collect();
		v.sort_by_key(|b| b.seq);
		Ok(v)
	}

	fn write_batch(&self, b: &BatchFile) -> Result<()> {
		write_atomic(&self.batch_path(b.seq), &b.encode())
	}

	/// One flush: follows the batches on chain (opening a sample when drawn), lands or dissolves
	/// the one in flight, and builds and submits the next from `pending/`. Returns how many
	/// receipts are still pending.
	pub fn flush(&self, chain: &mut dyn ReceiptChain, attributor: &dyn Attributor) -> Result<usize> {
		let best = chain.best_block()?;
		self.stats.best_block.store(best, Ordering::Relaxed);
		self.set_params(chain.params()?);
		let mut in_flight = false;
		for mut b in self.batch_files()? {
			if b.id.is_none() && !self.land(chain, &mut b, best)? {
				in_flight = true;
				continue;
			}
			self.follow(chain, &mut b)?;
		}
		if !in_flight {
			if let Some(mut b) = self.build(chain, attributor, best)? {
				self.observe_pace(b.entries.len());
				if self.land(chain, &mut b, best)? {
					self.follow(chain, &mut b)?;
				}
			}
		}
		Ok(self.stats.pending.load(Ordering::Relaxed) as usize)
	}

	/// Measures the flusher's pace: `built` receipts since the last batch that left a backlog (the
	/// time between covers landing that one, following, and building this one), folded into
	/// [`MeterStats::commit_rate`], which admission weighs vouchers against.
	fn observe_pace(&self, built: usize) {
		let now = std::time::Instant::now();
		let mut since = self.pace_since.lock().expect("lock");
		if let Some(t) = *since {
			let secs = now.duration_since(t).as_secs_f64();
			if secs > 0.0 {
				self.stats.observe_commit_rate(built as f64 / secs);
			}
		}
		*since = (self.stats.pending.load(Ordering::Relaxed) > 0).then_some(now);
	}

	/// Gets batch `b` on chain: finds it there, submits it, or dissolves it. Whether it landed.
	fn land(&self, chain: &mut dyn ReceiptChain, b: &mut BatchFile, best: BlockNumber) -> Result<bool> {
		if self.landed(chain, b)? {
			return Ok(true);
		}
		let head = chain.head()?.map(|h| h.batch);
		if head != b.header.prev {
			tracing::warn!(batch = b.seq, extends = ?b.header.prev, latest = ?head, "the batch a batch extends is no longer the operator's latest: its receipts go back to pending");
			self.dissolve(b, best)?;
			return Ok(false);
		}
		if chain.terms()?.hash() != b.header.terms {
			tracing::warn!(batch = b.seq, "governance changed the terms a batch was split by: its receipts go back to pending");
			self.dissolve(b, best)?;
			return Ok(false);
		}
		if b.attempts >= MAX_ATTEMPTS {
			tracing::warn!(batch = b.seq, attempts = b.attempts, best, "a batch did not land in its submissions: its receipts go back to pending");
			self.dissolve(b, best)?;
			return Ok(false);
		}
		if let Some(expires_at) = b.entries.iter().map(|e| e.record.voucher.expires_at).min().filter(|x| *x <= best.saturating_add(1)) {
			tracing::warn!(batch = b.seq, attempts = b.attempts, best, expires_at, "a batch did not land before one of its vouchers expires: its receipts go back to pending");
			self.dissolve(b, best)?;
			return Ok(false);
		}
		// Count the attempt before submitting: a crash after submission must not give the
		// batch more attempts than allowed.
		b.attempts += 1;
		self.write_batch(b)?;
		self.stats.batch_submissions.fetch_add(1, Ordering::Relaxed);
		if let Err(e) = chain.submit_batch(&b.header, &b.charges) {
			tracing::warn!(batch = b.seq, attempt = b.attempts, best, "submitting a batch failed: {e}");
			return self.landed(chain, b);
		}
		if self.landed(chain, b)? {
			return Ok(true);
		}
		// Included and failed: the chain says why only in the block's events; a dry run of
		// the same call says why it would fail now.
		let why = chain.refusal(&b.header, &b.charges).unwrap_or_else(|| "the chain does not say why".into());
		tracing::warn!(batch = b.seq, attempt = b.attempts, best, "a block included a batch that did not land: {why}");
		Ok(false)
	}

	/// Whether `b` is on chain (recording its id if so).
	fn landed(&self, chain: &mut dyn ReceiptChain, b: &mut BatchFile) -> Result<bool> {
		let next = chain.next_batch()?;
		for id in b.from..next {
			let Some(r) = chain.batch(id)? else { continue };
			if r.operator == self.operator && r.header == b.header {
				b.id = Some(id);
				self.write_batch(b)?;
				for e in &b.entries {
					self.settled(e, "recorded");
				}
				tracing::info!(batch = id, receipts = b.entries.len(), payers = b.charges.len(), "batch landed");
				return Ok(true);
			}
		}
		Ok(false)
	}

	/// Puts the receipts of a batch that will not land back in `pending/` (one more attempt
	/// counted; past [`MAX_ATTEMPTS`] to `refused/`), or in `expired/`.
	fn dissolve(&self, b: &BatchFile, best: BlockNumber) -> Result<()> {
		for e in &b.entries {
			let mut e = e.clone();
			e.attempts += 1;
			write_atomic(&self.path("pending", &e), &e.encode())?;
			self.stats.pending.fetch_add(1, Ordering::Relaxed);
		}
		let path = self.batch_path(b.seq);
		std::fs::remove_file(&path).map_err(Error::io(&path))?;
		for e in &b.entries {
			let e = e.clone();
			if e.record.voucher.expires_at < best {
				self.finish(e, "expired")?;
			} else if e.attempts + 1 > MAX_ATTEMPTS {
				self.finish(e, "refused")?;
			}
		}
		Ok(())
	}

	/// Follows a landed batch: opens its sample once drawn; forgets it once it ended.
	fn follow(&self, chain: &mut dyn ReceiptChain, b: &mut BatchFile) -> Result<()> {
		let Some(id) = b.id else { return Ok(()) };
		let ended = match chain.batch(id)? {
			None => Some(Ended::Gone),
			Some(BatchRecord { phase: BatchPhase::Settled { .. }, .. }) => Some(Ended::Settled),
			Some(BatchRecord { phase: BatchPhase::Refunded { .. }, .. }) => Some(Ended::Refunded),
			Some(r) => {
				if matches!(r.phase, BatchPhase::Open { .. }) && !b.opened {
					let blob = self.blob(&b.header)?;
					let hashes = blob.leaf_hashes();
					let mut opened = Vec::with_capacity(r.sample.len());
					for i in &r.sample {
						let leaf = blob.leaves.get(*i as usize).cloned();
						let proof = batch::merkle_proof(&hashes, *i);
						let (Some(leaf), Some(proof)) = (leaf, proof) else {
							return Err(Error::Internal(format!("batch {id}: the chain sampled leaf {i}, which it does not have")));
						};
						opened.push((leaf, proof));
					}
					chain.open_sample(id, &opened)?;
					b.opened = true;
					self.write_batch(b)?;
					tracing::info!(batch = id, sampled = opened.len(), "sample opened");
				}
				None
			},
		};
		if let Some(ended) = ended {
			let counter = match ended {
				Ended::Settled => &self.stats.batches_settled,
				Ended::Refunded => &self.stats.batches_refunded,
				Ended::Gone => &self.stats.batches_settled,
			};
			counter.fetch_add(1, Ordering::Relaxed);
			let (from, to) = (self.batch_path(b.seq), self.dir.join("batches").join("done").join(format!("{id:012}.batch")));
			std::fs::rename(&from, &to).map_err(Error::io(&to))?;
		}
		Ok(())
	}

	/// A batch's blob from the blob store.
	fn stored_blob(&self, hash: &ContentHash) -> Result<BlobOf> {
		let bytes = self.store.get(hash)?;
		BlobOf::decode(&mut &bytes[..]).map_err(|e| Error::Internal(format!("batch blob {}: {e}", hash.to_hex())))
	}

	/// The whole of a batch from the blob store, checked against its header.
	pub(super) fn blob(&self, header: &BatchHeader) -> Result<BlobOf> {
		let blob = self.stored_blob(&header.blob)?;
		if blob.header(header.blob) != *header {
			return Err(Error::Internal(format!("batch blob {} does not match its header", header.blob.to_hex())));
		}
		Ok(blob)
	}

	/// Builds the next batch from `pending/` and journals it (its receipts leave `pending/`).
	fn build(&self, chain: &mut dyn ReceiptChain, attributor: &dyn Attributor, best: BlockNumber) -> Result<Option<BatchFile>> {
		let candidates = self.candidates(best)?;
		if candidates.is_empty() {
			return Ok(None);
		}
		// Each payer's channel must pay for its part, as the chain will check; a payer whose
		// channel cannot is refused whole.
		let mut refused: BTreeSet<AccountId> = BTreeSet::new();
		for (payer, part) in charges_of(&candidates) {
			if let Err(why) = can_pay(chain.channel(&payer)?, &part, best) {
				tracing::warn!(%payer, "receipts refused: {why}");
				refused.insert(payer);
			}
		}
		let terms = chain.terms()?;
		let top_k = terms.top_k.min(MAX_LEAF_SHARES);
		let mut facts: BTreeMap<AdapterId, Option<AdapterFacts<AccountId>>> = BTreeMap::new();
		// A payer whose receipt could not be attributed waits whole: a later voucher charged
		// first would make the earlier one stale.
		let mut blocked: BTreeSet<AccountId> = BTreeSet::new();
		let mut entries = Vec::new();
		let mut leaves: Vec<LeafOf> = Vec::new();
		let started = std::time::Instant::now();
		let budget = build_budget(self.stats.block_time());
		// Receipts are attributed a round at a time, as many at once as the compute pool has
		// threads (each attribution is one job on it, mostly too small to spread over several)
		// up to MAX_ATTRIBUTING (each holds a forward and backward graph in memory), and taken
		// in order: the leaves, the payers refused and blocked, are as one at a time.
		let width = crate::threads::current().clamp(1, MAX_ATTRIBUTING);
		let mut queue = candidates.into_iter();
		loop {
			// Past the budget the batch goes as it is: the rest wait for the next one (each
			// payer's later receipts after its earlier ones, as the chain wants them).
			if started.elapsed() >= budget && !leaves.is_empty() {
				break;
			}
			let mut round: Vec<(Entry, std::result::Result<AttributionRequest, String>)> = Vec::with_capacity(width);
			while round.len() < width {
				let Some(e) = queue.next() else { break };
				let payer = &e.record.payer;
				if refused.contains(payer) {
					self.finish(e, "refused")?;
					continue;
				}
				if blocked.contains(payer) {
					continue;
				}
				let adapter = e.record.voucher.adapter;
				if !facts.contains_key(&adapter) {
					facts.insert(adapter, chain.adapter_facts(adapter)?);
				}
				let req = match &facts[&adapter] {
					None => Err(format!("adapter {adapter} has no weights or owner on chain")),
					Some(f) => Ok(f.request((leaves.len() + round.len()) as u64, e.record.transcript, top_k)),
				};
				round.push((e, req));
			}
			if round.is_empty() {
				break;
			}
			let attributed = attribute_all(attributor, round.iter().map(|(_, r)| r), top_k);
			for ((mut e, _), attributed) in round.into_iter().zip(attributed) {
				let payer = e.record.payer.clone();
				// A receipt before it in this round could not be attributed: it waits too.
				if blocked.contains(&payer) {
					continue;
				}
				match attributed {
					Ok((digest, shares)) => {
						leaves.push(leaf_of(&e, digest, shares));
						entries.push(e);
					},
					Err(why) => {
						tracing::warn!(request = %hex::encode(e.record.voucher.request), "cannot attribute the receipt: {why}");
						blocked.insert(payer);
						e.attempts += 1;
						if e.attempts >= MAX_ATTEMPTS {
							self.finish(e, "refused")?;
						} else {
							write_atomic(&self.path("pending", &e), &e.encode())?;
						}
					},
				}
			}
		}
		if leaves.is_empty() {
			return Ok(None);
		}
		group_by_payer(&mut leaves, &mut entries);
		let owner = |a: AdapterId| facts.get(&a).cloned().flatten().map(|f| f.owner);
		let owners = |c| facts.values().flatten().find_map(|f| f.owners(c));
		let payouts = batch::payouts(&leaves, &terms.split, &terms.treasury, owner, owners)
			.map_err(|e| Error::Internal(format!("cannot split the batch's fees: {e:?}")))?;
		// Added to the running totals of the batch it extends: the operator's latest on chain.
		let base = chain.head()?;
		let prev = match &base {
			None => Vec::new(),
			Some(b) => {
				let prev = self.stored_blob(&b.blob)?;
				if batch::merkle_root(&prev.payout_hashes()) != b.payouts_root {
					return Err(Error::Internal(format!("the blob of batch {} is not the one it committed", b.batch)));
				}
				prev.payouts
			},
		};
		let running = batch::cumulate(&prev, &payouts.payouts)
			.map_err(|e| Error::Internal(format!("cannot add the batch's payouts to the running totals: {e:?}")))?;
		let blob = BlobOf { prev: base.map(|b| b.batch), terms: terms.hash(), leaves, payouts: running, attestors: payouts.attestors };
		let hash = self.store.put_own(&blob.encode())?;
		let header = blob.header(hash);
		let charges = charges_of(&entries)
			.into_iter()
			.map(|(payer, part)| PayerCharge {
				payer,
				voucher: part.last.voucher,
				signature: part.last.signature,
				leaves: part.leaves,
				amount: part.amount,
			})
			.collect();
		let b = BatchFile {
			seq: self.seq.fetch_add(1, Ordering::SeqCst),
			entries,
			header,
			charges,
			from: chain.next_batch()?,
			attempts: 0,
			id: None,
			opened: false,
		};
		self.write_batch(&b)?;
		for e in &b.entries {
			let p = self.path("pending", e);
			std::fs::remove_file(&p).map_err(Error::io(&p))?;
			self.stats.pending.fetch_sub(1, Ordering::Relaxed);
		}
		Ok(Some(b))
	}

	/// The pending receipts that go into the next batch, in the order they are attributed: the
	/// one that expires first goes first, each payer's in voucher order (a merge of the payers'
	/// queues by the expiry of their heads), none past a running request of its payer (unless it
	/// would expire waiting); at most [`MAX_LEAVES`] of at most [`MAX_PAYERS`] payers. Those
	/// already expired, or that would expire before a batch built now lands (see
	/// [`expiry_horizon`]), go to `expired/`: taken, one would dissolve the whole batch at
	/// landing. (Taking each payer's whole queue in turn, as before, let a payer's oldest receipts
	/// wait behind every other payer's backlog: in a run of 50,000 requests from 32 payers, 10,577
	/// expired before they were committed.)
	fn candidates(&self, best: BlockNumber) -> Result<Vec<Entry>> {
		let horizon = best.saturating_add(expiry_horizon(self.stats.block_time()));
		// Per payer, the lowest voucher still running: its receipts from there on wait, or the
		// chain would take a later voucher first and refuse the running one as stale.
		let mut running: BTreeMap<AccountId, u64> = BTreeMap::new();
		for (payer, seq, _) in self.running.lock().expect("lock").values() {
			let s = running.entry(payer.clone()).or_insert(*seq);
			*s = (*s).min(*seq);
		}
		let pending = merge_by_expiry(self.pending()?);
		let mut payers: BTreeSet<AccountId> = BTreeSet::new();
		let mut out = Vec::new();
		for e in pending {
			let near_expiry = e.record.voucher.expires_at <= horizon.saturating_add(self.min_validity / 2);
			if !near_expiry && running.get(&e.record.payer).is_some_and(|s| e.record.voucher.seq > *s) {
				continue;
			}
			if e.record.voucher.expires_at <= horizon {
				let expires_at = e.record.voucher.expires_at;
				tracing::warn!(request = %hex::encode(e.record.voucher.request), best, expires_at, "receipt expires before a batch could land it");
				self.finish(e, "expired")?;
				continue;
			}
			let new_payer = !payers.contains(&e.record.payer);
			if out.len() >= MAX_LEAVES || (new_payer && payers.len() >= MAX_PAYERS) {
				continue;
			}
			payers.insert(e.record.payer.clone());
			out.push(e);
		}
		Ok(out)
	}
}

/// Blocks from the best block within which a voucher expires too soon for a batch built now:
/// the build (its [`build_budget`] in blocks, rounded up) and the block that includes the batch,
/// plus one, as landing dissolves a batch one of whose vouchers expires by the block after the
/// best. Until the block time is measured, only that one.
pub fn expiry_horizon(block_s: Option<f64>) -> BlockNumber {
	block_s
		.filter(|b| *b > 0.0)
		.map_or(1, |b| (build_budget(Some(b)).as_secs_f64() / b).ceil() as BlockNumber + 2)
}

/// `entries` in the order a batch takes them: each payer's in voucher order, the payers' queues
/// merged by the expiry of their heads (ties by payer), so the receipt that expires first is
/// taken first wherever it can be without passing an earlier voucher of its payer.
fn merge_by_expiry(entries: Vec<Entry>) -> Vec<Entry> {
	let mut queues: BTreeMap<AccountId, std::collections::VecDeque<Entry>> = BTreeMap::new();
	let mut sorted = entries;
	sorted.sort_by_key(|e| (e.record.payer.clone(), e.record.voucher.seq));
	for e in sorted {
		queues.entry(e.record.payer.clone()).or_default().push_back(e);
	}
	let mut heads: std::collections::BinaryHeap<std::cmp::Reverse<(BlockNumber, AccountId)>> = queues
		.iter()
		.filter_map(|(p, q)| q.front().map(|e| std::cmp::Reverse((e.record.voucher.expires_at, p.clone()))))
		.collect();
	let mut out = Vec::new();
	while let Some(std::cmp::Reverse((_, payer))) = heads.pop() {
		let Some(q) = queues.get_mut(&payer) else { continue };
		if let Some(e) = q.pop_front() {
			out.push(e);
		}
		if let Some(next) = q.front() {
			heads.push(std::cmp::Reverse((next.record.voucher.expires_at, payer)));
		}
	}
	out
}

/// The operator's attribution of each request, in order: the digest and the shares of at most
/// `top_k` contributions, or why not. Requests are attributed at once, one thread each (the
/// first on the caller's); each result is what attributing it alone gives.
fn attribute_all<'a>(
	attributor: &dyn Attributor,
	requests: impl Iterator<Item = &'a std::result::Result<AttributionRequest, String>>,
	top_k: u32,
) -> Vec<std::result::Result<(ContentHash, LeafShares), String>> {
	let one = |r: &std::result::Result<AttributionRequest, String>| -> std::result::Result<(ContentHash, LeafShares), String> {
		let req = r.as_ref().map_err(Clone::clone)?;
		let a = attributor.attribute(req).map_err(|err| err.to_string())?;
		let shares = a.scores(top_k as usize).ok_or("the attribution's scores are malformed")?;
		Ok((a.digest, LeafShares::truncate_from(shares)))
	};
	let requests: Vec<_> = requests.collect();
	let Some((first, rest)) = requests.split_first() else { return Vec::new() };
	let one = &one;
	std::thread::scope(|s| {
		let others: Vec<_> = rest.iter().map(|r| s.spawn(move || one(*r))).collect();
		let mut out = vec![one(*first)];
		out.extend(others.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("the attribution's thread panicked".to_string()))));
		out
	})
}

/// A receipt's leaf: what the payer signed and the engine counted and charged, with the
/// operator's attribution of it.
fn leaf_of(e: &Entry, digest: ContentHash, shares: LeafShares) -> LeafOf {
	batch::Leaf {
		payer: e.record.payer.clone(),
		voucher: e.record.voucher.clone(),
		signature: e.record.signature.clone(),
		input_tokens: e.record.input_tokens,
		output_tokens: e.record.output_tokens,
		fee: e.fee,
		transcript: e.record.transcript,
		digest,
		shares,
	}
}

/// Each payer's leaves together (payers in the order they first appear, each payer's in the
/// order taken), as the chain wants them; `entries` follow their leaves.
fn group_by_payer(leaves: &mut Vec<LeafOf>, entries: &mut Vec<Entry>) {
	let mut first: BTreeMap<AccountId, usize> = BTreeMap::new();
	for (i, l) in leaves.iter().enumerate() {
		first.entry(l.payer.clone()).or_insert(i);
	}
	let mut order: Vec<usize> = (0..leaves.len()).collect();
	order.sort_by_key(|&i| (first[&leaves[i].payer], i));
	*leaves = order.iter().map(|&i| leaves[i].clone()).collect();
	*entries = order.iter().map(|&i| entries[i].clone()).collect();
}

/// A batch file of the journal (`None`: not one).
pub(super) fn read_batch(path: &Path) -> Option<BatchFile> {
	if path.extension().is_none_or(|e| e != "batch") {
		return None;
	}
	let bytes = std::fs::read(path).ok()?;
	BatchFile::decode(&mut &bytes[..]).ok()
}

/// One payer's part of a batch.
struct Part {
	/// Its latest voucher among them.
	last: SignedVoucher,
	/// The lowest voucher number among them.
	first_seq: u64,
	leaves: u32,
	amount: Balance,
}

/// Each payer's part of `entries`, in the order payers first appear.
fn charges_of(entries: &[Entry]) -> Vec<(AccountId, Part)> {
	let mut out: Vec<(AccountId, Part)> = Vec::new();
	for e in entries {
		let sv = SignedVoucher { payer: e.record.payer.clone(), voucher: e.record.voucher.clone(), signature: e.record.signature.clone() };
		match out.iter_mut().find(|(p, _)| *p == e.record.payer) {
			Some((_, part)) => {
				if sv.voucher.seq > part.last.voucher.seq {
					part.last = sv;
				}
				part.first_seq = part.first_seq.min(e.record.voucher.seq);
				part.leaves += 1;
				part.amount = part.amount.saturating_add(e.fee);
			},
			None => out.push((
				e.record.payer.clone(),
				Part { first_seq: e.record.voucher.seq, last: sv, leaves: 1, amount: e.fee },
			)),
		}
	}
	out
}

/// Whether the payer's channel `ch` can pay `part`, as the chain will check.
fn can_pay(ch: Option<Channel>, part: &Part, best: BlockNumber) -> std::result::Result<(), String> {
	let ch = ch.ok_or("it has no payment channel to this operator")?;
	let v = &part.last.voucher;
	if ch.id != v.channel {
		return Err(format!("its vouchers are for channel {}, its channel is {}", v.channel, ch.id));
	}
	if ch.closes_at.is_some_and(|at| at <= best.saturating_add(1)) {
		return Err("its channel has closed".into());
	}
	if part.first_seq <= ch.seq {
		return Err(format!("its voucher {} is not above the channel's last charged ({})", part.first_seq, ch.seq));
	}
	if ch.spent.saturating_add(part.amount) > v.cumulative {
		return Err(format!("{} more would take the channel past its consent ({})", part.amount, v.cumulative));
	}
	if ch.balance < part.amount {
		return Err(format!("its channel holds {}, its receipts cost {}", ch.balance, part.amount));
	}
	Ok(())
}

impl Attributor for crate::api::service::Engine {
	fn attribute(&self, req: &AttributionRequest) -> Result<AttributionResponse> {
		crate::api::service::Engine::attribute(self, req)
	}
}

/// A sampled leaf as the operator opens it: the leaf and its Merkle path.
pub type Opened = (LeafOf, MerkleProof);

#[cfg(test)]
mod tests {
	use super::*;
	use mnemo_client::{Signer, VoucherOf};

	fn entry(payer: &Signer, seq: u64, expires_at: BlockNumber) -> Entry {
		let voucher: VoucherOf = mnemo_primitives::Voucher {
			request: [seq as u8; 16],
			operator: payer.account(),
			adapter: 0,
			max_price_per_1k: 1,
			max_tokens: 10,
			channel: 0,
			seq,
			cumulative: 0,
			expires_at,
			genesis: Default::default(),
		};
		let sv = SignedVoucher::sign(payer, voucher);
		Entry {
			seq: 0,
			fee: 0,
			attempts: 0,
			record: InferenceRecord {
				payer: sv.payer,
				voucher: sv.voucher,
				signature: sv.signature,
				input_tokens: 1,
				output_tokens: 1,
				transcript: ContentHash([0; 32]),
			},
		}
	}

	/// Attributes by waiting until `want` attributions are in flight at once (or 10 s), then
	/// answering with the transcript as the digest; the transcript `[9; 32]` fails.
	struct Together {
		want: usize,
		in_flight: std::sync::Mutex<usize>,
		met: std::sync::Condvar,
		most: std::sync::atomic::AtomicUsize,
	}
	impl Attributor for Together {
		fn attribute(&self, req: &AttributionRequest) -> Result<AttributionResponse> {
			let mut n = self.in_flight.lock().unwrap();
			*n += 1;
			self.most.fetch_max(*n, Ordering::SeqCst);
			self.met.notify_all();
			let most = &self.most;
			let (mut n, _) = self.met.wait_timeout_while(n, std::time::Duration::from_secs(10), |_| most.load(Ordering::SeqCst) < self.want).unwrap();
			*n -= 1;
			drop(n);
			if req.transcript == ContentHash([9; 32]) {
				return Err(Error::NotFound("no such transcript".into()));
			}
			Ok(AttributionResponse {
				contributions: vec![mnemo_primitives::engine::ContributionScore { contribution: 7, score: 0.25 }],
				residual: 0.75,
				method: "together".into(),
				method_version: 1,
				digest: req.transcript,
				tokens: 0,
			})
		}
	}

	#[test]
	fn a_round_of_receipts_is_attributed_side_by_side_and_answered_in_order() {
		let a = Together { want: 4, in_flight: Default::default(), met: Default::default(), most: Default::default() };
		let request = |t: u8| AttributionRequest { receipt: 0, adapter: 0, adapter_hash: ContentHash([1; 32]), datanets: vec![], transcript: ContentHash([t; 32]), top_k: 4 };
		let round = vec![Ok(request(1)), Err("adapter 3 has no weights or owner on chain".to_string()), Ok(request(9)), Ok(request(2)), Ok(request(3))];
		let out = attribute_all(&a, round.iter(), 4);
		// Four attributions were in flight at once (the request refused before it never ran).
		assert_eq!(a.most.load(Ordering::SeqCst), 4);
		let digests: Vec<std::result::Result<ContentHash, String>> = out.iter().map(|r| r.as_ref().map(|(d, _)| *d).map_err(Clone::clone)).collect();
		assert_eq!(
			digests,
			vec![
				Ok(ContentHash([1; 32])),
				Err("adapter 3 has no weights or owner on chain".to_string()),
				Err("no such transcript".to_string()),
				Ok(ContentHash([2; 32])),
				Ok(ContentHash([3; 32])),
			]
		);
		assert!(out[0].as_ref().unwrap().1.len() == 1);
		assert!(attribute_all(&a, std::iter::empty(), 4).is_empty());
	}

	#[test]
	fn a_receipt_that_would_expire_before_its_batch_lands_is_not_taken() {
		// 6-second blocks: a 20-second build is 4 blocks, then the including block and one more.
		assert_eq!(expiry_horizon(Some(6.0)), 6);
		// 2-second blocks: 6.7 s of build, 4 blocks.
		assert_eq!(expiry_horizon(Some(2.0)), 6);
		// 30-second blocks: the 30-second cap, one block.
		assert_eq!(expiry_horizon(Some(30.0)), 3);
		assert_eq!(expiry_horizon(None), 1, "block time not measured: only what expires by the next block");

		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, payer) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let m = Meter::open(&dir.path().join("receipts"), op.account(), Default::default(), store, None).unwrap();
		for (seq, expires_at) in [(1, 106), (2, 107), (3, 500)] {
			let e = entry(&payer, seq, expires_at);
			write_atomic(&m.path("pending", &e), &e.encode()).unwrap();
			m.stats.pending.fetch_add(1, Ordering::Relaxed);
		}
		m.stats.block_ms.store(6_000, Ordering::Relaxed);
		let taken: Vec<u64> = m.candidates(100).unwrap().iter().map(|e| e.record.voucher.seq).collect();
		assert_eq!(taken, vec![2, 3], "the voucher expiring at block 106 could not land from block 100");
		assert_eq!(m.stats.expired.load(Ordering::Relaxed), 1);
		assert_eq!(m.stats.pending.load(Ordering::Relaxed), 2);
	}

	#[test]
	fn the_receipt_that_expires_first_is_taken_first_without_passing_an_earlier_voucher() {
		let (a, b) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let name = |e: &Entry| (if e.record.payer == a.account() { 'a' } else { 'b' }, e.record.voucher.seq);
		// a's third voucher expires first of all, but waits for a's first two.
		let merged = merge_by_expiry(vec![entry(&b, 2, 250), entry(&a, 2, 300), entry(&a, 1, 100), entry(&b, 1, 200), entry(&a, 3, 50)]);
		let order: Vec<_> = merged.iter().map(name).collect();
		assert_eq!(order, vec![('a', 1), ('b', 1), ('b', 2), ('a', 2), ('a', 3)]);
		// In the batch each payer's leaves are together, each payer's in voucher order.
		let mut entries = merged;
		let mut leaves: Vec<LeafOf> = entries
			.iter()
			.map(|e| leaf_of(e, ContentHash([0; 32]), LeafShares::default()))
			.collect();
		group_by_payer(&mut leaves, &mut entries);
		assert_eq!(entries.iter().map(name).collect::<Vec<_>>(), vec![('a', 1), ('a', 2), ('a', 3), ('b', 1), ('b', 2)]);
		assert!(leaves.iter().zip(&entries).all(|(l, e)| l.voucher.request == e.record.voucher.request && l.payer == e.record.payer));
		assert!(batch::totals(&leaves).is_ok(), "the chain's order: each payer's leaves together, ascending");
	}
}

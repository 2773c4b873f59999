//! Metering: payer vouchers checked against the payer's payment channel before a request runs,
//! receipts journaled durably when it ends, and a flusher that records them on chain as signed
//! batches (`submit_batch`), whose samples it opens when the chain draws them.
//!
//! ## Who pays: channels and vouchers
//!
//! A payer opens a payment channel to this engine's operator on chain (`Rewards::open_channel`,
//! a deposit the operator may charge). A request for a metered adapter then carries the header
//! `X-Mnemo-Voucher`: the hex of the SCALE encoding of `(payer, voucher, signature)`
//! ([`mnemo_client::SignedVoucher`]), where the payer signed `"mnemo/voucher/v2" ++
//! SCALE(voucher)` with its account key (sr25519, ed25519 or ecdsa; raw or `<Bytes>`-wrapped).
//! The voucher names the request id, this operator, the adapter's on-chain id, a price cap per
//! 1,000 tokens, a token cap, an expiry block, the chain's genesis hash, and its place on the
//! channel: `seq` (above the last voucher this engine accepted from the payer) and `cumulative`
//! (the most the payer accepts to have been charged on the channel in all).
//!
//! The engine answers only if the signature holds, the voucher is for this operator and chain,
//! the cap covers the adapter's price, prompt plus `max_tokens` fit in the token cap (`max_tokens`
//! is lowered to fit), the voucher does not expire before the receipt can be flushed, the request
//! id is new, and the channel can pay: `seq` is above the last accepted, `cumulative` covers what
//! the channel may already owe plus this request's worst-case fee (its price for every token it
//! may use, at least the chain's minimum fee), and the channel's balance covers that too. What
//! the channel owes and holds comes from the chain when the engine first sees the payer (or its
//! last voucher expired, or the balance it knew ran short), and from the engine's own count of
//! what it admitted since. `GET /v1/channels/{payer}` gives a client the last voucher accepted,
//! so it can sign the next. There are no API keys to steal: a voucher authorises exactly one
//! request, and the chain checks it again when the receipt lands, so an operator cannot charge a
//! payer beyond what it signed.
//!
//! ## Nothing acknowledged is lost, nothing is charged twice
//!
//! When a metered request ends, its transcript is stored in the blob store and its receipt
//! written (and fsynced) to `serving/receipts/pending/` *before* the answer's last byte is sent.
//! The flusher commits pending receipts on chain in batches ([`batching`]): a batch is journaled
//! in `batches/` before its receipts leave `pending/`, found on chain before it is submitted
//! again, and dissolved back into `pending/` if it cannot land; receipts that cannot be charged
//! end in `refused/` or `expired/`. The chain's own checks (each payer's voucher number above
//! the last charged, its cumulative consent) are the second line.

mod batching;

pub use batching::{Attributor, Opened, MAX_LEAVES, MAX_PAYERS};

use crate::{
	error::{Error, Result},
	store::BlobStore,
};
use codec::{Decode, Encode};
use mnemo_client::{AdapterFacts, BatchBase, BatchHeader, BatchRecord, BatchTerms, Channel, InferenceRecord, PayerCharge, SignedVoucher};
use mnemo_primitives::{inference_fee, AccountId, AdapterId, Balance, BatchId, BlockNumber, ContentHash, RequestId};
use std::{
	collections::{BTreeMap, BTreeSet},
	path::{Path, PathBuf},
	sync::{
		atomic::{AtomicU32, AtomicU64, Ordering},
		Arc, Mutex,
	},
	time::Duration,
};

/// Submissions of a batch before it is dissolved; attempts of a receipt (its batches dissolved,
/// its attribution failed) before it is given up as refused.
pub const MAX_ATTEMPTS: u32 = 3;

/// The chain as the flusher needs it (the real one is [`mnemo_client`]; tests use a fake).
pub trait ReceiptChain: Send {
	fn best_block(&mut self) -> Result<BlockNumber>;
	/// The payer's payment channel to this operator, if it has one.
	fn channel(&mut self, payer: &AccountId) -> Result<Option<Channel>>;
	/// The chain's smallest fee of a receipt and longest voucher lifetime.
	fn params(&mut self) -> Result<ChainParams>;
	/// What every batch is split by.
	fn terms(&mut self) -> Result<BatchTerms<AccountId>>;
	/// An adapter's weights, training data and whom its fees pay.
	fn adapter_facts(&mut self, adapter: AdapterId) -> Result<Option<AdapterFacts<AccountId>>>;
	/// The id the next batch will get.
	fn next_batch(&mut self) -> Result<BatchId>;
	/// The batch this operator's next batch must extend (`None`: its first).
	fn head(&mut self) -> Result<Option<BatchBase>>;
	/// A batch on chain.
	fn batch(&mut self, id: BatchId) -> Result<Option<BatchRecord>>;
	/// Submits a batch and returns once a block includes the transaction (whether or not it
	/// landed: [`Self::batch`] tells).
	fn submit_batch(&mut self, header: &BatchHeader, charges: &[PayerCharge]) -> Result<()>;
	/// Why the chain would not take a batch now, for the log when one was included and did
	/// not land (`None`: this chain cannot say). The node's answer: a dry run of the same call
	/// on the best block (`system_dryRun`, answered on the node's local interface), naming the
	/// runtime's error.
	fn refusal(&mut self, _header: &BatchHeader, _charges: &[PayerCharge]) -> Option<String> {
		None
	}
	/// Opens a batch's sampled leaves; returns once a block includes the transaction.
	fn open_sample(&mut self, batch: BatchId, leaves: &[Opened]) -> Result<()>;
}

/// What the meter needs of the chain's attribution parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainParams {
	pub min_fee: Balance,
	/// Longest a voucher may be valid, counted from the block that records it (0: unknown).
	pub max_voucher_lifetime: BlockNumber,
}

/// How long the engine remembers that a payer has no channel before asking the chain again.
const ABSENT_FOR: Duration = Duration::from_secs(6);

/// A receipt in the journal.
#[derive(Clone, Debug, Encode, Decode)]
struct Entry {
	seq: u64,
	record: InferenceRecord,
	/// The fee the chain will charge, as the engine computes it.
	fee: Balance,
	/// Batches it was in that did not land, or failed attributions.
	attempts: u32,
}

/// The chain's block time, measured from the best blocks seen: the time since a block arrived
/// over the blocks since, restarted every [`BlockClock::WINDOW`] blocks. Measurement starts
/// at the first new block after the first one seen, so whole blocks count.
#[derive(Debug, Default)]
pub(crate) struct BlockClock {
	first: Option<BlockNumber>,
	origin: Option<(BlockNumber, std::time::Instant)>,
}

impl BlockClock {
	/// Blocks a measurement spans before it restarts.
	pub(crate) const WINDOW: BlockNumber = 20;

	/// `best` seen `at`: the block time in milliseconds (at least 1), once measured.
	pub(crate) fn observe(&mut self, best: BlockNumber, at: std::time::Instant) -> Option<u64> {
		match self.origin {
			Some((b, since)) if best > b => {
				let ms = at.saturating_duration_since(since).as_millis() as u64 / u64::from(best - b);
				if best - b >= Self::WINDOW {
					self.origin = Some((best, at));
				}
				Some(ms.max(1))
			},
			Some(_) => None,
			None => {
				match self.first {
					Some(f) if best > f => self.origin = Some((best, at)),
					Some(_) => {},
					None => self.first = Some(best),
				}
				None
			},
		}
	}
}

/// Counters exported at `/metrics`.
#[derive(Default)]
pub struct MeterStats {
	pub pending: AtomicU64,
	pub recorded: AtomicU64,
	pub refused: AtomicU64,
	pub expired: AtomicU64,
	pub flush_errors: AtomicU64,
	pub best_block: AtomicU32,
	/// Batch submissions sent.
	pub batch_submissions: AtomicU64,
	/// Batches paid out (or ended and pruned).
	pub batches_settled: AtomicU64,
	/// Batches refunded.
	pub batches_refunded: AtomicU64,
	/// Metered requests refused because the backlog would not be committed before their voucher
	/// expires.
	pub refused_backlog: AtomicU64,
	/// Receipts the flusher commits per second while it has a backlog, in thousandths (a moving
	/// average; 0 until measured).
	pub commit_rate_milli: AtomicU64,
	/// Milliseconds per block as the chain's head advances (a moving average; 0 until measured).
	pub block_ms: AtomicU64,
}

impl MeterStats {
	/// Receipts per second the flusher commits while it has a backlog, once measured.
	pub fn commit_rate(&self) -> Option<f64> {
		let r = self.commit_rate_milli.load(Ordering::Relaxed);
		(r > 0).then(|| r as f64 / 1e3)
	}

	/// Seconds per block, once measured.
	pub fn block_time(&self) -> Option<f64> {
		let ms = self.block_ms.load(Ordering::Relaxed);
		(ms > 0).then(|| ms as f64 / 1e3)
	}

	/// Folds one measurement of receipts committed per second into the moving average.
	pub fn observe_commit_rate(&self, per_s: f64) {
		let old = self.commit_rate().unwrap_or(per_s);
		let new = (0.7 * old + 0.3 * per_s).max(0.001);
		self.commit_rate_milli.store((new * 1e3) as u64, Ordering::Relaxed);
	}
}

/// The share of a voucher's remaining time the backlog ahead of it may take. The pace is
/// measured while the engine serves and commits at once, and it falls when the flusher must also
/// open samples and wait for its batches to land: in a 50,000-request run admitting up to the
/// whole time left (pace measured at 17–18 receipts/s, 12/s delivered once the backlog was
/// deep) let 6,951 acknowledged receipts expire before their batch. Half leaves room for the
/// pace to halve.
pub const BACKLOG_SHARE: f64 = 0.5;

/// When a receipt admitted now would be committed: the backlog ahead of it at the flusher's
/// measured pace, against [`BACKLOG_SHARE`] of the time its voucher has left once the batch that
/// takes it is built and lands ([`batching::expiry_horizon`]). `Some(message)`
/// when it might expire first (the request is then refused before it runs, and nothing is lost);
/// `None` while either pace is still unmeasured or there is no backlog.
pub fn backlog_refusal(pending: u64, commit_per_s: Option<f64>, block_s: Option<f64>, best: BlockNumber, expires_at: BlockNumber) -> Option<String> {
	let (rate, block_s) = (commit_per_s?, block_s?);
	if pending == 0 || best == 0 {
		return None;
	}
	let wait = pending as f64 / rate;
	let left = f64::from(expires_at.saturating_sub(best.saturating_add(batching::expiry_horizon(Some(block_s))))) * block_s;
	(wait > left * BACKLOG_SHARE).then(|| {
		format!(
			"settlement backlog: {pending} receipts wait to be committed, about {wait:.0} s at this engine's {rate:.1} receipts/s, and this voucher expires in about {left:.0} s (the backlog may take half); retry in a few seconds"
		)
	})
}

/// What the engine's operator sells an adapter for.
#[derive(Clone, Debug)]
pub struct Price {
	pub chain_adapter: u32,
	pub price_per_1k: Balance,
}

/// What the engine knows of one payer's channel.
#[derive(Clone, Debug)]
struct Chan {
	/// The last voucher admitted (the highest `seq`).
	last: SignedVoucher,
	/// What the channel may owe for requests admitted and not yet settled on chain: the
	/// worst-case fee of those running, the fee of those journaled and not yet recorded.
	unsettled: Balance,
	/// What the channel can still pay for: its balance on chain when last read, less what was
	/// admitted since. Zero forces a read.
	budget: Balance,
}

/// A payer's channel as `GET /v1/channels/{payer}` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ChannelView {
	/// The last voucher this engine accepted from the payer (hex of `(payer, voucher,
	/// signature)`, as in the header): its `seq` and `cumulative` are where the next one starts.
	pub voucher: String,
	pub seq: u64,
	pub cumulative: String,
	pub expires_at: BlockNumber,
	/// What the channel may owe for requests not yet charged on chain.
	pub unsettled: String,
}

pub struct Meter {
	dir: PathBuf,
	pub operator: AccountId,
	pub genesis: mnemo_primitives::Hash,
	/// Blocks a voucher must still be valid for when a request starts.
	pub min_validity: BlockNumber,
	/// Request ids taken (answered or running), so none is served twice.
	taken: Mutex<BTreeSet<RequestId>>,
	/// Requests running: their payer, voucher `seq` and worst-case fee.
	running: Mutex<BTreeMap<RequestId, (AccountId, u64, Balance)>>,
	/// Each payer's channel as far as this engine knows it.
	channels: Mutex<BTreeMap<AccountId, Chan>>,
	/// The chain's minimum fee and longest voucher lifetime, as last read.
	params: Mutex<ChainParams>,
	/// Payers the chain said have no channel, and when.
	absent: Mutex<BTreeMap<AccountId, std::time::Instant>>,
	/// A connection for reading channels when a request is admitted (none: journal only).
	view: Option<Mutex<Box<dyn ReceiptChain>>>,
	seq: AtomicU64,
	/// When the flusher last built a batch and left a backlog (its pace is measured from there).
	pace_since: Mutex<Option<std::time::Instant>>,
	pub stats: MeterStats,
	store: Arc<BlobStore>,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
	crate::store::write_durably(&path.with_extension("tmp"), path, bytes)
}

impl Meter {
	/// Opens the journal under `dir` (`pending/`, `recorded/`, `refused/`, `expired/`), with
	/// `view` for reading payers' channels from the chain (`None`: the engine journals receipts
	/// without a node and checks vouchers against what it admitted itself).
	pub fn open(
		dir: &Path,
		operator: AccountId,
		genesis: mnemo_primitives::Hash,
		store: Arc<BlobStore>,
		view: Option<Box<dyn ReceiptChain>>,
	) -> Result<Self> {
		// Every receipt in the journal, and whether the chain may still charge it (pending, or
		// in a batch not yet landed).
		let mut journal: Vec<(Entry, bool)> = Vec::new();
		let mut seq = 0;
		for sub in ["pending", "refused", "expired", "batches", "batches/done"] {
			let d = dir.join(sub);
			std::fs::create_dir_all(&d).map_err(Error::io(&d))?;
			for e in std::fs::read_dir(&d).map_err(Error::io(&d))?.flatten() {
				if let Some(entry) = read_entry(&e.path()) {
					journal.push((entry, sub == "pending"));
				} else if let Some(b) = batching::read_batch(&e.path()) {
					seq = seq.max(b.seq + 1);
					let owed = b.id.is_none();
					journal.extend(b.entries.into_iter().map(|e| (e, owed)));
				}
			}
		}
		let pending = std::fs::read_dir(dir.join("pending")).map_err(Error::io(dir))?.flatten().filter(|e| read_entry(&e.path()).is_some()).count() as u64;
		let mut taken = BTreeSet::new();
		let mut channels: BTreeMap<AccountId, Chan> = BTreeMap::new();
		for (entry, owed) in journal {
			taken.insert(entry.record.voucher.request);
			seq = seq.max(entry.seq + 1);
			let sv = SignedVoucher {
				payer: entry.record.payer.clone(),
				voucher: entry.record.voucher.clone(),
				signature: entry.record.signature.clone(),
			};
			let c = channels.entry(sv.payer.clone()).or_insert_with(|| Chan { last: sv.clone(), unsettled: 0, budget: 0 });
			if sv.voucher.seq > c.last.voucher.seq {
				c.last = sv;
			}
			if owed {
				c.unsettled = c.unsettled.saturating_add(entry.fee);
			}
		}
		let m = Meter {
			dir: dir.to_path_buf(),
			operator,
			genesis,
			min_validity: 10,
			taken: Mutex::new(taken),
			running: Mutex::new(BTreeMap::new()),
			channels: Mutex::new(channels),
			params: Mutex::new(ChainParams::default()),
			absent: Mutex::new(BTreeMap::new()),
			view: view.map(Mutex::new),
			seq: AtomicU64::new(seq),
			pace_since: Mutex::new(None),
			stats: MeterStats::default(),
			store,
		};
		m.stats.pending.store(pending, Ordering::Relaxed);
		// The minimum fee before the first request, not only after the first flush.
		if let Some(view) = &m.view {
			match view.lock().expect("lock").params() {
				Ok(p) => m.set_params(p),
				Err(e) => tracing::warn!("metering: cannot read the chain's parameters yet: {e}"),
			}
		}
		Ok(m)
	}

	/// Checks a request's voucher for `price`, with `prompt` tokens and up to `max_tokens` more,
	/// and takes its request id. Returns the `max_tokens` the voucher allows.
	pub fn admit(&self, header: Option<&str>, price: &Price, prompt: usize, max_tokens: usize) -> Result<(SignedVoucher, usize)> {
		let header = header.ok_or_else(|| {
			Error::Unauthorized(
				"this adapter is metered: send a payer-signed voucher in the X-Mnemo-Voucher header (see the engine README)".into(),
			)
		})?;
		let sv = SignedVoucher::from_header(header).map_err(|e| Error::bad(format!("X-Mnemo-Voucher: {e}")))?;
		if !sv.verify() {
			return Err(Error::Unauthorized("the voucher's signature is not its payer's".into()));
		}
		let v = &sv.voucher;
		if v.operator != self.operator {
			return Err(Error::Forbidden(format!("the voucher is for operator {}, not this one ({})", v.operator, self.operator)));
		}
		if v.genesis != self.genesis {
			return Err(Error::Forbidden(format!("the voucher is for the chain with genesis {:?}, not {:?}", v.genesis, self.genesis)));
		}
		if v.adapter != price.chain_adapter {
			return Err(Error::Forbidden(format!("the voucher is for adapter {}, this model is adapter {}", v.adapter, price.chain_adapter)));
		}
		if v.max_price_per_1k < price.price_per_1k {
			return Err(Error::Forbidden(format!(
				"the voucher caps the price at {} per 1k tokens; this adapter costs {}",
				v.max_price_per_1k, price.price_per_1k
			)));
		}
		if prompt >= v.max_tokens as usize {
			return Err(Error::Forbidden(format!(
				"the prompt is {prompt} tokens; the voucher pays for {} in all",
				v.max_tokens
			)));
		}
		let best = self.stats.best_block.load(Ordering::Relaxed);
		if best > 0 && v.expires_at < best.saturating_add(self.min_validity) {
			return Err(Error::Forbidden(format!(
				"the voucher expires at block {}; it must be valid until at least block {} for its receipt to land",
				v.expires_at,
				best + self.min_validity
			)));
		}
		if self.taken.lock().expect("lock").contains(&v.request) {
			return Err(Error::Conflict(format!("request id {} was already served", hex::encode(v.request))));
		}
		let params = *self.params.lock().expect("lock");
		// The chain measures the lifetime from the block the batch lands in, the next block at
		// the earliest; this engine's best block may be a block behind its client's.
		let longest = best.saturating_add(params.max_voucher_lifetime).saturating_add(1);
		if best > 0 && params.max_voucher_lifetime > 0 && v.expires_at > longest {
			return Err(Error::Forbidden(format!(
				"the voucher expires at block {}, more than the chain's longest voucher lifetime ({} blocks) after block {best}: the chain would refuse its receipt",
				v.expires_at, params.max_voucher_lifetime
			)));
		}
		if let Some(why) = backlog_refusal(
			self.stats.pending.load(Ordering::Relaxed),
			self.stats.commit_rate(),
			self.stats.block_time(),
			best,
			v.expires_at,
		) {
			self.stats.refused_backlog.fetch_add(1, Ordering::Relaxed);
			return Err(Error::Busy(why));
		}
		let allowed = max_tokens.min(v.max_tokens as usize - prompt);
		let worst = inference_fee(price.price_per_1k, (prompt + allowed) as u32, params.min_fee);
		self.admit_on_channel(&sv, worst, best)?;
		if !self.taken.lock().expect("lock").insert(v.request) {
			self.release_worst(&sv.payer, worst);
			return Err(Error::Conflict(format!("request id {} was already served", hex::encode(v.request))));
		}
		self.running.lock().expect("lock").insert(v.request, (sv.payer.clone(), v.seq, worst));
		Ok((sv, allowed))
	}

	/// Checks the voucher against the payer's channel and counts `worst` against it: `seq`
	/// above the last accepted, `cumulative` covering what the channel may owe plus `worst`, the
	/// channel's balance covering it too. Reads the channel from the chain when the engine has
	/// no live voucher of the payer or the balance it knew is short.
	fn admit_on_channel(&self, sv: &SignedVoucher, worst: Balance, best: BlockNumber) -> Result<()> {
		let v = &sv.voucher;
		let payer = &sv.payer;
		// What the engine knows of this voucher's channel, and whether it can go on from it.
		let same = |c: &Chan| c.last.voucher.channel == v.channel;
		let live = |c: &Chan| same(c) && (best == 0 || c.last.voucher.expires_at >= best);
		let snapshot = self.channels.lock().expect("lock").get(payer).cloned();
		let need_read = self.view.is_some() && snapshot.as_ref().filter(|c| live(c)).is_none_or(|c| c.budget < worst);
		// Read outside the channels' lock: a slow node must not stall every admission.
		let on_chain = if need_read { Some(self.read_channel(payer)?) } else { None };
		if let Some(ch) = &on_chain {
			if let Some(at) = ch.closes_at {
				return Err(Error::PaymentRequired(format!(
					"{payer}'s payment channel to this operator is closing (at block {at}): open a new one once it has closed"
				)));
			}
			if v.channel != ch.id {
				return Err(Error::Forbidden(format!(
					"the voucher is for channel {}; {payer}'s open channel to this operator is {}",
					v.channel, ch.id
				)));
			}
		}
		let mut channels = self.channels.lock().expect("lock");
		let known = channels.get(payer).cloned().filter(|c| same(c));
		let live = known.clone().filter(|c| live(c));
		let unsettled = known.as_ref().map_or(0, |c| c.unsettled);
		match &live {
			Some(c) => {
				let last = &c.last.voucher;
				if v.seq <= last.seq {
					return Err(Error::Conflict(format!(
						"voucher {} is not above the last one accepted on this channel ({}): sign the next (GET /v1/channels/{payer})",
						v.seq, last.seq
					)));
				}
				let room = v.cumulative.saturating_sub(last.cumulative);
				if room < worst {
					return Err(Error::Forbidden(format!(
						"the voucher's cumulative {} leaves {room} over the last one's ({}); this request may cost {worst}",
						v.cumulative, last.cumulative
					)));
				}
			},
			None => {
				let floor_seq = known.as_ref().map_or(0, |c| c.last.voucher.seq).max(on_chain.map_or(0, |c| c.seq));
				if v.seq <= floor_seq {
					return Err(Error::Conflict(format!(
						"voucher {} is not above the channel's last ({floor_seq}): sign the next (GET /v1/channels/{payer})",
						v.seq
					)));
				}
				let owed = on_chain.map_or(0, |c| c.spent).saturating_add(unsettled);
				if v.cumulative < owed.saturating_add(worst) {
					return Err(Error::Forbidden(format!(
						"the voucher's cumulative {} does not cover what the channel has been charged or may owe ({owed}) plus this request's cost of up to {worst}",
						v.cumulative
					)));
				}
			},
		}
		let budget = match (on_chain, &live) {
			(Some(ch), _) => ch.balance.saturating_sub(unsettled),
			(None, Some(c)) if self.view.is_some() => c.budget,
			// Without a chain to read (journal only) the engine does not know the balance.
			(None, _) => Balance::MAX,
		};
		if budget < worst {
			return Err(Error::PaymentRequired(format!(
				"{payer}'s payment channel to this operator can pay {budget} more; this request may cost {worst}: top it up with `mnemo channel top-up {} <amount>`",
				self.operator
			)));
		}
		channels.insert(
			payer.clone(),
			Chan { last: sv.clone(), unsettled: unsettled.saturating_add(worst), budget: budget - worst },
		);
		Ok(())
	}

	/// The payer's channel from the chain; a payer without one is told so (and remembered for
	/// a few seconds, so that requests from keys with no channel cost one read, not one each).
	fn read_channel(&self, payer: &AccountId) -> Result<Channel> {
		let no_channel = || {
			Error::PaymentRequired(format!(
				"{payer} has no payment channel to this operator ({}): open one with `mnemo channel open {} <deposit>`",
				self.operator, self.operator
			))
		};
		if self.absent.lock().expect("lock").get(payer).is_some_and(|at| at.elapsed() < ABSENT_FOR) {
			return Err(no_channel());
		}
		let view = self.view.as_ref().ok_or_else(|| Error::Internal("no chain to read channels from".into()))?;
		let read = view.lock().expect("lock").channel(payer)?;
		let mut absent = self.absent.lock().expect("lock");
		match read {
			None => {
				absent.retain(|_, at| at.elapsed() < ABSENT_FOR);
				absent.insert(payer.clone(), std::time::Instant::now());
				Err(no_channel())
			},
			Some(ch) => {
				absent.remove(payer);
				Ok(ch)
			},
		}
	}

	/// Takes `amount` of a payer's channel back off what it may owe (a request that cost less
	/// than its worst case, or none at all).
	fn release_worst(&self, payer: &AccountId, amount: Balance) {
		if let Some(c) = self.channels.lock().expect("lock").get_mut(payer) {
			c.unsettled = c.unsettled.saturating_sub(amount);
			c.budget = c.budget.saturating_add(amount);
		}
	}

	/// The last voucher this engine accepted from `payer`, and what its channel may owe.
	pub fn channel(&self, payer: &AccountId) -> Option<ChannelView> {
		let c = self.channels.lock().expect("lock").get(payer).cloned()?;
		Some(ChannelView {
			voucher: c.last.to_header(),
			seq: c.last.voucher.seq,
			cumulative: c.last.voucher.cumulative.to_string(),
			expires_at: c.last.voucher.expires_at,
			unsettled: c.unsettled.to_string(),
		})
	}

	/// Sets the chain's parameters the meter uses (the flusher reads them; tests set them).
	pub fn set_params(&self, params: ChainParams) {
		*self.params.lock().expect("lock") = params;
	}

	/// Gives a request id back (the request never ran or produced nothing).
	pub fn release(&self, request: &RequestId) {
		self.taken.lock().expect("lock").remove(request);
		if let Some((payer, _, worst)) = self.running.lock().expect("lock").remove(request) {
			self.release_worst(&payer, worst);
		}
	}

	/// Journals the receipt of a finished request: the transcript into the blob store, the
	/// record into `pending/`, both durable before this returns.
	pub fn record(
		&self,
		sv: &SignedVoucher,
		price_per_1k: Balance,
		transcript: &[u8],
		input_tokens: u32,
		output_tokens: u32,
	) -> Result<ContentHash> {
		let hash = self.store.put_own(transcript)?;
		let fee = inference_fee(price_per_1k, input_tokens.saturating_add(output_tokens), self.params.lock().expect("lock").min_fee);
		let entry = Entry {
			seq: self.seq.fetch_add(1, Ordering::SeqCst),
			fee,
			record: InferenceRecord {
				payer: sv.payer.clone(),
				voucher: sv.voucher.clone(),
				signature: sv.signature.clone(),
				input_tokens,
				output_tokens,
				transcript: hash,
			},
			attempts: 0,
		};
		write_atomic(&self.path("pending", &entry), &entry.encode())?;
		self.stats.pending.fetch_add(1, Ordering::Relaxed);
		// Only now, journaled, does it stop holding back the payer's later receipts.
		let worst = self.running.lock().expect("lock").remove(&sv.voucher.request).map_or(fee, |(_, _, w)| w);
		self.release_worst(&sv.payer, worst.saturating_sub(fee));
		Ok(hash)
	}

	fn path(&self, sub: &str, e: &Entry) -> PathBuf {
		self.dir.join(sub).join(format!("{:012}-{}.receipt", e.seq, hex::encode(e.record.voucher.request)))
	}

	/// The journal's entries in `sub`, oldest first.
	fn entries(&self, sub: &str) -> Result<Vec<Entry>> {
		let d = self.dir.join(sub);
		let mut v: Vec<Entry> =
			std::fs::read_dir(&d).map_err(Error::io(&d))?.flatten().filter_map(|e| read_entry(&e.path())).collect();
		v.sort_by_key(|e| e.seq);
		Ok(v)
	}

	fn pending(&self) -> Result<Vec<Entry>> {
		self.entries("pending")
	}

	/// The request ids of the receipts in `pending/`, `refused/` or `expired/`.
	pub fn list(&self, sub: &str) -> Vec<RequestId> {
		self.entries(sub).unwrap_or_default().into_iter().map(|e| e.record.voucher.request).collect()
	}

	/// Moves a pending receipt to `sub` (`refused` or `expired`).
	fn finish(&self, e: Entry, sub: &str) -> Result<()> {
		let from = self.path("pending", &e);
		write_atomic(&self.path(sub, &e), &e.encode())?;
		std::fs::remove_file(&from).map_err(Error::io(&from))?;
		self.stats.pending.fetch_sub(1, Ordering::Relaxed);
		self.settled(&e, sub);
		Ok(())
	}

	/// A receipt is no longer owed: charged in a batch that landed (`recorded`: the chain's
	/// channel shows it now) or never to be. A refused or expired receipt may mean the channel
	/// changed (closed, drained): the next request of the payer reads it again.
	fn settled(&self, e: &Entry, how: &str) {
		if let Some(c) = self.channels.lock().expect("lock").get_mut(&e.record.payer) {
			if c.last.voucher.channel == e.record.voucher.channel {
				c.unsettled = c.unsettled.saturating_sub(e.fee);
			}
			if how != "recorded" {
				c.budget = 0;
			}
		}
		let c = match how {
			"recorded" => &self.stats.recorded,
			"refused" => &self.stats.refused,
			_ => &self.stats.expired,
		};
		c.fetch_add(1, Ordering::Relaxed);
	}

	/// Flushes every `interval` on a thread of its own, connecting with `connect` (again after
	/// any error), attributing with `attributor`. A second thread keeps the best block that
	/// admission checks vouchers' expiry against fresh (every second, on a connection of its
	/// own): a flush that attributes thousands of receipts takes many blocks, and vouchers
	/// checked against the block it started at would be refused as too long-lived.
	pub fn spawn_flusher(
		self: &Arc<Self>,
		interval: Duration,
		connect: impl Fn() -> Result<Box<dyn ReceiptChain>> + Send + Sync + 'static,
		attributor: Arc<dyn Attributor>,
	) {
		let connect = Arc::new(connect);
		let (head, connect_head) = (Arc::downgrade(self), connect.clone());
		std::thread::Builder::new()
			.name("mnemo-chain-head".into())
			.spawn(move || {
				let mut chain: Option<Box<dyn ReceiptChain>> = None;
				let mut clock = BlockClock::default();
				loop {
					std::thread::sleep(interval.min(Duration::from_secs(1)));
					let Some(m) = head.upgrade() else { return };
					if chain.is_none() {
						chain = connect_head().ok();
					}
					match chain.as_deref_mut().map(|c| c.best_block()) {
						Some(Ok(best)) => {
							m.stats.best_block.store(best, Ordering::Relaxed);
							if let Some(ms) = clock.observe(best, std::time::Instant::now()) {
								m.stats.block_ms.store(ms, Ordering::Relaxed);
							}
						},
						_ => chain = None,
					}
				}
			})
			.expect("start the chain-head reader");
		let meter = Arc::downgrade(self);
		std::thread::Builder::new()
			.name("mnemo-receipts".into())
			.spawn(move || {
				let mut chain: Option<Box<dyn ReceiptChain>> = None;
				let mut pause = interval;
				loop {
					std::thread::sleep(pause);
					let Some(m) = meter.upgrade() else { return };
					if chain.is_none() {
						match connect() {
							Ok(c) => chain = Some(c),
							Err(e) => {
								m.stats.flush_errors.fetch_add(1, Ordering::Relaxed);
								tracing::warn!("receipts: cannot reach the chain: {e}");
								continue;
							},
						}
					}
					match m.flush(chain.as_deref_mut().expect("connected"), attributor.as_ref()) {
						// A backlog: the next batch is built at once, not after `interval`.
						Ok(pending) if pending > 0 => pause = Duration::from_millis(100).min(interval),
						Ok(_) => pause = interval,
						Err(e) => {
							pause = interval;
							m.stats.flush_errors.fetch_add(1, Ordering::Relaxed);
							tracing::warn!("receipts: flush failed, will retry: {e}");
							chain = None;
						},
					}
				}
			})
			.expect("start the receipt flusher");
	}
}

fn read_entry(path: &Path) -> Option<Entry> {
	if path.extension().is_none_or(|e| e != "receipt") {
		return None;
	}
	let bytes = std::fs::read(path).ok()?;
	Entry::decode(&mut &bytes[..]).ok()
}

/// The real chain: a node's RPC and the operator's key.
pub struct NodeChain {
	pub client: mnemo_client::Client,
	pub operator: mnemo_client::Signer,
	pub timeout: Duration,
}

impl ReceiptChain for NodeChain {
	fn best_block(&mut self) -> Result<BlockNumber> {
		self.client.best_number().map_err(chain_err)
	}

	fn channel(&mut self, payer: &AccountId) -> Result<Option<Channel>> {
		self.client.channel(payer, &self.operator.account()).map_err(chain_err)
	}

	fn params(&mut self) -> Result<ChainParams> {
		let p = self.client.attribution_params().map_err(chain_err)?;
		Ok(p.map_or_else(ChainParams::default, |p| ChainParams { min_fee: p.min_fee, max_voucher_lifetime: p.max_voucher_lifetime }))
	}

	fn terms(&mut self) -> Result<BatchTerms<AccountId>> {
		self.client.batch_terms().map_err(chain_err)
	}

	fn adapter_facts(&mut self, adapter: AdapterId) -> Result<Option<AdapterFacts<AccountId>>> {
		self.client.adapter_facts(adapter).map_err(chain_err)
	}

	fn next_batch(&mut self) -> Result<BatchId> {
		self.client.next_batch().map_err(chain_err)
	}

	fn head(&mut self) -> Result<Option<BatchBase>> {
		self.client.operator_head(&self.operator.account()).map_err(chain_err)
	}

	fn batch(&mut self, id: BatchId) -> Result<Option<BatchRecord>> {
		self.client.batch(id).map_err(chain_err)
	}

	fn submit_batch(&mut self, header: &BatchHeader, charges: &[PayerCharge]) -> Result<()> {
		let call = mnemo_client::Client::submit_batch_call(header, charges);
		self.client.submit_and_wait(&self.operator, &call, self.timeout).map(|_| ()).map_err(chain_err)
	}

	fn refusal(&mut self, header: &BatchHeader, charges: &[PayerCharge]) -> Option<String> {
		let call = mnemo_client::Client::submit_batch_call(header, charges);
		Some(match self.client.dry_run(&self.operator, &call) {
			Ok(()) => "a dry run on the best block now applies it (what failed it has passed)".into(),
			Err(e) => format!("a dry run on the best block says: {e}"),
		})
	}

	fn open_sample(&mut self, batch: BatchId, leaves: &[Opened]) -> Result<()> {
		let call = mnemo_client::Client::open_sample_call(batch, leaves);
		self.client.submit_and_wait(&self.operator, &call, self.timeout).map(|_| ()).map_err(chain_err)
	}
}

fn chain_err(e: mnemo_client::Error) -> Error {
	Error::Internal(format!("chain: {e}"))
}

#[cfg(test)]
mod tests {
	use super::*;
	use mnemo_client::{Signer, VoucherOf};

	#[test]
	fn the_block_clock_measures_whole_blocks_and_restarts_its_window() {
		let t0 = std::time::Instant::now();
		let at = |ms: u64| t0 + Duration::from_millis(ms);
		let mut c = BlockClock::default();
		// Block 10 was seen part-way through: nothing is measured from it.
		assert_eq!(c.observe(10, at(0)), None);
		assert_eq!(c.observe(10, at(4_000)), None);
		// From the moment block 11 arrives, whole blocks.
		assert_eq!(c.observe(11, at(5_000)), None);
		assert_eq!(c.observe(11, at(9_000)), None, "no new block, no figure");
		assert_eq!(c.observe(12, at(11_000)), Some(6_000));
		assert_eq!(c.observe(14, at(23_000)), Some(6_000));
		// The window restarts after 20 blocks: a change of pace shows within the next window.
		assert_eq!(c.observe(31, at(125_000)), Some(6_000));
		assert_eq!(c.observe(32, at(127_000)), Some(2_000));
		// Never 0, even for blocks closer than a millisecond apart.
		assert_eq!(c.observe(60, at(125_010)), Some(1));
	}

	/// A chain that checks and charges batches all or nothing as the pallet does, can fail
	/// after including one (a crash between submission and bookkeeping), draws and checks
	/// samples, and holds payers' channels.
	#[derive(Default)]
	struct Fake {
		best: BlockNumber,
		channels: BTreeMap<AccountId, Channel>,
		channel_reads: u32,
		batches: BTreeMap<BatchId, BatchRecord>,
		next: BatchId,
		submissions: u32,
		/// The next submission lands, then the connection drops.
		fail_after_include: bool,
		lost: bool,
		/// Batches opened: their sampled leaves' request ids.
		opened: Vec<(BatchId, Vec<RequestId>)>,
		/// The operator's latest batch, which its next must extend.
		head: Option<BatchBase>,
		/// At the next submission, the latest batch is refunded first (the head goes back).
		refund_head_on_submit: bool,
		/// The next submission is lost before it reaches a block.
		drop_next: bool,
		/// The minimum fee of the terms in force (governance may change it).
		min_fee: Balance,
	}

	const ADAPTER: AdapterId = 1;

	impl Fake {
		/// The terms in force: the default split, a fixed treasury, `min_fee` as governance set it.
		fn terms(&self) -> BatchTerms<AccountId> {
			BatchTerms { split: Default::default(), treasury: [9; 32].into(), min_fee: self.min_fee, top_k: 4 }
		}
	}

	fn contributor() -> AccountId {
		Signer::from_suri("//Contributor").unwrap().account()
	}

	impl ReceiptChain for Arc<Mutex<Fake>> {
		fn best_block(&mut self) -> Result<BlockNumber> {
			Ok(self.lock().unwrap().best)
		}
		fn channel(&mut self, payer: &AccountId) -> Result<Option<Channel>> {
			let mut f = self.lock().unwrap();
			f.channel_reads += 1;
			Ok(f.channels.get(payer).copied())
		}
		fn params(&mut self) -> Result<ChainParams> {
			Ok(ChainParams { min_fee: 0, max_voucher_lifetime: 2_000 })
		}
		fn terms(&mut self) -> Result<BatchTerms<AccountId>> {
			Ok(self.lock().unwrap().terms())
		}
		fn adapter_facts(&mut self, adapter: AdapterId) -> Result<Option<AdapterFacts<AccountId>>> {
			use mnemo_primitives::{batch::ContributionOwners, engine::{DataRef, DatanetData}};
			let owners = ContributionOwners { contributor: contributor(), datanet_owner: [8; 32].into() };
			Ok((adapter == ADAPTER).then(|| AdapterFacts {
				adapter,
				adapter_hash: ContentHash([1; 32]),
				owner: [7; 32].into(),
				datanets: vec![DatanetData { datanet: 0, version: 1, contributions: vec![DataRef { contribution: 100, content_hash: ContentHash([2; 32]) }] }],
				earning: vec![(100, owners)],
			}))
		}
		fn next_batch(&mut self) -> Result<BatchId> {
			let mut f = self.lock().unwrap();
			if std::mem::take(&mut f.lost) {
				return Err(Error::Internal("connection lost".into()));
			}
			Ok(f.next)
		}
		fn head(&mut self) -> Result<Option<BatchBase>> {
			Ok(self.lock().unwrap().head)
		}
		fn batch(&mut self, id: BatchId) -> Result<Option<BatchRecord>> {
			Ok(self.lock().unwrap().batches.get(&id).cloned())
		}
		fn submit_batch(&mut self, header: &BatchHeader, charges: &[PayerCharge]) -> Result<()> {
			let mut f = self.lock().unwrap();
			f.submissions += 1;
			if std::mem::take(&mut f.refund_head_on_submit) {
				let (best, head) = (f.best, f.head.expect("a batch to refund"));
				let b = f.batches.get_mut(&head.batch).unwrap();
				b.phase = mnemo_client::BatchPhase::Refunded { at: best, why: 0 };
				f.head = b.base;
			}
			if std::mem::take(&mut f.drop_next) {
				return Err(Error::Internal("connection lost before inclusion".into()));
			}
			if header.prev != f.head.map(|h| h.batch) {
				// Included, not landed: it does not extend the operator's latest batch.
				return Ok(());
			}
			let terms = f.terms();
			if header.terms != terms.hash() {
				// Included, not landed: split by terms no longer in force.
				return Ok(());
			}
			let mut channels = f.channels.clone();
			for c in charges {
				assert!(c.voucher.signed_by(&c.signature, &c.payer), "a charge the payer signed");
				let Some(ch) = channels.get_mut(&c.payer) else { return Ok(()) };
				let holds = ch.id == c.voucher.channel &&
					ch.closes_at.is_none() && c.voucher.seq > ch.seq &&
					ch.spent + c.amount <= c.voucher.cumulative &&
					ch.balance >= c.amount;
				if !holds {
					// Included, not landed: all or nothing.
					return Ok(());
				}
				(ch.spent, ch.balance, ch.seq) = (ch.spent + c.amount, ch.balance - c.amount, c.voucher.seq);
			}
			f.channels = channels;
			let id = f.next;
			f.next += 1;
			let record = BatchRecord {
				operator: Signer::from_suri("//Alice").unwrap().account(),
				header: header.clone(),
				fees: charges.iter().map(|c| c.amount).sum(),
				submitted_at: f.best,
				base: f.head,
				terms,
				phase: mnemo_client::BatchPhase::Sampling { at: f.best + 2 },
				panel: vec![],
				sample: vec![],
			};
			f.batches.insert(id, record);
			f.head = Some(BatchBase { batch: id, blob: header.blob, payouts_root: header.payouts_root });
			if std::mem::take(&mut f.fail_after_include) {
				f.lost = true;
				return Err(Error::Internal("connection lost".into()));
			}
			Ok(())
		}
		fn open_sample(&mut self, batch: BatchId, leaves: &[Opened]) -> Result<()> {
			let mut f = self.lock().unwrap();
			let best = f.best;
			let b = f.batches.get_mut(&batch).expect("a batch on chain");
			assert_eq!(leaves.len(), b.sample.len());
			for ((leaf, proof), i) in leaves.iter().zip(&b.sample) {
				assert_eq!(proof.index, *i);
				assert!(mnemo_primitives::batch::verify(&b.header.root, b.header.leaves, leaf.hash(), proof));
			}
			b.phase = mnemo_client::BatchPhase::Commit { until: best + 5 };
			let requests = leaves.iter().map(|(l, _)| l.voucher.request).collect();
			f.opened.push((batch, requests));
			Ok(())
		}
	}

	/// The engine's attribution, faked: half of every output to contribution 100, except a
	/// transcript that says "unattributable".
	struct FakeAttributor;
	impl Attributor for FakeAttributor {
		fn attribute(&self, req: &mnemo_primitives::engine::AttributionRequest) -> Result<mnemo_primitives::engine::AttributionResponse> {
			if req.transcript == ContentHash::of(b"unattributable") {
				return Err(Error::NotFound("no such transcript".into()));
			}
			Ok(mnemo_primitives::engine::AttributionResponse {
				contributions: vec![mnemo_primitives::engine::ContributionScore { contribution: 100, score: 0.5 }],
				residual: 0.5,
				method: "fake".into(),
				method_version: 1,
				digest: req.transcript,
				tokens: 0,
			})
		}
	}

	fn flush(m: &Meter, chain: &Arc<Mutex<Fake>>) -> Result<usize> {
		m.flush(&mut chain.clone(), &FakeAttributor)
	}

	/// A channel with room for everything the tests spend.
	fn roomy() -> Channel {
		Channel { id: 0, balance: 1_000_000, spent: 0, seq: 0, closes_at: None }
	}

	/// The request ids of every landed batch's leaves, in order.
	fn batched(m: &Meter, chain: &Arc<Mutex<Fake>>) -> Vec<Vec<RequestId>> {
		let f = chain.lock().unwrap();
		f.batches.values().map(|b| m.blob(&b.header).unwrap().leaves.iter().map(|l| l.voucher.request).collect()).collect()
	}

	fn signed(payer: &Signer, operator: &Signer, request: u8, adapter: u32, seq: u64, cumulative: Balance) -> String {
		let v: VoucherOf = mnemo_primitives::Voucher {
			request: [request; 16],
			operator: operator.account(),
			adapter,
			max_price_per_1k: 100,
			max_tokens: 50,
			channel: 0,
			seq,
			cumulative,
			expires_at: 1_000,
			genesis: Default::default(),
		};
		SignedVoucher::sign(payer, v).to_header()
	}

	/// The `request`-th voucher of the payer: each consents to 10 more (a request of at most 50
	/// tokens at 100 per 1,000 costs at most 5).
	fn voucher(payer: &Signer, operator: &Signer, request: u8, adapter: u32) -> String {
		signed(payer, operator, request, adapter, u64::from(request) + 1, 10 * (Balance::from(request) + 1))
	}

	#[test]
	fn a_batch_is_built_for_a_third_of_the_opening_period_within_bounds() {
		use batching::{build_budget, BUILD_BUDGET, MAX_BUILD_BUDGET};
		assert_eq!(build_budget(None), BUILD_BUDGET, "block time not measured yet");
		assert_eq!(build_budget(Some(2.0)), Duration::from_secs_f64(20.0 / 3.0));
		assert_eq!(build_budget(Some(6.0)), Duration::from_secs(20));
		assert_eq!(build_budget(Some(0.5)), BUILD_BUDGET);
		assert_eq!(build_budget(Some(60.0)), MAX_BUILD_BUDGET);
	}

	#[test]
	fn the_backlog_is_weighed_against_the_time_a_voucher_has_left() {
		// Unmeasured pace or block time, or no backlog: nothing to weigh.
		assert_eq!(backlog_refusal(100, None, Some(6.0), 10, 1_000), None);
		assert_eq!(backlog_refusal(100, Some(1.0), None, 10, 1_000), None);
		assert_eq!(backlog_refusal(0, Some(0.001), Some(6.0), 10, 1_000), None);
		// 600 receipts at 2/s is 300 s, which may take half the time a voucher has left once
		// its batch is built and lands (6 blocks of 6 s): one 160 blocks ahead has 154 (924 s),
		// one 106 ahead 100 (600 s, exactly twice the backlog), one 105 ahead 99 (594 s).
		assert_eq!(backlog_refusal(600, Some(2.0), Some(6.0), 100, 260), None);
		assert_eq!(backlog_refusal(600, Some(2.0), Some(6.0), 100, 206), None);
		let why = backlog_refusal(600, Some(2.0), Some(6.0), 100, 205).expect("594 s left for 300 s of backlog");
		assert!(why.contains("600 receipts") && why.contains("2.0 receipts/s") && why.contains("594 s"), "{why}");
		// A voucher that expires while its batch would be landing.
		assert!(backlog_refusal(1, Some(1_000.0), Some(6.0), 100, 102).is_some());
	}

	#[test]
	fn a_request_whose_receipt_the_backlog_would_outlast_is_refused_with_503_and_nothing_taken() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, payer) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let price = Price { chain_adapter: ADAPTER, price_per_1k: 10 };
		let m = Meter::open(&dir.path().join("receipts"), op.account(), Default::default(), store, None).unwrap();
		for i in 0..3u8 {
			let (sv, _) = m.admit(Some(&voucher(&payer, &op, i, ADAPTER)), &price, 10, 10).unwrap();
			m.record(&sv, price.price_per_1k, format!("t{i}").as_bytes(), 10, 5).unwrap();
		}
		// Three receipts wait; the flusher commits one every 100 s; blocks are 6 s; the vouchers
		// expire at block 1,000 and the head is at 950: 264 s left once a batch is built and
		// lands, half of it against 300 s of backlog.
		m.stats.best_block.store(950, Ordering::Relaxed);
		m.stats.block_ms.store(6_000, Ordering::Relaxed);
		m.stats.observe_commit_rate(0.01);
		let err = m.admit(Some(&voucher(&payer, &op, 3, ADAPTER)), &price, 10, 10).unwrap_err();
		assert_eq!(err.status(), 503, "{err}");
		assert!(err.to_string().contains("settlement backlog: 3 receipts"), "{err}");
		assert_eq!(m.stats.refused_backlog.load(Ordering::Relaxed), 1);
		// Nothing was taken: with the flusher ten times as fast, the same voucher is admitted.
		m.stats.commit_rate_milli.store(100, Ordering::Relaxed);
		let (sv, _) = m.admit(Some(&voucher(&payer, &op, 3, ADAPTER)), &price, 10, 10).unwrap();
		assert_eq!(sv.voucher.seq, 4);
	}

	#[test]
	fn receipts_survive_a_restart_and_land_once() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, payer) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let price = Price { chain_adapter: ADAPTER, price_per_1k: 10 };
		let open = || Meter::open(&dir.path().join("receipts"), op.account(), Default::default(), store.clone(), None).unwrap();
		let chain = Arc::new(Mutex::new(Fake { best: 5, fail_after_include: true, ..Default::default() }));
		chain.lock().unwrap().channels.insert(payer.account(), roomy());
		{
			let m = open();
			for i in 0..3u8 {
				let (sv, allowed) = m.admit(Some(&voucher(&payer, &op, i, ADAPTER)), &price, 10, 100).unwrap();
				assert_eq!(allowed, 40, "max_tokens lowered to the voucher's cap");
				m.record(&sv, price.price_per_1k, format!("t{i}").as_bytes(), 10, 5).unwrap();
			}
			// A receipt the engine cannot attribute (its transcript is not one it can read).
			let (sv, _) = m.admit(Some(&voucher(&payer, &op, 9, ADAPTER)), &price, 10, 10).unwrap();
			m.record(&sv, price.price_per_1k, b"unattributable", 10, 5).unwrap();
			// The chain includes the batch, then the connection drops before bookkeeping.
			assert!(flush(&m, &chain).is_err());
			assert_eq!(m.list("pending").len(), 1, "the batch is journaled; the unattributable one waits");
		} // the engine stops
		let m = open();
		let err = m.admit(Some(&voucher(&payer, &op, 1, ADAPTER)), &price, 10, 10).unwrap_err();
		assert_eq!(err.status(), 409, "a request id survives the restart: {err}");
		// The channel's last voucher survives it too: the next one continues from it.
		let view = m.channel(&payer.account()).expect("the payer's channel, from the journal");
		assert_eq!((view.seq, view.cumulative.as_str()), (10, "100"));
		let err = m.admit(Some(&signed(&payer, &op, 20, ADAPTER, 10, 200)), &price, 10, 10).unwrap_err();
		assert_eq!(err.status(), 409, "a voucher number used before the restart: {err}");
		// After the restart the landed batch is found, not submitted again; the receipt that
		// cannot be attributed is tried MAX_ATTEMPTS times, then set aside.
		while flush(&m, &chain).unwrap() > 0 {}
		assert_eq!(chain.lock().unwrap().submissions, 1, "submitted once");
		assert_eq!(batched(&m, &chain), vec![vec![[0; 16], [1; 16], [2; 16]]]);
		assert_eq!(m.list("refused"), vec![[9; 16]]);
		assert_eq!(m.stats.recorded.load(Ordering::Relaxed), 3);
		assert_eq!(m.channel(&payer.account()).unwrap().unsettled, "0", "nothing owed once all is settled");
		// The chain charged the payer's channel what the leaves cost: 15 tokens at 10 per
		// 1,000 is 1 each (rounded up).
		let ch = chain.lock().unwrap().channels[&payer.account()];
		assert_eq!((ch.spent, ch.seq), (3, 3));
	}

	#[test]
	fn vouchers_are_checked_before_anything_runs() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, payer) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let m = Meter::open(&dir.path().join("r"), op.account(), Default::default(), store, None).unwrap();
		let price = Price { chain_adapter: 1, price_per_1k: 10 };
		let status = |h: Option<&str>, p: &Price, prompt: usize| m.admit(h, p, prompt, 10).map(|_| ()).unwrap_err().status();
		assert_eq!(status(None, &price, 5), 401, "no voucher");
		assert_eq!(status(Some("zz"), &price, 5), 400, "not hex");
		let good = voucher(&payer, &op, 1, 1);
		let mut forged = SignedVoucher::from_header(&good).unwrap();
		forged.voucher.max_tokens = 5_000;
		assert_eq!(status(Some(&forged.to_header()), &price, 5), 401, "changed after signing");
		assert_eq!(status(Some(&voucher(&payer, &payer, 2, 1)), &price, 5), 403, "another operator");
		assert_eq!(status(Some(&voucher(&payer, &op, 3, 7)), &price, 5), 403, "another adapter");
		let dear = Price { price_per_1k: 101, ..price.clone() };
		assert_eq!(status(Some(&voucher(&payer, &op, 4, 1)), &dear, 5), 403, "price above the cap");
		assert_eq!(status(Some(&voucher(&payer, &op, 5, 1)), &price, 50), 403, "prompt alone over the token cap");
		m.stats.best_block.store(995, Ordering::Relaxed);
		assert_eq!(status(Some(&voucher(&payer, &op, 6, 1)), &price, 5), 403, "expires before it can land");
		m.stats.best_block.store(0, Ordering::Relaxed);
		assert!(m.admit(Some(&good), &price, 5, 10).is_ok());
		assert_eq!(status(Some(&good), &price, 5), 409, "the same request twice");
	}

	#[test]
	fn the_payers_channel_must_pay_for_each_request() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, payer) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let chain = Arc::new(Mutex::new(Fake { best: 5, ..Default::default() }));
		let m = Meter::open(&dir.path().join("r"), op.account(), Default::default(), store, Some(Box::new(chain.clone()))).unwrap();
		m.set_params(ChainParams { min_fee: 2, max_voucher_lifetime: 2_000 });
		// 45 tokens at most at 100 per 1,000: up to 5 (4.5 rounded up).
		let price = Price { chain_adapter: 1, price_per_1k: 100 };
		let admit = |h: &str| m.admit(Some(h), &price, 5, 40);
		let status = |h: &str| admit(h).map(|_| ()).unwrap_err().status();

		// No channel on chain.
		let ferdie = Signer::from_suri("//Ferdie").unwrap();
		assert_eq!(status(&signed(&ferdie, &op, 1, 1, 1, 100)), 402);
		// A channel that has been charged 30 and has 12 left.
		let ch = Channel { id: 0, balance: 12, spent: 30, seq: 7, closes_at: None };
		chain.lock().unwrap().channels.insert(payer.account(), ch);
		assert_eq!(status(&signed(&payer, &op, 1, 1, 7, 100)), 409, "seq not above the channel's");
		assert_eq!(status(&signed(&payer, &op, 1, 1, 8, 34)), 403, "cumulative short of 30 + 5");
		let (sv, _) = admit(&signed(&payer, &op, 1, 1, 8, 35)).unwrap();
		assert_eq!(sv.voucher.seq, 8);
		// From here the engine counts on its own: no read while the balance it knew lasts.
		let reads = chain.lock().unwrap().channel_reads;
		assert_eq!(status(&signed(&payer, &op, 2, 1, 8, 100)), 409, "the same voucher number again");
		assert_eq!(status(&signed(&payer, &op, 2, 1, 9, 39)), 403, "consent must grow by this request's cost");
		admit(&signed(&payer, &op, 2, 1, 9, 40)).unwrap();
		assert_eq!(chain.lock().unwrap().channel_reads, reads);
		// 12 − 5 − 5 leaves 2: the third request could cost 5. The engine reads the channel
		// again (the payer may have topped it up); it did not.
		assert_eq!(status(&signed(&payer, &op, 3, 1, 10, 45)), 402, "balance short");
		assert_eq!(chain.lock().unwrap().channel_reads, reads + 1);
		// A request that produced nothing gives its worst case back; one that cost less gives
		// back the difference.
		m.release(&[2; 16]);
		let view = m.channel(&payer.account()).unwrap();
		assert_eq!((view.seq, view.unsettled.as_str()), (9, "5"));
		m.record(&sv, price.price_per_1k, b"t", 5, 5).unwrap();
		assert_eq!(m.channel(&payer.account()).unwrap().unsettled, "2", "10 tokens cost the minimum fee, 2");
		admit(&signed(&payer, &op, 3, 1, 10, 50)).unwrap();
		// A receipt the chain would refuse (here: the channel drained under it) makes the engine
		// read the channel again before the payer's next request.
		chain.lock().unwrap().channels.insert(payer.account(), Channel { balance: 0, ..ch });
		while flush(&m, &chain).unwrap() > 0 {}
		assert_eq!(m.list("refused").len(), 1);
		assert_eq!(chain.lock().unwrap().submissions, 0, "nothing the chain would refuse is sent");
		chain.lock().unwrap().channels.insert(payer.account(), ch);
		let reads = chain.lock().unwrap().channel_reads;
		admit(&signed(&payer, &op, 8, 1, 11, 60)).unwrap();
		assert_eq!(chain.lock().unwrap().channel_reads, reads + 1);
		// Valid for longer than the chain allows: its receipt would be refused.
		m.set_params(ChainParams { min_fee: 2, max_voucher_lifetime: 100 });
		assert_eq!(status(&signed(&payer, &op, 9, 1, 12, 70)), 403, "expires past best + the longest lifetime");
		m.set_params(ChainParams { min_fee: 2, max_voucher_lifetime: 2_000 });
		// A voucher for another channel between the same parties (one closed before) is refused.
		let dave = Signer::from_suri("//Dave").unwrap();
		chain.lock().unwrap().channels.insert(dave.account(), Channel { id: 3, ..ch });
		assert_eq!(status(&signed(&dave, &op, 10, 1, 8, 100)), 403, "a voucher for channel 0; the open one is 3");
		// Keys with no channel cost one read, not one each.
		let eve = Signer::from_suri("//Eve").unwrap();
		let reads = chain.lock().unwrap().channel_reads;
		assert_eq!(status(&signed(&eve, &op, 11, 1, 1, 100)), 402);
		assert_eq!(status(&signed(&eve, &op, 12, 1, 2, 100)), 402);
		assert_eq!(chain.lock().unwrap().channel_reads, reads + 1);
		// A closing channel takes no new request.
		let carol = Signer::from_suri("//Charlie").unwrap();
		chain.lock().unwrap().channels.insert(carol.account(), Channel { closes_at: Some(50), ..ch });
		assert_eq!(status(&signed(&carol, &op, 4, 1, 8, 1_000)), 402, "closing");
	}

	#[test]
	fn a_payers_receipts_are_flushed_in_voucher_order_never_past_one_still_running() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, payer) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let m = Meter::open(&dir.path().join("r"), op.account(), Default::default(), store, None).unwrap();
		let price = Price { chain_adapter: ADAPTER, price_per_1k: 10 };
		let chain = Arc::new(Mutex::new(Fake { best: 5, ..Default::default() }));
		chain.lock().unwrap().channels.insert(payer.account(), roomy());
		let svs: Vec<SignedVoucher> =
			(0..3u8).map(|i| m.admit(Some(&voucher(&payer, &op, i, ADAPTER)), &price, 5, 10).unwrap().0).collect();
		// Vouchers 2 and 3 finish first; voucher 1 is still running.
		m.record(&svs[2], 10, b"c", 5, 5).unwrap();
		m.record(&svs[1], 10, b"b", 5, 5).unwrap();
		assert_eq!(flush(&m, &chain).unwrap(), 2, "both wait behind the running request");
		assert_eq!(chain.lock().unwrap().submissions, 0);
		m.record(&svs[0], 10, b"a", 5, 5).unwrap();
		assert_eq!(flush(&m, &chain).unwrap(), 0);
		assert_eq!(batched(&m, &chain), vec![vec![[0; 16], [1; 16], [2; 16]]], "in voucher order");
	}

	#[test]
	fn a_batch_splits_every_fee_opens_its_sample_and_is_followed_to_its_end() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let op = Signer::from_suri("//Alice").unwrap();
		let payers: Vec<Signer> = ["//Bob", "//Charlie"].iter().map(|s| Signer::from_suri(s).unwrap()).collect();
		let m = Meter::open(&dir.path().join("r"), op.account(), Default::default(), store, None).unwrap();
		let price = Price { chain_adapter: ADAPTER, price_per_1k: 100 };
		let chain = Arc::new(Mutex::new(Fake { best: 5, ..Default::default() }));
		for (n, p) in payers.iter().enumerate() {
			chain.lock().unwrap().channels.insert(p.account(), roomy());
			for i in 0..3u8 {
				let request = i + 10 * n as u8;
				let (sv, _) = m.admit(Some(&signed(p, &op, request, ADAPTER, u64::from(i) + 1, 100 * (u64::from(i) + 1) as u128)), &price, 5, 10).unwrap();
				m.record(&sv, price.price_per_1k, &[request], 20, 30).unwrap();
			}
		}
		assert_eq!(flush(&m, &chain).unwrap(), 0);
		let b = chain.lock().unwrap().batches[&0].clone();
		let blob = m.blob(&b.header).unwrap();
		// One charge per payer: its last voucher, its leaves, what they cost (50 tokens at 100
		// per 1,000: 5 each).
		let f = chain.lock().unwrap();
		for p in &payers {
			let ch = f.channels[&p.account()];
			assert_eq!((ch.spent, ch.seq), (15, 3), "{}", p.account());
		}
		drop(f);
		assert_eq!(b.fees, 30);
		// Every leaf carries the engine's attribution; the payouts and the attestors' part add
		// up to the fees, to the unit; the contributor gets the contributors' part of every fee
		// (50% of 5, rounded down: 2).
		assert!(blob.leaves.iter().all(|l| l.shares.iter().map(|(c, p)| (*c, p.deconstruct())).collect::<Vec<_>>() == vec![(100, 500_000_000)] && l.digest == l.transcript));
		assert_eq!(blob.payouts.iter().map(|p| p.amount).sum::<Balance>() + blob.attestors, 30);
		assert_eq!(blob.payouts.iter().find(|p| p.who == contributor()).map(|p| p.amount), Some(12));
		// What a panel attestor checks of it whole holds: consent, caps, charges, payouts.
		// Each payer's three receipts together, where the batch's order put them.
		let (totals, _) = mnemo_primitives::batch::totals(&blob.leaves).unwrap();
		let charges: Vec<mnemo_primitives::batch::ChargedPayer<AccountId>> = payers
			.iter()
			.map(|p| {
				let first_leaf = totals.iter().find(|t| t.payer == p.account()).map(|t| t.first_leaf).unwrap();
				mnemo_primitives::batch::ChargedPayer { payer: p.account(), channel: 0, after: 0, seq: 3, amount: 15, first_leaf, receipts: 3 }
			})
			.collect();
		let (terms, facts) = (chain.clone().terms().unwrap(), chain.clone().adapter_facts(ADAPTER).unwrap());
		let none = mnemo_primitives::batch::merkle_root(&[]);
		assert_eq!(mnemo_primitives::batch::audit(&blob, &b.header, &op.account(), &charges, &[], &none, &terms, |_| facts.clone()), Ok(()));
		// The chain draws its sample: the flusher opens exactly those leaves, with their paths.
		{
			let mut f = chain.lock().unwrap();
			let b = f.batches.get_mut(&0).unwrap();
			(b.phase, b.sample) = (mnemo_client::BatchPhase::Open { until: 20, commit_until: 25 }, vec![1, 4]);
		}
		flush(&m, &chain).unwrap();
		flush(&m, &chain).unwrap();
		assert_eq!(chain.lock().unwrap().opened, vec![(0, vec![[1; 16], [11; 16]])], "opened once");
		// Paid out: the batch leaves the journal's open batches.
		chain.lock().unwrap().batches.get_mut(&0).unwrap().phase = mnemo_client::BatchPhase::Settled { at: 30 };
		flush(&m, &chain).unwrap();
		assert!(m.batch_files().unwrap().is_empty());
		assert_eq!(m.stats.batches_settled.load(Ordering::Relaxed), 1);
	}

	#[test]
	fn a_batch_adds_to_the_running_payouts_of_the_one_it_extends_and_is_rebuilt_when_that_one_is_refunded() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, bob) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let m = Meter::open(&dir.path().join("r"), op.account(), Default::default(), store, None).unwrap();
		let price = Price { chain_adapter: ADAPTER, price_per_1k: 100 };
		let chain = Arc::new(Mutex::new(Fake { best: 5, ..Default::default() }));
		chain.lock().unwrap().channels.insert(bob.account(), roomy());
		// Receipts `from..to` of Bob, 50 tokens at 100 per 1,000: 5 each, 2 of it the contributor's.
		let serve = |from: u8, to: u8| {
			for request in from..to {
				let (sv, _) = m.admit(Some(&voucher(&bob, &op, request, ADAPTER)), &price, 5, 10).unwrap();
				m.record(&sv, price.price_per_1k, &[request], 20, 30).unwrap();
			}
		};
		let running = |id: BatchId| {
			let b = chain.lock().unwrap().batches[&id].clone();
			let blob = m.blob(&b.header).unwrap();
			(blob.prev, blob.payouts.iter().find(|p| p.who == contributor()).map(|p| p.amount))
		};
		serve(0, 2);
		assert_eq!(flush(&m, &chain).unwrap(), 0);
		serve(2, 4);
		assert_eq!(flush(&m, &chain).unwrap(), 0);
		assert_eq!((running(0), running(1)), ((None, Some(4)), (Some(0), Some(8))), "the second adds to the first");
		// What a panel checks: the second batch against the first's committed running totals.
		let (first, second) = { let f = chain.lock().unwrap(); (f.batches[&0].clone(), f.batches[&1].clone()) };
		let prev = m.blob(&first.header).unwrap().payouts;
		let (terms, facts) = (chain.clone().terms().unwrap(), chain.clone().adapter_facts(ADAPTER).unwrap());
		let audit = |prev: &[mnemo_primitives::batch::Payout<AccountId>]| {
			let charge =
				mnemo_primitives::batch::ChargedPayer { payer: bob.account(), channel: 0, after: 2, seq: 4, amount: 10, first_leaf: 0, receipts: 2 };
			mnemo_primitives::batch::audit(&m.blob(&second.header).unwrap(), &second.header, &op.account(), &[charge], prev, &first.header.payouts_root, &terms, |_| facts.clone())
		};
		assert_eq!(audit(&prev), Ok(()));
		assert_eq!(audit(&[]), Err(mnemo_primitives::batch::AuditError::WrongPrev));
		// Batch 1 is refunded while the next batch, built on it, is in flight: that one cannot
		// land; it is dissolved and rebuilt on batch 0, without batch 1's fees.
		serve(4, 5);
		chain.lock().unwrap().refund_head_on_submit = true;
		assert_eq!(flush(&m, &chain).unwrap(), 0, "in a batch, in flight");
		assert_eq!(chain.lock().unwrap().next, 2, "not landed");
		assert_eq!(flush(&m, &chain).unwrap(), 1, "dissolved");
		assert_eq!(flush(&m, &chain).unwrap(), 0);
		assert_eq!(running(2), (Some(0), Some(4 + 2)));
		assert_eq!(m.stats.batches_refunded.load(Ordering::Relaxed), 1);
		// Governance changes the terms while a batch is in flight (its submission lost): it is
		// dissolved before it is sent again, and rebuilt under the new terms.
		serve(5, 6);
		chain.lock().unwrap().drop_next = true;
		assert_eq!(flush(&m, &chain).unwrap(), 0, "in a batch, in flight");
		chain.lock().unwrap().min_fee = 1;
		let submissions = chain.lock().unwrap().submissions;
		assert_eq!(flush(&m, &chain).unwrap(), 1, "dissolved");
		assert_eq!(chain.lock().unwrap().submissions, submissions, "not sent again under the old terms");
		assert_eq!(flush(&m, &chain).unwrap(), 0);
		let b = chain.lock().unwrap().batches[&3].clone();
		assert_eq!(b.header.terms, chain.clone().terms().unwrap().hash());
	}

	#[test]
	fn a_batch_the_chain_will_not_take_is_dissolved_and_its_payer_left_out() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, bob, dave) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap(), Signer::from_suri("//Dave").unwrap());
		let m = Meter::open(&dir.path().join("r"), op.account(), Default::default(), store, None).unwrap();
		let price = Price { chain_adapter: ADAPTER, price_per_1k: 10 };
		let chain = Arc::new(Mutex::new(Fake { best: 5, ..Default::default() }));
		for p in [&bob, &dave] {
			chain.lock().unwrap().channels.insert(p.account(), roomy());
		}
		for (p, request) in [(&bob, 1u8), (&dave, 2u8)] {
			let (sv, _) = m.admit(Some(&voucher(p, &op, request, ADAPTER)), &price, 5, 10).unwrap();
			m.record(&sv, price.price_per_1k, &[request], 5, 5).unwrap();
		}
		// Dave's channel passes the engine's check, then is charged elsewhere before the batch
		// lands (his voucher number goes stale): the chain includes the batch and charges nobody.
		struct Racing(Arc<Mutex<Fake>>, AccountId);
		impl ReceiptChain for Racing {
			fn best_block(&mut self) -> Result<BlockNumber> { self.0.best_block() }
			fn channel(&mut self, p: &AccountId) -> Result<Option<Channel>> { self.0.channel(p) }
			fn params(&mut self) -> Result<ChainParams> { self.0.params() }
			fn terms(&mut self) -> Result<BatchTerms<AccountId>> { self.0.terms() }
			fn adapter_facts(&mut self, a: AdapterId) -> Result<Option<AdapterFacts<AccountId>>> { self.0.adapter_facts(a) }
			fn next_batch(&mut self) -> Result<BatchId> { self.0.next_batch() }
			fn head(&mut self) -> Result<Option<BatchBase>> { self.0.head() }
			fn batch(&mut self, id: BatchId) -> Result<Option<BatchRecord>> { self.0.batch(id) }
			fn submit_batch(&mut self, h: &BatchHeader, c: &[PayerCharge]) -> Result<()> {
				self.0.lock().unwrap().channels.get_mut(&self.1).unwrap().seq = 50;
				self.0.submit_batch(h, c)
			}
			fn open_sample(&mut self, b: BatchId, l: &[Opened]) -> Result<()> { self.0.open_sample(b, l) }
		}
		let mut racing = Racing(chain.clone(), dave.account());
		for _ in 0..MAX_ATTEMPTS {
			assert_eq!(m.flush(&mut racing, &FakeAttributor).unwrap(), 0, "in a batch, in flight");
		}
		assert_eq!(chain.lock().unwrap().submissions, MAX_ATTEMPTS);
		// Dissolved: back to pending; the next batch leaves Dave (now stale) out and lands.
		assert_eq!(m.flush(&mut racing, &FakeAttributor).unwrap(), 2);
		while flush(&m, &chain).unwrap() > 0 {}
		assert_eq!(batched(&m, &chain), vec![vec![[1; 16]]]);
		assert_eq!(m.list("refused"), vec![[2; 16]]);
		assert_eq!(chain.lock().unwrap().channels[&bob.account()].seq, 2);
	}
}

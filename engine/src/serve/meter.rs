//! Metering: payer vouchers checked against the payer's payment channel before a request runs,
//! receipts journaled durably when it ends, and a flusher that records them on chain as signed
//! `record_inferences` batches.
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
//! ## Nothing acknowledged is lost, nothing is recorded twice
//!
//! When a metered request ends, its transcript is stored in the blob store and its receipt
//! written (and fsynced) to `serving/receipts/pending/` *before* the answer's last byte is sent.
//! The flusher takes pending receipts in voucher order per payer (never past a request of the
//! same payer still running, whose lower `seq` the chain would then refuse as stale), skips
//! those the chain already holds under `(operator, request id)` (a batch that landed just before
//! a crash), drops those past expiry, submits the rest in batches of at most 32 and waits for
//! inclusion; a receipt the chain did not record is tried again (at most [`MAX_ATTEMPTS`] times)
//! and then moved to `refused/`. The check before every submission is what makes restarts safe;
//! the chain's own refusal of a repeated request id is the second line.

use crate::{
	error::{Error, Result},
	store::BlobStore,
};
use codec::{Decode, Encode};
use mnemo_client::{Channel, InferenceRecord, SignedVoucher};
use mnemo_primitives::{inference_fee, AccountId, Balance, BlockNumber, ContentHash, ReceiptId, RequestId};
use std::{
	collections::{BTreeMap, BTreeSet},
	path::{Path, PathBuf},
	sync::{
		atomic::{AtomicU32, AtomicU64, Ordering},
		Arc, Mutex,
	},
	time::Duration,
};

/// Submissions of one receipt before it is given up as refused.
pub const MAX_ATTEMPTS: u32 = 3;

/// The chain as the flusher needs it (the real one is [`mnemo_client`]; tests use a fake).
pub trait ReceiptChain: Send {
	fn best_block(&mut self) -> Result<BlockNumber>;
	/// The receipt recorded for this operator's request, if any.
	fn recorded(&mut self, request: &RequestId) -> Result<Option<ReceiptId>>;
	/// Submits a batch and returns once a block includes it.
	fn submit(&mut self, batch: &[InferenceRecord]) -> Result<()>;
	/// The payer's payment channel to this operator, if it has one.
	fn channel(&mut self, payer: &AccountId) -> Result<Option<Channel>>;
	/// The chain's smallest fee of a receipt and longest voucher lifetime.
	fn params(&mut self) -> Result<ChainParams>;
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
	attempts: u32,
	/// Set when done: the receipt id on chain.
	receipt: Option<ReceiptId>,
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
		let mut taken = BTreeSet::new();
		let mut channels: BTreeMap<AccountId, Chan> = BTreeMap::new();
		let mut seq = 0;
		let mut pending = 0;
		for sub in ["pending", "recorded", "refused", "expired"] {
			let d = dir.join(sub);
			std::fs::create_dir_all(&d).map_err(Error::io(&d))?;
			for e in std::fs::read_dir(&d).map_err(Error::io(&d))?.flatten() {
				if let Some(entry) = read_entry(&e.path()) {
					pending += u64::from(sub == "pending");
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
					if sub == "pending" {
						c.unsettled = c.unsettled.saturating_add(entry.fee);
					}
				}
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
		if best > 0 && params.max_voucher_lifetime > 0 && v.expires_at > best.saturating_add(params.max_voucher_lifetime) {
			return Err(Error::Forbidden(format!(
				"the voucher expires at block {}, more than the chain's longest voucher lifetime ({} blocks) after block {best}: the chain would refuse its receipt",
				v.expires_at, params.max_voucher_lifetime
			)));
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
			receipt: None,
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

	/// Receipts in `pending/`, `recorded/`, `refused/` or `expired/`: (request id, receipt id).
	pub fn list(&self, sub: &str) -> Vec<(RequestId, Option<ReceiptId>)> {
		self.entries(sub).unwrap_or_default().into_iter().map(|e| (e.record.voucher.request, e.receipt)).collect()
	}

	fn finish(&self, mut e: Entry, sub: &str, receipt: Option<ReceiptId>) -> Result<()> {
		let from = self.path("pending", &e);
		e.receipt = receipt;
		write_atomic(&self.path(sub, &e), &e.encode())?;
		std::fs::remove_file(&from).map_err(Error::io(&from))?;
		self.stats.pending.fetch_sub(1, Ordering::Relaxed);
		// No longer owed: charged (the chain's balance shows it now) or never to be. A refused or
		// expired receipt may mean the channel changed (closed, drained): the next request of the
		// payer reads it again.
		if let Some(c) = self.channels.lock().expect("lock").get_mut(&e.record.payer) {
			if c.last.voucher.channel == e.record.voucher.channel {
				c.unsettled = c.unsettled.saturating_sub(e.fee);
			}
			if sub != "recorded" {
				c.budget = 0;
			}
		}
		let c = match sub {
			"recorded" => &self.stats.recorded,
			"refused" => &self.stats.refused,
			_ => &self.stats.expired,
		};
		c.fetch_add(1, Ordering::Relaxed);
		Ok(())
	}

	/// One flush: settles what the chain already has, drops the expired, submits one batch and
	/// checks what it recorded. Returns how many receipts are still pending.
	pub fn flush(&self, chain: &mut dyn ReceiptChain) -> Result<usize> {
		let best = chain.best_block()?;
		self.stats.best_block.store(best, Ordering::Relaxed);
		self.set_params(chain.params()?);
		// Per payer, the lowest voucher still running: its receipts from there on wait, or the
		// chain would take a later voucher first and refuse the running one as stale.
		let mut running: BTreeMap<AccountId, u64> = BTreeMap::new();
		for (payer, seq, _) in self.running.lock().expect("lock").values() {
			let s = running.entry(payer.clone()).or_insert(*seq);
			*s = (*s).min(*seq);
		}
		// Payers whose receipts expire first go first (no payer starves behind another); each
		// payer's receipts in voucher order.
		let mut pending = self.pending()?;
		let mut first_expiry: BTreeMap<AccountId, BlockNumber> = BTreeMap::new();
		for e in &pending {
			let x = first_expiry.entry(e.record.payer.clone()).or_insert(e.record.voucher.expires_at);
			*x = (*x).min(e.record.voucher.expires_at);
		}
		let key = |e: &Entry| (first_expiry.get(&e.record.payer).copied(), e.record.payer.clone(), e.record.voucher.seq);
		pending.sort_by_key(key);
		let mut batch = Vec::new();
		for e in pending {
			// Held back behind a running request of the same payer, unless it would expire
			// waiting: then the running one's voucher is the one that goes stale.
			let near_expiry = e.record.voucher.expires_at <= best.saturating_add(self.min_validity / 2);
			if !near_expiry && running.get(&e.record.payer).is_some_and(|s| e.record.voucher.seq > *s) {
				continue;
			}
			if let Some(id) = chain.recorded(&e.record.voucher.request)? {
				self.finish(e, "recorded", Some(id))?;
			} else if e.record.voucher.expires_at < best {
				tracing::warn!(request = %hex::encode(e.record.voucher.request), "receipt expired before it landed");
				self.finish(e, "expired", None)?;
			} else if batch.len() < mnemo_client::MAX_BATCH.min(mnemo_client::MAX_RECEIPTS_PER_BLOCK) {
				batch.push(e);
			}
		}
		if !batch.is_empty() {
			// Count the attempt before submitting: a crash after submission must not give the
			// receipt more attempts than allowed.
			for e in batch.iter_mut() {
				e.attempts += 1;
				write_atomic(&self.path("pending", e), &e.encode())?;
			}
			let records: Vec<InferenceRecord> = batch.iter().map(|e| e.record.clone()).collect();
			chain.submit(&records)?;
			for e in batch {
				match chain.recorded(&e.record.voucher.request)? {
					Some(id) => self.finish(e, "recorded", Some(id))?,
					None if e.attempts >= MAX_ATTEMPTS => {
						tracing::warn!(request = %hex::encode(e.record.voucher.request), "the chain refused the receipt {MAX_ATTEMPTS} times");
						self.finish(e, "refused", None)?
					},
					None => {},
				}
			}
		}
		Ok(self.stats.pending.load(Ordering::Relaxed) as usize)
	}

	/// Flushes every `interval` on a thread of its own, connecting with `connect` (again after
	/// any error).
	pub fn spawn_flusher(
		self: &Arc<Self>,
		interval: Duration,
		connect: impl Fn() -> Result<Box<dyn ReceiptChain>> + Send + 'static,
	) {
		let meter = Arc::downgrade(self);
		std::thread::Builder::new()
			.name("mnemo-receipts".into())
			.spawn(move || {
				let mut chain: Option<Box<dyn ReceiptChain>> = None;
				loop {
					std::thread::sleep(interval);
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
					if let Err(e) = m.flush(chain.as_deref_mut().expect("connected")) {
						m.stats.flush_errors.fetch_add(1, Ordering::Relaxed);
						tracing::warn!("receipts: flush failed, will retry: {e}");
						chain = None;
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

	fn recorded(&mut self, request: &RequestId) -> Result<Option<ReceiptId>> {
		self.client.receipt_of_request(&self.operator.account(), request).map_err(chain_err)
	}

	fn submit(&mut self, batch: &[InferenceRecord]) -> Result<()> {
		let call = mnemo_client::Client::record_inferences_call(batch);
		self.client.submit_and_wait(&self.operator, &call, self.timeout).map(|_| ()).map_err(chain_err)
	}

	fn channel(&mut self, payer: &AccountId) -> Result<Option<Channel>> {
		self.client.channel(payer, &self.operator.account()).map_err(chain_err)
	}

	fn params(&mut self) -> Result<ChainParams> {
		let p = self.client.attribution_params().map_err(chain_err)?;
		Ok(p.map_or_else(ChainParams::default, |p| ChainParams { min_fee: p.min_fee, max_voucher_lifetime: p.max_voucher_lifetime }))
	}
}

fn chain_err(e: mnemo_client::Error) -> Error {
	Error::Internal(format!("chain: {e}"))
}

#[cfg(test)]
mod tests {
	use super::*;
	use mnemo_client::{Signer, VoucherOf};

	/// A chain that records what it is sent, can fail after including a batch (a crash between
	/// submission and bookkeeping), refuses a request id it already holds, as the pallet does,
	/// and holds payers' channels.
	#[derive(Default)]
	struct Fake {
		held: BTreeMap<RequestId, ReceiptId>,
		submitted: Vec<RequestId>,
		refuse_adapter: Option<u32>,
		fail_after_include: bool,
		best: BlockNumber,
		channels: BTreeMap<AccountId, Channel>,
		channel_reads: u32,
	}

	impl ReceiptChain for Arc<Mutex<Fake>> {
		fn best_block(&mut self) -> Result<BlockNumber> {
			Ok(self.lock().unwrap().best)
		}
		fn recorded(&mut self, r: &RequestId) -> Result<Option<ReceiptId>> {
			Ok(self.lock().unwrap().held.get(r).copied())
		}
		fn submit(&mut self, batch: &[InferenceRecord]) -> Result<()> {
			let mut f = self.lock().unwrap();
			for r in batch {
				f.submitted.push(r.voucher.request);
				if Some(r.voucher.adapter) != f.refuse_adapter && !f.held.contains_key(&r.voucher.request) {
					let id = f.held.len() as u64;
					f.held.insert(r.voucher.request, id);
				}
			}
			if f.fail_after_include {
				f.fail_after_include = false;
				return Err(Error::Internal("connection lost".into()));
			}
			Ok(())
		}
		fn channel(&mut self, payer: &AccountId) -> Result<Option<Channel>> {
			let mut f = self.lock().unwrap();
			f.channel_reads += 1;
			Ok(f.channels.get(payer).copied())
		}
		fn params(&mut self) -> Result<ChainParams> {
			Ok(ChainParams { min_fee: 0, max_voucher_lifetime: 2_000 })
		}
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
	fn receipts_survive_a_restart_and_land_once() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, payer) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let price = Price { chain_adapter: 1, price_per_1k: 10 };
		let open = || Meter::open(&dir.path().join("receipts"), op.account(), Default::default(), store.clone(), None).unwrap();
		let chain = Arc::new(Mutex::new(Fake { best: 5, refuse_adapter: Some(2), fail_after_include: true, ..Default::default() }));
		{
			let m = open();
			for i in 0..3u8 {
				let (sv, allowed) = m.admit(Some(&voucher(&payer, &op, i, 1)), &price, 10, 100).unwrap();
				assert_eq!(allowed, 40, "max_tokens lowered to the voucher's cap");
				m.record(&sv, price.price_per_1k, format!("t{i}").as_bytes(), 10, 5).unwrap();
			}
			let bad = Price { chain_adapter: 2, ..price.clone() };
			let (sv, _) = m.admit(Some(&voucher(&payer, &op, 9, 2)), &bad, 10, 10).unwrap();
			m.record(&sv, bad.price_per_1k, b"t9", 10, 5).unwrap();
			// The chain includes the batch, then the connection drops before bookkeeping.
			assert!(m.flush(&mut chain.clone()).is_err());
			assert_eq!(m.list("pending").len(), 4, "nothing is marked done without the chain's word");
		} // the engine stops
		let m = open();
		let err = m.admit(Some(&voucher(&payer, &op, 1, 1)), &price, 10, 10).unwrap_err();
		assert_eq!(err.status(), 409, "a request id survives the restart: {err}");
		// The channel's last voucher survives it too: the next one continues from it.
		let view = m.channel(&payer.account()).expect("the payer's channel, from the journal");
		assert_eq!((view.seq, view.cumulative.as_str()), (10, "100"));
		let err = m.admit(Some(&signed(&payer, &op, 20, 1, 10, 200)), &price, 10, 10).unwrap_err();
		assert_eq!(err.status(), 409, "a voucher number used before the restart: {err}");
		// After the restart: the three held receipts are settled without a second submission;
		// the refused one is tried again up to MAX_ATTEMPTS, then set aside.
		while m.flush(&mut chain.clone()).unwrap() > 0 {}
		let f = chain.lock().unwrap();
		let count = |r: u8| f.submitted.iter().filter(|x| **x == [r; 16]).count();
		assert_eq!((count(0), count(1), count(2)), (1, 1, 1), "each held receipt submitted once");
		assert_eq!(count(9), MAX_ATTEMPTS as usize, "the refused one tried {MAX_ATTEMPTS} times");
		assert_eq!(m.list("recorded").iter().map(|x| x.1).collect::<Vec<_>>(), vec![Some(0), Some(1), Some(2)]);
		assert_eq!(m.list("refused").len(), 1);
		assert_eq!(m.list("pending").len(), 0);
		assert_eq!(m.channel(&payer.account()).unwrap().unsettled, "0", "nothing owed once all is settled");
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
		// A receipt the chain refuses (here: its adapter) makes the engine read the channel
		// again before the payer's next request: the channel may have closed or drained.
		chain.lock().unwrap().refuse_adapter = Some(1);
		while m.flush(&mut chain.clone()).unwrap() > 0 {}
		assert_eq!(m.list("refused").len(), 1);
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
		let price = Price { chain_adapter: 1, price_per_1k: 10 };
		let chain = Arc::new(Mutex::new(Fake { best: 5, ..Default::default() }));
		let svs: Vec<SignedVoucher> =
			(0..3u8).map(|i| m.admit(Some(&voucher(&payer, &op, i, 1)), &price, 5, 10).unwrap().0).collect();
		// Vouchers 2 and 3 finish first; voucher 1 is still running.
		m.record(&svs[2], 10, b"c", 5, 5).unwrap();
		m.record(&svs[1], 10, b"b", 5, 5).unwrap();
		assert_eq!(m.flush(&mut chain.clone()).unwrap(), 2, "both wait behind the running request");
		assert!(chain.lock().unwrap().submitted.is_empty());
		m.record(&svs[0], 10, b"a", 5, 5).unwrap();
		assert_eq!(m.flush(&mut chain.clone()).unwrap(), 0);
		assert_eq!(chain.lock().unwrap().submitted, vec![[0; 16], [1; 16], [2; 16]], "in voucher order");
	}
}

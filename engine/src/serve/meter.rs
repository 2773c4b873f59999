//! Metering: payer vouchers checked before a request runs, receipts journaled durably when it
//! ends, and a flusher that records them on chain as signed `record_inferences` batches.
//!
//! ## Who pays: the voucher scheme
//!
//! A request for a metered adapter carries the header `X-Mnemo-Voucher`: the hex of the SCALE
//! encoding of `(payer, voucher, signature)` ([`mnemo_client::SignedVoucher`]), where the payer
//! signed `"mnemo/voucher/v1" ++ SCALE(voucher)` with its account key (sr25519, ed25519 or
//! ecdsa; raw or `<Bytes>`-wrapped). The voucher names the request id, this operator, the
//! adapter's on-chain id, a price cap per 1,000 tokens, a token cap, an expiry block and the
//! chain's genesis hash. The engine answers only if the signature holds, the voucher is for this
//! operator and chain, the cap covers the adapter's price, prompt plus `max_tokens` fit in the
//! token cap (`max_tokens` is lowered to fit), the voucher does not expire before the receipt can
//! be flushed, and the request id is new. There are no API keys to steal: a voucher authorises
//! exactly one request, and the chain checks it again when the receipt lands, so an operator
//! cannot charge a payer for more than it signed.
//!
//! ## Nothing acknowledged is lost, nothing is recorded twice
//!
//! When a metered request ends, its transcript is stored in the blob store and its receipt
//! written (and fsynced) to `serving/receipts/pending/` *before* the answer's last byte is sent.
//! The flusher takes pending receipts in order, skips those the chain already holds under
//! `(operator, request id)` (a batch that landed just before a crash), drops those past expiry,
//! submits the rest in batches of at most 32 and waits for inclusion; a receipt the chain did
//! not record is tried again (at most [`MAX_ATTEMPTS`] times) and then moved to `refused/`. The
//! check before every submission is what makes restarts safe; the chain's own refusal of a
//! repeated request id is the second line.

use crate::{
	error::{Error, Result},
	store::BlobStore,
};
use codec::{Decode, Encode};
use mnemo_client::{InferenceRecord, SignedVoucher};
use mnemo_primitives::{AccountId, Balance, BlockNumber, ContentHash, ReceiptId, RequestId};
use std::{
	collections::BTreeSet,
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
}

/// A receipt in the journal.
#[derive(Clone, Debug, Encode, Decode)]
struct Entry {
	seq: u64,
	record: InferenceRecord,
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

pub struct Meter {
	dir: PathBuf,
	pub operator: AccountId,
	pub genesis: mnemo_primitives::Hash,
	/// Blocks a voucher must still be valid for when a request starts.
	pub min_validity: BlockNumber,
	/// Request ids taken (answered or running), so none is served twice.
	taken: Mutex<BTreeSet<RequestId>>,
	seq: AtomicU64,
	pub stats: MeterStats,
	store: Arc<BlobStore>,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
	crate::store::write_durably(&path.with_extension("tmp"), path, bytes)
}

impl Meter {
	/// Opens the journal under `dir` (`pending/`, `recorded/`, `refused/`, `expired/`).
	pub fn open(dir: &Path, operator: AccountId, genesis: mnemo_primitives::Hash, store: Arc<BlobStore>) -> Result<Self> {
		let mut taken = BTreeSet::new();
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
				}
			}
		}
		let m = Meter {
			dir: dir.to_path_buf(),
			operator,
			genesis,
			min_validity: 10,
			taken: Mutex::new(taken),
			seq: AtomicU64::new(seq),
			stats: MeterStats::default(),
			store,
		};
		m.stats.pending.store(pending, Ordering::Relaxed);
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
		if !self.taken.lock().expect("lock").insert(v.request) {
			return Err(Error::Conflict(format!("request id {} was already served", hex::encode(v.request))));
		}
		let allowed = max_tokens.min(v.max_tokens as usize - prompt);
		Ok((sv, allowed))
	}

	/// Gives a request id back (the request never ran or produced nothing).
	pub fn release(&self, request: &RequestId) {
		self.taken.lock().expect("lock").remove(request);
	}

	/// Journals the receipt of a finished request: the transcript into the blob store, the
	/// record into `pending/`, both durable before this returns.
	pub fn record(&self, sv: &SignedVoucher, transcript: &[u8], input_tokens: u32, output_tokens: u32) -> Result<ContentHash> {
		let hash = self.store.put_own(transcript)?;
		let entry = Entry {
			seq: self.seq.fetch_add(1, Ordering::SeqCst),
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
		let mut batch = Vec::new();
		for e in self.pending()? {
			if let Some(id) = chain.recorded(&e.record.voucher.request)? {
				self.finish(e, "recorded", Some(id))?;
			} else if e.record.voucher.expires_at < best {
				tracing::warn!(request = %hex::encode(e.record.voucher.request), "receipt expired before it landed");
				self.finish(e, "expired", None)?;
			} else if batch.len() < mnemo_client::MAX_BATCH {
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
}

fn chain_err(e: mnemo_client::Error) -> Error {
	Error::Internal(format!("chain: {e}"))
}

#[cfg(test)]
mod tests {
	use super::*;
	use mnemo_client::{Signer, VoucherOf};
	use std::collections::BTreeMap;

	/// A chain that records what it is sent, can fail after including a batch (a crash between
	/// submission and bookkeeping), and refuses a request id it already holds, as the pallet does.
	#[derive(Default)]
	struct Fake {
		held: BTreeMap<RequestId, ReceiptId>,
		submitted: Vec<RequestId>,
		refuse_adapter: Option<u32>,
		fail_after_include: bool,
		best: BlockNumber,
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
	}

	fn voucher(payer: &Signer, operator: &Signer, request: u8, adapter: u32) -> String {
		let v: VoucherOf = mnemo_primitives::Voucher {
			request: [request; 16],
			operator: operator.account(),
			adapter,
			max_price_per_1k: 100,
			max_tokens: 50,
			expires_at: 1_000,
			genesis: Default::default(),
		};
		SignedVoucher::sign(payer, v).to_header()
	}

	#[test]
	fn receipts_survive_a_restart_and_land_once() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, payer) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let price = Price { chain_adapter: 1, price_per_1k: 10 };
		let open = || Meter::open(&dir.path().join("receipts"), op.account(), Default::default(), store.clone()).unwrap();
		let chain = Arc::new(Mutex::new(Fake { best: 5, refuse_adapter: Some(2), fail_after_include: true, ..Default::default() }));
		{
			let m = open();
			for i in 0..3u8 {
				let (sv, allowed) = m.admit(Some(&voucher(&payer, &op, i, 1)), &price, 10, 100).unwrap();
				assert_eq!(allowed, 40, "max_tokens lowered to the voucher's cap");
				m.record(&sv, format!("t{i}").as_bytes(), 10, 5).unwrap();
			}
			let bad = Price { chain_adapter: 2, ..price.clone() };
			let (sv, _) = m.admit(Some(&voucher(&payer, &op, 9, 2)), &bad, 10, 10).unwrap();
			m.record(&sv, b"t9", 10, 5).unwrap();
			// The chain includes the batch, then the connection drops before bookkeeping.
			assert!(m.flush(&mut chain.clone()).is_err());
			assert_eq!(m.list("pending").len(), 4, "nothing is marked done without the chain's word");
		} // the engine stops
		let m = open();
		let err = m.admit(Some(&voucher(&payer, &op, 1, 1)), &price, 10, 10).unwrap_err();
		assert_eq!(err.status(), 409, "a request id survives the restart: {err}");
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
	}

	#[test]
	fn vouchers_are_checked_before_anything_runs() {
		let dir = tempfile::tempdir().unwrap();
		let store = Arc::new(BlobStore::open(&dir.path().join("store"), 1 << 20).unwrap());
		let (op, payer) = (Signer::from_suri("//Alice").unwrap(), Signer::from_suri("//Bob").unwrap());
		let m = Meter::open(&dir.path().join("r"), op.account(), Default::default(), store).unwrap();
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
}

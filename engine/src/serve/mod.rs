//! Serving many adapters on one base model: a continuous-batching scheduler on its own thread.
//!
//! Requests wait in a bounded queue (the API answers 429 when it is full). Between decode steps
//! the scheduler admits waiting requests into the running batch (up to `max_batch`) and drops
//! finished or cancelled ones; a newly admitted request's whole prompt goes through the same
//! forward pass as the running requests' next tokens, so it produces tokens while earlier ones
//! are still decoding. Every request keeps its own KV cache, freed when it leaves the batch.
//! Each row's adapter update comes from the [`bank::LoraBank`] in one gathered batched matmul
//! per projection. Adapters named by waiting requests are read and parsed on a loader thread
//! before their request is admitted, so a cold adapter does not stall the running batch.
//!
//! A client that goes away (its event receiver dropped) is noticed at the next token: its
//! request is cancelled, its cache and its adapter pin released.

pub mod bank;
pub mod deploy;
pub mod meter;

use crate::{
	error::{Error, Result},
	model::generate::{pick, Sampling},
	model::{KvCache, Llama, LowRank, SeqStep, ToHost},
	model::tokenizer::Tokenizer,
};
use bank::{HostAdapter, LoraBank};
use mnemo_primitives::ContentHash;
use rand::SeedableRng;
use std::{
	collections::{BTreeMap, BTreeSet, VecDeque},
	sync::{
		atomic::{AtomicU64, AtomicUsize, Ordering},
		mpsc, Arc, Mutex,
	},
	time::Instant,
};

/// How the scheduler runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
	/// Most requests decoding together.
	pub max_batch: usize,
	/// Most requests waiting for a place in the batch; more are refused (HTTP 429).
	pub max_queue: usize,
	/// Highest adapter rank served (bank slots are this wide).
	pub rank: usize,
	/// Memory for resident adapters, in bytes.
	pub adapter_budget: u64,
}

impl Default for ServeConfig {
	fn default() -> Self {
		ServeConfig { max_batch: 32, max_queue: 256, rank: 16, adapter_budget: 256 << 20 }
	}
}

/// Why a request stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Finish {
	/// An end-of-text token or a stop string.
	Stop,
	/// `max_tokens` or the model's context.
	Length,
	/// The client went away.
	Cancelled,
}

impl Finish {
	/// OpenAI's `finish_reason`.
	pub fn as_str(self) -> &'static str {
		match self {
			Finish::Stop => "stop",
			Finish::Length => "length",
			Finish::Cancelled => "cancelled",
		}
	}
}

/// How a request ended.
#[derive(Clone, Debug)]
pub struct Outcome {
	pub text: String,
	pub input_tokens: u32,
	pub output_tokens: u32,
	pub finish: Finish,
}

/// What a request's client receives.
#[derive(Debug)]
pub enum Event {
	/// New text (possibly empty when a token completes no character yet).
	Delta(String),
	/// The request is finished and metered.
	Done(Outcome),
	/// It could not be run.
	Failed(Error),
}

/// Called when a request ends (on a finishing thread beside the scheduler), before `Done` is
/// sent: where metering writes the receipt, so an acknowledged answer is never unmetered.
pub type OnFinish = Box<dyn FnOnce(&Outcome) -> Result<()> + Send>;

/// One request.
pub struct Job {
	pub prompt: Vec<u32>,
	/// The adapter (`None`: the base model).
	pub adapter: Option<ContentHash>,
	pub sampling: Sampling,
	pub stop: Vec<String>,
	/// Keep generating past end-of-text tokens (to `max_tokens`): fixed-length loads for
	/// benchmarks, as vLLM's `ignore_eos`.
	pub ignore_eos: bool,
	pub events: tokio::sync::mpsc::UnboundedSender<Event>,
	pub on_finish: Option<OnFinish>,
}

/// Where adapters come from (the blob store, a directory, memory in tests).
pub trait AdapterSource: Send + Sync {
	fn load(&self, hash: &ContentHash) -> Result<HostAdapter>;
}

/// Adapters held in memory (the benchmark, tests).
pub struct MemorySource {
	adapters: BTreeMap<ContentHash, Vec<u8>>,
	config: crate::model::Config,
	device: burn::tensor::Device,
}

impl MemorySource {
	pub fn new(config: &crate::model::Config, device: &burn::tensor::Device) -> Self {
		MemorySource { adapters: BTreeMap::new(), config: config.clone(), device: device.clone() }
	}

	/// Holds an adapter's safetensors bytes; returns their hash.
	pub fn insert(&mut self, bytes: Vec<u8>) -> ContentHash {
		let h = ContentHash::of(&bytes);
		self.adapters.insert(h, bytes);
		h
	}
}

impl AdapterSource for MemorySource {
	fn load(&self, hash: &ContentHash) -> Result<HostAdapter> {
		let bytes = self.adapters.get(hash).ok_or_else(|| Error::NotFound(format!("adapter {} is not held", hash.to_hex())))?;
		HostAdapter::from_safetensors(*hash, bytes, &self.config, &self.device)
	}
}

/// Counters exported at `/metrics` and read by the benchmark.
#[derive(Default)]
pub struct ServeStats {
	pub requests: AtomicU64,
	pub output_tokens: AtomicU64,
	pub input_tokens: AtomicU64,
	pub cancelled: AtomicU64,
	pub refused_busy: AtomicU64,
	pub steps: AtomicU64,
	/// Requests admitted into a batch that already had running requests.
	pub admitted_mid_batch: AtomicU64,
	/// The adapter bank's loads, hits, evictions and gathered products.
	pub bank: Arc<bank::BankStats>,
	pub adapter_load_ms: AtomicU64,
	pub running: AtomicUsize,
	pub resident_adapters: AtomicUsize,
	pub bytes_per_adapter: AtomicU64,
}

/// The handle the API holds.
pub struct Server {
	pub config: ServeConfig,
	pub stats: Arc<ServeStats>,
	tx: Mutex<mpsc::Sender<Job>>,
	queued: Arc<AtomicUsize>,
	max_seq: usize,
}

impl Server {
	/// Starts the scheduler thread for `model` (shared, never copied).
	pub fn start(model: Arc<Llama>, tok: Arc<Tokenizer>, source: Arc<dyn AdapterSource>, config: ServeConfig) -> Result<Self> {
		if config.max_batch == 0 || config.max_queue == 0 {
			return Err(Error::bad("max_batch and max_queue must be at least 1"));
		}
		let bank = LoraBank::new(&model.config, config.rank, config.adapter_budget, model.device())?;
		let stats = Arc::new(ServeStats { bank: bank.stats.clone(), ..Default::default() });
		stats.bytes_per_adapter.store(LoraBank::slot_bytes(&model.config, config.rank), Ordering::Relaxed);
		let (tx, rx) = mpsc::channel();
		let queued = Arc::new(AtomicUsize::new(0));
		let max_seq = model.config.max_seq;
		let (finisher, finished) = mpsc::channel::<(OnFinish, Outcome, tokio::sync::mpsc::UnboundedSender<Event>)>();
		std::thread::Builder::new()
			.name("mnemo-finish".into())
			.spawn(move || {
				while let Ok((f, outcome, events)) = finished.recv() {
					finish_one(f, outcome, &events);
				}
			})
			.map_err(|e| Error::Internal(format!("cannot start the finishing thread: {e}")))?;
		// Adapters read by loader threads come back here.
		let (load_tx, load_rx) = mpsc::channel();
		let mut s = Scheduler {
			model,
			tok,
			source,
			bank,
			config: config.clone(),
			stats: stats.clone(),
			queued: queued.clone(),
			rx,
			waiting: VecDeque::new(),
			running: Vec::new(),
			loading: BTreeSet::new(),
			loaded: BTreeMap::new(),
			load_tx,
			load_rx,
			finisher,
		};
		std::thread::Builder::new()
			.name("mnemo-serve".into())
			.spawn(move || s.run())
			.map_err(|e| Error::Internal(format!("cannot start the serving thread: {e}")))?;
		Ok(Server { config, stats, tx: Mutex::new(tx), queued, max_seq })
	}

	/// The context length requests must fit in.
	pub fn max_seq(&self) -> usize {
		self.max_seq
	}

	/// Queues a request; `Err(Busy)` when the queue is full.
	pub fn submit(&self, job: Job) -> Result<()> {
		if job.prompt.is_empty() {
			return Err(Error::bad("the prompt is empty"));
		}
		if job.prompt.len() + job.sampling.max_tokens > self.max_seq {
			return Err(Error::bad(format!(
				"{} prompt tokens + max_tokens {} exceed the model's context of {} tokens",
				job.prompt.len(),
				job.sampling.max_tokens,
				self.max_seq
			)));
		}
		job.sampling.check()?;
		let before = self.queued.fetch_add(1, Ordering::SeqCst);
		if before >= self.config.max_queue {
			self.queued.fetch_sub(1, Ordering::SeqCst);
			self.stats.refused_busy.fetch_add(1, Ordering::Relaxed);
			return Err(Error::TooManyRequests(format!("{} requests are already waiting; try again shortly", before)));
		}
		self.stats.requests.fetch_add(1, Ordering::Relaxed);
		self.tx.lock().expect("lock").send(job).map_err(|_| Error::Internal("the serving thread stopped".into()))
	}
}

struct Running {
	job: Job,
	slot: usize,
	rng: rand_chacha::ChaCha8Rng,
	cache: KvCache,
	/// Tokens to feed at the next step: the prompt once, then the last sampled token.
	feed: Vec<u32>,
	out: Vec<u32>,
	/// Bytes of the decoded text already sent.
	sent: usize,
	text: String,
	finish: Option<Finish>,
}

struct Scheduler {
	model: Arc<Llama>,
	tok: Arc<Tokenizer>,
	source: Arc<dyn AdapterSource>,
	bank: LoraBank,
	config: ServeConfig,
	stats: Arc<ServeStats>,
	queued: Arc<AtomicUsize>,
	rx: mpsc::Receiver<Job>,
	waiting: VecDeque<Job>,
	running: Vec<Running>,
	loading: BTreeSet<ContentHash>,
	loaded: BTreeMap<ContentHash, (Result<HostAdapter>, u64)>,
	load_tx: mpsc::Sender<(ContentHash, Result<HostAdapter>, u64)>,
	load_rx: mpsc::Receiver<(ContentHash, Result<HostAdapter>, u64)>,
	finisher: mpsc::Sender<(OnFinish, Outcome, tokio::sync::mpsc::UnboundedSender<Event>)>,
}

impl Scheduler {
	fn run(&mut self) {
		loop {
			if self.running.is_empty() && self.waiting.is_empty() {
				match self.rx.recv() {
					Ok(j) => self.waiting.push_back(j),
					Err(_) => return,
				}
			}
			while let Ok(j) = self.rx.try_recv() {
				self.waiting.push_back(j);
			}
			self.prefetch();
			self.admit();
			if self.running.is_empty() {
				// Everything waiting waits for an adapter being read: wait for the loader.
				if let Ok((h, r, ms)) = self.load_rx.recv_timeout(std::time::Duration::from_millis(50)) {
					self.loading.remove(&h);
					self.loaded.insert(h, (r, ms));
				}
				continue;
			}
			self.step();
		}
	}

	/// Starts reading the adapters waiting requests name that are neither resident nor read.
	fn prefetch(&mut self) {
		while let Ok((h, r, ms)) = self.load_rx.try_recv() {
			self.loading.remove(&h);
			self.loaded.insert(h, (r, ms));
		}
		let wanted: Vec<ContentHash> = self.waiting.iter().filter_map(|j| j.adapter).collect();
		for h in wanted {
			if self.bank.contains(&h) || self.loading.contains(&h) || self.loaded.contains_key(&h) {
				continue;
			}
			self.loading.insert(h);
			let (source, tx) = (self.source.clone(), self.load_tx.clone());
			std::thread::spawn(move || {
				let t = Instant::now();
				let r = source.load(&h);
				let _ = tx.send((h, r, t.elapsed().as_millis() as u64));
			});
		}
	}

	/// Moves ready waiting requests into the batch.
	fn admit(&mut self) {
		let mut i = 0;
		while i < self.waiting.len() && self.running.len() < self.config.max_batch {
			let ready = match &self.waiting[i].adapter {
				None => true,
				Some(h) => self.bank.contains(h) || self.loaded.contains_key(h),
			};
			if !ready {
				i += 1;
				continue;
			}
			let job = self.waiting.remove(i).expect("index checked");
			if job.events.is_closed() {
				// Its client left while it waited.
				self.queued.fetch_sub(1, Ordering::SeqCst);
				self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
				abandon(job, None);
				continue;
			}
			let slot = match job.adapter {
				None => Some(0),
				Some(h) => {
					let loaded = &mut self.loaded;
					let stats = &self.stats;
					let r = self.bank.acquire(h, || {
						let (r, ms) = loaded.remove(&h).expect("ready means read");
						stats.adapter_load_ms.fetch_add(ms, Ordering::Relaxed);
						r
					});
					match r {
						Ok(s) => s,
						Err(e) => {
							self.queued.fetch_sub(1, Ordering::SeqCst);
							abandon(job, Some(e));
							continue;
						},
					}
				},
			};
			let Some(slot) = slot else {
				// Every slot is pinned by a running request: this one waits for a release (it
				// keeps its place, first in line for it); those behind it whose adapter is
				// resident, or who need none, go ahead instead of waiting behind it.
				self.waiting.insert(i, job);
				i += 1;
				continue;
			};
			self.queued.fetch_sub(1, Ordering::SeqCst);
			if !self.running.is_empty() {
				self.stats.admitted_mid_batch.fetch_add(1, Ordering::Relaxed);
			}
			let rng = rand_chacha::ChaCha8Rng::seed_from_u64(job.sampling.seed);
			let feed = job.prompt.clone();
			self.running.push(Running {
				job,
				slot,
				rng,
				cache: KvCache::new(self.model.config.layers),
				feed,
				out: Vec::new(),
				sent: 0,
				text: String::new(),
				finish: None,
			});
		}
		self.stats.resident_adapters.store(self.bank.resident().len(), Ordering::Relaxed);
		self.stats.running.store(self.running.len(), Ordering::Relaxed);
	}

	/// One forward pass over the whole batch and one token for every request in it.
	fn step(&mut self) {
		self.stats.steps.fetch_add(1, Ordering::Relaxed);
		let rows: Vec<usize> = self.running.iter().flat_map(|r| std::iter::repeat_n(r.slot, r.feed.len())).collect();
		let feeds: Vec<Vec<u32>> = self.running.iter_mut().map(|r| std::mem::take(&mut r.feed)).collect();
		let logits = {
			let mut seqs: Vec<SeqStep<'_>> = self
				.running
				.iter_mut()
				.zip(&feeds)
				.map(|(r, f)| SeqStep { tokens: f, cache: &mut r.cache })
				.collect();
			let batch = self.bank.batch(&rows);
			let adapted = rows.iter().any(|&s| s != 0);
			let model = &self.model;
			crate::threads::serve(|| {
				let low_rank: Option<&dyn LowRank> = adapted.then_some(&batch as &dyn LowRank);
				model.logits_ragged(&mut seqs, low_rank, true).to_host()
			})
		};
		let vocab = self.model.config.vocab;
		let max_seq = self.model.config.max_seq;
		for (i, r) in self.running.iter_mut().enumerate() {
			let row = &logits[i * vocab..(i + 1) * vocab];
			let t = pick(row, &r.job.sampling, &mut r.rng);
			if !r.job.ignore_eos && (t == self.tok.eos || Some(t) == self.tok.im_end) {
				r.finish = Some(Finish::Stop);
			} else {
				r.out.push(t);
				self.stats.output_tokens.fetch_add(1, Ordering::Relaxed);
				let text = self.tok.decode(&r.out).unwrap_or_default();
				let (cut, stopped) = stop_at(&text, &r.job.stop);
				r.text = text[..cut].to_string();
				if stopped {
					r.finish = Some(Finish::Stop);
				} else if r.out.len() >= r.job.sampling.max_tokens || r.cache.len + 1 > max_seq {
					r.finish = Some(Finish::Length);
				}
				// Send what is certain: not a half-decoded character, not what may start a
				// stop string.
				let hold = if r.finish.is_some() { 0 } else { holdback(&r.text, &r.job.stop) };
				let upto = floor_char(&r.text, r.text.len().saturating_sub(hold));
				if upto > r.sent {
					let delta = r.text[r.sent..upto].to_string();
					if r.job.events.send(Event::Delta(delta)).is_err() {
						r.finish = Some(Finish::Cancelled);
					}
					r.sent = upto;
				} else if r.job.events.is_closed() {
					r.finish = Some(Finish::Cancelled);
				}
				if r.finish.is_none() {
					r.feed = vec![t];
				}
			}
		}
		let mut finished = Vec::new();
		let mut i = 0;
		while i < self.running.len() {
			if self.running[i].finish.is_none() {
				i += 1;
				continue;
			}
			finished.push(self.running.swap_remove(i));
		}
		// The counts first: a client told `Done` sees its request no longer running.
		self.stats.running.store(self.running.len(), Ordering::Relaxed);
		for mut r in finished {
			if let Some(h) = r.job.adapter {
				self.bank.release(&h);
			}
			let finish = r.finish.expect("checked");
			if finish == Finish::Cancelled {
				self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
			}
			let outcome = Outcome {
				text: r.text.clone(),
				input_tokens: r.job.prompt.len() as u32,
				output_tokens: r.out.len() as u32,
				finish,
			};
			self.stats.input_tokens.fetch_add(outcome.input_tokens as u64, Ordering::Relaxed);
			match r.job.on_finish.take() {
				// Metering writes and fsyncs on the finisher thread, so the batch does not wait
				// for the disk; the client's `Done` still comes only after the receipt is durable.
				Some(f) => {
					let job = (f, outcome, r.job.events.clone());
					if let Err(mpsc::SendError((f, outcome, events))) = self.finisher.send(job) {
						finish_one(f, outcome, &events);
					}
				},
				None => {
					let _ = r.job.events.send(Event::Done(outcome));
				},
			}
		}
	}
}

/// Runs a finished request's `on_finish` (metering), then tells its client.
fn finish_one(f: OnFinish, outcome: Outcome, events: &tokio::sync::mpsc::UnboundedSender<Event>) {
	let _ = events.send(match f(&outcome) {
		Ok(()) => Event::Done(outcome),
		Err(e) => Event::Failed(e),
	});
}

/// Ends a request that never ran: its `on_finish` sees no tokens (metering gives the request id
/// back), and its client gets `err`.
fn abandon(mut job: Job, err: Option<Error>) {
	let outcome = Outcome {
		text: String::new(),
		input_tokens: job.prompt.len() as u32,
		output_tokens: 0,
		finish: Finish::Cancelled,
	};
	if let Some(f) = job.on_finish.take() {
		let _ = f(&outcome);
	}
	if let Some(e) = err {
		let _ = job.events.send(Event::Failed(e));
	}
}

/// Where `text` ends before its first stop string, and whether one was found.
fn stop_at(text: &str, stops: &[String]) -> (usize, bool) {
	stops.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min().map_or((text.len(), false), |i| (i, true))
}

/// Bytes at the end of `text` that could be the start of a stop string.
fn holdback(text: &str, stops: &[String]) -> usize {
	stops
		.iter()
		.flat_map(|s| (1..s.len()).filter(move |&k| s.is_char_boundary(k) && text.ends_with(&s[..k])))
		.max()
		.unwrap_or(0)
}

/// The largest char boundary of `text` at or below `i`, also below a trailing replacement
/// character (a token that ends inside a multi-byte character).
fn floor_char(text: &str, mut i: usize) -> usize {
	while i > 0 && !text.is_char_boundary(i) {
		i -= 1;
	}
	let t = &text[..i];
	t.strip_suffix('\u{FFFD}').map_or(i, str::len)
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn stop_strings_cut_and_hold_back() {
		let stops = vec!["END".to_string(), "\n\n".to_string()];
		assert_eq!(stop_at("abc END x", &stops), (4, true));
		assert_eq!(stop_at("abc", &stops), (3, false));
		assert_eq!(holdback("abc E", &stops), 1);
		assert_eq!(holdback("abc EN", &stops), 2);
		assert_eq!(holdback("abc\n", &stops), 1);
		assert_eq!(holdback("abc", &stops), 0);
		assert_eq!(floor_char("ab\u{FFFD}", 5), 2);
		assert_eq!(floor_char("aé", 2), 1);
	}
}

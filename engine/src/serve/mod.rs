//! Serving many adapters on one base model: a continuous-batching scheduler on its own thread.
//!
//! Requests wait in a bounded queue (the API answers 429 when it is full). Between steps the
//! scheduler admits waiting requests into the running batch (up to `max_batch`) and drops
//! finished or cancelled ones. Each step is one forward pass under a token budget
//! (`step_tokens`): every decoding request's next token first, then prompts in chunks with the
//! rest of the budget (chunked prefill), so a long prompt is spread over several steps instead
//! of stalling every decoding request behind it, and a newly admitted request produces tokens
//! while earlier ones are still decoding.
//!
//! KV memory is one arena allocated at start under a byte budget (`kv_budget`); a request is
//! admitted only when a span for its prompt and its `max_tokens` is free, so the batch never
//! grows past the memory it was given. A request that could never fit is refused when it is
//! submitted; one that does not fit now waits. Each row's adapter update comes from the
//! [`bank::LoraBank`]. Adapters named by waiting requests are read and parsed on loader threads
//! into slots reserved for them, in queue order, so a cold adapter does not stall the running
//! batch, and a request whose adapter has no slot yet is passed over, not waited behind.
//!
//! A client that goes away (its event receiver dropped) is noticed at the next token: its
//! request is cancelled, its KV span and its adapter pin released.

pub mod bank;
pub mod deploy;
pub mod meter;

use crate::{
	error::{Error, Result},
	model::lora::Target,
	model::generate::{pick, Sampling},
	model::{KvArena, KvSpan, Llama, LowRank, SeqStep, ToHost},
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
	/// The projections adapters may adapt (bank slots hold these and no others, so serving fewer
	/// holds more adapters in the same budget).
	pub targets: Vec<Target>,
	/// Memory for resident adapters, in bytes.
	pub adapter_budget: u64,
	/// Memory for the KV cache, in bytes (never more than `max_batch` full contexts is taken).
	pub kv_budget: u64,
	/// Most tokens one step runs: decoding requests' tokens, then prompt chunks up to it.
	pub step_tokens: usize,
	/// How the served copy of the base holds its projections and LM head.
	pub weights: WeightFormat,
}

impl Default for ServeConfig {
	fn default() -> Self {
		ServeConfig {
			max_batch: 32,
			max_queue: 256,
			rank: 16,
			targets: vec![Target::Q, Target::V],
			adapter_budget: 256 << 20,
			kv_budget: 1 << 30,
			step_tokens: 256,
			weights: WeightFormat::F32,
		}
	}
}

/// The served weights' format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightFormat {
	/// As loaded: what training, evaluation and attribution use.
	F32,
	/// Q8_0 blocks dequantised inside the product ([`Llama::quantized`]): decode reads ~3.6×
	/// fewer bytes; logits move by a bounded amount (tested).
	Q8,
	/// Q4_1 blocks (`q4-1`): ~5.3× fewer bytes; a Q4_1 file's own values (SmolLM2's matrices),
	/// a 4-bit rounding of any other.
	#[value(name = "q4-1")]
	Q4_1,
}

impl WeightFormat {
	/// The block format, `None` for f32.
	pub fn blocks(self) -> Option<crate::model::quant::Format> {
		match self {
			WeightFormat::F32 => None,
			WeightFormat::Q8 => Some(crate::model::quant::Format::Q8_0),
			WeightFormat::Q4_1 => Some(crate::model::quant::Format::Q4_1),
		}
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
	/// Slots the bank has (adapters resident at once).
	pub bank_slots: AtomicUsize,
	/// KV positions the arena has and those lent to running requests.
	pub kv_positions: AtomicUsize,
	pub kv_used: AtomicUsize,
	/// Prompt chunks run (a prompt longer than a step's budget takes several).
	pub prefill_chunks: AtomicU64,
}

/// The handle the API holds.
pub struct Server {
	pub config: ServeConfig,
	pub stats: Arc<ServeStats>,
	tx: Mutex<mpsc::Sender<Job>>,
	queued: Arc<AtomicUsize>,
	max_seq: usize,
	kv_positions: usize,
}

impl Server {
	/// Starts the scheduler thread for `model` (shared, never copied).
	pub fn start(model: Arc<Llama>, tok: Arc<Tokenizer>, source: Arc<dyn AdapterSource>, config: ServeConfig) -> Result<Self> {
		if config.max_batch == 0 || config.max_queue == 0 || config.step_tokens == 0 {
			return Err(Error::bad("max_batch, max_queue and step_tokens must be at least 1"));
		}
		let model = match config.weights.blocks() {
			None => model,
			Some(format) => Arc::new(model.quantized(format)?),
		};
		let bank = LoraBank::new(&model.config, config.rank, &config.targets, config.adapter_budget, model.device())?;
		let kv = KvArena::new(&model.config, config.kv_budget, config.max_batch * model.config.max_seq, model.device())?;
		let kv_positions = kv.capacity();
		let stats = Arc::new(ServeStats { bank: bank.stats.clone(), ..Default::default() });
		stats.bank_slots.store(bank.capacity(), Ordering::Relaxed);
		stats.kv_positions.store(kv_positions, Ordering::Relaxed);
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
			kv,
			config: config.clone(),
			stats: stats.clone(),
			queued: queued.clone(),
			rx,
			waiting: VecDeque::new(),
			running: Vec::new(),
			load_tx,
			load_rx,
			finisher,
		};
		std::thread::Builder::new()
			.name("mnemo-serve".into())
			.spawn(move || s.run())
			.map_err(|e| Error::Internal(format!("cannot start the serving thread: {e}")))?;
		Ok(Server { config, stats, tx: Mutex::new(tx), queued, max_seq, kv_positions })
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
		let need = job.prompt.len() + job.sampling.max_tokens;
		if need > self.kv_positions {
			return Err(Error::bad(format!(
				"{} prompt tokens + max_tokens {} need {need} positions of KV cache; this server's KV budget holds {}",
				job.prompt.len(),
				job.sampling.max_tokens,
				self.kv_positions
			)));
		}
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
	span: KvSpan,
	/// Prompt tokens in the cache so far.
	prefilled: usize,
	/// The last sampled token, fed at the next step.
	next: Option<u32>,
	out: Vec<u32>,
	/// Bytes of the decoded text already sent.
	sent: usize,
	text: String,
	finish: Option<Finish>,
}

impl Running {
	fn decoding(&self) -> bool {
		self.prefilled == self.job.prompt.len()
	}
}

type Loaded = (ContentHash, Result<HostAdapter>, u64);

/// A queued request, and how many admission passes went by it because its KV span did not fit.
struct Waiting {
	job: Job,
	kv_passes: u32,
}

/// Admission passes a request may be passed over for KV memory before nothing behind it is
/// admitted until it fits (so a long request is not starved by a stream of short ones).
const KV_PATIENCE: u32 = 16;

struct Scheduler {
	model: Arc<Llama>,
	tok: Arc<Tokenizer>,
	source: Arc<dyn AdapterSource>,
	bank: LoraBank,
	kv: KvArena,
	config: ServeConfig,
	stats: Arc<ServeStats>,
	queued: Arc<AtomicUsize>,
	rx: mpsc::Receiver<Job>,
	waiting: VecDeque<Waiting>,
	running: Vec<Running>,
	load_tx: mpsc::Sender<Loaded>,
	load_rx: mpsc::Receiver<Loaded>,
	finisher: mpsc::Sender<(OnFinish, Outcome, tokio::sync::mpsc::UnboundedSender<Event>)>,
}

impl Scheduler {
	fn run(&mut self) {
		loop {
			if self.running.is_empty() && self.waiting.is_empty() {
				match self.rx.recv() {
					Ok(job) => self.waiting.push_back(Waiting { job, kv_passes: 0 }),
					Err(_) => return,
				}
			}
			while let Ok(job) = self.rx.try_recv() {
				self.waiting.push_back(Waiting { job, kv_passes: 0 });
			}
			self.settle();
			// Admission before prefetch: a waiting request whose adapter is resident pins it
			// before a read for another request could take its slot.
			self.admit();
			self.prefetch();
			if self.running.is_empty() {
				// Everything waiting waits for an adapter being read: wait for the loader.
				if let Ok(loaded) = self.load_rx.recv_timeout(std::time::Duration::from_millis(50)) {
					self.loaded(loaded);
				}
				continue;
			}
			self.step();
		}
	}

	/// Writes an adapter a loader read into its reserved slot; when it cannot be used, every
	/// waiting request that names it fails with the reason.
	fn loaded(&mut self, (h, r, ms): Loaded) {
		self.stats.adapter_load_ms.fetch_add(ms, Ordering::Relaxed);
		if let Err(e) = self.bank.fill(h, r) {
			let (failed, kept): (VecDeque<Waiting>, VecDeque<Waiting>) =
				std::mem::take(&mut self.waiting).into_iter().partition(|w| w.job.adapter == Some(h));
			self.waiting = kept;
			for w in failed {
				self.queued.fetch_sub(1, Ordering::SeqCst);
				abandon(w.job, Some(e.clone()));
			}
		}
	}

	/// Takes in the adapters loaders have read, and drops the requests whose clients left while
	/// they waited, before anything is read for them.
	fn settle(&mut self) {
		while let Ok(loaded) = self.load_rx.try_recv() {
			self.loaded(loaded);
		}
		let (gone, waiting): (VecDeque<Waiting>, VecDeque<Waiting>) =
			std::mem::take(&mut self.waiting).into_iter().partition(|w| w.job.events.is_closed());
		self.waiting = waiting;
		for w in gone {
			self.queued.fetch_sub(1, Ordering::SeqCst);
			self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
			abandon(w.job, None);
		}
	}

	/// Starts reading the adapters waiting requests name that have no slot, in queue order,
	/// each into a slot reserved for it; stops at the first that cannot get one (every other
	/// slot is pinned, being read, or holds an adapter a request ahead of it waits for).
	fn prefetch(&mut self) {
		let mut keep = BTreeSet::new();
		let wanted: Vec<ContentHash> = self.waiting.iter().filter_map(|w| w.job.adapter).collect();
		for h in wanted {
			if self.bank.contains(&h) || self.bank.reserved(&h) {
				keep.insert(h);
				continue;
			}
			if !self.bank.reserve(h, &keep) {
				break;
			}
			keep.insert(h);
			let (source, tx) = (self.source.clone(), self.load_tx.clone());
			std::thread::spawn(move || {
				let t = Instant::now();
				// A read that panics still answers, so its slot is freed and its requests fail.
				let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| source.load(&h)))
					.unwrap_or_else(|_| Err(Error::Internal(format!("reading adapter {} failed", h.to_hex()))));
				let _ = tx.send((h, r, t.elapsed().as_millis() as u64));
			});
		}
	}

	/// Moves waiting requests whose adapter is resident and whose KV span is free into the
	/// batch; those that must wait keep their place, and those behind them go ahead — except
	/// behind a request passed over for KV memory [`KV_PATIENCE`] times, which then waits for
	/// the memory with nothing new admitted after it.
	fn admit(&mut self) {
		let mut i = 0;
		while i < self.waiting.len() && self.running.len() < self.config.max_batch {
			let w = &mut self.waiting[i];
			if w.job.adapter.is_some_and(|h| !self.bank.contains(&h)) {
				i += 1;
				continue;
			}
			let need = w.job.prompt.len() + w.job.sampling.max_tokens;
			let Some(span) = self.kv.reserve(need) else {
				w.kv_passes += 1;
				if w.kv_passes > KV_PATIENCE {
					break;
				}
				i += 1;
				continue;
			};
			let job = self.waiting.remove(i).expect("index checked").job;
			let slot = match &job.adapter {
				None => 0,
				Some(h) => self.bank.pin(h).expect("resident, checked above"),
			};
			self.queued.fetch_sub(1, Ordering::SeqCst);
			if !self.running.is_empty() {
				self.stats.admitted_mid_batch.fetch_add(1, Ordering::Relaxed);
			}
			let rng = rand_chacha::ChaCha8Rng::seed_from_u64(job.sampling.seed);
			self.running.push(Running {
				job,
				slot,
				rng,
				span,
				prefilled: 0,
				next: None,
				out: Vec::new(),
				sent: 0,
				text: String::new(),
				finish: None,
			});
		}
		self.stats.resident_adapters.store(self.bank.resident().len(), Ordering::Relaxed);
		self.stats.running.store(self.running.len(), Ordering::Relaxed);
		self.stats.kv_used.store(self.kv.capacity() - self.kv.free_positions(), Ordering::Relaxed);
	}

	/// What each running request feeds this step: every decoding request its last token, those
	/// on one adapter side by side (so a run of [`bank::SEGMENT_ROWS`] or more multiplies by its
	/// slot's matrices where they lie instead of gathering them per row), then prompts in
	/// admission order, chunked to what is left of the step's token budget (at least a quarter
	/// of it, so prompts progress while a full batch decodes).
	fn plan(&self) -> Vec<(usize, Vec<u32>)> {
		let mut plan: Vec<(usize, Vec<u32>)> = Vec::new();
		for (i, r) in self.running.iter().enumerate() {
			if let (true, Some(t)) = (r.decoding(), r.next) {
				plan.push((i, vec![t]));
			}
		}
		plan.sort_by_key(|(i, _)| self.running[*i].slot);
		let mut budget = self.config.step_tokens.saturating_sub(plan.len()).max(self.config.step_tokens.div_ceil(4));
		for (i, r) in self.running.iter().enumerate() {
			if budget == 0 {
				break;
			}
			if !r.decoding() {
				let n = (r.job.prompt.len() - r.prefilled).min(budget);
				plan.push((i, r.job.prompt[r.prefilled..r.prefilled + n].to_vec()));
				budget -= n;
			}
		}
		plan
	}

	/// One forward pass under the token budget, and one token for every request that has its
	/// whole prompt in the cache.
	fn step(&mut self) {
		let plan = self.plan();
		if plan.is_empty() {
			return;
		}
		self.stats.steps.fetch_add(1, Ordering::Relaxed);
		let rows: Vec<usize> = plan.iter().flat_map(|(i, f)| std::iter::repeat_n(self.running[*i].slot, f.len())).collect();
		let logits = {
			let mut spans: Vec<Option<&mut KvSpan>> = self.running.iter_mut().map(|r| Some(&mut r.span)).collect();
			let mut seqs: Vec<SeqStep<'_>> = plan
				.iter()
				.map(|(i, f)| SeqStep { tokens: f, span: spans[*i].take().expect("each request once per step") })
				.collect();
			let batch = self.bank.batch(&rows);
			let adapted = rows.iter().any(|&s| s != 0);
			let (model, cache) = (&self.model, &mut self.kv.cache);
			crate::threads::serve(|| {
				let low_rank: Option<&dyn LowRank> = adapted.then_some(&batch as &dyn LowRank);
				model.logits_ragged(cache, &mut seqs, low_rank, true).to_host()
			})
		};
		let vocab = self.model.config.vocab;
		let max_seq = self.model.config.max_seq;
		for (row, (i, fed)) in plan.iter().enumerate() {
			let r = &mut self.running[*i];
			if !r.decoding() {
				r.prefilled += fed.len();
				self.stats.prefill_chunks.fetch_add(1, Ordering::Relaxed);
				if !r.decoding() {
					// More of its prompt to come: no token yet.
					continue;
				}
			}
			let logits = &logits[row * vocab..(row + 1) * vocab];
			let t = pick(logits, &r.job.sampling, &mut r.rng);
			r.next = None;
			if !r.job.ignore_eos && (t == self.tok.eos || Some(t) == self.tok.im_end) {
				r.finish = Some(Finish::Stop);
				continue;
			}
			r.out.push(t);
			self.stats.output_tokens.fetch_add(1, Ordering::Relaxed);
			let text = self.tok.decode(&r.out).unwrap_or_default();
			let (cut, stopped) = stop_at(&text, &r.job.stop);
			r.text = text[..cut].to_string();
			if stopped {
				r.finish = Some(Finish::Stop);
			} else if r.out.len() >= r.job.sampling.max_tokens || r.span.len + 1 > max_seq {
				r.finish = Some(Finish::Length);
			}
			// Send what is certain: not a half-decoded character, not what may start a stop
			// string.
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
				r.next = Some(t);
			}
		}
		// A request still prefilling notices a gone client too.
		for r in self.running.iter_mut().filter(|r| r.finish.is_none() && !r.decoding()) {
			if r.job.events.is_closed() {
				r.finish = Some(Finish::Cancelled);
			}
		}
		let mut finished = Vec::new();
		let mut i = 0;
		while i < self.running.len() {
			if self.running[i].finish.is_none() {
				i += 1;
				continue;
			}
			finished.push(self.running.remove(i));
		}
		// Memory and counts first: a client told `Done` sees its request no longer running and
		// its KV span free.
		let finished: Vec<(Job, Finish, String, usize)> = finished
			.into_iter()
			.map(|r| {
				if let Some(h) = r.job.adapter {
					self.bank.release(&h);
				}
				self.kv.release(r.span);
				(r.job, r.finish.expect("checked"), r.text, r.out.len())
			})
			.collect();
		self.stats.running.store(self.running.len(), Ordering::Relaxed);
		self.stats.kv_used.store(self.kv.capacity() - self.kv.free_positions(), Ordering::Relaxed);
		for (mut job, finish, text, out) in finished {
			if finish == Finish::Cancelled {
				self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
			}
			let outcome = Outcome { text, input_tokens: job.prompt.len() as u32, output_tokens: out as u32, finish };
			self.stats.input_tokens.fetch_add(outcome.input_tokens as u64, Ordering::Relaxed);
			match job.on_finish.take() {
				// Metering writes and fsyncs on the finisher thread, so the batch does not wait
				// for the disk; the client's `Done` still comes only after the receipt is durable.
				Some(f) => {
					let sent = (f, outcome, job.events.clone());
					if let Err(mpsc::SendError((f, outcome, events))) = self.finisher.send(sent) {
						finish_one(f, outcome, &events);
					}
				},
				None => {
					let _ = job.events.send(Event::Done(outcome));
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

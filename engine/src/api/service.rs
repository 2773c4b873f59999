//! The engine as a service: blob store, base models loaded on demand, the training job queue and
//! evaluation, independent of HTTP (the API in [`crate::api`] is a thin layer over this).
//!
//! Training jobs are keyed by the chain's (job, attempt): posting the same pair again returns
//! the same job. An accepted job is written to `jobs/<id>/request.json` before it is
//! acknowledged, its state to `status.json` as it changes, and jobs that were queued or running
//! when the engine stopped are queued again when it starts: nothing acknowledged is lost.

use crate::{
	attribution,
	train::data::{Contribution, DataSettings},
	error::{Error, Result},
	home::{self, Base},
	model::lora::{Lora, LoraConfig},
	train::plot,
	store::BlobStore,
	train::{self, Metrics, TrainSettings},
};
use burn::tensor::Device;
use codec::Encode;
use mnemo_primitives::{
	engine::{
		AttributionRequest, AttributionResponse, ContributionScore, DatanetData, EvalMetrics, EvalRequest,
		EvalSettings, LoraSpec, TrainRequest, TrainState, TrainStatus, Transcript,
	},
	ContentHash,
};
use std::{
	collections::{BTreeMap, HashMap},
	path::{Path, PathBuf},
	sync::{
		atomic::{AtomicU64, Ordering},
		mpsc, Arc, Mutex,
	},
};

/// How the engine is set up.
#[derive(Clone, Debug)]
pub struct EngineConfig {
	pub home: PathBuf,
	/// Largest blob accepted.
	pub max_blob: u64,
	/// Base models this engine serves (ids from [`home::KNOWN`]).
	pub bases: Vec<String>,
	/// Context length models are loaded with.
	pub max_seq: usize,
	/// Chunk length and batch of training and evaluation.
	pub chunk_len: usize,
	pub batch: usize,
}

impl EngineConfig {
	pub fn new(home: PathBuf) -> Self {
		EngineConfig {
			home,
			max_blob: crate::store::DEFAULT_MAX_BLOB,
			bases: vec!["tiny".into(), "smollm2-135m".into()],
			max_seq: 512,
			chunk_len: 128,
			batch: 8,
		}
	}
}

/// Counters exported at `/metrics`.
#[derive(Default)]
pub struct Counters {
	pub requests: AtomicU64,
	pub client_errors: AtomicU64,
	pub server_errors: AtomicU64,
	pub blobs_stored: AtomicU64,
	pub blob_bytes_stored: AtomicU64,
	pub evaluations: AtomicU64,
	pub train_steps: AtomicU64,
	pub train_tokens: AtomicU64,
	pub attributions: AtomicU64,
	pub gradient_cache_hits: AtomicU64,
}

pub struct Engine {
	pub config: EngineConfig,
	pub store: BlobStore,
	pub device: Device,
	pub counters: Counters,
	bases: Mutex<HashMap<String, Arc<Base>>>,
	jobs: Mutex<BTreeMap<String, TrainStatus>>,
	queue: Mutex<Option<mpsc::Sender<String>>>,
	/// One attribution at a time (they are CPU-bound, and two for the same adapter would compute
	/// its gradient cache twice), with the contexts of the latest (adapter, data) pairs attributed
	/// to, least recently used first.
	attributing: Mutex<Vec<(ContentHash, Arc<Attributable>)>>,
	/// The serving side, when this engine serves models ([`crate::serve::deploy::Serving::start`]).
	pub serving: std::sync::OnceLock<Arc<crate::serve::deploy::Serving>>,
}

/// How many (adapter, data) pairs an engine keeps ready to attribute to: an operator attributes
/// every receipt of its batches, mostly to a few adapters, and building a context (reading and
/// cutting the datanets, the units' gradients, the span index) is most of an attribution's work.
/// Each holds the adapter and its units' gradients in memory (their cache file's size).
pub const ATTRIBUTION_CONTEXTS: usize = 4;

/// An adapter ready to attribute to: on the model's device, on an autodiff device, and its
/// context over the data it was trained on.
struct Attributable {
	lora: Lora,
	lora_ad: Lora,
	ctx: attribution::Context,
}

/// What tells one attribution context from another: the adapter, the data (each datanet's
/// version and contributions, in order) and the settings that shape the preparation.
fn context_key(adapter: &ContentHash, datanets: &[DatanetData], s: &attribution::Settings) -> ContentHash {
	let shape = attribution::Settings { top_k: 1, ..s.clone() };
	let mut bytes = b"mnemo/attribution/context/v1".to_vec();
	bytes.extend_from_slice(&adapter.0);
	bytes.extend_from_slice(&datanets.encode());
	bytes.extend_from_slice(serde_json::to_string(&shape).expect("json").as_bytes());
	ContentHash::of(&bytes)
}

/// The job id of a (job, attempt) pair.
pub fn job_id(job: u32, attempt: u32) -> String {
	format!("job-{job}-{attempt}")
}

/// Writes `v` as pretty JSON to `path`, durably ([`crate::store::write_durably`]).
pub(crate) fn write_json(path: &Path, v: &impl serde::Serialize) -> Result<()> {
	let bytes = serde_json::to_vec_pretty(v).map_err(|e| Error::Internal(e.to_string()))?;
	crate::store::write_durably(&path.with_extension("json.tmp"), path, &bytes)
}

impl Engine {
	/// Opens the engine's state under `config.home` and starts the training worker, which
	/// resumes jobs left queued or running.
	pub fn start(config: EngineConfig, device: Device) -> Result<Arc<Self>> {
		let store = BlobStore::open(&config.home.join("store"), config.max_blob)?;
		let jobs_dir = config.home.join("jobs");
		std::fs::create_dir_all(&jobs_dir).map_err(Error::io(&jobs_dir))?;
		let mut jobs = BTreeMap::new();
		let mut resume = Vec::new();
		for entry in std::fs::read_dir(&jobs_dir).map_err(Error::io(&jobs_dir))?.flatten() {
			let status = entry.path().join("status.json");
			let Ok(bytes) = std::fs::read(&status) else { continue };
			let Ok(mut s) = serde_json::from_slice::<TrainStatus>(&bytes) else { continue };
			if matches!(s.state, TrainState::Queued | TrainState::Running) {
				s.state = TrainState::Queued;
				s.progress = 0.0;
				resume.push(s.id.clone());
			}
			jobs.insert(s.id.clone(), s);
		}
		resume.sort();
		let engine = Arc::new(Engine {
			config,
			store,
			device,
			counters: Counters::default(),
			bases: Mutex::new(HashMap::new()),
			jobs: Mutex::new(jobs),
			queue: Mutex::new(None),
			attributing: Mutex::new(Vec::new()),
			serving: std::sync::OnceLock::new(),
		});
		let (tx, rx) = mpsc::channel::<String>();
		for id in resume {
			tracing::info!(job = %id, "resuming a training job accepted before the restart");
			tx.send(id).expect("receiver alive");
		}
		*engine.queue.lock().expect("lock") = Some(tx);
		let worker = Arc::downgrade(&engine);
		std::thread::Builder::new()
			.name("mnemo-train".into())
			.spawn(move || {
				while let Ok(id) = rx.recv() {
					let Some(engine) = worker.upgrade() else { break };
					engine.run_job(&id);
				}
			})
			.map_err(|e| Error::Internal(format!("cannot start the training worker: {e}")))?;
		Ok(engine)
	}

	/// A served base model, loaded (and fetched or built) on first use.
	pub fn base(&self, id: &str) -> Result<Arc<Base>> {
		if !self.config.bases.iter().any(|b| b == id) {
			return Err(Error::bad(format!(
				"base model `{id}` is not served here (served: {})",
				self.config.bases.join(", ")
			)));
		}
		home::known(id).map_err(|e| Error::bad(e.to_string()))?;
		let mut bases = self.bases.lock().expect("lock");
		if let Some(b) = bases.get(id) {
			return Ok(b.clone());
		}
		let b = Arc::new(home::load(&self.config.home, id, self.config.max_seq, &self.device)?);
		bases.insert(id.to_string(), b.clone());
		Ok(b)
	}

	/// The job's settings, checked, and the adapter config they give.
	fn settings(&self, base: &str, lora: &LoraSpec, eval: &EvalSettings) -> Result<(TrainSettings, LoraConfig)> {
		let s = TrainSettings {
			rank: lora.rank as usize,
			alpha: lora.alpha as f64,
			targets: lora.targets.clone(),
			epochs: lora.epochs as usize,
			learning_rate: lora.learning_rate,
			seed: lora.seed,
			batch: self.config.batch,
			data: DataSettings {
				chunk_len: self.config.chunk_len,
				holdout: eval.holdout,
				max_eval_tokens: eval.max_eval_tokens as usize,
			},
		};
		let config = s.check(base)?;
		Ok((s, config))
	}

	/// Every contribution of the pinned datanet versions, from the blob store.
	fn contributions(&self, datanets: &[DatanetData]) -> Result<Vec<Contribution>> {
		if datanets.is_empty() || datanets.iter().all(|d| d.contributions.is_empty()) {
			return Err(Error::bad("no datanet contributions to work on"));
		}
		let mut out = Vec::new();
		for d in datanets {
			for c in &d.contributions {
				let bytes = self.store.get(&c.content_hash).map_err(|e| match e {
					Error::NotFound(_) => Error::NotFound(format!(
						"contribution {} of datanet {} (blob {}) is not in this engine's store; PUT it to /v1/blobs first",
						c.contribution,
						d.datanet,
						c.content_hash.to_hex()
					)),
					e => e,
				})?;
				out.push(Contribution::parse(&c.contribution.to_string(), &bytes, Some((d.datanet, d.version)))?);
			}
		}
		Ok(out)
	}

	/// Accepts a training job (idempotent per (job, attempt)); returns its id.
	pub fn submit(&self, req: TrainRequest) -> Result<String> {
		let id = job_id(req.job, req.attempt);
		if self.jobs.lock().expect("lock").contains_key(&id) {
			return Ok(id);
		}
		self.settings(&req.base_model, &req.lora, &req.eval)?;
		if !self.config.bases.contains(&req.base_model) {
			return Err(Error::bad(format!("base model `{}` is not served here", req.base_model)));
		}
		self.contributions(&req.datanets)?;
		let dir = self.config.home.join("jobs").join(&id);
		std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
		write_json(&dir.join("request.json"), &req)?;
		let status = TrainStatus {
			id: id.clone(),
			state: TrainState::Queued,
			progress: 0.0,
			adapter_hash: None,
			metrics: None,
			error: None,
		};
		write_json(&dir.join("status.json"), &status)?;
		let mut jobs = self.jobs.lock().expect("lock");
		if jobs.contains_key(&id) {
			return Ok(id);
		}
		jobs.insert(id.clone(), status);
		drop(jobs);
		if let Some(q) = self.queue.lock().expect("lock").as_ref() {
			q.send(id.clone()).map_err(|_| Error::Internal("the training worker stopped".into()))?;
		}
		Ok(id)
	}

	pub fn status(&self, id: &str) -> Result<TrainStatus> {
		self.jobs.lock().expect("lock").get(id).cloned().ok_or_else(|| Error::NotFound(format!("no training job `{id}`")))
	}

	/// Counts of jobs per state.
	pub fn job_counts(&self) -> [(TrainState, usize); 4] {
		let jobs = self.jobs.lock().expect("lock");
		[TrainState::Queued, TrainState::Running, TrainState::Done, TrainState::Failed]
			.map(|s| (s, jobs.values().filter(|j| j.state == s).count()))
	}

	fn update(&self, id: &str, f: impl FnOnce(&mut TrainStatus), persist: bool) {
		let mut jobs = self.jobs.lock().expect("lock");
		let Some(s) = jobs.get_mut(id) else { return };
		f(s);
		if persist {
			let path = self.config.home.join("jobs").join(id).join("status.json");
			if let Err(e) = write_json(&path, s) {
				tracing::error!(job = %id, "cannot persist the job's status: {e}");
			}
		}
	}

	fn run_job(&self, id: &str) {
		self.update(id, |s| s.state = TrainState::Running, true);
		let outcome = self.train_job(id);
		match outcome {
			Ok((hash, metrics)) => {
				tracing::info!(job = %id, adapter = %hash.to_hex(), "training done");
				self.update(
					id,
					|s| {
						s.state = TrainState::Done;
						s.progress = 1.0;
						s.adapter_hash = Some(hash);
						s.metrics = Some(metrics);
					},
					true,
				)
			},
			Err(e) => {
				tracing::warn!(job = %id, "training failed: {e}");
				self.update(
					id,
					|s| {
						s.state = TrainState::Failed;
						s.error = Some(e.to_string());
					},
					true,
				)
			},
		}
	}

	fn train_job(&self, id: &str) -> Result<(ContentHash, EvalMetrics)> {
		let path = self.config.home.join("jobs").join(id).join("request.json");
		let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
		let req: TrainRequest = serde_json::from_slice(&bytes).map_err(|e| Error::Internal(e.to_string()))?;
		let (settings, _) = self.settings(&req.base_model, &req.lora, &req.eval)?;
		let base = self.base(&req.base_model)?;
		let contributions = self.contributions(&req.datanets)?;
		let trained = train::train(&base.model, &base.tokenizer, &base.id, &contributions, &settings, |p| {
			self.counters.train_steps.fetch_add(1, Ordering::Relaxed);
			self.counters.train_tokens.store(p.tokens, Ordering::Relaxed);
			self.update(id, |s| s.progress = p.step as f64 / p.steps as f64 * 0.95, false);
		})?;
		let bytes = trained.lora.to_safetensors()?;
		let hash = self.store.put_own(&bytes)?;
		self.save_adapter_dir(&hash, &trained.lora, &trained.metrics)?;
		// Attestors will ask about this adapter: compute its gradient cache now rather than on
		// the first attribution. A failure here is not the job's: attribution computes it then.
		let ad = base.model.device().clone().autodiff();
		let cached = Lora::from_safetensors(&bytes, None, &base.model.config, &ad)
			.and_then(|lora_ad| self.train_gradients(&base, &lora_ad, &hash, &contributions, &self.attribution_settings(16)));
		if let Err(e) = cached {
			tracing::warn!(job = %id, "the adapter's gradient cache was not built: {e}");
		}
		Ok((hash, EvalMetrics { per_datanet: trained.metrics.eval.per_datanet }))
	}

	/// Attribution settings: the defaults with the engine's chunk length.
	fn attribution_settings(&self, top_k: u32) -> attribution::Settings {
		attribution::Settings { top_k, chunk_len: self.config.chunk_len, ..Default::default() }
	}

	/// The adapter's training gradients over `contributions`, from or into its cache
	/// (`adapters/<hash>/grads/`); returns whether they were cached already.
	fn train_gradients(&self, base: &Base, lora_ad: &Lora, hash: &ContentHash, contributions: &[Contribution], s: &attribution::Settings) -> Result<bool> {
		let dir = self.config.home.join("adapters").join(hash.to_hex()).join("grads");
		let prep = attribution::prepare(contributions, &base.tokenizer, s)?;
		Ok(attribution::train_gradients(&base.model, lora_ad, &prep, hash, s, Some(&dir))?.1)
	}

	/// `adapters/<hash>/`: PEFT files, `metrics.json` and `loss.png`.
	fn save_adapter_dir(&self, hash: &ContentHash, lora: &Lora, metrics: &Metrics) -> Result<PathBuf> {
		let dir = self.config.home.join("adapters").join(hash.to_hex());
		lora.save_peft(&dir)?;
		write_json(&dir.join("metrics.json"), metrics)?;
		plot::loss_curve(&metrics.train.losses, &dir.join("loss.png"))?;
		Ok(dir)
	}

	/// An adapter's bytes from the store; a 404 that names the adapter when it is not there.
	pub(crate) fn adapter_bytes(&self, hash: &ContentHash) -> Result<Vec<u8>> {
		self.store.get(hash).map_err(|e| match e {
			Error::NotFound(_) => Error::NotFound(format!("adapter {} is not in this engine's store", hash.to_hex())),
			e => e,
		})
	}

	/// Evaluates an adapter from the store against its base on the pinned held-out split.
	pub fn evaluate(&self, req: &EvalRequest) -> Result<EvalMetrics> {
		let (settings, wanted) = self.settings(&req.base_model, &req.lora, &req.eval)?;
		let base = self.base(&req.base_model)?;
		let bytes = self.adapter_bytes(&req.adapter_hash)?;
		let lora = Lora::from_safetensors(&bytes, None, &base.model.config, base.model.device())?;
		if lora.config.rank != wanted.rank || lora.config.targets != wanted.targets {
			return Err(Error::bad(format!(
				"adapter {} has rank {} on {:?}, but the job specifies rank {} on {:?}",
				req.adapter_hash.to_hex(),
				lora.config.rank,
				lora.config.targets,
				wanted.rank,
				wanted.targets
			)));
		}
		let contributions = self.contributions(&req.datanets)?;
		let data = crate::train::data::split(&contributions, &base.tokenizer, &settings.data)?;
		let eval = train::evaluate(&base.model, &lora, &contributions, &data, &settings.data, settings.batch, base.tokenizer.eos);
		self.counters.evaluations.fetch_add(1, Ordering::Relaxed);
		Ok(EvalMetrics { per_datanet: eval.per_datanet })
	}

	/// Attributes one inference (`POST /v1/attribution`): the adapter and the transcript from
	/// the blob store, the base model from the adapter's metadata, the training data by content
	/// hash. Contributions are taken in the request's order (on the chain: by datanet, then
	/// ascending contribution id, i.e. submission order), which decides who is first among copies.
	pub fn attribute(&self, req: &AttributionRequest) -> Result<AttributionResponse> {
		let settings = self.attribution_settings(req.top_k);
		settings.check()?;
		let adapter = self.adapter_bytes(&req.adapter_hash)?;
		let transcript = self.store.get(&req.transcript).map_err(|e| match e {
			Error::NotFound(_) => Error::NotFound(format!(
				"transcript {} is not in this engine's store; the serving operator stores it there",
				req.transcript.to_hex()
			)),
			e => e,
		})?;
		let t: Transcript = serde_json::from_slice(&transcript).map_err(|e| {
			Error::bad(format!("transcript {} is not {{\"prompt\", \"output\"}} JSON: {e}", req.transcript.to_hex()))
		})?;
		let base_id = Lora::base_of(&adapter)?;
		let base = self.base(&base_id)?;
		let ids: Vec<_> = req.datanets.iter().flat_map(|d| d.contributions.iter().map(|c| c.contribution)).collect();
		let labels: Vec<String> = req
			.datanets
			.iter()
			.flat_map(|d| d.contributions.iter().map(move |c| format!("{}/{}/{}", d.datanet, d.version, c.contribution)))
			.collect();
		let (prompt_tokens, output_tokens) = base.tokenizer.transcript_tokens(&t)?;
		let query = attribution::Query { prompt: t.prompt, output: t.output };
		let mut contexts = self.attributing.lock().unwrap_or_else(|e| e.into_inner());
		let key = context_key(&req.adapter_hash, &req.datanets, &settings);
		let (held, reused) = match contexts.iter().position(|(k, _)| *k == key) {
			Some(i) => (contexts.remove(i).1, true),
			None => {
				let lora = Lora::from_safetensors(&adapter, None, &base.model.config, base.model.device())?;
				let ad = base.model.device().clone().autodiff();
				let lora_ad = Lora::from_safetensors(&adapter, None, &base.model.config, &ad)?;
				let contributions = self.contributions(&req.datanets)?;
				let cache = self.config.home.join("adapters").join(req.adapter_hash.to_hex()).join("grads");
				let ctx = attribution::Context::new(&base.model, &base.tokenizer, &lora_ad, &req.adapter_hash, &contributions, &settings, Some(&cache))?;
				(Arc::new(Attributable { lora, lora_ad, ctx }), false)
			},
		};
		// Most recently used last; the least recently used goes first.
		contexts.push((key, held.clone()));
		if contexts.len() > ATTRIBUTION_CONTEXTS {
			contexts.remove(0);
		}
		// Queries against a context run side by side: only finding or building it is locked.
		drop(contexts);
		let mut a = held.ctx.attribute(&base.model, &base.tokenizer, &base.id, &held.lora, &held.lora_ad, &labels, &req.transcript, &query, &settings)?;
		a.cached |= reused;
		self.counters.attributions.fetch_add(1, Ordering::Relaxed);
		if a.cached {
			self.counters.gradient_cache_hits.fetch_add(1, Ordering::Relaxed);
		}
		tracing::info!(
			receipt = req.receipt,
			adapter = req.adapter,
			method = a.method,
			residual = a.residual,
			copies_dropped = a.copies_dropped,
			cached = a.cached,
			"attributed"
		);
		Ok(AttributionResponse {
			contributions: a.scores.iter().map(|(i, score)| ContributionScore { contribution: ids[*i], score: *score }).collect(),
			residual: a.residual,
			method: a.method.to_string(),
			method_version: a.method_version,
			digest: a.digest,
			tokens: prompt_tokens.saturating_add(output_tokens),
		})
	}
}

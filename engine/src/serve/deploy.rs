//! The engine's serving side: one base model, the adapters deployed on it, the scheduler
//! ([`crate::serve`]) and metering ([`crate::serve::meter`]). The OpenAI-compatible HTTP layer is
//! [`crate::api::openai`].
//!
//! A deployment names an adapter in the blob store: `name → (adapter hash, on-chain adapter id,
//! price per 1,000 tokens)`. Deployments persist in `serving/deployments.json`. A deployment
//! with an on-chain id is metered (requests need a payer's voucher); one without is free (a
//! local model). The base model itself is always free: it attributes nothing to anyone.

use crate::{
	error::{Error, Result},
	home::Base,
	model::lora::Lora,
	serve::meter::{Meter, NodeChain, Price, ReceiptChain},
	model::Config,
	serve::{bank::HostAdapter, AdapterSource, ServeConfig, Server},
	api::service::Engine,
	store::BlobStore,
};
use burn::tensor::Device;
use mnemo_primitives::{Balance, ContentHash};
use std::{
	collections::BTreeMap,
	path::PathBuf,
	sync::{Arc, RwLock},
	time::Duration,
};

/// One deployed adapter.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Deployment {
	/// The `model` name requests use.
	pub name: String,
	pub adapter: ContentHash,
	/// The adapter's id on chain; `None`: not sold on chain, served free.
	pub chain_adapter: Option<u32>,
	/// Price per 1,000 tokens (what the chain's models pallet lists for it).
	#[serde(default)]
	pub price_per_1k: Balance,
	pub rank: usize,
	pub created: u64,
}

/// Metering: the operator's key and the chain it records receipts on.
pub struct Metering {
	pub operator: mnemo_client::Signer,
	/// The node's RPC URL; `None`: receipts are journaled but not flushed.
	pub node: Option<String>,
	/// The chain's genesis hash (read from the node when one is given).
	pub genesis: Option<mnemo_primitives::Hash>,
	pub flush_interval: Duration,
}

/// How serving is set up.
pub struct ServingConfig {
	pub base: String,
	pub serve: ServeConfig,
	pub metering: Option<Metering>,
}

pub struct Serving {
	pub engine: Arc<Engine>,
	pub base: Arc<Base>,
	pub server: Server,
	pub meter: Option<Arc<Meter>>,
	deployments: RwLock<BTreeMap<String, Deployment>>,
	path: PathBuf,
}

/// Adapters from the blob store.
struct StoreSource {
	store: Arc<BlobStore>,
	config: Config,
	device: Device,
}

impl AdapterSource for StoreSource {
	fn load(&self, hash: &ContentHash) -> Result<HostAdapter> {
		HostAdapter::from_safetensors(*hash, &self.store.get(hash)?, &self.config, &self.device)
	}
}

pub(crate) fn now() -> u64 {
	std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Serving {
	/// Loads the base, starts the scheduler and, when metering, the receipt flusher.
	pub fn start(engine: Arc<Engine>, config: ServingConfig) -> Result<Arc<Self>> {
		let base = engine.base(&config.base)?;
		let dir = engine.config.home.join("serving");
		std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
		let store = Arc::new(BlobStore::reader(&engine.config.home.join("store")));
		let source =
			Arc::new(StoreSource { store: store.clone(), config: base.model.config.clone(), device: engine.device.clone() });
		// The scheduler shares the base's weights; it never copies them.
		let model = Arc::new(base.model.clone_shared());
		let tok = Arc::new(base.tokenizer.clone());
		let server = Server::start(model, tok, source, config.serve)?;
		let meter = match config.metering {
			None => None,
			Some(m) => {
				let client = match &m.node {
					Some(url) => Some(mnemo_client::Client::connect(url).map_err(|e| Error::bad(e.to_string()))?),
					None => None,
				};
				let genesis = match (&client, m.genesis) {
					(Some(c), Some(g)) if c.genesis != g => {
						return Err(Error::bad(format!("--genesis {g:?} is not the node's ({:?})", c.genesis)))
					},
					(Some(c), _) => c.genesis,
					(None, Some(g)) => g,
					(None, None) => return Err(Error::bad("metering needs the chain: give --node or --genesis")),
				};
				// A connection of its own for reading payers' channels when requests arrive.
				let view = match &m.node {
					Some(url) => {
						let client = mnemo_client::Client::connect(url).map_err(|e| Error::bad(e.to_string()))?;
						let timeout = Duration::from_secs(60);
						Some(Box::new(NodeChain { client, operator: m.operator.clone(), timeout }) as Box<dyn ReceiptChain>)
					},
					None => None,
				};
				let meter = Arc::new(Meter::open(&dir.join("receipts"), m.operator.account(), genesis, store, view)?);
				if let Some(url) = m.node {
					let key = m.operator.clone();
					meter.spawn_flusher(m.flush_interval, move || {
						let client = mnemo_client::Client::connect(&url).map_err(|e| Error::Internal(e.to_string()))?;
						Ok(Box::new(NodeChain { client, operator: key.clone(), timeout: Duration::from_secs(60) }) as Box<dyn ReceiptChain>)
					}, engine.clone());
				}
				Some(meter)
			},
		};
		let path = dir.join("deployments.json");
		let deployments: BTreeMap<String, Deployment> = match std::fs::read(&path) {
			Ok(b) => serde_json::from_slice::<Vec<Deployment>>(&b)
				.map_err(|e| Error::format(&path, e.to_string()))?
				.into_iter()
				.map(|d| (d.name.clone(), d))
				.collect(),
			Err(_) => BTreeMap::new(),
		};
		let s = Arc::new(Serving { engine: engine.clone(), base, server, meter, deployments: RwLock::new(deployments), path });
		engine.serving.set(s.clone()).map_err(|_| Error::bad("this engine already serves"))?;
		Ok(s)
	}

	/// Deploys (or redeploys) `name`: the adapter must be in the store, on this base, no wider
	/// than the serving rank, and adapt only the served projections.
	pub fn deploy(&self, name: &str, adapter: ContentHash, chain_adapter: Option<u32>, price_per_1k: Balance) -> Result<Deployment> {
		let ok_name = !name.is_empty() &&
			name.len() <= 64 &&
			name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
		if !ok_name {
			return Err(Error::bad(format!("model name `{name}`: 1 to 64 of a-z, A-Z, 0-9, -, _, ., :")));
		}
		if name == self.base.id {
			return Err(Error::bad(format!("`{name}` is the base model's name")));
		}
		let bytes = self.engine.adapter_bytes(&adapter)?;
		let base = Lora::base_of(&bytes)?;
		if base != self.base.id {
			return Err(Error::bad(format!("adapter {} is for base `{base}`; this engine serves `{}`", adapter.to_hex(), self.base.id)));
		}
		let lora = Lora::from_safetensors(&bytes, None, &self.base.model.config, self.base.model.device())?;
		if lora.config.rank > self.server.config.rank {
			return Err(Error::bad(format!(
				"adapter rank {} is above this server's serving rank {} (--max-rank)",
				lora.config.rank, self.server.config.rank
			)));
		}
		let served = &self.server.config.targets;
		if let Some(t) = lora.config.targets.iter().find(|t| !served.contains(t)) {
			return Err(Error::bad(format!(
				"adapter {} adapts {}, which this server does not serve (--serve-targets {})",
				adapter.to_hex(),
				t.peft(),
				served.iter().map(|t| t.peft().trim_end_matches("_proj")).collect::<Vec<_>>().join(",")
			)));
		}
		if chain_adapter.is_some() && self.meter.is_none() {
			return Err(Error::bad("an on-chain adapter needs metering: start the engine with --operator"));
		}
		let d = Deployment { name: name.into(), adapter, chain_adapter, price_per_1k, rank: lora.config.rank, created: now() };
		let mut all = self.deployments.write().expect("lock");
		all.insert(name.into(), d.clone());
		self.persist(&all)?;
		Ok(d)
	}

	pub fn undeploy(&self, name: &str) -> Result<()> {
		let mut all = self.deployments.write().expect("lock");
		all.remove(name).ok_or_else(|| Error::NotFound(format!("no model `{name}` is deployed")))?;
		self.persist(&all)
	}

	fn persist(&self, all: &BTreeMap<String, Deployment>) -> Result<()> {
		crate::api::service::write_json(&self.path, &all.values().collect::<Vec<_>>())
	}

	pub fn deployments(&self) -> Vec<Deployment> {
		self.deployments.read().expect("lock").values().cloned().collect()
	}

	/// The deployment a request's `model` names (`None`: the base model).
	pub fn resolve(&self, model: &str) -> Result<Option<Deployment>> {
		if model == self.base.id {
			return Ok(None);
		}
		self.deployments.read().expect("lock").get(model).cloned().map(Some).ok_or_else(|| {
			Error::NotFound(format!("model `{model}` is not deployed here (GET /v1/models lists what is)"))
		})
	}

	/// The price of a metered deployment.
	pub fn price(d: &Deployment) -> Option<Price> {
		d.chain_adapter.map(|id| Price { chain_adapter: id, price_per_1k: d.price_per_1k })
	}
}

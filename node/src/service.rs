//! The node's services: the client, the transaction pool, networking, RPC, offchain workers,
//! and block production — Aura collation on a relay chain, or manual seal on a timer in dev.

use std::{sync::Arc, time::Duration};

use codec::Encode;
use cumulus_client_cli::CollatorOptions;
use cumulus_client_collator::service::CollatorService;
use cumulus_client_consensus_aura::collators::lookahead::{self as aura, Params as AuraParams};
use cumulus_client_consensus_common::ParachainBlockImport as TParachainBlockImport;
use cumulus_client_parachain_inherent::MockValidationDataInherentDataProvider;
use cumulus_client_service::{
	build_network, build_relay_chain_interface, prepare_node_config, start_relay_chain_tasks,
	BuildNetworkParams, DARecoveryProfile, ParachainHostFunctions, StartRelayChainTasksParams,
};
use cumulus_primitives_core::{relay_chain::ValidationCode, CollectCollationInfo, ParaId};
use cumulus_relay_chain_interface::{OverseerHandle, RelayChainInterface};
use futures::FutureExt;
use log::info;
use mnemo_primitives::OpaqueBlock as Block;
use mnemo_runtime::apis::RuntimeApi;
use polkadot_primitives::{CollatorPair, UpgradeGoAhead};
use prometheus_endpoint::Registry;
use sc_client_api::Backend;
use sc_consensus::{DefaultImportQueue, LongestChain};
use sc_consensus_manual_seal::consensus::aura::AuraConsensusDataProvider;
use sc_executor::{HeapAllocStrategy, WasmExecutor, DEFAULT_HEAP_ALLOC_STRATEGY};
use sc_network::{config::FullNetworkConfiguration, NetworkBlock, NotificationMetrics};
use sc_service::ImportQueue;
use sc_service::{Configuration, PartialComponents, TFullBackend, TFullClient, TaskManager};
use sc_telemetry::{Telemetry, TelemetryHandle, TelemetryWorker, TelemetryWorkerHandle};
use sc_transaction_pool::TransactionPoolHandle;
use sc_transaction_pool_api::OffchainTransactionPoolFactory;
use sp_api::ProvideRuntimeApi;
use sp_keystore::{Keystore, KeystorePtr};
use sp_runtime::traits::{Header as HeaderT, UniqueSaturatedInto};

use crate::{cli::DevKey, shutdown::InFlight};

type Hash = mnemo_primitives::Hash;

/// The wasm executor, with the host functions a parachain runtime needs.
pub type ParachainExecutor = WasmExecutor<ParachainHostFunctions>;
/// The full client.
pub type ParachainClient = TFullClient<Block, RuntimeApi, ParachainExecutor>;
/// The database backend.
pub type ParachainBackend = TFullBackend<Block>;
/// Block import that knows about the parachain's unincluded segment.
pub type ParachainBlockImport =
	TParachainBlockImport<Block, Arc<ParachainClient>, ParachainBackend>;
/// The transaction pool.
pub type TransactionPool = TransactionPoolHandle<Block, ParachainClient>;

/// The parts every command shares.
pub type Service = PartialComponents<
	ParachainClient,
	ParachainBackend,
	(),
	DefaultImportQueue<Block>,
	TransactionPool,
	(
		ParachainBlockImport,
		Option<Telemetry>,
		Option<TelemetryWorkerHandle>,
	),
>;

/// Relay chain slot duration.
const RELAY_CHAIN_SLOT_DURATION_MILLIS: u64 = 6000;

/// Build the client, backend, keystore, transaction pool and an Aura-verifying import queue.
pub fn new_partial(config: &Configuration) -> Result<Service, sc_service::Error> {
	new_partial_with(config, false)
}

fn new_partial_with(config: &Configuration, dev: bool) -> Result<Service, sc_service::Error> {
	let telemetry = config
		.telemetry_endpoints
		.clone()
		.filter(|x| !x.is_empty())
		.map(|endpoints| -> Result<_, sc_telemetry::Error> {
			let worker = TelemetryWorker::new(16)?;
			let telemetry = worker.handle().new_telemetry(endpoints);
			Ok((worker, telemetry))
		})
		.transpose()?;

	let heap_pages = config
		.executor
		.default_heap_pages
		.map_or(DEFAULT_HEAP_ALLOC_STRATEGY, |h| HeapAllocStrategy::Static {
			extra_pages: h as _,
		});

	let executor = ParachainExecutor::builder()
		.with_execution_method(config.executor.wasm_method)
		.with_max_runtime_instances(config.executor.max_runtime_instances)
		.with_runtime_cache_size(config.executor.runtime_cache_size)
		.with_onchain_heap_alloc_strategy(heap_pages)
		.with_offchain_heap_alloc_strategy(heap_pages)
		.build();

	let (client, backend, keystore_container, task_manager) =
		sc_service::new_full_parts_record_import::<Block, RuntimeApi, _>(
			config,
			telemetry.as_ref().map(|(_, telemetry)| telemetry.handle()),
			executor,
			true,
			Default::default(),
		)?;
	let client = Arc::new(client);

	let telemetry_worker_handle = telemetry.as_ref().map(|(worker, _)| worker.handle());
	let telemetry = telemetry.map(|(worker, telemetry)| {
		task_manager
			.spawn_handle()
			.spawn("telemetry", None, worker.run());
		telemetry
	});

	let transaction_pool = Arc::from(
		sc_transaction_pool::Builder::new(
			task_manager.spawn_essential_handle(),
			client.clone(),
			config.role.is_authority().into(),
		)
		.with_options(config.transaction_pool.clone())
		.with_prometheus(config.prometheus_registry())
		.build(),
	);

	let block_import = ParachainBlockImport::new(client.clone(), backend.clone());

	let import_queue = if dev {
		sc_consensus_manual_seal::import_queue(
			Box::new(client.clone()),
			&task_manager.spawn_essential_handle(),
			config.prometheus_registry(),
		)
	} else {
		build_import_queue(
			client.clone(),
			block_import.clone(),
			config,
			telemetry.as_ref().map(|telemetry| telemetry.handle()),
			&task_manager,
		)
	};

	Ok(PartialComponents {
		backend,
		client,
		import_queue,
		keystore_container,
		task_manager,
		transaction_pool,
		select_chain: (),
		other: (block_import, telemetry, telemetry_worker_handle),
	})
}

/// Aura import queue that checks authorship, slots and equivocations.
fn build_import_queue(
	client: Arc<ParachainClient>,
	block_import: ParachainBlockImport,
	config: &Configuration,
	telemetry: Option<TelemetryHandle>,
	task_manager: &TaskManager,
) -> DefaultImportQueue<Block> {
	cumulus_client_consensus_aura::equivocation_import_queue::fully_verifying_import_queue::<
		sp_consensus_aura::sr25519::AuthorityPair,
		_,
		_,
		_,
		_,
	>(
		client,
		block_import,
		move |_, _| async move {
			let timestamp = sp_timestamp::InherentDataProvider::from_system_time();
			Ok(timestamp)
		},
		&task_manager.spawn_essential_handle(),
		config.prometheus_registry(),
		telemetry,
	)
}

/// Put the `--dev-key` keys into the node's keystore.
pub fn insert_dev_keys(keystore: &KeystorePtr, keys: &[DevKey]) -> Result<(), sc_service::Error> {
	use sp_core::Pair;
	for key in keys {
		let pair = sp_core::sr25519::Pair::from_string(&key.suri, None).map_err(|e| {
			sc_service::Error::Other(format!("--dev-key {:?}: invalid SURI: {e:?}", key.key_type))
		})?;
		keystore
			.insert(key.key_type, &key.suri, pair.public().as_ref())
			.map_err(|_| {
				sc_service::Error::Other(format!(
					"--dev-key {:?}: the keystore refused the key",
					key.key_type
				))
			})?;
		info!(
			"🔑 Inserted a {} key into the keystore: {}",
			String::from_utf8_lossy(&key.key_type.0),
			pair.public()
		);
	}
	Ok(())
}

/// Start offchain workers, with HTTP, against this node's keystore and pool.
fn start_offchain_workers(
	config: &Configuration,
	client: &Arc<ParachainClient>,
	backend: &Arc<ParachainBackend>,
	keystore: KeystorePtr,
	transaction_pool: &Arc<TransactionPool>,
	network: Arc<dyn sc_network::service::traits::NetworkService>,
	task_manager: &TaskManager,
	in_flight: &InFlight,
) -> Result<(), sc_service::Error> {
	if !config.offchain_worker.enabled {
		return Ok(());
	}
	let offchain_workers = sc_offchain::OffchainWorkers::new(sc_offchain::OffchainWorkerOptions {
		// Tracked: workers run on their own threads, and the node waits for them at shutdown.
		runtime_api_provider: Arc::new(in_flight.track(client.clone())),
		keystore: Some(keystore),
		offchain_db: backend.offchain_storage().map(|db| in_flight.track(db)),
		transaction_pool: Some(OffchainTransactionPoolFactory::new(
			in_flight.track(transaction_pool.clone()),
		)),
		network_provider: Arc::new(network),
		is_validator: config.role.is_authority(),
		enable_http_requests: true,
		custom_extensions: |_| vec![],
	})?;
	task_manager.spawn_handle().spawn(
		"offchain-workers-runner",
		"offchain-work",
		offchain_workers
			.run(client.clone(), task_manager.spawn_handle())
			.boxed(),
	);
	Ok(())
}

fn rpc_builder(
	client: &Arc<ParachainClient>,
	backend: &Arc<ParachainBackend>,
	pool: &Arc<TransactionPool>,
) -> Box<
	dyn Fn(sc_rpc::SubscriptionTaskExecutor) -> Result<crate::rpc::RpcExtension, sc_service::Error>,
> {
	let client = client.clone();
	let backend = backend.clone();
	let pool = pool.clone();
	Box::new(move |_| {
		crate::rpc::create_full(crate::rpc::FullDeps {
			client: client.clone(),
			pool: pool.clone(),
			offchain_storage: backend.offchain_storage(),
		})
		.map_err(Into::into)
	})
}

/// The relay-free development node: seals a block every `block_time_ms` with mocked relay data.
pub fn start_dev_node(
	mut config: Configuration,
	block_time_ms: u64,
	dev_keys: &[DevKey],
	in_flight: &InFlight,
) -> Result<TaskManager, sc_service::Error> {
	let PartialComponents {
		client,
		backend,
		mut task_manager,
		import_queue,
		keystore_container,
		select_chain: _,
		transaction_pool,
		other: (_, mut telemetry, _),
	} = new_partial_with(&config, true)?;
	insert_dev_keys(&keystore_container.keystore(), dev_keys)?;

	// A dev node talks to nobody.
	config.network.default_peers_set.in_peers = 0;
	config.network.default_peers_set.out_peers = 0;
	let net_config = FullNetworkConfiguration::<_, _, sc_network::Litep2pNetworkBackend>::new(
		&config.network,
		None,
	);
	let metrics = NotificationMetrics::new(None);

	let (network, system_rpc_tx, tx_handler_controller, sync_service, _bitswap) =
		sc_service::build_network(sc_service::BuildNetworkParams {
			config: &config,
			client: client.clone(),
			transaction_pool: transaction_pool.clone(),
			spawn_handle: task_manager.spawn_handle(),
			spawn_essential_handle: task_manager.spawn_essential_handle(),
			import_queue,
			net_config,
			block_announce_validator_builder: None,
			warp_sync_config: None,
			block_relay: None,
			metrics,
			gap_sync_body_policy: None,
		})?;

	start_offchain_workers(
		&config,
		&client,
		&backend,
		keystore_container.keystore(),
		&transaction_pool,
		network.clone(),
		&task_manager,
		in_flight,
	)?;

	let proposer = sc_basic_authorship::ProposerFactory::new(
		task_manager.spawn_handle(),
		client.clone(),
		transaction_pool.clone(),
		None,
		None,
	);

	let slot_duration = sc_consensus_aura::slot_duration(&*client)?;
	// Digests that match the timestamps below, so Aura's slot checks pass.
	let aura_digest_provider =
		AuraConsensusDataProvider::<Block>::new_with_slot_duration(slot_duration);

	let para_id = crate::chain_spec::Extensions::para_id_of(&*config.chain_spec)
		.unwrap_or_else(|| ParaId::from(mnemo_runtime::PARACHAIN_ID));
	let create_inherent_data_providers =
		dev_inherent_data_providers(client.clone(), para_id, slot_duration);

	// The timer: one seal command per `block_time_ms`.
	let (mut seal_sink, seal_stream) = futures::channel::mpsc::channel(1024);
	task_manager
		.spawn_essential_handle()
		.spawn("dev-block-timer", None, async move {
			loop {
				futures_timer::Delay::new(Duration::from_millis(block_time_ms)).await;
				let command = sc_consensus_manual_seal::EngineCommand::SealNewBlock {
					create_empty: true,
					finalize: true,
					parent_hash: None,
					sender: None,
				};
				if seal_sink.try_send(command).is_err() {
					// The sealing task has ended (node shutting down) or is far behind; stop ticking
					// only in the first case.
					if seal_sink.is_closed() {
						break;
					}
				}
			}
		});

	let params = sc_consensus_manual_seal::ManualSealParams {
		block_import: client.clone(),
		env: proposer,
		client: client.clone(),
		pool: transaction_pool.clone(),
		select_chain: LongestChain::new(backend.clone()),
		commands_stream: Box::pin(seal_stream),
		consensus_data_provider: Some(Box::new(aura_digest_provider)),
		create_inherent_data_providers,
	};
	task_manager.spawn_essential_handle().spawn_blocking(
		"manual-seal",
		None,
		sc_consensus_manual_seal::run_manual_seal(params),
	);

	sc_service::spawn_tasks(sc_service::SpawnTasksParams {
		network,
		client: client.clone(),
		keystore: keystore_container.keystore(),
		task_manager: &mut task_manager,
		transaction_pool: transaction_pool.clone(),
		rpc_builder: rpc_builder(&client, &backend, &transaction_pool),
		backend,
		system_rpc_tx,
		tx_handler_controller,
		sync_service,
		config,
		telemetry: telemetry.as_mut(),
		tracing_execute_block: None,
	})?;

	Ok(task_manager)
}

/// Timestamp and mocked relay-chain validation data for dev blocks.
///
/// Each block gets its own relay slot and a timestamp one parachain slot after its parent's, so
/// Aura's slot and the consensus hook's relay-slot checks pass however fast the timer runs.
fn dev_inherent_data_providers(
	client: Arc<ParachainClient>,
	para_id: ParaId,
	slot_duration: sp_consensus_aura::SlotDuration,
) -> impl Fn(
	Hash,
	(),
) -> futures::future::Ready<
	Result<
		(
			sp_timestamp::InherentDataProvider,
			MockValidationDataInherentDataProvider<()>,
		),
		Box<dyn std::error::Error + Send + Sync>,
	>,
> + Send
       + Sync {
	// Start two hours in the past so that fast dev blocks take a while to run into the future.
	let initial_relay_slot = std::time::SystemTime::now()
		.duration_since(std::time::UNIX_EPOCH)
		.map(|d| d.as_millis() as u64)
		.unwrap_or_default()
		.saturating_sub(2 * 60 * 60 * 1000)
		/ RELAY_CHAIN_SLOT_DURATION_MILLIS;

	move |parent: Hash, ()| {
		let build = || -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
			let parent_header = client
				.header(parent)?
				.ok_or_else(|| format!("parent block {parent:?} is not in the database"))?;
			// Send the go-ahead when the runtime has scheduled a code upgrade.
			let upgrade_pending = client
				.runtime_api()
				.collect_collation_info(parent, &parent_header)
				.map(|info| info.new_validation_code.is_some())
				.unwrap_or_default();
			let block_number =
				UniqueSaturatedInto::<u32>::unique_saturated_into(*parent_header.number()) + 1;
			let relay_blocks_per_para_block =
				(slot_duration.as_millis() / RELAY_CHAIN_SLOT_DURATION_MILLIS).max(1) as u32;
			let relay_slot = initial_relay_slot
				+ u64::from(block_number) * u64::from(relay_blocks_per_para_block);
			let relay_offset =
				(relay_slot as u32).saturating_sub(relay_blocks_per_para_block * block_number);

			let validation_data = MockValidationDataInherentDataProvider::<()> {
				current_para_block: block_number,
				para_id,
				current_para_block_head: Some(polkadot_primitives::HeadData(
					parent_header.encode(),
				)),
				relay_blocks_per_para_block,
				relay_offset,
				relay_parent_offset: 0,
				para_blocks_per_relay_epoch: 10,
				upgrade_go_ahead: upgrade_pending.then_some(UpgradeGoAhead::GoAhead),
				..Default::default()
			};
			let timestamp = sp_timestamp::InherentDataProvider::new(
				(relay_slot * RELAY_CHAIN_SLOT_DURATION_MILLIS).into(),
			);
			Ok((timestamp, validation_data))
		};
		futures::future::ready(build())
	}
}

/// A collator or full node of the parachain, with an embedded (or RPC) relay chain node.
pub async fn start_parachain_node(
	parachain_config: Configuration,
	polkadot_config: Configuration,
	collator_options: CollatorOptions,
	para_id: ParaId,
	hwbench: Option<sc_sysinfo::HwBench>,
	dev_keys: &[DevKey],
	in_flight: &InFlight,
) -> sc_service::error::Result<(TaskManager, Arc<ParachainClient>)> {
	let parachain_config = prepare_node_config(parachain_config);

	let params = new_partial(&parachain_config)?;
	insert_dev_keys(&params.keystore_container.keystore(), dev_keys)?;
	let (block_import, mut telemetry, telemetry_worker_handle) = params.other;
	let client = params.client.clone();
	let backend = params.backend.clone();
	let mut task_manager = params.task_manager;

	let (relay_chain_interface, collator_key, _relay_network, _paranode_rx) =
		build_relay_chain_interface(
			polkadot_config,
			&parachain_config,
			telemetry_worker_handle,
			&mut task_manager,
			collator_options.clone(),
			hwbench.clone(),
		)
		.await
		.map_err(|e| sc_service::Error::Application(Box::new(e) as Box<_>))?;

	let validator = parachain_config.role.is_authority();
	let prometheus_registry = parachain_config.prometheus_registry().cloned();
	let transaction_pool = params.transaction_pool.clone();
	let import_queue_service = params.import_queue.service();
	let net_config = FullNetworkConfiguration::<_, _, sc_network::Litep2pNetworkBackend>::new(
		&parachain_config.network,
		prometheus_registry.clone(),
	);
	let metrics = <sc_network::Litep2pNetworkBackend as sc_network::NetworkBackend<
		Block,
		Hash,
	>>::register_notification_metrics(prometheus_registry.as_ref());

	let (network, system_rpc_tx, tx_handler_controller, sync_service, _bitswap) =
		build_network(BuildNetworkParams {
			parachain_config: &parachain_config,
			net_config,
			client: client.clone(),
			transaction_pool: transaction_pool.clone(),
			para_id,
			spawn_handle: task_manager.spawn_handle(),
			spawn_essential_handle: task_manager.spawn_essential_handle(),
			relay_chain_interface: relay_chain_interface.clone(),
			import_queue: params.import_queue,
			metrics,
			gap_sync_body_policy: None,
		})
		.await?;

	start_offchain_workers(
		&parachain_config,
		&client,
		&backend,
		params.keystore_container.keystore(),
		&transaction_pool,
		network.clone(),
		&task_manager,
		in_flight,
	)?;

	sc_service::spawn_tasks(sc_service::SpawnTasksParams {
		rpc_builder: rpc_builder(&client, &backend, &transaction_pool),
		client: client.clone(),
		transaction_pool: transaction_pool.clone(),
		task_manager: &mut task_manager,
		config: parachain_config,
		keystore: params.keystore_container.keystore(),
		backend: backend.clone(),
		network: network.clone(),
		sync_service: sync_service.clone(),
		system_rpc_tx,
		tx_handler_controller,
		telemetry: telemetry.as_mut(),
		tracing_execute_block: None,
	})?;

	if let Some(hwbench) = hwbench {
		sc_sysinfo::print_hwbench(&hwbench);
		if let Some(ref mut telemetry) = telemetry {
			task_manager.spawn_handle().spawn(
				"telemetry_hwbench",
				None,
				sc_sysinfo::initialize_hwbench_telemetry(telemetry.handle(), hwbench),
			);
		}
	}

	let announce_block = {
		let sync_service = sync_service.clone();
		Arc::new(move |hash, data| sync_service.announce_block(hash, data))
	};

	let relay_chain_slot_duration = Duration::from_millis(RELAY_CHAIN_SLOT_DURATION_MILLIS);
	let overseer_handle = relay_chain_interface
		.overseer_handle()
		.map_err(|e| sc_service::Error::Application(Box::new(e)))?;

	start_relay_chain_tasks(StartRelayChainTasksParams {
		client: client.clone(),
		announce_block: announce_block.clone(),
		para_id,
		relay_chain_interface: relay_chain_interface.clone(),
		task_manager: &mut task_manager,
		da_recovery_profile: if validator {
			DARecoveryProfile::Collator
		} else {
			DARecoveryProfile::FullNode
		},
		import_queue: import_queue_service,
		relay_chain_slot_duration,
		recovery_handle: Box::new(overseer_handle.clone()),
		sync_service: sync_service.clone(),
		prometheus_registry: prometheus_registry.as_ref(),
	})?;

	if validator {
		let collator_key = collator_key.ok_or("a collator needs a collator key")?;
		start_consensus(
			client.clone(),
			backend,
			block_import,
			prometheus_registry.as_ref(),
			telemetry.as_ref().map(|t| t.handle()),
			&task_manager,
			relay_chain_interface,
			transaction_pool,
			params.keystore_container.keystore(),
			relay_chain_slot_duration,
			para_id,
			collator_key,
			network.local_peer_id(),
			overseer_handle,
			announce_block,
		)?;
	}

	Ok((task_manager, client))
}

#[allow(clippy::too_many_arguments)]
fn start_consensus(
	client: Arc<ParachainClient>,
	backend: Arc<ParachainBackend>,
	block_import: ParachainBlockImport,
	prometheus_registry: Option<&Registry>,
	telemetry: Option<TelemetryHandle>,
	task_manager: &TaskManager,
	relay_chain_interface: Arc<dyn RelayChainInterface>,
	transaction_pool: Arc<TransactionPool>,
	keystore: KeystorePtr,
	relay_chain_slot_duration: Duration,
	para_id: ParaId,
	collator_key: CollatorPair,
	collator_peer_id: sc_network::PeerId,
	overseer_handle: OverseerHandle,
	announce_block: Arc<dyn Fn(Hash, Option<Vec<u8>>) + Send + Sync>,
) -> Result<(), sc_service::Error> {
	let proposer = sc_basic_authorship::ProposerFactory::new(
		task_manager.spawn_handle(),
		client.clone(),
		transaction_pool,
		prometheus_registry,
		telemetry.clone(),
	);
	let collator_service = CollatorService::new(client.clone(), announce_block, client.clone());

	let params = AuraParams {
		create_inherent_data_providers: move |_, ()| async move {
			Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
		},
		block_import,
		para_client: client.clone(),
		para_backend: backend,
		relay_client: relay_chain_interface,
		code_hash_provider: {
			let client = client.clone();
			move |block_hash| {
				client
					.code_at(block_hash)
					.ok()
					.map(|c| ValidationCode::from(c).hash())
			}
		},
		keystore,
		collator_key,
		collator_peer_id,
		para_id,
		overseer_handle,
		relay_chain_slot_duration,
		proposer,
		collator_service,
		authoring_duration: Duration::from_millis(2000),
		reinitialize: false,
		max_pov_percentage: None,
	};

	let fut = aura::run::<Block, sp_consensus_aura::sr25519::AuthorityPair, _, _, _, _, _, _, _, _>(
		params,
	);
	task_manager
		.spawn_essential_handle()
		.spawn("aura", None, fut);
	Ok(())
}

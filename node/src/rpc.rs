//! The node's RPC: the standard Substrate methods (added by `sc-service`), `system_*` account
//! nonces, `payment_*` fee queries, and Mnemo's own `mnemo_*` module, which the pallets extend.

use std::sync::Arc;

use jsonrpsee::{
	core::{async_trait, RpcResult},
	proc_macros::rpc,
	types::{ErrorObject, ErrorObjectOwned},
	Extensions, RpcModule,
};
use mnemo_primitives::{offchain_keys, token, AccountId, Balance, Nonce, OpaqueBlock as Block};
use parking_lot::RwLock;
use sc_transaction_pool_api::TransactionPool;
use serde::{Deserialize, Serialize};
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use sp_core::offchain::OffchainStorage;

/// The RPC extension type handed to `sc-service`.
pub type RpcExtension = RpcModule<()>;

/// What the full RPC set needs.
pub struct FullDeps<C, P, S> {
	/// The client.
	pub client: Arc<C>,
	/// The transaction pool.
	pub pool: Arc<P>,
	/// The node's offchain storage, if the backend has one.
	pub offchain_storage: Option<S>,
}

/// Build the RPC extension: `system_*`, `payment_*` and `mnemo_*`.
pub fn create_full<C, P, S>(
	deps: FullDeps<C, P, S>,
) -> Result<RpcExtension, Box<dyn std::error::Error + Send + Sync>>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: substrate_frame_rpc_system::AccountNonceApi<Block, AccountId, Nonce>
		+ pallet_transaction_payment_rpc::TransactionPaymentRuntimeApi<Block, Balance>
		+ sp_block_builder::BlockBuilder<Block>
		+ sp_api::Core<Block>,
	P: TransactionPool + Sync + Send + 'static,
	S: OffchainStorage + 'static,
{
	use pallet_transaction_payment_rpc::{TransactionPayment, TransactionPaymentApiServer};
	use substrate_frame_rpc_system::{System, SystemApiServer};

	let mut module = RpcExtension::new(());
	let FullDeps {
		client,
		pool,
		offchain_storage,
	} = deps;
	module.merge(System::new(client.clone(), pool).into_rpc())?;
	module.merge(TransactionPayment::new(client.clone()).into_rpc())?;
	module.merge(Mnemo::new(client, offchain_storage).into_rpc())?;
	Ok(module)
}

/// The chain's identity and token, as `mnemo_info` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainInfo {
	/// Runtime `spec_name` (`mnemo`).
	pub spec_name: String,
	/// Runtime `spec_version` at the best block.
	pub spec_version: u32,
	/// Best block number.
	pub best_number: u32,
	/// Token symbol (`MNEMO`).
	pub token_symbol: String,
	/// Token decimals (12).
	pub token_decimals: u8,
	/// Existential deposit in the smallest unit, as a decimal string (u128 does not fit JSON numbers).
	pub existential_deposit: String,
	/// SS58 address prefix.
	pub ss58_format: u16,
}

/// One batch's charge of a payer, as `mnemo_spendLog` returns it: its receipts are leaves
/// `firstLeaf..firstLeaf + receipts` of the batch's blob, which the operator's engine serves by
/// `blob` and each of which proves against `root`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendLogEntry {
	/// The entry's index in the payer's log (a cursor).
	pub index: u64,
	/// The batch on chain.
	pub batch: u64,
	/// The serving operator that submitted it.
	pub operator: AccountId,
	/// How many of the batch's receipts are the payer's.
	pub receipts: u32,
	/// The first of them among the batch's leaves.
	pub first_leaf: u32,
	/// What the batch charged the payer, in the smallest unit, as a decimal string.
	pub amount: String,
	/// The payer's latest voucher among them.
	pub seq: u64,
	/// The batch's blob, as 64 hex digits.
	pub blob: String,
	/// The Merkle root of the batch's leaves.
	pub root: mnemo_primitives::Hash,
	/// The block that took the batch.
	pub block: u32,
	/// That block's time, in milliseconds since the Unix epoch.
	pub time_ms: u64,
}

/// A page of a spend log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendLogPage {
	/// Entries in the block range, oldest first.
	pub entries: Vec<SpendLogEntry>,
	/// The cursor of the next page; absent at the end of the log.
	pub next: Option<u64>,
	/// Entries skipped because a block that is not (or no longer) on the best chain wrote
	/// them: offchain indexing writes on every imported block, forks included.
	pub off_chain_forks: u32,
}

/// Most entries in one page of `mnemo_spendLog`.
pub const SPEND_LOG_PAGE: u32 = 100;

/// Mnemo's RPC methods.
#[rpc(server)]
pub trait MnemoApi {
	/// The chain's runtime, best block and token.
	#[method(name = "mnemo_info")]
	fn info(&self) -> RpcResult<ChainInfo>;

	/// The engine URL this node's offchain workers call, if set.
	#[method(name = "mnemo_engineUrl")]
	fn engine_url(&self) -> RpcResult<Option<String>>;

	/// What `account` paid for, one entry per batch that charged it, oldest first, from the
	/// offchain index that pallet-attribution writes when a batch is submitted (the node must run with
	/// `--enable-offchain-indexing true`; `--dev` does). Blocks `from_block..=to_block` (both
	/// optional); pages of at most `limit` entries (default and maximum 100) starting at entry
	/// `cursor` (default 0); `next` is the cursor of the following page, if any.
	#[method(name = "mnemo_spendLog")]
	fn spend_log(
		&self,
		account: AccountId,
		from_block: Option<u32>,
		to_block: Option<u32>,
		cursor: Option<u64>,
		limit: Option<u32>,
	) -> RpcResult<SpendLogPage>;

	/// Set the engine URL this node's offchain workers call (`http://` or `https://`).
	/// Unsafe: only over a local connection or with `--rpc-methods unsafe`.
	#[method(name = "mnemo_setEngineUrl", with_extensions)]
	fn set_engine_url(&self, url: String) -> RpcResult<()>;
}

/// Server side of [`MnemoApiServer`].
pub struct Mnemo<C, S> {
	client: Arc<C>,
	offchain_storage: Option<Arc<RwLock<S>>>,
}

impl<C, S> Mnemo<C, S> {
	/// A server over `client` and the node's offchain storage.
	pub fn new(client: Arc<C>, offchain_storage: Option<S>) -> Self {
		Self {
			client,
			offchain_storage: offchain_storage.map(|s| Arc::new(RwLock::new(s))),
		}
	}

	fn storage(&self) -> RpcResult<&Arc<RwLock<S>>> {
		self.offchain_storage.as_ref().ok_or_else(|| {
			error(
				ErrorCode::NoOffchainStorage,
				"this node has no offchain storage",
			)
		})
	}
}

/// Error codes of the `mnemo_*` methods.
#[derive(Clone, Copy, Debug)]
pub enum ErrorCode {
	/// The runtime could not be queried.
	Runtime = 9000,
	/// The method is unsafe and the caller is remote.
	Unsafe = 9001,
	/// The argument is malformed.
	InvalidParams = 9002,
	/// The node runs without offchain storage.
	NoOffchainStorage = 9003,
}

fn error(code: ErrorCode, msg: impl Into<String>) -> ErrorObjectOwned {
	ErrorObject::owned(code as i32, msg.into(), None::<()>)
}

/// Check an engine URL with the rule the offchain workers apply too
/// ([`mnemo_primitives::engine::check_engine_url`]), as a message for the RPC caller.
pub fn validate_engine_url(url: &str) -> Result<(), String> {
	use mnemo_primitives::engine::{check_engine_url, BadEngineUrl, MAX_ENGINE_URL_LEN};
	check_engine_url(url).map_err(|e| match e {
		BadEngineUrl::TooLong => format!("the URL is longer than {MAX_ENGINE_URL_LEN} bytes"),
		BadEngineUrl::NotHttp => {
			format!("`{url}`: the engine URL must start with http:// or https://")
		},
		BadEngineUrl::NoHost => format!("`{url}`: the engine URL has no host"),
		BadEngineUrl::Whitespace => format!("`{url}`: the engine URL contains whitespace"),
	})
}

#[async_trait]
impl<C, S> MnemoApiServer for Mnemo<C, S>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: sp_api::Core<Block>,
	S: OffchainStorage + 'static,
{
	fn info(&self) -> RpcResult<ChainInfo> {
		use sp_api::Core;
		let best = self.client.info();
		let version = self
			.client
			.runtime_api()
			.version(best.best_hash)
			.map_err(|e| error(ErrorCode::Runtime, format!("runtime version: {e}")))?;
		Ok(ChainInfo {
			spec_name: version.spec_name.to_string(),
			spec_version: version.spec_version,
			best_number: best.best_number,
			token_symbol: token::SYMBOL.into(),
			token_decimals: token::DECIMALS,
			existential_deposit: token::EXISTENTIAL_DEPOSIT.to_string(),
			ss58_format: token::SS58_PREFIX,
		})
	}

	fn engine_url(&self) -> RpcResult<Option<String>> {
		let value = self
			.storage()?
			.read()
			.get(sp_offchain::STORAGE_PREFIX, offchain_keys::ENGINE_URL);
		Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
	}

	fn spend_log(
		&self,
		account: AccountId,
		from_block: Option<u32>,
		to_block: Option<u32>,
		cursor: Option<u64>,
		limit: Option<u32>,
	) -> RpcResult<SpendLogPage> {
		let storage = self.storage()?.read();
		let canonical = |block: u32, parent: mnemo_primitives::Hash| {
			block == 0 || self.client.hash(block - 1).ok().flatten() == Some(parent)
		};
		read_spend_log(&*storage, &account, from_block, to_block, cursor, limit, canonical)
	}

	fn set_engine_url(&self, ext: &Extensions, url: String) -> RpcResult<()> {
		match ext.get::<sc_rpc::DenyUnsafe>() {
			Some(sc_rpc::DenyUnsafe::No) => {},
			_ => {
				return Err(error(
					ErrorCode::Unsafe,
					"mnemo_setEngineUrl is unsafe: call it over a local connection or run the node with --rpc-methods unsafe",
				))
			},
		}
		validate_engine_url(&url).map_err(|e| error(ErrorCode::InvalidParams, e))?;
		self.storage()?.write().set(
			sp_offchain::STORAGE_PREFIX,
			offchain_keys::ENGINE_URL,
			url.as_bytes(),
		);
		log::info!("🔗 Offchain workers now call the engine at {url}");
		Ok(())
	}
}


/// One page of `account`'s spend log from offchain storage (see `mnemo_spendLog`);
/// `canonical(block, parent_hash)` says whether an entry's block is on the best chain.
pub fn read_spend_log<S: OffchainStorage>(
	storage: &S,
	account: &AccountId,
	from_block: Option<u32>,
	to_block: Option<u32>,
	cursor: Option<u64>,
	limit: Option<u32>,
	canonical: impl Fn(u32, mnemo_primitives::Hash) -> bool,
) -> RpcResult<SpendLogPage> {
	use mnemo_primitives::{Hash, SpendEntry};
	let (from, to) = (from_block.unwrap_or(0), to_block.unwrap_or(u32::MAX));
	if from > to {
		return Err(error(ErrorCode::InvalidParams, format!("from_block {from} is after to_block {to}")));
	}
	let limit = limit.unwrap_or(SPEND_LOG_PAGE).clamp(1, SPEND_LOG_PAGE) as usize;
	let mut page = SpendLogPage { entries: Vec::new(), next: None, off_chain_forks: 0 };
	let mut n = cursor.unwrap_or(0);
	// Entries are dense per payer and in block order: stop at the first gap, past `to_block`,
	// or when the page is full.
	while let Some(raw) = storage.get(sp_offchain::STORAGE_PREFIX, &offchain_keys::spend_log(account, n)) {
		let entry = <SpendEntry<AccountId, u32, Hash> as codec::Decode>::decode(&mut &raw[..])
			.map_err(|e| error(ErrorCode::Runtime, format!("spend-log entry {n} does not decode: {e}")))?;
		if entry.block > to {
			break;
		}
		if page.entries.len() == limit {
			page.next = Some(n);
			break;
		}
		if !canonical(entry.block, entry.parent_hash) {
			page.off_chain_forks += 1;
		} else if entry.block >= from {
			page.entries.push(SpendLogEntry {
				index: n,
				batch: entry.batch,
				operator: entry.operator,
				receipts: entry.receipts,
				first_leaf: entry.first_leaf,
				amount: entry.amount.to_string(),
				seq: entry.seq,
				blob: entry.blob.to_hex(),
				root: entry.root,
				block: entry.block,
				time_ms: entry.moment_ms,
			});
		}
		n += 1;
	}
	Ok(page)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn entry(batch: u64, block: u32, parent: u8) -> mnemo_primitives::SpendEntry<AccountId, u32, mnemo_primitives::Hash> {
		mnemo_primitives::SpendEntry {
			batch,
			operator: AccountId::new([9; 32]),
			receipts: 3,
			first_leaf: 7,
			amount: 1_000_000_000_000_000_000_000,
			seq: 12,
			blob: mnemo_primitives::ContentHash([batch as u8; 32]),
			root: mnemo_primitives::Hash::repeat_byte(5),
			block,
			parent_hash: mnemo_primitives::Hash::repeat_byte(parent),
			moment_ms: 1_000 * u64::from(block),
		}
	}

	#[test]
	fn spend_logs_page_through_the_offchain_index_and_skip_forks() {
		use codec::Encode;
		let mut storage = sp_core::offchain::storage::InMemOffchainStorage::default();
		let payer = AccountId::new([1; 32]);
		// Five batches in blocks 2, 3, 5, 5, 8; the one in block 3 was written by a fork
		// (parent 0xee is not the best chain's block 2).
		for (n, (block, parent)) in [(2, 1), (3, 0xee), (5, 4), (5, 4), (8, 7)].into_iter().enumerate() {
			let key = offchain_keys::spend_log(&payer, n as u64);
			storage.set(sp_offchain::STORAGE_PREFIX, &key, &entry(n as u64, block, parent).encode());
		}
		let canonical = |block: u32, parent: mnemo_primitives::Hash| parent == mnemo_primitives::Hash::repeat_byte((block - 1) as u8);
		let all = read_spend_log(&storage, &payer, None, None, None, None, canonical).unwrap();
		assert_eq!(all.entries.iter().map(|e| e.batch).collect::<Vec<_>>(), vec![0, 2, 3, 4]);
		assert_eq!((all.off_chain_forks, all.next), (1, None));
		assert_eq!(all.entries[0].amount, "1000000000000000000000");
		assert_eq!((all.entries[0].receipts, all.entries[0].first_leaf, all.entries[0].seq), (3, 7, 12));
		assert_eq!(all.entries[2].blob, "03".repeat(32));
		// Pages of two, then the rest from the cursor.
		let first = read_spend_log(&storage, &payer, None, None, None, Some(2), canonical).unwrap();
		assert_eq!(first.entries.iter().map(|e| e.batch).collect::<Vec<_>>(), vec![0, 2]);
		assert_eq!(first.next, Some(3));
		let rest = read_spend_log(&storage, &payer, None, None, first.next, Some(2), canonical).unwrap();
		assert_eq!(rest.entries.iter().map(|e| e.batch).collect::<Vec<_>>(), vec![3, 4]);
		// A block range.
		let range = read_spend_log(&storage, &payer, Some(4), Some(5), None, None, canonical).unwrap();
		assert_eq!(range.entries.iter().map(|e| e.block).collect::<Vec<_>>(), vec![5, 5]);
		// Another payer has nothing; a reversed range is a clear error.
		assert!(read_spend_log(&storage, &AccountId::new([2; 32]), None, None, None, None, canonical).unwrap().entries.is_empty());
		let err = read_spend_log(&storage, &payer, Some(9), Some(1), None, None, canonical).unwrap_err();
		assert!(err.message().contains("after"));
	}

	#[test]
	fn engine_urls_are_checked() {
		assert!(validate_engine_url("http://127.0.0.1:8844").is_ok());
		assert!(validate_engine_url("https://engine.example.org/mnemo").is_ok());
		assert!(validate_engine_url("ftp://x")
			.unwrap_err()
			.contains("http://"));
		assert!(validate_engine_url("http://")
			.unwrap_err()
			.contains("no host"));
		assert!(validate_engine_url("http://a b")
			.unwrap_err()
			.contains("whitespace"));
		assert!(validate_engine_url(&format!("http://{}", "a".repeat(3000)))
			.unwrap_err()
			.contains("longer"));
	}
}

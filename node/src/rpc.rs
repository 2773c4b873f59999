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

/// Mnemo's RPC methods.
#[rpc(server)]
pub trait MnemoApi {
	/// The chain's runtime, best block and token.
	#[method(name = "mnemo_info")]
	fn info(&self) -> RpcResult<ChainInfo>;

	/// The engine URL this node's offchain workers call, if set.
	#[method(name = "mnemo_engineUrl")]
	fn engine_url(&self) -> RpcResult<Option<String>>;

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

#[cfg(test)]
mod tests {
	use super::*;

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

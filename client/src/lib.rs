//! `mnemo-client`: the one chain client of the workspace.
//!
//! It talks to a Mnemo node over its JSON-RPC (HTTP, the same port as WebSocket), builds and
//! signs extrinsics itself in the runtime's format (a v4 signed `UncheckedExtrinsic` with the
//! runtime's transaction extensions, immortal era, no tip, metadata-hash check disabled), reads
//! storage by key (payment channels among it), and signs and checks payer vouchers. The engine's receipt flusher uses it; the
//! `mnemo` command-line client is to grow on the same crate.

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod demo;
#[cfg(feature = "cli")]
pub mod load;
pub mod attest;
pub mod dev;
#[cfg(feature = "typed")]
pub mod typed;
pub mod voucher;

use codec::{Compact, Decode, Encode};
use mnemo_primitives::{AccountId, AdapterId, Balance, BatchId, BlockNumber, ContentHash};

pub use mnemo_primitives::batch::{AdapterFacts, BatchBase, BatchHeader, BatchTerms, Blob, Leaf, MerkleProof};
use polkadot_sdk::{
	sp_core::{crypto::Pair as _, sr25519, H256},
	sp_crypto_hashing::{blake2_128, blake2_256, twox_128, twox_64},
	sp_runtime::{generic::Era, MultiAddress, MultiSignature},
};
use std::time::{Duration, Instant};

pub use voucher::{SignedVoucher, VoucherOf};

/// The runtime's pallet index of `pallet_attribution`.
pub const ATTRIBUTION_PALLET: u8 = 54;
/// The runtime's pallet index of `pallet_balances`.
pub const BALANCES_PALLET: u8 = 10;
/// The runtime's pallet index of `pallet_rewards`.
pub const REWARDS_PALLET: u8 = 53;

/// What went wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
	#[error("cannot reach the node at {url}: {msg}")]
	Unreachable { url: String, msg: String },
	#[error("the node refused `{method}`: {msg}")]
	Rpc { method: String, msg: String },
	#[error("unexpected answer to `{method}`: {msg}")]
	Decode { method: String, msg: String },
	#[error("`{0}` is not a valid secret URI (e.g. //Alice or a 12-word phrase)")]
	BadSuri(String),
	#[error("timed out after {secs} s waiting for {what}")]
	Timeout { what: String, secs: u64 },
	#[error("the runtime refuses the call: {0}")]
	Refused(String),
	#[error("the runtime would not take the transaction: {0}")]
	Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One paid inference as the engine journals it until a batch carries it: the payer's signed
/// voucher, the tokens and the transcript.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct InferenceRecord {
	pub payer: AccountId,
	pub voucher: VoucherOf,
	pub signature: MultiSignature,
	pub input_tokens: u32,
	pub output_tokens: u32,
	pub transcript: ContentHash,
}

/// A payer's payment channel to an operator, as `pallet_rewards::Channel` stores it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Channel {
	/// Its id: the vouchers on it name it.
	pub id: u64,
	/// What is left of the deposit for the operator to charge.
	pub balance: Balance,
	/// What was charged on it so far, net of refunds.
	pub spent: Balance,
	/// The `seq` of the last voucher charged.
	pub seq: u64,
	/// Set once the payer closed it: no charge lands from this block on.
	pub closes_at: Option<BlockNumber>,
}

/// One of an operator's latest settled payout roots (`pallet_rewards::PayoutRoot`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PayoutRoot {
	pub batch: BatchId,
	pub root: H256,
	/// The batch's blob: the tree's leaves are its payouts.
	pub blob: ContentHash,
	pub count: u32,
}

/// An operator's payouts (`pallet_rewards::PayoutBook`): its latest settled roots, what its
/// settled batches added in all and what was claimed of it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PayoutBook {
	pub roots: Vec<PayoutRoot>,
	pub settled: Balance,
	pub paid: Balance,
}

/// What a payer spent (`pallet_rewards::SpendTotals`): fees and receipts charged, not refunded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct SpendTotals {
	pub total: Balance,
	pub receipts: u64,
}

/// Why the runtime refused a view function (FRAME's `ViewFunctionDispatchError`).
#[derive(Debug, Decode)]
pub enum ViewDispatchError {
	NotImplemented,
	NotFound([u8; 32]),
	Codec,
}

/// A view function's id as FRAME computes it: the 128-bit xxhash of the pallet's name in the
/// runtime, then that of the function's signature.
pub fn view_function_id(pallet: &str, signature: &str) -> [u8; 32] {
	let mut id = [0u8; 32];
	id[..16].copy_from_slice(&twox_128(pallet.as_bytes()));
	id[16..].copy_from_slice(&twox_128(signature.as_bytes()));
	id
}

/// A receipt's leaf in a batch, with the runtime's types.
pub type LeafOf = Leaf<AccountId, BlockNumber, MultiSignature>;

/// A batch's blob, with the runtime's types.
pub type BlobOf = Blob<AccountId, BlockNumber, MultiSignature>;

/// One payer's part of a batch as `submit_batch` takes it (the pallet's `PayerCharge`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PayerCharge {
	pub payer: AccountId,
	/// Its latest voucher in the batch.
	pub voucher: VoucherOf,
	pub signature: MultiSignature,
	/// How many of the batch's leaves are its receipts.
	pub leaves: u32,
	/// What they cost in all.
	pub amount: Balance,
}

/// Where a batch is (the pallet's `BatchPhase`; a refund's reason as its index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum BatchPhase {
	Sampling { at: BlockNumber },
	Open { until: BlockNumber, commit_until: BlockNumber },
	Commit { until: BlockNumber },
	Reveal { until: BlockNumber },
	Challenge { until: BlockNumber },
	Settled { at: BlockNumber },
	Refunded { at: BlockNumber, why: u8 },
}

/// A batch on chain (the pallet's `Batch`, same fields, same order).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BatchRecord {
	pub operator: AccountId,
	pub header: BatchHeader,
	pub fees: Balance,
	pub submitted_at: BlockNumber,
	/// The operator's batch it extends.
	pub base: Option<BatchBase>,
	/// The terms it was split by, in force when it was submitted.
	pub terms: BatchTerms<AccountId>,
	pub phase: BatchPhase,
	pub panel: Vec<AccountId>,
	/// The sampled leaf indices, ascending.
	pub sample: Vec<u32>,
}

/// A signing key.
#[derive(Clone)]
pub struct Signer {
	pair: sr25519::Pair,
}

impl Signer {
	/// From a secret URI: `//Alice`, a mnemonic phrase, a `0x` seed, with `//hard/soft` paths.
	pub fn from_suri(suri: &str) -> Result<Self> {
		sr25519::Pair::from_string(suri, None).map(|pair| Signer { pair }).map_err(|_| Error::BadSuri(suri.into()))
	}

	pub fn account(&self) -> AccountId {
		AccountId::from(self.pair.public().0)
	}

	pub fn sign(&self, payload: &[u8]) -> MultiSignature {
		MultiSignature::Sr25519(self.pair.sign(payload))
	}

	/// The sr25519 key pair (an app key's signature is its bare sr25519 signature).
	pub fn pair(&self) -> &sr25519::Pair {
		&self.pair
	}
}

/// An account from its SS58 address or its 32 bytes in hex (with or without `0x`).
pub fn parse_account(s: &str) -> Option<AccountId> {
	use polkadot_sdk::sp_core::crypto::Ss58Codec;
	if let Ok(a) = AccountId::from_ss58check(s) {
		return Some(a);
	}
	let bytes = hex::decode(s.trim_start_matches("0x")).ok()?;
	<[u8; 32]>::try_from(bytes).ok().map(Into::into)
}

/// Storage prefix of a pallet's item: `twox128(pallet) ++ twox128(item)`.
pub fn storage_prefix(pallet: &str, item: &str) -> Vec<u8> {
	let mut k = twox_128(pallet.as_bytes()).to_vec();
	k.extend(twox_128(item.as_bytes()));
	k
}

/// Appends a `Blake2_128Concat` map key part: `blake2_128(key) ++ key`.
pub fn blake2_128_concat(key: &impl Encode, out: &mut Vec<u8>) {
	let e = key.encode();
	out.extend(blake2_128(&e));
	out.extend(e);
}

/// Appends a `Twox64Concat` map key part: `twox64(key) ++ key`.
pub fn twox_64_concat(key: &impl Encode, out: &mut Vec<u8>) {
	let e = key.encode();
	out.extend(twox_64(&e));
	out.extend(e);
}

/// Storage key of a `Blake2_128Concat` map entry (or the first key of a double map).
pub fn map_key(pallet: &str, item: &str, key: &impl Encode) -> Vec<u8> {
	let mut k = storage_prefix(pallet, item);
	blake2_128_concat(key, &mut k);
	k
}

/// A connection to a node.
pub struct Client {
	url: String,
	agent: ureq::Agent,
	pub genesis: H256,
	pub spec_version: u32,
	pub tx_version: u32,
}

impl Client {
	/// Connects to `url` (`http://` or `ws://`, which is read as `http://` on the same port) and
	/// reads the genesis hash and runtime version.
	pub fn connect(url: &str) -> Result<Self> {
		let url = url.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1);
		let agent: ureq::Agent = ureq::Agent::config_builder()
			.timeout_global(Some(Duration::from_secs(30)))
			.http_status_as_error(false)
			.build()
			.into();
		let mut c = Client { url, agent, genesis: H256::zero(), spec_version: 0, tx_version: 0 };
		c.genesis = c.block_hash(0)?;
		let v = c.call("state_getRuntimeVersion", serde_json::json!([]))?;
		let num = |k: &str| {
			v.get(k).and_then(|x| x.as_u64()).map(|x| x as u32).ok_or_else(|| Error::Decode {
				method: "state_getRuntimeVersion".into(),
				msg: format!("no `{k}`"),
			})
		};
		c.spec_version = num("specVersion")?;
		c.tx_version = num("transactionVersion")?;
		Ok(c)
	}

	pub fn url(&self) -> &str {
		&self.url
	}

	/// One JSON-RPC call.
	pub fn call(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value> {
		let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
		let unreachable = |e: ureq::Error| Error::Unreachable { url: self.url.clone(), msg: e.to_string() };
		let mut resp = self
			.agent
			.post(&self.url)
			.header("content-type", "application/json")
			.send(body.as_bytes())
			.map_err(unreachable)?;
		let bytes = resp.body_mut().read_to_vec().map_err(unreachable)?;
		let v: serde_json::Value = serde_json::from_slice(&bytes)
			.map_err(|e| Error::Decode { method: method.into(), msg: format!("not JSON-RPC ({e})") })?;
		if let Some(err) = v.get("error") {
			let msg = err.get("message").and_then(|m| m.as_str()).unwrap_or("error").to_string();
			let data = err.get("data").map(|d| format!(" ({d})")).unwrap_or_default();
			return Err(Error::Rpc { method: method.into(), msg: msg + &data });
		}
		Ok(v.get("result").cloned().unwrap_or(serde_json::Value::Null))
	}

	fn hex_result(&self, method: &str, v: &serde_json::Value) -> Result<Option<Vec<u8>>> {
		match v {
			serde_json::Value::Null => Ok(None),
			serde_json::Value::String(s) => hex::decode(s.trim_start_matches("0x"))
				.map(Some)
				.map_err(|e| Error::Decode { method: method.into(), msg: e.to_string() }),
			other => Err(Error::Decode { method: method.into(), msg: format!("not hex: {other}") }),
		}
	}

	/// The hash of block `n` of the best chain.
	pub fn block_hash(&self, n: u32) -> Result<H256> {
		let v = self.call("chain_getBlockHash", serde_json::json!([n]))?;
		let bytes = self
			.hex_result("chain_getBlockHash", &v)?
			.filter(|b| b.len() == 32)
			.ok_or_else(|| Error::Decode { method: "chain_getBlockHash".into(), msg: format!("no block {n}") })?;
		Ok(H256::from_slice(&bytes))
	}

	/// The best block's number.
	pub fn best_number(&self) -> Result<BlockNumber> {
		let v = self.call("chain_getHeader", serde_json::json!([]))?;
		v.get("number")
			.and_then(|n| n.as_str())
			.and_then(|n| u32::from_str_radix(n.trim_start_matches("0x"), 16).ok())
			.ok_or_else(|| Error::Decode { method: "chain_getHeader".into(), msg: "no block number".into() })
	}

	/// Raw storage at `key` in the best block.
	pub fn storage(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
		let v = self.call("state_getStorage", serde_json::json!([format!("0x{}", hex::encode(key))]))?;
		self.hex_result("state_getStorage", &v)
	}

	/// Decoded storage at `key`.
	pub fn storage_value<T: Decode>(&self, key: &[u8]) -> Result<Option<T>> {
		match self.storage(key)? {
			None => Ok(None),
			Some(b) => T::decode(&mut &b[..])
				.map(Some)
				.map_err(|e| Error::Decode { method: "state_getStorage".into(), msg: e.to_string() }),
		}
	}

	/// The account's nonce in the best block's state (transactions included so far).
	pub fn nonce(&self, who: &AccountId) -> Result<u32> {
		// AccountInfo starts with the nonce (u32).
		Ok(self.storage_value::<u32>(&map_key("System", "Account", who))?.unwrap_or(0))
	}

	/// The nonce the next transaction of `who` takes, counting those in the pool.
	pub fn next_nonce(&self, who: &AccountId) -> Result<u32> {
		let v = self.call("system_accountNextIndex", serde_json::json!([who.to_string()]))?;
		v.as_u64().map(|n| n as u32).ok_or_else(|| Error::Decode { method: "system_accountNextIndex".into(), msg: v.to_string() })
	}

	/// A signed extrinsic of `call` (pallet index, call index, arguments) from `signer` at `nonce`.
	pub fn extrinsic(&self, signer: &Signer, call: &[u8], nonce: u32) -> Vec<u8> {
		// The runtime's TxExtension, in order: AuthorizeCall, CheckNonZeroSender,
		// CheckSpecVersion, CheckTxVersion, CheckGenesis, CheckEra, CheckNonce, CheckWeight,
		// ChargeTransactionPayment, CheckMetadataHash (inside StorageWeightReclaim, which adds
		// nothing). Explicit parts: era, nonce, tip, metadata-hash mode (0 = off).
		let explicit = (Era::Immortal, Compact(nonce), Compact(0 as Balance), 0u8).encode();
		// Implicit parts: spec version, tx version, genesis, the era's block (genesis when
		// immortal), the metadata hash (none).
		let implicit = (self.spec_version, self.tx_version, self.genesis, self.genesis, Option::<[u8; 32]>::None).encode();
		let mut payload = call.to_vec();
		payload.extend(&explicit);
		payload.extend(&implicit);
		let signature = if payload.len() > 256 { signer.sign(&blake2_256(&payload)) } else { signer.sign(&payload) };
		let mut ext = vec![0x84u8];
		MultiAddress::<AccountId, ()>::Id(signer.account()).encode_to(&mut ext);
		signature.encode_to(&mut ext);
		ext.extend(explicit);
		ext.extend(call);
		let mut out = Compact(ext.len() as u32).encode();
		out.extend(ext);
		out
	}

	/// Submits `call` signed by `signer` and waits until a block includes it (the signer's
	/// on-chain nonce passes the one used). Returns the nonce used.
	pub fn submit_and_wait(&self, signer: &Signer, call: &[u8], timeout: Duration) -> Result<u32> {
		let who = signer.account();
		let nonce = self.next_nonce(&who)?;
		let ext = self.extrinsic(signer, call, nonce);
		self.call("author_submitExtrinsic", serde_json::json!([format!("0x{}", hex::encode(ext))]))?;
		self.wait_nonce(&who, nonce, timeout)?;
		Ok(nonce)
	}

	/// What the runtime would do with `call` signed by `signer` at its next nonce, applied to the
	/// best block's state and submitted nowhere (`system_dryRun`): `Ok(())` when it would apply
	/// it, [`Error::Refused`] when the call would fail, naming the module error and its doc from
	/// the runtime's metadata, [`Error::Invalid`] when the transaction would not be valid on top
	/// of the best block (a full block's weight included: the pool judges it again against the
	/// next). Any other error: no dry run could be made (`system_dryRun` is an unsafe RPC method,
	/// which a node answers on its local interface only).
	pub fn dry_run(&self, signer: &Signer, call: &[u8]) -> Result<()> {
		let nonce = self.next_nonce(&signer.account())?;
		let ext = self.extrinsic(signer, call, nonce);
		let v = self.call("system_dryRun", serde_json::json!([format!("0x{}", hex::encode(ext))]))?;
		let bytes = self
			.hex_result("system_dryRun", &v)?
			.ok_or_else(|| Error::Decode { method: "system_dryRun".into(), msg: "no answer".into() })?;
		let outcome = polkadot_sdk::sp_runtime::ApplyExtrinsicResult::decode(&mut &bytes[..])
			.map_err(|e| Error::Decode { method: "system_dryRun".into(), msg: e.to_string() })?;
		match outcome {
			Ok(Ok(())) => Ok(()),
			Ok(Err(polkadot_sdk::sp_runtime::DispatchError::Module(m))) => {
				Err(Error::Refused(self.module_error(m.index, m.error[0]).unwrap_or_else(|| format!("error {} of pallet {}", m.error[0], m.index))))
			},
			Ok(Err(e)) => Err(Error::Refused(format!("{e:?}"))),
			Err(e) => Err(Error::Invalid(format!("{e:?}"))),
		}
	}

	/// `Pallet.Error: its doc`, for error `error` of the pallet at `index`, from the runtime's
	/// metadata (`None` if the node does not give it or it has no such error).
	pub fn module_error(&self, index: u8, error: u8) -> Option<String> {
		use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
		use polkadot_sdk::sp_runtime::scale_info::TypeDef;
		let v = self.call("state_getMetadata", serde_json::json!([])).ok()?;
		let bytes = self.hex_result("state_getMetadata", &v).ok()??;
		let RuntimeMetadataPrefixed(_, RuntimeMetadata::V14(m)) = RuntimeMetadataPrefixed::decode(&mut &bytes[..]).ok()? else {
			return None;
		};
		let pallet = m.pallets.iter().find(|p| p.index == index)?;
		let TypeDef::Variant(errors) = &m.types.resolve(pallet.error.as_ref()?.ty.id)?.type_def else { return None };
		let e = errors.variants.iter().find(|v| v.index == error)?;
		Some(format!("{}.{}: {}", pallet.name, e.name, e.docs.join(" ").trim()))
	}

	/// Waits until `who`'s on-chain nonce is above `nonce`.
	pub fn wait_nonce(&self, who: &AccountId, nonce: u32, timeout: Duration) -> Result<()> {
		let start = Instant::now();
		while self.nonce(who)? <= nonce {
			if start.elapsed() > timeout {
				return Err(Error::Timeout {
					what: format!("a block to include transaction {nonce} of {who}"),
					secs: timeout.as_secs(),
				});
			}
			std::thread::sleep(Duration::from_millis(250));
		}
		Ok(())
	}

	/// `Balances::transfer_keep_alive(dest, amount)`.
	pub fn transfer_call(dest: &AccountId, amount: Balance) -> Vec<u8> {
		let mut c = vec![BALANCES_PALLET, 3];
		MultiAddress::<AccountId, ()>::Id(dest.clone()).encode_to(&mut c);
		Compact(amount).encode_to(&mut c);
		c
	}

	// ---- Mnemo's rewards pallet ----

	/// `Rewards::open_channel(operator, deposit)`.
	pub fn open_channel_call(operator: &AccountId, deposit: Balance) -> Vec<u8> {
		let mut c = vec![REWARDS_PALLET, 0];
		operator.encode_to(&mut c);
		Compact(deposit).encode_to(&mut c);
		c
	}

	/// `payer`'s payment channel to `operator`, if it has one.
	pub fn channel(&self, payer: &AccountId, operator: &AccountId) -> Result<Option<Channel>> {
		let mut key = map_key("Rewards", "Channels", payer);
		blake2_128_concat(operator, &mut key);
		self.storage_value(&key)
	}

	/// A refunded batch whose payers are still being given their charges back (the rewards
	/// pallet gives back a few payers a block): how many payers and how much are left. `None`
	/// once all are back (or the batch was never refunded).
	pub fn refund_left(&self, batch: BatchId) -> Result<Option<(u32, Balance)>> {
		let mut key = storage_prefix("Rewards", "Refunding");
		twox_64_concat(&batch, &mut key);
		// `RefundOf`: the escrow as it was (operator, total, payers, period), then what is left.
		let r: Option<(AccountId, Balance, u32, u32, u32, Balance)> = self.storage_value(&key)?;
		Ok(r.map(|(_, _, _, _, payers, left)| (payers, left)))
	}

	/// `operator`'s payout book, once one of its batches settled.
	pub fn payout_book(&self, operator: &AccountId) -> Result<Option<PayoutBook>> {
		self.storage_value(&map_key("Rewards", "PayoutBooks", operator))
	}

	/// What `payer` spent in all (the rewards pallet's `spend` view).
	pub fn spend_totals(&self, payer: &AccountId) -> Result<SpendTotals> {
		let (totals, _): (SpendTotals, Vec<(u32, Balance)>) =
			self.view("Rewards", "spend(T::AccountId) -> (SpendTotals,Vec<(u32,Balance)>)", payer)?;
		Ok(totals)
	}

	// ---- Mnemo's attribution pallet ----

	/// `Attribution::register_operator` (holds the operator bond).
	pub fn register_operator_call() -> Vec<u8> {
		vec![ATTRIBUTION_PALLET, 0]
	}

	/// Whether `who` is a registered serving operator (its bond, if so).
	pub fn operator_bond(&self, who: &AccountId) -> Result<Option<Balance>> {
		self.storage_value(&map_key("Attribution", "Operators", who))
	}

	/// `Attribution::submit_batch(header, charges)`.
	pub fn submit_batch_call(header: &BatchHeader, charges: &[PayerCharge]) -> Vec<u8> {
		let mut c = vec![ATTRIBUTION_PALLET, 11];
		header.encode_to(&mut c);
		charges.to_vec().encode_to(&mut c);
		c
	}

	/// `Attribution::open_sample(batch, leaves)`: the sampled leaves with their paths, in the
	/// sample's order.
	pub fn open_sample_call(batch: BatchId, leaves: &[(LeafOf, MerkleProof)]) -> Vec<u8> {
		let mut c = vec![ATTRIBUTION_PALLET, 12];
		batch.encode_to(&mut c);
		leaves.to_vec().encode_to(&mut c);
		c
	}

	/// The id the next batch submitted will get.
	pub fn next_batch(&self) -> Result<BatchId> {
		Ok(self.storage_value(&storage_prefix("Attribution", "NextBatch"))?.unwrap_or(0))
	}

	/// Batch `id`, until it leaves state.
	pub fn batch(&self, id: BatchId) -> Result<Option<BatchRecord>> {
		let mut key = storage_prefix("Attribution", "Batches");
		twox_64_concat(&id, &mut key);
		self.storage_value(&key)
	}

	/// What the chain says of `adapter` for batches: its weights, training data and whom its
	/// fees pay (`None`: no such adapter).
	pub fn adapter_facts(&self, adapter: AdapterId) -> Result<Option<AdapterFacts<AccountId>>> {
		self.view("Attribution", "adapter_facts(AdapterId) -> Option<AdapterFacts<T::AccountId>>", &adapter)
	}

	/// What every batch is split by.
	pub fn batch_terms(&self) -> Result<BatchTerms<AccountId>> {
		self.view("Attribution", "batch_terms() -> BatchTerms<T::AccountId>", &())
	}

	/// The batch `operator`'s next batch must extend (`None`: its next is its first).
	pub fn operator_head(&self, operator: &AccountId) -> Result<Option<BatchBase>> {
		self.view("Attribution", "operator_head(T::AccountId) -> Option<BatchBase>", operator)
	}

	/// A pallet's view function, called through the `RuntimeViewFunction_execute_view_function`
	/// runtime API at the best block. `signature` is the function's as FRAME hashes it into its
	/// id: `name(ArgType,…) -> ReturnType`, types as written in the pallet, without spaces
	/// (`view_function_id` computes the id; a test checks the ids against the runtime's metadata).
	pub fn view<T: Decode>(&self, pallet: &str, signature: &str, args: &impl Encode) -> Result<T> {
		const METHOD: &str = "RuntimeViewFunction_execute_view_function";
		let mut input = view_function_id(pallet, signature).to_vec();
		args.encode().encode_to(&mut input);
		let v = self.call("state_call", serde_json::json!([METHOD, format!("0x{}", hex::encode(&input))]))?;
		let bytes = self.hex_result("state_call", &v)?.unwrap_or_default();
		let decode = |e: codec::Error| Error::Decode { method: format!("{pallet}.{signature}"), msg: e.to_string() };
		// `Result<Vec<u8>, ViewFunctionDispatchError>`.
		let answer: std::result::Result<Vec<u8>, ViewDispatchError> = Decode::decode(&mut &bytes[..]).map_err(decode)?;
		let answer = answer.map_err(|e| Error::Rpc {
			method: format!("{pallet}.{signature}"),
			msg: format!("the runtime refused the view function: {e:?}"),
		})?;
		T::decode(&mut &answer[..]).map_err(decode)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn keys_and_calls_have_the_runtime_layout() {
		let alice = Signer::from_suri("//Alice").unwrap();
		// Alice's well-known public key.
		assert_eq!(
			hex::encode(alice.account()),
			"d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
		);
		let k = map_key("System", "Account", &alice.account());
		assert_eq!(
			hex::encode(&k[..32]),
			"26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9",
			"twox128(System) ++ twox128(Account)"
		);
		assert_eq!(k.len(), 32 + 16 + 32);
		assert_eq!(Client::register_operator_call(), vec![54, 0]);
		let empty = BlobOf { prev: None, terms: Default::default(), leaves: vec![], payouts: vec![], attestors: 0 }.header(ContentHash([0; 32]));
		assert_eq!(&Client::submit_batch_call(&empty, &[])[..2], &[54, 11]);
		let open = Client::open_channel_call(&alice.account(), 1);
		assert_eq!((&open[..2], open.len()), (&[53u8, 0][..], 2 + 32 + 1));
		assert!(matches!(Signer::from_suri("not a uri"), Err(Error::BadSuri(_))));
		let ss58 = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
		assert_eq!(parse_account(ss58), Some(alice.account()));
		assert_eq!(parse_account(&format!("0x{}", hex::encode(alice.account()))), Some(alice.account()));
		assert_eq!(parse_account("5Grw"), None);
	}
}

//! # mnemo-primitives
//!
//! What every part of Mnemo agrees on: the chain's basic types (accounts, balances, blocks), the
//! identifiers of its domain objects (datanets, contributions, models, adapters, inference
//! receipts), the MNEMO token's constants, and the small traits ("seams") through which the
//! pallets talk to each other without depending on each other's crates. The runtime wires the
//! seams; unit tests mock them.
//!
//! `no_std` so the runtime can use it; `std` (the default) for the node, the engine and clients.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod batch;
pub mod engine;
pub mod governance;
pub mod rewards;
pub mod seams;
pub mod token;

pub use seams::*;

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::sp_core::H256;
use polkadot_sdk::sp_runtime::{
	generic,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiAddress, MultiSignature, OpaqueExtrinsic,
};
use scale_info::TypeInfo;

/// An index to a block.
pub type BlockNumber = u32;

/// Signature type of the chain: sr25519, ed25519 or ecdsa (what Polkadot.js apps signs with).
pub type Signature = MultiSignature;

/// The public key behind a signature; an account is identified by it.
pub type AccountPublic = <Signature as Verify>::Signer;

/// An account on the chain: 32 bytes (the sr25519/ed25519 public key, or the blake2 of an ecdsa one).
pub type AccountId = <AccountPublic as IdentifyAccount>::AccountId;

/// Balance of an account, in the smallest unit (1 MNEMO = 10^12 units).
pub type Balance = u128;

/// Transaction index of an account.
pub type Nonce = u32;

/// Hash type used by the chain (blake2-256).
pub type Hash = H256;

/// The address format for describing accounts in extrinsics.
pub type Address = MultiAddress<AccountId, ()>;

/// Block header type.
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;

/// Opaque block type for the node, which does not need to know the runtime's extrinsics.
pub type OpaqueBlock = generic::Block<Header, OpaqueExtrinsic>;

/// Identifier of a datanet.
pub type DatanetId = u32;
/// Identifier of a contribution; unique across datanets.
pub type ContributionId = u64;
/// Version of a datanet; versions are cumulative and start at 1.
pub type DatanetVersion = u32;
/// Identifier of a model proposal.
pub type ModelId = u32;
/// Identifier of a trained LoRA adapter.
pub type AdapterId = u32;
/// Identifier of an inference receipt, unique per chain.
pub type ReceiptId = u64;
/// Identifier of a batch of inference receipts, unique per chain.
pub type BatchId = u64;
/// The id a payer's client gives one inference request (16 random bytes, a UUID's size); unique
/// per serving operator.
pub type RequestId = [u8; 16];

/// A payer's consent to one inference, on its payment channel to one serving operator: what it
/// signs before the operator answers.
///
/// The operator records the receipt with the voucher and the payer's signature of
/// [`Voucher::signing_payload`]; the chain charges at most `max_price_per_1k` per 1,000 tokens
/// for at most `max_tokens`, only before `expires_at`, only on the chain whose genesis hash is
/// `genesis`, and only once per `(operator, request)`. The channel makes the consent
/// cumulative: `seq` numbers the payer's vouchers for this operator (each one above the last the
/// chain charged), and `cumulative` is the most the payer accepts to have been charged on the
/// channel in all, this request included. The chain refuses a charge that would take the
/// channel's total past `cumulative`, so an operator can never take more than the payer signed
/// for, however it orders, replays or withholds receipts.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo)]
pub struct Voucher<AccountId, BlockNumber> {
	/// The request's id.
	pub request: RequestId,
	/// The serving operator allowed to record it: the other end of the payer's channel.
	pub operator: AccountId,
	/// The adapter the payer asked for.
	pub adapter: AdapterId,
	/// Highest price per 1,000 tokens the payer accepts.
	pub max_price_per_1k: Balance,
	/// Most tokens (input and output) the payer pays for.
	pub max_tokens: u32,
	/// The id the chain gave the payer's channel to `operator` when it was opened: a voucher
	/// for one channel is void on any other (a channel closed and opened again is a new one).
	pub channel: u64,
	/// The voucher's number on the channel: above every voucher the chain has charged on it.
	/// A payer's client counts up from the last voucher the operator accepted.
	pub seq: u64,
	/// The most the payer accepts to have been charged on the channel in all, up to and
	/// including this request: the previous voucher's `cumulative` plus this request's
	/// [`Voucher::cap`].
	pub cumulative: Balance,
	/// Last block at which the receipt may be recorded.
	pub expires_at: BlockNumber,
	/// The chain's genesis hash: a voucher for one chain is worthless on another.
	pub genesis: Hash,
}

impl<AccountId: Encode, BlockNumber: Encode> Voucher<AccountId, BlockNumber> {
	/// Domain separator of voucher signatures.
	pub const CONTEXT: &'static [u8] = b"mnemo/voucher/v2";

	/// The bytes a payer signs: [`Self::CONTEXT`] followed by the voucher's SCALE encoding.
	/// Wallets that wrap raw payloads in `<Bytes>`…`</Bytes>` (Polkadot.js `signRaw`) sign the
	/// same bytes wrapped; the chain accepts both.
	pub fn signing_payload(&self) -> alloc::vec::Vec<u8> {
		let mut out = alloc::vec::Vec::from(Self::CONTEXT);
		self.encode_to(&mut out);
		out
	}

	/// Whether `signature` is `signer`'s signature of [`Self::signing_payload`], raw or wrapped in
	/// `<Bytes>`…`</Bytes>` (as Polkadot.js `signRaw` signs): what the chain and the engine accept.
	pub fn signed_by<S: Verify>(&self, signature: &S, signer: &<S::Signer as IdentifyAccount>::AccountId) -> bool
	where
		S::Signer: IdentifyAccount,
	{
		let payload = self.signing_payload();
		if signature.verify(&payload[..], signer) {
			return true;
		}
		let wrapped = [&b"<Bytes>"[..], &payload, &b"</Bytes>"[..]].concat();
		signature.verify(&wrapped[..], signer)
	}

	/// The most this one request can cost: [`inference_fee`] at the price cap for the token
	/// cap, with the chain's `min_fee`. What a client adds to `cumulative` per voucher.
	pub fn cap(&self, min_fee: Balance) -> Balance {
		inference_fee(self.max_price_per_1k, self.max_tokens, min_fee)
	}
}

/// The fee of one inference: `price_per_1k` per 1,000 tokens, rounded up to the unit, and at
/// least `min_fee`. The chain charges exactly this; engines and clients compute caps with it.
pub fn inference_fee(price_per_1k: Balance, tokens: u32, min_fee: Balance) -> Balance {
	price_per_1k.saturating_mul(Balance::from(tokens)).div_ceil(1000).max(min_fee)
}

/// One batch's charge of a payer, as the attribution pallet writes it to the offchain index when
/// the batch is submitted (see [`offchain_keys::spend_log`]) and `mnemo_spendLog` reads it. The
/// receipts it paid for are the leaves `first_leaf..first_leaf + receipts` of the batch's blob
/// (fetched from the operator's engine by `blob`, each provable against `root`).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SpendEntry<AccountId, BlockNumber, Hash> {
	/// The batch on chain.
	pub batch: BatchId,
	/// The serving operator that submitted it.
	pub operator: AccountId,
	/// How many of the batch's receipts are the payer's.
	pub receipts: u32,
	/// The first of them among the batch's leaves.
	pub first_leaf: u32,
	/// What the batch charged the payer for them (refunded if the batch is).
	pub amount: Balance,
	/// The payer's latest voucher among them.
	pub seq: u64,
	/// The batch's blob (every receipt) and the Merkle root of its leaves.
	pub blob: ContentHash,
	pub root: H256,
	/// The block that took the batch.
	pub block: BlockNumber,
	/// That block's parent: which fork wrote the entry (offchain indexing writes on every
	/// imported block, canonical or not).
	pub parent_hash: Hash,
	/// The block's timestamp, in milliseconds since the Unix epoch.
	pub moment_ms: u64,
}

/// The blake2-256 hash of some content (a data row file, an adapter's weights, a transcript).
///
/// The chain only stores these hashes; the content itself lives in a content-addressed blob store
/// (the engine's) under the same hash, so anyone holding the bytes can check them.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	PartialOrd,
	Ord,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
	/// Hash `data` the way the chain and the blob store do (blake2-256).
	pub fn of(data: &[u8]) -> Self {
		Self(polkadot_sdk::sp_crypto_hashing::blake2_256(data))
	}

	/// Lower-case hex without a `0x` prefix, as used in blob store URLs.
	pub fn to_hex(&self) -> alloc::string::String {
		const HEX: &[u8; 16] = b"0123456789abcdef";
		let mut s = alloc::string::String::with_capacity(64);
		for b in self.0 {
			s.push(HEX[(b >> 4) as usize] as char);
			s.push(HEX[(b & 0xf) as usize] as char);
		}
		s
	}

	/// Parse 64 hex digits, with or without a `0x` prefix. `None` for anything else.
	pub fn from_hex(s: &str) -> Option<Self> {
		let s = s.strip_prefix("0x").unwrap_or(s);
		if s.len() != 64 {
			return None;
		}
		let mut out = [0u8; 32];
		for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
			let hi = *chunk.first()?;
			let nib = |c: u8| -> Option<u8> {
				match c {
					b'0'..=b'9' => Some(c - b'0'),
					b'a'..=b'f' => Some(c - b'a' + 10),
					b'A'..=b'F' => Some(c - b'A' + 10),
					_ => None,
				}
			};
			let lo = *chunk.get(1)?;
			*out.get_mut(i)? = (nib(hi)? << 4) | nib(lo)?;
		}
		Some(Self(out))
	}
}

impl core::fmt::Debug for ContentHash {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		write!(f, "0x{}", self.to_hex())
	}
}

/// JSON form: 64 lower-case hex digits (no `0x`), as in blob store URLs; `0x` is accepted on input.
impl serde::Serialize for ContentHash {
	fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
		s.serialize_str(&self.to_hex())
	}
}

impl<'de> serde::Deserialize<'de> for ContentHash {
	fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
		let s = <alloc::string::String as serde::Deserialize>::deserialize(d)?;
		Self::from_hex(&s).ok_or_else(|| {
			serde::de::Error::custom("a content hash is 64 hex digits (blake2-256)")
		})
	}
}

impl From<[u8; 32]> for ContentHash {
	fn from(b: [u8; 32]) -> Self {
		Self(b)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn content_hash_is_blake2_256_and_round_trips_hex() {
		let h = ContentHash::of(b"To be, or not to be");
		assert_eq!(
			h.0,
			polkadot_sdk::sp_crypto_hashing::blake2_256(b"To be, or not to be")
		);
		let hex = h.to_hex();
		assert_eq!(hex.len(), 64);
		assert_eq!(ContentHash::from_hex(&hex), Some(h));
		assert_eq!(ContentHash::from_hex(&alloc::format!("0x{hex}")), Some(h));
		assert_eq!(ContentHash::from_hex(&hex.to_uppercase()), Some(h));
	}

	#[test]
	fn content_hash_rejects_bad_hex() {
		assert_eq!(ContentHash::from_hex(""), None);
		assert_eq!(ContentHash::from_hex(&"0".repeat(63)), None);
		assert_eq!(ContentHash::from_hex(&"0".repeat(65)), None);
		assert_eq!(ContentHash::from_hex(&"g".repeat(64)), None);
	}

	#[test]
	fn fees_round_up_and_respect_the_minimum() {
		assert_eq!(inference_fee(5, 1000, 1), 5);
		assert_eq!(inference_fee(5, 1001, 1), 6);
		assert_eq!(inference_fee(0, 1000, 3), 3);
		assert_eq!(inference_fee(u128::MAX, u32::MAX, 0), u128::MAX / 1000 + 1);
		let v = Voucher::<u64, u32> {
			request: [0; 16],
			operator: 1,
			adapter: 0,
			max_price_per_1k: 10,
			max_tokens: 150,
			channel: 0,
			seq: 1,
			cumulative: 2,
			expires_at: 9,
			genesis: Default::default(),
		};
		assert_eq!(v.cap(0), 2);
		assert_eq!(v.cap(5), 5);
	}

	#[test]
	fn token_constants_are_consistent() {
		assert_eq!(token::UNIT, 10u128.pow(token::DECIMALS as u32));
		assert!(token::EXISTENTIAL_DEPOSIT > 0 && token::EXISTENTIAL_DEPOSIT < token::UNIT);
		assert_eq!(token::SYMBOL, "MNEMO");
	}
}

/// Node-local offchain storage (PERSISTENT kind) keys that Mnemo's offchain workers read.
///
/// Operators set them through the node's `mnemo_setEngineUrl` RPC (or
/// `offchain_localStorageSet`); they never go on chain.
pub mod offchain_keys {
	/// The base URL of the engine this node's offchain workers call, e.g.
	/// `http://127.0.0.1:8844`, as UTF-8.
	pub const ENGINE_URL: &[u8] = b"mnemo::engine-url";

	/// Offchain-index key of a payer's `n`-th spend-log entry, one per batch that charged it (`n`
	/// counts from 0, densely, per payer): `mnemo::spend::` followed by the SCALE encodings of
	/// the payer and `n`.
	pub fn spend_log(payer: &impl codec::Encode, n: u64) -> alloc::vec::Vec<u8> {
		let mut key = alloc::vec::Vec::from(&b"mnemo::spend::"[..]);
		payer.encode_to(&mut key);
		codec::Encode::encode_to(&n, &mut key);
		key
	}

	/// Offchain-index key of a batch's final record, written when it is pruned from state:
	/// `mnemo::batch::` followed by the SCALE `u64` id.
	pub fn batch(batch: crate::BatchId) -> alloc::vec::Vec<u8> {
		let mut key = alloc::vec::Vec::from(&b"mnemo::batch::"[..]);
		codec::Encode::encode_to(&batch, &mut key);
		key
	}
}

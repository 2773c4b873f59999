//! Batches: many paid inferences committed on chain at once.
//!
//! A serving operator's engine gathers the receipts of a few seconds into a batch. Every receipt
//! is a [`Leaf`]; the batch commits the binary Merkle root of the leaves' hashes and their count,
//! so any single receipt can later be proven to be in it ([`MerkleProof`]), and the chain stores a
//! few hundred bytes per batch whatever its size. The same tree commits the operator's payouts
//! ([`Payout`]): for every account its batches have ever paid, the running total owed to it.
//! Each batch names the operator's batch it extends ([`BatchHeader::prev`]), whose totals plus
//! its own fees' split give its own ([`cumulate`]); an account claims by proof against any
//! recent settled batch of the operator and receives what that total adds to what it claimed
//! before, so it claims once whenever it likes, not once per batch.
//!
//! The tree is `binary-merkle-tree`'s (Polkadot-SDK's, as BEEFY uses it) over blake2-256: inner
//! nodes hash the concatenation of their two children, an odd node is carried up unchanged. Leaf
//! hashes are domain-separated ([`Leaf::CONTEXT`], [`Payout::CONTEXT`]) and their preimages are
//! longer than the 64 bytes of an inner node's, so no inner node can pass for a leaf.

use crate::{
	engine::{AttributionRequest, DatanetData},
	rewards::{split_fee, FeeSplit, Split, SplitError},
	AdapterId, Balance, BatchId, ContentHash, ContributionId, ContributionShare, ReceiptId, Voucher,
};
use alloc::{collections::BTreeMap, vec::Vec};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{
	binary_merkle_tree,
	sp_core::{ConstU32, H256},
	sp_runtime::{
		traits::{BlakeTwo256, IdentifyAccount, Verify},
		BoundedVec, Perbill,
	},
};
use scale_info::TypeInfo;

/// Most contributions one receipt's attribution names (the engine's top K).
pub const MAX_LEAF_SHARES: u32 = 16;

/// One receipt's attribution: contributions and their scores, ascending by contribution id,
/// summing to at most 100%.
pub type LeafShares = BoundedVec<(ContributionId, Perbill), ConstU32<MAX_LEAF_SHARES>>;

/// One paid inference in a batch: the payer's signed voucher for it, what it used and cost, and
/// the operator's attribution of it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo)]
pub struct Leaf<AccountId, BlockNumber, Signature> {
	/// Who paid.
	pub payer: AccountId,
	/// The payer's voucher for this request (its id, adapter, caps, channel, number, consent).
	pub voucher: Voucher<AccountId, BlockNumber>,
	/// The payer's signature of the voucher: without it the leaf is a request nobody made.
	pub signature: Signature,
	/// Prompt tokens.
	pub input_tokens: u32,
	/// Generated tokens.
	pub output_tokens: u32,
	/// The fee charged for it.
	pub fee: Balance,
	/// Content hash of the transcript (prompt and output) in the operator's blob store.
	pub transcript: ContentHash,
	/// The operator's attribution of it: the engine's digest of its inputs.
	pub digest: ContentHash,
	/// The operator's attribution of it: the scores.
	pub shares: LeafShares,
}

impl<AccountId: Encode, BlockNumber: Encode, Signature: Encode> Leaf<AccountId, BlockNumber, Signature> {
	/// Domain separator of leaf hashes.
	pub const CONTEXT: &'static [u8] = b"mnemo/batch/leaf/v2";

	/// The leaf's hash in the batch's tree: blake2-256 of [`Self::CONTEXT`] and its SCALE encoding.
	pub fn hash(&self) -> H256 {
		domain_hash(Self::CONTEXT, self)
	}

	/// The adapter that served it.
	pub fn adapter(&self) -> AdapterId {
		self.voucher.adapter
	}

	/// Its number on the payer's channel.
	pub fn seq(&self) -> u64 {
		self.voucher.seq
	}
}

impl<AccountId, BlockNumber, Signature> Leaf<AccountId, BlockNumber, Signature>
where
	AccountId: Encode + Clone,
	BlockNumber: Encode,
	Signature: Verify<Signer: IdentifyAccount<AccountId = AccountId>>,
{
	/// Whether the payer signed the voucher (raw, or `<Bytes>`-wrapped as Polkadot.js signs).
	pub fn consented(&self) -> bool {
		self.voucher.signed_by(&self.signature, &self.payer)
	}
}

/// What one operator owes one account: in a batch's split, the account's part of the batch's
/// fees; in a batch's payouts tree, the running total of its parts over the operator's batches up
/// to and including this one.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo)]
pub struct Payout<AccountId> {
	/// Who is owed.
	pub who: AccountId,
	/// How much, all its roles together.
	pub amount: Balance,
}

impl<AccountId: Encode> Payout<AccountId> {
	/// Domain separator of payout hashes (v2: running totals).
	pub const CONTEXT: &'static [u8] = b"mnemo/batch/payout/v2";

	/// The payout's hash in the batch's payouts tree.
	pub fn hash(&self) -> H256 {
		domain_hash(Self::CONTEXT, self)
	}
}

fn domain_hash(context: &[u8], value: &impl Encode) -> H256 {
	let mut bytes = Vec::from(context);
	value.encode_to(&mut bytes);
	H256(polkadot_sdk::sp_crypto_hashing::blake2_256(&bytes))
}

/// The Merkle root of leaf hashes (all zeros for none).
pub fn merkle_root(hashes: &[H256]) -> H256 {
	binary_merkle_tree::merkle_root_raw::<BlakeTwo256, _>(hashes.iter().copied())
}

/// A leaf's path to its tree's root. The tree's leaf count is not in it: the verifier takes it
/// from the commitment.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo)]
pub struct MerkleProof {
	/// The leaf's index (from 0).
	pub index: u32,
	/// The hashes beside the path, from the leaf's level up.
	pub path: Vec<H256>,
}

/// The proof that `hashes[index]` is in the tree of `hashes`; `None` for an index out of range.
pub fn merkle_proof(hashes: &[H256], index: u32) -> Option<MerkleProof> {
	if index as usize >= hashes.len() {
		return None;
	}
	let p = binary_merkle_tree::merkle_proof_raw::<BlakeTwo256, _>(hashes.iter().copied(), index);
	Some(MerkleProof { index, path: p.proof })
}

/// How many hashes the path of leaf `index` in a tree of `leaves` leaves has: one per level,
/// except where the node is the last of an odd row and is carried up.
fn path_length(index: u32, leaves: u32) -> usize {
	let (mut position, mut width, mut n) = (index, leaves, 0);
	while width > 1 {
		if !(position % 2 == 0 && position + 1 == width) {
			n += 1;
		}
		position /= 2;
		width = width.div_ceil(2);
	}
	n
}

/// Whether `leaf` (a leaf hash) is at `proof.index` of the tree of `leaves` leaves whose root is
/// `root`: the path must have exactly the length that place in that tree has.
pub fn verify(root: &H256, leaves: u32, leaf: H256, proof: &MerkleProof) -> bool {
	proof.index < leaves &&
		proof.path.len() == path_length(proof.index, leaves) &&
		binary_merkle_tree::verify_proof::<BlakeTwo256, _, _>(
			root,
			proof.path.iter().copied(),
			leaves,
			proof.index,
			binary_merkle_tree::Leaf::Hash(leaf),
		)
}

/// One payer's part of a batch: its receipts are the contiguous leaves `first_leaf ..
/// first_leaf + leaves` (in voucher order), `amount` their fees, `last_seq` its latest voucher.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo)]
pub struct PayerTotal<AccountId> {
	pub payer: AccountId,
	pub first_leaf: u32,
	pub leaves: u32,
	pub amount: Balance,
	pub last_seq: u64,
}

/// One adapter's part of a batch.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo)]
pub struct AdapterTotal {
	pub adapter: AdapterId,
	pub receipts: u32,
	pub tokens: u64,
	pub fees: Balance,
}

/// Why a batch's leaves do not make a batch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BatchError {
	/// No leaves.
	Empty,
	/// A payer's leaves are not contiguous, or its vouchers not strictly ascending.
	OutOfOrder,
	/// A leaf's shares are not ascending by contribution or sum to more than 100%.
	BadShares,
	/// A leaf names an adapter the payouts cannot find an owner for.
	UnknownAdapter,
	/// The fee split refused a leaf.
	Split(SplitError),
	/// A sum overflowed.
	Overflow,
	/// Payouts are not strictly ascending by account.
	Unsorted,
}

/// The payouts tree of a batch: `prev`, the running totals of the batch it extends, plus
/// `parts`, its own fees' split (both strictly ascending by account), account by account.
/// Ascending by account; an account of `prev` with no part keeps its total.
pub fn cumulate<A: Clone + Ord>(prev: &[Payout<A>], parts: &[Payout<A>]) -> Result<Vec<Payout<A>>, BatchError> {
	let ascending = |v: &[Payout<A>]| v.windows(2).all(|w| w[0].who < w[1].who);
	if !ascending(prev) || !ascending(parts) {
		return Err(BatchError::Unsorted);
	}
	let mut out = Vec::with_capacity(prev.len() + parts.len());
	let (mut i, mut j) = (0, 0);
	while i < prev.len() || j < parts.len() {
		let next = match (prev.get(i), parts.get(j)) {
			(Some(a), Some(b)) if a.who == b.who => {
				i += 1;
				j += 1;
				Payout { who: a.who.clone(), amount: a.amount.checked_add(b.amount).ok_or(BatchError::Overflow)? }
			},
			(Some(a), Some(b)) if a.who < b.who => {
				i += 1;
				a.clone()
			},
			(Some(a), None) => {
				i += 1;
				a.clone()
			},
			(_, Some(b)) => {
				j += 1;
				b.clone()
			},
			(None, None) => break,
		};
		out.push(next);
	}
	Ok(out)
}

/// The per-payer and per-adapter totals of `leaves`, which must be grouped by payer with each
/// payer's vouchers strictly ascending (the order the batch commits). Payers in order of first
/// appearance; adapters ascending.
pub fn totals<A: Clone + Eq, B, S>(leaves: &[Leaf<A, B, S>]) -> Result<(Vec<PayerTotal<A>>, Vec<AdapterTotal>), BatchError> {
	if leaves.is_empty() {
		return Err(BatchError::Empty);
	}
	let mut payers: Vec<PayerTotal<A>> = Vec::new();
	let mut adapters: BTreeMap<AdapterId, AdapterTotal> = BTreeMap::new();
	for (i, l) in leaves.iter().enumerate() {
		match payers.last_mut() {
			Some(p) if p.payer == l.payer => {
				if l.voucher.seq <= p.last_seq {
					return Err(BatchError::OutOfOrder);
				}
				p.leaves += 1;
				p.amount = p.amount.checked_add(l.fee).ok_or(BatchError::Overflow)?;
				p.last_seq = l.voucher.seq;
			},
			_ => {
				if payers.iter().any(|p| p.payer == l.payer) {
					return Err(BatchError::OutOfOrder);
				}
				payers.push(PayerTotal { payer: l.payer.clone(), first_leaf: i as u32, leaves: 1, amount: l.fee, last_seq: l.voucher.seq });
			},
		}
		let a = adapters.entry(l.voucher.adapter).or_insert(AdapterTotal { adapter: l.voucher.adapter, receipts: 0, tokens: 0, fees: 0 });
		a.receipts += 1;
		a.tokens = a.tokens.saturating_add(u64::from(l.input_tokens) + u64::from(l.output_tokens));
		a.fees = a.fees.checked_add(l.fee).ok_or(BatchError::Overflow)?;
	}
	Ok((payers, adapters.into_values().collect()))
}

/// Whose one contribution is: its contributor and its datanet's owner.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct ContributionOwners<AccountId> {
	pub contributor: AccountId,
	pub datanet_owner: AccountId,
}

/// What an operator commits on chain for a batch of receipts.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct BatchHeader {
	/// The Merkle root of the receipts' leaves.
	pub root: H256,
	/// How many leaves.
	pub leaves: u32,
	/// Content hash of the batch's [`Blob`] in the operator's store.
	pub blob: ContentHash,
	/// The Merkle root of the operator's running payouts after this batch.
	pub payouts_root: H256,
	/// How many payouts (accounts) that tree has.
	pub payouts_count: u32,
	/// What this batch adds to them: its fees less the attestors' part.
	pub payouts_total: Balance,
	/// The attestors' part of the fees, paid to the panel at the verdict.
	pub attestors_part: Balance,
	/// The operator's batch whose running payouts this one extends (`None`: its first).
	pub prev: Option<BatchId>,
	/// The hash of the [`BatchTerms`] its fees were split by.
	pub terms: H256,
}

/// A batch as the next one of its operator extends it: its id, its blob (where its running
/// payouts are) and its payouts root.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct BatchBase {
	pub batch: BatchId,
	pub blob: ContentHash,
	pub payouts_root: H256,
}

/// A whole batch as the operator stores it (SCALE-encoded, by content hash) and serves it: every
/// leaf's preimage and the operator's running payouts. Anyone holding it and the blob of the
/// batch it extends can check it against its header, prove any leaf or payout in it, and
/// recompute its totals and payouts.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Blob<AccountId, BlockNumber, Signature> {
	/// The operator's batch this one extends.
	pub prev: Option<BatchId>,
	/// The hash of the terms its fees were split by.
	pub terms: H256,
	pub leaves: Vec<Leaf<AccountId, BlockNumber, Signature>>,
	/// The running totals after this batch, ascending by account.
	pub payouts: Vec<Payout<AccountId>>,
	/// The attestors' part of the leaves' fees.
	pub attestors: Balance,
}

impl<AccountId: Encode, BlockNumber: Encode, Signature: Encode> Blob<AccountId, BlockNumber, Signature> {
	/// The leaves' hashes, in order.
	pub fn leaf_hashes(&self) -> Vec<H256> {
		self.leaves.iter().map(Leaf::hash).collect()
	}

	/// The payouts' hashes, in order.
	pub fn payout_hashes(&self) -> Vec<H256> {
		self.payouts.iter().map(Payout::hash).collect()
	}

	/// The header that commits this blob, stored under `blob`.
	pub fn header(&self, blob: ContentHash) -> BatchHeader {
		BatchHeader {
			root: merkle_root(&self.leaf_hashes()),
			leaves: self.leaves.len() as u32,
			blob,
			payouts_root: merkle_root(&self.payout_hashes()),
			payouts_count: self.payouts.len() as u32,
			payouts_total: self.leaves.iter().fold(0, |s: Balance, l| s.saturating_add(l.fee)).saturating_sub(self.attestors),
			attestors_part: self.attestors,
			prev: self.prev,
			terms: self.terms,
		}
	}
}

/// What the chain says of one adapter, as an operator needs it to attribute and split the
/// receipts it served with it and a panel attestor checks them: the adapter's weights and
/// training data (what the engine attributes against) and whom its fees pay.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, TypeInfo)]
pub struct AdapterFacts<AccountId> {
	pub adapter: AdapterId,
	/// Content hash of its weights.
	pub adapter_hash: ContentHash,
	/// Who receives the adapter owner's part.
	pub owner: AccountId,
	/// The datanet versions it was trained on, every contribution in them.
	pub datanets: Vec<DatanetData>,
	/// The contributions of those versions that still earn credit, ascending, with whom they pay.
	pub earning: Vec<(ContributionId, ContributionOwners<AccountId>)>,
}

impl<AccountId: Clone> AdapterFacts<AccountId> {
	/// The engine request that attributes `transcript` to this adapter's training data.
	pub fn request(&self, receipt: ReceiptId, transcript: ContentHash, top_k: u32) -> AttributionRequest {
		AttributionRequest {
			receipt,
			adapter: self.adapter,
			adapter_hash: self.adapter_hash,
			datanets: self.datanets.clone(),
			transcript,
			top_k,
		}
	}

	/// Whom `contribution` pays, if it is in the adapter's data and still earns.
	pub fn owners(&self, contribution: ContributionId) -> Option<ContributionOwners<AccountId>> {
		let i = self.earning.binary_search_by_key(&contribution, |(c, _)| *c).ok()?;
		Some(self.earning[i].1.clone())
	}
}

/// What every batch is split by: the chain's fee split, its treasury, the minimum fee and how
/// many contributions a receipt's attribution names at most. A batch commits the hash of the
/// terms it was built with ([`BatchHeader::terms`]); the chain takes it only under the terms in
/// force and keeps them with the batch, so a later change by governance does not make an honest
/// batch look wrong to its panel.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct BatchTerms<AccountId> {
	pub split: FeeSplit,
	pub treasury: AccountId,
	pub min_fee: Balance,
	pub top_k: u32,
}

impl<AccountId: Encode> BatchTerms<AccountId> {
	/// Domain separator of terms hashes.
	pub const CONTEXT: &'static [u8] = b"mnemo/batch/terms/v1";

	/// What a batch built with these terms commits.
	pub fn hash(&self) -> H256 {
		domain_hash(Self::CONTEXT, self)
	}
}

/// A batch's payouts: who is owed what, and the attestors' part kept apart.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Payouts<AccountId> {
	/// One per account, ascending by account: what the payouts tree commits.
	pub payouts: Vec<Payout<AccountId>>,
	/// The attestors' part of every leaf's fee, credited to the panel at the verdict.
	pub attestors: Balance,
}

impl<A> Payouts<A> {
	/// The sum of the payouts (without the attestors' part).
	pub fn total(&self) -> Balance {
		self.payouts.iter().fold(0, |s, p| s.saturating_add(p.amount))
	}
}

/// One leaf's fee split by `split` and its shares among the adapter's `owner`, the contributions
/// `owners` knows (a share naming one it does not know, not in the adapter's data or no longer
/// earning, is left out, as the chain leaves it out) and the treasury, with the attestors' part
/// kept apart (the panel is drawn after the batch is committed): the split without it, and it.
/// The two sum to the leaf's fee to the unit.
pub fn leaf_split<A: Clone + Eq, B, S>(
	l: &Leaf<A, B, S>,
	split: &FeeSplit,
	treasury: &A,
	owner: &A,
	owners: impl Fn(ContributionId) -> Option<ContributionOwners<A>>,
) -> Result<(Split<A>, Balance), BatchError> {
	if !l.shares.windows(2).all(|w| w[0].0 < w[1].0) {
		return Err(BatchError::BadShares);
	}
	let contributions: Vec<ContributionShare<A>> = l
		.shares
		.iter()
		.filter_map(|(c, share)| {
			owners(*c).map(|o| ContributionShare {
				contribution: *c,
				contributor: o.contributor,
				datanet_owner: o.datanet_owner,
				share: *share,
			})
		})
		.collect();
	let part = split.attestors.mul_floor(l.fee);
	let mut out = split_fee(l.fee, split, owner, treasury, &contributions, &[]).map_err(|e| match e {
		SplitError::SharesExceedWhole => BatchError::BadShares,
		e => BatchError::Split(e),
	})?;
	// Without attestors the split gives their part to the treasury: taken back from it here.
	match out.payees.iter_mut().find(|p| p.who == *treasury) {
		Some(t) => t.amounts.treasury = t.amounts.treasury.checked_sub(part).ok_or(BatchError::Overflow)?,
		None if part > 0 => return Err(BatchError::Overflow),
		None => {},
	}
	out.payees.retain(|p| p.amounts.total() > 0);
	Ok((out, part))
}

/// Split every leaf's fee by `split` and its shares ([`leaf_split`]), aggregated per account,
/// the attestors' part of each fee kept apart. The payouts and the attestors' part sum to the
/// leaves' fees to the unit.
pub fn payouts<A: Clone + Ord, B, S>(
	leaves: &[Leaf<A, B, S>],
	split: &FeeSplit,
	treasury: &A,
	adapter_owner: impl Fn(AdapterId) -> Option<A>,
	owners: impl Fn(ContributionId) -> Option<ContributionOwners<A>>,
) -> Result<Payouts<A>, BatchError> {
	let mut owed: BTreeMap<A, Balance> = BTreeMap::new();
	let mut attestors: Balance = 0;
	for l in leaves {
		let owner = adapter_owner(l.voucher.adapter).ok_or(BatchError::UnknownAdapter)?;
		let (out, part) = leaf_split(l, split, treasury, &owner, &owners)?;
		for p in out.payees {
			let e = owed.entry(p.who).or_insert(0);
			*e = e.checked_add(p.amounts.total()).ok_or(BatchError::Overflow)?;
		}
		attestors = attestors.checked_add(part).ok_or(BatchError::Overflow)?;
	}
	Ok(Payouts { payouts: owed.into_iter().map(|(who, amount)| Payout { who, amount }).collect(), attestors })
}

/// One payer's charge in a batch as the chain made it: the channel it was drawn on, the
/// channel's voucher number before (`after`) and the voucher charged (`seq`), the amount, and
/// the payer's leaves as its spend log names them (`receipts` from `first_leaf`).
/// The payer's leaves in the batch must be requests on that channel numbered `after + 1..=seq`,
/// the last the charged voucher: a leaf from an earlier batch or another channel, charged again
/// under a new voucher's unused consent, is not one of them.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct ChargedPayer<AccountId> {
	pub payer: AccountId,
	pub channel: u64,
	pub after: u64,
	pub seq: u64,
	pub amount: Balance,
	pub first_leaf: u32,
	pub receipts: u32,
}

impl<AccountId> ChargedPayer<AccountId> {
	/// Whether a leaf's voucher (`channel`, `seq`) is one this charge pays for.
	pub fn covers(&self, channel: u64, seq: u64) -> bool {
		channel == self.channel && seq > self.after && seq <= self.seq
	}
}

/// Why a batch does not add up ([`audit`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AuditError {
	/// The blob is not what the header commits (roots, counts or totals differ).
	NotCommitted,
	/// Leaf `0`: a request its payer did not sign, or for another operator.
	NotConsented(u32),
	/// Leaf `0`: more tokens than its voucher allows, or a fee above its voucher's cap.
	AboveVoucher(u32),
	/// The payers charged on chain are not the leaves' payers with the leaves' sums, or a
	/// payer's charge names other leaves than the payer's (its spend log would point at them).
	WrongCharges,
	/// Leaf `0` is not a request its payer's charge in this batch pays for (another channel, a
	/// voucher charged before, or the charged voucher is not the payer's last leaf).
	OutsideCharge(u32),
	/// The payouts are not the running totals of the batch it extends plus the split of the
	/// leaves' fees.
	WrongPayouts,
	/// The running totals given for the batch it extends are not what that batch committed (the
	/// auditor's input, not the batch, is wrong).
	WrongPrev,
	/// The terms given are not the ones the batch committed to (the auditor's input is wrong).
	WrongTerms,
	/// The leaves are not grouped by payer in voucher order, or a sum overflows.
	Totals(BatchError),
}

/// Whether a batch adds up, as a panel attestor checks it whole: `blob` is what `header`
/// commits; every leaf is a request its payer signed for `operator`, within its voucher's tokens
/// and price cap (at `min_fee`); the chain charged exactly the leaves' payers their leaves' sums
/// (`charges`, in any order); and the payouts are `prev`'s running totals (the payouts of the
/// batch it extends, which must hash to `prev_root`, that batch's committed payouts root) plus
/// the split of every fee by `terms` among the owners `facts` names. The sampled leaves'
/// attribution is checked apart, by recomputation.
#[allow(clippy::too_many_arguments)]
pub fn audit<A, B, S>(
	blob: &Blob<A, B, S>,
	header: &BatchHeader,
	operator: &A,
	charges: &[ChargedPayer<A>],
	prev: &[Payout<A>],
	prev_root: &H256,
	terms: &BatchTerms<A>,
	facts: impl Fn(AdapterId) -> Option<AdapterFacts<A>>,
) -> Result<(), AuditError>
where
	A: Clone + Ord + Encode,
	B: Encode,
	S: Encode + Verify<Signer: IdentifyAccount<AccountId = A>>,
{
	if blob.header(header.blob) != *header {
		return Err(AuditError::NotCommitted);
	}
	if merkle_root(&prev.iter().map(Payout::hash).collect::<Vec<_>>()) != *prev_root {
		return Err(AuditError::WrongPrev);
	}
	if terms.hash() != header.terms {
		return Err(AuditError::WrongTerms);
	}
	for (i, l) in blob.leaves.iter().enumerate() {
		if l.voucher.operator != *operator || !l.consented() {
			return Err(AuditError::NotConsented(i as u32));
		}
		let tokens = l.input_tokens.saturating_add(l.output_tokens);
		let cap = crate::inference_fee(l.voucher.max_price_per_1k, tokens, terms.min_fee);
		if tokens > l.voucher.max_tokens || l.fee > cap {
			return Err(AuditError::AboveVoucher(i as u32));
		}
	}
	let (payers, _) = totals(&blob.leaves).map_err(AuditError::Totals)?;
	let mut charged: Vec<(A, Balance)> = charges.iter().map(|c| (c.payer.clone(), c.amount)).collect();
	charged.sort();
	let mut owed: Vec<(A, Balance)> = payers.iter().map(|p| (p.payer.clone(), p.amount)).collect();
	owed.sort();
	if charged != owed {
		return Err(AuditError::WrongCharges);
	}
	for p in &payers {
		let c = charges.iter().find(|c| c.payer == p.payer).ok_or(AuditError::WrongCharges)?;
		if c.first_leaf != p.first_leaf || c.receipts != p.leaves {
			return Err(AuditError::WrongCharges);
		}
		for i in p.first_leaf..p.first_leaf + p.leaves {
			let v = &blob.leaves[i as usize].voucher;
			if !c.covers(v.channel, v.seq) {
				return Err(AuditError::OutsideCharge(i));
			}
		}
		if p.last_seq != c.seq {
			return Err(AuditError::OutsideCharge(p.first_leaf + p.leaves - 1));
		}
	}
	let mut known: BTreeMap<AdapterId, Option<AdapterFacts<A>>> = BTreeMap::new();
	for l in &blob.leaves {
		known.entry(l.voucher.adapter).or_insert_with(|| facts(l.voucher.adapter));
	}
	let owner = |a: AdapterId| known.get(&a).cloned().flatten().map(|f| f.owner);
	let owners = |c| known.values().flatten().find_map(|f| f.owners(c));
	let expected = payouts(&blob.leaves, &terms.split, &terms.treasury, owner, owners).map_err(AuditError::Totals)?;
	let running = cumulate(prev, &expected.payouts).map_err(|_| AuditError::WrongPayouts)?;
	if running != blob.payouts || expected.attestors != blob.attestors {
		return Err(AuditError::WrongPayouts);
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;

	type TestLeaf = Leaf<u64, u32, u8>;

	fn leaf(i: u8) -> TestLeaf {
		Leaf {
			payer: u64::from(i % 3),
			voucher: Voucher {
				request: [i; 16],
				operator: 9,
				adapter: 1,
				max_price_per_1k: 100,
				max_tokens: 200,
				channel: 0,
				seq: u64::from(i),
				cumulative: 1_000,
				expires_at: 50,
				genesis: Default::default(),
			},
			signature: 0,
			input_tokens: 100,
			output_tokens: 20,
			fee: 12,
			transcript: ContentHash([i; 32]),
			digest: ContentHash([7; 32]),
			shares: BoundedVec::truncate_from(alloc::vec![(1, Perbill::from_percent(10))]),
		}
	}

	#[test]
	fn every_leaf_of_every_tree_size_proves_and_nothing_else_does() {
		for n in 1..=33u8 {
			let leaves: Vec<TestLeaf> = (0..n).map(leaf).collect();
			let hashes: Vec<H256> = leaves.iter().map(TestLeaf::hash).collect();
			let root = merkle_root(&hashes);
			for (i, h) in hashes.iter().enumerate() {
				let count = u32::from(n);
				let proof = merkle_proof(&hashes, i as u32).unwrap();
				assert!(verify(&root, count, *h, &proof), "leaf {i} of {n}");
				// Another leaf's hash, another index, a changed or shortened path: refused.
				let other = leaf(200).hash();
				assert!(!verify(&root, count, other, &proof));
				if n > 1 {
					let moved = MerkleProof { index: (proof.index + 1) % count, ..proof.clone() };
					assert!(!verify(&root, count, *h, &moved), "leaf {i} of {n} at another index");
				}
				assert!(!verify(&root, count, *h, &MerkleProof { index: count, ..proof.clone() }), "index past the end");
				if let Some(first) = proof.path.first() {
					let mut bent = proof.clone();
					bent.path[0] = H256::repeat_byte(first.0[0] ^ 1);
					assert!(!verify(&root, count, *h, &bent));
					let short = MerkleProof { path: proof.path[1..].to_vec(), ..proof.clone() };
					assert!(!verify(&root, count, *h, &short), "a path short of the tree's depth");
				}
				// An inner node is not a leaf: the root of the first two leaves, at index 0 of a
				// tree one level shorter, is refused when the count is the committed one.
				if n >= 2 && i == 0 {
					let inner = merkle_root(&hashes[..2]);
					let up = MerkleProof { index: 0, path: proof.path[1..].to_vec() };
					assert!(!verify(&root, count, inner, &up));
				}
			}
			assert_eq!(merkle_proof(&hashes, u32::from(n)), None);
		}
	}

	#[test]
	fn a_leaf_carries_its_payers_consent() {
		use polkadot_sdk::{
			sp_core::{sr25519, Pair},
			sp_runtime::{AccountId32, MultiSignature},
		};
		let payer = sr25519::Pair::from_string("//Bob", None).unwrap();
		let who = AccountId32::from(payer.public());
		let voucher = Voucher {
			request: [1; 16],
			operator: AccountId32::new([9; 32]),
			adapter: 1,
			max_price_per_1k: 100,
			max_tokens: 200,
			channel: 0,
			seq: 1,
			cumulative: 20,
			expires_at: 50u32,
			genesis: Default::default(),
		};
		let signature = MultiSignature::Sr25519(payer.sign(&voucher.signing_payload()));
		let l = Leaf {
			payer: who,
			voucher,
			signature,
			input_tokens: 100,
			output_tokens: 20,
			fee: 12,
			transcript: ContentHash([1; 32]),
			digest: ContentHash([7; 32]),
			shares: Default::default(),
		};
		assert!(l.consented());
		// A request the payer never signed: another id under the same signature.
		let mut forged = l.clone();
		forged.voucher.request = [2; 16];
		assert!(!forged.consented());
		// Someone else's signature of it.
		let mut other = l.clone();
		other.signature = MultiSignature::Sr25519(sr25519::Pair::from_string("//Eve", None).unwrap().sign(&l.voucher.signing_payload()));
		assert!(!other.consented());
	}

	#[test]
	fn totals_group_by_payer_in_voucher_order() {
		let mut leaves: Vec<TestLeaf> = (0..6u8).map(leaf).collect();
		leaves.sort_by_key(|l| (l.payer, l.voucher.seq));
		let (payers, adapters) = totals(&leaves).unwrap();
		assert_eq!(payers.iter().map(|p| (p.payer, p.first_leaf, p.leaves, p.amount, p.last_seq)).collect::<Vec<_>>(),
			vec![(0, 0, 2, 24, 3), (1, 2, 2, 24, 4), (2, 4, 2, 24, 5)]);
		assert_eq!(adapters, vec![AdapterTotal { adapter: 1, receipts: 6, tokens: 720, fees: 72 }]);
		// A payer's vouchers out of order, a payer split in two, nothing at all: refused.
		leaves.swap(0, 1);
		assert_eq!(totals(&leaves), Err(BatchError::OutOfOrder));
		leaves.swap(0, 1);
		leaves.swap(1, 2);
		assert_eq!(totals(&leaves), Err(BatchError::OutOfOrder));
		assert_eq!(totals::<u64, u32, u8>(&[]), Err(BatchError::Empty));
	}

	#[test]
	fn payouts_and_the_attestors_part_add_up_to_the_fees() {
		use crate::rewards::FeeSplit;
		let split = FeeSplit::default();
		let mut leaves: Vec<TestLeaf> = (0..50u8).map(leaf).collect();
		for (i, l) in leaves.iter_mut().enumerate() {
			l.fee = 1_000 + i as u128 * 37;
			l.shares = BoundedVec::truncate_from(alloc::vec![(1, Perbill::from_percent(3)), (2, Perbill::from_percent(2)), (9, Perbill::from_percent(1))]);
		}
		let owners = |c: ContributionId| match c {
			1 => Some(ContributionOwners { contributor: 101u64, datanet_owner: 200 }),
			2 => Some(ContributionOwners { contributor: 102, datanet_owner: 200 }),
			_ => None, // not in the adapter's data: left out
		};
		let p = payouts(&leaves, &split, &999, |_| Some(300), owners).unwrap();
		let fees: Balance = leaves.iter().map(|l| l.fee).sum();
		assert_eq!(p.total() + p.attestors, fees, "to the unit");
		assert_eq!(p.attestors, leaves.iter().map(|l| split.attestors.mul_floor(l.fee)).sum::<Balance>());
		let of = |who: u64| p.payouts.iter().find(|x| x.who == who).map_or(0, |x| x.amount);
		// Relative pool: 3:2 of the contributors' half of every fee.
		let half: Balance = leaves.iter().map(|l| split.contributors.mul_floor(l.fee)).sum();
		assert!(of(101) + of(102) <= half && of(101) + of(102) + 2 * 50 >= half);
		assert!(of(101) > of(102));
		assert!(p.payouts.windows(2).all(|w| w[0].who < w[1].who), "one per account, ascending");
		// No owner for the adapter: refused.
		assert_eq!(payouts(&leaves, &split, &999, |_| None, owners), Err(BatchError::UnknownAdapter));
	}

	#[test]
	fn an_audit_finds_every_way_a_batch_can_fail_to_add_up() {
		use crate::engine::{DataRef, DatanetData};
		use polkadot_sdk::{
			sp_core::{sr25519, Pair},
			sp_runtime::{AccountId32, MultiSignature},
		};
		let keys: Vec<sr25519::Pair> = ["//Bob", "//Dave"].iter().map(|s| sr25519::Pair::from_string(s, None).unwrap()).collect();
		let operator = AccountId32::new([9; 32]);
		let (owner, contributor, dn_owner, treasury) =
			(AccountId32::new([1; 32]), AccountId32::new([2; 32]), AccountId32::new([3; 32]), AccountId32::new([4; 32]));
		let mut leaves = Vec::new();
		for (k, key) in keys.iter().enumerate() {
			for seq in 1..=3u64 {
				let voucher = Voucher {
					request: [(k * 10) as u8 + seq as u8; 16],
					operator: operator.clone(),
					adapter: 1,
					max_price_per_1k: 100,
					max_tokens: 200,
					channel: 0,
					seq,
					cumulative: 100 * u128::from(seq),
					expires_at: 50u32,
					genesis: Default::default(),
				};
				let signature = MultiSignature::Sr25519(key.sign(&voucher.signing_payload()));
				leaves.push(Leaf {
					payer: AccountId32::from(key.public()),
					voucher,
					signature,
					input_tokens: 100,
					output_tokens: 50,
					fee: 15,
					transcript: ContentHash([seq as u8; 32]),
					digest: ContentHash([7; 32]),
					shares: BoundedVec::truncate_from(alloc::vec![(5, Perbill::from_percent(40))]),
				});
			}
		}
		let facts = AdapterFacts {
			adapter: 1,
			adapter_hash: ContentHash([1; 32]),
			owner: owner.clone(),
			datanets: alloc::vec![DatanetData { datanet: 0, version: 1, contributions: alloc::vec![DataRef { contribution: 5, content_hash: ContentHash([5; 32]) }] }],
			earning: alloc::vec![(5, ContributionOwners { contributor: contributor.clone(), datanet_owner: dn_owner })],
		};
		let terms = BatchTerms { split: Default::default(), treasury: treasury.clone(), min_fee: 1, top_k: 4 };
		let facts_of = |a: AdapterId| (a == 1).then(|| facts.clone());
		let extend = |prev: &[Payout<AccountId32>], leaves: Vec<Leaf<AccountId32, u32, MultiSignature>>| {
			let p = payouts(&leaves, &terms.split, &terms.treasury, |_| Some(owner.clone()), |c| facts.owners(c)).unwrap();
			let blob = Blob { prev: None, terms: terms.hash(), leaves, payouts: cumulate(prev, &p.payouts).unwrap(), attestors: p.attestors };
			let header = blob.header(ContentHash([8; 32]));
			(blob, header)
		};
		let build = |leaves| extend(&[], leaves);
		let none = merkle_root(&[]);
		let payers: Vec<AccountId32> = keys.iter().map(|k| AccountId32::from(k.public())).collect();
		// Each payer's three leaves: Bob's first, then Dave's.
		let charge = |payer: &AccountId32, after: u64, seq: u64, amount: Balance| ChargedPayer {
			payer: payer.clone(),
			channel: 0,
			after,
			seq,
			amount,
			first_leaf: if *payer == payers[0] { 0 } else { 3 },
			receipts: 3,
		};
		let charges = alloc::vec![charge(&payers[1], 0, 3, 45), charge(&payers[0], 0, 3, 45)];
		let (blob, header) = build(leaves.clone());
		assert_eq!(audit(&blob, &header, &operator, &charges, &[], &none, &terms, facts_of), Ok(()));
		// The contributor's part of every fee (40% of the contributors' 50%, relative: all of it).
		assert_eq!(blob.payouts.iter().find(|p| p.who == contributor).map(|p| p.amount), Some(6 * 7));
		// A blob that is not the committed one.
		let mut other = header.clone();
		other.payouts_total += 1;
		assert_eq!(audit(&blob, &other, &operator, &charges, &[], &none, &terms, facts_of), Err(AuditError::NotCommitted));
		// Another operator's batch.
		assert_eq!(audit(&blob, &header, &treasury, &charges, &[], &none, &terms, facts_of), Err(AuditError::NotConsented(0)));
		// A request nobody signed.
		let mut forged = leaves.clone();
		forged[4].voucher.request = [99; 16];
		let (b, h) = build(forged);
		assert_eq!(audit(&b, &h, &operator, &charges, &[], &none, &terms, facts_of), Err(AuditError::NotConsented(4)));
		// A fee above the voucher's cap (150 tokens at 100 per 1,000: 15).
		let mut dear = leaves.clone();
		dear[2].fee = 16;
		let (b, h) = build(dear);
		let dear_charges = alloc::vec![charge(&payers[0], 0, 3, 46), charge(&payers[1], 0, 3, 45)];
		assert_eq!(audit(&b, &h, &operator, &dear_charges, &[], &none, &terms, facts_of), Err(AuditError::AboveVoucher(2)));
		// The double charge: leaves the payer paid for before (vouchers up to 3, charged in an
		// earlier batch) put in again and charged under a later voucher's unused consent.
		assert_eq!(
			audit(&blob, &header, &operator, &[charge(&payers[1], 0, 3, 45), charge(&payers[0], 3, 9, 45)], &[], &none, &terms, facts_of),
			Err(AuditError::OutsideCharge(0))
		);
		// Leaves on another channel than the one charged; a charged voucher that is not the last leaf.
		let other_channel = alloc::vec![charge(&payers[1], 0, 3, 45), ChargedPayer { channel: 1, ..charge(&payers[0], 0, 3, 45) }];
		assert_eq!(audit(&blob, &header, &operator, &other_channel, &[], &none, &terms, facts_of), Err(AuditError::OutsideCharge(0)));
		let beyond = alloc::vec![charge(&payers[1], 0, 3, 45), charge(&payers[0], 0, 4, 45)];
		assert_eq!(audit(&blob, &header, &operator, &beyond, &[], &none, &terms, facts_of), Err(AuditError::OutsideCharge(2)));
		// Audited under other terms than the batch committed to: the input is wrong, not the batch.
		let other_terms = BatchTerms { min_fee: 2, ..terms.clone() };
		assert_eq!(audit(&blob, &header, &operator, &charges, &[], &none, &other_terms, facts_of), Err(AuditError::WrongTerms));
		// One payer charged the other's share.
		let shifted = alloc::vec![charge(&payers[0], 0, 3, 60), charge(&payers[1], 0, 3, 30)];
		assert_eq!(audit(&blob, &header, &operator, &shifted, &[], &none, &terms, facts_of), Err(AuditError::WrongCharges));
		assert_eq!(audit(&blob, &header, &operator, &charges[..1], &[], &none, &terms, facts_of), Err(AuditError::WrongCharges));
		// A charge whose leaves (as the payer's spend log names them) are not the payer's.
		let moved = alloc::vec![charge(&payers[1], 0, 3, 45), ChargedPayer { first_leaf: 1, ..charge(&payers[0], 0, 3, 45) }];
		assert_eq!(audit(&blob, &header, &operator, &moved, &[], &none, &terms, facts_of), Err(AuditError::WrongCharges));
		let fewer = alloc::vec![charge(&payers[1], 0, 3, 45), ChargedPayer { receipts: 2, ..charge(&payers[0], 0, 3, 45) }];
		assert_eq!(audit(&blob, &header, &operator, &fewer, &[], &none, &terms, facts_of), Err(AuditError::WrongCharges));
		// Payouts kept by the operator instead of the contributor.
		let mut skimmed = blob.clone();
		if let Some(p) = skimmed.payouts.iter_mut().find(|p| p.who == contributor) {
			p.who = operator.clone();
		}
		skimmed.payouts.sort_by(|a, b| a.who.cmp(&b.who));
		let h = skimmed.header(ContentHash([8; 32]));
		assert_eq!(audit(&skimmed, &h, &operator, &charges, &[], &none, &terms, facts_of), Err(AuditError::WrongPayouts));

		// The operator's next batch extends the first one's running totals.
		let first = blob.payouts.clone();
		let first_root = header.payouts_root;
		let next_leaves: Vec<_> = leaves[..3].iter().cloned().map(|mut l| {
			l.voucher.seq += 3;
			l.voucher.cumulative += 300;
			l.signature = MultiSignature::Sr25519(keys[0].sign(&l.voucher.signing_payload()));
			l
		}).collect();
		let next_charges = alloc::vec![charge(&payers[0], 3, 6, 45)];
		let (mut next, _) = extend(&first, next_leaves);
		next.prev = Some(7);
		let nh = next.header(ContentHash([8; 32]));
		assert_eq!(audit(&next, &nh, &operator, &next_charges, &first, &first_root, &terms, facts_of), Ok(()));
		assert_eq!(nh.payouts_total, 45 - nh.attestors_part, "a batch adds its own fees, not the running totals");
		let total_of = |b: &Blob<AccountId32, u32, MultiSignature>, who: &AccountId32| b.payouts.iter().find(|p| p.who == *who).map(|p| p.amount);
		assert_eq!(total_of(&next, &contributor), Some(6 * 7 + 3 * 7), "running: both batches' parts");
		// Audited against totals the first batch did not commit: the input is wrong, not the batch.
		let mut wrong = first.clone();
		wrong[0].amount += 1;
		assert_eq!(audit(&next, &nh, &operator, &next_charges, &wrong, &first_root, &terms, facts_of), Err(AuditError::WrongPrev));
		// Built as if the first batch never was (the accounts' earlier totals dropped).
		let (mut fresh, _) = extend(&[], next.leaves.clone());
		fresh.prev = Some(7);
		let fh = fresh.header(nh.blob);
		assert_eq!(audit(&fresh, &fh, &operator, &next_charges, &first, &first_root, &terms, facts_of), Err(AuditError::WrongPayouts));
		// A running total raised beyond what the batches paid it (the operator's own).
		let mut raised = next.clone();
		match raised.payouts.iter_mut().find(|p| p.who == owner) {
			Some(p) => p.amount += 1,
			None => unreachable!("the adapter owner is paid"),
		}
		let rh = raised.header(nh.blob);
		assert_eq!(audit(&raised, &rh, &operator, &next_charges, &first, &first_root, &terms, facts_of), Err(AuditError::WrongPayouts));
	}

	#[test]
	fn running_totals_add_each_accounts_part_and_keep_the_rest() {
		let p = |who: u64, amount: Balance| Payout { who, amount };
		let prev = alloc::vec![p(1, 10), p(3, 30), p(5, 50)];
		let parts = alloc::vec![p(2, 2), p(3, 3), p(6, 6)];
		assert_eq!(cumulate(&prev, &parts), Ok(alloc::vec![p(1, 10), p(2, 2), p(3, 33), p(5, 50), p(6, 6)]));
		assert_eq!(cumulate(&[], &parts), Ok(parts.clone()));
		assert_eq!(cumulate(&prev, &[]), Ok(prev.clone()));
		// Out of order or repeated: refused, not merged wrongly.
		assert_eq!(cumulate(&[p(3, 1), p(1, 1)], &parts), Err(BatchError::Unsorted));
		assert_eq!(cumulate(&prev, &[p(2, 1), p(2, 1)]), Err(BatchError::Unsorted));
		assert_eq!(cumulate(&[p(1, Balance::MAX)], &[p(1, 1)]), Err(BatchError::Overflow));
	}

	#[test]
	fn a_changed_leaf_changes_its_hash_and_leaves_and_payouts_hash_apart() {
		let a = leaf(1);
		let mut b = a.clone();
		b.fee += 1;
		assert_ne!(a.hash(), b.hash());
		let p = Payout { who: 1u64, amount: 5 };
		assert_ne!(p.hash(), Payout { who: 1u64, amount: 6 }.hash());
		// The same bytes under the two contexts hash apart.
		assert_ne!(domain_hash(TestLeaf::CONTEXT, &p), domain_hash(Payout::<u64>::CONTEXT, &p));
		// A leaf preimage is longer than an inner node's 64 bytes.
		assert!(TestLeaf::CONTEXT.len() + a.encoded_size() > 64);
	}
}

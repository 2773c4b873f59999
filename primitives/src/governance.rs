//! What governance shares with the pallets that open proposals or wait for their outcome.
//!
//! `pallet-governance` implements [`OpenProposal`] and calls a [`ProposalFailed`] hook;
//! `pallet-models` opens a model-approval proposal for each model a builder proposes and learns
//! through the hook that stakers turned it down. Neither crate depends on the other.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::sp_runtime::{DispatchError, DispatchResult, Weight};
use scale_info::TypeInfo;

/// Identifier of a proposal; never reused.
pub type ProposalId = u32;

/// What a proposal is for. Each kind has its own voting period, quorum, approval threshold and
/// enactment delay, and its calls run with the governance origin of that kind.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	serde::Serialize,
	serde::Deserialize,
)]
pub enum ProposalKind {
	/// Approve (or reject) a model a builder proposed.
	ModelApproval,
	/// Change a parameter of the network (a pallet's setting, a kind's parameters, a cancel).
	ParameterChange,
	/// Pay from the treasury account.
	TreasurySpend,
}

impl ProposalKind {
	pub const ALL: [ProposalKind; 3] =
		[ProposalKind::ModelApproval, ProposalKind::ParameterChange, ProposalKind::TreasurySpend];
}

/// How another pallet opens (and withdraws) a proposal on an account's behalf. The proposer
/// needs no proposal-threshold stake; the deposit is held from it as for a direct proposal.
pub trait OpenProposal<AccountId, Call> {
	/// Open a proposal to dispatch `call` with the governance origin of `kind`.
	fn open(proposer: AccountId, call: Call, kind: ProposalKind) -> Result<ProposalId, DispatchError>;
	/// Withdraw a proposal still taking votes: it ends without a decision, its deposit is
	/// returned, and no [`ProposalFailed`] hook runs. Fails for a proposal that already passed.
	fn withdraw(id: ProposalId) -> DispatchResult;
	/// The largest weight `withdraw` may use.
	fn withdraw_weight() -> Weight;
}

/// Told when a proposal ends without its call being dispatched: stakers rejected it (no quorum
/// or not approved) or governance cancelled it.
pub trait ProposalFailed {
	/// Proposal `id` failed. Returns the weight used.
	fn proposal_failed(id: ProposalId) -> Weight;
	/// The largest weight `proposal_failed` may use.
	fn max_weight() -> Weight;
}

impl ProposalFailed for () {
	fn proposal_failed(_id: ProposalId) -> Weight {
		Weight::zero()
	}
	fn max_weight() -> Weight {
		Weight::zero()
	}
}

//! The governance origin, the `EnsureOrigin`s other pallets and the runtime use for it, and the
//! seam through which other pallets open proposals.

use crate::{frame_support, types::ProposalKind};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use core::marker::PhantomData;
use frame_support::traits::{EnsureOrigin, Get, OriginTrait};
use scale_info::TypeInfo;

/// The origin a passed proposal's call runs with.
#[derive(
	Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub enum GovernanceOrigin {
	/// Stakers passed a proposal of this kind.
	Passed(ProposalKind),
}

/// Succeeds for a call dispatched by any passed proposal; yields the proposal's kind.
pub struct EnsureGovernance;

impl<O: OriginTrait + From<GovernanceOrigin>> EnsureOrigin<O> for EnsureGovernance
where
	for<'a> &'a O::PalletsOrigin: TryInto<&'a GovernanceOrigin>,
{
	type Success = ProposalKind;

	fn try_origin(o: O) -> Result<Self::Success, O> {
		let kind = match o.caller().try_into() {
			Ok(GovernanceOrigin::Passed(kind)) => Some(*kind),
			Err(_) => None,
		};
		kind.ok_or(o)
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn try_successful_origin() -> Result<O, ()> {
		Ok(O::from(GovernanceOrigin::Passed(ProposalKind::ParameterChange)))
	}
}

/// Succeeds only for a call dispatched by a passed proposal of kind `K`.
pub struct EnsureKind<K>(PhantomData<K>);

impl<O: OriginTrait + From<GovernanceOrigin>, K: Get<ProposalKind>> EnsureOrigin<O> for EnsureKind<K>
where
	for<'a> &'a O::PalletsOrigin: TryInto<&'a GovernanceOrigin>,
{
	type Success = ();

	fn try_origin(o: O) -> Result<Self::Success, O> {
		let ok = matches!(o.caller().try_into(), Ok(GovernanceOrigin::Passed(kind)) if *kind == K::get());
		if ok {
			Ok(())
		} else {
			Err(o)
		}
	}

	#[cfg(feature = "runtime-benchmarks")]
	fn try_successful_origin() -> Result<O, ()> {
		Ok(O::from(GovernanceOrigin::Passed(K::get())))
	}
}

pub use mnemo_primitives::governance::{OpenProposal, ProposalFailed};

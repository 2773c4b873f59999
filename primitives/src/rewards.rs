//! How an inference fee is shared: the governance-set split and the one function that applies
//! it, to the last unit. `pallet-rewards` settles fees with it; a serving engine computes a
//! batch's payouts with the same function, so both sides agree to the unit.

use crate::{Balance, ContributionId, ContributionShare};
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::sp_runtime::{helpers_128bit::multiply_by_rational_with_rounding, Perbill, Rounding};
use scale_info::TypeInfo;

/// Where the residual goes: the part of the score-weighted pools (contributors' and datanet
/// owners') that the [`PoolRule`] does not give to any contribution.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
	serde::Serialize, serde::Deserialize,
)]
pub enum ResidualTo {
	/// To the adapter owner: what the data does not explain, the adapter (and its base) did.
	AdapterOwner,
	/// To the treasury.
	Treasury,
}

/// How the two score-weighted parts (contributors' and datanet owners') are shared among the
/// contributions a receipt's attribution credits.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
	serde::Serialize, serde::Deserialize,
)]
pub enum PoolRule {
	/// Each part is shared among the attributed contributions in proportion to their scores
	/// (a score over the sum of that receipt's scores), so the whole part goes to the data the
	/// attribution found; it goes to `residual_to` only when the attribution credits no
	/// contribution at all. The scores decide who gets what, not how much of the part the data
	/// gets.
	Relative,
	/// Each contribution receives its score times the part; the rest (100% minus the scores'
	/// sum: what the data did not explain) goes to `residual_to`.
	Absolute,
}

/// How a settled fee is shared. The five parts sum to exactly 100%.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
	serde::Serialize, serde::Deserialize,
)]
pub struct FeeSplit {
	/// Shared by the attributed contributors, by score (see `pool`).
	pub contributors: Perbill,
	/// To the adapter's owner.
	pub adapter_owner: Perbill,
	/// Shared by the owners of the attributed contributions' datanets, by the same scores
	/// (see `pool`).
	pub datanet_owners: Perbill,
	/// Shared equally by the attestors whose reports made the quorum.
	pub attestors: Perbill,
	/// To the treasury (which also receives all rounding dust).
	pub treasury: Perbill,
	/// How the score-weighted parts are shared among the attributed contributions.
	pub pool: PoolRule,
	/// Where what `pool` leaves of the score-weighted parts goes.
	pub residual_to: ResidualTo,
}

impl FeeSplit {
	/// Whether the five parts sum to exactly 100%.
	pub fn is_whole(&self) -> bool {
		[self.contributors, self.adapter_owner, self.datanet_owners, self.attestors, self.treasury]
			.iter()
			.map(|p| p.deconstruct() as u64)
			.sum::<u64>() == Perbill::one().deconstruct() as u64
	}
}

impl Default for FeeSplit {
	/// Contributors 50%, adapter owner 20%, datanet owners 10%, attestors 10%, treasury 10%;
	/// the score-weighted parts shared by relative score; the residual (a receipt the
	/// attribution credits to no contribution) to the adapter owner.
	fn default() -> Self {
		FeeSplit {
			contributors: Perbill::from_percent(50),
			adapter_owner: Perbill::from_percent(20),
			datanet_owners: Perbill::from_percent(10),
			attestors: Perbill::from_percent(10),
			treasury: Perbill::from_percent(10),
			pool: PoolRule::Relative,
			residual_to: ResidualTo::AdapterOwner,
		}
	}
}

/// The roles in which an account earns.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub enum Role {
	Contributor,
	AdapterOwner,
	DatanetOwner,
	Attestor,
	Treasury,
}

impl Role {
	/// Every role.
	pub const ALL: [Role; 5] =
		[Role::Contributor, Role::AdapterOwner, Role::DatanetOwner, Role::Attestor, Role::Treasury];
}

/// Amounts by role.
#[derive(
	Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen,
)]
pub struct RoleAmounts {
	/// As a contributor whose data the attribution scored.
	pub contributor: Balance,
	/// As the owner of the adapter that served (including the residual, if the split says so).
	pub adapter_owner: Balance,
	/// As the owner of a datanet whose contributions were scored.
	pub datanet_owner: Balance,
	/// As an attestor in the quorum.
	pub attestor: Balance,
	/// As the treasury (its share, dust, and the residual if the split says so).
	pub treasury: Balance,
}

impl RoleAmounts {
	/// The amount of one role.
	pub fn get(&self, role: Role) -> Balance {
		match role {
			Role::Contributor => self.contributor,
			Role::AdapterOwner => self.adapter_owner,
			Role::DatanetOwner => self.datanet_owner,
			Role::Attestor => self.attestor,
			Role::Treasury => self.treasury,
		}
	}

	/// The amount of one role, to change it.
	pub fn slot(&mut self, role: Role) -> &mut Balance {
		match role {
			Role::Contributor => &mut self.contributor,
			Role::AdapterOwner => &mut self.adapter_owner,
			Role::DatanetOwner => &mut self.datanet_owner,
			Role::Attestor => &mut self.attestor,
			Role::Treasury => &mut self.treasury,
		}
	}

	/// The sum over roles (saturating; amounts here never exceed one fee or the issuance).
	pub fn total(&self) -> Balance {
		Role::ALL.iter().fold(0, |s, r| s.saturating_add(self.get(*r)))
	}

	/// Add `other`, role by role.
	pub fn accrue(&mut self, other: &RoleAmounts) {
		for role in Role::ALL {
			let s = self.slot(role);
			*s = s.saturating_add(other.get(role));
		}
	}
}

/// One account's credit from one receipt: all its roles together, so no account is credited
/// twice for one receipt.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, DecodeWithMemTracking, TypeInfo, MaxEncodedLen)]
pub struct Payee<AccountId> {
	pub who: AccountId,
	pub amounts: RoleAmounts,
}

/// Why a settlement cannot be split.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SplitError {
	/// The contributions' scores sum to more than 100%.
	SharesExceedWhole,
	/// A contribution appears twice.
	DuplicateContribution,
	/// An attestor appears twice.
	DuplicateAttestor,
}

/// A fee split into credits: per account, and per contribution (the contributor part only).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Split<AccountId> {
	pub payees: Vec<Payee<AccountId>>,
	pub contributions: Vec<(ContributionId, Balance)>,
}

impl<A: Clone + Eq> Split<A> {
	fn credit(&mut self, who: &A, role: Role, amount: Balance) {
		if amount == 0 {
			return;
		}
		let i = match self.payees.iter().position(|p| &p.who == who) {
			Some(i) => i,
			None => {
				self.payees.push(Payee { who: who.clone(), amounts: RoleAmounts::default() });
				self.payees.len() - 1
			},
		};
		let slot = self.payees[i].amounts.slot(role);
		*slot = slot.saturating_add(amount);
	}

	/// The sum of all credits.
	pub fn total(&self) -> Balance {
		self.payees.iter().fold(0, |s, p| s.saturating_add(p.amounts.total()))
	}
}

/// Split `fee` by `split`.
///
/// Each part is `part × fee`, rounded down. The contributors' part is shared among the
/// contributions by score and the datanet owners' part by the same scores (each contribution's
/// share credited to its datanet's owner), as `split.pool` says: in proportion to the scores
/// (`Relative`: the whole part to the data the attribution found) or each score times the part
/// (`Absolute`). What the rule leaves of the two score-weighted parts (`Relative`: all of them
/// when no contribution is scored; `Absolute`: 100% minus the scores' sum) is the residual and
/// goes where `split.residual_to` says. The attestors' part is shared equally. Everything left by
/// rounding goes to the treasury, so the credits sum to `fee` exactly. Zero credits are left out.
pub fn split_fee<A: Clone + Eq>(
	fee: Balance,
	split: &FeeSplit,
	adapter_owner: &A,
	treasury: &A,
	contributions: &[ContributionShare<A>],
	attestors: &[A],
) -> Result<Split<A>, SplitError> {
	let scored: u64 = contributions.iter().map(|c| c.share.deconstruct() as u64).sum();
	let whole = Perbill::one().deconstruct() as u64;
	if scored > whole {
		return Err(SplitError::SharesExceedWhole);
	}
	for (i, c) in contributions.iter().enumerate() {
		if contributions[..i].iter().any(|d| d.contribution == c.contribution) {
			return Err(SplitError::DuplicateContribution);
		}
	}
	for (i, a) in attestors.iter().enumerate() {
		if attestors[..i].contains(a) {
			return Err(SplitError::DuplicateAttestor);
		}
	}
	let pool_c = split.contributors.mul_floor(fee);
	let pool_a = split.adapter_owner.mul_floor(fee);
	let pool_d = split.datanet_owners.mul_floor(fee);
	let pool_t = split.attestors.mul_floor(fee);
	// One contribution's part of a score-weighted pool, rounded down: never above the pool.
	let part_of = |share: Perbill, pool: Balance| -> Balance {
		match split.pool {
			PoolRule::Absolute => share.mul_floor(pool),
			PoolRule::Relative => multiply_by_rational_with_rounding(
				pool,
				u128::from(share.deconstruct()),
				u128::from(scored),
				Rounding::Down,
			)
			.unwrap_or(0),
		}
	};

	let mut out = Split { payees: Vec::new(), contributions: Vec::new() };
	let pay = |out: &mut Split<A>, who: &A, role: Role, amount: Balance| out.credit(who, role, amount);
	for c in contributions {
		let to_contributor = part_of(c.share, pool_c);
		let to_owner = part_of(c.share, pool_d);
		pay(&mut out, &c.contributor, Role::Contributor, to_contributor);
		pay(&mut out, &c.datanet_owner, Role::DatanetOwner, to_owner);
		if to_contributor > 0 {
			out.contributions.push((c.contribution, to_contributor));
		}
	}
	let unassigned = match split.pool {
		PoolRule::Relative if scored > 0 => 0,
		PoolRule::Relative => pool_c.saturating_add(pool_d),
		PoolRule::Absolute => {
			let residual = Perbill::from_parts((whole - scored) as u32);
			residual.mul_floor(pool_c).saturating_add(residual.mul_floor(pool_d))
		},
	};
	pay(&mut out, adapter_owner, Role::AdapterOwner, pool_a);
	match split.residual_to {
		ResidualTo::AdapterOwner => pay(&mut out, adapter_owner, Role::AdapterOwner, unassigned),
		ResidualTo::Treasury => pay(&mut out, treasury, Role::Treasury, unassigned),
	}
	if let Some(each) = pool_t.checked_div(attestors.len() as Balance) {
		for a in attestors {
			pay(&mut out, a, Role::Attestor, each);
		}
	}
	// The treasury's part, the attestors' part if none attested, and all rounding dust. Every
	// credit above is at most its pool and the pools, each rounded down, sum to at most `fee`.
	let rest = fee.saturating_sub(out.total());
	pay(&mut out, treasury, Role::Treasury, rest);
	Ok(out)
}

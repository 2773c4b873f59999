//! Property tests: nothing is lost or created, and no account is credited twice per receipt.

use crate::{mock::*, *};
use mnemo_primitives::{BatchEscrow, ContributionShare};
use polkadot_sdk::sp_runtime::Perbill;
use proptest::prelude::*;

/// Five parts summing to exactly 100%, from four cut points.
fn any_split() -> impl Strategy<Value = FeeSplit> {
	(proptest::collection::vec(0u32..=1_000_000_000, 4), any::<bool>(), any::<bool>()).prop_map(|(mut cuts, to_owner, relative)| {
		cuts.sort();
		let parts: Vec<u32> = [0, cuts[0], cuts[1], cuts[2], cuts[3], 1_000_000_000].windows(2).map(|w| w[1] - w[0]).collect();
		FeeSplit {
			contributors: Perbill::from_parts(parts[0]),
			adapter_owner: Perbill::from_parts(parts[1]),
			datanet_owners: Perbill::from_parts(parts[2]),
			attestors: Perbill::from_parts(parts[3]),
			treasury: Perbill::from_parts(parts[4]),
			pool: if relative { PoolRule::Relative } else { PoolRule::Absolute },
			residual_to: if to_owner { ResidualTo::AdapterOwner } else { ResidualTo::Treasury },
		}
	})
}

/// Up to `n` contributions with scores summing to at most 100%; accounts drawn from a small
/// pool so that roles overlap.
fn any_shares(n: usize) -> impl Strategy<Value = Vec<ContributionShare<AccountId>>> {
	proptest::collection::vec((0u32..=1_000_000_000, 1u64..6, 1u64..6), 0..=n).prop_map(|raw| {
		let mut left = 1_000_000_000u32;
		raw.into_iter()
			.enumerate()
			.map(|(i, (score, who, owner))| {
				let score = score.min(left);
				left -= score;
				ContributionShare { contribution: i as u64, contributor: who, datanet_owner: owner, share: Perbill::from_parts(score) }
			})
			.collect()
	})
}

fn any_attestors(n: usize) -> impl Strategy<Value = Vec<AccountId>> {
	proptest::collection::btree_set(1u64..8, 0..=n).prop_map(|s| s.into_iter().collect())
}

proptest! {
	#[test]
	fn a_split_credits_exactly_the_fee_once_per_account(
		fee in 0u128..=u128::MAX / 2,
		split in any_split(),
		shares in any_shares(16),
		attestors in any_attestors(8),
		owner in 1u64..8,
	) {
		let out = split_fee(fee, &split, &owner, &0, &shares, &attestors).expect("a valid settlement");
		prop_assert_eq!(out.total(), fee);
		let mut who: Vec<_> = out.payees.iter().map(|p| p.who).collect();
		who.sort();
		who.dedup();
		prop_assert_eq!(who.len(), out.payees.len());
		prop_assert!(out.payees.iter().all(|p| p.amounts.total() > 0));
		// Each contribution gets at most its share of the contributors' part: its score of it
		// (absolute) or its score over all scores of it (relative); together never more than it.
		let pool_c = split.contributors.mul_floor(fee);
		let scored: u128 = shares.iter().map(|s| u128::from(s.share.deconstruct())).sum();
		for (c, amount) in &out.contributions {
			let s = shares.iter().find(|s| s.contribution == *c).unwrap();
			let most = match split.pool {
				PoolRule::Absolute => s.share.mul_floor(pool_c),
				PoolRule::Relative => pool_c / scored * u128::from(s.share.deconstruct())
					+ pool_c % scored * u128::from(s.share.deconstruct()) / scored,
			};
			prop_assert!(*amount <= most && *amount > 0);
		}
		let to_contributors: Balance = out.payees.iter().map(|p| p.amounts.contributor).sum();
		prop_assert!(to_contributors <= pool_c);
		// Relative: when anything is scored, the contributors' part goes to the data, all but
		// at most one unit of rounding per contribution.
		if split.pool == PoolRule::Relative && scored > 0 {
			prop_assert!(to_contributors + shares.len() as Balance >= pool_c);
		}
		// The treasury gets at least its part; nobody else gets any treasury credit.
		let treasury = out.payees.iter().find(|p| p.who == 0).map(|p| p.amounts.treasury).unwrap_or(0);
		prop_assert!(treasury >= split.treasury.mul_floor(fee));
	}

	#[test]
	fn money_is_conserved_through_charges_settlements_refunds_and_claims(
		ops in proptest::collection::vec((0u8..5, 1u128..5_000, any_attestors(MAX_ATTESTORS as usize)), 1..40),
	) {
		new_test_ext().execute_with(|| {
			let issuance = Balances::total_issuance();
			funded(START / 2);
			let mut next = 0u64;
			for (op, amount, attestors) in ops {
				match op {
					0 | 1 => {
						next += 1;
						let _ = charge(next, amount);
					},
					// Settled with any part to any attestors, the rest to OWNER's running payout.
					2 => {
						let _ = settle_to(next, attestors, amount);
					},
					3 => {
						let _ = <Rewards as BatchEscrow<_>>::refund(next.saturating_sub(amount as u64 % 3));
					},
					_ => {
						// Refunds go back (a few payers at a time) before the claims.
						<Rewards as Hooks<u64>>::on_initialize(0);
						for who in 1u64..8 {
							let _ = Rewards::claim(RuntimeOrigin::signed(who));
						}
						let _ = claim_owner();
					},
				}
				Rewards::do_try_state().expect("invariants hold");
			}
			prop_assert_eq!(Balances::total_issuance(), issuance);
			let owed = Rewards::owed();
			// Everything the payer was charged is escrowed, claimable, or was claimed.
			let charged = Rewards::spend(PAYER).0.total;
			let claimed: Balance = Ledgers::<Test>::iter_values().map(|l| l.claimed).sum();
			prop_assert_eq!(charged, owed.escrowed + owed.claimable + claimed);
			Ok(())
		})?;
	}
}

//! Pull-based claims of ledgers (attestors' parts, the treasury's), including accounts below the
//! existential deposit.

use crate::{mock::*, *};
use polkadot_sdk::frame_support::assert_ok;

/// Batch `b` of `fee` charged and settled: a tenth to the attestors A1, A2, A3.
fn earned(b: u64, fee: Balance) {
	assert_ok!(charge(b, fee));
	assert_ok!(settle(b));
}

#[test]
fn claim_pays_everything_claimable_once() {
	build_and_execute(|| {
		funded(10_000);
		assert_eq!(e(Rewards::claim(RuntimeOrigin::signed(A1))), err(Error::NothingToClaim));
		earned(1, 1_000);
		earned(2, 1_000);
		let before = free(A1);
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(A1)));
		assert_eq!(last_event(), Event::Claimed { who: A1, amount: 66 });
		assert_eq!(free(A1), before + 66);
		assert_eq!(ledger(A1).claimable, 0);
		assert_eq!(ledger(A1).claimed, 66);
		assert_eq!(ledger(A1).earned.attestor, 66);
		assert_eq!(e(Rewards::claim(RuntimeOrigin::signed(A1))), err(Error::NothingToClaim));
		// A batch charged and not settled credits nobody yet.
		assert_ok!(charge(3, 1_000));
		assert_eq!(e(Rewards::claim(RuntimeOrigin::signed(A1))), err(Error::NothingToClaim));
	});
}

#[test]
fn anyone_pays_out_the_treasury() {
	build_and_execute(|| {
		funded(10_000);
		earned(1, 1_000);
		earned(2, 1_000);
		let before = free(TREASURY);
		assert_ok!(Rewards::claim_for(RuntimeOrigin::signed(C2), TREASURY));
		// A unit of rounding dust from each batch's 100 among three attestors.
		assert_eq!(free(TREASURY), before + 2);
		assert_eq!(last_event(), Event::Claimed { who: TREASURY, amount: 2 });
	});
}

#[test]
fn a_fresh_account_below_the_minimum_keeps_its_rewards_until_they_reach_it() {
	build_and_execute(|| {
		funded(10_000);
		// FRESH, an attestor with no account, earns 6: below ED (10).
		assert_ok!(charge(1, 12));
		assert_ok!(settle_to(1, vec![FRESH], 6));
		assert_eq!(ledger(FRESH).claimable, 6);
		assert_eq!(e(Rewards::claim(RuntimeOrigin::signed(FRESH))), err(Error::BelowMinimum));
		assert_eq!(ledger(FRESH).claimable, 6);
		assert_eq!(free(FRESH), 0);
		assert_ok!(charge(2, 20));
		assert_ok!(settle_to(2, vec![FRESH], 10));
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(FRESH)));
		assert_eq!(free(FRESH), 16);
	});
}

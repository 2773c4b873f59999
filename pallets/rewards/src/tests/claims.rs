//! Pull-based claims, including accounts below the existential deposit.

use crate::{mock::*, *};
use polkadot_sdk::frame_support::assert_ok;

/// Receipt `r` of `fee` charged, settled and released.
fn earned(r: u64, fee: Balance) {
	assert_ok!(charge(r, fee));
	assert_ok!(settle(r));
	run_to(System::block_number() + WINDOW);
}

#[test]
fn claim_pays_everything_claimable_once() {
	build_and_execute(|| {
		funded(10_000);
		assert_eq!(e(Rewards::claim(RuntimeOrigin::signed(C1))), err(Error::NothingToClaim));
		earned(1, 1_000);
		earned(2, 1_000);
		let before = free(C1);
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(C1)));
		assert_eq!(last_event(), Event::Claimed { who: C1, amount: 666 });
		assert_eq!(free(C1), before + 666);
		assert_eq!(ledger(C1).claimable, 0);
		assert_eq!(ledger(C1).claimed, 666);
		assert_eq!(ledger(C1).earned.contributor, 666);
		assert_eq!(e(Rewards::claim(RuntimeOrigin::signed(C1))), err(Error::NothingToClaim));
		// Pending credits are not claimable.
		assert_ok!(charge(3, 1_000));
		assert_ok!(settle(3));
		assert_eq!(e(Rewards::claim(RuntimeOrigin::signed(C1))), err(Error::NothingToClaim));
		assert_eq!(ledger(C1).pending, 333);
	});
}

#[test]
fn anyone_pays_out_the_treasury() {
	build_and_execute(|| {
		funded(10_000);
		earned(1, 1_000);
		let before = free(TREASURY);
		assert_ok!(Rewards::claim_for(RuntimeOrigin::signed(C2), TREASURY));
		// Its 10% and the two units of rounding dust.
		assert_eq!(free(TREASURY), before + 102);
		assert_eq!(last_event(), Event::Claimed { who: TREASURY, amount: 102 });
	});
}

#[test]
fn a_fresh_account_below_the_minimum_keeps_its_rewards_until_they_reach_it() {
	build_and_execute(|| {
		funded(10_000);
		// FRESH, a contributor with no account and the only one scored, earns 6 (the
		// contributors' 50% of 12): below ED (10).
		assert_ok!(charge(1, 12));
		assert_ok!(<Rewards as mnemo_primitives::RewardSink<_, _>>::settle(mnemo_primitives::Settlement {
			receipt: 1,
			adapter_owner: OWNER,
			contributions: vec![share(100, FRESH, 60)],
			attestors: vec![],
			release_at: 2,
		}));
		run_to(2);
		assert_eq!(ledger(FRESH).claimable, 6);
		assert_eq!(e(Rewards::claim(RuntimeOrigin::signed(FRESH))), err(Error::BelowMinimum));
		assert_eq!(ledger(FRESH).claimable, 6);
		assert_eq!(free(FRESH), 0);
		assert_ok!(charge(2, 20));
		assert_ok!(<Rewards as mnemo_primitives::RewardSink<_, _>>::settle(mnemo_primitives::Settlement {
			receipt: 2,
			adapter_owner: OWNER,
			contributions: vec![share(100, FRESH, 60)],
			attestors: vec![],
			release_at: 3,
		}));
		run_to(3);
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(FRESH)));
		assert_eq!(free(FRESH), 16);
		assert_eq!(Rewards::contribution_earnings(vec![100]), vec![(100, 16)]);
	});
}

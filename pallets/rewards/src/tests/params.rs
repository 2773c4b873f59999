//! Governance-set parameters and spend periods.

use crate::{mock::*, *};
use polkadot_sdk::{frame_support::assert_ok, sp_runtime::{DispatchError, Perbill}};

fn split(c: u32, a: u32, d: u32, t: u32, tr: u32, pool: PoolRule, residual_to: ResidualTo) -> FeeSplit {
	FeeSplit {
		contributors: Perbill::from_percent(c),
		adapter_owner: Perbill::from_percent(a),
		datanet_owners: Perbill::from_percent(d),
		attestors: Perbill::from_percent(t),
		treasury: Perbill::from_percent(tr),
		pool,
		residual_to,
	}
}

#[test]
fn governance_sets_the_split_batches_are_split_by() {
	build_and_execute(|| {
		use mnemo_primitives::BatchEscrow;
		assert_eq!(<Rewards as BatchEscrow<_>>::split(), FeeSplit::default());
		let new = RewardParams { split: split(70, 10, 0, 10, 10, PoolRule::Absolute, ResidualTo::Treasury), notice: 2, spend_period: 5 };
		assert_eq!(
			e(Rewards::set_params(RuntimeOrigin::signed(OWNER), new)),
			Err(DispatchError::BadOrigin)
		);
		assert_ok!(Rewards::set_params(RuntimeOrigin::root(), new));
		assert_eq!(last_event(), Event::ParamsSet { params: new });
		assert_eq!(Rewards::params(), Some(new));
		// What the next batches' payouts are computed and audited with.
		assert_eq!(<Rewards as BatchEscrow<_>>::split(), new.split);
	});
}

#[test]
fn invalid_params_are_refused() {
	build_and_execute(|| {
		let mut p = params();
		p.split = split(50, 20, 10, 10, 9, PoolRule::Relative, ResidualTo::AdapterOwner);
		assert_eq!(e(Rewards::set_params(RuntimeOrigin::root(), p)), err(Error::InvalidSplit));
		p.split = split(50, 20, 10, 10, 11, PoolRule::Relative, ResidualTo::AdapterOwner);
		assert_eq!(e(Rewards::set_params(RuntimeOrigin::root(), p)), err(Error::InvalidSplit));
		let p = RewardParams { spend_period: 0, ..params() };
		assert_eq!(e(Rewards::set_params(RuntimeOrigin::root(), p)), err(Error::ZeroPeriod));
		assert_eq!(Rewards::params(), Some(params()));
	});
}

#[test]
fn spend_is_totalled_per_period_keeping_the_last_ones() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(charge(1, 100));
		run_to(PERIOD);
		assert_ok!(charge(2, 200));
		assert_ok!(charge(3, 300));
		run_to(2 * PERIOD);
		assert_ok!(charge(4, 400));
		let (totals, periods) = Rewards::spend(PAYER);
		assert_eq!(totals, SpendTotals { total: 1_000, receipts: 4 });
		// Period 0 gave way to the newest two.
		assert_eq!(periods, vec![(1, 500), (2, 400)]);
		// A refund comes off the period it was charged in; one whose period is gone only off the
		// totals.
		assert_ok!(<Rewards as mnemo_primitives::BatchEscrow<_>>::refund(2));
		assert_ok!(<Rewards as mnemo_primitives::BatchEscrow<_>>::refund(1));
		run_to(2 * PERIOD + 1);
		assert_eq!(Rewards::spend(PAYER), (SpendTotals { total: 700, receipts: 2 }, vec![(1, 300), (2, 400)]));
	});
}

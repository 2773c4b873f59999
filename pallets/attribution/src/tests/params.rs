//! Governance-set parameters.

use crate::{mock::*, *};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::DispatchError,
};

#[test]
fn governance_sets_valid_params() {
	build_and_execute(|| {
		let mut p = params();
		p.quorum = 2;
		assert_ok!(Attribution::set_params(RuntimeOrigin::root(), p));
		assert_eq!(Attribution::current_params(), p);
		assert!(matches!(events().last(), Some(Event::ParamsSet { .. })));
		assert_noop!(Attribution::set_params(RuntimeOrigin::signed(OWNER), p), DispatchError::BadOrigin);
	});
}

#[test]
fn invalid_params_are_refused() {
	build_and_execute(|| {
		let bad: Vec<Box<dyn Fn(&mut Params<u64>)>> = vec![
			Box::new(|p| p.min_reports = 0),
			Box::new(|p| p.min_reports = p.quorum + 1),
			Box::new(|p| p.quorum = p.assigned + 1),
			Box::new(|p| p.assigned = MAX_ASSIGNED + 1),
			Box::new(|p| p.commit_period = 0),
			Box::new(|p| p.reveal_period = 0),
			Box::new(|p| p.challenge_window = 0),
			Box::new(|p| p.resolution_period = 0),
			Box::new(|p| p.strike_window = 0),
			Box::new(|p| p.strikes_to_slash = 0),
			Box::new(|p| p.min_fee = 0),
			Box::new(|p| p.max_voucher_lifetime = 0),
			Box::new(|p| p.retention = p.max_voucher_lifetime - 1),
		];
		for f in bad {
			let mut p = params();
			f(&mut p);
			assert_noop!(Attribution::set_params(RuntimeOrigin::root(), p), Error::<Test>::InvalidParams);
		}
		assert!(Attribution::check_params(&Attribution::default_params()).is_ok());
	});
}

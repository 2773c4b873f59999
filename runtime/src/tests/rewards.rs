//! pallet-rewards in the real runtime: stakers change the fee split through governance. (A paid
//! batch from payment channels to claimed payouts is in `attribution.rs`.)

use super::*;
use frame_support::{assert_ok, traits::Hooks};
use pallet_governance::{ProposalKind, Vote};
use pallet_rewards::{FeeSplit, PoolRule, ResidualTo, RewardParams};
use polkadot_sdk::{sp_keyring::Sr25519Keyring as K, sp_runtime::Perbill};

fn run_to(n: BlockNumber) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Governance::on_initialize(next);
	}
}

#[test]
fn stakers_change_the_fee_split_through_governance() {
	new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		let dev = Rewards::current_params();
		assert_eq!(dev.split, FeeSplit::default());
		let params = RewardParams {
			split: FeeSplit {
				contributors: Perbill::from_percent(60),
				adapter_owner: Perbill::from_percent(15),
				datanet_owners: Perbill::from_percent(10),
				attestors: Perbill::from_percent(10),
				treasury: Perbill::from_percent(5),
				pool: PoolRule::Absolute,
				residual_to: ResidualTo::Treasury,
			},
			..dev
		};
		let call = RuntimeCall::Rewards(pallet_rewards::Call::set_params { params });
		// Not by a plain account.
		assert!(Rewards::set_params(signed(K::Bob), params).is_err());
		assert_ok!(Governance::stake(signed(K::Alice), 1_000 * UNIT));
		let id = pallet_governance::NextProposalId::<Runtime>::get();
		assert_ok!(Governance::propose(signed(K::Alice), Box::new(call), ProposalKind::ParameterChange));
		assert_ok!(Governance::vote(signed(K::Alice), id, Vote::Aye));
		// Voting 10 blocks, enactment 2 later (development preset).
		run_to(13);
		assert_eq!(Rewards::current_params(), params);
		assert!(System::events().iter().any(|r| r.event
			== RuntimeEvent::Rewards(pallet_rewards::Event::ParamsSet { params })));
		Governance::do_try_state().unwrap();
	});
}

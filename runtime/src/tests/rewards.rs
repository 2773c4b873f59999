//! pallet-rewards in the real runtime: a paid inference from a payment channel to claimed rewards, with
//! total issuance unchanged; stakers change the fee split through governance.

use super::*;
use frame_support::{assert_ok, traits::Hooks};
use mnemo_primitives::{Charge, ContributionShare, PaymentEscrow, RewardSink, Settlement};
use pallet_governance::{ProposalKind, Vote};
use pallet_rewards::{FeeSplit, PoolRule, ResidualTo, RewardParams};
use polkadot_sdk::{sp_keyring::Sr25519Keyring as K, sp_runtime::Perbill};

fn run_to(n: BlockNumber) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Governance::on_initialize(next);
		Rewards::on_initialize(next);
	}
}

fn free(k: K) -> Balance {
	Balances::free_balance(acc(k))
}

#[test]
fn a_paid_inference_reaches_its_contributors_and_nothing_is_created() {
	new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		let issuance = Balances::total_issuance();
		// The pallet account exists from genesis.
		assert_eq!(Balances::free_balance(Rewards::account_id()), EXISTENTIAL_DEPOSIT);
		let (payer, operator) = (K::Bob, K::Charlie);
		assert_ok!(Rewards::open_channel(signed(payer), acc(operator), 10 * UNIT));
		let fee = 2 * UNIT;
		let charge = Charge { operator: acc(operator), payer: acc(payer), receipt: 1, adapter: 0, amount: fee, channel: 0, seq: 1, cumulative: 5 * UNIT };
		assert_ok!(Rewards::charge(charge));
		// As pallet-attribution settles it: Dave's contribution scored 80%, Eve owns the datanet,
		// Ferdie attested; Alice owns the adapter.
		assert_ok!(Rewards::settle(Settlement {
			receipt: 1,
			adapter_owner: alice(),
			contributions: vec![ContributionShare {
				contribution: 0,
				contributor: acc(K::Dave),
				datanet_owner: acc(K::Eve),
				share: Perbill::from_percent(80),
			}],
			attestors: vec![acc(K::Ferdie)],
			release_at: 10,
		}));
		run_to(10);
		let before = [K::Alice, K::Dave, K::Eve, K::Ferdie].map(free);
		for k in [K::Alice, K::Dave, K::Eve, K::Ferdie] {
			assert_ok!(Rewards::claim(signed(k)));
		}
		let after = [K::Alice, K::Dave, K::Eve, K::Ferdie].map(free);
		let gained: Vec<Balance> = after.iter().zip(before).map(|(a, b)| a - b).collect();
		// Dave's is the only contribution attributed, so the contributors' 50% is all his (the
		// default pool rule shares it by relative score), and so is his datanet owner Eve's 10%;
		// Alice 20%; Ferdie 10%.
		assert_eq!(gained, vec![fee * 20 / 100, fee * 50 / 100, fee * 10 / 100, fee * 10 / 100]);
		// The treasury's 10% waits in its ledger until someone pays it out.
		let treasury = configs::TreasuryAccount::get();
		let treasury_before = Balances::free_balance(&treasury);
		assert_ok!(Rewards::claim_for(signed(K::Bob), treasury.clone()));
		assert_eq!(Balances::free_balance(&treasury) - treasury_before, fee / 10);
		assert_eq!(Rewards::held_for_channels(&acc(payer)), 8 * UNIT);
		assert_eq!(Balances::total_issuance(), issuance);
		assert_eq!(Balances::free_balance(Rewards::account_id()), EXISTENTIAL_DEPOSIT);
		Rewards::do_try_state().unwrap();
	});
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

#[test]
fn the_largest_releases_of_a_block_fit_its_initialisation_budget() {
	use pallet_rewards::WeightInfo as _;
	use polkadot_sdk::frame_support::traits::Get;
	let per_block = <Runtime as pallet_rewards::Config>::MaxReleasesPerBlock::get();
	let worst = <Runtime as pallet_rewards::Config>::WeightInfo::release(per_block);
	let budget = AVERAGE_ON_INITIALIZE_RATIO * MAXIMUM_BLOCK_WEIGHT;
	assert!(worst.all_lte(budget), "{worst:?} > {budget:?}");
}

//! Every preset builds, and each says what it promises: who collates, who is sudo, who has funds.

use super::*;
use crate::genesis_config_presets::{ENDOWMENT, PARACHAIN_ID, ROCOCO_LOCAL_PRESET};
use polkadot_sdk::{sp_genesis_builder, sp_keyring::Sr25519Keyring};

#[test]
fn preset_names_are_the_documented_ones() {
	let names: Vec<String> = genesis_config_presets::preset_names()
		.into_iter()
		.map(|p| String::from_utf8(AsRef::<[u8]>::as_ref(&p).to_vec()).unwrap_or_default())
		.collect();
	assert_eq!(names, vec!["development", "local_testnet", "rococo_local"]);
	assert!(genesis_config_presets::get_preset(&"no_such_preset".into()).is_none());
}

#[test]
fn every_preset_builds_and_endows_the_dev_accounts() {
	for preset in [
		sp_genesis_builder::DEV_RUNTIME_PRESET,
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET,
		ROCOCO_LOCAL_PRESET,
	] {
		new_test_ext(preset).execute_with(|| {
			assert_eq!(
				ParachainInfo::parachain_id(),
				PARACHAIN_ID.into(),
				"{preset}"
			);
			for k in Sr25519Keyring::well_known() {
				assert_eq!(
					Balances::free_balance(k.to_account_id()),
					ENDOWMENT,
					"{preset} {k:?}"
				);
			}
			let endowed = Sr25519Keyring::well_known().count() as Balance;
			assert_eq!(
				Balances::free_balance(configs::TreasuryAccount::get()),
				EXISTENTIAL_DEPOSIT,
				"{preset}: the treasury exists"
			);
			assert_eq!(
				Balances::free_balance(Rewards::account_id()),
				EXISTENTIAL_DEPOSIT,
				"{preset}: the rewards account exists"
			);
			assert_eq!(
				Balances::total_issuance(),
				endowed * ENDOWMENT + 2 * EXISTENTIAL_DEPOSIT,
				"{preset}"
			);
			assert!(Rewards::current_params().split.is_whole(), "{preset}");
			assert!(
				!pallet_aura::Authorities::<Runtime>::get().is_empty(),
				"{preset}"
			);
		});
	}
}

#[test]
fn development_has_one_collator_and_alice_as_sudo() {
	new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(
			pallet_collator_selection::Invulnerables::<Runtime>::get().into_inner(),
			vec![alice()]
		);
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), Some(alice()));
		let aura: Vec<AuraId> = pallet_aura::Authorities::<Runtime>::get().into_inner();
		assert_eq!(aura, vec![AuraId::from(Sr25519Keyring::Alice.public())]);
	});
}

#[test]
fn local_testnet_has_two_collators_and_rococo_local_has_no_sudo() {
	new_test_ext(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET).execute_with(|| {
		assert_eq!(
			pallet_collator_selection::Invulnerables::<Runtime>::get().len(),
			2
		);
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), Some(alice()));
	});
	new_test_ext(ROCOCO_LOCAL_PRESET).execute_with(|| {
		assert_eq!(
			pallet_collator_selection::Invulnerables::<Runtime>::get().len(),
			2
		);
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), None);
	});
}

#[test]
fn runtime_identifies_as_mnemo() {
	assert_eq!(VERSION.spec_name, "mnemo");
	assert_eq!(<Runtime as frame_system::Config>::SS58Prefix::get(), 42);
	assert_eq!(
		<Runtime as pallet_balances::Config>::ExistentialDeposit::get(),
		EXISTENTIAL_DEPOSIT
	);
}

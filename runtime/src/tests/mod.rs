//! Runtime tests with the real wiring: genesis presets, balances, fees, holds, and XCM.

mod attribution;
mod balances;
mod datanets;
mod genesis;
mod governance;
mod models;
mod rewards;
mod xcm;

use crate::*;
use polkadot_sdk::{sp_io, sp_keyring::Sr25519Keyring, sp_runtime::BuildStorage};

/// A dev account's id.
pub fn acc(k: Sr25519Keyring) -> AccountId {
	k.to_account_id()
}

/// A dev account's signed origin.
pub fn signed(k: Sr25519Keyring) -> RuntimeOrigin {
	RuntimeOrigin::signed(acc(k))
}

/// Overlay `patch` onto `base`, recursively, the way the node merges preset patches.
pub fn json_merge(base: &mut serde_json::Value, patch: serde_json::Value) {
	match (base, patch) {
		(serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
			for (k, v) in patch {
				json_merge(base.entry(k).or_insert(serde_json::Value::Null), v);
			}
		}
		(base, patch) => *base = patch,
	}
}

/// The full genesis config of a preset: the runtime's defaults with the preset's patch on top.
pub fn preset_config(name: &str) -> RuntimeGenesisConfig {
	let patch = genesis_config_presets::get_preset(&name.into())
		.unwrap_or_else(|| panic!("preset {name} exists"));
	let patch: serde_json::Value = serde_json::from_slice(&patch).expect("preset is JSON");
	let mut config =
		serde_json::to_value(RuntimeGenesisConfig::default()).expect("default is JSON");
	json_merge(&mut config, patch);
	serde_json::from_value(config).expect("merged preset is a valid genesis config")
}

/// Externalities at genesis of `preset`, at block 1 so that events are recorded.
pub fn new_test_ext(preset: &str) -> sp_io::TestExternalities {
	let storage = preset_config(preset)
		.build_storage()
		.expect("genesis builds");
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

pub fn alice() -> AccountId {
	Sr25519Keyring::Alice.to_account_id()
}
pub fn bob() -> AccountId {
	Sr25519Keyring::Bob.to_account_id()
}
pub fn dave() -> AccountId {
	Sr25519Keyring::Dave.to_account_id()
}
/// An account that no preset endows.
pub fn nobody() -> AccountId {
	AccountId::from([0x42; 32])
}

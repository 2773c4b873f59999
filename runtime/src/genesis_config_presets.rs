//! Genesis presets: `development` (one collator, Alice is sudo), `local_testnet` (Alice and Bob
//! collate, Alice is sudo) and `production`-shaped `rococo_local` (Alice and Bob collate, no sudo).
//!
//! The well-known dev accounts (Alice … Ferdie and their `//stash`) are endowed in the first two.

use crate::{
	AccountId, AuraId, BalancesConfig, CollatorSelectionConfig, ParachainInfoConfig,
	PolkadotXcmConfig, RewardsConfig, RuntimeGenesisConfig, SessionConfig, SessionKeys, SudoConfig,
	EXISTENTIAL_DEPOSIT, UNIT,
};

use alloc::{vec, vec::Vec};

use polkadot_sdk::{staging_xcm as xcm, *};

use cumulus_primitives_core::ParaId;
use frame_support::build_struct_json_patch;
use serde_json::Value;
use sp_genesis_builder::PresetId;
use sp_keyring::Sr25519Keyring;

/// The XCM version every new channel speaks until told otherwise.
const SAFE_XCM_VERSION: u32 = xcm::prelude::XCM_VERSION;

/// Mnemo's parachain id on rococo-local and in the dev presets.
pub const PARACHAIN_ID: u32 = 2000;

/// Balance of each endowed dev account: one million MNEMO.
pub const ENDOWMENT: mnemo_primitives::Balance = 1_000_000 * UNIT;

/// Bond a collator candidate puts up.
pub const CANDIDACY_BOND: mnemo_primitives::Balance = 16 * EXISTENTIAL_DEPOSIT;

/// Name of the preset shaped like a real network: collators, endowed accounts, no sudo.
pub const ROCOCO_LOCAL_PRESET: &str = "rococo_local";

/// The session keys of a collator from its Aura key.
pub fn session_keys(aura: AuraId) -> SessionKeys {
	SessionKeys { aura }
}

fn genesis(
	invulnerables: Vec<(AccountId, AuraId)>,
	endowed_accounts: Vec<AccountId>,
	root: Option<AccountId>,
	id: ParaId,
) -> Value {
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig {
			balances: endowed_accounts
				.iter()
				.cloned()
				.map(|k| (k, ENDOWMENT))
				// The treasury exists from genesis, so slashes below the existential deposit
				// still reach it.
				.chain([(crate::configs::TreasuryAccount::get(), EXISTENTIAL_DEPOSIT)])
				.collect::<Vec<_>>(),
		},
		parachain_info: ParachainInfoConfig { parachain_id: id },
		collator_selection: CollatorSelectionConfig {
			invulnerables: invulnerables
				.iter()
				.cloned()
				.map(|(acc, _)| acc)
				.collect::<Vec<_>>(),
			candidacy_bond: CANDIDACY_BOND,
		},
		session: SessionConfig {
			keys: invulnerables
				.into_iter()
				.map(|(acc, aura)| (acc.clone(), acc, session_keys(aura)))
				.collect::<Vec<_>>(),
		},
		polkadot_xcm: PolkadotXcmConfig {
			safe_xcm_version: Some(SAFE_XCM_VERSION)
		},
		sudo: SudoConfig { key: root },
		rewards: RewardsConfig { params: reward_params(10 * crate::MINUTES, crate::DAYS) },
	})
}

fn collator(k: Sr25519Keyring) -> (AccountId, AuraId) {
	(k.to_account_id(), k.public().into())
}

fn dev_accounts() -> Vec<AccountId> {
	Sr25519Keyring::well_known()
		.map(|k| k.to_account_id())
		.collect()
}

fn development_genesis() -> Value {
	let mut patch = genesis(
		vec![collator(Sr25519Keyring::Alice)],
		dev_accounts(),
		Some(Sr25519Keyring::Alice.to_account_id()),
		PARACHAIN_ID.into(),
	);
	patch["governance"] = dev_governance();
	patch["models"] = dev_models();
	// A minute of notice before a closed channel ends; spend totals per 10 minutes.
	patch["rewards"] = serde_json::json!({ "params": reward_params(30, 300) });
	patch["attribution"] = serde_json::json!({ "params": dev_attribution() });
	patch
}

/// Attribution on one development node: one attestor per receipt settles it; 5 blocks to
/// commit and 5 to reveal; 10 to challenge and 15 more to resolve (the dev governance's 10
/// blocks of voting and 2 of enactment fit); receipts stay 300 blocks; vouchers live at most 150. Governance
/// raises the panel with `set_params` once more attestors register.
fn dev_attribution() -> pallet_attribution::Params<crate::BlockNumber> {
	pallet_attribution::Params {
		assigned: 1,
		quorum: 1,
		min_reports: 1,
		commit_period: 5,
		reveal_period: 5,
		challenge_window: 10,
		resolution_period: 15,
		retention: 300,
		max_voucher_lifetime: 150,
		..pallet_attribution::Pallet::<crate::Runtime>::default_params()
	}
}

/// The default fee split with the given notice (at least the operators' flush interval) and
/// spend period.
fn reward_params(
	notice: crate::BlockNumber,
	spend_period: crate::BlockNumber,
) -> pallet_rewards::RewardParams<crate::BlockNumber> {
	pallet_rewards::RewardParams { split: Default::default(), notice, spend_period }
}

/// Training jobs in blocks: at the 2 s dev block time a trainer has 10 minutes to train (the
/// real SmolLM2 on a CPU), attestors 5 minutes; one confirmation makes a model Evaluated.
fn dev_models() -> Value {
	serde_json::json!({
		"settings": pallet_models::Settings::<crate::BlockNumber> {
			training_period: 300,
			evaluation_period: 150,
			eval_quorum: 1,
			max_attempts: 3,
			timeout_slash: sp_runtime::Perbill::from_percent(10),
			dispute_slash: sp_runtime::Perbill::from_percent(50),
		},
	})
}

/// Governance in blocks, not days, so a proposal goes from vote to enactment in under a minute.
fn dev_governance() -> Value {
	use pallet_governance::{KindParams, ProposalKind, StakePeriods};
	let params = KindParams::<crate::BlockNumber> {
		voting_period: 10,
		enactment_delay: 2,
		quorum: sp_runtime::Perbill::from_percent(10),
		approval: sp_runtime::Perbill::from_percent(50),
	};
	serde_json::json!({
		"params": ProposalKind::ALL.iter().map(|k| (k, params)).collect::<Vec<_>>(),
		"periods": StakePeriods::<crate::BlockNumber> { unbonding: 10, conviction: 10 },
	})
}

fn local_testnet_genesis() -> Value {
	genesis(
		vec![
			collator(Sr25519Keyring::Alice),
			collator(Sr25519Keyring::Bob),
		],
		dev_accounts(),
		Some(Sr25519Keyring::Alice.to_account_id()),
		PARACHAIN_ID.into(),
	)
}

fn rococo_local_genesis() -> Value {
	genesis(
		vec![
			collator(Sr25519Keyring::Alice),
			collator(Sr25519Keyring::Bob),
		],
		dev_accounts(),
		None,
		PARACHAIN_ID.into(),
	)
}

/// The JSON patch of the preset named `id`, or `None` if there is no such preset.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET => local_testnet_genesis(),
		sp_genesis_builder::DEV_RUNTIME_PRESET => development_genesis(),
		ROCOCO_LOCAL_PRESET => rococo_local_genesis(),
		_ => return None,
	};
	serde_json::to_string(&patch).ok().map(|s| s.into_bytes())
}

/// The names of the presets this runtime offers.
pub fn preset_names() -> Vec<PresetId> {
	vec![
		PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET),
		PresetId::from(sp_genesis_builder::LOCAL_TESTNET_RUNTIME_PRESET),
		PresetId::from(ROCOCO_LOCAL_PRESET),
	]
}

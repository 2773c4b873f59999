//! Chain specs: built from the runtime's genesis presets, or loaded from a JSON file.

use mnemo_runtime::genesis_config_presets::{PARACHAIN_ID, ROCOCO_LOCAL_PRESET};
use sc_chain_spec::{ChainSpecExtension, ChainSpecGroup};
use sc_service::ChainType;
use serde::{Deserialize, Serialize};

/// The chain spec type of this node: the runtime's genesis plus the parachain extension.
pub type ChainSpec = sc_service::GenericChainSpec<Extensions>;

/// The names `--chain` accepts besides a path to a JSON file.
pub const KNOWN_CHAINS: &str = "dev, local, rococo-local";

/// Which relay chain and parachain id a chain spec belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ChainSpecGroup, ChainSpecExtension)]
#[serde(rename_all = "camelCase")]
pub struct Extensions {
	/// The relay chain of the parachain (`rococo-local`, `polkadot`, …).
	#[serde(alias = "relayChain", alias = "RelayChain")]
	pub relay_chain: String,
	/// The id of the parachain on that relay chain.
	#[serde(alias = "paraId", alias = "ParaId")]
	pub para_id: u32,
}

impl Extensions {
	/// The extensions of `chain_spec`, if it has them.
	pub fn try_get(chain_spec: &dyn sc_service::ChainSpec) -> Option<&Self> {
		sc_chain_spec::get_extension(chain_spec.extensions())
	}

	/// The parachain id `chain_spec` names, if it is a parachain spec.
	pub fn para_id_of(
		chain_spec: &dyn sc_service::ChainSpec,
	) -> Option<cumulus_primitives_core::ParaId> {
		Self::try_get(chain_spec).map(|e| e.para_id.into())
	}
}

fn properties() -> sc_chain_spec::Properties {
	let mut p = sc_chain_spec::Properties::new();
	p.insert("tokenSymbol".into(), mnemo_primitives::token::SYMBOL.into());
	p.insert(
		"tokenDecimals".into(),
		mnemo_primitives::token::DECIMALS.into(),
	);
	p.insert(
		"ss58Format".into(),
		mnemo_primitives::token::SS58_PREFIX.into(),
	);
	p
}

fn wasm() -> Result<&'static [u8], String> {
	mnemo_runtime::WASM_BINARY.ok_or_else(|| {
		"the runtime's wasm was not built into this binary (built with SKIP_WASM_BUILD?)"
			.to_string()
	})
}

fn from_preset(
	name: &str,
	id: &str,
	chain_type: ChainType,
	preset: &str,
) -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(
		wasm()?,
		Extensions {
			relay_chain: "rococo-local".into(),
			para_id: PARACHAIN_ID,
		},
	)
	.with_name(name)
	.with_id(id)
	.with_chain_type(chain_type)
	.with_protocol_id(id)
	.with_genesis_config_preset_name(preset)
	.with_properties(properties())
	.build())
}

/// `dev`: one collator (Alice), Alice is sudo, dev accounts endowed.
pub fn development_chain_spec() -> Result<ChainSpec, String> {
	from_preset(
		"Mnemo Development",
		"mnemo_dev",
		ChainType::Development,
		"development",
	)
}

/// `local`: Alice and Bob collate, Alice is sudo.
pub fn local_chain_spec() -> Result<ChainSpec, String> {
	from_preset(
		"Mnemo Local Testnet",
		"mnemo_local",
		ChainType::Local,
		"local_testnet",
	)
}

/// `rococo-local`: parachain 2000 of a rococo-local relay chain, Alice and Bob collate, no sudo.
pub fn rococo_local_chain_spec() -> Result<ChainSpec, String> {
	from_preset(
		"Mnemo on Rococo Local",
		"mnemo_rococo_local",
		ChainType::Local,
		ROCOCO_LOCAL_PRESET,
	)
}

/// Resolve `--chain`: a known name, or a path to a chain spec JSON file.
pub fn load_spec(id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
	Ok(match id {
		"" | "dev" => Box::new(development_chain_spec()?),
		"local" => Box::new(local_chain_spec()?),
		"rococo-local" => Box::new(rococo_local_chain_spec()?),
		path => {
			let p = std::path::PathBuf::from(path);
			if !p.exists() {
				return Err(format!(
					"unknown chain `{path}`: expected one of {KNOWN_CHAINS}, or the path of a chain spec JSON file"
				));
			}
			let spec = ChainSpec::from_json_file(p)
				.map_err(|e| format!("invalid chain spec file `{path}`: {e}"))?;
			if Extensions::try_get(&spec).is_none() {
				return Err(format!(
					"invalid chain spec file `{path}`: it lacks the `relay_chain` and `para_id` fields of a parachain spec"
				));
			}
			Box::new(spec)
		}
	})
}

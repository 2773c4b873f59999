//! `mnemo worker …`: register the accounts whose nodes' offchain workers train and evaluate
//! adapters (trainers), compute attribution (attestors), and the operators that serve models and
//! record receipts. Each holds a bond; the worker key is the one the node's keystore holds
//! (`mnemo-node --dev-key trnr=//Alice`, `author_insertKey` or `key insert` in production).

use super::{args::WorkerCmd, fmt_amount, keys, CliError, Ctx, Report};
use crate::typed::runtime::{self, attribution, models};
use serde_json::json;
use subxt::utils::AccountId32;

/// A worker key: a 0x sr25519 public key, an SS58 address of one, or a dev SURI.
fn worker_key(s: &str) -> Result<[u8; 32], CliError> {
	keys::account(s)
		.map(|a| a.0)
		.map_err(|_| CliError::bad_input(format!("`{s}` is not a worker key (0x and 64 hex digits, SS58, or a //Name)")))
}

pub async fn run(ctx: &Ctx, cmd: WorkerCmd) -> Result<Report, CliError> {
	let chain = ctx.chain().await?;
	match cmd {
		WorkerCmd::RegisterTrainer { key } => {
			let key = runtime::runtime_types::pallet_models::crypto::Public(worker_key(&key)?);
			let signer = ctx.signer()?;
			let bond = chain.at().await?.constants().entry(runtime::constants().models().trainer_bond()).unwrap_or_default();
			let call = runtime::transactions().models().register_trainer(key);
			let what = format!("holds the trainer bond of {}", fmt_amount(bond));
			let inc = chain.submit(&signer, &call, "Models.register_trainer", Some(what)).await?;
			let e = inc.event::<models::events::TrainerRegistered>()?;
			Ok(Report::new(
				json!({"who": e.who.to_string(), "key": format!("0x{}", hex::encode(e.key.0)), "bond": e.bond.to_string(), "block": inc.block}),
				format!("{} registered as a trainer with key 0x{} (bond {})", e.who, hex::encode(e.key.0), fmt_amount(e.bond)),
			))
		},
		WorkerCmd::RegisterAttestor { key } => {
			let key = runtime::runtime_types::pallet_attribution::crypto::Public(worker_key(&key)?);
			let signer = ctx.signer()?;
			let bond = chain.at().await?.constants().entry(runtime::constants().attribution().attestor_bond()).unwrap_or_default();
			let call = runtime::transactions().attribution().register_attestor(key);
			let what = format!("holds the attestor bond of {}", fmt_amount(bond));
			let inc = chain.submit(&signer, &call, "Attribution.register_attestor", Some(what)).await?;
			let e = inc.event::<attribution::events::AttestorRegistered>()?;
			Ok(Report::new(
				json!({"who": e.who.to_string(), "key": format!("0x{}", hex::encode(e.key.0)), "bond": e.bond.to_string(), "block": inc.block}),
				format!("{} registered as an attestor with key 0x{} (bond {})", e.who, hex::encode(e.key.0), fmt_amount(e.bond)),
			))
		},
		WorkerCmd::RegisterOperator => {
			let signer = ctx.signer()?;
			let bond = chain.at().await?.constants().entry(runtime::constants().attribution().operator_bond()).unwrap_or_default();
			let call = runtime::transactions().attribution().register_operator();
			let what = format!("holds the operator bond of {}", fmt_amount(bond));
			let inc = chain.submit(&signer, &call, "Attribution.register_operator", Some(what)).await?;
			let e = inc.event::<attribution::events::OperatorRegistered>()?;
			Ok(Report::new(
				json!({"who": e.who.to_string(), "bond": e.bond.to_string(), "block": inc.block}),
				format!("{} registered as a serving operator (bond {})", e.who, fmt_amount(e.bond)),
			))
		},
		WorkerCmd::Show { account } => {
			let who: AccountId32 = match account {
				Some(a) => keys::account(&a)?,
				None => ctx.signer()?.public_key().into(),
			};
			let trainer = chain.fetch(runtime::storage().models().trainers(), (who.clone(),)).await?;
			let attestor = chain.fetch(runtime::storage().attribution().attestors(), (who.clone(),)).await?;
			let operator = chain.fetch(runtime::storage().attribution().operators(), (who.clone(),)).await?;
			let mut human = format!("{who}\n");
			let trainer = trainer.map(|t| {
				human += &format!("  trainer: key 0x{}, bond {}, job {:?}\n", hex::encode(t.key.0), fmt_amount(t.bond), t.job);
				json!({"key": format!("0x{}", hex::encode(t.key.0)), "bond": t.bond.to_string(), "job": t.job})
			});
			let attestor = attestor.map(|a| {
				human += &format!("  attestor: key 0x{}, bond {}, strikes {}\n", hex::encode(a.key.0), fmt_amount(a.bond), a.strikes);
				json!({"key": format!("0x{}", hex::encode(a.key.0)), "bond": a.bond.to_string(), "strikes": a.strikes})
			});
			let operator = operator.map(|bond| {
				human += &format!("  serving operator: bond {}\n", fmt_amount(bond));
				json!({"bond": bond.to_string()})
			});
			if trainer.is_none() && attestor.is_none() && operator.is_none() {
				human += "  no worker roles\n";
			}
			Ok(Report::new(json!({"account": who.to_string(), "trainer": trainer, "attestor": attestor, "operator": operator}), human))
		},
	}
}

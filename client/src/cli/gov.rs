//! `mnemo gov …`: stake for voting power, delegate it, open treasury proposals and vote.
//! Model approvals are opened by `mnemo model propose`; their proposals are voted here.

use super::{
	args::{GovCmd, ProposeCmd, VoteArg},
	fmt_amount, keys, parse_amount, CliError, Ctx, Report,
};
use crate::typed::runtime::{
	self,
	governance::events,
	runtime_types::{mnemo_primitives::governance::ProposalKind, mnemo_runtime::RuntimeCall, pallet_governance},
};
use serde_json::json;
use subxt::utils::AccountId32;

fn kind(k: &ProposalKind) -> &'static str {
	match k {
		ProposalKind::ModelApproval => "model approval",
		ProposalKind::ParameterChange => "parameter change",
		ProposalKind::TreasurySpend => "treasury spend",
	}
}

pub async fn run(ctx: &Ctx, cmd: GovCmd) -> Result<Report, CliError> {
	let chain = ctx.chain().await?;
	let tx = runtime::transactions().governance();
	match cmd {
		GovCmd::Show => {
			let proposals = chain.view(runtime::view_functions().governance().proposals()).await?;
			let mut human = String::new();
			let list: Vec<_> = proposals
				.iter()
				.map(|p| {
					let status = format!("{:?}", p.status).to_lowercase();
					human += &format!(
						"proposal {} ({}, {status}) by {}: ayes {} nays {} turnout {} of quorum {}, voting ends at block {}\n",
						p.id, kind(&p.kind), p.proposer, fmt_amount(p.tally.ayes), fmt_amount(p.tally.nays),
						fmt_amount(p.tally.turnout), fmt_amount(p.quorum_stake), p.ends_at
					);
					json!({"id": p.id, "kind": kind(&p.kind), "proposer": p.proposer.to_string(), "status": status,
						"ayes": p.tally.ayes.to_string(), "nays": p.tally.nays.to_string(), "abstentions": p.tally.abstentions.to_string(),
						"turnout": p.tally.turnout.to_string(), "quorum_stake": p.quorum_stake.to_string(),
						"ends_at": p.ends_at, "enact_at": p.enact_at, "deposit": p.deposit.to_string()})
				})
				.collect();
			if list.is_empty() {
				human += "no ongoing proposals\n";
			}
			let mut account = serde_json::Value::Null;
			if ctx.suri.is_some() || ctx.key_file.is_some() {
				let me: AccountId32 = ctx.signer()?.public_key().into();
				let a = chain.view(runtime::view_functions().governance().account(me.clone())).await?;
				human += &format!(
					"{me}: staked {}, power {}, delegate {}, {} delegators, {} votes\n",
					fmt_amount(a.staked), fmt_amount(a.power), a.delegate.as_ref().map(|d| d.to_string()).unwrap_or("none".into()),
					a.delegators, a.votes.len()
				);
				account = json!({"account": me.to_string(), "staked": a.staked.to_string(), "power": a.power.to_string(),
					"delegate": a.delegate.map(|d| d.to_string()), "delegators": a.delegators, "locked_until": a.locked_until,
					"votes": a.votes.iter().map(|(p, v)| json!({"proposal": p, "vote": format!("{v:?}").to_lowercase()})).collect::<Vec<_>>()});
			}
			Ok(Report::new(json!({"proposals": list, "account": account}), human))
		},
		GovCmd::Stake { amount } => {
			let amount = parse_amount(&amount)?;
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.stake(amount), "Governance.stake", Some(format!("locks {} as stake", fmt_amount(amount)))).await?;
			let e = inc.event::<events::Staked>()?;
			Ok(Report::new(
				json!({"staked": e.staked.to_string(), "power": e.power.to_string(), "block": inc.block}),
				format!("staked {}; total stake {}, voting power {}", fmt_amount(e.amount), fmt_amount(e.staked), fmt_amount(e.power)),
			))
		},
		GovCmd::Unstake { amount } => {
			let amount = parse_amount(&amount)?;
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.unstake(amount), "Governance.unstake", None).await?;
			let e = inc.event::<events::Unstaked>()?;
			Ok(Report::new(
				json!({"amount": e.amount.to_string(), "unlocks_at": e.unlocks_at, "block": inc.block}),
				format!("unbonding {}; withdraw it at block {} with `mnemo gov withdraw`", fmt_amount(e.amount), e.unlocks_at),
			))
		},
		GovCmd::Withdraw => {
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.withdraw_unbonded(), "Governance.withdraw_unbonded", None).await?;
			let e = inc.event::<events::Withdrawn>()?;
			Ok(Report::new(json!({"amount": e.amount.to_string(), "block": inc.block}), format!("{} unlocked", fmt_amount(e.amount))))
		},
		GovCmd::Delegate { to } => {
			let to = keys::account(&to)?;
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.delegate(to), "Governance.delegate", None).await?;
			let e = inc.event::<events::Delegated>()?;
			Ok(Report::new(json!({"to": e.to.to_string(), "block": inc.block}), format!("voting power delegated to {}", e.to)))
		},
		GovCmd::Undelegate => {
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.undelegate(), "Governance.undelegate", None).await?;
			let e = inc.event::<events::Undelegated>()?;
			Ok(Report::new(json!({"from": e.from.to_string(), "block": inc.block}), format!("voting power taken back from {}", e.from)))
		},
		GovCmd::Propose { what: ProposeCmd::Spend { to, amount } } => {
			let (to, amount) = (keys::account(&to)?, parse_amount(&amount)?);
			let signer = ctx.signer()?;
			let call = RuntimeCall::Governance(pallet_governance::pallet::Call::spend { to, amount });
			let inc = chain
				.submit(&signer, &tx.propose(call, ProposalKind::TreasurySpend), "Governance.propose", Some("holds the proposal deposit".into()))
				.await?;
			let e = inc.event::<events::Proposed>()?;
			Ok(Report::new(
				json!({"proposal": e.proposal, "deposit": e.deposit.to_string(), "ends_at": e.ends_at, "block": inc.block}),
				format!("proposal {} opened: voting ends at block {}", e.proposal, e.ends_at),
			))
		},
		GovCmd::Vote { proposal, vote } => {
			use runtime::runtime_types::pallet_governance::types::Vote;
			let v = match vote {
				VoteArg::Aye => Vote::Aye,
				VoteArg::Nay => Vote::Nay,
				VoteArg::Abstain => Vote::Abstain,
			};
			let signer = ctx.signer()?;
			let inc = chain.submit(&signer, &tx.vote(proposal, v), "Governance.vote", None).await?;
			let e = inc.event::<events::Voted>()?;
			Ok(Report::new(
				json!({"proposal": e.proposal, "power": e.power.to_string(), "ayes": e.tally.ayes.to_string(), "nays": e.tally.nays.to_string(), "block": inc.block}),
				format!("voted on proposal {} with {}: ayes {}, nays {}", e.proposal, fmt_amount(e.power), fmt_amount(e.tally.ayes), fmt_amount(e.tally.nays)),
			))
		},
	}
}

//! What a block can hold, from the weights in `pallets/*/src/weights.rs`:
//!
//! ```sh
//! cargo run -p mnemo-runtime --example capacity
//! ```
//!
//! 1. Every pallet's `on_initialize` at its worst case (all per-block bounds full at once),
//!    beside what normal transactions leave of the block: hooks are mandatory, so a block whose
//!    hooks are all due, filled with transactions, must still be within its limits.
//! 2. One paid inference in batches: a full batch's on-chain work (its submission, the opening
//!    of its sample, its panel's commitments and reveals, its deadlines in the hook, the claims
//!    of its payouts) over its receipts, and how many inferences a block can settle by time and
//!    by proof size.
//!
//! It prints; it does not judge. The figures are only as good as the weights: see each
//! `weights.rs` header for how they were made.

use mnemo_runtime::{configs::RuntimeBlockWeights, Runtime};
use polkadot_sdk::frame_support::{dispatch::DispatchClass, traits::Get, weights::Weight};
use pallet_attribution::WeightInfo as _;
use pallet_datanets::WeightInfo as _;
use pallet_governance::WeightInfo as _;
use pallet_models::WeightInfo as _;
use pallet_rewards::WeightInfo as _;

type AttributionW = <Runtime as pallet_attribution::Config>::WeightInfo;
type DatanetsW = <Runtime as pallet_datanets::Config>::WeightInfo;
type GovernanceW = <Runtime as pallet_governance::Config>::WeightInfo;
type ModelsW = <Runtime as pallet_models::Config>::WeightInfo;
type RewardsW = <Runtime as pallet_rewards::Config>::WeightInfo;

fn ms(w: Weight) -> f64 {
	w.ref_time() as f64 / 1e9
}

fn kib(w: Weight) -> f64 {
	w.proof_size() as f64 / 1024.0
}

fn share(part: Weight, of: Weight) -> (f64, f64) {
	(
		100.0 * part.ref_time() as f64 / of.ref_time() as f64,
		100.0 * part.proof_size() as f64 / of.proof_size() as f64,
	)
}

/// Each pallet's hook with every per-block bound at its maximum (what `on_initialize` returns
/// when the most work is due in one block).
fn worst_hooks() -> Vec<(&'static str, Weight)> {
	let n = |g: u32| g as u64;
	let governance = GovernanceW::on_initialize_idle().saturating_add(
		GovernanceW::decide()
			.saturating_add(GovernanceW::enact())
			.saturating_add(<Runtime as pallet_governance::Config>::MaxCallWeight::get())
			.saturating_mul(n(<Runtime as pallet_governance::Config>::MaxDecisionsPerBlock::get())),
	);
	let models = ModelsW::on_initialize_idle().saturating_add(
		ModelsW::expire_job().saturating_mul(n(<Runtime as pallet_models::Config>::MaxDeadlinesPerBlock::get())),
	);
	vec![
		("datanets: expire", DatanetsW::expire(<Runtime as pallet_datanets::Config>::MaxExpiringPerBlock::get())),
		("governance: decide and enact", governance),
		("models: job deadlines", models),
		(
			"attribution: batch deadlines",
			AttributionW::deadlines_idle().saturating_add(
				pallet_attribution::Pallet::<Runtime>::worst_deadline()
					.saturating_mul(n(<Runtime as pallet_attribution::Config>::MaxBatchesPerBlock::get())),
			),
		),
		(
			"rewards: refunds given back",
			RewardsW::give_back_refunds(<Runtime as pallet_rewards::Config>::MaxRefundsPerBlock::get()),
		),
	]
}

fn hooks() {
	let weights = RuntimeBlockWeights::get();
	let max = weights.max_block;
	let normal = weights.get(DispatchClass::Normal).max_total.unwrap_or(max);
	// What normal transactions cannot take: the hooks must fit in it, or a block whose hooks are
	// all due at once, filled with transactions, is over its limits.
	let reserved = max.saturating_sub(normal).saturating_sub(weights.base_block);
	println!("block: {:.1} ms, {:.0} KiB of proof; normal transactions up to {:.1} ms, {:.0} KiB; base block {:.2} ms", ms(max), kib(max), ms(normal), kib(normal), ms(weights.base_block));
	let mut total = Weight::zero();
	for (name, w) in worst_hooks() {
		let (t, p) = share(w, max);
		println!("  {name:<32} {:>8.2} ms ({t:>5.2}% of the block)  {:>8.1} KiB ({p:>5.2}%)", ms(w), kib(w));
		total = total.saturating_add(w);
	}
	let (t, p) = share(total, max);
	println!("  {:<32} {:>8.2} ms ({t:>5.2}%)  {:>8.1} KiB ({p:>5.2}%); room outside normal transactions: {:.2} ms, {:.1} KiB", "all hooks", ms(total), kib(total), ms(reserved), kib(reserved));
	let verdict = if total.all_lte(reserved) { "fit" } else { "do NOT fit" };
	println!("  the hooks' worst case {verdict} in what normal transactions leave");
}

fn inference() {
	type A = Runtime;
	let leaves: u32 = <A as pallet_attribution::Config>::MaxReceiptsPerBatch::get();
	let payers: u32 = <A as pallet_attribution::Config>::MaxPayersPerBatch::get();
	let sample: u32 = <A as pallet_attribution::Config>::SampleSize::get();
	let panel: u32 = <A as pallet_attribution::Config>::MaxAssigned::get();
	let contributions: u32 = <A as pallet_attribution::Config>::MaxContributions::get();
	let normal = RuntimeBlockWeights::get().get(DispatchClass::Normal).max_total.unwrap_or(Weight::MAX);

	// One full batch: its submission (every payer charged), the opening of its sample, each
	// panel attestor's authorised commitment and reveal (the last one's verdict included) and
	// its five deadlines in the hook as a batch that holds up meets them: sampled, three it has
	// moved past by then (its sample opened, its panel's commitments and reveals all in), paid
	// out. Claims are not
	// per batch: an account claims its running total from an operator whenever it likes, one
	// claim for all the batches since its last; they are priced apart below.
	let submit = AttributionW::submit_batch(payers);
	let open = AttributionW::open_sample(sample);
	let report = AttributionW::authorize_report()
		.saturating_mul(2)
		.saturating_add(AttributionW::commit_batch_report())
		.saturating_add(AttributionW::reveal_batch_report(contributions));
	let deadlines = AttributionW::deadline_sample()
		.saturating_add(AttributionW::deadline_stale().saturating_mul(3))
		.saturating_add(AttributionW::deadline_pay_out());
	let batch = submit
		.saturating_add(open)
		.saturating_add(report.saturating_mul(panel as u64))
		.saturating_add(deadlines);
	let one = batch / leaves as u64;
	let by_time = normal.ref_time() / one.ref_time().max(1);
	let by_proof = normal.proof_size() / one.proof_size().max(1);
	println!("one paid inference in a full batch ({leaves} receipts from {payers} payers, {sample} sampled, a panel of {panel}):");
	println!(
		"  the batch: submit {:.2} ms, {:.1} KiB; open {:.2} ms; panel {:.2} ms; deadlines {:.2} ms; total {:.2} ms, {:.1} KiB",
		ms(submit), kib(submit), ms(open), ms(report.saturating_mul(panel as u64)), ms(deadlines), ms(batch), kib(batch)
	);
	println!(
		"  one inference {:.4} ms, {:.3} KiB: the weights allow {} a block by time, {} by proof size",
		ms(one), kib(one), by_time, by_proof
	);
	let verdict = if by_time.min(by_proof) >= 10_000 { "affordable" } else { "NOT affordable" };
	println!("  10,000 paid inferences a block are {verdict} by these weights");
	// What 10,000 inferences leave of the block, in claims (a tree of 2^32 accounts at worst).
	let claim = RewardsW::claim_payout(32);
	let used = one.saturating_mul(10_000);
	let room = normal.saturating_sub(used);
	let claims = (room.ref_time() / claim.ref_time().max(1)).min(room.proof_size() / claim.proof_size().max(1));
	println!(
		"  one claim (an account's running total from one operator, any number of batches) {:.2} ms, {:.1} KiB; beside 10,000 inferences a block has room for {claims} claims",
		ms(claim), kib(claim)
	);
}

fn main() {
	hooks();
	println!();
	inference();
}

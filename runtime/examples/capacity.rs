//! What a block can hold, from the weights in `pallets/*/src/weights.rs`:
//!
//! ```sh
//! cargo run -p mnemo-runtime --example capacity
//! ```
//!
//! 1. Every pallet's `on_initialize` at its worst case (all per-block bounds full at once),
//!    beside what normal transactions leave of the block: hooks are mandatory, so a block whose
//!    hooks are all due, filled with transactions, must still be within its limits.
//! 2. One paid inference in today's per-receipt flow, and how many a block can afford by time
//!    and by proof size, beside the runtime's per-block limits.
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
		("rewards: release", RewardsW::release(<Runtime as pallet_rewards::Config>::MaxReleasesPerBlock::get())),
		(
			"attribution: receipt deadlines",
			AttributionW::on_initialize(<Runtime as pallet_attribution::Config>::MaxDeadlinesPerBlock::get()),
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
	let max_batch: u32 = <A as pallet_attribution::Config>::MaxBatch::get();
	let assigned: u32 = <A as pallet_attribution::Config>::MaxAssigned::get();
	let contributions: u32 = <A as pallet_attribution::Config>::MaxContributions::get();
	let per_block: u32 = <A as pallet_attribution::Config>::MaxReceiptsPerBlock::get();
	let releases: u32 = <A as pallet_rewards::Config>::MaxReleasesPerBlock::get();
	let normal = RuntimeBlockWeights::get().get(DispatchClass::Normal).max_total.unwrap_or(Weight::MAX);

	// One paid inference, today's flow: its share of a full batch of receipts; each of its
	// attestors' commitment and reveal (each authorised, with the widest panel and the most
	// contributions); its two deadlines (commit, reveal) in the attribution hook; its release.
	let record = AttributionW::record_inferences(max_batch) / max_batch as u64;
	let report = AttributionW::authorize_report().saturating_mul(2)
		.saturating_add(AttributionW::commit_report(assigned))
		.saturating_add(AttributionW::reveal_report(assigned, contributions));
	let deadline = AttributionW::on_initialize(1).saturating_sub(AttributionW::on_initialize(0));
	let release = RewardsW::release(releases).saturating_sub(RewardsW::on_initialize_idle()) / releases as u64;
	let one = record
		.saturating_add(report.saturating_mul(assigned as u64))
		.saturating_add(deadline.saturating_mul(2))
		.saturating_add(release);
	let by_time = normal.ref_time() / one.ref_time().max(1);
	let by_proof = normal.proof_size() / one.proof_size().max(1);
	println!("one paid inference (batch of {max_batch}, {assigned} attestors, {contributions} contributions):");
	println!("  record {:.3} ms, {:.1} KiB; each attestor's commit and reveal {:.3} ms, {:.1} KiB; deadlines {:.3} ms; release {:.3} ms, {:.1} KiB", ms(record), kib(record), ms(report), kib(report), ms(deadline.saturating_mul(2)), ms(release), kib(release));
	println!("  total {:.3} ms, {:.1} KiB: the weights allow {} a block by time, {} by proof size; the runtime's limits allow {} recorded and {} released a block",
		ms(one), kib(one), by_time, by_proof, per_block, releases);
	let verdict = if by_time.min(by_proof) >= per_block as u64 { "affordable" } else { "NOT affordable" };
	println!("  {per_block} receipts a block are {verdict} by these weights");
}

fn main() {
	hooks();
	println!();
	inference();
}

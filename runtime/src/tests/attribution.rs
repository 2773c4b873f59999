//! pallet-attribution in the real runtime: a batch of payer-signed receipts committed by an
//! operator is charged on the payers' channels through pallet-rewards, sampled from the runtime's
//! randomness, opened, reported on by its panel through the real transaction extensions
//! (authorized, feeless), paid out, and a payout claimed by its Merkle proof, with total issuance
//! unchanged.

use super::*;
use codec::Encode;
use frame_support::{assert_ok, traits::Hooks};
use frame_system::offchain::CreateAuthorizedTransaction;
use mnemo_primitives::{ContentHash, Voucher};
use pallet_attribution::AttestorKey;
use polkadot_sdk::{
	sp_application_crypto::RuntimeAppPublic,
	sp_core::Pair,
	sp_keyring::Sr25519Keyring as K,
	sp_keystore::{testing::MemoryKeystore, KeystoreExt},
	sp_runtime::{transaction_validity::TransactionSource, MultiSignature},
};

fn run_to(n: BlockNumber) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Rewards::on_initialize(next);
		Attribution::on_initialize(next);
	}
}

/// Alice's model 0 deployed as adapter 0 at 1 MNEMO per 1,000 tokens, trained on datanet 0
/// version 1 (written as the models pallet leaves a deployed model).
fn deployed_adapter() {
	super::models::published();
	let spec = super::models::spec(1);
	pallet_models::ModelRecords::<Runtime>::insert(
		0,
		pallet_models::Model::<Runtime> {
			owner: alice(),
			spec: spec.clone(),
			stage: pallet_models::Stage::Deployed,
			bond: 0,
			proposal: 0,
			attempt: 1,
			adapter: Some(0),
			proposed_at: 0,
		},
	);
	pallet_models::Adapters::<Runtime>::insert(
		0,
		pallet_models::Adapter::<Runtime> {
			model: 0,
			owner: alice(),
			base_model: spec.base_model,
			datanets: spec.datanets,
			artifact: ContentHash::of(b"adapter"),
			metrics: Default::default(),
			parent: None,
			price_per_1k: Some(UNIT),
			trainer: acc(K::Ferdie),
			evaluated_at: 0,
		},
	);
	pallet_models::Deployed::<Runtime>::insert(0, ());
}

fn apply_authorized(call: pallet_attribution::Call<Runtime>) {
	let xt = <Runtime as CreateAuthorizedTransaction<pallet_attribution::Call<Runtime>>>::create_authorized_transaction(call.into());
	assert!(Executive::validate_transaction(TransactionSource::External, xt.clone(), System::parent_hash()).is_ok());
	assert_ok!(Executive::apply_extrinsic(xt).expect("applied"));
}

#[test]
fn a_batch_flows_from_the_operator_to_a_payout_claimed_by_proof() {
	use mnemo_primitives::batch::{self, Leaf, LeafShares, MerkleProof};
	use pallet_attribution::{BatchCommit, BatchHeader, BatchLeaf, BatchReveal, PayerCharge, SampleReport};
	let mut ext = new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET);
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	ext.execute_with(|| {
		System::set_block_number(1);
		deployed_adapter();
		let issuance = Balances::total_issuance();
		let (payer, operator, attestor) = (K::Bob, K::Charlie, K::Dave);
		assert_ok!(Rewards::open_channel(signed(payer), acc(operator), 10 * UNIT));
		assert_ok!(Attribution::register_operator(signed(operator)));
		let key = AttestorKey::generate_pair(Some(b"//DaveAttestor".to_vec()));
		assert_ok!(Attribution::register_attestor(signed(attestor), key.clone()));

		// Three requests of Bob's, 500 tokens each at 1 MNEMO per 1,000: 0.5 MNEMO each.
		let leaves: Vec<BatchLeaf<Runtime>> = (1..=3u64)
			.map(|seq| {
				let voucher = Voucher {
					request: [seq as u8; 16],
					operator: acc(operator),
					adapter: 0,
					max_price_per_1k: UNIT,
					max_tokens: 2_000,
					channel: 0,
					seq,
					cumulative: u128::from(seq) * 2 * UNIT,
					expires_at: 50,
					genesis: System::block_hash(0),
				};
				let signature = MultiSignature::Sr25519(payer.pair().sign(&voucher.signing_payload()));
				Leaf {
					payer: acc(payer),
					voucher,
					signature,
					input_tokens: 300,
					output_tokens: 200,
					fee: UNIT / 2,
					transcript: ContentHash([seq as u8; 32]),
					digest: ContentHash::of(b"inputs"),
					shares: LeafShares::default(),
				}
			})
			.collect();
		assert!(leaves.iter().all(|l| l.consented()));
		let hashes: Vec<_> = leaves.iter().map(|l| l.hash()).collect();
		let split = Rewards::current_params().split;
		let payouts = batch::payouts(&leaves, &split, &configs::TreasuryAccount::get(), |_| Some(alice()), |_| None).unwrap();
		let payout_hashes: Vec<_> = payouts.payouts.iter().map(|p| p.hash()).collect();
		let header = BatchHeader {
			root: batch::merkle_root(&hashes),
			leaves: 3,
			blob: ContentHash::of(b"the batch blob"),
			payouts_root: batch::merkle_root(&payout_hashes),
			payouts_count: payouts.payouts.len() as u32,
			payouts_total: payouts.total(),
			attestors_part: payouts.attestors,
			prev: None,
			terms: Attribution::batch_terms().hash(),
		};
		let last = leaves.last().unwrap();
		let charge = PayerCharge::<Runtime> {
			payer: acc(payer),
			voucher: last.voucher.clone(),
			signature: last.signature.clone(),
			leaves: 3,
			amount: 3 * UNIT / 2,
		};
		assert_ok!(Attribution::submit_batch(signed(operator), header, vec![charge].try_into().unwrap()));
		assert_eq!(Rewards::held_for_channels(&acc(payer)), 10 * UNIT - 3 * UNIT / 2);

		// The sample (all three: fewer leaves than SampleSize) is drawn two blocks later.
		run_to(3);
		let b = pallet_attribution::Batches::<Runtime>::get(0).expect("batch");
		assert_eq!((b.panel.to_vec(), b.sample.to_vec()), (vec![acc(attestor)], vec![0, 1, 2]));
		let opened: Vec<(BatchLeaf<Runtime>, MerkleProof)> =
			(0..3u32).map(|i| (leaves[i as usize].clone(), batch::merkle_proof(&hashes, i).unwrap())).collect();
		assert_ok!(Attribution::open_sample(signed(operator), 0, opened.try_into().unwrap()));

		// The attestor recomputes the three and finds what the operator claimed.
		let reports: pallet_attribution::SampleReports<Runtime> = (0..3)
			.map(|_| SampleReport { tokens: 500, digest: ContentHash::of(b"inputs"), scores: Default::default() })
			.collect::<Vec<_>>()
			.try_into()
			.unwrap();
		let salt = [5; 32];
		let commitment = pallet_attribution::batch_commitment::<Runtime>(0, &acc(attestor), &reports, pallet_attribution::BatchAudit::AddsUp, &salt);
		let commit = BatchCommit::<Runtime> { batch: 0, key: key.clone(), commitment };
		let signature = key.sign(&commit.encode()).unwrap();
		apply_authorized(pallet_attribution::Call::commit_batch_report { commit, signature });
		let reveal = BatchReveal::<Runtime> { batch: 0, key: key.clone(), reports, audit: pallet_attribution::BatchAudit::AddsUp, salt };
		let signature = key.sign(&reveal.encode()).unwrap();
		apply_authorized(pallet_attribution::Call::reveal_batch_report { reveal, signature });
		let pallet_attribution::BatchPhase::Challenge { until } = pallet_attribution::Batches::<Runtime>::get(0).unwrap().phase else {
			panic!("verified")
		};

		// After the challenge window it pays out: Alice (adapter owner, and the residual: no
		// contribution was scored) claims her payout by proof; Dave's attestor part is in his
		// ledger.
		run_to(until);
		let book = pallet_rewards::PayoutBooks::<Runtime>::get(acc(operator)).expect("paid out");
		assert_eq!((book.settled, book.roots.len()), (payouts.total(), 1));
		assert_eq!(Attribution::operator_head(acc(operator)).map(|b| b.batch), Some(0), "its next batch extends this one");
		let i = payouts.payouts.iter().position(|p| p.who == alice()).expect("Alice is paid");
		let before = Balances::free_balance(alice());
		let proof = batch::merkle_proof(&payout_hashes, i as u32).unwrap();
		assert_ok!(Rewards::claim_payout(signed(K::Eve), acc(operator), 0, payouts.payouts[i].clone(), proof));
		assert_eq!(Balances::free_balance(alice()) - before, 3 * UNIT / 2 * 80 / 100);
		assert_eq!(pallet_rewards::Ledgers::<Runtime>::get(acc(attestor)).claimable, 3 * UNIT / 2 / 10);
		assert_eq!(Balances::total_issuance(), issuance);
		Attribution::do_try_state().unwrap();
		Rewards::do_try_state().unwrap();
	});
}

/// The batch deadlines' hook at its worst (`MaxBatchesPerBlock` deadlines due, each at the most a
/// deadline can cost) and the refund queue's at its bound fit in what normal transactions leave
/// of a block: a block whose deadlines all fall due, filled with transactions, is within its
/// limits. (`cargo run -p mnemo-runtime --example capacity` prints every hook beside these.)
#[test]
fn the_batch_hooks_at_their_worst_fit_beside_a_block_full_of_transactions() {
	use frame_support::{dispatch::DispatchClass, traits::Get};
	use pallet_attribution::WeightInfo as _;
	use pallet_rewards::WeightInfo as _;
	let weights = crate::configs::RuntimeBlockWeights::get();
	let normal = weights.get(DispatchClass::Normal).max_total.expect("a normal limit");
	let room = weights.max_block.saturating_sub(normal).saturating_sub(weights.base_block);
	let deadlines = <Runtime as pallet_attribution::Config>::WeightInfo::deadlines_idle().saturating_add(
		pallet_attribution::Pallet::<Runtime>::worst_deadline()
			.saturating_mul(u64::from(<<Runtime as pallet_attribution::Config>::MaxBatchesPerBlock as Get<u32>>::get())),
	);
	let refunds = <Runtime as pallet_rewards::Config>::WeightInfo::give_back_refunds(
		<<Runtime as pallet_rewards::Config>::MaxRefundsPerBlock as Get<u32>>::get(),
	);
	let hooks = deadlines.saturating_add(refunds);
	assert!(
		hooks.all_lte(room),
		"deadlines {deadlines:?} and refunds {refunds:?} exceed the room normal transactions leave, {room:?}"
	);
}

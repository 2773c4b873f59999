//! The client against a real `mnemo-node --dev` on loopback: its extrinsics are accepted and
//! included, its storage reads see the result.

use mnemo_client::{
	dev::{free_port, node_binary, DevNode},
	BlobOf, Client, LeafOf, PayerCharge, SignedVoucher, Signer,
};
use mnemo_primitives::{batch::Payout, ContentHash, Voucher};
use std::time::Duration;

fn dev_node() -> (DevNode, Client) {
	let bin = node_binary(&std::env::current_exe().expect("test path"));
	assert!(bin.exists(), "{} is missing: build it first (cargo build -p mnemo-node)", bin.display());
	DevNode::start(&bin, Duration::from_secs(120)).expect("a dev node")
}

#[test]
fn extrinsics_land_on_a_dev_node() {
	let (_node, chain) = dev_node();
	let alice = Signer::from_suri("//Alice").unwrap();
	let bob = Signer::from_suri("//Bob").unwrap();
	let wait = Duration::from_secs(60);

	// Registering as a serving operator holds the bond.
	if chain.operator_bond(&alice.account()).unwrap().is_none() {
		chain.submit_and_wait(&alice, &Client::register_operator_call(), wait).unwrap();
	}
	let bond = chain.operator_bond(&alice.account()).unwrap();
	assert!(bond.is_some_and(|b| b > 0), "Alice is an operator with a bond: {bond:?}");

	// A batch whose payer has no channel to Alice is included and refused whole: no batch lands.
	let v = Voucher {
		request: [9; 16],
		operator: alice.account(),
		adapter: 4_000_000,
		max_price_per_1k: 1_000_000,
		max_tokens: 100,
		channel: 0,
		seq: 1,
		cumulative: 100_000,
		expires_at: chain.best_number().unwrap() + 50,
		genesis: chain.genesis,
	};
	let sv = SignedVoucher::sign(&bob, v);
	let leaf = LeafOf {
		payer: sv.payer.clone(),
		voucher: sv.voucher.clone(),
		signature: sv.signature.clone(),
		input_tokens: 5,
		output_tokens: 5,
		fee: 1,
		transcript: ContentHash::of(b"transcript"),
		digest: ContentHash::of(b"inputs"),
		shares: Default::default(),
	};
	let terms = chain.batch_terms().unwrap().hash();
	let blob = BlobOf { prev: None, terms, leaves: vec![leaf], payouts: vec![Payout { who: alice.account(), amount: 1 }], attestors: 0 };
	let header = blob.header(ContentHash::of(b"blob"));
	let charge = PayerCharge { payer: sv.payer.clone(), voucher: sv.voucher.clone(), signature: sv.signature.clone(), leaves: 1, amount: 1 };
	// A dry run says why before anything is paid, in the runtime's own words: its metadata
	// names the pallet's error and its doc.
	let before = chain.nonce(&alice.account()).unwrap();
	let call = Client::submit_batch_call(&header, std::slice::from_ref(&charge));
	let why = chain.dry_run(&alice, &call).unwrap_err();
	assert!(
		matches!(&why, mnemo_client::Error::Refused(m) if m == "Rewards.NoChannel: The payer has no channel to this operator."),
		"{why}"
	);
	assert_eq!(chain.next_nonce(&alice.account()).unwrap(), before, "a dry run submits nothing, not even to the pool");
	let used = chain.submit_and_wait(&alice, &Client::submit_batch_call(&header, &[charge]), wait).unwrap();
	assert_eq!(used, before);
	assert_eq!(chain.nonce(&alice.account()).unwrap(), before + 1, "the batch was included");
	assert_eq!(chain.next_batch().unwrap(), 0, "and refused: Bob has no channel to Alice");

	// The view functions an operator's engine reads for its batches answer under the ids the
	// client computes (a wrong id is the runtime's NotFound, an error here).
	assert_eq!(chain.adapter_facts(4_000_000).unwrap(), None, "no such adapter");
	let terms = chain.batch_terms().unwrap();
	assert!(terms.split.is_whole() && terms.top_k > 0 && terms.min_fee > 0, "{terms:?}");
	assert_eq!(chain.next_batch().unwrap(), 0);
	assert_eq!(chain.batch(0).unwrap(), None);
	assert_eq!(chain.operator_head(&alice.account()).unwrap(), None, "no batch yet");
	assert_eq!(chain.panels(&alice.account()).unwrap(), Vec::<u64>::new(), "Alice sits on no panel");
	assert_eq!(chain.payout_book(&alice.account()).unwrap(), None, "no batch of Alice's settled");
	assert_eq!(chain.spend_totals(&alice.account()).unwrap(), mnemo_client::SpendTotals::default(), "Alice paid for nothing");
	let wrong = chain.view::<()>("Attribution", "batch_terms() -> Nothing", &());
	assert!(matches!(wrong, Err(mnemo_client::Error::Rpc { .. })), "{wrong:?}");

	// A transaction the node refuses comes back as an error naming the call.
	let bad = chain.call("author_submitExtrinsic", serde_json::json!(["0x0102"]));
	assert!(matches!(bad, Err(mnemo_client::Error::Rpc { .. })), "{bad:?}");
	// An unreachable node is one clear error.
	let err = Client::connect(&format!("http://127.0.0.1:{}", free_port())).err().expect("nothing listens");
	assert!(err.to_string().contains("cannot reach the node"), "{err}");
}

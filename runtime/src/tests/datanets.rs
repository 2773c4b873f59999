//! pallet-datanets in the real runtime: deposits in MNEMO, and validation reports that go
//! through the real transaction extensions as authorized, feeless, nonce-free transactions.

use super::*;
use codec::Encode;
use frame_support::{
	assert_ok,
	traits::{fungible::InspectHold, Get},
};
use frame_system::offchain::CreateAuthorizedTransaction;
use pallet_datanets::{
	Access, Description, Kind, Metadata, Quota, Rules, Validation, ValidationReport, ValidatorKey,
	Verdict,
};
use polkadot_sdk::{
	sp_application_crypto::RuntimeAppPublic,
	sp_keystore::{testing::MemoryKeystore, KeystoreExt},
	sp_runtime::{
		transaction_validity::{TransactionSource, TransactionValidityError, InvalidTransaction},
		Perbill,
	},
};
use mnemo_primitives::ContentHash;

fn b<S: Get<u32>>(s: &str) -> frame_support::BoundedVec<u8, S> {
	s.as_bytes().to_vec().try_into().unwrap()
}

fn rules(validator: ValidatorKey) -> Rules<Runtime> {
	Rules {
		bond: UNIT,
		curators: vec![bob(), dave()].try_into().unwrap(),
		threshold: 1,
		reject_slash: Perbill::from_percent(50),
		review_period: 100,
		quota: Quota { per_period: 10, period: 100 },
		access: Access::Open,
		validators: vec![validator].try_into().unwrap(),
	}
}

fn metadata() -> Metadata<Runtime> {
	Metadata {
		name: b("shakespeare"),
		summary: b("Plays"),
		description: Description::Hash(ContentHash::of(b"readme")),
		tags: Default::default(),
		license: b("CC0-1.0"),
	}
}

fn ext_with_keystore() -> (sp_io::TestExternalities, ValidatorKey) {
	let mut ext = new_test_ext(sp_genesis_builder::DEV_RUNTIME_PRESET);
	ext.register_extension(KeystoreExt::new(MemoryKeystore::new()));
	let key = ext.execute_with(|| ValidatorKey::generate_pair(Some(b"//Validator".to_vec())));
	(ext, key)
}

/// Alice creates datanet 0; Alice contributes `data` in the next block; returns its id.
fn create_and_contribute(key: &ValidatorKey, data: &[u8]) -> u64 {
	assert_ok!(Datanets::create_datanet(
		RuntimeOrigin::signed(alice()),
		Kind::Text,
		metadata(),
		rules(key.clone())
	));
	let hash = ContentHash::of(data);
	let commitment = Datanets::commitment_of(0, &hash, &alice());
	assert_ok!(Datanets::commit(RuntimeOrigin::signed(alice()), commitment));
	System::set_block_number(2);
	assert_ok!(Datanets::contribute(RuntimeOrigin::signed(alice()), 0, hash, data.len() as u64, 1));
	0
}

#[test]
fn deposits_and_bonds_are_held_in_mnemo() {
	let (mut ext, key) = ext_with_keystore();
	ext.execute_with(|| {
		let before = Balances::free_balance(alice());
		let c = create_and_contribute(&key, b"O Romeo, Romeo");
		let held = |r: pallet_datanets::HoldReason| Balances::balance_on_hold(&r.into(), &alice());
		assert_eq!(held(pallet_datanets::HoldReason::DatanetDeposit), <Runtime as pallet_datanets::Config>::DatanetDeposit::get());
		assert_eq!(held(pallet_datanets::HoldReason::ContributionBond), UNIT);
		assert_eq!(Balances::free_balance(alice()), before - <Runtime as pallet_datanets::Config>::DatanetDeposit::get() - UNIT - held(pallet_datanets::HoldReason::RecordDeposit));
		// Curator Bob rejects (k = 1): half the bond goes to the treasury.
		let treasury = Balances::free_balance(configs::TreasuryAccount::get());
		assert_ok!(Datanets::review(
			RuntimeOrigin::signed(bob()),
			c,
			Verdict::Reject { reason: b("off-topic") }
		));
		assert_eq!(Balances::free_balance(configs::TreasuryAccount::get()), treasury + UNIT / 2);
		Datanets::do_try_state().unwrap();
	});
}

#[test]
fn a_validation_report_is_an_authorized_feeless_transaction() {
	let (mut ext, key) = ext_with_keystore();
	ext.execute_with(|| {
		let c = create_and_contribute(&key, b"Exit, pursued by a bear");
		let report = ValidationReport {
			contribution: c,
			content_hash: ContentHash::of(b"Exit, pursued by a bear"),
			validation: Validation {
				schema_ok: true,
				exact_duplicate: false,
				near_duplicate: Perbill::zero(),
				quality: Perbill::from_percent(70),
			},
			validator: key.clone(),
		};
		let signature = key.sign(&report.encode()).unwrap();
		let call = pallet_datanets::Call::<Runtime>::submit_validation { report, signature };
		let xt = <Runtime as CreateAuthorizedTransaction<pallet_datanets::Call<Runtime>>>::create_authorized_transaction(
			call.clone().into(),
		);
		let parent = System::parent_hash();
		assert!(Executive::validate_transaction(TransactionSource::External, xt.clone(), parent).is_ok());
		let issuance = Balances::total_issuance();
		assert_ok!(Executive::apply_extrinsic(xt.clone()).expect("applied"));
		assert_eq!(
			Datanets::contributions_by(&alice())[0].1.validation.map(|v| v.quality),
			Some(Perbill::from_percent(70))
		);
		// No fee was charged (nothing burnt) and the same report cannot land twice.
		assert_eq!(Balances::total_issuance(), issuance);
		assert_eq!(
			Executive::validate_transaction(TransactionSource::External, xt, parent),
			Err(TransactionValidityError::Invalid(InvalidTransaction::Stale))
		);
	});
}

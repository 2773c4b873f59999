//! Transfers through the real transaction extensions, fees, the existential deposit and holds.

use super::*;
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		dispatch::GetDispatchInfo,
		traits::{
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Preservation},
		},
	},
	sp_genesis_builder::DEV_RUNTIME_PRESET,
	sp_runtime::{generic::Era, traits::DispatchTransaction, TokenError},
};

/// The extensions a wallet would attach to a signed transaction from an account with `nonce`.
fn tx_extension(nonce: Nonce, tip: Balance) -> TxExtension {
	(
		frame_system::AuthorizeCall::<Runtime>::new(),
		frame_system::CheckNonZeroSender::<Runtime>::new(),
		frame_system::CheckSpecVersion::<Runtime>::new(),
		frame_system::CheckTxVersion::<Runtime>::new(),
		frame_system::CheckGenesis::<Runtime>::new(),
		frame_system::CheckEra::<Runtime>::from(Era::Immortal),
		frame_system::CheckNonce::<Runtime>::from(nonce),
		frame_system::CheckWeight::<Runtime>::new(),
		pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(tip),
		frame_metadata_hash_extension::CheckMetadataHash::<Runtime>::new(false),
	)
		.into()
}

fn fee_paid_by(who: &AccountId) -> Option<Balance> {
	System::events().into_iter().find_map(|r| match r.event {
		RuntimeEvent::TransactionPayment(
			pallet_transaction_payment::Event::TransactionFeePaid {
				who: w, actual_fee, ..
			},
		) if &w == who => Some(actual_fee),
		_ => None,
	})
}

#[test]
fn signed_transfer_moves_funds_charges_a_fee_and_bumps_the_nonce() {
	new_test_ext(DEV_RUNTIME_PRESET).execute_with(|| {
		let amount = 10 * UNIT;
		let call = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
			dest: bob().into(),
			value: amount,
		});
		let info = call.get_dispatch_info();
		let (alice_before, bob_before) = (
			Balances::free_balance(alice()),
			Balances::free_balance(bob()),
		);
		let issuance_before = Balances::total_issuance();

		let outcome = tx_extension(0, 0)
			.dispatch_transaction(RuntimeOrigin::signed(alice()), call, &info, 120, 0)
			.expect("the transaction is valid");
		assert_ok!(outcome);

		let fee = fee_paid_by(&alice()).expect("a TransactionFeePaid event");
		assert!(fee > 0, "a transfer is not free");
		// The fee is what the runtime's fee formula says for this weight and length.
		assert_eq!(
			fee,
			TransactionPayment::compute_actual_fee(120, &info, &Default::default(), 0)
		);
		assert_eq!(Balances::free_balance(alice()), alice_before - amount - fee);
		assert_eq!(Balances::free_balance(bob()), bob_before + amount);
		// Fees are burnt: issuance falls by exactly the fee.
		assert_eq!(Balances::total_issuance(), issuance_before - fee);
		assert_eq!(System::account_nonce(alice()), 1);
		System::assert_has_event(
			pallet_balances::Event::Transfer {
				from: alice(),
				to: bob(),
				amount,
			}
			.into(),
		);
	});
}

#[test]
fn a_stale_nonce_or_an_unaffordable_fee_is_refused_before_dispatch() {
	new_test_ext(DEV_RUNTIME_PRESET).execute_with(|| {
		let call = RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
			dest: bob().into(),
			value: UNIT,
		});
		let info = call.get_dispatch_info();
		// Nonce 5 when the account is at 0: in the future, not valid to apply now.
		assert!(tx_extension(5, 0)
			.dispatch_transaction(RuntimeOrigin::signed(alice()), call.clone(), &info, 120, 0)
			.is_err());
		// An account with nothing cannot pay the fee.
		assert!(tx_extension(0, 0)
			.dispatch_transaction(RuntimeOrigin::signed(nobody()), call, &info, 120, 0)
			.is_err());
		assert_eq!(
			Balances::free_balance(bob()),
			genesis_config_presets::ENDOWMENT
		);
	});
}

#[test]
fn existential_deposit_is_enforced() {
	new_test_ext(DEV_RUNTIME_PRESET).execute_with(|| {
		// Creating an account with less than the existential deposit fails.
		assert_noop!(
			Balances::transfer_allow_death(
				RuntimeOrigin::signed(alice()),
				nobody().into(),
				EXISTENTIAL_DEPOSIT - 1
			),
			TokenError::BelowMinimum
		);
		// Exactly the existential deposit creates it.
		assert_ok!(Balances::transfer_allow_death(
			RuntimeOrigin::signed(alice()),
			nobody().into(),
			EXISTENTIAL_DEPOSIT
		));
		assert!(System::account_exists(&nobody()));
		// keep-alive refuses to take it below the minimum ...
		assert!(Balances::transfer_keep_alive(
			RuntimeOrigin::signed(nobody()),
			alice().into(),
			EXISTENTIAL_DEPOSIT
		)
		.is_err());
		// ... allow-death empties and reaps it.
		assert_ok!(Balances::transfer_allow_death(
			RuntimeOrigin::signed(nobody()),
			alice().into(),
			EXISTENTIAL_DEPOSIT
		));
		assert!(!System::account_exists(&nobody()));
		assert_eq!(Balances::free_balance(nobody()), 0);
	});
}

#[test]
fn held_funds_cannot_be_spent_and_come_back_on_release() {
	new_test_ext(DEV_RUNTIME_PRESET).execute_with(|| {
		let reason = RuntimeHoldReason::Session(pallet_session::HoldReason::Keys);
		let total = Balances::balance(&dave());
		let held = total / 2;
		assert_ok!(<Balances as MutateHold<_>>::hold(&reason, &dave(), held));
		assert_eq!(Balances::balance_on_hold(&reason, &dave()), held);
		assert_eq!(Balances::total_balance(&dave()), total);
		let spendable =
			Balances::reducible_balance(&dave(), Preservation::Expendable, Fortitude::Polite);
		// An account with held funds must stay alive, so its existential deposit is not spendable.
		assert_eq!(spendable, total - held - EXISTENTIAL_DEPOSIT);

		// Spending more than the free part fails, whatever the hold.
		assert!(<Balances as Mutate<_>>::transfer(
			&dave(),
			&bob(),
			spendable + 1,
			Preservation::Expendable
		)
		.is_err());
		// Holding more than what is free fails.
		assert!(<Balances as MutateHold<_>>::hold(&reason, &dave(), total).is_err());

		assert_ok!(<Balances as MutateHold<_>>::release(
			&reason,
			&dave(),
			held,
			Precision::Exact
		));
		assert_eq!(Balances::balance_on_hold(&reason, &dave()), 0);
		assert_eq!(
			Balances::reducible_balance(&dave(), Preservation::Expendable, Fortitude::Polite),
			total
		);
	});
}

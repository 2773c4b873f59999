//! Charging receipts within allowances, and refunds while escrowed.

use crate::{mock::*, *};
use mnemo_primitives::{Charge, PaymentEscrow};
use polkadot_sdk::frame_support::assert_ok;

#[test]
fn a_charge_moves_the_fee_into_escrow_and_lowers_the_allowance() {
	build_and_execute(|| {
		funded(1_000, 700);
		let account = Rewards::account_id();
		let before = free(account);
		assert_ok!(charge(1, 400));
		assert_eq!(
			last_event(),
			Event::Charged {
				receipt: 1,
				payer: PAYER,
				operator: OPERATOR,
				adapter: 7,
				amount: 400,
				allowance_left: 300,
				credit_left: 600
			}
		);
		assert_eq!(credit(PAYER), 600);
		assert_eq!(free(account), before + 400);
		assert_eq!(Allowances::<Test>::get(PAYER, OPERATOR).unwrap().remaining, 300);
		assert_eq!(
			Rewards::receipt(1),
			Some(ReceiptFunds::Escrowed(Escrow { payer: PAYER, operator: OPERATOR, adapter: 7, amount: 400, period: 0 }))
		);
		assert_eq!(Rewards::owed(), Owed { escrowed: 400, pending: 0, claimable: 0 });
		assert_eq!(Rewards::spend(PAYER), (SpendTotals { total: 400, receipts: 1 }, vec![(0, 400)]));
		assert_eq!(Rewards::spend_by_adapter(PAYER, vec![7, 8]), vec![(7, 400), (8, 0)]);
	});
}

#[test]
fn charges_are_refused_individually_and_change_nothing() {
	build_and_execute(|| {
		funded(500, 700);
		assert_eq!(e(charge(1, 0)), err(Error::ZeroAmount));
		// Past the allowance.
		assert_eq!(e(charge(1, 701)), err(Error::AllowanceExceeded));
		// Within the allowance, past the credit.
		assert_eq!(e(charge(1, 501)), err(Error::InsufficientCredit));
		// Another operator, or another payer, has no allowance.
		let other = Charge { operator: OWNER, payer: PAYER, receipt: 1, adapter: 7, amount: 1 };
		assert_eq!(e(Rewards::charge(other)), err(Error::NoAllowance));
		let other = Charge { operator: OPERATOR, payer: C1, receipt: 1, adapter: 7, amount: 1 };
		assert_eq!(e(Rewards::charge(other)), err(Error::NoAllowance));
		assert!(events().iter().all(|e| !matches!(e, Event::Charged { .. })));
		assert_eq!(credit(PAYER), 500);
		assert_eq!(Allowances::<Test>::get(PAYER, OPERATOR).unwrap().remaining, 700);
		assert_ok!(charge(1, 300));
		assert_ok!(charge(2, 200));
		// The credit is spent; the allowance is not, and a repeated receipt is refused.
		assert_eq!(e(charge(3, 1)), err(Error::InsufficientCredit));
		assert_eq!(e(charge(2, 1)), err(Error::DuplicateReceipt));
		// An exhausted allowance.
		assert_ok!(Rewards::deposit_credit(RuntimeOrigin::signed(PAYER), 1_000));
		assert_ok!(charge(3, 200));
		assert_eq!(e(charge(4, 1)), err(Error::AllowanceExceeded));
		// A settled receipt is still a duplicate.
		assert_ok!(settle(1));
		assert_eq!(e(charge(1, 1)), err(Error::DuplicateReceipt));
		assert_eq!(Rewards::spend(PAYER).0, SpendTotals { total: 700, receipts: 3 });
	});
}

#[test]
fn an_unsettled_receipt_is_refunded_to_credit() {
	build_and_execute(|| {
		funded(1_000, 1_000);
		assert_ok!(charge(1, 400));
		assert_ok!(charge(2, 100));
		assert_eq!(Rewards::refund(1), Ok(400));
		assert_eq!(last_event(), Event::Refunded { receipt: 1, payer: PAYER, amount: 400, clawed_back: false });
		assert_eq!(credit(PAYER), 900);
		assert_eq!(Rewards::receipt(1), None);
		assert_eq!(Rewards::spend(PAYER), (SpendTotals { total: 100, receipts: 1 }, vec![(0, 100)]));
		assert_eq!(Rewards::spend_by_adapter(PAYER, vec![7]), vec![(7, 100)]);
		assert_eq!(e(Rewards::refund(1)), err(Error::UnknownReceipt));
		assert_eq!(e(settle(1)), err(Error::UnknownReceipt));
		// The refund restores the allowance too: the refunded credit can be charged again.
		assert_eq!(Allowances::<Test>::get(PAYER, OPERATOR).unwrap().remaining, 900);
		assert_ok!(charge(3, 900));
	});
}

#[test]
fn a_refund_to_an_account_that_is_gone_becomes_claimable() {
	build_and_execute(|| {
		assert_ok!(Balances::transfer_allow_death(RuntimeOrigin::signed(C1), FRESH, 500));
		assert_ok!(Rewards::deposit_credit(RuntimeOrigin::signed(FRESH), 5));
		assert_ok!(Rewards::approve_operator(RuntimeOrigin::signed(FRESH), OPERATOR, 1_000, 100));
		assert_ok!(Rewards::charge(Charge { operator: OPERATOR, payer: FRESH, receipt: 1, adapter: 7, amount: 5 }));
		// With its credit spent, the payer empties its account, which is reaped.
		assert_ok!(Balances::transfer_all(RuntimeOrigin::signed(FRESH), C1, false));
		assert!(!System::account_exists(&FRESH));
		// 5 is below the existential deposit: it cannot go back on hold, so it is claimable.
		assert_eq!(Rewards::refund(1), Ok(5));
		assert_eq!(credit(FRESH), 0);
		assert_eq!((ledger(FRESH).claimable, ledger(FRESH).refunds), (5, 5));
		assert_eq!(e(Rewards::claim(RuntimeOrigin::signed(FRESH))), err(Error::BelowMinimum));
		// Once the account exists again, the refund is paid.
		assert_ok!(Balances::transfer_allow_death(RuntimeOrigin::signed(C1), FRESH, 100));
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(FRESH)));
		assert_eq!(free(FRESH), 105);
		assert_eq!((ledger(FRESH).claimable, ledger(FRESH).refunds), (0, 0));
	});
}

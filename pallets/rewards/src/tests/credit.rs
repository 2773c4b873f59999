//! Credit: deposit, withdrawal with notice, and operator allowances.

use crate::{mock::*, *};
use polkadot_sdk::frame_support::assert_ok;

#[test]
fn deposit_holds_the_credit() {
	build_and_execute(|| {
		assert_ok!(Rewards::deposit_credit(RuntimeOrigin::signed(PAYER), 300));
		assert_ok!(Rewards::deposit_credit(RuntimeOrigin::signed(PAYER), 200));
		assert_eq!(credit(PAYER), 500);
		assert_eq!(free(PAYER), START - 500);
		assert_eq!(last_event(), Event::CreditDeposited { who: PAYER, amount: 200, credit: 500 });
		assert_eq!(e(Rewards::deposit_credit(RuntimeOrigin::signed(PAYER), 0)), err(Error::ZeroAmount));
		// More than the free balance can hold.
		assert!(Rewards::deposit_credit(RuntimeOrigin::signed(PAYER), START).is_err());
		assert_eq!(credit(PAYER), 500);
	});
}

#[test]
fn withdrawal_waits_out_the_notice_and_charges_still_apply() {
	build_and_execute(|| {
		funded(1_000, 1_000);
		assert_eq!(e(Rewards::withdraw_credit(RuntimeOrigin::signed(PAYER), 0)), err(Error::ZeroAmount));
		assert_eq!(
			e(Rewards::withdraw_credit(RuntimeOrigin::signed(PAYER), 1_001)),
			err(Error::InsufficientCredit)
		);
		assert_eq!(e(Rewards::complete_withdrawal(RuntimeOrigin::signed(PAYER))), err(Error::NoWithdrawal));
		assert_ok!(Rewards::withdraw_credit(RuntimeOrigin::signed(PAYER), 800));
		let at = 1 + NOTICE;
		assert_eq!(last_event(), Event::WithdrawalScheduled { who: PAYER, amount: 800, at });
		assert_eq!(Rewards::credit(PAYER), (1_000, Some(Unlocking { amount: 800, at })));
		// During the notice the credit is still there for receipts of inferences already served.
		run_to(at - 1);
		assert_ok!(charge(1, 400));
		assert_eq!(e(Rewards::complete_withdrawal(RuntimeOrigin::signed(PAYER))), err(Error::NoticeNotOver));
		run_to(at);
		assert_ok!(Rewards::complete_withdrawal(RuntimeOrigin::signed(PAYER)));
		// Only what the charge left could be withdrawn.
		assert_eq!(last_event(), Event::CreditWithdrawn { who: PAYER, amount: 600, credit: 0 });
		assert_eq!(free(PAYER), START - 400);
		assert_eq!(Withdrawals::<Test>::get(PAYER), None);
	});
}

#[test]
fn approvals_are_bounded_and_only_raise() {
	build_and_execute(|| {
		let approve = |op, amount, expiry| Rewards::approve_operator(RuntimeOrigin::signed(PAYER), op, amount, expiry);
		assert_eq!(e(approve(PAYER, 10, 50)), err(Error::SelfApproval));
		assert_eq!(e(approve(OPERATOR, 0, 50)), err(Error::ZeroAmount));
		assert_eq!(e(approve(OPERATOR, 10, 1 + NOTICE - 1)), err(Error::ExpiryTooSoon));
		assert_ok!(approve(OPERATOR, 100, 50));
		assert_eq!(
			last_event(),
			Event::OperatorApproved { payer: PAYER, operator: OPERATOR, allowance: 100, expires_at: 50 }
		);
		assert_eq!(e(approve(OPERATOR, 99, 50)), err(Error::AllowanceDecrease));
		assert_eq!(e(approve(OPERATOR, 100, 49)), err(Error::AllowanceDecrease));
		assert_ok!(approve(OPERATOR, 150, 60));
		assert_ok!(approve(OWNER, 1, 60));
		assert_eq!(e(approve(CURATOR, 1, 60)), err(Error::TooManyOperators));
		assert_eq!(OperatorCount::<Test>::get(PAYER), MAX_OPERATORS);
		let mut listed = Rewards::allowances(PAYER);
		listed.sort_by_key(|(op, _)| *op);
		assert_eq!(
			listed,
			vec![
				(OPERATOR, Allowance { remaining: 150, expires_at: 60 }),
				(OWNER, Allowance { remaining: 1, expires_at: 60 })
			]
		);
	});
}

#[test]
fn revocation_takes_effect_after_the_notice_then_the_slot_frees() {
	build_and_execute(|| {
		funded(1_000, 1_000);
		let revoke = |op| Rewards::revoke_operator(RuntimeOrigin::signed(PAYER), op);
		let remove = || Rewards::remove_allowance(RuntimeOrigin::signed(OWNER), PAYER, OPERATOR);
		assert_eq!(e(revoke(OWNER)), err(Error::NoAllowance));
		assert_ok!(revoke(OPERATOR));
		let end = 1 + NOTICE;
		assert_eq!(last_event(), Event::OperatorRevoked { payer: PAYER, operator: OPERATOR, expires_at: end });
		assert_eq!(e(remove()), err(Error::AllowanceLive));
		run_to(end - 1);
		assert_ok!(charge(1, 10));
		run_to(end);
		assert_eq!(e(charge(2, 10)), err(Error::AllowanceExpired));
		// Anyone may remove it now; the payer's slot is free again.
		assert_ok!(remove());
		assert_eq!(last_event(), Event::AllowanceRemoved { payer: PAYER, operator: OPERATOR });
		assert_eq!(OperatorCount::<Test>::get(PAYER), 0);
		assert_eq!(e(remove()), err(Error::NoAllowance));
		assert_eq!(e(charge(2, 10)), err(Error::NoAllowance));
		// An expired allowance may be approved afresh at any amount.
		assert_ok!(Rewards::approve_operator(RuntimeOrigin::signed(PAYER), OPERATOR, 5, 50));
		assert_ok!(revoke(OPERATOR));
		run_to(end + NOTICE);
		assert_ok!(Rewards::approve_operator(RuntimeOrigin::signed(PAYER), OPERATOR, 1, 50));
	});
}

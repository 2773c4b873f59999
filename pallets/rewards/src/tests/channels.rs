//! Payment channels: opening, topping up and closing with notice, and the payer's consent as
//! each charge checks it (the voucher's `seq` and `cumulative`), each attack refused.

use crate::{mock::*, *};
use mnemo_primitives::{BatchCharge, BatchEscrow};
use polkadot_sdk::frame_support::assert_ok;

fn open(operator: AccountId, deposit: Balance) -> Result<(), polkadot_sdk::sp_runtime::DispatchError> {
	e(Rewards::open_channel(RuntimeOrigin::signed(PAYER), operator, deposit))
}

#[test]
fn opening_holds_the_deposit_and_is_bounded() {
	build_and_execute(|| {
		assert_eq!(open(PAYER, 10), err(Error::SelfChannel));
		assert_eq!(open(OPERATOR, 0), err(Error::ZeroAmount));
		assert_eq!(open(OPERATOR, MIN_DEPOSIT - 1), err(Error::DepositTooLow));
		// More than the free balance can hold.
		assert!(open(OPERATOR, START).is_err());
		assert_ok!(open(OPERATOR, 300));
		assert_eq!(last_event(), Event::ChannelOpened { payer: PAYER, operator: OPERATOR, channel: 0, deposit: 300 });
		assert_eq!(open(OPERATOR, 300), err(Error::ChannelExists));
		assert_eq!(channel(PAYER), Channel { id: 0, balance: 300, spent: 0, seq: 0, closes_at: None });
		assert_eq!((held(PAYER), free(PAYER)), (300, START - 300));
		assert_ok!(open(OWNER, MIN_DEPOSIT));
		assert_eq!(open(CURATOR, MIN_DEPOSIT), err(Error::TooManyChannels));
		assert_eq!(ChannelCount::<Test>::get(PAYER), MAX_CHANNELS);
		let mut listed = Rewards::channels(PAYER);
		listed.sort_by_key(|(op, _)| *op);
		assert_eq!(listed.iter().map(|(op, c)| (*op, c.balance)).collect::<Vec<_>>(), vec![(OPERATOR, 300), (OWNER, MIN_DEPOSIT)]);
	});
}

#[test]
fn a_top_up_adds_to_an_open_channel_only() {
	build_and_execute(|| {
		let top_up = |op, amount| e(Rewards::top_up(RuntimeOrigin::signed(PAYER), op, amount));
		assert_eq!(top_up(OPERATOR, 10), err(Error::NoChannel));
		funded(100);
		assert_eq!(top_up(OPERATOR, 0), err(Error::ZeroAmount));
		assert_ok!(top_up(OPERATOR, 50));
		assert_eq!(last_event(), Event::ChannelToppedUp { payer: PAYER, operator: OPERATOR, amount: 50, balance: 150 });
		assert_eq!(held(PAYER), 150);
		assert_ok!(Rewards::close_channel(RuntimeOrigin::signed(PAYER), OPERATOR));
		assert_eq!(top_up(OPERATOR, 50), err(Error::ChannelClosing));
	});
}

#[test]
fn a_charge_moves_the_fee_into_escrow_and_counts_it_on_the_channel() {
	build_and_execute(|| {
		funded(1_000);
		let account = Rewards::account_id();
		let before = free(account);
		assert_ok!(charge_with(1, 400, 1, 500));
		assert_eq!(
			last_event(),
			Event::BatchCharged { batch: 1, payer: PAYER, operator: OPERATOR, amount: 400, seq: 1, spent: 400, balance: 600 }
		);
		assert_eq!(channel(PAYER), Channel { id: 0, balance: 600, spent: 400, seq: 1, closes_at: None });
		assert_eq!(held(PAYER), 600);
		assert_eq!(free(account), before + 400);
		assert_eq!(
			BatchEscrows::<Test>::get(1),
			Some(BatchEscrowOf::<Test> { operator: OPERATOR, total: 400, payers: 1, period: 0 })
		);
		assert_eq!(Rewards::owed(), Owed { escrowed: 400, claimable: 0 });
		assert_eq!(Rewards::spend(PAYER), (SpendTotals { total: 400, receipts: 1 }, vec![(0, 400)]));
	});
}

#[test]
fn an_operator_cannot_charge_beyond_the_payers_cumulative_consent() {
	build_and_execute(|| {
		funded(10_000);
		// The payer signed vouchers 1 and 2 for 100 each: cumulative 100, then 200.
		assert_ok!(charge_with(1, 90, 1, 100));
		// The attack: charge voucher 2's request at more than the 110 the consent leaves.
		assert_eq!(e(charge_with(2, 111, 2, 200)), err(Error::AboveConsent));
		// Nor can the unused 10 of voucher 1 and voucher 2's 100 be taken twice over.
		assert_ok!(charge_with(2, 110, 2, 200));
		assert_eq!(e(charge_with(3, 1, 3, 200)), err(Error::AboveConsent));
		assert_eq!(channel(PAYER).spent, 200);
		assert_eq!(Rewards::spend(PAYER).0, SpendTotals { total: 200, receipts: 2 });
		assert!(events().iter().filter(|e| matches!(e, Event::BatchCharged { .. })).count() == 2);
	});
}

#[test]
fn a_replayed_or_stale_voucher_is_refused() {
	build_and_execute(|| {
		funded(10_000);
		assert_ok!(charge_with(1, 10, 5, 1_000));
		// The same voucher again, for another receipt: its seq is the channel's, not above it.
		assert_eq!(e(charge_with(2, 10, 5, 1_000)), err(Error::StaleVoucher));
		// An older voucher, held back and submitted late.
		assert_eq!(e(charge_with(2, 10, 4, 1_000)), err(Error::StaleVoucher));
		assert_ok!(charge_with(2, 10, 6, 1_000));
		assert_eq!(channel(PAYER).seq, 6);
		// The same payer twice in one batch is refused whatever the voucher.
		assert_eq!(e(charge_with(2, 10, 7, 1_000)), err(Error::DuplicateCharge));
		assert_eq!(channel(PAYER), Channel { id: 0, balance: 9_980, spent: 20, seq: 6, closes_at: None });
	});
}

#[test]
fn charges_are_refused_individually_and_change_nothing() {
	build_and_execute(|| {
		funded(500);
		assert_eq!(e(charge(1, 0)), err(Error::ZeroAmount));
		// Past the deposit.
		assert_eq!(e(charge(1, 501)), err(Error::ChannelDepleted));
		// Another operator, or another payer, has no channel.
		let other = BatchCharge { operator: OWNER, payer: PAYER, amount: 1, channel: 0, seq: 1, cumulative: 10, receipts: 1, first_leaf: 0 };
		assert_eq!(e(<Rewards as BatchEscrow<_>>::charge(1, vec![other])), err(Error::NoChannel));
		assert_eq!(e(charge_of(C1, 1, 1, 1, 10)), err(Error::NoChannel));
		assert!(events().iter().all(|e| !matches!(e, Event::BatchCharged { .. })));
		assert_eq!(BatchEscrows::<Test>::get(1), None, "nothing held for a charge refused");
		assert_eq!(channel(PAYER), Channel { id: 0, balance: 500, spent: 0, seq: 0, closes_at: None });
		assert_ok!(charge(1, 300));
		assert_ok!(charge(2, 200));
		assert_eq!(e(charge(3, 1)), err(Error::ChannelDepleted));
		assert_eq!(e(charge(2, 1)), err(Error::DuplicateCharge));
		assert_eq!(Rewards::spend(PAYER).0, SpendTotals { total: 500, receipts: 2 });
	});
}

#[test]
fn a_closed_channel_still_pays_for_what_was_signed_until_its_notice_ends() {
	build_and_execute(|| {
		funded(1_000);
		assert_ok!(charge_with(1, 100, 1, 150));
		let finish = || e(Rewards::finish_close(RuntimeOrigin::signed(OWNER), PAYER, OPERATOR));
		assert_eq!(finish(), err(Error::ChannelOpen));
		// The payer closes while the operator still holds vouchers 2 and 3, not yet submitted.
		assert_ok!(Rewards::close_channel(RuntimeOrigin::signed(PAYER), OPERATOR));
		let closes_at = 1 + NOTICE;
		assert_eq!(
			last_event(),
			Event::ChannelClosing { payer: PAYER, operator: OPERATOR, closes_at, balance: 900 }
		);
		assert_eq!(
			e(Rewards::close_channel(RuntimeOrigin::signed(PAYER), OPERATOR)),
			err(Error::ChannelClosing)
		);
		// Within the notice, they land and are paid.
		run_to(closes_at - 1);
		assert_eq!(finish(), err(Error::ChannelOpen));
		assert_ok!(charge_with(2, 100, 2, 300));
		assert_ok!(charge_with(3, 100, 3, 450));
		// From the end of the notice, nothing lands; anyone returns the rest to the payer.
		run_to(closes_at);
		assert_eq!(e(charge_with(4, 1, 4, 600)), err(Error::ChannelClosed));
		let before = free(PAYER);
		assert_ok!(finish());
		assert_eq!(last_event(), Event::ChannelClosed { payer: PAYER, operator: OPERATOR, returned: 700, spent: 300 });
		assert_eq!(free(PAYER), before + 700);
		assert_eq!(held(PAYER), 0);
		assert_eq!(ChannelCount::<Test>::get(PAYER), 0);
		assert_eq!(finish(), err(Error::NoChannel));
		assert_eq!(e(charge_with(4, 1, 4, 600)), err(Error::NoChannel));
		// The slot is free: a new channel starts afresh.
		funded(10);
		assert_eq!(channel(PAYER), Channel { id: 1, balance: 10, spent: 0, seq: 0, closes_at: None });
	});
}

#[test]
fn no_notice_shorter_than_the_minimum_lets_a_payer_close_before_its_vouchers_land() {
	build_and_execute(|| {
		// The attack: governance (or a genesis) sets no notice; a payer who has been served
		// closes and takes its deposit back in the next block, before the operator's batch of
		// its vouchers can land.
		let p = RewardParams { notice: MIN_NOTICE - 1, ..params() };
		assert_eq!(e(Rewards::set_params(RuntimeOrigin::root(), p)), err(Error::NoticeTooShort));
		assert_ok!(Rewards::set_params(RuntimeOrigin::root(), RewardParams { notice: MIN_NOTICE, ..params() }));
		// Parameters stored with no notice at all still give the minimum.
		Params::<Test>::put(RewardParams { notice: 0, ..params() });
		funded(1_000);
		assert_ok!(Rewards::close_channel(RuntimeOrigin::signed(PAYER), OPERATOR));
		let closes_at = 1 + MIN_NOTICE;
		assert_eq!(channel(PAYER).closes_at, Some(closes_at));
		run_to(closes_at - 1);
		assert_eq!(e(Rewards::finish_close(RuntimeOrigin::signed(PAYER), PAYER, OPERATOR)), err(Error::ChannelOpen));
		// What it signed before closing still lands and is paid.
		assert_ok!(charge_with(1, 100, 1, 100));
		run_to(closes_at);
		assert_ok!(Rewards::finish_close(RuntimeOrigin::signed(PAYER), PAYER, OPERATOR));
		assert_eq!(last_event(), Event::ChannelClosed { payer: PAYER, operator: OPERATOR, returned: 900, spent: 100 });
	});
}

#[test]
fn a_voucher_for_a_closed_channel_is_void_on_the_next_one() {
	build_and_execute(|| {
		funded(1_000);
		assert_ok!(charge_with(1, 100, 1, 500));
		assert_ok!(Rewards::close_channel(RuntimeOrigin::signed(PAYER), OPERATOR));
		run_to(1 + NOTICE);
		assert_ok!(Rewards::finish_close(RuntimeOrigin::signed(PAYER), PAYER, OPERATOR));
		// The payer opens a new channel to the same operator: seq and spent start again.
		funded(1_000);
		assert_eq!(channel(PAYER).id, 1);
		// The attack: a voucher the payer signed for the old channel (seq 2, consent 500) is
		// charged on the new one.
		let old = BatchCharge { operator: OPERATOR, payer: PAYER, amount: 100, channel: 0, seq: 2, cumulative: 500, receipts: 1, first_leaf: 0 };
		assert_eq!(e(<Rewards as BatchEscrow<_>>::charge(2, vec![old])), err(Error::WrongChannel));
		// A refund of the old channel's batch goes to the payer's account, not into the new
		// channel (where it would lower `spent` below what the new vouchers consented to).
		let before = free(PAYER);
		assert_eq!(<Rewards as BatchEscrow<_>>::refund(1), Ok(100));
		// Given back in the next block.
		run_to(System::block_number() + 1);
		assert_eq!(free(PAYER), before + 100);
		assert_eq!(channel(PAYER), Channel { id: 1, balance: 1_000, spent: 0, seq: 0, closes_at: None });
	});
}

#[test]
fn an_unsettled_batch_is_refunded_to_its_channel() {
	build_and_execute(|| {
		funded(1_000);
		assert_ok!(charge_with(1, 400, 1, 1_000));
		assert_ok!(charge_with(2, 100, 2, 1_000));
		assert_eq!(<Rewards as BatchEscrow<_>>::refund(1), Ok(400));
		// Given back in the next block.
		run_to(System::block_number() + 1);
		assert_eq!(last_event(), Event::BatchRefunded { batch: 1, payers: 1, amount: 400 });
		// Back in the channel and off its total: the payer's consent covers it again.
		assert_eq!(channel(PAYER), Channel { id: 0, balance: 900, spent: 100, seq: 2, closes_at: None });
		assert_eq!(held(PAYER), 900);
		assert_eq!(BatchEscrows::<Test>::get(1), None);
		assert_eq!(Rewards::spend(PAYER), (SpendTotals { total: 100, receipts: 1 }, vec![(0, 100)]));
		assert_eq!(e(<Rewards as BatchEscrow<_>>::refund(1)), err(Error::UnknownBatch));
		assert_eq!(e(settle(1)), err(Error::UnknownBatch));
		assert_ok!(charge_with(3, 900, 3, 1_000));
	});
}

#[test]
fn a_refund_after_the_channel_closed_goes_to_the_payers_account() {
	build_and_execute(|| {
		funded(1_000);
		assert_ok!(charge(1, 400));
		assert_ok!(Rewards::close_channel(RuntimeOrigin::signed(PAYER), OPERATOR));
		run_to(1 + NOTICE);
		assert_ok!(Rewards::finish_close(RuntimeOrigin::signed(PAYER), PAYER, OPERATOR));
		let before = free(PAYER);
		assert_eq!(<Rewards as BatchEscrow<_>>::refund(1), Ok(400));
		// Given back in the next block.
		run_to(System::block_number() + 1);
		assert_eq!(free(PAYER), before + 400);
		assert_eq!(held(PAYER), 0);
	});
}

#[test]
fn a_refund_to_an_account_that_is_gone_becomes_claimable() {
	build_and_execute(|| {
		assert_ok!(Balances::transfer_allow_death(RuntimeOrigin::signed(C1), FRESH, 500));
		assert_ok!(Rewards::open_channel(RuntimeOrigin::signed(FRESH), OPERATOR, 5));
		assert_ok!(charge_of(FRESH, 1, 5, 1, 5));
		// With its channel spent, the payer empties its account, which is reaped.
		assert_ok!(Balances::transfer_all(RuntimeOrigin::signed(FRESH), C1, false));
		assert!(!System::account_exists(&FRESH));
		// 5 is below the existential deposit: it cannot go back on hold, so it is claimable.
		assert_eq!(<Rewards as BatchEscrow<_>>::refund(1), Ok(5));
		// Given back in the next block.
		run_to(System::block_number() + 1);
		assert_eq!(held(FRESH), 0);
		assert_eq!(Channels::<Test>::get(FRESH, OPERATOR).map(|c| (c.balance, c.spent)), Some((0, 5)));
		assert_eq!((ledger(FRESH).claimable, ledger(FRESH).refunds), (5, 5));
		assert_eq!(e(Rewards::claim(RuntimeOrigin::signed(FRESH))), err(Error::BelowMinimum));
		// Once the account exists again, the refund is paid.
		assert_ok!(Balances::transfer_allow_death(RuntimeOrigin::signed(C1), FRESH, 100));
		assert_ok!(Rewards::claim(RuntimeOrigin::signed(FRESH)));
		assert_eq!(free(FRESH), 105);
		assert_eq!((ledger(FRESH).claimable, ledger(FRESH).refunds), (0, 0));
	});
}

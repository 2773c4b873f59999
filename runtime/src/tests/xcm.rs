//! XCM with `mnemo_runtime`'s `XcmConfig` unchanged, against a mock sibling parachain built from
//! FRAME pallets (it keeps MNEMO in `pallet-assets`, keyed by `Location`), using the message
//! handler of `xcm-simulator`. Messages travel the real way: out of Mnemo through
//! `cumulus-pallet-xcmp-queue`'s outbound pages, into Mnemo through its XCMP handler and
//! `pallet-message-queue`.
//!
//! Checked: a reserve transfer of MNEMO to the sibling and back, with balances and total
//! issuance on both sides; a sibling cannot mint MNEMO by claiming to be its reserve; a sibling's
//! `Transact` is dispatched as its sovereign account, which opens and tops up a payment channel to
//! an operator in pallet-rewards.

use super::*;
use codec::Encode;
use cumulus_primitives_core::{ParaId, XcmpMessageHandler, XcmpMessageSource};
use polkadot_sdk::{
	frame_support::{assert_ok, traits::ProcessMessageError, weights::Weight},
	polkadot_parachain_primitives::primitives::Sibling,
	sp_runtime::traits::AccountIdConversion,
	staging_xcm::latest::prelude::*,
	staging_xcm_executor::{traits::ConvertLocation, XcmExecutor},
	xcm_simulator::{self, MessageKind},
};

const MNEMO: u32 = genesis_config_presets::PARACHAIN_ID;
const SIBLING: u32 = 2001;

/// The mock sibling: balances for its own token, MNEMO as a `Location`-keyed asset.
mod sibling {
	use core::cell::RefCell;
	use polkadot_sdk::sp_runtime::traits::Identity;
	use polkadot_sdk::{
		frame_support::{
			construct_runtime, derive_impl, parameter_types,
			traits::{AsEnsureOriginWithArg, ConstU128, Everything, Nothing},
			weights::Weight,
		},
		frame_system::{self, EnsureRoot, EnsureSigned},
		pallet_assets, pallet_balances,
		polkadot_parachain_primitives::primitives::Sibling,
		sp_runtime::{traits::IdentityLookup, AccountId32},
		staging_xcm::latest::prelude::*,
		staging_xcm_builder::{
			AccountId32Aliases, AllowUnpaidExecutionFrom, Case, ConvertedConcreteId,
			FixedRateOfFungible, FixedWeightBounds, FrameTransactionalProcessor, FungiblesAdapter,
			NoChecking, ParentIsPreset, SiblingParachainConvertsVia, SovereignSignedViaLocation,
		},
		staging_xcm_executor::{self as xcm_executor, XcmExecutor},
		xcm_simulator::mock_message_queue,
	};

	pub type AccountId = AccountId32;
	pub type Balance = u128;
	type Block = frame_system::mocking::MockBlock<Runtime>;

	#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
	impl frame_system::Config for Runtime {
		type Block = Block;
		type AccountId = AccountId;
		type Lookup = IdentityLookup<AccountId>;
		type AccountData = pallet_balances::AccountData<Balance>;
	}

	#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
	impl pallet_balances::Config for Runtime {
		type Balance = Balance;
		type AccountStore = System;
		type ExistentialDeposit = ConstU128<1>;
	}

	#[derive_impl(pallet_assets::config_preludes::TestDefaultConfig)]
	impl pallet_assets::Config for Runtime {
		type Balance = Balance;
		type AssetId = Location;
		type AssetIdParameter = Location;
		type Currency = Balances;
		type CreateOrigin = AsEnsureOriginWithArg<EnsureSigned<AccountId>>;
		type ForceOrigin = EnsureRoot<AccountId>;
	}

	impl mock_message_queue::Config for Runtime {
		type RuntimeEvent = RuntimeEvent;
		type XcmExecutor = XcmExecutor<XcmConfig>;
	}

	construct_runtime!(
		pub enum Runtime {
			System: frame_system,
			Balances: pallet_balances,
			Assets: pallet_assets,
			MsgQueue: mock_message_queue,
		}
	);

	parameter_types! {
		pub MnemoLocation: Location = Location::new(1, [Parachain(super::MNEMO)]);
		pub UniversalLocation: InteriorLocation = [Parachain(super::SIBLING)].into();
		pub const RelayNetwork: Option<NetworkId> = None;
		pub UnitWeightCost: Weight = Weight::from_parts(1_000, 1_000);
		pub const MaxInstructions: u32 = 100;
		pub const MaxAssetsIntoHolding: u32 = 64;
		/// Mnemo, and only Mnemo, is the reserve of MNEMO.
		pub MnemoFromMnemo: (AssetFilter, Location) = (
			Wild(AllOf { id: AssetId(MnemoLocation::get()), fun: WildFungible }),
			MnemoLocation::get(),
		);
		/// Unused: there are no teleports to check.
		pub CheckingAccount: AccountId = AccountId32::new([0u8; 32]);
		/// Execution here is free (the mock has no fee market).
		pub FreeExecution: (AssetId, u128, u128) = (AssetId(MnemoLocation::get()), 0, 0);
	}

	pub type LocationToAccountId = (
		ParentIsPreset<AccountId>,
		SiblingParachainConvertsVia<Sibling, AccountId>,
		AccountId32Aliases<RelayNetwork, AccountId>,
	);

	pub type AssetTransactor = FungiblesAdapter<
		Assets,
		ConvertedConcreteId<Location, Balance, Identity, Identity>,
		LocationToAccountId,
		AccountId,
		NoChecking,
		CheckingAccount,
	>;

	thread_local! {
		/// Messages the sibling sent, in order.
		pub static OUTBOX: RefCell<Vec<(Location, Xcm<()>)>> = const { RefCell::new(Vec::new()) };
	}

	/// Captures outgoing messages; the test carries them to their destination.
	pub struct Router;
	impl SendXcm for Router {
		type Ticket = (Location, Xcm<()>);
		fn validate(
			dest: &mut Option<Location>,
			msg: &mut Option<Xcm<()>>,
		) -> SendResult<Self::Ticket> {
			let dest = dest.take().ok_or(SendError::MissingArgument)?;
			let msg = msg.take().ok_or(SendError::MissingArgument)?;
			Ok((
				(dest, msg),
				polkadot_sdk::staging_xcm::latest::Assets::new(),
			))
		}
		fn deliver((dest, msg): Self::Ticket) -> Result<XcmHash, SendError> {
			let hash = polkadot_sdk::sp_io::hashing::blake2_256(&codec::Encode::encode(&msg));
			OUTBOX.with(|o| o.borrow_mut().push((dest, msg)));
			Ok(hash)
		}
	}

	pub struct XcmConfig;
	impl xcm_executor::Config for XcmConfig {
		type RuntimeCall = RuntimeCall;
		type XcmSender = Router;
		type XcmEventEmitter = ();
		type AssetTransactor = AssetTransactor;
		type OriginConverter = SovereignSignedViaLocation<LocationToAccountId, RuntimeOrigin>;
		type IsReserve = Case<MnemoFromMnemo>;
		type IsTeleporter = ();
		type UniversalLocation = UniversalLocation;
		type Barrier = AllowUnpaidExecutionFrom<Everything>;
		type Weigher = FixedWeightBounds<UnitWeightCost, RuntimeCall, MaxInstructions>;
		type Trader = FixedRateOfFungible<FreeExecution, ()>;
		type ResponseHandler = ();
		type AssetTrap = ();
		type AssetLocker = ();
		type AssetExchanger = ();
		type SubscriptionService = ();
		type PalletInstancesInfo = AllPalletsWithSystem;
		type MaxAssetsIntoHolding = MaxAssetsIntoHolding;
		type FeeManager = ();
		type MessageExporter = ();
		type UniversalAliases = Nothing;
		type CallDispatcher = RuntimeCall;
		type SafeCallFilter = Everything;
		type Aliasers = Nothing;
		type TransactionalProcessor = FrameTransactionalProcessor;
		type HrmpNewChannelOpenRequestHandler = ();
		type HrmpChannelAcceptedHandler = ();
		type HrmpChannelClosingHandler = ();
		type XcmRecorder = ();
	}

	pub fn new_ext() -> polkadot_sdk::sp_io::TestExternalities {
		use polkadot_sdk::sp_runtime::BuildStorage;
		let storage = frame_system::GenesisConfig::<Runtime>::default()
			.build_storage()
			.unwrap();
		let mut ext = polkadot_sdk::sp_io::TestExternalities::new(storage);
		ext.execute_with(|| {
			System::set_block_number(1);
			MsgQueue::set_para_id(super::SIBLING.into());
			// MNEMO is a sufficient asset: holding it keeps an account alive.
			assert!(Assets::force_create(
				RuntimeOrigin::root(),
				MnemoLocation::get(),
				AccountId32::new([0xaa; 32]),
				true,
				1
			)
			.is_ok());
		});
		ext
	}

	pub fn mnemo_of(who: &AccountId) -> Balance {
		Assets::balance(MnemoLocation::get(), who.clone())
	}

	pub fn mnemo_supply() -> Balance {
		pallet_assets::Asset::<Runtime>::get(MnemoLocation::get())
			.map(|a| a.supply)
			.unwrap_or(0)
	}

	pub fn take_outbox() -> Vec<(Location, Xcm<()>)> {
		OUTBOX.with(|o| core::mem::take(&mut *o.borrow_mut()))
	}
}

fn sibling_sovereign_on_mnemo() -> AccountId {
	Sibling::from(SIBLING).into_account_truncating()
}

fn mnemo_ext() -> sp_io::TestExternalities {
	let mut ext = new_test_ext(polkadot_sdk::sp_genesis_builder::DEV_RUNTIME_PRESET);
	ext.execute_with(|| {
		ParachainSystem::open_outbound_hrmp_channel_for_benchmarks_or_tests(SIBLING.into())
	});
	ext
}

/// Carry Mnemo's outbound XCMP pages to the sibling and execute them there.
fn relay_mnemo_to_sibling(
	mnemo: &mut sp_io::TestExternalities,
	sib: &mut sp_io::TestExternalities,
) -> usize {
	let pages =
		mnemo.execute_with(|| <XcmpQueue as XcmpMessageSource>::take_outbound_messages(16, &[]));
	let n = pages.len();
	sib.execute_with(|| {
		for (dest, page) in pages {
			assert_eq!(dest, ParaId::from(SIBLING));
			<sibling::MsgQueue as XcmpMessageHandler>::handle_xcmp_messages(
				core::iter::once((ParaId::from(MNEMO), 1, &page[..])),
				Weight::MAX,
			);
		}
	});
	n
}

/// Deliver `msg` from the sibling to Mnemo over XCMP and let Mnemo's message queue process it.
fn deliver_to_mnemo(mnemo: &mut sp_io::TestExternalities, msg: Xcm<()>) {
	let page = xcm_simulator::encode_xcm(msg, MessageKind::Xcmp);
	mnemo.execute_with(|| {
		<XcmpQueue as XcmpMessageHandler>::handle_xcmp_messages(
			core::iter::once((ParaId::from(SIBLING), 1, &page[..])),
			Weight::MAX,
		);
		<MessageQueue as polkadot_sdk::frame_support::traits::ServiceQueues>::service_queues(
			Weight::MAX,
		);
	});
}

fn account32(who: &AccountId) -> Location {
	Location::new(
		0,
		[AccountId32 {
			network: None,
			id: who.clone().into(),
		}],
	)
}

fn mnemo_here(amount: Balance) -> Asset {
	Asset {
		id: AssetId(Location::here()),
		fun: Fungible(amount),
	}
}

#[test]
fn reserve_transfer_to_a_sibling_and_back() {
	let mut mnemo = mnemo_ext();
	let mut sib = sibling::new_ext();
	let (amount, back) = (100 * UNIT, 40 * UNIT);
	let bob_there = bob();
	let charlie_here = Sr25519Keyring::Charlie.to_account_id();

	// Mnemo → sibling: Alice sends 100 MNEMO to Bob's account on the sibling.
	let issuance_before = mnemo.execute_with(|| {
		let issuance = Balances::total_issuance();
		let alice_before = Balances::free_balance(alice());
		assert_ok!(PolkadotXcm::limited_reserve_transfer_assets(
			RuntimeOrigin::signed(alice()),
			Box::new(Location::new(1, [Parachain(SIBLING)]).into()),
			Box::new(account32(&bob_there).into()),
			Box::new(Assets::from(mnemo_here(amount)).into()),
			0,
			WeightLimit::Unlimited,
		));
		assert_eq!(Balances::free_balance(alice()), alice_before - amount);
		// Mnemo is the reserve: the MNEMO now backs the sibling's copy from its sovereign account.
		assert_eq!(Balances::free_balance(sibling_sovereign_on_mnemo()), amount);
		assert_eq!(
			Balances::total_issuance(),
			issuance,
			"a reserve transfer mints and burns nothing here"
		);
		issuance
	});
	assert_eq!(
		relay_mnemo_to_sibling(&mut mnemo, &mut sib),
		1,
		"one XCMP page to the sibling"
	);
	sib.execute_with(|| {
		assert_eq!(sibling::mnemo_of(&bob_there), amount);
		assert_eq!(sibling::mnemo_supply(), amount);
	});

	// Sibling → Mnemo: Bob sends 40 MNEMO back to Charlie on Mnemo (a reserve withdrawal).
	sib.execute_with(|| {
		let there = Location::new(1, [Parachain(MNEMO)]);
		let msg: Xcm<sibling::RuntimeCall> = Xcm(vec![
			WithdrawAsset(
				Asset {
					id: AssetId(there.clone()),
					fun: Fungible(back),
				}
				.into(),
			),
			InitiateReserveWithdraw {
				assets: Wild(AllCounted(1)),
				reserve: there,
				xcm: Xcm(vec![
					BuyExecution {
						fees: mnemo_here(back),
						weight_limit: WeightLimit::Unlimited,
					},
					DepositAsset {
						assets: Wild(AllCounted(1)),
						beneficiary: account32(&charlie_here),
					},
				]),
			},
		]);
		let mut hash = [0u8; 32];
		let outcome = XcmExecutor::<sibling::XcmConfig>::prepare_and_execute(
			account32(&bob_there),
			msg,
			&mut hash,
			Weight::MAX,
			Weight::zero(),
		);
		assert!(outcome.clone().ensure_complete().is_ok(), "{outcome:?}");
		assert_eq!(sibling::mnemo_of(&bob_there), amount - back);
		assert_eq!(sibling::mnemo_supply(), amount - back);
	});
	let sent = sib.execute_with(sibling::take_outbox);
	assert_eq!(sent.len(), 1);
	let (dest, msg) = sent.into_iter().next().unwrap();
	assert_eq!(dest, Location::new(1, [Parachain(MNEMO)]));

	let charlie_before = mnemo.execute_with(|| Balances::free_balance(&charlie_here));
	deliver_to_mnemo(&mut mnemo, msg);
	mnemo.execute_with(|| {
		let gained = Balances::free_balance(&charlie_here) - charlie_before;
		let fee = issuance_before - Balances::total_issuance();
		assert!(
			gained > 0 && fee > 0,
			"Charlie received {gained}, execution cost {fee}"
		);
		// Every unit is accounted for: what arrived paid for execution (burnt without an author)
		// and the rest reached Charlie.
		assert_eq!(gained + fee, back);
		// The sovereign account still backs exactly what the sibling holds.
		assert_eq!(
			Balances::free_balance(sibling_sovereign_on_mnemo()),
			amount - back
		);
	});
	sib.execute_with(|| assert_eq!(sibling::mnemo_supply(), amount - back));
}

#[test]
fn a_sibling_cannot_mint_mnemo_by_claiming_to_be_its_reserve() {
	use polkadot_sdk::frame_support::traits::ContainsPair;
	let sibling_location = Location::new(1, [Parachain(SIBLING)]);
	// The executor's own check.
	assert!(!<configs::xcm_config::XcmConfig as polkadot_sdk::staging_xcm_executor::Config>::IsReserve::contains(
		&mnemo_here(UNIT),
		&sibling_location
	));

	let mut mnemo = mnemo_ext();
	let (dave_before, issuance_before) =
		mnemo.execute_with(|| (Balances::free_balance(dave()), Balances::total_issuance()));
	let forged = 1_000 * UNIT;
	deliver_to_mnemo(
		&mut mnemo,
		Xcm(vec![
			ReserveAssetDeposited(mnemo_here(forged).into()),
			ClearOrigin,
			BuyExecution {
				fees: mnemo_here(forged),
				weight_limit: WeightLimit::Unlimited,
			},
			DepositAsset {
				assets: Wild(AllCounted(1)),
				beneficiary: account32(&dave()),
			},
		]),
	);
	mnemo.execute_with(|| {
		assert_eq!(Balances::free_balance(dave()), dave_before);
		assert_eq!(
			Balances::total_issuance(),
			issuance_before,
			"no MNEMO was minted"
		);
		// The message queue reports the failure instead of silently dropping it.
		let failed = System::events().into_iter().any(|r| {
			matches!(
				r.event,
				RuntimeEvent::MessageQueue(pallet_message_queue::Event::ProcessingFailed {
					error: ProcessMessageError::Unsupported | ProcessMessageError::Overweight(_),
					..
				})
			)
		});
		let executed_with_error = System::events().into_iter().any(|r| {
			matches!(
				r.event,
				RuntimeEvent::MessageQueue(pallet_message_queue::Event::Processed {
					success: false,
					..
				})
			)
		});
		assert!(failed || executed_with_error, "{:?}", System::events());
	});
}

#[test]
fn a_sibling_transacts_as_its_sovereign_account() {
	let mut mnemo = mnemo_ext();
	let sovereign = sibling_sovereign_on_mnemo();
	mnemo.execute_with(|| {
		assert_eq!(
			configs::xcm_config::LocationToAccountId::convert_location(&Location::new(
				1,
				[Parachain(SIBLING)]
			)),
			Some(sovereign.clone())
		);
		assert_ok!(Balances::transfer_allow_death(
			RuntimeOrigin::signed(alice()),
			sovereign.clone().into(),
			10 * UNIT
		));
	});
	let remark = b"hello from parachain 2001".to_vec();
	let call = RuntimeCall::System(frame_system::Call::remark_with_event {
		remark: remark.clone(),
	});
	deliver_to_mnemo(
		&mut mnemo,
		Xcm(vec![
			WithdrawAsset(mnemo_here(UNIT).into()),
			BuyExecution {
				fees: mnemo_here(UNIT),
				weight_limit: WeightLimit::Unlimited,
			},
			Transact {
				origin_kind: OriginKind::SovereignAccount,
				fallback_max_weight: None,
				call: call.encode().into(),
			},
			RefundSurplus,
			DepositAsset {
				assets: Wild(AllCounted(1)),
				beneficiary: Location::new(1, [Parachain(SIBLING)]),
			},
		]),
	);
	mnemo.execute_with(|| {
		System::assert_has_event(
			frame_system::Event::Remarked {
				sender: sovereign.clone(),
				hash: polkadot_sdk::sp_io::hashing::blake2_256(&remark).into(),
			}
			.into(),
		);
		// It paid for its execution in MNEMO from its sovereign account, and got the rest back.
		let left = Balances::free_balance(&sovereign);
		assert!(left < 10 * UNIT && left > 9 * UNIT, "{left}");
	});
}

#[test]
fn a_sibling_opens_a_payment_channel_to_an_operator_over_xcm() {
	let mut mnemo = mnemo_ext();
	let sovereign = sibling_sovereign_on_mnemo();
	mnemo.execute_with(|| {
		assert_ok!(Balances::transfer_allow_death(
			RuntimeOrigin::signed(alice()),
			sovereign.clone().into(),
			100 * UNIT
		));
	});
	let transact = |call: RuntimeCall| Transact {
		origin_kind: OriginKind::SovereignAccount,
		fallback_max_weight: None,
		call: call.encode().into(),
	};
	let open = RuntimeCall::Rewards(pallet_rewards::Call::open_channel { operator: bob(), deposit: 50 * UNIT });
	let top_up = RuntimeCall::Rewards(pallet_rewards::Call::top_up { operator: bob(), amount: 5 * UNIT });
	deliver_to_mnemo(
		&mut mnemo,
		Xcm(vec![
			WithdrawAsset(mnemo_here(UNIT).into()),
			BuyExecution { fees: mnemo_here(UNIT), weight_limit: WeightLimit::Unlimited },
			transact(open),
			transact(top_up),
			RefundSurplus,
			DepositAsset { assets: Wild(AllCounted(1)), beneficiary: Location::new(1, [Parachain(SIBLING)]) },
		]),
	);
	mnemo.execute_with(|| {
		use mnemo_primitives::{BatchCharge, BatchEscrow};
		assert_eq!(Rewards::held_for_channels(&sovereign), 55 * UNIT);
		let channel = pallet_rewards::Channels::<Runtime>::get(&sovereign, bob()).expect("opened");
		assert_eq!(channel.balance, 55 * UNIT);
		System::assert_has_event(
			pallet_rewards::Event::ChannelOpened { payer: sovereign.clone(), operator: bob(), channel: 0, deposit: 50 * UNIT }.into(),
		);
		// The operator can now charge the sibling's inferences.
		let charge = BatchCharge { operator: bob(), payer: sovereign.clone(), amount: UNIT, channel: 0, seq: 1, cumulative: UNIT, receipts: 1, first_leaf: 0 };
		assert_ok!(<Rewards as BatchEscrow<_>>::charge(0, vec![charge]));
		assert_eq!(Rewards::held_for_channels(&sovereign), 54 * UNIT);
		Rewards::do_try_state().unwrap();
	});
}

use crate::{mock::*, *};
use mnemo_primitives::{ModelStage, ModelsInspect};
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::{traits::BadOrigin, Perbill},
};

#[test]
fn the_owner_deploys_an_evaluated_model_at_a_price() {
	build_and_execute(|| {
		let (id, _, k2, k3) = reported();
		assert_noop!(Models::deploy(RuntimeOrigin::signed(BUILDER), id, 5), Error::<Test>::IllegalTransition);
		assert_ok!(dispatch_authorized(attest_call(&k2, id, 1, metrics(3.0, 2.5))));
		assert_ok!(dispatch_authorized(attest_call(&k3, id, 1, metrics(3.0, 2.5))));
		assert_noop!(Models::deploy(RuntimeOrigin::signed(OTHER), id, 5), Error::<Test>::NotOwner);
		assert_noop!(Models::deploy(RuntimeOrigin::signed(BUILDER), id, 0), Error::<Test>::ZeroPrice);
		assert_ok!(Models::deploy(RuntimeOrigin::signed(BUILDER), id, 5));
		assert_eq!(last_event(), Event::ModelDeployed { model: id, adapter: 0, price_per_1k: 5 });
		assert_eq!(Adapters::<Test>::get(0).unwrap().price_per_1k, Some(5));
		assert_eq!(Models::deployed(), vec![(0, id, 5)]);
		assert_noop!(Models::deploy(RuntimeOrigin::signed(BUILDER), id, 5), Error::<Test>::IllegalTransition);
	});
}

#[test]
fn the_owner_changes_the_price_of_a_deployed_adapter() {
	build_and_execute(|| {
		let (_, adapter) = deployed();
		assert_noop!(Models::set_price(RuntimeOrigin::signed(OTHER), adapter, 9), Error::<Test>::NotOwner);
		assert_noop!(Models::set_price(RuntimeOrigin::signed(BUILDER), adapter, 0), Error::<Test>::ZeroPrice);
		assert_noop!(Models::set_price(RuntimeOrigin::signed(BUILDER), 7, 9), Error::<Test>::UnknownAdapter);
		assert_ok!(Models::set_price(RuntimeOrigin::signed(BUILDER), adapter, 9));
		assert_eq!(last_event(), Event::PriceSet { adapter, price_per_1k: 9 });
		assert_eq!(<Models as ModelsInspect<_>>::adapter_price_per_1k_tokens(adapter), Some(9));
	});
}

#[test]
fn the_owner_or_governance_retires_a_model_and_it_takes_no_new_inferences() {
	build_and_execute(|| {
		let (id, adapter) = deployed();
		assert_noop!(Models::retire(RuntimeOrigin::signed(OTHER), id), Error::<Test>::NotOwner);
		assert_ok!(Models::retire(RuntimeOrigin::signed(BUILDER), id));
		assert_eq!(last_event(), Event::ModelRetired { model: id, adapter: Some(adapter), by_owner: true });
		assert_eq!(<Models as ModelsInspect<_>>::adapter_price_per_1k_tokens(adapter), None);
		assert_eq!(<Models as ModelsInspect<_>>::model_stage(id), Some(ModelStage::Closed));
		assert!(Models::deployed().is_empty());
		assert_noop!(Models::set_price(RuntimeOrigin::signed(BUILDER), adapter, 9), Error::<Test>::NotDeployed);
		assert_noop!(Models::retire(RuntimeOrigin::signed(BUILDER), id), Error::<Test>::IllegalTransition);

		// Governance retires another model; a proposed model cannot be retired.
		let (id2, _) = deployed();
		assert_ok!(Models::retire(RuntimeOrigin::root(), id2));
		assert_eq!(last_event(), Event::ModelRetired { model: id2, adapter: Some(1), by_owner: false });
		let id3 = propose();
		assert_noop!(Models::retire(RuntimeOrigin::root(), id3), Error::<Test>::IllegalTransition);
		assert_noop!(Models::retire(RuntimeOrigin::none(), id3), BadOrigin);
	});
}

#[test]
fn other_pallets_read_adapters_through_the_seam() {
	build_and_execute(|| {
		let id = propose();
		assert_eq!(<Models as ModelsInspect<_>>::model_stage(id), Some(ModelStage::Proposed));
		let (id, adapter) = deployed();
		type I = Models;
		assert_eq!(<I as ModelsInspect<_>>::model_stage(id), Some(ModelStage::Deployed));
		assert_eq!(<I as ModelsInspect<_>>::adapter_model(adapter), Some(id));
		assert_eq!(<I as ModelsInspect<_>>::adapter_owner(adapter), Some(BUILDER));
		assert_eq!(<I as ModelsInspect<_>>::adapter_price_per_1k_tokens(adapter), Some(5));
		assert_eq!(<I as ModelsInspect<_>>::adapter_hash(adapter), Some(adapter_hash()));
		assert_eq!(<I as ModelsInspect<_>>::training_datanets(adapter), vec![(0, 1)]);
		assert_eq!(<I as ModelsInspect<_>>::adapter_owner(9), None);
		assert!(<I as ModelsInspect<_>>::training_datanets(9).is_empty());
		assert_eq!(<I as ModelsInspect<_>>::model_stage(99), None);
	});
}

#[test]
fn views_show_a_model_with_its_history_and_adapters_by_datanet() {
	build_and_execute(|| {
		let (id, adapter) = deployed();
		let (m, history, job) = Models::model(id).unwrap();
		assert_eq!(m.stage, Stage::Deployed);
		assert_eq!(
			history.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
			vec![Stage::Proposed, Stage::Approved, Stage::Training, Stage::Trained, Stage::Evaluated, Stage::Deployed]
		);
		assert_eq!(job, None);
		assert_eq!(Models::adapter(adapter).unwrap().model, id);
		assert_eq!(Models::adapters_by_datanet(0), vec![(adapter, 1)]);
		assert!(Models::adapters_by_datanet(1).is_empty());
		assert!(Models::model(42).is_none());
		let queued = approved();
		assert_eq!(Models::queued_jobs(), vec![queued]);
	});
}

#[test]
fn history_keeps_the_newest_changes() {
	build_and_execute(|| {
		let id = approved();
		let k = trainer(T1);
		// Time out again and again (max_attempts raised), each adding two entries.
		let mut s = settings();
		s.max_attempts = 10;
		s.timeout_slash = Perbill::zero();
		assert_ok!(Models::set_settings(RuntimeOrigin::root(), s));
		for attempt in 1..=4 {
			assert_ok!(dispatch_authorized(claim_call(&k, id, attempt)));
			run_to_block(System::block_number() + 10);
		}
		let h = History::<Test>::get(id);
		assert_eq!(h.len() as u32, MAX_HISTORY);
		assert_eq!(h.last().unwrap().0, Stage::Approved);
		assert_ne!(h.first().unwrap().0, Stage::Proposed, "the oldest entries gave way");
	});
}

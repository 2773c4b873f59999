use crate::{mock::*, *};
use mnemo_primitives::ContentHash;
use polkadot_sdk::{
	frame_support::{assert_noop, assert_ok},
	sp_runtime::{traits::BadOrigin, Perbill, TokenError},
};

#[test]
fn a_builder_proposes_a_model_with_a_bond_and_a_governance_proposal() {
	build_and_execute(|| {
		let id = propose();
		assert_eq!(id, 0);
		assert_eq!(held(HoldReason::ModelBond, BUILDER), MODEL_BOND);
		let m = ModelRecords::<Test>::get(id).unwrap();
		assert_eq!((m.owner, m.stage, m.bond, m.proposal, m.attempt), (BUILDER, Stage::Proposed, MODEL_BOND, 0, 0));
		assert_eq!(m.spec, spec());
		assert_eq!(ByProposal::<Test>::get(0), Some(id));
		assert_eq!(History::<Test>::get(id).into_inner(), vec![(Stage::Proposed, 1)]);
		// The proposal's call approves exactly this model.
		let (pid, proposer, call, _) = Open::get().pop().unwrap();
		assert_eq!((pid, proposer), (0, BUILDER));
		assert_eq!(call, RuntimeCall::Models(crate::Call::approve_model { model: id }));
		assert_eq!(
			last_event(),
			Event::ModelProposed {
				model: id,
				owner: BUILDER,
				proposal: 0,
				bond: MODEL_BOND,
				base_model: bounded("smollm2-135m"),
				datanets: spec().datanets,
			}
		);
		assert_eq!(NextModelId::<Test>::get(), 1);
	});
}

#[test]
fn propose_refuses_bad_specs_each_with_its_own_error() {
	build_and_execute(|| {
		let refused = |f: &dyn Fn(&mut ModelSpec<Test>), err: Error<Test>| {
			let mut s = spec();
			f(&mut s);
			assert_noop!(Models::propose_model(RuntimeOrigin::signed(BUILDER), s), err);
		};
		refused(&|s| s.base_model = bounded(""), Error::NoBaseModel);
		refused(&|s| s.datanets = Default::default(), Error::NoDatanets);
		refused(&|s| s.datanets = vec![(0, 1), (0, 1)].try_into().unwrap(), Error::DuplicateDatanet);
		refused(&|s| s.datanets = vec![(0, 1), (0, 2)].try_into().unwrap(), Error::DuplicateDatanet);
		refused(&|s| s.datanets = vec![(0, 2)].try_into().unwrap(), Error::UnknownDatanetVersion);
		refused(&|s| s.datanets = vec![(5, 1)].try_into().unwrap(), Error::UnknownDatanetVersion);
		refused(&|s| s.lora.rank = 0, Error::BadRank);
		refused(&|s| s.lora.rank = 65, Error::BadRank);
		refused(&|s| s.lora.alpha = 0, Error::BadRank);
		refused(&|s| s.lora.epochs = 0, Error::BadEpochs);
		refused(&|s| s.lora.epochs = 11, Error::BadEpochs);
		refused(&|s| s.lora.learning_rate = Perbill::zero(), Error::BadLearningRate);
		refused(&|s| s.lora.targets = Default::default(), Error::BadTargets);
		refused(&|s| s.lora.targets = vec![Target::Q, Target::Q].try_into().unwrap(), Error::BadTargets);
		refused(&|s| s.eval.holdout = Perbill::zero(), Error::BadEvalSpec);
		refused(&|s| s.eval.holdout = Perbill::one(), Error::BadEvalSpec);
		refused(&|s| s.eval.tolerance = Perbill::one(), Error::BadEvalSpec);
		refused(&|s| s.parent = Some(0), Error::BadParent);
		assert_noop!(Models::propose_model(RuntimeOrigin::root(), spec()), BadOrigin);
		// The bond must be there.
		assert_noop!(
			Models::propose_model(RuntimeOrigin::signed(POOR), spec()),
			TokenError::FundsUnavailable
		);
		// Two datanets, each once, is fine.
		let mut s = spec();
		s.datanets = vec![(0, 1), (1, 2)].try_into().unwrap();
		assert_ok!(Models::propose_model(RuntimeOrigin::signed(BUILDER), s));
	});
}

#[test]
fn a_new_version_names_a_parent_adapter_of_the_same_builder_and_base() {
	build_and_execute(|| {
		let (_, adapter) = deployed();
		let mut s = spec();
		s.parent = Some(adapter);
		assert_noop!(Models::propose_model(RuntimeOrigin::signed(OTHER), s.clone()), Error::<Test>::BadParent);
		let mut other_base = s.clone();
		other_base.base_model = bounded("llama-3-8b");
		assert_noop!(Models::propose_model(RuntimeOrigin::signed(BUILDER), other_base), Error::<Test>::BadParent);
		assert_ok!(Models::propose_model(RuntimeOrigin::signed(BUILDER), s));
	});
}

#[test]
fn approval_returns_the_bond_and_queues_the_job() {
	build_and_execute(|| {
		let id = propose();
		assert_noop!(Models::approve_model(RuntimeOrigin::signed(BUILDER), id), BadOrigin);
		run_to_block(3);
		assert_ok!(enact(0));
		assert_eq!(last_event(), Event::ModelApproved { model: id, returned: MODEL_BOND });
		assert_eq!(held(HoldReason::ModelBond, BUILDER), 0);
		assert_eq!(free(BUILDER), START);
		let m = ModelRecords::<Test>::get(id).unwrap();
		assert_eq!((m.stage, m.bond, m.attempt), (Stage::Approved, 0, 1));
		assert_eq!(Jobs::<Test>::get(id), Some(Job::Queued));
		assert!(Queue::<Test>::contains_key(id));
		assert!(ByProposal::<Test>::get(0).is_none());
		assert_eq!(History::<Test>::get(id).into_inner(), vec![(Stage::Proposed, 1), (Stage::Approved, 3)]);
		// Approving twice is an illegal transition.
		assert_noop!(Models::approve_model(RuntimeOrigin::root(), id), Error::<Test>::IllegalTransition);
		assert_noop!(Models::approve_model(RuntimeOrigin::root(), 9), Error::<Test>::UnknownModel);
	});
}

#[test]
fn a_failed_proposal_rejects_the_model_and_slashes_the_bond() {
	build_and_execute(|| {
		let id = propose();
		let treasury = free(TREASURY);
		// What governance calls when the proposal is rejected or cancelled.
		<Models as mnemo_primitives::governance::ProposalFailed>::proposal_failed(0);
		assert_eq!(last_event(), Event::ModelRejected { model: id, owner: BUILDER, slashed: MODEL_BOND });
		assert_eq!(free(TREASURY), treasury + MODEL_BOND);
		assert_eq!(free(BUILDER), START - MODEL_BOND);
		assert_eq!(held(HoldReason::ModelBond, BUILDER), 0);
		assert_eq!(ModelRecords::<Test>::get(id).unwrap().stage, Stage::Rejected);
		assert!(Jobs::<Test>::get(id).is_none());
		// A failure of a proposal no model is waiting for changes nothing.
		let before = events().len();
		<Models as mnemo_primitives::governance::ProposalFailed>::proposal_failed(7);
		assert_eq!(events().len(), before);
		// Governance can also reject directly.
		let id = propose();
		assert_ok!(Models::reject_model(RuntimeOrigin::root(), id));
		assert_eq!(ModelRecords::<Test>::get(id).unwrap().stage, Stage::Rejected);
		assert_noop!(Models::reject_model(RuntimeOrigin::root(), id), Error::<Test>::IllegalTransition);
	});
}

#[test]
fn the_builder_withdraws_before_approval_and_gets_the_bond_back() {
	build_and_execute(|| {
		let id = propose();
		assert_noop!(Models::withdraw_model(RuntimeOrigin::signed(OTHER), id), Error::<Test>::NotOwner);
		assert_noop!(Models::withdraw_model(RuntimeOrigin::signed(BUILDER), 5), Error::<Test>::UnknownModel);
		assert_ok!(Models::withdraw_model(RuntimeOrigin::signed(BUILDER), id));
		assert_eq!(last_event(), Event::ModelWithdrawn { model: id, owner: BUILDER, returned: MODEL_BOND });
		assert_eq!(free(BUILDER), START);
		assert!(Open::get().is_empty(), "the proposal was withdrawn");
		assert_eq!(ModelRecords::<Test>::get(id).unwrap().stage, Stage::Withdrawn);
		assert_noop!(Models::withdraw_model(RuntimeOrigin::signed(BUILDER), id), Error::<Test>::IllegalTransition);

		// Once the proposal passed, it is too late: governance's error comes through.
		let id = propose();
		pass(1);
		assert_noop!(
			Models::withdraw_model(RuntimeOrigin::signed(BUILDER), id),
			polkadot_sdk::sp_runtime::DispatchError::Other("proposal already passed")
		);
		// And after approval, too.
		assert_ok!(enact(1));
		assert_noop!(Models::withdraw_model(RuntimeOrigin::signed(BUILDER), id), Error::<Test>::IllegalTransition);
	});
}

#[test]
fn texts_may_be_inline_or_a_content_hash() {
	build_and_execute(|| {
		let mut s = spec();
		s.purpose = Text::Hash(ContentHash::of(b"purpose.md"));
		s.use_case = Text::Inline(bounded("Tutoring for drama students."));
		assert_ok!(Models::propose_model(RuntimeOrigin::signed(BUILDER), s.clone()));
		assert_eq!(ModelRecords::<Test>::get(0).unwrap().spec, s);
	});
}

#[test]
fn the_lifecycle_allows_only_its_arrows() {
	use Stage::*;
	let all = [Proposed, Approved, Training, Trained, Evaluated, Deployed, Retired, Rejected, Withdrawn, Failed];
	let allowed = [
		(Proposed, Approved),
		(Proposed, Rejected),
		(Proposed, Withdrawn),
		(Approved, Training),
		(Training, Trained),
		(Training, Approved),
		(Training, Failed),
		(Trained, Evaluated),
		(Trained, Approved),
		(Trained, Failed),
		(Evaluated, Deployed),
		(Evaluated, Retired),
		(Deployed, Retired),
	];
	for from in all {
		for to in all {
			assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from:?} -> {to:?}");
		}
	}
}

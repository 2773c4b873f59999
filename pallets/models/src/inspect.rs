//! What other pallets may ask about models and adapters (the `ModelsInspect` seam).

use crate::{pallet::*, types::BalanceOf};
use alloc::vec::Vec;
use mnemo_primitives::{
	AdapterId, Balance, ContentHash, DatanetId, DatanetVersion, ModelId, ModelStage, ModelsInspect,
};

impl<T: Config> ModelsInspect<T::AccountId> for Pallet<T>
where
	BalanceOf<T>: Into<Balance>,
{
	fn adapter_model(adapter: AdapterId) -> Option<ModelId> {
		Adapters::<T>::get(adapter).map(|a| a.model)
	}

	fn model_stage(model: ModelId) -> Option<ModelStage> {
		ModelRecords::<T>::get(model).map(|m| m.stage.public())
	}

	fn adapter_owner(adapter: AdapterId) -> Option<T::AccountId> {
		Adapters::<T>::get(adapter).map(|a| a.owner)
	}

	/// `None` unless the adapter is deployed: retired adapters take no new inferences.
	fn adapter_price_per_1k_tokens(adapter: AdapterId) -> Option<Balance> {
		if !Deployed::<T>::contains_key(adapter) {
			return None;
		}
		Adapters::<T>::get(adapter)?.price_per_1k.map(Into::into)
	}

	fn adapter_hash(adapter: AdapterId) -> Option<ContentHash> {
		Adapters::<T>::get(adapter).map(|a| a.artifact)
	}

	fn training_datanets(adapter: AdapterId) -> Vec<(DatanetId, DatanetVersion)> {
		Adapters::<T>::get(adapter).map(|a| a.datanets.into_inner()).unwrap_or_default()
	}
}

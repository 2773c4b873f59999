//! What other pallets may ask about datanets (the `DatanetsInspect` seam).

use crate::{pallet::*, types::Status};
use alloc::vec::Vec;
use mnemo_primitives::{
	ContentHash, ContributionId, DatanetId, DatanetVersion, DatanetsInspect, Reputation,
};

impl<T: Config> DatanetsInspect<T::AccountId> for Pallet<T> {
	fn version_exists(datanet: DatanetId, version: DatanetVersion) -> bool {
		version >= 1 && Versions::<T>::contains_key(datanet, version)
	}

	fn is_in_version(
		datanet: DatanetId,
		version: DatanetVersion,
		contribution: ContributionId,
	) -> bool {
		Self::version_exists(datanet, version) &&
			Contributions::<T>::get(contribution)
				.is_some_and(|c| c.datanet == datanet && c.in_version(version))
	}

	fn contributor(contribution: ContributionId) -> Option<T::AccountId> {
		Contributions::<T>::get(contribution).map(|c| c.contributor)
	}

	fn datanet_owner(datanet: DatanetId) -> Option<T::AccountId> {
		Registry::<T>::get(datanet).map(|d| d.owner)
	}

	fn earns_credit(contribution: ContributionId) -> bool {
		Contributions::<T>::get(contribution).is_some_and(|c| c.status == Status::Approved)
	}

	fn reputation(datanet: DatanetId, who: &T::AccountId) -> Reputation {
		let s = Stats::<T>::get(datanet, who);
		Reputation { approved: s.approved, rejected: s.rejected, removed: s.removed }
	}

	fn version_contributions(
		datanet: DatanetId,
		version: DatanetVersion,
	) -> Vec<(ContributionId, ContentHash)> {
		if !Self::version_exists(datanet, version) {
			return Vec::new();
		}
		Self::version_members(datanet, version)
	}
}

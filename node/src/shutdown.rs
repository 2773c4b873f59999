//! A clean stop: the database is closed before `main` returns.
//!
//! Offchain workers run on `sc-offchain`'s own thread pool, not on the tokio runtime, so
//! stopping the runtime neither waits for them nor cancels them. A worker that is running at
//! shutdown (one waiting on the engine, say) keeps the client, the offchain database and the
//! transaction pool — and through them RocksDB — alive. If `main` returned then, RocksDB's
//! background threads met the C++ static destructors and the process aborted
//! ("pthread lock: Invalid argument", SIGABRT).
//!
//! So everything the workers get is wrapped in [`Tracked`], which holds a token of one shared
//! [`InFlight`] counter, and after the node's tasks have stopped, [`InFlight::wait`] blocks until
//! every token is gone. A [`Tracked`] drops what it wraps before its token, so when the count
//! reaches zero the workers' references — and the last one to the database, if theirs was it —
//! have been dropped already.

use std::{
	sync::Arc,
	time::{Duration, Instant},
};

use sc_transaction_pool_api::{LocalTransactionFor, LocalTransactionPool};
use sp_api::{ApiRef, ProvideRuntimeApi};
use sp_runtime::traits::Block as BlockT;

/// Counts the live [`Tracked`] values handed out by one node. Not `Clone`: its own reference is
/// the one [`InFlight::count`] leaves out.
#[derive(Default)]
pub struct InFlight(Arc<()>);

impl InFlight {
	pub fn new() -> Self {
		Self::default()
	}

	/// Wrap `inner`; the count includes it until it and all its clones are dropped.
	pub fn track<T>(&self, inner: T) -> Tracked<T> {
		Tracked { inner, _token: self.0.clone() }
	}

	/// How many tracked values are alive.
	pub fn count(&self) -> usize {
		Arc::strong_count(&self.0) - 1
	}

	/// Block until no tracked value is alive, or `timeout` passes. Returns whether all were
	/// dropped.
	pub fn wait(&self, timeout: Duration) -> bool {
		let start = Instant::now();
		let mut told = false;
		while self.count() > 0 {
			if start.elapsed() >= timeout {
				log::warn!(
					"{} offchain worker handle(s) still alive after {timeout:?}; exiting anyway",
					self.count()
				);
				return false;
			}
			if !told {
				log::info!("⏳ Waiting for running offchain workers to finish");
				told = true;
			}
			std::thread::sleep(Duration::from_millis(20));
		}
		if told {
			log::info!("Offchain workers finished after {:?}", start.elapsed());
		}
		true
	}
}

/// A value that counts as in flight in its [`InFlight`] while it lives.
pub struct Tracked<T> {
	// Field order is drop order: `inner` goes first, then the token.
	inner: T,
	_token: Arc<()>,
}

impl<T: Clone> Clone for Tracked<T> {
	fn clone(&self) -> Self {
		Self { inner: self.inner.clone(), _token: self._token.clone() }
	}
}

impl<Block: BlockT, T: ProvideRuntimeApi<Block>> ProvideRuntimeApi<Block> for Tracked<Arc<T>> {
	type Api = T::Api;

	fn runtime_api(&self) -> ApiRef<'_, Self::Api> {
		self.inner.runtime_api()
	}
}

impl<T: sp_core::offchain::OffchainStorage> sp_core::offchain::OffchainStorage for Tracked<T> {
	fn set(&mut self, prefix: &[u8], key: &[u8], value: &[u8]) {
		self.inner.set(prefix, key, value)
	}

	fn remove(&mut self, prefix: &[u8], key: &[u8]) {
		self.inner.remove(prefix, key)
	}

	fn get(&self, prefix: &[u8], key: &[u8]) -> Option<Vec<u8>> {
		self.inner.get(prefix, key)
	}

	fn compare_and_set(
		&mut self,
		prefix: &[u8],
		item_key: &[u8],
		old_value: Option<&[u8]>,
		new_value: &[u8],
	) -> bool {
		self.inner.compare_and_set(prefix, item_key, old_value, new_value)
	}
}

impl<T: LocalTransactionPool> LocalTransactionPool for Tracked<T> {
	type Block = T::Block;
	type Hash = T::Hash;
	type Error = T::Error;

	fn submit_local(
		&self,
		at: <Self::Block as BlockT>::Hash,
		xt: LocalTransactionFor<Self>,
	) -> Result<Self::Hash, Self::Error> {
		self.inner.submit_local(at, xt)
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	struct NoteDrop(Arc<std::sync::Mutex<Vec<&'static str>>>);
	impl Drop for NoteDrop {
		fn drop(&mut self) {
			self.0.lock().unwrap().push("inner");
		}
	}

	#[test]
	fn the_count_follows_tracked_values_and_their_clones() {
		let in_flight = InFlight::new();
		assert_eq!(in_flight.count(), 0);
		let a = in_flight.track(1u8);
		let b = a.clone();
		assert_eq!(in_flight.count(), 2);
		drop(a);
		assert_eq!(in_flight.count(), 1);
		drop(b);
		assert_eq!(in_flight.count(), 0);
		assert!(in_flight.wait(Duration::ZERO));
	}

	#[test]
	fn the_wrapped_value_is_dropped_before_the_count_goes_down() {
		let in_flight = InFlight::new();
		let log = Arc::new(std::sync::Mutex::new(Vec::new()));
		let tracked = in_flight.track(NoteDrop(log.clone()));
		std::thread::scope(|s| {
			let watcher = s.spawn(|| {
				assert!(in_flight.wait(Duration::from_secs(10)));
				log.lock().unwrap().clone()
			});
			s.spawn(move || {
				std::thread::sleep(Duration::from_millis(50));
				drop(tracked);
			});
			assert_eq!(watcher.join().unwrap(), vec!["inner"]);
		});
	}

	#[test]
	fn wait_gives_up_after_its_timeout() {
		let in_flight = InFlight::new();
		let _held = in_flight.track(());
		assert!(!in_flight.wait(Duration::from_millis(30)));
	}
}

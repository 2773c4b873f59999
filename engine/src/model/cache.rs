//! Keys and values of past positions, allocated once and written in place.
//!
//! [`KvCache`] holds, per layer, K and V as `[rows, kv_heads, positions, head_dim]` tensors made
//! at their full size up front. A forward pass writes its new positions into them (an in-place
//! `slice_assign`: the cache is the only owner of its buffers between passes) and attends over a
//! `narrow` view of the filled positions, so a decode step copies nothing of the past: no
//! per-token `cat` of the whole cache, no allocation after the first.
//!
//! Generation over a batch of equal rows uses one cache of `rows` rows. Serving uses one cache
//! of a single row as an arena: [`KvArena`] hands each request a contiguous [`KvSpan`] of
//! positions (its prompt and its `max_tokens`) from a fixed memory budget, and takes it back
//! when the request ends. A request that does not fit waits; nothing is allocated per request.

use crate::{
	error::{Error, Result},
	model::Config,
};
use burn::tensor::{Device, Tensor};
use std::collections::BTreeMap;

/// Preallocated keys and values, per layer `[rows, kv_heads, positions, head_dim]`.
pub struct KvCache {
	layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
	rows: usize,
	positions: usize,
	/// Positions filled (generation: the same for every row; the arena keeps it per span).
	pub len: usize,
}

impl KvCache {
	/// A cache for `rows` sequences of up to `positions` positions each.
	pub fn new(config: &Config, rows: usize, positions: usize, device: &Device) -> Self {
		let shape = [rows, config.kv_heads, positions, config.head_dim];
		let layers = (0..config.layers).map(|_| Some((Tensor::zeros(shape, device), Tensor::zeros(shape, device)))).collect();
		KvCache { layers, rows, positions, len: 0 }
	}

	/// Bytes one position of one row takes (keys and values of every layer, f32).
	pub fn bytes_per_position(config: &Config) -> u64 {
		(config.layers * 2 * config.kv_heads * config.head_dim * 4) as u64
	}

	pub fn positions(&self) -> usize {
		self.positions
	}

	pub fn rows(&self) -> usize {
		self.rows
	}

	/// Writes `k`, `v` (`[rows, kv_heads, t, head_dim]`) at positions `at..at + t` of layer `l`
	/// and returns views of positions `from..at + t` (no copy).
	pub(crate) fn write(&mut self, l: usize, at: usize, from: usize, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
		let [r, kv, t, d] = k.dims();
		assert!(r == self.rows && at + t <= self.positions && from <= at, "callers keep writes inside the cache");
		let (ks, vs) = self.layers[l].take().expect("every layer is allocated and put back");
		let ks = ks.slice_assign([0..r, 0..kv, at..at + t, 0..d], k);
		let vs = vs.slice_assign([0..r, 0..kv, at..at + t, 0..d], v);
		let views = (ks.clone().narrow(2, from, at + t - from), vs.clone().narrow(2, from, at + t - from));
		self.layers[l] = Some((ks, vs));
		views
	}
}

/// A request's positions in a [`KvArena`]: `start..start + cap`, the first `len` filled. Not
/// `Clone`: a span goes back to its arena once.
#[derive(Debug)]
pub struct KvSpan {
	start: usize,
	cap: usize,
	pub len: usize,
}

impl KvSpan {
	pub fn start(&self) -> usize {
		self.start
	}

	pub fn cap(&self) -> usize {
		self.cap
	}
}

/// Serving's KV memory: one single-row [`KvCache`] whose positions are lent out as contiguous
/// spans (first fit; freed spans merge with their free neighbours).
pub struct KvArena {
	pub cache: KvCache,
	/// Free ranges: start → length.
	free: BTreeMap<usize, usize>,
}

impl KvArena {
	/// An arena of as many positions as `budget` bytes hold, and no more than `most` (there is
	/// no use for more than the batch's full contexts). Errors when the budget holds no position.
	pub fn new(config: &Config, budget: u64, most: usize, device: &Device) -> Result<Self> {
		let positions = Self::positions(config, budget, most);
		if positions == 0 {
			return Err(Error::bad(format!(
				"a KV budget of {budget} bytes holds no position ({} bytes each)",
				KvCache::bytes_per_position(config)
			)));
		}
		Ok(KvArena { cache: KvCache::new(config, 1, positions, device), free: BTreeMap::from([(0, positions)]) })
	}

	/// Positions an arena of `budget` bytes, and at most `most` positions, has.
	pub fn positions(config: &Config, budget: u64, most: usize) -> usize {
		((budget / KvCache::bytes_per_position(config)) as usize).min(most)
	}

	/// Positions the arena has.
	pub fn capacity(&self) -> usize {
		self.cache.positions
	}

	/// Positions not lent out.
	pub fn free_positions(&self) -> usize {
		self.free.values().sum()
	}

	/// A span of `positions`, from the first free range that holds it; `None` when none does.
	pub fn reserve(&mut self, positions: usize) -> Option<KvSpan> {
		if positions == 0 {
			return None;
		}
		let (&start, &len) = self.free.iter().find(|(_, &len)| len >= positions)?;
		self.free.remove(&start);
		if len > positions {
			self.free.insert(start + positions, len - positions);
		}
		Some(KvSpan { start, cap: positions, len: 0 })
	}

	/// Gives `span` back, merged with the free ranges it touches.
	pub fn release(&mut self, span: KvSpan) {
		let (mut start, mut len) = (span.start, span.cap);
		if let Some((&s, &l)) = self.free.range(..start).next_back() {
			if s + l == start {
				self.free.remove(&s);
				start = s;
				len += l;
			}
		}
		if let Some(l) = self.free.remove(&(start + len)) {
			len += l;
		}
		self.free.insert(start, len);
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn spans_are_first_fit_and_freed_ranges_merge() {
		let config = Config::tiny(64);
		let device = Device::default();
		let per = KvCache::bytes_per_position(&config);
		let mut arena = KvArena::new(&config, per * 100, 1000, &device).unwrap();
		assert_eq!(arena.capacity(), 100);
		assert_eq!(KvArena::new(&config, per * 100, 40, &device).unwrap().capacity(), 40, "never more than `most`");
		assert!(KvArena::new(&config, per - 1, 40, &device).is_err());
		let a = arena.reserve(30).unwrap();
		let b = arena.reserve(30).unwrap();
		let c = arena.reserve(30).unwrap();
		assert_eq!((a.start(), b.start(), c.start()), (0, 30, 60));
		assert!(arena.reserve(11).is_none(), "10 positions are left");
		arena.release(b);
		assert!(arena.reserve(31).is_none(), "the freed range is 30 long and apart from the last 10");
		arena.release(c);
		assert_eq!(arena.free, BTreeMap::from([(30, 70)]), "c merged with b's range and the tail");
		arena.release(a);
		assert_eq!(arena.free, BTreeMap::from([(0, 100)]));
		assert_eq!(arena.reserve(100).unwrap().cap(), 100);
		assert!(arena.reserve(0).is_none());
	}
}

//! The adapter bank: every resident adapter's low-rank weights in one stacked tensor per
//! projection, `A: [slots + 1, in, R]` and `B: [slots + 1, R, out]` (the scale folded into B,
//! ranks below `R` zero-padded, slot 0 all zeros for rows on the base model), as S-LoRA's
//! unified pool keeps them. A batch's low-rank update is then one gather of each row's slot and
//! one batched matmul pair per projection, whatever mix of adapters the batch holds (Punica's
//! BGMV), never a loop over requests and never a merge into the base weights.
//!
//! Slots are an LRU cache under a memory budget: an adapter is written into a free slot on first
//! use and stays until a newer one needs the slot; a slot in use by a running request is never
//! taken.

use crate::{
	error::{Error, Result},
	model::lora::{Lora, Target},
	model::{Config, LowRank, ToHost},
};
use burn::tensor::{Device, Int, Tensor, TensorData};
use mnemo_primitives::ContentHash;
use std::{
	collections::{BTreeMap, HashMap},
	sync::{
		atomic::{AtomicU64, Ordering},
		Arc,
	},
};

/// An adapter's weights on the host, ready to be written into a slot.
pub struct HostAdapter {
	pub hash: ContentHash,
	pub rank: usize,
	pub targets: Vec<Target>,
	/// Per (layer, target) in layer-major [`Lora`] order: `A` `[in, rank]` and `scale · B`
	/// `[rank, out]`, row-major.
	modules: Vec<(usize, Target, Vec<f32>, Vec<f32>)>,
}

impl HostAdapter {
	/// From `adapter_model.safetensors` bytes (as the blob store holds them) for a model of
	/// `config`.
	pub fn from_safetensors(hash: ContentHash, bytes: &[u8], config: &Config, device: &Device) -> Result<Self> {
		let lora = Lora::from_safetensors(bytes, None, config, device)?;
		Ok(Self::from_lora(hash, &lora, config.layers))
	}

	pub fn from_lora(hash: ContentHash, lora: &Lora, layers: usize) -> Self {
		let scale = lora.config.scale() as f32;
		let mut modules = Vec::new();
		let mut pairs = lora.weights.pairs.iter();
		for layer in 0..layers {
			for &t in &lora.config.targets {
				let p = pairs.next().expect("one pair per layer and target");
				let b: Vec<f32> = p.b.val().to_host().into_iter().map(|v| v * scale).collect();
				modules.push((layer, t, p.a.val().to_host(), b));
			}
		}
		HostAdapter { hash, rank: lora.config.rank, targets: lora.config.targets.clone(), modules }
	}
}

fn module_index(layer: usize, t: Target) -> usize {
	layer * Target::ALL.len() + t.index()
}

struct Entry {
	slot: usize,
	last_used: u64,
	/// Running requests using the slot.
	pins: usize,
}

/// Counters of the bank, for `/metrics` and the benchmark.
#[derive(Default)]
pub struct BankStats {
	pub loads: AtomicU64,
	pub hits: AtomicU64,
	pub evictions: AtomicU64,
	/// Gathered low-rank matmul pairs run (one per adapted projection per forward pass).
	pub gathered_matmuls: AtomicU64,
}

pub struct LoraBank {
	config: Config,
	rank: usize,
	slots: usize,
	device: Device,
	/// Per (layer, target): the stacked `A` and `B`, allocated when the first adapter that
	/// targets it is written.
	modules: Vec<Option<(Tensor<3>, Tensor<3>)>>,
	/// Which targets the adapter in each slot adapts (slot 0: none).
	slot_targets: Vec<[bool; 7]>,
	entries: BTreeMap<ContentHash, Entry>,
	free: Vec<usize>,
	clock: u64,
	/// Shared with the scheduler's [`super::ServeStats`], which `/metrics` reads.
	pub stats: Arc<BankStats>,
}

impl LoraBank {
	/// Bytes one slot takes when every projection of `config` is adapted at `rank`.
	pub fn slot_bytes(config: &Config, rank: usize) -> u64 {
		let per_layer: usize = Target::ALL.iter().map(|t| config.dims(*t)).map(|(i, o)| (i + o) * rank).sum();
		(per_layer * config.layers * 4) as u64
	}

	/// A bank of as many slots as `budget` bytes hold at `rank` (at least one).
	pub fn new(config: &Config, rank: usize, budget: u64, device: &Device) -> Result<Self> {
		if rank == 0 || rank > crate::model::lora::MAX_RANK {
			return Err(Error::bad(format!("serving rank {rank} is out of range 1..={}", crate::model::lora::MAX_RANK)));
		}
		let slots = (budget / Self::slot_bytes(config, rank)).max(1) as usize;
		Ok(LoraBank {
			config: config.clone(),
			rank,
			slots,
			device: device.clone(),
			modules: vec![None; config.layers * Target::ALL.len()],
			slot_targets: vec![[false; 7]; slots + 1],
			entries: BTreeMap::new(),
			free: (1..=slots).rev().collect(),
			clock: 0,
			stats: Arc::default(),
		})
	}

	pub fn capacity(&self) -> usize {
		self.slots
	}

	pub fn rank(&self) -> usize {
		self.rank
	}

	/// Resident adapters, least recently used first.
	pub fn resident(&self) -> Vec<ContentHash> {
		let mut v: Vec<_> = self.entries.iter().map(|(h, e)| (e.last_used, *h)).collect();
		v.sort();
		v.into_iter().map(|(_, h)| h).collect()
	}

	pub fn contains(&self, hash: &ContentHash) -> bool {
		self.entries.contains_key(hash)
	}

	/// Bytes the allocated stacks take per slot.
	pub fn bytes_per_slot(&self) -> u64 {
		self.modules
			.iter()
			.flatten()
			.map(|(a, b)| (a.dims()[1] * a.dims()[2] + b.dims()[1] * b.dims()[2]) as u64 * 4)
			.sum()
	}

	/// The slot of `hash`, pinned for one running request: a hit, or the adapter `load` gives
	/// written into a free or least recently used unpinned slot. `Ok(None)` when every slot is
	/// pinned (the request waits for one to be released).
	pub fn acquire(&mut self, hash: ContentHash, load: impl FnOnce() -> Result<HostAdapter>) -> Result<Option<usize>> {
		self.clock += 1;
		if let Some(e) = self.entries.get_mut(&hash) {
			e.pins += 1;
			e.last_used = self.clock;
			self.stats.hits.fetch_add(1, Ordering::Relaxed);
			return Ok(Some(e.slot));
		}
		let slot = match self.free.pop() {
			Some(s) => s,
			None => {
				let Some(victim) =
					self.entries.iter().filter(|(_, e)| e.pins == 0).min_by_key(|(_, e)| e.last_used).map(|(h, _)| *h)
				else {
					return Ok(None);
				};
				let e = self.entries.remove(&victim).expect("present");
				self.stats.evictions.fetch_add(1, Ordering::Relaxed);
				e.slot
			},
		};
		let adapter = match load() {
			Ok(a) => a,
			Err(e) => {
				self.free.push(slot);
				return Err(e);
			},
		};
		if let Err(e) = self.write(slot, &adapter) {
			self.free.push(slot);
			return Err(e);
		}
		self.stats.loads.fetch_add(1, Ordering::Relaxed);
		self.entries.insert(hash, Entry { slot, last_used: self.clock, pins: 1 });
		Ok(Some(slot))
	}

	/// Releases one pin of `hash` taken by [`Self::acquire`].
	pub fn release(&mut self, hash: &ContentHash) {
		if let Some(e) = self.entries.get_mut(hash) {
			e.pins = e.pins.saturating_sub(1);
		}
	}

	fn write(&mut self, slot: usize, a: &HostAdapter) -> Result<()> {
		if a.rank > self.rank {
			return Err(Error::bad(format!(
				"adapter {} has rank {}, above this server's serving rank {}",
				a.hash.to_hex(), a.rank, self.rank
			)));
		}
		let (r, big_r) = (a.rank, self.rank);
		let mut targets = [false; 7];
		for t in &a.targets {
			targets[t.index()] = true;
		}
		let mut data: HashMap<usize, (&[f32], &[f32])> = HashMap::new();
		for (layer, t, av, bv) in &a.modules {
			data.insert(module_index(*layer, *t), (av, bv));
		}
		for layer in 0..self.config.layers {
			for t in Target::ALL {
				let m = module_index(layer, t);
				let (i, o) = self.config.dims(t);
				let given = data.get(&m);
				if given.is_none() && self.modules[m].is_none() {
					continue;
				}
				let (a_bank, b_bank) = self.modules[m].take().unwrap_or_else(|| {
					(
						Tensor::<3>::zeros([self.slots + 1, i, big_r], &self.device),
						Tensor::<3>::zeros([self.slots + 1, big_r, o], &self.device),
					)
				});
				// The slot's previous occupant is overwritten whole: zeros where this adapter
				// has nothing.
				let mut pa = vec![0f32; i * big_r];
				let mut pb = vec![0f32; big_r * o];
				if let Some((av, bv)) = given {
					for row in 0..i {
						pa[row * big_r..row * big_r + r].copy_from_slice(&av[row * r..(row + 1) * r]);
					}
					pb[..r * o].copy_from_slice(bv);
				}
				let ta = Tensor::<3>::from_data(TensorData::new(pa, [1, i, big_r]), &self.device);
				let tb = Tensor::<3>::from_data(TensorData::new(pb, [1, big_r, o]), &self.device);
				self.modules[m] = Some((
					a_bank.slice_assign([slot..slot + 1, 0..i, 0..big_r], ta),
					b_bank.slice_assign([slot..slot + 1, 0..big_r, 0..o], tb),
				));
			}
		}
		self.slot_targets[slot] = targets;
		Ok(())
	}

	/// The low-rank update of a batch whose row `i` uses slot `rows[i]` (0: the base model).
	pub fn batch(&self, rows: &[usize]) -> BankBatch<'_> {
		let ids: Vec<i64> = rows.iter().map(|&s| s as i64).collect();
		let mut any = [false; 7];
		for &s in rows {
			for (a, t) in any.iter_mut().zip(self.slot_targets[s]) {
				*a |= t;
			}
		}
		let first = rows.first().copied().unwrap_or(0);
		let single = rows.iter().all(|&s| s == first).then_some(first);
		BankBatch {
			bank: self,
			ids: Tensor::<1, Int>::from_data(TensorData::new(ids, [rows.len()]), &self.device),
			any,
			single,
		}
	}
}

/// One forward pass's view of the bank.
pub struct BankBatch<'a> {
	bank: &'a LoraBank,
	ids: Tensor<1, Int>,
	/// Targets some row's adapter adapts.
	any: [bool; 7],
	/// The slot when every row uses the same one.
	single: Option<usize>,
}

impl LowRank for BankBatch<'_> {
	fn delta(&self, layer: usize, target: Target, x: Tensor<2>) -> Option<Tensor<2>> {
		if !self.any[target.index()] {
			return None;
		}
		let (a, b) = self.bank.modules[module_index(layer, target)].as_ref()?;
		self.bank.stats.gathered_matmuls.fetch_add(1, Ordering::Relaxed);
		let [n, i] = x.dims();
		let (r, o) = (self.bank.rank, b.dims()[2]);
		if let Some(slot) = self.single {
			// Every row on one adapter: its slot's plain matrices, no gather needed.
			let a = a.clone().narrow(0, slot, 1).reshape([i, r]);
			let b = b.clone().narrow(0, slot, 1).reshape([r, o]);
			return Some(x.matmul(a).matmul(b));
		}
		let ga = a.clone().select(0, self.ids.clone());
		let gb = b.clone().select(0, self.ids.clone());
		Some(x.reshape([n, 1, i]).matmul(ga).matmul(gb).reshape([n, o]))
	}
}

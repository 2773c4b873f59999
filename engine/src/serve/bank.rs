//! The adapter bank: every resident adapter's low-rank weights in one stacked tensor per
//! projection, `A: [slots + 1, in, R]` and `B: [slots + 1, R, out]` (the scale folded into B,
//! ranks below `R` zero-padded, slot 0 all zeros for rows on the base model), as S-LoRA's
//! unified pool keeps them. A batch's low-rank update is one pass per projection whatever mix of
//! adapters the batch holds, never a loop over requests and never a merge into the base
//! weights: a run of rows on one adapter (a prompt, or a chunk of one) is multiplied by its
//! slot's matrices where they lie (SGMV's segments), and the scattered rows of decoding requests
//! gather their slot per row into one batched matmul pair (BGMV).
//!
//! Slots are an LRU cache under a memory budget. A slot is reserved before an adapter is read
//! ([`LoraBank::reserve`]), so an adapter being read or parsed is already counted in the budget,
//! and is filled when it has been ([`LoraBank::fill`]); an adapter whose request went away stays
//! resident, unpinned, until a newer one needs its slot. A slot pinned by a running request, or
//! reserved for a read in flight, is never taken.

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
	/// Written (false while its adapter is being read into the reserved slot).
	ready: bool,
}

/// Counters of the bank, for `/metrics` and the benchmark.
#[derive(Default)]
pub struct BankStats {
	pub loads: AtomicU64,
	pub hits: AtomicU64,
	pub evictions: AtomicU64,
	/// Low-rank updates run (one per adapted projection per forward pass).
	pub gathered_matmuls: AtomicU64,
	/// Rows of batches whose adapter matrices were gathered per row (the rest were multiplied
	/// by their slot's matrices in place, as segments).
	pub gathered_rows: AtomicU64,
}

pub struct LoraBank {
	config: Config,
	rank: usize,
	/// The projections this bank adapts; an adapter of any other is refused.
	targets: [bool; 7],
	slots: usize,
	device: Device,
	/// Per (layer, target): the stacked `A` and `B`, allocated when the first adapter that
	/// targets it is written.
	modules: Vec<Option<(Tensor<3>, Tensor<3>)>>,
	/// Which targets the adapter in each slot adapts (slot 0: none).
	slot_targets: Vec<[bool; 7]>,
	/// The rank of the adapter in each slot (slot 0: 0); columns past it are zeros.
	slot_ranks: Vec<usize>,
	entries: BTreeMap<ContentHash, Entry>,
	free: Vec<usize>,
	clock: u64,
	/// Shared with the scheduler's [`super::ServeStats`], which `/metrics` reads.
	pub stats: Arc<BankStats>,
}

impl LoraBank {
	/// Bytes one slot takes when `targets` of `config` are adapted at `rank`.
	pub fn slot_bytes(config: &Config, rank: usize, targets: &[Target]) -> u64 {
		let per_layer: usize = targets.iter().map(|t| config.dims(*t)).map(|(i, o)| (i + o) * rank).sum();
		(per_layer * config.layers * 4) as u64
	}

	/// A bank for adapters of `targets` up to `rank`, of as many slots as `budget` bytes hold (at
	/// least one).
	pub fn new(config: &Config, rank: usize, targets: &[Target], budget: u64, device: &Device) -> Result<Self> {
		if rank == 0 || rank > crate::model::lora::MAX_RANK {
			return Err(Error::bad(format!("serving rank {rank} is out of range 1..={}", crate::model::lora::MAX_RANK)));
		}
		if targets.is_empty() {
			return Err(Error::bad("the bank serves no projection: name at least one target"));
		}
		let slots = (budget / Self::slot_bytes(config, rank, targets)).max(1) as usize;
		let mut served = [false; 7];
		for t in targets {
			served[t.index()] = true;
		}
		Ok(LoraBank {
			config: config.clone(),
			rank,
			targets: served,
			slots,
			device: device.clone(),
			modules: vec![None; config.layers * Target::ALL.len()],
			slot_targets: vec![[false; 7]; slots + 1],
			slot_ranks: vec![0; slots + 1],
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

	/// The served projections, as PEFT names them (`q_proj, v_proj`).
	fn served_list(&self) -> String {
		Target::ALL.iter().filter(|t| self.targets[t.index()]).map(|t| t.peft()).collect::<Vec<_>>().join(", ")
	}

	/// Resident adapters, least recently used first.
	pub fn resident(&self) -> Vec<ContentHash> {
		let mut v: Vec<_> = self.entries.iter().map(|(h, e)| (e.last_used, *h)).collect();
		v.sort();
		v.into_iter().map(|(_, h)| h).collect()
	}

	/// Whether `hash` is resident and written (a request naming it can be pinned).
	pub fn contains(&self, hash: &ContentHash) -> bool {
		self.entries.get(hash).is_some_and(|e| e.ready)
	}

	/// Whether a slot is reserved for `hash` while it is read.
	pub fn reserved(&self, hash: &ContentHash) -> bool {
		self.entries.get(hash).is_some_and(|e| !e.ready)
	}

	/// Bytes the allocated stacks take per slot.
	pub fn bytes_per_slot(&self) -> u64 {
		self.modules
			.iter()
			.flatten()
			.map(|(a, b)| (a.dims()[1] * a.dims()[2] + b.dims()[1] * b.dims()[2]) as u64 * 4)
			.sum()
	}

	/// Reserves a slot for `hash` before its adapter is read: a free one, or the least recently
	/// used resident that is neither pinned, nor reserved, nor in `keep` (adapters that requests
	/// earlier in the queue wait for). `false` when `hash` already has a slot or none can be
	/// taken.
	pub fn reserve(&mut self, hash: ContentHash, keep: &std::collections::BTreeSet<ContentHash>) -> bool {
		if self.entries.contains_key(&hash) {
			return false;
		}
		let slot = match self.free.pop() {
			Some(s) => s,
			None => {
				let Some(victim) = self
					.entries
					.iter()
					.filter(|(h, e)| e.pins == 0 && e.ready && !keep.contains(h))
					.min_by_key(|(_, e)| e.last_used)
					.map(|(h, _)| *h)
				else {
					return false;
				};
				let e = self.entries.remove(&victim).expect("present");
				self.stats.evictions.fetch_add(1, Ordering::Relaxed);
				e.slot
			},
		};
		self.clock += 1;
		self.entries.insert(hash, Entry { slot, last_used: self.clock, pins: 0, ready: false });
		true
	}

	/// Writes the adapter read for the slot [`Self::reserve`] gave `hash`; on an error (the read
	/// failed, or the adapter does not fit this bank) the slot is freed and the error returned.
	pub fn fill(&mut self, hash: ContentHash, adapter: Result<HostAdapter>) -> Result<()> {
		let Some(slot) = self.entries.get(&hash).filter(|e| !e.ready).map(|e| e.slot) else {
			return Err(Error::Internal(format!("no slot is reserved for adapter {}", hash.to_hex())));
		};
		match adapter.and_then(|a| self.write(slot, &a)) {
			Ok(()) => {
				self.stats.loads.fetch_add(1, Ordering::Relaxed);
				self.entries.get_mut(&hash).expect("reserved").ready = true;
				Ok(())
			},
			Err(e) => {
				self.entries.remove(&hash);
				self.free.push(slot);
				Err(e)
			},
		}
	}

	/// Pins the resident `hash` for one running request; its slot, or `None` when it is not
	/// resident.
	pub fn pin(&mut self, hash: &ContentHash) -> Option<usize> {
		let slot = self.take_pin(hash)?;
		self.stats.hits.fetch_add(1, Ordering::Relaxed);
		Some(slot)
	}

	fn take_pin(&mut self, hash: &ContentHash) -> Option<usize> {
		self.clock += 1;
		let e = self.entries.get_mut(hash).filter(|e| e.ready)?;
		e.pins += 1;
		e.last_used = self.clock;
		Some(e.slot)
	}

	/// [`Self::pin`], reading the adapter with `load` into a reserved slot first when it is not
	/// resident (the scheduler does the read on a loader thread in between). `Ok(None)` when
	/// every slot is pinned.
	pub fn acquire(&mut self, hash: ContentHash, load: impl FnOnce() -> Result<HostAdapter>) -> Result<Option<usize>> {
		if self.contains(&hash) {
			return Ok(self.pin(&hash));
		}
		if !self.reserve(hash, &Default::default()) {
			return Ok(None);
		}
		self.fill(hash, load())?;
		Ok(self.take_pin(&hash))
	}

	/// Releases one pin of `hash` taken by [`Self::pin`].
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
		if let Some(t) = a.targets.iter().find(|t| !self.targets[t.index()]) {
			return Err(Error::bad(format!(
				"adapter {} adapts {}, which this server does not serve (it serves {})",
				a.hash.to_hex(), t.peft(), self.served_list()
			)));
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
		self.slot_ranks[slot] = r;
		Ok(())
	}

	/// The low-rank update of a batch whose row `i` uses slot `rows[i]` (0: the base model).
	pub fn batch(&self, rows: &[usize]) -> BankBatch<'_> {
		let mut any = [false; 7];
		for &s in rows {
			for (a, t) in any.iter_mut().zip(self.slot_targets[s]) {
				*a |= t;
			}
		}
		// Runs of one slot long enough to multiply on their own are segments; the rows between
		// them are gathered per row, block by block.
		let mut parts = Vec::new();
		let mut pending: Option<usize> = None;
		let mut start = 0;
		while start < rows.len() {
			let slot = rows[start];
			let len = rows[start..].iter().take_while(|&&s| s == slot).count();
			if len >= SEGMENT_ROWS || len == rows.len() {
				if let Some(from) = pending.take() {
					parts.push(self.gather(from, &rows[from..start]));
				}
				parts.push(Part::Segment { start, len, slot, rank: self.slot_ranks[slot] });
			} else {
				pending.get_or_insert(start);
			}
			start += len;
		}
		if let Some(from) = pending {
			parts.push(self.gather(from, &rows[from..]));
		}
		BankBatch { bank: self, any, parts }
	}

	fn gather(&self, start: usize, rows: &[usize]) -> Part {
		self.stats.gathered_rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
		let ids: Vec<i64> = rows.iter().map(|&s| s as i64).collect();
		let rank = rows.iter().map(|&s| self.slot_ranks[s]).max().unwrap_or(0);
		let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [rows.len()]), &self.device);
		Part::Gathered { start, len: rows.len(), ids, rank }
	}
}

/// Rows of one adapter at least this many multiply by its slot's matrices directly; shorter
/// runs (decoding requests, one row each) are gathered per row.
pub const SEGMENT_ROWS: usize = 8;

/// A stretch of a batch's rows, in row order.
enum Part {
	/// `len` rows from `start` on `slot`, whose adapter has rank `rank`.
	Segment { start: usize, len: usize, slot: usize, rank: usize },
	/// `len` rows from `start`, row `i` on slot `ids[i]`; `rank` the highest of their adapters'
	/// ranks (only that many of the slots' columns are gathered: the rest are zeros).
	Gathered { start: usize, len: usize, ids: Tensor<1, Int>, rank: usize },
}

/// One forward pass's view of the bank.
pub struct BankBatch<'a> {
	bank: &'a LoraBank,
	/// Targets some row's adapter adapts.
	any: [bool; 7],
	parts: Vec<Part>,
}

impl BankBatch<'_> {
	/// Segments multiplied on their own and blocks gathered per row.
	pub fn shape(&self) -> (usize, usize) {
		let segments = self.parts.iter().filter(|p| matches!(p, Part::Segment { .. })).count();
		(segments, self.parts.len() - segments)
	}
}

impl LowRank for BankBatch<'_> {
	fn delta(&self, layer: usize, target: Target, x: Tensor<2>) -> Option<Tensor<2>> {
		if !self.any[target.index()] {
			return None;
		}
		let (a, b) = self.bank.modules[module_index(layer, target)].as_ref()?;
		self.bank.stats.gathered_matmuls.fetch_add(1, Ordering::Relaxed);
		let [_, i] = x.dims();
		let (r, o) = (self.bank.rank, b.dims()[2]);
		let device = &self.bank.device;
		let mut out: Vec<Tensor<2>> = self
			.parts
			.iter()
			.map(|part| match part {
				Part::Segment { len, slot: 0, .. } | Part::Gathered { len, rank: 0, .. } => Tensor::zeros([*len, o], device),
				Part::Segment { start, len, slot, rank } => {
					// The slot's own matrices, read in place, to its adapter's rank.
					let a = a.clone().narrow(0, *slot, 1).reshape([i, r]).narrow(1, 0, *rank);
					let b = b.clone().narrow(0, *slot, 1).reshape([r, o]).narrow(0, 0, *rank);
					x.clone().narrow(0, *start, *len).matmul(a).matmul(b)
				},
				Part::Gathered { start, len, ids, rank } => {
					let ga = a.clone().narrow(2, 0, *rank).select(0, ids.clone());
					let gb = b.clone().narrow(1, 0, *rank).select(0, ids.clone());
					x.clone().narrow(0, *start, *len).reshape([*len, 1, i]).matmul(ga).matmul(gb).reshape([*len, o])
				},
			})
			.collect();
		Some(if out.len() == 1 { out.pop().expect("one part") } else { Tensor::cat(out, 0) })
	}
}

//! GGUF, llama.cpp's model file: a header, typed metadata, tensor descriptors and aligned tensor
//! data. This module reads it (and writes the subset our own fixtures need) and dequantises the
//! block formats SmolLM2's file uses.
//!
//! Layout (version 2 and 3, little-endian): `"GGUF"`, `u32` version, `u64` tensor count, `u64`
//! metadata count; metadata as (string key, `u32` type, value); tensor infos as (string name,
//! `u32` rank, `u64` dims with the fastest-varying first, `u32` ggml type, `u64` offset); then
//! the data section at the next multiple of `general.alignment` (32 by default).
//!
//! Written by hand rather than through a crate: the container is small, and the dequantisation
//! (the part that decides whether the model is right) is ours either way.

use crate::error::{Error, Result};
use half::f16;
use std::{collections::BTreeMap, path::Path};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Refuse absurd counts before allocating for them (a corrupt file must not exhaust memory).
const MAX_COUNT: u64 = 1 << 24;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
	U8(u8),
	I8(i8),
	U16(u16),
	I16(i16),
	U32(u32),
	I32(i32),
	F32(f32),
	Bool(bool),
	String(String),
	Array(Vec<Value>),
	U64(u64),
	I64(i64),
	F64(f64),
}

impl Value {
	/// The value as an unsigned integer, whatever integer type the file used.
	pub fn as_u64(&self) -> Option<u64> {
		match *self {
			Value::U8(v) => Some(v as u64),
			Value::U16(v) => Some(v as u64),
			Value::U32(v) => Some(v as u64),
			Value::U64(v) => Some(v),
			Value::I8(v) if v >= 0 => Some(v as u64),
			Value::I16(v) if v >= 0 => Some(v as u64),
			Value::I32(v) if v >= 0 => Some(v as u64),
			Value::I64(v) if v >= 0 => Some(v as u64),
			_ => None,
		}
	}

	/// The value as f64; an f32 is read through its shortest decimal form, so `1e-5` stored as
	/// f32 reads as `1e-5` (what the model was configured with), not `9.99999974e-6`.
	pub fn as_f64(&self) -> Option<f64> {
		match *self {
			Value::F32(v) => v.to_string().parse().ok(),
			Value::F64(v) => Some(v),
			_ => self.as_u64().map(|v| v as f64),
		}
	}

	pub fn as_str(&self) -> Option<&str> {
		match self {
			Value::String(s) => Some(s),
			_ => None,
		}
	}

	pub fn as_array(&self) -> Option<&[Value]> {
		match self {
			Value::Array(a) => Some(a),
			_ => None,
		}
	}

	pub fn as_bool(&self) -> Option<bool> {
		match *self {
			Value::Bool(b) => Some(b),
			_ => None,
		}
	}
}

/// The ggml element types this engine reads (ggml's names).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
	F32,
	F16,
	Q4_0,
	Q4_1,
	Q8_0,
	BF16,
	/// k-quants: super-blocks of 256 weights in 8 (Q4_K, Q5_K) or 16 (Q6_K) sub-blocks with
	/// their own scales, as most published GGUF files hold their matrices.
	Q4_K,
	Q5_K,
	Q6_K,
}

impl GgmlType {
	fn from_u32(t: u32) -> Option<Self> {
		Some(match t {
			0 => GgmlType::F32,
			1 => GgmlType::F16,
			2 => GgmlType::Q4_0,
			3 => GgmlType::Q4_1,
			8 => GgmlType::Q8_0,
			12 => GgmlType::Q4_K,
			13 => GgmlType::Q5_K,
			14 => GgmlType::Q6_K,
			30 => GgmlType::BF16,
			_ => return None,
		})
	}

	fn to_u32(self) -> u32 {
		match self {
			GgmlType::F32 => 0,
			GgmlType::F16 => 1,
			GgmlType::Q4_0 => 2,
			GgmlType::Q4_1 => 3,
			GgmlType::Q8_0 => 8,
			GgmlType::Q4_K => 12,
			GgmlType::Q5_K => 13,
			GgmlType::Q6_K => 14,
			GgmlType::BF16 => 30,
		}
	}

	/// (elements per block, bytes per block).
	fn block(self) -> (u64, u64) {
		match self {
			GgmlType::F32 => (1, 4),
			GgmlType::F16 | GgmlType::BF16 => (1, 2),
			GgmlType::Q4_0 => (32, 18),
			GgmlType::Q4_1 => (32, 20),
			GgmlType::Q8_0 => (32, 34),
			GgmlType::Q4_K => (256, 144),
			GgmlType::Q5_K => (256, 176),
			GgmlType::Q6_K => (256, 210),
		}
	}
}

/// A tensor's descriptor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
	pub name: String,
	/// Dimensions with the fastest-varying first (ggml's `ne`): a `[out, in]` matrix is `[in, out]`.
	pub dims: Vec<u64>,
	pub ty: GgmlType,
	/// Offset from the start of the data section.
	pub offset: u64,
}

impl TensorInfo {
	pub fn elements(&self) -> u64 {
		self.dims.iter().product()
	}

	fn byte_len(&self) -> Option<u64> {
		let (per_block, bytes) = self.ty.block();
		let n = self.elements();
		(n % per_block == 0).then(|| n / per_block * bytes)
	}
}

/// A parsed GGUF file, data held in memory.
pub struct Gguf {
	pub version: u32,
	pub metadata: BTreeMap<String, Value>,
	pub tensors: BTreeMap<String, TensorInfo>,
	data: Vec<u8>,
	data_start: usize,
	path: std::path::PathBuf,
}

struct Cursor<'a> {
	buf: &'a [u8],
	pos: usize,
}

impl<'a> Cursor<'a> {
	fn take(&mut self, n: u64) -> Option<&'a [u8]> {
		let n = usize::try_from(n).ok()?;
		let end = self.pos.checked_add(n)?;
		let s = self.buf.get(self.pos..end)?;
		self.pos = end;
		Some(s)
	}
	fn u8(&mut self) -> Option<u8> {
		self.take(1).map(|b| b[0])
	}
	fn u16(&mut self) -> Option<u16> {
		self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
	}
	fn u32(&mut self) -> Option<u32> {
		self.take(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
	}
	fn u64(&mut self) -> Option<u64> {
		self.take(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
	}
	fn string(&mut self) -> Option<String> {
		let len = self.u64()?;
		if len > MAX_COUNT {
			return None;
		}
		String::from_utf8(self.take(len)?.to_vec()).ok()
	}
	fn value(&mut self, ty: u32, depth: u8) -> Option<Value> {
		Some(match ty {
			0 => Value::U8(self.u8()?),
			1 => Value::I8(self.u8()? as i8),
			2 => Value::U16(self.u16()?),
			3 => Value::I16(self.u16()? as i16),
			4 => Value::U32(self.u32()?),
			5 => Value::I32(self.u32()? as i32),
			6 => Value::F32(f32::from_bits(self.u32()?)),
			7 => Value::Bool(self.u8()? != 0),
			8 => Value::String(self.string()?),
			9 if depth == 0 => {
				let item = self.u32()?;
				let len = self.u64()?;
				if len > MAX_COUNT {
					return None;
				}
				let mut items = Vec::with_capacity(len as usize);
				for _ in 0..len {
					items.push(self.value(item, depth + 1)?);
				}
				Value::Array(items)
			},
			10 => Value::U64(self.u64()?),
			11 => Value::I64(self.u64()? as i64),
			12 => Value::F64(f64::from_bits(self.u64()?)),
			_ => return None,
		})
	}
}

impl Gguf {
	/// Reads and parses a GGUF file.
	pub fn open(path: &Path) -> Result<Self> {
		let data = std::fs::read(path).map_err(Error::io(path))?;
		Self::parse(data, path)
	}

	/// Parses GGUF bytes; `path` only names the source in errors.
	pub fn parse(data: Vec<u8>, path: &Path) -> Result<Self> {
		let bad = |msg: &str| Error::format(path, format!("not a readable GGUF file: {msg}"));
		let mut c = Cursor { buf: &data, pos: 0 };
		if c.take(4) != Some(MAGIC.as_slice()) {
			return Err(bad("bad magic"));
		}
		let version = c.u32().ok_or_else(|| bad("truncated header"))?;
		if !(2..=3).contains(&version) {
			return Err(bad(&format!("version {version} (2 and 3 are supported)")));
		}
		let n_tensors = c.u64().ok_or_else(|| bad("truncated header"))?;
		let n_kv = c.u64().ok_or_else(|| bad("truncated header"))?;
		if n_tensors > MAX_COUNT || n_kv > MAX_COUNT {
			return Err(bad("implausible tensor or metadata count"));
		}
		let mut metadata = BTreeMap::new();
		for _ in 0..n_kv {
			let key = c.string().ok_or_else(|| bad("truncated metadata key"))?;
			let ty = c.u32().ok_or_else(|| bad("truncated metadata"))?;
			let value = c.value(ty, 0).ok_or_else(|| bad(&format!("bad value for `{key}`")))?;
			metadata.insert(key, value);
		}
		let mut tensors = BTreeMap::new();
		for _ in 0..n_tensors {
			let name = c.string().ok_or_else(|| bad("truncated tensor name"))?;
			let rank = c.u32().ok_or_else(|| bad("truncated tensor info"))?;
			if rank == 0 || rank > 4 {
				return Err(bad(&format!("tensor `{name}` has rank {rank}")));
			}
			let dims = (0..rank).map(|_| c.u64()).collect::<Option<Vec<_>>>();
			let dims = dims.ok_or_else(|| bad("truncated tensor dims"))?;
			let raw_ty = c.u32().ok_or_else(|| bad("truncated tensor type"))?;
			let ty = GgmlType::from_u32(raw_ty).ok_or_else(|| {
				bad(&format!("tensor `{name}` has ggml type {raw_ty}, which this engine does not read"))
			})?;
			let offset = c.u64().ok_or_else(|| bad("truncated tensor offset"))?;
			tensors.insert(name.clone(), TensorInfo { name, dims, ty, offset });
		}
		let alignment = metadata
			.get("general.alignment")
			.and_then(Value::as_u64)
			.filter(|a| *a > 0)
			.unwrap_or(DEFAULT_ALIGNMENT);
		let data_start = (c.pos as u64).div_ceil(alignment) * alignment;
		let data_start = usize::try_from(data_start).map_err(|_| bad("data offset"))?;
		for t in tensors.values() {
			let len = t.byte_len().ok_or_else(|| {
				bad(&format!("tensor `{}`: {} elements are not whole blocks", t.name, t.elements()))
			})?;
			let end = (data_start as u64).checked_add(t.offset).and_then(|s| s.checked_add(len));
			if end.is_none_or(|end| end > data.len() as u64) {
				return Err(bad(&format!("tensor `{}` runs past the end of the file", t.name)));
			}
		}
		Ok(Gguf { version, metadata, tensors, data, data_start, path: path.to_path_buf() })
	}

	pub fn path(&self) -> &Path {
		&self.path
	}

	pub fn get(&self, key: &str) -> Result<&Value> {
		self.metadata
			.get(key)
			.ok_or_else(|| Error::format(&self.path, format!("metadata `{key}` is missing")))
	}

	pub fn get_u64(&self, key: &str) -> Result<u64> {
		self.get(key)?
			.as_u64()
			.ok_or_else(|| Error::format(&self.path, format!("metadata `{key}` is not an integer")))
	}

	pub fn get_f64(&self, key: &str) -> Result<f64> {
		self.get(key)?
			.as_f64()
			.ok_or_else(|| Error::format(&self.path, format!("metadata `{key}` is not a number")))
	}

	pub fn info(&self, name: &str) -> Result<&TensorInfo> {
		self.tensors
			.get(name)
			.ok_or_else(|| Error::format(&self.path, format!("tensor `{name}` is missing")))
	}

	/// The tensor's raw bytes.
	pub fn raw(&self, name: &str) -> Result<&[u8]> {
		let t = self.info(name)?;
		let start = self.data_start + t.offset as usize;
		let len = t.byte_len().expect("checked when parsed") as usize;
		Ok(&self.data[start..start + len])
	}

	/// The tensor dequantised to `f32`, in ggml order (row-major with `dims[0]` fastest).
	pub fn dequantize(&self, name: &str) -> Result<Vec<f32>> {
		let t = self.info(name)?;
		Ok(dequantize(t.ty, self.raw(name)?))
	}
}

/// Dequantises whole blocks of `ty` to `f32`.
pub fn dequantize(ty: GgmlType, raw: &[u8]) -> Vec<f32> {
	let (per_block, bytes) = ty.block();
	let (per_block, bytes) = (per_block as usize, bytes as usize);
	let mut out = Vec::with_capacity(raw.len() / bytes * per_block);
	let half = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f32();
	for b in raw.chunks_exact(bytes) {
		match ty {
			GgmlType::F32 => out.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
			GgmlType::F16 => out.push(half(b)),
			GgmlType::BF16 => out.push(half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
			GgmlType::Q8_0 => {
				let d = half(&b[0..2]);
				out.extend(b[2..34].iter().map(|&q| d * (q as i8) as f32));
			},
			GgmlType::Q4_0 => {
				let d = half(&b[0..2]);
				let qs = &b[2..18];
				out.extend(qs.iter().map(|&q| d * ((q & 0x0F) as i32 - 8) as f32));
				out.extend(qs.iter().map(|&q| d * ((q >> 4) as i32 - 8) as f32));
			},
			GgmlType::Q4_1 => {
				let (d, m) = (half(&b[0..2]), half(&b[2..4]));
				let qs = &b[4..20];
				out.extend(qs.iter().map(|&q| d * (q & 0x0F) as f32 + m));
				out.extend(qs.iter().map(|&q| d * (q >> 4) as f32 + m));
			},
			GgmlType::Q4_K | GgmlType::Q5_K => {
				// d, dmin, 12 bytes of 6-bit scales and mins for 8 sub-blocks of 32, then (Q5_K)
				// 32 bytes of fifth bits, then 128 bytes of low nibbles: sub-block `g` takes the
				// low (even g) or high (odd g) nibbles of bytes `32·(g/2)..`, and bit `g` of
				// each fifth-bit byte.
				let (d, dmin) = (half(&b[0..2]), half(&b[2..4]));
				let (sc, mn) = k_scales(&b[4..16]);
				let (qh, qs) = if ty == GgmlType::Q5_K { (Some(&b[16..48]), &b[48..176]) } else { (None, &b[16..144]) };
				for g in 0..8 {
					let (dl, ml) = (d * sc[g] as f32, dmin * mn[g] as f32);
					for l in 0..32 {
						let mut q = (qs[32 * (g / 2) + l] >> (4 * (g % 2))) & 0x0F;
						if let Some(qh) = qh {
							q |= ((qh[l] >> g) & 1) << 4;
						}
						out.push(dl * q as f32 - ml);
					}
				}
			},
			GgmlType::Q6_K => {
				// 128 bytes of low nibbles, 64 of high bit pairs, 16 signed scales (one per 16
				// weights), then d; weights are 6-bit, offset by 32.
				let (ql, qh, scales, d) = (&b[0..128], &b[128..192], &b[192..208], half(&b[208..210]));
				for e in 0..256 {
					let (g, l) = (e / 32, e % 32);
					let (h, r) = (g / 4, g % 4);
					let low = (ql[64 * h + 32 * (r % 2) + l] >> (4 * (r / 2))) & 0x0F;
					let high = (qh[32 * h + l] >> (2 * r)) & 0x03;
					let q = (low | (high << 4)) as i32 - 32;
					out.push(d * (scales[e / 16] as i8) as f32 * q as f32);
				}
			},
		}
	}
	out
}

/// The 8 scales and 8 mins of a Q4_K/Q5_K super-block, 6 bits each, packed in 12 bytes: the
/// first four of each in the low 6 bits of bytes 0–3 (scales) and 4–7 (mins), the last four in
/// the nibbles of bytes 8–11 with their top two bits in the top bits of bytes 0–7.
fn k_scales(p: &[u8]) -> ([u8; 8], [u8; 8]) {
	let (mut sc, mut mn) = ([0u8; 8], [0u8; 8]);
	for j in 0..4 {
		sc[j] = p[j] & 0x3F;
		mn[j] = p[j + 4] & 0x3F;
		sc[j + 4] = (p[j + 8] & 0x0F) | ((p[j] >> 2) & 0x30);
		mn[j + 4] = (p[j + 8] >> 4) | ((p[j + 4] >> 2) & 0x30);
	}
	(sc, mn)
}

/// Quantises `f32` values to Q4_1 blocks the way ggml's reference quantiser does (per block of
/// 32: `d = (max - min) / 15`, `m = min`, nearest level). Used to write fixtures.
pub fn quantize_q4_1(values: &[f32]) -> Vec<u8> {
	let mut out = Vec::with_capacity(values.len() / 32 * 20);
	for block in values.chunks(32) {
		let min = block.iter().copied().fold(f32::INFINITY, f32::min);
		let max = block.iter().copied().fold(f32::NEG_INFINITY, f32::max);
		let d = (max - min) / 15.0;
		let id = if d != 0.0 { 1.0 / d } else { 0.0 };
		out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
		out.extend_from_slice(&f16::from_f32(min).to_le_bytes());
		let level = |x: f32| ((x - min) * id + 0.5).clamp(0.0, 15.0) as u8;
		for j in 0..16 {
			out.push(level(block[j]) | (level(block[j + 16]) << 4));
		}
	}
	out
}

/// Quantises to Q8_0 blocks (`d = max|x| / 127`).
pub fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
	let mut out = Vec::with_capacity(values.len() / 32 * 34);
	for block in values.chunks(32) {
		let amax = block.iter().fold(0f32, |a, x| a.max(x.abs()));
		let d = amax / 127.0;
		let id = if d != 0.0 { 1.0 / d } else { 0.0 };
		out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
		out.extend(block.iter().map(|x| (x * id).round() as i8 as u8));
	}
	out
}

/// Writes GGUF version 3 files: metadata and tensors already encoded in their ggml type.
#[derive(Default)]
pub struct Writer {
	metadata: Vec<(String, Value)>,
	tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
}

impl Writer {
	pub fn meta(&mut self, key: &str, value: Value) -> &mut Self {
		self.metadata.push((key.to_string(), value));
		self
	}

	/// Adds a tensor; `dims` fastest-varying first, `data` already in `ty`'s encoding.
	pub fn tensor(&mut self, name: &str, dims: Vec<u64>, ty: GgmlType, data: Vec<u8>) -> &mut Self {
		self.tensors.push((name.to_string(), dims, ty, data));
		self
	}

	/// Adds an `f32` tensor.
	pub fn tensor_f32(&mut self, name: &str, dims: Vec<u64>, values: &[f32]) -> &mut Self {
		let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
		self.tensor(name, dims, GgmlType::F32, data)
	}

	pub fn to_bytes(&self) -> Vec<u8> {
		fn string(out: &mut Vec<u8>, s: &str) {
			out.extend_from_slice(&(s.len() as u64).to_le_bytes());
			out.extend_from_slice(s.as_bytes());
		}
		fn type_of(v: &Value) -> u32 {
			match v {
				Value::U8(_) => 0,
				Value::I8(_) => 1,
				Value::U16(_) => 2,
				Value::I16(_) => 3,
				Value::U32(_) => 4,
				Value::I32(_) => 5,
				Value::F32(_) => 6,
				Value::Bool(_) => 7,
				Value::String(_) => 8,
				Value::Array(_) => 9,
				Value::U64(_) => 10,
				Value::I64(_) => 11,
				Value::F64(_) => 12,
			}
		}
		fn value(out: &mut Vec<u8>, v: &Value) {
			match v {
				Value::U8(x) => out.push(*x),
				Value::I8(x) => out.push(*x as u8),
				Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
				Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
				Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
				Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
				Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
				Value::Bool(x) => out.push(*x as u8),
				Value::String(s) => string(out, s),
				Value::Array(items) => {
					let item_ty = items.first().map(type_of).unwrap_or(8);
					out.extend_from_slice(&item_ty.to_le_bytes());
					out.extend_from_slice(&(items.len() as u64).to_le_bytes());
					items.iter().for_each(|i| value(out, i));
				},
				Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
				Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
				Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
			}
		}
		let mut out = Vec::new();
		out.extend_from_slice(MAGIC);
		out.extend_from_slice(&3u32.to_le_bytes());
		out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
		out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
		for (k, v) in &self.metadata {
			string(&mut out, k);
			out.extend_from_slice(&type_of(v).to_le_bytes());
			value(&mut out, v);
		}
		let align = |n: u64| n.div_ceil(DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
		let mut offset = 0u64;
		for (name, dims, ty, data) in &self.tensors {
			string(&mut out, name);
			out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
			dims.iter().for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
			out.extend_from_slice(&ty.to_u32().to_le_bytes());
			out.extend_from_slice(&offset.to_le_bytes());
			offset = align(offset + data.len() as u64);
		}
		out.resize(align(out.len() as u64) as usize, 0);
		for (_, _, _, data) in &self.tensors {
			out.extend_from_slice(data);
			out.resize(align(out.len() as u64) as usize, 0);
		}
		out
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn q4_1_blocks_dequantise_to_known_values() {
		// One hand-built block: d = 0.5, m = -1.0, low nibbles 0..15, high nibbles 15..0.
		let mut b = Vec::new();
		b.extend_from_slice(&f16::from_f32(0.5).to_le_bytes());
		b.extend_from_slice(&f16::from_f32(-1.0).to_le_bytes());
		for j in 0..16u8 {
			b.push(j | ((15 - j) << 4));
		}
		let y = dequantize(GgmlType::Q4_1, &b);
		assert_eq!(y.len(), 32);
		for j in 0..16 {
			assert_eq!(y[j], 0.5 * j as f32 - 1.0, "low nibble {j}");
			assert_eq!(y[j + 16], 0.5 * (15 - j) as f32 - 1.0, "high nibble {j}");
		}
	}

	#[test]
	fn q8_0_and_q4_0_blocks_dequantise_to_known_values() {
		let mut b = f16::from_f32(0.25).to_le_bytes().to_vec();
		b.extend((0..32).map(|i| (i as i8 - 16) as u8));
		let y = dequantize(GgmlType::Q8_0, &b);
		assert_eq!(y, (0..32).map(|i| 0.25 * (i - 16) as f32).collect::<Vec<_>>());

		let mut b = f16::from_f32(2.0).to_le_bytes().to_vec();
		b.extend((0..16u8).map(|j| j | (j << 4)));
		let y = dequantize(GgmlType::Q4_0, &b);
		assert_eq!(y[3], 2.0 * (3 - 8) as f32);
		assert_eq!(y[19], 2.0 * (3 - 8) as f32);
	}

	#[test]
	fn quantisers_round_trip_within_half_a_step() {
		let x: Vec<f32> = (0..64).map(|i| ((i * 37) % 64) as f32 / 10.0 - 3.0).collect();
		let q = dequantize(GgmlType::Q4_1, &quantize_q4_1(&x));
		for (block_x, block_q) in x.chunks(32).zip(q.chunks(32)) {
			let min = block_x.iter().copied().fold(f32::INFINITY, f32::min);
			let max = block_x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
			let step = (max - min) / 15.0;
			for (a, b) in block_x.iter().zip(block_q) {
				assert!((a - b).abs() <= step / 2.0 + 1e-2, "{a} vs {b}");
			}
		}
		let q = dequantize(GgmlType::Q8_0, &quantize_q8_0(&x));
		for (a, b) in x.iter().zip(&q) {
			assert!((a - b).abs() <= 3.3 / 127.0, "{a} vs {b}");
		}
	}

	#[test]
	fn a_written_file_reads_back() {
		let mut w = Writer::default();
		w.meta("general.architecture", Value::String("llama".into()))
			.meta("llama.block_count", Value::U32(2))
			.meta("tokenizer.ggml.tokens", Value::Array(vec![Value::String("a".into()), Value::String("b".into())]))
			.tensor_f32("x", vec![3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
			.tensor("q", vec![32], GgmlType::Q4_1, quantize_q4_1(&[1.0; 32]));
		let g = Gguf::parse(w.to_bytes(), Path::new("test.gguf")).unwrap();
		assert_eq!(g.version, 3);
		assert_eq!(g.get_u64("llama.block_count").unwrap(), 2);
		assert_eq!(g.get("tokenizer.ggml.tokens").unwrap().as_array().unwrap().len(), 2);
		assert_eq!(g.info("x").unwrap().dims, vec![3, 2]);
		assert_eq!(g.dequantize("x").unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
		assert_eq!(g.dequantize("q").unwrap(), vec![1.0; 32]);
	}

	#[test]
	fn corrupt_files_are_refused_with_a_reason() {
		let p = Path::new("bad.gguf");
		let err = |bytes: Vec<u8>| Gguf::parse(bytes, p).err().expect("refused").to_string();
		assert!(err(b"GGML....".to_vec()).contains("bad magic"));
		let mut w = Writer::default();
		w.tensor_f32("x", vec![4], &[1.0; 4]);
		let mut bytes = w.to_bytes();
		bytes.truncate(bytes.len() - 20);
		assert!(err(bytes).contains("runs past the end"));
		let mut bytes = w.to_bytes();
		bytes[4] = 9;
		assert!(err(bytes).contains("version 9"));
		assert!(err(b"GGUF\x03\0\0\0".to_vec()).contains("truncated header"));
	}
}

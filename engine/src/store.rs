//! The content-addressed blob store: every blob is named by its blake2-256 (the chain's content
//! hash), written atomically, and never acknowledged before it is durable.
//!
//! A write goes to `tmp/`, is fsynced, renamed to `blobs/ab/abcd…`, and the directory is fsynced;
//! only then does `put` return. A crash at any point leaves either no blob or the whole blob
//! (stray temporary files are swept when the store opens). Reads check the hash again.

use crate::error::{Error, Result};
use mnemo_primitives::ContentHash;
use std::{
	fs,
	io::Write,
	path::{Path, PathBuf},
	sync::atomic::{AtomicU64, Ordering},
};

/// Default largest blob, in bytes.
pub const DEFAULT_MAX_BLOB: u64 = 64 * 1024 * 1024;

pub struct BlobStore {
	root: PathBuf,
	max_size: u64,
	counter: AtomicU64,
}

impl BlobStore {
	/// Opens (creating) the store under `root`, removing temporary files a crash left behind.
	pub fn open(root: &Path, max_size: u64) -> Result<Self> {
		let tmp = root.join("tmp");
		fs::create_dir_all(&tmp).map_err(Error::io(&tmp))?;
		fs::create_dir_all(root.join("blobs")).map_err(Error::io(root))?;
		for entry in fs::read_dir(&tmp).map_err(Error::io(&tmp))?.flatten() {
			let _ = fs::remove_file(entry.path());
		}
		Ok(BlobStore { root: root.to_path_buf(), max_size, counter: AtomicU64::new(0) })
	}

	/// The store under `root` for reading only (the CLI beside a running engine): creates
	/// nothing and, unlike [`Self::open`], leaves the temporary files of writes in progress alone.
	pub fn reader(root: &Path) -> Self {
		BlobStore { root: root.to_path_buf(), max_size: 0, counter: AtomicU64::new(0) }
	}

	pub fn max_size(&self) -> u64 {
		self.max_size
	}

	fn path(&self, hash: &ContentHash) -> PathBuf {
		let hex = hash.to_hex();
		self.root.join("blobs").join(&hex[..2]).join(hex)
	}

	/// Stores an uploaded blob (at most the size limit); when `expected` is given the bytes must
	/// hash to it. Returns once durable.
	pub fn put(&self, bytes: &[u8], expected: Option<ContentHash>) -> Result<ContentHash> {
		if bytes.len() as u64 > self.max_size {
			return Err(Error::TooLarge { what: "blob", size: bytes.len() as u64, limit: self.max_size });
		}
		self.write(bytes, expected)
	}

	/// Stores a blob the engine produced itself (an adapter), whatever its size.
	pub fn put_own(&self, bytes: &[u8]) -> Result<ContentHash> {
		self.write(bytes, None)
	}

	fn write(&self, bytes: &[u8], expected: Option<ContentHash>) -> Result<ContentHash> {
		let hash = ContentHash::of(bytes);
		if let Some(e) = expected.filter(|e| *e != hash) {
			return Err(Error::HashMismatch { expected: e.to_hex(), actual: hash.to_hex() });
		}
		let path = self.path(&hash);
		if path.exists() {
			return Ok(hash);
		}
		let dir = path.parent().expect("sharded");
		fs::create_dir_all(dir).map_err(Error::io(dir))?;
		let n = self.counter.fetch_add(1, Ordering::Relaxed);
		let tmp = self.root.join("tmp").join(format!("{}-{}-{n}", hash.to_hex(), std::process::id()));
		write_durably(&tmp, &path, bytes)?;
		Ok(hash)
	}

	/// The blob's bytes, checked against its name.
	pub fn get(&self, hash: &ContentHash) -> Result<Vec<u8>> {
		let path = self.path(hash);
		let bytes = match fs::read(&path) {
			Ok(b) => b,
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
				return Err(Error::NotFound(format!("no blob {}", hash.to_hex())))
			},
			Err(e) => return Err(Error::Io { path, source: e }),
		};
		if ContentHash::of(&bytes) != *hash {
			return Err(Error::Internal(format!("blob {} is corrupt on disk", hash.to_hex())));
		}
		Ok(bytes)
	}

	/// The blob's size, if it is stored.
	pub fn size(&self, hash: &ContentHash) -> Option<u64> {
		fs::metadata(self.path(hash)).ok().map(|m| m.len())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn blobs_are_named_by_their_hash_and_checked() {
		let dir = tempfile::tempdir().unwrap();
		let s = BlobStore::open(dir.path(), 16).unwrap();
		let h = s.put(b"To be, or not", None).unwrap();
		assert_eq!(h, ContentHash::of(b"To be, or not"));
		assert_eq!(s.get(&h).unwrap(), b"To be, or not");
		assert_eq!(s.size(&h), Some(13));
		assert_eq!(s.put(b"To be, or not", Some(h)).unwrap(), h, "idempotent");
		let other = ContentHash::of(b"x");
		assert!(matches!(s.put(b"y", Some(other)), Err(Error::HashMismatch { .. })));
		assert!(matches!(s.get(&other), Err(Error::NotFound(_))));
		assert!(matches!(s.put(&[0; 17], None), Err(Error::TooLarge { size: 17, limit: 16, .. })));
		std::fs::write(s.path(&h), b"tampered").unwrap();
		assert!(matches!(s.get(&h), Err(Error::Internal(_))));
	}

	#[test]
	fn stray_temporary_files_are_swept_on_open() {
		let dir = tempfile::tempdir().unwrap();
		let s = BlobStore::open(dir.path(), 1024).unwrap();
		std::fs::write(dir.path().join("tmp/half-written"), b"partial").unwrap();
		drop(s);
		let h = BlobStore::reader(dir.path()).get(&ContentHash::of(b"x"));
		assert!(matches!(h, Err(Error::NotFound(_))));
		assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 1, "a reader sweeps nothing");
		BlobStore::open(dir.path(), 1024).unwrap();
		assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
	}
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never a part:
/// into `tmp`, fsynced, renamed over `path`, and `path`'s directory fsynced.
pub fn write_durably(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
	let mut f = fs::File::create(tmp).map_err(Error::io(tmp))?;
	f.write_all(bytes).and_then(|_| f.sync_all()).map_err(Error::io(tmp))?;
	drop(f);
	fs::rename(tmp, path).map_err(Error::io(path))?;
	let dir = path.parent().unwrap_or(Path::new("."));
	fs::File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io(dir))
}

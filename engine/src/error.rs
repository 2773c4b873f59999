//! The engine's one error type. Every variant says which HTTP status it maps to, so a bad input
//! is always a 4xx with a message a person can act on, and only the engine's own faults are 5xx.

use std::path::PathBuf;

/// What went wrong, for a person and for the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
	/// The request or its data is malformed or out of range (HTTP 400).
	#[error("{0}")]
	BadInput(String),
	/// Something named by the request does not exist (HTTP 404).
	#[error("{0}")]
	NotFound(String),
	/// A body or blob is larger than the configured limit (HTTP 413).
	#[error("{what} is {size} bytes; the limit is {limit}")]
	TooLarge { what: &'static str, size: u64, limit: u64 },
	/// The bytes do not hash to the name they were sent under (HTTP 422).
	#[error("content hashes to {actual}, not {expected}")]
	HashMismatch { expected: String, actual: String },
	/// The engine is at capacity; try again later (HTTP 503).
	#[error("{0}")]
	Busy(String),
	/// The serving queue is full; try again shortly (HTTP 429).
	#[error("{0}")]
	TooManyRequests(String),
	/// The request does not say who pays, or its proof does not hold (HTTP 401).
	#[error("{0}")]
	Unauthorized(String),
	/// The payer's payment channel cannot pay for the request: there is none, or its balance is
	/// short (HTTP 402).
	#[error("{0}")]
	PaymentRequired(String),
	/// The payer's voucher does not allow this request (HTTP 403).
	#[error("{0}")]
	Forbidden(String),
	/// The request repeats one already taken (HTTP 409).
	#[error("{0}")]
	Conflict(String),
	/// A model file is not what it claims to be.
	#[error("{path}: {msg}")]
	Format { path: PathBuf, msg: String },
	/// Reading or writing a file failed.
	#[error("{path}: {source}")]
	Io { path: PathBuf, source: std::io::Error },
	/// An internal fault of the engine (HTTP 500).
	#[error("{0}")]
	Internal(String),
}

impl Error {
	pub fn bad(msg: impl Into<String>) -> Self {
		Error::BadInput(msg.into())
	}

	pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
		let path = path.into();
		move |source| Error::Io { path, source }
	}

	pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
		Error::Format { path: path.into(), msg: msg.into() }
	}

	/// The HTTP status this error is answered with.
	pub fn status(&self) -> u16 {
		match self {
			Error::BadInput(_) => 400,
			Error::NotFound(_) => 404,
			Error::TooLarge { .. } => 413,
			Error::HashMismatch { .. } => 422,
			Error::Busy(_) => 503,
			Error::TooManyRequests(_) => 429,
			Error::Unauthorized(_) => 401,
			Error::PaymentRequired(_) => 402,
			Error::Forbidden(_) => 403,
			Error::Conflict(_) => 409,
			Error::Format { .. } | Error::Io { .. } | Error::Internal(_) => 500,
		}
	}
}

/// The same error again (one failure told to several requests); an I/O error keeps its kind
/// and message.
impl Clone for Error {
	fn clone(&self) -> Self {
		match self {
			Error::BadInput(m) => Error::BadInput(m.clone()),
			Error::NotFound(m) => Error::NotFound(m.clone()),
			Error::TooLarge { what, size, limit } => Error::TooLarge { what, size: *size, limit: *limit },
			Error::HashMismatch { expected, actual } => Error::HashMismatch { expected: expected.clone(), actual: actual.clone() },
			Error::Busy(m) => Error::Busy(m.clone()),
			Error::TooManyRequests(m) => Error::TooManyRequests(m.clone()),
			Error::Unauthorized(m) => Error::Unauthorized(m.clone()),
			Error::PaymentRequired(m) => Error::PaymentRequired(m.clone()),
			Error::Forbidden(m) => Error::Forbidden(m.clone()),
			Error::Conflict(m) => Error::Conflict(m.clone()),
			Error::Format { path, msg } => Error::Format { path: path.clone(), msg: msg.clone() },
			Error::Io { path, source } => {
				Error::Io { path: path.clone(), source: std::io::Error::new(source.kind(), source.to_string()) }
			},
			Error::Internal(m) => Error::Internal(m.clone()),
		}
	}
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

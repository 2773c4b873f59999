//! The engine's one thread-count setting. Every tensor kernel (burn-flex's matrix products, its
//! element-wise and reduction kernels) runs on rayon's global pool, so sizing that pool once, at
//! start, is what training, evaluation, attribution and serving all honour.
//!
//! `mnemo-engine --threads N` or `MNEMO_THREADS=N`; the default is every core the process may
//! use. Attribution gives the same bytes at any count: matrix products split their output, not
//! their sums, between threads, and everything after the gradients runs on the host in a fixed
//! order (the tests compare 1 and 2 threads).

use crate::error::{Error, Result};

/// Most threads accepted (a typo guard, far above any machine the engine runs on).
pub const MAX_THREADS: usize = 1024;

/// The cores this process may use.
pub fn available() -> usize {
	std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Sizes the global compute pool (training, evaluation, attribution) and the serving pool:
/// `threads` each, or every available core. Call once, before any tensor work; returns the
/// count in force.
pub fn init(threads: Option<usize>) -> Result<usize> {
	let n = threads.unwrap_or_else(available);
	if n == 0 || n > MAX_THREADS {
		return Err(Error::bad(format!("thread count {n} is out of range 1..={MAX_THREADS}")));
	}
	rayon::ThreadPoolBuilder::new()
		.num_threads(n)
		.thread_name(|i| format!("mnemo-compute-{i}"))
		.build_global()
		.map_err(|e| Error::Internal(format!("cannot size the compute pool: {e}")))?;
	SERVING.set(serving_pool(n)?).map_err(|_| Error::Internal("the serving pool was already sized".into()))?;
	Ok(n)
}

/// Serving's own pool, as many threads as the compute pool. A training job keeps the compute
/// pool's threads busy for seconds at a time; serving's batch steps, run on a pool of their own,
/// are scheduled by the operating system beside them instead of queueing behind them.
static SERVING: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();

fn serving_pool(n: usize) -> Result<rayon::ThreadPool> {
	rayon::ThreadPoolBuilder::new()
		.num_threads(n)
		.thread_name(|i| format!("mnemo-serve-{i}"))
		.build()
		.map_err(|e| Error::Internal(format!("cannot start the serving pool: {e}")))
}

/// Runs `f` (a serving batch step) on the serving pool and waits for it. Without [`init`] (the
/// library used on its own), the pool is made on first use with every core; should its threads
/// fail to start, `f` runs on the caller's thread.
pub fn serve<R: Send>(f: impl FnOnce() -> R + Send) -> R {
	if SERVING.get().is_none() {
		if let Ok(pool) = serving_pool(available()) {
			let _ = SERVING.set(pool);
		}
	}
	match SERVING.get() {
		Some(pool) => pool.install(f),
		None => f(),
	}
}

/// Threads the compute pool has.
pub fn current() -> usize {
	rayon::current_num_threads()
}

/// Runs `f` on one of the compute pool's threads and waits for it. A thread outside the pool
/// that calls a threaded kernel hands the work to the pool and sleeps, and does every
/// single-threaded op in between itself, beside the pool's threads: three busy threads on two
/// cores. Inside the pool, the thread running `f` is one of the kernel's workers.
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
	if rayon::current_thread_index().is_some() {
		return f();
	}
	let mut out = None;
	// rayon runs a scope's body on a thread of the global pool when called from outside it.
	rayon::scope(|_| out = Some(f()));
	out.expect("the scope ran its body")
}

//! Tests, one file per feature. Each runs in `build_and_execute`, which checks the pallet's
//! invariants (`do_try_state`) after the test.

mod evaluation;
mod jobs;
mod ocw;
mod propose;
mod registry;
mod trainers;

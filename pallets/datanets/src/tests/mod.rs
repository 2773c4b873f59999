//! Tests, one file per feature. Each runs in `build_and_execute`, which checks the pallet's
//! invariants (`do_try_state`) after the test.

mod contribute;
mod create;
mod expiry;
mod removal;
mod review;
mod validation;
mod versions;

//! One file per feature.

mod batches;
mod channels;
mod claims;
mod conservation;
mod params;

//! One file per feature.

mod claims;
mod conservation;
mod credit;
mod escrow;
mod params;
mod settle;

//! One file per feature.

mod channels;
mod claims;
mod conservation;
mod params;
mod settle;

mod batches;
mod ocw;
mod params;
mod registry;

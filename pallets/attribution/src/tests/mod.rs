mod batches;
mod challenges;
mod ocw;
mod params;
mod pruning;
mod receipts;
mod registry;
mod reports;

mod delegate;
mod lifecycle;
mod params;
mod stake;
mod vote;

//! Black-box tests of the HTTP API: each test starts the real application on a
//! random port over its own freshly created Postgres database, so they run in
//! parallel. One test binary (this one) keeps link times down.

mod authorization;
mod campaigns;
mod concurrency;
mod contract;
mod errors;
mod fuzz;
mod health;
mod helpers;
mod idempotency;
mod limits;
mod partners;
mod projections;
mod queries;
mod relay;
mod seed;

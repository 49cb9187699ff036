//! The fleet of workers a job runs: how many at once, and how they share the account.

pub mod sim;

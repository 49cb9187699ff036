//! Running a job as a fleet: how the account's restore budget is shared by what runs.

pub mod budget;

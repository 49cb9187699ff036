//! Shared domain of thaw: what a key list is, how it splits into lots, what a job asks for, how a
//! key moves from archive to its new storage class, how a lot's progress is checkpointed, and the
//! AWS client setup both binaries use.
//!
//! Everything but [`aws`] and [`progress`] is pure and unit-tested without AWS.

pub mod aws;
pub mod bitmap;
pub mod budget;
pub mod checkpoint;
pub mod cost;
pub mod emf;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod head_facts;
pub mod iam;
pub mod input;
pub mod keys;
pub mod keystate;
pub mod leave_out;
pub mod listed_plan;
pub mod logging;
pub mod plan;
pub mod progress;
pub mod proof_record;
pub mod recheck;
pub mod restore_event;
pub mod restore_listing;
pub mod sample;
pub mod spec;
pub mod storage;
pub mod task;
pub mod upload_record;
pub mod verify;
pub mod weather;

/// The version written into every job spec, so a report can say which thaw produced it.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

//! thaw's worker: processes one lot of a thaw job. It restores the lot's archived objects,
//! copies every object with the job's target storage class (in place or to its destination),
//! and checkpoints its progress in the DynamoDB progress table so a re-run skips finished keys.
//!
//! The library is the whole worker but its process: [`run()`] takes the configuration
//! ([`Args`]), the clients ([`Clients`]) and a shutdown future, and returns how the run ended
//! ([`Outcome`]); the `worker` binary parses the flags, builds the clients and turns SIGTERM
//! into that future.
//!
//! Where things are: [`run()`] is one run's lifecycle (`run.rs`), `recovery.rs` cleans up after a
//! crashed run, `passes.rs` loops over the manifest (`listing.rs`: restore polling by listing), `key.rs` takes one key through the pure
//! verdicts of [`thaw_common::keystate`], `copy/` copies (one request, in parts, ACL grants),
//! `delete.rs` deletes copied source versions, `checkpointer.rs` writes progress, `emf_writer.rs` CloudWatch metric documents.

mod args;
mod budget;
mod checkpointer;
mod copy;
mod ctx;
mod delete;
mod emf_writer;
mod key;
mod listing;
mod manifest;
mod metrics;
mod object;
mod passes;
mod proofs;
mod ratelimit;
mod records;
mod recovery;
mod restore;
mod run;
mod settings;
mod tracker;
mod watchdog;

pub use args::Args;
pub use run::{run, Clients, Outcome};

pub(crate) use ctx::Ctx;

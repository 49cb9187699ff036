//! The fleet in virtual time: thaw's own scheduling (`follow`'s due decision and its readiness
//! look at WAITING lots ([`look`]), the window, the restore budget split over the running
//! workers, the worker's poll delays and `--max-wait`) driven against a model of AWS ([`model`]), event by event, so a 100M-key job runs in
//! seconds. `coordinator estimate --timeline` prints what it finds; `estimate` and
//! `launch --dry-run` print its short form.

pub mod clock;
pub mod job;
pub mod look;
pub mod model;
pub mod restores;
pub mod timeline;
pub mod worker;

pub use job::{simulate, Budget, SimJob};
pub use model::{Archive, AwsModel};
pub use timeline::Timeline;
pub use worker::WorkerModel;

//! The fleet: how many workers a job runs at once and which lots they take, as pure verdicts
//! from facts (the lot items, their workers' liveness, the time), so `launch`, `follow`, `retry`
//! and a simulation in virtual time all decide the same way.
//!
//! - [`budget`]: the restore budget seen from the coordinator (which lots are restoring).
//! - [`window`]: which lots start now, in what order, within `--max-tasks` live workers.
//! - [`sizing`]: the default `--max-tasks`, from the restore rate and what one worker sustains.
//! - [`quota`]: the window of one `follow` session after a Fargate quota refusal, growing back.
//! - [`pace`]: how many lots that have not started may start now (at the restore rate).
//! - [`pause`]: how long `follow` waits until its next look.
//! - [`sim`]: the whole fleet in virtual time against a model of AWS (`estimate --timeline`).

pub mod budget;
pub mod pace;
pub mod pause;
pub mod quota;
pub mod sim;
pub mod sizing;
pub mod window;

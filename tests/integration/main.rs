//! thaw's integration tests: the real binaries and the real AWS SDK against a moto emulator that
//! this test binary starts on a free loopback port (see `rig`);
//! `ecs` plays Fargate for the ECS launcher; `assert` holds the checks the tests make on objects;
//! `counts` reads what the emulator saw.
//!
//! One test binary links the AWS SDK once; each area has its own module.

mod access_tests;
mod advice_source_tests;
mod advice_tests;
mod assert;
mod budget_tests;
mod coordinator_tests;
mod counts;
mod deploy_tests;
mod e2e_tests;
mod ecs;
mod estimate_offline_tests;
mod events_fault_tests;
mod events_follow_tests;
mod events_health_tests;
mod events_setup_tests;
mod hang_tests;
mod launch_weather_tests;
mod listed_first_step_tests;
mod listing_tests;
mod mismatch_tests;
mod ops_tests;
mod output_tests;
mod pace_tests;
mod restore_days_tests;
mod rig;
mod stack_lint_tests;
mod timeline_tests;
mod verify_tests;
mod version_tests;
mod weather_tests;
mod window_tests;
mod worker_tests;

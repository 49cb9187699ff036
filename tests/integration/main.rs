//! thaw's integration tests: the real binaries and the real AWS SDK against a moto emulator that
//! this test binary starts on a free loopback port (see `rig`);
//! `ecs` plays Fargate for the ECS launcher; `assert` holds the checks the tests make on objects.
//!
//! One test binary links the AWS SDK once; each area has its own module.

mod assert;
mod coordinator_tests;
mod deploy_tests;
mod e2e_tests;
mod ecs;
mod ops_tests;
mod rig;
mod version_tests;
mod weather_tests;
mod worker_tests;

//! Measuring tools: the sample generator with ground truth, the accuracy evaluation of a
//! run's output against that truth, and a contract-faithful enaio test server. Used by
//! the `mailroom-lab` binary and the tests.

pub mod dms_server;
pub mod evaluate;
pub mod generate;
pub mod truth;

//! Measuring tools: the sample generator with ground truth, and the accuracy evaluation
//! of a run's output against that truth. Used by the `mailroom-lab` binary and the tests.

pub mod evaluate;
pub mod generate;
pub mod truth;

//! Measuring tools: the sample generator with ground truth, the accuracy evaluation of a
//! run's output against that truth, a contract-faithful enaio test server and a generator
//! of digitisation deliveries (BagIt bag plus inventory) with injected defects for
//! `mailroom validate`. Used by the `mailroom-lab` binary and the tests.

pub mod delivery;
pub mod dms_server;
pub mod evaluate;
pub mod generate;
pub mod pdfgen;
pub mod truth;

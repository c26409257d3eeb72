//! mailroom: the scan-room pipeline of a city administration.
//!
//! A batch of scanned pages goes through fixed stages, each a module here:
//! `ingest` (find and decode pages) -> `cleanup` (edges, specks, holes, blank pages, skew,
//! orientation) -> `ocr` (Tesseract, one engine per worker) and `patch` (Kodak patch codes)
//! -> `package` (searchable PDF + JSON sidecar) -> `report` (counts that prove no page was
//! lost). `pipeline` is the one place that knows the stage order and the parallelism.
//! `lab` holds the measuring tools: the sample generator with ground truth and the
//! accuracy evaluation.

pub mod barcode;
pub mod chain;
pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod coversheet;
pub mod deliver;
pub mod fsutil;
pub mod ingest;
pub mod lab;
pub mod leptonica;
pub mod log;
pub mod model;
pub mod ocr;
pub mod package;
pub mod patch;
pub mod pdf_input;
pub mod pipeline;
pub mod report;
pub mod routing;
pub mod run;
pub mod separation;
pub mod validate;
pub mod verify;

/// Version string written into every output file.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

//! Ground truth for generated batches: what each page really shows and which document
//! it belongs to. Written by the sample generator as `truth.json` next to the pages and
//! read back by the evaluation. Later issues add fields (barcodes, patch codes, routing);
//! readers ignore fields they do not know, so old truth files stay readable.
//!
//! Page kinds: `letter` (a page of a letter), `blank_back` (the empty back of a duplex
//! sheet, maybe with faint bleed-through, dust, punch holes or black scanner edges; the
//! only kind with `blank` = true) and `almost_blank` (a nearly empty page that still
//! carries content: a short handwritten note, a stamp or one typed line; never blank).
//!
//! Geometry: `rotation` is how far the page is turned clockwise on the scan, so a 90 or
//! 270 page is a landscape image; `skew_deg` is the remaining small tilt, positive =
//! counter-clockwise on the scan. A sheet's back shows the mirror of its front's geometry
//! (a front at 90 has its back at 270, and the opposite skew), blank backs included.
//!
//! Schema history: version 2 added the page flags `black_edges` and `punch_holes` and the
//! kind `almost_blank`; version 1 files still load, with both flags false.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Version of the `truth.json` layout.
pub const TRUTH_SCHEMA_VERSION: u32 = 2;

/// File name of the ground truth inside a batch folder.
pub const TRUTH_FILE: &str = "truth.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Truth {
    pub schema_version: u32,
    /// Seed the batch was generated from; the same seed gives the same batch.
    pub seed: u64,
    /// Generator name and version that wrote the batch.
    pub generator: String,
    /// Every page of the batch, in batch order (files sorted by name, then frame).
    pub pages: Vec<TruthPage>,
    /// Every document (letter) of the batch, in batch order.
    pub documents: Vec<TruthDocument>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PageKind {
    /// A page of a letter with text.
    Letter,
    /// The blank back of a duplex-scanned sheet (may show faint bleed-through).
    BlankBack,
    /// A nearly empty page that carries content all the same (a handwritten note, a
    /// stamp, one typed line): never to be dropped as blank.
    AlmostBlank,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TruthPage {
    /// Path of the image file, relative to the batch folder, with `/` separators.
    pub file: String,
    /// 0-based frame (page) index inside a multi-page file; 0 for single-page files.
    pub frame: u32,
    pub kind: PageKind,
    /// The exact text printed on the page, lines joined by `\n`; empty for blank pages.
    pub text: String,
    /// Skew of the page in degrees, positive = rotated counter-clockwise on the scan. On a
    /// blank back, the skew of the sheet as its back lies on the scanner.
    pub skew_deg: f64,
    /// Clockwise rotation of the whole page on the scan: 0, 90, 180 or 270. The image of a
    /// 90 or 270 page is landscape (width and height of the upright page swapped).
    pub rotation: u32,
    /// True only for `blank_back` pages.
    pub blank: bool,
    /// Dark scanner background along one to four edges of the image (axis-aligned to the
    /// image, 10-60 px wide).
    #[serde(default)]
    pub black_edges: bool,
    /// Two punched filing holes (dark discs) near the left edge of the sheet's front, the
    /// right edge of its back; they turn and skew with the page.
    #[serde(default)]
    pub punch_holes: bool,
    /// Resolution the page was rendered at and is tagged with.
    pub dpi: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TruthDocument {
    /// Indices into `Truth::pages`, in order.
    pub pages: Vec<usize>,
    /// Organisation unit the letter is addressed to, e.g. "61" or "50.4".
    pub unit: String,
    /// Full name of that unit, e.g. "Fachbereich 61 Stadtplanung und Geoinformation".
    pub unit_name: String,
    /// The letter's subject line (Betreff).
    pub subject: String,
}

impl Truth {
    pub fn load(path: &Path) -> Result<Truth> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read ground truth {}", path.display()))?;
        let truth: Truth = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid truth.json", path.display()))?;
        Ok(truth)
    }

    /// Finds the truth page for a file and frame of the batch.
    pub fn page(&self, file: &str, frame: u32) -> Option<&TruthPage> {
        self.pages
            .iter()
            .find(|p| p.file == file && p.frame == frame)
    }
}

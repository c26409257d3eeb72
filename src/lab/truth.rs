//! Ground truth for generated batches: what each page really shows and which document
//! it belongs to. Written by the sample generator as `truth.json` next to the pages and
//! read back by the evaluation. Later issues add fields (barcodes, patch codes, routing);
//! readers ignore fields they do not know, so old truth files stay readable.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Version of the `truth.json` layout.
pub const TRUTH_SCHEMA_VERSION: u32 = 1;

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
    /// Skew of the content in degrees, positive = rotated counter-clockwise on the scan.
    pub skew_deg: f64,
    /// Clockwise rotation of the whole page on the scan: 0, 90, 180 or 270.
    pub rotation: u32,
    pub blank: bool,
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

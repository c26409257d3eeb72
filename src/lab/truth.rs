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
//! Separation (schema 3): a *stream* batch is one stream of sheets in file order, as a
//! mail room scans it, with separator sheets between the letters: mailroom's own cover
//! sheets (`cover_sheet`), Kodak patch-code sheets (`patch_sheet`) and separator barcode
//! sheets (`separator_sheet`), any of them possibly with a blank back. File boundaries do
//! not follow documents in a stream batch (run it with `profiles/stream.toml`). Every page
//! lists the barcodes printed on it (separator, cover-sheet and unrelated ones such as a
//! parcel label) and its patch code; every document lists the separator pages in front of
//! it and the cover sheet's fields. A document's `pages` are its letter pages, blank backs
//! included; separator sheets and their backs belong to no document's `pages`.
//!
//! Routing (schema 4): every document says where it must be routed (`route`: an
//! organisation unit, the clarification queue or "unopened" for confidential mail) and
//! which routing case the letter was built as (`routing_case`, see the generator's module
//! documentation): `addressed` (the address field names the unit), `body_only` (only the
//! subject and body tell the unit), `ambiguous` (subject and body mix matters of two
//! units), `no_topic` (a generic letter), `confidential_marked` ("Persönlich",
//! "Vertraulich" ... above the recipient in the address field) and `confidential_person`
//! (a person's name above the authority). A cover sheet in front of an `ambiguous` or
//! `no_topic` letter decides: its route is then the cover sheet's unit.
//!
//! Schema history: version 4 added document `route` and `routing_case`; version 3 added page `barcodes` and `patch`, the separator page kinds,
//! and document `separators` and `cover`; version 2 added the page flags `black_edges` and
//! `punch_holes` and the kind `almost_blank`. Older files still load, with the new fields
//! empty.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::patch::PatchType;

/// Version of the `truth.json` layout.
pub const TRUTH_SCHEMA_VERSION: u32 = 4;

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
    /// A mailroom cover sheet (Deckblatt) printed by `mailroom coversheet`: separator
    /// carrying the next document's unit, case reference and expected page count.
    CoverSheet,
    /// A Kodak patch-code sheet with a printed label: separator.
    PatchSheet,
    /// A sheet with a separator barcode (e.g. Code 39 `PATCHT`) and a label: separator.
    SeparatorSheet,
}

impl PageKind {
    /// Cover, patch and separator barcode sheets: they split the stream and are no part
    /// of any document.
    pub fn is_separator(self) -> bool {
        matches!(
            self,
            PageKind::CoverSheet | PageKind::PatchSheet | PageKind::SeparatorSheet
        )
    }
}

/// A barcode printed on a page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TruthBarcode {
    /// Symbology as mailroom reports it: "Code128", "Code39", "QRCode", "DataMatrix",
    /// "ITF", "PDF417" or "EAN13".
    pub format: String,
    /// The encoded text.
    pub text: String,
}

/// What a cover sheet says about the document behind it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TruthCover {
    pub unit: String,
    #[serde(default)]
    pub case: Option<String>,
    /// The page count written on the sheet: usually the document's non-blank page count,
    /// on purpose wrong on some sheets (the run must flag those).
    #[serde(default)]
    pub pages: Option<u32>,
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
    /// Every barcode printed on the page.
    #[serde(default)]
    pub barcodes: Vec<TruthBarcode>,
    /// The patch code printed on the page (patch sheets, cover sheets).
    #[serde(default)]
    pub patch: Option<PatchType>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TruthDocument {
    /// Indices into `Truth::pages`, in order.
    pub pages: Vec<usize>,
    /// Organisation unit the letter was written for, e.g. "61" or "50.4": the unit its
    /// address field or its topic names (an ambiguous letter: the unit of its first
    /// topic; a letter without topic: a unit it does not show). Where the document must
    /// go is `route`.
    pub unit: String,
    /// Full name of that unit, e.g. "Fachbereich 61 Stadtplanung und Geoinformation".
    pub unit_name: String,
    /// The letter's subject line (Betreff).
    pub subject: String,
    /// Indices into `Truth::pages` of the separator sheets (and their blank backs) right
    /// in front of this document; empty for the first document or a non-stream batch.
    #[serde(default)]
    pub separators: Vec<usize>,
    /// The fields of the cover sheet in front of the document, if it has one.
    #[serde(default)]
    pub cover: Option<TruthCover>,
    /// Where the document must be routed.
    #[serde(default)]
    pub route: Option<ExpectedRoute>,
    /// Which routing case the letter was built as: "addressed", "body_only", "ambiguous",
    /// "no_topic", "confidential_marked", "confidential_person" (None in old files).
    #[serde(default)]
    pub routing_case: Option<String>,
}

/// Where a document must be routed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum ExpectedRoute {
    /// The organisation unit (code as in UNITS, e.g. "61", "50.4").
    Unit { unit: String },
    /// The clarification queue: no unit can be told with confidence.
    Clarification,
    /// Confidential mail: passed on unopened, never indexed.
    Unopened,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_serialise_tagged_and_old_documents_load_without_them() {
        let routes = [
            (
                ExpectedRoute::Unit {
                    unit: "50.4".into(),
                },
                r#"{"to":"unit","unit":"50.4"}"#,
            ),
            (ExpectedRoute::Clarification, r#"{"to":"clarification"}"#),
            (ExpectedRoute::Unopened, r#"{"to":"unopened"}"#),
        ];
        for (route, json) in routes {
            assert_eq!(serde_json::to_string(&route).unwrap(), json);
            assert_eq!(serde_json::from_str::<ExpectedRoute>(json).unwrap(), route);
        }
        // A schema 3 document: no route, no case.
        let old: TruthDocument = serde_json::from_str(
            r#"{"pages": [0], "unit": "61", "unit_name": "Fachbereich 61", "subject": "B"}"#,
        )
        .unwrap();
        assert_eq!((old.route, old.routing_case), (None, None));
    }
}

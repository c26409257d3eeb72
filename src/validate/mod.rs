//! `mailroom validate`: acceptance checks of a contractor's delivery of digitised files.
//!
//! A delivery is a BagIt bag (RFC 8493) plus an inventory of the files the city ordered.
//! Cheap checks run on the whole lot (bag structure, every hash, inventory, page counts,
//! resolution); the expensive ones (image quality, OCR legibility) on an ISO 2859-1
//! sample drawn reproducibly from a seed. Every check yields [`Finding`]s; the lot is
//! accepted or rejected from them, and the report lists every finding that led there.
//!
//! Parts: [`bagit`] (structure, Payload-Oxum, manifests), [`inventory`] (the CSV against
//! the payload), [`sampling`] (ISO 2859-1 tables and the seeded draw), [`quality`] (per
//! page image checks), [`html`] (the archivable report page).

pub mod bagit;
pub mod html;
pub mod inventory;
pub mod pdfa;
pub mod quality;
pub mod run;
pub mod sampling;

use serde::{Deserialize, Serialize};

/// What a finding is about. Names are stable: they appear in the JSON report and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    // -- the bag (100 % of the lot)
    /// `bagit.txt` missing or not a BagIt declaration; `data/` missing.
    BagInvalid,
    /// `bag-info.txt` Payload-Oxum differs from the payload's bytes or file count.
    PayloadOxumMismatch,
    /// A file the manifest lists is not in the payload.
    MissingFile,
    /// A payload file the manifest does not list.
    ExtraFile,
    /// A payload file whose SHA-256 differs from the manifest.
    AlteredFile,
    /// A tag file (bagit.txt, bag-info.txt, manifest) whose SHA-256 differs from the
    /// tag manifest, or a tag file the tag manifest lists that is missing.
    AlteredTagFile,
    // -- the inventory (100 %)
    /// A file the inventory names is not in the payload.
    NotDelivered,
    /// A payload file the inventory does not name.
    NotOrdered,
    /// The file's page count differs from the inventory's.
    PageCountMismatch,
    /// The same content (SHA-256) under two files.
    DuplicateFile,
    /// A payload file that cannot be read as pages (unknown format, broken).
    Unreadable,
    /// A PDF file that is not PDF/A (profile `validate.require_pdfa`); the detail names
    /// the clauses of ISO 19005 it breaks.
    NotPdfa,
    // -- per page: resolution on 100 %, the rest on the sample
    /// Resolution below the profile's minimum (from metadata, or from the pixel size of
    /// an A4/A3 page).
    LowResolution,
    /// Skew beyond the tolerance.
    Skewed,
    /// The page is upside down or sideways.
    WrongOrientation,
    /// A blank page inside a file.
    BlankPage,
    /// Black borders or content cut off at an edge.
    BlackBorder,
    /// Mean OCR confidence below the threshold.
    Illegible,
}

impl FindingKind {
    /// Whether the finding makes the page (or file) nonconforming in the sense of ISO
    /// 2859-1 (counted against the acceptance number), as opposed to a lot-level defect
    /// that rejects the lot by itself (broken bag, altered or missing files).
    pub fn is_lot_defect(self) -> bool {
        use FindingKind::*;
        matches!(
            self,
            BagInvalid
                | PayloadOxumMismatch
                | MissingFile
                | ExtraFile
                | AlteredFile
                | AlteredTagFile
                | NotDelivered
                | NotOrdered
                | PageCountMismatch
                | DuplicateFile
                | Unreadable
                | NotPdfa
        )
    }
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// Path relative to the bag (`data/...` for payload files), when about a file.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
    /// 1-based page within the file, when about a page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub page: Option<usize>,
    /// The inventory's id (Akte) of the file, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub item: Option<String>,
    /// What exactly, with the numbers (expected vs found).
    pub detail: String,
}

impl Finding {
    pub fn file(kind: FindingKind, file: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding {
            kind,
            file: Some(file.into()),
            page: None,
            item: None,
            detail: detail.into(),
        }
    }

    pub fn page(
        kind: FindingKind,
        file: impl Into<String>,
        page: usize,
        detail: impl Into<String>,
    ) -> Finding {
        Finding {
            kind,
            file: Some(file.into()),
            page: Some(page),
            item: None,
            detail: detail.into(),
        }
    }
}

/// A payload file as found in the bag (hashed while checking the manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadFile {
    /// Path relative to the bag, with `/`, starting with `data/`.
    pub rel: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A page of the lot: file (relative to the bag) and 1-based page.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PageRef {
    pub file: String,
    pub page: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Reject,
}

/// The lot in numbers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LotSummary {
    pub files: usize,
    pub pages: usize,
    pub bytes: u64,
}

/// The hash phase: every payload byte, read once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HashSummary {
    pub bytes: u64,
    pub seconds: f64,
    pub mb_per_second: f64,
}

/// The ISO 2859-1 plan used and what the sample showed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamplingSummary {
    /// e.g. "II" (general inspection level).
    pub inspection_level: String,
    pub aql: f64,
    pub lot_size: usize,
    pub code_letter: char,
    pub sample_size: usize,
    pub accept: usize,
    pub reject: usize,
    pub seed: u64,
    pub sampled: Vec<PageRef>,
    /// Sampled pages with at least one page finding.
    pub nonconforming: usize,
}

/// The result of `mailroom validate`, written as JSON and rendered as HTML.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationReport {
    pub schema_version: u32,
    pub mailroom_version: String,
    /// The delivery folder (the bag), absolute.
    pub delivery: String,
    pub inventory: Option<String>,
    pub profile: String,
    pub started: String,
    pub finished: String,
    pub elapsed_seconds: f64,
    pub lot: LotSummary,
    pub hash: HashSummary,
    pub sampling: Option<SamplingSummary>,
    pub decision: Decision,
    /// Why, in sentences an acceptance officer can sign under.
    pub reasons: Vec<String>,
    pub findings: Vec<Finding>,
    /// Thumbnails of the failed sampled pages: key `"<file>#<page>"`, value a
    /// `data:image/png;base64,...` URI.
    pub thumbnails: std::collections::BTreeMap<String, String>,
}

/// The short text an acceptance officer reads first.
pub fn summary(r: &ValidationReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let verdict = match r.decision {
        Decision::Accept => "ACCEPTED",
        Decision::Reject => "REJECTED",
    };
    let _ = writeln!(s, "mailroom validate {}: {verdict}", r.delivery);
    let _ = writeln!(
        s,
        "  lot          {} files, {} pages, {:.1} MB",
        r.lot.files,
        r.lot.pages,
        r.lot.bytes as f64 / 1e6
    );
    let _ = writeln!(
        s,
        "  hashes       {:.1} MB in {:.1} s ({:.0} MB/s)",
        r.hash.bytes as f64 / 1e6,
        r.hash.seconds,
        r.hash.mb_per_second
    );
    if let Some(p) = &r.sampling {
        let _ = writeln!(
            s,
            "  sample       {} of {} pages (ISO 2859-1 level {}, AQL {}, code letter {}, Ac {} Re {}, seed {}): {} nonconforming",
            p.sample_size, p.lot_size, p.inspection_level, p.aql, p.code_letter, p.accept, p.reject, p.seed, p.nonconforming
        );
    }
    for reason in &r.reasons {
        let _ = writeln!(s, "  reason       {reason}");
    }
    let _ = writeln!(s, "  findings     {}", r.findings.len());
    for f in r.findings.iter().take(40) {
        let kind = serde_json::to_value(f.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let place = match (&f.file, f.page) {
            (Some(file), Some(p)) => format!("{file} page {p}"),
            (Some(file), None) => file.clone(),
            _ => String::new(),
        };
        let _ = writeln!(s, "    {kind:<22} {place}: {}", f.detail);
    }
    if r.findings.len() > 40 {
        let _ = writeln!(
            s,
            "    ... and {} more (--json or --html list all)",
            r.findings.len() - 40
        );
    }
    let _ = write!(s, "  time         {:.1} s", r.elapsed_seconds);
    s
}

//! Accuracy evaluation: scores a run's output against the batch's `truth.json`.
//!
//! For every page of the truth it finds the page in the output (via the documents' JSON,
//! delivered, or removed as blank or as a separator sheet) and measures:
//! - text: character and word error rates of the text in the JSON and of the text that
//!   `pdftotext -raw` extracts from the PDF (an independent reader of our text layer),
//!   compared after collapsing all whitespace to single spaces. Separator sheets (cover,
//!   patch and separator barcode sheets) are scored apart (`separator_cer`), so the letter
//!   CER stays comparable between stream and plain batches;
//! - cleanup: residual skew |found - true| (degrees), whether the page came out upright,
//!   and blank detection (precision, recall, and pages with content judged blank: the
//!   one error that must never happen);
//! - barcodes (`barcodes`): per symbology, the truth's barcodes read on their page with
//!   the same format and text, the ones missed, and misreads (a reported barcode that
//!   the page does not carry: a wrong value or a false read);
//! - patch codes (`patches`): a confusion matrix truth x found over the delivered pages,
//!   with wrong types (1 <-> 6 and 3 <-> T are the reading-direction errors), missed and
//!   false patches;
//! - document separation (`separation`, when the truth has separators or when asked): a
//!   truth document is right when one output document holds exactly its pages with
//!   content (blank backs and separator sheets are removed pages); output documents that
//!   match no letter, separator sheets kept in a PDF, the cover-sheet fields and the
//!   `page_count_mismatch` flag;
//! - the cost of reading barcodes and patch codes against OCR (`reading_cost`);
//! - routing (`routing`, when the truth has routes: schema 4): per truth document the
//!   output document that matches it (as for separation; else the one keeping its first
//!   page) must be routed where the truth says: the same unit, clarification or
//!   unopened. A confusion table expected x found, accuracy per routing case, documents
//!   routed to a wrong unit with high confidence, and confidential leaks: a letter that
//!   must stay unopened routed to a unit or to clarification, or an unopened document
//!   that still stores text (OCR text or lines in its JSON, a text layer in its PDF).
//!   Pages of documents the run left unopened carry no text on purpose: they are kept
//!   out of the text error rates (`unopened` on the page, `unopened_pages` in the
//!   summary).
//!
//! The document JSONs are read leniently (fields added by later issues default to
//! empty), so outputs of older runs are scored too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::cleanup::{CleanupRecord, Flag};
use crate::lab::truth::{ExpectedRoute, PageKind, Truth, TruthBarcode, TruthCover};
use crate::patch::PatchType;

#[derive(Debug, Clone, Serialize)]
pub struct PageScore {
    pub file: String,
    pub frame: u32,
    pub kind: PageKind,
    pub blank: bool,
    /// Characters in the (normalised) truth text.
    pub truth_chars: usize,
    /// Error rates of the JSON text (absent for truly blank pages). A page with content
    /// that was judged blank lost all its text: rates 1.0. On separator sheets only when
    /// the output carries their text, and kept out of the summary's letter CER.
    pub cer: Option<f64>,
    pub wer: Option<f64>,
    /// The same from `pdftotext -raw` of the PDF page.
    pub cer_pdf: Option<f64>,
    pub wer_pdf: Option<f64>,
    /// Characters recognised on a blank page (should be 0).
    pub chars_on_blank: usize,
    /// False when the page is in no document's JSON (quarantined or lost).
    pub delivered: bool,
    /// Why the page was taken out of its document ("blank", "separator"); absent when it
    /// is a page of a PDF or was not delivered.
    pub removed: Option<String>,
    /// A page of a document the run routed unopened: its text is withheld on purpose, so
    /// it has no error rates.
    pub unopened: bool,
    /// Cleanup judged the page blank.
    pub judged_blank: bool,
    pub skew_true: f64,
    pub skew_found: Option<f64>,
    /// |found - true| in degrees, for pages with content whose skew was found clearly.
    pub skew_error: Option<f64>,
    /// Cleanup could not find the skew clearly (flagged, left as scanned).
    pub skew_uncertain: bool,
    pub rotation_true: u32,
    pub rotation_applied: u32,
    /// The page came out upright (pages with content).
    pub upright: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub mean: f64,
    pub median: f64,
    pub worst: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub pages: usize,
    /// Pages with content that are no separator sheets (letters, almost blank pages).
    pub text_pages: usize,
    pub blank_pages: usize,
    /// Cover, patch and separator barcode sheets (not counted in `text_pages`).
    pub separator_pages: usize,
    pub undelivered_pages: usize,
    /// Pages with content in documents the run routed unopened (no text on purpose; not
    /// in the error rates).
    pub unopened_pages: usize,
    /// Over `text_pages` only (unopened pages left out).
    pub cer: Option<Stats>,
    pub wer: Option<Stats>,
    pub cer_pdf: Option<Stats>,
    pub wer_pdf: Option<Stats>,
    /// CER of the separator sheets whose text the output carries.
    pub separator_cer: Option<Stats>,
    /// Residual skew over pages with content whose true skew is within +-5 degrees and
    /// whose skew cleanup found clearly.
    pub skew_error: Option<Stats>,
    /// Pages with content whose skew cleanup flagged as uncertain.
    pub skew_uncertain_pages: usize,
    pub rotation: RotationSummary,
    pub blank: BlankSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct RotationSummary {
    /// Pages with content that were checked.
    pub pages: usize,
    pub upright: usize,
    /// Pages that cleanup turned, but wrongly (worse than leaving them).
    pub turned_wrongly: usize,
    pub accuracy: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlankSummary {
    pub truly_blank: usize,
    pub found: usize,
    pub missed: usize,
    /// Pages with content judged blank: must be 0.
    pub content_judged_blank: usize,
    pub precision: f64,
    pub recall: f64,
}

/// Barcode reading over every truth page (separator sheets included).
#[derive(Debug, Clone, Serialize)]
pub struct BarcodeScore {
    /// Barcodes printed on the truth's pages.
    pub expected: usize,
    /// Of them, reported on their page with the same format and text.
    pub found: usize,
    /// Not reported (also when the page was not delivered).
    pub missed: usize,
    /// found / expected (1.0 when nothing was expected).
    pub read_rate: f64,
    /// Reported barcodes whose (format, text) the page does not carry.
    pub misreads: usize,
    /// By symbology ("Code128", "QRCode", ...); misreads count under the reported format.
    pub per_format: BTreeMap<String, FormatScore>,
    pub missed_barcodes: Vec<MissedBarcode>,
    pub misread_barcodes: Vec<Misread>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FormatScore {
    pub expected: usize,
    pub found: usize,
    pub missed: usize,
    pub misreads: usize,
    pub read_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MissedBarcode {
    pub file: String,
    pub frame: u32,
    pub format: String,
    pub text: String,
    /// False when the page itself was not delivered.
    pub delivered: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Misread {
    pub file: String,
    pub frame: u32,
    /// What was reported.
    pub format: String,
    pub text: String,
    /// What the page really carries (empty for a false read on a page without barcodes).
    pub truth: Vec<TruthBarcode>,
}

/// Patch codes over the delivered truth pages (kept or removed).
#[derive(Debug, Clone, Serialize)]
pub struct PatchScore {
    /// Row and column labels: "patch_1" .. "patch_t", then "none".
    pub labels: Vec<String>,
    /// `matrix[truth][found]`: pages by their true and their found patch code.
    pub matrix: Vec<Vec<usize>>,
    /// Delivered pages counted in the matrix.
    pub pages: usize,
    /// Delivered pages that carry a patch code.
    pub patch_pages: usize,
    /// Found with the right type.
    pub right: usize,
    /// Found with another type (e.g. Patch 1 read as Patch 6: read from the wrong end).
    pub wrong_type: usize,
    /// Not found.
    pub missed: usize,
    /// Found on a page that carries no patch code: must be 0.
    pub false_patches: usize,
    /// Patch pages of the truth that were not delivered (not in the matrix).
    pub undelivered_patch_pages: usize,
    pub errors: Vec<PatchError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatchError {
    pub file: String,
    pub frame: u32,
    pub truth: Option<String>,
    pub found: Option<String>,
}

/// Document boundaries, cover sheets and the page-count check.
#[derive(Debug, Clone, Serialize)]
pub struct SeparationScore {
    pub truth_documents: usize,
    /// Truth documents whose pages with content are exactly one output document's pages.
    pub right: usize,
    pub wrong: usize,
    /// right / truth_documents.
    pub accuracy: f64,
    pub wrong_documents: Vec<WrongDocument>,
    /// Output documents with pages in a PDF.
    pub output_documents: usize,
    /// Output documents with removed pages only (evidence), not scored.
    pub evidence_only_documents: usize,
    /// Output documents with pages whose page set is no truth document's.
    pub unmatched_output_documents: Vec<UnmatchedDocument>,
    /// Separator sheets (cover, patch, separator barcode) of the truth.
    pub separator_pages: usize,
    /// Of them, removed from the documents with reason "separator".
    pub separator_pages_removed: usize,
    /// Of them, kept as a page of a PDF: must be 0 with the stream profile.
    pub separator_pages_kept: usize,
    pub separator_pages_kept_list: Vec<String>,
    /// Output documents by what started them (`separation.started_by.kind`; "unknown" for
    /// outputs without separation records).
    pub started_by: BTreeMap<String, usize>,
    /// Flags in the output documents' `separation.flags`, by name.
    pub flags: BTreeMap<String, usize>,
    pub covers: CoverScore,
    pub page_count_flags: PageCountScore,
}

#[derive(Debug, Clone, Serialize)]
pub struct WrongDocument {
    /// Index into the truth's documents.
    pub index: usize,
    /// Its pages with content, as "file:frame".
    pub expected: Vec<String>,
    /// In words: split, merged, pages not kept.
    pub problem: String,
    /// Output documents that keep some of its pages.
    pub held_by: Vec<Holder>,
    /// Expected pages kept in no output document (removed or not delivered).
    pub not_kept: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    pub id: String,
    /// Pages in that document's PDF.
    pub pages: usize,
    /// Of them, pages of the truth document.
    pub holds: usize,
    /// Its other pages ("file:frame").
    pub extra_pages: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnmatchedDocument {
    pub id: String,
    pub pages: Vec<String>,
    pub started_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverScore {
    /// Truth documents behind a cover sheet.
    pub documents: usize,
    /// The output document (the one matching the truth document, else the one keeping
    /// its first page) reports the same unit, case and page count.
    pub right: usize,
    /// Reported with other values.
    pub wrong: usize,
    /// No cover sheet reported.
    pub unread: usize,
    /// Rightly separated documents without a cover sheet that report one.
    pub unexpected: usize,
    pub errors: Vec<CoverError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoverError {
    pub index: usize,
    pub output_document: Option<String>,
    pub expected: Option<TruthCover>,
    pub found: Option<FoundCover>,
}

/// The `page_count_mismatch` flag, checked on the rightly separated documents: present
/// exactly when the cover sheet's page count differs from the document's pages with
/// content.
#[derive(Debug, Clone, Serialize)]
pub struct PageCountScore {
    pub checked: usize,
    /// Documents whose cover sheet states a wrong page count.
    pub expected_flags: usize,
    /// Checked documents flagged exactly when they should be.
    pub correct: usize,
    /// Expected but absent.
    pub missing: usize,
    /// Present but not expected.
    pub false_flags: usize,
    /// Truth documents with a cover-sheet page count that were separated wrongly.
    pub unchecked: usize,
    pub errors: Vec<PageCountError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageCountError {
    pub index: usize,
    pub output_document: String,
    pub cover_pages: Option<u32>,
    pub pages: usize,
    pub flagged: bool,
}

/// What reading barcodes and patch codes costs, against OCR (worker time).
#[derive(Debug, Clone, Serialize)]
pub struct ReadingCost {
    pub documents: usize,
    /// Pages in the documents, kept and removed.
    pub pages: usize,
    pub barcodes_ms: u64,
    /// Absent when the output has no patch timings (older runs).
    pub patch_ms: Option<u64>,
    pub ocr_ms: u64,
    pub barcodes_ms_per_page: f64,
    pub patch_ms_per_page: Option<f64>,
    pub ocr_ms_per_page: f64,
    /// (barcodes + patch) / OCR; absent without OCR time.
    pub share_of_ocr: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub summary: Summary,
    pub pages: Vec<PageScore>,
    /// Absent for plain tesseract output.
    pub barcodes: Option<BarcodeScore>,
    pub patches: Option<PatchScore>,
    /// Present when the truth has separators or when asked for.
    pub separation: Option<SeparationScore>,
    pub reading_cost: Option<ReadingCost>,
    /// Present when the truth has expected routes (truth schema 4).
    pub routing: Option<RoutingScore>,
}

/// Label of the clarification queue ("Klärung") in the routing confusion table.
pub const ROUTE_CLARIFICATION: &str = "clarification";
/// Label of confidential mail left unopened in the routing confusion table.
pub const ROUTE_UNOPENED: &str = "unopened";
/// Column of the truth documents that no output document routes (not delivered, or an
/// output without routing).
pub const ROUTE_MISSING: &str = "missing";
/// A routing to a wrong unit at or above this confidence is an error that must not
/// happen (it would not go to clarification).
pub const HIGH_CONFIDENCE: f64 = 0.8;

/// Routing of the truth documents that have an expected route.
#[derive(Debug, Clone, Serialize)]
pub struct RoutingScore {
    /// Truth documents with an expected route.
    pub total: usize,
    /// Routed where the truth says (same unit, or both clarification, or both unopened).
    pub right: usize,
    /// total - right, the missing ones included.
    pub wrong: usize,
    /// right / total.
    pub accuracy: f64,
    /// Of the wrong ones: held by no output document, or by one without routing.
    pub missing: usize,
    /// Scored through the output document keeping their first page, because no output
    /// document holds exactly their pages (separated wrongly).
    pub not_separated: usize,
    /// Row labels (expected): unit codes, then "clarification" and "unopened".
    pub rows: Vec<String>,
    /// Column labels (found): the row labels, then "missing".
    pub columns: Vec<String>,
    /// `confusion[expected][found]`: truth documents by expected and found route.
    pub confusion: Vec<Vec<usize>>,
    /// By the truth's routing case ("addressed", "body_only", "ambiguous", "no_topic",
    /// "confidential_marked", "confidential_person").
    pub per_case: BTreeMap<String, CaseScore>,
    /// Truth documents that belong in clarification.
    pub clarification_expected: usize,
    /// Truth documents the run sent to clarification.
    pub clarification_found: usize,
    /// clarification_found / total.
    pub clarification_rate: f64,
    /// Routed to a wrong unit with confidence >= 0.8: must be 0.
    pub wrong_high_confidence: usize,
    pub wrong_high_confidence_list: Vec<RoutedDocument>,
    /// Confidential text routed or stored: must be 0.
    pub confidential_leaks: usize,
    pub confidential_leak_list: Vec<RoutingLeak>,
    /// Every truth document not routed right.
    pub errors: Vec<RoutedDocument>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseScore {
    pub documents: usize,
    pub right: usize,
    pub accuracy: f64,
}

/// A truth document and where the run routed it.
#[derive(Debug, Clone, Serialize)]
pub struct RoutedDocument {
    /// Index into the truth's documents.
    pub index: usize,
    pub routing_case: Option<String>,
    pub subject: String,
    /// Unit code, "clarification" or "unopened".
    pub expected: String,
    /// Unit code, "clarification", "unopened" or "missing".
    pub found: String,
    /// The output document scored for it.
    pub output_document: Option<String>,
    /// False when that output document does not hold exactly the letter's pages.
    pub separated: bool,
    pub rule: Option<String>,
    pub confidence: Option<f64>,
    /// Why the run sent it to clarification or left it unopened.
    pub reason: Option<String>,
    /// The best rule that lost, as the output reports it.
    pub runner_up: Option<serde_json::Value>,
}

/// Confidential text that was routed or stored.
#[derive(Debug, Clone, Serialize)]
pub struct RoutingLeak {
    /// The truth document concerned, if any matches.
    pub index: Option<usize>,
    pub output_document: String,
    /// "routed": a letter to stay unopened routed to a unit or clarification;
    /// "json_text": an unopened document whose JSON keeps OCR text or lines;
    /// "pdf_text": an unopened document whose PDF yields text (`pdftotext`).
    pub kind: String,
    /// Where the output document was routed.
    pub found: String,
    /// Pages ("file:frame") carrying text ("json_text", "pdf_text"); the document's
    /// pages for "routed".
    pub pages: Vec<String>,
}

/// What to score beyond the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions {
    /// Score document boundaries even when the truth has no separators (a batch of one
    /// document per file must score 100 %).
    pub separation: bool,
}

// ---------------------------------------------------------------------------------------
// The run's output, read leniently
// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct ReportJson {
    #[serde(default)]
    documents: Vec<ReportDocJson>,
}

#[derive(Debug, Deserialize)]
struct ReportDocJson {
    #[serde(default)]
    id: String,
    #[serde(default)]
    pdf: Option<String>,
    json: String,
    /// Target, rule and confidence (issue 5); the document JSON's own record wins.
    #[serde(default)]
    routing: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct DocJson {
    #[serde(default)]
    id: String,
    #[serde(default)]
    pages: Vec<PageJson>,
    #[serde(default)]
    removed_pages: Vec<RemovedJson>,
    #[serde(default)]
    separation: Option<SeparationJson>,
    #[serde(default)]
    timings_ms: TimingsJson,
    /// Read leniently by hand (see `OutputDoc::routing`): absent in older outputs.
    #[serde(default)]
    routing: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct PageJson {
    source_file: String,
    frame: u32,
    #[serde(default)]
    cleanup: Option<CleanupRecord>,
    #[serde(default)]
    barcodes: Vec<BarcodeJson>,
    #[serde(default)]
    patch: Option<PatchJson>,
    #[serde(default)]
    ocr: Option<OcrJson>,
}

#[derive(Debug, Deserialize)]
struct RemovedJson {
    #[serde(default)]
    reason: Option<String>,
    #[serde(flatten)]
    page: PageJson,
}

#[derive(Debug, Deserialize)]
struct BarcodeJson {
    format: String,
    text: String,
}

#[derive(Debug, Deserialize)]
struct PatchJson {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct OcrJson {
    #[serde(default)]
    text: String,
    /// The recognised lines: `{"lines": [...]}` as mailroom writes them (any shape is
    /// accepted; only whether it holds lines matters).
    #[serde(default)]
    lines: Option<serde_json::Value>,
}

impl OcrJson {
    /// The JSON keeps text of the page: OCR text or recognised lines.
    fn has_text(&self) -> bool {
        fn holds_lines(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::Null => false,
                serde_json::Value::Array(a) => !a.is_empty(),
                serde_json::Value::Object(o) => o.get("lines").map_or(!o.is_empty(), holds_lines),
                serde_json::Value::String(s) => !s.trim().is_empty(),
                _ => true,
            }
        }
        !self.text.trim().is_empty() || self.lines.as_ref().is_some_and(holds_lines)
    }
}

#[derive(Debug, Default, Deserialize)]
struct SeparationJson {
    #[serde(default)]
    started_by: Option<serde_json::Value>,
    #[serde(default)]
    cover_sheet: Option<FoundCover>,
    #[serde(default)]
    flags: Vec<serde_json::Value>,
}

/// The cover-sheet fields an output document reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FoundCover {
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub case: Option<String>,
    #[serde(default)]
    pub pages: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct TimingsJson {
    #[serde(default)]
    barcodes: u64,
    #[serde(default)]
    patch: Option<u64>,
    #[serde(default)]
    ocr: u64,
}

/// One output document with the text of its PDF pages.
struct OutputDoc {
    id: String,
    record: DocJson,
    /// `pdftotext` of each PDF page; absent when not read.
    pdf_pages: Option<Vec<String>>,
}

impl OutputDoc {
    fn kept(&self) -> BTreeSet<(String, u32)> {
        self.record
            .pages
            .iter()
            .map(|p| (p.source_file.clone(), p.frame))
            .collect()
    }

    fn started_by(&self) -> Option<String> {
        let v = self.record.separation.as_ref()?.started_by.as_ref()?;
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            v => v.get("kind").and_then(|k| k.as_str()).map(str::to_string),
        }
    }

    fn flags(&self) -> Vec<String> {
        self.record
            .separation
            .as_ref()
            .map(|s| {
                s.flags
                    .iter()
                    .filter_map(|f| match f {
                        serde_json::Value::String(s) => Some(s.clone()),
                        f => f.get("flag").and_then(|k| k.as_str()).map(str::to_string),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn cover(&self) -> Option<&FoundCover> {
        self.record.separation.as_ref()?.cover_sheet.as_ref()
    }

    /// Where the run routed the document; None for outputs without routing.
    fn routing(&self) -> Option<FoundRoute> {
        let r = self.record.routing.as_ref().filter(|r| r.is_object())?;
        let target = &r["target"];
        let to = target
            .get("to")
            .and_then(|t| t.as_str())
            .or_else(|| target.as_str())?
            .to_string();
        let label = match to.as_str() {
            "unit" => target
                .get("unit")
                .and_then(|u| u.as_str())
                .unwrap_or("unit")
                .to_string(),
            _ => to.clone(),
        };
        let text = |key: &str| r.get(key).and_then(|v| v.as_str()).map(str::to_string);
        Some(FoundRoute {
            is_unit: to == "unit",
            label,
            rule: text("rule"),
            reason: text("reason"),
            confidence: r.get("confidence").and_then(|c| c.as_f64()),
            runner_up: r.get("runner_up").filter(|v| !v.is_null()).cloned(),
        })
    }

    fn is_unopened(&self) -> bool {
        self.routing().is_some_and(|r| r.label == ROUTE_UNOPENED)
    }
}

/// An output document's routing, as read from its JSON.
#[derive(Debug, Clone)]
struct FoundRoute {
    /// Routed to an organisation unit (`label` is its code).
    is_unit: bool,
    /// Unit code, "clarification", "unopened" (or an unknown target's name).
    label: String,
    rule: Option<String>,
    reason: Option<String>,
    confidence: Option<f64>,
    runner_up: Option<serde_json::Value>,
}

/// The confusion-table label of an expected route.
fn expected_label(route: &ExpectedRoute) -> String {
    match route {
        ExpectedRoute::Unit { unit } => unit.clone(),
        ExpectedRoute::Clarification => ROUTE_CLARIFICATION.to_string(),
        ExpectedRoute::Unopened => ROUTE_UNOPENED.to_string(),
    }
}

/// What the output says about one page.
#[derive(Default)]
struct Found {
    text: Option<String>,
    pdf_text: Option<String>,
    /// OCR text of a removed page (a separator sheet may carry it).
    removed_text: Option<String>,
    cleanup: Option<CleanupRecord>,
    /// Reported barcodes (format, text).
    barcodes: Vec<(String, String)>,
    patch: Option<String>,
    /// Reason the page was removed from its document; None for a page of a PDF.
    removed: Option<String>,
    /// A page of a document the run routed unopened (text withheld on purpose).
    unopened: bool,
}

type FoundMap = HashMap<(String, u32), Found>;

/// Evaluates the output folder of a run against the truth.
pub fn evaluate(out_dir: &Path, truth: &Truth) -> Result<Evaluation> {
    evaluate_with(out_dir, truth, EvalOptions::default())
}

/// Evaluates the output folder of a run against the truth, with options.
pub fn evaluate_with(out_dir: &Path, truth: &Truth, opts: EvalOptions) -> Result<Evaluation> {
    let docs = load_output(out_dir, true)?;
    Ok(score_output(&docs, truth, opts))
}

/// Reads the report and every document JSON; with `read_pdf`, the PDFs' text too.
fn load_output(out_dir: &Path, read_pdf: bool) -> Result<Vec<OutputDoc>> {
    let report_path = out_dir.join(crate::pipeline::REPORT_FILE);
    let report: ReportJson = serde_json::from_slice(
        &std::fs::read(&report_path)
            .with_context(|| format!("cannot read {}", report_path.display()))?,
    )
    .with_context(|| format!("{} is not a mailroom report", report_path.display()))?;
    let mut docs = Vec::new();
    for doc in &report.documents {
        let record: DocJson = serde_json::from_slice(
            &std::fs::read(out_dir.join(&doc.json))
                .with_context(|| format!("cannot read {}", doc.json))?,
        )
        .with_context(|| format!("{} is not a document record", doc.json))?;
        let pdf_pages = match (&doc.pdf, read_pdf) {
            (Some(pdf), true) => {
                let pages = pdftotext_pages(&out_dir.join(pdf))?;
                if pages.len() < record.pages.len() {
                    bail!(
                        "{}: pdftotext found {} pages, the JSON lists {}",
                        doc.json,
                        pages.len(),
                        record.pages.len()
                    );
                }
                Some(pages)
            }
            (None, true) if !record.pages.is_empty() => bail!(
                "{}: the JSON lists {} pages but the report names no PDF",
                doc.json,
                record.pages.len()
            ),
            _ => None,
        };
        let mut record = record;
        if record
            .routing
            .as_ref()
            .is_none_or(serde_json::Value::is_null)
        {
            record.routing = doc.routing.clone();
        }
        let id = [&record.id, &doc.id, &doc.json]
            .into_iter()
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_default();
        docs.push(OutputDoc {
            id,
            record,
            pdf_pages,
        });
    }
    Ok(docs)
}

fn found_page(page: &PageJson, removed: Option<String>, pdf_text: Option<String>) -> Found {
    Found {
        text: page.ocr.as_ref().map(|o| o.text.clone()),
        pdf_text,
        removed_text: None,
        cleanup: page.cleanup.clone(),
        barcodes: page
            .barcodes
            .iter()
            .map(|b| (b.format.clone(), b.text.clone()))
            .collect(),
        patch: page.patch.as_ref().map(|p| p.kind.clone()),
        removed,
        unopened: false,
    }
}

fn score_output(docs: &[OutputDoc], truth: &Truth, opts: EvalOptions) -> Evaluation {
    let mut found: FoundMap = HashMap::new();
    for doc in docs {
        let unopened = doc.is_unopened();
        for (i, page) in doc.record.pages.iter().enumerate() {
            let pdf_text = doc.pdf_pages.as_ref().and_then(|p| p.get(i).cloned());
            let mut f = found_page(page, None, pdf_text);
            f.unopened = unopened;
            found.insert((page.source_file.clone(), page.frame), f);
        }
        for removed in &doc.record.removed_pages {
            let page = &removed.page;
            // A removed page's text is no text of the document: kept apart, for the
            // separator sheets' own CER.
            let mut f = found_page(
                page,
                Some(removed.reason.clone().unwrap_or_else(|| "blank".into())),
                None,
            );
            f.removed_text = f.text.take();
            found.insert((page.source_file.clone(), page.frame), f);
        }
    }
    let mut eval = score(&found, truth);
    eval.barcodes = Some(score_barcodes(&found, truth));
    eval.patches = Some(score_patches(&found, truth));
    let has_separators = truth
        .documents
        .iter()
        .any(|d| !d.separators.is_empty() || d.cover.is_some())
        || truth.pages.iter().any(|p| p.kind.is_separator());
    if has_separators || opts.separation {
        eval.separation = Some(score_separation(docs, truth));
    }
    eval.reading_cost = Some(reading_cost(docs));
    eval.routing = score_routing(docs, truth);
    eval
}

/// Evaluates plain `tesseract <file> <base> tsv` output (one `<file name>.tsv` per batch
/// file in `dir`, multi-page files with one page number per frame) against the truth:
/// the same text scoring for the floor of the benchmark (no cleanup records).
pub fn evaluate_tesseract_tsv(dir: &Path, truth: &Truth) -> Result<Evaluation> {
    let mut found: FoundMap = HashMap::new();
    let files: std::collections::BTreeSet<&str> =
        truth.pages.iter().map(|p| p.file.as_str()).collect();
    for file in files {
        let name = Path::new(file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tsv_path = dir.join(format!("{name}.tsv"));
        let Ok(tsv) = std::fs::read_to_string(&tsv_path) else {
            continue; // not delivered by the contender
        };
        // Column 2 is the 1-based page number: split the rows by page.
        let mut by_page: std::collections::BTreeMap<u32, String> =
            std::collections::BTreeMap::new();
        for row in tsv.lines().skip(1) {
            let page: u32 = row
                .split('\t')
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let rows = by_page.entry(page).or_default();
            rows.push_str(row);
            rows.push('\n');
        }
        for (page, rows) in by_page {
            let text = crate::ocr::PageText::from_tsv(&rows).text();
            found.insert(
                (file.to_string(), page.saturating_sub(1)),
                Found {
                    text: Some(text),
                    ..Found::default()
                },
            );
        }
    }
    Ok(score(&found, truth))
}

/// Evaluates the text layer of one PDF whose pages are the batch's pages in the truth's
/// order (an image PDF of the batch run through another OCR tool): page i of the PDF, as
/// `pdftotext -raw` extracts it, is scored against the truth's page i. A PDF with another
/// page count is refused: the pages could not be matched.
pub fn evaluate_pdf_text(pdf: &Path, truth: &Truth) -> Result<Evaluation> {
    let pages = pdftotext_pages(pdf)?;
    if pages.len() != truth.pages.len() {
        bail!(
            "{} has {} pages, the truth {}: cannot match them",
            pdf.display(),
            pages.len(),
            truth.pages.len()
        );
    }
    let found: FoundMap = truth
        .pages
        .iter()
        .zip(pages)
        .map(|(t, text)| {
            (
                (t.file.clone(), t.frame),
                Found {
                    text: Some(normalise(&text)),
                    ..Found::default()
                },
            )
        })
        .collect();
    Ok(score(&found, truth))
}

fn score(found: &FoundMap, truth: &Truth) -> Evaluation {
    let mut pages = Vec::new();
    for t in &truth.pages {
        let truth_text = normalise(&t.text);
        let got = found.get(&(t.file.clone(), t.frame));
        let cleanup = got.and_then(|g| g.cleanup.as_ref());
        let judged_blank = cleanup.is_some_and(|c| c.blank);
        let rotation_applied = cleanup.map_or(0, |c| c.rotation);
        let skew_found = cleanup.and_then(|c| c.skew_deg).map(f64::from);
        let mut score = PageScore {
            file: t.file.clone(),
            frame: t.frame,
            kind: t.kind,
            blank: t.blank,
            truth_chars: truth_text.chars().count(),
            cer: None,
            wer: None,
            cer_pdf: None,
            wer_pdf: None,
            chars_on_blank: 0,
            delivered: got.is_some(),
            removed: got.and_then(|g| g.removed.clone()),
            unopened: got.is_some_and(|g| g.unopened && g.removed.is_none()),
            judged_blank,
            skew_true: t.skew_deg,
            skew_found,
            skew_error: None,
            skew_uncertain: false,
            rotation_true: t.rotation,
            rotation_applied,
            upright: None,
        };
        if let Some(g) = got {
            if t.blank {
                score.chars_on_blank = g
                    .text
                    .as_deref()
                    .map_or(0, |s| normalise(s).chars().count());
            } else {
                if score.unopened {
                    // Confidential mail left unopened: no text to score, on purpose
                    // (text it still carries is a leak, counted under routing).
                } else if t.kind.is_separator() {
                    // A separator sheet is no part of a document: its text is scored
                    // where the output has it, apart from the letters.
                    if let Some(text) = g.text.as_deref().or(g.removed_text.as_deref()) {
                        let text = normalise(text);
                        score.cer = Some(error_rate(&chars(&truth_text), &chars(&text)));
                        score.wer = Some(error_rate(&words(&truth_text), &words(&text)));
                    }
                } else {
                    // A page with content judged blank lost all of its text.
                    let text = normalise(g.text.as_deref().unwrap_or(""));
                    score.cer = Some(error_rate(&chars(&truth_text), &chars(&text)));
                    score.wer = Some(error_rate(&words(&truth_text), &words(&text)));
                }
                if let Some(pdf_text) = g.pdf_text.as_ref().filter(|_| !score.unopened) {
                    let pdf_text = normalise(pdf_text);
                    score.cer_pdf = Some(error_rate(&chars(&truth_text), &chars(&pdf_text)));
                    score.wer_pdf = Some(error_rate(&words(&truth_text), &words(&pdf_text)));
                }
                if let Some(c) = cleanup {
                    // Residual skew where cleanup claims an angle; a page flagged
                    // uncertain is left as scanned and counted apart.
                    score.skew_uncertain = c.flags.contains(&Flag::UncertainSkew);
                    if !score.skew_uncertain {
                        score.skew_error = skew_found.map(|f| (f - t.skew_deg).abs());
                    }
                    score.upright = Some((t.rotation + rotation_applied).is_multiple_of(360));
                }
            }
        }
        pages.push(score);
    }
    let letters = |f: fn(&PageScore) -> Option<f64>| {
        stats(
            pages
                .iter()
                .filter(|p| !p.kind.is_separator())
                .filter_map(f)
                .collect(),
        )
    };
    let collect = |f: fn(&PageScore) -> Option<f64>| stats(pages.iter().filter_map(f).collect());
    let checked: Vec<&PageScore> = pages.iter().filter(|p| p.upright.is_some()).collect();
    let upright = checked.iter().filter(|p| p.upright == Some(true)).count();
    let rotation = RotationSummary {
        pages: checked.len(),
        upright,
        turned_wrongly: checked
            .iter()
            .filter(|p| p.upright == Some(false) && p.rotation_applied != 0)
            .count(),
        accuracy: if checked.is_empty() {
            0.0
        } else {
            upright as f64 / checked.len() as f64
        },
    };
    let delivered: Vec<&PageScore> = pages.iter().filter(|p| p.delivered).collect();
    let truly_blank = delivered.iter().filter(|p| p.blank).count();
    let found_blank = delivered
        .iter()
        .filter(|p| p.blank && p.judged_blank)
        .count();
    let content_judged_blank = delivered
        .iter()
        .filter(|p| !p.blank && p.judged_blank)
        .count();
    let judged = found_blank + content_judged_blank;
    let blank = BlankSummary {
        truly_blank,
        found: found_blank,
        missed: truly_blank - found_blank,
        content_judged_blank,
        precision: if judged == 0 {
            1.0
        } else {
            found_blank as f64 / judged as f64
        },
        recall: if truly_blank == 0 {
            1.0
        } else {
            found_blank as f64 / truly_blank as f64
        },
    };
    let summary = Summary {
        pages: pages.len(),
        text_pages: pages
            .iter()
            .filter(|p| !p.blank && !p.kind.is_separator())
            .count(),
        blank_pages: pages.iter().filter(|p| p.blank).count(),
        separator_pages: pages.iter().filter(|p| p.kind.is_separator()).count(),
        undelivered_pages: pages.iter().filter(|p| !p.delivered).count(),
        unopened_pages: pages.iter().filter(|p| p.unopened && !p.blank).count(),
        cer: letters(|p| p.cer),
        wer: letters(|p| p.wer),
        cer_pdf: letters(|p| p.cer_pdf),
        wer_pdf: letters(|p| p.wer_pdf),
        separator_cer: stats(
            pages
                .iter()
                .filter(|p| p.kind.is_separator())
                .filter_map(|p| p.cer)
                .collect(),
        ),
        skew_error: collect(|p| p.skew_error.filter(|_| p.skew_true.abs() <= 5.0)),
        skew_uncertain_pages: pages.iter().filter(|p| p.skew_uncertain).count(),
        rotation,
        blank,
    };
    Evaluation {
        summary,
        pages,
        barcodes: None,
        patches: None,
        separation: None,
        reading_cost: None,
        routing: None,
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

fn page_label(file: &str, frame: u32) -> String {
    format!("{file}:{frame}")
}

/// Barcodes: every truth page's barcodes against what was reported on that page.
fn score_barcodes(found: &FoundMap, truth: &Truth) -> BarcodeScore {
    let mut per_format: BTreeMap<String, FormatScore> = BTreeMap::new();
    let mut missed_barcodes = Vec::new();
    let mut misread_barcodes = Vec::new();
    for t in &truth.pages {
        let got = found.get(&(t.file.clone(), t.frame));
        let reported: &[(String, String)] = got.map_or(&[], |g| &g.barcodes);
        for b in &t.barcodes {
            let entry = per_format.entry(b.format.clone()).or_default();
            entry.expected += 1;
            if reported
                .iter()
                .any(|(format, text)| *format == b.format && *text == b.text)
            {
                entry.found += 1;
            } else {
                entry.missed += 1;
                missed_barcodes.push(MissedBarcode {
                    file: t.file.clone(),
                    frame: t.frame,
                    format: b.format.clone(),
                    text: b.text.clone(),
                    delivered: got.is_some(),
                });
            }
        }
        // The same symbol reported twice is one read; only values the page does not
        // carry are misreads.
        let mut seen = BTreeSet::new();
        for (format, text) in reported {
            if !seen.insert((format, text)) {
                continue;
            }
            if !t
                .barcodes
                .iter()
                .any(|b| b.format == *format && b.text == *text)
            {
                per_format.entry(format.clone()).or_default().misreads += 1;
                misread_barcodes.push(Misread {
                    file: t.file.clone(),
                    frame: t.frame,
                    format: format.clone(),
                    text: text.clone(),
                    truth: t.barcodes.clone(),
                });
            }
        }
    }
    for f in per_format.values_mut() {
        f.read_rate = ratio(f.found, f.expected);
    }
    let expected: usize = per_format.values().map(|f| f.expected).sum();
    let found_n: usize = per_format.values().map(|f| f.found).sum();
    BarcodeScore {
        expected,
        found: found_n,
        missed: expected - found_n,
        read_rate: ratio(found_n, expected),
        misreads: misread_barcodes.len(),
        per_format,
        missed_barcodes,
        misread_barcodes,
    }
}

/// The serde name of a patch type ("patch_1" .. "patch_t").
pub fn patch_name(p: PatchType) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{p:?}"))
}

const NO_PATCH: &str = "none";

/// Patch codes: confusion matrix over the delivered truth pages.
fn score_patches(found: &FoundMap, truth: &Truth) -> PatchScore {
    let mut labels: Vec<String> = PatchType::ALL.into_iter().map(patch_name).collect();
    labels.push(NO_PATCH.to_string());
    // Types this version does not know go before "none".
    for g in found.values() {
        if let Some(p) = &g.patch {
            if !labels.contains(p) {
                labels.insert(labels.len() - 1, p.clone());
            }
        }
    }
    let index = |name: Option<&str>| {
        let name = name.unwrap_or(NO_PATCH);
        labels
            .iter()
            .position(|l| l == name)
            .unwrap_or(labels.len() - 1)
    };
    let mut matrix = vec![vec![0usize; labels.len()]; labels.len()];
    let mut score = PatchScore {
        labels: Vec::new(),
        matrix: Vec::new(),
        pages: 0,
        patch_pages: 0,
        right: 0,
        wrong_type: 0,
        missed: 0,
        false_patches: 0,
        undelivered_patch_pages: 0,
        errors: Vec::new(),
    };
    for t in &truth.pages {
        let want = t.patch.map(patch_name);
        let Some(g) = found.get(&(t.file.clone(), t.frame)) else {
            score.undelivered_patch_pages += usize::from(want.is_some());
            continue;
        };
        score.pages += 1;
        let got = g.patch.clone();
        matrix[index(want.as_deref())][index(got.as_deref())] += 1;
        match (&want, &got) {
            (Some(w), Some(f)) if w == f => score.right += 1,
            (Some(_), Some(_)) => score.wrong_type += 1,
            (Some(_), None) => score.missed += 1,
            (None, Some(_)) => score.false_patches += 1,
            (None, None) => {}
        }
        score.patch_pages += usize::from(want.is_some());
        if want != got {
            score.errors.push(PatchError {
                file: t.file.clone(),
                frame: t.frame,
                truth: want,
                found: got,
            });
        }
    }
    score.labels = labels;
    score.matrix = matrix;
    score
}

type PageSet = BTreeSet<(String, u32)>;

/// Document boundaries, separator sheets, cover-sheet fields and page-count flags.
/// Truth documents matched to output documents: a truth document's pages with content
/// (no blank backs, no separator sheets) are exactly one output document's kept pages.
/// In a non-stream batch one file is one document, and the same rule applies.
struct DocMatch {
    /// Each output document's kept pages.
    kept: Vec<PageSet>,
    /// Each truth document's pages with content, in order.
    expected: Vec<Vec<(String, u32)>>,
    expected_sets: Vec<PageSet>,
    /// The output document holding exactly the truth document's pages with content.
    matched: Vec<Option<usize>>,
}

impl DocMatch {
    fn new(docs: &[OutputDoc], truth: &Truth) -> DocMatch {
        let kept: Vec<PageSet> = docs.iter().map(OutputDoc::kept).collect();
        let expected: Vec<Vec<(String, u32)>> = truth
            .documents
            .iter()
            .map(|d| {
                d.pages
                    .iter()
                    .filter_map(|&i| truth.pages.get(i))
                    .filter(|p| !p.blank && !p.kind.is_separator())
                    .map(|p| (p.file.clone(), p.frame))
                    .collect()
            })
            .collect();
        let expected_sets: Vec<PageSet> = expected
            .iter()
            .map(|e| e.iter().cloned().collect())
            .collect();
        let matched: Vec<Option<usize>> = expected_sets
            .iter()
            .map(|e| {
                if e.is_empty() {
                    None
                } else {
                    kept.iter().position(|k| k == e)
                }
            })
            .collect();
        DocMatch {
            kept,
            expected,
            expected_sets,
            matched,
        }
    }

    /// The output document that stands for a truth document: the one matching it, else
    /// the one keeping its first page with content (a wrongly separated letter).
    fn holder(&self, index: usize) -> Option<usize> {
        self.matched[index].or_else(|| {
            let first = self.expected[index].first()?;
            self.kept.iter().position(|k| k.contains(first))
        })
    }

    /// Every output document keeping some of a truth document's pages with content.
    fn holders(&self, index: usize) -> Vec<usize> {
        let set = &self.expected_sets[index];
        (0..self.kept.len())
            .filter(|&i| self.kept[i].iter().any(|p| set.contains(p)))
            .collect()
    }
}

fn score_separation(docs: &[OutputDoc], truth: &Truth) -> SeparationScore {
    let DocMatch {
        kept,
        expected,
        expected_sets,
        matched,
    } = DocMatch::new(docs, truth);
    let label = |(f, n): &(String, u32)| page_label(f, *n);
    let mut wrong_documents = Vec::new();
    for (index, (want, set)) in expected.iter().zip(&expected_sets).enumerate() {
        // A document without pages with content has nothing to deliver: right when none
        // of its pages is kept anywhere.
        if matched[index].is_some()
            || (set.is_empty()
                && !truth.documents[index].pages.iter().any(|&i| {
                    truth.pages.get(i).is_some_and(|p| {
                        kept.iter().any(|k| k.contains(&(p.file.clone(), p.frame)))
                    })
                }))
        {
            continue;
        }
        let held_by: Vec<Holder> = docs
            .iter()
            .zip(&kept)
            .filter(|(_, k)| k.iter().any(|p| set.contains(p)))
            .map(|(d, k)| Holder {
                id: d.id.clone(),
                pages: k.len(),
                holds: k.iter().filter(|p| set.contains(*p)).count(),
                extra_pages: d
                    .record
                    .pages
                    .iter()
                    .map(|p| (p.source_file.clone(), p.frame))
                    .filter(|p| !set.contains(p))
                    .map(|p| label(&p))
                    .collect(),
            })
            .collect();
        let not_kept: Vec<String> = want
            .iter()
            .filter(|p| !kept.iter().any(|k| k.contains(*p)))
            .map(label)
            .collect();
        let mut problem = Vec::new();
        if held_by.len() > 1 {
            problem.push(format!("split over {} documents", held_by.len()));
        }
        let extra: usize = held_by.iter().map(|h| h.extra_pages.len()).sum();
        if extra > 0 {
            problem.push(format!("merged with {extra} other pages"));
        }
        if !not_kept.is_empty() {
            problem.push(format!("{} pages in no PDF", not_kept.len()));
        }
        wrong_documents.push(WrongDocument {
            index,
            expected: want.iter().map(label).collect(),
            problem: problem.join(", "),
            held_by,
            not_kept,
        });
    }
    let output_documents = kept.iter().filter(|k| !k.is_empty()).count();
    let unmatched_output_documents: Vec<UnmatchedDocument> = docs
        .iter()
        .zip(&kept)
        .filter(|(_, k)| !k.is_empty() && !expected_sets.contains(k))
        .map(|(d, _)| UnmatchedDocument {
            id: d.id.clone(),
            pages: d
                .record
                .pages
                .iter()
                .map(|p| page_label(&p.source_file, p.frame))
                .collect(),
            started_by: d.started_by(),
        })
        .collect();

    // Separator sheets: removed as such, or kept in a PDF by mistake.
    let mut removed_as_separator: BTreeSet<(String, u32)> = BTreeSet::new();
    for d in docs {
        for r in &d.record.removed_pages {
            if r.reason.as_deref() == Some("separator") {
                removed_as_separator.insert((r.page.source_file.clone(), r.page.frame));
            }
        }
    }
    let separators: Vec<(String, u32)> = truth
        .pages
        .iter()
        .filter(|p| p.kind.is_separator())
        .map(|p| (p.file.clone(), p.frame))
        .collect();
    let separator_pages_kept_list: Vec<String> = separators
        .iter()
        .filter(|p| kept.iter().any(|k| k.contains(*p)))
        .map(label)
        .collect();

    let mut started_by = BTreeMap::new();
    let mut flags = BTreeMap::new();
    for (d, k) in docs.iter().zip(&kept) {
        if !k.is_empty() {
            *started_by
                .entry(d.started_by().unwrap_or_else(|| "unknown".into()))
                .or_insert(0) += 1;
        }
        for f in d.flags() {
            *flags.entry(f).or_insert(0) += 1;
        }
    }

    // Cover sheets: the output document that matches the truth document, else the one
    // keeping its first page (the cover sheet started that one).
    let mut covers = CoverScore {
        documents: 0,
        right: 0,
        wrong: 0,
        unread: 0,
        unexpected: 0,
        errors: Vec::new(),
    };
    let mut page_count_flags = PageCountScore {
        checked: 0,
        expected_flags: 0,
        correct: 0,
        missing: 0,
        false_flags: 0,
        unchecked: 0,
        errors: Vec::new(),
    };
    for (index, td) in truth.documents.iter().enumerate() {
        let holder = matched[index].or_else(|| {
            let first = expected[index].first()?;
            kept.iter().position(|k| k.contains(first))
        });
        let doc = holder.map(|i| &docs[i]);
        let found_cover = doc.and_then(OutputDoc::cover);
        if let Some(want) = &td.cover {
            covers.documents += 1;
            let ok = found_cover.is_some_and(|f| {
                f.unit == want.unit && f.case == want.case && f.pages == want.pages
            });
            if ok {
                covers.right += 1;
            } else {
                if found_cover.is_some() {
                    covers.wrong += 1;
                } else {
                    covers.unread += 1;
                }
                covers.errors.push(CoverError {
                    index,
                    output_document: doc.map(|d| d.id.clone()),
                    expected: Some(want.clone()),
                    found: found_cover.cloned(),
                });
            }
        } else if matched[index].is_some() && found_cover.is_some() {
            covers.unexpected += 1;
            covers.errors.push(CoverError {
                index,
                output_document: doc.map(|d| d.id.clone()),
                expected: None,
                found: found_cover.cloned(),
            });
        }
        let Some(m) = matched[index] else {
            page_count_flags.unchecked +=
                usize::from(td.cover.as_ref().is_some_and(|c| c.pages.is_some()));
            continue;
        };
        let pages = expected[index].len();
        let cover_pages = td.cover.as_ref().and_then(|c| c.pages);
        let want_flag = cover_pages.is_some_and(|p| p as usize != pages);
        let flagged = docs[m].flags().iter().any(|f| f == "page_count_mismatch");
        page_count_flags.checked += 1;
        page_count_flags.expected_flags += usize::from(want_flag);
        match (want_flag, flagged) {
            (true, false) => page_count_flags.missing += 1,
            (false, true) => page_count_flags.false_flags += 1,
            _ => page_count_flags.correct += 1,
        }
        if want_flag != flagged {
            page_count_flags.errors.push(PageCountError {
                index,
                output_document: docs[m].id.clone(),
                cover_pages,
                pages,
                flagged,
            });
        }
    }

    let truth_documents = truth.documents.len();
    let wrong = wrong_documents.len();
    SeparationScore {
        truth_documents,
        right: truth_documents - wrong,
        wrong,
        accuracy: ratio(truth_documents - wrong, truth_documents),
        wrong_documents,
        output_documents,
        evidence_only_documents: docs.len() - output_documents,
        unmatched_output_documents,
        separator_pages: separators.len(),
        separator_pages_removed: separators
            .iter()
            .filter(|p| removed_as_separator.contains(*p))
            .count(),
        separator_pages_kept: separator_pages_kept_list.len(),
        separator_pages_kept_list,
        started_by,
        flags,
        covers,
        page_count_flags,
    }
}

/// Orders unit codes as the organisation chart lists them: codes with a leading zero
/// first ("0140" < "06"), then numbers by value ("2" < "10" < "50.4" < "50.10" < "61"),
/// then anything else by its text. A total order (a sort key), part by part.
fn unit_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |s: &str| -> Vec<(u8, usize, String)> {
        s.split(['.', '-', '/'])
            .map(|part| {
                let digits = !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit());
                match (digits, part.starts_with('0')) {
                    (true, true) => (0, 0, part.to_string()),
                    (true, false) => (1, part.len(), part.to_string()),
                    (false, _) => (2, 0, part.to_string()),
                }
            })
            .collect()
    };
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

/// Routing against the truth's expected routes; None when the truth has none.
fn score_routing(docs: &[OutputDoc], truth: &Truth) -> Option<RoutingScore> {
    if truth.documents.iter().all(|d| d.route.is_none()) {
        return None;
    }
    let m = DocMatch::new(docs, truth);
    let routes: Vec<Option<FoundRoute>> = docs.iter().map(OutputDoc::routing).collect();
    let special = |l: &str| l == ROUTE_CLARIFICATION || l == ROUTE_UNOPENED;

    // Labels: every unit expected or found, then clarification and unopened.
    let mut units: Vec<String> = truth
        .documents
        .iter()
        .filter_map(|d| d.route.as_ref().map(expected_label))
        .chain(routes.iter().flatten().map(|r| r.label.clone()))
        .filter(|l| !special(l))
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect();
    units.sort_by(|a, b| unit_order(a, b));
    let mut rows = units;
    rows.push(ROUTE_CLARIFICATION.to_string());
    rows.push(ROUTE_UNOPENED.to_string());
    let mut columns = rows.clone();
    columns.push(ROUTE_MISSING.to_string());
    let at = |labels: &[String], l: &str| labels.iter().position(|x| x == l).unwrap_or(0);
    let mut confusion = vec![vec![0usize; columns.len()]; rows.len()];

    let mut score = RoutingScore {
        total: 0,
        right: 0,
        wrong: 0,
        accuracy: 0.0,
        missing: 0,
        not_separated: 0,
        rows: Vec::new(),
        columns: Vec::new(),
        confusion: Vec::new(),
        per_case: BTreeMap::new(),
        clarification_expected: 0,
        clarification_found: 0,
        clarification_rate: 0.0,
        wrong_high_confidence: 0,
        wrong_high_confidence_list: Vec::new(),
        confidential_leaks: 0,
        confidential_leak_list: Vec::new(),
        errors: Vec::new(),
    };
    let labels_of = |i: usize| -> Vec<String> {
        docs[i]
            .record
            .pages
            .iter()
            .map(|p| page_label(&p.source_file, p.frame))
            .collect()
    };
    for (index, td) in truth.documents.iter().enumerate() {
        let Some(route) = &td.route else {
            continue;
        };
        let want = expected_label(route);
        let holder = m.holder(index);
        let got = holder.and_then(|h| routes[h].as_ref());
        let found = got.map_or(ROUTE_MISSING.to_string(), |g| g.label.clone());
        let right = got.is_some_and(|g| g.label == want);
        score.total += 1;
        score.right += usize::from(right);
        score.missing += usize::from(got.is_none());
        score.not_separated += usize::from(holder.is_some() && m.matched[index].is_none());
        confusion[at(&rows, &want)][at(&columns, &found)] += 1;
        if let Some(case) = &td.routing_case {
            let c = score.per_case.entry(case.clone()).or_default();
            c.documents += 1;
            c.right += usize::from(right);
        }
        score.clarification_expected += usize::from(want == ROUTE_CLARIFICATION);
        score.clarification_found += usize::from(found == ROUTE_CLARIFICATION);
        let routed = RoutedDocument {
            index,
            routing_case: td.routing_case.clone(),
            subject: td.subject.clone(),
            expected: want.clone(),
            found: found.clone(),
            output_document: holder.map(|h| docs[h].id.clone()),
            separated: m.matched[index].is_some(),
            rule: got.and_then(|g| g.rule.clone()),
            confidence: got.and_then(|g| g.confidence),
            reason: got.and_then(|g| g.reason.clone()),
            runner_up: got.and_then(|g| g.runner_up.clone()),
        };
        if got.is_some_and(|g| {
            g.is_unit && g.label != want && g.confidence.is_some_and(|c| c >= HIGH_CONFIDENCE)
        }) {
            score.wrong_high_confidence_list.push(routed.clone());
        }
        if !right {
            score.errors.push(routed);
        }
        // A letter to stay unopened: every output document keeping some of its pages
        // must be unopened too.
        if want == ROUTE_UNOPENED {
            for h in m.holders(index) {
                if let Some(g) = routes[h].as_ref().filter(|g| g.label != ROUTE_UNOPENED) {
                    score.confidential_leak_list.push(RoutingLeak {
                        index: Some(index),
                        output_document: docs[h].id.clone(),
                        kind: "routed".into(),
                        found: g.label.clone(),
                        pages: labels_of(h),
                    });
                }
            }
        }
    }
    // Unopened documents store no text: none in the JSON, no text layer in the PDF.
    for (i, doc) in docs.iter().enumerate() {
        if routes[i].as_ref().is_none_or(|r| r.label != ROUTE_UNOPENED) {
            continue;
        }
        let index = m
            .matched
            .iter()
            .position(|&x| x == Some(i))
            .or_else(|| (0..truth.documents.len()).find(|&t| m.holders(t).contains(&i)));
        let json_pages: Vec<String> = doc
            .record
            .pages
            .iter()
            .filter(|p| p.ocr.as_ref().is_some_and(OcrJson::has_text))
            .map(|p| page_label(&p.source_file, p.frame))
            .collect();
        let pdf_pages: Vec<String> = match &doc.pdf_pages {
            Some(texts) => texts
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.trim().is_empty())
                .map(|(n, _)| {
                    doc.record.pages.get(n).map_or_else(
                        || format!("pdf page {}", n + 1),
                        |p| page_label(&p.source_file, p.frame),
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        for (kind, pages) in [("json_text", json_pages), ("pdf_text", pdf_pages)] {
            if !pages.is_empty() {
                score.confidential_leak_list.push(RoutingLeak {
                    index,
                    output_document: doc.id.clone(),
                    kind: kind.into(),
                    found: ROUTE_UNOPENED.into(),
                    pages,
                });
            }
        }
    }
    for c in score.per_case.values_mut() {
        c.accuracy = ratio(c.right, c.documents);
    }
    score.wrong = score.total - score.right;
    score.accuracy = ratio(score.right, score.total);
    score.clarification_rate = ratio(score.clarification_found, score.total);
    if score.total == 0 {
        score.clarification_rate = 0.0;
    }
    score.wrong_high_confidence = score.wrong_high_confidence_list.len();
    score.confidential_leaks = score.confidential_leak_list.len();
    score.rows = rows;
    score.columns = columns;
    score.confusion = confusion;
    Some(score)
}

/// Barcode and patch reading time against OCR time, over all documents.
fn reading_cost(docs: &[OutputDoc]) -> ReadingCost {
    let pages: usize = docs
        .iter()
        .map(|d| d.record.pages.len() + d.record.removed_pages.len())
        .sum();
    let barcodes_ms: u64 = docs.iter().map(|d| d.record.timings_ms.barcodes).sum();
    let ocr_ms: u64 = docs.iter().map(|d| d.record.timings_ms.ocr).sum();
    let patch_ms: Option<u64> = docs
        .iter()
        .filter_map(|d| d.record.timings_ms.patch)
        .fold(None, |acc, v| Some(acc.unwrap_or(0) + v));
    let per_page = |ms: u64| {
        if pages == 0 {
            0.0
        } else {
            ms as f64 / pages as f64
        }
    };
    ReadingCost {
        documents: docs.len(),
        pages,
        barcodes_ms,
        patch_ms,
        ocr_ms,
        barcodes_ms_per_page: per_page(barcodes_ms),
        patch_ms_per_page: patch_ms.map(per_page),
        ocr_ms_per_page: per_page(ocr_ms),
        share_of_ocr: (ocr_ms > 0)
            .then(|| (barcodes_ms + patch_ms.unwrap_or(0)) as f64 / ocr_ms as f64),
    }
}

impl Evaluation {
    /// Why `--min-routing-accuracy` fails: routing accuracy below `min_accuracy`, any
    /// confidential leak, any document routed to a wrong unit with confidence >= 0.8, or
    /// no routing scored at all (the truth has no routes). Empty when all is well.
    pub fn routing_failures(&self, min_accuracy: f64) -> Vec<String> {
        let Some(r) = &self.routing else {
            return vec!["routing was not scored (the truth has no expected routes)".into()];
        };
        let mut why = Vec::new();
        if r.accuracy < min_accuracy {
            why.push(format!(
                "routing accuracy {:.4} ({} of {} documents) is below the limit {min_accuracy}",
                r.accuracy, r.right, r.total
            ));
        }
        if r.confidential_leaks > 0 {
            why.push(format!("{} confidential leaks", r.confidential_leaks));
        }
        if r.wrong_high_confidence > 0 {
            why.push(format!(
                "{} documents routed to a wrong unit with confidence >= {HIGH_CONFIDENCE}",
                r.wrong_high_confidence
            ));
        }
        why
    }

    /// Why `--require-separation` fails: empty when document boundaries are all right (no
    /// wrong truth document, no output document matching no letter, no separator sheet
    /// in a PDF), no barcode was misread and no patch code was found where there is none.
    pub fn separation_failures(&self) -> Vec<String> {
        let mut why = Vec::new();
        match &self.separation {
            Some(s) => {
                if s.wrong > 0 {
                    why.push(format!(
                        "{} of {} documents separated wrongly",
                        s.wrong, s.truth_documents
                    ));
                }
                if !s.unmatched_output_documents.is_empty() {
                    why.push(format!(
                        "{} output documents match no letter",
                        s.unmatched_output_documents.len()
                    ));
                }
                if s.separator_pages_kept > 0 {
                    why.push(format!(
                        "{} separator sheets kept in a PDF",
                        s.separator_pages_kept
                    ));
                }
            }
            None => why.push("document separation was not scored".into()),
        }
        if let Some(b) = &self.barcodes {
            if b.misreads > 0 {
                why.push(format!("{} barcodes misread", b.misreads));
            }
        }
        if let Some(p) = &self.patches {
            if p.false_patches > 0 {
                why.push(format!("{} false patch codes", p.false_patches));
            }
        }
        why
    }
}

/// Text of each page of a PDF as `pdftotext -raw` extracts it (content-stream order).
pub fn pdftotext_pages(pdf: &Path) -> Result<Vec<String>> {
    let out = Command::new("pdftotext")
        .args(["-raw", "-enc", "UTF-8"])
        .arg(pdf)
        .arg("-")
        .output()
        .context("cannot run pdftotext (install poppler-utils: scripts/setup.sh)")?;
    if !out.status.success() {
        bail!(
            "pdftotext failed on {}: {}",
            pdf.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_string).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    Ok(pages)
}

/// Collapses every run of whitespace to one space and trims.
pub fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

fn words(s: &str) -> Vec<&str> {
    s.split(' ').filter(|w| !w.is_empty()).collect()
}

/// Edit distance divided by the length of the reference (1.0 for an empty output).
pub fn error_rate<T: PartialEq>(reference: &[T], hypothesis: &[T]) -> f64 {
    if reference.is_empty() {
        return if hypothesis.is_empty() { 0.0 } else { 1.0 };
    }
    levenshtein(reference, hypothesis) as f64 / reference.len() as f64
}

/// Levenshtein distance with one row of memory.
pub fn levenshtein<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let cost = usize::from(x != y);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diag + cost);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn stats(mut v: Vec<f64>) -> Option<Stats> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    Some(Stats {
        mean,
        median,
        worst: *v.last().unwrap_or(&0.0),
    })
}

impl Evaluation {
    /// A table for people: one row per page, then the summary.
    pub fn table(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("    -".to_string(), |v| format!("{:5.1}", v * 100.0));
        let mut s = String::from(
            "page                              frame  kind    CER%  WER%  CERpdf%  WERpdf%  skew-err  turn\n",
        );
        for p in &self.pages {
            let kind = match (p.delivered, p.blank, p.judged_blank) {
                (false, _, _) => "MISSING",
                (true, true, true) => "blank",
                (true, true, false) => "BLANK?",
                (true, false, true) => "LOST!",
                (true, false, false) if p.unopened => "unopen",
                (true, false, false) => match p.kind {
                    PageKind::CoverSheet => "cover",
                    PageKind::PatchSheet => "patch",
                    PageKind::SeparatorSheet => "sep",
                    _ => "text",
                },
            };
            let skew = p
                .skew_error
                .map_or("       -".to_string(), |e| format!("{e:8.3}"));
            let turn = match p.upright {
                Some(true) if p.rotation_true != 0 => format!("{:>4} ok", p.rotation_applied),
                Some(true) => "     -".to_string(),
                Some(false) => {
                    format!("{:>4} WRONG (true {})", p.rotation_applied, p.rotation_true)
                }
                None => "     -".to_string(),
            };
            s.push_str(&format!(
                "{:<34} {:>5}  {:<7} {}  {}  {}    {}  {}  {}{}\n",
                p.file,
                p.frame,
                kind,
                pct(p.cer),
                pct(p.wer),
                pct(p.cer_pdf),
                pct(p.wer_pdf),
                skew,
                turn,
                if p.blank && p.chars_on_blank > 0 {
                    format!("   ({} chars on blank page)", p.chars_on_blank)
                } else {
                    String::new()
                }
            ));
        }
        let m = &self.summary;
        let line = |name: &str, st: &Option<Stats>| match st {
            Some(st) => format!(
                "{name:<8} mean {:5.2}%  median {:5.2}%  worst {:5.2}%\n",
                st.mean * 100.0,
                st.median * 100.0,
                st.worst * 100.0
            ),
            None => format!("{name:<8} -\n"),
        };
        s.push_str(&format!(
            "\n{} pages: {} with text, {} blank, {} separator sheets, {} not delivered{}\n",
            m.pages,
            m.text_pages,
            m.blank_pages,
            m.separator_pages,
            m.undelivered_pages,
            if m.unopened_pages > 0 {
                format!(
                    ", {} unopened (no text on purpose, not in the CER)",
                    m.unopened_pages
                )
            } else {
                String::new()
            }
        ));
        s.push_str(&line("CER", &m.cer));
        s.push_str(&line("WER", &m.wer));
        s.push_str(&line("CER pdf", &m.cer_pdf));
        s.push_str(&line("WER pdf", &m.wer_pdf));
        if m.separator_cer.is_some() {
            s.push_str(&line("CER sep", &m.separator_cer));
        }
        if let Some(st) = &m.skew_error {
            s.push_str(&format!(
                "skew     residual error mean {:.3} deg, median {:.3} deg, worst {:.3} deg; {} pages flagged uncertain\n",
                st.mean, st.median, st.worst, m.skew_uncertain_pages
            ));
        }
        let r = &m.rotation;
        if r.pages > 0 {
            s.push_str(&format!(
                "upright  {}/{} pages ({:.1} %), turned wrongly: {}\n",
                r.upright,
                r.pages,
                r.accuracy * 100.0,
                r.turned_wrongly
            ));
        }
        let b = &m.blank;
        s.push_str(&format!(
            "blank    {} of {} blank pages found (recall {:.1} %, precision {:.1} %), content judged blank: {}\n",
            b.found,
            b.truly_blank,
            b.recall * 100.0,
            b.precision * 100.0,
            b.content_judged_blank
        ));
        if let Some(b) = &self.barcodes {
            s.push_str(&b.text());
        }
        if let Some(p) = &self.patches {
            s.push_str(&p.text());
        }
        if let Some(sep) = &self.separation {
            s.push_str(&sep.text());
        }
        if let Some(c) = &self.reading_cost {
            s.push_str(&c.text());
        }
        if let Some(r) = &self.routing {
            s.push_str(&r.text());
        }
        s
    }
}

impl RoutingScore {
    fn text(&self) -> String {
        let mut s = format!(
            "routing  {} of {} documents right ({:.1} %), {} missing, {} scored through a wrongly separated document; clarification {} ({:.1} %, {} expected); wrong unit with confidence >= {HIGH_CONFIDENCE}: {}; confidential leaks: {}\n",
            self.right,
            self.total,
            self.accuracy * 100.0,
            self.missing,
            self.not_separated,
            self.clarification_found,
            self.clarification_rate * 100.0,
            self.clarification_expected,
            self.wrong_high_confidence,
            self.confidential_leaks
        );
        let width = self
            .columns
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let head = "expected \\ found";
        let first = self
            .rows
            .iter()
            .map(|r| r.chars().count())
            .max()
            .unwrap_or(0)
            .max(head.len());
        s.push_str(&format!("  {head:<first$}"));
        for c in &self.columns {
            s.push_str(&format!(" {c:>width$}"));
        }
        s.push('\n');
        for (r, row) in self.rows.iter().zip(&self.confusion) {
            s.push_str(&format!("  {r:<first$}"));
            for v in row {
                s.push_str(&format!(" {v:>width$}"));
            }
            s.push('\n');
        }
        if !self.per_case.is_empty() {
            let cases: Vec<String> = self
                .per_case
                .iter()
                .map(|(k, c)| {
                    format!(
                        "{k} {}/{} ({:.1} %)",
                        c.right,
                        c.documents,
                        c.accuracy * 100.0
                    )
                })
                .collect();
            s.push_str(&format!("  by case: {}\n", cases.join(", ")));
        }
        let describe = |d: &RoutedDocument| {
            let mut how = Vec::new();
            if let Some(rule) = &d.rule {
                how.push(format!("rule {rule}"));
            }
            if let Some(c) = d.confidence {
                how.push(format!("confidence {c:.2}"));
            }
            if let Some(reason) = &d.reason {
                how.push(format!("reason {reason:?}"));
            }
            if let Some(r) = &d.runner_up {
                let unit = r.get("unit").and_then(|u| u.as_str()).unwrap_or("?");
                let conf = r
                    .get("confidence")
                    .and_then(|c| c.as_f64())
                    .map_or(String::new(), |c| format!(" {c:.2}"));
                how.push(format!("runner-up {unit}{conf}"));
            }
            format!(
                "letter {}{}: expected {}, found {} in {}{}{}",
                d.index,
                d.routing_case
                    .as_ref()
                    .map_or(String::new(), |c| format!(" ({c})")),
                d.expected,
                d.found,
                d.output_document.as_deref().unwrap_or("no document"),
                if d.separated || d.output_document.is_none() {
                    ""
                } else {
                    " (separated wrongly)"
                },
                if how.is_empty() {
                    String::new()
                } else {
                    format!("; {}", how.join(", "))
                }
            )
        };
        for d in &self.errors {
            let high = self
                .wrong_high_confidence_list
                .iter()
                .any(|w| w.index == d.index);
            s.push_str(&format!(
                "  {} {}\n",
                if high { "WRONG!!" } else { "ROUTE  " },
                describe(d)
            ));
        }
        for l in &self.confidential_leak_list {
            let what = match l.kind.as_str() {
                "routed" => format!("must stay unopened, routed to {}", l.found),
                "json_text" => "unopened, but its JSON keeps OCR text".to_string(),
                "pdf_text" => "unopened, but its PDF has a text layer".to_string(),
                other => other.to_string(),
            };
            s.push_str(&format!(
                "  LEAK    {}{}: {what} [{}]\n",
                l.output_document,
                l.index.map_or(String::new(), |i| format!(" (letter {i})")),
                l.pages.join(" ")
            ));
        }
        s
    }
}

impl BarcodeScore {
    fn text(&self) -> String {
        let mut s = format!(
            "barcodes {} of {} read ({:.1} %), {} missed, {} misreads\n",
            self.found,
            self.expected,
            self.read_rate * 100.0,
            self.missed,
            self.misreads
        );
        for (format, f) in &self.per_format {
            s.push_str(&format!(
                "  {format:<11} {:>4} of {:<4} read ({:5.1} %), {} missed, {} misreads\n",
                f.found,
                f.expected,
                f.read_rate * 100.0,
                f.missed,
                f.misreads
            ));
        }
        for m in &self.missed_barcodes {
            s.push_str(&format!(
                "  MISSED  {}:{} {} {:?}{}\n",
                m.file,
                m.frame,
                m.format,
                m.text,
                if m.delivered {
                    ""
                } else {
                    " (page not delivered)"
                }
            ));
        }
        for m in &self.misread_barcodes {
            let truth: Vec<String> = m
                .truth
                .iter()
                .map(|b| format!("{} {:?}", b.format, b.text))
                .collect();
            s.push_str(&format!(
                "  MISREAD {}:{} {} {:?} (page carries: {})\n",
                m.file,
                m.frame,
                m.format,
                m.text,
                if truth.is_empty() {
                    "no barcode".to_string()
                } else {
                    truth.join(", ")
                }
            ));
        }
        s
    }
}

impl PatchScore {
    fn text(&self) -> String {
        let mut s = format!(
            "patches  {} of {} patch pages right, {} wrong type, {} missed, {} false patches ({} delivered pages; {} patch pages not delivered)\n",
            self.right,
            self.patch_pages,
            self.wrong_type,
            self.missed,
            self.false_patches,
            self.pages,
            self.undelivered_patch_pages
        );
        if self.patch_pages > 0 || self.false_patches > 0 {
            s.push_str("  truth \\ found");
            for l in &self.labels {
                s.push_str(&format!(" {l:>8}"));
            }
            s.push('\n');
            for (l, row) in self.labels.iter().zip(&self.matrix) {
                s.push_str(&format!("  {l:<13}"));
                for v in row {
                    s.push_str(&format!(" {v:>8}"));
                }
                s.push('\n');
            }
        }
        for e in &self.errors {
            s.push_str(&format!(
                "  PATCH   {}:{} truth {} found {}\n",
                e.file,
                e.frame,
                e.truth.as_deref().unwrap_or(NO_PATCH),
                e.found.as_deref().unwrap_or(NO_PATCH)
            ));
        }
        s
    }
}

impl SeparationScore {
    fn text(&self) -> String {
        let mut s = format!(
            "documents {} of {} right ({:.1} %); {} output documents ({} evidence only), {} match no letter; separator sheets: {} removed, {} kept in a PDF, of {}\n",
            self.right,
            self.truth_documents,
            self.accuracy * 100.0,
            self.output_documents,
            self.evidence_only_documents,
            self.unmatched_output_documents.len(),
            self.separator_pages_removed,
            self.separator_pages_kept,
            self.separator_pages
        );
        if !self.started_by.is_empty() {
            let by: Vec<String> = self
                .started_by
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            s.push_str(&format!("  started by: {}\n", by.join(", ")));
        }
        if !self.flags.is_empty() {
            let flags: Vec<String> = self.flags.iter().map(|(k, n)| format!("{k} {n}")).collect();
            s.push_str(&format!("  flags: {}\n", flags.join(", ")));
        }
        for w in &self.wrong_documents {
            let held: Vec<String> = w
                .held_by
                .iter()
                .map(|h| {
                    format!(
                        "{} ({} of its {} pages{})",
                        h.id,
                        h.holds,
                        h.pages,
                        if h.extra_pages.is_empty() {
                            String::new()
                        } else {
                            format!("; also {}", h.extra_pages.join(" "))
                        }
                    )
                })
                .collect();
            s.push_str(&format!(
                "  WRONG   letter {} [{}]: {}; in {}{}\n",
                w.index,
                w.expected.join(" "),
                w.problem,
                if held.is_empty() {
                    "no document".to_string()
                } else {
                    held.join(", ")
                },
                if w.not_kept.is_empty() {
                    String::new()
                } else {
                    format!("; in no PDF: {}", w.not_kept.join(" "))
                }
            ));
        }
        for u in &self.unmatched_output_documents {
            s.push_str(&format!(
                "  EXTRA   {} [{}] started by {}\n",
                u.id,
                u.pages.join(" "),
                u.started_by.as_deref().unwrap_or("unknown")
            ));
        }
        if !self.separator_pages_kept_list.is_empty() {
            s.push_str(&format!(
                "  SEPARATOR KEPT {}\n",
                self.separator_pages_kept_list.join(" ")
            ));
        }
        let c = &self.covers;
        if c.documents > 0 || c.unexpected > 0 {
            s.push_str(&format!(
                "covers   {} of {} cover sheets read right, {} wrong, {} unread; {} reported where there is none\n",
                c.right, c.documents, c.wrong, c.unread, c.unexpected
            ));
            for e in &c.errors {
                let show = |f: Option<(&str, &Option<String>, Option<u32>)>| match f {
                    Some((unit, case, pages)) => format!(
                        "unit {unit} case {} pages {}",
                        case.as_deref().unwrap_or("-"),
                        pages.map_or("-".to_string(), |p| p.to_string())
                    ),
                    None => "nothing".to_string(),
                };
                s.push_str(&format!(
                    "  COVER   letter {} in {}: expected {}, found {}\n",
                    e.index,
                    e.output_document.as_deref().unwrap_or("no document"),
                    show(
                        e.expected
                            .as_ref()
                            .map(|c| (c.unit.as_str(), &c.case, c.pages))
                    ),
                    show(
                        e.found
                            .as_ref()
                            .map(|c| (c.unit.as_str(), &c.case, c.pages))
                    )
                ));
            }
        }
        let p = &self.page_count_flags;
        s.push_str(&format!(
            "page count flags {} of {} documents right ({} expected), {} missing, {} false; {} not checked (separated wrongly)\n",
            p.correct, p.checked, p.expected_flags, p.missing, p.false_flags, p.unchecked
        ));
        for e in &p.errors {
            s.push_str(&format!(
                "  COUNT   letter {} in {}: cover says {}, {} pages with content, {}\n",
                e.index,
                e.output_document,
                e.cover_pages.map_or("-".to_string(), |p| p.to_string()),
                e.pages,
                if e.flagged {
                    "flagged wrongly"
                } else {
                    "not flagged"
                }
            ));
        }
        s
    }
}

impl ReadingCost {
    fn text(&self) -> String {
        let patch = self
            .patch_ms_per_page
            .map_or("- (not timed)".to_string(), |v| format!("{v:.1}"));
        format!(
            "reading  barcodes {:.1} ms/page, patch codes {} ms/page, OCR {:.1} ms/page over {} pages: {}\n",
            self.barcodes_ms_per_page,
            patch,
            self.ocr_ms_per_page,
            self.pages,
            self.share_of_ocr.map_or("no OCR time".to_string(), |v| format!(
                "{:.1} % of the OCR time",
                v * 100.0
            ))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::truth::{TruthDocument, TruthPage, TRUTH_SCHEMA_VERSION};
    use serde_json::{json, Value};

    #[test]
    fn levenshtein_known_values() {
        assert_eq!(levenshtein(&chars("kitten"), &chars("sitting")), 3);
        assert_eq!(levenshtein(&chars(""), &chars("abc")), 3);
        assert_eq!(levenshtein(&chars("Straße"), &chars("Strasse")), 2);
    }

    #[test]
    fn error_rates() {
        assert_eq!(error_rate(&chars("abcd"), &chars("abcd")), 0.0);
        assert_eq!(error_rate(&chars("abcd"), &chars("abXd")), 0.25);
        assert_eq!(error_rate(&words("a b c d"), &words("a b")), 0.5);
        assert_eq!(error_rate::<char>(&[], &[]), 0.0);
    }

    #[test]
    fn whitespace_is_normalised() {
        assert_eq!(
            normalise("  Sehr\n geehrte\t\tDamen \n"),
            "Sehr geehrte Damen"
        );
    }

    fn truth_page(file: &str, frame: u32, kind: PageKind, text: &str) -> TruthPage {
        TruthPage {
            file: file.into(),
            frame,
            kind,
            text: text.into(),
            skew_deg: 0.0,
            rotation: 0,
            blank: kind == PageKind::BlankBack,
            dpi: 300,
            black_edges: false,
            punch_holes: false,
            barcodes: Vec::new(),
            patch: None,
        }
    }

    #[test]
    fn tesseract_tsv_pages_map_to_frames() {
        let dir = tempfile::tempdir().unwrap();
        let head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n";
        let rows =
            "5\t1\t1\t1\t1\t1\t0\t0\t9\t9\t90\tErste\n5\t2\t1\t1\t1\t1\t0\t0\t9\t9\t90\tZweite\n";
        std::fs::write(dir.path().join("a.tif.tsv"), format!("{head}{rows}")).unwrap();
        let page = |frame: u32, text: &str| truth_page("a.tif", frame, PageKind::Letter, text);
        let truth = Truth {
            schema_version: TRUTH_SCHEMA_VERSION,
            seed: 0,
            generator: "test".into(),
            pages: vec![
                page(0, "Erste"),
                page(1, "Zweyte"),
                TruthPage {
                    file: "b.png".into(),
                    ..page(0, "x")
                },
            ],
            documents: vec![],
        };
        let e = evaluate_tesseract_tsv(dir.path(), &truth).unwrap();
        assert_eq!(e.pages[0].cer, Some(0.0));
        assert!((e.pages[1].cer.unwrap() - 1.0 / 6.0).abs() < 1e-9);
        assert!(!e.pages[2].delivered);
        assert_eq!(e.summary.undelivered_pages, 1);
        assert!(e.barcodes.is_none() && e.separation.is_none());
    }

    #[test]
    fn stats_of_values() {
        let s = stats(vec![0.3, 0.1, 0.2, 0.4]).unwrap();
        assert!((s.mean - 0.25).abs() < 1e-12);
        assert!((s.median - 0.25).abs() < 1e-12);
        assert_eq!(s.worst, 0.4);
    }

    const COVER_QR: &str = "MAILROOM-COVER/1|unit=61|case=61.2-1%2F2026|pages=2";

    /// A stream of three letters, each behind a separator: a cover sheet (QR, Patch 2)
    /// in front of a two-page letter with a blank back, a Patch 1 sheet in front of a
    /// one-page letter, a Code 39 separator in front of a two-page letter with an
    /// invoice barcode. `cover_pages` is what the cover sheet says (2 is right).
    fn stream_truth(cover_pages: u32) -> Truth {
        let mut pages = vec![
            truth_page("a.tif", 0, PageKind::CoverSheet, "Deckblatt 61"),
            truth_page("a.tif", 1, PageKind::Letter, "Brief eins Seite eins"),
            truth_page("a.tif", 2, PageKind::Letter, "Brief eins Seite zwei"),
            truth_page("a.tif", 3, PageKind::BlankBack, ""),
            truth_page("b.tif", 0, PageKind::PatchSheet, "Patch 1"),
            truth_page("b.tif", 1, PageKind::Letter, "Brief zwei"),
            truth_page("c.tif", 0, PageKind::SeparatorSheet, "Trennblatt"),
            truth_page("c.tif", 1, PageKind::Letter, "Brief drei"),
            truth_page("c.tif", 2, PageKind::Letter, "Brief drei Ende"),
        ];
        let bc = |format: &str, text: &str| TruthBarcode {
            format: format.into(),
            text: text.into(),
        };
        pages[0].barcodes = vec![bc("QRCode", COVER_QR)];
        pages[0].patch = Some(PatchType::Patch2);
        pages[1].barcodes = vec![bc("Code128", "FB61-1")];
        pages[4].patch = Some(PatchType::Patch1);
        pages[6].barcodes = vec![bc("Code39", "PATCHT")];
        pages[7].barcodes = vec![bc("Code128", "INV-7")];
        let doc = |pages: Vec<usize>, separators: Vec<usize>| TruthDocument {
            pages,
            unit: "61".into(),
            unit_name: "Stadtplanung".into(),
            subject: "Betreff".into(),
            separators,
            cover: None,
            route: None,
            routing_case: None,
        };
        let mut documents = vec![
            doc(vec![1, 2, 3], vec![0]),
            doc(vec![5], vec![4]),
            doc(vec![7, 8], vec![6]),
        ];
        documents[0].cover = Some(TruthCover {
            unit: "61".into(),
            case: Some("61.2-1/2026".into()),
            pages: Some(cover_pages),
        });
        Truth {
            schema_version: TRUTH_SCHEMA_VERSION,
            seed: 0,
            generator: "test".into(),
            pages,
            documents,
        }
    }

    /// A page record as the document JSON has it: (format, text) barcodes, patch name,
    /// OCR text (None: not OCRed).
    fn page(file: &str, frame: u32, barcodes: &[(&str, &str)], patch: Option<&str>) -> Value {
        json!({
            "number": 1,
            "source_file": file,
            "frame": frame,
            "barcodes": barcodes
                .iter()
                .map(|(f, t)| json!({"format": f, "text": t, "corners": [[0,0],[1,0],[1,1],[0,1]], "orientation": 0}))
                .collect::<Vec<_>>(),
            "patch": patch.map(|p| json!({"type": p, "bbox": [0, 0, 1, 1], "bars_mm": [5.1, 5.1, 2.0, 2.0]})),
        })
    }

    fn with_text(mut page: Value, text: &str) -> Value {
        page["ocr"] = json!({"language": "deu", "words": 1, "text": text, "lines": []});
        page
    }

    fn removed(reason: &str, mut page: Value) -> Value {
        page["reason"] = json!(reason);
        page
    }

    fn doc(id: &str, pages: Vec<Value>, removed: Vec<Value>, separation: Value) -> Value {
        json!({
            "schema_version": 2,
            "id": id,
            "pdf": if pages.is_empty() { Value::Null } else { json!({"file": format!("{id}.pdf")}) },
            "pages": pages,
            "removed_pages": removed,
            "separation": separation,
            "timings_ms": {"decode": 1, "cleanup": 2, "barcodes": 0, "ocr": 0, "encode": 1, "pdf": 1},
        })
    }

    fn started(kind: &str) -> Value {
        json!({"started_by": {"kind": kind}, "cover_sheet": null, "flags": []})
    }

    /// Writes report.json and documents/<id>.json as JSON text and scores them (without
    /// the PDFs' text).
    fn run(docs: &[Value], truth: &Truth, opts: EvalOptions) -> Evaluation {
        let dir = write_output(docs);
        score_output(&load_output(dir.path(), false).unwrap(), truth, opts)
    }

    /// Writes report.json and documents/<id>.json into a tempdir.
    fn write_output(docs: &[Value]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("documents")).unwrap();
        let mut entries = Vec::new();
        for d in docs {
            let id = d["id"].as_str().unwrap();
            let json = format!("documents/{id}.json");
            std::fs::write(
                dir.path().join(&json),
                serde_json::to_string_pretty(d).unwrap(),
            )
            .unwrap();
            entries.push(json!({
                "id": id,
                "pdf": if d["pdf"].is_null() { Value::Null } else { json!(format!("documents/{id}.pdf")) },
                "json": json,
            }));
        }
        let report = json!({"schema_version": 1, "batch": "/nowhere", "documents": entries});
        std::fs::write(
            dir.path().join(crate::pipeline::REPORT_FILE),
            report.to_string(),
        )
        .unwrap();
        dir
    }

    /// The stream separated rightly, with reading errors: Code128 FB61-1 read as
    /// FB61-7 (a misread and a miss), INV-7 not read, a false EAN-13 read, Patch 1 read
    /// as Patch 6, a false Patch 4 on a letter.
    fn right_stream_output(cover_flags: Value) -> Vec<Value> {
        let mut d1 = doc(
            "d1",
            vec![
                with_text(
                    page("a.tif", 1, &[("Code128", "FB61-7")], None),
                    "Brief eins Seite eins",
                ),
                with_text(page("a.tif", 2, &[], None), "Brief eins Seite zwei"),
            ],
            vec![
                removed(
                    "separator",
                    page("a.tif", 0, &[("QRCode", COVER_QR)], Some("patch_2")),
                ),
                removed("blank", page("a.tif", 3, &[], None)),
            ],
            json!({
                "started_by": {"kind": "cover_sheet"},
                "cover_sheet": {"unit": "61", "unit_name": "Stadtplanung", "case": "61.2-1/2026", "pages": 2},
                "flags": cover_flags,
            }),
        );
        d1["timings_ms"] = json!({"barcodes": 30, "patch": 6, "ocr": 300});
        let mut d2 = doc(
            "d2",
            vec![with_text(
                page("b.tif", 1, &[], Some("patch_4")),
                "Brief zwei",
            )],
            vec![removed("separator", page("b.tif", 0, &[], Some("patch_6")))],
            started("patch_code"),
        );
        d2["timings_ms"] = json!({"barcodes": 10, "patch": 2, "ocr": 100});
        let mut d3 = doc(
            "d3",
            vec![
                with_text(page("c.tif", 1, &[], None), "Brief drei"),
                with_text(
                    page("c.tif", 2, &[("EAN13", "4006381333931")], None),
                    "Brief drei Ende",
                ),
            ],
            vec![removed(
                "separator",
                page("c.tif", 0, &[("Code39", "PATCHT")], None),
            )],
            started("separator_barcode"),
        );
        d3["timings_ms"] = json!({"barcodes": 20, "patch": 4, "ocr": 200});
        vec![d1, d2, d3]
    }

    #[test]
    fn barcodes_are_scored_per_symbology_with_misses_and_misreads() {
        let truth = stream_truth(2);
        let e = run(
            &right_stream_output(json!([])),
            &truth,
            EvalOptions::default(),
        );
        let b = e.barcodes.as_ref().unwrap();
        assert_eq!((b.expected, b.found, b.missed, b.misreads), (4, 2, 2, 2));
        assert!((b.read_rate - 0.5).abs() < 1e-12);
        let f = &b.per_format;
        assert_eq!((f["QRCode"].expected, f["QRCode"].found), (1, 1));
        assert_eq!((f["Code39"].expected, f["Code39"].found), (1, 1));
        let c128 = &f["Code128"];
        assert_eq!(
            (c128.expected, c128.found, c128.missed, c128.misreads),
            (2, 0, 2, 1)
        );
        assert_eq!((f["EAN13"].expected, f["EAN13"].misreads), (0, 1));
        let missed: Vec<&str> = b.missed_barcodes.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(missed, ["FB61-1", "INV-7"]);
        let wrong = &b.misread_barcodes[0];
        assert_eq!((wrong.file.as_str(), wrong.frame), ("a.tif", 1));
        assert_eq!(wrong.text, "FB61-7");
        assert_eq!(wrong.truth[0].text, "FB61-1");
        let false_read = &b.misread_barcodes[1];
        assert_eq!((false_read.format.as_str(), false_read.frame), ("EAN13", 2));
        assert!(false_read.truth.is_empty());
        assert!(e.table().contains("MISREAD c.tif:2 EAN13"));
    }

    #[test]
    fn patch_confusion_matrix_shows_a_1_6_swap_and_a_false_patch() {
        let truth = stream_truth(2);
        let e = run(
            &right_stream_output(json!([])),
            &truth,
            EvalOptions::default(),
        );
        let p = e.patches.as_ref().unwrap();
        assert_eq!(p.labels.len(), 7);
        let at = |name: &str| p.labels.iter().position(|l| l == name).unwrap();
        assert_eq!(p.matrix[at("patch_1")][at("patch_6")], 1);
        assert_eq!(p.matrix[at("patch_2")][at("patch_2")], 1);
        assert_eq!(p.matrix[at("none")][at("patch_4")], 1);
        assert_eq!(p.matrix[at("none")][at("none")], 6);
        assert_eq!(p.pages, 9);
        assert_eq!(
            (
                p.patch_pages,
                p.right,
                p.wrong_type,
                p.missed,
                p.false_patches
            ),
            (2, 1, 1, 0, 1)
        );
        assert_eq!(p.errors.len(), 2);
        let why = e.separation_failures();
        assert_eq!(
            why,
            ["2 barcodes misread", "1 false patch codes"],
            "{why:?}"
        );
    }

    #[test]
    fn a_rightly_separated_stream_scores_all_documents_and_the_reading_cost() {
        let truth = stream_truth(2);
        let e = run(
            &right_stream_output(json!([])),
            &truth,
            EvalOptions::default(),
        );
        let s = e.separation.as_ref().expect("truth has separators");
        assert_eq!((s.truth_documents, s.right, s.wrong), (3, 3, 0));
        assert_eq!(s.accuracy, 1.0);
        assert!(s.unmatched_output_documents.is_empty());
        assert_eq!(
            (
                s.separator_pages,
                s.separator_pages_removed,
                s.separator_pages_kept
            ),
            (3, 3, 0)
        );
        assert_eq!(s.started_by["cover_sheet"], 1);
        assert_eq!((s.covers.documents, s.covers.right), (1, 1));
        let f = &s.page_count_flags;
        assert_eq!((f.checked, f.expected_flags, f.correct), (3, 0, 3));
        // Letters: the OCR text is exact; separator sheets are kept apart.
        assert_eq!(e.summary.text_pages, 5);
        assert_eq!(e.summary.separator_pages, 3);
        assert_eq!(e.summary.cer.as_ref().unwrap().worst, 0.0);
        assert!(e.summary.separator_cer.is_none());
        assert!(e
            .pages
            .iter()
            .filter(|p| p.kind.is_separator())
            .all(|p| p.cer.is_none() && p.removed.as_deref() == Some("separator")));
        let c = e.reading_cost.as_ref().unwrap();
        assert_eq!(
            (c.pages, c.barcodes_ms, c.patch_ms, c.ocr_ms),
            (9, 60, Some(12), 600)
        );
        assert!((c.share_of_ocr.unwrap() - 0.12).abs() < 1e-12);
        assert!((c.ocr_ms_per_page - 600.0 / 9.0).abs() < 1e-9);
        let table = e.table();
        assert!(table.contains("documents 3 of 3 right"), "{table}");
    }

    #[test]
    fn wrongly_merged_and_split_documents_are_listed() {
        let truth = stream_truth(3);
        // Letter 0 split at its second page; the Code 39 sheet not recognised, so
        // letters 1 and 2 are one document with the separator sheet inside.
        let cover = json!({
            "started_by": {"kind": "cover_sheet"},
            "cover_sheet": {"unit": "61", "case": "61.2-1/2026", "pages": 3},
            "flags": [{"flag": "page_count_mismatch", "expected": 3, "scanned": 1}],
        });
        let docs = vec![
            doc(
                "d1",
                vec![page("a.tif", 1, &[], None)],
                vec![removed("separator", page("a.tif", 0, &[], Some("patch_2")))],
                cover,
            ),
            doc(
                "d2",
                vec![page("a.tif", 2, &[], None)],
                vec![],
                started("page_count"),
            ),
            doc(
                "d3",
                vec![
                    page("b.tif", 1, &[], None),
                    page("c.tif", 0, &[("Code39", "PATCHT")], None),
                    page("c.tif", 1, &[], None),
                    page("c.tif", 2, &[], None),
                ],
                vec![removed("separator", page("b.tif", 0, &[], Some("patch_1")))],
                started("patch_code"),
            ),
            // Evidence only: not scored as a document.
            doc(
                "d4",
                vec![],
                vec![removed("blank", page("a.tif", 3, &[], None))],
                started("blank_page"),
            ),
        ];
        let e = run(&docs, &truth, EvalOptions::default());
        let s = e.separation.as_ref().unwrap();
        assert_eq!((s.truth_documents, s.right, s.wrong), (3, 0, 3));
        assert_eq!((s.output_documents, s.evidence_only_documents), (3, 1));
        let split = &s.wrong_documents[0];
        assert_eq!(split.index, 0);
        assert_eq!(split.expected, ["a.tif:1", "a.tif:2"]);
        assert_eq!(split.problem, "split over 2 documents");
        let ids: Vec<&str> = split.held_by.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["d1", "d2"]);
        let merged = &s.wrong_documents[1];
        assert_eq!(merged.index, 1);
        assert_eq!(merged.problem, "merged with 3 other pages");
        assert_eq!(merged.held_by.len(), 1);
        assert_eq!(merged.held_by[0].id, "d3");
        assert_eq!(
            merged.held_by[0].extra_pages,
            ["c.tif:0", "c.tif:1", "c.tif:2"]
        );
        assert_eq!(s.wrong_documents[2].problem, "merged with 2 other pages");
        let unmatched: Vec<&str> = s
            .unmatched_output_documents
            .iter()
            .map(|u| u.id.as_str())
            .collect();
        assert_eq!(unmatched, ["d1", "d2", "d3"]);
        assert_eq!(s.separator_pages_kept_list, ["c.tif:0"]);
        assert_eq!(s.separator_pages_removed, 2);
        // The cover sheet was read (in the document it started); its page-count check
        // is not scored on a wrongly separated letter.
        assert_eq!(s.covers.right, 1);
        assert_eq!(
            (s.page_count_flags.checked, s.page_count_flags.unchecked),
            (0, 1)
        );
        let why = e.separation_failures();
        assert_eq!(
            why,
            [
                "3 of 3 documents separated wrongly",
                "3 output documents match no letter",
                "1 separator sheets kept in a PDF"
            ]
        );
        let table = e.table();
        assert!(
            table.contains("WRONG   letter 1 [b.tif:1]: merged with 3 other pages"),
            "{table}"
        );
    }

    #[test]
    fn page_count_flags_and_cover_fields_are_checked() {
        // The cover sheet says 3 pages, the letter has 2: the flag must be there.
        let truth = stream_truth(3);
        let mut docs = right_stream_output(
            json!([{"flag": "page_count_mismatch", "expected": 3, "scanned": 2}]),
        );
        docs[0]["separation"]["cover_sheet"]["pages"] = json!(3);
        let e = run(&docs, &truth, EvalOptions::default());
        let s = e.separation.as_ref().unwrap();
        assert_eq!(s.covers.right, 1);
        let f = &s.page_count_flags;
        assert_eq!(
            (
                f.checked,
                f.expected_flags,
                f.correct,
                f.missing,
                f.false_flags
            ),
            (3, 1, 3, 0, 0)
        );
        assert_eq!(s.flags["page_count_mismatch"], 1);

        // Flag missing on the first letter, a false one on the third; the cover sheet's
        // case read wrongly.
        let mut docs = right_stream_output(json!([]));
        docs[0]["separation"]["cover_sheet"]["pages"] = json!(3);
        docs[0]["separation"]["cover_sheet"]["case"] = json!("61.2-7/2026");
        docs[2]["separation"]["flags"] = json!([{"flag": "page_count_mismatch"}]);
        let e = run(&docs, &truth, EvalOptions::default());
        let s = e.separation.as_ref().unwrap();
        assert_eq!((s.covers.right, s.covers.wrong), (0, 1));
        assert_eq!(
            s.covers.errors[0].found.as_ref().unwrap().case.as_deref(),
            Some("61.2-7/2026")
        );
        let f = &s.page_count_flags;
        assert_eq!(
            (
                f.checked,
                f.expected_flags,
                f.correct,
                f.missing,
                f.false_flags
            ),
            (3, 1, 1, 1, 1)
        );
        let flagged: Vec<(usize, bool)> = f.errors.iter().map(|e| (e.index, e.flagged)).collect();
        assert_eq!(flagged, [(0, false), (2, true)]);
    }

    #[test]
    fn one_document_per_file_scores_fully_when_asked_and_old_outputs_load() {
        let truth = Truth {
            schema_version: 2,
            seed: 0,
            generator: "test".into(),
            pages: vec![
                truth_page("x.tif", 0, PageKind::Letter, "Eins"),
                truth_page("x.tif", 1, PageKind::BlankBack, ""),
                truth_page("y.png", 0, PageKind::AlmostBlank, "Notiz"),
            ],
            documents: vec![
                TruthDocument {
                    pages: vec![0, 1],
                    unit: "10".into(),
                    unit_name: "Hauptamt".into(),
                    subject: "A".into(),
                    separators: vec![],
                    cover: None,
                    route: None,
                    routing_case: None,
                },
                TruthDocument {
                    pages: vec![2],
                    unit: "20".into(),
                    unit_name: "Kämmerei".into(),
                    subject: "B".into(),
                    separators: vec![],
                    cover: None,
                    route: None,
                    routing_case: None,
                },
            ],
        };
        // As issue 3 wrote them: no separation, no patch timing.
        let mut x = doc(
            "x",
            vec![with_text(page("x.tif", 0, &[], None), "Eins")],
            vec![removed("blank", page("x.tif", 1, &[], None))],
            Value::Null,
        );
        x["timings_ms"] =
            json!({"decode": 1, "cleanup": 1, "barcodes": 8, "ocr": 40, "encode": 1, "pdf": 1});
        x.as_object_mut().unwrap().remove("separation");
        let mut y = doc(
            "y",
            vec![with_text(page("y.png", 0, &[], None), "Notiz")],
            vec![],
            Value::Null,
        );
        y.as_object_mut().unwrap().remove("separation");
        y["timings_ms"] =
            json!({"decode": 1, "cleanup": 1, "barcodes": 2, "ocr": 60, "encode": 1, "pdf": 1});
        let docs = [x, y];
        let e = run(&docs, &truth, EvalOptions::default());
        assert!(e.separation.is_none(), "not asked, no separators");
        assert!(e.routing.is_none(), "no routes in the truth");
        let c = e.reading_cost.as_ref().unwrap();
        assert_eq!((c.pages, c.patch_ms, c.ocr_ms), (3, None, 100));
        assert!((c.share_of_ocr.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(
            e.separation_failures(),
            ["document separation was not scored"]
        );
        let e = run(&docs, &truth, EvalOptions { separation: true });
        let s = e.separation.as_ref().unwrap();
        assert_eq!((s.truth_documents, s.right, s.accuracy), (2, 2, 1.0));
        assert_eq!(s.started_by["unknown"], 2);
        assert_eq!(s.page_count_flags.checked, 2);
        assert_eq!(s.page_count_flags.correct, 2);
        assert!(e.separation_failures().is_empty());
        assert_eq!(e.barcodes.as_ref().unwrap().read_rate, 1.0);
        assert_eq!(e.patches.as_ref().unwrap().pages, 3);
    }

    // -----------------------------------------------------------------------------------
    // Routing
    // -----------------------------------------------------------------------------------

    /// One single-page letter per file `r<i>.tif` (a non-stream batch: one file is one
    /// document), each with its expected route and routing case.
    fn routing_truth(routes: &[(ExpectedRoute, &str)]) -> Truth {
        let pages = (0..routes.len())
            .map(|i| {
                truth_page(
                    &format!("r{i}.tif"),
                    0,
                    PageKind::Letter,
                    &format!("Brief {i}"),
                )
            })
            .collect();
        let documents = routes
            .iter()
            .enumerate()
            .map(|(i, (route, case))| TruthDocument {
                pages: vec![i],
                unit: "61".into(),
                unit_name: "Stadtplanung".into(),
                subject: format!("Betreff {i}"),
                separators: vec![],
                cover: None,
                route: Some(route.clone()),
                routing_case: Some(case.to_string()),
            })
            .collect();
        Truth {
            schema_version: TRUTH_SCHEMA_VERSION,
            seed: 0,
            generator: "test".into(),
            pages,
            documents,
        }
    }

    fn unit(code: &str) -> ExpectedRoute {
        ExpectedRoute::Unit { unit: code.into() }
    }

    /// An output document for letter `i` with its OCR text, routed to `target` (None: an
    /// output of an older run, without routing).
    fn routed_doc(i: usize, target: Option<Value>, rule: &str, confidence: f64) -> Value {
        let mut d = doc(
            &format!("doc-{i}"),
            vec![with_text(
                page(&format!("r{i}.tif"), 0, &[], None),
                &format!("Brief {i}"),
            )],
            vec![],
            started("file"),
        );
        if let Some(target) = target {
            d["routing"] = json!({
                "target": target,
                "reason": null,
                "rule": rule,
                "confidence": confidence,
                "document_type": "letter",
                "fields": {},
                "evidence": [{"rule": rule, "kind": "keyword", "term": "Bauantrag", "matched": "Bauantrag", "zone": "subject", "page": 1, "confidence": confidence}],
                "runner_up": {"rule": "other", "unit": "20", "confidence": 0.4},
            });
        }
        d
    }

    /// Unopened as the run must write it: no OCR text, no lines (or no `ocr` at all).
    fn sealed(mut d: Value, reason: &str) -> Value {
        d["pages"][0]["ocr"] = Value::Null;
        d["routing"]["reason"] = json!(reason);
        d["routing"]["rule"] = Value::Null;
        d["routing"]["runner_up"] = Value::Null;
        d
    }

    #[test]
    fn routing_is_scored_with_confusion_cases_high_confidence_errors_and_leaks() {
        let truth = routing_truth(&[
            (unit("61"), "addressed"),
            (unit("50.4"), "body_only"),
            (ExpectedRoute::Clarification, "ambiguous"),
            (ExpectedRoute::Unopened, "confidential_marked"),
            (ExpectedRoute::Unopened, "confidential_person"),
            (ExpectedRoute::Unopened, "confidential_marked"),
            (unit("10"), "addressed"),
        ]);
        let to_unit = |u: &str| Some(json!({"to": "unit", "unit": u}));
        let docs = vec![
            // Right unit.
            routed_doc(0, to_unit("61"), "bauantrag", 0.95),
            // Wrong unit with high confidence.
            routed_doc(1, to_unit("61"), "bauantrag", 0.9),
            // Clarification, rightly.
            routed_doc(2, Some(json!({"to": "clarification"})), "ambiguous", 0.5),
            // Confidential, but routed to a unit (low confidence): a leak.
            routed_doc(3, to_unit("10"), "personal", 0.6),
            // Unopened, rightly, but the JSON keeps the OCR text: a leak.
            routed_doc(4, Some(json!({"to": "unopened"})), "x", 1.0),
            // Unopened as it must be: no text anywhere.
            sealed(
                routed_doc(5, Some(json!({"to": "unopened"})), "x", 1.0),
                "marked confidential",
            ),
            // An older run's document: no routing.
            routed_doc(6, None, "", 0.0),
        ];
        let e = run(&docs, &truth, EvalOptions::default());
        let r = e.routing.as_ref().expect("the truth has routes");
        assert_eq!((r.total, r.right, r.wrong, r.missing), (7, 4, 3, 1));
        assert!((r.accuracy - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(r.not_separated, 0);
        assert_eq!(
            r.rows,
            ["10", "50.4", "61", "clarification", "unopened"],
            "units in numeric order, then the queues"
        );
        assert_eq!(r.columns.last().map(String::as_str), Some("missing"));
        let row = |l: &str| r.rows.iter().position(|x| x == l).unwrap();
        let col = |l: &str| r.columns.iter().position(|x| x == l).unwrap();
        assert_eq!(r.confusion[row("61")][col("61")], 1);
        assert_eq!(r.confusion[row("50.4")][col("61")], 1);
        assert_eq!(r.confusion[row("clarification")][col("clarification")], 1);
        assert_eq!(r.confusion[row("unopened")][col("10")], 1);
        assert_eq!(r.confusion[row("unopened")][col("unopened")], 2);
        assert_eq!(r.confusion[row("10")][col("missing")], 1);
        assert_eq!(r.confusion.iter().flatten().sum::<usize>(), 7);
        // Per routing case.
        assert_eq!(r.per_case["addressed"].documents, 2);
        assert_eq!(r.per_case["addressed"].right, 1);
        assert_eq!(r.per_case["body_only"].right, 0);
        assert_eq!(r.per_case["ambiguous"].accuracy, 1.0);
        assert_eq!(
            (
                r.per_case["confidential_marked"].documents,
                r.per_case["confidential_marked"].right
            ),
            (2, 1)
        );
        assert_eq!(r.per_case["confidential_person"].right, 1);
        // Clarification rate over the routed truth documents.
        assert_eq!((r.clarification_expected, r.clarification_found), (1, 1));
        assert!((r.clarification_rate - 1.0 / 7.0).abs() < 1e-12);
        // Only the 0.9 one is a high-confidence wrong unit (0.6 is not).
        assert_eq!(r.wrong_high_confidence, 1);
        let w = &r.wrong_high_confidence_list[0];
        assert_eq!(
            (w.index, w.expected.as_str(), w.found.as_str()),
            (1, "50.4", "61")
        );
        assert_eq!(w.confidence, Some(0.9));
        assert_eq!(w.rule.as_deref(), Some("bauantrag"));
        // Leaks: letter 3 routed to a unit, letter 4 unopened with its text kept.
        assert_eq!(r.confidential_leaks, 2);
        let leaks: Vec<(Option<usize>, &str, &str, &str)> = r
            .confidential_leak_list
            .iter()
            .map(|l| {
                (
                    l.index,
                    l.kind.as_str(),
                    l.found.as_str(),
                    l.output_document.as_str(),
                )
            })
            .collect();
        assert_eq!(
            leaks,
            [
                (Some(3), "routed", "10", "doc-3"),
                (Some(4), "json_text", "unopened", "doc-4")
            ]
        );
        assert_eq!(r.confidential_leak_list[1].pages, ["r4.tif:0"]);
        let errors: Vec<(usize, &str)> = r
            .errors
            .iter()
            .map(|d| (d.index, d.found.as_str()))
            .collect();
        assert_eq!(errors, [(1, "61"), (3, "10"), (6, "missing")]);
        // Unopened pages carry no text on purpose: out of the CER.
        let p5 = &e.pages[5];
        assert!(p5.unopened && p5.cer.is_none() && p5.cer_pdf.is_none());
        assert!(e.pages[4].unopened && e.pages[4].cer.is_none());
        assert_eq!(e.summary.unopened_pages, 2);
        assert_eq!(e.summary.cer.as_ref().unwrap().worst, 0.0);
        // The gate: accuracy, leaks and the high-confidence wrong unit.
        let why = e.routing_failures(0.98);
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].starts_with("routing accuracy 0.5714 (4 of 7 documents)"));
        assert_eq!(why[1], "2 confidential leaks");
        assert!(why[2].starts_with("1 documents routed to a wrong unit"));
        // The human output.
        let table = e.table();
        assert!(
            table.contains("routing  4 of 7 documents right (57.1 %), 1 missing"),
            "{table}"
        );
        assert!(table.contains("expected \\ found"), "{table}");
        assert!(
            table.contains("WRONG!! letter 1 (body_only): expected 50.4, found 61 in doc-1"),
            "{table}"
        );
        assert!(
            table.contains("LEAK    doc-3 (letter 3): must stay unopened, routed to 10"),
            "{table}"
        );
        assert!(
            table.contains("LEAK    doc-4 (letter 4): unopened, but its JSON keeps OCR text"),
            "{table}"
        );
        // In the evaluation JSON.
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["routing"]["confidential_leaks"], 2);
        assert_eq!(v["routing"]["wrong_high_confidence"], 1);
        assert_eq!(v["pages"][5]["unopened"], true);
    }

    #[test]
    fn a_text_layer_in_an_unopened_pdf_is_a_leak_and_all_right_passes_the_gate() {
        let truth = routing_truth(&[
            (unit("61"), "addressed"),
            (ExpectedRoute::Unopened, "confidential_person"),
        ]);
        let docs = vec![
            routed_doc(0, Some(json!({"to": "unit", "unit": "61"})), "r", 0.97),
            sealed(
                routed_doc(1, Some(json!({"to": "unopened"})), "x", 1.0),
                "addressed to a person",
            ),
        ];
        let dir = write_output(&docs);
        let mut out = load_output(dir.path(), false).unwrap();
        let e = score_output(&out, &truth, EvalOptions::default());
        let r = e.routing.as_ref().unwrap();
        assert_eq!((r.total, r.right, r.confidential_leaks), (2, 2, 0));
        assert!(e.routing_failures(0.98).is_empty());
        assert!(e.routing_failures(1.0).is_empty());
        // pdftotext finds text in the unopened document's PDF.
        out[1].pdf_pages = Some(vec!["  Sehr geehrte Frau Meier \n".into()]);
        out[0].pdf_pages = Some(vec!["Brief 0".into()]);
        let e = score_output(&out, &truth, EvalOptions::default());
        let r = e.routing.as_ref().unwrap();
        assert_eq!(r.right, 2);
        assert_eq!(r.confidential_leaks, 1);
        let l = &r.confidential_leak_list[0];
        assert_eq!(
            (l.index, l.kind.as_str(), l.pages.as_slice()),
            (Some(1), "pdf_text", ["r1.tif:0".to_string()].as_slice())
        );
        assert!(
            e.pages[1].cer_pdf.is_none(),
            "unopened: not scored for text"
        );
        assert_eq!(e.pages[0].cer_pdf, Some(0.0));
        assert_eq!(e.routing_failures(0.5), ["1 confidential leaks"]);
        // Whitespace only is no text layer.
        out[1].pdf_pages = Some(vec![" \n ".into()]);
        let e = score_output(&out, &truth, EvalOptions::default());
        assert_eq!(e.routing.as_ref().unwrap().confidential_leaks, 0);
        // Empty text and no lines, as mailroom writes an unopened page: no leak; the
        // recognised lines kept without the text: a leak.
        let mut docs = docs;
        docs[1]["pages"][0]["ocr"] =
            json!({"language": "deu", "words": 0, "text": "", "lines": {"lines": []}});
        let e = run(&docs, &truth, EvalOptions::default());
        assert_eq!(e.routing.as_ref().unwrap().confidential_leaks, 0);
        docs[1]["pages"][0]["ocr"]["lines"] = json!({"lines": [{
            "box": {"x": 1, "y": 1, "w": 9, "h": 9},
            "words": [{"text": "Meier", "box": {"x": 1, "y": 1, "w": 9, "h": 9}, "conf": 90.0}]
        }]});
        let e = run(&docs, &truth, EvalOptions::default());
        let r = e.routing.as_ref().unwrap();
        assert_eq!(r.confidential_leaks, 1);
        assert_eq!(r.confidential_leak_list[0].kind, "json_text");
    }

    #[test]
    fn a_confidential_letter_merged_into_a_routed_document_leaks() {
        let truth = routing_truth(&[
            (ExpectedRoute::Unopened, "confidential_marked"),
            (unit("61"), "addressed"),
        ]);
        let mut merged = routed_doc(0, Some(json!({"to": "unit", "unit": "61"})), "r", 0.7);
        let second = with_text(page("r1.tif", 0, &[], None), "Brief 1");
        merged["pages"].as_array_mut().unwrap().push(second);
        let e = run(&[merged], &truth, EvalOptions::default());
        let r = e.routing.as_ref().unwrap();
        // Both letters scored through the merged document.
        assert_eq!((r.total, r.right, r.not_separated, r.missing), (2, 1, 2, 0));
        assert_eq!(r.confidential_leaks, 1);
        assert_eq!(r.confidential_leak_list[0].pages, ["r0.tif:0", "r1.tif:0"]);
        assert!(!r.errors[0].separated);
        assert!(e.table().contains("(separated wrongly)"), "{}", e.table());
    }

    #[test]
    fn an_old_output_without_routing_counts_as_missing() {
        let truth = routing_truth(&[
            (unit("61"), "addressed"),
            (ExpectedRoute::Clarification, "no_topic"),
            (ExpectedRoute::Unopened, "confidential_marked"),
        ]);
        let docs: Vec<Value> = (0..3).map(|i| routed_doc(i, None, "", 0.0)).collect();
        let e = run(&docs, &truth, EvalOptions::default());
        let r = e.routing.as_ref().unwrap();
        assert_eq!((r.total, r.right, r.missing, r.accuracy), (3, 0, 3, 0.0));
        let missing = r.columns.len() - 1;
        assert_eq!(r.confusion.iter().map(|row| row[missing]).sum::<usize>(), 3);
        assert_eq!((r.confidential_leaks, r.wrong_high_confidence), (0, 0));
        assert_eq!(r.clarification_found, 0);
        assert_eq!(e.summary.unopened_pages, 0);
        assert_eq!(e.summary.cer.as_ref().unwrap().worst, 0.0);
        assert_eq!(e.routing_failures(0.98).len(), 1);
        assert!(e.table().contains("routing  0 of 3 documents right"));
        // A routing field the run left null is no routing either; the report's entry
        // stands in when the document JSON has none.
        let mut docs = docs;
        docs[0]["routing"] = Value::Null;
        let dir = write_output(&docs);
        let report_path = dir.path().join(crate::pipeline::REPORT_FILE);
        let mut report: Value =
            serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
        report["documents"][1]["routing"] =
            json!({"target": {"to": "clarification"}, "rule": null, "confidence": 0.3});
        std::fs::write(&report_path, report.to_string()).unwrap();
        let out = load_output(dir.path(), false).unwrap();
        let e = score_output(&out, &truth, EvalOptions::default());
        let r = e.routing.as_ref().unwrap();
        assert_eq!((r.right, r.missing, r.clarification_found), (1, 2, 1));
    }

    #[test]
    fn unit_codes_sort_as_numbers() {
        let mut v = vec!["61", "10", "50.4", "06", "2", "50.10", "0140", "x1", "37"];
        v.sort_by(|a, b| unit_order(a, b));
        assert_eq!(
            v,
            ["0140", "06", "2", "10", "37", "50.4", "50.10", "61", "x1"]
        );
    }
}

//! The run report (`report.json`), the human summary, and the terminal observer with its
//! progress bar. This module is the only writer to the terminal during a run.

use std::fmt::Write as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::model::Quarantined;
use crate::pipeline::Observer;

/// The summary lists at most this many flagged pages; report.json has them all.
const SUMMARY_MAX_FLAGGED: usize = 20;

/// Version of the `report.json` layout.
pub const REPORT_SCHEMA_VERSION: u32 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub schema_version: u32,
    /// The run's id: the first part of every document's mailroom id.
    pub run_id: String,
    pub mailroom_version: String,
    pub profile: String,
    pub batch: String,
    pub out: String,
    pub started: String,
    pub finished: String,
    pub jobs: usize,
    pub elapsed_seconds: f64,
    /// CPU seconds used by the process (all threads), where the system tells.
    pub cpu_seconds: Option<f64>,
    pub counts: Counts,
    pub documents: Vec<DocumentSummary>,
    pub quarantined: Vec<Quarantined>,
    /// Batch metadata skipped on purpose (hidden files, truth.json, manifests).
    pub ignored: Vec<String>,
    /// The hash chain over the documents' JSON records, in document order
    /// (`mailroom verify` recomputes it).
    pub chain: Vec<crate::chain::ChainLink>,
    /// What the delivery to the target did (absent until delivery ran).
    #[serde(default)]
    pub delivery: Option<crate::deliver::engine::DeliverySummary>,
}

/// The counts that prove that no page was lost: `pages_in` (counted when the batch is
/// read) `= pages_delivered + pages_evidence + pages_quarantined`, and every input file
/// is in a document or in quarantine.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub files_in: usize,
    pub files_ignored: usize,
    pub files_quarantined: usize,
    pub pages_in: usize,
    /// Pages in the documents' PDFs.
    pub pages_delivered: usize,
    /// Pages removed from documents (blank pages, separator sheets) and kept in evidence PDFs.
    pub pages_evidence: usize,
    pub pages_quarantined: usize,
    /// Documents with a PDF.
    pub documents: usize,
    /// Documents whose every page was removed (blank pages, separator sheets at the end
    /// of a batch): no PDF, evidence only.
    pub documents_evidence_only: usize,
    /// Documents with separation flags (cover-sheet page count mismatch, too many pages,
    /// unreadable cover sheet): see `documents[].flags`.
    pub documents_flagged: usize,
    /// Separator sheets taken out of the stream (part of `pages_evidence`).
    pub pages_separators: usize,
    /// Confidential documents to hand over unopened (routing).
    #[serde(default)]
    pub documents_unopened: usize,
    /// Documents in the clarification queue (routing).
    #[serde(default)]
    pub documents_clarification: usize,
    /// Pages with QA flags (see `documents[].flagged`).
    pub pages_flagged: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentSummary {
    pub id: String,
    /// Paths relative to the output folder. No PDF when every page was blank.
    pub pdf: Option<String>,
    pub json: String,
    pub evidence_pdf: Option<String>,
    /// Pages in the PDF.
    pub pages: usize,
    /// Pages removed (blank pages, separator sheets) and kept in the evidence PDF.
    pub removed_pages: usize,
    /// Of those, separator sheets.
    pub separator_pages: usize,
    /// The input files of the pages, in page order.
    pub sources: Vec<String>,
    /// What started the document (see the document JSON's `separation`).
    pub started_by: crate::separation::SplitCause,
    /// The cover sheet in front of the document, as read.
    pub cover_sheet: Option<crate::coversheet::CoverSheet>,
    /// Separation flags: cover-sheet page count mismatch, too many pages, ...
    pub flags: Vec<crate::separation::DocumentFlag>,
    /// The routing decision, when routing is on.
    #[serde(default)]
    pub routing: Option<RouteSummary>,
    pub mean_confidence: Option<f32>,
    /// Pages with QA flags (uncertain skew or orientation, near blank, low OCR confidence).
    pub flagged: Vec<FlaggedPage>,
}

/// A document's routing decision in short.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteSummary {
    pub target: crate::routing::Target,
    pub rule: Option<String>,
    pub confidence: f32,
    pub reason: Option<String>,
}

impl RouteSummary {
    pub fn of(r: &crate::routing::RoutingRecord) -> RouteSummary {
        RouteSummary {
            target: r.target.clone(),
            rule: r.rule.clone(),
            confidence: r.confidence,
            reason: r.reason.clone(),
        }
    }
}

/// A page an operator may want to look at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlaggedPage {
    pub source_file: String,
    pub frame: usize,
    pub flags: Vec<crate::cleanup::Flag>,
    pub ink_coverage: f32,
}

/// A separation flag in words for the summary.
fn describe_flag(flag: &crate::separation::DocumentFlag) -> String {
    use crate::separation::DocumentFlag::*;
    match flag {
        PageCountMismatch { expected, scanned } => format!(
            "cover sheet says {expected} pages, {scanned} scanned (page missing or mixed in?)"
        ),
        TooManyPages { pages, max } => {
            format!("{pages} pages, more than {max}: separator sheet missed?")
        }
        CoverSheetUnreadable { reason } => format!("cover sheet unreadable: {reason}"),
        TwoCoverSheets => "two cover sheets in front of it; the later one counts".to_string(),
    }
}

impl RunReport {
    /// Checks the report against itself: every input file and page is accounted for
    /// exactly once. Returns what does not add up.
    pub fn check_conservation(&self) -> Result<(), String> {
        let c = &self.counts;
        let mut problems = Vec::new();
        let doc_pages: usize = self.documents.iter().map(|d| d.pages).sum();
        let q_pages: usize = self.quarantined.iter().map(|q| q.pages).sum();
        if c.pages_delivered != doc_pages {
            problems.push(format!(
                "pages_delivered {} but documents hold {doc_pages}",
                c.pages_delivered
            ));
        }
        if c.pages_quarantined != q_pages {
            problems.push(format!(
                "pages_quarantined {} but quarantine lists {q_pages}",
                c.pages_quarantined
            ));
        }
        if c.pages_in != c.pages_delivered + c.pages_evidence + c.pages_quarantined {
            problems.push(format!(
                "pages_in {} != delivered {} + evidence {} + quarantined {}",
                c.pages_in, c.pages_delivered, c.pages_evidence, c.pages_quarantined
            ));
        }
        let with_pdf = self.documents.iter().filter(|d| d.pdf.is_some()).count();
        let removed: usize = self.documents.iter().map(|d| d.removed_pages).sum();
        if c.pages_evidence != removed {
            problems.push(format!(
                "pages_evidence {} but documents removed {removed}",
                c.pages_evidence
            ));
        }
        if c.documents != with_pdf || c.documents_evidence_only != self.documents.len() - with_pdf {
            problems.push("document counts differ from the document list".to_string());
        }
        // A file may feed several documents (separator sheets inside it) and one document
        // may span several files; every file must turn up at least once.
        let mut seen: Vec<&str> = self
            .documents
            .iter()
            .flat_map(|d| d.sources.iter().map(String::as_str))
            .chain(self.quarantined.iter().map(|q| q.file.as_str()))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != c.files_in {
            problems.push(format!(
                "files_in {} but {} files are delivered or quarantined",
                c.files_in,
                seen.len()
            ));
        }
        if c.files_quarantined != self.quarantined.len() {
            problems.push("quarantine count differs from its list".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    pub fn pages_per_minute(&self) -> f64 {
        if self.elapsed_seconds > 0.0 {
            self.counts.pages_in as f64 * 60.0 / self.elapsed_seconds
        } else {
            0.0
        }
    }

    /// The short summary an operator reads in the morning.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "mailroom: batch {}: {} pages in {} files",
            self.batch, c.pages_in, c.files_in
        );
        let _ = writeln!(
            s,
            "  packaged     {:>5} pages in {} documents -> {}/documents",
            c.pages_delivered, c.documents, self.out
        );
        let blank = c.pages_evidence - c.pages_separators;
        if blank > 0 {
            let _ = writeln!(
                s,
                "  blank        {blank:>5} pages removed, kept as evidence -> {}/evidence",
                self.out
            );
        }
        if c.pages_separators > 0 {
            let _ = writeln!(
                s,
                "  separators   {:>5} sheets taken out, kept as evidence -> {}/evidence",
                c.pages_separators, self.out
            );
        }
        if c.documents_evidence_only > 0 {
            let _ = writeln!(
                s,
                "  evidence     {:>5} documents had only removed pages (no PDF)",
                c.documents_evidence_only
            );
        }
        if c.documents_flagged > 0 {
            let _ = writeln!(
                s,
                "  check        {:>5} documents to look at:",
                c.documents_flagged
            );
            for d in self.documents.iter().filter(|d| !d.flags.is_empty()) {
                let flags: Vec<String> = d.flags.iter().map(describe_flag).collect();
                let _ = writeln!(s, "    {}: {}", d.id, flags.join("; "));
            }
        }
        let routed: Vec<(&DocumentSummary, &RouteSummary)> = self
            .documents
            .iter()
            .filter_map(|d| d.routing.as_ref().map(|r| (d, r)))
            .collect();
        if !routed.is_empty() {
            let mut per_unit: std::collections::BTreeMap<String, usize> = Default::default();
            for (_, r) in &routed {
                *per_unit.entry(r.target.label()).or_default() += 1;
            }
            let units: Vec<String> = per_unit
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "clarification" | "unopened"))
                .map(|(k, n)| format!("{k}: {n}"))
                .collect();
            let _ = writeln!(
                s,
                "  routed       {:>5} documents ({})",
                routed.len(),
                units.join(", ")
            );
            use crate::routing::Target;
            for (label, target) in [
                ("unopened     ", Target::Unopened),
                ("clarification", Target::Clarification),
            ] {
                let list: Vec<_> = routed.iter().filter(|(_, r)| r.target == target).collect();
                if list.is_empty() {
                    continue;
                }
                let what = if target == Target::Unopened {
                    "confidential, hand over unopened (text not kept):"
                } else {
                    "documents need a person to decide:"
                };
                let _ = writeln!(s, "  {label}{:>5} {what}", list.len());
                for (d, r) in list.iter().take(SUMMARY_MAX_FLAGGED) {
                    let reason = r.reason.as_deref().unwrap_or("");
                    let _ = writeln!(s, "    {}: {}", d.id, crate::model::printable(reason));
                }
            }
        }
        let _ = writeln!(
            s,
            "  quarantined  {:>5} pages in {} files{}",
            c.pages_quarantined,
            c.files_quarantined,
            if c.files_quarantined > 0 {
                format!(" -> {}/quarantine", self.out)
            } else {
                String::new()
            }
        );
        for q in &self.quarantined {
            let _ = writeln!(
                s,
                "    {}: {}",
                crate::model::printable(&q.file),
                crate::model::printable(&q.reason)
            );
        }
        if c.pages_flagged > 0 {
            let _ = writeln!(s, "  flagged      {:>5} pages to look at:", c.pages_flagged);
            let all = self.documents.iter().flat_map(|d| &d.flagged);
            for f in all.clone().take(SUMMARY_MAX_FLAGGED) {
                let flags: Vec<String> = f
                    .flags
                    .iter()
                    .map(|x| {
                        serde_json::to_value(x)
                            .ok()
                            .and_then(|v| v.as_str().map(String::from))
                            .unwrap_or_default()
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    "    {} page {}: {}",
                    crate::model::printable(&f.source_file),
                    f.frame + 1,
                    flags.join(", ")
                );
            }
            if c.pages_flagged > SUMMARY_MAX_FLAGGED {
                let _ = writeln!(
                    s,
                    "    ... and {} more (report.json lists them all)",
                    c.pages_flagged - SUMMARY_MAX_FLAGGED
                );
            }
        }
        if c.files_ignored > 0 {
            let _ = writeln!(
                s,
                "  ignored      {} metadata files ({})",
                c.files_ignored,
                crate::model::printable(&self.ignored.join(", "))
            );
        }
        let cpu = match self.cpu_seconds {
            Some(cpu) if c.pages_in > 0 => format!(", {:.2} CPU s/page", cpu / c.pages_in as f64),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "  time         {:.1} s, {:.1} pages/min with {} jobs{cpu}",
            self.elapsed_seconds,
            self.pages_per_minute(),
            self.jobs
        );
        let _ = writeln!(
            s,
            "  check        pages in = delivered + evidence + quarantined: {} = {} + {} + {}",
            c.pages_in, c.pages_delivered, c.pages_evidence, c.pages_quarantined
        );
        if let Some(d) = &self.delivery {
            let _ = writeln!(
                s,
                "  delivery     {:>5} of {} documents -> {}{}",
                d.delivered,
                d.documents,
                d.target,
                if d.delivered_earlier > 0 {
                    format!(" ({} by an earlier run)", d.delivered_earlier)
                } else {
                    String::new()
                }
            );
            if d.held > 0 {
                let _ = writeln!(
                    s,
                    "  by hand      {:>5} documents not sent to the target (confidential)",
                    d.held
                );
            }
            for (id, o) in &d.outcomes {
                if let crate::deliver::engine::Outcome::Rejected { reason } = o {
                    let _ = writeln!(
                        s,
                        "  REJECTED     {id}: {reason} -> {}/quarantine",
                        self.out
                    );
                }
            }
            if d.pending > 0 {
                let _ = writeln!(
                    s,
                    "  PENDING      {:>5} documents not delivered: {}",
                    d.pending,
                    d.stopped.as_deref().unwrap_or("stopped")
                );
                let pending: Vec<&str> = d
                    .outcomes
                    .iter()
                    .filter(|(_, o)| **o == crate::deliver::engine::Outcome::Pending)
                    .map(|(id, _)| id.as_str())
                    .collect();
                let more = match pending.len().saturating_sub(SUMMARY_MAX_FLAGGED) {
                    0 => String::new(),
                    n => format!(" ... and {n} more (report.json lists them all)"),
                };
                let _ = writeln!(
                    s,
                    "               {}{more}",
                    pending[..pending.len().min(SUMMARY_MAX_FLAGGED)].join(", ")
                );
                let _ = writeln!(
                    s,
                    "               run the same command again to deliver them (nothing is sent twice)"
                );
            }
        }
        let _ = write!(s, "  report       {}/report.json", self.out);
        s
    }
}

/// CPU time (user + system) of this process so far, from /proc (Linux).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports in clock ticks of 1/100 s (USER_HZ) on every mainstream platform.
    Some((utime + stime) / 100.0)
}

/// Shows a progress bar on stderr (hidden when stderr is not a terminal) and prints one
/// line per quarantined file.
pub struct TerminalObserver {
    bar: ProgressBar,
}

impl TerminalObserver {
    pub fn new() -> TerminalObserver {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} pages ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        TerminalObserver { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for TerminalObserver {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for TerminalObserver {
    fn pages_found(&self, pages: usize) {
        self.bar.set_length(pages as u64);
    }

    fn page_done(&self) {
        self.bar.inc(1);
    }

    fn quarantined(&self, q: &Quarantined) {
        self.say(format!(
            "mailroom: quarantined {}: {} (stage {})",
            crate::model::printable(&q.file),
            crate::model::printable(&q.reason),
            q.stage
        ));
    }

    fn delivery_started(&self, documents: usize) {
        self.bar.reset();
        self.bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} documents delivered (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.bar.set_length(documents as u64);
    }

    fn delivered(&self, document: &str, outcome: &crate::deliver::engine::Outcome) {
        self.bar.inc(1);
        if let crate::deliver::engine::Outcome::Rejected { reason } = outcome {
            self.say(format!(
                "mailroom: the target refused {document}: {} (copied to quarantine)",
                crate::model::printable(reason)
            ));
        }
    }
}

/// A progress bar for commands with phases (validate): one bar, restarted per phase.
pub struct PhaseBar {
    bar: ProgressBar,
}

impl PhaseBar {
    pub fn new() -> PhaseBar {
        PhaseBar {
            bar: ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for PhaseBar {
    fn default() -> Self {
        Self::new()
    }
}

impl crate::validate::run::Progress for PhaseBar {
    fn phase(&self, what: &str, total: u64) {
        self.bar.reset();
        let unit = if what == "hashing" {
            "{bytes}/{total_bytes} ({bytes_per_sec})"
        } else {
            "{pos}/{len}"
        };
        self.bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {what:<22} {{bar:40}} {unit} eta {{eta}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.bar.set_length(total);
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }
}

impl TerminalObserver {
    fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(flagged: usize) -> RunReport {
        let doc = DocumentSummary {
            id: "0001-a".into(),
            pdf: Some("documents/0001-a.pdf".into()),
            json: "documents/0001-a.json".into(),
            evidence_pdf: Some("evidence/0001-a-removed.pdf".into()),
            pages: 3,
            removed_pages: 1,
            separator_pages: 0,
            sources: vec!["a.tif".into()],
            started_by: crate::separation::SplitCause::NewFile,
            cover_sheet: None,
            flags: vec![],
            routing: None,
            mean_confidence: Some(90.0),
            flagged: (0..flagged)
                .map(|i| FlaggedPage {
                    source_file: "a.tif".into(),
                    frame: i,
                    flags: vec![crate::cleanup::Flag::UncertainSkew],
                    ink_coverage: 0.01,
                })
                .collect(),
        };
        RunReport {
            schema_version: REPORT_SCHEMA_VERSION,
            run_id: "r".into(),
            mailroom_version: "test".into(),
            profile: "default".into(),
            batch: "/b".into(),
            out: "/o".into(),
            started: "2026-11-28T22:00:00Z".into(),
            finished: "2026-11-28T22:01:00Z".into(),
            jobs: 2,
            elapsed_seconds: 60.0,
            cpu_seconds: Some(100.0),
            counts: Counts {
                files_in: 2,
                files_ignored: 0,
                files_quarantined: 1,
                pages_in: 5,
                pages_delivered: 3,
                pages_evidence: 1,
                pages_quarantined: 1,
                documents: 1,
                documents_evidence_only: 0,
                documents_flagged: 0,
                documents_unopened: 0,
                documents_clarification: 0,
                pages_separators: 0,
                pages_flagged: flagged,
            },
            documents: vec![doc],
            quarantined: vec![Quarantined {
                file: "bad.tif".into(),
                stage: crate::model::Stage::Ingest,
                reason: "file is empty (0 bytes)".into(),
                pages: 1,
                copy: Some("quarantine/bad.tif".into()),
                sha256: None,
            }],
            ignored: vec![],
            chain: vec![],
            delivery: None,
        }
    }

    #[test]
    fn consistent_report_passes_the_check() {
        assert_eq!(report(2).check_conservation(), Ok(()));
    }

    #[test]
    fn a_lost_page_or_file_fails_the_check() {
        let mut r = report(0);
        r.counts.pages_in = 6; // one page more came in than went out
        assert!(r.check_conservation().unwrap_err().contains("pages_in 6"));

        let mut r = report(0);
        r.quarantined.clear(); // a file vanished from the lists
        r.counts.files_quarantined = 0;
        r.counts.pages_quarantined = 0;
        r.counts.pages_in = 4;
        assert!(r.check_conservation().unwrap_err().contains("files_in 2"));

        let mut r = report(0);
        r.documents[0].removed_pages = 2; // evidence count disagrees with the documents
        assert!(r
            .check_conservation()
            .unwrap_err()
            .contains("pages_evidence 1"));
    }

    #[test]
    fn summary_names_documents_with_separation_flags() {
        let mut r = report(0);
        r.documents[0].flags = vec![crate::separation::DocumentFlag::PageCountMismatch {
            expected: 4,
            scanned: 3,
        }];
        r.counts.documents_flagged = 1;
        let s = r.summary();
        assert!(
            s.contains("0001-a: cover sheet says 4 pages, 3 scanned"),
            "{s}"
        );
    }

    #[test]
    fn summary_lists_a_bounded_number_of_flagged_pages() {
        let s = report(25).summary();
        assert!(s.contains("5 = 3 + 1 + 1"), "{s}");
        assert!(s.contains("bad.tif: file is empty"), "{s}");
        assert_eq!(s.matches("uncertain_skew").count(), SUMMARY_MAX_FLAGGED);
        assert!(s.contains("... and 5 more"), "{s}");
    }

    #[test]
    fn summary_names_the_pending_documents_and_why() {
        use crate::deliver::engine::{DeliverySummary, Outcome};
        let mut r = report(0);
        let mut outcomes = std::collections::BTreeMap::new();
        outcomes.insert(
            "0001-a".to_string(),
            Outcome::Delivered {
                object_id: "7".into(),
                time: "t".into(),
                found: false,
            },
        );
        for i in 2..=25 {
            outcomes.insert(format!("{i:04}-a"), Outcome::Pending);
        }
        r.delivery = Some(DeliverySummary {
            target: "enaio https://dms/".into(),
            documents: 25,
            delivered: 1,
            pending: 24,
            stopped: Some("enaio https://dms/ is not available: HTTP 503".into()),
            outcomes,
            ..DeliverySummary::default()
        });
        let s = r.summary();
        assert!(
            s.contains("PENDING         24 documents not delivered: enaio https://dms/ is not available: HTTP 503"),
            "{s}"
        );
        assert!(s.contains("0002-a, 0003-a"), "{s}");
        assert!(s.contains("0021-a ... and 4 more"), "{s}");
        assert!(!s.contains("0001-a,") && !s.contains("0022-a"), "{s}");
    }
}

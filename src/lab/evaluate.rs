//! Accuracy evaluation: scores a run's output against the batch's `truth.json`.
//!
//! For every page of the truth it finds the page in the output (via the documents' JSON,
//! delivered or removed as blank) and measures:
//! - text: character and word error rates of the text in the JSON and of the text that
//!   `pdftotext -raw` extracts from the PDF (an independent reader of our text layer),
//!   compared after collapsing all whitespace to single spaces;
//! - cleanup: residual skew |found - true| (degrees), whether the page came out upright,
//!   and blank detection (precision, recall, and pages with content judged blank: the
//!   one error that must never happen).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cleanup::{CleanupRecord, Flag};
use crate::lab::truth::Truth;
use crate::package::DocumentRecord;
use crate::report::RunReport;

#[derive(Debug, Clone, Serialize)]
pub struct PageScore {
    pub file: String,
    pub frame: u32,
    pub blank: bool,
    /// Characters in the (normalised) truth text.
    pub truth_chars: usize,
    /// Error rates of the JSON text (absent for truly blank pages). A page with content
    /// that was judged blank lost all its text: rates 1.0.
    pub cer: Option<f64>,
    pub wer: Option<f64>,
    /// The same from `pdftotext -raw` of the PDF page.
    pub cer_pdf: Option<f64>,
    pub wer_pdf: Option<f64>,
    /// Characters recognised on a blank page (should be 0).
    pub chars_on_blank: usize,
    /// False when the page is in no document's JSON (quarantined or lost).
    pub delivered: bool,
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
    pub text_pages: usize,
    pub blank_pages: usize,
    pub undelivered_pages: usize,
    pub cer: Option<Stats>,
    pub wer: Option<Stats>,
    pub cer_pdf: Option<Stats>,
    pub wer_pdf: Option<Stats>,
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

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub summary: Summary,
    pub pages: Vec<PageScore>,
}

/// What the output says about one page.
struct Found {
    text: Option<String>,
    pdf_text: Option<String>,
    cleanup: Option<CleanupRecord>,
}

type FoundMap = HashMap<(String, u32), Found>;

/// Evaluates the output folder of a run against the truth.
pub fn evaluate(out_dir: &Path, truth: &Truth) -> Result<Evaluation> {
    let report_path = out_dir.join(crate::pipeline::REPORT_FILE);
    let report: RunReport = serde_json::from_slice(
        &std::fs::read(&report_path)
            .with_context(|| format!("cannot read {}", report_path.display()))?,
    )
    .with_context(|| format!("{} is not a mailroom report", report_path.display()))?;

    let mut found: FoundMap = HashMap::new();
    for doc in &report.documents {
        let record: DocumentRecord = serde_json::from_slice(
            &std::fs::read(out_dir.join(&doc.json))
                .with_context(|| format!("cannot read {}", doc.json))?,
        )
        .with_context(|| format!("{} is not a document record", doc.json))?;
        let pdf_pages = match &doc.pdf {
            Some(pdf) => pdftotext_pages(&out_dir.join(pdf))?,
            None => Vec::new(),
        };
        if pdf_pages.len() < record.pages.len() {
            bail!(
                "{}: pdftotext found {} pages, the JSON lists {}",
                doc.json,
                pdf_pages.len(),
                record.pages.len()
            );
        }
        for (page, pdf_text) in record.pages.iter().zip(pdf_pages) {
            found.insert(
                (page.source_file.clone(), page.frame as u32),
                Found {
                    text: page.ocr.as_ref().map(|o| o.text.clone()),
                    pdf_text: Some(pdf_text),
                    cleanup: Some(page.cleanup.clone()),
                },
            );
        }
        for removed in &record.removed_pages {
            let page = &removed.page;
            found.insert(
                (page.source_file.clone(), page.frame as u32),
                Found {
                    text: None,
                    pdf_text: None,
                    cleanup: Some(page.cleanup.clone()),
                },
            );
        }
    }
    Ok(score(&found, truth))
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
                    pdf_text: None,
                    cleanup: None,
                },
            );
        }
    }
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
            blank: t.blank,
            truth_chars: truth_text.chars().count(),
            cer: None,
            wer: None,
            cer_pdf: None,
            wer_pdf: None,
            chars_on_blank: 0,
            delivered: got.is_some(),
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
                // A page with content judged blank lost all of its text.
                let text = normalise(g.text.as_deref().unwrap_or(""));
                score.cer = Some(error_rate(&chars(&truth_text), &chars(&text)));
                score.wer = Some(error_rate(&words(&truth_text), &words(&text)));
                if let Some(pdf_text) = &g.pdf_text {
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
                    score.upright = Some((t.rotation + rotation_applied) % 360 == 0);
                }
            }
        }
        pages.push(score);
    }
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
        text_pages: pages.iter().filter(|p| !p.blank).count(),
        blank_pages: pages.iter().filter(|p| p.blank).count(),
        undelivered_pages: pages.iter().filter(|p| !p.delivered).count(),
        cer: collect(|p| p.cer),
        wer: collect(|p| p.wer),
        cer_pdf: collect(|p| p.cer_pdf),
        wer_pdf: collect(|p| p.wer_pdf),
        skew_error: collect(|p| p.skew_error.filter(|_| p.skew_true.abs() <= 5.0)),
        skew_uncertain_pages: pages.iter().filter(|p| p.skew_uncertain).count(),
        rotation,
        blank,
    };
    Evaluation { summary, pages }
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
                (true, false, false) => "text",
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
            "\n{} pages: {} with text, {} blank, {} not delivered\n",
            m.pages, m.text_pages, m.blank_pages, m.undelivered_pages
        ));
        s.push_str(&line("CER", &m.cer));
        s.push_str(&line("WER", &m.wer));
        s.push_str(&line("CER pdf", &m.cer_pdf));
        s.push_str(&line("WER pdf", &m.wer_pdf));
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
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn tesseract_tsv_pages_map_to_frames() {
        use crate::lab::truth::{PageKind, TruthPage, TRUTH_SCHEMA_VERSION};
        let dir = tempfile::tempdir().unwrap();
        let head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n";
        let rows =
            "5\t1\t1\t1\t1\t1\t0\t0\t9\t9\t90\tErste\n5\t2\t1\t1\t1\t1\t0\t0\t9\t9\t90\tZweite\n";
        std::fs::write(dir.path().join("a.tif.tsv"), format!("{head}{rows}")).unwrap();
        let page = |frame: u32, text: &str| TruthPage {
            file: "a.tif".into(),
            frame,
            kind: PageKind::Letter,
            text: text.into(),
            skew_deg: 0.0,
            rotation: 0,
            blank: false,
            dpi: 300,
            black_edges: false,
            punch_holes: false,
            barcodes: Vec::new(),
            patch: None,
        };
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
    }

    #[test]
    fn stats_of_values() {
        let s = stats(vec![0.3, 0.1, 0.2, 0.4]).unwrap();
        assert!((s.mean - 0.25).abs() < 1e-12);
        assert!((s.median - 0.25).abs() < 1e-12);
        assert_eq!(s.worst, 0.4);
    }
}

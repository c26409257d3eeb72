//! Accuracy evaluation: scores a run's output against the batch's `truth.json`.
//!
//! For every page of the truth it finds the page in the output (via the documents' JSON),
//! and computes the character and word error rates of the text in the JSON and of the text
//! that `pdftotext -raw` extracts from the PDF (an independent reader of our text layer).
//! Texts are compared after collapsing all whitespace to single spaces.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Serialize;

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
    /// Error rates of the JSON text; for blank pages, the number of characters output
    /// counts as errors and the rates are absent.
    pub cer: Option<f64>,
    pub wer: Option<f64>,
    /// The same from `pdftotext -raw` of the PDF page.
    pub cer_pdf: Option<f64>,
    pub wer_pdf: Option<f64>,
    /// Characters recognised on a blank page (should be 0).
    pub chars_on_blank: usize,
    /// False when the page is not in any delivered document (quarantined or lost).
    pub delivered: bool,
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub summary: Summary,
    pub pages: Vec<PageScore>,
}

/// Evaluates the output folder of a run against the truth.
pub fn evaluate(out_dir: &Path, truth: &Truth) -> Result<Evaluation> {
    let report_path = out_dir.join(crate::pipeline::REPORT_FILE);
    let report: RunReport = serde_json::from_slice(
        &std::fs::read(&report_path)
            .with_context(|| format!("cannot read {}", report_path.display()))?,
    )
    .with_context(|| format!("{} is not a mailroom report", report_path.display()))?;

    let mut found: Found = HashMap::new();
    for doc in &report.documents {
        let record: DocumentRecord = serde_json::from_slice(
            &std::fs::read(out_dir.join(&doc.json))
                .with_context(|| format!("cannot read {}", doc.json))?,
        )
        .with_context(|| format!("{} is not a document record", doc.json))?;
        let pdf_pages = pdftotext_pages(&out_dir.join(&doc.pdf))?;
        if pdf_pages.len() < record.pages.len() {
            bail!(
                "{}: pdftotext found {} pages, the JSON lists {}",
                doc.pdf,
                pdf_pages.len(),
                record.pages.len()
            );
        }
        for (page, pdf_text) in record.pages.iter().zip(pdf_pages) {
            found.insert(
                (page.source_file.clone(), page.frame as u32),
                (page.ocr.text.clone(), Some(pdf_text)),
            );
        }
    }
    Ok(score(&found, truth))
}

/// Recognised text per page: (batch file, frame) -> (text, text from the PDF if any).
type Found = HashMap<(String, u32), (String, Option<String>)>;

/// Evaluates plain `tesseract <file> <base> tsv` output (one `<file name>.tsv` per batch
/// file in `dir`, multi-page files with one page number per frame) against the truth:
/// the same scoring for the floor of the benchmark.
pub fn evaluate_tesseract_tsv(dir: &Path, truth: &Truth) -> Result<Evaluation> {
    let mut found: Found = HashMap::new();
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
            found.insert((file.to_string(), page.saturating_sub(1)), (text, None));
        }
    }
    Ok(score(&found, truth))
}

fn score(found: &Found, truth: &Truth) -> Evaluation {
    let mut pages = Vec::new();
    for t in &truth.pages {
        let truth_text = normalise(&t.text);
        let got = found.get(&(t.file.clone(), t.frame));
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
        };
        if let Some((json_text, pdf_text)) = got {
            let json_text = normalise(json_text);
            if t.blank {
                score.chars_on_blank = json_text.chars().count();
            } else {
                score.cer = Some(error_rate(&chars(&truth_text), &chars(&json_text)));
                score.wer = Some(error_rate(&words(&truth_text), &words(&json_text)));
                if let Some(pdf_text) = pdf_text {
                    let pdf_text = normalise(pdf_text);
                    score.cer_pdf = Some(error_rate(&chars(&truth_text), &chars(&pdf_text)));
                    score.wer_pdf = Some(error_rate(&words(&truth_text), &words(&pdf_text)));
                }
            }
        }
        pages.push(score);
    }
    let collect = |f: fn(&PageScore) -> Option<f64>| stats(pages.iter().filter_map(f).collect());
    let summary = Summary {
        pages: pages.len(),
        text_pages: pages.iter().filter(|p| !p.blank).count(),
        blank_pages: pages.iter().filter(|p| p.blank).count(),
        undelivered_pages: pages.iter().filter(|p| !p.delivered).count(),
        cer: collect(|p| p.cer),
        wer: collect(|p| p.wer),
        cer_pdf: collect(|p| p.cer_pdf),
        wer_pdf: collect(|p| p.wer_pdf),
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
            "page                              frame  kind    CER%  WER%  CERpdf%  WERpdf%\n",
        );
        for p in &self.pages {
            let kind = if !p.delivered {
                "MISSING"
            } else if p.blank {
                "blank"
            } else {
                "text"
            };
            s.push_str(&format!(
                "{:<34} {:>5}  {:<7} {}  {}  {}    {}{}\n",
                p.file,
                p.frame,
                kind,
                pct(p.cer),
                pct(p.wer),
                pct(p.cer_pdf),
                pct(p.wer_pdf),
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

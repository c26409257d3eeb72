//! The transfer note (Transfervermerk, BSI TR-03138 "RESISCAN"): who scanned a document,
//! when, where, with which device and profile, which checks were done with which result,
//! and the SHA-256 of every source file and page. It travels with the scan product:
//! as an XML file embedded in the PDF (PDF/A-3) and as the `transfer_note` of the JSON.
//!
//! The embedded copy cannot name the hash of the PDF it sits in; the JSON copy does
//! (`output_pdf_sha256`), and the run report's hash chain covers the JSON.

use serde::{Deserialize, Serialize};

use super::pdf::xml_escape;
use super::{PageRecord, RemovedPage, SourceRecord};
use crate::separation::{DocumentFlag, SeparationRecord};

/// The name of the embedded file.
pub const ATTACHMENT_NAME: &str = "transfervermerk.xml";

/// Facts about the capture that are the same for every document of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Capture {
    /// Who scanned (`--operator`, `MAILROOM_OPERATOR`, or the login name).
    pub operator: String,
    /// Where (`--station`, `MAILROOM_STATION`, or the host name).
    pub station: String,
    /// With which device (`--scanner`, `MAILROOM_SCANNER`), "not stated" if not given.
    pub scanner: String,
    /// When the run began, RFC 3339.
    pub time: String,
    pub software: String,
    pub profile: String,
    /// SHA-256 of the profile text the run used.
    pub profile_sha256: String,
    pub run_id: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Passed,
    /// Not an error, but a person should look.
    Attention,
    Failed,
    NotChecked,
}

impl CheckResult {
    fn as_str(self) -> &'static str {
        match self {
            CheckResult::Passed => "passed",
            CheckResult::Attention => "attention",
            CheckResult::Failed => "failed",
            CheckResult::NotChecked => "not_checked",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub result: CheckResult,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NotePage {
    pub number: usize,
    pub source_file: String,
    pub frame: usize,
    /// SHA-256 of the source file as read.
    pub source_sha256: String,
    /// SHA-256 of the decoded page pixels.
    pub page_sha256: String,
    /// For removed pages: why (blank, separator).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub removed: Option<String>,
}

/// The transfer note of one document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TransferNote {
    pub document_id: String,
    pub mailroom_id: String,
    pub capture: Capture,
    pub checks: Vec<Check>,
    /// The document's pages, then the removed pages (kept as evidence).
    pub pages: Vec<NotePage>,
    /// SHA-256 of the output PDF (absent in the copy embedded in that PDF).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_pdf_sha256: Option<String>,
}

/// What a note is built from.
pub struct NoteInput<'a> {
    pub document_id: &'a str,
    pub mailroom_id: &'a str,
    pub capture: &'a Capture,
    pub separation: &'a SeparationRecord,
    pub sources: &'a [SourceRecord],
    pub pages: &'a [PageRecord],
    pub removed: &'a [RemovedPage],
    /// Confidential mail: not read, so legibility is not checked.
    pub unopened: bool,
    pub min_confidence: f32,
}

impl TransferNote {
    pub fn build(input: &NoteInput) -> TransferNote {
        let source_hash = |file: &str| {
            input
                .sources
                .iter()
                .find(|s| s.file == file)
                .map(|s| s.sha256.clone())
                .unwrap_or_default()
        };
        let mut pages: Vec<NotePage> = input
            .pages
            .iter()
            .map(|p| NotePage {
                number: p.number,
                source_file: p.source_file.clone(),
                frame: p.frame,
                source_sha256: source_hash(&p.source_file),
                page_sha256: p.sha256.clone(),
                removed: None,
            })
            .collect();
        pages.extend(input.removed.iter().map(|r| {
            NotePage {
                number: r.page.number,
                source_file: r.page.source_file.clone(),
                frame: r.page.frame,
                source_sha256: source_hash(&r.page.source_file),
                page_sha256: r.page.sha256.clone(),
                removed: Some(
                    serde_json::to_value(r.reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                ),
            }
        }));
        TransferNote {
            document_id: input.document_id.to_string(),
            mailroom_id: input.mailroom_id.to_string(),
            capture: input.capture.clone(),
            checks: checks(input),
            pages,
            output_pdf_sha256: None,
        }
    }

    /// The note as XML, for embedding in the PDF.
    pub fn to_xml(&self) -> String {
        let e = xml_escape;
        let c = &self.capture;
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str("<!-- Transfervermerk (BSI TR-03138 RESISCAN) written by mailroom -->\n");
        x.push_str("<transfer-note xmlns=\"urn:mailroom:transfer-note:1\">\n");
        x.push_str(&format!(
            "  <document id=\"{}\" mailroom-id=\"{}\"/>\n",
            e(&self.document_id),
            e(&self.mailroom_id)
        ));
        x.push_str(&format!(
            "  <capture operator=\"{}\" station=\"{}\" scanner=\"{}\" time=\"{}\" software=\"{}\" profile=\"{}\" profile-sha256=\"{}\" run-id=\"{}\"/>\n",
            e(&c.operator), e(&c.station), e(&c.scanner), e(&c.time), e(&c.software),
            e(&c.profile), e(&c.profile_sha256), e(&c.run_id)
        ));
        x.push_str("  <checks>\n");
        for k in &self.checks {
            x.push_str(&format!(
                "    <check name=\"{}\" result=\"{}\">{}</check>\n",
                e(&k.name),
                k.result.as_str(),
                e(&k.detail)
            ));
        }
        x.push_str("  </checks>\n  <pages>\n");
        for p in &self.pages {
            let removed = p
                .removed
                .as_ref()
                .map(|r| format!(" removed=\"{}\"", e(r)))
                .unwrap_or_default();
            x.push_str(&format!(
                "    <page number=\"{}\" source=\"{}\" frame=\"{}\" source-sha256=\"{}\" page-sha256=\"{}\"{removed}/>\n",
                p.number, e(&p.source_file), p.frame, p.source_sha256, p.page_sha256
            ));
        }
        x.push_str("  </pages>\n</transfer-note>\n");
        x
    }
}

fn checks(input: &NoteInput) -> Vec<Check> {
    let check = |name: &str, result, detail: String| Check {
        name: name.into(),
        result,
        detail,
    };
    let sep = input.separation;
    let mut out = Vec::new();

    // Completeness (Vollzaehligkeit): the cover sheet's page count against the scan.
    let mismatch = sep.flags.iter().find_map(|f| match f {
        DocumentFlag::PageCountMismatch { expected, scanned } => Some((*expected, *scanned)),
        _ => None,
    });
    let announced = sep.cover_sheet.as_ref().and_then(|c| c.pages);
    out.push(match (mismatch, announced) {
        (Some((expected, scanned)), _) => check(
            "page_count",
            CheckResult::Failed,
            format!("cover sheet announces {expected} pages, {scanned} scanned"),
        ),
        (None, Some(n)) => check(
            "page_count",
            CheckResult::Passed,
            format!("cover sheet announces {n} pages, {n} scanned"),
        ),
        (None, None) => check(
            "page_count",
            CheckResult::NotChecked,
            "no cover sheet with a page count".into(),
        ),
    });

    let count = |reason: &str| {
        input
            .removed
            .iter()
            .filter(|r| {
                serde_json::to_value(r.reason)
                    .ok()
                    .is_some_and(|v| v == reason)
            })
            .count()
    };
    out.push(check(
        "pages_accounted",
        CheckResult::Passed,
        format!(
            "{} pages in the PDF; {} blank and {} separator pages removed and kept as evidence",
            input.pages.len(),
            count("blank"),
            count("separator")
        ),
    ));

    let flagged: Vec<String> = input
        .pages
        .iter()
        .filter(|p| !p.cleanup.flags.is_empty())
        .map(|p| {
            let flags: Vec<String> = p
                .cleanup
                .flags
                .iter()
                .filter_map(|f| serde_json::to_value(f).ok())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            format!("page {}: {}", p.number, flags.join(", "))
        })
        .collect();
    out.push(if flagged.is_empty() {
        check(
            "image_quality",
            CheckResult::Passed,
            "no page flagged by cleanup".into(),
        )
    } else {
        check("image_quality", CheckResult::Attention, flagged.join("; "))
    });

    out.push(if input.unopened {
        check(
            "legibility",
            CheckResult::NotChecked,
            "confidential mail: the text is not kept".into(),
        )
    } else {
        let confs: Vec<f32> = input
            .pages
            .iter()
            .filter_map(|p| p.ocr.as_ref().and_then(|o| o.mean_confidence))
            .collect();
        if confs.is_empty() {
            check(
                "legibility",
                CheckResult::NotChecked,
                "no text recognised".into(),
            )
        } else {
            let mean = confs.iter().sum::<f32>() / confs.len() as f32;
            let low = confs.iter().filter(|c| **c < input.min_confidence).count();
            check(
                "legibility",
                if low == 0 {
                    CheckResult::Passed
                } else {
                    CheckResult::Attention
                },
                format!(
                    "mean OCR confidence {mean:.1}; {low} of {} pages below {}",
                    confs.len(),
                    input.min_confidence
                ),
            )
        }
    });

    let others: Vec<String> = sep
        .flags
        .iter()
        .filter(|f| !matches!(f, DocumentFlag::PageCountMismatch { .. }))
        .map(|f| match f {
            DocumentFlag::TooManyPages { pages, max } => {
                format!("{pages} pages, more than {max}: a separator may have been missed")
            }
            DocumentFlag::CoverSheetUnreadable { reason } => {
                format!("cover sheet unreadable: {reason}")
            }
            DocumentFlag::TwoCoverSheets => "two cover sheets".into(),
            DocumentFlag::PageCountMismatch { .. } => unreachable!("filtered"),
        })
        .collect();
    out.push(if others.is_empty() {
        check(
            "separation",
            CheckResult::Passed,
            "no separation flag".into(),
        )
    } else {
        check("separation", CheckResult::Attention, others.join("; "))
    });

    out.push(check(
        "integrity",
        CheckResult::Passed,
        format!(
            "SHA-256 of {} source files and {} pages recorded at capture",
            input.sources.len(),
            input.pages.len() + input.removed.len()
        ),
    ));
    out
}

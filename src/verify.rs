//! `mailroom verify <OUT>`: proves that an output folder is as the run left it, or names
//! what changed. Checks, in order:
//! 0. `report.json` hashes to what the journal recorded when the run last wrote it;
//! 1. the report's hash chain is consistent link by link, and its head equals the head
//!    the journal recorded when packaging finished (so the chain in `report.json` was not
//!    rewritten);
//! 2. every document's JSON record hashes to its link;
//! 3. every PDF and evidence PDF hashes to what its record says (size too), and the
//!    transfer note names the same PDF hash;
//! 4. every copy delivered to a folder target is the same PDF, and every quarantined
//!    input's copy hashes to what the report recorded.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::chain;
use crate::deliver::journal::{self, Entry};
use crate::fsutil::sha256_file;
use crate::package::DocumentRecord;
use crate::pipeline::{DOCUMENTS_DIR, REPORT_FILE};
use crate::report::RunReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The file's bytes differ from the recorded hash.
    Changed,
    Missing,
    /// The hash chain does not hold together.
    Chain,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Path relative to the output folder (or the report for chain findings).
    pub file: String,
    pub problem: Problem,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub out: String,
    pub run_id: String,
    pub documents: usize,
    pub files_checked: usize,
    pub chain_head: String,
    pub findings: Vec<Finding>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "mailroom verify {}: run {}, {} documents, {} files checked\n",
            self.out, self.run_id, self.documents, self.files_checked
        );
        if self.findings.is_empty() {
            s.push_str(&format!(
                "  intact: every file matches its hash; chain head {}\n",
                self.chain_head
            ));
        } else {
            s.push_str(&format!("  ALTERED: {} findings\n", self.findings.len()));
            for f in &self.findings {
                let what = match f.problem {
                    Problem::Changed => "changed",
                    Problem::Missing => "missing",
                    Problem::Chain => "chain",
                };
                s.push_str(&format!("  {what:<8} {}: {}\n", f.file, f.detail));
            }
        }
        s.pop();
        s
    }
}

pub fn verify(out: &Path) -> Result<Verification> {
    let report_path = out.join(REPORT_FILE);
    let bytes = std::fs::read(&report_path)
        .with_context(|| format!("cannot read {}", report_path.display()))?;
    let entries = journal::Journal::read(out)?.unwrap_or_default();
    let report_sha256 = crate::fsutil::sha256_hex(&bytes);
    let report: RunReport = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        // a report the run wrote parsed; one that does not was changed since
        Err(e) if journal::run_id(&entries).is_some() => {
            return Ok(Verification {
                out: out.display().to_string(),
                run_id: journal::run_id(&entries).unwrap_or_default().to_string(),
                documents: 0,
                files_checked: 1,
                chain_head: String::new(),
                findings: vec![Finding {
                    file: REPORT_FILE.into(),
                    problem: Problem::Changed,
                    detail: format!(
                    "no longer a readable run report ({e}); nothing else can be checked without it"
                ),
                }],
            })
        }
        Err(e) => {
            return Err(anyhow::Error::from(e).context(format!(
                "{} is not a mailroom run report",
                report_path.display()
            )))
        }
    };
    let mut v = Verification {
        out: out.display().to_string(),
        run_id: report.run_id.clone(),
        documents: report.documents.len(),
        files_checked: 0,
        chain_head: chain::head(&report.run_id, &report.chain),
        findings: Vec::new(),
    };
    let mut find = |file: &str, problem, detail: String| {
        v.findings.push(Finding {
            file: file.to_string(),
            problem,
            detail,
        })
    };

    // 1. The chain holds together and is the one the journal recorded.
    let mut previous = chain::start(&report.run_id);
    for (i, l) in report.chain.iter().enumerate() {
        let want = chain::link(&previous, &l.document, &l.record_sha256);
        if l.previous != previous || l.hash != want {
            find(
                REPORT_FILE,
                Problem::Chain,
                format!(
                    "link {} ({}) does not follow from the links before it",
                    i + 1,
                    l.document
                ),
            );
            break;
        }
        previous = l.hash.clone();
    }
    // 0. The report is the one the run last wrote.
    let reported = entries.iter().rev().find_map(|e| match e {
        Entry::Reported { report_sha256, .. } => Some(report_sha256.clone()),
        _ => None,
    });
    v.files_checked += 1;
    match reported {
        Some(h) if h == report_sha256 => {}
        Some(h) => find(
            REPORT_FILE,
            Problem::Changed,
            format!("sha256 {report_sha256}, the run wrote {h}"),
        ),
        None => find(
            journal::JOURNAL_FILE,
            Problem::Missing,
            "no record of the report's hash: the report cannot be checked".into(),
        ),
    }
    let journal_head = entries.iter().rev().find_map(|e| match e {
        Entry::Packaged { chain_head, .. } => Some(chain_head.clone()),
        _ => None,
    });
    match journal_head {
        Some(h) if h == v.chain_head => {}
        Some(h) => find(
            REPORT_FILE,
            Problem::Chain,
            format!(
                "chain head {} differs from the head {h} the journal recorded at packaging",
                v.chain_head
            ),
        ),
        None => find(
            journal::JOURNAL_FILE,
            Problem::Missing,
            "no packaging entry with the chain head: the chain cannot be anchored".into(),
        ),
    }
    let chained: Vec<&str> = report.chain.iter().map(|l| l.document.as_str()).collect();
    let listed: Vec<&str> = report.documents.iter().map(|d| d.id.as_str()).collect();
    if chained != listed {
        find(
            REPORT_FILE,
            Problem::Chain,
            "the chain and the report's document list name different documents".into(),
        );
    }

    // 2.-4. Every record and file.
    let mut delivered_copies = Vec::new();
    for (doc, state) in journal::states(&entries) {
        if let journal::DocState::Delivered(r) = state {
            if let Some(root) = r.target.strip_prefix("folder ") {
                delivered_copies.push((doc, Path::new(root).join(&r.object_id)));
            }
        }
    }
    for q in &report.quarantined {
        if let Some(copy) = &q.copy {
            v.files_checked += 1;
            match (sha256_file(&out.join(copy)), &q.sha256) {
                (Ok(h), Some(want)) if &h == want => {}
                (Ok(h), Some(want)) => find(
                    copy,
                    Problem::Changed,
                    format!("sha256 {h}, recorded {want}"),
                ),
                (Ok(_), None) => {}
                (Err(_), _) => find(copy, Problem::Missing, "quarantined copy not found".into()),
            }
        }
        let note_rel = q.reason_file();
        v.files_checked += 1;
        let want = crate::pipeline::reason_note(&q.file, q.stage, &q.reason, q.pages);
        match std::fs::read(out.join(&note_rel)) {
            Ok(b) if b == want.as_bytes() => {}
            Ok(_) => find(
                &note_rel,
                Problem::Changed,
                "differs from the quarantine entry in the report".into(),
            ),
            Err(_) => find(&note_rel, Problem::Missing, "reason file not found".into()),
        }
    }
    for (doc, link) in report.documents.iter().zip(&report.chain) {
        let json_rel = doc.json.clone();
        let json_path = out.join(&json_rel);
        v.files_checked += 1;
        let record_hash = match sha256_file(&json_path) {
            Ok(h) => h,
            Err(_) => {
                find(
                    &json_rel,
                    Problem::Missing,
                    "document record not found".into(),
                );
                continue;
            }
        };
        if record_hash != link.record_sha256 {
            find(
                &json_rel,
                Problem::Changed,
                format!("record hash {record_hash}, chained {}", link.record_sha256),
            );
        }
        let record: DocumentRecord = match std::fs::read(&json_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(r) => r,
            None => {
                find(
                    &json_rel,
                    Problem::Changed,
                    "not a readable document record".into(),
                );
                continue;
            }
        };
        for file in record.pdf.iter().chain(record.evidence_pdf.iter()) {
            let rel = Path::new(DOCUMENTS_DIR).join(&file.file);
            let rel = normalise(&rel);
            v.files_checked += 1;
            match (
                sha256_file(&out.join(&rel)),
                std::fs::metadata(out.join(&rel)),
            ) {
                (Ok(h), Ok(m)) if h == file.sha256 && m.len() == file.bytes => {}
                (Ok(h), Ok(m)) => find(
                    &rel,
                    Problem::Changed,
                    format!(
                        "sha256 {h} ({} bytes), recorded {} ({} bytes)",
                        m.len(),
                        file.sha256,
                        file.bytes
                    ),
                ),
                _ => find(&rel, Problem::Missing, "file not found".into()),
            }
        }
        if let (Some(pdf), Some(noted)) = (&record.pdf, &record.transfer_note.output_pdf_sha256) {
            if &pdf.sha256 != noted {
                find(
                    &json_rel,
                    Problem::Changed,
                    "the transfer note names another PDF hash than the record".into(),
                );
            }
        }
        for (_, copy) in delivered_copies.iter().filter(|(d, _)| *d == doc.id) {
            v.files_checked += 1;
            let want = record.pdf.as_ref().map(|p| p.sha256.as_str());
            match sha256_file(copy) {
                Ok(h) if Some(h.as_str()) == want => {}
                Ok(h) => find(
                    &copy.display().to_string(),
                    Problem::Changed,
                    format!(
                        "delivered copy has sha256 {h}, the document {}",
                        want.unwrap_or("-")
                    ),
                ),
                Err(_) => find(
                    &copy.display().to_string(),
                    Problem::Missing,
                    "delivered copy not found".into(),
                ),
            }
        }
    }
    Ok(v)
}

/// `documents/../evidence/x.pdf` -> `evidence/x.pdf`.
fn normalise(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

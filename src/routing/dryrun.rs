//! `mailroom route --dry-run`: routes the documents of a finished run again with a rule
//! set, from the OCR text in their JSON (no OCR, nothing delivered), and compares two rule
//! sets.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::rules::RuleSet;
use super::zones::PageView;
use super::{route, Evidence, RoutingInput, RoutingRecord, RunnerUp, Target};
use crate::package::DocumentRecord;
use crate::pipeline::REPORT_FILE;

/// One document's decision in a dry run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DryRunDocument {
    pub id: String,
    pub target: Target,
    pub rule: Option<String>,
    pub confidence: f32,
    pub reason: Option<String>,
    pub evidence: Vec<Evidence>,
    pub runner_up: Option<RunnerUp>,
    /// With `--compare`: the decision of the second rule set, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared: Option<Box<DryRunDocument>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DryRun {
    pub output: String,
    pub profile: String,
    pub compare_profile: Option<String>,
    pub documents: Vec<DryRunDocument>,
    /// Documents per target (unit code, "clarification", "unopened").
    pub per_target: BTreeMap<String, usize>,
    /// With `--compare`: how many documents change their target.
    pub changed: Option<usize>,
}

/// The documents of an output folder with text, in report order.
pub fn load_documents(out: &Path) -> Result<Vec<DocumentRecord>> {
    let report_path = out.join(REPORT_FILE);
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&report_path)
            .with_context(|| format!("cannot read {}", report_path.display()))?,
    )
    .with_context(|| format!("{} is not a run report", report_path.display()))?;
    let mut docs = Vec::new();
    for d in report["documents"].as_array().into_iter().flatten() {
        let Some(json) = d["json"].as_str() else {
            continue;
        };
        let path = out.join(json);
        let record: DocumentRecord = serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("{} is not a document record", path.display()))?;
        docs.push(record);
    }
    Ok(docs)
}

/// Routes a recorded document again. Confidential documents whose text was not kept stay
/// unopened: their decision cannot be remade without the text, and must not be.
pub fn reroute(set: &RuleSet, doc: &DocumentRecord) -> Option<RoutingRecord> {
    if doc.pages.is_empty() {
        return None;
    }
    if let Some(stored) = &doc.routing {
        if stored.target == Target::Unopened {
            return Some(stored.clone());
        }
    }
    let pages: Vec<PageView> = doc
        .pages
        .iter()
        .filter_map(|p| {
            p.ocr.as_ref().map(|o| PageView {
                text: &o.lines,
                dpi: (p.dpi.x, p.dpi.y),
                size_px: (p.width_px, p.height_px),
            })
        })
        .collect();
    let barcodes = doc
        .pages
        .iter()
        .chain(doc.removed_pages.iter().map(|r| &r.page))
        .flat_map(|p| &p.barcodes)
        .collect();
    let input = RoutingInput {
        pages,
        barcodes,
        cover: doc.separation.cover_sheet.as_ref(),
    };
    Some(route(set, &input))
}

fn item(id: &str, r: RoutingRecord) -> DryRunDocument {
    DryRunDocument {
        id: id.to_string(),
        target: r.target,
        rule: r.rule,
        confidence: r.confidence,
        reason: r.reason,
        evidence: r.evidence,
        runner_up: r.runner_up,
        compared: None,
    }
}

/// Routes every document of `out` with `set` (and `compare`, if given).
pub fn dry_run(
    out: &Path,
    set: (&str, &RuleSet),
    compare: Option<(&str, &RuleSet)>,
) -> Result<DryRun> {
    let docs = load_documents(out)?;
    let mut run = DryRun {
        output: out.display().to_string(),
        profile: set.0.to_string(),
        compare_profile: compare.map(|c| c.0.to_string()),
        documents: Vec::new(),
        per_target: BTreeMap::new(),
        changed: compare.map(|_| 0),
    };
    for doc in &docs {
        let Some(r) = reroute(set.1, doc) else {
            continue;
        };
        let mut d = item(&doc.id, r);
        *run.per_target.entry(d.target.label()).or_default() += 1;
        if let Some((_, other)) = compare {
            if let Some(o) = reroute(other, doc) {
                if o.target != d.target {
                    d.compared = Some(Box::new(item(&doc.id, o)));
                    *run.changed.as_mut().expect("set with compare") += 1;
                }
            }
        }
        run.documents.push(d);
    }
    Ok(run)
}

fn describe(d: &DryRunDocument) -> String {
    let why = match (&d.target, d.evidence.first()) {
        (Target::Unit { .. }, Some(e)) => format!(
            "{} {:?} in {}{}",
            serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            e.matched,
            e.zone,
            e.page.map(|p| format!(" p{p}")).unwrap_or_default()
        ),
        _ => d.reason.clone().unwrap_or_default(),
    };
    format!(
        "{:<14} {:<28} {:>4.2}  {why}",
        d.target.label(),
        d.rule.as_deref().unwrap_or("-"),
        d.confidence
    )
}

impl DryRun {
    /// The table an admin reads.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "route --dry-run {} with profile {}: {} documents (nothing delivered, no OCR)",
            self.output,
            self.profile,
            self.documents.len()
        );
        let _ = writeln!(
            s,
            "{:<24} {:<14} {:<28} {:>4}  evidence",
            "document", "target", "rule", "conf"
        );
        for d in &self.documents {
            let _ = writeln!(s, "{:<24} {}", d.id, describe(d));
        }
        let per: Vec<String> = self
            .per_target
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let _ = writeln!(s, "per target: {}", per.join(", "));
        if let (Some(changed), Some(other)) = (self.changed, &self.compare_profile) {
            let _ = writeln!(
                s,
                "compared with {other}: {changed} documents change their target"
            );
            for d in &self.documents {
                if let Some(c) = &d.compared {
                    let _ = writeln!(
                        s,
                        "  {:<22} {} ({}) -> {} ({})",
                        d.id,
                        d.target.label(),
                        d.rule.as_deref().unwrap_or("-"),
                        c.target.label(),
                        c.rule.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        s
    }
}

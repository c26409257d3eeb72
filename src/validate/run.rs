//! One `mailroom validate`: the phases in order, and the decision.
//!
//! ```text
//! bag (structure, Payload-Oxum, every hash; 100 %) ─► page counts and resolution (100 %)
//!   ─► inventory against the payload (100 %) ─► ISO 2859-1 sample of pages: skew,
//!   orientation, blank, borders, OCR legibility ─► accept / reject with every finding
//! ```
//! A finding of a 100 % check rejects the lot by itself (a missing, altered or unordered
//! file, a page count that differs, a page below the resolution the contract asks for):
//! those are facts about the whole lot, not estimates. Findings on sampled pages are
//! counted: the lot is rejected when the nonconforming pages in the sample reach the
//! plan's rejection number.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use rayon::prelude::*;

use super::sampling::{self, InspectionLevel};
use super::{
    bagit, inventory, quality, Decision, Finding, FindingKind, HashSummary, LotSummary, PageRef,
    SamplingSummary, ValidationReport,
};
use crate::clock::Utc;
use crate::config::Profile;
use crate::ingest::{self, Candidate, Limits};
use crate::ocr::EnginePool;

/// Version of the validation report layout.
pub const VALIDATION_SCHEMA_VERSION: u32 = 1;

pub struct ValidateOptions {
    /// The delivery: a BagIt bag.
    pub delivery: PathBuf,
    pub inventory: Option<PathBuf>,
    pub profile: Profile,
    pub aql: f64,
    pub level: InspectionLevel,
    /// The sample's seed; `None`: derived from the bag's manifest (same delivery, same
    /// sample), printed in the report so the draw can be repeated.
    pub seed: Option<u64>,
    /// Inspect every page instead of a sample (small lots, disputes); the plan's
    /// acceptance number still applies.
    pub all_pages: bool,
    pub jobs: usize,
}

/// Told what is going on, for a progress bar.
pub trait Progress: Sync {
    fn phase(&self, what: &str, total: u64);
    fn advance(&self, n: u64);
}

pub fn validate(o: &ValidateOptions, progress: &dyn Progress) -> Result<ValidationReport> {
    let started = Utc::now();
    let clock = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.jobs.max(1))
        .build()
        .context("cannot start worker threads")?;
    let mut findings: Vec<Finding> = Vec::new();
    let settings = &o.profile.validate;

    // 1. The bag: every byte hashed once.
    progress.phase("hashing", payload_bytes(&o.delivery));
    let bag = bagit::check_bag(&o.delivery, o.jobs, &|n| progress.advance(n))?;
    findings.extend(bag.findings.iter().cloned());

    // 2. Page counts and resolution of every page (headers only).
    progress.phase("counting pages", bag.files.len() as u64);
    let limits = Limits {
        max_pixels: o.profile.max_pixels(),
        assume_dpi: o.profile.input.assume_dpi,
    };
    // PDF pages are read as in `mailroom run` (the profile's settings), but a PDF/A-3
    // file's associated files are no reason to refuse it: the PDF/A check judges them.
    let pdf = ingest::PdfOptions {
        allow_attachments: true,
        ..o.profile.pdf_options()
    };
    let probed: Vec<(String, Result<ingest::SourceFile, String>, Option<Finding>)> =
        pool.install(|| {
            bag.files
                .par_iter()
                .with_max_len(1)
                .map(|f| {
                    let c = Candidate::file(o.delivery.join(&f.rel), f.rel.clone());
                    let r =
                        ingest::probe_known(&c, limits, &f.sha256, &pdf).map_err(|e| e.to_string());
                    let pdfa = settings.require_pdfa.then(|| pdfa_finding(&c)).flatten();
                    progress.advance(1);
                    (f.rel.clone(), r, pdfa)
                })
                .collect()
        });
    findings.extend(probed.iter().filter_map(|(_, _, pdfa)| pdfa.clone()));
    let mut pages: BTreeMap<String, Result<usize, String>> = BTreeMap::new();
    let mut lot_pages: Vec<(PageRef, &ingest::SourceFile)> = Vec::new();
    for (rel, r, _) in &probed {
        match r {
            Ok(src) => {
                pages.insert(rel.clone(), Ok(src.frames.len()));
                for (i, fr) in src.frames.iter().enumerate() {
                    let dpi = (fr.dpi.source == crate::model::DpiSource::File)
                        .then_some((fr.dpi.x, fr.dpi.y));
                    if let Some(f) =
                        quality::resolution(rel, i + 1, fr.width, fr.height, dpi, settings)
                    {
                        findings.push(f);
                    }
                    lot_pages.push((
                        PageRef {
                            file: rel.clone(),
                            page: i + 1,
                        },
                        src,
                    ));
                }
            }
            Err(e) => {
                pages.insert(rel.clone(), Err(e.clone()));
            }
        }
    }

    // 3. The inventory against the payload.
    if let Some(inv) = &o.inventory {
        let items = inventory::read_inventory(inv)?;
        findings.extend(inventory::reconcile(&items, &bag.files, &pages));
    } else {
        // without an inventory, unreadable files are still findings
        for (rel, r) in &pages {
            if let Err(e) = r {
                findings.push(Finding::file(FindingKind::Unreadable, rel, e.clone()));
            }
        }
    }

    // 4. The sample.
    let seed = o.seed.unwrap_or_else(|| default_seed(&o.delivery));
    let plan = sampling::single_normal(lot_pages.len().max(1), o.level, o.aql)?;
    let n = if o.all_pages {
        lot_pages.len()
    } else {
        plan.sample_size
    };
    let drawn = sampling::draw(lot_pages.len(), n, seed);
    progress.phase("inspecting the sample", drawn.len() as u64);
    let engines = EnginePool::new(&settings.ocr_language, Some(o.profile.ocr_time_limit()))
        .with_variables(&o.profile.ocr.tesseract);
    engines.warm_up()?;
    let inspected: Vec<(PageRef, Vec<Finding>, Option<String>)> = pool.install(|| {
        drawn
            .par_iter()
            .with_max_len(1)
            .map(|&i| {
                let (page, src) = &lot_pages[i];
                let r = inspect_one(page, src, limits, &pdf, &engines, settings);
                progress.advance(1);
                r
            })
            .collect()
    });
    drop(engines);
    let mut thumbnails = BTreeMap::new();
    let mut nonconforming = 0;
    for (page, found, thumb) in &inspected {
        if !found.is_empty() {
            nonconforming += 1;
            if let Some(t) = thumb {
                thumbnails.insert(format!("{}#{}", page.file, page.page), t.clone());
            }
        }
        findings.extend(found.iter().cloned());
    }

    // 5. The decision.
    findings.sort_by(|a, b| (a.kind, &a.file, a.page).cmp(&(b.kind, &b.file, b.page)));
    findings.dedup();
    let full: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.kind.is_lot_defect() || f.kind == FindingKind::LowResolution)
        .collect();
    let mut reasons = Vec::new();
    let mut by_kind: BTreeMap<FindingKind, usize> = BTreeMap::new();
    for f in &full {
        *by_kind.entry(f.kind).or_default() += 1;
    }
    for (kind, n) in &by_kind {
        reasons.push(format!(
            "{n} × {}: found by a check of the whole lot",
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ));
    }
    let sample_rejects = nonconforming >= plan.reject;
    reasons.push(format!(
        "sample: {nonconforming} nonconforming of {} pages; accept up to {}, reject from {} (ISO 2859-1, level {}, AQL {})",
        drawn.len(),
        plan.accept,
        plan.reject,
        o.level,
        o.aql
    ));
    let decision = if full.is_empty() && !sample_rejects {
        Decision::Accept
    } else {
        Decision::Reject
    };

    Ok(ValidationReport {
        schema_version: VALIDATION_SCHEMA_VERSION,
        mailroom_version: crate::VERSION.to_string(),
        delivery: crate::fsutil::absolute(&o.delivery),
        inventory: o.inventory.as_deref().map(crate::fsutil::absolute),
        profile: o.profile.name.clone(),
        started: started.rfc3339(),
        finished: Utc::now().rfc3339(),
        elapsed_seconds: clock.elapsed().as_secs_f64(),
        lot: LotSummary {
            files: bag.files.len(),
            pages: lot_pages.len(),
            bytes: bag.files.iter().map(|f| f.bytes).sum(),
        },
        hash: HashSummary {
            bytes: bag.bytes_hashed,
            seconds: bag.hash_seconds,
            mb_per_second: if bag.hash_seconds > 0.0 {
                bag.bytes_hashed as f64 / 1e6 / bag.hash_seconds
            } else {
                0.0
            },
        },
        sampling: Some(SamplingSummary {
            inspection_level: o.level.to_string(),
            aql: o.aql,
            lot_size: lot_pages.len(),
            code_letter: plan.code_letter,
            sample_size: drawn.len(),
            accept: plan.accept,
            reject: plan.reject,
            seed,
            sampled: drawn.iter().map(|&i| lot_pages[i].0.clone()).collect(),
            nonconforming,
        }),
        decision,
        reasons,
        findings,
        thumbnails,
    })
}

/// Decodes one sampled page and inspects it; a page that cannot be decoded is a finding.
fn inspect_one(
    page: &PageRef,
    src: &ingest::SourceFile,
    limits: Limits,
    pdf: &ingest::PdfOptions,
    engines: &EnginePool,
    settings: &quality::QualitySettings,
) -> (PageRef, Vec<Finding>, Option<String>) {
    let decoded = ingest::read_page(src, page.page - 1, limits, pdf)
        .map(|d| d.pixels)
        .map_err(|e| e.to_string());
    let pixels = match decoded {
        Ok(p) => p,
        Err(e) => {
            return (
                page.clone(),
                vec![Finding::page(
                    FindingKind::Unreadable,
                    &page.file,
                    page.page,
                    e,
                )],
                None,
            )
        }
    };
    let frame = &src.frames[page.page - 1];
    let dpi =
        (frame.dpi.source == crate::model::DpiSource::File).then_some((frame.dpi.x, frame.dpi.y));
    let q = engines
        .with_engine(|engine| quality::inspect(page, &pixels, dpi, Some(engine), settings))
        .unwrap_or_else(|_| quality::inspect(page, &pixels, dpi, None, settings));
    let thumb = (!q.findings.is_empty()).then(|| quality::thumbnail_data_uri(&pixels, 240));
    (page.clone(), q.findings, thumb)
}

/// The PDF/A finding of a PDF payload file (`None` for other files and for PDF/A files).
fn pdfa_finding(c: &Candidate) -> Option<Finding> {
    use std::io::Read;
    let mut head = [0u8; 5];
    let is_pdf = std::fs::File::open(&c.path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"%PDF-";
    if !is_pdf {
        return None;
    }
    // a file that cannot be read is named by the page count check
    let data = std::fs::read(&c.path).ok()?;
    let report = super::pdfa::check(&data);
    (!report.problems.is_empty())
        .then(|| Finding::file(FindingKind::NotPdfa, &c.rel, report.summary()))
}

/// The bytes under `data/`, for the progress bar (0 if it cannot be read).
fn payload_bytes(bag: &Path) -> u64 {
    walkdir::WalkDir::new(bag.join("data"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// A seed from the bag's manifest: the same delivery draws the same sample.
fn default_seed(bag: &Path) -> u64 {
    let manifest = std::fs::read(bag.join("manifest-sha256.txt")).unwrap_or_default();
    let h = crate::fsutil::sha256_hex(&manifest);
    u64::from_str_radix(&h[..16], 16).unwrap_or(0)
}

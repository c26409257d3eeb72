//! The orchestrator: the one place that knows the stage order and the parallelism.
//!
//! ```text
//! list batch ─► probe files (parallel) ─► per page (parallel): decode ─► OCR ─► encode image
//!            ─► group pages by document ─► per document (parallel): PDF + JSON
//!            ─► quarantine failures ─► report (with the page-count proof)
//! ```
//! Memory does not grow with the batch: a page's encoded image waits in the run's work
//! folder (`<out>/.work/`) between its per-page stages and its document's PDF; only its
//! OCR text and facts stay in memory for separation, routing and the records.
//! Every input ends as a delivered document or in quarantine with a reason; errors are
//! values per item, so one bad file never stops the batch. The pipeline never prints: it
//! tells an `Observer`, and the caller decides what the terminal shows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use rayon::prelude::*;

use crate::barcode::{self, Barcode};
use crate::cleanup::{self, CleanupRecord};
use crate::clock::Utc;
use crate::config::Profile;
use crate::fsutil::{sha256_hex, write_atomic};
use crate::ingest::{self, Candidate, Format, Limits, SourceFile};
use crate::leptonica::Pix;
use crate::log::Event;
use crate::model::{Quarantined, Stage};
use crate::ocr::{EnginePool, PageText};
use crate::package::pdf::{self, EncodedImage, GlyphlessFont, ImageData, PdfMeta, PdfPage};
use crate::package::pdf::{Attachment, Relationship};
use crate::package::transfer::{Capture, NoteInput, TransferNote, ATTACHMENT_NAME};
use crate::package::{
    encode_image, DocumentRecord, FileRecord, OcrRecord, PageRecord, RemovalReason, RemovedPage,
    SourceRecord, Timings, DOCUMENT_SCHEMA_VERSION,
};
use crate::patch::{self, PatchCode};
use crate::report::{
    Counts, DocumentSummary, FlaggedPage, RouteSummary, RunReport, REPORT_SCHEMA_VERSION,
};
use crate::routing::rules::RuleSet;
use crate::routing::zones::PageView;
use crate::routing::{self, RoutingInput, Target};
use crate::separation::{split_all, PageFacts, PageState, Role, Rules, Segment};

/// Sub-folders of the output folder.
pub const DOCUMENTS_DIR: &str = "documents";
pub const QUARANTINE_DIR: &str = "quarantine";
pub const EVIDENCE_DIR: &str = "evidence";
pub const REPORT_FILE: &str = "report.json";
/// The run's scratch folder inside the output folder: the pages' encoded images between
/// reading and packaging. Removed when the run ends; a killed run's by the next run.
/// Hidden, like every temporary name in the output folder.
pub const WORK_DIR: &str = ".work";

/// What to run.
pub struct RunRequest {
    pub batch: PathBuf,
    pub out: PathBuf,
    pub profile: Profile,
    pub jobs: usize,
    /// Who, where, with what: for every document's transfer note; also holds the run id.
    pub capture: Capture,
}

/// Receives progress while a run goes on. Called from worker threads.
pub trait Observer: Sync {
    /// The number of pages found, once the files were probed.
    fn pages_found(&self, pages: usize);
    /// One page finished its per-page stages (successfully or not).
    fn page_done(&self);
    /// An input was quarantined.
    fn quarantined(&self, item: &Quarantined);
    /// Delivery of this many documents begins.
    fn delivery_started(&self, _documents: usize) {}
    /// A document's delivery ended (delivered, held, rejected or left pending).
    fn delivered(&self, _document: &str, _outcome: &crate::deliver::engine::Outcome) {}
    /// An event for the run's structured log (`src/log.rs`): files, pages, documents,
    /// delivery attempts. Never carries document text.
    fn event(&self, _event: &crate::log::Event) {}
}

/// A run finished, but its page accounting does not add up: a bug, never to be ignored.
#[derive(Debug, thiserror::Error)]
#[error("page accounting does not add up: {0}")]
pub struct AccountingError(pub String);

/// Where a page of the stream stands after the per-page stages: its file (index into the
/// batch listing) and what was read, or why not.
type StreamPage = (usize, Result<ReadPage, PageFailure>);

/// A page after the per-page stages.
struct ReadPage {
    frame: usize,
    sha256: String,
    image: SpilledImage,
    /// None for a blank page (not OCRed; kept as evidence).
    text: Option<SpilledText>,
    cleanup: CleanupRecord,
    patch: Option<PatchCode>,
    barcodes: Vec<Barcode>,
    dpi: crate::model::Dpi,
    color: crate::model::ColorKind,
    timings: Timings,
    /// For a PDF page: how it was read.
    pdf: Option<crate::pdf_input::PdfPageInfo>,
}

/// A page's encoded image, written to the work folder until its document is written: the
/// facts routing and the records need stay in memory, the bytes wait on disk.
struct SpilledImage {
    path: PathBuf,
    width: u32,
    height: u32,
    coding: Coding,
    /// Size of the encoded image in bytes.
    len: usize,
}

/// How a spilled image's bytes are coded (the [`ImageData`] variant without its bytes).
#[derive(Clone, Copy)]
enum Coding {
    Jpeg { rgb: bool },
    G4,
}

impl SpilledImage {
    /// Writes the image's bytes to `path` (scratch: no sync, no atomic rename).
    fn spill(image: EncodedImage, path: PathBuf) -> Result<Self> {
        let EncodedImage {
            width,
            height,
            data,
        } = image;
        let (coding, bytes) = match data {
            ImageData::Jpeg { bytes, rgb } => (Coding::Jpeg { rgb }, bytes),
            ImageData::G4 { bytes } => (Coding::G4, bytes),
        };
        std::fs::write(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(SpilledImage {
            path,
            width,
            height,
            coding,
            len: bytes.len(),
        })
    }

    /// Reads the image back, as it was before it was spilled.
    fn load(&self) -> Result<EncodedImage> {
        let bytes = std::fs::read(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        if bytes.len() != self.len {
            anyhow::bail!(
                "{} holds {} bytes, {} were written",
                self.path.display(),
                bytes.len(),
                self.len
            );
        }
        Ok(EncodedImage {
            width: self.width,
            height: self.height,
            data: match self.coding {
                Coding::Jpeg { rgb } => ImageData::Jpeg { bytes, rgb },
                Coding::G4 => ImageData::G4 { bytes },
            },
        })
    }

    /// Deletes the spilled bytes once the document is written (or failed); what is left
    /// goes with the work folder at the end of the run.
    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A page's OCR text (words with their boxes: tens of KB a page), written to the work
/// folder until its document is written; its counts stay in memory for the log.
struct SpilledText {
    path: PathBuf,
    words: usize,
    mean_confidence: Option<f32>,
}

impl SpilledText {
    fn spill(text: &PageText, path: PathBuf) -> Result<Self> {
        std::fs::write(&path, serde_json::to_vec(text)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(SpilledText {
            path,
            words: text.word_count(),
            mean_confidence: text.mean_confidence(),
        })
    }

    fn load(&self) -> Result<PageText> {
        let bytes = std::fs::read(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("cannot read back {}", self.path.display()))
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The run's work folder, emptied of a killed run's leftovers when created and removed
/// when dropped, however the run ends (a folder that cannot be removed now is removed
/// by the next run).
struct WorkDir(PathBuf);

impl WorkDir {
    fn create(out: &Path) -> Result<Self> {
        let dir = out.join(WORK_DIR);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", dir.display()));
            }
            _ => {}
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone)]
struct PageFailure {
    stage: Stage,
    reason: String,
}

/// Runs a batch and returns its report (also written to `<out>/report.json`).
pub fn run(req: &RunRequest, observer: &dyn Observer) -> Result<RunReport> {
    let started = Utc::now();
    let clock = Instant::now();
    let cpu_start = crate::report::cpu_seconds();
    let listing = ingest::list_batch(&req.batch)?;
    let docs_dir = req.out.join(DOCUMENTS_DIR);
    std::fs::create_dir_all(&docs_dir)
        .with_context(|| format!("cannot create output folder {}", docs_dir.display()))?;
    let work = WorkDir::create(&req.out)?;

    crate::leptonica::silence_warnings();
    let font = GlyphlessFont::locate()?;
    let engines = EnginePool::new(
        &req.profile.ocr.language,
        Some(req.profile.ocr_time_limit()),
    )
    .with_variables(&req.profile.ocr.tesseract);
    engines.warm_up()?;
    let workers = rayon::ThreadPoolBuilder::new()
        .num_threads(req.jobs.max(1))
        .thread_name(|i| format!("mailroom-worker-{i}"))
        .build()
        .context("cannot start worker threads")?;
    let limits = Limits {
        max_pixels: req.profile.max_pixels(),
        assume_dpi: req.profile.input.assume_dpi,
    };

    let rules = Rules::new(&req.profile.separation)?;
    let routing = req
        .profile
        .routing
        .enabled
        .then(|| RuleSet::new(&req.profile.routing))
        .transpose()?;
    let ctx = Stages {
        req,
        rules: &rules,
        routing: routing.as_ref(),
        font: &font,
        engines: &engines,
        work: &work.0,
        limits,
        created: started,
    };
    let (delivered, failures, pages_in) =
        workers.install(|| ctx.process(&listing.candidates, observer));
    drop(engines); // free the Tesseract engines before the report is written
    drop(work); // every document is written: the spilled images are no longer needed

    let mut quarantined = Vec::new();
    for (candidate, pages, failure) in failures {
        let q = quarantine(&req.out, &candidate, pages, failure.stage, &failure.reason)?;
        observer.quarantined(&q);
        quarantined.push(q);
    }
    quarantined.sort_by(|a, b| a.file.cmp(&b.file));

    let elapsed = clock.elapsed().as_secs_f64();
    let cpu = crate::report::cpu_seconds()
        .zip(cpu_start)
        .map(|(end, start)| end - start);
    let pages_delivered: usize = delivered.iter().map(|d| d.pages).sum();
    let pages_evidence: usize = delivered.iter().map(|d| d.removed_pages).sum();
    let pages_quarantined: usize = quarantined.iter().map(|q| q.pages).sum();
    let counts = Counts {
        files_in: listing.candidates.len(),
        files_ignored: listing.ignored.len(),
        files_quarantined: quarantined.len(),
        pages_in,
        pages_delivered,
        pages_evidence,
        pages_quarantined,
        documents: delivered.iter().filter(|d| d.pdf.is_some()).count(),
        documents_evidence_only: delivered.iter().filter(|d| d.pdf.is_none()).count(),
        documents_flagged: delivered.iter().filter(|d| !d.flags.is_empty()).count(),
        documents_unopened: delivered
            .iter()
            .filter(|d| {
                d.routing
                    .as_ref()
                    .is_some_and(|r| r.target == Target::Unopened)
            })
            .count(),
        documents_clarification: delivered
            .iter()
            .filter(|d| {
                d.routing
                    .as_ref()
                    .is_some_and(|r| r.target == Target::Clarification)
            })
            .count(),
        pages_separators: delivered.iter().map(|d| d.separator_pages).sum(),
        pages_flagged: delivered.iter().map(|d| d.flagged.len()).sum(),
    };
    let chain = record_chain(&req.out, &req.capture.run_id, &delivered)?;
    let report = RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        run_id: req.capture.run_id.clone(),
        mailroom_version: crate::VERSION.to_string(),
        profile: req.profile.name.clone(),
        batch: crate::fsutil::absolute(&req.batch),
        out: crate::fsutil::absolute(&req.out),
        started: started.rfc3339(),
        finished: Utc::now().rfc3339(),
        jobs: req.jobs.max(1),
        elapsed_seconds: elapsed,
        cpu_seconds: cpu,
        counts,
        documents: delivered,
        quarantined,
        ignored: listing.ignored,
        chain,
        delivery: None,
    };
    write_atomic(
        &req.out.join(REPORT_FILE),
        &serde_json::to_vec_pretty(&report)?,
    )?;
    // The proof that no page was lost, checked on the report as written.
    report.check_conservation().map_err(AccountingError)?;
    Ok(report)
}

/// The hash chain over the documents' JSON records as they are on disk.
fn record_chain(
    out: &Path,
    run_id: &str,
    documents: &[DocumentSummary],
) -> Result<Vec<crate::chain::ChainLink>> {
    let records = documents
        .iter()
        .map(|d| {
            let path = out.join(&d.json);
            let hash = crate::fsutil::sha256_file(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok((d.id.clone(), hash))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(crate::chain::build(run_id, &records))
}

/// A page on its way into a document.
struct DocPage<'a> {
    src: &'a SourceFile,
    page: &'a ReadPage,
    role: Role,
    /// The page's OCR text, read back from the work folder; None for a blank page.
    text: Option<PageText>,
}

struct Stages<'a> {
    req: &'a RunRequest,
    rules: &'a Rules,
    routing: Option<&'a RuleSet>,
    font: &'a GlyphlessFont,
    engines: &'a EnginePool,
    /// Where `read_page` spills the encoded images.
    work: &'a Path,
    limits: Limits,
    created: Utc,
}

type Failed = (Candidate, usize, PageFailure);

impl Stages<'_> {
    /// Probes, reads and packages everything; returns the delivered documents and the
    /// inputs that failed (with the number of pages each accounts for).
    fn process(
        &self,
        candidates: &[Candidate],
        observer: &dyn Observer,
    ) -> (Vec<DocumentSummary>, Vec<Failed>, usize) {
        // Every parallel loop here hands out one item at a time (`with_max_len(1)`): rayon
        // otherwise cuts the list into a few runs that one worker must finish alone, which
        // left a core idle for the last seconds of every batch.
        let probed: Vec<Result<SourceFile, PageFailure>> = candidates
            .par_iter()
            .with_max_len(1)
            .map(|c| {
                guarded(|| {
                    ingest::probe_with(c, self.limits, &self.req.profile.pdf_options()).map_err(
                        |e| PageFailure {
                            stage: Stage::Ingest,
                            reason: e.to_string(),
                        },
                    )
                })
            })
            .collect();
        for (c, p) in candidates.iter().zip(&probed) {
            observer.event(&match p {
                Ok(src) => Event::FileProbed {
                    file: src.rel.clone(),
                    format: src.format,
                    pages: src.frames.len(),
                    bytes: src.bytes,
                    sha256: src.sha256.clone(),
                },
                Err(f) => Event::FileRefused {
                    file: c.rel.clone(),
                    stage: f.stage,
                    reason: f.reason.clone(),
                },
            });
        }
        let jobs: Vec<(usize, usize)> = probed
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().ok().map(|s| (i, s.frames.len())))
            .flat_map(|(i, n)| (0..n).map(move |f| (i, f)))
            .collect();
        observer.pages_found(jobs.len());

        let mut pages = jobs
            .par_iter()
            .with_max_len(1)
            .map(|&(i, frame)| {
                let src = probed[i].as_ref().expect("jobs only hold probed files");
                let r = guarded(|| self.read_page(i, src, frame));
                release_freed_memory();
                observer.event(&page_event(src, frame, &r));
                observer.page_done();
                r
            })
            .collect::<Vec<_>>()
            .into_iter();

        // The page stream in batch order; a file that could not be probed stands in it as
        // one failed page, so the document around it is not delivered with a gap.
        let mut stream: Vec<StreamPage> = Vec::new();
        for (i, p) in probed.iter().enumerate() {
            match p {
                Err(e) => stream.push((i, Err(e.clone()))),
                Ok(src) => stream.extend(pages.by_ref().take(src.frames.len()).map(|r| (i, r))),
            }
        }
        let facts: Vec<PageFacts> = stream
            .iter()
            .enumerate()
            .map(|(n, (file, r))| PageFacts {
                starts_file: n == 0 || stream[n - 1].0 != *file,
                state: match r {
                    Err(_) => PageState::Failed,
                    Ok(p) if p.text.is_none() => PageState::Blank,
                    Ok(p) => PageState::Content {
                        patch: p.patch.as_ref().map(|c| c.kind),
                        barcodes: &p.barcodes,
                    },
                },
            })
            .collect();
        let segments = split_all(self.rules, &facts);
        drop(facts);

        // A document with a missing page is worse than none: a document holding a failed
        // page is not delivered, and every file it draws on goes to quarantine, as does
        // every other document drawing on those files, until nothing changes.
        let mut held: BTreeMap<usize, PageFailure> = BTreeMap::new();
        for (file, r) in &stream {
            if let Err(f) = r {
                held.entry(*file).or_insert_with(|| f.clone());
            }
        }
        let mut bad = vec![false; segments.len()];
        loop {
            let mut changed = false;
            for (seg, is_bad) in segments.iter().zip(bad.iter_mut()) {
                let files = || seg.pages.iter().map(|&(n, _)| stream[n].0);
                let Some(culprit) = files().find(|f| held.contains_key(f)) else {
                    continue;
                };
                if *is_bad {
                    continue;
                }
                *is_bad = true;
                changed = true;
                let cause = held[&culprit].clone();
                for f in files() {
                    held.entry(f).or_insert_with(|| PageFailure {
                        stage: cause.stage,
                        reason: format!(
                            "held back: its pages belong to a document with a page of {} that failed ({})",
                            candidates[culprit].rel, cause.reason
                        ),
                    });
                }
            }
            if !changed {
                break;
            }
        }
        let mut failed: Vec<Failed> = held
            .into_iter()
            .map(|(file, failure)| {
                let pages = probed[file].as_ref().map_or(1, |s| s.frames.len());
                (candidates[file].clone(), pages, failure)
            })
            .collect();

        let documents: Vec<&Segment> = segments
            .iter()
            .zip(&bad)
            .filter(|(_, b)| !**b)
            .map(|(s, _)| s)
            .collect();
        let written: Vec<Result<DocumentSummary, Vec<Failed>>> = documents
            .into_par_iter()
            .with_max_len(1)
            .enumerate()
            .map(|(index, seg)| {
                let read: Vec<(&SourceFile, &ReadPage, Role)> = seg
                    .pages
                    .iter()
                    .map(|&(n, role)| {
                        let (file, r) = &stream[n];
                        let src = probed[*file].as_ref().expect("delivered pages were probed");
                        let page = r.as_ref().expect("delivered pages were read");
                        (src, page, role)
                    })
                    .collect();
                let written = read
                    .iter()
                    .map(|&(src, page, role)| {
                        let text = page.text.as_ref().map(SpilledText::load).transpose()?;
                        Ok(DocPage {
                            src,
                            page,
                            role,
                            text,
                        })
                    })
                    .collect::<Result<Vec<DocPage>>>()
                    .and_then(|pages| self.write_document(index, seg, &pages, observer));
                for (_, page, _) in &read {
                    page.image.remove();
                    if let Some(text) = &page.text {
                        text.remove();
                    }
                }
                written.map_err(|e| {
                    // Each file of the document is quarantined for its pages in it.
                    let mut files: Vec<(usize, usize)> = Vec::new();
                    for &(n, _) in &seg.pages {
                        match files.last_mut() {
                            Some((f, count)) if *f == stream[n].0 => *count += 1,
                            _ => files.push((stream[n].0, 1)),
                        }
                    }
                    let failure = PageFailure {
                        stage: Stage::Package,
                        reason: format!("{e:#}"),
                    };
                    files
                        .into_iter()
                        .map(|(f, count)| (candidates[f].clone(), count, failure.clone()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut delivered = Vec::new();
        for w in written {
            match w {
                Ok(d) => delivered.push(d),
                Err(f) => failed.extend(f),
            }
        }
        (delivered, failed, stream.len())
    }

    /// Decode, clean, OCR and encode one page; its encoded image is spilled to the work
    /// folder. `file` is the source's index in the batch listing.
    fn read_page(
        &self,
        file: usize,
        src: &SourceFile,
        frame: usize,
    ) -> Result<ReadPage, PageFailure> {
        let fail = |stage: Stage| {
            move |e: &dyn std::fmt::Display| PageFailure {
                stage,
                reason: if src.frames.len() > 1 {
                    format!("page {}: {e}", frame + 1)
                } else {
                    e.to_string()
                },
            }
        };
        let mut timings = Timings::default();
        let t = Instant::now();
        let ingest::DecodedPage {
            pixels,
            jpeg,
            text: pdf_text,
            pdf,
        } = ingest::read_page(src, frame, self.limits, &self.req.profile.pdf_options())
            .map_err(|e| fail(Stage::Decode)(&e))?;
        let info = &src.frames[frame];
        if (pixels.width(), pixels.height()) != (info.width, info.height) {
            return Err(fail(Stage::Decode)(&format!(
                "decoded size {}x{} differs from the header's {}x{}",
                pixels.width(),
                pixels.height(),
                info.width,
                info.height
            )));
        }
        let sha256 = pixels.sha256();
        timings.decode = t.elapsed().as_millis() as u64;

        // Cleanup borrows the worker's Tesseract engine for orientation detection.
        let t = Instant::now();
        let settings = &self.req.profile.cleanup;
        // A PDF page kept with its own text: the text's boxes fit the page as rendered,
        // so cleanup must not move or drop anything.
        let text_settings;
        let settings = if pdf_text.is_some() {
            text_settings = crate::config::CleanupSettings {
                remove_borders: false,
                remove_punch_holes: false,
                despeckle: false,
                blank_detection: false,
                deskew: false,
                orientation: false,
                ..settings.clone()
            };
            &text_settings
        } else {
            settings
        };
        let cleaned = self
            .engines
            .with_engine(|engine| cleanup::clean(pixels, info.dpi, settings, engine))
            .map_err(|e| fail(Stage::Ocr)(&e))?
            .map_err(|e| fail(Stage::Cleanup)(&e))?;
        timings.cleanup = t.elapsed().as_millis() as u64;
        let cleanup::Cleaned {
            pixels,
            as_scanned,
            analysis,
            dpi,
            record: mut cleanup,
        } = cleaned;
        if pdf.as_ref().is_some_and(|p| p.repaired) {
            cleanup.flags.push(cleanup::Flag::PdfRepaired);
        }
        let t = Instant::now();
        let patch = analysis.and_then(|a| patch::find(&a.dark, a.dpi, a.factor as i32));
        timings.patch = t.elapsed().as_millis() as u64;

        // The page image is encoded and spilled before OCR, so that from here on the page
        // is held once, as gray: a colour page's 26 MB are gone before Tesseract starts.
        let t = Instant::now();
        // JPEG input (a JPEG file, or a PDF page's JPEG) is embedded as it came unless
        // cleanup changed the pixels.
        let single_jpeg = jpeg
            .as_deref()
            .filter(|_| as_scanned)
            .map(|bytes| (Format::Jpeg, bytes));
        let image = encode_image(&pixels, single_jpeg, self.req.profile.output.jpeg_quality)
            .and_then(|image| {
                let name = format!("{file:06}-{frame:06}.img");
                SpilledImage::spill(image, self.work.join(name))
            })
            .map_err(|e| fail(Stage::Package)(&format!("{e:#}")))?;
        timings.encode = t.elapsed().as_millis() as u64;
        let color = pixels.kind();
        drop(jpeg);

        // OCR and the barcode reader read the same gray view of the cleaned page.
        let (text, barcodes) = if cleanup.blank {
            drop(pixels);
            (None, Vec::new())
        } else {
            let gray = pixels.into_gray();
            let t_ocr = Instant::now();
            let text = match pdf_text {
                Some(text) => text,
                None => {
                    let pix = Pix::from_gray(&gray).map_err(|e| fail(Stage::Ocr)(&e))?;
                    self.engines
                        .with_engine(|engine| engine.recognize(&pix, dpi.y.round() as u32))
                        .map_err(|e| fail(Stage::Ocr)(&e))?
                        .map_err(|e| fail(Stage::Ocr)(&e))?
                }
            };
            timings.ocr = t_ocr.elapsed().as_millis() as u64;
            let t_barcodes = Instant::now();
            let barcodes = barcode::read(&gray).map_err(|e| fail(Stage::Barcodes)(&e))?;
            timings.barcodes = t_barcodes.elapsed().as_millis() as u64;
            if text
                .mean_confidence()
                .is_some_and(|c| c < self.req.profile.ocr.min_confidence)
            {
                cleanup.flags.push(cleanup::Flag::LowOcrConfidence);
            }
            (Some(text), barcodes)
        };
        let t = Instant::now();
        let text = text
            .map(|text| {
                let name = format!("{file:06}-{frame:06}.txt.json");
                SpilledText::spill(&text, self.work.join(name))
            })
            .transpose()
            .map_err(|e| fail(Stage::Package)(&format!("{e:#}")))?;
        timings.encode += t.elapsed().as_millis() as u64;
        Ok(ReadPage {
            frame,
            sha256,
            color,
            image,
            text,
            cleanup,
            patch,
            barcodes,
            dpi,
            timings,
            pdf,
        })
    }

    fn write_document(
        &self,
        index: usize,
        seg: &Segment,
        pages: &[DocPage],
        observer: &dyn Observer,
    ) -> Result<DocumentSummary> {
        let kept: Vec<&DocPage> = pages.iter().filter(|p| p.role == Role::Kept).collect();
        let removed: Vec<&DocPage> = pages.iter().filter(|p| p.role != Role::Kept).collect();
        let named_after = kept
            .first()
            .or(removed.first())
            .expect("a segment has pages");
        let id = document_id(index, &named_after.src.rel);
        // documents without pages (all blank, trailing separators) are not routed
        let routing = self.routing.filter(|_| !kept.is_empty()).map(|set| {
            let input = RoutingInput {
                pages: kept
                    .iter()
                    .filter_map(|p| {
                        p.text.as_ref().map(|text| PageView {
                            text,
                            dpi: (p.page.dpi.x, p.page.dpi.y),
                            size_px: (p.page.image.width, p.page.image.height),
                        })
                    })
                    .collect(),
                barcodes: pages.iter().flat_map(|p| &p.page.barcodes).collect(),
                cover: seg.record.cover_sheet.as_ref(),
            };
            routing::route(set, &input)
        });
        // Confidential mail: its text is kept nowhere, neither in the PDF nor the JSON.
        let keep_text = routing
            .as_ref()
            .is_none_or(|r| r.target != Target::Unopened);
        let t = Instant::now();
        let unit = match routing.as_ref().map(|r| &r.target) {
            Some(Target::Unit { unit }) => {
                Some(self.routing.and_then(|set| set.unit(unit)).map_or_else(
                    || unit.clone(),
                    |u| {
                        if u.name.contains(&u.code) {
                            u.name.clone()
                        } else {
                            format!("{} {}", u.code, u.name)
                        }
                    },
                ))
            }
            _ => None,
        };
        let no_text = PageText::default();
        // Every PDF carries the transfer note as an associated file (PDF/A-3).
        let pdf_of = |pages: &[&DocPage], note: &[u8]| -> Result<Option<Vec<u8>>> {
            if pages.is_empty() {
                return Ok(None);
            }
            // the document's images, read back from the work folder
            let images = pages
                .iter()
                .map(|p| p.page.image.load())
                .collect::<Result<Vec<EncodedImage>>>()?;
            let pdf_pages: Vec<PdfPage> = pages
                .iter()
                .zip(&images)
                .map(|(p, image)| PdfPage {
                    image,
                    dpi: (p.page.dpi.x, p.page.dpi.y),
                    text: p.text.as_ref().filter(|_| keep_text).unwrap_or(&no_text),
                })
                .collect();
            let attachments = [Attachment {
                name: ATTACHMENT_NAME,
                mime: "application/xml",
                description: "Transfervermerk (BSI TR-03138 RESISCAN): capture, checks, hashes",
                relationship: Relationship::Supplement,
                bytes: note,
            }];
            let meta = PdfMeta {
                title: &id,
                created: self.created,
                document_id: &id,
                unit: unit.as_deref(),
                profile: &self.req.profile.name,
                attachments: &attachments,
            };
            Ok(Some(pdf::write_pdf(&pdf_pages, &meta, self.font)?))
        };
        let mut sources: Vec<&SourceFile> = Vec::new();
        for p in pages {
            if !sources.iter().any(|s| std::ptr::eq(*s, p.src)) {
                sources.push(p.src);
            }
        }
        let sources: Vec<SourceRecord> = sources
            .iter()
            .map(|src| SourceRecord {
                file: src.rel.clone(),
                format: src.format,
                sha256: src.sha256.clone(),
                bytes: src.bytes,
            })
            .collect();
        let page_records: Vec<PageRecord> = kept
            .iter()
            .enumerate()
            .map(|(n, p)| self.page_record(n + 1, p, keep_text))
            .collect();
        let removed_records: Vec<RemovedPage> = removed
            .iter()
            .enumerate()
            .map(|(n, p)| RemovedPage {
                reason: match p.role {
                    Role::Removed(reason) => reason,
                    Role::Kept => unreachable!("kept pages are not removed"),
                },
                page: self.page_record(n + 1, p, keep_text),
            })
            .collect();
        let mailroom_id = format!("{}-{id}", self.req.capture.run_id);
        let mut note = TransferNote::build(&NoteInput {
            document_id: &id,
            mailroom_id: &mailroom_id,
            capture: &self.req.capture,
            separation: &seg.record,
            sources: &sources,
            pages: &page_records,
            removed: &removed_records,
            unopened: !keep_text,
            min_confidence: self.req.profile.ocr.min_confidence,
        });
        let note_xml = note.to_xml();

        let pdf_bytes = pdf_of(&kept, note_xml.as_bytes())?;
        let evidence_bytes = pdf_of(&removed, note_xml.as_bytes())?;
        let mut timings = Timings::default();
        for p in pages {
            timings += p.page.timings;
        }
        timings.pdf = t.elapsed().as_millis() as u64;

        let pdf_name = format!("{id}.pdf");
        let evidence_name = format!("{id}-removed.pdf");
        let json_name = format!("{id}.json");
        let file_record = |name: &str, bytes: &[u8]| FileRecord {
            file: name.to_string(),
            sha256: sha256_hex(bytes),
            bytes: bytes.len() as u64,
        };
        note.output_pdf_sha256 = pdf_bytes.as_deref().map(sha256_hex);
        let record = DocumentRecord {
            schema_version: DOCUMENT_SCHEMA_VERSION,
            id: id.clone(),
            mailroom_id,
            mailroom_version: crate::VERSION.to_string(),
            profile: self.req.profile.name.clone(),
            created: self.created.rfc3339(),
            pdf: pdf_bytes.as_deref().map(|b| file_record(&pdf_name, b)),
            evidence_pdf: evidence_bytes
                .as_deref()
                .map(|b| file_record(&format!("../{EVIDENCE_DIR}/{evidence_name}"), b)),
            separation: seg.record.clone(),
            routing: routing.clone(),
            transfer_note: note,
            sources,
            pages: page_records,
            removed_pages: removed_records,
            timings_ms: timings,
        };
        // PDFs first, JSON last: a JSON sidecar always describes complete PDFs.
        let docs = self.req.out.join(DOCUMENTS_DIR);
        if let Some(bytes) = &pdf_bytes {
            write_atomic(&docs.join(&pdf_name), bytes)?;
        }
        if let Some(bytes) = &evidence_bytes {
            let dir = self.req.out.join(EVIDENCE_DIR);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            write_atomic(&dir.join(&evidence_name), bytes)?;
        }
        write_atomic(&docs.join(&json_name), &serde_json::to_vec_pretty(&record)?)?;
        let (target, unit) = match routing.as_ref().map(|r| &r.target) {
            None => ("unrouted", None),
            Some(Target::Unit { unit }) => ("unit", Some(unit.clone())),
            Some(Target::Clarification) => ("clarification", None),
            Some(Target::Unopened) => ("unopened", None),
        };
        observer.event(&Event::DocumentWritten {
            document: id.clone(),
            pages: kept.len(),
            removed_pages: removed.len(),
            target: target.to_string(),
            unit,
            rule: routing.as_ref().and_then(|r| r.rule.clone()),
            pdf: record
                .pdf
                .as_ref()
                .map(|_| format!("{DOCUMENTS_DIR}/{pdf_name}")),
            pdf_sha256: record.pdf.as_ref().map(|p| p.sha256.clone()),
            json: format!("{DOCUMENTS_DIR}/{json_name}"),
        });
        let confs: Vec<f32> = kept
            .iter()
            .filter_map(|p| p.text.as_ref().and_then(PageText::mean_confidence))
            .collect();
        Ok(DocumentSummary {
            id: id.clone(),
            pdf: pdf_bytes.map(|_| format!("{DOCUMENTS_DIR}/{pdf_name}")),
            json: format!("{DOCUMENTS_DIR}/{json_name}"),
            evidence_pdf: evidence_bytes.map(|_| format!("{EVIDENCE_DIR}/{evidence_name}")),
            pages: kept.len(),
            removed_pages: removed.len(),
            separator_pages: removed
                .iter()
                .filter(|p| p.role == Role::Removed(RemovalReason::Separator))
                .count(),
            sources: record.sources.iter().map(|s| s.file.clone()).collect(),
            started_by: seg.record.started_by.clone(),
            cover_sheet: seg.record.cover_sheet.clone(),
            flags: seg.record.flags.clone(),
            routing: routing.as_ref().map(RouteSummary::of),
            mean_confidence: (!confs.is_empty())
                .then(|| confs.iter().sum::<f32>() / confs.len() as f32),
            flagged: pages
                .iter()
                .filter(|p| !p.page.cleanup.flags.is_empty())
                .map(|p| FlaggedPage {
                    source_file: p.src.rel.clone(),
                    frame: p.page.frame,
                    flags: p.page.cleanup.flags.clone(),
                    ink_coverage: p.page.cleanup.ink_coverage,
                })
                .collect(),
        })
    }

    fn page_record(&self, number: usize, doc_page: &DocPage, keep_text: bool) -> PageRecord {
        let (src, p) = (doc_page.src, doc_page.page);
        PageRecord {
            number,
            source_file: src.rel.clone(),
            frame: p.frame,
            sha256: p.sha256.clone(),
            width_px: p.image.width,
            height_px: p.image.height,
            dpi: p.dpi,
            color: p.color,
            image_bytes: p.image.len,
            cleanup: p.cleanup.clone(),
            patch: p.patch.clone(),
            barcodes: p.barcodes.clone(),
            pdf: p.pdf.clone(),
            ocr: doc_page
                .text
                .as_ref()
                .filter(|_| keep_text)
                .map(|text| OcrRecord {
                    // a PDF page's own text was read, not recognised
                    language: if p
                        .pdf
                        .as_ref()
                        .is_some_and(|i| i.text == Some(crate::pdf_input::TextMode::Keep))
                    {
                        crate::pdf_input::KEPT_TEXT_LANGUAGE.to_string()
                    } else {
                        self.req.profile.ocr.language.clone()
                    },
                    mean_confidence: text.mean_confidence(),
                    words: text.word_count(),
                    text: text.text(),
                    lines: text.clone(),
                }),
        }
    }
}

/// The log event of a page after the per-page stages: facts and numbers, never its text.
fn page_event(src: &SourceFile, frame: usize, r: &Result<ReadPage, PageFailure>) -> Event {
    match r {
        Ok(p) => Event::PageRead {
            file: src.rel.clone(),
            page: frame + 1,
            timings_ms: p.timings.into(),
            blank: p.cleanup.blank,
            flags: p.cleanup.flags.clone(),
            rotation: p.cleanup.rotation,
            deskewed: p.cleanup.deskewed,
            confidence: p.text.as_ref().and_then(|t| t.mean_confidence),
            words: p.text.as_ref().map_or(0, |t| t.words),
            barcodes: p.barcodes.len(),
            patch: p.patch.as_ref().map(|c| c.kind),
        },
        Err(f) => Event::PageFailed {
            file: src.rel.clone(),
            page: frame + 1,
            stage: f.stage,
            reason: f.reason.clone(),
        },
    }
}

/// Gives memory the pages' work freed back to the system once the allocator holds more
/// than [`MAX_FREE_HELD`] of it. A page allocates buffers of 9-35 MB (decoded, cleaned,
/// turned, encoded); glibc raises its mmap threshold after the first such buffer is freed
/// and from then on serves them from its heaps, which fragment: resident memory crept up
/// by about 70 MB over 500 pages (`scripts/bench-memory.sh`). Measured alternatives:
/// `malloc_trim` after every page kept memory flat for 7 % more CPU (the next page faults
/// its buffers in again), a fixed 4 MB mmap threshold for 11 %, every 8th page did not
/// stop the creep.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// glibc's `struct mallinfo2`: ten `size_t` counters.
        #[repr(C)]
        struct MallInfo2 {
            arena: usize,
            ordblks: usize,
            smblks: usize,
            hblks: usize,
            hblkhd: usize,
            usmblks: usize,
            fsmblks: usize,
            uordblks: usize,
            fordblks: usize,
            keepcost: usize,
        }
        extern "C" {
            fn mallinfo2() -> MallInfo2;
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: both only read or return the allocator's own free memory.
        unsafe {
            if mallinfo2().fordblks > MAX_FREE_HELD {
                malloc_trim(0);
            }
        }
    }
}

/// Freed memory the allocator may keep before [`release_freed_memory`] trims it.
const MAX_FREE_HELD: usize = 96 << 20;

/// Runs one item's work so that a panic (a bug, or a decoder tripping over a hostile
/// file) becomes a quarantine reason for that item instead of ending the batch.
fn guarded<T>(work: impl FnOnce() -> Result<T, PageFailure>) -> Result<T, PageFailure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        Err(PageFailure {
            stage: Stage::Decode,
            reason: format!("internal error: {}", panic_message(&panic)),
        })
    })
}

/// The text of a caught panic, for the quarantine reason.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// `0007-letter_007`: the position of the file in the batch and its name, reduced to
/// characters safe in any file system and DMS.
pub fn document_id(index: usize, rel: &str) -> String {
    let stem = Path::new(rel)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!("{:04}-{}", index + 1, safe)
}

/// The text of a quarantined file's `.reason.txt` (`mailroom verify` rebuilds it).
pub fn reason_note(file: &str, stage: Stage, reason: &str, pages: usize) -> String {
    format!("file: {file}\nstage: {stage}\nreason: {reason}\npages: {pages}\n")
}

/// Copies a failed input into `<out>/quarantine/` with a `.reason.txt` beside it. An entry
/// that is not a regular file, or that cannot be opened any more (it vanished, or its
/// permissions forbid reading), gets the reason file only, and the reason says why there
/// is no copy; failing to write into the output folder ends the run.
fn quarantine(
    out: &Path,
    c: &Candidate,
    pages: usize,
    stage: Stage,
    reason: &str,
) -> Result<Quarantined> {
    let dir = out.join(QUARANTINE_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let flat = Quarantined::flat_name(&c.rel);
    let mut reason = reason.to_string();
    let mut copy = None;
    if c.kind == ingest::EntryKind::File {
        match std::fs::File::open(&c.path) {
            Ok(mut source) => {
                let path = dir.join(&flat);
                crate::fsutil::copy_atomic_from(&mut source, &path)
                    .with_context(|| format!("cannot copy {} into quarantine", c.path.display()))?;
                copy = Some(path);
            }
            Err(e) => {
                let why = ingest::io_reason(&e);
                reason = if reason.contains(&why) {
                    format!("{reason}; no copy kept")
                } else {
                    format!("{reason}; no copy kept: {why}")
                };
            }
        }
    }
    let note = reason_note(&c.rel, stage, &reason, pages);
    write_atomic(&dir.join(format!("{flat}.reason.txt")), note.as_bytes())?;
    let sha256 = copy
        .as_deref()
        .and_then(|p| crate::fsutil::sha256_file(p).ok());
    Ok(Quarantined {
        sha256,
        file: c.rel.clone(),
        stage,
        reason,
        pages,
        copy: copy.map(|_| format!("{QUARANTINE_DIR}/{flat}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ids_are_stable_and_safe() {
        assert_eq!(document_id(0, "letter_001.tif"), "0001-letter_001");
        assert_eq!(document_id(41, "sub/Brief Ärger.png"), "0042-Brief__rger");
    }

    #[test]
    fn spilled_images_load_back_as_they_were_and_the_work_folder_goes_with_the_run() {
        let out = tempfile::tempdir().unwrap();
        // a killed run's leftovers
        let leftover = out.path().join(WORK_DIR).join("000001-000000.img");
        std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
        std::fs::write(&leftover, b"old").unwrap();
        let work = WorkDir::create(out.path()).unwrap();
        assert!(work.0.is_dir() && !leftover.exists());

        let jpeg = EncodedImage {
            width: 3,
            height: 2,
            data: ImageData::Jpeg {
                bytes: vec![0xff, 0xd8, 1, 2, 3],
                rgb: true,
            },
        };
        let g4 = EncodedImage {
            width: 8,
            height: 1,
            data: ImageData::G4 {
                bytes: vec![0, 1, 0],
            },
        };
        let a = SpilledImage::spill(jpeg, work.0.join("a.img")).unwrap();
        let b = SpilledImage::spill(g4, work.0.join("b.img")).unwrap();
        assert_eq!((a.width, a.height, a.len), (3, 2, 5));
        match a.load().unwrap() {
            EncodedImage {
                width: 3,
                height: 2,
                data: ImageData::Jpeg { bytes, rgb: true },
            } => assert_eq!(bytes, [0xff, 0xd8, 1, 2, 3]),
            _ => panic!("the JPEG came back as something else"),
        }
        match b.load().unwrap() {
            EncodedImage {
                width: 8,
                height: 1,
                data: ImageData::G4 { bytes },
            } => assert_eq!(bytes, [0, 1, 0]),
            _ => panic!("the G4 image came back as something else"),
        }
        // a scratch file cut short is an error, never a shorter image
        std::fs::write(&b.path, [0]).unwrap();
        assert!(b.load().is_err());
        a.remove();
        assert!(!a.path.exists());

        // the OCR text waits on disk too; its counts stay for the log
        let text = PageText::from_tsv(
            "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
             5\t1\t1\t1\t1\t1\t10\t20\t30\t12\t91.5\tStraße\n\
             5\t1\t1\t1\t1\t2\t45\t20\t20\t12\t80\t61\n",
        );
        assert_eq!(text.word_count(), 2);
        let t = SpilledText::spill(&text, work.0.join("a.txt.json")).unwrap();
        assert_eq!((t.words, t.mean_confidence), (2, text.mean_confidence()));
        assert_eq!(t.load().unwrap(), text);
        t.remove();
        assert!(t.load().is_err());

        drop(work);
        assert!(!out.path().join(WORK_DIR).exists());
    }
}

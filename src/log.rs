//! The run's structured log: one JSON object per line (`<out>/log.jsonl`, or the file
//! given with `--log-json`), appended across the runs of an output folder.
//!
//! What happened to every item, for operators and their log tools: the run, each file
//! (probed or refused), each page (timings, flags, confidence and word count), each
//! document, each quarantined file, each delivery attempt and outcome, and the end of the
//! run with its exit code. It never holds document text (no words, no barcode contents,
//! no cover-sheet values) and never credentials: events carry only counts, names, hashes
//! and reasons, and every line is scrubbed of the delivery target's secrets before it is
//! written, in case a server echoes them in an error message.
//!
//! The journal (`journal.jsonl`) is a different thing: the fsynced resume record of the
//! delivery. This log is for reading; nothing in mailroom reads it back.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::cleanup::Flag;
use crate::deliver::engine::Outcome;
use crate::model::{Quarantined, Stage};
use crate::package::Timings;
use crate::pipeline::Observer;

/// The default log file inside the output folder.
pub const LOG_FILE: &str = "log.jsonl";

/// One line of the log, without the `ts` and `run_id` every line gets.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A `mailroom run` begins: packaging, or (`resume`) delivery of a packaged run.
    RunStarted {
        /// Every line carries the run id; this sets it for the lines that follow.
        #[serde(skip)]
        run_id: String,
        batch: String,
        out: String,
        profile: String,
        jobs: usize,
        resume: bool,
        mailroom_version: String,
    },
    /// A file was opened and its pages counted.
    FileProbed {
        file: String,
        format: crate::ingest::Format,
        pages: usize,
        bytes: u64,
        sha256: String,
    },
    /// A file could not be opened as a page source (it goes to quarantine).
    FileRefused {
        file: String,
        stage: Stage,
        reason: String,
    },
    /// A page went through decode, cleanup, OCR and image encoding.
    PageRead {
        file: String,
        /// 1-based page within the file.
        page: usize,
        timings_ms: PageTimings,
        blank: bool,
        flags: Vec<Flag>,
        /// Clockwise degrees the page was turned.
        rotation: u32,
        deskewed: bool,
        /// Mean OCR word confidence (0-100); absent for blank pages and pages without words.
        #[serde(skip_serializing_if = "Option::is_none")]
        confidence: Option<f32>,
        /// Words OCR found (0 for blank pages, which are not OCRed).
        words: usize,
        /// Barcodes found (their contents are not logged).
        barcodes: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        patch: Option<crate::patch::PatchType>,
    },
    /// A page failed; its file goes to quarantine.
    PageFailed {
        file: String,
        page: usize,
        stage: Stage,
        reason: String,
    },
    /// A document's PDF (if it has pages) and JSON were written.
    DocumentWritten {
        document: String,
        pages: usize,
        removed_pages: usize,
        /// `unit`, `clarification`, `unopened`, or `unrouted` with routing off.
        target: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// Relative to the output folder; absent when every page was removed.
        #[serde(skip_serializing_if = "Option::is_none")]
        pdf: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pdf_sha256: Option<String>,
        json: String,
    },
    /// An input file was set aside with a reason.
    Quarantined {
        file: String,
        stage: Stage,
        reason: String,
        pages: usize,
        copy: Option<String>,
    },
    /// Delivery of the documents without an outcome begins.
    DeliveryStarted { documents: usize },
    /// One attempt to deliver a document (or to look it up after an unknown outcome).
    DeliveryAttempt {
        document: String,
        attempt: u32,
        /// `delivered`, `found` (a lookup found it: not sent again) or `failed`.
        result: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        object_id: Option<String>,
        /// `transient` (retried), `rejected` (refused for good) or `fatal` (delivery stops).
        #[serde(skip_serializing_if = "Option::is_none")]
        error_class: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Where a document stands after this run's delivery.
    DeliveryDone {
        document: String,
        #[serde(flatten)]
        outcome: Outcome,
    },
    /// The run ended, with what `mailroom` exits with.
    RunFinished {
        exit_code: i32,
        #[serde(skip_serializing_if = "Option::is_none")]
        counts: Option<crate::report::Counts>,
        #[serde(skip_serializing_if = "Option::is_none")]
        delivery: Option<DeliveryCounts>,
        /// The error that ended the run early (exit codes 1, 2, 4).
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        elapsed_seconds: f64,
    },
}

/// Worker milliseconds one page spent per stage.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PageTimings {
    pub decode: u64,
    pub cleanup: u64,
    pub barcodes: u64,
    pub patch: u64,
    pub ocr: u64,
    pub encode: u64,
}

impl From<Timings> for PageTimings {
    fn from(t: Timings) -> PageTimings {
        PageTimings {
            decode: t.decode,
            cleanup: t.cleanup,
            barcodes: t.barcodes,
            patch: t.patch,
            ocr: t.ocr,
            encode: t.encode,
        }
    }
}

/// The delivery summary's counts (without the per-document outcomes).
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryCounts {
    pub target: String,
    pub documents: usize,
    pub delivered: usize,
    pub delivered_earlier: usize,
    pub found_after_unknown: usize,
    pub held: usize,
    pub rejected: usize,
    pub pending: usize,
    pub retries: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl DeliveryCounts {
    pub fn of(s: &crate::deliver::engine::DeliverySummary) -> DeliveryCounts {
        DeliveryCounts {
            target: s.target.clone(),
            documents: s.documents,
            delivered: s.delivered,
            delivered_earlier: s.delivered_earlier,
            found_after_unknown: s.found_after_unknown,
            held: s.held,
            rejected: s.rejected,
            pending: s.pending,
            retries: s.retries,
            stopped: s.stopped.clone(),
        }
    }
}

/// The log file, shared by the worker threads: one line per event, flushed at once, so a
/// run that dies leaves every event before it on disk. The file is opened with the first
/// event (the run's start), so a run refused before it starts leaves no log behind.
pub struct RunLog {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    file: Option<BufWriter<File>>,
    run_id: String,
    /// Strings that must never appear in the log (credentials), replaced by `***`.
    secrets: Vec<String>,
    /// The first write error; the run goes on without the log.
    error: Option<String>,
}

impl RunLog {
    pub fn new(path: &Path) -> RunLog {
        RunLog {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                file: None,
                run_id: String::new(),
                secrets: Vec::new(),
                error: None,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Values to scrub from every line (e.g. the DMS password and its Basic form).
    /// Values shorter than 4 characters are not scrubbed (they would mangle the log).
    pub fn scrub(&self, secrets: Vec<String>) {
        let mut s = self.lock();
        s.secrets = secrets.into_iter().filter(|v| v.len() >= 4).collect();
        // longer first, so that a secret containing another is replaced whole
        s.secrets.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// Whether any event was written (the run got as far as starting).
    pub fn started(&self) -> bool {
        self.lock().file.is_some()
    }

    /// The first error writing the log, if any.
    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one event.
    pub fn write(&self, event: &Event) {
        let mut s = self.lock();
        if s.error.is_some() {
            return;
        }
        if let Event::RunStarted { run_id, .. } = event {
            s.run_id = run_id.clone();
        }
        let line = match line(&crate::clock::Utc::now().rfc3339(), &s.run_id, event) {
            Ok(l) => l,
            Err(e) => {
                s.error = Some(format!("cannot encode a log event: {e}"));
                return;
            }
        };
        let line = redact(line, &s.secrets);
        if s.file.is_none() {
            match open(&self.path) {
                Ok(f) => s.file = Some(f),
                Err(e) => {
                    s.error = Some(format!("cannot open {}: {e}", self.path.display()));
                    return;
                }
            }
        }
        let Some(file) = s.file.as_mut() else { return };
        if let Err(e) = file
            .write_all(line.as_bytes())
            .and_then(|_| file.write_all(b"\n"))
            .and_then(|_| file.flush())
        {
            s.error = Some(format!("cannot write {}: {e}", self.path.display()));
        }
    }
}

fn open(path: &Path) -> std::io::Result<BufWriter<File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(BufWriter::new(file))
}

/// `{"ts":...,"run_id":...,"event":...,<fields>}`: time and run first, for people reading
/// the file.
fn line(ts: &str, run_id: &str, event: &Event) -> serde_json::Result<String> {
    let body = serde_json::to_string(event)?;
    let fields = body.strip_prefix('{').unwrap_or(&body);
    Ok(format!(
        "{{\"ts\":{},\"run_id\":{},{fields}",
        serde_json::to_string(ts)?,
        serde_json::to_string(run_id)?
    ))
}

/// Replaces every secret in the line (as written, and JSON-escaped) by `***`.
fn redact(mut line: String, secrets: &[String]) -> String {
    for secret in secrets {
        let escaped = serde_json::to_string(secret).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        for form in [secret.as_str(), escaped] {
            if !form.is_empty() && line.contains(form) {
                line = line.replace(form, "***");
            }
        }
    }
    line
}

/// An observer that writes the log and passes everything on to another observer (the
/// terminal's).
pub struct Logging<'a> {
    pub inner: &'a dyn Observer,
    pub log: &'a RunLog,
}

impl Observer for Logging<'_> {
    fn pages_found(&self, pages: usize) {
        self.inner.pages_found(pages);
    }

    fn page_done(&self) {
        self.inner.page_done();
    }

    fn quarantined(&self, q: &Quarantined) {
        self.inner.quarantined(q);
        self.log.write(&Event::Quarantined {
            file: q.file.clone(),
            stage: q.stage,
            reason: q.reason.clone(),
            pages: q.pages,
            copy: q.copy.clone(),
        });
    }

    fn delivery_started(&self, documents: usize) {
        self.inner.delivery_started(documents);
        self.log.write(&Event::DeliveryStarted { documents });
    }

    fn delivered(&self, document: &str, outcome: &Outcome) {
        self.inner.delivered(document, outcome);
        self.log.write(&Event::DeliveryDone {
            document: document.to_string(),
            outcome: outcome.clone(),
        });
    }

    fn event(&self, event: &Event) {
        self.inner.event(event);
        self.log.write(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn lines_are_json_with_time_run_and_event_first_and_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/log.jsonl");
        let log = RunLog::new(&path);
        assert!(!log.started());
        log.write(&Event::RunStarted {
            run_id: "R1".into(),
            batch: "/b".into(),
            out: "/o".into(),
            profile: "default".into(),
            jobs: 2,
            resume: false,
            mailroom_version: "0".into(),
        });
        log.write(&Event::FileRefused {
            file: "x.txt".into(),
            stage: Stage::Ingest,
            reason: "unknown format".into(),
        });
        assert!(log.started());
        drop(log);
        // a second run appends
        let log = RunLog::new(&path);
        log.write(&Event::DeliveryDone {
            document: "0001-a".into(),
            outcome: Outcome::Delivered {
                object_id: "42".into(),
                time: "t".into(),
                found: false,
            },
        });
        let lines = read(&path);
        assert_eq!(lines.len(), 3);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"ts\":\"20"), "{text}");
        assert!(text.contains(",\"run_id\":\"R1\",\"event\":\"run_started\","));
        assert_eq!(text.lines().next().unwrap().matches("run_id").count(), 1);
        assert_eq!(lines[1]["event"], "file_refused");
        assert_eq!(lines[1]["stage"], "ingest");
        assert_eq!(lines[1]["run_id"], "R1");
        assert_eq!(lines[2]["event"], "delivery_done");
        assert_eq!(lines[2]["status"], "delivered");
        assert_eq!(lines[2]["object_id"], "42");
    }

    #[test]
    fn secrets_are_scrubbed_even_inside_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let log = RunLog::new(&path);
        let basic = crate::lab::dms_server::base64_encode(b"post:S3cr\"et-Pw");
        log.scrub(vec!["S3cr\"et-Pw".into(), basic.clone(), "ab".into()]);
        log.write(&Event::DeliveryAttempt {
            document: "0001-a".into(),
            attempt: 1,
            result: "failed".into(),
            object_id: None,
            error_class: Some("fatal".into()),
            error: Some(format!(
                "HTTP 401: bad login S3cr\"et-Pw (Authorization: Basic {basic}) ab"
            )),
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("S3cr"), "{text}");
        assert!(!text.contains(&basic), "{text}");
        let lines = read(&path);
        assert_eq!(
            lines[0]["error"],
            "HTTP 401: bad login *** (Authorization: Basic ***) ab"
        );
    }

    #[test]
    fn an_unwritable_log_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let log = RunLog::new(&dir.path().join("file/log.jsonl"));
        log.write(&Event::DeliveryStarted { documents: 1 });
        assert!(log.error().is_some_and(|e| e.contains("cannot open")));
    }
}

//! One `mailroom run`: package the batch into the output folder, then deliver every
//! document to the profile's target; resumable at any point.
//!
//! The output folder's journal says where a run stands:
//! - no journal, empty folder: a fresh run;
//! - `started` without `packaged`: packaging was interrupted; nothing was delivered yet
//!   (delivery only starts after packaging), so packaging starts again from scratch;
//! - `packaged`: the documents are complete on disk; only delivery resumes, and the
//!   journal's receipts make sure nothing is delivered twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::clock::Utc;
use crate::config::Profile;
use crate::deliver::engine::{self, Item, Outcome};
use crate::deliver::journal::{self, Entry, Journal};
use crate::deliver::Destination;
use crate::fsutil::{sha256_hex, write_atomic};
use crate::log::Event;
use crate::package::transfer::Capture;
use crate::package::DocumentRecord;
use crate::pipeline::{self, Observer, RunRequest, REPORT_FILE};
use crate::report::RunReport;
use crate::routing::Target as Route;

/// The output folder cannot take this run (another batch, or delivered documents that
/// `--force` would deliver again): a usage error, not a failure of the run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OutputConflict(pub String);

/// Everything a run needs, as the command line gave it.
pub struct RunOptions {
    pub batch: PathBuf,
    pub out: PathBuf,
    pub profile: Profile,
    /// SHA-256 of the profile's text (of the built-in text for the default profile).
    pub profile_sha256: String,
    pub jobs: usize,
    pub force: bool,
    pub operator: String,
    pub station: String,
    pub scanner: String,
}

/// What happened to the output folder before this run.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Package from scratch (a new folder, an interrupted packaging, or `--force`).
    Package,
    /// Packaging is complete: deliver what is pending.
    Deliver { run_id: String },
}

/// Packages (unless done) and delivers; returns the final report, also written to
/// `<out>/report.json`.
pub fn run(opts: &RunOptions, observer: &dyn Observer) -> Result<RunReport> {
    let listing = crate::ingest::list_batch(&opts.batch)?;
    let batch = crate::fsutil::absolute(&opts.batch);
    let fingerprint = listing_fingerprint(&listing);
    if opts.out.exists() && !opts.out.is_dir() {
        return Err(OutputConflict(format!(
            "output {} exists and is not a folder",
            opts.out.display()
        ))
        .into());
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let _lock = lock_output(&opts.out)?;
    // an absolute folder target, so receipts name the same place from any directory
    let target = opts
        .profile
        .delivery
        .build(Path::new(&crate::fsutil::absolute(&opts.out)))?;
    let plan = plan(
        &opts.out,
        &batch,
        &fingerprint,
        opts.force,
        &target.describe(),
    )?;
    let mut report = match plan {
        Plan::Package => {
            clean(&opts.out, &opts.profile)?;
            let mut journal = Journal::open(&opts.out)?;
            let run_id = new_run_id();
            journal.append(Entry::Started {
                time: Utc::now().rfc3339(),
                run_id: run_id.clone(),
                batch: batch.clone(),
                listing_sha256: fingerprint,
                profile: opts.profile.name.clone(),
            })?;
            observer.event(&started_event(opts, &batch, &run_id, false));
            let req = RunRequest {
                batch: opts.batch.clone(),
                out: opts.out.clone(),
                profile: opts.profile.clone(),
                jobs: opts.jobs,
                capture: Capture {
                    operator: opts.operator.clone(),
                    station: opts.station.clone(),
                    scanner: opts.scanner.clone(),
                    time: Utc::now().rfc3339(),
                    software: format!("mailroom {}", crate::VERSION),
                    profile: opts.profile.name.clone(),
                    profile_sha256: opts.profile_sha256.clone(),
                    run_id,
                },
            };
            let report = pipeline::run(&req, observer)?;
            journal.append(Entry::Packaged {
                time: Utc::now().rfc3339(),
                documents: report.documents.len(),
                chain_head: crate::chain::head(&report.run_id, &report.chain),
            })?;
            report
        }
        Plan::Deliver { run_id } => {
            observer.event(&started_event(opts, &batch, &run_id, true));
            let report = read_report(&opts.out)?;
            if report.run_id != run_id {
                anyhow::bail!(
                    "{} belongs to run {}, the journal to run {run_id}",
                    opts.out.join(REPORT_FILE).display(),
                    report.run_id
                );
            }
            report
        }
    };

    let items = items(&opts.out, &report, &opts.profile)?;
    let mut journal = Journal::open(&opts.out)?;
    let summary = engine::deliver_all(
        target.as_ref(),
        &opts.profile.delivery,
        &mut journal,
        &opts.out,
        &items,
        &ObserverProgress(observer),
    )?;
    report.delivery = Some(summary);
    let bytes = serde_json::to_vec_pretty(&report)?;
    write_atomic(&opts.out.join(REPORT_FILE), &bytes)?;
    journal.append(Entry::Reported {
        time: Utc::now().rfc3339(),
        report_sha256: sha256_hex(&bytes),
    })?;
    report
        .check_conservation()
        .map_err(pipeline::AccountingError)?;
    Ok(report)
}

/// The log's first event of a run.
fn started_event(opts: &RunOptions, batch: &str, run_id: &str, resume: bool) -> Event {
    Event::RunStarted {
        run_id: run_id.to_string(),
        batch: batch.to_string(),
        out: crate::fsutil::absolute(&opts.out),
        profile: opts.profile.name.clone(),
        jobs: opts.jobs,
        resume,
        mailroom_version: crate::VERSION.to_string(),
    }
}

/// Passes delivery progress on to the run's observer.
struct ObserverProgress<'a>(&'a dyn Observer);

impl engine::Progress for ObserverProgress<'_> {
    fn started(&self, documents: usize) {
        self.0.delivery_started(documents);
    }
    fn attempted(&self, document: &str, attempt: u32, result: &engine::Attempt) {
        use crate::deliver::DeliveryError;
        let (result, object_id, class, error) = match result {
            engine::Attempt::Delivered { receipt, found } => (
                if *found { "found" } else { "delivered" },
                Some(receipt.object_id.clone()),
                None,
                None,
            ),
            engine::Attempt::Failed(e) => {
                let class = match e {
                    DeliveryError::Transient { .. } => "transient",
                    DeliveryError::Rejected { .. } => "rejected",
                    DeliveryError::Fatal { .. } => "fatal",
                };
                ("failed", None, Some(class.to_string()), Some(e.to_string()))
            }
        };
        self.0.event(&Event::DeliveryAttempt {
            document: document.to_string(),
            attempt,
            result: result.to_string(),
            object_id,
            error_class: class,
            error,
        });
    }
    fn done(&self, document: &str, outcome: &Outcome) {
        self.0.delivered(document, outcome);
    }
}

/// Holds the output folder for this run. A second `mailroom run` on the same folder while
/// this one runs (the command started twice, or run again before the first ended) would
/// package over its documents and deliver them a second time. The lock is an exclusive
/// `flock` on the folder itself, released by the kernel when the process ends, however
/// it ends (SIGKILL included), so a crashed run never leaves a stale lock behind.
fn lock_output(out: &Path) -> Result<std::fs::File> {
    let dir = std::fs::File::open(out).with_context(|| format!("cannot open {}", out.display()))?;
    match dir.try_lock() {
        Ok(()) => Ok(dir),
        Err(std::fs::TryLockError::WouldBlock) => Err(OutputConflict(format!(
            "output folder {} is in use by another mailroom run; run the command again when that one has ended (it resumes where it stands), or choose another folder",
            out.display()
        ))
        .into()),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock the output folder {}", out.display()))
        }
    }
}

/// Decides what to do with the output folder.
fn plan(out: &Path, batch: &str, fingerprint: &str, force: bool, target: &str) -> Result<Plan> {
    let Some(entries) = Journal::read(out)? else {
        let non_empty = out.is_dir()
            && std::fs::read_dir(out)
                .with_context(|| format!("cannot read {}", out.display()))?
                .next()
                .is_some();
        if non_empty && !force {
            return Err(OutputConflict(format!(
                "output folder {} is not empty and holds no mailroom journal; choose an empty folder or pass --force to replace a previous run's output",
                out.display()
            ))
            .into());
        }
        return Ok(Plan::Package);
    };
    let started = entries.iter().rev().find_map(|e| match e {
        Entry::Started {
            batch,
            listing_sha256,
            run_id,
            ..
        } => Some((batch, listing_sha256, run_id)),
        _ => None,
    });
    let delivered = journal::states(&entries)
        .values()
        .filter(|s| matches!(s, journal::DocState::Delivered(_)))
        .count();
    if force {
        if delivered > 0 {
            return Err(OutputConflict(format!(
                "{delivered} documents of {} were already delivered; --force would package and deliver them again under new ids. Choose a new output folder",
                out.display()
            ))
            .into());
        }
        return Ok(Plan::Package);
    }
    let Some((their_batch, their_listing, run_id)) = started else {
        return Ok(Plan::Package);
    };
    if their_batch != batch {
        return Err(OutputConflict(format!(
            "output folder {} holds the run of batch {their_batch}; choose another folder for {batch}",
            out.display()
        ))
        .into());
    }
    if their_listing != fingerprint {
        return Err(OutputConflict(format!(
            "the files of batch {batch} changed since the run in {} began (added, removed or resized); use a new output folder",
            out.display()
        ))
        .into());
    }
    if let Some(other) = entries.iter().find_map(|e| match e {
        Entry::Delivering { target: t, .. } if t != target => Some(t),
        _ => None,
    }) {
        if delivered > 0 {
            return Err(OutputConflict(format!(
                "the documents of {} went to {other}; this profile delivers to {target}. Use a new output folder to deliver to a second target",
                out.display()
            ))
            .into());
        }
    }
    let report = out.join(REPORT_FILE).is_file();
    if journal::packaged(&entries) && report {
        Ok(Plan::Deliver {
            run_id: run_id.clone(),
        })
    } else if delivered > 0 {
        // packaging again would give the documents new ids and deliver them twice
        Err(OutputConflict(format!(
            "{delivered} documents of {} were delivered, but {} is missing; restore it from a backup, or use a new output folder",
            out.display(),
            out.join(REPORT_FILE).display()
        ))
        .into())
    } else {
        Ok(Plan::Package)
    }
}

/// Removes what packaging writes (and the folder target's folder inside the output,
/// which cannot hold deliveries when packaging starts again).
fn clean(out: &Path, profile: &Profile) -> Result<()> {
    let mut dirs = vec![
        out.join(pipeline::DOCUMENTS_DIR),
        out.join(pipeline::QUARANTINE_DIR),
        out.join(pipeline::EVIDENCE_DIR),
    ];
    let folder = &profile.delivery.folder.path;
    if profile.delivery.target == crate::deliver::TargetKind::Folder && folder.is_relative() {
        dirs.push(out.join(folder));
    }
    for d in dirs {
        if d.is_dir() {
            std::fs::remove_dir_all(&d)
                .with_context(|| format!("cannot remove {}", d.display()))?;
        }
    }
    let r = out.join(REPORT_FILE);
    if r.exists() {
        std::fs::remove_file(&r).with_context(|| format!("cannot remove {}", r.display()))?;
    }
    Ok(())
}

fn read_report(out: &Path) -> Result<RunReport> {
    let path = out.join(REPORT_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a run report", path.display()))
}

/// The documents with a PDF, read back from the output folder, in document order.
fn items(out: &Path, report: &RunReport, profile: &Profile) -> Result<Vec<Item>> {
    let unit_names: BTreeMap<&str, &str> = profile
        .routing
        .units
        .iter()
        .map(|u| (u.code.as_str(), u.name.as_str()))
        .collect();
    let received = report.started.get(..10).unwrap_or("").to_string();
    let mut items = Vec::new();
    for d in &report.documents {
        let Some(pdf) = &d.pdf else { continue };
        let json = out.join(&d.json);
        let bytes =
            std::fs::read(&json).with_context(|| format!("cannot read {}", json.display()))?;
        let record: DocumentRecord = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a document record", json.display()))?;
        let destination = match record.routing.as_ref().map(|r| &r.target) {
            None => Destination::Unrouted,
            Some(Route::Clarification) => Destination::Clarification,
            Some(Route::Unopened) => Destination::Unopened,
            Some(Route::Unit { unit }) => Destination::Unit {
                code: unit.clone(),
                name: unit_names
                    .get(unit.as_str())
                    .unwrap_or(&unit.as_str())
                    .to_string(),
                dms: record.routing.as_ref().and_then(|r| r.dms.clone()),
            },
        };
        let fields = fields(&record, &destination, &received);
        items.push(Item {
            mailroom_id: record.mailroom_id.clone(),
            pdf: out.join(pdf),
            json,
            destination,
            fields,
            record,
        });
    }
    Ok(items)
}

/// The index data under mailroom's names (see `deliver::field_names`).
fn fields(record: &DocumentRecord, dest: &Destination, received: &str) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        if !v.is_empty() {
            f.insert(k.to_string(), v);
        }
    };
    put("mailroom_id", record.mailroom_id.clone());
    put("document_id", record.id.clone());
    put("title", record.id.clone());
    put("received", received.to_string());
    put("created", record.created.clone());
    put("pages", record.pages.len().to_string());
    put(
        "route",
        match dest {
            Destination::Unit { .. } => "unit",
            Destination::Clarification => "clarification",
            Destination::Unopened => "unopened",
            Destination::Unrouted => "unrouted",
        }
        .to_string(),
    );
    if let Destination::Unit { code, name, .. } = dest {
        put("unit", code.clone());
        put("unit_name", name.clone());
    }
    if let Some(r) = &record.routing {
        put("document_type", r.document_type.clone().unwrap_or_default());
        for (k, v) in &r.fields {
            put(&format!("field.{k}"), v.clone());
        }
    }
    if let Some(c) = &record.separation.cover_sheet {
        put("case", c.case.clone().unwrap_or_default());
    }
    put(
        "pdf_sha256",
        record
            .pdf
            .as_ref()
            .map(|p| p.sha256.clone())
            .unwrap_or_default(),
    );
    f
}

/// `20261129T031500Z-1a2b3c`: the start time and 24 random bits.
fn new_run_id() -> String {
    let now = Utc::now().rfc3339();
    let compact: String = now.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let mut bytes = [0u8; 3];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !random {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            ^ std::process::id();
        bytes.copy_from_slice(&nanos.to_le_bytes()[..3]);
    }
    format!("{compact}-{}", crate::fsutil::hex(&bytes))
}

/// A fingerprint of the batch's file list: relative paths and sizes.
fn listing_fingerprint(listing: &crate::ingest::Listing) -> String {
    let mut text = String::new();
    for c in &listing.candidates {
        let size = std::fs::symlink_metadata(&c.path)
            .map(|m| m.len())
            .unwrap_or(0);
        text.push_str(&format!("{}\t{size}\n", c.rel));
    }
    sha256_hex(text.as_bytes())
}

/// Whether a run report says anything is left to do or look at.
pub fn pending(report: &RunReport) -> usize {
    report.delivery.as_ref().map_or(0, |d| d.pending)
}

/// Documents the target refused (in quarantine).
pub fn rejected(report: &RunReport) -> usize {
    report.delivery.as_ref().map_or(0, |d| {
        d.outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Rejected { .. }))
            .count()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::Receipt;

    fn started(batch: &str, listing: &str) -> Entry {
        Entry::Started {
            time: "t".into(),
            run_id: "r1".into(),
            batch: batch.into(),
            listing_sha256: listing.into(),
            profile: "p".into(),
        }
    }

    fn write(out: &Path, entries: &[Entry]) {
        let mut j = Journal::open(out).unwrap();
        for e in entries {
            j.append(e.clone()).unwrap();
        }
    }

    fn conflict(r: Result<Plan>) -> String {
        let e = r.unwrap_err();
        assert!(e.is::<OutputConflict>(), "{e:#}");
        e.to_string()
    }

    #[test]
    fn the_journal_decides_between_packaging_resuming_and_refusing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let t = "folder /x";
        assert_eq!(plan(out, "/b", "l", false, t).unwrap(), Plan::Package);
        std::fs::write(out.join("other.txt"), "x").unwrap();
        assert!(conflict(plan(out, "/b", "l", false, t)).contains("--force"));
        assert_eq!(plan(out, "/b", "l", true, t).unwrap(), Plan::Package);
        std::fs::remove_file(out.join("other.txt")).unwrap();

        // interrupted packaging: package again
        write(out, &[started("/b", "l")]);
        assert_eq!(plan(out, "/b", "l", false, t).unwrap(), Plan::Package);
        assert!(conflict(plan(out, "/c", "l", false, t)).contains("batch /b"));
        assert!(conflict(plan(out, "/b", "changed", false, t)).contains("changed"));

        // packaged, report present: resume delivery
        write(
            out,
            &[Entry::Packaged {
                time: "t".into(),
                documents: 1,
                chain_head: "h".into(),
            }],
        );
        std::fs::write(out.join(REPORT_FILE), "{}").unwrap();
        assert_eq!(
            plan(out, "/b", "l", false, t).unwrap(),
            Plan::Deliver {
                run_id: "r1".into()
            }
        );
        assert_eq!(plan(out, "/b", "l", true, t).unwrap(), Plan::Package);

        // once delivered: no --force, no target switch, no repackaging without the report
        write(
            out,
            &[
                Entry::Delivering {
                    time: "t".into(),
                    target: t.into(),
                },
                Entry::Delivered {
                    document: "d".into(),
                    receipt: Receipt {
                        target: t.into(),
                        object_id: "1".into(),
                        time: "t".into(),
                    },
                    found: false,
                },
            ],
        );
        assert!(conflict(plan(out, "/b", "l", true, t)).contains("already delivered"));
        assert!(conflict(plan(out, "/b", "l", false, "enaio https://dms/")).contains("folder /x"));
        std::fs::remove_file(out.join(REPORT_FILE)).unwrap();
        assert!(conflict(plan(out, "/b", "l", false, t)).contains("missing"));
    }

    #[test]
    fn an_output_folder_in_use_is_refused_until_its_run_ends() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_output(dir.path()).unwrap();
        let e = lock_output(dir.path()).unwrap_err();
        assert!(e.is::<OutputConflict>(), "{e:#}");
        assert!(
            e.to_string().contains("in use by another mailroom run"),
            "{e}"
        );
        drop(held);
        lock_output(dir.path()).unwrap();
    }

    #[test]
    fn run_ids_are_time_stamped_and_differ() {
        let a = new_run_id();
        let b = new_run_id();
        assert_ne!(a, b);
        assert!(
            a.starts_with("20") && a.contains('T') && a.len() == 23,
            "{a}"
        );
    }
}

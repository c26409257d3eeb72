//! The delivery loop: documents in order, one at a time, each journalled before it is
//! sent and after the target confirmed; retries with exponential backoff and jitter on
//! transient failures, a lookup before every attempt whose predecessor may have reached
//! the target, quarantine for documents the target refuses, and a clean stop (everything
//! left pending, said in one sentence) when the target stays down.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::journal::{DocState, Entry, Journal};
use super::{DeliveryError, DeliverySettings, Destination, Parcel, Receipt, Target};
use crate::clock::Utc;
use crate::package::DocumentRecord;

/// One document to deliver, read back from the output folder.
pub struct Item {
    pub mailroom_id: String,
    pub record: DocumentRecord,
    pub pdf: PathBuf,
    pub json: PathBuf,
    pub destination: Destination,
    pub fields: BTreeMap<String, String>,
}

impl Item {
    /// The item as the target sees it.
    pub fn parcel(&self) -> Parcel<'_> {
        Parcel {
            mailroom_id: &self.mailroom_id,
            record: &self.record,
            pdf: &self.pdf,
            json: &self.json,
            destination: &self.destination,
            fields: &self.fields,
        }
    }
}

/// Where a document stands after a delivery run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The target holds it; `found` if the receipt came from a lookup.
    Delivered {
        object_id: String,
        time: String,
        found: bool,
    },
    /// The target does not take it (confidential mail): hand delivery.
    Held { reason: String },
    /// The target refused it; a copy is in quarantine.
    Rejected { reason: String },
    /// Not delivered yet; the next run delivers it.
    Pending,
}

/// The delivery part of the run report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeliverySummary {
    pub target: String,
    /// Documents with a PDF to deliver.
    pub documents: usize,
    /// Documents the target holds (delivered by this run or an earlier one).
    pub delivered: usize,
    /// Of those, delivered by an earlier run of this output folder.
    pub delivered_earlier: usize,
    /// Of those, found in the target after an attempt with unknown outcome (not sent again).
    pub found_after_unknown: usize,
    pub held: usize,
    pub rejected: usize,
    pub pending: usize,
    /// Attempts that failed and were retried.
    pub retries: usize,
    /// Why delivery stopped before the end, if it did.
    pub stopped: Option<String>,
    /// Every document's outcome, by document id.
    pub outcomes: BTreeMap<String, Outcome>,
}

/// What one attempt at a document came to.
#[derive(Debug)]
pub enum Attempt<'a> {
    /// The target holds it: sent now, or `found` by a lookup after an unknown outcome.
    Delivered {
        receipt: &'a Receipt,
        found: bool,
    },
    Failed(&'a DeliveryError),
}

/// Told about the delivery as it goes (e.g. a progress bar, the run's log).
pub trait Progress {
    /// Delivery of `documents` documents begins (those without a final outcome yet).
    fn started(&self, _documents: usize) {}
    /// One attempt (1-based) at a document ended.
    fn attempted(&self, _document: &str, _attempt: u32, _result: &Attempt) {}
    /// A document's delivery ended.
    fn done(&self, _document: &str, _outcome: &Outcome) {}
}

/// No progress reporting.
pub struct Quiet;
impl Progress for Quiet {}

/// Delivers `items` in order. Returns the summary; errors only when the journal or the
/// output folder cannot be written (then nothing more can be proven).
pub fn deliver_all(
    target: &dyn Target,
    settings: &DeliverySettings,
    journal: &mut Journal,
    out: &Path,
    items: &[Item],
    progress: &dyn Progress,
) -> Result<DeliverySummary> {
    let states = journal.states();
    let mut summary = DeliverySummary {
        target: target.describe(),
        documents: items.len(),
        ..DeliverySummary::default()
    };
    let mut todo = Vec::new();
    for item in items {
        let id = &item.record.id;
        match states.get(id) {
            Some(DocState::Delivered(r)) => {
                summary.delivered_earlier += 1;
                summary.outcomes.insert(id.clone(), delivered(r, false));
            }
            Some(DocState::Rejected(reason)) => {
                summary.outcomes.insert(
                    id.clone(),
                    Outcome::Rejected {
                        reason: reason.clone(),
                    },
                );
            }
            Some(DocState::Held(reason)) => {
                summary.outcomes.insert(
                    id.clone(),
                    Outcome::Held {
                        reason: reason.clone(),
                    },
                );
            }
            state => todo.push((item, state == Some(&DocState::Unknown))),
        }
    }
    if !todo.is_empty() {
        progress.started(todo.len());
        journal.append(Entry::Delivering {
            time: Utc::now().rfc3339(),
            target: summary.target.clone(),
        })?;
        let mut backoff = Backoff::new(settings);
        if let Err(e) = retrying(
            &mut backoff,
            settings.attempts,
            &mut summary.retries,
            || target.check(),
        ) {
            summary.stopped = Some(format!("{} is not available: {e}", summary.target));
        }
        for (item, unknown) in todo {
            let id = &item.record.id;
            let outcome = if summary.stopped.is_some() {
                Outcome::Pending
            } else {
                deliver_one(
                    target,
                    settings,
                    journal,
                    out,
                    item,
                    unknown,
                    &mut summary,
                    progress,
                )?
            };
            progress.done(id, &outcome);
            summary.outcomes.insert(id.clone(), outcome);
        }
    }
    for o in summary.outcomes.values() {
        match o {
            Outcome::Delivered { found, .. } => {
                summary.delivered += 1;
                if *found {
                    summary.found_after_unknown += 1;
                }
            }
            Outcome::Held { .. } => summary.held += 1,
            Outcome::Rejected { .. } => summary.rejected += 1,
            Outcome::Pending => summary.pending += 1,
        }
    }
    Ok(summary)
}

fn delivered(r: &Receipt, found: bool) -> Outcome {
    Outcome::Delivered {
        object_id: r.object_id.clone(),
        time: r.time.clone(),
        found,
    }
}

/// One document: look up first if an earlier attempt may have reached the target, then
/// send; retry transient failures; stop the whole run on a fatal one or when the
/// attempts are used up.
#[allow(clippy::too_many_arguments)]
fn deliver_one(
    target: &dyn Target,
    settings: &DeliverySettings,
    journal: &mut Journal,
    out: &Path,
    item: &Item,
    mut unknown: bool,
    summary: &mut DeliverySummary,
    progress: &dyn Progress,
) -> Result<Outcome> {
    let id = &item.record.id;
    let parcel = item.parcel();
    if !target.takes(&item.destination) {
        let reason = format!(
            "{} mail is not sent to {}: deliver it by hand",
            item.destination.label(),
            summary.target
        );
        journal.append(Entry::Held {
            time: Utc::now().rfc3339(),
            document: id.clone(),
            reason: reason.clone(),
        })?;
        return Ok(Outcome::Held { reason });
    }
    let mut backoff = Backoff::new(settings);
    let mut last_error = String::new();
    for attempt in 1..=settings.attempts {
        if attempt > 1 {
            summary.retries += 1;
            backoff.wait(attempt - 1);
        }
        let looked_up = if unknown {
            target.find(&parcel)
        } else {
            Ok(None)
        };
        let result = match looked_up {
            Ok(Some(receipt)) => Ok((receipt, true)),
            Err(e) => Err(e),
            Ok(None) => {
                journal.append(Entry::Sending {
                    time: Utc::now().rfc3339(),
                    document: id.clone(),
                    attempt,
                })?;
                target.deliver(&parcel).map(|r| (r, false))
            }
        };
        progress.attempted(
            id,
            attempt,
            &match &result {
                Ok((receipt, found)) => Attempt::Delivered {
                    receipt,
                    found: *found,
                },
                Err(e) => Attempt::Failed(e),
            },
        );
        match result {
            Ok((receipt, found)) => {
                journal.append(Entry::Delivered {
                    document: id.clone(),
                    receipt: receipt.clone(),
                    found,
                })?;
                return Ok(delivered(&receipt, found));
            }
            Err(DeliveryError::Transient {
                reason,
                retry_after,
            }) => {
                unknown = true;
                backoff.server_asked(retry_after);
                journal.append(Entry::Failed {
                    time: Utc::now().rfc3339(),
                    document: id.clone(),
                    attempt,
                    reason: reason.clone(),
                })?;
                last_error = reason;
            }
            Err(DeliveryError::Rejected { reason }) => {
                quarantine(out, item, &reason)?;
                journal.append(Entry::Rejected {
                    time: Utc::now().rfc3339(),
                    document: id.clone(),
                    reason: reason.clone(),
                })?;
                return Ok(Outcome::Rejected { reason });
            }
            Err(DeliveryError::Fatal { reason }) => {
                journal.append(Entry::Failed {
                    time: Utc::now().rfc3339(),
                    document: id.clone(),
                    attempt,
                    reason: reason.clone(),
                })?;
                summary.stopped =
                    Some(format!("{} refused the delivery: {reason}", summary.target));
                return Ok(Outcome::Pending);
            }
        }
    }
    summary.stopped = Some(format!(
        "{} did not take {id} after {} attempts: {last_error}",
        summary.target, settings.attempts
    ));
    Ok(Outcome::Pending)
}

/// Runs `op` until it succeeds, is not transient, or the attempts are used up.
fn retrying(
    backoff: &mut Backoff,
    attempts: u32,
    retries: &mut usize,
    mut op: impl FnMut() -> std::result::Result<(), DeliveryError>,
) -> std::result::Result<(), DeliveryError> {
    let mut attempt = 1;
    loop {
        match op() {
            Err(DeliveryError::Transient { retry_after, .. }) if attempt < attempts => {
                backoff.server_asked(retry_after);
                backoff.wait(attempt);
                *retries += 1;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Copies a refused document into `<out>/quarantine/` with the target's reason.
fn quarantine(out: &Path, item: &Item, reason: &str) -> Result<()> {
    let dir = out.join(crate::pipeline::QUARANTINE_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let id = &item.record.id;
    for (src, ext) in [(&item.pdf, "pdf"), (&item.json, "json")] {
        crate::fsutil::copy_atomic(src, &dir.join(format!("{id}.{ext}")))
            .with_context(|| format!("cannot copy {} into quarantine", src.display()))?;
    }
    let note = format!(
        "document: {id}\nstage: deliver\nreason: {reason}\npages: {}\n",
        item.record.pages.len()
    );
    crate::fsutil::write_atomic(&dir.join(format!("{id}.reason.txt")), note.as_bytes())
}

/// Exponential backoff with "equal jitter": the n-th wait is between half and all of
/// `min(max, base * 2^(n-1))`, at least what the server asked for (Retry-After, up to
/// five minutes).
struct Backoff {
    base: u64,
    max: u64,
    asked: Option<Duration>,
    seed: u64,
}

impl Backoff {
    fn new(s: &DeliverySettings) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ u64::from(std::process::id()) << 32;
        Backoff {
            base: s.backoff_ms.max(1),
            max: s.backoff_max_ms.max(s.backoff_ms.max(1)),
            asked: None,
            seed: seed | 1,
        }
    }

    fn server_asked(&mut self, after: Option<Duration>) {
        self.asked = after.map(|d| d.min(Duration::from_secs(300)));
    }

    fn delay(&mut self, n: u32) -> Duration {
        let full = self
            .base
            .saturating_mul(1u64 << (n.saturating_sub(1)).min(30))
            .min(self.max);
        // xorshift64: jitter only, no need for a strong generator
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let half = full / 2;
        let ms = half + self.seed % (full - half + 1);
        let own = Duration::from_millis(ms);
        match self.asked.take() {
            Some(asked) if asked > own => asked,
            _ => own,
        }
    }

    fn wait(&mut self, n: u32) {
        std::thread::sleep(self.delay(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_respects_the_cap_and_retry_after() {
        let s = DeliverySettings {
            backoff_ms: 100,
            backoff_max_ms: 1000,
            ..DeliverySettings::default()
        };
        let mut b = Backoff::new(&s);
        for _ in 0..50 {
            let d1 = b.delay(1).as_millis();
            assert!((50..=100).contains(&d1), "{d1}");
            let d3 = b.delay(3).as_millis();
            assert!((200..=400).contains(&d3), "{d3}");
            let d9 = b.delay(9).as_millis();
            assert!((500..=1000).contains(&d9), "{d9}");
        }
        b.server_asked(Some(Duration::from_secs(7)));
        assert_eq!(b.delay(1), Duration::from_secs(7));
        assert!(
            b.delay(1) < Duration::from_secs(1),
            "Retry-After applies once"
        );
        b.server_asked(Some(Duration::from_secs(100_000)));
        assert_eq!(b.delay(1), Duration::from_secs(300));
    }
}

//! The delivery journal: an append-only file of JSON lines in the output folder, each
//! line written and fsynced before the step it records counts as done.
//!
//! A document counts as delivered only when a `delivered` line with the target's
//! receipt is on disk. A `sending` line without a later outcome means the process died
//! (or the connection broke) after the request may have reached the target: the next
//! attempt looks the document up in the target before it inserts again.
//!
//! A crash can leave the last line half-written; it is cut off when the journal is
//! opened again (its step was not done). Any other damaged line is an error: the journal
//! is evidence and is never repaired silently.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::Receipt;

pub const JOURNAL_FILE: &str = "journal.jsonl";

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    /// A run began packaging the batch into this folder.
    Started {
        time: String,
        run_id: String,
        /// The batch folder, absolute.
        batch: String,
        /// SHA-256 over the batch's file list (paths and sizes): a resume refuses a
        /// batch that changed.
        listing_sha256: String,
        profile: String,
    },
    /// Packaging finished and `report.json` lists the documents; `chain_head` is the
    /// last hash of the report's hash chain.
    Packaged {
        time: String,
        documents: usize,
        chain_head: String,
    },
    /// `report.json` was (re)written with this hash: `mailroom verify` compares.
    Reported { time: String, report_sha256: String },
    /// A delivery run began (the first, or a resume).
    Delivering { time: String, target: String },
    /// About to send a document; its outcome is unknown until a later line says.
    Sending {
        time: String,
        document: String,
        attempt: u32,
    },
    /// The target confirmed. `found`: the receipt came from a lookup after an attempt
    /// whose outcome was unknown, not from an insert.
    Delivered {
        document: String,
        receipt: Receipt,
        found: bool,
    },
    /// An attempt failed in a way worth retrying (or the run stopped).
    Failed {
        time: String,
        document: String,
        attempt: u32,
        reason: String,
    },
    /// The target refused the document for good; it went to quarantine.
    Rejected {
        time: String,
        document: String,
        reason: String,
    },
    /// The target does not take this document (confidential mail for hand delivery).
    Held {
        time: String,
        document: String,
        reason: String,
    },
}

/// Where one document stands, from the journal.
#[derive(Debug, Clone, PartialEq)]
pub enum DocState {
    /// Never sent.
    Pending,
    /// Sent at least once without an outcome: look it up before sending again.
    Unknown,
    Delivered(Receipt),
    Rejected(String),
    Held(String),
}

/// The journal of one output folder, open for appending.
pub struct Journal {
    path: PathBuf,
    file: File,
    entries: Vec<Entry>,
}

impl Journal {
    /// Opens (or creates) `<out>/journal.jsonl`, reading what is there.
    pub fn open(out: &Path) -> Result<Journal> {
        let path = out.join(JOURNAL_FILE);
        let existed = path.exists();
        let entries = if existed {
            read_entries(&path)?
        } else {
            Vec::new()
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open the journal {}", path.display()))?;
        if !existed {
            sync_dir(out)?;
        }
        Ok(Journal {
            path,
            file,
            entries,
        })
    }

    /// Reads the journal of a folder without opening it for writing (`None` if absent).
    pub fn read(out: &Path) -> Result<Option<Vec<Entry>>> {
        let path = out.join(JOURNAL_FILE);
        if !path.exists() {
            return Ok(None);
        }
        read_entries_tolerant(&path).map(Some)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Appends one line and waits until it is on disk.
    pub fn append(&mut self, entry: Entry) -> Result<()> {
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("cannot write the journal {}", self.path.display()))?;
        self.entries.push(entry);
        Ok(())
    }

    /// The run id of the packaging recorded here, if any.
    pub fn run_id(&self) -> Option<&str> {
        run_id(&self.entries)
    }

    /// Where each document stands.
    pub fn states(&self) -> BTreeMap<String, DocState> {
        states(&self.entries)
    }
}

/// The run id of the last `started` entry.
pub fn run_id(entries: &[Entry]) -> Option<&str> {
    entries.iter().rev().find_map(|e| match e {
        Entry::Started { run_id, .. } => Some(run_id.as_str()),
        _ => None,
    })
}

/// Whether packaging finished (a `packaged` entry after the last `started`).
pub fn packaged(entries: &[Entry]) -> bool {
    let start = entries
        .iter()
        .rposition(|e| matches!(e, Entry::Started { .. }));
    entries
        .iter()
        .enumerate()
        .any(|(i, e)| matches!(e, Entry::Packaged { .. }) && start.is_none_or(|s| i > s))
}

/// Where each document stands; documents the journal never mentions are not listed.
pub fn states(entries: &[Entry]) -> BTreeMap<String, DocState> {
    let mut map: BTreeMap<String, DocState> = BTreeMap::new();
    for e in entries {
        match e {
            Entry::Sending { document, .. } => {
                let s = map.entry(document.clone()).or_insert(DocState::Pending);
                if *s == DocState::Pending {
                    *s = DocState::Unknown;
                }
            }
            Entry::Delivered {
                document, receipt, ..
            } => {
                map.insert(document.clone(), DocState::Delivered(receipt.clone()));
            }
            Entry::Rejected {
                document, reason, ..
            } => {
                map.insert(document.clone(), DocState::Rejected(reason.clone()));
            }
            Entry::Held {
                document, reason, ..
            } => {
                map.insert(document.clone(), DocState::Held(reason.clone()));
            }
            Entry::Started { .. }
            | Entry::Reported { .. }
            | Entry::Packaged { .. }
            | Entry::Delivering { .. }
            | Entry::Failed { .. } => {}
        }
    }
    map
}

/// Reads the entries for appending: a torn last line (a crash in the middle of a write)
/// is cut off the file; any other bad line is an error.
fn read_entries(path: &Path) -> Result<Vec<Entry>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the journal {}", path.display()))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < bytes.len() {
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot repair the journal {}", path.display()))?;
        f.set_len(complete as u64)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot cut the torn last line of {}", path.display()))?;
    }
    parse(&bytes[..complete], path)
}

/// Reads the entries without changing the file (a torn last line is ignored).
fn read_entries_tolerant(path: &Path) -> Result<Vec<Entry>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the journal {}", path.display()))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    parse(&bytes[..complete], path)
}

fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(e) => entries.push(e),
            Err(e) => bail!(
                "the journal {} is damaged at line {}: {e}; it is evidence of what was delivered, so mailroom will not guess",
                path.display(),
                n + 1
            ),
        }
    }
    Ok(entries)
}

/// Makes a new directory entry durable (the file's name, not only its bytes).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync folder {}", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(id: &str) -> Receipt {
        Receipt {
            target: "folder x".into(),
            object_id: id.into(),
            time: "t".into(),
        }
    }

    #[test]
    fn states_follow_the_last_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        for e in [
            Entry::Sending {
                time: "t".into(),
                document: "a".into(),
                attempt: 1,
            },
            Entry::Delivered {
                document: "a".into(),
                receipt: receipt("1"),
                found: false,
            },
            Entry::Sending {
                time: "t".into(),
                document: "b".into(),
                attempt: 1,
            },
            Entry::Rejected {
                time: "t".into(),
                document: "c".into(),
                reason: "422".into(),
            },
        ] {
            j.append(e).unwrap();
        }
        let again = Journal::open(dir.path()).unwrap();
        let s = again.states();
        assert_eq!(s["a"], DocState::Delivered(receipt("1")));
        assert_eq!(s["b"], DocState::Unknown);
        assert_eq!(s["c"], DocState::Rejected("422".into()));
        assert!(!s.contains_key("d"));
    }

    #[test]
    fn a_torn_last_line_is_cut_but_a_damaged_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(JOURNAL_FILE);
        let good = serde_json::to_string(&Entry::Held {
            time: "t".into(),
            document: "a".into(),
            reason: "r".into(),
        })
        .unwrap();
        std::fs::write(&p, format!("{good}\n{{\"event\":\"deliv")).unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.entries().len(), 1);
        j.append(Entry::Held {
            time: "t".into(),
            document: "b".into(),
            reason: "r".into(),
        })
        .unwrap();
        assert_eq!(Journal::open(dir.path()).unwrap().entries().len(), 2);

        std::fs::write(&p, format!("{good}\nnot json\n{good}\n")).unwrap();
        let e = Journal::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn packaging_counts_only_after_the_last_start() {
        let start = Entry::Started {
            time: "t".into(),
            run_id: "r1".into(),
            batch: "b".into(),
            listing_sha256: "l".into(),
            profile: "p".into(),
        };
        let done = Entry::Packaged {
            time: "t".into(),
            documents: 1,
            chain_head: "h".into(),
        };
        assert!(!packaged(std::slice::from_ref(&start)));
        assert!(packaged(&[start.clone(), done.clone()]));
        assert!(!packaged(&[start.clone(), done, start.clone()]));
        assert_eq!(run_id(&[start]), Some("r1"));
    }
}

//! Delivery: hands every packaged document to its target exactly once.
//!
//! One trait, [`Target`], for every kind of target: a local folder (the default), the
//! enaio DMS (REST, two API variants) and Mayan EDMS. The [`engine`] walks the packaged
//! documents in order and, for each, writes its intent to the batch's append-only
//! [`journal`] before it sends, and the target's receipt after the target confirmed;
//! only a journalled receipt makes a document count as delivered. A rerun reads the
//! journal: delivered documents are skipped, and a document whose last attempt has no
//! receipt (killed or timed out after sending) is first looked up in the target by its
//! mailroom id (`Target::find`) instead of being inserted again.

pub mod credentials;
pub mod enaio;
pub mod engine;
pub mod folder;
pub mod http;
pub mod journal;
pub mod mayan;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::package::DocumentRecord;
use crate::routing::rules::DmsTarget;

/// One packaged document on its way to a target.
pub struct Parcel<'a> {
    /// Unique across runs and batches: `<run id>-<document id>`. Stored with the document
    /// in the target (a metadata field), so that a document whose delivery outcome is
    /// unknown can be found again instead of being inserted twice.
    pub mailroom_id: &'a str,
    /// The document's JSON sidecar as written by the package stage.
    pub record: &'a DocumentRecord,
    /// The searchable PDF and the JSON sidecar in the output folder.
    pub pdf: &'a Path,
    pub json: &'a Path,
    /// Where routing sent the document.
    pub destination: &'a Destination,
    /// Index data under mailroom's own names (see [`field_names`]); targets map them to
    /// their field names in the profile.
    pub fields: &'a BTreeMap<String, String>,
}

/// mailroom's names for the index data of a parcel, and what they hold.
pub fn field_names() -> &'static [(&'static str, &'static str)] {
    &[
        (
            "mailroom_id",
            "unique id of the delivery (run id and document id)",
        ),
        (
            "document_id",
            "document id within the batch, e.g. 0003-letter_003",
        ),
        (
            "title",
            "document title (the document id unless a rule sets one)",
        ),
        ("received", "date the batch was scanned, YYYY-MM-DD"),
        ("created", "time the document was packaged, RFC 3339"),
        ("pages", "number of pages in the PDF"),
        (
            "unit",
            "code of the organisation unit, e.g. 61 (empty if not routed to one)",
        ),
        ("unit_name", "name of the organisation unit"),
        ("route", "unit, clarification, unopened or unrouted"),
        ("document_type", "document type set by the routing rule"),
        ("case", "case reference (Aktenzeichen) from the cover sheet"),
        ("pdf_sha256", "SHA-256 of the PDF"),
        (
            "field.<name>",
            "a value a routing rule extracted, e.g. field.aktenzeichen",
        ),
    ]
}

/// Where a document goes, as routing decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An organisation unit, with the DMS location its unit or rule names.
    Unit {
        code: String,
        name: String,
        dms: Option<DmsTarget>,
    },
    /// Routing was unsure: a person decides.
    Clarification,
    /// Confidential mail for hand delivery: never sent to a DMS.
    Unopened,
    /// Routing is off in the profile.
    Unrouted,
}

impl Destination {
    /// Short label for messages and folder names: the unit code, or the kind.
    pub fn label(&self) -> &str {
        match self {
            Destination::Unit { code, .. } => code,
            Destination::Clarification => "clarification",
            Destination::Unopened => "unopened",
            Destination::Unrouted => "unrouted",
        }
    }
}

/// Proof that a target holds a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The target as described by `Target::describe`.
    pub target: String,
    /// The target's id of the new object (a DMS object id, or a path for a folder).
    pub object_id: String,
    /// When the target confirmed, RFC 3339.
    pub time: String,
}

/// Why a delivery attempt failed, which decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again: no connection, timeout, HTTP 5xx or 429. The request may have
    /// reached the target, so the next attempt looks the document up first.
    #[error("{reason}")]
    Transient {
        reason: String,
        /// The server asked to wait this long (Retry-After).
        retry_after: Option<Duration>,
    },
    /// The target refused this document (HTTP 4xx other than auth): retrying cannot
    /// help. The document goes to quarantine with this message (the server's words).
    #[error("{reason}")]
    Rejected { reason: String },
    /// The target cannot take any document as configured (credentials refused, unknown
    /// object type, missing setting): delivery stops, everything stays pending.
    #[error("{reason}")]
    Fatal { reason: String },
}

impl DeliveryError {
    pub fn transient(reason: impl Into<String>) -> DeliveryError {
        DeliveryError::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }
    pub fn rejected(reason: impl Into<String>) -> DeliveryError {
        DeliveryError::Rejected {
            reason: reason.into(),
        }
    }
    pub fn fatal(reason: impl Into<String>) -> DeliveryError {
        DeliveryError::Fatal {
            reason: reason.into(),
        }
    }
}

/// A place documents are delivered to. Implementations must be idempotent in `find`:
/// after `deliver` returned (or was interrupted after sending), `find` with the same
/// parcel must return the receipt of the object it created.
pub trait Target: Send + Sync {
    /// Short description for messages, the journal and receipts, e.g.
    /// `folder /srv/post` or `enaio https://dms.example/`. Never contains credentials.
    fn describe(&self) -> String;

    /// Checks once, before the first document, that the target is reachable and takes
    /// our credentials and settings.
    fn check(&self) -> Result<(), DeliveryError>;

    /// Whether this target takes documents for `destination`. Remote DMS targets do not
    /// take confidential mail (`Unopened`): it is delivered by hand.
    fn takes(&self, destination: &Destination) -> bool {
        !matches!(destination, Destination::Unopened)
    }

    /// Looks for the object an earlier attempt created for this parcel (by its mailroom
    /// id); `None` when there is none.
    fn find(&self, parcel: &Parcel) -> Result<Option<Receipt>, DeliveryError>;

    /// Delivers the parcel and returns the target's receipt once the target confirmed.
    fn deliver(&self, parcel: &Parcel) -> Result<Receipt, DeliveryError>;
}

/// The `[delivery]` section of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    /// `folder` (default), `enaio` or `mayan`.
    pub target: TargetKind,
    /// Attempts per document before the run stops with it pending.
    pub attempts: u32,
    /// First wait between attempts; doubles each time, with jitter, up to `backoff_max_ms`.
    pub backoff_ms: u64,
    pub backoff_max_ms: u64,
    /// Timeout of one request to a DMS, in seconds.
    pub timeout_s: u64,
    pub folder: folder::FolderSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enaio: Option<enaio::EnaioSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mayan: Option<mayan::MayanSettings>,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            target: TargetKind::Folder,
            attempts: 6,
            backoff_ms: 500,
            backoff_max_ms: 30_000,
            timeout_s: 60,
            folder: folder::FolderSettings::default(),
            enaio: None,
            mayan: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Folder,
    Enaio,
    Mayan,
}

impl DeliverySettings {
    /// Checks what can be checked without contacting the target.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.attempts == 0 {
            anyhow::bail!("delivery.attempts must be at least 1");
        }
        if self.timeout_s == 0 {
            anyhow::bail!("delivery.timeout_s must be at least 1");
        }
        match self.target {
            TargetKind::Folder => Ok(()),
            TargetKind::Enaio => self.enaio.as_ref().map(|_| ()).ok_or_else(|| {
                anyhow::anyhow!("delivery.target is enaio but [delivery.enaio] is missing")
            }),
            TargetKind::Mayan => self.mayan.as_ref().map(|_| ()).ok_or_else(|| {
                anyhow::anyhow!("delivery.target is mayan but [delivery.mayan] is missing")
            }),
        }
    }

    /// The secrets of the configured target's credentials (see `Credentials::secrets`),
    /// for logs to scrub; empty for the folder target or when none can be loaded.
    pub fn secrets(&self) -> Vec<String> {
        let file = match self.target {
            TargetKind::Folder => return Vec::new(),
            TargetKind::Enaio => self
                .enaio
                .as_ref()
                .and_then(|e| e.credentials_file.as_deref()),
            TargetKind::Mayan => self
                .mayan
                .as_ref()
                .and_then(|m| m.credentials_file.as_deref()),
        };
        match credentials::Credentials::load(file) {
            Ok(Some(c)) => c.secrets(),
            _ => Vec::new(),
        }
    }

    /// Builds the configured target. `out` is the run's output folder (a relative folder
    /// target lies inside it).
    pub fn build(&self, out: &Path) -> anyhow::Result<Box<dyn Target>> {
        self.validate()?;
        let timeout = Duration::from_secs(self.timeout_s);
        Ok(match self.target {
            TargetKind::Folder => Box::new(folder::FolderTarget::new(&self.folder, out)),
            TargetKind::Enaio => Box::new(enaio::EnaioTarget::new(
                self.enaio.as_ref().expect("validated"),
                timeout,
            )?),
            TargetKind::Mayan => Box::new(mayan::MayanTarget::new(
                self.mayan.as_ref().expect("validated"),
                timeout,
            )?),
        })
    }
}

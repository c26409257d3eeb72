//! The Mayan EDMS target: each document becomes a Mayan document of one document type,
//! with the PDF as its file, index data as Mayan metadata, and a place in a cabinet
//! (optionally one cabinet per unit below a parent cabinet), over Mayan's REST API
//! (`/api/v4/`, token authentication).
//!
//! One delivery, in the order that keeps every partial state recoverable:
//! 1. upload (`documents/upload/`): document type, label = the document id, the PDF, and a
//!    description line `mailroom_id: <mailroom id>`. Mayan creates the document at once
//!    and attaches the file in its worker; the description marks the document as ours
//!    from its first moment, before any metadata exists.
//! 2. metadata, the mailroom id first; each value is added, or corrected if present.
//! 3. the cabinet (created on demand for a unit).
//! 4. wait (bounded) until the worker attached the file and made it the active version.
//! 5. read back: metadata values, cabinet membership, document type and label, and the
//!    SHA-256 of the downloaded file must equal what was sent; a difference is an error.
//!
//! `find` looks for the document an interrupted attempt created, and finishes steps 2-5
//! on it, so that a document is never uploaded twice. It does not use Mayan's search:
//! search (and the API's list filters, which go through the search backend) reads an
//! index that Mayan's worker updates in the background, so a document uploaded just
//! before a crash may not be in it yet, and "not found" would mean "upload again", a
//! duplicate. Instead `find` lists the documents of the document type straight from the
//! database, newest first (`_ordering=-id`), and stops at documents created well before
//! the parcel was packaged (no attempt for it can be older). Among those, a document is
//! ours when its label is the document id and its description carries our mailroom id
//! or its `id_metadata` holds it. The cost is one page of 100 documents per 100
//! documents of that type uploaded since the parcel was packaged, paid only after an
//! attempt whose outcome is unknown.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::credentials::Credentials;
use super::{http, DeliveryError, Destination, Parcel, Receipt, Target};
use crate::clock::Utc;

/// Documents created this long before the parcel was packaged are not looked at by
/// `find`: room for clocks of mailroom's host and Mayan's server that disagree.
const FIND_CLOCK_MARGIN_S: i64 = 24 * 3600;
/// Page size of list requests (Mayan's maximum).
const PAGE_SIZE: usize = 100;

/// `[delivery.mayan]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MayanSettings {
    /// Base URL of the Mayan REST API, e.g. `http://127.0.0.1:8731/api/v4/`.
    pub url: String,
    /// The document type of every delivered document: its label (a string) or its id
    /// (a number).
    pub document_type: DocumentTypeRef,
    /// Mayan metadata type (its name) -> mailroom field name (see `mailroom profile`).
    /// Every type must be attached to the document type in Mayan. (`fields` is taken
    /// as another name for this table, as the other targets call it.)
    #[serde(default, alias = "fields")]
    pub metadata: BTreeMap<String, String>,
    /// The metadata type that holds the mailroom id.
    #[serde(default = "default_id_metadata")]
    pub id_metadata: String,
    /// The cabinet documents go into: its full path as Mayan shows it (`Posteingang`, or
    /// `Post / Eingang` for a cabinet below another). None: no cabinet.
    #[serde(default)]
    pub cabinet: Option<String>,
    /// Put each document into a cabinet below `cabinet` named by its unit code
    /// (`clarification` for the clarification queue), created when first needed.
    #[serde(default)]
    pub cabinet_per_unit: bool,
    /// Language of the documents (ISO 639-3), as Mayan records it.
    #[serde(default = "default_language")]
    pub language: String,
    /// How long to wait for Mayan's worker to attach an uploaded file, in seconds.
    #[serde(default = "default_attach_timeout_s")]
    pub attach_timeout_s: u64,
    /// A 0600 file with `token = ...` (or `user`/`password`); else `MAILROOM_DMS_TOKEN`.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// A PEM CA certificate for a server with an in-house CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// A document type by label or by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DocumentTypeRef {
    Id(u64),
    Label(String),
}

impl std::fmt::Display for DocumentTypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocumentTypeRef::Id(id) => write!(f, "id {id}"),
            DocumentTypeRef::Label(label) => write!(f, "`{label}`"),
        }
    }
}

fn default_id_metadata() -> String {
    "mailroom_id".into()
}
fn default_language() -> String {
    "deu".into()
}
fn default_attach_timeout_s() -> u64 {
    120
}

impl MayanSettings {
    /// Checks what can be checked without contacting Mayan.
    pub fn validate(&self) -> anyhow::Result<()> {
        let url = self.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            anyhow::bail!("delivery.mayan.url must start with http:// or https://");
        }
        if self.id_metadata.trim().is_empty() {
            anyhow::bail!("delivery.mayan.id_metadata must name a metadata type");
        }
        if self.metadata.contains_key(&self.id_metadata) {
            anyhow::bail!(
                "delivery.mayan.metadata maps `{}`, which holds the mailroom id (id_metadata)",
                self.id_metadata
            );
        }
        if self.cabinet_per_unit && self.cabinet.is_none() {
            anyhow::bail!("delivery.mayan.cabinet_per_unit needs the parent `cabinet`");
        }
        if self.attach_timeout_s == 0 {
            anyhow::bail!("delivery.mayan.attach_timeout_s must be at least 1");
        }
        Ok(())
    }
}

/// What the settings name, as ids in this Mayan.
#[derive(Debug)]
struct Resolved {
    document_type_id: u64,
    /// Metadata type name -> id.
    metadata_types: BTreeMap<String, u64>,
    /// The configured cabinet's id.
    cabinet_id: Option<u64>,
}

pub struct MayanTarget {
    /// The API base, ending in `/`.
    api: String,
    settings: MayanSettings,
    client: Client,
    credentials: Credentials,
    resolved: Mutex<Option<Arc<Resolved>>>,
    /// Unit cabinet label -> id, below the configured cabinet.
    unit_cabinets: Mutex<HashMap<String, u64>>,
}

// ------------------------------------------------------------------ Mayan's JSON

#[derive(Debug, Deserialize)]
struct ListPage<T> {
    next: Option<String>,
    results: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct DocumentType {
    id: u64,
    label: String,
}

#[derive(Debug, Deserialize)]
struct MetadataType {
    id: u64,
    name: String,
}

#[derive(Debug, Deserialize)]
struct DocumentTypeMetadataType {
    metadata_type: MetadataType,
}

#[derive(Debug, Deserialize)]
struct Cabinet {
    id: u64,
    label: String,
    full_path: String,
    parent_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Document {
    id: u64,
    label: String,
    #[serde(default)]
    description: Option<String>,
    datetime_created: String,
    document_type: IdOnly,
    file_latest: Option<IdOnly>,
    version_active: Option<IdOnly>,
}

#[derive(Debug, Deserialize)]
struct DocumentMetadata {
    id: u64,
    metadata_type: MetadataType,
    value: Option<String>,
}

// ------------------------------------------------------------------ the target

impl MayanTarget {
    pub fn new(settings: &MayanSettings, timeout: Duration) -> anyhow::Result<MayanTarget> {
        settings.validate()?;
        let credentials = Credentials::load(settings.credentials_file.as_deref())?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no Mayan credentials: set {} (an API token) or delivery.mayan.credentials_file",
                    super::credentials::ENV_TOKEN
                )
            })?;
        let mut api = settings.url.trim().to_string();
        if !api.ends_with('/') {
            api.push('/');
        }
        Ok(MayanTarget {
            api,
            settings: settings.clone(),
            client: http::client(timeout, settings.ca_file.as_deref())?,
            credentials,
            resolved: Mutex::new(None),
            unit_cabinets: Mutex::new(HashMap::new()),
        })
    }

    // -------------------------------------------------------------- HTTP helpers

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.api, path)
    }

    fn send(&self, req: RequestBuilder, what: &str) -> Result<Response, DeliveryError> {
        http::send(
            http::authorize(
                req.header("Accept", "application/json"),
                Some(&self.credentials),
            ),
            what,
        )
    }

    fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, DeliveryError> {
        let resp = self.send(self.client.get(self.url(path)), what)?;
        parse(resp, what)
    }

    fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<T, DeliveryError> {
        let resp = self.send(self.client.post(self.url(path)).json(body), what)?;
        parse(resp, what)
    }

    /// Every item of a list endpoint, page by page.
    fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<Vec<T>, DeliveryError> {
        let mut items = Vec::new();
        for page in 1.. {
            let sep = if path.contains('?') { '&' } else { '?' };
            let p: ListPage<T> = self.get(
                &format!("{path}{sep}page_size={PAGE_SIZE}&page={page}"),
                what,
            )?;
            items.extend(p.results);
            if p.next.is_none() {
                break;
            }
        }
        Ok(items)
    }

    // -------------------------------------------------------------- settings -> ids

    /// The ids of what the settings name, looked up once.
    fn resolved(&self) -> Result<Arc<Resolved>, DeliveryError> {
        let mut slot = self.resolved.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = slot.as_ref() {
            return Ok(Arc::clone(r));
        }
        let r = Arc::new(self.resolve()?);
        *slot = Some(Arc::clone(&r));
        Ok(r)
    }

    fn resolve(&self) -> Result<Resolved, DeliveryError> {
        let s = &self.settings;
        // A wrong URL often answers with an HTML page: that is a setting, not a hiccup.
        let not_mayan = |e: DeliveryError| match e {
            DeliveryError::Transient { ref reason, .. } if reason.contains("not JSON") => {
                DeliveryError::fatal(format!("{reason}: is {} Mayan's API?", self.api))
            }
            other => other,
        };
        let types: Vec<DocumentType> = self
            .list_all("document_types/", "list document types")
            .map_err(not_mayan)?;
        let document_type_id = types
            .iter()
            .find(|t| match &s.document_type {
                DocumentTypeRef::Id(id) => t.id == *id,
                DocumentTypeRef::Label(label) => &t.label == label,
            })
            .map(|t| t.id)
            .ok_or_else(|| {
                DeliveryError::fatal(format!(
                    "Mayan has no document type {} (delivery.mayan.document_type)",
                    s.document_type
                ))
            })?;
        let attached: Vec<DocumentTypeMetadataType> = self.list_all(
            &format!("document_types/{document_type_id}/metadata_types/"),
            "list the document type's metadata types",
        )?;
        let mut metadata_types = BTreeMap::new();
        for name in std::iter::once(&s.id_metadata).chain(s.metadata.keys()) {
            let t = attached
                .iter()
                .find(|a| &a.metadata_type.name == name)
                .ok_or_else(|| {
                    DeliveryError::fatal(format!(
                        "metadata type `{name}` is not attached to Mayan document type {} \
                         (or does not exist)",
                        s.document_type
                    ))
                })?;
            metadata_types.insert(name.clone(), t.metadata_type.id);
        }
        let cabinet_id = match &s.cabinet {
            None => None,
            Some(path) => {
                let cabinets: Vec<Cabinet> = self.list_all("cabinets/", "list cabinets")?;
                let found = cabinets
                    .iter()
                    .find(|c| &c.full_path == path)
                    .ok_or_else(|| {
                        DeliveryError::fatal(format!(
                            "Mayan has no cabinet `{path}` (delivery.mayan.cabinet)"
                        ))
                    })?;
                Some(found.id)
            }
        };
        Ok(Resolved {
            document_type_id,
            metadata_types,
            cabinet_id,
        })
    }

    /// The cabinet a parcel goes into, created below the configured one when needed.
    fn cabinet_for(
        &self,
        resolved: &Resolved,
        destination: &Destination,
    ) -> Result<Option<u64>, DeliveryError> {
        let Some(parent) = resolved.cabinet_id else {
            return Ok(None);
        };
        let Some(label) = unit_cabinet_label(self.settings.cabinet_per_unit, destination) else {
            return Ok(Some(parent));
        };
        let mut cache = self.unit_cabinets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = cache.get(&label) {
            return Ok(Some(*id));
        }
        let find = |target: &MayanTarget| -> Result<Option<u64>, DeliveryError> {
            let cabinets: Vec<Cabinet> = target.list_all("cabinets/", "list cabinets")?;
            Ok(cabinets
                .iter()
                .find(|c| c.parent_id == Some(parent) && c.label == label)
                .map(|c| c.id))
        };
        let id = match find(self)? {
            Some(id) => id,
            None => {
                let body = serde_json::json!({ "label": label, "parent": parent });
                match self.post_json::<IdOnly>("cabinets/", &body, "create a unit cabinet") {
                    Ok(c) => c.id,
                    // another process created it in the meantime (labels are unique
                    // below a parent)
                    Err(DeliveryError::Rejected { reason }) => find(self)?.ok_or_else(|| {
                        DeliveryError::rejected(format!("cabinet `{label}`: {reason}"))
                    })?,
                    Err(e) => return Err(e),
                }
            }
        };
        cache.insert(label, id);
        Ok(Some(id))
    }

    // -------------------------------------------------------------- one document

    /// Index data of the parcel as (metadata type name, value), the mailroom id first;
    /// fields without a value are left out.
    fn wanted_metadata(&self, parcel: &Parcel) -> Vec<(String, String)> {
        wanted_metadata(&self.settings, parcel.mailroom_id, parcel.fields)
    }

    fn upload(
        &self,
        resolved: &Resolved,
        parcel: &Parcel,
        pdf: Vec<u8>,
    ) -> Result<u64, DeliveryError> {
        let file_name = parcel
            .pdf
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{}.pdf", parcel.record.id));
        let part = multipart::Part::bytes(pdf)
            .file_name(file_name)
            .mime_str("application/pdf")
            .map_err(|e| DeliveryError::fatal(format!("multipart: {e}")))?;
        let form = multipart::Form::new()
            .text("document_type_id", resolved.document_type_id.to_string())
            .text("label", parcel.record.id.clone())
            .text("description", id_marker(parcel.mailroom_id))
            .text("language", self.settings.language.clone())
            .part("file", part);
        let resp = self.send(
            self.client
                .post(self.url("documents/upload/"))
                .multipart(form),
            "upload the document",
        )?;
        let doc: IdOnly = parse(resp, "upload the document")?;
        Ok(doc.id)
    }

    /// Steps 2-5 on a document that holds (or will hold) this parcel's file.
    fn complete(
        &self,
        resolved: &Resolved,
        parcel: &Parcel,
        document_id: u64,
        pdf_sha256: &str,
    ) -> Result<Receipt, DeliveryError> {
        let wanted = self.wanted_metadata(parcel);
        self.set_metadata(resolved, document_id, &wanted)?;
        let cabinet = self.cabinet_for(resolved, parcel.destination)?;
        if let Some(cabinet) = cabinet {
            let body = serde_json::json!({ "document": document_id });
            self.send(
                self.client
                    .post(self.url(&format!("cabinets/{cabinet}/documents/add/")))
                    .json(&body),
                "add the document to its cabinet",
            )?;
        }
        let doc = self.wait_for_file(document_id)?;
        self.verify(resolved, parcel, &doc, &wanted, cabinet, pdf_sha256)?;
        Ok(Receipt {
            target: self.describe(),
            object_id: document_id.to_string(),
            time: Utc::now().rfc3339(),
        })
    }

    fn document_metadata(&self, document_id: u64) -> Result<Vec<DocumentMetadata>, DeliveryError> {
        self.list_all(
            &format!("documents/{document_id}/metadata/"),
            "read the document's metadata",
        )
    }

    /// Adds each wanted value, or corrects a value that is there (an earlier attempt, or
    /// an empty entry Mayan adds for a required type).
    fn set_metadata(
        &self,
        resolved: &Resolved,
        document_id: u64,
        wanted: &[(String, String)],
    ) -> Result<(), DeliveryError> {
        let present = self.document_metadata(document_id)?;
        for (name, value) in wanted {
            let type_id = resolved.metadata_types[name];
            match present.iter().find(|m| m.metadata_type.id == type_id) {
                Some(m) if m.value.as_deref() == Some(value.as_str()) => {}
                Some(m) => {
                    let body = serde_json::json!({ "value": value });
                    self.send(
                        self.client
                            .patch(self.url(&format!("documents/{document_id}/metadata/{}/", m.id)))
                            .json(&body),
                        &format!("set metadata {name}"),
                    )?;
                }
                None => {
                    let body = serde_json::json!({ "metadata_type_id": type_id, "value": value });
                    self.send(
                        self.client
                            .post(self.url(&format!("documents/{document_id}/metadata/")))
                            .json(&body),
                        &format!("add metadata {name}"),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Polls until Mayan's worker attached the file and made it the active version.
    fn wait_for_file(&self, document_id: u64) -> Result<Document, DeliveryError> {
        let limit = Duration::from_secs(self.settings.attach_timeout_s);
        let start = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let doc: Document =
                self.get(&format!("documents/{document_id}/"), "read the document")?;
            if doc.file_latest.is_some() && doc.version_active.is_some() {
                return Ok(doc);
            }
            if start.elapsed() >= limit {
                return Err(DeliveryError::transient(format!(
                    "Mayan did not attach the file to document {document_id} within {} s \
                     (is its worker running?)",
                    limit.as_secs()
                )));
            }
            std::thread::sleep(pause.min(limit.saturating_sub(start.elapsed())));
            pause = (pause * 3 / 2).min(Duration::from_secs(2));
        }
    }

    /// Reads the document back and compares it with what was sent.
    fn verify(
        &self,
        resolved: &Resolved,
        parcel: &Parcel,
        doc: &Document,
        wanted: &[(String, String)],
        cabinet: Option<u64>,
        pdf_sha256: &str,
    ) -> Result<(), DeliveryError> {
        let id = doc.id;
        let mut problems = Vec::new();
        if doc.document_type.id != resolved.document_type_id {
            problems.push(format!(
                "document type {} instead of {}",
                doc.document_type.id, resolved.document_type_id
            ));
        }
        if doc.label != parcel.record.id {
            problems.push(format!(
                "label `{}` instead of `{}`",
                doc.label, parcel.record.id
            ));
        }
        let present = self.document_metadata(id)?;
        for (name, value) in wanted {
            let got = present
                .iter()
                .find(|m| &m.metadata_type.name == name)
                .and_then(|m| m.value.as_deref());
            if got != Some(value.as_str()) {
                problems.push(format!(
                    "metadata {name} is {} instead of `{value}`",
                    got.map_or_else(|| "missing".to_string(), |g| format!("`{g}`"))
                ));
            }
        }
        if let Some(cabinet) = cabinet {
            let cabinets: Vec<IdOnly> = self.list_all(
                &format!("documents/{id}/cabinets/"),
                "read the document's cabinets",
            )?;
            if !cabinets.iter().any(|c| c.id == cabinet) {
                problems.push(format!("not in cabinet {cabinet}"));
            }
        }
        let file_id = doc.file_latest.as_ref().map(|f| f.id).unwrap_or_default();
        let mut resp = self.send(
            self.client
                .get(self.url(&format!("documents/{id}/files/{file_id}/download/"))),
            "download the document's file",
        )?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut resp, &mut hasher)
            .map_err(|e| DeliveryError::transient(format!("download the document's file: {e}")))?;
        let got = crate::fsutil::hex(&hasher.finalize());
        if got != pdf_sha256 {
            problems.push(format!("its file has SHA-256 {got}, the PDF {pdf_sha256}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(DeliveryError::rejected(format!(
                "Mayan document {id} differs from what was sent: {}",
                problems.join("; ")
            )))
        }
    }

    /// A document this target created that will not be finished: into Mayan's trash
    /// (recoverable there), so that the DMS does not keep a half-delivered copy of a
    /// document that goes to quarantine. Says what happened, for the reason.
    fn discard(&self, document_id: u64) -> String {
        match self.send(
            self.client
                .delete(self.url(&format!("documents/{document_id}/"))),
            "move the document to the trash",
        ) {
            Ok(_) => format!("Mayan document {document_id} was moved to the trash"),
            Err(e) => format!("Mayan document {document_id} is left in place: {e}"),
        }
    }

    /// Documents of the document type that belong to this parcel, oldest first.
    fn candidates(&self, resolved: &Resolved, parcel: &Parcel) -> Result<Vec<u64>, DeliveryError> {
        let horizon = unix_seconds(&parcel.record.created).map(|t| t - FIND_CLOCK_MARGIN_S);
        let marker = id_marker(parcel.mailroom_id);
        let mut ours = Vec::new();
        for page in 1.. {
            let p: ListPage<Document> = self.get(
                &format!(
                    "document_types/{}/documents/?_ordering=-id&page_size={PAGE_SIZE}&page={page}",
                    resolved.document_type_id
                ),
                "list the document type's documents",
            )?;
            let mut older = false;
            for doc in &p.results {
                if let (Some(h), Some(t)) = (horizon, unix_seconds(&doc.datetime_created)) {
                    if t < h {
                        older = true;
                        continue;
                    }
                }
                if doc.label != parcel.record.id {
                    continue;
                }
                let marked = doc
                    .description
                    .as_deref()
                    .is_some_and(|d| d.lines().any(|l| l.trim() == marker));
                let ours_by_metadata = || -> Result<bool, DeliveryError> {
                    Ok(self.document_metadata(doc.id)?.iter().any(|m| {
                        m.metadata_type.name == self.settings.id_metadata
                            && m.value.as_deref() == Some(parcel.mailroom_id)
                    }))
                };
                if marked || ours_by_metadata()? {
                    ours.push(doc.id);
                }
            }
            if older || p.next.is_none() {
                break;
            }
        }
        ours.sort_unstable();
        Ok(ours)
    }
}

impl Target for MayanTarget {
    fn describe(&self) -> String {
        format!("mayan {}", self.api)
    }

    fn check(&self) -> Result<(), DeliveryError> {
        // an authenticated request first: its failure says more than a lookup's
        self.send(
            self.client.get(self.url("document_types/?page_size=1")),
            "sign in to Mayan",
        )?;
        self.resolved().map(|_| ())
    }

    fn find(&self, parcel: &Parcel) -> Result<Option<Receipt>, DeliveryError> {
        let resolved = self.resolved()?;
        let Some(&document_id) = self.candidates(&resolved, parcel)?.first() else {
            return Ok(None);
        };
        let sha = pdf_sha256(parcel.pdf)?;
        self.complete(&resolved, parcel, document_id, &sha)
            .map(Some)
            .map_err(|e| match e {
                DeliveryError::Rejected { reason } => {
                    DeliveryError::rejected(format!("{reason}; {}", self.discard(document_id)))
                }
                other => other,
            })
    }

    fn deliver(&self, parcel: &Parcel) -> Result<Receipt, DeliveryError> {
        let resolved = self.resolved()?;
        let pdf = std::fs::read(parcel.pdf).map_err(|e| {
            DeliveryError::transient(format!("cannot read {}: {e}", parcel.pdf.display()))
        })?;
        let sha = crate::fsutil::sha256_hex(&pdf);
        let document_id = self.upload(&resolved, parcel, pdf)?;
        // From here on the document exists: a transient failure leaves it for `find`
        // to finish; a refusal takes it out again.
        self.complete(&resolved, parcel, document_id, &sha)
            .map_err(|e| match e {
                DeliveryError::Rejected { reason } => {
                    DeliveryError::rejected(format!("{reason}; {}", self.discard(document_id)))
                }
                other => other,
            })
    }
}

// ------------------------------------------------------------------ pure helpers

fn parse<T: DeserializeOwned>(resp: Response, what: &str) -> Result<T, DeliveryError> {
    let body = resp.bytes().map_err(|e| http::transport_error(what, &e))?;
    serde_json::from_slice(&body).map_err(|e| {
        DeliveryError::transient(format!("{what}: the answer is not JSON as expected ({e})"))
    })
}

fn pdf_sha256(path: &Path) -> Result<String, DeliveryError> {
    crate::fsutil::sha256_file(path)
        .map_err(|e| DeliveryError::transient(format!("cannot read {}: {e}", path.display())))
}

/// The description line that marks a document as this delivery's from its upload on.
fn id_marker(mailroom_id: &str) -> String {
    format!("mailroom_id: {mailroom_id}")
}

/// The child cabinet a destination goes into, when there is one.
fn unit_cabinet_label(per_unit: bool, destination: &Destination) -> Option<String> {
    if !per_unit {
        return None;
    }
    match destination {
        Destination::Unit { code, .. } => Some(code.clone()),
        Destination::Clarification => Some("clarification".into()),
        Destination::Unopened | Destination::Unrouted => None,
    }
}

fn wanted_metadata(
    settings: &MayanSettings,
    mailroom_id: &str,
    fields: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut wanted = vec![(settings.id_metadata.clone(), mailroom_id.to_string())];
    for (name, field) in &settings.metadata {
        let value = if field == "mailroom_id" {
            Some(mailroom_id)
        } else {
            fields.get(field).map(String::as_str)
        };
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            wanted.push((name.clone(), v.to_string()));
        }
    }
    wanted
}

/// Seconds since 1970 of an RFC 3339 time (`2026-11-29T03:29:17.659965Z`, or with an
/// offset such as `+01:00`); None when it is not one.
fn unix_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    // days from civil (proleptic Gregorian), the inverse of clock::Utc::from_unix
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str) -> anyhow::Result<MayanSettings> {
        let s: MayanSettings = toml::from_str(toml_text)?;
        s.validate()?;
        Ok(s)
    }

    #[test]
    fn settings_with_defaults_label_or_id_and_refusals() {
        let s = settings(
            r#"
            url = "http://127.0.0.1:8731/api/v4/"
            document_type = "Eingangspost"
            cabinet = "Posteingang"
            cabinet_per_unit = true
            [metadata]
            unit = "unit"
            received = "received"
            "#,
        )
        .unwrap();
        assert_eq!(
            s.document_type,
            DocumentTypeRef::Label("Eingangspost".into())
        );
        assert_eq!(s.id_metadata, "mailroom_id");
        assert_eq!(s.language, "deu");
        assert_eq!(s.attach_timeout_s, 120);
        let by_id = settings("url = \"https://dms/api/v4\"\ndocument_type = 7\n").unwrap();
        assert_eq!(by_id.document_type, DocumentTypeRef::Id(7));

        let err = |t: &str| settings(t).unwrap_err().to_string();
        assert!(err("url = \"x\"\ndocument_type = 1\nfoo = 1\n").contains("unknown field"));
        assert!(err("url = \"ftp://x\"\ndocument_type = 1\n").contains("http"));
        assert!(
            err("url = \"http://x\"\ndocument_type = 1\ncabinet_per_unit = true\n")
                .contains("parent")
        );
        assert!(
            err("url = \"http://x\"\ndocument_type = 1\n[metadata]\nmailroom_id = \"unit\"\n")
                .contains("id_metadata")
        );
    }

    #[test]
    fn the_mailroom_id_comes_first_and_empty_fields_are_left_out() {
        let s = settings(
            r#"
            url = "http://x/"
            document_type = 1
            [metadata]
            case = "case"
            pages = "pages"
            unit = "unit"
            "#,
        )
        .unwrap();
        let fields: BTreeMap<String, String> = [("pages", "2"), ("unit", "61"), ("case", "")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            wanted_metadata(&s, "r1-0001-letter_001", &fields),
            vec![
                ("mailroom_id".to_string(), "r1-0001-letter_001".to_string()),
                ("pages".to_string(), "2".to_string()),
                ("unit".to_string(), "61".to_string()),
            ]
        );
    }

    #[test]
    fn unit_cabinets() {
        let unit = Destination::Unit {
            code: "61".into(),
            name: "Stadtplanung".into(),
            dms: None,
        };
        assert_eq!(unit_cabinet_label(true, &unit), Some("61".into()));
        assert_eq!(unit_cabinet_label(false, &unit), None);
        assert_eq!(
            unit_cabinet_label(true, &Destination::Clarification),
            Some("clarification".into())
        );
        assert_eq!(unit_cabinet_label(true, &Destination::Unrouted), None);
    }

    #[test]
    fn rfc3339_times_agree_with_the_clock() {
        for secs in [0, 951_782_400, 1_800_000_000, 1_795_000_000 + 86_399] {
            assert_eq!(unix_seconds(&Utc::from_unix(secs).rfc3339()), Some(secs));
        }
        assert_eq!(
            unix_seconds("2026-11-29T03:29:17.659965Z"),
            unix_seconds("2026-11-29T03:29:17Z")
        );
        assert_eq!(
            unix_seconds("2026-11-29T04:29:17+01:00"),
            unix_seconds("2026-11-29T03:29:17Z")
        );
        assert_eq!(unix_seconds("2026-11-29"), None);
        assert_eq!(unix_seconds("2026-13-29T03:29:17Z"), None);
        assert_eq!(unix_seconds("2026-11-29T03:29:17"), None);
    }

    #[test]
    fn the_marker_is_one_line_of_the_description() {
        assert_eq!(id_marker("r1-0001-x"), "mailroom_id: r1-0001-x");
    }

    #[test]
    fn without_credentials_there_is_no_target() {
        let s = MayanSettings {
            credentials_file: Some(PathBuf::from("/nonexistent/mailroom-cred")),
            ..settings("url = \"http://127.0.0.1:9/api/v4/\"\ndocument_type = 1\n").unwrap()
        };
        let err = MayanTarget::new(&s, Duration::from_secs(1))
            .err()
            .expect("a missing credentials file is an error")
            .to_string();
        assert!(err.contains("credentials"), "{err}");
    }
}

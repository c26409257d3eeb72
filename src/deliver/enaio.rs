//! The enaio target: documents go into enaio over REST, with their index data and the
//! mailroom id in an index field, so that a document whose delivery outcome is unknown is
//! found again instead of being filed twice.
//!
//! Two API variants (`api` in `[delivery.enaio]`):
//!
//! - `dms` (default), the DMS service of enaio 9.10 and later:
//!   `POST /api/dms/objects`, multipart with a JSON part `data`
//!   (`{"objects":[{"properties":{...},"contentStreams":[{...,"cid":"cid_doc"}]}]}`) and
//!   the PDF in a part named after the cid with the header `Content-ID: cid_doc`; the new
//!   id is `objects[0].properties["system:objectId"].value`. Object types by internal
//!   name. Lookups: `POST /api/dms/objects/search` with a parameterised statement
//!   `SELECT system:objectId FROM <type> WHERE <field>=@p`. There is no documented
//!   health endpoint, so `check` is such a search (for a value no document has).
//! - `osrest`, the older appconnector: `POST /osrest/api/documents/insert/{locationId}`,
//!   multipart with `data` (`{"objectTypeId":"<id>","fields":{...}}`) and `file`; the
//!   answer is the new object id as a plain integer. Object types by numeric id
//!   (`object_type_ids` maps internal names to them). `check` is
//!   `GET /osrest/api/serviceinfo`; lookups use the appconnector's field search
//!   `POST /osrest/api/documents/search` with `{"query":{"objectTypeId":..,"fields":{..}}}`,
//!   which answers a list of objects with their `osid`.
//!
//! The parent of a document (folder or register) is the unit's `dms.parent` (else the
//! default's). With `parent_search` that value is a key, e.g. `FB61`: the parent is the
//! object of `parent_search.object_type` whose `parent_search.field` equals it, looked up
//! once per run and cached. Without it the value is used as the parent id itself.
//!
//! Credentials: HTTP Basic from `MAILROOM_DMS_USER` / `MAILROOM_DMS_PASSWORD` or the
//! `credentials_file` (see `credentials`), never from the profile or the command line.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::blocking::multipart::{Form, Part};
use reqwest::blocking::Client;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::credentials::Credentials;
use super::{http, DeliveryError, Destination, Parcel, Receipt, Target};
use crate::clock::Utc;
use crate::routing::rules::DmsTarget;

/// The content id of the PDF in a DMS-service insert.
pub const CID: &str = "cid_doc";

/// A value no mailroom id has (mailroom ids are `<run id>-<document id>`): what `check`
/// searches for.
const CHECK_VALUE: &str = "mailroom-check (no document has this id)";

/// `[delivery.enaio]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnaioSettings {
    /// Base URL of the enaio server (or of the gateway in front of it), without the API
    /// path, e.g. `https://dms.example/`.
    pub url: String,
    /// `dms` (the DMS service, enaio 9.10+) or `osrest` (the older appconnector).
    #[serde(default)]
    pub api: EnaioApi,
    /// Internal name of the index field that holds the mailroom id.
    pub id_field: String,
    /// Where documents go that no unit's `dms` names (clarification, routing off, units
    /// without `dms`): object type and parent. Its parent is also the parent of units whose
    /// `dms` names a type but no parent.
    #[serde(default)]
    pub default: Option<DmsTarget>,
    /// DMS field (internal name) -> mailroom field name (see `deliver::field_names`).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// How a unit's `dms.parent` value is found in enaio: the folder or register of this
    /// type whose field equals the value. Without it the value is the parent's object id.
    #[serde(default)]
    pub parent_search: Option<ParentSearch>,
    /// OSRest: the location (folder or register id) for documents that name no parent.
    #[serde(default)]
    pub location_id: Option<String>,
    /// OSRest: object type internal name -> numeric object type id (OSRest takes only
    /// ids). A type given as a number needs no entry.
    #[serde(default)]
    pub object_type_ids: BTreeMap<String, String>,
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Which enaio REST API the server speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnaioApi {
    /// The DMS service (`/api/dms/...`), enaio 9.10 and later.
    #[default]
    Dms,
    /// The appconnector (`/osrest/api/...`).
    Osrest,
}

/// `parent_search = { object_type = "Ordner", field = "Kennung" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentSearch {
    /// Folder or register type (internal name; for OSRest mapped by `object_type_ids`).
    pub object_type: String,
    /// Its index field that holds the key a unit's `dms.parent` names.
    pub field: String,
}

pub struct EnaioTarget {
    settings: EnaioSettings,
    /// The URL without a trailing slash, for building request URLs.
    base: String,
    /// The URL as shown in messages: without any user or password in it.
    shown: String,
    client: Client,
    creds: Credentials,
    /// Parent key -> object id, found by `parent_search` during this run.
    parents: Mutex<HashMap<String, String>>,
}

/// Where one document goes: object type and the parent's key (or id).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    object_type: String,
    parent: Option<String>,
}

impl EnaioTarget {
    /// Builds the target: checks the settings, loads the credentials (HTTP Basic) and
    /// builds the HTTP client. Contacts nobody.
    pub fn new(settings: &EnaioSettings, timeout: Duration) -> anyhow::Result<EnaioTarget> {
        validate(settings)?;
        let creds = match Credentials::load(settings.credentials_file.as_deref())? {
            Some(c @ Credentials::Basic { .. }) => c,
            Some(Credentials::Token(_)) => bail!(
                "enaio takes a user and password (HTTP Basic), not a token: unset {} and set {} and {}",
                super::credentials::ENV_TOKEN,
                super::credentials::ENV_USER,
                super::credentials::ENV_PASSWORD
            ),
            None => bail!(
                "no enaio credentials: set {} and {}, or credentials_file in [delivery.enaio]",
                super::credentials::ENV_USER,
                super::credentials::ENV_PASSWORD
            ),
        };
        let client = http::client(timeout, settings.ca_file.as_deref())?;
        Self::with_client(settings, client, creds)
    }

    fn with_client(
        settings: &EnaioSettings,
        client: Client,
        creds: Credentials,
    ) -> anyhow::Result<EnaioTarget> {
        let shown = validate(settings)?;
        let base = shown.trim_end_matches('/').to_string();
        Ok(EnaioTarget {
            settings: settings.clone(),
            base,
            shown,
            client,
            creds,
            parents: Mutex::new(HashMap::new()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Object type and parent for a destination.
    fn place(&self, destination: &Destination) -> Result<Place, DeliveryError> {
        let default = self.settings.default.as_ref();
        let place = match destination {
            Destination::Unit { dms: Some(t), .. } => Place {
                object_type: t.object_type.clone(),
                parent: t
                    .parent
                    .clone()
                    .or_else(|| default.and_then(|d| d.parent.clone())),
            },
            _ => match default {
                Some(d) => Place {
                    object_type: d.object_type.clone(),
                    parent: d.parent.clone(),
                },
                None => {
                    return Err(DeliveryError::fatal(format!(
                        "no enaio object type for {} documents: its unit names no `dms` location \
                         and [delivery.enaio] has no `default`",
                        destination.label()
                    )))
                }
            },
        };
        check_name("the object type", &place.object_type)
            .map_err(|e| DeliveryError::fatal(e.to_string()))?;
        Ok(place)
    }

    /// The OSRest object type id of an internal name (or the number itself).
    fn type_id(&self, object_type: &str) -> Result<String, DeliveryError> {
        if let Some(id) = self.settings.object_type_ids.get(object_type) {
            return Ok(id.clone());
        }
        if !object_type.is_empty() && object_type.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(object_type.to_string());
        }
        Err(DeliveryError::fatal(format!(
            "OSRest needs the numeric id of object type {object_type}: add it to \
             object_type_ids in [delivery.enaio]"
        )))
    }

    /// The object id of the parent a place names: found by `parent_search` (cached), or
    /// the value itself; for OSRest without a parent, `location_id`.
    fn parent_id(&self, place: &Place) -> Result<String, DeliveryError> {
        let Some(key) = &place.parent else {
            if self.settings.api == EnaioApi::Osrest {
                if let Some(loc) = &self.settings.location_id {
                    return Ok(loc.clone());
                }
            }
            return Err(DeliveryError::fatal(format!(
                "no enaio parent (folder or register) for object type {}: give the unit's \
                 `dms.parent` or the parent of [delivery.enaio] default{}",
                place.object_type,
                if self.settings.api == EnaioApi::Osrest {
                    " or location_id"
                } else {
                    ""
                }
            )));
        };
        let Some(search) = &self.settings.parent_search else {
            return Ok(key.clone());
        };
        if let Some(id) = self.parents.lock().expect("parent cache").get(key) {
            return Ok(id.clone());
        }
        let what = format!("enaio search for parent {key}");
        let hits = match self.settings.api {
            EnaioApi::Dms => self.dms_search(&search.object_type, &search.field, key, &what)?,
            EnaioApi::Osrest => {
                let type_id = self.type_id(&search.object_type)?;
                self.osrest_search(&type_id, &search.field, key, &what)?
            }
        };
        let id = match hits.as_slice() {
            [id] => id.clone(),
            [] => {
                return Err(DeliveryError::fatal(format!(
                    "parent {key} not found in enaio: no {} with {} = {key}",
                    search.object_type, search.field
                )))
            }
            more => {
                return Err(DeliveryError::fatal(format!(
                "parent {key} is ambiguous in enaio: {} objects of type {} have {} = {key} ({})",
                more.len(),
                search.object_type,
                search.field,
                more.join(", ")
            )))
            }
        };
        self.parents
            .lock()
            .expect("parent cache")
            .insert(key.clone(), id.clone());
        Ok(id)
    }

    /// The index fields of a parcel: the mailroom id and the mapped fields that have a value.
    fn index_fields(&self, parcel: &Parcel) -> BTreeMap<String, String> {
        let mut fields = BTreeMap::new();
        for (dms_name, ours) in &self.settings.fields {
            if let Some(v) = parcel.fields.get(ours) {
                fields.insert(dms_name.clone(), v.clone());
            }
        }
        fields.insert(
            self.settings.id_field.clone(),
            parcel.mailroom_id.to_string(),
        );
        fields
    }

    fn receipt(&self, object_id: String) -> Receipt {
        Receipt {
            target: self.describe(),
            object_id,
            time: Utc::now().rfc3339(),
        }
    }

    /// DMS service: ids of the objects of `object_type` whose `field` equals `value`.
    fn dms_search(
        &self,
        object_type: &str,
        field: &str,
        value: &str,
        what: &str,
    ) -> Result<Vec<String>, DeliveryError> {
        self.search(
            "/api/dms/objects/search",
            &dms_search_body(object_type, field, value),
            what,
            dms_search_ids,
            "answer without `objects`",
        )
    }

    /// OSRest: ids (`osid`) of the objects of type `type_id` whose `field` equals `value`.
    fn osrest_search(
        &self,
        type_id: &str,
        field: &str,
        value: &str,
        what: &str,
    ) -> Result<Vec<String>, DeliveryError> {
        self.search(
            "/osrest/api/documents/search",
            &osrest_search_body(type_id, field, value),
            what,
            osrest_search_ids,
            "answer is not a list of objects",
        )
    }

    /// POSTs a search and reads the ids from the answer with `ids`.
    fn search(
        &self,
        path: &str,
        body: &Value,
        what: &str,
        ids: fn(&Value) -> Option<Vec<String>>,
        bad_shape: &str,
    ) -> Result<Vec<String>, DeliveryError> {
        let req = self
            .client
            .post(self.url(path))
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body);
        let resp = http::send(http::authorize(req, Some(&self.creds)), what)?;
        let answer: Value = resp
            .json()
            .map_err(|e| DeliveryError::transient(format!("{what}: unreadable answer ({e})")))?;
        ids(&answer).ok_or_else(|| DeliveryError::transient(format!("{what}: {bad_shape}")))
    }

    fn pdf_part(&self, parcel: &Parcel) -> Result<(Vec<u8>, String), DeliveryError> {
        let bytes = std::fs::read(parcel.pdf).map_err(|e| {
            DeliveryError::transient(format!("cannot read {}: {e}", parcel.pdf.display()))
        })?;
        let name = parcel
            .pdf
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{}.pdf", parcel.record.id));
        Ok((bytes, name))
    }

    fn deliver_dms(&self, parcel: &Parcel, place: &Place) -> Result<Receipt, DeliveryError> {
        let parent = self.parent_id(place)?;
        let (pdf, file_name) = self.pdf_part(parcel)?;
        let data = dms_insert_data(
            &place.object_type,
            &parent,
            &self.index_fields(parcel),
            &file_name,
        );
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("Content-ID", reqwest::header::HeaderValue::from_static(CID));
        let form = Form::new()
            .part("data", json_part(&data))
            .part(CID, pdf_bytes_part(pdf, file_name).headers(headers));
        let what = format!("enaio insert of {}", parcel.record.id);
        let req = self
            .client
            .post(self.url("/api/dms/objects"))
            .header(reqwest::header::ACCEPT, "application/json")
            .multipart(form);
        let resp = http::send(http::authorize(req, Some(&self.creds)), &what)?;
        let body = resp.text().map_err(|e| unknown_outcome(&what, &e))?;
        let id = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| dms_insert_id(&v))
            .ok_or_else(|| {
                DeliveryError::transient(format!(
                    "{what}: the server answered without the new object id; whether it \
                     filed the document is unknown"
                ))
            })?;
        Ok(self.receipt(id))
    }

    fn deliver_osrest(&self, parcel: &Parcel, place: &Place) -> Result<Receipt, DeliveryError> {
        let type_id = self.type_id(&place.object_type)?;
        let location = self.parent_id(place)?;
        let (pdf, file_name) = self.pdf_part(parcel)?;
        let data = osrest_insert_data(&type_id, &self.index_fields(parcel));
        let form = Form::new()
            .part("data", json_part(&data))
            .part("file", pdf_bytes_part(pdf, file_name));
        let what = format!("enaio insert of {}", parcel.record.id);
        let req = self
            .client
            .post(self.url(&format!(
                "/osrest/api/documents/insert/{}",
                path_segment(&location)
            )))
            .multipart(form);
        let resp = http::send(http::authorize(req, Some(&self.creds)), &what)?;
        let body = resp.text().map_err(|e| unknown_outcome(&what, &e))?;
        let id = body.trim();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DeliveryError::transient(format!(
                "{what}: the server answered {:?} instead of the new object id; whether it \
                 filed the document is unknown",
                id.chars().take(80).collect::<String>()
            )));
        }
        Ok(self.receipt(id.to_string()))
    }
}

impl Target for EnaioTarget {
    fn describe(&self) -> String {
        format!("enaio {}", self.shown)
    }

    fn check(&self) -> Result<(), DeliveryError> {
        let what = "enaio check";
        let result = match self.settings.api {
            EnaioApi::Osrest => {
                let req = self
                    .client
                    .get(self.url("/osrest/api/serviceinfo"))
                    .header(reqwest::header::ACCEPT, "application/json");
                http::send(http::authorize(req, Some(&self.creds)), what).map(|_| ())
            }
            EnaioApi::Dms => {
                // No documented health endpoint: a search for a value no document has,
                // which also proves the object type and field exist.
                let (object_type, field) =
                    match (&self.settings.default, &self.settings.parent_search) {
                        (Some(d), _) => (d.object_type.as_str(), self.settings.id_field.as_str()),
                        (None, Some(p)) => (p.object_type.as_str(), p.field.as_str()),
                        (None, None) => {
                            return Err(DeliveryError::fatal(
                                "[delivery.enaio] needs a `default` (object type and parent for \
                             documents no unit names a DMS location for); the check searches it",
                            ))
                        }
                    };
                self.dms_search(object_type, field, CHECK_VALUE, what)
                    .map(|_| ())
            }
        };
        match result {
            Err(DeliveryError::Rejected { reason }) => Err(DeliveryError::Fatal { reason }),
            other => other,
        }
    }

    fn find(&self, parcel: &Parcel) -> Result<Option<Receipt>, DeliveryError> {
        let place = self.place(parcel.destination)?;
        let what = format!("enaio search for {}", parcel.record.id);
        let hits = match self.settings.api {
            EnaioApi::Dms => self.dms_search(
                &place.object_type,
                &self.settings.id_field,
                parcel.mailroom_id,
                &what,
            )?,
            EnaioApi::Osrest => {
                let type_id = self.type_id(&place.object_type)?;
                self.osrest_search(&type_id, &self.settings.id_field, parcel.mailroom_id, &what)?
            }
        };
        // More than one hit means an earlier duplicate; any of them proves delivery.
        Ok(hits.into_iter().next().map(|id| self.receipt(id)))
    }

    fn deliver(&self, parcel: &Parcel) -> Result<Receipt, DeliveryError> {
        let place = self.place(parcel.destination)?;
        match self.settings.api {
            EnaioApi::Dms => self.deliver_dms(parcel, &place),
            EnaioApi::Osrest => self.deliver_osrest(parcel, &place),
        }
    }
}

/// Checks the settings that can be checked without contacting enaio; returns the URL as
/// shown in messages (no query, no fragment).
fn validate(settings: &EnaioSettings) -> anyhow::Result<String> {
    let mut url = reqwest::Url::parse(&settings.url)
        .with_context(|| format!("delivery.enaio.url {:?} is not a URL", settings.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("delivery.enaio.url must start with https:// (or http://)");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!(
            "delivery.enaio.url must not contain credentials: set {} and {}, or credentials_file",
            super::credentials::ENV_USER,
            super::credentials::ENV_PASSWORD
        );
    }
    url.set_query(None);
    url.set_fragment(None);
    check_name("id_field", &settings.id_field)?;
    for name in settings.fields.keys() {
        check_name("a field name in fields", name)?;
        if name == &settings.id_field {
            bail!(
                "delivery.enaio.fields must not set the id_field {name}: it holds the mailroom id"
            );
        }
    }
    if let Some(d) = &settings.default {
        check_name("default.object_type", &d.object_type)?;
    }
    if let Some(p) = &settings.parent_search {
        check_name("parent_search.object_type", &p.object_type)?;
        check_name("parent_search.field", &p.field)?;
    }
    Ok(url.to_string())
}

/// The request reached the server and an answer began, but it could not be read.
fn unknown_outcome(what: &str, e: &reqwest::Error) -> DeliveryError {
    let mut d = http::transport_error(what, e);
    if let DeliveryError::Transient { reason, .. } = &mut d {
        reason.push_str(" while reading the answer; whether the document was filed is unknown");
    }
    d
}

/// Internal names go into search statements unquoted, so only plain names are allowed:
/// letters, digits, `_`, `-`, `.` and the `:` of system fields.
fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if !ok {
        bail!("{what} {name:?} is not an enaio internal name (letters, digits, _ - . :)");
    }
    Ok(())
}

/// A location id as one URL path segment.
fn path_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn json_part(data: &Value) -> Part {
    Part::text(data.to_string())
        .mime_str("application/json")
        .expect("a valid MIME type")
}

fn pdf_bytes_part(pdf: Vec<u8>, file_name: String) -> Part {
    Part::bytes(pdf)
        .file_name(file_name)
        .mime_str("application/pdf")
        .expect("a valid MIME type")
}

/// The `data` part of a DMS-service insert.
fn dms_insert_data(
    object_type: &str,
    parent: &str,
    fields: &BTreeMap<String, String>,
    file_name: &str,
) -> Value {
    let mut props = Map::new();
    props.insert(
        "system:objectTypeId".into(),
        json!({ "value": object_type }),
    );
    props.insert("system:parentId".into(), json!({ "value": parent }));
    for (k, v) in fields {
        props.insert(k.clone(), json!({ "value": v }));
    }
    json!({
        "objects": [{
            "properties": props,
            "contentStreams": [{
                "mimeType": "application/pdf",
                "fileName": file_name,
                "cid": CID,
            }],
        }]
    })
}

/// The `data` part of an OSRest insert.
fn osrest_insert_data(type_id: &str, fields: &BTreeMap<String, String>) -> Value {
    let fields: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.clone(), json!({ "value": v })))
        .collect();
    json!({ "objectTypeId": type_id, "fields": fields })
}

fn dms_search_body(object_type: &str, field: &str, value: &str) -> Value {
    json!({
        "query": {
            "statement": format!("SELECT system:objectId FROM {object_type} WHERE {field}=@p"),
            "parameters": { "p": value },
        }
    })
}

fn osrest_search_body(type_id: &str, field: &str, value: &str) -> Value {
    json!({
        "query": {
            "objectTypeId": type_id,
            "fields": { field: { "value": value } },
        }
    })
}

/// An id as JSON gives it: a string or a number.
fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `objects[0].properties["system:objectId"].value` of a DMS-service insert answer.
fn dms_insert_id(answer: &Value) -> Option<String> {
    id_string(answer.pointer("/objects/0/properties/system:objectId/value")?)
}

/// The object ids of a DMS-service search answer; `None` if it is not one.
fn dms_search_ids(answer: &Value) -> Option<Vec<String>> {
    let objects = answer.get("objects")?.as_array()?;
    Some(
        objects
            .iter()
            .filter_map(|o| o.pointer("/properties/system:objectId/value"))
            .filter_map(id_string)
            .collect(),
    )
}

/// The `osid`s of an OSRest search answer (a list of objects); `None` if it is not one.
fn osrest_search_ids(answer: &Value) -> Option<Vec<String>> {
    Some(
        answer
            .as_array()?
            .iter()
            .filter_map(|o| o.get("osid"))
            .filter_map(id_string)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(api: EnaioApi) -> EnaioSettings {
        toml::from_str::<EnaioSettings>(&format!(
            r#"
            url = "https://dms.example:8443/gw/"
            api = "{}"
            id_field = "mailroomId"
            default = {{ object_type = "Posteingang", parent = "POST" }}
            fields = {{ Eingangsdatum = "received", Seiten = "pages" }}
            object_type_ids = {{ Posteingang = "262146" }}
            location_id = "77"
            "#,
            match api {
                EnaioApi::Dms => "dms",
                EnaioApi::Osrest => "osrest",
            }
        ))
        .unwrap()
    }

    fn test_client() -> Client {
        http::client(Duration::from_secs(5), None).unwrap()
    }

    fn target(s: &EnaioSettings) -> EnaioTarget {
        EnaioTarget::with_client(
            s,
            test_client(),
            Credentials::Basic {
                user: "post".into(),
                password: "geheim".into(),
            },
        )
        .unwrap()
    }

    fn unit(dms: Option<DmsTarget>) -> Destination {
        Destination::Unit {
            code: "61".into(),
            name: "Stadtplanung".into(),
            dms,
        }
    }

    #[test]
    fn settings_default_to_the_dms_service_and_refuse_unknown_keys() {
        let s: EnaioSettings = toml::from_str("url = \"http://x/\"\nid_field = \"id\"\n").unwrap();
        assert_eq!(s.api, EnaioApi::Dms);
        assert!(s.parent_search.is_none());
        let e = toml::from_str::<EnaioSettings>(
            "url = \"http://x/\"\nid_field = \"i\"\npasword = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("pasword"), "{e}");
        let s: EnaioSettings = toml::from_str(
            "url = \"http://x/\"\nid_field = \"i\"\nparent_search = { object_type = \"Ordner\", field = \"Kennung\" }\n",
        )
        .unwrap();
        assert_eq!(s.parent_search.unwrap().field, "Kennung");
    }

    #[test]
    fn description_and_urls_carry_no_credentials_and_no_double_slash() {
        let t = target(&settings(EnaioApi::Dms));
        assert_eq!(t.describe(), "enaio https://dms.example:8443/gw/");
        assert_eq!(
            t.url("/api/dms/objects"),
            "https://dms.example:8443/gw/api/dms/objects"
        );
        let mut s = settings(EnaioApi::Dms);
        s.url = "https://post:geheim@dms.example/".into();
        let e = EnaioTarget::with_client(&s, test_client(), t.creds.clone())
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("geheim"), "{e}");
    }

    #[test]
    fn names_that_would_change_a_search_statement_are_refused() {
        assert!(check_name("x", "Gesundheitsakte").is_ok());
        assert!(check_name("x", "system:objectId").is_ok());
        assert!(check_name("x", "Eingangsdatum_2").is_ok());
        assert!(check_name("x", "a=1 OR b").is_err());
        assert!(check_name("x", "").is_err());
        let mut s = settings(EnaioApi::Dms);
        s.id_field = "id' OR '1".into();
        assert!(EnaioTarget::with_client(
            &s,
            test_client(),
            target(&settings(EnaioApi::Dms)).creds
        )
        .is_err());
        let t = target(&settings(EnaioApi::Dms));
        let bad = unit(Some(DmsTarget {
            object_type: "Akte WHERE x".into(),
            parent: None,
        }));
        assert!(matches!(t.place(&bad), Err(DeliveryError::Fatal { .. })));
    }

    #[test]
    fn the_unit_names_type_and_parent_else_the_default_does() {
        let t = target(&settings(EnaioApi::Dms));
        let own = unit(Some(DmsTarget {
            object_type: "Gesundheitsakte".into(),
            parent: Some("Abt504".into()),
        }));
        assert_eq!(
            t.place(&own).unwrap(),
            Place {
                object_type: "Gesundheitsakte".into(),
                parent: Some("Abt504".into())
            }
        );
        let type_only = unit(Some(DmsTarget {
            object_type: "Bauakte".into(),
            parent: None,
        }));
        assert_eq!(t.place(&type_only).unwrap().parent.as_deref(), Some("POST"));
        for d in [
            unit(None),
            Destination::Clarification,
            Destination::Unrouted,
        ] {
            assert_eq!(
                t.place(&d).unwrap(),
                Place {
                    object_type: "Posteingang".into(),
                    parent: Some("POST".into())
                }
            );
        }
        let mut s = settings(EnaioApi::Dms);
        s.default = None;
        let t = target(&s);
        let e = t.place(&Destination::Clarification).unwrap_err();
        assert!(
            matches!(&e, DeliveryError::Fatal { reason } if reason.contains("no enaio object type for clarification")),
            "{e:?}"
        );
        // without parent_search the parent value is the id itself
        assert_eq!(
            t.parent_id(&Place {
                object_type: "X".into(),
                parent: Some("4711".into())
            })
            .unwrap(),
            "4711"
        );
        assert!(matches!(
            t.parent_id(&Place {
                object_type: "X".into(),
                parent: None
            }),
            Err(DeliveryError::Fatal { .. })
        ));
    }

    #[test]
    fn osrest_takes_type_ids_and_falls_back_to_the_location() {
        let t = target(&settings(EnaioApi::Osrest));
        assert_eq!(t.type_id("Posteingang").unwrap(), "262146");
        assert_eq!(t.type_id("262150").unwrap(), "262150");
        assert!(matches!(
            t.type_id("Bauakte"),
            Err(DeliveryError::Fatal { .. })
        ));
        let none = Place {
            object_type: "Posteingang".into(),
            parent: None,
        };
        assert_eq!(t.parent_id(&none).unwrap(), "77");
        assert_eq!(path_segment("12 3/4"), "12%203%2F4");
    }

    #[test]
    fn insert_payloads_follow_the_contract() {
        let mut fields = BTreeMap::new();
        fields.insert("mailroomId".to_string(), "r1-0001-a".to_string());
        fields.insert("Seiten".to_string(), "2".to_string());
        let d = dms_insert_data("Posteingang", "1001", &fields, "0001-a.pdf");
        let o = &d["objects"][0];
        assert_eq!(
            o["properties"]["system:objectTypeId"]["value"],
            "Posteingang"
        );
        assert_eq!(o["properties"]["system:parentId"]["value"], "1001");
        assert_eq!(o["properties"]["mailroomId"]["value"], "r1-0001-a");
        assert_eq!(o["properties"]["Seiten"]["value"], "2");
        assert_eq!(
            o["contentStreams"],
            json!([{"mimeType": "application/pdf", "fileName": "0001-a.pdf", "cid": "cid_doc"}])
        );
        let d = osrest_insert_data("262146", &fields);
        assert_eq!(
            d,
            json!({"objectTypeId": "262146", "fields": {"mailroomId": {"value": "r1-0001-a"}, "Seiten": {"value": "2"}}})
        );
        let q = dms_search_body("Posteingang", "mailroomId", "r1'x");
        assert_eq!(
            q["query"]["statement"],
            "SELECT system:objectId FROM Posteingang WHERE mailroomId=@p"
        );
        assert_eq!(
            q["query"]["parameters"]["p"], "r1'x",
            "values go as parameters"
        );
        assert_eq!(
            osrest_search_body("6", "Kennung", "FB10"),
            json!({"query": {"objectTypeId": "6", "fields": {"Kennung": {"value": "FB10"}}}})
        );
    }

    #[test]
    fn ids_are_read_from_answers_or_not_at_all() {
        let a = json!({"objects": [{"properties": {"system:objectId": {"value": "4001"}}}]});
        assert_eq!(dms_insert_id(&a).as_deref(), Some("4001"));
        let n = json!({"objects": [{"properties": {"system:objectId": {"value": 4002}}}]});
        assert_eq!(dms_insert_id(&n).as_deref(), Some("4002"));
        assert_eq!(dms_insert_id(&json!({"objects": []})), None);
        assert_eq!(
            dms_insert_id(&json!({"objects": [{"properties": {}}]})),
            None
        );
        assert_eq!(
            dms_search_ids(&json!({"objects": [
                {"properties": {"system:objectId": {"value": "1"}}},
                {"properties": {"system:objectId": {"value": "2"}}}
            ], "totalNumItems": 2})),
            Some(vec!["1".to_string(), "2".to_string()])
        );
        assert_eq!(dms_search_ids(&json!({"error": "x"})), None);
        assert_eq!(
            osrest_search_ids(&json!([{"osid": 17}, {"osid": "18"}])),
            Some(vec!["17".to_string(), "18".to_string()])
        );
        assert_eq!(osrest_search_ids(&json!({"osid": 17})), None);
    }
}

//! The enaio target against the enaio test server (`mailroom-lab dms-server`), a real
//! process on 127.0.0.1 with its own state folder per test:
//! (a) the server refuses what the documented APIs refuse, with the right status;
//! (b) the target files real documents (the demo batch packaged by the real `mailroom`
//!     binary) with their index data, type and parent, finds them again, and maps the
//!     server's failures to Transient, Rejected and Fatal as the engine expects;
//! (c) `mailroom run` with `[delivery] target = "enaio"` delivers the demo batch to the
//!     server, each document once, also across lost answers, and a rerun sends nothing.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mailroom::deliver::enaio::{EnaioSettings, EnaioTarget};
use mailroom::deliver::engine::{deliver_all, Item, Quiet};
use mailroom::deliver::journal::Journal;
use mailroom::deliver::{DeliveryError, DeliverySettings, Destination, Parcel, Target};
use mailroom::fsutil::sha256_file;
use mailroom::package::DocumentRecord;
use mailroom::routing::rules::DmsTarget;
use serde_json::{json, Value};
use util::dms::{DmsServer, PASSWORD, USER};

// ---------------------------------------------------------------------------------------
// Documents: the demo batch, packaged once by the real binary
// ---------------------------------------------------------------------------------------

struct Demo {
    _out: tempfile::TempDir,
    docs: Vec<Doc>,
}

/// One packaged document with what a parcel needs.
struct Doc {
    record: DocumentRecord,
    pdf: PathBuf,
    json: PathBuf,
    destination: Destination,
    fields: BTreeMap<String, String>,
}

impl Doc {
    fn parcel<'a>(&'a self, mailroom_id: &'a str) -> Parcel<'a> {
        Parcel {
            mailroom_id,
            record: &self.record,
            pdf: &self.pdf,
            json: &self.json,
            destination: &self.destination,
            fields: &self.fields,
        }
    }
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = tempfile::tempdir().unwrap();
        let r = util::run_batch(
            root.join("samples/demo"),
            out.path(),
            &[
                "--profile".as_ref(),
                root.join("profiles/braunschweig.toml").as_os_str(),
                "--jobs".as_ref(),
                "2".as_ref(),
            ],
        );
        assert_eq!(r.code, 0, "mailroom run failed:\n{}", r.stderr);
        let mut docs = Vec::new();
        let dir = out.path().join("documents");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        for json in names {
            let record: DocumentRecord =
                serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
            let Some(pdf) = &record.pdf else { continue };
            let pdf = dir.join(&pdf.file);
            let routing = record.routing.as_ref().expect("the profile routes");
            let destination = match &routing.target {
                mailroom::routing::Target::Unit { unit } => Destination::Unit {
                    code: unit.clone(),
                    name: unit.clone(),
                    dms: routing.dms.clone(),
                },
                mailroom::routing::Target::Clarification => Destination::Clarification,
                mailroom::routing::Target::Unopened => Destination::Unopened,
            };
            let mut fields = BTreeMap::new();
            fields.insert("document_id".to_string(), record.id.clone());
            fields.insert("pages".to_string(), record.pages.len().to_string());
            fields.insert(
                "unit".to_string(),
                match &destination {
                    Destination::Unit { code, .. } => code.clone(),
                    _ => String::new(),
                },
            );
            fields.insert(
                "pdf_sha256".to_string(),
                record.pdf.as_ref().unwrap().sha256.clone(),
            );
            docs.push(Doc {
                record,
                pdf,
                json,
                destination,
                fields,
            });
        }
        Demo { _out: out, docs }
    })
}

/// The first demo document whose destination matches.
fn doc(pick: impl Fn(&Destination) -> bool) -> &'static Doc {
    demo()
        .docs
        .iter()
        .find(|d| pick(&d.destination))
        .expect("the demo batch has such a document")
}

fn unit_doc(code: &str) -> &'static Doc {
    doc(|d| matches!(d, Destination::Unit { code: c, .. } if c == code))
}

// ---------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------

/// A credentials file (0600) in a folder kept by the caller.
fn credentials_file(dir: &Path, password: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("enaio-credentials");
    std::fs::write(&p, format!("user = {USER}\npassword = {password}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn settings(server: &DmsServer, api: &str, creds: &Path) -> EnaioSettings {
    toml::from_str(&format!(
        r#"
        url = "{url}/"
        api = "{api}"
        id_field = "mailroomId"
        default = {{ object_type = "Posteingang", parent = "POST" }}
        parent_search = {{ object_type = "Ordner", field = "Kennung" }}
        fields = {{ Dokument = "document_id", Seiten = "pages", Einheit = "unit", PdfHash = "pdf_sha256" }}
        object_type_ids = {{ Posteingang = "262146", Gesundheitsakte = "262147", Ordner = "6" }}
        credentials_file = "{creds}"
        "#,
        url = server.url,
        creds = creds.display()
    ))
    .unwrap()
}

struct Setup {
    server: DmsServer,
    target: EnaioTarget,
    dir: tempfile::TempDir,
}

fn setup(api: &str, server_flags: &[&str]) -> Setup {
    setup_with(api, server_flags, |_| {}, 20)
}

fn setup_with(
    api: &str,
    server_flags: &[&str],
    change: impl FnOnce(&mut EnaioSettings),
    timeout_s: u64,
) -> Setup {
    let server = DmsServer::start(server_flags);
    let dir = tempfile::tempdir().unwrap();
    let creds = credentials_file(dir.path(), PASSWORD);
    let mut s = settings(&server, api, &creds);
    change(&mut s);
    let target = EnaioTarget::new(&s, Duration::from_secs(timeout_s)).unwrap();
    Setup {
        server,
        target,
        dir,
    }
}

fn mailroom_id(doc: &Doc, run: &str) -> String {
    format!("{run}-{}", doc.record.id)
}

fn transient_retry_after(e: &DeliveryError) -> Option<Duration> {
    match e {
        DeliveryError::Transient { retry_after, .. } => *retry_after,
        other => panic!("expected Transient, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// (a) the server's contract
// ---------------------------------------------------------------------------------------

/// A part of a hand-made multipart body.
struct RawPart<'a> {
    name: &'a str,
    file_name: Option<&'a str>,
    content_type: Option<&'a str>,
    content_id: Option<&'a str>,
    data: Vec<u8>,
}

impl<'a> RawPart<'a> {
    fn data(json: &Value) -> RawPart<'a> {
        RawPart {
            name: "data",
            file_name: None,
            content_type: Some("application/json"),
            content_id: None,
            data: json.to_string().into_bytes(),
        }
    }
    fn pdf(name: &'a str, content_id: Option<&'a str>) -> RawPart<'a> {
        RawPart {
            name,
            file_name: Some("brief.pdf"),
            content_type: Some("application/pdf"),
            content_id,
            data: tiny_pdf(),
        }
    }
}

fn tiny_pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

const BOUNDARY: &str = "mailroom-test-boundary-7Hq";

fn multipart_body(parts: &[RawPart]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let mut cd = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
        if let Some(f) = p.file_name {
            cd.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend_from_slice(cd.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(t) = p.content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        if let Some(c) = p.content_id {
            body.extend_from_slice(format!("Content-ID: {c}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&p.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Status and message of an authenticated POST of a multipart body.
fn post_multipart(server: &DmsServer, path: &str, parts: &[RawPart]) -> (u16, String) {
    let r = server
        .http
        .post(format!("{}{path}", server.url))
        .basic_auth(USER, Some(PASSWORD))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart_body(parts))
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn post_json(server: &DmsServer, path: &str, body: &Value) -> (u16, String) {
    let r = server
        .http
        .post(format!("{}{path}", server.url))
        .basic_auth(USER, Some(PASSWORD))
        .json(body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// A valid DMS-service `data` part for one PDF in folder `parent`.
fn dms_data(object_type: &str, parent: &str, id: &str) -> Value {
    json!({"objects": [{
        "properties": {
            "system:objectTypeId": {"value": object_type},
            "system:parentId": {"value": parent},
            "mailroomId": {"value": id},
        },
        "contentStreams": [{"mimeType": "application/pdf", "fileName": "brief.pdf", "cid": "cid_doc"}],
    }]})
}

#[track_caller]
fn assert_refused(got: (u16, String), status: u16, words: &str) {
    assert_eq!(
        got.0, status,
        "expected {status} ({words}), got {}: {}",
        got.0, got.1
    );
    assert!(
        got.1.contains(words),
        "the {status} answer does not say {words:?}: {}",
        got.1
    );
}

#[test]
fn every_api_request_needs_the_right_basic_login() {
    let server = DmsServer::start(&[]);
    let fb10 = server.folder_id("FB10");
    let requests: Vec<(&str, String)> = vec![
        ("POST", "/api/dms/objects".into()),
        ("POST", "/api/dms/objects/search".into()),
        ("POST", format!("/osrest/api/documents/insert/{fb10}")),
        ("POST", "/osrest/api/documents/search".into()),
        ("GET", format!("/osrest/api/documents/search/{fb10}")),
        ("GET", "/osrest/api/serviceinfo".into()),
    ];
    for (method, path) in &requests {
        for login in [None, Some("wrong"), Some("")] {
            let url = format!("{}{path}", server.url);
            let mut req = match *method {
                "GET" => server.http.get(&url),
                _ => server.http.post(&url).body("{}"),
            };
            if let Some(pw) = login {
                req = req.basic_auth(USER, Some(pw));
            }
            let r = req.send().unwrap();
            assert_eq!(r.status(), 401, "{method} {path} with {login:?}");
            assert!(r.headers().contains_key("www-authenticate"));
        }
    }
    // another user with the right password is refused too
    let r = server
        .http
        .get(format!("{}/osrest/api/serviceinfo", server.url))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = server
        .http
        .get(format!("{}/osrest/api/serviceinfo", server.url))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        server.objects().is_empty(),
        "no refused request stored anything"
    );
}

#[test]
fn the_dms_service_insert_refuses_what_the_contract_does_not_allow() {
    let server = DmsServer::start(&[]);
    let fb10 = server.folder_id("FB10");
    let path = "/api/dms/objects";
    let good = || dms_data("Posteingang", &fb10, "r1-0001");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut d = good();
        f(&mut d);
        d
    };

    // not multipart at all
    assert_refused(
        post_json(&server, path, &good()),
        415,
        "multipart/form-data",
    );
    // no `data` part: the JSON under another name
    let mut data = RawPart::data(&good());
    data.name = "metadata";
    assert_refused(
        post_multipart(
            &server,
            path,
            &[data, RawPart::pdf("cid_doc", Some("cid_doc"))],
        ),
        400,
        "missing part `data`",
    );
    // the file part not named after its cid
    assert_refused(
        post_multipart(
            &server,
            path,
            &[
                RawPart::data(&good()),
                RawPart::pdf("file", Some("cid_doc")),
            ],
        ),
        400,
        "no part named \\\"cid_doc\\\"",
    );
    // no Content-ID header on the file part
    assert_refused(
        post_multipart(
            &server,
            path,
            &[RawPart::data(&good()), RawPart::pdf("cid_doc", None)],
        ),
        400,
        "no Content-ID",
    );
    // a Content-ID that is not the cid
    assert_refused(
        post_multipart(
            &server,
            path,
            &[
                RawPart::data(&good()),
                RawPart::pdf("cid_doc", Some("cid_other")),
            ],
        ),
        400,
        "not the cid",
    );
    // contentStreams names another cid than the part carries
    let other_cid = with(&|d| d["objects"][0]["contentStreams"][0]["cid"] = json!("cid_x"));
    assert_refused(
        post_multipart(
            &server,
            path,
            &[
                RawPart::data(&other_cid),
                RawPart::pdf("cid_doc", Some("cid_doc")),
            ],
        ),
        400,
        "cid_x",
    );
    // `data` without its JSON media type
    let mut untyped = RawPart::data(&good());
    untyped.content_type = None;
    assert_refused(
        post_multipart(
            &server,
            path,
            &[untyped, RawPart::pdf("cid_doc", Some("cid_doc"))],
        ),
        415,
        "application/json",
    );
    // `data` that is not JSON
    let mut broken = RawPart::data(&good());
    broken.data = b"{\"objects\": [".to_vec();
    assert_refused(
        post_multipart(
            &server,
            path,
            &[broken, RawPart::pdf("cid_doc", Some("cid_doc"))],
        ),
        400,
        "not JSON",
    );
    // JSON of the wrong shape
    for (bad, words) in [
        (json!({"properties": {}}), "{\\\"objects\\\":[...]}"),
        (
            with(&|d| d["objects"][0]["properties"]["mailroomId"] = json!("r1-0001")),
            "property mailroomId must be",
        ),
        (
            with(&|d| {
                d["objects"][0]["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("system:objectTypeId");
            }),
            "missing property system:objectTypeId",
        ),
    ] {
        assert_refused(
            post_multipart(
                &server,
                path,
                &[
                    RawPart::data(&bad),
                    RawPart::pdf("cid_doc", Some("cid_doc")),
                ],
            ),
            400,
            words,
        );
    }
    // 422: what is well-formed but cannot be filed
    let pdf = || RawPart::pdf("cid_doc", Some("cid_doc"));
    for (bad, words) in [
        (
            dms_data("Bauakte", &fb10, "r1-0001"),
            "unknown object type Bauakte",
        ),
        (dms_data("Ordner", &fb10, "r1-0001"), "folder type"),
        (
            dms_data("Posteingang", "999999", "r1-0001"),
            "parent 999999 not found",
        ),
        (
            with(&|d| {
                d["objects"][0]["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("system:parentId");
            }),
            "need a parent",
        ),
        (
            with(&|d| d["objects"][0]["properties"]["system:objectId"] = json!({"value": "1"})),
            "system property system:objectId cannot be set",
        ),
        (
            with(&|d| d["objects"][0]["properties"]["Farbe"] = json!({"value": "rot"})),
            "unknown index field Farbe",
        ),
    ] {
        assert_refused(
            post_multipart(&server, path, &[RawPart::data(&bad), pdf()]),
            422,
            words,
        );
    }
    let mut text = pdf();
    text.data = b"Sehr geehrte Damen und Herren".to_vec();
    assert_refused(
        post_multipart(&server, path, &[RawPart::data(&good()), text]),
        422,
        "not a PDF",
    );
    let mut extra = pdf();
    extra.name = "cid_extra";
    assert_refused(
        post_multipart(&server, path, &[RawPart::data(&good()), pdf(), extra]),
        400,
        "unexpected part",
    );
    assert!(server.objects().is_empty(), "nothing refused was stored");

    // the documented request is taken, and taken again: duplicates are the client's problem
    let mut ids = BTreeSet::new();
    for _ in 0..2 {
        let (status, body) = post_multipart(&server, path, &[RawPart::data(&good()), pdf()]);
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let id = v["objects"][0]["properties"]["system:objectId"]["value"]
            .as_str()
            .unwrap()
            .to_string();
        ids.insert(id);
    }
    let objects = server.objects();
    assert_eq!(objects.len(), 2);
    assert_eq!(ids.len(), 2, "each insert is a new object");
    for o in &objects {
        assert_eq!(o["fields"]["mailroomId"], "r1-0001");
        assert_eq!(o["parent"], fb10.as_str());
        assert_eq!(o["parent_key"], "FB10");
        assert_eq!(o["object_type"], "Posteingang");
        assert_eq!(o["sha256"], mailroom::fsutil::sha256_hex(&tiny_pdf()));
        assert_eq!(server.content(o["id"].as_str().unwrap()), tiny_pdf());
    }
}

#[test]
fn the_dms_service_search_takes_parameterised_statements() {
    let server = DmsServer::start(&[]);
    let abt = server.folder_id("Abt504");
    let (status, body) = post_multipart(
        &server,
        "/api/dms/objects",
        &[
            RawPart::data(&dms_data("Gesundheitsakte", &abt, "r9-0002")),
            RawPart::pdf("cid_doc", Some("cid_doc")),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let search = |statement: &str, params: Value| {
        post_json(
            &server,
            "/api/dms/objects/search",
            &json!({"query": {"statement": statement, "parameters": params}}),
        )
    };
    let ids = |body: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(body).unwrap();
        v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                o["properties"]["system:objectId"]["value"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (s, b) = search(
        "SELECT system:objectId FROM Gesundheitsakte WHERE mailroomId=@p",
        json!({"p": "r9-0002"}),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(ids(&b).len(), 1);
    let (s, b) = search(
        "SELECT system:objectId FROM Posteingang WHERE mailroomId=@p",
        json!({"p": "r9-0002"}),
    );
    assert_eq!((s, ids(&b).len()), (200, 0), "another type holds nothing");
    let (s, b) = search(
        "SELECT system:objectId FROM Ordner WHERE Kennung=@k",
        json!({"k": "Abt504"}),
    );
    assert_eq!((s, ids(&b)), (200, vec![abt.clone()]));
    assert_refused(
        search("SELECT * FROM Gesundheitsakte", json!({})),
        400,
        "unsupported statement",
    );
    assert_refused(
        search(
            "SELECT system:objectId FROM Gesundheitsakte WHERE mailroomId=@p",
            json!({"q": "x"}),
        ),
        400,
        "missing query.parameters.p",
    );
    assert_refused(
        search(
            "SELECT system:objectId FROM Akte WHERE mailroomId=@p",
            json!({"p": "x"}),
        ),
        422,
        "unknown object type Akte",
    );
    assert_refused(
        search(
            "SELECT system:objectId FROM Gesundheitsakte WHERE Farbe=@p",
            json!({"p": "x"}),
        ),
        422,
        "unknown field Farbe",
    );
}

#[test]
fn the_osrest_insert_refuses_what_the_contract_does_not_allow() {
    let server = DmsServer::start(&[]);
    let fb10 = server.folder_id("FB10");
    let insert = format!("/osrest/api/documents/insert/{fb10}");
    let data = |type_id: &str| {
        let mut p = RawPart::data(&json!({
            "objectTypeId": type_id,
            "fields": {"mailroomId": {"value": "r2-0003"}},
        }));
        p.content_type = None; // OSRest does not ask for a type on `data`
        p
    };
    let file = || RawPart::pdf("file", None);
    // the DMS-service naming is wrong here
    assert_refused(
        post_multipart(
            &server,
            &insert,
            &[data("262146"), RawPart::pdf("cid_doc", None)],
        ),
        400,
        "unexpected part \\\"cid_doc\\\"",
    );
    assert_refused(
        post_multipart(&server, &insert, &[file()]),
        400,
        "missing part `data`",
    );
    let mut broken = data("262146");
    broken.data = b"objectTypeId=262146".to_vec();
    assert_refused(
        post_multipart(&server, &insert, &[broken, file()]),
        400,
        "not JSON",
    );
    assert_refused(
        post_multipart(&server, &insert, &[data("Posteingang"), file()]),
        422,
        "unknown objectTypeId Posteingang",
    );
    assert_refused(
        post_multipart(
            &server,
            "/osrest/api/documents/insert/999999",
            &[data("262146"), file()],
        ),
        422,
        "parent 999999 not found",
    );
    let mut text = file();
    text.data = b"GIF89a".to_vec();
    assert_refused(
        post_multipart(&server, &insert, &[data("262146"), text]),
        422,
        "not a PDF",
    );
    assert!(server.objects().is_empty());

    let (status, body) = post_multipart(&server, &insert, &[data("262146"), file()]);
    assert_eq!(status, 200, "{body}");
    let id: u64 = body
        .trim()
        .parse()
        .expect("OSRest answers the new id as a plain integer");
    let r = server
        .http
        .get(format!("{}/osrest/api/documents/search/{id}", server.url))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let o: Value = r.json().unwrap();
    assert_eq!(o["osid"], id);
    assert_eq!(o["fields"]["mailroomId"]["value"], "r2-0003");
    let r = server
        .http
        .get(format!(
            "{}/osrest/api/documents/search/{}",
            server.url,
            id + 1000
        ))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404, "an unknown id is 404");
    let (s, b) = post_json(
        &server,
        "/osrest/api/documents/search",
        &json!({"query": {"objectTypeId": "262146", "fields": {"mailroomId": {"value": "r2-0003"}}}}),
    );
    assert_eq!(s, 200, "{b}");
    let hits: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 1);
    assert_eq!(hits[0]["osid"], id);
    let objects = server.objects();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["api"], "osrest");
    assert_eq!(objects[0]["parent_key"], "FB10");
}

#[test]
fn stored_objects_survive_a_restart_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let first_id;
    {
        let server = DmsServer::start_in(&state, &[]);
        let fb10 = server.folder_id("FB10");
        let (status, body) = post_multipart(
            &server,
            "/api/dms/objects",
            &[
                RawPart::data(&dms_data("Posteingang", &fb10, "r3-0001")),
                RawPart::pdf("cid_doc", Some("cid_doc")),
            ],
        );
        assert_eq!(status, 200, "{body}");
        first_id = server.objects()[0]["id"].as_str().unwrap().to_string();
    }
    let server = DmsServer::start_in(&state, &[]);
    assert_eq!(server.state, state);
    let objects = server.objects();
    assert_eq!(objects.len(), 1, "{}", server.log());
    assert_eq!(objects[0]["id"], first_id.as_str());
    assert_eq!(objects[0]["fields"]["mailroomId"], "r3-0001");
    assert_eq!(server.content(&first_id), tiny_pdf());
    let fb10 = server.folder_id("FB10");
    let (status, body) = post_multipart(
        &server,
        "/api/dms/objects",
        &[
            RawPart::data(&dms_data("Posteingang", &fb10, "r3-0002")),
            RawPart::pdf("cid_doc", Some("cid_doc")),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let ids: BTreeSet<_> = server
        .objects()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "ids are not reused after a restart");
}

#[test]
fn faults_hit_the_planned_requests_and_can_be_replaced() {
    let server = DmsServer::start(&["--faults", "insert#2=500,search#1=503:retry-after=7"]);
    let fb10 = server.folder_id("FB10");
    let insert = || {
        post_multipart(
            &server,
            "/api/dms/objects",
            &[
                RawPart::data(&dms_data("Posteingang", &fb10, "r4-0001")),
                RawPart::pdf("cid_doc", Some("cid_doc")),
            ],
        )
    };
    let r = server
        .http
        .post(format!("{}/api/dms/objects/search", server.url))
        .basic_auth(USER, Some(PASSWORD))
        .json(&json!({"query": {"statement": "SELECT system:objectId FROM Posteingang WHERE mailroomId=@p", "parameters": {"p": "x"}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(insert().0, 200);
    assert_refused(insert(), 500, "injected fault");
    assert_eq!(insert().0, 200);
    assert_eq!(
        server.objects().len(),
        2,
        "the failed insert stored nothing"
    );

    server.set_faults("insert#1=422,insert#2=late-store:400");
    assert_refused(insert(), 422, "injected fault");
    let t = Instant::now();
    assert_eq!(insert().0, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));
    assert_eq!(server.objects().len(), 3);
    assert_eq!(
        server.requests("insert"),
        2,
        "counting restarts with a new plan"
    );
    let r = server
        .http
        .post(format!("{}/_test/faults", server.url))
        .body("insert#1=700")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400, "a bad plan is refused");

    // reset-after-store: stored, but the client gets no answer
    server.set_faults("insert#1=reset-after-store");
    let r = server
        .http
        .post(format!("{}/api/dms/objects", server.url))
        .basic_auth(USER, Some(PASSWORD))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart_body(&[
            RawPart::data(&dms_data("Posteingang", &fb10, "r4-0002")),
            RawPart::pdf("cid_doc", Some("cid_doc")),
        ]))
        .send();
    assert!(r.is_err(), "the connection breaks without an answer");
    assert_eq!(server.objects().len(), 4);
}

// ---------------------------------------------------------------------------------------
// (b) the target
// ---------------------------------------------------------------------------------------

/// Delivers the demo's documents for units 10 (own type and parent), 50.4 (health
/// records), 61 (no DMS location: the default) and one for clarification, and reads each
/// back from the server.
fn files_documents_with_fields_type_and_parent(api: &str) {
    let Setup { server, target, .. } = setup(api, &[]);
    assert_eq!(target.describe(), format!("enaio {}/", server.url));
    target.check().unwrap();
    let picks: Vec<(&Doc, &str, &str)> = vec![
        (unit_doc("10"), "Posteingang", "FB10"),
        (unit_doc("50.4"), "Gesundheitsakte", "Abt504"),
        (unit_doc("61"), "Posteingang", "POST"),
        (
            doc(|d| *d == Destination::Clarification),
            "Posteingang",
            "POST",
        ),
    ];
    let searches_before = server.requests("search");
    let mut receipts = Vec::new();
    for (d, _, _) in &picks {
        let id = mailroom_id(d, "run7");
        assert_eq!(target.find(&d.parcel(&id)).unwrap(), None, "not there yet");
        receipts.push(target.deliver(&d.parcel(&id)).unwrap());
    }
    // one search per parcel (find) plus one per distinct parent key (FB10, Abt504, POST)
    assert_eq!(server.requests("search") - searches_before, 4 + 3);
    let objects = server.objects();
    assert_eq!(objects.len(), picks.len());
    for ((d, object_type, parent), receipt) in picks.iter().zip(&receipts) {
        let o = objects
            .iter()
            .find(|o| o["id"] == receipt.object_id.as_str())
            .unwrap_or_else(|| panic!("receipt {} names no stored object", receipt.object_id));
        assert_eq!(o["api"], api);
        assert_eq!(o["object_type"], *object_type);
        assert_eq!(o["parent"], server.folder_id(parent).as_str());
        assert_eq!(o["parent_key"], *parent);
        let f = &o["fields"];
        assert_eq!(f["mailroomId"], mailroom_id(d, "run7").as_str());
        assert_eq!(f["Dokument"], d.record.id.as_str());
        assert_eq!(f["Seiten"], d.record.pages.len().to_string().as_str());
        assert_eq!(f["PdfHash"], d.record.pdf.as_ref().unwrap().sha256.as_str());
        let sha = sha256_file(&d.pdf).unwrap();
        assert_eq!(o["sha256"], sha.as_str());
        assert_eq!(sha, d.record.pdf.as_ref().unwrap().sha256);
        assert_eq!(
            server.content(&receipt.object_id),
            std::fs::read(&d.pdf).unwrap()
        );
        assert_eq!(receipt.target, target.describe());
        let found = target.find(&d.parcel(&mailroom_id(d, "run7"))).unwrap();
        assert_eq!(
            found.map(|r| r.object_id),
            Some(receipt.object_id.clone()),
            "find returns the delivered object"
        );
        assert_eq!(
            target.find(&d.parcel(&mailroom_id(d, "run8"))).unwrap(),
            None,
            "another run's id is not found"
        );
    }
    assert_eq!(server.objects().len(), picks.len(), "lookups file nothing");
}

#[test]
fn dms_service_files_documents_with_fields_type_and_parent() {
    files_documents_with_fields_type_and_parent("dms");
}

#[test]
fn osrest_files_documents_with_fields_type_and_parent() {
    files_documents_with_fields_type_and_parent("osrest");
}

#[test]
fn a_wrong_password_is_fatal_and_files_nothing() {
    for api in ["dms", "osrest"] {
        let server = DmsServer::start(&[]);
        let dir = tempfile::tempdir().unwrap();
        let creds = credentials_file(dir.path(), "falsch");
        let target =
            EnaioTarget::new(&settings(&server, api, &creds), Duration::from_secs(20)).unwrap();
        let e = target.check().unwrap_err();
        assert!(
            matches!(&e, DeliveryError::Fatal { reason } if reason.contains("401")),
            "{api}: {e:?}"
        );
        assert!(!e.to_string().contains("falsch"), "no password in messages");
        let d = unit_doc("10");
        let e = target.deliver(&d.parcel("run1-x")).unwrap_err();
        assert!(matches!(e, DeliveryError::Fatal { .. }), "{api}: {e:?}");
        assert!(server.objects().is_empty());
    }
}

#[test]
fn a_token_is_not_an_enaio_login() {
    use std::os::unix::fs::PermissionsExt;
    let server = DmsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cred");
    std::fs::write(&p, "token = abc\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = EnaioTarget::new(&settings(&server, "dms", &p), Duration::from_secs(5))
        .err()
        .expect("a token is refused")
        .to_string();
    assert!(e.contains("HTTP Basic"), "{e}");
}

#[test]
fn what_the_server_refuses_is_rejected_with_its_message() {
    for api in ["dms", "osrest"] {
        let Setup { server, target, .. } = setup_with(
            api,
            &[],
            |s| {
                s.object_type_ids.insert("Bauakte".into(), "262999".into());
            },
            20,
        );
        // a type the server does not know
        let d = unit_doc("10");
        let to_bauakte = Destination::Unit {
            code: "10".into(),
            name: "Zentrale Dienste".into(),
            dms: Some(DmsTarget {
                object_type: "Bauakte".into(),
                parent: Some("FB10".into()),
            }),
        };
        let p = Parcel {
            destination: &to_bauakte,
            ..d.parcel("run5-a")
        };
        let e = target.deliver(&p).unwrap_err();
        let want = if api == "dms" {
            "unknown object type Bauakte"
        } else {
            "unknown objectTypeId 262999"
        };
        assert!(
            matches!(&e, DeliveryError::Rejected { reason } if reason.contains("422") && reason.contains(want)),
            "{api}: {e:?}"
        );
        // content that is not a PDF (the JSON sidecar in place of the PDF)
        let p = Parcel {
            pdf: &d.json,
            ..d.parcel("run5-b")
        };
        let e = target.deliver(&p).unwrap_err();
        assert!(
            matches!(&e, DeliveryError::Rejected { reason } if reason.contains("not a PDF")),
            "{api}: {e:?}"
        );
        // an injected 422 carries the server's words too
        server.set_faults("insert#1=422");
        let e = target.deliver(&d.parcel("run5-c")).unwrap_err();
        assert!(
            matches!(&e, DeliveryError::Rejected { reason } if reason.contains("injected fault: HTTP 422")),
            "{api}: {e:?}"
        );
        assert!(server.objects().is_empty(), "{api}");
    }
}

#[test]
fn an_unknown_index_field_is_rejected() {
    let Setup { server, target, .. } = setup_with(
        "dms",
        &[],
        |s| {
            s.fields.insert("Farbe".into(), "document_id".into());
        },
        20,
    );
    let e = target
        .deliver(&unit_doc("10").parcel("run6-a"))
        .unwrap_err();
    assert!(
        matches!(&e, DeliveryError::Rejected { reason } if reason.contains("unknown index field Farbe")),
        "{e:?}"
    );
    assert!(server.objects().is_empty());
}

#[test]
fn service_unavailable_with_retry_after_is_transient_and_stores_nothing() {
    for api in ["dms", "osrest"] {
        let Setup { server, target, .. } = setup(
            api,
            &["--faults", "insert#1=503:retry-after=1,search#1=429"],
        );
        let d = unit_doc("50.4");
        let e = target.find(&d.parcel("run9-a")).unwrap_err();
        assert_eq!(
            transient_retry_after(&e),
            None,
            "{api}: 429 without Retry-After"
        );
        let e = target.deliver(&d.parcel("run9-a")).unwrap_err();
        assert_eq!(
            transient_retry_after(&e),
            Some(Duration::from_secs(1)),
            "{api}: {e:?}"
        );
        assert!(server.objects().is_empty());
        let r = target.deliver(&d.parcel("run9-a")).unwrap();
        assert_eq!(server.objects().len(), 1);
        assert_eq!(server.objects()[0]["id"], r.object_id.as_str());
    }
}

/// Outcome unknown (the object is stored, the answer lost): `deliver` fails transiently,
/// then `find` returns the one stored object.
fn unknown_outcome_then_find(api: &str, fault: &str, timeout_s: u64, words: &str) {
    let Setup { server, target, .. } = setup_with(
        api,
        &["--faults", &format!("insert#1={fault}")],
        |_| {},
        timeout_s,
    );
    let d = unit_doc("10");
    let id = mailroom_id(d, "run11");
    let e = target.deliver(&d.parcel(&id)).unwrap_err();
    assert!(
        matches!(&e, DeliveryError::Transient { reason, .. } if reason.contains(words)),
        "{api} {fault}: {e:?}"
    );
    let objects = server.objects();
    assert_eq!(objects.len(), 1, "{api} {fault}: stored once");
    let found = target.find(&d.parcel(&id)).unwrap().expect("found");
    assert_eq!(found.object_id, objects[0]["id"].as_str().unwrap());
    assert_eq!(server.objects().len(), 1);
}

#[test]
fn a_connection_broken_after_storing_leaves_exactly_one_object_that_find_finds() {
    unknown_outcome_then_find("dms", "reset-after-store", 20, "connection failed");
    unknown_outcome_then_find("osrest", "reset-after-store", 20, "connection failed");
}

#[test]
fn a_timeout_after_storing_is_transient_and_find_finds_the_object() {
    unknown_outcome_then_find("dms", "timeout:4000", 2, "timed out");
}

#[test]
fn an_answer_without_the_new_id_is_transient_and_find_finds_the_object() {
    unknown_outcome_then_find("dms", "ok-without-id", 20, "without the new object id");
    unknown_outcome_then_find(
        "osrest",
        "ok-without-id",
        20,
        "instead of the new object id",
    );
}

#[test]
fn missing_type_or_parent_is_fatal() {
    let Setup { server, target, .. } = setup_with("dms", &[], |s| s.default = None, 20);
    let clar = doc(|d| *d == Destination::Clarification);
    let e = target.deliver(&clar.parcel("run12-a")).unwrap_err();
    assert!(
        matches!(&e, DeliveryError::Fatal { reason } if reason.contains("no enaio object type for clarification")),
        "{e:?}"
    );
    // the check searches the parent type instead of the missing default type
    target.check().unwrap();
    let lost = Destination::Unit {
        code: "10".into(),
        name: "x".into(),
        dms: Some(DmsTarget {
            object_type: "Posteingang".into(),
            parent: Some("FB99".into()),
        }),
    };
    let d = unit_doc("10");
    let e = target
        .deliver(&Parcel {
            destination: &lost,
            ..d.parcel("run12-b")
        })
        .unwrap_err();
    assert!(
        matches!(&e, DeliveryError::Fatal { reason } if reason.contains("parent FB99 not found")),
        "{e:?}"
    );
    assert!(server.objects().is_empty());

    // with neither a default nor a parent search the check has no type to search
    let Setup { target, .. } = setup_with(
        "dms",
        &[],
        |s| {
            s.default = None;
            s.parent_search = None;
        },
        20,
    );
    let e = target.check().unwrap_err();
    assert!(
        matches!(&e, DeliveryError::Fatal { reason } if reason.contains("needs a `default`")),
        "{e:?}"
    );
}

/// The engine with the enaio target: every document once, though one insert's answer is
/// lost, and a second pass files nothing.
#[test]
fn the_engine_delivers_each_document_once_across_a_lost_answer() {
    for api in ["dms", "osrest"] {
        let Setup {
            server,
            target,
            dir,
        } = setup(
            api,
            &["--faults", "insert#2=reset-after-store,insert#4=500"],
        );
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let items: Vec<Item> = demo()
            .docs
            .iter()
            .map(|d| Item {
                mailroom_id: mailroom_id(d, "run20"),
                record: d.record.clone(),
                pdf: d.pdf.clone(),
                json: d.json.clone(),
                destination: d.destination.clone(),
                fields: d.fields.clone(),
            })
            .collect();
        let settings = DeliverySettings {
            backoff_ms: 10,
            backoff_max_ms: 50,
            ..DeliverySettings::default()
        };
        let unopened = items
            .iter()
            .filter(|i| i.destination == Destination::Unopened)
            .count();
        assert!(unopened > 0, "the demo has confidential mail");
        let mut journal = Journal::open(&out).unwrap();
        let s = deliver_all(&target, &settings, &mut journal, &out, &items, &Quiet).unwrap();
        assert_eq!(s.stopped, None, "{api}");
        assert_eq!(
            s.delivered,
            items.len() - unopened,
            "{api}: {:?}",
            s.outcomes
        );
        assert_eq!(s.held, unopened, "confidential mail is not sent to enaio");
        assert_eq!(
            s.found_after_unknown, 1,
            "{api}: the lost answer was looked up"
        );
        assert_eq!(s.retries, 2, "{api}");
        let objects = server.objects();
        assert_eq!(objects.len(), s.delivered, "{api}: no duplicates");
        let ids: BTreeSet<_> = objects
            .iter()
            .map(|o| o["fields"]["mailroomId"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), objects.len());
        drop(journal);
        let mut journal = Journal::open(&out).unwrap();
        let again = deliver_all(&target, &settings, &mut journal, &out, &items, &Quiet).unwrap();
        assert_eq!(again.delivered_earlier, s.delivered);
        assert_eq!(
            server.objects().len(),
            s.delivered,
            "{api}: the rerun files nothing"
        );
    }
}

// ---------------------------------------------------------------------------------------
// (c) end to end: `mailroom run` delivering to the server
// ---------------------------------------------------------------------------------------

/// The braunschweig profile with a `[delivery]` section for the server.
fn enaio_profile(dir: &Path, server: &DmsServer, api: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("profiles/braunschweig.toml")).unwrap()
        + &format!(
            r#"
[delivery]
target = "enaio"
attempts = 4
backoff_ms = 50
backoff_max_ms = 400
timeout_s = 20

[delivery.enaio]
url = "{url}/"
api = "{api}"
id_field = "mailroomId"
default = {{ object_type = "Posteingang", parent = "POST" }}
parent_search = {{ object_type = "Ordner", field = "Kennung" }}
fields = {{ Eingangsdatum = "received", Seiten = "pages", Einheit = "unit", PdfHash = "pdf_sha256", Dokument = "document_id" }}
object_type_ids = {{ Posteingang = "262146", Gesundheitsakte = "262147", Ordner = "6" }}
"#,
            url = server.url
        );
    let p = dir.join("profile.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `mailroom run samples/demo --out OUT --profile PROFILE` with the login in the
/// environment (never on the command line).
fn run_demo_into(out: &Path, profile: &Path) -> util::RunResult {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .arg("run")
        .arg(root.join("samples/demo"))
        .arg("--out")
        .arg(out)
        .arg("--profile")
        .arg(profile)
        .args(["--jobs", "2"])
        .env_remove("MAILROOM_DMS_TOKEN")
        .env("MAILROOM_DMS_USER", USER)
        .env("MAILROOM_DMS_PASSWORD", PASSWORD)
        .output()
        .expect("cannot start mailroom");
    util::RunResult {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every document of the run is on the server exactly once with its metadata, except
/// confidential mail, which is held for hand delivery; returns how many are there.
fn check_demo_on_server(out: &Path, server: &DmsServer, api: &str) -> usize {
    let report = read_json(&out.join("report.json"));
    let received = &report["started"].as_str().unwrap()[..10];
    let objects = server.objects();
    let journal = std::fs::read_to_string(out.join("journal.jsonl")).unwrap();
    let receipts: BTreeMap<String, String> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "delivered")
        .map(|e| {
            (
                e["document"].as_str().unwrap().to_string(),
                e["receipt"]["object_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut expected = 0;
    let mut held = 0;
    for d in report["documents"].as_array().unwrap() {
        if d["pdf"].is_null() {
            continue;
        }
        let record = read_json(&out.join(d["json"].as_str().unwrap()));
        let id = record["id"].as_str().unwrap();
        let mailroom_id = record["mailroom_id"].as_str().unwrap();
        assert!(mailroom_id.ends_with(id), "{mailroom_id}");
        let on_server: Vec<&Value> = objects
            .iter()
            .filter(|o| o["fields"]["mailroomId"] == mailroom_id)
            .collect();
        let target = &record["routing"]["target"];
        if target["to"] == "unopened" {
            assert!(on_server.is_empty(), "confidential {id} was sent to enaio");
            held += 1;
            continue;
        }
        expected += 1;
        assert_eq!(
            on_server.len(),
            1,
            "{id} is on the server {} times",
            on_server.len()
        );
        let o = on_server[0];
        let (object_type, parent) = match target["unit"].as_str() {
            Some("10") => ("Posteingang", "FB10"),
            Some("50.4") => ("Gesundheitsakte", "Abt504"),
            _ => ("Posteingang", "POST"),
        };
        assert_eq!(o["api"], api);
        assert_eq!(o["object_type"], object_type, "{id}");
        assert_eq!(o["parent_key"], parent, "{id}");
        assert_eq!(o["parent"], server.folder_id(parent).as_str(), "{id}");
        let f = &o["fields"];
        assert_eq!(f["Dokument"], id);
        assert_eq!(f["Eingangsdatum"], received);
        assert_eq!(
            f["Seiten"],
            record["pages"]
                .as_array()
                .unwrap()
                .len()
                .to_string()
                .as_str()
        );
        assert_eq!(
            f["Einheit"],
            target["unit"]
                .as_str()
                .map(Value::from)
                .unwrap_or(Value::Null),
            "{id}"
        );
        assert_eq!(f["PdfHash"], record["pdf"]["sha256"]);
        assert_eq!(o["sha256"], record["pdf"]["sha256"], "{id}");
        let pdf = std::fs::read(
            out.join("documents")
                .join(record["pdf"]["file"].as_str().unwrap()),
        )
        .unwrap();
        assert_eq!(
            mailroom::fsutil::sha256_hex(&pdf),
            record["pdf"]["sha256"].as_str().unwrap()
        );
        assert_eq!(server.content(o["id"].as_str().unwrap()), pdf, "{id}");
        assert_eq!(
            receipts.get(id).map(String::as_str),
            o["id"].as_str(),
            "the journal's receipt names the server's object"
        );
    }
    assert!(
        expected >= 5 && held >= 1,
        "{expected} delivered, {held} held"
    );
    assert_eq!(objects.len(), expected, "nothing else is on the server");
    let delivery = &report["delivery"];
    assert_eq!(delivery["delivered"], expected as u64, "{delivery}");
    assert_eq!(delivery["held"], held as u64, "{delivery}");
    assert_eq!(delivery["pending"], 0);
    assert_eq!(delivery["rejected"], 0);
    expected
}

#[test]
fn mailroom_run_delivers_the_demo_batch_to_enaio_and_a_rerun_sends_nothing() {
    let server = DmsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let profile = enaio_profile(dir.path(), &server, "dms");
    let out = dir.path().join("out");
    let r = run_demo_into(&out, &profile);
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.stdout, r.stderr, server.log());
    assert!(!r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD));
    assert!(
        r.stdout.contains(&format!("enaio {}/", server.url)),
        "{}",
        r.stdout
    );
    let delivered = check_demo_on_server(&out, &server, "dms");
    let inserts = server.requests("insert");
    assert_eq!(inserts, delivered as u64, "one insert per document");

    let again = run_demo_into(&out, &profile);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(server.objects().len(), delivered, "the rerun filed nothing");
    assert_eq!(
        server.requests("insert"),
        inserts,
        "the rerun sent no insert"
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["delivery"]["delivered_earlier"], delivered as u64);
}

#[test]
fn mailroom_run_over_osrest_delivers_each_document_once_across_lost_answers() {
    // the 2nd insert is stored but its answer lost, the 4th is refused once (503)
    let server = DmsServer::start(&[
        "--faults",
        "insert#2=reset-after-store,insert#4=503:retry-after=1",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let profile = enaio_profile(dir.path(), &server, "osrest");
    let out = dir.path().join("out");
    let r = run_demo_into(&out, &profile);
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.stdout, r.stderr, server.log());
    let delivered = check_demo_on_server(&out, &server, "osrest");
    let report = read_json(&out.join("report.json"));
    assert_eq!(
        report["delivery"]["found_after_unknown"], 1,
        "the document whose answer was lost was found, not sent again: {}",
        report["delivery"]
    );
    assert_eq!(report["delivery"]["retries"], 2, "{}", report["delivery"]);
    assert_eq!(
        server.requests("insert"),
        delivered as u64 + 1,
        "one insert was refused"
    );
}

/// `mailroom run` on the demo as a child process, to be killed.
fn spawn_demo_run(out: &Path, profile: &Path) -> Child {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .arg("run")
        .arg(root.join("samples/demo"))
        .arg("--out")
        .arg(out)
        .arg("--profile")
        .arg(profile)
        .args(["--jobs", "2"])
        .env_remove("MAILROOM_DMS_TOKEN")
        .env("MAILROOM_DMS_USER", USER)
        .env("MAILROOM_DMS_PASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start mailroom")
}

#[test]
fn sigkill_in_the_middle_of_delivery_again_and_again_files_every_document_once() {
    // every request takes 300 ms, so a delivery run lasts seconds and a kill lands in it
    let server = DmsServer::start(&["--faults", "all=slow:300"]);
    let dir = tempfile::tempdir().unwrap();
    let profile = enaio_profile(dir.path(), &server, "dms");
    let out = dir.path().join("out");
    let journal = out.join("journal.jsonl");
    let delivering = || {
        std::fs::read_to_string(&journal)
            .map(|j| j.contains("\"event\":\"delivering\""))
            .unwrap_or(false)
    };
    // seeded kill moments after delivery began (ms)
    let mut seed: u64 = 0x6d61_696c;
    let mut kills = Vec::new();
    for round in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let ms = 50 + seed % 1500;
        kills.push(ms);
        let mut child = spawn_demo_run(&out, &profile);
        // the first run packages first (OCR): wait until delivery began
        let t = Instant::now();
        while round == 0 && !delivering() && t.elapsed() < Duration::from_secs(300) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let inserts_before = server.requests("insert");
    let r = run_demo_into(&out, &profile);
    assert_eq!(
        r.code,
        0,
        "after kills at {kills:?} ms: {}\n{}\n{}",
        r.stdout,
        r.stderr,
        server.log()
    );
    // every document on the server exactly once, with its metadata and content
    let delivered = check_demo_on_server(&out, &server, "dms");
    assert_eq!(server.objects().len(), delivered, "no duplicate object");
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["delivery"]["pending"], 0);
    assert!(
        inserts_before > 0,
        "the killed runs delivered something (kills at {kills:?} ms)"
    );
    // no packaging was repeated after it finished once
    let text = std::fs::read_to_string(&journal).unwrap();
    let packaged = text.matches("\"event\":\"packaged\"").count();
    assert_eq!(packaged, 1, "{text}");
    // the kills did land inside delivery: several delivery runs, each cut short
    let runs = text.matches("\"event\":\"delivering\"").count();
    assert!(
        runs >= 4,
        "only {runs} delivery runs for kills at {kills:?} ms:\n{text}"
    );
}

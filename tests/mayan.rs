//! Delivery to a real Mayan EDMS 4.12.2 on this machine (`scripts/mayan.sh`): documents
//! that the real `mailroom` binary made of `samples/demo` go through `MayanTarget`, and
//! everything is read back over Mayan's REST API independently of the target's code.
//!
//! Each test starts Mayan (idempotent: seconds when it runs already; the first start
//! after `scripts/setup.sh` installs nothing more) and empties it with `mayan.sh reset`.
//! If Mayan cannot be started the tests fail with the script's output: never a skip.
//! The tests hold one lock, as they share the one Mayan.

mod util;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use mailroom::deliver::mayan::{DocumentTypeRef, MayanSettings, MayanTarget};
use mailroom::deliver::{DeliveryError, Destination, Target};
use mailroom::package::DocumentRecord;
use serde_json::Value;
use util::run_batch;

// ------------------------------------------------------------------ the local Mayan

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn mayan_home() -> PathBuf {
    std::env::var_os("MAILROOM_MAYAN_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/mailroom-mayan"))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `scripts/mayan.sh CMD`; on failure panics with its output and the log tails.
fn mayan_sh(cmd: &str) -> Duration {
    let start = Instant::now();
    let out = Command::new("bash")
        .arg(root().join("scripts/mayan.sh"))
        .arg(cmd)
        .output()
        .expect("cannot run bash");
    if !out.status.success() {
        let mut logs = String::new();
        if let Ok(dir) = std::fs::read_dir(mayan_home().join("logs")) {
            for entry in dir.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                logs.push_str(&format!(
                    "\n--- {} (last lines)\n{}",
                    entry.path().display(),
                    tail(&text, 15)
                ));
            }
        }
        panic!(
            "scripts/mayan.sh {cmd} failed ({}); Mayan is needed for this test \
             (scripts/setup.sh installs it):\n{}\n{}{logs}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stdout), 20),
            tail(&String::from_utf8_lossy(&out.stderr), 40),
        );
    }
    start.elapsed()
}

/// The connection facts `mayan.sh start` wrote.
struct Mayan {
    env: HashMap<String, String>,
    client: reqwest::blocking::Client,
    _lock: MutexGuard<'static, ()>,
}

/// Takes the lock, starts Mayan if needed and empties it.
fn fresh_mayan() -> Mayan {
    static LOCK: Mutex<()> = Mutex::new(());
    let lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let started = mayan_sh("start");
    let reset = mayan_sh("reset");
    eprintln!(
        "mayan: start {:.1} s, reset {:.1} s",
        started.as_secs_f64(),
        reset.as_secs_f64()
    );
    let path = mayan_home().join("env");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("mayan.sh start wrote no {}: {e}", path.display()));
    let env = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Mayan {
        env,
        // mailroom's client builder: it installs the TLS crypto provider reqwest needs
        client: mailroom::deliver::http::client(Duration::from_secs(60), None).unwrap(),
        _lock: lock,
    }
}

impl Mayan {
    fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the env file"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.var("MAYAN_URL"))
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header(
                "Authorization",
                format!("Token {}", self.var("MAILROOM_DMS_TOKEN")),
            )
            .header("Accept", "application/json")
    }

    /// GET, expecting success and JSON. A 5xx is asked again a few times: Mayan answers
    /// 500 for a list that includes a document its worker is deleting right then.
    fn get(&self, path: &str) -> Value {
        for _ in 0..20 {
            let resp = self.request(reqwest::Method::GET, path).send().unwrap();
            if resp.status().is_server_error() {
                std::thread::sleep(Duration::from_millis(250));
                continue;
            }
            assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
            return resp.json().unwrap();
        }
        panic!("GET {path}: server errors 20 times");
    }

    /// Every item of a list endpoint.
    fn list(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        for page in 1.. {
            let sep = if path.contains('?') { '&' } else { '?' };
            let p = self.get(&format!("{path}{sep}page_size=100&page={page}"));
            items.extend(p["results"].as_array().unwrap().iter().cloned());
            if p["next"].is_null() {
                break;
            }
        }
        items
    }

    fn download_sha256(&self, path: &str) -> String {
        let resp = self.request(reqwest::Method::GET, path).send().unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        mailroom::fsutil::sha256_hex(&resp.bytes().unwrap())
    }

    /// Uploads a file as an interrupted delivery would have left it: label and
    /// description, nothing else.
    fn upload_raw(&self, label: &str, description: &str, pdf: &Path) -> u64 {
        let form = reqwest::blocking::multipart::Form::new()
            .text(
                "document_type_id",
                self.var("MAYAN_DOCUMENT_TYPE_ID").to_string(),
            )
            .text("label", label.to_string())
            .text("description", description.to_string())
            .file("file", pdf)
            .unwrap();
        let resp = self
            .request(reqwest::Method::POST, "documents/upload/")
            .multipart(form)
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "upload: {}", resp.status());
        resp.json::<Value>().unwrap()["id"].as_u64().unwrap()
    }

    /// Document ids in Mayan (not in the trash), by label.
    fn documents_by_label(&self) -> BTreeMap<String, Vec<u64>> {
        let mut by_label: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for d in self.list("documents/") {
            by_label
                .entry(d["label"].as_str().unwrap().to_string())
                .or_default()
                .push(d["id"].as_u64().unwrap());
        }
        by_label
    }

    /// The settings a profile would have for this Mayan, with the token in a 0600 file.
    fn settings(&self, dir: &Path) -> MayanSettings {
        let cred = dir.join("mayan-credentials");
        std::fs::write(
            &cred,
            format!("token = {}\n", self.var("MAILROOM_DMS_TOKEN")),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let metadata = [
            ("document_id", "document_id"),
            ("unit", "unit"),
            ("received", "received"),
            ("pages", "pages"),
            ("case", "case"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        MayanSettings {
            url: self.var("MAYAN_URL").to_string(),
            document_type: DocumentTypeRef::Label(self.var("MAYAN_DOCUMENT_TYPE").to_string()),
            metadata,
            id_metadata: "mailroom_id".into(),
            cabinet: Some(self.var("MAYAN_CABINET").to_string()),
            cabinet_per_unit: true,
            language: "deu".into(),
            attach_timeout_s: 120,
            credentials_file: Some(cred),
            ca_file: None,
        }
    }
}

// ------------------------------------------------------------------ mailroom's documents

/// One run of the real binary over `samples/demo` with the Braunschweig profile (units,
/// clarification and confidential letters), shared by the tests.
struct Demo {
    out: tempfile::TempDir,
    report: Value,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let out = tempfile::tempdir().unwrap();
        let profile = root().join("profiles/braunschweig.toml");
        let r = run_batch(
            root().join("samples/demo"),
            out.path(),
            &["--profile".as_ref(), profile.as_os_str()],
        );
        assert_eq!(r.code, 0, "mailroom run failed:\n{}", r.stderr);
        let report: Value =
            serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap())
                .unwrap();
        Demo { out, report }
    })
}

/// A packaged document: the delivery engine's own item.
type Doc = mailroom::deliver::engine::Item;

/// The demo's documents, with mailroom ids unique to this test run.
fn demo_documents(run: &str) -> Vec<Doc> {
    let demo = demo();
    documents(demo.out.path(), &demo.report, Some(run))
}

/// The packaged documents of an output folder, with their index data as `mailroom run`
/// computes it; mailroom ids `<run>-<document id>`, or as packaged when `run` is None.
fn documents(out: &Path, report: &Value, run: Option<&str>) -> Vec<Doc> {
    let received = report["started"].as_str().unwrap()[..10].to_string();
    let mut docs = Vec::new();
    for d in report["documents"].as_array().unwrap() {
        let Some(pdf) = d["pdf"].as_str() else {
            continue;
        };
        let json = out.join(d["json"].as_str().unwrap());
        let record: DocumentRecord =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let destination = match record.routing.as_ref().map(|r| &r.target) {
            Some(mailroom::routing::Target::Unit { unit }) => Destination::Unit {
                code: unit.clone(),
                name: String::new(),
                dms: None,
            },
            Some(mailroom::routing::Target::Clarification) => Destination::Clarification,
            Some(mailroom::routing::Target::Unopened) => Destination::Unopened,
            None => Destination::Unrouted,
        };
        let mailroom_id = match run {
            Some(run) => format!("{run}-{}", record.id),
            None => record.mailroom_id.clone(),
        };
        assert!(!mailroom_id.is_empty());
        let mut fields = BTreeMap::new();
        fields.insert("mailroom_id".into(), mailroom_id.clone());
        fields.insert("document_id".into(), record.id.clone());
        fields.insert("received".into(), received.clone());
        fields.insert("pages".into(), record.pages.len().to_string());
        if let Destination::Unit { code, .. } = &destination {
            fields.insert("unit".into(), code.clone());
        }
        let case = record
            .separation
            .cover_sheet
            .as_ref()
            .and_then(|c| c.case.clone())
            .filter(|c| !c.is_empty());
        if let Some(case) = case {
            fields.insert("case".into(), case);
        }
        docs.push(Doc {
            mailroom_id,
            record,
            pdf: out.join(pdf),
            json,
            destination,
            fields,
        });
    }
    assert!(docs.len() >= 5, "the demo has documents");
    docs
}

fn unique_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("t{nanos:x}")
}

/// Reads a delivered document back over the API and compares it with the parcel.
fn assert_holds(mayan: &Mayan, object_id: &str, doc: &Doc, parent_cabinet: &str) {
    let d = mayan.get(&format!("documents/{object_id}/"));
    assert_eq!(d["label"], doc.record.id.as_str());
    assert_eq!(
        d["document_type"]["label"],
        mayan.var("MAYAN_DOCUMENT_TYPE")
    );
    // metadata: the mailroom id and every mapped field with a value, nothing else
    let metadata: BTreeMap<String, String> = mayan
        .list(&format!("documents/{object_id}/metadata/"))
        .iter()
        .map(|m| {
            (
                m["metadata_type"]["name"].as_str().unwrap().to_string(),
                m["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut expected: BTreeMap<String, String> = doc
        .fields
        .iter()
        .filter(|(k, _)| ["document_id", "unit", "received", "pages", "case"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    expected.insert("mailroom_id".into(), doc.mailroom_id.clone());
    assert_eq!(metadata, expected, "metadata of {}", doc.record.id);
    // cabinet: the unit's below the parent, or the clarification one
    let cabinets: Vec<String> = mayan
        .list(&format!("documents/{object_id}/cabinets/"))
        .iter()
        .map(|c| c["full_path"].as_str().unwrap().to_string())
        .collect();
    let want = match &doc.destination {
        Destination::Unit { code, .. } => format!("{parent_cabinet} / {code}"),
        Destination::Clarification => format!("{parent_cabinet} / clarification"),
        other => panic!("{other:?} is not delivered"),
    };
    assert_eq!(cabinets, vec![want], "cabinets of {}", doc.record.id);
    // the file: the very PDF
    let file_id = d["file_latest"]["id"].as_u64().expect("a file");
    let sha = mayan.download_sha256(&format!("documents/{object_id}/files/{file_id}/download/"));
    assert_eq!(sha, mailroom::fsutil::sha256_file(&doc.pdf).unwrap());
    assert_eq!(sha, doc.record.pdf.as_ref().unwrap().sha256);
}

// ------------------------------------------------------------------ the tests

#[test]
fn demo_documents_delivered_to_mayan_read_back_equal_and_are_found_exactly_once() {
    let docs = demo_documents(&unique_run_id());
    let mayan = fresh_mayan();
    let dir = tempfile::tempdir().unwrap();
    let target = MayanTarget::new(&mayan.settings(dir.path()), Duration::from_secs(60)).unwrap();
    assert_eq!(
        target.describe(),
        format!("mayan {}", mayan.var("MAYAN_URL"))
    );
    target.check().expect("check against the running Mayan");

    let mut delivered = BTreeMap::new();
    let mut held = 0;
    let mut times = Vec::new();
    for doc in &docs {
        if !target.takes(&doc.destination) {
            held += 1;
            continue;
        }
        assert_eq!(
            target.find(&doc.parcel()).unwrap(),
            None,
            "nothing there yet"
        );
        let t = Instant::now();
        let receipt = target
            .deliver(&doc.parcel())
            .unwrap_or_else(|e| panic!("{}: {e}", doc.record.id));
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(receipt.target, target.describe());
        delivered.insert(doc.record.id.clone(), receipt.object_id);
    }
    assert!(held >= 2, "the demo's confidential letters are not sent");
    assert!(delivered.len() >= 5);
    eprintln!(
        "mayan: {} documents delivered, {:.2} s each on average (max {:.2} s)",
        times.len(),
        times.iter().sum::<f64>() / times.len() as f64,
        times.iter().cloned().fold(0.0, f64::max)
    );

    // Every delivered document is there once, equal to what was sent; nothing else is.
    let by_label = mayan.documents_by_label();
    assert_eq!(
        by_label.keys().cloned().collect::<Vec<_>>(),
        delivered.keys().cloned().collect::<Vec<_>>(),
        "Mayan holds exactly the delivered documents (no confidential letter)"
    );
    for (label, ids) in &by_label {
        assert_eq!(ids.len(), 1, "{label} is in Mayan {} times", ids.len());
    }
    let parent = mayan.var("MAYAN_CABINET").to_string();
    for doc in docs.iter().filter(|d| delivered.contains_key(&d.record.id)) {
        let object_id = &delivered[&doc.record.id];
        assert_holds(&mayan, object_id, doc, &parent);
        // find: the same document, and finding changes nothing
        let found = target.find(&doc.parcel()).unwrap().expect("found");
        assert_eq!(&found.object_id, object_id);
    }
    assert_eq!(mayan.documents_by_label(), by_label, "find created nothing");

    // Another delivery of the same documents (another run id) is not taken for ours.
    let other = demo_documents(&unique_run_id());
    for doc in other
        .iter()
        .filter(|d| delivered.contains_key(&d.record.id))
    {
        assert_eq!(
            target.find(&doc.parcel()).unwrap(),
            None,
            "{}",
            doc.mailroom_id
        );
    }
}

#[test]
fn an_interrupted_delivery_is_found_and_finished_instead_of_uploaded_again() {
    let docs = demo_documents(&unique_run_id());
    let mayan = fresh_mayan();
    let dir = tempfile::tempdir().unwrap();
    let target = MayanTarget::new(&mayan.settings(dir.path()), Duration::from_secs(60)).unwrap();
    let mut routed = docs
        .iter()
        .filter(|d| matches!(d.destination, Destination::Unit { .. }));
    let (doc, second) = (routed.next().unwrap(), routed.next().unwrap());

    // An earlier batch's document with the same label is not ours.
    let decoy = mayan.upload_raw(&doc.record.id, "mailroom_id: an-earlier-run-0001", &doc.pdf);
    assert_eq!(target.find(&doc.parcel()).unwrap(), None);

    // The process died right after the upload: no metadata, no cabinet, and perhaps
    // no file yet. find finishes that document.
    let partial = mayan.upload_raw(
        &doc.record.id,
        &format!("mailroom_id: {}", doc.mailroom_id),
        &doc.pdf,
    );
    let receipt = target
        .find(&doc.parcel())
        .unwrap()
        .expect("the partial document");
    assert_eq!(receipt.object_id, partial.to_string());
    assert_holds(&mayan, &receipt.object_id, doc, mayan.var("MAYAN_CABINET"));
    let by_label = mayan.documents_by_label();
    let mut both = vec![decoy, partial];
    both.sort_unstable();
    assert_eq!(by_label[&doc.record.id], both, "no second upload");

    // A document that holds another file under our id: found, read back, refused, and
    // moved to the trash rather than kept as if it were ours.
    let wrong = mayan.upload_raw(
        &second.record.id,
        &format!("mailroom_id: {}", second.mailroom_id),
        &doc.pdf,
    );
    match target.find(&second.parcel()) {
        Err(DeliveryError::Rejected { reason }) => {
            assert!(reason.contains("SHA-256"), "{reason}");
            assert!(reason.contains(&format!("document {wrong}")), "{reason}");
            assert!(reason.contains("trash"), "{reason}");
        }
        other => panic!("a wrong file must be refused, got {other:?}"),
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while mayan.documents_by_label().contains_key(&second.record.id) {
        assert!(Instant::now() < deadline, "the refused document stays");
        std::thread::sleep(Duration::from_millis(200));
    }
    // and the next attempt delivers it properly
    assert_eq!(target.find(&second.parcel()).unwrap(), None);
    let r = target.deliver(&second.parcel()).unwrap();
    assert_holds(&mayan, &r.object_id, second, mayan.var("MAYAN_CABINET"));
}

#[test]
fn wrong_settings_stop_the_delivery_before_the_first_document() {
    let mayan = fresh_mayan();
    let dir = tempfile::tempdir().unwrap();
    let fatal = |s: MayanSettings| match MayanTarget::new(&s, Duration::from_secs(30))
        .unwrap()
        .check()
    {
        Err(DeliveryError::Fatal { reason }) => reason,
        other => panic!("expected a fatal error, got {other:?}"),
    };
    let good = mayan.settings(dir.path());
    let reason = fatal(MayanSettings {
        document_type: DocumentTypeRef::Label("Nicht vorhanden".into()),
        ..good.clone()
    });
    assert!(reason.contains("no document type"), "{reason}");
    let mut unknown_metadata = good.clone();
    unknown_metadata
        .metadata
        .insert("no_such_type".into(), "unit".into());
    assert!(fatal(unknown_metadata).contains("no_such_type"));
    let reason = fatal(MayanSettings {
        cabinet: Some("Kein Schrank".into()),
        ..good.clone()
    });
    assert!(reason.contains("no cabinet"), "{reason}");
    // a token Mayan does not know
    let bad = dir.path().join("bad-token");
    std::fs::write(&bad, "token = 0000000000000000000000000000000000000000\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let reason = fatal(MayanSettings {
        credentials_file: Some(bad),
        ..good
    });
    assert!(reason.contains("401") || reason.contains("403"), "{reason}");
}

// ------------------------------------------------------------------ mailroom run -> Mayan

/// braunschweig.toml with `[delivery] target = "mayan"` for this Mayan; the token is not
/// in it (the run gets it from `MAILROOM_DMS_TOKEN`).
fn mayan_profile(mayan: &Mayan, dir: &Path) -> PathBuf {
    let mut text = std::fs::read_to_string(root().join("profiles/braunschweig.toml")).unwrap();
    assert!(
        !text.contains("[delivery"),
        "the profile sets no delivery of its own"
    );
    text.push_str(&format!(
        r#"
[delivery]
target = "mayan"
attempts = 3
backoff_ms = 200

[delivery.mayan]
url = "{url}"
document_type = "{document_type}"
cabinet = "{cabinet}"
cabinet_per_unit = true

[delivery.mayan.metadata]
document_id = "document_id"
unit = "unit"
received = "received"
pages = "pages"
case = "case"
"#,
        url = mayan.var("MAYAN_URL"),
        document_type = mayan.var("MAYAN_DOCUMENT_TYPE"),
        cabinet = mayan.var("MAYAN_CABINET"),
    ));
    let path = dir.join("mayan.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `mailroom run samples/demo --out OUT --profile PROFILE` with the token in the
/// environment.
fn mailroom_run(mayan: &Mayan, out: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailroom"));
    cmd.arg("run")
        .arg(root().join("samples/demo"))
        .arg("--out")
        .arg(out)
        .arg("--profile")
        .arg(profile)
        .env("MAILROOM_DMS_TOKEN", mayan.var("MAILROOM_DMS_TOKEN"));
    cmd
}

fn run_to_end(mayan: &Mayan, out: &Path, profile: &Path) -> Value {
    let r = mailroom_run(mayan, out, profile).output().unwrap();
    assert_eq!(
        r.status.code(),
        Some(0),
        "mailroom run:\n{}\n{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

/// Object ids of the delivered documents, by document id, from the run report.
fn delivered_ids(report: &Value) -> BTreeMap<String, String> {
    report["delivery"]["outcomes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, o)| o["status"] == "delivered")
        .map(|(id, o)| (id.clone(), o["object_id"].as_str().unwrap().to_string()))
        .collect()
}

/// Mayan holds each delivered document once, complete and equal to the packaged one,
/// and nothing else; the confidential letters are not there.
fn assert_mayan_holds_the_run(mayan: &Mayan, out: &Path, report: &Value) {
    let docs = documents(out, report, None);
    let delivered = delivered_ids(report);
    let confidential: Vec<&Doc> = docs
        .iter()
        .filter(|d| d.destination == Destination::Unopened)
        .collect();
    assert!(confidential.len() >= 2, "the demo has confidential letters");
    assert_eq!(delivered.len(), docs.len() - confidential.len());
    let by_label = mayan.documents_by_label();
    for (id, object_id) in &delivered {
        assert_eq!(
            by_label.get(id),
            Some(&vec![object_id.parse::<u64>().unwrap()]),
            "{id} in Mayan once, as the report says"
        );
    }
    assert_eq!(by_label.len(), delivered.len(), "nothing else in Mayan");
    for doc in docs.iter().filter(|d| delivered.contains_key(&d.record.id)) {
        assert_holds(
            mayan,
            &delivered[&doc.record.id],
            doc,
            mayan.var("MAYAN_CABINET"),
        );
    }
}

#[test]
fn mailroom_run_delivers_the_demo_to_mayan_and_a_second_run_sends_nothing() {
    let mayan = fresh_mayan();
    let dir = tempfile::tempdir().unwrap();
    let profile = mayan_profile(&mayan, dir.path());
    let out = dir.path().join("out");

    let report = run_to_end(&mayan, &out, &profile);
    let summary = &report["delivery"];
    assert_eq!(
        summary["target"],
        format!("mayan {}", mayan.var("MAYAN_URL"))
    );
    assert_eq!(summary["held"], 2, "{summary}");
    assert_eq!(summary["pending"], 0, "{summary}");
    assert_eq!(summary["rejected"], 0, "{summary}");
    assert_eq!(summary["delivered_earlier"], 0, "{summary}");
    assert_mayan_holds_the_run(&mayan, &out, &report);
    let first = mayan.documents_by_label();

    // The same command again: everything was delivered, nothing is sent.
    let again = run_to_end(&mayan, &out, &profile);
    assert_eq!(again["delivery"]["delivered_earlier"], summary["delivered"]);
    assert_eq!(delivered_ids(&again), delivered_ids(&report));
    assert_eq!(
        mayan.documents_by_label(),
        first,
        "the second run sent nothing"
    );

    // The receipt of the last document is lost (the process died after Mayan took the
    // document, before the journal line): the next run finds it instead of sending it.
    let journal = out.join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let last_receipt = lines
        .iter()
        .rposition(|l| l.contains(r#""event":"delivered""#))
        .unwrap();
    let kept: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != last_receipt)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&journal, kept).unwrap();
    let found = run_to_end(&mayan, &out, &profile);
    assert_eq!(
        found["delivery"]["found_after_unknown"], 1,
        "{}",
        found["delivery"]
    );
    assert_eq!(delivered_ids(&found), delivered_ids(&report));
    assert_eq!(mayan.documents_by_label(), first, "found, not sent again");
}

#[test]
fn mailroom_killed_during_delivery_to_mayan_then_rerun_delivers_every_document_once() {
    let mayan = fresh_mayan();
    let dir = tempfile::tempdir().unwrap();
    let profile = mayan_profile(&mayan, dir.path());
    let out = dir.path().join("out");
    let journal = out.join("journal.jsonl");
    // Kill moments after delivery began, seeded (the same every run) and short against
    // one document's delivery (upload, metadata, cabinet, waiting for Mayan's worker,
    // read-back: 0.5-3 s), so that each kill lands inside a delivery at a different step.
    let mut seed: u64 = 0x6d61_7961;
    let kills: Vec<u64> = (0..4)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            150 + seed % 1500
        })
        .collect();
    let mut interrupted = 0;
    for ms in &kills {
        let mut child = mailroom_run(&mayan, &out, &profile)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // wait for this run's `delivering` line (packaging comes first, once)
        let before = std::fs::read_to_string(&journal)
            .map(|t| t.matches(r#""event":"delivering""#).count())
            .unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let now = std::fs::read_to_string(&journal)
                .map(|t| t.matches(r#""event":"delivering""#).count())
                .unwrap_or(0);
            if now > before || child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "no delivery began");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(*ms));
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        // SIGKILL: no cleanup, as in a power cut
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        interrupted >= 2,
        "kills at {kills:?} ms interrupted {interrupted} deliveries"
    );
    let report = run_to_end(&mayan, &out, &profile);
    assert_eq!(report["delivery"]["pending"], 0, "{}", report["delivery"]);
    eprintln!(
        "mayan: kills at {kills:?} ms after delivery began; final run: {}",
        serde_json::json!({
            "delivered_earlier": report["delivery"]["delivered_earlier"],
            "found_after_unknown": report["delivery"]["found_after_unknown"],
        })
    );
    assert_mayan_holds_the_run(&mayan, &out, &report);
}

//! The run's structured log (`<out>/log.jsonl`): the real binary on a generated batch
//! with truth text, delivering to the enaio test server with a distinctive password and
//! injected failures. Every line is JSON with time, run and event; there is one event per
//! page and per document, the delivery attempts are there; and neither the letters' text
//! nor the password (plain or as an HTTP Basic value) is anywhere in the log, the report
//! or the journal.

mod util;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use util::dms::DmsServer;
use util::TempBatch;

const USER: &str = "poststelle";
const PASSWORD: &str = "Kr0kodil-Tr\u{e4}nen#7731";

fn profile(dir: &Path, url: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("profiles/braunschweig.toml")).unwrap()
        + &format!(
            r#"
[delivery]
target = "enaio"
attempts = 3
backoff_ms = 20
backoff_max_ms = 100
timeout_s = 20

[delivery.enaio]
url = "{url}/"
api = "dms"
id_field = "mailroomId"
default = {{ object_type = "Posteingang", parent = "POST" }}
parent_search = {{ object_type = "Ordner", field = "Kennung" }}
fields = {{ Seiten = "pages", Einheit = "unit", PdfHash = "pdf_sha256", Dokument = "document_id" }}
object_type_ids = {{ Posteingang = "262146", Gesundheitsakte = "262147", Ordner = "6" }}
"#
        );
    let p = dir.join("profile.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(batch: &Path, out: &Path, profile: &Path) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .arg("run")
        .arg(batch)
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
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn events(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

#[test]
fn the_log_records_every_item_without_text_or_credentials() {
    let batch = TempBatch::generate(6, 4711);
    // a file that cannot be read, for the refused and quarantined events
    std::fs::write(batch.path().join("notiz.txt"), b"Bitte an FB 61").unwrap();
    let dir = tempfile::tempdir().unwrap();
    // the first insert fails (retried), the second is refused for good
    let server = DmsServer::start_with_login(
        &dir.path().join("state"),
        USER,
        PASSWORD,
        &["--faults", "insert#1=503,insert#2=422"],
    );
    let profile = profile(dir.path(), &server.url);
    let out = dir.path().join("out");
    let (code, stderr) = run(batch.path(), &out, &profile);
    assert_eq!(
        code, 3,
        "a quarantined file and a refused document\n{stderr}"
    );

    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let run_id = report["run_id"].as_str().unwrap();
    let ev = events(&out);
    for e in &ev {
        let ts = e["ts"].as_str().unwrap();
        assert!(
            ts.len() == 20 && ts.starts_with("20") && ts.ends_with('Z') && &ts[10..11] == "T",
            "{e}"
        );
        assert_eq!(e["run_id"], run_id, "{e}");
        assert!(e["event"].is_string(), "{e}");
    }
    assert_eq!(ev.first().unwrap()["event"], "run_started");
    assert_eq!(ev.last().unwrap()["event"], "run_finished");
    let started = of(&ev, "run_started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["profile"], "braunschweig");
    assert_eq!(started[0]["jobs"], 2);
    assert_eq!(started[0]["resume"], false);

    // files: every one probed or refused, in batch order
    let c = &report["counts"];
    let probed = of(&ev, "file_probed");
    let refused = of(&ev, "file_refused");
    assert_eq!(
        (probed.len() + refused.len()) as u64,
        c["files_in"].as_u64().unwrap()
    );
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["file"], "notiz.txt");
    assert_eq!(refused[0]["stage"], "ingest");
    let truth_files: BTreeSet<&str> = batch.truth.pages.iter().map(|p| p.file.as_str()).collect();
    let probed_files: BTreeSet<&str> = probed.iter().map(|e| e["file"].as_str().unwrap()).collect();
    assert_eq!(probed_files, truth_files);
    for e in &probed {
        assert_eq!(e["sha256"].as_str().unwrap().len(), 64, "{e}");
        assert!(e["bytes"].as_u64().unwrap() > 0, "{e}");
        assert!(e["pages"].as_u64().unwrap() >= 1, "{e}");
    }

    // pages: one event per page of the batch, each page once
    let pages = of(&ev, "page_read");
    assert!(of(&ev, "page_failed").is_empty());
    assert_eq!(pages.len(), batch.truth.pages.len());
    let keys: BTreeSet<(String, u64)> = pages
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["page"].as_u64().unwrap(),
            )
        })
        .collect();
    let truth_keys: BTreeSet<(String, u64)> = batch
        .truth
        .pages
        .iter()
        .map(|p| (p.file.clone(), u64::from(p.frame) + 1))
        .collect();
    assert_eq!(keys, truth_keys);
    for e in &pages {
        assert!(e["timings_ms"]["decode"].is_u64(), "{e}");
        assert!(e["flags"].is_array(), "{e}");
        if e["blank"] == false {
            assert!(e["words"].as_u64().unwrap() > 0, "{e}");
            assert!(e["confidence"].as_f64().unwrap() > 0.0, "{e}");
        }
    }

    // documents: one event per document, with the PDF's hash as in its record
    let docs = of(&ev, "document_written");
    let listed = report["documents"].as_array().unwrap();
    assert_eq!(docs.len(), listed.len());
    for d in listed {
        let e = docs
            .iter()
            .find(|e| e["document"] == d["id"])
            .unwrap_or_else(|| panic!("no event for {}", d["id"]));
        assert_eq!(e["pages"], d["pages"]);
        assert_eq!(e["pdf"], d["pdf"]);
        let record: Value =
            serde_json::from_slice(&std::fs::read(out.join(d["json"].as_str().unwrap())).unwrap())
                .unwrap();
        assert_eq!(e["pdf_sha256"], record["pdf"]["sha256"]);
        assert!(e["target"].is_string(), "{e}");
    }

    // quarantine: the unreadable file (the document the DMS refused is a delivery outcome)
    let q = of(&ev, "quarantined");
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["file"], "notiz.txt");

    // delivery: each attempt, with its error class and the server's message
    let attempts = of(&ev, "delivery_attempt");
    let failed: Vec<&&Value> = attempts
        .iter()
        .filter(|e| e["result"] == "failed")
        .collect();
    assert!(
        failed.iter().any(|e| e["error_class"] == "transient"),
        "{failed:?}"
    );
    assert!(
        failed.iter().any(|e| e["error_class"] == "rejected"
            && e["error"].as_str().unwrap().contains("422")),
        "{failed:?}"
    );
    for e in attempts.iter().filter(|e| e["result"] == "delivered") {
        assert!(!e["object_id"].as_str().unwrap().is_empty(), "{e}");
    }
    let done = of(&ev, "delivery_done");
    let outcomes = report["delivery"]["outcomes"].as_object().unwrap();
    assert_eq!(done.len(), outcomes.len());
    for e in &done {
        let o = &outcomes[e["document"].as_str().unwrap()];
        assert_eq!(e["status"], o["status"], "{e}");
        if o["status"] == "delivered" {
            assert_eq!(e["object_id"], o["object_id"]);
        }
    }
    assert!(done.iter().any(|e| e["status"] == "rejected"));
    assert!(done.iter().any(|e| e["status"] == "delivered"));
    let finished = ev.last().unwrap();
    assert_eq!(finished["exit_code"], 3);
    assert_eq!(finished["counts"], report["counts"]);
    assert_eq!(
        finished["delivery"]["delivered"],
        report["delivery"]["delivered"]
    );

    // a second run resumes and appends to the same log
    let lines_before = ev.len();
    let (code, stderr) = run(batch.path(), &out, &profile);
    assert_eq!(code, 3, "{stderr}");
    let ev = events(&out);
    assert!(ev.len() > lines_before);
    let again = &ev[lines_before];
    assert_eq!(again["event"], "run_started");
    assert_eq!(again["resume"], true);
    assert_eq!(again["run_id"], run_id);
    assert!(of(&ev[lines_before..], "page_read").is_empty());
    assert_eq!(ev.last().unwrap()["event"], "run_finished");

    // no document text and no credentials, anywhere in the log
    let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    let config = std::fs::read_to_string(&profile).unwrap();
    let mut checked = 0;
    for p in &batch.truth.pages {
        for line in p.text.lines().map(str::trim).filter(|l| l.len() >= 12) {
            assert!(
                !log.contains(line),
                "a line of a letter is in the log: {line:?}"
            );
        }
        for word in p.text.split(|c: char| !c.is_alphanumeric()) {
            // names the profile itself uses (unit and rule names) may appear as such
            if word.chars().count() >= 6 && !config.contains(word) {
                checked += 1;
                assert!(
                    !log.contains(word),
                    "a word of a letter is in the log: {word:?}"
                );
            }
        }
    }
    assert!(
        checked > 200,
        "the batch has text to look for ({checked} words)"
    );
    let basic = mailroom::lab::dms_server::base64_encode(format!("{USER}:{PASSWORD}").as_bytes());
    for file in ["log.jsonl", "report.json", "journal.jsonl"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(!text.contains(PASSWORD), "the password is in {file}");
        assert!(
            !text.contains("Kr0kodil"),
            "part of the password is in {file}"
        );
        assert!(!text.contains(&basic), "the Basic login is in {file}");
    }
}

//! End-to-end tests of delivery, resume, the transfer note and `mailroom verify`, on the
//! real binary: folder target (the default), a target that is down, SIGKILL during a
//! run, and altered output files.

mod util;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use util::{mailroom, run_batch, tool, TempBatch};

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn journal(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How many `delivered` lines the journal holds per document.
fn deliveries(out: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in journal(out) {
        if e["event"] == "delivered" {
            *m.entry(e["document"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    m
}

/// Every file below `dir`, relative.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    v.sort();
    v
}

fn no_temp_files(out: &Path) {
    let temps: Vec<_> = files(out)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(temps.is_empty(), "temporary files left: {temps:?}");
}

/// Documents with a PDF in the report, by id.
fn documents_with_pdf(out: &Path) -> Vec<Value> {
    let report = read_json(&out.join("report.json"));
    report["documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["pdf"].is_null())
        .cloned()
        .collect()
}

#[test]
fn folder_delivery_files_per_unit_with_index_files_and_a_rerun_sends_nothing_twice() {
    let profile_dir = tempfile::tempdir().unwrap();
    let profile = profile_dir.path().join("p.toml");
    let text = std::fs::read_to_string("profiles/braunschweig.toml").unwrap()
        + "\n[delivery.folder]\ndmsdata = true\narchive = \"Post\"\nfields = { Eingangsdatum = \"received\", Seiten = \"pages\", Org = \"unit\" }\n";
    std::fs::write(&profile, text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    let args: [&OsStr; 2] = ["--profile".as_ref(), profile.as_os_str()];
    let r = run_batch("samples/demo", out, &args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("delivery"), "{}", r.stdout);

    let truth = read_json(Path::new("samples/demo/truth.json"));
    let docs = documents_with_pdf(out);
    assert_eq!(docs.len(), truth["documents"].as_array().unwrap().len());
    for d in &docs {
        let id = d["id"].as_str().unwrap();
        let record = read_json(&out.join(d["json"].as_str().unwrap()));
        let folder = match record["routing"]["target"]["to"].as_str().unwrap() {
            "unit" => record["routing"]["target"]["unit"]
                .as_str()
                .unwrap()
                .to_string(),
            other => format!("_{other}"),
        };
        let dir = out.join("delivered").join(&folder);
        let pdf = std::fs::read(dir.join(format!("{id}.pdf")))
            .unwrap_or_else(|e| panic!("{id} not in {}: {e}", dir.display()));
        assert_eq!(
            mailroom::fsutil::sha256_hex(&pdf),
            record["pdf"]["sha256"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            std::fs::read(dir.join(format!("{id}.json"))).unwrap(),
            std::fs::read(out.join(d["json"].as_str().unwrap())).unwrap()
        );
        // the DMSData index file is well-formed XML with the search key and the fields
        let xml_path = dir.join(format!("{id}.xml"));
        let parsed = tool(
            "python3",
            &[
                "-c".as_ref(),
                "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); print(d.documentElement.tagName); print('|'.join(f.getAttribute('internal_name') + '=' + (f.firstChild.data if f.firstChild else '') for f in d.getElementsByTagName('Field')))".as_ref(),
                xml_path.as_os_str(),
            ],
        );
        assert!(
            parsed.status.success(),
            "{}",
            String::from_utf8_lossy(&parsed.stderr)
        );
        let parsed = String::from_utf8(parsed.stdout).unwrap();
        let mid = record["mailroom_id"].as_str().unwrap();
        assert!(parsed.starts_with("DMSData\n"), "{parsed}");
        assert!(parsed.contains(&format!("mailroomId={mid}")), "{parsed}");
        let pages = record["pages"].as_array().unwrap().len();
        assert!(parsed.contains(&format!("Seiten={pages}")), "{parsed}");
        assert!(parsed.contains("Eingangsdatum=20"), "{parsed}");
    }
    no_temp_files(out);
    let once = deliveries(out);
    assert_eq!(once.len(), docs.len());
    assert!(once.values().all(|n| *n == 1), "{once:?}");

    // The same command again: resumes, finds everything delivered, sends nothing.
    let before = files(&out.join("delivered"));
    let again = run_batch("samples/demo", out, &args);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .stdout
            .contains(&format!("({} by an earlier run)", docs.len())),
        "{}",
        again.stdout
    );
    assert_eq!(deliveries(out), once);
    assert_eq!(files(&out.join("delivered")), before);
    let v = mailroom(&["verify".as_ref(), out.as_os_str()]);
    assert_eq!(v.code, 0, "{}", v.stdout);
}

#[test]
fn verify_names_each_altered_file_and_a_rewritten_chain() {
    let batch = TempBatch::generate(6, 606);
    // one bad input, so that the quarantine holds a copy to check too
    std::fs::write(
        batch.path().join("zz_broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    let r = run_batch(batch.path(), out, &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let v = mailroom(&["verify".as_ref(), out.as_os_str()]);
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert!(v.stdout.contains("intact"), "{}", v.stdout);

    let mut checked = 0;
    for dir in ["documents", "evidence", "quarantine", "."] {
        for rel in files(&out.join(dir)) {
            if dir == "." && rel != Path::new("report.json") {
                continue; // the journal itself is the anchor; delivered/ copies are links
            }
            let path = out.join(dir).join(&rel);
            let original = std::fs::read(&path).unwrap();
            let mut changed = original.clone();
            let i = changed.len() / 2;
            changed[i] ^= 0x01;
            // a hard-linked delivered copy must not share the change: replace the file
            std::fs::remove_file(&path).unwrap();
            std::fs::write(&path, &changed).unwrap();
            let v = mailroom(&["verify".as_ref(), out.as_os_str()]);
            assert_eq!(v.code, 6, "{} not detected:\n{}", path.display(), v.stdout);
            let name = rel.file_name().unwrap().to_string_lossy().into_owned();
            assert!(v.stdout.contains(&name), "{name} not named:\n{}", v.stdout);
            std::fs::write(&path, &original).unwrap();
            checked += 1;
        }
    }
    assert!(checked >= 6, "too few files checked: {checked}");
    let v = mailroom(&["verify".as_ref(), out.as_os_str()]);
    assert_eq!(v.code, 0, "restored files must verify:\n{}", v.stdout);

    // A consistent rewrite of the chain in the report is caught by the journal's head.
    let report_path = out.join("report.json");
    let original = std::fs::read(&report_path).unwrap();
    let mut report: Value = serde_json::from_slice(&original).unwrap();
    let run_id = report["run_id"].as_str().unwrap().to_string();
    let mut records: Vec<(String, String)> = report["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["document"].as_str().unwrap().to_string(),
                l["record_sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    records[0].1 = "0".repeat(64);
    report["chain"] = serde_json::to_value(mailroom::chain::build(&run_id, &records)).unwrap();
    std::fs::write(&report_path, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    let v = mailroom(&["verify".as_ref(), out.as_os_str(), "--json".as_ref()]);
    assert_eq!(v.code, 6, "{}", v.stdout);
    let found: Value = serde_json::from_str(&v.stdout).unwrap();
    let problems: Vec<&str> = found["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["problem"].as_str().unwrap())
        .collect();
    assert!(problems.contains(&"chain"), "{problems:?}");
    assert!(problems.contains(&"changed"), "{problems:?}");
    std::fs::write(&report_path, &original).unwrap();

    // A removed record is missing.
    let json = out.join(documents_with_pdf(out)[0]["json"].as_str().unwrap());
    std::fs::remove_file(&json).unwrap();
    let v = mailroom(&["verify".as_ref(), out.as_os_str()]);
    assert_eq!(v.code, 6);
    assert!(v.stdout.contains("missing"), "{}", v.stdout);
}

#[test]
fn the_transfer_note_records_who_where_what_checks_and_every_hash() {
    let batch = TempBatch::generate(4, 707);
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    let r = run_batch(
        batch.path(),
        out,
        &[
            "--operator".as_ref(),
            "Erika Mustermann".as_ref(),
            "--scanner".as_ref(),
            "Kodak i4250".as_ref(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = read_json(&out.join("report.json"));
    let run_id = report["run_id"].as_str().unwrap();
    for d in documents_with_pdf(out) {
        let record = read_json(&out.join(d["json"].as_str().unwrap()));
        let note = &record["transfer_note"];
        assert_eq!(note["capture"]["operator"], "Erika Mustermann");
        assert_eq!(note["capture"]["scanner"], "Kodak i4250");
        assert!(!note["capture"]["station"].as_str().unwrap().is_empty());
        assert_eq!(note["capture"]["run_id"], run_id);
        assert_eq!(note["capture"]["profile"], "default");
        assert_eq!(
            note["capture"]["profile_sha256"],
            mailroom::fsutil::sha256_hex(mailroom::config::DEFAULT_PROFILE_TOML.as_bytes())
        );
        assert_eq!(note["mailroom_id"], record["mailroom_id"]);
        assert_eq!(
            record["mailroom_id"].as_str().unwrap(),
            format!("{run_id}-{}", record["id"].as_str().unwrap())
        );
        assert_eq!(note["output_pdf_sha256"], record["pdf"]["sha256"]);
        let checks: Vec<&str> = note["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        for want in [
            "page_count",
            "pages_accounted",
            "image_quality",
            "legibility",
            "integrity",
        ] {
            assert!(checks.contains(&want), "{want} missing: {checks:?}");
        }
        // the same note is embedded in the PDF (PDF/A-3 associated file)
        let pdf = out
            .join("documents")
            .join(format!("{}.pdf", record["id"].as_str().unwrap()));
        let xml = out.join("note.xml");
        let saved = tool(
            "pdfdetach",
            &[
                "-savefile".as_ref(),
                "transfervermerk.xml".as_ref(),
                "-o".as_ref(),
                xml.as_os_str(),
                pdf.as_os_str(),
            ],
        );
        assert!(
            saved.status.success(),
            "{}",
            String::from_utf8_lossy(&saved.stderr)
        );
        let xml_text = std::fs::read_to_string(&xml).unwrap();
        std::fs::remove_file(&xml).unwrap();
        assert!(
            xml_text.contains("operator=\"Erika Mustermann\""),
            "{xml_text}"
        );
        assert!(xml_text.contains("scanner=\"Kodak i4250\""), "{xml_text}");
        for p in note["pages"].as_array().unwrap() {
            assert!(
                xml_text.contains(p["page_sha256"].as_str().unwrap()),
                "page hash missing from the embedded note"
            );
        }
        // every page of the PDF and every removed page, with both hashes
        let pages = record["pages"].as_array().unwrap();
        let removed = record["removed_pages"].as_array().unwrap();
        let noted = note["pages"].as_array().unwrap();
        assert_eq!(noted.len(), pages.len() + removed.len());
        for (n, p) in noted.iter().zip(pages.iter().chain(removed)) {
            assert_eq!(n["page_sha256"], p["sha256"]);
            let src = record["sources"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["file"] == p["source_file"])
                .unwrap();
            assert_eq!(n["source_sha256"], src["sha256"]);
            let on_disk =
                std::fs::read(batch.path().join(p["source_file"].as_str().unwrap())).unwrap();
            assert_eq!(
                n["source_sha256"].as_str().unwrap(),
                mailroom::fsutil::sha256_hex(&on_disk)
            );
        }
    }
}

#[test]
fn a_target_that_is_down_leaves_documents_pending_and_the_next_run_delivers_them() {
    let batch = TempBatch::generate(3, 808);
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    let profile_dir = tempfile::tempdir().unwrap();
    let down = profile_dir.path().join("down.toml");
    // a folder target nobody can create: the target is "down"
    std::fs::write(
        &down,
        "[delivery]\nattempts = 2\nbackoff_ms = 10\n[delivery.folder]\npath = \"/proc/mailroom-no-such-target\"\n",
    )
    .unwrap();
    let r = run_batch(batch.path(), out, &["--profile".as_ref(), down.as_os_str()]);
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("PENDING"), "{}", r.stdout);
    assert!(
        r.stdout.contains("run the same command again"),
        "{}",
        r.stdout
    );
    let report = read_json(&out.join("report.json"));
    let docs = documents_with_pdf(out).len();
    assert_eq!(
        report["delivery"]["pending"].as_u64().unwrap() as usize,
        docs
    );
    assert!(deliveries(out).is_empty());

    // the target is back (the default folder): the next run delivers, without OCR again
    let r = run_batch(batch.path(), out, &["--json".as_ref()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        report["delivery"]["delivered"].as_u64().unwrap() as usize,
        docs
    );
    assert_eq!(report["delivery"]["pending"], 0);
    assert_eq!(deliveries(out).len(), docs);
    let starts = journal(out)
        .iter()
        .filter(|e| e["event"] == "started")
        .count();
    assert_eq!(starts, 1, "packaging must not run again");
}

#[test]
fn sigkill_at_seeded_moments_then_rerun_accounts_every_page_and_delivers_once() {
    let batch = TempBatch::generate(5, 909);
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    // Kill points in milliseconds after the start: while probing, OCRing, packaging.
    let mut seed: u64 = 0x5eed_0006;
    let mut kills = Vec::new();
    for _ in 0..4 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        kills.push(200 + seed % 6000);
    }
    for ms in &kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailroom"))
            .args([
                "run".as_ref(),
                batch.path().as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*ms));
        // SIGKILL: no cleanup, no destructor, as in a power cut
        let _ = child.kill();
        let _ = child.wait();
        no_temp_files_that_look_finished(out);
    }
    let r = run_batch(batch.path(), out, &["--json".as_ref()]);
    assert_eq!(r.code, 0, "after kills at {kills:?} ms: {}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let c = &report["counts"];
    assert_eq!(
        c["pages_in"].as_u64().unwrap() as usize,
        batch.truth.pages.len()
    );
    assert_eq!(
        c["pages_in"].as_u64().unwrap(),
        c["pages_delivered"].as_u64().unwrap()
            + c["pages_evidence"].as_u64().unwrap()
            + c["pages_quarantined"].as_u64().unwrap()
    );
    let docs = documents_with_pdf(out);
    let once = deliveries(out);
    assert_eq!(once.len(), docs.len(), "kills at {kills:?}");
    assert!(once.values().all(|n| *n == 1), "{once:?}");
    // each delivered PDF exactly once in the target folder
    let delivered: Vec<PathBuf> = files(&out.join("delivered"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    assert_eq!(delivered.len(), docs.len(), "{delivered:?}");
    no_temp_files(out);
    let v = mailroom(&["verify".as_ref(), out.as_os_str()]);
    assert_eq!(v.code, 0, "{}", v.stdout);
}

/// After a kill, a temporary file may remain, but never under a finished file's name:
/// every PDF and JSON in the documents folder is complete (parses, or ends with %%EOF).
fn no_temp_files_that_look_finished(out: &Path) {
    let docs = out.join("documents");
    if !docs.is_dir() {
        return;
    }
    for rel in files(&docs) {
        let name = rel.to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(docs.join(&rel)).unwrap();
        if name.ends_with(".json") {
            assert!(
                serde_json::from_slice::<Value>(&bytes).is_ok(),
                "{name} is a partial JSON file"
            );
        } else if name.ends_with(".pdf") {
            let tail =
                String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(32)..]).into_owned();
            assert!(tail.contains("%%EOF"), "{name} is a partial PDF");
        }
    }
}

//! Limits that keep one bad page from holding up the night: the OCR time limit per page
//! (`ocr.timeout_s`). The real binary on a generated batch with a limit far below what
//! any page with text takes.

mod util;

use std::collections::BTreeSet;
use std::fs;

use serde_json::Value;
use util::{run_batch, TempBatch};

const REASON: &str = "OCR took longer than the profile's limit of 0.001 s (ocr.timeout_s)";

#[test]
fn pages_over_the_ocr_time_limit_are_quarantined_and_the_batch_goes_on() {
    let batch = TempBatch::generate(4, 91);
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("tight.toml");
    fs::write(&profile, "name = \"tight\"\n[ocr]\ntimeout_s = 0.001\n").unwrap();
    let out = dir.path().join("out");
    let r = run_batch(
        batch.path(),
        &out,
        &[
            "--profile".as_ref(),
            profile.as_os_str(),
            "--jobs".as_ref(),
            "2".as_ref(),
        ],
    );
    assert_eq!(r.code, 3, "quarantined files exit 3\n{}", r.stderr);
    let report: Value =
        serde_json::from_slice(&fs::read(out.join("report.json")).unwrap()).unwrap();
    let c = &report["counts"];

    // every page of text failed at the OCR stage with the limit named; only blank pages
    // (not OCRed) were read
    let events: Vec<Value> = fs::read_to_string(out.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pages: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "page_read" || e["event"] == "page_failed")
        .collect();
    assert_eq!(pages.len(), batch.truth.pages.len(), "one event per page");
    let mut failed_files = BTreeSet::new();
    for e in &pages {
        if e["event"] == "page_read" {
            assert_eq!(e["blank"], true, "only blank pages get through: {e}");
        } else {
            assert_eq!(e["stage"], "ocr", "{e}");
            assert!(e["reason"].as_str().unwrap().ends_with(REASON), "{e}");
            failed_files.insert(e["file"].as_str().unwrap());
        }
    }
    assert!(
        failed_files.len() >= 2,
        "the letters time out: {failed_files:?}"
    );

    // each such file is in quarantine for it, with the reason beside its copy
    let quarantined = report["quarantined"].as_array().unwrap();
    let files: BTreeSet<&str> = quarantined
        .iter()
        .map(|q| q["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, failed_files);
    for q in quarantined {
        assert_eq!(q["stage"], "ocr", "{q}");
        let reason = q["reason"].as_str().unwrap();
        assert!(reason.ends_with(REASON), "{reason}");
        let note =
            fs::read_to_string(out.join(format!("{}.reason.txt", q["copy"].as_str().unwrap())))
                .unwrap();
        assert!(
            note.contains(REASON) && note.contains("stage: ocr"),
            "{note}"
        );
    }
    assert!(
        r.stderr.contains(REASON),
        "the operator sees why:\n{}",
        r.stderr
    );

    // the page accounting still holds: every page delivered, kept as evidence or in
    // quarantine
    let n = |k: &str| c[k].as_u64().unwrap();
    assert_eq!(n("pages_in"), batch.truth.pages.len() as u64);
    assert_eq!(
        n("pages_in"),
        n("pages_delivered") + n("pages_evidence") + n("pages_quarantined")
    );
    assert_eq!(n("pages_delivered"), 0, "no page with text got through");
    assert_eq!(n("files_quarantined"), failed_files.len() as u64);
    let finished = events.last().unwrap();
    assert_eq!(finished["event"], "run_finished");
    assert_eq!(finished["exit_code"], 3);
}

//! End-to-end tests: the real `mailroom` binary on generated batches with ground truth,
//! checked with independent tools (qpdf, pdfinfo, pdftotext) and the truth.

mod util;

use std::collections::HashSet;
use std::fs;

use mailroom::lab::evaluate::{error_rate, evaluate, normalise, pdftotext_pages};
use serde_json::Value;
use util::{mailroom, mixed_batch_run, pdf_pages, run_batch, tool, TempBatch};

#[test]
fn every_page_is_delivered_kept_or_quarantined_and_the_report_proves_it() {
    let run = mixed_batch_run();
    assert_eq!(
        run.code, 3,
        "a batch with quarantined files exits 3\n{}",
        run.stderr
    );
    let c = &run.report["counts"];
    let truth_pages = run.truth.pages.len() as u64;
    // four bad files: empty, truncated, unknown format, bomb; each counts its pages (>= 1)
    let quarantined_pages = c["pages_quarantined"].as_u64().unwrap();
    let delivered = c["pages_delivered"].as_u64().unwrap();
    let evidence = c["pages_evidence"].as_u64().unwrap();
    assert_eq!(delivered + evidence, truth_pages);
    assert!(evidence > 0, "the batch has blank backs, kept as evidence");
    assert_eq!(
        c["pages_in"].as_u64().unwrap(),
        truth_pages + quarantined_pages
    );
    assert_eq!(c["files_quarantined"].as_u64().unwrap(), 4);
    assert_eq!(
        c["documents"].as_u64().unwrap(),
        run.truth.documents.len() as u64
    );
    assert_eq!(
        c["files_ignored"].as_u64().unwrap(),
        1,
        "truth.json is batch metadata"
    );

    // every page of the truth is in exactly one document (in its PDF or removed as
    // evidence), in order
    let mut seen = HashSet::new();
    for doc in run.report["documents"].as_array().unwrap() {
        let record = run.document(doc["json"].as_str().unwrap());
        for list in ["pages", "removed_pages"] {
            let mut last = None;
            for p in record[list].as_array().unwrap() {
                let key = (
                    p["source_file"].as_str().unwrap().to_string(),
                    p["frame"].as_u64().unwrap(),
                );
                if let Some((f, n)) = &last {
                    if f == &key.0 {
                        assert!(key.1 > *n, "pages out of order in {}", doc["id"]);
                    }
                }
                last = Some(key.clone());
                assert!(seen.insert(key), "page delivered twice");
                assert_eq!(p["sha256"].as_str().unwrap().len(), 64);
                assert!(p["dpi"]["x"].as_f64().unwrap() >= 299.0);
                assert_eq!(list == "removed_pages", p["cleanup"]["blank"] == true);
                assert_eq!(
                    list == "removed_pages",
                    p["ocr"].is_null(),
                    "blank pages are not OCRed"
                );
            }
        }
    }
    for p in &run.truth.pages {
        assert!(
            seen.contains(&(p.file.clone(), u64::from(p.frame))),
            "{} frame {} lost",
            p.file,
            p.frame
        );
    }
}

#[test]
fn bad_files_are_quarantined_with_a_reason_and_one_clear_line() {
    let run = mixed_batch_run();
    let q = run.report["quarantined"].as_array().unwrap();
    let by_file = |name: &str| {
        q.iter()
            .find(|x| x["file"] == name)
            .unwrap_or_else(|| panic!("{name} not quarantined"))
    };
    assert!(by_file("empty.tif")["reason"]
        .as_str()
        .unwrap()
        .contains("empty"));
    assert!(by_file("notes.txt")["reason"]
        .as_str()
        .unwrap()
        .contains("unknown format"));
    assert!(by_file("bomb.png")["reason"]
        .as_str()
        .unwrap()
        .contains("megapixels"));
    assert!(by_file("zz_cut.tif")["reason"]
        .as_str()
        .unwrap()
        .contains("truncated"));
    for item in q {
        let file = item["file"].as_str().unwrap();
        let copy = run.out.path().join(item["copy"].as_str().unwrap());
        assert!(copy.is_file(), "no quarantined copy of {file}");
        let reason = fs::read_to_string(format!("{}.reason.txt", copy.display())).unwrap();
        assert!(reason.contains(item["reason"].as_str().unwrap()));
        let lines: Vec<_> = run.stderr.lines().filter(|l| l.contains(file)).collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one error line naming {file}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn pdfs_pass_qpdf_and_pdfinfo_agrees_with_the_json() {
    let run = mixed_batch_run();
    for doc in run.report["documents"].as_array().unwrap() {
        let Some(pdf) = doc["pdf"].as_str() else {
            continue; // blank throughout: evidence only
        };
        let pdf = run.out.path().join(pdf);
        let check = tool("qpdf", &["--check".as_ref(), pdf.as_os_str()]);
        assert!(
            check.status.success(),
            "qpdf --check failed on {}:\n{}",
            pdf.display(),
            String::from_utf8_lossy(&check.stdout)
        );
        let info = String::from_utf8(tool("pdfinfo", &[pdf.as_os_str()]).stdout).unwrap();
        assert_eq!(pdf_pages(&pdf), doc["pages"].as_u64().unwrap());
        // 300-dpi A4 scans give A4 pages: 595 x 842 points
        assert!(info.contains("595.2 x 841.92 pts"), "{info}");

        let record = run.document(doc["json"].as_str().unwrap());
        let bytes = fs::read(&pdf).unwrap();
        assert_eq!(
            record["pdf"]["sha256"].as_str().unwrap(),
            mailroom::fsutil::sha256_hex(&bytes)
        );
        assert_eq!(record["schema_version"], 3);
    }
}

#[test]
fn text_layer_and_json_match_the_truth() {
    let run = mixed_batch_run();
    let eval = evaluate(run.out.path(), &run.truth).unwrap();
    let cer = eval.summary.cer.as_ref().unwrap();
    let cer_pdf = eval.summary.cer_pdf.as_ref().unwrap();
    eprintln!("{}", eval.table());
    assert!(cer.mean <= 0.10, "mean CER {:.3} above 10 %", cer.mean);
    assert!(
        cer_pdf.mean <= 0.10,
        "mean CER of the PDF text layer {:.3} above 10 %",
        cer_pdf.mean
    );
    // the PDF's text layer carries the same words as the JSON
    for p in eval.pages.iter().filter(|p| p.cer.is_some()) {
        let (a, b) = (p.cer.unwrap(), p.cer_pdf.unwrap());
        assert!(
            (a - b).abs() < 0.05,
            "{} frame {}: JSON CER {a:.3} vs PDF CER {b:.3}",
            p.file,
            p.frame
        );
    }
}

#[test]
fn umlauts_and_sharp_s_survive_into_the_pdf_text() {
    let run = mixed_batch_run();
    let mut all = String::new();
    for doc in run.report["documents"].as_array().unwrap() {
        let Some(pdf) = doc["pdf"].as_str() else {
            continue;
        };
        for page in pdftotext_pages(&run.out.path().join(pdf)).unwrap() {
            all.push_str(&page);
        }
    }
    for needle in ["ä", "ö", "ü", "ß", "Braunschweig"] {
        assert!(
            all.contains(needle),
            "{needle:?} missing from the extracted text"
        );
    }
}

#[test]
fn clean_batch_exits_zero_and_json_goes_to_stdout() {
    let batch = TempBatch::generate(3, 11);
    let out = tempfile::tempdir().unwrap();
    let r = run_batch(batch.path(), out.path(), &["--json".as_ref()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).expect("stdout is the JSON report");
    assert_eq!(report["counts"]["pages_quarantined"], 0);
    assert_eq!(
        report["counts"]["pages_delivered"].as_u64().unwrap(),
        batch.truth.pages.len() as u64
    );

    // a second run into the same folder is refused (exit 2) unless --force
    let again = run_batch(batch.path(), out.path(), &[]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let forced = run_batch(batch.path(), out.path(), &["--force".as_ref()]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced
            .stdout
            .contains("pages in = delivered + evidence + quarantined"),
        "{}",
        forced.stdout
    );
}

#[test]
fn usage_errors_exit_two_with_a_helpful_message() {
    let out = tempfile::tempdir().unwrap();
    let missing = run_batch("/nonexistent/batch", out.path(), &[]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("/nonexistent/batch"),
        "{}",
        missing.stderr
    );

    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.toml");
    fs::write(&profile, "[ocr]\nlanguage = \"deu\"\njpeg = 3\n").unwrap();
    let bad = run_batch(
        dir.path(),
        out.path().join("o"),
        &["--profile".as_ref(), profile.as_os_str()],
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("line 3") && bad.stderr.contains("jpeg"),
        "{}",
        bad.stderr
    );

    let no_args = mailroom(&["run".as_ref()]);
    assert_eq!(no_args.code, 2);

    let help = mailroom(&["run".as_ref(), "--help".as_ref()]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Examples:") && help.stdout.contains("Exit codes"));
}

#[test]
fn missing_ocr_language_is_a_fatal_error_not_a_quarantine() {
    let batch = TempBatch::generate(1, 5);
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.toml");
    fs::write(&profile, "[ocr]\nlanguage = \"xyz\"\n").unwrap();
    let r = run_batch(
        batch.path(),
        dir.path().join("o"),
        &["--profile".as_ref(), profile.as_os_str()],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("xyz"), "{}", r.stderr);
}

#[test]
fn pages_scanned_sideways_or_upside_down_come_out_upright() {
    // One clean generated page, turned by each quadrant.
    let batch = TempBatch::generate(4, 3);
    let src = batch.upright_letter_page();
    let dir = tempfile::tempdir().unwrap();
    let rotations = [
        ("turned_090.png", 90u32),
        ("turned_180.png", 180),
        ("turned_270.png", 270),
    ];
    for (name, cw) in rotations {
        let img = match cw {
            90 => image::imageops::rotate90(&src.0),
            180 => image::imageops::rotate180(&src.0),
            _ => image::imageops::rotate270(&src.0),
        };
        img.save(dir.path().join(name)).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let r = run_batch(dir.path(), out.path(), &["--json".as_ref()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    for (doc, (_, cw)) in report["documents"]
        .as_array()
        .unwrap()
        .iter()
        .zip(rotations)
    {
        let record: Value = serde_json::from_slice(
            &fs::read(out.path().join(doc["json"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let page = &record["pages"][0];
        assert_eq!(
            page["cleanup"]["rotation"].as_u64().unwrap() as u32,
            (360 - cw) % 360,
            "{}",
            doc["id"]
        );
        assert!(
            page["height_px"].as_u64() > page["width_px"].as_u64(),
            "page not portrait"
        );
        let cer = error_rate(
            &normalise(&src.1).chars().collect::<Vec<_>>(),
            &normalise(page["ocr"]["text"].as_str().unwrap())
                .chars()
                .collect::<Vec<_>>(),
        );
        assert!(cer < 0.1, "{}: CER {cer:.3} after turning", doc["id"]);
    }
}

#[test]
fn blank_pages_are_kept_as_evidence_and_never_pages_with_content() {
    let run = mixed_batch_run();
    let eval = evaluate(run.out.path(), &run.truth).unwrap();
    let b = &eval.summary.blank;
    assert!(b.truly_blank > 0, "the batch has blank backs");
    assert_eq!(
        b.content_judged_blank, 0,
        "a page with content was judged blank"
    );
    assert_eq!(b.found, b.truly_blank, "a blank back was missed");
    for doc in run.report["documents"].as_array().unwrap() {
        let removed = doc["removed_pages"].as_u64().unwrap();
        let Some(evidence) = doc["evidence_pdf"].as_str() else {
            assert_eq!(removed, 0);
            continue;
        };
        let pdf = run.out.path().join(evidence);
        assert!(tool("qpdf", &["--check".as_ref(), pdf.as_os_str()])
            .status
            .success());
        assert_eq!(pdf_pages(&pdf), removed);
        let record = run.document(doc["json"].as_str().unwrap());
        for p in record["removed_pages"].as_array().unwrap() {
            assert_eq!(p["reason"], "blank");
            assert!(p["cleanup"]["ink_coverage"].as_f64().unwrap() < 0.0002);
        }
    }
}

#[test]
fn cleanup_straightens_and_turns_pages_as_the_truth_says() {
    let run = mixed_batch_run();
    let eval = evaluate(run.out.path(), &run.truth).unwrap();
    let skew = eval.summary.skew_error.as_ref().unwrap();
    assert!(
        skew.median <= 0.1,
        "median residual skew {:.3} deg",
        skew.median
    );
    assert!(
        skew.worst <= 0.3,
        "worst residual skew {:.3} deg",
        skew.worst
    );
    let r = &eval.summary.rotation;
    assert_eq!(r.turned_wrongly, 0);
    assert_eq!(
        r.upright, r.pages,
        "every page with content comes out upright"
    );
}

#[test]
fn patch_sheets_are_recognised_through_the_pipeline() {
    use mailroom::patch::{draw, PatchType};
    let dir = tempfile::tempdir().unwrap();
    for (i, kind) in PatchType::ALL.into_iter().enumerate() {
        let mut img = image::GrayImage::from_pixel(2480, 3508, image::Luma([236]));
        draw(&mut img, kind, 600, 500 + 200 * i as u32, 30.0, 300.0);
        // scanned with a little skew
        let img = imageproc::geometric_transformations::rotate_about_center(
            &img,
            (1.5f32 - i as f32 * 0.5).to_radians(),
            imageproc::geometric_transformations::Interpolation::Bilinear,
            imageproc::geometric_transformations::Border::Constant(image::Luma([236])),
        );
        img.save(dir.path().join(format!("sheet_{i}.png"))).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let r = run_batch(dir.path(), out.path(), &["--json".as_ref()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    for (doc, kind) in report["documents"]
        .as_array()
        .unwrap()
        .iter()
        .zip(PatchType::ALL)
    {
        let record: Value = serde_json::from_slice(
            &fs::read(out.path().join(doc["json"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        // a patch sheet is a separator: taken out and kept as evidence
        assert_eq!(record["pages"].as_array().unwrap().len(), 0);
        assert!(record["pdf"].is_null());
        let page = &record["removed_pages"][0];
        assert_eq!(page["reason"], "separator");
        assert_eq!(
            page["patch"]["type"],
            serde_json::to_value(kind).unwrap(),
            "{}",
            doc["id"]
        );
        assert_eq!(
            record["separation"]["started_by"]["patch"],
            serde_json::to_value(kind).unwrap()
        );
    }
}

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
fn the_work_folder_is_gone_after_a_run_and_every_pdf_embeds_the_images_its_record_describes() {
    let run = mixed_batch_run();
    let out = run.out.path();
    // the encoded pages wait in <out>/.work/ between reading and packaging
    assert!(
        !out.join(".work").exists(),
        "the work folder outlives the run"
    );
    let mut checked = 0;
    for doc in run.report["documents"].as_array().unwrap() {
        let record = run.document(doc["json"].as_str().unwrap());
        for (list, pdf) in [("pages", "pdf"), ("removed_pages", "evidence_pdf")] {
            let pages = record[list].as_array().unwrap();
            let Some(file) = record[pdf]["file"].as_str() else {
                assert!(pages.is_empty(), "{list} of {} without a PDF", doc["id"]);
                continue;
            };
            let pdf = lopdf::Document::load(out.join("documents").join(file)).unwrap();
            let images: Vec<&lopdf::Stream> = pdf
                .get_pages()
                .values()
                .map(|&page| {
                    let xobjects = pdf
                        .get_dictionary(page)
                        .and_then(|d| d.get(b"Resources"))
                        .and_then(lopdf::Object::as_dict)
                        .and_then(|r| r.get(b"XObject"))
                        .and_then(lopdf::Object::as_dict)
                        .unwrap();
                    let id = xobjects.get(b"Im0").unwrap().as_reference().unwrap();
                    pdf.get_object(id).unwrap().as_stream().unwrap()
                })
                .collect();
            assert_eq!(images.len(), pages.len(), "{file}");
            for (image, p) in images.iter().zip(pages) {
                let int = |k: &[u8]| image.dict.get(k).unwrap().as_i64().unwrap() as u64;
                assert_eq!(int(b"Width"), p["width_px"].as_u64().unwrap(), "{file}");
                assert_eq!(int(b"Height"), p["height_px"].as_u64().unwrap(), "{file}");
                assert_eq!(
                    image.content.len() as u64,
                    p["image_bytes"].as_u64().unwrap(),
                    "{file}: the embedded image is not the one encoded"
                );
                let filter = image.dict.get(b"Filter").unwrap().as_name().unwrap();
                if filter == b"DCTDecode" {
                    assert!(image.content.starts_with(b"\xff\xd8"), "{file}: not a JPEG");
                } else {
                    assert_eq!(filter, b"CCITTFaxDecode", "{file}");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked,
        run.report["counts"]["pages_delivered"].as_u64().unwrap()
            + run.report["counts"]["pages_evidence"].as_u64().unwrap()
    );
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
        assert_eq!(record["schema_version"], 4);
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

    // a second run into the same folder resumes: nothing is packaged or delivered again
    let again = run_batch(batch.path(), out.path(), &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .stdout
            .contains("pages in = delivered + evidence + quarantined"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("by an earlier run"),
        "{}",
        again.stdout
    );
    // --force would deliver the documents a second time: refused
    let forced = run_batch(batch.path(), out.path(), &["--force".as_ref()]);
    assert_eq!(forced.code, 2, "{}", forced.stderr);
    assert!(
        forced.stderr.contains("already delivered"),
        "{}",
        forced.stderr
    );
    // a folder that holds something else is refused unless --force
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("notes.txt"), "mine").unwrap();
    let r = run_batch(batch.path(), other.path(), &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
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

/// Prints a cover sheet with `mailroom coversheet`, "scans" it with pdftoppm at `dpi`,
/// tilts it a little and adds noise and dust, as a worn sheet on a real scanner.
fn scanned_cover_sheet(args: &[&str], dpi: u32, out_png: &std::path::Path) {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("cover.pdf");
    let mut full: Vec<&std::ffi::OsStr> =
        vec!["coversheet".as_ref(), "--out".as_ref(), pdf.as_os_str()];
    full.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
    let r = mailroom(&full);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let prefix = dir.path().join("page");
    let status = tool(
        "pdftoppm",
        &[
            "-r".as_ref(),
            dpi.to_string().as_ref(),
            "-gray".as_ref(),
            "-png".as_ref(),
            pdf.as_os_str(),
            prefix.as_os_str(),
        ],
    );
    assert!(status.status.success());
    let img = image::open(dir.path().join("page-1.png"))
        .unwrap()
        .to_luma8();
    let img = imageproc::geometric_transformations::rotate_about_center(
        &img,
        0.8f32.to_radians(),
        imageproc::geometric_transformations::Interpolation::Bilinear,
        imageproc::geometric_transformations::Border::Constant(image::Luma([255])),
    );
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(dpi);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut img = img;
    for p in img.pixels_mut() {
        // paper tone 225-245, ink lifted to 20-60, noise of +-25
        let base = if p.0[0] < 128 { 40i32 } else { 235 };
        let noise = (next() % 51) as i32 - 25;
        p.0[0] = (base + noise).clamp(0, 255) as u8;
    }
    let (w, h) = img.dimensions();
    for _ in 0..400 {
        let (x, y) = (
            (next() % u64::from(w)) as u32,
            (next() % u64::from(h)) as u32,
        );
        img.put_pixel(x, y, image::Luma([30]));
    }
    // keep the resolution tag: pdftoppm's PNG carries it, image's encoder does not
    let tmp = dir.path().join("noisy.png");
    img.save(&tmp).unwrap();
    let png = std::fs::read(&tmp).unwrap();
    std::fs::write(out_png, with_png_dpi(&png, dpi)).unwrap();
}

/// Inserts a pHYs chunk (resolution) after a PNG's IHDR.
fn with_png_dpi(png: &[u8], dpi: u32) -> Vec<u8> {
    let ppm = (f64::from(dpi) / 0.0254).round() as u32;
    let mut data = Vec::new();
    data.extend_from_slice(&ppm.to_be_bytes());
    data.extend_from_slice(&ppm.to_be_bytes());
    data.push(1);
    let mut chunk = Vec::new();
    chunk.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = b"pHYs".to_vec();
    body.extend_from_slice(&data);
    chunk.extend_from_slice(&body);
    let mut crc = 0xFFFF_FFFFu32;
    for b in &body {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    chunk.extend_from_slice(&(!crc).to_be_bytes());
    let ihdr_end = 8 + 8 + 13 + 4;
    let mut out = png[..ihdr_end].to_vec();
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&png[ihdr_end..]);
    out
}

#[test]
fn printed_cover_sheets_are_read_back_at_200_and_300_dpi_and_split_the_stream() {
    let batch = TempBatch::generate(6, 11);
    let stream = tempfile::tempdir().unwrap();
    let content_pages = |d: &mailroom::lab::truth::TruthDocument| {
        d.pages
            .iter()
            .filter(|&&i| !batch.truth.pages[i].blank)
            .count()
    };
    let docs = &batch.truth.documents[..2];
    for (k, (doc, dpi)) in docs.iter().zip([200, 300]).enumerate() {
        // the second sheet announces one page too many: the run must flag it
        let pages = (content_pages(doc) + k).to_string();
        let case = format!("{}.2-08{k}5/2026", doc.unit);
        scanned_cover_sheet(
            &["--unit", &doc.unit, "--case", &case, "--pages", &pages],
            dpi,
            &stream.path().join(format!("{k}a_cover.png")),
        );
        let file = &batch.truth.pages[doc.pages[0]].file;
        fs::copy(
            batch.path().join(file),
            stream.path().join(format!("{k}b_{file}")),
        )
        .unwrap();
    }
    let profile_dir = tempfile::tempdir().unwrap();
    let profile = profile_dir.path().join("stream.toml");
    fs::write(&profile, "[separation]\nnew_file = false\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = run_batch(
        stream.path(),
        out.path(),
        &["--json".as_ref(), "--profile".as_ref(), profile.as_os_str()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let delivered = report["documents"].as_array().unwrap();
    assert_eq!(delivered.len(), 2, "{:#}", report["documents"]);
    for (k, (d, truth)) in delivered.iter().zip(docs).enumerate() {
        let record: Value = serde_json::from_slice(
            &fs::read(out.path().join(d["json"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let sep = &record["separation"];
        assert_eq!(sep["started_by"]["kind"], "cover_sheet", "{sep:#}");
        assert_eq!(sep["cover_sheet"]["unit"], truth.unit.as_str());
        assert_eq!(
            sep["cover_sheet"]["case"],
            format!("{}.2-08{k}5/2026", truth.unit).as_str()
        );
        assert_eq!(
            record["pages"].as_array().unwrap().len(),
            content_pages(truth)
        );
        let cover = &record["removed_pages"][0];
        assert_eq!(cover["reason"], "separator");
        assert_eq!(cover["source_file"], format!("{k}a_cover.png").as_str());
        assert_eq!(
            cover["patch"]["type"], "patch_2",
            "the patch code is read too"
        );
        let flags = sep["flags"].as_array().unwrap();
        if k == 0 {
            assert!(flags.is_empty(), "{flags:?}");
        } else {
            assert_eq!(flags.len(), 1, "{flags:?}");
            assert_eq!(flags[0]["flag"], "page_count_mismatch");
            assert_eq!(flags[0]["scanned"], content_pages(truth));
        }
    }
    assert_eq!(report["counts"]["documents_flagged"], 1);
    assert_eq!(report["counts"]["pages_separators"], 2);
}

#[test]
fn in_a_stream_a_bad_file_holds_back_the_whole_document_around_it() {
    use mailroom::patch::{draw, PatchType};
    let batch = TempBatch::generate(2, 21);
    let (letter, _) = batch.upright_letter_page();
    let dir = tempfile::tempdir().unwrap();
    letter.save(dir.path().join("a_page.png")).unwrap();
    fs::write(dir.path().join("b_page.tif"), b"").unwrap(); // the scanner wrote nothing
    letter.save(dir.path().join("c_page.png")).unwrap();
    let mut sheet = image::GrayImage::from_pixel(2480, 3508, image::Luma([240]));
    draw(&mut sheet, PatchType::PatchT, 300, 150, 60.0, 300.0);
    sheet.save(dir.path().join("d_sheet.png")).unwrap();
    letter.save(dir.path().join("e_page.png")).unwrap();
    let profile_dir = tempfile::tempdir().unwrap();
    let profile = profile_dir.path().join("stream.toml");
    fs::write(&profile, "[separation]\nnew_file = false\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = run_batch(
        dir.path(),
        out.path(),
        &["--json".as_ref(), "--profile".as_ref(), profile.as_os_str()],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    let q: Vec<(&str, &str)> = report["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["file"].as_str().unwrap(), q["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(q.len(), 3, "{q:?}");
    assert_eq!(q[0].0, "a_page.png");
    assert!(
        q[0].1.contains("held back") && q[0].1.contains("b_page.tif"),
        "{q:?}"
    );
    assert_eq!(q[1].0, "b_page.tif");
    assert!(q[1].1.contains("empty"), "{q:?}");
    assert_eq!(q[2].0, "c_page.png");
    let docs = report["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["pages"], 1);
    assert_eq!(docs[0]["separator_pages"], 1);
    assert_eq!(docs[0]["started_by"]["patch"], "patch_t");
    let c = &report["counts"];
    assert_eq!(c["pages_in"], 5);
    assert_eq!(c["pages_quarantined"], 3);
    assert_eq!(c["pages_delivered"], 1);
    assert_eq!(c["pages_evidence"], 1);
    // every quarantined file is there with its reason
    for (file, _) in q {
        assert!(out.path().join("quarantine").join(file).exists());
        assert!(out
            .path()
            .join("quarantine")
            .join(format!("{file}.reason.txt"))
            .exists());
    }
}

#[test]
fn a_generated_stream_is_split_exactly_as_the_truth_says() {
    use mailroom::lab::evaluate::{evaluate_with, EvalOptions};
    use mailroom::lab::generate::{generate, GenerateSpec};
    let batch = tempfile::tempdir().unwrap();
    let spec = GenerateSpec {
        seed: 8,
        pages: 40,
        stream: true,
    };
    let truth = generate(&spec, batch.path()).unwrap();
    let profile = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/stream.toml");
    let out = tempfile::tempdir().unwrap();
    let r = run_batch(
        batch.path(),
        out.path(),
        &["--profile".as_ref(), profile.as_os_str()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let eval = evaluate_with(out.path(), &truth, EvalOptions { separation: true }).unwrap();
    assert_eq!(eval.separation_failures(), Vec::<String>::new());
    let sep = eval.separation.as_ref().unwrap();
    assert!(sep.separator_pages > 5, "the batch has separator sheets");
    assert_eq!(sep.right, truth.documents.len());
    assert_eq!(
        (sep.covers.wrong, sep.covers.unread),
        (0, 0),
        "{:?}",
        sep.covers.errors
    );
    let counts = &sep.page_count_flags;
    assert_eq!(
        (counts.missing, counts.false_flags),
        (0, 0),
        "{:?}",
        counts.errors
    );
    let b = eval.barcodes.as_ref().unwrap();
    assert!(b.expected > 5);
    assert_eq!((b.missed, b.misreads), (0, 0), "{:?}", b.missed_barcodes);
    let p = eval.patches.as_ref().unwrap();
    assert_eq!(p.right, p.patch_pages, "{:?}", p.errors);
    assert_eq!(p.false_patches, 0);
}

#[test]
fn route_check_names_the_line_of_a_typo_and_every_rule_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.toml");
    fs::write(&typo, "[routing]\nenabled = true\n\n[[routing.rules]]\nname = \"a\"\nunit = \"61\"\nanny = [\"x\"]\n").unwrap();
    let r = mailroom(&["route".as_ref(), "--check".as_ref(), typo.as_os_str()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("anny") && r.stderr.contains("line 7"),
        "{}",
        r.stderr
    );

    let bad = dir.path().join("bad.toml");
    fs::write(
        &bad,
        r#"[routing]
enabled = true
[[routing.units]]
code = "61"
name = "Stadtplanung"
[[routing.rules]]
name = "broken"
unit = "61"
regex = ["(unclosed"]
[[routing.rules]]
name = "nowhere"
unit = "99"
any = ["x"]
"#,
    )
    .unwrap();
    let r = mailroom(&[
        "route".as_ref(),
        "--check".as_ref(),
        bad.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let findings: Value = serde_json::from_str(&r.stdout).unwrap();
    let messages: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("not a valid regular expression")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("unknown unit \"99\"")),
        "{messages:?}"
    );

    let good = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/braunschweig.toml");
    let r = mailroom(&["route".as_ref(), "--check".as_ref(), good.as_os_str()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("0 errors, 0 warnings"), "{}", r.stdout);
}

#[test]
fn a_run_routes_by_the_address_field_and_the_dry_run_reuses_its_text() {
    let run = mixed_batch_run();
    let profile =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/braunschweig.toml");
    let minimal = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/minimal.toml");
    let r = mailroom(&[
        "route".as_ref(),
        "--dry-run".as_ref(),
        run.out.path().as_os_str(),
        "--profile".as_ref(),
        profile.as_os_str(),
        "--compare".as_ref(),
        minimal.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dry: Value = serde_json::from_str(&r.stdout).unwrap();
    let docs = dry["documents"].as_array().unwrap();
    assert_eq!(docs.len(), run.truth.documents.len());
    // every letter goes where the truth says: its unit, clarification or unopened
    use mailroom::lab::truth::ExpectedRoute;
    for (d, t) in docs.iter().zip(&run.truth.documents) {
        let expected = match t.route.as_ref().expect("the generator sets routes") {
            ExpectedRoute::Unit { unit } => serde_json::json!({"to": "unit", "unit": unit}),
            ExpectedRoute::Clarification => serde_json::json!({"to": "clarification"}),
            ExpectedRoute::Unopened => serde_json::json!({"to": "unopened"}),
        };
        assert_eq!(
            d["target"], expected,
            "{} ({:?}): {d:#}",
            d["id"], t.routing_case
        );
        if d["target"]["to"] == "unit" {
            assert!(d["evidence"][0]["zone"].is_string(), "{d:#}");
        }
    }
    // the minimal profile knows two units by their address field: documents routed to
    // any other unit change, and whatever changes goes to clarification
    let mut changed = 0;
    for d in docs {
        let elsewhere = d["target"]["to"] == "unit"
            && d["target"]["unit"] != "60"
            && d["target"]["unit"] != "61";
        if elsewhere {
            assert!(d["compared"].is_object(), "{d:#}");
        }
        if d["compared"].is_object() {
            changed += 1;
            assert_eq!(d["compared"]["target"]["to"], "clarification", "{d:#}");
        }
    }
    assert_eq!(dry["changed"].as_u64().unwrap(), changed);
}

#[test]
fn the_demo_is_routed_as_its_truth_says_and_confidential_letters_keep_no_text() {
    use mailroom::lab::evaluate::evaluate;
    use mailroom::lab::truth::{ExpectedRoute, Truth};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let batch = root.join("samples/demo");
    let truth = Truth::load(&batch.join("truth.json")).unwrap();
    let confidential = truth
        .documents
        .iter()
        .filter(|d| d.route == Some(ExpectedRoute::Unopened))
        .count();
    assert!(confidential >= 2, "the demo has confidential letters");
    let out = tempfile::tempdir().unwrap();
    let profile = root.join("profiles/braunschweig.toml");
    let r = run_batch(
        &batch,
        out.path(),
        &["--profile".as_ref(), profile.as_os_str()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("unopened     {confidential:>5} confidential")),
        "{}",
        r.stdout
    );
    let eval = evaluate(out.path(), &truth).unwrap();
    // 100 % on the demo, no leak (routed, JSON text or PDF text layer), no confident error
    assert_eq!(eval.routing_failures(1.0), Vec::<String>::new());
    // and the text of an unopened letter is nowhere in the output folder
    let letter = truth
        .documents
        .iter()
        .find(|d| d.route == Some(ExpectedRoute::Unopened))
        .unwrap();
    let subject_word = letter
        .subject
        .split_whitespace()
        .max_by_key(|w| w.len())
        .unwrap()
        .to_string();
    for entry in walkdir::WalkDir::new(out.path()) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "json") {
            let text = fs::read_to_string(entry.path()).unwrap();
            let doc: Value = serde_json::from_str(&text).unwrap();
            if doc["routing"]["target"]["to"] == "unopened" {
                assert!(
                    !text.contains(&subject_word),
                    "{} keeps {subject_word}",
                    entry.path().display()
                );
            }
        }
    }
}

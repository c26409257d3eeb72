//! PDF input end to end: a batch with scanner-style PDFs gives the same documents, pages
//! and text as the same pages given as images; born-digital PDFs keep their text and are
//! routed like scans; refused PDFs end in quarantine with their reason.

mod util;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;

use mailroom::lab::pdfgen::{
    convert_batch, scanner_pdf, text_pdf, Encoding, PdfShare, Placement, ScanPage,
};
use serde_json::Value;
use util::{run_batch, tool, TempBatch};

fn report(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("report: {e}\n{stdout}"))
}

/// Per document (by position): its pages as (frame, pixel hash, size, dpi, text), and
/// its routing target.
fn documents(out: &Path) -> BTreeMap<String, (Vec<Value>, Value)> {
    let mut docs = BTreeMap::new();
    for entry in std::fs::read_dir(out.join("documents")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension() != Some(OsStr::new("json")) {
            continue;
        }
        let d: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let position = d["id"].as_str().unwrap()[..4].to_string();
        let pages = d["pages"]
            .as_array()
            .unwrap()
            .iter()
            .chain(d["removed_pages"].as_array().unwrap())
            .map(|p| {
                serde_json::json!([
                    p["frame"],
                    p["sha256"],
                    p["width_px"],
                    p["height_px"],
                    p["dpi"],
                    p["ocr"]["text"]
                ])
            })
            .collect();
        docs.insert(position, (pages, d["routing"]["target"].clone()));
    }
    docs
}

#[test]
fn scanner_pdfs_give_the_same_documents_and_text_as_the_images() {
    let images = TempBatch::generate(9, 20261129);
    let pdfs = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(images.path()).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, pdfs.path().join(p.file_name().unwrap())).unwrap();
    }
    let converted = convert_batch(pdfs.path(), PdfShare::Some).unwrap();
    assert!(converted >= 2, "{converted} files converted");
    let names: Vec<String> = std::fs::read_dir(pdfs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".pdf")), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| !n.ends_with(".pdf") && n != "truth.json"),
        "{names:?}"
    );

    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/braunschweig.toml");
    let extra: [&OsStr; 4] = [
        "--json".as_ref(),
        "--jobs".as_ref(),
        "2".as_ref(),
        "--profile".as_ref(),
    ];
    let (out_a, out_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut args = extra.to_vec();
    args.push(profile.as_ref());
    let a = run_batch(images.path(), out_a.path().join("o"), &args);
    let b = run_batch(pdfs.path(), out_b.path().join("o"), &args);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let (ra, rb) = (report(&a.stdout), report(&b.stdout));
    assert_eq!(ra["counts"], rb["counts"]);
    let (da, db) = (
        documents(&out_a.path().join("o")),
        documents(&out_b.path().join("o")),
    );
    assert!(!da.is_empty());
    assert_eq!(da, db, "documents, page pixels, text or routing differ");

    // the PDF pages were taken from their embedded images, not rendered
    let mut embedded = 0;
    for entry in std::fs::read_dir(out_b.path().join("o/documents")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension() != Some(OsStr::new("json")) {
            continue;
        }
        let d: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for p in d["pages"].as_array().unwrap() {
            if p["source_file"].as_str().unwrap().ends_with(".pdf") {
                assert_eq!(p["pdf"]["method"], "embedded", "{p}");
                embedded += 1;
            } else {
                assert!(p.get("pdf").is_none(), "{p}");
            }
        }
    }
    assert!(embedded > 0);
}

fn qpdf_encrypt(user: &str, input: &Path, output: &Path) {
    let out = tool(
        "qpdf",
        &[
            "--encrypt".as_ref(),
            user.as_ref(),
            "owner".as_ref(),
            "256".as_ref(),
            "--".as_ref(),
            input.as_os_str(),
            output.as_os_str(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn text_pdfs_keep_their_text_and_refused_pdfs_are_quarantined() {
    let batch = tempfile::tempdir().unwrap();
    let dir = batch.path();
    let letter = text_pdf(&[
        "Wagner Bau GmbH - Hauptstraße 1 - 38100 Braunschweig",
        "",
        "Stadt Braunschweig",
        "Fachbereich 61 Stadtplanung und Geoinformation",
        "Platz der Deutschen Einheit 1",
        "38100 Braunschweig",
        "",
        "Betreff: Bebauungsplan Nr. 42 - Stellungnahme",
        "",
        "Sehr geehrte Damen und Herren,",
        "zum Bebauungsplan Nr. 42 nehmen wir wie folgt Stellung: die Straße",
        "wird verbreitert, die Grünfläche bleibt. Mit freundlichen Grüßen",
    ])
    .unwrap();
    std::fs::write(dir.join("a_brief.pdf"), &letter).unwrap();
    qpdf_encrypt("", &dir.join("a_brief.pdf"), &dir.join("b_encrypted.pdf"));
    qpdf_encrypt(
        "geheim",
        &dir.join("a_brief.pdf"),
        &dir.join("c_password.pdf"),
    );
    std::fs::write(dir.join("d_cut.pdf"), &letter[..letter.len() * 2 / 3]).unwrap();
    let mut doc = lopdf::Document::load_mem(&letter).unwrap();
    let js = doc.add_object(lopdf::dictionary! {
        "S" => "JavaScript", "JS" => lopdf::Object::string_literal("app.alert(1)")
    });
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    doc.get_dictionary_mut(root).unwrap().set("OpenAction", js);
    doc.save(dir.join("e_script.pdf")).unwrap();
    // a scanner PDF whose cross-reference offsets are all wrong: repaired, and flagged
    let white = mailroom::model::Pixels::Bilevel(image::GrayImage::from_pixel(
        1240,
        1754,
        image::Luma([255]),
    ));
    let scan = scanner_pdf(&[ScanPage {
        pixels: &white,
        dpi: 150.0,
        encoding: Encoding::G4,
        placement: Placement::Upright,
        jpeg: None,
    }])
    .unwrap();
    let mut broken = scan[..9].to_vec();
    broken.extend_from_slice(b"% moved by this line\n");
    broken.extend_from_slice(&scan[9..]);
    std::fs::write(dir.join("f_repaired.pdf"), broken).unwrap();

    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/braunschweig.toml");
    let out = tempfile::tempdir().unwrap();
    let r = run_batch(
        dir,
        out.path().join("o"),
        &["--json".as_ref(), "--profile".as_ref(), profile.as_ref()],
    );
    let rep = report(&r.stdout);
    let reasons: BTreeMap<String, String> = rep["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["file"].as_str().unwrap().to_string(),
                q["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons["b_encrypted.pdf"].contains("opens without a password"),
        "{reasons:?}"
    );
    assert_eq!(
        reasons["c_password.pdf"],
        "encrypted PDF: it needs a password to open"
    );
    assert!(
        reasons["d_cut.pdf"].starts_with("truncated PDF"),
        "{reasons:?}"
    );
    assert!(
        reasons["e_script.pdf"].contains("JavaScript"),
        "{reasons:?}"
    );
    for reason in reasons.values() {
        assert!(!reason.contains('\n'), "{reason}");
    }
    assert!(out
        .path()
        .join("o/quarantine/c_password.pdf.reason.txt")
        .exists());

    // the repaired file: read, its (blank) page kept as evidence and flagged
    let flagged: Vec<&Value> = rep["documents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["flagged"].as_array().unwrap())
        .collect();
    assert!(
        flagged.iter().any(|f| f["source_file"] == "f_repaired.pdf"
            && f["flags"]
                .as_array()
                .unwrap()
                .contains(&"pdf_repaired".into())),
        "{flagged:?}"
    );

    // the letter: rendered, its own text kept (no OCR), routed by its address and subject
    let docs: Vec<&Value> = rep["documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["sources"][0] == "a_brief.pdf")
        .collect();
    assert_eq!(docs.len(), 1, "{docs:?}");
    let d: Value = serde_json::from_slice(
        &std::fs::read(out.path().join("o").join(docs[0]["json"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let page = &d["pages"][0];
    assert_eq!(page["pdf"]["method"], "rendered", "{page}");
    assert_eq!(page["pdf"]["text"], "keep", "{page}");
    assert_eq!(page["ocr"]["language"], "pdf-text");
    assert_eq!(page["ocr"]["mean_confidence"], 100.0);
    let text = page["ocr"]["text"].as_str().unwrap();
    assert!(text.contains("Hauptstraße 1"), "{text}");
    assert!(
        text.contains("Grünfläche bleibt. Mit freundlichen Grüßen"),
        "{text}"
    );
    assert_eq!(d["routing"]["target"]["unit"], "61", "{}", d["routing"]);
    // the output PDF's invisible text layer carries the kept text
    let pdf = out.path().join("o").join(docs[0]["pdf"].as_str().unwrap());
    let layer = tool(
        "pdftotext",
        &["-raw".as_ref(), pdf.as_os_str(), "-".as_ref()],
    );
    let layer = String::from_utf8_lossy(&layer.stdout);
    assert!(layer.contains("Grünfläche"), "{layer}");
    assert_eq!(r.code, 3, "quarantined files: exit code 3\n{}", r.stderr);
}

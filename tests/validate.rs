//! `mailroom validate` end to end: generated deliveries (`mailroom-lab delivery`) with
//! every kind of injected defect, checked by the real binary.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn lab_delivery(out: &Path, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_mailroom-lab"))
        .arg("delivery")
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn validate(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .arg("validate")
        .arg(dir.join("bag"))
        .arg("--inventory")
        .arg(dir.join("inventory.csv"))
        .args(["--jobs", "2"])
        .args(extra)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_injected_defect_is_found_and_named_and_the_lot_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("lot");
    lab_delivery(
        &d,
        &[
            "--files",
            "13",
            "--pages",
            "3",
            "--defects",
            "all",
            "--seed",
            "7",
        ],
    );
    let html = dir.path().join("bericht.html");
    let (code, stdout, stderr) = validate(
        &d,
        &["--all-pages", "--json", "--html", html.to_str().unwrap()],
    );
    assert_eq!(code, 7, "rejected is exit 7: {stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["decision"], "reject");
    let truth: Value =
        serde_json::from_slice(&std::fs::read(d.join("defects.json")).unwrap()).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for defect in truth["defects"].as_array().unwrap() {
        let kind = defect["kind"].as_str().unwrap();
        kinds.insert(kind.to_string());
        let hit = findings.iter().any(|f| {
            f["kind"] == kind
                && (defect["file"].is_null() || f["file"] == defect["file"])
                && (defect["page"].is_null() || f["page"] == defect["page"])
        });
        assert!(hit, "{defect} not found in {findings:#?}");
    }
    assert!(kinds.len() >= 11, "every defect kind injected: {kinds:?}");
    // no finding on a page or file the truth calls clean
    for f in findings {
        let named = truth["defects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["file"].is_null() || f["file"].is_null() || x["file"] == f["file"]);
        assert!(named, "finding on a clean file: {f}");
    }
    // the HTML report names the decision and shows the failed pages
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("data:image/png;base64,"), "no thumbnails");
    for kind in ["skewed", "blank_page", "wrong_orientation", "black_border"] {
        let f = findings.iter().find(|f| f["kind"] == kind).unwrap();
        let key = format!("{}#{}", f["file"].as_str().unwrap(), f["page"]);
        assert!(
            report["thumbnails"].get(&key).is_some(),
            "no thumbnail for {key}"
        );
    }
}

#[test]
fn a_clean_lot_is_accepted_on_its_iso_2859_sample() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("lot");
    lab_delivery(&d, &["--files", "12", "--pages", "2-4", "--seed", "11"]);
    let (code, stdout, stderr) = validate(&d, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("ACCEPTED"), "{stdout}");
    assert!(stdout.contains("code letter"), "{stdout}");
    // the same delivery draws the same sample; another seed another one
    let (_, a, _) = validate(&d, &["--json"]);
    let (_, b, _) = validate(&d, &["--json", "--seed", "99"]);
    let a: Value = serde_json::from_str(&a).unwrap();
    let b: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(a["findings"].as_array().unwrap().len(), 0, "{a}");
    assert_ne!(a["sampling"]["sampled"], b["sampling"]["sampled"]);
    assert_eq!(b["sampling"]["seed"], 99);
}

/// Rewrites a bag after its payload changed: manifest, Payload-Oxum, tag manifest.
fn rebag(bag: &Path) {
    use mailroom::fsutil::sha256_hex;
    let mut lines = Vec::new();
    let (mut bytes, mut files) = (0u64, 0usize);
    let mut names: Vec<_> = std::fs::read_dir(bag.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let data = std::fs::read(bag.join("data").join(&name)).unwrap();
        bytes += data.len() as u64;
        files += 1;
        lines.push(format!("{}  data/{name}\n", sha256_hex(&data)));
    }
    std::fs::write(bag.join("manifest-sha256.txt"), lines.concat()).unwrap();
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    let info: String = info
        .lines()
        .map(|l| {
            if l.starts_with("Payload-Oxum:") {
                format!("Payload-Oxum: {bytes}.{files}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(bag.join("bag-info.txt"), info).unwrap();
    let tags: String = ["bag-info.txt", "bagit.txt", "manifest-sha256.txt"]
        .iter()
        .map(|t| {
            format!(
                "{}  {t}\n",
                sha256_hex(&std::fs::read(bag.join(t)).unwrap())
            )
        })
        .collect();
    std::fs::write(bag.join("tagmanifest-sha256.txt"), tags).unwrap();
}

/// A clean lot of 3 Akten (2 pages each) whose first Akte is delivered as the PDF that
/// `make_pdf` writes from its two (bilevel) pages; returns the PDF's name in the bag.
fn lot_with_a_pdf(d: &Path, make_pdf: impl Fn(&[mailroom::model::Pixels]) -> Vec<u8>) -> String {
    lab_delivery(d, &["--files", "3", "--pages", "2", "--seed", "11"]);
    let data_dir = d.join("bag/data");
    let tif = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let stem = tif.file_stem().unwrap().to_string_lossy().into_owned();
    let bytes = std::fs::read(&tif).unwrap();
    let limits = mailroom::ingest::Limits {
        max_pixels: 200_000_000,
        assume_dpi: 300,
    };
    let pages: Vec<mailroom::model::Pixels> = (0..2)
        .map(|i| {
            let px = mailroom::ingest::decode_frame_bytes(
                &bytes,
                mailroom::ingest::Format::Tiff,
                i,
                limits,
            )
            .unwrap();
            let mut g = px.to_gray().into_owned();
            g.pixels_mut()
                .for_each(|p| p.0[0] = if p.0[0] < 128 { 0 } else { 255 });
            mailroom::model::Pixels::Bilevel(g)
        })
        .collect();
    let pdf = make_pdf(&pages);
    std::fs::remove_file(&tif).unwrap();
    let name = format!("{stem}.pdf");
    std::fs::write(data_dir.join(&name), pdf).unwrap();
    let inv = std::fs::read_to_string(d.join("inventory.csv")).unwrap();
    std::fs::write(
        d.join("inventory.csv"),
        inv.replace(&format!("{stem}.tif"), &name),
    )
    .unwrap();
    rebag(&d.join("bag"));
    format!("data/{name}")
}

#[test]
fn pdf_payload_pages_are_counted_and_inspected_like_image_pages() {
    use mailroom::lab::pdfgen::{scanner_pdf, Encoding, Placement, ScanPage};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("lot");
    // one Akte delivered as a scanner PDF: G4, its second page turned by /Rotate
    let pdf_file = lot_with_a_pdf(&d, |pages| {
        scanner_pdf(
            &pages
                .iter()
                .enumerate()
                .map(|(i, px)| ScanPage {
                    pixels: px,
                    dpi: 300.0,
                    encoding: Encoding::G4,
                    placement: if i == 1 {
                        Placement::Rotate(90)
                    } else {
                        Placement::Upright
                    },
                    jpeg: None,
                })
                .collect::<Vec<_>>(),
        )
        .unwrap()
    });

    // a scanner's PDF is no PDF/A: with the default profile that alone rejects the lot
    let (code, stdout, stderr) = validate(&d, &["--all-pages", "--json"]);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stderr}"));
    assert_eq!(report["lot"]["pages"], 6, "{report}");
    let sampled = report["sampling"]["sampled"].as_array().unwrap();
    let pdf_pages = sampled
        .iter()
        .filter(|p| p["file"].as_str().unwrap().ends_with(".pdf"))
        .count();
    assert_eq!(pdf_pages, 2, "{sampled:?}");
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["kind"], "not_pdfa", "{report}");
    assert_eq!(findings[0]["file"], pdf_file.as_str(), "{report}");
    let detail = findings[0]["detail"].as_str().unwrap();
    assert!(detail.contains("6.6.2.1 metadata"), "{detail}");
    assert_eq!(code, 7, "{stderr}");

    // a contract that takes plain PDFs: the pages are as good as the TIFF's
    let profile = dir.path().join("plain-pdf.toml");
    std::fs::write(&profile, "[validate]\nrequire_pdfa = false\n").unwrap();
    let (code, stdout, stderr) = validate(
        &d,
        &[
            "--all-pages",
            "--json",
            "--profile",
            profile.to_str().unwrap(),
        ],
    );
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stderr}"));
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        0,
        "the PDF's pages are as good as the TIFF's: {report}"
    );
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_pdf_a_3_with_an_associated_file_is_accepted() {
    use mailroom::clock::Utc;
    use mailroom::ocr::PageText;
    use mailroom::package::font::GlyphlessFont;
    use mailroom::package::pdf::{write_pdf, Attachment, PdfMeta, PdfPage, Relationship};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("lot");
    let pdf_file = lot_with_a_pdf(&d, |pages| {
        let images: Vec<_> = pages
            .iter()
            .map(|px| mailroom::package::encode_image(px, None, 70).unwrap())
            .collect();
        let text = PageText { lines: vec![] };
        let pdf_pages: Vec<PdfPage> = images
            .iter()
            .map(|image| PdfPage {
                image,
                dpi: (300.0, 300.0),
                text: &text,
            })
            .collect();
        let note = "<?xml version=\"1.0\"?><transfervermerk/>";
        let attachments = [Attachment {
            name: "transfervermerk.xml",
            mime: "application/xml",
            description: "Transfervermerk",
            relationship: Relationship::Supplement,
            bytes: note.as_bytes(),
        }];
        let meta = PdfMeta {
            title: "Akte",
            created: Utc::from_unix(1_795_903_200),
            document_id: "akte",
            unit: None,
            profile: "default",
            attachments: &attachments,
        };
        write_pdf(&pdf_pages, &meta, &GlyphlessFont::builtin()).unwrap()
    });
    let (code, stdout, stderr) = validate(&d, &["--all-pages", "--json"]);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stderr}"));
    assert_eq!(report["lot"]["pages"], 6, "{report}");
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        0,
        "{pdf_file}: a PDF/A-3u with its transfer note attached passes: {report}"
    );
    assert_eq!(code, 0, "{stderr}");
}

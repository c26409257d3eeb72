//! PDF/A: the real binary's PDFs and the library's PDFs with attachments, checked with
//! independent tools (qpdf, poppler's pdfinfo/pdffonts/pdftotext/pdfdetach) and
//! scripts/check_pdfa.py (pikepdf, fontTools, Little CMS). No test skips itself: a missing
//! tool fails with a pointer to scripts/setup.sh.

mod util;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mailroom::clock::Utc;
use mailroom::model::Pixels;
use mailroom::ocr::{Line, PageText, PxBox, Word};
use mailroom::package::pdf::{
    write_pdf, Attachment, GlyphlessFont, PdfMeta, PdfPage, Relationship,
};
use serde_json::Value;
use util::{run_batch, tool};

const PYTHON: &str = "/usr/bin/python3";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn both(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `/usr/bin/python3 scripts/check_pdfa.py ARGS...`
fn check_pdfa(args: &[&OsStr]) -> Output {
    let script = root().join("scripts/check_pdfa.py");
    let mut all: Vec<&OsStr> = vec![script.as_os_str()];
    all.extend_from_slice(args);
    let out = tool(PYTHON, &all);
    let text = both(&out);
    assert!(
        !text.contains("missing ("),
        "check_pdfa.py lacks a Python module (scripts/setup.sh installs it):\n{text}"
    );
    out
}

/// qpdf --check passes without warnings (qpdf exits 3 on warnings).
fn assert_qpdf_clean(pdf: &Path) {
    let out = tool("qpdf", &["--check".as_ref(), pdf.as_os_str()]);
    let text = both(&out);
    assert!(
        out.status.success() && !text.to_lowercase().contains("warning"),
        "qpdf --check on {}:\n{text}",
        pdf.display()
    );
    assert!(
        text.contains("No syntax or stream encoding errors"),
        "{text}"
    );
}

/// pdfinfo says PDF 1.7 and `pages` pages, and so does qpdf --show-npages.
fn assert_version_and_pages(pdf: &Path, pages: usize) {
    let info = stdout(&tool("pdfinfo", &[pdf.as_os_str()]));
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("pdfinfo gave no {name} for {}:\n{info}", pdf.display()))
            .to_string()
    };
    assert_eq!(field("PDF version:"), "1.7", "{}", pdf.display());
    assert_eq!(field("Pages:"), pages.to_string(), "{}", pdf.display());
    assert_eq!(field("Encrypted:"), "no");
    let n = tool("qpdf", &["--show-npages".as_ref(), pdf.as_os_str()]);
    assert_eq!(stdout(&n).trim(), pages.to_string(), "{}", pdf.display());
}

/// Every font pdffonts lists is embedded and has a Unicode map.
fn assert_fonts_embedded_with_unicode(pdf: &Path) {
    let out = stdout(&tool("pdffonts", &[pdf.as_os_str()]));
    let rows: Vec<&str> = out
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!rows.is_empty(), "pdffonts lists no font:\n{out}");
    for row in rows {
        // name type encoding emb sub uni object ID: the last five columns are fixed
        let cols: Vec<&str> = row.split_whitespace().collect();
        let n = cols.len();
        assert!(n >= 7, "{row}");
        assert_eq!(
            (cols[n - 5], cols[n - 3]),
            ("yes", "yes"),
            "font not embedded or without Unicode map in {}:\n{out}",
            pdf.display()
        );
    }
}

/// The words of each page as pdftotext -raw extracts them.
fn pdftotext_words(pdf: &Path) -> Vec<Vec<String>> {
    let out = tool(
        "pdftotext",
        &[
            "-raw".as_ref(),
            "-enc".as_ref(),
            "UTF-8".as_ref(),
            pdf.as_os_str(),
            "-".as_ref(),
        ],
    );
    assert!(out.status.success(), "pdftotext: {}", both(&out));
    let text = stdout(&out);
    let mut pages: Vec<Vec<String>> = text
        .split('\u{c}')
        .map(|p| p.split_whitespace().map(str::to_string).collect())
        .collect();
    pages.pop(); // after the last form feed
    pages
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// A PDF with its expected page count and the OCR words of each page.
struct Expected {
    pdf: PathBuf,
    pages: Vec<Vec<String>>,
}

fn page_words(list: &Value) -> Vec<Vec<String>> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["ocr"]["text"].as_str().map(words).unwrap_or_default())
        .collect()
}

#[test]
fn every_demo_pdf_is_pdf_a_3u_with_its_transfer_note_for_qpdf_poppler_and_the_checker() {
    let out = tempfile::tempdir().unwrap();
    let r = run_batch(
        root().join("samples/demo"),
        out.path(),
        &["--jobs".as_ref(), "2".as_ref()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value =
        serde_json::from_slice(&fs::read(out.path().join("report.json")).unwrap()).unwrap();
    let mut expected = Vec::new();
    for doc in report["documents"].as_array().unwrap() {
        let json = out.path().join(doc["json"].as_str().unwrap());
        let record: Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
        let dir = json.parent().unwrap();
        if let Some(pdf) = record["pdf"]["file"].as_str() {
            expected.push(Expected {
                pdf: dir.join(pdf),
                pages: page_words(&record["pages"]),
            });
        }
        if let Some(pdf) = record["evidence_pdf"]["file"].as_str() {
            expected.push(Expected {
                pdf: dir.join(pdf),
                pages: page_words(&record["removed_pages"]),
            });
        }
    }
    // every PDF in the output folder is one the JSON describes
    let mut on_disk = 0;
    for sub in ["documents", "evidence"] {
        for entry in fs::read_dir(out.path().join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "pdf") {
                on_disk += 1;
                assert!(
                    expected
                        .iter()
                        .any(|e| e.pdf.canonicalize().unwrap() == path.canonicalize().unwrap()),
                    "{} is in no document JSON",
                    path.display()
                );
            }
        }
    }
    assert_eq!(on_disk, expected.len());
    assert!(
        expected
            .iter()
            .any(|e| e.pdf.to_string_lossy().contains("evidence")),
        "the demo has evidence PDFs"
    );

    let mut all_text = String::new();
    for e in &expected {
        assert_qpdf_clean(&e.pdf);
        assert_version_and_pages(&e.pdf, e.pages.len());
        assert_fonts_embedded_with_unicode(&e.pdf);
        let got = pdftotext_words(&e.pdf);
        assert_eq!(got.len(), e.pages.len(), "{}", e.pdf.display());
        for (i, (want, have)) in e.pages.iter().zip(&got).enumerate() {
            assert_eq!(
                want,
                have,
                "{} page {}: pdftotext words differ from the JSON's OCR words",
                e.pdf.display(),
                i + 1
            );
            all_text.push_str(&have.join(" "));
        }
    }
    for needle in ["ä", "ö", "ü", "ß", "Braunschweig"] {
        assert!(all_text.contains(needle), "{needle} not extracted");
    }

    // every PDF carries the transfer note: PDF/A-3u
    let mut pdfs: Vec<&OsStr> = vec![
        "--expect-attachment".as_ref(),
        "transfervermerk.xml".as_ref(),
    ];
    pdfs.extend(expected.iter().map(|e| e.pdf.as_os_str()));
    let check = check_pdfa(&pdfs);
    // mailroom validate's own checker passes them too
    for e in &expected {
        let ours = rust_check_pdfa(&e.pdf);
        assert!(ours.status.success(), "{}", both(&ours));
        assert!(stdout(&ours).contains("PDF/A-3u"), "{}", both(&ours));
    }
    let text = both(&check);
    assert!(check.status.success(), "check_pdfa.py:\n{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("OK ")).count(),
        expected.len(),
        "{text}"
    );
    assert!(text.contains("PDF/A-3u"), "{text}");
    assert!(
        !text.contains("PDF/A-2u"),
        "the transfer note makes every PDF PDF/A-3"
    );
}

/// A two-page document written through the library: a gray JPEG page and a bilevel G4
/// page, with German text.
fn sample_pages() -> (Vec<mailroom::package::pdf::EncodedImage>, Vec<PageText>) {
    let (w, h) = (850u32, 1100u32);
    let mut gray = image::GrayImage::from_pixel(w, h, image::Luma([235]));
    let mut bilevel = image::GrayImage::from_pixel(w, h, image::Luma([255]));
    for y in 100..130 {
        for x in 100..700 {
            gray.put_pixel(x, y, image::Luma([20]));
            bilevel.put_pixel(x, y + 200, image::Luma([0]));
        }
    }
    let images = vec![
        mailroom::package::encode_image(&Pixels::Gray(gray), None, 70).unwrap(),
        mailroom::package::encode_image(&Pixels::Bilevel(bilevel), None, 70).unwrap(),
    ];
    let line = |y: u32, text: &str| {
        let mut x = 100;
        let words = text
            .split(' ')
            .map(|t| {
                let width = 12 * t.chars().count() as u32;
                let word = Word {
                    text: t.to_string(),
                    bbox: PxBox {
                        x,
                        y,
                        w: width,
                        h: 30,
                    },
                    conf: 95.0,
                };
                x += width + 15;
                word
            })
            .collect::<Vec<_>>();
        Line {
            bbox: PxBox {
                x: 100,
                y,
                w: x - 115,
                h: 30,
            },
            words,
        }
    };
    let texts = vec![
        PageText {
            lines: vec![
                line(100, "Grüße aus Braunschweig"),
                line(160, "Straßenausbaubeitrag Änderung Öffnungszeiten"),
            ],
        },
        PageText {
            lines: vec![line(300, "Übergabe der Akte 61/2026")],
        },
    ];
    (images, texts)
}

const TRANSFER_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<transfervermerk><akte>61/2026</akte><bemerkung>Grüße &amp; Dank</bemerkung></transfervermerk>\n";

fn write_sample(attachments: &[Attachment]) -> Vec<u8> {
    let (images, texts) = sample_pages();
    let pages: Vec<PdfPage> = images
        .iter()
        .zip(&texts)
        .map(|(image, text)| PdfPage {
            image,
            dpi: (100.0, 100.0),
            text,
        })
        .collect();
    let meta = PdfMeta {
        title: "0001-brief <Bauamt> & \"Straße\"",
        created: Utc::from_unix(1_795_903_200),
        document_id: "0001-brief",
        unit: Some("61 Stadtplanung"),
        profile: "braunschweig",
        attachments,
    };
    write_pdf(&pages, &meta, &GlyphlessFont::builtin()).unwrap()
}

#[test]
fn an_attachment_makes_pdf_a_3u_and_comes_back_byte_for_byte() {
    let csv = "Seite;Wörter\n1;6\n2;4\n".as_bytes();
    let attachments = [
        Attachment {
            name: "transfervermerk.xml",
            mime: "application/xml",
            description: "Transfervermerk der Digitalisierung",
            relationship: Relationship::Supplement,
            bytes: TRANSFER_XML.as_bytes(),
        },
        Attachment {
            name: "Übersicht.csv",
            mime: "text/csv",
            description: "Übersicht",
            relationship: Relationship::Data,
            bytes: csv,
        },
    ];
    let bytes = write_sample(&attachments);
    assert_eq!(bytes, write_sample(&attachments), "same input, same bytes");
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("with-attachment.pdf");
    fs::write(&pdf, &bytes).unwrap();

    assert_qpdf_clean(&pdf);
    assert_version_and_pages(&pdf, 2);
    assert_fonts_embedded_with_unicode(&pdf);
    let text = pdftotext_words(&pdf);
    assert_eq!(
        text[0],
        words("Grüße aus Braunschweig Straßenausbaubeitrag Änderung Öffnungszeiten")
    );
    assert_eq!(text[1], words("Übergabe der Akte 61/2026"));

    let check = check_pdfa(&[
        "--expect-attachment".as_ref(),
        "transfervermerk.xml".as_ref(),
        "--expect-attachment".as_ref(),
        "Übersicht.csv".as_ref(),
        pdf.as_os_str(),
    ]);
    let out = both(&check);
    assert!(check.status.success(), "check_pdfa.py:\n{out}");
    assert!(
        out.contains("PDF/A-3u") && out.contains("2 attachments"),
        "{out}"
    );
    // and the checker does notice a missing one
    let missing = check_pdfa(&[
        "--expect-attachment".as_ref(),
        "fehlt.xml".as_ref(),
        pdf.as_os_str(),
    ]);
    assert!(!missing.status.success(), "{}", both(&missing));

    let listed = stdout(&tool(
        "qpdf",
        &["--list-attachments".as_ref(), pdf.as_os_str()],
    ));
    assert!(listed.contains("transfervermerk.xml"), "{listed}");
    let poppler = stdout(&tool(
        "pdfdetach",
        &[
            "-list".as_ref(),
            "-enc".as_ref(),
            "UTF-8".as_ref(),
            pdf.as_os_str(),
        ],
    ));
    assert!(poppler.starts_with("2 embedded files"), "{poppler}");
    for (name, data) in [
        ("transfervermerk.xml", TRANSFER_XML.as_bytes()),
        ("Übersicht.csv", csv),
    ] {
        let number = poppler
            .lines()
            .find_map(|l| {
                l.strip_suffix(name)?
                    .strip_suffix(": ")?
                    .trim()
                    .parse::<u32>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("pdfdetach -list does not list {name}:\n{poppler}"));
        let saved = dir.path().join(format!("saved-{number}"));
        let out = tool(
            "pdfdetach",
            &[
                "-save".as_ref(),
                number.to_string().as_ref(),
                "-o".as_ref(),
                saved.as_os_str(),
                pdf.as_os_str(),
            ],
        );
        assert!(out.status.success(), "pdfdetach -save: {}", both(&out));
        assert_eq!(
            fs::read(&saved).unwrap(),
            data,
            "{name} comes back unchanged"
        );
    }
    // qpdf agrees on the bytes of the XML
    let shown = tool(
        "qpdf",
        &[
            "--show-attachment=transfervermerk.xml".as_ref(),
            pdf.as_os_str(),
        ],
    );
    assert_eq!(shown.stdout, TRANSFER_XML.as_bytes());
}

#[test]
fn without_attachments_the_library_writes_pdf_a_2u_with_all_metadata() {
    let bytes = write_sample(&[]);
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("plain.pdf");
    fs::write(&pdf, &bytes).unwrap();
    assert_qpdf_clean(&pdf);
    let check = check_pdfa(&[pdf.as_os_str()]);
    let out = both(&check);
    assert!(check.status.success() && out.contains("PDF/A-2u"), "{out}");
    let listed = stdout(&tool(
        "qpdf",
        &["--list-attachments".as_ref(), pdf.as_os_str()],
    ));
    assert!(listed.contains("no embedded files"), "{listed}");
    // the XMP, read by pikepdf, carries what the brief asks of it
    let script = r#"
import sys, pikepdf
with pikepdf.open(sys.argv[1]) as pdf:
    m = pdf.open_metadata()
    for key in ["dc:title", "dc:identifier", "xmp:CreatorTool", "xmp:CreateDate",
                "xmp:ModifyDate", "xmp:MetadataDate", "pdf:Producer", "pdfaid:part",
                "pdfaid:conformance"]:
        print(key, "=", m.get(key))
    raw = pdf.Root.Metadata.read_bytes().decode()
    print("unit" , "=", "<mailroom:unit>61 Stadtplanung</mailroom:unit>" in raw)
    print("profile", "=", "<mailroom:profile>braunschweig</mailroom:profile>" in raw)
"#;
    let out = tool(PYTHON, &["-c".as_ref(), script.as_ref(), pdf.as_os_str()]);
    let xmp = both(&out);
    for line in [
        "dc:title = 0001-brief <Bauamt> & \"Straße\"",
        "dc:identifier = 0001-brief",
        &format!("xmp:CreatorTool = mailroom {}", mailroom::VERSION),
        "xmp:CreateDate = 2026-11-28T22:00:00Z",
        "xmp:ModifyDate = 2026-11-28T22:00:00Z",
        "xmp:MetadataDate = 2026-11-28T22:00:00Z",
        &format!("pdf:Producer = mailroom {}", mailroom::VERSION),
        "pdfaid:part = 2",
        "pdfaid:conformance = U",
        "unit = True",
        "profile = True",
    ] {
        assert!(xmp.contains(line), "{line:?} not in:\n{xmp}");
    }
}

/// Rewrites one object of a PDF with lopdf (without changing anything else).
fn mutate(pdf: &[u8], f: impl FnOnce(&mut lopdf::Document)) -> Vec<u8> {
    let mut doc = lopdf::Document::load_mem(pdf).unwrap();
    f(&mut doc);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn find_dict(doc: &lopdf::Document, key: &[u8], value: &[u8]) -> lopdf::ObjectId {
    doc.objects
        .iter()
        .find(|(_, o)| {
            let d = match o {
                lopdf::Object::Dictionary(d) => d,
                lopdf::Object::Stream(s) => &s.dict,
                _ => return false,
            };
            d.get(key).and_then(|v| v.as_name()).ok() == Some(value)
        })
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("no object with /{}", String::from_utf8_lossy(value)))
}

/// A change to a PDF that breaks one PDF/A clause.
type Change = Box<dyn FnOnce(&mut lopdf::Document)>;

#[test]
fn the_checker_rejects_what_pdf_a_forbids() {
    use lopdf::{dictionary, Object};
    let good = write_sample(&[]);
    let catalog = |d: &lopdf::Document| d.trailer.get(b"Root").unwrap().as_reference().unwrap();
    let cases: Vec<(&str, Change)> = vec![
        (
            "6.6.2.1 metadata: metadata stream is compressed",
            Box::new(|d| {
                let id = find_dict(d, b"Type", b"Metadata");
                d.get_object_mut(id)
                    .unwrap()
                    .as_stream_mut()
                    .unwrap()
                    .compress()
                    .unwrap();
            }),
        ),
        (
            "6.2.11.5 font widths",
            Box::new(|d| {
                let id = find_dict(d, b"Subtype", b"CIDFontType2");
                d.get_dictionary_mut(id).unwrap().set("DW", 600);
            }),
        ),
        (
            "6.2.11.8 .notdef",
            Box::new(|d| {
                let id = find_dict(d, b"Subtype", b"CIDFontType2");
                let map = d.get_dictionary(id).unwrap().get(b"CIDToGIDMap").unwrap();
                let map = map.as_reference().unwrap();
                let s = d.get_object_mut(map).unwrap().as_stream_mut().unwrap();
                s.set_plain_content(vec![0; 131072]);
            }),
        ),
        (
            "6.1.3 file trailer: no trailer /ID",
            Box::new(|d| {
                d.trailer.remove(b"ID");
            }),
        ),
        (
            "6.5 actions and JavaScript",
            Box::new(move |d| {
                let js = dictionary! {
                    "S" => "JavaScript",
                    "JS" => Object::string_literal("app.alert(1)"),
                };
                let c = catalog(d);
                d.get_dictionary_mut(c).unwrap().set("OpenAction", js);
            }),
        ),
        (
            "6.2.3 ICC profile: Little CMS maps colours",
            Box::new(|d| {
                // swap the red and blue colorants: still a valid profile, but not sRGB
                let icc = d
                    .objects
                    .iter()
                    .find(|(_, o)| {
                        matches!(o, Object::Stream(s) if s.dict.get(b"N").ok() == Some(&Object::Integer(3)))
                    })
                    .map(|(id, _)| *id)
                    .unwrap();
                let s = d.get_object_mut(icc).unwrap().as_stream_mut().unwrap();
                let mut p = s.decompressed_content().unwrap();
                let tag = |p: &[u8], sig: &[u8]| {
                    (0..9)
                        .map(|i| 132 + 12 * i)
                        .find(|&e| &p[e..e + 4] == sig)
                        .map(|e| u32::from_be_bytes(p[e + 4..e + 8].try_into().unwrap()) as usize)
                        .unwrap()
                };
                let (r, b) = (tag(&p, b"rXYZ"), tag(&p, b"bXYZ"));
                let red: Vec<u8> = p[r..r + 20].to_vec();
                let blue: Vec<u8> = p[b..b + 20].to_vec();
                p[r..r + 20].copy_from_slice(&blue);
                p[b..b + 20].copy_from_slice(&red);
                s.set_plain_content(p);
            }),
        ),
        (
            "6.6.3 Info and XMP: Info /Title",
            Box::new(|d| {
                let info = d.trailer.get(b"Info").unwrap().as_reference().unwrap();
                d.get_dictionary_mut(info)
                    .unwrap()
                    .set("Title", Object::string_literal("anders"));
            }),
        ),
        (
            "6.6.4 PDF/A identification: pdfaid:part is '3'",
            Box::new(|d| {
                let id = find_dict(d, b"Type", b"Metadata");
                let s = d.get_object_mut(id).unwrap().as_stream_mut().unwrap();
                let xmp = String::from_utf8(s.content.clone())
                    .unwrap()
                    .replace("<pdfaid:part>2<", "<pdfaid:part>3<");
                s.set_plain_content(xmp.into_bytes());
            }),
        ),
        (
            "6.6.2.3.1 extension schema",
            Box::new(|d| {
                let id = find_dict(d, b"Type", b"Metadata");
                let s = d.get_object_mut(id).unwrap().as_stream_mut().unwrap();
                let xmp = String::from_utf8(s.content.clone()).unwrap().replace(
                    "<mailroom:profile>",
                    "<mailroom:akte>61/2026</mailroom:akte><mailroom:profile>",
                );
                s.set_plain_content(xmp.into_bytes());
            }),
        ),
        (
            "6.2.11.7.2 ToUnicode (level U)",
            Box::new(|d| {
                let id = find_dict(d, b"Subtype", b"Type0");
                d.get_dictionary_mut(id).unwrap().remove(b"ToUnicode");
            }),
        ),
        (
            "6.2.10 transparency",
            Box::new(|d| {
                let id = find_dict(d, b"Subtype", b"Image");
                let s = d.get_object_mut(id).unwrap().as_stream_mut().unwrap();
                s.dict.set("SMask", id);
            }),
        ),
        (
            "6.2.11.4.1 embedded fonts",
            Box::new(|d| {
                let id = find_dict(d, b"Type", b"FontDescriptor");
                d.get_dictionary_mut(id).unwrap().remove(b"FontFile2");
            }),
        ),
        (
            "6.6.3 Info and XMP: Info /ModDate",
            Box::new(|d| {
                let info = d.trailer.get(b"Info").unwrap().as_reference().unwrap();
                d.get_dictionary_mut(info)
                    .unwrap()
                    .set("ModDate", Object::string_literal("D:20200101000000Z"));
            }),
        ),
        (
            "6.2.3 output intent",
            Box::new(move |d| {
                let c = catalog(d);
                d.get_dictionary_mut(c).unwrap().remove(b"OutputIntents");
            }),
        ),
    ];
    // and with an attachment
    let attached = write_sample(&[Attachment {
        name: "transfervermerk.xml",
        mime: "application/xml",
        description: "Transfervermerk",
        relationship: Relationship::Source,
        bytes: TRANSFER_XML.as_bytes(),
    }]);
    let attachment_cases: Vec<(&str, Change)> = vec![
        (
            "/AFRelationship is None",
            Box::new(|d| {
                let id = find_dict(d, b"Type", b"Filespec");
                d.get_dictionary_mut(id).unwrap().remove(b"AFRelationship");
            }),
        ),
        (
            "embedded file has no MIME type",
            Box::new(|d| {
                let id = find_dict(d, b"Type", b"EmbeddedFile");
                let s = d.get_object_mut(id).unwrap().as_stream_mut().unwrap();
                s.dict.remove(b"Subtype");
            }),
        ),
        (
            "is not in the catalog's /AF",
            Box::new(move |d| {
                let c = catalog(d);
                d.get_dictionary_mut(c).unwrap().remove(b"AF");
            }),
        ),
        (
            "pdfaid:part is '2', expected 3",
            Box::new(|d| {
                let id = find_dict(d, b"Type", b"Metadata");
                let s = d.get_object_mut(id).unwrap().as_stream_mut().unwrap();
                let xmp = String::from_utf8(s.content.clone())
                    .unwrap()
                    .replace("<pdfaid:part>3<", "<pdfaid:part>2<");
                s.set_plain_content(xmp.into_bytes());
            }),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    // the unchanged files pass after a round trip through lopdf
    for (name, base) in [("same.pdf", &good), ("same-attached.pdf", &attached)] {
        let same = dir.path().join(name);
        fs::write(&same, mutate(base, |_| {})).unwrap();
        let ok = check_pdfa(&[same.as_os_str()]);
        assert!(ok.status.success(), "{}", both(&ok));
        let ours = rust_check_pdfa(&same);
        assert!(ours.status.success(), "{}", both(&ours));
    }
    // The subset of clauses that `mailroom validate` checks itself (src/validate/pdfa.rs)
    // must fail there too: python clause -> what the Rust checker says.
    let rust_says: &[(&str, &str)] = &[
        (
            "6.6.2.1 metadata: metadata stream is compressed",
            "6.6.2.1 metadata: the metadata stream is compressed",
        ),
        (
            "6.1.3 file trailer: no trailer /ID",
            "6.1.3 file trailer: no /ID",
        ),
        (
            "6.5 actions and JavaScript",
            "6.5 actions: a JavaScript action",
        ),
        (
            "6.2.11.4.1 embedded fonts",
            "6.2.11.4.1 embedded fonts: font",
        ),
        (
            "6.2.3 output intent",
            "6.2.4.3 device colour spaces: images in DeviceGray",
        ),
        ("/AFRelationship is None", "has no /AFRelationship"),
        (
            "pdfaid:part is '2', expected 3",
            "is not a PDF (PDF/A-2 embeds only PDF/A files)",
        ),
    ];
    let mut rust_checked = 0;
    let all = cases
        .into_iter()
        .map(|(c, f)| (c, f, &good))
        .chain(attachment_cases.into_iter().map(|(c, f)| (c, f, &attached)));
    for (i, (clause, change, base)) in all.enumerate() {
        let path = dir.path().join(format!("bad-{i}.pdf"));
        fs::write(&path, mutate(base, change)).unwrap();
        let out = check_pdfa(&[path.as_os_str()]);
        let text = both(&out);
        assert_eq!(out.status.code(), Some(1), "{clause}: {text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("FAIL ") && l.contains(clause)),
            "expected a failure of {clause:?}, got:\n{text}"
        );
        if let Some((_, says)) = rust_says.iter().find(|(c, _)| c == &clause) {
            let ours = rust_check_pdfa(&path);
            let text = both(&ours);
            assert_eq!(ours.status.code(), Some(1), "{clause}: {text}");
            assert!(
                text.lines()
                    .any(|l| l.starts_with("FAIL ") && l.contains(says)),
                "mailroom's checker: expected {says:?} for {clause:?}, got:\n{text}"
            );
            rust_checked += 1;
        }
    }
    assert_eq!(rust_checked, rust_says.len());
}

/// `mailroom-lab check-pdfa FILE`: the PDF/A checks of `mailroom validate`.
fn rust_check_pdfa(pdf: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailroom-lab"))
        .arg("check-pdfa")
        .arg(pdf)
        .output()
        .expect("mailroom-lab runs")
}

#[test]
fn the_built_in_font_and_icc_profile_pass_independent_parsers() {
    let dir = tempfile::tempdir().unwrap();
    let font = dir.path().join("glyphless.ttf");
    fs::write(&font, GlyphlessFont::builtin().bytes()).unwrap();
    let icc = dir.path().join("srgb.icc");
    fs::write(&icc, mailroom::package::icc::srgb_profile()).unwrap();
    let script = r#"
import sys, io
from fontTools.ttLib import TTFont
from PIL import ImageCms
f = TTFont(sys.argv[1], checkChecksums=2)   # raises on a bad table checksum
for tag in f.keys():
    f[tag]                                  # decompile every table
print("tables", " ".join(sorted(k for k in f.keys() if k != "GlyphOrder")))
print("glyphs", f["maxp"].numGlyphs, "upem", f["head"].unitsPerEm)
print("advances", [f["hmtx"][g][0] for g in f.getGlyphOrder()])
print("name", f["name"].getDebugName(6))
print("fsType", f["OS/2"].fsType)
p = ImageCms.getOpenProfile(sys.argv[2])
print("icc", p.profile.device_class, p.profile.xcolor_space, p.profile.connection_space)
print("desc", ImageCms.getProfileDescription(p).strip())
print("version", p.profile.version)
"#;
    let out = tool(
        PYTHON,
        &[
            "-c".as_ref(),
            script.as_ref(),
            font.as_os_str(),
            icc.as_os_str(),
        ],
    );
    let text = both(&out);
    assert!(
        out.status.success(),
        "fontTools or Pillow failed (scripts/setup.sh installs python3-fonttools and python3-pil):\n{text}"
    );
    for line in [
        "tables OS/2 cmap glyf head hhea hmtx loca maxp name post",
        "glyphs 2 upem 1000",
        "advances [500, 500]",
        "name GlyphLessFont",
        "fsType 0",
        "icc mntr RGB  XYZ ",
        &format!("desc {}", mailroom::package::icc::DESCRIPTION),
        "version 2.1",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
}

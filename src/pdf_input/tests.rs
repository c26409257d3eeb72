//! Tests of PDF input on generated PDFs: every encoding and placement gives back the
//! pixels the page shows, at its true resolution; text pages keep their text; refused
//! and repaired files say why.

use super::*;
use crate::lab::pdfgen::{scanner_pdf, text_pdf, Encoding, Placement, ScanPage};
use ::image::{GrayImage, Luma, RgbImage};
use lopdf::dictionary;

fn limits() -> Limits {
    Limits {
        max_pixels: 150_000_000,
        assume_dpi: 300,
    }
}

/// An asymmetric page (a bar at the top left, a block at the bottom right, a gradient
/// band), so that any wrong turn or mirror shows.
fn gray_page(w: u32, h: u32) -> GrayImage {
    let mut g = GrayImage::from_pixel(w, h, Luma([240]));
    for y in 5..12 {
        for x in 5..w / 2 {
            g.put_pixel(x, y, Luma([10]));
        }
    }
    for y in h - 30..h - 10 {
        for x in w - 25..w - 8 {
            g.put_pixel(x, y, Luma([40]));
        }
    }
    for y in h / 2..h / 2 + 8 {
        for x in 0..w {
            g.put_pixel(x, y, Luma([(x * 255 / w) as u8]));
        }
    }
    g
}

fn bilevel_page(w: u32, h: u32) -> GrayImage {
    let mut g = gray_page(w, h);
    for p in g.pixels_mut() {
        p.0[0] = if p.0[0] < 128 { 0 } else { 255 };
    }
    g
}

fn one(pixels: &Pixels, dpi: f32, encoding: Encoding, placement: Placement) -> Vec<u8> {
    scanner_pdf(&[ScanPage {
        pixels,
        dpi,
        encoding,
        placement,
        jpeg: None,
    }])
    .unwrap()
}

fn raw(p: &Pixels) -> (&[u8], crate::model::ColorKind) {
    match p {
        Pixels::Bilevel(g) | Pixels::Gray(g) => (g.as_raw(), p.kind()),
        Pixels::Rgb(c) => (c.as_raw(), p.kind()),
    }
}

const PLACEMENTS: [Placement; 7] = [
    Placement::Upright,
    Placement::Rotate(90),
    Placement::Rotate(180),
    Placement::Rotate(270),
    Placement::Matrix(90),
    Placement::Matrix(180),
    Placement::Matrix(270),
];

#[test]
fn lossless_encodings_give_back_the_shown_pixels_in_every_placement() {
    let bilevel = Pixels::Bilevel(bilevel_page(203, 150));
    let gray = Pixels::Gray(gray_page(203, 150));
    let rgb = Pixels::Rgb(RgbImage::from_fn(203, 150, |x, y| {
        ::image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
    }));
    let cases: Vec<(&Pixels, Encoding, &str)> = vec![
        (&bilevel, Encoding::G4, "CCITTFaxDecode"),
        (&bilevel, Encoding::Jbig2, "JBIG2Decode"),
        (
            &bilevel,
            Encoding::Flate { predictor: false },
            "FlateDecode",
        ),
        (&bilevel, Encoding::FlateInverted, "FlateDecode"),
        (&bilevel, Encoding::ImageMask, "FlateDecode"),
        (&gray, Encoding::Flate { predictor: false }, "FlateDecode"),
        (&gray, Encoding::Flate { predictor: true }, "FlateDecode"),
        (&rgb, Encoding::Flate { predictor: false }, "FlateDecode"),
        (&rgb, Encoding::Flate { predictor: true }, "FlateDecode"),
    ];
    for (pixels, encoding, filter) in cases {
        for placement in PLACEMENTS {
            let what = format!("{encoding:?} {placement:?} {:?}", pixels.kind());
            let pdf = one(pixels, 200.0, encoding, placement);
            let frames = probe(&pdf, limits(), &PdfOptions::default()).unwrap();
            assert_eq!(frames.len(), 1, "{what}");
            let f = &frames[0];
            let info = f.pdf.as_ref().unwrap();
            assert_eq!(info.method, Method::Embedded, "{what}: {info:?}");
            assert_eq!(info.filter.as_deref(), Some(filter), "{what}");
            assert_eq!((f.width, f.height), (203, 150), "{what}");
            assert_eq!((f.dpi.x, f.dpi.y), (200.0, 200.0), "{what}");
            let d = decode(&pdf, None, 0, limits(), &PdfOptions::default()).unwrap();
            assert_eq!(raw(&d.pixels), raw(pixels), "{what}");
            assert!(d.jpeg.is_none() && d.text.is_none(), "{what}");
        }
    }
}

#[test]
fn jpeg_pages_decode_within_tolerance_and_upright_ones_pass_through() {
    let gray = Pixels::Gray(gray_page(240, 160));
    for placement in PLACEMENTS {
        let pdf = one(&gray, 300.0, Encoding::Jpeg(95), placement);
        let d = decode(&pdf, None, 0, limits(), &PdfOptions::default()).unwrap();
        assert_eq!(d.info.filter.as_deref(), Some("DCTDecode"));
        let (got, kind) = raw(&d.pixels);
        assert_eq!(kind, crate::model::ColorKind::Gray);
        let (want, _) = raw(&gray);
        let mean_err: f64 = got
            .iter()
            .zip(want)
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
            .sum::<f64>()
            / want.len() as f64;
        assert!(mean_err < 3.0, "{placement:?}: mean error {mean_err}");
        // the embedded JPEG may go into the output only when no turn was needed
        assert_eq!(
            d.jpeg.is_some(),
            placement == Placement::Upright,
            "{placement:?}"
        );
    }
}

#[test]
fn multi_page_pdfs_keep_their_page_order() {
    let a = Pixels::Bilevel(bilevel_page(100, 80));
    let b = Pixels::Gray(gray_page(90, 120));
    let pdf = scanner_pdf(&[
        ScanPage {
            pixels: &a,
            dpi: 300.0,
            encoding: Encoding::G4,
            placement: Placement::Rotate(90),
            jpeg: None,
        },
        ScanPage {
            pixels: &b,
            dpi: 150.0,
            encoding: Encoding::Flate { predictor: true },
            placement: Placement::Upright,
            jpeg: None,
        },
    ])
    .unwrap();
    let frames = probe(&pdf, limits(), &PdfOptions::default()).unwrap();
    assert_eq!(
        frames
            .iter()
            .map(|f| (f.width, f.height, f.dpi.x))
            .collect::<Vec<_>>(),
        [(100, 80, 300.0), (90, 120, 150.0)]
    );
    let d = decode(&pdf, None, 1, limits(), &PdfOptions::default()).unwrap();
    assert_eq!(raw(&d.pixels), raw(&b));
    assert_eq!(d.info.page, 2);
}

/// A small PDF written by hand around one content stream.
fn pdf_with_content(content: &str, extra_resources: &str, mediabox: &str) -> Vec<u8> {
    let mut doc = lopdf::Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let img = doc.add_object(lopdf::Stream::new(
        dictionary! {"Type" => "XObject", "Subtype" => "Image", "Width" => 8, "Height" => 8,
        "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8},
        vec![128u8; 64],
    ));
    let _ = extra_resources;
    let content_id = doc.add_object(lopdf::Stream::new(
        dictionary! {},
        content.as_bytes().to_vec(),
    ));
    let mb: Vec<lopdf::Object> = mediabox
        .split_whitespace()
        .map(|v| lopdf::Object::Real(v.parse().unwrap()))
        .collect();
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "MediaBox" => mb,
        "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => img } },
        "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        lopdf::Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
        ),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

#[test]
fn pages_that_are_not_one_full_page_image_are_rendered() {
    let cases = [
        (
            "q 100 0 0 100 0 0 cm /Im0 Do Q 10 10 50 50 re f",
            "vector graphics",
        ),
        ("q 50 0 0 50 0 0 cm /Im0 Do Q", "does not fill the page"),
        ("q 86.6 50 -50 86.6 40 0 cm /Im0 Do Q", "at an angle"),
        (
            "q 100 0 0 100 0 0 cm /Im0 Do Q q 100 0 0 100 0 0 cm /Im0 Do Q",
            "several images",
        ),
    ];
    for (content, why) in cases {
        let pdf = pdf_with_content(content, "", "0 0 100 100");
        let frames = probe(&pdf, limits(), &PdfOptions::default()).unwrap();
        let info = frames[0].pdf.as_ref().unwrap();
        assert_eq!(info.method, Method::Rendered, "{content}");
        assert!(info.reason.as_deref().unwrap().contains(why), "{info:?}");
        // 100 pt at 300 dpi, as MuPDF sizes it
        assert_eq!((frames[0].width, frames[0].height), (417, 417));
        let d = decode(&pdf, None, 0, limits(), &PdfOptions::default()).unwrap();
        assert_eq!((d.pixels.width(), d.pixels.height()), (417, 417));
        assert!(matches!(d.pixels, Pixels::Gray(_)));
    }
    // the vector rectangle is black where it was drawn, the image gray elsewhere
    let pdf = pdf_with_content(
        "q 100 0 0 100 0 0 cm /Im0 Do Q 10 10 50 50 re f",
        "",
        "0 0 100 100",
    );
    let d = decode(&pdf, None, 0, limits(), &PdfOptions::default()).unwrap();
    let g = d.pixels.to_gray();
    assert!(g.get_pixel(150, 300)[0] < 30, "inside the rectangle");
    assert!(
        (100..160).contains(&g.get_pixel(350, 50)[0]),
        "the gray image"
    );
}

#[test]
fn text_pages_keep_their_text_with_umlauts_and_boxes() {
    let pdf = text_pdf(&[
        "Stadt Braunschweig",
        "Betreff: Grüße aus der Straße - Bebauungsplan Nr. 42",
        "Sehr geehrte Damen und Herren, Öffnungszeiten für Übergabe",
    ])
    .unwrap();
    let frames = probe(&pdf, limits(), &PdfOptions::default()).unwrap();
    let info = frames[0].pdf.as_ref().unwrap();
    assert_eq!(info.method, Method::Rendered);
    assert_eq!(info.text, Some(TextMode::Keep));
    assert_eq!((frames[0].width, frames[0].height), (2481, 3508));
    let d = decode(&pdf, None, 0, limits(), &PdfOptions::default()).unwrap();
    let text = d.text.expect("kept text");
    let plain = text.text();
    assert!(plain.contains("Grüße aus der Straße"), "{plain}");
    assert!(plain.contains("Öffnungszeiten für Übergabe"), "{plain}");
    assert_eq!(text.lines.len(), 3, "{plain}");
    // "Stadt" starts 72 pt from the left, its baseline 82 pt from the top: at 300 dpi
    let w = &text.lines[0].words[0];
    assert_eq!(w.text, "Stadt");
    assert!((295..=305).contains(&w.bbox.x), "{:?}", w.bbox);
    assert!((280..345).contains(&w.bbox.y), "{:?}", w.bbox);
    assert_eq!(w.conf, 100.0);
    // the word's box holds ink on the rendered page
    let g = d.pixels.to_gray();
    let dark = (w.bbox.x..w.bbox.right())
        .flat_map(|x| (w.bbox.y..w.bbox.bottom()).map(move |y| (x, y)))
        .filter(|&(x, y)| g.get_pixel(x, y)[0] < 100)
        .count();
    assert!(dark > 50, "{dark} dark pixels in {:?}", w.bbox);
    // with pdf_text = "ocr" the page is rendered for OCR
    let ocr = PdfOptions {
        text: TextMode::Ocr,
        ..Default::default()
    };
    let d = decode(&pdf, None, 0, limits(), &ocr).unwrap();
    assert!(d.text.is_none());
    assert_eq!(d.info.text, Some(TextMode::Ocr));
}

fn qpdf(args: &[&str], input: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (i, o) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
    std::fs::write(&i, input).unwrap();
    let mut cmd = std::process::Command::new("qpdf");
    cmd.args(args).arg(&i).arg(&o);
    let status = cmd.status().expect("qpdf (scripts/setup.sh installs it)");
    assert!(
        status.success() || status.code() == Some(3),
        "qpdf {args:?}"
    );
    std::fs::read(o).unwrap()
}

fn error(pdf: &[u8]) -> String {
    probe(pdf, limits(), &PdfOptions::default())
        .map(|_| "accepted".to_string())
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn encrypted_active_and_broken_files_are_refused_with_their_reason() {
    let page = Pixels::Bilevel(bilevel_page(100, 80));
    let good = one(&page, 300.0, Encoding::G4, Placement::Upright);
    let e = error(&qpdf(&["--encrypt", "", "owner", "256", "--"], &good));
    assert!(
        e.contains("encrypted PDF: it opens without a password"),
        "{e}"
    );
    let e = error(&qpdf(&["--encrypt", "geheim", "owner", "256", "--"], &good));
    assert_eq!(e, "encrypted PDF: it needs a password to open");
    let e = error(&qpdf(
        &["--encrypt", "", "owner", "128", "--use-aes=y", "--"],
        &good,
    ));
    assert!(e.starts_with("encrypted PDF"), "{e}");

    let mut doc = lopdf::Document::load_mem(&good).unwrap();
    let js = doc.add_object(
        dictionary! {"S" => "JavaScript", "JS" => lopdf::Object::string_literal("app.alert(1)")},
    );
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    doc.get_dictionary_mut(root).unwrap().set("OpenAction", js);
    let mut js_pdf = Vec::new();
    doc.save_to(&mut js_pdf).unwrap();
    assert_eq!(
        error(&js_pdf),
        "PDF with JavaScript: active content is not taken"
    );

    let mut doc = lopdf::Document::load_mem(&good).unwrap();
    let file = doc.add_object(lopdf::Stream::new(
        dictionary! {"Type" => "EmbeddedFile"},
        b"hello".to_vec(),
    ));
    let spec = doc.add_object(dictionary! {"Type" => "Filespec", "F" => lopdf::Object::string_literal("a.txt"), "EF" => dictionary!{"F" => file}});
    let names = dictionary! {"EmbeddedFiles" => dictionary!{"Names" => vec![lopdf::Object::string_literal("a.txt"), spec.into()]}};
    doc.get_dictionary_mut(root).unwrap().set("Names", names);
    let mut ef = Vec::new();
    doc.save_to(&mut ef).unwrap();
    assert!(
        error(&ef).starts_with("PDF with embedded files"),
        "{}",
        error(&ef)
    );

    // cut in half: refused, whatever lopdf could scrape together
    assert_eq!(
        error(&good[..good.len() / 2]),
        "truncated PDF: the file ends without %%EOF (cut off in transfer?)"
    );
    // garbage that looks like a PDF: an error, no panic
    let e = error(
        b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\nxref\ngarbage\n%%EOF\n",
    );
    assert!(e.contains("PDF"), "{e}");
    assert!(!error(b"%PDF-1.4\n%%EOF").is_empty());
}

#[test]
fn a_broken_xref_table_is_rebuilt_and_reported() {
    let page = Pixels::Bilevel(bilevel_page(100, 80));
    let good = one(&page, 300.0, Encoding::G4, Placement::Upright);
    // shift every object by inserting bytes after the header: every xref offset is wrong
    let mut broken = good[..9].to_vec();
    broken.extend_from_slice(b"% a comment that moves every object by 60 bytes.........\n");
    broken.extend_from_slice(&good[9..]);
    let frames = probe(&broken, limits(), &PdfOptions::default()).unwrap();
    let info = frames[0].pdf.as_ref().unwrap();
    assert!(info.repaired, "{info:?}");
    let d = decode(&broken, None, 0, limits(), &PdfOptions::default()).unwrap();
    assert_eq!(raw(&d.pixels), raw(&page));
    assert!(d.info.repaired);
    // the intact file is not marked
    assert!(
        !probe(&good, limits(), &PdfOptions::default()).unwrap()[0]
            .pdf
            .as_ref()
            .unwrap()
            .repaired
    );
}

#[test]
fn empty_huge_and_pageless_pdfs_are_refused() {
    let pdf = pdf_with_content("  \n", "", "0 0 100 100");
    assert_eq!(error(&pdf), "page 1 of the PDF has no content");
    let pdf = pdf_with_content("q 100 0 0 100 0 0 cm /Im0 Do Q", "", "0 0 20000 300");
    assert_eq!(
        error(&pdf),
        "page 1 of the PDF is 7056 x 106 mm: not a sheet of paper"
    );
    // a page within the size limit that renders to more pixels than the profile allows:
    // refused before rendering, by ingest's pixel check
    let big = pdf_with_content("0 0 10 10 re f", "", "0 0 14000 14000");
    let c = crate::ingest::Candidate::file("big.pdf", "big.pdf");
    let e = crate::ingest::probe_bytes_for_tests(&c, &big, limits()).unwrap_err();
    assert!(e.to_string().contains("megapixels"), "{e}");
    let e = decode(&big, None, 0, limits(), &PdfOptions::default()).unwrap_err();
    assert!(e.to_string().contains("megapixels"), "{e}");

    let mut doc = lopdf::Document::with_version("1.7");
    let pages = doc.add_object(
        dictionary! {"Type" => "Pages", "Kids" => Vec::<lopdf::Object>::new(), "Count" => 0},
    );
    let cat = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages});
    doc.trailer.set("Root", cat);
    let mut zero = Vec::new();
    doc.save_to(&mut zero).unwrap();
    assert_eq!(error(&zero), "PDF without pages");
}

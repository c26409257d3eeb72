//! Bad input: one batch holding every kind of broken, odd or hostile entry a night can
//! bring, run through the real binary. Broken entries end in quarantine with one clear
//! line naming them; readable oddities (16-bit, alpha, CMYK, a wrong extension, control
//! characters in a name) are read like any page; hostile barcode values reach no file
//! name; the batch completes and `mailroom verify` accepts the output.
//!
//! The run drops root privileges when the suite runs as root (as CI does), since root
//! reads a file whatever its permissions say.

mod util;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use image::{GrayImage, ImageEncoder};
use mailroom::coversheet::CoverSheet;
use mailroom::lab::evaluate::{error_rate, normalise};
use serde_json::Value;
use util::{png_header_only, tool, TempBatch};

/// An unprivileged user and group (Debian's `nobody` / `nogroup`).
const NOBODY: u32 = 65534;

/// A name with a terminal escape sequence and a newline in it.
const CONTROL_NAME: &str = "h_cut\u{1b}[2J\nname.png";
const CONTROL_NAME_READABLE: &str = "e_red\u{1b}[31m\rname.png";

fn png(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn gray_png(img: &GrayImage) -> Vec<u8> {
    png(&image::DynamicImage::ImageLuma8(img.clone()))
}

/// A TIFF of 8-bit gray pages.
fn gray_tiff(pages: &[&GrayImage]) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let mut enc = tiff::encoder::TiffEncoder::new(&mut out).unwrap();
    for p in pages {
        enc.write_image::<tiff::encoder::colortype::Gray8>(p.width(), p.height(), p.as_raw())
            .unwrap();
    }
    out.into_inner()
}

/// A two-page TIFF whose second directory points back at the first: an endless chain.
fn looping_tiff() -> Vec<u8> {
    let page = GrayImage::from_pixel(64, 64, image::Luma([255]));
    let mut data = gray_tiff(&[&page, &page]);
    let u32_at = |d: &[u8], at: usize| u32::from_le_bytes(d[at..at + 4].try_into().unwrap());
    let u16_at = |d: &[u8], at: usize| u16::from_le_bytes(d[at..at + 2].try_into().unwrap());
    assert_eq!(&data[..4], b"II*\0");
    let first = u32_at(&data, 4) as usize;
    let next_field = |d: &[u8], ifd: usize| ifd + 2 + 12 * u16_at(d, ifd) as usize;
    let second = u32_at(&data, next_field(&data, first)) as usize;
    assert_ne!(second, 0);
    let at = next_field(&data, second);
    data[at..at + 4].copy_from_slice(&(first as u32).to_le_bytes());
    data
}

/// A white A4 page at 300 dpi with the symbols pasted on it.
fn page_with_symbols(symbols: &[GrayImage]) -> GrayImage {
    let mut page = GrayImage::from_pixel(2480, 3508, image::Luma([255]));
    let mut y = 300;
    for s in symbols {
        image::imageops::replace(&mut page, s, 300, y);
        y += i64::from(s.height()) + 200;
    }
    page
}

/// Runs `mailroom run` (as `nobody` when the tests run as root), deletes `vanish` once the
/// first page has been read (the pipeline reads it much later: it is the batch's last
/// file), and returns the exit code and stderr.
fn run_dropping_privileges(
    batch: &Path,
    out: &Path,
    profile: &Path,
    vanish: &Path,
    work: &Path,
) -> (i32, String) {
    // /proc/self belongs to the effective user of the process looking at it
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;
    let mut cmd = if root {
        // the binary may lie under a folder only root may enter (a clone in /root)
        let bin = work.join("mailroom");
        std::fs::copy(env!("CARGO_BIN_EXE_mailroom"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = Command::new("setpriv");
        c.args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".into(),
        ])
        .arg(&bin);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_mailroom"))
    };
    cmd.args([
        "run".as_ref(),
        batch.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .args(["--jobs", "2", "--profile"])
    .arg(profile)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("cannot start mailroom");
    let log = out.join("log.jsonl");
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("\"event\":\"page_read\"") {
            std::fs::remove_file(vanish).unwrap();
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "mailroom ended before reading a page"
        );
        assert!(started.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_kind_of_bad_input_is_quarantined_or_read_and_the_batch_completes() {
    let batch = TempBatch::generate(6, 5);
    let dir = batch.path().to_path_buf();
    let (letter, truth_text) = batch.upright_letter_page();
    let dynamic = image::DynamicImage::ImageLuma8(letter.clone());

    // --- readable oddities: each carries the letter's text ---
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    let gray16 = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(
        letter.width(),
        letter.height(),
        |x, y| image::Luma([u16::from(letter.get_pixel(x, y).0[0]) * 257]),
    );
    w(
        "a_gray16.png",
        &png(&image::DynamicImage::ImageLuma16(gray16)),
    );
    // ink as opacity over fully transparent black: read without the alpha, all is black
    let alpha = image::ImageBuffer::<image::LumaA<u8>, _>::from_fn(
        letter.width(),
        letter.height(),
        |x, y| image::LumaA([0, 255 - letter.get_pixel(x, y).0[0]]),
    );
    w(
        "b_alpha.png",
        &png(&image::DynamicImage::ImageLumaA8(alpha)),
    );
    let cmyk: Vec<u8> = letter
        .pixels()
        .flat_map(|p| [0, 0, 0, 255 - p.0[0]])
        .collect();
    let mut cmyk_tiff = Cursor::new(Vec::new());
    tiff::encoder::TiffEncoder::new(&mut cmyk_tiff)
        .unwrap()
        .write_image::<tiff::encoder::colortype::CMYK8>(letter.width(), letter.height(), &cmyk)
        .unwrap();
    w("c_cmyk.tif", cmyk_tiff.get_ref());
    w("d_png_named.jpg", &png(&dynamic));
    w(CONTROL_NAME_READABLE, &gray_png(&letter));
    // a cover sheet whose values try to climb out of the target folder, and a Code 128
    // symbol with control characters, in front of the letter; and a cover sheet with
    // control characters in its values, which is refused as unreadable
    let hostile_unit = "../../../escaped";
    let cover = CoverSheet {
        unit: hostile_unit.into(),
        case: Some("../../etc/passwd".into()),
        ..CoverSheet::default()
    };
    let hostile_code = "X\u{1b}]0;owned\u{7}/../../escaped";
    let qr =
        |text: &str| mailroom::barcode::render(zxingcpp::BarcodeFormat::QRCode, text, 8).unwrap();
    let symbols = [
        qr(&cover.payload()),
        mailroom::barcode::render(zxingcpp::BarcodeFormat::Code128, hostile_code, 4).unwrap(),
    ];
    w(
        "f_cover.tif",
        &gray_tiff(&[&page_with_symbols(&symbols), &letter]),
    );
    let controlled = CoverSheet {
        unit: "61\u{1b}[2J".into(),
        case: Some("a\r\nb".into()),
        ..CoverSheet::default()
    };
    w(
        "f_cover_control.tif",
        &gray_tiff(&[&page_with_symbols(&[qr(&controlled.payload())]), &letter]),
    );

    // --- broken and refused entries ---
    w("g_empty.png", b"");
    let whole = gray_png(&letter);
    w(CONTROL_NAME, &whole[..whole.len() / 2]);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .write_image(
            letter.as_raw(),
            letter.width(),
            letter.height(),
            image::ExtendedColorType::L8,
        )
        .unwrap();
    w("i_cut.jpg", &jpeg[..jpeg.len() * 3 / 5]);
    let tiff = gray_tiff(&[&letter, &letter]);
    w("j_cut.tif", &tiff[..tiff.len() * 3 / 4]);
    w("k_loop.tif", &looping_tiff());
    w("l_bomb.png", &png_header_only(100_000, 100_000));
    w("m_notes.tif", b"Bitte an FB 61 weiterleiten\n");
    let text_pdf = mailroom::lab::pdfgen::text_pdf(&["Stadt Braunschweig", "Antrag"]).unwrap();
    let plain_pdf = dir.join("plain.pdf.tmp-source");
    std::fs::write(&plain_pdf, &text_pdf).unwrap();
    let qpdf = tool(
        "qpdf",
        &[
            "--encrypt".as_ref(),
            "geheim".as_ref(),
            "owner".as_ref(),
            "256".as_ref(),
            "--".as_ref(),
            plain_pdf.as_os_str(),
            dir.join("n_encrypted.pdf").as_os_str(),
        ],
    );
    assert!(qpdf.status.success());
    std::fs::remove_file(&plain_pdf).unwrap();
    let mut doc = lopdf::Document::load_mem(&text_pdf).unwrap();
    let js = doc.add_object(lopdf::dictionary! {
        "S" => "JavaScript", "JS" => lopdf::Object::string_literal("app.alert(1)")
    });
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    doc.get_dictionary_mut(root).unwrap().set("OpenAction", js);
    doc.save(dir.join("o_script.pdf")).unwrap();
    std::fs::create_dir(dir.join("p_folder.tif")).unwrap();
    w("p_folder.tif/page.png", &whole);
    let outside = tempfile::tempdir().unwrap();
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = outside.path().join("secret.png");
    std::fs::write(&secret, &whole).unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("q_link.png")).unwrap();
    let fifo = tool("mkfifo", &[dir.join("r_pipe.png").as_os_str()]);
    assert!(fifo.status.success());
    w("s_locked.png", &whole);
    std::fs::set_permissions(
        dir.join("s_locked.png"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    w("zz_vanish.png", &whole);

    // the run may not run as root: every other entry readable by all, the output folder's
    // parent writable
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.join("p_folder.tif"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = work.path().join("out");
    let profile = work.path().join("braunschweig.toml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/braunschweig.toml"),
        &profile,
    )
    .unwrap();
    std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o644)).unwrap();

    let (code, stderr) = run_dropping_privileges(
        &dir,
        &out,
        &profile,
        &dir.join("zz_vanish.png"),
        work.path(),
    );
    let report: Value = serde_json::from_slice(
        &std::fs::read(out.join("report.json"))
            .unwrap_or_else(|e| panic!("no report ({e}); stderr:\n{stderr}")),
    )
    .unwrap();
    assert_eq!(
        code, 3,
        "files were quarantined, the batch completed\n{stderr}"
    );

    // every broken entry: quarantined with its reason, on one line of stderr naming it
    let quarantined: BTreeMap<String, &Value> = report["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["file"].as_str().unwrap().to_string(), q))
        .collect();
    let expected: &[(&str, &str, bool)] = &[
        // (entry, words of the reason, a copy is kept)
        ("g_empty.png", "empty", true),
        (CONTROL_NAME, "truncated PNG: no IEND chunk", true),
        ("i_cut.jpg", "truncated JPEG: no end-of-image marker", true),
        ("j_cut.tif", "truncated", true),
        ("k_loop.tif", "cycle in the list of IFDs", true),
        ("l_bomb.png", "megapixels", true),
        ("m_notes.tif", "unknown format", true),
        ("n_encrypted.pdf", "encrypted", true),
        ("o_script.pdf", "JavaScript", true),
        (
            "p_folder.tif",
            "a folder named like a page file, holding 1 file",
            false,
        ),
        ("q_link.png", "symbolic link to", false),
        ("r_pipe.png", "named pipe", false),
        ("s_locked.png", "no permission to read the file", false),
        ("zz_vanish.png", "disappeared during the run", false),
    ];
    let printable = |s: &str| mailroom::model::printable(s);
    for (file, words, copied) in expected {
        let q = quarantined
            .get(*file)
            .unwrap_or_else(|| panic!("{file:?} not quarantined; stderr:\n{stderr}"));
        let reason = q["reason"].as_str().unwrap();
        assert!(reason.contains(words), "{file:?}: {reason}");
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(&printable(file)))
            .collect();
        assert_eq!(lines.len(), 1, "one line naming {file:?}:\n{stderr}");
        assert!(lines[0].contains(&printable(reason)), "{}", lines[0]);
        let flat = file.replace('/', "__");
        let note = std::fs::read_to_string(out.join(format!("quarantine/{flat}.reason.txt")))
            .unwrap_or_else(|e| panic!("no reason file for {file:?}: {e}"));
        assert!(note.contains(reason), "{note}");
        assert_eq!(q["copy"].is_string(), *copied, "{file:?}: {q}");
        if *copied {
            let copy = out.join(q["copy"].as_str().unwrap());
            assert_eq!(
                mailroom::fsutil::sha256_file(&copy).unwrap(),
                q["sha256"].as_str().unwrap()
            );
        }
    }
    assert!(quarantined["q_link.png"]["reason"]
        .as_str()
        .unwrap()
        .contains("(outside the batch)"));
    assert!(
        !out.join("quarantine/secret.png").exists() && !out.join("quarantine/q_link.png").exists(),
        "nothing behind the link was copied"
    );
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\r'),
        "control characters reached the terminal:\n{stderr:?}"
    );

    // every readable oddity: delivered, its text read as well as from the original
    let documents = report["documents"].as_array().unwrap();
    let text_of = |file: &str| -> String {
        let d = documents
            .iter()
            .find(|d| d["sources"].as_array().unwrap().iter().any(|s| s == file))
            .unwrap_or_else(|| panic!("no document from {file:?}; stderr:\n{stderr}"));
        let record: Value =
            serde_json::from_slice(&std::fs::read(out.join(d["json"].as_str().unwrap())).unwrap())
                .unwrap();
        let pages = record["pages"].as_array().unwrap();
        pages
            .iter()
            .map(|p| p["ocr"]["text"].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let truth: Vec<char> = normalise(&truth_text).chars().collect();
    for file in [
        "a_gray16.png",
        "b_alpha.png",
        "c_cmyk.tif",
        "d_png_named.jpg",
        CONTROL_NAME_READABLE,
        "f_cover.tif",
        "f_cover_control.tif",
    ] {
        let read: Vec<char> = normalise(&text_of(file)).chars().collect();
        let cer = error_rate(&truth, &read);
        assert!(cer < 0.05, "{file:?}: CER {cer:.3}");
    }

    // hostile barcode values: kept as read in the record, in no file name
    let cover_doc = documents
        .iter()
        .find(|d| d["sources"][0] == "f_cover.tif")
        .unwrap();
    let record: Value = serde_json::from_slice(
        &std::fs::read(out.join(cover_doc["json"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(
        cover_doc["cover_sheet"]["unit"], hostile_unit,
        "{cover_doc:#}\n{:#}",
        record["removed_pages"]
    );
    let codes: Vec<&str> = record["removed_pages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["barcodes"].as_array().unwrap())
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    // the reader names control characters (<ESC>, <BEL>) instead of passing them on
    assert!(
        codes
            .iter()
            .any(|c| c.ends_with("/../../escaped") && !c.chars().any(char::is_control)),
        "{codes:?}"
    );
    let controlled_doc = documents
        .iter()
        .find(|d| d["sources"][0] == "f_cover_control.tif")
        .unwrap();
    assert!(controlled_doc["cover_sheet"].is_null());
    assert_eq!(
        controlled_doc["flags"][0]["flag"], "cover_sheet_unreadable",
        "{controlled_doc}"
    );
    assert!(controlled_doc["flags"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("holds a control character"));
    assert!(!work.path().join("escaped").exists() && !out.join("escaped").exists());
    for entry in walkdir::WalkDir::new(work.path()) {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy();
        assert!(
            !name.contains("escaped"),
            "a barcode value named a file: {}",
            entry.path().display()
        );
        if entry.path().starts_with(out.join("documents"))
            || entry.path().starts_with(out.join("delivered"))
        {
            assert!(
                name.chars().all(|c| c.is_ascii_graphic()),
                "unsafe output name {name:?}"
            );
        }
    }
    // the transfer note (XML, inside the PDF) stays well-formed around the control characters
    let pdf = out.join(cover_doc["pdf"].as_str().unwrap());
    let qpdf = tool("qpdf", &["--check".as_ref(), pdf.as_os_str()]);
    assert!(
        qpdf.status.success(),
        "{}",
        String::from_utf8_lossy(&qpdf.stdout)
    );
    let notes = work.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    let detach = tool(
        "pdfdetach",
        &[
            "-saveall".as_ref(),
            "-o".as_ref(),
            notes.as_os_str(),
            pdf.as_os_str(),
        ],
    );
    assert!(detach.status.success());
    for note in std::fs::read_dir(&notes).unwrap() {
        let path: PathBuf = note.unwrap().path();
        let parse = tool(
            "python3",
            &[
                "-c".as_ref(),
                "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])".as_ref(),
                path.as_os_str(),
            ],
        );
        assert!(
            parse.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&parse.stderr)
        );
    }

    // the output holds together
    let verify = util::mailroom(&["verify".as_ref(), out.as_os_str()]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    let c = &report["counts"];
    assert_eq!(
        c["files_quarantined"].as_u64().unwrap(),
        expected.len() as u64
    );
}

//! Helpers for the end-to-end tests: run the real binary, generate batches with truth,
//! and share one expensive run between the tests that only read its output.

#![allow(dead_code)]

pub mod dms;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use mailroom::lab::generate::{generate, GenerateSpec};
use mailroom::lab::truth::{PageKind, Truth};
use serde_json::Value;

pub struct RunResult {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the real `mailroom` binary with two workers.
pub fn mailroom(args: &[&OsStr]) -> RunResult {
    let out = Command::new(env!("CARGO_BIN_EXE_mailroom"))
        .args(args)
        .output()
        .expect("cannot start mailroom");
    RunResult {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `mailroom run BATCH --out OUT EXTRA...`
pub fn run_batch(batch: impl AsRef<Path>, out: impl AsRef<Path>, extra: &[&OsStr]) -> RunResult {
    let mut args: Vec<&OsStr> = vec![
        "run".as_ref(),
        batch.as_ref().as_os_str(),
        "--out".as_ref(),
        out.as_ref().as_os_str(),
    ];
    args.extend_from_slice(extra);
    mailroom(&args)
}

/// Runs an external checker (qpdf, pdfinfo, ...), which must be installed.
pub fn tool(name: &str, args: &[&OsStr]) -> Output {
    Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name} (scripts/setup.sh installs it): {e}"))
}

/// The page count `pdfinfo` reads from a PDF.
pub fn pdf_pages(pdf: &Path) -> u64 {
    let info = String::from_utf8(tool("pdfinfo", &[pdf.as_os_str()]).stdout).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap_or_else(|| panic!("pdfinfo gave no page count for {}:\n{info}", pdf.display()))
        .trim()
        .parse()
        .unwrap()
}

/// A generated batch in a temporary folder.
pub struct TempBatch {
    dir: tempfile::TempDir,
    pub truth: Truth,
}

impl TempBatch {
    pub fn generate(pages: usize, seed: u64) -> TempBatch {
        let dir = tempfile::tempdir().unwrap();
        let spec = GenerateSpec {
            seed,
            pages,
            stream: false,
        };
        let truth = generate(&spec, dir.path()).expect("generator failed");
        TempBatch { dir, truth }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The first letter page that was scanned upright with under 2 degrees of skew, decoded, with its
    /// true text.
    pub fn upright_letter_page(&self) -> (image::GrayImage, String) {
        let p = self
            .truth
            .pages
            .iter()
            .find(|p| p.kind == PageKind::Letter && p.rotation == 0 && p.skew_deg.abs() < 2.0)
            .expect("the batch has an upright letter page");
        let data = std::fs::read(self.path().join(&p.file)).unwrap();
        let format = mailroom::ingest::Format::sniff(&data).unwrap();
        let limits = mailroom::ingest::Limits {
            max_pixels: 100_000_000,
            assume_dpi: 300,
        };
        let pixels =
            mailroom::ingest::decode_frame_bytes(&data, format, p.frame as usize, limits).unwrap();
        let img = pixels.to_gray().into_owned();
        (img, p.text.clone())
    }
}

/// One run over a generated batch with four bad files added, shared by the tests that
/// only read its output.
pub struct MixedRun {
    pub batch: TempBatch,
    pub out: tempfile::TempDir,
    pub truth: Truth,
    pub report: Value,
    pub code: i32,
    pub stderr: String,
}

impl MixedRun {
    pub fn document(&self, rel: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.out.path().join(rel)).unwrap()).unwrap()
    }
}

pub fn mixed_batch_run() -> &'static MixedRun {
    static RUN: OnceLock<MixedRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let batch = TempBatch::generate(10, 42);
        let dir = batch.path();
        std::fs::write(dir.join("empty.tif"), b"").unwrap();
        std::fs::write(dir.join("notes.txt"), b"Bitte an FB 61 weiterleiten").unwrap();
        std::fs::write(dir.join("bomb.png"), png_header_only(100_000, 100_000)).unwrap();
        // a multi-page TIFF of the batch, cut short
        let tiff = batch
            .truth
            .pages
            .iter()
            .find(|p| p.frame == 1 && p.file.ends_with(".tif"))
            .expect("the batch has a multi-page TIFF")
            .file
            .clone();
        let bytes = std::fs::read(dir.join(&tiff)).unwrap();
        std::fs::write(dir.join("zz_cut.tif"), &bytes[..bytes.len() * 2 / 3]).unwrap();

        let out = tempfile::tempdir().unwrap();
        let r = run_batch(dir, out.path(), &["--jobs".as_ref(), "2".as_ref()]);
        let report: Value = serde_json::from_slice(
            &std::fs::read(out.path().join("report.json"))
                .unwrap_or_else(|e| panic!("no report.json ({e}); stderr:\n{}", r.stderr)),
        )
        .unwrap();
        let truth = batch.truth.clone();
        MixedRun {
            batch,
            out,
            truth,
            report,
            code: r.code,
            stderr: r.stderr,
        }
    })
}

/// A PNG that claims to be `width` x `height` pixels but carries no image data: the shape
/// of a decompression bomb, which must be refused from its header alone.
pub fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    for (kind, body) in [(&b"IHDR"[..], &ihdr[..]), (b"IEND", &[])] {
        png.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(body);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

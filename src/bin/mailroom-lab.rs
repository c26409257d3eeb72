//! `mailroom-lab`: the measuring tools. `generate` writes a batch of realistic scanned
//! letters with ground truth; `evaluate` scores a run's output against that truth;
//! `dms-server` runs an enaio test server (both REST APIs) for delivery tests; `delivery`
//! writes a contractor's delivery of digitised Akten (BagIt bag, inventory) with injected
//! defects for `mailroom validate`; `hash-bag` (hidden) measures the BagIt check's hashing
//! speed (scripts/bench-hash.sh).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use mailroom::lab::delivery::{generate_delivery, Defect, DeliverySpec};
use mailroom::lab::dms_server::{FaultPlan, ObjectType, ServerConfig};
use mailroom::lab::evaluate::{
    evaluate_pdf_text, evaluate_tesseract_tsv, evaluate_with, EvalOptions,
};
use mailroom::lab::generate::{generate, GenerateSpec};
use mailroom::lab::pdfgen::{convert_batch, PdfShare};
use mailroom::lab::truth::{Truth, TRUTH_FILE};

#[derive(Parser)]
#[command(
    name = "mailroom-lab",
    version,
    about = "Generates batches with ground truth and measures mailroom's accuracy on them",
    after_help = "Examples:\n  mailroom-lab generate --pages 40 --seed 7 --out /tmp/batch40\n  mailroom run /tmp/batch40 --out /tmp/out40\n  mailroom-lab evaluate /tmp/out40 --truth /tmp/batch40/truth.json\n  mailroom-lab evaluate /tmp/out40 --truth /tmp/batch40/truth.json --json --max-mean-cer 0.10\n  mailroom-lab evaluate /tmp/out40 --batch /tmp/batch40 --min-routing-accuracy 0.98\n  mailroom-lab dms-server --port 8680 --state /tmp/enaio --user post --password-file /tmp/pw --parents FB10,Abt504,POST\n  mailroom-lab delivery --out /tmp/lot --files 100 --pages 10-30 --defects all"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a batch of degraded scanned letters plus truth.json
    Generate {
        /// Output folder (created; must not hold a batch already)
        #[arg(long)]
        out: PathBuf,
        /// Approximate number of pages (letters are added until reached)
        #[arg(long, default_value_t = 18)]
        pages: usize,
        /// Seed: the same seed gives the same batch, byte for byte
        #[arg(long, default_value_t = 20261128)]
        seed: u64,
        /// A stream batch: separator sheets (cover, patch, barcode) before the letters,
        /// unrelated barcodes on some pages, files `scan_*` of 1-8 pages across letters
        /// (run it with profiles/stream.toml)
        #[arg(long)]
        stream: bool,
        /// Write some (every other) or all files as scanner-style PDFs: the same pages
        /// and truth; JPEG kept as JPEG, bilevel as CCITT G4 or JBIG2, gray lossless as
        /// Flate, some pages turned by /Rotate or the image matrix
        #[arg(long, value_enum, default_value = "none")]
        pdf: PdfShare,
    },
    /// Write a test delivery of digitised Akten: DIR/bag (BagIt 1.0, one multi-page TIFF
    /// per Akte), DIR/inventory.csv and DIR/defects.json (every injected defect)
    #[command(
        after_help = "Defects (each on an Akte of its own): missing_file, extra_file, \
altered_file, payload_oxum_mismatch, page_count_mismatch, low_resolution (half the dpi), \
skewed (3-4 degrees), wrong_orientation (upside down), blank_page, black_border, \
duplicate_file; or all."
    )]
    Delivery {
        /// Output folder (created; must not hold a bag already)
        #[arg(long)]
        out: PathBuf,
        /// Akten (files) in the inventory
        #[arg(long)]
        files: usize,
        /// Pages per Akte: MIN-MAX or one count (Akten with a defect get at least 3)
        #[arg(long, default_value = "5-30")]
        pages: String,
        /// Seed: the same arguments give the same delivery, byte for byte
        #[arg(long, default_value_t = 20261128)]
        seed: u64,
        /// Defects to inject: comma list of names, all, or none
        #[arg(long, default_value = "none")]
        defects: String,
        /// Resolution of the lot's pages (rendered at 300 and resampled otherwise)
        #[arg(long, default_value_t = 300)]
        dpi: u32,
    },
    /// Time reading every page of PDFs both ways: the embedded image taken as stored
    /// (what `mailroom run` does with scanner pages) and the page rendered with MuPDF
    /// at --dpi (what it does with other pages). Prints one line per page and the totals.
    PdfRead {
        /// PDF files
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Resolution of the rendering
        #[arg(long, default_value_t = 300)]
        dpi: u32,
        /// Read and render every page this many times and take the fastest of each
        /// (robust against other work on the machine)
        #[arg(long, default_value_t = 3)]
        repeat: u32,
    },
    /// Score a run's output folder against the batch's truth.json
    Evaluate {
        /// Output folder of `mailroom run`
        out: PathBuf,
        /// Ground truth of the batch (default: <batch>/truth.json named in the report)
        #[arg(long)]
        truth: Option<PathBuf>,
        /// The batch folder: its truth.json is the ground truth (instead of --truth)
        #[arg(long, conflicts_with = "truth")]
        batch: Option<PathBuf>,
        /// Print JSON instead of the table
        #[arg(long)]
        json: bool,
        /// Exit with code 5 if the mean CER over text pages (JSON text) is above this
        #[arg(long)]
        max_mean_cer: Option<f64>,
        /// Score document boundaries even when the truth has no separator sheets (then
        /// every file is one document); scored anyway when it has them
        #[arg(long)]
        separation: bool,
        /// Exit with code 5 unless document separation is perfect: every truth document
        /// is exactly one output document, no output document matches no letter, no
        /// separator sheet is kept in a PDF, no barcode is misread and no patch code is
        /// found where there is none (implies --separation)
        #[arg(long)]
        require_separation: bool,
        /// Exit with code 5 if the share of truth documents routed where the truth says
        /// (unit, clarification or unopened) is below this, on any confidential leak (a
        /// letter to stay unopened routed, or an unopened document that still stores
        /// text) and on any document routed to a wrong unit with confidence >= 0.8
        #[arg(long, value_name = "SHARE")]
        min_routing_accuracy: Option<f64>,
        /// Score plain tesseract TSV output instead: OUT is a folder of `<file>.tsv`
        /// (the benchmark's floor), and --truth or --batch is required
        #[arg(long)]
        tesseract_tsv: bool,
        /// Score the text layer of one PDF instead: OUT is a PDF whose pages are the
        /// batch's pages in the truth's order (OCRmyPDF's output in the benchmark), and
        /// --truth or --batch is required
        #[arg(long, conflicts_with = "tesseract_tsv")]
        pdf_text: bool,
    },
    /// Run an enaio test server (DMS service and OSRest APIs) on 127.0.0.1; prints
    /// `listening on http://127.0.0.1:PORT` first, then logs requests on stderr
    #[command(after_help = "Test endpoints (no login): GET /_test/objects, \
GET /_test/objects/ID/content, GET /_test/folders, GET /_test/stats, GET|POST /_test/faults.\n\
Fault spec: comma list of KIND[#N]=ACTION; KIND insert|search|info|all; ACTION \
STATUS[:retry-after=S] | timeout[:MS] | late-store[:MS] | reset-after-store | reset | \
ok-without-id | slow:MS.\nExample: --faults 'insert#2=500,insert#3=503:retry-after=1,all=slow:200'")]
    DmsServer {
        /// Port on 127.0.0.1; 0 picks a free one
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Folder for the stored objects (index.json and content/); kept across restarts
        #[arg(long)]
        state: PathBuf,
        /// Require this HTTP Basic user on every API request (with --password-file)
        #[arg(long, requires = "password_file")]
        user: Option<String>,
        /// File holding the password (first line); never on the command line
        #[arg(long, requires = "user")]
        password_file: Option<PathBuf>,
        /// Document types: Name[=numeric id],... (ids numbered from 262145 if not given)
        #[arg(long, default_value = "Posteingang,Gesundheitsakte")]
        types: String,
        /// Folder type of the parents: Name[=numeric id] (id 6 if not given)
        #[arg(long, default_value = "Ordner")]
        folder_type: String,
        /// The folder type's key field (what a parent search looks for)
        #[arg(long, default_value = "Kennung")]
        folder_field: String,
        /// Keys of the folders to create, e.g. FB10,Abt504,POST
        #[arg(long, default_value = "")]
        parents: String,
        /// Index fields documents may have (others are refused with 422); default: any
        #[arg(long)]
        fields: Option<String>,
        /// Fault plan, e.g. insert#2=500,insert#3=503:retry-after=1,all=slow:200
        #[arg(long, default_value = "")]
        faults: String,
    },
    /// Run the BagIt checks of `mailroom validate` on a bag and print bytes, seconds and
    /// MB/s (10^6 bytes) of the hashing as JSON (scripts/bench-hash.sh)
    #[command(hide = true)]
    HashBag {
        /// The bag (the folder holding bagit.txt and data/)
        dir: PathBuf,
        /// Hashing threads
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
    /// Run the PDF/A checks of `mailroom validate` on PDF files: one line per file, `OK
    /// <claim>` or the clauses it breaks; exit 1 when any file fails (tests/pdfa.rs)
    #[command(hide = true)]
    CheckPdfa {
        /// PDF files
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailroom-lab: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main() -> Result<ExitCode> {
    match Cli::parse().command {
        Cmd::CheckPdfa { files } => {
            let mut failed = false;
            for file in files {
                let data = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let report = mailroom::validate::pdfa::check(&data);
                if report.problems.is_empty() {
                    let claim = report.claim.map(|c| c.to_string()).unwrap_or_default();
                    println!("OK {} {claim}", file.display());
                } else {
                    failed = true;
                    for p in &report.problems {
                        println!("FAIL {} {p}", file.display());
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::HashBag { dir, jobs } => {
            let report = mailroom::validate::bagit::check_bag(&dir, jobs, &|_| {})?;
            let seconds = report.hash_seconds;
            let out = serde_json::json!({
                "bag": dir.display().to_string(),
                "jobs": jobs,
                "files": report.files.len(),
                "bytes": report.bytes_hashed,
                "seconds": seconds,
                "mb_per_second": if seconds > 0.0 { report.bytes_hashed as f64 / 1e6 / seconds } else { 0.0 },
                "findings": report.findings.len(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            for f in report.findings.iter().take(10) {
                eprintln!(
                    "mailroom-lab: finding: {:?} {} {}",
                    f.kind,
                    f.file.as_deref().unwrap_or(""),
                    f.detail
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::DmsServer {
            port,
            state,
            user,
            password_file,
            types,
            folder_type,
            folder_field,
            parents,
            fields,
            faults,
        } => {
            let login = match (user, password_file) {
                (Some(u), Some(f)) => {
                    let text = std::fs::read_to_string(&f)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
                    let password = text.lines().next().unwrap_or("").to_string();
                    Some((u, password))
                }
                _ => None,
            };
            let folder_type = match ObjectType::parse_list(&folder_type, 6)?.as_slice() {
                [t] => t.clone(),
                _ => bail!("--folder-type takes one type"),
            };
            let types = ObjectType::parse_list(&types, 262145)?;
            if types
                .iter()
                .any(|t| t.name == folder_type.name || t.id == folder_type.id)
            {
                bail!(
                    "the folder type {} is also a document type",
                    folder_type.name
                );
            }
            let list = |s: &str| -> Vec<String> {
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            mailroom::lab::dms_server::run(ServerConfig {
                port,
                state,
                login,
                types,
                folder_type,
                folder_field,
                parents: list(&parents),
                fields: fields.as_deref().map(list),
                faults: FaultPlan::parse(&faults)?,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Delivery {
            out,
            files,
            pages,
            seed,
            defects,
            dpi,
        } => {
            let (min_pages, max_pages) = DeliverySpec::parse_pages(&pages)?;
            let spec = DeliverySpec {
                files,
                min_pages,
                max_pages,
                seed,
                defects: Defect::parse_list(&defects)?,
                dpi,
            };
            let t = std::time::Instant::now();
            let outcome = generate_delivery(&spec, &out)?;
            let seconds = t.elapsed().as_secs_f64();
            let truth = &outcome.truth;
            eprintln!(
                "mailroom-lab: wrote {} Akten ({} files, {} pages, {} bytes in the payload; {} \
                 defect entries) to {} in {seconds:.1} s: {:.1} pages/s",
                truth.items,
                truth.payload_files,
                truth.payload_pages,
                truth.payload_bytes,
                truth.defects.len(),
                out.display(),
                outcome.rendered_pages as f64 / seconds.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Generate {
            out,
            pages,
            seed,
            stream,
            pdf,
        } => {
            if out.join(TRUTH_FILE).exists() {
                bail!("{} already holds a batch", out.display());
            }
            let t = std::time::Instant::now();
            let truth = generate(
                &GenerateSpec {
                    seed,
                    pages,
                    stream,
                },
                &out,
            )?;
            let pdfs = convert_batch(&out, pdf)?;
            if pdfs > 0 {
                eprintln!("mailroom-lab: {pdfs} files written as scanner PDFs");
            }
            eprintln!(
                "mailroom-lab: wrote {} pages in {} letters to {} in {:.1} s",
                truth.pages.len(),
                truth.documents.len(),
                out.display(),
                t.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::PdfRead { files, dpi, repeat } => pdf_read(&files, dpi, repeat.max(1)),
        Cmd::Evaluate {
            out,
            truth,
            batch,
            json,
            max_mean_cer,
            separation,
            require_separation,
            min_routing_accuracy,
            tesseract_tsv,
            pdf_text,
        } => {
            let truth_path = match (truth, batch) {
                (Some(p), _) => p,
                (None, Some(b)) => b.join(TRUTH_FILE),
                (None, None) if tesseract_tsv => bail!("--tesseract-tsv needs --truth or --batch"),
                (None, None) if pdf_text => bail!("--pdf-text needs --truth or --batch"),
                (None, None) => {
                    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(
                        out.join(mailroom::pipeline::REPORT_FILE),
                    )?)?;
                    let batch = report["batch"].as_str().unwrap_or_default();
                    PathBuf::from(batch).join(TRUTH_FILE)
                }
            };
            let truth = Truth::load(&truth_path)?;
            let eval = if tesseract_tsv {
                evaluate_tesseract_tsv(&out, &truth)?
            } else if pdf_text {
                evaluate_pdf_text(&out, &truth)?
            } else {
                let opts = EvalOptions {
                    separation: separation || require_separation,
                };
                evaluate_with(&out, &truth, opts)?
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&eval)?);
            } else {
                print!("{}", eval.table());
            }
            let mut failed = false;
            if let (Some(limit), Some(cer)) = (max_mean_cer, &eval.summary.cer) {
                if cer.mean > limit {
                    eprintln!(
                        "mailroom-lab: mean CER {:.4} is above the limit {limit}",
                        cer.mean
                    );
                    failed = true;
                }
            }
            if require_separation {
                for why in eval.separation_failures() {
                    eprintln!("mailroom-lab: separation: {why}");
                    failed = true;
                }
            }
            if let Some(limit) = min_routing_accuracy {
                for why in eval.routing_failures(limit) {
                    eprintln!("mailroom-lab: routing: {why}");
                    failed = true;
                }
            }
            Ok(if failed {
                ExitCode::from(5)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// `mailroom-lab pdf-read`: extraction against rendering, page by page.
fn pdf_read(files: &[PathBuf], dpi: u32, repeat: u32) -> Result<ExitCode> {
    use mailroom::pdf_input::{self, render, PdfOptions};
    let limits = mailroom::ingest::Limits {
        max_pixels: 1_000_000_000,
        assume_dpi: 300,
    };
    let opts = PdfOptions {
        render_dpi: dpi,
        ..Default::default()
    };
    let (mut read_s, mut render_s, mut pages) = (0.0, 0.0, 0usize);
    println!("file\tpage\tmethod\tfilter\tpixels\tread_ms\trender_ms");
    for file in files {
        let data = std::fs::read(file)?;
        let frames = pdf_input::probe(&data, limits, &opts)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        for (i, f) in frames.iter().enumerate() {
            let (mut read, mut rendered) = (f64::MAX, f64::MAX);
            let mut d = None;
            for _ in 0..repeat {
                let t = std::time::Instant::now();
                d = Some(
                    pdf_input::decode(&data, Some(file), i, limits, &opts)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
                );
                read = read.min(t.elapsed().as_secs_f64());
                let t = std::time::Instant::now();
                let r = render::render_gray(file, i + 1, dpi)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                rendered = rendered.min(t.elapsed().as_secs_f64());
                drop(r);
            }
            let d = d.expect("repeat >= 1");
            let info = f.pdf.as_ref().expect("PDF pages have PDF info");
            println!(
                "{}\t{}\t{:?}\t{}\t{}x{}\t{:.1}\t{:.1}",
                file.display(),
                i + 1,
                info.method,
                info.filter.as_deref().unwrap_or("-"),
                d.pixels.width(),
                d.pixels.height(),
                read * 1000.0,
                rendered * 1000.0
            );
            read_s += read;
            render_s += rendered;
            pages += 1;
        }
    }
    let n = pages.max(1) as f64;
    println!(
        "total\t{pages} pages\tread {:.1} ms/page\trender at {dpi} dpi {:.1} ms/page\trendering/reading {:.1}x",
        read_s * 1000.0 / n,
        render_s * 1000.0 / n,
        render_s / read_s.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

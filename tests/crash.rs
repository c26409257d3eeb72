//! Crash and resume: `mailroom run` is killed with SIGKILL at seeded moments in each phase
//! (reading the pages with OCR, writing the documents, delivering them), and the same
//! command is run again after each kill, as an operator would, until a run completes.
//! Then every input page is accounted for once, every document is delivered exactly once
//! as counted at the target (files in the folder target, objects on the enaio test
//! server), no partial or temporary file sits under a finished file's name, and
//! `mailroom verify` passes. After every single kill, the output folder and the target
//! hold nothing partial either.
//!
//! Kill moments are placed by markers, not by wall time alone: the journal's `started`
//! (reading begins) and `sending` lines, and the entries appearing in `documents/`
//! (writing began), each followed by a seeded delay. After each kill the journal and the
//! output folder say which phase it hit; the tests count the hits per phase.
//!
//! The last test drives `mailroom run` through the DMS faults of the enaio test server
//! (500, 503 with Retry-After, 422, timeout, broken connections, a slow server, a server
//! that stays down) and checks retries, quarantine, the pending summary and exit codes.

mod util;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use mailroom::fsutil::sha256_file;
use serde_json::Value;
use util::dms::{DmsServer, PASSWORD, USER};
use util::TempBatch;

/// The tests of this file one at a time: each runs mailroom with two workers, and the
/// reading kills are placed by the time a whole packaging took on this machine.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// xorshift64: the same kill moments on every run of the tests.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        // the high bits: xorshift's low bits repeat themselves
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % n
    }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

// ---------------------------------------------------------------------------------------
// The batch and a reference run without kills
// ---------------------------------------------------------------------------------------

/// One small generated batch (every page its own document, so a few pages give several
/// documents to write and deliver), and what an uninterrupted run made of it.
struct Reference {
    batch: TempBatch,
    _dir: tempfile::TempDir,
    /// The profile without a `[delivery]` section (folder target, `delivered/`).
    profile_text: String,
    /// Documents with a PDF: id -> pages in the PDF.
    documents: BTreeMap<String, usize>,
    /// How long the whole uninterrupted run took.
    run_ms: u64,
}

const BATCH_SEED: u64 = 2;

fn reference() -> &'static Reference {
    static REF: OnceLock<Reference> = OnceLock::new();
    REF.get_or_init(|| {
        let batch = TempBatch::generate(6, BATCH_SEED);
        let dir = tempfile::tempdir().unwrap();
        let profile_text = "name = \"crash\"\n\n[separation]\nevery_pages = 1\n".to_string();
        let profile = dir.path().join("profile.toml");
        std::fs::write(&profile, &profile_text).unwrap();
        let out = dir.path().join("out");
        let job = Job::new(batch.path(), &out, &profile);
        let t = Instant::now();
        let r = job.run();
        let run_ms = t.elapsed().as_millis() as u64;
        assert_eq!(r.code, 0, "reference run: {}\n{}", r.stdout, r.stderr);
        let documents = documents_with_pdf(&out);
        assert!(
            documents.len() >= 4,
            "the batch gives several documents: {documents:?}"
        );
        Reference {
            batch,
            _dir: dir,
            profile_text,
            documents,
            run_ms,
        }
    })
}

/// Documents with a PDF in `<out>/report.json`: id -> pages.
fn documents_with_pdf(out: &Path) -> BTreeMap<String, usize> {
    let report = read_json(&out.join("report.json"));
    report["documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["pdf"].is_null())
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_string(),
                d["pages"].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// One `mailroom run` command, run to the end or spawned to be killed
// ---------------------------------------------------------------------------------------

struct Job {
    batch: PathBuf,
    out: PathBuf,
    profile: PathBuf,
}

impl Job {
    fn new(batch: &Path, out: &Path, profile: &Path) -> Job {
        Job {
            batch: batch.to_path_buf(),
            out: out.to_path_buf(),
            profile: profile.to_path_buf(),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom"));
        c.arg("run")
            .arg(&self.batch)
            .arg("--out")
            .arg(&self.out)
            .arg("--profile")
            .arg(&self.profile)
            .args(["--jobs", "2"])
            .env_remove("MAILROOM_DMS_TOKEN")
            .env("MAILROOM_DMS_USER", USER)
            .env("MAILROOM_DMS_PASSWORD", PASSWORD);
        c
    }

    fn run(&self) -> util::RunResult {
        let o = self.command().output().expect("cannot start mailroom");
        util::RunResult {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn spawn(&self) -> Child {
        self.command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start mailroom")
    }
}

// ---------------------------------------------------------------------------------------
// Where a run stands, from its journal and output folder
// ---------------------------------------------------------------------------------------

/// The complete lines of the journal (a torn last line is what a kill can leave).
fn journal(out: &Path) -> Vec<Value> {
    let text = std::fs::read(out.join("journal.jsonl")).unwrap_or_default();
    let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    text[..complete]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l).unwrap_or_else(|e| {
                panic!(
                    "a complete journal line does not parse ({e}): {}",
                    String::from_utf8_lossy(l)
                )
            })
        })
        .collect()
}

/// How many lines of each event the journal holds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    started: usize,
    packaged: usize,
    delivering: usize,
    sending: usize,
    reported: usize,
    /// A `packaged` line after the last `started`.
    packaged_last: bool,
}

impl Counts {
    fn read(out: &Path) -> Counts {
        let mut c = Counts::default();
        for e in journal(out) {
            match e["event"].as_str().unwrap() {
                "started" => {
                    c.started += 1;
                    c.packaged_last = false;
                }
                "packaged" => {
                    c.packaged += 1;
                    c.packaged_last = true;
                }
                "delivering" => c.delivering += 1,
                "sending" => c.sending += 1,
                "reported" => c.reported += 1,
                _ => {}
            }
        }
        c
    }
}

/// Documents whose last journal line is `sending`: sent, outcome unknown.
fn unknown_outcomes(out: &Path) -> usize {
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for e in journal(out) {
        if let Some(d) = e["document"].as_str() {
            last.insert(d.to_string(), e["event"].as_str().unwrap().to_string());
        }
    }
    last.values().filter(|e| *e == "sending").count()
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// The phase a kill hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Before the run wrote its first journal line (listing the batch, the plan).
    Startup,
    /// Packaging began, no document file yet: probing, decoding, cleanup, OCR.
    Reading,
    /// Document files are being written (PDF, evidence PDF, JSON, report.json).
    Writing,
    /// The delivery run began (checking the target, sending, journalling receipts).
    Delivery,
    /// The run had finished (its report was journalled) before the kill.
    Finished,
}

fn phase(before: &Counts, after: &Counts, out: &Path) -> Phase {
    if after.reported > before.reported {
        Phase::Finished
    } else if after.delivering > before.delivering {
        Phase::Delivery
    } else if after.started > before.started {
        if after.packaged_last || entries(&out.join("documents")) > 0 {
            Phase::Writing
        } else {
            Phase::Reading
        }
    } else {
        Phase::Startup
    }
}

/// Where to kill, after which marker of the run.
#[derive(Debug, Clone, Copy)]
enum Aim {
    /// After the run's `started` line, this share (per mille) of a whole run's time.
    Reading { permille: u64 },
    /// When `documents/` holds this many entries (temporary files count), plus µs.
    Writing { entries: usize, delay_us: u64 },
    /// After the run's n-th `sending` line (0: its `delivering` line), plus ms.
    Delivery { sending: usize, delay_ms: u64 },
}

/// What one kill did.
#[derive(Debug)]
struct Kill {
    aim: Aim,
    hit: Phase,
    /// Documents sent whose outcome the journal does not know after the kill.
    unknown: usize,
}

/// Spawns the job, waits for the aim's marker, kills the process with SIGKILL and says
/// which phase the kill hit.
fn kill_once(job: &Job, aim: Aim, run_ms: u64) -> Kill {
    let out = &job.out;
    let before = Counts::read(out);
    let mut child = job.spawn();
    let deadline = Instant::now() + Duration::from_secs(600);
    let docs = out.join("documents");
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no marker for {aim:?}");
        let now = Counts::read(out);
        if now.reported > before.reported {
            break;
        }
        match aim {
            Aim::Reading { permille } => {
                if now.started > before.started {
                    std::thread::sleep(Duration::from_millis(run_ms * permille / 1000));
                    break;
                }
            }
            Aim::Writing {
                entries: n,
                delay_us,
            } => {
                if now.started > before.started {
                    // from here on only the folder is watched, as fast as it can be
                    while entries(&docs) < n && child.try_wait().unwrap().is_none() {
                        if Counts::read(out).packaged_last || Instant::now() > deadline {
                            break;
                        }
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    std::thread::sleep(Duration::from_micros(delay_us));
                    break;
                }
                if now.delivering > before.delivering {
                    break;
                }
            }
            Aim::Delivery { sending, delay_ms } => {
                if now.delivering > before.delivering && now.sending >= before.sending + sending {
                    std::thread::sleep(Duration::from_millis(delay_ms));
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // SIGKILL: no cleanup, no destructor, as in a power cut
    let _ = child.kill();
    let _ = child.wait();
    let after = Counts::read(out);
    Kill {
        aim,
        hit: phase(&before, &after, out),
        unknown: unknown_outcomes(out),
    }
}

// ---------------------------------------------------------------------------------------
// What must hold after every kill, and at the end
// ---------------------------------------------------------------------------------------

/// Every file below `dir`, with its path relative to it.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// A complete PDF: ends with `%%EOF` and passes `qpdf --check`.
fn check_pdf(p: &Path, context: &str) {
    let bytes = std::fs::read(p).unwrap();
    let tail = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(32)..]).into_owned();
    assert!(
        tail.contains("%%EOF"),
        "{context}: {} is a partial PDF ({} bytes)",
        p.display(),
        bytes.len()
    );
    let q = util::tool("qpdf", &["--check".as_ref(), p.as_os_str()]);
    assert!(
        q.status.success(),
        "{context}: qpdf --check {}: {}{}",
        p.display(),
        String::from_utf8_lossy(&q.stdout),
        String::from_utf8_lossy(&q.stderr)
    );
}

/// Nothing partial under a finished name, and every temporary name clearly temporary:
/// - a temporary file is hidden (`.name.tmp`);
/// - every PDF in `documents/` and `evidence/`, and every refused document's PDF in
///   `quarantine/`, is complete; every JSON parses; a document JSON's PDF is there with
///   the hash it names;
/// - every file in the folder target is the packaged file of that name, byte for byte;
/// - `report.json`, if there, parses.
fn check_nothing_partial(out: &Path, context: &str) {
    for rel in files(out) {
        let n = name(&rel);
        if n.contains(".tmp") {
            assert!(
                n.starts_with('.'),
                "{context}: temporary file {} is not hidden",
                rel.display()
            );
        }
    }
    let docs = out.join("documents");
    for rel in files(out) {
        let n = name(&rel);
        if n.starts_with('.') || n == "journal.jsonl" {
            continue;
        }
        let path = out.join(&rel);
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        // PDFs mailroom wrote (a quarantined input file is a copy of whatever came in)
        let ours = match top.as_ref() {
            "documents" | "evidence" => true,
            "quarantine" => path.with_extension("json").is_file(),
            _ => false,
        };
        if n.ends_with(".pdf") && ours {
            check_pdf(&path, context);
        }
        if n.ends_with(".json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{context}: {} is partial: {e}", rel.display()));
            if top == "documents" {
                if let Some(pdf) = v["pdf"]["file"].as_str() {
                    let h = sha256_file(&docs.join(pdf)).unwrap_or_else(|e| {
                        panic!(
                            "{context}: {} names {pdf}, which is missing: {e}",
                            rel.display()
                        )
                    });
                    assert_eq!(
                        h,
                        v["pdf"]["sha256"].as_str().unwrap(),
                        "{context}: {pdf} is not the PDF {} describes",
                        rel.display()
                    );
                }
            }
        }
        if top == "delivered" && !n.ends_with(".xml") {
            let packaged = docs.join(&n);
            assert!(
                packaged.is_file(),
                "{context}: {} in the target, but no such packaged file",
                rel.display()
            );
            assert_eq!(
                sha256_file(&path).unwrap(),
                sha256_file(&packaged).unwrap(),
                "{context}: {} in the target is not the packaged file",
                rel.display()
            );
        }
    }
}

/// The enaio server never holds a document twice, and holds only complete PDFs of ours.
fn check_server(server: &DmsServer, out: &Path, context: &str) -> BTreeMap<String, usize> {
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for o in server.objects() {
        let mid = o["fields"]["mailroomId"].as_str().unwrap().to_string();
        let doc = o["fields"]["Dokument"].as_str().unwrap().to_string();
        let pdf = out.join("documents").join(format!("{doc}.pdf"));
        assert!(
            mid.ends_with(&doc),
            "{context}: object {} has mailroom id {mid} for {doc}",
            o["id"]
        );
        assert_eq!(
            o["sha256"].as_str().unwrap(),
            sha256_file(&pdf).unwrap(),
            "{context}: object {} is not the PDF of {doc}",
            o["id"]
        );
        *per_id.entry(mid).or_default() += 1;
    }
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{context}: on the server twice: {twice:?}"
    );
    per_id
}

/// The checks on the completed output folder.
fn check_final(out: &Path, r: &util::RunResult, context: &str) {
    let reference = reference();
    assert_eq!(r.code, 0, "{context}: {}\n{}", r.stdout, r.stderr);
    let report = read_json(&out.join("report.json"));
    let c = &report["counts"];
    let n = |k: &str| c[k].as_u64().unwrap() as usize;
    assert_eq!(
        n("pages_in"),
        reference.batch.truth.pages.len(),
        "{context}: pages in"
    );
    assert_eq!(
        n("pages_in"),
        n("pages_delivered") + n("pages_evidence") + n("pages_quarantined"),
        "{context}: {c}"
    );
    // the documents of an uninterrupted run, with the same pages
    let docs = documents_with_pdf(out);
    assert_eq!(docs, reference.documents, "{context}");
    let delivery = &report["delivery"];
    assert_eq!(
        delivery["delivered"],
        docs.len() as u64,
        "{context}: {delivery}"
    );
    assert_eq!(delivery["pending"], 0, "{context}: {delivery}");
    // one receipt per document in the journal, after the one packaging that finished
    let entries = journal(out);
    let mut receipts: BTreeMap<String, usize> = BTreeMap::new();
    for e in &entries {
        if e["event"] == "delivered" {
            *receipts
                .entry(e["document"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    assert_eq!(
        receipts.keys().cloned().collect::<Vec<_>>(),
        docs.keys().cloned().collect::<Vec<_>>(),
        "{context}"
    );
    assert!(
        receipts.values().all(|n| *n == 1),
        "{context}: {receipts:?}"
    );
    let packaged = entries.iter().filter(|e| e["event"] == "packaged").count();
    assert_eq!(packaged, 1, "{context}: packaging finished once");
    // every PDF complete, and as many pages as its JSON says
    for (id, pages) in &docs {
        let pdf = out.join("documents").join(format!("{id}.pdf"));
        check_pdf(&pdf, context);
        assert_eq!(util::pdf_pages(&pdf) as usize, *pages, "{context}: {id}");
        let record = read_json(&out.join("documents").join(format!("{id}.json")));
        assert_eq!(
            record["pages"].as_array().unwrap().len(),
            *pages,
            "{context}: {id}"
        );
    }
    check_nothing_partial(out, context);
    // no temporary file left anywhere: a resumed run cleans up after the killed ones
    let temps: Vec<_> = files(out)
        .into_iter()
        .filter(|p| name(p).contains(".tmp"))
        .collect();
    assert!(
        temps.is_empty(),
        "{context}: temporary files left: {temps:?}"
    );
    // nor the work folder of the encoded pages, a killed run's included
    assert!(
        !out.join(".work").exists(),
        "{context}: the work folder is left"
    );
    let v = util::mailroom(&["verify".as_ref(), out.as_os_str()]);
    assert_eq!(v.code, 0, "{context}: verify: {}\n{}", v.stdout, v.stderr);
}

fn describe(kills: &[Kill]) -> String {
    let mut s = String::new();
    for (i, k) in kills.iter().enumerate() {
        let _ = writeln!(
            s,
            "  kill {:>2}: aim {:?} -> hit {:?}, {} unknown outcomes after it",
            i + 1,
            k.aim,
            k.hit,
            k.unknown
        );
    }
    s
}

fn hits(kills: &[Kill], phase: Phase) -> usize {
    kills.iter().filter(|k| k.hit == phase).count()
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// Kills while reading (OCR) and writing: each seeded.
fn packaging_aims(rng: &mut Rng, reading: usize, writing: usize) -> Vec<Aim> {
    let mut aims = Vec::new();
    for i in 0..reading.max(writing) {
        if i < reading {
            // 5-60 % into a whole run: inside reading, which takes most of it
            aims.push(Aim::Reading {
                permille: 50 + rng.below(550),
            });
        }
        if i < writing {
            aims.push(Aim::Writing {
                entries: 1 + rng.below(4) as usize,
                delay_us: rng.below(3000),
            });
        }
    }
    aims
}

#[test]
fn killed_while_reading_writing_and_delivering_to_a_folder_then_resumed_delivers_each_document_once(
) {
    let _one = heavy();
    let reference = reference();
    let seed = 0x6372_6173_6801_u64;
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.toml");
    std::fs::write(&profile, &reference.profile_text).unwrap();
    let out = dir.path().join("out");
    let job = Job::new(reference.batch.path(), &out, &profile);

    let mut aims = packaging_aims(&mut rng, 5, 5);
    // A document takes a few ms to at most some 30 ms (a link and three fsyncs, slower on
    // a loaded machine): the kills land in the first documents sent, or after the run on
    // a fast, quiet machine, where five documents are filed in a few ms. Delivery kills
    // are required in the enaio test, whose server is slowed down.
    for _ in 0..5 {
        aims.push(Aim::Delivery {
            sending: 1,
            delay_ms: rng.below(4),
        });
    }
    let mut kills = Vec::new();
    for aim in aims {
        let k = kill_once(&job, aim, reference.run_ms);
        let context = format!("seed {seed:#x}, after kill {} ({k:?})", kills.len() + 1);
        kills.push(k);
        check_nothing_partial(&out, &context);
    }
    let plan = format!(
        "seed {seed:#x}, whole run {} ms:\n{}",
        reference.run_ms,
        describe(&kills)
    );
    eprintln!("folder target: {plan}");
    let r = job.run();
    check_final(&out, &r, &plan);
    // counted at the target: each document's PDF and JSON once in delivered/, nothing else
    let mut want: Vec<PathBuf> = reference
        .documents
        .keys()
        .flat_map(|id| [format!("{id}.json"), format!("{id}.pdf")])
        .map(PathBuf::from)
        .collect();
    want.sort();
    assert_eq!(files(&out.join("delivered")), want, "{plan}");
    for (id, pages) in &reference.documents {
        let pdf = out.join("delivered").join(format!("{id}.pdf"));
        check_pdf(&pdf, &plan);
        assert_eq!(util::pdf_pages(&pdf) as usize, *pages, "{plan}");
    }
    for phase in [Phase::Reading, Phase::Writing] {
        assert!(hits(&kills, phase) >= 3, "{phase:?} hit too rarely: {plan}");
    }
}

/// The profile of the crash tests with an enaio target on `server`.
fn enaio_profile(dir: &Path, server: &DmsServer, delivery: &str) -> PathBuf {
    let text = format!(
        r#"{base}
[delivery]
target = "enaio"
{delivery}

[delivery.enaio]
url = "{url}/"
api = "dms"
id_field = "mailroomId"
default = {{ object_type = "Posteingang", parent = "POST" }}
parent_search = {{ object_type = "Ordner", field = "Kennung" }}
fields = {{ Dokument = "document_id", Seiten = "pages", PdfHash = "pdf_sha256" }}
"#,
        base = reference().profile_text,
        url = server.url
    );
    let p = dir.join("profile.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Each document of the run exactly once on the server, with its PDF.
fn check_on_server(server: &DmsServer, out: &Path, context: &str) {
    let per_id = check_server(server, out, context);
    let mut want = Vec::new();
    for id in reference().documents.keys() {
        let record = read_json(&out.join("documents").join(format!("{id}.json")));
        want.push(record["mailroom_id"].as_str().unwrap().to_string());
    }
    want.sort();
    assert_eq!(
        per_id.keys().cloned().collect::<Vec<_>>(),
        want,
        "{context}: the server holds each document of the run once, and nothing else"
    );
}

#[test]
fn killed_while_reading_writing_and_delivering_to_enaio_then_resumed_files_each_document_once() {
    let _one = heavy();
    let reference = reference();
    let seed = 0x6372_6173_6802_u64;
    let mut rng = Rng(seed);
    // every request waits 150 ms first, so that a delivery lasts long enough to be cut
    let server = DmsServer::start(&["--faults", "all=slow:150"]);
    let dir = tempfile::tempdir().unwrap();
    let profile = enaio_profile(
        dir.path(),
        &server,
        "attempts = 4\nbackoff_ms = 50\nbackoff_max_ms = 400\ntimeout_s = 20",
    );
    let out = dir.path().join("out");
    let job = Job::new(reference.batch.path(), &out, &profile);

    let mut aims = packaging_aims(&mut rng, 2, 2);
    // a request takes at least 150 ms: the check, then per document the lookup (after
    // an unknown outcome) and the insert. Kills from the start of delivery land in the
    // check or a lookup, kills after the first `sending` in an insert or the next one.
    for _ in 0..7 {
        aims.push(match rng.below(3) {
            0 => Aim::Delivery {
                sending: 0,
                delay_ms: rng.below(450),
            },
            _ => Aim::Delivery {
                sending: 1,
                delay_ms: rng.below(300),
            },
        });
    }
    let mut kills = Vec::new();
    for aim in aims {
        let k = kill_once(&job, aim, reference.run_ms);
        let context = format!("seed {seed:#x}, after kill {} ({k:?})", kills.len() + 1);
        kills.push(k);
        check_nothing_partial(&out, &context);
        check_server(&server, &out, &context);
    }
    let plan = format!(
        "seed {seed:#x}, whole run {} ms:\n{}",
        reference.run_ms,
        describe(&kills)
    );
    eprintln!("enaio target: {plan}");
    let r = job.run();
    check_final(&out, &r, &format!("{plan}\n{}", server.log()));
    check_on_server(&server, &out, &plan);
    assert!(
        hits(&kills, Phase::Delivery) >= 4,
        "delivery hit too rarely: {plan}"
    );
    assert!(
        hits(&kills, Phase::Reading) + hits(&kills, Phase::Writing) >= 3,
        "packaging hit too rarely: {plan}"
    );
    assert!(
        kills.iter().any(|k| k.unknown > 0),
        "no kill left a document sent without an answer: {plan}"
    );
}

/// The documents of a finished packaging in delivery order, with their mailroom ids.
fn mailroom_ids(out: &Path) -> Vec<(String, String)> {
    reference()
        .documents
        .keys()
        .map(|id| {
            let record = read_json(&out.join("documents").join(format!("{id}.json")));
            (
                id.clone(),
                record["mailroom_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn dms_faults_end_to_end_retry_what_is_transient_quarantine_what_is_refused_and_say_what_is_pending(
) {
    let _one = heavy();
    let reference = reference();
    assert!(reference.documents.len() >= 5, "{:?}", reference.documents);
    // Every request waits 100 ms (a slow server). In delivery order:
    // 1st document: 500, then 503 with Retry-After: 1, then a connection broken before
    //   anything was stored, then a timeout after storing (1 s client timeout): its
    //   lookup finds the stored object;
    // 2nd: stored, then the connection breaks without an answer: found by the lookup;
    // 3rd: 422: refused for good, quarantined with the server's message;
    // 4th: stored, answered without the new id: found by the lookup;
    // 5th: 503 on every one of its five attempts: the target stays down, delivery stops.
    let faults = "all=slow:100,insert#1=500,insert#2=503:retry-after=1,insert#3=reset,\
                  insert#4=timeout:2500,insert#5=reset-after-store,insert#6=422,\
                  insert#7=ok-without-id,insert#8=503,insert#9=503,insert#10=503,\
                  insert#11=503,insert#12=503";
    let server = DmsServer::start(&["--faults", faults]);
    let dir = tempfile::tempdir().unwrap();
    let profile = enaio_profile(
        dir.path(),
        &server,
        "attempts = 5\nbackoff_ms = 50\nbackoff_max_ms = 200\ntimeout_s = 1",
    );
    let out = dir.path().join("out");
    let job = Job::new(reference.batch.path(), &out, &profile);
    let r = job.run();
    let context = format!("{}\n{}\n{}", r.stdout, r.stderr, server.log());
    assert_eq!(r.code, 5, "a document is pending: {context}");
    let ids = mailroom_ids(&out);
    let id = |n: usize| ids[n].0.as_str();
    let report = read_json(&out.join("report.json"));
    let d = &report["delivery"];
    let outcome = |n: usize| &d["outcomes"][id(n)];
    for n in [0, 1, 3] {
        assert_eq!(outcome(n)["status"], "delivered", "{}: {d}", id(n));
        assert_eq!(
            outcome(n)["found"],
            true,
            "{}: found by the lookup: {d}",
            id(n)
        );
    }
    assert_eq!(outcome(2)["status"], "rejected", "{d}");
    let reason = outcome(2)["reason"].as_str().unwrap();
    assert!(
        reason.contains("422") && reason.contains("injected fault: HTTP 422"),
        "the server's message: {reason}"
    );
    for n in 4..ids.len() {
        assert_eq!(outcome(n)["status"], "pending", "{}: {d}", id(n));
    }
    let pending = ids.len() - 4;
    assert_eq!(d["delivered"], 3, "{d}");
    assert_eq!(d["found_after_unknown"], 3, "{d}");
    assert_eq!(d["rejected"], 1, "{d}");
    assert_eq!(d["pending"], pending as u64, "{d}");
    // 4 for the first document, 1 each for the 2nd and 4th, 4 for the 5th
    assert_eq!(d["retries"], 10, "{d}");
    let stopped = d["stopped"].as_str().unwrap();
    assert!(
        stopped.contains(id(4)) && stopped.contains("503"),
        "why delivery stopped: {stopped}"
    );
    // the summary names the refused document with the server's words and what is pending
    assert!(
        r.stdout.contains(&format!("REJECTED     {}", id(2)))
            && r.stdout.contains("injected fault: HTTP 422"),
        "{context}"
    );
    assert!(
        r.stdout.contains(&format!(
            "PENDING      {pending:>5} documents not delivered"
        )),
        "{context}"
    );
    assert!(r.stdout.contains(stopped), "{context}");
    for n in 4..ids.len() {
        assert!(
            r.stdout.contains(id(n)),
            "{} is named pending: {context}",
            id(n)
        );
    }
    assert!(r.stdout.contains("run the same command again"), "{context}");
    // the refused document in quarantine, with the server's message
    let q = out.join("quarantine");
    let note = std::fs::read_to_string(q.join(format!("{}.reason.txt", id(2)))).unwrap();
    assert!(
        note.contains("stage: deliver") && note.contains("injected fault: HTTP 422"),
        "{note}"
    );
    assert_eq!(
        std::fs::read(q.join(format!("{}.pdf", id(2)))).unwrap(),
        std::fs::read(out.join("documents").join(format!("{}.pdf", id(2)))).unwrap()
    );
    // at the server: each delivered document once, nothing of the refused or pending ones
    let on_server = check_server(&server, &out, &context);
    let want: Vec<String> = [0, 1, 3].iter().map(|&n| ids[n].1.clone()).collect();
    let mut got: Vec<String> = on_server.keys().cloned().collect();
    got.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got, want_sorted, "{context}");
    assert_eq!(server.requests("insert"), 12, "{context}");

    // the server is down for everything, the check included: still pending, exit 5
    server.set_faults("all=500");
    let r = job.run();
    let context = format!("{}\n{}\n{}", r.stdout, r.stderr, server.log());
    assert_eq!(r.code, 5, "{context}");
    let d = read_json(&out.join("report.json"))["delivery"].clone();
    assert_eq!(d["pending"], pending as u64, "{d}");
    assert_eq!(d["delivered_earlier"], 3, "{d}");
    assert!(
        d["stopped"].as_str().unwrap().contains("is not available"),
        "{d}"
    );
    assert!(r.stdout.contains("is not available"), "{context}");
    assert_eq!(server.requests("insert"), 0, "nothing sent: {context}");

    // the server is back: the pending documents are delivered, the refused one stays in
    // quarantine (exit 3), nothing is at the server twice
    server.set_faults("");
    let r = job.run();
    let context = format!("{}\n{}\n{}", r.stdout, r.stderr, server.log());
    assert_eq!(r.code, 3, "{context}");
    let report = read_json(&out.join("report.json"));
    let d = &report["delivery"];
    assert_eq!(d["delivered"], (ids.len() - 1) as u64, "{d}");
    assert_eq!(d["pending"], 0, "{d}");
    assert_eq!(d["rejected"], 1, "{d}");
    let on_server = check_server(&server, &out, &context);
    assert_eq!(on_server.len(), ids.len() - 1, "{context}");
    assert!(!on_server.contains_key(&ids[2].1), "{context}");
    let c = &report["counts"];
    assert_eq!(
        c["pages_in"].as_u64().unwrap(),
        c["pages_delivered"].as_u64().unwrap()
            + c["pages_evidence"].as_u64().unwrap()
            + c["pages_quarantined"].as_u64().unwrap()
    );
    check_nothing_partial(&out, &context);
    let v = util::mailroom(&["verify".as_ref(), out.as_os_str()]);
    assert_eq!(v.code, 0, "verify: {}\n{}", v.stdout, v.stderr);
}

#[test]
fn a_second_run_on_a_folder_in_use_is_refused_and_a_killed_run_leaves_no_lock() {
    let _one = heavy();
    let reference = reference();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.toml");
    std::fs::write(&profile, &reference.profile_text).unwrap();
    let out = dir.path().join("out");
    let job = Job::new(reference.batch.path(), &out, &profile);
    let mut first = job.spawn();
    let deadline = Instant::now() + Duration::from_secs(300);
    while Counts::read(&out).started == 0 {
        assert!(first.try_wait().unwrap().is_none(), "the first run ended");
        assert!(Instant::now() < deadline, "no `started` line");
        std::thread::sleep(Duration::from_millis(5));
    }
    // the same command again while the first one reads the pages
    let second = job.run();
    assert_eq!(second.code, 2, "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stderr.contains("in use by another mailroom run"),
        "{}",
        second.stderr
    );
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run goes on, untouched"
    );
    assert_eq!(
        Counts::read(&out).started,
        1,
        "the second run wrote nothing"
    );
    // SIGKILL: the kernel drops the lock with the process
    let _ = first.kill();
    let _ = first.wait();
    let r = job.run();
    check_final(&out, &r, "after a refused second run and a kill");
}

//! Command-line definitions (clap). What the user typed; `main` turns it into a run.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit codes, documented in README.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every input page was delivered.
    Success = 0,
    /// The run could not be carried out (output not writable, OCR engine missing, ...).
    Fatal = 1,
    /// Bad arguments, bad profile, missing batch folder, output folder not empty.
    Usage = 2,
    /// The batch completed, but some inputs are in quarantine.
    Quarantined = 3,
    /// The page accounting does not add up (a bug: pages may have been lost).
    Accounting = 4,
    /// Packaging completed, but some documents are not delivered yet (the target is
    /// down or refused the credentials): run the same command again.
    Pending = 5,
    /// `mailroom verify` found a file changed, missing, or the hash chain broken.
    Altered = 6,
    /// `mailroom validate`: the lot is rejected.
    Rejected = 7,
}

#[derive(Debug, Parser)]
#[command(
    name = "mailroom",
    version,
    about = "Turns batches of scanned mail into searchable PDFs with JSON metadata",
    long_about = "mailroom reads a batch of scanned pages (PNG, JPEG, TIFF incl. multi-page and \
CCITT G4), cleans them, recognises the text with Tesseract on all cores, reads barcodes and Kodak \
patch codes, splits the page stream into documents at separator and cover sheets, routes each \
document to its organisation unit, writes one searchable PDF/A and one JSON file (with its \
transfer note) per document, and delivers each exactly once to a folder, enaio or Mayan EDMS, \
resuming where a run stopped. Unreadable files go to quarantine with a reason; the run report \
proves that every page was delivered, kept as evidence or quarantined.",
    after_help = "Examples:\n  mailroom run samples/demo --out /tmp/out\n  mailroom run /scans/2026-11-28 --out /archive/2026-11-28 --jobs 8 --profile profiles/default.toml\n  mailroom run batch/ --out out/ --json | jq .counts\n  mailroom run samples/stream --out /tmp/stream --profile profiles/stream.toml\n  mailroom route --dry-run /tmp/out --profile profiles/braunschweig.toml\n  mailroom coversheet --unit 61 --case 61.2-0815/2026 --pages 3 --out deckblatt.pdf\n  mailroom verify /archive/2026-11-28\n  mailroom profile > my-profile.toml\n\nExit codes: 0 all delivered, 1 fatal error, 2 usage error, 3 completed with quarantined files or refused documents, 4 page accounting mismatch, 5 documents pending delivery (run again), 6 verify found alterations."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Process a batch folder: OCR every page, write PDF + JSON per document, and a report.
    #[command(
        after_help = "Examples:\n  mailroom run samples/demo --out /tmp/out\n  mailroom run scans/ --out out/ --jobs 2 --json > report.json\n  mailroom run scans/ --out out/ --log-json /var/log/mailroom/2026-11-28.jsonl\n\nOutput: <OUT>/documents/<id>.pdf and <id>.json, <OUT>/evidence/, <OUT>/quarantine/ (with .reason.txt), <OUT>/report.json, <OUT>/journal.jsonl, <OUT>/log.jsonl (one JSON event per line: files, pages, documents, quarantine, delivery attempts; no document text, no credentials), and the delivery target ([delivery] in the profile; default <OUT>/delivered/<unit>/).\nRunning the same command again on the same --out resumes: packaging if it was interrupted, then delivery of what is pending.\nExit codes: 0 all delivered, 1 fatal, 2 usage, 3 some files quarantined or documents refused by the target, 4 accounting mismatch, 5 documents pending delivery: run the same command again (it resumes; nothing is delivered twice)."
    )]
    Run(RunArgs),
    /// Print the built-in default profile (TOML), a starting point for your own.
    Profile,
    /// Write a printable A4 cover sheet (PDF) to put in front of a letter before scanning.
    #[command(
        after_help = "The sheet carries a QR code with the values, a Kodak Patch 2 and the values in large type. \
mailroom recognises it in a batch, starts a new document there, takes the unit and case reference \
from it and checks the scanned page count against --pages (see [separation] in the profile).\n\n\
Examples:\n  mailroom coversheet --unit 61 --out deckblatt-61.pdf\n  mailroom coversheet --unit 50.4 --name \"Abteilung 50.4 Gesundheitsamt\" --case \"50.4-12/2026\" --pages 3 --out d.pdf"
    )]
    Coversheet(CoversheetArgs),
    /// Dry-run routing rules on a finished run, or check a rule file, before they go live.
    #[command(
        after_help = "Examples:\n  mailroom route --check profiles/braunschweig.toml\n  mailroom route --dry-run out/2026-11-28 --profile profiles/braunschweig.toml\n  mailroom route --dry-run out/2026-11-28 --profile new.toml --compare profiles/braunschweig.toml\n  mailroom route --dry-run scans/ --profile new.toml --json   (a batch folder is run first, into a temporary folder)\n\n--dry-run on an output folder reads the OCR text from its document JSON: no OCR, nothing delivered.\nExit codes: 0 done (--check: no errors), 1 fatal, 2 usage error or --check found errors."
    )]
    Route(RouteArgs),
    /// Check an output folder: every file's hash and the report's hash chain.
    #[command(
        after_help = "Checks report.json against the hash the journal recorded, recomputes the SHA-256 of every PDF, evidence PDF, JSON record and quarantined copy the report lists, \
the hash chain over the records, and compares the chain's head with the journal. Names every file \
that was changed, removed or added to the chain.\n\nExamples:\n  mailroom verify /archive/2026-11-28\n  mailroom verify out/ --json\n\n\
Exit codes: 0 intact, 6 something was altered, 1 the folder cannot be read, 2 usage."
    )]
    Verify(VerifyArgs),
    /// Acceptance check of a contractor's delivery (BagIt bag + inventory): accept or reject.
    #[command(
        after_help = "Checks on the whole lot: the bag (bagit.txt, bag-info.txt Payload-Oxum, every SHA-256 of the \
manifest and tag manifest), the inventory against the payload (missing, unexpected, duplicate files, page \
counts from the files themselves) and every page's resolution. Checks on an ISO 2859-1 sample of pages \
(single sampling, normal inspection; the level and AQL you give): skew, orientation, blank pages, black \
borders or cut-off content, OCR legibility. Any finding of a whole-lot check rejects the lot; sampled \
pages are counted against the plan's acceptance number.\n\n\
Examples:\n  mailroom validate lot-17/bag --inventory lot-17/inventory.csv\n  mailroom validate bag/ --inventory inv.csv --aql 0.65 --seed 4711 --html abnahme.html\n  mailroom validate bag/ --json > validation.json\n\n\
Exit codes: 0 accepted, 7 rejected, 1 fatal (the folder cannot be read, OCR missing), 2 usage."
    )]
    Validate(ValidateArgs),
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The delivery: a BagIt bag (bagit.txt, manifest-sha256.txt, data/)
    pub delivery: PathBuf,
    /// The inventory (CSV: akte;pfad;seiten;... with ; , or tab)
    #[arg(long, short)]
    pub inventory: Option<PathBuf>,
    /// Profile with the quality thresholds ([validate]); default: the built-in profile
    #[arg(long, short)]
    pub profile: Option<PathBuf>,
    /// Acceptance quality limit in percent nonconforming (ISO 2859-1 series, e.g. 0.65, 1.0, 2.5)
    #[arg(long, default_value = "1.0")]
    pub aql: f64,
    /// Inspection level: I, II, III (general) or S-1..S-4 (special)
    #[arg(long, default_value = "II")]
    pub level: String,
    /// Seed of the sample draw [default: derived from the bag's manifest]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Inspect every page, not a sample (the plan's acceptance number still applies)
    #[arg(long)]
    pub all_pages: bool,
    /// Worker threads; default: the number of CPU cores
    #[arg(long, short, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub jobs: Option<u16>,
    /// Print the report as JSON on stdout instead of the summary
    #[arg(long)]
    pub json: bool,
    /// Also write the self-contained HTML report here
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["dry_run", "check"])))]
pub struct RouteArgs {
    /// Route the documents of an output folder (or of a batch folder, run first)
    #[arg(long, value_name = "DIR")]
    pub dry_run: Option<PathBuf>,
    /// Check a profile's routing rules: syntax, regexes, units, shadowed rules
    #[arg(long, value_name = "PROFILE")]
    pub check: Option<PathBuf>,
    /// The rules to dry-run (default: the built-in profile, which routes nothing)
    #[arg(long, short)]
    pub profile: Option<PathBuf>,
    /// A second profile: list the documents whose routing differs
    #[arg(long, requires = "dry_run")]
    pub compare: Option<PathBuf>,
    /// Print JSON instead of the table
    #[arg(long)]
    pub json: bool,
    /// Worker threads when a batch folder has to be run first
    #[arg(long, short, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub jobs: Option<u16>,
}

#[derive(Debug, clap::Args)]
pub struct CoversheetArgs {
    /// Organisation unit code, e.g. 61 or 50.4
    #[arg(long, short)]
    pub unit: String,
    /// Full name of the unit, printed under the code
    #[arg(long)]
    pub name: Option<String>,
    /// Case reference (Aktenzeichen)
    #[arg(long, short)]
    pub case: Option<String>,
    /// Expected number of pages with content behind the sheet (the sheet not counted)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub pages: Option<u32>,
    /// Where to write the PDF; `-` for stdout
    #[arg(long, short)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Folder with the scanned pages (searched recursively; files sorted by path)
    pub batch: PathBuf,
    /// Output folder; created if missing, must be empty unless --force is given
    #[arg(long, short)]
    pub out: PathBuf,
    /// Profile (TOML); default: the built-in profile (see `mailroom profile`)
    #[arg(long, short)]
    pub profile: Option<PathBuf>,
    /// Worker threads; default: the number of CPU cores
    #[arg(long, short, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub jobs: Option<u16>,
    /// Print the run report as JSON on stdout instead of the human summary
    #[arg(long)]
    pub json: bool,
    /// Replace a previous run's output in --out (refused once documents were delivered)
    #[arg(long)]
    pub force: bool,
    /// Who scans the batch, for the transfer note [default: the login name]
    #[arg(long, env = "MAILROOM_OPERATOR")]
    pub operator: Option<String>,
    /// Where it is scanned (scan station) [default: the host name]
    #[arg(long, env = "MAILROOM_STATION")]
    pub station: Option<String>,
    /// With which scanner, for the transfer note
    #[arg(long, env = "MAILROOM_SCANNER")]
    pub scanner: Option<String>,
    /// Append the run's structured log (JSON lines) to FILE [default: <OUT>/log.jsonl]
    #[arg(long, value_name = "FILE")]
    pub log_json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The output folder of a run
    pub out: PathBuf,
    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,
}

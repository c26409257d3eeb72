//! The `mailroom` binary: parse, build the run, dispatch, map the result to an exit code.

use std::io::Write;
use std::process::ExitCode as ProcessExit;

use clap::Parser;
use mailroom::cli::{
    Cli, Command, CoversheetArgs, ExitCode, RouteArgs, RunArgs, ValidateArgs, VerifyArgs,
};
use mailroom::config::{Profile, DEFAULT_PROFILE_TOML};
use mailroom::fsutil::sha256_hex;
use mailroom::pipeline::{self, AccountingError, RunRequest};
use mailroom::report::TerminalObserver;
use mailroom::run::{OutputConflict, RunOptions};

fn main() -> ProcessExit {
    ensure_single_threaded_tesseract();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => run(args),
        Command::Profile => print_out(DEFAULT_PROFILE_TOML),
        Command::Coversheet(args) => coversheet(args),
        Command::Route(args) => route(args),
        Command::Verify(args) => verify(args),
        Command::Validate(args) => validate(args),
    };
    ProcessExit::from(code as u8)
}

/// Tesseract's OpenMP threads compete with our own workers and make a batch 2-3x slower.
/// Only `OMP_THREAD_LIMIT` set before the process starts turns them off, so the binary
/// re-executes itself once with it set. An explicit value from the user is kept.
fn ensure_single_threaded_tesseract() {
    if std::env::var_os("OMP_THREAD_LIMIT").is_some() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("OMP_THREAD_LIMIT", "1")
        .exec();
    // exec returns only on failure; go on with OpenMP threads (slower, still correct).
    eprintln!(
        "mailroom: warning: could not restart with OMP_THREAD_LIMIT=1 ({err}); OCR may be slower"
    );
}

fn run(args: RunArgs) -> ExitCode {
    let (profile, profile_text) = match &args.profile {
        Some(p) => match std::fs::read(p)
            .map_err(anyhow::Error::from)
            .and_then(|text| Ok((Profile::load(p)?, text)))
        {
            Ok(pt) => pt,
            Err(e) => {
                return fail(
                    ExitCode::Usage,
                    &e.context(format!("profile {}", p.display())),
                )
            }
        },
        None => (Profile::default(), DEFAULT_PROFILE_TOML.as_bytes().to_vec()),
    };
    if !args.batch.is_dir() {
        return fail(
            ExitCode::Usage,
            &anyhow::anyhow!(
                "batch folder {} does not exist or is not a folder",
                args.batch.display()
            ),
        );
    }
    let log = mailroom::log::RunLog::new(
        &args
            .log_json
            .clone()
            .unwrap_or_else(|| args.out.join(mailroom::log::LOG_FILE)),
    );
    log.scrub(profile.delivery.secrets());
    let opts = RunOptions {
        batch: args.batch,
        out: args.out,
        profile,
        profile_sha256: sha256_hex(&profile_text),
        jobs: args.jobs.map(usize::from).unwrap_or_else(default_jobs),
        force: args.force,
        operator: args.operator.unwrap_or_else(login_name),
        station: args.station.unwrap_or_else(host_name),
        scanner: args.scanner.unwrap_or_else(|| "not stated".into()),
    };
    let clock = std::time::Instant::now();
    let terminal = TerminalObserver::new();
    let observer = mailroom::log::Logging {
        inner: &terminal,
        log: &log,
    };
    let result = mailroom::run::run(&opts, &observer);
    terminal.finish();
    let code = match &result {
        Ok(report) => {
            let text = if args.json {
                serde_json::to_string_pretty(report).unwrap_or_default()
            } else {
                report.summary()
            };
            let printed = print_out(&text);
            if printed != ExitCode::Success {
                printed
            } else if mailroom::run::pending(report) > 0 {
                ExitCode::Pending
            } else if report.counts.files_quarantined > 0 || mailroom::run::rejected(report) > 0 {
                ExitCode::Quarantined
            } else {
                ExitCode::Success
            }
        }
        Err(e) if e.is::<AccountingError>() => fail(ExitCode::Accounting, e),
        Err(e) if e.is::<OutputConflict>() => fail(ExitCode::Usage, e),
        Err(e) => fail(ExitCode::Fatal, e),
    };
    // A run refused before it started has no log; one that started ends it.
    if log.started() {
        let report = result.as_ref().ok();
        log.write(&mailroom::log::Event::RunFinished {
            exit_code: code as i32,
            counts: report.map(|r| r.counts),
            delivery: report
                .and_then(|r| r.delivery.as_ref())
                .map(mailroom::log::DeliveryCounts::of),
            error: result.as_ref().err().map(|e| format!("{e:#}")),
            elapsed_seconds: clock.elapsed().as_secs_f64(),
        });
    }
    if let Some(e) = log.error() {
        eprintln!("mailroom: warning: the run's log is incomplete: {e}");
    }
    code
}

fn validate(args: ValidateArgs) -> ExitCode {
    use mailroom::validate::run::{ValidateOptions, VALIDATION_SCHEMA_VERSION};
    let _ = VALIDATION_SCHEMA_VERSION;
    let profile = match &args.profile {
        Some(p) => match Profile::load(p) {
            Ok(p) => p,
            Err(e) => return fail(ExitCode::Usage, &e),
        },
        None => Profile::default(),
    };
    let level = match args.level.parse() {
        Ok(l) => l,
        Err(e) => return fail(ExitCode::Usage, &anyhow::anyhow!("--level: {e}")),
    };
    if !args.delivery.is_dir() {
        return fail(
            ExitCode::Usage,
            &anyhow::anyhow!("delivery folder {} does not exist", args.delivery.display()),
        );
    }
    if let Err(e) = mailroom::validate::sampling::single_normal(1000, level, args.aql) {
        return fail(ExitCode::Usage, &e);
    }
    let opts = ValidateOptions {
        delivery: args.delivery,
        inventory: args.inventory,
        profile,
        aql: args.aql,
        level,
        seed: args.seed,
        all_pages: args.all_pages,
        jobs: args.jobs.map(usize::from).unwrap_or_else(default_jobs),
    };
    let bar = mailroom::report::PhaseBar::new();
    let result = mailroom::validate::run::validate(&opts, &bar);
    bar.finish();
    let report = match result {
        Ok(r) => r,
        Err(e) => return fail(ExitCode::Fatal, &e),
    };
    if let Some(path) = &args.html {
        let html = mailroom::validate::html::render(&report);
        if let Err(e) = mailroom::fsutil::write_atomic(path, html.as_bytes()) {
            return fail(ExitCode::Fatal, &e);
        }
    }
    let printed = print_out(&if args.json {
        serde_json::to_string_pretty(&report).unwrap_or_default()
    } else {
        mailroom::validate::summary(&report)
    });
    if printed != ExitCode::Success {
        printed
    } else if report.decision == mailroom::validate::Decision::Accept {
        ExitCode::Success
    } else {
        ExitCode::Rejected
    }
}

/// The login name for the transfer note.
fn login_name() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// The host name for the transfer note.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn verify(args: VerifyArgs) -> ExitCode {
    if !args.out.is_dir() {
        return fail(
            ExitCode::Usage,
            &anyhow::anyhow!("{} is not a folder", args.out.display()),
        );
    }
    match mailroom::verify::verify(&args.out) {
        Ok(v) => {
            let printed = print_out(&if args.json {
                serde_json::to_string_pretty(&v).unwrap_or_default()
            } else {
                v.summary()
            });
            if printed != ExitCode::Success {
                printed
            } else if v.intact() {
                ExitCode::Success
            } else {
                ExitCode::Altered
            }
        }
        Err(e) => fail(ExitCode::Fatal, &e),
    }
}

fn route(args: RouteArgs) -> ExitCode {
    use mailroom::routing::{check, dryrun, rules::RuleSet};
    if let Some(path) = &args.check {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                return fail(
                    ExitCode::Usage,
                    &anyhow::anyhow!("cannot read profile {}: {e}", path.display()),
                )
            }
        };
        // syntax and unknown keys, with line and column
        let profile: Profile = match Profile::parse_unchecked(&text) {
            Ok(p) => p,
            Err(e) => return fail(ExitCode::Usage, &anyhow::anyhow!("{}: {e}", path.display())),
        };
        let findings = check::check(&profile.routing);
        let errors = findings
            .iter()
            .filter(|f| f.severity == check::Severity::Error)
            .count();
        let text = if args.json {
            serde_json::to_string_pretty(&findings).unwrap_or_default()
        } else {
            let mut t = format!(
                "{}: {} rules, {} units: {errors} errors, {} warnings",
                path.display(),
                profile.routing.rules.len(),
                profile.routing.units.len(),
                findings.len() - errors
            );
            for f in &findings {
                let level = if f.severity == check::Severity::Error {
                    "error"
                } else {
                    "warning"
                };
                t.push_str(&format!("\n  {level}: {}", f.message));
            }
            t
        };
        let printed = print_out(&text);
        return if errors > 0 { ExitCode::Usage } else { printed };
    }
    let Some(dir) = args.dry_run else {
        return fail(
            ExitCode::Usage,
            &anyhow::anyhow!("give --dry-run DIR or --check PROFILE"),
        );
    };
    let load = |p: &Option<std::path::PathBuf>| -> anyhow::Result<(String, Profile)> {
        match p {
            Some(p) => Ok((p.display().to_string(), Profile::load(p)?)),
            None => Ok(("built-in default".into(), Profile::default())),
        }
    };
    let (name, mut profile) = match load(&args.profile) {
        Ok(p) => p,
        Err(e) => return fail(ExitCode::Usage, &e),
    };
    let compare = match args
        .compare
        .as_ref()
        .map(|p| load(&Some(p.clone())))
        .transpose()
    {
        Ok(c) => c,
        Err(e) => return fail(ExitCode::Usage, &e),
    };
    let sets = (|| -> anyhow::Result<_> {
        let set = RuleSet::new(&profile.routing)?;
        let other = compare
            .as_ref()
            .map(|(n, p)| Ok::<_, anyhow::Error>((n.clone(), RuleSet::new(&p.routing)?)))
            .transpose()?;
        Ok((set, other))
    })();
    let (set, other) = match sets {
        Ok(s) => s,
        Err(e) => return fail(ExitCode::Usage, &e),
    };
    // a batch folder is run first, into a temporary folder, without routing side effects
    let dir_given = dir.clone();
    let tmp;
    let out = if dir.join(pipeline::REPORT_FILE).is_file() {
        dir
    } else if dir.is_dir() {
        tmp = match tempfile_dir() {
            Ok(t) => t,
            Err(e) => return fail(ExitCode::Fatal, &e),
        };
        profile.routing.enabled = false;
        let req = RunRequest {
            batch: dir,
            out: tmp.clone(),
            profile,
            jobs: args.jobs.map(usize::from).unwrap_or_else(default_jobs),
            capture: mailroom::package::transfer::Capture {
                operator: login_name(),
                station: host_name(),
                scanner: "not stated".into(),
                time: mailroom::clock::Utc::now().rfc3339(),
                software: format!("mailroom {}", mailroom::VERSION),
                profile: "dry-run".into(),
                profile_sha256: String::new(),
                run_id: "dry-run".into(),
            },
        };
        let observer = TerminalObserver::new();
        let result = pipeline::run(&req, &observer);
        observer.finish();
        if let Err(e) = result {
            return fail(ExitCode::Fatal, &e);
        }
        tmp.clone()
    } else {
        return fail(
            ExitCode::Usage,
            &anyhow::anyhow!(
                "{} is neither an output folder nor a batch folder",
                dir.display()
            ),
        );
    };
    let result = dryrun::dry_run(
        &out,
        (&name, &set),
        other.as_ref().map(|(n, s)| (n.as_str(), s)),
    );
    if out != dir_given {
        // the temporary run of a batch folder is not kept
        let _ = std::fs::remove_dir_all(&out);
    }
    match result {
        Ok(run) => print_out(&if args.json {
            serde_json::to_string_pretty(&run).unwrap_or_default()
        } else {
            run.table()
        }),
        Err(e) => fail(ExitCode::Fatal, &e),
    }
}

/// A fresh folder under the system's temporary directory.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "mailroom-dry-run-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn coversheet(args: CoversheetArgs) -> ExitCode {
    let sheet = mailroom::coversheet::CoverSheet {
        unit: args.unit,
        unit_name: args.name,
        case: args.case,
        pages: args.pages,
        other: Default::default(),
    };
    if let Err(e) = sheet.validate() {
        return fail(ExitCode::Usage, &e);
    }
    let written = mailroom::coversheet::pdf(&sheet).and_then(|bytes| {
        if args.out.as_os_str() == "-" {
            std::io::stdout().lock().write_all(&bytes)?;
            Ok(())
        } else {
            mailroom::fsutil::write_atomic(&args.out, &bytes)
        }
    });
    match written {
        Ok(()) => ExitCode::Success,
        Err(e) => fail(ExitCode::Fatal, &e),
    }
}

/// Prints to stdout; a closed pipe (`| head`) ends quietly.
fn print_out(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Ok(()) => ExitCode::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Success,
        Err(e) => fail(
            ExitCode::Fatal,
            &anyhow::anyhow!("cannot write to stdout: {e}"),
        ),
    }
}

fn fail(code: ExitCode, e: &anyhow::Error) -> ExitCode {
    eprintln!("mailroom: error: {e:#}");
    code
}

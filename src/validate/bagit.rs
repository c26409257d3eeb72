//! The bag checks of `mailroom validate`: is the delivery a complete and valid BagIt bag
//! (RFC 8493), and is every payload byte the one the contractor listed?
//!
//! Everything wrong with the bag is a [`Finding`] naming the file (relative to the bag,
//! `/` separators); only a folder that cannot be read at all is an error. The order of
//! the checks lives in [`check_bag`]:
//!
//! 1. `bagit.txt`: exactly the two lines `BagIt-Version: M.N` and
//!    `Tag-File-Character-Encoding: UTF-8`, no byte-order mark.
//! 2. `bag-info.txt` (optional): `Label: value` lines, continuation lines starting with
//!    whitespace; its `Payload-Oxum` (`octets.files`) is compared with the payload as
//!    listed by the file system, before anything is read: a cheap pre-check that names
//!    a short or padded delivery at once. A mismatch is a finding; hashing goes on so
//!    that every missing, extra or altered file is named.
//! 3. `data/`: every entry is payload, hidden files too. Symlinks are never followed
//!    (a finding), nor are other non-regular files hashed.
//! 4. Payload manifests: `manifest-sha256.txt` is required, `manifest-sha512.txt` is
//!    verified when present, `md5` and `sha1` (and algorithms we do not know) are
//!    ignored. Lines `<hex> <path>` with one or more spaces or tabs between; `%0A`,
//!    `%0D` and `%25` in paths are decoded. A path outside `data/`, with `..`, `.` or
//!    empty components, or listed twice, is a finding.
//! 5. Every payload file is hashed once (SHA-256, and SHA-512 in the same read when its
//!    manifest is present), in parallel, largest files first, streamed in 1 MiB blocks.
//! 6. Manifests against payload: listed but absent (`MissingFile`), present but not
//!    listed (`ExtraFile`), different digest (`AlteredFile`).
//! 7. Tag manifests (`tagmanifest-sha256.txt`, `-sha512.txt`; optional): every line is
//!    verified; a listed tag file that is absent or differs is `AlteredTagFile`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256, Sha512};

use super::{Finding, FindingKind, PayloadFile};
use crate::fsutil::hex;

pub const BAGIT_TXT: &str = "bagit.txt";
pub const BAG_INFO_TXT: &str = "bag-info.txt";
pub const FETCH_TXT: &str = "fetch.txt";
pub const PAYLOAD_DIR: &str = "data";

/// Read size per file: large enough that the per-call cost vanishes next to hashing,
/// small enough that memory stays flat (one buffer per worker).
const READ_BLOCK: usize = 1 << 20;

/// The outcome of the bag checks.
#[derive(Debug, Clone)]
pub struct BagReport {
    /// Every payload file that could be hashed, sorted by `rel`. Symlinks, special
    /// files, names that are not UTF-8 and unreadable files are not here (each is a
    /// finding).
    pub files: Vec<PayloadFile>,
    /// BagInvalid, PayloadOxumMismatch, MissingFile, ExtraFile, AlteredFile,
    /// AlteredTagFile; sorted by kind, then file.
    pub findings: Vec<Finding>,
    /// `bag-info.txt` fields; a repeated label keeps its first value.
    pub info: BTreeMap<String, String>,
    /// Payload bytes read and hashed.
    pub bytes_hashed: u64,
    /// Wall time of the payload hashing.
    pub hash_seconds: f64,
}

/// The digest algorithms whose manifests are verified. md5 and sha1 manifests may be
/// present (older tools write them) and are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Algo {
    Sha256,
    Sha512,
}

impl Algo {
    fn label(self) -> &'static str {
        match self {
            Algo::Sha256 => "SHA-256",
            Algo::Sha512 => "SHA-512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Algo> {
        match name {
            "sha256" => Some(Algo::Sha256),
            "sha512" => Some(Algo::Sha512),
            _ => None,
        }
    }
}

/// One manifest, parsed: path (decoded, relative to the bag) -> lower-case digest and
/// the 1-based line it was on.
struct Manifest {
    algo: Algo,
    name: String,
    entries: BTreeMap<String, (String, usize)>,
}

/// A payload file as listed by the file system (before hashing).
struct Listed {
    rel: String,
    path: PathBuf,
    bytes: u64,
}

/// The payload as found: files to hash, and every name present in any form (a symlink
/// listed in the manifest is not also "missing").
#[derive(Default)]
struct Payload {
    files: Vec<Listed>,
    present: BTreeSet<String>,
    /// Regular files and their sizes, for the Payload-Oxum pre-check.
    octets: u64,
    streams: u64,
}

/// Digests of one file, read once.
struct Digests {
    bytes: u64,
    sha256: String,
    sha512: Option<String>,
}

/// Checks the bag at `bag`, hashing the payload on `jobs` threads. `progress` is called
/// from the workers with the number of payload bytes just read (an increment).
pub fn check_bag(bag: &Path, jobs: usize, progress: &(dyn Fn(u64) + Sync)) -> Result<BagReport> {
    let root_names = root_entries(bag)?;
    let mut findings = Vec::new();

    check_declaration(bag, &mut findings);
    if root_names.iter().any(|n| n == FETCH_TXT) {
        findings.push(Finding::file(
            FindingKind::BagInvalid,
            FETCH_TXT,
            "fetch.txt present: a delivery must hold every payload file itself",
        ));
    }
    let (info, oxum) = read_bag_info(bag, &mut findings);
    let payload = list_payload(bag, &mut findings);
    if let Some((octets, streams)) = oxum {
        if (octets, streams) != (payload.octets, payload.streams) {
            findings.push(Finding::file(
                FindingKind::PayloadOxumMismatch,
                BAG_INFO_TXT,
                format!(
                    "Payload-Oxum says {octets} bytes in {streams} files, data/ holds {} bytes in {} files",
                    payload.octets, payload.streams
                ),
            ));
        }
    }

    let manifests = read_manifests(bag, &root_names, "manifest-", &mut findings);
    let manifests: Vec<Manifest> = manifests
        .into_iter()
        .map(|m| check_payload_paths(m, &mut findings))
        .collect();
    if !manifests.iter().any(|m| m.algo == Algo::Sha256) {
        findings.push(Finding::file(
            FindingKind::BagInvalid,
            "manifest-sha256.txt",
            "missing: the SHA-256 payload manifest is required",
        ));
    }

    let want512 = manifests.iter().any(|m| m.algo == Algo::Sha512);
    let started = Instant::now();
    let (hashed, bytes_hashed) =
        hash_payload(&payload.files, want512, jobs, progress, &mut findings)?;
    let hash_seconds = started.elapsed().as_secs_f64();

    compare(&manifests, &payload, &hashed, &mut findings);

    for tag_manifest in read_manifests(bag, &root_names, "tagmanifest-", &mut findings) {
        verify_tag_manifest(bag, &tag_manifest, &mut findings);
    }

    findings.sort_by(|a, b| (a.kind, &a.file, &a.detail).cmp(&(b.kind, &b.file, &b.detail)));
    let files = hashed
        .into_iter()
        .map(|(rel, d)| PayloadFile {
            rel,
            bytes: d.bytes,
            sha256: d.sha256,
        })
        .collect();
    Ok(BagReport {
        files,
        findings,
        info,
        bytes_hashed,
        hash_seconds,
    })
}

/// The names in the bag's top folder; the only hard error of the check.
fn root_entries(bag: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in
        fs::read_dir(bag).with_context(|| format!("cannot read the delivery {}", bag.display()))?
    {
        let entry = entry.with_context(|| format!("cannot read the delivery {}", bag.display()))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

// ---------------------------------------------------------------------------------------
// Tag files
// ---------------------------------------------------------------------------------------

/// Reads a tag file as UTF-8; a missing or unreadable file is `Err(detail)`.
fn read_tag_text(bag: &Path, name: &str) -> std::result::Result<Option<String>, String> {
    let path = bag.join(name);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read: {e}")),
        Ok(m) if m.file_type().is_symlink() => return Err("symlink not allowed".into()),
        Ok(m) if !m.is_file() => return Err("not a regular file".into()),
        Ok(_) => {}
    }
    let bytes = fs::read(&path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()))
}

/// Splits text into lines ended by LF, CR or CRLF (RFC 8493 allows all three); a final
/// line ending does not start an empty line.
fn tag_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                lines.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    lines
}

/// `bagit.txt`: exactly `BagIt-Version: M.N` and `Tag-File-Character-Encoding: UTF-8`.
fn check_declaration(bag: &Path, findings: &mut Vec<Finding>) {
    let invalid = |detail: String| Finding::file(FindingKind::BagInvalid, BAGIT_TXT, detail);
    let text = match read_tag_text(bag, BAGIT_TXT) {
        Ok(Some(t)) => t,
        Ok(None) => {
            findings.push(invalid("missing: not a BagIt bag".into()));
            return;
        }
        Err(why) => {
            findings.push(invalid(why));
            return;
        }
    };
    if text.starts_with('\u{feff}') {
        findings.push(invalid(
            "starts with a byte-order mark, which RFC 8493 forbids".into(),
        ));
        return;
    }
    let lines = tag_lines(&text);
    let (version, encoding) = match lines.as_slice() {
        [v, e] => (*v, *e),
        _ => {
            findings.push(invalid(format!(
                "has {} lines, expected exactly 2 (BagIt-Version, Tag-File-Character-Encoding)",
                lines.len()
            )));
            return;
        }
    };
    let version_ok = version
        .strip_prefix("BagIt-Version: ")
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        });
    if !version_ok {
        findings.push(invalid(format!(
            "line 1 is {version:?}, expected \"BagIt-Version: M.N\""
        )));
    }
    match encoding.strip_prefix("Tag-File-Character-Encoding: ") {
        Some(enc) if enc.eq_ignore_ascii_case("UTF-8") => {}
        Some(enc) => findings.push(invalid(format!(
            "tag files are declared as {enc}; only UTF-8 is accepted"
        ))),
        None => findings.push(invalid(format!(
            "line 2 is {encoding:?}, expected \"Tag-File-Character-Encoding: UTF-8\""
        ))),
    }
}

/// `bag-info.txt` (optional): the fields, and the Payload-Oxum if present and valid.
fn read_bag_info(
    bag: &Path,
    findings: &mut Vec<Finding>,
) -> (BTreeMap<String, String>, Option<(u64, u64)>) {
    let invalid = |detail: String| Finding::file(FindingKind::BagInvalid, BAG_INFO_TXT, detail);
    let text = match read_tag_text(bag, BAG_INFO_TXT) {
        Ok(Some(t)) => t,
        Ok(None) => return (BTreeMap::new(), None),
        Err(why) => {
            findings.push(invalid(why));
            return (BTreeMap::new(), None);
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    // Fields in file order, continuation lines folded in with a single space.
    let mut fields: Vec<(String, String)> = Vec::new();
    for (i, line) in tag_lines(text).into_iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match fields.last_mut() {
                Some((_, value)) => {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                None => findings.push(invalid(format!(
                    "line {}: a continuation line before any label",
                    i + 1
                ))),
            }
            continue;
        }
        match line.split_once(':') {
            Some((label, value)) if !label.trim().is_empty() => {
                fields.push((label.trim_end().to_string(), value.trim().to_string()))
            }
            _ => findings.push(invalid(format!(
                "line {}: {line:?} is not \"Label: value\"",
                i + 1
            ))),
        }
    }

    let mut info = BTreeMap::new();
    let mut oxums: Vec<String> = Vec::new();
    for (label, value) in fields {
        if label.eq_ignore_ascii_case("Payload-Oxum") {
            oxums.push(value.clone());
        }
        info.entry(label).or_insert(value);
    }
    oxums.dedup();
    let oxum = match oxums.as_slice() {
        [] => None,
        [one] => match parse_oxum(one) {
            Some(o) => Some(o),
            None => {
                findings.push(invalid(format!(
                    "Payload-Oxum {one:?} is not OCTETS.FILES (two decimal numbers)"
                )));
                None
            }
        },
        many => {
            findings.push(invalid(format!(
                "Payload-Oxum given {} times with different values: {}",
                many.len(),
                many.join(", ")
            )));
            None
        }
    };
    (info, oxum)
}

fn parse_oxum(value: &str) -> Option<(u64, u64)> {
    let (octets, streams) = value.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(octets) || !digits(streams) {
        return None;
    }
    Some((octets.parse().ok()?, streams.parse().ok()?))
}

// ---------------------------------------------------------------------------------------
// Payload listing
// ---------------------------------------------------------------------------------------

/// The bag-relative, `/`-separated name of `path`; `Err(lossy name)` if not UTF-8.
fn rel_name(bag: &Path, path: &Path) -> std::result::Result<String, String> {
    let rel = path.strip_prefix(bag).unwrap_or(path);
    let mut parts = Vec::new();
    let mut utf8 = true;
    for c in rel.components() {
        let s = c.as_os_str();
        match s.to_str() {
            Some(s) => parts.push(s.to_string()),
            None => {
                utf8 = false;
                parts.push(s.to_string_lossy().into_owned());
            }
        }
    }
    let name = parts.join("/");
    if utf8 {
        Ok(name)
    } else {
        Err(name)
    }
}

/// Walks `data/` without following symlinks; sizes come from the directory entries.
fn list_payload(bag: &Path, findings: &mut Vec<Finding>) -> Payload {
    let mut payload = Payload::default();
    let data = bag.join(PAYLOAD_DIR);
    match fs::symlink_metadata(&data) {
        Ok(m) if m.file_type().is_symlink() => {
            findings.push(Finding::file(
                FindingKind::BagInvalid,
                "data/",
                "data/ is a symlink; it is not followed",
            ));
            return payload;
        }
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            findings.push(Finding::file(
                FindingKind::BagInvalid,
                "data/",
                "data is not a folder",
            ));
            return payload;
        }
        Err(e) => {
            let detail = if e.kind() == io::ErrorKind::NotFound {
                "missing: the payload folder data/ is required".to_string()
            } else {
                format!("cannot read: {e}")
            };
            findings.push(Finding::file(FindingKind::BagInvalid, "data/", detail));
            return payload;
        }
    }

    for entry in walkdir::WalkDir::new(&data)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let file = e
                    .path()
                    .map(|p| rel_name(bag, p).unwrap_or_else(|lossy| lossy))
                    .unwrap_or_else(|| "data/".to_string());
                findings.push(Finding::file(
                    FindingKind::BagInvalid,
                    file,
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let (rel, utf8) = match rel_name(bag, entry.path()) {
            Ok(rel) => (rel, true),
            Err(lossy) => (lossy, false),
        };
        payload.present.insert(rel.clone());
        if ft.is_symlink() {
            findings.push(Finding::file(
                FindingKind::ExtraFile,
                rel,
                "symlink not allowed",
            ));
            continue;
        }
        if !ft.is_file() {
            findings.push(Finding::file(
                FindingKind::ExtraFile,
                rel,
                "not a regular file (device, socket or pipe)",
            ));
            continue;
        }
        let bytes = match entry.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                findings.push(Finding::file(
                    FindingKind::BagInvalid,
                    rel,
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        payload.octets += bytes;
        payload.streams += 1;
        if !utf8 {
            findings.push(Finding::file(
                FindingKind::ExtraFile,
                rel,
                "file name is not UTF-8, so no manifest can list it",
            ));
            continue;
        }
        payload.files.push(Listed {
            rel,
            path: entry.into_path(),
            bytes,
        });
    }
    payload
}

// ---------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------

/// Decodes the three escapes RFC 8493 defines for manifest paths: `%0A` (LF), `%0D`
/// (CR) and `%25` (`%`). Any other `%` sequence is kept as written.
fn decode_path(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3).unwrap_or("");
        let decoded = match esc.to_ascii_uppercase().as_str() {
            "%0A" => Some('\n'),
            "%0D" => Some('\r'),
            "%25" => Some('%'),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Why a manifest path is unsafe or not canonical, if it is.
fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("an empty path");
    }
    if path.starts_with('/') {
        return Some("an absolute path");
    }
    if path.contains('\0') {
        return Some("a path with a NUL byte");
    }
    for part in path.split('/') {
        match part {
            ".." => return Some("a path with \"..\" (leaves its folder)"),
            "." | "" => return Some("a path with an empty or \".\" component"),
            _ => {}
        }
    }
    None
}

/// Reads every `<prefix><algo>.txt` in the bag's top folder whose algorithm we verify;
/// lines that cannot be parsed are findings.
fn read_manifests(
    bag: &Path,
    root_names: &[String],
    prefix: &str,
    findings: &mut Vec<Finding>,
) -> Vec<Manifest> {
    let mut out = Vec::new();
    for name in root_names {
        let Some(algo_name) = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(".txt"))
        else {
            continue;
        };
        // md5, sha1 and unknown algorithms: present is fine, verified they are not.
        let Some(algo) = Algo::from_name(algo_name) else {
            continue;
        };
        let invalid = |detail: String| Finding::file(FindingKind::BagInvalid, name.clone(), detail);
        let text = match read_tag_text(bag, name) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(why) => {
                findings.push(invalid(why));
                continue;
            }
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut entries = BTreeMap::new();
        for (i, line) in tag_lines(text).into_iter().enumerate() {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let Some(split) = line.find([' ', '\t']) else {
                findings.push(invalid(format!(
                    "line {line_no}: no whitespace between digest and path"
                )));
                continue;
            };
            let digest = &line[..split];
            let raw_path = line[split..].trim_start_matches([' ', '\t']);
            if digest.len() != algo.hex_len() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                findings.push(invalid(format!(
                    "line {line_no}: {digest:?} is not a {} digest ({} hex digits)",
                    algo.label(),
                    algo.hex_len()
                )));
                continue;
            }
            let path = decode_path(raw_path);
            if let Some(problem) = path_problem(&path) {
                findings.push(invalid(format!("line {line_no}: {path:?} is {problem}")));
                continue;
            }
            if let Some((_, first)) = entries.get(&path) {
                findings.push(Finding::file(
                    FindingKind::BagInvalid,
                    path.clone(),
                    format!("listed twice in {name} (lines {first} and {line_no})"),
                ));
                continue;
            }
            entries.insert(path, (digest.to_ascii_lowercase(), line_no));
        }
        out.push(Manifest {
            algo,
            name: name.clone(),
            entries,
        });
    }
    out
}

/// A payload manifest may list only files under `data/`: others are findings and are
/// dropped from the manifest.
fn check_payload_paths(mut m: Manifest, findings: &mut Vec<Finding>) -> Manifest {
    let outside: Vec<String> = m
        .entries
        .keys()
        .filter(|p| !p.starts_with("data/"))
        .cloned()
        .collect();
    for path in outside {
        let (_, line) = m.entries.remove(&path).unwrap_or_default();
        findings.push(Finding::file(
            FindingKind::BagInvalid,
            m.name.clone(),
            format!("line {line}: {path:?} is outside the payload folder data/"),
        ));
    }
    m
}

// ---------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------

/// Hashes every payload file on a pool of `jobs` threads. Workers take the next file
/// from a shared index over the files sorted largest first, so the big files start early
/// and the small ones fill the gaps at the end (no worker is left with one huge file
/// while the others idle). Returns the digests by name and the bytes read.
fn hash_payload(
    files: &[Listed],
    want512: bool,
    jobs: usize,
    progress: &(dyn Fn(u64) + Sync),
    findings: &mut Vec<Finding>,
) -> Result<(BTreeMap<String, Digests>, u64)> {
    let mut order: Vec<&Listed> = files.iter().collect();
    order.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.rel.cmp(&b.rel)));
    let jobs = jobs.max(1).min(order.len().max(1));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("mailroom-hash-{i}"))
        .build()
        .context("cannot start hashing threads")?;

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, io::Result<Digests>)>> =
        Mutex::new(Vec::with_capacity(order.len()));
    pool.scope(|s| {
        for _ in 0..jobs {
            s.spawn(|_| {
                let mut buf = vec![0u8; READ_BLOCK];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = order.get(i) else { break };
                    let outcome = hash_file(&file.path, want512, &mut buf, progress);
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, outcome));
                }
            });
        }
    });

    let mut hashed = BTreeMap::new();
    let mut bytes = 0;
    for (i, outcome) in results.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let file = order[i];
        match outcome {
            Ok(d) => {
                bytes += d.bytes;
                hashed.insert(file.rel.clone(), d);
            }
            Err(e) => findings.push(Finding::file(
                FindingKind::BagInvalid,
                file.rel.clone(),
                format!("cannot read, so it cannot be verified: {e}"),
            )),
        }
    }
    Ok((hashed, bytes))
}

/// Streams one file through SHA-256 (and SHA-512) in blocks of `buf`'s size.
fn hash_file(
    path: &Path,
    want512: bool,
    buf: &mut [u8],
    progress: &(dyn Fn(u64) + Sync),
) -> io::Result<Digests> {
    let mut f = File::open(path)?;
    let mut h256 = Sha256::new();
    let mut h512 = want512.then(Sha512::new);
    let mut bytes = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h256.update(&buf[..n]);
        if let Some(h) = h512.as_mut() {
            h.update(&buf[..n]);
        }
        bytes += n as u64;
        progress(n as u64);
    }
    Ok(Digests {
        bytes,
        sha256: hex(&h256.finalize()),
        sha512: h512.map(|h| hex(&h.finalize())),
    })
}

// ---------------------------------------------------------------------------------------
// Manifests against payload
// ---------------------------------------------------------------------------------------

fn compare(
    manifests: &[Manifest],
    payload: &Payload,
    hashed: &BTreeMap<String, Digests>,
    findings: &mut Vec<Finding>,
) {
    if manifests.is_empty() {
        // Nothing to compare with; the missing manifest is already a finding.
        return;
    }
    let listed: BTreeSet<&String> = manifests.iter().flat_map(|m| m.entries.keys()).collect();
    let names = |ms: &[&Manifest]| -> String {
        ms.iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };

    for path in &listed {
        let listing: Vec<&Manifest> = manifests
            .iter()
            .filter(|m| m.entries.contains_key(*path))
            .collect();
        if !payload.present.contains(*path) {
            findings.push(Finding::file(
                FindingKind::MissingFile,
                (*path).clone(),
                format!("listed in {} but not in the payload", names(&listing)),
            ));
            continue;
        }
        let not_listing: Vec<&Manifest> = manifests
            .iter()
            .filter(|m| !m.entries.contains_key(*path))
            .collect();
        if !not_listing.is_empty() {
            findings.push(Finding::file(
                FindingKind::BagInvalid,
                (*path).clone(),
                format!(
                    "listed in {} but not in {}: every manifest must list every payload file",
                    names(&listing),
                    names(&not_listing)
                ),
            ));
        }
        let Some(digests) = hashed.get(*path) else {
            // A symlink, special or unreadable file: already a finding.
            continue;
        };
        let mismatches: Vec<String> = listing
            .iter()
            .filter_map(|m| {
                let (expected, line) = &m.entries[*path];
                let actual = match m.algo {
                    Algo::Sha256 => Some(&digests.sha256),
                    Algo::Sha512 => digests.sha512.as_ref(),
                }?;
                (actual != expected).then(|| {
                    format!(
                        "{} in {} (line {line}) is {expected}, the file's is {actual}",
                        m.algo.label(),
                        m.name
                    )
                })
            })
            .collect();
        if !mismatches.is_empty() {
            findings.push(Finding::file(
                FindingKind::AlteredFile,
                (*path).clone(),
                mismatches.join("; "),
            ));
        }
    }

    for rel in hashed.keys() {
        if !listed.contains(rel) {
            findings.push(Finding::file(
                FindingKind::ExtraFile,
                rel.clone(),
                format!(
                    "in the payload but not listed in {}",
                    names(&manifests.iter().collect::<Vec<_>>())
                ),
            ));
        }
    }
}

/// Verifies every line of a tag manifest against the file it names.
fn verify_tag_manifest(bag: &Path, m: &Manifest, findings: &mut Vec<Finding>) {
    let altered = |file: &str, detail: String| {
        Finding::file(FindingKind::AlteredTagFile, file.to_string(), detail)
    };
    let mut buf = vec![0u8; 1 << 16];
    for (path, (expected, line)) in &m.entries {
        let full = path
            .split('/')
            .fold(bag.to_path_buf(), |p, part| p.join(part));
        match fs::symlink_metadata(&full) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                findings.push(altered(
                    path,
                    format!("missing (listed in {} line {line})", m.name),
                ));
                continue;
            }
            Err(e) => {
                findings.push(altered(path, format!("cannot read: {e}")));
                continue;
            }
            Ok(meta) if meta.file_type().is_symlink() => {
                findings.push(Finding::file(
                    FindingKind::ExtraFile,
                    path.clone(),
                    "symlink not allowed",
                ));
                continue;
            }
            Ok(meta) if !meta.is_file() => {
                findings.push(altered(path, "not a regular file".into()));
                continue;
            }
            Ok(_) => {}
        }
        let digests = match hash_file(&full, m.algo == Algo::Sha512, &mut buf, &|_| {}) {
            Ok(d) => d,
            Err(e) => {
                findings.push(altered(path, format!("cannot read: {e}")));
                continue;
            }
        };
        let actual = match m.algo {
            Algo::Sha256 => digests.sha256,
            Algo::Sha512 => digests.sha512.unwrap_or_default(),
        };
        if &actual != expected {
            findings.push(altered(
                path,
                format!(
                    "{} in {} (line {line}) is {expected}, the file's is {actual}",
                    m.algo.label(),
                    m.name
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::sha256_hex;

    /// A small valid bag: two payload files (one hidden, one in a subfolder), bag-info
    /// with the right Payload-Oxum, the SHA-256 manifest and a tag manifest.
    struct Bag {
        dir: tempfile::TempDir,
    }

    impl Bag {
        fn new() -> Bag {
            let bag = Bag {
                dir: tempfile::tempdir().unwrap(),
            };
            bag.put("data/akte-1/seite.pdf", b"%PDF-1.7 one page");
            bag.put("data/.hidden", b"payload too");
            bag.put("data/b.tif", b"II*\0 a tiff");
            bag.put(
                BAGIT_TXT,
                b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
            );
            bag.seal();
            bag
        }

        fn path(&self) -> &Path {
            self.dir.path()
        }

        fn put(&self, rel: &str, bytes: &[u8]) {
            let p = self.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, bytes).unwrap();
        }

        fn payload(&self) -> Vec<(String, Vec<u8>)> {
            let mut out = Vec::new();
            for e in walkdir::WalkDir::new(self.path().join("data")).sort_by_file_name() {
                let e = e.unwrap();
                if e.file_type().is_file() {
                    let rel = rel_name(self.path(), e.path()).unwrap();
                    out.push((rel, fs::read(e.path()).unwrap()));
                }
            }
            out
        }

        /// Writes bag-info.txt, the manifest and the tag manifest for the payload as it is.
        fn seal(&self) {
            let payload = self.payload();
            let octets: usize = payload.iter().map(|(_, b)| b.len()).sum();
            self.put(
                BAG_INFO_TXT,
                format!(
                    "Source-Organization: Scan GmbH\nExternal-Description: Akten des\n  Ordnungsamts\nPayload-Oxum: {octets}.{}\n",
                    payload.len()
                )
                .as_bytes(),
            );
            let manifest: String = payload
                .iter()
                .map(|(rel, b)| format!("{}  {}\n", sha256_hex(b), encode(rel)))
                .collect();
            self.put("manifest-sha256.txt", manifest.as_bytes());
            self.seal_tags();
        }

        fn seal_tags(&self) {
            let tags: String = [BAGIT_TXT, BAG_INFO_TXT, "manifest-sha256.txt"]
                .iter()
                .map(|t| {
                    let b = fs::read(self.path().join(t)).unwrap();
                    format!("{} {t}\n", sha256_hex(&b))
                })
                .collect();
            self.put("tagmanifest-sha256.txt", tags.as_bytes());
        }

        fn check(&self) -> BagReport {
            check_bag(self.path(), 2, &|_| {}).unwrap()
        }
    }

    fn encode(rel: &str) -> String {
        rel.replace('%', "%25")
            .replace('\n', "%0A")
            .replace('\r', "%0D")
    }

    fn kinds(r: &BagReport) -> Vec<(FindingKind, String)> {
        r.findings
            .iter()
            .map(|f| (f.kind, f.file.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn a_valid_bag_has_no_findings() {
        let bag = Bag::new();
        let r = bag.check();
        assert_eq!(r.findings, vec![], "{:#?}", r.findings);
        let rels: Vec<&str> = r.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(
            rels,
            ["data/.hidden", "data/akte-1/seite.pdf", "data/b.tif"]
        );
        assert_eq!(r.files[2].sha256, sha256_hex(b"II*\0 a tiff"));
        assert_eq!(r.bytes_hashed, (17 + 11 + 11) as u64);
        assert_eq!(r.info["Source-Organization"], "Scan GmbH");
        assert_eq!(r.info["External-Description"], "Akten des Ordnungsamts");
    }

    #[test]
    fn progress_counts_every_payload_byte() {
        let bag = Bag::new();
        bag.put("data/big.bin", &vec![7u8; 3 * READ_BLOCK + 5]);
        bag.seal();
        let seen = std::sync::atomic::AtomicU64::new(0);
        let r = check_bag(bag.path(), 3, &|n| {
            seen.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(r.findings, vec![]);
        assert_eq!(seen.into_inner(), r.bytes_hashed);
        assert_eq!(r.bytes_hashed, (3 * READ_BLOCK + 5 + 39) as u64);
    }

    #[test]
    fn a_bad_declaration_is_found() {
        let bag = Bag::new();
        bag.put(
            BAGIT_TXT,
            b"BagIt-Version: 1.0\nTag-File-Character-Encoding: ISO-8859-1\n",
        );
        bag.seal_tags();
        assert_eq!(
            kinds(&bag.check()),
            [(FindingKind::BagInvalid, BAGIT_TXT.into())]
        );

        bag.put(
            BAGIT_TXT,
            b"BagIt-Version: one\nTag-File-Character-Encoding: UTF-8\n",
        );
        bag.seal_tags();
        assert_eq!(
            kinds(&bag.check()),
            [(FindingKind::BagInvalid, BAGIT_TXT.into())]
        );

        fs::remove_file(bag.path().join(BAGIT_TXT)).unwrap();
        let r = bag.check();
        assert!(r.findings.iter().any(|f| f.kind == FindingKind::BagInvalid
            && f.file.as_deref() == Some(BAGIT_TXT)
            && f.detail.starts_with("missing")));
        // The tag manifest lists bagit.txt, which is gone.
        assert!(r
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::AlteredTagFile && f.detail.starts_with("missing")));
    }

    #[test]
    fn a_wrong_payload_oxum_is_found_and_hashing_goes_on() {
        let bag = Bag::new();
        let info = fs::read_to_string(bag.path().join(BAG_INFO_TXT)).unwrap();
        let info = info.replace("Payload-Oxum: 39.3", "Payload-Oxum: 40.3");
        bag.put(BAG_INFO_TXT, info.as_bytes());
        bag.seal_tags();
        let r = bag.check();
        assert_eq!(
            kinds(&r),
            [(FindingKind::PayloadOxumMismatch, BAG_INFO_TXT.into())]
        );
        assert!(
            r.findings[0].detail.contains("40 bytes in 3 files"),
            "{:?}",
            r.findings
        );
        assert_eq!(r.files.len(), 3);
    }

    #[test]
    fn a_missing_file_is_named() {
        let bag = Bag::new();
        fs::remove_file(bag.path().join("data/b.tif")).unwrap();
        assert_eq!(
            kinds(&bag.check()),
            [
                (FindingKind::PayloadOxumMismatch, BAG_INFO_TXT.into()),
                (FindingKind::MissingFile, "data/b.tif".into()),
            ]
        );
    }

    #[test]
    fn an_extra_file_is_named() {
        let bag = Bag::new();
        bag.put("data/akte-1/nachtrag.pdf", b"late");
        assert_eq!(
            kinds(&bag.check()),
            [
                (FindingKind::PayloadOxumMismatch, BAG_INFO_TXT.into()),
                (FindingKind::ExtraFile, "data/akte-1/nachtrag.pdf".into()),
            ]
        );
    }

    #[test]
    fn an_altered_byte_is_named_with_both_digests() {
        let bag = Bag::new();
        bag.put("data/akte-1/seite.pdf", b"%PDF-1.7 one pagE");
        let r = bag.check();
        // Same size: the Payload-Oxum cannot see it, the hash does.
        assert_eq!(
            kinds(&r),
            [(FindingKind::AlteredFile, "data/akte-1/seite.pdf".into())]
        );
        assert!(r.findings[0]
            .detail
            .contains(&sha256_hex(b"%PDF-1.7 one page")));
        assert!(r.findings[0]
            .detail
            .contains(&sha256_hex(b"%PDF-1.7 one pagE")));
    }

    #[test]
    fn an_altered_or_missing_tag_file_is_named() {
        let bag = Bag::new();
        let info = fs::read_to_string(bag.path().join(BAG_INFO_TXT)).unwrap();
        bag.put(
            BAG_INFO_TXT,
            info.replace("Scan GmbH", "Scan AG").as_bytes(),
        );
        assert_eq!(
            kinds(&bag.check()),
            [(FindingKind::AlteredTagFile, BAG_INFO_TXT.into())]
        );

        let bag = Bag::new();
        fs::remove_file(bag.path().join(BAG_INFO_TXT)).unwrap();
        let r = bag.check();
        assert_eq!(
            kinds(&r),
            [(FindingKind::AlteredTagFile, BAG_INFO_TXT.into())]
        );
        assert!(
            r.findings[0].detail.starts_with("missing"),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn a_path_escaping_with_dotdot_is_found() {
        let bag = Bag::new();
        let mut manifest = fs::read_to_string(bag.path().join("manifest-sha256.txt")).unwrap();
        manifest.push_str(&format!("{}  data/../../etc/passwd\n", sha256_hex(b"x")));
        manifest.push_str(&format!("{}  bag-info.txt\n", sha256_hex(b"x")));
        bag.put("manifest-sha256.txt", manifest.as_bytes());
        bag.seal_tags();
        let r = bag.check();
        assert_eq!(
            kinds(&r),
            [
                (FindingKind::BagInvalid, "manifest-sha256.txt".into()),
                (FindingKind::BagInvalid, "manifest-sha256.txt".into()),
            ]
        );
        assert!(r
            .findings
            .iter()
            .any(|f| f.detail.contains("data/../../etc/passwd") && f.detail.contains("\"..\"")));
        assert!(r
            .findings
            .iter()
            .any(|f| f.detail.contains("bag-info.txt") && f.detail.contains("outside")));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_not_followed() {
        let bag = Bag::new();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"not in the bag").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), bag.path().join("data/link"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), bag.path().join("data/linkdir")).unwrap();
        let r = bag.check();
        assert_eq!(
            kinds(&r),
            [
                (FindingKind::ExtraFile, "data/link".into()),
                (FindingKind::ExtraFile, "data/linkdir".into()),
            ]
        );
        assert!(r.findings.iter().all(|f| f.detail == "symlink not allowed"));
        assert_eq!(r.files.len(), 3, "nothing outside the bag was hashed");
    }

    #[cfg(unix)]
    #[test]
    fn a_percent_encoded_name_with_a_newline_is_matched_and_named() {
        let bag = Bag::new();
        bag.put("data/brief\nzwei 100%.txt", b"line");
        bag.seal();
        let manifest = fs::read_to_string(bag.path().join("manifest-sha256.txt")).unwrap();
        assert!(manifest.contains("data/brief%0Azwei 100%25.txt"));
        assert_eq!(bag.check().findings, vec![]);

        bag.put("data/brief\nzwei 100%.txt", b"LINE");
        assert_eq!(
            kinds(&bag.check()),
            [(FindingKind::AlteredFile, "data/brief\nzwei 100%.txt".into())]
        );
    }

    #[test]
    fn sha256_manifest_is_required_and_sha512_is_verified() {
        let bag = Bag::new();
        let sha512 = |b: &[u8]| hex(&Sha512::digest(b));
        let manifest: String = bag
            .payload()
            .iter()
            .map(|(rel, b)| format!("{}\t{rel}\n", sha512(b)))
            .collect();
        bag.put("manifest-sha512.txt", manifest.as_bytes());
        bag.put("manifest-md5.txt", b"whatever is here is ignored\n");
        assert_eq!(bag.check().findings, vec![]);

        bag.put("data/b.tif", b"II*\0 a tifF");
        let r = bag.check();
        assert_eq!(kinds(&r), [(FindingKind::AlteredFile, "data/b.tif".into())]);
        assert!(
            r.findings[0].detail.contains("SHA-256") && r.findings[0].detail.contains("SHA-512")
        );

        fs::remove_file(bag.path().join("manifest-sha256.txt")).unwrap();
        let r = bag.check();
        assert!(r.findings.iter().any(|f| f.kind == FindingKind::BagInvalid
            && f.file.as_deref() == Some("manifest-sha256.txt")));
        assert!(r
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::AlteredFile && f.detail.contains("SHA-512")));
    }

    #[test]
    fn a_file_listed_twice_and_crlf_lines() {
        let bag = Bag::new();
        let manifest = fs::read_to_string(bag.path().join("manifest-sha256.txt")).unwrap();
        let first = manifest.lines().next().unwrap().to_string();
        let doubled = format!("{manifest}{first}\n").replace('\n', "\r\n");
        bag.put("manifest-sha256.txt", doubled.as_bytes());
        bag.seal_tags();
        let r = bag.check();
        assert_eq!(
            kinds(&r),
            [(FindingKind::BagInvalid, "data/.hidden".into())]
        );
        assert!(r.findings[0].detail.contains("listed twice"));
    }

    #[test]
    fn an_unreadable_folder_is_an_error() {
        assert!(check_bag(Path::new("/nonexistent/bag"), 1, &|_| {}).is_err());
    }

    #[test]
    fn paths_decode_only_the_three_rfc_escapes() {
        assert_eq!(
            decode_path("data/a%0Ab%0dc%25d%20e%"),
            "data/a\nb\rc%d%20e%"
        );
        assert_eq!(tag_lines("a\r\nb\rc\nd"), ["a", "b", "c", "d"]);
        assert_eq!(tag_lines("a\n\nb\n"), ["a", "", "b"]);
        assert_eq!(parse_oxum("123.4"), Some((123, 4)));
        assert_eq!(parse_oxum("123"), None);
        assert_eq!(parse_oxum("1.2.3"), None);
    }
}

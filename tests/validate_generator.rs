//! The test deliveries of `mailroom-lab delivery`: a clean lot is a valid bag whose
//! inventory matches its files, and with `--defects all` every defect that defects.json
//! lists is really there, checked with outside tools (sha256sum, tiffinfo) where they
//! exist.

mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mailroom::lab::delivery::{DeliveryTruth, BAG_DIR, DEFECTS_FILE, INVENTORY_FILE};
use mailroom::validate::inventory::{read_inventory, InventoryItem};
use mailroom::validate::FindingKind;
use util::tool;

/// Runs `mailroom-lab delivery --out DIR ARGS...` and reads its defects.json.
fn delivery(dir: &Path, args: &[&str]) -> DeliveryTruth {
    let out = Command::new(env!("CARGO_BIN_EXE_mailroom-lab"))
        .arg("delivery")
        .arg("--out")
        .arg(dir)
        .args(args)
        .output()
        .expect("cannot start mailroom-lab");
    assert!(
        out.status.success(),
        "mailroom-lab delivery failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    DeliveryTruth::load(&dir.join(DEFECTS_FILE)).unwrap()
}

/// `sha256sum -c FILE` in the bag folder: (exit code, lines of output).
fn sha256sum_check(bag: &Path, manifest: &str) -> (i32, Vec<String>) {
    let out = Command::new("sha256sum")
        .arg("-c")
        .arg(manifest)
        .current_dir(bag)
        .output()
        .expect("cannot run sha256sum");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text.lines().map(str::to_string).collect(),
    )
}

/// manifest-sha256.txt as path -> hash.
fn manifest(bag: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(bag.join("manifest-sha256.txt"))
        .unwrap()
        .lines()
        .map(|line| {
            let (hash, path) = line.split_once("  ").expect("hash, two spaces, path");
            (path.to_string(), hash.to_string())
        })
        .collect()
}

/// The payload on disk: bag-relative path -> bytes.
fn payload(bag: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(bag.join("data"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let rel = format!("data/{}", path.file_name().unwrap().to_string_lossy());
            (rel, std::fs::read(&path).unwrap())
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    mailroom::fsutil::sha256_hex(bytes)
}

fn payload_oxum(bag: &Path) -> String {
    std::fs::read_to_string(bag.join("bag-info.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Payload-Oxum: "))
        .expect("bag-info.txt has a Payload-Oxum")
        .to_string()
}

/// Frames of a TIFF by our probe.
fn frames(path: &Path) -> usize {
    let candidate = mailroom::ingest::Candidate::file(path, path.display().to_string());
    let limits = mailroom::ingest::Limits {
        max_pixels: 100_000_000,
        assume_dpi: 300,
    };
    mailroom::ingest::probe(&candidate, limits)
        .unwrap()
        .frames
        .len()
}

/// `tiffinfo FILE`: per directory the resolution line and the width.
fn tiffinfo(path: &Path) -> Vec<(String, String)> {
    let out = tool("tiffinfo", &[path.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut dirs = Vec::new();
    let mut width = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Image Width: ") {
            width = rest.split_whitespace().next().unwrap_or("").to_string();
        }
        if let Some(rest) = line.strip_prefix("Resolution: ") {
            dirs.push((rest.to_string(), width.clone()));
        }
    }
    dirs
}

fn by_path(items: &[InventoryItem]) -> BTreeMap<String, &InventoryItem> {
    items
        .iter()
        .flat_map(|i| i.paths.iter().map(move |p| (p.clone(), i)))
        .collect()
}

#[test]
fn a_clean_lot_is_a_valid_bag_whose_inventory_matches_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let truth = delivery(
        dir.path(),
        &["--files", "5", "--pages", "1-3", "--seed", "4"],
    );
    assert!(truth.defects.is_empty(), "{:?}", truth.defects);
    let bag = dir.path().join(BAG_DIR);

    assert_eq!(
        std::fs::read_to_string(bag.join("bagit.txt")).unwrap(),
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    );
    for name in ["manifest-sha256.txt", "tagmanifest-sha256.txt"] {
        let (code, lines) = sha256sum_check(&bag, name);
        assert_eq!(code, 0, "{name}: {lines:?}");
        assert!(lines.iter().all(|l| l.ends_with(": OK")), "{lines:?}");
    }
    let files = payload(&bag);
    assert_eq!(files.len(), 5);
    let listed = manifest(&bag);
    assert!(listed.keys().eq(files.keys()), "{listed:?}");
    let octets: usize = files.values().map(Vec::len).sum();
    assert_eq!(payload_oxum(&bag), format!("{octets}.{}", files.len()));
    let info = std::fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    for field in [
        "Source-Organization: ",
        "Bagging-Date: 2026-",
        "External-Identifier: LOS-",
    ] {
        assert!(info.contains(field), "{field} missing:\n{info}");
    }

    let raw = std::fs::read(dir.path().join(INVENTORY_FILE)).unwrap();
    assert!(raw.starts_with("\u{feff}akte;pfad;seiten;titel\r\n".as_bytes()));
    let items = read_inventory(&dir.path().join(INVENTORY_FILE)).unwrap();
    assert_eq!(items.len(), 5);
    let mut pages = 0;
    for item in &items {
        assert_eq!(item.paths, vec![format!("data/{}.tif", item.id)]);
        assert!(!item.meta["titel"].is_empty());
        let path = bag.join(&item.paths[0]);
        let n = frames(&path);
        assert_eq!(item.pages, Some(n), "{}", item.id);
        let dirs = tiffinfo(&path);
        assert_eq!(dirs.len(), n, "tiffinfo sees every page of {}", item.id);
        for (resolution, width) in dirs {
            assert_eq!(resolution, "300, 300 pixels/inch");
            assert_eq!(width, "2480");
        }
        pages += n;
    }
    assert_eq!(truth.payload_pages, pages);
    assert_eq!(truth.payload_files, 5);
    assert_eq!(truth.items, 5);
}

#[test]
fn with_all_defects_each_defect_is_where_defects_json_says() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--files",
        "12",
        "--pages",
        "3-4",
        "--seed",
        "77",
        "--defects",
        "all",
    ];
    let truth = delivery(dir.path(), &args);
    let bag = dir.path().join(BAG_DIR);
    let files = payload(&bag);
    let listed = manifest(&bag);
    let items = read_inventory(&dir.path().join(INVENTORY_FILE)).unwrap();
    let ordered = by_path(&items);

    // Every kind, each on a file of its own (missing and extra files have two entries).
    let mut kinds: Vec<FindingKind> = truth.defects.iter().map(|d| d.kind).collect();
    kinds.sort();
    use FindingKind::*;
    assert_eq!(
        kinds,
        vec![
            PayloadOxumMismatch,
            MissingFile,
            ExtraFile,
            AlteredFile,
            NotDelivered,
            NotOrdered,
            PageCountMismatch,
            DuplicateFile,
            LowResolution,
            Skewed,
            WrongOrientation,
            BlankPage,
            BlackBorder,
        ]
    );
    let mut per_file: BTreeMap<&str, Vec<FindingKind>> = BTreeMap::new();
    for d in &truth.defects {
        if let Some(file) = &d.file {
            per_file.entry(file).or_default().push(d.kind);
        }
    }
    for (file, kinds) in &per_file {
        let pair = matches!(
            kinds.as_slice(),
            [MissingFile, NotDelivered] | [ExtraFile, NotOrdered]
        );
        assert!(kinds.len() == 1 || pair, "{file}: {kinds:?}");
    }

    let (_, check) = sha256sum_check(&bag, "manifest-sha256.txt");
    for d in &truth.defects {
        let file = d.file.clone().unwrap_or_default();
        let here = files.get(&file);
        let row = ordered.get(&file);
        let checked = |status: &str| check.contains(&format!("{file}: {status}"));
        match d.kind {
            MissingFile | NotDelivered => {
                assert!(here.is_none(), "{file} is there");
                assert!(listed.contains_key(&file) && row.is_some(), "{file}");
                assert!(checked("FAILED open or read"), "{check:?}");
            }
            ExtraFile | NotOrdered => {
                assert!(here.is_some() && !listed.contains_key(&file) && row.is_none());
                assert_eq!(d.item, None);
            }
            AlteredFile => {
                let bytes = here.unwrap();
                assert_ne!(sha256(bytes), listed[&file]);
                assert!(checked("FAILED"), "{check:?}");
                // Still a readable TIFF with every page.
                assert_eq!(Some(frames(&bag.join(&file))), row.unwrap().pages);
            }
            PayloadOxumMismatch => {
                let octets: usize = files.values().map(Vec::len).sum();
                let actual = format!("{octets}.{}", files.len());
                let stated = payload_oxum(&bag);
                assert_ne!(stated, actual);
                assert!(
                    d.note.contains(&stated) && d.note.contains(&actual),
                    "{}",
                    d.note
                );
            }
            PageCountMismatch => {
                let expected = row.unwrap().pages.unwrap();
                let n = frames(&bag.join(&file));
                assert_eq!(expected.abs_diff(n), 1, "{file}");
            }
            LowResolution => {
                let dirs = tiffinfo(&bag.join(&file));
                assert_eq!(Some(dirs.len()), row.unwrap().pages);
                for (resolution, width) in dirs {
                    assert_eq!(resolution, "150, 150 pixels/inch");
                    assert_eq!(width, "1240");
                }
            }
            DuplicateFile => {
                let bytes = here.unwrap();
                let originals: Vec<&String> = files
                    .iter()
                    .filter(|(rel, b)| *rel != &file && *b == bytes)
                    .map(|(rel, _)| rel)
                    .collect();
                assert_eq!(originals.len(), 1, "{file}");
                assert!(originals[0] < &file && d.note.contains(originals[0].as_str()));
                assert!(row.is_some() && ordered.contains_key(originals[0]));
                assert_eq!(row.unwrap().pages, ordered[originals[0]].pages);
            }
            Skewed | WrongOrientation | BlankPage | BlackBorder => {
                let page = d.page.expect("a page defect names its page");
                let n = frames(&bag.join(&file));
                assert!(page > 1 && page < n, "{file} page {page} of {n}");
                assert_eq!(row.unwrap().pages, Some(n));
            }
            other => panic!("unexpected kind {other:?}"),
        }
        if let (Some(item), Some(row)) = (&d.item, row) {
            assert_eq!(item, &row.id);
        }
    }
    // Only the altered and the missing file fail the manifest check.
    let failed: Vec<&String> = check.iter().filter(|l| !l.ends_with(": OK")).collect();
    assert_eq!(failed.len(), 2, "{failed:?}");

    // Deterministic: the same arguments give the same bytes.
    let again = tempfile::tempdir().unwrap();
    assert_eq!(delivery(again.path(), &args), truth);
    let again_bag = again.path().join(BAG_DIR);
    assert_eq!(payload(&again_bag), files);
    for name in [
        "bag-info.txt",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
    ] {
        let read = |b: &PathBuf| std::fs::read(b.join(name)).unwrap();
        assert_eq!(read(&again_bag), read(&bag), "{name}");
    }
    let inventory = |d: &Path| std::fs::read(d.join(INVENTORY_FILE)).unwrap();
    assert_eq!(inventory(again.path()), inventory(dir.path()));
}

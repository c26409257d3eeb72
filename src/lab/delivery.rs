//! Generator of test deliveries for `mailroom validate`: a contractor's delivery of
//! digitised legacy files (Akten) as a BagIt bag plus an inventory, with defects injected
//! where the caller asks for them and a ground truth of every defect.
//!
//! `mailroom-lab delivery --out DIR --files N` writes
//!
//! - `DIR/bag/`: a BagIt 1.0 bag (RFC 8493): `bagit.txt`, `bag-info.txt`
//!   (Source-Organization, Bagging-Date, External-Identifier = the lot, Payload-Oxum,
//!   ...), `manifest-sha256.txt`, `tagmanifest-sha256.txt` and the payload
//!   `data/<Akte id>.tif`: one multi-page TIFF per Akte, bilevel CCITT G4 (about five in
//!   six) or 8-bit gray Deflate, tagged with the resolution (300 dpi unless `--dpi`).
//!   Page 1 is the Akte's cover (Aktendeckel: authority, unit, kind, title, Aktenzeichen,
//!   Laufzeit); the others are German business letters from the sample generator
//!   ([`super::generate`]), rendered with real fonts so OCR can read them (pages with
//!   fewer than 14 lines, such as a letter's last page with only its closing, are left
//!   out). Clean pages are upright, turned by at most [`CLEAN_MAX_SKEW_DEG`] (two integer
//!   shears, cheap), carry a little dust and no dark edges.
//! - `DIR/inventory.csv`: what the city ordered, as a German office writes it: UTF-8 with
//!   BOM, `;`-separated, CRLF, header `akte;pfad;seiten;titel`, one row per Akte (id,
//!   path relative to `data/`, expected page count, title; titles with `;` or `"` are
//!   quoted as RFC 4180 says).
//! - `DIR/defects.json` ([`DeliveryTruth`]): every injected defect with the kind a checker
//!   reports (the snake_case names of [`FindingKind`]), the bag-relative file, the 1-based
//!   page where it is about one page, the Akte id and a note with the numbers.
//!
//! # Defects (`--defects LIST|all`)
//!
//! Each defect is injected on a file of its own (drawn from a random stream of its own,
//! so the clean Akten are the same with or without defects), and is written so that the
//! others stay independent of it:
//!
//! - `missing_file`: an Akte in the manifest and the inventory whose file is not in
//!   `data/`; a checker also reports `not_delivered` (listed in the truth too).
//! - `extra_file`: one more Akte in `data/`, in neither manifest nor inventory; also
//!   `not_ordered`.
//! - `altered_file`: one byte changed after the manifest was written: the first letter of
//!   page 1's ImageDescription tag (`Akte ...` becomes `akte ...`), so the file keeps its
//!   size and every page still decodes; only its hash differs.
//! - `payload_oxum_mismatch`: bag-info.txt's octet count is off. Otherwise the
//!   Payload-Oxum always describes the payload as delivered (without a missing file, with
//!   an extra one), so missing and extra files do not change it.
//! - `page_count_mismatch`: the inventory says one page more or fewer than the TIFF has.
//! - `low_resolution`: a whole Akte scanned at half the lot's resolution (150 dpi by
//!   default), tagged so and with the pixel size of A4 at that resolution.
//! - `skewed`: one page turned by 3-4 degrees (either way).
//! - `wrong_orientation`: one page upside down.
//! - `blank_page`: an empty white page (a little dust) in the middle of an Akte; the
//!   inventory counts it, so the page count stays right.
//! - `black_border`: a dark band 130-220 px (11-19 mm at 300 dpi) wide along one edge of
//!   one page.
//! - `duplicate_file`: the same bytes under two ids (both in manifest and inventory, with
//!   the same page count); the finding names the copy whose path sorts last.
//!
//! Page defects sit on a middle page (never the cover, never the last page); an Akte
//! carrying a defect has at least three pages.
//!
//! Everything comes from splitmix64 streams seeded with `--seed`; the Akten are rendered
//! in parallel (rayon), each from its own stream, so the same arguments give the same
//! bytes whatever the number of threads.

use std::collections::VecDeque;
use std::fs;
use std::io::Cursor;
use std::path::Path;

use anyhow::{bail, Context, Result};
use image::{GrayImage, Luma};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tiff::encoder::{Compression, DeflateLevel, TiffEncoder};

use crate::lab::generate::{
    add_speckles, compose_letter, draw_page, encode_g4, load_fonts, mm, skew_content,
    write_g4_frame, write_gray_frame, Align, Fonts, FrameTags, PageLayout, PlacedLine, Rng,
    RoutingCase, Style, Typesetter, CADASTRAL_DISTRICTS, COMPANY_PATTERNS, DPI, EATERIES,
    LAST_NAMES, MEASURES, PAGE_H, PAGE_W, PLAN_CODES, PLAN_NAMES, STREETS, UNITS,
};
use crate::validate::FindingKind;

/// The bag's folder inside the output folder.
pub const BAG_DIR: &str = "bag";
/// The inventory, next to the bag (not part of it).
pub const INVENTORY_FILE: &str = "inventory.csv";
/// The ground truth, next to the bag.
pub const DEFECTS_FILE: &str = "defects.json";
/// Largest skew of a clean page, degrees.
pub const CLEAN_MAX_SKEW_DEG: f64 = 0.2;

const GENERATOR: &str = concat!("mailroom-lab ", env!("CARGO_PKG_VERSION"));
const SOURCE_ORGANIZATION: &str = "Scan-Service Nord GmbH";
/// Bilevel files for about five Akten in six, gray for the rest.
const GRAY_SHARE: f64 = 1.0 / 6.0;

/// A defect the generator can inject, named as the finding a checker reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Defect {
    MissingFile,
    ExtraFile,
    AlteredFile,
    PayloadOxumMismatch,
    PageCountMismatch,
    LowResolution,
    Skewed,
    WrongOrientation,
    BlankPage,
    BlackBorder,
    DuplicateFile,
}

impl Defect {
    /// Every defect, in the order they are assigned to files.
    pub const ALL: [Defect; 11] = [
        Defect::MissingFile,
        Defect::ExtraFile,
        Defect::AlteredFile,
        Defect::PayloadOxumMismatch,
        Defect::PageCountMismatch,
        Defect::LowResolution,
        Defect::Skewed,
        Defect::WrongOrientation,
        Defect::BlankPage,
        Defect::BlackBorder,
        Defect::DuplicateFile,
    ];

    /// The finding a checker reports for it (first of two for missing and extra files).
    pub fn kind(self) -> FindingKind {
        match self {
            Defect::MissingFile => FindingKind::MissingFile,
            Defect::ExtraFile => FindingKind::ExtraFile,
            Defect::AlteredFile => FindingKind::AlteredFile,
            Defect::PayloadOxumMismatch => FindingKind::PayloadOxumMismatch,
            Defect::PageCountMismatch => FindingKind::PageCountMismatch,
            Defect::LowResolution => FindingKind::LowResolution,
            Defect::Skewed => FindingKind::Skewed,
            Defect::WrongOrientation => FindingKind::WrongOrientation,
            Defect::BlankPage => FindingKind::BlankPage,
            Defect::BlackBorder => FindingKind::BlackBorder,
            Defect::DuplicateFile => FindingKind::DuplicateFile,
        }
    }

    /// The name on the command line and in defects.json (FindingKind's snake_case).
    pub fn name(self) -> &'static str {
        match self {
            Defect::MissingFile => "missing_file",
            Defect::ExtraFile => "extra_file",
            Defect::AlteredFile => "altered_file",
            Defect::PayloadOxumMismatch => "payload_oxum_mismatch",
            Defect::PageCountMismatch => "page_count_mismatch",
            Defect::LowResolution => "low_resolution",
            Defect::Skewed => "skewed",
            Defect::WrongOrientation => "wrong_orientation",
            Defect::BlankPage => "blank_page",
            Defect::BlackBorder => "black_border",
            Defect::DuplicateFile => "duplicate_file",
        }
    }

    /// `all`, `none` (or nothing), or a comma-separated list of names; sorted, no repeats.
    pub fn parse_list(text: &str) -> Result<Vec<Defect>> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(Defect::ALL.to_vec());
        }
        if text.is_empty() || text.eq_ignore_ascii_case("none") {
            return Ok(Vec::new());
        }
        let mut list = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let wanted = word.to_ascii_lowercase().replace('-', "_");
            let Some(defect) = Defect::ALL.into_iter().find(|d| d.name() == wanted) else {
                let names: Vec<&str> = Defect::ALL.iter().map(|d| d.name()).collect();
                bail!(
                    "unknown defect {word:?}; known: {}, or all",
                    names.join(", ")
                );
            };
            list.push(defect);
        }
        list.sort();
        list.dedup();
        Ok(list)
    }

    /// Inventory Akten the defect takes for itself.
    fn akten_needed(self) -> usize {
        match self {
            Defect::ExtraFile | Defect::PayloadOxumMismatch => 0,
            Defect::DuplicateFile => 2,
            _ => 1,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySpec {
    /// Akten in the inventory (the extra file of `extra_file` comes on top).
    pub files: usize,
    /// Pages per Akte, drawn uniformly from `min_pages..=max_pages` (an Akte carrying a
    /// defect gets at least 3).
    pub min_pages: usize,
    pub max_pages: usize,
    pub seed: u64,
    pub defects: Vec<Defect>,
    /// Resolution of the lot; the `low_resolution` Akte has half of it.
    pub dpi: u32,
}

impl DeliverySpec {
    /// Parses `--pages`: `MIN-MAX` or a single count.
    pub fn parse_pages(text: &str) -> Result<(usize, usize)> {
        let number = |s: &str| -> Result<usize> {
            s.trim()
                .parse::<usize>()
                .with_context(|| format!("--pages {text:?}: {s:?} is not a page count"))
        };
        let (min, max) = match text.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(text)?;
                (n, n)
            }
        };
        if min == 0 || max < min || max > 5000 {
            bail!("--pages {text:?}: need 1 <= MIN <= MAX <= 5000");
        }
        Ok((min, max))
    }
}

/// One defect as injected: what a checker should find.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InjectedDefect {
    pub kind: FindingKind,
    /// Bag-relative path (`data/...`); none for a defect of the whole bag (Payload-Oxum).
    #[serde(default)]
    pub file: Option<String>,
    /// 1-based page; none when the defect is about the whole file.
    #[serde(default)]
    pub page: Option<usize>,
    /// The Akte id as in the inventory (none for the extra file and the Payload-Oxum).
    #[serde(default)]
    pub item: Option<String>,
    pub note: String,
}

/// `defects.json`: the lot and every injected defect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryTruth {
    pub generator: String,
    pub seed: u64,
    /// The lot (bag-info.txt's External-Identifier).
    pub lot: String,
    /// Resolution of the lot's clean pages.
    pub dpi: u32,
    /// Rows of the inventory.
    pub items: usize,
    /// Files, pages and bytes in `bag/data` as written.
    pub payload_files: usize,
    pub payload_pages: usize,
    pub payload_bytes: u64,
    /// Largest skew of a page without a `skewed` defect, degrees.
    pub clean_max_skew_deg: f64,
    pub defects: Vec<InjectedDefect>,
}

impl DeliveryTruth {
    pub fn load(path: &Path) -> Result<DeliveryTruth> {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid {DEFECTS_FILE}", path.display()))
    }
}

/// The result of [`generate_delivery`].
#[derive(Debug, Clone)]
pub struct DeliveryOutcome {
    pub truth: DeliveryTruth,
    /// Pages rendered (the missing file's included).
    pub rendered_pages: usize,
}

// ---------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------

/// What is wrong with one page of an Akte.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PageFault {
    /// Turned by this many degrees, positive = counter-clockwise.
    Skew(f64),
    UpsideDown,
    Blank,
    /// A dark band of this width (px at 300 dpi) along an edge.
    Border(Edge, u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    Top,
    Right,
    Bottom,
    Left,
}

impl Edge {
    fn english(self) -> &'static str {
        match self {
            Edge::Top => "top",
            Edge::Right => "right",
            Edge::Bottom => "bottom",
            Edge::Left => "left",
        }
    }
}

/// The kinds of Akten: id prefix, name on the cover, unit code.
const AKTEN_KINDS: [(&str, &str, &str); 6] = [
    ("BA", "Bauakte", "60"),
    ("BP", "Bebauungsplan", "61"),
    ("GW", "Gewerbeakte", "10"),
    ("HY", "Hygieneakte", "50.4"),
    ("VG", "Vergabeakte", "60"),
    ("BS", "Brandschauakte", "37"),
];

const SUPPLEMENTS: &[&str] = &[
    "Dachausbau",
    "Nutzungsänderung",
    "Wintergarten",
    "Stellplätze",
    "Anbau Süd",
];

#[derive(Debug, Clone)]
struct Akte {
    id: String,
    /// Index into [`AKTEN_KINDS`].
    kind: usize,
    title: String,
    year: u32,
    /// Frames of the TIFF.
    pages: usize,
    /// What the inventory says.
    inventory_pages: usize,
    gray: bool,
    dpi: u32,
    fault: Option<(usize, PageFault)>,
    seed: u64,
    in_inventory: bool,
    in_manifest: bool,
    on_disk: bool,
    altered: bool,
    /// Index of the Akte whose bytes this one repeats.
    copy_of: Option<usize>,
}

impl Akte {
    fn rel(&self) -> String {
        format!("data/{}.tif", self.id)
    }
}

fn plan_akte(rng: &mut Rng, serial: usize, spec: &DeliverySpec) -> Akte {
    let seed = rng.next_u64();
    let kind = rng.below(AKTEN_KINDS.len());
    let year = rng.between(1958, 2004);
    let (prefix, name, _) = AKTEN_KINDS[kind];
    let number = rng.between(1, 99);
    let mut title = match prefix {
        "BA" => format!(
            "{name} {} {number}, Gemarkung {}",
            rng.pick(STREETS),
            rng.pick(CADASTRAL_DISTRICTS)
        ),
        "BP" => format!(
            "{name} „{}“, {} {number}",
            rng.pick(PLAN_NAMES),
            rng.pick(PLAN_CODES)
        ),
        "GW" => format!(
            "{name} {}",
            rng.pick(COMPANY_PATTERNS)
                .replace("{last}", rng.pick(LAST_NAMES))
        ),
        "HY" => format!("Lebensmittelüberwachung {}", rng.pick(EATERIES)),
        "VG" => format!("{name} {}", rng.pick(MEASURES)),
        _ => format!("{name} {} {number}", rng.pick(STREETS)),
    };
    let r = rng.unit();
    if r < 0.2 {
        title.push_str(&format!("; Band {}", rng.between(2, 4)));
    } else if r < 0.35 {
        title.push_str(&format!(" (Nachtrag \"{}\")", rng.pick(SUPPLEMENTS)));
    }
    let pages = rng.between(spec.min_pages as u32, spec.max_pages as u32) as usize;
    let gray = rng.chance(GRAY_SHARE);
    Akte {
        id: format!("{prefix}-{year}-{serial:05}"),
        kind,
        title,
        year,
        pages,
        inventory_pages: pages,
        gray,
        dpi: spec.dpi,
        fault: None,
        seed,
        in_inventory: true,
        in_manifest: true,
        on_disk: true,
        altered: false,
        copy_of: None,
    }
}

/// The random stream of the defects: apart from the lot's, so the clean Akten do not
/// change when defects are added.
fn defect_stream(seed: u64) -> Rng {
    Rng::new(seed ^ 0x6465_6665_6374_7321)
}

/// A middle page (0-based): never the first (the cover), never the last.
fn middle_page(rng: &mut Rng, pages: usize) -> usize {
    rng.between(1, (pages - 2) as u32) as usize
}

// ---------------------------------------------------------------------------------------
// Generating
// ---------------------------------------------------------------------------------------

/// Writes a delivery (bag, inventory, defects.json) into `out` (created if missing; must
/// not hold a bag yet).
pub fn generate_delivery(spec: &DeliverySpec, out: &Path) -> Result<DeliveryOutcome> {
    let needed: usize = spec.defects.iter().map(|d| d.akten_needed()).sum();
    if spec.files == 0 {
        bail!("--files must be at least 1");
    }
    if spec.files < needed {
        bail!(
            "the defects asked for need {needed} Akten of their own; --files is {}",
            spec.files
        );
    }
    if !(100..=1200).contains(&spec.dpi) {
        bail!("--dpi {} is outside 100-1200", spec.dpi);
    }
    let (min, max) = (spec.min_pages, spec.max_pages);
    if min == 0 || max < min {
        bail!("page range {min}-{max} is empty");
    }
    let bag = out.join(BAG_DIR);
    if bag.exists() {
        bail!("{} already holds a bag", out.display());
    }
    let data = bag.join("data");
    fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let fonts = load_fonts()?;

    // The lot.
    let mut rng = Rng::new(spec.seed);
    let lot = format!("LOS-2026-{:03}", rng.between(1, 999));
    let bagging_date = format!("2026-{:02}-{:02}", rng.between(1, 12), rng.between(1, 28));
    let mut akten: Vec<Akte> = (1..=spec.files)
        .map(|serial| plan_akte(&mut rng, serial, spec))
        .collect();
    let low_dpi = spec.dpi / 2;

    // The defects, each on Akten of its own.
    let mut drng = defect_stream(spec.seed);
    let mut free: Vec<usize> = (0..akten.len()).collect();
    drng.shuffle(&mut free);
    let mut free = free.into_iter();
    let mut take = |akten: &mut Vec<Akte>| -> usize {
        let i = free.next().expect("enough Akten were checked above");
        akten[i].pages = akten[i].pages.max(3);
        akten[i].inventory_pages = akten[i].pages;
        i
    };
    let mut defects: Vec<InjectedDefect> = Vec::new();
    let mut oxum_delta = None;
    let wanted = Defect::ALL.into_iter().filter(|d| spec.defects.contains(d));
    for defect in wanted {
        match defect {
            Defect::MissingFile => {
                let i = take(&mut akten);
                akten[i].on_disk = false;
            }
            Defect::ExtraFile => {
                let mut extra = plan_akte(&mut rng, spec.files + 1, spec);
                extra.in_inventory = false;
                extra.in_manifest = false;
                akten.push(extra);
            }
            Defect::AlteredFile => {
                let i = take(&mut akten);
                akten[i].altered = true;
            }
            Defect::PayloadOxumMismatch => {
                oxum_delta = Some(i64::from(drng.between(1, 90_000)));
            }
            Defect::PageCountMismatch => {
                let i = take(&mut akten);
                let a = &mut akten[i];
                a.inventory_pages = if drng.chance(0.5) {
                    a.pages + 1
                } else {
                    a.pages - 1
                };
            }
            Defect::LowResolution => {
                let i = take(&mut akten);
                akten[i].dpi = low_dpi;
            }
            Defect::Skewed => {
                let i = take(&mut akten);
                let page = middle_page(&mut drng, akten[i].pages);
                let sign = if drng.chance(0.5) { 1.0 } else { -1.0 };
                let angle = (sign * drng.uniform(3.0, 4.0) * 100.0).round() / 100.0;
                akten[i].fault = Some((page, PageFault::Skew(angle)));
            }
            Defect::WrongOrientation => {
                let i = take(&mut akten);
                let page = middle_page(&mut drng, akten[i].pages);
                akten[i].fault = Some((page, PageFault::UpsideDown));
            }
            Defect::BlankPage => {
                let i = take(&mut akten);
                let page = middle_page(&mut drng, akten[i].pages);
                akten[i].fault = Some((page, PageFault::Blank));
            }
            Defect::BlackBorder => {
                let i = take(&mut akten);
                let page = middle_page(&mut drng, akten[i].pages);
                let edge = drng.pick(&[Edge::Top, Edge::Right, Edge::Bottom, Edge::Left]);
                let width = drng.between(130, 220);
                akten[i].fault = Some((page, PageFault::Border(edge, width)));
            }
            Defect::DuplicateFile => {
                let (a, b) = (take(&mut akten), take(&mut akten));
                // The copy is the one whose path sorts last.
                let (original, copy) = if akten[a].rel() < akten[b].rel() {
                    (a, b)
                } else {
                    (b, a)
                };
                akten[copy].copy_of = Some(original);
                akten[copy].pages = akten[original].pages;
                akten[copy].inventory_pages = akten[original].pages;
            }
        }
    }

    // Render and write every Akte that has bytes of its own, in parallel.
    let rendered: Vec<Rendered> = akten
        .par_iter()
        .with_max_len(1)
        .map(|akte| {
            if akte.copy_of.is_some() {
                return Ok(Rendered::default());
            }
            let bytes = render_akte(akte, &fonts)
                .with_context(|| format!("cannot render Akte {}", akte.id))?;
            write_akte(akte, bytes, &bag)
        })
        .collect::<Result<_>>()?;
    let mut rendered = rendered;
    for (i, akte) in akten.iter().enumerate() {
        if let Some(original) = akte.copy_of {
            let from = bag.join(akten[original].rel());
            let to = bag.join(akte.rel());
            fs::copy(&from, &to)
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
            rendered[i] = rendered[original].clone();
            rendered[i].altered_at = None;
        }
    }

    // Truth of the file defects, in the order of the Akten.
    for (akte, r) in akten.iter().zip(&rendered) {
        let rel = akte.rel();
        // An extra file is in no inventory row: a checker cannot know its id.
        let item = akte.in_inventory.then(|| akte.id.clone());
        let defect = |kind, page: Option<usize>, note: String| InjectedDefect {
            kind,
            file: Some(rel.clone()),
            page,
            item: item.clone(),
            note,
        };
        if !akte.on_disk {
            defects.push(defect(
                FindingKind::MissingFile,
                None,
                format!(
                    "listed in manifest-sha256.txt ({} bytes, {} pages) but not in data/",
                    r.bytes, r.frames
                ),
            ));
            defects.push(defect(
                FindingKind::NotDelivered,
                None,
                format!(
                    "inventory.csv lists Akte {} with this file; it was not delivered",
                    akte.id
                ),
            ));
        }
        if !akte.in_manifest {
            defects.push(defect(
                FindingKind::ExtraFile,
                None,
                format!(
                    "in data/ ({} pages) but not in manifest-sha256.txt",
                    r.frames
                ),
            ));
            defects.push(defect(
                FindingKind::NotOrdered,
                None,
                "in no row of inventory.csv".to_string(),
            ));
        }
        if let Some((offset, from, to)) = r.altered_at {
            defects.push(defect(
                FindingKind::AlteredFile,
                None,
                format!(
                    "byte at offset {offset} changed from 0x{from:02x} ({:?}) to 0x{to:02x} ({:?}) \
                     after the manifest was written (first letter of page 1's ImageDescription; \
                     every page still decodes)",
                    from as char, to as char
                ),
            ));
        }
        if akte.inventory_pages != akte.pages {
            defects.push(defect(
                FindingKind::PageCountMismatch,
                None,
                format!(
                    "inventory.csv says {} pages, the TIFF has {}",
                    akte.inventory_pages, akte.pages
                ),
            ));
        }
        if akte.dpi != spec.dpi {
            let (w, h) = page_size(akte.dpi);
            defects.push(defect(
                FindingKind::LowResolution,
                None,
                format!(
                    "all {} pages scanned at {} dpi ({w} x {h} px, tagged {} dpi); the lot has {} dpi",
                    akte.pages, akte.dpi, akte.dpi, spec.dpi
                ),
            ));
        }
        if let Some((page, fault)) = akte.fault {
            let (kind, note) = match fault {
                PageFault::Skew(angle) => (
                    FindingKind::Skewed,
                    format!(
                        "turned {:.2} degrees {} (clean pages: under {CLEAN_MAX_SKEW_DEG} degrees)",
                        angle.abs(),
                        if angle > 0.0 {
                            "counter-clockwise"
                        } else {
                            "clockwise"
                        }
                    ),
                ),
                PageFault::UpsideDown => (
                    FindingKind::WrongOrientation,
                    "upside down (turned 180 degrees)".to_string(),
                ),
                PageFault::Blank => (
                    FindingKind::BlankPage,
                    format!(
                        "an empty page (white, a little dust) between pages {} and {} of {}",
                        page,
                        page + 2,
                        akte.pages
                    ),
                ),
                PageFault::Border(edge, width) => (
                    FindingKind::BlackBorder,
                    format!(
                        "dark band {} px ({:.0} mm) wide along the {} edge",
                        width * akte.dpi / DPI,
                        f64::from(width) * 25.4 / f64::from(DPI),
                        edge.english()
                    ),
                ),
            };
            defects.push(defect(kind, Some(page + 1), note));
        }
        if let Some(original) = akte.copy_of {
            defects.push(defect(
                FindingKind::DuplicateFile,
                None,
                format!(
                    "the same bytes as {} (Akte {}); both are in manifest and inventory",
                    akten[original].rel(),
                    akten[original].id
                ),
            ));
        }
    }

    // The bag's tag files.
    let mut manifest: Vec<(String, String)> = akten
        .iter()
        .zip(&rendered)
        .filter(|(a, _)| a.in_manifest)
        .map(|(a, r)| (a.rel(), r.sha256.clone()))
        .collect();
    manifest.sort();
    let manifest_text: String = manifest
        .iter()
        .map(|(rel, hash)| format!("{hash}  {rel}\n"))
        .collect();
    let on_disk = || {
        akten
            .iter()
            .zip(&rendered)
            .filter(|(a, _)| a.on_disk)
            .map(|(_, r)| r)
    };
    let payload_bytes: u64 = on_disk().map(|r| r.bytes).sum();
    let payload_files = on_disk().count();
    let payload_pages: usize = on_disk().map(|r| r.frames).sum();
    let oxum = format!("{payload_bytes}.{payload_files}");
    let stated_oxum = match oxum_delta {
        Some(delta) => {
            let wrong = (payload_bytes as i64 + delta).max(0);
            let wrong = format!("{wrong}.{payload_files}");
            defects.push(InjectedDefect {
                kind: FindingKind::PayloadOxumMismatch,
                file: None,
                page: None,
                item: None,
                note: format!(
                    "bag-info.txt says Payload-Oxum: {wrong}; the payload is {oxum} \
                     (octets.streamcount)"
                ),
            });
            wrong
        }
        None => oxum,
    };
    let bagit_text = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";
    let bag_info = format!(
        "Source-Organization: {SOURCE_ORGANIZATION}\n\
         Organization-Address: Hafenstraße 12, 38112 Braunschweig\n\
         Contact-Name: Jana Köhler\n\
         External-Description: Digitalisierung von Altakten der Stadt Braunschweig\n\
         External-Identifier: {lot}\n\
         Bagging-Date: {bagging_date}\n\
         Bag-Software-Agent: {GENERATOR} delivery\n\
         Payload-Oxum: {stated_oxum}\n"
    );
    let mut tag_manifest = String::new();
    for (name, text) in [
        ("bag-info.txt", bag_info.as_str()),
        ("bagit.txt", bagit_text),
        ("manifest-sha256.txt", manifest_text.as_str()),
    ] {
        let path = bag.join(name);
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        tag_manifest.push_str(&format!(
            "{}  {name}\n",
            crate::fsutil::sha256_hex(text.as_bytes())
        ));
    }
    let path = bag.join("tagmanifest-sha256.txt");
    fs::write(&path, tag_manifest).with_context(|| format!("cannot write {}", path.display()))?;

    // The inventory.
    let mut csv = String::from("\u{feff}akte;pfad;seiten;titel\r\n");
    for akte in akten.iter().filter(|a| a.in_inventory) {
        let row = [
            akte.id.clone(),
            format!("{}.tif", akte.id),
            akte.inventory_pages.to_string(),
            akte.title.clone(),
        ];
        let fields: Vec<String> = row.iter().map(|f| csv_field(f, ';')).collect();
        csv.push_str(&fields.join(";"));
        csv.push_str("\r\n");
    }
    let path = out.join(INVENTORY_FILE);
    fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;

    let truth = DeliveryTruth {
        generator: format!("{GENERATOR} delivery (seed {})", spec.seed),
        seed: spec.seed,
        lot,
        dpi: spec.dpi,
        items: akten.iter().filter(|a| a.in_inventory).count(),
        payload_files,
        payload_pages,
        payload_bytes,
        clean_max_skew_deg: CLEAN_MAX_SKEW_DEG,
        defects,
    };
    let path = out.join(DEFECTS_FILE);
    let json = serde_json::to_string_pretty(&truth)? + "\n";
    fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    let rendered_pages = akten
        .iter()
        .zip(&rendered)
        .filter(|(a, _)| a.copy_of.is_none())
        .map(|(_, r)| r.frames)
        .sum();
    Ok(DeliveryOutcome {
        truth,
        rendered_pages,
    })
}

/// A CSV field as RFC 4180 writes it: quoted when it holds the separator, a quote or a
/// line break, quotes doubled.
fn csv_field(text: &str, separator: char) -> String {
    if text.contains([separator, '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// An Akte's file as written (or, for a missing file, as it would have been).
#[derive(Debug, Clone, Default)]
struct Rendered {
    bytes: u64,
    /// SHA-256 before any alteration: what the manifest says.
    sha256: String,
    frames: usize,
    /// Offset, old and new byte of the altered file.
    altered_at: Option<(usize, u8, u8)>,
}

fn write_akte(akte: &Akte, mut bytes: Vec<u8>, bag: &Path) -> Result<Rendered> {
    let mut rendered = Rendered {
        bytes: bytes.len() as u64,
        sha256: crate::fsutil::sha256_hex(&bytes),
        frames: akte.pages,
        altered_at: None,
    };
    if akte.altered {
        let needle = description(akte, 0);
        let offset = find(&bytes, needle.as_bytes())
            .with_context(|| format!("no ImageDescription {needle:?} in the file to alter"))?;
        let from = bytes[offset];
        let to = from.to_ascii_lowercase();
        bytes[offset] = to;
        rendered.altered_at = Some((offset, from, to));
    }
    if akte.on_disk {
        let path = bag.join(akte.rel());
        fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(rendered)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The ImageDescription of a page (0-based index).
fn description(akte: &Akte, index: usize) -> String {
    format!("Akte {}, Seite {} von {}", akte.id, index + 1, akte.pages)
}

/// Width and height of an A4 page at `dpi`.
fn page_size(dpi: u32) -> (u32, u32) {
    if dpi == DPI {
        (PAGE_W, PAGE_H)
    } else {
        (
            (f64::from(PAGE_W) * f64::from(dpi) / f64::from(DPI)).round() as u32,
            (f64::from(PAGE_H) * f64::from(dpi) / f64::from(DPI)).round() as u32,
        )
    }
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

/// Fewest text lines on a letter page of an Akte.
const MIN_LINES: usize = 14;

/// The pages of an Akte after its cover: letters from the sample generator, one after
/// the other, each drawn from its own stream.
struct Letters<'a> {
    fonts: &'a Fonts,
    rng: Rng,
    queue: VecDeque<(usize, PageLayout)>,
}

impl Letters<'_> {
    fn next_page(&mut self) -> Result<(usize, PageLayout)> {
        loop {
            if let Some(page) = self.queue.pop_front() {
                return Ok(page);
            }
            let mut letter_rng = self.rng.fork();
            let mut case_rng = self.rng.fork();
            let sheets = self.rng.between(1, 3) as usize;
            let letter = compose_letter(
                &mut letter_rng,
                &mut case_rng,
                &self.fonts.families,
                sheets,
                RoutingCase::Addressed,
            )?;
            let family = letter.family;
            // A letter's last page may hold only its closing: too little text for a
            // checker to tell its orientation or legibility, so it is left out.
            self.queue.extend(
                letter
                    .pages
                    .into_iter()
                    .filter(|page| page.lines.len() >= MIN_LINES)
                    .map(|page| (family, page)),
            );
        }
    }
}

/// The cover of an Akte (Aktendeckel), centred lines in one family.
fn cover_layout(akte: &Akte, ts: &Typesetter, rng: &mut Rng) -> PageLayout {
    let (_, kind_name, unit) = AKTEN_KINDS[akte.kind];
    let unit_name = UNITS
        .iter()
        .find(|(code, _)| *code == unit)
        .map_or("", |(_, name)| *name);
    let mut lines = Vec::new();
    let mut y = mm(28.0);
    let mut push = |text: String, style: Style, y: &mut f32, advance: f32| {
        lines.push(PlacedLine {
            x: ts.x_for(style, &text, Align::Center),
            y: *y,
            text,
            style,
        });
        *y += advance;
    };
    push(
        "Stadt Braunschweig".into(),
        Style::bold(22.0),
        &mut y,
        mm(12.0),
    );
    push(
        unit_name.to_string(),
        Style::regular(13.0),
        &mut y,
        mm(40.0),
    );
    push(kind_name.to_string(), Style::bold(30.0), &mut y, mm(22.0));
    let title_style = Style::regular(17.0);
    for line in ts.wrap(title_style, &akte.title, mm(150.0)) {
        push(line, title_style, &mut y, mm(9.0));
    }
    y = y.max(mm(150.0));
    let end = akte.year + rng.between(1, 25);
    let body = Style::regular(13.0);
    let case = format!(
        "Aktenzeichen: {unit}.{}-{:04}/{}",
        rng.between(1, 9),
        rng.between(1, 9999),
        akte.year
    );
    push(case, body, &mut y, mm(8.0));
    push(format!("Akten-Nr.: {}", akte.id), body, &mut y, mm(8.0));
    push(
        format!("Laufzeit: {} bis {end}", akte.year),
        body,
        &mut y,
        mm(8.0),
    );
    let keep = if rng.chance(0.5) {
        "Aufbewahrung: dauernd (Archivgut)".to_string()
    } else {
        format!("Aufbewahrungsfrist: {} Jahre", rng.pick(&[10, 30, 50]))
    };
    push(keep, body, &mut y, mm(8.0));
    let mut y = mm(262.0);
    push(
        "Bitte keine Blätter entnehmen".into(),
        Style::regular(10.0),
        &mut y,
        0.0,
    );
    PageLayout { lines }
}

/// Renders all pages of an Akte and encodes them as one TIFF, page by page (only one page
/// image is held at a time).
fn render_akte(akte: &Akte, fonts: &Fonts) -> Result<Vec<u8>> {
    let mut rng = Rng::new(akte.seed);
    let mut letters = Letters {
        fonts,
        rng: rng.fork(),
        queue: VecDeque::new(),
    };
    let mut scan_rng = rng.fork();
    let cover_family = rng.below(fonts.families.len());
    let mut cover_rng = rng.fork();
    let paper = rng.between(226, 246) as f32;
    let ink = rng.between(18, 48) as f32;
    let tone: Vec<u8> = (0..=255u32)
        .map(|v| (paper - (255.0 - v as f32) / 255.0 * (paper - ink)).round() as u8)
        .collect();

    let mut cursor = Cursor::new(Vec::new());
    {
        let mut tiff = TiffEncoder::new(&mut cursor).context("cannot start TIFF")?;
        if akte.gray {
            tiff = tiff.with_compression(Compression::Deflate(DeflateLevel::Fast));
        }
        // Two page buffers for the whole Akte: the flat page and the scan.
        let mut flat = GrayImage::new(PAGE_W, PAGE_H);
        let mut image = GrayImage::new(PAGE_W, PAGE_H);
        for index in 0..akte.pages {
            let mut page_rng = scan_rng.fork();
            let (family, layout) = if index == 0 {
                let ts = Typesetter {
                    family: &fonts.families[cover_family],
                };
                (cover_family, cover_layout(akte, &ts, &mut cover_rng))
            } else {
                letters.next_page()?
            };
            let fault = akte
                .fault
                .and_then(|(page, fault)| (page == index).then_some(fault));
            let skew = page_rng.uniform(-CLEAN_MAX_SKEW_DEG, CLEAN_MAX_SKEW_DEG);
            let speckles = page_rng.between(5, 30) as usize;
            if fault == Some(PageFault::Blank) {
                image.fill(255);
            } else {
                flat.fill(255);
                let ts = Typesetter {
                    family: &fonts.families[family],
                };
                draw_page(&mut flat, &layout, &ts);
                match fault {
                    Some(PageFault::Skew(angle)) => image = skew_content(&flat, angle),
                    _ => small_skew(&flat, skew, &mut image),
                }
            }
            if fault == Some(PageFault::UpsideDown) {
                image::imageops::rotate180_in_place(&mut image);
            }
            add_speckles(&mut image, speckles, &mut page_rng);
            if akte.gray {
                // Paper and ink tone; the lid of a dark band stays darker than the ink.
                image.iter_mut().for_each(|v| *v = tone[usize::from(*v)]);
            }
            if let Some(PageFault::Border(edge, width)) = fault {
                dark_band(&mut image, edge, width, &mut page_rng);
            }
            let scan = resample(&image, akte.dpi);
            let image = scan.as_ref();
            let text = description(akte, index);
            let tags = FrameTags {
                index,
                total: akte.pages,
                dpi: akte.dpi,
                description: Some(&text),
            };
            if akte.gray {
                write_gray_frame(&mut tiff, image, &tags)?;
            } else {
                write_g4_frame(&mut tiff, image, &encode_g4(image)?, &tags)?;
            }
        }
    }
    Ok(cursor.into_inner())
}

/// Turns a page by a small angle (degrees, positive = counter-clockwise as seen on the
/// image, as [`skew_content`]) into `out` (same size), with two integer shears done in
/// one pass: a column shift s1(x), then a row shift s2(y). For angles under a degree this
/// is a rotation to within a pixel, and far cheaper than interpolating every pixel.
fn small_skew(image: &GrayImage, skew_deg: f64, out: &mut GrayImage) {
    let (w, h) = image.dimensions();
    assert_eq!(
        out.dimensions(),
        (w, h),
        "small_skew needs an output of the same size"
    );
    let t = skew_deg.to_radians().tan();
    let src = image.as_raw();
    let dst: &mut [u8] = out;
    if (t * f64::from(w.max(h))).abs() < 0.5 {
        dst.copy_from_slice(src);
        return;
    }
    dst.fill(255);
    let (wu, hu) = (w as i64, h as i64);
    // out(x, y) = in(x', y + s1(x')) with x' = x - s2(y); s1(x) = round((x - cx) t),
    // s2(y) = round((y - cy) t). Columns with the same s1 form runs.
    let cx = f64::from(w) / 2.0;
    let cy = f64::from(h) / 2.0;
    let s1: Vec<i64> = (0..w)
        .map(|x| ((f64::from(x) - cx) * t).round() as i64)
        .collect();
    let mut runs: Vec<(i64, i64, i64)> = Vec::new();
    let mut start = 0usize;
    for x in 1..=w as usize {
        if x == w as usize || s1[x] != s1[start] {
            runs.push((start as i64, x as i64, s1[start]));
            start = x;
        }
    }
    for y in 0..hu {
        let s2 = ((y as f64 - cy) * t).round() as i64;
        for &(x0, x1, s) in &runs {
            let from_y = y + s;
            // Source columns x0..x1 land at x0 + s2 .. x1 + s2, clipped to the page.
            let lo = x0.max(-s2);
            let hi = x1.min(wu - s2);
            if !(0..hu).contains(&from_y) || lo >= hi {
                continue;
            }
            let (from, to) = (from_y * wu, y * wu + s2);
            dst[(to + lo) as usize..(to + hi) as usize]
                .copy_from_slice(&src[(from + lo) as usize..(from + hi) as usize]);
        }
    }
}

/// A dark band along an edge of the scan (the lid showing where the paper did not
/// cover the glass), `width` px at 300 dpi, with a slightly wavy inner edge.
fn dark_band(image: &mut GrayImage, edge: Edge, width: u32, rng: &mut Rng) {
    let (w, h) = image.dimensions();
    let gray = rng.between(4, 30) as u8;
    let amplitude = rng.uniform(1.0, 4.0);
    let period = rng.uniform(400.0, 1200.0);
    let phase = rng.uniform(0.0, std::f64::consts::TAU);
    let length = match edge {
        Edge::Top | Edge::Bottom => w,
        Edge::Left | Edge::Right => h,
    };
    for t in 0..length {
        let wave = amplitude * (f64::from(t) / period * std::f64::consts::TAU + phase).sin();
        let depth = (f64::from(width) + wave).round().max(1.0) as u32;
        for d in 0..depth {
            let (x, y) = match edge {
                Edge::Top => (t, d),
                Edge::Bottom => (t, h.saturating_sub(1 + d)),
                Edge::Left => (d, t),
                Edge::Right => (w.saturating_sub(1 + d), t),
            };
            if x < w && y < h {
                image.put_pixel(x, y, Luma([gray]));
            }
        }
    }
}

/// The page (rendered at 300 dpi) at `dpi`: as is, halved by 2x2 averaging, or resized.
fn resample(image: &GrayImage, dpi: u32) -> std::borrow::Cow<'_, GrayImage> {
    use std::borrow::Cow;
    if dpi == DPI {
        return Cow::Borrowed(image);
    }
    let (w, h) = image.dimensions();
    if dpi * 2 == DPI {
        return Cow::Owned(GrayImage::from_fn(w / 2, h / 2, |x, y| {
            let sum: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                .iter()
                .map(|(dx, dy)| u32::from(image.get_pixel(2 * x + dx, 2 * y + dy).0[0]))
                .sum();
            Luma([((sum + 2) / 4) as u8])
        }));
    }
    let scale = |n: u32| ((f64::from(n) * f64::from(dpi) / f64::from(DPI)).round() as u32).max(1);
    Cow::Owned(image::imageops::resize(
        image,
        scale(w),
        scale(h),
        image::imageops::FilterType::Triangle,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{decode_frame_bytes, Format, Limits};
    use crate::leptonica::Pix;
    use std::collections::BTreeMap;

    const LIMITS: Limits = Limits {
        max_pixels: 100_000_000,
        assume_dpi: 300,
    };

    fn spec(files: usize, pages: (usize, usize), seed: u64, defects: &str) -> DeliverySpec {
        DeliverySpec {
            files,
            min_pages: pages.0,
            max_pages: pages.1,
            seed,
            defects: Defect::parse_list(defects).unwrap(),
            dpi: 300,
        }
    }

    /// Every file under `dir`, relative path to bytes.
    fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        walkdir::WalkDir::new(dir)
            .sort_by_file_name()
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(dir).unwrap();
                let rel = rel.to_string_lossy().replace('\\', "/");
                (rel, fs::read(e.path()).unwrap())
            })
            .collect()
    }

    fn frame(data: &[u8], page: usize) -> GrayImage {
        decode_frame_bytes(data, Format::Tiff, page, LIMITS)
            .unwrap()
            .to_gray()
            .into_owned()
    }

    /// XResolution = YResolution of a frame, per inch (read here: `ingest::probe` does
    /// not read RATIONAL resolution tags yet).
    fn tagged_dpi(data: &[u8], index: usize) -> u32 {
        use tiff::decoder::ifd::Value;
        use tiff::tags::Tag;
        let mut dec = tiff::decoder::Decoder::new(std::io::Cursor::new(data)).unwrap();
        dec.seek_to_image(index).unwrap();
        let mut read = |tag| match dec.get_tag(tag).unwrap() {
            Value::Rational(n, d) => n / d,
            other => panic!("{tag:?} is {other:?}"),
        };
        let (x, y) = (read(Tag::XResolution), read(Tag::YResolution));
        assert_eq!(x, y);
        assert_eq!(dec.get_tag_u32(Tag::ResolutionUnit).unwrap(), 2);
        x
    }

    /// Leptonica's skew angle (degrees) and upright confidence of a page.
    fn skew_and_upright(page: &GrayImage) -> (f32, f32) {
        let small = crate::cleanup::reduce(page, 2);
        let ink = Pix::binary_from_gray(&small, 128).unwrap();
        let (skew, confidence) = ink.find_skew_with(2, 1, 7.0).unwrap();
        assert!(confidence > 3.0, "no clear skew found ({confidence})");
        let (up, _) = ink.orientation_confidences().unwrap();
        (skew, up)
    }

    fn mean(image: &GrayImage, x: u32, y: u32, w: u32, h: u32) -> f64 {
        let mut sum = 0u64;
        for yy in y..y + h {
            for xx in x..x + w {
                sum += u64::from(image.get_pixel(xx, yy).0[0]);
            }
        }
        sum as f64 / f64::from(w * h)
    }

    /// Mean gray of the 40 px strips along the four edges: top, right, bottom, left.
    fn edge_means(image: &GrayImage) -> [f64; 4] {
        let (w, h) = image.dimensions();
        [
            mean(image, 0, 0, w, 40),
            mean(image, w - 40, 0, 40, h),
            mean(image, 0, h - 40, w, 40),
            mean(image, 0, 0, 40, h),
        ]
    }

    #[test]
    fn defect_names_are_the_finding_kind_names() {
        for defect in Defect::ALL {
            let json = serde_json::to_string(&defect.kind()).unwrap();
            assert_eq!(json, format!("\"{}\"", defect.name()));
        }
    }

    #[test]
    fn defect_lists_and_page_ranges_parse() {
        assert_eq!(Defect::parse_list("all").unwrap(), Defect::ALL.to_vec());
        assert_eq!(Defect::parse_list("none").unwrap(), vec![]);
        assert_eq!(Defect::parse_list("").unwrap(), vec![]);
        assert_eq!(
            Defect::parse_list("skewed, missing-file,skewed").unwrap(),
            vec![Defect::MissingFile, Defect::Skewed]
        );
        let e = Defect::parse_list("skewed,smudged")
            .unwrap_err()
            .to_string();
        assert!(e.contains("smudged") && e.contains("black_border"), "{e}");
        assert_eq!(DeliverySpec::parse_pages("5-30").unwrap(), (5, 30));
        assert_eq!(DeliverySpec::parse_pages("12").unwrap(), (12, 12));
        for bad in ["0-3", "7-3", "x", "3-"] {
            assert!(DeliverySpec::parse_pages(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("Bauakte Bohlweg 3", ';'), "Bauakte Bohlweg 3");
        assert_eq!(csv_field("Akte; Band 2", ';'), "\"Akte; Band 2\"");
        assert_eq!(
            csv_field("Nachtrag \"Anbau\"", ';'),
            "\"Nachtrag \"\"Anbau\"\"\""
        );
        assert_eq!(csv_field("a, b", ';'), "a, b");
    }

    #[test]
    fn small_skew_turns_the_same_way_as_skew_content() {
        let mut image = GrayImage::from_pixel(801, 401, Luma([255]));
        for x in 100..=700 {
            for y in 199..=201 {
                image.put_pixel(x, y, Luma([0]));
            }
        }
        let dark_row = |img: &GrayImage, x: u32| -> f64 {
            let rows: Vec<u32> = (0..img.height())
                .filter(|&y| img.get_pixel(x, y).0[0] < 128)
                .collect();
            rows.iter().map(|&y| f64::from(y)).sum::<f64>() / rows.len() as f64
        };
        for angle in [0.8, -0.8] {
            let mut sheared = GrayImage::new(801, 401);
            small_skew(&image, angle, &mut sheared);
            let rotated = skew_content(&image, angle);
            for x in [150, 650] {
                let (a, b) = (dark_row(&sheared, x), dark_row(&rotated, x));
                assert!((a - b).abs() <= 1.0, "{angle} at x {x}: {a} vs {b}");
            }
            // Counter-clockwise (positive): the right end is higher.
            let rise = dark_row(&sheared, 150) - dark_row(&sheared, 650);
            assert_eq!(rise > 0.0, angle > 0.0);
        }
        let mut copy = GrayImage::new(801, 401);
        small_skew(&image, 0.0, &mut copy);
        assert_eq!(copy, image);
    }

    #[test]
    fn same_arguments_give_the_same_bytes_and_defects_leave_clean_akten_alone() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        generate_delivery(&spec(4, (1, 2), 9, "none"), a.path()).unwrap();
        generate_delivery(&spec(4, (1, 2), 9, "none"), b.path()).unwrap();
        let clean = tree(a.path());
        assert_eq!(clean, tree(b.path()));
        assert!(generate_delivery(&spec(4, (1, 2), 9, "none"), a.path())
            .unwrap_err()
            .to_string()
            .contains("already holds a bag"));

        // With a skewed page on one Akte, the other Akten are the same files.
        let c = tempfile::tempdir().unwrap();
        let outcome = generate_delivery(&spec(4, (1, 2), 9, "skewed"), c.path()).unwrap();
        let skewed = outcome.truth.defects[0].file.clone().unwrap();
        let with_defect = tree(c.path());
        let payload = |t: &BTreeMap<String, Vec<u8>>| -> Vec<String> {
            t.keys()
                .filter(|k| k.starts_with("bag/data/"))
                .cloned()
                .collect()
        };
        assert_eq!(payload(&clean), payload(&with_defect));
        for rel in payload(&clean) {
            let same = clean[&rel] == with_defect[&rel];
            assert_eq!(!same, rel == format!("bag/{skewed}"), "{rel}");
        }
    }

    #[test]
    fn too_few_files_for_the_defects_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = generate_delivery(&spec(9, (3, 3), 1, "all"), dir.path()).unwrap_err();
        assert!(e.to_string().contains("need 10 Akten"), "{e}");
    }

    /// Every page-level defect is on its page and plain to see next to the clean pages:
    /// Leptonica's skew search and orientation test, the ink of a blank page, the edges.
    #[test]
    fn page_defects_stand_out_from_clean_pages() {
        let dir = tempfile::tempdir().unwrap();
        let defects = "low_resolution,skewed,wrong_orientation,blank_page,black_border";
        let outcome = generate_delivery(&spec(6, (3, 3), 21, defects), dir.path()).unwrap();
        let truth = &outcome.truth;
        assert_eq!(truth.defects.len(), 5);
        let bag = dir.path().join(BAG_DIR);
        let mut clean_pages = 0;
        for entry in fs::read_dir(bag.join("data")).unwrap() {
            let path = entry.unwrap().path();
            let rel = format!("data/{}", path.file_name().unwrap().to_string_lossy());
            let data = fs::read(&path).unwrap();
            let src = crate::ingest::probe(
                &crate::ingest::Candidate::file(path.clone(), rel.clone()),
                LIMITS,
            )
            .unwrap();
            assert_eq!(src.frames.len(), 3, "{rel}");
            let found: Vec<&InjectedDefect> = truth
                .defects
                .iter()
                .filter(|d| d.file.as_deref() == Some(rel.as_str()))
                .collect();
            let low = found.iter().any(|d| d.kind == FindingKind::LowResolution);
            for (index, info) in src.frames.iter().enumerate() {
                let page = index + 1;
                let fault = found.iter().find(|d| d.page == Some(page)).map(|d| d.kind);
                let expected_dpi = if low { 150 } else { 300 };
                assert_eq!(tagged_dpi(&data, index), expected_dpi, "{rel} {page}");
                assert_eq!(info.width, if low { 1240 } else { 2480 }, "{rel} {page}");
                let image = frame(&data, index);
                let edges = edge_means(&image);
                let dark = image.pixels().filter(|p| p.0[0] < 128).count() as f64
                    / f64::from(image.width() * image.height());
                match fault {
                    Some(FindingKind::BlankPage) => {
                        assert!(dark < 0.0002, "{rel} {page}: {dark}");
                    }
                    Some(FindingKind::BlackBorder) => {
                        assert!(
                            edges.iter().filter(|&&m| m < 60.0).count() == 1,
                            "{rel} {page}: {edges:?}"
                        );
                    }
                    Some(FindingKind::Skewed) => {
                        let (skew, _) = skew_and_upright(&image);
                        assert!((3.0..=4.1).contains(&skew.abs()), "{rel} {page}: {skew}");
                    }
                    Some(FindingKind::WrongOrientation) => {
                        let (skew, up) = skew_and_upright(&image);
                        assert!(skew.abs() < 0.3, "{rel} {page}: {skew}");
                        assert!(up < -2.0, "{rel} {page}: upright confidence {up}");
                    }
                    other => {
                        assert_eq!(other, None);
                        assert!(dark > 0.005, "{rel} {page}: {dark}");
                        assert!(edges.iter().all(|&m| m > 200.0), "{rel} {page}: {edges:?}");
                        if !low {
                            let (skew, up) = skew_and_upright(&image);
                            assert!(skew.abs() < 0.3, "{rel} {page}: {skew}");
                            assert!(up > 2.0, "{rel} {page}: upright confidence {up}");
                        }
                        clean_pages += 1;
                    }
                }
            }
        }
        assert!(clean_pages >= 10, "{clean_pages}");
    }
}

//! Deterministic generator of realistic scanned German business letters with ground truth.
//!
//! Each letter is addressed to one organisation unit of the Stadt Braunschweig and laid out
//! roughly after DIN 5008 (form B) on A4 at 300 dpi: optional letterhead, return-address line,
//! address field, date, subject, salutation, word-wrapped body, closing, signer, enclosures.
//! Body text is assembled from sentence templates whose slots (names, streets, dates, amounts,
//! file numbers ...) are filled from a per-letter set of facts, so letters read plausibly and
//! stay consistent within themselves.
//!
//! The clean pages are then "scanned": skewed by up to ±5°, some turned by 180°, 90° or
//! 270° (landscape images), put on uneven white, gray or yellowish recycled paper with
//! non-black ink, speckled, slightly blurred and noised. Some letters come from a binder:
//! every sheet has two punch holes, which turn and skew with the paper. Some scans show
//! black scanner edges: dark bands along sides of the image, axis-aligned to it. Duplex
//! letters get backs with faint mirrored bleed-through (a few a little stronger). Some
//! letters carry an almost blank page: a short handwritten note, a faded receipt stamp or
//! one typed line, on the back of the last sheet or on an extra last sheet. Pages are
//! written as gray/RGB JPEG, gray PNG or multi-page TIFF (gray Deflate/LZW or bilevel
//! CCITT G4), all tagged with 300 dpi. A batch planner makes sure even a small batch (the
//! 18-page demo) shows every format, rotation and artefact, and that the first letter page
//! of every batch is a plain one: upright, under 2° of skew.
//!
//! Everything is driven by a small PRNG seeded from [`GenerateSpec::seed`]: the same seed
//! gives byte-identical files and the same `truth.json`.
//!
//! Truth conventions: a page's `text` is every line drawn on it, top to bottom, joined with
//! `\n` (vertical gaps between paragraphs are not represented); on an almost blank page the
//! note's, stamp's or typed line's lines. `skew_deg` is positive when the page is rotated
//! counter-clockwise as seen on the scan (a note or stamp is turned a few degrees more on
//! its page, which `skew_deg` does not include); `rotation` is the clockwise quarter turn
//! of the page on the scan, so at 90 its top is at the right of a landscape image. The back
//! of a sheet, blank or not, shows the mirror of its front's geometry: opposite skew, and
//! 270 for a front at 90 (and vice versa). `black_edges` and `punch_holes` flag the
//! artefacts on each page; only `blank_back` pages are `blank`.
//!
//! # Routing cases
//!
//! Every letter is built as one routing case, and the truth records it (`routing_case`)
//! with the route mailroom must find (`route`):
//!
//! - **addressed** (about 60 %): the address field names the unit ("Stadt Braunschweig",
//!   "Fachbereich 61 Stadtplanung und Geoinformation", on 30 % "z. Hd. Frau Schulze",
//!   street or PO box, town); subject and body are a topic of that unit. Route: the unit.
//! - **body_only** (about 15 %): the address field names only the authority ("Stadt
//!   Braunschweig", on half of them followed by "Der Oberbürgermeister" or
//!   "Bürgerservice"), no unit and no "z. Hd."; only subject and body tell the unit.
//!   Route: the topic's unit.
//! - **ambiguous** (about 5 %): address as in body_only; the subject names matters of two
//!   different units ("A sowie B", "A; B", "A und B"), the first paragraph brings up both,
//!   and the body takes sentences of both topics in turn. Route: clarification.
//! - **no_topic** (about 4 %): address as in body_only; a generic letter (an inquiry,
//!   thanks, a change of address, a request to call back) without any unit's vocabulary.
//!   Route: clarification.
//! - **confidential_marked** (about 8 %): addressed as usual to a unit, with a mark
//!   ("Persönlich", "Vertraulich", "Persönlich/Vertraulich", "Persönlich - vertraulich",
//!   "PERSÖNLICH" ..., 40 % bold) in DIN 5008's Zusatz- und Vermerkzone: below the return
//!   line (which moves up to about 49-54 mm), right above the recipient lines or one line
//!   higher. Route: unopened.
//! - **confidential_person** (about 8 %): a person's name above the authority ("Herrn Dr.
//!   Klaus Meier" / "Stadt Braunschweig" / unit / street / town; "Frau" or "Herrn", some
//!   with "Dr.", "Prof. Dr." or "Dipl.-Ing."), greeted by name. Route: unopened. (A "z.
//!   Hd." line *below* the authority is ordinary mail.)
//!
//! The first letter of a batch is addressed, and a case not seen yet is forced from the
//! 3rd (body_only), 4th (confidential_marked), 6th (confidential_person), 7th (ambiguous)
//! and 8th letter (no_topic) on, so the demo shows all six. Letters that hide their unit
//! (ambiguous, no_topic) use no template with a file number (it starts with the unit's
//! code), get no "Ihr Zeichen" line, no handwritten note naming a unit and, in streams, no
//! unrelated barcode naming one. Only the address field counts: body text may well say
//! "persönlich" ("einem persönlichen Vorstellungsgespräch"). `unit` in the truth is the
//! unit the letter was written for (an ambiguous letter: its first topic's; a no_topic
//! letter: a unit it does not show).
//!
//! The cases and what they add come from a random stream of their own, and a letter of
//! any case makes the draws of the addressed letter it stands in for: so the routing
//! cases change the letters' text, but a classic batch keeps its files, formats and scan
//! artefacts (the demo's page geometry is the same as before them), unless an ambiguous
//! or no_topic letter comes out shorter than the letter it stands in for. In a stream the
//! separators change where a confidential letter refuses a cover sheet.
//!
//! # Stream batches (`GenerateSpec::stream`, `mailroom-lab generate --stream`)
//!
//! The night's mail as one stack of sheets, to be run with `profiles/stream.toml`. The
//! letters are drawn exactly as above (same planner and random streams per letter); what
//! changes:
//!
//! - **Separator sheets** in front of every letter but the first, which has one half of
//!   the time: mailroom cover sheets (about 40 % of the separators in front of letters that
//!   are not confidential, none in front of confidential ones: `coversheet::pdf` rasterised
//!   at 300 dpi with poppler's `pdftoppm`, for the letter's unit (see `unit` above: an
//!   ambiguous or no_topic letter behind a cover sheet is routed to the cover sheet's
//!   unit, and its truth says so), with the unit's name on 80 %, an
//!   Aktenzeichen on 70 % and the letter's count of pages with content on 70 %, about 15 %
//!   of the counts deliberately off by -1, +1 or +2, never 0), Kodak patch sheets (about
//!   35 %: the bars 10-15 mm below the top edge, then "Trennblatt", "Patch T" and two or
//!   three lines of small print for the orientation detection) and separator barcode sheets
//!   (about 25 %: Code 39 `PATCHT` or Code 128 `SEP-` + 5 digits, module 4-6 px, bars
//!   15-25 mm tall, with the same kind of label). The first twelve separators are a
//!   shuffled set of six patch sheets (one per code), four cover sheets and both separator
//!   barcodes, so every stream of 13 letters or more shows all of them (patch sheets are
//!   over-represented in small batches for that; a cover sheet due in front of a
//!   confidential letter trades places with the next other sheet of the set, which can
//!   push the last cover sheet of the set one letter later). About 30 % are scanned
//!   duplex with a blank back; they get the letters' paper, dust, blur, noise and black
//!   edges, skew within ±3°, and about 15 % lie upside down, among them from the second
//!   separator on the first patch sheet of each pair 1/6 and 3/T (read from the other end
//!   those codes swap: the label lets the orientation be found).
//! - **Unrelated barcodes** on about 35 % of the letters: one or two symbols on one letter
//!   page, printed before the scan so they skew, turn, blur and get noise with the page: a
//!   parcel label (Code 128 `JJD00` + 15 digits), an EAN-13 and an ITF-14 with valid check
//!   digits, an EPC GiroCode QR, a franking-mark DataMatrix, a PDF417 text line and a Code
//!   39 file reference. None matches the separator pattern or starts like a cover-sheet
//!   payload. They sit in free space (touching no text line), some turned by 90°, some
//!   printed in gray 80-120 (only on pages that end up in gray files: a bilevel file
//!   would lose them), with 1D modules of 3-5 px, QR and DataMatrix modules of 6-10 px,
//!   PDF417 4-6 px, and quiet zones. The symbologies come in shuffled rounds of seven and
//!   all of them are on pages by the 12th letter.
//! - **Files** `scan_00001.<ext>`, `scan_00002.<ext>`, ... hold 1-8 consecutive pages of
//!   the stream whatever the documents: multi-page G4 or short gray Deflate/LZW TIFFs,
//!   single pages also as gray or RGB JPEG, PNG or TIFF.
//!
//! Stream truth: `pages` in stream order with their `barcodes` and `patch` (a cover
//! sheet: its QR payload and Patch 2); `documents` are the letters, whose `pages` include
//! their own blank backs but never separator sheets; `separators` lists the separator
//! sheet (and its blank back) right in front of a letter, `cover` the cover sheet's fields
//! as printed (a wrong page count included). The `text` of a separator sheet is every
//! line it prints, top to bottom: for a cover sheet the text runs of the PDF's content
//! stream sorted by position (headings, values, the payload printed in 40-character lines
//! under the QR code, the footer), for patch and barcode sheets the label lines (the
//! barcode's human-readable line included).

use std::fs;
use std::io::Cursor;
use std::path::Path;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
use anyhow::{anyhow, Context, Result};
use image::codecs::jpeg::{JpegEncoder, PixelDensity};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, GrayImage, ImageEncoder, Luma, RgbImage};
use imageproc::filter::gaussian_blur_f32;
use imageproc::geometric_transformations::{rotate_about_center, Border, Interpolation};
use tiff::encoder::{colortype, Compression, DeflateLevel, Predictor, Rational, TiffEncoder};
use tiff::tags::Tag;

use crate::coversheet::{self, CoverSheet};
use crate::lab::truth::{
    ExpectedRoute, PageKind, Truth, TruthBarcode, TruthCover, TruthDocument, TruthPage, TRUTH_FILE,
    TRUTH_SCHEMA_VERSION,
};
use crate::patch::PatchType;

/// Name and version written into `truth.json`.
const GENERATOR: &str = concat!("mailroom-lab ", env!("CARGO_PKG_VERSION"));

/// Organisation units letters are addressed to: (unit code, full name).
pub const UNITS: &[(&str, &str)] = &[
    ("10", "Fachbereich 10 Zentrale Dienste"),
    ("61", "Fachbereich 61 Stadtplanung und Geoinformation"),
    ("60", "Fachbereich 60 Bauordnung und Zentrale Vergabestelle"),
    ("50.4", "Abteilung 50.4 Gesundheitsamt"),
    ("37", "Fachbereich 37 Feuerwehr"),
    ("0140", "Referat 0140 Rechnungsprüfungsamt"),
    (
        "06",
        "Fachbereich 06 Baurecht, Stadtbild, Stadtentwässerung und Abfallwirtschaft",
    ),
];

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSpec {
    /// Seed of the PRNG; the same seed gives a byte-identical batch.
    pub seed: u64,
    /// Approximate number of pages: letters are generated until at least this many pages
    /// (blank backs included; in a stream batch separator sheets too) exist.
    pub pages: usize,
    /// A stream batch (see the module documentation): separator sheets between the letters,
    /// unrelated barcodes on some letter pages, files of 1-8 pages named `scan_*` that
    /// ignore document boundaries. False gives the classic one-file-per-letter batch.
    pub stream: bool,
}

impl Default for GenerateSpec {
    fn default() -> Self {
        GenerateSpec::demo()
    }
}

impl GenerateSpec {
    /// The demo batch committed to the repository: small, but showing every format and
    /// every kind of degradation.
    pub fn demo() -> Self {
        GenerateSpec {
            seed: 20261128,
            pages: 18,
            stream: false,
        }
    }
}

/// Generates a batch of scanned letters into `out_dir` (created if missing) and returns its
/// ground truth, which is also written there as `truth.json`.
///
/// Files from an earlier run with the generator's own names (`letter_*.jpg|png|tif|pdf`,
/// `scan_*.jpg|png|tif|pdf`) are removed first, so a smaller batch never leaves stale pages
/// behind.
pub fn generate(spec: &GenerateSpec, out_dir: &Path) -> Result<Truth> {
    fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create batch folder {}", out_dir.display()))?;
    remove_previous_batch(out_dir)?;
    let fonts = load_fonts()?;

    let mut truth = Truth {
        schema_version: TRUTH_SCHEMA_VERSION,
        seed: spec.seed,
        generator: format!("{GENERATOR} generate (seed {})", spec.seed),
        pages: Vec::new(),
        documents: Vec::new(),
    };
    if spec.stream {
        truth.generator = format!("{GENERATOR} generate --stream (seed {})", spec.seed);
        generate_stream(spec, out_dir, &fonts, &mut truth)?;
        return write_truth(truth, out_dir);
    }

    let mut rng = Rng::new(spec.seed);
    let mut routing_rng = routing_stream(spec.seed);
    let mut planner = BatchPlanner::default();
    // Wide enough numbering that sorting file names always gives batch order.
    let digits = spec.pages.max(1).to_string().len().max(3);

    let mut number = 0;
    while truth.pages.len() < spec.pages {
        number += 1;
        let (letter, plan, mut letter_rng) =
            next_letter(&mut rng, &mut routing_rng, &mut planner, &fonts)?;
        let scans = scan_letter(&letter, &fonts, &plan, &mut letter_rng);
        let file_name = format!("letter_{number:0digits$}.{}", plan.format.extension());
        let bytes = encode_file(&scans, plan.format)?;
        let path = out_dir.join(&file_name);
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        record_truth(&mut truth, &letter, &scans, &file_name);
    }
    write_truth(truth, out_dir)
}

/// The next letter of a batch, composed and planned, with its own random stream, from
/// which its scan draws next. Each letter draws from its own stream, so a change in how
/// one letter is rendered does not reshuffle every letter after it. The routing case and
/// what it adds to the letter come from a stream of their own, forked per letter from
/// `routing_rng` (see [`routing_stream`]).
fn next_letter(
    rng: &mut Rng,
    routing_rng: &mut Rng,
    planner: &mut BatchPlanner,
    fonts: &Fonts,
) -> Result<(Letter, ScanPlan, Rng)> {
    let mut letter_rng = rng.fork();
    let mut case_rng = routing_rng.fork();
    let sheets = planner.sheets(&mut letter_rng);
    let case = planner.routing_case(&mut case_rng);
    let letter = compose_letter(
        &mut letter_rng,
        &mut case_rng,
        &fonts.families,
        sheets,
        case,
    )?;
    let plan = planner.plan(&mut letter_rng, letter.pages.len());
    Ok((letter, plan, letter_rng))
}

/// The random stream of the routing cases: seeded apart from the batch's main stream, so
/// the cases (added with truth schema 4) leave the draws of everything else as they were.
fn routing_stream(seed: u64) -> Rng {
    Rng::new(seed ^ 0x726F_7574_696E_6721)
}

fn write_truth(truth: Truth, out_dir: &Path) -> Result<Truth> {
    let json = serde_json::to_string_pretty(&truth).context("cannot serialise truth")?;
    let truth_path = out_dir.join(TRUTH_FILE);
    fs::write(&truth_path, json + "\n")
        .with_context(|| format!("cannot write {}", truth_path.display()))?;
    Ok(truth)
}

/// Removes page files and truth a previous run of the generator left in `dir`.
fn remove_previous_batch(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_generated_file_name(&name) && entry.path().is_file() {
            fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove stale {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn is_generated_file_name(name: &str) -> bool {
    if name == TRUTH_FILE {
        return true;
    }
    let Some(rest) = name
        .strip_prefix("letter_")
        .or_else(|| name.strip_prefix(STREAM_FILE_PREFIX))
    else {
        return false;
    };
    let Some((number, extension)) = rest.split_once('.') else {
        return false;
    };
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && matches!(extension, "jpg" | "png" | "tif" | "pdf")
}

fn record_truth(truth: &mut Truth, letter: &Letter, scans: &[ScannedPage], file: &str) {
    let first = truth.pages.len();
    for (frame, scan) in scans.iter().enumerate() {
        truth.pages.push(truth_page(scan, file, frame));
    }
    truth.documents.push(TruthDocument {
        pages: (first..truth.pages.len()).collect(),
        unit: letter.unit_code.to_string(),
        unit_name: letter.unit_name.to_string(),
        subject: letter.subject.clone(),
        separators: Vec::new(),
        cover: None,
        route: Some(letter.route(None)),
        routing_case: Some(letter.case.name().to_string()),
    });
}

fn truth_page(scan: &ScannedPage, file: &str, frame: usize) -> TruthPage {
    TruthPage {
        file: file.to_string(),
        frame: frame as u32,
        kind: scan.kind,
        text: scan.text.clone(),
        skew_deg: scan.geometry.skew_deg,
        rotation: scan.geometry.rotation,
        blank: scan.kind == PageKind::BlankBack,
        black_edges: scan.black_edges,
        punch_holes: scan.punch_holes,
        dpi: DPI,
        barcodes: scan.barcodes.clone(),
        patch: scan.patch,
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------------------

/// splitmix64: tiny, fast and good enough for test data; no external crate so the output
/// never changes under us with a dependency update.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A new independent stream.
    pub(crate) fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }

    /// Uniform in `0..n`; `n` must be positive.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform integer in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below((hi - lo + 1) as usize) as u32
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Page geometry
// ---------------------------------------------------------------------------------------

pub(crate) const DPI: u32 = 300;
/// A4 at 300 dpi.
pub(crate) const PAGE_W: u32 = 2480;
pub(crate) const PAGE_H: u32 = 3508;

pub(crate) fn mm(v: f32) -> f32 {
    v * DPI as f32 / 25.4
}

pub(crate) fn pt_to_px(pt: f32) -> f32 {
    pt * DPI as f32 / 72.0
}

/// DIN 5008 margins: 25 mm left, 20 mm right, i.e. 165 mm of text width.
const LEFT_MM: f32 = 25.0;
const RIGHT_MM: f32 = 190.0;
/// Lowest point body text may reach; below are page number and company footer.
const BODY_BOTTOM_MM: f32 = 271.0;
/// Page 1: the flow (date, subject, body ...) starts below the address field.
const FIRST_FLOW_TOP_MM: f32 = 96.0;
/// Pages 2+: below the continuation header.
const NEXT_FLOW_TOP_MM: f32 = 27.0;
/// Address field (form B): 45 mm from the top; return line at its bottom zone, address
/// lines in the "Anschriftzone" from 62.7 mm.
const RETURN_LINE_MM: f32 = 55.0;
const ADDRESS_TOP_MM: f32 = 62.7;
const ADDRESS_WIDTH_MM: f32 = 80.0;

// ---------------------------------------------------------------------------------------
// Fonts and typesetting
// ---------------------------------------------------------------------------------------

/// Regular and bold file of each family, from Debian's fonts-liberation2 and
/// fonts-dejavu-core (installed by scripts/setup.sh).
const FONT_FILES: [(&str, &str); 4] = [
    (
        "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
        "/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    ),
];

/// Italic faces for short handwritten-looking notes, also from fonts-liberation2
/// (DejaVu's oblique faces are in fonts-dejavu-extra, which setup.sh does not install).
const HAND_FONT_FILES: [&str; 2] = [
    "/usr/share/fonts/truetype/liberation2/LiberationSerif-Italic.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Italic.ttf",
];

/// The family whose bold face prints stamps (Liberation Sans).
const STAMP_FAMILY: usize = 1;

pub(crate) struct FontFamily {
    regular: FontVec,
    bold: FontVec,
}

pub(crate) struct Fonts {
    /// Letter typefaces, one per entry of [`FONT_FILES`].
    pub(crate) families: Vec<FontFamily>,
    /// Handwriting stand-ins, one per entry of [`HAND_FONT_FILES`].
    hand: Vec<FontVec>,
}

pub(crate) fn load_fonts() -> Result<Fonts> {
    let families = FONT_FILES
        .iter()
        .map(|(regular, bold)| {
            Ok(FontFamily {
                regular: load_font(regular)?,
                bold: load_font(bold)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let hand = HAND_FONT_FILES
        .iter()
        .map(|path| load_font(path))
        .collect::<Result<Vec<_>>>()?;
    Ok(Fonts { families, hand })
}

fn load_font(path: &str) -> Result<FontVec> {
    let bytes = fs::read(path).with_context(|| {
        format!(
            "font {path} is missing; install fonts-liberation2 and fonts-dejavu-core \
             (scripts/setup.sh)"
        )
    })?;
    FontVec::try_from_vec(bytes).map_err(|e| anyhow!("font {path} cannot be used: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Style {
    pub(crate) pt: f32,
    bold: bool,
}

impl Style {
    pub(crate) fn regular(pt: f32) -> Self {
        Style { pt, bold: false }
    }
    pub(crate) fn bold(pt: f32) -> Self {
        Style { pt, bold: true }
    }
}

/// Measures, wraps and draws text in one font family.
#[derive(Clone, Copy)]
pub(crate) struct Typesetter<'a> {
    pub(crate) family: &'a FontFamily,
}

impl Typesetter<'_> {
    fn font(&self, style: Style) -> &FontVec {
        if style.bold {
            &self.family.bold
        } else {
            &self.family.regular
        }
    }

    fn scale(&self, style: Style) -> PxScale {
        font_scale(self.font(style), style.pt)
    }

    /// Advance width of `text` in pixels, laid out exactly as [`draw_line`] draws it.
    fn width(&self, style: Style, text: &str) -> f32 {
        text_width(self.font(style), self.scale(style), text)
    }

    /// Greedy word wrap; a single word wider than the line stays on its own line.
    pub(crate) fn wrap(&self, style: Style, text: &str, max_width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut current = String::new();
        for word in text.split_whitespace() {
            if current.is_empty() {
                current.push_str(word);
                continue;
            }
            let candidate = format!("{current} {word}");
            if self.width(style, &candidate) <= max_width {
                current = candidate;
            } else {
                lines.push(std::mem::replace(&mut current, word.to_string()));
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
        lines
    }

    pub(crate) fn x_for(&self, style: Style, text: &str, align: Align) -> f32 {
        let left = mm(LEFT_MM);
        let right = mm(RIGHT_MM);
        match align {
            Align::Left => left,
            Align::Right => right - self.width(style, text),
            Align::Center => (left + right - self.width(style, text)) / 2.0,
        }
    }
}

/// ab_glyph scales so that ascent - descent equals the `PxScale`; convert the em size
/// that point sizes refer to.
fn font_scale(font: &FontVec, pt: f32) -> PxScale {
    let units_per_em = font.units_per_em().unwrap_or(2048.0);
    PxScale::from(pt_to_px(pt) * font.height_unscaled() / units_per_em)
}

/// Advance width of `text` in pixels, laid out exactly as [`draw_text`] draws it.
fn text_width(font: &FontVec, scale: PxScale, text: &str) -> f32 {
    let font = font.as_scaled(scale);
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(previous) = previous {
            width += font.kern(previous, id);
        }
        width += font.h_advance(id);
        previous = Some(id);
    }
    width
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
    Center,
}

/// A line of text on a page; `x`, `y` are the left edge and the top of the line box in px.
#[derive(Debug, Clone)]
pub(crate) struct PlacedLine {
    pub(crate) text: String,
    pub(crate) x: f32,
    pub(crate) y: f32,
    pub(crate) style: Style,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PageLayout {
    /// In reading order, top to bottom.
    pub(crate) lines: Vec<PlacedLine>,
}

impl PageLayout {
    fn text(&self) -> String {
        let lines: Vec<&str> = self.lines.iter().map(|l| l.text.trim_end()).collect();
        lines.join("\n")
    }
}

/// A line of the flowing part of a letter (everything from the date on).
#[derive(Debug, Clone)]
struct FlowLine {
    text: String,
    style: Style,
    align: Align,
    /// Extra space above the line in px, dropped at the top of a continuation page.
    gap_before: f32,
    height: f32,
}

#[derive(Debug, Clone)]
struct FlowBlock {
    lines: Vec<FlowLine>,
    /// Move the whole block to the next page rather than splitting it (closing, subject).
    keep_together: bool,
}

impl FlowBlock {
    fn height(&self) -> f32 {
        self.lines.iter().map(|l| l.gap_before + l.height).sum()
    }
}

/// Distributes flow blocks over pages: the first page starts at `first_top`, later pages
/// at `next_top`. Returns the placed lines of each page.
fn paginate(
    blocks: &[FlowBlock],
    ts: &Typesetter,
    first_top: f32,
    next_top: f32,
) -> Vec<Vec<PlacedLine>> {
    let bottom = mm(BODY_BOTTOM_MM);
    let mut pages: Vec<Vec<PlacedLine>> = vec![Vec::new()];
    let mut y = first_top;
    // On a fresh continuation page, gaps above the first line are dropped.
    let mut fresh = false;
    for block in blocks {
        if block.keep_together && !fresh && y + block.height() > bottom {
            pages.push(Vec::new());
            y = next_top;
            fresh = true;
        }
        for line in &block.lines {
            let mut gap = if fresh { 0.0 } else { line.gap_before };
            if !fresh && y + gap + line.height > bottom {
                pages.push(Vec::new());
                y = next_top;
                gap = 0.0;
            }
            y += gap;
            if let Some(page) = pages.last_mut() {
                page.push(PlacedLine {
                    text: line.text.clone(),
                    x: ts.x_for(line.style, &line.text, line.align),
                    y,
                    style: line.style,
                });
            }
            y += line.height;
            fresh = false;
        }
    }
    pages
}

// ---------------------------------------------------------------------------------------
// Letter content: facts, templates, topics
// ---------------------------------------------------------------------------------------

const MONTHS: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];
const MONTH_DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const YEAR: u32 = 2026;

/// A day of [`YEAR`] (not a leap year), 1-based.
#[derive(Debug, Clone, Copy)]
struct Day(u32);

impl Day {
    fn month_and_day(self) -> (usize, u32) {
        let mut rest = self.0.clamp(1, 365);
        for (month, days) in MONTH_DAYS.iter().enumerate() {
            if rest <= *days {
                return (month, rest);
            }
            rest -= days;
        }
        (11, 31)
    }

    fn long(self) -> String {
        let (month, day) = self.month_and_day();
        format!("{day}. {} {YEAR}", MONTHS[month])
    }

    fn numeric(self) -> String {
        let (month, day) = self.month_and_day();
        format!("{day:02}.{:02}.{YEAR}", month + 1)
    }

    fn offset(self, days: i64) -> Day {
        Day((i64::from(self.0) + days).clamp(1, 365) as u32)
    }
}

/// Named values a letter's templates refer to as `{name}`; fixed per letter so that a
/// letter mentions the same file number, amount and address throughout.
#[derive(Debug, Clone, Default)]
struct Facts {
    slots: Vec<(&'static str, String)>,
}

impl Facts {
    fn set(&mut self, key: &'static str, value: impl Into<String>) {
        self.slots.push((key, value.into()));
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.slots
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Replaces every `{slot}` in `template`; unknown slots stay as they are (a unit test
    /// makes sure no template uses one).
    fn fill(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            match after.find('}') {
                Some(end) => {
                    let key = &after[..end];
                    match self.get(key) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push('{');
                            out.push_str(key);
                            out.push('}');
                        }
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SenderKind {
    Person,
    Company,
    Either,
}

/// What a letter is about: the unit it goes to, its subject and the sentences that fit.
struct Topic {
    unit: &'static str,
    subject: &'static str,
    sender: SenderKind,
    sentences: &'static [&'static str],
    enclosures: &'static [&'static str],
}

const TOPICS: &[Topic] = &[
    Topic {
        unit: "10",
        subject: "Bewerbung um die Stelle als Verwaltungsfachangestellte/r, Kennziffer {kennziffer}",
        sender: SenderKind::Person,
        sentences: &[
            "Mit großem Interesse habe ich Ihre Stellenausschreibung mit der Kennziffer {kennziffer} gelesen.",
            "Derzeit bin ich in der Verwaltung eines mittelständischen Unternehmens in Salzgitter beschäftigt.",
            "Meine Ausbildung im öffentlichen Dienst habe ich im Jahr 2019 erfolgreich abgeschlossen.",
            "Zu meinen Stärken zählen eine sorgfältige Arbeitsweise, Teamfähigkeit und der sichere Umgang mit Fachverfahren.",
            "Einen frühestmöglichen Eintrittstermin kann ich Ihnen für den {frist} zusagen.",
            "Über die Einladung zu einem persönlichen Vorstellungsgespräch würde ich mich sehr freuen.",
            "Lebenslauf, Zeugnisse und Beurteilungen finden Sie in der Anlage.",
        ],
        enclosures: &["Lebenslauf", "Zeugnisse", "Beurteilung vom {bezugsdatum}"],
    },
    Topic {
        unit: "10",
        subject: "Rückfrage zur Rechnung Nr. {rechnung} vom {bezugsdatum}",
        sender: SenderKind::Company,
        sentences: &[
            "Mit der Rechnung Nr. {rechnung} haben Sie mir einen Betrag von {betrag} in Rechnung gestellt.",
            "Die abgerechneten Leistungen kann ich anhand meiner Unterlagen leider nicht vollständig nachvollziehen.",
            "Insbesondere die Position 3 der Rechnung ist aus meiner Sicht doppelt berechnet worden.",
            "Ich bitte daher um eine korrigierte Rechnung beziehungsweise um eine nachvollziehbare Aufstellung der Einzelpositionen.",
            "Bis zur Klärung werde ich lediglich den unstrittigen Anteil der Rechnung überweisen.",
            "Der Auftrag wurde seinerzeit unter der Bestellnummer {az} erteilt.",
        ],
        enclosures: &["Kopie der Rechnung Nr. {rechnung}", "Auftragsbestätigung"],
    },
    Topic {
        unit: "10",
        subject: "Beschwerde über die Terminvergabe im Bürgerbüro",
        sender: SenderKind::Person,
        sentences: &[
            "Seit mehreren Wochen versuche ich vergeblich, über das Online-Portal einen Termin im Bürgerbüro zu vereinbaren.",
            "Auch telefonisch war unter der angegebenen Rufnummer niemand zu erreichen.",
            "Mein Personalausweis läuft am {frist} ab, sodass die Angelegenheit für mich dringlich ist.",
            "Ich bitte Sie, mir kurzfristig einen Termin anzubieten oder eine andere Lösung aufzuzeigen.",
            "Eine Stadt dieser Größe sollte aus meiner Sicht eine bessere Erreichbarkeit ihrer Dienststellen sicherstellen.",
            "Besonders ältere Mitbürgerinnen und Mitbürger ohne Internetzugang sind von diesem Zustand betroffen.",
        ],
        enclosures: &[],
    },
    Topic {
        unit: "61",
        subject: "Stellungnahme zum Entwurf des Bebauungsplans {bplan}",
        sender: SenderKind::Either,
        sentences: &[
            "Im Rahmen der öffentlichen Auslegung des Bebauungsplans {bplan} nehme ich hiermit fristgerecht Stellung.",
            "Als Eigentümer des angrenzenden Grundstücks {objekt} bin ich von der Planung unmittelbar betroffen.",
            "Die vorgesehene Bebauung mit bis zu vier Vollgeschossen würde die Belichtung meines Gartens erheblich beeinträchtigen.",
            "Zudem ist zu befürchten, dass der zusätzliche Verkehr die ohnehin schmale Anliegerstraße überlastet.",
            "Ich rege an, die Baugrenzen im nördlichen Teil des Plangebiets um mindestens fünf Meter zurückzunehmen.",
            "Ferner bitte ich zu prüfen, ob die vorhandenen Bäume entlang der Grundstücksgrenze erhalten werden können.",
            "Bitte beziehen Sie meine Einwendungen in die Abwägung ein und informieren Sie mich über das Ergebnis.",
        ],
        enclosures: &["Lageplan mit Markierungen", "Fotos der Grundstücksgrenze"],
    },
    Topic {
        unit: "61",
        subject: "Antrag auf Auszug aus dem Liegenschaftskataster, {flurstueck}",
        sender: SenderKind::Either,
        sentences: &[
            "Für die Vorbereitung eines Grundstücksverkaufs benötige ich einen aktuellen Auszug aus der Liegenschaftskarte.",
            "Es handelt sich um das Grundstück {objekt}, eingetragen als {flurstueck}.",
            "Zusätzlich bitte ich um Auskunft über den aktuellen Bodenrichtwert für dieses Gebiet.",
            "Die anfallenden Gebühren können Sie mir gern in Rechnung stellen oder per Lastschrift einziehen.",
            "Eine Vollmacht der Eigentümerin liegt diesem Schreiben bei.",
            "Wenn möglich, senden Sie mir die Unterlagen bitte zusätzlich in digitaler Form zu.",
        ],
        enclosures: &["Vollmacht vom {bezugsdatum}"],
    },
    Topic {
        unit: "60",
        subject: "Bauantrag für den Neubau eines Einfamilienhauses, {objekt}",
        sender: SenderKind::Either,
        sentences: &[
            "Hiermit reiche ich den Bauantrag für die Errichtung eines Einfamilienhauses mit Carport auf dem Grundstück {objekt} ein.",
            "Die Bauvorlagen wurden von einem bauvorlageberechtigten Architekturbüro erstellt und unterschrieben.",
            "Das Vorhaben hält die Festsetzungen des geltenden Bebauungsplans ein; Befreiungen werden nicht beantragt.",
            "Der Lageplan, die Bauzeichnungen und die Baubeschreibung liegen in dreifacher Ausfertigung bei.",
            "Die statischen Nachweise werden bis zum {frist} nachgereicht.",
            "Ich bitte um Mitteilung, ob die Unterlagen vollständig sind oder ob noch Ergänzungen erforderlich sind.",
            "Mit den Bauarbeiten soll nach Möglichkeit im kommenden Frühjahr begonnen werden.",
        ],
        enclosures: &["Bauvorlagen (dreifach)", "Lageplan", "Baubeschreibung"],
    },
    Topic {
        unit: "60",
        subject: "Bieterfrage zur Ausschreibung {vergabe}",
        sender: SenderKind::Company,
        sentences: &[
            "Ich beabsichtige, mich mit meinem Unternehmen an der Ausschreibung {vergabe} zu beteiligen.",
            "Die Ausschreibung betrifft die {massnahme}.",
            "Beim Durchsehen der Vergabeunterlagen sind mir einige Unklarheiten im Leistungsverzeichnis aufgefallen.",
            "In Position 2.14 ist die Menge mit 1.250 Quadratmetern angegeben, während die Pläne eine deutlich kleinere Fläche ausweisen.",
            "Bitte teilen Sie mit, ob die Ausführungsfrist bis zum {frist} verbindlich ist oder ob eine Verlängerung möglich ist.",
            "Ferner bitte ich um Klarstellung, ob Nebenangebote zugelassen sind.",
            "Ich bitte darum, die Antwort allen Bietern gleichermaßen zur Verfügung zu stellen.",
        ],
        enclosures: &[],
    },
    Topic {
        unit: "50.4",
        subject: "Meldung eines Hygienemangels in der {gaststaette}",
        sender: SenderKind::Person,
        sentences: &[
            "Am {bezugsdatum} habe ich in der {gaststaette} zu Mittag gegessen und dabei erhebliche hygienische Mängel festgestellt.",
            "Im Gastraum und im Bereich der Toiletten war es deutlich verschmutzt, und es roch unangenehm.",
            "Zudem habe ich beobachtet, dass rohe und gegarte Lebensmittel auf derselben Arbeitsfläche verarbeitet wurden.",
            "Noch am selben Abend traten bei mir und meiner Begleitung Übelkeit und Magenbeschwerden auf.",
            "Ich bitte Sie, den Betrieb zu überprüfen und die notwendigen Maßnahmen zu veranlassen.",
            "Meine Kontaktdaten dürfen Sie gern verwenden, eine Weitergabe an den Betreiber wünsche ich jedoch nicht.",
        ],
        enclosures: &["Kassenbeleg vom {bezugsdatum}"],
    },
    Topic {
        unit: "50.4",
        subject: "Schimmelbefall in der Mietwohnung {objekt}",
        sender: SenderKind::Person,
        sentences: &[
            "In meiner Mietwohnung {objekt} hat sich seit dem Herbst in mehreren Räumen Schimmel gebildet.",
            "Besonders betroffen sind das Schlafzimmer und das Kinderzimmer, in denen die Außenwände großflächig befallen sind.",
            "Die Hausverwaltung wurde bereits am {bezugsdatum} schriftlich informiert, hat aber bislang nicht reagiert.",
            "Da in der Wohnung ein Kleinkind lebt, mache ich mir große Sorgen um mögliche gesundheitliche Folgen.",
            "Ich bitte um eine Begehung der Wohnung durch das Gesundheitsamt und um eine fachliche Einschätzung.",
            "Fotos des Befalls und die Korrespondenz mit dem Vermieter füge ich bei.",
        ],
        enclosures: &["Fotos (12 Stück)", "Schreiben an die Hausverwaltung vom {bezugsdatum}"],
    },
    Topic {
        unit: "37",
        subject: "Antrag auf Brandsicherheitswache für {veranstaltung}",
        sender: SenderKind::Either,
        sentences: &[
            "Für {veranstaltung} am {frist} beantrage ich hiermit die Stellung einer Brandsicherheitswache.",
            "Erwartet werden nach unserer Schätzung etwa 800 Besucherinnen und Besucher.",
            "Auf dem Gelände sind ein Bühnenaufbau, mehrere Verkaufsstände sowie ein Grillbereich vorgesehen.",
            "Die Feuerwehrzufahrt und die Aufstellflächen werden während der gesamten Veranstaltung freigehalten.",
            "Bitte teilen Sie mir mit, welche Kosten für den Einsatz voraussichtlich entstehen.",
            "Ein Lageplan mit den eingezeichneten Rettungswegen liegt diesem Schreiben bei.",
        ],
        enclosures: &["Lageplan mit Rettungswegen", "Ablaufplan der Veranstaltung"],
    },
    Topic {
        unit: "37",
        subject: "Widerspruch gegen den Kostenbescheid für den Feuerwehreinsatz vom {bezugsdatum}",
        sender: SenderKind::Either,
        sentences: &[
            "Gegen Ihren Kostenbescheid vom {bezugsdatum}, Kassenzeichen {kz}, lege ich hiermit fristgerecht Widerspruch ein.",
            "Der Einsatz wurde durch eine defekte Brandmeldeanlage ausgelöst, deren Wartung ordnungsgemäß durchgeführt worden war.",
            "Ein Verschulden meinerseits liegt daher nicht vor.",
            "Die geforderte Summe von {betrag} halte ich auch der Höhe nach für nicht angemessen.",
            "Ich beantrage, die Vollziehung des Bescheids bis zur Entscheidung über den Widerspruch auszusetzen.",
            "Das Wartungsprotokoll der Fachfirma füge ich in Kopie bei.",
        ],
        enclosures: &["Kopie des Kostenbescheids", "Wartungsprotokoll"],
    },
    Topic {
        unit: "0140",
        subject: "Rechnungsprüfung der Maßnahme {massnahme}",
        sender: SenderKind::Company,
        sentences: &[
            "Wie mit Ihnen vereinbart, übersende ich Ihnen die Unterlagen zur Schlussrechnung für die {massnahme}.",
            "Die Schlussrechnung schließt mit einem Betrag von {betrag} ab und liegt damit innerhalb des genehmigten Kostenrahmens.",
            "Die Aufmaße wurden gemeinsam mit der Bauleitung geprüft und von beiden Seiten abgezeichnet.",
            "Nachträge wurden nur in dem Umfang beauftragt, der für die Fertigstellung unbedingt erforderlich war.",
            "Für die Prüfung der Belege stehe ich Ihnen gern auch vor Ort zur Verfügung.",
            "Bitte teilen Sie mir mit, ob weitere Unterlagen, etwa die Bautagebücher, benötigt werden.",
        ],
        enclosures: &["Schlussrechnung", "Aufmaßblätter", "Nachtragsübersicht"],
    },
    Topic {
        unit: "0140",
        subject: "Stellungnahme zum Prüfbericht vom {bezugsdatum}",
        sender: SenderKind::Either,
        sentences: &[
            "Zu den Feststellungen Ihres Prüfberichts vom {bezugsdatum} nehme ich wie folgt Stellung.",
            "Die unter Ziffer 4 beanstandete freihändige Vergabe war aufgrund der besonderen Eilbedürftigkeit gerechtfertigt.",
            "Die fehlenden Vergleichsangebote wurden inzwischen nachträglich eingeholt und zur Akte genommen.",
            "Die Abweichung von {betrag} zwischen Auftragssumme und Abrechnung ist auf zusätzliche Leistungen zurückzuführen.",
            "Künftig wird die Dokumentation der Vergabeentscheidungen nach einem einheitlichen Muster erfolgen.",
            "Ich bitte darum, den Prüfbericht unter Berücksichtigung dieser Stellungnahme abzuschließen.",
        ],
        enclosures: &["Vergleichsangebote", "Vermerk zur Vergabeentscheidung"],
    },
    Topic {
        unit: "06",
        subject: "Widerspruch gegen den Gebührenbescheid vom {bezugsdatum}, Kassenzeichen {kz}",
        sender: SenderKind::Either,
        sentences: &[
            "Gegen den Gebührenbescheid vom {bezugsdatum} mit dem Kassenzeichen {kz} lege ich hiermit Widerspruch ein.",
            "Der Bescheid setzt für das Grundstück {objekt} eine Niederschlagswassergebühr von {betrag} fest.",
            "Die zugrunde gelegte versiegelte Fläche ist jedoch deutlich zu hoch angesetzt.",
            "Ein Teil der Hoffläche wurde bereits im vergangenen Jahr entsiegelt und mit Rasengittersteinen versehen.",
            "Ich bitte um Neuberechnung der Gebühr und um Erstattung des zu viel gezahlten Betrags.",
            "Einen aktuellen Lageplan mit den Flächenangaben füge ich bei.",
        ],
        enclosures: &["Kopie des Gebührenbescheids", "Lageplan mit Flächenangaben"],
    },
    Topic {
        unit: "06",
        subject: "Antrag auf Änderung der Größe des Restabfallbehälters",
        sender: SenderKind::Person,
        sentences: &[
            "Für das Grundstück {objekt} beantrage ich die Umstellung von einem 240-Liter-Behälter auf einen 120-Liter-Behälter für Restabfall.",
            "Seit dem Auszug meiner Kinder fällt im Haushalt deutlich weniger Abfall an.",
            "Der Biobehälter und die Wertstofftonne sollen unverändert bleiben.",
            "Bitte teilen Sie mir mit, ab wann die Änderung wirksam wird und wie sich die Gebühren ändern.",
            "Die Abfallgebühren werden weiterhin per Lastschrift vom bekannten Konto eingezogen.",
        ],
        enclosures: &[],
    },
    Topic {
        unit: "06",
        subject: "Meldung einer illegalen Abfallablagerung im Stadtteil {stadtteil}",
        sender: SenderKind::Person,
        sentences: &[
            "Seit dem {bezugsdatum} liegen am Rand des Feldwegs hinter dem Grundstück {objekt} mehrere Säcke mit Bauschutt und Sperrmüll.",
            "Inzwischen wurden weitere Gegenstände, darunter alte Reifen und ein Kühlschrank, dort abgestellt.",
            "Da sich in der Nähe ein Spielplatz befindet, halte ich eine schnelle Beseitigung für geboten.",
            "Ich bitte Sie, die Ablagerung zu prüfen und für eine fachgerechte Entsorgung zu sorgen.",
            "Wer den Abfall dort abgeladen hat, konnte ich leider nicht beobachten.",
        ],
        enclosures: &["Fotos der Ablagerung"],
    },
];

/// Letters that are about no unit's matter: inquiries, thanks, a change of address. They
/// carry no unit's vocabulary, so without a unit in the address field they go to the
/// clarification queue. `unit` is empty.
const GENERIC_TOPICS: &[Topic] = &[
    Topic {
        unit: "",
        subject: "Anfrage",
        sender: SenderKind::Either,
        sentences: &[
            "Leider konnte ich nicht herausfinden, welche Stelle in Ihrem Hause für mein Anliegen zuständig ist.",
            "Ich bitte Sie daher, mein Schreiben an die zuständige Stelle weiterzuleiten.",
            "Auf Ihrer Internetseite habe ich keine passende Ansprechperson gefunden.",
            "Die Einzelheiten würde ich gern in einem persönlichen Gespräch erläutern.",
            "Bitte rufen Sie mich unter der Telefonnummer {telefon} zurück.",
            "Für einen kurzen Hinweis, an wen ich mich wenden kann, wäre ich Ihnen dankbar.",
        ],
        enclosures: &[],
    },
    Topic {
        unit: "",
        subject: "Allgemeine Anfrage",
        sender: SenderKind::Person,
        sentences: &[
            "Ich habe eine Frage, bei der ich nicht weiß, an wen ich mich wenden soll.",
            "Bitte teilen Sie mir mit, welche Unterlagen ich für mein Anliegen benötige.",
            "Eine Nachbarin hat mir geraten, mich zunächst schriftlich an die Stadt zu wenden.",
            "Vielleicht können Sie mir auch sagen, zu welchen Zeiten eine Vorsprache möglich ist.",
            "Gern komme ich persönlich vorbei, wenn das die Sache vereinfacht.",
            "Ich danke Ihnen schon jetzt für Ihre Mühe.",
        ],
        enclosures: &[],
    },
    Topic {
        unit: "",
        subject: "Vielen Dank für Ihre Unterstützung",
        sender: SenderKind::Person,
        sentences: &[
            "Auf diesem Wege möchte ich mich herzlich für die freundliche und kompetente Beratung bedanken.",
            "Ihre Mitarbeiterin hat sich viel Zeit genommen und alle meine Fragen geduldig beantwortet.",
            "Es ist schön zu erleben, wie bürgernah eine Verwaltung arbeiten kann.",
            "Bitte richten Sie meinen Dank auch den Kolleginnen und Kollegen aus.",
            "Ich werde Ihre Hilfsbereitschaft gern weiterempfehlen.",
        ],
        enclosures: &[],
    },
    Topic {
        unit: "",
        subject: "Änderung meiner Anschrift",
        sender: SenderKind::Person,
        sentences: &[
            "Hiermit teile ich Ihnen mit, dass ich zum {frist} umziehe.",
            "Ab dem {frist} lautet meine neue Anschrift {objekt}, Braunschweig.",
            "Bitte senden Sie künftige Schreiben nur noch an die neue Anschrift.",
            "Meine Telefonnummer und meine E-Mail-Adresse bleiben unverändert.",
            "Bitte ändern Sie meine Anschrift in allen Vorgängen, die Sie unter meinem Namen führen.",
        ],
        enclosures: &[],
    },
    Topic {
        unit: "",
        subject: "Mitteilung einer neuen Anschrift",
        sender: SenderKind::Either,
        sentences: &[
            "Wir möchten Sie darüber informieren, dass sich unsere Anschrift geändert hat.",
            "Unsere neue Anschrift lautet {objekt}, Braunschweig.",
            "Post an die bisherige Anschrift wird nur noch bis zum {frist} nachgesendet.",
            "Bitte aktualisieren Sie Ihre Unterlagen entsprechend.",
            "Unsere Telefonnummer {telefon} bleibt unverändert.",
        ],
        enclosures: &[],
    },
    Topic {
        unit: "",
        subject: "Bitte um Rückruf",
        sender: SenderKind::Either,
        sentences: &[
            "Ich bitte Sie höflich um einen Rückruf unter der Telefonnummer {telefon}.",
            "Mein Anliegen lässt sich am Telefon sicher schneller klären als auf dem Postweg.",
            "Werktags bin ich vormittags am besten erreichbar.",
            "Sollten Sie mich nicht erreichen, hinterlassen Sie bitte eine Nachricht.",
        ],
        enclosures: &[],
    },
];

/// Confidentiality marks printed above the recipient in the address field.
const CONFIDENTIAL_MARKS: &[&str] = &[
    "Persönlich",
    "Vertraulich",
    "Persönlich/Vertraulich",
    "Persönlich - vertraulich",
    "PERSÖNLICH",
    "Persönlich/vertraulich",
    "VERTRAULICH",
];

/// Academic titles of a person named in an address field.
const TITLES: &[&str] = &["Dr.", "Dr.", "Prof. Dr.", "Dipl.-Ing."];

/// First sentence after the salutation, hence lower case.
const OPENERS: &[&str] = &[
    "hiermit wende ich mich in der oben genannten Angelegenheit an Sie.",
    "bezugnehmend auf Ihr Schreiben vom {bezugsdatum} möchte ich Ihnen Folgendes mitteilen.",
    "vielen Dank für Ihr Schreiben vom {bezugsdatum} und die freundliche telefonische Auskunft.",
    "in der oben genannten Angelegenheit übersende ich Ihnen heute die noch fehlenden Angaben.",
    "nach unserem Telefonat am {bezugsdatum} fasse ich den Sachverhalt hiermit noch einmal schriftlich zusammen.",
    "ich beziehe mich auf Ihr Aktenzeichen {az} und bitte um wohlwollende Prüfung meines Anliegens.",
    "hiermit möchte ich Sie über einen Sachverhalt informieren, der aus meiner Sicht dringend geklärt werden muss.",
    "leider muss ich mich erneut an Sie wenden, da meine Anfrage vom {bezugsdatum} bislang unbeantwortet geblieben ist.",
];

/// Sentences that fit any letter; they pad the middle paragraphs.
const GENERAL_SENTENCES: &[&str] = &[
    "Die erforderlichen Unterlagen habe ich diesem Schreiben in Kopie beigefügt.",
    "Sollten Sie weitere Nachweise benötigen, reiche ich diese selbstverständlich umgehend nach.",
    "Ich bitte Sie, mir den Eingang dieses Schreibens kurz schriftlich zu bestätigen.",
    "Für eine Bearbeitung bis zum {frist} wäre ich Ihnen sehr dankbar.",
    "Bitte geben Sie bei Rückfragen stets das Aktenzeichen {az} an, damit eine schnelle Zuordnung möglich ist.",
    "Ich bin unter der Telefonnummer {telefon} werktags zwischen 8 und 16 Uhr gut erreichbar.",
    "Alternativ können Sie mich auch per E-Mail unter {email} erreichen.",
    "Aus meiner Sicht ist die bisherige Bearbeitung nicht nachvollziehbar, zumal alle Unterlagen fristgerecht eingereicht wurden.",
    "Ich weise vorsorglich darauf hin, dass mir durch die Verzögerung bereits zusätzliche Kosten entstanden sind.",
    "Die Angelegenheit ist für mich von großer Bedeutung, da weitere Planungen davon abhängen.",
    "Ich gehe davon aus, dass sich der Sachverhalt im Rahmen eines kurzen Gesprächs klären lässt.",
    "Gern stehe ich Ihnen für einen Ortstermin zur Verfügung; bitte schlagen Sie mir hierfür einen Termin vor.",
    "Der Vorgang wurde bereits mit Schreiben vom {bezugsdatum} angekündigt.",
    "Nach meinen Unterlagen ist die Zahlung über {betrag} am {bezugsdatum} vollständig erfolgt.",
    "Sollte die Frist bis zum {frist} nicht zu halten sein, bitte ich um eine kurze Nachricht.",
    "Die Nachbarn in der Umgebung des Grundstücks {objekt} unterstützen mein Anliegen ausdrücklich.",
    "Sämtliche Angaben habe ich nach bestem Wissen und Gewissen gemacht.",
    "Im Übrigen verweise ich auf meine bisherigen Ausführungen, die weiterhin gelten.",
    "Bitte teilen Sie mir mit, ob für die weitere Bearbeitung Gebühren anfallen und in welcher Höhe.",
    "Ich habe den Sachverhalt mit Fotos dokumentiert, die ich Ihnen auf Wunsch gern zur Verfügung stelle.",
    "Es wäre hilfreich, wenn Sie mir eine zuständige Ansprechperson in Ihrem Hause nennen könnten.",
    "Die Unterlagen wurden von mir vollständig geprüft und sind unterschrieben.",
    "Eine Kopie dieses Schreibens habe ich zu meinen Unterlagen genommen.",
    "Zur Vermeidung von Missverständnissen fasse ich die wesentlichen Punkte noch einmal kurz zusammen.",
    "Die Rechtslage ist aus meiner Sicht eindeutig, wie auch die Rechtsprechung zu vergleichbaren Fällen zeigt.",
    "Für die Zeit vom {frist} an bin ich zwei Wochen im Urlaub und daher nur eingeschränkt erreichbar.",
    "Ich habe mich bereits im Vorfeld bei Ihrer Servicestelle über das Verfahren informiert.",
    "Leider konnte mir dort keine verbindliche Auskunft gegeben werden.",
    "Bitte berücksichtigen Sie bei Ihrer Entscheidung auch die besonderen Umstände des Einzelfalls.",
    "Ich bin gern bereit, an einer einvernehmlichen Lösung mitzuwirken.",
    "Sollte ein persönliches Gespräch sinnvoll sein, komme ich gern in Ihre Dienststelle.",
    "Die Angaben in meinem Schreiben vom {bezugsdatum} waren leider unvollständig, wofür ich um Entschuldigung bitte.",
    "Die fehlenden Seiten habe ich nun ergänzt und erneut unterschrieben.",
    "Ich möchte ausdrücklich betonen, dass ich an einer zügigen Klärung interessiert bin.",
    "Die bisherige Korrespondenz liegt Ihnen unter dem Aktenzeichen {az} vollständig vor.",
    "Auf eine Nachfrage per E-Mail habe ich bislang keine Antwort erhalten.",
    "Meine Bankverbindung für eine eventuelle Erstattung hat sich nicht geändert.",
    "Bitte informieren Sie mich, falls sich die Zuständigkeit in Ihrem Hause geändert haben sollte.",
    "Ich verstehe, dass Ihre Dienststelle derzeit stark ausgelastet ist.",
    "Dennoch bitte ich um Verständnis dafür, dass ich auf eine baldige Antwort angewiesen bin.",
    "Ein Zahlungsnachweis über {betrag} liegt diesem Schreiben ebenfalls bei.",
    "Falls Ihnen einzelne Unterlagen nicht lesbar vorliegen, sende ich diese gern erneut zu.",
    "Den Termin am {frist} kann ich aus beruflichen Gründen leider nicht wahrnehmen.",
    "Ich schlage daher vor, einen neuen Termin in der darauffolgenden Woche zu vereinbaren.",
    "Von einer Weitergabe meiner Daten an Dritte bitte ich abzusehen.",
    "Hinsichtlich der Fristen verweise ich auf die Angaben in Ihrem Schreiben vom {bezugsdatum}.",
    "Ich erlaube mir, in etwa zwei Wochen telefonisch nachzufragen.",
];

/// Sentences for the last paragraph before the closing formula.
const CLOSERS: &[&str] = &[
    "Für Rückfragen stehe ich Ihnen jederzeit gern zur Verfügung.",
    "Vielen Dank im Voraus für Ihre Bemühungen.",
    "Über eine kurze Rückmeldung bis zum {frist} würde ich mich freuen.",
    "Ich bitte um eine schriftliche Antwort und danke Ihnen für Ihre Mühe.",
    "Sollte ich bis zum {frist} nichts von Ihnen hören, werde ich mich erneut telefonisch melden.",
    "Ich freue mich auf Ihre Antwort.",
    "Bitte senden Sie Ihre Antwort an die oben genannte Anschrift.",
    "Für Ihre Unterstützung bedanke ich mich bereits im Voraus.",
];

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Anna",
    "Jürgen",
    "Jörg",
    "Björn",
    "Sören",
    "Käthe",
    "Günther",
    "Monika",
    "Thomas",
    "Sabine",
    "Özlem",
    "Frank",
    "Petra",
    "Klaus",
    "Heike",
    "Stefan",
    "Birgit",
    "Lukas",
    "Lea",
    "Mehmet",
    "Katharina",
    "Wolfgang",
    "Renate",
    "Dörte",
    "Hans-Peter",
    "Marie-Luise",
    "Ingeborg",
    "Matthias",
    "Jana",
    "Uwe",
];

/// The women's names of [`FIRST_NAMES`], for "Frau" in an address field.
const FEMALE_FIRST_NAMES: &[&str] = &[
    "Anna",
    "Käthe",
    "Monika",
    "Sabine",
    "Özlem",
    "Petra",
    "Heike",
    "Birgit",
    "Lea",
    "Katharina",
    "Renate",
    "Dörte",
    "Marie-Luise",
    "Ingeborg",
    "Jana",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Müller",
    "Schröder",
    "Köhler",
    "Weiß",
    "Groß",
    "Krüger",
    "Böhm",
    "Schäfer",
    "Jäger",
    "Fuß",
    "Meißner",
    "Strauß",
    "Günther",
    "Hoffmann",
    "Wagner",
    "Becker",
    "Schulze",
    "Brückner",
    "Lüdecke",
    "Ölschläger",
    "Bäumer",
    "Kühn",
    "Mertens",
    "Nowak",
    "Yildiz",
    "Döring",
    "Heßler",
    "Wöhler",
    "Rößler",
    "Vogt",
];

pub(crate) const STREETS: &[&str] = &[
    "Hagenmarkt",
    "Bohlweg",
    "Wilhelmstraße",
    "Hamburger Straße",
    "Wolfenbütteler Straße",
    "Kastanienallee",
    "Jasperallee",
    "Güldenstraße",
    "Kohlmarkt",
    "Steinweg",
    "Bültenweg",
    "Husarenstraße",
    "Altewiekring",
    "Helmstedter Straße",
    "Gliesmaroder Straße",
    "Sophienstraße",
    "Böcklerstraße",
    "Mühlenpfordtstraße",
    "Münchenstraße",
    "Rühmer Weg",
    "Grünewaldstraße",
    "Am Schwarzen Berge",
    "Frankfurter Straße",
    "Kälberwiese",
    "Thiedestraße",
    "Lüneburger Straße",
    "Querumer Straße",
    "Madamenweg",
];

/// (postal code, town, dialling code); Braunschweig listed several times on purpose.
const TOWNS: &[(&str, &str, &str)] = &[
    ("38100", "Braunschweig", "0531"),
    ("38102", "Braunschweig", "0531"),
    ("38106", "Braunschweig", "0531"),
    ("38114", "Braunschweig", "0531"),
    ("38118", "Braunschweig", "0531"),
    ("38122", "Braunschweig", "0531"),
    ("38124", "Braunschweig", "0531"),
    ("38300", "Wolfenbüttel", "05331"),
    ("38226", "Salzgitter", "05341"),
    ("31224", "Peine", "05171"),
    ("38440", "Wolfsburg", "05361"),
    ("38518", "Gifhorn", "05371"),
];

const DISTRICTS: &[&str] = &[
    "Weststadt",
    "Östliches Ringgebiet",
    "Lehndorf",
    "Gliesmarode",
    "Querum",
    "Riddagshausen",
    "Rüningen",
    "Stöckheim",
    "Wenden",
    "Veltenhof",
    "Völkenrode",
    "Heidberg",
    "Melverode",
    "Broitzem",
];

pub(crate) const COMPANY_PATTERNS: &[&str] = &[
    "{last} Bau GmbH",
    "Ingenieurbüro {last}",
    "Architekturbüro {last} + Partner",
    "Hausverwaltung {last} GmbH",
    "{last} & Söhne Haustechnik KG",
    "Elektro {last} e. K.",
];

pub(crate) const PLAN_NAMES: &[&str] = &[
    "Feldstraße-Süd",
    "Alter Bahnhof Ölper",
    "Holzmoor-Nord",
    "Stöckheim-Süd",
    "Nördliches Ringgleis",
    "Taubenstraße",
    "Wendener Weg-Ost",
];

pub(crate) const PLAN_CODES: &[&str] = &["HA", "WE", "GL", "QU", "LE", "RÜ"];

pub(crate) const EATERIES: &[&str] = &[
    "Gaststätte „Zum Grünen Jäger“",
    "Gaststätte „Löwenkrug“",
    "Bäckerei Brückner am Steinweg",
    "Pizzeria „Da Pino“",
    "Eisdiele am Kohlmarkt",
    "Kantine der Firma Schütte & Co.",
];

const EVENTS: &[&str] = &[
    "das Straßenfest in der Güldenstraße",
    "den Flohmarkt auf dem Schützenplatz",
    "das Sommerfest des Kleingartenvereins Kreuzkamp",
    "die Jubiläumsfeier des Sportvereins Rühme",
];

pub(crate) const MEASURES: &[&str] = &[
    "Sanierung der Sporthalle Heidberg",
    "Erweiterung der Kita Lammer Busch",
    "Erneuerung der Fahrbahn in der Hamburger Straße",
    "Umgestaltung des Schulhofs der Grundschule Lehndorf",
];

pub(crate) const CADASTRAL_DISTRICTS: &[&str] = &[
    "Lehndorf",
    "Querum",
    "Riddagshausen",
    "Gliesmarode",
    "Melverode",
    "Rüningen",
    "Ölper",
];

const EMAIL_DOMAINS: &[&str] = &["web.de", "gmx.de", "t-online.de", "posteo.de"];

/// Who writes the letter.
#[derive(Debug, Clone)]
struct Sender {
    /// The person who signs.
    signer: String,
    company: Option<String>,
    street: String,
    postcode: &'static str,
    town: &'static str,
    phone: String,
    email: String,
}

impl Sender {
    /// Name shown in the return line and letterhead.
    fn display_name(&self) -> &str {
        self.company.as_deref().unwrap_or(&self.signer)
    }

    fn return_line(&self) -> String {
        format!(
            "{} · {} · {} {}",
            self.display_name(),
            self.street,
            self.postcode,
            self.town
        )
    }
}

fn random_person(rng: &mut Rng) -> (String, &'static str) {
    let last = rng.pick(LAST_NAMES);
    (format!("{} {last}", rng.pick(FIRST_NAMES)), last)
}

fn random_street(rng: &mut Rng) -> String {
    let number = rng.between(1, 160);
    let suffix = if rng.chance(0.12) { "a" } else { "" };
    format!("{} {number}{suffix}", rng.pick(STREETS))
}

/// Mail addresses are ASCII: transliterate umlauts the German way.
fn ascii_for_email(text: &str) -> String {
    let mut out = String::new();
    for c in text.to_lowercase().chars() {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            'a'..='z' | '0'..='9' | '.' | '-' => out.push(c),
            ' ' => out.push('.'),
            _ => {}
        }
    }
    out
}

fn random_sender(rng: &mut Rng, kind: SenderKind) -> Sender {
    let company_wanted = match kind {
        SenderKind::Person => false,
        SenderKind::Company => true,
        SenderKind::Either => rng.chance(0.3),
    };
    let (signer, last) = random_person(rng);
    let (postcode, town, dialling) = rng.pick(TOWNS);
    let company = company_wanted.then(|| rng.pick(COMPANY_PATTERNS).replace("{last}", last));
    let phone = format!("{dialling} {}", rng.between(100_000, 9_999_999));
    let email = match &company {
        Some(_) => format!("info@{}-{}.de", ascii_for_email(last), rng.between(1, 99)),
        None => format!("{}@{}", ascii_for_email(&signer), rng.pick(EMAIL_DOMAINS)),
    };
    Sender {
        signer,
        company,
        street: random_street(rng),
        postcode,
        town,
        phone,
        email,
    }
}

fn euro_amount(rng: &mut Rng) -> String {
    let cents = u64::from(rng.between(1_500, 2_500_000));
    let euros = cents / 100;
    let mut grouped = String::new();
    let digits = euros.to_string();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    let currency = if rng.chance(0.7) { "€" } else { "EUR" };
    format!("{grouped},{:02} {currency}", cents % 100)
}

/// The facts a letter's templates draw on.
fn random_facts(rng: &mut Rng, unit: &str, sender: &Sender, letter_day: Day) -> Facts {
    let mut facts = Facts::default();
    facts.set("datum", letter_day.long());
    facts.set(
        "bezugsdatum",
        letter_day.offset(-i64::from(rng.between(3, 60))).long(),
    );
    facts.set(
        "frist",
        letter_day.offset(i64::from(rng.between(14, 45))).long(),
    );
    facts.set(
        "az",
        format!(
            "{unit}.{}-{}/{YEAR}",
            rng.between(1, 9),
            rng.between(10, 999)
        ),
    );
    facts.set(
        "kz",
        format!(
            "5.{:04}.{:06}.{}",
            rng.between(0, 9999),
            rng.between(0, 999_999),
            rng.between(0, 9)
        ),
    );
    facts.set("betrag", euro_amount(rng));
    facts.set("objekt", random_street(rng));
    facts.set(
        "flurstueck",
        format!(
            "Gemarkung {}, Flur {}, Flurstück {}/{}",
            rng.pick(CADASTRAL_DISTRICTS),
            rng.between(1, 12),
            rng.between(1, 300),
            rng.between(1, 9)
        ),
    );
    facts.set(
        "bplan",
        format!(
            "„{}“ ({} {})",
            rng.pick(PLAN_NAMES),
            rng.pick(PLAN_CODES),
            rng.between(20, 160)
        ),
    );
    facts.set(
        "rechnung",
        format!("RE-{YEAR}-{:05}", rng.between(1, 99_999)),
    );
    facts.set("vergabe", format!("{YEAR}-V-{:04}", rng.between(1, 9999)));
    facts.set("kennziffer", format!("{}/{YEAR}", rng.between(10, 199)));
    facts.set("massnahme", rng.pick(MEASURES));
    facts.set("gaststaette", rng.pick(EATERIES));
    facts.set("veranstaltung", rng.pick(EVENTS));
    facts.set("stadtteil", rng.pick(DISTRICTS));
    facts.set("telefon", sender.phone.clone());
    facts.set("email", sender.email.clone());
    facts
}

/// Hands out sentences in shuffled order without repeats until the pool is used up.
struct Deck {
    items: Vec<&'static str>,
    next: usize,
}

impl Deck {
    fn new(items: &[&'static str], rng: &mut Rng) -> Self {
        let mut items = items.to_vec();
        rng.shuffle(&mut items);
        Deck { items, next: 0 }
    }

    /// The next unused item, if any is left.
    fn take(&mut self) -> Option<&'static str> {
        let item = self.items.get(self.next).copied();
        if item.is_some() {
            self.next += 1;
        }
        item
    }

    fn reshuffle(&mut self, rng: &mut Rng) {
        rng.shuffle(&mut self.items);
        self.next = 0;
    }

    /// The next item, starting over in a new order once all were used.
    fn draw(&mut self, rng: &mut Rng) -> &'static str {
        if self.next >= self.items.len() {
            self.reshuffle(rng);
        }
        self.take().unwrap_or_default()
    }
}

/// The topic sentences of a letter: one deck per topic, used in turn (so an ambiguous
/// letter talks about both of its matters alike).
struct TopicDecks {
    decks: Vec<Deck>,
    turn: usize,
}

impl TopicDecks {
    fn next(&mut self) -> &mut Deck {
        let index = self.turn % self.decks.len();
        self.turn += 1;
        &mut self.decks[index]
    }
}

/// A body sentence: topic and general sentences mixed, and none repeated before both
/// pools are used up (only long three-page letters get that far).
fn body_sentence(rng: &mut Rng, topic: &mut Deck, general: &mut Deck) -> &'static str {
    let (preferred, other) = if rng.chance(0.55) {
        (topic, general)
    } else {
        (general, topic)
    };
    if let Some(sentence) = preferred.take().or_else(|| other.take()) {
        return sentence;
    }
    other.reshuffle(rng);
    preferred.draw(rng)
}

// ---------------------------------------------------------------------------------------
// Composing and laying out a letter
// ---------------------------------------------------------------------------------------

/// How a letter shows (or hides) where it must be routed; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoutingCase {
    /// The address field names the unit; subject and body are one of its topics.
    Addressed,
    /// The address field names only the authority; subject and body tell the unit.
    BodyOnly,
    /// No unit in the address field; subject and body mix topics of two units.
    Ambiguous,
    /// No unit in the address field and a generic letter without unit vocabulary.
    NoTopic,
    /// Addressed to a unit, with "Persönlich", "Vertraulich" ... above the recipient.
    ConfidentialMarked,
    /// A person's name above the authority and the unit.
    ConfidentialPerson,
}

const ROUTING_CASES: [RoutingCase; 6] = [
    RoutingCase::Addressed,
    RoutingCase::BodyOnly,
    RoutingCase::Ambiguous,
    RoutingCase::NoTopic,
    RoutingCase::ConfidentialMarked,
    RoutingCase::ConfidentialPerson,
];

impl RoutingCase {
    /// The name written into the truth's `routing_case`.
    fn name(self) -> &'static str {
        match self {
            RoutingCase::Addressed => "addressed",
            RoutingCase::BodyOnly => "body_only",
            RoutingCase::Ambiguous => "ambiguous",
            RoutingCase::NoTopic => "no_topic",
            RoutingCase::ConfidentialMarked => "confidential_marked",
            RoutingCase::ConfidentialPerson => "confidential_person",
        }
    }

    /// Intended share of the letters.
    fn share(self) -> f64 {
        match self {
            RoutingCase::Addressed => 0.60,
            RoutingCase::BodyOnly => 0.15,
            RoutingCase::Ambiguous => 0.05,
            RoutingCase::NoTopic => 0.04,
            RoutingCase::ConfidentialMarked | RoutingCase::ConfidentialPerson => 0.08,
        }
    }

    /// 0-based letter index from which the case, if not seen yet, is forced: every batch
    /// of eight letters or more (the 18-page demo) shows all six.
    fn due(self) -> usize {
        match self {
            RoutingCase::Addressed => 0,
            RoutingCase::BodyOnly => 2,
            RoutingCase::ConfidentialMarked => 3,
            RoutingCase::ConfidentialPerson => 5,
            RoutingCase::Ambiguous => 6,
            RoutingCase::NoTopic => 7,
        }
    }

    /// The address field names the letter's unit.
    fn unit_in_address(self) -> bool {
        matches!(
            self,
            RoutingCase::Addressed
                | RoutingCase::ConfidentialMarked
                | RoutingCase::ConfidentialPerson
        )
    }

    /// Neither the address field nor the topic tells one unit: the clarification queue.
    fn unit_hidden(self) -> bool {
        matches!(self, RoutingCase::Ambiguous | RoutingCase::NoTopic)
    }

    /// Passed on unopened.
    fn confidential(self) -> bool {
        matches!(
            self,
            RoutingCase::ConfidentialMarked | RoutingCase::ConfidentialPerson
        )
    }
}

/// A letter laid out into pages, before scanning.
pub(crate) struct Letter {
    /// The unit the letter was written for (see `TruthDocument::unit`).
    unit_code: &'static str,
    unit_name: &'static str,
    subject: String,
    case: RoutingCase,
    /// The lines of the address field below the return line, top to bottom: the
    /// confidentiality mark (if any) and the recipient lines. Read by the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    address: Vec<String>,
    pub(crate) family: usize,
    /// The date the letter bears.
    day: Day,
    pub(crate) pages: Vec<PageLayout>,
}

impl Letter {
    /// Where the letter must be routed; `cover_unit`: the unit of a cover sheet in front
    /// of it, which decides for a letter that does not tell its unit itself.
    fn route(&self, cover_unit: Option<&str>) -> ExpectedRoute {
        match (self.case, cover_unit) {
            (case, _) if case.confidential() => ExpectedRoute::Unopened,
            (case, Some(unit)) if case.unit_hidden() => ExpectedRoute::Unit {
                unit: unit.to_string(),
            },
            (case, None) if case.unit_hidden() => ExpectedRoute::Clarification,
            _ => ExpectedRoute::Unit {
                unit: self.unit_code.to_string(),
            },
        }
    }
}

/// Layout choices that vary from letter to letter.
#[derive(Clone)]
struct LetterStyle {
    body: Style,
    small: Style,
    line_spacing: f32,
    letterhead: Letterhead,
    subject_label: bool,
    subject_bold: bool,
    date_right: bool,
    numbering: PageNumbering,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Letterhead {
    None,
    Left,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageNumbering {
    /// "Seite 2 von 3" at the top of pages 2+.
    HeaderOf,
    /// "- 2 -" centred at the top of pages 2+.
    HeaderDash,
    /// "Seite 1 von 3" at the bottom right of every page.
    Footer,
}

fn random_style(rng: &mut Rng) -> LetterStyle {
    let body_pt = rng.pick(&[11.0, 11.5, 12.0]);
    LetterStyle {
        body: Style::regular(body_pt),
        small: Style::regular(8.0),
        line_spacing: rng.pick(&[1.2, 1.3, 1.4, 1.5]),
        letterhead: rng.pick(&[Letterhead::None, Letterhead::Left, Letterhead::Right]),
        subject_label: rng.chance(0.6),
        subject_bold: rng.chance(0.7),
        date_right: rng.chance(0.7),
        numbering: rng.pick(&[
            PageNumbering::HeaderOf,
            PageNumbering::HeaderDash,
            PageNumbering::Footer,
        ]),
    }
}

/// Everything needed to build the blocks of one letter.
struct Draft<'a> {
    ts: Typesetter<'a>,
    style: LetterStyle,
    sender: Sender,
    facts: Facts,
    /// What the letter is about: one topic, two of different units (an ambiguous
    /// letter) or one of [`GENERIC_TOPICS`].
    topics: Vec<&'static Topic>,
    unit_name: &'static str,
    case: RoutingCase,
    /// Person named in the address field, also greeted by name: below the authority as
    /// "z. Hd." (ordinary mail), or above it (confidential mail).
    contact: Option<Contact>,
    contact_above: bool,
    /// Line under "Stadt Braunschweig" when the address field names no unit.
    authority_line: Option<&'static str>,
    /// Confidentiality mark above the recipient lines.
    mark: Option<Mark>,
    /// Address the city by its PO box instead of the town hall.
    po_box: bool,
    letter_day: Day,
    subject: String,
}

struct Contact {
    female: bool,
    title: Option<&'static str>,
    first_name: Option<&'static str>,
    last_name: &'static str,
}

impl Contact {
    fn salutation(&self) -> String {
        // Doctor and professor are part of the greeting, a Diplom is not.
        let title = match self.title {
            Some(title) if title.contains("Dr.") => format!("{title} "),
            _ => String::new(),
        };
        if self.female {
            format!("Sehr geehrte Frau {title}{},", self.last_name)
        } else {
            format!("Sehr geehrter Herr {title}{},", self.last_name)
        }
    }

    /// "Herrn Dr. Klaus Meier", "Frau Schulze".
    fn name(&self, with_first_name: bool) -> String {
        let mut parts = vec![if self.female { "Frau" } else { "Herrn" }];
        parts.extend(self.title);
        if with_first_name {
            parts.extend(self.first_name);
        }
        parts.push(self.last_name);
        parts.join(" ")
    }
}

/// "Persönlich", "Vertraulich" ... in the address field.
struct Mark {
    text: &'static str,
    bold: bool,
    /// Lines between the mark and the first recipient line: 1 (right above it) or 2.
    lines_above: usize,
}

impl Draft<'_> {
    /// The templates this letter may use: a letter that must not tell its unit leaves out
    /// those with a file number, which starts with the unit's code.
    fn usable(&self, templates: &[&'static str]) -> Vec<&'static str> {
        templates
            .iter()
            .copied()
            .filter(|t| !self.case.unit_hidden() || !t.contains("{az}"))
            .collect()
    }

    fn line_height(&self, style: Style) -> f32 {
        pt_to_px(style.pt) * self.style.line_spacing
    }

    fn flow_line(&self, text: String, style: Style, align: Align, gap_lines: f32) -> FlowLine {
        FlowLine {
            gap_before: gap_lines * self.line_height(self.style.body),
            height: self.line_height(style),
            text,
            style,
            align,
        }
    }

    /// Wrapped paragraph as one splittable block.
    fn paragraph(&self, text: &str, gap_lines: f32) -> FlowBlock {
        let width = mm(RIGHT_MM - LEFT_MM);
        let lines = self
            .ts
            .wrap(self.style.body, text, width)
            .into_iter()
            .enumerate()
            .map(|(i, line)| {
                let gap = if i == 0 { gap_lines } else { 0.0 };
                self.flow_line(line, self.style.body, Align::Left, gap)
            })
            .collect();
        FlowBlock {
            lines,
            keep_together: false,
        }
    }

    fn date_text(&self, rng: &mut Rng) -> String {
        let town = self.sender.town;
        match rng.below(4) {
            0 => format!("{town}, den {}", self.letter_day.long()),
            1 => format!("{town}, {}", self.letter_day.numeric()),
            2 => self.letter_day.long(),
            _ => format!("{town}, {}", self.letter_day.long()),
        }
    }

    /// Date, references, subject and salutation.
    fn opening_blocks(&self, rng: &mut Rng) -> Vec<FlowBlock> {
        let body = self.style.body;
        let align = if self.style.date_right {
            Align::Right
        } else {
            Align::Left
        };
        let mut blocks = vec![FlowBlock {
            lines: vec![self.flow_line(self.date_text(rng), body, align, 0.0)],
            keep_together: true,
        }];

        let mut references = Vec::new();
        // A file number starts with the unit's code: not in letters that hide the unit.
        if rng.chance(0.5) && !self.case.unit_hidden() {
            references.push(format!("Ihr Zeichen: {}", self.facts.fill("{az}")));
        }
        if rng.chance(0.25) {
            references.push(format!(
                "Ihr Schreiben vom {}",
                self.facts.fill("{bezugsdatum}")
            ));
        }
        if !references.is_empty() {
            let lines = references
                .into_iter()
                .enumerate()
                .map(|(i, r)| self.flow_line(r, body, Align::Left, if i == 0 { 1.0 } else { 0.0 }))
                .collect();
            blocks.push(FlowBlock {
                lines,
                keep_together: true,
            });
        }

        let subject_style = if self.style.subject_bold {
            Style::bold(body.pt)
        } else {
            body
        };
        let subject_text = if self.style.subject_label {
            format!("Betreff: {}", self.subject)
        } else {
            self.subject.clone()
        };
        let width = mm(RIGHT_MM - LEFT_MM);
        let lines = self
            .ts
            .wrap(subject_style, &subject_text, width)
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                self.flow_line(
                    l,
                    subject_style,
                    Align::Left,
                    if i == 0 { 2.0 } else { 0.0 },
                )
            })
            .collect();
        blocks.push(FlowBlock {
            lines,
            keep_together: true,
        });

        let salutation = match &self.contact {
            Some(contact) => contact.salutation(),
            None => "Sehr geehrte Damen und Herren,".to_string(),
        };
        blocks.push(FlowBlock {
            lines: vec![self.flow_line(salutation, body, Align::Left, 1.5)],
            keep_together: true,
        });
        blocks
    }

    /// Closing formula, signer and enclosures.
    fn closing_blocks(&self, rng: &mut Rng) -> Vec<FlowBlock> {
        let body = self.style.body;
        let signature_gap = mm(rng.uniform(12.0, 18.0) as f32) / self.line_height(body);
        let mut lines = vec![
            self.flow_line(
                "Mit freundlichen Grüßen".to_string(),
                body,
                Align::Left,
                1.0,
            ),
            self.flow_line(self.sender.signer.clone(), body, Align::Left, signature_gap),
        ];
        if let Some(company) = &self.sender.company {
            lines.push(self.flow_line(company.clone(), body, Align::Left, 0.0));
        }
        let mut blocks = vec![FlowBlock {
            lines,
            keep_together: true,
        }];

        let enclosures: Vec<&str> = self
            .topics
            .iter()
            .flat_map(|t| t.enclosures.iter().copied())
            .filter(|e| !self.case.unit_hidden() || !e.contains("{az}"))
            .collect();
        if !enclosures.is_empty() && rng.chance(0.7) {
            let count = 1 + rng.below(enclosures.len());
            let heading = if count == 1 { "Anlage" } else { "Anlagen" };
            let mut lines = vec![self.flow_line(heading.to_string(), body, Align::Left, 1.5)];
            for item in &enclosures[..count] {
                lines.push(self.flow_line(
                    format!("- {}", self.facts.fill(item)),
                    body,
                    Align::Left,
                    0.0,
                ));
            }
            blocks.push(FlowBlock {
                lines,
                keep_together: true,
            });
        }
        blocks
    }

    /// Lines above the flow on page 1: letterhead, return line, address field.
    fn head_lines(&self) -> Vec<PlacedLine> {
        let mut lines = Vec::new();
        let sender = &self.sender;
        let contact_line = format!("Telefon {} · {}", sender.phone, sender.email);
        let address_line = format!("{} · {} {}", sender.street, sender.postcode, sender.town);
        let mut y = mm(14.0);
        let mut place = |text: String, style: Style, align: Align, height: f32| {
            lines.push(PlacedLine {
                x: self.ts.x_for(style, &text, align),
                y,
                text,
                style,
            });
            y += height;
        };
        match self.style.letterhead {
            Letterhead::None => {}
            Letterhead::Left | Letterhead::Right => {
                let align = if self.style.letterhead == Letterhead::Left {
                    Align::Left
                } else {
                    Align::Right
                };
                let name_style = Style::bold(if sender.company.is_some() { 16.0 } else { 13.0 });
                let info = Style::regular(9.0);
                place(
                    sender.display_name().to_string(),
                    name_style,
                    align,
                    pt_to_px(name_style.pt) * 1.4,
                );
                place(address_line, info, align, pt_to_px(info.pt) * 1.3);
                place(contact_line, info, align, 0.0);
            }
        }

        let address_style = Style::regular(self.style.body.pt.min(11.0));
        let step = pt_to_px(address_style.pt) * 1.2;
        // DIN 5008's Zusatz- und Vermerkzone above the recipient lines: the return line,
        // then a confidentiality mark right above the recipient or one line higher. The
        // return line moves up to make room for the mark.
        let mark_y = self
            .mark
            .as_ref()
            .map(|mark| mm(ADDRESS_TOP_MM) - step * mark.lines_above as f32);
        let return_y = mark_y.map_or(mm(RETURN_LINE_MM), |y| mm(RETURN_LINE_MM).min(y - mm(4.5)));
        lines.push(PlacedLine {
            text: sender.return_line(),
            x: mm(LEFT_MM),
            y: return_y,
            style: self.style.small,
        });
        if let (Some(mark), Some(y)) = (&self.mark, mark_y) {
            let style = if mark.bold {
                Style::bold(address_style.pt)
            } else {
                address_style
            };
            lines.push(PlacedLine {
                text: mark.text.to_string(),
                x: mm(LEFT_MM),
                y,
                style,
            });
        }
        let mut y = mm(ADDRESS_TOP_MM);
        for text in self.address_lines(address_style) {
            lines.push(PlacedLine {
                text,
                x: mm(LEFT_MM),
                y,
                style: address_style,
            });
            y += step;
        }
        lines
    }

    /// The recipient lines of the address field (without a confidentiality mark).
    fn address_lines(&self, style: Style) -> Vec<String> {
        let mut lines = Vec::new();
        let contact = self.contact.as_ref();
        if let Some(contact) = contact.filter(|_| self.contact_above) {
            let full = contact.name(true);
            if self.ts.width(style, &full) <= mm(ADDRESS_WIDTH_MM) {
                lines.push(full);
            } else {
                lines.push(contact.name(false));
            }
        }
        lines.push("Stadt Braunschweig".to_string());
        if self.case.unit_in_address() {
            lines.extend(self.ts.wrap(style, self.unit_name, mm(ADDRESS_WIDTH_MM)));
        } else if let Some(line) = self.authority_line {
            lines.push(line.to_string());
        }
        if let Some(contact) = contact.filter(|_| !self.contact_above) {
            let title = if contact.female { "Frau" } else { "Herrn" };
            lines.push(format!("z. Hd. {title} {}", contact.last_name));
        }
        if self.po_box {
            lines.push("Postfach 33 09".to_string());
            lines.push("38023 Braunschweig".to_string());
        } else {
            lines.push("Platz der Deutschen Einheit 1".to_string());
            lines.push("38100 Braunschweig".to_string());
        }
        lines
    }

    /// Company footer on page 1: registration and bank details.
    fn footer_lines(&self, rng: &mut Rng) -> Vec<String> {
        if self.sender.company.is_none() {
            return Vec::new();
        }
        vec![
            format!(
                "Inhaber: {} · Amtsgericht Braunschweig HRB {}",
                self.sender.signer,
                rng.between(1000, 99_999)
            ),
            format!(
                "Braunschweigische Landessparkasse · IBAN DE{:02} 2505 0000 {:04} {:04} {:02} · BIC NOLADE2HXXX",
                rng.between(10, 99),
                rng.between(0, 9999),
                rng.between(0, 9999),
                rng.between(0, 99)
            ),
        ]
    }
}

/// Composes a letter of routing case `case`. Everything an addressed letter has is drawn
/// from `rng` in the same order whatever the case (a letter that has no use for a draw,
/// say a "z. Hd." line, still makes it; an ambiguous or no_topic letter lays out the
/// addressed letter it stands in for and throws it away), and everything the case adds (a
/// second topic, a generic topic, the authority line, the confidentiality mark, the person
/// above the authority, the layout of a letter with other text) comes from `case_rng`. So
/// the routing cases change the letters' text but leave the draws after them (the
/// planner's, the scan's) as they were.
pub(crate) fn compose_letter(
    rng: &mut Rng,
    case_rng: &mut Rng,
    fonts: &[FontFamily],
    sheets: usize,
    case: RoutingCase,
) -> Result<Letter> {
    let family = rng.below(fonts.len());
    let (unit_code, unit_name) = rng.pick(UNITS);
    let topics_of =
        |unit: &str| -> Vec<&'static Topic> { TOPICS.iter().filter(|t| t.unit == unit).collect() };
    let topic = rng.pick(&topics_of(unit_code));
    let sender = random_sender(rng, topic.sender);
    let letter_day = Day(rng.between(8, 330));
    let facts = random_facts(rng, unit_code, &sender, letter_day);
    let z_hd = rng.chance(0.3).then(|| Contact {
        female: rng.chance(0.5),
        title: None,
        first_name: None,
        last_name: rng.pick(LAST_NAMES),
    });

    let topics = match case {
        RoutingCase::NoTopic => {
            // A generic letter that suits the sender (a firm does not move house "meiner").
            let fitting: Vec<&'static Topic> = GENERIC_TOPICS
                .iter()
                .filter(|t| sender.company.is_none() || t.sender != SenderKind::Person)
                .collect();
            vec![case_rng.pick(&fitting)]
        }
        RoutingCase::Ambiguous => {
            // A second matter for another unit, named in the subject as well.
            let others: Vec<&str> = UNITS
                .iter()
                .map(|(code, _)| *code)
                .filter(|code| *code != unit_code)
                .collect();
            let other = case_rng.pick(&others);
            vec![topic, case_rng.pick(&topics_of(other))]
        }
        _ => vec![topic],
    };
    let subject = match topics[..] {
        [first, second] => {
            let (a, b) = (facts.fill(first.subject), facts.fill(second.subject));
            match case_rng.below(3) {
                0 => format!("{a} sowie {b}"),
                1 => format!("{a}; {b}"),
                _ => format!("{a} und {b}"),
            }
        }
        _ => facts.fill(topics[0].subject),
    };
    let contact_above = case == RoutingCase::ConfidentialPerson;
    let (contact, unused_z_hd) = if contact_above {
        let female = case_rng.chance(0.5);
        let first_names: Vec<&'static str> = FIRST_NAMES
            .iter()
            .copied()
            .filter(|name| FEMALE_FIRST_NAMES.contains(name) == female)
            .collect();
        let person = Contact {
            female,
            title: case_rng.chance(0.45).then(|| case_rng.pick(TITLES)),
            first_name: case_rng.chance(0.8).then(|| case_rng.pick(&first_names)),
            last_name: case_rng.pick(LAST_NAMES),
        };
        (Some(person), z_hd)
    } else if matches!(
        case,
        RoutingCase::Addressed | RoutingCase::ConfidentialMarked
    ) {
        (z_hd, None)
    } else {
        (None, z_hd)
    };
    let authority_line = if case.unit_in_address() {
        None
    } else {
        let r = case_rng.unit();
        if r < 0.3 {
            Some("Der Oberbürgermeister")
        } else if r < 0.5 {
            Some("Bürgerservice")
        } else {
            None
        }
    };
    let mark = (case == RoutingCase::ConfidentialMarked).then(|| Mark {
        text: case_rng.pick(CONFIDENTIAL_MARKS),
        bold: case_rng.chance(0.4),
        lines_above: if case_rng.chance(0.7) { 1 } else { 2 },
    });
    let ts = Typesetter {
        family: fonts
            .get(family)
            .ok_or_else(|| anyhow!("no font family {family}"))?,
    };
    let style = random_style(rng);
    let po_box = rng.chance(0.3);
    let draft = Draft {
        ts,
        style: style.clone(),
        subject,
        sender: sender.clone(),
        facts: facts.clone(),
        topics,
        unit_name,
        case,
        contact,
        contact_above,
        authority_line,
        mark,
        po_box,
        letter_day,
    };
    let pages = if case.unit_hidden() {
        // Lay out the addressed letter this one stands in for, from `rng`, so the draws
        // after it stay as they were; the letter itself is laid out from `case_rng`.
        let stand_in = Draft {
            ts,
            style,
            subject: facts.fill(topic.subject),
            sender,
            facts,
            topics: vec![topic],
            unit_name,
            case: RoutingCase::Addressed,
            contact: unused_z_hd,
            contact_above: false,
            authority_line: None,
            mark: None,
            po_box,
            letter_day,
        };
        lay_out_letter(&stand_in, sheets, rng);
        lay_out_letter(&draft, sheets, case_rng)
    } else {
        lay_out_letter(&draft, sheets, rng)
    };
    let address_style = Style::regular(draft.style.body.pt.min(11.0));
    let mut address: Vec<String> = draft.mark.iter().map(|m| m.text.to_string()).collect();
    address.extend(draft.address_lines(address_style));
    Ok(Letter {
        unit_code,
        unit_name,
        subject: draft.subject,
        case,
        address,
        family,
        day: letter_day,
        pages,
    })
}

/// Writes paragraphs until the letter fills its target number of sheets to a random
/// depth, then places everything on pages.
fn lay_out_letter(draft: &Draft, target: usize, rng: &mut Rng) -> Vec<PageLayout> {
    let wanted_fill = rng.uniform(0.25, 0.8) as f32;
    let opening = draft.opening_blocks(rng);
    let closing = draft.closing_blocks(rng);
    let mut topic_decks = TopicDecks {
        decks: draft
            .topics
            .iter()
            .map(|t| Deck::new(&draft.usable(t.sentences), rng))
            .collect(),
        turn: 0,
    };
    let mut general_deck = Deck::new(&draft.usable(GENERAL_SENTENCES), rng);

    let first_paragraph = {
        let opener = rng.pick(&draft.usable(OPENERS));
        let mut text = draft.facts.fill(opener);
        // An ambiguous letter brings up both of its matters right away.
        let count = (rng.between(1, 2) as usize).max(topic_decks.decks.len());
        for _ in 0..count {
            text.push(' ');
            text.push_str(&draft.facts.fill(topic_decks.next().draw(rng)));
        }
        draft.paragraph(&text, 1.0)
    };
    let last_paragraph = {
        let mut closers = Deck::new(CLOSERS, rng);
        let count = rng.between(1, 2);
        let text: Vec<String> = (0..count)
            .map(|_| draft.facts.fill(closers.draw(rng)))
            .collect();
        draft.paragraph(&text.join(" "), 1.0)
    };
    let paragraph_gap = rng.pick(&[0.6, 0.8, 1.0]);

    let first_top = mm(FIRST_FLOW_TOP_MM);
    let next_top = mm(NEXT_FLOW_TOP_MM);
    let assemble = |middle: &[FlowBlock]| -> Vec<FlowBlock> {
        let mut blocks = opening.clone();
        blocks.push(first_paragraph.clone());
        blocks.extend(middle.iter().cloned());
        blocks.push(last_paragraph.clone());
        blocks.extend(closing.iter().cloned());
        blocks
    };

    let mut middle: Vec<FlowBlock> = Vec::new();
    // A cap keeps a pathological layout from looping; 3 full pages need ~25 paragraphs.
    for _ in 0..40 {
        let pages = paginate(&assemble(&middle), &draft.ts, first_top, next_top);
        if pages.len() > target {
            middle.pop();
            break;
        }
        if pages.len() == target && page_fill(&pages, first_top, next_top) >= wanted_fill {
            break;
        }
        middle.push(middle_paragraph(
            draft,
            rng,
            &mut topic_decks,
            &mut general_deck,
            paragraph_gap,
        ));
    }
    let flow_pages = paginate(&assemble(&middle), &draft.ts, first_top, next_top);
    finish_pages(draft, rng, flow_pages)
}

/// How far down the last page the flow reaches, 0..1.
fn page_fill(pages: &[Vec<PlacedLine>], first_top: f32, next_top: f32) -> f32 {
    let top = if pages.len() == 1 {
        first_top
    } else {
        next_top
    };
    let bottom = pages
        .last()
        .and_then(|p| p.last())
        .map_or(top, |line| line.y);
    (bottom - top) / (mm(BODY_BOTTOM_MM) - top)
}

fn middle_paragraph(
    draft: &Draft,
    rng: &mut Rng,
    topic_decks: &mut TopicDecks,
    general_deck: &mut Deck,
    gap: f32,
) -> FlowBlock {
    let count = rng.between(2, 4);
    let sentences: Vec<String> = (0..count)
        .map(|_| {
            draft
                .facts
                .fill(body_sentence(rng, topic_decks.next(), general_deck))
        })
        .collect();
    draft.paragraph(&sentences.join(" "), gap)
}

/// Adds the head to page 1 and page numbers and footers to all pages.
fn finish_pages(draft: &Draft, rng: &mut Rng, flow_pages: Vec<Vec<PlacedLine>>) -> Vec<PageLayout> {
    let total = flow_pages.len();
    let footer = draft.footer_lines(rng);
    let small = draft.style.small;
    let numbering_style = Style::regular(draft.style.body.pt.min(10.0));
    flow_pages
        .into_iter()
        .enumerate()
        .map(|(index, flow)| {
            let number = index + 1;
            let mut lines = Vec::new();
            if index == 0 {
                lines.extend(draft.head_lines());
            } else {
                let (text, align) = match draft.style.numbering {
                    PageNumbering::HeaderDash => (format!("- {number} -"), Align::Center),
                    _ => (format!("Seite {number} von {total}"), Align::Right),
                };
                if draft.style.numbering != PageNumbering::Footer {
                    lines.push(PlacedLine {
                        x: draft.ts.x_for(numbering_style, &text, align),
                        y: mm(14.0),
                        text,
                        style: numbering_style,
                    });
                }
            }
            lines.extend(flow);
            if total > 1 && draft.style.numbering == PageNumbering::Footer {
                let text = format!("Seite {number} von {total}");
                lines.push(PlacedLine {
                    x: draft.ts.x_for(numbering_style, &text, Align::Right),
                    y: mm(275.0),
                    text,
                    style: numbering_style,
                });
            }
            if index == 0 {
                let mut y = mm(282.0);
                for text in &footer {
                    lines.push(PlacedLine {
                        x: draft.ts.x_for(small, text, Align::Center),
                        y,
                        text: text.clone(),
                        style: small,
                    });
                    y += pt_to_px(small.pt) * 1.3;
                }
            }
            PageLayout { lines }
        })
        .collect()
}

fn render_page(page: &PageLayout, ts: &Typesetter) -> GrayImage {
    let mut image = GrayImage::from_pixel(PAGE_W, PAGE_H, Luma([255]));
    draw_page(&mut image, page, ts);
    image
}

/// Draws the lines of a page on `image` (white, A4 at 300 dpi).
pub(crate) fn draw_page(image: &mut GrayImage, page: &PageLayout, ts: &Typesetter) {
    for line in &page.lines {
        draw_line(image, line, ts);
    }
}

fn draw_line(image: &mut GrayImage, line: &PlacedLine, ts: &Typesetter) {
    let font = ts.font(line.style);
    draw_text(
        image,
        font,
        ts.scale(line.style),
        (line.x, line.y),
        &line.text,
    );
}

/// Draws black anti-aliased text on `image` with the top of its line box at `at`, glyph
/// by glyph with the same advances and kerning that [`text_width`] measures (imageproc's
/// text drawing is not enabled in this build, and this keeps measuring and drawing in one
/// place).
fn draw_text(image: &mut GrayImage, font: &FontVec, scale: PxScale, at: (f32, f32), text: &str) {
    let scaled = font.as_scaled(scale);
    let baseline = at.1 + scaled.ascent();
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    let mut caret = at.0;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(previous) = previous {
            caret += scaled.kern(previous, id);
        }
        previous = Some(id);
        let glyph = id.with_scale_and_position(scale, ab_glyph::point(caret, baseline));
        caret += scaled.h_advance(id);
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue; // blanks have no outline
        };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let x = bounds.min.x as i64 + i64::from(gx);
            let y = bounds.min.y as i64 + i64::from(gy);
            if (0..w).contains(&x) && (0..h).contains(&y) {
                let pixel = image.get_pixel_mut(x as u32, y as u32);
                // Multiply so that overlapping glyph edges darken like real toner.
                let value = f32::from(pixel.0[0]) * (1.0 - coverage.clamp(0.0, 1.0));
                pixel.0[0] = value.round() as u8;
            }
        });
    }
}

// ---------------------------------------------------------------------------------------
// Almost blank pages: a note, a stamp or one typed line on an otherwise empty page
// ---------------------------------------------------------------------------------------

/// The kinds of content an almost blank page carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AlmostBlankVariant {
    /// One to three short handwritten lines.
    Note,
    /// A faded receipt stamp: a frame with two lines of capitals.
    Stamp,
    /// One typed line.
    TypedLine,
}

const ALMOST_BLANK_VARIANTS: [AlmostBlankVariant; 3] = [
    AlmostBlankVariant::Note,
    AlmostBlankVariant::Stamp,
    AlmostBlankVariant::TypedLine,
];

/// Remarks clerks scribble on incoming mail.
const NOTE_LINES: &[&str] = &[
    "Bitte Rücksprache",
    "Eilt!",
    "z. K. an FB 61",
    "Bitte prüfen",
    "Wv. in 2 Wochen",
    "Rückruf erbeten",
    "Kopie an 50.4",
    "erledigt",
    "Frist notiert",
    "z. d. A.",
];

const STAMP_HEADINGS: &[&str] = &["EINGEGANGEN", "EINGANG", "POSTEINGANG"];

/// Draws the content of an almost blank page upright on an empty page. Its ink: the pen
/// is a blue-ish dark gray (gray 55-90), the stamp faded (gray 70-100), typed text the
/// page's toner.
fn compose_almost_blank(
    variant: AlmostBlankVariant,
    letter: &Letter,
    fonts: &Fonts,
    rng: &mut Rng,
) -> Printed {
    let mut page = GrayImage::from_pixel(PAGE_W, PAGE_H, Luma([255]));
    let (text, ink) = match variant {
        AlmostBlankVariant::Note => {
            let text = draw_note(&mut page, letter, fonts, rng);
            (text, Some(rng.uniform(55.0, 90.0) as f32))
        }
        AlmostBlankVariant::Stamp => {
            let text = draw_stamp(&mut page, letter, fonts, rng);
            (text, Some(rng.uniform(70.0, 100.0) as f32))
        }
        AlmostBlankVariant::TypedLine => (draw_typed_line(&mut page, letter, fonts, rng), None),
    };
    Printed {
        coverage: page,
        kind: PageKind::AlmostBlank,
        text,
        ink,
    }
}

/// A short handwritten note at 20-28 pt in an italic face, turned by up to ±8°, in the
/// upper half or the middle of the page. Returns its lines joined by `\n`.
fn draw_note(page: &mut GrayImage, letter: &Letter, fonts: &Fonts, rng: &mut Rng) -> String {
    let font = &fonts.hand[rng.below(fonts.hand.len())];
    let scale = font_scale(font, rng.uniform(20.0, 28.0) as f32);
    // A letter that does not tell its unit gets no note naming one ("z. K. an FB 61").
    let names_unit = |line: &&str| {
        line.split_whitespace()
            .any(|word| UNITS.iter().any(|(code, _)| *code == word))
    };
    let notes: Vec<&'static str> = NOTE_LINES
        .iter()
        .copied()
        .filter(|line| !letter.case.unit_hidden() || !names_unit(line))
        .collect();
    let mut deck = Deck::new(&notes, rng);
    let lines: Vec<&str> = (0..rng.between(1, 3)).map(|_| deck.draw(rng)).collect();
    let widths: Vec<f32> = lines.iter().map(|l| text_width(font, scale, l)).collect();
    let widest = widths.iter().copied().fold(0.0, f32::max);
    let line_height = scale.y * 1.1;
    // Room for the turn and for lines that do not all start at the same x.
    let margin = (0.15 * widest).max(line_height);
    let mut canvas = GrayImage::from_pixel(
        (widest * 1.1 + 2.0 * margin).ceil() as u32,
        (line_height * lines.len() as f32 + 2.0 * margin).ceil() as u32,
        Luma([255]),
    );
    for (i, line) in lines.iter().enumerate() {
        let indent = rng.uniform(0.0, 0.1) as f32 * widest;
        let top = margin + i as f32 * line_height;
        draw_text(&mut canvas, font, scale, (margin + indent, top), line);
    }
    let angle = rng.uniform(-8.0, 8.0);
    let canvas = skew_content(&canvas, angle);
    let cw = canvas.width();
    let x = rng.uniform(
        f64::from(mm(20.0)),
        f64::from(PAGE_W - cw) - f64::from(mm(20.0)),
    );
    let y = rng.uniform(f64::from(mm(25.0)), f64::from(mm(150.0)));
    overlay(page, &canvas, x as u32, y as u32);
    lines.join("\n")
}

/// A receipt stamp of about 60 x 25 mm: a 3 px frame around two lines of capitals
/// ("EINGEGANGEN" / "14. MÄRZ 2026"), turned by up to ±3°, anywhere on the page but the
/// outermost 15 mm. Returns its two lines joined by `\n`.
fn draw_stamp(page: &mut GrayImage, letter: &Letter, fonts: &Fonts, rng: &mut Rng) -> String {
    let font = &fonts.families[STAMP_FAMILY.min(fonts.families.len() - 1)].bold;
    let received = letter.day.offset(i64::from(rng.between(2, 12)));
    let lines = [
        rng.pick(STAMP_HEADINGS).to_string(),
        if rng.chance(0.7) {
            received.long().to_uppercase()
        } else {
            received.numeric()
        },
    ];
    let box_w = mm(rng.uniform(56.0, 64.0) as f32);
    let box_h = mm(rng.uniform(22.0, 28.0) as f32);
    // Thinner lines at this faded ink break up in bilevel files.
    let thickness = 3;
    let margin = 40.0;
    let mut canvas = GrayImage::from_pixel(
        (box_w + 2.0 * margin).ceil() as u32,
        (box_h + 2.0 * margin).ceil() as u32,
        Luma([255]),
    );
    let (left, top) = (margin as u32, margin as u32);
    let (right, bottom) = ((margin + box_w) as u32, (margin + box_h) as u32);
    for y in top..bottom {
        for x in left..right {
            if x < left + thickness
                || x >= right - thickness
                || y < top + thickness
                || y >= bottom - thickness
            {
                canvas.put_pixel(x, y, Luma([0]));
            }
        }
    }
    for (line, (pt, at)) in lines.iter().zip([(15.0, 0.14), (12.0, 0.56)]) {
        // Shrink a line that would not fit the frame.
        let mut scale = font_scale(font, pt);
        let width = text_width(font, scale, line);
        if width > box_w * 0.86 {
            scale = PxScale::from(scale.y * box_w * 0.86 / width);
        }
        let width = text_width(font, scale, line);
        let x = margin + (box_w - width) / 2.0;
        draw_text(&mut canvas, font, scale, (x, margin + box_h * at), line);
    }
    let canvas = skew_content(&canvas, rng.uniform(-3.0, 3.0));
    let (cw, ch) = canvas.dimensions();
    // The frame itself stays out of the outermost 15 mm.
    let inset = f64::from(mm(15.0)) - f64::from(margin);
    let x = rng.uniform(inset, f64::from(PAGE_W - cw) - inset);
    let y = rng.uniform(inset, f64::from(PAGE_H - ch) - inset);
    overlay(page, &canvas, x as u32, y as u32);
    lines.join("\n")
}

/// One typed line in the letter's typeface: an enclosure header, an "intentionally left
/// blank" notice (centred on the page) or a file copy remark.
fn draw_typed_line(page: &mut GrayImage, letter: &Letter, fonts: &Fonts, rng: &mut Rng) -> String {
    let families = &fonts.families;
    let ts = Typesetter {
        family: &families[letter.family.min(families.len() - 1)],
    };
    let style = Style::regular(rng.pick(&[11.0, 11.5, 12.0]));
    let (text, align, y_mm) = match rng.below(3) {
        0 => (
            format!(
                "Anlage {} zum Schreiben vom {}",
                rng.between(1, 3),
                letter.day.long()
            ),
            Align::Left,
            rng.uniform(20.0, 40.0),
        ),
        1 => (
            "Diese Seite wurde absichtlich leer gelassen.".to_string(),
            Align::Center,
            rng.uniform(135.0, 150.0),
        ),
        _ => (
            "Kopie zum Verbleib bei den Akten".to_string(),
            Align::Right,
            rng.uniform(20.0, 40.0),
        ),
    };
    let line = PlacedLine {
        x: ts.x_for(style, &text, align),
        y: mm(y_mm as f32),
        text,
        style,
    };
    draw_line(page, &line, &ts);
    line.text
}

/// Lays `canvas` onto `page` with its top-left corner at (`x`, `y`), multiplying so
/// that ink only ever darkens.
fn overlay(page: &mut GrayImage, canvas: &GrayImage, x: u32, y: u32) {
    for (cx, cy, pixel) in canvas.enumerate_pixels() {
        let (px, py) = (x + cx, y + cy);
        if px < page.width() && py < page.height() && pixel.0[0] < 255 {
            let under = page.get_pixel_mut(px, py);
            under.0[0] = ((u32::from(under.0[0]) * u32::from(pixel.0[0]) + 127) / 255) as u8;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Batch planning: formats, duplex, orientation
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrayTiffCompression {
    Deflate,
    Lzw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    JpegGray {
        quality: u8,
    },
    JpegRgb {
        quality: u8,
    },
    PngGray,
    TiffGray {
        compression: GrayTiffCompression,
        predictor: bool,
    },
    TiffG4,
}

impl FileFormat {
    fn is_lossless_gray(self) -> bool {
        matches!(self, FileFormat::PngGray | FileFormat::TiffGray { .. })
    }

    fn extension(self) -> &'static str {
        match self {
            FileFormat::JpegGray { .. } | FileFormat::JpegRgb { .. } => "jpg",
            FileFormat::PngGray => "png",
            FileFormat::TiffGray { .. } | FileFormat::TiffG4 => "tif",
        }
    }
}

/// What is printed on one side of a sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Page `n` (0-based) of the letter.
    Letter(usize),
    /// A nearly empty page that still carries content.
    AlmostBlank(AlmostBlankVariant),
    /// Nothing: the empty back of a duplex sheet.
    Blank,
}

/// How one sheet of a letter is scanned.
#[derive(Debug, Clone, PartialEq)]
struct SheetPlan {
    front: Side,
    /// Present when the letter is scanned duplex.
    back: Option<Side>,
    /// Clockwise rotation of the front on the scan; the back shows the mirror.
    rotation: u32,
    /// Keep the sheet under 2° (sheets with an almost blank side, the first letter page).
    small_skew: bool,
    punch_holes: bool,
    /// Black scanner edges on the scan of the front and of the back.
    front_edges: bool,
    back_edges: bool,
    /// Bleed-through up to ~15 gray levels instead of 3-8 (blank backs only).
    strong_bleed: bool,
}

/// How one letter is scanned.
struct ScanPlan {
    format: FileFormat,
    sheets: Vec<SheetPlan>,
    /// Yellowish recycled paper (visible on colour scans only).
    yellowish: bool,
}

/// Chooses formats and scan conditions, keeping big lossless formats rare and making sure
/// even a small batch shows every case: PNG, RGB JPEG, gray TIFF, duplex, each rotation,
/// punch holes, black edges (also on blank backs), strong bleed-through and almost blank
/// pages. The first letter page is always upright and nearly straight.
#[derive(Default)]
struct BatchPlanner {
    letters: usize,
    long_letters: usize,
    /// Frames (pages) planned so far.
    pages: usize,
    sheets: usize,
    letter_pages: usize,
    png: usize,
    rgb: usize,
    gray_tiff: usize,
    duplex: usize,
    /// Letter pages turned by 180, 90 and 270 degrees.
    turned: [usize; 3],
    almost_blank: usize,
    /// Almost blank variants used since all of them were last seen.
    variants_seen: Vec<AlmostBlankVariant>,
    blank_backs: usize,
    holed_sheets: usize,
    holed_blank_backs: usize,
    edged_fronts: usize,
    edged_blank_backs: usize,
    strong_bleeds: usize,
    /// Letters per routing case, in the order of [`ROUTING_CASES`].
    cases: [usize; 6],
}

/// The turns [`BatchPlanner::turned`] counts, in order.
const TURNS: [u32; 3] = [180, 90, 270];

impl BatchPlanner {
    /// Target sheets of the next letter: about 55 % one, 30 % two, 15 % three. Long letters
    /// are capped at one in four so a small batch is not all three-pagers by chance.
    fn sheets(&mut self, rng: &mut Rng) -> usize {
        let r = rng.unit();
        let sheets = if r < 0.55 {
            1
        } else if r < 0.85 {
            2
        } else {
            3
        };
        if sheets == 3 && self.long_letters * 4 > self.letters {
            return 1;
        }
        self.long_letters += usize::from(sheets == 3);
        sheets
    }

    /// Routing case of the next letter (call before [`BatchPlanner::plan`]): drawn at the
    /// shares of [`RoutingCase::share`]; the first letter is always addressed, and a case
    /// not seen yet is forced from its [`RoutingCase::due`] letter on (unless the draw is
    /// itself a case not seen yet), so every batch of eight letters shows all six.
    fn routing_case(&mut self, rng: &mut Rng) -> RoutingCase {
        let r = rng.unit();
        let mut drawn = RoutingCase::Addressed;
        let mut upto = 0.0;
        for case in ROUTING_CASES {
            upto += case.share();
            if r < upto {
                drawn = case;
                break;
            }
        }
        let index = |case: RoutingCase| ROUTING_CASES.iter().position(|&c| c == case);
        let seen =
            |planner: &Self, case: RoutingCase| index(case).is_some_and(|i| planner.cases[i] > 0);
        let case = if self.letters == 0 {
            RoutingCase::Addressed
        } else if seen(self, drawn) {
            let mut due: Vec<RoutingCase> = ROUTING_CASES
                .iter()
                .copied()
                .filter(|&c| !seen(self, c) && self.letters >= c.due())
                .collect();
            due.sort_by_key(|c| c.due());
            due.first().copied().unwrap_or(drawn)
        } else {
            drawn
        };
        if let Some(i) = index(case) {
            self.cases[i] += 1;
        }
        case
    }

    fn plan(&mut self, rng: &mut Rng, letter_pages: usize) -> ScanPlan {
        let duplex_p = if letter_pages > 1 { 0.35 } else { 0.2 };
        let duplex = rng.chance(duplex_p)
            || (self.duplex == 0 && self.letters >= 3)
            || (self.blank_backs < 2 && self.letters >= 6);
        // About one page in twelve overall. A letter adds at most 8 frames, so forcing the
        // first from frame 3 and the second from frame 6 on puts two into every batch of
        // 15 pages or more.
        let almost_blank = rng.chance(0.18)
            || (self.almost_blank == 0 && self.pages >= 3)
            || (self.almost_blank < 2 && self.pages >= 6);
        let back = duplex.then_some(Side::Blank);
        let mut sides: Vec<(Side, Option<Side>)> =
            (0..letter_pages).map(|i| (Side::Letter(i), back)).collect();
        if almost_blank {
            let variant = self.almost_blank_variant(rng);
            // On the back of the last sheet, or as an extra last sheet.
            let on_back = duplex && rng.chance(0.5);
            match sides.last_mut() {
                Some(last) if on_back => last.1 = Some(Side::AlmostBlank(variant)),
                _ => sides.push((Side::AlmostBlank(variant), back)),
            }
            self.almost_blank += 1;
        }
        // A letter taken from a binder has every sheet punched; the batch's first letter
        // stays plain.
        let punch_holes = self.letters > 0
            && (rng.chance(0.15)
                || (self.holed_sheets == 0 && self.sheets >= 3)
                || (duplex && self.holed_blank_backs == 0 && self.blank_backs >= 1));
        let frames = sides.len() * if duplex { 2 } else { 1 };
        let format = if frames > 1 {
            self.tiff_format(rng, frames)
        } else {
            self.single_page_format(rng)
        };
        let yellowish =
            matches!(format, FileFormat::JpegRgb { .. }) && (self.rgb == 1 || rng.chance(0.3));
        let sheets = sides
            .into_iter()
            .map(|(front, back)| self.sheet(rng, front, back, punch_holes))
            .collect();
        self.letters += 1;
        self.duplex += usize::from(duplex);
        ScanPlan {
            format,
            sheets,
            yellowish,
        }
    }

    fn sheet(
        &mut self,
        rng: &mut Rng,
        front: Side,
        back: Option<Side>,
        punch_holes: bool,
    ) -> SheetPlan {
        // The batch's first letter page is a plain one, upright and nearly straight: the
        // baseline every batch has.
        let baseline = matches!(front, Side::Letter(_)) && self.letter_pages == 0;
        let rotation = match front {
            Side::Letter(_) if baseline => {
                self.letter_pages += 1;
                0
            }
            Side::Letter(_) => self.letter_rotation(rng),
            _ => {
                if rng.chance(0.1) {
                    180
                } else {
                    0
                }
            }
        };
        let blank_back = back == Some(Side::Blank);
        let small_skew = baseline
            || matches!(front, Side::AlmostBlank(_))
            || matches!(back, Some(Side::AlmostBlank(_)));
        let front_edges =
            !baseline && (rng.chance(0.15) || (self.edged_fronts == 0 && self.pages >= 4));
        let back_edges =
            back.is_some() && (rng.chance(0.15) || (blank_back && self.edged_blank_backs == 0));
        let strong_bleed =
            blank_back && (rng.chance(0.2) || (self.strong_bleeds == 0 && self.blank_backs >= 1));

        self.sheets += 1;
        self.pages += 1 + usize::from(back.is_some());
        self.holed_sheets += usize::from(punch_holes);
        self.edged_fronts += usize::from(front_edges);
        if blank_back {
            self.blank_backs += 1;
            self.holed_blank_backs += usize::from(punch_holes);
            self.edged_blank_backs += usize::from(back_edges);
            self.strong_bleeds += usize::from(strong_bleed);
        }
        SheetPlan {
            front,
            back,
            rotation,
            small_skew,
            punch_holes,
            front_edges,
            back_edges,
            strong_bleed,
        }
    }

    /// About 76 % of letter pages upright and 8 % each turned by 180, 90 and 270 degrees.
    /// A turn still missing is forced from the 3rd (180), 5th (90) and 7th (270) letter
    /// page on, so every batch with 7 letter pages shows all of them.
    fn letter_rotation(&mut self, rng: &mut Rng) -> u32 {
        let r = rng.unit();
        let mut rotation = if r < 0.76 {
            0
        } else if r < 0.84 {
            180
        } else if r < 0.92 {
            90
        } else {
            270
        };
        // Unless the draw is itself a turn not seen yet, a missing turn that is due wins.
        let drawn_new = TURNS
            .iter()
            .position(|&t| t == rotation)
            .is_some_and(|i| self.turned[i] == 0);
        if !drawn_new {
            if let Some(i) =
                (0..TURNS.len()).find(|&i| self.turned[i] == 0 && self.letter_pages >= 2 + 2 * i)
            {
                rotation = TURNS[i];
            }
        }
        if let Some(i) = TURNS.iter().position(|&t| t == rotation) {
            self.turned[i] += 1;
        }
        self.letter_pages += 1;
        rotation
    }

    /// A random variant among those not used since all were last seen.
    fn almost_blank_variant(&mut self, rng: &mut Rng) -> AlmostBlankVariant {
        if self.variants_seen.len() >= ALMOST_BLANK_VARIANTS.len() {
            self.variants_seen.clear();
        }
        let unseen: Vec<AlmostBlankVariant> = ALMOST_BLANK_VARIANTS
            .iter()
            .copied()
            .filter(|v| !self.variants_seen.contains(v))
            .collect();
        let variant = rng.pick(&unseen);
        self.variants_seen.push(variant);
        variant
    }

    fn tiff_format(&mut self, rng: &mut Rng, frames: usize) -> FileFormat {
        // Noisy gray pages compress badly: allow few and only short ones.
        let gray = frames <= 2
            && ((self.gray_tiff == 0 && self.letters >= 1)
                || (self.gray_tiff * 12 <= self.letters && rng.chance(0.1)));
        if gray {
            self.gray_tiff += 1;
            let compression = if rng.chance(0.5) {
                GrayTiffCompression::Deflate
            } else {
                GrayTiffCompression::Lzw
            };
            FileFormat::TiffGray {
                compression,
                predictor: rng.chance(0.5),
            }
        } else {
            FileFormat::TiffG4
        }
    }

    fn single_page_format(&mut self, rng: &mut Rng) -> FileFormat {
        let quality = rng.between(55, 85) as u8;
        if (self.png == 0 && self.letters >= 2)
            || (self.png * 12 <= self.letters && rng.chance(0.08))
        {
            self.png += 1;
            FileFormat::PngGray
        } else if (self.rgb == 0 && self.letters >= 4) || rng.chance(0.1) {
            self.rgb += 1;
            FileFormat::JpegRgb { quality }
        } else {
            FileFormat::JpegGray { quality }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scanning: skew, rotation, paper, ink, speckles, blur, noise, bleed-through
// ---------------------------------------------------------------------------------------

/// One frame as it will be written, with its truth.
struct ScannedPage {
    image: GrayImage,
    kind: PageKind,
    text: String,
    geometry: Geometry,
    black_edges: bool,
    punch_holes: bool,
    /// RGB multipliers of the gray value, for colour files.
    tint: [f32; 3],
    /// Barcodes printed on the page (stream batches only).
    barcodes: Vec<TruthBarcode>,
    /// Patch code printed on the page (separator sheets only).
    patch: Option<PatchType>,
}

/// Paper and scanner properties of one scanned side.
struct ScanLook {
    /// Paper gray in the page centre.
    paper: f32,
    /// RGB multipliers of the gray value on colour scans: the paper's hue. Gray files
    /// carry the luminance only.
    tint: [f32; 3],
    /// Brightness change from left to right and top to bottom edge.
    tilt_x: f32,
    tilt_y: f32,
    /// How much darker the corners are than the centre.
    vignette: f32,
    ink: f32,
    noise_sigma: f32,
    /// 0 = no blur.
    blur_sigma: f32,
    speckles: usize,
    /// The scanner's background cleanup: flat paper, noise only where there is ink. Used
    /// for lossless files, whose size noise on bare paper would multiply by ten (and a
    /// noise-free gradient would show 1-level banding rings, which no scanner produces).
    clean_background: bool,
}

/// The slightly warm white of office paper on a colour scan.
const WHITE_TINT: [f32; 3] = [1.0, 0.985, 0.93];

/// Paper gray and tint: mostly white office paper, sometimes gray recycled paper
/// (210-235), sometimes yellowish recycled paper around RGB (238, 230, 200), whose gray
/// is its luminance.
fn random_paper(rng: &mut Rng, yellowish: bool) -> (f32, [f32; 3]) {
    let r = rng.unit();
    if yellowish || r >= 0.85 {
        let rgb = [
            rng.uniform(232.0, 244.0) as f32,
            rng.uniform(223.0, 236.0) as f32,
            rng.uniform(186.0, 212.0) as f32,
        ];
        let luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
        (luma, rgb.map(|c| c / luma))
    } else if r >= 0.7 {
        (rng.uniform(210.0, 235.0) as f32, [1.0, 0.995, 0.98])
    } else {
        (rng.uniform(225.0, 250.0) as f32, WHITE_TINT)
    }
}

fn random_look(rng: &mut Rng, clean_background: bool, yellowish: bool) -> ScanLook {
    let unevenness = if clean_background { 0.0 } else { 1.0 };
    let (paper, tint) = random_paper(rng, yellowish);
    ScanLook {
        paper,
        tint,
        tilt_x: unevenness * rng.uniform(-6.0, 6.0) as f32,
        tilt_y: unevenness * rng.uniform(-6.0, 6.0) as f32,
        vignette: unevenness * rng.uniform(0.0, 10.0) as f32,
        ink: rng.uniform(20.0, 60.0) as f32,
        noise_sigma: rng.uniform(3.0, 6.0) as f32,
        blur_sigma: if rng.chance(0.4) {
            rng.uniform(0.5, 0.9) as f32
        } else {
            0.0
        },
        speckles: 30 + rng.below(270),
        clean_background,
    }
}

/// Most pages are skewed up to ±5°, some lie almost straight. Rounded to 0.01° so the
/// truth shows exactly the angle that was applied.
fn random_skew(rng: &mut Rng) -> f64 {
    let skew = if rng.chance(0.15) {
        rng.uniform(-0.3, 0.3)
    } else {
        rng.uniform(-5.0, 5.0)
    };
    (skew * 100.0).round() / 100.0
}

/// Under 2° either way: sheets with an almost blank side and the batch's first letter
/// page.
fn random_small_skew(rng: &mut Rng) -> f64 {
    (rng.uniform(-1.99, 1.99) * 100.0).round() / 100.0
}

/// How a side of a sheet lies on the scan.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Geometry {
    /// Tilt in degrees, positive = counter-clockwise as seen on the scan.
    skew_deg: f64,
    /// Clockwise rotation of the upright page on the scan: 0, 90, 180 or 270. At 90 the
    /// page's top is at the right side of the (landscape) scan.
    rotation: u32,
}

impl Geometry {
    /// The same sheet as its back appears: the duplex scanner sees the back mirrored
    /// left-right relative to the front, so skew and turn change direction.
    fn back(self) -> Geometry {
        Geometry {
            // No negative zero in the truth.
            skew_deg: if self.skew_deg == 0.0 {
                0.0
            } else {
                -self.skew_deg
            },
            rotation: (360 - self.rotation) % 360,
        }
    }

    /// Skews and turns an upright page the way it lies on the scan.
    fn apply(self, upright: &GrayImage) -> GrayImage {
        let mut skewed = skew_content(upright, self.skew_deg);
        match self.rotation {
            90 => image::imageops::rotate90(&skewed),
            180 => {
                image::imageops::rotate180_in_place(&mut skewed);
                skewed
            }
            270 => image::imageops::rotate270(&skewed),
            _ => skewed,
        }
    }

    /// Where the point (`x`, `y`) of an upright `w` x `h` page lands on the scan, the same
    /// mapping as [`Geometry::apply`].
    fn place(self, (x, y): (f32, f32), w: u32, h: u32) -> (f32, f32) {
        let (w, h) = (w as f32, h as f32);
        let (cx, cy) = (w / 2.0, h / 2.0);
        let (sin, cos) = (self.skew_deg as f32).to_radians().sin_cos();
        let (dx, dy) = (x - cx, y - cy);
        // Counter-clockwise as seen on the image, whose y axis points down.
        let (sx, sy) = (cx + dx * cos + dy * sin, cy - dx * sin + dy * cos);
        match self.rotation {
            90 => (h - 1.0 - sy, sx),
            180 => (w - 1.0 - sx, h - 1.0 - sy),
            270 => (sy, w - 1.0 - sx),
            _ => (sx, sy),
        }
    }
}

/// What is printed on one side of a sheet, upright, before scanning.
struct Printed {
    /// 255 = nothing, 0 = full ink.
    coverage: GrayImage,
    kind: PageKind,
    text: String,
    /// Gray of full ink on the scan (faded stamp, blue-gray pen); `None` = the page's
    /// toner, [`ScanLook::ink`].
    ink: Option<f32>,
}

fn print_side(
    side: Side,
    letter: &Letter,
    ts: &Typesetter,
    fonts: &Fonts,
    rng: &mut Rng,
) -> Option<Printed> {
    match side {
        Side::Letter(index) => letter.pages.get(index).map(|page| Printed {
            coverage: render_page(page, ts),
            kind: PageKind::Letter,
            text: page.text(),
            ink: None,
        }),
        Side::AlmostBlank(variant) => Some(compose_almost_blank(variant, letter, fonts, rng)),
        Side::Blank => None,
    }
}

fn scan_letter(letter: &Letter, fonts: &Fonts, plan: &ScanPlan, rng: &mut Rng) -> Vec<ScannedPage> {
    scan_letter_with(letter, fonts, plan, &LetterExtras::default(), rng)
}

/// [`scan_letter`] with the additions of a stream batch. With the default extras it draws
/// exactly what [`scan_letter`] always drew.
fn scan_letter_with(
    letter: &Letter,
    fonts: &Fonts,
    plan: &ScanPlan,
    extras: &LetterExtras,
    rng: &mut Rng,
) -> Vec<ScannedPage> {
    let families = &fonts.families;
    let ts = Typesetter {
        family: &families[letter.family.min(families.len() - 1)],
    };
    let clean_background = |frame: usize| {
        extras
            .clean_background
            .as_ref()
            .and_then(|frames| frames.get(frame).copied())
            .unwrap_or_else(|| plan.format.is_lossless_gray())
    };
    let mut scans = Vec::new();
    for sheet in &plan.sheets {
        let skew_deg = if sheet.small_skew {
            random_small_skew(rng)
        } else {
            random_skew(rng)
        };
        let geometry = Geometry {
            skew_deg,
            rotation: sheet.rotation,
        };
        let look = random_look(rng, clean_background(scans.len()), plan.yellowish);
        // The planner never puts a blank page on a front; should it, scan empty paper.
        let mut front =
            print_side(sheet.front, letter, &ts, fonts, rng).unwrap_or_else(|| Printed {
                coverage: GrayImage::from_pixel(PAGE_W, PAGE_H, Luma([255])),
                kind: PageKind::BlankBack,
                text: String::new(),
                ink: None,
            });
        let barcodes = match sheet.front {
            Side::Letter(index) => extras.print_symbols(index, &mut front.coverage),
            _ => Vec::new(),
        };
        let marks = Marks {
            holes: sheet.punch_holes.then_some(HoleSide::Front),
            black_edges: sheet.front_edges,
        };
        let (image, coverage) = scan_front(&front, geometry, &look, marks, rng);
        scans.push(ScannedPage {
            image,
            kind: front.kind,
            text: front.text,
            geometry,
            black_edges: sheet.front_edges,
            punch_holes: sheet.punch_holes,
            tint: look.tint,
            barcodes,
            patch: None,
        });
        let Some(back_side) = sheet.back else {
            continue;
        };
        let back = print_side(back_side, letter, &ts, fonts, rng);
        let mut back_look = random_look(rng, clean_background(scans.len()), plan.yellowish);
        // The same sheet of paper; less dust on the back.
        back_look.paper = look.paper;
        back_look.tint = look.tint;
        back_look.speckles = 5 + rng.below(40);
        let bleed_depth = if sheet.strong_bleed {
            rng.uniform(10.0, 15.0)
        } else {
            rng.uniform(3.0, 8.0)
        } as f32;
        let back_geometry = geometry.back();
        let marks = Marks {
            holes: sheet.punch_holes.then_some(HoleSide::Back),
            black_edges: sheet.back_edges,
        };
        let image = scan_back(
            &coverage,
            back.as_ref(),
            back_geometry,
            &back_look,
            bleed_depth,
            marks,
            rng,
        );
        let (kind, text) = match back {
            Some(printed) => (printed.kind, printed.text),
            None => (PageKind::BlankBack, String::new()),
        };
        scans.push(ScannedPage {
            image,
            kind,
            text,
            geometry: back_geometry,
            black_edges: sheet.back_edges,
            punch_holes: sheet.punch_holes,
            tint: back_look.tint,
            barcodes: Vec::new(),
            patch: None,
        });
    }
    scans
}

/// Rotates the page content by `skew_deg`, positive = counter-clockwise as seen on the
/// image. imageproc turns clockwise for positive angles (its y axis points down), hence
/// the minus sign; `skew_sign_is_counter_clockwise` checks it.
pub(crate) fn skew_content(image: &GrayImage, skew_deg: f64) -> GrayImage {
    if skew_deg == 0.0 {
        return image.clone();
    }
    rotate_about_center(
        image,
        -(skew_deg.to_radians() as f32),
        Interpolation::Bilinear,
        Border::Constant(Luma([255])),
    )
}

/// Scans a printed side. Returns the final image and the ink coverage as it lies on the
/// scanner (skewed, maybe turned), which the back of the sheet shows through.
fn scan_front(
    printed: &Printed,
    geometry: Geometry,
    look: &ScanLook,
    marks: Marks,
    rng: &mut Rng,
) -> (GrayImage, GrayImage) {
    let coverage = geometry.apply(&printed.coverage);
    let mut dusty = coverage.clone();
    // Dust sits on the scanner glass, so it is added after skew and rotation.
    add_speckles(&mut dusty, look.speckles, rng);
    let ink = printed.ink.unwrap_or(look.ink);
    let mut scan = compose_on_paper(&dusty, look, look.paper - ink);
    if let Some(side) = marks.holes {
        draw_punch_holes(&mut scan, geometry, side, rng);
    }
    if look.blur_sigma > 0.0 {
        scan = gaussian_blur_f32(&scan, look.blur_sigma);
    }
    if marks.black_edges {
        add_black_edges(&mut scan, rng);
    }
    let ink_only = look.clean_background.then_some(&dusty);
    add_noise(&mut scan, look.noise_sigma, ink_only, rng);
    (scan, coverage)
}

/// Scans the back of a sheet: the front shows through mirrored and faintly (up to
/// `bleed_depth` gray levels), under whatever is printed on the back itself.
fn scan_back(
    front_coverage: &GrayImage,
    printed: Option<&Printed>,
    geometry: Geometry,
    look: &ScanLook,
    bleed_depth: f32,
    marks: Marks,
    rng: &mut Rng,
) -> GrayImage {
    // Light passing through paper diffuses: the bleed is blurrier than the print.
    let mirrored = image::imageops::flip_horizontal(front_coverage);
    let bleed = gaussian_blur_f32(&mirrored, rng.uniform(2.0, 3.0) as f32);
    let mut scan = compose_on_paper(&bleed, look, bleed_depth);
    let coverage = printed.map(|printed| {
        let coverage = geometry.apply(&printed.coverage);
        let ink = printed.ink.unwrap_or(look.ink);
        darken(&mut scan, &coverage, look.paper - ink);
        coverage
    });
    if let Some(side) = marks.holes {
        draw_punch_holes(&mut scan, geometry, side, rng);
    }
    // Dust is dark on the scan itself, not a faint shadow like the bleed.
    add_speckles(&mut scan, look.speckles, rng);
    if coverage.is_some() && look.blur_sigma > 0.0 {
        scan = gaussian_blur_f32(&scan, look.blur_sigma);
    }
    if marks.black_edges {
        add_black_edges(&mut scan, rng);
    }
    // Background cleanup leaves the faint shadow flat; noise only on it would make it
    // stand out more than on an uncleaned scan.
    if !look.clean_background {
        add_noise(&mut scan, look.noise_sigma, None, rng);
    } else if let Some(coverage) = &coverage {
        add_noise(&mut scan, look.noise_sigma, Some(coverage), rng);
    }
    scan
}

/// Darkens a composed scan where `coverage` has ink, by up to `ink_depth` gray levels.
fn darken(scan: &mut GrayImage, coverage: &GrayImage, ink_depth: f32) {
    for (out, pixel) in scan.as_mut().iter_mut().zip(coverage.as_raw()) {
        if *pixel < 255 {
            let ink = (255.0 - f32::from(*pixel)) / 255.0;
            let value = f32::from(*out) - ink * ink_depth;
            *out = value.round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Marks of the sheet and the scanner on one scanned side.
#[derive(Debug, Clone, Copy)]
struct Marks {
    /// Punch holes, and on which side of the sheet the scan looks.
    holes: Option<HoleSide>,
    black_edges: bool,
}

/// Which side of the sheet a scan shows, for the position of the punch holes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoleSide {
    /// Holes near the left edge of the upright page.
    Front,
    /// The back of a punched sheet: holes near the right edge.
    Back,
}

/// Centres of the two filing holes on the upright page: 12 mm from the sheet's left edge
/// (right edge on the back), 80 mm apart, symmetric about the middle of the page.
fn hole_centres(side: HoleSide) -> [(f32, f32); 2] {
    let x = match side {
        HoleSide::Front => mm(12.0),
        HoleSide::Back => PAGE_W as f32 - 1.0 - mm(12.0),
    };
    let middle = PAGE_H as f32 / 2.0;
    [(x, middle - mm(40.0)), (x, middle + mm(40.0))]
}

/// Punch holes of 6 mm: the scanner's black lid shows through (gray 10-40), with a
/// slightly lighter rim where the cut paper edge catches light. They belong to the
/// paper, so they turn and skew with it.
fn draw_punch_holes(scan: &mut GrayImage, geometry: Geometry, side: HoleSide, rng: &mut Rng) {
    let gray = rng.between(10, 40) as f32;
    let rim_gray = gray + rng.uniform(25.0, 50.0) as f32;
    let radius = mm(rng.uniform(2.9, 3.1) as f32);
    let rim = rng.uniform(2.0, 4.0) as f32;
    for centre in hole_centres(side) {
        let centre = geometry.place(centre, PAGE_W, PAGE_H);
        draw_hole(scan, centre, radius, rim, (gray, rim_gray));
    }
}

fn draw_hole(
    scan: &mut GrayImage,
    (cx, cy): (f32, f32),
    radius: f32,
    rim: f32,
    (gray, rim_gray): (f32, f32),
) {
    let (w, h) = scan.dimensions();
    let reach = radius + 1.0;
    let x0 = (cx - reach).floor().max(0.0) as u32;
    let y0 = (cy - reach).floor().max(0.0) as u32;
    let x1 = ((cx + reach).ceil().max(0.0) as u32).min(w);
    let y1 = ((cy + reach).ceil().max(0.0) as u32).min(h);
    for y in y0..y1 {
        for x in x0..x1 {
            let d = (x as f32 - cx).hypot(y as f32 - cy);
            // Anti-aliased outline, soft step from the hole to its rim.
            let cover = (radius + 0.5 - d).clamp(0.0, 1.0);
            if cover <= 0.0 {
                continue;
            }
            let to_rim = (d - (radius - rim) + 0.5).clamp(0.0, 1.0);
            let target = gray + (rim_gray - gray) * to_rim;
            let pixel = scan.get_pixel_mut(x, y);
            let value = f32::from(pixel.0[0]) * (1.0 - cover) + target * cover;
            pixel.0[0] = pixel.0[0].min(value.round().clamp(0.0, 255.0) as u8);
        }
    }
}

/// A side of the scan image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    Top,
    Right,
    Bottom,
    Left,
}

/// Black scanner edges: where the paper did not cover the glass, the scan shows the dark
/// lid. Bands along one to four sides of the image, axis-aligned to it (whatever the
/// paper's skew), 10-60 px wide, gray 0-40, with a wavy inner edge and sometimes a thin
/// gray transition into the paper. Returns the sides.
fn add_black_edges(scan: &mut GrayImage, rng: &mut Rng) -> Vec<Edge> {
    let r = rng.unit();
    let count = if r < 0.5 {
        1
    } else if r < 0.8 {
        2
    } else if r < 0.92 {
        3
    } else {
        4
    };
    let mut sides = [Edge::Top, Edge::Right, Edge::Bottom, Edge::Left];
    rng.shuffle(&mut sides);
    for &side in &sides[..count] {
        add_black_edge(scan, side, rng);
    }
    sides[..count].to_vec()
}

/// Narrowest and widest black edge in px.
const EDGE_MIN_PX: f32 = 10.0;
const EDGE_MAX_PX: f32 = 60.0;

fn add_black_edge(scan: &mut GrayImage, side: Edge, rng: &mut Rng) {
    let (w, h) = scan.dimensions();
    let (length, depth_limit) = match side {
        Edge::Top | Edge::Bottom => (w, h),
        Edge::Left | Edge::Right => (h, w),
    };
    let base = rng.uniform(14.0, 56.0) as f32;
    let gray = rng.between(0, 40) as f32;
    let ramp = if rng.chance(0.6) {
        rng.uniform(2.0, 6.0) as f32
    } else {
        0.0
    };
    // The inner edge is never quite straight: a slight slant, a slow wave and a fine
    // ripple of a pixel or less.
    let slant = rng.uniform(-4.0, 4.0) as f32 / length as f32;
    let waves: Vec<(f32, f32, f32)> = [(0.5, 2.0, 300.0, 1200.0), (0.1, 0.6, 20.0, 60.0)]
        .iter()
        .map(|&(low, high, shortest, longest)| {
            let amplitude = rng.uniform(low, high) as f32;
            let period = rng.uniform(shortest, longest) as f32;
            let phase = rng.uniform(0.0, std::f64::consts::TAU) as f32;
            (amplitude, std::f32::consts::TAU / period, phase)
        })
        .collect();
    for t in 0..length {
        let wobble: f32 = waves
            .iter()
            .map(|(amplitude, frequency, phase)| amplitude * (t as f32 * frequency + phase).sin())
            .sum();
        let along = t as f32 - length as f32 / 2.0;
        let width = (base + slant * along + wobble).clamp(EDGE_MIN_PX, EDGE_MAX_PX);
        let reach = ((width + ramp).ceil() as u32 + 1).min(depth_limit);
        for d in 0..reach {
            let distance = d as f32 + 0.5;
            let alpha = if distance <= width {
                1.0
            } else if ramp > 0.0 {
                1.0 - (distance - width) / ramp
            } else {
                width + 0.5 - distance
            }
            .clamp(0.0, 1.0);
            if alpha <= 0.0 {
                continue;
            }
            let (x, y) = match side {
                Edge::Top => (t, d),
                Edge::Bottom => (t, h - 1 - d),
                Edge::Left => (d, t),
                Edge::Right => (w - 1 - d, t),
            };
            let pixel = scan.get_pixel_mut(x, y);
            let value = f32::from(pixel.0[0]) * (1.0 - alpha) + gray * alpha;
            pixel.0[0] = pixel.0[0].min(value.round() as u8);
        }
    }
}

/// Puts coverage (255 = nothing, 0 = full ink) on uneven paper; full ink darkens the
/// paper by `ink_depth` gray levels.
fn compose_on_paper(coverage: &GrayImage, look: &ScanLook, ink_depth: f32) -> GrayImage {
    let (w, h) = coverage.dimensions();
    // Tone is separable into a column and a row term, so precompute both.
    let axis = |n: u32, tilt: f32| -> Vec<f32> {
        (0..n)
            .map(|i| {
                let f = i as f32 / n as f32 - 0.5;
                tilt * f - 2.0 * look.vignette * f * f
            })
            .collect()
    };
    let columns = axis(w, look.tilt_x);
    let rows = axis(h, look.tilt_y);
    let mut out = GrayImage::new(w, h);
    for (y, (src, dst)) in coverage
        .rows()
        .zip(out.as_mut().chunks_exact_mut(w as usize))
        .enumerate()
    {
        let row_tone = look.paper + rows[y];
        for ((pixel, out), column) in src.zip(dst.iter_mut()).zip(&columns) {
            let ink = (255.0 - f32::from(pixel.0[0])) / 255.0;
            let value = row_tone + column - ink * ink_depth;
            *out = value.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Small dark dots: dust and toner specks, mostly one or two pixels, a few larger.
pub(crate) fn add_speckles(image: &mut GrayImage, count: usize, rng: &mut Rng) {
    let (w, h) = image.dimensions();
    for _ in 0..count {
        let cx = rng.below(w as usize) as i64;
        let cy = rng.below(h as usize) as i64;
        let radius = if rng.chance(0.1) {
            rng.uniform(1.5, 3.5)
        } else {
            rng.uniform(0.5, 1.5)
        };
        let darkness = rng.between(40, 200) as u8;
        let reach = radius.ceil() as i64;
        for dy in -reach..=reach {
            for dx in -reach..=reach {
                let (x, y) = (cx + dx, cy + dy);
                if ((dx * dx + dy * dy) as f64) > radius * radius
                    || x < 0
                    || y < 0
                    || x >= i64::from(w)
                    || y >= i64::from(h)
                {
                    continue;
                }
                let pixel = image.get_pixel_mut(x as u32, y as u32);
                pixel.0[0] = pixel.0[0].min(255 - darkness);
            }
        }
    }
}

/// Approximately Gaussian sensor noise: the sum of four uniform bytes (Irwin–Hall) is
/// close enough and far cheaper than Box–Muller for 8.7 million pixels. With `ink_only`
/// (a coverage image), pixels without ink stay as they are.
fn add_noise(image: &mut GrayImage, sigma: f32, ink_only: Option<&GrayImage>, rng: &mut Rng) {
    // Sum of four uniform bytes: mean 510, standard deviation sqrt(4 * (256² - 1) / 12).
    const MEAN: f32 = 510.0;
    const STD_DEV: f32 = 147.8;
    let scale = sigma / STD_DEV;
    let mask = ink_only.map(|m| m.as_raw().as_slice());
    for (pair_index, pair) in image.as_mut().chunks_mut(2).enumerate() {
        let bits = rng.next_u64().to_le_bytes();
        for (offset, (pixel, bytes)) in pair.iter_mut().zip(bits.chunks_exact(4)).enumerate() {
            let index = pair_index * 2 + offset;
            if mask.is_some_and(|m| m.get(index).is_none_or(|&c| c >= 250)) {
                continue;
            }
            let sum: f32 = bytes.iter().map(|&b| f32::from(b)).sum();
            let value = f32::from(*pixel) + (sum - MEAN) * scale;
            *pixel = value.round().clamp(0.0, 255.0) as u8;
        }
    }
}

// ---------------------------------------------------------------------------------------
// File encoding
// ---------------------------------------------------------------------------------------

/// Gray level below which a pixel becomes black in bilevel (G4) files.
const BILEVEL_THRESHOLD: u8 = 128;
/// TIFF tags the tiff crate has no names for.
const TAG_T6_OPTIONS: u16 = 293;
const TAG_PAGE_NUMBER: u16 = 297;

fn encode_file(scans: &[ScannedPage], format: FileFormat) -> Result<Vec<u8>> {
    let frames: Vec<&GrayImage> = scans.iter().map(|s| &s.image).collect();
    let single = || {
        scans
            .first()
            .ok_or_else(|| anyhow!("a letter without pages cannot be written"))
    };
    match format {
        FileFormat::JpegGray { quality } => encode_jpeg_gray(&single()?.image, quality),
        FileFormat::JpegRgb { quality } => {
            let scan = single()?;
            encode_jpeg_rgb(&tint_rgb(&scan.image, scan.tint), quality)
        }
        FileFormat::PngGray => encode_png_gray(&single()?.image),
        FileFormat::TiffGray {
            compression,
            predictor,
        } => encode_tiff_gray(&frames, compression, predictor),
        FileFormat::TiffG4 => encode_tiff_g4(&frames),
    }
}

fn encode_jpeg_gray(image: &GrayImage, quality: u8) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut bytes, quality);
    encoder.set_pixel_density(PixelDensity::dpi(DPI as u16));
    encoder
        .encode_image(image)
        .context("cannot encode gray JPEG")?;
    Ok(bytes)
}

fn encode_jpeg_rgb(image: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut bytes, quality);
    encoder.set_pixel_density(PixelDensity::dpi(DPI as u16));
    encoder
        .encode_image(image)
        .context("cannot encode RGB JPEG")?;
    Ok(bytes)
}

/// A colour scan of the gray page: the paper's hue (`tint`: RGB multipliers of the gray
/// value), blue-black ink.
fn tint_rgb(image: &GrayImage, tint: [f32; 3]) -> RgbImage {
    let mut out = RgbImage::new(image.width(), image.height());
    for (src, dst) in image.pixels().zip(out.pixels_mut()) {
        let v = f32::from(src.0[0]);
        let darkness = 1.0 - v / 255.0;
        let r = v * tint[0];
        let g = v * tint[1];
        let b = v * tint[2] + darkness * 30.0;
        dst.0 = [r, g, b].map(|c| c.round().clamp(0.0, 255.0) as u8);
    }
    out
}

fn encode_png_gray(image: &GrayImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    PngEncoder::new_with_quality(&mut bytes, CompressionType::Default, FilterType::Adaptive)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::L8,
        )
        .context("cannot encode PNG")?;
    insert_png_dpi(&bytes)
}

/// image's PNG encoder cannot write a pHYs chunk, so insert one right after IHDR
/// (signature 8 bytes + IHDR 25 bytes).
fn insert_png_dpi(png: &[u8]) -> Result<Vec<u8>> {
    const IHDR_END: usize = 8 + 4 + 4 + 13 + 4;
    if png.len() < IHDR_END || &png[12..16] != b"IHDR" {
        return Err(anyhow!("PNG encoder wrote an unexpected header"));
    }
    // 300 dpi = 11811 pixels per metre (rounded), unit 1 = metre.
    let pixels_per_metre = (f64::from(DPI) / 0.0254).round() as u32;
    let mut chunk_data = Vec::with_capacity(13);
    chunk_data.extend_from_slice(b"pHYs");
    chunk_data.extend_from_slice(&pixels_per_metre.to_be_bytes());
    chunk_data.extend_from_slice(&pixels_per_metre.to_be_bytes());
    chunk_data.push(1);

    let mut out = Vec::with_capacity(png.len() + 21);
    out.extend_from_slice(&png[..IHDR_END]);
    out.extend_from_slice(&9u32.to_be_bytes());
    out.extend_from_slice(&chunk_data);
    out.extend_from_slice(&crc32(&chunk_data).to_be_bytes());
    out.extend_from_slice(&png[IHDR_END..]);
    Ok(out)
}

/// CRC-32 (ISO-HDLC, as used by PNG), bitwise: only ever run on a few bytes.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn encode_tiff_gray(
    frames: &[&GrayImage],
    compression: GrayTiffCompression,
    predictor: bool,
) -> Result<Vec<u8>> {
    let mut cursor = Cursor::new(Vec::new());
    {
        let compression = match compression {
            GrayTiffCompression::Deflate => Compression::Deflate(DeflateLevel::Balanced),
            GrayTiffCompression::Lzw => Compression::Lzw,
        };
        let predictor = if predictor {
            Predictor::Horizontal
        } else {
            Predictor::None
        };
        let mut tiff = TiffEncoder::new(&mut cursor)
            .context("cannot start TIFF")?
            .with_compression(compression)
            .with_predictor(predictor);
        for (index, frame) in frames.iter().enumerate() {
            write_gray_frame(
                &mut tiff,
                frame,
                &FrameTags::at_dpi(index, frames.len(), DPI),
            )?;
        }
    }
    Ok(cursor.into_inner())
}

/// The per-page tags of a multi-page TIFF the generators write.
pub(crate) struct FrameTags<'a> {
    /// 0-based page index and page count (PageNumber tag).
    pub(crate) index: usize,
    pub(crate) total: usize,
    /// Resolution written to XResolution and YResolution, per inch.
    pub(crate) dpi: u32,
    /// ImageDescription, written last when given.
    pub(crate) description: Option<&'a str>,
}

impl FrameTags<'_> {
    pub(crate) fn at_dpi(index: usize, total: usize, dpi: u32) -> Self {
        FrameTags {
            index,
            total,
            dpi,
            description: None,
        }
    }
}

/// Appends one 8-bit gray page to a TIFF, compressed as the encoder was set up.
pub(crate) fn write_gray_frame<W: std::io::Write + std::io::Seek>(
    tiff: &mut TiffEncoder<W>,
    frame: &GrayImage,
    tags: &FrameTags,
) -> Result<()> {
    let resolution = Rational { n: tags.dpi, d: 1 };
    let mut image = tiff
        .new_image::<colortype::Gray8>(frame.width(), frame.height())
        .context("cannot start TIFF page")?;
    let directory = image.encoder();
    directory.write_tag(Tag::NewSubfileType, 2u32)?;
    directory.write_tag(Tag::XResolution, resolution.clone())?;
    directory.write_tag(Tag::YResolution, resolution)?;
    directory.write_tag(Tag::ResolutionUnit, 2u16)?;
    directory.write_tag(
        Tag::Unknown(TAG_PAGE_NUMBER),
        &[u16::try_from(tags.index)?, u16::try_from(tags.total)?][..],
    )?;
    if let Some(text) = tags.description {
        directory.write_tag(Tag::ImageDescription, text)?;
    }
    image
        .write_data(frame.as_raw())
        .context("cannot write TIFF page")?;
    Ok(())
}

/// Multi-page bilevel TIFF: one CCITT G4 strip per page, WhiteIsZero, 300 dpi.
fn encode_tiff_g4(frames: &[&GrayImage]) -> Result<Vec<u8>> {
    let mut cursor = Cursor::new(Vec::new());
    {
        let mut tiff = TiffEncoder::new(&mut cursor).context("cannot start TIFF")?;
        for (index, frame) in frames.iter().enumerate() {
            let tags = FrameTags::at_dpi(index, frames.len(), DPI);
            write_g4_frame(&mut tiff, frame, &encode_g4(frame)?, &tags)?;
        }
    }
    Ok(cursor.into_inner())
}

/// Appends one bilevel page to a TIFF: `data` is the page's CCITT G4 strip
/// ([`encode_g4`] of `frame`), WhiteIsZero.
pub(crate) fn write_g4_frame<W: std::io::Write + std::io::Seek>(
    tiff: &mut TiffEncoder<W>,
    frame: &GrayImage,
    data: &[u8],
    tags: &FrameTags,
) -> Result<()> {
    let resolution = Rational { n: tags.dpi, d: 1 };
    let mut directory = tiff.image_directory().context("cannot start TIFF page")?;
    // Keep the following directory on a word boundary as TIFF requires.
    let mut padded = data.to_vec();
    if padded.len() % 2 == 1 {
        padded.push(0);
    }
    let offset = directory.write_data(&padded[..])?;
    directory.write_tag(Tag::NewSubfileType, 2u32)?;
    directory.write_tag(Tag::ImageWidth, frame.width())?;
    directory.write_tag(Tag::ImageLength, frame.height())?;
    directory.write_tag(Tag::BitsPerSample, 1u16)?;
    directory.write_tag(Tag::Compression, 4u16)?;
    directory.write_tag(Tag::PhotometricInterpretation, 0u16)?;
    directory.write_tag(Tag::FillOrder, 1u16)?;
    directory.write_tag(Tag::StripOffsets, u32::try_from(offset)?)?;
    directory.write_tag(Tag::SamplesPerPixel, 1u16)?;
    directory.write_tag(Tag::RowsPerStrip, frame.height())?;
    directory.write_tag(Tag::StripByteCounts, u32::try_from(data.len())?)?;
    directory.write_tag(Tag::XResolution, resolution.clone())?;
    directory.write_tag(Tag::YResolution, resolution)?;
    directory.write_tag(Tag::Unknown(TAG_T6_OPTIONS), 0u32)?;
    directory.write_tag(Tag::ResolutionUnit, 2u16)?;
    directory.write_tag(
        Tag::Unknown(TAG_PAGE_NUMBER),
        &[u16::try_from(tags.index)?, u16::try_from(tags.total)?][..],
    )?;
    if let Some(text) = tags.description {
        directory.write_tag(Tag::ImageDescription, text)?;
    }
    directory.finish().context("cannot finish TIFF page")?;
    Ok(())
}

/// Thresholds a gray page and compresses it with CCITT Group 4.
pub(crate) fn encode_g4(image: &GrayImage) -> Result<Vec<u8>> {
    let width = u16::try_from(image.width()).context("page too wide for G4")?;
    let mut encoder = fax::encoder::Encoder::new(fax::VecWriter::new());
    for row in image.rows() {
        let pels = row.map(|p| {
            if p.0[0] < BILEVEL_THRESHOLD {
                fax::Color::Black
            } else {
                fax::Color::White
            }
        });
        let Ok(()) = encoder.encode_line(pels, width);
    }
    let Ok(writer) = encoder.finish();
    Ok(writer.finish())
}

// ---------------------------------------------------------------------------------------
// Stream batches: separator sheets, unrelated barcodes, files across document boundaries
// ---------------------------------------------------------------------------------------

/// Name prefix of the files of a stream batch: `scan_00001.tif`, `scan_00002.jpg`, ...
const STREAM_FILE_PREFIX: &str = "scan_";

/// Generates the pages of a stream batch into `out_dir` and their truth into `truth`.
///
/// Random streams: one for the file groups, one for the separator and symbol planner, and
/// per letter one for the letter (drawn exactly as in a classic batch) and one for its
/// separator sheet and symbols.
fn generate_stream(
    spec: &GenerateSpec,
    out_dir: &Path,
    fonts: &Fonts,
    truth: &mut Truth,
) -> Result<()> {
    let mut rng = Rng::new(spec.seed);
    let mut files = StreamFiles::new(out_dir, rng.fork());
    let mut stream = StreamPlanner::new(&mut rng.fork());
    let mut planner = BatchPlanner::default();
    let mut routing_rng = routing_stream(spec.seed);
    while truth.pages.len() < spec.pages {
        let (letter, mut plan, mut letter_rng) =
            next_letter(&mut rng, &mut routing_rng, &mut planner, fonts)?;
        let mut stream_rng = rng.fork();
        let case = letter.case;
        // The planner chose a format for a file of its own; in a stream the pages go
        // wherever the file groups put them.
        plan.yellowish = stream_rng.chance(0.1);

        // Confidential mail goes on unopened: no cover sheet in front of it.
        let separator = stream.separator_for(&mut stream_rng, !case.confidential());
        let separator_frames = separator.as_ref().map_or(0, SeparatorPlan::frames);
        let first_frame = truth.pages.len() + separator_frames;
        let frame_count: usize = plan
            .sheets
            .iter()
            .map(|s| 1 + usize::from(s.back.is_some()))
            .sum();
        let formats: Vec<FileFormat> = (0..frame_count)
            .map(|i| files.format_of(first_frame + i))
            .collect();
        let symbols = stream.symbols(&mut stream_rng, &letter, &plan, &formats, fonts)?;
        let extras = LetterExtras {
            symbols,
            clean_background: Some(formats.iter().map(|f| f.is_lossless_gray()).collect()),
        };
        let scans = scan_letter_with(&letter, fonts, &plan, &extras, &mut letter_rng);

        let mut separators = Vec::new();
        let mut cover = None;
        if let Some(separator) = separator {
            let first = truth.pages.len();
            let clean = [0, 1].map(|i| files.format_of(first + i).is_lossless_gray());
            let content_pages = scans
                .iter()
                .filter(|s| s.kind != PageKind::BlankBack)
                .count();
            let printed = print_separator(
                &separator.kind,
                &letter,
                content_pages,
                fonts,
                &mut stream_rng,
            )?;
            cover = printed.cover.clone();
            for scan in scan_separator(&printed, &separator, clean, &mut stream_rng) {
                separators.push(files.push(scan, truth)?);
            }
        }
        let first_page = truth.pages.len();
        for scan in scans {
            files.push(scan, truth)?;
        }
        truth.documents.push(TruthDocument {
            pages: (first_page..truth.pages.len()).collect(),
            unit: letter.unit_code.to_string(),
            unit_name: letter.unit_name.to_string(),
            subject: letter.subject.clone(),
            route: Some(letter.route(cover.as_ref().map(|c| c.unit.as_str()))),
            routing_case: Some(letter.case.name().to_string()),
            separators,
            cover,
        });
    }
    files.finish(truth)
}

/// Stream-mode additions to the scan of a letter.
#[derive(Default)]
struct LetterExtras {
    /// Barcode symbols to print on letter pages before the scan.
    symbols: Vec<PlacedSymbol>,
    /// Per frame of the letter: its file is lossless gray, so the scanner's background
    /// cleanup is on (see [`ScanLook::clean_background`]). `None`: the plan's format says.
    clean_background: Option<Vec<bool>>,
}

impl LetterExtras {
    /// Prints the symbols meant for letter page `page` onto its coverage and returns their
    /// truth.
    fn print_symbols(&self, page: usize, coverage: &mut GrayImage) -> Vec<TruthBarcode> {
        self.symbols
            .iter()
            .filter(|s| s.page == page)
            .map(|s| {
                overlay(coverage, &s.image, s.x, s.y);
                s.barcode.clone()
            })
            .collect()
    }
}

/// A barcode symbol on a letter page: its coverage (quiet zone included, maybe turned),
/// top-left corner on the upright page in px.
struct PlacedSymbol {
    page: usize,
    image: GrayImage,
    x: u32,
    y: u32,
    barcode: TruthBarcode,
}

// --- Planning ---------------------------------------------------------------------------

/// The three kinds of separator sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeparatorSort {
    Cover,
    Patch,
    Barcode,
}

/// The separator barcodes `profiles/stream.toml` knows: paperless-ngx's Code 39 `PATCHT`
/// and numbered Code 128 `SEP-nnnnn` sheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeparatorCode {
    Code39PatchT,
    Code128Numbered,
}

/// What a separator sheet shows.
#[derive(Debug, Clone, PartialEq)]
enum SeparatorKind {
    Cover(CoverChoice),
    Patch(PatchType),
    Barcode(SeparatorCode),
}

/// Which optional fields a cover sheet carries, and whether its page count is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CoverChoice {
    name: bool,
    case: bool,
    pages: bool,
    wrong_pages: bool,
}

/// How one separator sheet is scanned.
#[derive(Debug, Clone, PartialEq)]
struct SeparatorPlan {
    kind: SeparatorKind,
    /// Scanned duplex: a blank back follows the sheet.
    duplex: bool,
    /// 0 or 180.
    rotation: u32,
    front_edges: bool,
    back_edges: bool,
}

impl SeparatorPlan {
    fn frames(&self) -> usize {
        1 + usize::from(self.duplex)
    }
}

/// The separator sheets of the first twelve separators, shuffled: every patch type once,
/// four cover sheets and both separator barcodes. After them the kinds are drawn at about
/// 40 % cover, 35 % patch, 25 % barcode sheets. So a stream of 13 letters or more (the
/// first one may come without a separator) shows every kind, every patch code and both
/// separator barcodes; patch sheets are over-represented in small batches for that.
const OPENING_SEPARATORS: [SeparatorSort; 12] = [
    SeparatorSort::Patch,
    SeparatorSort::Patch,
    SeparatorSort::Patch,
    SeparatorSort::Patch,
    SeparatorSort::Patch,
    SeparatorSort::Patch,
    SeparatorSort::Cover,
    SeparatorSort::Cover,
    SeparatorSort::Cover,
    SeparatorSort::Cover,
    SeparatorSort::Barcode,
    SeparatorSort::Barcode,
];

/// Unrelated barcodes on letter pages, one per symbology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Symbology {
    /// A parcel label: Code 128 `JJD00` + 15 digits.
    Parcel,
    /// A product code: EAN-13 with its check digit.
    Ean13,
    /// A payment request: QR with an EPC "GiroCode" payload.
    GiroCode,
    /// A franking mark: DataMatrix, 20-40 ASCII characters.
    Franking,
    /// A shipping carton code: ITF-14.
    Itf14,
    /// A form's PDF417 with a short text line.
    Pdf417,
    /// A file reference: Code 39.
    Reference,
}

const SYMBOLOGIES: [Symbology; 7] = [
    Symbology::Parcel,
    Symbology::Ean13,
    Symbology::GiroCode,
    Symbology::Franking,
    Symbology::Itf14,
    Symbology::Pdf417,
    Symbology::Reference,
];

/// By the 12th letter (0-based index 11) all seven symbologies are on pages.
const SYMBOLS_DUE_BY_LETTER: usize = 11;

/// Plans the separator sheets in front of the letters and the unrelated barcodes on
/// them, so that every stream batch of about 14 letters shows every case.
struct StreamPlanner {
    letters: usize,
    separators: usize,
    opening: Vec<SeparatorSort>,
    patch_cycle: Vec<PatchType>,
    code_cycle: Vec<SeparatorCode>,
    duplex: usize,
    turned: usize,
    /// A patch sheet of the pair 1/6 (0) or 3/T (1) has been upside down.
    turned_pairs: [bool; 2],
    covers: usize,
    covers_with_pages: usize,
    wrong_covers: usize,
    symbol_deck: Vec<Symbology>,
    symbols: usize,
    turned_symbols: usize,
    faint_symbols: usize,
}

impl StreamPlanner {
    fn new(rng: &mut Rng) -> Self {
        let mut opening = OPENING_SEPARATORS.to_vec();
        rng.shuffle(&mut opening);
        StreamPlanner {
            letters: 0,
            separators: 0,
            opening,
            patch_cycle: Vec::new(),
            code_cycle: Vec::new(),
            duplex: 0,
            turned: 0,
            turned_pairs: [false; 2],
            covers: 0,
            covers_with_pages: 0,
            wrong_covers: 0,
            symbol_deck: Vec::new(),
            symbols: 0,
            turned_symbols: 0,
            faint_symbols: 0,
        }
    }

    /// The separator sheet in front of the next letter: always but for the first letter,
    /// which has one half of the time.
    #[cfg(test)]
    fn separator(&mut self, rng: &mut Rng) -> Option<SeparatorPlan> {
        self.separator_for(rng, true)
    }

    /// The separator sheet in front of the next letter, never a cover sheet unless
    /// `cover_allowed` (a confidential letter has none). A cover sheet of the opening set
    /// that is not allowed trades places with the next patch or barcode sheet of the set
    /// (if only cover sheets are left, a patch sheet is added in front of them), so the
    /// set stays complete, a little later; after the set a cover sheet not allowed is
    /// drawn again as a patch (35:25) or barcode sheet.
    fn separator_for(&mut self, rng: &mut Rng, cover_allowed: bool) -> Option<SeparatorPlan> {
        let first = self.letters == 0;
        self.letters += 1;
        if first && rng.chance(0.5) {
            return None;
        }
        let sort = if self.separators < self.opening.len() {
            let at = self.separators;
            if !cover_allowed && self.opening[at] == SeparatorSort::Cover {
                match (at + 1..self.opening.len())
                    .find(|&i| self.opening[i] != SeparatorSort::Cover)
                {
                    Some(other) => self.opening.swap(at, other),
                    None => self.opening.insert(at, SeparatorSort::Patch),
                }
            }
            self.opening[at]
        } else {
            let r = rng.unit();
            if r < 0.4 && cover_allowed {
                SeparatorSort::Cover
            } else if r < 0.4 {
                if rng.chance(0.35 / 0.6) {
                    SeparatorSort::Patch
                } else {
                    SeparatorSort::Barcode
                }
            } else if r < 0.75 {
                SeparatorSort::Patch
            } else {
                SeparatorSort::Barcode
            }
        };
        let kind = match sort {
            SeparatorSort::Cover => SeparatorKind::Cover(self.cover_choice(rng)),
            SeparatorSort::Patch => SeparatorKind::Patch(self.next_patch(rng)),
            SeparatorSort::Barcode => SeparatorKind::Barcode(self.next_code(rng)),
        };
        // About 30 % duplex; the first one by the 5th separator.
        let duplex = rng.chance(0.3) || (self.duplex == 0 && self.separators >= 4);
        // About 15 % upside down, and from the second separator on the first patch sheet
        // of each pair that swaps when read from the other end (1/6, 3/T); else the first
        // turned sheet by the 10th separator.
        let pair = match kind {
            SeparatorKind::Patch(PatchType::Patch1 | PatchType::Patch6) => Some(0),
            SeparatorKind::Patch(PatchType::Patch3 | PatchType::PatchT) => Some(1),
            _ => None,
        };
        let pair_due = pair.is_some_and(|i| !self.turned_pairs[i] && self.separators >= 1);
        let rotation = if rng.chance(0.15) || pair_due || (self.turned == 0 && self.separators >= 9)
        {
            180
        } else {
            0
        };
        if let (Some(i), 180) = (pair, rotation) {
            self.turned_pairs[i] = true;
        }
        let front_edges = rng.chance(0.15);
        let back_edges = duplex && rng.chance(0.15);
        self.separators += 1;
        self.duplex += usize::from(duplex);
        self.turned += usize::from(rotation == 180);
        Some(SeparatorPlan {
            kind,
            duplex,
            rotation,
            front_edges,
            back_edges,
        })
    }

    /// Name on 80 %, case on 70 %, page count on 70 % of the cover sheets (and on the
    /// third and fourth unless two had one); about 15 % of the page counts wrong, the
    /// second count if none was before. So the four cover sheets of the first twelve
    /// separators show a right and a wrong count.
    fn cover_choice(&mut self, rng: &mut Rng) -> CoverChoice {
        let name = rng.chance(0.8);
        let case = rng.chance(0.7);
        let pages = rng.chance(0.7) || (self.covers >= 2 && self.covers_with_pages < 2);
        let wrong_pages =
            pages && (rng.chance(0.15) || (self.wrong_covers == 0 && self.covers_with_pages >= 1));
        self.covers += 1;
        self.covers_with_pages += usize::from(pages);
        self.wrong_covers += usize::from(wrong_pages);
        CoverChoice {
            name,
            case,
            pages,
            wrong_pages,
        }
    }

    /// The patch types in shuffled rounds of all six.
    fn next_patch(&mut self, rng: &mut Rng) -> PatchType {
        if self.patch_cycle.is_empty() {
            self.patch_cycle = PatchType::ALL.to_vec();
            rng.shuffle(&mut self.patch_cycle);
        }
        self.patch_cycle.pop().unwrap_or(PatchType::PatchT)
    }

    /// The two separator barcodes in shuffled rounds.
    fn next_code(&mut self, rng: &mut Rng) -> SeparatorCode {
        if self.code_cycle.is_empty() {
            self.code_cycle = vec![SeparatorCode::Code39PatchT, SeparatorCode::Code128Numbered];
            rng.shuffle(&mut self.code_cycle);
        }
        self.code_cycle.pop().unwrap_or(SeparatorCode::Code39PatchT)
    }

    fn next_symbology(&mut self, rng: &mut Rng) -> Symbology {
        if self.symbol_deck.is_empty() {
            self.symbol_deck = SYMBOLOGIES.to_vec();
            rng.shuffle(&mut self.symbol_deck);
        }
        self.symbol_deck.pop().unwrap_or(Symbology::Parcel)
    }

    /// Unrelated barcodes for the letter just planned: on about 35 % of the letters one or
    /// two symbols on one of their letter pages, placed in free space. Until all seven
    /// symbologies have been shown, letters carry symbols as often as needed to show them
    /// by the 12th letter. `formats` is the file format of each frame of the letter.
    fn symbols(
        &mut self,
        rng: &mut Rng,
        letter: &Letter,
        plan: &ScanPlan,
        formats: &[FileFormat],
        fonts: &Fonts,
    ) -> Result<Vec<PlacedSymbol>> {
        let index = self.letters - 1;
        let due = if self.symbols < SYMBOLOGIES.len() {
            (index * SYMBOLOGIES.len() / SYMBOLS_DUE_BY_LETTER).min(SYMBOLOGIES.len())
        } else {
            0
        };
        let behind = due.saturating_sub(self.symbols);
        // The frame of letter page i is sheet i's front (extra sheets come last).
        let frame_of = |page: usize| -> usize {
            plan.sheets[..page]
                .iter()
                .map(|s| 1 + usize::from(s.back.is_some()))
                .sum()
        };
        let bilevel = |page: usize| matches!(formats.get(frame_of(page)), Some(FileFormat::TiffG4));
        let pages = letter.pages.len();
        // Low-contrast print goes on pages of gray files only: a bilevel scanner at a
        // fixed threshold would drop it, and the truth could not promise it. From the
        // third letter on, the first letter with a page in a gray file gets one.
        let gray_pages: Vec<usize> = (0..pages).filter(|&p| !bilevel(p)).collect();
        let faint_due = self.faint_symbols == 0 && index >= 2 && !gray_pages.is_empty();
        if !(rng.chance(0.35) || behind > 0 || faint_due) {
            return Ok(Vec::new());
        }
        let count = if behind >= 2 || rng.chance(0.35) {
            2
        } else {
            1
        };
        let first = if faint_due {
            rng.pick(&gray_pages)
        } else {
            rng.below(pages)
        };
        let mut candidates: Vec<usize> = (0..pages).filter(|&p| p != first).collect();
        candidates.insert(0, first);
        let families = &fonts.families;
        let ts = Typesetter {
            family: &families[letter.family.min(families.len() - 1)],
        };
        let mut placed: Vec<PlacedSymbol> = Vec::new();
        for _ in 0..count {
            let symbology = self.next_symbology(rng);
            // All symbols of a letter go on one page: the first one that has room.
            let pages_to_try: Vec<usize> = match placed.first() {
                Some(symbol) => vec![symbol.page],
                None => candidates.clone(),
            };
            let mut done = false;
            for page in pages_to_try {
                let turned = rng.chance(0.25) || (self.turned_symbols == 0 && self.symbols >= 2);
                let faint =
                    !bilevel(page) && (rng.chance(0.2) || (self.faint_symbols == 0 && index >= 2));
                let value = symbology.value(rng, letter);
                let image = symbology.render(rng, &value, turned, faint)?;
                let taken: Vec<Rect> = placed
                    .iter()
                    .map(|s| (s.x, s.y, s.image.width(), s.image.height()))
                    .collect();
                let Some((x, y)) = find_free_space(&letter.pages[page], &ts, &taken, &image, rng)
                else {
                    continue;
                };
                self.symbols += 1;
                self.turned_symbols += usize::from(turned);
                self.faint_symbols += usize::from(faint);
                placed.push(PlacedSymbol {
                    page,
                    image,
                    x,
                    y,
                    barcode: TruthBarcode {
                        format: format!("{:?}", symbology.format()),
                        text: value,
                    },
                });
                done = true;
                break;
            }
            if !done {
                // No room anywhere: the symbology waits for the next letter.
                self.symbol_deck.push(symbology);
            }
        }
        Ok(placed)
    }
}

/// x, y, width, height in px on the upright page.
type Rect = (u32, u32, u32, u32);

fn overlaps(a: Rect, b: Rect) -> bool {
    a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
}

/// A place for `symbol` (quiet zone included) on the page where it touches no text line
/// (with 1 mm to spare) and no other symbol, at least 15 mm from the sheet's edges (so
/// skew, turns and black scanner edges leave it whole) and clear of the punch holes. In
/// practice: below the last line, beside the address field or the letterhead, beside the
/// signature. Tries random places; `None` when nothing fits.
fn find_free_space(
    page: &PageLayout,
    ts: &Typesetter,
    taken: &[Rect],
    symbol: &GrayImage,
    rng: &mut Rng,
) -> Option<(u32, u32)> {
    let (w, h) = symbol.dimensions();
    let margin = mm(15.0) as u32;
    let left = mm(22.0) as u32;
    if w + left + margin >= PAGE_W || h + 2 * margin >= PAGE_H {
        return None;
    }
    let spare = mm(1.0);
    let lines: Vec<Rect> = page
        .lines
        .iter()
        .map(|line| {
            let width = ts.width(line.style, &line.text);
            let height = pt_to_px(line.style.pt) * 1.3;
            (
                (line.x - spare).max(0.0) as u32,
                (line.y - spare).max(0.0) as u32,
                (width + 2.0 * spare) as u32,
                (height + 2.0 * spare) as u32,
            )
        })
        .collect();
    for _ in 0..600 {
        let x = rng.between(left, PAGE_W - margin - w);
        let y = rng.between(margin, PAGE_H - margin - h);
        let rect = (x, y, w, h);
        if !lines.iter().chain(taken).any(|&r| overlaps(r, rect)) {
            return Some((x, y));
        }
    }
    None
}

impl Symbology {
    fn format(self) -> zxingcpp::BarcodeFormat {
        use zxingcpp::BarcodeFormat as F;
        match self {
            Symbology::Parcel => F::Code128,
            Symbology::Ean13 => F::EAN13,
            Symbology::GiroCode => F::QRCode,
            Symbology::Franking => F::DataMatrix,
            Symbology::Itf14 => F::ITF,
            Symbology::Pdf417 => F::PDF417,
            Symbology::Reference => F::Code39,
        }
    }

    /// Pixels per module at 300 dpi: 3-5 for 1D codes (0.25-0.42 mm), 6-10 for QR and
    /// DataMatrix (0.5-0.85 mm), 4-6 for PDF417, which is a stacked 1D code printed with
    /// 1D-like bars.
    fn module_px(self, rng: &mut Rng) -> i32 {
        match self {
            Symbology::GiroCode | Symbology::Franking => rng.between(6, 10) as i32,
            Symbology::Pdf417 => rng.between(4, 6) as i32,
            _ => rng.between(3, 5) as i32,
        }
    }

    /// A plausible value; never a separator (`PATCHT`, `SEP-` + digits) nor a cover sheet.
    fn value(self, rng: &mut Rng, letter: &Letter) -> String {
        let digits = |rng: &mut Rng, n: usize| -> String {
            (0..n)
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect()
        };
        let number = rng.between(1, 9999);
        match self {
            Symbology::Parcel => format!("JJD00{}", digits(rng, 15)),
            Symbology::Ean13 => {
                let body = format!("4{}{}", rng.between(0, 4), digits(rng, 10));
                let check = gs1_check_digit(&body);
                format!("{body}{check}")
            }
            Symbology::GiroCode => {
                let iban = german_iban(rng);
                let cents = rng.between(500, 48_000);
                format!(
                    "BCD\n002\n1\nSCT\nNOLADE2HXXX\nStadt Braunschweig\n{iban}\nEUR{}.{:02}\n\n\nRE {YEAR}-{number:04}",
                    cents / 100,
                    cents % 100
                )
            }
            Symbology::Franking => format!(
                "DPAG FM {:08X} {:04} {} {}",
                rng.next_u64() as u32,
                rng.pick(&[85u32, 95, 100, 160, 185, 275]),
                letter.day.offset(-i64::from(rng.between(1, 4))).numeric(),
                digits(rng, 5)
            ),
            Symbology::Itf14 => {
                let body = format!("{}40{}", rng.between(1, 8), digits(rng, 10));
                let check = gs1_check_digit(&body);
                format!("{body}{check}")
            }
            // A letter that does not tell its unit carries no symbol naming one.
            Symbology::Pdf417 => match rng.below(3) {
                _ if letter.case.unit_hidden() => {
                    format!("Rechnung {YEAR}-{number:04} Kd-Nr {}", digits(rng, 6))
                }
                0 => format!("Rechnung {YEAR}-{number:04} Kd-Nr {}", digits(rng, 6)),
                1 => format!("Bescheid {} vom {}", letter.unit_code, letter.day.numeric()),
                _ => format!("Formular {}-{number:04} Seite 1", letter.unit_code),
            },
            Symbology::Reference if letter.case.unit_hidden() => {
                format!("AZ-{YEAR}-{number:05}")
            }
            Symbology::Reference => format!(
                "AZ-{}-{YEAR}-{number:04}",
                letter.unit_code.replace('.', "-")
            ),
        }
    }

    /// The symbol as coverage (0 = full ink) with a white quiet zone of at least 10
    /// modules (1D) or 4 modules (2D) and 3 mm all round, turned by 90 or 270 degrees
    /// when `turned`, printed in gray 80-120 instead of black when `faint`.
    fn render(self, rng: &mut Rng, value: &str, turned: bool, faint: bool) -> Result<GrayImage> {
        let module = self.module_px(rng);
        let symbol =
            crate::barcode::render(self.format(), value, module).map_err(anyhow::Error::msg)?;
        let modules = if matches!(self, Symbology::GiroCode | Symbology::Franking) {
            4
        } else {
            10
        };
        let pad = (module as u32 * modules).max(mm(3.0) as u32);
        let ink = if faint { rng.between(80, 120) as u8 } else { 0 };
        let mut image = GrayImage::from_pixel(
            symbol.width() + 2 * pad,
            symbol.height() + 2 * pad,
            Luma([255]),
        );
        for (x, y, pixel) in symbol.enumerate_pixels() {
            if pixel.0[0] < 128 {
                image.put_pixel(x + pad, y + pad, Luma([ink]));
            }
        }
        Ok(match (turned, rng.chance(0.5)) {
            (false, _) => image,
            (true, true) => image::imageops::rotate90(&image),
            (true, false) => image::imageops::rotate270(&image),
        })
    }
}

/// GS1 check digit (EAN-13, ITF-14) of the digits before it.
fn gs1_check_digit(body: &str) -> u32 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10
}

/// A German IBAN with valid check digits at the Braunschweigische Landessparkasse.
fn german_iban(rng: &mut Rng) -> String {
    let bban: String = format!("25050000{:010}", rng.next_u64() % 10_000_000_000);
    // ISO 7064 mod 97-10 over BBAN + "DE00" (D = 13, E = 14).
    let numeric = format!("{bban}131400");
    let remainder = numeric
        .bytes()
        .fold(0u64, |r, b| (r * 10 + u64::from(b - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - remainder)
}

// --- Printing the separator sheets --------------------------------------------------------

/// A separator sheet, printed and not yet scanned.
struct PrintedSeparator {
    printed: Printed,
    barcodes: Vec<TruthBarcode>,
    patch: Option<PatchType>,
    cover: Option<TruthCover>,
}

/// Lines of small print on patch and separator barcode sheets.
const SEPARATOR_NOTES: &[&str] = &[
    "Nächstes Schriftstück beginnt nach diesem Blatt.",
    "Bitte nicht entfernen und nicht beschriften.",
    "Nach dem Scannen zurück in die Poststelle.",
    "Poststelle der Stadt Braunschweig",
    "Trennt die Schriftstücke beim Stapelscan.",
    "Mit der Oberkante voran in den Scanner legen.",
];

fn print_separator(
    kind: &SeparatorKind,
    letter: &Letter,
    content_pages: usize,
    fonts: &Fonts,
    rng: &mut Rng,
) -> Result<PrintedSeparator> {
    // A sans-serif family for the label: Liberation Sans or DejaVu Sans.
    let family = &fonts.families[rng.pick(&[1usize, 2]).min(fonts.families.len() - 1)];
    match kind {
        SeparatorKind::Cover(choice) => {
            let pages = choice.pages.then(|| {
                let n = content_pages.max(1) as u32;
                if choice.wrong_pages {
                    let mut options = vec![n + 1, n + 2];
                    if n > 1 {
                        options.push(n - 1);
                    }
                    rng.pick(&options)
                } else {
                    n
                }
            });
            let case = choice.case.then(|| case_reference(rng, letter.unit_code));
            let sheet = CoverSheet {
                unit: letter.unit_code.to_string(),
                unit_name: choice.name.then(|| letter.unit_name.to_string()),
                case: case.clone(),
                pages,
                other: Default::default(),
            };
            let pdf = coversheet::pdf(&sheet)?;
            Ok(PrintedSeparator {
                printed: Printed {
                    coverage: rasterise_pdf(&pdf)?,
                    kind: PageKind::CoverSheet,
                    text: pdf_text_lines(&pdf)?,
                    ink: None,
                },
                barcodes: vec![TruthBarcode {
                    format: "QRCode".to_string(),
                    text: sheet.payload(),
                }],
                patch: Some(coversheet::PATCH),
                cover: Some(TruthCover {
                    unit: sheet.unit.clone(),
                    case,
                    pages,
                }),
            })
        }
        SeparatorKind::Patch(patch) => {
            let (coverage, text) = draw_patch_sheet(*patch, family, rng);
            Ok(PrintedSeparator {
                printed: Printed {
                    coverage,
                    kind: PageKind::PatchSheet,
                    text,
                    ink: None,
                },
                barcodes: Vec::new(),
                patch: Some(*patch),
                cover: None,
            })
        }
        SeparatorKind::Barcode(code) => {
            let (format, value) = match code {
                SeparatorCode::Code39PatchT => ("Code39", "PATCHT".to_string()),
                SeparatorCode::Code128Numbered => {
                    ("Code128", format!("SEP-{:05}", rng.below(100_000)))
                }
            };
            let (coverage, text) = draw_barcode_sheet(*code, &value, family, rng)?;
            Ok(PrintedSeparator {
                printed: Printed {
                    coverage,
                    kind: PageKind::SeparatorSheet,
                    text,
                    ink: None,
                },
                barcodes: vec![TruthBarcode {
                    format: format.to_string(),
                    text: value,
                }],
                patch: None,
                cover: None,
            })
        }
    }
}

/// An Aktenzeichen like "61.2-0815/2026" (or "50.4-0815/2026" for a unit with a dot).
fn case_reference(rng: &mut Rng, unit: &str) -> String {
    let number = rng.between(1, 2999);
    if unit.contains('.') {
        format!("{unit}-{number:04}/{YEAR}")
    } else {
        format!("{unit}.{}-{number:04}/{YEAR}", rng.between(1, 4))
    }
}

/// Lines of a label, drawn from `top` down: text, size in pt, bold. Left-aligned at the
/// letter margin or centred. Returns the lines joined by `\n`.
fn draw_label(
    page: &mut GrayImage,
    family: &FontFamily,
    top: f32,
    lines: &[(String, f32, bool)],
    centred: bool,
) -> String {
    let mut y = top;
    for (text, pt, bold) in lines {
        let font = if *bold { &family.bold } else { &family.regular };
        let scale = font_scale(font, *pt);
        let x = if centred {
            (PAGE_W as f32 - text_width(font, scale, text)) / 2.0
        } else {
            mm(LEFT_MM)
        };
        draw_text(page, font, scale, (x, y), text);
        y += pt_to_px(*pt) * if *pt > 20.0 { 1.5 } else { 1.4 };
    }
    let texts: Vec<&str> = lines.iter().map(|(t, _, _)| t.as_str()).collect();
    texts.join("\n")
}

/// Two or three lines of small print.
fn separator_notes(rng: &mut Rng) -> Vec<(String, f32, bool)> {
    let mut deck = Deck::new(SEPARATOR_NOTES, rng);
    (0..rng.between(2, 3))
        .map(|_| (deck.draw(rng).to_string(), 14.0, false))
        .collect()
}

/// A Kodak patch-code sheet: the four bars across the sheet 10-15 mm below its top edge,
/// 15-40 mm from the left, 30-80 mm long; at least 12 mm below them (6 mm of white
/// required) a label: "Trennblatt" in 40 pt bold, the code's name ("Patch T") in 28 pt and
/// two or three lines of 14 pt, enough text for the orientation to be found.
fn draw_patch_sheet(kind: PatchType, family: &FontFamily, rng: &mut Rng) -> (GrayImage, String) {
    let mut page = GrayImage::from_pixel(PAGE_W, PAGE_H, Luma([255]));
    let x = mm(rng.uniform(15.0, 40.0) as f32);
    let y = mm(rng.uniform(10.0, 15.0) as f32);
    let length = rng.uniform(30.0, 80.0) as f32;
    crate::patch::draw(&mut page, kind, x as u32, y as u32, length, DPI as f32);
    // 2 wide + 2 narrow bars and 3 narrow gaps: 20.2 mm.
    let bars_bottom = y + mm(20.2);
    let top = bars_bottom + mm(rng.uniform(12.0, 60.0) as f32);
    let name = match kind {
        PatchType::Patch1 => "Patch 1",
        PatchType::Patch2 => "Patch 2",
        PatchType::Patch3 => "Patch 3",
        PatchType::Patch4 => "Patch 4",
        PatchType::Patch6 => "Patch 6",
        PatchType::PatchT => "Patch T",
    };
    let mut lines = vec![
        (
            "Trennblatt".to_string(),
            rng.uniform(36.0, 44.0) as f32,
            true,
        ),
        (name.to_string(), rng.uniform(26.0, 30.0) as f32, false),
    ];
    lines.extend(separator_notes(rng));
    let text = draw_label(&mut page, family, top, &lines, rng.chance(0.5));
    (page, text)
}

/// A separator barcode sheet: "Trennblatt" in 40 pt bold near the top, below it the
/// barcode (module 4-6 px, bars 15-25 mm tall, quiet zones as rendered), its text in
/// 14 pt under it and two or three lines of 14 pt.
fn draw_barcode_sheet(
    code: SeparatorCode,
    value: &str,
    family: &FontFamily,
    rng: &mut Rng,
) -> Result<(GrayImage, String)> {
    let mut page = GrayImage::from_pixel(PAGE_W, PAGE_H, Luma([255]));
    let centred = rng.chance(0.5);
    let title_top = mm(rng.uniform(20.0, 40.0) as f32);
    let title = vec![(
        "Trennblatt".to_string(),
        rng.uniform(36.0, 44.0) as f32,
        true,
    )];
    let mut text = draw_label(&mut page, family, title_top, &title, centred);

    let format = match code {
        SeparatorCode::Code39PatchT => zxingcpp::BarcodeFormat::Code39,
        SeparatorCode::Code128Numbered => zxingcpp::BarcodeFormat::Code128,
    };
    let module = rng.between(4, 6) as i32;
    let symbol = crate::barcode::render(format, value, module).map_err(anyhow::Error::msg)?;
    let bar_height = mm(rng.uniform(15.0, 25.0) as f32) as u32;
    let (w, h) = symbol.dimensions();
    let tall = GrayImage::from_fn(w, bar_height, |x, y| {
        *symbol.get_pixel(x, y * h / bar_height)
    });
    let symbol_top = title_top + mm(rng.uniform(25.0, 40.0) as f32);
    let symbol_x = if centred {
        (PAGE_W - w) / 2
    } else {
        // The rendered quiet zone is 10 modules; the bars start at the margin.
        (mm(LEFT_MM) as u32).saturating_sub(10 * module as u32)
    };
    overlay(&mut page, &tall, symbol_x, symbol_top as u32);

    let mut lines = vec![(value.to_string(), 14.0, false)];
    lines.extend(separator_notes(rng));
    let below = symbol_top + bar_height as f32 + mm(4.0);
    text.push('\n');
    text.push_str(&draw_label(&mut page, family, below, &lines, centred));
    Ok((page, text))
}

/// Renders a one-page PDF at 300 dpi in gray with poppler's `pdftoppm`, through a
/// temporary folder that is removed again; the result is cut or padded to A4 at 300 dpi.
fn rasterise_pdf(pdf: &[u8]) -> Result<GrayImage> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mailroom-lab-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    if dir.exists() {
        fs::remove_dir_all(&dir).ok();
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = (|| -> Result<GrayImage> {
        let input = dir.join("sheet.pdf");
        fs::write(&input, pdf).with_context(|| format!("cannot write {}", input.display()))?;
        let status = std::process::Command::new("pdftoppm")
            .args(["-r", "300", "-gray", "-png", "-singlefile"])
            .arg(&input)
            .arg(dir.join("sheet"))
            .status()
            .context("cannot run pdftoppm (poppler-utils, installed by scripts/setup.sh)")?;
        if !status.success() {
            return Err(anyhow!("pdftoppm failed on a cover sheet: {status}"));
        }
        let png = dir.join("sheet.png");
        let rendered = image::open(&png)
            .with_context(|| format!("cannot read {}", png.display()))?
            .to_luma8();
        let mut page = GrayImage::from_pixel(PAGE_W, PAGE_H, Luma([255]));
        image::imageops::replace(&mut page, &rendered, 0, 0);
        Ok(page)
    })();
    fs::remove_dir_all(&dir).ok();
    result
}

/// The text lines a PDF page prints, top to bottom (left to right on one baseline),
/// read from its content stream: every `Tj` at its `Td` position, in WinAnsiEncoding
/// (Latin-1 for the letters mailroom prints). Exactly what `coversheet::pdf` draws.
fn pdf_text_lines(pdf: &[u8]) -> Result<String> {
    let doc = lopdf::Document::load_mem(pdf).context("cannot read the cover sheet PDF")?;
    let page = *doc
        .get_pages()
        .values()
        .next()
        .ok_or_else(|| anyhow!("the cover sheet PDF has no page"))?;
    let content = doc
        .get_and_decode_page_content(page)
        .context("cannot decode the cover sheet's content")?;
    let mut at = (0.0f32, 0.0f32);
    let mut runs: Vec<(f32, f32, String)> = Vec::new();
    for op in &content.operations {
        match op.operator.as_str() {
            "BT" => at = (0.0, 0.0),
            "Td" if op.operands.len() == 2 => {
                at.0 += op.operands[0].as_float()?;
                at.1 += op.operands[1].as_float()?;
            }
            "Tj" => {
                if let Some(lopdf::Object::String(bytes, _)) = op.operands.first() {
                    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
                    runs.push((at.1, at.0, text));
                }
            }
            _ => {}
        }
    }
    // Top of the page first: PDF's y axis points up.
    runs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.total_cmp(&b.1)));
    let mut lines: Vec<(f32, String)> = Vec::new();
    for (y, _, text) in runs {
        match lines.last_mut() {
            Some((last_y, line)) if (*last_y - y).abs() < 0.5 => {
                line.push(' ');
                line.push_str(&text);
            }
            _ => lines.push((y, text)),
        }
    }
    let lines: Vec<String> = lines
        .into_iter()
        .map(|(_, line)| line.trim().to_string())
        .filter(|line| !line.is_empty())
        .collect();
    Ok(lines.join("\n"))
}

/// Scans a separator sheet like a letter page: paper tone, dust, blur, noise, black edges
/// sometimes, skew within ±3°, upright or upside down; with a blank back when duplex.
/// `clean` says per frame (front, back) whether its file is lossless gray.
fn scan_separator(
    separator: &PrintedSeparator,
    plan: &SeparatorPlan,
    clean: [bool; 2],
    rng: &mut Rng,
) -> Vec<ScannedPage> {
    let skew_deg = if rng.chance(0.15) {
        rng.uniform(-0.3, 0.3)
    } else {
        rng.uniform(-3.0, 3.0)
    };
    let geometry = Geometry {
        skew_deg: (skew_deg * 100.0).round() / 100.0,
        rotation: plan.rotation,
    };
    let look = random_look(rng, clean[0], false);
    let marks = Marks {
        holes: None,
        black_edges: plan.front_edges,
    };
    let printed = &separator.printed;
    let (image, coverage) = scan_front(printed, geometry, &look, marks, rng);
    let mut scans = vec![ScannedPage {
        image,
        kind: printed.kind,
        text: printed.text.clone(),
        geometry,
        black_edges: plan.front_edges,
        punch_holes: false,
        tint: look.tint,
        barcodes: separator.barcodes.clone(),
        patch: separator.patch,
    }];
    if plan.duplex {
        let mut back_look = random_look(rng, clean[1], false);
        back_look.paper = look.paper;
        back_look.tint = look.tint;
        back_look.speckles = 5 + rng.below(40);
        let back_geometry = geometry.back();
        let marks = Marks {
            holes: None,
            black_edges: plan.back_edges,
        };
        let bleed = rng.uniform(3.0, 8.0) as f32;
        let image = scan_back(
            &coverage,
            None,
            back_geometry,
            &back_look,
            bleed,
            marks,
            rng,
        );
        scans.push(ScannedPage {
            image,
            kind: PageKind::BlankBack,
            text: String::new(),
            geometry: back_geometry,
            black_edges: plan.back_edges,
            punch_holes: false,
            tint: back_look.tint,
            barcodes: Vec::new(),
            patch: None,
        });
    }
    scans
}

// --- Files ------------------------------------------------------------------------------

/// A file of a stream batch: `count` consecutive frames from `start`.
struct FileGroup {
    start: usize,
    count: usize,
    format: FileFormat,
}

/// Cuts the stream of pages into files of 1-8 pages, whatever the documents: about 30 %
/// single pages (gray JPEG mostly, some PNG, RGB JPEG and one-page G4 TIFF), 45 % of 2-4
/// and 25 % of 5-8 pages (bilevel G4 TIFF; gray Deflate/LZW TIFF for about a third of the
/// groups of 2-3 pages: noisy gray pages compress badly).
/// The first groups are steered so that a 60-page stream has every format.
struct StreamFiles<'a> {
    dir: &'a Path,
    rng: Rng,
    groups: Vec<FileGroup>,
    /// Frames of the group being filled, not yet written.
    pending: Vec<ScannedPage>,
}

impl<'a> StreamFiles<'a> {
    fn new(dir: &'a Path, rng: Rng) -> Self {
        StreamFiles {
            dir,
            rng,
            groups: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn plan_group(&mut self) {
        let rng = &mut self.rng;
        let n = self.groups.len();
        let start = self.groups.last().map_or(0, |g| g.start + g.count);
        let has = |test: &dyn Fn(&FileGroup) -> bool| self.groups.iter().any(test);
        let singles = has(&|g| g.count == 1);
        let png = has(&|g| g.format == FileFormat::PngGray);
        let rgb = has(&|g| matches!(g.format, FileFormat::JpegRgb { .. }));
        let gray_tiff = has(&|g| matches!(g.format, FileFormat::TiffGray { .. }));
        let r = rng.unit();
        let mut count = if r < 0.3 {
            1
        } else if r < 0.75 {
            rng.between(2, 4) as usize
        } else {
            rng.between(5, 8) as usize
        };
        if (n == 2 && !singles) || (n == 5 && !png) || (n == 7 && !rgb) {
            count = 1;
        }
        let format = if count == 1 {
            let quality = rng.between(55, 85) as u8;
            let r = rng.unit();
            if (n >= 5 && !png) || (png && r < 0.15) {
                FileFormat::PngGray
            } else if (n >= 7 && !rgb) || r < 0.3 {
                FileFormat::JpegRgb { quality }
            } else if r < 0.4 {
                FileFormat::TiffG4
            } else {
                FileFormat::JpegGray { quality }
            }
        } else if count <= 3 && (rng.chance(0.35) || (!gray_tiff && n >= 3)) {
            let compression = if rng.chance(0.5) {
                GrayTiffCompression::Deflate
            } else {
                GrayTiffCompression::Lzw
            };
            FileFormat::TiffGray {
                compression,
                predictor: rng.chance(0.5),
            }
        } else {
            FileFormat::TiffG4
        };
        self.groups.push(FileGroup {
            start,
            count,
            format,
        });
    }

    /// The group that holds stream frame `frame`, planned on demand.
    fn group_of(&mut self, frame: usize) -> usize {
        while self
            .groups
            .last()
            .is_none_or(|g| g.start + g.count <= frame)
        {
            self.plan_group();
        }
        self.groups
            .iter()
            .position(|g| frame < g.start + g.count)
            .unwrap_or(0)
    }

    fn format_of(&mut self, frame: usize) -> FileFormat {
        let group = self.group_of(frame);
        self.groups[group].format
    }

    fn file_name(&self, group: usize) -> String {
        format!(
            "{STREAM_FILE_PREFIX}{:05}.{}",
            group + 1,
            self.groups[group].format.extension()
        )
    }

    /// Appends a page to the stream: records its truth and writes its file once full.
    /// Returns the page's index in `truth.pages`.
    fn push(&mut self, scan: ScannedPage, truth: &mut Truth) -> Result<usize> {
        let index = truth.pages.len();
        let group = self.group_of(index);
        let name = self.file_name(group);
        truth
            .pages
            .push(truth_page(&scan, &name, index - self.groups[group].start));
        self.pending.push(scan);
        if self.pending.len() == self.groups[group].count {
            self.write(group)?;
        }
        Ok(index)
    }

    fn write(&mut self, group: usize) -> Result<()> {
        let path = self.dir.join(self.file_name(group));
        let bytes = encode_file(&self.pending, self.groups[group].format)?;
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        self.pending.clear();
        Ok(())
    }

    /// Writes the last, maybe shorter file.
    fn finish(&mut self, truth: &Truth) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let last = truth.pages.len() - 1;
        let group = self.group_of(last);
        self.write(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tiff::decoder::{Decoder, DecodingResult};

    /// Mean y of dark pixels in column `x`.
    fn dark_row(image: &GrayImage, x: u32) -> f64 {
        let rows: Vec<u32> = (0..image.height())
            .filter(|&y| image.get_pixel(x, y).0[0] < 128)
            .collect();
        assert!(!rows.is_empty(), "no ink in column {x}");
        rows.iter().map(|&y| f64::from(y)).sum::<f64>() / rows.len() as f64
    }

    #[test]
    fn skew_sign_is_counter_clockwise() {
        let mut image = GrayImage::from_pixel(201, 201, Luma([255]));
        for x in 20..=180 {
            for y in 99..=101 {
                image.put_pixel(x, y, Luma([0]));
            }
        }
        // Counter-clockwise as seen on the image: the right end goes up (smaller y).
        let ccw = skew_content(&image, 10.0);
        let (left, right) = (dark_row(&ccw, 40), dark_row(&ccw, 160));
        let expected = 120.0 * 10f64.to_radians().tan();
        assert!(
            (left - right - expected).abs() < 3.0,
            "left end at y={left}, right end at y={right}"
        );
        let cw = skew_content(&image, -10.0);
        assert!(dark_row(&cw, 160) > dark_row(&cw, 40));
    }

    #[test]
    fn crc32_matches_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    fn test_page(width: u32, height: u32) -> GrayImage {
        GrayImage::from_fn(width, height, |x, y| {
            let ink = (x / 5 + y / 3) % 3 == 0 || x == width - 1;
            Luma([if ink { 30 } else { 200 + (x % 40) as u8 }])
        })
    }

    #[test]
    fn png_carries_300_dpi() {
        let image = test_page(40, 30);
        let png = encode_png_gray(&image).unwrap();
        assert_eq!(&png[37..41], b"pHYs");
        assert_eq!(u32::from_be_bytes(png[33..37].try_into().unwrap()), 9);
        assert_eq!(u32::from_be_bytes(png[41..45].try_into().unwrap()), 11811);
        assert_eq!(u32::from_be_bytes(png[45..49].try_into().unwrap()), 11811);
        assert_eq!(png[49], 1);
        assert_eq!(
            u32::from_be_bytes(png[50..54].try_into().unwrap()),
            crc32(&png[37..50])
        );
        // The png decoder verifies chunk CRCs.
        let decoded = image::load_from_memory(&png).unwrap().to_luma8();
        assert_eq!(decoded, image);
    }

    #[test]
    fn jpeg_carries_300_dpi() {
        let jpeg = encode_jpeg_gray(&test_page(40, 30), 70).unwrap();
        let app0 = jpeg.windows(5).position(|w| w == b"JFIF\0").unwrap();
        // version (2 bytes), units (1 = dots per inch), x density, y density
        assert_eq!(jpeg[app0 + 7], 1);
        assert_eq!(u16::from_be_bytes([jpeg[app0 + 8], jpeg[app0 + 9]]), 300);
        assert_eq!(u16::from_be_bytes([jpeg[app0 + 10], jpeg[app0 + 11]]), 300);
    }

    /// Decodes every frame of a TIFF: (tags of interest, pixels).
    fn decode_tiff(bytes: &[u8]) -> Vec<(BTreeMap<&'static str, u64>, DecodingResult)> {
        let mut decoder = Decoder::new(Cursor::new(bytes)).unwrap();
        let mut frames = Vec::new();
        loop {
            let mut tags = BTreeMap::new();
            tags.insert(
                "compression",
                u64::from(decoder.get_tag_u32(Tag::Compression).unwrap()),
            );
            tags.insert(
                "photometric",
                u64::from(decoder.get_tag_u32(Tag::PhotometricInterpretation).unwrap()),
            );
            tags.insert(
                "unit",
                u64::from(decoder.get_tag_u32(Tag::ResolutionUnit).unwrap()),
            );
            let (width, height) = decoder.dimensions().unwrap();
            tags.insert("width", u64::from(width));
            tags.insert("height", u64::from(height));
            let x_res = decoder.get_tag_u32_vec(Tag::XResolution).unwrap();
            let y_res = decoder.get_tag_u32_vec(Tag::YResolution).unwrap();
            tags.insert("x_dpi", u64::from(x_res[0] / x_res[1]));
            tags.insert("y_dpi", u64::from(y_res[0] / y_res[1]));
            frames.push((tags, decoder.read_image().unwrap()));
            if !decoder.more_images() {
                return frames;
            }
            decoder.next_image().unwrap();
        }
    }

    #[test]
    fn g4_tiff_round_trips() {
        let pages = [test_page(61, 23), test_page(61, 23)];
        let mut second = pages[1].clone();
        second.put_pixel(3, 3, Luma([0]));
        let frames = [&pages[0], &second];
        let bytes = encode_tiff_g4(&frames).unwrap();
        let decoded = decode_tiff(&bytes);
        assert_eq!(decoded.len(), 2);
        for ((tags, pixels), original) in decoded.iter().zip(frames) {
            assert_eq!(tags["compression"], 4);
            assert_eq!(tags["photometric"], 0);
            assert_eq!((tags["unit"], tags["x_dpi"], tags["y_dpi"]), (2, 300, 300));
            let DecodingResult::U8(bits) = pixels else {
                panic!("unexpected sample type");
            };
            let stride = (original.width() as usize).div_ceil(8);
            for (x, y, pixel) in original.enumerate_pixels() {
                let byte = bits[y as usize * stride + x as usize / 8];
                let bit = (byte >> (7 - x % 8)) & 1;
                // The tiff crate normalises WhiteIsZero to 1 = white.
                let black = pixel.0[0] < BILEVEL_THRESHOLD;
                assert_eq!(bit == 0, black, "pixel {x},{y}");
            }
        }
    }

    #[test]
    fn gray_tiff_round_trips() {
        let pages = [test_page(70, 40), test_page(70, 40)];
        let frames = [&pages[0], &pages[1]];
        for compression in [GrayTiffCompression::Deflate, GrayTiffCompression::Lzw] {
            for predictor in [false, true] {
                let bytes = encode_tiff_gray(&frames, compression, predictor).unwrap();
                let decoded = decode_tiff(&bytes);
                assert_eq!(decoded.len(), 2);
                for ((tags, pixels), original) in decoded.iter().zip(frames) {
                    assert_eq!(tags["photometric"], 1);
                    assert_eq!((tags["unit"], tags["x_dpi"], tags["y_dpi"]), (2, 300, 300));
                    let DecodingResult::U8(values) = pixels else {
                        panic!("unexpected sample type");
                    };
                    assert_eq!(values, original.as_raw());
                }
            }
        }
    }

    fn all_templates() -> Vec<&'static str> {
        let mut templates: Vec<&'static str> = Vec::new();
        for topic in TOPICS {
            templates.push(topic.subject);
            templates.extend(topic.sentences);
            templates.extend(topic.enclosures);
        }
        templates.extend(OPENERS);
        templates.extend(GENERAL_SENTENCES);
        templates.extend(CLOSERS);
        templates
    }

    #[test]
    fn every_template_fills_completely() {
        let mut rng = Rng::new(1);
        let sender = random_sender(&mut rng, SenderKind::Either);
        let facts = random_facts(&mut rng, "61", &sender, Day(100));
        let templates = all_templates();
        assert!(templates.len() >= 100, "only {} templates", templates.len());
        for template in templates {
            let text = facts.fill(template);
            assert!(!text.contains(['{', '}']), "unfilled slot in {template:?}");
        }
    }

    #[test]
    fn every_unit_has_topics() {
        for (unit, _) in UNITS {
            assert!(
                TOPICS.iter().any(|t| t.unit == *unit),
                "no topic for unit {unit}"
            );
        }
        assert!(TOPICS
            .iter()
            .all(|t| UNITS.iter().any(|(u, _)| *u == t.unit)));
    }

    #[test]
    fn layouts_stay_on_the_page_in_reading_order() {
        let fonts = load_fonts().unwrap();
        let mut rng = Rng::new(99);
        let mut planner = BatchPlanner::default();
        let mut case_rng = Rng::new(100);
        for i in 0..36 {
            let sheets = planner.sheets(&mut rng);
            let case = ROUTING_CASES[i % ROUTING_CASES.len()];
            let letter =
                compose_letter(&mut rng, &mut case_rng, &fonts.families, sheets, case).unwrap();
            let ts = Typesetter {
                family: &fonts.families[letter.family],
            };
            assert!((1..=sheets).contains(&letter.pages.len()));
            let first = letter.pages[0].text();
            let subject_start: String = letter.subject.chars().take(10).collect();
            assert!(first.contains(&subject_start));
            assert!(first.starts_with(|c: char| c.is_alphabetic()));
            let last = letter.pages.last().unwrap().text();
            assert!(last.contains("Mit freundlichen Grüßen"));
            for page in &letter.pages {
                let mut previous_y = f32::MIN;
                for line in &page.lines {
                    let width = ts.width(line.style, &line.text);
                    assert!(line.y >= previous_y, "{:?} out of reading order", line.text);
                    previous_y = line.y;
                    assert!(line.x >= mm(10.0) && line.x + width <= PAGE_W as f32 - mm(10.0));
                    assert!(
                        line.y >= mm(10.0)
                            && line.y + pt_to_px(line.style.pt) <= PAGE_H as f32 - mm(5.0)
                    );
                    assert!(!line.text.is_empty() && line.text.trim() == line.text);
                }
            }
        }
    }

    #[test]
    fn generated_file_names_are_recognised() {
        assert!(is_generated_file_name("letter_001.jpg"));
        assert!(is_generated_file_name("letter_1234.tif"));
        assert!(is_generated_file_name("scan_00001.tif"));
        assert!(is_generated_file_name("scan_00012.jpg"));
        assert!(!is_generated_file_name("scan_.png"));
        assert!(is_generated_file_name(TRUTH_FILE));
        // `generate --pdf` writes scanner PDFs under the same names
        assert!(is_generated_file_name("letter_001.pdf"));
        assert!(!is_generated_file_name("letter_001.docx"));
        assert!(!is_generated_file_name("letter_.png"));
        assert!(!is_generated_file_name("notes.txt"));
    }

    /// Width, height and declared resolution of every frame of a file.
    fn frame_info(path: &Path) -> Vec<(u32, u32, u64)> {
        let bytes = fs::read(path).unwrap();
        let name = path.to_string_lossy();
        if name.ends_with(".tif") {
            decode_tiff(&bytes)
                .iter()
                .map(|(tags, _)| (tags["width"] as u32, tags["height"] as u32, tags["x_dpi"]))
                .collect()
        } else if name.ends_with(".png") {
            let image = image::load_from_memory(&bytes).unwrap();
            let phys = u32::from_be_bytes(bytes[41..45].try_into().unwrap());
            let dpi = (f64::from(phys) * 0.0254).round() as u64;
            vec![(image.width(), image.height(), dpi)]
        } else {
            let image = image::load_from_memory(&bytes).unwrap();
            let app0 = bytes.windows(5).position(|w| w == b"JFIF\0").unwrap();
            let dpi = u64::from(u16::from_be_bytes([bytes[app0 + 8], bytes[app0 + 9]]));
            vec![(image.width(), image.height(), dpi)]
        }
    }

    /// One frame of a batch file as a gray image (G4 frames as 0 and 255).
    fn decode_frame(path: &Path, frame: u32) -> GrayImage {
        let bytes = fs::read(path).unwrap();
        if !path.to_string_lossy().ends_with(".tif") {
            return image::load_from_memory(&bytes).unwrap().to_luma8();
        }
        let frames = decode_tiff(&bytes);
        let (tags, pixels) = &frames[frame as usize];
        let (width, height) = (tags["width"] as u32, tags["height"] as u32);
        let DecodingResult::U8(values) = pixels else {
            panic!("unexpected sample type");
        };
        if tags["compression"] != 4 {
            return GrayImage::from_raw(width, height, values.clone()).unwrap();
        }
        let stride = (width as usize).div_ceil(8);
        GrayImage::from_fn(width, height, |x, y| {
            let byte = values[y as usize * stride + x as usize / 8];
            // The tiff crate normalises WhiteIsZero to 1 = white.
            Luma([if (byte >> (7 - x % 8)) & 1 == 1 {
                255
            } else {
                0
            }])
        })
    }

    /// Upright pages are portrait, pages turned by 90 or 270 degrees landscape.
    fn expected_dimensions(rotation: u32) -> (u32, u32) {
        if rotation % 180 == 90 {
            (PAGE_H, PAGE_W)
        } else {
            (PAGE_W, PAGE_H)
        }
    }

    /// Generation is slow in debug builds, so one test covers both determinism and the
    /// agreement of truth and files. Seed 10 gives a JPEG letter and a gray TIFF with a
    /// blank back; if the generator changes, pick a seed that still mixes formats.
    #[test]
    fn same_seed_gives_identical_batch_matching_its_truth() {
        let spec = GenerateSpec {
            seed: 10,
            pages: 2,
            stream: false,
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let truth = generate(&spec, a.path()).unwrap();
        let again = generate(&spec, b.path()).unwrap();
        assert_eq!(truth, again);

        let list = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let names = list(a.path());
        assert_eq!(names, list(b.path()));
        for name in &names {
            let (left, right) = (
                fs::read(a.path().join(name)).unwrap(),
                fs::read(b.path().join(name)).unwrap(),
            );
            assert!(left == right, "{name} differs between runs");
        }
        assert_eq!(Truth::load(&a.path().join(TRUTH_FILE)).unwrap(), truth);

        // truth.pages lists every frame of every file, in file-name then frame order.
        assert!(truth.pages.len() >= spec.pages);
        let mut expected = Vec::new();
        for name in names.iter().filter(|n| n.as_str() != TRUTH_FILE) {
            let frames = frame_info(&a.path().join(name));
            assert!(
                frames.iter().all(|&(_, _, dpi)| dpi == 300),
                "{name} is not tagged 300 dpi: {frames:?}"
            );
            expected.extend((0..frames.len() as u32).map(|frame| (name.clone(), frame)));
        }
        let actual: Vec<(String, u32)> = truth
            .pages
            .iter()
            .map(|p| (p.file.clone(), p.frame))
            .collect();
        assert_eq!(actual, expected);
        assert!(
            names.iter().any(|n| n.ends_with(".tif")),
            "seed no longer yields a TIFF"
        );
        assert!(names
            .iter()
            .any(|n| !n.ends_with(".tif") && n.as_str() != TRUTH_FILE));

        // Documents cover all pages exactly once, in order.
        let covered: Vec<usize> = truth
            .documents
            .iter()
            .flat_map(|d| d.pages.clone())
            .collect();
        assert_eq!(covered, (0..truth.pages.len()).collect::<Vec<_>>());
        for page in &truth.pages {
            assert_eq!(page.blank, page.kind == PageKind::BlankBack);
            assert_eq!(page.blank, page.text.is_empty());
            assert!(page.skew_deg.abs() <= 5.0 && [0, 90, 180, 270].contains(&page.rotation));
        }
    }

    /// A mark near the top-left corner of an upright page, turned clockwise by 90 degrees,
    /// lands near the top-right corner of the landscape scan: the page's top is at the
    /// right. Positive skew stays counter-clockwise as seen on the scan.
    #[test]
    fn rotation_90_puts_the_top_of_the_page_at_the_right() {
        let (w, h) = (60, 100);
        let mut upright = GrayImage::from_pixel(w, h, Luma([255]));
        for y in 2..10 {
            for x in 2..10 {
                upright.put_pixel(x, y, Luma([0]));
            }
        }
        let turned = Geometry {
            skew_deg: 0.0,
            rotation: 90,
        };
        let scan = turned.apply(&upright);
        assert_eq!(scan.dimensions(), (h, w), "a 90 page is landscape");
        let dark: Vec<(u32, u32)> = scan
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0[0] < 128)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert_eq!(dark.len(), 64);
        assert!(
            dark.iter().all(|&(x, y)| x >= h - 10 && y < 10),
            "mark not at the top right: {dark:?}"
        );
        // Geometry::place agrees with the image.
        let (px, py) = turned.place((5.5, 5.5), w, h);
        assert!(
            (px - 93.5).abs() < 1.0 && (py - 5.5).abs() < 1.0,
            "{px},{py}"
        );
        // 270: the top of the page at the left, its left edge at the bottom.
        let scan = Geometry {
            skew_deg: 0.0,
            rotation: 270,
        }
        .apply(&upright);
        assert!(scan
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0[0] < 128)
            .all(|(x, y, _)| x < 10 && y >= w - 10));

        // A horizontal line, skewed counter-clockwise and turned by 90: a line running
        // down the scan whose lower end is further right (counter-clockwise on the scan).
        let mut line = GrayImage::from_pixel(201, 301, Luma([255]));
        for x in 30..=170 {
            for y in 149..=151 {
                line.put_pixel(x, y, Luma([0]));
            }
        }
        let scan = Geometry {
            skew_deg: 10.0,
            rotation: 90,
        }
        .apply(&line);
        let column = |y: u32| -> f64 {
            let xs: Vec<u32> = (0..scan.width())
                .filter(|&x| scan.get_pixel(x, y).0[0] < 128)
                .collect();
            assert!(!xs.is_empty(), "no ink in row {y}");
            xs.iter().map(|&x| f64::from(x)).sum::<f64>() / xs.len() as f64
        };
        let (top, bottom) = (column(50), column(150));
        let expected = 100.0 * 10f64.to_radians().tan();
        assert!(
            (bottom - top - expected).abs() < 3.0,
            "upper end at x={top}, lower end at x={bottom}"
        );
    }

    #[test]
    fn back_geometry_mirrors_the_front() {
        let front = Geometry {
            skew_deg: 2.5,
            rotation: 90,
        };
        assert_eq!(
            front.back(),
            Geometry {
                skew_deg: -2.5,
                rotation: 270
            }
        );
        let straight = Geometry {
            skew_deg: 0.0,
            rotation: 180,
        };
        assert!(straight.back().skew_deg.is_sign_positive());
        assert_eq!(straight.back().rotation, 180);
        // A point near the left edge of the front appears where the mirrored point near
        // the right edge of the back does, mirrored left-right on the scan.
        let (w, h) = (PAGE_W, PAGE_H);
        for rotation in [0, 90, 180, 270] {
            let front = Geometry {
                skew_deg: -3.2,
                rotation,
            };
            let (fx, fy) = front.place((140.0, 1000.0), w, h);
            let (bx, by) = front.back().place((w as f32 - 1.0 - 140.0, 1000.0), w, h);
            let scan_w = if rotation % 180 == 90 { h } else { w } as f32;
            // Within half a pixel: flipping mirrors about (w - 1) / 2, turning about w / 2.
            assert!(
                (scan_w - 1.0 - fx - bx).abs() < 0.5 && (fy - by).abs() < 0.5,
                "rotation {rotation}: front ({fx},{fy}), back ({bx},{by})"
            );
        }
    }

    #[test]
    fn punch_holes_follow_the_paper() {
        let (w, h) = (PAGE_W, PAGE_H);
        for (side, geometry) in [
            (
                HoleSide::Front,
                Geometry {
                    skew_deg: 4.0,
                    rotation: 90,
                },
            ),
            (
                HoleSide::Back,
                Geometry {
                    skew_deg: -1.5,
                    rotation: 0,
                },
            ),
        ] {
            let scan_size = expected_dimensions(geometry.rotation);
            let mut scan = GrayImage::from_pixel(scan_size.0, scan_size.1, Luma([240]));
            draw_punch_holes(&mut scan, geometry, side, &mut Rng::new(3));
            for centre in hole_centres(side) {
                let (x, y) = geometry.place(centre, w, h);
                let centre_value = scan.get_pixel(x as u32, y as u32).0[0];
                assert!(centre_value <= 40, "hole centre is {centre_value}");
                // 6 mm across: dark 2.5 mm from the centre, paper 3.5 mm away.
                let inside = scan.get_pixel((x + mm(2.5)) as u32, y as u32).0[0];
                let outside = scan.get_pixel((x + mm(3.5)) as u32, y as u32).0[0];
                assert!(inside < 100 && outside == 240, "{inside} / {outside}");
            }
            // Front holes near the sheet's left edge, which is the top of a 90 scan; back
            // holes near the right edge.
            let (x, y) = geometry.place(hole_centres(side)[0], w, h);
            match side {
                HoleSide::Front => assert!(y < mm(20.0), "y = {y}"),
                HoleSide::Back => assert!(x > w as f32 - mm(20.0), "x = {x}"),
            }
            let dark = scan.pixels().filter(|p| p.0[0] < 128).count() as f32;
            let area = 2.0 * std::f32::consts::PI * mm(3.0) * mm(3.0);
            assert!((dark / area - 1.0).abs() < 0.1, "{dark} dark px");
        }
    }

    #[test]
    fn black_edges_darken_the_outermost_lines_of_their_sides() {
        let mut rng = Rng::new(5);
        let mut seen = Vec::new();
        for _ in 0..12 {
            let mut scan = GrayImage::from_pixel(300, 400, Luma([230]));
            let sides = add_black_edges(&mut scan, &mut rng);
            assert!((1..=4).contains(&sides.len()));
            let (w, h) = scan.dimensions();
            let line = |side: Edge, depth: u32| -> Vec<u8> {
                match side {
                    Edge::Top => (0..w).map(|x| scan.get_pixel(x, depth).0[0]).collect(),
                    Edge::Bottom => (0..w)
                        .map(|x| scan.get_pixel(x, h - 1 - depth).0[0])
                        .collect(),
                    Edge::Left => (0..h).map(|y| scan.get_pixel(depth, y).0[0]).collect(),
                    Edge::Right => (0..h)
                        .map(|y| scan.get_pixel(w - 1 - depth, y).0[0])
                        .collect(),
                }
            };
            for side in [Edge::Top, Edge::Right, Edge::Bottom, Edge::Left] {
                if sides.contains(&side) {
                    // At least 10 px of gray 0-40 all along the side.
                    for depth in [0, 9] {
                        assert!(line(side, depth).iter().all(|&v| v <= 40), "{side:?}");
                    }
                    // And never more than 60 px plus the transition.
                    let inner = line(side, 67);
                    let paper = inner.iter().filter(|&&v| v == 230).count();
                    let corners = 2 * 67;
                    assert!(paper + corners >= inner.len(), "{side:?} band too wide");
                } else {
                    // Only the corners, where another side's band crosses, are dark.
                    let outer = line(side, 0);
                    let paper = outer.iter().filter(|&&v| v == 230).count();
                    assert!(
                        paper >= outer.len() - 2 * 70,
                        "{side:?} dark without a band"
                    );
                }
            }
            seen.extend(sides);
        }
        for side in [Edge::Top, Edge::Right, Edge::Bottom, Edge::Left] {
            assert!(seen.contains(&side), "{side:?} never gets a band");
        }
    }

    #[test]
    fn almost_blank_pages_carry_exactly_their_text() {
        let fonts = load_fonts().unwrap();
        let mut rng = Rng::new(8);
        let letter = compose_letter(
            &mut rng,
            &mut Rng::new(0),
            &fonts.families,
            1,
            RoutingCase::Addressed,
        )
        .unwrap();
        for variant in ALMOST_BLANK_VARIANTS {
            for _ in 0..2 {
                let page = compose_almost_blank(variant, &letter, &fonts, &mut rng);
                assert_eq!(page.kind, PageKind::AlmostBlank);
                let lines: Vec<&str> = page.text.lines().collect();
                match variant {
                    AlmostBlankVariant::Note => {
                        assert!((1..=3).contains(&lines.len()));
                        assert!(lines.iter().all(|l| NOTE_LINES.contains(l)));
                    }
                    AlmostBlankVariant::Stamp => {
                        assert_eq!(lines.len(), 2);
                        assert!(STAMP_HEADINGS.contains(&lines[0]));
                        assert_eq!(lines[1], lines[1].to_uppercase());
                        assert!(lines[1].ends_with("2026"));
                    }
                    AlmostBlankVariant::TypedLine => assert_eq!(lines.len(), 1),
                }
                assert!(page.text.trim() == page.text && !page.text.is_empty());
                // Some ink, but little of it; none in the outermost 15 mm.
                let inked: Vec<(u32, u32)> = page
                    .coverage
                    .enumerate_pixels()
                    .filter(|(_, _, p)| p.0[0] < 128)
                    .map(|(x, y, _)| (x, y))
                    .collect();
                let share = inked.len() as f64 / f64::from(PAGE_W * PAGE_H);
                assert!(share > 0.0002 && share < 0.01, "{variant:?}: {share}");
                let margin = mm(15.0) as u32;
                assert!(inked.iter().all(|&(x, y)| x >= margin
                    && y >= margin
                    && x < PAGE_W - margin
                    && y < PAGE_H - margin));
                if variant == AlmostBlankVariant::Note {
                    assert!(inked.iter().all(|&(_, y)| y < mm(215.0) as u32));
                }
            }
        }
    }

    /// Simulates the planner over many batches without rendering: small batches show
    /// every case, and over a long run the shares are as intended.
    #[test]
    fn planner_balances_small_batches_and_keeps_the_mix() {
        for seed in 0..300 {
            let mut rng = Rng::new(seed);
            let mut planner = BatchPlanner::default();
            let mut plans = Vec::new();
            while planner.pages < 15 {
                let sheets = planner.sheets(&mut rng);
                plans.push(planner.plan(&mut rng, sheets));
            }
            let sheets: Vec<&SheetPlan> = plans.iter().flat_map(|p| &p.sheets).collect();
            let almost_blank = sheets
                .iter()
                .flat_map(|s| [Some(s.front), s.back])
                .filter(|s| matches!(s, Some(Side::AlmostBlank(_))))
                .count();
            assert!(
                almost_blank >= 2,
                "seed {seed}: {almost_blank} almost blank"
            );
            let letter_fronts: Vec<&&SheetPlan> = sheets
                .iter()
                .filter(|s| matches!(s.front, Side::Letter(_)))
                .collect();
            if letter_fronts.len() >= 7 {
                for turn in [90, 180, 270] {
                    assert!(
                        letter_fronts.iter().any(|s| s.rotation == turn),
                        "seed {seed}: no letter page at {turn}"
                    );
                }
            }
            assert!(sheets.iter().any(|s| s.punch_holes), "seed {seed}");
            assert!(sheets.iter().any(|s| s.front_edges), "seed {seed}");
            let blank_backs: Vec<&&SheetPlan> = sheets
                .iter()
                .filter(|s| s.back == Some(Side::Blank))
                .collect();
            assert!(!blank_backs.is_empty(), "seed {seed}: no blank back");
            assert!(blank_backs.iter().any(|s| s.back_edges), "seed {seed}");
            for (index, sheet) in sheets.iter().enumerate() {
                let almost = matches!(sheet.front, Side::AlmostBlank(_))
                    || matches!(sheet.back, Some(Side::AlmostBlank(_)));
                assert_eq!(sheet.small_skew, almost || index == 0, "seed {seed}");
            }
            // The first page is a plain upright letter page.
            assert_eq!(sheets[0].front, Side::Letter(0));
            assert_eq!(sheets[0].rotation, 0);
            assert!(!sheets[0].front_edges && !sheets[0].punch_holes);
        }

        // One long batch: the intended shares, within sampling noise.
        let mut rng = Rng::new(1);
        let mut planner = BatchPlanner::default();
        let mut sheets = Vec::new();
        while planner.pages < 20_000 {
            let count = planner.sheets(&mut rng);
            sheets.extend(planner.plan(&mut rng, count).sheets);
        }
        let pages = planner.pages as f64;
        let letter_pages: Vec<&SheetPlan> = sheets
            .iter()
            .filter(|s| matches!(s.front, Side::Letter(_)))
            .collect();
        let share = |n: usize, of: usize| n as f64 / of as f64;
        let upright = letter_pages.iter().filter(|s| s.rotation == 0).count();
        assert!((share(upright, letter_pages.len()) - 0.76).abs() < 0.02);
        for turn in [90, 180, 270] {
            let n = letter_pages.iter().filter(|s| s.rotation == turn).count();
            assert!(
                (share(n, letter_pages.len()) - 0.08).abs() < 0.015,
                "{turn}"
            );
        }
        let almost_blank = sheets
            .iter()
            .flat_map(|s| [Some(s.front), s.back])
            .filter(|s| matches!(s, Some(Side::AlmostBlank(_))))
            .count();
        let almost_share = almost_blank as f64 / pages;
        assert!((0.06..0.11).contains(&almost_share), "{almost_share}");
        let holed = sheets.iter().filter(|s| s.punch_holes).count();
        assert!((0.1..0.22).contains(&share(holed, sheets.len())));
        let edged = sheets
            .iter()
            .map(|s| usize::from(s.front_edges) + usize::from(s.back_edges))
            .sum::<usize>();
        assert!((0.12..0.18).contains(&(edged as f64 / pages)));
    }

    /// One generated batch of about 30 pages, shared by the tests that only read it.
    fn batch_30() -> &'static (tempfile::TempDir, Truth) {
        static BATCH: std::sync::OnceLock<(tempfile::TempDir, Truth)> = std::sync::OnceLock::new();
        BATCH.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let spec = GenerateSpec {
                seed: 3,
                pages: 30,
                stream: false,
            };
            let truth = generate(&spec, dir.path()).unwrap();
            (dir, truth)
        })
    }

    #[test]
    fn a_batch_of_30_pages_shows_every_case() {
        let (_, truth) = batch_30();
        let pages = &truth.pages;
        let letters: Vec<&TruthPage> = pages
            .iter()
            .filter(|p| p.kind == PageKind::Letter)
            .collect();
        for rotation in [0, 90, 180, 270] {
            assert!(
                letters.iter().any(|p| p.rotation == rotation),
                "no letter page at {rotation}"
            );
        }
        let blank_backs: Vec<&TruthPage> = pages
            .iter()
            .filter(|p| p.kind == PageKind::BlankBack)
            .collect();
        assert!(!blank_backs.is_empty());
        assert!(blank_backs.iter().any(|p| p.black_edges));
        assert!(blank_backs.iter().any(|p| p.punch_holes));
        assert!(letters.iter().any(|p| p.black_edges));
        assert!(letters.iter().any(|p| p.punch_holes));
        let almost: Vec<&TruthPage> = pages
            .iter()
            .filter(|p| p.kind == PageKind::AlmostBlank)
            .collect();
        assert!(almost.len() >= 2, "{} almost blank pages", almost.len());
        let first = letters[0];
        assert!(first.rotation == 0 && first.skew_deg.abs() < 2.0);
        assert!(!first.black_edges && !first.punch_holes);
        for page in pages {
            assert_eq!(page.blank, page.kind == PageKind::BlankBack);
            assert_eq!(page.text.is_empty(), page.blank);
            assert!(page.skew_deg.abs() <= 5.0);
            if page.kind == PageKind::AlmostBlank {
                assert!(page.skew_deg.abs() <= 2.0);
            }
        }
        // Every almost blank page belongs to a letter with other pages.
        for doc in &truth.documents {
            assert!(doc.pages.iter().any(|&i| pages[i].kind == PageKind::Letter));
        }
    }

    #[test]
    fn page_frames_match_their_rotation() {
        let (dir, truth) = batch_30();
        let mut info = BTreeMap::new();
        for page in &truth.pages {
            let frames = info
                .entry(page.file.clone())
                .or_insert_with(|| frame_info(&dir.path().join(&page.file)));
            let (w, h, _) = frames[page.frame as usize];
            assert_eq!(
                (w, h),
                expected_dimensions(page.rotation),
                "{} frame {} at {}",
                page.file,
                page.frame,
                page.rotation
            );
        }
    }

    #[test]
    fn black_edges_in_the_truth_are_dark_borders_in_the_files() {
        let (dir, truth) = batch_30();
        let mut checked = 0;
        for page in &truth.pages {
            let image = decode_frame(&dir.path().join(&page.file), page.frame);
            let (w, h) = image.dimensions();
            let mean = |pixels: Vec<u8>| {
                pixels.iter().map(|&v| f64::from(v)).sum::<f64>() / pixels.len() as f64
            };
            let sides = [
                mean((0..w).map(|x| image.get_pixel(x, 0).0[0]).collect()),
                mean((0..w).map(|x| image.get_pixel(x, h - 1).0[0]).collect()),
                mean((0..h).map(|y| image.get_pixel(0, y).0[0]).collect()),
                mean((0..h).map(|y| image.get_pixel(w - 1, y).0[0]).collect()),
            ];
            let dark_sides = sides.iter().filter(|&&m| m < 80.0).count();
            if page.black_edges {
                assert!(
                    dark_sides >= 1,
                    "{} frame {}: {sides:?}",
                    page.file,
                    page.frame
                );
                checked += 1;
            } else {
                assert!(
                    sides.iter().all(|&m| m > 150.0),
                    "{} frame {} has a dark border: {sides:?}",
                    page.file,
                    page.frame
                );
            }
        }
        assert!(checked > 0);
    }

    // --- Stream batches -----------------------------------------------------------------

    /// One generated stream batch of about 60 pages, shared by the tests that only read it.
    fn stream_60() -> &'static (tempfile::TempDir, Truth) {
        static BATCH: std::sync::OnceLock<(tempfile::TempDir, Truth)> = std::sync::OnceLock::new();
        BATCH.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let spec = GenerateSpec {
                seed: 5,
                pages: 60,
                stream: true,
            };
            let truth = generate(&spec, dir.path()).unwrap();
            (dir, truth)
        })
    }

    /// The separator barcode pattern of `profiles/stream.toml`, as a whole-text match.
    fn separator_pattern() -> regex::Regex {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/stream.toml");
        let profile: toml::Value = toml::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        let pattern = profile["separation"]["barcodes"][0]["pattern"]
            .as_str()
            .unwrap();
        regex::Regex::new(&format!("^(?:{pattern})$")).unwrap()
    }

    /// Pages with content of a document (blank backs not counted).
    fn content_pages(truth: &Truth, doc: &TruthDocument) -> u32 {
        doc.pages
            .iter()
            .filter(|&&i| truth.pages[i].kind != PageKind::BlankBack)
            .count() as u32
    }

    #[test]
    fn same_seed_gives_identical_stream_batch_matching_its_truth() {
        let spec = GenerateSpec {
            seed: 7,
            pages: 14,
            stream: true,
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let truth = generate(&spec, a.path()).unwrap();
        assert_eq!(generate(&spec, b.path()).unwrap(), truth);
        assert_eq!(Truth::load(&a.path().join(TRUTH_FILE)).unwrap(), truth);
        let mut names: Vec<String> = fs::read_dir(a.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected = Vec::new();
        for name in names.iter().filter(|n| n.as_str() != TRUTH_FILE) {
            assert!(
                name.starts_with("scan_") && is_generated_file_name(name),
                "{name}"
            );
            let (left, right) = (
                fs::read(a.path().join(name)).unwrap(),
                fs::read(b.path().join(name)).unwrap(),
            );
            assert!(left == right, "{name} differs between runs");
            let frames = frame_info(&a.path().join(name));
            assert!(
                (1..=8).contains(&frames.len()),
                "{name}: {} pages",
                frames.len()
            );
            if !name.ends_with(".tif") {
                assert_eq!(frames.len(), 1, "{name}");
            }
            for (frame, &(w, h, dpi)) in frames.iter().enumerate() {
                assert_eq!(dpi, 300, "{name}");
                let page = truth.page(name, frame as u32).unwrap();
                assert_eq!((w, h), expected_dimensions(page.rotation), "{name} {frame}");
            }
            expected.extend((0..frames.len() as u32).map(|frame| (name.clone(), frame)));
        }
        // truth.pages is the stream: every frame of every file, in name then frame order.
        let actual: Vec<(String, u32)> = truth
            .pages
            .iter()
            .map(|p| (p.file.clone(), p.frame))
            .collect();
        assert_eq!(actual, expected);
        assert!(truth.pages.len() >= spec.pages);
        // A later, smaller batch into the same folder leaves no stale scan files.
        let smaller = GenerateSpec {
            pages: 3,
            ..spec.clone()
        };
        let truth = generate(&smaller, a.path()).unwrap();
        let files: std::collections::BTreeSet<String> =
            truth.pages.iter().map(|p| p.file.clone()).collect();
        let left = fs::read_dir(a.path()).unwrap().count();
        assert_eq!(left, files.len() + 1);
    }

    #[test]
    fn a_stream_batch_of_60_pages_shows_every_case() {
        let (_, truth) = stream_60();
        let pages = &truth.pages;
        for kind in [
            PageKind::CoverSheet,
            PageKind::PatchSheet,
            PageKind::SeparatorSheet,
            PageKind::Letter,
            PageKind::BlankBack,
        ] {
            assert!(pages.iter().any(|p| p.kind == kind), "no {kind:?}");
        }
        for patch in PatchType::ALL {
            assert!(
                pages
                    .iter()
                    .any(|p| p.kind == PageKind::PatchSheet && p.patch == Some(patch)),
                "no patch sheet with {patch:?}"
            );
        }
        let on_letters: std::collections::BTreeSet<&str> = pages
            .iter()
            .filter(|p| p.kind == PageKind::Letter)
            .flat_map(|p| p.barcodes.iter().map(|b| b.format.as_str()))
            .collect();
        for format in [
            "Code128",
            "Code39",
            "QRCode",
            "DataMatrix",
            "ITF",
            "PDF417",
            "EAN13",
        ] {
            assert!(on_letters.contains(format), "no {format} on a letter page");
        }
        let separator_codes: Vec<&str> = pages
            .iter()
            .filter(|p| p.kind == PageKind::SeparatorSheet)
            .flat_map(|p| p.barcodes.iter().map(|b| b.format.as_str()))
            .collect();
        assert!(separator_codes.contains(&"Code39") && separator_codes.contains(&"Code128"));
        // Separator sheets: upright or upside down (both seen), under 3 degrees of skew,
        // some with a blank back.
        let fronts: Vec<&TruthPage> = pages.iter().filter(|p| p.kind.is_separator()).collect();
        assert!(fronts.iter().all(|p| [0, 180].contains(&p.rotation)));
        assert!(fronts.iter().all(|p| p.skew_deg.abs() <= 3.0));
        assert!(fronts.iter().any(|p| p.rotation == 180));
        assert!(truth.documents.iter().any(|d| d.separators.len() == 2));
        // Cover sheets with right and with wrong page counts, never 0.
        let counts: Vec<(u32, u32)> = truth
            .documents
            .iter()
            .filter_map(|d| {
                let printed = d.cover.as_ref()?.pages?;
                Some((printed, content_pages(truth, d)))
            })
            .collect();
        assert!(counts.iter().all(|&(printed, _)| printed > 0));
        assert!(counts.iter().any(|(printed, real)| printed == real));
        assert!(counts.iter().any(|(printed, real)| printed != real));
        // Files do not follow documents: some file holds pages of two documents, and
        // there are single-page files and multi-page TIFFs.
        let owner: BTreeMap<usize, usize> = truth
            .documents
            .iter()
            .enumerate()
            .flat_map(|(d, doc)| {
                doc.separators
                    .iter()
                    .chain(&doc.pages)
                    .map(move |&i| (i, d))
            })
            .collect();
        let mut per_file: BTreeMap<&str, std::collections::BTreeSet<usize>> = BTreeMap::new();
        for (i, page) in pages.iter().enumerate() {
            per_file.entry(&page.file).or_default().insert(owner[&i]);
        }
        assert!(per_file.values().any(|docs| docs.len() >= 2));
        assert!(per_file.keys().any(|f| f.ends_with(".jpg")));
        assert!(pages
            .iter()
            .any(|p| p.file.ends_with(".tif") && p.frame >= 2));
    }

    #[test]
    fn every_stream_page_belongs_to_one_document_or_its_separators() {
        let (_, truth) = stream_60();
        let mut seen = vec![0; truth.pages.len()];
        let mut next = 0;
        for doc in &truth.documents {
            // Separators directly in front of the letter, then its pages, in stream order.
            let all: Vec<usize> = doc.separators.iter().chain(&doc.pages).copied().collect();
            assert_eq!(all, (next..next + all.len()).collect::<Vec<_>>());
            next += all.len();
            for &i in &all {
                seen[i] += 1;
            }
            assert!(doc
                .pages
                .iter()
                .all(|&i| !truth.pages[i].kind.is_separator()));
            assert!(doc
                .pages
                .iter()
                .any(|&i| truth.pages[i].kind == PageKind::Letter));
            if let Some((&front, backs)) = doc.separators.split_first() {
                let front = &truth.pages[front];
                assert!(front.kind.is_separator(), "{front:?}");
                assert!(backs.len() <= 1);
                for &back in backs {
                    let back = &truth.pages[back];
                    assert!(back.kind == PageKind::BlankBack && back.blank);
                    assert_eq!(back.rotation, front.rotation);
                }
                assert_eq!(front.kind == PageKind::CoverSheet, doc.cover.is_some());
            } else {
                assert!(doc.cover.is_none());
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
        // Only the first letter may come without a separator sheet.
        assert!(truth.documents[1..]
            .iter()
            .all(|d| !d.separators.is_empty()));
    }

    #[test]
    fn stream_barcodes_are_separators_exactly_on_separator_sheets() {
        let (_, truth) = stream_60();
        let separator = separator_pattern();
        let unanchored = regex::Regex::new(
            separator
                .as_str()
                .trim_start_matches('^')
                .trim_end_matches('$'),
        )
        .unwrap();
        for (i, page) in truth.pages.iter().enumerate() {
            match page.kind {
                PageKind::SeparatorSheet => {
                    assert_eq!(page.barcodes.len(), 1);
                    assert!(separator.is_match(&page.barcodes[0].text), "{page:?}");
                    assert_eq!(page.patch, None);
                }
                PageKind::CoverSheet => {
                    assert_eq!(page.barcodes.len(), 1);
                    assert_eq!(page.barcodes[0].format, "QRCode");
                    assert_eq!(page.patch, Some(PatchType::Patch2));
                    let sheet = CoverSheet::parse(&page.barcodes[0].text).unwrap().unwrap();
                    let doc = truth
                        .documents
                        .iter()
                        .find(|d| d.separators.first() == Some(&i))
                        .unwrap();
                    let cover = doc.cover.as_ref().unwrap();
                    assert_eq!(
                        (&sheet.unit, &sheet.case, sheet.pages),
                        (&cover.unit, &cover.case, cover.pages)
                    );
                    assert_eq!(sheet.unit, doc.unit);
                    assert!(page.text.contains(&sheet.unit));
                }
                PageKind::PatchSheet => {
                    assert!(page.barcodes.is_empty() && page.patch.is_some());
                }
                _ => {
                    assert_eq!(page.patch, None);
                    for barcode in &page.barcodes {
                        assert!(!unanchored.is_match(&barcode.text), "{barcode:?}");
                        assert!(!barcode.text.starts_with(coversheet::PREFIX));
                    }
                }
            }
        }
    }

    /// The separator and cover sheets' symbols can be read straight from the files, as
    /// scanned (skewed, maybe upside down, G4 or JPEG).
    #[test]
    fn stream_separator_symbols_read_back_from_the_files() {
        let (dir, truth) = stream_60();
        let mut checked = 0;
        for page in truth
            .pages
            .iter()
            .filter(|p| matches!(p.kind, PageKind::SeparatorSheet | PageKind::CoverSheet))
        {
            let image = decode_frame(&dir.path().join(&page.file), page.frame);
            let found = crate::barcode::read(&image).unwrap();
            for barcode in &page.barcodes {
                assert!(
                    found
                        .iter()
                        .any(|f| f.format == barcode.format && f.text == barcode.text),
                    "{} frame {}: {barcode:?} not read, found {found:?}",
                    page.file,
                    page.frame
                );
            }
            checked += 1;
        }
        assert!(checked >= 3);
    }

    /// The planner alone, over many seeds: every batch of 13 letters has all three
    /// separator kinds, all six patch codes on patch sheets, both separator barcodes, a
    /// duplex sheet, an upside-down patch sheet of each swapping pair (1/6, 3/T) and cover
    /// sheets with a right and a wrong page count. Over a long run the shares hold.
    #[test]
    fn stream_planner_shows_every_separator_case_within_13_letters() {
        let mut without_first = 0;
        for seed in 0..500 {
            let mut rng = Rng::new(seed);
            let mut planner = StreamPlanner::new(&mut rng);
            let plans: Vec<Option<SeparatorPlan>> =
                (0..13).map(|_| planner.separator(&mut rng)).collect();
            without_first += usize::from(plans[0].is_none());
            assert!(plans[1..].iter().all(Option::is_some), "seed {seed}");
            let plans: Vec<&SeparatorPlan> = plans.iter().flatten().collect();
            for patch in PatchType::ALL {
                assert!(
                    plans.iter().any(|p| p.kind == SeparatorKind::Patch(patch)),
                    "seed {seed}: no {patch:?}"
                );
            }
            for code in [SeparatorCode::Code39PatchT, SeparatorCode::Code128Numbered] {
                assert!(
                    plans.iter().any(|p| p.kind == SeparatorKind::Barcode(code)),
                    "seed {seed}: no {code:?}"
                );
            }
            let covers: Vec<CoverChoice> = plans
                .iter()
                .filter_map(|p| match p.kind {
                    SeparatorKind::Cover(c) => Some(c),
                    _ => None,
                })
                .collect();
            assert!(covers.len() >= 4, "seed {seed}");
            assert!(
                covers.iter().filter(|c| c.pages).count() >= 2,
                "seed {seed}"
            );
            assert!(covers.iter().any(|c| c.wrong_pages), "seed {seed}");
            assert!(covers.iter().all(|c| c.pages || !c.wrong_pages));
            assert!(plans.iter().any(|p| p.duplex), "seed {seed}");
            for pair in [
                [PatchType::Patch1, PatchType::Patch6],
                [PatchType::Patch3, PatchType::PatchT],
            ] {
                assert!(
                    plans.iter().any(|p| p.rotation == 180
                        && pair.iter().any(|&t| p.kind == SeparatorKind::Patch(t))),
                    "seed {seed}: no upside-down {pair:?}"
                );
            }
            assert!(plans.iter().all(|p| [0, 180].contains(&p.rotation)));
        }
        assert!((200..300).contains(&without_first), "{without_first}");

        let mut rng = Rng::new(1);
        let mut planner = StreamPlanner::new(&mut rng);
        let plans: Vec<SeparatorPlan> = (0..20_000)
            .filter_map(|_| planner.separator(&mut rng))
            .collect();
        let share = |test: &dyn Fn(&SeparatorPlan) -> bool| {
            plans.iter().filter(|p| test(p)).count() as f64 / plans.len() as f64
        };
        let cover = share(&|p| matches!(p.kind, SeparatorKind::Cover(_)));
        let patch = share(&|p| matches!(p.kind, SeparatorKind::Patch(_)));
        assert!((cover - 0.4).abs() < 0.02 && (patch - 0.35).abs() < 0.02);
        assert!((share(&|p| p.duplex) - 0.3).abs() < 0.02);
        assert!((share(&|p| p.rotation == 180) - 0.15).abs() < 0.02);
    }

    #[test]
    fn unrelated_barcode_values_are_valid_and_never_separators() {
        let fonts = load_fonts().unwrap();
        let mut rng = Rng::new(21);
        let letter = compose_letter(
            &mut rng,
            &mut Rng::new(0),
            &fonts.families,
            1,
            RoutingCase::Addressed,
        )
        .unwrap();
        let separator = separator_pattern();
        let unanchored = regex::Regex::new(
            separator
                .as_str()
                .trim_start_matches('^')
                .trim_end_matches('$'),
        )
        .unwrap();
        for symbology in SYMBOLOGIES {
            for round in 0..300 {
                let value = symbology.value(&mut rng, &letter);
                assert!(!unanchored.is_match(&value), "{symbology:?}: {value:?}");
                assert!(!value.starts_with(coversheet::PREFIX));
                assert!(value.is_ascii());
                match symbology {
                    Symbology::Ean13 | Symbology::Itf14 => {
                        let n = if symbology == Symbology::Ean13 {
                            13
                        } else {
                            14
                        };
                        assert_eq!(value.len(), n, "{value}");
                        assert!(value.bytes().all(|b| b.is_ascii_digit()));
                        let (body, check) = value.split_at(n - 1);
                        assert_eq!(gs1_check_digit(body).to_string(), check);
                    }
                    Symbology::Parcel => {
                        assert!(value.starts_with("JJD00") && value.len() == 20);
                    }
                    Symbology::Franking => assert!((20..=40).contains(&value.len()), "{value}"),
                    Symbology::Reference => assert!(value
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')),
                    Symbology::GiroCode => {
                        let lines: Vec<&str> = value.split('\n').collect();
                        assert_eq!(lines[..4], ["BCD", "002", "1", "SCT"]);
                        let iban = lines[6];
                        let moved = format!("{}{}", &iban[4..], &iban[..4]);
                        let digits: String = moved
                            .chars()
                            .map(|c| c.to_digit(36).unwrap().to_string())
                            .collect();
                        let remainder = digits
                            .bytes()
                            .fold(0u64, |r, b| (r * 10 + u64::from(b - b'0')) % 97);
                        assert_eq!(remainder, 1, "{iban}");
                        assert!(lines[7].starts_with("EUR"));
                    }
                    Symbology::Pdf417 => assert!(value.len() <= 60),
                }
                // Each symbology renders and reads back, also turned and faint.
                if round < 2 {
                    let symbol = symbology
                        .render(&mut rng, &value, round == 1, round == 1)
                        .unwrap();
                    let found = crate::barcode::read(&symbol).unwrap();
                    assert!(
                        found
                            .iter()
                            .any(|b| b.text == value
                                && b.format == format!("{:?}", symbology.format())),
                        "{symbology:?} {value:?}: {found:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn patch_sheets_keep_white_around_the_bars_and_decode() {
        let fonts = load_fonts().unwrap();
        let mut rng = Rng::new(4);
        for kind in PatchType::ALL {
            let (page, text) = draw_patch_sheet(kind, &fonts.families[1], &mut rng);
            assert!(text.starts_with("Trennblatt\nPatch "), "{text}");
            assert!((4..=5).contains(&text.lines().count()));
            // Rows of ink: the bars, then at least 6 mm of white, then the label.
            let inked: Vec<u32> = (0..PAGE_H)
                .filter(|&y| (0..PAGE_W).any(|x| page.get_pixel(x, y).0[0] < 200))
                .collect();
            let bars_end = inked
                .windows(2)
                .find(|w| w[1] > w[0] + 1 + mm(2.5) as u32)
                .map(|w| w[0])
                .unwrap();
            let label_start = inked.iter().copied().find(|&y| y > bars_end).unwrap();
            assert!(bars_end < mm(36.0) as u32);
            assert!(label_start - bars_end >= mm(6.0) as u32);
            let dark = crate::leptonica::Pix::binary_from_gray(&page, 128).unwrap();
            let found = crate::patch::find(&dark, DPI as f32, 1).map(|p| p.kind);
            assert_eq!(found, Some(kind));
        }
    }

    #[test]
    fn cover_sheet_text_and_image_are_what_the_pdf_prints() {
        let sheet = CoverSheet {
            unit: "0140".into(),
            unit_name: Some("Referat 0140 Rechnungsprüfungsamt".into()),
            case: Some("0140.2-0815/2026".into()),
            pages: Some(3),
            other: Default::default(),
        };
        let pdf = coversheet::pdf(&sheet).unwrap();
        let text = pdf_text_lines(&pdf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Patch 2 - neues Dokument");
        for line in [
            "Deckblatt Posteingang",
            "0140",
            "Referat 0140 Rechnungsprüfungsamt",
            "0140.2-0815/2026",
            "3",
        ] {
            assert!(lines.contains(&line), "{line:?} missing in {lines:?}");
        }
        assert!(lines.last().unwrap().starts_with("mailroom "));
        // The payload is printed under the QR code in lines of 40 characters.
        let payload = sheet.payload();
        let start = lines
            .iter()
            .position(|l| l.starts_with(coversheet::PREFIX))
            .unwrap();
        let printed: String = lines[start..]
            .iter()
            .take_while(|l| !l.starts_with("Vor das"))
            .map(|l| format!("{l:<40}"))
            .collect();
        assert_eq!(printed.trim_end(), payload);

        let image = rasterise_pdf(&pdf).unwrap();
        assert_eq!(image.dimensions(), (PAGE_W, PAGE_H));
        // The first patch bar (20 mm from the left, 12-17 mm from the top) is black.
        assert!(image.get_pixel(mm(40.0) as u32, mm(14.0) as u32).0[0] < 50);
        let found = crate::barcode::read(&image).unwrap();
        assert!(found
            .iter()
            .any(|b| b.format == "QRCode" && b.text == payload));
    }

    // --- Routing cases ------------------------------------------------------------------

    /// The letters of a classic batch as `generate` composes and plans them (the same
    /// random streams), with their frame counts, but without scanning: fast enough for
    /// hundreds of pages.
    fn planned_letters(seed: u64, pages: usize) -> Vec<(Letter, usize)> {
        let fonts = load_fonts().unwrap();
        let mut rng = Rng::new(seed);
        let mut routing_rng = routing_stream(seed);
        let mut planner = BatchPlanner::default();
        let mut letters = Vec::new();
        let mut frames = 0;
        while frames < pages {
            let (letter, plan, _) =
                next_letter(&mut rng, &mut routing_rng, &mut planner, &fonts).unwrap();
            let count: usize = plan
                .sheets
                .iter()
                .map(|s| 1 + usize::from(s.back.is_some()))
                .sum();
            frames += count;
            letters.push((letter, count));
        }
        letters
    }

    /// The units whose topic sentences or subjects (their text up to the first slot, if
    /// at least 20 characters long) occur in `text`.
    fn topic_units_in(text: &str) -> std::collections::BTreeSet<&'static str> {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        TOPICS
            .iter()
            .filter(|topic| {
                topic
                    .sentences
                    .iter()
                    .chain([&topic.subject])
                    .any(|template| {
                        let fixed = template.split('{').next().unwrap_or_default().trim();
                        fixed.chars().count() >= 20 && flat.contains(fixed)
                    })
            })
            .map(|topic| topic.unit)
            .collect()
    }

    /// A line of an address field that names an organisation unit.
    fn names_a_unit(line: &str) -> bool {
        UNITS.iter().any(|(code, name)| {
            line.contains(name) || line.split_whitespace().any(|word| word == *code)
        }) || ["Fachbereich", "Abteilung", "Referat"]
            .iter()
            .any(|w| line.contains(w))
    }

    /// The address field lines of a letter's first page text: from the line after the
    /// return line (the first line with " · " and a postcode) to the town line.
    fn address_field_of(first_page: &str) -> Vec<&str> {
        let lines: Vec<&str> = first_page.lines().collect();
        let return_line = lines
            .iter()
            .position(|l| l.matches(" · ").count() >= 2 && !l.starts_with("Telefon"))
            .expect("no return line");
        let rest = &lines[return_line + 1..];
        let end = rest
            .iter()
            .position(|l| *l == "38100 Braunschweig" || *l == "38023 Braunschweig")
            .expect("no town line");
        rest[..=end].to_vec()
    }

    fn file_number_pattern() -> regex::Regex {
        regex::Regex::new(r"\.\d-\d{2,3}/2026\b").unwrap()
    }

    #[test]
    fn routing_planner_shows_every_case_early_and_keeps_the_shares() {
        for seed in 0..300 {
            let mut rng = Rng::new(seed);
            let mut planner = BatchPlanner::default();
            let cases: Vec<RoutingCase> = (0..8)
                .map(|_| {
                    let sheets = planner.sheets(&mut rng);
                    let case = planner.routing_case(&mut rng);
                    planner.plan(&mut rng, sheets);
                    case
                })
                .collect();
            assert_eq!(cases[0], RoutingCase::Addressed, "seed {seed}");
            for case in ROUTING_CASES {
                assert!(
                    cases.contains(&case),
                    "seed {seed}: no {case:?} in {cases:?}"
                );
            }
        }
        let mut rng = Rng::new(1);
        let mut planner = BatchPlanner::default();
        let n = 20_000;
        for _ in 0..n {
            let sheets = planner.sheets(&mut rng);
            planner.routing_case(&mut rng);
            planner.plan(&mut rng, sheets);
        }
        for (case, count) in ROUTING_CASES.iter().zip(planner.cases) {
            let share = count as f64 / n as f64;
            assert!((share - case.share()).abs() < 0.012, "{case:?}: {share}");
        }
    }

    /// Over a 200-page batch every case occurs at about its share, and every letter's
    /// address field, subject and body are what its case promises.
    #[test]
    fn a_200_page_batch_shows_every_routing_case_as_promised() {
        let letters = planned_letters(7, 200);
        let again = planned_letters(7, 200);
        let pages: usize = letters.iter().map(|(_, frames)| frames).sum();
        assert!((200..209).contains(&pages));
        let count = |case: RoutingCase| letters.iter().filter(|(l, _)| l.case == case).count();
        let share = |case: RoutingCase| count(case) as f64 / letters.len() as f64;
        for case in ROUTING_CASES {
            assert!(count(case) >= 2, "{case:?}: {}", count(case));
        }
        assert!((0.45..0.75).contains(&share(RoutingCase::Addressed)));
        // Seed 7 happens to be low on body_only letters (6 of 91, expected about 13).
        assert!((0.05..0.25).contains(&share(RoutingCase::BodyOnly)));
        for case in [
            RoutingCase::ConfidentialMarked,
            RoutingCase::ConfidentialPerson,
        ] {
            assert!((0.03..0.15).contains(&share(case)), "{case:?}");
        }
        for case in [RoutingCase::Ambiguous, RoutingCase::NoTopic] {
            assert!(share(case) < 0.12, "{case:?}");
        }

        let file_number = file_number_pattern();
        let mut persoenlich_in_body = false;
        for ((letter, _), (twin, _)) in letters.iter().zip(&again) {
            // Same seed, same letters.
            assert_eq!(
                (
                    letter.case,
                    &letter.subject,
                    &letter.address,
                    letter.unit_code
                ),
                (twin.case, &twin.subject, &twin.address, twin.unit_code)
            );
            let first = letter.pages[0].text();
            let text: Vec<String> = letter.pages.iter().map(PageLayout::text).collect();
            let text = text.join("\n");
            let field = address_field_of(&first);
            assert_eq!(field, letter.address, "{first}");
            let authority = field
                .iter()
                .position(|l| *l == "Stadt Braunschweig")
                .expect("no authority");
            let unit_lines = &field[authority + 1..field.len() - 2];
            let context = format!("{:?}: {field:?}", letter.case);
            match letter.case {
                RoutingCase::ConfidentialMarked => {
                    assert_eq!(authority, 1, "{context}");
                    assert!(CONFIDENTIAL_MARKS.contains(&field[0]), "{context}");
                }
                RoutingCase::ConfidentialPerson => {
                    assert_eq!(authority, 1, "{context}");
                    assert!(
                        field[0].starts_with("Herrn ") || field[0].starts_with("Frau "),
                        "{context}"
                    );
                }
                _ => assert_eq!(authority, 0, "{context}"),
            }
            assert!(
                !field.iter().any(|l| l.contains("z. Hd."))
                    || matches!(
                        letter.case,
                        RoutingCase::Addressed | RoutingCase::ConfidentialMarked
                    ),
                "{context}"
            );
            if letter.case.unit_in_address() {
                // The unit's name, maybe wrapped, then maybe "z. Hd.".
                let name: Vec<&str> = unit_lines
                    .iter()
                    .copied()
                    .filter(|l| !l.starts_with("z. Hd. "))
                    .collect();
                assert_eq!(name.join(" "), letter.unit_name, "{context}");
            } else {
                assert!(!field.iter().any(|l| names_a_unit(l)), "{context}");
                assert!(unit_lines.len() <= 1, "{context}");
            }
            // No mark anywhere else in the address field.
            let marks = field
                .iter()
                .filter(|l| CONFIDENTIAL_MARKS.contains(l))
                .count();
            assert_eq!(
                marks,
                usize::from(letter.case == RoutingCase::ConfidentialMarked)
            );

            let units = topic_units_in(&text);
            match letter.case {
                RoutingCase::NoTopic => assert!(units.is_empty(), "{units:?} in {text}"),
                RoutingCase::Ambiguous => {
                    assert_eq!(units.len(), 2, "{units:?} in {text}");
                    assert!(units.contains(letter.unit_code));
                    assert_eq!(topic_units_in(&letter.subject), units);
                }
                _ => assert_eq!(
                    units.into_iter().collect::<Vec<_>>(),
                    vec![letter.unit_code],
                    "{text}"
                ),
            }
            if letter.case.unit_hidden() {
                assert!(!file_number.is_match(&text), "{text}");
            }
            if !letter.case.confidential() && text.to_lowercase().contains("persönlich") {
                persoenlich_in_body = true;
            }
        }
        assert!(
            persoenlich_in_body,
            "no ordinary letter says \"persönlich\""
        );
    }

    #[test]
    fn planned_letters_are_the_letters_generate_writes() {
        let (_, truth) = batch_30();
        let letters = planned_letters(3, 30);
        let planned: Vec<(String, &str)> = letters
            .iter()
            .map(|(l, _)| (l.subject.clone(), l.case.name()))
            .collect();
        let written: Vec<(String, &str)> = truth
            .documents
            .iter()
            .map(|d| (d.subject.clone(), d.routing_case.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(planned, written);
    }

    /// The truth of a written batch: every document has its route and case, and the
    /// first page's text shows the address field the case promises.
    #[test]
    fn truth_records_route_and_case_and_the_address_field_shows_them() {
        let (_, truth) = batch_30();
        let mut seen = std::collections::BTreeSet::new();
        for doc in &truth.documents {
            let case = doc.routing_case.as_deref().expect("no routing case");
            let route = doc.route.as_ref().expect("no route");
            seen.insert(case);
            let first = &truth.pages[doc.pages[0]];
            assert_eq!(first.kind, PageKind::Letter);
            let field = address_field_of(&first.text);
            let authority = field
                .iter()
                .position(|l| *l == "Stadt Braunschweig")
                .unwrap();
            let unit = ExpectedRoute::Unit {
                unit: doc.unit.clone(),
            };
            match case {
                "addressed" | "body_only" => assert_eq!(route, &unit),
                "ambiguous" | "no_topic" => assert_eq!(route, &ExpectedRoute::Clarification),
                "confidential_marked" | "confidential_person" => {
                    assert_eq!(route, &ExpectedRoute::Unopened)
                }
                other => panic!("unknown case {other}"),
            }
            match case {
                "confidential_marked" => {
                    assert_eq!(authority, 1);
                    assert!(CONFIDENTIAL_MARKS.contains(&field[0]), "{field:?}");
                    assert!(first.text.contains(field[0]));
                }
                "confidential_person" => {
                    assert_eq!(authority, 1);
                    assert!(field[0].starts_with("Herrn ") || field[0].starts_with("Frau "));
                }
                "addressed" => {
                    assert_eq!(authority, 0);
                    assert!(field[1].starts_with(doc.unit_name.split(' ').next().unwrap()));
                    assert!(field.join(" ").contains(&format!(" {} ", doc.unit)));
                }
                _ => {
                    assert_eq!(authority, 0);
                    assert!(!field.iter().any(|l| names_a_unit(l)), "{field:?}");
                    assert!(!field.iter().any(|l| l.contains("z. Hd.")));
                }
            }
        }
        assert_eq!(seen.len(), 6, "{seen:?}");
    }

    #[test]
    fn stream_routes_follow_the_case_and_the_cover_sheet() {
        let (_, truth) = stream_60();
        let mut seen = std::collections::BTreeSet::new();
        for doc in &truth.documents {
            let case = doc.routing_case.as_deref().expect("no routing case");
            seen.insert(case);
            let route = doc.route.clone().expect("no route");
            let confidential = case.starts_with("confidential");
            if confidential {
                assert!(
                    doc.cover.is_none(),
                    "cover sheet in front of confidential mail"
                );
                assert_eq!(route, ExpectedRoute::Unopened);
                continue;
            }
            if let Some(cover) = &doc.cover {
                assert_eq!(cover.unit, doc.unit);
            }
            let expected = match (case, &doc.cover) {
                ("ambiguous" | "no_topic", None) => ExpectedRoute::Clarification,
                _ => ExpectedRoute::Unit {
                    unit: doc.unit.clone(),
                },
            };
            assert_eq!(route, expected, "{case}");
        }
        assert!(seen.len() >= 5, "{seen:?}");
    }

    /// A confidential letter never gets a cover sheet; the opening set stays complete.
    #[test]
    fn stream_planner_puts_no_cover_sheet_in_front_of_confidential_mail() {
        for seed in 0..500 {
            let mut rng = Rng::new(seed);
            let mut planner = StreamPlanner::new(&mut rng);
            let mut covers = 0;
            for _ in 0..25 {
                let allowed = !rng.chance(0.16);
                let plan = planner.separator_for(&mut rng, allowed);
                if let Some(SeparatorKind::Cover(_)) = plan.map(|p| p.kind) {
                    assert!(allowed, "seed {seed}");
                    covers += 1;
                }
            }
            assert!(covers >= 4, "seed {seed}: {covers} cover sheets");
        }
        // All cover sheets of the opening set refused: they wait behind added patch sheets.
        let mut rng = Rng::new(3);
        let mut planner = StreamPlanner::new(&mut rng);
        let refused: Vec<SeparatorPlan> = (0..12)
            .filter_map(|_| planner.separator_for(&mut rng, false))
            .collect();
        assert!(refused
            .iter()
            .all(|p| !matches!(p.kind, SeparatorKind::Cover(_))));
        let then: Vec<SeparatorPlan> = (0..4)
            .filter_map(|_| planner.separator_for(&mut rng, true))
            .collect();
        assert!(then
            .iter()
            .all(|p| matches!(p.kind, SeparatorKind::Cover(_))));
    }
}

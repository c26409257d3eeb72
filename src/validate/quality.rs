//! Per-page image quality of a delivery: the contractor's scan is judged as delivered,
//! never changed.
//!
//! - [`resolution`] runs on every page of the lot (it needs only the header): the
//!   resolution from the file's metadata, or, without metadata, the resolution the pixel
//!   size gives on an A4 (or A3) sheet.
//! - [`inspect`] runs on the ISO 2859-1 sample: skew, orientation, blank pages, dark
//!   borders or content cut off at an edge, and OCR legibility. It measures with the
//!   cleanup's own functions (the same reduced analysis copy at about 150 dpi, the same
//!   ink mask, blank detector, edge detector, skew search and orientation logic), so a page
//!   the pipeline would straighten or turn is exactly a page found skewed or turned here.
//!
//! Decisions that cannot be made with confidence make no finding: a skew Leptonica is not
//! sure of, an orientation neither Leptonica nor Tesseract is sure of, the legibility of a
//! page with too few words. Pages with little ink (a stamp, a short note: below the
//! cleanup's 0.5 % of the page centre) are judged for blankness and borders only.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, GrayImage, ImageEncoder};
use serde::{Deserialize, Serialize};

use super::{Finding, FindingKind, PageRef};
use crate::cleanup::{self, blank, border};
use crate::leptonica::Pix;
use crate::model::Pixels;
use crate::ocr::Engine;

/// The `[validate]` section of a profile: what the contract asks of every page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualitySettings {
    /// Lowest acceptable resolution, in dpi (the lower of the two directions counts).
    pub min_dpi: u32,
    /// Largest acceptable skew, in degrees either way.
    pub max_skew_deg: f32,
    /// Leptonica's skew confidence needed to call a page skewed (the cleanup's value).
    pub min_skew_confidence: f32,
    /// Tesseract's orientation confidence needed to call a page turned (the cleanup's
    /// value for turning a page).
    pub min_orientation_confidence: f32,
    /// A page whose centre has less writing-sized ink than this share is blank (the
    /// cleanup's `blank_max_ink`).
    pub blank_max_ink: f32,
    /// Widest acceptable dark band along an edge, as a share of the image's width (left
    /// and right edges) or height (top and bottom).
    pub max_border_fraction: f32,
    /// Lowest acceptable mean OCR word confidence (0-100).
    pub min_ocr_confidence: f32,
    /// Legibility is judged only on pages where OCR finds at least this many words (a
    /// drawing, a photo or a page with a few words says nothing about the scan).
    pub min_ocr_words: usize,
    /// Tesseract language(s) of the files, e.g. `deu` or `deu+eng`.
    pub ocr_language: String,
    /// Delivered PDF files must be PDF/A (checked on every PDF file).
    pub require_pdfa: bool,
}

impl Default for QualitySettings {
    fn default() -> Self {
        let cleanup = crate::config::CleanupSettings::default();
        QualitySettings {
            min_dpi: 300,
            max_skew_deg: 1.0,
            min_skew_confidence: cleanup.min_skew_confidence,
            min_orientation_confidence: cleanup.min_orientation_confidence,
            blank_max_ink: cleanup.blank_max_ink,
            max_border_fraction: 0.02,
            min_ocr_confidence: 60.0,
            min_ocr_words: 20,
            ocr_language: "deu".into(),
            require_pdfa: true,
        }
    }
}

impl QualitySettings {
    /// Checks the values' ranges; the message names the setting as written in the profile.
    pub fn check(&self) -> Result<(), String> {
        if !(50..=2400).contains(&self.min_dpi) {
            return Err(format!(
                "validate.min_dpi = {} is out of range (50-2400)",
                self.min_dpi
            ));
        }
        if !(0.0..=45.0).contains(&self.max_skew_deg) {
            return Err(format!(
                "validate.max_skew_deg = {} is out of range (0-45)",
                self.max_skew_deg
            ));
        }
        if !(0.0..=100.0).contains(&self.min_skew_confidence)
            || !(0.0..=100.0).contains(&self.min_orientation_confidence)
            || !(0.0..=100.0).contains(&self.min_ocr_confidence)
        {
            return Err(
                "validate.min_skew_confidence, min_orientation_confidence and \
                 min_ocr_confidence must be within 0-100"
                    .into(),
            );
        }
        if !(0.0..0.05).contains(&self.blank_max_ink) {
            return Err(format!(
                "validate.blank_max_ink = {} is out of range (0 to 0.05)",
                self.blank_max_ink
            ));
        }
        if !(0.0..=0.5).contains(&self.max_border_fraction) {
            return Err(format!(
                "validate.max_border_fraction = {} is out of range (0-0.5)",
                self.max_border_fraction
            ));
        }
        let lang = &self.ocr_language;
        if lang.is_empty()
            || !lang
                .split('+')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(format!(
                "validate.ocr_language = {lang:?} is not a Tesseract language list such as \"deu\" or \"deu+eng\""
            ));
        }
        Ok(())
    }
}

/// Paper sizes a page without resolution metadata is measured against: name, short and
/// long side in millimetres.
const PAPERS: [(&str, f32, f32); 2] = [("A4", 210.0, 297.0), ("A3", 297.0, 420.0)];
/// A pixel size fits the A series when the resolutions along its two sides agree within
/// this share (letter and legal sizes differ by 8 % and more).
const PAPER_FIT_TOLERANCE: f32 = 0.05;
/// Without metadata the resolution is an estimate (a scan cropped to the sheet is a few
/// pixels smaller): it must be this share below the minimum to count as low.
const ESTIMATE_MARGIN: f32 = 0.05;
/// Pixel sizes and metadata values are rounded (118.11 dots per cm is 299.9994 dpi).
const DPI_ROUNDING: f32 = 0.5;

/// Resolution check of one page, from its header alone (runs on every page of the lot).
///
/// `dpi` is the resolution in the file's metadata, `None` when the file carries none.
/// With metadata, the lower of the two directions must reach `min_dpi`. Without, the
/// pixel size is measured against A4 and A3 in either orientation: both have the same
/// proportions, so the pixel size alone cannot tell them apart, and the page is judged as
/// A4 (the higher resolution: no finding that a larger sheet could explain away); the
/// detail gives both. A size of other proportions is not judged (`None`).
pub fn resolution(
    file: &str,
    page: usize,
    width_px: u32,
    height_px: u32,
    dpi: Option<(f32, f32)>,
    s: &QualitySettings,
) -> Option<Finding> {
    let min = s.min_dpi as f32;
    let detail = match dpi {
        Some((x, y)) => {
            if x.min(y) + DPI_ROUNDING >= min {
                return None;
            }
            let shown = if (x - y).abs() < DPI_ROUNDING {
                format!("{x:.0} dpi")
            } else {
                format!("{x:.0} x {y:.0} dpi")
            };
            let (w_mm, h_mm) = (
                width_px as f32 / x.max(1.0) * 25.4,
                height_px as f32 / y.max(1.0) * 25.4,
            );
            format!(
                "{shown} in the file's metadata, below the minimum of {} dpi \
                 ({width_px} x {height_px} px are {w_mm:.0} x {h_mm:.0} mm at that resolution)",
                s.min_dpi
            )
        }
        None => {
            let fit = paper_fit(width_px, height_px)?;
            if fit.a4 + DPI_ROUNDING >= min * (1.0 - ESTIMATE_MARGIN) {
                return None;
            }
            format!(
                "no resolution in the file's metadata; {width_px} x {height_px} px are A4 at \
                 {:.0} dpi (A3 at {:.0} dpi), below the minimum of {} dpi",
                fit.a4, fit.a3, s.min_dpi
            )
        }
    };
    Some(Finding::page(
        FindingKind::LowResolution,
        file,
        page,
        detail,
    ))
}

/// The resolution a pixel size gives on A4 and on A3 sheets (either orientation).
#[derive(Debug, Clone, Copy, PartialEq)]
struct PaperFit {
    a4: f32,
    a3: f32,
}

fn paper_fit(width_px: u32, height_px: u32) -> Option<PaperFit> {
    let short = width_px.min(height_px) as f32;
    let long = width_px.max(height_px) as f32;
    let dpi_on = |(_, short_mm, long_mm): (&str, f32, f32)| {
        let (along_short, along_long) = (short / short_mm * 25.4, long / long_mm * 25.4);
        let fits =
            (along_short - along_long).abs() <= PAPER_FIT_TOLERANCE * along_short.max(along_long);
        (fits && short > 0.0).then_some((along_short + along_long) / 2.0)
    };
    Some(PaperFit {
        a4: dpi_on(PAPERS[0])?,
        a3: dpi_on(PAPERS[1])?,
    })
}

/// What [`inspect`] measured on one sampled page, and the findings it made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageQuality {
    pub page: PageRef,
    pub width_px: u32,
    pub height_px: u32,
    /// The resolution from the file's metadata, as passed in.
    pub dpi: Option<(f32, f32)>,
    /// Skew in degrees (positive = the content is turned counter-clockwise); `None` when
    /// not measured with confidence (too little text, no clear text lines, blank page).
    pub skew_deg: Option<f32>,
    /// Clockwise quarter turn (0, 90, 180, 270) that would set the page upright; `None`
    /// when not decided with confidence (or without an OCR engine, unless Leptonica
    /// confirmed the page upright).
    pub rotation: Option<u32>,
    /// Share (0-1) of the page's centre covered by writing-sized ink (the cleanup's blank
    /// detector).
    pub ink_coverage: f32,
    pub blank: bool,
    /// Dark bands along edges and dark content touching edges, described (also when
    /// within the tolerance); `None` when there are none.
    pub border: Option<String>,
    /// Mean OCR word confidence (0-100) of the page set upright and straight; `None`
    /// when OCR did not run or found no words.
    pub ocr_confidence: Option<f32>,
    pub findings: Vec<Finding>,
}

/// Dark content touching an image edge counts only in components at least this large
/// (either direction): dust does not.
const EDGE_CONTENT_MIN_MM: f32 = 1.0;
/// Content touching an edge along at least this length (added up over its components)
/// looks cut off: one letter of a line touching the edge does not, three lines do.
const EDGE_CONTENT_MAX_MM: f32 = 8.0;
/// Below this, a skew is not worth straightening the copy that OCR reads (the cleanup's
/// value).
const MIN_STRAIGHTEN_DEG: f32 = 0.05;
/// Resolution assumed for the analysis when neither the metadata nor the pixel size tells
/// one (the profiles' `input.assume_dpi`).
const FALLBACK_DPI: f32 = 300.0;

/// Checks one sampled page without changing it: skew, orientation, blank page, dark
/// borders and content cut off at an edge, and, with an OCR engine, legibility.
///
/// `dpi` is the resolution from the file's metadata (`None`: estimated from the pixel
/// size as in [`resolution`]); it only scales the analysis, the resolution itself is
/// judged by [`resolution`]. The orientation is found as the cleanup finds it:
/// Leptonica's fast test confirms upright pages, any other page goes to Tesseract's
/// orientation detection, so without an engine only upright pages are decided.
/// Legibility is judged from Tesseract's words on the page set upright and straight (on
/// a copy), so that a turned or skewed page is reported as such and not also as illegible:
/// the mean word confidence, or, on a page with text lines where Tesseract finds (almost)
/// no words, the word count (see [`legibility`]). A page that cannot be analysed at all (an error of Leptonica or
/// Tesseract) gets an `unreadable` finding saying so.
pub fn inspect(
    page: &PageRef,
    pixels: &Pixels,
    dpi: Option<(f32, f32)>,
    ocr: Option<&mut Engine>,
    s: &QualitySettings,
) -> PageQuality {
    let mut q = PageQuality {
        page: page.clone(),
        width_px: pixels.width(),
        height_px: pixels.height(),
        dpi,
        skew_deg: None,
        rotation: None,
        ink_coverage: 0.0,
        blank: false,
        border: None,
        ocr_confidence: None,
        findings: Vec::new(),
    };
    if let Err(e) = analyse(&mut q, pixels, ocr, s) {
        let detail = format!("the page could not be checked: {e}");
        q.findings.push(q.finding(FindingKind::Unreadable, detail));
    }
    q
}

impl PageQuality {
    fn finding(&self, kind: FindingKind, detail: String) -> Finding {
        Finding::page(kind, &self.page.file, self.page.page, detail)
    }
}

/// The resolution the analysis is scaled by: the metadata's (when plausible), else the
/// A4 estimate, else the usual scan resolution.
fn analysis_dpi(q: &PageQuality) -> f32 {
    match q.dpi {
        Some((_, y)) if (50.0..=2400.0).contains(&y) => y,
        _ => paper_fit(q.width_px, q.height_px)
            .map(|fit| fit.a4)
            .filter(|d| (50.0..=2400.0).contains(d))
            .unwrap_or(FALLBACK_DPI),
    }
}

fn analyse(
    q: &mut PageQuality,
    pixels: &Pixels,
    mut ocr: Option<&mut Engine>,
    s: &QualitySettings,
) -> Result<(), String> {
    let dpi = analysis_dpi(q);
    let factor = ((dpi / cleanup::ANALYSIS_DPI).round() as u32).max(1);
    let small_dpi = dpi / factor as f32;
    let mut small = cleanup::reduce(&pixels.to_gray(), factor);
    let paper = cleanup::paper_level(&small);

    // Dark bands along the edges (the cleanup's scanner-edge detector), then dark content
    // that still touches an edge once the bands are painted over.
    let bands = border::detect(&small, paper);
    bands.whiten(&mut small, paper);
    let touching = content_at_edges(&small, paper, small_dpi)?;
    let (described, too_wide) = describe_edges(&bands, &touching, &small, small_dpi, s);
    q.border = described;
    if let Some(detail) = too_wide {
        q.findings.push(q.finding(FindingKind::BlackBorder, detail));
    }

    // Blank page (the cleanup's detector on the despeckled ink).
    let (ink, _specks) = cleanup::despeckle(cleanup::ink_mask(&small)?)?;
    q.ink_coverage = blank::ink_coverage(&ink, small_dpi)?;
    if q.ink_coverage < s.blank_max_ink {
        q.blank = true;
        let detail = format!(
            "writing-sized ink covers {} of the page centre (blank below {})",
            percent(q.ink_coverage),
            percent(s.blank_max_ink)
        );
        q.findings.push(q.finding(FindingKind::BlankPage, detail));
        return Ok(());
    }
    if q.ink_coverage < cleanup::MIN_INK_FOR_SKEW {
        // A stamp or a short note: too little text to judge skew, orientation or OCR.
        return Ok(());
    }

    // Skew (the cleanup's search: upright, and turned by 90 degrees for sideways pages).
    let mut straighten = 0.0;
    if let Some((angle, conf)) = cleanup::find_skew(&ink, s.min_skew_confidence)? {
        if conf >= s.min_skew_confidence {
            q.skew_deg = Some(angle);
            if angle.abs() >= MIN_STRAIGHTEN_DEG {
                straighten = angle;
            }
            if angle.abs() > s.max_skew_deg {
                let detail = format!(
                    "skewed by {angle:.1}° ({}), tolerance {:.1}° (Leptonica confidence {conf:.0})",
                    if angle > 0.0 {
                        "counter-clockwise"
                    } else {
                        "clockwise"
                    },
                    s.max_skew_deg
                );
                q.findings.push(q.finding(FindingKind::Skewed, detail));
            }
        }
    }

    // Orientation, decided as the cleanup decides it.
    let upright_ink = if straighten != 0.0 {
        ink.rotate_shear(straighten)?
    } else {
        ink
    };
    let leptonica = upright_ink.orientation_confidences();
    let confirmed_upright = matches!(leptonica, Some((up, left))
        if up >= cleanup::LEPTONICA_MIN_UP_CONF && up >= cleanup::LEPTONICA_MIN_RATIO * left.abs());
    if confirmed_upright {
        q.rotation = Some(0);
    } else if let Some(engine) = ocr.as_deref_mut() {
        let mut gray_small = Pix::from_gray(&small)?;
        if straighten != 0.0 {
            gray_small = gray_small.rotate_gray(straighten, paper)?;
        }
        let found = engine
            .detect_orientation(&gray_small, small_dpi.round() as u32)
            .map_err(|e| e.to_string())?;
        if let Some(o) = found.filter(|o| o.confidence >= s.min_orientation_confidence) {
            q.rotation = Some(o.rotate_cw);
            let how = match o.rotate_cw {
                180 => Some("upside down"),
                90 => Some("turned sideways (its top is at the left)"),
                270 => Some("turned sideways (its top is at the right)"),
                _ => None,
            };
            if let Some(how) = how {
                let detail = format!(
                    "the page is {how}: needs a turn of {}° clockwise \
                     (Tesseract's orientation detection, confidence {:.1})",
                    o.rotate_cw, o.confidence
                );
                q.findings
                    .push(q.finding(FindingKind::WrongOrientation, detail));
            }
        }
    }

    // Legibility: OCR of a copy set upright and straight.
    if let Some(engine) = ocr {
        let mut pix = Pix::from_gray(&pixels.to_gray())?;
        if straighten != 0.0 {
            pix = pix.rotate_shear(straighten)?;
        }
        if let Some(turn @ (90 | 180 | 270)) = q.rotation {
            pix = pix.rotate_orth(turn)?;
        }
        let text = engine
            .recognize(&pix, dpi.round() as u32)
            .map_err(|e| e.to_string())?;
        q.ocr_confidence = text.mean_confidence();
        let text_lines = q.skew_deg.is_some();
        if let Some(detail) = legibility(text.word_count(), q.ocr_confidence, text_lines, s) {
            q.findings.push(q.finding(FindingKind::Illegible, detail));
        }
    }
    Ok(())
}

/// The legibility verdict from OCR's word count and mean confidence: a finding's detail
/// when the page is illegible, `None` when it is legible or cannot be judged.
///
/// With at least `min_ocr_words` words the mean confidence decides. With fewer, the page
/// is illegible only when it shows text lines (`text_lines`: Leptonica found the lines'
/// skew with confidence) and the few words found are not read with confidence either: a
/// page of text so blurred or noisy that Tesseract finds (almost) no words. A page with
/// few words read well (a form, a separator sheet) or without text lines (a drawing, a
/// photo) is not judged.
fn legibility(
    words: usize,
    mean_confidence: Option<f32>,
    text_lines: bool,
    s: &QualitySettings,
) -> Option<String> {
    let low = mean_confidence.is_none_or(|mean| mean < s.min_ocr_confidence);
    if words < s.min_ocr_words {
        return (text_lines && low).then(|| {
            let read = match mean_confidence {
                Some(mean) => format!(", with a mean confidence of {mean:.0}"),
                None => String::new(),
            };
            format!(
                "OCR recognised only {words} words{read} on a page with text lines \
                 (at least {} are needed to judge it)",
                s.min_ocr_words
            )
        });
    }
    let mean = mean_confidence?;
    low.then(|| {
        format!(
            "mean OCR word confidence {mean:.0} over {words} words, below the minimum of {:.0}",
            s.min_ocr_confidence
        )
    })
}

/// Image sides, in the order of [`border::Borders`]' fields.
const SIDES: [&str; 4] = ["left", "right", "top", "bottom"];

/// Length (in pixels of `small`) along which dark content touches each side of the
/// image: left, right, top, bottom. Dark is darker than half the paper's tone, the same
/// mask the cleanup finds punch holes and patch codes in.
fn content_at_edges(small: &GrayImage, paper: u8, dpi: f32) -> Result<[u32; 4], String> {
    let dark = Pix::binary_from_gray(small, paper / 2)?;
    let min_px = ((EDGE_CONTENT_MIN_MM / 25.4 * dpi).round() as i32).max(1);
    let (w, h) = (small.width() as i32, small.height() as i32);
    let mut touching = [0u32; 4];
    for (x, y, bw, bh) in dark.component_boxes() {
        if bw < min_px && bh < min_px {
            continue;
        }
        let (bw, bh) = (bw.max(0) as u32, bh.max(0) as u32);
        if x <= 0 {
            touching[0] += bh;
        }
        if x + bw as i32 >= w {
            touching[1] += bh;
        }
        if y <= 0 {
            touching[2] += bw;
        }
        if y + bh as i32 >= h {
            touching[3] += bw;
        }
    }
    Ok(touching)
}

/// Describes the bands and the content at the edges (everything found) and says which
/// are beyond the tolerance (the finding's detail).
fn describe_edges(
    bands: &border::Borders,
    touching: &[u32; 4],
    small: &GrayImage,
    dpi: f32,
    s: &QualitySettings,
) -> (Option<String>, Option<String>) {
    let mm = |px: u32| px as f32 / dpi * 25.4;
    let (w, h) = small.dimensions();
    let widths = [bands.left, bands.right, bands.top, bands.bottom];
    let mut all = Vec::new();
    let mut bad = Vec::new();
    for (i, side) in SIDES.iter().enumerate() {
        let width = widths[i];
        if width > 0 {
            let (across, dimension) = if i < 2 { (w, "width") } else { (h, "height") };
            let share = width as f32 / across.max(1) as f32;
            let text = format!(
                "dark band along the {side} edge, {:.0} mm ({:.2} % of the {dimension})",
                mm(width),
                share * 100.0
            );
            if share > s.max_border_fraction {
                bad.push(format!(
                    "{text}, tolerance {}",
                    percent(s.max_border_fraction)
                ));
            }
            all.push(text);
        }
    }
    for (i, side) in SIDES.iter().enumerate() {
        let length = mm(touching[i]);
        if length > 0.0 {
            let text = format!("dark content touches the {side} edge along {length:.0} mm");
            if length >= EDGE_CONTENT_MAX_MM {
                bad.push(format!("{text} (cut off at the edge?)"));
            }
            all.push(text);
        }
    }
    let join = |v: Vec<String>| (!v.is_empty()).then(|| v.join("; "));
    (join(all), join(bad))
}

/// A share as a percentage with enough digits to tell small values apart.
fn percent(share: f32) -> String {
    let p = share * 100.0;
    if p >= 1.0 {
        format!("{p:.1} %")
    } else if p >= 0.1 {
        format!("{p:.2} %")
    } else {
        format!("{p:.3} %")
    }
}

/// A small PNG of the page, as a `data:image/png;base64,...` URI for the HTML report:
/// scaled (area averaging) so that its longer side is at most `max_px`, gray for gray and
/// bilevel pages, colour for colour pages. Empty if the PNG cannot be encoded.
pub fn thumbnail_data_uri(pixels: &Pixels, max_px: u32) -> String {
    let (w, h) = (pixels.width().max(1), pixels.height().max(1));
    let scale = (max_px.max(1) as f64 / w.max(h) as f64).min(1.0);
    let tw = ((w as f64 * scale).round() as u32).max(1);
    let th = ((h as f64 * scale).round() as u32).max(1);
    let mut png = Vec::new();
    let encoder =
        PngEncoder::new_with_quality(&mut png, CompressionType::Best, FilterType::Adaptive);
    let written = match pixels {
        Pixels::Bilevel(g) | Pixels::Gray(g) => {
            let t = image::imageops::thumbnail(g, tw, th);
            encoder.write_image(t.as_raw(), tw, th, ExtendedColorType::L8)
        }
        Pixels::Rgb(c) => {
            let t = image::imageops::thumbnail(c, tw, th);
            encoder.write_image(t.as_raw(), tw, th, ExtendedColorType::Rgb8)
        }
    };
    match written {
        Ok(()) => format!("data:image/png;base64,{}", base64(&png)),
        Err(_) => String::new(),
    }
}

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ab_glyph::{Font, FontVec, PxScale, ScaleFont};
    use image::Luma;
    use std::sync::OnceLock;

    const PAPER: u8 = 242;
    const INK: u8 = 35;

    fn settings() -> QualitySettings {
        QualitySettings::default()
    }

    fn page_ref() -> PageRef {
        PageRef {
            file: "data/akte_0001.tif".into(),
            page: 3,
        }
    }

    fn font() -> FontVec {
        let path = "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf";
        let bytes = std::fs::read(path).unwrap_or_else(|e| {
            panic!("{path}: {e} (scripts/setup.sh installs fonts-liberation2)")
        });
        FontVec::try_from_vec(bytes).unwrap()
    }

    /// Draws one line of text with its top at `y`.
    fn draw_line(img: &mut GrayImage, font: &FontVec, px: f32, x: f32, y: f32, text: &str) {
        let scale = PxScale::from(px);
        let scaled = font.as_scaled(scale);
        let baseline = y + scaled.ascent();
        let mut caret = x;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            let glyph = id.with_scale_and_position(scale, ab_glyph::point(caret, baseline));
            caret += scaled.h_advance(id);
            if let Some(outline) = font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cov| {
                    let (px, py) = (b.min.x as u32 + gx, b.min.y as u32 + gy);
                    if px < img.width() && py < img.height() {
                        let v = f32::from(PAPER) - cov.min(1.0) * f32::from(PAPER - INK);
                        let p = img.get_pixel_mut(px, py);
                        p[0] = p[0].min(v.round() as u8);
                    }
                });
            }
        }
    }

    const BODY: &str = "Sehr geehrte Damen und Herren, mit Bescheid vom 14. März 2019 wurde \
        die Baugenehmigung für das Wohnhaus in der Kastanienallee 12 unter Auflagen erteilt. \
        Bei der Ortsbesichtigung am 2. April stellte die Bauaufsicht fest, dass die \
        Stellplätze auf dem Grundstück nicht wie genehmigt angelegt worden sind. Wir bitten \
        Sie daher, bis zum 30. Juni einen geänderten Lageplan mit den nachgewiesenen \
        Stellplätzen einzureichen und die Unterlagen zur Entwässerung nachzureichen. Sollte \
        die Frist nicht eingehalten werden, behalten wir uns weitere Schritte vor. Für \
        Rückfragen steht Ihnen Frau Schulze montags bis donnerstags von 9 bis 15 Uhr unter \
        der angegebenen Rufnummer zur Verfügung. Die Gebühren für die Nachprüfung richten \
        sich nach der Baugebührenordnung des Landes und werden gesondert festgesetzt. Bitte \
        geben Sie bei allen Schreiben das oben genannte Aktenzeichen an, damit Ihre \
        Unterlagen der richtigen Akte zugeordnet werden können. Gegen diesen Bescheid kann \
        innerhalb eines Monats nach Bekanntgabe Klage beim Verwaltungsgericht erhoben \
        werden. Die Klage ist schriftlich oder zur Niederschrift des Urkundsbeamten der \
        Geschäftsstelle zu erheben und soll einen bestimmten Antrag enthalten.";

    /// A clean, upright A4 letter page at 300 dpi: address block, subject and about
    /// thirty lines of 11-point body text within DIN 5008 margins, on slightly gray
    /// paper with a little sensor noise.
    fn letter_page() -> GrayImage {
        static PAGE: OnceLock<GrayImage> = OnceLock::new();
        PAGE.get_or_init(|| {
            let font = font();
            let mm = |v: f32| v * 300.0 / 25.4;
            let mut img = GrayImage::from_pixel(2480, 3508, Luma([PAPER]));
            let px = 11.0 * 300.0 / 72.0;
            let left = mm(25.0);
            let mut y = mm(50.0);
            for line in [
                "Stadtverwaltung Musterstadt - Bauordnung - Postfach 1234",
                "Herrn Klaus Meier",
                "Lindenweg 7",
                "38100 Braunschweig",
            ] {
                draw_line(&mut img, &font, px, left, y, line);
                y += px * 1.25;
            }
            y = mm(100.0);
            draw_line(
                &mut img,
                &font,
                px,
                left,
                y,
                "Aktenzeichen 60.2-0815/19 - Ihr Bauvorhaben Kastanienallee 12",
            );
            y += px * 2.5;
            let scaled = font.as_scaled(PxScale::from(px));
            let width = |s: &str| -> f32 {
                s.chars()
                    .map(|c| scaled.h_advance(scaled.glyph_id(c)))
                    .sum()
            };
            for _ in 0..2 {
                let mut line = String::new();
                for word in BODY.split_whitespace() {
                    let candidate = if line.is_empty() {
                        word.to_string()
                    } else {
                        format!("{line} {word}")
                    };
                    if width(&candidate) > mm(165.0) {
                        draw_line(&mut img, &font, px, left, y, &line);
                        y += px * 1.3;
                        line = word.to_string();
                    } else {
                        line = candidate;
                    }
                }
                draw_line(&mut img, &font, px, left, y, &line);
                y += px * 2.6;
            }
            draw_line(&mut img, &font, px, left, y, "Mit freundlichen Grüßen");
            // sensor noise, deterministic
            let mut state = 0x2545_f491_4f6c_dd1du64;
            for p in img.pixels_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let n = (state % 7) as i16 - 3;
                p[0] = (i16::from(p[0]) + n).clamp(0, 255) as u8;
            }
            img
        })
        .clone()
    }

    /// The page turned counter-clockwise by `deg` on the scanner.
    fn skewed(img: &GrayImage, deg: f32) -> GrayImage {
        use imageproc::geometric_transformations::{rotate_about_center, Border, Interpolation};
        rotate_about_center(
            img,
            -deg.to_radians(),
            Interpolation::Bilinear,
            Border::Constant(Luma([PAPER])),
        )
    }

    fn engine() -> Engine {
        Engine::new("deu").expect("Tesseract with deu and osd (scripts/setup.sh)")
    }

    fn kinds(q: &PageQuality) -> Vec<FindingKind> {
        q.findings.iter().map(|f| f.kind).collect()
    }

    fn inspect_gray(img: GrayImage, ocr: Option<&mut Engine>) -> PageQuality {
        inspect(
            &page_ref(),
            &Pixels::Gray(img),
            Some((300.0, 300.0)),
            ocr,
            &settings(),
        )
    }

    #[test]
    fn clean_upright_letter_page_has_no_findings() {
        let mut e = engine();
        let q = inspect_gray(letter_page(), Some(&mut e));
        assert!(q.findings.is_empty(), "{q:#?}");
        assert!(!q.blank);
        assert_eq!(q.rotation, Some(0));
        assert!(q.skew_deg.is_some_and(|s| s.abs() < 0.2), "{q:?}");
        assert!(q.ocr_confidence.is_some_and(|c| c > 80.0), "{q:?}");
        assert_eq!(q.border, None);
        assert!(resolution("f", 1, 2480, 3508, Some((300.0, 300.0)), &settings()).is_none());
        assert!(resolution("f", 1, 2480, 3508, None, &settings()).is_none());
    }

    #[test]
    fn skewed_page_is_found_with_its_angle() {
        let q = inspect_gray(skewed(&letter_page(), 3.5), None);
        assert_eq!(kinds(&q), vec![FindingKind::Skewed], "{q:#?}");
        let skew = q.skew_deg.unwrap();
        assert!((skew - 3.5).abs() < 0.2, "{skew}");
        assert!(
            q.findings[0].detail.contains("3.5°"),
            "{}",
            q.findings[0].detail
        );
        // within the tolerance: measured, no finding
        let q = inspect_gray(skewed(&letter_page(), -0.7), None);
        assert!(q.findings.is_empty(), "{q:#?}");
        assert!(q.skew_deg.is_some_and(|s| (s + 0.7).abs() < 0.2), "{q:?}");
    }

    #[test]
    fn upside_down_page_is_wrongly_oriented_and_still_legible() {
        let mut e = engine();
        let q = inspect_gray(image::imageops::rotate180(&letter_page()), Some(&mut e));
        assert_eq!(kinds(&q), vec![FindingKind::WrongOrientation], "{q:#?}");
        assert_eq!(q.rotation, Some(180));
        assert!(q.findings[0].detail.contains("upside down"));
        // read on an upright copy: no Illegible on top
        assert!(q.ocr_confidence.is_some_and(|c| c > 80.0), "{q:?}");
    }

    #[test]
    fn sideways_page_is_wrongly_oriented() {
        let mut e = engine();
        let q = inspect_gray(image::imageops::rotate90(&letter_page()), Some(&mut e));
        assert_eq!(kinds(&q), vec![FindingKind::WrongOrientation], "{q:#?}");
        assert_eq!(q.rotation, Some(270));
    }

    #[test]
    fn blank_page_is_found_and_not_judged_further() {
        let mut img = GrayImage::from_pixel(2480, 3508, Luma([PAPER]));
        // dust
        for i in 0..300u32 {
            img.put_pixel((i * 7919) % 2480, (i * 104_729) % 3508, Luma([60]));
        }
        let q = inspect_gray(img, None);
        assert_eq!(kinds(&q), vec![FindingKind::BlankPage], "{q:#?}");
        assert!(q.blank);
        assert_eq!(
            (q.skew_deg, q.rotation, q.ocr_confidence),
            (None, None, None)
        );
    }

    fn band(img: &mut GrayImage, left_px: u32) {
        for y in 0..img.height() {
            for x in 0..left_px {
                img.put_pixel(x, y, Luma([18]));
            }
        }
    }

    #[test]
    fn wide_black_band_is_a_border_finding_narrow_one_is_tolerated() {
        let mut img = letter_page();
        band(&mut img, 150); // 12.7 mm, 6 % of the width
        let q = inspect_gray(img, None);
        assert_eq!(kinds(&q), vec![FindingKind::BlackBorder], "{q:#?}");
        let detail = &q.findings[0].detail;
        assert!(detail.contains("left edge"), "{detail}");

        let mut img = letter_page();
        band(&mut img, 30); // 1.2 %: within the 2 % tolerance
        let q = inspect_gray(img, None);
        assert!(q.findings.is_empty(), "{q:#?}");
        assert!(
            q.border.as_deref().is_some_and(|b| b.contains("left edge")),
            "{q:?}"
        );
    }

    #[test]
    fn text_cut_off_at_an_edge_is_a_border_finding() {
        // the sheet was placed too far left: the text starts outside the scan
        let page = letter_page();
        let shifted = GrayImage::from_fn(2480, 3508, |x, y| {
            if x + 320 < 2480 {
                *page.get_pixel(x + 320, y)
            } else {
                Luma([PAPER])
            }
        });
        let q = inspect_gray(shifted, None);
        assert!(kinds(&q).contains(&FindingKind::BlackBorder), "{q:#?}");
        assert!(
            q.findings[0].detail.contains("touches the left edge"),
            "{q:#?}"
        );
    }

    #[test]
    fn low_resolution_from_metadata_and_from_pixel_size() {
        let s = settings();
        let f = resolution("data/a.tif", 2, 1240, 1754, Some((150.0, 150.0)), &s).unwrap();
        assert_eq!(f.kind, FindingKind::LowResolution);
        assert_eq!((f.file.as_deref(), f.page), (Some("data/a.tif"), Some(2)));
        assert!(
            f.detail.contains("150 dpi in the file's metadata"),
            "{}",
            f.detail
        );
        // no metadata: the pixel size says A4 at 150 dpi, in either orientation
        for (w, h) in [(1240, 1754), (1754, 1240)] {
            let f = resolution("data/a.tif", 1, w, h, None, &s).unwrap();
            assert!(f.detail.contains("A4 at 150 dpi"), "{}", f.detail);
            assert!(f.detail.contains("A3 at 106 dpi"), "{}", f.detail);
        }
        // 300 dpi A4 and A3, metadata rounding, anisotropic metadata
        assert!(resolution("a", 1, 2480, 3508, None, &s).is_none());
        assert!(resolution("a", 1, 4961, 3508, None, &s).is_none());
        assert!(
            resolution("a", 1, 2450, 3470, None, &s).is_none(),
            "cropped to the sheet"
        );
        assert!(resolution("a", 1, 2480, 3508, Some((299.9994, 299.9994)), &s).is_none());
        let f = resolution("a", 1, 2480, 1754, Some((300.0, 150.0)), &s).unwrap();
        assert!(f.detail.contains("300 x 150 dpi"), "{}", f.detail);
        // letter size without metadata cannot be judged
        assert!(resolution("a", 1, 1275, 1650, None, &s).is_none());
    }

    #[test]
    fn legibility_threshold() {
        let s = settings();
        assert!(legibility(200, Some(59.0), true, &s).is_some());
        assert!(legibility(200, Some(59.0), false, &s).is_some());
        assert!(legibility(200, Some(60.0), true, &s).is_none());
        let detail = legibility(120, Some(41.4), true, &s).unwrap();
        assert!(detail.contains("41 over 120 words"), "{detail}");
        // few words: illegible only where there are text lines to read
        assert!(legibility(5, Some(20.0), false, &s).is_none());
        assert!(legibility(0, None, false, &s).is_none());
        let detail = legibility(0, None, true, &s).unwrap();
        assert!(detail.contains("only 0 words"), "{detail}");
        let detail = legibility(8, Some(31.0), true, &s).unwrap();
        assert!(
            detail.contains("only 8 words, with a mean confidence of 31"),
            "{detail}"
        );
        // a few words read well (measured: a patch sheet's label, 95) are legible
        assert!(legibility(6, Some(95.0), true, &s).is_none());
        assert!(legibility(20, Some(95.0), true, &s).is_none());
    }

    /// Blurs the page and adds uniform noise of +-`noise` gray levels.
    fn degraded(img: &GrayImage, blur: f32, noise: i16) -> GrayImage {
        let mut out = imageproc::filter::gaussian_blur_f32(img, blur);
        let mut state = 0x1234_5678_9abc_def1u64;
        for p in out.pixels_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (state % (2 * noise as u64 + 1)) as i16 - noise;
            p[0] = (i16::from(p[0]) + n).clamp(0, 255) as u8;
        }
        out
    }

    #[test]
    fn blurred_noisy_pages_are_illegible() {
        let mut e = engine();
        // Tesseract reads words, with little confidence (measured: 31 over 61 words)
        let q = inspect_gray(degraded(&letter_page(), 4.0, 25), Some(&mut e));
        assert_eq!(kinds(&q), vec![FindingKind::Illegible], "{q:#?}");
        assert!(
            q.findings[0].detail.contains("mean OCR word confidence"),
            "{q:#?}"
        );
        // so blurred that Tesseract finds no words, though the text lines are plain
        let q = inspect_gray(degraded(&letter_page(), 5.0, 25), Some(&mut e));
        assert_eq!(kinds(&q), vec![FindingKind::Illegible], "{q:#?}");
        assert!(
            q.findings[0].detail.contains("OCR recognised only"),
            "{q:#?}"
        );
    }

    #[test]
    fn thumbnail_is_a_small_png_data_uri() {
        let uri = thumbnail_data_uri(&Pixels::Gray(letter_page()), 200);
        let b64 = uri.strip_prefix("data:image/png;base64,").unwrap();
        assert!(b64.len() < 120_000, "{}", b64.len());
        let png = decode_base64(b64);
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), (141, 200));
        let rgb = Pixels::Rgb(image::RgbImage::from_pixel(
            300,
            100,
            image::Rgb([200, 10, 10]),
        ));
        let uri = thumbnail_data_uri(&rgb, 200);
        let img = image::load_from_memory(&decode_base64(&uri[22..])).unwrap();
        assert_eq!((img.width(), img.height()), (200, 67));
        assert_eq!(img.to_rgb8().get_pixel(5, 5).0, [200, 10, 10]);
    }

    fn decode_base64(s: &str) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.bytes().filter(|&c| c != b'=') {
            bits = bits << 6 | A.iter().position(|&a| a == c).unwrap() as u32;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        out
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
            assert_eq!(decode_base64(enc), raw.as_bytes());
        }
    }

    #[test]
    fn settings_default_and_ranges() {
        let s = QualitySettings::default();
        assert_eq!(
            (s.min_dpi, s.max_skew_deg, s.min_ocr_confidence),
            (300, 1.0, 60.0)
        );
        assert_eq!(s.ocr_language, "deu");
        assert!(s.check().is_ok());
        let parsed: QualitySettings = toml::from_str("min_dpi = 400\n").unwrap();
        assert_eq!(parsed.min_dpi, 400);
        assert_eq!(parsed.max_border_fraction, 0.02);
        assert!(toml::from_str::<QualitySettings>("min_dpl = 400\n").is_err());
        let bad = QualitySettings {
            ocr_language: "deu; rm".into(),
            ..QualitySettings::default()
        };
        assert!(bad.check().is_err());
    }

    /// Measurement, not a check: every page of the committed sample batches through
    /// `inspect` without and with OCR, against the generator's truth, with the time per
    /// page. `OMP_THREAD_LIMIT=1 cargo test --release --lib demo_batches_against_truth --
    /// --ignored --nocapture`
    #[test]
    #[ignore = "measurement; run by hand"]
    fn demo_batches_against_truth() {
        use crate::ingest::{decode_frame_bytes, probe, Candidate, Limits};
        use crate::model::DpiSource;
        use std::time::{Duration, Instant};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
        let limits = Limits {
            max_pixels: 100_000_000,
            assume_dpi: 300,
        };
        let mut e = engine();
        let (mut without, mut with, mut pages) = (Duration::ZERO, Duration::ZERO, 0u32);
        for batch in ["demo", "stream"] {
            let dir = root.join(batch);
            let truth = crate::lab::truth::Truth::load(&dir.join("truth.json")).unwrap();
            for p in &truth.pages {
                let candidate = Candidate::file(dir.join(&p.file), p.file.clone());
                let src = probe(&candidate, limits).unwrap();
                let data = std::fs::read(&src.path).unwrap();
                let frame = p.frame as usize;
                let pixels = decode_frame_bytes(&data, src.format, frame, limits).unwrap();
                let info = &src.frames[frame];
                let dpi = (info.dpi.source == DpiSource::File).then_some((info.dpi.x, info.dpi.y));
                let page = PageRef {
                    file: p.file.clone(),
                    page: frame + 1,
                };
                let t = Instant::now();
                let fast = inspect(&page, &pixels, dpi, None, &settings());
                let t_fast = t.elapsed();
                let t = Instant::now();
                let q = inspect(&page, &pixels, dpi, Some(&mut e), &settings());
                let t_full = t.elapsed();
                without += t_fast;
                with += t_full;
                pages += 1;
                println!(
                    "{batch}/{} p{}: {:?} truth skew {:+.2} turn {} blank {} edges {} | \
                     skew {:?} rot {:?} ink {:.4} ocr {:?} | {:?} | {:?}{} | {} ms, {} ms",
                    p.file,
                    frame + 1,
                    p.kind,
                    p.skew_deg,
                    (360 - p.rotation) % 360,
                    p.blank,
                    p.black_edges,
                    q.skew_deg.map(|s| (s * 100.0).round() / 100.0),
                    q.rotation,
                    q.ink_coverage,
                    q.ocr_confidence.map(|c| c.round()),
                    kinds(&q),
                    q.border,
                    if kinds(&fast) == kinds(&q) {
                        ""
                    } else {
                        " (differs without OCR)"
                    },
                    t_fast.as_millis(),
                    t_full.as_millis()
                );
            }
        }
        println!(
            "{pages} pages: inspect without OCR {} ms per page, with OCR {} ms per page",
            without.as_millis() / u128::from(pages),
            with.as_millis() / u128::from(pages)
        );
    }
}

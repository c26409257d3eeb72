//! Cleanup before OCR, in one fixed order:
//!
//! 1. reduce a gray copy to about 150 dpi (all decisions are made on it: cheap);
//! 2. find dark scanner edges along the image sides (`border`);
//! 3. binarise (Sauvola) and despeckle the reduced copy;
//!    find punch holes in the margins (`holes`);
//! 4. blank-page detection on the ink that is left (`blank`): a blank page stops here,
//!    is kept as evidence and is not OCRed;
//! 5. skew search (Leptonica) with a confidence;
//! 6. orientation: Leptonica's fast ascender/descender test confirms upright pages; any
//!    other page goes to Tesseract's orientation detection, which alone decides a turn;
//! 7. apply to the full-resolution page: whiten edges and speckles, deskew, turn.
//!
//! A skew or orientation that is not clearly found leaves the page as scanned and flags
//! it: cleanup never guesses. Why before OCR: Tesseract silently drops whole paragraphs on
//! pages skewed by 2.5-3 degrees and reads upside-down pages as garbage.

pub mod blank;
pub mod border;
pub mod holes;

use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

use crate::config::CleanupSettings;
use crate::leptonica::{Pix, Rect};
use crate::model::{Dpi, Pixels};
use crate::ocr::{Engine, OcrError};
use border::Borders;

/// What cleanup found and did on one page: the page's QA record in the document JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CleanupRecord {
    /// Skew found, in degrees (positive = the content is turned counter-clockwise).
    pub skew_deg: Option<f32>,
    /// Leptonica's confidence in the skew angle (3 and above is clear).
    pub skew_confidence: Option<f32>,
    /// True when the page was rotated to remove the skew.
    pub deskewed: bool,
    /// Clockwise rotation applied to set the page upright: 0, 90, 180 or 270.
    pub rotation: u32,
    /// Who decided the orientation: `leptonica` (upright confirmed by the fast test) or
    /// `tesseract` (orientation detection); absent when it did not run.
    pub orientation_method: Option<String>,
    /// Confidence of that decision (Leptonica's up-confidence or Tesseract's).
    pub orientation_confidence: Option<f32>,
    /// Dark scanner edges whitened, in pixels of the scan per side.
    pub borders: Borders,
    /// Specks removed (tiny isolated dots).
    pub speckles_removed: usize,
    /// Punch holes whitened.
    pub punch_holes_removed: usize,
    /// The page was binarised (1-bit) for OCR and output.
    pub binarized: bool,
    /// Share of the page's centre area covered by ink after despeckle (0-1).
    pub ink_coverage: f32,
    /// The page was judged blank (kept as evidence, not OCRed).
    pub blank: bool,
    /// Problems an operator may want to look at.
    pub flags: Vec<Flag>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The skew angle could not be found with enough confidence; left as scanned.
    UncertainSkew,
    /// The orientation could not be found with enough confidence; left as scanned.
    UncertainOrientation,
    /// Little ink, but above the blank threshold: kept as a page, worth a look.
    NearBlank,
    /// The OCR's mean word confidence is below the profile's minimum.
    LowOcrConfidence,
    /// The page comes from a PDF whose cross-reference table was broken and rebuilt.
    PdfRepaired,
}

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("{0}")]
    Image(String),
    #[error(transparent)]
    Ocr(#[from] OcrError),
}

impl From<String> for CleanupError {
    fn from(s: String) -> Self {
        CleanupError::Image(s)
    }
}

/// A cleaned page.
pub struct Cleaned {
    pub pixels: Pixels,
    /// The pixels are exactly as decoded (a blank page kept as evidence, or a page
    /// cleanup found nothing to change on): the original file's image may be embedded.
    pub as_scanned: bool,
    /// The analysis copy of the cleaned, upright page (absent for blank pages), for the
    /// readers that look for shapes rather than text (patch codes).
    pub analysis: Option<Analysis>,
    /// Resolution after cleanup (x and y swap when the page was turned by 90 or 270).
    pub dpi: Dpi,
    pub record: CleanupRecord,
}

/// A 1-bit mask of the very dark pixels (darker than half the paper's tone) of the
/// cleaned page at analysis resolution: deskewed and upright like the page.
pub struct Analysis {
    pub dark: Pix,
    pub dpi: f32,
    /// Page pixels per analysis pixel.
    pub factor: u32,
}

/// Skews smaller than this are not worth a rotation (and its resampling).
const MIN_DESKEW_DEG: f32 = 0.05;
/// Decisions are made on a copy reduced to about this resolution.
pub(crate) const ANALYSIS_DPI: f32 = 150.0;
/// Ink is darker than this share of the local paper tone. Bleed-through (a few gray
/// levels below the paper) and sensor noise are far above it; faded stamps and pencil
/// below.
const INK_SHARE_OF_PAPER: f32 = 0.75;
/// The local paper tone is measured in blocks of this many pixels (at ANALYSIS_DPI).
const PAPER_BLOCK_PX: u32 = 16;
/// Specks: components no larger than this in both directions at ANALYSIS_DPI (about
/// 0.3 mm)...
const SPECK_MAX_PX: i32 = 2;
/// ...with no other ink within this distance (about 2 mm). Dots of i, ä, ö, ü,
/// punctuation and the middle dots of a sender line sit closer than that to letters
/// and are kept (measured: at 1 mm, "·" separators of 8-point text were lost).
const SPECK_ISOLATION_PX: i32 = 12;
/// Below this ink coverage (a stamp, a short note, one line) the skew is not measured.
/// Letter pages cover 1.5-10 % of their centre, almost-blank pages 0.1-0.3 % (measured on
/// generated batches).
pub(crate) const MIN_INK_FOR_SKEW: f32 = 0.005;
/// Leptonica's fast test confirms "upright" only above this up-confidence and when the
/// up/down evidence is this many times stronger than the sideways evidence.
pub(crate) const LEPTONICA_MIN_UP_CONF: f32 = 8.0;
pub(crate) const LEPTONICA_MIN_RATIO: f32 = 2.5;

/// The turn (clockwise degrees) Leptonica's fast ascender/descender test finds clearly,
/// with its confidence: `up` is its evidence for upright (negative: upside down), `left`
/// the same on the page turned by 90 degrees (positive: the page lies turned by 90
/// degrees counter-clockwise, and turns back clockwise). A decision needs
/// [`LEPTONICA_MIN_UP_CONF`] and evidence [`LEPTONICA_MIN_RATIO`] times stronger than the
/// other axis; anything less goes to Tesseract's orientation detection.
fn leptonica_turn(up: f32, left: f32) -> Option<(u32, f32)> {
    let clear = |a: f32, b: f32| {
        a.abs() >= LEPTONICA_MIN_UP_CONF && a.abs() >= LEPTONICA_MIN_RATIO * b.abs()
    };
    if clear(up, left) {
        Some((if up > 0.0 { 0 } else { 180 }, up.abs()))
    } else if clear(left, up) {
        Some((
            if left > 0.0 {
                LEFT_TURN
            } else {
                (LEFT_TURN + 180) % 360
            },
            left.abs(),
        ))
    } else {
        None
    }
}

/// The clockwise turn that sets upright a page whose `left` confidence is positive.
const LEFT_TURN: u32 = 90;

/// Cleans one page and decides whether it is blank.
pub fn clean(
    pixels: Pixels,
    dpi: Dpi,
    settings: &CleanupSettings,
    engine: &mut Engine,
) -> Result<Cleaned, CleanupError> {
    let mut record = CleanupRecord::default();
    let factor = ((dpi.y / ANALYSIS_DPI).round() as u32).max(1);
    let small_dpi = dpi.y / factor as f32;
    let mut small = reduce(&pixels.to_gray(), factor);
    let paper = paper_level(&small);

    // 2. dark scanner edges (found on the reduced copy, whitened on both)
    let borders_small = if settings.remove_borders {
        border::detect(&small, paper)
    } else {
        Borders::default()
    };
    borders_small.whiten(&mut small, paper);
    record.borders = borders_small.scaled(factor, pixels.width(), pixels.height());

    // 3. binarise and despeckle
    let ink = ink_mask(&small)?;
    let (ink, specks) = if settings.despeckle {
        despeckle(ink)?
    } else {
        (ink, Vec::new())
    };
    record.speckles_removed = specks.len();
    // Large dark shapes (punch holes, patch-code bars) are found among pixels far darker
    // than the paper: the block-adaptive ink mask keeps only their rims.
    let dark = Pix::binary_from_gray(&small, paper / 2)?;
    let holes = if settings.remove_punch_holes {
        holes::find(&dark, small_dpi)
    } else {
        Vec::new()
    };
    record.punch_holes_removed = holes.len();

    // 4. blank pages stop here
    record.ink_coverage = blank::ink_coverage(&ink, small_dpi)?;
    if settings.blank_detection {
        if record.ink_coverage < settings.blank_max_ink {
            record.blank = true;
            // Evidence keeps the page as it was scanned.
            return Ok(Cleaned {
                pixels,
                as_scanned: true,
                analysis: None,
                dpi,
                record,
            });
        }
        if record.ink_coverage < settings.blank_max_ink * blank::NEAR_BLANK_FACTOR {
            record.flags.push(Flag::NearBlank);
        }
    }

    // 5. skew
    let mut skew = 0.0;
    if settings.deskew && record.ink_coverage < MIN_INK_FOR_SKEW {
        // A stamp or a few words say nothing reliable about the page's skew (a note is
        // often written at its own angle): leave the page as scanned.
        record.flags.push(Flag::UncertainSkew);
    } else if settings.deskew {
        match find_skew(&ink, settings.min_skew_confidence)? {
            Some((angle, conf)) => {
                record.skew_deg = Some(angle);
                record.skew_confidence = Some(conf);
                if conf >= settings.min_skew_confidence {
                    if angle.abs() >= MIN_DESKEW_DEG {
                        skew = angle;
                        record.deskewed = true;
                    }
                } else {
                    record.flags.push(Flag::UncertainSkew);
                }
            }
            None => record.flags.push(Flag::UncertainSkew),
        }
    }

    // 6. orientation
    let mut turn = 0;
    if settings.orientation {
        let upright_ink = if skew != 0.0 {
            ink.rotate_shear(skew)?
        } else {
            ink
        };
        let leptonica = upright_ink
            .orientation_confidences()
            .and_then(|(up, left)| leptonica_turn(up, left));
        if let Some((rotate_cw, confidence)) = leptonica {
            record.orientation_method = Some("leptonica".into());
            record.orientation_confidence = Some(confidence);
            turn = rotate_cw;
        } else {
            // The whole page: measured, a central crop saved a quarter of the time but
            // left upside-down pages unrecognised.
            let gray_small = if skew != 0.0 {
                Pix::from_gray(&small)?.rotate_gray(skew, paper)?
            } else {
                Pix::from_gray(&small)?
            };
            match engine.detect_orientation(&gray_small, small_dpi.round() as u32)? {
                Some(o) => {
                    record.orientation_method = Some("tesseract".into());
                    record.orientation_confidence = Some(o.confidence);
                    if o.confidence >= settings.min_orientation_confidence {
                        turn = o.rotate_cw;
                    } else {
                        record.flags.push(Flag::UncertainOrientation);
                    }
                }
                None => record.flags.push(Flag::UncertainOrientation),
            }
        }
    }

    // 7. apply to the full page
    let whiten: Vec<Rect> = specks.iter().chain(&holes).copied().collect();
    // Gray pages always get white paper; other pages change only where something was
    // painted over, straightened or turned.
    let as_scanned = whiten.is_empty()
        && record.borders.is_empty()
        && skew == 0.0
        && turn == 0
        && !settings.binarize
        && !(matches!(pixels, Pixels::Gray(_)) && paper < 255);
    let mut pixels = apply(pixels, &record.borders, &whiten, factor, paper, skew)?;
    if settings.binarize && !matches!(pixels, Pixels::Bilevel(_)) {
        pixels = Pixels::Bilevel(binarize(&pixels.to_gray(), dpi.y)?);
        record.binarized = true;
    }
    let mut dpi = dpi;
    if turn != 0 {
        pixels = rotate_quadrant(pixels, turn);
        if turn % 180 == 90 {
            std::mem::swap(&mut dpi.x, &mut dpi.y);
        }
        record.rotation = turn;
    }
    let dark = if skew != 0.0 {
        dark.rotate_shear(skew)?
    } else {
        dark
    };
    let analysis = Analysis {
        dark: if turn != 0 {
            dark.rotate_orth(turn)?
        } else {
            dark
        },
        dpi: small_dpi,
        factor,
    };
    Ok(Cleaned {
        pixels,
        as_scanned,
        analysis: Some(analysis),
        dpi,
        record,
    })
}

/// Leptonica's skew search (sweep at half, search at full analysis resolution, +-7
/// degrees). The search needs horizontal text lines; on a page scanned sideways it finds
/// nothing clear, so it is repeated on the page turned by 90 degrees, and the clearer
/// answer wins. (Turning by 90 degrees does not change a skew angle.)
pub(crate) fn find_skew(ink: &Pix, min_confidence: f32) -> Result<Option<(f32, f32)>, String> {
    let upright = ink.find_skew_with(2, 1, 7.0);
    if upright.is_some_and(|(_, conf)| conf >= min_confidence) {
        return Ok(upright);
    }
    let sideways = ink.rotate90()?.find_skew_with(2, 1, 7.0);
    Ok(match (upright, sideways) {
        (Some(u), Some(s)) => Some(if s.1 > u.1 { s } else { u }),
        (u, s) => u.or(s),
    })
}

/// Adaptive binarisation of the reduced page: a pixel is ink when darker than
/// `INK_SHARE_OF_PAPER` of its block's paper tone (the block's 90th percentile gray), so
/// uneven paper and vignetting do not turn into ink. (Measured: a fifth of the time of
/// Leptonica's Sauvola on the same page, with the same decisions.)
pub(crate) fn ink_mask(small: &GrayImage) -> Result<Pix, String> {
    let (w, h) = small.dimensions();
    let b = PAPER_BLOCK_PX;
    let (bw, bh) = (w.div_ceil(b), h.div_ceil(b));
    let mut hist = vec![[0u16; 256]; (bw * bh) as usize];
    for (y, row) in small.as_raw().chunks_exact(w as usize).enumerate() {
        let base = (y as u32 / b * bw) as usize;
        for (x, &v) in row.iter().enumerate() {
            hist[base + x / b as usize][v as usize] += 1;
        }
    }
    let thresholds: Vec<u8> = hist
        .iter()
        .map(|h| {
            let total: u32 = h.iter().map(|&n| u32::from(n)).sum();
            let mut above = 0;
            let mut paper = 255u8;
            for v in (0..256).rev() {
                above += u32::from(h[v]);
                if above * 10 >= total {
                    paper = v as u8;
                    break;
                }
            }
            (f32::from(paper) * INK_SHARE_OF_PAPER) as u8
        })
        .collect();
    Pix::binary_from(small, |x, y| thresholds[(y / b * bw + x / b) as usize])
}

/// Removes isolated specks from a 1-bit page; returns the cleaned page and the specks'
/// boxes (x, y, w, h).
pub(crate) fn despeckle(ink: Pix) -> Result<(Pix, Vec<Rect>), String> {
    let large = ink.remove_small(SPECK_MAX_PX + 1, SPECK_MAX_PX + 1)?;
    let small = ink.minus(&large)?.component_boxes();
    if small.is_empty() {
        return Ok((ink, small));
    }
    let r = SPECK_ISOLATION_PX;
    let (specks, near_ink): (Vec<_>, Vec<_>) = small
        .into_iter()
        .partition(|&(x, y, w, h)| large.count_in_rect(x - r, y - r, w + 2 * r, h + 2 * r) == 0);
    if near_ink.is_empty() {
        return Ok((large, specks));
    }
    // Put back the small components that belong to writing.
    let cleaned = ink.minus(&Pix::from_boxes_of(&ink, &specks)?)?;
    Ok((cleaned, specks))
}

/// Averages `factor` x `factor` blocks (the last partial blocks included).
pub fn reduce(gray: &GrayImage, factor: u32) -> GrayImage {
    if factor <= 1 {
        return gray.clone();
    }
    let (w, h) = gray.dimensions();
    if factor == 2 && w % 2 == 0 && h % 2 == 0 {
        return reduce_by_two(gray);
    }
    let (sw, sh) = (w.div_ceil(factor), h.div_ceil(factor));
    let mut sums = vec![0u32; (sw * sh) as usize];
    let mut counts = vec![0u32; (sw * sh) as usize];
    for (y, row) in gray.as_raw().chunks_exact(w as usize).enumerate() {
        let base = (y as u32 / factor * sw) as usize;
        for (x, &v) in row.iter().enumerate() {
            let i = base + x / factor as usize;
            sums[i] += u32::from(v);
            counts[i] += 1;
        }
    }
    let data = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| ((s + c / 2) / c.max(1)) as u8)
        .collect();
    GrayImage::from_raw(sw, sh, data).unwrap_or_else(|| GrayImage::new(sw, sh))
}

/// The common case (300 dpi scans, even size), in one pass over pairs of rows.
fn reduce_by_two(gray: &GrayImage) -> GrayImage {
    let (w, h) = gray.dimensions();
    let mut out = Vec::with_capacity((w / 2 * h / 2) as usize);
    for rows in gray.as_raw().chunks_exact(2 * w as usize) {
        let (a, b) = rows.split_at(w as usize);
        out.extend(a.chunks_exact(2).zip(b.chunks_exact(2)).map(|(p, q)| {
            ((u16::from(p[0]) + u16::from(p[1]) + u16::from(q[0]) + u16::from(q[1]) + 2) / 4) as u8
        }));
    }
    GrayImage::from_raw(w / 2, h / 2, out).unwrap_or_else(|| GrayImage::new(w / 2, h / 2))
}

/// The paper's gray level: the median of the page's centre (text covers far less than
/// half of any page).
pub fn paper_level(small: &GrayImage) -> u8 {
    let (w, h) = small.dimensions();
    let mut hist = [0u32; 256];
    for y in h / 6..h * 5 / 6 {
        for x in w / 6..w * 5 / 6 {
            hist[small.get_pixel(x, y)[0] as usize] += 1;
        }
    }
    let total: u32 = hist.iter().sum();
    let mut seen = 0;
    for (v, n) in hist.iter().enumerate() {
        seen += n;
        if seen * 2 >= total {
            return v as u8;
        }
    }
    255
}

/// Applies the decisions to the full page: gray pages get a clean white paper (the
/// paper's tone mapped to white), scanner edges and specks are painted over, and the
/// page is deskewed (by shearing: a third of the time of area mapping, and measured the
/// same for OCR).
fn apply(
    pixels: Pixels,
    borders: &Borders,
    specks: &[Rect],
    factor: u32,
    paper: u8,
    skew: f32,
) -> Result<Pixels, String> {
    let f = factor as i32;
    let (w, h) = (pixels.width() as i32, pixels.height() as i32);
    let mut rects: Vec<Rect> = borders.rects(w, h);
    // A speck's box at full resolution, with one pixel of margin for its anti-aliased rim.
    rects.extend(
        specks
            .iter()
            .map(|&(x, y, bw, bh)| (x * f - 1, y * f - 1, bw * f + 2, bh * f + 2)),
    );
    Ok(match pixels {
        Pixels::Gray(mut g) => {
            whiten_paper(&mut g, paper);
            paint(&mut g, &rects, image::Luma([255]));
            if skew != 0.0 {
                // each copy dropped as soon as the next exists: a worker's peak is what
                // limits memory (a colour page is 26 MB as RGB, 35 MB as a Pix)
                let pix = Pix::from_gray(&g)?;
                drop(g);
                g = pix.rotate_shear(skew)?.to_gray()?;
            }
            Pixels::Gray(g)
        }
        Pixels::Bilevel(mut g) => {
            paint(&mut g, &rects, image::Luma([255]));
            if skew != 0.0 {
                g = Pix::binary_from_gray(&g, 128)?
                    .rotate_shear(skew)?
                    .to_bilevel()?;
            }
            Pixels::Bilevel(g)
        }
        Pixels::Rgb(mut c) => {
            // Colour pages keep their paper (a stamp's colour may matter).
            paint(&mut c, &rects, image::Rgb([paper; 3]));
            if skew != 0.0 {
                rotate_planes(&mut c, skew)?;
            }
            Pixels::Rgb(c)
        }
    })
}

/// Rotates a colour page clockwise by `degrees` (area mapping, white at the corners) one
/// 8-bit plane at a time, each written back in place. As one 32-bit Leptonica image the
/// page would be 35 MB twice over (source and result, at A4 and 300 dpi); this way the
/// peak is the page (26 MB) and two planes of 9 MB.
fn rotate_planes(c: &mut RgbImage, degrees: f32) -> Result<(), String> {
    let (w, h) = c.dimensions();
    for channel in 0..3 {
        let plane: Vec<u8> = c
            .as_raw()
            .iter()
            .skip(channel)
            .step_by(3)
            .copied()
            .collect();
        let plane = GrayImage::from_raw(w, h, plane).ok_or("plane size")?;
        let pix = Pix::from_gray(&plane)?;
        drop(plane);
        let turned = pix.rotate_gray(degrees, 255)?;
        drop(pix);
        let turned = turned.to_gray()?;
        for (px, &v) in c.chunks_exact_mut(3).zip(turned.as_raw()) {
            px[channel] = v;
        }
    }
    Ok(())
}

/// Paints rectangles (clipped to the image) with one colour.
pub(crate) fn paint<P: image::Pixel>(
    img: &mut image::ImageBuffer<P, Vec<P::Subpixel>>,
    rects: &[Rect],
    value: P,
) {
    let (w, h) = (img.width() as i32, img.height() as i32);
    for &(x, y, rw, rh) in rects {
        for yy in y.clamp(0, h)..(y + rh).clamp(0, h) {
            for xx in x.clamp(0, w)..(x + rw).clamp(0, w) {
                img.put_pixel(xx as u32, yy as u32, value);
            }
        }
    }
}

/// Sauvola binarisation of a full page: a window of about 2.5 mm, Leptonica's usual factor.
fn binarize(gray: &GrayImage, dpi: f32) -> Result<GrayImage, String> {
    let half_window = ((dpi / 25.4 * 1.25).round() as i32).max(2);
    Pix::from_gray(gray)?
        .sauvola(half_window, 0.34)?
        .to_bilevel()
}

/// Maps the paper's tone to white and stretches the grays below it in proportion.
fn whiten_paper(g: &mut GrayImage, paper: u8) {
    if paper == 0 || paper == 255 {
        return;
    }
    let lut: Vec<u8> = (0..=255u32)
        .map(|v| (v * 255 / u32::from(paper)).min(255) as u8)
        .collect();
    for p in g.iter_mut() {
        *p = lut[*p as usize];
    }
}

/// Rotates clockwise by 90, 180 or 270 degrees, exactly (no resampling).
fn rotate_quadrant(pixels: Pixels, degrees: u32) -> Pixels {
    use image::imageops::{rotate180, rotate270, rotate90};
    match (pixels, degrees) {
        (Pixels::Gray(g), 90) => Pixels::Gray(rotate90(&g)),
        (Pixels::Gray(g), 180) => Pixels::Gray(rotate180(&g)),
        (Pixels::Gray(g), 270) => Pixels::Gray(rotate270(&g)),
        (Pixels::Bilevel(g), 90) => Pixels::Bilevel(rotate90(&g)),
        (Pixels::Bilevel(g), 180) => Pixels::Bilevel(rotate180(&g)),
        (Pixels::Bilevel(g), 270) => Pixels::Bilevel(rotate270(&g)),
        (Pixels::Rgb(c), 90) => Pixels::Rgb(rotate90(&c)),
        (Pixels::Rgb(c), 180) => Pixels::Rgb(rotate180(&c)),
        (Pixels::Rgb(c), 270) => Pixels::Rgb(rotate270(&c)),
        (p, _) => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leptonica_decides_only_clear_orientations() {
        assert_eq!(leptonica_turn(12.0, 1.0), Some((0, 12.0)));
        assert_eq!(leptonica_turn(-12.0, 1.0), Some((180, 12.0)));
        assert_eq!(leptonica_turn(1.0, 12.0), Some((90, 12.0)));
        assert_eq!(leptonica_turn(1.0, -12.0), Some((270, 12.0)));
        assert_eq!(leptonica_turn(7.0, 0.0), None, "too little evidence");
        assert_eq!(leptonica_turn(12.0, 6.0), None, "both axes speak");
        assert_eq!(leptonica_turn(f32::NAN, 1.0), None);
    }

    #[test]
    fn reduce_averages_blocks() {
        let img = GrayImage::from_fn(5, 3, |x, _| image::Luma([if x < 2 { 0 } else { 200 }]));
        let r = reduce(&img, 2);
        assert_eq!(r.dimensions(), (3, 2));
        assert_eq!(r.get_pixel(0, 0)[0], 0);
        assert_eq!(r.get_pixel(1, 0)[0], 200);
        assert_eq!(r.get_pixel(2, 1)[0], 200);
        // the fast path for even sizes agrees with the general one
        let img = GrayImage::from_fn(6, 4, |x, y| image::Luma([(x * 40 + y * 7) as u8]));
        let fast = reduce(&img, 2);
        let general: Vec<u8> = (0..2u32)
            .flat_map(|y| (0..3u32).map(move |x| (x, y)))
            .map(|(x, y)| {
                let s: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                    .iter()
                    .map(|(dx, dy)| u32::from(img.get_pixel(2 * x + dx, 2 * y + dy)[0]))
                    .sum();
                ((s + 2) / 4) as u8
            })
            .collect();
        assert_eq!(fast.as_raw(), &general);
    }

    #[test]
    fn paper_level_ignores_text() {
        let mut img = GrayImage::from_pixel(120, 160, image::Luma([231]));
        for y in (30..130).step_by(10) {
            for x in 25..95 {
                img.put_pixel(x, y, image::Luma([20]));
            }
        }
        assert_eq!(paper_level(&img), 231);
    }

    #[test]
    fn apply_whitens_paper_edges_and_specks() {
        let img = GrayImage::from_pixel(40, 30, image::Luma([120]));
        let borders = Borders {
            left: 4,
            ..Borders::default()
        };
        let out = apply(Pixels::Gray(img), &borders, &[(10, 10, 1, 1)], 2, 240, 0.0).unwrap();
        let Pixels::Gray(g) = out else { panic!() };
        assert_eq!(g.get_pixel(3, 15)[0], 255, "edge painted white");
        assert_eq!(
            g.get_pixel(4, 15)[0],
            127,
            "gray stretched: 120 * 255 / 240"
        );
        assert_eq!(
            g.get_pixel(20, 20)[0],
            255,
            "speck at (10,10) reduced = (20,20) full"
        );
        assert_eq!(g.get_pixel(23, 23)[0], 127);
    }

    #[test]
    fn colour_pages_turn_plane_by_plane_as_leptonica_turns_them_whole() {
        let c = RgbImage::from_fn(301, 207, |x, y| {
            let ink = (x / 10 + y / 13) % 3 == 0;
            image::Rgb(if ink {
                [(x % 256) as u8, 40, (y % 256) as u8]
            } else {
                [250, 245, 235]
            })
        });
        let whole = Pix::from_rgb(&c)
            .unwrap()
            .rotate(2.5)
            .unwrap()
            .to_rgb()
            .unwrap();
        let mut planes = c.clone();
        rotate_planes(&mut planes, 2.5).unwrap();
        let worst = crate::model::max_sample_difference(whole.as_raw(), planes.as_raw());
        assert!(worst <= 1, "differs by up to {worst}");
        assert_ne!(planes, c, "turned");
    }

    #[test]
    fn bilevel_pages_are_deskewed_and_stay_bilevel() {
        let mut img = GrayImage::from_pixel(400, 300, image::Luma([255]));
        for x in 50..350 {
            for y in 150..156 {
                img.put_pixel(x, y, image::Luma([0]));
            }
        }
        let out = apply(Pixels::Bilevel(img), &Borders::default(), &[], 2, 255, 3.0).unwrap();
        let Pixels::Bilevel(g) = out else { panic!() };
        assert!(g.pixels().all(|p| p[0] == 0 || p[0] == 255));
        // turned clockwise: the line's right end went down, its left end up
        let ink_rows = |x: u32| {
            (0..300)
                .filter(|&y| g.get_pixel(x, y)[0] == 0)
                .min()
                .unwrap()
        };
        assert!(ink_rows(330) > ink_rows(70) + 10);
    }
}

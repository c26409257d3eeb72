//! Cleanup before OCR: deskew and orientation, each with a confidence; a page whose
//! angle or orientation is not clearly found is left as it is and flagged, never guessed.
//!
//! Why this runs before OCR: Tesseract silently drops whole paragraphs on pages skewed by
//! 2.5-3 degrees, and reads an upside-down page as garbage. (Despeckle, borders,
//! binarisation and blank-page detection come with issue 3.)

use image::GrayImage;
use serde::{Deserialize, Serialize};

use crate::config::CleanupSettings;
use crate::leptonica::Pix;
use crate::model::{Dpi, Pixels};
use crate::ocr::{Engine, OcrError};

/// What cleanup found and did on one page; part of the page's JSON record.
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
    /// Tesseract's orientation confidence, when detection ran and found text.
    pub orientation_confidence: Option<f32>,
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
}

/// Skews smaller than this are not worth a rotation (and its resampling).
const MIN_DESKEW_DEG: f32 = 0.05;

/// Orientation detection runs on a reduced copy: it needs shapes, not detail.
const ORIENTATION_SCALE: f32 = 0.5;

/// Cleans one page. Returns the new pixels, its resolution (swapped for 90/270) and the
/// record of what was done.
pub fn clean(
    pixels: Pixels,
    dpi: Dpi,
    settings: &CleanupSettings,
    engine: &mut Engine,
) -> Result<(Pixels, Dpi, CleanupRecord), CleanupError> {
    let mut record = CleanupRecord::default();
    let mut pixels = pixels;
    let mut dpi = dpi;

    if settings.deskew {
        let gray = pixels.to_gray();
        let threshold = imageproc::contrast::otsu_level(&gray).max(1);
        let found = Pix::binary_from_gray(&gray, threshold)?.find_skew();
        drop(gray);
        match found {
            Some((angle, conf)) if conf >= settings.min_skew_confidence => {
                // Leptonica's angle is the clockwise turn that deskews; the content is
                // therefore turned counter-clockwise by the same amount.
                record.skew_deg = Some(angle);
                record.skew_confidence = Some(conf);
                if angle.abs() >= MIN_DESKEW_DEG {
                    pixels = rotate_fine(&pixels, angle)?;
                    record.deskewed = true;
                }
            }
            Some((angle, conf)) => {
                record.skew_deg = Some(angle);
                record.skew_confidence = Some(conf);
                record.flags.push(Flag::UncertainSkew);
            }
            None => record.flags.push(Flag::UncertainSkew),
        }
    }

    if settings.orientation {
        let gray = pixels.to_gray();
        let small = Pix::from_gray(&gray)?.scale(ORIENTATION_SCALE)?;
        drop(gray);
        let osd_dpi = (dpi.y * ORIENTATION_SCALE).round().max(1.0) as u32;
        match engine.detect_orientation(&small, osd_dpi)? {
            Some(o) => {
                record.orientation_confidence = Some(o.confidence);
                if o.confidence < settings.min_orientation_confidence {
                    if o.rotate_cw != 0 {
                        record.flags.push(Flag::UncertainOrientation);
                    }
                } else if o.rotate_cw != 0 {
                    pixels = rotate_quadrant(pixels, o.rotate_cw);
                    if o.rotate_cw % 180 == 90 {
                        std::mem::swap(&mut dpi.x, &mut dpi.y);
                    }
                    record.rotation = o.rotate_cw;
                }
            }
            None => record.flags.push(Flag::UncertainOrientation),
        }
    }
    Ok((pixels, dpi, record))
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

/// Rotates clockwise by a small angle, keeping the page size, white coming in.
fn rotate_fine(pixels: &Pixels, degrees: f32) -> Result<Pixels, String> {
    Ok(match pixels {
        Pixels::Gray(g) => Pixels::Gray(Pix::from_gray(g)?.rotate(degrees)?.to_gray()?),
        Pixels::Rgb(c) => Pixels::Rgb(Pix::from_rgb(c)?.rotate(degrees)?.to_rgb()?),
        Pixels::Bilevel(b) => {
            // Rotate as gray (area mapping keeps strokes smooth), then threshold back.
            let mut g: GrayImage = Pix::from_gray(b)?.rotate(degrees)?.to_gray()?;
            for p in g.pixels_mut() {
                p[0] = if p[0] < 128 { 0 } else { 255 };
            }
            Pixels::Bilevel(g)
        }
    })
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

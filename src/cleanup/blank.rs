//! Blank-page detection: how much of the page's centre is covered by ink that looks
//! like writing, after binarisation (Sauvola: bleed-through and paper tone are not ink)
//! and despeckle.
//!
//! Only components at least 1 mm tall or wide count, so scattered dust adds nothing,
//! while a single stamp, a one-word note or one typed line adds clearly more than any
//! blank back. An 18 mm margin on every side is left out: punch holes, staples and
//! scanner edges live there. The threshold is the profile's `cleanup.blank_max_ink`.

use crate::leptonica::Pix;

/// Margin left out on every side, in millimetres: punch holes reach 15 mm into the paper,
/// on whichever side of the scan the paper's edge lies (top or bottom for a sideways page).
const MARGIN_MM: f32 = 18.0;
/// Smallest component that counts as ink, in millimetres (either dimension).
const MIN_INK_MM: f32 = 1.0;
/// Pages whose coverage is below this many times the blank threshold are flagged
/// `near_blank` (kept, but worth a look).
pub const NEAR_BLANK_FACTOR: f32 = 5.0;

/// Share (0-1) of the centre area covered by writing-sized ink components.
pub fn ink_coverage(ink: &Pix, dpi: f32) -> Result<f32, String> {
    let min_px = ((MIN_INK_MM / 25.4 * dpi).round() as i32).max(1);
    let writing = ink.remove_small(min_px, min_px)?;
    let (w, h) = (ink.width() as i32, ink.height() as i32);
    let margin = (MARGIN_MM / 25.4 * dpi).round() as i32;
    let (rw, rh) = (w - 2 * margin, h - 2 * margin);
    if rw <= 0 || rh <= 0 {
        return Ok(0.0);
    }
    let count = writing.count_in_rect(margin, margin, rw, rh);
    Ok(count as f32 / (rw as f32 * rh as f32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::GrayImage;

    fn coverage(img: &GrayImage) -> f32 {
        let ink = Pix::binary_from_gray(img, 128).unwrap();
        ink_coverage(&ink, 150.0).unwrap()
    }

    #[test]
    fn dust_and_margins_do_not_count_but_a_short_word_does() {
        let mut img = GrayImage::from_pixel(1240, 1754, image::Luma([240]));
        // dust: single pixels all over
        for i in 0..400u32 {
            img.put_pixel((i * 97) % 1240, (i * 53) % 1754, image::Luma([0]));
        }
        // punch holes in the left margin
        for y in 700..735 {
            for x in 60..95 {
                img.put_pixel(x, y, image::Luma([20]));
            }
        }
        assert_eq!(coverage(&img), 0.0);
        // one short word: five letters 15 px tall
        for letter in 0..5 {
            for y in 500..515 {
                for x in 400 + letter * 12..403 + letter * 12 {
                    img.put_pixel(x, y, image::Luma([30]));
                }
            }
        }
        let c = coverage(&img);
        assert!(c > 0.00005, "{c}");
    }
}

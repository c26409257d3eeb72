//! Dark scanner edges: the black or gray bands a scanner leaves along the sides of the
//! image where the paper did not cover the glass (or was narrower than the scan area).
//!
//! A side has an edge when most of its rows (or columns) start with a run of dark pixels
//! at the very edge of the image; its width is the 95th percentile of those runs plus a
//! little for the gray transition. Content never starts at the image edge of a letter
//! (DIN 5008 margins are 20 mm and more), and the width is capped, so a dark photo or
//! table near the edge is not mistaken for the scanner's lid.

use image::GrayImage;

use crate::leptonica::Rect;
use serde::{Deserialize, Serialize};

/// Widths of dark edges per side, in pixels.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Borders {
    pub left: u32,
    pub right: u32,
    pub top: u32,
    pub bottom: u32,
}

/// Share of rows (columns) that must start dark for a side to have an edge.
const MIN_SHARE: f64 = 0.6;
/// An edge is at most this share of the image's width (height).
const MAX_SHARE: f64 = 0.08;
/// Pixels added for the gray transition between edge and paper.
const TRANSITION_PX: u32 = 2;

impl Borders {
    pub fn is_empty(&self) -> bool {
        *self == Borders::default()
    }

    /// The same edges at full resolution (`factor` times larger), clipped to the image.
    pub fn scaled(&self, factor: u32, width: u32, height: u32) -> Borders {
        Borders {
            left: (self.left * factor).min(width),
            right: (self.right * factor).min(width),
            top: (self.top * factor).min(height),
            bottom: (self.bottom * factor).min(height),
        }
    }

    /// The edges as rectangles (x, y, w, h) of an image of the given size.
    pub fn rects(&self, w: i32, h: i32) -> Vec<Rect> {
        let (l, r, t, b) = (
            self.left as i32,
            self.right as i32,
            self.top as i32,
            self.bottom as i32,
        );
        [
            (0, 0, l, h),
            (w - r, 0, r, h),
            (0, 0, w, t),
            (0, h - b, w, b),
        ]
        .into_iter()
        .filter(|&(_, _, rw, rh)| rw > 0 && rh > 0)
        .collect()
    }

    /// Paints the edges with the paper's tone.
    pub fn whiten(&self, img: &mut GrayImage, paper: u8) {
        let rects = self.rects(img.width() as i32, img.height() as i32);
        super::paint(img, &rects, image::Luma([paper]));
    }
}

/// Finds dark edges on a (reduced) gray page whose paper has the tone `paper`.
pub fn detect(img: &GrayImage, paper: u8) -> Borders {
    let dark = (f32::from(paper) * 0.6) as u8;
    let (w, h) = img.dimensions();
    let is_dark = |x: u32, y: u32| img.get_pixel(x, y)[0] < dark;
    let max_x = ((f64::from(w) * MAX_SHARE) as u32).max(1);
    let max_y = ((f64::from(h) * MAX_SHARE) as u32).max(1);
    Borders {
        left: side(h, max_x, |row, i| is_dark(i, row)),
        right: side(h, max_x, |row, i| is_dark(w - 1 - i, row)),
        top: side(w, max_y, is_dark),
        bottom: side(w, max_y, |col, i| is_dark(col, h - 1 - i)),
    }
}

/// One side: `lines` rows (or columns) crossing it; `dark(line, i)` tells whether the
/// pixel `i` steps in from the edge on that line is dark.
fn side(lines: u32, max: u32, dark: impl Fn(u32, u32) -> bool) -> u32 {
    let runs: Vec<u32> = (0..lines)
        .map(|line| (0..max).take_while(|&i| dark(line, i)).count() as u32)
        .collect();
    let starting_dark = runs.iter().filter(|&&r| r > 0).count();
    if (starting_dark as f64) < MIN_SHARE * f64::from(lines) {
        return 0;
    }
    let mut sorted = runs;
    sorted.sort_unstable();
    let p95 = sorted[(sorted.len() * 95 / 100).min(sorted.len() - 1)];
    (p95 + TRANSITION_PX).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> GrayImage {
        let mut img = GrayImage::from_pixel(200, 280, image::Luma([235]));
        // a text line near (not at) the left margin
        for x in 20..150 {
            for y in 50..54 {
                img.put_pixel(x, y, image::Luma([30]));
            }
        }
        img
    }

    #[test]
    fn clean_page_has_no_edges() {
        assert!(detect(&page(), 235).is_empty());
    }

    #[test]
    fn irregular_left_edge_and_bottom_band_are_found() {
        let mut img = page();
        for y in 0..280 {
            let width = 5 + (y * 7 % 5); // 5..9 pixels, irregular
            for x in 0..width {
                img.put_pixel(x, y, image::Luma([15]));
            }
        }
        for y in 272..280 {
            for x in 0..200 {
                img.put_pixel(x, y, image::Luma([25]));
            }
        }
        let b = detect(&img, 235);
        assert!(b.left >= 9 && b.left <= 12, "{b:?}");
        assert!(b.bottom >= 8 && b.bottom <= 11, "{b:?}");
        assert_eq!((b.right, b.top), (0, 0));
        let mut cleaned = img.clone();
        b.whiten(&mut cleaned, 235);
        assert_eq!(cleaned.get_pixel(8, 100)[0], 235);
        assert_eq!(cleaned.get_pixel(40, 52)[0], 30, "text stays");
    }

    #[test]
    fn a_dark_block_touching_one_edge_briefly_is_not_an_edge() {
        let mut img = page();
        for y in 100..140 {
            for x in 0..30 {
                img.put_pixel(x, y, image::Luma([0]));
            }
        }
        assert_eq!(detect(&img, 235).left, 0);
    }
}

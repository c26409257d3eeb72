//! Punch holes: round dark spots of 4-9 mm in the margin along the paper's edges, where
//! the black scanner lid shows through the holes of a filed letter. Found on the reduced
//! ink image as components of that size whose bounding box they fill like a disc does
//! (about 79 %), and whose box lies within the margin band of a side.

use crate::leptonica::{Pix, Rect};

/// Diameter of a punch hole in millimetres (ISO 838: 5.5-6 mm; tolerance for skew and
/// scanner blur).
const MIN_MM: f32 = 4.0;
const MAX_MM: f32 = 9.0;
/// Holes lie within this distance of the paper's edge.
const MARGIN_MM: f32 = 20.0;

/// The boxes (x, y, w, h) of punch holes on a reduced 1-bit page at `dpi` whose set
/// pixels are the very dark ones.
pub fn find(ink: &Pix, dpi: f32) -> Vec<Rect> {
    let px = |mm: f32| (mm / 25.4 * dpi).round() as i32;
    let (min, max, margin) = (px(MIN_MM), px(MAX_MM), px(MARGIN_MM));
    let (w, h) = (ink.width() as i32, ink.height() as i32);
    ink.component_boxes()
        .into_iter()
        .filter(|&(x, y, bw, bh)| {
            let round = (min..=max).contains(&bw)
                && (min..=max).contains(&bh)
                && (bw - bh).abs() * 4 <= bw.max(bh);
            let in_margin =
                x + bw <= margin || y + bh <= margin || x >= w - margin || y >= h - margin;
            round && in_margin && {
                let fill = ink.count_in_rect(x, y, bw, bh) as f32 / (bw * bh) as f32;
                (0.65..=0.92).contains(&fill)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::GrayImage;

    fn disc(img: &mut GrayImage, cx: i32, cy: i32, r: i32) {
        for y in cy - r..=cy + r {
            for x in cx - r..=cx + r {
                if (x - cx).pow(2) + (y - cy).pow(2) <= r * r {
                    img.put_pixel(x as u32, y as u32, image::Luma([15]));
                }
            }
        }
    }

    #[test]
    fn holes_in_the_margin_are_found_and_round_shapes_in_the_text_are_not() {
        // 150 dpi A4; a hole is 6 mm = 35 px across
        let mut img = GrayImage::from_pixel(1240, 1754, image::Luma([240]));
        disc(&mut img, 71, 640, 17); // 12 mm from the left edge
        disc(&mut img, 71, 1113, 17);
        disc(&mut img, 600, 800, 17); // a round logo in the middle of the page
        for y in 300..320 {
            for x in 20..90 {
                img.put_pixel(x, y, image::Luma([20])); // a bar in the margin: not round
            }
        }
        let ink = Pix::binary_from_gray(&img, 128).unwrap();
        let holes = find(&ink, 150.0);
        assert_eq!(holes.len(), 2, "{holes:?}");
        assert!(holes.iter().all(|&(x, _, _, _)| x < 100));
    }
}

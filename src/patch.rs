//! Kodak patch codes, decoded from the page image.
//!
//! A patch code is four parallel black bars, each wide (5.1 mm) or narrow (2.0 mm),
//! separated by narrow spaces (2.0 mm), at least 19 mm long. Every arrangement of two wide
//! and two narrow bars is one of the six codes:
//!
//! | code | bars |   | code | bars |
//! |---|---|---|---|---|
//! | Patch 1 | W W N N | | Patch 4 | N W W N |
//! | Patch 2 | W N N W | | Patch 6 | N N W W |
//! | Patch 3 | W N W N | | Patch T | N W N W |
//!
//! Bars are read from the sheet edge they are printed at (the leading edge in the
//! scanner): a patch code in the top half of the upright page is read top to bottom, one
//! in the bottom half bottom to top, and bars running along the sheet left to right or
//! right to left. Reading from the wrong end would turn Patch 1 into 6 and Patch 3 into
//! T; reading from the nearer edge gets it right even on a sheet whose orientation
//! cleanup could not tell (a patch sheet without text).
//!
//! The decoder looks at a 1-bit mask of very dark pixels at analysis resolution: bars are
//! solid rectangles of the right size, four of them in a row with narrow gaps, and
//! nothing else dark right beside them. A barcode (many thin bars), a table rule (thin),
//! a scanner edge (one bar, no partners) or a bold heading (not solid) does not qualify.

use serde::{Deserialize, Serialize};

use crate::leptonica::{Pix, Rect};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum PatchType {
    #[serde(rename = "patch_1")]
    Patch1,
    #[serde(rename = "patch_2")]
    Patch2,
    #[serde(rename = "patch_3")]
    Patch3,
    #[serde(rename = "patch_4")]
    Patch4,
    #[serde(rename = "patch_6")]
    Patch6,
    #[serde(rename = "patch_t")]
    PatchT,
}

impl PatchType {
    pub const ALL: [PatchType; 6] = [
        PatchType::Patch1,
        PatchType::Patch2,
        PatchType::Patch3,
        PatchType::Patch4,
        PatchType::Patch6,
        PatchType::PatchT,
    ];

    /// The bars, wide = true, from the leading edge.
    pub fn bars(self) -> [bool; 4] {
        const W: bool = true;
        const N: bool = false;
        match self {
            PatchType::Patch1 => [W, W, N, N],
            PatchType::Patch2 => [W, N, N, W],
            PatchType::Patch3 => [W, N, W, N],
            PatchType::Patch4 => [N, W, W, N],
            PatchType::Patch6 => [N, N, W, W],
            PatchType::PatchT => [N, W, N, W],
        }
    }

    pub fn from_bars(bars: [bool; 4]) -> Option<PatchType> {
        PatchType::ALL.into_iter().find(|p| p.bars() == bars)
    }

    /// True for the codes that read differently from the other end (1/6 and 3/T).
    pub fn depends_on_direction(self) -> bool {
        let mut reversed = self.bars();
        reversed.reverse();
        PatchType::from_bars(reversed) != Some(self)
    }
}

/// A patch code found on a page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PatchCode {
    #[serde(rename = "type")]
    pub kind: PatchType,
    /// Where the four bars are, in pixels of the analysis image scaled to the page:
    /// x, y, width, height on the upright page.
    pub bbox: Rect,
    /// Bar thicknesses in millimetres, from the leading edge.
    pub bars_mm: [f32; 4],
}

/// Nominal sizes (mm) and the tolerances accepted for print, scan and threshold.
const WIDE_MM: f32 = 5.1;
const NARROW_MM: f32 = 2.0;
const MIN_LENGTH_MM: f32 = 17.0;
const MIN_THICK_MM: f32 = 1.3;
const MAX_THICK_MM: f32 = 6.8;
/// Between a narrow and a wide bar (their geometric mean is 3.2 mm).
const WIDE_FROM_MM: f32 = 3.5;
const NARROW_UP_TO_MM: f32 = 3.0;
const MIN_GAP_MM: f32 = 1.0;
const MAX_GAP_MM: f32 = 3.4;
/// A bar on a page skewed by up to this many degrees is still a bar: its box is then
/// wider than the bar by its length times the sine of the angle.
const MAX_SKEW_DEG: f32 = 6.0;
/// Nothing else dark within this distance of the group, along the reading axis.
const CLEARANCE_MM: f32 = 4.0;

/// A candidate bar: a solid dark rectangle, possibly a little tilted.
#[derive(Debug, Clone, Copy)]
struct Bar {
    rect: Rect,
    /// Bar runs left-right (stacked top to bottom).
    across: bool,
    /// Thickness in pixels, from its area and length (true also when tilted).
    thick: f32,
    long: i32,
    ink: u64,
}

impl Bar {
    /// Centre along the reading axis.
    fn centre(&self) -> f32 {
        let (x, y, w, h) = self.rect;
        if self.across {
            y as f32 + h as f32 / 2.0
        } else {
            x as f32 + w as f32 / 2.0
        }
    }

    /// Start and end along the bar.
    fn extent(&self) -> (i32, i32) {
        let (x, y, w, h) = self.rect;
        if self.across {
            (x, x + w)
        } else {
            (y, y + h)
        }
    }
}

/// Finds a patch code on the 1-bit mask of very dark pixels of an upright page at
/// `dpi`; `scale` converts mask pixels to page pixels for the reported box.
pub fn find(dark: &Pix, dpi: f32, scale: i32) -> Option<PatchCode> {
    let mm = |px: i32| px as f32 * 25.4 / dpi;
    let bars: Vec<Bar> = dark
        .component_boxes()
        .into_iter()
        .filter_map(|rect| {
            let (_, _, w, h) = rect;
            let (long, short) = (w.max(h), w.min(h));
            if mm(long) < MIN_LENGTH_MM {
                return None;
            }
            let ink = dark.count_in_rect(rect.0, rect.1, w, h);
            let thick = ink as f32 / long as f32;
            let tilt = long as f32 * MAX_SKEW_DEG.to_radians().sin();
            let solid = short as f32 <= thick * 1.15 + tilt + 1.0;
            let t = thick * 25.4 / dpi;
            (solid && (MIN_THICK_MM..=MAX_THICK_MM).contains(&t)).then_some(Bar {
                rect,
                across: w >= h,
                thick,
                long,
                ink,
            })
        })
        .collect();
    for across in [true, false] {
        let mut line: Vec<Bar> = bars
            .iter()
            .copied()
            .filter(|b| b.across == across)
            .collect();
        line.sort_by(|a, b| a.centre().total_cmp(&b.centre()));
        for group in line.windows(4) {
            if let Some(code) = decode_group(group, dark, dpi, scale) {
                return Some(code);
            }
        }
    }
    None
}

fn decode_group(group: &[Bar], dark: &Pix, dpi: f32, scale: i32) -> Option<PatchCode> {
    let px = |mm: f32| (mm / 25.4 * dpi).round() as i32;
    // parallel neighbours: similar length, overlapping along the bar, narrow gaps
    let longest = group.iter().map(|b| b.long).max()?;
    for pair in group.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // from centres and thicknesses: boxes of tilted bars overlap, their bars do not
        let gap = b.centre() - a.centre() - (a.thick + b.thick) / 2.0;
        if !(MIN_GAP_MM..=MAX_GAP_MM).contains(&(gap * 25.4 / dpi)) {
            return None;
        }
        let overlap = a.extent().1.min(b.extent().1) - a.extent().0.max(b.extent().0);
        if (overlap as f32) < 0.85 * a.long.min(b.long) as f32 {
            return None;
        }
    }
    if group
        .iter()
        .any(|b| (b.long as f32) < 0.85 * longest as f32)
    {
        return None;
    }
    // wide or narrow, nothing in between
    let mut wide = [false; 4];
    let mut bars_mm = [0f32; 4];
    for (i, b) in group.iter().enumerate() {
        let t = b.thick * 25.4 / dpi;
        bars_mm[i] = (t * 10.0).round() / 10.0;
        wide[i] = if t >= WIDE_FROM_MM {
            true
        } else if t <= NARROW_UP_TO_MM {
            false
        } else {
            return None;
        };
    }
    // Read from the nearer sheet edge: a patch code is printed at the leading edge, so
    // one in the far half of the page belongs to a sheet that lies turned.
    let centre = (group[0].centre() + group[3].centre()) / 2.0;
    let size = if group[0].across {
        dark.height()
    } else {
        dark.width()
    };
    if centre > size as f32 / 2.0 {
        wide.reverse();
        bars_mm.reverse();
    }
    let kind = PatchType::from_bars(wide)?;
    // nothing else dark beside the group along the reading axis (a barcode continues)
    let (x0, y0) = (
        group.iter().map(|b| b.rect.0).min()?,
        group.iter().map(|b| b.rect.1).min()?,
    );
    let x1 = group.iter().map(|b| b.rect.0 + b.rect.2).max()?;
    let y1 = group.iter().map(|b| b.rect.1 + b.rect.3).max()?;
    let c = px(CLEARANCE_MM);
    let (ex, ey) = if group[0].across { (0, c) } else { (c, 0) };
    let around = dark.count_in_rect(x0 - ex, y0 - ey, x1 - x0 + 2 * ex, y1 - y0 + 2 * ey);
    let own: u64 = group.iter().map(|b| b.ink).sum();
    if around as f32 > own as f32 * 1.03 + 4.0 {
        return None;
    }
    Some(PatchCode {
        kind,
        bbox: (x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale),
        bars_mm,
    })
}

/// Draws a patch code's bars (dark = 0) into a gray image at `dpi`, top-left corner at
/// (x, y) in pixels, bars across the sheet. Used by the sample generator and the
/// cover-sheet printer, and by the tests.
pub fn draw(img: &mut image::GrayImage, kind: PatchType, x: u32, y: u32, length_mm: f32, dpi: f32) {
    let px = |mm: f32| (mm / 25.4 * dpi).round() as u32;
    let mut top = y;
    for wide in kind.bars() {
        let t = px(if wide { WIDE_MM } else { NARROW_MM });
        for yy in top..(top + t).min(img.height()) {
            for xx in x..(x + px(length_mm)).min(img.width()) {
                img.put_pixel(xx, yy, image::Luma([0]));
            }
        }
        top += t + px(NARROW_MM);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::GrayImage;

    const DPI: f32 = 150.0;

    fn page() -> GrayImage {
        GrayImage::from_pixel(1240, 1754, image::Luma([240]))
    }

    fn read(img: &GrayImage) -> Option<PatchType> {
        let dark = Pix::binary_from_gray(img, 120).unwrap();
        find(&dark, DPI, 2).map(|p| p.kind)
    }

    #[test]
    fn every_code_is_read_across_and_along_the_sheet() {
        for kind in PatchType::ALL {
            let mut img = page();
            draw(&mut img, kind, 400, 300, 25.0, DPI);
            assert_eq!(read(&img), Some(kind), "{kind:?} across");
            // bars along the sheet: the page turned by 90 degrees counter-clockwise
            // puts the leading bar at the left
            let along = image::imageops::rotate270(&img);
            assert_eq!(read(&along), Some(kind), "{kind:?} along");
        }
    }

    #[test]
    fn codes_are_read_from_the_nearer_edge_so_turned_sheets_read_right() {
        for kind in [PatchType::Patch3, PatchType::Patch1] {
            let mut img = page();
            draw(&mut img, kind, 400, 300, 25.0, DPI);
            assert_eq!(read(&image::imageops::rotate180(&img)), Some(kind));
            assert_eq!(read(&image::imageops::rotate90(&img)), Some(kind));
        }
        // the same bars low on the page are read from the bottom edge: 3 reads as T
        let mut img = page();
        draw(&mut img, PatchType::Patch3, 400, 1300, 25.0, DPI);
        assert_eq!(read(&img), Some(PatchType::PatchT));
        assert!(PatchType::Patch1.depends_on_direction());
        assert!(!PatchType::Patch2.depends_on_direction());
        assert!(!PatchType::Patch4.depends_on_direction());
    }

    #[test]
    fn skewed_patches_are_read() {
        for (kind, degrees) in [
            (PatchType::Patch1, 5.0f32),
            (PatchType::PatchT, -4.0),
            (PatchType::Patch3, 2.5),
        ] {
            let mut img = page();
            draw(&mut img, kind, 400, 600, 30.0, DPI);
            let img = imageproc::geometric_transformations::rotate_about_center(
                &img,
                degrees.to_radians(),
                imageproc::geometric_transformations::Interpolation::Bilinear,
                imageproc::geometric_transformations::Border::Constant(image::Luma([240])),
            );
            assert_eq!(read(&img), Some(kind), "{kind:?} at {degrees} deg");
        }
    }

    #[test]
    fn noise_and_ragged_edges_do_not_stop_it() {
        let mut img = page();
        draw(&mut img, PatchType::Patch2, 300, 900, 22.0, DPI);
        // speckles and a few white pinholes inside the bars
        for i in 0..3000u32 {
            let (x, y) = ((i * 7919) % 1240, (i * 104729) % 1754);
            let v = if img.get_pixel(x, y)[0] == 0 { 200 } else { 30 };
            img.put_pixel(x, y, image::Luma([v]));
        }
        assert_eq!(read(&img), Some(PatchType::Patch2));
    }

    #[test]
    fn barcodes_rules_edges_and_headings_are_not_patches() {
        // a 1D barcode: many bars of 1-4 modules (0.4 mm), 20 mm tall
        let mut img = page();
        let mut x = 300;
        for (i, w) in [2u32, 1, 3, 1, 4, 2, 1, 1, 3, 2, 4, 1, 2, 3, 1, 2]
            .iter()
            .enumerate()
        {
            let wpx = w * 5; // 0.85 mm per module at 150 dpi: thick modules
            if i % 2 == 0 {
                for xx in x..x + wpx {
                    for y in 300..420 {
                        img.put_pixel(xx, y, image::Luma([0]));
                    }
                }
            }
            x += wpx;
        }
        // table rules: thin lines 2 mm apart
        for r in 0..6 {
            for xx in 200..1000 {
                for y in 800 + r * 12..801 + r * 12 {
                    img.put_pixel(xx, y, image::Luma([0]));
                }
            }
        }
        // a scanner edge: one thick bar along the side
        for y in 0..1754 {
            for xx in 0..25 {
                img.put_pixel(xx, y, image::Luma([0]));
            }
        }
        // a real patch on the same page is still found among all of that...
        draw(&mut img, PatchType::Patch4, 400, 1200, 25.0, DPI);
        assert_eq!(read(&img), Some(PatchType::Patch4));
        // ...but not once a fifth bar follows it (five bars are not a patch)
        let extra_y = 1200.0 + (2.0 * 2.0 + 2.0 * 5.1 + 4.0 * 2.0) / 25.4 * DPI;
        for y in extra_y as u32..extra_y as u32 + 12 {
            for xx in 400..548 {
                img.put_pixel(xx, y, image::Luma([0]));
            }
        }
        assert_eq!(read(&img), None);
    }
}

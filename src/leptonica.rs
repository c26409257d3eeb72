//! A small safe layer over the Leptonica C library (linked through leptess): an owned
//! `Pix` made from and turned back into `image` buffers, and the few Leptonica routines
//! mailroom uses (skew search, rotation, scaling).
//!
//! Leptonica stores pixels in 32-bit words, most significant byte (or bit) first, with
//! each row padded to whole words: the conversions below pack and unpack that layout.

use image::{GrayImage, RgbImage};
use leptess::capi;

/// Silences Leptonica's warnings on stderr ("max found at sweep edge" on a blank page is
/// an expected outcome, reported per page as a flag instead). Process-wide; call once.
pub fn silence_warnings() {
    unsafe {
        capi::setMsgSeverity(capi::L_SEVERITY_NONE as i32);
    }
}

/// A rectangle in pixels: x, y, width, height.
pub type Rect = (i32, i32, i32, i32);

/// An owned Leptonica image; destroyed on drop.
pub struct Pix {
    raw: *mut capi::PIX,
}

// A Pix is plain memory owned by this value; Leptonica keeps no thread-local state for it.
unsafe impl Send for Pix {}

impl Drop for Pix {
    fn drop(&mut self) {
        unsafe { capi::pixDestroy(&mut self.raw) }
    }
}

impl Pix {
    fn from_raw(raw: *mut capi::PIX, what: &str) -> Result<Pix, String> {
        if raw.is_null() {
            Err(format!("Leptonica failed to {what}"))
        } else {
            Ok(Pix { raw })
        }
    }

    fn new(width: u32, height: u32, depth: i32) -> Result<Pix, String> {
        let raw = unsafe { capi::pixCreate(width as i32, height as i32, depth) };
        Pix::from_raw(raw, "allocate an image")
    }

    pub fn as_ptr(&self) -> *mut capi::PIX {
        self.raw
    }

    pub fn width(&self) -> u32 {
        unsafe { capi::pixGetWidth(self.raw) as u32 }
    }

    pub fn height(&self) -> u32 {
        unsafe { capi::pixGetHeight(self.raw) as u32 }
    }

    pub fn depth(&self) -> i32 {
        unsafe { capi::pixGetDepth(self.raw) }
    }

    fn rows_mut(&mut self) -> (&mut [u32], usize) {
        unsafe {
            let wpl = capi::pixGetWpl(self.raw) as usize;
            let data = capi::pixGetData(self.raw);
            let len = wpl * self.height() as usize;
            (std::slice::from_raw_parts_mut(data, len), wpl)
        }
    }

    fn rows(&self) -> (&[u32], usize) {
        unsafe {
            let wpl = capi::pixGetWpl(self.raw) as usize;
            let data = capi::pixGetData(self.raw);
            let len = wpl * self.height() as usize;
            (std::slice::from_raw_parts(data, len), wpl)
        }
    }

    /// An 8-bit gray Pix with the same pixels.
    pub fn from_gray(img: &GrayImage) -> Result<Pix, String> {
        let mut pix = Pix::new(img.width(), img.height(), 8)?;
        let (data, wpl) = pix.rows_mut();
        for (y, row) in img.as_raw().chunks_exact(img.width() as usize).enumerate() {
            let words = &mut data[y * wpl..(y + 1) * wpl];
            // Four pixels to a word, the first in the most significant byte.
            let mut quads = row.chunks_exact(4);
            for (word, quad) in words.iter_mut().zip(quads.by_ref()) {
                *word = u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]]);
            }
            let rest = quads.remainder();
            if !rest.is_empty() {
                let mut last = [0u8; 4];
                last[..rest.len()].copy_from_slice(rest);
                words[row.len() / 4] = u32::from_be_bytes(last);
            }
        }
        Ok(pix)
    }

    /// A 32-bit RGB Pix with the same pixels.
    pub fn from_rgb(img: &RgbImage) -> Result<Pix, String> {
        let mut pix = Pix::new(img.width(), img.height(), 32)?;
        let (data, wpl) = pix.rows_mut();
        for (y, row) in img
            .as_raw()
            .chunks_exact(img.width() as usize * 3)
            .enumerate()
        {
            for (x, p) in row.chunks_exact(3).enumerate() {
                data[y * wpl + x] =
                    u32::from(p[0]) << 24 | u32::from(p[1]) << 16 | u32::from(p[2]) << 8;
            }
        }
        Ok(pix)
    }

    /// The image as baseline JPEG at `quality` (1-100), written by libjpeg(-turbo)
    /// through Leptonica: 8-bit gray or 32-bit RGB.
    pub fn jpeg(&self, quality: u8) -> Result<Vec<u8>, String> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size = 0usize;
        let failed =
            unsafe { capi::pixWriteMemJpeg(&mut data, &mut size, self.raw, i32::from(quality), 0) };
        if failed != 0 || data.is_null() {
            return Err("Leptonica could not write the JPEG".into());
        }
        // SAFETY: Leptonica allocated `size` bytes at `data`; they are copied, then freed.
        let bytes = unsafe { std::slice::from_raw_parts(data, size) }.to_vec();
        unsafe { capi::lept_free(data.cast()) };
        Ok(bytes)
    }

    /// A 1-bit Pix (set bit = ink) of the gray pixels darker than `threshold`.
    pub fn binary_from_gray(img: &GrayImage, threshold: u8) -> Result<Pix, String> {
        Pix::binary_from(img, |_, _| threshold)
    }

    /// A 1-bit Pix (set bit = ink) of the gray pixels darker than the threshold that
    /// `threshold_at(x, y)` gives for their place.
    pub fn binary_from(
        img: &GrayImage,
        threshold_at: impl Fn(u32, u32) -> u8,
    ) -> Result<Pix, String> {
        let mut pix = Pix::new(img.width(), img.height(), 1)?;
        let (data, wpl) = pix.rows_mut();
        for (y, row) in img.as_raw().chunks_exact(img.width() as usize).enumerate() {
            let words = &mut data[y * wpl..(y + 1) * wpl];
            for (n, (word, pixels)) in words.iter_mut().zip(row.chunks(32)).enumerate() {
                let mut bits = 0u32;
                for (i, &v) in pixels.iter().enumerate() {
                    let x = (n * 32 + i) as u32;
                    bits |= u32::from(v < threshold_at(x, y as u32)) << (31 - i);
                }
                *word = bits;
            }
        }
        Ok(pix)
    }

    /// The pixels of an 8-bit Pix.
    pub fn to_gray(&self) -> Result<GrayImage, String> {
        if self.depth() != 8 {
            return Err(format!(
                "expected an 8-bit image, got {} bits",
                self.depth()
            ));
        }
        let (w, h) = (self.width(), self.height());
        let (data, wpl) = self.rows();
        let mut out = Vec::with_capacity(wpl * 4 * h as usize);
        for y in 0..h as usize {
            let start = out.len();
            for word in &data[y * wpl..(y + 1) * wpl] {
                out.extend_from_slice(&word.to_be_bytes());
            }
            out.truncate(start + w as usize);
        }
        GrayImage::from_raw(w, h, out).ok_or_else(|| "image size mismatch".to_string())
    }

    /// The pixels of a 1-bit Pix as a gray image: ink (set bits) 0, the rest 255.
    pub fn to_bilevel(&self) -> Result<GrayImage, String> {
        if self.depth() != 1 {
            return Err(format!("expected a 1-bit image, got {} bits", self.depth()));
        }
        let (w, h) = (self.width(), self.height());
        let (data, wpl) = self.rows();
        let mut out = Vec::with_capacity(w as usize * h as usize);
        for y in 0..h as usize {
            let words = &data[y * wpl..(y + 1) * wpl];
            out.extend((0..w as usize).map(|x| {
                if words[x / 32] >> (31 - x % 32) & 1 == 1 {
                    0
                } else {
                    255
                }
            }));
        }
        GrayImage::from_raw(w, h, out).ok_or_else(|| "image size mismatch".to_string())
    }

    /// The pixels of a 32-bit Pix.
    pub fn to_rgb(&self) -> Result<RgbImage, String> {
        if self.depth() != 32 {
            return Err(format!(
                "expected a 32-bit image, got {} bits",
                self.depth()
            ));
        }
        let (w, h) = (self.width(), self.height());
        let (data, wpl) = self.rows();
        let mut out = Vec::with_capacity(w as usize * h as usize * 3);
        for y in 0..h as usize {
            for &word in &data[y * wpl..y * wpl + w as usize] {
                out.extend_from_slice(&[(word >> 24) as u8, (word >> 16) as u8, (word >> 8) as u8]);
            }
        }
        RgbImage::from_raw(w, h, out).ok_or_else(|| "image size mismatch".to_string())
    }

    /// Rotates clockwise by `degrees` about the centre with area mapping, keeping the
    /// size and bringing in white at the corners.
    pub fn rotate(&self, degrees: f32) -> Result<Pix, String> {
        let raw = unsafe {
            capi::pixRotate(
                self.raw,
                degrees.to_radians(),
                capi::L_ROTATE_AREA_MAP as i32,
                capi::L_BRING_IN_WHITE as i32,
                0,
                0,
            )
        };
        Pix::from_raw(raw, "rotate the page")
    }

    /// Rotates an 8-bit page clockwise by `degrees` with area mapping, bringing in `fill`
    /// (the paper's gray) at the corners instead of white.
    pub fn rotate_gray(&self, degrees: f32, fill: u8) -> Result<Pix, String> {
        let raw = unsafe { capi::pixRotateAMGray(self.raw, degrees.to_radians(), fill) };
        Pix::from_raw(raw, "rotate the page")
    }

    /// Rotates a 1- or 8-bit page clockwise about its centre by shearing (white comes
    /// in): several times faster than area mapping, and as good for the few degrees of a
    /// skew.
    pub fn rotate_shear(&self, degrees: f32) -> Result<Pix, String> {
        let raw = unsafe {
            capi::pixRotateShearCenter(
                self.raw,
                degrees.to_radians(),
                capi::L_BRING_IN_WHITE as i32,
            )
        };
        Pix::from_raw(raw, "rotate the page")
    }

    /// Turns the image clockwise by 0, 90, 180 or 270 degrees.
    pub fn rotate_orth(&self, degrees: u32) -> Result<Pix, String> {
        let raw = unsafe { capi::pixRotateOrth(self.raw, (degrees / 90 % 4) as i32) };
        Pix::from_raw(raw, "turn the page")
    }

    /// Turns the image by 90 degrees clockwise.
    pub fn rotate90(&self) -> Result<Pix, String> {
        let raw = unsafe { capi::pixRotate90(self.raw, 1) };
        Pix::from_raw(raw, "turn the page")
    }

    /// Leptonica's skew search on a 1-bit image: a sweep at `sweep_reduction`, then a
    /// binary search at `search_reduction`, over +-`range` degrees. Returns the angle in
    /// degrees that deskews the page when passed to a rotation (clockwise positive), and a
    /// confidence (0 when nothing was found; letter pages score 10 and more).
    pub fn find_skew_with(
        &self,
        sweep_reduction: i32,
        search_reduction: i32,
        range: f32,
    ) -> Option<(f32, f32)> {
        let (mut angle, mut conf) = (0f32, 0f32);
        let failed = unsafe {
            capi::pixFindSkewSweepAndSearch(
                self.raw,
                &mut angle,
                &mut conf,
                sweep_reduction,
                search_reduction,
                range,
                1.0,
                0.01,
            )
        };
        (failed == 0).then_some((angle, conf))
    }

    /// Sauvola adaptive binarisation of an 8-bit image: a pixel is ink when darker than
    /// its local mean lowered by `factor` times (1 - local deviation / 128), over a window
    /// of half-size `half_window`. Robust to uneven paper and bleed-through.
    pub fn sauvola(&self, half_window: i32, factor: f32) -> Result<Pix, String> {
        let mut out: *mut capi::PIX = std::ptr::null_mut();
        // Tiles keep the integral images small; 1x1 is fine for a reduced page.
        let failed = unsafe {
            capi::pixSauvolaBinarizeTiled(
                self.raw,
                half_window,
                factor,
                1,
                1,
                std::ptr::null_mut(),
                &mut out,
            )
        };
        if failed != 0 {
            return Err("Leptonica failed to binarise the page".into());
        }
        Pix::from_raw(out, "binarise the page")
    }

    /// Keeps the 8-connected components of a 1-bit image that are at least `min_w` wide
    /// or at least `min_h` high; smaller ones (speckles) are removed.
    pub fn remove_small(&self, min_w: i32, min_h: i32) -> Result<Pix, String> {
        let raw = unsafe {
            capi::pixSelectBySize(
                self.raw,
                min_w,
                min_h,
                8,
                capi::L_SELECT_IF_EITHER as i32,
                capi::L_SELECT_IF_GTE as i32,
                std::ptr::null_mut(),
            )
        };
        Pix::from_raw(raw, "filter components")
    }

    /// Pixels set in `self` but not in `other` (1-bit images of the same size).
    pub fn minus(&self, other: &Pix) -> Result<Pix, String> {
        let raw = unsafe { capi::pixSubtract(std::ptr::null_mut(), self.raw, other.raw) };
        Pix::from_raw(raw, "subtract images")
    }

    /// Bounding boxes (x, y, w, h) of the 8-connected components of a 1-bit image.
    pub fn component_boxes(&self) -> Vec<Rect> {
        unsafe {
            let mut boxa = capi::pixConnCompBB(self.raw, 8);
            if boxa.is_null() {
                return Vec::new();
            }
            let n = capi::boxaGetCount(boxa);
            let mut out = Vec::with_capacity(n.max(0) as usize);
            for i in 0..n {
                let (mut x, mut y, mut w, mut h) = (0, 0, 0, 0);
                if capi::boxaGetBoxGeometry(boxa, i, &mut x, &mut y, &mut w, &mut h) == 0 {
                    out.push((x, y, w, h));
                }
            }
            capi::boxaDestroy(&mut boxa);
            out
        }
    }

    /// A 1-bit image of the same size as `like` holding only `like`'s pixels inside the
    /// given boxes.
    pub fn from_boxes_of(like: &Pix, boxes: &[Rect]) -> Result<Pix, String> {
        let mut out = Pix::new(like.width(), like.height(), 1)?;
        let (src, wpl) = like.rows();
        let src = src.to_vec();
        let (dst, _) = out.rows_mut();
        let (w, h) = (like.width() as i32, like.height() as i32);
        for &(x, y, bw, bh) in boxes {
            for yy in y.max(0)..(y + bh).min(h) {
                for xx in x.max(0)..(x + bw).min(w) {
                    let (i, bit) = (
                        yy as usize * wpl + xx as usize / 32,
                        31 - (xx as usize % 32),
                    );
                    dst[i] |= src[i] & (1 << bit);
                }
            }
        }
        Ok(out)
    }

    /// Set pixels of a 1-bit image inside the rectangle (clipped to the image).
    pub fn count_in_rect(&self, x: i32, y: i32, w: i32, h: i32) -> u64 {
        unsafe {
            let mut rect = capi::boxCreate(x, y, w, h);
            if rect.is_null() {
                return 0;
            }
            let mut count = 0;
            let failed =
                capi::pixCountPixelsInRect(self.raw, rect, &mut count, std::ptr::null_mut());
            capi::boxDestroy(&mut rect);
            if failed == 0 {
                count.max(0) as u64
            } else {
                0
            }
        }
    }

    /// Leptonica's text orientation detection on a 1-bit image (ascender/descender
    /// statistics): confidences that the text is upright (positive) or upside down
    /// (negative), and turned left (positive) or right (negative).
    pub fn orientation_confidences(&self) -> Option<(f32, f32)> {
        let (mut up, mut left) = (0f32, 0f32);
        let failed = unsafe { capi::pixOrientDetect(self.raw, &mut up, &mut left, 0, 0) };
        (failed == 0).then_some((up, left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_round_trip_keeps_every_pixel() {
        let img = GrayImage::from_fn(37, 5, |x, y| image::Luma([(x * 7 + y * 13) as u8]));
        let back = Pix::from_gray(&img).unwrap().to_gray().unwrap();
        assert_eq!(img, back);
    }

    #[test]
    fn rgb_round_trip_keeps_every_pixel() {
        let img = RgbImage::from_fn(9, 4, |x, y| {
            image::Rgb([x as u8, y as u8, (x + y) as u8 * 3])
        });
        let back = Pix::from_rgb(&img).unwrap().to_rgb().unwrap();
        assert_eq!(img, back);
    }

    #[test]
    fn speckles_are_removed_and_strokes_kept() {
        let mut img = GrayImage::from_pixel(100, 60, image::Luma([255]));
        for y in 10..40 {
            for x in 20..24 {
                img.put_pixel(x, y, image::Luma([0])); // a stroke
            }
        }
        img.put_pixel(70, 30, image::Luma([0])); // a speckle
        let bin = Pix::binary_from_gray(&img, 128).unwrap();
        let kept = bin.remove_small(3, 3).unwrap();
        let removed = bin.minus(&kept).unwrap().component_boxes();
        assert_eq!(removed, vec![(70, 30, 1, 1)]);
        assert_eq!(kept.component_boxes(), vec![(20, 10, 4, 30)]);
    }

    #[test]
    fn skew_of_tilted_lines_is_found_and_undone() {
        // Horizontal text-like bars, rotated 2 degrees clockwise in Leptonica's sense.
        let mut img = GrayImage::from_pixel(1200, 1200, image::Luma([255]));
        for band in 0..20 {
            let y0 = 100 + band * 50;
            for y in y0..y0 + 12 {
                for x in (100..1100).filter(|x| (x / 15) % 3 != 0) {
                    img.put_pixel(x, y, image::Luma([0]));
                }
            }
        }
        let tilted = Pix::from_gray(&img)
            .unwrap()
            .rotate(2.0)
            .unwrap()
            .to_gray()
            .unwrap();
        let (angle, conf) = Pix::binary_from_gray(&tilted, 128)
            .unwrap()
            .find_skew_with(4, 2, 7.0)
            .unwrap();
        assert!((angle + 2.0).abs() < 0.15, "angle {angle}");
        assert!(conf > 3.0, "confidence {conf}");
    }
}

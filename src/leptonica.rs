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
            for (x, &v) in row.iter().enumerate() {
                words[x / 4] |= u32::from(v) << (24 - 8 * (x % 4));
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

    /// A 1-bit Pix (set bit = ink) of the gray pixels darker than `threshold`.
    pub fn binary_from_gray(img: &GrayImage, threshold: u8) -> Result<Pix, String> {
        let mut pix = Pix::new(img.width(), img.height(), 1)?;
        let (data, wpl) = pix.rows_mut();
        for (y, row) in img.as_raw().chunks_exact(img.width() as usize).enumerate() {
            let words = &mut data[y * wpl..(y + 1) * wpl];
            for (x, &v) in row.iter().enumerate() {
                if v < threshold {
                    words[x / 32] |= 1 << (31 - (x % 32));
                }
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
        let mut out = Vec::with_capacity(w as usize * h as usize);
        for y in 0..h as usize {
            let words = &data[y * wpl..(y + 1) * wpl];
            out.extend((0..w as usize).map(|x| (words[x / 4] >> (24 - 8 * (x % 4))) as u8));
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

    /// Leptonica's skew search on a 1-bit image: the angle in degrees that deskews the
    /// page when passed to `rotate` (clockwise positive), and a confidence (about 3 or
    /// more is a clear result; 0 when nothing was found).
    pub fn find_skew(&self) -> Option<(f32, f32)> {
        let (mut angle, mut conf) = (0f32, 0f32);
        let failed = unsafe { capi::pixFindSkew(self.raw, &mut angle, &mut conf) };
        (failed == 0).then_some((angle, conf))
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

    /// Scales by `factor` with area mapping (good for reductions).
    pub fn scale(&self, factor: f32) -> Result<Pix, String> {
        let raw = unsafe { capi::pixScaleAreaMap(self.raw, factor, factor) };
        Pix::from_raw(raw, "scale the page")
    }

    pub fn set_resolution(&mut self, dpi: u32) {
        unsafe {
            capi::pixSetResolution(self.raw, dpi as i32, dpi as i32);
        }
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
            .find_skew()
            .unwrap();
        assert!((angle + 2.0).abs() < 0.15, "angle {angle}");
        assert!(conf > 3.0, "confidence {conf}");
    }
}

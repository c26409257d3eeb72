//! JBIG2 decoding (PDF's `JBIG2Decode`) through jbig2dec, the decoder Ghostscript and
//! MuPDF use (Debian: libjbig2dec0, headers in libjbig2dec0-dev). Only the few calls an
//! embedded PDF stream needs: a context for the optional global segments, one for the
//! page, then the page image.

use std::ffi::{c_char, c_int, c_void};

#[repr(C)]
struct Jbig2Image {
    width: u32,
    height: u32,
    stride: u32,
    data: *mut u8,
    refcount: c_int,
}

type ErrorCallback =
    Option<unsafe extern "C" fn(data: *mut c_void, msg: *const c_char, severity: c_int, seg: u32)>;

/// `JBIG2_OPTIONS_EMBEDDED`: a PDF stream, without the file header.
const OPTIONS_EMBEDDED: c_int = 1;
/// `Jbig2Severity` `JBIG2_SEVERITY_FATAL`.
const SEVERITY_FATAL: c_int = 3;

#[link(name = "jbig2dec")]
extern "C" {
    fn jbig2_ctx_new_imp(
        allocator: *mut c_void,
        options: c_int,
        global_ctx: *mut c_void,
        error_callback: ErrorCallback,
        error_callback_data: *mut c_void,
        major: c_int,
        minor: c_int,
    ) -> *mut c_void;
    fn jbig2_ctx_free(ctx: *mut c_void) -> *mut c_void;
    fn jbig2_make_global_ctx(ctx: *mut c_void) -> *mut c_void;
    fn jbig2_global_ctx_free(global: *mut c_void) -> *mut c_void;
    fn jbig2_data_in(ctx: *mut c_void, data: *const u8, size: usize) -> c_int;
    fn jbig2_complete_page(ctx: *mut c_void) -> c_int;
    fn jbig2_page_out(ctx: *mut c_void) -> *mut Jbig2Image;
    fn jbig2_release_page(ctx: *mut c_void, image: *mut Jbig2Image);
}

/// The first fatal message jbig2dec reported (it reports through a callback).
struct Errors {
    fatal: Option<String>,
}

unsafe extern "C" fn on_error(data: *mut c_void, msg: *const c_char, severity: c_int, _seg: u32) {
    if severity < SEVERITY_FATAL || data.is_null() || msg.is_null() {
        return;
    }
    let errors = &mut *(data as *mut Errors);
    if errors.fatal.is_none() {
        errors.fatal = Some(std::ffi::CStr::from_ptr(msg).to_string_lossy().into_owned());
    }
}

fn new_ctx(global: *mut c_void, errors: &mut Errors) -> *mut c_void {
    // SAFETY: plain constructor; NULL allocator = malloc; `errors` outlives the context
    // (every caller frees the context before returning).
    unsafe {
        jbig2_ctx_new_imp(
            std::ptr::null_mut(),
            OPTIONS_EMBEDDED,
            global,
            Some(on_error),
            errors as *mut Errors as *mut c_void,
            0,
            19,
        )
    }
}

/// Decodes an embedded JBIG2 page. Returns rows of `width` bits packed MSB first
/// (`stride` bytes per row), 1 = black, as JBIG2 defines them.
pub fn decode(
    data: &[u8],
    globals: Option<&[u8]>,
    max_pixels: u64,
) -> Result<(u32, u32, usize, Vec<u8>), String> {
    let mut errors = Errors { fatal: None };
    let mut global_ctx: *mut c_void = std::ptr::null_mut();
    if let Some(g) = globals {
        let ctx = new_ctx(std::ptr::null_mut(), &mut errors);
        if ctx.is_null() {
            return Err("cannot start the JBIG2 decoder".into());
        }
        // SAFETY: ctx is valid; data pointer and length come from a slice.
        unsafe {
            jbig2_data_in(ctx, g.as_ptr(), g.len());
            global_ctx = jbig2_make_global_ctx(ctx);
        }
        if global_ctx.is_null() {
            return Err("unreadable JBIG2 global segments".into());
        }
    }
    let ctx = new_ctx(global_ctx, &mut errors);
    if ctx.is_null() {
        if !global_ctx.is_null() {
            // SAFETY: made above, freed once.
            unsafe { jbig2_global_ctx_free(global_ctx) };
        }
        return Err("cannot start the JBIG2 decoder".into());
    }
    // SAFETY: ctx is valid until jbig2_ctx_free below; the page image is copied out and
    // released before the context is freed.
    let result = unsafe {
        let rc = jbig2_data_in(ctx, data.as_ptr(), data.len());
        jbig2_complete_page(ctx);
        let image = jbig2_page_out(ctx);
        let out = if image.is_null() {
            Err(errors
                .fatal
                .take()
                .unwrap_or_else(|| format!("no page image in the JBIG2 data (code {rc})")))
        } else {
            let img = &*image;
            let (w, h, stride) = (img.width, img.height, img.stride as usize);
            if u64::from(w) * u64::from(h) > max_pixels {
                Err(format!("JBIG2 page of {w}x{h} pixels is over the limit"))
            } else if img.data.is_null() || stride < (w as usize).div_ceil(8) {
                Err("JBIG2 page image without data".into())
            } else {
                let bytes = std::slice::from_raw_parts(img.data, stride * h as usize).to_vec();
                Ok((w, h, stride, bytes))
            }
        };
        if !image.is_null() {
            jbig2_release_page(ctx, image);
        }
        jbig2_ctx_free(ctx);
        if !global_ctx.is_null() {
            jbig2_global_ctx_free(global_ctx);
        }
        out
    };
    result
}

/// A minimal embedded JBIG2 stream: one page holding one immediate generic region coded
/// with MMR (which is CCITT Group 4 inside). Made without a JBIG2 encoder
/// (none is packaged for Debian 12), for tests and the sample generator's fixtures.
/// `g4` is the page's G4 data with black = ink.
pub fn mmr_page(width: u32, height: u32, g4: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut segment = |number: u32, kind: u8, data: &[u8]| {
        out.extend_from_slice(&number.to_be_bytes());
        out.push(kind); // flags: type, page association 1 byte
        out.push(0); // no referred-to segments
        out.push(1); // page 1
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
    };
    // page information (type 48): size, resolution unknown, flags 0, no striping
    let mut page = Vec::new();
    page.extend_from_slice(&width.to_be_bytes());
    page.extend_from_slice(&height.to_be_bytes());
    page.extend_from_slice(&0u32.to_be_bytes());
    page.extend_from_slice(&0u32.to_be_bytes());
    page.push(0);
    page.extend_from_slice(&0u16.to_be_bytes());
    segment(0, 48, &page);
    // immediate generic region (type 38; poppler reads no type 39): region info, MMR = 1
    let mut region = Vec::new();
    region.extend_from_slice(&width.to_be_bytes());
    region.extend_from_slice(&height.to_be_bytes());
    region.extend_from_slice(&0u32.to_be_bytes());
    region.extend_from_slice(&0u32.to_be_bytes());
    region.push(0); // external combination operator OR
    region.push(1); // MMR
    region.extend_from_slice(g4);
    segment(1, 38, &region);
    // end of page (type 49)
    segment(2, 49, &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mmr_page_decodes_to_its_pixels() {
        let mut img = image::GrayImage::from_pixel(70, 30, image::Luma([255]));
        for x in 5..40 {
            img.put_pixel(x, 7, image::Luma([0]));
            img.put_pixel(x, 20, image::Luma([0]));
        }
        let g4 = crate::package::encode_g4(&img).unwrap();
        let (w, h, stride, bits) = decode(&mmr_page(70, 30, &g4), None, 1 << 20).unwrap();
        assert_eq!((w, h), (70, 30));
        for y in 0..30u32 {
            for x in 0..70u32 {
                let bit = (bits[y as usize * stride + x as usize / 8] >> (7 - x % 8)) & 1;
                assert_eq!(bit == 1, img.get_pixel(x, y)[0] == 0, "at {x},{y}");
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_crash() {
        assert!(decode(b"\x00\x01\x02 nonsense", None, 1 << 20).is_err());
        assert!(decode(&[], Some(b"junk"), 1 << 20).is_err());
    }
}

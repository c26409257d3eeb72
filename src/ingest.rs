//! Ingest: find the page files of a batch folder, check them cheaply (format, frame count,
//! size, resolution, hash), and decode single frames on demand.
//!
//! Formats are recognised by their first bytes, not by the file name. Batch metadata
//! (hidden files, `truth.json`, manifests) is skipped and listed; every other file is a
//! page source or ends in quarantine with a one-line reason.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{GrayImage, ImageDecoder, ImageReader, RgbImage};
use thiserror::Error;

use crate::model::{Dpi, DpiSource, Pixels};
pub use crate::pdf_input::PdfOptions;

/// Why a file or frame cannot be used. The `Display` text is the one-line reason shown to
/// the operator and written next to the quarantined copy.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("file is empty (0 bytes)")]
    Empty,
    #[error("unknown format: not a PNG, JPEG or TIFF image or a PDF (starts with {0})")]
    UnknownFormat(String),
    #[error("page {frame} is {width}x{height} pixels, more than the profile's limit of {limit_mp} megapixels (decompression bomb?)")]
    TooLarge {
        frame: usize,
        width: u32,
        height: u32,
        limit_mp: u64,
    },
    #[error("{0}")]
    Corrupt(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Pdf(#[from] crate::pdf_input::PdfError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Png,
    Jpeg,
    Tiff,
    Pdf,
}

impl Format {
    /// Recognises a format from the first bytes of a file.
    pub fn sniff(head: &[u8]) -> Option<Format> {
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Format::Jpeg)
        } else if head.starts_with(b"II*\0")
            || head.starts_with(b"MM\0*")
            || head.starts_with(b"II+\0")
            || head.starts_with(b"MM\0+")
        {
            Some(Format::Tiff)
        } else if head.starts_with(b"%PDF-") {
            Some(Format::Pdf)
        } else {
            None
        }
    }
}

/// A file of the batch folder, before it was opened.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub path: PathBuf,
    /// Path relative to the batch folder with `/` separators; the stable sort key.
    pub rel: String,
}

/// The result of listing a batch folder.
#[derive(Debug, Default)]
pub struct Listing {
    pub candidates: Vec<Candidate>,
    /// Files skipped as batch metadata, relative paths.
    pub ignored: Vec<String>,
}

/// File names that describe a batch rather than being part of it.
const METADATA_NAMES: &[&str] = &["truth.json", "manifest.json", "manifest.csv", "Thumbs.db"];

/// Lists the files of a batch folder recursively, in a stable order (relative path, byte
/// order). Symbolic links are not followed.
pub fn list_batch(dir: &Path) -> anyhow::Result<Listing> {
    use anyhow::Context;
    if !dir.is_dir() {
        anyhow::bail!(
            "batch folder {} does not exist or is not a folder",
            dir.display()
        );
    }
    let mut listing = Listing::default();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel_path = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let rel = rel_path
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let hidden = rel_path
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        let name = entry.file_name().to_string_lossy();
        if hidden || METADATA_NAMES.contains(&name.as_ref()) {
            listing.ignored.push(rel);
        } else {
            listing.candidates.push(Candidate {
                path: entry.path().to_path_buf(),
                rel,
            });
        }
    }
    listing.candidates.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(listing)
}

/// One frame (page) of a source file, as found by the probe.
#[derive(Debug, Clone)]
pub struct FrameInfo {
    pub width: u32,
    pub height: u32,
    pub dpi: Dpi,
    /// For a PDF page: how it is read (embedded image or rendered, text, repaired).
    pub pdf: Option<crate::pdf_input::PdfPageInfo>,
}

/// A source file that was opened and checked: its pages can be decoded.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub rel: String,
    pub format: Format,
    pub bytes: u64,
    pub sha256: String,
    pub frames: Vec<FrameInfo>,
}

/// Limits that protect the probe and decoder from hostile or broken files.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_pixels: u64,
    pub assume_dpi: u32,
}

/// Upper bound on frames in one file, against endless IFD chains.
const MAX_FRAMES: usize = 10_000;

/// Opens a file, hashes it, and finds its frames with their size and resolution, without
/// decoding pixels.
pub fn probe(candidate: &Candidate, limits: Limits) -> Result<SourceFile, IngestError> {
    probe_with(candidate, limits, &PdfOptions::default())
}

/// [`probe`] with the run's PDF settings (the render resolution sets a rendered page's
/// pixel size).
pub fn probe_with(
    candidate: &Candidate,
    limits: Limits,
    pdf: &PdfOptions,
) -> Result<SourceFile, IngestError> {
    let data = std::fs::read(&candidate.path)?;
    probe_bytes_with(candidate, &data, limits, None, pdf)
}

/// [`probe`] for a file whose SHA-256 is known already (a bag's manifest was just
/// verified against it): the file is not hashed a second time.
pub fn probe_known(
    candidate: &Candidate,
    limits: Limits,
    sha256: &str,
    pdf: &PdfOptions,
) -> Result<SourceFile, IngestError> {
    let data = std::fs::read(&candidate.path)?;
    probe_bytes_with(candidate, &data, limits, Some(sha256), pdf)
}

/// [`probe`] on bytes in memory, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn probe_bytes_for_tests(
    candidate: &Candidate,
    data: &[u8],
    limits: Limits,
) -> Result<SourceFile, IngestError> {
    probe_bytes(candidate, data, limits, None)
}

#[cfg(test)]
fn probe_bytes(
    candidate: &Candidate,
    data: &[u8],
    limits: Limits,
    sha256: Option<&str>,
) -> Result<SourceFile, IngestError> {
    probe_bytes_with(candidate, data, limits, sha256, &PdfOptions::default())
}

fn probe_bytes_with(
    candidate: &Candidate,
    data: &[u8],
    limits: Limits,
    sha256: Option<&str>,
    pdf: &PdfOptions,
) -> Result<SourceFile, IngestError> {
    if data.is_empty() {
        return Err(IngestError::Empty);
    }
    let format =
        Format::sniff(data).ok_or_else(|| IngestError::UnknownFormat(describe_head(data)))?;
    let frames = match format {
        Format::Png | Format::Jpeg => vec![probe_single(data, format, limits)?],
        Format::Tiff => probe_tiff(data, limits)?,
        Format::Pdf => crate::pdf_input::probe(data, limits, pdf)?,
    };
    for (i, f) in frames.iter().enumerate() {
        if u64::from(f.width) * u64::from(f.height) > limits.max_pixels {
            return Err(IngestError::TooLarge {
                frame: i + 1,
                width: f.width,
                height: f.height,
                limit_mp: limits.max_pixels / 1_000_000,
            });
        }
        if f.width == 0 || f.height == 0 {
            return Err(IngestError::Corrupt(format!(
                "page {} has no pixels",
                i + 1
            )));
        }
    }
    Ok(SourceFile {
        path: candidate.path.clone(),
        rel: candidate.rel.clone(),
        format,
        bytes: data.len() as u64,
        sha256: sha256.map_or_else(|| crate::fsutil::sha256_hex(data), str::to_string),
        frames,
    })
}

/// The first bytes of an unknown file, printable, for the error message.
fn describe_head(data: &[u8]) -> String {
    let head = &data[..data.len().min(8)];
    if head.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(head))
    } else {
        crate::fsutil::hex(head)
    }
}

fn probe_single(data: &[u8], format: Format, limits: Limits) -> Result<FrameInfo, IngestError> {
    // A PNG's size is in its first chunk: read it there, so that a bomb is refused on its
    // header alone, whatever follows.
    let png_size = (format == Format::Png && data.get(12..16) == Some(b"IHDR"))
        .then(|| {
            let w = u32::from_be_bytes(data.get(16..20)?.try_into().ok()?);
            let h = u32::from_be_bytes(data.get(20..24)?.try_into().ok()?);
            Some((w, h))
        })
        .flatten();
    let (width, height) = match png_size {
        Some(size) => size,
        None => ImageReader::with_format(Cursor::new(data), image_format(format))
            .into_dimensions()
            .map_err(|e| IngestError::Corrupt(format!("unreadable {format:?} header: {e}")))?,
    };
    let found = match format {
        Format::Png => png_dpi(data),
        Format::Jpeg => jpeg_dpi(data),
        Format::Tiff | Format::Pdf => None,
    };
    Ok(FrameInfo {
        width,
        height,
        dpi: resolve_dpi(found, limits.assume_dpi),
        pdf: None,
    })
}

/// The image crate's format for the single-image formats (TIFF and PDF are read by
/// their own code).
fn image_format(format: Format) -> image::ImageFormat {
    match format {
        Format::Png => image::ImageFormat::Png,
        Format::Jpeg => image::ImageFormat::Jpeg,
        Format::Tiff | Format::Pdf => image::ImageFormat::Tiff,
    }
}

/// Accepts a resolution from a file only where it is plausible for a scan; 72 or 96 dpi
/// tags written by software that did not know the real value are ignored.
fn resolve_dpi(found: Option<(f32, f32)>, assume: u32) -> Dpi {
    match found {
        Some((x, y)) if (100.0..=2400.0).contains(&x) && (100.0..=2400.0).contains(&y) => Dpi {
            x,
            y,
            source: DpiSource::File,
        },
        _ => Dpi {
            x: assume as f32,
            y: assume as f32,
            source: DpiSource::Assumed,
        },
    }
}

/// Resolution from a PNG's pHYs chunk (pixels per metre).
fn png_dpi(data: &[u8]) -> Option<(f32, f32)> {
    let mut pos = 8;
    while pos + 8 <= data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().ok()?) as usize;
        let kind = &data[pos + 4..pos + 8];
        let body = data.get(pos + 8..pos + 8 + len)?;
        match kind {
            b"pHYs" if len == 9 && body[8] == 1 => {
                let x = u32::from_be_bytes(body[0..4].try_into().ok()?) as f32 * 0.0254;
                let y = u32::from_be_bytes(body[4..8].try_into().ok()?) as f32 * 0.0254;
                return Some((x.round(), y.round()));
            }
            b"IDAT" | b"IEND" => return None,
            _ => {}
        }
        pos += 12 + len;
    }
    None
}

/// Resolution from a JPEG's JFIF APP0 segment.
fn jpeg_dpi(data: &[u8]) -> Option<(f32, f32)> {
    let mut pos = 2;
    while pos + 4 <= data.len() && data[pos] == 0xFF {
        let marker = data[pos + 1];
        let len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        let body = data.get(pos + 4..pos + 2 + len)?;
        if marker == 0xE0 && body.len() >= 12 && body.starts_with(b"JFIF\0") {
            let unit = body[7];
            let x = u16::from_be_bytes([body[8], body[9]]) as f32;
            let y = u16::from_be_bytes([body[10], body[11]]) as f32;
            return match unit {
                1 => Some((x, y)),
                2 => Some((x * 2.54, y * 2.54)),
                _ => None,
            };
        }
        if marker == 0xDA {
            return None;
        }
        pos += 2 + len;
    }
    None
}

/// Operator wording for TIFF errors: a file cut short says so.
fn tiff_error(page: usize, e: tiff::TiffError) -> IngestError {
    match e {
        tiff::TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            IngestError::Corrupt(format!("truncated TIFF: the file ends inside page {page}"))
        }
        other => IngestError::Corrupt(format!("TIFF page {page}: {other}")),
    }
}

fn tiff_decoder(data: &[u8]) -> Result<tiff::decoder::Decoder<Cursor<&[u8]>>, IngestError> {
    tiff::decoder::Decoder::new(Cursor::new(data)).map_err(|e| tiff_error(1, e))
}

fn probe_tiff(data: &[u8], limits: Limits) -> Result<Vec<FrameInfo>, IngestError> {
    let mut dec = tiff_decoder(data)?;
    let mut frames = Vec::new();
    loop {
        let n = frames.len() + 1;
        let (width, height) = dec.dimensions().map_err(|e| tiff_error(n, e))?;
        frames.push(FrameInfo {
            width,
            height,
            dpi: resolve_dpi(tiff_dpi(&mut dec), limits.assume_dpi),
            pdf: None,
        });
        if !dec.more_images() {
            break;
        }
        if frames.len() >= MAX_FRAMES {
            return Err(IngestError::Unsupported(format!(
                "TIFF with more than {MAX_FRAMES} pages"
            )));
        }
        dec.next_image().map_err(|e| tiff_error(n + 1, e))?;
    }
    Ok(frames)
}

fn tiff_dpi<R: std::io::Read + std::io::Seek>(
    dec: &mut tiff::decoder::Decoder<R>,
) -> Option<(f32, f32)> {
    use tiff::tags::Tag;
    // TIFF stores resolutions as RATIONAL; `get_tag_f32` takes FLOAT only.
    let number = |dec: &mut tiff::decoder::Decoder<R>, tag| -> Option<f32> {
        match dec.get_tag(tag).ok()? {
            tiff::decoder::ifd::Value::Rational(n, d) if d != 0 => Some(n as f32 / d as f32),
            tiff::decoder::ifd::Value::Float(f) => Some(f),
            tiff::decoder::ifd::Value::Double(f) => Some(f as f32),
            v => v.into_f32().ok(),
        }
    };
    let x = number(dec, Tag::XResolution)?;
    let y = number(dec, Tag::YResolution).unwrap_or(x);
    // ResolutionUnit: 1 none, 2 inch (the default), 3 centimetre.
    let unit = dec.get_tag_u32(Tag::ResolutionUnit).unwrap_or(2);
    match unit {
        2 => Some((x, y)),
        3 => Some((x * 2.54, y * 2.54)),
        _ => None,
    }
}

/// Decodes frame `frame` (0-based) of a file whose bytes and format are known.
pub fn decode_frame_bytes(
    data: &[u8],
    format: Format,
    frame: usize,
    limits: Limits,
) -> Result<Pixels, IngestError> {
    match format {
        Format::Png | Format::Jpeg => {
            if frame != 0 {
                return Err(IngestError::Corrupt(format!(
                    "no page {} in a single-page image",
                    frame + 1
                )));
            }
            decode_single(data, format, limits)
        }
        Format::Tiff => decode_tiff(data, frame, limits),
        Format::Pdf => {
            Ok(crate::pdf_input::decode(data, None, frame, limits, &PdfOptions::default())?.pixels)
        }
    }
}

/// A page as the pipeline reads it: its pixels, and for PDF pages the embedded JPEG that
/// may go into the output unchanged, the page's own text (a text page kept as text) and
/// how it was read.
pub struct DecodedPage {
    pub pixels: Pixels,
    pub jpeg: Option<Vec<u8>>,
    pub text: Option<crate::ocr::PageText>,
    pub pdf: Option<crate::pdf_input::PdfPageInfo>,
}

/// Decodes page `frame` of a probed file whose bytes are `data` (the file at `src.path`).
pub fn decode_page(
    data: &[u8],
    src: &SourceFile,
    frame: usize,
    limits: Limits,
    pdf: &PdfOptions,
) -> Result<DecodedPage, IngestError> {
    match src.format {
        Format::Pdf => {
            let d = crate::pdf_input::decode(data, Some(&src.path), frame, limits, pdf)?;
            Ok(DecodedPage {
                pixels: d.pixels,
                jpeg: d.jpeg,
                text: d.text,
                pdf: Some(d.info),
            })
        }
        format => Ok(DecodedPage {
            pixels: decode_frame_bytes(data, format, frame, limits)?,
            jpeg: None,
            text: None,
            pdf: None,
        }),
    }
}

fn decode_single(data: &[u8], format: Format, limits: Limits) -> Result<Pixels, IngestError> {
    let mut reader = ImageReader::with_format(Cursor::new(data), image_format(format));
    let mut img_limits = image::Limits::default();
    img_limits.max_alloc = Some(limits.max_pixels.saturating_mul(4));
    reader.limits(img_limits);
    let decoder = reader
        .into_decoder()
        .map_err(|e| IngestError::Corrupt(format!("unreadable {format:?}: {e}")))?;
    let bilevel = matches!(decoder.original_color_type(), image::ExtendedColorType::L1);
    let img = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| IngestError::Corrupt(format!("damaged {format:?} image data: {e}")))?;
    Ok(match img {
        image::DynamicImage::ImageLuma8(g) if bilevel => Pixels::Bilevel(g),
        image::DynamicImage::ImageLuma8(g) => Pixels::Gray(g),
        image::DynamicImage::ImageLumaA8(_)
        | image::DynamicImage::ImageLuma16(_)
        | image::DynamicImage::ImageLumaA16(_) => Pixels::Gray(img.to_luma8()),
        other => Pixels::Rgb(other.to_rgb8()),
    })
}

fn decode_tiff(data: &[u8], frame: usize, limits: Limits) -> Result<Pixels, IngestError> {
    use tiff::decoder::DecodingResult;
    use tiff::ColorType;
    let page = frame + 1;
    let corrupt = |e: tiff::TiffError| tiff_error(page, e);
    let mut tl = tiff::decoder::Limits::default();
    tl.decoding_buffer_size =
        usize::try_from(limits.max_pixels.saturating_mul(4)).unwrap_or(usize::MAX);
    let mut dec = tiff_decoder(data)?.with_limits(tl);
    dec.seek_to_image(frame).map_err(corrupt)?;
    let (w, h) = dec.dimensions().map_err(corrupt)?;
    let color = dec.colortype().map_err(corrupt)?;
    let result = dec.read_image().map_err(corrupt)?;
    let bytes = match result {
        DecodingResult::U8(v) => v,
        DecodingResult::U16(v) => v.iter().map(|x| (x >> 8) as u8).collect(),
        _ => {
            return Err(IngestError::Unsupported(format!(
                "TIFF page {page}: sample format of {color:?}"
            )))
        }
    };
    let short =
        || IngestError::Corrupt(format!("TIFF page {page}: fewer pixels than its size says"));
    let (wu, hu) = (w as usize, h as usize);
    match color {
        ColorType::Gray(1) => {
            // Packed rows, most significant bit first; after the decoder's photometric
            // handling a set bit is white.
            let stride = wu.div_ceil(8);
            if bytes.len() < stride * hu {
                return Err(short());
            }
            let mut img = GrayImage::new(w, h);
            for (y, row) in bytes.chunks(stride).take(hu).enumerate() {
                for x in 0..wu {
                    let bit = (row[x / 8] >> (7 - (x % 8))) & 1;
                    img.put_pixel(
                        x as u32,
                        y as u32,
                        image::Luma([if bit == 1 { 255 } else { 0 }]),
                    );
                }
            }
            Ok(Pixels::Bilevel(img))
        }
        ColorType::Gray(8) | ColorType::Gray(16) => {
            let v = bytes.get(..wu * hu).ok_or_else(short)?.to_vec();
            Ok(Pixels::Gray(
                GrayImage::from_raw(w, h, v).ok_or_else(short)?,
            ))
        }
        ColorType::RGB(8) | ColorType::RGB(16) => {
            let v = bytes.get(..wu * hu * 3).ok_or_else(short)?.to_vec();
            Ok(Pixels::Rgb(RgbImage::from_raw(w, h, v).ok_or_else(short)?))
        }
        ColorType::RGBA(8) | ColorType::RGBA(16) => {
            let v = bytes.get(..wu * hu * 4).ok_or_else(short)?;
            let rgb: Vec<u8> = v.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
            Ok(Pixels::Rgb(
                RgbImage::from_raw(w, h, rgb).ok_or_else(short)?,
            ))
        }
        other => Err(IngestError::Unsupported(format!(
            "TIFF page {page}: colour type {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_pixels: 150_000_000,
            assume_dpi: 300,
        }
    }

    fn cand() -> Candidate {
        Candidate {
            path: PathBuf::from("x"),
            rel: "x".into(),
        }
    }

    #[test]
    fn empty_and_unknown_files_are_rejected_with_clear_reasons() {
        let e = probe_bytes(&cand(), b"", limits(), None).unwrap_err();
        assert_eq!(e.to_string(), "file is empty (0 bytes)");
        let e = probe_bytes(&cand(), b"GIF89a...", limits(), None).unwrap_err();
        assert!(e.to_string().contains("unknown format"), "{e}");
        assert!(e.to_string().contains("GIF89a"), "{e}");
        let e = probe_bytes(&cand(), b"%PDF-1.7\n...", limits(), None).unwrap_err();
        assert!(e.to_string().contains("truncated PDF"), "{e}");
    }

    #[test]
    fn png_with_phys_reports_its_dpi_and_bomb_is_refused() {
        let img = GrayImage::from_pixel(40, 30, image::Luma([200]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        // no pHYs: assumed
        let src = probe_bytes(&cand(), &png, limits(), None).unwrap();
        assert_eq!(src.frames[0].dpi.source, DpiSource::Assumed);
        assert_eq!((src.frames[0].width, src.frames[0].height), (40, 30));
        let tiny = Limits {
            max_pixels: 1000,
            assume_dpi: 300,
        };
        let e = probe_bytes(&cand(), &png, tiny, None).unwrap_err();
        assert!(matches!(e, IngestError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn implausible_dpi_tags_are_replaced() {
        assert_eq!(
            resolve_dpi(Some((72.0, 72.0)), 300).source,
            DpiSource::Assumed
        );
        assert_eq!(resolve_dpi(Some((300.0, 300.0)), 200).x, 300.0);
    }

    #[test]
    fn jfif_density_is_read() {
        let img = GrayImage::from_pixel(16, 16, image::Luma([128]));
        let mut jpg = Vec::new();
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, 80);
        enc.set_pixel_density(image::codecs::jpeg::PixelDensity::dpi(300));
        enc.encode_image(&img).unwrap();
        assert_eq!(jpeg_dpi(&jpg), Some((300.0, 300.0)));
        let src = probe_bytes(&cand(), &jpg, limits(), None).unwrap();
        assert_eq!(src.frames[0].dpi.source, DpiSource::File);
        let px = decode_frame_bytes(&jpg, Format::Jpeg, 0, limits()).unwrap();
        assert!(matches!(px, Pixels::Gray(_)));
    }

    #[test]
    fn multipage_tiff_frames_are_counted_and_decoded() {
        use tiff::encoder::{colortype, TiffEncoder};
        let mut buf = Cursor::new(Vec::new());
        {
            let mut enc = TiffEncoder::new(&mut buf).unwrap();
            for shade in [10u8, 200u8, 90u8] {
                let data = vec![shade; 20 * 10];
                enc.write_image::<colortype::Gray8>(20, 10, &data).unwrap();
            }
        }
        let data = buf.into_inner();
        let src = probe_bytes(&cand(), &data, limits(), None).unwrap();
        assert_eq!(src.frames.len(), 3);
        match decode_frame_bytes(&data, Format::Tiff, 1, limits()).unwrap() {
            Pixels::Gray(g) => assert_eq!(g.get_pixel(3, 3)[0], 200),
            _ => panic!("expected gray"),
        }
        // truncated file: the header survives, the pixels do not
        let cut = &data[..data.len() / 3];
        let e = decode_frame_bytes(cut, Format::Tiff, 2, limits()).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn tiff_resolution_tags_are_read_as_the_rationals_they_are() {
        use tiff::encoder::{colortype, Rational, TiffEncoder};
        use tiff::tags::ResolutionUnit;
        let mut buf = Cursor::new(Vec::new());
        {
            let mut enc = TiffEncoder::new(&mut buf).unwrap();
            let mut img = enc.new_image::<colortype::Gray8>(20, 10).unwrap();
            img.resolution(ResolutionUnit::Inch, Rational { n: 150, d: 1 });
            img.write_data(&[128u8; 200]).unwrap();
        }
        let data = buf.into_inner();
        let src = probe_bytes(&cand(), &data, limits(), None).unwrap();
        let dpi = src.frames[0].dpi;
        assert_eq!(dpi.source, crate::model::DpiSource::File, "{dpi:?}");
        assert!(
            (dpi.x - 150.0).abs() < 0.01 && (dpi.y - 150.0).abs() < 0.01,
            "{dpi:?}"
        );
    }
}

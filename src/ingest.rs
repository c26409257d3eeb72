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
    /// Not a regular file (a link, a folder named like a page, a pipe): never opened.
    #[error("{0}")]
    NotAFile(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{}", io_reason(.0))]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Pdf(#[from] crate::pdf_input::PdfError),
}

/// Why a file of the batch cannot be read, in the operator's words.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "the file disappeared during the run (it was there when the batch was listed)".into()
        }
        std::io::ErrorKind::PermissionDenied => {
            "no permission to read the file (check its owner and mode)".into()
        }
        _ => format!("cannot read file: {e}"),
    }
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
    /// The format's usual name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "PNG",
            Format::Jpeg => "JPEG",
            Format::Tiff => "TIFF",
            Format::Pdf => "PDF",
        }
    }

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

/// An entry of the batch folder, before it was opened.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub path: PathBuf,
    /// Path relative to the batch folder with `/` separators; the stable sort key.
    pub rel: String,
    /// What the entry is. Only a regular file can hold pages; every other kind is
    /// refused by the probe and reported, so nothing in the batch passes unmentioned.
    pub kind: EntryKind,
}

impl Candidate {
    /// A regular file.
    pub fn file(path: impl Into<PathBuf>, rel: impl Into<String>) -> Candidate {
        Candidate {
            path: path.into(),
            rel: rel.into(),
            kind: EntryKind::File,
        }
    }
}

/// What a batch entry is, as listed. Links are never followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file: a page source.
    File,
    /// A symbolic link, with where it points and whether that is outside the batch.
    Symlink { target: String, outside: bool },
    /// A folder named like a page file (`scan_0007.tif/`): not descended into, since
    /// something that looks like one page is really a folder.
    FolderNamedLikePage { files: usize },
    /// A folder whose contents cannot be listed.
    Unlistable { error: String },
    /// A named pipe, socket or device: reading one could block the run for ever.
    Special { what: &'static str },
}

impl EntryKind {
    /// Why the entry is not read, when it is not a regular file.
    pub fn refusal(&self) -> Option<String> {
        Some(match self {
            EntryKind::File => return None,
            EntryKind::Symlink { target, outside } => format!(
                "symbolic link to {}{}: not followed; put the file itself into the batch",
                crate::model::printable(target),
                if *outside { " (outside the batch)" } else { "" }
            ),
            EntryKind::FolderNamedLikePage { files } => format!(
                "a folder named like a page file, holding {files} file(s): not read; move its files into the batch or rename it"
            ),
            EntryKind::Unlistable { error } => format!("folder cannot be listed: {error}"),
            EntryKind::Special { what } => format!("a {what}, not a regular file: not read"),
        })
    }
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

/// Name endings of page files; a folder named so is refused rather than read.
const PAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "pdf"];

/// Lists the entries of a batch folder recursively, in a stable order (relative path,
/// byte order). Symbolic links are not followed but listed, as are folders that cannot be
/// read, folders named like page files and special files: each becomes a candidate that
/// the probe refuses with its reason.
pub fn list_batch(dir: &Path) -> anyhow::Result<Listing> {
    use anyhow::Context;
    if !dir.is_dir() {
        anyhow::bail!(
            "batch folder {} does not exist or is not a folder",
            dir.display()
        );
    }
    let root = std::fs::canonicalize(dir)
        .with_context(|| format!("cannot resolve batch folder {}", dir.display()))?;
    let rel_of = |path: &Path| -> (String, bool) {
        let rel_path = path.strip_prefix(dir).unwrap_or(path);
        let parts: Vec<String> = rel_path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let hidden = parts.iter().any(|p| p.starts_with('.'));
        (parts.join("/"), hidden)
    };
    let mut listing = Listing::default();
    let mut walk = walkdir::WalkDir::new(dir).sort_by_file_name().into_iter();
    while let Some(entry) = walk.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                // A folder below the batch that cannot be read: reported, not fatal.
                let path = e.path().map(Path::to_path_buf);
                match path.filter(|p| p != dir) {
                    Some(path) => {
                        let (rel, hidden) = rel_of(&path);
                        if hidden {
                            listing.ignored.push(rel);
                        } else {
                            let error = e
                                .io_error()
                                .map_or_else(|| e.to_string(), ToString::to_string);
                            listing.candidates.push(Candidate {
                                path,
                                rel,
                                kind: EntryKind::Unlistable { error },
                            });
                        }
                        continue;
                    }
                    None => {
                        return Err(e).with_context(|| format!("cannot list {}", dir.display()))
                    }
                }
            }
        };
        if entry.depth() == 0 {
            continue;
        }
        let ft = entry.file_type();
        let (rel, hidden) = rel_of(entry.path());
        let name = entry.file_name().to_string_lossy();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap_or_default();
            let outside = !std::fs::canonicalize(entry.path()).is_ok_and(|t| t.starts_with(&root));
            EntryKind::Symlink {
                target: target.display().to_string(),
                outside,
            }
        } else if ft.is_dir() {
            let named_like_page = Path::new(name.as_ref()).extension().is_some_and(|x| {
                PAGE_EXTENSIONS.contains(&x.to_string_lossy().to_lowercase().as_str())
            });
            if !named_like_page || hidden {
                continue;
            }
            walk.skip_current_dir();
            let files = walkdir::WalkDir::new(entry.path())
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .count();
            EntryKind::FolderNamedLikePage { files }
        } else {
            use std::os::unix::fs::FileTypeExt;
            EntryKind::Special {
                what: if ft.is_fifo() {
                    "named pipe"
                } else if ft.is_socket() {
                    "socket"
                } else {
                    "device file"
                },
            }
        };
        if hidden || (kind == EntryKind::File && METADATA_NAMES.contains(&name.as_ref())) {
            listing.ignored.push(rel);
        } else {
            listing.candidates.push(Candidate {
                path: entry.path().to_path_buf(),
                rel,
                kind,
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
    if let Some(reason) = candidate.kind.refusal() {
        return Err(IngestError::NotAFile(reason));
    }
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
    if let Some(reason) = candidate.kind.refusal() {
        return Err(IngestError::NotAFile(reason));
    }
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
            .map_err(|e| {
                IngestError::Corrupt(format!("unreadable {} header: {e}", format.name()))
            })?,
    };
    if let Some(missing) = missing_end(data, format) {
        return Err(IngestError::Corrupt(format!(
            "truncated {}: {missing} (the file was cut short)",
            format.name()
        )));
    }
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

/// What is missing at the end of a PNG or JPEG that a writer stopped writing. Decoders
/// fill the rows they never got with gray and say nothing, so the end is checked first:
/// a PNG ends with its IEND chunk, a JPEG with the end-of-image marker after its last scan
/// (a thumbnail's marker earlier in the file does not count).
fn missing_end(data: &[u8], format: Format) -> Option<&'static str> {
    const EOI: [u8; 2] = [0xFF, 0xD9];
    const SOS: [u8; 2] = [0xFF, 0xDA];
    match format {
        Format::Png => {
            let tail = &data[data.len().saturating_sub(64)..];
            (!tail.windows(4).any(|w| w == b"IEND")).then_some("no IEND chunk at the end")
        }
        Format::Jpeg => match data.windows(2).rposition(|w| w == EOI) {
            Some(end) if !data[end..].windows(2).any(|w| w == SOS) => None,
            _ => Some("no end-of-image marker after the last scan"),
        },
        Format::Tiff | Format::Pdf => None,
    }
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

fn tiff_decoder<R: std::io::Read + std::io::Seek>(
    reader: R,
) -> Result<tiff::decoder::Decoder<R>, IngestError> {
    tiff::decoder::Decoder::new(reader).map_err(|e| tiff_error(1, e))
}

fn probe_tiff(data: &[u8], limits: Limits) -> Result<Vec<FrameInfo>, IngestError> {
    let mut dec = tiff_decoder(Cursor::new(data))?;
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
        Format::Tiff => decode_tiff(Cursor::new(data), frame, limits),
        Format::Pdf => {
            Ok(crate::pdf_input::decode(data, None, frame, limits, &PdfOptions::default())?.pixels)
        }
    }
}

/// A page as the pipeline reads it: its pixels; the JPEG that may go into the output
/// unchanged (a JPEG file's bytes, a PDF page's embedded JPEG); for PDF pages the page's
/// own text (a text page kept as text) and how it was read.
pub struct DecodedPage {
    pub pixels: Pixels,
    pub jpeg: Option<Vec<u8>>,
    pub text: Option<crate::ocr::PageText>,
    pub pdf: Option<crate::pdf_input::PdfPageInfo>,
}

/// Reads page `frame` of a probed file. A TIFF page is decoded straight from the file,
/// which reads its directories and that page's strips only: read whole, a multi-page TIFF
/// of 300 MB (gray pages of a legacy file) would be read, and held by each worker, once
/// for every one of its pages. Other formats are read whole.
pub fn read_page(
    src: &SourceFile,
    frame: usize,
    limits: Limits,
    pdf: &PdfOptions,
) -> Result<DecodedPage, IngestError> {
    if src.format == Format::Tiff {
        let file = std::io::BufReader::new(std::fs::File::open(&src.path)?);
        return Ok(DecodedPage {
            pixels: decode_tiff(file, frame, limits)?,
            jpeg: None,
            text: None,
            pdf: None,
        });
    }
    let data = std::fs::read(&src.path)?;
    let mut page = decode_page(&data, src, frame, limits, pdf)?;
    if src.format == Format::Jpeg {
        page.jpeg = Some(data);
    }
    Ok(page)
}

/// Decodes page `frame` of a probed file whose bytes are `data` (the file at `src.path`).
fn decode_page(
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
        .map_err(|e| IngestError::Corrupt(format!("unreadable {}: {e}", format.name())))?;
    let bilevel = matches!(decoder.original_color_type(), image::ExtendedColorType::L1);
    let img = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| IngestError::Corrupt(format!("damaged {} image data: {e}", format.name())))?;
    use image::DynamicImage as D;
    Ok(match img {
        D::ImageLuma8(g) if bilevel => Pixels::Bilevel(g),
        D::ImageLuma8(g) => Pixels::Gray(g),
        D::ImageLuma16(_) => Pixels::Gray(img.to_luma8()),
        D::ImageLumaA8(_) | D::ImageLumaA16(_) => {
            let la = img.to_luma_alpha8();
            let (w, h) = la.dimensions();
            let v = la.pixels().map(|p| on_white(p.0[0], p.0[1])).collect();
            Pixels::Gray(GrayImage::from_raw(w, h, v).expect("one byte per pixel"))
        }
        other if other.color().has_alpha() => {
            let rgba = other.to_rgba8();
            let (w, h) = rgba.dimensions();
            Pixels::Rgb(rgba_on_white(w, h, rgba.as_raw()).expect("four bytes per pixel"))
        }
        // no copy when the decoder gave RGB already
        other => Pixels::Rgb(other.into_rgb8()),
    })
}

/// A sample of a page with an alpha channel, laid on white paper: a transparent pixel is
/// paper, not the black its colour bytes often hold.
fn on_white(value: u8, alpha: u8) -> u8 {
    let (v, a) = (u32::from(value), u32::from(alpha));
    ((v * a + 255 * (255 - a) + 127) / 255) as u8
}

/// RGBA samples (8 bits) laid on white.
fn rgba_on_white(w: u32, h: u32, rgba: &[u8]) -> Option<RgbImage> {
    let rgb = rgba
        .chunks_exact(4)
        .flat_map(|p| [0, 1, 2].map(|c| on_white(p[c], p[3])))
        .collect();
    RgbImage::from_raw(w, h, rgb)
}

/// CMYK samples (8 bits, 0 = no ink) as RGB: the naive conversion, without a colour
/// profile; enough to read and archive a page a scanner wrote in print colours.
fn cmyk_to_rgb(w: u32, h: u32, cmyk: &[u8]) -> Option<RgbImage> {
    let rgb = cmyk
        .chunks_exact(4)
        .flat_map(|p| {
            let k = 255 - u32::from(p[3]);
            [0, 1, 2].map(|c| ((255 - u32::from(p[c])) * k / 255) as u8)
        })
        .collect();
    RgbImage::from_raw(w, h, rgb)
}

fn decode_tiff<R: std::io::Read + std::io::Seek>(
    reader: R,
    frame: usize,
    limits: Limits,
) -> Result<Pixels, IngestError> {
    use tiff::decoder::DecodingResult;
    use tiff::ColorType;
    let page = frame + 1;
    let corrupt = |e: tiff::TiffError| tiff_error(page, e);
    let mut tl = tiff::decoder::Limits::default();
    tl.decoding_buffer_size =
        usize::try_from(limits.max_pixels.saturating_mul(4)).unwrap_or(usize::MAX);
    let mut dec = tiff_decoder(reader)?.with_limits(tl);
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
        ColorType::GrayA(8) | ColorType::GrayA(16) => {
            let v = bytes.get(..wu * hu * 2).ok_or_else(short)?;
            let gray = v.chunks_exact(2).map(|p| on_white(p[0], p[1])).collect();
            Ok(Pixels::Gray(
                GrayImage::from_raw(w, h, gray).ok_or_else(short)?,
            ))
        }
        ColorType::RGBA(8) | ColorType::RGBA(16) => {
            let v = bytes.get(..wu * hu * 4).ok_or_else(short)?;
            Ok(Pixels::Rgb(rgba_on_white(w, h, v).ok_or_else(short)?))
        }
        ColorType::CMYK(8) | ColorType::CMYK(16) => {
            let v = bytes.get(..wu * hu * 4).ok_or_else(short)?;
            Ok(Pixels::Rgb(cmyk_to_rgb(w, h, v).ok_or_else(short)?))
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
        Candidate::file("x", "x")
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
    fn pages_of_a_file_on_disk_read_as_from_its_bytes() {
        use tiff::encoder::{colortype, TiffEncoder};
        let dir = tempfile::tempdir().unwrap();
        let mut buf = Cursor::new(Vec::new());
        {
            let mut enc = TiffEncoder::new(&mut buf).unwrap();
            for shade in [10u8, 200u8, 90u8] {
                let data: Vec<u8> = (0..20 * 10).map(|i| shade ^ (i % 7) as u8).collect();
                enc.write_image::<colortype::Gray8>(20, 10, &data).unwrap();
            }
        }
        let tif = buf.into_inner();
        let img = GrayImage::from_fn(16, 16, |x, y| image::Luma([(x * 9 + y) as u8]));
        let mut jpg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, 80)
            .encode_image(&img)
            .unwrap();
        for (name, bytes, format, frames) in [
            ("a.tif", &tif, Format::Tiff, 3),
            ("b.jpg", &jpg, Format::Jpeg, 1),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let src = probe_bytes(&Candidate::file(&path, name), bytes, limits(), None).unwrap();
            assert_eq!(src.frames.len(), frames);
            for frame in 0..frames {
                let page = read_page(&src, frame, limits(), &PdfOptions::default()).unwrap();
                let expected = decode_frame_bytes(bytes, format, frame, limits()).unwrap();
                assert_eq!(
                    page.pixels.sha256(),
                    expected.sha256(),
                    "{name} page {frame}"
                );
                // a JPEG file may go into the output as it came
                assert_eq!(
                    page.jpeg.as_ref(),
                    (format == Format::Jpeg).then_some(bytes)
                );
            }
        }
        // a TIFF cut short on disk says so, as from its bytes
        let path = dir.path().join("cut.tif");
        std::fs::write(&path, &tif[..tif.len() / 3]).unwrap();
        let src = SourceFile {
            path: path.clone(),
            ..probe_bytes(&cand(), &tif, limits(), None).unwrap()
        };
        let e = read_page(&src, 2, limits(), &PdfOptions::default())
            .err()
            .unwrap();
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

    #[test]
    fn links_odd_folders_and_pipes_are_listed_as_refused_entries() {
        let dir = tempfile::tempdir().unwrap();
        let batch = dir.path().join("batch");
        std::fs::create_dir_all(batch.join("sub")).unwrap();
        std::fs::write(batch.join("sub/a.png"), b"x").unwrap();
        std::fs::write(dir.path().join("outside.png"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.png"), batch.join("out.png")).unwrap();
        std::os::unix::fs::symlink("sub/a.png", batch.join("in.png")).unwrap();
        std::fs::create_dir_all(batch.join("scan.TIF/deeper")).unwrap();
        std::fs::write(batch.join("scan.TIF/deeper/b.png"), b"x").unwrap();
        std::fs::create_dir(batch.join(".hidden.tif")).unwrap();
        std::fs::write(batch.join(".hidden.tif/c.png"), b"x").unwrap();
        let listing = list_batch(&batch).unwrap();
        let kinds: Vec<(&str, &EntryKind)> = listing
            .candidates
            .iter()
            .map(|c| (c.rel.as_str(), &c.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    "in.png",
                    &EntryKind::Symlink {
                        target: "sub/a.png".into(),
                        outside: false
                    }
                ),
                (
                    "out.png",
                    &EntryKind::Symlink {
                        target: dir.path().join("outside.png").display().to_string(),
                        outside: true
                    }
                ),
                ("scan.TIF", &EntryKind::FolderNamedLikePage { files: 1 }),
                ("sub/a.png", &EntryKind::File),
            ]
        );
        assert_eq!(listing.ignored, vec![".hidden.tif/c.png".to_string()]);
        // the probe refuses every entry that is not a regular file, without opening it
        for c in &listing.candidates[..3] {
            let e = probe(c, limits()).unwrap_err();
            assert!(matches!(e, IngestError::NotAFile(_)), "{e}");
        }
        assert!(probe(&listing.candidates[0], limits())
            .unwrap_err()
            .to_string()
            .starts_with("symbolic link to sub/a.png: not followed"));
    }

    #[test]
    fn cut_pngs_and_jpegs_are_refused_and_whole_ones_with_a_thumbnail_pass() {
        let img = GrayImage::from_fn(64, 48, |x, y| image::Luma([(x * 3 + y) as u8]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let mut jpeg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        assert_eq!(missing_end(&png, Format::Png), None);
        assert_eq!(missing_end(&jpeg, Format::Jpeg), None);
        let e = probe_bytes(&cand(), &png[..png.len() - 20], limits(), None).unwrap_err();
        assert!(e.to_string().starts_with("truncated PNG"), "{e}");
        let e = probe_bytes(&cand(), &jpeg[..jpeg.len() - 2], limits(), None).unwrap_err();
        assert!(e.to_string().starts_with("truncated JPEG"), "{e}");
        // a whole JPEG stands in front as a thumbnail: its end marker does not make the
        // cut main image whole
        let mut with_thumb = vec![0xFF, 0xD8, 0xFF, 0xE1];
        with_thumb.extend_from_slice(&((jpeg.len() + 2) as u16).to_be_bytes());
        with_thumb.extend_from_slice(&jpeg);
        let whole_main = [&with_thumb[..], &jpeg[2..]].concat();
        assert_eq!(missing_end(&whole_main, Format::Jpeg), None);
        with_thumb.extend_from_slice(&jpeg[2..jpeg.len() - 10]);
        assert!(missing_end(&with_thumb, Format::Jpeg).is_some());
    }

    #[test]
    fn transparent_pixels_are_paper_and_cmyk_is_read_as_rgb() {
        // black ink as opacity over transparent black
        let la = image::ImageBuffer::<image::LumaA<u8>, _>::from_fn(4, 1, |x, _| {
            image::LumaA([0, [0, 255, 128, 0][x as usize]])
        });
        let mut png = Vec::new();
        image::DynamicImage::ImageLumaA8(la)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        match decode_single(&png, Format::Png, limits()).unwrap() {
            Pixels::Gray(g) => assert_eq!(g.as_raw(), &vec![255, 0, 127, 255]),
            _ => panic!("expected gray"),
        }
        let mut tif = Cursor::new(Vec::new());
        tiff::encoder::TiffEncoder::new(&mut tif)
            .unwrap()
            .write_image::<tiff::encoder::colortype::CMYK8>(2, 1, &[0, 0, 0, 0, 0, 255, 255, 0])
            .unwrap();
        match decode_frame_bytes(tif.get_ref(), Format::Tiff, 0, limits()).unwrap() {
            Pixels::Rgb(rgb) => assert_eq!(rgb.as_raw(), &vec![255, 255, 255, 255, 0, 0]),
            _ => panic!("expected colour"),
        }
    }
}

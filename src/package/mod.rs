//! Packaging: a document's pages become a searchable PDF and a JSON sidecar describing
//! every page (source, hash, resolution, OCR text and words) and the PDF itself.

pub mod font;
pub mod icc;
pub mod pdf;
pub mod transfer;

use serde::{Deserialize, Serialize};

use crate::ingest::Format;
use crate::model::{ColorKind, Dpi, Pixels};
use crate::ocr::PageText;
use pdf::{EncodedImage, ImageData};

/// Version of the document JSON layout; raised when a field changes meaning.
pub const DOCUMENT_SCHEMA_VERSION: u32 = 4;

/// Encodes a page image for the PDF. JPEG input with one or three components is embedded
/// as it came (no second lossy generation, no time spent); bilevel pages become CCITT G4;
/// other gray and colour pages are encoded as JPEG at `jpeg_quality`.
pub fn encode_image(
    pixels: &Pixels,
    source: Option<(Format, &[u8])>,
    jpeg_quality: u8,
) -> anyhow::Result<EncodedImage> {
    let (width, height) = (pixels.width(), pixels.height());
    if let (Some((Format::Jpeg, bytes)), Pixels::Gray(_) | Pixels::Rgb(_)) = (source, pixels) {
        if let Some(components) = jpeg_components(bytes) {
            let rgb = matches!(pixels, Pixels::Rgb(_));
            if (components == 1 && !rgb) || (components == 3 && rgb) {
                return Ok(EncodedImage {
                    width,
                    height,
                    data: ImageData::Jpeg {
                        bytes: bytes.to_vec(),
                        rgb,
                    },
                });
            }
        }
    }
    let data = match pixels {
        Pixels::Bilevel(g) => ImageData::G4 {
            bytes: encode_g4(g)?,
        },
        Pixels::Gray(g) => ImageData::Jpeg {
            bytes: crate::leptonica::Pix::from_gray(g)
                .and_then(|pix| pix.jpeg(jpeg_quality))
                .map_err(anyhow::Error::msg)?,
            rgb: false,
        },
        Pixels::Rgb(c) => ImageData::Jpeg {
            bytes: crate::leptonica::Pix::from_rgb(c)
                .and_then(|pix| pix.jpeg(jpeg_quality))
                .map_err(anyhow::Error::msg)?,
            rgb: true,
        },
    };
    Ok(EncodedImage {
        width,
        height,
        data,
    })
}

/// CCITT Group 4 of a bilevel image (0 = black ink).
pub fn encode_g4(img: &image::GrayImage) -> anyhow::Result<Vec<u8>> {
    let width = u16::try_from(img.width())
        .map_err(|_| anyhow::anyhow!("page too wide for CCITT G4 ({} pixels)", img.width()))?;
    let mut enc = fax::encoder::Encoder::new(fax::VecWriter::new());
    for row in img.rows() {
        let pels = row.map(|p| {
            if p[0] < 128 {
                fax::Color::Black
            } else {
                fax::Color::White
            }
        });
        enc.encode_line(pels, width)
            .map_err(|_| anyhow::anyhow!("G4 encoder failed"))?;
    }
    let writer = enc
        .finish()
        .map_err(|_| anyhow::anyhow!("G4 encoder failed"))?;
    Ok(writer.finish())
}

/// Number of colour components from a JPEG's start-of-frame segment.
fn jpeg_components(data: &[u8]) -> Option<u8> {
    let mut pos = 2;
    while pos + 4 <= data.len() {
        if data[pos] != 0xFF {
            return None;
        }
        let marker = data[pos + 1];
        let len = u16::from_be_bytes([data[pos + 2], data[pos + 3]]) as usize;
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            return data.get(pos + 9).copied();
        }
        pos += 2 + len;
    }
    None
}

/// The JSON sidecar of one delivered document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentRecord {
    pub schema_version: u32,
    pub id: String,
    /// Unique across runs (`<run id>-<id>`): the key a DMS stores to find the document.
    #[serde(default)]
    pub mailroom_id: String,
    pub mailroom_version: String,
    pub profile: String,
    pub created: String,
    /// The searchable PDF; absent when every page was removed (all blank).
    pub pdf: Option<FileRecord>,
    /// Pages removed from the document (blank pages, separator sheets), kept as evidence
    /// in their own PDF, with its path relative to the document folder.
    pub evidence_pdf: Option<FileRecord>,
    /// How the document was separated from the page stream: what started it, the cover
    /// sheet in front of it, and completeness flags.
    pub separation: crate::separation::SeparationRecord,
    /// Where the document goes and why (absent when routing is off). For confidential
    /// mail (`unopened`) no page keeps its text.
    #[serde(default)]
    pub routing: Option<crate::routing::RoutingRecord>,
    /// The transfer note (RESISCAN): capture facts, checks, hashes of every source page
    /// and of the PDF. The same note, without the PDF's own hash, is embedded in the PDF.
    /// (Empty when read from a schema-3 record, written before transfer notes existed.)
    #[serde(default)]
    pub transfer_note: transfer::TransferNote,
    /// The input files the pages came from, in page order.
    pub sources: Vec<SourceRecord>,
    /// The pages of the PDF, in order.
    pub pages: Vec<PageRecord>,
    /// Pages taken out of the document, in order; `number` is the page in the evidence PDF.
    pub removed_pages: Vec<RemovedPage>,
    pub timings_ms: Timings,
}

/// A page removed from a document and kept as evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemovedPage {
    pub reason: RemovalReason,
    #[serde(flatten)]
    pub page: PageRecord,
}

pub use crate::separation::RemovalReason;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    /// File name relative to the document folder.
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Path relative to the batch folder.
    pub file: String,
    pub format: Format,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageRecord {
    /// 1-based page number in its PDF (the document's, or the evidence PDF for a removed
    /// page).
    pub number: usize,
    pub source_file: String,
    /// 0-based frame in the source file.
    pub frame: usize,
    /// SHA-256 of the decoded pixels.
    pub sha256: String,
    pub width_px: u32,
    pub height_px: u32,
    pub dpi: Dpi,
    pub color: ColorKind,
    /// Bytes of the page image inside the PDF.
    pub image_bytes: usize,
    /// What cleanup found and did (skew, rotation, flags).
    pub cleanup: crate::cleanup::CleanupRecord,
    /// A Kodak patch code found on the page (read from the upright page, from its top).
    pub patch: Option<crate::patch::PatchCode>,
    /// Barcodes found on the page (empty for blank pages).
    pub barcodes: Vec<crate::barcode::Barcode>,
    /// For a page from a PDF: embedded image or rendered, kept text, repaired file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf: Option<crate::pdf_input::PdfPageInfo>,
    /// Absent for pages that were not OCRed (blank). For a PDF page kept with its own
    /// text, `language` is "pdf-text" and every word has confidence 100.
    pub ocr: Option<OcrRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OcrRecord {
    pub language: String,
    /// Mean word confidence 0-100; absent when no word was found.
    pub mean_confidence: Option<f32>,
    pub words: usize,
    pub text: String,
    pub lines: PageText,
}

/// Milliseconds of worker time spent per stage, summed over the document's pages.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Timings {
    pub decode: u64,
    pub cleanup: u64,
    pub barcodes: u64,
    #[serde(default)]
    pub patch: u64,
    pub ocr: u64,
    pub encode: u64,
    pub pdf: u64,
}

impl std::ops::AddAssign for Timings {
    fn add_assign(&mut self, o: Timings) {
        self.decode += o.decode;
        self.cleanup += o.cleanup;
        self.barcodes += o.barcodes;
        self.patch += o.patch;
        self.ocr += o.ocr;
        self.encode += o.encode;
        self.pdf += o.pdf;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g4_round_trips_through_the_decoder() {
        let mut img = image::GrayImage::from_pixel(64, 20, image::Luma([255]));
        for x in 10..30 {
            img.put_pixel(x, 5, image::Luma([0]));
        }
        let g4 = encode_g4(&img).unwrap();
        let mut rows: Vec<Vec<u8>> = Vec::new();
        fax::decoder::decode_g4(g4.iter().copied(), 64, Some(20), |transitions| {
            let row: Vec<u8> = fax::decoder::pels(transitions, 64)
                .map(|c| if c == fax::Color::Black { 0 } else { 255 })
                .collect();
            rows.push(row);
        });
        assert_eq!(rows.len(), 20);
        assert_eq!(rows[5][10], 0);
        assert_eq!(rows[5][9], 255);
        assert_eq!(rows[4][15], 255);
    }

    #[test]
    fn gray_and_colour_pages_are_encoded_as_jpeg_that_decodes_to_them() {
        let gray = image::GrayImage::from_fn(37, 21, |x, y| image::Luma([(x * 6 + y) as u8]));
        let rgb = image::RgbImage::from_fn(37, 21, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 9) as u8, 80])
        });
        for (pixels, components) in [(Pixels::Gray(gray), 1), (Pixels::Rgb(rgb), 3)] {
            let enc = encode_image(&pixels, None, 90).unwrap();
            let ImageData::Jpeg { bytes, rgb } = &enc.data else {
                panic!("expected JPEG")
            };
            assert_eq!(jpeg_components(bytes), Some(components));
            assert_eq!(*rgb, components == 3);
            let back = image::load_from_memory(bytes).unwrap();
            assert_eq!((back.width(), back.height()), (37, 21));
            // close to the page at quality 90
            let b = match &pixels {
                Pixels::Rgb(c) => c.clone(),
                other => image::DynamicImage::ImageLuma8(other.to_gray().into_owned()).to_rgb8(),
            };
            let a = back.to_rgb8();
            let diff: f64 = a
                .as_raw()
                .iter()
                .zip(b.as_raw())
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
                .sum::<f64>()
                / a.as_raw().len() as f64;
            assert!(diff < 4.0, "mean difference {diff}");
        }
    }
}

//! The searchable PDF: each page is the scanned image at its true physical size with an
//! invisible text layer (text render mode 3) placed word by word from the OCR boxes, so
//! that text extraction yields the words in reading order and a viewer's search
//! highlights the right spot.
//!
//! The text layer uses a glyphless TrueType font (Tesseract's `pdf.ttf`: one empty glyph,
//! half an em wide) as a CID font with Identity-H encoding, where the character code is
//! the Unicode code point, plus a ToUnicode map, so umlauts and ß extract as themselves.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use lopdf::{dictionary, Document, Object, ObjectId, Stream, StringFormat};

use crate::ocr::PageText;

/// How a page image is stored in the PDF.
pub enum ImageData {
    /// Baseline JPEG (DCTDecode), gray or RGB.
    Jpeg { bytes: Vec<u8>, rgb: bool },
    /// CCITT Group 4 (K = -1), bilevel, black ink as 0 bits.
    G4 { bytes: Vec<u8> },
}

/// A page image ready to embed.
pub struct EncodedImage {
    pub width: u32,
    pub height: u32,
    pub data: ImageData,
}

impl EncodedImage {
    pub fn len(&self) -> usize {
        match &self.data {
            ImageData::Jpeg { bytes, .. } | ImageData::G4 { bytes } => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One page to write.
pub struct PdfPage<'a> {
    pub image: &'a EncodedImage,
    /// Resolution of the image in dots per inch (x, y): sets the physical page size.
    pub dpi: (f32, f32),
    pub text: &'a PageText,
}

/// Document information written into the PDF.
pub struct PdfMeta<'a> {
    pub title: &'a str,
    /// PDF date string, e.g. `D:20261128220000Z`.
    pub created: &'a str,
}

/// The glyphless font program used for the invisible text layer.
pub struct GlyphlessFont {
    bytes: Vec<u8>,
}

/// Width of the font's one glyph in 1/1000 em; the text layer scales words to their box.
const GLYPH_WIDTH: f64 = 500.0;

impl GlyphlessFont {
    /// Finds `pdf.ttf` among Tesseract's data files (`TESSDATA_PREFIX` first, then
    /// Debian's locations).
    pub fn locate() -> Result<GlyphlessFont> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(p) = std::env::var_os("TESSDATA_PREFIX") {
            let p = PathBuf::from(p);
            dirs.push(p.join("tessdata"));
            dirs.push(p);
        }
        for d in [
            "/usr/share/tesseract-ocr/5/tessdata",
            "/usr/share/tesseract-ocr/4.00/tessdata",
            "/usr/share/tessdata",
            "/usr/local/share/tessdata",
        ] {
            dirs.push(PathBuf::from(d));
        }
        for d in &dirs {
            let p = d.join("pdf.ttf");
            if p.is_file() {
                return GlyphlessFont::load(&p);
            }
        }
        bail!("cannot find Tesseract's glyphless font pdf.ttf (looked in {}); install tesseract-ocr (scripts/setup.sh)",
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "))
    }

    pub fn load(path: &Path) -> Result<GlyphlessFont> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read font {}", path.display()))?;
        if bytes.len() < 12 || &bytes[..4] != b"\0\x01\0\0" {
            bail!("{} is not a TrueType font", path.display());
        }
        Ok(GlyphlessFont { bytes })
    }
}

/// Writes a PDF with the given pages and returns its bytes.
pub fn write_pdf(pages: &[PdfPage], meta: &PdfMeta, font: &GlyphlessFont) -> Result<Vec<u8>> {
    if pages.is_empty() {
        bail!("a PDF needs at least one page");
    }
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = add_font(&mut doc, font)?;

    let mut kids = Vec::with_capacity(pages.len());
    for page in pages {
        kids.push(add_page(&mut doc, pages_id, font_id, page)?.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::String(pdf_text_string(meta.title), StringFormat::Hexadecimal),
        "Producer" => Object::string_literal(format!("mailroom {}", crate::VERSION)),
        "Creator" => Object::string_literal(format!("mailroom {}", crate::VERSION)),
        "CreationDate" => Object::string_literal(meta.created),
        "ModDate" => Object::string_literal(meta.created),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).context("cannot serialise the PDF")?;
    Ok(out)
}

/// A PDF text string in UTF-16BE with byte-order mark (safe for any title).
fn pdf_text_string(s: &str) -> Vec<u8> {
    let mut v = vec![0xFE, 0xFF];
    for u in s.encode_utf16() {
        v.extend_from_slice(&u.to_be_bytes());
    }
    v
}

fn add_font(doc: &mut Document, font: &GlyphlessFont) -> Result<ObjectId> {
    let mut file = Stream::new(
        dictionary! { "Length1" => font.bytes.len() as i64 },
        font.bytes.clone(),
    );
    file.compress()?;
    let file_id = doc.add_object(file);

    // Every code (= Unicode code point) maps to glyph 1, the empty glyph; code 0 to .notdef.
    let mut map = vec![0u8; 65536 * 2];
    for cid in 1..65536usize {
        map[cid * 2 + 1] = 1;
    }
    let mut map_stream = Stream::new(dictionary! {}, map);
    map_stream.compress()?;
    let map_id = doc.add_object(map_stream);

    let mut to_unicode = Stream::new(dictionary! {}, to_unicode_cmap().into_bytes());
    to_unicode.compress()?;
    let to_unicode_id = doc.add_object(to_unicode);

    let descriptor_id = doc.add_object(dictionary! {
        "Type" => "FontDescriptor",
        "FontName" => "GlyphLessFont",
        "Flags" => 5,
        "FontBBox" => vec![0.into(), 0.into(), (GLYPH_WIDTH as i64).into(), 1000.into()],
        "ItalicAngle" => 0,
        "Ascent" => 1000,
        "Descent" => 0,
        "CapHeight" => 1000,
        "StemV" => 80,
        "FontFile2" => file_id,
    });
    let cid_font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "CIDFontType2",
        "BaseFont" => "GlyphLessFont",
        "CIDSystemInfo" => dictionary! {
            "Registry" => Object::string_literal("Adobe"),
            "Ordering" => Object::string_literal("Identity"),
            "Supplement" => 0,
        },
        "FontDescriptor" => descriptor_id,
        "DW" => GLYPH_WIDTH as i64,
        "CIDToGIDMap" => map_id,
    });
    Ok(doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type0",
        "BaseFont" => "GlyphLessFont",
        "Encoding" => "Identity-H",
        "DescendantFonts" => vec![cid_font_id.into()],
        "ToUnicode" => to_unicode_id,
    }))
}

/// ToUnicode CMap for codes that are Unicode code points of the Basic Multilingual Plane.
/// Ranges stay within one high byte, as the CMap format requires; surrogates are left out.
fn to_unicode_cmap() -> String {
    let mut ranges = String::new();
    let highs: Vec<u32> = (0..=0xFFu32)
        .filter(|h| !(0xD8..=0xDF).contains(h))
        .collect();
    for chunk in highs.chunks(100) {
        ranges.push_str(&format!("{} beginbfrange\n", chunk.len()));
        for h in chunk {
            ranges.push_str(&format!("<{h:02X}00> <{h:02X}FF> <{h:02X}00>\n"));
        }
        ranges.push_str("endbfrange\n");
    }
    format!(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n{ranges}\
endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    )
}

fn add_page(
    doc: &mut Document,
    parent: ObjectId,
    font_id: ObjectId,
    page: &PdfPage,
) -> Result<ObjectId> {
    let img = page.image;
    let (dpi_x, dpi_y) = (f64::from(page.dpi.0), f64::from(page.dpi.1));
    if dpi_x <= 0.0 || dpi_y <= 0.0 {
        bail!("page resolution must be positive");
    }
    let width_pt = f64::from(img.width) * 72.0 / dpi_x;
    let height_pt = f64::from(img.height) * 72.0 / dpi_y;

    let image_id = doc.add_object(image_stream(img));
    let mut content = format!(
        "q {} 0 0 {} 0 0 cm /Im0 Do Q\n",
        num(width_pt),
        num(height_pt)
    );
    content.push_str(&text_layer(
        page.text,
        72.0 / dpi_x,
        72.0 / dpi_y,
        height_pt,
    ));
    let mut content_stream = Stream::new(dictionary! {}, content.into_bytes());
    content_stream.compress()?;
    let content_id = doc.add_object(content_stream);

    Ok(doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => parent,
        "MediaBox" => vec![0.into(), 0.into(), Object::Real(width_pt as f32), Object::Real(height_pt as f32)],
        "Contents" => content_id,
        "Resources" => dictionary! {
            "XObject" => dictionary! { "Im0" => image_id },
            "Font" => dictionary! { "F0" => font_id },
        },
    }))
}

fn image_stream(img: &EncodedImage) -> Stream {
    let (dict, bytes) = match &img.data {
        ImageData::Jpeg { bytes, rgb } => (
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Image",
                "Width" => img.width as i64,
                "Height" => img.height as i64,
                "ColorSpace" => if *rgb { "DeviceRGB" } else { "DeviceGray" },
                "BitsPerComponent" => 8,
                "Filter" => "DCTDecode",
            },
            bytes.clone(),
        ),
        ImageData::G4 { bytes } => (
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Image",
                "Width" => img.width as i64,
                "Height" => img.height as i64,
                "ColorSpace" => "DeviceGray",
                "BitsPerComponent" => 1,
                "Filter" => "CCITTFaxDecode",
                "DecodeParms" => dictionary! {
                    "K" => -1,
                    "Columns" => img.width as i64,
                    "Rows" => img.height as i64,
                    "BlackIs1" => false,
                },
            },
            bytes.clone(),
        ),
    };
    Stream::new(dict, bytes).with_compression(false)
}

/// The invisible text: one text object, each line positioned at its box, each word
/// stretched (Tz) so that it spans from its own left edge to the next word's, the space
/// included, and the last word of a line to its right edge.
fn text_layer(text: &PageText, sx: f64, sy: f64, page_h: f64) -> String {
    let mut out = String::from("BT\n3 Tr\n");
    for line in &text.lines {
        let font_size = (f64::from(line.bbox.h) * sy).max(1.0);
        let baseline = page_h - f64::from(line.bbox.bottom()) * sy;
        for (i, word) in line.words.iter().enumerate() {
            let next = line.words.get(i + 1);
            let mut s = word.text.clone();
            let mut span_px = f64::from(word.bbox.w);
            if let Some(n) = next {
                if n.bbox.x > word.bbox.x {
                    s.push(' ');
                    span_px = f64::from(n.bbox.x - word.bbox.x);
                }
            }
            let chars = s.chars().count().max(1) as f64;
            let natural = chars * GLYPH_WIDTH / 1000.0 * font_size;
            let scale = 100.0 * (span_px * sx).max(0.1) / natural;
            out.push_str(&format!(
                "/F0 {} Tf {} Tz 1 0 0 1 {} {} Tm <{}> Tj\n",
                num(font_size),
                num(scale),
                num(f64::from(word.bbox.x) * sx),
                num(baseline),
                utf16_codes(&s)
            ));
        }
    }
    out.push_str("ET\n");
    out
}

/// Hex character codes: the Unicode code point of each character, two bytes each;
/// characters outside the Basic Multilingual Plane become U+FFFD.
fn utf16_codes(s: &str) -> String {
    let mut hex = String::with_capacity(s.len() * 4);
    for c in s.chars() {
        let cp = u32::from(c);
        let code = if cp > 0xFFFF || (0xD800..=0xDFFF).contains(&cp) {
            0xFFFD
        } else {
            cp
        };
        hex.push_str(&format!("{code:04X}"));
    }
    hex
}

/// A number for content streams: at most two decimals, no exponent.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_plain() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(595.2756), "595.28");
        assert_eq!(num(-0.001), "0");
    }

    #[test]
    fn codes_are_code_points() {
        assert_eq!(utf16_codes("Aß"), "004100DF");
        assert_eq!(utf16_codes("😀"), "FFFD");
    }

    #[test]
    fn cmap_ranges_skip_surrogates() {
        let c = to_unicode_cmap();
        assert!(c.contains("<0000> <00FF> <0000>"));
        assert!(!c.contains("<D800>"));
        assert_eq!(c.matches("<FF00> <FFFF> <FF00>").count(), 1);
    }
}

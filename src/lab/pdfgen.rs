//! Scanner-style PDFs for tests and the sample generator: every page one image, stored
//! the way scanners and contractors store them (JPEG for gray and colour, CCITT G4 or
//! JBIG2 for bilevel, Flate for lossless gray, 1-bit with an inverted `/Decode`, image
//! masks), some pages turned by `/Rotate` or by the image matrix, so that each page still
//! shows exactly the pixels it was made from. Also a small born-digital text PDF.
//!
//! `mailroom-lab generate --pdf some|all` turns the files of a generated batch into such
//! PDFs ([`convert_batch`]): the same pages, in the same order, with the same truth.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use image::{GrayImage, RgbImage};
use lopdf::{dictionary, Document, Object, Stream};

use crate::model::Pixels;

/// How a page image is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// DCTDecode at this quality (gray or RGB).
    Jpeg(u8),
    /// CCITT G4 (bilevel).
    G4,
    /// JBIG2 (bilevel; MMR-coded generic region).
    Jbig2,
    /// Flate, samples as they are (1-bit for bilevel, 8-bit gray, 24-bit RGB), with the
    /// PNG "Up" predictor when `predictor`.
    Flate { predictor: bool },
    /// 1-bit Flate with inverted samples and `/Decode [1 0]`.
    FlateInverted,
    /// 1-bit `/ImageMask` (painted black).
    ImageMask,
}

/// How the image is placed on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Upright,
    /// The page has `/Rotate` (clockwise degrees); the image is stored turned back.
    Rotate(u32),
    /// The image matrix turns the stored image by this many degrees clockwise.
    Matrix(u32),
}

/// One page: the pixels as the page shows them.
pub struct ScanPage<'a> {
    pub pixels: &'a Pixels,
    pub dpi: f32,
    pub encoding: Encoding,
    pub placement: Placement,
    /// A JPEG of exactly these pixels to embed unchanged (`Encoding::Jpeg`, upright).
    pub jpeg: Option<&'a [u8]>,
}

/// Turns pixels clockwise by `deg` (0/90/180/270).
fn turn(p: &Pixels, deg: u32) -> Pixels {
    use image::imageops::{rotate180, rotate270, rotate90};
    let g = |g: &GrayImage| match deg % 360 {
        90 => rotate90(g),
        180 => rotate180(g),
        270 => rotate270(g),
        _ => g.clone(),
    };
    let c = |c: &RgbImage| match deg % 360 {
        90 => rotate90(c),
        180 => rotate180(c),
        270 => rotate270(c),
        _ => c.clone(),
    };
    match p {
        Pixels::Bilevel(x) => Pixels::Bilevel(g(x)),
        Pixels::Gray(x) => Pixels::Gray(g(x)),
        Pixels::Rgb(x) => Pixels::Rgb(c(x)),
    }
}

fn pack_bits(g: &GrayImage, black_bit: u8) -> Vec<u8> {
    let stride = (g.width() as usize).div_ceil(8);
    let mut out = vec![0u8; stride * g.height() as usize];
    for (y, row) in g.rows().enumerate() {
        for (x, p) in row.enumerate() {
            let bit = if p[0] < 128 { black_bit } else { 1 - black_bit };
            if bit == 1 {
                out[y * stride + x / 8] |= 0x80 >> (x % 8);
            }
        }
    }
    out
}

/// PNG "Up" predictor rows (filter byte 2 before each row).
fn up_predicted(raw: &[u8], row: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / row.max(1) + 1);
    for (i, r) in raw.chunks(row).enumerate() {
        out.push(2);
        if i == 0 {
            out.extend_from_slice(r);
        } else {
            let prev = &raw[(i - 1) * row..i * row];
            out.extend(r.iter().zip(prev).map(|(a, b)| a.wrapping_sub(*b)));
        }
    }
    out
}

fn flate(dict: lopdf::Dictionary, raw: Vec<u8>) -> Result<Stream> {
    let mut s = Stream::new(dict, raw);
    s.compress().map_err(|e| anyhow!("cannot compress: {e}"))?;
    if !s.dict.has(b"Filter") {
        s.dict.set("Filter", "FlateDecode");
    }
    Ok(s)
}

/// The image XObject of a stored (already turned) image.
fn image_stream(p: &Pixels, encoding: Encoding, jpeg: Option<&[u8]>) -> Result<Stream> {
    let (w, h) = (i64::from(p.width()), i64::from(p.height()));
    let base = |cs: &str, bpc: i64| {
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => w, "Height" => h,
            "ColorSpace" => cs, "BitsPerComponent" => bpc,
        }
    };
    let bilevel = |what: &str| -> Result<&GrayImage> {
        match p {
            Pixels::Bilevel(g) => Ok(g),
            _ => bail!("{what} needs a bilevel page"),
        }
    };
    Ok(match encoding {
        Encoding::Jpeg(q) => {
            let (cs, bytes) = match (p, jpeg) {
                (Pixels::Rgb(_), Some(j)) => ("DeviceRGB", j.to_vec()),
                (_, Some(j)) => ("DeviceGray", j.to_vec()),
                (Pixels::Rgb(c), None) => (
                    "DeviceRGB",
                    jpeg_of(c.as_raw(), c.width(), c.height(), true, q)?,
                ),
                (Pixels::Gray(g) | Pixels::Bilevel(g), None) => (
                    "DeviceGray",
                    jpeg_of(g.as_raw(), g.width(), g.height(), false, q)?,
                ),
            };
            let mut d = base(cs, 8);
            d.set("Filter", "DCTDecode");
            Stream::new(d, bytes).with_compression(false)
        }
        Encoding::G4 => {
            let g = bilevel("G4")?;
            let mut d = base("DeviceGray", 1);
            d.set("Filter", "CCITTFaxDecode");
            d.set(
                "DecodeParms",
                dictionary! { "K" => -1, "Columns" => w, "Rows" => h },
            );
            Stream::new(d, crate::package::encode_g4(g)?).with_compression(false)
        }
        Encoding::Jbig2 => {
            let g = bilevel("JBIG2")?;
            let mut d = base("DeviceGray", 1);
            d.set("Filter", "JBIG2Decode");
            let data = crate::pdf_input::jbig2::mmr_page(
                g.width(),
                g.height(),
                &crate::package::encode_g4(g)?,
            );
            Stream::new(d, data).with_compression(false)
        }
        Encoding::Flate { predictor } => {
            let (cs, bpc, raw, row) = match p {
                Pixels::Bilevel(g) => ("DeviceGray", 1, pack_bits(g, 0), (w as usize).div_ceil(8)),
                Pixels::Gray(g) => ("DeviceGray", 8, g.as_raw().clone(), w as usize),
                Pixels::Rgb(c) => ("DeviceRGB", 8, c.as_raw().clone(), 3 * w as usize),
            };
            let mut d = base(cs, bpc);
            let colors = if matches!(p, Pixels::Rgb(_)) { 3 } else { 1 };
            if predictor {
                d.set(
                    "DecodeParms",
                    dictionary! { "Predictor" => 12, "Colors" => colors, "BitsPerComponent" => bpc, "Columns" => w },
                );
                let s = flate(d, up_predicted(&raw, row))?;
                return Ok(s);
            }
            flate(d, raw)?
        }
        Encoding::FlateInverted => {
            let g = bilevel("an inverted /Decode")?;
            let mut d = base("DeviceGray", 1);
            d.set("Decode", vec![Object::Integer(1), Object::Integer(0)]);
            flate(d, pack_bits(g, 1))?
        }
        Encoding::ImageMask => {
            let g = bilevel("an image mask")?;
            let d = dictionary! {
                "Type" => "XObject", "Subtype" => "Image", "Width" => w, "Height" => h,
                "ImageMask" => true,
            };
            flate(d, pack_bits(g, 0))?
        }
    })
}

fn jpeg_of(raw: &[u8], w: u32, h: u32, rgb: bool, quality: u8) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    let color = if rgb {
        image::ExtendedColorType::Rgb8
    } else {
        image::ExtendedColorType::L8
    };
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(raw, w, h, color)?;
    Ok(out)
}

fn num(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Writes a scanner-style PDF: one image per page.
pub fn scanner_pdf(pages: &[ScanPage]) -> Result<Vec<u8>> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::new();
    for page in pages {
        let (turned, rotate, cm_turn) = match page.placement {
            Placement::Upright => (None, 0, 0),
            // stored turned back (anticlockwise), shown turned clockwise by /Rotate
            Placement::Rotate(r) => (Some(turn(page.pixels, 360 - r % 360)), r % 360, 0),
            Placement::Matrix(r) => (Some(turn(page.pixels, 360 - r % 360)), 0, r % 360),
        };
        let stored = turned.as_ref().unwrap_or(page.pixels);
        let jpeg = page.jpeg.filter(|_| turned.is_none());
        let image_id = doc.add_object(image_stream(stored, page.encoding, jpeg)?);
        let pt = |px: u32| f64::from(px) * 72.0 / f64::from(page.dpi);
        // the page as shown, in points
        let (sw, sh) = (pt(page.pixels.width()), pt(page.pixels.height()));
        let (mw, mh) = if rotate % 180 == 90 {
            (sh, sw)
        } else {
            (sw, sh)
        };
        let cm: [f64; 6] = match cm_turn {
            90 => [0.0, -sh, sw, 0.0, 0.0, sh],
            180 => [-sw, 0.0, 0.0, -sh, sw, sh],
            270 => [0.0, sh, -sw, 0.0, sw, 0.0],
            _ => [mw, 0.0, 0.0, mh, 0.0, 0.0],
        };
        let content = format!(
            "q {} cm /Im0 Do Q\n",
            cm.iter().map(|v| num(*v)).collect::<Vec<_>>().join(" ")
        );
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let mut page_dict = dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), Object::Real(mw as f32), Object::Real(mh as f32)],
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
            "Contents" => content_id,
        };
        if rotate != 0 {
            page_dict.set("Rotate", i64::from(rotate));
        }
        kids.push(Object::Reference(doc.add_object(page_dict)));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).context("cannot write PDF")?;
    Ok(out)
}

/// A born-digital A4 letter page: lines of text in Helvetica (WinAnsiEncoding, so ä ö ü
/// ß are single bytes), drawn top down from 30 mm.
pub fn text_pdf(lines: &[&str]) -> Result<Vec<u8>> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
    });
    let mut content = String::from("BT /F1 12 Tf 14 TL 72 760 Td\n");
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(content.as_bytes());
        content.clear();
        bytes.push(b'(');
        for c in line.chars() {
            let b = match c {
                'ä' => 0xE4,
                'ö' => 0xF6,
                'ü' => 0xFC,
                'Ä' => 0xC4,
                'Ö' => 0xD6,
                'Ü' => 0xDC,
                'ß' => 0xDF,
                '(' | ')' | '\\' => {
                    bytes.push(b'\\');
                    c as u8
                }
                c if c.is_ascii() => c as u8,
                _ => b'?',
            };
            bytes.push(b);
        }
        bytes.extend_from_slice(b") Tj T*\n");
    }
    bytes.extend_from_slice(b"ET\n");
    let content_id = doc.add_object(Stream::new(dictionary! {}, bytes));
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id,
        "MediaBox" => vec![0.into(), 0.into(), Object::Real(595.2756), Object::Real(841.8898)],
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
        "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
        ),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).context("cannot write PDF")?;
    Ok(out)
}

/// Which files of a batch `convert_batch` turns into PDFs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PdfShare {
    None,
    /// Every other file (the 2nd, 4th, ...).
    Some,
    All,
}

/// Turns page files of a generated batch into scanner-style PDFs with the same pages, and
/// rewrites `truth.json` for the new names. Gray and colour JPEGs keep their JPEG (DCT,
/// unchanged bytes); bilevel pages become G4, every third bilevel file JBIG2; gray
/// lossless pages Flate (with the PNG predictor on every other file). Lossless pages
/// are placed with `/Rotate` or a turned image matrix on some files (cycling through 90,
/// 180, 270), so the reader must turn them back. Returns the number of files converted.
pub fn convert_batch(dir: &Path, share: PdfShare) -> Result<usize> {
    use crate::lab::truth::{Truth, TRUTH_FILE};
    if share == PdfShare::None {
        return Ok(0);
    }
    let truth_path = dir.join(TRUTH_FILE);
    let mut truth: Truth =
        serde_json::from_slice(&std::fs::read(&truth_path).context("cannot read truth.json")?)?;
    let mut files: Vec<String> = truth.pages.iter().map(|p| p.file.clone()).collect();
    files.dedup();
    let limits = crate::ingest::Limits {
        max_pixels: u64::MAX,
        assume_dpi: 300,
    };
    let placements = [
        Placement::Upright,
        Placement::Rotate(90),
        Placement::Matrix(90),
        Placement::Rotate(180),
        Placement::Matrix(270),
        Placement::Rotate(270),
        Placement::Matrix(180),
    ];
    let mut converted = 0;
    let mut bilevel_files = 0;
    let mut lossless_files = 0;
    for (n, file) in files.iter().enumerate() {
        if share == PdfShare::Some && n % 2 == 0 {
            continue;
        }
        let path = dir.join(file);
        let data =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let candidate = crate::ingest::Candidate::file(path.clone(), file.clone());
        let src = crate::ingest::probe(&candidate, limits).map_err(|e| anyhow!("{file}: {e}"))?;
        let mut frames = Vec::new();
        for (i, info) in src.frames.iter().enumerate() {
            let px = crate::ingest::decode_frame_bytes(&data, src.format, i, limits)
                .map_err(|e| anyhow!("{file}: {e}"))?;
            frames.push((px, info.dpi.x));
        }
        let is_jpeg = src.format == crate::ingest::Format::Jpeg;
        let bilevel = frames.iter().all(|(p, _)| matches!(p, Pixels::Bilevel(_)));
        let (encoding, placement_of): (Encoding, Box<dyn Fn(usize) -> Placement>) = if is_jpeg {
            (Encoding::Jpeg(90), Box::new(|_| Placement::Upright))
        } else {
            lossless_files += 1;
            let k = lossless_files;
            let enc = if bilevel {
                bilevel_files += 1;
                if bilevel_files % 3 == 0 {
                    Encoding::Jbig2
                } else {
                    Encoding::G4
                }
            } else {
                Encoding::Flate {
                    predictor: k % 2 == 0,
                }
            };
            (
                enc,
                Box::new(move |i| placements[(k + i) % placements.len()]),
            )
        };
        let pages: Vec<ScanPage> = frames
            .iter()
            .enumerate()
            .map(|(i, (px, dpi))| ScanPage {
                pixels: px,
                dpi: *dpi,
                encoding,
                placement: placement_of(i),
                jpeg: is_jpeg.then_some(data.as_slice()),
            })
            .collect();
        let pdf = scanner_pdf(&pages)?;
        let new_name = Path::new(file)
            .with_extension("pdf")
            .to_string_lossy()
            .replace('\\', "/");
        std::fs::write(dir.join(&new_name), pdf)?;
        std::fs::remove_file(&path)?;
        for p in truth.pages.iter_mut().filter(|p| &p.file == file) {
            p.file = new_name.clone();
        }
        converted += 1;
    }
    let share_name = if share == PdfShare::All {
        "all"
    } else {
        "some"
    };
    truth.generator = format!("{} --pdf {share_name}", truth.generator);
    std::fs::write(&truth_path, serde_json::to_string_pretty(&truth)? + "\n")?;
    Ok(converted)
}

//! PDF input: every page of a PDF becomes a batch page.
//!
//! A page that is one image filling the page (a scanner's PDF) gives that image as it is
//! stored, turned as the page shows it (`/Rotate` and the image matrix), at the true
//! resolution from its pixel size and its placed size: nothing is lost and nothing is
//! rasterised ([`image`]). Any other page (vector graphics, text, several images, masks,
//! an image filter or colour space not handled here) is rendered with MuPDF
//! ([`render`]) at the profile's `pdf_render_dpi`, in gray. A page with real text (text
//! shown in a visible render mode, and no scanned image under it) is a born-digital page:
//! with `pdf_text = "keep"` its text is read with positions instead of OCRed.
//!
//! Refused with a one-line reason: encrypted files (also with an empty password),
//! JavaScript and launch actions, embedded files, truncated files, zero pages, too many
//! pages, empty pages, pages too large. A broken cross-reference table is rebuilt by
//! lopdf, and the pages say so (`repaired`). lopdf runs under `catch_unwind`: a hostile
//! file ends as a reason, not a crash.

pub mod content;
pub mod image;
pub mod jbig2;
pub mod render;

use std::path::{Path, PathBuf};

use lopdf::{Dictionary, Document, Object, ObjectId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ingest::{FrameInfo, Limits};
use crate::model::{Dpi, DpiSource, Pixels};
use crate::ocr::PageText;
use content::Matrix;
use image::{ImageSpec, Orientation};

/// `ocr.language` of a page whose text was taken from the PDF instead of OCR.
pub const KEPT_TEXT_LANGUAGE: &str = "pdf-text";
/// Most pages a PDF may have.
pub const MAX_PAGES: usize = 10_000;
/// Largest page side in points (200 inches, ISO 32000's implementation limit).
const MAX_SIDE_PT: f64 = 14_400.0;
/// An image covering at least this share of the page (and not much more) is the page.
const FULL_PAGE: f64 = 0.95;
/// Visible text over an image covering this share of the page is a stamp on a scan.
const SCAN_UNDER_TEXT: f64 = 0.5;

/// What to do with a page that carries real text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TextMode {
    /// Keep the PDF's own text (no OCR: exact and fast).
    #[default]
    Keep,
    /// OCR the rendered page like a scan.
    Ocr,
}

/// PDF settings of a run (profile `[input]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PdfOptions {
    pub render_dpi: u32,
    pub text: TextMode,
    /// Take PDFs with embedded files (attachments) instead of refusing them. Off for mail
    /// (an attachment is not a page and would be lost); on for `validate`, where a PDF/A-3
    /// delivery may carry associated files and the PDF/A check judges them.
    pub allow_attachments: bool,
}

impl Default for PdfOptions {
    fn default() -> Self {
        PdfOptions {
            render_dpi: 300,
            text: TextMode::Keep,
            allow_attachments: false,
        }
    }
}

/// How a PDF page became a batch page: in the document JSON (`pages[].pdf`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PdfPageInfo {
    /// 1-based page in the PDF.
    pub page: usize,
    pub method: Method,
    /// For `embedded`: the image's filter (DCTDecode, CCITTFaxDecode, JBIG2Decode,
    /// FlateDecode, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// For `rendered`: why the page was rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The page carries real text: `keep` (the PDF's text is the page's text) or `ocr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextMode>,
    /// The file's cross-reference table was broken and rebuilt (by lopdf) to read it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repaired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The page's embedded image, taken as stored.
    Embedded,
    /// The page rendered by MuPDF.
    Rendered,
}

#[derive(Debug, Error)]
pub enum PdfError {
    #[error("encrypted PDF: it opens without a password, but encrypted files are not taken (ask the sender for an unencrypted copy)")]
    EncryptedEmptyPassword,
    #[error("encrypted PDF: it needs a password to open")]
    Encrypted,
    #[error("PDF with JavaScript: active content is not taken")]
    JavaScript,
    #[error("PDF with a launch action: active content is not taken")]
    Launch,
    #[error(
        "PDF with embedded files: attachments are not taken (send them as files of their own)"
    )]
    EmbeddedFiles,
    #[error("truncated PDF: the file ends without %%EOF (cut off in transfer?)")]
    Truncated,
    #[error("unreadable PDF: {0}")]
    Unreadable(String),
    #[error("PDF without pages")]
    NoPages,
    #[error("PDF with {pages} pages, more than the limit of {limit}")]
    TooManyPages { pages: usize, limit: usize },
    #[error("page {page} of the PDF has no content")]
    EmptyPage { page: usize },
    #[error("page {page} of the PDF is {w_mm} x {h_mm} mm: not a sheet of paper")]
    PageTooLarge { page: usize, w_mm: i64, h_mm: i64 },
    #[error("page {page}: {reason}")]
    Page { page: usize, reason: String },
    #[error("the PDF reader failed on this file ({0})")]
    Internal(String),
}

/// A loaded PDF and whether it had to be repaired.
struct Opened {
    doc: Document,
    repaired: bool,
}

/// Runs lopdf work so that a panic on a hostile file becomes an error.
fn guarded<T>(work: impl FnOnce() -> Result<T, PdfError>) -> Result<T, PdfError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        Err(PdfError::Internal(msg))
    })
}

fn open(data: &[u8], limits: Limits, opts: &PdfOptions) -> Result<Opened, PdfError> {
    let tail = &data[data.len().saturating_sub(1024)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(PdfError::Truncated);
    }
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(
            usize::try_from(limits.max_pixels.saturating_mul(8)).unwrap_or(usize::MAX),
        ),
        ..Default::default()
    };
    let doc = match guarded(|| {
        Document::load_mem_with_options(data, options)
            .map_err(|e| PdfError::Unreadable(e.to_string()))
    }) {
        Ok(doc) => doc,
        Err(e) => {
            // lopdf refuses some encrypted files outright: name the real problem.
            if contains(data, b"/Encrypt") {
                return Err(PdfError::Encrypted);
            }
            return Err(e);
        }
    };
    if doc.trailer.has(b"Encrypt") || doc.was_encrypted() || doc.is_encrypted() {
        return Err(
            if doc.encryption_state.is_some() || doc.authenticate_user_password("").is_ok() {
                PdfError::EncryptedEmptyPassword
            } else {
                PdfError::Encrypted
            },
        );
    }
    active_content(&doc, opts.allow_attachments)?;
    Ok(Opened {
        repaired: doc.xref_recovery.is_some(),
        doc,
    })
}

fn contains(data: &[u8], needle: &[u8]) -> bool {
    data.windows(needle.len()).any(|w| w == needle)
}

/// Refuses JavaScript (actions, name tree), launch actions and (unless allowed) embedded
/// files, wherever they stand in the file: in objects of their own and in dictionaries
/// written directly inside others (an `/OpenAction << /S /JavaScript ... >>`).
fn active_content(doc: &Document, allow_attachments: bool) -> Result<(), PdfError> {
    fn visit(obj: &Object, allow_attachments: bool, depth: usize) -> Result<(), PdfError> {
        if depth > 64 {
            return Ok(());
        }
        let dict = match obj {
            Object::Dictionary(d) => d,
            Object::Stream(s) => &s.dict,
            Object::Array(items) => {
                for item in items {
                    visit(item, allow_attachments, depth + 1)?;
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        let name = |key: &[u8]| dict.get(key).ok().and_then(|o| o.as_name().ok());
        if dict.has(b"JS") || dict.has(b"JavaScript") || name(b"S") == Some(b"JavaScript") {
            return Err(PdfError::JavaScript);
        }
        if name(b"S") == Some(b"Launch") {
            return Err(PdfError::Launch);
        }
        let attachment = dict.has(b"EmbeddedFiles")
            || name(b"Type") == Some(b"EmbeddedFile")
            || name(b"Subtype") == Some(b"FileAttachment");
        if attachment && !allow_attachments {
            return Err(PdfError::EmbeddedFiles);
        }
        for (_, value) in dict.iter() {
            if matches!(value, Object::Dictionary(_) | Object::Array(_)) {
                visit(value, allow_attachments, depth + 1)?;
            }
        }
        Ok(())
    }
    for obj in doc.objects.values() {
        visit(obj, allow_attachments, 0)?;
    }
    Ok(())
}

/// How one page is read.
#[derive(Debug, Clone)]
struct Plan {
    info: PdfPageInfo,
    width: u32,
    height: u32,
    dpi: (f32, f32),
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Embedded {
        image: ObjectId,
        spec: ImageSpec,
        orientation: Orientation,
    },
    Render {
        /// Real text: read it (with `TextMode::Keep`).
        text: bool,
    },
}

/// An inherited page attribute (ISO 32000-1 7.7.3.4).
fn inherited<'a>(doc: &'a Document, page: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    let mut node = page;
    for _ in 0..64 {
        if let Ok(v) = node.get(key) {
            return Some(match v {
                Object::Reference(id) => doc.get_object(*id).ok()?,
                other => other,
            });
        }
        node = doc
            .get_dictionary(node.get(b"Parent").ok()?.as_reference().ok()?)
            .ok()?;
    }
    None
}

fn rect(doc: &Document, o: &Object) -> Option<[f64; 4]> {
    let a = o.as_array().ok()?;
    if a.len() != 4 {
        return None;
    }
    let v: Vec<f64> = a
        .iter()
        .map(|o| match o {
            Object::Reference(id) => doc.get_object(*id).ok()?.as_float().ok(),
            other => other.as_float().ok(),
        })
        .map(|f| f.map(f64::from))
        .collect::<Option<_>>()?;
    Some([
        v[0].min(v[2]),
        v[1].min(v[3]),
        v[0].max(v[2]),
        v[1].max(v[3]),
    ])
}

/// The page's visible box (CropBox within MediaBox) and its rotation (0/90/180/270).
fn geometry(doc: &Document, page: &Dictionary, number: usize) -> Result<([f64; 4], u32), PdfError> {
    let media = inherited(doc, page, b"MediaBox")
        .and_then(|o| rect(doc, o))
        .unwrap_or([0.0, 0.0, 612.0, 792.0]);
    let crop = inherited(doc, page, b"CropBox")
        .and_then(|o| rect(doc, o))
        .map(|c| {
            [
                c[0].max(media[0]),
                c[1].max(media[1]),
                c[2].min(media[2]),
                c[3].min(media[3]),
            ]
        })
        .filter(|c| c[2] > c[0] && c[3] > c[1])
        .unwrap_or(media);
    let (w, h) = (crop[2] - crop[0], crop[3] - crop[1]);
    if !(w > 0.0 && h > 0.0) {
        return Err(PdfError::Page {
            page: number,
            reason: "the page has no area".into(),
        });
    }
    if w > MAX_SIDE_PT || h > MAX_SIDE_PT {
        let mm = |pt: f64| (pt / 72.0 * 25.4).round() as i64;
        return Err(PdfError::PageTooLarge {
            page: number,
            w_mm: mm(w),
            h_mm: mm(h),
        });
    }
    let rotate = inherited(doc, page, b"Rotate")
        .and_then(|o| o.as_i64().ok())
        .unwrap_or(0);
    if rotate % 90 != 0 {
        return Err(PdfError::Page {
            page: number,
            reason: format!("/Rotate {rotate} is not a multiple of 90"),
        });
    }
    Ok((crop, rotate.rem_euclid(360) as u32))
}

/// A vector in user space as it shows on the displayed page (y down, turned by `rotate`).
fn displayed(v: (f64, f64), rotate: u32) -> (f64, f64) {
    let (x, y) = (v.0, -v.1);
    match rotate {
        90 => (-y, x),
        180 => (-x, -y),
        270 => (y, -x),
        _ => (x, y),
    }
}

/// The pixel size of a page rendered at `dpi` (as MuPDF rounds it).
fn rendered_size(crop: &[f64; 4], rotate: u32, dpi: u32) -> (u32, u32) {
    let px = |pt: f64| ((pt * f64::from(dpi) / 72.0) - 0.001).ceil().max(1.0) as u32;
    let (w, h) = (px(crop[2] - crop[0]), px(crop[3] - crop[1]));
    if rotate % 180 == 90 {
        (h, w)
    } else {
        (w, h)
    }
}

fn snap_dpi(v: f64) -> f32 {
    let r = v.round();
    if (v - r).abs() < 0.05 {
        r as f32
    } else {
        ((v * 100.0).round() / 100.0) as f32
    }
}

fn plan_page(
    doc: &Document,
    page_id: ObjectId,
    number: usize,
    repaired: bool,
    opts: &PdfOptions,
) -> Result<Plan, PdfError> {
    let bad = |reason: String| PdfError::Page {
        page: number,
        reason,
    };
    let page = doc
        .get_dictionary(page_id)
        .map_err(|e| bad(format!("unreadable page object: {e}")))?;
    let (crop, rotate) = geometry(doc, page, number)?;
    let content = doc
        .get_page_content_with_limit(page_id, 64 << 20)
        .map_err(|e| bad(format!("unreadable content stream: {e}")))?;
    if content.iter().all(u8::is_ascii_whitespace) {
        return Err(PdfError::EmptyPage { page: number });
    }
    let (direct, referenced) = doc
        .get_page_resources(page_id)
        .unwrap_or((None, Vec::new()));
    let mut resources: Vec<&Dictionary> = direct.into_iter().collect();
    resources.extend(
        referenced
            .iter()
            .filter_map(|id| doc.get_dictionary(*id).ok()),
    );
    let info = |method: Method,
                filter: Option<String>,
                reason: Option<String>,
                text: Option<TextMode>| PdfPageInfo {
        page: number,
        method,
        filter,
        reason,
        text,
        repaired,
    };
    let (rw, rh) = rendered_size(&crop, rotate, opts.render_dpi);
    let render = |reason: &str, text: bool| Plan {
        info: info(
            Method::Rendered,
            None,
            Some(reason.to_string()),
            text.then_some(opts.text),
        ),
        width: rw,
        height: rh,
        dpi: (opts.render_dpi as f32, opts.render_dpi as f32),
        kind: Kind::Render { text },
    };
    let c = match content::analyse(&content, &resources, doc) {
        Ok(c) => c,
        Err(reason) => return Ok(render(&reason, false)),
    };
    let page_area = (crop[2] - crop[0]) * (crop[3] - crop[1]);
    let covered = |m: &Matrix| -> (f64, f64) {
        let pts =
            [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)].map(|(x, y)| content::apply(m, x, y));
        let (x0, x1) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
        let (y0, y1) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
        let ix = (x1.min(crop[2]) - x0.max(crop[0])).max(0.0);
        let iy = (y1.min(crop[3]) - y0.max(crop[1])).max(0.0);
        let inter = ix * iy;
        let area = (x1 - x0) * (y1 - y0);
        (
            inter / page_area,
            if area > 0.0 { inter / area } else { 0.0 },
        )
    };
    if c.visible_text > 0 {
        let scan_under = c
            .images
            .iter()
            .any(|p| covered(&p.ctm).0 >= SCAN_UNDER_TEXT);
        return Ok(if scan_under {
            render("a scanned image with visible text on it", false)
        } else {
            render("a page with text", true)
        });
    }
    let others = c.forms + c.inline_images + c.painting + c.direct_images;
    if c.images.len() != 1 || others > 0 {
        let why = if c.images.len() > 1 {
            "several images"
        } else if c.forms > 0 {
            "form XObjects"
        } else if c.inline_images > 0 {
            "an inline image"
        } else if c.painting > 0 {
            "vector graphics"
        } else if c.direct_images > 0 {
            "an image written into the resources"
        } else {
            "no image"
        };
        return Ok(render(&format!("the page has {why}"), false));
    }
    let placed = &c.images[0];
    // Where the image's columns (data x) and rows (data y, downwards) run on the page.
    let m = &placed.ctm;
    let dx = displayed((m[0], m[1]), rotate);
    let dy = displayed((-m[2], -m[3]), rotate);
    let aligned = |v: (f64, f64)| {
        let (a, b) = (v.0.abs(), v.1.abs());
        a.min(b) <= 1e-3 * a.max(b) && a.max(b) > 0.0
    };
    if !aligned(dx) || !aligned(dy) || (dx.0.abs() > dx.1.abs()) == (dy.0.abs() > dy.1.abs()) {
        return Ok(render("the image is placed at an angle", false));
    }
    let (of_page, of_image) = covered(&placed.ctm);
    if of_page < FULL_PAGE || of_image < FULL_PAGE {
        return Ok(render("the image does not fill the page", false));
    }
    let Ok(stream) = doc.get_object(placed.id).and_then(Object::as_stream) else {
        return Ok(render("the image object is unreadable", false));
    };
    let spec = match ImageSpec::read(doc, stream) {
        Ok(s) => s,
        Err(image::Unsupported(why)) => return Ok(render(&why, false)),
    };
    let swap = dx.1.abs() > dx.0.abs();
    let orientation = if swap {
        Orientation {
            swap,
            flip_x: dy.0 < 0.0,
            flip_y: dx.1 < 0.0,
        }
    } else {
        Orientation {
            swap,
            flip_x: dx.0 < 0.0,
            flip_y: dy.1 < 0.0,
        }
    };
    let (width, height) = orientation.size(spec.width, spec.height);
    // placed size in points along the displayed x and y
    let (len_x, len_y) = if swap {
        (dy.0.abs(), dx.1.abs())
    } else {
        (dx.0.abs(), dy.1.abs())
    };
    let dpi = (
        snap_dpi(f64::from(width) / (len_x / 72.0)),
        snap_dpi(f64::from(height) / (len_y / 72.0)),
    );
    Ok(Plan {
        info: info(Method::Embedded, Some(spec.filter.clone()), None, None),
        width,
        height,
        dpi,
        kind: Kind::Embedded {
            image: placed.id,
            spec,
            orientation,
        },
    })
}

fn pages(doc: &Document) -> Result<Vec<ObjectId>, PdfError> {
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    if pages.is_empty() {
        return Err(PdfError::NoPages);
    }
    if pages.len() > MAX_PAGES {
        return Err(PdfError::TooManyPages {
            pages: pages.len(),
            limit: MAX_PAGES,
        });
    }
    Ok(pages)
}

/// Opens a PDF, refuses what must be refused, and plans every page (no pixels decoded,
/// nothing rendered).
pub fn probe(data: &[u8], limits: Limits, opts: &PdfOptions) -> Result<Vec<FrameInfo>, PdfError> {
    guarded(|| {
        let opened = open(data, limits, opts)?;
        let pages = pages(&opened.doc)?;
        pages
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let plan = plan_page(&opened.doc, *id, i + 1, opened.repaired, opts)?;
                Ok(FrameInfo {
                    width: plan.width,
                    height: plan.height,
                    dpi: Dpi {
                        x: plan.dpi.0,
                        y: plan.dpi.1,
                        source: DpiSource::File,
                    },
                    pdf: Some(plan.info),
                })
            })
            .collect()
    })
}

/// A decoded PDF page.
#[derive(Debug)]
pub struct DecodedPage {
    pub pixels: Pixels,
    /// The embedded JPEG, when it can go into the output PDF unchanged.
    pub jpeg: Option<Vec<u8>>,
    /// The page's own text (a text page with `TextMode::Keep`), in the pixels' coordinates.
    pub text: Option<PageText>,
    /// How the page was read (as probed; a text page whose text could not be extracted
    /// says `ocr`).
    pub info: PdfPageInfo,
}

/// Decodes page `frame` (0-based). `path` is the file the bytes came from (the renderer
/// reads files); without it, rendered pages go through a temporary copy.
pub fn decode(
    data: &[u8],
    path: Option<&Path>,
    frame: usize,
    limits: Limits,
    opts: &PdfOptions,
) -> Result<DecodedPage, PdfError> {
    let (plan, pixels, jpeg) = guarded(|| {
        let opened = open(data, limits, opts)?;
        let pages = pages(&opened.doc)?;
        let id = *pages.get(frame).ok_or(PdfError::Page {
            page: frame + 1,
            reason: "no such page".into(),
        })?;
        let plan = plan_page(&opened.doc, id, frame + 1, opened.repaired, opts)?;
        if u64::from(plan.width) * u64::from(plan.height) > limits.max_pixels {
            return Err(PdfError::Page {
                page: frame + 1,
                reason: format!(
                    "{}x{} pixels, more than the profile's limit of {} megapixels",
                    plan.width,
                    plan.height,
                    limits.max_pixels / 1_000_000
                ),
            });
        }
        match &plan.kind {
            Kind::Embedded {
                image,
                spec,
                orientation,
            } => {
                let stream = opened
                    .doc
                    .get_object(*image)
                    .and_then(Object::as_stream)
                    .map_err(|e| PdfError::Page {
                        page: frame + 1,
                        reason: e.to_string(),
                    })?;
                let d = image::decode(&opened.doc, stream, spec, limits.max_pixels, *orientation)
                    .map_err(|reason| PdfError::Page {
                    page: frame + 1,
                    reason,
                })?;
                Ok((plan, Some(d.pixels), d.jpeg))
            }
            Kind::Render { .. } => Ok((plan, None, None)),
        }
    })?;
    if let Some(pixels) = pixels {
        return Ok(DecodedPage {
            pixels,
            jpeg,
            text: None,
            info: plan.info,
        });
    }
    // Rendered: MuPDF reads the file.
    let temp;
    let file = match path {
        Some(p) => p,
        None => {
            temp = TempPdf::write(data).map_err(|e| PdfError::Page {
                page: frame + 1,
                reason: format!("cannot write a temporary copy to render: {e}"),
            })?;
            &temp.0
        }
    };
    let page = frame + 1;
    let failed = |reason: String| PdfError::Page { page, reason };
    let gray = render::render_gray(file, page, opts.render_dpi).map_err(failed)?;
    let gray = fit(gray, plan.width, plan.height);
    let mut info = plan.info;
    let mut text = None;
    if matches!(plan.kind, Kind::Render { text: true }) && opts.text == TextMode::Keep {
        let t = render::page_text(file, page, opts.render_dpi).map_err(failed)?;
        if extractable(&t) {
            text = Some(t);
        } else {
            info.text = Some(TextMode::Ocr);
            info.reason = Some("a page with text that does not extract (OCRed)".into());
        }
    }
    Ok(DecodedPage {
        pixels: Pixels::Gray(gray),
        jpeg: None,
        text,
        info,
    })
}

/// Real text: enough letters and digits, few characters without a Unicode meaning
/// (fonts without a ToUnicode map give U+FFFD or private-use code points).
fn extractable(t: &PageText) -> bool {
    let text = t.text();
    let good = text.chars().filter(|c| c.is_alphanumeric()).count();
    let bad = text
        .chars()
        .filter(|c| {
            *c == '\u{FFFD}'
                || ('\u{E000}'..='\u{F8FF}').contains(c)
                || c.is_control() && *c != '\n'
        })
        .count();
    good >= 3 && bad * 10 <= good
}

/// Pads (white) or crops a rendered page to the size the probe announced.
fn fit(img: ::image::GrayImage, w: u32, h: u32) -> ::image::GrayImage {
    if (img.width(), img.height()) == (w, h) {
        return img;
    }
    let mut out = ::image::GrayImage::from_pixel(w, h, ::image::Luma([255]));
    ::image::imageops::replace(&mut out, &img, 0, 0);
    out
}

/// A temporary copy of a PDF for the renderer, removed when dropped.
struct TempPdf(PathBuf);

impl TempPdf {
    fn write(data: &[u8]) -> std::io::Result<TempPdf> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "mailroom-pdf-{}-{}.pdf",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, data)?;
        Ok(TempPdf(path))
    }
}

impl Drop for TempPdf {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests;

//! Cover sheets (Deckblätter): what `mailroom coversheet` prints and what the separation
//! step reads back.
//!
//! A cover sheet goes in front of a letter. It carries, three times over, the same facts:
//! a QR code with the payload below, a Kodak Patch 2 ("new document") for scanners that
//! split in hardware, and the values in large type for the people handling the paper.
//!
//! The payload is one line of printable ASCII:
//!
//! ```text
//! MAILROOM-COVER/1|unit=61|case=61.2-0815%2F2026|pages=3
//! ```
//!
//! Fields are `key=value`, separated by `|`; `%`, `|`, `=`, non-ASCII and control
//! characters in values are percent-encoded (UTF-8); a value that decodes to a control
//! character is refused (the sheet is then flagged unreadable). `unit` is required; `case` (the
//! Aktenzeichen), `pages` (the expected number of pages with content, the cover sheet not
//! counted) and `name` (the unit's full name) are optional. Unknown keys are kept, so a
//! later version may add fields that an older reader passes on.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use lopdf::{dictionary, Document, Object, Stream};
use serde::{Deserialize, Serialize};
use zxingcpp::BarcodeFormat;

use crate::patch::PatchType;

/// First field of every cover-sheet payload: format name and version.
pub const PREFIX: &str = "MAILROOM-COVER/1";

/// The patch code printed on cover sheets.
pub const PATCH: PatchType = PatchType::Patch2;

/// What a cover sheet says about the document behind it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CoverSheet {
    /// Organisation unit code, e.g. "61" or "50.4".
    pub unit: String,
    /// Full name of the unit, printed under the code.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unit_name: Option<String>,
    /// Case reference (Aktenzeichen).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub case: Option<String>,
    /// Expected number of pages with content behind the cover sheet.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pages: Option<u32>,
    /// Fields this version does not know, passed on as read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub other: BTreeMap<String, String>,
}

impl CoverSheet {
    /// Checks the values before anything is printed.
    pub fn validate(&self) -> Result<()> {
        if self.unit.trim().is_empty() {
            bail!("the unit must not be empty");
        }
        if self.unit.chars().count() > 40 {
            bail!("the unit code is too long (at most 40 characters)");
        }
        if let Some(case) = &self.case {
            if case.trim().is_empty() || case.chars().count() > 80 {
                bail!("the case reference must have 1 to 80 characters");
            }
        }
        let values = [
            Some(&self.unit),
            self.case.as_ref(),
            self.unit_name.as_ref(),
        ];
        if values
            .into_iter()
            .flatten()
            .any(|v| v.chars().any(char::is_control))
        {
            bail!("values must not hold control characters (line breaks, tabs, escapes)");
        }
        if self.pages == Some(0) {
            bail!("the expected page count must be at least 1");
        }
        Ok(())
    }

    /// The barcode payload.
    pub fn payload(&self) -> String {
        let mut s = String::from(PREFIX);
        let mut field = |k: &str, v: &str| {
            let _ = write!(s, "|{k}={}", escape(v));
        };
        field("unit", &self.unit);
        if let Some(case) = &self.case {
            field("case", case);
        }
        if let Some(pages) = self.pages {
            field("pages", &pages.to_string());
        }
        if let Some(name) = &self.unit_name {
            field("name", name);
        }
        for (k, v) in &self.other {
            field(k, v);
        }
        s
    }

    /// Reads a barcode's text. `None` when it is not a cover-sheet payload at all; an
    /// error when it is one but broken (then the sheet still separates, and is flagged).
    pub fn parse(text: &str) -> Option<Result<CoverSheet, String>> {
        let rest = text.strip_prefix(PREFIX)?;
        Some(parse_fields(rest))
    }
}

fn parse_fields(rest: &str) -> Result<CoverSheet, String> {
    if !rest.is_empty() && !rest.starts_with('|') {
        return Err(format!("unknown cover-sheet version {:?}", text_head(rest)));
    }
    let mut sheet = CoverSheet::default();
    let mut unit = None;
    for part in rest.split('|').skip(1) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("field {part:?} has no '='"))?;
        let v = unescape(v).map_err(|e| format!("field {k:?} {e}"))?;
        match k {
            "unit" => unit = Some(v),
            "case" => sheet.case = Some(v),
            "name" => sheet.unit_name = Some(v),
            "pages" => {
                let n: u32 = v
                    .parse()
                    .map_err(|_| format!("pages {v:?} is not a number"))?;
                sheet.pages = Some(n);
            }
            _ => {
                sheet.other.insert(k.to_string(), v);
            }
        }
    }
    sheet.unit = unit.ok_or("the cover sheet has no unit")?;
    if sheet.unit.is_empty() {
        return Err("the cover sheet's unit is empty".into());
    }
    Ok(sheet)
}

fn text_head(s: &str) -> String {
    s.chars().take(20).collect()
}

fn escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if c.is_ascii_graphic() && !matches!(c, '%' | '|' | '=') || c == ' ' {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn unescape(v: &str) -> Result<String, &'static str> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = v
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or("has a bad %-escape")?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|_| "is not UTF-8 text")?;
    // A control character (a newline, a terminal escape) has no place in a unit code or
    // a case reference, and would travel into names, logs and index files.
    if s.chars().any(char::is_control) {
        return Err("holds a control character");
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// The printed sheet
// ---------------------------------------------------------------------------------------

const A4_MM: (f32, f32) = (210.0, 297.0);
/// Where the patch code starts (mm from the left and top edges) and its bar length.
const PATCH_AT_MM: (f32, f32) = (20.0, 12.0);
const PATCH_LENGTH_MM: f32 = 60.0;
/// The QR code: top-left corner and edge length in mm.
const QR_AT_MM: (f32, f32) = (125.0, 190.0);
const QR_SIZE_MM: f32 = 60.0;

fn pt(mm: f32) -> f32 {
    mm * 72.0 / 25.4
}

/// A content stream built in page coordinates measured in mm from the top-left corner.
struct Canvas(String);

impl Canvas {
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32) {
        let _ = writeln!(
            self.0,
            "{:.3} {:.3} {:.3} {:.3} re f",
            pt(x),
            pt(A4_MM.1 - y - h),
            pt(w),
            pt(h)
        );
    }

    /// One line of text, baseline at `y` mm from the top; bold or regular Helvetica.
    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        let font = if bold { "F2" } else { "F1" };
        let _ = writeln!(
            self.0,
            "BT /{font} {size} Tf {:.3} {:.3} Td ({}) Tj ET",
            pt(x),
            pt(A4_MM.1 - y),
            pdf_latin1(text)
        );
    }
}

/// A PDF literal string body in WinAnsiEncoding (Latin-1 for umlauts and ß); characters
/// outside it print as '?'.
fn pdf_latin1(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let code = c as u32;
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ if (0xA0..=0xFF).contains(&code) => {
                let _ = write!(out, "\\{code:03o}");
            }
            _ => out.push('?'),
        }
    }
    out
}

/// Splits text into lines of at most `max` characters at spaces.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= max => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// The A4 cover sheet as a PDF: vector patch bars and QR modules (exact sizes at any
/// printer resolution) and text in the standard Helvetica fonts.
pub fn pdf(sheet: &CoverSheet) -> Result<Vec<u8>> {
    sheet.validate()?;
    let payload = sheet.payload();
    let mut c = Canvas(String::new());
    c.0.push_str("0 g\n");

    // Patch 2 at the leading edge, bars across the sheet.
    let mut top = PATCH_AT_MM.1;
    for wide in PATCH.bars() {
        let t = if wide { 5.1 } else { 2.0 };
        c.rect(PATCH_AT_MM.0, top, PATCH_LENGTH_MM, t);
        top += t + 2.0;
    }
    c.text(95.0, 24.0, 10.0, false, "Patch 2 - neues Dokument");

    c.text(20.0, 52.0, 30.0, true, "Deckblatt Posteingang");
    c.text(20.0, 70.0, 12.0, false, "Organisationseinheit");
    c.text(20.0, 96.0, 72.0, true, &sheet.unit);
    let mut y = 108.0;
    if let Some(name) = &sheet.unit_name {
        for line in wrap(name, 48).into_iter().take(3) {
            c.text(20.0, y, 18.0, false, &line);
            y += 8.0;
        }
    }
    y = y.max(128.0);
    if let Some(case) = &sheet.case {
        c.text(20.0, y, 12.0, false, "Aktenzeichen");
        for line in wrap(case, 30).into_iter().take(3) {
            y += 12.0;
            c.text(20.0, y, 28.0, true, &line);
        }
        y += 16.0;
    }
    if let Some(pages) = sheet.pages {
        c.text(20.0, y, 12.0, false, "Seiten (ohne dieses Deckblatt)");
        c.text(20.0, y + 12.0, 28.0, true, &pages.to_string());
    }

    // The QR code, module by module, merged into runs per row.
    let modules = crate::barcode::render(BarcodeFormat::QRCode, &payload, 1)
        .map_err(anyhow::Error::msg)
        .context("cannot encode the cover sheet's QR code")?;
    let (w, h) = modules.dimensions();
    let m = QR_SIZE_MM / w.max(h) as f32;
    for row in 0..h {
        let mut col = 0;
        while col < w {
            if modules.get_pixel(col, row).0[0] < 128 {
                let start = col;
                while col < w && modules.get_pixel(col, row).0[0] < 128 {
                    col += 1;
                }
                c.rect(
                    QR_AT_MM.0 + start as f32 * m,
                    QR_AT_MM.1 + row as f32 * m,
                    (col - start) as f32 * m,
                    m,
                );
            } else {
                col += 1;
            }
        }
    }
    let mut y = QR_AT_MM.1 + QR_SIZE_MM + 6.0;
    for chunk in payload.as_bytes().chunks(40) {
        c.text(QR_AT_MM.0, y, 7.0, false, &String::from_utf8_lossy(chunk));
        y += 3.5;
    }
    c.text(
        20.0,
        280.0,
        9.0,
        false,
        "Vor das Schriftstück legen. Wird beim Scannen erkannt und nicht abgelegt.",
    );
    c.text(
        20.0,
        285.0,
        9.0,
        false,
        &format!("mailroom {} - {PREFIX}", crate::VERSION),
    );
    write_single_page(c.0.into_bytes(), &format!("Deckblatt {}", sheet.unit))
}

fn write_single_page(content: Vec<u8>, title: &str) -> Result<Vec<u8>> {
    let mut doc = Document::with_version("1.7");
    let font = |doc: &mut Document, name: &str| {
        doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => Object::Name(name.as_bytes().to_vec()),
            "Encoding" => "WinAnsiEncoding",
        })
    };
    let regular = font(&mut doc, "Helvetica");
    let bold = font(&mut doc, "Helvetica-Bold");
    let content_id = doc.add_object(Stream::new(dictionary! {}, content));
    let pages_id = doc.new_object_id();
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "MediaBox" => vec![0.into(), 0.into(), pt(A4_MM.0).into(), pt(A4_MM.1).into()],
        "Contents" => content_id,
        "Resources" => dictionary! {
            "Font" => dictionary! { "F1" => regular, "F2" => bold },
        },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    let info = doc.add_object(dictionary! {
        "Title" => Object::string_literal(title),
        "Producer" => Object::string_literal(format!("mailroom {}", crate::VERSION)),
    });
    doc.trailer.set("Root", catalog);
    doc.trailer.set("Info", info);
    doc.compress();
    let mut out = Vec::new();
    doc.save_to(&mut out).context("cannot serialise the PDF")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet() -> CoverSheet {
        CoverSheet {
            unit: "50.4".into(),
            unit_name: Some("Abteilung 50.4 Gesundheitsamt".into()),
            case: Some("50.4-12/2026 | Prüfung=ja".into()),
            pages: Some(3),
            other: BTreeMap::new(),
        }
    }

    #[test]
    fn payload_round_trips_with_escapes() {
        let s = sheet();
        let p = s.payload();
        assert!(p.is_ascii(), "{p}");
        assert!(p.starts_with(
            "MAILROOM-COVER/1|unit=50.4|case=50.4-12/2026 %7C Pr%C3%BCfung%3Dja|pages=3"
        ));
        assert_eq!(CoverSheet::parse(&p).unwrap().unwrap(), s);
    }

    #[test]
    fn other_barcodes_are_not_cover_sheets_and_broken_ones_say_why() {
        assert!(CoverSheet::parse("PATCHT").is_none());
        assert!(CoverSheet::parse("4006381333931").is_none());
        let no_unit = CoverSheet::parse("MAILROOM-COVER/1|case=x").unwrap();
        assert!(no_unit.unwrap_err().contains("no unit"));
        let bad_pages = CoverSheet::parse("MAILROOM-COVER/1|unit=61|pages=drei").unwrap();
        assert!(bad_pages.unwrap_err().contains("not a number"));
        let newer = CoverSheet::parse("MAILROOM-COVER/12|unit=61").unwrap();
        assert!(newer.unwrap_err().contains("version"));
        let ctl = CoverSheet::parse("MAILROOM-COVER/1|unit=6%0A1").unwrap();
        assert_eq!(ctl.unwrap_err(), "field \"unit\" holds a control character");
        let bad = CoverSheet::parse("MAILROOM-COVER/1|unit=6%G1").unwrap();
        assert_eq!(bad.unwrap_err(), "field \"unit\" has a bad %-escape");
        let printed = CoverSheet {
            unit: "61".into(),
            case: Some("a\nb".into()),
            ..CoverSheet::default()
        };
        assert!(printed.validate().is_err(), "no sheet is printed with one");
        let extra = CoverSheet::parse("MAILROOM-COVER/1|unit=61|prio=hoch")
            .unwrap()
            .unwrap();
        assert_eq!(extra.other["prio"], "hoch");
    }

    #[test]
    fn invalid_values_are_refused_before_printing() {
        let mut s = sheet();
        s.pages = Some(0);
        assert!(pdf(&s).is_err());
        s.pages = None;
        s.unit = " ".into();
        assert!(pdf(&s).is_err());
    }

    #[test]
    fn the_pdf_is_one_a4_page() {
        let bytes = pdf(&sheet()).unwrap();
        let doc = Document::load_mem(&bytes).unwrap();
        assert_eq!(doc.get_pages().len(), 1);
    }
}

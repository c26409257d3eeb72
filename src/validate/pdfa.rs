//! PDF/A checks of delivered PDF files (ISO 19005-1/-2/-3), on 100 % of the lot.
//!
//! Not a full validator (veraPDF is not installable here): it checks the clauses a
//! contractor's PDF typically breaks and that can be decided from the file's objects
//! alone, and names the clause of each problem. What it checks:
//!
//! - 6.1.2 the header `%PDF-1.n` and the binary comment line after it;
//! - 6.1.3 a trailer `/ID`, no `/Encrypt`;
//! - 6.1.7 no LZW compression, no external stream data (`/F`, `/FFilter`);
//! - 6.2.3/6.2.4 an output intent `GTS_PDFA1` with an ICC profile whenever an image uses a
//!   device colour space, and one of the matching kind (RGB for `DeviceRGB`, CMYK for
//!   `DeviceCMYK`);
//! - 6.2.5/6.2.8 no transfer functions, no image `/Interpolate true`, `/Alternates`, `/OPI`;
//! - 6.2.11 every font embedded (`FontFile`, `FontFile2` or `FontFile3`), Type 3 excepted;
//! - 6.3 annotations: no Sound, Movie, Screen or 3D annotations; every other (Popup
//!   excepted) printable and not hidden;
//! - 6.4 no XFA forms, no `NeedsRendering`;
//! - 6.5 no JavaScript and no forbidden actions (Launch, Sound, Movie, ResetForm,
//!   ImportData, Hide, SetOCGState, Rendition, Trans, GoTo3DView);
//! - 6.6 an unfiltered XMP metadata stream naming `pdfaid:part` (1, 2 or 3) and
//!   `pdfaid:conformance` (A, B or U; part 1: A or B);
//! - 6.8 embedded files: none in PDF/A-1; in PDF/A-2 only PDF files (whether those are
//!   PDF/A in turn is not checked); in PDF/A-3 every file specification with an
//!   `/AFRelationship`.
//!
//! Colour used by content streams (operators `rg`, `k`, ...) is not examined; images are.

use std::collections::BTreeSet;

use lopdf::{Dictionary, Document, Object};

/// One clause a file breaks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The clause of ISO 19005-2 (-1 and -3 number these the same way or nearly).
    pub clause: &'static str,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.clause, self.message)
    }
}

/// The PDF/A level a file claims in its metadata, e.g. `2u`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub part: u8,
    pub conformance: char,
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PDF/A-{}{}",
            self.part,
            self.conformance.to_ascii_lowercase()
        )
    }
}

/// What the check found: the claimed level (if any) and every problem, sorted.
#[derive(Debug, Clone, Default)]
pub struct PdfaReport {
    pub claim: Option<Claim>,
    pub problems: Vec<Problem>,
}

impl PdfaReport {
    /// One line for the report: the first problems and how many there are.
    pub fn summary(&self) -> String {
        const SHOWN: usize = 4;
        let mut parts: Vec<String> = self
            .problems
            .iter()
            .take(SHOWN)
            .map(|p| p.to_string())
            .collect();
        if self.problems.len() > SHOWN {
            parts.push(format!("and {} more", self.problems.len() - SHOWN));
        }
        let claim = self
            .claim
            .map_or("no PDF/A claim".to_string(), |c| format!("claims {c}"));
        format!("not PDF/A ({claim}): {}", parts.join("; "))
    }
}

/// Upper bound on the objects visited, against hostile files.
const MAX_OBJECTS: usize = 2_000_000;
/// Deepest nesting of direct dictionaries and arrays followed.
const MAX_NESTING: usize = 64;

/// Checks a PDF file's bytes. A file lopdf cannot parse at all is one problem (6.1).
pub fn check(data: &[u8]) -> PdfaReport {
    let mut r = Checker::default();
    r.header(data);
    // lopdf can panic on hostile input; a panic is a file it cannot read.
    let loaded = std::panic::catch_unwind(|| Document::load_mem(data));
    let doc = match loaded {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) => {
            r.fail("6.1 file structure", format!("cannot be parsed: {e}"));
            return r.finish(None);
        }
        Err(_) => {
            r.fail(
                "6.1 file structure",
                "cannot be parsed (the parser gave up)",
            );
            return r.finish(None);
        }
    };
    if doc.is_encrypted() || doc.was_encrypted() {
        r.fail("6.1.3 file trailer", "the file is encrypted (/Encrypt)");
    }
    if doc.trailer.get(b"ID").is_err() {
        r.fail("6.1.3 file trailer", "no /ID in the trailer");
    }
    let claim = r.metadata(&doc);
    r.objects(&doc, claim);
    r.output_intent(&doc);
    r.catalog(&doc, claim);
    r.finish(claim)
}

#[derive(Default)]
struct Checker {
    problems: BTreeSet<Problem>,
    /// Device colour spaces used by images: "DeviceRGB", "DeviceCMYK", "DeviceGray".
    device_spaces: BTreeSet<&'static str>,
}

impl Checker {
    fn fail(&mut self, clause: &'static str, message: impl Into<String>) {
        self.problems.insert(Problem {
            clause,
            message: message.into(),
        });
    }

    fn finish(self, claim: Option<Claim>) -> PdfaReport {
        PdfaReport {
            claim,
            problems: self.problems.into_iter().collect(),
        }
    }

    fn header(&mut self, data: &[u8]) {
        let ok_version = data.len() >= 8
            && data.starts_with(b"%PDF-")
            && data[5].is_ascii_digit()
            && data[6] == b'.'
            && data[7].is_ascii_digit();
        if !ok_version {
            self.fail("6.1.2 file header", "the file does not start with %PDF-n.m");
            return;
        }
        // the line after the header: a comment of at least four bytes above 127
        let rest = &data[8..data.len().min(1032)];
        let after_eol = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map(|i| {
                let mut j = i;
                while j < rest.len() && (rest[j] == b'\n' || rest[j] == b'\r') {
                    j += 1;
                }
                &rest[j..]
            });
        let binary = after_eol.is_some_and(|line| {
            line.first() == Some(&b'%') && line[1..].iter().take(4).all(|&b| b > 127)
        });
        if !binary {
            self.fail(
                "6.1.2 file header",
                "no comment line of four bytes above 127 after the header",
            );
        }
    }

    /// The XMP packet's PDF/A identification.
    fn metadata(&mut self, doc: &Document) -> Option<Claim> {
        let Ok(catalog) = doc.catalog() else {
            self.fail("6.1 file structure", "no document catalog");
            return None;
        };
        let stream = match catalog.get(b"Metadata").map(|o| doc.dereference(o)) {
            Ok(Ok((_, Object::Stream(s)))) => s,
            _ => {
                self.fail("6.6.2.1 metadata", "no XMP metadata stream in the catalog");
                return None;
            }
        };
        if stream.dict.get(b"Filter").is_ok() {
            self.fail(
                "6.6.2.1 metadata",
                "the metadata stream is compressed (/Filter)",
            );
        }
        let xmp = stream
            .decompressed_content()
            .unwrap_or_else(|_| stream.content.clone());
        let Ok(xmp) = String::from_utf8(xmp) else {
            self.fail("6.6.2.1 metadata", "the XMP packet is not UTF-8");
            return None;
        };
        let part = xmp_value(&xmp, "part");
        let conformance = xmp_value(&xmp, "conformance");
        let claim = match (part.as_deref(), conformance.as_deref()) {
            (Some(p @ ("1" | "2" | "3")), Some(c)) => {
                let part = p.as_bytes()[0] - b'0';
                let allowed: &[&str] = if part == 1 {
                    &["A", "B"]
                } else {
                    &["A", "B", "U"]
                };
                if allowed.contains(&c) {
                    Some(Claim {
                        part,
                        conformance: c.chars().next().unwrap_or('B'),
                    })
                } else {
                    self.fail(
                        "6.6.4 version identification",
                        format!("pdfaid:conformance {c:?} is not one of {allowed:?}"),
                    );
                    None
                }
            }
            (None, _) => {
                self.fail(
                    "6.6.4 version identification",
                    "the XMP metadata has no pdfaid:part",
                );
                None
            }
            (Some(p), None) => {
                self.fail(
                    "6.6.4 version identification",
                    format!("pdfaid:part {p} without pdfaid:conformance"),
                );
                None
            }
            (Some(p), Some(_)) => {
                self.fail(
                    "6.6.4 version identification",
                    format!("pdfaid:part {p:?} is not 1, 2 or 3"),
                );
                None
            }
        };
        claim
    }

    /// Checks that look at every object of the file.
    /// Every dictionary of the file, the direct ones inside others included (referenced
    /// objects are visited once, as objects of their own).
    fn objects(&mut self, doc: &Document, claim: Option<Claim>) {
        let mut visited = 0usize;
        for object in doc.objects.values() {
            self.visit(doc, object, claim, 0, &mut visited);
            if visited >= MAX_OBJECTS {
                self.fail(
                    "6.1.13 implementation limits",
                    "more than 2 000 000 objects",
                );
                break;
            }
        }
    }

    fn visit(
        &mut self,
        doc: &Document,
        object: &Object,
        claim: Option<Claim>,
        depth: usize,
        visited: &mut usize,
    ) {
        *visited += 1;
        if depth > MAX_NESTING || *visited >= MAX_OBJECTS {
            return;
        }
        let (dict, is_stream) = match object {
            Object::Dictionary(d) => (d, false),
            Object::Stream(s) => (&s.dict, true),
            Object::Array(items) => {
                for item in items {
                    self.visit(doc, item, claim, depth + 1, visited);
                }
                return;
            }
            _ => return,
        };
        self.dictionary(doc, dict, is_stream, claim);
        for (_, value) in dict.iter() {
            if matches!(value, Object::Dictionary(_) | Object::Array(_)) {
                self.visit(doc, value, claim, depth + 1, visited);
            }
        }
    }

    fn dictionary(
        &mut self,
        doc: &Document,
        d: &Dictionary,
        is_stream: bool,
        claim: Option<Claim>,
    ) {
        let name = |key: &[u8]| -> Option<Vec<u8>> {
            match d.get(key).ok().map(|o| doc.dereference(o)) {
                Some(Ok((_, Object::Name(n)))) => Some(n.clone()),
                _ => None,
            }
        };
        // 6.5 actions and JavaScript
        if d.get(b"JS").is_ok() {
            self.fail("6.5 actions", "JavaScript (/JS)");
        }
        if let Some(s) = name(b"S") {
            const FORBIDDEN: &[&[u8]] = &[
                b"JavaScript",
                b"Launch",
                b"Sound",
                b"Movie",
                b"ResetForm",
                b"ImportData",
                b"Hide",
                b"SetOCGState",
                b"Rendition",
                b"Trans",
                b"GoTo3DView",
            ];
            if FORBIDDEN.contains(&s.as_slice()) {
                self.fail(
                    "6.5 actions",
                    format!("a {} action", String::from_utf8_lossy(&s)),
                );
            }
        }
        // 6.1.7 streams
        if is_stream {
            if d.get(b"F").is_ok() || d.get(b"FFilter").is_ok() || d.get(b"FDecodeParms").is_ok() {
                self.fail("6.1.7.1 streams", "a stream with external data (/F)");
            }
            let filters: Vec<Vec<u8>> = match d.get(b"Filter").ok().map(|o| doc.dereference(o)) {
                Some(Ok((_, Object::Name(n)))) => vec![n.clone()],
                Some(Ok((_, Object::Array(a)))) => a
                    .iter()
                    .filter_map(|o| o.as_name().ok().map(<[u8]>::to_vec))
                    .collect(),
                _ => Vec::new(),
            };
            if filters.iter().any(|f| f == b"LZWDecode" || f == b"LZW") {
                self.fail("6.1.7.2 filters", "LZW compression");
            }
        }
        let type_ = name(b"Type");
        let subtype = name(b"Subtype");
        // 6.2.5 transfer functions (ExtGState)
        if type_.as_deref() == Some(b"ExtGState") || d.get(b"TR").is_ok() {
            if d.get(b"TR").is_ok() {
                self.fail("6.2.5 graphics state", "a transfer function (/TR)");
            }
            if let Some(tr2) = name(b"TR2") {
                if tr2 != b"Default" {
                    self.fail("6.2.5 graphics state", "a transfer function (/TR2)");
                }
            } else if d.get(b"TR2").is_ok() {
                self.fail("6.2.5 graphics state", "a transfer function (/TR2)");
            }
        }
        // 6.2.8 images
        if is_stream && subtype.as_deref() == Some(b"Image") {
            if matches!(d.get(b"Interpolate"), Ok(Object::Boolean(true))) {
                self.fail("6.2.8 images", "an image with /Interpolate true");
            }
            if d.get(b"Alternates").is_ok() {
                self.fail("6.2.8 images", "an image with /Alternates");
            }
            if d.get(b"OPI").is_ok() {
                self.fail("6.2.8 images", "an image with /OPI");
            }
            self.image_space(doc, d);
        }
        // 6.2.11 fonts
        if type_.as_deref() == Some(b"Font") {
            self.font(doc, d);
        }
        // 6.3 annotations
        if matches!(type_.as_deref(), Some(b"Annot"))
            || (d.get(b"Rect").is_ok()
                && subtype.is_some()
                && d.get(b"Type").is_err()
                && is_annot_subtype(subtype.as_deref()))
        {
            self.annotation(d, subtype.as_deref(), claim);
        }
        // 6.4 forms
        if d.get(b"XFA").is_ok() {
            self.fail("6.4 interactive forms", "an XFA form");
        }
        if matches!(d.get(b"NeedsRendering"), Ok(Object::Boolean(true))) {
            self.fail("6.4 interactive forms", "NeedsRendering true");
        }
        // 6.8 embedded files: the file specification's embedded stream
        if type_.as_deref() == Some(b"Filespec") || d.get(b"EF").is_ok() {
            self.embedded_file(doc, d, claim);
        }
    }

    fn image_space(&mut self, doc: &Document, d: &Dictionary) {
        let space = match d.get(b"ColorSpace").ok().map(|o| doc.dereference(o)) {
            Some(Ok((_, Object::Name(n)))) => Some(n.clone()),
            // [/Indexed /DeviceRGB ...]: the base space counts
            Some(Ok((_, Object::Array(a)))) => match (a.first(), a.get(1)) {
                (Some(Object::Name(i)), Some(Object::Name(base))) if i == b"Indexed" => {
                    Some(base.clone())
                }
                _ => None,
            },
            _ => None,
        };
        match space.as_deref() {
            Some(b"DeviceRGB") => {
                self.device_spaces.insert("DeviceRGB");
            }
            Some(b"DeviceCMYK") => {
                self.device_spaces.insert("DeviceCMYK");
            }
            Some(b"DeviceGray") => {
                self.device_spaces.insert("DeviceGray");
            }
            _ => {}
        }
    }

    fn font(&mut self, doc: &Document, d: &Dictionary) {
        let base = d
            .get(b"BaseFont")
            .ok()
            .and_then(|o| o.as_name().ok())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_else(|| "(unnamed)".into());
        let subtype = d.get(b"Subtype").ok().and_then(|o| o.as_name().ok());
        match subtype {
            Some(b"Type3") => {}
            // a composite font's glyphs live in its descendant, checked on its own
            Some(b"Type0") => {}
            _ => {
                let embedded = match d.get(b"FontDescriptor").ok().map(|o| doc.dereference(o)) {
                    Some(Ok((_, Object::Dictionary(fd)))) => {
                        fd.get(b"FontFile").is_ok()
                            || fd.get(b"FontFile2").is_ok()
                            || fd.get(b"FontFile3").is_ok()
                    }
                    _ => false,
                };
                if !embedded {
                    self.fail(
                        "6.2.11.4.1 embedded fonts",
                        format!("font {base} is not embedded"),
                    );
                }
            }
        }
    }

    fn annotation(&mut self, d: &Dictionary, subtype: Option<&[u8]>, claim: Option<Claim>) {
        let sub = subtype.map(|s| String::from_utf8_lossy(s).into_owned());
        match subtype {
            Some(b"Sound" | b"Movie" | b"Screen" | b"3D" | b"RichMedia") => {
                self.fail(
                    "6.3.1 annotations",
                    format!("a {} annotation", sub.unwrap_or_default()),
                );
                return;
            }
            Some(b"FileAttachment") if claim.is_some_and(|c| c.part == 1) => {
                self.fail(
                    "6.3.1 annotations",
                    "a file attachment annotation in PDF/A-1",
                );
            }
            Some(b"Popup") => return,
            _ => {}
        }
        let flags = d.get(b"F").ok().and_then(|o| o.as_i64().ok()).unwrap_or(0);
        const INVISIBLE: i64 = 1;
        const HIDDEN: i64 = 2;
        const PRINT: i64 = 4;
        const NOVIEW: i64 = 32;
        if flags & PRINT == 0 || flags & (INVISIBLE | HIDDEN | NOVIEW) != 0 {
            self.fail(
                "6.3.2 annotation flags",
                format!(
                    "a {} annotation not printable or hidden (/F {flags})",
                    sub.unwrap_or_else(|| "(untyped)".into())
                ),
            );
        }
    }

    fn embedded_file(&mut self, doc: &Document, d: &Dictionary, claim: Option<Claim>) {
        let Ok(ef) = d
            .get(b"EF")
            .and_then(|o| doc.dereference(o))
            .map(|(_, o)| o)
        else {
            return;
        };
        let Ok(ef) = ef.as_dict() else { return };
        let name = d
            .get(b"UF")
            .or_else(|_| d.get(b"F"))
            .ok()
            .and_then(|o| o.as_str().ok())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_else(|| "(unnamed)".into());
        match claim.map(|c| c.part) {
            Some(1) => self.fail(
                "6.1.11 embedded files",
                format!("embedded file {name:?} in PDF/A-1"),
            ),
            Some(2) => {
                let is_pdf = ef
                    .get(b"F")
                    .ok()
                    .and_then(|o| doc.dereference(o).ok())
                    .and_then(|(_, o)| o.as_stream().ok())
                    .is_some_and(|s| {
                        matches!(
                            s.dict.get(b"Subtype").and_then(|o| o.as_name()),
                            Ok(b"application/pdf")
                        ) || s.content.starts_with(b"%PDF-")
                    });
                if !is_pdf {
                    self.fail(
                        "6.8 embedded files",
                        format!(
                            "embedded file {name:?} is not a PDF (PDF/A-2 embeds only PDF/A files)"
                        ),
                    );
                }
            }
            Some(_) if d.get(b"AFRelationship").is_err() => {
                self.fail(
                    "6.8 embedded files",
                    format!("embedded file {name:?} has no /AFRelationship"),
                );
            }
            _ => {}
        }
    }

    /// 6.2.3/6.2.4: the output intent, and device colour against it.
    fn output_intent(&mut self, doc: &Document) {
        let components = doc
            .catalog()
            .ok()
            .and_then(|c| c.get(b"OutputIntents").ok())
            .and_then(|o| doc.dereference(o).ok())
            .and_then(|(_, o)| o.as_array().ok())
            .and_then(|intents| {
                intents.iter().find_map(|i| {
                    let (_, i) = doc.dereference(i).ok()?;
                    let i = i.as_dict().ok()?;
                    if i.get(b"S").and_then(|o| o.as_name()).ok()? != b"GTS_PDFA1" {
                        return None;
                    }
                    let (_, p) = doc.dereference(i.get(b"DestOutputProfile").ok()?).ok()?;
                    let p = p.as_stream().ok()?;
                    // the ICC header says the colour space; /N how many components
                    let header = p
                        .decompressed_content()
                        .unwrap_or_else(|_| p.content.clone());
                    let from_header = match header.get(16..20) {
                        Some(b"RGB ") => Some(3),
                        Some(b"CMYK") => Some(4),
                        Some(b"GRAY") => Some(1),
                        _ => None,
                    };
                    from_header.or_else(|| p.dict.get(b"N").and_then(|o| o.as_i64()).ok())
                })
            });
        let spaces: Vec<&str> = self.device_spaces.iter().copied().collect();
        for space in spaces {
            match (space, components) {
                (_, None) => self.fail(
                    "6.2.4.3 device colour spaces",
                    format!(
                        "images in {space} without a GTS_PDFA1 output intent with an ICC profile"
                    ),
                ),
                ("DeviceRGB", Some(n)) if n != 3 => self.fail(
                    "6.2.4.3 device colour spaces",
                    "images in DeviceRGB with an output intent that is not RGB",
                ),
                ("DeviceCMYK", Some(n)) if n != 4 => self.fail(
                    "6.2.4.3 device colour spaces",
                    "images in DeviceCMYK with an output intent that is not CMYK",
                ),
                _ => {}
            }
        }
    }

    fn catalog(&mut self, doc: &Document, _claim: Option<Claim>) {
        let Ok(catalog) = doc.catalog() else { return };
        // 6.5: document-level JavaScript and an open action with it
        if let Ok((_, Object::Dictionary(names))) =
            catalog.get(b"Names").and_then(|o| doc.dereference(o))
        {
            if names.get(b"JavaScript").is_ok() {
                self.fail(
                    "6.5 actions",
                    "document-level JavaScript (/Names /JavaScript)",
                );
            }
        }
        if catalog.get(b"AA").is_ok() {
            self.fail("6.5 actions", "additional actions on the document (/AA)");
        }
    }
}

fn is_annot_subtype(s: Option<&[u8]>) -> bool {
    matches!(
        s,
        Some(
            b"Text"
                | b"Link"
                | b"FreeText"
                | b"Line"
                | b"Square"
                | b"Circle"
                | b"Polygon"
                | b"PolyLine"
                | b"Highlight"
                | b"Underline"
                | b"Squiggly"
                | b"StrikeOut"
                | b"Stamp"
                | b"Caret"
                | b"Ink"
                | b"Popup"
                | b"FileAttachment"
                | b"Sound"
                | b"Movie"
                | b"Widget"
                | b"Screen"
                | b"PrinterMark"
                | b"TrapNet"
                | b"Watermark"
                | b"3D"
                | b"Redact"
                | b"RichMedia"
        )
    )
}

/// The value of `pdfaid:<property>` in an XMP packet, as an attribute
/// (`pdfaid:part="2"`) or an element (`<pdfaid:part>2</pdfaid:part>`), whatever prefix
/// the packet binds to the PDF/A identification namespace.
fn xmp_value(xmp: &str, property: &str) -> Option<String> {
    const NS: &str = "http://www.aiim.org/pdfa/ns/id/";
    let mut prefixes: Vec<String> = Vec::new();
    let mut rest = xmp;
    while let Some(i) = rest.find("xmlns:") {
        let after = &rest[i + 6..];
        let Some(eq) = after.find('=') else { break };
        let prefix = after[..eq].trim().to_string();
        let value = after[eq + 1..].trim_start();
        let quote = value.chars().next();
        if let Some(q @ ('"' | '\'')) = quote {
            if let Some(end) = value[1..].find(q) {
                if &value[1..1 + end] == NS {
                    prefixes.push(prefix);
                }
            }
        }
        rest = &after[eq..];
    }
    for prefix in prefixes {
        let qname = format!("{prefix}:{property}");
        let mut at = 0;
        while let Some(i) = xmp[at..].find(&qname) {
            let start = at + i;
            at = start + qname.len();
            let before = xmp[..start].chars().last();
            let after = &xmp[at..];
            if before == Some('<') {
                // element: <p:part>2</p:part>
                if let Some(body) = after.strip_prefix('>') {
                    if let Some(end) = body.find('<') {
                        return Some(body[..end].trim().to_string());
                    }
                }
            } else if before.is_some_and(char::is_whitespace) {
                // attribute: p:part="2"
                let a = after.trim_start();
                if let Some(a) = a.strip_prefix('=') {
                    let a = a.trim_start();
                    if let Some(q @ ('"' | '\'')) = a.chars().next() {
                        if let Some(end) = a[1..].find(q) {
                            return Some(a[1..1 + end].trim().to_string());
                        }
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::{dictionary, Stream};

    const XMP_2U: &str = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" pdfaid:part="2" pdfaid:conformance="U"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#;

    /// A small PDF with one page, an RGB image and the given extras.
    fn pdf(
        xmp: Option<&str>,
        intent: bool,
        tweak: impl FnOnce(&mut Document, lopdf::ObjectId),
    ) -> Vec<u8> {
        let mut doc = Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let image = Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image", "Width" => 1, "Height" => 1,
                "ColorSpace" => "DeviceRGB", "BitsPerComponent" => 8,
            },
            vec![255, 255, 255],
        );
        let image_id = doc.add_object(image);
        let content = doc.add_object(Stream::new(
            dictionary! {},
            b"q 10 0 0 10 0 0 cm /Im0 Do Q".to_vec(),
        ));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "MediaBox" => vec![0.into(), 0.into(), 10.into(), 10.into()],
            "Contents" => content,
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 },
            ),
        );
        let mut catalog = dictionary! { "Type" => "Catalog", "Pages" => pages_id };
        if let Some(xmp) = xmp {
            let mut s = Stream::new(
                dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
                xmp.as_bytes().to_vec(),
            );
            s.allows_compression = false;
            catalog.set("Metadata", doc.add_object(s));
        }
        if intent {
            let mut icc = vec![0u8; 128];
            icc[16..20].copy_from_slice(b"RGB ");
            let profile = doc.add_object(Stream::new(dictionary! { "N" => 3 }, icc));
            let oi = dictionary! {
                "Type" => "OutputIntent", "S" => "GTS_PDFA1", "OutputConditionIdentifier" => Object::string_literal("sRGB"),
                "DestOutputProfile" => profile,
            };
            catalog.set("OutputIntents", vec![Object::Dictionary(oi)]);
        }
        let catalog_id = doc.add_object(catalog);
        doc.trailer.set("Root", catalog_id);
        doc.trailer.set(
            "ID",
            vec![
                Object::string_literal(vec![1u8; 16]),
                Object::string_literal(vec![1u8; 16]),
            ],
        );
        tweak(&mut doc, catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        // lopdf writes "%PDF-1.7\n%" and four binary bytes: make sure, whatever it writes
        if !out[9..].starts_with(b"%\xe2\xe3\xcf\xd3")
            && !out[9..14].iter().skip(1).all(|&b| b > 127)
        {
            let body = out[9..].to_vec();
            out.truncate(9);
            out.extend_from_slice(b"%\xe2\xe3\xcf\xd3\n");
            out.extend_from_slice(&body);
        }
        out
    }

    fn clauses(data: &[u8]) -> Vec<String> {
        check(data).problems.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn a_minimal_pdfa_passes_and_its_claim_is_read() {
        let data = pdf(Some(XMP_2U), true, |_, _| {});
        let r = check(&data);
        // lopdf may move objects after the header line; the header check needs the binary
        // comment, which the helper guarantees
        let non_header: Vec<_> = r
            .problems
            .iter()
            .filter(|p| !p.clause.starts_with("6.1.2"))
            .collect();
        assert!(non_header.is_empty(), "{:?}", r.problems);
        assert_eq!(
            r.claim,
            Some(Claim {
                part: 2,
                conformance: 'U'
            })
        );
        assert_eq!(r.claim.unwrap().to_string(), "PDF/A-2u");
    }

    #[test]
    fn each_broken_clause_is_named() {
        let no_xmp = clauses(&pdf(None, true, |_, _| {}));
        assert!(
            no_xmp.iter().any(|c| c.contains("no XMP metadata")),
            "{no_xmp:?}"
        );
        let no_intent = clauses(&pdf(Some(XMP_2U), false, |_, _| {}));
        assert!(
            no_intent
                .iter()
                .any(|c| c.contains("DeviceRGB without a GTS_PDFA1")),
            "{no_intent:?}"
        );
        let part4 = clauses(&pdf(
            Some(&XMP_2U.replace("part=\"2\"", "part=\"4\"")),
            true,
            |_, _| {},
        ));
        assert!(
            part4.iter().any(|c| c.contains("not 1, 2 or 3")),
            "{part4:?}"
        );
        let js = clauses(&pdf(Some(XMP_2U), true, |doc, cat| {
            let action = doc.add_object(
                dictionary! { "S" => "JavaScript", "JS" => Object::string_literal("app.alert(1)") },
            );
            doc.get_dictionary_mut(cat)
                .unwrap()
                .set("OpenAction", action);
        }));
        assert!(
            js.iter().any(|c| c.contains("a JavaScript action")),
            "{js:?}"
        );
        let font = clauses(&pdf(Some(XMP_2U), true, |doc, _| {
            doc.add_object(
                dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" },
            );
        }));
        assert!(
            font.iter()
                .any(|c| c.contains("font Helvetica is not embedded")),
            "{font:?}"
        );
        let lzw = clauses(&pdf(Some(XMP_2U), true, |doc, _| {
            let mut s = Stream::new(dictionary! { "Filter" => "LZWDecode" }, vec![0x80, 0x0b]);
            s.allows_compression = false;
            doc.add_object(s);
        }));
        assert!(lzw.iter().any(|c| c.contains("LZW")), "{lzw:?}");
        let no_id = clauses(&pdf(Some(XMP_2U), true, |doc, _| {
            doc.trailer.remove(b"ID");
        }));
        assert!(no_id.iter().any(|c| c.contains("no /ID")), "{no_id:?}");
        let hidden = clauses(&pdf(Some(XMP_2U), true, |doc, _| {
            doc.add_object(dictionary! { "Type" => "Annot", "Subtype" => "Text", "Rect" => vec![0.into(), 0.into(), 1.into(), 1.into()], "F" => 2 });
        }));
        assert!(
            hidden.iter().any(|c| c.contains("not printable or hidden")),
            "{hidden:?}"
        );
        let attachment = clauses(&pdf(Some(XMP_2U), true, |doc, _| {
            let file = doc.add_object(Stream::new(
                dictionary! { "Type" => "EmbeddedFile" },
                b"<xml/>".to_vec(),
            ));
            doc.add_object(dictionary! { "Type" => "Filespec", "F" => Object::string_literal("a.xml"), "EF" => dictionary! { "F" => file } });
        }));
        assert!(
            attachment
                .iter()
                .any(|c| c.contains("\"a.xml\" is not a PDF")),
            "{attachment:?}"
        );
        // a file specification written directly into the name tree, not as an object
        let nested = clauses(&pdf(Some(XMP_2U), true, |doc, cat| {
            let file = doc.add_object(Stream::new(
                dictionary! { "Type" => "EmbeddedFile" },
                b"<xml/>".to_vec(),
            ));
            let spec = dictionary! { "Type" => "Filespec", "F" => Object::string_literal("b.xml"), "EF" => dictionary! { "F" => file } };
            let names = dictionary! { "EmbeddedFiles" => dictionary! { "Names" => vec![Object::string_literal("b.xml"), Object::Dictionary(spec)] } };
            doc.get_dictionary_mut(cat).unwrap().set("Names", names);
        }));
        assert!(
            nested.iter().any(|c| c.contains("\"b.xml\" is not a PDF")),
            "{nested:?}"
        );
        assert!(clauses(b"%PDF-1.7\nnot really")
            .iter()
            .any(|c| c.contains("cannot be parsed")));
        assert!(clauses(b"GIF89a").iter().any(|c| c.starts_with("6.1.2")));
    }

    #[test]
    fn xmp_values_in_every_spelling() {
        let element = r#"<rdf:Description xmlns:id="http://www.aiim.org/pdfa/ns/id/"><id:part>3</id:part><id:conformance>B</id:conformance></rdf:Description>"#;
        assert_eq!(xmp_value(element, "part").as_deref(), Some("3"));
        assert_eq!(xmp_value(element, "conformance").as_deref(), Some("B"));
        let other_ns = r#"<d xmlns:pdfaid="http://example.org/" pdfaid:part="2"/>"#;
        assert_eq!(xmp_value(other_ns, "part"), None);
        assert_eq!(xmp_value(XMP_2U, "part").as_deref(), Some("2"));
    }
}

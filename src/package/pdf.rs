//! The searchable PDF: each page is the scanned image at its true physical size with an
//! invisible text layer (text render mode 3) placed word by word from the OCR boxes, so
//! that text extraction yields the words in reading order and a viewer's search
//! highlights the right spot.
//!
//! The text layer uses our own glyphless TrueType font ([`super::font`]: an empty glyph
//! half an em wide) as a CID font with Identity-H encoding, where the character code is
//! the Unicode code point, plus a ToUnicode map, so umlauts and ß extract as themselves.
//!
//! The file is PDF/A-2u, or PDF/A-3u when files are attached (ISO 19005-2/-3, level U):
//! an sRGB output intent ([`super::icc`]), an uncompressed XMP metadata stream that agrees
//! with the document information dictionary, every font embedded with a ToUnicode map
//! and widths that match the font program, a trailer `/ID`, no encryption, transparency,
//! actions or annotations, and attachments as associated files with their MIME type.

use anyhow::{bail, Context, Result};
use lopdf::{dictionary, Dictionary, Document, Object, ObjectId, Stream, StringFormat};
use sha2::{Digest, Sha256};

pub use super::font::GlyphlessFont;
use crate::clock::Utc;
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

/// A file embedded in the PDF (makes it PDF/A-3u; without attachments the PDF is PDF/A-2u).
pub struct Attachment<'a> {
    /// File name, e.g. `transfervermerk.xml`; unique within one PDF.
    pub name: &'a str,
    /// MIME type, e.g. `application/xml`.
    pub mime: &'a str,
    pub description: &'a str,
    /// How the file relates to the document (`/AFRelationship`).
    pub relationship: Relationship,
    pub bytes: &'a [u8],
}

/// The relationship of an associated file to the document (ISO 19005-3, `/AFRelationship`).
#[derive(Clone, Copy, Debug)]
pub enum Relationship {
    /// The original content the document was made from.
    Source,
    /// Information used to derive a visual presentation, such as a table or graph.
    Data,
    /// An alternative representation of the content.
    Alternative,
    /// A supplemental representation of the original source or data.
    Supplement,
    /// None of the above, or not known.
    Unspecified,
}

impl Relationship {
    fn pdf_name(self) -> &'static str {
        match self {
            Relationship::Source => "Source",
            Relationship::Data => "Data",
            Relationship::Alternative => "Alternative",
            Relationship::Supplement => "Supplement",
            Relationship::Unspecified => "Unspecified",
        }
    }
}

/// Document metadata written into the XMP packet and the document information dictionary.
pub struct PdfMeta<'a> {
    pub title: &'a str,
    /// When the document was made: creation, modification and metadata date.
    pub created: Utc,
    /// mailroom's document id (`dc:identifier`).
    pub document_id: &'a str,
    /// Organisation unit the document was routed to, e.g. `61 Stadtplanung`
    /// (`mailroom:unit`).
    pub unit: Option<&'a str>,
    /// Name of the profile the batch ran with (`mailroom:profile`).
    pub profile: &'a str,
    pub attachments: &'a [Attachment<'a>],
}

/// XMP namespace of mailroom's own properties (described by a PDF/A extension schema in
/// every packet). The `.invalid` domain is reserved: the URI names, it never resolves.
pub const XMP_NAMESPACE: &str = "https://mailroom.invalid/ns/xmp/1.0/";

/// Writes a PDF/A-2u (PDF/A-3u with attachments) with the given pages and returns its
/// bytes. The same input gives the same bytes.
pub fn write_pdf(pages: &[PdfPage], meta: &PdfMeta, font: &GlyphlessFont) -> Result<Vec<u8>> {
    if pages.is_empty() {
        bail!("a PDF needs at least one page");
    }
    let mut doc = Document::with_version("1.7");
    // A classic cross-reference table, readable by every PDF/A validator and old reader.
    doc.reference_table.cross_reference_type = lopdf::xref::XrefType::CrossReferenceTable;
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

    let part = if meta.attachments.is_empty() { 2 } else { 3 };
    // The metadata stream stays uncompressed, so that tools that do not parse PDF find it.
    let metadata_id = doc.add_object(
        Stream::new(
            dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
            xmp_packet(meta, part).into_bytes(),
        )
        .with_compression(false),
    );
    let mut icc = Stream::new(
        dictionary! { "N" => 3, "Alternate" => "DeviceRGB" },
        super::icc::srgb_profile(),
    );
    icc.compress()?;
    let icc_id = doc.add_object(icc);
    let output_intent = dictionary! {
        "Type" => "OutputIntent",
        "S" => "GTS_PDFA1",
        "OutputConditionIdentifier" => Object::string_literal(super::icc::OUTPUT_CONDITION),
        "RegistryName" => Object::string_literal("http://www.color.org"),
        "Info" => Object::string_literal(super::icc::OUTPUT_CONDITION),
        "DestOutputProfile" => icc_id,
    };
    let mut catalog = dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
        "Metadata" => metadata_id,
        "OutputIntents" => vec![Object::Dictionary(output_intent)],
    };
    if !meta.attachments.is_empty() {
        add_attachments(&mut doc, &mut catalog, meta)?;
    }
    let catalog_id = doc.add_object(catalog);

    // The information dictionary says what the XMP says (PDF/A-2 6.6.3), no more.
    let tool = format!("mailroom {}", crate::VERSION);
    let date = Object::string_literal(meta.created.pdf_date());
    let info_id = doc.add_object(dictionary! {
        // the title as the XMP carries it: without characters XML cannot hold
        "Title" => text_string(&xml_chars(meta.title)),
        "Creator" => text_string(&tool),
        "Producer" => text_string(&tool),
        "CreationDate" => date.clone(),
        "ModDate" => date,
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);

    // Trailer /ID: the first 16 bytes of the SHA-256 of the file written without it,
    // twice (a new file: both halves equal).
    let mut out = Vec::new();
    doc.save_to(&mut out).context("cannot serialise the PDF")?;
    let hash = Sha256::digest(&out);
    let id = Object::String(hash[..16].to_vec(), StringFormat::Hexadecimal);
    doc.trailer.set("ID", vec![id.clone(), id]);
    out.clear();
    doc.save_to(&mut out).context("cannot serialise the PDF")?;
    Ok(out)
}

/// A PDF text string: literal when the text is printable ASCII, else UTF-16BE with
/// byte-order mark (safe for any text).
fn text_string(s: &str) -> Object {
    if s.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Object::String(s.as_bytes().to_vec(), StringFormat::Literal);
    }
    let mut v = vec![0xFE, 0xFF];
    for u in s.encode_utf16() {
        v.extend_from_slice(&u.to_be_bytes());
    }
    Object::String(v, StringFormat::Hexadecimal)
}

/// Embeds the attachments as associated files (PDF/A-3 6.8): each file specification has
/// `/F`, `/UF`, `/Desc` and `/AFRelationship`, its embedded file stream the MIME type as
/// `/Subtype` and `/Params` with `/ModDate` and `/Size`; the catalog lists them in `/AF`
/// and in the `/EmbeddedFiles` name tree (sorted by name).
fn add_attachments(doc: &mut Document, catalog: &mut Dictionary, meta: &PdfMeta) -> Result<()> {
    let mut named: Vec<(Vec<u8>, ObjectId)> = Vec::new();
    for a in meta.attachments {
        if a.name.is_empty() {
            bail!("an attachment needs a file name");
        }
        if !valid_mime(a.mime) {
            bail!("attachment {}: {:?} is not a MIME type", a.name, a.mime);
        }
        let mut file = Stream::new(
            dictionary! {
                "Type" => "EmbeddedFile",
                "Subtype" => Object::Name(a.mime.as_bytes().to_vec()),
                "Params" => dictionary! {
                    "Size" => a.bytes.len() as i64,
                    "CreationDate" => Object::string_literal(meta.created.pdf_date()),
                    "ModDate" => Object::string_literal(meta.created.pdf_date()),
                },
            },
            a.bytes.to_vec(),
        );
        file.compress()?;
        let file_id = doc.add_object(file);
        // /F: a file specification string in plain ASCII; /UF: the real name.
        let ascii: String = a
            .name
            .chars()
            .map(|c| {
                if (' '..='~').contains(&c) && !"/\\".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let spec_id = doc.add_object(dictionary! {
            "Type" => "Filespec",
            "F" => Object::string_literal(ascii),
            "UF" => text_string(a.name),
            "Desc" => text_string(a.description),
            "AFRelationship" => a.relationship.pdf_name(),
            "EF" => dictionary! { "F" => file_id, "UF" => file_id },
        });
        let key = match text_string(a.name) {
            Object::String(bytes, _) => bytes,
            _ => unreachable!(),
        };
        if named.iter().any(|(k, _)| *k == key) {
            bail!("two attachments are named {}", a.name);
        }
        named.push((key, spec_id));
    }
    let af: Vec<Object> = named.iter().map(|(_, id)| (*id).into()).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut names = Vec::with_capacity(named.len() * 2);
    for (key, id) in named {
        let format = if key.starts_with(&[0xFE, 0xFF]) {
            StringFormat::Hexadecimal
        } else {
            StringFormat::Literal
        };
        names.push(Object::String(key, format));
        names.push(id.into());
    }
    catalog.set("AF", af);
    catalog.set(
        "Names",
        dictionary! { "EmbeddedFiles" => dictionary! { "Names" => names } },
    );
    Ok(())
}

/// `type/subtype` made of letters, digits and `-_.+`, the form PDF/A-3 validators accept
/// (veraPDF's 6.8 rule); a PDF name can carry it without escapes other than `#2F`.
fn valid_mime(m: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
    };
    matches!(m.split_once('/'), Some((t, s)) if token(t) && token(s))
}

/// The XMP packet: Dublin Core title and identifier, the dates, creator tool and producer,
/// the PDF/A identification, mailroom's own properties and the PDF/A extension schema that
/// describes them (PDF/A-2 6.6.2.3).
fn xmp_packet(meta: &PdfMeta, part: u8) -> String {
    let date = meta.created.rfc3339();
    let tool = xml_escape(&format!("mailroom {}", crate::VERSION));
    let ns = XMP_NAMESPACE;
    let mut lines: Vec<String> = vec![
        "<?xpacket begin=\"\u{FEFF}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>".into(),
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">".into(),
        " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">".into(),
        "  <rdf:Description rdf:about=\"\"".into(),
        "    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"".into(),
        "    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"".into(),
        "    xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\"".into(),
        "    xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\"".into(),
        format!("    xmlns:mailroom=\"{ns}\">"),
        "   <dc:format>application/pdf</dc:format>".into(),
        format!(
            "   <dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">{}</rdf:li></rdf:Alt></dc:title>",
            xml_escape(meta.title)
        ),
        format!(
            "   <dc:identifier>{}</dc:identifier>",
            xml_escape(meta.document_id)
        ),
        format!("   <xmp:CreatorTool>{tool}</xmp:CreatorTool>"),
        format!("   <xmp:CreateDate>{date}</xmp:CreateDate>"),
        format!("   <xmp:ModifyDate>{date}</xmp:ModifyDate>"),
        format!("   <xmp:MetadataDate>{date}</xmp:MetadataDate>"),
        format!("   <pdf:Producer>{tool}</pdf:Producer>"),
        format!("   <pdfaid:part>{part}</pdfaid:part>"),
        "   <pdfaid:conformance>U</pdfaid:conformance>".into(),
    ];
    if let Some(unit) = meta.unit {
        lines.push(format!(
            "   <mailroom:unit>{}</mailroom:unit>",
            xml_escape(unit)
        ));
    }
    lines.push(format!(
        "   <mailroom:profile>{}</mailroom:profile>",
        xml_escape(meta.profile)
    ));
    lines.extend(
        [
            "  </rdf:Description>",
            "  <rdf:Description rdf:about=\"\"",
            "    xmlns:pdfaExtension=\"http://www.aiim.org/pdfa/ns/extension/\"",
            "    xmlns:pdfaSchema=\"http://www.aiim.org/pdfa/ns/schema#\"",
            "    xmlns:pdfaProperty=\"http://www.aiim.org/pdfa/ns/property#\">",
            "   <pdfaExtension:schemas>",
            "    <rdf:Bag>",
            "     <rdf:li rdf:parseType=\"Resource\">",
            "      <pdfaSchema:schema>mailroom document properties</pdfaSchema:schema>",
        ]
        .map(String::from),
    );
    lines.push(format!(
        "      <pdfaSchema:namespaceURI>{ns}</pdfaSchema:namespaceURI>"
    ));
    lines.push("      <pdfaSchema:prefix>mailroom</pdfaSchema:prefix>".into());
    lines.push("      <pdfaSchema:property>".into());
    lines.push("       <rdf:Seq>".into());
    for (name, description) in [
        ("unit", "Organisation unit the document was routed to"),
        (
            "profile",
            "Name of the mailroom profile the document was made with",
        ),
    ] {
        lines.push("        <rdf:li rdf:parseType=\"Resource\">".into());
        lines.push(format!(
            "         <pdfaProperty:name>{name}</pdfaProperty:name>"
        ));
        lines.push("         <pdfaProperty:valueType>Text</pdfaProperty:valueType>".into());
        lines.push("         <pdfaProperty:category>external</pdfaProperty:category>".into());
        lines.push(format!(
            "         <pdfaProperty:description>{description}</pdfaProperty:description>"
        ));
        lines.push("        </rdf:li>".into());
    }
    lines.extend(
        [
            "       </rdf:Seq>",
            "      </pdfaSchema:property>",
            "     </rdf:li>",
            "    </rdf:Bag>",
            "   </pdfaExtension:schemas>",
            "  </rdf:Description>",
            " </rdf:RDF>",
            "</x:xmpmeta>",
            "<?xpacket end=\"w\"?>",
        ]
        .map(String::from),
    );
    lines.join("\n")
}

/// The text without the characters XML 1.0 does not allow (controls other than tab, line
/// feed and carriage return; U+FFFE, U+FFFF).
fn xml_chars(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            ((c as u32) >= 0x20 || "\t\n\r".contains(c)) && c != '\u{FFFE}' && c != '\u{FFFF}'
        })
        .collect()
}

/// Text for XML character data and attribute values: the five special characters
/// escaped, characters XML 1.0 does not allow left out. Shared by every XML mailroom
/// writes (XMP, the transfer note, DMSData index files).
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in xml_chars(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn add_font(doc: &mut Document, font: &GlyphlessFont) -> Result<ObjectId> {
    let bytes = font.bytes().to_vec();
    let mut file = Stream::new(dictionary! { "Length1" => bytes.len() as i64 }, bytes);
    file.compress()?;
    let file_id = doc.add_object(file);

    // Every code (= Unicode code point) maps to the empty glyph, code 0 included, so no
    // text can show .notdef (PDF/A-2 6.2.11.8).
    let glyph = GlyphlessFont::EMPTY_GLYPH.to_be_bytes();
    let map: Vec<u8> = glyph.iter().copied().cycle().take(65536 * 2).collect();
    let mut map_stream = Stream::new(dictionary! {}, map);
    map_stream.compress()?;
    let map_id = doc.add_object(map_stream);

    let mut to_unicode = Stream::new(dictionary! {}, to_unicode_cmap().into_bytes());
    to_unicode.compress()?;
    let to_unicode_id = doc.add_object(to_unicode);

    let width = i64::from(GlyphlessFont::ADVANCE);
    let descriptor_id = doc.add_object(dictionary! {
        "Type" => "FontDescriptor",
        "FontName" => GlyphlessFont::NAME,
        "Flags" => 5,
        "FontBBox" => vec![0.into(), 0.into(), width.into(), 1000.into()],
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
        "BaseFont" => GlyphlessFont::NAME,
        "CIDSystemInfo" => dictionary! {
            "Registry" => Object::string_literal("Adobe"),
            "Ordering" => Object::string_literal("Identity"),
            "Supplement" => 0,
        },
        "FontDescriptor" => descriptor_id,
        "DW" => width,
        "CIDToGIDMap" => map_id,
    });
    Ok(doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type0",
        "BaseFont" => GlyphlessFont::NAME,
        "Encoding" => "Identity-H",
        "DescendantFonts" => vec![cid_font_id.into()],
        "ToUnicode" => to_unicode_id,
    }))
}

/// Whether a code point is written as itself: printable characters of the Basic
/// Multilingual Plane. Control characters, surrogates and the byte-order marks would map
/// to values PDF/A forbids in a ToUnicode map (U+0000, U+FEFF, U+FFFE) or mean nothing.
fn codeable(cp: u32) -> bool {
    (0x20..=0xFFFD).contains(&cp)
        && !(0x7F..=0x9F).contains(&cp)
        && !(0xD800..=0xDFFF).contains(&cp)
        && cp != 0xFEFF
}

/// ToUnicode CMap: each code that [`codeable`] allows maps to its own code point. Ranges
/// stay within one high byte, as the CMap format requires.
fn to_unicode_cmap() -> String {
    let mut entries = Vec::new();
    for high in 0..=0xFFu32 {
        let mut low = 0u32;
        while low <= 0xFF {
            let cp = (high << 8) | low;
            if !codeable(cp) {
                low += 1;
                continue;
            }
            let start = cp;
            while low <= 0xFF && codeable((high << 8) | low) {
                low += 1;
            }
            let end = (high << 8) | (low - 1);
            entries.push(format!("<{start:04X}> <{end:04X}> <{start:04X}>\n"));
        }
    }
    let mut ranges = String::new();
    for chunk in entries.chunks(100) {
        ranges.push_str(&format!("{} beginbfrange\n", chunk.len()));
        for e in chunk {
            ranges.push_str(e);
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
            let natural = chars * f64::from(GlyphlessFont::ADVANCE) / 1000.0 * font_size;
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
/// characters outside the Basic Multilingual Plane and those [`codeable`] refuses become
/// U+FFFD.
fn utf16_codes(s: &str) -> String {
    let mut hex = String::with_capacity(s.len() * 4);
    for c in s.chars() {
        let cp = u32::from(c);
        let code = if codeable(cp) { cp } else { 0xFFFD };
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

    fn one_page_pdf(attachments: &[Attachment]) -> Result<Vec<u8>> {
        let img = image::GrayImage::from_pixel(80, 40, image::Luma([255]));
        let image = EncodedImage {
            width: 80,
            height: 40,
            data: ImageData::G4 {
                bytes: super::super::encode_g4(&img).unwrap(),
            },
        };
        let text = PageText::default();
        let pages = [PdfPage {
            image: &image,
            dpi: (200.0, 200.0),
            text: &text,
        }];
        let meta = PdfMeta {
            title: "t",
            created: Utc::from_unix(0),
            document_id: "d",
            unit: None,
            profile: "p",
            attachments,
        };
        write_pdf(&pages, &meta, &GlyphlessFont::builtin())
    }

    fn attachment<'a>(name: &'a str, mime: &'a str) -> Attachment<'a> {
        Attachment {
            name,
            mime,
            description: "",
            relationship: Relationship::Unspecified,
            bytes: b"x",
        }
    }

    #[test]
    fn attachments_need_a_unique_name_and_a_mime_type() {
        assert!(one_page_pdf(&[attachment("a.xml", "application/xml")]).is_ok());
        assert!(one_page_pdf(&[attachment("a.xml", "xml")]).is_err());
        assert!(one_page_pdf(&[attachment("", "text/plain")]).is_err());
        let two = [
            attachment("a.xml", "application/xml"),
            attachment("a.xml", "text/plain"),
        ];
        assert!(one_page_pdf(&two).is_err());
    }

    #[test]
    fn mime_types_are_checked_as_pdf_a_validators_do() {
        for ok in [
            "application/xml",
            "text/csv",
            "application/vnd.oasis.opendocument.text",
            "image/svg+xml",
        ] {
            assert!(valid_mime(ok), "{ok}");
        }
        for bad in ["xml", "text/", "/csv", "text/plain; charset=utf-8", "a/b/c"] {
            assert!(!valid_mime(bad), "{bad}");
        }
    }

    #[test]
    fn the_file_is_deterministic_and_its_id_is_two_equal_hashes() {
        let a = one_page_pdf(&[]).unwrap();
        assert_eq!(a, one_page_pdf(&[]).unwrap());
        assert!(a.starts_with(b"%PDF-1.7\n%\xBB\xAD\xC0\xDE\n"));
        let doc = Document::load_mem(&a).unwrap();
        let id = doc.trailer.get(b"ID").unwrap().as_array().unwrap();
        assert_eq!(id.len(), 2);
        assert_eq!(id[0], id[1]);
        assert_eq!(id[0].as_str().unwrap().len(), 16);
        // the metadata stream is stored as it is, and says PDF/A-2U
        let catalog = doc.catalog().unwrap();
        let md = catalog.get(b"Metadata").unwrap().as_reference().unwrap();
        let md = doc.get_object(md).unwrap().as_stream().unwrap();
        assert!(md.dict.get(b"Filter").is_err());
        let xmp = String::from_utf8(md.content.clone()).unwrap();
        assert!(xmp.contains("<pdfaid:part>2</pdfaid:part>"));
        assert!(!xmp.contains("mailroom:unit>"), "no unit, no property");
    }

    #[test]
    fn xml_text_is_escaped_and_cleaned() {
        assert_eq!(
            xml_escape("<a & \"b\" 'c'>\u{1}ß"),
            "&lt;a &amp; &quot;b&quot; &apos;c&apos;&gt;ß"
        );
        assert_eq!(xml_chars("a\u{0}\tb\u{FFFF}"), "a\tb");
    }

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
        assert_eq!(utf16_codes("\u{0}\u{FEFF}\t"), "FFFDFFFDFFFD");
    }

    #[test]
    fn cmap_ranges_skip_controls_surrogates_and_byte_order_marks() {
        let c = to_unicode_cmap();
        assert!(c.contains("<0020> <007E> <0020>"));
        assert!(c.contains("<00A0> <00FF> <00A0>"));
        assert!(c.contains("<FE00> <FEFE> <FE00>"));
        assert!(c.contains("<FF00> <FFFD> <FF00>"));
        assert!(!c.contains("<D800>"));
        assert!(!c
            .lines()
            .any(|l| l.starts_with("<00") && l.ends_with("<0000>")));
        assert!(!c.contains("FEFF>"));
        // at most 100 entries a block
        for block in c.split("beginbfrange").skip(1) {
            let n = block.split("endbfrange").next().unwrap().lines().count() - 1;
            assert!(n <= 100);
        }
    }
}

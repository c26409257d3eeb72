//! The glyphless TrueType font of the invisible text layer, built by this code (no font
//! file is read at run time).
//!
//! Two glyphs: glyph 0 `.notdef` (a hollow box, never shown: the PDF maps every character
//! code to glyph 1) and glyph 1, which has no outline. Both advance [`GlyphlessFont::ADVANCE`]
//! units of a 1000-unit em, the width the PDF declares (`DW`), so the widths in the font
//! dictionary and in the font program agree (PDF/A width consistency).
//!
//! Tables: `OS/2`, `cmap`, `glyf`, `head`, `hhea`, `hmtx`, `loca`, `maxp`, `name`, `post`,
//! each with its checksum, 4-byte aligned, and the `head` checksum adjustment set.

/// The glyphless font program used for the invisible text layer.
pub struct GlyphlessFont {
    bytes: Vec<u8>,
}

const UNITS_PER_EM: u16 = 1000;
const ASCENT: i16 = 1000;
/// Fixed timestamp for `head.created` / `head.modified` (2026-01-01, seconds since 1904),
/// so the font, and with it every PDF, is the same bytes on every run.
const FONT_DATE: i64 = 1_767_225_600 + 2_082_844_800;

impl GlyphlessFont {
    /// Advance width of every glyph in 1/1000 em, as declared in the PDF (`DW`).
    pub const ADVANCE: u16 = 500;
    /// PostScript name of the font (`name` ID 6), the PDF's `BaseFont` and `FontName`.
    pub const NAME: &'static str = "GlyphLessFont";
    /// Number of glyphs: `.notdef` and the empty glyph.
    pub const GLYPHS: u16 = 2;
    /// The glyph every character code is drawn with.
    pub const EMPTY_GLYPH: u16 = 1;

    /// The built-in font.
    pub fn builtin() -> GlyphlessFont {
        GlyphlessFont {
            bytes: build_font(),
        }
    }

    /// The font for the text layer. Kept for callers from when the font was read from
    /// Tesseract's data files: it now returns [`GlyphlessFont::builtin`] and cannot fail.
    pub fn locate() -> anyhow::Result<GlyphlessFont> {
        Ok(GlyphlessFont::builtin())
    }

    /// The TrueType font program.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

fn build_font() -> Vec<u8> {
    let glyph0 = notdef_glyph();
    let mut tables: Vec<([u8; 4], Vec<u8>)> = vec![
        (*b"OS/2", os2()),
        (*b"cmap", cmap()),
        (*b"glyf", glyph0.clone()),
        (*b"head", head()),
        (*b"hhea", hhea()),
        (*b"hmtx", hmtx()),
        (*b"loca", loca(glyph0.len())),
        (*b"maxp", maxp()),
        (*b"name", name()),
        (*b"post", post()),
    ];
    tables.sort_by_key(|t| t.0);

    let num_tables = tables.len() as u16;
    let entry_selector = 15 - num_tables.leading_zeros() as u16; // floor(log2)
    let search_range = 16u16 << entry_selector;
    let mut out = Vec::new();
    put_u32(&mut out, 0x0001_0000);
    put_u16(&mut out, num_tables);
    put_u16(&mut out, search_range);
    put_u16(&mut out, entry_selector);
    put_u16(&mut out, num_tables * 16 - search_range);

    let mut offset = 12 + 16 * tables.len();
    let mut body = Vec::new();
    let mut head_offset = 0;
    for (tag, data) in &tables {
        if tag == b"head" {
            head_offset = offset;
        }
        out.extend_from_slice(tag);
        put_u32(&mut out, checksum(data));
        put_u32(&mut out, offset as u32);
        put_u32(&mut out, data.len() as u32);
        body.extend_from_slice(data);
        while body.len() % 4 != 0 {
            body.push(0);
        }
        offset = 12 + 16 * tables.len() + body.len();
    }
    out.extend_from_slice(&body);
    let adjust = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
    out[head_offset + 8..head_offset + 12].copy_from_slice(&adjust.to_be_bytes());
    out
}

/// Sum of the big-endian 32-bit words of `data`, zero-padded.
fn checksum(data: &[u8]) -> u32 {
    data.chunks(4).fold(0u32, |sum, c| {
        let mut w = [0u8; 4];
        w[..c.len()].copy_from_slice(c);
        sum.wrapping_add(u32::from_be_bytes(w))
    })
}

fn put_u16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn put_i16(v: &mut Vec<u8>, x: i16) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

/// `.notdef`: a hollow box over the whole advance and em (outer contour clockwise, inner
/// counter-clockwise), all points on the curve, coordinates as 16-bit deltas.
fn notdef_glyph() -> Vec<u8> {
    let w = GlyphlessFont::ADVANCE as i16;
    let h = ASCENT;
    let points: [(i16, i16); 8] = [
        (0, 0),
        (0, h),
        (w, h),
        (w, 0),
        (50, 50),
        (w - 50, 50),
        (w - 50, h - 50),
        (50, h - 50),
    ];
    let mut g = Vec::new();
    put_i16(&mut g, 2); // contours
    for v in [0, 0, w, h] {
        put_i16(&mut g, v); // xMin yMin xMax yMax
    }
    put_u16(&mut g, 3);
    put_u16(&mut g, 7);
    put_u16(&mut g, 0); // no instructions
    g.extend_from_slice(&[0x01; 8]); // on curve, long x and y deltas
    let (mut px, mut py) = (0i16, 0i16);
    let mut ys = Vec::new();
    for (x, y) in points {
        put_i16(&mut g, x - px);
        put_i16(&mut ys, y - py);
        (px, py) = (x, y);
    }
    g.extend_from_slice(&ys);
    g // 56 bytes: even, as short loca offsets need
}

fn head() -> Vec<u8> {
    let mut t = Vec::new();
    put_u32(&mut t, 0x0001_0000); // version
    put_u32(&mut t, 0x0001_0000); // fontRevision 1.0
    put_u32(&mut t, 0); // checkSumAdjustment, set last
    put_u32(&mut t, 0x5F0F_3CF5); // magic
    put_u16(&mut t, 0x000B); // baseline y=0, lsb x=0, integer ppem
    put_u16(&mut t, UNITS_PER_EM);
    t.extend_from_slice(&FONT_DATE.to_be_bytes()); // created
    t.extend_from_slice(&FONT_DATE.to_be_bytes()); // modified
    for v in [0, 0, GlyphlessFont::ADVANCE as i16, ASCENT] {
        put_i16(&mut t, v); // bounding box of all glyphs
    }
    put_u16(&mut t, 0); // macStyle
    put_u16(&mut t, 8); // lowestRecPPEM
    put_i16(&mut t, 2); // fontDirectionHint
    put_i16(&mut t, 0); // indexToLocFormat: short
    put_i16(&mut t, 0); // glyphDataFormat
    t
}

fn hhea() -> Vec<u8> {
    let mut t = Vec::new();
    put_u32(&mut t, 0x0001_0000);
    put_i16(&mut t, ASCENT);
    put_i16(&mut t, 0); // descender
    put_i16(&mut t, 0); // lineGap
    put_u16(&mut t, GlyphlessFont::ADVANCE); // advanceWidthMax
    put_i16(&mut t, 0); // minLeftSideBearing
    put_i16(&mut t, 0); // minRightSideBearing
    put_i16(&mut t, GlyphlessFont::ADVANCE as i16); // xMaxExtent
    put_i16(&mut t, 1); // caretSlopeRise
    put_i16(&mut t, 0); // caretSlopeRun
    put_i16(&mut t, 0); // caretOffset
    for _ in 0..4 {
        put_i16(&mut t, 0);
    }
    put_i16(&mut t, 0); // metricDataFormat
    put_u16(&mut t, GlyphlessFont::GLYPHS); // numberOfHMetrics
    t
}

fn hmtx() -> Vec<u8> {
    let mut t = Vec::new();
    for _ in 0..GlyphlessFont::GLYPHS {
        put_u16(&mut t, GlyphlessFont::ADVANCE);
        put_i16(&mut t, 0);
    }
    t
}

/// Short offsets (bytes / 2): glyph 0 is the box, glyph 1 has no outline.
fn loca(glyph0_len: usize) -> Vec<u8> {
    let mut t = Vec::new();
    put_u16(&mut t, 0);
    put_u16(&mut t, (glyph0_len / 2) as u16);
    put_u16(&mut t, (glyph0_len / 2) as u16);
    t
}

fn maxp() -> Vec<u8> {
    let mut t = Vec::new();
    put_u32(&mut t, 0x0001_0000);
    put_u16(&mut t, GlyphlessFont::GLYPHS);
    put_u16(&mut t, 8); // maxPoints
    put_u16(&mut t, 2); // maxContours
    put_u16(&mut t, 0); // maxCompositePoints
    put_u16(&mut t, 0); // maxCompositeContours
    put_u16(&mut t, 2); // maxZones
    for _ in 0..8 {
        put_u16(&mut t, 0); // twilight points .. component depth
    }
    t
}

/// A Windows Unicode BMP cmap (format 4) mapping the space to glyph 1. The PDF does not
/// use it (its CIDToGIDMap names glyphs directly); it is there for font tools.
fn cmap() -> Vec<u8> {
    let mut t = Vec::new();
    put_u16(&mut t, 0); // version
    put_u16(&mut t, 1); // subtables
    put_u16(&mut t, 3); // Windows
    put_u16(&mut t, 1); // Unicode BMP
    put_u32(&mut t, 12);
    let seg_count = 2u16;
    put_u16(&mut t, 4); // format
    put_u16(&mut t, 16 + 8 * seg_count); // length
    put_u16(&mut t, 0); // language
    put_u16(&mut t, seg_count * 2);
    put_u16(&mut t, 4); // searchRange
    put_u16(&mut t, 1); // entrySelector
    put_u16(&mut t, 0); // rangeShift
    put_u16(&mut t, 0x0020); // endCode
    put_u16(&mut t, 0xFFFF);
    put_u16(&mut t, 0); // reservedPad
    put_u16(&mut t, 0x0020); // startCode
    put_u16(&mut t, 0xFFFF);
    put_u16(&mut t, GlyphlessFont::EMPTY_GLYPH.wrapping_sub(0x0020)); // idDelta
    put_u16(&mut t, 1);
    put_u16(&mut t, 0); // idRangeOffset
    put_u16(&mut t, 0);
    t
}

fn name() -> Vec<u8> {
    let names: [(u16, &str); 7] = [
        (0, "No rights reserved. Generated by mailroom."),
        (1, GlyphlessFont::NAME),
        (2, "Regular"),
        (3, "mailroom: GlyphLessFont"),
        (4, GlyphlessFont::NAME),
        (5, "Version 1.0"),
        (6, GlyphlessFont::NAME),
    ];
    let mut records = Vec::new();
    let mut strings = Vec::new();
    for (id, text) in names {
        let utf16: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        put_u16(&mut records, 3); // Windows
        put_u16(&mut records, 1); // Unicode BMP
        put_u16(&mut records, 0x0409); // en-US
        put_u16(&mut records, id);
        put_u16(&mut records, utf16.len() as u16);
        put_u16(&mut records, strings.len() as u16);
        strings.extend_from_slice(&utf16);
    }
    let mut t = Vec::new();
    put_u16(&mut t, 0); // format
    put_u16(&mut t, names.len() as u16);
    put_u16(&mut t, 6 + 12 * names.len() as u16); // string storage offset
    t.extend_from_slice(&records);
    t.extend_from_slice(&strings);
    t
}

fn post() -> Vec<u8> {
    let mut t = Vec::new();
    put_u32(&mut t, 0x0003_0000); // no glyph names
    put_u32(&mut t, 0); // italicAngle
    put_i16(&mut t, -100); // underlinePosition
    put_i16(&mut t, 50); // underlineThickness
    put_u32(&mut t, 1); // isFixedPitch
    for _ in 0..4 {
        put_u32(&mut t, 0);
    }
    t
}

fn os2() -> Vec<u8> {
    let mut t = Vec::new();
    put_u16(&mut t, 4); // version
    put_i16(&mut t, GlyphlessFont::ADVANCE as i16); // xAvgCharWidth
    put_u16(&mut t, 400); // usWeightClass
    put_u16(&mut t, 5); // usWidthClass
    put_u16(&mut t, 0); // fsType: installable, embedding allowed
    for v in [650, 600, 0, 75, 650, 600, 0, 350, 50, 300] {
        put_i16(&mut t, v); // sub/superscript sizes and offsets, strikeout
    }
    put_i16(&mut t, 0); // sFamilyClass
    t.extend_from_slice(&[0; 10]); // PANOSE
    put_u32(&mut t, 1); // ulUnicodeRange1: Basic Latin
    put_u32(&mut t, 0);
    put_u32(&mut t, 0);
    put_u32(&mut t, 0);
    t.extend_from_slice(b"NONE"); // achVendID
    put_u16(&mut t, 0x0040); // fsSelection: regular
    put_u16(&mut t, 0x0020); // usFirstCharIndex
    put_u16(&mut t, 0x0020); // usLastCharIndex
    put_i16(&mut t, ASCENT); // sTypoAscender
    put_i16(&mut t, 0); // sTypoDescender
    put_i16(&mut t, 0); // sTypoLineGap
    put_u16(&mut t, ASCENT as u16); // usWinAscent
    put_u16(&mut t, 0); // usWinDescent
    put_u32(&mut t, 1); // ulCodePageRange1: Latin 1
    put_u32(&mut t, 0);
    put_i16(&mut t, 500); // sxHeight
    put_i16(&mut t, ASCENT); // sCapHeight
    put_u16(&mut t, 0); // usDefaultChar
    put_u16(&mut t, 0x0020); // usBreakChar
    put_u16(&mut t, 1); // usMaxContext
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be16(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// (tag, offset, length) of every table, from the table directory.
    fn directory(f: &[u8]) -> Vec<([u8; 4], usize, usize)> {
        (0..be16(f, 4) as usize)
            .map(|i| {
                let e = 12 + 16 * i;
                let tag: [u8; 4] = f[e..e + 4].try_into().unwrap();
                (tag, be32(f, e + 8) as usize, be32(f, e + 12) as usize)
            })
            .collect()
    }

    #[test]
    fn directory_is_sorted_aligned_and_checksummed() {
        let font = GlyphlessFont::builtin();
        let f = font.bytes();
        assert_eq!(be32(f, 0), 0x0001_0000);
        let dir = directory(f);
        let tags: Vec<&[u8]> = dir.iter().map(|(t, _, _)| &t[..]).collect();
        assert_eq!(
            tags,
            [
                &b"OS/2"[..],
                b"cmap",
                b"glyf",
                b"head",
                b"hhea",
                b"hmtx",
                b"loca",
                b"maxp",
                b"name",
                b"post"
            ]
        );
        assert_eq!(be16(f, 6), 128); // searchRange for 10 tables
        for (i, (tag, off, len)) in dir.iter().enumerate() {
            assert_eq!(off % 4, 0, "{} not aligned", String::from_utf8_lossy(tag));
            assert!(off + len <= f.len());
            let mut data = f[*off..off + len].to_vec();
            if tag == b"head" {
                data[8..12].fill(0);
            }
            assert_eq!(be32(f, 12 + 16 * i + 4), checksum(&data));
        }
        assert_eq!(checksum(f), 0xB1B0_AFBA, "head.checkSumAdjustment");
        assert_eq!(f.len() % 4, 0);
    }

    #[test]
    fn an_independent_parser_reads_two_glyphs_of_the_declared_width() {
        use ab_glyph::{Font, FontRef, GlyphId};
        let font = GlyphlessFont::builtin();
        let f = FontRef::try_from_slice(font.bytes()).expect("ab_glyph parses the font");
        assert_eq!(f.units_per_em(), Some(f32::from(UNITS_PER_EM)));
        assert_eq!(f.glyph_count(), 2);
        for g in 0..2 {
            assert_eq!(
                f.h_advance_unscaled(GlyphId(g)),
                f32::from(GlyphlessFont::ADVANCE)
            );
        }
        assert!(f.outline(GlyphId(1)).is_none(), "glyph 1 draws nothing");
        assert!(f.outline(GlyphId(0)).is_some(), ".notdef is a box");
        assert_eq!(f.glyph_id(' '), GlyphId(1));
        assert_eq!(f.ascent_unscaled(), f32::from(ASCENT));
    }

    #[test]
    fn the_font_is_the_same_bytes_every_time() {
        assert_eq!(
            GlyphlessFont::builtin().bytes(),
            GlyphlessFont::locate().unwrap().bytes()
        );
    }
}

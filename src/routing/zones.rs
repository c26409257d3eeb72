//! Finds the zones of a letter in its OCR lines: the DIN 5008 address field, the subject
//! line and the sender above, on the first page, from line positions in millimetres.
//!
//! The address field is found around the line naming the authority ("Stadt
//! Braunschweig") in the left column: the block of closely spaced lines it belongs to.
//! Without such a line, the lines in DIN 5008's address area (20-125 mm from the left,
//! 40-110 mm from the top) stand in for it. The subject is the line starting with
//! "Betreff" below the address field, or else the first line there that is not a date,
//! up to the salutation; the sender is what stands above the address field.

use crate::ocr::{Line, PageText};

use super::rules::Zone;
use super::text::{fuzzy_eq, tokens};

/// A page's OCR text with the resolution of the page it was read on.
#[derive(Debug, Clone, Copy)]
pub struct PageView<'a> {
    pub text: &'a PageText,
    /// Dots per inch of the (cleaned) page image the boxes refer to.
    pub dpi: (f32, f32),
    /// Width and height of that image in pixels.
    pub size_px: (u32, u32),
}

/// A word in a zone, in reading order.
#[derive(Debug, Clone)]
pub struct ZoneWord {
    /// Normalised for matching: lower case, punctuation at the ends removed.
    pub norm: String,
    /// As read.
    pub text: String,
    pub conf: f32,
    /// 1-based page.
    pub page: usize,
    /// Line number within the zone (for phrases and regexes: words of one line).
    pub line: usize,
}

/// The words of one zone.
#[derive(Debug, Clone, Default)]
pub struct ZoneText {
    pub words: Vec<ZoneWord>,
}

impl ZoneText {
    fn push_line(&mut self, line: &Line, page: usize, index: usize) {
        for w in &line.words {
            for t in tokens(&w.text) {
                self.words.push(ZoneWord {
                    norm: t,
                    text: w.text.clone(),
                    conf: w.conf,
                    page,
                    line: index,
                });
            }
        }
    }

    /// The zone as text, one OCR line per text line, with each word's byte range.
    pub fn joined(&self) -> (String, Vec<(usize, usize)>) {
        let mut s = String::new();
        let mut spans = Vec::with_capacity(self.words.len());
        let mut last_line = None;
        let mut last_text: Option<&str> = None;
        for w in &self.words {
            // tokens split from one OCR word share its text: write it once
            let same_word =
                last_line == Some((w.page, w.line)) && last_text == Some(w.text.as_str());
            if !same_word {
                if last_line.is_some() {
                    s.push(if last_line == Some((w.page, w.line)) {
                        ' '
                    } else {
                        '\n'
                    });
                }
                let start = s.len();
                s.push_str(&w.text);
                spans.push((start, s.len()));
            } else {
                let prev = *spans.last().expect("a previous word");
                spans.push(prev);
            }
            last_line = Some((w.page, w.line));
            last_text = Some(&w.text);
        }
        (s, spans)
    }
}

/// A document's zones.
#[derive(Debug, Clone, Default)]
pub struct Zones {
    pub address: ZoneText,
    pub subject: ZoneText,
    pub sender: ZoneText,
    pub first_page: ZoneText,
    pub text: ZoneText,
    /// The address field's lines as read, top to bottom (for the confidential check).
    pub address_lines: Vec<String>,
}

impl Zones {
    pub fn get(&self, zone: Zone) -> &ZoneText {
        match zone {
            Zone::Address => &self.address,
            Zone::Subject => &self.subject,
            Zone::Sender => &self.sender,
            Zone::FirstPage => &self.first_page,
            Zone::Text => &self.text,
        }
    }
}

/// A line's position in millimetres.
struct Placed<'a> {
    line: &'a Line,
    x: f32,
    top: f32,
    bottom: f32,
}

fn line_text(line: &Line) -> String {
    line.words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_salutation(text: &str) -> bool {
    let t = text.trim_start().to_lowercase();
    [
        "sehr geehrte",
        "guten tag",
        "hallo",
        "liebe ",
        "lieber ",
        "moin",
    ]
    .iter()
    .any(|s| t.starts_with(s))
}

fn is_subject_label(text: &str) -> bool {
    let t = text.trim_start().to_lowercase();
    t.starts_with("betreff") || t.starts_with("betr.") || t.starts_with("betrifft")
}

/// The reference line (Bezugszeichenzeile) or its items.
fn is_reference_line(text: &str) -> bool {
    let t = text.trim_start().to_lowercase();
    [
        "ihr zeichen",
        "ihre zeichen",
        "ihr schreiben",
        "ihre nachricht",
        "ihre e-mail",
        "unser zeichen",
        "mein zeichen",
        "unsere nachricht",
        "telefon",
        "datum",
    ]
    .iter()
    .any(|p| t.starts_with(p))
}

/// A line that is only a date (right-aligned date lines, "Braunschweig, 3. März 2026").
fn is_date_line(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let months = [
        "januar",
        "februar",
        "märz",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "dezember",
    ];
    let lower = text.to_lowercase();
    let words = text.split_whitespace().count();
    words <= 5 && digits >= 4 && (months.iter().any(|m| lower.contains(m)) || lower.contains('.'))
}

/// How the text lies on a page image that cleanup could not turn upright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    Upright,
    /// Lines run top to bottom: the page's top is at the image's right.
    TopRight,
    /// Lines run bottom to top: the page's top is at the image's left.
    TopLeft,
}

/// Tesseract reads a sideways page all the same, with line boxes standing upright; the
/// direction of the words along them tells which way the page lies.
fn sideways(text: &PageText) -> Turn {
    let (mut vertical, mut horizontal, mut down) = (0, 0, 0i32);
    for l in text.lines.iter().filter(|l| l.words.len() >= 2) {
        let (w, h) = (u64::from(l.bbox.w), u64::from(l.bbox.h));
        if h > 2 * w {
            vertical += 1;
            let (first, last) = (&l.words[0].bbox, &l.words[l.words.len() - 1].bbox);
            down += if last.y > first.y { 1 } else { -1 };
        } else if w > 2 * h {
            horizontal += 1;
        }
    }
    if vertical <= horizontal {
        Turn::Upright
    } else if down >= 0 {
        Turn::TopRight
    } else {
        Turn::TopLeft
    }
}

/// Finds the zones of a document from its pages' OCR lines.
pub fn find(pages: &[PageView], authority: &[String]) -> Zones {
    let mut zones = Zones::default();
    for (p, page) in pages.iter().enumerate() {
        for (i, line) in page.text.lines.iter().enumerate() {
            zones.text.push_line(line, p + 1, i);
            if p == 0 {
                zones.first_page.push_line(line, 1, i);
            }
        }
    }
    let Some(first) = pages.first() else {
        return zones;
    };
    let (dx, dy) = (25.4 / first.dpi.0.max(1.0), 25.4 / first.dpi.1.max(1.0));
    let turn = sideways(first.text);
    let (w, h) = (first.size_px.0 as f32, first.size_px.1 as f32);
    let mut lines: Vec<Placed> = first
        .text
        .lines
        .iter()
        .filter(|l| !l.words.is_empty())
        .map(|l| {
            let b = &l.bbox;
            let (x0, y0, x1, y1) = (b.x as f32, b.y as f32, b.right() as f32, b.bottom() as f32);
            // positions on the upright page, in mm
            let (x, top, bottom) = match turn {
                Turn::Upright => (x0 * dx, y0 * dy, y1 * dy),
                // the page's top at the image's right: upright y runs from the right edge
                Turn::TopRight => (y0 * dy, (w - x1) * dx, (w - x0) * dx),
                Turn::TopLeft => ((h - y1) * dy, x0 * dx, x1 * dx),
            };
            Placed {
                line: l,
                x,
                top,
                bottom,
            }
        })
        .collect();
    lines.sort_by(|a, b| a.top.total_cmp(&b.top));
    if lines.is_empty() {
        return zones;
    }
    let mut heights: Vec<f32> = lines.iter().map(|l| l.bottom - l.top).collect();
    heights.sort_by(f32::total_cmp);
    let line_h = heights[heights.len() / 2].max(2.0);

    let left = |l: &Placed| l.x < 100.0;
    // the block around the authority's line
    let authority_at = lines.iter().position(|l| {
        left(l)
            && l.top < 140.0
            && authority
                .iter()
                .any(|a| contains_phrase(&line_text(l.line), a))
    });
    let (start, end) = match authority_at {
        Some(a) => {
            let close = |upper: &Placed, lower: &Placed| lower.top - upper.bottom < 1.6 * line_h;
            // upwards: the remark zone above the recipient (DIN 5008: up to 17.7 mm plus
            // the return address) may stand apart from it
            let mut start = a;
            while start > 0
                && left(&lines[start - 1])
                && (close(&lines[start - 1], &lines[start])
                    || lines[start - 1].top >= lines[a].top - 27.0)
            {
                start -= 1;
            }
            let mut end = a + 1;
            while end < lines.len() && left(&lines[end]) && close(&lines[end - 1], &lines[end]) {
                end += 1;
            }
            (start, end)
        }
        None => {
            let inside =
                |l: &Placed| l.x >= 10.0 && l.x < 125.0 && l.top >= 40.0 && l.bottom <= 110.0;
            let start = lines.iter().position(&inside).unwrap_or(lines.len());
            let mut end = start;
            while end < lines.len()
                && inside(&lines[end])
                && !is_subject_label(&line_text(lines[end].line))
            {
                end += 1;
            }
            (start, end)
        }
    };
    for (i, l) in lines[start..end].iter().enumerate() {
        if left(l) || authority_at.is_none() {
            zones.address.push_line(l.line, 1, i);
            zones.address_lines.push(line_text(l.line));
        }
    }
    let block_top = lines.get(start).map_or(0.0, |l| l.top);
    for (i, l) in lines[..start].iter().enumerate() {
        if l.bottom <= block_top + 0.5 {
            zones.sender.push_line(l.line, 1, i);
        }
    }
    // the subject: below the address field, before the salutation
    let below: Vec<&Placed> = lines[end..]
        .iter()
        .take_while(|l| !is_salutation(&line_text(l.line)))
        .collect();
    // with a "Betreff" label: that line and the ones right below it; without: the last
    // block of lines above the salutation (DIN 5008 puts the subject there), leaving out
    // dates and the reference line ("Ihr Zeichen", "Ihr Schreiben vom")
    let labelled = below
        .iter()
        .position(|l| is_subject_label(&line_text(l.line)));
    let subject: Vec<&Placed> = match labelled {
        Some(s) => {
            let mut block = vec![below[s]];
            for l in &below[s + 1..] {
                let prev = block[block.len() - 1];
                if l.top - prev.bottom > 1.2 * line_h || block.len() >= 3 {
                    break;
                }
                block.push(l);
            }
            block
        }
        None => {
            let plain: Vec<&Placed> = below
                .iter()
                .copied()
                .filter(|l| {
                    let t = line_text(l.line);
                    l.x < 100.0 && !is_date_line(&t) && !is_reference_line(&t)
                })
                .collect();
            let mut block: Vec<&Placed> = Vec::new();
            for l in plain.iter().rev() {
                if let Some(next) = block.last() {
                    if next.top - l.bottom > 1.2 * line_h || block.len() >= 3 {
                        break;
                    }
                }
                block.push(l);
            }
            block.reverse();
            block
        }
    };
    for (i, l) in subject.iter().enumerate() {
        zones.subject.push_line(l.line, 1, i);
    }
    zones
}

/// The phrase's words appear consecutively in the text (case-insensitive, one OCR error
/// per long word tolerated).
pub fn contains_phrase(text: &str, phrase: &str) -> bool {
    let words = tokens(text);
    let want = tokens(phrase);
    !want.is_empty()
        && words
            .windows(want.len())
            .any(|w| w.iter().zip(&want).all(|(a, b)| fuzzy_eq(a, b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocr::{PxBox, Word};

    fn line(w: u32, h: u32) -> Line {
        let word = |x: u32| Word {
            text: "Amt".into(),
            bbox: PxBox { x, y: 10, w: 5, h },
            conf: 90.0,
        };
        Line {
            bbox: PxBox { x: 0, y: 10, w, h },
            words: vec![word(0), word(10)],
        }
    }

    /// Found by the barcode_payload fuzz target: `2 * w` overflowed for a line wider than
    /// 2^31 pixels (a document JSON read by `route --dry-run` can hold any box), which
    /// made a wide line count as a vertical one.
    #[test]
    fn a_huge_line_box_is_measured_without_overflow() {
        let page = PageText {
            lines: vec![line((1 << 31) + 10, 30)],
        };
        assert_eq!(sideways(&page), Turn::Upright);
        let page = PageText {
            lines: vec![line(30, u32::MAX)],
        };
        assert_eq!(sideways(&page), Turn::TopLeft);
    }
}

//! Rendering a PDF page, and reading its text with positions, with MuPDF's `mutool`
//! (Debian package mupdf-tools; chosen by measurement, see README "PDF input").
//!
//! Both run as a child process with a time limit: a hostile file can make a renderer
//! spin or crash, and neither may take the batch down with it.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use image::GrayImage;

use crate::ocr::{Line, PageText, PxBox, Word};

/// The renderer's program name.
pub const MUTOOL: &str = "mutool";
/// Longest time one page may take to render or to extract its text.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// Runs `mutool` with `args`, returns its standard output.
fn run(args: &[&std::ffi::OsStr]) -> Result<Vec<u8>, String> {
    let mut child = Command::new(MUTOOL)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot start the PDF renderer {MUTOOL} ({e}; Debian package mupdf-tools, see scripts/setup.sh)")
        })?;
    // Read both pipes on threads, so a large page cannot block the child on a full pipe.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).map(|_| v)
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > TIME_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the PDF renderer took longer than {} s on this page",
                    TIME_LIMIT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("PDF renderer: {e}")),
        }
    };
    let stdout = out
        .join()
        .map_err(|_| "PDF renderer output lost".to_string())?
        .map_err(|e| format!("PDF renderer output: {e}"))?;
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        let msg = String::from_utf8_lossy(&stderr);
        let first = msg
            .lines()
            .find(|l| l.contains("error"))
            .or_else(|| msg.lines().next())
            .unwrap_or("no message");
        return Err(format!("the PDF renderer failed ({status}): {first}"));
    }
    Ok(stdout)
}

/// Renders page `page` (1-based) of the PDF at `path` in gray at `dpi`.
pub fn render_gray(path: &Path, page: usize, dpi: u32) -> Result<GrayImage, String> {
    let dpi_s = dpi.to_string();
    let page_s = page.to_string();
    let args: Vec<&std::ffi::OsStr> = vec![
        "draw".as_ref(),
        "-q".as_ref(),
        "-r".as_ref(),
        dpi_s.as_ref(),
        "-c".as_ref(),
        "gray".as_ref(),
        "-F".as_ref(),
        "pgm".as_ref(),
        "-o".as_ref(),
        "-".as_ref(),
        path.as_os_str(),
        page_s.as_ref(),
    ];
    let pgm = run(&args)?;
    parse_pgm(&pgm)
}

/// Reads a binary 8-bit PGM (P5) as mutool writes it.
fn parse_pgm(data: &[u8]) -> Result<GrayImage, String> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while pos < data.len() && data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if data.get(pos) == Some(&b'#') {
            while pos < data.len() && data[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        let start = pos;
        while pos < data.len() && !data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if start == pos {
            return Err("the PDF renderer wrote no image".into());
        }
        fields.push(String::from_utf8_lossy(&data[start..pos]).into_owned());
    }
    pos += 1;
    let num = |i: usize| {
        fields[i]
            .parse::<u32>()
            .map_err(|_| "bad PGM header".to_string())
    };
    if fields[0] != "P5" || num(3)? != 255 {
        return Err(format!(
            "the PDF renderer wrote {} instead of 8-bit gray",
            fields[0]
        ));
    }
    let (w, h) = (num(1)?, num(2)?);
    let body = data
        .get(pos..pos + w as usize * h as usize)
        .ok_or("the PDF renderer's image is cut short")?;
    GrayImage::from_raw(w, h, body.to_vec()).ok_or_else(|| "bad PGM size".into())
}

/// The text of page `page` (1-based) with word boxes in the pixels of the page rendered
/// at `dpi` (MuPDF's structured text, characters grouped into words at spaces). Every
/// word gets confidence 100: it was read, not recognised.
pub fn page_text(path: &Path, page: usize, dpi: u32) -> Result<PageText, String> {
    let dpi_s = dpi.to_string();
    let page_s = page.to_string();
    let args: Vec<&std::ffi::OsStr> = vec![
        "draw".as_ref(),
        "-q".as_ref(),
        "-r".as_ref(),
        dpi_s.as_ref(),
        "-F".as_ref(),
        "stext".as_ref(),
        "-o".as_ref(),
        "-".as_ref(),
        path.as_os_str(),
        page_s.as_ref(),
    ];
    let xml = run(&args)?;
    Ok(parse_stext(&String::from_utf8_lossy(&xml)))
}

/// Parses MuPDF's stext XML: `<line>` elements holding `<char quad=".." c=".."/>`.
pub(crate) fn parse_stext(xml: &str) -> PageText {
    let mut lines = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let mut current: Option<(String, [f32; 4])> = None;
    let flush_word = |current: &mut Option<(String, [f32; 4])>, words: &mut Vec<Word>| {
        if let Some((text, b)) = current.take() {
            if !text.trim().is_empty() {
                let (x0, y0) = (b[0].max(0.0).floor(), b[1].max(0.0).floor());
                let (x1, y1) = (b[2].max(0.0).ceil(), b[3].max(0.0).ceil());
                words.push(Word {
                    text,
                    bbox: PxBox {
                        x: x0 as u32,
                        y: y0 as u32,
                        w: (x1 - x0).max(1.0) as u32,
                        h: (y1 - y0).max(1.0) as u32,
                    },
                    conf: 100.0,
                });
            }
        }
    };
    for tag in xml.split('<').skip(1) {
        if tag.starts_with("/line") {
            flush_word(&mut current, &mut words);
            if !words.is_empty() {
                let bbox = words
                    .iter()
                    .skip(1)
                    .fold(words[0].bbox, |b, w| b.union(&w.bbox));
                lines.push(Line {
                    bbox,
                    words: std::mem::take(&mut words),
                });
            }
        } else if tag.starts_with("char ") {
            let Some(c) = attr(tag, "c").map(|c| unescape(&c)) else {
                continue;
            };
            let quad: Vec<f32> = attr(tag, "quad")
                .map(|q| {
                    q.split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            if c.trim().is_empty() || quad.len() != 8 {
                flush_word(&mut current, &mut words);
                continue;
            }
            let xs = [quad[0], quad[2], quad[4], quad[6]];
            let ys = [quad[1], quad[3], quad[5], quad[7]];
            let b = [
                xs.iter().copied().fold(f32::MAX, f32::min),
                ys.iter().copied().fold(f32::MAX, f32::min),
                xs.iter().copied().fold(f32::MIN, f32::max),
                ys.iter().copied().fold(f32::MIN, f32::max),
            ];
            match &mut current {
                Some((text, bb)) => {
                    text.push_str(&c);
                    bb[0] = bb[0].min(b[0]);
                    bb[1] = bb[1].min(b[1]);
                    bb[2] = bb[2].max(b[2]);
                    bb[3] = bb[3].max(b[3]);
                }
                None => current = Some((c, b)),
            }
        }
    }
    PageText { lines }
}

/// The value of attribute `name` in a tag's text.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_string())
}

/// XML character references and the five predefined entities.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let Some(end) = rest[i..].find(';') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let entity = &rest[i + 1..i + end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&rest[i..i + end + 1]),
        }
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stext_becomes_words_and_lines_with_umlauts() {
        let xml = r##"<?xml version="1.0"?>
<document name="x.pdf"><page id="page1" width="100" height="100">
<block bbox="0 0 50 10"><line bbox="0 0 50 10" wmode="0" dir="1 0"><font name="Helvetica" size="10">
<char quad="10 20 15 20 10 30 15 30" x="10" y="28" color="#000000" c="&#xe4;"/>
<char quad="15 20 20 20 15 30 20 30" x="15" y="28" color="#000000" c="&amp;"/>
<char quad="20 20 24 20 20 30 24 30" x="20" y="28" color="#000000" c=" "/>
<char quad="24 21 30 21 24 31 30 31" x="24" y="28" color="#000000" c="&#xdf;"/>
</font></line></block>
<block><line><font><char quad="10 50 14 50 10 60 14 60" c="Z"/></font></line></block>
</page></document>"##;
        let t = parse_stext(xml);
        assert_eq!(t.text(), "ä& ß\nZ");
        let w = &t.lines[0].words[1];
        assert_eq!((w.bbox.x, w.bbox.y, w.bbox.w, w.bbox.h), (24, 21, 6, 10));
        assert_eq!(w.conf, 100.0);
    }

    #[test]
    fn pgm_headers_are_read() {
        let mut pgm = b"P5\n3 2\n255\n".to_vec();
        pgm.extend_from_slice(&[0, 1, 2, 3, 4, 5]);
        let img = parse_pgm(&pgm).unwrap();
        assert_eq!(
            (img.width(), img.height(), img.get_pixel(2, 1)[0]),
            (3, 2, 5)
        );
        assert!(parse_pgm(b"P5\n3 2\n255\n\x00").is_err());
        assert!(parse_pgm(b"P6\n1 1\n255\n\x00\x00\x00").is_err());
    }
}

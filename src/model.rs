//! Types shared between the stages: page pixels, resolution, and the outcome of every input.

use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

/// Pixels of one page as decoded. Bilevel pages hold only the values 0 and 255.
#[derive(Debug)]
pub enum Pixels {
    Bilevel(GrayImage),
    Gray(GrayImage),
    Rgb(RgbImage),
}

impl Pixels {
    pub fn width(&self) -> u32 {
        match self {
            Pixels::Bilevel(g) | Pixels::Gray(g) => g.width(),
            Pixels::Rgb(c) => c.width(),
        }
    }

    pub fn height(&self) -> u32 {
        match self {
            Pixels::Bilevel(g) | Pixels::Gray(g) => g.height(),
            Pixels::Rgb(c) => c.height(),
        }
    }

    pub fn kind(&self) -> ColorKind {
        match self {
            Pixels::Bilevel(_) => ColorKind::Bilevel,
            Pixels::Gray(_) => ColorKind::Gray,
            Pixels::Rgb(_) => ColorKind::Rgb,
        }
    }

    /// A gray view for OCR and analysis (converts colour pages, without copying them
    /// first: a colour page is 26 MB).
    pub fn to_gray(&self) -> std::borrow::Cow<'_, GrayImage> {
        match self {
            Pixels::Bilevel(g) | Pixels::Gray(g) => std::borrow::Cow::Borrowed(g),
            Pixels::Rgb(c) => std::borrow::Cow::Owned(image::imageops::grayscale(c)),
        }
    }

    /// The gray page, giving up the colour one as soon as it is converted.
    pub fn into_gray(self) -> GrayImage {
        match self {
            Pixels::Bilevel(g) | Pixels::Gray(g) => g,
            Pixels::Rgb(c) => image::imageops::grayscale(&c),
        }
    }

    /// SHA-256 over the decoded pixels (and their size and kind): the same page gives the
    /// same hash whatever file format carried it.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(format!(
            "{:?} {}x{}\n",
            self.kind(),
            self.width(),
            self.height()
        ));
        match self {
            Pixels::Bilevel(g) | Pixels::Gray(g) => h.update(g.as_raw()),
            Pixels::Rgb(c) => h.update(c.as_raw()),
        }
        crate::fsutil::hex(&h.finalize())
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ColorKind {
    Bilevel,
    Gray,
    Rgb,
}

/// Resolution of a page and where the value came from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Dpi {
    pub x: f32,
    pub y: f32,
    pub source: DpiSource,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DpiSource {
    /// Read from the file's metadata.
    File,
    /// The file carried none (or an implausible value): the profile's `assume_dpi`.
    Assumed,
}

/// The pipeline stage at which an input failed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Ingest,
    Decode,
    Cleanup,
    Ocr,
    Barcodes,
    Package,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Ingest => "ingest",
            Stage::Decode => "decode",
            Stage::Cleanup => "cleanup",
            Stage::Ocr => "ocr",
            Stage::Barcodes => "barcodes",
            Stage::Package => "package",
        })
    }
}

/// An input file that was set aside with a reason instead of being delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quarantined {
    /// Path relative to the batch folder.
    pub file: String,
    pub stage: Stage,
    pub reason: String,
    /// Pages of the file that this accounts for. A file whose pages cannot be counted
    /// (empty, unknown format, unreadable header) counts as one page.
    pub pages: usize,
    /// Where the copy of the file lies, relative to the output folder. None when there
    /// is nothing to copy: the entry is not a regular file (a link, a folder) or could
    /// not be read (it vanished during the run, or its permissions forbid it); the reason
    /// says so, and the original stays where it is.
    pub copy: Option<String>,
    /// SHA-256 of the copy (`mailroom verify` checks it).
    #[serde(default)]
    pub sha256: Option<String>,
}

impl Quarantined {
    /// The name an entry of the batch gets in the quarantine folder: its relative path
    /// with `/` written as `__`.
    pub fn flat_name(file: &str) -> String {
        file.replace('/', "__")
    }

    /// The reason file, relative to the output folder (always written).
    pub fn reason_file(&self) -> String {
        format!("quarantine/{}.reason.txt", Self::flat_name(&self.file))
    }
}

/// Text as shown on a terminal: control characters (a newline or carriage return in a
/// file name, an escape sequence that would recolour or clear the screen) are written as
/// escapes, so one item stays one line and prints as what it is.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The largest difference between two images' samples, position by position (tests
/// compare a conversion or rotation with a reference this way).
#[cfg(test)]
pub(crate) fn max_sample_difference(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len(), "images of different sizes");
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_pages_turn_gray_by_their_luma() {
        let c = image::RgbImage::from_fn(37, 23, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 11) as u8, (x * y) as u8])
        });
        // the image crate's colour-space-aware conversion (it needs a copy of the page)
        let reference = image::DynamicImage::ImageRgb8(c.clone()).to_luma8();
        let page = Pixels::Rgb(c);
        let gray = page.to_gray().into_owned();
        let worst = max_sample_difference(gray.as_raw(), reference.as_raw());
        assert!(worst <= 2, "differs by up to {worst}");
        assert_eq!(page.into_gray(), gray);
    }
}

//! Profiles: the TOML file that tunes a run. Parsed and validated once, here; the rest of
//! the program receives a `Profile` whose values are known to be in range.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The built-in default profile, the same text as `profiles/default.toml`.
pub const DEFAULT_PROFILE_TOML: &str = include_str!("../profiles/default.toml");

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    pub name: String,
    pub input: InputSettings,
    pub cleanup: CleanupSettings,
    pub ocr: OcrSettings,
    pub separation: SeparationSettings,
    pub routing: crate::routing::rules::RoutingSettings,
    pub output: OutputSettings,
    pub delivery: crate::deliver::DeliverySettings,
    /// Thresholds of `mailroom validate` (contractor deliveries).
    pub validate: crate::validate::quality::QualitySettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InputSettings {
    pub assume_dpi: u32,
    pub max_megapixels: u32,
    /// PDF pages that are not one full-page image are rendered at this resolution (gray).
    pub pdf_render_dpi: u32,
    /// PDF pages with real text: keep the PDF's text ("keep", no OCR) or OCR them ("ocr").
    pub pdf_text: crate::pdf_input::TextMode,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CleanupSettings {
    /// Whiten dark scanner edges along the sides of the image.
    pub remove_borders: bool,
    /// Whiten punch holes in the margins.
    pub remove_punch_holes: bool,
    /// Binarise pages (Sauvola) for OCR and output: 1-bit pages stored as CCITT G4.
    pub binarize: bool,
    /// Remove tiny isolated specks.
    pub despeckle: bool,
    /// Detect blank pages (kept as evidence, not OCRed).
    pub blank_detection: bool,
    /// A page whose centre has less writing-sized ink than this share is blank.
    pub blank_max_ink: f32,
    /// Find and remove skew before OCR.
    pub deskew: bool,
    /// Leptonica skew confidence needed to rotate; below it the page is flagged.
    pub min_skew_confidence: f32,
    /// Detect the page orientation (0/90/180/270) with Tesseract and set it upright.
    pub orientation: bool,
    /// Tesseract orientation confidence needed to rotate; below it the page is flagged.
    pub min_orientation_confidence: f32,
}

impl Default for CleanupSettings {
    fn default() -> Self {
        CleanupSettings {
            remove_borders: true,
            remove_punch_holes: true,
            binarize: false,
            despeckle: true,
            blank_detection: true,
            blank_max_ink: 0.0002,
            deskew: true,
            min_skew_confidence: 6.0,
            orientation: true,
            min_orientation_confidence: 2.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OcrSettings {
    pub language: String,
    /// Pages whose mean word confidence is below this are flagged `low_ocr_confidence`.
    pub min_confidence: f32,
    /// Seconds Tesseract may take to read one page (fractions allowed); a page that
    /// takes longer fails at the OCR stage and its file goes to quarantine.
    pub timeout_s: f64,
    /// Tesseract variables set on every engine, as `tesseract -c name=value` would; a
    /// name this Tesseract does not know ends the run before any page is read.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tesseract: crate::ocr::Variables,
}

/// How the page stream is split into documents. Rules apply in page order; on one page
/// a cover sheet wins over a separator barcode, which wins over a patch code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SeparationSettings {
    /// Every input file starts a new document. false: the batch is one stream of pages in
    /// file order (scanners that write a file per page or per stack).
    pub new_file: bool,
    /// What a mailroom cover sheet does (`mailroom coversheet`).
    pub cover_sheet: SheetAction,
    /// What each Kodak patch code does.
    pub patch: PatchActions,
    /// Separator barcodes: a barcode whose whole text matches `pattern` acts as `action`.
    pub barcodes: Vec<BarcodeSeparator>,
    /// A blank page ends the document (the blank page is kept as evidence).
    pub blank_page_separates: bool,
    /// Start a new document after this many pages (separator sheets not counted); 0 = off.
    pub every_pages: u32,
    /// Flag documents with more pages than this ("probably a missing separator"); 0 = off.
    pub max_pages: u32,
}

impl Default for SeparationSettings {
    fn default() -> Self {
        SeparationSettings {
            new_file: true,
            cover_sheet: SheetAction::NewDocument,
            patch: PatchActions::default(),
            barcodes: vec![BarcodeSeparator {
                pattern: "PATCHT".into(),
                action: SheetAction::NewDocument,
            }],
            blank_page_separates: false,
            every_pages: 0,
            max_pages: 0,
        }
    }
}

/// What a separator sheet does to the page stream.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SheetAction {
    /// Start a new document; the sheet is taken out and kept as evidence.
    NewDocument,
    /// Start a new document with the sheet as its first page.
    NewDocumentKeep,
    /// Take the sheet out (kept as evidence) without starting a new document.
    Drop,
    /// Treat the sheet as an ordinary page.
    Ignore,
}

impl SheetAction {
    pub fn splits(self) -> bool {
        matches!(
            self,
            SheetAction::NewDocument | SheetAction::NewDocumentKeep
        )
    }

    pub fn removes_sheet(self) -> bool {
        matches!(self, SheetAction::NewDocument | SheetAction::Drop)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PatchActions {
    pub patch_1: SheetAction,
    pub patch_2: SheetAction,
    pub patch_3: SheetAction,
    pub patch_4: SheetAction,
    pub patch_6: SheetAction,
    pub patch_t: SheetAction,
}

impl Default for PatchActions {
    fn default() -> Self {
        let a = SheetAction::NewDocument;
        PatchActions {
            patch_1: a,
            patch_2: a,
            patch_3: a,
            patch_4: a,
            patch_6: a,
            patch_t: a,
        }
    }
}

impl PatchActions {
    pub fn get(&self, kind: crate::patch::PatchType) -> SheetAction {
        use crate::patch::PatchType::*;
        match kind {
            Patch1 => self.patch_1,
            Patch2 => self.patch_2,
            Patch3 => self.patch_3,
            Patch4 => self.patch_4,
            Patch6 => self.patch_6,
            PatchT => self.patch_t,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BarcodeSeparator {
    /// Regular expression that must match the barcode's whole text.
    pub pattern: String,
    #[serde(default = "new_document")]
    pub action: SheetAction,
}

fn new_document() -> SheetAction {
    SheetAction::NewDocument
}

impl BarcodeSeparator {
    /// The pattern, anchored to the whole barcode text.
    pub fn regex(&self) -> Result<regex::Regex> {
        regex::Regex::new(&format!("^(?:{})$", self.pattern)).with_context(|| {
            format!(
                "separation.barcodes: pattern {:?} is not a valid regular expression",
                self.pattern
            )
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSettings {
    pub jpeg_quality: u8,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            name: "default".into(),
            input: InputSettings::default(),
            cleanup: CleanupSettings::default(),
            ocr: OcrSettings::default(),
            separation: SeparationSettings::default(),
            routing: Default::default(),
            output: OutputSettings::default(),
            delivery: Default::default(),
            validate: Default::default(),
        }
    }
}

impl Default for InputSettings {
    fn default() -> Self {
        InputSettings {
            assume_dpi: 300,
            max_megapixels: 150,
            pdf_render_dpi: 300,
            pdf_text: crate::pdf_input::TextMode::Keep,
        }
    }
}

impl Default for OcrSettings {
    fn default() -> Self {
        OcrSettings {
            language: "deu".into(),
            min_confidence: 70.0,
            timeout_s: 120.0,
            tesseract: crate::ocr::Variables::new(),
        }
    }
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings { jpeg_quality: 75 }
    }
}

impl Profile {
    /// Reads and validates a profile file. Errors name the file and, for syntax errors and
    /// unknown keys, the line.
    pub fn load(path: &Path) -> Result<Profile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read profile {}", path.display()))?;
        Profile::parse(&text).with_context(|| format!("invalid profile {}", path.display()))
    }

    /// Parses profile text (syntax, unknown keys, types) without checking values: for
    /// `mailroom route --check`, which reports every finding instead of the first.
    pub fn parse_unchecked(text: &str) -> Result<Profile> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Parses and validates profile text.
    pub fn parse(text: &str) -> Result<Profile> {
        let profile: Profile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        profile.validate()?;
        Ok(profile)
    }

    fn validate(&self) -> Result<()> {
        if !(50..=2400).contains(&self.input.assume_dpi) {
            bail!(
                "input.assume_dpi = {} is out of range (50-2400)",
                self.input.assume_dpi
            );
        }
        if self.input.max_megapixels == 0 || self.input.max_megapixels > 1000 {
            bail!(
                "input.max_megapixels = {} is out of range (1-1000)",
                self.input.max_megapixels
            );
        }
        if !(72..=1200).contains(&self.input.pdf_render_dpi) {
            bail!(
                "input.pdf_render_dpi = {} is out of range (72-1200)",
                self.input.pdf_render_dpi
            );
        }
        let c = &self.cleanup;
        if !(0.0..0.05).contains(&c.blank_max_ink) {
            bail!(
                "cleanup.blank_max_ink = {} is out of range (0 to 0.05)",
                c.blank_max_ink
            );
        }
        if !(0.0..=100.0).contains(&c.min_skew_confidence)
            || !(0.0..=100.0).contains(&c.min_orientation_confidence)
        {
            bail!("cleanup.min_skew_confidence and cleanup.min_orientation_confidence must be within 0-100");
        }
        let lang = &self.ocr.language;
        let valid_lang = !lang.is_empty()
            && lang
                .split('+')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !valid_lang {
            bail!("ocr.language = {lang:?} is not a Tesseract language list such as \"deu\" or \"deu+eng\"");
        }
        if !(0.0..=100.0).contains(&self.ocr.min_confidence) {
            bail!(
                "ocr.min_confidence = {} is out of range (0-100)",
                self.ocr.min_confidence
            );
        }
        if !(0.001..=3600.0).contains(&self.ocr.timeout_s) {
            bail!(
                "ocr.timeout_s = {} is out of range (0.001-3600 seconds)",
                self.ocr.timeout_s
            );
        }
        for b in &self.separation.barcodes {
            b.regex()?;
        }
        crate::routing::rules::RuleSet::new(&self.routing)?;
        self.delivery.validate()?;
        self.validate
            .check()
            .map_err(|e| anyhow::anyhow!("validate: {e}"))?;
        if !(1..=100).contains(&self.output.jpeg_quality) {
            bail!(
                "output.jpeg_quality = {} is out of range (1-100)",
                self.output.jpeg_quality
            );
        }
        Ok(())
    }

    /// The PDF settings of a run.
    pub fn pdf_options(&self) -> crate::pdf_input::PdfOptions {
        crate::pdf_input::PdfOptions {
            render_dpi: self.input.pdf_render_dpi,
            text: self.input.pdf_text,
            allow_attachments: false,
        }
    }

    /// How long Tesseract may take to read one page.
    pub fn ocr_time_limit(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.ocr.timeout_s)
    }

    /// Largest accepted page in pixels.
    pub fn max_pixels(&self) -> u64 {
        u64::from(self.input.max_megapixels) * 1_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_default_profile_equals_builtin_defaults() {
        assert_eq!(
            Profile::parse(DEFAULT_PROFILE_TOML).unwrap(),
            Profile::default()
        );
    }

    #[test]
    fn unknown_key_is_rejected_with_its_line() {
        let err = Profile::parse("[ocr]\nlanguage = \"deu\"\nlangauge = \"eng\"\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("langauge"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(Profile::parse("[output]\njpeg_quality = 0\n").is_err());
        assert!(Profile::parse("[input]\nassume_dpi = 10\n").is_err());
        assert!(Profile::parse("[ocr]\nlanguage = \"deu; rm\"\n").is_err());
        // found with the profile fuzz target's round trip (fuzz/corpus/profile/
        // regression-ocr-min-confidence-nan.toml):
        // NaN passed, and every comparison with it is false
        for bad in ["nan", "-1", "100.5", "inf"] {
            let e = Profile::parse(&format!("[ocr]\nmin_confidence = {bad}\n")).unwrap_err();
            assert!(
                format!("{e:#}").contains("ocr.min_confidence"),
                "{bad}: {e:#}"
            );
        }
        for bad in ["0", "-1", "0.0001", "3601", "nan", "inf"] {
            let e = Profile::parse(&format!("[ocr]\ntimeout_s = {bad}\n")).unwrap_err();
            assert!(format!("{e:#}").contains("ocr.timeout_s"), "{bad}: {e:#}");
        }
    }

    #[test]
    fn partial_profile_keeps_other_defaults() {
        let p = Profile::parse("[ocr]\nlanguage = \"deu+eng\"\n").unwrap();
        assert_eq!(p.ocr.language, "deu+eng");
        assert_eq!(p.output.jpeg_quality, 75);
        assert_eq!(p.ocr.timeout_s, 120.0);
        let p = Profile::parse("[ocr]\ntimeout_s = 0.5\n").unwrap();
        assert_eq!(p.ocr_time_limit(), std::time::Duration::from_millis(500));
        let p = Profile::parse("[ocr]\ntimeout_s = 30\n").unwrap();
        assert_eq!(p.ocr_time_limit(), std::time::Duration::from_secs(30));
    }
}

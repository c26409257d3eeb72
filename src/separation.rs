//! Document separation: splits the batch's stream of pages into documents.
//!
//! The stream is every page of the batch in order (files sorted by path, then frames). A
//! [`Splitter`] walks it once, left to right, and decides per page from what the page
//! stages found on it (blank, patch code, barcodes) and the profile's `[separation]`
//! rules:
//!
//! 1. a mailroom **cover sheet** (its QR payload, see [`crate::coversheet`]) starts a
//!    document and gives it the unit, case reference and expected page count;
//! 2. a **separator barcode** (a barcode whose whole text matches a profile pattern);
//! 3. a **patch code**, with an action per type;
//! 4. otherwise an ordinary page: a **new file** (when `new_file`), a **blank page** (when
//!    `blank_page_separates`) or a **page count** (`every_pages`) may start a document.
//!
//! Separator sheets that are taken out go into the *next* document's removed pages (they
//! belong to it: the sheet was put in front of it), or, at the end of a batch, into a
//! document of their own that has evidence and no PDF. So every page of the stream lands
//! in exactly one segment, which the tests below prove for every rule.
//!
//! The splitter keeps only the open document, so it works on a stream of any length.

use serde::{Deserialize, Serialize};

use crate::barcode::Barcode;
use crate::config::{SeparationSettings, SheetAction};
use crate::coversheet::CoverSheet;
use crate::patch::PatchType;

/// What the splitter knows about one page of the stream.
#[derive(Debug, Clone, Copy)]
pub struct PageFacts<'a> {
    /// The first page of an input file.
    pub starts_file: bool,
    pub state: PageState<'a>,
}

#[derive(Debug, Clone, Copy)]
pub enum PageState<'a> {
    /// The page (or its whole file) could not be read: it cannot tell whether it was a
    /// separator, so it stays in the open document, which is then not delivered.
    Failed,
    /// Judged blank by cleanup.
    Blank,
    Content {
        patch: Option<PatchType>,
        barcodes: &'a [Barcode],
    },
}

/// Why a page was taken out of its document (kept as evidence).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// Judged blank by cleanup (see the page's `cleanup.ink_coverage`).
    Blank,
    /// A separator sheet (cover sheet, separator barcode or patch code) taken out.
    Separator,
}

/// Where a page of the stream went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A page of the document's PDF.
    Kept,
    /// Taken out, kept as evidence.
    Removed(RemovalReason),
}

/// What started a document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SplitCause {
    /// The first document of a stream without a separator in front.
    BatchStart,
    /// A new input file (`separation.new_file`).
    NewFile,
    /// A mailroom cover sheet.
    CoverSheet,
    /// A separator barcode.
    SeparatorBarcode { format: String, text: String },
    /// A Kodak patch code.
    PatchCode { patch: PatchType },
    /// A blank page (`separation.blank_page_separates`).
    BlankPage,
    /// The fixed page count was reached (`separation.every_pages`).
    PageCount { every: u32 },
}

/// Something about a document an operator must look at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "flag", rename_all = "snake_case")]
pub enum DocumentFlag {
    /// The cover sheet announced a page count other than the one scanned (RESISCAN
    /// completeness check): a page may be missing, or one from another letter mixed in.
    PageCountMismatch { expected: u32, scanned: usize },
    /// More pages than `separation.max_pages`: probably a separator sheet was missed.
    TooManyPages { pages: usize, max: u32 },
    /// A cover-sheet barcode was found but its contents are broken; the sheet separated
    /// all the same.
    CoverSheetUnreadable { reason: String },
    /// Two cover sheets in front of one document; the later one counts.
    TwoCoverSheets,
}

/// How a document came about: stored in its JSON and summarised in the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeparationRecord {
    pub started_by: SplitCause,
    /// The cover sheet in front of the document, as read.
    pub cover_sheet: Option<CoverSheet>,
    pub flags: Vec<DocumentFlag>,
}

/// A finished document: its pages (indices into the stream) and how it was split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub pages: Vec<(usize, Role)>,
    pub record: SeparationRecord,
}

impl Segment {
    fn new(started_by: SplitCause) -> Self {
        Segment {
            pages: Vec::new(),
            record: SeparationRecord {
                started_by,
                cover_sheet: None,
                flags: Vec::new(),
            },
        }
    }

    pub fn kept(&self) -> usize {
        self.pages.iter().filter(|(_, r)| *r == Role::Kept).count()
    }
}

/// The profile's rules, compiled.
pub struct Rules {
    settings: SeparationSettings,
    barcodes: Vec<(regex::Regex, SheetAction)>,
}

impl Rules {
    pub fn new(settings: &SeparationSettings) -> anyhow::Result<Rules> {
        let barcodes = settings
            .barcodes
            .iter()
            .map(|b| Ok((b.regex()?, b.action)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Rules {
            settings: settings.clone(),
            barcodes,
        })
    }
}

/// A separator sheet recognised on a page.
struct Sheet {
    action: SheetAction,
    cause: SplitCause,
    cover: Option<Result<CoverSheet, String>>,
}

impl Rules {
    /// The first rule that recognises the page as a separator sheet, by precedence.
    fn sheet(&self, patch: Option<PatchType>, barcodes: &[Barcode]) -> Option<Sheet> {
        let s = &self.settings;
        if s.cover_sheet != SheetAction::Ignore {
            if let Some(cover) = barcodes.iter().find_map(|b| CoverSheet::parse(&b.text)) {
                return Some(Sheet {
                    action: s.cover_sheet,
                    cause: SplitCause::CoverSheet,
                    cover: Some(cover),
                });
            }
        }
        for (re, action) in &self.barcodes {
            if *action == SheetAction::Ignore {
                continue;
            }
            if let Some(b) = barcodes.iter().find(|b| re.is_match(&b.text)) {
                return Some(Sheet {
                    action: *action,
                    cause: SplitCause::SeparatorBarcode {
                        format: b.format.clone(),
                        text: b.text.clone(),
                    },
                    cover: None,
                });
            }
        }
        let patch = patch?;
        let action = s.patch.get(patch);
        (action != SheetAction::Ignore).then_some(Sheet {
            action,
            cause: SplitCause::PatchCode { patch },
            cover: None,
        })
    }
}

/// Walks the page stream and hands out finished documents.
pub struct Splitter<'r> {
    rules: &'r Rules,
    open: Segment,
    /// Pages counted towards `every_pages` since the last split.
    counted: u32,
}

impl<'r> Splitter<'r> {
    pub fn new(rules: &'r Rules) -> Self {
        Splitter {
            rules,
            open: Segment::new(SplitCause::BatchStart),
            counted: 0,
        }
    }

    /// Takes the next page of the stream; returns a document when this page ended one.
    pub fn push(&mut self, index: usize, page: PageFacts) -> Option<Segment> {
        let s = &self.rules.settings;
        // A file boundary is hard: even a document of removed pages ends there.
        let mut finished = None;
        if page.starts_file && s.new_file {
            if self.open.pages.is_empty() {
                self.open.record.started_by = SplitCause::NewFile;
            } else {
                finished = Some(self.close_and_open(SplitCause::NewFile));
            }
        }
        let sheet = match page.state {
            PageState::Content { patch, barcodes } => self.rules.sheet(patch, barcodes),
            _ => None,
        };
        let Some(sheet) = sheet else {
            let blank = matches!(page.state, PageState::Blank);
            let cause = if blank && s.blank_page_separates {
                Some(SplitCause::BlankPage)
            } else if s.every_pages > 0 && self.counted >= s.every_pages {
                Some(SplitCause::PageCount {
                    every: s.every_pages,
                })
            } else {
                None
            };
            if let Some(cause) = cause {
                finished = finished.or(self.split(cause));
            }
            self.push_page(index, blank);
            return finished;
        };

        if sheet.action.splits() {
            finished = finished.or(self.split(sheet.cause));
        }
        match sheet.cover {
            Some(Ok(cover)) => {
                if self.open.record.cover_sheet.is_some() {
                    self.flag(DocumentFlag::TwoCoverSheets);
                }
                self.open.record.cover_sheet = Some(cover);
            }
            Some(Err(reason)) => self.flag(DocumentFlag::CoverSheetUnreadable { reason }),
            None => {}
        }
        if sheet.action.removes_sheet() {
            self.open
                .pages
                .push((index, Role::Removed(RemovalReason::Separator)));
        } else {
            self.push_page(index, false);
        }
        finished
    }

    fn push_page(&mut self, index: usize, blank: bool) {
        self.counted += 1;
        let role = if blank {
            Role::Removed(RemovalReason::Blank)
        } else {
            Role::Kept
        };
        self.open.pages.push((index, role));
    }

    /// The end of the stream: the open document, if it holds any page.
    pub fn finish(mut self) -> Option<Segment> {
        (!self.open.pages.is_empty()).then(|| self.close())
    }

    /// Starts a new document. The open one is finished only when it has a kept page;
    /// otherwise it holds only removed pages (separator sheets, blank backs) that belong
    /// in front of the new document, which takes them over with the newest cause.
    fn split(&mut self, cause: SplitCause) -> Option<Segment> {
        self.counted = 0;
        if self.open.kept() == 0 {
            self.open.record.started_by = cause;
            return None;
        }
        Some(self.close_and_open(cause))
    }

    fn close_and_open(&mut self, cause: SplitCause) -> Segment {
        self.counted = 0;
        let done = self.close();
        self.open = Segment::new(cause);
        done
    }

    fn flag(&mut self, flag: DocumentFlag) {
        self.open.record.flags.push(flag);
    }

    /// Finishes the open document with its checks.
    fn close(&mut self) -> Segment {
        let mut done = std::mem::replace(&mut self.open, Segment::new(SplitCause::BatchStart));
        let kept = done.kept();
        let s = &self.rules.settings;
        if let Some(expected) = done.record.cover_sheet.as_ref().and_then(|c| c.pages) {
            if kept != expected as usize {
                done.record.flags.push(DocumentFlag::PageCountMismatch {
                    expected,
                    scanned: kept,
                });
            }
        }
        if s.max_pages > 0 && kept > s.max_pages as usize {
            done.record.flags.push(DocumentFlag::TooManyPages {
                pages: kept,
                max: s.max_pages,
            });
        }
        done
    }
}

/// Splits a whole stream (for callers that hold it all, and for tests).
pub fn split_all(rules: &Rules, pages: &[PageFacts]) -> Vec<Segment> {
    let mut splitter = Splitter::new(rules);
    let mut out: Vec<Segment> = pages
        .iter()
        .enumerate()
        .filter_map(|(i, p)| splitter.push(i, *p))
        .collect();
    out.extend(splitter.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BarcodeSeparator, Profile};

    fn code(format: &str, text: &str) -> Barcode {
        Barcode {
            format: format.into(),
            text: text.into(),
            corners: [(0, 0); 4],
            orientation: 0,
        }
    }

    /// A page written as a short token: `p` page, `b` blank, `x` failed, `P2`/`PT`... a
    /// patch sheet, `C<payload fields>` a cover sheet, `S` a PATCHT barcode sheet, `L` a
    /// page with an unrelated barcode; a leading `|` marks the first page of a file.
    fn stream(tokens: &str) -> (Vec<Vec<Barcode>>, Vec<(bool, &str)>) {
        let pages: Vec<(bool, &str)> = tokens
            .split_whitespace()
            .map(|t| match t.strip_prefix('|') {
                Some(rest) => (true, rest),
                None => (false, t),
            })
            .collect();
        let codes = pages
            .iter()
            .map(|(_, t)| match t.chars().next() {
                Some('C') => vec![code(
                    "QRCode",
                    &format!("MAILROOM-COVER/1|unit=61{}", &t[1..]),
                )],
                Some('S') => vec![code("Code39", "PATCHT")],
                Some('L') => vec![code("Code128", "JJD0012345678901234")],
                _ => vec![],
            })
            .collect();
        (codes, pages)
    }

    fn facts<'a>(codes: &'a [Vec<Barcode>], pages: &[(bool, &str)]) -> Vec<PageFacts<'a>> {
        pages
            .iter()
            .zip(codes)
            .map(|(&(starts_file, t), codes)| PageFacts {
                starts_file,
                state: match t {
                    "b" => PageState::Blank,
                    "x" => PageState::Failed,
                    _ => PageState::Content {
                        patch: match t {
                            "P1" => Some(PatchType::Patch1),
                            "P2" => Some(PatchType::Patch2),
                            "PT" => Some(PatchType::PatchT),
                            _ if t.starts_with('C') => Some(PatchType::Patch2),
                            _ => None,
                        },
                        barcodes: codes,
                    },
                },
            })
            .collect()
    }

    /// Splits and writes the result back as tokens: documents separated by ` / `, kept
    /// pages as their index, removed ones as `-i` (blank) or `~i` (separator).
    fn split_with(settings: SeparationSettings, tokens: &str) -> (String, Vec<Segment>) {
        let rules = Rules::new(&settings).unwrap();
        let (codes, pages) = stream(tokens);
        let segs = split_all(&rules, &facts(&codes, &pages));
        let mut seen: Vec<usize> = segs
            .iter()
            .flat_map(|s| s.pages.iter().map(|p| p.0))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            (0..pages.len()).collect::<Vec<_>>(),
            "every page exactly once"
        );
        let text = segs
            .iter()
            .map(|s| {
                s.pages
                    .iter()
                    .map(|(i, r)| match r {
                        Role::Kept => format!("{i}"),
                        Role::Removed(RemovalReason::Blank) => format!("-{i}"),
                        Role::Removed(RemovalReason::Separator) => format!("~{i}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join(" / ");
        (text, segs)
    }

    fn stream_settings() -> SeparationSettings {
        SeparationSettings {
            new_file: false,
            ..SeparationSettings::default()
        }
    }

    #[test]
    fn one_file_one_document_by_default() {
        let (t, segs) = split_with(SeparationSettings::default(), "|p b p |p |b |p p");
        assert_eq!(
            t, "0 -1 2 / 3 / -4 / 5 6",
            "a blank file is a document of its own"
        );
        assert_eq!(segs[1].record.started_by, SplitCause::NewFile);
    }

    #[test]
    fn separator_sheets_start_documents_and_are_kept_as_evidence_of_the_next() {
        let (t, segs) = split_with(stream_settings(), "|p p PT b |p S |p L p C|pages=1 p");
        assert_eq!(t, "0 1 / ~2 -3 4 / ~5 6 7 8 / ~9 10");
        assert_eq!(segs[0].record.started_by, SplitCause::BatchStart);
        assert_eq!(
            segs[1].record.started_by,
            SplitCause::PatchCode {
                patch: PatchType::PatchT
            }
        );
        assert!(matches!(
            segs[2].record.started_by,
            SplitCause::SeparatorBarcode { ref text, .. } if text == "PATCHT"
        ));
        assert_eq!(segs[3].record.started_by, SplitCause::CoverSheet);
        assert_eq!(segs[3].record.cover_sheet.as_ref().unwrap().unit, "61");
        assert!(segs[3].record.flags.is_empty());
    }

    #[test]
    fn a_cover_sheet_wins_over_its_own_patch_code_and_a_separator_in_front() {
        let (t, segs) = split_with(stream_settings(), "p S b C|case=A%2F1 p");
        assert_eq!(t, "0 / ~1 -2 ~3 4");
        assert_eq!(segs[1].record.started_by, SplitCause::CoverSheet);
        assert_eq!(
            segs[1].record.cover_sheet.as_ref().unwrap().case.as_deref(),
            Some("A/1")
        );
    }

    #[test]
    fn the_cover_sheet_page_count_is_checked() {
        let (_, segs) = split_with(stream_settings(), "C|pages=3 p b p C|pages=1 p");
        assert_eq!(
            segs[0].record.flags,
            vec![DocumentFlag::PageCountMismatch {
                expected: 3,
                scanned: 2
            }]
        );
        assert!(segs[1].record.flags.is_empty());
    }

    #[test]
    fn broken_and_doubled_cover_sheets_are_flagged_but_still_separate() {
        let (t, segs) = split_with(stream_settings(), "p C|pages=x p C C p");
        assert_eq!(t, "0 / ~1 2 / ~3 ~4 5");
        assert!(matches!(
            segs[1].record.flags[0],
            DocumentFlag::CoverSheetUnreadable { .. }
        ));
        assert_eq!(segs[2].record.flags, vec![DocumentFlag::TwoCoverSheets]);
    }

    #[test]
    fn patch_actions_keep_drop_and_ignore() {
        let mut s = stream_settings();
        s.patch.patch_2 = SheetAction::NewDocumentKeep;
        s.patch.patch_1 = SheetAction::Drop;
        s.patch.patch_t = SheetAction::Ignore;
        let (t, segs) = split_with(s, "p P2 p P1 p PT p");
        assert_eq!(t, "0 / 1 2 ~3 4 5 6");
        assert_eq!(segs[1].kept(), 5);
    }

    #[test]
    fn unrelated_barcodes_do_not_split_and_patterns_match_whole_text() {
        let mut s = stream_settings();
        s.barcodes = vec![BarcodeSeparator {
            pattern: "JJD\\d{4}".into(),
            action: SheetAction::NewDocument,
        }];
        let (t, _) = split_with(s, "p L p S p");
        assert_eq!(
            t, "0 1 2 3 4",
            "JJD0012345678901234 is longer than the pattern"
        );
    }

    #[test]
    fn trailing_separators_become_an_evidence_only_document() {
        let (t, segs) = split_with(stream_settings(), "p p PT b");
        assert_eq!(t, "0 1 / ~2 -3");
        assert_eq!(segs[1].kept(), 0);
    }

    #[test]
    fn blank_pages_can_separate() {
        let mut s = stream_settings();
        s.blank_page_separates = true;
        let (t, segs) = split_with(s, "b p p b b p b");
        assert_eq!(t, "-0 1 2 / -3 -4 5 / -6");
        assert_eq!(segs[1].record.started_by, SplitCause::BlankPage);
    }

    #[test]
    fn fixed_page_count_and_maximum() {
        let mut s = stream_settings();
        s.every_pages = 2;
        s.max_pages = 1;
        let (t, segs) = split_with(s, "p p p PT p p p");
        assert_eq!(t, "0 1 / 2 / ~3 4 5 / 6");
        assert_eq!(segs[0].record.started_by, SplitCause::BatchStart);
        assert_eq!(
            segs[1].record.started_by,
            SplitCause::PageCount { every: 2 }
        );
        assert_eq!(
            segs[0].record.flags,
            vec![DocumentFlag::TooManyPages { pages: 2, max: 1 }]
        );
    }

    #[test]
    fn a_failed_page_stays_in_its_document() {
        let (t, _) = split_with(stream_settings(), "p x p PT p");
        assert_eq!(t, "0 1 2 / ~3 4");
    }

    #[test]
    fn the_default_profile_rules_compile() {
        Rules::new(&Profile::default().separation).unwrap();
    }
}

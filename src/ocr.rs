//! OCR with Tesseract (through leptess): words with their boxes and confidences, grouped
//! into lines in Tesseract's reading order.
//!
//! One engine per worker thread: engines are not `Sync` and cost 80-200 ms to load, so the
//! `EnginePool` lends each worker its own and keeps it for the next page. Tesseract's own
//! OpenMP threads must be off (`OMP_THREAD_LIMIT=1`, set by `main` before the process
//! starts); otherwise they fight the pipeline's workers for the cores.

use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use leptess::capi;

use crate::leptonica::Pix;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum OcrError {
    #[error("cannot start Tesseract with language {lang:?}: {detail} (is tesseract-ocr-{lang} installed? see scripts/setup.sh)")]
    Init { lang: String, detail: String },
    #[error("Tesseract could not take the page image: {0}")]
    Image(String),
    #[error("Tesseract failed to recognise the page")]
    Recognize,
    /// Recognition was cancelled at the time limit (`ocr.timeout_s`).
    #[error("OCR took longer than the profile's limit of {} s (ocr.timeout_s)", .limit.as_secs_f64())]
    Timeout { limit: Duration },
    #[error("Tesseract returned text that is not UTF-8")]
    Utf8,
    /// A variable of `ocr.tesseract` that this Tesseract does not have.
    #[error("Tesseract has no variable {name:?} (ocr.tesseract in the profile; `tesseract --print-parameters` lists them)")]
    UnknownVariable { name: String },
}

/// Tesseract variables set on every engine, as `tesseract -c name=value` would
/// (`ocr.tesseract` in the profile).
pub type Variables = std::collections::BTreeMap<String, String>;

/// A word box in pixels of the page image: left, top, width, height.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct PxBox {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Largest coordinate or size a box takes from Tesseract's TSV (2^30 pixels, far beyond
/// any page): box arithmetic on such values cannot overflow.
pub const MAX_COORD: u32 = 1 << 30;

impl PxBox {
    pub fn right(&self) -> u32 {
        self.x.saturating_add(self.w)
    }
    pub fn bottom(&self) -> u32 {
        self.y.saturating_add(self.h)
    }
    /// The smallest box holding both.
    pub fn union(&self, o: &PxBox) -> PxBox {
        let x = self.x.min(o.x);
        let y = self.y.min(o.y);
        PxBox {
            x,
            y,
            w: self.right().max(o.right()) - x,
            h: self.bottom().max(o.bottom()) - y,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Word {
    pub text: String,
    #[serde(rename = "box")]
    pub bbox: PxBox,
    /// Tesseract's confidence, 0-100.
    pub conf: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Line {
    #[serde(rename = "box")]
    pub bbox: PxBox,
    pub words: Vec<Word>,
}

/// The recognised text of one page.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PageText {
    pub lines: Vec<Line>,
}

impl PageText {
    /// Plain text: words joined by spaces, lines by newlines, in reading order.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| {
                l.words
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn word_count(&self) -> usize {
        self.lines.iter().map(|l| l.words.len()).sum()
    }

    /// Mean word confidence (0-100), `None` for a page without words.
    pub fn mean_confidence(&self) -> Option<f32> {
        let n = self.word_count();
        if n == 0 {
            return None;
        }
        let sum: f32 = self
            .lines
            .iter()
            .flat_map(|l| &l.words)
            .map(|w| w.conf)
            .sum();
        Some(sum / n as f32)
    }

    /// Builds the page text from Tesseract's TSV output (level 5 rows are words; a change
    /// of block, paragraph or line number starts a new line).
    pub fn from_tsv(tsv: &str) -> PageText {
        let mut lines: Vec<Line> = Vec::new();
        let mut current_key = None;
        for row in tsv.lines() {
            let cols: Vec<&str> = row.splitn(12, '\t').collect();
            if cols.len() < 12 || cols[0] != "5" {
                continue;
            }
            let text = cols[11].trim();
            if text.is_empty() {
                continue;
            }
            let num = |i: usize| {
                let v = cols[i].trim().parse::<i64>().unwrap_or(0);
                v.clamp(0, i64::from(MAX_COORD)) as u32
            };
            let bbox = PxBox {
                x: num(6),
                y: num(7),
                w: num(8),
                h: num(9),
            };
            let conf = cols[10]
                .trim()
                .parse::<f32>()
                .unwrap_or(0.0)
                .clamp(0.0, 100.0);
            let key = (cols[2], cols[3], cols[4]);
            let word = Word {
                text: text.to_string(),
                bbox,
                conf,
            };
            match lines.last_mut() {
                Some(line) if current_key == Some(key) => {
                    line.bbox = line.bbox.union(&bbox);
                    line.words.push(word);
                }
                _ => {
                    lines.push(Line {
                        bbox,
                        words: vec![word],
                    });
                    current_key = Some(key);
                }
            }
        }
        PageText { lines }
    }
}

/// An owned Tesseract handle (C API); ended and deleted on drop.
struct Api {
    raw: *mut capi::TessBaseAPI,
}

// A TessBaseAPI may move between threads; it is only ever used by one at a time (`&mut`).
unsafe impl Send for Api {}

impl Drop for Api {
    fn drop(&mut self) {
        unsafe {
            capi::TessBaseAPIEnd(self.raw);
            capi::TessBaseAPIDelete(self.raw);
        }
    }
}

impl Api {
    fn init(lang: &str) -> Result<Api, OcrError> {
        let init_err = |detail: &str| OcrError::Init {
            lang: lang.to_string(),
            detail: detail.to_string(),
        };
        let c_lang = CString::new(lang).map_err(|_| init_err("language contains a NUL byte"))?;
        let raw = unsafe { capi::TessBaseAPICreate() };
        if raw.is_null() {
            return Err(init_err("out of memory"));
        }
        let api = Api { raw };
        if unsafe { capi::TessBaseAPIInit3(raw, std::ptr::null(), c_lang.as_ptr()) } != 0 {
            return Err(init_err("model not found"));
        }
        // Tesseract's own diagnostics ("Empty page!!", resolution estimates) would mix
        // into the operator's terminal; mailroom reports per page instead.
        api.set("debug_file", "/dev/null");
        Ok(api)
    }

    /// Sets a variable; false when Tesseract has none of that name.
    fn set(&self, name: &str, value: &str) -> bool {
        match (CString::new(name), CString::new(value)) {
            (Ok(n), Ok(v)) => unsafe {
                capi::TessBaseAPISetVariable(self.raw, n.as_ptr(), v.as_ptr()) != 0
            },
            _ => false,
        }
    }

    fn set_image(&mut self, pix: &Pix, dpi: u32) {
        unsafe {
            capi::TessBaseAPISetImage2(self.raw, pix.as_ptr());
            capi::TessBaseAPISetSourceResolution(self.raw, dpi as i32);
        }
    }
}

/// The page orientation found by Tesseract's orientation detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Orientation {
    /// Clockwise rotation (0, 90, 180, 270) that turns the page upright.
    pub rotate_cw: u32,
    /// Tesseract's confidence; about 2 and above is a usable answer, 10 and above clear.
    pub confidence: f32,
}

/// Tesseract's orientation detection (`osd`), loaded on first use and shared by the
/// engines of a pool: its legacy classifier takes about 34 MB, and few pages need it
/// (Leptonica decides clear cases), so one copy serves every worker.
#[derive(Clone, Default)]
struct SharedOsd(Arc<Mutex<Option<Api>>>);

impl SharedOsd {
    fn lock(&self) -> MutexGuard<'_, Option<Api>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One worker's Tesseract engine: text recognition in the profile's language, and
/// orientation detection (shared with the other engines of its pool).
pub struct Engine {
    ocr: Api,
    osd: SharedOsd,
    /// Recognition of one page is cancelled after this long (`ocr.timeout_s`).
    time_limit: Option<Duration>,
}

/// When a recognition must stop, and whether it was stopped: read by [`cancel_at_deadline`]
/// on Tesseract's thread (the one that called `recognize`).
struct Deadline {
    /// None: beyond what the clock can count, so never.
    at: Option<Instant>,
    fired: Cell<bool>,
}

/// Tesseract's progress monitor (`ETEXT_DESC`) with a cancel callback that stops the
/// recognition at a deadline. Tesseract asks it before every word of each recognition
/// pass and, when told to stop, marks the remaining words as unrecognised and returns.
struct Monitor {
    raw: *mut capi::ETEXT_DESC,
    // boxed: Tesseract holds a pointer to it until the monitor is deleted
    deadline: Box<Deadline>,
}

impl Monitor {
    fn new(limit: Duration) -> Result<Monitor, OcrError> {
        let raw = unsafe { capi::TessMonitorCreate() };
        if raw.is_null() {
            return Err(OcrError::Recognize);
        }
        let deadline = Box::new(Deadline {
            at: Instant::now().checked_add(limit),
            fired: Cell::new(false),
        });
        unsafe {
            capi::TessMonitorSetCancelThis(raw, (&*deadline as *const Deadline).cast_mut().cast());
            capi::TessMonitorSetCancelFunc(raw, Some(cancel_at_deadline));
        }
        Ok(Monitor { raw, deadline })
    }

    fn fired(&self) -> bool {
        self.deadline.fired.get()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        unsafe { capi::TessMonitorDelete(self.raw) };
    }
}

/// Tesseract's cancel callback: true (stop) once the deadline has passed.
unsafe extern "C" fn cancel_at_deadline(this: *mut std::ffi::c_void, _words: i32) -> bool {
    // SAFETY: `this` is the `Deadline` of a `Monitor` that outlives the recognition.
    let deadline = unsafe { &*(this as *const Deadline) };
    let late = deadline.at.is_some_and(|at| Instant::now() >= at);
    if late {
        deadline.fired.set(true);
    }
    late
}

impl Engine {
    pub fn new(lang: &str) -> Result<Engine, OcrError> {
        Engine::with_variables(lang, &Variables::new())
    }

    /// An engine with Tesseract variables set (see [`Variables`]).
    pub fn with_variables(lang: &str, variables: &Variables) -> Result<Engine, OcrError> {
        let ocr = Api::init(lang)?;
        // The C API defaults to one uniform text block; a letter has an address field, a
        // date on the right and paragraphs, so use the full layout analysis (as the
        // tesseract command does). A profile may still choose another mode with the
        // variable `tessedit_pageseg_mode`, set below.
        unsafe { capi::TessBaseAPISetPageSegMode(ocr.raw, capi::TessPageSegMode_PSM_AUTO) };
        for (name, value) in variables {
            if !ocr.set(name, value) {
                return Err(OcrError::UnknownVariable { name: name.clone() });
            }
        }
        Ok(Engine {
            ocr,
            osd: SharedOsd::default(),
            time_limit: None,
        })
    }

    /// Cancels the recognition of a page after `limit` (None: no limit).
    pub fn set_time_limit(&mut self, limit: Option<Duration>) {
        self.time_limit = limit;
    }

    /// Recognises a page (8-bit gray Pix) at the given resolution. With a time limit, a
    /// page that takes longer is given up with [`OcrError::Timeout`]; the engine stays
    /// usable for the next page.
    pub fn recognize(&mut self, pix: &Pix, dpi: u32) -> Result<PageText, OcrError> {
        self.ocr.set_image(pix, dpi);
        // The clock starts here: layout analysis counts towards the limit, but only
        // the recognition of words can be cancelled (Tesseract asks before each word).
        let monitor = self.time_limit.map(Monitor::new).transpose()?;
        let raw_monitor = monitor.as_ref().map_or(std::ptr::null_mut(), |m| m.raw);
        let status = unsafe { capi::TessBaseAPIRecognize(self.ocr.raw, raw_monitor) };
        if let (Some(m), Some(limit)) = (&monitor, self.time_limit) {
            if m.fired() {
                unsafe { capi::TessBaseAPIClear(self.ocr.raw) };
                return Err(OcrError::Timeout { limit });
            }
        }
        drop(monitor);
        if status != 0 {
            unsafe { capi::TessBaseAPIClear(self.ocr.raw) };
            return Err(OcrError::Recognize);
        }
        let tsv = unsafe {
            let p = capi::TessBaseAPIGetTsvText(self.ocr.raw, 0);
            if p.is_null() {
                return Err(OcrError::Recognize);
            }
            let s = CStr::from_ptr(p).to_str().map(str::to_owned);
            capi::TessDeleteText(p);
            s.map_err(|_| OcrError::Utf8)?
        };
        unsafe { capi::TessBaseAPIClear(self.ocr.raw) };
        Ok(PageText::from_tsv(&tsv))
    }

    /// Detects the orientation of a page; `None` when Tesseract finds too little text.
    pub fn detect_orientation(
        &mut self,
        pix: &Pix,
        dpi: u32,
    ) -> Result<Option<Orientation>, OcrError> {
        let mut osd = self.osd.lock();
        if osd.is_none() {
            let api = Api::init("osd")?;
            unsafe { capi::TessBaseAPISetPageSegMode(api.raw, capi::TessPageSegMode_PSM_OSD_ONLY) };
            *osd = Some(api);
        }
        let Some(api) = osd.as_mut() else {
            return Ok(None);
        };
        api.set_image(pix, dpi);
        let (mut deg, mut conf, mut script, mut script_conf) = (0i32, 0f32, std::ptr::null(), 0f32);
        let ok = unsafe {
            capi::TessBaseAPIDetectOrientationScript(
                api.raw,
                &mut deg,
                &mut conf,
                &mut script,
                &mut script_conf,
            )
        };
        unsafe { capi::TessBaseAPIClear(api.raw) };
        if ok == 0 {
            return Ok(None);
        }
        // Tesseract reports how far the scanned page is turned clockwise; turning it back
        // (counter-clockwise by that angle) sets it upright. Checked on pages turned by
        // 90, 180 and 270 degrees (tests/cli.rs).
        Ok(Some(Orientation {
            rotate_cw: ((360 - deg.rem_euclid(360)) % 360) as u32,
            confidence: conf,
        }))
    }
}

/// Lends engines to worker threads; creates one the first time a worker asks and none
/// beyond the number of workers that ask at once.
pub struct EnginePool {
    lang: String,
    time_limit: Option<Duration>,
    variables: Variables,
    idle: Mutex<Vec<Engine>>,
    osd: SharedOsd,
}

impl EnginePool {
    /// Engines for `lang` whose recognition of a page stops after `time_limit`.
    pub fn new(lang: &str, time_limit: Option<Duration>) -> EnginePool {
        EnginePool {
            lang: lang.to_string(),
            time_limit,
            variables: Variables::new(),
            idle: Mutex::new(Vec::new()),
            osd: SharedOsd::default(),
        }
    }

    /// The pool's engines get these Tesseract variables.
    pub fn with_variables(mut self, variables: &Variables) -> EnginePool {
        self.variables = variables.clone();
        self
    }

    fn engine(&self) -> Result<Engine, OcrError> {
        let mut engine = Engine::with_variables(&self.lang, &self.variables)?;
        engine.set_time_limit(self.time_limit);
        engine.osd = self.osd.clone();
        Ok(engine)
    }

    /// Loads one engine now, so that a missing language fails the run at once instead
    /// of quarantining every page.
    pub fn warm_up(&self) -> Result<(), OcrError> {
        let engine = self.engine()?;
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(engine);
        Ok(())
    }

    pub fn with_engine<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> Result<R, OcrError> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut engine = match taken {
            Some(e) => e,
            None => self.engine()?,
        };
        let r = f(&mut engine);
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(engine);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSV: &str = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext
1\t1\t0\t0\t0\t0\t0\t0\t2480\t3508\t-1\t
4\t1\t1\t1\t1\t0\t100\t200\t500\t40\t-1\t
5\t1\t1\t1\t1\t1\t100\t200\t200\t40\t96.5\tSehr
5\t1\t1\t1\t1\t2\t320\t205\t280\t35\t91.0\tgeehrte
5\t1\t1\t1\t2\t1\t100\t260\t150\t40\t80\tDamen
5\t1\t2\t1\t1\t1\t100\t400\t150\t40\t70\tGrüße
";

    #[test]
    fn tsv_words_group_into_lines_in_order() {
        let t = PageText::from_tsv(TSV);
        assert_eq!(t.lines.len(), 3);
        assert_eq!(t.text(), "Sehr geehrte\nDamen\nGrüße");
        assert_eq!(
            t.lines[0].bbox,
            PxBox {
                x: 100,
                y: 200,
                w: 500,
                h: 40
            }
        );
        assert_eq!(t.word_count(), 4);
        let mean = t.mean_confidence().unwrap();
        assert!((mean - 84.375).abs() < 1e-3, "{mean}");
    }

    /// A generated letter page as the pipeline hands it to OCR.
    fn letter_page() -> (Pix, u32) {
        use crate::lab::generate::{generate, GenerateSpec};
        let dir = tempfile::tempdir().unwrap();
        let spec = GenerateSpec {
            seed: 7,
            pages: 2,
            stream: false,
        };
        let truth = generate(&spec, dir.path()).expect("generator");
        let p = truth
            .pages
            .iter()
            .find(|p| p.kind == crate::lab::truth::PageKind::Letter)
            .expect("a letter page");
        let data = std::fs::read(dir.path().join(&p.file)).unwrap();
        let format = crate::ingest::Format::sniff(&data).unwrap();
        let limits = crate::ingest::Limits {
            max_pixels: 100_000_000,
            assume_dpi: 300,
        };
        let pixels =
            crate::ingest::decode_frame_bytes(&data, format, p.frame as usize, limits).unwrap();
        (Pix::from_gray(&pixels.to_gray()).unwrap(), 300)
    }

    #[test]
    fn a_page_over_the_time_limit_is_given_up_and_the_engine_reads_on() {
        let (pix, dpi) = letter_page();
        let mut engine = Engine::new("deu").expect("Tesseract with deu (scripts/setup.sh)");
        // Far below what the layout analysis alone takes: the first word is cancelled.
        let limit = Duration::from_micros(1);
        engine.set_time_limit(Some(limit));
        match engine.recognize(&pix, dpi) {
            Err(e @ OcrError::Timeout { .. }) => assert_eq!(
                e.to_string(),
                "OCR took longer than the profile's limit of 0.000001 s (ocr.timeout_s)"
            ),
            other => panic!("expected a timeout, got {other:?}"),
        }
        // The same engine, with the default limit, reads the page in full, exactly as a
        // fresh engine without any limit does.
        engine.set_time_limit(Some(Duration::from_secs(120)));
        let text = engine.recognize(&pix, dpi).expect("no timeout at 120 s");
        assert!(text.word_count() > 30, "{}", text.word_count());
        let mut fresh = Engine::new("deu").unwrap();
        let unlimited = fresh.recognize(&pix, dpi).unwrap();
        assert_eq!(text, unlimited);
    }

    #[test]
    fn the_engines_of_a_pool_share_one_orientation_detector() {
        let (pix, dpi) = letter_page();
        let pool = EnginePool::new("deu", None);
        pool.with_engine(|first| {
            pool.with_engine(|second| {
                assert!(Arc::ptr_eq(&first.osd.0, &second.osd.0));
                assert!(first.osd.lock().is_none(), "loaded on first use only");
                let found = first.detect_orientation(&pix, dpi).unwrap().unwrap();
                assert_eq!(found.rotate_cw, 0, "{found:?}");
                assert!(second.osd.lock().is_some(), "the second engine has it too");
                assert_eq!(second.detect_orientation(&pix, dpi).unwrap(), Some(found));
            })
            .unwrap();
        })
        .unwrap();
        // an engine of its own has its own
        let alone = Engine::new("deu").unwrap();
        pool.with_engine(|e| assert!(!Arc::ptr_eq(&alone.osd.0, &e.osd.0)))
            .unwrap();
    }

    #[test]
    fn timeout_message_names_the_profile_setting_in_seconds() {
        let e = OcrError::Timeout {
            limit: Duration::from_secs(120),
        };
        assert_eq!(
            e.to_string(),
            "OCR took longer than the profile's limit of 120 s (ocr.timeout_s)"
        );
        let e = OcrError::Timeout {
            limit: Duration::from_secs_f64(0.25),
        };
        assert!(e.to_string().contains("limit of 0.25 s"), "{e}");
    }

    /// Found by the barcode_payload fuzz target (fuzz/corpus/barcode_payload/
    /// regression-tsv-huge-box*): numbers beyond u32 were truncated, and box sums and
    /// doubles overflowed.
    #[test]
    fn tsv_boxes_are_clamped_to_sane_coordinates() {
        let tsv = "5\t1\t1\t1\t1\t1\t-5\t33333333335\t4294967295\t40\t90\tStadt\n\
                   5\t1\t1\t1\t1\t2\t4294967290\t10\t99999999999999999999\t40\t90\tAmt\n";
        let t = PageText::from_tsv(tsv);
        let a = t.lines[0].words[0].bbox;
        assert_eq!((a.x, a.y, a.w, a.h), (0, MAX_COORD, MAX_COORD, 40));
        // not a number (beyond i64): 0, as for any unreadable field
        let b = t.lines[0].words[1].bbox;
        assert_eq!((b.x, b.y, b.w, b.h), (MAX_COORD, 10, 0, 40));
        assert_eq!(t.lines[0].bbox.right(), MAX_COORD);
        let huge = PxBox {
            x: u32::MAX,
            y: u32::MAX,
            w: 5,
            h: 5,
        };
        assert_eq!((huge.right(), huge.bottom()), (u32::MAX, u32::MAX));
    }

    #[test]
    fn empty_page_has_no_confidence() {
        assert_eq!(PageText::default().mean_confidence(), None);
    }

    #[test]
    fn tesseract_variables_are_set_and_unknown_names_refused() {
        let mut known = Variables::new();
        known.insert("tessedit_do_invert".into(), "0".into());
        Engine::with_variables("deu", &known).expect("a variable Tesseract has");
        let mut unknown = Variables::new();
        unknown.insert("tessedit_no_such_thing".into(), "1".into());
        let e = Engine::with_variables("deu", &unknown).err().unwrap();
        assert!(
            e.to_string()
                .contains("Tesseract has no variable \"tessedit_no_such_thing\""),
            "{e}"
        );
    }
}

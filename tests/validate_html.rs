//! The HTML report of `mailroom validate` in a real browser: headless Chromium (Debian's
//! `chromium`, installed by scripts/setup.sh) renders a sample report offline, takes a
//! screenshot and dumps the DOM. The page must render (a screenshot of the window's size
//! with text on it), hold the decision and the embedded thumbnail, and make Chromium log
//! no error or console message about it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use image::{GrayImage, Luma};
use mailroom::model::Pixels;
use mailroom::validate::quality::thumbnail_data_uri;
use mailroom::validate::{
    html, Decision, Finding, FindingKind, HashSummary, LotSummary, PageRef, SamplingSummary,
    ValidationReport,
};

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 1600;

/// A scanned page as a contractor might deliver it: skewed lines of "text" and a black
/// band along the left edge.
fn failed_page() -> Pixels {
    let (w, h) = (1240u32, 1754u32);
    let slope = 3.5f32.to_radians().tan();
    let mut img = GrayImage::from_pixel(w, h, Luma([238]));
    for line in 0..40u32 {
        let top = 260.0 + line as f32 * 30.0;
        let length = if line % 7 == 6 { 500 } else { 960 };
        for x in 150..150 + length {
            let y0 = top - (x as f32 - 150.0) * slope;
            for dy in 0..12 {
                let y = y0 as i32 + dy;
                if (0..h as i32).contains(&y) && (x / 9) % 6 != 0 {
                    img.put_pixel(x, y as u32, Luma([40]));
                }
            }
        }
    }
    for y in 0..h {
        for x in 0..70 {
            img.put_pixel(x, y, Luma([15]));
        }
    }
    Pixels::Gray(img)
}

fn sample_report() -> ValidationReport {
    let file = "data/akte_0815 <script>alert(1)</script>.tif";
    let findings = vec![
        Finding::page(
            FindingKind::Skewed,
            file,
            3,
            "skewed by 3.5° (counter-clockwise), tolerance 1.0° (Leptonica confidence 21)",
        ),
        Finding::page(
            FindingKind::BlackBorder,
            file,
            3,
            "dark band along the left edge, 12 mm (5.6 % of the width), tolerance 2.0 %",
        ),
        Finding::page(
            FindingKind::LowResolution,
            "data/akte_0816.tif",
            1,
            "no resolution in the file's metadata; 1240 x 1754 px are A4 at 150 dpi \
             (A3 at 106 dpi), below the minimum of 300 dpi",
        ),
        Finding::file(
            FindingKind::PageCountMismatch,
            "data/akte_0817.tif",
            "12 pages, the inventory says 14",
        ),
    ];
    let mut thumbnails = BTreeMap::new();
    thumbnails.insert(format!("{file}#3"), thumbnail_data_uri(&failed_page(), 240));
    ValidationReport {
        schema_version: 1,
        mailroom_version: env!("CARGO_PKG_VERSION").into(),
        delivery: "/srv/abnahme/Lieferung_2026-11_Bauakten".into(),
        inventory: Some("/srv/abnahme/Lieferung_2026-11_Bauakten/bestandsliste.csv".into()),
        profile: "default".into(),
        started: "2026-11-29T09:14:02+01:00".into(),
        finished: "2026-11-29T09:31:47+01:00".into(),
        elapsed_seconds: 1065.4,
        lot: LotSummary {
            files: 412,
            pages: 18_734,
            bytes: 9_876_543_210,
        },
        hash: HashSummary {
            bytes: 9_876_543_210,
            seconds: 38.9,
            mb_per_second: 253.9,
        },
        sampling: Some(SamplingSummary {
            inspection_level: "II".into(),
            aql: 1.0,
            lot_size: 18_734,
            code_letter: 'M',
            sample_size: 315,
            accept: 7,
            reject: 8,
            seed: 20261129,
            sampled: (0..315)
                .map(|i| PageRef {
                    file: if i == 0 {
                        file.into()
                    } else {
                        format!("data/akte_{:04}.tif", 1000 + i)
                    },
                    page: if i == 0 { 3 } else { 1 + i % 5 },
                })
                .collect(),
            nonconforming: 1,
        }),
        decision: Decision::Reject,
        reasons: vec![
            "Die Seitenzahl von data/akte_0817.tif weicht von der Bestandsliste ab \
             (Losmangel)."
                .into(),
        ],
        findings,
        thumbnails,
    }
}

/// Runs headless Chromium on the page with the flags of an offline, reproducible run.
fn chromium(profile: &Path, extra: &[String], url: &str) -> Output {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--log-level=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run chromium ({e}): scripts/setup.sh installs the Debian package chromium"
            )
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chromium failed ({}):\n{stderr}",
        output.status
    );
    // Chromium logs much about the machine (no D-Bus, no GPU); about the page it may log
    // nothing: no console message, no failed load, no error naming the file.
    let page_errors: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || l.contains("net::ERR")
                || (l.contains("ERROR") && l.contains("bericht.html"))
        })
        .collect();
    assert!(
        page_errors.is_empty(),
        "chromium reported errors about the page:\n{}",
        page_errors.join("\n")
    );
    output
}

#[test]
fn report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let report = sample_report();
    let page = dir.path().join("bericht.html");
    std::fs::write(&page, html::render(&report)).unwrap();
    let url = format!("file://{}", page.display());
    let profile = dir.path().join("chromium-profile");

    let shot = dir.path().join("bericht.png");
    chromium(
        &profile,
        &[
            format!("--screenshot={}", shot.display()),
            format!("--window-size={WIDTH},{HEIGHT}"),
        ],
        &url,
    );
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
    // To look at the page: MAILROOM_KEEP_HTML_REPORT=<folder> keeps page and screenshot.
    if let Some(keep) = std::env::var_os("MAILROOM_KEEP_HTML_REPORT") {
        let keep = Path::new(&keep);
        std::fs::create_dir_all(keep).unwrap();
        std::fs::copy(&page, keep.join("bericht.html")).unwrap();
        std::fs::copy(&shot, keep.join("bericht.png")).unwrap();
    }
    let img = image::open(&shot).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (WIDTH, HEIGHT));
    let dark = img.pixels().filter(|p| p.0.iter().all(|&c| c < 90)).count();
    let light = img
        .pixels()
        .filter(|p| p.0.iter().all(|&c| c > 230))
        .count();
    let total = (WIDTH * HEIGHT) as usize;
    assert!(
        dark > total / 200,
        "hardly any dark pixels: {dark} of {total}"
    );
    assert!(light > total / 2, "not a light page: {light} of {total}");
    // The rejection banner is red: many strongly red pixels near the top.
    let red = img
        .pixels()
        .take((WIDTH * 600) as usize)
        .filter(|p| p.0[0] > 130 && p.0[1] < 60 && p.0[2] < 60)
        .count();
    assert!(red > 1000, "no red decision banner: {red} red pixels");

    let out = chromium(&profile, &["--dump-dom".to_string()], &url);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("Abgelehnt"), "decision missing:\n{dom}");
    assert!(
        dom.contains("<img src=\"data:image/png;base64,"),
        "thumbnail missing"
    );
    assert!(!dom.contains("<script>alert"), "a file name became markup");
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The DOM serialises text escaping only &, < and >.
    for f in &report.findings {
        let text = f
            .detail
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(dom.contains(&text), "{}", f.detail);
    }
}

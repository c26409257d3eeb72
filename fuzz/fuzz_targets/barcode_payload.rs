//! Barcode texts as a page stream carries them: cover-sheet payloads, separator barcodes
//! (document separation with the default and the stream profile) and routing on barcodes
//! and cover sheets (with the Braunschweig rules), plus Tesseract's TSV text that routing
//! reads beside them.
//!
//! Input: barcode texts, one per line; after an empty line, TSV rows as Tesseract writes
//! them (the page's words).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mailroom::barcode::Barcode;
use mailroom::config::Profile;
use mailroom::coversheet::CoverSheet;
use mailroom::ocr::PageText;
use mailroom::routing::rules::RuleSet;
use mailroom::routing::zones::PageView;
use mailroom::routing::{self, RoutingInput};
use mailroom::separation::{split_all, PageFacts, PageState, Rules};

struct Fixtures {
    separation: Vec<Rules>,
    routing: RuleSet,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let load = |text: &str| Profile::parse(text).expect("bundled profile");
        let stream = load(include_str!("../../profiles/stream.toml"));
        let city = load(include_str!("../../profiles/braunschweig.toml"));
        Fixtures {
            separation: vec![
                Rules::new(&Profile::default().separation).unwrap(),
                Rules::new(&stream.separation).unwrap(),
            ],
            routing: RuleSet::new(&city.routing).unwrap(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (codes, tsv) = text.split_once("\n\n").unwrap_or((&text, ""));
    let barcodes: Vec<Barcode> = codes
        .split('\n')
        .take(64)
        .enumerate()
        .map(|(i, t)| Barcode {
            format: if i % 2 == 0 { "QRCode" } else { "Code128" }.into(),
            text: t.to_string(),
            corners: [(0, 0), (10, 0), (10, 10), (0, 10)],
            orientation: 0,
        })
        .collect();

    // cover-sheet payloads: what parses, prints back to the same sheet
    let mut cover = None;
    for b in &barcodes {
        if let Some(Ok(sheet)) = CoverSheet::parse(&b.text) {
            let again = CoverSheet::parse(&sheet.payload());
            assert_eq!(again, Some(Ok(sheet.clone())), "payload round trip");
            cover.get_or_insert(sheet);
        }
    }

    // separation: one page per barcode, then a page of text; every page lands in
    // exactly one document
    let facts: Vec<PageFacts> = barcodes
        .iter()
        .flat_map(|b| {
            [
                PageFacts {
                    starts_file: false,
                    state: PageState::Content {
                        patch: None,
                        barcodes: std::slice::from_ref(b),
                    },
                },
                PageFacts {
                    starts_file: false,
                    state: PageState::Content {
                        patch: None,
                        barcodes: &[],
                    },
                },
            ]
        })
        .collect();
    for rules in &fixtures().separation {
        let segments = split_all(rules, &facts);
        let mut seen: Vec<usize> = segments
            .iter()
            .flat_map(|s| s.pages.iter().map(|(n, _)| *n))
            .collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..facts.len()).collect::<Vec<_>>(),
            "pages conserved"
        );
    }

    // routing on the barcodes, the cover sheet and the page text
    let page = PageText::from_tsv(tsv);
    let input = RoutingInput {
        pages: vec![PageView {
            text: &page,
            dpi: (300.0, 300.0),
            size_px: (2480, 3508),
        }],
        barcodes: barcodes.iter().collect(),
        cover: cover.as_ref(),
    };
    let record = routing::route(&fixtures().routing, &input);
    assert!(
        (0.0..=1.0).contains(&record.confidence),
        "confidence {}",
        record.confidence
    );
});

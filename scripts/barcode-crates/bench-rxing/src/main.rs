#[path = "../../common/common.rs"]
mod common;
use common::{Decoded, Gray};
use rxing::multi::{GenericMultipleBarcodeReader, MultipleBarcodeReader};
use rxing::{BinaryBitmap, DecodeHints, Luma8Source, MultiUseMultiFormatReader, RXingResultMetadataType, RXingResultMetadataValue};
use rxing::common::HybridBinarizer;

/// luma buffer in -> (format, text, points, orientation) out
fn decode(img: &Gray, only_ours: bool, itf_lengths: bool) -> Vec<Decoded> {
    let src = Luma8Source::new_with_slice(&img.px, img.w as u32, img.h as u32).expect("source");
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(src));
    let mut hints = DecodeHints { TryHarder: Some(true), ..Default::default() }; // PossibleFormats None = all formats
    if only_ours {
        use rxing::BarcodeFormat::*;
        hints.PossibleFormats = Some([CODE_128, CODE_39, QR_CODE, DATA_MATRIX, ITF, PDF_417, EAN_13].into_iter().collect());
    }
    if itf_lengths { hints.AllowedLengths = Some(vec![10, 14]); } // ITF lengths mailroom expects
    let mut reader = GenericMultipleBarcodeReader::new(MultiUseMultiFormatReader::default());
    let results = match reader.decode_multiple_with_hints(&mut bitmap, &mut hints) {
        Ok(r) => r,
        Err(_) => Vec::new(), // NotFound when nothing decodes
    };
    results.iter().map(|r| Decoded {
        kind: format!("{:?}", r.getBarcodeFormat()),
        text: r.getText().to_string(),
        points: r.getPoints().iter().map(|p| (p.x, p.y)).collect(),
        orientation: match r.getRXingResultMetadata().get(&RXingResultMetadataType::ORIENTATION) {
            Some(RXingResultMetadataValue::Orientation(o)) => Some(*o),
            _ => None,
        },
    }).collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dir = a.get(1).map(|s| s.as_str()).unwrap_or("pages");
    let strategy = a.get(2).map(|s| s.as_str()).unwrap_or("full");
    let detail = a.get(3).cloned().unwrap_or(format!("detail-rxing-{strategy}.tsv"));
    let mut panics = 0;
    let only_ours = strategy.contains("+fmt");
    let itf_lengths = strategy.contains("+len");
    common::run("rxing", dir, strategy, &detail, |g| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(g, only_ours, itf_lengths))) {
            Ok(v) => v,
            Err(_) => { panics += 1; eprintln!("PANIC"); Vec::new() }
        }
    });
    if panics > 0 { println!("rxing\t{strategy}\tpanics {panics}"); }
}

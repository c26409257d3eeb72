#[path = "../../common/common.rs"]
mod common;
use common::{Decoded, Gray};
use zxingcpp::{BarcodeFormat, BarcodeReader, ImageFormat, ImageView};

fn kind(f: BarcodeFormat) -> String {
    use BarcodeFormat::*;
    match f {
        Code128 => "CODE_128".into(), Code39 => "CODE_39".into(), QRCode | QRCodeModel1 | QRCodeModel2 => "QR_CODE".into(),
        DataMatrix => "DATA_MATRIX".into(), ITF => "ITF".into(), PDF417 => "PDF_417".into(), EAN13 => "EAN_13".into(),
        other => format!("{other:?}"),
    }
}

/// luma buffer in -> (format, text, corner points, orientation) out
fn decode(img: &Gray, reader: &BarcodeReader) -> Vec<Decoded> {
    let iv = ImageView::from_slice(&img.px, img.w as u32, img.h as u32, ImageFormat::Lum).expect("view");
    let barcodes = reader.from(iv).expect("read");
    barcodes.iter().filter(|b| b.is_valid()).map(|b| {
        let p = b.position();
        Decoded {
            kind: kind(b.format()),
            text: b.text(),
            points: [p.top_left, p.top_right, p.bottom_right, p.bottom_left].iter().map(|q| (q.x as f32, q.y as f32)).collect(),
            orientation: Some(b.orientation()),
        }
    }).collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dir = a.get(1).map(|s| s.as_str()).unwrap_or("pages");
    let strategy = a.get(2).map(|s| s.as_str()).unwrap_or("full");
    let detail = a.get(3).cloned().unwrap_or(format!("detail-zxingcpp-{strategy}.tsv"));
    // defaults: all formats, try_harder/try_rotate/try_invert/try_downscale = true
    let fast = strategy.starts_with("fast");
    let mut reader = BarcodeReader::new()
        .try_harder(!fast)
        .try_rotate(!fast)
        .try_downscale(!fast)
        .try_invert(!strategy.starts_with("noinv") && !fast);
    if strategy.contains("+fmt") {
        use BarcodeFormat::*;
        reader.set_formats([Code128, Code39, QRCode, DataMatrix, ITF, PDF417, EAN13]);
    }
    common::run("zxing-cpp", dir, strategy, &detail, |g| decode(g, &reader));
}

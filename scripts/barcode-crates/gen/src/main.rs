// Deterministic generator of synthetic 300-dpi A4 scan pages with barcodes.
// Output: <out>/pNNN.pgm (8-bit gray, binary PGM) and <out>/truth.tsv
// truth.tsv lines: page \t kind \t value \t x0,y0;x1,y1;x2,y2;x3,y3 (symbol quad in final page coords)
// and "#page" lines with page metadata.
use rxing::{BarcodeFormat, EncodeHints, MultiFormatWriter, Writer};
use std::fmt::Write as _;
use std::io::Write as _;

// ---------- tiny deterministic RNG (splitmix64) ----------
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f64 { (self.next() >> 11) as f64 / (1u64 << 53) as f64 }
    fn range(&mut self, lo: i64, hi: i64) -> i64 { lo + (self.next() % ((hi - lo + 1) as u64)) as i64 }
    fn gauss(&mut self) -> f64 {
        let u1 = self.f().max(1e-12);
        let u2 = self.f();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    fn chance(&mut self, p: f64) -> bool { self.f() < p }
}

const W: usize = 2480;
const H: usize = 3508;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind { Code128, Code39, Qr, DataMatrix, Itf, Pdf417, Ean13 }
const KINDS: [Kind; 7] = [Kind::Code128, Kind::Code39, Kind::Qr, Kind::DataMatrix, Kind::Itf, Kind::Pdf417, Kind::Ean13];
impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Code128 => "CODE_128", Kind::Code39 => "CODE_39", Kind::Qr => "QR_CODE",
            Kind::DataMatrix => "DATA_MATRIX", Kind::Itf => "ITF", Kind::Pdf417 => "PDF_417", Kind::Ean13 => "EAN_13",
        }
    }
    fn fmt(self) -> BarcodeFormat {
        match self {
            Kind::Code128 => BarcodeFormat::CODE_128, Kind::Code39 => BarcodeFormat::CODE_39, Kind::Qr => BarcodeFormat::QR_CODE,
            Kind::DataMatrix => BarcodeFormat::DATA_MATRIX, Kind::Itf => BarcodeFormat::ITF, Kind::Pdf417 => BarcodeFormat::PDF_417,
            Kind::Ean13 => BarcodeFormat::EAN_13,
        }
    }
    fn is_1d(self) -> bool { matches!(self, Kind::Code128 | Kind::Code39 | Kind::Itf | Kind::Ean13) }
}

const NAMES: [&str; 8] = ["Müller GmbH", "Schäfer & Söhne KG", "Stadtwerke Nord", "Finanzamt Mitte", "Dr. Weiß", "Krankenkasse Süd", "Amtsgericht Ost", "Bauverein eG"];

fn payload(r: &mut Rng, k: Kind) -> String {
    let year = r.range(2019, 2026);
    let fb = r.range(10, 99);
    let num = r.range(1, 999999);
    match k {
        Kind::Code128 => match r.range(0, 2) {
            0 => format!("FB{fb}-{year}-{num:06}"),
            1 => format!("AZ {}.{}-{}/{year}", r.range(1, 99), r.range(1, 9), r.range(1, 9999)),
            _ => format!("MR{year}{num:08}"),
        },
        Kind::Code39 => match r.range(0, 1) {
            0 => format!("AZ {}.{}-{}/{year}", r.range(1, 99), r.range(1, 9), r.range(1, 999)),
            _ => format!("FB{fb}-{year}-{num:06}"),
        },
        Kind::Qr => match r.range(0, 2) {
            0 => format!("FB{fb}-{year}-{num:06}"),
            1 => format!("MAILROOM|FB{fb}-{year}-{num:06}|AZ {}.{}-{}/{year}|{}", r.range(1, 99), r.range(1, 9), r.range(1, 9999), NAMES[r.range(0, 7) as usize]),
            _ => format!("https://post.example.org/s/{year}/{num:06}?k={:08x}", r.next() as u32),
        },
        Kind::DataMatrix => match r.range(0, 1) {
            0 => format!("FB{fb}-{year}-{num:06}"),
            _ => format!("DM|{year}-{:02}-{:02}|FB{fb}-{year}-{num:06}|S{}", r.range(1, 12), r.range(1, 28), r.range(1, 40)),
        },
        Kind::Itf => {
            let n = if r.chance(0.5) { 14 } else { 10 };
            (0..n).map(|_| char::from(b'0' + r.range(0, 9) as u8)).collect()
        }
        Kind::Pdf417 => format!("FB{fb}-{year}-{num:06};AZ {}.{}-{}/{year};Eingang {year}-{:02}-{:02};{}", r.range(1, 99), r.range(1, 9), r.range(1, 9999), r.range(1, 12), r.range(1, 28), NAMES[r.range(0, 7) as usize]),
        Kind::Ean13 => {
            let mut d: Vec<u32> = vec![4, r.range(0, 4) as u32];
            for _ in 0..10 { d.push(r.range(0, 9) as u32); }
            let s: u32 = d.iter().enumerate().map(|(i, &x)| if i % 2 == 0 { x } else { 3 * x }).sum();
            d.push((10 - s % 10) % 10);
            d.iter().map(|x| char::from(b'0' + *x as u8)).collect()
        }
    }
}

/// Returns a module bitmap (true = dark), width, height in modules (1D: height 1).
fn encode(k: Kind, text: &str, r: &mut Rng) -> (Vec<bool>, usize, usize) {
    let mut hints = EncodeHints::default();
    hints.Margin = Some("0".into());
    if k == Kind::Qr || k == Kind::DataMatrix || k == Kind::Pdf417 {
        if !text.is_ascii() { hints.CharacterSet = Some("UTF-8".into()); }
    }
    if k == Kind::DataMatrix && r.chance(0.75) { hints.DataMatrixShape = Some(rxing::datamatrix::encoder::SymbolShapeHint::FORCE_SQUARE); }
    if k == Kind::Qr { hints.ErrorCorrection = Some(["L", "M", "Q"][r.range(0, 2) as usize].into()); }
    let m = MultiFormatWriter.encode_with_hints(text, &k.fmt(), 0, 0, &hints).expect("encode");
    let (w, h) = (m.getWidth() as usize, m.getHeight() as usize);
    let h = if k.is_1d() { 1 } else { h };
    let mut v = vec![false; w * h];
    for y in 0..h { for x in 0..w { v[y * w + x] = m.get(x as u32, y as u32); } }
    (v, w, h)
}

struct Page { px: Vec<f32>, w: usize, h: usize }

fn fill_rect(p: &mut Page, x0: i64, y0: i64, w: i64, h: i64, val: f32) {
    for y in y0.max(0)..(y0 + h).min(p.h as i64) {
        for x in x0.max(0)..(x0 + w).min(p.w as i64) { p.px[y as usize * p.w + x as usize] = val; }
    }
}

/// text-like line: random glyph blobs built from 4x6 cells of 5 px
fn text_line(p: &mut Page, r: &mut Rng, x0: i64, y0: i64, width: i64, ink: f32, cell: i64) {
    let mut x = x0;
    while x < x0 + width {
        let word = r.range(2, 10);
        for _ in 0..word {
            let cols = r.range(3, 4);
            let asc = r.chance(0.3);
            for cx in 0..cols {
                for cy in 0..6 {
                    if cy < 2 && !asc { continue; }
                    let on = if cx == 0 { r.chance(0.75) } else { r.chance(0.45) };
                    if on { fill_rect(p, x + cx * cell, y0 + cy * cell, cell, cell, ink); }
                }
            }
            x += (cols + 1) * cell;
            if x >= x0 + width { break; }
        }
        x += r.range(3, 5) * cell;
    }
}

fn letter_background(p: &mut Page, r: &mut Rng, ink: f32, dense: bool) {
    // header block, address block, paragraphs, a table with rules
    let cell = r.range(4, 6);
    let lh = cell * 6 + r.range(14, 24);
    let mut y = r.range(150, 300);
    let left = r.range(200, 300);
    let right = W as i64 - r.range(200, 300);
    // address block
    for _ in 0..4 { let lw = r.range(500, 900); text_line(p, r, left, y, lw, ink, cell); y += lh; }
    y += 150;
    let paragraphs = if dense { r.range(4, 7) } else { r.range(2, 4) };
    for _ in 0..paragraphs {
        let lines = r.range(3, 7);
        for _ in 0..lines { if y > H as i64 - 300 { break; } let lw = right - left - r.range(0, 150); text_line(p, r, left, y, lw, ink, cell); y += lh; }
        y += lh / 2;
    }
    // table
    if y < H as i64 - 800 && r.chance(0.8) {
        let rows = r.range(4, 10);
        let cols = r.range(3, 6);
        let rh = lh + 10;
        let tw = right - left;
        let th = rows * rh;
        let t = r.range(2, 4);
        for i in 0..=rows { fill_rect(p, left, y + i * rh, tw, t, ink); }
        for j in 0..=cols { fill_rect(p, left + j * tw / cols, y, t, th, ink); }
        for i in 0..rows { for j in 0..cols {
            text_line(p, r, left + j * tw / cols + 20, y + i * rh + 10, tw / cols - 60, ink, cell.min(5));
        }}
        y += th + 100;
    }
    // vertical stripe pattern (like a form's tick boxes / hatched field) to provoke 1D false reads
    if r.chance(0.5) && y < H as i64 - 300 {
        let n = r.range(10, 30);
        let mut x = left;
        for _ in 0..n { let bw = r.range(3, 12); fill_rect(p, x, y, bw, r.range(40, 120), ink); x += bw + r.range(3, 15); }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).cloned().unwrap_or("pages".into());
    let n_pages: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let n_blank: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(8);
    std::fs::create_dir_all(&out).unwrap();
    let seed: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(0x6d61696c726f6f6d); // "mailroom"
    let mut r = Rng(seed);
    let mut truth = String::new();
    // balanced symbology queue
    let mut queue: Vec<Kind> = Vec::new();
    let total = n_pages + n_blank;
    for pi in 0..total {
        let has_codes = pi % 9 != 8 || pi >= n_pages + n_blank; // every 9th page has no barcode
        let has_codes = if n_blank == 0 { true } else { has_codes };
        let paper = r.range(230, 245) as f32;
        let mut page = Page { px: vec![paper; W * H], w: W, h: H };
        // slight paper shading
        let shade = r.f() as f32 * 6.0;
        for y in 0..H { for x in 0..W { page.px[y * W + x] -= shade * (x as f32 / W as f32); } }
        let text_ink = r.range(20, 70) as f32;
        let dense = !has_codes || r.chance(0.5);
        letter_background(&mut page, &mut r, text_ink, dense);
        let mut syms: Vec<(Kind, String, [(f64, f64); 4])> = Vec::new();
        let low_contrast_page = r.chance(0.3);
        let mut meta = String::new();
        if has_codes {
            let n = r.range(1, 4);
            let mut boxes: Vec<(i64, i64, i64, i64)> = Vec::new();
            for _ in 0..n {
                if queue.is_empty() {
                    queue = KINDS.to_vec();
                    for i in (1..queue.len()).rev() { let j = r.range(0, i as i64) as usize; queue.swap(i, j); }
                }
                let k = queue.pop().unwrap();
                let text = payload(&mut r, k);
                let (bits, mw, mh) = encode(k, &text, &mut r);
                let module = if k.is_1d() { r.range(4, 5) } else { r.range(4, 6) };
                let (qz, bar_h) = if k.is_1d() { (10, r.range(130, 220)) } else { (3, 0) };
                let sw = mw as i64 * module;
                let sh = if k.is_1d() { bar_h } else { mh as i64 * module };
                // per-symbol rotation by 90 deg steps on a few symbols (vertical labels)
                let vertical = r.chance(0.15);
                let (bw, bh) = if vertical { (sh + 2 * qz * module, sw + 2 * qz * module) } else { (sw + 2 * qz * module, sh + 2 * qz * module) };
                if bw > W as i64 - 160 || bh > H as i64 - 160 { continue; }
                // place without overlap
                let mut placed = None;
                for _ in 0..200 {
                    let x = r.range(80, W as i64 - 80 - bw);
                    let y = r.range(80, H as i64 - 80 - bh);
                    if boxes.iter().all(|&(bx, by, bw2, bh2)| x + bw + 30 < bx || bx + bw2 + 30 < x || y + bh + 30 < by || by + bh2 + 30 < y) {
                        placed = Some((x, y)); break;
                    }
                }
                let Some((x, y)) = placed else { continue };
                boxes.push((x, y, bw, bh));
                let label = (paper + r.range(0, 8) as f32).min(250.0);
                fill_rect(&mut page, x, y, bw, bh, label);
                let ink = if low_contrast_page && r.chance(0.7) { r.range(60, 110) } else { r.range(5, 40) } as f32;
                let (ox, oy) = (x + qz * module, y + qz * module);
                for yy in 0..sh { for xx in 0..sw {
                    let (mx, my) = ((xx / module) as usize, if k.is_1d() { 0 } else { (yy / module) as usize });
                    if bits[my * mw + mx] {
                        let (px, py) = if vertical { (ox + yy, oy + (sw - 1 - xx)) } else { (ox + xx, oy + yy) };
                        page.px[py as usize * W + px as usize] = ink;
                    }
                }}
                let (qw, qh) = if vertical { (sh, sw) } else { (sw, sh) };
                let quad = [(ox as f64, oy as f64), ((ox + qw) as f64, oy as f64), ((ox + qw) as f64, (oy + qh) as f64), (ox as f64, (oy + qh) as f64)];
                let _ = write!(meta, "{}:{}px{}{} ", k.name(), module, if vertical { ":vert" } else { "" }, if ink > 50.0 { format!(":ink{}", ink) } else { String::new() });
                syms.push((k, text, quad));
            }
        }
        // degradations
        let skew = if r.chance(0.55) { r.f() * 6.0 - 3.0 } else { 0.0 };
        if skew != 0.0 { page = rotate_bilinear(&page, skew, paper); }
        let blur = r.range(0, 3); // 0 none, 1 box3, 2 gauss 0.8, 3 gauss 1.3
        match blur { 1 => box3(&mut page), 2 => gauss(&mut page, 0.8), 3 => gauss(&mut page, 1.3), _ => {} }
        let sigma = [3.0, 5.0, 8.0, 12.0][r.range(0, 3) as usize];
        let specks = r.chance(0.3);
        let mut bytes = vec![0u8; W * H];
        for i in 0..W * H {
            let mut v = page.px[i] as f64 + r.gauss() * sigma;
            if specks && r.next() % 20000 == 0 { v = r.range(0, 80) as f64; }
            bytes[i] = v.round().clamp(0.0, 255.0) as u8;
        }
        let rot = [0, 0, 0, 90, 180, 270][r.range(0, 5) as usize];
        let (bytes, fw, fh) = rot90(&bytes, W, H, rot);
        // transform truth quads: skew (about centre) then rot90
        let (cx, cy) = (W as f64 / 2.0, H as f64 / 2.0);
        let (s, c) = (skew.to_radians().sin(), skew.to_radians().cos());
        let name = format!("p{pi:03}.pgm");
        let _ = writeln!(truth, "#page\t{name}\trot={rot}\tskew={skew:.2}\tblur={blur}\tnoise={sigma}\tspecks={specks}\tlowcontrast={low_contrast_page}\t{meta}");
        for (k, text, quad) in &syms {
            let q: Vec<String> = quad.iter().map(|&(x, y)| {
                // forward rotation used in rotate_bilinear: dst = R(skew) * (src - c) + c
                let (dx, dy) = (x - cx, y - cy);
                let (x1, y1) = (c * dx - s * dy + cx, s * dx + c * dy + cy);
                let (x2, y2) = match rot { 90 => (H as f64 - y1, x1), 180 => (W as f64 - x1, H as f64 - y1), 270 => (y1, W as f64 - x1), _ => (x1, y1) };
                format!("{x2:.0},{y2:.0}")
            }).collect();
            let _ = writeln!(truth, "{name}\t{}\t{}\t{}", k.name(), text, q.join(";"));
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(format!("{out}/{name}")).unwrap());
        write!(f, "P5\n{fw} {fh}\n255\n").unwrap();
        f.write_all(&bytes).unwrap();
        eprintln!("{name}: {} symbols rot={rot} skew={skew:.2} blur={blur} noise={sigma} {meta}", syms.len());
    }
    std::fs::write(format!("{out}/truth.tsv"), truth).unwrap();
}

fn rotate_bilinear(p: &Page, deg: f64, bg: f32) -> Page {
    let (w, h) = (p.w, p.h);
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let (s, c) = (deg.to_radians().sin(), deg.to_radians().cos());
    let mut out = vec![bg; w * h];
    for y in 0..h { for x in 0..w {
        // inverse map: src = R(-deg) * (dst - c) + c
        let (dx, dy) = (x as f64 - cx, y as f64 - cy);
        let sx = c * dx + s * dy + cx;
        let sy = -s * dx + c * dy + cy;
        if sx < 0.0 || sy < 0.0 || sx >= (w - 1) as f64 || sy >= (h - 1) as f64 { continue; }
        let (x0, y0) = (sx as usize, sy as usize);
        let (fx, fy) = ((sx - x0 as f64) as f32, (sy - y0 as f64) as f32);
        let i = y0 * w + x0;
        let a = p.px[i] * (1.0 - fx) + p.px[i + 1] * fx;
        let b = p.px[i + w] * (1.0 - fx) + p.px[i + w + 1] * fx;
        out[y * w + x] = a * (1.0 - fy) + b * fy;
    }}
    Page { px: out, w, h }
}

fn conv_sep(p: &mut Page, k: &[f32]) {
    let r = k.len() / 2;
    let (w, h) = (p.w, p.h);
    let mut tmp = p.px.clone();
    for y in 0..h { for x in 0..w {
        let mut a = 0.0; for (i, kv) in k.iter().enumerate() { let xx = (x as i64 + i as i64 - r as i64).clamp(0, w as i64 - 1) as usize; a += kv * p.px[y * w + xx]; }
        tmp[y * w + x] = a;
    }}
    for y in 0..h { for x in 0..w {
        let mut a = 0.0; for (i, kv) in k.iter().enumerate() { let yy = (y as i64 + i as i64 - r as i64).clamp(0, h as i64 - 1) as usize; a += kv * tmp[yy * w + x]; }
        p.px[y * w + x] = a;
    }}
}
fn box3(p: &mut Page) { conv_sep(p, &[1.0 / 3.0; 3]); }
fn gauss(p: &mut Page, sigma: f32) {
    let r = (sigma * 3.0).ceil() as i32;
    let mut k: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let s: f32 = k.iter().sum(); for v in &mut k { *v /= s; }
    conv_sep(p, &k);
}
/// rotate clockwise by deg (0/90/180/270); returns (buf, w, h)
fn rot90(b: &[u8], w: usize, h: usize, deg: i32) -> (Vec<u8>, usize, usize) {
    match deg {
        90 => { let mut o = vec![0; w * h]; for y in 0..h { for x in 0..w { o[x * h + (h - 1 - y)] = b[y * w + x]; } } (o, h, w) }
        180 => { let mut o = b.to_vec(); o.reverse(); (o, w, h) }
        270 => { let mut o = vec![0; w * h]; for y in 0..h { for x in 0..w { o[(w - 1 - x) * h + y] = b[y * w + x]; } } (o, h, w) }
        _ => (b.to_vec(), w, h),
    }
}

// Shared by the bench binaries (included with #[path]); no dependencies.
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

pub struct Gray { pub w: usize, pub h: usize, pub px: Vec<u8> }

pub fn read_pgm(path: &str) -> Gray {
    let d = std::fs::read(path).expect("read pgm");
    // "P5\n{w} {h}\n255\n" header as written by gen
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while d[i].is_ascii_whitespace() { i += 1; }
        let s = i;
        while !d[i].is_ascii_whitespace() { i += 1; }
        fields.push(String::from_utf8_lossy(&d[s..i]).to_string());
    }
    i += 1;
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    Gray { w, h, px: d[i..i + w * h].to_vec() }
}

/// 2x2 box average (300 -> 150 dpi)
pub fn half(g: &Gray) -> Gray {
    let (w, h) = (g.w / 2, g.h / 2);
    let mut px = vec![0u8; w * h];
    for y in 0..h {
        let r0 = &g.px[2 * y * g.w..];
        let r1 = &g.px[(2 * y + 1) * g.w..];
        for x in 0..w {
            let s = r0[2 * x] as u32 + r0[2 * x + 1] as u32 + r1[2 * x] as u32 + r1[2 * x + 1] as u32;
            px[y * w + x] = ((s + 2) / 4) as u8;
        }
    }
    Gray { w, h, px }
}

#[inline(always)]
fn srt(a: &mut [u8; 9], i: usize, j: usize) { if a[i] > a[j] { a.swap(i, j); } }

/// 3x3 median (sorting network, 19 compare-exchanges; borders copied)
pub fn median3(g: &Gray) -> Gray {
    let (w, h) = (g.w, g.h);
    let mut px = g.px.clone();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let mut a = [0u8; 9];
            let mut k = 0;
            for dy in 0..3 { for dx in 0..3 { a[k] = g.px[(y + dy - 1) * w + x + dx - 1]; k += 1; } }
            srt(&mut a,1,2); srt(&mut a,4,5); srt(&mut a,7,8); srt(&mut a,0,1); srt(&mut a,3,4); srt(&mut a,6,7);
            srt(&mut a,1,2); srt(&mut a,4,5); srt(&mut a,7,8); srt(&mut a,0,3); srt(&mut a,5,8); srt(&mut a,4,7);
            srt(&mut a,3,6); srt(&mut a,1,4); srt(&mut a,2,5); srt(&mut a,4,7); srt(&mut a,4,2); srt(&mut a,6,4);
            srt(&mut a,4,2);
            px[y * w + x] = a[4];
        }
    }
    Gray { w, h, px }
}

pub fn preprocess(g: &Gray, strategy: &str) -> (Gray, f32) {
    match strategy.split('+').next().unwrap() {
        "full" | "fast" | "noinv" => (Gray { w: g.w, h: g.h, px: g.px.clone() }, 1.0),
        "half" | "fast_half" => (half(g), 2.0),
        "median" | "noinv_median" => (median3(g), 1.0),
        "median_half" => (half(&median3(g)), 2.0),
        "half_median" => (median3(&half(g)), 2.0),
        s => panic!("unknown strategy {s}"),
    }
}

/// One decoded symbol: normalised kind name (as in truth.tsv), text, points (page coords of the decoded image)
pub struct Decoded { pub kind: String, pub text: String, pub points: Vec<(f32, f32)>, pub orientation: Option<i32> }

pub struct Truth { pub kind: String, pub value: String, pub quad: Vec<(f32, f32)> }

pub fn read_truth(dir: &str) -> (Vec<String>, HashMap<String, Vec<Truth>>, HashMap<String, String>) {
    let t = std::fs::read_to_string(format!("{dir}/truth.tsv")).expect("truth.tsv");
    let mut pages = Vec::new();
    let mut map: HashMap<String, Vec<Truth>> = HashMap::new();
    let mut meta = HashMap::new();
    for line in t.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == "#page" {
            pages.push(f[1].to_string());
            map.entry(f[1].to_string()).or_default();
            meta.insert(f[1].to_string(), f[2..].join(" "));
            continue;
        }
        let quad = f[3].split(';').map(|p| { let mut it = p.split(','); (it.next().unwrap().parse().unwrap(), it.next().unwrap().parse().unwrap()) }).collect();
        map.entry(f[0].to_string()).or_default().push(Truth { kind: f[1].into(), value: f[2].into(), quad });
    }
    (pages, map, meta)
}

fn inside(q: &[(f32, f32)], p: (f32, f32), grow: f32) -> bool {
    let (minx, maxx) = q.iter().fold((f32::MAX, f32::MIN), |a, v| (a.0.min(v.0), a.1.max(v.0)));
    let (miny, maxy) = q.iter().fold((f32::MAX, f32::MIN), |a, v| (a.0.min(v.1), a.1.max(v.1)));
    p.0 >= minx - grow && p.0 <= maxx + grow && p.1 >= miny - grow && p.1 <= maxy + grow
}

pub fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    if f.len() < 13 { return 0.0; }
    (f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0)) / 100.0
}

/// Runs the benchmark: decode(gray) -> Vec<Decoded>; prints a summary line and writes per-symbol detail.
pub fn run(label: &str, dir: &str, strategy: &str, detail_path: &str, mut decode: impl FnMut(&Gray) -> Vec<Decoded>) {
    let (pages, truth, meta) = read_truth(dir);
    let kinds = ["CODE_128", "CODE_39", "QR_CODE", "DATA_MATRIX", "ITF", "PDF_417", "EAN_13"];
    let mut found: HashMap<&str, (u32, u32)> = HashMap::new();
    let (mut misread, mut wrong, mut fp_blank, mut extra, mut pos_ok, mut pos_n, mut dups) = (0, 0, 0, 0, 0, 0, 0);
    let mut times = Vec::new();
    let (mut pre_total, mut blank_ms) = (0.0, Vec::<f64>::new());
    let mut detail = String::new();
    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    for page in &pages {
        let g = read_pgm(&format!("{dir}/{page}"));
        let t0 = Instant::now();
        let (img, scale) = preprocess(&g, strategy);
        let pre_ms = t0.elapsed().as_secs_f64() * 1000.0;
        let res = decode(&img);
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        times.push(ms);
        let mut res: Vec<Decoded> = res.into_iter().map(|mut d| { for p in &mut d.points { p.0 *= scale; p.1 *= scale; } d }).collect();
        // dedupe by kind + text
        let n0 = res.len();
        let mut seen = std::collections::HashSet::new();
        res.retain(|d| seen.insert((d.kind.clone(), d.text.clone())));
        dups += n0 - res.len();
        let tr = &truth[page];
        let mut used = vec![false; res.len()];
        let mut status = vec!["missed"; tr.len()];
        for (ti, t) in tr.iter().enumerate() {
            if let Some(di) = res.iter().position(|d| d.kind == t.kind && d.text == t.value) {
                used[di] = true;
                status[ti] = "found";
                let c = centroid(&res[di].points);
                pos_n += 1;
                match c {
                    Some(c) if inside(&t.quad, c, 25.0) => pos_ok += 1,
                    _ => { let _ = writeln!(detail, "{page}\tPOS_OFF\t{}\t{:?}\tpoints {:?} orient {:?} truth quad {:?}", t.kind, t.value, res[di].points, res[di].orientation, t.quad); }
                }
            }
        }
        for (di, d) in res.iter().enumerate() {
            if used[di] { continue; }
            // a decode that matches no truth exactly: if it lies on a symbol it is a wrong-value read
            // (misread; marks the symbol "misread" if it had no correct read), else a false positive
            let c = centroid(&d.points);
            let on = |t: &Truth| c.map_or(d.kind == t.kind, |c| inside(&t.quad, c, 25.0));
            if let Some(ti) = tr.iter().position(|t| on(t)) {
                wrong += 1;
                if status[ti] == "missed" { status[ti] = "misread"; misread += 1; }
                let _ = writeln!(detail, "{page}\tWRONG_VALUE\t{}\t{:?}\ttruth {} {:?} (symbol {})", d.kind, d.text, tr[ti].kind, tr[ti].value, status[ti]);
            } else if tr.is_empty() {
                fp_blank += 1;
                let _ = writeln!(detail, "{page}\tFALSE_POS_BLANK\t{}\t{:?}\t{:?}", d.kind, d.text, c);
            } else {
                extra += 1;
                let _ = writeln!(detail, "{page}\tFALSE_POS\t{}\t{:?}\t{:?}", d.kind, d.text, c);
            }
        }
        for (ti, t) in tr.iter().enumerate() {
            let e = found.entry(kinds.iter().find(|k| **k == t.kind).unwrap()).or_insert((0, 0));
            e.1 += 1;
            if status[ti] == "found" { e.0 += 1; }
            let _ = writeln!(detail, "{page}\t{}\t{}\t{:?}\t{}", status[ti].to_uppercase(), t.kind, t.value, meta[page]);
        }
        let _ = writeln!(detail, "{page}\tTIME\t{ms:.1}\tpre {pre_ms:.1}\tsymbols {}", tr.len());
        pre_total += pre_ms;
        if tr.is_empty() { blank_ms.push(ms); }
        eprintln!("{label} {page} {ms:.0} ms, {} decoded", res.len());
    }
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    std::fs::write(detail_path, detail).unwrap();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = sorted[sorted.len() / 2];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let (tf, tt) = found.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
    let mut line = format!("{label}\t{strategy}\ttotal {tf}/{tt}");
    for k in kinds { let (f, t) = found.get(k).copied().unwrap_or((0, 0)); let _ = write!(line, "\t{k} {f}/{t}"); }
    let _ = write!(line, "\tmisread_sym {misread}\twrong_decodes {wrong}\tfp_blank {fp_blank}\tfp_page {extra}\tdups {dups}\tpos_ok {pos_ok}/{pos_n}\tmedian_ms {median:.0}\tmean_ms {mean:.0}\tmax_ms {:.0}\tpre_ms {:.0}\tblank_mean_ms {:.0}\tcpu/wall {:.2}", sorted[sorted.len() - 1], pre_total / times.len() as f64, blank_ms.iter().sum::<f64>() / blank_ms.len().max(1) as f64, cpu / wall);
    println!("{line}");
}

fn centroid(p: &[(f32, f32)]) -> Option<(f32, f32)> {
    if p.is_empty() { return None; }
    let n = p.len() as f32;
    Some((p.iter().map(|v| v.0).sum::<f32>() / n, p.iter().map(|v| v.1).sum::<f32>() / n))
}

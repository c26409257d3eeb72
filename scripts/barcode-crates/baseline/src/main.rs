// Same harness without any decoder: binary-size baseline and harness overhead.
#[path = "../../common/common.rs"]
mod common;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dir = a.get(1).map(|s| s.as_str()).unwrap_or("pages");
    let strategy = a.get(2).map(|s| s.as_str()).unwrap_or("full");
    if strategy == "medcheck" {
        // verify the sorting-network median against a brute-force median and time it
        let g = common::read_pgm(&format!("{dir}/p000.pgm"));
        let t = std::time::Instant::now();
        let m = common::median3(&g);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut bad = 0; let mut changed = 0;
        for y in 1..g.h - 1 { for x in 1..g.w - 1 {
            let mut v: Vec<u8> = (0..9).map(|k| g.px[(y + k / 3 - 1) * g.w + x + k % 3 - 1]).collect();
            v.sort();
            if v[4] != m.px[y * g.w + x] { bad += 1; }
            if g.px[y * g.w + x] != m.px[y * g.w + x] { changed += 1; }
        }}
        println!("median3 {ms:.1} ms, mismatches {bad}, changed pixels {changed}");
        return;
    }
    common::run("baseline", dir, strategy, "/dev/null", |_g| Vec::new());
}

#!/usr/bin/env bash
# Memory scaling: peak memory of `mailroom run` on a small and a ten times larger batch.
#
#   scripts/bench-memory.sh [SMALL] [LARGE] [JOBS] [SEED]   (defaults: 50 500 nproc 11)
#
# Generates both batches (same generator, same seed), runs `mailroom run` on each as a
# whole process tree (scripts/measure.py: peak RSS and PSS, wall, CPU) and prints both
# peaks and their ratio. Streaming means the ratio stays near 1: no page's pixels or
# encoded image are held for the whole batch. Results go to $BENCH_DIR/bench-memory.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SMALL=${1:-50}
LARGE=${2:-500}
JOBS=${3:-$(nproc)}
SEED=${4:-11}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/mailroom-bench-memory.XXXXXX)}

cargo build --release --quiet --bins
BIN=$ROOT/target/release
for n in "$SMALL" "$LARGE"; do
  [ -f "$BENCH_DIR/batch$n/truth.json" ] ||
    "$BIN/mailroom-lab" generate --pages "$n" --seed "$SEED" --out "$BENCH_DIR/batch$n" >/dev/null 2>&1
  rm -rf "$BENCH_DIR/out$n"
  python3 "$ROOT/scripts/measure.py" --stderr "$BENCH_DIR/run$n.stderr" -- \
    "$BIN/mailroom" run "$BENCH_DIR/batch$n" --out "$BENCH_DIR/out$n" --jobs "$JOBS" >"$BENCH_DIR/run$n.json"
done

python3 - "$BENCH_DIR" "$SMALL" "$LARGE" "$JOBS" <<'EOF'
import datetime, json, os, sys
d, small, large, jobs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
runs = {}
for n in (small, large):
    m = json.load(open(os.path.join(d, f"run{n}.json")))
    report = json.load(open(os.path.join(d, f"out{n}", "report.json")))
    m["pages"] = report["counts"]["pages_in"]
    m["exit_code_ok"] = m["exit_code"] in (0, 3)
    runs[n] = m
ratio = runs[large]["peak_rss_mb"] / runs[small]["peak_rss_mb"]
result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
          "jobs": jobs, "runs": runs, "rss_ratio_large_to_small": round(ratio, 3),
          "pss_ratio_large_to_small": round(runs[large]["peak_pss_mb"] / runs[small]["peak_pss_mb"], 3)}
json.dump(result, open(os.path.join(d, "bench-memory.json"), "w"), indent=2)
for n, m in runs.items():
    print(f"{m['pages']:>5} pages: peak RSS {m['peak_rss_mb']:.0f} MB, PSS {m['peak_pss_mb']:.0f} MB, "
          f"{m['wall_s']:.0f} s wall, {m['cpu_s']:.0f} CPU-s, exit {m['exit_code']}")
print(f"peak RSS ratio {large}/{small} pages: {ratio:.2f} (PSS {result['pss_ratio_large_to_small']:.2f})")
print(f"details: {d}/bench-memory.json")
EOF

#!/usr/bin/env bash
# Throughput benchmark: mailroom against the floor, plain `tesseract` on the same pages.
#
#   scripts/bench.sh [PAGES] [JOBS] [SEED]      (defaults: 40 pages, 2 jobs, seed 7)
#
# Generates a batch with ground truth, runs `mailroom run` on it, then runs plain tesseract
# (OMP_THREAD_LIMIT=1, JOBS in parallel, TSV output like mailroom's) on the same page files,
# and prints wall time, pages per minute, CPU seconds per page, peak RSS and the mean CER of
# each against the batch's truth.
# Results also go to $BENCH_DIR/bench.json. Speed is measured here, never in the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PAGES=${1:-40}
JOBS=${2:-2}
SEED=${3:-7}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/mailroom-bench.XXXXXX)}
BATCH="$BENCH_DIR/batch"
OUT="$BENCH_DIR/out"

cargo build --release --quiet --bins
BIN=target/release
[ -f "$BATCH/truth.json" ] || "$BIN/mailroom-lab" generate --pages "$PAGES" --seed "$SEED" --out "$BATCH"
N=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['pages']))" "$BATCH/truth.json")

# measure CMD...: prints "wall_s cpu_s peak_rss_kb" (GNU time; RSS of the largest process)
measure() {
  local log
  log=$(mktemp)
  /usr/bin/time -f "%e %U %S %M" -o "$log" "$@" >/dev/null 2>"$BENCH_DIR/last.stderr" || {
    echo "bench: command failed: $*" >&2; cat "$BENCH_DIR/last.stderr" >&2; exit 1; }
  awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$log"
  rm -f "$log"
}

rm -rf "$OUT"
read -r M_WALL M_CPU M_RSS < <(measure "$BIN/mailroom" run "$BATCH" --out "$OUT" --jobs "$JOBS")
CER=$("$BIN/mailroom-lab" evaluate "$OUT" --truth "$BATCH/truth.json" --json |
  python3 -c "import json,sys; s=json.load(sys.stdin)['summary']; print('%.4f' % s['cer']['mean'])")

# The floor: tesseract on every page file (multi-page TIFFs in one call), JOBS at a time.
FLOOR_OUT="$BENCH_DIR/tesseract"
mkdir -p "$FLOOR_OUT"
floor() {
  find "$BATCH" -maxdepth 1 -type f ! -name truth.json -print0 | sort -z |
    OMP_THREAD_LIMIT=1 xargs -0 -P "$JOBS" -I{} sh -c 'tesseract "$1" "$2/$(basename "$1")" -l deu tsv >/dev/null 2>&1' _ {} "$FLOOR_OUT"
}
export -f floor
export BATCH JOBS FLOOR_OUT
read -r T_WALL T_CPU T_RSS < <(measure bash -c floor)
# tesseract names its output <base>.tsv; the base is the input file's name
T_CER=$("$BIN/mailroom-lab" evaluate "$FLOOR_OUT" --tesseract-tsv --truth "$BATCH/truth.json" --json |
  python3 -c "import json,sys; s=json.load(sys.stdin)['summary']; print('%.4f' % s['cer']['mean'])")

python3 - "$N" "$JOBS" "$M_WALL" "$M_CPU" "$M_RSS" "$T_WALL" "$T_CPU" "$T_RSS" "$CER" "$BENCH_DIR" "$T_CER" <<'EOF'
import json, sys, platform, subprocess, datetime
n, jobs = int(sys.argv[1]), int(sys.argv[2])
mw, mc, mr, tw, tc, tr = map(float, sys.argv[3:9])
cer, out = float(sys.argv[9]), sys.argv[10]
def row(name, wall, cpu, rss):
    return {"name": name, "wall_s": wall, "pages_per_min": round(n * 60 / wall, 1),
            "cpu_s_per_page": round(cpu / n, 2), "peak_rss_mb": round(rss / 1024, 1)}
m, t = row("mailroom run", mw, mc, mr), row("tesseract (floor)", tw, tc, tr)
m["cer_mean"] = cer
t["cer_mean"] = float(sys.argv[11])
tess = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
result = {"date": datetime.datetime.utcnow().isoformat() + "Z", "pages": n, "jobs": jobs,
          "machine": {"cpu": platform.processor() or platform.machine(), "cores": __import__("os").cpu_count()},
          "tesseract": tess, "contenders": [m, t],
          "ratio_mailroom_to_floor": round(m["pages_per_min"] / t["pages_per_min"], 2)}
json.dump(result, open(out + "/bench.json", "w"), indent=2)
print(f"{n} pages, {jobs} jobs, {tess}")
print(f"{'contender':<20} {'wall s':>7} {'pages/min':>10} {'CPU s/page':>11} {'peak RSS MB':>12} {'mean CER %':>11}")
for r in (m, t):
    print(f"{r['name']:<20} {r['wall_s']:>7.1f} {r['pages_per_min']:>10.1f} {r['cpu_s_per_page']:>11.2f} {r['peak_rss_mb']:>12.1f} {r['cer_mean']*100:>11.2f}")
print(f"mailroom / floor pages per minute: {result['ratio_mailroom_to_floor']}")
print(f"details: {out}/bench.json")
EOF

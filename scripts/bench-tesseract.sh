#!/usr/bin/env bash
# Tesseract settings as a lever: speed and CER together, never one without the other.
#
#   scripts/bench-tesseract.sh [PAGES] [JOBS] [SEED]     (defaults: 30 pages, nproc, 7)
#
# Runs plain `tesseract FILE BASE -l deu [SETTINGS] tsv` on every page file of a generated
# batch, JOBS at a time, OMP_THREAD_LIMIT=1 (as the floor in scripts/bench.sh), once per
# setting below, and scores each run's text against the batch's truth
# (`mailroom-lab evaluate --tesseract-tsv`). Prints wall time, CPU seconds per page and
# CER per setting; writes $BENCH_DIR/bench-tesseract.json. Settings:
#   default      Tesseract's defaults (full layout analysis, LSTM)
#   no-invert    -c tessedit_do_invert=0: no second pass over lines read with low
#                confidence as white-on-black text
#   psm4         --psm 4: one column of text of variable sizes (no column detection)
#   psm6         --psm 6: one uniform block of text
#   oem1         --oem 1: LSTM only, stated (the default picks it for Debian's models)
# Set SETTINGS to a subset, e.g. SETTINGS="default no-invert". Speed is measured here,
# never in the tests; run it on a quiet machine (the load average is recorded).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PAGES=${1:-30}
JOBS=${2:-$(nproc)}
SEED=${3:-7}
SETTINGS=${SETTINGS:-"default no-invert psm4 psm6 oem1"}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/mailroom-bench-tesseract.XXXXXX)}
BATCH="$BENCH_DIR/batch"
RESULTS="$BENCH_DIR/results"
mkdir -p "$RESULTS"

cargo build --release --quiet --bins
BIN=$ROOT/target/release
[ -f "$BATCH/truth.json" ] || "$BIN/mailroom-lab" generate --pages "$PAGES" --seed "$SEED" --out "$BATCH" >/dev/null
(cd "$BATCH" && find . -type f ! -name truth.json ! -name '.*' | sed 's|^\./||' | LC_ALL=C sort) >"$BENCH_DIR/files.txt"

args_of() {
  case $1 in
    default) echo "" ;;
    no-invert) echo "-c tessedit_do_invert=0" ;;
    psm4) echo "--psm 4" ;;
    psm6) echo "--psm 6" ;;
    oem1) echo "--oem 1" ;;
    *) echo "bench-tesseract: unknown setting $1" >&2; exit 2 ;;
  esac
}

for s in $SETTINGS; do
  out="$BENCH_DIR/$s"
  rm -rf "$out"
  mkdir -p "$out"
  cut -d' ' -f1 /proc/loadavg >"$RESULTS/$s.load"
  python3 "$ROOT/scripts/measure.py" -- env OMP_THREAD_LIMIT=1 bash -c \
    'cd "$1" && tr "\n" "\0" <"$2" | xargs -0 -P "$3" -I{} sh -c '"'"'tesseract "$1" "$2/$(basename "$1")" -l deu $3 tsv >/dev/null 2>&1'"'"' _ {} "$4" "$5"' \
    _ "$BATCH" "$BENCH_DIR/files.txt" "$JOBS" "$out" "$(args_of "$s")" >"$RESULTS/$s.json"
  "$BIN/mailroom-lab" evaluate "$out" --tesseract-tsv --truth "$BATCH/truth.json" --json |
    python3 -c "import json,sys; s=json.load(sys.stdin)['summary']; print(json.dumps({'cer': s['cer']['mean'], 'wer': s.get('wer', {}).get('mean')}))" >"$RESULTS/$s.cer"
done

python3 - "$RESULTS" "$BATCH/truth.json" "$JOBS" "$BENCH_DIR" "$SETTINGS" <<'EOF'
import datetime, json, os, subprocess, sys
results, truth, jobs, bench_dir, settings = sys.argv[1:6]
n = len(json.load(open(truth))["pages"])
rows = {}
for s in settings.split():
    m = json.load(open(os.path.join(results, f"{s}.json")))
    q = json.load(open(os.path.join(results, f"{s}.cer")))
    rows[s] = {
        "wall_s": m["wall_s"], "cpu_s": m["cpu_s"], "cpu_s_per_page": m["cpu_s"] / n,
        "pages_per_minute": 60 * n / m["wall_s"], "cer": q["cer"], "wer": q["wer"],
        "load_before": float(open(os.path.join(results, f"{s}.load")).read()),
    }
version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
          "pages": n, "jobs": int(jobs), "tesseract": version, "settings": rows}
json.dump(result, open(os.path.join(bench_dir, "bench-tesseract.json"), "w"), indent=2)
print(f"{n} pages, {jobs} jobs, {version}")
print(f"{'setting':<10} {'wall s':>7} {'pages/min':>9} {'CPU s/page':>10} {'CER %':>6} {'WER %':>6} {'load':>5}")
base = rows.get("default")
for s, r in rows.items():
    print(f"{s:<10} {r['wall_s']:>7.1f} {r['pages_per_minute']:>9.1f} {r['cpu_s_per_page']:>10.2f} "
          f"{100 * r['cer']:>6.2f} {100 * (r['wer'] or 0):>6.2f} {r['load_before']:>5.1f}")
print(f"details: {bench_dir}/bench-tesseract.json")
EOF

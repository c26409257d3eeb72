#!/usr/bin/env bash
# Throughput benchmark: mailroom against OCRmyPDF and the floor, plain `tesseract`, on the
# same pages, same machine, same Tesseract and language, same number of jobs, in one run.
#
#   scripts/bench.sh [PAGES] [JOBS] [SEED]      (defaults: 60 pages, nproc jobs, seed 7)
#
# Contenders (each measured as a whole process tree by scripts/measure.py: wall time, CPU
# seconds of every process, peak RSS and PSS summed over the tree):
#   1. `mailroom run BATCH` with the default profile (cleanup on);
#   2. OCRmyPDF with `--deskew --clean --rotate-pages --output-type pdfa` on the batch as
#      one image PDF (img2pdf: the page images embedded as they are), and
#   3. OCRmyPDF with plain options (`--output-type pdf`: no cleanup, no PDF/A conversion);
#   4. the floor: plain `tesseract FILE BASE -l deu tsv` on every page file, JOBS at a
#      time, OMP_THREAD_LIMIT=1 (multi-page TIFFs in one call);
#   5. floor-cleaned: the same tesseract on the page images of mailroom's PDFs (cleaned,
#      upright, without blank pages and separator sheets), each at its resolution: the
#      OCR of the same work without mailroom around it (no CER: its files are not named
#      like the truth's pages).
# CER against the batch's truth: mailroom from its documents' JSON text, OCRmyPDF from
# `pdftotext -raw` of its output, the floor from its TSV (`mailroom-lab evaluate`).
# Output bytes per page: mailroom's PDFs (documents and evidence), OCRmyPDF's PDF, the
# floor's TSV files. Prints a table and the ratios; writes $BENCH_DIR/bench.json with the
# machine, versions and date.
#
# OCRmyPDF and img2pdf are installed from PyPI into a virtual environment
# ($MAILROOM_BENCH_VENV, default ~/.cache/mailroom/bench-venv) the first time; OCRmyPDF
# uses Debian's tesseract, ghostscript, unpaper and qpdf (installed here when missing).
# Set CONTENDERS to a subset, e.g. CONTENDERS="mailroom floor"; MAILROOM_PROFILE=FILE runs
# mailroom with that profile instead of the default. Speed is measured here,
# never in the tests; run it on a quiet machine (the load average is recorded).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PAGES=${1:-60}
JOBS=${2:-$(nproc)}
SEED=${3:-7}
CONTENDERS=${CONTENDERS:-"mailroom ocrmypdf-clean ocrmypdf-plain floor floor-cleaned"}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/mailroom-bench.XXXXXX)}
VENV=${MAILROOM_BENCH_VENV:-$HOME/.cache/mailroom/bench-venv}
OCRMYPDF_VERSION=${OCRMYPDF_VERSION:-17.13.0}
BATCH="$BENCH_DIR/batch"
RESULTS="$BENCH_DIR/results"
mkdir -p "$RESULTS"

cargo build --release --quiet --bins
BIN=$ROOT/target/release
[ -f "$BATCH/truth.json" ] || "$BIN/mailroom-lab" generate --pages "$PAGES" --seed "$SEED" --out "$BATCH" >/dev/null
N=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['pages']))" "$BATCH/truth.json")
# the batch's page files in batch order (the truth's order: by path, then frame)
FILES=$(cd "$BATCH" && find . -type f ! -name truth.json ! -name '.*' | sed 's|^\./||' | LC_ALL=C sort)

wants() { [[ " $CONTENDERS " == *" $1 "* ]]; }

# measure NAME CMD...: runs CMD as a whole tree, writes $RESULTS/NAME.json
measure() {
  local name=$1
  shift
  python3 "$ROOT/scripts/measure.py" --stdout "$RESULTS/$name.stdout" --stderr "$RESULTS/$name.stderr" \
    -- "$@" >"$RESULTS/$name.json"
  local code
  code=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['exit_code'])" "$RESULTS/$name.json")
  if [ "$code" -ne 0 ]; then
    echo "bench: $name failed (exit $code):" >&2
    tail -20 "$RESULTS/$name.stderr" >&2
    exit 1
  fi
}

# cer NAME EVALUATE-ARGS...: mean CER (JSON) into $RESULTS/NAME.cer
cer() {
  local name=$1
  shift
  "$BIN/mailroom-lab" evaluate "$@" --truth "$BATCH/truth.json" --json |
    python3 -c "import json,sys; s=json.load(sys.stdin)['summary']; print(s['cer']['mean'])" >"$RESULTS/$name.cer"
}

loadavg() { cut -d' ' -f1 /proc/loadavg; }

if wants mailroom; then
  rm -rf "$BENCH_DIR/mailroom-out"
  loadavg >"$RESULTS/mailroom.load"
  profile_args=()
  [ -n "${MAILROOM_PROFILE:-}" ] && profile_args=(--profile "$MAILROOM_PROFILE")
  measure mailroom "$BIN/mailroom" run "$BATCH" --out "$BENCH_DIR/mailroom-out" --jobs "$JOBS" "${profile_args[@]}"
  cer mailroom "$BENCH_DIR/mailroom-out"
  find "$BENCH_DIR/mailroom-out" -name '*.pdf' -path '*/documents/*' -o -name '*.pdf' -path '*/evidence/*' |
    xargs -r stat -c %s | awk '{s += $1} END {print s + 0}' >"$RESULTS/mailroom.bytes"
fi

if wants ocrmypdf-clean || wants ocrmypdf-plain; then
  if ! command -v unpaper >/dev/null || ! command -v gs >/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get install -y -qq --no-install-recommends unpaper ghostscript >/dev/null
  fi
  if [ ! -x "$VENV/bin/ocrmypdf" ]; then
    echo "bench: installing OCRmyPDF $OCRMYPDF_VERSION and img2pdf into $VENV" >&2
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "ocrmypdf==$OCRMYPDF_VERSION" img2pdf
  fi
  # the pages as one image PDF, in batch order, images embedded as they are
  if [ ! -f "$BENCH_DIR/batch.pdf" ]; then
    (cd "$BATCH" && echo "$FILES" | tr '\n' '\0' | xargs -0 "$VENV/bin/img2pdf" -o "$BENCH_DIR/batch.pdf")
  fi
fi
for variant in clean plain; do
  wants "ocrmypdf-$variant" || continue
  if [ "$variant" = clean ]; then
    opts=(--deskew --clean --rotate-pages --output-type pdfa)
  else
    opts=(--output-type pdf)
  fi
  rm -f "$BENCH_DIR/ocrmypdf-$variant.pdf"
  loadavg >"$RESULTS/ocrmypdf-$variant.load"
  measure "ocrmypdf-$variant" "$VENV/bin/ocrmypdf" --jobs "$JOBS" -l deu "${opts[@]}" \
    "$BENCH_DIR/batch.pdf" "$BENCH_DIR/ocrmypdf-$variant.pdf"
  cer "ocrmypdf-$variant" "$BENCH_DIR/ocrmypdf-$variant.pdf" --pdf-text
  stat -c %s "$BENCH_DIR/ocrmypdf-$variant.pdf" >"$RESULTS/ocrmypdf-$variant.bytes"
done

if wants floor; then
  FLOOR_OUT="$BENCH_DIR/tesseract"
  rm -rf "$FLOOR_OUT"
  mkdir -p "$FLOOR_OUT"
  echo "$FILES" >"$BENCH_DIR/files.txt"
  loadavg >"$RESULTS/floor.load"
  # tesseract names its output <base>.tsv; the base is the input file's name
  measure floor env OMP_THREAD_LIMIT=1 bash -c \
    'cd "$1" && tr "\n" "\0" <"$2" | xargs -0 -P "$3" -I{} sh -c '"'"'tesseract "$1" "$2/$(basename "$1")" -l deu tsv >/dev/null 2>&1'"'"' _ {} "$4"' \
    _ "$BATCH" "$BENCH_DIR/files.txt" "$JOBS" "$FLOOR_OUT"
  cer floor "$FLOOR_OUT" --tesseract-tsv
  du -cb "$FLOOR_OUT"/*.tsv | tail -1 | cut -f1 >"$RESULTS/floor.bytes"
fi

# 5. the floor on the pages as mailroom reads them: plain tesseract on the page images of
# mailroom's PDFs (cleaned, upright, blank pages and separator sheets left out, as mailroom
# does not OCR them), at each image's resolution. It shows what the OCR of the same work
# costs without mailroom around it; the floor above reads skewed and turned pages, which
# Tesseract gives up on quickly. Needs the mailroom contender's output in BENCH_DIR.
if wants floor-cleaned; then
  DOCS="$BENCH_DIR/mailroom-out/documents"
  [ -d "$DOCS" ] || { echo "bench: floor-cleaned needs mailroom's output: run the mailroom contender first" >&2; exit 1; }
  PAGES_DIR="$BENCH_DIR/cleaned-pages"
  rm -rf "$PAGES_DIR" "$BENCH_DIR/tesseract-cleaned"
  mkdir -p "$PAGES_DIR" "$BENCH_DIR/tesseract-cleaned"
  : >"$BENCH_DIR/cleaned-pages.txt"
  for pdf in "$DOCS"/*.pdf; do
    base="$PAGES_DIR/$(basename "$pdf" .pdf)"
    pdfimages -png "$pdf" "$base"
    # x-ppi is column 13 of `pdfimages -list`; images are listed in the order they are written
    pdfimages -list "$pdf" | awk 'NR > 2 {print $13}' |
      paste -d' ' <(ls "$base"-*.png | LC_ALL=C sort) - >>"$BENCH_DIR/cleaned-pages.txt"
  done
  loadavg >"$RESULTS/floor-cleaned.load"
  measure floor-cleaned env OMP_THREAD_LIMIT=1 bash -c \
    'tr "\n" "\0" <"$1" | xargs -0 -P "$2" -I{} sh -c '"'"'set -- $1 "$2"; tesseract "$1" "$3/$(basename "$1" .png)" --dpi "$2" -l deu tsv >/dev/null 2>&1'"'"' _ {} "$3"' \
    _ "$BENCH_DIR/cleaned-pages.txt" "$JOBS" "$BENCH_DIR/tesseract-cleaned"
  du -cb "$BENCH_DIR/tesseract-cleaned"/*.tsv | tail -1 | cut -f1 >"$RESULTS/floor-cleaned.bytes"
fi

python3 - "$RESULTS" "$N" "$JOBS" "$BENCH_DIR" "$VENV" "$BIN" <<'EOF'
import datetime, json, os, platform, subprocess, sys
results, n, jobs, bench_dir, venv, bin_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]

def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
        return (out.stdout or out.stderr).strip().split("\n")[0]
    except OSError:
        return None

names = {
    "mailroom": "mailroom run (default profile)",
    "ocrmypdf-clean": "OCRmyPDF --deskew --clean --rotate-pages, PDF/A",
    "ocrmypdf-plain": "OCRmyPDF plain (--output-type pdf)",
    "floor": "tesseract (floor)",
    "floor-cleaned": "tesseract on mailroom's cleaned pages",
}
rows = {}
for key, label in names.items():
    path = os.path.join(results, key + ".json")
    if not os.path.exists(path):
        continue
    m = json.load(open(path))
    read = lambda ext: open(os.path.join(results, f"{key}.{ext}")).read().strip()
    rows[key] = {
        "name": label,
        "wall_s": m["wall_s"],
        "pages_per_min": round(n * 60 / m["wall_s"], 1),
        "cpu_s_per_page": round(m["cpu_s"] / n, 3),
        "peak_rss_mb": m["peak_rss_mb"],
        "peak_pss_mb": m["peak_pss_mb"],
        "output_kb_per_page": round(int(read("bytes")) / 1024 / n, 1),
        "cer_mean": float(read("cer")) if os.path.exists(os.path.join(results, f"{key}.cer")) else None,
        "load_before": float(read("load")),
    }
ratios = {}
def ratio(a, b):
    if a in rows and b in rows:
        ratios[f"{a}/{b}"] = round(rows[a]["pages_per_min"] / rows[b]["pages_per_min"], 2)
ratio("mailroom", "ocrmypdf-clean")
ratio("mailroom", "ocrmypdf-plain")
ratio("mailroom", "floor")
ratio("mailroom", "floor-cleaned")
# where mailroom's worker time goes: the documents' timings_ms, summed (ms of worker time)
breakdown = {}
out_dir = os.path.join(bench_dir, "mailroom-out", "documents")
if "mailroom" in rows and os.path.isdir(out_dir):
    for name in os.listdir(out_dir):
        if name.endswith(".json"):
            for stage, ms in json.load(open(os.path.join(out_dir, name))).get("timings_ms", {}).items():
                breakdown[stage] = breakdown.get(stage, 0) + ms
    total = sum(breakdown.values()) or 1
    rows["mailroom"]["worker_ms"] = breakdown
    rows["mailroom"]["worker_share"] = {k: round(v / total, 3) for k, v in breakdown.items()}
result = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "pages": n,
    "jobs": jobs,
    "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                "kernel": platform.release()},
    "versions": {
        "mailroom": version([os.path.join(bin_dir, "mailroom"), "--version"]),
        "tesseract": version(["tesseract", "--version"]),
        "ocrmypdf": version([os.path.join(venv, "bin", "ocrmypdf"), "--version"]),
        "ghostscript": version(["gs", "--version"]),
        "unpaper": version(["unpaper", "--version"]),
    },
    "contenders": rows,
    "ratios_pages_per_min": ratios,
}
json.dump(result, open(os.path.join(bench_dir, "bench.json"), "w"), indent=2)
print(f"{n} pages, {jobs} jobs, {result['versions']['tesseract']}")
print(f"{'contender':<50} {'wall s':>7} {'pages/min':>9} {'CPU s/pg':>8} {'RSS MB':>7} {'PSS MB':>7} {'KB/pg':>7} {'CER %':>6} {'load':>5}")
for r in rows.values():
    print(f"{r['name']:<50} {r['wall_s']:>7.1f} {r['pages_per_min']:>9.1f} {r['cpu_s_per_page']:>8.2f} "
          f"{r['peak_rss_mb']:>7.0f} {r['peak_pss_mb']:>7.0f} {r['output_kb_per_page']:>7.0f} "
          + (f"{r['cer_mean'] * 100:>6.2f}" if r["cer_mean"] is not None else f"{'-':>6}")
          + f" {r['load_before']:>5.1f}")
if breakdown:
    total = sum(breakdown.values()) or 1
    print("mailroom worker time: " + ", ".join(
        f"{k} {v / 1000:.1f} s ({v / total:.0%})" for k, v in sorted(breakdown.items(), key=lambda kv: -kv[1])))
for k, v in ratios.items():
    print(f"pages per minute {k}: {v}")
print(f"details: {bench_dir}/bench.json")
EOF

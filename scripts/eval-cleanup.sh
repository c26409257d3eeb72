#!/usr/bin/env bash
# Measures cleanup against ground truth (issue 3's acceptance figures):
#
#   scripts/eval-cleanup.sh [PAGES] [SEED] [JOBS]     (defaults: 120 pages, seed 3, 2 jobs)
#
# Generates a batch, runs mailroom twice on it (default profile; profiles/no-cleanup.toml),
# evaluates both against the truth and prints residual skew, rotation accuracy, blank
# detection, CER with and without cleanup, and cleanup time as a share of OCR time (worker
# milliseconds summed from the documents' timings). Writes $EVAL_DIR/eval-cleanup.json.
set -euo pipefail
cd "$(dirname "$0")/.."

PAGES=${1:-120}
SEED=${2:-3}
JOBS=${3:-2}
EVAL_DIR=${EVAL_DIR:-$(mktemp -d /tmp/mailroom-eval.XXXXXX)}
BATCH="$EVAL_DIR/batch"

cargo build --release --quiet --bins
BIN=target/release
[ -f "$BATCH/truth.json" ] || "$BIN/mailroom-lab" generate --pages "$PAGES" --seed "$SEED" --out "$BATCH"

for variant in on off; do
  profile=profiles/default.toml
  [ "$variant" = off ] && profile=profiles/no-cleanup.toml
  rm -rf "$EVAL_DIR/$variant"
  "$BIN/mailroom" run "$BATCH" --out "$EVAL_DIR/$variant" --jobs "$JOBS" --profile "$profile" >/dev/null || true
  "$BIN/mailroom-lab" evaluate "$EVAL_DIR/$variant" --truth "$BATCH/truth.json" --json >"$EVAL_DIR/$variant.eval.json"
done
"$BIN/mailroom-lab" evaluate "$EVAL_DIR/on" --truth "$BATCH/truth.json" >"$EVAL_DIR/on.eval.txt"

python3 - "$EVAL_DIR" <<'PY'
import glob, json, sys
d = sys.argv[1]
on = json.load(open(f"{d}/on.eval.json"))["summary"]
off = json.load(open(f"{d}/off.eval.json"))["summary"]
# worker milliseconds per stage, over the pages that were OCRed
cleanup_ms = ocr_ms = 0
for f in glob.glob(f"{d}/on/documents/*.json"):
    t = json.load(open(f))["timings_ms"]
    cleanup_ms += t["cleanup"]; ocr_ms += t["ocr"]
skew, rot, blank = on["skew_error"], on["rotation"], on["blank"]
cer_on, cer_off = on["cer"]["mean"], off["cer"]["mean"]
rows = [
    ("residual skew median (deg)", f"{skew['median']:.3f}", "<= 0.1", skew["median"] <= 0.1),
    ("residual skew worst (deg)", f"{skew['worst']:.3f}", "<= 0.3", skew["worst"] <= 0.3),
    ("pages with skew flagged uncertain", str(on["skew_uncertain_pages"]), "(few)", True),
    ("pages upright", f"{rot['upright']}/{rot['pages']} ({rot['accuracy']*100:.1f} %)", ">= 99 %", rot["accuracy"] >= 0.99),
    ("pages turned wrongly", str(rot["turned_wrongly"]), "0", rot["turned_wrongly"] == 0),
    ("pages with content judged blank", str(blank["content_judged_blank"]), "0", blank["content_judged_blank"] == 0),
    ("blank pages found", f"{blank['found']}/{blank['truly_blank']} ({blank['recall']*100:.1f} %)", ">= 98 %", blank["recall"] >= 0.98),
    ("mean CER with / without cleanup", f"{cer_on*100:.2f} % / {cer_off*100:.2f} %", "ratio <= 0.5", cer_on <= 0.5 * cer_off),
    ("cleanup time / OCR time", f"{cleanup_ms/ocr_ms*100:.1f} % ({cleanup_ms} / {ocr_ms} ms)", "<= 15 %", cleanup_ms <= 0.15 * ocr_ms),
]
print(f"{on['pages']} pages ({on['text_pages']} with content, {on['blank_pages']} blank); details: {d}/on.eval.txt")
for name, value, goal, ok in rows:
    print(f"  {'ok  ' if ok else 'MISS'} {name:<34} {value:<32} goal {goal}")
json.dump({"on": on, "off": off, "cleanup_ms": cleanup_ms, "ocr_ms": ocr_ms,
           "criteria": [dict(name=n, value=v, goal=g, ok=o) for n, v, g, o in rows]},
          open(f"{d}/eval-cleanup.json", "w"), indent=2)
PY

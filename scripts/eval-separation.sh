#!/usr/bin/env bash
# Measures barcodes, patch codes and document separation against ground truth (issue 4's
# acceptance figures):
#
#   scripts/eval-separation.sh [PAGES_PER_BATCH] [SEEDS] [JOBS]
#       (defaults: 110 pages, seeds "41 42 43" = about 330 sheets, 2 jobs)
#
# For each seed: generates a stream batch (cover sheets, patch sheets of all six types,
# separator barcodes, unrelated barcodes on letters, files across letters), runs mailroom
# with profiles/stream.toml, and evaluates it. Then sums up over all batches: barcode
# read rate per symbology and misreads, the patch-code confusion matrix, document
# boundaries, cover-sheet fields and page-count flags, and the time spent reading
# barcodes and patch codes as a share of OCR time (worker milliseconds from the
# documents' timings). Writes $EVAL_DIR/eval-separation.json.
set -euo pipefail
cd "$(dirname "$0")/.."

PAGES=${1:-110}
SEEDS=${2:-"41 42 43"}
JOBS=${3:-2}
EVAL_DIR=${EVAL_DIR:-$(mktemp -d /tmp/mailroom-eval.XXXXXX)}

cargo build --release --quiet --bins
BIN=target/release
for seed in $SEEDS; do
  batch="$EVAL_DIR/batch-$seed"
  out="$EVAL_DIR/out-$seed"
  [ -f "$batch/truth.json" ] || "$BIN/mailroom-lab" generate --stream --pages "$PAGES" --seed "$seed" --out "$batch" >/dev/null
  rm -rf "$out"
  "$BIN/mailroom" run "$batch" --out "$out" --jobs "$JOBS" --profile profiles/stream.toml >/dev/null || true
  "$BIN/mailroom-lab" evaluate "$out" --batch "$batch" --separation --json >"$EVAL_DIR/eval-$seed.json"
  "$BIN/mailroom-lab" evaluate "$out" --batch "$batch" --separation >"$EVAL_DIR/eval-$seed.txt" || true
done

python3 - "$EVAL_DIR" $SEEDS <<'PY'
import json, sys
from collections import defaultdict
d, seeds = sys.argv[1], sys.argv[2:]
evals = [json.load(open(f"{d}/eval-{s}.json")) for s in seeds]
pages = sum(e["summary"]["pages"] for e in evals)
fmt = defaultdict(lambda: [0, 0, 0])  # expected, found, misreads
misreads = []
for e in evals:
    for name, f in e["barcodes"]["per_format"].items():
        fmt[name][0] += f["expected"]; fmt[name][1] += f["found"]; fmt[name][2] += f["misreads"]
    misreads += e["barcodes"]["misread_barcodes"]
expected = sum(v[0] for v in fmt.values()); found = sum(v[1] for v in fmt.values())
labels = evals[0]["patches"]["labels"]
matrix = [[sum(e["patches"]["matrix"][i][j] for e in evals) for j in range(len(labels))] for i in range(len(labels))]
patch_pages = sum(e["patches"]["patch_pages"] for e in evals)
patch_right = sum(e["patches"]["right"] for e in evals)
false_patches = sum(e["patches"]["false_patches"] for e in evals)
sep = [e["separation"] for e in evals]
docs = sum(s["truth_documents"] for s in sep); docs_right = sum(s["right"] for s in sep)
unmatched = sum(len(s["unmatched_output_documents"]) for s in sep)
kept_sep = sum(s["separator_pages_kept"] for s in sep)
sep_pages = sum(s["separator_pages"] for s in sep)
covers = sum(s["covers"]["documents"] for s in sep); covers_right = sum(s["covers"]["right"] for s in sep)
flags_checked = sum(s["page_count_flags"]["checked"] for s in sep)
flags_correct = sum(s["page_count_flags"]["correct"] for s in sep)
flags_expected = sum(s["page_count_flags"]["expected_flags"] for s in sep)
cost = [e["reading_cost"] for e in evals]
bc_ms = sum(c["barcodes_ms"] for c in cost); patch_ms = sum(c["patch_ms"] or 0 for c in cost)
ocr_ms = sum(c["ocr_ms"] for c in cost); cost_pages = sum(c["pages"] for c in cost)
share = (bc_ms + patch_ms) / ocr_ms
print(f"{pages} sheets in {len(seeds)} stream batches ({d})")
print("barcodes per symbology:")
for name in sorted(fmt):
    e_, f_, m_ = fmt[name]
    print(f"  {name:<11} {f_:>4}/{e_:<4} read {100*f_/max(e_,1):6.2f} %  misreads {m_}")
print("patch codes (rows: truth, columns: found):")
print("  " + " " * 9 + "".join(f"{l:>9}" for l in labels))
for l, row in zip(labels, matrix):
    print(f"  {l:<9}" + "".join(f"{v:>9}" for v in row))
rows = [
    ("barcode read rate", f"{found}/{expected} ({100*found/max(expected,1):.2f} %)", ">= 99.5 %", found >= 0.995 * expected),
    ("barcodes misread", str(len(misreads)), "0", not misreads),
    ("patch sheets found and right", f"{patch_right}/{patch_pages}", "100 %", patch_right == patch_pages),
    ("false patches on other pages", str(false_patches), "0", false_patches == 0),
    ("document boundaries right", f"{docs_right}/{docs}", "100 %", docs_right == docs),
    ("output documents matching no letter", str(unmatched), "0", unmatched == 0),
    ("separator sheets kept in a PDF", f"{kept_sep} of {sep_pages}", "0", kept_sep == 0),
    ("cover sheets read right", f"{covers_right}/{covers}", "100 %", covers_right == covers),
    ("page-count checks right", f"{flags_correct}/{flags_checked} ({flags_expected} mismatches planted)", "100 %", flags_correct == flags_checked),
    ("barcode + patch time / OCR time", f"{100*share:.1f} % ({(bc_ms+patch_ms)/cost_pages:.0f} / {ocr_ms/cost_pages:.0f} ms per page)", "< 10 %", share < 0.10),
]
for name, value, goal, ok in rows:
    print(f"  {'ok  ' if ok else 'MISS'} {name:<36} {value:<40} goal {goal}")
for m in misreads:
    print("  misread:", m)
json.dump({"sheets": pages, "per_format": fmt, "patch_labels": labels, "patch_matrix": matrix,
           "criteria": [dict(name=n, value=v, goal=g, ok=o) for n, v, g, o in rows]},
          open(f"{d}/eval-separation.json", "w"), indent=2)
sys.exit(0 if all(r[3] for r in rows) else 1)
PY

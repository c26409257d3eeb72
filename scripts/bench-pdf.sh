#!/usr/bin/env bash
# PDF input figures (README "PDF input"): how much faster taking a scanner page's embedded
# image is than rendering it, and how the candidate renderers compare in speed and output.
#
#   scripts/bench-pdf.sh [PAGES] [SEED]      (default 24 pages, seed 5)
#
# 1. generates the same batch twice with mailroom-lab: as images, and with every file as a
#    scanner-style PDF (JPEG, CCITT G4, JBIG2, Flate; some pages turned by /Rotate or the
#    image matrix);
# 2. `mailroom-lab pdf-read`: every page read from its embedded image and rendered with
#    MuPDF at 300 dpi in one run, fastest of 3 each;
# 3. each renderer (MuPDF mutool, poppler pdftoppm, Ghostscript, pdfium if the Python
#    package pypdfium2 is importable) renders every page at 300 dpi gray; time per page
#    and the mean absolute difference (0-255) from the source image of the page.
set -euo pipefail
cd "$(dirname "$0")/.."
PAGES="${1:-24}"
SEED="${2:-5}"
PY="${PYTHON:-python3}"
cargo build --release -q
LAB=target/release/mailroom-lab
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
$LAB generate --out "$work/img" --pages "$PAGES" --seed "$SEED" 2>/dev/null
$LAB generate --out "$work/pdf" --pages "$PAGES" --seed "$SEED" --pdf all 2>/dev/null
echo "== reading the embedded image vs rendering with MuPDF at 300 dpi (fastest of 3)"
$LAB pdf-read --repeat 3 "$work"/pdf/*.pdf | tee "$work/read.tsv" | tail -1

echo "== renderers at 300 dpi gray, every page of $(ls "$work"/pdf/*.pdf | wc -l) PDFs"
mkdir -p "$work/r"
render() { # name, command with {in} {out} placeholders per file
  local name="$1" start end
  mkdir -p "$work/r/$name"
  start=$(date +%s.%N)
  for f in "$work"/pdf/*.pdf; do
    local b; b=$(basename "$f" .pdf)
    case "$name" in
      mupdf) mutool draw -q -r 300 -c gray -o "$work/r/$name/$b-%d.pgm" "$f" 2>/dev/null ;;
      poppler) pdftoppm -r 300 -gray "$f" "$work/r/$name/$b" ;;
      ghostscript) gs -q -dNOPAUSE -dBATCH -dSAFER -sDEVICE=pgmraw -r300 -sOutputFile="$work/r/$name/$b-%d.pgm" "$f" ;;
      pdfium) "$PY" - "$f" "$work/r/$name/$b" <<'PYEOF'
import sys, pypdfium2 as pdfium
doc = pdfium.PdfDocument(sys.argv[1])
for i in range(len(doc)):
    doc[i].render(scale=300/72, grayscale=True).to_pil().save(f"{sys.argv[2]}-{i+1}.pgm")
PYEOF
      ;;
    esac
  done
  end=$(date +%s.%N)
  echo "$name $start $end" >> "$work/times"
}
render mupdf
render poppler
render ghostscript
if "$PY" -c "import pypdfium2" 2>/dev/null; then render pdfium; else echo "pdfium: pypdfium2 not importable with $PY (PYTHON=... to use another python)"; fi
"$PY" - "$work" <<'PYEOF'
import sys, os, re, json, glob
from PIL import Image, ImageChops, ImageStat
work = sys.argv[1]
truth = json.load(open(os.path.join(work, "img", "truth.json")))
pages = [(p["file"], p["frame"]) for p in truth["pages"]]
def source(file, frame):
    im = Image.open(os.path.join(work, "img", file))
    im.seek(frame)
    return im.convert("L")
for line in open(os.path.join(work, "times")):
    name, start, end = line.split()
    secs = float(end) - float(start)
    diffs, sizes = [], 0
    for file, frame in pages:
        stem = os.path.splitext(file)[0]
        cands = sorted(glob.glob(os.path.join(work, "r", name, f"{stem}-*{frame+1}.p*m")))
        cands = [c for c in cands if re.search(rf"-0*{frame+1}\.p.m$", c)]
        if not cands:
            continue
        out = Image.open(cands[0]).convert("L")
        src = source(file, frame)
        if out.size != src.size:
            sizes += 1
            out = out.resize(src.size)
        diffs.append(ImageStat.Stat(ImageChops.difference(out, src)).mean[0])
    n = len(pages)
    print(f"{name:12s} {secs / n * 1000:7.1f} ms/page   mean |diff| from the source {sum(diffs)/max(len(diffs),1):5.2f}   pages of another size {sizes}/{len(diffs)}")
PYEOF

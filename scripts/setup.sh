#!/usr/bin/env bash
# Installs every system package that building, running and testing mailroom needs.
# Idempotent; run as root on Debian 12 (or with sudo). Safe to run again.
set -euo pipefail

PACKAGES=(
  # build: leptess links Tesseract and Leptonica; bindgen needs libclang
  build-essential pkg-config clang libclang-dev
  # the barcode reader (zxing-cpp) builds its bundled C++ library with cmake
  cmake
  libtesseract-dev libleptonica-dev
  # OCR models: German first, English, orientation/script detection
  tesseract-ocr tesseract-ocr-deu tesseract-ocr-eng tesseract-ocr-osd
  # independent checkers of our output used by the tests and the evaluation
  poppler-utils qpdf
  # the PDF/A checker (scripts/check_pdfa.py, run with /usr/bin/python3): pikepdf reads
  # the PDF, fontTools the embedded font, Pillow's ImageCms (Little CMS) the ICC profile
  python3 python3-pikepdf python3-fonttools python3-pil
  # fonts the sample generator renders letters with
  fonts-dejavu-core fonts-liberation2
  # TIFF tooling for test fixtures (tiffinfo, tiffcp)
  libtiff-tools
  # headless browser that renders the validate HTML report (tests/validate_html.rs)
  chromium
  # PDF input: MuPDF renders PDF pages that are not one embedded image and reads the
  # text of born-digital pages (chosen by measurement, README "PDF input"); jbig2dec
  # decodes JBIG2 page images (linked by mailroom)
  mupdf-tools libjbig2dec0-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all system packages present" >&2
fi

# Rust toolchain pieces used by the checks
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

# Mayan EDMS for the delivery tests (tests/mayan.rs): apt packages, venv, database (slow once)
bash "$(dirname "$0")/mayan.sh" install

tesseract --list-langs 2>/dev/null | grep -qx deu || { echo "setup: tesseract lacks the deu model" >&2; exit 1; }
echo "setup: ok (tesseract $(tesseract --version 2>&1 | head -1 | awk '{print $2}'))" >&2

#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the end-to-end tests that drive
# the real binary on generated batches (real Tesseract, qpdf, pdftotext).
# Run scripts/setup.sh once before (it installs the system packages these need).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in tesseract qpdf pdftotext pdfinfo; do
  command -v "$tool" >/dev/null || { echo "test.sh: $tool is missing; run scripts/setup.sh first" >&2; exit 1; }
done

cargo fmt --check
cargo clippy --release --all-targets -- -D warnings
# The local Mayan EDMS that tests/mayan.rs delivers to (seconds when it runs already)
bash scripts/mayan.sh start
# Release build: the image work in the tests is far too slow without optimisation.
cargo test --release
# A short fuzzing smoke run of every target (README "Fuzzing"): the seeds and the
# regression inputs of earlier findings, then new inputs for FUZZ_SECONDS each.
bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"

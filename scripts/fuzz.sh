#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input (README "Fuzzing"): page files (decode),
# profiles with routing rules (profile) and barcode payloads (barcode_payload), with
# cargo-fuzz and libFuzzer on the stable toolchain (no sanitizer: -Z flags need nightly).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 seconds for each target
#
# Runs the targets one after another, one process each (the machine has two cores).
# Starts from the committed seeds and regression inputs in fuzz/corpus/<target>/; new
# inputs libFuzzer finds go to fuzz/target/corpus/<target>/ (not committed), a crash or
# hang to fuzz/artifacts/<target>/ and the script fails. Minimise a crash with
# `cd fuzz && cargo fuzz tmin -O -a --sanitizer none <target> <artifact>`, fix it, and
# commit the minimised input to fuzz/corpus/<target>/ with a unit test.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
  TARGETS=(decode profile barcode_payload)
fi
CARGO_FUZZ_VERSION=0.13.2

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

cd fuzz
# -O: optimised; -a: with debug assertions and overflow checks (an overflow is a finding);
# 16 codegen units: the build takes a fraction of the time of cargo-fuzz's default of 1
FLAGS=(-O -a --sanitizer none --codegen-units 16)
cargo fuzz build "${FLAGS[@]}"
for t in "${TARGETS[@]}"; do
  mkdir -p "target/corpus/$t"
  dict=()
  if [ -f "$t.dict" ]; then dict=(-dict="$t.dict"); fi
  echo "fuzz.sh: $t for ${SECONDS_EACH}s" >&2
  # -timeout: one input taking longer is a hang; -rss_limit_mb: more memory is a finding
  cargo fuzz run "${FLAGS[@]}" "$t" "target/corpus/$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 "${dict[@]}"
done

#!/usr/bin/env bash
# `mailroom validate` end to end on a clean generated lot, and its hash phase against
# sha256sum on the same files, in one run.
#
#   scripts/bench-validate.sh [FILES] [PAGES_PER_FILE] [SEED]   (defaults: 100 20 2000)
#
# Generates a lot with `mailroom-lab delivery` (one multi-page TIFF per Akte, no defects;
# 100 x 20 = 2 000 pages by default) in $BENCH_DIR (default: a temp dir), then:
#   1. `sha256sum` over the payload, twice (the second, warm run counts: the validate run
#      reads the same files from the page cache too);
#   2. `mailroom validate BAG --inventory inventory.csv --json --html report.html`, timed
#      (GNU time: wall, CPU, peak RSS); its report gives the hash phase's own MB/s.
# Prints the decision, the phases and the ratio of the hash phase's speed to sha256sum's,
# and writes everything to $BENCH_DIR/bench-validate.json. Speed is measured here, never
# in the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=${1:-100}
PAGES=${2:-20}
SEED=${3:-2000}
JOBS=${JOBS:-$(nproc)}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/mailroom-bench-validate.XXXXXX)}
LOT="$BENCH_DIR/lot"

cargo build --release --quiet --bins
BIN=$PWD/target/release
if [ ! -f "$LOT/inventory.csv" ]; then
  "$BIN/mailroom-lab" delivery --out "$LOT" --files "$FILES" --pages "$PAGES" --seed "$SEED" >/dev/null
fi
BYTES=$(find "$LOT/bag/data" -type f -printf '%s\n' | awk '{s += $1} END {print s}')

sha_pass() {
  local start end
  start=$(date +%s.%N)
  (cd "$LOT/bag" && find data -type f -print0 | xargs -0 sha256sum >/dev/null)
  end=$(date +%s.%N)
  python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$end"
}
sha_pass >/dev/null
SHA_S=$(sha_pass)

TIMES="$BENCH_DIR/time.txt"
set +e
/usr/bin/time -f "%e %U %S %M" -o "$TIMES" "$BIN/mailroom" validate "$LOT/bag" \
  --inventory "$LOT/inventory.csv" --jobs "$JOBS" --json --html "$BENCH_DIR/report.html" \
  >"$BENCH_DIR/report.json" 2>"$BENCH_DIR/validate.stderr"
CODE=$?
set -e
if [ "$CODE" -ne 0 ] && [ "$CODE" -ne 7 ]; then
  echo "bench-validate: mailroom validate failed (exit $CODE):" >&2
  cat "$BENCH_DIR/validate.stderr" >&2
  exit 1
fi
read -r WALL USER SYS RSS <"$TIMES"

python3 - "$BENCH_DIR" "$BYTES" "$SHA_S" "$WALL" "$USER" "$SYS" "$RSS" "$CODE" "$JOBS" <<'EOF'
import datetime, json, os, platform, sys
out, nbytes, sha_s, wall, user, sys_s, rss, code, jobs = sys.argv[1:]
nbytes, sha_s, wall = int(nbytes), float(sha_s), float(wall)
r = json.load(open(os.path.join(out, "report.json")))
sha_mbs = nbytes / 1e6 / sha_s
ours = r["hash"]["mb_per_second"]
result = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                "load": os.getloadavg()},
    "jobs": int(jobs),
    "lot": r["lot"],
    "decision": r["decision"],
    "exit_code": int(code),
    "findings": len(r["findings"]),
    "sampling": {k: r["sampling"][k] for k in ("code_letter", "sample_size", "accept", "reject", "nonconforming")},
    "validate": {"wall_s": wall, "cpu_s": float(user) + float(sys_s), "peak_rss_mb": int(rss) / 1024,
                 "report_elapsed_s": r["elapsed_seconds"]},
    "hash_phase": {"bytes": r["hash"]["bytes"], "seconds": r["hash"]["seconds"], "mb_per_second": ours},
    "sha256sum": {"bytes": nbytes, "seconds": sha_s, "mb_per_second": sha_mbs},
    "hash_ratio_to_sha256sum": ours / sha_mbs,
}
json.dump(result, open(os.path.join(out, "bench-validate.json"), "w"), indent=2)
lot = r["lot"]
print(f"lot: {lot['files']} files, {lot['pages']} pages, {lot['bytes'] / 1e6:.0f} MB")
print(f"decision: {r['decision']} (exit {code}), {len(r['findings'])} findings, "
      f"sample {result['sampling']}")
print(f"validate: {wall:.1f} s wall, {result['validate']['cpu_s']:.1f} CPU-s, "
      f"peak RSS {result['validate']['peak_rss_mb']:.0f} MB")
print(f"hash phase: {ours:.0f} MB/s; sha256sum on the same files: {sha_mbs:.0f} MB/s; "
      f"ratio {ours / sha_mbs:.2f}")
print(f"load average {os.getloadavg()[0]:.1f}; results in {out}/bench-validate.json")
EOF

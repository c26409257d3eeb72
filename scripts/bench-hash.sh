#!/usr/bin/env bash
# Hashing speed of `mailroom validate`'s BagIt check against sha256sum on the same files.
#
#   scripts/bench-hash.sh [BAG]
#
# BAG: an existing bag (bagit.txt, data/, manifest-sha256.txt) to measure. Without it a
# bag of ~1.9 GB of /dev/urandom is generated in $BENCH_DIR (default: a temp dir; the bag
# is removed afterwards unless KEEP=1): 4 x 256 MiB, 16 x 32 MiB, 160 x 1 MiB and
# 1600 x 64 KiB, so both large-file streaming and per-file overhead count. Its manifest
# is written by sha256sum, so the runs below also prove the digests agree (0 findings).
#
# Timed, each twice; the second (warm) run is reported. Nothing is dropped from the page
# cache (that needs root), so the files are read from memory: this compares hashing and
# read overhead, not the disk. Times are whole-process wall clock (including start-up
# and the directory walk) and CPU seconds (user + sys, GNU time); MB = 10^6 bytes. On a
# shared machine the wall figures move with the load (printed); MB per CPU-second does
# not.
#   sha256sum sequential:  find | xargs -0 sha256sum            (one process at a time)
#   sha256sum parallel:    xargs -0 -P2 sha256sum, files of >= 1 MiB largest first, one
#                          per process, then the small ones 200 per process
#   mailroom-lab hash-bag --jobs 1 and --jobs 2
# Results also go to $BENCH_DIR/bench-hash.json. Speed is measured here, never in tests.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/mailroom-bench-hash.XXXXXX)}
if [ $# -ge 1 ]; then
  BAG=$(cd "$1" && pwd)
  GENERATED=0
else
  BAG="$BENCH_DIR/bag"
  GENERATED=1
  if [ "${KEEP:-0}" != 1 ]; then
    trap 'rm -rf "$BAG"' EXIT
  fi
fi

cargo build --release --quiet --bin mailroom-lab
LAB=$PWD/target/release/mailroom-lab

if [ "$GENERATED" = 1 ] && [ ! -f "$BAG/manifest-sha256.txt" ]; then
  echo "bench-hash: generating a bag in $BAG" >&2
  mkdir -p "$BAG/data/big" "$BAG/data/mid" "$BAG/data/page" "$BAG/data/small"
  for i in 1 2 3 4; do head -c 256M /dev/urandom >"$BAG/data/big/scan-$i.tif"; done
  for i in $(seq -w 1 16); do head -c 32M /dev/urandom >"$BAG/data/mid/akte-$i.pdf"; done
  head -c 160M /dev/urandom | split -b 1M -a 3 - "$BAG/data/page/seite-"
  head -c 100M /dev/urandom | split -b 64K -a 4 - "$BAG/data/small/blatt-"
  printf 'BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n' >"$BAG/bagit.txt"
  (cd "$BAG" && find data -type f -print0 | sort -z | xargs -0 sha256sum >manifest-sha256.txt)
  octets=$(find "$BAG/data" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
  streams=$(find "$BAG/data" -type f | wc -l)
  printf 'Source-Organization: bench-hash.sh\nPayload-Oxum: %s.%s\n' "$octets" "$streams" \
    >"$BAG/bag-info.txt"
fi

BYTES=$(find "$BAG/data" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
FILES=$(find "$BAG/data" -type f | wc -l)

sha_seq() {
  cd "$BAG" && find data -type f -print0 | xargs -0 sha256sum
}

sha_par() {
  cd "$BAG" || return 1
  find data -type f -size +1023k -printf '%s\t%p\0' | sort -z -rn | cut -z -f2- |
    xargs -0 -P2 -n1 sha256sum
  find data -type f -size -1024k -print0 | xargs -0 -P2 -n200 sha256sum
}

lab() {
  "$LAB" hash-bag "$BAG" --jobs "$1"
}
export BAG LAB
export -f sha_seq sha_par lab

# measure FUNC [ARGS]: "wall_s cpu_s" of FUNC run in a child bash (GNU time; CPU is
# user + sys of every process waited for, so a whole pipeline counts)
measure() {
  local log
  log=$(mktemp)
  /usr/bin/time -f "%e %U %S" -o "$log" bash -c "$*" >/dev/null
  awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$log"
  rm -f "$log"
}

# warm FUNC [ARGS]: run twice, print the second measurement
warm() {
  measure "$@" >/dev/null
  measure "$@"
}

# hash-bag must agree with sha256sum on every file of a bag sha256sum wrote.
FINDINGS=$(lab 2 | python3 -c "import json,sys; print(json.load(sys.stdin)['findings'])")
if [ "$FINDINGS" != 0 ] && [ "$GENERATED" = 1 ]; then
  echo "bench-hash: hash-bag reports $FINDINGS findings on a bag sha256sum wrote" >&2
  exit 1
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_SEQ=$(warm sha_seq)
T_PAR=$(warm sha_par)
T_J1=$(warm lab 1)
T_J2=$(warm lab 2)
LOAD="before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)"

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
SHA_NI=$(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)
NPROC=$(nproc)

python3 - "$BYTES" "$FILES" "$T_SEQ" "$T_PAR" "$T_J1" "$T_J2" "$CPU" "$SHA_NI" "$NPROC" \
  "$LOAD" "$FINDINGS" "$BENCH_DIR/bench-hash.json" <<'PY'
import json, sys
(bytes_, files, seq, par, j1, j2, cpu, sha_ni, nproc, load, findings, out) = sys.argv[1:]
bytes_, files = int(bytes_), int(files)
names = ["sha256sum (sequential)", "sha256sum (xargs -P2)",
         "mailroom-lab hash-bag --jobs 1", "mailroom-lab hash-bag --jobs 2"]
mb = bytes_ / 1e6
print(f"machine: {cpu}, nproc {nproc}, sha_ni {sha_ni}, loadavg {load}")
print(f"bag: {files} files, {mb:.0f} MB (warm page cache, second of two runs)")
print(f"{'tool':<32} {'wall s':>7} {'MB/s':>6} {'CPU s':>7} {'MB/CPU-s':>9}")
tools = {}
for n, t in zip(names, (seq, par, j1, j2)):
    wall, cpu_s = map(float, t.split())
    tools[n] = {"wall_seconds": wall, "cpu_seconds": cpu_s,
                "mb_per_second": mb / wall, "mb_per_cpu_second": mb / cpu_s}
    print(f"{n:<32} {wall:>7.3f} {mb / wall:>6.0f} {cpu_s:>7.3f} {mb / cpu_s:>9.0f}")
ratios = {
    "jobs1_vs_sequential_wall": tools[names[2]]["mb_per_second"] / tools[names[0]]["mb_per_second"],
    "jobs2_vs_parallel_wall": tools[names[3]]["mb_per_second"] / tools[names[1]]["mb_per_second"],
    "jobs1_vs_sequential_cpu": tools[names[2]]["mb_per_cpu_second"] / tools[names[0]]["mb_per_cpu_second"],
}
for k, v in ratios.items():
    print(f"ratio {k}: {v:.2f}")
json.dump({"cpu": cpu, "nproc": int(nproc), "sha_ni": sha_ni == "yes", "loadavg": load,
           "files": files, "bytes": bytes_, "hash_bag_findings": int(findings),
           "tools": tools, "ratios": ratios}, open(out, "w"), indent=2)
PY

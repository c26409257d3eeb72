#!/bin/bash
# Rerun everything: generate pages, build, benchmark all strategies (single thread each, sequential).
set -e
cd "$(dirname "$0")"
[ -f pages/truth.tsv ] || (cd gen && cargo build --release -j1 && ./target/release/gen ../pages 64 8)
(cd bench-rxing && cargo build --release -j1)
(cd bench-zxingcpp && cargo build --release -j1)
mkdir -p results
: > results/summary.tsv
for s in ${ZX_STRATEGIES:-full noinv half median median_half fast fast_half full+fmt median+fmt noinv_median+fmt}; do
  echo "# load $(cut -d' ' -f1-3 /proc/loadavg)" >> results/summary.tsv
  ./bench-zxingcpp/target/release/bench-zxingcpp pages $s results/detail-zxingcpp-$s.tsv 2>results/log-zxingcpp-$s.txt | tee -a results/summary.tsv
done
for s in ${RX_STRATEGIES:-full half median median_half full+fmt median+fmt half_median+fmt}; do
  echo "# load $(cut -d' ' -f1-3 /proc/loadavg)" >> results/summary.tsv
  ./bench-rxing/target/release/bench-rxing pages $s results/detail-rxing-$s.tsv 2>results/log-rxing-$s.txt | tee -a results/summary.tsv
done

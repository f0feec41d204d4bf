#!/usr/bin/env bash
# Benchmarks the pipeline (release build) on the real broker and Redis: N runs, each on a freshly
# started tansu and Redis (tansu's memory engine slows down as it accumulates data, so runs must not
# share one), printing every run and then the median of each figure across runs.
#
#   scripts/bench.sh [--runs N] [speedlead bench options]
#   scripts/bench.sh --runs 3 --rate 100 --duration-secs 20
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/lib/infra.sh

RUNS=3
if [ "${1:-}" = "--runs" ]; then
  RUNS=$2
  shift 2
fi

cargo build --release --bin speedlead
OUT=$(mktemp)
for i in $(seq 1 "$RUNS"); do
  start_infra "$(pwd)/.test-run/bench"
  echo "== run $i of $RUNS: speedlead bench $*" | tee -a "$OUT"
  ./target/release/speedlead bench --brokers "$SL_TEST_BROKERS" --redis "$SL_TEST_REDIS" "$@" | tee -a "$OUT"
  stop_infra
done

echo "== median of $RUNS runs"
awk '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return a[int((n + 1) / 2)]
  }
  /^(baseline:|inbound|webhook)/ {
    name = $0; sub(/ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$/, "", name)
    if (!(name in seen)) { seen[name] = 1; order[++rows] = name }
    p50[name] = p50[name] " " $(NF-3); p95[name] = p95[name] " " $(NF-2); p99[name] = p99[name] " " $(NF-1); mx[name] = mx[name] " " $NF
  }
  /^(intake|router):/ {
    name = $0; sub(/ +[0-9.]+ +[0-9.]+ +[0-9.]+$/, "", name)
    if (!(name in wseen)) { wseen[name] = 1; worder[++wrows] = name }
    w50[name] = w50[name] " " $(NF-2); w95[name] = w95[name] " " $(NF-1); w99[name] = w99[name] " " $NF
  }
  /^sent / {
    gsub(/,|;/, ""); lost = lost " " $6; tput = tput " " $8
  }
  END {
    printf "%-34s %8s %8s %8s %8s\n", "segment (ms)", "p50", "p95", "p99", "max"
    for (r = 1; r <= rows; r++) { k = order[r]; printf "%-34s %8s %8s %8s %8s\n", k, median(p50[k]), median(p95[k]), median(p99[k]), median(mx[k]) }
    for (r = 1; r <= wrows; r++) { k = worder[r]; printf "%-42s %8s %8s %8s\n", k, median(w50[k]), median(w95[k]), median(w99[k]) }
    printf "throughput %s leads/s, lost %s (medians)\n", median(tput), median(lost)
  }' "$OUT"
rm -f "$OUT"

#!/usr/bin/env bash
# Runs speedlead's whole test suite against a real Kafka-protocol broker (tansu) and a real Redis.
#
# Installs what is missing (tansu 0.6.0 via cargo, redis-server and chromium from Debian packages),
# starts tansu and Redis on free loopback ports, exports their addresses as SL_TEST_BROKERS and
# SL_TEST_REDIS (not SPEEDLEAD_*, which speedlead reads as configuration), runs the tests, and stops
# both again, also on failure.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test pipeline`).
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/lib/infra.sh

RUN_DIR="$(pwd)/.test-run"
ensure_chromium
start_infra "$RUN_DIR"
status=0
cargo test --workspace --no-fail-fast --features speedlead/integration "$@" 2>&1 | tee "$RUN_DIR/cargo-test.log" || status=$?

# One closing line over every test binary (cargo prints one result line per binary, the last of them
# usually for a crate's zero doc-tests).
count() { grep '^test result:' "$RUN_DIR/cargo-test.log" | grep -oE "[0-9]+ $1" | awk '{ n += $1 } END { print n + 0 }'; }
echo "total: $(count passed) passed, $(count failed) failed"
exit "$status"

#!/usr/bin/env bash
# Runs speedlead's whole test suite against a real Kafka-protocol broker (tansu) and a real Redis.
#
# Installs what is missing (tansu 0.6.0 via cargo, redis-server from Debian packages), starts both on
# free loopback ports, exports their addresses as SL_TEST_BROKERS and SL_TEST_REDIS (not SPEEDLEAD_*,
# which speedlead reads as configuration), runs the tests, and stops both again, also on failure.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test pipeline`).
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/lib/infra.sh

start_infra "$(pwd)/.test-run"
cargo test --workspace --features speedlead/integration "$@"

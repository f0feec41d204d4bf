# Shared by scripts/test.sh and scripts/bench.sh: install, start and stop the real broker (tansu) and
# Redis on free loopback ports. Source it, then call `start_infra DIR`; it exports SL_TEST_BROKERS,
# SL_TEST_REDIS and registers cleanup on exit.

TANSU_VERSION=0.6.0
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_tansu() {
  if command -v tansu >/dev/null 2>&1 && tansu --version 2>/dev/null | grep -q "tansu $TANSU_VERSION"; then
    return
  fi
  log "installing tansu $TANSU_VERSION (first time only; takes 10-15 minutes)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore
}

ensure_redis() {
  if command -v redis-server >/dev/null 2>&1; then
    return
  fi
  log "installing redis-server from Debian packages"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null
}

# Debian's Chromium, for the dashboard test in a real browser (tests/dashboard_browser.rs).
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    return
  fi
  log "installing chromium from Debian packages (for the dashboard browser test)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! port_in_use "$port"; then
      echo "$port"
      return
    fi
  done
  log "no free port found"
  exit 1
}

wait_for_port() {
  local port=$1 name=$2 logfile=$3
  for _ in $(seq 1 200); do
    if port_in_use "$port"; then return; fi
    sleep 0.05
  done
  log "$name did not start listening on $port; its log:"
  cat "$logfile" >&2 || true
  exit 1
}

PIDS=()
cleanup() {
  local status=$?
  stop_infra
  exit "$status"
}
trap cleanup EXIT INT TERM

# Starts fresh tansu (memory storage) and Redis (AOF on) with their logs and data under $1.
start_infra() {
  local run_dir=$1
  ensure_tansu
  ensure_redis
  rm -rf "$run_dir"
  mkdir -p "$run_dir/redis"

  KAFKA_PORT=$(free_port)
  tansu broker \
    --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine memory://tansu/ >"$run_dir/tansu.log" 2>&1 &
  PIDS+=($!)

  REDIS_PORT=$(free_port)
  while [ "$REDIS_PORT" = "$KAFKA_PORT" ]; do REDIS_PORT=$(free_port); done
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly yes \
    --dir "$run_dir/redis" --daemonize no >"$run_dir/redis.log" 2>&1 &
  PIDS+=($!)

  wait_for_port "$KAFKA_PORT" tansu "$run_dir/tansu.log"
  wait_for_port "$REDIS_PORT" redis "$run_dir/redis.log"

  export SL_TEST_BROKERS="127.0.0.1:$KAFKA_PORT"
  export SL_TEST_REDIS="redis://127.0.0.1:$REDIS_PORT"
  # For outage tests: pause the broker with SIGSTOP/SIGCONT (its memory engine forgets on exit).
  export SL_TEST_BROKER_PID="${PIDS[0]}"
  log "tansu on $SL_TEST_BROKERS, redis on $SL_TEST_REDIS"
}

# Stops what start_infra started (also called on exit).
stop_infra() {
  for pid in "${PIDS[@]}"; do
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

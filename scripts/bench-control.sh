#!/usr/bin/env bash
# Throughput with auth + an in-memory rate limit + a budget off vs on, same binary, same harness
# (../shared/bench: nginx mock, oha, gateway pinned to one core), alternating OFF/ON so drift on
# this shared machine hits both sides. Logging is off on both sides (measured on its own by
# scripts/bench-logging.sh). Prints one line per run with rps and the gateway's CPU µs/request.
#   scripts/bench-control.sh [--duration 10] [--rounds 3]
# Needs: ../shared/bench/install-tools.sh once, and cargo build --release -p switchyard.
set -euo pipefail
cd "$(dirname "$0")/.."
B=../shared/bench
BIN=${SWITCHYARD_BIN:-$PWD/target/release/switchyard}
DURATION=10 ROUNDS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
trap '"$B/peers/switchyard.sh" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
printf '[logs]\nenabled = false\n' >"$work/off.toml"
cat >"$work/on.toml" <<CONF
[logs]
enabled = false
[auth]
required = true
admin_token = "bench-admin-token-0123456789"
url = "sqlite://$work/keys.db"
[[rate_limits]]
scope = "key"
limit = 1000000000
window = "1m"
CONF
key=$("$BIN" keys --config "$work/on.toml" create --name bench --budget 1000000/month 2>/dev/null)
"$B/mock-upstream.sh" start >/dev/null 2>&1 || true
for round in $(seq "$ROUNDS"); do
  for mode in off on; do
    header='Authorization: Bearer sk-client'
    [[ $mode == on ]] && header="Authorization: Bearer $key"
    SWITCHYARD_CONFIG_EXTRA="$work/$mode.toml" "$B/peers/switchyard.sh" start >/dev/null
    pid=$(cat "${BENCH_HOME:-$HOME/.cache/gw-bench}/run/switchyard.pid")
    t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
    out=$("$B/bench.sh" --url http://127.0.0.1:18100 --model mock/gpt-4o-mini --label "control-$mode-r$round" \
      --duration "$DURATION" --header "$header" 2>/dev/null | grep '^{')
    t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
    "$B/peers/switchyard.sh" stop >/dev/null
    python3 -c "
import json, sys
d = json.loads(sys.argv[1]); cpu = ($t1 - $t0) / 100.0
print('%-16s rps=%8.0f p50=%.2f ms p99=%.2f ms cpu_us/req=%.1f non_2xx=%d' % (d['label'], d['rps'], d['p50_ms'], d['p99_ms'], cpu * 1e6 / d['requests'], d['non_2xx']))
" "$out"
  done
done

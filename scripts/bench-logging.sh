#!/usr/bin/env bash
# Throughput with the request log off vs on (SQLite, bodies included), same binary, same harness
# (../shared/bench: nginx mock, oha, gateway pinned to one core), alternating OFF/ON/OFF/ON so
# drift on this shared machine hits both sides. Prints one JSON line per run.
#   scripts/bench-logging.sh [--duration 15] [--rounds 2] [--stream]
# Needs: ../shared/bench/install-tools.sh once, and cargo build --release -p switchyard.
set -euo pipefail
cd "$(dirname "$0")/.."
B=../shared/bench
DURATION=15 ROUNDS=2 STREAM=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --stream) STREAM=(--stream); shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
off=$(mktemp); on=$(mktemp)
printf '[logs]\nenabled = false\n' >"$off"
printf '[logs]\nenabled = true\ncollect_payloads = true\n' >"$on"
"$B/mock-upstream.sh" start >/dev/null 2>&1 || true
trap '"$B/peers/switchyard.sh" stop >/dev/null 2>&1 || true; rm -f "$off" "$on"' EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for round in $(seq "$ROUNDS"); do
  for mode in off on; do
    conf=$off; [[ $mode == on ]] && conf=$on
    rm -rf "${BENCH_HOME:-$HOME/.cache/gw-bench}/switchyard/.switchyard"
    SWITCHYARD_CONFIG_EXTRA=$conf "$B/peers/switchyard.sh" start >/dev/null
    pid=$(cat "${BENCH_RUN:-${BENCH_HOME:-$HOME/.cache/gw-bench}/run}/switchyard.pid")
    before=$(cpu_ticks "$pid")
    line=$("$B/bench.sh" --url http://127.0.0.1:18100 --model mock/gpt-4o-mini --label "logging-$mode-r$round" \
      --duration "$DURATION" --header 'Authorization: Bearer x' "${STREAM[@]}" 2>/dev/null)
    after=$(cpu_ticks "$pid")
    # the gateway's own CPU time per request (user + system, all its threads): steadier than rps
    # on a shared machine
    python3 -c 'import json,sys,os; d=json.loads(sys.argv[1]); t=(int(sys.argv[3])-int(sys.argv[2]))/os.sysconf("SC_CLK_TCK"); d["cpu_us_per_req"]=round(t*1e6/max(d["requests"],1),1); print(json.dumps(d))' "$line" "$before" "$after"
    "$B/peers/switchyard.sh" stop >/dev/null
  done
done

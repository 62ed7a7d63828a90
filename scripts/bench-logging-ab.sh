#!/usr/bin/env bash
# Logging on vs off measured at the same time: two gateways (same binary, one with the SQLite
# request log on, bodies included, one with it off) pinned to the SAME core, each driven by its
# own oha (16 connections each, both on the load generator's core) for the same seconds. They
# share one core, so the ratio of their throughputs is the ratio of their costs per request, and
# whatever this shared machine does meanwhile (its speed moves ±15 % from one run to the next)
# hits both alike. Sides swap ports every round.
#   scripts/bench-logging-ab.sh [--duration 10] [--rounds 6] [--stream]
# Needs: ../shared/bench/install-tools.sh once, and cargo build --release -p switchyard.
# Prints one line per round and the median of on/off.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD B=../shared/bench DURATION=10 ROUNDS=6 STREAM=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --stream) STREAM=(--stream); shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source "$B/lib/common.sh"
"$B/mock-upstream.sh" start >/dev/null 2>&1 || true
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

start() { # start MODE PORT → pid
  local dir="$work/$1-$2"
  rm -rf "$dir"; mkdir -p "$dir"
  cat >"$dir/conf.toml" <<CONF
[server]
listen = "127.0.0.1:$2"

[providers.mock]
kind = "openai"
base_url = "$MOCK_BASE/v1"
api_key = "$DUMMY_KEY"

[logs]
enabled = $([[ $1 == on ]] && echo true || echo false)
collect_payloads = true
CONF
  (cd "$dir" && exec taskset -c "$GATEWAY_CPU" "$ROOT/target/release/switchyard" serve --config conf.toml >"$dir/log" 2>&1) &
  echo $!
}

ratios=()
for round in $(seq "$ROUNDS"); do
  if (( round % 2 )); then on_port=18100 off_port=18101; else on_port=18101 off_port=18100; fi
  on_pid=$(start on $on_port); off_pid=$(start off $off_port); pids=("$on_pid" "$off_pid")
  wait_http "http://127.0.0.1:$on_port/healthz" 30 && wait_http "http://127.0.0.1:$off_port/healthz" 30
  run() { "$B/bench.sh" --url "http://127.0.0.1:$1" --model mock/gpt-4o-mini --label "$2" "${STREAM[@]}" \
    --duration "$DURATION" --concurrency 16 --header 'Authorization: Bearer x' 2>/dev/null | grep '^{'; }
  ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  on0=$(ticks "$on_pid") off0=$(ticks "$off_pid")
  run $on_port on >"$work/on.json" & a=$!
  run $off_port off >"$work/off.json" & b=$!
  wait $a $b
  on1=$(ticks "$on_pid") off1=$(ticks "$off_pid")
  kill "$on_pid" "$off_pid" 2>/dev/null || true
  wait "$on_pid" "$off_pid" 2>/dev/null || true
  r=$(python3 - "$work/on.json" "$work/off.json" "$round" "$on_port" $((on1 - on0)) $((off1 - off0)) <<'PY'
import json,os,sys
on=json.load(open(sys.argv[1])); off=json.load(open(sys.argv[2]))
hz=os.sysconf("SC_CLK_TCK")
# each gateway's own CPU time (all its threads) per request: the cost, whatever share of
# the core the scheduler gave each side
cpu_on=int(sys.argv[5])/hz*1e6/on["requests"]; cpu_off=int(sys.argv[6])/hz*1e6/off["requests"]
ratio=on["rps"]/off["rps"]; cost=cpu_off/cpu_on
print(f"round {sys.argv[3]} (on at :{sys.argv[4]}): on {on['rps']:.0f} rps {cpu_on:.1f} µs/req, off {off['rps']:.0f} rps {cpu_off:.1f} µs/req; rps on/off {ratio:.3f} ({(ratio-1)*100:+.1f} %), throughput from cost {cost:.3f} ({(cost-1)*100:+.1f} %)", file=sys.stderr)
print(f"{ratio},{cost}")
PY
)
  ratios+=("$r")
done
python3 - "${ratios[@]}" <<'PY'
import statistics,sys
pairs=[tuple(map(float,x.split(","))) for x in sys.argv[1:]]
for i,name in ((0,"rps on/off"),(1,"throughput from CPU per request, off/on")):
    r=[p[i] for p in pairs]; m=statistics.median(r)
    print(f"median {name}: {m:.3f} ({(m-1)*100:+.1f} %), rounds {len(r)}, range {min(r):.3f}–{max(r):.3f}")
PY

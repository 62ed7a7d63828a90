#!/usr/bin/env bash
# Instructions per request with the request log off vs on, counted by valgrind's callgrind: a
# deterministic figure (unlike rps or CPU time on a shared machine) for comparing builds. The
# gateway runs under callgrind against the harness's nginx mock; after a warm-up the counters are
# zeroed, N requests are sent (oha, 4 connections), and the counts dumped.
#   scripts/log-instructions.sh [N]      (default 2000; needs valgrind, ../shared/bench tools,
#                                         cargo build --release -p switchyard)
#   CG_OPTS=--cache-sim=yes scripts/log-instructions.sh   also prints simulated first-level
#                                         instruction-cache misses per request
# Prints one line per mode: `off Ir/req …`, `on Ir/req …`. Per-batch costs of the writer weigh
# more here than under real load (a few hundred requests/s under callgrind: ~10 rows a batch).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD N=${1:-2000} B=../shared/bench PORT=18190
OHA=${OHA:-${BENCH_HOME:-$HOME/.cache/gw-bench}/tools/bin/oha}
"$B/mock-upstream.sh" start >/dev/null 2>&1 || true
BODY='{"model":"mock/gpt-4o-mini","messages":[{"role":"system","content":"You are a concise assistant. Answer in one short sentence."},{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"The capital of France is Paris."},{"role":"user","content":"Say goodbye politely."}],"max_tokens":16,"temperature":0}'
for mode in off on; do
  dir=$(mktemp -d)
  cat >"$dir/conf.toml" <<CONF
[server]
listen = "127.0.0.1:$PORT"

[providers.mock]
kind = "openai"
base_url = "http://127.0.0.1:18080/v1"
api_key = "sk-bench-dummy"

[logs]
enabled = $([[ $mode == on ]] && echo true || echo false)
collect_payloads = true
CONF
  (cd "$dir" && exec valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" ${CG_OPTS:-} \
    "$ROOT/target/release/switchyard" serve --config "$dir/conf.toml" >"$dir/log" 2>&1) &
  vg=$!
  for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.5; done
  send() { "$OHA" -n "$1" -c 4 --no-tui -m POST -H 'Authorization: Bearer x' \
    -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$PORT/v1/chat/completions" >/dev/null; }
  send 300
  callgrind_control -z "$vg" >/dev/null 2>&1
  send "$N"
  sleep 0.3
  callgrind_control -d "$vg" >/dev/null 2>&1
  sleep 1
  kill "$vg" 2>/dev/null || true
  wait "$vg" 2>/dev/null || true
  dump=$(ls "$dir"/cg.out.* | head -1)
  totals=$(callgrind_annotate "$dump" 2>/dev/null | grep -m1 'PROGRAM TOTALS' | tr -d ',' | sed 's/([^)]*)//g')
  total=$(awk '{print $1}' <<<"$totals")
  if [[ ${CG_OPTS:-} == *cache-sim=yes* ]]; then
    # events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
    echo "$mode Ir/req $((total / N)) I1-misses/req $(( $(awk '{print $4}' <<<"$totals") / N ))"
  else
    echo "$mode Ir/req $((total / N))"
  fi
  rm -rf "$dir"
done

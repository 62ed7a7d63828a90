#!/usr/bin/env bash
# What a newcomer does first, checked end to end (CI runs it): README's run command
# (scripts/serve.sh: install, build, fetch the default models, serve) on a free port, wait until
# /readyz answers, ask the default model one chat question and the embedding model one text, and
# stop the gateway. Fails with the gateway's output when any step does.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
scripts/serve.sh --listen 127.0.0.1:0 >"$out" 2>&1 &
pid=$!
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
fail() { echo "first-run-check: $1" >&2; tail -n 60 "$out" >&2; stop; exit 1; }
trap stop EXIT
# the first run builds the release binary: allow it an hour
deadline=$((SECONDS + 3600))
url=""
while [ -z "$url" ]; do
  kill -0 "$pid" 2>/dev/null || fail "scripts/serve.sh exited before the gateway listened"
  ((SECONDS < deadline)) || fail "no gateway after an hour"
  url=$(sed -n 's/^switchyard listening on //p' "$out" | head -n 1)
  [ -n "$url" ] || sleep 2
done
python3 - "$url" <<'PY' || fail "the first requests did not answer as README says"
import json, sys, time, urllib.request
url = sys.argv[1]
def call(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.status, json.loads(r.read())
for _ in range(60):
    try:
        if call("/readyz")[0] == 200:
            break
    except OSError:
        time.sleep(1)
else:
    sys.exit("/readyz never answered 200")
models = [m["id"] for m in call("/v1/models")[1]["data"]]
assert "default" in models and "default-embeddings" in models, models
status, chat = call("/v1/chat/completions", {"model": "default", "max_tokens": 24,
    "messages": [{"role": "user", "content": "Say hello in one short sentence."}]})
text = chat["choices"][0]["message"]["content"]
assert status == 200 and text.strip(), chat
status, emb = call("/v1/embeddings", {"model": "default-embeddings", "input": "Hello"})
assert status == 200 and len(emb["data"][0]["embedding"]) == 384, emb
print(f"first-run-check: default model answered {text.strip()!r}; embeddings have 384 dimensions")
PY

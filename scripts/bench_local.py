#!/usr/bin/env python3
"""Local-model throughput through the full HTTP path of a running gateway (stdlib only).

usage: bench_local.py URL TEXT_MODEL EMBED_MODEL [--streams N]
Prints one JSON object: prompt tok/s, single-stream generation tok/s, N-stream total tok/s,
time to first token for a ~500-token prompt, embeddings sentences/s at batch 32.
"""
import array, base64, json, statistics, sys, threading, time, urllib.request

url, text_model, embed_model = sys.argv[1:4]
streams = int(sys.argv[sys.argv.index("--streams") + 1]) if "--streams" in sys.argv else 8

def post(path, body, stream=False):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    return urllib.request.urlopen(req, timeout=600)

# ~500 tokens of plain text (SmolLM2's tokenizer: about one token per word here)
LONG = " ".join(f"word{i % 97} is number {i}." for i in range(62))

def prompt_run():
    t = time.perf_counter()
    r = json.load(post("/v1/completions", {"model": text_model, "prompt": LONG, "max_tokens": 1, "temperature": 0}))
    return r["usage"]["prompt_tokens"], time.perf_counter() - t

def gen_run(n=128):
    """Streams n tokens; (tokens, seconds from the first token to the last, ttft)."""
    t0 = time.perf_counter()
    first = last = None
    count = 0
    with post("/v1/completions", {"model": text_model, "prompt": "Once upon a time", "max_tokens": n,
                                  "temperature": 0, "ignore_eos": True, "stream": True,
                                  "stream_options": {"include_usage": True}}) as r:
        for line in r:
            line = line.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            ev = json.loads(line[6:])
            if ev.get("usage"):
                count = ev["usage"]["completion_tokens"]
                continue
            now = time.perf_counter()
            if first is None:
                first = now
            last = now
    return count, last - first, first - t0

# warm up (loads the models)
prompt_run(); gen_run(8)
json.load(post("/v1/embeddings", {"model": embed_model, "input": ["warm up"]}))

pp = [prompt_run() for _ in range(5)]
prompt_tokens = pp[0][0]
pp_tps = statistics.median(n / s for n, s in pp)
ttft_ms = statistics.median(s for _, s in pp) * 1000

tg = [gen_run() for _ in range(3)]
# tokens after the first, over the time between the first and the last
tg_tps = statistics.median((n - 1) / s for n, s, _ in tg)

def many(k):
    results = [None] * k
    def one(i):
        results[i] = gen_run()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(k)]
    t = time.perf_counter()
    for th in threads: th.start()
    for th in threads: th.join()
    wall = time.perf_counter() - t
    return sum(r[0] for r in results) / wall

multi = statistics.median(many(streams) for _ in range(2))
single_wall = statistics.median(many(1) for _ in range(2))

SENT = [f"A sentence about topic number {i} and what it means for the reader." for i in range(32)]
# floats as JSON numbers, and base64 (what the OpenAI SDKs ask for unless told otherwise), decoded
# to float arrays by the client either way; the two alternate so drift hits both
emb, emb64 = [], []
for _ in range(10):
    t = time.perf_counter()
    json.load(post("/v1/embeddings", {"model": embed_model, "input": SENT}))
    emb.append(32 / (time.perf_counter() - t))
    t = time.perf_counter()
    reply = json.load(post("/v1/embeddings", {"model": embed_model, "input": SENT, "encoding_format": "base64"}))
    vectors = [array.array("f", base64.b64decode(d["embedding"])) for d in reply["data"]]
    assert len(vectors) == 32 and len(vectors[0]) == 384
    emb64.append(32 / (time.perf_counter() - t))

print(json.dumps({
    "prompt_tokens": prompt_tokens, "prompt_tok_s": round(pp_tps, 1), "ttft_ms_500_tokens": round(ttft_ms, 1),
    "gen_tok_s_one_stream": round(tg_tps, 1), "total_tok_s_one_stream_wall": round(single_wall, 1),
    f"total_tok_s_{streams}_streams": round(multi, 1), "batching_ratio": round(multi / single_wall, 2),
    "embed_sentences_s_batch32": round(statistics.median(emb), 1),
    "embed_sentences_s_batch32_base64": round(statistics.median(emb64), 1),
}))

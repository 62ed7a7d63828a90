"""Cloudflare's official `cloudflare` Python SDK pointed at Switchyard with `base_url = …/client/v4`,
and the `openai` SDK pointed at Workers AI's OpenAI-compatible base URL
(`…/client/v4/accounts/{id}/ai/v1`), changing nothing else (run by tests/sdk_clients.rs:
argv[1] is the gateway).
"""
import sys

import cloudflare
import openai

base = sys.argv[1]
ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
CHAT = "@cf/meta/llama-3.1-8b-instruct"
EMBED = "@cf/baai/bge-small-en-v1.5"


def field(obj, name):
    """The SDK returns dicts or typed models depending on the response's shape."""
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


cf = cloudflare.Cloudflare(api_token="cf-token-the-app-had", base_url=base + "/client/v4")

# text generation: messages, then a prompt
out = cf.ai.run(CHAT, account_id=ACCOUNT, messages=[{"role": "user", "content": "Hi"}])
assert field(out, "response") == "Hello from mock", out
out = cf.ai.run(CHAT, account_id=ACCOUNT, prompt="Hi", max_tokens=16)
assert field(out, "response") == "Hello from mock", out

# embeddings: {shape, data}
out = cf.ai.run(EMBED, account_id=ACCOUNT, text=["one", "two"])
shape = field(out, "shape")
assert shape[0] == 2 and len(field(out, "data")) == 2, out

# the model catalogue, one model per page: the SDK pages until an empty page
names = [field(m, "name") for m in cf.ai.models.list(account_id=ACCOUNT, per_page=1)]
assert "smol" in names and "@cf/huggingface/smollm2-135m-instruct" in names, names
found = [field(m, "name") for m in cf.ai.models.list(account_id=ACCOUNT, search="smollm2")]
assert found == ["@cf/huggingface/smollm2-135m-instruct"], found
authored = [field(m, "name") for m in cf.ai.models.list(account_id=ACCOUNT, author="huggingface")]
assert authored == ["@cf/huggingface/smollm2-135m-instruct"], authored
schema = cf.ai.models.schema.get(account_id=ACCOUNT, model="smol")
assert "input" in (schema if isinstance(schema, dict) else schema.to_dict()), schema

# errors come in Cloudflare's envelope, raised as the SDK's own exceptions
try:
    cf.ai.run("@cf/nobody/none", account_id=ACCOUNT, prompt="Hi")
    raise AssertionError("an unknown model must fail")
except cloudflare.NotFoundError as e:
    assert e.body["success"] is False and e.body["errors"][0]["message"], e.body
try:
    cf.ai.models.schema.get(account_id=ACCOUNT, model="nothing-here")
    raise AssertionError("an unknown model's schema must fail")
except cloudflare.NotFoundError as e:
    assert e.body["success"] is False, e.body

# Workers AI's OpenAI-compatible endpoints, with the openai SDK
oa = openai.OpenAI(base_url=f"{base}/client/v4/accounts/{ACCOUNT}/ai/v1", api_key="cf-token")
reply = oa.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "Hi"}])
assert reply.choices[0].message.content == "Hello from mock", reply
stream = oa.chat.completions.create(
    model=CHAT, messages=[{"role": "user", "content": "Hi"}], stream=True
)
assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices), "empty stream"
vectors = oa.embeddings.create(model=EMBED, input=["one", "two", "three"])
assert len(vectors.data) == 3, vectors
assert CHAT in [m.id for m in oa.models.list()]
answer = oa.responses.create(model=CHAT, input="Hi")
assert answer.output_text == "Hello from mock", answer
try:
    oa.chat.completions.create(model="@cf/nobody/none", messages=[{"role": "user", "content": "Hi"}])
    raise AssertionError("an unknown model must fail")
except openai.NotFoundError:
    pass
print("cloudflare clients: ok")

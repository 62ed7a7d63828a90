"""Images through the official `openai` SDK, changing only the base URL: `images.generate` on a
local Stable Diffusion model (a tiny one with random weights: the PNG's size and seeding are what
is checked) and on an OpenAI provider (mock); Cloudflare's SDK running the model through Workers
AI's `ai.run`. Run by tests/images.rs: argv[1] is the gateway.
"""
import base64
import struct
import sys

import cloudflare
import openai

base = sys.argv[1]
oa = openai.OpenAI(base_url=base + "/v1", api_key="sk-whatever")


def size_of(png: bytes):
    assert png[:8] == b"\x89PNG\r\n\x1a\n", png[:8]
    return struct.unpack(">II", png[16:24])


seeded = {"seed": 42, "num_steps": 2}
a = oa.images.generate(model="sd", prompt="a lighthouse at dusk", size="64x64",
                       response_format="b64_json", extra_body=seeded)
png = base64.b64decode(a.data[0].b64_json)
assert size_of(png) == (64, 64), size_of(png)
assert a.usage is not None and a.usage.input_tokens == 2, a.usage
b = oa.images.generate(model="@cf/stabilityai/stable-diffusion-xl-base-1.0",
                       prompt="a lighthouse at dusk", size="64x64", extra_body=seeded)
assert b.data[0].b64_json == a.data[0].b64_json, "the same seed gives the same image"
two = oa.images.generate(model="sd", prompt="a red bicycle", n=2, size="96x32",
                         extra_body={"seed": 1, "num_steps": 1})
assert len(two.data) == 2 and two.data[0].b64_json != two.data[1].b64_json
assert size_of(base64.b64decode(two.data[1].b64_json)) == (96, 32)
url = oa.images.generate(model="sd", prompt="x", size="64x64", response_format="url",
                         extra_body={"num_steps": 1})
assert url.data[0].url.startswith("data:image/png;base64,"), url.data[0].url[:40]

# errors in OpenAI's shape
try:
    oa.images.generate(model="sd", prompt="x", size="65x64")
    raise AssertionError("an odd size was accepted")
except openai.BadRequestError as e:
    assert e.body["param"] == "width", e.body
try:
    oa.images.generate(model="sd", prompt="x", size="huge")
    raise AssertionError("a bad size was accepted")
except openai.BadRequestError as e:
    assert "WIDTHxHEIGHT" in e.message, e.message

# an OpenAI provider: the body relayed, the answer as it came
p = oa.images.generate(model="oa/gpt-image-1", prompt="a lighthouse", n=2)
assert len(p.data) == 2 and size_of(base64.b64decode(p.data[0].b64_json)) == (1, 1)
assert p.usage.output_tokens == 272

# Cloudflare's SDK: Stable Diffusion's run answers the PNG itself, FLUX's `{image}` in JSON
cf = cloudflare.Cloudflare(api_token="t", base_url=base + "/client/v4")
flux = cf.ai.run("@cf/black-forest-labs/flux-1-schnell", account_id="acct",
                 prompt="a lighthouse at dusk", width=64, height=64, seed=42, num_steps=2)
assert base64.b64decode(flux["image"]) == png, "FLUX-shaped answer carries the same image"
print("images: ok")

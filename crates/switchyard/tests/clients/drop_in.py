"""The official `openai` and `anthropic` Python SDKs, pointed at Switchyard by changing only the
base URL and keeping their own model names (run by tests/sdk_clients.rs: argv[1] is the gateway).
"""
import sys

import anthropic
import openai

base = sys.argv[1]

oa = openai.OpenAI(base_url=base + "/v1", api_key="sk-whatever-the-app-had")
ids = [m.id for m in oa.models.list()]
assert "oa/gpt-4o-mini" in ids and "an/claude-sonnet-4-5-20250929" in ids, ids
one = oa.models.retrieve("oa/gpt-4o-mini")
assert (one.id, one.owned_by) == ("oa/gpt-4o-mini", "oa"), one
try:
    oa.models.retrieve("nobody/x")
    raise AssertionError("an unknown model must be a 404")
except openai.NotFoundError:
    pass
reply = oa.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
)
assert reply.choices[0].message.content == "Hello from mock", reply
raw = oa.chat.completions.with_raw_response.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
)
assert raw.headers["cf-aig-provider"] == "oa", dict(raw.headers)
stream = oa.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
)
assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices), "empty stream"

an = anthropic.Anthropic(base_url=base, api_key="sk-ant-whatever-the-app-had")
message = an.messages.create(
    model="claude-sonnet-4-5", max_tokens=32, messages=[{"role": "user", "content": "Hi"}]
)
assert message.content[0].text, message
# the beta namespace (what Claude Code uses) sends `?beta=true`
message = an.beta.messages.create(
    model="claude-sonnet-4-5", max_tokens=32, messages=[{"role": "user", "content": "Hi"}]
)
assert message.content[0].text, message
with an.messages.stream(
    model="claude-sonnet-4-5", max_tokens=32, messages=[{"role": "user", "content": "Hi"}]
) as s:
    assert s.get_final_text(), "empty stream"
page = an.models.list()
assert "an/claude-haiku-4-5-20251001" in [m.id for m in page.data], page
print("drop-in clients: ok")

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

# the Responses API, to an OpenAI-dialect provider and to an Anthropic one (both translated)
for model in ["gpt-4o-mini", "claude-sonnet-4-5"]:
    r = oa.responses.create(model=model, instructions="Be brief.", input="Hi", temperature=0.5,
                            metadata={"team": "a"})
    assert r.status == "completed" and r.output_text, r
    # the object repeats what the request set, translated or not
    assert (r.instructions, r.temperature, r.metadata) == ("Be brief.", 0.5, {"team": "a"}), r
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0, r.usage
    with oa.responses.stream(model=model, input=[{"role": "user", "content": "Hi"}]) as s:
        streamed = "".join(e.delta for e in s if e.type == "response.output_text.delta")
        final = s.get_final_response()
    assert streamed and final.output_text == streamed, (streamed, final)
    assert final.usage.total_tokens > 0, final.usage
    # a function tool: the call comes back as an item, its output goes back as one
    tools = [{"type": "function", "name": "get_weather", "description": "Weather in a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    r = oa.responses.create(model=model, input="Weather in Paris?", tools=tools)
    assert [t.name for t in r.tools] == ["get_weather"], r.tools
    calls = [o for o in r.output if o.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and "Paris" in calls[0].arguments, r.output
    follow = oa.responses.create(model=model, input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather",
         "arguments": calls[0].arguments},
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"},
    ])
    assert follow.output_text, follow
    with oa.responses.stream(model=model, input="Weather in Paris?", tools=tools) as s:
        final = s.get_final_response()
    assert [o.name for o in final.output if o.type == "function_call"] == ["get_weather"], final
try:
    oa.responses.create(model="gpt-4o-mini", input="Hi", previous_response_id="resp_1")
    raise AssertionError("no response resp_1 was stored")
except openai.BadRequestError as e:
    assert (e.code, e.param) == ("previous_response_not_found", "previous_response_id"), e

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

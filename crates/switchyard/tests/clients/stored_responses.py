"""Stored responses through the official `openai` SDK: `store`, `previous_response_id` across
providers, `responses.retrieve`, `responses.input_items.list`, `responses.delete` (run by
tests/stored_responses.rs: argv[1] is the gateway). Prints the ids the Rust side checks.
"""
import sys

import openai

base = sys.argv[1]
oa = openai.OpenAI(base_url=base + "/v1", api_key="sk-whatever")

first = oa.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="My name is Ada.")
assert first.id.startswith("resp_") and first.store is True, first
assert first.previous_response_id is None, first
got = oa.responses.retrieve(first.id)
assert (got.id, got.output_text, got.status) == (first.id, first.output_text, "completed"), got
items = oa.responses.input_items.list(first.id)
assert [i.type for i in items.data] == ["message"], items
assert items.data[0].content[0].text == "My name is Ada.", items.data[0]

# continued on another provider (Anthropic): the conversation comes along
second = oa.responses.create(
    model="claude-sonnet-4-5", input="What is my name?", previous_response_id=first.id
)
assert second.id != first.id and second.previous_response_id == first.id, second
assert second.output_text, second
items = oa.responses.input_items.list(second.id, order="asc")
texts = [c.text for i in items.data if i.type == "message" for c in i.content]
assert texts == ["My name is Ada.", first.output_text, "What is my name?"], texts
page = oa.responses.input_items.list(second.id, limit=1)
assert page.has_more and page.data[0].content[0].text == "What is my name?", page

# streamed: the stream's final response is kept, under the id the stream announced
with oa.responses.stream(model="gpt-4o-mini", input="And again?", previous_response_id=second.id) as s:
    streamed = "".join(e.delta for e in s if e.type == "response.output_text.delta")
    third = s.get_final_response()
assert third.id not in (first.id, second.id) and third.previous_response_id == second.id, third
kept = oa.responses.retrieve(third.id)
assert kept.output_text == streamed and kept.status == "completed", kept
assert len(oa.responses.input_items.list(third.id).data) == 5

# the same request again (a cache hit when caching is on) still gets its own id
again = oa.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="My name is Ada.")
assert again.id != first.id, (again.id, first.id)

# `store: false`: answered, not kept
unkept = oa.responses.create(model="gpt-4o-mini", input="Hi", store=False)
assert unkept.store is False, unkept
try:
    oa.responses.retrieve(unkept.id)
    raise AssertionError("a response made with store=false is not kept")
except openai.NotFoundError:
    pass

oa.responses.delete(first.id)
try:
    oa.responses.retrieve(first.id)
    raise AssertionError("a deleted response is gone")
except openai.NotFoundError:
    pass
try:
    oa.responses.create(model="gpt-4o-mini", input="Hi", previous_response_id=first.id)
    raise AssertionError("a deleted response cannot be continued")
except openai.BadRequestError as e:
    assert e.code == "previous_response_not_found", e
# the later turns kept only their own input: without the first turn their conversation is
# incomplete, and that is said rather than answered from half a conversation
try:
    oa.responses.input_items.list(second.id)
    raise AssertionError("the second turn's conversation lost its first turn")
except openai.NotFoundError as e:
    assert "no longer stored" in str(e), e
try:
    oa.responses.create(model="gpt-4o-mini", input="More?", previous_response_id=third.id)
    raise AssertionError("a conversation missing a turn cannot be continued")
except openai.BadRequestError as e:
    assert e.code == "previous_response_not_found" and first.id in str(e), e
print("ids", first.id, second.id, third.id)
print("stored responses: ok")

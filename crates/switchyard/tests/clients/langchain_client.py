"""LangChain's `ChatOpenAI` and `OpenAIEmbeddings` (`langchain-openai`), pointed at Switchyard by
changing only `base_url`: chat, streaming, tools, `with_structured_output`, the Responses API
(`use_responses_api=True`) and embeddings, against providers (mock OpenAI and Anthropic) and local
models. Run by tests/sdk_clients.rs: argv[1] is the gateway.
"""
import sys

from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel

base = sys.argv[1] + "/v1"


class Weather(BaseModel):
    """The weather in a city."""
    city: str


def chat(model, **kw):
    return ChatOpenAI(base_url=base, api_key="sk-whatever", model=model, max_retries=0, **kw)


def text_of(message):
    text = message.text
    return text() if callable(text) else text


for model in ["gpt-4o-mini", "claude-sonnet-4-5"]:
    llm = chat(model)
    assert llm.invoke("Hi").content == "Hello from mock", model
    assert "".join(c.content for c in llm.stream("Hi")) == "Hello from mock", model
    called = llm.bind_tools([Weather]).invoke("Weather in Paris?")
    assert [(c["name"], c["args"]) for c in called.tool_calls] == [("Weather", {"city": "Paris"})], called
    structured = llm.with_structured_output(Weather, method="function_calling").invoke("Paris?")
    assert structured == Weather(city="Paris"), structured
    responses = chat(model, use_responses_api=True)
    assert text_of(responses.invoke("Hi")) == "Hello from mock", model
    streamed = "".join(text_of(c) for c in responses.stream("Hi"))
    assert streamed == "Hello from mock", (model, streamed)

embeddings = OpenAIEmbeddings(base_url=base, api_key="sk-whatever", model="text-embedding-3-small",
                              check_embedding_ctx_length=False)
vectors = embeddings.embed_documents(["one", "two"])
assert len(vectors) == 2 and len(vectors[0]) > 0, vectors

# local models: the small chat model and the MiniLM embedder
local = chat("smol", max_tokens=8, temperature=0)
assert local.invoke("Say hello.").content.strip(), "local chat"
assert "".join(c.content for c in local.stream("Say hello.")).strip(), "local stream"
local_embed = OpenAIEmbeddings(base_url=base, api_key="sk-whatever", model="minilm",
                               check_embedding_ctx_length=False)
one, two = local_embed.embed_documents(["a cat sat on the mat", "a kitten on a rug"])
assert len(one) == 384 and len(two) == 384, (len(one), len(two))
assert len(local_embed.embed_query("hello")) == 384
print("langchain: ok")

"""The OpenAI Agents SDK (`openai-agents`), pointed at Switchyard by changing only the client's
base URL: an agent with a function tool runs its loop (model → tool → model) over the Responses
API, streamed and not, continues with `previous_response_id`, on a provider with the Responses
API (passed natively) and on one without (Anthropic, translated). Run by tests/sdk_clients.rs:
argv[1] is the gateway.
"""
import asyncio
import sys

from agents import (Agent, OpenAIResponsesModel, Runner, function_tool,
                    set_tracing_disabled)
from openai import AsyncOpenAI

base = sys.argv[1]
set_tracing_disabled(True)
client = AsyncOpenAI(base_url=base + "/v1", api_key="sk-whatever-the-app-had")
calls = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    calls.append(city)
    return f"sunny in {city}"


async def main():
    for model in ["gpt-4o-mini", "claude-sonnet-4-5"]:
        agent = Agent(
            name="weather",
            instructions="Answer with the weather.",
            tools=[get_weather],
            model=OpenAIResponsesModel(model=model, openai_client=client),
        )
        calls.clear()
        result = await Runner.run(agent, "Weather in Paris?")
        assert calls == ["Paris"], (model, calls)
        assert result.final_output == "Hello from mock", (model, result.final_output)
        kinds = [item.type for item in result.new_items]
        assert kinds == ["message_output_item", "tool_call_item", "tool_call_output_item",
                         "message_output_item"], (model, kinds)
        # the next turn continues the stored conversation
        follow = await Runner.run(agent, "And tomorrow?",
                                  previous_response_id=result.last_response_id)
        assert follow.final_output == "Hello from mock", (model, follow.final_output)

        calls.clear()
        streamed = Runner.run_streamed(agent, "Weather in Paris?")
        deltas = []
        async for event in streamed.stream_events():
            if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
                deltas.append(event.data.delta)
        assert calls == ["Paris"], (model, calls)
        assert streamed.final_output == "Hello from mock", (model, streamed.final_output)
        assert "".join(deltas).count("Hello from mock") == 2, (model, deltas)
    print("agents sdk: ok")


asyncio.run(main())

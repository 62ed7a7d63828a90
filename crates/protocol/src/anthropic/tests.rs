//! Golden translations OpenAI ⇄ Anthropic, with bodies taken from both vendors' documentation.

use serde_json::{json, Value};

use super::*;
use crate::canonical::{StopReason, StreamEvent};
use crate::openai::convert::{request_to_canonical, response_from_canonical, StreamEncoder};
use crate::sse;

fn to_anthropic(openai: Value) -> Result<Value, crate::canonical::Unsupported> {
    let req = request_to_canonical(openai.to_string().as_bytes()).unwrap();
    request_from_canonical(&req, "claude-sonnet-4-5")
        .map(|body| serde_json::to_value(body).unwrap())
}

#[test]
fn request_with_system_tools_parallel_results_and_images() {
    let openai = json!({
        "model": "claude/claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in Paris and Rome? Also, what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "24C"},
            {"role": "user", "content": "Thanks"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "stop": ["END"],
        "temperature": 0.5,
        "max_tokens": 300,
        "user": "u-42",
        "stream": true
    });
    let expected = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 300,
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in Paris and Rome? Also, what is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "24C"},
                {"type": "text", "text": "Thanks"}
            ]}
        ],
        "tools": [{"name": "get_weather", "description": "Current weather",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "metadata": {"user_id": "u-42"},
        "stream": true
    });
    assert_eq!(to_anthropic(openai).unwrap(), expected);
}

#[test]
fn max_tokens_defaults_and_reasoning_maps_to_thinking() {
    let body = to_anthropic(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap();
    assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
    let body = to_anthropic(
        json!({"model": "m", "reasoning_effort": "high", "max_tokens": 1000,
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .unwrap();
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
    assert_eq!(body["max_tokens"], 17384);
}

#[test]
fn unsupported_features_are_named() {
    let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    for (field, value, feature) in [
        ("n", json!(2), "n > 1"),
        ("logprobs", json!(true), "logprobs"),
        ("seed", json!(1), "seed"),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let err = to_anthropic(body).unwrap_err();
        assert_eq!(err.feature, feature);
        assert!(err.to_string().contains("anthropic"), "{err}");
    }
}

#[test]
fn response_with_text_and_tool_use_becomes_a_chat_completion() {
    // The tool-use example from Anthropic's Messages documentation.
    let body = json!({
        "id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "text", "text": "I'll check the weather."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "San Francisco, CA"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 472, "output_tokens": 89, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}
    });
    let canonical = response_to_canonical(body.to_string().as_bytes()).unwrap();
    assert_eq!(canonical.stop, StopReason::ToolCalls);
    let openai = serde_json::to_value(response_from_canonical(&canonical, 1)).unwrap();
    assert_eq!(openai["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        openai["choices"][0]["message"]["content"],
        "I'll check the weather."
    );
    let call = &openai["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["id"], "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"location": "San Francisco, CA"})
    );
    assert_eq!(openai["usage"]["prompt_tokens"], 572);
    assert_eq!(openai["usage"]["completion_tokens"], 89);
    assert_eq!(
        openai["usage"]["prompt_tokens_details"]["cached_tokens"],
        100
    );
}

/// The streaming example from Anthropic's documentation (text, then a tool_use block whose input
/// arrives as `input_json_delta` fragments), fed in awkward splits.
pub(crate) const DOC_STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_014p7gG3wDgGV9EUtLvnow3U\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"output_tokens\":2},\"content\":[],\"stop_reason\":null}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Okay\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\", checking.\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\":\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" \\\"San Francisco, CA\\\"}\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

#[test]
fn stream_becomes_openai_chunks_with_tool_deltas_and_usage() {
    for split in [1usize, 7, 64, DOC_STREAM.len()] {
        let mut parser = sse::Parser::new();
        let mut decoder = StreamDecoder::new();
        let mut encoder = StreamEncoder::new("fallback-model", 1, true);
        let mut events = Vec::new();
        let mut canonical = Vec::new();
        let mut out = Vec::new();
        for chunk in DOC_STREAM.as_bytes().chunks(split) {
            parser.feed(chunk, &mut events);
            for e in events.drain(..) {
                decoder.decode(&e, &mut canonical);
            }
            for c in canonical.drain(..) {
                encoder.encode(&c, &mut out);
            }
        }
        assert!(decoder.is_done());
        let text = String::from_utf8(out).unwrap();
        let chunks: Vec<Value> = text
            .split("\n\n")
            .filter(|e| !e.is_empty() && *e != "data: [DONE]")
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
            .collect();
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[0]["id"], "msg_014p7gG3wDgGV9EUtLvnow3U");
        let content: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(content, "Okay, checking.");
        let args: String = chunks
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            })
            .collect();
        assert_eq!(args, "{\"location\": \"San Francisco, CA\"}");
        let start = chunks
            .iter()
            .find(|c| c["choices"][0]["delta"]["tool_calls"][0]["id"].is_string())
            .unwrap();
        assert_eq!(start["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
        let finish: Vec<&str> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect();
        assert_eq!(finish, ["tool_calls"]);
        let usage = &chunks.last().unwrap()["usage"];
        assert_eq!(
            (
                usage["prompt_tokens"].as_u64(),
                usage["completion_tokens"].as_u64()
            ),
            (Some(472), Some(89))
        );
    }
}

#[test]
fn stream_errors_become_an_error_event_without_done() {
    let mut decoder = StreamDecoder::new();
    let mut canonical = Vec::new();
    let e = sse::Event {
        event: Some("error".into()),
        data: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            .into(),
    };
    decoder.decode(&e, &mut canonical);
    assert!(
        matches!(&canonical[0], StreamEvent::Error { message } if message.contains("Overloaded"))
    );
    let mut encoder = StreamEncoder::new("m", 1, false);
    let mut out = Vec::new();
    for c in &canonical {
        encoder.encode(c, &mut out);
    }
    encoder.encode(&StreamEvent::Done, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("Overloaded") && !text.contains("[DONE]"),
        "{text}"
    );
}

#[test]
fn json_mode_is_emulated_with_a_forced_tool_and_undone_on_the_answer() {
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}}});
    let body = to_anthropic(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}}))
    .unwrap();
    assert_eq!(
        body["tools"],
        json!([{"name": JSON_TOOL, "description": "Give the answer as a JSON object matching this schema.", "input_schema": schema}])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": JSON_TOOL})
    );
    let with_tools = to_anthropic(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
    );
    assert_eq!(
        with_tools.unwrap_err().feature,
        "response_format together with tools"
    );

    let answer = json!({"id": "m1", "type": "message", "model": "c", "content": [
        {"type": "tool_use", "id": "t", "name": JSON_TOOL, "input": {"answer": "42"}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}});
    let mut canonical = response_to_canonical(answer.to_string().as_bytes()).unwrap();
    json_tool_to_text(&mut canonical);
    assert_eq!(canonical.stop, StopReason::Stop);
    assert_eq!(
        canonical.content,
        vec![crate::canonical::Part::Text("{\"answer\":\"42\"}".into())]
    );
}

use serde_json::{json, Value};

use super::*;
use crate::canonical::{
    ChatRequest, ChatResponse, Image, Part, ResponseFormat, Role, StopReason, StreamEvent,
    ToolCall, ToolChoice, Usage,
};
use crate::openai::RequestError;

fn canonical(v: Value) -> Result<ChatRequest, RequestError> {
    request_to_canonical(v.to_string().as_bytes())
}

#[test]
fn a_string_input_and_instructions_become_a_user_turn_and_the_system_prompt() {
    let req = canonical(
        json!({"model": "m", "instructions": "Be brief.", "input": "Hi",
                               "max_output_tokens": 20, "temperature": 0.2, "stream": true}),
    )
    .unwrap();
    assert_eq!(req.system, ["Be brief."]);
    assert_eq!(req.messages.len(), 1);
    assert_eq!(req.messages[0].content, [Part::Text("Hi".into())]);
    assert_eq!((req.max_tokens, req.temperature), (Some(20), Some(0.2)));
    assert!(req.stream && req.include_usage);
}

#[test]
fn items_carry_roles_images_tool_calls_and_their_outputs() {
    let req = canonical(json!({"model": "m", "input": [
        {"role": "developer", "content": "Use tools."},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Weather?"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call", "call_id": "c2", "name": "weather", "arguments": "{\"city\":\"Rome\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "c2", "output": "rain"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Paris is sunny."}]}],
        "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "weather"},
        "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}}}))
    .unwrap();
    assert_eq!(req.system, ["Use tools."]);
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
    );
    assert!(matches!(
        req.messages[0].content[1],
        Part::Image(Image::Base64 { .. })
    ));
    // the two calls of one turn are one assistant message; their outputs one tool message
    assert_eq!(req.messages[1].content.len(), 2);
    assert_eq!(req.messages[2].content.len(), 2);
    assert_eq!(req.tools[0].name, "weather");
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Specific("weather".into()))
    );
    assert!(matches!(
        req.response_format,
        Some(ResponseFormat::JsonSchema { .. })
    ));
}

#[test]
fn what_cannot_be_honoured_is_refused_by_name() {
    for (body, param) in [
        (
            json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
            "tools.0.type",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
            "input.0.type",
        ),
        (json!({"model": "m", "input": 3}), "input"),
        (
            json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}),
            "input.0.role",
        ),
    ] {
        let e = canonical(body.clone()).unwrap_err();
        assert_eq!(e.param.as_deref(), Some(param), "{body}: {e}");
    }
}

#[test]
fn an_answer_becomes_a_response_object_with_its_items_and_usage() {
    let answer = ChatResponse {
        id: "chatcmpl-9".into(),
        model: "m".into(),
        content: vec![
            Part::Text("Let me check.".into()),
            Part::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "weather".into(),
                arguments: "{}".into(),
            }),
        ],
        stop: StopReason::ToolCalls,
        usage: Usage {
            input: 10,
            output: 5,
            cached_input: 2,
            reasoning: 1,
        },
    };
    let v: Value =
        serde_json::from_slice(&response_from_canonical(&answer, 7, &Echo::default()).unwrap())
            .unwrap();
    assert_eq!(
        (v["id"].as_str(), v["object"].as_str()),
        (Some("resp_9"), Some("response"))
    );
    assert_eq!(v["status"], "completed");
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["content"][0]["text"], "Let me check.");
    assert_eq!(v["output"][1]["type"], "function_call");
    assert_eq!(v["output"][1]["call_id"], "call_1");
    assert_eq!(v["usage"]["total_tokens"], 15);
    assert_eq!(v["usage"]["input_tokens_details"]["cached_tokens"], 2);
    assert_eq!(usage_of(v.to_string().as_bytes(), false).unwrap().input, 10);
    let cut = ChatResponse {
        stop: StopReason::Length,
        ..answer
    };
    let v: Value =
        serde_json::from_slice(&response_from_canonical(&cut, 7, &Echo::default()).unwrap())
            .unwrap();
    assert_eq!(
        (v["status"].as_str(), &v["incomplete_details"]["reason"]),
        (Some("incomplete"), &json!("max_output_tokens"))
    );
}

fn events(bytes: &[u8]) -> Vec<Value> {
    let mut parsed = Vec::new();
    crate::sse::Parser::new().feed(bytes, &mut parsed);
    parsed
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            assert_eq!(
                e.event.as_deref(),
                v["type"].as_str(),
                "the event line names the type"
            );
            v
        })
        .collect()
}

#[test]
fn a_stream_follows_the_event_grammar_with_increasing_sequence_numbers() {
    let mut enc = StreamEncoder::new("m", 1);
    let mut out = Vec::new();
    for e in [
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "m".into(),
        },
        StreamEvent::Text("Hel".into()),
        StreamEvent::Text("lo".into()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "f".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            delta: "{\"a\":".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            delta: "1}".into(),
        },
        StreamEvent::Finish(StopReason::ToolCalls),
        StreamEvent::Usage(Usage {
            input: 3,
            output: 4,
            ..Usage::default()
        }),
        StreamEvent::Done,
    ] {
        enc.encode(&e, &mut out);
    }
    let ev = events(&out);
    let kinds: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let seq: Vec<u64> = ev
        .iter()
        .map(|e| e["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seq, (0..seq.len() as u64).collect::<Vec<_>>());
    let done = &ev[ev.len() - 1]["response"];
    assert_eq!(done["id"], ev[0]["response"]["id"]);
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(done["output"][1]["arguments"], "{\"a\":1}");
    assert_eq!(done["output"][1]["id"], ev[9]["item"]["id"]);
    assert_eq!(usage_of(&out, true).unwrap().output, 4);
}

#[test]
fn an_upstream_error_mid_stream_ends_it_with_an_error_event() {
    let mut enc = StreamEncoder::new("m", 1);
    let mut out = Vec::new();
    enc.encode(&StreamEvent::Text("par".into()), &mut out);
    enc.encode(
        &StreamEvent::Error {
            message: "boom".into(),
        },
        &mut out,
    );
    enc.encode(&StreamEvent::Done, &mut out);
    let ev = events(&out);
    assert_eq!(ev.last().unwrap()["type"], "error");
    assert_eq!(ev.last().unwrap()["message"], "boom");
}

#[test]
fn response_objects_repeat_what_the_request_set() {
    let body = json!({"model": "m", "instructions": "Be brief.", "input": "Hi",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "tool_choice": "required", "temperature": 0.2, "top_p": 0.9, "max_output_tokens": 64,
        "parallel_tool_calls": false, "user": "u1", "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_object"}}, "metadata": {"team": "a"}});
    let (_, echo) = request_with_echo(body.to_string().as_bytes()).unwrap();
    let answer = ChatResponse {
        id: "x".into(),
        model: "m".into(),
        content: vec![Part::Text("{}".into())],
        stop: StopReason::Stop,
        usage: Usage::default(),
    };
    let whole: Value =
        serde_json::from_slice(&response_from_canonical(&answer, 1, &echo).unwrap()).unwrap();
    let mut encoder = StreamEncoder::new("m", 1).with_echo(echo);
    let mut out = Vec::new();
    for e in [
        StreamEvent::Start {
            id: "x".into(),
            model: "m".into(),
        },
        StreamEvent::Done,
    ] {
        encoder.encode(&e, &mut out);
    }
    let streamed = events(&out);
    for v in [
        &whole,
        &streamed[0]["response"],
        &streamed.last().unwrap()["response"],
    ] {
        assert_eq!(v["instructions"], "Be brief.", "{v}");
        assert_eq!(v["tools"], body["tools"], "{v}");
        assert_eq!(v["tool_choice"], "required", "{v}");
        assert_eq!(
            (v["temperature"].as_f64(), v["top_p"].as_f64()),
            (Some(0.2), Some(0.9))
        );
        assert_eq!(v["max_output_tokens"], 64);
        assert_eq!(v["parallel_tool_calls"], false);
        assert_eq!(v["user"], "u1");
        assert_eq!(v["reasoning"]["effort"], "low");
        assert_eq!(v["text"], json!({"format": {"type": "json_object"}}));
        assert_eq!(v["metadata"], json!({"team": "a"}));
    }
    // nothing set: the API's defaults
    let v: Value =
        serde_json::from_slice(&response_from_canonical(&answer, 1, &Echo::default()).unwrap())
            .unwrap();
    assert_eq!(v["instructions"], Value::Null);
    assert_eq!(v["tools"], json!([]));
    assert_eq!(v["tool_choice"], "auto");
    assert_eq!(v["text"], json!({"format": {"type": "text"}}));
    assert_eq!(v["metadata"], json!({}));
    assert_eq!(v["parallel_tool_calls"], true);
}

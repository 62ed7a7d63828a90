use serde_json::{json, Value};

use super::*;
use crate::openai::convert::{request_to_canonical, response_from_canonical, StreamEncoder};

#[test]
fn request_uses_cohere_names() {
    let req = request_to_canonical(
        json!({"model": "co/command-r-plus", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}],
               "top_p": 0.9, "stop": ["x"], "tool_choice": "required", "stream": true,
               "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let body = request_from_canonical(&req, "command-r-plus").unwrap();
    assert_eq!(body["p"], 0.9);
    assert_eq!(body["stop_sequences"], json!(["x"]));
    assert_eq!(body["tool_choice"], "REQUIRED");
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "S"})
    );
    assert!(body.get("stream_options").is_none() && body.get("top_p").is_none());
}

#[test]
fn response_and_stream_decode() {
    let body = json!({"id": "c1", "finish_reason": "TOOL_CALL", "message": {"role": "assistant", "tool_plan": "I will call f",
        "tool_calls": [{"id": "f_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
        "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 7}, "tokens": {"input_tokens": 50, "output_tokens": 7}}});
    let r = response_to_canonical(body.to_string().as_bytes()).unwrap();
    let openai = serde_json::to_value(response_from_canonical(&r, 0)).unwrap();
    assert_eq!(openai["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(openai["usage"]["prompt_tokens"], 50);

    let stream = [
        (
            "message-start",
            json!({"type": "message-start", "id": "c2", "delta": {"message": {"role": "assistant"}}}),
        ),
        (
            "content-start",
            json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        ),
        (
            "content-delta",
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi"}}}}),
        ),
        ("content-end", json!({"type": "content-end", "index": 0})),
        (
            "message-end",
            json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {"tokens": {"input_tokens": 3, "output_tokens": 1}}}}),
        ),
    ];
    let mut decoder = StreamDecoder::new();
    let mut events = Vec::new();
    for (name, data) in stream {
        decoder.decode(
            &sse::Event {
                event: Some(name.into()),
                data: data.to_string(),
            },
            &mut events,
        );
    }
    assert!(decoder.is_done());
    let mut encoder = StreamEncoder::new("command-r", 0, true);
    let mut out = Vec::new();
    for e in &events {
        encoder.encode(e, &mut out);
    }
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("\"content\":\"Hi\"") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    let lines: Vec<&str> = text.split("\n\n").filter(|l| !l.is_empty()).collect();
    let usage_line = lines[lines.len() - 2];
    let usage: Value = serde_json::from_str(usage_line.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(usage["usage"]["total_tokens"], 4);
}

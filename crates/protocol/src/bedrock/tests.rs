use serde_json::{json, Value};

use super::*;
use crate::openai::convert::{request_to_canonical, response_from_canonical, StreamEncoder};

#[test]
fn request_maps_to_converse() {
    let req = request_to_canonical(
        json!({"model": "b/anthropic.claude-3-haiku", "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "ok"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "required", "max_tokens": 10, "stop": ["x"]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let body = request_from_canonical(&req).unwrap();
    assert_eq!(
        body,
        json!({
            "messages": [
                {"role": "user", "content": [{"text": "hi"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "ok"}], "status": "success"}}]}
            ],
            "system": [{"text": "S"}],
            "inferenceConfig": {"maxTokens": 10, "stopSequences": ["x"]},
            "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}], "toolChoice": {"any": {}}}
        })
    );
}

#[test]
fn response_maps_back() {
    let body = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Hi"}, {"toolUse": {"toolUseId": "tu", "name": "f", "input": {"x": 2}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 7, "outputTokens": 4, "totalTokens": 11}, "metrics": {"latencyMs": 100}});
    let r = response_to_canonical(body.to_string().as_bytes()).unwrap();
    let openai = serde_json::to_value(response_from_canonical(&r, 0)).unwrap();
    assert_eq!(openai["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        openai["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"x\":2}"
    );
    assert_eq!(openai["usage"]["total_tokens"], 11);
}

fn frames() -> Vec<u8> {
    let events = [
        ("messageStart", json!({"role": "assistant"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "lo"}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 0})),
        ("messageStop", json!({"stopReason": "end_turn"})),
        (
            "metadata",
            json!({"usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7}, "metrics": {"latencyMs": 10}}),
        ),
    ];
    events
        .iter()
        .flat_map(|(t, p)| eventstream::encode(t, p.to_string().as_bytes()))
        .collect()
}

#[test]
fn event_stream_frames_decode_across_any_split() {
    let bytes = frames();
    for split in [1usize, 5, 13, 64, bytes.len()] {
        let mut parser = eventstream::Parser::new();
        let mut decoder = StreamDecoder::new();
        let mut encoder = StreamEncoder::new("m", 0, true);
        let (mut events, mut canonical, mut out) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in bytes.chunks(split) {
            parser.feed(chunk, &mut events).unwrap();
            for e in events.drain(..) {
                decoder.decode(&e, &mut canonical);
            }
        }
        assert!(decoder.is_done(), "split {split}");
        for c in &canonical {
            encoder.encode(c, &mut out);
        }
        let text = String::from_utf8(out).unwrap();
        let chunks: Vec<Value> = text
            .split("\n\n")
            .filter(|e| !e.is_empty() && *e != "data: [DONE]")
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
            .collect();
        let content: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(content, "Hello");
        assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 7);
    }
}

#[test]
fn corrupted_frames_are_rejected() {
    let mut bytes = frames();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let mut events = Vec::new();
    assert!(eventstream::Parser::new()
        .feed(&bytes, &mut events)
        .is_err());
}

#[test]
fn a_known_frame_from_the_spec_decodes() {
    // Hand-assembled frame, with CRCs computed independently (Python's zlib.crc32).
    let mut frame: Vec<u8> = Vec::new();
    let headers: &[u8] = b"\x0b:event-type\x07\x00\x08metadata";
    let payload = b"{}";
    let total = (12 + headers.len() + payload.len() + 4) as u32;
    frame.extend_from_slice(&total.to_be_bytes());
    frame.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    frame.extend_from_slice(&0x2A20_17DBu32.to_be_bytes());
    frame.extend_from_slice(headers);
    frame.extend_from_slice(payload);
    let crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&crc.to_be_bytes());
    let mut events = Vec::new();
    eventstream::Parser::new()
        .feed(&frame, &mut events)
        .unwrap();
    assert_eq!(events[0].event.as_deref(), Some("metadata"));
}

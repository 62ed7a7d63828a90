//! Golden translations OpenAI ⇄ Gemini, with bodies shaped like Google's documentation examples.

use serde_json::{json, Value};

use super::*;
use crate::canonical::{StopReason, StreamEvent};
use crate::openai::convert::{request_to_canonical, response_from_canonical, StreamEncoder};
use crate::sse;

fn to_gemini(openai: Value) -> Value {
    let req = request_to_canonical(openai.to_string().as_bytes()).unwrap();
    request_from_canonical(&req).unwrap()
}

#[test]
fn request_maps_system_tools_results_images_and_generation_config() {
    let body = to_gemini(json!({
        "model": "g/gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [{"type": "text", "text": "Weather here?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0~ts~c2lnbmF0dXJl", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_0~ts~c2lnbmF0dXJl", "content": "{\"temp\":18}"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "temperature": 0.3, "max_tokens": 100, "stop": ["END"],
        "response_format": {"type": "json_object"}
    }));
    assert_eq!(
        body,
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Weather here?"}, {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}}]},
                {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnbmF0dXJl"}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 18}}}]}
            ],
            "systemInstruction": {"parts": [{"text": "Be terse."}]},
            "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
            "generationConfig": {"temperature": 0.3, "maxOutputTokens": 100, "stopSequences": ["END"], "responseMimeType": "application/json"}
        })
    );
}

#[test]
fn image_urls_are_refused_by_name() {
    let req = request_to_canonical(
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let err = request_from_canonical(&req).unwrap_err();
    assert!(
        err.to_string().contains("gemini") && err.feature.contains("image URLs"),
        "{err}"
    );
}

#[test]
fn function_calls_carry_their_thought_signature_in_the_id() {
    let body = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5, "thoughtsTokenCount": 7, "totalTokenCount": 32},
        "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"
    });
    let r = response_to_canonical(body.to_string().as_bytes()).unwrap();
    assert_eq!(r.stop, StopReason::ToolCalls);
    let openai = serde_json::to_value(response_from_canonical(&r, 1)).unwrap();
    let call = &openai["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_0~ts~c2ln");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(openai["usage"]["completion_tokens"], 12);
    assert_eq!(
        openai["usage"]["completion_tokens_details"]["reasoning_tokens"],
        7
    );
}

#[test]
fn safety_stops_and_blocked_prompts_are_content_filter() {
    let body = json!({"candidates": [{"content": {"parts": []}, "finishReason": "SAFETY"}], "usageMetadata": {}});
    assert_eq!(
        response_to_canonical(body.to_string().as_bytes())
            .unwrap()
            .stop,
        StopReason::ContentFilter
    );
    let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}});
    let r = response_to_canonical(blocked.to_string().as_bytes()).unwrap();
    assert_eq!(r.stop, StopReason::ContentFilter);
    assert!(r.content.is_empty());
}

/// Gemini frames SSE events with `\r\n\r\n` and has no terminator event.
pub(crate) const DOC_STREAM: &str = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 1,\"totalTokenCount\": 10},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}\r\n\r\ndata: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" sky is blue.\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 5,\"totalTokenCount\": 14},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"abc\"}\r\n\r\n";

#[test]
fn a_crlf_framed_stream_becomes_openai_chunks() {
    for split in [1usize, 3, 50, DOC_STREAM.len()] {
        let mut parser = sse::Parser::new();
        let mut decoder = StreamDecoder::new();
        let mut encoder = StreamEncoder::new("m", 1, true);
        let (mut events, mut canonical, mut out) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in DOC_STREAM.as_bytes().chunks(split) {
            parser.feed(chunk, &mut events);
            for e in events.drain(..) {
                decoder.decode(&e, &mut canonical);
            }
        }
        assert!(decoder.is_done());
        decoder.finish(&mut canonical);
        assert_eq!(canonical.last(), Some(&StreamEvent::Done));
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
        assert_eq!(content, "The sky is blue.", "split {split}");
        assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 5);
        assert!(text.ends_with("data: [DONE]\n\n"));
    }
}

#[test]
fn a_stream_cut_before_finish_is_not_complete() {
    let mut parser = sse::Parser::new();
    let mut decoder = StreamDecoder::new();
    let (mut events, mut canonical) = (Vec::new(), Vec::new());
    let first_event = DOC_STREAM.split("\r\n\r\n").next().unwrap();
    parser.feed(format!("{first_event}\r\n\r\n").as_bytes(), &mut events);
    for e in events.drain(..) {
        decoder.decode(&e, &mut canonical);
    }
    assert!(!decoder.is_done());
    decoder.finish(&mut canonical);
    assert!(!canonical.contains(&StreamEvent::Done));
}

#[test]
fn embeddings_translate_both_ways() {
    let req = embeddings_request(
        br#"{"model":"g/text-embedding-004","input":["a","b"],"dimensions":8}"#,
        "text-embedding-004",
    )
    .unwrap();
    assert_eq!(
        req["requests"][1],
        json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8})
    );
    let resp = embeddings_response(
        br#"{"embeddings":[{"values":[0.1,0.2]},{"values":[0.3,0.4]}]}"#,
        "text-embedding-004",
    )
    .unwrap();
    assert_eq!(
        resp["data"][1],
        json!({"object": "embedding", "index": 1, "embedding": [0.3, 0.4]})
    );
    assert!(embeddings_request(br#"{"model":"m","input":[[1,2]]}"#, "m").is_err());
}

//! Per-converter cost of dialect translation (request, response, per streamed event).
//! Run: `cargo bench -p switchyard-protocol --bench converters`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard_protocol::canonical::StreamEvent;
use switchyard_protocol::dialect::{StreamDecode, StreamEncode};
use switchyard_protocol::openai::convert::{
    request_to_canonical, response_from_canonical, StreamEncoder,
};
use switchyard_protocol::{anthropic, bedrock, cohere, gemini, sse, workers_ai};

const OPENAI_REQUEST: &str = r#"{"model":"claude/claude-sonnet-4-5","messages":[{"role":"system","content":"You are a concise assistant. Answer in one short sentence."},{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"The capital of France is Paris."},{"role":"user","content":"Say goodbye politely."}],"max_tokens":16,"temperature":0}"#;

const ANTHROPIC_RESPONSE: &str = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Goodbye! It was a pleasure chatting with you today."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":42,"output_tokens":12}}"#;

const ANTHROPIC_DELTA: &str =
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" pleasure"}}"#;

/// One streamed event through `decoder` and `encoder`, per iteration.
fn stream_event(
    c: &mut Criterion,
    name: &str,
    mut decoder: impl StreamDecode,
    mut encoder: impl StreamEncode,
    event: sse::Event,
) {
    let mut events: Vec<StreamEvent> = Vec::new();
    let mut out = Vec::new();
    c.bench_function(name, |b| {
        b.iter(|| {
            decoder.decode(black_box(&event), &mut events);
            for e in events.drain(..) {
                encoder.encode(&e, &mut out);
            }
            out.clear();
        })
    });
}

fn converters(c: &mut Criterion) {
    c.bench_function("request openai -> anthropic", |b| {
        b.iter(|| {
            let canonical = request_to_canonical(black_box(OPENAI_REQUEST.as_bytes())).unwrap();
            let body = anthropic::request_from_canonical(&canonical, "claude-sonnet-4-5").unwrap();
            serde_json::to_vec(&body).unwrap()
        })
    });
    c.bench_function("response anthropic -> openai", |b| {
        b.iter(|| {
            let canonical =
                anthropic::response_to_canonical(black_box(ANTHROPIC_RESPONSE.as_bytes())).unwrap();
            serde_json::to_vec(&response_from_canonical(&canonical, 0)).unwrap()
        })
    });
    stream_event(
        c,
        "stream event anthropic -> openai (one text delta)",
        anthropic::StreamDecoder::new(),
        StreamEncoder::new("claude-sonnet-4-5", 0, false),
        sse::Event {
            event: Some("content_block_delta".into()),
            data: ANTHROPIC_DELTA.into(),
        },
    );
}

/// Request conversion OpenAI → every other provider's format (decode once, then encode).
fn providers(c: &mut Criterion) {
    let canonical = request_to_canonical(OPENAI_REQUEST.as_bytes()).unwrap();
    c.bench_function("request canonical -> gemini", |b| {
        b.iter(|| {
            serde_json::to_vec(&gemini::request_from_canonical(black_box(&canonical)).unwrap())
                .unwrap()
        })
    });
    c.bench_function("request canonical -> bedrock", |b| {
        b.iter(|| {
            serde_json::to_vec(&bedrock::request_from_canonical(black_box(&canonical)).unwrap())
                .unwrap()
        })
    });
    c.bench_function("request canonical -> cohere", |b| {
        b.iter(|| {
            serde_json::to_vec(&cohere::request_from_canonical(black_box(&canonical), "m").unwrap())
                .unwrap()
        })
    });
    c.bench_function("request canonical -> workers-ai", |b| {
        b.iter(|| {
            serde_json::to_vec(&workers_ai::request_from_canonical(black_box(&canonical)).unwrap())
                .unwrap()
        })
    });
    const GEMINI: &str = r#"{"candidates":[{"content":{"parts":[{"text":"Goodbye! It was a pleasure."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":42,"candidatesTokenCount":8,"totalTokenCount":50},"modelVersion":"gemini-2.5-flash","responseId":"r"}"#;
    c.bench_function("response gemini -> openai", |b| {
        b.iter(|| {
            let r = gemini::response_to_canonical(black_box(GEMINI.as_bytes())).unwrap();
            serde_json::to_vec(&response_from_canonical(&r, 0)).unwrap()
        })
    });
    stream_event(
        c,
        "stream event gemini -> openai",
        gemini::StreamDecoder::new(),
        StreamEncoder::new("m", 0, false),
        sse::Event {
            event: None,
            data: GEMINI.into(),
        },
    );
}

/// The Responses API (a client dialect answered through the provider's chat API) against the
/// translated chat path above (`request openai -> anthropic`, `response anthropic -> openai`, the
/// one-delta stream event).
fn responses(c: &mut Criterion) {
    use switchyard_protocol::openai::{responses, upstream};
    const REQUEST: &str = r#"{"model":"mock/gpt-4o-mini","instructions":"You are a concise assistant. Answer in one short sentence.","input":[{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"The capital of France is Paris."},{"role":"user","content":"Say goodbye politely."}],"max_output_tokens":16,"temperature":0}"#;
    const CHAT_RESPONSE: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1730000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Goodbye! It was a pleasure chatting with you today."},"finish_reason":"stop"}],"usage":{"prompt_tokens":42,"completion_tokens":12,"total_tokens":54}}"#;
    const CHAT_DELTA: &str = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1730000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" pleasure"},"finish_reason":null}]}"#;
    let (_, echo) = responses::request_with_echo(REQUEST.as_bytes()).unwrap();
    c.bench_function("request responses -> openai chat", |b| {
        b.iter(|| {
            let (canonical, _echo) =
                responses::request_with_echo(black_box(REQUEST.as_bytes())).unwrap();
            serde_json::to_vec(&upstream::request_body(&canonical, "gpt-4o-mini")).unwrap()
        })
    });
    c.bench_function("response openai chat -> responses", |b| {
        b.iter(|| {
            let canonical =
                upstream::response_to_canonical(black_box(CHAT_RESPONSE.as_bytes())).unwrap();
            responses::response_from_canonical(&canonical, 0, &echo).unwrap()
        })
    });
    c.bench_function("response openai chat decode only", |b| {
        b.iter(|| upstream::response_to_canonical(black_box(CHAT_RESPONSE.as_bytes())).unwrap())
    });
    c.bench_function("stream event openai chat decode only", |b| {
        let mut decoder = upstream::StreamDecoder::new();
        let event = sse::Event {
            event: None,
            data: CHAT_DELTA.into(),
        };
        let mut events: Vec<StreamEvent> = Vec::new();
        b.iter(|| {
            decoder.decode(black_box(&event), &mut events);
            events.clear();
        })
    });
    stream_event(
        c,
        "stream event openai chat -> responses (one text delta)",
        upstream::StreamDecoder::new(),
        responses::StreamEncoder::new("gpt-4o-mini", 0).with_echo(echo.clone()),
        sse::Event {
            event: None,
            data: CHAT_DELTA.into(),
        },
    );
}

/// The same provider (Anthropic) behind both client dialects: what answering in the Responses
/// API costs over answering in OpenAI chat, with the provider's side identical (the issue's
/// target: the translated Responses path ≤ the translated chat path + 20 %).
fn responses_vs_chat(c: &mut Criterion) {
    use switchyard_protocol::openai::responses;
    const REQUEST: &str = r#"{"model":"claude/claude-sonnet-4-5","instructions":"You are a concise assistant. Answer in one short sentence.","input":[{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"The capital of France is Paris."},{"role":"user","content":"Say goodbye politely."}],"max_output_tokens":16,"temperature":0}"#;
    let (_, echo) = responses::request_with_echo(REQUEST.as_bytes()).unwrap();
    c.bench_function("request responses -> anthropic", |b| {
        b.iter(|| {
            let (canonical, _echo) =
                responses::request_with_echo(black_box(REQUEST.as_bytes())).unwrap();
            let body = anthropic::request_from_canonical(&canonical, "claude-sonnet-4-5").unwrap();
            serde_json::to_vec(&body).unwrap()
        })
    });
    c.bench_function("response anthropic -> responses", |b| {
        b.iter(|| {
            let canonical =
                anthropic::response_to_canonical(black_box(ANTHROPIC_RESPONSE.as_bytes())).unwrap();
            responses::response_from_canonical(&canonical, 0, &echo).unwrap()
        })
    });
    stream_event(
        c,
        "stream event anthropic -> responses (one text delta)",
        anthropic::StreamDecoder::new(),
        responses::StreamEncoder::new("claude-sonnet-4-5", 0).with_echo(echo.clone()),
        sse::Event {
            event: Some("content_block_delta".into()),
            data: ANTHROPIC_DELTA.into(),
        },
    );
}

criterion_group!(benches, converters, providers, responses, responses_vs_chat);
criterion_main!(benches);

//! Fuzzing the answer converters: every provider dialect's answer and stream, mutated and cut
//! anywhere, translated into each client dialect. Invariants: no panic, bounded time, and what
//! comes out is well formed — a JSON answer, or SSE events whose data is JSON (or `[DONE]`).

use switchyard_protocol::bedrock::eventstream;
use switchyard_protocol::{sse, Dialect};
use switchyard_testkit::fuzz;

use super::{response, Kind, Transcoder, Translation};

fn translation(client: Dialect, provider: Dialect) -> Translation {
    Translation {
        client,
        provider,
        kind: Kind::Chat,
        include_usage: true,
        model: "m".into(),
        json_tool: false,
        echo: (client == Dialect::Responses).then(Box::default),
    }
}

const CLIENTS: [Dialect; 3] = [Dialect::OpenAi, Dialect::Anthropic, Dialect::Responses];

/// A short, real-shaped stream in `provider`'s dialect.
fn stream_seed(provider: Dialect) -> Vec<u8> {
    match provider {
        Dialect::OpenAi | Dialect::Responses => concat!(
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
            "data: [DONE]\n\n"
        ).into(),
        Dialect::Anthropic => concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        ).into(),
        Dialect::Gemini => concat!(
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{}}}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":1,\"totalTokenCount\":4}}\r\n\r\n"
        ).into(),
        Dialect::Cohere => concat!(
            "event: message-start\ndata: {\"id\":\"x\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n",
            "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n",
            "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":3,\"output_tokens\":1}}}}\n\n"
        ).into(),
        Dialect::WorkersAi => concat!(
            "data: {\"response\":\"Hi\"}\n\n",
            "data: {\"response\":\"\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
            "data: [DONE]\n\n"
        ).into(),
        Dialect::Bedrock => {
            let mut out = eventstream::encode("messageStart", br#"{"role":"assistant"}"#);
            out.extend(eventstream::encode("contentBlockDelta", br#"{"delta":{"text":"Hi"},"contentBlockIndex":0}"#));
            out.extend(eventstream::encode("messageStop", br#"{"stopReason":"end_turn"}"#));
            out.extend(eventstream::encode("metadata", br#"{"usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4}}"#));
            out
        }
    }
}

/// A real-shaped whole answer in `provider`'s dialect.
fn answer_seed(provider: Dialect) -> &'static [u8] {
    match provider {
        Dialect::OpenAi | Dialect::Responses => br#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
        Dialect::Anthropic => br#"{"id":"msg","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#,
        Dialect::Gemini => br#"{"candidates":[{"content":{"parts":[{"text":"Hi"},{"functionCall":{"name":"f","args":{}}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}"#,
        Dialect::Cohere => br#"{"id":"x","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Hi"}]},"usage":{"billed_units":{"input_tokens":3,"output_tokens":1}}}"#,
        Dialect::WorkersAi => br#"{"result":{"response":"Hi","usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}},"success":true,"errors":[],"messages":[]}"#,
        Dialect::Bedrock => br#"{"output":{"message":{"role":"assistant","content":[{"text":"Hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4}}"#,
    }
}

const PROVIDERS: [Dialect; 6] = [
    Dialect::OpenAi,
    Dialect::Anthropic,
    Dialect::Gemini,
    Dialect::Cohere,
    Dialect::WorkersAi,
    Dialect::Bedrock,
];

/// Every event of a translated stream carries JSON (or OpenAI's `[DONE]`).
fn assert_well_formed(out: &[u8]) {
    let mut parser = sse::Parser::new();
    let mut events = Vec::new();
    parser.feed(out, &mut events);
    parser.feed(b"\n\n", &mut events);
    for e in events {
        assert!(
            e.data == "[DONE]" || serde_json::from_str::<serde_json::Value>(&e.data).is_ok(),
            "not JSON: {:?}",
            e.data
        );
    }
}

#[test]
fn fuzz_stream_transcoders() {
    let seeds: Vec<Vec<u8>> = PROVIDERS.iter().map(|p| stream_seed(*p)).collect();
    let seed_refs: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    let mut rng = fuzz::Rng::new(7);
    let mut turn = 0usize;
    fuzz::run("stream-transcoders", &seed_refs, |input| {
        turn += 1;
        // each input goes through one provider dialect into one client dialect
        let provider = PROVIDERS[turn % PROVIDERS.len()];
        let client = CLIENTS[(turn / PROVIDERS.len()) % CLIENTS.len()];
        let mut t = Transcoder::new(&translation(client, provider));
        let mut out = Vec::new();
        for piece in fuzz::chunks(&mut rng, input) {
            out.extend(t.feed(piece));
        }
        if let Some(tail) = t.finish() {
            out.extend(tail);
        }
        assert_well_formed(&out);
    });
}

#[test]
fn fuzz_answer_converters() {
    let seeds: Vec<&[u8]> = PROVIDERS.iter().map(|p| answer_seed(*p)).collect();
    let mut turn = 0usize;
    fuzz::run("answer-converters", &seeds, |input| {
        turn += 1;
        let provider = PROVIDERS[turn % PROVIDERS.len()];
        let client = CLIENTS[(turn / PROVIDERS.len()) % CLIENTS.len()];
        if let Ok(out) = response(input, &translation(client, provider), "p") {
            assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
        }
    });
}

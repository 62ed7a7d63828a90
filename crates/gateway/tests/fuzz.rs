//! Fuzzing what reads client and provider bytes before any of the gateway's logic: the JSON
//! views and the splicer, the SSE and AWS event-stream framers, the request converters from each
//! client dialect to each provider's, and config parsing. Invariants: no panic, bounded time,
//! and where a round trip exists, that it holds (a stream framed the same however it is cut; a
//! spliced body still JSON). Time per target: `SWITCHYARD_FUZZ_SECS` (see
//! `switchyard_testkit::fuzz`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use switchyard_protocol::bedrock::eventstream;
use switchyard_protocol::json::{ObjectView, Splicer};
use switchyard_protocol::openai::ChatRequest;
use switchyard_protocol::{anthropic, bedrock, cohere, gemini, openai, sse, workers_ai};
use switchyard_testkit::fuzz;

const CHAT: &[u8] = br#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Weather in Paris?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"{\"temp\":18}"}],"tools":[{"type":"function","function":{"name":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"temperature":0.2,"max_tokens":64,"stream":true,"stream_options":{"include_usage":true},"response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object"}}}}"#;
const MESSAGES: &[u8] = br#"{"model":"claude-sonnet-4-5","max_tokens":64,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"18C"}]}],"tools":[{"name":"weather","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"},"stream":true,"thinking":{"type":"enabled","budget_tokens":1024}}"#;

#[test]
fn fuzz_json_views_and_splicer() {
    fuzz::run("json-views", &[CHAT, MESSAGES], |input| {
        let Ok(view) = ObjectView::parse(input) else {
            return;
        };
        let _ = view.members().count();
        if let Ok(chat) = ChatRequest::parse(input) {
            // the model rewritten in place: still one JSON object, with the new model
            let out = chat.rewrite("other-model").finish();
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["model"], "other-model");
        }
        let mut splicer = Splicer::new(input);
        splicer.append("x_added", b"[1,2]");
        let out = splicer.finish();
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
    });
}

#[test]
fn fuzz_request_converters() {
    fuzz::run("request-converters", &[CHAT, MESSAGES], |input| {
        let _ = workers_ai::client::run_to_openai("m", input, workers_ai::client::RunModel::Any);
        for canonical in [
            openai::convert::request_to_canonical(input).ok(),
            anthropic::client::request_to_canonical(input).ok(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = openai::upstream::request_from_canonical(&canonical, "m");
            let _ =
                anthropic::request_from_canonical(&canonical, "m").map(|b| serde_json::to_vec(&b));
            let _ = gemini::request_from_canonical(&canonical);
            let _ = cohere::request_from_canonical(&canonical, "m");
            let _ = bedrock::request_from_canonical(&canonical);
            let _ = workers_ai::request_from_canonical(&canonical);
        }
    });
}

/// The events framed from `pieces`, fed in order.
fn sse_events(pieces: &[&[u8]]) -> Vec<sse::Event> {
    let mut p = sse::Parser::new();
    let mut out = Vec::new();
    for piece in pieces {
        p.feed(piece, &mut out);
    }
    out
}

#[test]
fn fuzz_sse_framing_is_the_same_however_the_stream_is_cut() {
    let seed = b"event: message_start\ndata: {\"a\":1}\n\n: ping\n\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\n\n";
    let mut rng = fuzz::Rng::new(11);
    fuzz::run("sse", &[seed], |input| {
        let whole = sse_events(&[input]);
        let cut = sse_events(&fuzz::chunks(&mut rng, input));
        assert_eq!(whole, cut);
    });
}

#[test]
fn fuzz_aws_event_stream_framing() {
    let mut seed = eventstream::encode("messageStart", br#"{"role":"assistant"}"#);
    seed.extend(eventstream::encode(
        "contentBlockDelta",
        br#"{"delta":{"text":"Hi"},"contentBlockIndex":0}"#,
    ));
    seed.extend(eventstream::encode(
        "messageStop",
        br#"{"stopReason":"end_turn"}"#,
    ));
    let mut rng = fuzz::Rng::new(13);
    fuzz::run("aws-event-stream", &[&seed], |input| {
        let mut whole = eventstream::Parser::new();
        let mut a = Vec::new();
        let whole_ok = whole.feed(input, &mut a).is_ok();
        let mut cut = eventstream::Parser::new();
        let mut b = Vec::new();
        let mut cut_ok = true;
        for piece in fuzz::chunks(&mut rng, input) {
            if cut.feed(piece, &mut b).is_err() {
                cut_ok = false;
                break;
            }
        }
        if whole_ok && cut_ok {
            assert_eq!(a, b, "the same frames however the bytes arrive");
        }
    });
}

#[test]
fn fuzz_config_parsing() {
    let seed = br#"[server]
listen = "127.0.0.1:8080"
env_providers = false
allowed_origins = ["https://app.example"]
[providers.openai]
kind = "openai"
api_key = "sk-x"
timeout_ms = 1000
[[models]]
name = "fast"
target = "openai/gpt-4o-mini"
fallbacks = ["openai/gpt-4o"]
cache_ttl_seconds = 60
[cache]
ttl_seconds = 60
[[rate_limits]]
scope = "key"
limit = 10
window = "1m"
[[budgets]]
scope = "key"
usd = 5
period = "day"
"#;
    fuzz::run("config", &[seed], |input| {
        let Ok(text) = std::str::from_utf8(input) else {
            return;
        };
        let _ = switchyard_config::load_str("fuzz.toml", text);
    });
}

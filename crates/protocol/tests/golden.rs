//! Golden files for every translation. Requests: each `golden/requests/{case}.input.json` (an
//! OpenAI client request) is converted for every provider and compared with
//! `{case}.{provider}.json` (or `{case}.{provider}.unsupported.txt`, the 400 message, when the
//! provider cannot take it). Responses: each `golden/responses/{provider}.{case}.json` (a provider
//! answer) is converted for every client dialect and compared with `….to-openai.json` /
//! `….to-anthropic.json` / `….to-responses.json`. Streams: the Responses API's event grammar
//! for a fixed event sequence, `golden/streams/responses.tool_calls.sse`. Run with `UPDATE_GOLDEN=1` to rewrite the expected files after an
//! intended change, then review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use switchyard_protocol::canonical::{ChatRequest, ChatResponse, Unsupported};
use switchyard_protocol::canonical::{StopReason, StreamEvent, Usage};
use switchyard_protocol::openai::{convert, responses, upstream};
use switchyard_protocol::{anthropic, bedrock, cohere, gemini, workers_ai};

fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(kind)
}

fn update() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

/// Compares `actual` with the file at `path` (writing it in update mode).
fn check(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if update() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => failures.push(format!(
            "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )),
        Err(_) => failures.push(format!(
            "{} is missing (run with UPDATE_GOLDEN=1)",
            path.display()
        )),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

type Encode = fn(&ChatRequest) -> Result<Value, Unsupported>;

const PROVIDERS: &[(&str, Encode)] = &[
    ("anthropic", |r| {
        anthropic::request_from_canonical(r, "m").map(|b| serde_json::to_value(b).unwrap())
    }),
    ("gemini", gemini::request_from_canonical),
    ("bedrock", bedrock::request_from_canonical),
    ("cohere", |r| cohere::request_from_canonical(r, "m")),
    ("workers-ai", workers_ai::request_from_canonical),
    ("openai", |r| Ok(upstream::request_from_canonical(r, "m"))),
];

#[test]
fn requests() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for entry in std::fs::read_dir(dir("requests")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(case) = name.strip_suffix(".input.json") else {
            continue;
        };
        cases += 1;
        let canonical = convert::request_to_canonical(&std::fs::read(&path).unwrap()).unwrap();
        for (provider, encode) in PROVIDERS {
            let file = |ext: &str| dir("requests").join(format!("{case}.{provider}.{ext}"));
            match encode(&canonical) {
                Ok(body) => check(&file("json"), &pretty(&body), &mut failures),
                Err(e) => check(&file("unsupported.txt"), &format!("{e}\n"), &mut failures),
            }
        }
    }
    assert!(cases >= 5, "golden request cases missing");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn decode(provider: &str, body: &[u8]) -> ChatResponse {
    match provider {
        "anthropic" => anthropic::response_to_canonical(body),
        "gemini" => gemini::response_to_canonical(body),
        "bedrock" => bedrock::response_to_canonical(body),
        "cohere" => cohere::response_to_canonical(body),
        "workers-ai" => workers_ai::response_to_canonical(body),
        "openai" => upstream::response_to_canonical(body),
        other => panic!("no decoder for {other}"),
    }
    .unwrap_or_else(|| panic!("{provider} fixture did not decode"))
}

#[test]
fn responses() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for entry in std::fs::read_dir(dir("responses")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.contains(".to-") || !name.ends_with(".json") {
            continue;
        }
        cases += 1;
        let provider = name.split('.').next().unwrap();
        let canonical = decode(provider, &std::fs::read(&path).unwrap());
        let stem = name.trim_end_matches(".json");
        let openai = serde_json::to_value(convert::response_from_canonical(&canonical, 0)).unwrap();
        check(
            &dir("responses").join(format!("{stem}.to-openai.json")),
            &pretty(&openai),
            &mut failures,
        );
        let claude = anthropic::client::response_from_canonical(&canonical);
        check(
            &dir("responses").join(format!("{stem}.to-anthropic.json")),
            &pretty(&claude),
            &mut failures,
        );
        let responses: Value = serde_json::from_slice(
            &responses::response_from_canonical(&canonical, 0, &Default::default()).unwrap(),
        )
        .unwrap();
        check(
            &dir("responses").join(format!("{stem}.to-responses.json")),
            &pretty(&responses),
            &mut failures,
        );
    }
    assert!(cases >= 6, "golden response cases missing");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The Responses API's stream grammar, byte for byte: text, reasoning, two tool calls, usage.
#[test]
fn responses_stream() {
    let events = [
        StreamEvent::Start {
            id: "chatcmpl-42".into(),
            model: "m".into(),
        },
        StreamEvent::Reasoning("Think".into()),
        StreamEvent::Text("Checking ".into()),
        StreamEvent::Text("both.".into()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            delta: "{\"city\":".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            delta: "\"Paris\"}".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_2".into(),
            name: "get_time".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 1,
            delta: "{}".into(),
        },
        StreamEvent::Finish(StopReason::ToolCalls),
        StreamEvent::Usage(Usage {
            input: 12,
            output: 7,
            cached_input: 2,
            reasoning: 1,
        }),
        StreamEvent::Done,
    ];
    let mut encoder = responses::StreamEncoder::new("m", 0);
    let mut out = Vec::new();
    for e in &events {
        encoder.encode(e, &mut out);
    }
    let mut failures = Vec::new();
    check(
        &dir("streams").join("responses.tool_calls.sse"),
        &String::from_utf8(out).unwrap(),
        &mut failures,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

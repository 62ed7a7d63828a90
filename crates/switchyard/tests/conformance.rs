//! The conformance matrix: client dialect × provider × {json, stream} × feature. Every cell must
//! either work (checked on what the client got back) or be refused with a 400 that names the
//! feature and the provider; a cell that does neither fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};
use switchyard_testkit::{MockUpstream, Switchyard};

/// `oai` answers the Responses API natively (its own `/v1/responses`); `oaichat` is an OpenAI
/// provider reached through its chat API (`responses_api = "chat"`).
const PROVIDERS: &[&str] = &["oai", "oaichat", "claude", "gem", "co", "br", "cf"];

async fn start() -> (MockUpstream, Switchyard) {
    let mock = MockUpstream::start().await.unwrap();
    let root = mock.root_url();
    let config = format!(
        r#"[server]
env_providers = false
[providers.oai]
kind = "openai"
base_url = "{root}/v1"
api_key = "k"
[providers.oaichat]
kind = "openai"
base_url = "{root}/v1"
api_key = "k"
responses_api = "chat"
[providers.claude]
kind = "anthropic"
base_url = "{root}/v1"
api_key = "k"
[providers.gem]
kind = "gemini"
base_url = "{root}/v1beta"
api_key = "k"
[providers.co]
kind = "cohere"
base_url = "{root}/v2"
api_key = "k"
[providers.br]
kind = "bedrock"
base_url = "{root}"
aws_access_key_id = "AKID"
aws_secret_access_key = "secret"
[providers.cf]
kind = "workers-ai-run"
base_url = "{root}/client/v4/accounts/acct/ai"
api_key = "k"
"#
    );
    let gateway = Switchyard::start(common::bin(), &config).await.unwrap();
    (mock, gateway)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Feature {
    Text,
    Tools,
    Image,
    UpstreamError,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Client {
    OpenAi,
    Anthropic,
    Responses,
}

const IMAGE: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn request(
    client: Client,
    provider: &str,
    feature: Feature,
    stream: bool,
) -> (&'static str, Value) {
    let model = if feature == Feature::UpstreamError {
        "status-400"
    } else {
        "model-x"
    };
    let model = format!("{provider}/{model}");
    match client {
        Client::OpenAi => {
            let content = match feature {
                Feature::Image => {
                    json!([{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{IMAGE}")}}])
                }
                _ => json!("Hello"),
            };
            let mut body = json!({"model": model, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}], "max_tokens": 50});
            if feature == Feature::Tools {
                body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
            }
            if stream {
                body["stream"] = json!(true);
                body["stream_options"] = json!({"include_usage": true});
            }
            ("/v1/chat/completions", body)
        }
        Client::Anthropic => {
            let content = match feature {
                Feature::Image => {
                    json!([{"type": "text", "text": "What is this?"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": IMAGE}}])
                }
                _ => json!("Hello"),
            };
            let mut body = json!({"model": model, "system": "Be brief.", "messages": [{"role": "user", "content": content}], "max_tokens": 50});
            if feature == Feature::Tools {
                body["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
            }
            if stream {
                body["stream"] = json!(true);
            }
            ("/v1/messages", body)
        }
        Client::Responses => {
            let content = match feature {
                Feature::Image => {
                    json!([{"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": format!("data:image/png;base64,{IMAGE}")}])
                }
                _ => json!("Hello"),
            };
            let mut body = json!({"model": model, "instructions": "Be brief.", "input": [{"role": "user", "content": content}], "max_output_tokens": 50});
            if feature == Feature::Tools {
                body["tools"] = json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
            }
            if stream {
                body["stream"] = json!(true);
            }
            ("/v1/responses", body)
        }
    }
}

/// What the client got, reduced to (text, tool name, tool arguments, stop, output tokens).
#[derive(Debug, Default)]
struct Outcome {
    text: String,
    tool: Option<String>,
    arguments: String,
    stop: Option<String>,
    output_tokens: Option<u64>,
}

fn reduce(client: Client, stream: bool, body: &str) -> Outcome {
    let mut o = Outcome::default();
    match (client, stream) {
        (Client::OpenAi, false) => {
            let v: Value = serde_json::from_str(body).unwrap();
            let m = &v["choices"][0]["message"];
            o.text = m["content"].as_str().unwrap_or_default().to_owned();
            o.tool = m["tool_calls"][0]["function"]["name"]
                .as_str()
                .map(str::to_owned);
            o.arguments = m["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            o.stop = v["choices"][0]["finish_reason"].as_str().map(str::to_owned);
            o.output_tokens = v["usage"]["completion_tokens"].as_u64();
        }
        (Client::OpenAi, true) => {
            assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
            for e in body
                .split("\n\n")
                .filter(|e| !e.is_empty() && *e != "data: [DONE]")
            {
                let v: Value = serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap();
                assert!(v.get("error").is_none(), "{body}");
                let d = &v["choices"][0]["delta"];
                o.text.push_str(d["content"].as_str().unwrap_or_default());
                if let Some(name) = d["tool_calls"][0]["function"]["name"].as_str() {
                    o.tool = Some(name.to_owned());
                }
                o.arguments.push_str(
                    d["tool_calls"][0]["function"]["arguments"]
                        .as_str()
                        .unwrap_or_default(),
                );
                if let Some(f) = v["choices"][0]["finish_reason"].as_str() {
                    o.stop = Some(f.to_owned());
                }
                if let Some(t) = v["usage"]["completion_tokens"].as_u64() {
                    o.output_tokens = Some(t);
                }
            }
        }
        (Client::Anthropic, false) => {
            let v: Value = serde_json::from_str(body).unwrap();
            for block in v["content"].as_array().unwrap() {
                match block["type"].as_str() {
                    Some("text") => o.text.push_str(block["text"].as_str().unwrap()),
                    Some("tool_use") => {
                        o.tool = block["name"].as_str().map(str::to_owned);
                        o.arguments = block["input"].to_string();
                    }
                    _ => {}
                }
            }
            o.stop = v["stop_reason"].as_str().map(str::to_owned);
            o.output_tokens = v["usage"]["output_tokens"].as_u64();
        }
        (Client::Anthropic, true) => {
            assert!(body.contains("event: message_stop"), "{body}");
            for e in body.split("\n\n").filter(|e| !e.is_empty()) {
                let data = e.lines().nth(1).unwrap().strip_prefix("data: ").unwrap();
                let v: Value = serde_json::from_str(data).unwrap();
                assert_ne!(v["type"], "error", "{body}");
                if let Some(t) = v.pointer("/delta/text").and_then(Value::as_str) {
                    o.text.push_str(t);
                }
                if let Some(name) = v.pointer("/content_block/name").and_then(Value::as_str) {
                    o.tool = Some(name.to_owned());
                }
                if let Some(j) = v.pointer("/delta/partial_json").and_then(Value::as_str) {
                    o.arguments.push_str(j);
                }
                if let Some(s) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    o.stop = Some(s.to_owned());
                    o.output_tokens = v.pointer("/usage/output_tokens").and_then(Value::as_u64);
                }
            }
        }
        (Client::Responses, false) => {
            let v: Value = serde_json::from_str(body).unwrap();
            for item in v["output"].as_array().unwrap() {
                match item["type"].as_str() {
                    Some("message") => {
                        for part in item["content"].as_array().unwrap() {
                            o.text.push_str(part["text"].as_str().unwrap_or_default());
                        }
                    }
                    Some("function_call") => {
                        o.tool = item["name"].as_str().map(str::to_owned);
                        o.arguments = item["arguments"].as_str().unwrap_or_default().to_owned();
                    }
                    _ => {}
                }
            }
            o.stop = v["status"].as_str().map(str::to_owned);
            o.output_tokens = v["usage"]["output_tokens"].as_u64();
        }
        (Client::Responses, true) => {
            assert!(body.contains("event: response.completed"), "{body}");
            for (sequence, e) in body.split("\n\n").filter(|e| !e.is_empty()).enumerate() {
                let data = e.lines().nth(1).unwrap().strip_prefix("data: ").unwrap();
                let v: Value = serde_json::from_str(data).unwrap();
                assert_ne!(v["type"], "error", "{body}");
                assert_eq!(v["sequence_number"], sequence, "{body}");
                match v["type"].as_str().unwrap() {
                    "response.output_text.delta" => o.text.push_str(v["delta"].as_str().unwrap()),
                    "response.output_item.added" if v["item"]["type"] == "function_call" => {
                        o.tool = v["item"]["name"].as_str().map(str::to_owned)
                    }
                    "response.function_call_arguments.delta" => {
                        o.arguments.push_str(v["delta"].as_str().unwrap())
                    }
                    "response.completed" => {
                        o.stop = v["response"]["status"].as_str().map(str::to_owned);
                        o.output_tokens = v["response"]["usage"]["output_tokens"].as_u64();
                    }
                    _ => {}
                }
            }
        }
    }
    o
}

#[tokio::test]
async fn every_cell_works_or_is_refused_by_name() {
    let (_mock, gateway) = start().await;
    let http = reqwest::Client::new();
    let mut cells = 0;
    let mut refused = 0;
    for client in [Client::OpenAi, Client::Anthropic, Client::Responses] {
        for provider in PROVIDERS {
            for stream in [false, true] {
                for feature in [
                    Feature::Text,
                    Feature::Tools,
                    Feature::Image,
                    Feature::UpstreamError,
                ] {
                    cells += 1;
                    let cell = format!("{client:?} → {provider}, stream={stream}, {feature:?}");
                    let (path, body) = request(client, provider, feature, stream);
                    let response = http
                        .post(gateway.url(path))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap();
                    if feature == Feature::UpstreamError {
                        assert!((400..500).contains(&status), "{cell}: {status} {text}");
                        let v: Value = serde_json::from_str(&text).unwrap();
                        match client {
                            Client::OpenAi | Client::Responses => {
                                assert!(v["error"]["message"].is_string(), "{cell}: {text}")
                            }
                            Client::Anthropic => assert_eq!(v["type"], "error", "{cell}: {text}"),
                        }
                        continue;
                    }
                    if status == 400 {
                        // Explicitly unsupported: the message must name the feature and the provider.
                        let feature_named = match feature {
                            Feature::Image => text.contains("image"),
                            Feature::Tools => stream && text.contains("tools with stream"),
                            _ => false,
                        };
                        assert!(
                            feature_named && text.contains(provider),
                            "{cell}: refused without naming feature and provider: {text}"
                        );
                        refused += 1;
                        continue;
                    }
                    assert_eq!(status, 200, "{cell}: {text}");
                    let o = reduce(client, stream, &text);
                    let (tool_stop, text_stop) = match client {
                        Client::OpenAi => ("tool_calls", "stop"),
                        Client::Anthropic => ("tool_use", "end_turn"),
                        Client::Responses => ("completed", "completed"),
                    };
                    if feature == Feature::Tools {
                        assert_eq!(o.tool.as_deref(), Some("get_weather"), "{cell}: {text}");
                        let args: Value = serde_json::from_str(&o.arguments).unwrap_or(Value::Null);
                        assert_eq!(args, json!({"city": "Paris"}), "{cell}: {text}");
                        assert_eq!(o.stop.as_deref(), Some(tool_stop), "{cell}: {text}");
                    } else {
                        assert_eq!(o.text, "Hello from mock", "{cell}: {text}");
                        assert_eq!(o.stop.as_deref(), Some(text_stop), "{cell}: {text}");
                    }
                    assert!(
                        o.output_tokens.is_some_and(|t| t > 0),
                        "{cell}: usage missing: {text}"
                    );
                }
            }
        }
    }
    assert_eq!(cells, 3 * PROVIDERS.len() * 2 * 4);
    // Workers AI's native API takes no images (every client dialect, json and stream) and streams
    // no tool calls (every client dialect).
    assert_eq!(refused, 9);
}

//! Canonical → `generateContent` request body; OpenAI embeddings → `batchEmbedContents`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::signature_of;
use crate::canonical::{ChatRequest, Image, Part, ResponseFormat, Role, ToolChoice, Unsupported};

const PROVIDER: &str = "gemini";

fn unsupported(feature: &str) -> Unsupported {
    Unsupported {
        feature: feature.to_owned(),
        provider: PROVIDER,
    }
}

/// Builds the JSON body for `models/{model}:generateContent` (the model is in the URL).
pub fn request_from_canonical(req: &ChatRequest) -> Result<Value, Unsupported> {
    if req.logprobs {
        return Err(unsupported("logprobs"));
    }
    if req.logit_bias {
        return Err(unsupported("logit_bias"));
    }
    // Tool results need the function *name*; OpenAI-style histories only carry the call id.
    let mut names: HashMap<&str, &str> = HashMap::new();
    for m in &req.messages {
        for p in &m.content {
            if let Part::ToolCall(c) = p {
                names.insert(&c.id, &c.name);
            }
        }
    }
    let mut contents: Vec<(String, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let role = match m.role {
            Role::User | Role::Tool => "user",
            Role::Assistant => "model",
        };
        let mut parts = Vec::new();
        for p in &m.content {
            match p {
                Part::Text(t) => parts.push(json!({"text": t})),
                Part::Image(Image::Base64 { media_type, data }) => {
                    parts.push(json!({"inlineData": {"mimeType": media_type, "data": data}}))
                }
                Part::Image(Image::Url(_)) => {
                    return Err(unsupported(
                        "image URLs (send the image inline as a data: URL)",
                    ))
                }
                Part::ToolCall(c) => {
                    let args: Value =
                        serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
                    let mut part = json!({"functionCall": {"name": c.name, "args": args}});
                    if let Some(sig) = signature_of(&c.id) {
                        part["thoughtSignature"] = json!(sig);
                    }
                    parts.push(part);
                }
                Part::ToolResult {
                    call_id, content, ..
                } => {
                    let name = names.get(call_id.as_str()).copied().unwrap_or(call_id);
                    let response = match serde_json::from_str::<Value>(content) {
                        Ok(v @ Value::Object(_)) => v,
                        _ => json!({"content": content}),
                    };
                    parts.push(json!({"functionResponse": {"name": name, "response": response}}));
                }
                // Gemini re-derives its reasoning; earlier thoughts are not sent back.
                Part::Reasoning { .. } => {}
            }
        }
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some((last, existing)) if last == role => existing.extend(parts),
            _ => contents.push((role.to_owned(), parts)),
        }
    }
    let mut body = Map::new();
    body.insert(
        "contents".into(),
        Value::Array(
            contents
                .into_iter()
                .map(|(role, parts)| json!({"role": role, "parts": parts}))
                .collect(),
        ),
    );
    if !req.system.is_empty() {
        let parts: Vec<Value> = req.system.iter().map(|t| json!({"text": t})).collect();
        body.insert("systemInstruction".into(), json!({"parts": parts}));
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name, "parameters": t.parameters});
                if let Some(desc) = &t.description {
                    d["description"] = json!(desc);
                }
                d
            })
            .collect();
        body.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    if let Some(choice) = &req.tool_choice {
        let config = match choice {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Specific(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        };
        body.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": config}),
        );
    }
    let mut generation = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            generation.insert(k.into(), v);
        }
    };
    put("temperature", req.temperature.map(|v| json!(v)));
    put("topP", req.top_p.map(|v| json!(v)));
    put("topK", req.top_k.map(|v| json!(v)));
    put("maxOutputTokens", req.max_tokens.map(|v| json!(v)));
    put("candidateCount", req.n.map(|v| json!(v)));
    put("seed", req.seed.map(|v| json!(v)));
    put("presencePenalty", req.presence_penalty.map(|v| json!(v)));
    put("frequencyPenalty", req.frequency_penalty.map(|v| json!(v)));
    put(
        "stopSequences",
        (!req.stop.is_empty()).then(|| json!(req.stop)),
    );
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            put("responseMimeType", Some(json!("application/json")))
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            put("responseMimeType", Some(json!("application/json")));
            put("responseJsonSchema", Some(schema.clone()));
        }
    }
    if let Some(r) = &req.reasoning {
        let budget = r.budget_tokens.unwrap_or(match r.effort.as_deref() {
            Some("low" | "minimal") => 1024,
            Some("high") => 24576,
            _ => 8192,
        });
        put(
            "thinkingConfig",
            Some(json!({"thinkingBudget": budget, "includeThoughts": true})),
        );
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    for (k, v) in &req.extra {
        body.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Ok(Value::Object(body))
}

/// OpenAI `/v1/embeddings` body → `models/{model}:batchEmbedContents` body.
pub fn embeddings_request(openai: &[u8], model: &str) -> Result<Value, Unsupported> {
    let v: Value = serde_json::from_slice(openai).map_err(|_| unsupported("a non-JSON body"))?;
    let inputs: Vec<String> = match &v["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        _ => return Err(unsupported("token-id inputs (send text)")),
    };
    if v.get("encoding_format").and_then(Value::as_str) == Some("base64") {
        return Err(unsupported("encoding_format base64"));
    }
    let dims = v.get("dimensions").and_then(Value::as_u64);
    let requests: Vec<Value> = inputs
        .iter()
        .map(|text| {
            let mut r =
                json!({"model": format!("models/{model}"), "content": {"parts": [{"text": text}]}});
            if let Some(d) = dims {
                r["outputDimensionality"] = json!(d);
            }
            r
        })
        .collect();
    Ok(json!({"requests": requests}))
}

/// A Messages `count_tokens` request (as canonical) → `models/{model}:countTokens` body.
pub fn count_tokens_request(req: &ChatRequest, model: &str) -> Result<Value, Unsupported> {
    let mut inner = request_from_canonical(req)?;
    if let Value::Object(map) = &mut inner {
        map.remove("generationConfig");
        map.remove("toolConfig");
        map.insert("model".into(), json!(format!("models/{model}")));
    }
    Ok(json!({"generateContentRequest": inner}))
}

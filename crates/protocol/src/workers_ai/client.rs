//! The Workers AI dialect on the client side (`POST /ai/run/{model}` called on this gateway): a
//! run's input as the OpenAI request it stands for, and OpenAI answers, errors and stream chunks
//! wrapped back in Cloudflare's `{result, success, errors, messages}` envelope.

use serde_json::{json, Map, Value};

/// Which OpenAI API a run stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunApi {
    /// Text generation with `messages`, or a `prompt` taken as one user message.
    Chat,
    /// Text generation with a `raw` prompt (no chat template).
    Completion,
    /// `text` → embeddings.
    Embeddings,
    /// `{query, contexts: [{text}], top_k}` → rerank (bge-reranker's schema).
    Rerank,
    /// `text` on a text-classification model → labels with scores; `batch`: `text` was an
    /// array (one list of labels per text), else one list.
    Classify { batch: bool },
    /// `prompt` on a text-to-image model → the image: PNG bytes, or `{image: base64}` in the
    /// envelope (`json`, as FLUX's schema says).
    Image { json: bool },
}

/// What the model a run names does, where the input alone does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunModel {
    /// Text generation or embeddings, by the input's shape.
    Any,
    /// A text classifier (`{text}` is not an embedding's).
    Classifier,
    /// A text-to-image model (`{prompt}` is not a chat's).
    Image { json: bool },
}

/// Input fields passed to the OpenAI request as they are.
const PASSED: [&str; 12] = [
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "repetition_penalty",
    "frequency_penalty",
    "presence_penalty",
    "stream",
    "tools",
    "stop",
    "min_p",
];

/// A run's input → the API and body it stands for (OpenAI's, or the rerank and classification
/// bodies); `classifier`: the model classifies text (its `{text}` is not an embedding's). The
/// error says what is wrong with the input.
pub fn run_to_openai(model: &str, body: &[u8], kind: RunModel) -> Result<(RunApi, Value), String> {
    let input: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err("the input must be a JSON object".into()),
        Err(e) => return Err(format!("the input is not valid JSON: {e}")),
    };
    if input.contains_key("contexts") {
        return rerank_input(model, &input);
    }
    if let RunModel::Image { json } = kind {
        return image_input(model, &input).map(|body| (RunApi::Image { json }, body));
    }
    if let Some(text) = input.get("text") {
        let ok = text.is_string()
            || text
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
        if !ok {
            return Err("`text` must be a string or a non-empty array of strings".into());
        }
        if kind == RunModel::Classifier {
            let batch = text.is_array();
            return Ok((
                RunApi::Classify { batch },
                json!({"model": model, "input": text}),
            ));
        }
        return Ok((RunApi::Embeddings, json!({"model": model, "input": text})));
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    for key in PASSED {
        if let Some(v) = input.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(format) = input.get("response_format") {
        // Workers AI: {"type": "json_schema", "json_schema": SCHEMA}
        let schema = format.get("json_schema").cloned().unwrap_or(json!({}));
        let of_type = format.get("type").and_then(Value::as_str).unwrap_or("");
        let v = match of_type {
            "json_schema" => {
                json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema}})
            }
            "json_object" => json!({"type": "json_object"}),
            _ => return Err("`response_format.type` must be json_object or json_schema".into()),
        };
        out.insert("response_format".into(), v);
    }
    if input.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let raw = input.get("raw").and_then(Value::as_bool) == Some(true);
    match (input.get("messages"), input.get("prompt")) {
        (Some(m), None) if m.is_array() => {
            out.insert("messages".into(), m.clone());
            Ok((RunApi::Chat, Value::Object(out)))
        }
        (None, Some(Value::String(p))) if raw => {
            out.insert("prompt".into(), json!(p));
            Ok((RunApi::Completion, Value::Object(out)))
        }
        (None, Some(Value::String(p))) => {
            out.insert("messages".into(), json!([{"role": "user", "content": p}]));
            Ok((RunApi::Chat, Value::Object(out)))
        }
        (Some(_), Some(_)) => Err("give `prompt` or `messages`, not both".into()),
        _ => Err(
            "the input needs `prompt` (a string), `messages` (an array) or `text` (embeddings)"
                .into(),
        ),
    }
}

/// A text-to-image input (`prompt`, `negative_prompt`, `width`, `height`, `num_steps`,
/// `guidance`, `seed`) → the images body (one image, base64).
fn image_input(model: &str, input: &Map<String, Value>) -> Result<Value, String> {
    let prompt = input
        .get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .ok_or("`prompt` must be a non-empty string")?;
    for unsupported in ["image", "image_b64", "mask"] {
        if input.contains_key(unsupported) {
            return Err(format!(
                "`{unsupported}` (image-to-image, inpainting) is not supported by local models"
            ));
        }
    }
    let mut body = json!({"model": model, "prompt": prompt, "n": 1, "response_format": "b64_json"});
    for key in [
        "negative_prompt",
        "width",
        "height",
        "num_steps",
        "guidance",
        "seed",
    ] {
        if let Some(v) = input.get(key).filter(|v| !v.is_null()) {
            body[key] = v.clone();
        }
    }
    // FLUX's name for the step count
    if let Some(steps) = input
        .get("steps")
        .filter(|_| !input.contains_key("num_steps"))
    {
        body["num_steps"] = steps.clone();
    }
    Ok(body)
}

/// bge-reranker's input → the rerank body (`top_k` → `top_n`).
fn rerank_input(model: &str, input: &Map<String, Value>) -> Result<(RunApi, Value), String> {
    let query = input
        .get("query")
        .and_then(Value::as_str)
        .filter(|q| !q.is_empty())
        .ok_or("`query` must be a non-empty string")?;
    let contexts = input
        .get("contexts")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("`contexts` must be a non-empty array of {\"text\": …}")?;
    let documents = contexts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.get("text")
                .and_then(Value::as_str)
                .map(|t| json!(t))
                .ok_or(format!("`contexts[{i}]` must be an object with `text`"))
        })
        .collect::<Result<Vec<Value>, String>>()?;
    let mut body = json!({"model": model, "query": query, "documents": documents});
    match input.get("top_k") {
        None | Some(Value::Null) => {}
        Some(k) if k.as_u64().is_some_and(|k| k >= 1) => body["top_n"] = k.clone(),
        Some(_) => return Err("`top_k` must be a whole number of at least 1".into()),
    }
    Ok((RunApi::Rerank, body))
}

/// A successful run's envelope around `result`.
pub fn envelope(result: Value) -> Value {
    json!({"result": result, "success": true, "errors": [], "messages": []})
}

/// A failed run's envelope.
pub fn error_envelope(code: u16, message: &str) -> Value {
    json!({"result": null, "success": false,
           "errors": [{"code": code, "message": message}], "messages": []})
}

/// An OpenAI answer (embeddings list, chat completion or completion) as a run's `result`.
pub fn result_from_openai(api: RunApi, answer: &Value) -> Value {
    if api == RunApi::Rerank {
        let scored: Vec<Value> = answer["results"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| json!({"id": r["index"], "score": r["relevance_score"]}))
                    .collect()
            })
            .unwrap_or_default();
        return json!({"response": scored});
    }
    if let RunApi::Image { .. } = api {
        return json!({"image": answer["data"][0]["b64_json"]});
    }
    if let RunApi::Classify { batch } = api {
        let data = answer["data"].as_array().cloned().unwrap_or_default();
        return match (batch, data.into_iter().next()) {
            (false, Some(first)) => first,
            (false, None) => json!([]),
            (true, _) => answer["data"].clone(),
        };
    }
    if api == RunApi::Embeddings {
        let data: Vec<Value> = answer["data"]
            .as_array()
            .map(|a| a.iter().map(|d| d["embedding"].clone()).collect())
            .unwrap_or_default();
        let dim = data.first().and_then(Value::as_array).map_or(0, Vec::len);
        return json!({"shape": [data.len(), dim], "data": data, "pooling": "mean"});
    }
    let choice = &answer["choices"][0];
    let text = choice["message"]["content"]
        .as_str()
        .or_else(|| choice["text"].as_str())
        .unwrap_or("");
    let mut r = json!({"response": text, "usage": answer["usage"]});
    if let Some(calls) = choice["message"]["tool_calls"].as_array() {
        let calls: Vec<Value> = calls
            .iter()
            .map(|c| {
                let args = c["function"]["arguments"]
                    .as_str()
                    .and_then(|a| serde_json::from_str(a).ok())
                    .unwrap_or(json!({}));
                json!({"name": c["function"]["name"], "arguments": args})
            })
            .collect();
        r["tool_calls"] = json!(calls);
    }
    r
}

/// One OpenAI stream event's data, as the run's stream says it.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// `data: {…}` to send.
    Data(Value),
    /// The usage chunk, sent as a last `{"response": "", "usage": …}` event; (input, output).
    Usage(Value, u64, u64),
    /// `data: [DONE]`.
    Done,
}

/// An OpenAI chat/completion chunk's `data` → what the run's stream sends; `None` for chunks that
/// carry nothing to say (an empty delta, data that is not JSON).
pub fn event_from_openai(data: &str) -> Option<RunEvent> {
    if data == "[DONE]" {
        return Some(RunEvent::Done);
    }
    let v = serde_json::from_str::<Value>(data).ok()?;
    if let Some(err) = v.get("error") {
        return Some(RunEvent::Data(json!({"error": err})));
    }
    if v.get("usage").is_some_and(|u| !u.is_null())
        && v["choices"].as_array().is_none_or(Vec::is_empty)
    {
        let n = |k: &str| v["usage"][k].as_u64().unwrap_or(0);
        return Some(RunEvent::Usage(
            json!({"response": "", "usage": v["usage"]}),
            n("prompt_tokens"),
            n("completion_tokens"),
        ));
    }
    let c = &v["choices"][0];
    let text = c["delta"]["content"]
        .as_str()
        .or_else(|| c["text"].as_str())
        .unwrap_or("");
    (!text.is_empty()).then(|| RunEvent::Data(json!({"response": text})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_stand_for_openai_requests_and_answers_go_back_in_the_envelope() {
        let (api, body) =
            run_to_openai("m", br#"{"prompt": "hi", "stream": true}"#, RunModel::Any).unwrap();
        assert_eq!(api, RunApi::Chat);
        assert_eq!(body["messages"][0]["content"], "hi");
        assert_eq!(body["stream_options"]["include_usage"], true);
        let (api, _) =
            run_to_openai("m", br#"{"prompt": "hi", "raw": true}"#, RunModel::Any).unwrap();
        assert_eq!(api, RunApi::Completion);
        let (api, body) = run_to_openai("m", br#"{"text": ["a", "b"]}"#, RunModel::Any).unwrap();
        assert_eq!(
            (api, &body["input"]),
            (RunApi::Embeddings, &json!(["a", "b"]))
        );
        assert!(run_to_openai("m", br#"{"prompt": "a", "messages": []}"#, RunModel::Any).is_err());
        let answer =
            json!({"choices": [{"message": {"content": "yo"}}], "usage": {"prompt_tokens": 1}});
        assert_eq!(
            envelope(result_from_openai(RunApi::Chat, &answer))["result"]["response"],
            "yo"
        );
        assert_eq!(event_from_openai("[DONE]"), Some(RunEvent::Done));
        assert_eq!(
            event_from_openai(r#"{"choices":[{"delta":{"content":"x"}}]}"#),
            Some(RunEvent::Data(json!({"response": "x"})))
        );
        assert!(matches!(
            event_from_openai(
                r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#
            ),
            Some(RunEvent::Usage(_, 3, 1))
        ));
        assert_eq!(event_from_openai("not json"), None);
    }

    #[test]
    fn rerank_and_classification_runs_have_their_own_shapes() {
        let input = br#"{"query": "q", "contexts": [{"text": "a"}, {"text": "b"}], "top_k": 1}"#;
        let (api, body) = run_to_openai("r", input, RunModel::Any).unwrap();
        assert_eq!(api, RunApi::Rerank);
        assert_eq!(
            body,
            json!({"model": "r", "query": "q", "documents": ["a", "b"], "top_n": 1})
        );
        for bad in [
            r#"{"query": "", "contexts": [{"text": "a"}]}"#,
            r#"{"query": "q", "contexts": []}"#,
            r#"{"query": "q", "contexts": ["a"]}"#,
            r#"{"query": "q", "contexts": [{"text": "a"}], "top_k": 0}"#,
        ] {
            assert!(
                run_to_openai("r", bad.as_bytes(), RunModel::Any).is_err(),
                "{bad}"
            );
        }
        let answer = json!({"results": [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.2}]});
        assert_eq!(
            result_from_openai(RunApi::Rerank, &answer),
            json!({"response": [{"id": 1, "score": 0.9}, {"id": 0, "score": 0.2}]})
        );
        let (api, body) =
            run_to_openai("c", br#"{"text": "great"}"#, RunModel::Classifier).unwrap();
        assert_eq!(api, RunApi::Classify { batch: false });
        assert_eq!(body["input"], "great");
        let labels =
            json!([{"label": "POSITIVE", "score": 0.9}, {"label": "NEGATIVE", "score": 0.1}]);
        let answer = json!({"data": [labels.clone()]});
        assert_eq!(result_from_openai(api, &answer), labels);
        let (api, _) =
            run_to_openai("c", br#"{"text": ["a", "b"]}"#, RunModel::Classifier).unwrap();
        assert_eq!(result_from_openai(api, &answer), json!([labels]));
    }

    #[test]
    fn an_image_run_asks_for_one_base64_png() {
        let kind = RunModel::Image { json: false };
        let input =
            br#"{"prompt": "a cat", "width": 512, "height": 256, "num_steps": 4, "seed": 3}"#;
        let (api, body) = run_to_openai("sd", input, kind).unwrap();
        assert_eq!(api, RunApi::Image { json: false });
        assert_eq!(
            body,
            json!({"model": "sd", "prompt": "a cat", "n": 1, "response_format": "b64_json",
                   "width": 512, "height": 256, "num_steps": 4, "seed": 3})
        );
        assert!(run_to_openai("sd", br#"{"prompt": " "}"#, kind).is_err());
        assert!(run_to_openai("sd", br#"{"prompt": "a", "image": [1]}"#, kind).is_err());
        let answer = json!({"data": [{"b64_json": "iVBO"}]});
        assert_eq!(result_from_openai(api, &answer), json!({"image": "iVBO"}));
    }
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Local models through the real binary: the issue's exact `[[models]]` config, every API that
//! reaches them (OpenAI, Anthropic, Workers AI), metering in the request log.

mod common;

use serde_json::{json, Value};
use switchyard_testkit::Switchyard;

fn local_config(extra: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
env_providers = false

[[models]]
name = "smol"
task = "text-generation"
source = "{}"
aliases = ["@cf/huggingface/smollm2-135m-instruct"]

[[models]]
name = "minilm"
task = "embeddings"
source = "{}/"
{extra}"#,
        switchyard_testkit::models::smollm2().display(),
        switchyard_testkit::models::minilm().display(),
    )
}

/// Tests generating at once share the two cores; the one that times a hand-over runs alone.
static GENERATING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

async fn start(extra: &str) -> Switchyard {
    Switchyard::start(common::bin(), &local_config(extra))
        .await
        .unwrap()
}

async fn post(
    gw: &Switchyard,
    path: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, String) {
    common::post_text(gw.base_url(), path, &body).await
}

fn greedy(model: &str, content: &str, max_tokens: u32) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": content}],
           "temperature": 0, "max_tokens": max_tokens})
}

/// The `data:` payloads of an SSE body.
fn events(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_models_answer_the_openai_api_streamed_or_not() {
    let _shared = GENERATING.read().await;
    let gw = start("").await;
    let models: Value = reqwest::get(gw.url("/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for want in [
        "smol",
        "@cf/huggingface/smollm2-135m-instruct",
        "minilm",
        "local/smol",
        "local/minilm",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    // the three names reach the same model, with the same greedy answer
    let mut answers = Vec::new();
    for name in [
        "smol",
        "local/smol",
        "@cf/huggingface/smollm2-135m-instruct",
    ] {
        let (status, headers, body) = post(
            &gw,
            "/v1/chat/completions",
            greedy(name, "Name a fruit.", 16),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(headers.contains_key("cf-aig-log-id"));
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        assert_eq!(
            v["usage"]["completion_tokens"].as_u64().unwrap()
                + v["usage"]["prompt_tokens"].as_u64().unwrap(),
            v["usage"]["total_tokens"].as_u64().unwrap()
        );
        answers.push(
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(!answers[0].is_empty());
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    // streamed token by token: the same text, then usage only if asked for, then [DONE]
    let mut body = greedy("smol", "Name a fruit.", 16);
    body["stream"] = json!(true);
    let (status, headers, text) = post(&gw, "/v1/chat/completions", body.clone()).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let ev = events(&text);
    assert_eq!(ev.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = ev[..ev.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, answers[0]);
    assert!(chunks.len() > 3, "not token by token: {}", chunks.len());
    assert!(
        chunks
            .iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null)),
        "usage not asked for"
    );
    body["stream_options"] = json!({"include_usage": true});
    let (_, _, text) = post(&gw, "/v1/chat/completions", body).await;
    let ev = events(&text);
    let usage: Value = serde_json::from_str(&ev[ev.len() - 2]).unwrap();
    assert!(
        usage["usage"]["completion_tokens"].as_u64().unwrap() > 0,
        "{usage}"
    );
    // raw completions: no chat template
    let (status, _, text) = post(
        &gw,
        "/v1/completions",
        json!({"model": "smol", "prompt": "The sky is", "max_tokens": 5, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_clients_and_embeddings_reach_local_models() {
    let _shared = GENERATING.read().await;
    let gw = start("").await;
    let (status, _, text) = post(
        &gw,
        "/v1/messages",
        json!({"model": "smol", "max_tokens": 12, "temperature": 0,
        "messages": [{"role": "user", "content": "Name a fruit."}]}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "message");
    assert!(
        v["content"][0]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{v}"
    );
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let (status, _, text) = post(&gw, "/v1/embeddings", json!({"model": "minilm", "input": ["A man is eating food.", "A man is eating a piece of bread."]})).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let a: Vec<f64> = serde_json::from_value(v["data"][0]["embedding"].clone()).unwrap();
    let b: Vec<f64> = serde_json::from_value(v["data"][1]["embedding"].clone()).unwrap();
    assert_eq!(a.len(), 384);
    let cos: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    assert!((cos - 0.755).abs() < 0.01, "{cos}");
    // a text model asked for embeddings, and the other way round: clear 400s
    let (status, _, text) = post(
        &gw,
        "/v1/embeddings",
        json!({"model": "smol", "input": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    let (status, _, text) = post(&gw, "/v1/chat/completions", greedy("minilm", "hi", 4)).await;
    assert_eq!(status, 400, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_and_tool_calls_are_grammar_constrained() {
    let _shared = GENERATING.read().await;
    let gw = start("").await;
    let schema = json!({"type": "object", "properties": {"city": {"type": "string", "maxLength": 24}, "population": {"type": "integer"}}, "required": ["city", "population"]});
    let mut body = greedy("smol", "Give a city and its population as JSON.", 80);
    body["response_format"] =
        json!({"type": "json_schema", "json_schema": {"name": "city", "schema": schema}});
    let (status, _, text) = post(&gw, "/v1/chat/completions", body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let content: Value =
        serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(
        content["city"].is_string() && content["population"].is_i64(),
        "{content}"
    );
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 24}}, "required": ["city"]}}}]);
    let mut body = greedy("smol", "What is the weather in Paris?", 60);
    body["tools"] = tools;
    body["tool_choice"] = json!("required");
    let (status, _, text) = post(&gw, "/v1/chat/completions", body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args["city"].is_string(), "{args}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_ai_dialect_runs_local_models() {
    let _shared = GENERATING.read().await;
    let gw = start("").await;
    let path = "/ai/run/@cf/huggingface/smollm2-135m-instruct";
    let (status, _, text) = post(
        &gw,
        path,
        json!({"prompt": "Name a fruit.", "max_tokens": 12, "temperature": 0}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["success"].clone(), v["errors"].clone()),
        (json!(true), json!([])),
        "{v}"
    );
    let response = v["result"]["response"].as_str().unwrap().to_owned();
    assert!(!response.is_empty());
    assert!(v["result"]["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    // the same through messages, and streamed
    let (_, _, text) = post(&gw, path, json!({"messages": [{"role": "user", "content": "Name a fruit."}], "max_tokens": 12, "temperature": 0, "stream": true})).await;
    let ev = events(&text);
    assert_eq!(ev.last().unwrap(), "[DONE]");
    let streamed: String = ev[..ev.len() - 1]
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["response"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(streamed, response);
    // the streamed run is logged with the model's own token counts, not an estimate
    let rows = common::logging::rows(&gw.url(""), 2).await;
    let streamed_row = rows.iter().find(|r| r["stream"] == true).unwrap();
    assert_eq!(streamed_row["tokens_estimated"], false, "{streamed_row}");
    assert!(streamed_row["output_tokens"].as_i64().unwrap() > 0);
    // embeddings: {shape, data}
    let (status, _, text) = post(
        &gw,
        "/ai/run/minilm",
        json!({"text": ["one", "two", "three"]}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["result"]["shape"], json!([3, 384]));
    // errors in the envelope
    let (status, _, text) = post(&gw, path, json!({"nothing": 1})).await;
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["success"], false);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("prompt"),
        "{v}"
    );
    let (status, _, text) = post(
        &gw,
        path,
        json!({"prompt": "word ".repeat(5000), "max_tokens": 4}),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("context"), "{text}");
    // a prompt no context could hold is refused by its size, before it is tokenized
    let (status, _, text) = post(
        &gw,
        path,
        json!({"prompt": "x".repeat(8 * 1024 * 1024), "max_tokens": 4}),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("bytes"), "{text}");
    // model search and schema
    let v: Value = reqwest::get(gw.url("/ai/models/search?task=Text%20Embeddings"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["minilm"]);
    let v: Value =
        reqwest::get(gw.url("/ai/models/schema?model=@cf/huggingface/smollm2-135m-instruct"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(
        v["result"]["input"].is_object() && v["result"]["output"].is_object(),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_requests_are_logged_with_units_and_cost() {
    let _shared = GENERATING.read().await;
    let gw = start("[runtime]\nusd_per_1k_units = 0.011\n").await;
    let (status, headers, _) = post(
        &gw,
        "/v1/chat/completions",
        greedy("smol", "Name a fruit.", 10),
    )
    .await;
    assert_eq!(status, 200);
    let id = headers["cf-aig-log-id"].to_str().unwrap().to_owned();
    let rows = common::logging::rows(&gw.url(""), 1).await;
    let row = common::logging::by_id(&rows, &id);
    assert_eq!(row["provider"], "local");
    assert_eq!(row["model"], "smol");
    let (input, output) = (
        row["input_tokens"].as_f64().unwrap(),
        row["output_tokens"].as_f64().unwrap(),
    );
    assert!(output > 0.0 && output <= 10.0 && input > 10.0, "{row}");
    // default rates: 10 units per 1k input tokens, 50 per 1k output tokens
    let units = (input * 10.0 + output * 50.0) / 1000.0;
    assert!(
        (row["units"].as_f64().unwrap() - units).abs() < 1e-9,
        "{row}"
    );
    assert!(
        (row["cost_usd"].as_f64().unwrap() - units * 0.011 / 1000.0).abs() < 1e-12,
        "{row}"
    );
    let url = gw.url("/api/analytics?group_by=provider");
    let a: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let groups = a["groups"].as_array().unwrap();
    let local = groups.iter().find(|g| g["key"] == "local").unwrap();
    assert!(
        (local["units"].as_f64().unwrap() - units).abs() < 1e-9,
        "{a}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_daily_free_units_stop_local_calls_when_spent() {
    let _shared = GENERATING.read().await;
    // 0.5 units a day: one greedy answer (≈ 35 input + 8 output tokens ≈ 0.75 units) spends it
    let gw = start("[runtime]\nfree_units_per_day = 0.5\n").await;
    let resp = reqwest::Client::new()
        .post(gw.url("/api/keys"))
        .json(&json!({"name": "tenant"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let key: Value = resp.json().await.unwrap();
    let auth = format!("Bearer {}", key["key"].as_str().unwrap());
    let call = |auth: Option<String>| {
        let gw_url = gw.url("/v1/chat/completions");
        async move {
            let mut req =
                reqwest::Client::new()
                    .post(gw_url)
                    .json(&greedy("smol", "Name a fruit.", 8));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, body) = call(Some(auth.clone())).await;
    assert_eq!(status, 200, "{body}");
    common::logging::rows(&gw.url(""), 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, body) = call(Some(auth)).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body.contains("free allocation of 0.5 compute units"),
        "{body}"
    );
    // requests without a key are not metered against any allowance
    let (status, _) = call(None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_model_answers_429_and_a_client_that_leaves_frees_its_slot() {
    // alone: its timing must not share the cores with other generations
    let _alone = GENERATING.write().await;
    let text = local_config("").replace(
        "aliases = [\"@cf/huggingface/smollm2-135m-instruct\"]",
        "aliases = [\"@cf/huggingface/smollm2-135m-instruct\"]\nmax_batch = 1\nqueue = 1\ncontext_size = 4096",
    );
    let gw = Switchyard::start(common::bin(), &text).await.unwrap();
    let client = reqwest::Client::new();
    // A: a long stream holding the only slot
    let mut long = greedy("smol", "Tell me a long story.", 4000);
    long["stream"] = json!(true);
    long["ignore_eos"] = json!(true);
    let mut a = client
        .post(gw.url("/v1/chat/completions"))
        .json(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status().as_u16(), 200);
    assert!(a.chunk().await.unwrap().is_some());
    // B waits in the queue; C finds it full
    let b_url = gw.url("/v1/chat/completions");
    let b = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(b_url)
            .json(&greedy("smol", "Hi", 4))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), std::time::Instant::now())
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let c = client
        .post(gw.url("/v1/chat/completions"))
        .json(&greedy("smol", "Hi", 4))
        .send()
        .await
        .unwrap();
    assert_eq!(c.status().as_u16(), 429);
    let err: Value = c.json().await.unwrap();
    assert!(
        err["error"]["message"].as_str().unwrap().contains("busy"),
        "{err}"
    );
    // A's client goes away: B runs at once instead of after 4000 tokens (tens of seconds)
    let left = std::time::Instant::now();
    drop(a);
    let (status, done) = tokio::time::timeout(std::time::Duration::from_secs(60), b)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        done.duration_since(left) < std::time::Duration::from_secs(10),
        "{:?}",
        done.duration_since(left)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_not_pulled_yet_says_how_to_get_it() {
    let _shared = GENERATING.read().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nenv_providers = false\n[runtime]\nmodels_dir = \"{}\"\n[[models]]\nname = \"q\"\ntask = \"text-generation\"\nsource = \"hf:acme/tiny/q.gguf\"\n",
        dir.path().display()
    );
    let gw = Switchyard::start(common::bin(), &text).await.unwrap();
    let (status, _, body) = post(&gw, "/v1/chat/completions", greedy("q", "hi", 4)).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("switchyard models pull hf:acme/tiny/q.gguf"),
        "{body}"
    );
}

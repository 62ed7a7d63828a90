#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hybrid routing (`model = "auto"`) with the real SmolLM2 as the local tier and a mock OpenAI
//! provider as the frontier: rules decide, every decision is explained in headers and the log,
//! and a busy local model overflows to the frontier.

mod common;

use serde_json::{json, Value};
use switchyard_testkit::{MockUpstream, Switchyard};

fn config(mock: &MockUpstream, local_extra: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
env_providers = false
[providers.mock-openai]
kind = "openai"
base_url = "{}"
api_key = "sk-test"
[[models]]
name = "smol"
task = "text-generation"
source = "{}"
{local_extra}
[router]
local = "smol"
frontier = ["mock-openai/gpt-4o-mini"]
max_prompt_tokens = 40
max_output_tokens = 300
[router.metadata]
tier = "premium"
{}"#,
        mock.base_url(),
        switchyard_testkit::models::smollm2().display(),
        common::logging::PRICES,
    )
}

async fn auto(
    gw: &Switchyard,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    common::post_with(&gw.url(""), "/v1/chat/completions", &body, headers).await
}

fn ask(content: &str) -> Value {
    json!({"model": "auto", "messages": [{"role": "user", "content": content}], "max_tokens": 8, "temperature": 0})
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_pick_the_tier_and_say_why() {
    let mock = MockUpstream::start().await.unwrap();
    let gw = Switchyard::start(common::bin(), &config(&mock, ""))
        .await
        .unwrap();
    // short and plain: local
    let (status, h, body) = auto(&gw, ask("Name a fruit."), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "cf-aig-routed-model"), "smol");
    assert!(
        header(&h, "cf-aig-routing-reason").starts_with("no escalation rule matched"),
        "{h:?}"
    );
    assert_eq!(mock.requests().len(), 0);
    // long: frontier, with the measured length in the reason
    let long = "Explain, step by step and with examples, ".repeat(10);
    let (status, h, _) = auto(&gw, ask(&long), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "cf-aig-routed-model"), "mock-openai/gpt-4o-mini");
    let reason = header(&h, "cf-aig-routing-reason");
    assert!(
        reason.starts_with("prompt is ") && reason.ends_with("tokens > 40"),
        "{reason}"
    );
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(mock.requests()[0].json()["model"], "gpt-4o-mini");
    // tools, a large max_tokens, a premium tenant: frontier, each for its own reason
    let mut tools = ask("Weather in Oslo?");
    tools["tools"] =
        json!([{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}]);
    let (_, h, _) = auto(&gw, tools, &[]).await;
    assert_eq!(header(&h, "cf-aig-routing-reason"), "tools requested");
    let mut big = ask("Name a fruit.");
    big["max_tokens"] = json!(1000);
    let (_, h, _) = auto(&gw, big, &[]).await;
    assert_eq!(header(&h, "cf-aig-routing-reason"), "max_tokens 1000 > 300");
    let (_, h, _) = auto(
        &gw,
        ask("Name a fruit."),
        &[("cf-aig-metadata", r#"{"tier":"premium"}"#)],
    )
    .await;
    assert_eq!(
        header(&h, "cf-aig-routing-reason"),
        "metadata tier = premium"
    );
    // the same decisions every time (deterministic), and in the request log
    let (_, h, _) = auto(&gw, ask("Name a fruit."), &[]).await;
    assert_eq!(header(&h, "cf-aig-routed-model"), "smol");
    let rows = common::logging::rows(&gw.url(""), 6).await;
    let mut seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let m: Value = serde_json::from_str(r["metadata"].as_str().unwrap()).unwrap();
            (
                m["routed_model"].as_str().unwrap().to_owned(),
                r["provider"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen.iter()
            .filter(|(m, p)| m == "smol" && p == "local")
            .count(),
        2,
        "{seen:?}"
    );
    assert_eq!(
        seen.iter()
            .filter(|(m, p)| m == "mock-openai/gpt-4o-mini" && p == "mock-openai")
            .count(),
        4,
        "{seen:?}"
    );
    // the savings report: share served locally, frontier spend, and the all-frontier counterfactual
    // (local answers priced as mock-openai/gpt-4o-mini: $1 / $2 per million tokens), from the rows
    let cost = |r: &Value| r["cost_usd"].as_f64().unwrap_or(0.0);
    let tokens = |r: &Value, k: &str| r[k].as_f64().unwrap_or(0.0);
    let local: Vec<&Value> = rows.iter().filter(|r| r["provider"] == "local").collect();
    let frontier: f64 = rows
        .iter()
        .filter(|r| r["provider"] != "local")
        .map(cost)
        .sum();
    let counterfactual = frontier
        + local
            .iter()
            .map(|r| (tokens(r, "input_tokens") * 1.0 + tokens(r, "output_tokens") * 2.0) / 1e6)
            .sum::<f64>();
    let a: Value = reqwest::get(gw.url("/api/analytics?group_by=day"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let g = &a["groups"][0];
    assert_eq!(g["local_requests"], 2, "{a}");
    assert!((g["local_share"].as_f64().unwrap() - 2.0 / 6.0).abs() < 1e-9);
    assert!(
        (g["frontier_cost_usd"].as_f64().unwrap() - frontier).abs() < 1e-12,
        "{a}"
    );
    assert!(
        (g["all_frontier_cost_usd"].as_f64().unwrap() - counterfactual).abs() < 1e-12,
        "{a}"
    );
    assert!(counterfactual > frontier);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_local_tier_overflows_to_the_frontier() {
    let mock = MockUpstream::start().await.unwrap();
    let text = config(&mock, "max_batch = 1\nqueue = 1\ncontext_size = 4096");
    let gw = Switchyard::start(common::bin(), &text).await.unwrap();
    let client = reqwest::Client::new();
    // hold the only slot, and fill the one queue place
    let hold = json!({"model": "smol", "messages": [{"role": "user", "content": "Tell a story."}],
                      "max_tokens": 4000, "ignore_eos": true, "stream": true, "temperature": 0});
    let mut a = client
        .post(gw.url("/v1/chat/completions"))
        .json(&hold)
        .send()
        .await
        .unwrap();
    assert!(a.chunk().await.unwrap().is_some());
    let queued_url = gw.url("/v1/chat/completions");
    let queued = tokio::spawn(async move {
        reqwest::Client::new().post(queued_url).json(&json!({"model": "smol", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})).send().await.unwrap().status().as_u16()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // `auto` picks the local tier, finds it busy, and the frontier answers instead of a 429
    let (status, h, body) = auto(&gw, ask("Name a fruit."), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "cf-aig-routed-model"), "smol");
    assert!(
        header(&h, "cf-aig-routing-reason").contains("escalated to the frontier"),
        "{h:?}"
    );
    assert_eq!(header(&h, "cf-aig-provider"), "mock-openai");
    assert_eq!(header(&h, "cf-aig-step"), "1");
    drop(a);
    assert_eq!(queued.await.unwrap(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trained_complexity_classifier_escalates_hard_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let minilm = switchyard_testkit::models::minilm();
    let train_cfg = format!(
        "[server]\nenv_providers = false\n[[models]]\nname = \"minilm\"\ntask = \"embeddings\"\nsource = \"{}/\"\n",
        minilm.display()
    );
    std::fs::write(dir.path().join("switchyard.toml"), &train_cfg).unwrap();
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/router/labelled.jsonl");
    let run = |args: Vec<String>| {
        let dir = dir.path().to_owned();
        async move {
            tokio::process::Command::new(common::bin())
                .args(args)
                .current_dir(dir)
                .env_remove("SWITCHYARD_CONFIG")
                .output()
                .await
                .unwrap()
        }
    };
    let data = shipped.to_str().unwrap().to_owned();
    let out = run(vec![
        "router".into(),
        "train".into(),
        "--data".into(),
        data.clone(),
        "--embedder".into(),
        "minilm".into(),
        "--k".into(),
        "3".into(),
        "--vectors".into(),
        "encoder".into(),
        "--out".into(),
        "clf.json".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("16 examples"));
    // evaluated leave-one-out on the same file: the curve, scored by complexity
    let out = run(vec![
        "router".into(),
        "eval".into(),
        "--data".into(),
        data,
        "--classifier".into(),
        "clf.json".into(),
        "--json".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["apgr"].as_f64().unwrap() > 0.5, "{report}");
    // the gateway with the classifier: length rules out of the way, complexity decides
    let mock = MockUpstream::start().await.unwrap();
    let text = config(&mock, "")
        .replace("max_prompt_tokens = 40", "max_prompt_tokens = 100000")
        .replace(
            "[router.metadata]",
            &format!(
                "classifier = \"{}\"\ncomplexity_threshold = 0.5\n[router.metadata]",
                dir.path().join("clf.json").display()
            ),
        )
        + &format!(
            "[[models]]\nname = \"minilm\"\ntask = \"embeddings\"\nsource = \"{}/\"\n",
            minilm.display()
        );
    let gw = Switchyard::start(common::bin(), &text).await.unwrap();
    let (status, h, body) = auto(&gw, ask("Say hi."), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "cf-aig-routed-model"), "smol");
    assert!(
        header(&h, "cf-aig-routing-reason").starts_with("complexity 0."),
        "{h:?}"
    );
    let hard = "Prove that the square root of 3 is irrational, then generalise the argument and point out where primality is used.";
    let (status, h, _) = auto(&gw, ask(hard), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "cf-aig-routed-model"), "mock-openai/gpt-4o-mini");
    let reason = header(&h, "cf-aig-routing-reason");
    assert!(
        reason.starts_with("complexity ") && reason.contains(">= 0.50"),
        "{reason}"
    );
    drop(gw);

    // static vectors (the default): trained without a model pass, the same decisions here
    let out = run(vec![
        "router".into(),
        "train".into(),
        "--data".into(),
        shipped.to_str().unwrap().to_owned(),
        "--embedder".into(),
        "minilm".into(),
        "--k".into(),
        "3".into(),
        "--out".into(),
        "static.json".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clf: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("static.json")).unwrap()).unwrap();
    assert_eq!(
        clf["static_idf"]["docs"],
        json!(16),
        "{}",
        clf["static_idf"]
    );
    let gw = Switchyard::start(common::bin(), &text.replace("clf.json", "static.json"))
        .await
        .unwrap();
    let (_, h, _) = auto(&gw, ask("Say hi."), &[]).await;
    assert_eq!(header(&h, "cf-aig-routed-model"), "smol", "{h:?}");
    let (_, h, _) = auto(&gw, ask(hard), &[]).await;
    assert_eq!(
        header(&h, "cf-aig-routed-model"),
        "mock-openai/gpt-4o-mini",
        "{h:?}"
    );
}

async fn raw(gw: &Switchyard, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    common::post_text(&gw.url(""), "/v1/chat/completions", body).await
}

fn cascade_config(mock: &MockUpstream, min_logprob: &str) -> String {
    config(mock, "").replace(
        "max_output_tokens = 300\n",
        &format!("max_output_tokens = 300\ncascade_min_logprob = {min_logprob}\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confident_local_answer_is_kept_in_the_clients_mode() {
    let mock = MockUpstream::start().await.unwrap();
    let gw = Switchyard::start(common::bin(), &cascade_config(&mock, "-50.0"))
        .await
        .unwrap();
    let (status, h, body) = raw(&gw, &ask("Name a fruit.")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "cf-aig-routed-model"), "smol");
    let reason = header(&h, "cf-aig-routing-reason");
    assert!(
        reason.contains("cascade: local answer kept (mean logprob -"),
        "{reason}"
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["choices"][0]["logprobs"], Value::Null, "not asked for");
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    // asked for: the local model's own logprobs
    let mut with = ask("Name a fruit.");
    with["logprobs"] = json!(true);
    let (_, _, body) = raw(&gw, &with).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["choices"][0]["logprobs"]["content"][0]["logprob"]
            .as_f64()
            .unwrap()
            <= 0.0
    );
    // a streaming client gets the kept answer as a stream
    let mut streamed = ask("Name a fruit.");
    streamed["stream"] = json!(true);
    let (status, h, body) = raw(&gw, &streamed).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "text/event-stream");
    assert!(
        body.contains("chat.completion.chunk") && body.ends_with("data: [DONE]\n\n"),
        "{body}"
    );
    assert!(
        !body.contains("\"usage\":{"),
        "no usage chunk unless asked: {body}"
    );
    assert_eq!(mock.requests().len(), 0);
    // every answer logged with its tokens (the streamed one too)
    let rows = common::logging::rows(&gw.url(""), 3).await;
    assert!(
        rows.iter()
            .all(|r| r["provider"] == "local" && r["output_tokens"].as_u64().unwrap_or(0) > 0),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsure_local_answer_escalates_and_the_client_streams_only_the_frontier() {
    let mock = MockUpstream::start().await.unwrap();
    // no real answer averages a log-probability of 0: every local answer is unsure
    let gw = Switchyard::start(common::bin(), &cascade_config(&mock, "-0.000001"))
        .await
        .unwrap();
    let mut streamed = ask("Name a fruit.");
    streamed["stream"] = json!(true);
    let (status, h, body) = raw(&gw, &streamed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "cf-aig-routed-model"), "mock-openai/gpt-4o-mini");
    let reason = header(&h, "cf-aig-routing-reason");
    assert!(
        reason.contains("cascade: local mean logprob -") && reason.ends_with("escalated"),
        "{reason}"
    );
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(
        mock.requests()[0].json()["stream"],
        json!(true),
        "the frontier streams"
    );
    // only the frontier's chunks reach the client
    let models: Vec<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["model"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert!(
        !models.is_empty() && models.iter().all(|m| m == "gpt-4o-mini"),
        "{models:?}"
    );
    // the discarded local answer is in the log, saying why
    let rows = common::logging::rows(&gw.url(""), 2).await;
    let discarded = rows.iter().find(|r| r["provider"] == "local").unwrap();
    assert!(
        discarded["error"]
            .as_str()
            .unwrap()
            .starts_with("cascade: local mean logprob"),
        "{discarded}"
    );
    assert!(rows
        .iter()
        .any(|r| r["provider"] == "mock-openai" && r["success"] == json!(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_classifier_retrains_from_rated_answers_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let text = config(&mock, "")
        + &format!(
            "[[models]]\nname = \"minilm\"\ntask = \"embeddings\"\nsource = \"{}/\"\n[logs]\nurl = \"sqlite://{}\"\n",
            switchyard_testkit::models::minilm().display(),
            dir.path().join("logs.db").display()
        );
    let config_path = dir.path().join("switchyard.toml");
    std::fs::write(&config_path, &text).unwrap();
    let gw = Switchyard::start(common::bin(), &text).await.unwrap();
    let client = reqwest::Client::new();
    // two local answers rated, one frontier answer rated, one local answer not rated
    let mut rate = Vec::new();
    for (prompt, feedback) in [
        ("Name a fruit.", Some(1)),
        ("Prove Fermat's little theorem.", Some(-1)),
        ("Say hi.", None),
    ] {
        let (status, h, _) = auto(&gw, ask(prompt), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(header(&h, "cf-aig-routed-model"), "smol");
        if let Some(f) = feedback {
            rate.push((header(&h, "cf-aig-log-id"), f));
        }
    }
    let (_, h, _) = auto(&gw, ask(&"Explain, step by step, ".repeat(20)), &[]).await;
    assert_eq!(header(&h, "cf-aig-routed-model"), "mock-openai/gpt-4o-mini");
    rate.push((header(&h, "cf-aig-log-id"), -1));
    common::logging::rows(&gw.url(""), 4).await;
    for (id, f) in rate {
        let r = client
            .patch(gw.url(&format!("/api/logs/{id}")))
            .json(&json!({"feedback": f}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    let out = tokio::process::Command::new(common::bin())
        .args([
            "router",
            "train",
            "--from-logs",
            "--embedder",
            "minilm",
            "--k",
            "1",
            "--out",
        ])
        .arg(dir.path().join("clf.json"))
        .arg("-c")
        .arg(&config_path)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("2 rated local answers"), "{stdout}");
    let clf: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("clf.json")).unwrap()).unwrap();
    // oldest first: the thumbs-up (the local answer was enough), then the thumbs-down
    assert_eq!(clf["gain"], json!([0.0, 1.0]), "{clf}");
    assert_eq!(clf["vectors"][0].as_array().unwrap().len(), 384);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_hybrid_routes_have_their_own_rules() {
    let mock = MockUpstream::start().await.unwrap();
    let text = config(&mock, "")
        + "[routers.support-bot]\nlocal = \"smol\"\nfrontier = [\"mock-openai/gpt-4o-mini\"]\nmax_prompt_tokens = 3\n";
    let gw = Switchyard::start(common::bin(), &text).await.unwrap();
    let named = |content: &str| json!({"model": "dynamic/support-bot", "messages": [{"role": "user", "content": content}], "max_tokens": 4, "temperature": 0});
    let (status, h, body) = auto(&gw, named("Hi"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "cf-aig-routed-model"), "smol");
    // four tokens: over this route's limit of 3, well under auto's 40
    let prompt = "Name a fruit.";
    let (status, h, _) = auto(&gw, named(prompt), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "cf-aig-routed-model"), "mock-openai/gpt-4o-mini");
    assert!(
        header(&h, "cf-aig-routing-reason").ends_with("tokens > 3"),
        "{h:?}"
    );
    let (_, h, _) = auto(&gw, ask(prompt), &[]).await;
    assert_eq!(
        header(&h, "cf-aig-routed-model"),
        "smol",
        "auto keeps its own rules"
    );
    assert_eq!(mock.requests().len(), 1);
    // savings per route: the log says which hybrid route decided
    common::logging::rows(&gw.url(""), 3).await;
    let a: Value = reqwest::get(gw.url("/api/analytics?group_by=metadata.hybrid_route"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let group = |key: &str| {
        a["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no group {key}: {a}"))
    };
    let named = group("dynamic/support-bot");
    assert_eq!(
        (named["requests"].as_u64(), named["local_requests"].as_u64()),
        (Some(2), Some(1)),
        "{a}"
    );
    assert_eq!(group("auto")["local_share"], json!(1.0), "{a}");
}

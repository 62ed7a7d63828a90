//! `/v1/models` lists what providers actually serve (their own model lists, fetched and kept a few
//! minutes), `/v1/models/{id}` answers for one, and bare model names resolve as a drop-in client
//! expects: declared or listed names, vendor families, the single provider; ambiguity is a 400.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{chat, start_with, Harness};
use serde_json::{json, Value};

async fn get(h: &Harness, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = h.http.get(h.gateway.url(path));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// How many model-list requests the mock has seen.
fn list_calls(h: &Harness) -> usize {
    h.mock
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/models"))
        .count()
}

#[tokio::test]
async fn v1_models_lists_what_each_provider_serves() {
    let h = start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n\
             [providers.oa]\nkind = \"openai\"\nbase_url = \"{root}\"\napi_key = \"sk-oa\"\n\
             [providers.an]\nkind = \"anthropic\"\nbase_url = \"{root}\"\napi_key = \"sk-ant\"\n\
             [providers.gm]\nkind = \"gemini\"\nbase_url = \"{root}\"\napi_key = \"AIza-gm\"\n\
             [providers.dead]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\nconnect_timeout_ms = 500\n\
             [providers.nolist]\nkind = \"openai-compatible\"\nbase_url = \"{root}/nothing/here\"\n\
             [providers.decl]\nkind = \"openai-compatible\"\nbase_url = \"{root}/v1\"\nmodels = [\"only-this\"]\n\
             [[models]]\nname = \"fast\"\ntarget = \"oa/gpt-4o-mini\"\n",
            root = mock.root_url()
        )
    })
    .await;
    let (status, list) = get(&h, "/v1/models", &[]).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["object"], "list");
    assert_eq!(
        ids(&list),
        [
            "fast",
            // providers in name order; both of Anthropic's pages
            "an/claude-sonnet-4-5-20250929",
            "an/claude-haiku-4-5-20251001",
            // dead and nolist list nothing (and fail nothing); a declared list wins over asking
            "decl/only-this",
            // both of Gemini's pages, without the `models/` prefix
            "gm/gemini-2.5-flash",
            "gm/text-embedding-004",
            "oa/gpt-4o-mini",
            "oa/text-embedding-3-small",
            "oa/ft:gpt-4o-mini:acme::abc123",
        ]
    );
    let owners: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["owned_by"].as_str().unwrap())
        .collect();
    assert_eq!(
        (owners[0], owners[1], owners[6]),
        ("switchyard", "an", "oa")
    );
    // each provider was asked with its own credentials
    let seen = h.mock.requests();
    let asked = |path: &str| seen.iter().find(|r| r.path == path).unwrap().clone();
    let oa = seen
        .iter()
        .find(|r| r.header("authorization") == Some("Bearer sk-oa"))
        .unwrap();
    assert_eq!(
        (oa.method.as_str(), oa.path.as_str()),
        ("GET", "/v1/models")
    );
    let an = seen
        .iter()
        .find(|r| r.header("x-api-key") == Some("sk-ant"))
        .unwrap();
    assert!(an.header("anthropic-version").is_some());
    assert_eq!(
        asked("/v1beta/models").header("x-goog-api-key"),
        Some("AIza-gm")
    );
    // a warning for each provider whose list failed (the log is written in the background)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !(h.gateway.logs().contains("provider=\"dead\"")
        && h.gateway.logs().contains("provider=\"nolist\""))
    {
        assert!(std::time::Instant::now() < deadline, "{}", h.gateway.logs());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(h
        .gateway
        .logs()
        .contains("cannot list the provider's models"));

    // kept for minutes: the second listing asks nobody
    let calls = list_calls(&h);
    let (_, again) = get(&h, "/v1/models", &[]).await;
    assert_eq!(ids(&again), ids(&list));
    assert_eq!(list_calls(&h), calls);

    // Anthropic's SDKs get Anthropic's shape
    let (status, anthropic) = get(&h, "/v1/models", &[("anthropic-version", "2023-06-01")]).await;
    assert_eq!(status, 200);
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert_eq!(anthropic["has_more"], false);
    assert_eq!(anthropic["first_id"], "fast");
}

#[tokio::test]
async fn v1_models_id_answers_for_one_model() {
    let h = start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n\
             [providers.oa]\nkind = \"openai\"\nbase_url = \"{root}/v1\"\napi_key = \"sk-oa\"\n\
             [providers.an]\nkind = \"anthropic\"\nbase_url = \"{root}\"\napi_key = \"sk-ant\"\n",
            root = mock.root_url()
        )
    })
    .await;
    let (status, one) = get(&h, "/v1/models/oa/gpt-4o-mini", &[]).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(
        one,
        json!({"id": "oa/gpt-4o-mini", "object": "model", "created": 0, "owned_by": "oa"})
    );
    // a bare name: owned by the provider that serves it
    let (status, one) = get(&h, "/v1/models/claude-sonnet-4-5", &[]).await;
    assert_eq!(
        (status, one["owned_by"].as_str()),
        (200, Some("an")),
        "{one}"
    );
    // once the provider's own list is known, a model it does not list is a 404
    let (status, _) = get(&h, "/v1/models", &[]).await;
    assert_eq!(status, 200);
    let (status, err) = get(&h, "/v1/models/oa/gpt-9-imaginary", &[]).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("model_not_found")),
        "{err}"
    );
    let (status, _) = get(&h, "/v1/models/oa/text-embedding-3-small", &[]).await;
    assert_eq!(status, 200);
    let (status, err) = get(&h, "/v1/models/nobody/x", &[]).await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "model_not_found");
    let (status, err) = get(
        &h,
        "/v1/models/nobody/x",
        &[("anthropic-version", "2023-06-01")],
    )
    .await;
    assert_eq!(
        (status, err["type"].as_str()),
        (404, Some("error")),
        "{err}"
    );
}

/// A gateway with an Anthropic provider and an OpenAI-compatible one (no declared lists).
async fn anthropic_and_compatible() -> Harness {
    start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n\
             [providers.an]\nkind = \"anthropic\"\nbase_url = \"{root}\"\napi_key = \"sk-ant\"\n\
             [providers.oc]\nkind = \"openai-compatible\"\nbase_url = \"{root}/v1\"\napi_key = \"sk-oc\"\n",
            root = mock.root_url()
        )
    })
    .await
}

#[tokio::test]
async fn bare_names_go_to_the_provider_that_serves_them() {
    let h = anthropic_and_compatible().await;
    // Anthropic's SDK (and Claude Code) keep their model names and add `?beta=true`
    let messages = json!({"model": "claude-sonnet-4-5", "max_tokens": 16,
        "messages": [{"role": "user", "content": "Hi"}]});
    let response = h
        .http
        .post(h.gateway.url("/v1/messages?beta=true"))
        .header("x-api-key", "sk-ant-client")
        .json(&messages)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cf-aig-provider"], "an");
    let seen = h.mock.last_request().unwrap();
    assert_eq!(
        (seen.path.as_str(), seen.json()["model"].as_str()),
        ("/v1/messages", Some("claude-sonnet-4-5"))
    );
    assert_eq!(
        seen.header("x-api-key"),
        Some("sk-ant"),
        "the provider's key"
    );
    // no family: the providers' own lists are asked (once), and `oc` lists it
    assert_eq!(list_calls(&h), 0, "nothing is listed before it is needed");
    let response = h
        .post(
            "/v1/chat/completions?foo=bar",
            &chat("ft:gpt-4o-mini:acme::abc123"),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cf-aig-provider"], "oc");
    assert_eq!(
        response.headers()["cf-aig-model"],
        "ft:gpt-4o-mini:acme::abc123"
    );
    assert_eq!(list_calls(&h), 3, "oc's list and both of Anthropic's pages");
    let response = h.post("/v1/chat/completions", &chat("gpt-4o-mini")).await;
    assert_eq!(response.headers()["cf-aig-provider"], "oc");
    // a name nobody serves: 404 naming the providers, lists not asked again
    let response = h.post("/v1/chat/completions", &chat("mystery-model")).await;
    let error = common::expect_error(response, 404).await;
    assert!(
        error["message"].as_str().unwrap().contains("an, oc"),
        "{error}"
    );
    assert_eq!(list_calls(&h), 3);
    // the request log names the provider that was inferred
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rows = common::logging::logs(h.gateway.base_url(), "?provider=oc").await;
        if rows["data"].as_array().is_some_and(|d| d.len() >= 2) {
            assert_eq!(rows["data"][0]["model"], "gpt-4o-mini", "{rows}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{rows}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_ambiguous_bare_name_is_a_400_naming_the_candidates() {
    let h = start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n\
             [providers.oa]\nkind = \"openai\"\nbase_url = \"{root}/v1\"\napi_key = \"sk-oa\"\n\
             [providers.gq]\nkind = \"groq\"\nbase_url = \"{root}/v1\"\napi_key = \"gsk\"\n",
            root = mock.root_url()
        )
    })
    .await;
    // both list it, and neither vendor owns the name
    let response = h
        .post("/v1/chat/completions", &chat("ft:gpt-4o-mini:acme::abc123"))
        .await;
    let error = common::expect_error(response, 400).await;
    assert_eq!(error["code"], "ambiguous_model");
    assert_eq!(error["param"], "model");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("\"oa/ft:gpt-4o-mini:acme::abc123\"") && message.contains("\"gq/"),
        "{message}"
    );
    // both list `gpt-4o-mini` too, but it is OpenAI's family: no ambiguity
    let response = h.post("/v1/chat/completions", &chat("gpt-4o-mini")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cf-aig-provider"], "oa");
}

#[tokio::test]
async fn with_a_single_provider_every_bare_name_goes_to_it() {
    let h = start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n[cache]\nttl_seconds = 60\n[providers.only]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n",
            mock.base_url()
        )
    })
    .await;
    let response = h
        .post("/v1/chat/completions", &chat("whatever-it-serves"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cf-aig-provider"], "only");
    assert_eq!(
        h.mock.last_request().unwrap().json()["model"],
        "whatever-it-serves"
    );
    // a cache hit names the provider too
    let hit = h
        .post("/v1/chat/completions", &chat("whatever-it-serves"))
        .await;
    assert_eq!(hit.headers()["cf-aig-cache-status"], "HIT");
    assert_eq!(hit.headers()["cf-aig-provider"], "only");
    // `x/model` with no provider `x` is still a typo
    let response = h.post("/v1/chat/completions", &chat("nobody/gpt-4o")).await;
    common::expect_error(response, 404).await;
}

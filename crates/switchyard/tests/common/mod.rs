//! Shared helpers: a mock upstream plus the real binary configured to use it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cache;
pub mod logging;

use std::path::Path;

use switchyard_testkit::{MockUpstream, Switchyard};

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchyard"))
}

pub struct Harness {
    pub mock: MockUpstream,
    pub gateway: Switchyard,
    pub http: reqwest::Client,
}

/// The config from the issue, pointed at the mock, plus `extra` TOML.
pub fn config(mock: &MockUpstream, extra: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nenv_providers = false\n[providers.mock-openai]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-test\"\nmodels = [\"gpt-4o-mini\"]\n{extra}",
        mock.base_url()
    )
}

/// Two OpenAI-kind providers, `a` and `b`, on `mock` with short timeouts (first byte and idle
/// 400 ms, total 5 s) and two attempts each: the setting for upstreams failing on demand.
pub fn two_providers(mock: &MockUpstream) -> String {
    let provider = |name: &str| {
        format!(
            "[providers.{name}]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key = \"sk-{name}\"\ntimeout_ms = 400\nidle_timeout_ms = 400\ntotal_timeout_ms = 5000\n",
            mock.base_url()
        )
    };
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nenv_providers = false\n[retries]\nmax_attempts = 2\ndelay_ms = 10\n{}{}",
        provider("a"),
        provider("b")
    )
}

/// A gateway with an OpenAI provider `oa` and an Anthropic one `an`, both on the mock at `root`.
pub fn openai_and_anthropic(root: &str) -> String {
    format!(
        "[server]\nenv_providers = false\n\
         [providers.oa]\nkind = \"openai\"\nbase_url = \"{root}\"\napi_key = \"sk-oa\"\n\
         [providers.an]\nkind = \"anthropic\"\nbase_url = \"{root}\"\napi_key = \"sk-ant\"\n"
    )
}

/// A gateway key made through the API: (its id, the `authorization` header value).
pub async fn new_key(url: &str, body: serde_json::Value) -> (String, String) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/api/keys"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let v: serde_json::Value = resp.json().await.unwrap();
    (
        v["record"]["id"].as_str().unwrap().to_owned(),
        format!("Bearer {}", v["key"].as_str().unwrap()),
    )
}

pub async fn start(extra: &str) -> Harness {
    start_with(|mock| config(mock, extra)).await
}

/// A mock upstream, and the binary started with the config `config` writes for that mock.
pub async fn start_with(config: impl FnOnce(&MockUpstream) -> String) -> Harness {
    let mock = MockUpstream::start().await.unwrap();
    let gateway = Switchyard::start(bin(), &config(&mock)).await.unwrap();
    Harness {
        mock,
        gateway,
        http: reqwest::Client::new(),
    }
}

/// Runs `tests/clients/{script}` (Python: `SWITCHYARD_PYTHON`, else python3) with the gateway's
/// base URL and `args`; it must exit 0 and print `done`. What it printed comes back.
pub async fn run_client(
    gateway: &Switchyard,
    script: &str,
    args: &[&std::ffi::OsStr],
    done: &str,
) -> String {
    let python = std::env::var("SWITCHYARD_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let path = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(python)
        .arg(path)
        .arg(gateway.base_url())
        .args(args)
        .output()
        .await
        .expect("python3 runs (scripts/test.sh installs the SDKs)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains(done),
        "{stdout}\n{stderr}\n(the SDKs come from scripts/test.sh)\n{}",
        gateway.logs()
    );
    stdout.into_owned()
}

/// Compares `actual` with `tests/golden/workers_ai/{name}.json` (`UPDATE_GOLDEN=1` rewrites it).
pub fn golden(name: &str, actual: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/workers_ai")
        .join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing (UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(text, expected, "{}", path.display());
}

pub fn chat(model: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": "Say hello"}]})
}

impl Harness {
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.gateway.url(path))
            .header("authorization", "Bearer sk-client-secret")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs `body` and parses the answer as JSON, whatever the status.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        self.post(path, body).await.json().await.unwrap()
    }

    pub async fn post_raw(&self, path: &str, body: &'static str) -> reqwest::Response {
        self.http
            .post(self.gateway.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts an OpenAI-shaped error and returns its `error` object.
pub async fn expect_error(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    assert!(response.headers().contains_key("cf-aig-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    let error = body["error"].clone();
    assert!(error["message"].is_string(), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    error
}

/// POST `body` as JSON; the status, headers and body text (streams included).
pub async fn post_text(
    url: &str,
    path: &str,
    body: &serde_json::Value,
) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

/// POSTs `body` with `headers`; the status, headers and JSON body (`Null` when not JSON).
pub async fn post_with(
    url: &str,
    path: &str,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// A chat completion for `model` through `/v1/chat/completions`.
pub async fn chat_with(
    url: &str,
    model: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    post_with(url, "/v1/chat/completions", &chat(model), headers).await
}

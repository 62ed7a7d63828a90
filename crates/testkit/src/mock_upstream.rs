//! A mock upstream on `127.0.0.1:0` speaking the OpenAI API (and, in `anthropic`, the Anthropic
//! Messages API at `/v1/messages`; in `gemini`, Gemini's `/v1beta/models/{model}:…`), with bodies shaped like the real APIs' and failures chosen by
//! the requested model name.

mod anthropic;
mod bedrock;
mod chaos;
mod cohere;
mod faults;
mod gemini;
mod rerank;
mod responses;
mod speech;
mod workers_ai;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub(crate) use faults::{behaviour, error_response, Behaviour};

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
pub(crate) struct MockState {
    requests: Mutex<Vec<Recorded>>,
    /// Handlers or streams dropped before they finished: the gateway closed the connection.
    cancelled: AtomicUsize,
    completed_streams: AtomicUsize,
    /// Requests to `chaos-…` models so far (the position in their fault sequence).
    chaos_seq: AtomicUsize,
    connections: Arc<AtomicUsize>,
}

/// Counts accepted connections, so tests can check that the gateway pools upstream connections.
struct CountingListener {
    inner: tokio::net::TcpListener,
    accepted: Arc<AtomicUsize>,
}

impl axum::serve::Listener for CountingListener {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok((stream, addr)) = self.inner.accept().await {
                self.accepted.fetch_add(1, Ordering::SeqCst);
                return (stream, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A running mock; stops when dropped.
pub struct MockUpstream {
    addr: SocketAddr,
    state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl MockUpstream {
    pub async fn start() -> std::io::Result<Self> {
        let state = Arc::new(MockState::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/responses", post(responses::create))
            .route("/v1/audio/transcriptions", post(speech::transcriptions))
            .route("/v1/images/generations", post(speech::images))
            .route("/openai/v1/responses", post(responses::create))
            .route("/v1/models", get(models))
            .route("/v1/messages", post(anthropic::messages))
            .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
            .route("/v1beta/models/{*rest}", post(gemini::models))
            .route("/v1beta/models", get(gemini::list))
            .route(
                "/v1/projects/{project}/locations/{location}/publishers/google/models/{*rest}",
                post(vertex_models),
            )
            .route(
                "/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{*rest}",
                post(vertex_anthropic),
            )
            .route("/token", post(gemini::token))
            .route(
                "/client/v4/accounts/{account}/ai/run/{*model}",
                post(workers_ai_run),
            )
            .route("/v2/chat", post(cohere::chat))
            .route("/v2/embed", post(cohere::embed))
            .route("/v2/rerank", post(rerank::cohere))
            .route("/v1/rerank", post(rerank::jina))
            .route("/model/{model}/{action}", post(bedrock::model))
            .route(
                "/openai/deployments/{deployment}/chat/completions",
                post(chat),
            )
            .route(
                "/openai/deployments/{deployment}/embeddings",
                post(embeddings),
            )
            .layer(axum::middleware::from_fn(set_cookie_when_asked))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let listener = CountingListener {
            inner: listener,
            accepted: state.connections.clone(),
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(MockUpstream { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT` (for Azure-style configs).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Forgets the requests recorded so far (long runs: the soak).
    pub fn clear_requests(&self) {
        if let Ok(mut requests) = self.state.requests.lock() {
            requests.clear();
        }
    }

    pub fn last_request(&self) -> Option<Recorded> {
        self.requests().pop()
    }

    pub fn cancelled(&self) -> usize {
        self.state.cancelled.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn completed_streams(&self) -> usize {
        self.state.completed_streams.load(Ordering::SeqCst)
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A request carrying `x-mock-set-cookie` gets a `set-cookie` in its answer (real APIs set
/// cookies, e.g. Cloudflare's `__cf_bm` in front of OpenAI).
async fn set_cookie_when_asked(request: Request, next: axum::middleware::Next) -> Response {
    let asked = request.headers().contains_key("x-mock-set-cookie");
    let mut response = next.run(request).await;
    if asked {
        response.headers_mut().insert(
            http::header::SET_COOKIE,
            http::HeaderValue::from_static("__cf_bm=upstream-session; HttpOnly; Secure"),
        );
    }
    response
}

/// Counts as cancelled unless disarmed.
pub(crate) struct CancelGuard {
    pub(crate) state: Arc<MockState>,
    pub(crate) armed: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if self.armed {
            self.state.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub(crate) async fn record(state: &MockState, request: Request) -> Recorded {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    if let Ok(mut requests) = state.requests.lock() {
        requests.push(recorded.clone());
    }
    recorded
}

/// Vertex AI serves Gemini's wire format under a project/location path.
async fn vertex_models(
    state: State<Arc<MockState>>,
    axum::extract::Path((_project, _location, rest)): axum::extract::Path<(String, String, String)>,
    request: Request,
) -> Response {
    gemini::models(state, axum::extract::Path(rest), request).await
}

/// Workers AI's native API.
async fn workers_ai_run(
    state: State<Arc<MockState>>,
    axum::extract::Path((_account, model)): axum::extract::Path<(String, String)>,
    request: Request,
) -> Response {
    workers_ai::run(state, model, request).await
}

/// Anthropic's models on Vertex AI.
async fn vertex_anthropic(
    state: State<Arc<MockState>>,
    axum::extract::Path((_project, _location, rest)): axum::extract::Path<(String, String, String)>,
    request: Request,
) -> Response {
    anthropic::vertex(state, rest, request).await
}

async fn chat(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    let body = recorded.json();
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let include_usage = body["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false);
    let n = body["n"].as_u64().unwrap_or(1);
    // With tools offered (and not refused), the mock answers with a call to the first tool.
    let tool = body["tools"][0]["function"]["name"]
        .as_str()
        .filter(|_| body["tool_choice"] != "none")
        .map(str::to_owned);
    let mut guard = CancelGuard {
        state: state.clone(),
        armed: true,
    };
    // `flaky-N`: the first N requests for this exact model fail with 503, then it answers
    if let Some(n) = model
        .strip_prefix("flaky-")
        .and_then(|n| n.split('-').next()?.parse::<usize>().ok())
    {
        let seen = state
            .requests
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|r| r.json()["model"] == model.as_str())
                    .count()
            })
            .unwrap_or(0);
        if seen <= n {
            guard.armed = false;
            return error_response(503);
        }
    }
    // `ratelimit-S`: 429 with `retry-after: S`
    if let Some(secs) = model.strip_prefix("ratelimit-") {
        guard.armed = false;
        let mut response = error_response(429);
        if let Ok(v) = http::HeaderValue::from_str(secs) {
            response.headers_mut().insert("retry-after", v);
        }
        return response;
    }
    let plan = chaos::pick(&state, &model).unwrap_or_else(|| behaviour(&model));
    match plan {
        Behaviour::RateLimited(secs) => {
            guard.armed = false;
            return faults::rate_limited(secs);
        }
        Behaviour::Status(code) => {
            guard.armed = false;
            return error_response(code);
        }
        Behaviour::FailAfter(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            guard.armed = false;
            return error_response(500);
        }
        Behaviour::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Behaviour::Hang => std::future::pending::<()>().await,
        _ => {}
    }
    guard.armed = false;
    // `no-usage`: an OpenAI-compatible server that never reports usage
    let include_usage = include_usage && model != "no-usage";
    if !stream {
        let mut body = completion(&model, n, tool.as_deref());
        match plan {
            Behaviour::BadJson | Behaviour::BadFirstEvent => return faults::not_json(false),
            Behaviour::CutStream => return faults::cut_json(&body),
            Behaviour::ResetBody => return faults::broken_body(Bytes::new(), "application/json"),
            Behaviour::BrokenStream => {
                let text = body.to_string();
                let half = Bytes::from(text.get(..text.len() / 2).unwrap_or_default().to_owned());
                return faults::broken_body(half, "application/json");
            }
            _ => {}
        }
        if model == "no-usage" {
            if let Some(o) = body.as_object_mut() {
                o.remove("usage");
            }
        }
        return axum::Json(body).into_response();
    }
    match plan {
        Behaviour::BadJson | Behaviour::BadFirstEvent => return faults::not_json(true),
        Behaviour::ResetBody => return faults::broken_body(Bytes::new(), "text/event-stream"),
        _ => {}
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let state2 = state.clone();
    tokio::spawn(async move {
        let mut guard = CancelGuard {
            state: state2.clone(),
            armed: true,
        };
        let chunks = stream_chunks(&model, include_usage, tool.as_deref());
        let ok = match plan {
            Behaviour::BrokenStream => {
                for c in chunks.iter().take(2) {
                    let _ = tx.send(Ok(c.clone())).await;
                }
                // Let hyper flush the two events before the connection is torn down.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = tx
                    .send(Err(std::io::Error::other("mock: connection broken")))
                    .await;
                guard.armed = false;
                return;
            }
            Behaviour::CutStream => {
                // the first events, then a clean end: no finish reason, no `[DONE]`
                for c in chunks.iter().take(2) {
                    let _ = tx.send(Ok(c.clone())).await;
                }
                guard.armed = false;
                return;
            }
            Behaviour::StallStream => {
                let _ = tx.send(Ok(chunks[0].clone())).await;
                // Stay silent; the guard fires when the gateway gives up and drops the connection.
                tx.closed().await;
                return;
            }
            Behaviour::SlowStream(count) => {
                let mut ok = tx.send(Ok(chunks[0].clone())).await.is_ok();
                for i in 0..count {
                    if !ok {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    ok = tx
                        .send(Ok(content_chunk(&model, &format!("tick{i} "))))
                        .await
                        .is_ok();
                }
                // the finish chunk, the usage chunk when asked for, `[DONE]`
                for c in chunks.iter().skip(4) {
                    ok = ok && tx.send(Ok(c.clone())).await.is_ok();
                }
                ok
            }
            _ => {
                let mut ok = true;
                for c in chunks {
                    ok = ok && tx.send(Ok(c)).await.is_ok();
                }
                ok
            }
        };
        if ok {
            guard.armed = false;
            state2.completed_streams.fetch_add(1, Ordering::SeqCst);
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    Response::builder()
        .header("content-type", "text/event-stream; charset=utf-8")
        .header("x-request-id", "req_mock_123")
        .header("x-ratelimit-remaining-tokens", "149984")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn completion(model: &str, n: u64, tool: Option<&str>) -> Value {
    let choices: Vec<Value> = (0..n)
        .map(|i| match tool {
            None => json!({
                "index": i,
                "message": {"role": "assistant", "content": "Hello from mock", "refusal": null, "annotations": []},
                "logprobs": null,
                "finish_reason": "stop"
            }),
            Some(name) => json!({
                "index": i,
                "message": {"role": "assistant", "content": null, "refusal": null, "annotations": [],
                    "tool_calls": [{"id": "call_mock_1", "type": "function", "function": {"name": name, "arguments": "{\"city\":\"Paris\"}"}}]},
                "logprobs": null,
                "finish_reason": "tool_calls"
            }),
        })
        .collect();
    json!({
        "id": "chatcmpl-mock123",
        "object": "chat.completion",
        "created": 1_730_000_000,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        },
        "service_tier": "default",
        "system_fingerprint": "fp_mock"
    })
}

fn chunk(model: &str, delta: Value, finish: Value) -> Value {
    json!({
        "id": "chatcmpl-mock123", "object": "chat.completion.chunk", "created": 1_730_000_000,
        "model": model, "service_tier": "default", "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
    })
}

fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn content_chunk(model: &str, text: &str) -> Bytes {
    sse(&chunk(model, json!({"content": text}), Value::Null))
}

/// The SSE events of a streamed completion, `[DONE]` last.
fn stream_chunks(model: &str, include_usage: bool, tool: Option<&str>) -> Vec<Bytes> {
    let mut out = vec![sse(&chunk(
        model,
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    ))];
    match tool {
        None => {
            for word in ["Hello", " from", " mock"] {
                out.push(content_chunk(model, word));
            }
            out.push(sse(&chunk(model, json!({}), json!("stop"))));
        }
        Some(name) => {
            out.push(sse(&chunk(model, json!({"tool_calls": [{"index": 0, "id": "call_mock_1", "type": "function", "function": {"name": name, "arguments": ""}}]}), Value::Null)));
            for part in ["{\"city\":", "\"Paris\"}"] {
                out.push(sse(&chunk(
                    model,
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}),
                    Value::Null,
                )));
            }
            out.push(sse(&chunk(model, json!({}), json!("tool_calls"))));
        }
    }
    if include_usage {
        out.push(sse(&json!({
            "id": "chatcmpl-mock123", "object": "chat.completion.chunk", "created": 1_730_000_000,
            "model": model, "system_fingerprint": "fp_mock", "choices": [],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        })));
    }
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

async fn embeddings(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    let body = recorded.json();
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    if let Behaviour::Status(code) = behaviour(&model) {
        return error_response(code);
    }
    let inputs = match &body["input"] {
        Value::Array(items) => items.len(),
        _ => 1,
    };
    let data: Vec<Value> = (0..inputs)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": [0.0023064255, -0.009327292, 0.015797347]}))
        .collect();
    axum::Json(json!({
        "object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": 8 * inputs, "total_tokens": 8 * inputs}
    }))
    .into_response()
}

/// `GET /v1/models`: OpenAI's list, or, for a request carrying `anthropic-version`, Anthropic's
/// (two pages of one model: `has_more` and `after_id`, as the Models API pages).
async fn models(
    State(state): State<Arc<MockState>>,
    request: Request,
) -> Result<axum::Json<Value>, Infallible> {
    let recorded = record(&state, request).await;
    if recorded.header("anthropic-version").is_some() {
        let after = recorded
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .find_map(|p| p.strip_prefix("after_id="));
        let (id, more) = match after {
            None => ("claude-sonnet-4-5-20250929", true),
            Some(_) => ("claude-haiku-4-5-20251001", false),
        };
        return Ok(axum::Json(json!({
            "data": [{"type": "model", "id": id, "display_name": id, "created_at": "2025-09-29T00:00:00Z"}],
            "has_more": more, "first_id": id, "last_id": id
        })));
    }
    Ok(axum::Json(json!({
        "object": "list",
        "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"},
            {"id": "text-embedding-3-small", "object": "model", "created": 1_705_948_997, "owned_by": "system"},
            {"id": "ft:gpt-4o-mini:acme::abc123", "object": "model", "created": 1_721_172_741, "owned_by": "acme"}
        ]
    })))
}

//! The life cycle (`Gateway::handle`) driven directly, without the binary or a socket: providers
//! are fakes answered in-process ([`InProcess`], the seam local models use), scripted per test.
//! Each test names the step it pins down: route resolution, retry decisions, fallbacks, limits
//! admission, the cache step and translation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use switchyard_gateway::{
    ApiRequest, CacheControls, CacheStatus, ClientApi, ErrorOrigin, Gateway, GatewayError,
    InProcess, InProcessCall, Reply, RequestContext, ResponseCache, RetryControls,
};
use switchyard_providers::UpstreamBody;

/// A provider that answers from a script (then with its last answer), and keeps what it was sent.
struct Fake {
    script: Mutex<VecDeque<(u16, String)>>,
    last: Mutex<(u16, String)>,
    seen: Mutex<Vec<(String, Value)>>,
}

impl Fake {
    fn new(answers: &[(u16, Value)]) -> Arc<Self> {
        let script: VecDeque<(u16, String)> =
            answers.iter().map(|(s, v)| (*s, v.to_string())).collect();
        let last = script.back().cloned().unwrap();
        Arc::new(Fake {
            script: Mutex::new(script),
            last: Mutex::new(last),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn seen(&self, i: usize) -> (String, Value) {
        self.seen.lock().unwrap()[i].clone()
    }
}

impl InProcess for Fake {
    fn call<'a>(
        &'a self,
        call: InProcessCall<'a>,
    ) -> BoxFuture<'a, Result<Response<UpstreamBody>, GatewayError>> {
        Box::pin(async move {
            let body: Value = serde_json::from_slice(call.body).unwrap();
            self.seen
                .lock()
                .unwrap()
                .push((call.model.to_owned(), body.clone()));
            let (status, text) = {
                let mut script = self.script.lock().unwrap();
                match script.pop_front() {
                    Some(next) => {
                        *self.last.lock().unwrap() = next.clone();
                        next
                    }
                    None => self.last.lock().unwrap().clone(),
                }
            };
            let (text, content_type) = if call.stream && status == 200 {
                (sse_of(&text), "text/event-stream")
            } else {
                (text, "application/json")
            };
            let chunk = Bytes::from(text);
            let mut response = Response::new(UpstreamBody::local(Box::pin(
                futures_util::stream::once(async move { chunk }),
            )));
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            Ok(response)
        })
    }
}

/// An OpenAI chat answer as the stream of chunks a provider sends.
fn sse_of(answer: &str) -> String {
    let v: Value = serde_json::from_str(answer).unwrap();
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": v["model"],
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut out = String::new();
    for e in [
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": text}), Value::Null),
        chunk(json!({}), json!("stop")),
    ] {
        out.push_str(&format!("data: {e}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

fn chat_answer(model: &str, text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    })
}

fn openai_error(status: u16, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"message": message, "type": "server_error"}}),
    )
}

/// A gateway over `config` (providers `a` and `b`, kind OpenAI, never reached over HTTP) with
/// the fakes answering in-process.
/// `a` and `b` are OpenAI-kind providers; `a` has no Responses API of its own (a chat-only
/// server: Responses calls are translated for it), `b` has (they pass through).
async fn gateway(extra: &str, fakes: &[(&str, Arc<Fake>)]) -> Gateway {
    let text = format!(
        "[providers.a]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"k\"\n\
         responses_api = \"chat\"\n\
         [providers.b]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"k\"\n\
         [retries]\ndelay_ms = 1\n{extra}"
    );
    let config = switchyard_config::load_str_with_env("test", &text, &HashMap::new()).unwrap();
    let cache = ResponseCache::open(&config.cache).await.unwrap();
    let mut gateway = Gateway::new(&config, cache).unwrap();
    for (name, fake) in fakes {
        gateway.answer_in_process(name, fake.clone());
    }
    gateway
}

fn request(api: ClientApi, body: Value) -> ApiRequest {
    ApiRequest {
        api,
        forward: HeaderMap::new(),
        cache: CacheControls::default(),
        body: Bytes::from(body.to_string()),
        key: None,
        retry: RetryControls::default(),
        metadata: None,
        headers: HeaderMap::new(),
        byok: None,
    }
}

fn chat(model: &str) -> ApiRequest {
    request(
        ClientApi::ChatCompletions,
        json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
    )
}

async fn body_of(reply: Reply) -> Value {
    let bytes = reply
        .response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_call_reaches_the_provider_the_model_names_and_comes_back() {
    let a = Fake::new(&[(200, chat_answer("m1", "hello"))]);
    let gw = gateway("", &[("a", a.clone())]).await;
    let ctx = RequestContext::new();
    let reply = gw.handle(&ctx, chat("a/m1")).await.unwrap();
    assert_eq!(reply.served.provider, "a");
    assert_eq!(reply.served.model, "m1");
    assert_eq!(reply.served.step, 0);
    assert_eq!(
        body_of(reply).await["choices"][0]["message"]["content"],
        "hello"
    );
    // the provider saw its own model name, not `a/m1`
    let (model, sent) = a.seen(0);
    assert_eq!((model.as_str(), sent["model"].as_str()), ("m1", Some("m1")));
}

#[tokio::test]
async fn an_alias_resolves_to_its_target_and_an_unknown_model_is_refused_before_any_call() {
    let a = Fake::new(&[(200, chat_answer("m1", "via alias"))]);
    let gw = gateway(
        "[[models]]\nname = \"fast\"\ntarget = \"a/m1\"\n",
        &[("a", a.clone())],
    )
    .await;
    let reply = gw
        .handle(&RequestContext::new(), chat("fast"))
        .await
        .unwrap();
    assert_eq!(reply.served.requested_model.as_deref(), Some("fast"));
    assert_eq!(a.seen(0).0, "m1");

    let err = gw
        .handle(&RequestContext::new(), chat("nowhere/x"))
        .await
        .err()
        .unwrap();
    assert_eq!(err.status, StatusCode::NOT_FOUND);
    assert_eq!(err.origin, ErrorOrigin::Client);
    assert_eq!(a.calls(), 1);
}

#[tokio::test]
async fn a_retryable_failure_is_retried_and_a_client_error_is_not() {
    let a = Fake::new(&[
        openai_error(503, "busy"),
        (200, chat_answer("m1", "second try")),
    ]);
    let gw = gateway("", &[("a", a.clone())]).await;
    let mut req = chat("a/m1");
    req.retry.max_attempts = Some(3);
    let ctx = RequestContext::new();
    let reply = gw.handle(&ctx, req).await.unwrap();
    assert_eq!(a.calls(), 2);
    assert_eq!(reply.served.step, 0);
    let attempts = ctx.take_attempts();
    assert_eq!(attempts.len(), 1, "the failed attempt is kept for the log");
    // a provider's 5xx is the gateway's 502, naming the provider and its status
    assert_eq!(attempts[0].status, 502);
    assert!(
        attempts[0].error.contains("HTTP 503: busy"),
        "{}",
        attempts[0].error
    );

    let b = Fake::new(&[openai_error(400, "bad request")]);
    let gw = gateway("", &[("b", b.clone())]).await;
    let mut req = chat("b/m2");
    req.retry.max_attempts = Some(3);
    let err = gw.handle(&RequestContext::new(), req).await.err().unwrap();
    assert_eq!(err.status, StatusCode::BAD_REQUEST);
    assert_eq!(b.calls(), 1, "a 400 is the request's fault: never retried");
}

#[tokio::test]
async fn a_failing_provider_falls_back_to_the_next_target_and_says_so() {
    let a = Fake::new(&[openai_error(500, "down")]);
    let b = Fake::new(&[(200, chat_answer("m2", "from b"))]);
    let gw = gateway(
        "[[models]]\nname = \"fast\"\ntarget = \"a/m1\"\nfallbacks = [\"b/m2\"]\n",
        &[("a", a.clone()), ("b", b.clone())],
    )
    .await;
    let ctx = RequestContext::new();
    let reply = gw.handle(&ctx, chat("fast")).await.unwrap();
    assert_eq!(
        (reply.served.provider.as_str(), reply.served.step),
        ("b", 1)
    );
    assert_eq!(reply.response.headers()["cf-aig-step"], "1");
    assert_eq!((a.calls(), b.calls()), (1, 1));
    assert_eq!(ctx.take_attempts()[0].provider, "a");
    assert_eq!(
        body_of(reply).await["choices"][0]["message"]["content"],
        "from b"
    );
}

#[tokio::test]
async fn a_rate_limit_refuses_past_its_count_without_calling_the_provider() {
    let a = Fake::new(&[(200, chat_answer("m1", "ok"))]);
    let gw = gateway(
        "[[rate_limits]]\nscope = \"gateway\"\nlimit = 2\nwindow = \"1m\"\n",
        &[("a", a.clone())],
    )
    .await;
    for _ in 0..2 {
        gw.handle(&RequestContext::new(), chat("a/m1"))
            .await
            .unwrap();
    }
    let err = gw
        .handle(&RequestContext::new(), chat("a/m1"))
        .await
        .err()
        .unwrap();
    assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.calls(), 2);
}

#[tokio::test]
async fn the_cache_answers_a_repeated_request_and_the_provider_is_called_once() {
    let a = Fake::new(&[(200, chat_answer("m1", "cached"))]);
    let gw = gateway("[cache]\nttl_seconds = 60\n", &[("a", a.clone())]).await;
    let first = gw
        .handle(&RequestContext::new(), chat("a/m1"))
        .await
        .unwrap();
    assert_eq!(first.served.cache, Some(CacheStatus::Miss));
    let first = body_of(first).await;
    // the entry is stored off the request path
    let mut second = None;
    for _ in 0..100 {
        let reply = gw
            .handle(&RequestContext::new(), chat("a/m1"))
            .await
            .unwrap();
        if reply.served.cache == Some(CacheStatus::Hit) {
            second = Some(reply);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let second = second.expect("a hit");
    assert_eq!(body_of(second).await, first);
    let mut skip = chat("a/m1");
    skip.cache.skip = true;
    let bypass = gw.handle(&RequestContext::new(), skip).await.unwrap();
    assert_eq!(bypass.served.cache, Some(CacheStatus::Bypass));
    assert!(a.calls() >= 2 && a.calls() < 100);
}

#[tokio::test]
async fn an_anthropic_client_on_an_openai_provider_is_translated_both_ways_and_streams() {
    let a = Fake::new(&[(200, chat_answer("m1", "translated"))]);
    let gw = gateway("", &[("a", a.clone())]).await;
    let messages = json!({"model": "a/m1", "max_tokens": 16,
                          "messages": [{"role": "user", "content": "hi"}]});
    let reply = gw
        .handle(
            &RequestContext::new(),
            request(ClientApi::Messages, messages.clone()),
        )
        .await
        .unwrap();
    let answer = body_of(reply).await;
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["content"][0]["text"], "translated");
    let (_, sent) = a.seen(0);
    assert_eq!(sent["messages"][0]["content"], "hi");
    assert_eq!(
        sent["max_tokens"]
            .as_u64()
            .or(sent["max_completion_tokens"].as_u64()),
        Some(16)
    );

    let mut streamed = messages;
    streamed["stream"] = json!(true);
    let reply = gw
        .handle(
            &RequestContext::new(),
            request(ClientApi::Messages, streamed),
        )
        .await
        .unwrap();
    assert!(reply.served.stream);
    let bytes = reply
        .response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains("event: message_start"), "{text}");
    assert!(text.contains("translated"), "{text}");
    assert!(text.contains("event: message_stop"), "{text}");
}

#[tokio::test]
async fn a_responses_call_passes_to_a_provider_that_has_the_api() {
    let answer = json!({"id": "resp_1", "object": "response", "status": "completed",
        "output": [{"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": "native", "annotations": []}]}],
        "usage": {"input_tokens": 9, "output_tokens": 1, "total_tokens": 10}});
    let b = Fake::new(&[(200, answer)]);
    let gw = gateway("", &[("b", b.clone())]).await;
    let body = json!({"model": "b/m1", "input": "Hi", "store": false,
                      "tools": [{"type": "web_search"}]});
    let reply = gw
        .handle(&RequestContext::new(), request(ClientApi::Responses, body))
        .await
        .unwrap();
    let answer = body_of(reply).await;
    assert_eq!(answer["output"][0]["content"][0]["text"], "native");
    // the client's body, model rewritten: nothing translated or refused
    let (model, sent) = b.seen(0);
    assert_eq!(model, "m1");
    assert_eq!(
        sent,
        json!({"model": "m1", "input": "Hi", "store": false,
                            "tools": [{"type": "web_search"}]})
    );
}

#[tokio::test]
async fn a_responses_call_is_answered_through_the_providers_chat_api() {
    let a = Fake::new(&[(200, chat_answer("m1", "from chat"))]);
    let gw = gateway("", &[("a", a.clone())]).await;
    let body = json!({"model": "a/m1", "instructions": "Be brief.", "input": "Hi",
                      "max_output_tokens": 12});
    let reply = gw
        .handle(
            &RequestContext::new(),
            request(ClientApi::Responses, body.clone()),
        )
        .await
        .unwrap();
    let answer = body_of(reply).await;
    assert_eq!(answer["object"], "response");
    assert_eq!(answer["output"][0]["content"][0]["text"], "from chat");
    assert_eq!(answer["usage"]["input_tokens"], 5);
    // the provider got a chat request
    let (_, sent) = a.seen(0);
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["messages"][1]["content"], "Hi");
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let reply = gw
        .handle(
            &RequestContext::new(),
            request(ClientApi::Responses, streamed),
        )
        .await
        .unwrap();
    let bytes = reply
        .response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.starts_with("event: response.created"), "{text}");
    assert!(text.contains("\"delta\":\"from chat\""), "{text}");
    assert!(text.contains("event: response.completed"), "{text}");
}

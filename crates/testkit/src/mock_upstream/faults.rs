//! The ways the mock fails, chosen by the requested model name, and the broken answers it sends.

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

/// What the model name asks the mock to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behaviour {
    ErrorStream,
    Normal,
    Status(u16),
    /// `fail-after-MS`: HTTP 500 after MS milliseconds.
    FailAfter(u64),
    Delay(u64),
    Hang,
    BrokenStream,
    StallStream,
    SlowStream(usize),
    /// `bad-json`: `200 OK` whose body is an HTML error page, not the JSON it claims to be.
    BadJson,
    /// `bad-stream`: `200 OK` event stream whose first event is not JSON.
    BadFirstEvent,
    /// `cut-stream`: the answer ends cleanly part-way (a stream without its last events and
    /// `[DONE]`; a JSON body cut in the middle).
    CutStream,
    /// `reset-body`: the status line and headers, then the connection is torn down.
    ResetBody,
    /// 429 with `retry-after` in seconds.
    RateLimited(u64),
}

pub(crate) fn behaviour(model: &str) -> Behaviour {
    let number = |prefix: &str| {
        model
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<u64>().ok())
    };
    if let Some(code) = number("status-") {
        return Behaviour::Status(u16::try_from(code).unwrap_or(500));
    }
    if let Some(ms) = number("fail-after-") {
        return Behaviour::FailAfter(ms);
    }
    if let Some(ms) = number("delay-") {
        return Behaviour::Delay(ms);
    }
    if let Some(n) = number("slow-stream-") {
        return Behaviour::SlowStream(usize::try_from(n).unwrap_or(10));
    }
    match model {
        "hang" => Behaviour::Hang,
        "broken-stream" => Behaviour::BrokenStream,
        "stall-stream" => Behaviour::StallStream,
        "error-stream" => Behaviour::ErrorStream,
        "bad-json" => Behaviour::BadJson,
        "bad-stream" => Behaviour::BadFirstEvent,
        "cut-stream" => Behaviour::CutStream,
        "reset-body" => Behaviour::ResetBody,
        _ => Behaviour::Normal,
    }
}

pub(crate) fn error_response(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (kind, code, message) = match status.as_u16() {
        401 => ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-test. You can find your API key at https://platform.openai.com/account/api-keys."),
        404 => ("invalid_request_error", "model_not_found", "The model `x` does not exist or you do not have access to it."),
        429 => ("requests", "rate_limit_exceeded", "Rate limit reached for gpt-4o-mini in organization org-mock on requests per min (RPM): Limit 3, Used 3, Requested 1."),
        400..=499 => ("invalid_request_error", "invalid_value", "Invalid value for 'temperature': must be between 0 and 2."),
        _ => ("server_error", "server_error", "The server had an error while processing your request. Sorry about that!"),
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", http::HeaderValue::from_static("7"));
        response.headers_mut().insert(
            "x-ratelimit-remaining-requests",
            http::HeaderValue::from_static("0"),
        );
    }
    response
}

/// A 429 asking the caller to wait `secs` seconds.
pub(crate) fn rate_limited(secs: u64) -> Response {
    let mut response = error_response(429);
    if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert("retry-after", v);
    }
    response
}

/// What a proxy in front of a provider sends when the provider behind it failed: an HTML page,
/// with `200 OK` and the JSON content type the client expects.
pub(crate) fn not_json(stream: bool) -> Response {
    let page =
        "<html><head><title>502 Bad Gateway</title></head><body>upstream failed</body></html>";
    let (content_type, body) = if stream {
        ("text/event-stream", format!("data: {page}\n\n"))
    } else {
        ("application/json", page.to_owned())
    };
    Response::builder()
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A JSON answer cut in the middle, with a `content-length` that matches what is sent: the body
/// ends cleanly and only its content shows it is incomplete.
pub(crate) fn cut_json(whole: &serde_json::Value) -> Response {
    let text = whole.to_string();
    let cut = text.get(..text.len() / 2).unwrap_or_default().to_owned();
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(cut))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Part of a body (`sent`), then the connection breaks (nothing when `sent` is empty: the
/// status line and headers only).
pub(crate) fn broken_body(sent: Bytes, content_type: &'static str) -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(sent),
        Err(std::io::Error::other("mock: connection broken")),
    ];
    Response::builder()
        .header("content-type", content_type)
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A stream body of `events`; when `broken`, the connection drops 50 ms after them (the events
/// that did go out reach the client first).
pub(crate) fn event_body(events: Vec<Bytes>, broken: bool) -> Body {
    let stream = futures_util::stream::iter(events.into_iter().map(Ok::<_, std::io::Error>));
    if !broken {
        return Body::from_stream(stream);
    }
    let tail = futures_util::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Err(std::io::Error::other("mock: connection broken"))
    });
    Body::from_stream(futures_util::StreamExt::chain(stream, tail))
}

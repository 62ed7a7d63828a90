//! OpenAI's media APIs on the mock: speech to text (a multipart upload checked for its `model` and `file`
//! parts and boundary, answered as `response_format` asks) and image generation.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};

use super::{error_response, record, MockState};

/// OpenAI's `POST /v1/audio/transcriptions`: a multipart upload with `model` and `file`; the
/// answer as `response_format` asks (`json` by default, `text`).
pub(super) async fn transcriptions(
    State(state): State<Arc<MockState>>,
    request: Request,
) -> Response {
    let recorded = record(&state, request).await;
    let multipart = recorded
        .header("content-type")
        .is_some_and(|v| v.starts_with("multipart/form-data; boundary="));
    let body = String::from_utf8_lossy(&recorded.body).into_owned();
    if !multipart || !body.contains("name=\"model\"") || !body.contains("name=\"file\"") {
        return error_response(400);
    }
    let text = "Hello from mock transcription.";
    if body.contains("name=\"response_format\"\r\n\r\ntext\r\n") {
        return (
            [("content-type", "text/plain; charset=utf-8")],
            format!("{text}\n"),
        )
            .into_response();
    }
    axum::Json(serde_json::json!({
        "text": text,
        "usage": {"type": "duration", "seconds": 3}
    }))
    .into_response()
}

/// A 1×1 PNG, what the mock's images are.
pub const TINY_PNG_B64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// OpenAI's `POST /v1/images/generations` as gpt-image-1 answers: `n` base64 PNGs and the
/// token usage.
pub(super) async fn images(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    let body = recorded.json();
    if body["prompt"].as_str().is_none_or(str::is_empty) {
        return error_response(400);
    }
    let n = body["n"].as_u64().unwrap_or(1);
    let data: Vec<serde_json::Value> = (0..n)
        .map(|_| serde_json::json!({"b64_json": TINY_PNG_B64}))
        .collect();
    axum::Json(serde_json::json!({
        "created": 1_700_000_000,
        "data": data,
        "usage": {"input_tokens": 9, "output_tokens": 272, "total_tokens": 281,
                  "input_tokens_details": {"text_tokens": 9, "image_tokens": 0}}
    }))
    .into_response()
}

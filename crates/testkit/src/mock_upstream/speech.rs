//! OpenAI's speech to text on the mock: a multipart upload checked for its `model` and `file`
//! parts and boundary, answered as `response_format` asks.

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

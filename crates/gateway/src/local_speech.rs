//! Speech to text on a local model: an OpenAI transcription upload (`/v1/audio/transcriptions`)
//! turned into the runtime's task, and its transcript answered as OpenAI's API answers —
//! `{"text", "usage": {"type": "duration", "seconds"}}` for `json`, the bare text for `text`.
//! Formats that need timestamps (`srt`, `vtt`, `verbose_json`) and streaming are refused by name
//! until the models produce timestamps.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use switchyard_protocol::openai::{RequestError, TranscriptionRequest};
use switchyard_providers::UpstreamBody;
use switchyard_runtime::task::Transcribe;
use switchyard_runtime::{Event, Runtime, RuntimeError, Task};

use crate::{GatewayError, TokenUsage};

fn refused(param: &str, message: String) -> GatewayError {
    GatewayError::invalid_request(RequestError {
        message,
        param: Some(param.to_owned()),
        code: "unsupported_value",
    })
}

fn response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<UpstreamBody> {
    let mut response = Response::new(UpstreamBody::local(Box::pin(futures_util::stream::once(
        async move { body },
    ))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// What an OpenAI-compatible server answers for a runtime failure.
fn failure(e: &RuntimeError) -> Response<UpstreamBody> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    response(
        status,
        "application/json",
        Bytes::from(e.to_json().to_string()),
    )
}

/// Transcribes the upload in `body` on local model `model`.
pub(crate) async fn transcribe(
    runtime: &Runtime,
    model: &str,
    body: &[u8],
) -> Result<Response<UpstreamBody>, GatewayError> {
    let form = TranscriptionRequest::parse(body)?;
    let format = form.field("response_format").unwrap_or("json");
    if !matches!(format, "json" | "text") {
        return Err(refused(
            "response_format",
            format!("response_format `{format}` needs timestamps, which local speech models do not give yet; use json or text"),
        ));
    }
    if form.stream() {
        return Err(refused(
            "stream",
            "streamed transcription is not available from local speech models".into(),
        ));
    }
    let task = Task::Transcribe(Transcribe {
        audio: form.audio().to_vec(),
        format: form.audio_format().map(str::to_owned),
    });
    let mut events = match runtime.schedule(model, task).await {
        Ok(events) => events,
        Err(e) => return Ok(failure(&e)),
    };
    let mut text = String::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Text(t) => text.push_str(&t),
            Event::Done { counts, .. } => {
                let mut answer = match format {
                    "text" => response(
                        StatusCode::OK,
                        "text/plain; charset=utf-8",
                        Bytes::from(text + "\n"),
                    ),
                    _ => {
                        let answer = serde_json::json!({
                            "text": text,
                            "usage": {"type": "duration", "seconds": counts.input},
                        });
                        response(
                            StatusCode::OK,
                            "application/json",
                            Bytes::from(answer.to_string()),
                        )
                    }
                };
                // what the request used, for its record and metering, whatever the answer's
                // format says of it (a `text` answer says nothing)
                answer.extensions_mut().insert(TokenUsage {
                    input: counts.input,
                    output: counts.output,
                    ..TokenUsage::default()
                });
                return Ok(answer);
            }
            Event::Failed(e) => return Ok(failure(&e)),
            Event::Vectors(_) | Event::Logprob(_) => {}
        }
    }
    Ok(failure(&RuntimeError::engine(
        "the speech model stopped before finishing",
    )))
}

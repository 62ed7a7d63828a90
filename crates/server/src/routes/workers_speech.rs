//! Workers AI's speech models through `/ai/run/{model}`: the audio as the raw body (`audio/*` or
//! `application/octet-stream`), or as `{"audio": [bytes…]}` (`@cf/openai/whisper`) or
//! `{"audio": "<base64>"}` (`@cf/openai/whisper-large-v3-turbo`). The run goes on as the OpenAI
//! transcription upload it stands for (`verbose_json`) — same pipeline, log and metering — and
//! is answered as Workers AI answers it: `{"result": {"text", "word_count", "vtt"}, …}`.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use switchyard_gateway::{ClientApi, RequestContext};
use switchyard_protocol::workers_ai::client;
use switchyard_runtime::task::Segment;

use super::call::call;
use crate::AppState;

/// The file extension an audio content type stands for (a hint for the decoder).
fn extension(content_type: &str) -> Option<&'static str> {
    Some(match content_type {
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "wav",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/flac" | "audio/x-flac" => "flac",
        "audio/ogg" | "audio/vorbis" => "ogg",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" | "audio/aac" => "m4a",
        _ => return None,
    })
}

/// The audio a run carries, if it is a speech run: `Ok(None)` for the JSON runs of the other
/// tasks, `Err` for a speech run that is malformed.
pub(crate) fn audio_of(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<(Bytes, Option<&'static str>)>, String> {
    let media = crate::body::media_type(headers);
    if media.starts_with("audio/") || media == "application/octet-stream" {
        return Ok(Some((body.clone(), extension(&media))));
    }
    // a JSON run is a speech run when it has `audio`
    #[derive(serde::Deserialize)]
    struct Run<'a> {
        #[serde(borrow)]
        audio: Option<&'a serde_json::value::RawValue>,
    }
    let Ok(Run { audio: Some(audio) }) = serde_json::from_slice::<Run<'_>>(body) else {
        return Ok(None);
    };
    let raw = audio.get();
    let bytes = if raw.starts_with('"') {
        let text: String = serde_json::from_str(raw).map_err(|e| format!("`audio`: {e}"))?;
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("`audio` must be base64 or an array of bytes: {e}"))?
    } else {
        serde_json::from_str::<Vec<u8>>(raw).map_err(|_| {
            "`audio` must be an array of bytes (0–255) or a base64 string".to_owned()
        })?
    };
    Ok(Some((Bytes::from(bytes), None)))
}

/// The OpenAI transcription upload a speech run stands for.
fn upload(model: &str, audio: &[u8], ext: Option<&str>, boundary: &str) -> Vec<u8> {
    let filename = match ext {
        Some(ext) => format!("audio.{ext}"),
        None => "audio".to_owned(),
    };
    let mut out = Vec::with_capacity(audio.len() + 400);
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\nverbose_json\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    out.extend_from_slice(audio);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn envelope_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(client::error_envelope(status.as_u16(), message)),
    )
        .into_response()
}

/// Runs a speech model on `audio` and answers in Workers AI's envelope.
pub(crate) async fn run(
    state: AppState,
    ctx: RequestContext,
    mut parts: http::request::Parts,
    model: &str,
    (audio, ext): (Bytes, Option<&'static str>),
) -> Response {
    if audio.is_empty() {
        return envelope_error(StatusCode::BAD_REQUEST, "the audio is empty");
    }
    let boundary = format!("switchyard-{}", ctx.id.simple());
    let body = Bytes::from(upload(model, &audio, ext, &boundary));
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let content_type = format!("multipart/form-data; boundary={boundary}");
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        parts.headers.insert(CONTENT_TYPE, v);
    }
    let request = axum::extract::Request::from_parts(parts, Body::from(body));
    let response = call(state, ctx, ClientApi::Transcriptions, request).await;
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if !parts.status.is_success() {
        let message = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("the request failed");
        let error = client::error_envelope(parts.status.as_u16(), message);
        return Response::from_parts(parts, Body::from(error.to_string()));
    }
    let text = v["text"].as_str().unwrap_or_default().trim();
    let mut result = serde_json::json!({
        "text": text,
        "word_count": text.split_whitespace().count(),
    });
    // the segments' times as WebVTT, as Workers AI's Whisper gives them
    if let Some(segments) = v["segments"].as_array() {
        let segments: Vec<Segment> = segments
            .iter()
            .map(|s| Segment {
                start: s["start"].as_f64().unwrap_or(0.0) as f32,
                end: s["end"].as_f64().unwrap_or(0.0) as f32,
                text: s["text"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        result["vtt"] = Value::from(switchyard_gateway::local::vtt(&segments));
    }
    Response::from_parts(parts, Body::from(client::envelope(result).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        h
    }

    #[test]
    fn a_run_is_speech_when_it_carries_audio() {
        let wav = Bytes::from_static(b"RIFF....WAVE");
        let (audio, ext) = audio_of(&headers("audio/wav"), &wav).unwrap().unwrap();
        assert_eq!((audio, ext), (wav.clone(), Some("wav")));
        let json = Bytes::from_static(br#"{"audio":[82,73,70,70]}"#);
        let (audio, _) = audio_of(&headers("application/json"), &json)
            .unwrap()
            .unwrap();
        assert_eq!(&audio[..], b"RIFF");
        let b64 = Bytes::from_static(br#"{"audio":"UklGRg=="}"#);
        let (audio, _) = audio_of(&headers("application/json"), &b64)
            .unwrap()
            .unwrap();
        assert_eq!(&audio[..], b"RIFF");
        let text = Bytes::from_static(br#"{"prompt":"hi"}"#);
        assert!(audio_of(&headers("application/json"), &text)
            .unwrap()
            .is_none());
        let bad = Bytes::from_static(br#"{"audio":[1,2,300]}"#);
        assert!(audio_of(&headers("application/json"), &bad).is_err());
        let bad = Bytes::from_static(br#"{"audio":"not base64!"}"#);
        assert!(audio_of(&headers("application/json"), &bad).is_err());
    }

    #[test]
    fn the_upload_reads_back_as_a_transcription_form() {
        let body = upload("@cf/openai/whisper", b"\0\x01--x\r\n", Some("wav"), "B");
        let form = switchyard_protocol::openai::TranscriptionRequest::parse(&body).unwrap();
        assert_eq!(form.model(), "@cf/openai/whisper");
        assert_eq!(form.audio(), b"\0\x01--x\r\n");
        assert_eq!(form.audio_format(), Some("wav"));
    }
}

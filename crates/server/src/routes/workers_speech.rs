//! Workers AI's speech models through `/ai/run/{model}`: the audio as the raw body (`audio/*` or
//! `application/octet-stream`), or as `{"audio": [bytes…]}` (`@cf/openai/whisper`) or
//! `{"audio": "<base64>"}` (`@cf/openai/whisper-large-v3-turbo`). The run goes on as the OpenAI
//! transcription upload it stands for (`verbose_json`) — same pipeline, log and metering — and
//! is answered as Workers AI answers it: `{"result": {"text", "word_count", "vtt"}, …}`, or for
//! the large-v3-turbo input (`audio` in base64, with `task`, `language`, `initial_prompt`,
//! `vad_filter`) `{"result": {"transcription_info", "text", "word_count", "segments", "vtt"}}`.

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

/// A speech run: the audio, its format when the content type said, and the large-v3-turbo
/// input's options.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct SpeechRun {
    audio: Bytes,
    ext: Option<&'static str>,
    /// The audio came in base64 (large-v3-turbo's input): answered in its shape.
    turbo: bool,
    translate: bool,
    language: Option<String>,
    prompt: Option<String>,
}

/// The audio a run carries, if it is a speech run: `Ok(None)` for the JSON runs of the other
/// tasks, `Err` for a speech run that is malformed.
pub(crate) fn audio_of(headers: &HeaderMap, body: &Bytes) -> Result<Option<SpeechRun>, String> {
    let media = crate::body::media_type(headers);
    if media.starts_with("audio/") || media == "application/octet-stream" {
        return Ok(Some(SpeechRun {
            audio: body.clone(),
            ext: extension(&media),
            ..SpeechRun::default()
        }));
    }
    // a JSON run is a speech run when it has `audio`
    #[derive(serde::Deserialize)]
    struct Run<'a> {
        #[serde(borrow)]
        audio: Option<&'a serde_json::value::RawValue>,
        task: Option<String>,
        language: Option<String>,
        initial_prompt: Option<String>,
    }
    let Ok(Run {
        audio: Some(audio),
        task,
        language,
        initial_prompt,
    }) = serde_json::from_slice::<Run<'_>>(body)
    else {
        return Ok(None);
    };
    let translate = match task.as_deref() {
        None | Some("transcribe") => false,
        Some("translate") => true,
        Some(other) => {
            return Err(format!(
                "`task` must be transcribe or translate, not `{other}`"
            ))
        }
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
    Ok(Some(SpeechRun {
        audio: Bytes::from(bytes),
        ext: None,
        turbo: raw.starts_with('"'),
        translate,
        language,
        prompt: initial_prompt,
    }))
}

/// The OpenAI transcription upload a speech run stands for.
fn upload(model: &str, run: &SpeechRun, boundary: &str) -> Vec<u8> {
    let (audio, ext) = (&run.audio, run.ext);
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
    // Workers AI's Whisper answers each word's times
    out.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nword\r\n")
            .as_bytes(),
    );
    for (name, value) in [("language", &run.language), ("prompt", &run.prompt)] {
        if let Some(v) = value {
            out.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{v}\r\n")
                    .as_bytes(),
            );
        }
    }
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
    speech: SpeechRun,
) -> Response {
    if speech.audio.is_empty() {
        return envelope_error(StatusCode::BAD_REQUEST, "the audio is empty");
    }
    let boundary = format!("switchyard-{}", ctx.id.simple());
    let body = Bytes::from(upload(model, &speech, &boundary));
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let content_type = format!("multipart/form-data; boundary={boundary}");
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        parts.headers.insert(CONTENT_TYPE, v);
    }
    let request = axum::extract::Request::from_parts(parts, Body::from(body));
    let api = if speech.translate {
        ClientApi::Translations
    } else {
        ClientApi::Transcriptions
    };
    let response = call(state, ctx, api, request).await;
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
                words: Vec::new(),
            })
            .collect();
        result["vtt"] = Value::from(switchyard_gateway::local::vtt(&segments));
    }
    // each word with its times, as Workers AI's Whisper gives them
    let words: Vec<Value> = v["words"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|w| serde_json::json!({"word": w["word"], "start": w["start"], "end": w["end"]}))
                .collect()
        })
        .unwrap_or_default();
    if !speech.turbo {
        result["words"] = Value::Array(words);
    }
    if speech.turbo {
        turbo_shape(&v, &mut result);
    }
    Response::from_parts(parts, Body::from(client::envelope(result).to_string()))
}

/// large-v3-turbo's answer: the transcription's language and duration, and its segments.
fn turbo_shape(v: &Value, result: &mut Value) {
    let language = v["language"].as_str().unwrap_or("english");
    let code = switchyard_runtime::whisper::languages::code_of(language).unwrap_or(language);
    let duration = v["duration"].as_f64().unwrap_or(0.0);
    // no voice-activity filter runs here: the duration after it is the duration
    result["transcription_info"] = serde_json::json!({
        "language": code, "language_probability": null,
        "duration": duration, "duration_after_vad": duration,
    });
    let words = v["words"].as_array().cloned().unwrap_or_default();
    let segments: Vec<Value> = v["segments"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    // the words said within the segment
                    let (from, to) = (
                        s["start"].as_f64().unwrap_or(0.0),
                        s["end"].as_f64().unwrap_or(0.0),
                    );
                    let mine: Vec<&Value> = words
                        .iter()
                        .filter(|w| {
                            w["start"]
                                .as_f64()
                                .is_some_and(|t| t >= from - 0.01 && t < to)
                        })
                        .collect();
                    serde_json::json!({"start": s["start"], "end": s["end"], "text": s["text"],
                        "temperature": s["temperature"], "words": mine})
                })
                .collect()
        })
        .unwrap_or_default();
    result["segments"] = Value::Array(segments);
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
        let run = audio_of(&headers("audio/wav"), &wav).unwrap().unwrap();
        assert_eq!(
            (run.audio, run.ext, run.turbo),
            (wav.clone(), Some("wav"), false)
        );
        let json = Bytes::from_static(br#"{"audio":[82,73,70,70]}"#);
        let run = audio_of(&headers("application/json"), &json)
            .unwrap()
            .unwrap();
        assert_eq!((&run.audio[..], run.turbo), (&b"RIFF"[..], false));
        let b64 = Bytes::from_static(
            br#"{"audio":"UklGRg==","task":"translate","language":"es","initial_prompt":"Hola"}"#,
        );
        let run = audio_of(&headers("application/json"), &b64)
            .unwrap()
            .unwrap();
        assert_eq!(&run.audio[..], b"RIFF");
        assert!(run.turbo && run.translate);
        assert_eq!(
            (run.language.as_deref(), run.prompt.as_deref()),
            (Some("es"), Some("Hola"))
        );
        let bad = Bytes::from_static(br#"{"audio":"UklGRg==","task":"dance"}"#);
        assert!(audio_of(&headers("application/json"), &bad).is_err());
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
        let run = SpeechRun {
            audio: Bytes::from_static(b"\0\x01--x\r\n"),
            ext: Some("wav"),
            language: Some("es".into()),
            ..SpeechRun::default()
        };
        let body = upload("@cf/openai/whisper", &run, "B");
        let form = switchyard_protocol::openai::TranscriptionRequest::parse(&body).unwrap();
        assert_eq!(form.field("language"), Some("es"));
        assert_eq!(form.model(), "@cf/openai/whisper");
        assert_eq!(form.audio(), b"\0\x01--x\r\n");
        assert_eq!(form.audio_format(), Some("wav"));
    }
}

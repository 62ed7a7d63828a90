//! Speech to text on a local model: an OpenAI transcription upload (`/v1/audio/transcriptions`)
//! turned into the runtime's task, and its transcript answered as OpenAI's API answers it —
//! `json` (`{"text", "usage": {"type": "duration", "seconds"}}`), `text`, `verbose_json` (with
//! the segments' times), `srt`, `vtt`. Word timestamps and streaming are refused by name.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use switchyard_protocol::openai::{RequestError, TranscriptionRequest};
use switchyard_providers::UpstreamBody;
use switchyard_runtime::task::{Segment, Transcribe};
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

/// The answer formats OpenAI's API has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Text,
    VerboseJson,
    Srt,
    Vtt,
}

impl Format {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "json" => Format::Json,
            "text" => Format::Text,
            "verbose_json" => Format::VerboseJson,
            "srt" => Format::Srt,
            "vtt" => Format::Vtt,
            _ => return None,
        })
    }
}

/// `seconds` as `HH:MM:SS` + `sep` + milliseconds (SubRip: `,`, WebVTT: `.`).
fn clock(seconds: f32, sep: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The segments as WebVTT (also what Workers AI's Whisper answers as `vtt`).
pub fn vtt(segments: &[Segment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in segments {
        out.push_str(&format!(
            "{} --> {}\n{}\n\n",
            clock(s.start, '.'),
            clock(s.end, '.'),
            s.text.trim()
        ));
    }
    out
}

fn srt(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        out.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            clock(s.start, ','),
            clock(s.end, ','),
            s.text.trim()
        ));
    }
    out
}

/// The answer in `format`, as OpenAI's API writes it.
fn render(
    format: Format,
    text: &str,
    (segments, language, task): (&[Segment], &str, &str),
    seconds: u64,
) -> (&'static str, Bytes) {
    let usage = serde_json::json!({"type": "duration", "seconds": seconds});
    match format {
        Format::Text => (
            "text/plain; charset=utf-8",
            Bytes::from(format!("{text}\n")),
        ),
        Format::Srt => ("text/plain; charset=utf-8", Bytes::from(srt(segments))),
        Format::Vtt => ("text/vtt; charset=utf-8", Bytes::from(vtt(segments))),
        Format::Json => {
            let answer = serde_json::json!({"text": text, "usage": usage});
            ("application/json", Bytes::from(answer.to_string()))
        }
        Format::VerboseJson => {
            let duration = segments.last().map_or(0.0, |s| s.end);
            let segments_json: Vec<serde_json::Value> = segments
                .iter()
                .enumerate()
                .map(|(id, s)| {
                    serde_json::json!({"id": id, "seek": 0, "start": s.start, "end": s.end,
                                       "text": s.text, "temperature": 0.0})
                })
                .collect();
            let language = switchyard_runtime::whisper::languages::name_of(language);
            let mut answer = serde_json::json!({"task": task, "language": language,
                "duration": duration, "text": text, "segments": segments_json, "usage": usage});
            let words: Vec<serde_json::Value> = segments
                .iter()
                .flat_map(|s| &s.words)
                .map(|w| serde_json::json!({"word": w.word.trim(), "start": w.start, "end": w.end}))
                .collect();
            if !words.is_empty() {
                answer["words"] = serde_json::Value::Array(words);
            }
            ("application/json", Bytes::from(answer.to_string()))
        }
    }
}

/// Transcribes the upload in `body` on local model `model`.
pub(crate) async fn transcribe(
    runtime: &Runtime,
    model: &str,
    body: &[u8],
    translate: bool,
) -> Result<Response<UpstreamBody>, GatewayError> {
    let form = TranscriptionRequest::parse(body)?;
    let asked = form.field("response_format").unwrap_or("json");
    let format = Format::of(asked).ok_or_else(|| {
        refused(
            "response_format",
            format!("response_format must be json, text, srt, verbose_json or vtt (got `{asked}`)"),
        )
    })?;
    let words = form
        .fields("timestamp_granularities[]")
        .any(|g| g == "word");
    if words && format != Format::VerboseJson {
        return Err(refused(
            "timestamp_granularities",
            "word timestamps come with response_format verbose_json".into(),
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
        language: form.field("language").map(str::to_owned),
        translate,
        prompt: form.field("prompt").map(str::to_owned),
        words,
    });
    let mut events = match runtime.schedule(model, task).await {
        Ok(events) => events,
        Err(e) => return Ok(failure(&e)),
    };
    let mut text = String::new();
    let mut segments = Vec::new();
    let mut language = String::from("en");
    while let Some(event) = events.recv().await {
        match event {
            Event::Segments(s) => segments = s,
            Event::Scores(_) | Event::Classes(_) | Event::Image { .. } => {}
            Event::Language(l) => language = l,
            Event::Text(t) => text.push_str(&t),
            Event::Done { counts, .. } => {
                let task = if translate { "translate" } else { "transcribe" };
                let (content_type, body) =
                    render(format, &text, (&segments, &language, task), counts.input);
                let mut answer = response(StatusCode::OK, content_type, body);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn segments() -> Vec<Segment> {
        vec![
            Segment {
                start: 0.0,
                end: 2.5,
                text: " Hello there.".into(),
                words: Vec::new(),
            },
            Segment {
                start: 2.5,
                end: 3661.25,
                text: " Goodbye.".into(),
                words: Vec::new(),
            },
        ]
    }

    #[test]
    fn subtitles_carry_each_segments_times() {
        assert_eq!(
            srt(&segments()),
            "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n00:00:02,500 --> 01:01:01,250\nGoodbye.\n\n"
        );
        assert_eq!(
            vtt(&segments()),
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n00:00:02.500 --> 01:01:01.250\nGoodbye.\n\n"
        );
        let (kind, body) = render(
            Format::VerboseJson,
            "Hello there. Goodbye.",
            (&segments(), "es", "transcribe"),
            3662,
        );
        assert_eq!(kind, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["segments"][1]["end"], 3661.25);
        assert_eq!(v["duration"], 3661.25);
        assert_eq!(v["usage"]["seconds"], 3662);
        assert_eq!(v["language"], "spanish");
    }
}

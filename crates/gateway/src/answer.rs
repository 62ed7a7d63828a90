//! What an answer in a client's dialect says about itself — its token usage, its text — and the
//! codecs between its JSON and stream forms through the canonical model (used by cache replays,
//! the cascade and the record step).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchyard_protocol::canonical::{ChatResponse, StreamEvent};
use switchyard_protocol::{anthropic, dialect, openai, sse};

use crate::api::ClientApi;

/// Tokens an answer used, as the record step prices them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    #[serde(default)]
    pub cached_input: u64,
    #[serde(default)]
    pub reasoning: u64,
}

impl From<switchyard_protocol::canonical::Usage> for TokenUsage {
    fn from(u: switchyard_protocol::canonical::Usage) -> Self {
        TokenUsage {
            input: u.input,
            output: u.output,
            cached_input: u.cached_input,
            reasoning: u.reasoning,
        }
    }
}

impl From<TokenUsage> for switchyard_protocol::canonical::Usage {
    fn from(u: TokenUsage) -> Self {
        switchyard_protocol::canonical::Usage {
            input: u.input,
            output: u.output,
            cached_input: u.cached_input,
            reasoning: u.reasoning,
        }
    }
}

/// The token usage an answer reports, if it reports one.
pub fn usage_of(api: ClientApi, stream: bool, body: &[u8]) -> Option<TokenUsage> {
    if api.is_speech() {
        return counted_usage(body);
    }
    if api == ClientApi::Responses {
        return openai::responses::usage_of(body, stream).map(TokenUsage::from);
    }
    if api == ClientApi::Rerank {
        return rerank_usage(body);
    }
    if api == ClientApi::Images {
        // DALL·E reports none
        return counted_usage(body);
    }
    if stream {
        let events = decode_stream(api, body)?;
        return events.iter().rev().find_map(|e| match e {
            StreamEvent::Usage(u) => Some(TokenUsage::from(*u)),
            _ => None,
        });
    }
    match api {
        ClientApi::ChatCompletions
        | ClientApi::Embeddings
        | ClientApi::Completions
        | ClientApi::Classify => {
            // this runs for every logged answer: the scanner reads the last `usage` object alone;
            // what it cannot vouch for goes to serde over the whole body, typed so everything but
            // `usage` is skipped without being built
            if let Some(u) = openai::scan_usage(body) {
                return Some(TokenUsage {
                    input: u.prompt_tokens?,
                    output: u.completion_tokens.unwrap_or(0),
                    cached_input: u.cached_tokens.unwrap_or(0),
                    reasoning: u.reasoning_tokens.unwrap_or(0),
                });
            }
            openai::upstream::usage_in(body).map(TokenUsage::from)
        }
        ClientApi::Messages => anthropic::response_to_canonical(body).map(|r| r.usage.into()),
        ClientApi::CountTokens
        | ClientApi::Responses
        | ClientApi::Transcriptions
        | ClientApi::Translations
        | ClientApi::Rerank
        | ClientApi::Images => None,
    }
}

/// A rerank's usage, counted in documents scored: local cross-encoders' `usage.documents`,
/// else Cohere's billed search units (up to 100 documents each), else Jina's and vLLM's
/// `usage.total_tokens`.
fn rerank_usage(body: &[u8]) -> Option<TokenUsage> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let n = |p: &str| v.pointer(p).and_then(serde_json::Value::as_u64);
    let input = n("/usage/documents")
        .or_else(|| n("/meta/billed_units/search_units"))
        .or_else(|| n("/usage/total_tokens"))?;
    Some(TokenUsage {
        input,
        ..TokenUsage::default()
    })
}

/// A transcription's or image generation's usage as OpenAI reports it: `{"type": "duration",
/// "seconds"}` (Whisper: counted as seconds of audio in) or `{"input_tokens", "output_tokens"}`
/// (gpt-4o-transcribe, gpt-image-1; local image models: steps × 512² tiles).
fn counted_usage(body: &[u8]) -> Option<TokenUsage> {
    #[derive(serde::Deserialize)]
    struct Answer {
        usage: Option<Usage>,
    }
    #[derive(serde::Deserialize)]
    struct Usage {
        seconds: Option<f64>,
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
    }
    let u = serde_json::from_slice::<Answer>(body).ok()?.usage?;
    Some(TokenUsage {
        input: match u.seconds {
            Some(s) => s.max(0.0).ceil() as u64,
            None => u.input_tokens?,
        },
        output: u.output_tokens.unwrap_or(0),
        ..TokenUsage::default()
    })
}

/// The text of an answer (content, reasoning and tool arguments), for counting its tokens.
pub(crate) fn answer_of(api: ClientApi, stream: bool, body: &[u8]) -> Option<String> {
    let answer = if stream {
        let events = decode_stream(api, body)?;
        // an answer cut short has no `Done`: count what arrived
        let mut text = String::new();
        for e in &events {
            match e {
                StreamEvent::Text(t) | StreamEvent::Reasoning(t) => text.push_str(t),
                StreamEvent::ToolCallArguments { delta, .. } => text.push_str(delta),
                StreamEvent::ToolCallStart { name, .. } => text.push_str(name),
                _ => {}
            }
        }
        return Some(text);
    } else {
        decode_json(api, body)?
    };
    let mut text = String::new();
    for part in &answer.content {
        match part {
            switchyard_protocol::canonical::Part::Text(t) => text.push_str(t),
            switchyard_protocol::canonical::Part::Reasoning { text: r, .. } => text.push_str(r),
            switchyard_protocol::canonical::Part::ToolCall(c) => {
                text.push_str(&c.name);
                text.push_str(&c.arguments);
            }
            _ => {}
        }
    }
    Some(text)
}

/// The chat dialect of an API's answers (`None`: its answers are not chat answers).
fn chat_dialect(api: ClientApi) -> Option<switchyard_protocol::Dialect> {
    match api {
        ClientApi::ChatCompletions | ClientApi::Messages => Some(api.dialect()),
        // Responses answers are not read back (no cross-mode cache replays for them)
        ClientApi::Embeddings
        | ClientApi::CountTokens
        | ClientApi::Completions
        | ClientApi::Responses
        | ClientApi::Transcriptions
        | ClientApi::Translations
        | ClientApi::Rerank
        | ClientApi::Classify
        | ClientApi::Images => None,
    }
}

pub(crate) fn decode_stream(api: ClientApi, body: &[u8]) -> Option<Vec<StreamEvent>> {
    let mut decoder = dialect::upstream(chat_dialect(api)?).stream_decoder();
    let mut parsed = Vec::new();
    sse::Parser::new().feed(body, &mut parsed);
    let mut events = Vec::with_capacity(parsed.len());
    for e in &parsed {
        decoder.decode(e, &mut events);
    }
    Some(events)
}

/// A JSON answer unfolded into a stream of the caller's dialect (a cascade's kept local answer,
/// for a streaming client).
pub(crate) fn json_as_stream(
    api: ClientApi,
    body: &[u8],
    include_usage: bool,
    created_ms: u64,
) -> Option<Bytes> {
    let answer = decode_json(api, body)?;
    Some(encode_stream(
        api,
        &answer.to_events(),
        include_usage,
        created_ms,
    ))
}

pub(crate) fn decode_json(api: ClientApi, body: &[u8]) -> Option<ChatResponse> {
    dialect::upstream(chat_dialect(api)?).response(body)
}

pub(crate) fn encode_json(api: ClientApi, answer: &ChatResponse, created_ms: u64) -> Option<Bytes> {
    let json = dialect::client(chat_dialect(api)?)
        .response(answer, created_ms / 1000)
        .ok()?;
    Some(Bytes::from(json))
}

pub(crate) fn encode_stream(
    api: ClientApi,
    events: &[StreamEvent],
    include_usage: bool,
    created_ms: u64,
) -> Bytes {
    let mut out = Vec::with_capacity(1024);
    let mut encoder =
        dialect::client(api.dialect()).stream_encoder("", created_ms / 1000, include_usage);
    for e in events {
        encoder.encode(e, &mut out);
    }
    Bytes::from(out)
}

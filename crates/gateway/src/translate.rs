//! Translation between the client's dialect and the provider's, through the canonical model.
//! Only used when the two differ; same-dialect requests never come here.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use switchyard_protocol::bedrock::{self, eventstream};
use switchyard_protocol::canonical::{ChatRequest, ChatResponse, StreamEvent};
use switchyard_protocol::openai::{convert, upstream};
use switchyard_protocol::{anthropic, cohere, gemini, sse, workers_ai, Dialect};
use switchyard_providers::Provider;

use crate::GatewayError;

/// Which API is being translated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Chat,
    Embeddings,
    CountTokens,
}

/// What translating the answer back needs to remember from the request.
pub(crate) struct Translation {
    pub(crate) client: Dialect,
    pub(crate) provider: Dialect,
    pub(crate) kind: Kind,
    pub(crate) include_usage: bool,
    pub(crate) model: String,
    /// JSON mode emulated with a forced tool (Anthropic): turn that tool call back into text.
    pub(crate) json_tool: bool,
}

fn serialise<T: serde::Serialize>(value: &T) -> Result<Bytes, GatewayError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| GatewayError::internal(format!("serialising a translated body: {e}")))
}

fn provider_only_dialect() -> GatewayError {
    GatewayError::internal("only OpenAI and Anthropic are client dialects")
}

/// A client chat body in `client` dialect → the provider's request body.
pub(crate) fn request(
    client: Dialect,
    body: &[u8],
    provider: &Provider,
    upstream_model: &str,
) -> Result<(Bytes, Translation), GatewayError> {
    let canonical: ChatRequest = match client {
        Dialect::OpenAi => convert::request_to_canonical(body)?,
        Dialect::Anthropic => anthropic::client::request_to_canonical(body)?,
        _ => return Err(provider_only_dialect()),
    };
    let unsupported = |e| GatewayError::unsupported(provider.name(), &e);
    let bytes = match provider.dialect_for(upstream_model) {
        Dialect::Anthropic => serialise(
            &anthropic::request_from_canonical(&canonical, upstream_model).map_err(unsupported)?,
        )?,
        Dialect::OpenAi => serialise(&upstream::request_from_canonical(
            &canonical,
            upstream_model,
        ))?,
        Dialect::Gemini => {
            serialise(&gemini::request_from_canonical(&canonical).map_err(unsupported)?)?
        }
        Dialect::Cohere => serialise(
            &cohere::request_from_canonical(&canonical, upstream_model).map_err(unsupported)?,
        )?,
        Dialect::Bedrock => {
            serialise(&bedrock::request_from_canonical(&canonical).map_err(unsupported)?)?
        }
        Dialect::WorkersAi => {
            serialise(&workers_ai::request_from_canonical(&canonical).map_err(unsupported)?)?
        }
    };
    Ok((
        bytes,
        Translation {
            client,
            provider: provider.dialect_for(upstream_model),
            kind: Kind::Chat,
            json_tool: provider.dialect_for(upstream_model) == Dialect::Anthropic
                && anthropic::json_mode(&canonical).is_some(),
            include_usage: canonical.include_usage,
            model: upstream_model.to_owned(),
        },
    ))
}

/// A Messages `count_tokens` body → Gemini's `countTokens` request.
pub(crate) fn count_tokens_request(
    body: &[u8],
    provider: &Provider,
    upstream_model: &str,
) -> Result<(Bytes, Translation), GatewayError> {
    let canonical = anthropic::client::request_to_canonical(body)?;
    let request = gemini::count_tokens_request(&canonical, upstream_model)
        .map_err(|e| GatewayError::unsupported(provider.name(), &e))?;
    Ok((
        serialise(&request)?,
        Translation {
            client: Dialect::Anthropic,
            provider: provider.dialect_for(upstream_model),
            kind: Kind::CountTokens,
            json_tool: false,
            include_usage: false,
            model: upstream_model.to_owned(),
        },
    ))
}

/// An OpenAI embeddings body → the provider's embeddings request.
pub(crate) fn embeddings_request(
    body: &[u8],
    provider: &Provider,
    upstream_model: &str,
) -> Result<(Bytes, Translation), GatewayError> {
    let unsupported = |e| GatewayError::unsupported(provider.name(), &e);
    let bytes = match provider.dialect_for(upstream_model) {
        Dialect::Gemini => {
            serialise(&gemini::embeddings_request(body, upstream_model).map_err(unsupported)?)?
        }
        Dialect::Cohere => {
            serialise(&cohere::embeddings_request(body, upstream_model).map_err(unsupported)?)?
        }
        Dialect::Bedrock => {
            serialise(&bedrock::embeddings_request(body, upstream_model).map_err(unsupported)?)?
        }
        Dialect::WorkersAi => {
            serialise(&workers_ai::embeddings_request(body).map_err(unsupported)?)?
        }
        // Providers without an embeddings API are refused when the request is built.
        Dialect::OpenAi | Dialect::Anthropic => Bytes::copy_from_slice(body),
    };
    Ok((
        bytes,
        Translation {
            client: Dialect::OpenAi,
            provider: provider.dialect_for(upstream_model),
            kind: Kind::Embeddings,
            json_tool: false,
            include_usage: false,
            model: upstream_model.to_owned(),
        },
    ))
}

fn not_understood(provider: &str) -> GatewayError {
    GatewayError::upstream_status(
        provider,
        http::StatusCode::BAD_GATEWAY,
        b"the provider's answer could not be understood",
    )
}

/// A complete provider answer → the client's answer JSON.
pub(crate) fn response(
    body: &[u8],
    translation: &Translation,
    provider: &str,
) -> Result<Bytes, GatewayError> {
    if translation.kind == Kind::CountTokens {
        let json = match translation.provider {
            Dialect::Gemini => gemini::count_tokens_response(body),
            _ => None,
        };
        return serialise(&json.ok_or_else(|| not_understood(provider))?);
    }
    if translation.kind == Kind::Embeddings {
        let json = match translation.provider {
            Dialect::Gemini => gemini::embeddings_response(body, &translation.model),
            Dialect::Cohere => cohere::embeddings_response(body, &translation.model),
            Dialect::Bedrock => bedrock::embeddings_response(body, &translation.model),
            Dialect::WorkersAi => workers_ai::embeddings_response(body, &translation.model),
            Dialect::OpenAi | Dialect::Anthropic => None,
        };
        return serialise(&json.ok_or_else(|| not_understood(provider))?);
    }
    let canonical: Option<ChatResponse> = match translation.provider {
        Dialect::Anthropic => anthropic::response_to_canonical(body),
        Dialect::OpenAi => upstream::response_to_canonical(body),
        Dialect::Gemini => gemini::response_to_canonical(body),
        Dialect::Cohere => cohere::response_to_canonical(body),
        Dialect::Bedrock => bedrock::response_to_canonical(body),
        Dialect::WorkersAi => workers_ai::response_to_canonical(body),
    };
    let mut canonical = canonical.ok_or_else(|| not_understood(provider))?;
    if translation.json_tool {
        anthropic::json_tool_to_text(&mut canonical);
    }
    match translation.client {
        Dialect::OpenAi => serialise(&convert::response_from_canonical(&canonical, unix_now())),
        Dialect::Anthropic => serialise(&anthropic::client::response_from_canonical(&canonical)),
        _ => Err(provider_only_dialect()),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

enum Decoder {
    Anthropic(anthropic::StreamDecoder),
    OpenAi(upstream::StreamDecoder),
    Gemini(gemini::StreamDecoder),
    Cohere(cohere::StreamDecoder),
    Bedrock(bedrock::StreamDecoder),
    WorkersAi(workers_ai::StreamDecoder),
}

/// How the provider frames its stream.
enum Framing {
    Sse(sse::Parser),
    EventStream(eventstream::Parser),
}

enum Encoder {
    OpenAi(convert::StreamEncoder),
    Anthropic(anthropic::client::StreamEncoder),
}

/// Re-encodes a provider's SSE stream in the client's dialect, event by event, as bytes arrive.
pub struct Transcoder {
    framing: Framing,
    decoder: Decoder,
    encoder: Encoder,
    events: Vec<sse::Event>,
    canonical: Vec<StreamEvent>,
    json_tool: Option<anthropic::JsonToolFilter>,
}

impl Transcoder {
    pub(crate) fn new(t: &Translation) -> Self {
        Transcoder {
            framing: match t.provider {
                Dialect::Bedrock => Framing::EventStream(eventstream::Parser::new()),
                _ => Framing::Sse(sse::Parser::new()),
            },
            decoder: match t.provider {
                Dialect::Anthropic => Decoder::Anthropic(anthropic::StreamDecoder::new()),
                Dialect::OpenAi => Decoder::OpenAi(upstream::StreamDecoder::new()),
                Dialect::Gemini => Decoder::Gemini(gemini::StreamDecoder::new()),
                Dialect::Cohere => Decoder::Cohere(cohere::StreamDecoder::new()),
                Dialect::Bedrock => Decoder::Bedrock(bedrock::StreamDecoder::new()),
                Dialect::WorkersAi => Decoder::WorkersAi(workers_ai::StreamDecoder::new()),
            },
            encoder: match t.client {
                Dialect::Anthropic => {
                    Encoder::Anthropic(anthropic::client::StreamEncoder::new(&t.model))
                }
                _ => Encoder::OpenAi(convert::StreamEncoder::new(
                    &t.model,
                    unix_now(),
                    t.include_usage,
                )),
            },
            events: Vec::new(),
            canonical: Vec::new(),
            json_tool: t.json_tool.then(anthropic::JsonToolFilter::default),
        }
    }

    fn encode_pending(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for event in self.canonical.drain(..) {
            let event = match &mut self.json_tool {
                Some(filter) => match filter.apply(event) {
                    Some(e) => e,
                    None => continue,
                },
                None => event,
            };
            match &mut self.encoder {
                Encoder::OpenAi(e) => e.encode(&event, &mut out),
                Encoder::Anthropic(e) => e.encode(&event, &mut out),
            }
        }
        out
    }

    /// The client-dialect bytes for an upstream chunk (possibly empty).
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        match &mut self.framing {
            Framing::Sse(p) => p.feed(chunk, &mut self.events),
            Framing::EventStream(p) => {
                if let Err(e) = p.feed(chunk, &mut self.events) {
                    // A corrupt frame ends the answer with an error event, not a hang.
                    self.canonical.push(StreamEvent::Error { message: e.0 });
                    self.framing = Framing::Sse(sse::Parser::new());
                    return self.encode_pending();
                }
            }
        }
        for event in self.events.drain(..) {
            match &mut self.decoder {
                Decoder::Anthropic(d) => d.decode(&event, &mut self.canonical),
                Decoder::OpenAi(d) => d.decode(&event, &mut self.canonical),
                Decoder::Gemini(d) => d.decode(&event, &mut self.canonical),
                Decoder::Cohere(d) => d.decode(&event, &mut self.canonical),
                Decoder::Bedrock(d) => d.decode(&event, &mut self.canonical),
                Decoder::WorkersAi(d) => d.decode(&event, &mut self.canonical),
            }
        }
        self.encode_pending()
    }

    /// The upstream body ended. `Some(last bytes)` if the answer was complete, `None` if the
    /// stream stopped short.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let complete = match &mut self.decoder {
            Decoder::Anthropic(d) => d.is_done(),
            Decoder::OpenAi(d) => d.is_done(),
            Decoder::Cohere(d) => d.is_done(),
            Decoder::Bedrock(d) => d.is_done(),
            Decoder::WorkersAi(d) => d.is_done(),
            Decoder::Gemini(d) => {
                d.finish(&mut self.canonical);
                d.is_done()
            }
        };
        complete.then(|| self.encode_pending())
    }
}

#[cfg(test)]
mod fuzz;

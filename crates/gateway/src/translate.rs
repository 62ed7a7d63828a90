//! Translation between the client's dialect and the provider's, through the canonical model.
//! Only used when the two differ; same-dialect requests never come here.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use switchyard_protocol::canonical::{ChatRequest, ChatResponse, StreamEvent};
use switchyard_protocol::openai::{convert, upstream};
use switchyard_protocol::{anthropic, sse, Dialect};
use switchyard_providers::Provider;

use crate::GatewayError;

/// What translating the answer back needs to remember from the request.
pub(crate) struct Translation {
    pub(crate) client: Dialect,
    pub(crate) provider: Dialect,
    pub(crate) include_usage: bool,
    pub(crate) model: String,
}

/// A client body in `client` dialect → the provider's request body.
pub(crate) fn request(
    client: Dialect,
    body: &[u8],
    provider: &Provider,
    upstream_model: &str,
) -> Result<(Bytes, Translation), GatewayError> {
    let canonical: ChatRequest = match client {
        Dialect::OpenAi => convert::request_to_canonical(body)?,
        Dialect::Anthropic => anthropic::client::request_to_canonical(body)?,
    };
    let bytes = match provider.dialect() {
        Dialect::Anthropic => serde_json::to_vec(
            &anthropic::request_from_canonical(&canonical, upstream_model)
                .map_err(|e| GatewayError::unsupported(provider.name(), &e))?,
        ),
        Dialect::OpenAi => serde_json::to_vec(&upstream::request_from_canonical(
            &canonical,
            upstream_model,
        )),
    }
    .map_err(|e| GatewayError::internal(format!("serialising the upstream request: {e}")))?;
    Ok((
        Bytes::from(bytes),
        Translation {
            client,
            provider: provider.dialect(),
            include_usage: canonical.include_usage,
            model: upstream_model.to_owned(),
        },
    ))
}

/// A complete provider answer → the client's answer JSON.
pub(crate) fn response(
    body: &[u8],
    translation: &Translation,
    provider: &str,
) -> Result<Bytes, GatewayError> {
    let canonical: Option<ChatResponse> = match translation.provider {
        Dialect::Anthropic => anthropic::response_to_canonical(body),
        Dialect::OpenAi => upstream::response_to_canonical(body),
    };
    let canonical = canonical.ok_or_else(|| {
        GatewayError::upstream_status(
            provider,
            http::StatusCode::BAD_GATEWAY,
            b"the provider's answer could not be understood",
        )
    })?;
    let json = match translation.client {
        Dialect::OpenAi => {
            serde_json::to_vec(&convert::response_from_canonical(&canonical, unix_now()))
        }
        Dialect::Anthropic => {
            serde_json::to_vec(&anthropic::client::response_from_canonical(&canonical))
        }
    };
    json.map(Bytes::from)
        .map_err(|e| GatewayError::internal(format!("serialising the answer: {e}")))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

enum Decoder {
    Anthropic(anthropic::StreamDecoder),
    OpenAi(upstream::StreamDecoder),
}

enum Encoder {
    OpenAi(convert::StreamEncoder),
    Anthropic(anthropic::client::StreamEncoder),
}

/// Re-encodes a provider's SSE stream in the client's dialect, event by event, as bytes arrive.
pub struct Transcoder {
    parser: sse::Parser,
    decoder: Decoder,
    encoder: Encoder,
    events: Vec<sse::Event>,
    canonical: Vec<StreamEvent>,
}

impl Transcoder {
    pub(crate) fn new(t: &Translation) -> Self {
        Transcoder {
            parser: sse::Parser::new(),
            decoder: match t.provider {
                Dialect::Anthropic => Decoder::Anthropic(anthropic::StreamDecoder::new()),
                Dialect::OpenAi => Decoder::OpenAi(upstream::StreamDecoder::new()),
            },
            encoder: match t.client {
                Dialect::OpenAi => Encoder::OpenAi(convert::StreamEncoder::new(
                    &t.model,
                    unix_now(),
                    t.include_usage,
                )),
                Dialect::Anthropic => {
                    Encoder::Anthropic(anthropic::client::StreamEncoder::new(&t.model))
                }
            },
            events: Vec::new(),
            canonical: Vec::new(),
        }
    }

    /// The client-dialect bytes for an upstream chunk (possibly empty).
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.parser.feed(chunk, &mut self.events);
        for event in self.events.drain(..) {
            match &mut self.decoder {
                Decoder::Anthropic(d) => d.decode(&event, &mut self.canonical),
                Decoder::OpenAi(d) => d.decode(&event, &mut self.canonical),
            }
        }
        let mut out = Vec::new();
        for event in self.canonical.drain(..) {
            match &mut self.encoder {
                Encoder::OpenAi(e) => e.encode(&event, &mut out),
                Encoder::Anthropic(e) => e.encode(&event, &mut out),
            }
        }
        out
    }

    /// True once the upstream said the answer is complete (or reported an error).
    pub fn is_complete(&self) -> bool {
        match &self.decoder {
            Decoder::Anthropic(d) => d.is_done(),
            Decoder::OpenAi(d) => d.is_done(),
        }
    }
}

//! Translation between the client's dialect and the provider's, through the canonical model.
//! Only used when the two differ; same-dialect requests never come here.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use switchyard_protocol::canonical::StreamEvent;
use switchyard_protocol::openai::convert::{self, StreamEncoder};
use switchyard_protocol::{anthropic, sse, Dialect};
use switchyard_providers::Provider;

use crate::GatewayError;

/// What translating the answer back needs to remember from the request.
pub(crate) struct Translation {
    pub(crate) provider_dialect: Dialect,
    pub(crate) include_usage: bool,
    pub(crate) model: String,
}

/// An OpenAI Chat Completions body → the provider's request body.
pub(crate) fn request(
    body: &[u8],
    provider: &Provider,
    upstream_model: &str,
) -> Result<(Bytes, Translation), GatewayError> {
    let canonical = convert::request_to_canonical(body)?;
    let dialect = provider.dialect();
    let upstream = match dialect {
        Dialect::Anthropic => anthropic::request_from_canonical(&canonical, upstream_model)
            .map_err(|e| GatewayError::unsupported(provider.name(), &e))?,
        Dialect::OpenAi => {
            return Err(GatewayError::internal(
                "translation requested between identical dialects",
            ))
        }
    };
    let bytes = serde_json::to_vec(&upstream)
        .map_err(|e| GatewayError::internal(format!("serialising the upstream request: {e}")))?;
    Ok((
        Bytes::from(bytes),
        Translation {
            provider_dialect: dialect,
            include_usage: canonical.include_usage,
            model: upstream_model.to_owned(),
        },
    ))
}

/// A complete provider answer → OpenAI `chat.completion` JSON.
pub(crate) fn response(
    body: &[u8],
    translation: &Translation,
    provider: &str,
) -> Result<Bytes, GatewayError> {
    let canonical = match translation.provider_dialect {
        Dialect::Anthropic => anthropic::response_to_canonical(body),
        Dialect::OpenAi => None,
    }
    .ok_or_else(|| {
        GatewayError::upstream_status(
            provider,
            http::StatusCode::BAD_GATEWAY,
            b"the provider's answer could not be understood",
        )
    })?;
    let json = convert::response_from_canonical(&canonical, unix_now());
    serde_json::to_vec(&json)
        .map(Bytes::from)
        .map_err(|e| GatewayError::internal(format!("serialising the answer: {e}")))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Re-encodes a provider's SSE stream as OpenAI chunks, event by event, as bytes arrive.
pub struct Transcoder {
    parser: sse::Parser,
    decoder: anthropic::StreamDecoder,
    encoder: StreamEncoder,
    events: Vec<sse::Event>,
    canonical: Vec<StreamEvent>,
}

impl Transcoder {
    pub(crate) fn new(translation: &Translation) -> Self {
        Transcoder {
            parser: sse::Parser::new(),
            decoder: anthropic::StreamDecoder::new(),
            encoder: StreamEncoder::new(&translation.model, unix_now(), translation.include_usage),
            events: Vec::new(),
            canonical: Vec::new(),
        }
    }

    /// The client-dialect bytes for an upstream chunk (possibly empty).
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.parser.feed(chunk, &mut self.events);
        for event in self.events.drain(..) {
            self.decoder.decode(&event, &mut self.canonical);
        }
        let mut out = Vec::new();
        for event in self.canonical.drain(..) {
            self.encoder.encode(&event, &mut out);
        }
        out
    }

    /// True once the upstream said the answer is complete (or reported an error).
    pub fn is_complete(&self) -> bool {
        self.decoder.is_done()
    }
}

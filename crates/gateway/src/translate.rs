//! Translation between the client's dialect and the provider's, through the canonical model.
//! Only used when the two differ; same-dialect requests never come here.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use switchyard_protocol::bedrock::eventstream;
use switchyard_protocol::canonical::{ChatRequest, StreamEvent};
use switchyard_protocol::dialect::{self, StreamDecode, StreamEncode, WriteError};
use switchyard_protocol::openai::responses;
use switchyard_protocol::{anthropic, gemini, sse, Dialect};
use switchyard_providers::Provider;

use crate::GatewayError;

/// Which API is being translated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Chat,
    Embeddings,
    CountTokens,
    /// Rerank, images and speech to Workers AI's runs (their own bodies).
    Rerank,
    Images,
    Speech {
        verbose: bool,
    },
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
    /// A Responses client: what its `response` objects repeat of the request.
    pub(crate) echo: Option<Box<responses::Echo>>,
}

fn written(
    provider: &Provider,
    result: Result<Vec<u8>, WriteError>,
) -> Result<Bytes, GatewayError> {
    match result {
        Ok(bytes) => Ok(Bytes::from(bytes)),
        Err(WriteError::Unsupported(e)) => Err(GatewayError::unsupported(provider.name(), &e)),
        Err(WriteError::Json(e)) => Err(GatewayError::internal(format!(
            "serialising a translated body: {e}"
        ))),
    }
}

/// A client chat body in `client` dialect → the provider's request body.
pub(crate) fn request(
    client: Dialect,
    body: &[u8],
    provider: &Provider,
    upstream_model: &str,
) -> Result<(Bytes, Translation), GatewayError> {
    let (canonical, echo): (ChatRequest, _) = match client {
        Dialect::Responses => {
            let (canonical, echo) = responses::request_with_echo(body)?;
            (canonical, Some(Box::new(echo)))
        }
        _ => (dialect::client(client).request_to_canonical(body)?, None),
    };
    let to = dialect::upstream(provider.dialect_for(upstream_model));
    let bytes = written(provider, to.request(&canonical, upstream_model))?;
    Ok((
        bytes,
        Translation {
            client,
            provider: to.dialect(),
            kind: Kind::Chat,
            json_tool: to.json_tool(&canonical),
            include_usage: canonical.include_usage,
            model: upstream_model.to_owned(),
            echo,
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
    let bytes = written(
        provider,
        serde_json::to_vec(&request).map_err(|e| WriteError::Json(e.to_string())),
    )?;
    Ok((
        bytes,
        Translation {
            client: Dialect::Anthropic,
            provider: provider.dialect_for(upstream_model),
            kind: Kind::CountTokens,
            json_tool: false,
            include_usage: false,
            model: upstream_model.to_owned(),
            echo: None,
        },
    ))
}

/// An OpenAI embeddings body → the provider's embeddings request.
pub(crate) fn embeddings_request(
    body: &[u8],
    provider: &Provider,
    upstream_model: &str,
) -> Result<(Bytes, Translation), GatewayError> {
    let to = dialect::upstream(provider.dialect_for(upstream_model));
    // providers without an embeddings API are refused when the request is built
    let bytes = match to.embeddings_request(body, upstream_model) {
        Some(written_body) => written(provider, written_body)?,
        None => Bytes::copy_from_slice(body),
    };
    Ok((
        bytes,
        Translation {
            client: Dialect::OpenAi,
            provider: to.dialect(),
            kind: Kind::Embeddings,
            json_tool: false,
            include_usage: false,
            model: upstream_model.to_owned(),
            echo: None,
        },
    ))
}

/// A rerank or images body → Workers AI's run input for that task.
pub(crate) fn workers_ai_request(
    api: crate::ClientApi,
    body: &[u8],
    provider: &Provider,
    upstream_model: &str,
) -> Result<(Bytes, Translation), GatewayError> {
    use switchyard_protocol::workers_ai;
    let (v, kind) = match api {
        crate::ClientApi::Transcriptions | crate::ClientApi::Translations => {
            let form = switchyard_protocol::openai::TranscriptionRequest::parse(body)?;
            let verbose = form.field("response_format") == Some("verbose_json");
            let translate = api == crate::ClientApi::Translations;
            (
                workers_ai::speech_request(&form, upstream_model, translate)
                    .map_err(|e| GatewayError::unsupported(provider.name(), &e))?,
                Kind::Speech { verbose },
            )
        }
        crate::ClientApi::Rerank => (
            workers_ai::rerank_request(body).ok_or_else(|| {
                GatewayError::internal("a validated rerank body did not read back")
            })?,
            Kind::Rerank,
        ),
        _ => (
            workers_ai::image_request(body)
                .map_err(|e| GatewayError::unsupported(provider.name(), &e))?,
            Kind::Images,
        ),
    };
    let bytes = written(
        provider,
        serde_json::to_vec(&v).map_err(|e| WriteError::Json(e.to_string())),
    )?;
    Ok((
        bytes,
        Translation {
            client: Dialect::OpenAi,
            provider: Dialect::WorkersAi,
            kind,
            json_tool: false,
            include_usage: false,
            model: upstream_model.to_owned(),
            echo: None,
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
    let json = |v: Option<serde_json::Value>| {
        let v = v.ok_or_else(|| not_understood(provider))?;
        serde_json::to_vec(&v)
            .map(Bytes::from)
            .map_err(|e| GatewayError::internal(format!("serialising a translated body: {e}")))
    };
    let from = dialect::upstream(translation.provider);
    match translation.kind {
        Kind::CountTokens => {
            return json(match translation.provider {
                Dialect::Gemini => gemini::count_tokens_response(body),
                _ => None,
            })
        }
        Kind::Embeddings => return json(from.embeddings_response(body, &translation.model)),
        Kind::Rerank => {
            return json(switchyard_protocol::workers_ai::rerank_response(
                body,
                &translation.model,
            ))
        }
        Kind::Images => return json(switchyard_protocol::workers_ai::image_response(body)),
        Kind::Speech { verbose } => {
            return json(switchyard_protocol::workers_ai::speech_response(
                body, verbose,
            ))
        }
        Kind::Chat => {}
    }
    let mut canonical = from
        .response(body)
        .ok_or_else(|| not_understood(provider))?;
    if translation.json_tool {
        anthropic::json_tool_to_text(&mut canonical);
    }
    let written = match &translation.echo {
        Some(echo) => responses::response_from_canonical(&canonical, unix_now(), echo)
            .map_err(|e| WriteError::Json(e.to_string())),
        None => dialect::client(translation.client).response(&canonical, unix_now()),
    };
    written
        .map(Bytes::from)
        .map_err(|e| GatewayError::internal(format!("writing the translated answer: {e:?}")))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How the provider frames its stream.
enum Framing {
    Sse(sse::Parser),
    EventStream(eventstream::Parser),
}

/// Re-encodes a provider's SSE stream in the client's dialect, event by event, as bytes arrive.
pub struct Transcoder {
    framing: Framing,
    decoder: Box<dyn StreamDecode>,
    encoder: Box<dyn StreamEncode>,
    events: Vec<sse::Event>,
    canonical: Vec<StreamEvent>,
    json_tool: Option<anthropic::JsonToolFilter>,
}

impl Transcoder {
    pub(crate) fn new(t: &Translation) -> Self {
        let from = dialect::upstream(t.provider);
        let to = dialect::client(t.client);
        Transcoder {
            framing: match from.event_stream_framing() {
                true => Framing::EventStream(eventstream::Parser::new()),
                false => Framing::Sse(sse::Parser::new()),
            },
            decoder: from.stream_decoder(),
            encoder: match &t.echo {
                Some(echo) => Box::new(
                    responses::StreamEncoder::new(&t.model, unix_now()).with_echo((**echo).clone()),
                ),
                None => to.stream_encoder(&t.model, unix_now(), t.include_usage),
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
            self.encoder.encode(&event, &mut out);
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
            self.decoder.decode(&event, &mut self.canonical);
        }
        self.encode_pending()
    }

    /// The upstream body ended. `Some(last bytes)` if the answer was complete, `None` if the
    /// stream stopped short.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let complete = self.decoder.finish(&mut self.canonical);
        complete.then(|| self.encode_pending())
    }
}

#[cfg(test)]
mod fuzz;

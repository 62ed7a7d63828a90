//! Every dialect behind one interface: [`Upstream`] (how a provider is asked and how its answers,
//! whole or streamed, read into the canonical model) and [`Client`] (how a client's request reads
//! into the canonical model and how answers are written back to it). One impl per dialect;
//! [`upstream`] and [`client`] pick it. The gateway translates through these and nothing else.

use serde::Serialize;
use serde_json::Value;

use crate::canonical::{ChatRequest, ChatResponse, StreamEvent, Unsupported};
use crate::openai::RequestError;
use crate::{anthropic, bedrock, cohere, gemini, openai, sse, workers_ai, Dialect};

/// Why a request could not be written in a provider's dialect.
#[derive(Debug)]
pub enum WriteError {
    /// The request uses something the provider cannot honour.
    Unsupported(Unsupported),
    /// Serialising the body failed (a bug, not the request's fault).
    Json(String),
}

impl From<Unsupported> for WriteError {
    fn from(e: Unsupported) -> Self {
        WriteError::Unsupported(e)
    }
}

fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, WriteError> {
    serde_json::to_vec(value).map_err(|e| WriteError::Json(e.to_string()))
}

/// A converter's body, serialised (or why there is none).
fn written<T: Serialize>(converted: Result<T, Unsupported>) -> Result<Vec<u8>, WriteError> {
    to_vec(&converted?)
}

/// Reads a provider's stream, event by event, into canonical events.
pub trait StreamDecode: Send {
    fn decode(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>);
    /// The body ended: whatever was held back goes to `out`; whether the answer was complete.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> bool;
}

/// Writes canonical stream events as a client's stream.
pub trait StreamEncode: Send {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>);
}

/// A provider's dialect.
pub trait Upstream: Sync {
    fn dialect(&self) -> Dialect;
    /// The chat request body for `model`.
    fn request(&self, req: &ChatRequest, model: &str) -> Result<Vec<u8>, WriteError>;
    /// A whole chat answer, or `None` when the body is not one.
    fn response(&self, body: &[u8]) -> Option<ChatResponse>;
    /// A decoder for one streamed answer.
    fn stream_decoder(&self) -> Box<dyn StreamDecode>;
    /// Whether its streams come in AWS event-stream frames rather than SSE.
    fn event_stream_framing(&self) -> bool {
        false
    }
    /// Whether JSON mode is emulated with a forced tool whose call is the answer (Anthropic).
    fn json_tool(&self, _req: &ChatRequest) -> bool {
        false
    }
    /// An OpenAI embeddings body in this dialect, or `None` when the provider takes the OpenAI
    /// body as it is (or has no embeddings API).
    fn embeddings_request(
        &self,
        _openai: &[u8],
        _model: &str,
    ) -> Option<Result<Vec<u8>, WriteError>> {
        None
    }
    /// Its embeddings answer as OpenAI's.
    fn embeddings_response(&self, _body: &[u8], _model: &str) -> Option<Value> {
        None
    }
}

/// A client's dialect.
pub trait Client: Sync {
    fn dialect(&self) -> Dialect;
    fn request_to_canonical(&self, body: &[u8]) -> Result<ChatRequest, RequestError>;
    /// A whole answer (`created`: Unix seconds, where the dialect carries it).
    fn response(&self, answer: &ChatResponse, created: u64) -> Result<Vec<u8>, WriteError>;
    /// An encoder for one streamed answer.
    fn stream_encoder(
        &self,
        model: &str,
        created: u64,
        include_usage: bool,
    ) -> Box<dyn StreamEncode>;
}

/// The provider side of `dialect`. The Responses API is a client dialect only: its calls go to
/// providers in their chat dialect, so its "provider side" is OpenAI chat's.
pub fn upstream(dialect: Dialect) -> &'static dyn Upstream {
    match dialect {
        Dialect::OpenAi | Dialect::Responses => &OpenAi,
        Dialect::Anthropic => &Anthropic,
        Dialect::Gemini => &Gemini,
        Dialect::Cohere => &Cohere,
        Dialect::Bedrock => &Bedrock,
        Dialect::WorkersAi => &WorkersAi,
    }
}

/// The client side of `dialect`. Clients speak OpenAI or Anthropic; the provider-only dialects
/// get OpenAI's, the gateway's default.
pub fn client(dialect: Dialect) -> &'static dyn Client {
    match dialect {
        Dialect::Anthropic => &Anthropic,
        Dialect::Responses => &Responses,
        _ => &OpenAi,
    }
}

struct OpenAi;
struct Anthropic;
struct Gemini;
struct Cohere;
struct Bedrock;
struct WorkersAi;
struct Responses;

/// Decoders whose answer is complete once they saw its end.
macro_rules! decodes {
    ($($t:ty),*) => {$(
        impl StreamDecode for $t {
            fn decode(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
                <$t>::decode(self, event, out)
            }
            fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> bool {
                self.is_done()
            }
        }
    )*};
}

decodes!(
    openai::upstream::StreamDecoder,
    anthropic::StreamDecoder,
    cohere::StreamDecoder,
    bedrock::StreamDecoder,
    workers_ai::StreamDecoder
);

impl StreamDecode for gemini::StreamDecoder {
    fn decode(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        gemini::StreamDecoder::decode(self, event, out)
    }
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> bool {
        gemini::StreamDecoder::finish(self, out);
        self.is_done()
    }
}

impl StreamEncode for openai::convert::StreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        openai::convert::StreamEncoder::encode(self, event, out)
    }
}

impl StreamEncode for openai::responses::StreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        openai::responses::StreamEncoder::encode(self, event, out)
    }
}

impl Client for Responses {
    fn dialect(&self) -> Dialect {
        Dialect::Responses
    }
    fn request_to_canonical(&self, body: &[u8]) -> Result<ChatRequest, RequestError> {
        openai::responses::request_to_canonical(body)
    }
    fn response(&self, answer: &ChatResponse, created: u64) -> Result<Vec<u8>, WriteError> {
        openai::responses::response_from_canonical(answer, created, &Default::default())
            .map_err(|e| WriteError::Json(e.to_string()))
    }
    fn stream_encoder(
        &self,
        model: &str,
        created: u64,
        _include_usage: bool,
    ) -> Box<dyn StreamEncode> {
        Box::new(openai::responses::StreamEncoder::new(model, created))
    }
}

impl StreamEncode for anthropic::client::StreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        anthropic::client::StreamEncoder::encode(self, event, out)
    }
}

impl Upstream for OpenAi {
    fn dialect(&self) -> Dialect {
        Dialect::OpenAi
    }
    fn request(&self, req: &ChatRequest, model: &str) -> Result<Vec<u8>, WriteError> {
        to_vec(&openai::upstream::request_body(req, model))
    }
    fn response(&self, body: &[u8]) -> Option<ChatResponse> {
        openai::upstream::response_to_canonical(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecode> {
        Box::new(openai::upstream::StreamDecoder::new())
    }
}

impl Client for OpenAi {
    fn dialect(&self) -> Dialect {
        Dialect::OpenAi
    }
    fn request_to_canonical(&self, body: &[u8]) -> Result<ChatRequest, RequestError> {
        openai::convert::request_to_canonical(body)
    }
    fn response(&self, answer: &ChatResponse, created: u64) -> Result<Vec<u8>, WriteError> {
        to_vec(&openai::convert::response_from_canonical(answer, created))
    }
    fn stream_encoder(
        &self,
        model: &str,
        created: u64,
        include_usage: bool,
    ) -> Box<dyn StreamEncode> {
        Box::new(openai::convert::StreamEncoder::new(
            model,
            created,
            include_usage,
        ))
    }
}

impl Upstream for Anthropic {
    fn dialect(&self) -> Dialect {
        Dialect::Anthropic
    }
    fn request(&self, req: &ChatRequest, model: &str) -> Result<Vec<u8>, WriteError> {
        written(anthropic::request_from_canonical(req, model))
    }
    fn response(&self, body: &[u8]) -> Option<ChatResponse> {
        anthropic::response_to_canonical(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecode> {
        Box::new(anthropic::StreamDecoder::new())
    }
    fn json_tool(&self, req: &ChatRequest) -> bool {
        anthropic::json_mode(req).is_some()
    }
}

impl Client for Anthropic {
    fn dialect(&self) -> Dialect {
        Dialect::Anthropic
    }
    fn request_to_canonical(&self, body: &[u8]) -> Result<ChatRequest, RequestError> {
        anthropic::client::request_to_canonical(body)
    }
    fn response(&self, answer: &ChatResponse, _created: u64) -> Result<Vec<u8>, WriteError> {
        to_vec(&anthropic::client::response_from_canonical(answer))
    }
    fn stream_encoder(
        &self,
        model: &str,
        _created: u64,
        _include_usage: bool,
    ) -> Box<dyn StreamEncode> {
        Box::new(anthropic::client::StreamEncoder::new(model))
    }
}

impl Upstream for Gemini {
    fn dialect(&self) -> Dialect {
        Dialect::Gemini
    }
    fn request(&self, req: &ChatRequest, _model: &str) -> Result<Vec<u8>, WriteError> {
        written(gemini::request_from_canonical(req))
    }
    fn response(&self, body: &[u8]) -> Option<ChatResponse> {
        gemini::response_to_canonical(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecode> {
        Box::new(gemini::StreamDecoder::new())
    }
    fn embeddings_request(
        &self,
        openai: &[u8],
        model: &str,
    ) -> Option<Result<Vec<u8>, WriteError>> {
        Some(written(gemini::embeddings_request(openai, model)))
    }
    fn embeddings_response(&self, body: &[u8], model: &str) -> Option<Value> {
        gemini::embeddings_response(body, model)
    }
}

impl Upstream for Cohere {
    fn dialect(&self) -> Dialect {
        Dialect::Cohere
    }
    fn request(&self, req: &ChatRequest, model: &str) -> Result<Vec<u8>, WriteError> {
        written(cohere::request_from_canonical(req, model))
    }
    fn response(&self, body: &[u8]) -> Option<ChatResponse> {
        cohere::response_to_canonical(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecode> {
        Box::new(cohere::StreamDecoder::new())
    }
    fn embeddings_request(
        &self,
        openai: &[u8],
        model: &str,
    ) -> Option<Result<Vec<u8>, WriteError>> {
        Some(written(cohere::embeddings_request(openai, model)))
    }
    fn embeddings_response(&self, body: &[u8], model: &str) -> Option<Value> {
        cohere::embeddings_response(body, model)
    }
}

impl Upstream for Bedrock {
    fn dialect(&self) -> Dialect {
        Dialect::Bedrock
    }
    fn request(&self, req: &ChatRequest, _model: &str) -> Result<Vec<u8>, WriteError> {
        written(bedrock::request_from_canonical(req))
    }
    fn response(&self, body: &[u8]) -> Option<ChatResponse> {
        bedrock::response_to_canonical(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecode> {
        Box::new(bedrock::StreamDecoder::new())
    }
    fn event_stream_framing(&self) -> bool {
        true
    }
    fn embeddings_request(
        &self,
        openai: &[u8],
        model: &str,
    ) -> Option<Result<Vec<u8>, WriteError>> {
        Some(written(bedrock::embeddings_request(openai, model)))
    }
    fn embeddings_response(&self, body: &[u8], model: &str) -> Option<Value> {
        bedrock::embeddings_response(body, model)
    }
}

impl Upstream for WorkersAi {
    fn dialect(&self) -> Dialect {
        Dialect::WorkersAi
    }
    fn request(&self, req: &ChatRequest, _model: &str) -> Result<Vec<u8>, WriteError> {
        written(workers_ai::request_from_canonical(req))
    }
    fn response(&self, body: &[u8]) -> Option<ChatResponse> {
        workers_ai::response_to_canonical(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecode> {
        Box::new(workers_ai::StreamDecoder::new())
    }
    fn embeddings_request(
        &self,
        openai: &[u8],
        _model: &str,
    ) -> Option<Result<Vec<u8>, WriteError>> {
        Some(written(workers_ai::embeddings_request(openai)))
    }
    fn embeddings_response(&self, body: &[u8], model: &str) -> Option<Value> {
        workers_ai::embeddings_response(body, model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_has_its_own_impl() {
        for d in [
            Dialect::OpenAi,
            Dialect::Anthropic,
            Dialect::Gemini,
            Dialect::Cohere,
            Dialect::Bedrock,
            Dialect::WorkersAi,
        ] {
            assert_eq!(upstream(d).dialect(), d);
            assert_eq!(upstream(d).event_stream_framing(), d == Dialect::Bedrock);
        }
        assert_eq!(client(Dialect::Anthropic).dialect(), Dialect::Anthropic);
        assert_eq!(client(Dialect::OpenAi).dialect(), Dialect::OpenAi);
        assert_eq!(client(Dialect::Gemini).dialect(), Dialect::OpenAi);
    }

    #[test]
    fn a_request_goes_through_the_canonical_model_and_an_answer_comes_back() {
        let body = br#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#;
        let canonical = client(Dialect::Anthropic)
            .request_to_canonical(body)
            .unwrap();
        let sent: Value =
            serde_json::from_slice(&upstream(Dialect::OpenAi).request(&canonical, "up").unwrap())
                .unwrap();
        assert_eq!(sent["model"], "up");
        assert_eq!(sent["messages"][0]["content"], "hi");
        let answer = br#"{"id":"x","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"yo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
        let read = upstream(Dialect::OpenAi).response(answer).unwrap();
        let back: Value =
            serde_json::from_slice(&client(Dialect::Anthropic).response(&read, 1).unwrap())
                .unwrap();
        assert_eq!(back["type"], "message");
        assert_eq!(back["content"][0]["text"], "yo");
        let mut decoder = upstream(Dialect::OpenAi).stream_decoder();
        let mut events = Vec::new();
        decoder.decode(
            &sse::Event {
                event: None,
                data: "[DONE]".into(),
            },
            &mut events,
        );
        assert!(decoder.finish(&mut events));
    }
}

//! The API a client called: its dialect, its name in keys and logs, the provider API serving it.

use switchyard_protocol::Dialect;
use switchyard_providers::Endpoint;

/// The API a client called, which fixes its dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientApi {
    /// OpenAI `POST /v1/chat/completions`.
    ChatCompletions,
    /// OpenAI `POST /v1/embeddings`.
    Embeddings,
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// Anthropic `POST /v1/messages/count_tokens`.
    CountTokens,
    /// OpenAI's legacy `POST /v1/completions` (raw prompt, no chat template).
    Completions,
    /// OpenAI's Responses API, `POST /v1/responses` (answered through the provider's chat API).
    Responses,
    /// OpenAI `POST /v1/audio/transcriptions` (a multipart upload: speech to text).
    Transcriptions,
    /// OpenAI `POST /v1/audio/translations` (a multipart upload: speech to English text).
    Translations,
    /// `POST /v1/rerank`: Cohere's, Jina's and vLLM's rerank body (documents scored against a
    /// query).
    Rerank,
    /// Text classification (`{model, input}` → labels with scores): what Workers AI's
    /// classification runs go through.
    Classify,
    /// OpenAI `POST /v1/images/generations` (and Workers AI's text-to-image runs).
    Images,
}

impl ClientApi {
    pub fn dialect(self) -> Dialect {
        match self {
            ClientApi::ChatCompletions
            | ClientApi::Embeddings
            | ClientApi::Completions
            | ClientApi::Transcriptions
            | ClientApi::Translations
            | ClientApi::Rerank
            | ClientApi::Classify
            | ClientApi::Images => Dialect::OpenAi,
            ClientApi::Messages | ClientApi::CountTokens => Dialect::Anthropic,
            ClientApi::Responses => Dialect::Responses,
        }
    }

    /// Its name in cache keys and logs.
    pub fn name(self) -> &'static str {
        match self {
            ClientApi::ChatCompletions => "chat.completions",
            ClientApi::Embeddings => "embeddings",
            ClientApi::Messages => "messages",
            ClientApi::CountTokens => "messages.count_tokens",
            ClientApi::Completions => "completions",
            ClientApi::Responses => "responses",
            ClientApi::Transcriptions => "audio.transcriptions",
            ClientApi::Translations => "audio.translations",
            ClientApi::Rerank => "rerank",
            ClientApi::Classify => "classifications",
            ClientApi::Images => "images.generations",
        }
    }

    /// The provider API that serves it.
    pub fn endpoint(self) -> Endpoint {
        match self {
            ClientApi::ChatCompletions | ClientApi::Messages | ClientApi::Responses => {
                Endpoint::ChatCompletions
            }
            ClientApi::Embeddings => Endpoint::Embeddings,
            ClientApi::CountTokens => Endpoint::CountTokens,
            ClientApi::Completions => Endpoint::Completions,
            ClientApi::Transcriptions => Endpoint::Transcriptions,
            ClientApi::Translations => Endpoint::Translations,
            ClientApi::Rerank => Endpoint::Rerank,
            ClientApi::Classify => Endpoint::Classify,
            ClientApi::Images => Endpoint::Images,
        }
    }

    /// Speech to text (an upload of audio, answered in text): transcriptions and translations.
    pub fn is_speech(self) -> bool {
        matches!(self, ClientApi::Transcriptions | ClientApi::Translations)
    }
}

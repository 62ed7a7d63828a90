//! Provider kinds and the presets of OpenAI-compatible vendors.

use serde::{Deserialize, Serialize};

/// Every kind of upstream Switchyard can call. Closed on purpose: adding one is a code change with
/// its own tests, not a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// api.openai.com.
    #[serde(rename = "openai")]
    OpenAi,
    /// Azure OpenAI: deployment URLs, `api-version` query, `api-key` header.
    Azure,
    /// Any server speaking the OpenAI API; `base_url` is required.
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
    Groq,
    Mistral,
    Deepseek,
    Xai,
    Openrouter,
    Together,
    Fireworks,
    Perplexity,
    Cerebras,
    Ollama,
    Vllm,
    Llamacpp,
    Tgi,
    /// Anthropic, natively: the Messages API, with requests and answers translated.
    Anthropic,
    /// Google Gemini (AI Studio), natively: `generateContent`, translated.
    Gemini,
    /// Cohere v2 chat, translated.
    Cohere,
    /// AWS Bedrock Converse / ConverseStream, SigV4-signed (or a Bedrock API key), translated.
    Bedrock,
    /// Google Vertex AI (Gemini models): service-account OAuth, Gemini wire format.
    Vertex,
    /// Cloudflare Workers AI, through its OpenAI-compatible endpoints (`account_id` required).
    #[serde(rename = "workers-ai")]
    WorkersAi,
    /// Cloudflare Workers AI through its native `/ai/run/{model}` API (`account_id` required).
    #[serde(rename = "workers-ai-run")]
    WorkersAiRun,
    /// Models served in-process by the local runtime (`[[models]]` with a `source`); the config
    /// adds this provider, named `local`, itself.
    Local,
}

/// Where a vendor lives and where its key usually is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub base_url: &'static str,
    /// The environment variable users conventionally keep the key in; `None` for local servers.
    pub key_env: Option<&'static str>,
}

impl ProviderKind {
    /// All kinds, for listings and error messages.
    pub const ALL: &'static [ProviderKind] = &[
        ProviderKind::OpenAi,
        ProviderKind::Azure,
        ProviderKind::OpenAiCompatible,
        ProviderKind::Groq,
        ProviderKind::Mistral,
        ProviderKind::Deepseek,
        ProviderKind::Xai,
        ProviderKind::Openrouter,
        ProviderKind::Together,
        ProviderKind::Fireworks,
        ProviderKind::Perplexity,
        ProviderKind::Cerebras,
        ProviderKind::Ollama,
        ProviderKind::Vllm,
        ProviderKind::Llamacpp,
        ProviderKind::Tgi,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::WorkersAi,
        ProviderKind::Vertex,
        ProviderKind::Cohere,
        ProviderKind::Bedrock,
        ProviderKind::WorkersAiRun,
        ProviderKind::Local,
    ];

    /// The preset for kinds that have a well-known endpoint. Azure (per-resource URL) and the generic
    /// OpenAI-compatible kind have none: their `base_url` must be configured.
    pub fn preset(self) -> Option<Preset> {
        let (base_url, key_env) = match self {
            ProviderKind::OpenAi => ("https://api.openai.com/v1", Some("OPENAI_API_KEY")),
            // Per-resource / per-account URLs: built from config, not a preset.
            ProviderKind::Azure
            | ProviderKind::OpenAiCompatible
            | ProviderKind::WorkersAi
            | ProviderKind::Vertex
            | ProviderKind::Bedrock
            | ProviderKind::WorkersAiRun
            | ProviderKind::Local => return None,
            ProviderKind::Groq => ("https://api.groq.com/openai/v1", Some("GROQ_API_KEY")),
            ProviderKind::Mistral => ("https://api.mistral.ai/v1", Some("MISTRAL_API_KEY")),
            ProviderKind::Deepseek => ("https://api.deepseek.com/v1", Some("DEEPSEEK_API_KEY")),
            ProviderKind::Xai => ("https://api.x.ai/v1", Some("XAI_API_KEY")),
            ProviderKind::Openrouter => {
                ("https://openrouter.ai/api/v1", Some("OPENROUTER_API_KEY"))
            }
            ProviderKind::Together => ("https://api.together.xyz/v1", Some("TOGETHER_API_KEY")),
            ProviderKind::Fireworks => (
                "https://api.fireworks.ai/inference/v1",
                Some("FIREWORKS_API_KEY"),
            ),
            ProviderKind::Perplexity => ("https://api.perplexity.ai", Some("PERPLEXITY_API_KEY")),
            ProviderKind::Cerebras => ("https://api.cerebras.ai/v1", Some("CEREBRAS_API_KEY")),
            ProviderKind::Ollama => ("http://127.0.0.1:11434/v1", None),
            ProviderKind::Vllm => ("http://127.0.0.1:8000/v1", None),
            ProviderKind::Llamacpp => ("http://127.0.0.1:8080/v1", None),
            ProviderKind::Tgi => ("http://127.0.0.1:8080/v1", None),
            ProviderKind::Anthropic => ("https://api.anthropic.com/v1", Some("ANTHROPIC_API_KEY")),
            ProviderKind::Cohere => ("https://api.cohere.com/v2", Some("COHERE_API_KEY")),
            ProviderKind::Gemini => (
                "https://generativelanguage.googleapis.com/v1beta",
                Some("GEMINI_API_KEY"),
            ),
        };
        Some(Preset { base_url, key_env })
    }

    /// The wire format this kind of provider speaks.
    pub fn dialect(self) -> switchyard_protocol::Dialect {
        match self {
            ProviderKind::Anthropic => switchyard_protocol::Dialect::Anthropic,
            ProviderKind::Gemini | ProviderKind::Vertex => switchyard_protocol::Dialect::Gemini,
            ProviderKind::Cohere => switchyard_protocol::Dialect::Cohere,
            ProviderKind::Bedrock => switchyard_protocol::Dialect::Bedrock,
            ProviderKind::WorkersAiRun => switchyard_protocol::Dialect::WorkersAi,
            _ => switchyard_protocol::Dialect::OpenAi,
        }
    }

    /// The config spelling of this kind.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Azure => "azure",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Groq => "groq",
            ProviderKind::Mistral => "mistral",
            ProviderKind::Deepseek => "deepseek",
            ProviderKind::Xai => "xai",
            ProviderKind::Openrouter => "openrouter",
            ProviderKind::Together => "together",
            ProviderKind::Fireworks => "fireworks",
            ProviderKind::Perplexity => "perplexity",
            ProviderKind::Cerebras => "cerebras",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Vllm => "vllm",
            ProviderKind::Llamacpp => "llamacpp",
            ProviderKind::Tgi => "tgi",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::WorkersAi => "workers-ai",
            ProviderKind::Vertex => "vertex",
            ProviderKind::Cohere => "cohere",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::WorkersAiRun => "workers-ai-run",
            ProviderKind::Local => "local",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde_spelling() {
        for kind in ProviderKind::ALL {
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
    }

    #[test]
    fn every_vendor_preset_needs_no_base_url() {
        for kind in ProviderKind::ALL {
            let has = kind.preset().is_some();
            let expected = !matches!(
                kind,
                ProviderKind::Azure
                    | ProviderKind::OpenAiCompatible
                    | ProviderKind::WorkersAi
                    | ProviderKind::Vertex
                    | ProviderKind::Bedrock
                    | ProviderKind::WorkersAiRun
                    | ProviderKind::Local
            );
            assert_eq!(has, expected, "{kind:?}");
        }
        assert_eq!(
            ProviderKind::Groq.preset().unwrap().base_url,
            "https://api.groq.com/openai/v1"
        );
    }
}

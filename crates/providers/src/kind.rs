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

    /// The version segment this kind's native API puts at the start of every path (`/v1/messages`,
    /// `/v1beta/models/…`, `/v2/chat`), when it has one.
    fn api_version(self) -> Option<&'static str> {
        match self {
            ProviderKind::Anthropic => Some("v1"),
            ProviderKind::Gemini => Some("v1beta"),
            ProviderKind::Cohere => Some("v2"),
            _ => None,
        }
    }

    /// A configured `base_url` as requests are built on it: users write the form their vendor's
    /// SDK takes (`https://api.anthropic.com`, `ANTHROPIC_BASE_URL`), the versioned form
    /// (`https://api.anthropic.com/v1`) or a proxy's (`…/anthropic`, as in Cloudflare's
    /// `…/anthropic/v1/messages`); all of them work. For kinds whose API paths carry a version,
    /// the version is added unless the URL already ends in one (`v1`, `v1beta`, `v2`, …). For
    /// OpenAI-compatible vendors and local servers a bare host gets the preset's path
    /// (`http://127.0.0.1:11434` → `…/v1`); any other path is kept as written.
    pub fn api_base(self, url: &str) -> String {
        let url = url.trim_end_matches('/');
        let path = url_path(url);
        if let Some(version) = self.api_version() {
            let last = path.rsplit('/').next().unwrap_or("");
            return if is_version_segment(last) {
                url.to_owned()
            } else {
                format!("{url}/{version}")
            };
        }
        match self.preset() {
            Some(p)
                if path.is_empty() && self.dialect() == switchyard_protocol::Dialect::OpenAi =>
            {
                format!("{url}{}", url_path(p.base_url))
            }
            _ => url.to_owned(),
        }
    }

    /// Whether a bare model name belongs to a family this kind's vendor owns (`claude-*` is
    /// Anthropic's, `gpt-*` OpenAI's, `@cf/…` Workers AI's), so a drop-in client that keeps its
    /// model names reaches the one configured provider of that kind.
    pub fn owns_model(self, model: &str) -> bool {
        let prefixes: &[&str] = match self {
            ProviderKind::OpenAi | ProviderKind::Azure => &[
                "gpt-",
                "chatgpt-",
                "o1",
                "o3",
                "o4",
                "text-embedding-3",
                "text-embedding-ada",
                "whisper-",
                "dall-e-",
                "tts-",
                "omni-moderation",
                "text-moderation",
                "davinci-",
                "babbage-",
                "computer-use-",
                "codex-",
                "gpt-image-",
                "sora-",
            ],
            ProviderKind::Anthropic => &["claude-"],
            ProviderKind::Gemini | ProviderKind::Vertex => &[
                "gemini-",
                "gemma-",
                "text-embedding-004",
                "text-embedding-005",
                "embedding-001",
                "imagen-",
                "veo-",
            ],
            ProviderKind::Mistral => &[
                "mistral-",
                "open-mistral-",
                "open-mixtral-",
                "codestral-",
                "pixtral-",
                "ministral-",
                "magistral-",
                "devstral-",
                "voxtral-",
            ],
            ProviderKind::Cohere => &["command", "embed-", "rerank-", "c4ai-aya-"],
            ProviderKind::Deepseek => &["deepseek-"],
            ProviderKind::Xai => &["grok-"],
            ProviderKind::Perplexity => &["sonar", "r1-1776"],
            ProviderKind::Fireworks => &["accounts/fireworks/"],
            ProviderKind::Bedrock => &[
                "anthropic.",
                "amazon.",
                "meta.",
                "cohere.",
                "mistral.",
                "ai21.",
                "us.",
                "eu.",
                "apac.",
                "global.",
            ],
            ProviderKind::WorkersAi | ProviderKind::WorkersAiRun => &["@cf/", "@hf/"],
            _ => &[],
        };
        prefixes.iter().any(|p| model.starts_with(p))
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

/// The path of an absolute URL (`https://host:port/a/b` → `/a/b`), empty for a bare host.
fn url_path(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..]
        .find('/')
        .map_or("", |i| &url[after_scheme + i..])
}

/// `v1`, `v2`, `v1beta`, `v1alpha1`: an API version as a path segment.
fn is_version_segment(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && rest[digits..].bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_families() {
        assert!(ProviderKind::Anthropic.owns_model("claude-sonnet-4-5"));
        assert!(ProviderKind::OpenAi.owns_model("gpt-4o-mini"));
        assert!(ProviderKind::OpenAi.owns_model("o3-mini"));
        assert!(ProviderKind::Gemini.owns_model("gemini-2.5-flash"));
        assert!(ProviderKind::WorkersAiRun.owns_model("@cf/meta/llama-3.1-8b-instruct"));
        assert!(!ProviderKind::OpenAi.owns_model("claude-sonnet-4-5"));
        assert!(!ProviderKind::Groq.owns_model("llama-3.1-8b-instant"));
        assert!(!ProviderKind::OpenAiCompatible.owns_model("gpt-4o"));
    }

    #[test]
    fn base_urls_work_with_and_without_the_version() {
        let cases = [
            (
                ProviderKind::Anthropic,
                "https://api.anthropic.com",
                "https://api.anthropic.com/v1",
            ),
            (
                ProviderKind::Anthropic,
                "https://api.anthropic.com/",
                "https://api.anthropic.com/v1",
            ),
            (
                ProviderKind::Anthropic,
                "https://api.anthropic.com/v1",
                "https://api.anthropic.com/v1",
            ),
            (
                ProviderKind::Anthropic,
                "https://api.anthropic.com/v1/",
                "https://api.anthropic.com/v1",
            ),
            // Cloudflare AI Gateway's provider URL: `…/anthropic` + `/v1/messages`
            (
                ProviderKind::Anthropic,
                "https://gateway.ai.cloudflare.com/v1/acct/gw/anthropic",
                "https://gateway.ai.cloudflare.com/v1/acct/gw/anthropic/v1",
            ),
            (
                ProviderKind::Gemini,
                "https://generativelanguage.googleapis.com",
                "https://generativelanguage.googleapis.com/v1beta",
            ),
            (
                ProviderKind::Gemini,
                "https://generativelanguage.googleapis.com/v1beta",
                "https://generativelanguage.googleapis.com/v1beta",
            ),
            (
                ProviderKind::Gemini,
                "https://generativelanguage.googleapis.com/v1",
                "https://generativelanguage.googleapis.com/v1",
            ),
            (
                ProviderKind::Cohere,
                "https://api.cohere.com",
                "https://api.cohere.com/v2",
            ),
            (
                ProviderKind::Cohere,
                "https://api.cohere.com/v2",
                "https://api.cohere.com/v2",
            ),
            (
                ProviderKind::OpenAi,
                "https://api.openai.com",
                "https://api.openai.com/v1",
            ),
            (
                ProviderKind::OpenAi,
                "https://api.openai.com/v1",
                "https://api.openai.com/v1",
            ),
            // Cloudflare's OpenAI URL has no version: kept as written
            (
                ProviderKind::OpenAi,
                "https://gateway.ai.cloudflare.com/v1/acct/gw/openai",
                "https://gateway.ai.cloudflare.com/v1/acct/gw/openai",
            ),
            (
                ProviderKind::Groq,
                "https://api.groq.com",
                "https://api.groq.com/openai/v1",
            ),
            (
                ProviderKind::Ollama,
                "http://127.0.0.1:11434",
                "http://127.0.0.1:11434/v1",
            ),
            (
                ProviderKind::Perplexity,
                "https://api.perplexity.ai",
                "https://api.perplexity.ai",
            ),
            // no preset: whatever the server wants
            (
                ProviderKind::OpenAiCompatible,
                "http://10.0.0.5:8000",
                "http://10.0.0.5:8000",
            ),
            (
                ProviderKind::Azure,
                "https://r.openai.azure.com",
                "https://r.openai.azure.com",
            ),
        ];
        for (kind, given, want) in cases {
            assert_eq!(kind.api_base(given), want, "{kind:?} {given}");
        }
    }

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

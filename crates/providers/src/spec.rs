//! A provider's validated settings.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{ProviderKind, Secret};

/// Everything needed to build a [`crate::Provider`]. Built by the config crate after validation, so
/// every field here is already known to be usable.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    pub name: String,
    pub kind: ProviderKind,
    /// Without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// Models this provider declares (listed by `/v1/models`; bare names resolve to it).
    pub models: Vec<String>,
    /// Extra headers sent upstream on every request (values may be secrets).
    pub headers: BTreeMap<String, Secret>,
    pub azure: Option<AzureSpec>,
    /// Google service account (kind `vertex`): requests carry minted OAuth tokens.
    pub google: Option<crate::google::ServiceAccount>,
    /// AWS credentials (kind `bedrock`): requests are SigV4-signed.
    pub aws: Option<AwsSpec>,
    pub timeouts: Timeouts,
    /// How it answers the Responses API: its own `/responses`, or its chat API (translated).
    pub responses_api: ResponsesApi,
}

/// How a provider answers OpenAI's Responses API (`responses_api` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsesApi {
    /// Its own `POST …/responses`: the client's body goes through as is (model rewritten).
    Native,
    /// Its chat API, the request and answer translated through the canonical model.
    Chat,
}

impl ResponsesApi {
    /// OpenAI and Azure OpenAI have the Responses API; everything else is reached through chat.
    pub fn default_for(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::OpenAi | ProviderKind::Azure => ResponsesApi::Native,
            _ => ResponsesApi::Chat,
        }
    }

    /// Whether `kind` speaks the OpenAI family's wire format (so may have `/responses`).
    pub fn can_be_native(kind: ProviderKind) -> bool {
        kind.dialect() == switchyard_protocol::Dialect::OpenAi && kind != ProviderKind::Local
    }

    pub fn name(self) -> &'static str {
        match self {
            ResponsesApi::Native => "native",
            ResponsesApi::Chat => "chat",
        }
    }
}

/// Azure OpenAI addressing.
#[derive(Debug, Clone)]
pub struct AzureSpec {
    pub api_version: String,
    /// Model name → deployment name; a model without an entry is used as the deployment name.
    pub deployments: BTreeMap<String, String>,
}

/// AWS signing material.
#[derive(Debug, Clone)]
pub struct AwsSpec {
    pub region: String,
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// Upstream time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP (and TLS) connection establishment.
    pub connect: Duration,
    /// From sending the request to the response headers.
    pub first_byte: Duration,
    /// Longest silence between two chunks of a response body.
    pub idle: Duration,
    /// From sending the request to the end of the answer, streams included (`None`: no bound).
    pub total: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(600),
            idle: Duration::from_secs(300),
            total: None,
        }
    }
}

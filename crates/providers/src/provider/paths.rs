//! Where each kind of provider wants a request: API paths per dialect (the model in the URL for
//! Gemini, Bedrock and Workers AI; deployments for Azure; Claude on Vertex), and the native
//! passthrough path with the client headers that may go along.

use bytes::Bytes;
use http::header::HeaderName;
use http::uri::PathAndQuery;
use http::{HeaderMap, Method};
use switchyard_protocol::Dialect;

use super::{Endpoint, Provider, UpstreamRequest};
use crate::{ProviderKind, UpstreamError, UpstreamErrorKind};

/// The Messages API version Vertex AI expects in the body of Claude requests.
const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

pub(super) fn is_claude(model: &str) -> bool {
    model.starts_with("claude")
}

/// The path after `base_url` for dialects that put the model in the URL; `None` for the others.
fn model_in_path(
    dialect: Dialect,
    endpoint: Endpoint,
    model: &str,
    stream: bool,
) -> Option<String> {
    let encoded = percent_encode_segment(model);
    match (dialect, endpoint) {
        (_, Endpoint::CountTokens) if dialect != Dialect::Gemini => None,
        (_, Endpoint::Completions) if dialect != Dialect::OpenAi => None,
        (_, Endpoint::Responses | Endpoint::Classify) => None,
        // Workers AI runs rerankers, image and speech models at `run/{model}` too
        (
            d,
            Endpoint::Rerank | Endpoint::Images | Endpoint::Transcriptions | Endpoint::Translations,
        ) if d != Dialect::WorkersAi => None,
        (Dialect::Gemini, _) => {
            let method = match (endpoint, stream) {
                (Endpoint::ChatCompletions, false) => "generateContent",
                (Endpoint::ChatCompletions, true) => "streamGenerateContent?alt=sse",
                (Endpoint::Embeddings, _) => "batchEmbedContents",
                (Endpoint::CountTokens, _) => "countTokens",
                (
                    Endpoint::Completions
                    | Endpoint::Responses
                    | Endpoint::Transcriptions
                    | Endpoint::Translations
                    | Endpoint::Rerank
                    | Endpoint::Classify
                    | Endpoint::Images,
                    _,
                ) => return None,
            };
            Some(format!("models/{encoded}:{method}"))
        }
        (Dialect::Bedrock, _) => {
            let action = match (endpoint, stream) {
                (Endpoint::Embeddings, _) => "invoke",
                (_, true) => "converse-stream",
                (_, false) => "converse",
            };
            Some(format!("model/{encoded}/{action}"))
        }
        // Model names keep their slashes: `/ai/run/@cf/meta/llama-3.1-8b-instruct`.
        (Dialect::WorkersAi, _) => {
            let segments: Vec<String> = model.split('/').map(percent_encode_segment).collect();
            Some(format!("run/{}", segments.join("/")))
        }
        _ => None,
    }
}

impl UpstreamRequest {
    pub(super) fn post(path: PathAndQuery, body: Bytes) -> Self {
        UpstreamRequest {
            method: Method::POST,
            path,
            body,
            headers: HeaderMap::new(),
        }
    }
}

impl Provider {
    /// Prepares the upstream request for `endpoint` carrying `body` (already rewritten for this
    /// provider).
    pub fn build(
        &self,
        endpoint: Endpoint,
        upstream_model: &str,
        stream: bool,
        body: Bytes,
    ) -> Result<UpstreamRequest, UpstreamError> {
        let inner = &*self.inner;
        if inner.spec.kind == ProviderKind::Vertex && is_claude(upstream_model) {
            return self.vertex_anthropic(endpoint, upstream_model, stream, &body);
        }
        if inner.spec.kind == ProviderKind::Vertex && endpoint != Endpoint::ChatCompletions {
            // Vertex AI's embeddings and token counting use other methods (`predict`,
            // `countTokens` on a different body); not translated yet.
            return Err(self.error(
                UpstreamErrorKind::Unsupported,
                format!("{} on Vertex AI", endpoint.name()),
            ));
        }
        let path = match model_in_path(inner.spec.kind.dialect(), endpoint, upstream_model, stream)
        {
            Some(tail) => self.parse_path(format!("{}/{tail}", inner.base_path), upstream_model)?,
            None => self.fixed_path(endpoint, upstream_model)?,
        };
        Ok(UpstreamRequest::post(path, body))
    }

    /// Paths that do not depend on the model (OpenAI family, Anthropic, Cohere), or on it only
    /// through Azure's deployment map.
    fn fixed_path(&self, endpoint: Endpoint, model: &str) -> Result<PathAndQuery, UpstreamError> {
        let inner = &*self.inner;
        let tail = endpoint.path(inner.spec.kind.dialect()).ok_or_else(|| {
            self.error(
                UpstreamErrorKind::Unsupported,
                format!("{} (kind `{}`)", endpoint.name(), inner.spec.kind.name()),
            )
        })?;
        if let Some(azure) = &inner.spec.azure {
            let deployment = azure.deployments.get(model).map_or(model, String::as_str);
            if endpoint == Endpoint::Responses {
                // Azure's Responses API is on its v1 surface: the deployment goes in the body
                return self.parse_path(format!("{}/openai/v1/responses", inner.base_path), model);
            }
            return self.parse_path(
                format!(
                    "{}/openai/deployments/{}/{tail}?api-version={}",
                    inner.base_path,
                    percent_encode_segment(deployment),
                    azure.api_version
                ),
                deployment,
            );
        }
        match endpoint {
            Endpoint::ChatCompletions => inner.chat_path.clone(),
            Endpoint::Embeddings => inner.embeddings_path.clone(),
            Endpoint::CountTokens
            | Endpoint::Completions
            | Endpoint::Responses
            | Endpoint::Transcriptions
            | Endpoint::Translations
            | Endpoint::Rerank
            | Endpoint::Classify
            | Endpoint::Images => None,
        }
        .map_or_else(
            || self.parse_path(format!("{}/{tail}", inner.base_path), model),
            Ok,
        )
    }

    /// The model as a request body names it: Azure's deployment for `model` (its Responses
    /// API takes the deployment in the body), the model itself elsewhere.
    pub fn body_model<'m>(&'m self, model: &'m str) -> &'m str {
        match &self.inner.spec.azure {
            Some(azure) => azure.deployments.get(model).map_or(model, String::as_str),
            None => model,
        }
    }

    fn parse_path(&self, path: String, model: &str) -> Result<PathAndQuery, UpstreamError> {
        PathAndQuery::try_from(path).map_err(|e| {
            self.error(
                UpstreamErrorKind::InvalidRequest,
                format!("model `{model}`: {e}"),
            )
        })
    }

    /// Claude on Vertex AI: `…/publishers/anthropic/models/{model}:rawPredict` (or
    /// `:streamRawPredict`), with `anthropic_version` in the body instead of `model`.
    fn vertex_anthropic(
        &self,
        endpoint: Endpoint,
        model: &str,
        stream: bool,
        body: &[u8],
    ) -> Result<UpstreamRequest, UpstreamError> {
        if endpoint != Endpoint::ChatCompletions {
            return Err(self.error(
                UpstreamErrorKind::Unsupported,
                format!("{} for Claude models on Vertex AI", endpoint.name()),
            ));
        }
        let invalid = |detail: String| self.error(UpstreamErrorKind::InvalidRequest, detail);
        let mut json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(body).map_err(|e| invalid(format!("request body: {e}")))?;
        json.remove("model");
        json.entry("anthropic_version")
            .or_insert_with(|| serde_json::Value::from(VERTEX_ANTHROPIC_VERSION));
        let body = serde_json::to_vec(&json).map_err(|e| invalid(format!("request body: {e}")))?;
        let base = &self.inner.base_path;
        let base = base
            .strip_suffix("/publishers/google")
            .map_or_else(|| base.clone(), |b| format!("{b}/publishers/anthropic"));
        let method = if stream {
            "streamRawPredict"
        } else {
            "rawPredict"
        };
        let path = PathAndQuery::try_from(format!(
            "{base}/models/{}:{method}",
            percent_encode_segment(model)
        ))
        .map_err(|e| invalid(format!("model `{model}`: {e}")))?;
        Ok(UpstreamRequest::post(path, Bytes::from(body)))
    }

    /// A native request to this provider: `rest` (the path after `/{provider}/`) is appended to
    /// `base_url`, and the client's `headers` go along, minus anything carrying credentials or
    /// hop-by-hop semantics; the provider's own credentials are added. A leading `v1/` is not
    /// doubled when `base_url` already ends in `/v1`, so both `/openai/chat/completions` and
    /// `/anthropic/v1/messages` (Cloudflare's spellings) work.
    pub fn passthrough(
        &self,
        method: Method,
        rest: &str,
        query: Option<&str>,
        client_headers: &HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamRequest, UpstreamError> {
        let base = &self.inner.base_path;
        let rest = rest.trim_start_matches('/');
        let rest = match (base.rsplit('/').next(), rest.split_once('/')) {
            (Some(last), Some((first, tail))) if !last.is_empty() && last == first => tail,
            _ => rest,
        };
        let mut path = format!("{base}/{rest}");
        if let Some(q) = query {
            path.push('?');
            path.push_str(q);
        }
        let path = PathAndQuery::try_from(path)
            .map_err(|e| self.error(UpstreamErrorKind::InvalidRequest, e.to_string()))?;
        let mut headers = HeaderMap::with_capacity(client_headers.len());
        for (name, value) in client_headers {
            if !is_withheld(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        Ok(UpstreamRequest {
            method,
            path,
            body,
            headers,
        })
    }
}

/// Why a native path (the part after `/{provider}/`, percent-decoded once by the router) could
/// climb out of the provider's `base_url` or smuggle a query, if it could: a `.`/`..` segment, a
/// backslash, `?`, `#`, a control character, or a still-encoded dot, slash or backslash (the
/// upstream would decode it a second time).
pub fn native_path_problem(rest: &str) -> Option<&'static str> {
    if rest.split('/').any(|s| s == "." || s == "..") {
        return Some("dot segments (`.`, `..`) are not allowed");
    }
    if rest.contains(['?', '#']) {
        return Some("`?` and `#` belong in the query, not the path");
    }
    if rest.contains('\\') || rest.chars().any(char::is_control) {
        return Some("backslashes and control characters are not allowed");
    }
    let lower = rest.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c"].iter().any(|e| lower.contains(e)) {
        return Some("encoded dots, slashes and backslashes are not allowed");
    }
    None
}

/// Request headers never forwarded on passthrough: credentials (the provider's own are injected),
/// hop-by-hop headers, the gateway's own control headers, and `accept-encoding` (the gateway
/// reads the answer — usage for budgets, the request log — so it comes uncompressed).
pub(super) fn is_withheld(name: &HeaderName) -> bool {
    const WITHHELD: &[&str] = &[
        "authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "proxy-authorization",
        "host",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "cookie",
        "accept-encoding",
    ];
    let n = name.as_str();
    WITHHELD.contains(&n) || n.starts_with("cf-aig-") || n.starts_with("proxy-")
}

pub(super) fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        // `@` is a legal path character and how Vertex AI spells model versions.
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

//! A configured provider, ready to build and send upstream requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;

use switchyard_protocol::Dialect;

use self::paths::{is_claude, is_withheld};
use crate::google::TokenSource;
use crate::pool::{Connector, Pool};
use crate::{ProviderKind, ProviderSpec, UpstreamBody, UpstreamError, UpstreamErrorKind};

/// Which API an upstream request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Embeddings,
    /// Anthropic's `messages/count_tokens` (Gemini: `countTokens`).
    CountTokens,
    /// OpenAI's legacy text completions.
    Completions,
    /// OpenAI's Responses API (providers with `responses_api = "native"`).
    Responses,
    /// OpenAI's speech to text (a multipart upload).
    Transcriptions,
    /// OpenAI's speech to English text (a multipart upload).
    Translations,
    /// Documents scored against a query: Cohere's `/v2/rerank`, and the same body on
    /// OpenAI-compatible servers that have it (Jina, vLLM, TEI, Infinity: `/v1/rerank`).
    Rerank,
    /// Text classification: local models only.
    Classify,
    /// OpenAI's image generation.
    Images,
}

impl Endpoint {
    /// Path below `base_url` for a provider speaking `dialect`; `None` if it has no such API.
    fn path(self, dialect: Dialect) -> Option<&'static str> {
        match (self, dialect) {
            (Endpoint::ChatCompletions, Dialect::OpenAi) => Some("chat/completions"),
            (Endpoint::Embeddings, Dialect::OpenAi) => Some("embeddings"),
            (Endpoint::Completions, Dialect::OpenAi) => Some("completions"),
            (Endpoint::Completions, _) => None,
            (Endpoint::Responses, Dialect::OpenAi) => Some("responses"),
            (Endpoint::Responses, _) => None,
            (Endpoint::Transcriptions, Dialect::OpenAi) => Some("audio/transcriptions"),
            (Endpoint::Transcriptions, _) => None,
            (Endpoint::Translations, Dialect::OpenAi) => Some("audio/translations"),
            (Endpoint::Translations, _) => None,
            (Endpoint::Rerank, Dialect::OpenAi | Dialect::Cohere) => Some("rerank"),
            (Endpoint::Rerank | Endpoint::Classify, _) => None,
            (Endpoint::Images, Dialect::OpenAi) => Some("images/generations"),
            (Endpoint::Images, _) => None,
            (Endpoint::ChatCompletions, Dialect::Anthropic) => Some("messages"),
            (Endpoint::Embeddings, Dialect::Anthropic) => None,
            (Endpoint::ChatCompletions, Dialect::Cohere) => Some("chat"),
            (Endpoint::Embeddings, Dialect::Cohere) => Some("embed"),
            (Endpoint::CountTokens, Dialect::Anthropic) => Some("messages/count_tokens"),
            (Endpoint::CountTokens, _) => None,
            (Endpoint::Embeddings, Dialect::Bedrock) => None,
            // Bedrock, like Gemini, puts the model in the path; see `Provider::build`.
            (Endpoint::ChatCompletions, Dialect::Bedrock) => None,
            // Gemini and Workers AI put the model in the path; see `Provider::build`.
            (_, Dialect::Gemini | Dialect::WorkersAi) => None,
            // no provider kind speaks it: Responses calls go out in the provider's chat dialect
            (_, Dialect::Responses) => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat_completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::CountTokens => "count_tokens",
            Endpoint::Completions => "completions",
            Endpoint::Responses => "responses",
            Endpoint::Transcriptions => "audio_transcriptions",
            Endpoint::Translations => "audio_translations",
            Endpoint::Rerank => "rerank",
            Endpoint::Classify => "classify",
            Endpoint::Images => "images_generations",
        }
    }
}

/// A provider with its URIs and headers prepared once, and its own connection pool.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

struct Inner {
    spec: ProviderSpec,
    pool: Arc<Pool>,
    /// `scheme://authority`, what connections are opened to.
    origin: Uri,
    /// The `Host` header.
    host: HeaderValue,
    /// Path of `base_url` (e.g. `/v1`), without a trailing slash.
    base_path: String,
    chat_path: Option<PathAndQuery>,
    embeddings_path: Option<PathAndQuery>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The names of the headers the operator configured (`headers = {…}`): a client's header of
    /// the same name is dropped, not sent instead.
    configured: Vec<HeaderName>,
    /// Minted OAuth tokens instead of a static key (Vertex AI).
    token: Option<TokenSource>,
}

/// A request ready to go upstream; can be sent again on a fresh connection if a pooled one turns
/// out to have been closed by the server.
pub struct UpstreamRequest {
    method: Method,
    path: PathAndQuery,
    body: Bytes,
    /// Client headers forwarded on the native passthrough route (already filtered); empty for API
    /// calls, where nothing from the client's headers is sent.
    headers: HeaderMap,
}

/// The Messages API version sent to Anthropic (override with a `headers` entry).
const ANTHROPIC_VERSION: &str = "2023-06-01";

static SWITCHYARD_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("switchyard/", env!("CARGO_PKG_VERSION")));
static JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Provider {
    pub fn new(spec: ProviderSpec) -> Result<Self, UpstreamError> {
        let invalid = |detail: String| {
            UpstreamError::new(&spec.name, UpstreamErrorKind::InvalidRequest, detail)
        };
        let base: Uri = spec
            .base_url
            .parse()
            .map_err(|e| invalid(format!("base_url `{}`: {e}", spec.base_url)))?;
        let (Some(scheme), Some(authority)) = (base.scheme(), base.authority()) else {
            return Err(invalid(format!(
                "base_url `{}` must be an absolute URL",
                spec.base_url
            )));
        };
        let origin = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| invalid(format!("base_url `{}`: {e}", spec.base_url)))?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|e| invalid(format!("base_url `{}`: {e}", spec.base_url)))?;
        let base_path = base.path().trim_end_matches('/').to_owned();
        let dialect = spec.kind.dialect();
        let path = |endpoint: Endpoint| -> Result<Option<PathAndQuery>, UpstreamError> {
            let Some(tail) = endpoint.path(dialect) else {
                return Ok(None);
            };
            PathAndQuery::try_from(format!("{base_path}/{tail}"))
                .map(Some)
                .map_err(|e| invalid(format!("base_url `{}`: {e}", spec.base_url)))
        };
        let chat_path = path(Endpoint::ChatCompletions)?;
        let embeddings_path = path(Endpoint::Embeddings)?;

        let mut headers = Vec::new();
        if spec.kind == ProviderKind::Anthropic {
            headers.push((
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(ANTHROPIC_VERSION),
            ));
        }
        if let Some(key) = &spec.api_key {
            let header = credential_header(spec.kind, key.expose()).ok_or_else(|| {
                invalid("api_key contains characters not allowed in a header".into())
            })?;
            headers.push(header);
        }
        let mut configured = Vec::with_capacity(spec.headers.len());
        for (name, value) in &spec.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| invalid(format!("`{name}` is not a valid header name")))?;
            let mut value = HeaderValue::try_from(value.expose())
                .map_err(|_| invalid(format!("the value of header `{name}` is not valid")))?;
            value.set_sensitive(true);
            configured.push(name.clone());
            headers.push((name, value));
        }

        let connector = build_connector(spec.timeouts.connect)
            .map_err(|e| invalid(format!("TLS setup: {e}")))?;
        let token = match &spec.google {
            Some(account) => Some(
                TokenSource::new(account, connector.clone())
                    .map_err(|e| invalid(format!("service account: {e}")))?,
            ),
            None => None,
        };
        Ok(Provider {
            inner: Arc::new(Inner {
                token,
                pool: Pool::new(connector),
                spec,
                origin,
                host,
                base_path,
                chat_path,
                embeddings_path,
                headers,
                configured,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.spec.name
    }

    /// The wire format this provider expects.
    pub fn dialect(&self) -> Dialect {
        self.inner.spec.kind.dialect()
    }

    /// The wire format for one model: Vertex AI serves Anthropic's Claude models in Anthropic's
    /// format and everything else in Gemini's.
    pub fn dialect_for(&self, model: &str) -> Dialect {
        if self.inner.spec.kind == ProviderKind::Vertex && is_claude(model) {
            return Dialect::Anthropic;
        }
        self.dialect()
    }

    pub fn spec(&self) -> &ProviderSpec {
        &self.inner.spec
    }

    /// Sends `key` instead of the configured credential on `request` (a stored provider key
    /// chosen per request). Providers signed another way (AWS, Google service accounts) refuse.
    pub fn use_key(&self, request: &mut UpstreamRequest, key: &str) -> Result<(), UpstreamError> {
        if self.inner.token.is_some() || self.inner.spec.aws.is_some() {
            return Err(self.error(
                UpstreamErrorKind::InvalidRequest,
                "this provider signs its requests; a stored API key cannot replace that",
            ));
        }
        let (name, value) = credential_header(self.inner.spec.kind, key).ok_or_else(|| {
            self.error(
                UpstreamErrorKind::InvalidRequest,
                "the stored key has characters not allowed in a header",
            )
        })?;
        request.headers.insert(name, value);
        Ok(())
    }

    /// The HTTP request for one attempt. Only the provider's own credentials and configured headers
    /// are sent; nothing from the client's request headers is copied.
    fn http_request(&self, request: &UpstreamRequest) -> Request<Full<Bytes>> {
        let inner = &*self.inner;
        let mut http = Request::new(Full::new(request.body.clone()));
        *http.method_mut() = request.method.clone();
        *http.uri_mut() = Uri::from(request.path.clone());
        let headers = http.headers_mut();
        headers.reserve(inner.headers.len() + request.headers.len() + 3);
        headers.insert(HOST, inner.host.clone());
        headers.insert(CONTENT_TYPE, JSON.clone());
        headers.insert(USER_AGENT, SWITCHYARD_AGENT.clone());
        for (name, value) in &inner.headers {
            headers.insert(name.clone(), value.clone());
        }
        // Client headers last, so e.g. its `anthropic-version` wins; credentials were withheld,
        // and the headers the operator configured for this provider are never overridden.
        let mut last: Option<&HeaderName> = None;
        for (name, value) in &request.headers {
            if inner.configured.contains(name) {
                continue;
            }
            if last != Some(name) {
                headers.remove(name);
                last = Some(name);
            }
            headers.append(name.clone(), value.clone());
        }
        http
    }

    /// Forwards client headers (already chosen by the caller) with an API request: e.g.
    /// `anthropic-beta` on the Messages fast path. Credentials are never forwarded.
    pub fn forward_headers(&self, request: &mut UpstreamRequest, client: &HeaderMap) {
        for (name, value) in client {
            if !is_withheld(name) {
                request.headers.append(name.clone(), value.clone());
            }
        }
    }

    /// Sends a request and waits for the response headers, all within the first-byte timeout.
    pub async fn send(
        &self,
        request: &UpstreamRequest,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let limit = self.inner.spec.timeouts.first_byte;
        let authorization = match &self.inner.token {
            Some(source) => Some(
                source
                    .authorization()
                    .await
                    .map_err(|e| self.error(UpstreamErrorKind::Auth, e))?,
            ),
            None => None,
        };
        let exchange = self.exchange(request, authorization.as_ref());
        match tokio::time::timeout(limit, exchange).await {
            Err(_) => Err(self.error(UpstreamErrorKind::FirstByteTimeout(limit), "")),
            Ok(result) => result,
        }
    }

    /// One exchange on a pooled connection, or on a new one. A pooled connection the server closed
    /// while it sat idle is detected before the request is written, or fails it without a response;
    /// either way the request goes out again, once, on a fresh connection.
    async fn exchange(
        &self,
        request: &UpstreamRequest,
        authorization: Option<&HeaderValue>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let pool = &self.inner.pool;
        loop {
            let mut conn = match pool.checkout() {
                Some(conn) => conn,
                None => self.connect().await?,
            };
            if !conn.ready().await {
                if conn.reused {
                    continue;
                }
                return Err(
                    self.error(UpstreamErrorKind::Connect, "connection closed during setup")
                );
            }
            let mut http = self.http_request(request);
            if let Some(value) = authorization {
                http.headers_mut().insert(AUTHORIZATION, value.clone());
            }
            if let Some(aws) = &self.inner.spec.aws {
                let origin = self.inner.origin.to_string();
                crate::aws::sign_request(aws, &origin, &request.body, &mut http)
                    .map_err(|e| self.error(UpstreamErrorKind::Auth, e))?;
            }
            match conn.send(http).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = UpstreamBody::new(body, conn, pool.clone());
                    return Ok(Response::from_parts(parts, body));
                }
                Err(e) if conn.reused && (e.is_canceled() || e.is_incomplete_message()) => {
                    continue;
                }
                Err(e) => return Err(self.error(UpstreamErrorKind::Protocol, error_chain(&e))),
            }
        }
    }

    async fn connect(&self) -> Result<crate::pool::Conn, UpstreamError> {
        let limit = self.inner.spec.timeouts.connect;
        match tokio::time::timeout(limit, self.inner.pool.connect(&self.inner.origin)).await {
            Err(_) => Err(self.error(UpstreamErrorKind::ConnectTimeout(limit), "")),
            Ok(Err(e)) => {
                let timed_out = e.0.contains("timed out") || e.0.contains("timeout");
                let kind = if timed_out {
                    UpstreamErrorKind::ConnectTimeout(limit)
                } else {
                    UpstreamErrorKind::Connect
                };
                Err(self.error(kind, e.0))
            }
            Ok(Ok(conn)) => Ok(conn),
        }
    }

    /// Reads a whole response body, failing if it stalls longer than the idle timeout or grows
    /// beyond `max` bytes.
    pub async fn read_body(
        &self,
        mut body: UpstreamBody,
        max: usize,
    ) -> Result<Bytes, UpstreamError> {
        let idle = self.inner.spec.timeouts.idle;
        let mut first: Option<Bytes> = None;
        let mut rest: Vec<u8> = Vec::new();
        loop {
            let frame = match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => return Err(self.error(UpstreamErrorKind::IdleTimeout(idle), "")),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(self.error(UpstreamErrorKind::Protocol, error_chain(&e)))
                }
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let total = first.as_ref().map_or(0, Bytes::len) + rest.len() + data.len();
            if total > max {
                return Err(self.error(UpstreamErrorKind::TooLarge(max), ""));
            }
            match &first {
                None if rest.is_empty() => first = Some(data),
                _ => {
                    if let Some(f) = first.take() {
                        rest.extend_from_slice(&f);
                    }
                    rest.extend_from_slice(&data);
                }
            }
        }
        Ok(match first {
            Some(only) => only,
            None => Bytes::from(rest),
        })
    }

    pub fn idle_timeout(&self) -> Duration {
        self.inner.spec.timeouts.idle
    }

    /// The bound on a whole answer, if configured.
    pub fn total_timeout(&self) -> Option<Duration> {
        self.inner.spec.timeouts.total
    }

    pub fn error(&self, kind: UpstreamErrorKind, detail: impl Into<String>) -> UpstreamError {
        UpstreamError::new(self.name(), kind, detail)
    }
}

fn build_connector(connect_timeout: Duration) -> Result<Connector, rustls::Error> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

/// Formats an error with all its sources, e.g. `client error (Connect): tcp connect error: Connection refused`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

mod paths;
pub use paths::native_path_problem;

#[cfg(test)]
mod tests;

/// The header that carries an API key for `kind` (marked sensitive: never logged by hyper).
fn credential_header(kind: ProviderKind, key: &str) -> Option<(HeaderName, HeaderValue)> {
    let (name, value) = match kind {
        ProviderKind::Azure => (HeaderName::from_static("api-key"), key.to_owned()),
        ProviderKind::Anthropic => (HeaderName::from_static("x-api-key"), key.to_owned()),
        ProviderKind::Gemini => (HeaderName::from_static("x-goog-api-key"), key.to_owned()),
        _ => (AUTHORIZATION, format!("Bearer {key}")),
    };
    let mut value = HeaderValue::try_from(value).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

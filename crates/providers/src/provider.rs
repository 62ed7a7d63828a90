//! A configured provider, ready to build and send upstream requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::{ProviderKind, ProviderSpec, UpstreamError, UpstreamErrorKind};

/// The body of an upstream response, streamed as it arrives.
pub type UpstreamBody = hyper::body::Incoming;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Which API an upstream request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Embeddings,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat/completions",
            Endpoint::Embeddings => "embeddings",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat_completions",
            Endpoint::Embeddings => "embeddings",
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
    client: Client<Connector, Full<Bytes>>,
    chat_uri: Uri,
    embeddings_uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
}

static SWITCHYARD_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("switchyard/", env!("CARGO_PKG_VERSION")));
static JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Provider {
    pub fn new(spec: ProviderSpec) -> Result<Self, UpstreamError> {
        let invalid = |detail: String| {
            UpstreamError::new(&spec.name, UpstreamErrorKind::InvalidRequest, detail)
        };
        let uri = |endpoint: Endpoint| -> Result<Uri, UpstreamError> {
            format!("{}/{}", spec.base_url, endpoint.path())
                .parse::<Uri>()
                .map_err(|e| invalid(format!("base_url `{}`: {e}", spec.base_url)))
        };
        let chat_uri = uri(Endpoint::ChatCompletions)?;
        let embeddings_uri = uri(Endpoint::Embeddings)?;

        let mut headers = Vec::new();
        if let Some(key) = &spec.api_key {
            let (name, value) = match spec.kind {
                ProviderKind::Azure => {
                    (HeaderName::from_static("api-key"), key.expose().to_owned())
                }
                _ => (AUTHORIZATION, format!("Bearer {}", key.expose())),
            };
            let mut value = HeaderValue::try_from(value).map_err(|_| {
                invalid("api_key contains characters not allowed in a header".into())
            })?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        for (name, value) in &spec.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| invalid(format!("`{name}` is not a valid header name")))?;
            let mut value = HeaderValue::try_from(value.expose())
                .map_err(|_| invalid(format!("the value of header `{name}` is not valid")))?;
            value.set_sensitive(true);
            headers.push((name, value));
        }

        Ok(Provider {
            inner: Arc::new(Inner {
                client: build_client(spec.timeouts.connect)
                    .map_err(|e| invalid(format!("TLS setup: {e}")))?,
                spec,
                chat_uri,
                embeddings_uri,
                headers,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.spec.name
    }

    pub fn spec(&self) -> &ProviderSpec {
        &self.inner.spec
    }

    /// Builds the upstream request for `endpoint` carrying `body` (already rewritten for this
    /// provider). Only the provider's own credentials and configured headers are sent; nothing from
    /// the client's request headers is copied.
    pub fn build(
        &self,
        endpoint: Endpoint,
        upstream_model: &str,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, UpstreamError> {
        let inner = &*self.inner;
        let uri = match &inner.spec.azure {
            Some(azure) => {
                let deployment = azure
                    .deployments
                    .get(upstream_model)
                    .map_or(upstream_model, String::as_str);
                format!(
                    "{}/openai/deployments/{}/{}?api-version={}",
                    inner.spec.base_url,
                    percent_encode_segment(deployment),
                    endpoint.path(),
                    azure.api_version
                )
                .parse::<Uri>()
                .map_err(|e| {
                    UpstreamError::new(
                        self.name(),
                        UpstreamErrorKind::InvalidRequest,
                        format!("deployment `{deployment}`: {e}"),
                    )
                })?
            }
            None => match endpoint {
                Endpoint::ChatCompletions => inner.chat_uri.clone(),
                Endpoint::Embeddings => inner.embeddings_uri.clone(),
            },
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.reserve(inner.headers.len() + 2);
        headers.insert(CONTENT_TYPE, JSON.clone());
        headers.insert(USER_AGENT, SWITCHYARD_AGENT.clone());
        for (name, value) in &inner.headers {
            headers.insert(name.clone(), value.clone());
        }
        Ok(request)
    }

    /// Sends a request and waits for the response headers, within the first-byte timeout.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let timeouts = self.inner.spec.timeouts;
        match tokio::time::timeout(timeouts.first_byte, self.inner.client.request(request)).await {
            Err(_) => Err(UpstreamError::new(
                self.name(),
                UpstreamErrorKind::FirstByteTimeout(timeouts.first_byte),
                "",
            )),
            Ok(Err(e)) => Err(self.classify(&e)),
            Ok(Ok(response)) => Ok(response),
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

    pub fn error(&self, kind: UpstreamErrorKind, detail: impl Into<String>) -> UpstreamError {
        UpstreamError::new(self.name(), kind, detail)
    }

    fn classify(&self, e: &hyper_util::client::legacy::Error) -> UpstreamError {
        let detail = error_chain(e);
        if e.is_connect() {
            let timed_out = detail.contains("timed out") || detail.contains("timeout");
            if timed_out {
                let connect = self.inner.spec.timeouts.connect;
                return self.error(UpstreamErrorKind::ConnectTimeout(connect), detail);
            }
            return self.error(UpstreamErrorKind::Connect, detail);
        }
        self.error(UpstreamErrorKind::Protocol, detail)
    }
}

fn build_client(
    connect_timeout: Duration,
) -> Result<Client<Connector, Full<Bytes>>, rustls::Error> {
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
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(connector))
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

fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;

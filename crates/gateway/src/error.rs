//! One error type for everything the pipeline can fail with. It says who failed, whether trying
//! again (or elsewhere) could help, and carries what the caller should see; the edge renders it in
//! the caller's dialect.

use http::StatusCode;
use switchyard_protocol::openai::RequestError;
use switchyard_providers::{UpstreamError, UpstreamErrorKind};

/// Who is to blame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOrigin {
    Client,
    Upstream,
    Internal,
}

/// A failed request, ready to be rendered. Boxed so `Result<_, GatewayError>` stays small on the hot
/// path; fields are reached through `Deref`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.message)]
pub struct GatewayError(Box<ErrorInfo>);

impl std::ops::Deref for GatewayError {
    type Target = ErrorInfo;
    fn deref(&self) -> &ErrorInfo {
        &self.0
    }
}

impl std::ops::DerefMut for GatewayError {
    fn deref_mut(&mut self) -> &mut ErrorInfo {
        &mut self.0
    }
}

/// What a [`GatewayError`] says.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub origin: ErrorOrigin,
    /// Whether the same request could succeed on a retry or on another provider.
    pub retryable: bool,
    /// OpenAI's `type`, e.g. `invalid_request_error`.
    pub kind: String,
    /// OpenAI's `code`, machine readable.
    pub code: Option<String>,
    /// The request field at fault.
    pub param: Option<String>,
    pub message: String,
    /// Upstream headers worth relaying with the error (`retry-after`, `x-ratelimit-*`).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl GatewayError {
    fn new(
        status: StatusCode,
        origin: ErrorOrigin,
        kind: &str,
        code: &str,
        message: String,
    ) -> Self {
        GatewayError(Box::new(ErrorInfo {
            status,
            origin,
            retryable: false,
            kind: kind.to_owned(),
            code: Some(code.to_owned()),
            param: None,
            message,
            headers: Vec::new(),
        }))
    }

    pub fn invalid_request(e: RequestError) -> Self {
        let mut err = Self::new(
            StatusCode::BAD_REQUEST,
            ErrorOrigin::Client,
            "invalid_request_error",
            e.code,
            e.message,
        );
        err.param = e.param;
        err
    }

    pub fn model_not_found(message: String) -> Self {
        let mut err = Self::new(
            StatusCode::NOT_FOUND,
            ErrorOrigin::Client,
            "invalid_request_error",
            "model_not_found",
            message,
        );
        err.param = Some("model".to_owned());
        err
    }

    /// A bare model name several configured providers could serve.
    pub fn ambiguous_model(message: String) -> Self {
        let mut err = Self::new(
            StatusCode::BAD_REQUEST,
            ErrorOrigin::Client,
            "invalid_request_error",
            "ambiguous_model",
            message,
        );
        err.param = Some("model".to_owned());
        err
    }

    /// Whether this is a model no rule resolved (a bare name may resolve once the providers'
    /// own model lists are fetched).
    pub fn is_model_not_found(&self) -> bool {
        self.code.as_deref() == Some("model_not_found")
    }

    /// A native path that would leave the provider's `base_url` (see
    /// [`switchyard_providers::native_path_problem`]).
    pub fn invalid_path(path: &str, why: &str) -> Self {
        let mut err = Self::new(
            StatusCode::BAD_REQUEST,
            ErrorOrigin::Client,
            "invalid_request_error",
            "invalid_path",
            format!("path `{path}` refused: {why}"),
        );
        err.param = Some("path".to_owned());
        err
    }

    /// Something the request names does not exist (or is not the caller's to see).
    pub fn not_found(message: String) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorOrigin::Client,
            "invalid_request_error",
            "not_found",
            message,
        )
    }

    /// A query parameter out of range.
    pub fn bad_query(param: &str, message: &str) -> Self {
        let mut err = Self::new(
            StatusCode::BAD_REQUEST,
            ErrorOrigin::Client,
            "invalid_request_error",
            "invalid_value",
            message.to_owned(),
        );
        err.param = Some(param.to_owned());
        err
    }

    /// A body in a type this route does not take.
    pub fn unsupported_media_type(message: String) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorOrigin::Client,
            "invalid_request_error",
            "unsupported_media_type",
            message,
        )
    }

    /// The body did not arrive within `[server] body_timeout_ms`.
    pub fn body_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorOrigin::Client,
            "invalid_request_error",
            "body_timeout",
            format!(
                "the request body did not arrive within {} ms (server.body_timeout_ms)",
                limit.as_millis()
            ),
        )
    }

    /// Capacity reached (`[server] max_in_flight`): try again shortly.
    pub fn overloaded(limit: usize) -> Self {
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorOrigin::Internal,
            "server_error",
            "overloaded",
            format!(
                "the gateway is handling its maximum of {limit} requests (server.max_in_flight); retry shortly"
            ),
        );
        err.retryable = true;
        err.headers.push((
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        ));
        err
    }

    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorOrigin::Client,
            "invalid_request_error",
            "request_too_large",
            format!("request body exceeds the limit of {limit} bytes (server.max_body_bytes)"),
        )
    }

    pub fn bad_body(message: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorOrigin::Client,
            "invalid_request_error",
            "invalid_body",
            message,
        )
    }

    pub fn route_not_found(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorOrigin::Client,
            "invalid_request_error",
            "unknown_route",
            format!("no route for {method} {path}: see /v1/chat/completions, /v1/embeddings, /v1/models"),
        )
    }

    pub fn route_not_found_with(message: String) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorOrigin::Client,
            "invalid_request_error",
            "unknown_route",
            message,
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorOrigin::Client,
            "invalid_request_error",
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )
    }

    /// A feature the chosen provider cannot honour: 400 naming the feature and the provider.
    pub fn unsupported(provider: &str, e: &switchyard_protocol::canonical::Unsupported) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorOrigin::Client,
            "invalid_request_error",
            "unsupported_by_provider",
            format!("provider `{provider}`: {e}"),
        )
    }

    /// The provider has no such API (e.g. `/v1/completions` on a provider without it): 400.
    pub fn unsupported_api(provider: &str, api: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorOrigin::Client,
            "invalid_request_error",
            "unsupported_by_provider",
            format!("provider `{provider}` does not serve {api}"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorOrigin::Internal,
            "internal_error",
            "internal_error",
            message.into(),
        )
    }

    /// The upstream answered with an error status. 4xx is relayed as is (the request was wrong for
    /// that provider); 5xx becomes 502 (the provider failed, not the gateway).
    pub fn upstream_status(provider: &str, status: StatusCode, body: &[u8]) -> Self {
        let upstream = parse_openai_error(body);
        let message = upstream
            .as_ref()
            .map(|u| u.message.clone())
            .unwrap_or_else(|| switchyard_protocol::openai::ErrorBody::message_from_upstream(body));
        if status.is_client_error() {
            let mut err = Self::new(
                status,
                ErrorOrigin::Upstream,
                "invalid_request_error",
                "upstream_error",
                message,
            );
            if let Some(u) = upstream {
                err.kind = u.kind;
                err.code = u.code;
                err.param = u.param;
            }
            err.retryable =
                status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT;
            return err;
        }
        let mut err = Self::new(
            StatusCode::BAD_GATEWAY,
            ErrorOrigin::Upstream,
            "upstream_error",
            "upstream_error",
            format!(
                "provider `{provider}` failed with HTTP {}: {message}",
                status.as_u16()
            ),
        );
        err.retryable = true;
        err
    }

    /// The upstream said `2xx` but its answer is not one (`what` says how); `body` is quoted, cut
    /// short, for whoever reads the log. 502, retryable: another attempt or provider may do better.
    pub fn invalid_upstream_answer(provider: &str, what: &str, body: &[u8]) -> Self {
        const QUOTED: usize = 120;
        let shown = String::from_utf8_lossy(&body[..body.len().min(QUOTED)]);
        let more = if body.len() > QUOTED { "…" } else { "" };
        let mut err = Self::new(
            StatusCode::BAD_GATEWAY,
            ErrorOrigin::Upstream,
            "upstream_error",
            "upstream_invalid_response",
            format!("provider `{provider}` answered 2xx with {what}: {shown:?}{more}"),
        );
        err.retryable = true;
        err
    }

    /// The upstream's stream ended in an error after it had started (for requests that shared it).
    pub fn stream_broken(provider: &str) -> Self {
        let mut err = Self::new(
            StatusCode::BAD_GATEWAY,
            ErrorOrigin::Upstream,
            "upstream_error",
            "stream_broken",
            format!("the stream from provider `{provider}` broke before the answer was complete"),
        );
        err.retryable = true;
        err
    }

    /// `cf-aig-request-timeout` ran out before the provider answered (504, retryable).
    pub fn request_timeout(provider: &str, limit: std::time::Duration) -> Self {
        let mut err = Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorOrigin::Upstream,
            "upstream_error",
            "upstream_timeout",
            format!(
                "provider `{provider}` did not answer within {} ms (cf-aig-request-timeout)",
                limit.as_millis()
            ),
        );
        err.retryable = true;
        err
    }

    /// Every deployment of a balanced alias is ejected by the circuit breaker (503; the alias's
    /// fallbacks are tried).
    pub fn circuit_open(provider: &str, alias: &str, retry_in_ms: i64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorOrigin::Upstream,
            "upstream_error",
            "circuit_open",
            format!(
                "every deployment of `{alias}` is out after repeated failures (last tried: `{provider}`); the next probe is in {} s",
                (retry_in_ms.max(0) + 999) / 1000
            ),
        )
    }

    /// A rate limit or budget of this gateway refused the request (429).
    pub fn rate_limited(message: String) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorOrigin::Client,
            "rate_limit_error",
            "rate_limit_exceeded",
            message,
        )
    }

    /// The answer ran past the provider's `total_timeout_ms` before any of it was sent (504).
    pub fn total_timeout(provider: &str) -> Self {
        let mut err = Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorOrigin::Upstream,
            "upstream_error",
            "upstream_timeout",
            format!("the answer from provider `{provider}` ran past its total timeout (total_timeout_ms)"),
        );
        err.retryable = true;
        err
    }

    /// The request is under a budget that cannot be charged for it (its usage is not read, or
    /// its model has no price): 403, never served free.
    pub fn budget_not_enforceable(message: String) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorOrigin::Client,
            "permission_error",
            "budget_not_enforceable",
            message,
        )
    }

    /// A limit the request is under cannot be checked (its counters are down): 503.
    pub fn limits_unavailable(message: String) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorOrigin::Internal,
            "service_unavailable",
            "budget_unavailable",
            message,
        )
    }

    /// No gateway key, or one that is unknown, disabled or expired (401).
    pub fn unauthorized(message: String) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorOrigin::Client,
            "authentication_error",
            "invalid_api_key",
            message,
        )
    }

    /// A valid key that may not do this (403).
    pub fn forbidden(message: String) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorOrigin::Client,
            "permission_error",
            "forbidden",
            message,
        )
    }

    /// A control header (`cf-aig-*`) with a value the gateway cannot use.
    pub fn invalid_header(name: &str, message: String) -> Self {
        let mut err = Self::new(
            StatusCode::BAD_REQUEST,
            ErrorOrigin::Client,
            "invalid_request_error",
            "invalid_header",
            format!("header `{name}`: {message}"),
        );
        err.param = Some(name.to_owned());
        err
    }

    pub fn with_headers(mut self, headers: Vec<(http::HeaderName, http::HeaderValue)>) -> Self {
        self.headers = headers;
        self
    }
}

impl From<RequestError> for GatewayError {
    fn from(e: RequestError) -> Self {
        Self::invalid_request(e)
    }
}

impl From<UpstreamError> for GatewayError {
    fn from(e: UpstreamError) -> Self {
        let (status, code) = match e.kind {
            UpstreamErrorKind::ConnectTimeout(_)
            | UpstreamErrorKind::FirstByteTimeout(_)
            | UpstreamErrorKind::IdleTimeout(_) => {
                (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout")
            }
            UpstreamErrorKind::Connect => (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
            UpstreamErrorKind::Protocol => (StatusCode::BAD_GATEWAY, "upstream_connection_error"),
            UpstreamErrorKind::TooLarge(_) => {
                (StatusCode::BAD_GATEWAY, "upstream_response_too_large")
            }
            UpstreamErrorKind::InvalidRequest => {
                (StatusCode::INTERNAL_SERVER_ERROR, "provider_misconfigured")
            }
            UpstreamErrorKind::Unsupported => (StatusCode::BAD_REQUEST, "unsupported_by_provider"),
            UpstreamErrorKind::Auth => (StatusCode::BAD_GATEWAY, "upstream_auth_failed"),
        };
        let (kind, origin) = match status {
            StatusCode::GATEWAY_TIMEOUT => ("timeout_error", ErrorOrigin::Upstream),
            StatusCode::BAD_REQUEST => ("invalid_request_error", ErrorOrigin::Client),
            _ => ("upstream_error", ErrorOrigin::Upstream),
        };
        let mut err = Self::new(status, origin, kind, code, e.to_string());
        err.retryable = e.retryable();
        err
    }
}

struct UpstreamOpenAiError {
    message: String,
    kind: String,
    code: Option<String>,
    param: Option<String>,
}

fn parse_openai_error(body: &[u8]) -> Option<UpstreamOpenAiError> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let text = |k: &str| match error.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Some(UpstreamOpenAiError {
        message: text("message")?,
        kind: text("type").unwrap_or_else(|| "invalid_request_error".to_owned()),
        code: text("code"),
        param: text("param"),
    })
}

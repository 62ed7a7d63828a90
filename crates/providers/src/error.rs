//! Upstream failures, saying which provider failed and how.

use std::time::Duration;

/// How an upstream call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// Could not connect (refused, DNS, TLS handshake).
    Connect,
    /// Connecting took longer than the connect timeout.
    ConnectTimeout(Duration),
    /// No response headers within the first-byte timeout.
    FirstByteTimeout(Duration),
    /// The body stalled longer than the idle timeout.
    IdleTimeout(Duration),
    /// The connection broke or the upstream spoke invalid HTTP.
    Protocol,
    /// The response body exceeded what the gateway buffers.
    TooLarge(usize),
    /// The request could not be built (bad URL or header from config).
    InvalidRequest,
    /// The provider has no such API (e.g. embeddings on Anthropic).
    Unsupported,
    /// Credentials could not be obtained (e.g. the OAuth token exchange failed).
    Auth,
}

/// An upstream failure: which provider, what happened, and the underlying cause as text.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.describe())]
pub struct UpstreamError {
    pub provider: String,
    pub kind: UpstreamErrorKind,
    pub detail: String,
}

impl UpstreamError {
    pub fn new(provider: &str, kind: UpstreamErrorKind, detail: impl Into<String>) -> Self {
        UpstreamError {
            provider: provider.to_owned(),
            kind,
            detail: detail.into(),
        }
    }

    /// True for failures worth retrying elsewhere (nothing reached the client yet).
    pub fn retryable(&self) -> bool {
        !matches!(
            self.kind,
            UpstreamErrorKind::InvalidRequest | UpstreamErrorKind::Unsupported
        )
    }

    /// True when the failure is a timeout (rendered as 504).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            UpstreamErrorKind::ConnectTimeout(_)
                | UpstreamErrorKind::FirstByteTimeout(_)
                | UpstreamErrorKind::IdleTimeout(_)
        )
    }

    fn describe(&self) -> String {
        let p = &self.provider;
        let detail = if self.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", self.detail)
        };
        match &self.kind {
            UpstreamErrorKind::Connect => format!("could not connect to provider `{p}`{detail}"),
            UpstreamErrorKind::ConnectTimeout(d) => {
                format!(
                    "connecting to provider `{p}` timed out after {} ms",
                    d.as_millis()
                )
            }
            UpstreamErrorKind::FirstByteTimeout(d) => {
                format!("provider `{p}` did not answer within {} ms", d.as_millis())
            }
            UpstreamErrorKind::IdleTimeout(d) => format!(
                "provider `{p}` sent nothing for {} ms in the middle of a response",
                d.as_millis()
            ),
            UpstreamErrorKind::Protocol => format!("connection to provider `{p}` failed{detail}"),
            UpstreamErrorKind::TooLarge(max) => {
                format!("provider `{p}` sent a response larger than {max} bytes")
            }
            UpstreamErrorKind::InvalidRequest => {
                format!("could not build the request for provider `{p}`{detail}")
            }
            UpstreamErrorKind::Unsupported => {
                format!("provider `{p}` does not offer this API{detail}")
            }
            UpstreamErrorKind::Auth => {
                format!("could not obtain credentials for provider `{p}`{detail}")
            }
        }
    }
}

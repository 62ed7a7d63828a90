//! What a web page may do with the gateway. A gateway on loopback with no keys (the default) is
//! reachable from every page the operator opens: a page can POST a "simple" request (`text/plain`,
//! a form — no CORS preflight) to spend the provider keys, and with DNS rebinding
//! (`evil.example` resolving to 127.0.0.1) read `/api/logs` or create keys. So, in front of every
//! route:
//! - on a loopback listener only loopback `Host` values are served (`localhost`, `*.localhost`,
//!   `127.0.0.0/8`, `[::1]`);
//! - a request with an `Origin` that is neither the gateway's own nor in `[server]
//!   allowed_origins` is refused; allowed ones get CORS (preflights answered here);
//! - bodies of the JSON API routes must be `application/json`, uploads (speech to text)
//!   `multipart/form-data`; passthrough bodies may be any type but the ones a page can send
//!   without a preflight (`text/plain`, form-encoded, none).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    CONTENT_LENGTH, HOST, ORIGIN, TRANSFER_ENCODING, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use switchyard_gateway::GatewayError;

use crate::render::{render_shape, Shape};
use crate::AppState;

/// The response headers a browser script may read.
const EXPOSED: &str = "cf-aig-request-id, cf-aig-log-id, cf-aig-cache-status, cf-aig-step, \
cf-aig-provider, cf-aig-model, cf-aig-routed-model, cf-aig-routing-reason, x-switchyard-cache, \
server-timing, retry-after, x-ratelimit-limit-requests, x-ratelimit-remaining-requests";

/// The browser-facing rules, from `[server]`.
#[derive(Debug, Clone, Default)]
pub struct BrowserPolicy {
    /// The listener is on loopback: only loopback `Host` values are served.
    pub loopback: bool,
    /// Lower-case `scheme://host[:port]` values, or `*`.
    pub allowed_origins: Vec<String>,
}

impl BrowserPolicy {
    pub fn new(server: &switchyard_config::ServerConfig) -> Self {
        BrowserPolicy {
            loopback: server.listen.ip().is_loopback(),
            allowed_origins: server.allowed_origins.clone(),
        }
    }

    fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || *o == origin)
    }
}

pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let policy = &state.browsers;
    let path = request.uri().path();
    let shape = Shape::of(path);
    let health = path == "/healthz" || path == "/readyz";
    let headers = request.headers();
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if policy.loopback && !health && !host.is_empty() && !is_loopback_host(host) {
        return render_shape(
            shape,
            &GatewayError::forbidden(format!(
                "host `{host}` refused: this gateway listens on loopback and answers only to localhost names (a page using DNS rebinding sends its own host)"
            )),
        );
    }
    let origin = headers.get(ORIGIN).and_then(|o| o.to_str().ok());
    let cors = match origin {
        None => None,
        Some(o) if is_same_origin(o, host) => None,
        Some(o) if policy.allows(o) => Some(o.to_owned()),
        Some(o) => {
            return render_shape(
                shape,
                &GatewayError::forbidden(format!(
                    "origin `{o}` refused: web pages may call this gateway only from the origins in `[server] allowed_origins`"
                )),
            )
        }
    };
    if let (Some(origin), true) = (&cors, request.method() == Method::OPTIONS) {
        return preflight(origin, headers);
    }
    if let Some(refusal) = body_type_refusal(&request) {
        return render_shape(shape, &refusal);
    }
    let mut response = next.run(request).await;
    if let Some(origin) = cors {
        allow_origin(response.headers_mut(), &origin);
        response.headers_mut().insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
    }
    response
}

/// `localhost`, `*.localhost`, an IPv4 loopback address or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => return v6.split(']').next() == Some("::1"),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The gateway's own pages: `Origin` is `http(s)://` + the request's `Host`.
fn is_same_origin(origin: &str, host: &str) -> bool {
    !host.is_empty()
        && origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host)
        })
}

fn allow_origin(headers: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    headers.append(VARY, HeaderValue::from_static("Origin"));
}

/// The answer to an allowed origin's CORS preflight.
fn preflight(origin: &str, request: &HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    allow_origin(headers, origin);
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    let asked = request
        .get(ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("content-type, authorization"));
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked);
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}

/// Routes whose bodies are JSON (the APIs, the admin API); the rest with bodies are passthrough.
fn is_json_route(path: &str) -> bool {
    const EXACT: &[&str] = &[
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/universal",
    ];
    if EXACT.contains(&path) || path.starts_with("/ai/run/") || path.starts_with("/api/") {
        return true;
    }
    // Cloudflare's shapes: `/v1/{account}/{gateway}` (universal) and `…/compat/…`; the REST API's
    // runs and Workers AI's OpenAI-compatible endpoints
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["v1", _, _]
            | ["v1", _, _, "compat", ..]
            | ["client", "v4", "accounts", _, "ai", "run", ..]
            | ["client", "v4", "accounts", _, "ai", "v1", ..]
    )
}

/// Workers AI's runs (`/ai/run/…`, Cloudflare's `…/ai/run/…`).
fn is_run_route(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["ai", "run", ..] | ["client", "v4", "accounts", _, "ai", "run", ..]
    )
}

/// Routes whose bodies are uploads (`multipart/form-data`): speech to text.
fn is_form_route(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["v1", "audio", "transcriptions" | "translations"]
            | [
                "client",
                "v4",
                "accounts",
                _,
                "ai",
                "v1",
                "audio",
                "transcriptions" | "translations"
            ]
    )
}

/// Why a request's body type is refused, if it is.
fn body_type_refusal(request: &Request) -> Option<GatewayError> {
    let headers = request.headers();
    let has_body = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    ) && (headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|n| n.trim() != "0"));
    if !has_body {
        return None;
    }
    let media = crate::body::media_type(headers);
    let json = media == "application/json" || media.ends_with("+json");
    let path = request.uri().path();
    let simple = matches!(
        media.as_str(),
        "" | "text/plain" | "application/x-www-form-urlencoded"
    );
    if is_form_route(path) {
        return (media != "multipart/form-data").then(|| {
            GatewayError::unsupported_media_type(format!(
                "this route takes `content-type: multipart/form-data` (the audio file and its fields){}",
                if media.is_empty() {
                    String::new()
                } else {
                    format!(", not `{media}`")
                }
            ))
        });
    }
    // Workers AI's speech runs take the audio itself (types a page cannot send unasked)
    let audio =
        is_run_route(path) && (media.starts_with("audio/") || media == "application/octet-stream");
    let refused = if is_json_route(path) {
        !json && !audio
    } else {
        simple
    };
    refused.then(|| {
        GatewayError::unsupported_media_type(format!(
            "request bodies must be sent as `content-type: application/json`{} (a browser page can send text/plain or a form to any site; this gateway does not take them)",
            if media.is_empty() {
                String::new()
            } else {
                format!(", not `{media}`")
            }
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "LOCALHOST:8787",
            "app.localhost",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:8787",
            "localhost.",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1",
            "[::2]",
            "127.0.0.1.nip.io",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn json_routes() {
        for p in [
            "/v1/chat/completions",
            "/universal",
            "/v1/acct/gw",
            "/v1/acct/gw/compat/chat/completions",
            "/ai/run/@cf/x",
            "/api/keys",
        ] {
            assert!(is_json_route(p), "{p}");
        }
        for p in [
            "/openai/chat/completions",
            "/v1/acct/gw/openai/chat/completions",
        ] {
            assert!(!is_json_route(p), "{p}");
        }
    }
}

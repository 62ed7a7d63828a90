//! Request bodies, read within the configured limit.

use axum::extract::Request;
use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use switchyard_gateway::GatewayError;

/// Reads the whole body. A declared `content-length` over the limit is refused before reading a
/// byte; a chunked body is cut off as soon as it crosses the limit, and one that takes longer than
/// `timeout` to arrive (a client trickling bytes holds a worker) is a 408.
pub async fn read_body(
    request: Request,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, GatewayError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(GatewayError::body_too_large(limit));
    }
    let collecting = Limited::new(request.into_body(), limit).collect();
    let Ok(collected) = tokio::time::timeout(timeout, collecting).await else {
        return Err(GatewayError::body_timeout(timeout));
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(GatewayError::body_too_large(limit)),
        Err(e) => Err(GatewayError::bad_body(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// A request's media type (`content-type` without its parameters), lower-case; empty when none.
pub(crate) fn media_type(headers: &http::HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

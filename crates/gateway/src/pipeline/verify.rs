//! An upstream `2xx` is a success only when it is what it claims to be: a JSON answer that
//! parses, or a stream whose first event parses. Anything else — an HTML page from a proxy in
//! front of the provider, a body cut short, a stream that opens with garbage — is the provider's
//! failure, retried and fallen back from like a 502 while nothing has reached the client.
//!
//! Both checks read and never rebuild: the JSON answer is relayed as the same bytes, and the bytes
//! read to find the first event are handed back to go out first.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::value::RawValue;
use switchyard_protocol::sse;
use switchyard_providers::provider::error_chain;
use switchyard_providers::{Provider, UpstreamBody, UpstreamErrorKind};
use tokio::time::Instant;

use crate::GatewayError;

/// How much of a stream is read looking for its first event before giving up on it.
const MAX_FIRST_EVENT: usize = 1024 * 1024;

/// `bytes` is a JSON object (a provider's answer), or the provider's failure.
pub(crate) fn json_answer(provider: &str, bytes: &[u8]) -> Result<(), GatewayError> {
    let object = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if object && serde_json::from_slice::<&RawValue>(bytes).is_ok() {
        return Ok(());
    }
    Err(GatewayError::invalid_upstream_answer(
        provider,
        "a body that is not a JSON object",
        bytes,
    ))
}

/// Reads `body` up to the end of its first event carrying data, and checks that the data is
/// JSON (comments and keep-alives before it are fine). Returns every byte read, to be sent first.
/// Waits at most the provider's idle timeout between chunks, and never past `ends_by`.
pub(crate) async fn first_event(
    provider: &Provider,
    body: &mut UpstreamBody,
    idle: Duration,
    ends_by: Option<Instant>,
) -> Result<Bytes, GatewayError> {
    let mut parser = sse::Parser::new();
    let mut events = Vec::new();
    let mut seen: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    loop {
        let idle_due = Instant::now() + idle;
        let due = ends_by.map_or(idle_due, |t| t.min(idle_due));
        let frame = match tokio::time::timeout_at(due, body.frame()).await {
            Err(_) if ends_by.is_some_and(|t| t <= due) => {
                return Err(GatewayError::total_timeout(provider.name()))
            }
            Err(_) => {
                return Err(provider
                    .error(UpstreamErrorKind::IdleTimeout(idle), "")
                    .into())
            }
            Ok(None) => {
                return Err(GatewayError::invalid_upstream_answer(
                    provider.name(),
                    "a stream that ended before its first event",
                    &joined,
                ))
            }
            Ok(Some(Err(e))) => {
                return Err(provider
                    .error(UpstreamErrorKind::Protocol, error_chain(&e))
                    .into())
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        parser.feed(&data, &mut events);
        // the usual case is one chunk holding the first event: no copy
        match seen.take() {
            None if joined.is_empty() => seen = Some(data),
            None => joined.extend_from_slice(&data),
            Some(first) => {
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
            }
        }
        if let Some(event) = events.first() {
            let data = event.data.trim();
            let usable = data.starts_with('{') && serde_json::from_str::<&RawValue>(data).is_ok();
            if !usable {
                return Err(GatewayError::invalid_upstream_answer(
                    provider.name(),
                    "a stream whose first event is not JSON",
                    event.data.as_bytes(),
                ));
            }
            return Ok(seen.unwrap_or_else(|| Bytes::from(joined)));
        }
        if seen.as_ref().map_or(joined.len(), Bytes::len) > MAX_FIRST_EVENT {
            return Err(GatewayError::invalid_upstream_answer(
                provider.name(),
                "a stream with no complete event in its first MiB",
                &[],
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_object_is_an_answer() {
        assert!(json_answer("p", b" {\"id\": 1}\n").is_ok());
        for bad in [
            &b"<html>502</html>"[..],
            b"{\"id\": ",
            b"[1, 2]",
            b"",
            b"{} trailing",
        ] {
            let err = json_answer("p", bad).unwrap_err();
            assert_eq!(err.code.as_deref(), Some("upstream_invalid_response"));
            assert!(err.retryable);
        }
    }
}

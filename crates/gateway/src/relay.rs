//! The body of a reply: a buffered JSON answer, or an upstream SSE stream relayed chunk by chunk.
//!
//! The stream relay forwards each upstream frame the moment it arrives (no buffering, no parsing on
//! the fast path). Two failures are turned into a final, well-formed SSE error event rather than a
//! connection the client cannot interpret: the upstream connection breaking, and the upstream going
//! silent for longer than its idle timeout. Dropping the relay (the client went away) drops the
//! upstream body, which closes that upstream connection: the provider stops generating.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Body, Frame, SizeHint};
use switchyard_protocol::openai::ErrorBody;
use switchyard_protocol::{anthropic, sse, Dialect};
use switchyard_providers::provider::error_chain;
use switchyard_providers::UpstreamBody;
use tokio::time::{Instant, Sleep};
use uuid::Uuid;

use crate::translate::Transcoder;
use crate::usage::{UsageSlot, UsageStrip};

/// Something that watches a body's frames pass and may act on them (the cache recording an
/// answer for storage and for requests coalesced onto it; a Responses answer being stored).
/// Polled in the body's place.
pub(crate) trait Tap: Send {
    /// The body being watched.
    fn body(&self) -> &ReplyBody;
    /// The watched body's next frame.
    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RelayError>>>;
    /// Whether nothing is left to send (a tap holding bytes back says no).
    fn is_end_stream(&self) -> bool {
        self.body().is_end_stream()
    }
}

/// A reply body (implements [`http_body::Body`]).
pub struct ReplyBody {
    inner: Inner,
}

enum Inner {
    Full(Option<Bytes>),
    Sse(Box<SseRelay>),
    /// A body being recorded for the cache (and for requests coalesced onto it).
    Recorded(Box<dyn Tap>),
    /// Chunks produced elsewhere (a coalesced request reading the leader's stream).
    Stream(Pin<Box<dyn Stream<Item = Result<Bytes, RelayError>> + Send>>),
}

impl ReplyBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        ReplyBody {
            inner: Inner::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// A body made of chunks produced elsewhere.
    pub fn stream(chunks: impl Stream<Item = Result<Bytes, RelayError>> + Send + 'static) -> Self {
        ReplyBody {
            inner: Inner::Stream(Box::pin(chunks)),
        }
    }

    /// `body`, recorded as it passes.
    pub(crate) fn recorded<T: Tap + 'static>(
        body: ReplyBody,
        recorder: impl FnOnce(ReplyBody) -> T,
    ) -> Self {
        ReplyBody {
            inner: Inner::Recorded(Box::new(recorder(body))),
        }
    }

    /// Takes the provider's usage chunk out of this relayed OpenAI stream, into `slot`.
    pub fn strip_usage(mut self, slot: UsageSlot) -> Self {
        if let Inner::Sse(relay) = &mut self.inner {
            relay.strip = Some(Box::new(UsageStrip::new(slot)));
        }
        self
    }

    /// The whole body, when it is already in memory.
    pub fn full_bytes(&self) -> Option<&Bytes> {
        match &self.inner {
            Inner::Full(bytes) => bytes.as_ref(),
            _ => None,
        }
    }

    /// Whether the relayed stream ended in an error (the upstream broke, stalled or was cut short)
    /// rather than completing.
    pub fn broken(&self) -> bool {
        match &self.inner {
            Inner::Sse(relay) => relay.broken,
            Inner::Recorded(r) => r.body().broken(),
            _ => false,
        }
    }

    pub fn empty() -> Self {
        ReplyBody {
            inner: Inner::Full(None),
        }
    }

    /// Relays an upstream body untouched (native passthrough), with the idle timeout.
    pub fn raw(upstream: UpstreamBody, mut info: StreamInfo) -> Self {
        info.dialect = None;
        Self::sse(upstream, info, None, None)
    }

    /// Relays an upstream SSE body, re-encoding it on the way when the dialects differ. `read`:
    /// the body's first bytes, already read from `upstream` (to check its first event).
    pub fn sse(
        upstream: UpstreamBody,
        relay: StreamInfo,
        transcoder: Option<Transcoder>,
        read: Option<Bytes>,
    ) -> Self {
        let idle_due = Instant::now() + relay.idle;
        let first = relay.ends_by.map_or(idle_due, |t| t.min(idle_due));
        let deadline = Box::pin(tokio::time::sleep_until(first));
        // relayed as the upstream sent it, in a client dialect: its end is checked
        let tail = match (&transcoder, relay.dialect) {
            (None, Some(dialect)) => Some(Tail::new(dialect)),
            _ => None,
        };
        ReplyBody {
            inner: Inner::Sse(Box::new(SseRelay {
                upstream,
                info: relay,
                deadline,
                last_activity: Instant::now(),
                bytes: 0,
                finished: false,
                broken: false,
                transcoder: transcoder.map(Box::new),
                strip: None,
                held: read.map(|bytes| Some(Ok(Frame::data(bytes)))),
                tail,
            })),
        }
    }
}

/// What the relay needs to know to report on the stream.
pub struct StreamInfo {
    /// The client's dialect, for error events; `None` relays bytes untouched (native passthrough),
    /// where a failure can only be signalled by aborting the response.
    pub dialect: Option<Dialect>,
    pub request_id: Uuid,
    pub provider: String,
    pub idle: Duration,
    /// When the whole answer must be done (the provider's `total_timeout_ms`), if bounded.
    pub ends_by: Option<Instant>,
    /// Where the relay says why it ended the stream with an error event (the request's record
    /// reads it: the client got a 200, but not the whole answer).
    pub fault: Option<FaultSlot>,
}

/// Why a relayed stream was ended early, once it was.
pub type FaultSlot = std::sync::Arc<std::sync::OnceLock<String>>;

struct SseRelay {
    upstream: UpstreamBody,
    info: StreamInfo,
    /// Fires at most `idle` after the last frame; re-armed lazily (only when it fires), so the
    /// per-chunk cost is one clock read, not a timer update.
    deadline: Pin<Box<Sleep>>,
    last_activity: Instant,
    bytes: u64,
    finished: bool,
    /// Ended with an error event rather than the upstream's own end.
    broken: bool,
    transcoder: Option<Box<Transcoder>>,
    /// Takes out the usage chunk the gateway asked for on the client's behalf.
    strip: Option<Box<UsageStrip>>,
    /// The end of the body, or its error, seen while coalescing, or the first bytes read before
    /// the relay began; reported on the next poll.
    held: Option<Option<Result<Frame<Bytes>, hyper::Error>>>,
    /// The last bytes relayed untranslated, to tell a stream that ended with its terminator
    /// from one cut short (`None`: not checked — translated, or relayed raw).
    tail: Option<Tail>,
}

impl SseRelay {
    fn error_event(&mut self, code: &str, message: String) -> Result<Frame<Bytes>, RelayError> {
        self.finished = true;
        self.broken = true;
        if let Some(fault) = &self.info.fault {
            let _ = fault.set(message.clone());
        }
        tracing::warn!(request_id = %self.info.request_id, provider = %self.info.provider, bytes = self.bytes, "{message}");
        match self.info.dialect {
            Some(dialect) => Ok(Frame::data(error_event(dialect, code, &message))),
            None => Err(RelayError(message)),
        }
    }

    fn overdue(&mut self) -> Result<Frame<Bytes>, RelayError> {
        let message = format!(
            "the answer from provider `{}` ran past its total timeout (total_timeout_ms)",
            self.info.provider
        );
        self.error_event("upstream_timeout", message)
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, RelayError>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        loop {
            match self.poll_upstream(cx) {
                // A transcoder may need more upstream bytes before it has a whole event to emit.
                Poll::Ready(Some(Ok(frame))) if frame.data_ref().is_some_and(Bytes::is_empty) => {}
                other => return other,
            }
        }
    }

    /// Appends every upstream frame that is already available to `first`, so the events of one
    /// upstream read go out as one chunk (fewer chunk headers, one iovec). Never waits: the first
    /// `Pending` (or the end, or an error, which are kept for the next poll) stops it.
    fn coalesce(&mut self, first: Bytes, cx: &mut Context<'_>) -> Bytes {
        const MAX: usize = 64 * 1024;
        let mut joined: Option<Vec<u8>> = None;
        while self.held.is_none() && joined.as_ref().map_or(first.len(), Vec::len) < MAX {
            match Pin::new(&mut self.upstream).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(more) = frame.into_data() else {
                        continue;
                    };
                    self.bytes += more.len() as u64;
                    joined
                        .get_or_insert_with(|| first.to_vec())
                        .extend_from_slice(&more);
                }
                Poll::Ready(other) => self.held = Some(other),
                Poll::Pending => break,
            }
        }
        joined.map_or(first, Bytes::from)
    }

    fn poll_upstream(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RelayError>>> {
        let polled = match self.held.take() {
            Some(held) => Poll::Ready(held),
            None => Pin::new(&mut self.upstream).poll_frame(cx),
        };
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                self.last_activity = Instant::now();
                if self.info.ends_by.is_some_and(|t| self.last_activity >= t) {
                    return Poll::Ready(Some(self.overdue()));
                }
                let Ok(data) = frame.into_data() else {
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::new()))));
                };
                self.bytes += data.len() as u64;
                let data = self.coalesce(data, cx);
                if let Some(tail) = &mut self.tail {
                    tail.push(&data);
                }
                match (&mut self.transcoder, &mut self.strip) {
                    (Some(t), _) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(t.feed(&data)))))),
                    (None, Some(s)) => {
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(s.filter(&data))))))
                    }
                    (None, None) => Poll::Ready(Some(Ok(Frame::data(data)))),
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let message = format!(
                    "the stream from provider `{}` broke: {}",
                    self.info.provider,
                    error_chain(&e)
                );
                Poll::Ready(Some(self.error_event("stream_broken", message)))
            }
            Poll::Ready(None) => {
                if let Some(tail) = self.strip.as_mut().map(|s| s.finish()) {
                    self.strip = None;
                    if !tail.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(tail)))));
                    }
                }
                if let Some(t) = &mut self.transcoder {
                    match t.finish() {
                        // Dialects without a terminator event (Gemini) close the answer here.
                        Some(tail) if !tail.is_empty() => {
                            self.transcoder = None;
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(tail)))));
                        }
                        Some(_) => {}
                        None => {
                            let message = format!(
                                "the stream from provider `{}` ended before the answer was complete",
                                self.info.provider
                            );
                            return Poll::Ready(Some(self.error_event("stream_broken", message)));
                        }
                    }
                }
                if let (Some(tail), Some(dialect)) = (&self.tail, self.info.dialect) {
                    if !ended_whole(dialect, tail) {
                        let message = format!(
                            "the stream from provider `{}` ended before the answer was complete",
                            self.info.provider
                        );
                        return Poll::Ready(Some(self.error_event("stream_broken", message)));
                    }
                }
                self.finished = true;
                Poll::Ready(None)
            }
            Poll::Pending => loop {
                ready!(self.deadline.as_mut().poll(cx));
                let now = Instant::now();
                if self.info.ends_by.is_some_and(|t| now >= t) {
                    return Poll::Ready(Some(self.overdue()));
                }
                let idle_due = self.last_activity + self.info.idle;
                let due = self.info.ends_by.map_or(idle_due, |t| t.min(idle_due));
                if due > now {
                    self.deadline.as_mut().reset(due);
                    continue;
                }
                let message = format!(
                    "provider `{}` sent nothing for {} ms in the middle of the stream",
                    self.info.provider,
                    self.info.idle.as_millis()
                );
                return Poll::Ready(Some(self.error_event("upstream_timeout", message)));
            },
        }
    }
}

impl Drop for SseRelay {
    fn drop(&mut self) {
        if !self.finished {
            tracing::info!(
                request_id = %self.info.request_id,
                provider = %self.info.provider,
                bytes = self.bytes,
                "client went away mid-stream; upstream request cancelled"
            );
        }
    }
}

/// The last bytes of a stream (at most 64), and whether an event that ends the stream went by
/// (for dialects whose last event is too long to be in those bytes: the Responses API's
/// `response.completed` carries the whole response).
struct Tail {
    buf: [u8; 64],
    len: usize,
    /// The event lines that end a stream, looked for as it passes.
    ends: &'static [&'static [u8]],
    ended: bool,
}

/// The Responses API's last events.
const RESPONSES_ENDS: &[&[u8]] = &[
    b"event: response.completed",
    b"event: response.incomplete",
    b"event: response.failed",
    b"event: error",
];

impl Tail {
    fn new(dialect: Dialect) -> Self {
        Tail {
            buf: [0; 64],
            len: 0,
            ends: match dialect {
                Dialect::Responses => RESPONSES_ENDS,
                _ => &[],
            },
            ended: false,
        }
    }

    fn push(&mut self, data: &[u8]) {
        if !self.ended && !self.ends.is_empty() {
            // in this chunk, or across its start: the ends are shorter than 32 bytes
            let has = |hay: &[u8]| {
                self.ends
                    .iter()
                    .any(|e| memchr::memmem::find(hay, e).is_some())
            };
            let before = &self.buf[self.len.saturating_sub(32)..self.len];
            let after = &data[..data.len().min(32)];
            let mut joint = [0u8; 64];
            joint[..before.len()].copy_from_slice(before);
            joint[before.len()..before.len() + after.len()].copy_from_slice(after);
            self.ended = has(data) || has(&joint[..before.len() + after.len()]);
        }
        let cap = self.buf.len();
        if data.len() >= cap {
            self.buf.copy_from_slice(&data[data.len() - cap..]);
            self.len = cap;
        } else {
            let keep = self.len.min(cap - data.len());
            self.buf.copy_within(self.len - keep..self.len, 0);
            self.buf[keep..keep + data.len()].copy_from_slice(data);
            self.len = keep + data.len();
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Whether a stream in `dialect` whose end is `tail` ended with its terminator: OpenAI's
/// `data: [DONE]`, Anthropic's `message_stop` event, the Responses API's `response.completed`
/// (or `.incomplete`, `.failed`), or an error event, which already told the client. Dialects
/// without a terminator count as whole.
fn ended_whole(dialect: Dialect, tail: &Tail) -> bool {
    let found = |needle: &[u8]| memchr::memmem::find(tail.bytes(), needle).is_some();
    match dialect {
        Dialect::OpenAi => {
            tail.bytes().trim_ascii_end().ends_with(b"[DONE]") || found(b"\"error\"")
        }
        Dialect::Anthropic => found(b"message_stop") || found(b"event: error"),
        Dialect::Responses => tail.ended,
        _ => true,
    }
}

/// The SSE event that ends a stream with an error, in the client's dialect.
pub fn error_event(dialect: Dialect, code: &str, message: &str) -> Bytes {
    match dialect {
        // Clients speak OpenAI or Anthropic; Gemini is a provider-side dialect only.
        Dialect::Anthropic => {
            let body = anthropic::client::error_body(502, &format!("{code}: {message}"));
            Bytes::from(format!("event: error\ndata: {body}\n\n"))
        }
        Dialect::Responses => {
            let body = serde_json::json!({"type": "error", "code": code, "message": message,
                                          "param": null, "sequence_number": 0});
            Bytes::from(format!("event: error\ndata: {body}\n\n"))
        }
        _ => {
            let body = ErrorBody::new(message.to_owned(), "upstream_error", None, Some(code));
            sse::data_event(&body.to_json())
        }
    }
}

/// A relayed body that could not be completed (native passthrough only; dialect-aware relays end
/// with an error event instead). The server aborts the response, so the client sees a truncated
/// body rather than a silently short one.
#[derive(Debug)]
pub struct RelayError(pub(crate) String);

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RelayError {}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = RelayError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RelayError>>> {
        match &mut self.inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Sse(relay) => relay.poll(cx),
            Inner::Recorded(recorder) => recorder.poll_frame(cx),
            Inner::Stream(chunks) => match ready!(chunks.as_mut().poll_next(cx)) {
                Some(Ok(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                Some(Err(e)) => Poll::Ready(Some(Err(e))),
                None => Poll::Ready(None),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(bytes) => bytes.is_none(),
            Inner::Sse(relay) => relay.finished,
            Inner::Recorded(recorder) => recorder.is_end_stream(),
            Inner::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Inner::Sse(_) | Inner::Recorded(_) | Inner::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_responses_stream_ends_with_its_long_last_event_wherever_the_chunks_split() {
        let completed = format!(
            "event: response.output_text.done\ndata: {{}}\n\nevent: response.completed\ndata: {{\"response\":{{\"output\":\"{}\"}}}}\n\n",
            "x".repeat(500)
        );
        for size in [1, 5, 17, 64, 100, completed.len()] {
            let mut tail = Tail::new(Dialect::Responses);
            for chunk in completed.as_bytes().chunks(size) {
                tail.push(chunk);
            }
            assert!(ended_whole(Dialect::Responses, &tail), "chunks of {size}");
        }
        let mut cut = Tail::new(Dialect::Responses);
        cut.push(
            b"event: response.output_text.delta\ndata: {\"delta\":\"response.completed\"}\n\n",
        );
        assert!(!ended_whole(Dialect::Responses, &cut));
        let mut done = Tail::new(Dialect::OpenAi);
        done.push(b"data: {}\n\ndata: [DONE]\n\n");
        assert!(ended_whole(Dialect::OpenAi, &done));
    }
}

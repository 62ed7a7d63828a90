//! [`ObservedBody`]: wraps a response body to time it (first byte, end) and keep the answer for
//! the log — by reference (`Bytes` clones), never by copying — then submits the observation when
//! the body ends or is dropped (the client went away). The observer finalizes it right then, so
//! the connection's buffers are not held past the response.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::{Observation, Observer};

/// Bytes kept from the end of a long answer: where streams carry their usage.
const TAIL: usize = 16 * 1024;

pub struct ObservedBody<B: Body> {
    inner: B,
    obs: Option<Observation>,
    observer: Arc<Observer>,
    received: Instant,
    head_bytes: usize,
    head_cap: usize,
    tail_bytes: usize,
}

impl<B: Body> ObservedBody<B> {
    /// `received`: when the request arrived; `head_cap`: how much of the answer to keep whole.
    pub fn new(
        inner: B,
        obs: Observation,
        observer: Arc<Observer>,
        received: Instant,
        head_cap: usize,
    ) -> Self {
        ObservedBody {
            inner,
            obs: Some(obs),
            observer,
            received,
            head_bytes: 0,
            head_cap,
            tail_bytes: 0,
        }
    }

    /// Keeps `data`; returns the time since arrival when it read the clock (the first byte).
    fn keep(&mut self, data: &Bytes) -> Option<Duration> {
        let obs = self.obs.as_mut()?;
        let mut now = None;
        if obs.first_byte.is_none() && !data.is_empty() {
            now = Some(self.received.elapsed());
            obs.first_byte = now;
        }
        obs.response_bytes += data.len() as u64;
        if self.head_bytes < self.head_cap {
            let take = data.len().min(self.head_cap - self.head_bytes);
            obs.response_head.push(data.slice(..take));
            self.head_bytes += take;
            return now;
        }
        obs.response_tail.push(data.clone());
        self.tail_bytes += data.len();
        while self.tail_bytes - obs.response_tail.first().map_or(0, Bytes::len) >= TAIL {
            let gone = obs.response_tail.remove(0);
            self.tail_bytes -= gone.len();
        }
        now
    }

    /// Submits the observation; `now`: the time since arrival if just read (an answer whose
    /// first frame is also its last: one clock read for both).
    fn finish(&mut self, aborted: bool, error: Option<String>, now: Option<Duration>) {
        if let Some(mut obs) = self.obs.take() {
            obs.total = now.unwrap_or_else(|| self.received.elapsed());
            obs.aborted = aborted;
            if error.is_some() {
                obs.error = error;
            }
            // a stream the relay ended with an error event: a 200, but not the whole answer
            if obs.error.is_none() {
                let fault = obs.served.as_ref().and_then(|s| s.stream_fault.as_ref());
                obs.error = fault.and_then(|f| f.get()).cloned();
            }
            self.observer.submit(obs);
        }
    }
}

impl<B> Body for ObservedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let now = match frame.data_ref() {
                    Some(data) => {
                        let data = data.clone();
                        self.keep(&data)
                    }
                    None => None,
                };
                // a body that knows it is done may not be polled again
                if self.inner.is_end_stream() {
                    self.finish(false, None, now);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let message = format!("the answer was cut short: {e}");
                self.finish(false, Some(message), None);
            }
            Poll::Ready(None) => self.finish(false, None, None),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body> Drop for ObservedBody<B> {
    fn drop(&mut self) {
        // Ended normally → already submitted. An empty body may never be polled; anything else
        // dropped before its end means the client went away.
        let aborted = !self.inner.is_end_stream();
        self.finish(aborted, None, None);
    }
}

//! Recording an answer as it goes to the first caller: a JSON body at once, a stream chunk by chunk
//! (no buffering, no added latency — each chunk is handed on in the same poll), stored only once it
//! has completed successfully.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};

use super::entry::{Entry, EntryMeta};
use super::flight::{Leader, Outcome};
use super::Shared;
use crate::relay::{RelayError, Tap};
use crate::{ClientApi, GatewayError, ReplyBody};

/// Everything needed to turn a finished answer into a stored entry.
pub(crate) struct StoreJob {
    pub shared: Arc<Shared>,
    pub leader: Leader,
    /// A caller-chosen key's tag, stored with the entry.
    pub tag: Option<switchyard_store::CacheKey>,
    pub ttl: Duration,
    pub api: ClientApi,
    pub provider: String,
    pub model: String,
    pub content_type: String,
    /// The prompt's vector (semantic cache): indexed once the entry is stored.
    pub similar: Option<super::semantic::Similar>,
}

impl StoreJob {
    /// The answer is complete: publish it to followers and write it, off the request path.
    pub(crate) fn finish(self, body: Bytes, stream: bool) {
        tokio::spawn(async move {
            let StoreJob {
                shared,
                leader,
                tag,
                ttl,
                api,
                provider,
                model,
                content_type,
                similar,
            } = self;
            let now = shared.clock.now_ms();
            let entry = Arc::new(Entry {
                meta: EntryMeta {
                    created_ms: now,
                    expires_ms: now.saturating_add(ttl.as_millis() as u64),
                    provider,
                    model,
                    stream,
                    content_type,
                    usage: crate::answer::usage_of(api, stream, &body),
                },
                body,
            });
            leader.finish(Outcome::Complete(entry.clone()));
            if shared.store(leader.key(), tag, &entry, ttl).await {
                if let Some(similar) = similar {
                    shared.index_answer(similar, leader.key(), ttl).await;
                }
            }
            // dropping the leader closes the flight: from now on the backend answers
            drop(leader);
        });
    }
}

/// A streamed body being recorded.
pub struct Recorder {
    body: ReplyBody,
    /// `None` once the outcome is decided.
    job: Option<StoreJob>,
    bytes: usize,
    /// Over `max_entry_bytes` with nobody following: chunks are no longer kept.
    dropped: bool,
}

impl Recorder {
    pub(crate) fn new(body: ReplyBody, job: StoreJob) -> Self {
        Recorder {
            body,
            job: Some(job),
            bytes: 0,
            dropped: false,
        }
    }

    fn record(&mut self, chunk: &Bytes) {
        let Some(job) = &mut self.job else {
            return;
        };
        self.bytes += chunk.len();
        if self.bytes > job.shared.max_entry_bytes && !self.dropped {
            // too large to store: no new followers; stop keeping chunks unless some are reading
            job.leader.detach();
            job.shared.metrics.note_too_large();
            if job.leader.followers() == 0 {
                self.dropped = true;
            }
        }
        if !self.dropped {
            job.leader.push(chunk.clone());
        }
    }

    fn end(&mut self) {
        let Some(job) = self.job.take() else {
            return;
        };
        if self.body.broken() {
            let err = GatewayError::stream_broken(&job.provider);
            job.leader.finish(Outcome::Failed(err));
        } else if self.dropped {
            job.leader.finish(Outcome::Abandoned);
        } else if self.bytes > job.shared.max_entry_bytes {
            // followers have it all, but it is not stored
            let body = job.leader.recorded();
            let now = job.shared.clock.now_ms();
            let entry = Entry {
                meta: EntryMeta {
                    created_ms: now,
                    expires_ms: now,
                    provider: job.provider.clone(),
                    model: job.model.clone(),
                    stream: true,
                    content_type: job.content_type.clone(),
                    usage: crate::answer::usage_of(job.api, true, &body),
                },
                body,
            };
            job.leader.finish(Outcome::Complete(Arc::new(entry)));
        } else {
            let body = job.leader.recorded();
            job.finish(body, true);
        }
    }
}

impl Tap for Recorder {
    fn body(&self) -> &ReplyBody {
        &self.body
    }

    fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RelayError>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.record(data);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(job) = self.job.take() {
                    job.leader
                        .finish(Outcome::Failed(GatewayError::stream_broken(&job.provider)));
                }
            }
            Poll::Ready(None) => self.end(),
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for Recorder {
    /// The caller went away mid-stream. With nobody following, the upstream call is cancelled (the
    /// relay is dropped). With followers, the stream is carried on in a task so they still get the
    /// whole answer (and it is stored).
    fn drop(&mut self) {
        let Some(job) = self.job.take() else {
            return;
        };
        if job.leader.followers() == 0 {
            return; // the leader's Drop tells any late follower to retry
        }
        let rest = Recorder {
            body: std::mem::replace(&mut self.body, ReplyBody::empty()),
            job: Some(job),
            bytes: self.bytes,
            dropped: self.dropped,
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(rest));
        }
    }
}

async fn drain(mut recorder: Recorder) {
    while let Some(frame) = std::future::poll_fn(|cx| recorder.poll_frame(cx)).await {
        if frame.is_err() {
            break;
        }
    }
}

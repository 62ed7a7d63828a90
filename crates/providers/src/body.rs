//! [`UpstreamBody`]: an upstream response body that drives its own connection and gives the
//! connection back to the pool once the body has been read to the end — or, for models served
//! in-process, the chunks the local runtime produces.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::Stream;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::pool::{Conn, Pool};

/// The body of an upstream response, streamed as it arrives.
pub struct UpstreamBody {
    inner: Inner,
}

enum Inner {
    Remote {
        body: Incoming,
        /// `None` once the body ended (the connection went back to the pool) or the connection
        /// closed.
        conn: Option<(Conn, Arc<Pool>)>,
    },
    /// From the local runtime: no connection, no transport errors.
    Local(BoxStream<'static, Bytes>),
}

impl UpstreamBody {
    pub(crate) fn new(body: Incoming, conn: Conn, pool: Arc<Pool>) -> Self {
        UpstreamBody {
            inner: Inner::Remote {
                body,
                conn: Some((conn, pool)),
            },
        }
    }

    /// A body produced in-process (a local model's answer). Dropping it drops the stream, which
    /// cancels the generation behind it.
    pub fn local(chunks: BoxStream<'static, Bytes>) -> Self {
        UpstreamBody {
            inner: Inner::Local(chunks),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let (body, conn) = match &mut self.inner {
            Inner::Local(chunks) => {
                return Pin::new(chunks)
                    .poll_next(cx)
                    .map(|c| c.map(|b| Ok(Frame::data(b))))
            }
            Inner::Remote { body, conn } => (body, conn),
        };
        // Two rounds: polling the body registers demand, which lets the connection decode the next
        // chunk from what it has already read.
        for _ in 0..2 {
            if let Some((c, _)) = conn {
                c.drive(cx);
            }
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Pending => continue,
                Poll::Ready(None) => {
                    if let Some((c, pool)) = conn.take() {
                        pool.checkin(c);
                    }
                    return Poll::Ready(None);
                }
                ready => return ready,
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Remote { body, .. } => body.is_end_stream(),
            Inner::Local(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Remote { body, .. } => body.size_hint(),
            Inner::Local(_) => SizeHint::default(),
        }
    }
}

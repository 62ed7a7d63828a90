//! [`UpstreamBody`]: an upstream response body that drives its own connection and gives the
//! connection back to the pool once the body has been read to the end.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::pool::{Conn, Pool};

/// The body of an upstream response, streamed as it arrives.
pub struct UpstreamBody {
    body: Incoming,
    /// `None` once the body ended (the connection went back to the pool) or the connection closed.
    conn: Option<(Conn, Arc<Pool>)>,
}

impl UpstreamBody {
    pub(crate) fn new(body: Incoming, conn: Conn, pool: Arc<Pool>) -> Self {
        UpstreamBody {
            body,
            conn: Some((conn, pool)),
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
        let this = &mut *self;
        // Two rounds: polling the body registers demand, which lets the connection decode the next
        // chunk from what it has already read.
        for _ in 0..2 {
            if let Some((conn, _)) = &mut this.conn {
                conn.drive(cx);
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => continue,
                Poll::Ready(None) => {
                    if let Some((conn, pool)) = this.conn.take() {
                        pool.checkin(conn);
                    }
                    return Poll::Ready(None);
                }
                ready => return ready,
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

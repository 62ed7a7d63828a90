//! An upstream that reads each request's head and then resets the connection (TCP RST, no
//! response at all): the "connection reset by peer" a crashing or overloaded server gives.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// A running resetter; stops when dropped.
pub struct ResettingUpstream {
    addr: SocketAddr,
    resets: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ResettingUpstream {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let resets = Arc::new(AtomicUsize::new(0));
        let counter = resets.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    if reset_after_head(stream).await.is_ok() {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Ok(ResettingUpstream { addr, resets, task })
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests received and answered with a reset.
    pub fn resets(&self) -> usize {
        self.resets.load(Ordering::SeqCst)
    }
}

impl Drop for ResettingUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn reset_after_head(mut stream: TcpStream) -> std::io::Result<()> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        seen.extend_from_slice(&buf[..n]);
    }
    // SO_LINGER 0: closing sends RST instead of FIN
    stream.set_zero_linger()?;
    drop(stream);
    Ok(())
}

//! Log lines go to stderr in batches: a line is appended to a shared buffer (one uncontended lock,
//! no system call, no thread woken while the writer is busy), and a background thread writes
//! what piled up. A quiet process's writer sleeps until a line comes and writes it at once; a
//! busy one (lines arrived while it wrote) lets [`PERIOD`]'s lines gather — less when [`SOON`]
//! bytes wait — so under load the access log costs one `write` per period instead of one (and a
//! thread wake-up) per line. Dropping the [`Guard`] writes what is left.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait in the buffer.
const PERIOD: Duration = Duration::from_millis(50);
/// Bytes that make the writer go at once.
const SOON: usize = 256 * 1024;
/// Beyond this (stderr blocked) new lines are counted and dropped, not buffered.
const CAP: usize = 16 * 1024 * 1024;

struct Shared {
    buf: Mutex<Vec<u8>>,
    wake: Condvar,
    /// The writer thread waits for a line (nothing was written in its last period).
    idle: AtomicBool,
    stop: AtomicBool,
    dropped: AtomicU64,
}

impl Shared {
    fn buf(&self) -> MutexGuard<'_, Vec<u8>> {
        self.buf.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What `tracing_subscriber` writes formatted lines to.
#[derive(Clone)]
pub struct Sink(Arc<Shared>);

/// Keeps the writer thread; dropping it writes what is buffered and stops the thread.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A sink writing to `out` (stderr in the binary), and its guard.
pub fn sink(mut out: impl Write + Send + 'static) -> (Sink, Guard) {
    let shared = Arc::new(Shared {
        buf: Mutex::new(Vec::with_capacity(64 * 1024)),
        wake: Condvar::new(),
        idle: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    });
    let writer = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(64 * 1024);
            loop {
                let stop = {
                    let mut buf = writer.buf();
                    if buf.is_empty() && !writer.stop.load(Ordering::Acquire) {
                        // quiet: sleep until a line comes, then write it at once
                        writer.idle.store(true, Ordering::Release);
                        while buf.is_empty() && !writer.stop.load(Ordering::Acquire) {
                            buf = writer
                                .wake
                                .wait(buf)
                                .unwrap_or_else(PoisonError::into_inner);
                        }
                        writer.idle.store(false, Ordering::Release);
                    } else if buf.len() < SOON && !writer.stop.load(Ordering::Acquire) {
                        // busy (lines came while the last batch was written): let a period's
                        // lines gather, woken early when SOON bytes wait
                        buf = writer
                            .wake
                            .wait_timeout(buf, PERIOD)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                    std::mem::swap(&mut *buf, &mut batch);
                    writer.stop.load(Ordering::Acquire) && batch.is_empty()
                };
                let dropped = writer.dropped.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    let _ = writeln!(out, "({dropped} log lines dropped: stderr was blocked)");
                }
                if !batch.is_empty() {
                    let _ = out.write_all(&batch);
                    let _ = out.flush();
                    batch.clear();
                }
                if stop {
                    return;
                }
            }
        })
        .ok();
    (Sink(Arc::clone(&shared)), Guard { shared, thread })
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One formatted line's writes.
pub struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buf = self.0.buf();
        if buf.len() + bytes.len() > CAP {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(bytes.len());
        }
        let was_empty = buf.is_empty();
        buf.extend_from_slice(bytes);
        let soon = buf.len() >= SOON;
        drop(buf);
        if (was_empty && self.0.idle.load(Ordering::Acquire)) || soon {
            self.0.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared byte vector standing in for stderr.
    #[derive(Clone, Default)]
    struct Out(Arc<Mutex<Vec<u8>>>);

    impl Write for Out {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_come_out_whole_in_order_within_a_period_and_at_the_end() {
        let out = Out::default();
        let (sink, guard) = sink(out.clone());
        sink.make_writer().write_all(b"first\n").unwrap();
        // a quiet sink wakes for a line and writes it within about a period
        let mut waited = Duration::ZERO;
        while out.0.lock().unwrap().is_empty() && waited < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
            waited += Duration::from_millis(5);
        }
        assert_eq!(&*out.0.lock().unwrap(), b"first\n");
        // and again once it went quiet
        std::thread::sleep(Duration::from_millis(120));
        sink.make_writer().write_all(b"second\n").unwrap();
        let mut waited = Duration::ZERO;
        while out.0.lock().unwrap().len() < 13 && waited < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
            waited += Duration::from_millis(5);
        }
        assert_eq!(&*out.0.lock().unwrap(), b"first\nsecond\n");
        for i in 0..1000 {
            sink.make_writer()
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1002);
        assert_eq!(lines[1001], "line 999");
    }
}

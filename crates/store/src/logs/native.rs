//! The SQLite log's connections, driven directly through rusqlite (no driver-neutral argument
//! conversion, no per-statement hand-off between threads): one writer connection owned by a
//! dedicated thread that runs every change in order — batches, patches, deletions, retention —
//! and one reader connection for queries, used from tokio's blocking pool. SQLite's WAL lets
//! both work on the file at once.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::StoreError;

/// What the writer thread keeps between jobs: its connection, the highest row key stored, and
/// the buffers blocks are packed in.
pub(crate) struct WriterState {
    pub conn: Connection,
    pub newest: i64,
    pub packer: super::packed::Packer,
    /// The buffers rows packed ahead are compressed in.
    pub outs: super::packed::Outs,
}

type Job = Box<dyn FnOnce(&mut WriterState) + Send>;

pub(crate) struct Native {
    jobs: mpsc::Sender<Job>,
    reader: Arc<Mutex<Connection>>,
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let unavailable =
        |e: rusqlite::Error| StoreError::Unavailable(format!("sqlite {}: {e}", path.display()));
    let conn = Connection::open(path).map_err(unavailable)?;
    conn.busy_timeout(Duration::from_secs(5))
        .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
        .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
        .map_err(unavailable)?;
    Ok(conn)
}

const STOPPED: &str = "the log thread has stopped";
const FAILED: &str = "the log write did not complete (it panicked)";

impl Native {
    /// Opens `path` twice (the schema must exist: the sqlx side migrates first) and starts the
    /// writer thread with `newest` as the highest row key stored.
    pub(crate) fn open(path: &Path, newest: i64) -> Result<Self, StoreError> {
        let conn = connect(path)?;
        let reader = Arc::new(Mutex::new(connect(path)?));
        let (jobs, rx) = mpsc::channel::<Job>();
        let mut state = WriterState {
            conn,
            newest,
            packer: super::packed::Packer::default(),
            outs: super::packed::Outs::default(),
        };
        std::thread::Builder::new()
            .name("log-sqlite".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    // a job that panics fails alone (its caller gets an error and keeps its
                    // rows, to spill): the thread, and every later batch, go on
                    let run = std::panic::AssertUnwindSafe(|| job(&mut state));
                    if std::panic::catch_unwind(run).is_err() {
                        tracing::error!("a request-log write panicked; the writer goes on");
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the log thread: {e}")))?;
        Ok(Native { jobs, reader })
    }

    /// Runs `job` on the writer thread, after every job sent before it.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut WriterState) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move |state: &mut WriterState| {
                let _ = reply.send(job(state));
            }))
            .map_err(|_| StoreError::Unavailable(STOPPED.into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable(FAILED.into()))
    }

    /// Runs `query` on the reader connection in one read transaction, off the async threads.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, String> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = reader.lock().unwrap_or_else(PoisonError::into_inner);
            // one snapshot for every statement of the query
            let tx = conn.transaction().map_err(|e| format!("sqlite: {e}"))?;
            query(&tx)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("log query: {e}")))?
        .map_err(StoreError::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_that_panics_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let native = Native::open(&dir.path().join("log.db"), 0).unwrap();
        let failed = native.write(|_| -> i32 { panic!("boom") }).await;
        assert!(failed.is_err());
        assert_eq!(native.write(|w| w.newest + 1).await.unwrap(), 1);
    }
}

//! The embedded SQLite request log: rows packed in compressed blocks ([`super::rowblocks`]),
//! written by one thread, read on another connection.
//!
//! A log is written far more than it is read, and on one core: a block costs one SQLite insert
//! per writer batch instead of one per request with its dozens of bound columns, and the
//! compressed rows and bodies are a fraction of the bytes. Queries decode the blocks their time
//! range and cursor select and filter rows in Rust.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::db::Retention;
use super::filter::Matcher;
use super::native::Native;
use super::packed::{self, PackedRows};
use super::rowblocks;
use super::{LogFilter, LogPatch, LogRecord};
use crate::StoreError;

pub(crate) struct SqliteLog {
    native: Native,
    /// The row count (this process is the file's only writer).
    rows: AtomicI64,
}

/// What a finished (or failed) writer job shared with its caller, back in the caller's hands.
fn take_back<T: Default>(shared: Arc<Mutex<T>>) -> T {
    match Arc::try_unwrap(shared) {
        Ok(m) => m.into_inner().unwrap_or_else(PoisonError::into_inner),
        // the job still holds it (it never ran: the thread is gone): take the contents
        Err(arc) => std::mem::take(&mut *arc.lock().unwrap_or_else(PoisonError::into_inner)),
    }
}

fn failed(e: String) -> StoreError {
    StoreError::Unavailable(e)
}

/// Runs `job` in one transaction on `conn`, committed when it succeeds.
fn in_tx<T>(
    conn: &mut rusqlite::Connection,
    job: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let tx = conn.transaction().map_err(|e| format!("sqlite: {e}"))?;
    let done = job(&tx)?;
    tx.commit().map_err(|e| format!("sqlite: {e}"))?;
    Ok(done)
}

impl SqliteLog {
    /// Opens the file (migrated by the caller), moving rows of the older per-row layout into
    /// blocks first.
    pub(crate) async fn open(path: &Path) -> Result<Self, StoreError> {
        let native = Native::open(path, i64::MIN)?;
        let moved = native
            .write(|w| {
                let (moved, totals) = in_tx(&mut w.conn, |tx| {
                    Ok((rowblocks::upgrade_v2(tx)?, rowblocks::totals(tx)?))
                })?;
                w.newest = totals.1.unwrap_or(i64::MIN);
                Ok::<_, String>((moved, totals.0))
            })
            .await?
            .map_err(failed)?;
        if moved.0 > 0 {
            tracing::info!(rows = moved.0, "moved the request log into row blocks");
        }
        Ok(SqliteLog {
            native,
            rows: AtomicI64::new(moved.1),
        })
    }

    /// Writes `rows` in one transaction; with `replay`, a row whose id is stored is skipped. On
    /// failure they come back with the error.
    pub(crate) async fn insert(
        &self,
        rows: Vec<LogRecord>,
        replay: bool,
    ) -> Result<(), (StoreError, Vec<LogRecord>)> {
        // the rows stay the caller's: freed where they were made (a record's strings freed on
        // the writer thread would each be a slower cross-thread free), and there for the spill
        // file when the write fails in any way, a panic included
        let shared = Arc::new(Mutex::new(rows));
        let job_rows = shared.clone();
        let result = self
            .native
            .write(move |w| {
                let rows = job_rows.lock().unwrap_or_else(PoisonError::into_inner);
                let mut newest = w.newest;
                let packer = &mut w.packer;
                let written = in_tx(&mut w.conn, |tx| {
                    rowblocks::append(tx, &rows, (&mut newest, packer), replay)
                });
                if written.is_ok() {
                    w.newest = newest;
                }
                written
            })
            .await;
        let rows = take_back(shared);
        match result {
            Ok(Ok(n)) => {
                self.rows.fetch_add(n as i64, Ordering::Relaxed);
                drop(rows);
                Ok(())
            }
            Ok(Err(e)) => Err((failed(e), rows)),
            Err(e) => Err((e, rows)),
        }
    }

    /// Writes rows packed ahead ([`PackedRows`]) in one transaction. They come back either way:
    /// emptied for reuse when written, as they were (for the spill file) on failure.
    pub(crate) async fn insert_packed(
        &self,
        mut packed: PackedRows,
    ) -> Result<PackedRows, (StoreError, PackedRows)> {
        // kept by the caller too, so a write that panics still leaves them to spill
        let shared = Arc::new(Mutex::new(std::mem::take(&mut packed)));
        let job_packed = shared.clone();
        let result = self
            .native
            .write(move |w| {
                let mut packed = job_packed.lock().unwrap_or_else(PoisonError::into_inner);
                let outs = &mut w.outs;
                let written = in_tx(&mut w.conn, |tx| packed::write(tx, &mut packed, outs));
                if written.is_ok() {
                    w.newest = w.newest.max(packed.newest().unwrap_or(i64::MIN));
                    packed.clear();
                }
                written
            })
            .await;
        let packed = take_back(shared);
        match result {
            Ok(Ok(n)) => {
                self.rows.fetch_add(n as i64, Ordering::Relaxed);
                Ok(packed)
            }
            Ok(Err(e)) => Err((failed(e), packed)),
            Err(e) => Err((e, packed)),
        }
    }

    pub(crate) async fn newest_seq(&self) -> Result<Option<i64>, StoreError> {
        self.native
            .read(|c| rowblocks::totals(c).map(|t| t.1))
            .await
    }

    pub(crate) async fn list(
        &self,
        f: &LogFilter,
        limit: u32,
    ) -> Result<Vec<LogRecord>, StoreError> {
        Matcher::new(f).map_err(StoreError::Invalid)?;
        let f = f.clone();
        self.native
            .read(move |c| rowblocks::list(c, &Matcher::new(&f)?, limit as usize))
            .await
    }

    pub(crate) async fn scan(&self, f: &LogFilter) -> Result<Vec<LogRecord>, StoreError> {
        Matcher::new(f).map_err(StoreError::Invalid)?;
        let f = f.clone();
        self.native
            .read(move |c| rowblocks::scan(c, &Matcher::new(&f)?))
            .await
    }

    pub(crate) async fn get(&self, id: &str) -> Result<Option<LogRecord>, StoreError> {
        let id = id.to_owned();
        self.native.read(move |c| rowblocks::get(c, &id)).await
    }

    pub(crate) async fn patch(&self, id: &str, patch: &LogPatch) -> Result<bool, StoreError> {
        let (id, patch) = (id.to_owned(), patch.clone());
        self.native
            .write(move |w| in_tx(&mut w.conn, |tx| rowblocks::patch(tx, &id, &patch)))
            .await?
            .map_err(failed)
    }

    /// Runs a removal on the writer thread and counts what went.
    async fn remove(
        &self,
        job: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<u64, String> + Send + 'static,
    ) -> Result<u64, StoreError> {
        let gone = self
            .native
            .write(move |w| in_tx(&mut w.conn, job))
            .await?
            .map_err(failed)?;
        self.rows.fetch_sub(gone as i64, Ordering::Relaxed);
        Ok(gone)
    }

    pub(crate) async fn delete(&self, f: &LogFilter) -> Result<u64, StoreError> {
        Matcher::new(f).map_err(StoreError::Invalid)?;
        let f = f.clone();
        self.remove(move |tx| rowblocks::delete(tx, &Matcher::new(&f)?))
            .await
    }

    /// Runs a change to stored responses on the writer thread (after every write before it).
    pub(crate) async fn responses<T: Send + 'static>(
        &self,
        job: impl FnOnce(&rusqlite::Connection) -> Result<T, String> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.native
            .write(move |w| job(&w.conn))
            .await?
            .map_err(failed)
    }

    /// Reads stored responses on the reader connection.
    pub(crate) async fn read_responses<T: Send + 'static>(
        &self,
        query: impl FnOnce(&rusqlite::Connection) -> Result<T, String> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.native.read(query).await
    }

    pub(crate) fn count(&self) -> u64 {
        self.rows.load(Ordering::Relaxed).max(0) as u64
    }

    /// Applies `delete-oldest` retention; returns how many rows went.
    pub(crate) async fn enforce(
        &self,
        retention: &Retention,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut gone = 0;
        if let Some(age) = retention.max_age {
            let old = LogFilter {
                until: Some(now_ms - age.as_millis() as i64),
                ..LogFilter::default()
            };
            gone += self.delete(&old).await?;
        }
        if let Some(max) = retention.max_rows {
            let excess = self.count().saturating_sub(max);
            if excess > 0 {
                gone += self
                    .remove(move |tx| rowblocks::delete_oldest(tx, excess))
                    .await?;
            }
        }
        Ok(gone)
    }
}

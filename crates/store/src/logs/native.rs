//! The SQLite insert path: one connection owned by a dedicated thread, one prepared statement per
//! batch inside one transaction, called directly (no per-statement hand-off between threads, no
//! driver-neutral argument conversion). Reads stay on the shared sqlx pool; SQLite's WAL lets both
//! connections work on the file at once.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use super::blocks::{BlockBuilder, BLOCK_BYTES};
use super::{seq_of, LogRecord};
use crate::StoreError;

const INSERT: &str = "INSERT OR IGNORE INTO request_logs (seq, id, created_at, finished_at, api_key_id, dialect, method, path, route, provider, requested_model, model, status, success, cached, cache_status, step, stream, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, tokens_estimated, cost_usd, custom_cost_usd, saved_cost_usd, duration_ms, ttft_ms, upstream_ms, overhead_ms, metadata, user_agent, error, feedback, score, body_block, body_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37)";

const INSERT_BLOCK: &str =
    "INSERT INTO request_log_bodies (block, first_seq, last_seq, data) VALUES (?1, ?2, ?3, ?4)";

/// Rows to write, and where to say how many were new (or why none were).
type Job = (
    Vec<LogRecord>,
    oneshot::Sender<Result<u64, (String, Vec<LogRecord>)>>,
);

pub(crate) struct NativeWriter {
    jobs: mpsc::Sender<Job>,
}

/// The block being filled: its id, the bodies, the span of row keys pointing into it.
struct OpenBlock {
    id: i64,
    bodies: BlockBuilder,
    seqs: Option<(i64, i64)>,
}

impl OpenBlock {
    fn note(&mut self, seq: i64) {
        self.seqs = Some(match self.seqs {
            Some((lo, hi)) => (lo.min(seq), hi.max(seq)),
            None => (seq, seq),
        });
    }

    fn flush(&mut self, tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
        if self.bodies.is_empty() {
            return Ok(());
        }
        let data = self.bodies.take();
        // a block no stored row points at (every row was a replayed duplicate) is not kept
        if let Some((lo, hi)) = self.seqs.take() {
            tx.prepare_cached(INSERT_BLOCK)?
                .execute(params![self.id, lo, hi, data])?;
            self.id += 1;
        }
        Ok(())
    }
}

/// Inserts one row; returns its row key, or `None` when the same id is already stored.
fn insert_row(
    stmt: &mut rusqlite::CachedStatement<'_>,
    tx: &rusqlite::Transaction<'_>,
    r: &LogRecord,
    body: Option<(i64, i64)>,
) -> rusqlite::Result<Option<i64>> {
    let mut seq = seq_of(&r.id);
    loop {
        let n = stmt.execute(params![
            seq,
            r.id,
            r.created_at,
            r.finished_at,
            r.api_key_id,
            r.dialect,
            r.method,
            r.path,
            r.route,
            r.provider,
            r.requested_model,
            r.model,
            r.status,
            i64::from(r.success),
            i64::from(r.cached),
            r.cache_status,
            r.step,
            i64::from(r.stream),
            r.input_tokens,
            r.output_tokens,
            r.cached_input_tokens,
            r.reasoning_tokens,
            i64::from(r.tokens_estimated),
            r.cost_usd,
            r.custom_cost_usd,
            r.saved_cost_usd,
            r.duration_ms,
            r.ttft_ms,
            r.upstream_ms,
            r.overhead_ms,
            r.metadata,
            r.user_agent,
            r.error,
            r.feedback,
            r.score,
            body.map(|b| b.0),
            body.map(|b| b.1),
        ])?;
        if n > 0 {
            return Ok(Some(tx.last_insert_rowid()));
        }
        // the key is taken: by this very row (a replay), or, rarely, by another id (the clock
        // went back across a restart) — then the row takes the next free key, so it is still
        // found near where its id says and a second replay still finds it
        let Some(key) = seq else { return Ok(None) };
        let holder: String =
            tx.query_row("SELECT id FROM request_logs WHERE seq = ?1", [key], |row| {
                row.get(0)
            })?;
        if holder == r.id {
            return Ok(None);
        }
        seq = Some(key + 1);
    }
}

fn write(conn: &mut Connection, rows: &[LogRecord], next_block: &mut i64) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    let mut inserted = 0;
    let mut block = OpenBlock {
        id: *next_block,
        bodies: BlockBuilder::default(),
        seqs: None,
    };
    {
        let mut stmt = tx.prepare_cached(INSERT)?;
        for r in rows {
            let body = (r.request_body.is_some() || r.response_body.is_some()).then(|| {
                let at = block
                    .bodies
                    .push(r.request_body.as_deref(), r.response_body.as_deref());
                (block.id, at as i64)
            });
            if let Some(seq) = insert_row(&mut stmt, &tx, r, body)? {
                inserted += 1;
                if body.is_some() {
                    block.note(seq);
                }
            }
            if block.bodies.len() >= BLOCK_BYTES {
                block.flush(&tx)?;
            }
        }
    }
    block.flush(&tx)?;
    tx.commit()?;
    *next_block = block.id;
    Ok(inserted)
}

impl NativeWriter {
    /// Opens `path` (the schema must exist: the sqlx side migrates first).
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)
            .map_err(|e| StoreError::Unavailable(format!("sqlite {}: {e}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(5))
            .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
            .map_err(|e| StoreError::Unavailable(format!("sqlite {}: {e}", path.display())))?;
        let mut next_block: i64 = conn
            .query_row(
                "SELECT COALESCE(MAX(block), 0) + 1 FROM request_log_bodies",
                [],
                |row| row.get(0),
            )
            .map_err(|e| StoreError::Unavailable(format!("sqlite {}: {e}", path.display())))?;
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("log-sqlite".into())
            .spawn(move || {
                while let Ok((rows, reply)) = rx.recv() {
                    let result = match write(&mut conn, &rows, &mut next_block) {
                        Ok(n) => Ok(n),
                        Err(e) => Err((e.to_string(), rows)),
                    };
                    let _ = reply.send(result);
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the log thread: {e}")))?;
        Ok(NativeWriter { jobs })
    }

    /// Writes `rows` in one transaction; returns how many were new (a replayed id is skipped).
    /// On failure they come back with the error.
    pub(crate) async fn insert(
        &self,
        rows: Vec<LogRecord>,
    ) -> Result<u64, (StoreError, Vec<LogRecord>)> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::SendError((rows, _))) = self.jobs.send((rows, reply)) {
            return Err((
                StoreError::Unavailable("the log thread has stopped".into()),
                rows,
            ));
        }
        match answer.await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err((e, rows))) => {
                Err((StoreError::Unavailable(format!("sqlite insert: {e}")), rows))
            }
            Err(_) => Err((
                StoreError::Unavailable("the log thread has stopped".into()),
                Vec::new(),
            )),
        }
    }
}

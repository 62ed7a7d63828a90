//! The SQLite insert path: one connection owned by a dedicated thread, one prepared statement per
//! batch inside one transaction, called directly (no per-statement hand-off between threads, no
//! driver-neutral argument conversion). Reads stay on the shared sqlx pool; SQLite's WAL lets both
//! connections work on the file at once.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use super::LogRecord;
use crate::StoreError;

const INSERT: &str = "INSERT INTO request_logs (id, created_at, finished_at, api_key_id, dialect, method, path, route, provider, requested_model, model, status, success, cached, cache_status, step, stream, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, tokens_estimated, cost_usd, custom_cost_usd, saved_cost_usd, duration_ms, ttft_ms, upstream_ms, overhead_ms, metadata, user_agent, error, request_body, response_body, feedback, score) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36) ON CONFLICT (id) DO NOTHING";

type Job = (
    Vec<LogRecord>,
    oneshot::Sender<Result<Vec<LogRecord>, (String, Vec<LogRecord>)>>,
);

pub(crate) struct NativeWriter {
    jobs: mpsc::Sender<Job>,
}

fn write(conn: &mut Connection, rows: &[LogRecord]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(INSERT)?;
        for r in rows {
            stmt.execute(params![
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
                r.request_body,
                r.response_body,
                r.feedback,
                r.score,
            ])?;
        }
    }
    tx.commit()
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
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("log-sqlite".into())
            .spawn(move || {
                while let Ok((rows, reply)) = rx.recv() {
                    let result = match write(&mut conn, &rows) {
                        Ok(()) => Ok(rows),
                        Err(e) => Err((e.to_string(), rows)),
                    };
                    let _ = reply.send(result);
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the log thread: {e}")))?;
        Ok(NativeWriter { jobs })
    }

    /// Writes `rows` in one transaction; on failure they come back with the error.
    pub(crate) async fn insert(
        &self,
        rows: Vec<LogRecord>,
    ) -> Result<(), (StoreError, Vec<LogRecord>)> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::SendError((rows, _))) = self.jobs.send((rows, reply)) {
            return Err((
                StoreError::Unavailable("the log thread has stopped".into()),
                rows,
            ));
        }
        match answer.await {
            Ok(Ok(_)) => Ok(()),
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

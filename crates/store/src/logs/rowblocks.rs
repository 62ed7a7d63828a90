//! The SQLite log's operations on row blocks, as plain functions on a connection: appending a
//! batch, finding a row, listing and scanning under a filter, and removing or patching rows
//! (a block is rewritten without them).
//!
//! One `request_log_blocks` row holds the rows of one writer batch (split past
//! [`ROWS_PER_BLOCK`] rows or [`BLOCK_BYTES`] of bodies): their row-key span and `created_at` span,
//! a count, the compressed rows ([`super::codec`]) and bodies ([`super::blocks`]). Batches
//! follow one another in time but rows finish out of arrival order, so neighbouring blocks' key
//! spans may overlap: listing merges, it does not assume.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::blocks;
use super::codec::{read_rows, Row, RowsBuilder};
use super::filter::{Matcher, SEQ_SLACK_MS};
use super::packed::Packer;
use super::{seq_at_ms, seq_of, LogPatch, LogRecord};

/// Rows per block at most.
pub(crate) const ROWS_PER_BLOCK: u64 = 1024;

type Result<T> = std::result::Result<T, String>;

fn db(e: rusqlite::Error) -> String {
    format!("sqlite: {e}")
}

/// The row key a record is stored under.
pub(crate) fn seq_for(r: &LogRecord) -> i64 {
    seq_of(&r.id).unwrap_or_else(|| seq_at_ms(r.created_at))
}

/// One block's summary row and its decoded rows.
struct Block {
    id: i64,
    first_at: i64,
    last_at: i64,
    count: i64,
    rows: Vec<u8>,
}

impl Block {
    fn decode(&self) -> Result<Vec<Row>> {
        read_rows(&self.rows)
    }
}

const COLS: &str = "block, first_at, last_at, n_rows, rows";

fn block_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Block> {
    Ok(Block {
        id: row.get(0)?,
        first_at: row.get(1)?,
        last_at: row.get(2)?,
        count: row.get(3)?,
        rows: row.get(4)?,
    })
}

/// Calls `each` for every block whose key span meets `[lo, hi)`, newest span first or oldest
/// first; `each` returns false to stop.
fn blocks_in(
    conn: &Connection,
    (lo, hi): (i64, i64),
    newest_first: bool,
    mut each: impl FnMut(Block, Option<i64>) -> Result<bool>,
) -> Result<()> {
    let sql = if newest_first {
        format!("SELECT {COLS}, last_seq FROM request_log_blocks WHERE last_seq >= ?1 AND first_seq < ?2 ORDER BY last_seq DESC")
    } else {
        format!("SELECT {COLS}, first_seq FROM request_log_blocks WHERE last_seq >= ?1 AND first_seq < ?2 ORDER BY first_seq")
    };
    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let mut rows = stmt.query(params![lo, hi]).map_err(db)?;
    let mut current: Option<Block> = None;
    while let Some(row) = rows.next().map_err(db)? {
        let next = block_of(row).map_err(db)?;
        let edge: i64 = row.get(5).map_err(db)?;
        if let Some(block) = current.replace(next) {
            if !each(block, Some(edge))? {
                return Ok(());
            }
        }
    }
    if let Some(block) = current {
        each(block, None)?;
    }
    Ok(())
}

/// Appends `rows` as new blocks. With `replay`, a row whose id is already stored is skipped
/// (`newest`, the highest row key stored, bounds where such rows can be); without, the rows are
/// known to be new (the gateway's own, written once).
pub(crate) fn append(
    tx: &Transaction<'_>,
    rows: &[LogRecord],
    (newest, out): (&mut i64, &mut Packer),
    replay: bool,
) -> Result<u64> {
    let mut seen: HashSet<&str> = HashSet::new();
    let old: Vec<i64> = if replay {
        rows.iter().map(seq_for).filter(|s| *s <= *newest).collect()
    } else {
        Vec::new()
    };
    let stored = match (old.iter().min(), old.iter().max()) {
        (Some(&lo), Some(&hi)) => ids_in(tx, lo, hi)?,
        _ => HashSet::new(),
    };
    out.reset();
    for r in rows {
        if replay && (stored.contains(&r.id) || !seen.insert(&r.id)) {
            continue;
        }
        let seq = seq_for(r);
        out.push(
            tx,
            seq,
            r,
            (r.request_body.as_deref(), r.response_body.as_deref()),
        )?;
        *newest = (*newest).max(seq);
    }
    out.flush(tx)
}

/// The ids stored with row keys in `[lo, hi]`.
fn ids_in(conn: &Connection, lo: i64, hi: i64) -> Result<HashSet<String>> {
    let mut ids = HashSet::new();
    blocks_in(conn, (lo, hi.saturating_add(1)), false, |b, _| {
        ids.extend(
            b.decode()?
                .into_iter()
                .filter(|r| (lo..=hi).contains(&r.seq))
                .map(|r| r.record.id),
        );
        Ok(true)
    })?;
    Ok(ids)
}

/// Newest first, at most `limit`, without bodies.
pub(crate) fn list(conn: &Connection, m: &Matcher<'_>, limit: usize) -> Result<Vec<LogRecord>> {
    let mut found: Vec<Row> = Vec::new();
    let newest_first = |a: &Row, b: &Row| (b.seq, &b.record.id).cmp(&(a.seq, &a.record.id));
    if limit == 0 {
        return Ok(Vec::new());
    }
    blocks_in(conn, (m.lo, m.hi), true, |b, next_last| {
        found.extend(
            b.decode()?
                .into_iter()
                .filter(|r| m.matches(r.seq, &r.record)),
        );
        if found.len() >= limit {
            found.sort_unstable_by(newest_first);
            found.truncate(limit);
            // every row left to read has a key ≤ the next block's last one
            if next_last.is_none_or(|l| found[limit - 1].seq > l) {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    found.sort_unstable_by(newest_first);
    found.truncate(limit);
    Ok(found.into_iter().map(|r| r.record).collect())
}

/// Every matching row, oldest first, without bodies.
pub(crate) fn scan(conn: &Connection, m: &Matcher<'_>) -> Result<Vec<LogRecord>> {
    let mut found: Vec<Row> = Vec::new();
    blocks_in(conn, (m.lo, m.hi), false, |b, _| {
        found.extend(
            b.decode()?
                .into_iter()
                .filter(|r| m.matches(r.seq, &r.record)),
        );
        Ok(true)
    })?;
    found.sort_unstable_by(|a, b| (a.seq, &a.record.id).cmp(&(b.seq, &b.record.id)));
    Ok(found.into_iter().map(|r| r.record).collect())
}

/// The block holding `id`, its rows, and the row's index: looked for where the id's key says,
/// then near it (rows upgraded from schema version 1 took keys from their arrival ms), and for
/// ids the gateway did not make, everywhere.
fn find(conn: &Connection, id: &str) -> Result<Option<(Block, Vec<Row>, usize)>> {
    let spans = match seq_of(id) {
        Some(s) => {
            let slack = seq_at_ms(SEQ_SLACK_MS);
            vec![(s, s + 1), (s - slack, s + slack)]
        }
        None => vec![(i64::MIN, i64::MAX)],
    };
    for span in spans {
        let mut hit = None;
        blocks_in(conn, span, true, |b, _| {
            let rows = b.decode()?;
            if let Some(i) = rows.iter().position(|r| r.record.id == id) {
                hit = Some((b, rows, i));
                return Ok(false);
            }
            Ok(true)
        })?;
        if hit.is_some() {
            return Ok(hit);
        }
    }
    Ok(None)
}

fn bodies_of(conn: &Connection, block: i64) -> Result<Option<Vec<u8>>> {
    let data: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT bodies FROM request_log_blocks WHERE block = ?1")
        .and_then(|mut s| s.query_row([block], |r| r.get(0)).optional())
        .map_err(db)?;
    data.flatten().map(|d| blocks::open(&d)).transpose()
}

/// One row, bodies included.
pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<LogRecord>> {
    let Some((block, mut rows, i)) = find(conn, id)? else {
        return Ok(None);
    };
    let row = rows.swap_remove(i);
    let mut record = row.record;
    if let (Some(at), Some(raw)) = (row.body_at, bodies_of(conn, block.id)?) {
        (record.request_body, record.response_body) = blocks::read(&raw, at as usize)?;
    }
    Ok(Some(record))
}

/// Applies `patch` to the row `id`; false when there is none.
pub(crate) fn patch(tx: &Transaction<'_>, id: &str, patch: &LogPatch) -> Result<bool> {
    let Some((block, mut rows, i)) = find(tx, id)? else {
        return Ok(false);
    };
    let r = &mut rows[i].record;
    if let Some(v) = patch.feedback {
        r.feedback = Some(v);
    }
    if let Some(v) = patch.score {
        r.score = Some(v);
    }
    if let Some(m) = &patch.metadata {
        r.metadata = Some(serde_json::Value::Object(m.clone()).to_string());
    }
    // the bodies do not move: only the rows section is rewritten
    let mut packed = RowsBuilder::default();
    for row in &rows {
        packed.push(row.seq, &row.record, row.body_at);
    }
    tx.prepare_cached("UPDATE request_log_blocks SET rows = ?1 WHERE block = ?2")
        .and_then(|mut s| s.execute(params![packed.take(), block.id]))
        .map_err(db)?;
    Ok(true)
}

/// Rewrites `block` with only the rows `keep` accepts (their bodies too; the others' bodies are
/// gone from the file, not just unreferenced). Returns how many rows went.
fn keep_only(
    tx: &Transaction<'_>,
    block: &Block,
    rows: Vec<Row>,
    keep: impl Fn(&Row) -> bool,
) -> Result<u64> {
    let before = rows.len();
    let kept: Vec<Row> = rows.into_iter().filter(|r| keep(r)).collect();
    let gone = (before - kept.len()) as u64;
    if gone == 0 {
        return Ok(0);
    }
    tx.prepare_cached("DELETE FROM request_log_blocks WHERE block = ?1")
        .and_then(|mut s| s.execute([block.id]))
        .map_err(db)?;
    if kept.is_empty() {
        return Ok(gone);
    }
    let raw = if kept.iter().any(|r| r.body_at.is_some()) {
        bodies_of(tx, block.id)?
    } else {
        None
    };
    let mut out = Packer::default();
    for r in &kept {
        let bodies = match (r.body_at, &raw) {
            (Some(at), Some(raw)) => blocks::read(raw, at as usize)?,
            _ => (None, None),
        };
        out.push(
            tx,
            r.seq,
            &r.record,
            (bodies.0.as_deref(), bodies.1.as_deref()),
        )?;
    }
    out.flush(tx)?;
    Ok(gone)
}

/// Deletes the rows `m` matches; returns how many.
pub(crate) fn delete(tx: &Transaction<'_>, m: &Matcher<'_>) -> Result<u64> {
    let mut blocks = Vec::new();
    blocks_in(tx, (m.lo, m.hi), false, |b, _| {
        blocks.push(b);
        Ok(true)
    })?;
    let mut gone = 0;
    for b in blocks {
        if m.time_only() && m.covers(b.first_at, b.last_at) {
            tx.prepare_cached("DELETE FROM request_log_blocks WHERE block = ?1")
                .and_then(|mut s| s.execute([b.id]))
                .map_err(db)?;
            gone += b.count as u64;
            continue;
        }
        let rows = b.decode()?;
        gone += keep_only(tx, &b, rows, |r| !m.matches(r.seq, &r.record))?;
    }
    Ok(gone)
}

/// Deletes the `n` oldest rows (by row key); returns how many went.
pub(crate) fn delete_oldest(tx: &Transaction<'_>, n: u64) -> Result<u64> {
    if n == 0 {
        return Ok(0);
    }
    let n = n as usize;
    let mut loaded: Vec<(Block, Vec<Row>)> = Vec::new();
    let mut keys: Vec<(i64, String)> = Vec::new();
    blocks_in(tx, (i64::MIN, i64::MAX), false, |b, next_first| {
        let rows = b.decode()?;
        keys.extend(rows.iter().map(|r| (r.seq, r.record.id.clone())));
        loaded.push((b, rows));
        if keys.len() >= n {
            keys.sort_unstable();
            keys.truncate(n);
            // the blocks left start at or past `next_first`: none of their rows is older
            if next_first.is_none_or(|f| keys[n - 1].0 < f) {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    keys.sort_unstable();
    keys.truncate(n);
    let doomed: HashSet<(i64, &str)> = keys.iter().map(|(s, id)| (*s, id.as_str())).collect();
    let mut gone = 0;
    for (b, rows) in loaded {
        gone += keep_only(tx, &b, rows, |r| {
            !doomed.contains(&(r.seq, r.record.id.as_str()))
        })?;
    }
    Ok(gone)
}

/// How many rows are stored, and the highest row key.
pub(crate) fn totals(conn: &Connection) -> Result<(i64, Option<i64>)> {
    conn.query_row(
        "SELECT COALESCE(SUM(n_rows), 0), MAX(last_seq) FROM request_log_blocks",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(db)
}

/// Moves the rows of a schema-version-2 `request_logs` table (bodies inline or in
/// `request_log_bodies`) into blocks, and drops the old tables. Returns how many rows moved.
pub(crate) fn upgrade_v2(tx: &Transaction<'_>) -> Result<u64> {
    let exists: Option<String> = tx
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'request_logs'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    if exists.is_none() {
        return Ok(0);
    }
    let mut body_blocks: HashMap<i64, Vec<u8>> = HashMap::new();
    let mut out = Packer::default();
    {
        let mut stmt = tx
            .prepare(&format!(
                "SELECT seq, {}, body_block, body_at FROM request_logs ORDER BY seq",
                super::schema::COLUMNS.join(", ")
            ))
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            let (seq, mut r) = legacy_row(row).map_err(db)?;
            let block: Option<i64> = row.get("body_block").map_err(db)?;
            let at: Option<i64> = row.get("body_at").map_err(db)?;
            if let (Some(block), Some(at)) = (block, at) {
                let raw = match body_blocks.entry(block) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => {
                        let data: Vec<u8> = tx
                            .query_row(
                                "SELECT data FROM request_log_bodies WHERE block = ?1",
                                [block],
                                |r| r.get(0),
                            )
                            .map_err(db)?;
                        e.insert(blocks::open(&data)?)
                    }
                };
                (r.request_body, r.response_body) = blocks::read(raw, at as usize)?;
            }
            out.push(
                tx,
                seq,
                &r,
                (r.request_body.as_deref(), r.response_body.as_deref()),
            )?;
        }
    }
    let moved = out.flush(tx)?;
    tx.execute_batch("DROP TABLE request_logs; DROP TABLE IF EXISTS request_log_bodies")
        .map_err(db)?;
    Ok(moved)
}

fn legacy_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, LogRecord)> {
    let flag = |c: &str| -> rusqlite::Result<bool> { Ok(r.get::<_, i64>(c)? != 0) };
    Ok((
        r.get("seq")?,
        LogRecord {
            id: r.get("id")?,
            created_at: r.get("created_at")?,
            finished_at: r.get("finished_at")?,
            api_key_id: r.get("api_key_id")?,
            dialect: r.get("dialect")?,
            method: r.get("method")?,
            path: r.get("path")?,
            route: r.get("route")?,
            provider: r.get("provider")?,
            requested_model: r.get("requested_model")?,
            model: r.get("model")?,
            status: r.get("status")?,
            success: flag("success")?,
            cached: flag("cached")?,
            cache_status: r.get("cache_status")?,
            step: r.get("step")?,
            stream: flag("stream")?,
            input_tokens: r.get("input_tokens")?,
            output_tokens: r.get("output_tokens")?,
            cached_input_tokens: r.get("cached_input_tokens")?,
            reasoning_tokens: r.get("reasoning_tokens")?,
            tokens_estimated: flag("tokens_estimated")?,
            cost_usd: r.get("cost_usd")?,
            custom_cost_usd: r.get("custom_cost_usd")?,
            saved_cost_usd: r.get("saved_cost_usd")?,
            duration_ms: r.get("duration_ms")?,
            ttft_ms: r.get("ttft_ms")?,
            upstream_ms: r.get("upstream_ms")?,
            overhead_ms: r.get("overhead_ms")?,
            metadata: r.get("metadata")?,
            user_agent: r.get("user_agent")?,
            error: r.get("error")?,
            request_body: r.get("request_body")?,
            response_body: r.get("response_body")?,
            feedback: r.get("feedback")?,
            score: r.get("score")?,
        },
    ))
}

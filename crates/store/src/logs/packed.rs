//! Rows packed into SQLite row blocks ahead of their transaction.
//!
//! [`PackedRows`] is what the gateway fills as each answer ends: the row is encoded into the
//! open block's rows section ([`super::codec`]) and its bodies appended to the block's bodies
//! ([`super::blocks`]) right then, while record and bodies are still in the CPU's cache, so the
//! request leaves nothing behind but those bytes — no record kept alive for the writer, no body
//! copied into a string. The writer later hands the whole lot to [`super::LogStore::append_packed`],
//! which compresses the bodies and inserts one SQLite row per block ([`write`]).
//!
//! [`Packer`] is the same for the store's own rewrites (replays, deletions, upgrades): rows are
//! written block by block as blocks fill, inside the caller's transaction.

use rusqlite::{params, Transaction};

use super::blocks::{self, BlockBuilder, Compressed, BLOCK_BYTES};
use super::codec::{read_rows, uuid_value, RowsBuilder};
use super::rowblocks::{seq_for, ROWS_PER_BLOCK};
use super::{seq_of_value, LogRecord};

/// A block whose rows section is final.
struct Sealed {
    rows: Vec<u8>,
    /// The bodies, not yet compressed (`None`: no row of the block has any).
    bodies: Option<Vec<u8>>,
    span: [i64; 4],
    count: i64,
}

/// Log rows packed into blocks, not yet stored. Clearing keeps the buffers, so a writer that
/// swaps two of these allocates nothing once they have grown to its batch size.
#[derive(Default)]
pub struct PackedRows {
    rows: RowsBuilder,
    bodies: BlockBuilder,
    /// The open block's row-key span and `created_at` span.
    span: Option<[i64; 4]>,
    sealed: Vec<Sealed>,
    /// The buffers of blocks written, for the next sealed ones (else each block's replacement
    /// would grow from an empty vector again).
    pool: Vec<Vec<u8>>,
    len: usize,
}

impl PackedRows {
    /// Packs `record` (its own body fields are not read) with the bodies given.
    pub fn push(&mut self, record: &LogRecord, request: Option<&[u8]>, response: Option<&[u8]>) {
        // the id is read once, for the row key and for the row
        let id = uuid_value(&record.id);
        let seq = id.and_then(seq_of_value).unwrap_or_else(|| seq_for(record));
        self.push_keyed((seq, id), record, (request, response));
    }

    pub(crate) fn push_at(
        &mut self,
        seq: i64,
        r: &LogRecord,
        bodies: (Option<&[u8]>, Option<&[u8]>),
    ) {
        self.push_keyed((seq, uuid_value(&r.id)), r, bodies);
    }

    fn push_keyed(
        &mut self,
        (seq, id): (i64, Option<u128>),
        r: &LogRecord,
        (request, response): (Option<&[u8]>, Option<&[u8]>),
    ) {
        let at = (request.is_some() || response.is_some())
            .then(|| self.bodies.push(request, response) as u64);
        self.rows.push_keyed((seq, id), r, at);
        let t = r.created_at;
        self.span = Some(match self.span {
            Some([lo, hi, first, last]) => [lo.min(seq), hi.max(seq), first.min(t), last.max(t)],
            None => [seq, seq, t, t],
        });
        self.len += 1;
        if self.rows.count() >= ROWS_PER_BLOCK || self.bodies.len() >= BLOCK_BYTES {
            self.seal();
        }
    }

    /// Closes the open block (a later push starts another).
    fn seal(&mut self) {
        if let Some(span) = self.span.take() {
            let count = self.rows.count() as i64;
            let rows = self.rows.swap_section(self.pool.pop().unwrap_or_default());
            let bodies = (!self.bodies.is_empty())
                .then(|| self.bodies.swap_raw(self.pool.pop().unwrap_or_default()));
            self.sealed.push(Sealed {
                rows,
                bodies,
                span,
                count,
            });
        }
    }

    /// How many rows are packed.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The highest row key packed.
    pub(crate) fn newest(&self) -> Option<i64> {
        let open = self.span.map(|s| s[1]);
        self.sealed.iter().map(|s| s.span[1]).chain(open).max()
    }

    /// Empty again; the buffers are kept.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.bodies.clear();
        self.span = None;
        self.recycle();
        self.len = 0;
    }

    /// The sealed blocks' buffers back to the pool.
    fn recycle(&mut self) {
        for s in self.sealed.drain(..) {
            self.pool.push(s.rows);
            self.pool.extend(s.bodies);
        }
    }

    /// The rows as records, bodies included: what the writer spills when the store fails.
    pub fn records(&self) -> Result<Vec<LogRecord>, String> {
        let mut out = Vec::with_capacity(self.len);
        let open = self
            .span
            .map(|_| (self.rows.section_copy(), self.bodies.raw()));
        let sealed = self
            .sealed
            .iter()
            .map(|s| (s.rows.clone(), s.bodies.as_deref().unwrap_or_default()));
        for (rows, bodies) in sealed.chain(open) {
            for row in read_rows(&rows)? {
                let mut record = row.record;
                if let Some(at) = row.body_at {
                    (record.request_body, record.response_body) =
                        blocks::read(bodies, at as usize)?;
                }
                out.push(record);
            }
        }
        Ok(out)
    }
}

/// The compression buffers a writer reuses from block to block.
#[derive(Default)]
pub(crate) struct Outs {
    bodies: Compressed,
}

fn insert(
    tx: &Transaction<'_>,
    [lo, hi, first, last]: [i64; 4],
    count: i64,
    rows: &[u8],
    bodies: Option<&[u8]>,
) -> Result<(), String> {
    tx.prepare_cached(
        "INSERT INTO request_log_blocks (first_seq, last_seq, first_at, last_at, n_rows, rows, bodies) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| s.execute(params![lo, hi, first, last, count, rows, bodies]))
    .map(|_| ())
    .map_err(|e| format!("sqlite: {e}"))
}

/// Inserts the blocks sealed so far; with `all`, the open one too. `packed` is left as it is:
/// until the transaction commits, its rows are what [`PackedRows::records`] spills.
fn write_blocks(
    tx: &Transaction<'_>,
    packed: &mut PackedRows,
    outs: &mut Outs,
    all: bool,
) -> Result<(), String> {
    for s in &packed.sealed {
        let bodies = s.bodies.as_deref().map(|raw| {
            blocks::compress_into(raw, &mut outs.bodies);
            outs.bodies.bytes()
        });
        insert(tx, s.span, s.count, &s.rows, bodies)?;
    }
    if let (true, Some(span)) = (all, packed.span) {
        let count = packed.rows.count() as i64;
        let bodies = (!packed.bodies.is_empty()).then(|| {
            blocks::compress_into(packed.bodies.raw(), &mut outs.bodies);
            outs.bodies.bytes()
        });
        insert(tx, span, count, packed.rows.section(), bodies)?;
    }
    Ok(())
}

/// Inserts every block of `packed` (compressing the bodies) in `tx`; returns how many rows.
/// The caller clears `packed` once `tx` commits.
pub(crate) fn write(
    tx: &Transaction<'_>,
    packed: &mut PackedRows,
    outs: &mut Outs,
) -> Result<u64, String> {
    write_blocks(tx, packed, outs, true)?;
    Ok(packed.len as u64)
}

/// Packs rows and writes each block as it fills, in the caller's transaction. The writer
/// thread keeps one, so its buffers are reused.
#[derive(Default)]
pub(crate) struct Packer {
    packed: PackedRows,
    outs: Outs,
    written: u64,
}

impl Packer {
    /// Empty, keeping the buffers (a failed batch may have left rows in them).
    pub(crate) fn reset(&mut self) {
        self.packed.clear();
        self.written = 0;
    }

    pub(crate) fn push(
        &mut self,
        tx: &Transaction<'_>,
        seq: i64,
        r: &LogRecord,
        (request, response): (Option<&str>, Option<&str>),
    ) -> Result<(), String> {
        self.packed.push_at(
            seq,
            r,
            (request.map(str::as_bytes), response.map(str::as_bytes)),
        );
        self.written += 1;
        if !self.packed.sealed.is_empty() {
            // (the caller has the rows: the sealed blocks need not wait for the commit)
            write_blocks(tx, &mut self.packed, &mut self.outs, false)?;
            self.packed.recycle();
        }
        Ok(())
    }

    /// Writes what is left; returns how many rows were pushed since the last reset.
    pub(crate) fn flush(&mut self, tx: &Transaction<'_>) -> Result<u64, String> {
        write_blocks(tx, &mut self.packed, &mut self.outs, true)?;
        self.packed.clear();
        Ok(self.written)
    }
}

//! The log writer: records finalized as answers end, a bounded queue, one task that writes rows in
//! batches, and a spill file for whatever cannot go to the store right now.
//!
//! Durability: a row is in the store once the batch holding it commits. The writer wakes
//! [`GATHER`] after a record arrives and writes everything queued, so a record reaches the store
//! within that plus the batch writes ahead of it; a `kill -9` loses at most the rows queued or in
//! flight at that moment (bounded by [`FLUSH_BOUND`], which the tests check). A clean shutdown
//! drains the queue first.

use std::io::BufRead;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use switchyard_config::{LogsConfig, PriceRow};
use switchyard_store::logs::{LogRecord, LogStore, PackedRows, Retention, RetentionMode};
use switchyard_store::StoreError;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::finalize::{finalize, finalize_quick};
use super::metrics::Metrics;
use super::otlp::Exporter;
use super::pricing::PriceTable;
use super::spill::{append_rows, next_rows, off_the_workers, Spill};
use super::{Bodies, Finished, Observation};

/// The documented bound: a response that ended this long before a crash has its row stored.
pub const FLUSH_BOUND: Duration = Duration::from_millis(500);

/// Once a record arrives, the writer sleeps this long and then writes everything queued (in
/// batches): fewer, larger transactions and one wake-up per batch instead of one per record,
/// well inside [`FLUSH_BOUND`].
const GATHER: Duration = Duration::from_millis(25);

/// How often the spill file is replayed and retention enforced.
const HOUSEKEEPING: Duration = Duration::from_secs(2);

pub struct Observer {
    inner: Arc<Inner>,
    shutdown: Arc<Notify>,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    queue: Queue,
    /// `None` with the request log off (`[logs] enabled = false`): answers are still priced,
    /// counted in the metrics, settled against limits and budgets, and traced; no row is kept.
    store: Option<LogStore>,
    /// Rows are packed into the store's blocks as they are submitted (SQLite, unless
    /// `stop-inserting` must count rows against a cap), not queued as records.
    pack: bool,
    prices: PriceTable,
    metrics: Metrics,
    spill: Mutex<Spill>,
    payload_cap: usize,
    batch: usize,
    capacity: usize,
    retention: Retention,
    otlp: Option<Exporter>,
}

/// What waits for the writer, behind a lock (a push is a few dozen nanoseconds; the writer
/// takes it all at once), and a wake-up for the writer when it goes from empty to not.
#[derive(Default)]
struct Queue {
    waiting: Mutex<Waiting>,
    wake: Notify,
}

/// A queued record, or an observation whose tokens the writer still has to count.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every entry is a record: boxing it would cost an allocation per request"
)]
enum Entry {
    Done(Finished),
    Count(Box<Observation>),
}

/// One writer batch: entries, and (packing) the rows packed so far with the records whose
/// spans are still to be exported. The writer swaps a spare one in, so the buffers are reused.
#[derive(Default)]
struct Batch {
    items: Vec<Entry>,
    packed: PackedRows,
    spans: Vec<Finished>,
}

impl Batch {
    fn len(&self) -> usize {
        self.items.len() + self.packed.len()
    }
}

#[derive(Default)]
struct Waiting {
    batch: Batch,
    closed: bool,
}

impl Queue {
    /// Runs `add` on the waiting batch, or gives `item` back when the queue is full or closed.
    fn add<T>(&self, item: T, capacity: usize, add: impl FnOnce(&mut Batch, T)) -> Result<(), T> {
        let mut w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let len = w.batch.len();
        if w.closed || len >= capacity {
            return Err(item);
        }
        add(&mut w.batch, item);
        drop(w);
        if len == 0 {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Everything queued, swapped with `spare` (an empty batch whose buffers are reused).
    fn take(&self, spare: &mut Batch) {
        let mut w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut w.batch, spare);
    }

    fn len(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .batch
            .len()
    }

    /// From now on pushes are refused.
    fn close(&self) {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
    }
}

impl Observer {
    /// Opens the store (unless the request log is off), replays any spill file left by an
    /// earlier run, starts the writer.
    pub async fn start(config: &LogsConfig, pricing: &[PriceRow]) -> Result<Arc<Self>, StoreError> {
        let store = if config.enabled {
            Some(LogStore::open(&config.url).await?)
        } else {
            None
        };
        if let Some(store) = &store {
            if let Some(seq) = store.newest_seq().await? {
                crate::clock::raise_id_floor(seq.max(0) as u64);
            }
        }
        let retention = Retention {
            max_rows: config.max_rows,
            max_age: config.max_age,
            mode: if config.retention == "stop-inserting" {
                RetentionMode::StopInserting
            } else {
                RetentionMode::DeleteOldest
            },
        };
        let pack = store.as_ref().is_some_and(LogStore::packs_blocks)
            && !(retention.mode == RetentionMode::StopInserting && retention.max_rows.is_some());
        let inner = Arc::new(Inner {
            queue: Queue::default(),
            store,
            pack,
            prices: PriceTable::new(pricing),
            metrics: Metrics::default(),
            spill: Mutex::new(Spill {
                path: config.spill_path.clone(),
            }),
            payload_cap: config.max_payload_bytes,
            batch: config.batch_size,
            capacity: config.queue_capacity,
            retention,
            otlp: config
                .otlp_endpoint
                .as_deref()
                .map(|e| Exporter::new(e, &config.otlp_service_name)),
        });
        inner.replay_spill().await;
        let shutdown = Arc::new(Notify::new());
        let task = tokio::spawn(run(inner.clone(), shutdown.clone()));
        Ok(Arc::new(Observer {
            inner,
            shutdown,
            task: Mutex::new(Some(task)),
        }))
    }

    /// Finalizes an observation into its record and hands that to the writer; never blocks and
    /// never drops it: with the queue full (or closed by shutdown) it goes to the spill file.
    /// Finalizing here, as the answer ends, reads the bodies while they are still in the cache,
    /// and (packing) encodes the row and copies its bodies into the block right then, so the
    /// request leaves no record behind for the writer; only a local token count, a tokenizer
    /// pass over the answer, is left to the writer.
    pub fn submit(&self, obs: Observation) {
        let inner = &*self.inner;
        inner.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        let refused = match finalize_quick(obs, &inner.prices, inner.bodies()) {
            Ok(finished) => {
                inner.metrics.record(&finished);
                if inner.store.is_none() && inner.otlp.is_none() {
                    // the request log is off and nothing is traced: nothing more to do
                    None
                } else if inner.pack {
                    // packed by reference: the record is not moved, and is freed outside the lock
                    let cap = inner.payload_cap;
                    let packed = inner.queue.add(&finished, inner.capacity, |b, f| {
                        f.pack_into(&mut b.packed, cap)
                    });
                    match packed {
                        Err(_) => Some(finished),
                        Ok(()) if inner.otlp.is_some() => {
                            // its span (the row is queued already: a closed queue loses only that)
                            let _ = inner
                                .queue
                                .add(finished, usize::MAX, |b, f| b.spans.push(f));
                            None
                        }
                        Ok(()) => None,
                    }
                } else {
                    inner
                        .queue
                        .add(Entry::Done(finished), inner.capacity, |b, e| {
                            b.items.push(e)
                        })
                        .err()
                        .map(|e| inner.done(e))
                }
            }
            Err(obs) => inner
                .queue
                .add(Entry::Count(obs), inner.capacity, |b, e| b.items.push(e))
                .err()
                .map(|e| inner.done(e)),
        };
        // (with the log off a refused entry was only a span to export: there is no row to keep)
        if let Some(finished) = refused.filter(|_| inner.store.is_some()) {
            inner.spill_finished(finished);
        }
    }

    /// How much of each body a record keeps.
    pub fn payload_cap(&self) -> usize {
        self.inner.payload_cap
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn queue_depth(&self) -> usize {
        self.inner.queue.len()
    }

    /// The request log, unless it is off.
    pub fn store(&self) -> Option<&LogStore> {
        self.inner.store.as_ref()
    }

    /// Prometheus text for requests and the log pipeline.
    pub fn write_prometheus(&self, out: &mut String) {
        self.inner.metrics.write_prometheus(self.queue_depth(), out);
    }

    /// Stops taking records, writes everything queued, and waits for the writer (at most
    /// `grace`; what is left then is spilled, so still not lost).
    pub async fn shutdown(&self, grace: Duration) {
        self.shutdown.notify_one();
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            if tokio::time::timeout(grace, task).await.is_err() {
                tracing::warn!(
                    "the log writer did not finish within {} ms",
                    grace.as_millis()
                );
            }
        }
    }
}

impl Inner {
    /// Where finished records put their bodies, and the cap.
    fn bodies(&self) -> (Bodies, usize) {
        // (with the log off the bodies are never written: kept apart, they are only dropped)
        let mode = if self.pack || self.store.is_none() {
            Bodies::Apart
        } else {
            Bodies::Text
        };
        (mode, self.payload_cap)
    }

    /// Spills one record, its bodies as text.
    fn spill_finished(&self, finished: Finished) {
        let mut record = finished.record;
        finished.payload.into_text(&mut record, self.payload_cap);
        self.spill(&[record]);
    }

    /// The record of a queued entry.
    fn done(&self, entry: Entry) -> Finished {
        match entry {
            Entry::Done(finished) => finished,
            Entry::Count(obs) => self.finish(*obs),
        }
    }

    fn finish(&self, obs: Observation) -> Finished {
        let finished = finalize(obs, &self.prices, self.bodies());
        self.metrics.record(&finished);
        finished
    }

    fn spill(&self, rows: &[LogRecord]) {
        let spill = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
        match off_the_workers(|| spill.append(rows)) {
            Ok(()) => {
                self.metrics
                    .spilled
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(
                rows = rows.len(),
                "cannot write the log spill file {}: {e}",
                spill.path.display()
            ),
        }
    }

    async fn write(&self, batch: Vec<Entry>) {
        let finished: Vec<Finished> = batch.into_iter().map(|e| self.done(e)).collect();
        if let Some(otlp) = &self.otlp {
            otlp.export(&finished);
        }
        let Some(store) = &self.store else {
            return;
        };
        let mut rows: Vec<LogRecord> = finished.into_iter().map(|f| f.record).collect();
        if self.retention.mode == RetentionMode::StopInserting {
            if let Some(max) = self.retention.max_rows {
                let have = store.count().await.unwrap_or(0);
                let room = max.saturating_sub(have) as usize;
                if rows.len() > room {
                    let dropped = rows.len() - room;
                    rows.truncate(room);
                    self.metrics
                        .not_stored
                        .fetch_add(dropped as u64, Ordering::Relaxed);
                }
            }
        }
        let n = rows.len() as u64;
        match store.append_new(rows).await {
            Ok(()) => {
                self.metrics.rows_written.fetch_add(n, Ordering::Relaxed);
            }
            Err((e, rows)) => {
                self.metrics.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    rows = rows.len(),
                    "log write failed, retrying row by row: {e}"
                );
                self.salvage(store, rows).await;
            }
        }
    }

    /// A batch that failed, written again row by row: rows the store refuses are set aside
    /// (counted, kept in the `.rejected` file beside the spill file), the rest written; if the
    /// store cannot be written at all, they all spill, to be replayed.
    async fn salvage(&self, store: &LogStore, rows: Vec<LogRecord>) {
        let n = rows.len();
        match store.insert_salvaging(rows).await {
            Ok(refused) => {
                let written = (n - refused.len()) as u64;
                self.metrics
                    .rows_written
                    .fetch_add(written, Ordering::Relaxed);
                self.set_aside(&refused);
            }
            Err((e, rows)) => {
                tracing::warn!(rows = rows.len(), "log write failed, rows spilled: {e}");
                self.spill(&rows);
            }
        }
    }

    /// Rows the store will never take: kept apart so they block nothing.
    fn set_aside(&self, rows: &[LogRecord]) {
        if rows.is_empty() {
            return;
        }
        self.metrics
            .set_aside
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        let path = self
            .spill
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_aside_path();
        tracing::error!(
            rows = rows.len(),
            "the log store refused rows; they are kept in {}",
            path.display()
        );
        if let Err(e) = off_the_workers(|| append_rows(&path, rows)) {
            tracing::error!("cannot write {}: {e}", path.display());
        }
    }

    /// Moves the spill file aside (atomically, under the lock) and writes its rows to the store;
    /// on failure they go back. Inserts are idempotent by id, so a crash mid-replay is harmless.
    async fn replay_spill(&self) {
        let Some(store) = &self.store else {
            return;
        };
        let (path, replaying) = {
            let spill = self.spill.lock().unwrap_or_else(PoisonError::into_inner);
            let replaying = spill.replaying();
            if !replaying.exists() {
                match std::fs::metadata(&spill.path) {
                    Ok(m) if m.len() > 0 => {
                        if let Err(e) = std::fs::rename(&spill.path, &replaying) {
                            tracing::warn!("cannot move the log spill file aside: {e}");
                            return;
                        }
                    }
                    _ => return,
                }
            }
            (spill.path.clone(), replaying)
        };
        // read a batch at a time: a spill file can be far larger than memory should hold
        let mut lines = match std::fs::File::open(&replaying) {
            Ok(file) => std::io::BufReader::new(file).lines(),
            Err(e) => {
                tracing::warn!("cannot read {}: {e}", replaying.display());
                return;
            }
        };
        let mut replayed = 0;
        loop {
            let chunk = match off_the_workers(|| next_rows(&mut lines, self.batch.max(1))) {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => chunk,
                Err(e) => {
                    tracing::warn!("cannot read {}: {e}", replaying.display());
                    return;
                }
            };
            replayed += chunk.len();
            match store.insert_salvaging(chunk).await {
                Ok(refused) => self.set_aside(&refused),
                Err((e, _)) => {
                    // rows already written are skipped next time (inserts are idempotent)
                    tracing::warn!("replaying the log spill file failed (will retry): {e}");
                    return;
                }
            }
        }
        let _ = std::fs::remove_file(&replaying);
        tracing::info!(
            rows = replayed,
            "replayed the log spill file {}",
            path.display()
        );
    }

    async fn housekeeping(&self) {
        self.replay_spill().await;
        let Some(store) = &self.store else {
            return;
        };
        if self.retention.mode == RetentionMode::DeleteOldest
            && (self.retention.max_rows.is_some() || self.retention.max_age.is_some())
        {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            if let Err(e) = store.enforce(&self.retention, now).await {
                tracing::warn!("log retention failed: {e}");
            }
        }
    }
}

impl Inner {
    /// Writes everything queued now (as records, in batches, or as the rows packed); `spare` is
    /// the batch swapped in.
    async fn write_queued(&self, spare: &mut Batch) {
        self.queue.take(spare);
        if !self.pack {
            while !spare.items.is_empty() {
                let n = spare.items.len().min(self.batch.max(1));
                let batch: Vec<Entry> = spare.items.drain(..n).collect();
                self.write(batch).await;
            }
            return;
        }
        // the observations whose tokens are counted here join the rows packed at submit
        for entry in spare.items.drain(..) {
            let finished = self.done(entry);
            finished.pack_into(&mut spare.packed, self.payload_cap);
            if self.otlp.is_some() {
                spare.spans.push(finished);
            }
        }
        if let Some(otlp) = &self.otlp {
            otlp.export(&spare.spans);
        }
        spare.spans.clear();
        self.write_packed(&mut spare.packed).await;
    }

    /// Stores `packed` (emptied after, its buffers kept); on failure its rows are spilled.
    async fn write_packed(&self, packed: &mut PackedRows) {
        let Some(store) = self.store.as_ref().filter(|_| !packed.is_empty()) else {
            return;
        };
        let n = packed.len() as u64;
        match store.append_packed(std::mem::take(packed)).await {
            Ok(back) => {
                *packed = back;
                self.metrics.rows_written.fetch_add(n, Ordering::Relaxed);
            }
            Err((e, mut back)) => {
                self.metrics.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(rows = n, "log write failed, retrying row by row: {e}");
                match back.records() {
                    Ok(rows) => self.salvage(store, rows).await,
                    Err(e) => tracing::error!(rows = n, "cannot spill the log rows: {e}"),
                }
                back.clear();
                *packed = back;
            }
        }
    }
}

async fn run(inner: Arc<Inner>, shutdown: Arc<Notify>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut spare = Batch::default();
    loop {
        tokio::select! {
            biased;
            () = shutdown.notified() => break,
            () = inner.queue.wake.notified() => {
                // let the queue fill for a moment (one wake-up per batch, not per record)
                tokio::time::sleep(GATHER).await;
                inner.write_queued(&mut spare).await;
            }
            _ = tick.tick() => {
                // a wake-up lost to the other branches is made up for here
                inner.write_queued(&mut spare).await;
                inner.housekeeping().await;
            }
        }
    }
    // drain: nothing more is accepted (late submits spill), everything queued is written
    inner.queue.close();
    inner.write_queued(&mut spare).await;
}

//! The spill file: rows that cannot go to the store right now (a full queue, a failing store),
//! appended as JSON lines (fsynced, off the async workers) and replayed a batch at a time; and
//! the `.rejected` file beside it, for rows the store refuses one by one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use switchyard_store::logs::LogRecord;

pub(super) struct Spill {
    pub(super) path: PathBuf,
}

impl Spill {
    pub(super) fn replaying(&self) -> PathBuf {
        self.path.with_extension("replaying")
    }

    /// Where rows the store refuses one by one are kept (never replayed: for a person to read).
    pub(super) fn set_aside_path(&self) -> PathBuf {
        self.path.with_extension("rejected")
    }

    pub(super) fn append(&self, rows: &[LogRecord]) -> std::io::Result<()> {
        append_rows(&self.path, rows)
    }
}

/// Appends `rows` to `path` (one JSON line each), synced to disk before returning.
pub(super) fn append_rows(path: &Path, rows: &[LogRecord]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // rows hold request bodies: the owner's only
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mut buf = Vec::with_capacity(rows.len() * 512);
    for r in rows {
        serde_json::to_writer(&mut buf, r).map_err(std::io::Error::other)?;
        buf.push(b'\n');
    }
    file.write_all(&buf)?;
    file.sync_data()
}

/// Up to `n` rows from a spill file's lines (none: the end).
pub(super) fn next_rows(
    lines: &mut std::io::Lines<std::io::BufReader<std::fs::File>>,
    n: usize,
) -> std::io::Result<Vec<LogRecord>> {
    let mut rows = Vec::with_capacity(n);
    while rows.len() < n {
        let Some(line) = lines.next() else {
            break;
        };
        // a torn last line (the process died mid-append) is skipped, not fatal
        if let Ok(r) = serde_json::from_str::<LogRecord>(&line?) {
            rows.push(r);
        }
    }
    Ok(rows)
}

/// Runs blocking file work (spill appends with their fsync, spill reads) without stalling the
/// async worker it is called on: on a multi-threaded runtime the worker's other tasks move
/// elsewhere while it runs; elsewhere (tests, shutdown) it just runs.
pub(super) fn off_the_workers<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

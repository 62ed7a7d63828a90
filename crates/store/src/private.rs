//! Files that hold secrets (request bodies, key hashes, sealed provider keys, cached answers)
//! are readable by their owner only: created `0600` before SQLite opens them (its `-wal` and
//! `-shm` files take the database file's permissions), and tightened if they already exist.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::StoreError;

/// Creates `path`'s folder and the file itself (empty, `0600`) if missing; an existing file is
/// set to `0600`.
pub fn prepare(path: &Path) -> Result<(), StoreError> {
    let fail = |what: &Path, e: std::io::Error| {
        StoreError::Unavailable(format!("cannot create {}: {e}", what.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| fail(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fail(path, e))
}

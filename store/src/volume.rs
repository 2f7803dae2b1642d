//! Where a store keeps its bytes: its database file and the reserve file beside it.
//!
//! The reserve is a file of [`RESERVE_BYTES`] real (non-sparse) bytes. When the disk fills up,
//! the store deletes it, so that reopening the database and deleting entries have room; it
//! is written again before the next write is accepted, so writes resume once the disk has
//! room for it. Tests put a model of a small disk behind [`Volume`] to run out of space on
//! demand, without root or a real small file system.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use redb::{Builder, Database, DatabaseError};

/// Size of the reserve file: ample for redb's repair after a failed commit and for deletes
/// (a delete rewrites a few 4 KiB pages) in stores of many GiB.
pub(crate) const RESERVE_BYTES: u64 = 8 * 1024 * 1024;

/// The file system operations a store needs, so that tests can run out of space on demand.
pub(crate) trait Volume: Send + Sync + 'static {
    /// Opens (creating it if needed) the database file at `path` with `builder`.
    fn open_database(&self, path: &Path, builder: &Builder) -> Result<Database, DatabaseError>;
    /// Makes sure the reserve file at `path` holds `bytes` bytes (written, not sparse). On
    /// failure nothing of it is left behind.
    fn create_reserve(&self, path: &Path, bytes: u64) -> io::Result<()>;
    /// Deletes the reserve file; `Ok` when there was none.
    fn remove_reserve(&self, path: &Path) -> io::Result<()>;
}

/// True for the errors of a full disk (or a full quota, or a file size limit): those that
/// room on the disk would cure.
pub(crate) fn is_out_of_space(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge
    )
}

/// The real file system.
pub(crate) struct FileSystem;

impl Volume for FileSystem {
    fn open_database(&self, path: &Path, builder: &Builder) -> Result<Database, DatabaseError> {
        builder.create(path)
    }

    fn create_reserve(&self, path: &Path, bytes: u64) -> io::Result<()> {
        if std::fs::metadata(path).is_ok_and(|m| m.len() == bytes) {
            return Ok(());
        }
        let written = write_reserve(path, bytes);
        if written.is_err() {
            // A partial reserve would only take room from the disk that is short of it.
            let _ = std::fs::remove_file(path);
        }
        written
    }

    fn remove_reserve(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

fn write_reserve(path: &Path, bytes: u64) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file: File = options.open(path)?;
    // Bytes that do not compress, so that compressing or deduplicating file systems keep
    // blocks for them too (a sparse or all-zero file may reserve nothing).
    let mut chunk = vec![0u8; 64 * 1024];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for byte in &mut chunk {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state.to_le_bytes()[0];
    }
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

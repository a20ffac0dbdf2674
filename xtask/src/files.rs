//! File plumbing shared by the tasks: memory-mapped input, atomic output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use memmap2::Mmap;

/// A boxed error with a message that already names the file.
pub type Error = Box<dyn std::error::Error>;

/// Maps `path` read-only. The tasks read tensors straight from the mapping, so a checkpoint is
/// never loaded whole.
pub fn map(path: &Path) -> Result<Mmap, Error> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: the mapping is read-only and lives only while the task runs; a concurrent writer to
    // the same file is outside what these tasks support.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(map)
}

/// Writes `path` atomically: `write` fills a temporary file in the same directory, which is renamed
/// over `path` only if it succeeds. On any error the temporary file is removed and `path` is
/// untouched.
pub fn write_atomically<T>(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<T, Error>) -> Result<T, Error> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create the folder: {e}", dir.display()))?;
    let temp = tempfile::Builder::new()
        .prefix(".quantbound-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| format!("{}: cannot create a temporary file: {e}", dir.display()))?;
    let mut writer = BufWriter::with_capacity(1 << 20, temp);
    let value = write(&mut writer)?;
    let temp = writer.into_inner().map_err(|e| format!("{}: {}", path.display(), e.error()))?;
    temp.as_file().sync_all().map_err(|e| format!("{}: {e}", path.display()))?;
    temp.persist(path).map_err(|e| format!("{}: {}", path.display(), e.error))?;
    Ok(value)
}

//! File plumbing shared by the tasks: memory-mapped input, atomic output, and checkpoints given as
//! one safetensors file or as a folder of shards.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use quantbound_codebook::shards::{self, ShardIndex};

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

/// A checkpoint named on the command line.
pub enum Checkpoint {
    /// One safetensors file.
    File(PathBuf),
    /// A folder whose `model.safetensors.index.json` lists its shards.
    Sharded { dir: PathBuf, index: ShardIndex },
}

impl Checkpoint {
    /// `path` as a checkpoint: a safetensors file, a shard index, or a model folder (its index,
    /// else its `model.safetensors`).
    pub fn open(path: &Path) -> Result<Self, Error> {
        let path = if path.is_dir() {
            shards::weights_file(path).ok_or_else(|| {
                format!("{}: no {} or {} in the folder", path.display(), shards::SINGLE_FILE, shards::INDEX_FILE)
            })?
        } else {
            path.to_path_buf()
        };
        if !path.to_string_lossy().ends_with(".index.json") {
            return Ok(Checkpoint::File(path));
        }
        let index = ShardIndex::read(&path)?;
        let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok(Checkpoint::Sharded { dir, index })
    }

    /// The file that stands for the checkpoint: the safetensors file or the index; and where the
    /// matching file of a converted copy goes, given the `output` the user named.
    pub fn anchors(&self, output: &Path) -> (PathBuf, PathBuf) {
        match self {
            Checkpoint::File(path) => (path.clone(), output.to_path_buf()),
            Checkpoint::Sharded { dir, .. } => (dir.join(shards::INDEX_FILE), output.join(shards::INDEX_FILE)),
        }
    }

    /// The safetensors files to read, in order.
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Checkpoint::File(path) => vec![path.clone()],
            Checkpoint::Sharded { dir, index } => index.shard_files().into_iter().map(|f| dir.join(f)).collect(),
        }
    }
}

/// Writes the folder `output` atomically: `write` fills a temporary folder beside it, which is
/// renamed to `output` only if it succeeds (an existing `output` must be empty). On any error the
/// temporary folder is removed and `output` is untouched.
pub fn write_folder_atomically<T>(output: &Path, write: impl FnOnce(&Path) -> Result<T, Error>) -> Result<T, Error> {
    let parent = match output.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if output.exists() && std::fs::read_dir(output).map_or(true, |mut entries| entries.next().is_some()) {
        return Err(format!("{}: the output folder exists and is not empty", output.display()).into());
    }
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: cannot create the folder: {e}", parent.display()))?;
    let temp = tempfile::Builder::new()
        .prefix(".quantbound-")
        .tempdir_in(parent)
        .map_err(|e| format!("{}: cannot create a temporary folder: {e}", parent.display()))?;
    let value = write(temp.path())?;
    std::fs::rename(temp.path(), output).map_err(|e| format!("{}: {e}", output.display()))?;
    // Renamed away: nothing is left for the guard to remove.
    let _ = temp.keep();
    Ok(value)
}

/// The tensor names and the bytes of tensor data of a safetensors file just written.
pub fn written_tensors(path: &Path) -> Result<(Vec<String>, u64), Error> {
    let bytes = map(path)?;
    let (header_len, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| format!("{}: cannot read back what was written: {e}", path.display()))?;
    let mut names: Vec<String> = metadata.tensors().keys().cloned().collect();
    names.sort();
    Ok((names, (bytes.len() - 8 - header_len) as u64))
}

/// Writes `dir`'s index for the shards just written into it (shard file → its tensors).
pub fn write_index(dir: &Path, shards: &BTreeMap<String, Vec<String>>, total_size: u64) -> Result<(), Error> {
    let path = dir.join(shards::INDEX_FILE);
    std::fs::write(&path, ShardIndex::new(shards, total_size).to_json())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

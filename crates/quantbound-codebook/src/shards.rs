//! A sharded safetensors checkpoint's `model.safetensors.index.json`, read and written as
//! transformers' `save_pretrained` writes it: `{"metadata": {"total_size": N}, "weight_map":
//! {tensor: shard file}}`, where `total_size` counts the tensors' data bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CodebookError, Result};

/// The index's file name inside a model folder.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// The file name of an unsharded checkpoint inside a model folder.
pub const SINGLE_FILE: &str = "model.safetensors";

/// Where a model folder's weights are, looked for as transformers looks: `model.safetensors`,
/// else the shard index; `None` when the folder has neither.
pub fn weights_file(dir: &Path) -> Option<PathBuf> {
    [SINGLE_FILE, INDEX_FILE].into_iter().map(|name| dir.join(name)).find(|path| path.is_file())
}

/// Which shard holds each tensor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardIndex {
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
    pub weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    /// Parses an index; `file` labels errors. Every shard must be a plain file name beside the
    /// index (no folder, no `..`), so reading the index cannot reach outside its folder.
    pub fn parse(text: &str, file: &str) -> Result<Self> {
        let index: ShardIndex = serde_json::from_str(text)
            .map_err(|e| CodebookError::ShardIndex { file: file.to_owned(), reason: e.to_string() })?;
        if let Some((tensor, shard)) = index.weight_map.iter().find(|(_, shard)| !is_plain_file_name(shard)) {
            return Err(CodebookError::ShardIndex {
                file: file.to_owned(),
                reason: format!("{tensor} is in {shard:?}, which is not a file name beside the index"),
            });
        }
        Ok(index)
    }

    /// Reads and parses the index at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CodebookError::Io { file: file.clone(), source })?;
        Self::parse(&text, &file)
    }

    /// The shard files, each once, sorted.
    pub fn shard_files(&self) -> Vec<&str> {
        let mut files: Vec<&str> = self.weight_map.values().map(String::as_str).collect();
        files.sort_unstable();
        files.dedup();
        files
    }

    /// An index for shards that hold `tensors` (shard file → its tensor names) and
    /// `total_size` bytes of tensor data.
    pub fn new(tensors: &BTreeMap<String, Vec<String>>, total_size: u64) -> Self {
        let weight_map = tensors
            .iter()
            .flat_map(|(shard, names)| names.iter().map(move |name| (name.clone(), shard.clone())))
            .collect();
        ShardIndex { metadata: BTreeMap::from([("total_size".to_owned(), total_size.into())]), weight_map }
    }

    /// The JSON text, indented as transformers writes it.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("an index serialises");
        text.push('\n');
        text
    }
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\'])
}

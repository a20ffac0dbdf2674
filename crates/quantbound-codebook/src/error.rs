//! The crate's one error type. Every message names the tensor (and file, where there is one) and
//! what was expected, so a user can act on it without a debugger.

use thiserror::Error;

/// Everything that can go wrong in quantbound-codebook.
#[derive(Debug, Error)]
pub enum CodebookError {
    #[error("{tensor}: blocksize {blocksize} is not supported; bitsandbytes accepts 32, 64, 128, 256, 512, 1024, 2048 or 4096")]
    UnsupportedBlocksize { tensor: String, blocksize: usize },

    #[error("{tensor}: unknown quant_type {found:?}; expected \"nf4\" or \"fp4\"")]
    UnknownQuantType { tensor: String, found: String },

    #[error("{tensor}: unsupported dtype {found}; expected float32, float16 or bfloat16")]
    UnsupportedDtype { tensor: String, found: String },

    #[error("{tensor}: {what} has length {found}, expected {expected}")]
    Length { tensor: String, what: &'static str, expected: usize, found: usize },

    #[error("{tensor}: shape {shape:?} has {numel} elements, but the data has {found}")]
    ShapeMismatch { tensor: String, shape: Vec<usize>, numel: usize, found: usize },

    #[error("{tensor}: invalid codebook: {reason}")]
    InvalidCodebook { tensor: String, reason: String },

    #[error("{tensor}: a custom codebook cannot be written as a bitsandbytes checkpoint (bnb knows only nf4 and fp4)")]
    NotBnbCodebook { tensor: String },

    #[error("{tensor}: malformed quant_state JSON: {reason}")]
    QuantStateJson { tensor: String, reason: String },

    #[error("{file}: missing tensor {tensor} ({expected})")]
    MissingTensor { file: String, tensor: String, expected: String },

    #[error("{file}: tensor {tensor} is {found}, expected {expected}")]
    TensorMismatch { file: String, tensor: String, expected: String, found: String },

    #[error("{file}: not a readable safetensors file: {reason}")]
    Safetensors { file: String, reason: String },

    #[error("{file}: invalid tensor-name pattern: {reason}")]
    Pattern { file: String, reason: String },

    #[error("{file}: {tensor} is already a bnb-4bit weight; quantize takes a dense (f32, f16 or bf16) checkpoint")]
    AlreadyQuantized { file: String, tensor: String },

    #[error("{file}: {tensor}: element {index} is {value}; a checkpoint's weights must be finite")]
    NonFinite { file: String, tensor: String, index: usize, value: f32 },

    #[error("{file}: not a usable shard index: {reason}")]
    ShardIndex { file: String, reason: String },

    #[error("{file}: I/O error: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = CodebookError> = std::result::Result<T, E>;

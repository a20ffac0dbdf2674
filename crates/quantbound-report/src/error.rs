//! The crate's error type: every message names what was wrong and what was expected.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error(transparent)]
    Llama(#[from] quantbound_llama::LlamaError),

    #[error(transparent)]
    Codebook(#[from] quantbound_codebook::CodebookError),

    #[error(transparent)]
    Format(#[from] quantbound_formats::FormatError),

    #[error("{what}: {source}")]
    Theory {
        what: String,
        #[source]
        source: quantbound_theory::TheoryError,
    },

    #[error("{0}")]
    Invalid(String),

    /// A `--candidate` that is not a quantization of the reference.
    #[error("--candidate {candidate}: not a quantization of the reference: {what}")]
    Incompatible { candidate: String, what: String },

    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{file}: cannot draw the plot: {reason}")]
    Plot { file: String, reason: String },
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// The error of a theory computation on `what` (a tensor, or a tensor's codebooks).
pub(crate) fn theory(what: &str) -> impl FnOnce(quantbound_theory::TheoryError) -> ReportError + '_ {
    move |source| ReportError::Theory { what: what.to_owned(), source }
}

//! The crate's one error type.

use thiserror::Error;

/// Everything that can go wrong in quantbound-theory.
#[derive(Debug, Error, PartialEq)]
pub enum TheoryError {
    #[error("invalid generalized Gaussian: {0}")]
    InvalidParameter(String),

    #[error("{what}: cannot fit: {reason}")]
    DegenerateSample { what: String, reason: String },

    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Shorthand used throughout the crate.
pub type Result<T, E = TheoryError> = std::result::Result<T, E>;

//! What quantizing in a format can refuse.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FormatError {
    /// A name no format has.
    #[error("unknown format {found:?}: expected one of {expected}")]
    UnknownFormat { found: String, expected: String },
    /// A tensor the format cannot cut into its blocks.
    #[error(
        "{tensor}: {format} quantizes whole blocks of {block} weights along each row, but the rows have {row} weights"
    )]
    Unblockable { tensor: String, format: String, block: usize, row: usize },
    /// A value the format's reference quantizer leaves undefined.
    #[error("{tensor}: {format} cannot encode the value {value} at index {index} (its reference quantizer is undefined for NaN and ±Inf)")]
    NotFinite { tensor: String, format: String, value: f32, index: usize },
    /// A stored tensor whose bytes do not fit the weights it claims.
    #[error("{tensor}: {format} stores {expected} bytes for {numel} weights, found {found}")]
    BadLength { tensor: String, format: String, numel: usize, expected: usize, found: usize },
    /// A format whose table depends on the blocksize and is not tabled for this one.
    #[error("{format} has a table for blocksize {tabled} only, not {blocksize}: run it with --blocksize {tabled}")]
    Untabled { format: String, blocksize: usize, tabled: String },
    /// A format whose table another crate designs.
    #[error(
        "the {format} format's codebook is designed by quantbound-theory: build it there (quantbound-report does)"
    )]
    DesignedElsewhere { format: String },
    #[error(transparent)]
    Codebook(#[from] quantbound_codebook::CodebookError),
}

pub type Result<T> = std::result::Result<T, FormatError>;

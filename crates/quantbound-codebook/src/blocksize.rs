//! The blocksizes bitsandbytes accepts for 4-bit quantization.

use crate::error::{CodebookError, Result};

/// A validated 4-bit blocksize: one of 32, 64, …, 4096 (bnb raises `ValueError` for any other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Blocksize(usize);

impl Blocksize {
    /// Every blocksize bnb 0.50.2 accepts in `quantize_4bit`.
    pub const SUPPORTED: [usize; 8] = [32, 64, 128, 256, 512, 1024, 2048, 4096];
    /// bnb's default.
    pub const DEFAULT: Blocksize = Blocksize(64);
    /// The largest supported blocksize, so kernels can size stack buffers.
    pub const MAX: usize = 4096;

    /// Validates `blocksize`; `tensor` only labels the error.
    pub fn new(blocksize: usize, tensor: &str) -> Result<Self> {
        if Self::SUPPORTED.contains(&blocksize) {
            Ok(Blocksize(blocksize))
        } else {
            Err(CodebookError::UnsupportedBlocksize { tensor: tensor.to_owned(), blocksize })
        }
    }

    pub fn get(self) -> usize {
        self.0
    }

    /// Bits per weight of a 4-bit code with this blocksize, the scales included:
    /// 4 + 32/B with an f32 absmax per block; 4 + 8/B + 32/(256·B) with double quantization (a u8
    /// code per block, an f32 scale per 256 blocks; the single f32 offset is ignored). B = 64: 4.5
    /// and 4.127 bits.
    pub fn bits_per_weight(self, double_quant: bool) -> f64 {
        let b = self.0 as f64;
        if double_quant {
            4.0 + 8.0 / b + 32.0 / (256.0 * b)
        } else {
            4.0 + 32.0 / b
        }
    }

    /// Number of blocks covering `numel` elements (the last one may be partial).
    pub fn n_blocks(self, numel: usize) -> usize {
        numel.div_ceil(self.0)
    }
}

impl Default for Blocksize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl std::fmt::Display for Blocksize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

//! The information theory behind quantbound: how far 4-bit quantization of a layer's weights is
//! from the limits.
//!
//! - [`GeneralizedGaussian`] and its maximum-likelihood [`fit`];
//! - [`bounds`]: entropies, the Gaussian D(R), the Shannon lower bound, the gap in bits, and the
//!   effective rate of blockwise formats;
//! - [`histogram`]: the seed notebook's histogram KL to a Gaussian;
//! - [`quantizer`]: the expected MSE of a codebook under a density (plain or absmax-normalised per
//!   block), Lloyd-Max designs, and the MSE-optimal codebook for absmax blocks;
//! - [`blahut_arimoto`]: the exact rate-distortion curve of a discrete (histogram) source.
//!
//! No Burn. Special functions come from statrs. Formulas are in each item's `# Formula` section;
//! `docs/theory.md` explains the bounds.

pub mod blahut_arimoto;
pub mod bounds;
mod error;
mod fastmath;
pub mod fit;
#[cfg(target_arch = "x86_64")]
mod fit_avx2;
mod ggd;
pub mod histogram;
pub mod numpy_random;
pub mod quantizer;

pub use error::{Result, TheoryError};
pub use fit::{fit_ggd, GgdFit};
pub use ggd::{trigamma, GeneralizedGaussian};

//! AF4, the "abnormal float" of Yoshida, "NF4 Isn't Information Theoretically Optimal (and that's
//! Good)" (2023, arXiv 2306.06965): a 16-value table for absmax blocks of Gaussian weights that
//! accounts for the block maximum landing exactly on ±1, under bnb's blocks and kernels.
//!
//! The table is the output of the paper's own `generate_af4.py` (davisyoshida/abnormal-floats,
//! commit 0ef89b6, run with numpy 2.3.5 and scipy 1.17.1; 504 s of numerical integration), its
//! float64 values rounded to f32. It depends on the blocksize; only 64, bnb's default, is tabled.

use quantbound_codebook::Codebook;

use crate::error::{FormatError, Result};

/// AF4 for blocks of 64, from `construct_af4(64)`.
const AF4_64: [f64; 16] = [
    -1.0,
    -0.69441007936423,
    -0.5124373940302811,
    -0.3736950985193478,
    -0.25607551815158247,
    -0.14982477557452945,
    -0.04934812262831165,
    0.0,
    0.04273163993455592,
    0.12934483199217528,
    0.2196127372054485,
    0.31675666220986287,
    0.4256388162767182,
    0.5549623398106571,
    0.7242486294203554,
    1.0,
];

/// The AF4 table for `blocksize`.
pub fn codebook(blocksize: usize) -> Result<Codebook> {
    match blocksize {
        64 => Ok(Codebook::custom(AF4_64.map(|v| v as f32))?),
        other => Err(FormatError::Untabled { format: "af4".into(), blocksize: other, tabled: "64".into() }),
    }
}

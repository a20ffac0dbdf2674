//! Weight distortion of one tensor: mean((w − ŵ)²), SQNR = 10·log10(mean(w²) / MSE), max |w − ŵ|.

use serde::{Deserialize, Serialize};

/// How far a quantized tensor is from its original.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightError {
    pub mse: f64,
    /// Signal-to-quantization-noise ratio in dB.
    pub sqnr_db: f64,
    pub max_abs_error: f64,
    pub numel: usize,
}

/// Errors of `quantized` against `reference`, accumulated in f64.
///
/// # Panics
/// If the lengths differ: the caller pairs a tensor with its own quantization.
pub fn weight_error(reference: &[f32], quantized: &[f32]) -> WeightError {
    assert_eq!(reference.len(), quantized.len(), "a weight and its quantization have the same length");
    let (mut err, mut signal, mut max) = (0f64, 0f64, 0f64);
    for (&w, &q) in reference.iter().zip(quantized) {
        let d = f64::from(w) - f64::from(q);
        err += d * d;
        signal += f64::from(w) * f64::from(w);
        max = max.max(d.abs());
    }
    let n = reference.len().max(1) as f64;
    let mse = err / n;
    WeightError { mse, sqnr_db: 10.0 * (signal / n / mse).log10(), max_abs_error: max, numel: reference.len() }
}

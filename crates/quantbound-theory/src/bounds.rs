//! Rate-distortion bounds for a memoryless source under squared error, in bits.

use std::f64::consts::{E, PI};

use quantbound_codebook::Blocksize;

/// Differential entropy of a Gaussian of variance σ², in bits.
///
/// # Formula
/// h = ½·log2(2πe·σ²)
pub fn gaussian_entropy_bits(variance: f64) -> f64 {
    0.5 * (2.0 * PI * E * variance).log2()
}

/// The Gaussian distortion-rate function, which bounds every source of variance σ² from above
/// (the Gaussian is the hardest source to compress).
///
/// # Formula
/// D(R) = σ²·2^(−2R)
pub fn gaussian_distortion_rate(variance: f64, rate_bits: f64) -> f64 {
    variance * (-2.0 * rate_bits).exp2()
}

/// The Shannon lower bound on D(R) for a source of differential entropy `h_bits`: no code at rate
/// R does better. It is tight for the Gaussian, and for other sources as R grows.
///
/// # Formula
/// D(R) ≥ 2^(2(h − R)) / (2πe)
pub fn shannon_lower_bound(entropy_bits: f64, rate_bits: f64) -> f64 {
    (2.0 * (entropy_bits - rate_bits)).exp2() / (2.0 * PI * E)
}

/// How many bits a quantizer with distortion `mse` spends beyond a bound: the extra rate a
/// bound-achieving code would need to reach the same MSE, at 6.02 dB a bit.
///
/// # Formula
/// gap = ½·log2(MSE / bound)
pub fn gap_bits(mse: f64, bound: f64) -> f64 {
    0.5 * (mse / bound).log2()
}

/// Bits per weight of 4-bit blockwise absmax quantization, the scales included
/// ([`Blocksize::bits_per_weight`], where the formula lives).
pub fn effective_rate(blocksize: Blocksize, double_quant: bool) -> f64 {
    blocksize.bits_per_weight(double_quant)
}

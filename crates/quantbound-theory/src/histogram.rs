//! The seed notebook's measure of how far a layer's weights are from Gaussian: the KL divergence
//! of their histogram to a Gaussian of the same mean and standard deviation.

use statrs::distribution::{Continuous, Normal};

use crate::error::{Result, TheoryError};

/// Bins of the seed's histogram.
pub const SEED_BINS: usize = 200;
/// The seed's guard against log 0.
pub const SEED_EPSILON: f64 = 1e-12;

/// KL(histogram ‖ Gaussian) in bits, computed as the seed does.
///
/// # Formula
/// Bins: `bins` equal widths over [min x, max x] (numpy's `histogram`). p_k = count_k / n.
/// q_k = φ(c_k; x̄, s)·w_k, renormalised to sum to 1, with c_k the bin centres, w_k the widths,
/// x̄ the mean and s the (population) standard deviation.
/// KL = Σ_k p_k · log2((p_k + ε) / (q_k + ε)), ε = 1e-12.
pub fn kl_to_gaussian_bits(x: &[f32], bins: usize) -> Result<f64> {
    let bad = |reason: &str| TheoryError::DegenerateSample { what: "histogram KL".into(), reason: reason.into() };
    if x.len() < 2 {
        return Err(bad("need at least 2 values"));
    }
    let histogram = Histogram::equal_width(x, bins, "histogram KL")?;
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    if var <= 0.0 {
        return Err(bad("the values are constant"));
    }
    let normal = Normal::new(mean, var.sqrt()).map_err(|e| bad(&e.to_string()))?;
    let width = histogram.width;
    let q: Vec<f64> = (0..bins).map(|k| normal.pdf(histogram.centre(k)) * width).collect();
    let q_total: f64 = q.iter().sum();
    Ok(histogram
        .counts
        .iter()
        .zip(&q)
        .map(|(&c, &q)| {
            let p = c as f64 / n;
            p * ((p + SEED_EPSILON) / (q / q_total + SEED_EPSILON)).log2()
        })
        .sum())
}

/// Counts in `bins` equal-width bins over [min x, max x], as numpy's `histogram` bins them (the
/// maximum goes into the last bin). Shared by the histogram KL and the Blahut–Arimoto source.
pub(crate) struct Histogram {
    pub lo: f64,
    pub width: f64,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Fails, naming `what`, on no bins, no values, NaN/±Inf, or constant values.
    pub fn equal_width(x: &[f32], bins: usize, what: &str) -> Result<Self> {
        let bad = |reason: &str| TheoryError::DegenerateSample { what: what.into(), reason: reason.into() };
        if x.is_empty() || bins == 0 {
            return Err(bad("need at least 1 value and 1 bin"));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(bad("the values contain NaN or infinity"));
        }
        let level = quantbound_simd::active();
        let (lo, hi) = level.vectorize(
            #[inline(always)]
            || x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v.into()), hi.max(v.into()))),
        );
        if hi <= lo {
            return Err(bad("the values are constant"));
        }
        let width = (hi - lo) / bins as f64;
        let counts = level.vectorize(
            #[inline(always)]
            || {
                let mut counts = vec![0u64; bins];
                // Bin indices 8 at a time (vectorised), then the counts.
                let (groups, rest) = x.as_chunks::<8>();
                let bin = |v: f32| (((f64::from(v) - lo) / width) as usize).min(bins - 1);
                for group in groups {
                    let index: [usize; 8] = std::array::from_fn(|i| bin(group[i]));
                    for i in index {
                        counts[i] += 1;
                    }
                }
                for &v in rest {
                    counts[bin(v)] += 1;
                }
                counts
            },
        );
        Ok(Histogram { lo, width, counts })
    }

    /// The centre of bin `k`.
    pub fn centre(&self, k: usize) -> f64 {
        self.lo + (k as f64 + 0.5) * self.width
    }
}

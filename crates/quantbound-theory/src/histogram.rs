//! The seed notebook's measure of how far a layer's weights are from Gaussian: the KL divergence
//! of their histogram to a Gaussian of the same mean and standard deviation.

use statrs::distribution::{Continuous, Normal};

use crate::error::{Result, TheoryError};

/// Bins of the seed's histogram.
pub const SEED_BINS: usize = 200;
/// The seed's guard against log 0.
pub const SEED_EPSILON: f64 = 1e-12;

/// KL(histogram ‖ Gaussian) in bits, computed as the seed does on its float32 weights: numpy's
/// `histogram`, scipy's `norm.pdf` and `entropy`.
///
/// # Formula
/// Bins: `bins` equal widths over [min x, max x], with numpy's float32 edges
/// ([`NumpyHistogram`]). p_k = count_k / n. q_k = φ(c_k; x̄, s)·w_k / max(Σ_j φ(c_j)·w_j, 1), with
/// c_k the bin centres and w_k the widths, x̄ the mean and s the population standard deviation,
/// all in float32 as numpy computes them ([`numpy_f32_mean_std`]).
/// KL = Σ_k p'_k · log2(p'_k / q'_k), where p' and q' are p + ε and q + ε renormalised to sum
/// to 1 (scipy's `entropy(p + ε, q + ε, base=2)`), ε = 1e-12.
pub fn kl_to_gaussian_bits(x: &[f32], bins: usize) -> Result<f64> {
    let bad = |reason: &str| TheoryError::DegenerateSample { what: "histogram KL".into(), reason: reason.into() };
    if x.len() < 2 {
        return Err(bad("need at least 2 values"));
    }
    let histogram = NumpyHistogram::new(x, bins, "histogram KL")?;
    let n = x.len() as f64;
    let (mean, std) = numpy_f32_mean_std(x);
    if std <= 0.0 {
        return Err(bad("the values are constant"));
    }
    let normal = Normal::new(f64::from(mean), f64::from(std)).map_err(|e| bad(&e.to_string()))?;
    let q: Vec<f64> = histogram
        .edges
        .windows(2)
        .map(|e| {
            let (centre, width) = ((e[0] + e[1]) / 2.0, e[1] - e[0]);
            normal.pdf(f64::from(centre)) * f64::from(width)
        })
        .collect();
    let q_total = q.iter().sum::<f64>().max(1.0);
    let p: Vec<f64> = histogram.counts.iter().map(|&c| c as f64 / n + SEED_EPSILON).collect();
    let q: Vec<f64> = q.iter().map(|&q| q / q_total + SEED_EPSILON).collect();
    let (p_total, q_total): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let nats: f64 = p
        .iter()
        .zip(&q)
        .map(|(&p, &q)| {
            let (p, q) = (p / p_total, q / q_total);
            p * (p / q).ln()
        })
        .sum();
    Ok(nats / std::f64::consts::LN_2)
}

/// numpy's pairwise float32 sum (`add.reduce` on a contiguous float32 array): eight running sums
/// over blocks of up to 128 values, halves (cut at a multiple of 8) summed recursively.
fn numpy_f32_sum(x: &[f32]) -> f32 {
    let n = x.len();
    if n < 8 {
        return x.iter().fold(0.0, |sum, &v| sum + v);
    }
    if n <= 128 {
        let mut r: [f32; 8] = std::array::from_fn(|j| x[j]);
        let whole = n - n % 8;
        for block in x[8..whole].chunks_exact(8) {
            for (r, &v) in r.iter_mut().zip(block) {
                *r += v;
            }
        }
        let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &x[whole..] {
            sum += v;
        }
        return sum;
    }
    let half = n / 2 - (n / 2) % 8;
    numpy_f32_sum(&x[..half]) + numpy_f32_sum(&x[half..])
}

/// `np.mean(x)` and `np.std(x)` of float32 values, as numpy computes them: in float32, the
/// deviations squared and summed pairwise.
pub fn numpy_f32_mean_std(x: &[f32]) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = numpy_f32_sum(x) / n;
    let squares: Vec<f32> = x.iter().map(|&v| (v - mean) * (v - mean)).collect();
    (mean, (numpy_f32_sum(&squares) / n).sqrt())
}

/// The smallest and largest of `x`; an error naming `what` on no bins, no values, NaN/±Inf, or
/// constant values.
pub(crate) fn range(x: &[f32], bins: usize, what: &str) -> Result<(f32, f32)> {
    let bad = |reason: &str| TheoryError::DegenerateSample { what: what.into(), reason: reason.into() };
    if x.is_empty() || bins == 0 {
        return Err(bad("need at least 1 value and 1 bin"));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(bad("the values contain NaN or infinity"));
    }
    let (lo, hi) = quantbound_simd::active().vectorize(
        #[inline(always)]
        || x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v))),
    );
    if hi <= lo {
        return Err(bad("the values are constant"));
    }
    Ok((lo, hi))
}

/// numpy's `histogram(x, bins)` of float32 values, bit for bit: the edges are float32
/// (`linspace(min, max, bins + 1)` in float32, the last edge the maximum), a value's bin is
/// `int((x − min)/(max − min)·bins)` in float32, then moved by one where that lands on the wrong
/// side of an edge, the maximum in the last bin.
pub struct NumpyHistogram {
    pub edges: Vec<f32>,
    pub counts: Vec<u64>,
}

impl NumpyHistogram {
    /// Fails, naming `what`, on no bins, no values, NaN/±Inf, or constant values.
    pub fn new(x: &[f32], bins: usize, what: &str) -> Result<Self> {
        let (lo, hi) = range(x, bins, what)?;
        let (span, n) = (hi - lo, bins as f32);
        let step = span / n;
        let mut edges: Vec<f32> = (0..=bins).map(|k| k as f32 * step + lo).collect();
        edges[bins] = hi;
        let counts = quantbound_simd::active().vectorize(
            #[inline(always)]
            || {
                let mut counts = vec![0u64; bins];
                // numpy's first guess, 8 at a time (vectorised), then its corrections at the edges.
                let guess = |v: f32| (((v - lo) / span) * n) as usize;
                let mut count = |v: f32, k: usize| {
                    let mut k = k.min(bins - 1);
                    if v < edges[k] {
                        k -= 1;
                    }
                    if v >= edges[k + 1] && k != bins - 1 {
                        k += 1;
                    }
                    counts[k] += 1;
                };
                let (groups, rest) = x.as_chunks::<8>();
                for group in groups {
                    let k: [usize; 8] = std::array::from_fn(|i| guess(group[i]));
                    for (&v, k) in group.iter().zip(k) {
                        count(v, k);
                    }
                }
                for &v in rest {
                    count(v, guess(v));
                }
                counts
            },
        );
        Ok(NumpyHistogram { edges, counts })
    }
}

/// The most weights the seed's KL loop uses per tensor: larger ones are subsampled.
pub const SEED_MAX_SAMPLES: usize = 200_000;

/// The seed notebook's KL loop, exactly: one `np.random.default_rng(0)` shared by the tensors in
/// the order given, each tensor of more than [`SEED_MAX_SAMPLES`] weights replaced by
/// `rng.choice(flat, size=200_000, replace=False)` before [`kl_to_gaussian_bits`] with
/// [`SEED_BINS`] bins.
///
/// A 200k sample leaves more bins empty or thin than the whole tensor does, which biases the
/// histogram KL upwards (about 5e-4 bits on the sample model's down_proj), and its draw scatters
/// it; the all-weights value is the better estimate, this one the number the notebook prints.
pub struct SeedSubsampling {
    rng: crate::numpy_random::Pcg64,
}

impl Default for SeedSubsampling {
    fn default() -> Self {
        Self::new()
    }
}

impl SeedSubsampling {
    /// The seed's generator, `default_rng(0)`.
    pub fn new() -> Self {
        SeedSubsampling { rng: crate::numpy_random::Pcg64::default_rng(0) }
    }

    /// The next tensor's sample, as the seed draws it; `None` for a tensor the seed uses whole
    /// (at most [`SEED_MAX_SAMPLES`] weights, no draw made).
    pub fn sample(&mut self, weights: &[f32]) -> Result<Option<Vec<f32>>> {
        if weights.len() <= SEED_MAX_SAMPLES {
            return Ok(None);
        }
        let indices = self.rng.choice_without_replacement(weights.len(), SEED_MAX_SAMPLES)?;
        Ok(Some(indices.into_iter().map(|i| weights[i]).collect()))
    }

    /// The next tensor's histogram KL as the seed computes it, bits.
    pub fn kl_bits(&mut self, weights: &[f32]) -> Result<f64> {
        let sample = self.sample(weights)?;
        kl_to_gaussian_bits(sample.as_deref().unwrap_or(weights), SEED_BINS)
    }
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
        let (lo, hi) = range(x, bins, what)?;
        Ok(Self::over(x, lo, hi, bins))
    }

    /// The counts of `x` in `bins` equal bins over [lo, hi], the range [`range`] found for it.
    pub fn over(x: &[f32], lo: f32, hi: f32, bins: usize) -> Self {
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        let level = quantbound_simd::active();
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
        Histogram { lo, width, counts }
    }

    /// The centre of bin `k`.
    pub fn centre(&self, k: usize) -> f64 {
        self.lo + (k as f64 + 0.5) * self.width
    }
}

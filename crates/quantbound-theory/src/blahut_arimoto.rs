//! The rate-distortion function of a discrete source under squared error, by the Blahut–Arimoto
//! algorithm: the "exact" D(R) of a layer's empirical weight histogram, to set beside the Shannon
//! lower bound.

use statrs::distribution::{Continuous, ContinuousCDF};

use crate::error::{Result, TheoryError};
use crate::ggd::GeneralizedGaussian;
use crate::histogram::{range, Histogram};

/// A discrete source: values and their probabilities (a histogram's bin centres and masses).
#[derive(Clone, Debug, PartialEq)]
pub struct DiscreteSource {
    pub values: Vec<f64>,
    pub probabilities: Vec<f64>,
}

impl DiscreteSource {
    /// The histogram of `x` in `bins` equal bins over [min, max], as a source on the bin centres.
    pub fn histogram(x: &[f32], bins: usize) -> Result<Self> {
        let histogram = Histogram::equal_width(x, bins, "histogram")?;
        let n = x.len() as f64;
        Ok(DiscreteSource {
            values: (0..bins).map(|k| histogram.centre(k)).collect(),
            probabilities: histogram.counts.iter().map(|&c| c as f64 / n).collect(),
        })
    }

    /// The source's entropy in bits, −Σ p log2 p: its D(R) is 0 from this rate on.
    pub fn entropy_bits(&self) -> f64 {
        -self.probabilities.iter().filter(|&&p| p > 0.0).map(|p| p * p.log2()).sum::<f64>()
    }

    fn variance(&self) -> f64 {
        let mean: f64 = self.values.iter().zip(&self.probabilities).map(|(v, p)| v * p).sum();
        self.values.iter().zip(&self.probabilities).map(|(v, p)| p * (v - mean).powi(2)).sum()
    }
}

/// A fine discretization of a source for Blahut–Arimoto: bins of width `bin_width`, each bin's
/// mass at its centroid (the mean of the source within it).
///
/// Coding the centroid instead of the value costs exactly the spread within the bins: for any
/// point (R, D) achievable on the discrete source, (R, D + `within_variance`) is achievable on
/// the original one (X → its bin's centroid → the code; the cross term vanishes because the
/// centroid is X's conditional mean). So `distortion + within_variance` is a certified upper bound
/// on the original source's D(R), which therefore can never fall below its Shannon lower bound,
/// however close the discrete curve comes to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Discretization {
    pub source: DiscreteSource,
    pub bin_width: f64,
    /// E[Var(X | bin)]: the mean squared distance of the source from its bin's centroid.
    pub within_variance: f64,
}

/// Gauss–Legendre nodes and weights on [−1, 1], 5 points (exact for polynomials of degree 9).
const GAUSS_LEGENDRE_5: [(f64, f64); 5] = [
    (0.0, 0.568_888_888_888_888_9),
    (-0.538_469_310_105_683_1, 0.478_628_670_499_366_5),
    (0.538_469_310_105_683_1, 0.478_628_670_499_366_5),
    (-0.906_179_845_938_664, 0.236_926_885_056_189_1),
    (0.906_179_845_938_664, 0.236_926_885_056_189_1),
];

/// Mass the density discretization leaves outside its bins, half in each tail.
const TAIL_MASS: f64 = 1e-12;

impl Discretization {
    /// The samples `x` in bins of `bin_width` from min x to max x; the centroids and the spread are
    /// the samples' own.
    pub fn of_samples(x: &[f32], bin_width: f64) -> Result<Self> {
        let (lo, hi) = range(x, 1, "samples")?;
        let bins = bin_count(f64::from(lo), f64::from(hi), bin_width)?;
        let histogram = Histogram::over(x, lo, hi, bins);
        // Offsets from each bin's centre, summed, and their squares: no cancellation.
        let (mut offset, mut squared) = (vec![0.0; bins], vec![0.0; bins]);
        for &v in x {
            let v = f64::from(v);
            let k = (((v - histogram.lo) / histogram.width) as usize).min(bins - 1);
            let d = v - histogram.centre(k);
            offset[k] += d;
            squared[k] += d * d;
        }
        let n = x.len() as f64;
        let (mut values, mut probabilities, mut within) = (Vec::new(), Vec::new(), 0.0);
        for (k, &count) in histogram.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let c = count as f64;
            values.push(histogram.centre(k) + offset[k] / c);
            probabilities.push(c / n);
            within += squared[k] - offset[k] * offset[k] / c;
        }
        Ok(Discretization {
            source: DiscreteSource { values, probabilities },
            bin_width: histogram.width,
            within_variance: (within / n).max(0.0),
        })
    }

    /// The density of `dist` in bins of `bin_width` over its central 1 − 10⁻¹² of mass; each
    /// bin's mass, centroid and spread by 5-point Gauss–Legendre quadrature, the masses
    /// renormalised to 1.
    pub fn of_density(dist: &GeneralizedGaussian, bin_width: f64) -> Result<Self> {
        let (lo, hi) = (dist.inverse_cdf(TAIL_MASS / 2.0), dist.inverse_cdf(1.0 - TAIL_MASS / 2.0));
        let bins = bin_count(lo, hi, bin_width)?;
        let (mut values, mut probabilities, mut second) = (Vec::new(), Vec::new(), 0.0);
        for k in 0..bins {
            let (a, half) = (lo + k as f64 * bin_width, bin_width / 2.0);
            let (mut m0, mut m1, mut m2) = (0.0, 0.0, 0.0);
            for (node, weight) in GAUSS_LEGENDRE_5 {
                let offset = half * node; // from the bin's centre
                let f = weight * half * dist.pdf(a + half + offset);
                (m0, m1, m2) = (m0 + f, m1 + f * offset, m2 + f * offset * offset);
            }
            if m0 > 0.0 {
                values.push(a + half + m1 / m0);
                probabilities.push(m0);
                second += m2 - m1 * m1 / m0;
            }
        }
        let total: f64 = probabilities.iter().sum();
        probabilities.iter_mut().for_each(|p| *p /= total);
        Ok(Discretization {
            source: DiscreteSource { values, probabilities },
            bin_width,
            within_variance: (second / total).max(0.0),
        })
    }
}

/// The bins of `bin_width` that cover [lo, hi]: an error for a width that is not positive or
/// that would need more than [`MAX_BINS`].
fn bin_count(lo: f64, hi: f64, bin_width: f64) -> Result<usize> {
    let bins = (hi - lo) / bin_width;
    if !(bin_width > 0.0 && bins <= MAX_BINS as f64) {
        return Err(TheoryError::InvalidArgument(format!(
            "bin width {bin_width:e} over [{lo:e}, {hi:e}]: must be > 0 and give at most {MAX_BINS} bins"
        )));
    }
    Ok((bins.ceil() as usize).max(1))
}

/// The most bins a discretization may have (Blahut–Arimoto's cost grows with them).
pub const MAX_BINS: usize = 1 << 16;

/// One point of the R(D) curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RdPoint {
    /// Bits per sample.
    pub rate: f64,
    /// Mean squared error.
    pub distortion: f64,
    /// Upper bound of the error on `rate`, in bits: the true R(D) lies in [rate − accuracy, rate].
    pub accuracy: f64,
}

/// Blahut–Arimoto at slope `s` (in nats per unit of squared error): the R(D) point where the curve
/// has slope −s. The reproduction alphabet is the source's own values. Iterates until Blahut's
/// bound certifies the rate to within `tolerance_bits`.
///
/// # Formula
/// Q(j|i) ∝ q_j·e^(−s·d_ij), q_j ← Σᵢ pᵢ Q(j|i), d_ij = (xᵢ − x_j)². With
/// cⱼ = Σᵢ pᵢ e^(−s d_ij) / Σₖ qₖ e^(−s d_ik), the rate R of the current Q satisfies
/// R − (max_j ln cⱼ − Σⱼ qⱼ ln cⱼ) ≤ R(D) ≤ R (Blahut 1972, Theorem 8).
/// Kernel entries below e^(−60) are dropped, so the cost is banded.
pub fn rd_point(source: &DiscreteSource, s: f64, tolerance_bits: f64) -> Result<RdPoint> {
    let mut q = vec![1.0 / source.values.len() as f64; source.values.len()];
    rd_point_from(source, s, tolerance_bits, &mut q)
}

/// Blahut–Arimoto iterations per point at most.
const MAX_ITERATIONS: usize = 5_000;

/// [`rd_point`] starting from (and leaving behind) the output distribution `q`.
fn rd_point_from(source: &DiscreteSource, s: f64, tolerance_bits: f64, q: &mut [f64]) -> Result<RdPoint> {
    if !(s >= 0.0 && s.is_finite()) {
        return Err(TheoryError::InvalidArgument(format!("slope must be finite and ≥ 0, got {s}")));
    }
    let x = &source.values;
    let p = &source.probabilities;
    let n = x.len();
    // The banded kernel: row i holds e^(−s(xᵢ−xⱼ)²) for j in band[i] (x sorted ascending).
    let reach = if s > 0.0 { (60.0 / s).sqrt() } else { f64::INFINITY };
    let band: Vec<(usize, usize)> =
        (0..n).map(|i| (x.partition_point(|&v| v < x[i] - reach), x.partition_point(|&v| v <= x[i] + reach))).collect();
    let kernel: Vec<Vec<f64>> =
        (0..n).map(|i| (band[i].0..band[i].1).map(|j| (-s * (x[i] - x[j]).powi(2)).exp()).collect()).collect();
    let mut norm = vec![0.0; n];
    let mut c = vec![0.0; n];
    // One sweep: normalisers, then c_j; returns the certificate max ln c − Σ q ln c (nats).
    let sweep = |q: &[f64], norm: &mut [f64], c: &mut [f64]| {
        for i in 0..n {
            norm[i] = kernel[i].iter().zip(&q[band[i].0..band[i].1]).map(|(k, q)| k * q).sum();
        }
        c.fill(0.0);
        for i in 0..n {
            if p[i] > 0.0 {
                let w = p[i] / norm[i];
                for (c, k) in c[band[i].0..band[i].1].iter_mut().zip(&kernel[i]) {
                    *c += w * k;
                }
            }
        }
        let (mut max, mut mean) = (f64::NEG_INFINITY, 0.0);
        for j in 0..n {
            if q[j] > 0.0 && c[j] > 0.0 {
                max = max.max(c[j].ln());
                mean += q[j] * c[j].ln();
            }
        }
        max - mean
    };
    let ln2 = std::f64::consts::LN_2;
    let mut certificate = sweep(q, &mut norm, &mut c);
    // Blahut's iteration can crawl (fine alphabets, empty histogram bins); past the cap the point
    // is returned with the accuracy it reached, which the caller sees in `RdPoint::accuracy`.
    for _ in 0..MAX_ITERATIONS {
        if certificate / ln2 <= tolerance_bits {
            break;
        }
        for (q, c) in q.iter_mut().zip(&c) {
            *q *= c;
        }
        certificate = sweep(q, &mut norm, &mut c);
    }
    // Rate and distortion of the conditional Q(j|i) = q_j·K_ij / norm_i.
    let (mut rate, mut distortion) = (0.0, 0.0);
    for i in 0..n {
        if p[i] == 0.0 {
            continue;
        }
        for (j, k) in (band[i].0..band[i].1).zip(&kernel[i]) {
            let cond = q[j] * k / norm[i];
            if cond > 0.0 {
                rate += p[i] * cond * (k / norm[i]).ln();
                distortion += p[i] * cond * (x[i] - x[j]).powi(2);
            }
        }
    }
    Ok(RdPoint { rate: rate / ln2, distortion, accuracy: (certificate / ln2).max(0.0) })
}

/// D(R) of the source at `rate` bits: bisection on ln s (the rate rises with the slope) until the
/// rate is within `tolerance_bits`, each point certified to a quarter of that.
pub fn distortion_at_rate(source: &DiscreteSource, rate: f64, tolerance_bits: f64) -> Result<RdPoint> {
    // The slope at which a Gaussian of the same variance reaches this rate, as a first guess.
    let guess = 1.0 / (2.0 * source.variance() * (-2.0 * rate).exp2());
    // The first point starts from the source's own distribution (at the rates that matter the
    // optimal output is the source, slightly narrowed), kept off zero so that every value stays
    // usable; each later point from the last one's output distribution.
    let floor = 1e-2 / source.values.len() as f64;
    let mut q: Vec<f64> = source.probabilities.iter().map(|p| (p + floor) / (1.0 + 1e-2)).collect();
    let mut at = |s: f64| rd_point_from(source, s, tolerance_bits / 4.0, &mut q);
    let (mut lo, mut hi) = (guess / 4.0, guess * 4.0);
    while at(lo)?.rate > rate && lo > 1e-300 {
        lo /= 16.0;
    }
    let mut point = at(hi)?;
    while point.rate < rate {
        if hi > 1e300 {
            return Ok(point); // the rate exceeds what the source can use: D is already ~0
        }
        hi *= 16.0;
        point = at(hi)?;
    }
    for _ in 0..200 {
        let s = (lo * hi).sqrt();
        point = at(s)?;
        if (point.rate - rate).abs() <= tolerance_bits || hi / lo < 1.0 + 1e-12 {
            break;
        }
        if point.rate < rate {
            lo = s;
        } else {
            hi = s;
        }
    }
    Ok(point)
}

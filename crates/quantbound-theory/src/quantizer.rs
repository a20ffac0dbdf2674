//! Scalar quantizer theory for a zero-centred generalized Gaussian source: the expected MSE of a
//! codebook (plain, or absmax-normalised per block as bnb does), Lloyd-Max designs, and the
//! MSE-optimal codebook for absmax blocks.
//!
//! A codebook's decision rule is nearest-neighbour (the midpoints between sorted values), which is
//! bnb's rule. The density is taken centred at 0, as absmax quantization is: use the fitted β and α
//! and ignore the (tiny) location.

use quantbound_codebook::{Blocksize, Codebook, FloatSlice, QuantizeOptions, Quantized4bit};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution as _, Gamma};
use rayon::prelude::*;
use statrs::distribution::ContinuousCDF;
use statrs::function::gamma::{gamma_lr, ln_gamma};

use crate::error::{Result, TheoryError};
use crate::ggd::GeneralizedGaussian;

/// How values are scaled into the codebook's range before quantizing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Normalization {
    /// A fixed scale s: Q(x) = s·c(x/s).
    Fixed(f64),
    /// bnb's blockwise absmax: s = max |x| over each block of this many i.i.d. values.
    Absmax(Blocksize),
}

/// ∫₀ˣ t^m f(t) dt for the zero-centred GGD, for x of either sign.
///
/// # Formula
/// J(m, x) = α^m·Γ((m+1)/β)/(2Γ(1/β)) · P((m+1)/β, (|x|/α)^β) for x ≥ 0, and (−1)^(m+1)·J(m, |x|)
/// below 0.
fn partial_moment(pm: &PartialMoments, m: i32, x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let i = m as usize;
    let z = (x.abs() / pm.alpha).powf(pm.beta);
    let p = if z.is_infinite() { 1.0 } else { gamma_lr(pm.a[i], z) };
    let magnitude = pm.coefficient[i] * p;
    if x > 0.0 || m % 2 == 1 {
        magnitude
    } else {
        -magnitude
    }
}

/// The factors of [`partial_moment`] that depend only on the distribution and m ∈ {0, 1, 2}:
/// a = (m+1)/β and α^m·Γ(a)/(2Γ(1/β)), computed once (the codebook designs evaluate the
/// moments millions of times).
struct PartialMoments {
    beta: f64,
    alpha: f64,
    a: [f64; 3],
    coefficient: [f64; 3],
}

impl PartialMoments {
    fn new(dist: &GeneralizedGaussian) -> Self {
        let (beta, alpha) = (dist.beta(), dist.scale());
        let a = [1.0, 2.0, 3.0].map(|m1: f64| m1 / beta);
        let coefficient =
            std::array::from_fn(|m| ((m as f64) * alpha.ln() + ln_gamma(a[m]) - ln_gamma(1.0 / beta)).exp() / 2.0);
        PartialMoments { beta, alpha, a, coefficient }
    }
}

/// ∫ₐᵇ (x − c)² f(x) dx, exactly.
fn cell_error(pm: &PartialMoments, a: f64, b: f64, c: f64) -> f64 {
    let at = |x: f64| [0, 1, 2].map(|m| partial_moment(pm, m, x));
    cell_error_between(&at(a), &at(b), c)
}

/// [`cell_error`] from J₀, J₁, J₂ at the cell's two edges.
fn cell_error_between(a: &[f64; 3], b: &[f64; 3], c: f64) -> f64 {
    let moment = |m: usize| b[m] - a[m];
    (moment(2) - 2.0 * c * moment(1) + c * c * moment(0)).max(0.0)
}

/// Sorted codebook values and the decision thresholds between them, in f64.
fn cells(values: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let thresholds = sorted.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
    (sorted, thresholds)
}

/// The MSE of quantizing x ∈ [−m, m] (density f restricted there, not renormalised) with
/// x ↦ m·c(x/m).
fn clipped_error(pm: &PartialMoments, sorted: &[f64], thresholds: &[f64], m: f64) -> f64 {
    // J₀, J₁, J₂ at each cell edge once (neighbouring cells share an edge); an edge clamped
    // differently from the two sides (outside [−1, 1]) is evaluated on each side.
    let at = |x: f64| [0, 1, 2].map(|k| partial_moment(pm, k, m * x));
    let ends = (at(-1.0), at(1.0));
    let edges: Vec<([f64; 3], [f64; 3])> = thresholds
        .iter()
        .map(|&t| {
            let (below, above) = (t.min(1.0), t.max(-1.0));
            let j = at(below);
            (j, if above == below { j } else { at(above) })
        })
        .collect();
    let last = sorted.len() - 1;
    let mut total = 0.0;
    for (k, &c) in sorted.iter().enumerate() {
        let lo = if k == 0 { -1.0 } else { thresholds[k - 1].max(-1.0) };
        let hi = if k == last { 1.0 } else { thresholds[k].min(1.0) };
        if hi > lo {
            let (a, b) =
                (if k == 0 { &ends.0 } else { &edges[k - 1].1 }, if k == last { &ends.1 } else { &edges[k].0 });
            total += cell_error_between(a, b, m * c);
        }
    }
    total
}

/// Nodes and weights of 32-point Gauss-Legendre on [−1, 1] (computed once by Newton on P₃₂).
fn gauss_legendre() -> &'static [(f64, f64)] {
    static NODES: std::sync::OnceLock<Vec<(f64, f64)>> = std::sync::OnceLock::new();
    NODES.get_or_init(|| {
        const N: usize = 32;
        (0..N)
            .map(|i| {
                let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (N as f64 + 0.5)).cos();
                let mut dp = 0.0;
                for _ in 0..100 {
                    let (mut p0, mut p1) = (1.0, x);
                    for k in 2..=N {
                        let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                        p0 = p1;
                        p1 = p2;
                    }
                    dp = N as f64 * (x * p1 - p0) / (x * x - 1.0);
                    let dx = p1 / dp;
                    x -= dx;
                    if dx.abs() < 1e-16 {
                        break;
                    }
                }
                (x, 2.0 / ((1.0 - x * x) * dp * dp))
            })
            .collect()
    })
}

/// Quadrature for E[φ(M)], M the largest |X| of a block of i.i.d. draws: integrated over
/// u = P(M ≤ m) ∈ (0, 1) with 32-point Gauss-Legendre panels that crowd towards u = 1, where m
/// grows. Holds (m, weight, P(|X| ≤ m)) per node, so the quantiles are inverted once.
struct BlockMax {
    nodes: Vec<(f64, f64, f64)>,
}

impl BlockMax {
    fn new(dist: &GeneralizedGaussian, blocksize: usize) -> Self {
        let b = blocksize as f64;
        // Panel edges 0, ½, 1 − 10⁻¹, …, 1 − 10⁻¹⁴, 1.
        let mut edges = vec![0.0, 0.5];
        edges.extend((1..=14).map(|k| 1.0 - 10f64.powi(-k)));
        edges.push(1.0);
        let mut nodes = Vec::new();
        for w in edges.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            for &(x, weight) in gauss_legendre() {
                let u = lo + (hi - lo) * (x + 1.0) / 2.0;
                // P(|X| ≤ m) = u^(1/B)  ⇒  m = F⁻¹((1 + u^(1/B)) / 2).
                let inside = u.powf(1.0 / b);
                let m = dist.inverse_cdf((1.0 + inside) / 2.0);
                if m.is_finite() && m > 0.0 {
                    nodes.push((m, weight * (hi - lo) / 2.0, 2.0 * dist.cdf(m) - 1.0));
                }
            }
        }
        BlockMax { nodes }
    }

    /// E[φ(M, P(|X| ≤ M))]: φ at the nodes in parallel, summed in node order (so the same
    /// bits on any number of threads).
    fn expect(&self, phi: impl Fn(f64, f64) -> f64 + Sync) -> f64 {
        let terms: Vec<f64> = self.nodes.par_iter().map(|&(m, weight, inside)| weight * phi(m, inside)).collect();
        terms.iter().sum()
    }
}

/// The expected per-element MSE of quantizing i.i.d. draws of a zero-centred GGD with the codebook
/// `values`, by numerical integration.
///
/// # Formula
/// Fixed scale s: Σₖ ∫ over cell k of (x − s·cₖ)² f(x) dx, in closed form through incomplete gammas.
/// Absmax blocks of B: with M = max|Xᵢ| and H(m) = P(|X| ≤ m),
/// MSE = (1/B)·E_M[ M²·ē(±1) + (B − 1)/H(M) · ∫₋M^M (x − M·c(x/M))² f(x) dx ],
/// ē(±1) the mean error of the block's own maximum (±1 after scaling; 0 when ±1 are codes).
pub fn expected_mse(codebook: &Codebook, dist: &GeneralizedGaussian, normalization: Normalization) -> Result<f64> {
    let values: Vec<f64> = codebook.values().iter().map(|&v| f64::from(v)).collect();
    expected_mse_f64(&values, dist, normalization)
}

fn expected_mse_f64(values: &[f64], dist: &GeneralizedGaussian, normalization: Normalization) -> Result<f64> {
    let (sorted, thresholds) = cells(values);
    match normalization {
        Normalization::Fixed(s) => {
            if !(s > 0.0 && s.is_finite()) {
                return Err(TheoryError::InvalidArgument(format!("scale must be positive, got {s}")));
            }
            // Cells unbounded at both ends: m = ∞ in clipped units is the whole line.
            let pm = PartialMoments::new(dist);
            let mut total = 0.0;
            for (k, &c) in sorted.iter().enumerate() {
                let lo = if k == 0 { f64::NEG_INFINITY } else { s * thresholds[k - 1] };
                let hi = if k == sorted.len() - 1 { f64::INFINITY } else { s * thresholds[k] };
                total += cell_error(&pm, lo, hi, s * c);
            }
            Ok(total)
        }
        Normalization::Absmax(blocksize) => {
            Ok(absmax_mse(values, dist, blocksize.get(), &BlockMax::new(dist, blocksize.get())))
        }
    }
}

/// [`expected_mse`] for absmax blocks, with the block-maximum quadrature given.
fn absmax_mse(values: &[f64], dist: &GeneralizedGaussian, blocksize: usize, block_max: &BlockMax) -> f64 {
    let (sorted, thresholds) = cells(values);
    let nearest = |u: f64| sorted.iter().copied().min_by(|a, b| (a - u).abs().total_cmp(&(b - u).abs())).unwrap();
    let edge = ((1.0 - nearest(1.0)).powi(2) + (-1.0 - nearest(-1.0)).powi(2)) / 2.0;
    let b = blocksize as f64;
    let pm = PartialMoments::new(dist);
    block_max
        .expect(|m, inside| m * m * edge / b + (b - 1.0) / b * clipped_error(&pm, &sorted, &thresholds, m) / inside)
}

/// The same expectation by simulation: `n_blocks` blocks drawn from the distribution, quantized
/// and dequantized by quantbound-codebook (bnb's exact kernel), MSE averaged. A cross-check of
/// [`expected_mse`], and of the kernel against the theory.
pub fn expected_mse_monte_carlo(
    codebook: &Codebook,
    dist: &GeneralizedGaussian,
    blocksize: Blocksize,
    n_blocks: usize,
    seed: u64,
) -> Result<f64> {
    let x = sample(dist, n_blocks * blocksize.get(), seed)?;
    let options = QuantizeOptions { codebook: codebook.clone(), blocksize, double_quant: false };
    let q = Quantized4bit::quantize("monte carlo", FloatSlice::F32(&x), &[x.len()], &options)
        .map_err(|e| TheoryError::InvalidArgument(e.to_string()))?;
    let back = q.dequantize().to_f32_vec();
    Ok(x.iter().zip(&back).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum::<f64>() / x.len() as f64)
}

/// `n` draws of the GGD: μ ± α·G^(1/β) with G ~ Gamma(1/β, 1) and a fair sign.
pub fn sample(dist: &GeneralizedGaussian, n: usize, seed: u64) -> Result<Vec<f32>> {
    let gamma = Gamma::new(1.0 / dist.beta(), 1.0).map_err(|e| TheoryError::InvalidArgument(e.to_string()))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Ok((0..n)
        .map(|_| {
            let g: f64 = gamma.sample(&mut rng);
            let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
            (dist.loc() + sign * dist.scale() * g.powf(1.0 / dist.beta())) as f32
        })
        .collect())
}

/// A Lloyd-Max design: the `levels`-level quantizer with the least MSE for the zero-centred GGD,
/// and that MSE.
///
/// # Formula
/// Alternate thresholds tₖ = (cₖ + cₖ₊₁)/2 and centroids cₖ = E[X | tₖ₋₁ < X ≤ tₖ] until the MSE
/// settles (relative change < 1e-13).
pub fn lloyd_max(dist: &GeneralizedGaussian, levels: usize) -> Result<(Vec<f64>, f64)> {
    if levels < 2 {
        return Err(TheoryError::InvalidArgument(format!("need at least 2 levels, got {levels}")));
    }
    let mut codes: Vec<f64> = (0..levels).map(|k| dist.inverse_cdf((k as f64 + 0.5) / levels as f64)).collect();
    let pm = PartialMoments::new(dist);
    let mut mse = f64::INFINITY;
    for _ in 0..100_000 {
        let (_, thresholds) = cells(&codes);
        let edge = |k: usize| {
            if k == 0 {
                f64::NEG_INFINITY
            } else if k == levels {
                f64::INFINITY
            } else {
                thresholds[k - 1]
            }
        };
        for (k, c) in codes.iter_mut().enumerate() {
            let (a, b) = (edge(k), edge(k + 1));
            let mass = partial_moment(&pm, 0, b) - partial_moment(&pm, 0, a);
            if mass > 0.0 {
                *c = (partial_moment(&pm, 1, b) - partial_moment(&pm, 1, a)) / mass;
            }
        }
        let new = expected_mse_f64(&codes, dist, Normalization::Fixed(1.0))?;
        let settled = (mse - new).abs() <= 1e-13 * new;
        mse = new;
        if settled {
            break;
        }
    }
    Ok((codes, mse))
}

/// The MSE-optimal 16-value codebook for absmax-normalised blocks of `blocksize` i.i.d. draws
/// (BOF4-style): the end points stay at ±1, where each block's maximum lands exactly, and the 14
/// inner values follow a Lloyd iteration weighted by the block maximum, from `start`'s values.
/// Returns the codebook and its expected MSE.
///
/// # Formula
/// Thresholds are midpoints; a free value of cell [a, b] becomes
/// cₖ = E_M[(M/H(M))·∫_{Ma}^{Mb} x f(x) dx] / E_M[(M²/H(M))·∫_{Ma}^{Mb} f(x) dx].
pub fn optimal_absmax_codebook(
    dist: &GeneralizedGaussian,
    blocksize: Blocksize,
    start: &Codebook,
) -> Result<(Codebook, f64)> {
    let blocksize = blocksize.get();
    let mut codes: Vec<f64> = start.values().iter().map(|&v| f64::from(v)).collect();
    codes.sort_by(f64::total_cmp);
    codes[0] = -1.0;
    codes[15] = 1.0;
    let block_max = BlockMax::new(dist, blocksize);
    let pm = PartialMoments::new(dist);
    let mut mse = f64::INFINITY;
    for _ in 0..500 {
        let (_, thresholds) = cells(&codes);
        let mut next = codes.clone();
        // J₀ and J₁ at M·t for every node M and threshold t, once: neighbouring cells share a
        // threshold, and each cell's numerator and denominator its two.
        let tables: Vec<Vec<[f64; 2]>> = block_max
            .nodes
            .par_iter()
            .map(|&(m, _, _)| {
                thresholds.iter().map(|&t| [partial_moment(&pm, 0, m * t), partial_moment(&pm, 1, m * t)]).collect()
            })
            .collect();
        for k in 1..15 {
            // E_M[M^power/H(M) · (J_moment(M·tₖ) − J_moment(M·tₖ₋₁))], summed in node order.
            let weighted = |moment: usize, power: i32| -> f64 {
                block_max
                    .nodes
                    .iter()
                    .zip(&tables)
                    .map(|(&(m, weight, inside), j)| {
                        weight * (m.powi(power) / inside * (j[k][moment] - j[k - 1][moment]))
                    })
                    .sum()
            };
            let numerator = weighted(1, 1);
            let denominator = weighted(0, 2);
            if denominator > 0.0 {
                next[k] = numerator / denominator;
            }
        }
        codes = next;
        let new = absmax_mse(&codes, dist, blocksize, &block_max);
        let settled = (mse - new).abs() <= 1e-10 * new;
        mse = new;
        if settled {
            break;
        }
    }
    let codebook = Codebook::custom(std::array::from_fn(|i| codes[i] as f32))
        .map_err(|e| TheoryError::InvalidArgument(format!("the optimised codebook: {e}")))?;
    Ok((codebook, mse))
}

//! Maximum-likelihood fit of a generalized Gaussian to samples (up to 10⁸ f32 values).
//!
//! For fixed shape β and location μ the scale has a closed form, α̂ = (β/n·Σ|xᵢ−μ|^β)^(1/β), so
//! the likelihood is maximised over (β, μ) only: Newton on the profile log-likelihood in β, and a
//! one-dimensional minimisation of Σ|xᵢ−μ|^β in μ, alternated until both settle. Every pass over
//! the data is parallel (rayon) and accumulates in f64.

use rayon::prelude::*;
use statrs::function::gamma::{digamma, ln_gamma};

use crate::error::{Result, TheoryError};
use crate::ggd::{trigamma, GeneralizedGaussian};

/// Elements summed by one rayon task.
const TASK: usize = 1 << 16;

/// A fitted GGD and how well it fits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GgdFit {
    pub dist: GeneralizedGaussian,
    /// Σ ln f(xᵢ) at the fit.
    pub loglik: f64,
    /// Passes over the data the fit took.
    pub passes: usize,
}

/// Fits β, μ and α by maximum likelihood, starting from the kurtosis. Fails on fewer than 3
/// values, NaN/±Inf, or constant data.
///
/// # Formula
/// ℓ(β, μ) = n·[ln β − ln 2 − ln Γ(1/β) − ln α̂ − 1/β], α̂ = (β/n·Σ|xᵢ−μ|^β)^(1/β).
pub fn fit_ggd(x: &[f32]) -> Result<GgdFit> {
    let bad = |reason: String| TheoryError::DegenerateSample { what: "GGD fit".into(), reason };
    if x.len() < 3 {
        return Err(bad(format!("need at least 3 values, got {}", x.len())));
    }
    let n = x.len() as f64;
    let mean = par_sum(x, |v| [v, 0.0, 0.0])[0] / n;
    let [m2, m4, nonfinite] = par_sum(x, |v| {
        let d = v - mean;
        if d.is_finite() {
            [d * d, d * d * d * d, 0.0]
        } else {
            [0.0, 0.0, 1.0]
        }
    });
    if nonfinite > 0.0 || !mean.is_finite() {
        return Err(bad("the values contain NaN or infinity".into()));
    }
    let (m2, m4) = (m2 / n, m4 / n);
    if m2 <= 0.0 {
        return Err(bad("the values are constant".into()));
    }
    let mut passes = 2;
    let mut beta = beta_from_kurtosis(m4 / (m2 * m2));
    let mut loc = mean;
    let spread = (m2 / n).sqrt(); // the standard error of the mean: how far μ̂ can be from x̄

    for _ in 0..50 {
        let (new_beta, p) = newton_beta(x, loc, beta);
        passes += p;
        let (new_loc, p) = location_step(x, loc, new_beta, spread);
        passes += p;
        let settled = (new_beta - beta).abs() <= 1e-9 * beta && (new_loc - loc).abs() <= 1e-9 * spread;
        beta = new_beta;
        loc = new_loc;
        if settled {
            break;
        }
    }
    let s0 = power_sums(x, loc, beta)[0];
    passes += 1;
    let scale = (beta * s0 / n).powf(1.0 / beta);
    let dist = GeneralizedGaussian::new(beta, loc, scale).map_err(|e| bad(e.to_string()))?;
    let loglik = n * (dist.ln_norm() - 1.0 / beta);
    Ok(GgdFit { dist, loglik, passes })
}

/// Σ f(xᵢ) over the data in parallel, three f64 accumulators.
fn par_sum(x: &[f32], f: impl Fn(f64) -> [f64; 3] + Sync) -> [f64; 3] {
    x.par_chunks(TASK)
        .map(|chunk| {
            let mut acc = [0.0; 3];
            for &v in chunk {
                let r = f(f64::from(v));
                acc[0] += r[0];
                acc[1] += r[1];
                acc[2] += r[2];
            }
            acc
        })
        .reduce(|| [0.0; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]])
}

/// S₀ = Σ dᵢ^β, S₁ = Σ dᵢ^β ln dᵢ, S₂ = Σ dᵢ^β ln² dᵢ with dᵢ = |xᵢ − μ| (zero distances add 0).
fn power_sums(x: &[f32], loc: f64, beta: f64) -> [f64; 3] {
    par_sum(x, |v| {
        let d = (v - loc).abs();
        if d == 0.0 {
            return [0.0; 3];
        }
        let l = d.ln();
        let p = (beta * l).exp();
        [p, p * l, p * l * l]
    })
}

/// The shape whose kurtosis Γ(5/β)Γ(1/β)/Γ(3/β)² matches the sample's (bisection; the kurtosis
/// falls from ∞ at β → 0 to 1.8 at β → ∞).
fn beta_from_kurtosis(kurtosis: f64) -> f64 {
    let k = |b: f64| (ln_gamma(5.0 / b) + ln_gamma(1.0 / b) - 2.0 * ln_gamma(3.0 / b)).exp();
    let (mut lo, mut hi) = (0.05f64, 50.0f64);
    let target = kurtosis.clamp(k(hi), k(lo));
    for _ in 0..100 {
        let mid = (lo * hi).sqrt();
        if k(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo * hi).sqrt()
}

/// Newton on the profile log-likelihood in β at fixed μ; returns β and the passes used.
///
/// # Formula
/// With L(β) = ln(S₀/n), L′ = S₁/S₀, L″ = S₂/S₀ − L′², g = ψ(1/β) + ln β + L − βL′:
/// ℓ/n = ln β − ln Γ(1/β) − (ln β + L + 1)/β − ln 2,  ℓ′/n = 1/β + g/β²,
/// ℓ″/n = −1/β² + g′/β² − 2g/β³ with g′ = −ψ₁(1/β)/β² + 1/β − βL″.
fn newton_beta(x: &[f32], loc: f64, mut beta: f64) -> (f64, usize) {
    let n = x.len() as f64;
    let mut passes = 0;
    for _ in 0..100 {
        let [s0, s1, s2] = power_sums(x, loc, beta);
        passes += 1;
        let l = (s0 / n).ln();
        let l1 = s1 / s0;
        let l2 = s2 / s0 - l1 * l1;
        let g = digamma(1.0 / beta) + beta.ln() + l - beta * l1;
        let d1 = 1.0 / beta + g / (beta * beta);
        let g1 = -trigamma(1.0 / beta) / (beta * beta) + 1.0 / beta - beta * l2;
        let d2 = -1.0 / (beta * beta) + g1 / (beta * beta) - 2.0 * g / (beta * beta * beta);
        // A Newton step where the profile is concave, else a cautious step uphill.
        let step = if d2 < 0.0 { -d1 / d2 } else { d1.signum() * 0.25 * beta };
        let next = (beta + step).clamp(beta / 2.0, beta * 2.0).clamp(0.02, 100.0);
        let done = (next - beta).abs() <= 1e-12 * beta;
        beta = next;
        if done {
            break;
        }
    }
    (beta, passes)
}

/// Minimises Σ|xᵢ − μ|^β over μ near `loc` (α does not enter); returns μ and the passes used.
/// Σ|x−μ|^β is convex for β ≥ 1: above 1.05, safeguarded Newton on its derivative; at or below,
/// golden-section search (for β < 1 the sum has a kink at every sample).
fn location_step(x: &[f32], loc: f64, beta: f64, spread: f64) -> (f64, usize) {
    let mut passes = 0;
    let objective = |mu: f64| power_sums(x, mu, beta)[0];
    if beta <= 1.05 {
        // Golden section on [loc − 4·spread, loc + 4·spread].
        let ratio = (5f64.sqrt() - 1.0) / 2.0;
        let (mut a, mut b) = (loc - 4.0 * spread, loc + 4.0 * spread);
        let (mut c, mut d) = (b - ratio * (b - a), a + ratio * (b - a));
        let (mut fc, mut fd) = (objective(c), objective(d));
        passes += 2;
        while b - a > 1e-10 * spread {
            if fc < fd {
                (b, d, fd) = (d, c, fc);
                c = b - ratio * (b - a);
                fc = objective(c);
            } else {
                (a, c, fc) = (c, d, fd);
                d = a + ratio * (b - a);
                fd = objective(d);
            }
            passes += 1;
        }
        let best = (a + b) / 2.0;
        // Keep the old location if the bracket did not hold a better one.
        return if objective(best) <= objective(loc) { (best, passes + 2) } else { (loc, passes + 2) };
    }
    // Derivative (up to the factor β) and second derivative (up to β(β−1)) of Σ|x−μ|^β.
    let derivs = |mu: f64| {
        let r = par_sum(x, |v| {
            let d = v - mu;
            let a = d.abs();
            if a == 0.0 {
                return [0.0; 3];
            }
            let p = ((beta - 2.0) * a.ln()).exp(); // a^(β−2)
            [-d * p, p, 0.0]
        });
        (beta * r[0], beta * (beta - 1.0) * r[1])
    };
    let (mut lo, mut hi) = (loc - spread, loc + spread);
    let (mut glo, _) = derivs(lo);
    let (mut ghi, _) = derivs(hi);
    passes += 2;
    while glo > 0.0 {
        lo -= 2.0 * (hi - lo);
        glo = derivs(lo).0;
        passes += 1;
    }
    while ghi < 0.0 {
        hi += 2.0 * (hi - lo);
        ghi = derivs(hi).0;
        passes += 1;
    }
    let mut mu = loc.clamp(lo, hi);
    for _ in 0..100 {
        let (g, h) = derivs(mu);
        passes += 1;
        if g < 0.0 {
            lo = mu;
        } else {
            hi = mu;
        }
        let mut next = if h > 0.0 { mu - g / h } else { f64::NAN };
        if !(next > lo && next < hi) {
            next = (lo + hi) / 2.0;
        }
        let done = (next - mu).abs() <= 1e-12 * spread.max(f64::MIN_POSITIVE) || hi - lo <= 1e-12 * spread;
        mu = next;
        if done {
            break;
        }
    }
    (mu, passes)
}

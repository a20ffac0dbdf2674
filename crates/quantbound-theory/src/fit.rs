//! Maximum-likelihood fit of a generalized Gaussian to samples (up to 10⁸ f32 values).
//!
//! For fixed shape β and location μ the scale has a closed form, α̂ = (β/n·Σ|xᵢ−μ|^β)^(1/β), so
//! the likelihood is maximised over (β, μ) only: Newton on the profile log-likelihood in β, and a
//! one-dimensional minimisation of Σ|xᵢ−μ|^β in μ, alternated until both settle. Every pass over
//! the data is parallel (rayon) and accumulates in f64.

use rayon::prelude::*;
use statrs::function::gamma::{digamma, ln_gamma};

use crate::error::{Result, TheoryError};
use crate::fastmath;
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

    // A kurtosis inflated by a few outliers starts β low: settle β at x̄ first (a few passes),
    // since a golden section in μ costs ~50.
    if beta <= SMOOTH_BETA {
        let (b, p) = newton_beta(x, loc, beta);
        passes += p;
        beta = b;
    }
    // Smooth enough in μ for Newton on both parameters at once.
    if beta > SMOOTH_BETA {
        let (b, l, p) = joint_newton(x, beta, loc, spread);
        passes += p;
        if b > SMOOTH_BETA {
            let dist =
                GeneralizedGaussian::new(b, l, scale_at(x, l, b, &mut passes)).map_err(|e| bad(e.to_string()))?;
            return Ok(GgdFit { dist, loglik: n * (dist.ln_norm() - 1.0 / b), passes });
        }
    }
    let mut last_profile: Option<f64> = None;
    for _ in 0..50 {
        let (new_beta, p) = newton_beta(x, loc, beta);
        passes += p;
        let (new_loc, s0, p) = location_step(x, loc, new_beta, spread);
        passes += p;
        // Each round raises ℓ; done when it rises by less than 1e-12 of itself (alternating
        // steps converge linearly, so what is left is a small multiple of the last gain) or the
        // parameters stop moving.
        let profile =
            new_beta.ln() - ln_gamma(1.0 / new_beta) - (new_beta.ln() + 1.0) / new_beta - (s0 / n).ln() / new_beta;
        let gained = last_profile.map_or(f64::INFINITY, |last| profile - last);
        let settled = (new_beta - beta).abs() <= 1e-9 * beta && (new_loc - loc).abs() <= 1e-9 * spread;
        beta = new_beta;
        loc = new_loc;
        last_profile = Some(profile);
        if settled || gained.abs() <= 1e-12 * profile.abs() {
            break;
        }
    }
    let dist =
        GeneralizedGaussian::new(beta, loc, scale_at(x, loc, beta, &mut passes)).map_err(|e| bad(e.to_string()))?;
    let loglik = n * (dist.ln_norm() - 1.0 / beta);
    Ok(GgdFit { dist, loglik, passes })
}

/// Shapes above this are fitted by joint Newton on (β, μ); at or below it Σ|x−μ|^β is too kinky
/// in μ, and the location is found by golden-section search instead.
const SMOOTH_BETA: f64 = 1.1;

/// The closed-form scale α̂ = (β/n·Σ|xᵢ−μ|^β)^(1/β).
fn scale_at(x: &[f32], loc: f64, beta: f64, passes: &mut usize) -> f64 {
    *passes += 1;
    (beta * power_sums(x, loc, beta)[0] / x.len() as f64).powf(1.0 / beta)
}

/// Newton on the profile log-likelihood in (β, μ) jointly, one pass per step, halving a step that
/// lowers the likelihood. Returns (β, μ, passes).
///
/// # Formula
/// ℓ/n = f(β) − T/β + const, f = ln β − ln Γ(1/β) − (ln β + 1)/β, T = ln(S₀/n), with
/// T_β = S₁/S₀, T_ββ = S₂/S₀ − T_β², T_μ = −β·A/S₀, T_μμ = β(β−1)·B/S₀ − T_μ²,
/// T_βμ = −(β·C + A)/S₀ − T_β·T_μ (A, B, C the sums of [`moments`]);
/// f′ = 1/β + (ψ(1/β) + ln β)/β², f″ = −1/β² − ψ₁(1/β)/β⁴ − 2ψ(1/β)/β³ + (1 − 2 ln β)/β³.
fn joint_newton(x: &[f32], mut beta: f64, mut loc: f64, spread: f64) -> (f64, f64, usize) {
    let n = x.len() as f64;
    let mut passes = 0;
    let mut last: Option<(f64, f64, f64, [f64; 2])> = None; // (β, μ, ℓ/n, step) before the step
    for _ in 0..200 {
        let [s0, s1, s2, a, b, c] = moments(x, loc, beta);
        passes += 1;
        let t = (s0 / n).ln();
        let profile = beta.ln() - ln_gamma(1.0 / beta) - (beta.ln() + 1.0) / beta - t / beta;
        if let Some((b0, l0, p0, step)) = last {
            if profile < p0 - 1e-15 * p0.abs() && (step[0].abs() > 1e-12 * b0 || step[1].abs() > 1e-12 * spread) {
                // Worse: go back halfway.
                beta = b0 + step[0] / 2.0;
                loc = l0 + step[1] / 2.0;
                last = Some((b0, l0, p0, [step[0] / 2.0, step[1] / 2.0]));
                continue;
            }
        }
        let (tb, tbb) = (s1 / s0, s2 / s0 - (s1 / s0).powi(2));
        let tm = -beta * a / s0;
        let tmm = beta * (beta - 1.0) * b / s0 - tm * tm;
        let tbm = -(beta * c + a) / s0 - tb * tm;
        let (psi, ln_b) = (digamma(1.0 / beta), beta.ln());
        let f1 = 1.0 / beta + (psi + ln_b) / (beta * beta);
        let f2 = -1.0 / (beta * beta) - trigamma(1.0 / beta) / beta.powi(4) - 2.0 * psi / beta.powi(3)
            + (1.0 - 2.0 * ln_b) / beta.powi(3);
        let g = [f1 - tb / beta + t / (beta * beta), -tm / beta];
        let h = [
            [f2 - tbb / beta + 2.0 * tb / (beta * beta) - 2.0 * t / beta.powi(3), -tbm / beta + tm / (beta * beta)],
            [0.0, -tmm / beta],
        ];
        let (hbb, hbm, hmm) = (h[0][0], h[0][1], h[1][1]);
        let det = hbb * hmm - hbm * hbm;
        let step = if hbb < 0.0 && det > 0.0 {
            [-(hmm * g[0] - hbm * g[1]) / det, -(hbb * g[1] - hbm * g[0]) / det]
        } else {
            // Not concave here: a cautious step uphill in β alone.
            [g[0].signum() * 0.25 * beta, 0.0]
        };
        // Done when the quadratic model promises less than 1e-12 of ℓ/n (the Newton decrement):
        // on rounded weights (a GGUF's grid) Σ|x−μ|^β has a kink at every repeated value, and
        // steps there shrink without end while the likelihood no longer moves.
        let decrement = (g[0] * step[0] + g[1] * step[1]) / 2.0; // gᵀ(−H⁻¹)g/2 ≥ 0
        let step = [step[0].clamp(-beta / 2.0, beta), step[1].clamp(-10.0 * spread, 10.0 * spread)];
        let negligible = hbb < 0.0 && det > 0.0 && decrement <= 1e-12 * profile.abs();
        if negligible || (step[0].abs() <= 1e-10 * beta && step[1].abs() <= 1e-10 * spread) {
            break;
        }
        last = Some((beta, loc, profile, step));
        beta = (beta + step[0]).clamp(0.02, 100.0);
        loc += step[1];
    }
    (beta, loc, passes)
}

/// Σ f(xᵢ) over the data in parallel, three f64 accumulators.
fn par_sum(x: &[f32], f: impl Fn(f64) -> [f64; 3] + Sync) -> [f64; 3] {
    let level = quantbound_simd::active();
    x.par_chunks(TASK)
        .map(|chunk| {
            level.vectorize(
                #[inline(always)]
                || {
                    let mut acc = [0.0; 3];
                    for &v in chunk {
                        let r = f(f64::from(v));
                        acc[0] += r[0];
                        acc[1] += r[1];
                        acc[2] += r[2];
                    }
                    acc
                },
            )
        })
        .reduce(|| [0.0; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]])
}

/// Six sums over dᵢ = |xᵢ − μ| > 0 and sᵢ = sign(xᵢ − μ), in one pass:
/// [Σ d^β, Σ d^β ln d, Σ d^β ln² d, Σ s·d^(β−1), Σ d^(β−2), Σ s·d^(β−1) ln d].
/// Zero distances add 0 (their terms vanish, or are excluded for the negative powers).
fn moments(x: &[f32], loc: f64, beta: f64) -> [f64; 6] {
    let level = quantbound_simd::active();
    x.par_chunks(TASK).map(|chunk| level.vectorize(Moments { level, chunk, loc, beta })).reduce(
        || [0.0; 6],
        |mut a, b| {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
            a
        },
    )
}

/// [`moments_chunk`] as a pulp operation, so that it is compiled for the active level (a closure
/// would be called through a shim that stays baseline code).
struct Moments<'a> {
    level: quantbound_simd::SimdLevel,
    chunk: &'a [f32],
    loc: f64,
    beta: f64,
}

impl pulp::WithSimd for Moments<'_> {
    type Output = [f64; 6];

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> [f64; 6] {
        moments_chunk(self.level, self.chunk, self.loc, self.beta)
    }
}

/// Lanes of the vectorised sums.
const LANES: usize = 8;

/// [`moments`] over one chunk, eight lanes at a time so the loop vectorises (compiled for the
/// active SIMD level by the caller; AVX2 has its own kernel, `fit_avx2.rs`). The lanes fix the order of the additions, so every level
/// gives the same bits.
#[inline(always)]
fn moments_chunk(level: quantbound_simd::SimdLevel, chunk: &[f32], loc: f64, beta: f64) -> [f64; 6] {
    let mut acc = [[0.0f64; LANES]; 6];
    let (groups, rest) = chunk.as_chunks::<LANES>();
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the level is active, so the CPU has AVX2.
        quantbound_simd::SimdLevel::Avx2 => unsafe { crate::fit_avx2::accumulate_groups(&mut acc, groups, loc, beta) },
        _ => {
            for group in groups {
                accumulate(&mut acc, group, LANES, loc, beta);
            }
        }
    }
    let mut tail = [0f32; LANES];
    tail[..rest.len()].copy_from_slice(rest);
    accumulate(&mut acc, &tail, rest.len(), loc, beta);
    acc.map(|lanes| lanes.iter().sum())
}

/// Adds the terms of the first `active` values of `group` to the lane accumulators.
#[inline(always)]
fn accumulate(acc: &mut [[f64; LANES]; 6], group: &[f32; LANES], active: usize, loc: f64, beta: f64) {
    for lane in 0..LANES {
        let diff = f64::from(group[lane]) - loc;
        let valid = (diff != 0.0) & (lane < active);
        let d = if valid { diff.abs() } else { 1.0 };
        let weight = if valid { 1.0 } else { 0.0 };
        let sign = if diff < 0.0 { -1.0 } else { 1.0 };
        let l = fastmath::ln(d);
        let p = weight * fastmath::exp(beta * l);
        let p1 = p / d;
        acc[0][lane] += p;
        acc[1][lane] += p * l;
        acc[2][lane] += p * l * l;
        acc[3][lane] += sign * p1;
        acc[4][lane] += p1 / d;
        acc[5][lane] += sign * p1 * l;
    }
}

/// [S₀, S₁, S₂] of [`moments`].
fn power_sums(x: &[f32], loc: f64, beta: f64) -> [f64; 3] {
    let m = moments(x, loc, beta);
    [m[0], m[1], m[2]]
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

/// Minimises Σ|xᵢ − μ|^β over μ in [loc − 4·spread, loc + 4·spread] (α does not enter) by
/// golden-section search to 1e-7 of the standard error, which needs no derivative: for β ≤ 1
/// the sum has a kink at every sample. Returns μ, Σ|xᵢ − μ|^β there, and the passes used.
fn location_step(x: &[f32], loc: f64, beta: f64, spread: f64) -> (f64, f64, usize) {
    let objective = |mu: f64| power_sums(x, mu, beta)[0];
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (loc - 4.0 * spread, loc + 4.0 * spread);
    let (mut c, mut d) = (b - ratio * (b - a), a + ratio * (b - a));
    let (mut fc, mut fd) = (objective(c), objective(d));
    let mut passes = 2;
    while b - a > 1e-7 * spread {
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
    let (at_best, at_loc) = (objective(best), objective(loc));
    if at_best <= at_loc {
        (best, at_best, passes + 2)
    } else {
        (loc, at_loc, passes + 2)
    }
}

//! The generalized Gaussian (generalized normal, "GGD") distribution: β = 2 is the Gaussian,
//! β = 1 the Laplacian, β → ∞ the uniform. Same parametrisation as scipy's `gennorm(β, loc, scale)`.

use statrs::distribution::{Continuous, ContinuousCDF};
use statrs::function::gamma::{gamma_lr, gamma_ur, ln_gamma};
use statrs::statistics::{Distribution, Max, Min};

use crate::error::{Result, TheoryError};

/// A generalized Gaussian with shape `beta`, location `loc` and scale `scale` (α).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeneralizedGaussian {
    beta: f64,
    loc: f64,
    scale: f64,
}

impl GeneralizedGaussian {
    /// Validates β > 0, α > 0 (both finite) and a finite location.
    pub fn new(beta: f64, loc: f64, scale: f64) -> Result<Self> {
        if !(beta.is_finite() && beta > 0.0) {
            return Err(TheoryError::InvalidParameter(format!("shape β must be finite and > 0, got {beta}")));
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(TheoryError::InvalidParameter(format!("scale α must be finite and > 0, got {scale}")));
        }
        if !loc.is_finite() {
            return Err(TheoryError::InvalidParameter(format!("location μ must be finite, got {loc}")));
        }
        Ok(GeneralizedGaussian { beta, loc, scale })
    }

    /// The GGD with the given shape and variance σ², centred at `loc`.
    ///
    /// # Formula
    /// α = σ·√(Γ(1/β)/Γ(3/β))
    pub fn with_variance(beta: f64, loc: f64, variance: f64) -> Result<Self> {
        let scale = (variance * (ln_gamma(1.0 / beta) - ln_gamma(3.0 / beta)).exp()).sqrt();
        Self::new(beta, loc, scale)
    }

    pub fn beta(&self) -> f64 {
        self.beta
    }

    pub fn loc(&self) -> f64 {
        self.loc
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// ln of the normalising constant.
    ///
    /// # Formula
    /// ln(β / (2α·Γ(1/β)))
    pub fn ln_norm(&self) -> f64 {
        self.beta.ln() - std::f64::consts::LN_2 - self.scale.ln() - ln_gamma(1.0 / self.beta)
    }

    /// Differential entropy in nats.
    ///
    /// # Formula
    /// h = 1/β − ln(β / (2α·Γ(1/β)))
    pub fn entropy_nats(&self) -> f64 {
        1.0 / self.beta - self.ln_norm()
    }

    /// Differential entropy in bits.
    ///
    /// # Formula
    /// h = (1/β)·log2(e) − log2(β / (2α·Γ(1/β)))
    pub fn entropy_bits(&self) -> f64 {
        self.entropy_nats() / std::f64::consts::LN_2
    }

    /// The seed notebook's `ggd_entropy`, which forgets the log2(e) on 1/β and so mixes nats and
    /// bits: it understates the entropy by (log2(e) − 1)/β ≈ 0.4427/β bits. Kept only to show the
    /// difference beside [`GeneralizedGaussian::entropy_bits`].
    ///
    /// # Formula
    /// h_seed = 1/β − log2(β / (2α·Γ(1/β)))
    pub fn entropy_bits_seed_formula(&self) -> f64 {
        1.0 / self.beta - self.ln_norm() / std::f64::consts::LN_2
    }

    /// The quantile of the standardised magnitude: the z with P(1/β, z) = 1 − q (the upper tail
    /// `q` of Z = (|X−μ|/α)^β ~ Gamma(1/β, 1)), found by Newton on ln z with a bisection guard.
    fn gamma_upper_quantile(&self, q: f64) -> f64 {
        let a = 1.0 / self.beta;
        let (mut lo, mut hi) = (f64::MIN_POSITIVE, 1.0f64);
        while gamma_ur(a, hi) > q {
            hi *= 2.0;
        }
        let mut z = hi / 2.0;
        for _ in 0..200 {
            let f = gamma_ur(a, z) - q; // decreasing in z
            if f > 0.0 {
                lo = z;
            } else {
                hi = z;
            }
            // d Q/d ln z = −z·z^(a−1)e^(−z)/Γ(a)
            let slope = -((a * z.ln() - z - ln_gamma(a)).exp());
            let mut next = z * (-f / slope).clamp(-30.0, 30.0).exp();
            if !(next > lo && next < hi) || slope == 0.0 {
                next = if lo > 0.0 && hi.is_finite() { (lo * hi).sqrt() } else { (lo + hi) / 2.0 };
            }
            if (next - z).abs() <= 1e-15 * z {
                return next;
            }
            z = next;
        }
        z
    }
}

impl Continuous<f64, f64> for GeneralizedGaussian {
    /// # Formula
    /// f(x) = β / (2α·Γ(1/β)) · exp(−(|x−μ|/α)^β)
    fn pdf(&self, x: f64) -> f64 {
        self.ln_pdf(x).exp()
    }

    /// # Formula
    /// ln f(x) = ln(β / (2α·Γ(1/β))) − (|x−μ|/α)^β
    fn ln_pdf(&self, x: f64) -> f64 {
        self.ln_norm() - ((x - self.loc).abs() / self.scale).powf(self.beta)
    }
}

impl ContinuousCDF<f64, f64> for GeneralizedGaussian {
    /// # Formula
    /// F(x) = ½ + sign(x−μ)·½·P(1/β, (|x−μ|/α)^β), P the regularised lower incomplete gamma;
    /// the lower tail is computed as ½·Q(1/β, ·) to keep its relative precision.
    fn cdf(&self, x: f64) -> f64 {
        let z = ((x - self.loc).abs() / self.scale).powf(self.beta);
        let a = 1.0 / self.beta;
        // statrs' incomplete gammas take z in (0, ∞) only.
        if x.is_nan() {
            return f64::NAN;
        } else if z == 0.0 {
            return 0.5;
        } else if z.is_infinite() {
            return if x < self.loc { 0.0 } else { 1.0 };
        }
        if x < self.loc {
            0.5 * gamma_ur(a, z)
        } else {
            0.5 + 0.5 * gamma_lr(a, z)
        }
    }

    fn sf(&self, x: f64) -> f64 {
        self.cdf(2.0 * self.loc - x)
    }

    /// # Formula
    /// F⁻¹(p) = μ − α·z^(1/β) with Q(1/β, z) = 2p for p < ½, and μ + α·z^(1/β) with
    /// Q(1/β, z) = 2(1 − p) above.
    fn inverse_cdf(&self, p: f64) -> f64 {
        if p.is_nan() || !(0.0..=1.0).contains(&p) {
            return f64::NAN;
        }
        if p == 0.0 {
            return f64::NEG_INFINITY;
        }
        if p == 1.0 {
            return f64::INFINITY;
        }
        if p == 0.5 {
            return self.loc;
        }
        let (tail, sign) = if p < 0.5 { (2.0 * p, -1.0) } else { (2.0 * (1.0 - p), 1.0) };
        self.loc + sign * self.scale * self.gamma_upper_quantile(tail).powf(1.0 / self.beta)
    }
}

impl Min<f64> for GeneralizedGaussian {
    fn min(&self) -> f64 {
        f64::NEG_INFINITY
    }
}

impl Max<f64> for GeneralizedGaussian {
    fn max(&self) -> f64 {
        f64::INFINITY
    }
}

impl Distribution<f64> for GeneralizedGaussian {
    fn mean(&self) -> Option<f64> {
        Some(self.loc)
    }

    /// # Formula
    /// σ² = α²·Γ(3/β)/Γ(1/β)
    fn variance(&self) -> Option<f64> {
        Some(self.scale * self.scale * (ln_gamma(3.0 / self.beta) - ln_gamma(1.0 / self.beta)).exp())
    }

    /// In nats, as statrs' other distributions; see also [`GeneralizedGaussian::entropy_bits`].
    fn entropy(&self) -> Option<f64> {
        Some(self.entropy_nats())
    }
}

/// The trigamma function ψ₁(x) = d²/dx² ln Γ(x), for x > 0 (statrs has no trigamma).
///
/// # Formula
/// ψ₁(x) = ψ₁(x+1) + 1/x² below 6; above, the asymptotic series
/// 1/x + 1/(2x²) + 1/(6x³) − 1/(30x⁵) + 1/(42x⁷) − 1/(30x⁹) (error < 1e-12).
pub fn trigamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 6.0 {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    acc + inv + inv2 / 2.0 + inv * inv2 * (1.0 / 6.0 - inv2 * (1.0 / 30.0 - inv2 * (1.0 / 42.0 - inv2 / 30.0)))
}

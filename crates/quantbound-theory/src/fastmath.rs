//! Branch-free f64 `ln` and `exp` that the compiler can vectorise (libm's are opaque calls), for
//! the fit's passes over up to 10⁸ values. Both are accurate to a few ulp on the ranges used.

/// 1/(2k+1) for k = 0..12: the atanh series.
pub(crate) const LN_SERIES: [f64; 12] = [
    1.0,
    0.3333333333333333,
    0.2,
    0.14285714285714285,
    0.1111111111111111,
    0.09090909090909091,
    0.07692307692307693,
    0.06666666666666667,
    0.058823529411764705,
    0.05263157894736842,
    0.047619047619047616,
    0.043478260869565216,
];

/// 1/n! for n = 0..14: the exponential series.
pub(crate) const EXP_SERIES: [f64; 14] = [
    1.0,
    1.0,
    0.5,
    0.16666666666666666,
    0.041666666666666664,
    0.008333333333333333,
    0.001388888888888889,
    0.0001984126984126984,
    2.48015873015873e-05,
    2.7557319223985893e-06,
    2.755731922398589e-07,
    2.505210838544172e-08,
    2.08767569878681e-09,
    1.6059043836821613e-10,
];

/// 2⁵².
pub(crate) const TWO_52: f64 = 4_503_599_627_370_496.0;
/// 1.5·2⁵²: adding it rounds an f64 of magnitude < 2⁵¹ to an integer held in the low bits.
pub(crate) const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// ln x for normal positive x.
///
/// # Formula
/// x = m·2^e with m ∈ [√½, √2); ln x = e·ln 2 + 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.1716,
/// atanh by its odd series to s²³ (remainder < 1e-19).
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    // The biased exponent as an f64 without an integer → float conversion (which AVX2 lacks for
    // 64-bit lanes): 2⁵² + n has n in its low mantissa bits.
    let biased = f64::from_bits(0x4330_0000_0000_0000 | ((bits >> 52) & 0x7ff)) - TWO_52;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > std::f64::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    let e = biased - 1023.0 + if big { 1.0 } else { 0.0 };
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    // 1 + s²/3 + s⁴/5 + … + s²²/23, Horner.
    let mut p = LN_SERIES[11];
    for &c in LN_SERIES[..11].iter().rev() {
        p = p * s2 + c;
    }
    e * std::f64::consts::LN_2 + 2.0 * s * p
}

/// eˣ for x in [−708, 709] (clamped outside).
///
/// # Formula
/// x = k·ln 2 + r, k = round(x/ln 2) (ties to even), |r| ≤ ln2/2 (ln 2 split in two parts for exactness);
/// eʳ by its Taylor series to r¹³ (remainder < 2e-16); eˣ = 2ᵏ·eʳ.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let x = x.clamp(-708.0, 709.0);
    // k = x/ln 2 rounded to the nearest integer (ties to even) by adding 1.5·2⁵²: the sum's low
    // mantissa bits then hold k in two's complement, which builds 2ᵏ below with integer ops only.
    let shifted = x * std::f64::consts::LOG2_E + ROUNDER;
    let k = shifted - ROUNDER;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = EXP_SERIES[13];
    for &c in EXP_SERIES[..13].iter().rev() {
        p = p * r + c;
    }
    p * f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52)
}

#[cfg(test)]
mod tests {
    #[test]
    fn agree_with_libm() {
        let mut worst: (f64, f64) = (0.0, 0.0);
        for i in 0..200_000 {
            let x = 1e-40f64 * 1.0005f64.powi(i);
            let rel = (super::ln(x) - x.ln()).abs() / x.ln().abs().max(1e-300);
            worst.0 = worst.0.max(if x.ln().abs() > 1e-3 { rel } else { (super::ln(x) - x.ln()).abs() });
            let y = -700.0 + 1409.0 * i as f64 / 200_000.0;
            worst.1 = worst.1.max((super::exp(y) - y.exp()).abs() / y.exp());
        }
        assert!(worst.0 < 1e-15 && worst.1 < 1e-15, "{worst:?}");
    }
}

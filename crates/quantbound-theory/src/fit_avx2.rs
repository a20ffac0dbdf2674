//! The fit's one hot loop, [`crate::fit`]'s six power sums, in AVX2 intrinsics: the compiler does
//! not vectorise the portable lane loop for AVX2 (it does for SSE2 and AVX-512). Each operation is
//! the portable code's, in the same order and without fused multiply-adds, on the same eight
//! lanes, so the sums are bit-identical to every other level's (tests/simd_levels.rs).

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use crate::fastmath::{EXP_SERIES, LN_SERIES, ROUNDER, TWO_52};

/// Four f64 lanes of [`crate::fastmath::ln`], operation for operation.
#[inline]
#[target_feature(enable = "avx2")]
fn ln(x: __m256d) -> __m256d {
    let bits = _mm256_castpd_si256(x);
    let exponent = _mm256_and_si256(_mm256_srli_epi64::<52>(bits), _mm256_set1_epi64x(0x7ff));
    let biased = _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(_mm256_set1_epi64x(0x4330_0000_0000_0000), exponent)),
        _mm256_set1_pd(TWO_52),
    );
    let mantissa = _mm256_and_si256(bits, _mm256_set1_epi64x(0x000f_ffff_ffff_ffff));
    let m = _mm256_castsi256_pd(_mm256_or_si256(mantissa, _mm256_set1_epi64x(0x3ff0_0000_0000_0000)));
    let big = _mm256_cmp_pd::<_CMP_GT_OQ>(m, _mm256_set1_pd(std::f64::consts::SQRT_2));
    let m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
    let e = _mm256_add_pd(_mm256_sub_pd(biased, _mm256_set1_pd(1023.0)), _mm256_and_pd(big, _mm256_set1_pd(1.0)));
    let one = _mm256_set1_pd(1.0);
    let s = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
    let s2 = _mm256_mul_pd(s, s);
    let mut p = _mm256_set1_pd(LN_SERIES[11]);
    for &c in LN_SERIES[..11].iter().rev() {
        p = _mm256_add_pd(_mm256_mul_pd(p, s2), _mm256_set1_pd(c));
    }
    _mm256_add_pd(
        _mm256_mul_pd(e, _mm256_set1_pd(std::f64::consts::LN_2)),
        _mm256_mul_pd(_mm256_mul_pd(_mm256_set1_pd(2.0), s), p),
    )
}

/// Four f64 lanes of [`crate::fastmath::exp`], operation for operation.
#[inline]
#[target_feature(enable = "avx2")]
fn exp(x: __m256d) -> __m256d {
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let x = _mm256_min_pd(_mm256_max_pd(x, _mm256_set1_pd(-708.0)), _mm256_set1_pd(709.0));
    let shifted = _mm256_add_pd(_mm256_mul_pd(x, _mm256_set1_pd(std::f64::consts::LOG2_E)), _mm256_set1_pd(ROUNDER));
    let k = _mm256_sub_pd(shifted, _mm256_set1_pd(ROUNDER));
    let r = _mm256_sub_pd(
        _mm256_sub_pd(x, _mm256_mul_pd(k, _mm256_set1_pd(LN2_HI))),
        _mm256_mul_pd(k, _mm256_set1_pd(LN2_LO)),
    );
    let mut p = _mm256_set1_pd(EXP_SERIES[13]);
    for &c in EXP_SERIES[..13].iter().rev() {
        p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(c));
    }
    let scale = _mm256_slli_epi64::<52>(_mm256_add_epi64(_mm256_castpd_si256(shifted), _mm256_set1_epi64x(1023)));
    _mm256_mul_pd(p, _mm256_castsi256_pd(scale))
}

/// The six sums of `fit::accumulate` over whole groups of eight values, added to the lane
/// accumulators `acc` (`acc[k][lane]`).
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn accumulate_groups(acc: &mut [[f64; 8]; 6], groups: &[[f32; 8]], loc: f64, beta: f64) {
    let load = |k: usize, half: usize| {
        // SAFETY: acc[k] has 8 f64; half is 0 or 1.
        unsafe { _mm256_loadu_pd(acc[k].as_ptr().add(4 * half)) }
    };
    let mut sums: [[__m256d; 2]; 6] = std::array::from_fn(|k| [load(k, 0), load(k, 1)]);
    let (loc, beta) = (_mm256_set1_pd(loc), _mm256_set1_pd(beta));
    let (zero, one) = (_mm256_setzero_pd(), _mm256_set1_pd(1.0));
    let abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fff_ffff_ffff_ffff));
    for group in groups {
        for half in 0..2 {
            // SAFETY: the group has 8 f32.
            let x = _mm256_cvtps_pd(unsafe { _mm_loadu_ps(group.as_ptr().add(4 * half)) });
            let diff = _mm256_sub_pd(x, loc);
            let valid = _mm256_cmp_pd::<_CMP_NEQ_UQ>(diff, zero);
            let d = _mm256_blendv_pd(one, _mm256_and_pd(diff, abs_mask), valid);
            let weight = _mm256_and_pd(valid, one);
            let sign = _mm256_blendv_pd(one, _mm256_set1_pd(-1.0), _mm256_cmp_pd::<_CMP_LT_OQ>(diff, zero));
            let l = ln(d);
            let p = _mm256_mul_pd(weight, exp(_mm256_mul_pd(beta, l)));
            let p1 = _mm256_div_pd(p, d);
            let terms = [
                p,
                _mm256_mul_pd(p, l),
                _mm256_mul_pd(_mm256_mul_pd(p, l), l),
                _mm256_mul_pd(sign, p1),
                _mm256_div_pd(p1, d),
                _mm256_mul_pd(_mm256_mul_pd(sign, p1), l),
            ];
            for (sum, term) in sums.iter_mut().zip(terms) {
                sum[half] = _mm256_add_pd(sum[half], term);
            }
        }
    }
    for (k, sum) in sums.iter().enumerate() {
        for (half, &v) in sum.iter().enumerate() {
            // SAFETY: acc[k] has 8 f64; half is 0 or 1.
            unsafe { _mm256_storeu_pd(acc[k].as_mut_ptr().add(4 * half), v) };
        }
    }
}

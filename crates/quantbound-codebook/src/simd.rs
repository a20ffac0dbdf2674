//! The float conversions the kernels share. Which instruction set runs them is
//! [`quantbound_simd::active`]'s choice; the kernels match on it (intrinsics in `avx512.rs` and
//! `avx2.rs`) or hand a portable body to [`quantbound_simd::SimdLevel::vectorize`].

/// bf16 → f32, exact (a shift); written to vectorise.
#[inline(always)]
pub(crate) fn bf16_to_f32(src: &[half::bf16], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f32::from_bits(u32::from(s.to_bits()) << 16);
    }
}

/// f32 → bf16 with round-to-nearest-even and NaN → 0x7FC0, as torch's `c10::BFloat16` rounds.
#[inline(always)]
pub(crate) fn bf16_round(v: f32) -> half::bf16 {
    let bits = v.to_bits();
    let rounded = (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
    half::bf16::from_bits(if v.is_nan() { 0x7fc0 } else { rounded })
}

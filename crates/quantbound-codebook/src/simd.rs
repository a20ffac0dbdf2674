//! Run-time CPU dispatch for the hot loops, and the float conversions they share.
//!
//! The kernels are written as plain branch-free Rust that the compiler vectorises, and where that
//! is not enough, as AVX-512 intrinsics (`avx512.rs`). [`multiversion!`] compiles a function twice,
//! for the baseline target and with AVX-512 enabled, and picks the copy the CPU can run, so one
//! binary is both portable and fast.

use std::sync::atomic::{AtomicBool, Ordering};

static FORCE_PORTABLE: AtomicBool = AtomicBool::new(false);

/// Whether the AVX-512 kernels run (F, BW, VL: Skylake-X, Ice Lake, Zen 4 and later), unless
/// [`force_portable`] turned them off.
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !FORCE_PORTABLE.load(Ordering::Relaxed)
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Switches the AVX-512 kernels off (or back on) process-wide, so tests can run the portable
/// kernels on an AVX-512 machine. Both give identical results, so flipping it while other threads
/// quantize is harmless.
#[doc(hidden)]
pub fn force_portable(on: bool) {
    FORCE_PORTABLE.store(on, Ordering::Relaxed);
}

/// Defines `fn name(args) { body }` twice: an AVX-512 copy and a baseline copy, chosen at run time.
/// Exported (hidden) so the workspace's other numeric crates share it.
#[doc(hidden)]
#[macro_export]
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? $body
                if $crate::has_avx512() {
                    // SAFETY: this copy uses only features the running CPU has just reported.
                    return unsafe { avx512($($arg),*) };
                }
            }
            $body
        }
    };
}

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

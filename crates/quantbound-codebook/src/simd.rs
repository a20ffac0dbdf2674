//! Run-time CPU dispatch for the hot loops.
//!
//! The kernels are written as plain branch-free Rust that the compiler vectorises. [`multiversion!`]
//! compiles such a function twice, once for the baseline target and once with AVX-512 enabled,
//! and picks the copy the CPU can run, so one binary is both portable and fast.

/// Whether this CPU runs the AVX-512 copies (F, BW, VL: Skylake-X, Ice Lake, Zen 4 and later).
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `fn name(args) { body }` twice: an AVX-512 copy and a baseline copy, chosen at run time.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
                unsafe fn avx512($($arg: $ty),*) $body
                if $crate::simd::has_avx512() {
                    // SAFETY: this copy uses only features the running CPU has just reported.
                    return unsafe { avx512($($arg),*) };
                }
            }
            $body
        }
    };
}
pub(crate) use multiversion;

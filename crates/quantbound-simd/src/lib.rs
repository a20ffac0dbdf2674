//! The SIMD level the numeric kernels run at, chosen once per process and forceable.
//!
//! Every hot loop of the codebook and theory crates is written once, as branch-free Rust or as
//! intrinsics, and run at one of four [`SimdLevel`]s:
//! - `scalar`: the target's baseline code generation (SSE2 on x86-64), no run-time features;
//! - `avx2`: x86-64-v3 (AVX2, FMA, BMI1/2), which nearly every x86 server and laptop has;
//! - `avx512`: x86-64-v4 (AVX-512 F, BW, CD, DQ, VL: Skylake-X, Ice Lake, Zen 4 and later);
//! - `neon`: aarch64's Advanced SIMD (Apple silicon, Graviton).
//!
//! Dispatch comes from [`pulp`] (the SIMD layer of faer and gemm, already in the tree through
//! burn-flex): its `V3`/`V4`/`Neon` tokens prove a feature set is present, and
//! [`SimdLevel::vectorize`] compiles a closure with exactly that feature set, so one portable body
//! becomes AVX2, AVX-512 or NEON code. Kernels that need hand-written intrinsics match on the level.
//!
//! The level is the best the CPU has, unless `QUANTBOUND_SIMD=scalar|avx2|avx512|neon|auto` or
//! [`set_level`] / [`with_level`] says otherwise. A level the CPU lacks is an error
//! ([`SimdError`]) that names the levels it has; it never turns into silent scalar code or an
//! illegal-instruction crash. Every level gives bit-identical results (the tests check it).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

/// The environment variable that forces a level: `scalar`, `avx2`, `avx512`, `neon` or `auto`.
pub const ENV: &str = "QUANTBOUND_SIMD";

/// An instruction-set level the kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimdLevel {
    Scalar,
    Neon,
    Avx2,
    Avx512,
}

/// A level that cannot run here, or a `QUANTBOUND_SIMD` value that names none.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimdError {
    #[error("unknown SIMD level {value:?} (from {source_name}); expected one of auto, {}", names(&SimdLevel::ALL))]
    Unknown { value: String, source_name: &'static str },
    #[error("this CPU cannot run the {level} level (from {source_name}); it supports {}", names(&SimdLevel::supported()))]
    Unsupported { level: SimdLevel, source_name: &'static str },
}

fn names(levels: &[SimdLevel]) -> String {
    levels.iter().map(|l| l.name()).collect::<Vec<_>>().join(", ")
}

impl SimdLevel {
    /// Every level, in the order of increasing width on its architecture.
    pub const ALL: [SimdLevel; 4] = [SimdLevel::Scalar, SimdLevel::Neon, SimdLevel::Avx2, SimdLevel::Avx512];

    /// The name `QUANTBOUND_SIMD` and report.json use.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Neon => "neon",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the level.
    pub fn is_supported(self) -> bool {
        match self {
            SimdLevel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => pulp::x86::V3::try_new().is_some(),
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => pulp::x86::V4::try_new().is_some(),
            #[cfg(target_arch = "aarch64")]
            SimdLevel::Neon => pulp::aarch64::Neon::try_new().is_some(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The levels this CPU can run, narrowest first (always starts with `scalar`).
    pub fn supported() -> Vec<SimdLevel> {
        Self::ALL.into_iter().filter(|l| l.is_supported()).collect()
    }

    /// The widest level this CPU can run.
    pub fn best() -> SimdLevel {
        *Self::supported().last().expect("scalar is always supported")
    }

    /// Parses `auto` (the best level) or a level name, and checks the CPU has it. `source_name`
    /// says where the value came from, for the error.
    pub fn parse_supported(value: &str, source_name: &'static str) -> Result<SimdLevel, SimdError> {
        let level = match value.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => return Ok(Self::best()),
            other => other.parse::<SimdLevel>().map_err(|_| SimdError::Unknown { value: value.into(), source_name })?,
        };
        if level.is_supported() {
            Ok(level)
        } else {
            Err(SimdError::Unsupported { level, source_name })
        }
    }

    /// Runs `op` compiled for this level: pulp's `V4`, `V3` or `Neon` token, or its scalar arch.
    /// Code is compiled for the level only where it is inlined into pulp's target-feature
    /// function, so pass an `#[inline(always)] || …` closure and mark its helpers
    /// `#[inline(always)]` (a plain closure with a large body stays baseline code).
    #[inline(always)]
    pub fn vectorize<Op: pulp::WithSimd>(self, op: Op) -> Op::Output {
        use pulp::Simd;
        match self {
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => match pulp::x86::V4::try_new() {
                Some(simd) => Simd::vectorize(simd, op),
                None => unsupported(self),
            },
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => match pulp::x86::V3::try_new() {
                Some(simd) => Simd::vectorize(simd, op),
                None => unsupported(self),
            },
            #[cfg(target_arch = "aarch64")]
            SimdLevel::Neon => match pulp::aarch64::Neon::try_new() {
                Some(simd) => Simd::vectorize(simd, op),
                None => unsupported(self),
            },
            SimdLevel::Scalar => Simd::vectorize(pulp::Scalar::new(), op),
            #[allow(unreachable_patterns)]
            _ => unsupported(self),
        }
    }
}

/// A `SimdLevel` only becomes active through [`SimdLevel::parse_supported`], [`set_level`] or
/// [`with_level`], all of which check the CPU, so this is unreachable.
#[cold]
fn unsupported(level: SimdLevel) -> ! {
    panic!("the {level} SIMD level was made active on a CPU without it")
}

impl fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SimdLevel {
    type Err = SimdError;

    /// A level name (not `auto`), whether or not this CPU has it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| SimdError::Unknown { value: s.into(), source_name: "a level name" })
    }
}

/// No override: the level comes from the environment (or the CPU).
const UNSET: u8 = u8::MAX;
static OVERRIDE: AtomicU8 = AtomicU8::new(UNSET);
static FROM_ENV: OnceLock<Result<SimdLevel, SimdError>> = OnceLock::new();
static SCOPED: Mutex<()> = Mutex::new(());

/// The level `QUANTBOUND_SIMD` asks for (the best one when it is unset or `auto`), read once.
pub fn level_from_env() -> Result<SimdLevel, SimdError> {
    FROM_ENV
        .get_or_init(|| match std::env::var(ENV) {
            Ok(value) => SimdLevel::parse_supported(&value, ENV),
            Err(_) => Ok(SimdLevel::best()),
        })
        .clone()
}

/// The level the kernels run at now: the one [`set_level`] or [`with_level`] chose, else
/// `QUANTBOUND_SIMD`'s, else the best the CPU has. Binaries call [`level_from_env`] first and
/// refuse to start on its error; if they do not, an invalid `QUANTBOUND_SIMD` leaves the best
/// level in place (library code does not print or panic).
#[inline]
pub fn active() -> SimdLevel {
    match OVERRIDE.load(Ordering::Relaxed) {
        UNSET => level_from_env().unwrap_or_else(|_| SimdLevel::best()),
        i => SimdLevel::ALL[usize::from(i)],
    }
}

/// Makes `level` the process-wide level, if the CPU has it.
pub fn set_level(level: SimdLevel) -> Result<(), SimdError> {
    if !level.is_supported() {
        return Err(SimdError::Unsupported { level, source_name: "set_level" });
    }
    let index = SimdLevel::ALL.iter().position(|&l| l == level).expect("ALL holds every level");
    OVERRIDE.store(index as u8, Ordering::Relaxed);
    Ok(())
}

/// Runs `f` with `level` active process-wide (rayon's workers included), then restores the
/// previous level. Calls are serialised, so concurrent tests each see their own level.
pub fn with_level<R>(level: SimdLevel, f: impl FnOnce() -> R) -> Result<R, SimdError> {
    let _guard = SCOPED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let previous = OVERRIDE.load(Ordering::Relaxed);
    set_level(level)?;
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.store(self.0, Ordering::Relaxed);
        }
    }
    let _restore = Restore(previous);
    Ok(f())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_auto_is_the_best() {
        for level in SimdLevel::ALL {
            assert_eq!(level.name().parse::<SimdLevel>(), Ok(level));
        }
        assert_eq!(SimdLevel::parse_supported("auto", "test"), Ok(SimdLevel::best()));
        assert_eq!(SimdLevel::supported()[0], SimdLevel::Scalar);
    }

    #[test]
    fn unknown_and_unsupported_levels_are_errors_naming_the_choices() {
        let err = SimdLevel::parse_supported("sse9", ENV).unwrap_err();
        assert!(err.to_string().contains("sse9") && err.to_string().contains("avx512"), "{err}");
        // One of neon / avx2 is missing on any CPU.
        let missing = [SimdLevel::Neon, SimdLevel::Avx2].into_iter().find(|l| !l.is_supported()).unwrap();
        let err = SimdLevel::parse_supported(missing.name(), ENV).unwrap_err();
        assert!(err.to_string().contains("cannot run") && err.to_string().contains("scalar"), "{err}");
        assert!(set_level(missing).is_err());
    }

    #[test]
    fn with_level_sets_and_restores() {
        let before = active();
        with_level(SimdLevel::Scalar, || assert_eq!(active(), SimdLevel::Scalar)).unwrap();
        assert_eq!(active(), before);
    }
}

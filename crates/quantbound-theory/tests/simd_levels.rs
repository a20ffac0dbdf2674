//! The fit's passes and the histogram at every SIMD level the CPU has, against the scalar level:
//! the kernels fix their order of additions, so the results must be identical, bit for bit.

use quantbound_simd::{with_level, SimdLevel};
use quantbound_theory::histogram::kl_to_gaussian_bits;
use quantbound_theory::quantizer::sample;
use quantbound_theory::{fit_ggd, GeneralizedGaussian};

#[test]
fn fit_and_histogram_equal_scalar_at_every_level() {
    // A light-tailed and a heavy-tailed sample (β ≤ 1.1 takes the fit's other path), with a
    // length that leaves a partial lane group.
    for beta in [1.7, 0.9] {
        let dist = GeneralizedGaussian::with_variance(beta, 1e-4, 0.02f64.powi(2)).unwrap();
        let x = sample(&dist, 100_003, 3).unwrap();
        let scalar =
            with_level(SimdLevel::Scalar, || (fit_ggd(&x).unwrap(), kl_to_gaussian_bits(&x, 200).unwrap())).unwrap();
        for level in SimdLevel::supported() {
            let (fit, kl) =
                with_level(level, || (fit_ggd(&x).unwrap(), kl_to_gaussian_bits(&x, 200).unwrap())).unwrap();
            assert_eq!(fit, scalar.0, "β {beta}, level {level}");
            assert_eq!(kl.to_bits(), scalar.1.to_bits(), "β {beta}, level {level}");
        }
    }
}

//! Bounds, effective rates, Blahut–Arimoto and the histogram KL against known values.

use quantbound_codebook::Blocksize;
use quantbound_theory::blahut_arimoto::{distortion_at_rate, DiscreteSource, Discretization};
use quantbound_theory::bounds::{
    effective_rate, gap_bits, gaussian_distortion_rate, gaussian_entropy_bits, shannon_lower_bound,
};
use quantbound_theory::histogram::{kl_to_gaussian_bits, SEED_BINS};
use quantbound_theory::quantizer::sample;
use quantbound_theory::GeneralizedGaussian;
use statrs::distribution::{Continuous, ContinuousCDF, Normal};

#[test]
fn gaussian_slb_equals_gaussian_dr() {
    // For a Gaussian the Shannon lower bound is tight: 2^(2(h−R))/(2πe) = σ²·2^(−2R).
    for variance in [1e-4, 0.02f64.powi(2), 1.0, 7.0] {
        for rate in [0.5, 1.0, 4.0, 4.5] {
            let slb = shannon_lower_bound(gaussian_entropy_bits(variance), rate);
            let dr = gaussian_distortion_rate(variance, rate);
            assert!((slb / dr - 1.0).abs() < 1e-12, "{variance} {rate}: {slb} vs {dr}");
        }
    }
    assert!((gap_bits(4.0, 1.0) - 1.0).abs() < 1e-15); // 4× the bound is 1 bit (6.02 dB)
                                                       // A non-Gaussian source of the same variance has a lower entropy, so a lower SLB.
    let laplace = GeneralizedGaussian::with_variance(1.0, 0.0, 1.0).unwrap();
    assert!(laplace.entropy_bits() < gaussian_entropy_bits(1.0));
    // Textbook: h(Laplace, b) = log2(2e·b) with b = 1/√2 for unit variance.
    let b = 1.0 / 2f64.sqrt();
    assert!((laplace.entropy_bits() - (2.0 * std::f64::consts::E * b).log2()).abs() < 1e-12);
}

#[test]
fn effective_rates() {
    assert_eq!(effective_rate(Blocksize::DEFAULT, false), 4.5);
    assert!((effective_rate(Blocksize::DEFAULT, true) - 4.126953125).abs() < 1e-12); // 4 + 8/64 + 32/(256·64)
    assert_eq!(effective_rate(Blocksize::new(4096, "test").unwrap(), false), 4.0078125);
}

/// ECSQ at high rate: a uniform quantizer with entropy coding sits 10·log10(πe/6) = 1.533 dB
/// (0.2546 bits) above the Gaussian D(R); checked here on the constant itself from our bounds.
#[test]
fn high_rate_ecsq_gap() {
    // Uniform step Δ: MSE Δ²/12, output entropy ≈ h − log2 Δ. At that rate the bound is
    // 2^(2(h−R))/(2πe) = Δ²/(2πe); the ratio is 2πe/12 = πe/6.
    let delta: f64 = 0.01;
    let h = gaussian_entropy_bits(1.0);
    let rate = h - delta.log2();
    let gap_db = 10.0 * ((delta * delta / 12.0) / shannon_lower_bound(h, rate)).log10();
    assert!((gap_db - 1.533).abs() < 1e-3, "{gap_db}");
}

/// Blahut–Arimoto on a fine Gaussian histogram gives σ²·2^(−2R) within 3% at R = 1 … 6.
#[test]
fn blahut_arimoto_approaches_gaussian_dr() {
    // Bin masses of N(0, 1) on 601 bins over ±6σ.
    let bins = 601;
    let normal = Normal::new(0.0, 1.0).unwrap();
    let width = 12.0 / bins as f64;
    let values: Vec<f64> = (0..bins).map(|k| -6.0 + (k as f64 + 0.5) * width).collect();
    let mut probabilities: Vec<f64> =
        values.iter().map(|&c| normal.cdf(c + width / 2.0) - normal.cdf(c - width / 2.0)).collect();
    let total: f64 = probabilities.iter().sum();
    probabilities.iter_mut().for_each(|p| *p /= total);
    let source = DiscreteSource { values, probabilities };
    for rate in 1..=6 {
        let point = distortion_at_rate(&source, rate as f64, 4e-3).unwrap();
        let bound = gaussian_distortion_rate(1.0, point.rate);
        let ratio = point.distortion / bound;
        eprintln!(
            "R {:.4} (±{:.1e}): D {:.6e}, σ²2^(−2R) {bound:.6e}, ratio {ratio:.4}",
            point.rate, point.accuracy, point.distortion
        );
        assert!((ratio - 1.0).abs() < 0.03, "R {rate}: ratio {ratio}");
        assert!(point.accuracy <= 1e-3);
    }
    let _ = normal.pdf(0.0);
}

/// The histogram KL is ~0 for Gaussian data and clearly positive for Laplacian data.
#[test]
fn histogram_kl_separates_gaussian_from_laplacian() {
    let gauss = sample(&GeneralizedGaussian::with_variance(2.0, 0.0, 1e-4).unwrap(), 1_000_000, 5).unwrap();
    let laplace = sample(&GeneralizedGaussian::with_variance(1.0, 0.0, 1e-4).unwrap(), 1_000_000, 6).unwrap();
    let kl_gauss = kl_to_gaussian_bits(&gauss, SEED_BINS).unwrap();
    let kl_laplace = kl_to_gaussian_bits(&laplace, SEED_BINS).unwrap();
    assert!(kl_gauss < 0.01, "{kl_gauss}");
    assert!(kl_laplace > 0.05, "{kl_laplace}");
    assert!(kl_to_gaussian_bits(&[1.0; 10], SEED_BINS).is_err());
    assert!(DiscreteSource::histogram(&[f32::NAN, 1.0], 10).is_err());
}

/// Blahut–Arimoto on a fine discretization, with the spread within the bins added back, is a
/// certified upper bound on the source's D(R): for a Gaussian it stays at or above the Shannon
/// lower bound (= σ²·2^(−2R)) up to 5 bits, and at or below σ²·2^(−2R) within the rate accuracy
/// it certifies and the spread it adds. Both for the density and for a sample of a million.
#[test]
fn fine_blahut_arimoto_respects_the_gaussian_bounds() {
    let sigma = 0.02;
    let variance = sigma * sigma;
    let h = gaussian_entropy_bits(variance);
    let width = 0.25 * gaussian_distortion_rate(variance, 5.0).sqrt();
    let density = Discretization::of_density(&GeneralizedGaussian::with_variance(2.0, 0.0, variance).unwrap(), width);
    let samples = sample(&GeneralizedGaussian::with_variance(2.0, 0.0, variance).unwrap(), 1 << 20, 7).unwrap();
    let sampled = Discretization::of_samples(&samples, width);
    for (what, d, slack) in [("density", density.unwrap(), 0.0), ("sample", sampled.unwrap(), 3e-3)] {
        assert!(d.within_variance <= width * width / 12.0 * 1.01, "{what}: {}", d.within_variance);
        for rate in [1.0, 2.0, 3.0, 4.0, 4.5, 5.0] {
            let p = distortion_at_rate(&d.source, rate, 1e-2).unwrap();
            let upper = p.distortion + d.within_variance;
            let slb = shannon_lower_bound(h, p.rate);
            let gauss = gaussian_distortion_rate(variance, p.rate - p.accuracy);
            eprintln!(
                "{what} R {:.4} ±{:.1e}: D {upper:.6e}, SLB {slb:.6e} (ratio {:.5}), bins {}",
                p.rate,
                p.accuracy,
                upper / slb,
                d.source.values.len()
            );
            // A finite sample's own D(R) may sit below the Gaussian's by its sampling noise.
            assert!(upper >= slb * (1.0 - slack), "{what} R {rate}: D {upper} below the SLB {slb}");
            assert!(
                upper <= (gauss + 2.0 * d.within_variance) * (1.0 + slack),
                "{what} R {rate}: D {upper} above σ²2^(−2R)"
            );
        }
    }
}

//! The GGD maximum-likelihood fit on 16,777,216 samples (the size of Llama-3.2-1B's down_proj),
//! and on 884,736 (SmolLM2-135M's down_proj), the sizes scipy's `gennorm.fit` is timed on in
//! scripts/theory/scipy_fit_timing.py. Throughput in samples per second. Every SIMD level the CPU
//! has is measured (`ggd_fit/884736/avx2`, …). `histogram_kl`: the seed's KL to a Gaussian, on all
//! the weights and on its 200k-weight subsample.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quantbound_simd::SimdLevel;
use quantbound_theory::histogram::{kl_to_gaussian_bits, SeedSubsampling, SEED_BINS};
use quantbound_theory::quantizer::sample;
use quantbound_theory::{fit_ggd, GeneralizedGaussian};
use std::hint::black_box;

fn fit(c: &mut Criterion) {
    let dist = GeneralizedGaussian::with_variance(1.6, 0.0, 0.02f64.powi(2)).unwrap();
    let mut group = c.benchmark_group("ggd_fit");
    group.sample_size(10);
    for n in [884_736, 16_777_216] {
        let x = sample(&dist, n, 7).unwrap();
        group.throughput(Throughput::Elements(n as u64));
        for level in SimdLevel::supported() {
            quantbound_simd::set_level(level).unwrap();
            group.bench_function(format!("{n}/{level}"), |b| b.iter(|| fit_ggd(black_box(&x)).unwrap()));
        }
    }
    group.finish();
}

/// The seed's histogram KL (numpy-exact float32 histogram, mean and std) and the seed's
/// 200k-weight subsampled KL, on SmolLM2-135M's down_proj size.
fn histogram_kl(c: &mut Criterion) {
    let dist = GeneralizedGaussian::with_variance(1.6, 0.0, 0.02f64.powi(2)).unwrap();
    let x = sample(&dist, 884_736, 7).unwrap();
    let mut group = c.benchmark_group("histogram_kl");
    group.throughput(Throughput::Elements(x.len() as u64));
    for level in SimdLevel::supported() {
        quantbound_simd::set_level(level).unwrap();
        group.bench_function(format!("884736/{level}"), |b| b.iter(|| kl_to_gaussian_bits(black_box(&x), SEED_BINS)));
    }
    group.bench_function("884736/seed_subsampling", |b| b.iter(|| SeedSubsampling::new().kl_bits(black_box(&x))));
    group.finish();
}

criterion_group!(benches, fit, histogram_kl);
criterion_main!(benches);

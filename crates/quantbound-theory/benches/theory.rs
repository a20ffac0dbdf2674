//! The GGD maximum-likelihood fit on 16,777,216 samples (the size of Llama-3.2-1B's down_proj),
//! and on 884,736 (SmolLM2-135M's down_proj), the sizes scipy's `gennorm.fit` is timed on in
//! scripts/theory/scipy_fit_timing.py. Throughput in samples per second. Every SIMD level the CPU
//! has is measured (`ggd_fit/884736/avx2`, …).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quantbound_simd::SimdLevel;
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

criterion_group!(benches, fit);
criterion_main!(benches);

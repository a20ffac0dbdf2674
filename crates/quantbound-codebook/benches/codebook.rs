//! Quantize and dequantize throughput, NF4 and FP4, with and without double quant, beside a memcpy
//! of the same bytes so the ratio to memory bandwidth can be read off.
//!
//! Shapes: 16,777,216 f32 values (Llama-3.2-1B's down_proj) and a 4096×4096 bf16 matrix.
//! Quantize throughput counts input bytes; dequantize throughput counts output bytes (bnb's
//! convention for its 35.8 GB/s figure). Dequantize writes into a reused buffer.
//!
//! Every SIMD level the CPU has is measured (`quantize/nf4/avx2`, `…/scalar`, …), so the AVX2
//! path is timed on an AVX-512 machine too. `QUANTBOUND_SIMD` does not apply here.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::bf16;
use quantbound_codebook::{FloatSlice, FloatSliceMut, QuantType, QuantizeOptions, Quantized4bit};
use quantbound_simd::SimdLevel;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use std::hint::black_box;

const N: usize = 16_777_216;

fn weights() -> (Vec<f32>, Vec<bf16>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let f32s: Vec<f32> = (0..N).map(|_| rng.sample::<f32, _>(StandardNormal) * 0.02).collect();
    let bf16s = f32s.iter().map(|&v| bf16::from_f32(v)).collect();
    (f32s, bf16s)
}

fn configs() -> Vec<(&'static str, QuantizeOptions)> {
    let mut out = Vec::new();
    for (name, qt) in [("nf4", QuantType::Nf4), ("fp4", QuantType::Fp4)] {
        for (suffix, double_quant) in [("", false), ("_dq", true)] {
            let mut options = QuantizeOptions::new(qt.codebook());
            options.double_quant = double_quant;
            out.push((if double_quant { [name, suffix].concat().leak() } else { name }, options));
        }
    }
    out
}

/// memcpy of `src` into a reused `dst`, on one thread and on rayon's pool.
fn bench_memcpy<T: Copy + Send + Sync>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    src: &[T],
) {
    let mut dst = src.to_vec();
    group.bench_function("memcpy_1_thread", |b| b.iter(|| dst.copy_from_slice(black_box(src))));
    group.bench_function("memcpy_all_threads", |b| {
        b.iter(|| dst.par_chunks_mut(1 << 18).zip(src.par_chunks(1 << 18)).for_each(|(d, s)| d.copy_from_slice(s)))
    });
}

fn quantize(c: &mut Criterion) {
    let (f32s, bf16s) = weights();
    for (label, data) in [("f32_16M", FloatSlice::F32(&f32s)), ("bf16_4096x4096", FloatSlice::Bf16(&bf16s))] {
        let mut group = c.benchmark_group(format!("quantize_{label}"));
        group.sample_size(20).throughput(Throughput::Bytes((N * data.dtype().size()) as u64));
        match data {
            FloatSlice::F32(s) => bench_memcpy(&mut group, s),
            FloatSlice::Bf16(s) => bench_memcpy(&mut group, s),
            FloatSlice::F16(s) => bench_memcpy(&mut group, s),
        }
        for level in SimdLevel::supported() {
            quantbound_simd::set_level(level).unwrap();
            for (name, options) in configs() {
                group.bench_function(BenchmarkId::new("quantize", format!("{name}/{level}")), |b| {
                    b.iter(|| Quantized4bit::quantize("w", black_box(data), &[4096, 4096], &options).unwrap())
                });
            }
        }
        group.finish();
    }
}

fn dequantize(c: &mut Criterion) {
    let (f32s, bf16s) = weights();
    for (label, data) in [("f32_16M", FloatSlice::F32(&f32s)), ("bf16_4096x4096", FloatSlice::Bf16(&bf16s))] {
        let mut group = c.benchmark_group(format!("dequantize_{label}"));
        group.sample_size(30).throughput(Throughput::Bytes((N * data.dtype().size()) as u64));
        let mut out_f32 = vec![0f32; N];
        let mut out_bf16 = vec![bf16::ZERO; N];
        match data {
            FloatSlice::F32(s) => bench_memcpy(&mut group, s),
            _ => bench_memcpy(&mut group, &bf16s),
        }
        for (level, (name, options)) in
            SimdLevel::supported().into_iter().flat_map(|level| configs().into_iter().map(move |c| (level, c)))
        {
            quantbound_simd::set_level(level).unwrap();
            let q = Quantized4bit::quantize("w", data, &[4096, 4096], &options).unwrap();
            group.bench_function(BenchmarkId::new("dequantize_into", format!("{name}/{level}")), |b| {
                b.iter(|| {
                    let out = match data {
                        FloatSlice::F32(_) => FloatSliceMut::F32(&mut out_f32),
                        _ => FloatSliceMut::Bf16(&mut out_bf16),
                    };
                    q.dequantize_into(out).unwrap()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, quantize, dequantize);
criterion_main!(benches);

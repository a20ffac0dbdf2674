//! Forward throughput of the sample model (SmolLM2-135M) on ndarray: prefill of a batch of
//! 8 × 128 tokens, in tokens per second, dense f32 and NF4 (blocksize 64). Needs `cargo xtask fetch-sample`; without it the bench
//! says so and measures nothing.

use burn::backend::NdArray;
use burn::tensor::{Int, Tensor, TensorData};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quantbound_codebook::{QuantType, QuantizeOptions};
use quantbound_llama::model::Llama;

const BATCH: usize = 8;
const SEQ: usize = 128;

fn forward(c: &mut Criterion) {
    let Ok(path) = quantbound_llama::sample::find() else {
        eprintln!("skipped: the sample model is missing; run `cargo xtask fetch-sample`");
        return;
    };
    let device = Default::default();
    let llama = Llama::<NdArray>::from_gguf_file(&path, &device, &|_, t| Ok(t)).unwrap();
    let config = &llama.config;
    // Token ids spread over the vocabulary; speed does not depend on them.
    let ids: Vec<i64> = (0..BATCH * SEQ).map(|i| ((i * 7919) % config.vocab_size) as i64).collect();
    let mut group = c.benchmark_group("forward_smollm2_prefill_8x128");
    group.sample_size(10).throughput(Throughput::Elements((BATCH * SEQ) as u64));
    let nf4 = llama.quantize(&QuantizeOptions::new(QuantType::Nf4.codebook())).unwrap();
    for (name, model) in [("dense_f32_ndarray", &llama), ("nf4_ndarray", &nf4)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let input = Tensor::<NdArray, 2, Int>::from_data(TensorData::new(ids.clone(), [BATCH, SEQ]), &device);
                let mask = Tensor::<NdArray, 2, Int>::from_data(
                    TensorData::new(vec![1i64; BATCH * SEQ], [BATCH, SEQ]),
                    &device,
                );
                model.forward(input, mask).into_data()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);

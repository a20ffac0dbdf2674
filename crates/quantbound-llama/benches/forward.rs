//! Forward throughput of the sample model (SmolLM2-135M): prefill of a batch of 8 × 128 tokens,
//! in tokens per second, dense f32 and NF4 (blocksize 64), on each CPU backend built in (Flex,
//! the default, and ndarray), side by side. Needs `cargo xtask fetch-sample`; without it the
//! bench says so and measures nothing. Peer: scripts/bench/torch_forward.py (PyTorch eager).

use burn::tensor::{Int, Tensor, TensorData};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quantbound_codebook::{QuantType, QuantizeOptions};
use quantbound_llama::backend::{self, QuantBackend};
use quantbound_llama::model::Llama;

const BATCH: usize = 8;
const SEQ: usize = 128;

fn on_backend<B: QuantBackend>(c: &mut Criterion, path: &std::path::Path) {
    let device = Default::default();
    let llama = Llama::<B>::from_gguf_file(path, &device, &|_, t| Ok(t)).unwrap();
    let config = &llama.config;
    // Token ids spread over the vocabulary; speed does not depend on them.
    let ids: Vec<i64> = (0..BATCH * SEQ).map(|i| ((i * 7919) % config.vocab_size) as i64).collect();
    let mut group = c.benchmark_group("forward_smollm2_prefill_8x128");
    group.sample_size(10).throughput(Throughput::Elements((BATCH * SEQ) as u64));
    let nf4 = llama.quantize(&QuantizeOptions::new(QuantType::Nf4.codebook())).unwrap();
    for (name, model) in [("dense_f32", &llama), ("nf4", &nf4)] {
        group.bench_function(format!("{name}_{}", backend::name::<B>()), |b| {
            b.iter(|| {
                let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [BATCH, SEQ]), &device);
                let mask =
                    Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64; BATCH * SEQ], [BATCH, SEQ]), &device);
                model.forward(input, mask).into_data()
            })
        });
    }
    group.finish();
}

fn forward(c: &mut Criterion) {
    let Ok(path) = quantbound_llama::sample::find() else {
        eprintln!("skipped: the sample model is missing; run `cargo xtask fetch-sample`");
        return;
    };
    #[cfg(feature = "flex")]
    on_backend::<burn::backend::Flex>(c, &path);
    #[cfg(feature = "ndarray")]
    on_backend::<burn::backend::NdArray>(c, &path);
}

criterion_group!(benches, forward);
criterion_main!(benches);

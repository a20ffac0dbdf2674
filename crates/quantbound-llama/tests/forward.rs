//! The Burn forward pass against transformers' logits (tests/data/tiny_llama, tiny_mistral,
//! tiny_qwen2): dense, and with the decoder linears held as bnb NF4, NF4 + double quant and FP4 on
//! the device. The tiny models run
//! on every CPU backend built in; the sample model on the default one (`backend::Cpu`).

use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use quantbound_codebook::{Blocksize, QuantType, QuantizeOptions};
use quantbound_llama::backend::QuantBackend;
use quantbound_llama::config::LlamaConfig;
use quantbound_llama::model::Llama;
use quantbound_llama::weights::SafetensorsFolder;
use safetensors::SafeTensors;

/// The fixture README's suggested tolerance for an f32 forward: |Δlogit| ≤ 1e-4.
const LOGIT_TOLERANCE: f32 = 1e-4;

/// A tiny fixture folder under tests/data (`tiny_llama/tied_gqa`, `tiny_qwen2`, …).
fn tiny(variant: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(variant)
}

fn ints(st: &SafeTensors<'_>, name: &str) -> (Vec<i64>, Vec<usize>) {
    let view = st.tensor(name).unwrap();
    (view.data().chunks(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect(), view.shape().to_vec())
}

fn floats(st: &SafeTensors<'_>, name: &str) -> Vec<f32> {
    st.tensor(name).unwrap().data().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn logits_match_transformers<B: QuantBackend>() {
    let variants: [(&str, Option<QuantizeOptions>); 4] = [
        ("logits", None),
        ("logits_nf4", Some(QuantizeOptions::new(QuantType::Nf4.codebook()))),
        (
            "logits_nf4_dq",
            Some(QuantizeOptions {
                codebook: QuantType::Nf4.codebook(),
                blocksize: Blocksize::DEFAULT,
                double_quant: true,
            }),
        ),
        ("logits_fp4", Some(QuantizeOptions::new(QuantType::Fp4.codebook()))),
    ];
    // The Llama variants, then the Llama-family configs: Mistral (model_type "mistral", a
    // sliding window longer than the texts, θ 1e6) and Qwen2 (q/k/v biases, tied head), which
    // keep only the dense and NF4 logits.
    for model in ["tiny_llama/tied_gqa", "tiny_llama/llama32_rope", "tiny_llama/sharded", "tiny_mistral", "tiny_qwen2"]
    {
        let dir = tiny(model);
        let config = config(&dir);
        for (key, options) in &variants {
            logits_match::<B>(&dir, &config, key, options.as_ref());
        }
    }
}

/// Mistral's sliding window where it bites: the tiny Mistral with a window of 8 positions
/// against transformers' logits with the same window.
fn sliding_window_matches_transformers<B: QuantBackend>() {
    let dir = tiny("tiny_mistral");
    let config = LlamaConfig { sliding_window: Some(8), ..config(&dir) };
    logits_match::<B>(&dir, &config, "logits_window8", None);
}

fn config(dir: &Path) -> LlamaConfig {
    let path = dir.join("config.json");
    LlamaConfig::from_json(&std::fs::read_to_string(&path).unwrap(), &path.display().to_string()).unwrap()
}

/// The model in `dir` with `config`, quantized with `options` if given, against the reference
/// logits `key` at every real position; a key the fixture does not have is skipped.
fn logits_match<B: QuantBackend>(dir: &Path, config: &LlamaConfig, key: &str, options: Option<&QuantizeOptions>) {
    let device = Default::default();
    let model = dir.file_name().unwrap().to_string_lossy();
    let weights = SafetensorsFolder::open(dir).unwrap();
    let reference_bytes = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&reference_bytes).unwrap();
    if reference.tensor(key).is_err() {
        return;
    }
    let (ids, shape) = ints(&reference, "input_ids");
    let (mask, _) = ints(&reference, "attention_mask");
    let (batch, seq) = (shape[0], shape[1]);
    let llama = Llama::<B>::load(config, &weights, &device, &|_, t| Ok(t)).unwrap();
    let llama = match options {
        None => llama,
        Some(options) => llama.quantize(options).unwrap(),
    };
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [batch, seq]), &device);
    let attention = Tensor::<B, 2, Int>::from_data(TensorData::new(mask.clone(), [batch, seq]), &device);
    let logits: Vec<f32> = llama.forward(input, attention).into_data().to_vec().unwrap();
    let expected = floats(&reference, key);
    let vocab = config.vocab_size;
    let mut worst = 0f32;
    for b in 0..batch {
        for t in 0..seq {
            if mask[b * seq + t] == 0 {
                continue; // only real positions are comparable
            }
            let at = (b * seq + t) * vocab;
            for v in 0..vocab {
                worst = worst.max((logits[at + v] - expected[at + v]).abs());
            }
        }
    }
    eprintln!("{} {model} {key}: max |Δlogit| {worst:.2e}", B::NAME);
    assert!(worst <= LOGIT_TOLERANCE, "{} {model} {key}: max |Δlogit| {worst}", B::NAME);
}

/// SmolLM2-135M from the sample GGUF: last-position logits and next-token log-probabilities of
/// three prompts against transformers' (fixture tolerances 2e-3 and 1e-3), dense and 4-bit.
/// Needs `cargo xtask fetch-sample` (CI runs it); skipped, saying so, without it.
#[test]
fn sample_model_matches_transformers() {
    type B = quantbound_llama::backend::Cpu;
    let Ok(path) = quantbound_llama::sample::find() else {
        eprintln!("SKIPPED sample_model_matches_transformers: run `cargo xtask fetch-sample`");
        return;
    };
    let reference_bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/smollm2/reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&reference_bytes).unwrap();
    let (ids, shape) = ints(&reference, "input_ids");
    let (mask, _) = ints(&reference, "attention_mask");
    let (last, _) = ints(&reference, "last_index");
    let (batch, seq) = (shape[0], shape[1]);
    let device = Default::default();
    for (suffix, options) in [
        ("", None),
        ("_nf4", Some(QuantizeOptions::new(QuantType::Nf4.codebook()))),
        ("_fp4", Some(QuantizeOptions::new(QuantType::Fp4.codebook()))),
    ] {
        let dense = Llama::<B>::from_gguf_file(&path, &device, &|_, t| Ok(t)).unwrap();
        let llama = match options {
            None => dense,
            Some(options) => dense.quantize(&options).unwrap(),
        };
        let vocab = llama.config.vocab_size;
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.clone(), [batch, seq]), &device);
        let attention = Tensor::<B, 2, Int>::from_data(TensorData::new(mask.clone(), [batch, seq]), &device);
        let logits: Vec<f32> = llama.forward(input, attention).into_data().to_vec().unwrap();
        let expected_last = floats(&reference, &format!("last_logits{suffix}"));
        let expected_logprob = floats(&reference, &format!("next_token_logprob{suffix}"));
        let (mut worst_logit, mut worst_logprob) = (0f32, 0f64);
        for b in 0..batch {
            let row = &logits[(b * seq + last[b] as usize) * vocab..][..vocab];
            for (ours, theirs) in row.iter().zip(&expected_last[b * vocab..(b + 1) * vocab]) {
                worst_logit = worst_logit.max((ours - theirs).abs());
            }
            for t in 0..seq - 1 {
                if mask[b * seq + t + 1] == 0 {
                    continue;
                }
                let row = &logits[(b * seq + t) * vocab..][..vocab];
                let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v.into()));
                let log_sum = row.iter().map(|&v| (f64::from(v) - max).exp()).sum::<f64>().ln() + max;
                let logprob = f64::from(row[ids[b * seq + t + 1] as usize]) - log_sum;
                worst_logprob = worst_logprob.max((logprob - f64::from(expected_logprob[b * (seq - 1) + t])).abs());
            }
        }
        // Top-20 ids at every real position, as sets: neighbours closer than the fixture's
        // smallest gap (6.3e-5) may swap places, so only membership is compared, and an id that
        // differs must sit at the boundary within 1e-4 of the 20th value.
        let (top_ids, _) = ints(&reference, &format!("top20_ids{suffix}"));
        let top_values = floats(&reference, &format!("top20_values{suffix}"));
        for b in 0..batch {
            for t in 0..seq {
                if mask[b * seq + t] == 0 {
                    continue;
                }
                let row = &logits[(b * seq + t) * vocab..][..vocab];
                let mut order: Vec<usize> = (0..vocab).collect();
                order.sort_by(|&x, &y| row[y].total_cmp(&row[x]));
                let ours: std::collections::BTreeSet<i64> = order[..20].iter().map(|&i| i as i64).collect();
                let theirs: std::collections::BTreeSet<i64> =
                    top_ids[(b * seq + t) * 20..][..20].iter().copied().collect();
                let twentieth = top_values[(b * seq + t) * 20 + 19];
                for id in ours.symmetric_difference(&theirs) {
                    assert!(
                        (row[*id as usize] - twentieth).abs() < 1e-4,
                        "SmolLM2{suffix} [{b},{t}]: top-20 differ at id {id}"
                    );
                }
            }
        }
        eprintln!("SmolLM2{suffix}: max |Δ last logit| {worst_logit:.2e}, max |Δ log-prob| {worst_logprob:.2e}, top-20 sets equal");
        assert!(worst_logit <= 2e-3, "SmolLM2{suffix}: last logits off by {worst_logit}");
        assert!(worst_logprob <= 1e-3, "SmolLM2{suffix}: log-probs off by {worst_logprob}");
    }
}

/// Greedy generation with the KV cache reproduces transformers' `generate` (tied_gqa/greedy.json:
/// 16 tokens after "The river"), and the cached logits equal a full forward's.
fn greedy_generation_matches_transformers<B: QuantBackend>() {
    let dir = tiny("tiny_llama/tied_gqa");
    let device = Default::default();
    let llama = Llama::<B>::from_folder(&dir, &device, &|_, t| Ok(t)).unwrap();
    let config = llama.config.clone();
    let greedy: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("greedy.json")).unwrap()).unwrap();
    let list = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as u32).collect()
    };
    let prompt = list(&greedy["prompt_ids"]);
    let expected = list(&greedy["generated_ids"]);
    assert_eq!(llama.generate_greedy(&prompt, expected.len(), &config.eos_token_ids, &device), expected);

    // The step logits the fixture recorded equal ours from the cache, and a full forward's.
    let reference_bytes = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&reference_bytes).unwrap();
    let step_logits = floats(&reference, "greedy_step_logits");
    let all: Vec<i64> = prompt.iter().chain(&expected).map(|&t| i64::from(t)).collect();
    let n = all.len() - 1; // the last token is never fed back
    let input = Tensor::<B, 2, Int>::from_data(TensorData::new(all[..n].to_vec(), [1, n]), &device);
    let mask = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64; n], [1, n]), &device);
    let full: Vec<f32> = llama.forward(input, mask).into_data().to_vec().unwrap();
    let vocab = config.vocab_size;
    let mut worst = 0f32;
    for step in 0..expected.len() {
        let at = (prompt.len() - 1 + step) * vocab;
        for v in 0..vocab {
            worst = worst.max((full[at + v] - step_logits[step * vocab + v]).abs());
        }
    }
    assert!(worst <= LOGIT_TOLERANCE, "step logits off by {worst}");
}

/// SmolLM2's two greedy generations of 24 tokens (smollm2/greedy.json). Needs the sample.
#[test]
fn sample_greedy_generation_matches_transformers() {
    type B = quantbound_llama::backend::Cpu;
    let Ok(path) = quantbound_llama::sample::find() else {
        eprintln!("SKIPPED sample_greedy_generation_matches_transformers: run `cargo xtask fetch-sample`");
        return;
    };
    let device = Default::default();
    let llama = Llama::<B>::from_gguf_file(&path, &device, &|_, t| Ok(t)).unwrap();
    let greedy: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/smollm2/greedy.json")).unwrap(),
    )
    .unwrap();
    let list = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as u32).collect()
    };
    for result in greedy["results"].as_array().unwrap() {
        let expected = list(&result["generated_ids"]);
        let ours = llama.generate_greedy(&list(&result["prompt_ids"]), expected.len(), &[2], &device);
        assert_eq!(ours, expected, "{}", result["prompt"]);
    }
}

/// transformers' own bnb-4bit checkpoint (NF4, double quant; from the codebook crate's golden
/// data) gives exactly the logits of the fp32 original with its decoder linears quantized by us.
fn bnb_checkpoint_equals_the_original_quantized_by_us<B: QuantBackend>() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../quantbound-codebook/tests/data/bnb4bit");
    let device = Default::default();
    let logits = |llama: Llama<B>| -> Vec<f32> {
        let ids: Vec<i64> = vec![1, 5, 9, 17, 33, 2, 40, 63, 0, 12];
        let input = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, 10]), &device);
        let mask = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64; 10], [1, 10]), &device);
        llama.forward(input, mask).into_data().to_vec().unwrap()
    };
    let options =
        QuantizeOptions { codebook: QuantType::Nf4.codebook(), blocksize: Blocksize::DEFAULT, double_quant: true };
    let load = |dir: &str| Llama::<B>::from_folder(&golden.join(dir), &device, &|_, t| Ok(t)).unwrap();
    let ours = load("tiny_llama_fp32").quantize(&options).unwrap();
    let theirs = load("tiny_llama_bnb4bit_nf4_dq");
    // The checkpoint's decoder linears stay 4-bit on the device, as ours do.
    for ((name, a), (_, b)) in ours.linears().into_iter().zip(theirs.linears()) {
        assert!(a.is_quantized() && b.is_quantized(), "{name}");
        assert_eq!(a.device_bytes(), b.device_bytes(), "{name}");
    }
    assert_eq!(logits(ours), logits(theirs));
}

/// The tiny-model checks, once per backend built in. The GPU ones run where `$ready` says the
/// device is there, and say they were skipped where it is not.
macro_rules! on_backend {
    ($feature:literal, $module:ident, $backend:ty) => {
        on_backend!($feature, $module, $backend, true);
    };
    ($feature:literal, $module:ident, $backend:ty, $ready:expr) => {
        #[cfg(feature = $feature)]
        mod $module {
            #[test]
            fn logits_match_transformers() {
                if $ready {
                    super::logits_match_transformers::<$backend>();
                }
            }

            #[test]
            fn sliding_window_matches_transformers() {
                if $ready {
                    super::sliding_window_matches_transformers::<$backend>();
                }
            }

            #[test]
            fn greedy_generation_matches_transformers() {
                if $ready {
                    super::greedy_generation_matches_transformers::<$backend>();
                }
            }

            #[test]
            fn bnb_checkpoint_equals_the_original_quantized_by_us() {
                if $ready {
                    super::bnb_checkpoint_equals_the_original_quantized_by_us::<$backend>();
                }
            }
        }
    };
}

on_backend!("flex", flex, burn::backend::Flex);
on_backend!("ndarray", ndarray, burn::backend::NdArray);
// wgpu: Vulkan, Metal or DX12; in CI Mesa's lavapipe (a Vulkan driver on the CPU), where
// QUANTBOUND_REQUIRE_WGPU=1 turns a missing adapter into a failure rather than a skip.
on_backend!(
    "wgpu",
    wgpu,
    burn::backend::Wgpu,
    super::gpu_ready::<burn::backend::Wgpu>("wgpu", "QUANTBOUND_REQUIRE_WGPU")
);
// CUDA: only where QUANTBOUND_TEST_CUDA=1 says there is a GPU (scripts/gpu/cuda_tests.sh).
on_backend!(
    "cuda",
    cuda,
    burn::backend::Cuda,
    std::env::var("QUANTBOUND_TEST_CUDA").is_ok_and(|v| v == "1")
        && super::gpu_ready::<burn::backend::Cuda>("cuda", "QUANTBOUND_TEST_CUDA")
);

/// Whether `B`'s default device can be opened. Where it cannot, the test says it was skipped, or
/// fails if `require` is set to 1.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn gpu_ready<B: QuantBackend>(name: &str, require: &str) -> bool {
    if quantbound_llama::backend::device_available::<B>(&Default::default()) {
        return true;
    }
    let required = std::env::var(require).is_ok_and(|v| v == "1");
    assert!(!required, "{name}: no device could be opened, and {require}=1 requires one");
    eprintln!("skipped: {name} has no device here (for wgpu on Linux: Mesa's lavapipe, mesa-vulkan-drivers)");
    false
}

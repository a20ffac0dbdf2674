//! The 4-bit linear on the device: its dequantization equals quantbound-codebook's (itself
//! bit-exact with bitsandbytes) bit for bit on every CPU backend built in, and it keeps the weight
//! in 4 bits.

use burn::tensor::{Tensor, TensorData};
use half::{bf16, f16};
use quantbound_codebook::{Blocksize, FloatDtype, FloatSlice, QuantType, QuantizeOptions, Quantized4bit};
use quantbound_llama::backend::QuantBackend;
use quantbound_llama::linear::Linear;
use rand::{Rng, SeedableRng};

fn random_weight(out: usize, input: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..out * input).map(|_| rng.random::<f32>() * 2.0 - 1.0).map(|u| u * u * u * 0.05).collect()
}

fn device_dequantization_equals_the_codebook_crate<B: QuantBackend>() {
    let device = Default::default();
    // 300 × 65 = 19,500 weights: 305 blocks of 64 (the last partial, and more than 256 so double
    // quant has two nested groups), and blocks that straddle rows.
    for (out, input) in [(300, 65), (64, 128), (7, 33)] {
        let weight = random_weight(out, input, (out * input) as u64);
        for quant_type in [QuantType::Nf4, QuantType::Fp4] {
            for (blocksize, double_quant) in [(64, false), (64, true), (32, true), (4096, false), (256, true)] {
                let options = QuantizeOptions {
                    codebook: quant_type.codebook(),
                    blocksize: Blocksize::new(blocksize, "w").unwrap(),
                    double_quant,
                };
                // A bf16 or f16 weight dequantizes into its own dtype, as bnb's does: rounded.
                let (halves, brains): (Vec<f16>, Vec<bf16>) =
                    weight.iter().map(|&w| (f16::from_f32(w), bf16::from_f32(w))).unzip();
                for input_values in [FloatSlice::F32(&weight), FloatSlice::F16(&halves), FloatSlice::Bf16(&brains)] {
                    let q = Quantized4bit::quantize("w", input_values, &[out, input], &options).unwrap();
                    let expected = q.dequantize().to_f32_vec();
                    let linear = Linear::<B>::quantized(&q, "w", &device).unwrap();
                    // The backend's own path (the host SIMD kernel) and the tensor-op path GPU backends
                    // take. That path rounds to f16/bf16 by Burn's cast, which ndarray lacks and Flex does not
                    // round to nearest even (1 ulp off here), so on the CPU it is checked in f32 only.
                    let mut paths = vec![(B::NAME, linear.weight())];
                    if input_values.dtype() == FloatDtype::F32 {
                        paths.push(("tensor ops", linear.weight_by_tensor_ops()));
                    }
                    for (path, weight) in paths {
                        let ours: Vec<f32> = weight.into_data().to_vec().unwrap();
                        let same = ours.len() == expected.len()
                            && ours.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits());
                        let dtype = input_values.dtype();
                        assert!(
                            same,
                            "{path}: {out}×{input} {dtype:?} {quant_type:?} blocksize {blocksize} dq {double_quant}"
                        );
                    }
                }
            }
        }
    }
}

/// The 4-bit linear's forward (on the CPU: dequantize into a reused buffer, then GEMM) against
/// x·Wᵀ in f64 with W the codebook crate's dequantization, twice, so a reused buffer that kept a
/// stale weight would show.
fn quantized_forward_equals_the_dequantized_product<B: QuantBackend>() {
    let device = Default::default();
    for (out, input, rows) in [(300, 65, 3), (96, 128, 17)] {
        let options = QuantizeOptions::new(QuantType::Nf4.codebook());
        let weights: Vec<Vec<f32>> = (0..2).map(|i| random_weight(out, input, 7 + i)).collect();
        for (i, weight) in weights.iter().enumerate() {
            let q = Quantized4bit::quantize("w", FloatSlice::F32(weight), &[out, input], &options).unwrap();
            let w = q.dequantize().to_f32_vec();
            let x = random_weight(rows, input, 100 + i as u64);
            let linear = Linear::<B>::quantized(&q, "w", &device).unwrap();
            let xt = Tensor::<B, 3>::from_data(TensorData::new(x.clone(), [1, rows, input]), &device);
            let ours: Vec<f32> = linear.forward(xt).into_data().to_vec().unwrap();
            for r in 0..rows {
                for o in 0..out {
                    let (mut dot, mut size) = (0f64, 0f64);
                    for k in 0..input {
                        let term = f64::from(x[r * input + k]) * f64::from(w[o * input + k]);
                        dot += term;
                        size += term.abs();
                    }
                    let got = f64::from(ours[r * out + o]);
                    assert!((got - dot).abs() <= 1e-6 * size + 1e-12, "{out}×{input} [{r},{o}]: {got} vs {dot}");
                }
            }
        }
    }
}

fn nf4_weights_take_under_three_tenths_of_f16_bytes<B: QuantBackend>() {
    let device = Default::default();
    let (out, input) = (1536, 576); // SmolLM2's gate_proj
    let weight = random_weight(out, input, 1);
    let f16_bytes = out * input * 2;
    for double_quant in [false, true] {
        let options =
            QuantizeOptions { codebook: QuantType::Nf4.codebook(), blocksize: Blocksize::DEFAULT, double_quant };
        let q = Quantized4bit::quantize("w", FloatSlice::F32(&weight), &[out, input], &options).unwrap();
        let linear = Linear::<B>::quantized(&q, "w", &device).unwrap();
        let ratio = linear.device_bytes() as f64 / f16_bytes as f64;
        eprintln!("NF4 blocksize 64, double quant {double_quant}: {ratio:.4} × f16 bytes");
        // 0.5 byte per weight + a 4-byte absmax per 64: 0.28125; double quant 0.2579.
        assert!(ratio <= 0.3, "{ratio}");
        assert!(linear.is_quantized());
    }
}

/// Every check, once per CPU backend built in.
macro_rules! on_backend {
    ($feature:literal, $module:ident, $backend:ty) => {
        #[cfg(feature = $feature)]
        mod $module {
            #[test]
            fn device_dequantization_equals_the_codebook_crate() {
                super::device_dequantization_equals_the_codebook_crate::<$backend>();
            }

            #[test]
            fn quantized_forward_equals_the_dequantized_product() {
                super::quantized_forward_equals_the_dequantized_product::<$backend>();
            }

            #[test]
            fn nf4_weights_take_under_three_tenths_of_f16_bytes() {
                super::nf4_weights_take_under_three_tenths_of_f16_bytes::<$backend>();
            }
        }
    };
}

on_backend!("flex", flex, burn::backend::Flex);
on_backend!("ndarray", ndarray, burn::backend::NdArray);

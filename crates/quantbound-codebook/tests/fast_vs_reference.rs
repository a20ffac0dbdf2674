//! The fast (parallel, vectorised) kernels against the plain scalar reference on random data:
//! every blocksize, dtype and codebook, lengths that leave partial blocks and odd nibbles, and
//! values that hit the special cases (zeros, NaN, ±Inf, subnormals).

mod common;

use common::first_difference;
use half::{bf16, f16};
use quantbound_codebook::{
    dequantize_blocks_reference, quantize_blocks_reference, Blocksize, Codebook, FloatSlice, FloatSliceMut, FloatVec,
    QuantType, QuantizeOptions, Quantized4bit,
};
use quantbound_simd::SimdLevel;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

fn random_values(rng: &mut impl Rng, n: usize, with_specials: bool) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x: f32 = StandardNormal.sample(rng);
            if with_specials && i % 997 == 3 {
                [0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-40, -3e38][i % 7]
            } else {
                x * 0.02
            }
        })
        .collect()
}

fn codebooks() -> Vec<Codebook> {
    // AF4-like asymmetric table and symmetric INT4, as custom codebooks.
    let int4: [f32; 16] = std::array::from_fn(|i| (i as f32 - 7.5) / 7.5);
    let mut shuffled: [f32; 16] = std::array::from_fn(|i| ((i * 7) % 16) as f32 / 8.0 - 1.0);
    shuffled[3] = 0.0;
    vec![
        QuantType::Nf4.codebook(),
        QuantType::Fp4.codebook(),
        Codebook::custom(int4).unwrap(),
        Codebook::custom(shuffled).unwrap(),
    ]
}

/// Every SIMD level this CPU has (scalar, and AVX2 / AVX-512 / NEON where present), each run
/// against the scalar reference.
#[test]
fn every_simd_level_equals_reference() {
    let levels = SimdLevel::supported();
    eprintln!("SIMD levels tested: {levels:?}");
    for level in levels {
        quantbound_simd::with_level(level, || fast_path_equals_reference(level)).unwrap();
    }
}

fn fast_path_equals_reference(level: SimdLevel) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for blocksize in Blocksize::SUPPORTED {
        let blocksize = Blocksize::new(blocksize, "test").unwrap();
        for n in [1, 2, 3, blocksize.get() - 1, blocksize.get() * 3 + 1, 200_003] {
            let values = random_values(&mut rng, n, n > 1000);
            let f16s: Vec<f16> = values.iter().map(|&v| f16::from_f32(v * 50.0)).collect();
            let bf16s: Vec<bf16> = values.iter().map(|&v| bf16::from_f32(v)).collect();
            for data in [FloatSlice::F32(&values), FloatSlice::F16(&f16s), FloatSlice::Bf16(&bf16s)] {
                for codebook in codebooks() {
                    let options = QuantizeOptions { codebook: codebook.clone(), blocksize, double_quant: false };
                    let q = Quantized4bit::quantize("random", data, &[n], &options).unwrap();
                    let (packed, absmax) = quantize_blocks_reference(data, blocksize, &codebook);
                    let what = format!(
                        "level {level}, n {n}, blocksize {blocksize}, {:?}, {:?}",
                        data.dtype(),
                        codebook.values()
                    );
                    assert!(q.packed == packed, "packed: {what}");
                    assert_eq!(first_difference(&absmax, &q.state.absmax.to_f32()), None, "absmax: {what}");

                    let reference = dequantize_blocks_reference(&packed, &absmax, blocksize, &codebook, n);
                    let expected = match data.dtype() {
                        quantbound_codebook::FloatDtype::F32 => FloatVec::F32(reference),
                        quantbound_codebook::FloatDtype::F16 => {
                            FloatVec::F16(reference.iter().map(|&v| f16::from_f32(v)).collect())
                        }
                        quantbound_codebook::FloatDtype::Bf16 => {
                            FloatVec::Bf16(reference.iter().map(|&v| bf16::from_f32(v)).collect())
                        }
                    };
                    assert_eq!(
                        first_difference(&expected.to_f32_vec(), &q.dequantize().to_f32_vec()),
                        None,
                        "dequant: {what}"
                    );
                }
            }
        }
    }
}

/// Quantizing the dequantized values again gives the same indices: every code value, scaled by
/// its block's absmax, lies strictly inside its own decision interval.
#[test]
fn requantizing_is_idempotent() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let values = random_values(&mut rng, 64 * 1000, false);
    for codebook in [QuantType::Nf4.codebook(), QuantType::Fp4.codebook()] {
        let options = QuantizeOptions { codebook, blocksize: Blocksize::DEFAULT, double_quant: false };
        let q = Quantized4bit::quantize("w", FloatSlice::F32(&values), &[values.len()], &options).unwrap();
        let dq = q.dequantize().to_f32_vec();
        let again = Quantized4bit::quantize("w", FloatSlice::F32(&dq), &[dq.len()], &options).unwrap();
        // FP4 has two zero codes (indices 0 and 8); compare values, not bytes.
        assert_eq!(first_difference(&again.dequantize().to_f32_vec(), &dq), None);
    }
}

/// Outputs past the size where the kernels write around the cache (non-temporal stores, 16 MiB):
/// 4.5M f32 in a fresh buffer and in a reused one at an odd element offset (not 16-byte
/// aligned, so the plain stores run), at every level, bit for bit against the scalar reference.
#[test]
fn large_outputs_equal_reference_at_every_level() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let n = 4_500_000;
    let values = random_values(&mut rng, n, true);
    let blocksize = Blocksize::DEFAULT;
    let codebook = QuantType::Nf4.codebook();
    let options = QuantizeOptions { codebook: codebook.clone(), blocksize, double_quant: false };
    let (packed, absmax) = quantize_blocks_reference(FloatSlice::F32(&values), blocksize, &codebook);
    let reference = dequantize_blocks_reference(&packed, &absmax, blocksize, &codebook, n);
    for level in SimdLevel::supported() {
        quantbound_simd::with_level(level, || {
            let q = Quantized4bit::quantize("large", FloatSlice::F32(&values), &[n], &options).unwrap();
            assert_eq!(first_difference(&reference, &q.dequantize().to_f32_vec()), None, "level {level}, fresh");
            let mut buffer = vec![f32::NAN; n + 1];
            q.dequantize_into(FloatSliceMut::F32(&mut buffer[1..])).unwrap();
            assert_eq!(first_difference(&reference, &buffer[1..]), None, "level {level}, offset buffer");
        })
        .unwrap();
    }
}

/// One NaN rule at every level (issue 14): a full block's absmax is its *first* NaN with the sign
/// cleared, as torch's max reduction keeps it, whatever payloads later NaNs carry; a partial last
/// block with a NaN stores all ones. Here the first NaN has the smaller payload and a negative
/// sign, so an unsigned maximum over the bits or a canonical NaN would both show.
#[test]
fn nan_absmax_is_the_first_nans_magnitude_at_every_level() {
    let blocksize = Blocksize::DEFAULT;
    let mut values: Vec<f32> = (0..3 * 64 + 5).map(|i| (i as f32 * 0.37).sin()).collect();
    values[10] = f32::from_bits(0xffc0_0123);
    values[40] = f32::from_bits(0x7fc7_7777);
    values[64 + 3] = f32::INFINITY;
    values[64 + 9] = f32::from_bits(0x7f80_0001); // a signalling NaN after an inf
    values[3 * 64 + 2] = f32::from_bits(0x7fc0_0042);
    let expected =
        [0x7fc0_0123, 0x7f80_0001, (values[128..192].iter().fold(0f32, |m, v| m.max(v.abs()))).to_bits(), 0xffff_ffff];
    let codebook = QuantType::Nf4.codebook();
    let (_, reference) = quantize_blocks_reference(FloatSlice::F32(&values), blocksize, &codebook);
    assert_eq!(reference.iter().map(|a| a.to_bits()).collect::<Vec<_>>(), expected, "reference");
    let options = QuantizeOptions { codebook, blocksize, double_quant: false };
    for level in SimdLevel::supported() {
        let q = quantbound_simd::with_level(level, || {
            Quantized4bit::quantize("nan", FloatSlice::F32(&values), &[values.len()], &options)
        })
        .unwrap()
        .unwrap();
        let ours: Vec<u32> = q.state.absmax.to_f32().iter().map(|a| a.to_bits()).collect();
        assert_eq!(ours, expected, "level {level}");
    }
}

/// Found by the `kernels` fuzz target: a bf16 tensor whose partial last block holds a NaN stores
/// the all-ones absmax, and its dequantized NaNs must round to bf16 as the kernels round them
/// (torch's 0x7FC0), not keep the payload, so that `round_in_place` on the reference agrees.
#[test]
fn bf16_nan_tail_dequantizes_alike_through_kernels_and_reference() {
    let values: Vec<bf16> = [0.5, f32::NAN, -0.25, 1.0].iter().map(|&v| bf16::from_f32(v)).collect();
    let codebook = QuantType::Nf4.codebook();
    let (packed, absmax) = quantize_blocks_reference(FloatSlice::Bf16(&values), Blocksize::DEFAULT, &codebook);
    assert_eq!(absmax[0].to_bits(), 0xffff_ffff);
    let mut reference = dequantize_blocks_reference(&packed, &absmax, Blocksize::DEFAULT, &codebook, values.len());
    quantbound_codebook::FloatDtype::Bf16.round_in_place(&mut reference);
    assert!(reference.iter().all(|v| v.to_bits() == 0x7fc0_0000), "{reference:?}");
    let options = QuantizeOptions { codebook, blocksize: Blocksize::DEFAULT, double_quant: false };
    for level in SimdLevel::supported() {
        let q = quantbound_simd::with_level(level, || {
            Quantized4bit::quantize("nan", FloatSlice::Bf16(&values), &[values.len()], &options)
        })
        .unwrap()
        .unwrap();
        let ours: Vec<u32> = q.dequantize().to_f32_vec().iter().map(|v| v.to_bits()).collect();
        assert_eq!(ours, reference.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "level {level}");
    }
}

/// Found by the `kernels` fuzz target: a bf16 signalling NaN widens to f32 by a shift (as torch
/// and the kernels widen it), so the absmax of its block is that signalling NaN on the reference
/// path too; the reference used to quiet it (0x7fe9… for 0x7fa9…).
#[test]
fn bf16_signalling_nan_absmax_is_kept_at_every_level() {
    let mut values = vec![bf16::from_f32(0.125); 64];
    values[5] = bf16::from_bits(0x7fa9);
    let codebook = QuantType::Fp4.codebook();
    let (_, reference) = quantize_blocks_reference(FloatSlice::Bf16(&values), Blocksize::DEFAULT, &codebook);
    assert_eq!(reference[0].to_bits(), 0x7fa9_0000);
    let options = QuantizeOptions { codebook, blocksize: Blocksize::DEFAULT, double_quant: false };
    for level in SimdLevel::supported() {
        let q = quantbound_simd::with_level(level, || {
            Quantized4bit::quantize("snan", FloatSlice::Bf16(&values), &[64], &options)
        })
        .unwrap()
        .unwrap();
        assert_eq!(q.state.absmax.to_f32()[0].to_bits(), 0x7fa9_0000, "level {level}");
    }
}

/// A custom table with values beyond ±1 and a block whose absmax is near f32's maximum, so that
/// 1/absmax is subnormal and x·(1/absmax) lands past 1 (3.4e38 · f32(1/3.4e38) = 1.0000001): bnb
/// clamps the scaled value to [−1, 1], and every level must bucket as if it had. The threshold
/// between 0.75 and 1.25 is exactly 1. (Found by the `kernels` fuzz target.)
#[test]
fn scaled_values_past_one_bucket_as_clamped() {
    let table = [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.25, 2.0, 4.0, 8.0, -2.0, -4.0, -8.0, 12.0];
    let codebook = Codebook::custom(table).unwrap();
    let big = 3.4e38f32;
    let block: Vec<f32> = (0..64).map(|i| [big, -big, big * 0.999, -big * 0.75, 1.0, 0.0][i % 6]).collect();
    let (packed, absmax) = quantize_blocks_reference(FloatSlice::F32(&block), Blocksize::DEFAULT, &codebook);
    // The reference clamps: the largest weight takes the code 0.75, not 1.25.
    assert_eq!(packed[0] >> 4, 7);
    for level in SimdLevel::supported() {
        let options =
            QuantizeOptions { codebook: codebook.clone(), blocksize: Blocksize::DEFAULT, double_quant: false };
        let q = quantbound_simd::with_level(level, || {
            Quantized4bit::quantize("test", FloatSlice::F32(&block), &[64], &options).unwrap()
        })
        .unwrap();
        assert_eq!(q.packed, packed, "{level}: packed bytes");
        assert_eq!(q.state.absmax.to_f32(), absmax, "{level}: absmax");
    }
}

//! NVIDIA's NVFP4 (Blackwell's block-scaled FP4, as torchao's `NVFP4Tensor` and NVIDIA's
//! ModelOpt make it): E2M1 elements, an FP8 E4M3 scale per 16 consecutive weights of a row, and
//! one f32 scale per tensor; x = global · E4M3(s) · E2M1(q). 4.5 bits per weight, plus 32 per
//! tensor. ggml's NVFP4, which has no per-tensor scale, is [`crate::ggml`]'s `nvfp4_ggml`.
//!
//! Quantized as torchao's `nvfp4_quantize` with `per_tensor_amax_to_scale` (two-level scaling),
//! in f32 with true divisions:
//! - global = amax(|W|) / (448 · 6), E4M3's and E2M1's largest values;
//! - each block's scale s = (amax(|x|) / 6) / global, clamped to [2^−6, 448] (E4M3's smallest
//!   normal and its largest), rounded to E4M3 half to even;
//! - each element x / (global · s), clamped to ±6, rounded to E2M1 half to even (ties to the even
//!   code: 0.25 → 0, 0.75 → 1, 2.5 → 2, 5 → 4), its sign the f32 sign bit (so −0 and small
//!   negatives are code 8);
//! - two codes a byte, the even element in the low nibble; E2M1 codes are sign · 8 + magnitude
//!   index into 0, 0.5, 1, 1.5, 2, 3, 4, 6.
//!
//! An all-zero tensor, whose reference divides 0 by 0, takes global = 1 (every code 0).

use quantbound_codebook::nibble;

use crate::error::Result;
use crate::{check_blocks, Format, FormatName, Quantized};

/// Weights per E4M3 scale.
pub const BLOCK: usize = 16;
const E4M3_MAX: f32 = 448.0;
const E4M3_MIN_NORMAL: f32 = 0.015_625;
const E2M1_MAX: f32 = 6.0;
const E2M1: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// E4M3 (bias 7) of `x` in [2^−6, 448], half to even: (byte, value).
fn to_e4m3(x: f32) -> (u8, f32) {
    let bits = x.to_bits();
    let rounded = (bits + 0x7_FFFF + ((bits >> 20) & 1)) & !0xF_FFFF;
    let exponent = (rounded >> 23) as i32 - 127 + 7;
    (((exponent as u8) << 3) | ((rounded >> 20) & 0x7) as u8, f32::from_bits(rounded))
}

/// The E4M3 value of `byte` (a normal: the quantizer writes no others).
fn from_e4m3(byte: u8) -> f32 {
    let (exponent, mantissa) = (u32::from(byte >> 3) & 0xF, u32::from(byte & 0x7));
    if exponent == 0 {
        return mantissa as f32 * f32::from_bits(118 << 23); // 2^−9
    }
    f32::from_bits(((exponent + 127 - 7) << 23) | (mantissa << 20))
}

/// E2M1 of `v` (|v| ≤ 6), half to even.
fn to_e2m1(v: f32) -> u8 {
    let m = v.abs();
    let magnitude = match m {
        m if m <= 0.25 => 0,
        m if m < 0.75 => 1,
        m if m <= 1.25 => 2,
        m if m < 1.75 => 3,
        m if m <= 2.5 => 4,
        m if m < 3.5 => 5,
        m if m <= 5.0 => 6,
        _ => 7,
    };
    magnitude | if v.is_sign_negative() { 8 } else { 0 }
}

fn from_e2m1(code: u8) -> f32 {
    let m = E2M1[usize::from(code & 7)];
    if code & 8 != 0 {
        -m
    } else {
        m
    }
}

/// NVIDIA's NVFP4.
#[derive(Clone, Copy, Debug, Default)]
pub struct Nvfp4;

impl Nvfp4 {
    /// [`Format::quantize`], its scales and codes kept apart.
    pub fn quantize_tensor(&self, tensor: &str, weights: &[f32], shape: &[usize]) -> Result<Nvfp4Tensor> {
        check_blocks(FormatName::Nvfp4, tensor, weights, shape, BLOCK)?;
        let amax = weights.iter().fold(0f32, |m, v| m.max(v.abs()));
        let global = if amax > 0.0 { amax / (E4M3_MAX * E2M1_MAX) } else { 1.0 };
        let mut scales = Vec::with_capacity(weights.len() / BLOCK);
        let mut codes = vec![0u8; weights.len() / 2];
        for (x, out) in weights.chunks_exact(BLOCK).zip(codes.chunks_exact_mut(BLOCK / 2)) {
            let block_amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            let (byte, s) = to_e4m3((block_amax / E2M1_MAX / global).clamp(E4M3_MIN_NORMAL, E4M3_MAX));
            scales.push(byte);
            let total = global * s;
            let code = |v: f32| to_e2m1((v / total).clamp(-E2M1_MAX, E2M1_MAX));
            for (o, pair) in out.iter_mut().zip(x.chunks_exact(2)) {
                *o = nibble::pack_low_first(code(pair[0]), code(pair[1]));
            }
        }
        Ok(Nvfp4Tensor { global, scales, codes })
    }
}

impl Format for Nvfp4 {
    fn name(&self) -> FormatName {
        FormatName::Nvfp4
    }

    fn bits_per_weight(&self) -> f64 {
        4.0 + 8.0 / BLOCK as f64
    }

    fn bits_per_weight_of(&self, shape: &[usize]) -> f64 {
        self.bits_per_weight() + 32.0 / shape.iter().product::<usize>().max(1) as f64
    }

    fn block_size(&self) -> usize {
        BLOCK
    }

    fn quantize(&self, tensor: &str, weights: &[f32], shape: &[usize]) -> Result<Box<dyn Quantized>> {
        Ok(Box::new(self.quantize_tensor(tensor, weights, shape)?))
    }
}

/// A tensor in NVIDIA's NVFP4.
#[derive(Clone, Debug)]
pub struct Nvfp4Tensor {
    /// The per-tensor f32 scale.
    pub global: f32,
    /// One E4M3 byte per 16 weights.
    pub scales: Vec<u8>,
    /// Two E2M1 codes a byte, the even element in the low nibble.
    pub codes: Vec<u8>,
}

impl Quantized for Nvfp4Tensor {
    fn numel(&self) -> usize {
        2 * self.codes.len()
    }

    fn storage_bytes(&self) -> usize {
        self.codes.len() + self.scales.len() + 4
    }

    /// E2M1(q) · (global · E4M3(s)), as torchao dequantizes.
    fn dequantize_into(&self, out: &mut [f32]) -> Result<()> {
        if out.len() != self.numel() {
            return Err(crate::FormatError::BadLength {
                tensor: "the tensor".into(),
                format: FormatName::Nvfp4.to_string(),
                numel: out.len(),
                expected: out.len() / 2 + out.len() / BLOCK + 4,
                found: self.storage_bytes(),
            });
        }
        for ((out, codes), &s) in out.chunks_exact_mut(BLOCK).zip(self.codes.chunks_exact(BLOCK / 2)).zip(&self.scales)
        {
            let total = self.global * from_e4m3(s);
            for (pair, &byte) in out.chunks_exact_mut(2).zip(codes) {
                let (first, second) = nibble::unpack_low_first(byte);
                pair[0] = from_e2m1(first) * total;
                pair[1] = from_e2m1(second) * total;
            }
        }
        Ok(())
    }
}

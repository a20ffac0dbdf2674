//! OCP Microscaling MXFP4 (MX spec v1.0, §5 and §6.3) as ggml's `block_mxfp4` lays it out: one
//! E8M0 shared exponent e, then 16 bytes of E2M1 codes; x = 2^(e − 127) · E2M1(q).
//!
//! Quantized as `quantize_row_mxfp4_ref` (ggml-quants.c) and gguf-py's `MXFP4.quantize_blocks`:
//! e = floor(log2(max |x|)) − 2 + 127 (the spec's shared exponent, E2M1's largest exponent being
//! 2), or 0 for an all-zero block, and each code the E2M1 value nearest x/2^(e−127), the first of
//! equals in ggml's code order (so ties go to the smaller magnitude, and −0 is never chosen).
//! ggml stores the E2M1 values doubled and the scale halved, which gives the same products.

use super::{pack, unpack, Block, BLOCK};
use crate::FormatName;

/// E2M1 values doubled, by code: ggml's `kvalues_mxfp4` (ggml-common.h).
const DOUBLED_E2M1: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

#[derive(Clone, Copy, Debug, Default)]
pub struct Mxfp4;

/// 2^(e − 128): the E8M0 scale halved, as ggml's `ggml_e8m0_to_fp32_half` (ggml-impl.h) builds it
/// from bits (subnormal for e < 2).
fn half_scale(e: u8) -> f32 {
    let bits = if e < 2 { 0x0020_0000u32 << e } else { u32::from(e - 1) << 23 };
    f32::from_bits(bits)
}

/// floor(log2(a)) − 2 + 127 for a > 0, with log2 rounded to f32 first as `log2f` does (so a just
/// below a power of two may round up to it), then cast to u8 as C and numpy do for these values.
fn shared_exponent(amax: f32) -> u8 {
    if amax > 0.0 {
        let log2 = f64::from(amax).log2() as f32;
        (log2.floor() - 2.0 + 127.0) as u8
    } else {
        0
    }
}

impl Block for Mxfp4 {
    const NAME: FormatName = FormatName::Mxfp4;
    const BYTES: usize = 1 + BLOCK / 2;

    fn quantize_block(x: &[f32; BLOCK], out: &mut [u8]) {
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let e = shared_exponent(amax);
        let d = half_scale(e);
        let q = x.map(|v| {
            let mut best = (0u8, f32::INFINITY);
            for (code, &k) in DOUBLED_E2M1.iter().enumerate() {
                let error = (d * f32::from(k) - v).abs();
                if error < best.1 {
                    best = (code as u8, error);
                }
            }
            best.0
        });
        out[0] = e;
        pack(&q, &mut out[1..]);
    }

    fn dequantize_block(bytes: &[u8], out: &mut [f32]) {
        let d = half_scale(bytes[0]);
        for (o, q) in out.iter_mut().zip(unpack(&bytes[1..])) {
            *o = d * f32::from(DOUBLED_E2M1[usize::from(q)]);
        }
    }
}

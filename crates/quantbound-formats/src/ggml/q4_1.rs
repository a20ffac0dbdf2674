//! ggml's `block_q4_1` (ggml-common.h): an f16 scale d and an f16 minimum m, then 16 bytes of
//! codes; x = d·q + m. Quantized as `quantize_row_q4_1_ref` (ggml-quants.c) and gguf-py's
//! `Q4_1.quantize_blocks`: d = (max − min)/15, q = min(15, trunc((x − min)/d + 0.5)) with 1/d
//! computed once in f32, and the unrounded f32 minimum used for the codes.

use half::f16;

use super::{c_int, pack, unpack, BLOCK};

/// Encodes one block of finite values `x` into `out`.
pub(crate) fn quantize(x: &[f32], out: &mut [u8]) {
    let x: &[f32; BLOCK] = x.try_into().expect("one block");
    let (min, max) = x.iter().fold((x[0], x[0]), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let d = (max - min) / 15.0;
    let id = if d == 0.0 { 0.0 } else { 1.0 / d };
    let q = x.map(|v| (c_int((v - min) * id + 0.5) as i8).min(15) as u8);
    out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    out[2..4].copy_from_slice(&f16::from_f32(min).to_le_bytes());
    pack(&q, &mut out[4..]);
}

/// Decodes one block.
pub(crate) fn dequantize(bytes: &[u8], out: &mut [f32]) {
    let d = f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
    let m = f16::from_le_bytes([bytes[2], bytes[3]]).to_f32();
    for (o, q) in out.iter_mut().zip(unpack(&bytes[4..])) {
        *o = d * f32::from(q) + m;
    }
}

//! ggml's `block_q5_0` (ggml-common.h): an f16 scale d, 4 bytes holding each weight's fifth bit,
//! 16 bytes of low nibbles; x = d·(q − 16). Quantized as `quantize_row_q5_0_ref` (ggml-quants.c):
//! d = m / −16 for the element m of largest magnitude (the first of equals), q = min(31,
//! trunc(x/d + 16.5)) with 1/d computed once in f32. llama.cpp writes it where a Q4_K tensor's
//! rows are not whole super-blocks.

use half::f16;

use super::{c_int, BLOCK};

/// Encodes one block of finite values `x` into `out`.
pub(crate) fn quantize(x: &[f32], out: &mut [u8]) {
    let mut max = 0f32;
    for &v in x {
        if v.abs() > max.abs() {
            max = v;
        }
    }
    let d = max / -16.0;
    let id = if d == 0.0 { 0.0 } else { 1.0 / d };
    let mut high = 0u32;
    for j in 0..BLOCK / 2 {
        let code = |v: f32| (c_int(v * id + 16.5) as i8).min(31) as u8;
        let (lo, hi) = (code(x[j]), code(x[j + BLOCK / 2]));
        out[6 + j] = (lo & 0x0F) | ((hi & 0x0F) << 4);
        high |= u32::from(lo >> 4) << j | u32::from(hi >> 4) << (j + BLOCK / 2);
    }
    out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    out[2..6].copy_from_slice(&high.to_le_bytes());
}

/// Decodes one block: the fifth bit of weight j is bit j of the little-endian u32 at byte 2.
pub(crate) fn dequantize(bytes: &[u8], out: &mut [f32]) {
    let d = f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
    let high = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    for (j, o) in out.iter_mut().enumerate().take(BLOCK) {
        let low = (bytes[6 + j % 16] >> (4 * (j / 16))) & 0x0F;
        let q = i32::from(low) | (((high >> j) & 1) << 4) as i32;
        *o = (q - 16) as f32 * d;
    }
}

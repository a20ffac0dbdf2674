//! ggml's `block_q4_0` (ggml-common.h): an f16 scale d, then 16 bytes of codes; x = d·(q − 8).
//! Quantized as `quantize_row_q4_0_ref` (ggml-quants.c) and gguf-py's `Q4_0.quantize_blocks`:
//! d = m / −8 for the element m of largest magnitude (the first of equals, keeping its sign; +0
//! for a block of zeros, where gguf-py takes the first element's sign of zero),
//! q = min(15, trunc(x/d + 8.5)) with 1/d computed once in f32.

use half::f16;

use super::{c_int, pack, unpack, BLOCK};

/// Encodes one block of finite values `x` into `out`.
pub(crate) fn quantize(x: &[f32], out: &mut [u8]) {
    let x: &[f32; BLOCK] = x.try_into().expect("one block");
    let mut max = 0f32;
    for &v in x {
        if v.abs() > max.abs() {
            max = v;
        }
    }
    let d = max / -8.0;
    let id = if d == 0.0 { 0.0 } else { 1.0 / d };
    let q = x.map(|v| (c_int(v * id + 8.5) as i8).min(15) as u8);
    out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    pack(&q, &mut out[2..]);
}

/// Decodes one block.
pub(crate) fn dequantize(bytes: &[u8], out: &mut [f32]) {
    let d = f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
    for (o, q) in out.iter_mut().zip(unpack(&bytes[2..])) {
        *o = d * (f32::from(q) - 8.0);
    }
}

//! ggml's `block_q4_0` (ggml-common.h): an f16 scale d, then 16 bytes of codes; x = d·(q − 8).
//! Quantized as `quantize_row_q4_0_ref` (ggml-quants.c) and gguf-py's `Q4_0.quantize_blocks`:
//! d = m / −8 for the element m of largest magnitude (the first of equals, keeping its sign),
//! q = min(15, trunc(x/d + 8.5)) with 1/d computed once in f32.

use half::f16;

use super::{pack, unpack, Block, BLOCK};
use crate::FormatName;

#[derive(Clone, Copy, Debug, Default)]
pub struct Q4_0;

impl Block for Q4_0 {
    const NAME: FormatName = FormatName::Q4_0;
    const BYTES: usize = 2 + BLOCK / 2;

    fn quantize_block(x: &[f32; BLOCK], out: &mut [u8]) {
        let mut max = x[0];
        for &v in &x[1..] {
            if v.abs() > max.abs() {
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        let q = x.map(|v| ((v * id + 8.5).trunc() as u8).min(15));
        out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
        pack(&q, &mut out[2..]);
    }

    fn dequantize_block(bytes: &[u8], out: &mut [f32]) {
        let d = f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
        for (o, q) in out.iter_mut().zip(unpack(&bytes[2..])) {
            *o = d * (f32::from(q) - 8.0);
        }
    }
}

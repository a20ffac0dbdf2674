//! The GGUF block types quantbound only reads (it does not write them): Q8_0 and the K-quants
//! Q5_K and Q6_K, and Q4_K's decoding (its quantizer is `q4_k`), decoded as llama.cpp's `dequantize_row_*` (ggml-quants.c) and
//! gguf-py's `dequantize_blocks` do, in f32, unfused. Layouts from ggml-common.h.

use half::f16;

/// Weights per K-quant super-block (ggml's `QK_K`).
pub const QK_K: usize = 256;

fn half(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// `block_q8_0`: f16 d, 32 × i8 q; x = q·d.
pub(crate) fn q8_0(bytes: &[u8], out: &mut [f32]) {
    let d = half(bytes, 0);
    for (o, &q) in out.iter_mut().zip(&bytes[2..34]) {
        *o = f32::from(q as i8) * d;
    }
}

/// The eight 6-bit (scale, min) pairs of a Q4_K/Q5_K super-block, from its 12 packed bytes
/// (`get_scale_min_k4`): bytes 0–3 and 4–7 hold the low six bits of scales and mins 0–3, byte
/// 8 + j the low four bits of scale and min 4 + j, and the top two bits of bytes j and 4 + j
/// their high two.
pub(crate) fn scales_and_mins(packed: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (d, m, md) = (&packed[0..4], &packed[4..8], &packed[8..12]);
    let scales =
        std::array::from_fn(|j| if j < 4 { d[j] & 0x3F } else { (md[j - 4] & 0x0F) | ((d[j - 4] >> 2) & 0x30) });
    let mins = std::array::from_fn(|j| if j < 4 { m[j] & 0x3F } else { (md[j - 4] >> 4) | ((m[j - 4] >> 2) & 0x30) });
    (scales, mins)
}

/// `block_q4_K` (144 bytes): f16 d, f16 dmin, 12 bytes of scales and mins, 128 bytes of codes.
/// Sub-block j (32 weights) is x = (d·scale_j)·q − dmin·min_j; the codes of sub-blocks 2c and
/// 2c + 1 are the low and high nibbles of bytes 32c … 32c + 31.
pub(crate) fn q4_k(bytes: &[u8], out: &mut [f32]) {
    let (d, dmin) = (half(bytes, 0), half(bytes, 2));
    let (scales, mins) = scales_and_mins(&bytes[4..16]);
    let qs = &bytes[16..144];
    for (e, o) in out.iter_mut().enumerate().take(QK_K) {
        let j = e / 32;
        let q = (qs[(e / 64) * 32 + e % 32] >> (4 * (j % 2))) & 0x0F;
        *o = d * f32::from(scales[j]) * f32::from(q) - dmin * f32::from(mins[j]);
    }
}

/// `block_q5_K` (176 bytes): as Q4_K with 32 bytes of high bits after the scales (bit j of byte i
/// is the fifth bit of weight i of sub-block j), then the 128 bytes of low nibbles.
pub(crate) fn q5_k(bytes: &[u8], out: &mut [f32]) {
    let (d, dmin) = (half(bytes, 0), half(bytes, 2));
    let (scales, mins) = scales_and_mins(&bytes[4..16]);
    let (qh, qs) = (&bytes[16..48], &bytes[48..176]);
    for (e, o) in out.iter_mut().enumerate().take(QK_K) {
        let j = e / 32;
        let low = (qs[(e / 64) * 32 + e % 32] >> (4 * (j % 2))) & 0x0F;
        let high = (qh[e % 32] >> j) & 1;
        *o = d * f32::from(scales[j]) * f32::from(low | (high << 4)) - dmin * f32::from(mins[j]);
    }
}

/// `block_q6_K` (210 bytes): 128 bytes of low nibbles, 64 of high two-bit pairs, 16 i8 scales,
/// f16 d. Weight e of a half h = e / 128 takes its low four bits from byte 64h + e % 64 (low or
/// high nibble by (e % 128) / 64) and its high two from byte 32h + e % 32 (shifted by
/// 2·((e % 128) / 32)); x = (d·scale[e / 16])·(q − 32).
pub(crate) fn q6_k(bytes: &[u8], out: &mut [f32]) {
    let (ql, qh, scales) = (&bytes[0..128], &bytes[128..192], &bytes[192..208]);
    let d = half(bytes, 208);
    for (e, o) in out.iter_mut().enumerate().take(QK_K) {
        let (h, r) = (e / 128, e % 128);
        let low = (ql[64 * h + e % 64] >> (4 * (r / 64))) & 0x0F;
        let high = (qh[32 * h + e % 32] >> (2 * (r / 32))) & 0x03;
        let q = ((low | (high << 4)) as i8) - 32;
        *o = d * f32::from(scales[e / 16] as i8) * f32::from(q);
    }
}

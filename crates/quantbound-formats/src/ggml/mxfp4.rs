//! OCP Microscaling MXFP4 (MX spec v1.0, §5 and §6.3) as ggml's `block_mxfp4` lays it out: one
//! E8M0 shared exponent e, then 16 bytes of E2M1 codes; x = 2^(e − 127) · E2M1(q).
//!
//! Quantized as `quantize_row_mxfp4_ref` (ggml-quants.c) and gguf-py's `MXFP4.quantize_blocks`:
//! e = floor(log2(max |x|)) − 2 + 127 (the spec's shared exponent, E2M1's largest exponent being
//! 2), or 0 for an all-zero block, and each code the E2M1 value nearest x/2^(e−127), the first of
//! equals in ggml's code order (so ties go to the smaller magnitude, and −0 is never chosen).
//! ggml stores the E2M1 values doubled and the scale halved, which gives the same products.
//!
//! `mxfp4_ocp` is the same block as the OCP's reference library rounds it (microxcaling's
//! `_quantize_mx` with its default `round="nearest"`, its default for MXFP4): each x/2^(e−127)
//! to the nearest E2M1 value with ties away from zero (0.25 → 0.5, 0.75 → 1, 2.5 → 3, 5 → 6),
//! saturating at ±6; and the shared exponent floor(log2(max |x|)) − 2 clamped to E8M0's −127
//! instead of wrapping. Values between two codes round alike in both.

use super::{c_int, pack, unpack, BLOCK};

/// E2M1 values doubled, by code: ggml's `kvalues_mxfp4` (ggml-common.h).
pub(crate) const DOUBLED_E2M1: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// 2^(e − 128): the E8M0 scale halved, as ggml's `ggml_e8m0_to_fp32_half` (ggml-impl.h) builds it
/// from bits (subnormal for e < 2).
fn half_scale(e: u8) -> f32 {
    let bits = if e < 2 { 0x0020_0000u32 << e } else { u32::from(e - 1) << 23 };
    f32::from_bits(bits)
}

/// floor(log2(a)) − 2 + 127 for a > 0, with log2 rounded to f32 first as `log2f` does (so a just
/// below a power of two may round up to it), then cast to u8 as C does on x86-64 (a subnormal
/// maximum's negative exponent wraps: −4 is 252, whose scale zeroes the block).
fn shared_exponent(amax: f32) -> u8 {
    if amax > 0.0 {
        let log2 = f64::from(amax).log2() as f32;
        c_int(log2.floor() - 2.0 + 127.0) as u8
    } else {
        0
    }
}

/// The code whose doubled E2M1 value times `d` is nearest `v`, the first of equals in code order
/// (ggml's `best_index_mxfp4`, which NVFP4 shares).
pub(crate) fn nearest_e2m1(v: f32, d: f32) -> u8 {
    let mut best = (0u8, f32::INFINITY);
    for (code, &k) in DOUBLED_E2M1.iter().enumerate() {
        let error = (f32::from(k) * d - v).abs();
        if error < best.1 {
            best = (code as u8, error);
        }
    }
    best.0
}

/// Encodes one block of finite values `x` into `out`.
pub(crate) fn quantize(x: &[f32], out: &mut [u8]) {
    let x: &[f32; BLOCK] = x.try_into().expect("one block");
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let e = shared_exponent(amax);
    let d = half_scale(e);
    let q = x.map(|v| nearest_e2m1(v, d));
    out[0] = e;
    pack(&q, &mut out[1..]);
}

/// Decodes one block.
pub(crate) fn dequantize(bytes: &[u8], out: &mut [f32]) {
    let d = half_scale(bytes[0]);
    for (o, q) in out.iter_mut().zip(unpack(&bytes[1..])) {
        *o = d * f32::from(DOUBLED_E2M1[usize::from(q)]);
    }
}

/// E2M1's magnitudes, by code (0 … 7).
const E2M1: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// The E2M1 code nearest `v` (already divided by the block scale), ties away from zero, clamped
/// at ±6, as microxcaling's element rounding: the E2M1 step at |v| is 0.5 below 2, 1 below 4, 2
/// above, and |v|/step rounds half up.
fn nearest_e2m1_ties_away(v: f32) -> u8 {
    let a = v.abs();
    let step = if a < 2.0 {
        0.5
    } else if a < 4.0 {
        1.0
    } else {
        2.0
    };
    let rounded = ((a / step + 0.5).floor() * step).min(6.0);
    let magnitude = E2M1.iter().position(|&e| e == rounded).expect("a multiple of the step up to 6") as u8;
    // A negative value that rounds to zero is code 0: microxcaling's float simulation gives −0
    // there, which this block cannot hold (ggml decodes its code 8 as +0 too).
    if v < 0.0 && magnitude != 0 {
        magnitude | 8
    } else {
        magnitude
    }
}

/// Encodes one block of finite values `x` as OCP's reference does.
pub(crate) fn quantize_ocp(x: &[f32], out: &mut [u8]) {
    let x: &[f32; BLOCK] = x.try_into().expect("one block");
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    // floor(log2 max) − 2, E2M1's largest exponent, clamped below at E8M0's −127 (an all-zero
    // block too: microxcaling takes log2 of the smallest normal there).
    let exponent = if amax > 0.0 { (f64::from(amax).log2() as f32).floor() - 2.0 } else { -127.0 };
    let e = (exponent.max(-127.0) + 127.0) as u8;
    // 2^(e − 127) from its bits: 2^−127 (e = 0) is the subnormal 0x0040_0000.
    let scale = f32::from_bits(if e == 0 { 0x0040_0000 } else { u32::from(e) << 23 });
    let q = x.map(|v| nearest_e2m1_ties_away(v / scale));
    out[0] = e;
    pack(&q, &mut out[1..]);
}

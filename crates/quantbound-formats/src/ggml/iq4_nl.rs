//! ggml's `block_iq4_nl` (ggml-common.h): an f16 scale d, then 16 bytes of codes into a fixed
//! non-uniform table; x = d·kvalues[q].
//!
//! Quantized as `llama-quantize` does without an importance matrix, i.e. `quantize_iq4_nl` with
//! no quant weights (ggml-quants.c's `quantize_row_iq4_nl_impl`, ntry 7), not the separate
//! `quantize_row_iq4_nl_ref` (ntry −1): each weight is weighted by x², the scale starts at
//! max/127 for the element of largest magnitude, the least-squares scale of the codes is refined
//! over 15 trial scales (−127 + t)/max, t = −7 … 7, and the codes are re-chosen for the best.

use half::f16;

use super::{pack, unpack, BLOCK};

/// ggml's `kvalues_iq4nl` (ggml-common.h).
pub(crate) const KVALUES: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// Trial scales either side of the first (ggml's `ntry`).
const NTRY: i32 = 7;

/// A block whose largest magnitude is under this is all zeros (ggml's `GROUP_MAX_EPS`).
const GROUP_MAX_EPS: f32 = 1e-15;

/// The table entry nearest `x`, ties to the larger (ggml's `best_index_int8`, a bisection).
fn best_index(x: f32) -> u8 {
    let value = |i: usize| f32::from(KVALUES[i]);
    if x <= value(0) {
        return 0;
    }
    if x >= value(15) {
        return 15;
    }
    let (mut lo, mut hi) = (0, 15);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if x < value(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    if x - value(hi - 1) < value(hi) - x {
        (hi - 1) as u8
    } else {
        hi as u8
    }
}

/// Σ w·q·x and Σ w·q² for the codes of `x` under 1/scale `id`, in ggml's order of operations.
fn moments(x: &[f32; BLOCK], id: f32) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0f32, 0f32);
    for &v in x {
        let q = f32::from(KVALUES[usize::from(best_index(id * v))]);
        let w = v * v;
        sumqx += w * q * v;
        sumq2 += w * q * q;
    }
    (sumqx, sumq2)
}

/// Encodes one block of finite values `x` into `out`.
pub(crate) fn quantize(x: &[f32], out: &mut [u8]) {
    let x: &[f32; BLOCK] = x.try_into().expect("one block");
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            (amax, max) = (v.abs(), v);
        }
    }
    let mut d = 0f32;
    if amax >= GROUP_MAX_EPS {
        let first = -max / f32::from(KVALUES[0]);
        let (sumqx, sumq2) = moments(x, 1.0 / first);
        d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
        let mut best = d * sumqx;
        for t in -NTRY..=NTRY {
            let (sumqx, sumq2) = moments(x, (t + i32::from(KVALUES[0])) as f32 / max);
            if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
    }
    let id = if d == 0.0 { 0.0 } else { 1.0 / d };
    out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    pack(&x.map(|v| best_index(id * v)), &mut out[2..]);
}

/// Decodes one block.
pub(crate) fn dequantize(bytes: &[u8], out: &mut [f32]) {
    let d = f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
    for (o, q) in out.iter_mut().zip(unpack(&bytes[2..18])) {
        *o = d * f32::from(KVALUES[usize::from(q)]);
    }
}

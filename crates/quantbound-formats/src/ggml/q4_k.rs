//! ggml's `block_q4_K` (ggml-common.h; its layout and decoding are in `decode`): a super-block
//! of 256 weights in eight sub-blocks of 32, each x = (d·scale_j)·q − dmin·min_j with 6-bit
//! scale_j and min_j and f16 d and dmin.
//!
//! Quantized as `quantize_row_q4_K_ref` (ggml-quants.c), which `llama-quantize` runs without an
//! importance matrix. Each sub-block gets a scale and a minimum from `make_qkx2_quants`: weights
//! w = rms(x) + |x|, the minimum clamped at or below 0, and 21 trial scales (15 − 1 + 0.1·s)/(max −
//! min) whose codes are refitted by weighted least squares, the best kept. The eight scales and
//! mins are then quantized to 6 bits against their maxima (d = max_scale/63, dmin = max_min/63,
//! rounded to f16), and every code re-chosen under the rounded scale and min. Rounding is ggml's
//! `nearest_int`, half to even through the 1.5·2^23 trick, reproduced bit for bit.

use half::f16;

use super::decode::{scales_and_mins, QK_K};

/// Codes per sub-block's range (4 bits).
const NMAX: i32 = 15;
const SUB: usize = 32;

/// ggml's `nearest_int`: v + 1.5·2^23 in f32 rounds v half to even into the low mantissa bits.
fn nearest_int(v: f32) -> i32 {
    let bits = (v + 12_582_912.0).to_bits() as i32;
    (bits & 0x007F_FFFF) - 0x0040_0000
}

fn code(v: f32) -> u8 {
    nearest_int(v).clamp(0, NMAX) as u8
}

/// `make_qkx2_quants(32, 15, x, w, L, &min, Laux, −1, 0.1, 20, false)`: the sub-block's codes
/// into `codes`, and (scale, −min).
fn scale_and_min(x: &[f32], w: &[f32; SUB], codes: &mut [u8]) -> (f32, f32) {
    let (mut min, mut max) = (x[0], x[0]);
    let (mut sum_w, mut sum_x) = (w[0], w[0] * x[0]);
    for i in 1..SUB {
        min = if x[i] < min { x[i] } else { min };
        max = if x[i] > max { x[i] } else { max };
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        codes.fill(0);
        return (0.0, -min);
    }
    let iscale = NMAX as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0f32;
    for i in 0..SUB {
        codes[i] = code(iscale * (x[i] - min));
        let diff = scale * f32::from(codes[i]) + min - x[i];
        best_error += w[i] * (diff * diff);
    }
    let mut trial = [0u8; SUB];
    for step in 0..=20 {
        let iscale = (-1.0 + 0.1 * step as f32 + NMAX as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for i in 0..SUB {
            trial[i] = code(iscale * (x[i] - min));
            let l = f32::from(trial[i]);
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut error = 0f32;
            for i in 0..SUB {
                let diff = this_scale * f32::from(trial[i]) + this_min - x[i];
                error += w[i] * (diff * diff);
            }
            if error < best_error {
                codes.copy_from_slice(&trial);
                (best_error, scale, min) = (error, this_scale, this_min);
            }
        }
    }
    (scale, -min)
}

/// Encodes one super-block of finite values `x` into `out` (144 bytes).
pub(crate) fn quantize(x: &[f32], out: &mut [u8]) {
    let mut codes = [0u8; QK_K];
    let (mut scales, mut mins) = ([0f32; 8], [0f32; 8]);
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..QK_K / SUB {
        let xs = &x[SUB * j..SUB * (j + 1)];
        let sum_x2 = xs.iter().fold(0f32, |s, &v| s + v * v);
        let av_x = (sum_x2 / SUB as f32).sqrt();
        let w: [f32; SUB] = std::array::from_fn(|l| av_x + xs[l].abs());
        (scales[j], mins[j]) = scale_and_min(xs, &w, &mut codes[SUB * j..SUB * (j + 1)]);
        max_scale = if scales[j] > max_scale { scales[j] } else { max_scale };
        max_min = if mins[j] > max_min { mins[j] } else { max_min };
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let packed = &mut out[4..16];
    packed.fill(0);
    for j in 0..8 {
        // C stores the int in a uint8_t (mod 256) before clamping.
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    let d = f16::from_f32(max_scale / 63.0);
    let dmin = f16::from_f32(max_min / 63.0);
    let (sc, m) = scales_and_mins(packed);
    for j in 0..8 {
        let d = d.to_f32() * f32::from(sc[j]);
        if d == 0.0 {
            // ggml keeps make_qkx2_quants' codes for a sub-block whose scale rounded to 0.
            continue;
        }
        let dm = dmin.to_f32() * f32::from(m[j]);
        for (c, &v) in codes[SUB * j..SUB * (j + 1)].iter_mut().zip(&x[SUB * j..]) {
            *c = code((v + dm) / d);
        }
    }
    out[..2].copy_from_slice(&d.to_le_bytes());
    out[2..4].copy_from_slice(&dmin.to_le_bytes());
    for (chunk, q) in out[16..144].chunks_exact_mut(32).enumerate() {
        for (l, q) in q.iter_mut().enumerate() {
            *q = codes[64 * chunk + l] | (codes[64 * chunk + 32 + l] << 4);
        }
    }
}

//! ggml's `block_nvfp4` (ggml-common.h): 64 weights as four sub-blocks of 16, each with a UE4M3
//! scale (an unsigned E4M3: 4 exponent bits, bias 7, 3 mantissa bits), then 32 bytes of E2M1
//! codes (sub-block s's element j in the low nibble of byte 8s + j, element j + 8 in its high).
//! ggml has no per-tensor scale (NVIDIA's NVFP4, which has one, is `crate::nvfp4`).
//!
//! Quantized as `quantize_row_nvfp4_ref` (ggml-quants.c): each sub-block's scale is amax/6 to
//! UE4M3 by `ggml_fp32_to_ue4m3` (ggml-impl.h), which rounds the mantissa half up on the one bit
//! below it, saturates anything from 2^8 up at 448 (0x7E), and rounds subnormals (below 2^−6) to
//! the nearest multiple of 2^−9, half up; each element is the E2M1 code nearest x under it, the
//! first of equals, as MXFP4.

use super::mxfp4::{nearest_e2m1, DOUBLED_E2M1};

/// Weights per block (ggml's `QK_NVFP4`) and per scale (`QK_NVFP4_SUB`).
pub(crate) const QK_NVFP4: usize = 64;
const SUB: usize = 16;

/// `ggml_fp32_to_ue4m3`.
fn to_ue4m3(x: f32) -> u8 {
    if !(x > 0.0) {
        return 0;
    }
    let x = x.min(448.0);
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xFF) as i32 - 127 + 7;
    if exponent <= 0 {
        // A subnormal UE4M3: man · 2^−9.
        return ((x * 512.0 + 0.5) as i32).min(7).max(0) as u8;
    }
    let mantissa = ((bits >> 20) & 0x7) + ((bits >> 19) & 1);
    let (exponent, mantissa) = if mantissa > 7 { (exponent + 1, 0) } else { (exponent, mantissa) };
    if exponent >= 15 {
        return 0x7E;
    }
    ((exponent as u8) << 3) | mantissa as u8
}

/// `ggml_ue4m3_to_fp32`: the scale halved, as the E2M1 table is doubled (0x7F, E4M3's NaN, is 0).
fn half_scale(ue: u8) -> f32 {
    if ue == 0 || ue == 0x7F {
        return 0.0;
    }
    let (exponent, mantissa) = (i32::from(ue >> 3) & 0xF, f32::from(ue & 0x7));
    let raw = if exponent == 0 {
        mantissa * f32::from_bits(118 << 23) // 2^−9
    } else {
        (1.0 + mantissa / 8.0) * f32::from_bits(((exponent - 7 + 127) as u32) << 23)
    };
    raw * 0.5
}

/// Encodes one block of finite values `x` into `out` (36 bytes).
pub(crate) fn quantize(x: &[f32], out: &mut [u8]) {
    for (s, xb) in x.chunks_exact(SUB).enumerate() {
        let amax = xb.iter().fold(0f32, |m, v| if m < v.abs() { v.abs() } else { m });
        let ue = to_ue4m3(amax / 6.0);
        out[s] = ue;
        let d = half_scale(ue);
        for j in 0..SUB / 2 {
            out[4 + s * SUB / 2 + j] = nearest_e2m1(xb[j], d) | (nearest_e2m1(xb[j + SUB / 2], d) << 4);
        }
    }
}

/// Decodes one block.
pub(crate) fn dequantize(bytes: &[u8], out: &mut [f32]) {
    for (s, yb) in out.chunks_exact_mut(SUB).enumerate() {
        let d = half_scale(bytes[s]);
        for j in 0..SUB / 2 {
            let byte = bytes[4 + s * SUB / 2 + j];
            yb[j] = f32::from(DOUBLED_E2M1[usize::from(byte & 0x0F)]) * d;
            yb[j + SUB / 2] = f32::from(DOUBLED_E2M1[usize::from(byte >> 4)]) * d;
        }
    }
}

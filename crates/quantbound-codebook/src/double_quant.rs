//! Double quantization (`compress_statistics=True`): the f32 absmax of the 4-bit blocks is itself
//! quantized to 8 bits with bnb's signed dynamic map, in blocks of 256, after subtracting its mean.
//!
//! Bit-exact with bitsandbytes 0.50.2 on CPU (golden/bnb4bit/README.md §5): the map of
//! `create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)`, and the C quantizer
//! `quantize_cpu_impl` (`csrc/cpu_ops.cpp`), which snaps each scaled value to a 65536-point grid
//! and looks the code up in a table, so it is *not* exact nearest-neighbour.

use std::sync::OnceLock;

use rayon::prelude::*;

use crate::torch_mean::torch_mean;

/// The nested blocksize bnb always uses for the absmax.
pub const NESTED_BLOCKSIZE: usize = 256;

/// The double-quantized absmax of a tensor (bnb's `absmax` u8 codes + `state2` + `offset`).
#[derive(Clone, Debug, PartialEq)]
pub struct DoubleQuant {
    /// One 8-bit code per 4-bit block (`quant_state.absmax`, u8).
    pub codes: Vec<u8>,
    /// One f32 scale per 256 codes, the last group possibly partial (`state2.absmax`).
    pub nested_absmax: Vec<f32>,
    /// The 256-entry map the codes index (`state2.code`, `nested_quant_map`).
    pub nested_code: Vec<f32>,
    /// The mean subtracted before quantizing (`quant_state.offset`).
    pub offset: f32,
}

impl DoubleQuant {
    /// Compresses an f32 absmax vector as `quantize_4bit(…, compress_statistics=True)` does,
    /// computing the offset as torch's single-threaded `absmax.mean()`.
    pub fn compress(absmax: &[f32]) -> Self {
        Self::compress_with_offset(absmax, torch_mean(absmax))
    }

    /// Compresses with a given offset (e.g. the one a bnb checkpoint recorded).
    pub fn compress_with_offset(absmax: &[f32], offset: f32) -> Self {
        let mut codes = vec![0u8; absmax.len()];
        let nested_absmax = absmax
            .par_chunks(NESTED_BLOCKSIZE)
            .zip(codes.par_chunks_mut(NESTED_BLOCKSIZE))
            .map(|(block, codes)| quantize_block_8bit(block, offset, codes))
            .collect();
        DoubleQuant { codes, nested_absmax, nested_code: dynamic_map().to_vec(), offset }
    }

    /// The f32 absmax the 4-bit dequantization uses:
    /// `nested_code[q_i] · nested_absmax[i / 256] + offset`, each step in f32.
    pub fn absmax(&self) -> Vec<f32> {
        (0..self.codes.len()).map(|block| self.absmax_of(block)).collect()
    }

    /// The rebuilt absmax of one block (see [`DoubleQuant::absmax`]).
    #[inline]
    pub fn absmax_of(&self, block: usize) -> f32 {
        self.nested_code[self.codes[block] as usize] * self.nested_absmax[block / NESTED_BLOCKSIZE] + self.offset
    }
}

/// bnb's signed dynamic 8-bit map: for i = 0..6 the midpoints of `linspace(0.1, 1, 2^i + 1)`
/// scaled by `10^(i−6)` with both signs, then 0 and 1, sorted. `map[0] = −0.99296875`,
/// `map[127] = 0`, `map[255] = 1`.
pub fn dynamic_map() -> &'static [f32; 256] {
    static MAP: OnceLock<[f32; 256]> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut data = Vec::with_capacity(256);
        for i in 0..7 {
            let boundaries = torch_linspace(0.1, 1.0, (1 << i) + 1);
            let scale = 10f64.powi(i - 6) as f32;
            let means: Vec<f32> = boundaries.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
            data.extend(means.iter().map(|m| scale * m));
            data.extend(means.iter().map(|m| -scale * m));
        }
        data.push(0.0);
        data.push(1.0);
        data.sort_by(f32::total_cmp);
        data.try_into().expect("the dynamic map has 2·127 + 2 = 256 entries")
    })
}

/// `torch.linspace(start, end, steps, dtype=float32)` as torch 2.15's CPU kernel computes it.
///
/// # Formula
/// step = (end − start)/(steps − 1) in f32; element i is `fma(step, i, start)` for i < steps/2
/// and `fma(−step, steps − 1 − i, end)` after. The compiled kernel fuses the multiply-add; the
/// unfused form differs in the last bit for some i (checked against torch for steps ≤ 65).
fn torch_linspace(start: f32, end: f32, steps: usize) -> Vec<f32> {
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| if i < halfway { step.mul_add(i as f32, start) } else { (-step).mul_add((steps - i - 1) as f32, end) })
        .collect()
}

/// For each of the 65536 grid points `−1 + 2g/65535` (f32), the number of map midpoints strictly
/// below it: bnb's lookup table, so a grid point on a midpoint goes to the lower code.
fn grid_lut() -> &'static [u8; 65536] {
    static LUT: OnceLock<Box<[u8; 65536]>> = OnceLock::new();
    LUT.get_or_init(|| {
        let code = dynamic_map();
        let midpoints: Vec<f32> = code.windows(2).map(|w| (w[0] + w[1]) * 0.5).collect();
        let mut lut = Box::new([0u8; 65536]);
        for (g, entry) in lut.iter_mut().enumerate() {
            let value = -1.0 + (2 * g) as f32 / 65535.0;
            *entry = midpoints.partition_point(|&m| m < value) as u8;
        }
        lut
    })
}

/// bnb's CPU 8-bit blockwise quantizer on one block of ≤ 256 absmax values less the offset
/// (`v = absmax − offset` in f32); returns the block's scale.
///
/// # Formula
/// m = max|v| (NaN ignored); s = clamp(v · (1/m), −1, 1);
/// g = trunc((s + 1) · 0.5 · 65535 + 0.5); code = LUT[g]; NaN → 0; m = 0 → all codes 0.
fn quantize_block_8bit(absmax: &[f32], offset: f32, codes: &mut [u8]) -> f32 {
    let mut block = [0f32; NESTED_BLOCKSIZE];
    let block = &mut block[..absmax.len()];
    for (v, a) in block.iter_mut().zip(absmax) {
        *v = a - offset;
    }
    let m = block.iter().fold(0f32, |m, v| m.max(v.abs()));
    if m == 0.0 {
        codes.fill(0);
        return m;
    }
    let lut = grid_lut();
    let r = 1.0 / m;
    for (c, &v) in codes.iter_mut().zip(block.iter()) {
        let s = (v * r).clamp(-1.0, 1.0);
        *c = if s.is_nan() {
            0
        } else {
            // The operand is in [0.5, 65535.5], so the cast truncates exactly as trunc() does.
            lut[((s + 1.0) * 0.5 * 65535.0 + 0.5) as usize]
        };
    }
    m
}

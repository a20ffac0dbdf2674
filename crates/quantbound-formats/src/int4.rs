//! INT4 round-to-nearest per group along each row, the layout GPTQ and AWQ checkpoints store: a
//! 4-bit code per weight, an f16 scale per group and, asymmetric, a 4-bit zero-point per group.
//!
//! Quantized as AutoAWQ 0.2.9's `AwqQuantizer.pseudo_quantize_tensor` (awq/quantize/quantizer.py)
//! does on an f16 model, every torch op computed in f32 and rounded to f16 (torch's CPU half
//! arithmetic):
//! - asymmetric: scale = clamp(max − min, 1e-5) / 15, zero = clamp(−round(min / scale), 0, 15),
//!   q = clamp(round(w / scale) + zero, 0, 15), w' = (q − zero) · scale;
//! - symmetric: scale = clamp(max |w|, 1e-5) / 7, q = clamp(round(w / scale), −8, 7), w' = q · scale;
//!
//! with round half to even. The weights are rounded to f16 first, as AWQ's model is. Where AWQ's
//! float simulation leaves a symmetric weight at −0, the integer code gives +0, as its packed
//! kernels do. A row that is not whole groups ends in a shorter group, as GPTQ's quantizer cuts
//! the columns (`W[:, i:i + groupsize]`); AWQ refuses such a row.

use half::f16;

use crate::error::{FormatError, Result};
use crate::{Format, FormatName, Quantized};

/// INT4 with groups of `group` weights, asymmetric (with a zero-point) or symmetric.
#[derive(Clone, Copy, Debug)]
pub struct Int4 {
    name: FormatName,
    group: usize,
    zero_point: bool,
}

impl Int4 {
    pub fn new(name: FormatName, group: usize, zero_point: bool) -> Self {
        Int4 { name, group, zero_point }
    }

    /// Bits each group stores besides its codes: an f16 scale and, asymmetric, a 4-bit zero.
    fn group_bits(&self) -> f64 {
        16.0 + if self.zero_point { 4.0 } else { 0.0 }
    }
}

/// f32 → f16 → f32: one torch half op's rounding.
fn h(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// torch.round: half to even.
fn round(x: f32) -> f32 {
    x.round_ties_even()
}

/// One group: the codes (asymmetric 0…15, symmetric −8…7 stored + 8), its scale and zero-point.
fn quantize_group(w: &[f32], zero_point: bool, codes: &mut [u8]) -> (f16, u8) {
    let clamp_floor = h(1e-5);
    if zero_point {
        let (min, max) = w.iter().fold((w[0], w[0]), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let scale = h(h(max - min).max(clamp_floor) / 15.0);
        let zero = (-round(h(min / scale))).clamp(0.0, 15.0);
        for (c, &v) in codes.iter_mut().zip(w) {
            *c = (round(h(v / scale)) + zero).clamp(0.0, 15.0) as u8;
        }
        (f16::from_f32(scale), zero as u8)
    } else {
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = h(max.max(clamp_floor) / 7.0);
        for (c, &v) in codes.iter_mut().zip(w) {
            *c = (round(h(v / scale)).clamp(-8.0, 7.0) + 8.0) as u8;
        }
        (f16::from_f32(scale), 8)
    }
}

impl Format for Int4 {
    fn name(&self) -> FormatName {
        self.name
    }

    /// 4 bits a weight, 16 for each group's scale and 4 for its zero-point.
    fn bits_per_weight(&self) -> f64 {
        4.0 + self.group_bits() / self.group as f64
    }

    /// With rows of `row` weights: a short last group costs a whole group's scale.
    fn bits_per_weight_of(&self, shape: &[usize]) -> f64 {
        match shape.last() {
            Some(&row) if row > 0 => 4.0 + self.group_bits() * row.div_ceil(self.group) as f64 / row as f64,
            _ => self.bits_per_weight(),
        }
    }

    fn block_size(&self) -> usize {
        self.group
    }

    fn quantize(&self, tensor: &str, weights: &[f32], shape: &[usize]) -> Result<Box<dyn Quantized>> {
        // Any row length: groups run along each row, the last one possibly short.
        crate::check_blocks(self.name, tensor, weights, shape, 1)?;
        let row = shape.last().copied().unwrap_or(weights.len()).max(1);
        let halves: Vec<f32> = weights.iter().map(|&v| h(v)).collect();
        let mut codes = vec![0u8; weights.len()];
        let (scales, zeros) = halves
            .chunks(row)
            .zip(codes.chunks_mut(row))
            .flat_map(|(w, c)| w.chunks(self.group).zip(c.chunks_mut(self.group)))
            .map(|(w, c)| quantize_group(w, self.zero_point, c))
            .unzip();
        Ok(Box::new(Int4Tensor { format: *self, row, codes, scales, zeros }))
    }
}

/// A tensor in INT4: its codes (one a byte here; stored two a byte), scales and zero-points.
#[derive(Clone, Debug)]
pub struct Int4Tensor {
    format: Int4,
    /// Weights per row: groups do not cross rows.
    row: usize,
    codes: Vec<u8>,
    scales: Vec<f16>,
    zeros: Vec<u8>,
}

impl Quantized for Int4Tensor {
    fn numel(&self) -> usize {
        self.codes.len()
    }

    fn storage_bytes(&self) -> usize {
        let zeros = if self.format.zero_point { self.zeros.len().div_ceil(2) } else { 0 };
        self.codes.len().div_ceil(2) + 2 * self.scales.len() + zeros
    }

    /// (q − zero)·scale, rounded to f16 as AWQ's output is, then widened.
    fn dequantize_into(&self, out: &mut [f32]) -> Result<()> {
        if out.len() != self.codes.len() {
            return Err(FormatError::BadLength {
                tensor: "the tensor".into(),
                format: self.format.name.to_string(),
                numel: self.codes.len(),
                expected: self.codes.len(),
                found: out.len(),
            });
        }
        let (group, row) = (self.format.group, self.row);
        let groups = out
            .chunks_mut(row)
            .zip(self.codes.chunks(row))
            .flat_map(|(out, codes)| out.chunks_mut(group).zip(codes.chunks(group)));
        for (((out, codes), scale), &zero) in groups.zip(&self.scales).zip(&self.zeros) {
            let (scale, zero) = (scale.to_f32(), f32::from(zero));
            for (o, &q) in out.iter_mut().zip(codes) {
                *o = h((f32::from(q) - zero) * scale);
            }
        }
        Ok(())
    }
}

//! The three floating-point dtypes bitsandbytes quantizes, and borrowed/owned data in each of them.

use half::{bf16, f16};

use crate::error::{CodebookError, Result};

/// A floating-point dtype that `quantize_4bit` accepts and `dequantize_4bit` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FloatDtype {
    F32,
    F16,
    Bf16,
}

impl FloatDtype {
    /// The name bitsandbytes writes into the quant_state JSON (`str(torch.dtype)` less `torch.`).
    pub fn bnb_name(self) -> &'static str {
        match self {
            FloatDtype::F32 => "float32",
            FloatDtype::F16 => "float16",
            FloatDtype::Bf16 => "bfloat16",
        }
    }

    /// Parses a bnb/torch dtype name; `tensor` only labels the error.
    pub fn from_bnb_name(name: &str, tensor: &str) -> Result<Self> {
        match name {
            "float32" => Ok(FloatDtype::F32),
            "float16" => Ok(FloatDtype::F16),
            "bfloat16" => Ok(FloatDtype::Bf16),
            other => Err(CodebookError::UnsupportedDtype { tensor: tensor.to_owned(), found: other.to_owned() }),
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            FloatDtype::F32 => 4,
            FloatDtype::F16 | FloatDtype::Bf16 => 2,
        }
    }

    /// Rounds each of `values` to this dtype and back to f32, to the nearest, ties to even (as
    /// torch's `.to(dtype)`): the values a dequantization into this dtype gives.
    pub fn round_in_place(self, values: &mut [f32]) {
        match self {
            FloatDtype::F32 => {}
            FloatDtype::F16 => values.iter_mut().for_each(|v| *v = f16::from_f32(*v).to_f32()),
            // torch's rounding, as the kernels round: a NaN becomes 0x7FC0 whatever its payload.
            FloatDtype::Bf16 => values.iter_mut().for_each(|v| *v = crate::simd::bf16_round(*v).to_f32()),
        }
    }

    /// The matching safetensors dtype.
    pub fn to_safetensors(self) -> safetensors::Dtype {
        match self {
            FloatDtype::F32 => safetensors::Dtype::F32,
            FloatDtype::F16 => safetensors::Dtype::F16,
            FloatDtype::Bf16 => safetensors::Dtype::BF16,
        }
    }

    /// The float dtype of a safetensors dtype, or `None` for anything else.
    pub fn from_safetensors(dtype: safetensors::Dtype) -> Option<Self> {
        match dtype {
            safetensors::Dtype::F32 => Some(FloatDtype::F32),
            safetensors::Dtype::F16 => Some(FloatDtype::F16),
            safetensors::Dtype::BF16 => Some(FloatDtype::Bf16),
            _ => None,
        }
    }
}

/// Borrowed input data in one of the [`FloatDtype`]s.
#[derive(Clone, Copy, Debug)]
pub enum FloatSlice<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    Bf16(&'a [bf16]),
}

impl FloatSlice<'_> {
    pub fn dtype(&self) -> FloatDtype {
        match self {
            FloatSlice::F32(_) => FloatDtype::F32,
            FloatSlice::F16(_) => FloatDtype::F16,
            FloatSlice::Bf16(_) => FloatDtype::Bf16,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            FloatSlice::F32(s) => s.len(),
            FloatSlice::F16(s) => s.len(),
            FloatSlice::Bf16(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first element that is a NaN or an infinity, with its index: one pass over the data
    /// in its own dtype (all exponent bits set), which the compiler vectorises.
    pub fn first_non_finite(&self) -> Option<(usize, f32)> {
        let i = match self {
            FloatSlice::F32(s) => s.iter().position(|v| !v.is_finite()),
            FloatSlice::F16(s) => s.iter().position(|v| v.to_bits() & 0x7c00 == 0x7c00),
            FloatSlice::Bf16(s) => s.iter().position(|v| v.to_bits() & 0x7f80 == 0x7f80),
        }?;
        Some((i, self.get_f32(i)))
    }

    /// Element `i` converted exactly to f32.
    pub fn get_f32(&self, i: usize) -> f32 {
        match self {
            FloatSlice::F32(s) => s[i],
            FloatSlice::F16(s) => s[i].to_f32(),
            // A shift, as the kernels and torch widen bf16: a signalling NaN stays one.
            FloatSlice::Bf16(s) => f32::from_bits(u32::from(s[i].to_bits()) << 16),
        }
    }

    /// Elements `range` converted exactly to f32 into `out` (which must have the range's length).
    pub fn copy_to_f32(&self, range: std::ops::Range<usize>, out: &mut [f32]) {
        match self {
            FloatSlice::F32(s) => out.copy_from_slice(&s[range]),
            FloatSlice::F16(s) => half::slice::HalfFloatSliceExt::convert_to_f32_slice(&s[range], out),
            FloatSlice::Bf16(s) => crate::simd::bf16_to_f32(&s[range], out),
        }
    }

    /// Reinterprets little-endian bytes from a checkpoint as a slice of `dtype`, or `None` when the
    /// bytes are misaligned for it (the caller then copies, see [`FloatVec::from_le_bytes`]).
    pub fn from_le_bytes(dtype: FloatDtype, bytes: &[u8]) -> Option<FloatSlice<'_>> {
        Some(match dtype {
            FloatDtype::F32 => FloatSlice::F32(bytemuck::try_cast_slice(bytes).ok()?),
            FloatDtype::F16 => FloatSlice::F16(bytemuck::try_cast_slice(bytes).ok()?),
            FloatDtype::Bf16 => FloatSlice::Bf16(bytemuck::try_cast_slice(bytes).ok()?),
        })
    }
}

/// Owned data in one of the [`FloatDtype`]s: what dequantization returns.
#[derive(Clone, Debug, PartialEq)]
pub enum FloatVec {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Bf16(Vec<bf16>),
}

impl FloatVec {
    /// A zero-filled vector of `len` elements of `dtype`.
    pub fn zeros(dtype: FloatDtype, len: usize) -> Self {
        match dtype {
            FloatDtype::F32 => FloatVec::F32(vec![0.0; len]),
            FloatDtype::F16 => FloatVec::F16(vec![f16::ZERO; len]),
            FloatDtype::Bf16 => FloatVec::Bf16(vec![bf16::ZERO; len]),
        }
    }

    /// Copies little-endian bytes of `dtype` into an owned, aligned vector. Returns `None` when the
    /// byte count is not a multiple of the element size.
    pub fn from_le_bytes(dtype: FloatDtype, bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(dtype.size()) {
            return None;
        }
        Some(match dtype {
            FloatDtype::F32 => FloatVec::F32(bytemuck::pod_collect_to_vec(bytes)),
            FloatDtype::F16 => FloatVec::F16(bytemuck::pod_collect_to_vec(bytes)),
            FloatDtype::Bf16 => FloatVec::Bf16(bytemuck::pod_collect_to_vec(bytes)),
        })
    }

    pub fn dtype(&self) -> FloatDtype {
        self.as_slice().dtype()
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_slice(&self) -> FloatSlice<'_> {
        match self {
            FloatVec::F32(v) => FloatSlice::F32(v),
            FloatVec::F16(v) => FloatSlice::F16(v),
            FloatVec::Bf16(v) => FloatSlice::Bf16(v),
        }
    }

    /// The raw little-endian bytes, as a checkpoint stores them.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            FloatVec::F32(v) => bytemuck::cast_slice(v),
            FloatVec::F16(v) => bytemuck::cast_slice(v),
            FloatVec::Bf16(v) => bytemuck::cast_slice(v),
        }
    }

    /// Every element converted exactly to f32.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.len()];
        self.as_slice().copy_to_f32(0..self.len(), &mut out);
        out
    }
}

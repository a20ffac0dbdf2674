//! A quantized tensor and its bnb `QuantState`: quantize, dequantize, and the checks that make a
//! state loaded from elsewhere safe to use.

use std::borrow::Cow;

use crate::blocksize::Blocksize;
use crate::codebook::Codebook;
use crate::dequantize::{dequantize_blocks, FloatSliceMut};
use crate::double_quant::{DoubleQuant, NESTED_BLOCKSIZE};
use crate::dtype::{FloatDtype, FloatSlice, FloatVec};
use crate::error::{CodebookError, Result};
use crate::nibble;
use crate::quantize::quantize_blocks;

/// How a tensor is quantized: the codebook, the blocksize and whether the absmax is compressed.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizeOptions {
    pub codebook: Codebook,
    pub blocksize: Blocksize,
    /// bnb's `compress_statistics` / transformers' `bnb_4bit_use_double_quant`.
    pub double_quant: bool,
}

impl QuantizeOptions {
    /// bnb's defaults for `quant_type`: blocksize 64, no double quant.
    pub fn new(codebook: Codebook) -> Self {
        QuantizeOptions { codebook, blocksize: Blocksize::DEFAULT, double_quant: false }
    }
}

/// The per-block scales, plain or double-quantized.
#[derive(Clone, Debug, PartialEq)]
pub enum Absmax {
    Plain(Vec<f32>),
    Double(DoubleQuant),
}

impl Absmax {
    /// Number of 4-bit blocks it covers.
    pub fn len(&self) -> usize {
        match self {
            Absmax::Plain(a) => a.len(),
            Absmax::Double(d) => d.codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The f32 absmax the 4-bit dequantization uses (rebuilt from double quant where present).
    pub fn to_f32(&self) -> Cow<'_, [f32]> {
        match self {
            Absmax::Plain(a) => Cow::Borrowed(a),
            Absmax::Double(d) => Cow::Owned(d.absmax()),
        }
    }
}

/// bnb's `QuantState` for a 4-bit tensor: everything needed to dequantize the packed bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantState {
    /// The original tensor's shape.
    pub shape: Vec<usize>,
    /// The original tensor's dtype, which dequantization returns.
    pub dtype: FloatDtype,
    pub blocksize: Blocksize,
    /// The code table (`quant_state.code`, `quant_map`).
    pub code: Codebook,
    pub absmax: Absmax,
}

impl QuantState {
    /// Number of elements of the original tensor.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A 4-bit quantized tensor: the packed nibbles and their state.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized4bit {
    /// Two indices a byte, element `2j` in the high nibble (see [`crate::nibble`]).
    pub packed: Vec<u8>,
    pub state: QuantState,
}

impl Quantized4bit {
    /// Quantizes `data` of `shape` as `bitsandbytes.functional.quantize_4bit` does. `name` labels
    /// errors.
    pub fn quantize(name: &str, data: FloatSlice<'_>, shape: &[usize], options: &QuantizeOptions) -> Result<Self> {
        let numel: usize = shape.iter().product();
        if numel != data.len() {
            return Err(CodebookError::ShapeMismatch {
                tensor: name.to_owned(),
                shape: shape.to_vec(),
                numel,
                found: data.len(),
            });
        }
        let n_blocks = options.blocksize.n_blocks(numel);
        let mut packed = vec![0u8; nibble::packed_len(numel)];
        let mut absmax = vec![0f32; n_blocks];
        quantize_blocks(data, options.blocksize, &options.codebook, &mut packed, &mut absmax);
        let absmax =
            if options.double_quant { Absmax::Double(DoubleQuant::compress(&absmax)) } else { Absmax::Plain(absmax) };
        let state = QuantState {
            shape: shape.to_vec(),
            dtype: data.dtype(),
            blocksize: options.blocksize,
            code: options.codebook.clone(),
            absmax,
        };
        Ok(Quantized4bit { packed, state })
    }

    /// Assembles a tensor from parts read elsewhere, checking that every length agrees with the
    /// shape, so that dequantization can never index out of bounds.
    pub fn from_parts(name: &str, packed: Vec<u8>, state: QuantState) -> Result<Self> {
        let numel = state.numel();
        let check = |what: &'static str, expected: usize, found: usize| {
            if expected == found {
                Ok(())
            } else {
                Err(CodebookError::Length { tensor: name.to_owned(), what, expected, found })
            }
        };
        check("packed weight", nibble::packed_len(numel), packed.len())?;
        check("absmax", state.blocksize.n_blocks(numel), state.absmax.len())?;
        if let Absmax::Double(d) = &state.absmax {
            check("nested_absmax", d.codes.len().div_ceil(NESTED_BLOCKSIZE), d.nested_absmax.len())?;
            check("nested_quant_map", 256, d.nested_code.len())?;
        }
        Ok(Quantized4bit { packed, state })
    }

    pub fn numel(&self) -> usize {
        self.state.numel()
    }

    /// Dequantizes to the recorded dtype.
    pub fn dequantize(&self) -> FloatVec {
        let mut out = FloatVec::zeros(self.state.dtype, self.numel());
        let target = match &mut out {
            FloatVec::F32(v) => FloatSliceMut::F32(v),
            FloatVec::F16(v) => FloatSliceMut::F16(v),
            FloatVec::Bf16(v) => FloatSliceMut::Bf16(v),
        };
        self.dequantize_into(target).expect("the buffer was made with the right length");
        out
    }

    /// Dequantizes into a caller's buffer of any float dtype (reused across calls, so no page
    /// faults); its length must be the element count.
    pub fn dequantize_into(&self, out: FloatSliceMut<'_>) -> Result<()> {
        if out.len() != self.numel() {
            return Err(CodebookError::Length {
                tensor: "dequantize output buffer".into(),
                what: "buffer",
                expected: self.numel(),
                found: out.len(),
            });
        }
        dequantize_blocks(&self.packed, &self.state.absmax, self.state.blocksize, &self.state.code, out);
        Ok(())
    }
}

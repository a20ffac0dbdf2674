//! Every 4-bit weight format behind one trait, each bit-exact with its reference implementation.
//!
//! A [`Format`] quantizes a tensor into a [`Quantized`] (its bytes as the reference lays them
//! out), which dequantizes into a reused buffer; the format knows its bits per weight, every scale
//! and zero-point counted. [`FormatName`] is the value a command line parses and a report stores.
//!
//! - [`af4`]: Yoshida's AF4 table under the same blocks.
//! - [`bnb`]: bitsandbytes' NF4 and FP4 (blockwise absmax, blocksize 32–4096, optional double
//!   quant), through quantbound-codebook's bit-exact kernels.
//! - [`ggml`]: llama.cpp's block formats Q4_0, Q4_1, Q4_K, IQ4_NL, MXFP4 and NVFP4, as
//!   llama.cpp's reference (non-imatrix) quantizers make them, and the decoders of the other GGUF
//!   types.
//! - [`nvfp4`]: NVIDIA's NVFP4, with its per-tensor scale.
//! - [`rotation`]: the randomized Hadamard rotation, applied before any of them.
//! - [`int4`]: INT4 round-to-nearest per group of 32/64/128 with an f16 scale and (asymmetric) a
//!   4-bit zero-point, as AutoAWQ quantizes.

pub mod af4;
pub mod bnb;
mod error;
pub mod ggml;
pub mod int4;
pub mod nvfp4;
pub mod rotation;

use quantbound_codebook::{Blocksize, QuantType, Quantized4bit};
use serde::{Deserialize, Serialize};

pub use error::{FormatError, Result};

/// A weight tensor held in some format.
pub trait Quantized: Send + Sync + std::fmt::Debug {
    /// Weights it holds.
    fn numel(&self) -> usize;
    /// Bytes the format stores for it, every scale and zero-point included.
    fn storage_bytes(&self) -> usize;
    /// The weights back, into `out` (`numel` long, reused from tensor to tensor).
    fn dequantize_into(&self, out: &mut [f32]) -> Result<()>;
    /// bnb's own state, for the formats that bnb's kernels run on the device.
    fn as_bnb(&self) -> Option<&Quantized4bit> {
        None
    }
    /// The blocks as a GGUF file stores them, for llama.cpp's formats.
    fn as_ggml_bytes(&self) -> Option<&[u8]> {
        None
    }
}

/// A 4-bit weight format.
pub trait Format: Send + Sync + std::fmt::Debug {
    fn name(&self) -> FormatName;
    /// Bits per weight, every scale and zero-point counted.
    fn bits_per_weight(&self) -> f64;
    /// Bits per weight for a tensor of `shape`, where the format stores some shapes otherwise
    /// (Q4_K's fallback type, NVFP4's per-tensor scale).
    fn bits_per_weight_of(&self, shape: &[usize]) -> f64 {
        let _ = shape;
        self.bits_per_weight()
    }
    /// The type a tensor of `shape` is stored as where it is not the format's own (Q4_K's Q5_0
    /// for rows that are not whole super-blocks), else `None`.
    fn stored_as(&self, shape: &[usize]) -> Option<&'static str> {
        let _ = shape;
        None
    }
    /// Weights per scale.
    fn block_size(&self) -> usize;
    /// Quantizes the weights of `tensor` (row-major with `shape`; blocks run along the rows) as
    /// the format's reference does. `tensor` names it in errors.
    fn quantize(&self, tensor: &str, weights: &[f32], shape: &[usize]) -> Result<Box<dyn Quantized>>;
}

/// What a format that cuts rows into blocks (or groups) of `block` checks before quantizing:
/// whole blocks in every row, and only finite values (its reference is undefined otherwise).
pub(crate) fn check_blocks(
    format: FormatName,
    tensor: &str,
    weights: &[f32],
    shape: &[usize],
    block: usize,
) -> Result<()> {
    let row = shape.last().copied().unwrap_or(weights.len());
    if !row.is_multiple_of(block) || !weights.len().is_multiple_of(block) {
        return Err(FormatError::Unblockable { tensor: tensor.into(), format: format.to_string(), block, row });
    }
    if let Some((index, &value)) = weights.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(FormatError::NotFinite { tensor: tensor.into(), format: format.to_string(), value, index });
    }
    Ok(())
}

/// The settings of the bnb formats, which every other format ignores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BnbSettings {
    pub blocksize: Blocksize,
    pub double_quant: bool,
}

/// Every format quantbound knows, by the name a command line gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FormatName {
    /// bnb's NormalFloat-4, blockwise absmax.
    #[serde(rename = "nf4")]
    #[cfg_attr(feature = "clap", value(name = "nf4"))]
    Nf4,
    /// bnb's 4-bit float, blockwise absmax.
    #[serde(rename = "fp4")]
    #[cfg_attr(feature = "clap", value(name = "fp4"))]
    Fp4,
    /// Yoshida's AF4 table under bnb's absmax blocks (blocksize 64).
    #[serde(rename = "af4")]
    #[cfg_attr(feature = "clap", value(name = "af4"))]
    Af4,
    /// llama.cpp's Q4_0: 32 weights, an f16 scale, q − 8 (4.5 bits per weight).
    #[serde(rename = "q4_0")]
    #[cfg_attr(feature = "clap", value(name = "q4_0"))]
    Q4_0,
    /// llama.cpp's Q4_1: 32 weights, an f16 scale and an f16 minimum (5 bits per weight).
    #[serde(rename = "q4_1")]
    #[cfg_attr(feature = "clap", value(name = "q4_1"))]
    Q4_1,
    /// llama.cpp's Q4_K: super-blocks of 256 with 6-bit scales and mins per 32 (4.5 bits per
    /// weight); Q5_0 where a row is not whole super-blocks, as llama.cpp falls back.
    #[serde(rename = "q4_k")]
    #[cfg_attr(feature = "clap", value(name = "q4_k"))]
    Q4K,
    /// llama.cpp's IQ4_NL: 32 weights, an f16 scale, a fixed non-uniform table (4.5 bits per
    /// weight).
    #[serde(rename = "iq4_nl")]
    #[cfg_attr(feature = "clap", value(name = "iq4_nl"))]
    Iq4Nl,
    /// OCP Microscaling MXFP4 as llama.cpp makes it: E2M1 elements, an E8M0 scale per 32
    /// (4.25 bits per weight).
    #[serde(rename = "mxfp4")]
    #[cfg_attr(feature = "clap", value(name = "mxfp4"))]
    Mxfp4,
    /// MXFP4 as the OCP's reference library (microxcaling) rounds it: the same blocks, ties away
    /// from zero instead of to the smaller magnitude (4.25 bits per weight).
    #[serde(rename = "mxfp4_ocp")]
    #[cfg_attr(feature = "clap", value(name = "mxfp4_ocp"))]
    Mxfp4Ocp,
    /// NVIDIA's NVFP4: E2M1 elements, an E4M3 scale per 16 and an f32 scale per tensor (4.5 bits
    /// per weight).
    #[serde(rename = "nvfp4")]
    #[cfg_attr(feature = "clap", value(name = "nvfp4"))]
    Nvfp4,
    /// llama.cpp's NVFP4: E2M1 elements and a UE4M3 scale per 16, no per-tensor scale (4.5 bits
    /// per weight).
    #[serde(rename = "nvfp4_ggml")]
    #[cfg_attr(feature = "clap", value(name = "nvfp4_ggml"))]
    Nvfp4Ggml,
    /// INT4 with an f16 scale and a 4-bit zero-point per 32 weights (AWQ/GPTQ's layout).
    #[serde(rename = "int4_g32")]
    #[cfg_attr(feature = "clap", value(name = "int4_g32"))]
    Int4G32,
    /// The same per 64 weights.
    #[serde(rename = "int4_g64")]
    #[cfg_attr(feature = "clap", value(name = "int4_g64"))]
    Int4G64,
    /// The same per 128 weights, AWQ's and GPTQ's default (`int4`).
    #[serde(rename = "int4_g128")]
    #[cfg_attr(feature = "clap", value(name = "int4_g128", alias = "int4"))]
    Int4G128,
    /// Symmetric INT4 (−8 … 7, no zero-point) with an f16 scale per 32 weights.
    #[serde(rename = "int4sym_g32")]
    #[cfg_attr(feature = "clap", value(name = "int4sym_g32"))]
    Int4SymG32,
    /// The same per 64 weights.
    #[serde(rename = "int4sym_g64")]
    #[cfg_attr(feature = "clap", value(name = "int4sym_g64"))]
    Int4SymG64,
    /// The same per 128 weights (`int4sym`).
    #[serde(rename = "int4sym_g128")]
    #[cfg_attr(feature = "clap", value(name = "int4sym_g128", alias = "int4sym"))]
    Int4SymG128,
    /// The MSE-optimal 16 values for absmax blocks of Gaussian weights (BOF4-style), designed by
    /// quantbound-theory, under bnb's blocks and kernels.
    #[serde(rename = "optimal")]
    #[cfg_attr(feature = "clap", value(name = "optimal"))]
    Optimal,
}

impl FormatName {
    pub const ALL: [FormatName; 18] = [
        FormatName::Nf4,
        FormatName::Fp4,
        FormatName::Af4,
        FormatName::Q4_0,
        FormatName::Q4_1,
        FormatName::Q4K,
        FormatName::Iq4Nl,
        FormatName::Mxfp4,
        FormatName::Mxfp4Ocp,
        FormatName::Nvfp4,
        FormatName::Nvfp4Ggml,
        FormatName::Int4G32,
        FormatName::Int4G64,
        FormatName::Int4G128,
        FormatName::Int4SymG32,
        FormatName::Int4SymG64,
        FormatName::Int4SymG128,
        FormatName::Optimal,
    ];

    /// The command-line name: `nf4`, `q4_0`, `mxfp4`, …
    pub fn as_str(self) -> &'static str {
        match self {
            FormatName::Nf4 => "nf4",
            FormatName::Fp4 => "fp4",
            FormatName::Af4 => "af4",
            FormatName::Q4_0 => "q4_0",
            FormatName::Q4_1 => "q4_1",
            FormatName::Q4K => "q4_k",
            FormatName::Iq4Nl => "iq4_nl",
            FormatName::Mxfp4 => "mxfp4",
            FormatName::Mxfp4Ocp => "mxfp4_ocp",
            FormatName::Nvfp4 => "nvfp4",
            FormatName::Nvfp4Ggml => "nvfp4_ggml",
            FormatName::Int4G32 => "int4_g32",
            FormatName::Int4G64 => "int4_g64",
            FormatName::Int4G128 => "int4_g128",
            FormatName::Int4SymG32 => "int4sym_g32",
            FormatName::Int4SymG64 => "int4sym_g64",
            FormatName::Int4SymG128 => "int4sym_g128",
            FormatName::Optimal => "optimal",
        }
    }

    /// The format named `name` (also `int4` for `int4_g128`, `int4sym` for `int4sym_g128`).
    pub fn parse(name: &str) -> Result<Self> {
        let name = match name {
            "int4" => "int4_g128",
            "int4sym" => "int4sym_g128",
            other => other,
        };
        Self::ALL.into_iter().find(|f| f.as_str() == name).ok_or_else(|| FormatError::UnknownFormat {
            found: name.to_owned(),
            expected: Self::ALL.map(Self::as_str).join(", "),
        })
    }

    /// Whether the format is a codebook under bnb's absmax blocks (NF4, FP4, the optimal table),
    /// run by bnb's kernels and set by `--blocksize` and `--double-quant`.
    pub fn is_bnb(self) -> bool {
        matches!(self, FormatName::Nf4 | FormatName::Fp4 | FormatName::Af4 | FormatName::Optimal)
    }

    /// bnb's quant type, for bnb's own two formats.
    pub fn quant_type(self) -> Option<QuantType> {
        match self {
            FormatName::Nf4 => Some(QuantType::Nf4),
            FormatName::Fp4 => Some(QuantType::Fp4),
            _ => None,
        }
    }

    /// The format itself; the bnb formats take `bnb`'s blocksize and double quant. `optimal` is
    /// an error here: its codebook is designed by quantbound-theory, which builds it with
    /// [`bnb::Bnb::with_codebook`].
    pub fn format(self, bnb: BnbSettings) -> Result<Box<dyn Format>> {
        Ok(match self {
            FormatName::Nf4 | FormatName::Fp4 => {
                Box::new(bnb::Bnb::new(self.quant_type().expect("a bnb format has a quant type"), bnb))
            }
            FormatName::Af4 => Box::new(bnb::Bnb::with_codebook(self, af4::codebook(bnb.blocksize.get())?, bnb)),
            FormatName::Q4_0
            | FormatName::Q4_1
            | FormatName::Q4K
            | FormatName::Iq4Nl
            | FormatName::Mxfp4
            | FormatName::Mxfp4Ocp
            | FormatName::Nvfp4Ggml => Box::new(ggml::Ggml::new(self)),
            FormatName::Nvfp4 => Box::new(nvfp4::Nvfp4),
            FormatName::Int4G32 => Box::new(int4::Int4::new(self, 32, true)),
            FormatName::Int4G64 => Box::new(int4::Int4::new(self, 64, true)),
            FormatName::Int4G128 => Box::new(int4::Int4::new(self, 128, true)),
            FormatName::Int4SymG32 => Box::new(int4::Int4::new(self, 32, false)),
            FormatName::Int4SymG64 => Box::new(int4::Int4::new(self, 64, false)),
            FormatName::Int4SymG128 => Box::new(int4::Int4::new(self, 128, false)),
            FormatName::Optimal => return Err(FormatError::DesignedElsewhere { format: self.as_str().into() }),
        })
    }
}

impl From<QuantType> for FormatName {
    fn from(quant_type: QuantType) -> Self {
        match quant_type {
            QuantType::Nf4 => FormatName::Nf4,
            QuantType::Fp4 => FormatName::Fp4,
        }
    }
}

impl std::fmt::Display for FormatName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FormatName {
    type Err = FormatError;

    fn from_str(name: &str) -> Result<Self> {
        Self::parse(name)
    }
}

//! Bit-exact bitsandbytes 4-bit quantization, without Burn or Python.
//!
//! - [`Codebook`]: bnb's NF4 and FP4 tables, or any 16-value table;
//! - [`Quantized4bit::quantize`] / [`Quantized4bit::dequantize`]: blockwise absmax quantization of
//!   f32/f16/bf16 data, with optional double quantization of the absmax ([`DoubleQuant`]), byte for
//!   byte what `bitsandbytes.functional.quantize_4bit` 0.50.2 produces;
//! - [`hf`]: the Hugging Face bnb-4bit tensor set of one weight, and [`checkpoint`]: streaming
//!   conversion of whole safetensors files in both directions.
//!
//! The format, and where bnb's own CPU dequantiser is wrong, is described in
//! `docs/formats/bnb-4bit.md`.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod blocksize;
pub mod bnb_json;
pub mod checkpoint;
mod codebook;
mod dequantize;
mod double_quant;
mod dtype;
mod error;
pub mod hf;
pub mod nibble;
mod quantize;
pub mod shards;
mod simd;
mod state;
mod torch_mean;

pub use blocksize::Blocksize;
pub use codebook::{Codebook, QuantType};
pub use dequantize::{dequantize_blocks_reference, dequantize_packed, FloatSliceMut};
pub use double_quant::{dynamic_map, DoubleQuant, NESTED_BLOCKSIZE};
pub use dtype::{FloatDtype, FloatSlice, FloatVec};
pub use error::{CodebookError, Result};
pub use quantize::{quantize_blocks_reference, MIN_ABSMAX};
pub use state::{Absmax, QuantState, QuantizeOptions, Quantized4bit};
pub use torch_mean::{torch_mean, torch_sum};

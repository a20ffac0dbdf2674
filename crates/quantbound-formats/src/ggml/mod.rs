//! llama.cpp's block formats, each block a few scale bytes and the 4-bit codes of its weights
//! along a row, quantized as llama.cpp's `llama-quantize` does without an importance matrix:
//! gguf-py 0.19's numpy quantizers for Q4_0, Q4_1 and MXFP4, ggml's C reference for Q4_K,
//! IQ4_NL, NVFP4 and Q5_0. Each format is one module with its block's layout and its reference's
//! rounding; `decode` holds the types only read (Q8_0, Q5_K, Q6_K); this one what they share:
//! ggml's nibble order, the tensor-level loops, [`BlockType`] (every type a GGUF reader meets)
//! and [`Ggml`], the format.

mod decode;
mod iq4_nl;
mod mxfp4;
mod nvfp4;
mod q4_0;
mod q4_1;
mod q4_k;
mod q5_0;

use rayon::prelude::*;

use crate::error::{FormatError, Result};
use crate::{Format, FormatName, Quantized};

/// Weights per block of the 32-weight formats (ggml's `QK4_0`, `QK4_1`, `QK_MXFP4`, `QK4_NL`).
pub const BLOCK: usize = 32;

/// Encodes one block of finite values into its bytes.
type Encode = fn(&[f32], &mut [u8]);
/// Decodes one block's bytes into its weights.
type Decode = fn(&[u8], &mut [f32]);

/// C's conversion of a float to an integer type as llama.cpp's x86-64 builds compute it:
/// truncation through a 32-bit `cvttss2si`, whose result for NaN and out-of-range values is
/// 0x8000_0000 (Rust's `as` saturates instead), then the low bits kept (`as i8`, `as u8`). A block
/// meets the difference where its scale is subnormal in f32, so that 1/d is infinite, or where
/// MXFP4's exponent of a subnormal maximum is negative.
pub(crate) fn c_int(v: f32) -> i32 {
    if v.abs() < 2_147_483_648.0 {
        v as i32
    } else {
        i32::MIN
    }
}

/// ggml's nibble order: element j in the low nibble of byte j, element j + 16 in its high nibble
/// (bnb's order is the other one; see quantbound-codebook's `nibble`).
pub(crate) fn pack(q: &[u8; BLOCK], out: &mut [u8]) {
    for j in 0..BLOCK / 2 {
        out[j] = q[j] | (q[j + BLOCK / 2] << 4);
    }
}

/// The codes [`pack`] packed, in element order.
pub(crate) fn unpack(bytes: &[u8]) -> [u8; BLOCK] {
    std::array::from_fn(|j| if j < BLOCK / 2 { bytes[j] & 0x0F } else { bytes[j - BLOCK / 2] >> 4 })
}

/// `decode` on each block of `size` bytes and `weights` weights, in parallel, 1024 blocks a task.
fn decode_blocks(
    format: &str,
    bytes: &[u8],
    out: &mut [f32],
    weights: usize,
    size: usize,
    decode: impl Fn(&[u8], &mut [f32]) + Sync,
) -> Result<()> {
    if !out.len().is_multiple_of(weights) || bytes.len() != out.len() / weights * size {
        return Err(FormatError::BadLength {
            tensor: "the tensor".into(),
            format: format.into(),
            numel: out.len(),
            expected: out.len().div_ceil(weights) * size,
            found: bytes.len(),
        });
    }
    out.par_chunks_mut(weights * 1024).zip(bytes.par_chunks(size * 1024)).for_each(|(out, bytes)| {
        for (block, out) in bytes.chunks_exact(size).zip(out.chunks_exact_mut(weights)) {
            decode(block, out);
        }
    });
    Ok(())
}

/// Every GGUF block type quantbound reads: those it also writes (Q4_0, Q4_1, Q5_0, Q4_K, IQ4_NL,
/// MXFP4, NVFP4), and those it only decodes (Q8_0, Q5_K, Q6_K), to score models quantized elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockType {
    Q4_0,
    Q4_1,
    Q5_0,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
    Iq4Nl,
    Mxfp4,
    Nvfp4,
}

impl BlockType {
    /// Every block type, for error messages.
    pub const ALL: [BlockType; 10] = [
        BlockType::Q4_0,
        BlockType::Q4_1,
        BlockType::Q5_0,
        BlockType::Q8_0,
        BlockType::Q4K,
        BlockType::Q5K,
        BlockType::Q6K,
        BlockType::Iq4Nl,
        BlockType::Mxfp4,
        BlockType::Nvfp4,
    ];

    /// The type of ggml's `enum ggml_type` id (ggml.h).
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            2 => BlockType::Q4_0,
            3 => BlockType::Q4_1,
            6 => BlockType::Q5_0,
            8 => BlockType::Q8_0,
            12 => BlockType::Q4K,
            13 => BlockType::Q5K,
            14 => BlockType::Q6K,
            20 => BlockType::Iq4Nl,
            39 => BlockType::Mxfp4,
            40 => BlockType::Nvfp4,
            _ => return None,
        })
    }

    /// ggml's name (`Q4_K`, `IQ4_NL`, …).
    pub fn name(self) -> &'static str {
        match self {
            BlockType::Q4_0 => "Q4_0",
            BlockType::Q4_1 => "Q4_1",
            BlockType::Q5_0 => "Q5_0",
            BlockType::Q8_0 => "Q8_0",
            BlockType::Q4K => "Q4_K",
            BlockType::Q5K => "Q5_K",
            BlockType::Q6K => "Q6_K",
            BlockType::Iq4Nl => "IQ4_NL",
            BlockType::Mxfp4 => "MXFP4",
            BlockType::Nvfp4 => "NVFP4",
        }
    }

    /// (weights per block, bytes per block), as ggml's `type_traits` give them.
    pub fn block(self) -> (usize, usize) {
        match self {
            BlockType::Q4_0 => (BLOCK, 18),
            BlockType::Q4_1 => (BLOCK, 20),
            BlockType::Q5_0 => (BLOCK, 22),
            BlockType::Q8_0 => (BLOCK, 34),
            BlockType::Iq4Nl => (BLOCK, 18),
            BlockType::Mxfp4 => (BLOCK, 17),
            BlockType::Nvfp4 => (nvfp4::QK_NVFP4, 36),
            BlockType::Q4K => (decode::QK_K, 144),
            BlockType::Q5K => (decode::QK_K, 176),
            BlockType::Q6K => (decode::QK_K, 210),
        }
    }

    /// Bits per weight: the block's bits over its weights.
    pub fn bits_per_weight(self) -> f64 {
        let (weights, bytes) = self.block();
        (8 * bytes) as f64 / weights as f64
    }

    fn decoder(self) -> Decode {
        match self {
            BlockType::Q4_0 => q4_0::dequantize,
            BlockType::Q4_1 => q4_1::dequantize,
            BlockType::Q5_0 => q5_0::dequantize,
            BlockType::Mxfp4 => mxfp4::dequantize,
            BlockType::Nvfp4 => nvfp4::dequantize,
            BlockType::Iq4Nl => iq4_nl::dequantize,
            BlockType::Q4K => decode::q4_k,
            BlockType::Q8_0 => decode::q8_0,
            BlockType::Q5K => decode::q5_k,
            BlockType::Q6K => decode::q6_k,
        }
    }

    /// llama.cpp's reference quantizer, for the types quantbound writes.
    fn encoder(self) -> Option<Encode> {
        Some(match self {
            BlockType::Q4_0 => q4_0::quantize,
            BlockType::Q4_1 => q4_1::quantize,
            BlockType::Q5_0 => q5_0::quantize,
            BlockType::Mxfp4 => mxfp4::quantize,
            BlockType::Nvfp4 => nvfp4::quantize,
            BlockType::Iq4Nl => iq4_nl::quantize,
            BlockType::Q4K => q4_k::quantize,
            BlockType::Q8_0 | BlockType::Q5K | BlockType::Q6K => return None,
        })
    }

    /// Decodes whole blocks from `bytes` into `out`, which must hold their weights.
    pub fn dequantize(self, bytes: &[u8], out: &mut [f32]) -> Result<()> {
        let (weights, size) = self.block();
        decode_blocks(self.name(), bytes, out, weights, size, self.decoder())
    }
}

/// A llama.cpp format: one block type, and the type llama.cpp's `llama-quantize` falls back to
/// for a tensor whose rows are not whole blocks of it (for Q4_K, whose super-blocks are 256
/// weights, Q5_0: `llama_tensor_get_type` in llama-quant.cpp).
#[derive(Debug)]
pub struct Ggml {
    name: FormatName,
    block: BlockType,
    fallback: Option<BlockType>,
    /// The quantizer of `block` where the format rounds otherwise than ggml (OCP's MXFP4).
    encode: Option<Encode>,
}

impl Ggml {
    /// The format `name`, which must be one of llama.cpp's.
    pub(crate) fn new(name: FormatName) -> Self {
        let encode = (name == FormatName::Mxfp4Ocp).then_some(mxfp4::quantize_ocp as Encode);
        let (block, fallback) = match name {
            FormatName::Q4_0 => (BlockType::Q4_0, None),
            FormatName::Q4_1 => (BlockType::Q4_1, None),
            FormatName::Q4K => (BlockType::Q4K, Some(BlockType::Q5_0)),
            FormatName::Iq4Nl => (BlockType::Iq4Nl, None),
            FormatName::Mxfp4 | FormatName::Mxfp4Ocp => (BlockType::Mxfp4, None),
            FormatName::Nvfp4Ggml => (BlockType::Nvfp4, None),
            other => unreachable!("{other} is not a llama.cpp format"),
        };
        Ggml { name, block, fallback, encode }
    }

    /// The block type a tensor with rows of `row` weights gets.
    fn block_for(&self, row: usize) -> BlockType {
        match self.fallback {
            Some(fallback) if !row.is_multiple_of(self.block.block().0) => fallback,
            _ => self.block,
        }
    }
}

impl Format for Ggml {
    fn name(&self) -> FormatName {
        self.name
    }

    fn bits_per_weight(&self) -> f64 {
        self.block.bits_per_weight()
    }

    fn bits_per_weight_of(&self, shape: &[usize]) -> f64 {
        self.block_for(shape.last().copied().unwrap_or(0)).bits_per_weight()
    }

    fn stored_as(&self, shape: &[usize]) -> Option<&'static str> {
        let block = self.block_for(shape.last().copied().unwrap_or(0));
        (block != self.block).then(|| block.name())
    }

    fn block_size(&self) -> usize {
        self.block.block().0
    }

    fn quantize(&self, tensor: &str, weights: &[f32], shape: &[usize]) -> Result<Box<dyn Quantized>> {
        let block = self.block_for(shape.last().copied().unwrap_or(weights.len()));
        let (n, size) = block.block();
        crate::check_blocks(self.name, tensor, weights, shape, n)?;
        let encode = match self.encode {
            Some(encode) if block == self.block => encode,
            _ => block.encoder().expect("every format's block type has a quantizer"),
        };
        let mut bytes = vec![0u8; weights.len() / n * size];
        bytes.par_chunks_mut(size * 64).zip(weights.par_chunks(n * 64)).for_each(|(out, x)| {
            for (out, x) in out.chunks_exact_mut(size).zip(x.chunks_exact(n)) {
                encode(x, out);
            }
        });
        Ok(Box::new(GgmlTensor { block, bytes, numel: weights.len() }))
    }
}

/// A tensor in one of llama.cpp's block types: its blocks' bytes, as a GGUF file stores them.
#[derive(Clone, Debug)]
pub struct GgmlTensor {
    block: BlockType,
    bytes: Vec<u8>,
    numel: usize,
}

impl GgmlTensor {
    /// Its block type (for Q4_K, Q5_0 where the rows are not whole super-blocks).
    pub fn block_type(&self) -> BlockType {
        self.block
    }

    /// The blocks' bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Quantized for GgmlTensor {
    fn numel(&self) -> usize {
        self.numel
    }

    fn storage_bytes(&self) -> usize {
        self.bytes.len()
    }

    fn dequantize_into(&self, out: &mut [f32]) -> Result<()> {
        self.block.dequantize(&self.bytes, out)
    }

    fn as_ggml_bytes(&self) -> Option<&[u8]> {
        Some(&self.bytes)
    }
}

//! One bias-free linear layer for dense and 4-bit weights, `y = x·Wᵀ`.
//!
//! A 4-bit weight stays 4-bit on the device: the packed nibbles (eight per `i32` word), the
//! per-block absmax (f32, or bnb's double-quantized 8-bit codes packed four per word with the
//! nested absmax and offset), and the 16-entry codebook. Each forward dequantizes it with tensor
//! ops — shift, mask, codebook lookup, scale — into f32, exactly as bnb does (`code[i]·absmax`,
//! and `nested_code[q]·nested_absmax + offset` for double quant), then multiplies. The same code
//! runs on every Burn backend.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, ElementConversion, Int, Tensor, TensorData};
use quantbound_codebook::{Absmax, Quantized4bit, NESTED_BLOCKSIZE};

use crate::error::{LlamaError, Result};

/// A linear layer's weight: dense, or bnb 4-bit.
#[derive(Clone, Debug)]
pub struct Linear<B: Backend> {
    weight: Weight<B>,
    /// `[out_features, in_features]`.
    shape: [usize; 2],
}

#[derive(Clone, Debug)]
enum Weight<B: Backend> {
    /// Wᵀ, `[in, out]`.
    Dense(Tensor<B, 2>),
    Quant4(Quant4<B>),
}

/// A 4-bit weight's state on the device.
#[derive(Clone, Debug)]
struct Quant4<B: Backend> {
    /// Element `8w + k` of the flattened weight (row-major, padded to whole blocks with code 0)
    /// in bits `4k..4k + 4` of word `w`; `i32`.
    nibbles: Tensor<B, 1, Int>,
    /// The 16 code values.
    code: Tensor<B, 1>,
    scales: Scales<B>,
    blocksize: usize,
    blocks: usize,
}

#[derive(Clone, Debug)]
enum Scales<B: Backend> {
    /// One f32 per block.
    Plain(Tensor<B, 1>),
    /// bnb double quant: 8-bit codes (four per `i32` word, block `4w + k` in bits `8k..8k + 8`),
    /// the nested f32 absmax per 256 blocks, the 256-entry map and the offset.
    Double { codes: Tensor<B, 1, Int>, nested_absmax: Tensor<B, 1>, nested_code: Tensor<B, 1>, offset: f32 },
}

/// Packs `values` (each below 2^bits) `32 / bits` to an `i32` word, the first in the low bits,
/// padding with zeros to `len` values.
fn pack_words(values: impl Iterator<Item = u8>, bits: u32, len: usize) -> Vec<i32> {
    let per_word = (32 / bits) as usize;
    let mut words = vec![0u32; len.div_ceil(per_word)];
    for (i, v) in values.enumerate() {
        words[i / per_word] |= u32::from(v) << (bits as usize * (i % per_word));
    }
    words.into_iter().map(|w| w as i32).collect()
}

/// The inverse of [`pack_words`] on the device: `words.len() · 32 / bits` values.
fn unpack_words<B: Backend>(words: Tensor<B, 1, Int>, bits: u32) -> Tensor<B, 1, Int> {
    let per_word = (32 / bits) as usize;
    let [len] = words.dims();
    let device = words.device();
    let shifts: Vec<i32> = (0..per_word as i32).map(|k| k * bits as i32).collect();
    let shifts = Tensor::<B, 1, Int>::from_data(TensorData::new(shifts, [per_word]), (&device, DType::I32));
    let mask = (1i32 << bits) - 1;
    // Expanded explicitly: not every backend broadcasts integer operands.
    words
        .unsqueeze_dim::<2>(1)
        .expand([len, per_word])
        .bitwise_right_shift(shifts.unsqueeze::<2>().expand([len, per_word]))
        .bitwise_and_scalar(mask.elem())
        .reshape([len * per_word])
}

fn floats<B: Backend>(values: &[f32], device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

impl<B: Backend> Linear<B> {
    /// A dense layer from a PyTorch-layout weight `[out_features, in_features]`.
    pub fn dense(weight: Tensor<B, 2>) -> Self {
        let [out, input] = weight.dims();
        Linear { weight: Weight::Dense(weight.transpose()), shape: [out, input] }
    }

    /// A 4-bit layer from bnb's state of a weight `[out_features, in_features]`.
    pub fn quantized(q: &Quantized4bit, name: &str, device: &B::Device) -> Result<Self> {
        let shape = match q.state.shape[..] {
            [out, input] => [out, input],
            ref other => {
                return Err(LlamaError::Tensor {
                    file: "quantized state".into(),
                    tensor: name.into(),
                    reason: format!("a linear weight must be 2-d [out, in], got shape {other:?}"),
                })
            }
        };
        let numel = q.numel();
        let blocksize = q.state.blocksize.get();
        let blocks = q.state.absmax.len();
        let padded = blocks * blocksize;
        // bnb packs element 2i in the high nibble of byte i, element 2i + 1 in the low one.
        let codes = q.packed.iter().flat_map(|&b| [b >> 4, b & 0x0f]).take(numel);
        let nibbles = pack_words(codes, 4, padded);
        let int = |words: Vec<i32>| {
            let len = words.len();
            Tensor::<B, 1, Int>::from_data(TensorData::new(words, [len]), (device, DType::I32))
        };
        let scales = match &q.state.absmax {
            Absmax::Plain(absmax) => Scales::Plain(floats(absmax, device)),
            Absmax::Double(d) => Scales::Double {
                codes: int(pack_words(d.codes.iter().copied(), 8, d.codes.len())),
                nested_absmax: floats(&d.nested_absmax, device),
                nested_code: floats(&d.nested_code, device),
                offset: d.offset,
            },
        };
        let quant =
            Quant4 { nibbles: int(nibbles), code: floats(q.state.code.values(), device), scales, blocksize, blocks };
        Ok(Linear { weight: Weight::Quant4(quant), shape })
    }

    /// `[out_features, in_features]`.
    pub fn shape(&self) -> [usize; 2] {
        self.shape
    }

    /// Whether the weight is held in 4 bits.
    pub fn is_quantized(&self) -> bool {
        matches!(self.weight, Weight::Quant4(_))
    }

    /// Bytes the weight's state takes on the device.
    pub fn device_bytes(&self) -> usize {
        let bytes = |dims: &[usize], dtype: DType| dims.iter().product::<usize>() * dtype.size();
        match &self.weight {
            Weight::Dense(w) => bytes(&w.dims(), w.dtype()),
            Weight::Quant4(q) => {
                let scales = match &q.scales {
                    Scales::Plain(a) => bytes(&a.dims(), a.dtype()),
                    Scales::Double { codes, nested_absmax, nested_code, .. } => {
                        bytes(&codes.dims(), codes.dtype())
                            + bytes(&nested_absmax.dims(), nested_absmax.dtype())
                            + bytes(&nested_code.dims(), nested_code.dtype())
                            + 4
                    }
                };
                bytes(&q.nibbles.dims(), q.nibbles.dtype()) + bytes(&q.code.dims(), q.code.dtype()) + scales
            }
        }
    }

    /// The weight as used by the forward pass, `[out_features, in_features]` in f32 (for a 4-bit
    /// layer, its dequantization).
    pub fn weight(&self) -> Tensor<B, 2> {
        match &self.weight {
            Weight::Dense(w) => w.clone().transpose(),
            Weight::Quant4(q) => q.dequantize(self.shape),
        }
    }

    /// # Shapes
    /// - x: [batch, seq, in] → [batch, seq, out]
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, seq, input] = x.dims();
        let [out, _] = self.shape;
        let weight_t = match &self.weight {
            Weight::Dense(w) => w.clone(),
            Weight::Quant4(q) => q.dequantize(self.shape).transpose(),
        };
        x.reshape([batch * seq, input]).matmul(weight_t).reshape([batch, seq, out])
    }
}

impl<B: Backend> Quant4<B> {
    /// The per-block absmax, `[blocks]`.
    fn absmax(&self) -> Tensor<B, 1> {
        match &self.scales {
            Scales::Plain(a) => a.clone(),
            Scales::Double { codes, nested_absmax, nested_code, offset } => {
                let codes = unpack_words(codes.clone(), 8).narrow(0, 0, self.blocks);
                let groups = self.blocks.div_ceil(NESTED_BLOCKSIZE);
                // nested_absmax[block / 256], by broadcasting over [groups, 256].
                let scale = nested_code
                    .clone()
                    .select(0, codes)
                    .pad_to(groups * NESTED_BLOCKSIZE)
                    .reshape([groups, NESTED_BLOCKSIZE])
                    * nested_absmax.clone().unsqueeze_dim::<2>(1);
                scale.reshape([groups * NESTED_BLOCKSIZE]).narrow(0, 0, self.blocks).add_scalar(*offset)
            }
        }
    }

    /// `code[nibble] · absmax[block]`, `[out, in]`.
    fn dequantize(&self, [out, input]: [usize; 2]) -> Tensor<B, 2> {
        let values = self.code.clone().select(0, unpack_words(self.nibbles.clone(), 4));
        let values = values.narrow(0, 0, self.blocks * self.blocksize).reshape([self.blocks, self.blocksize])
            * self.absmax().unsqueeze_dim::<2>(1);
        values.reshape([self.blocks * self.blocksize]).narrow(0, 0, out * input).reshape([out, input])
    }
}

/// Zero padding at the end of a vector.
trait PadTo {
    fn pad_to(self, len: usize) -> Self;
}

impl<B: Backend> PadTo for Tensor<B, 1> {
    fn pad_to(self, len: usize) -> Self {
        let [n] = self.dims();
        if n == len {
            return self;
        }
        let zeros = Tensor::zeros([len - n], &self.device());
        Tensor::cat(vec![self, zeros], 0)
    }
}

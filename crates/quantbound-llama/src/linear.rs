//! One bias-free linear layer for dense and 4-bit weights, `y = x·Wᵀ`.
//!
//! A 4-bit weight stays 4-bit on the device: bnb's packed bytes (four per `i32` word), the
//! per-block absmax (f32, or bnb's double-quantized 8-bit codes packed four per word with the
//! nested absmax and offset), and the 16-entry codebook. Each forward dequantizes it into f32,
//! exactly as bnb does (`code[i]·absmax`, and `nested_code[q]·nested_absmax + offset` for double
//! quant), then multiplies. [`QuantBackend::linear_4bit`] does it with tensor ops — shift,
//! mask, codebook lookup, scale, matmul — on any backend; the CPU backends run
//! quantbound-codebook's SIMD kernel on the tensor's storage instead (`crate::backend`).

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Int, Tensor, TensorData};
use quantbound_codebook::{Absmax, Blocksize, Codebook, FloatDtype, Quantized4bit, NESTED_BLOCKSIZE};

use crate::backend::{dequantize_4bit_by_tensor_ops, floats, unpack_words, PadTo, QuantBackend};
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

/// A 4-bit weight's state on the device. Opaque outside the crate; the backends in
/// [`crate::backend`] read it.
#[derive(Clone, Debug)]
pub struct Quant4<B: Backend> {
    /// bnb's packed bytes, four per little-endian `i32` word, zero-padded to a whole word:
    /// element `2i` in the high nibble of byte `i`, element `2i + 1` in the low one.
    nibbles: Tensor<B, 1, Int>,
    code: Codebook,
    scales: Scales<B>,
    blocksize: Blocksize,
    blocks: usize,
    /// The dtype bnb dequantizes into (the quant state's, the original weight's): the f32
    /// products are rounded to it, as `dequantize_4bit` returns them to a transformers forward.
    dtype: FloatDtype,
    /// `[out_features, in_features]`.
    shape: [usize; 2],
}

#[derive(Clone, Debug)]
enum Scales<B: Backend> {
    /// One f32 per block.
    Plain(Tensor<B, 1>),
    /// bnb double quant: 8-bit codes (four per little-endian `i32` word),
    /// the nested f32 absmax per 256 blocks, the 256-entry map and the offset.
    Double { codes: Tensor<B, 1, Int>, nested_absmax: Tensor<B, 1>, nested_code: Tensor<B, 1>, offset: f32 },
}

/// Little-endian `i32` words of `bytes`, zero-padded to a whole word.
fn words_of(bytes: &[u8]) -> Vec<i32> {
    bytes.chunks(4).map(|c| c.iter().rev().fold(0u32, |w, &b| w << 8 | u32::from(b)) as i32).collect()
}

/// Bytes of a word, low first.
const BYTE_SHIFTS: [i32; 4] = [0, 8, 16, 24];

impl<B: QuantBackend> Linear<B> {
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
        let int = |words: Vec<i32>| {
            let len = words.len();
            Tensor::<B, 1, Int>::from_data(TensorData::new(words, [len]), (device, DType::I32))
        };
        let scales = match &q.state.absmax {
            Absmax::Plain(absmax) => Scales::Plain(floats(absmax, device)),
            Absmax::Double(d) => Scales::Double {
                codes: int(words_of(&d.codes)),
                nested_absmax: floats(&d.nested_absmax, device),
                nested_code: floats(&d.nested_code, device),
                offset: d.offset,
            },
        };
        let quant = Quant4 {
            nibbles: int(words_of(&q.packed)),
            code: q.state.code.clone(),
            scales,
            blocksize: q.state.blocksize,
            blocks: q.state.absmax.len(),
            dtype: q.state.dtype,
            shape,
        };
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

    /// Bits per weight of a 4-bit weight as bnb stores it, its scales counted as
    /// [`Blocksize::bits_per_weight`] counts them; `None` for a dense weight.
    pub fn bits_per_weight(&self) -> Option<f64> {
        match &self.weight {
            Weight::Dense(_) => None,
            Weight::Quant4(q) => Some(q.blocksize.bits_per_weight(matches!(q.scales, Scales::Double { .. }))),
        }
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
                bytes(&q.nibbles.dims(), q.nibbles.dtype()) + 16 * 4 + scales
            }
        }
    }

    /// The weight as used by the forward pass, `[out_features, in_features]` in f32 (for a 4-bit
    /// layer, its dequantization).
    pub fn weight(&self) -> Tensor<B, 2> {
        match &self.weight {
            Weight::Dense(w) => w.clone().transpose(),
            Weight::Quant4(q) => q.dequantize(),
        }
    }

    /// [`Linear::weight`] read back to the host, row-major `[out, in]`.
    pub fn weight_values(&self) -> Vec<f32> {
        self.weight().into_data().convert::<f32>().to_vec().expect("converted to f32")
    }

    /// The device the weight lives on.
    pub fn device(&self) -> B::Device {
        match &self.weight {
            Weight::Dense(w) => w.device(),
            Weight::Quant4(q) => q.nibbles.device(),
        }
    }

    /// [`Linear::weight`], dequantized by tensor ops even where the backend has a faster path
    /// (so tests on the CPU cover what GPU backends run).
    #[doc(hidden)]
    pub fn weight_by_tensor_ops(&self) -> Tensor<B, 2> {
        match &self.weight {
            Weight::Dense(w) => w.clone().transpose(),
            Weight::Quant4(q) => q.dequantize_by_tensor_ops(),
        }
    }

    /// # Shapes
    /// - x: [batch, seq, in] → [batch, seq, out]
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, seq, input] = x.dims();
        let [out, _] = self.shape;
        let x = x.reshape([batch * seq, input]);
        let y = match &self.weight {
            Weight::Dense(w) => B::linear_dense(x, w),
            Weight::Quant4(q) => B::linear_4bit(x, q),
        };
        y.reshape([batch, seq, out])
    }
}

#[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(dead_code, reason = "the CPU backends' only"))]
impl<B: QuantBackend> Quant4<B> {
    /// `[out_features, in_features]`.
    pub(crate) fn shape(&self) -> [usize; 2] {
        self.shape
    }

    /// bnb's packed bytes as little-endian `i32` words.
    pub(crate) fn nibbles(&self) -> &Tensor<B, 1, Int> {
        &self.nibbles
    }

    pub(crate) fn code(&self) -> &Codebook {
        &self.code
    }

    pub(crate) fn blocksize(&self) -> Blocksize {
        self.blocksize
    }

    pub(crate) fn dtype(&self) -> FloatDtype {
        self.dtype
    }

    /// The per-block absmax, `[blocks]`.
    pub(crate) fn absmax(&self) -> Tensor<B, 1> {
        match &self.scales {
            Scales::Plain(a) => a.clone(),
            Scales::Double { codes, nested_absmax, nested_code, offset } => {
                let codes = unpack_words(codes.clone(), &BYTE_SHIFTS, 0xff).narrow(0, 0, self.blocks);
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
    pub(crate) fn dequantize(&self) -> Tensor<B, 2> {
        let [out, input] = self.shape;
        B::dequantize_4bit(self.nibbles.clone(), self.absmax(), &self.code, self.blocksize, self.dtype, out * input)
            .reshape([out, input])
    }

    /// [`Quant4::dequantize`] by the provided tensor-op method, whatever the backend.
    fn dequantize_by_tensor_ops(&self) -> Tensor<B, 2> {
        let [out, input] = self.shape;
        dequantize_4bit_by_tensor_ops(
            self.nibbles.clone(),
            self.absmax(),
            &self.code,
            self.blocksize,
            self.dtype,
            out * input,
        )
        .reshape([out, input])
    }
}

//! One bias-free linear layer for dense and 4-bit weights, `y = x·Wᵀ`.
//!
//! A 4-bit weight stays 4-bit on the device: bnb's packed bytes (four per `i32` word), the
//! per-block absmax (f32, or bnb's double-quantized 8-bit codes packed four per word with the
//! nested absmax and offset), and the 16-entry codebook. Each forward dequantizes it into f32,
//! exactly as bnb does (`code[i]·absmax`, and `nested_code[q]·nested_absmax + offset` for double
//! quant), then multiplies. [`QuantBackend::dequantize_4bit`] does it with tensor ops — shift,
//! mask, codebook lookup, scale — on any backend; on ndarray, whose device is the host, it runs
//! quantbound-codebook's SIMD kernel on the tensor's storage instead.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, ElementConversion, Int, Tensor, TensorData};
use quantbound_codebook::{Absmax, Blocksize, Codebook, Quantized4bit, NESTED_BLOCKSIZE};

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
    /// bnb's packed bytes, four per little-endian `i32` word, zero-padded to a whole word:
    /// element `2i` in the high nibble of byte `i`, element `2i + 1` in the low one.
    nibbles: Tensor<B, 1, Int>,
    code: Codebook,
    scales: Scales<B>,
    blocksize: Blocksize,
    blocks: usize,
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

/// The values held in `words`, `shifts.len()` per word: value `k` of word `w` is
/// `(words[w] >> shifts[k]) & mask`.
fn unpack_words<B: Backend>(words: Tensor<B, 1, Int>, shifts: &[i32], mask: i32) -> Tensor<B, 1, Int> {
    let per_word = shifts.len();
    let [len] = words.dims();
    let device = words.device();
    let shifts = Tensor::<B, 1, Int>::from_data(TensorData::new(shifts.to_vec(), [per_word]), (&device, DType::I32));
    // Expanded explicitly: not every backend broadcasts integer operands.
    words
        .unsqueeze_dim::<2>(1)
        .expand([len, per_word])
        .bitwise_right_shift(shifts.unsqueeze::<2>().expand([len, per_word]))
        .bitwise_and_scalar(mask.elem())
        .reshape([len * per_word])
}

/// Bytes of a word, low first.
const BYTE_SHIFTS: [i32; 4] = [0, 8, 16, 24];
/// Nibbles of a word in element order: bnb puts the first of each byte in its high half.
const NIBBLE_SHIFTS: [i32; 8] = [4, 0, 12, 8, 20, 16, 28, 24];

/// A backend that can dequantize bnb 4-bit weights. The provided method uses tensor ops only, so
/// any backend can take it as is; a backend with direct access to its buffers may do better.
pub trait QuantBackend: Backend {
    /// `code[nibble_i] · absmax[i / blocksize]` in f32 for the `numel` elements `nibbles` holds
    /// (laid out as in bnb's packed bytes, four bytes per little-endian `i32`).
    fn dequantize_4bit(
        nibbles: Tensor<Self, 1, Int>,
        absmax: Tensor<Self, 1>,
        code: &Codebook,
        blocksize: Blocksize,
        numel: usize,
    ) -> Tensor<Self, 1> {
        dequantize_4bit_by_tensor_ops(nibbles, absmax, code, blocksize, numel)
    }
}

/// [`QuantBackend::dequantize_4bit`]'s provided method, for any backend.
fn dequantize_4bit_by_tensor_ops<B: Backend>(
    nibbles: Tensor<B, 1, Int>,
    absmax: Tensor<B, 1>,
    code: &Codebook,
    blocksize: Blocksize,
    numel: usize,
) -> Tensor<B, 1> {
    let device = nibbles.device();
    let blocks = absmax.dims()[0];
    let indices = unpack_words(nibbles, &NIBBLE_SHIFTS, 0x0f).narrow(0, 0, numel);
    let values = floats::<B>(code.values(), &device).select(0, indices).pad_to(blocks * blocksize.get());
    let values = values.reshape([blocks, blocksize.get()]) * absmax.unsqueeze_dim::<2>(1);
    values.reshape([blocks * blocksize.get()]).narrow(0, 0, numel)
}

#[cfg(feature = "ndarray")]
mod ndarray_backend {
    use burn::backend::ndarray::{
        FloatNdArrayElement, IntNdArrayElement, NdArray, NdArrayTensor, QuantElement, SharedArray,
    };
    use burn::tensor::{Int, Tensor, TensorData};
    use quantbound_codebook::{dequantize_packed, Blocksize, Codebook, FloatSliceMut};

    /// ndarray's device is the host: dequantize the tensor's bytes with the SIMD kernel.
    impl<E: FloatNdArrayElement, I: IntNdArrayElement, Q: QuantElement> super::QuantBackend for NdArray<E, I, Q>
    where
        NdArrayTensor: From<SharedArray<E>>,
        NdArrayTensor: From<SharedArray<I>>,
    {
        fn dequantize_4bit(
            nibbles: Tensor<Self, 1, Int>,
            absmax: Tensor<Self, 1>,
            code: &Codebook,
            blocksize: Blocksize,
            numel: usize,
        ) -> Tensor<Self, 1> {
            let device = nibbles.device();
            let words = nibbles.into_data();
            let words: &[i32] = words.as_slice().expect("4-bit weights are stored as i32 words");
            let packed = &bytemuck::cast_slice::<i32, u8>(words)[..numel.div_ceil(2)];
            let absmax = absmax.into_data().convert::<f32>();
            let absmax: &[f32] = absmax.as_slice().expect("converted to f32");
            let mut out = vec![0f32; numel];
            dequantize_packed("4-bit linear", packed, absmax, blocksize, code, FloatSliceMut::F32(&mut out))
                .expect("the layer was built with consistent lengths");
            Tensor::from_data(TensorData::new(out, [numel]), &device)
        }
    }
}

// The GPU backends take the tensor-op path (f32, and on CUDA f16/bf16 compute too).
#[cfg(feature = "cuda")]
impl QuantBackend for burn::backend::Cuda {}
#[cfg(feature = "cuda")]
impl QuantBackend for burn::backend::Cuda<half::f16> {}
#[cfg(feature = "cuda")]
impl QuantBackend for burn::backend::Cuda<half::bf16> {}
#[cfg(feature = "wgpu")]
impl QuantBackend for burn::backend::Wgpu {}

fn floats<B: Backend>(values: &[f32], device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

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
            Weight::Quant4(q) => q.dequantize(self.shape),
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
            Weight::Quant4(q) => q.dequantize_by_tensor_ops(self.shape),
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

impl<B: QuantBackend> Quant4<B> {
    /// The per-block absmax, `[blocks]`.
    fn absmax(&self) -> Tensor<B, 1> {
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
    fn dequantize(&self, [out, input]: [usize; 2]) -> Tensor<B, 2> {
        B::dequantize_4bit(self.nibbles.clone(), self.absmax(), &self.code, self.blocksize, out * input)
            .reshape([out, input])
    }

    /// [`Quant4::dequantize`] by the provided tensor-op method, whatever the backend.
    fn dequantize_by_tensor_ops(&self, [out, input]: [usize; 2]) -> Tensor<B, 2> {
        dequantize_4bit_by_tensor_ops(self.nibbles.clone(), self.absmax(), &self.code, self.blocksize, out * input)
            .reshape([out, input])
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

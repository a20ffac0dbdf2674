//! What each Burn backend does for the 4-bit linear, and the CPU backend quantbound runs on.
//!
//! The model is generic over a backend with [`FusedOps`] (RMSNorm, RoPE, attention) and, for
//! [`crate::linear::Linear`], [`QuantBackend`]. Its provided methods use tensor ops only (shift, mask, codebook `select`,
//! scale, then Burn's matmul), so a GPU backend takes them as they are (`gpu.rs`). The CPU backends,
//! whose device is the host, read the packed bytes in place and run quantbound-codebook's SIMD
//! kernel instead (`flex.rs`, `ndarray.rs`). Backend names appear only in this module.

use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType, ElementConversion, FloatDType, Int, Tensor, TensorData};
use quantbound_codebook::{dequantize_packed, nibble, Blocksize, Codebook, FloatDtype, FloatSliceMut};

use crate::linear::Quant4;

#[cfg(feature = "flex")]
mod flex;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod gpu;
#[cfg(feature = "ndarray")]
mod ndarray;

/// The CPU backend: burn-flex (gemm-based matmul, rayon, SIMD elementwise ops), chosen over
/// burn-ndarray by the forward bench (docs/performance.md). The one place that names it.
#[cfg(feature = "flex")]
pub type Cpu = burn::backend::Flex;
/// The CPU backend when built without `flex`: burn-ndarray with its threads and SIMD.
#[cfg(all(feature = "ndarray", not(feature = "flex")))]
pub type Cpu = burn::backend::NdArray;

/// wgpu (Vulkan, Metal, DX12), f32.
#[cfg(feature = "wgpu")]
pub type Wgpu = burn::backend::Wgpu;
/// CUDA, f32.
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda;

/// Whether `B`'s `device` can be opened. Burn's GPU backends panic when there is no adapter or
/// driver; this turns that into `false`, quietly, so a caller can say so in an error.
pub fn device_available<B: Backend>(device: &B::Device) -> bool {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Tensor::<B, 1>::zeros([1], device).into_data();
    }));
    std::panic::set_hook(hook);
    opened.is_ok()
}

/// The name of a backend type for reports: `Cpu` is "flex" or "ndarray".
pub fn name<B: QuantBackend>() -> &'static str {
    B::NAME
}

/// The decoder's steps between the linears: RMSNorm, RoPE and GQA attention. The provided
/// methods are plain tensor ops; a CPU backend whose broadcasting walks strides one element at a
/// time, or whose attention runs on one thread, overrides them with fused loops over its buffers.
pub trait FusedOps: Backend {
    /// RMSNorm: x / √(mean(x²) + ε) · w, in f32 as transformers computes it.
    ///
    /// # Shapes
    /// - x: [batch, seq, hidden]; weight: [hidden]
    fn rms_norm(x: Tensor<Self, 3>, weight: &Tensor<Self, 1>, eps: f64) -> Tensor<Self, 3> {
        // variance: [batch, seq, 1]. Then a division, not `recip()`: burn-ndarray's SIMD recip
        // is an approximate reciprocal (about 12 bits), which moves logits by ~1e-3.
        let variance = (x.clone() * x.clone()).mean_dim(2);
        let normed = x / variance.add_scalar(eps).sqrt();
        normed * weight.clone().unsqueeze::<3>()
    }

    /// Rotates `x` by the angles in `cos`/`sin` (`[seq, head_dim]`), pairing (i, i + head_dim/2)
    /// as transformers' `rotate_half`: x·cos + rotate_half(x)·sin.
    ///
    /// # Shapes
    /// - x: [batch, seq, heads, head_dim]
    fn rope(x: Tensor<Self, 4>, cos: &Tensor<Self, 2>, sin: &Tensor<Self, 2>) -> Tensor<Self, 4> {
        let [_, seq, _, head_dim] = x.dims();
        let half = head_dim / 2;
        let first = x.clone().narrow(3, 0, half);
        let second = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![second.neg(), first], 3); // rotate_half
        let table = |t: &Tensor<Self, 2>| t.clone().reshape([1, seq, 1, head_dim]);
        x * table(cos) + rotated * table(sin)
    }

    /// GQA attention, softmax(q·kᵀ/√head_dim, blocked keys excluded)·v, query head h reading
    /// kv head h / (heads / kv_heads); Burn's attention op on the repeated keys and values.
    ///
    /// # Shapes
    /// - q: [batch, seq, heads, head_dim]; k, v: [batch, keys, kv_heads, head_dim]
    /// - mask: [batch, 1, seq, keys], true where blocked
    /// - → [batch, seq, heads, head_dim]
    fn gqa_attention(
        q: Tensor<Self, 4>,
        k: Tensor<Self, 4>,
        v: Tensor<Self, 4>,
        mask: Tensor<Self, 4, Bool>,
    ) -> Tensor<Self, 4> {
        let [batch, _, heads, head_dim] = q.dims();
        let [_, keys, kv_heads, _] = k.dims();
        let group = heads / kv_heads;
        let repeat = |t: Tensor<Self, 4>| {
            t.swap_dims(1, 2)
                .unsqueeze_dim::<5>(2)
                .expand([batch, kv_heads, group, keys, head_dim])
                .reshape([batch, heads, keys, head_dim])
        };
        let options = AttentionModuleOptions { scale: None, softcap: None, is_causal: false };
        attention(q.swap_dims(1, 2), repeat(k), repeat(v), Some(mask), None, options).swap_dims(1, 2)
    }
}

/// A backend that can run bnb 4-bit linears (and so the whole model).
pub trait QuantBackend: FusedOps {
    /// A short name for reports ("flex", "ndarray", "cuda", "wgpu").
    const NAME: &'static str;

    /// `code[nibble_i] · absmax[i / blocksize]` in f32, rounded to `dtype`, for the `numel`
    /// elements `nibbles` holds (laid out as in bnb's packed bytes, four bytes per little-endian
    /// `i32`).
    fn dequantize_4bit(
        nibbles: Tensor<Self, 1, Int>,
        absmax: Tensor<Self, 1>,
        code: &Codebook,
        blocksize: Blocksize,
        dtype: FloatDtype,
        numel: usize,
    ) -> Tensor<Self, 1> {
        dequantize_4bit_by_tensor_ops(nibbles, absmax, code, blocksize, dtype, numel)
    }

    /// `x · Wᵀ` for a 4-bit `W` (`[out, in]`): by default the dequantized weight, then Burn's
    /// matmul.
    ///
    /// # Shapes
    /// - x: [rows, in] → [rows, out]
    fn linear_4bit(x: Tensor<Self, 2>, weight: &Quant4<Self>) -> Tensor<Self, 2> {
        x.matmul(weight.dequantize().transpose())
    }

    /// A dense linear, x · Wᵀ, with `weight_t` = Wᵀ `[in, out]`.
    ///
    /// # Shapes
    /// - x: [rows, in] → [rows, out]
    fn linear_dense(x: Tensor<Self, 2>, weight_t: &Tensor<Self, 2>) -> Tensor<Self, 2> {
        x.matmul(weight_t.clone())
    }
}

/// [`QuantBackend::dequantize_4bit`]'s provided method, for any backend.
pub(crate) fn dequantize_4bit_by_tensor_ops<B: Backend>(
    nibbles: Tensor<B, 1, Int>,
    absmax: Tensor<B, 1>,
    code: &Codebook,
    blocksize: Blocksize,
    dtype: FloatDtype,
    numel: usize,
) -> Tensor<B, 1> {
    let device = nibbles.device();
    let blocks = absmax.dims()[0];
    let indices = unpack_words(nibbles, &nibble::WORD_SHIFTS, 0x0f).narrow(0, 0, numel);
    let values = floats::<B>(code.values(), &device).select(0, indices).pad_to(blocks * blocksize.get());
    let values = values.reshape([blocks, blocksize.get()]) * absmax.unsqueeze_dim::<2>(1);
    let values = values.reshape([blocks * blocksize.get()]).narrow(0, 0, numel);
    match dtype {
        FloatDtype::F32 => values,
        FloatDtype::F16 => values.cast(FloatDType::F16).cast(FloatDType::F32),
        FloatDtype::Bf16 => values.cast(FloatDType::BF16).cast(FloatDType::F32),
    }
}

/// The values held in `words`, `shifts.len()` per word: value `k` of word `w` is
/// `(words[w] >> shifts[k]) & mask`.
pub(crate) fn unpack_words<B: Backend>(words: Tensor<B, 1, Int>, shifts: &[i32], mask: i32) -> Tensor<B, 1, Int> {
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

pub(crate) fn floats<B: Backend>(values: &[f32], device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

/// The host-side dequantization the CPU backends share: bnb's packed bytes (as the `i32` words
/// the layer stores) and an f32 absmax into `out`, with the codebook crate's SIMD kernel.
#[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(dead_code, reason = "the CPU backends' only"))]
pub(crate) fn dequantize_on_host(
    words: &[i32],
    absmax: &[f32],
    code: &Codebook,
    blocksize: Blocksize,
    dtype: FloatDtype,
    out: &mut [f32],
) {
    let packed = &bytemuck::cast_slice::<i32, u8>(words)[..nibble::packed_len(out.len())];
    dequantize_packed("4-bit linear", packed, absmax, blocksize, code, FloatSliceMut::F32(out))
        .expect("a 4-bit linear is built with consistent lengths");
    dtype.round_in_place(out);
}

/// Zero padding at the end of a vector.
pub(crate) trait PadTo {
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

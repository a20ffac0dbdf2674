//! burn-ndarray: its device is the host, so the 4-bit weight's bytes are dequantized by the
//! codebook crate's SIMD kernel (read back through `into_data`, which ndarray serves from its
//! array), then multiplied by ndarray's matmul.

use burn::backend::ndarray::{
    FloatNdArrayElement, IntNdArrayElement, NdArray, NdArrayTensor, QuantElement, SharedArray,
};
use burn::tensor::{Int, Tensor, TensorData};
use quantbound_codebook::{Blocksize, Codebook, FloatDtype};

impl<E: FloatNdArrayElement, I: IntNdArrayElement, Q: QuantElement> super::FusedOps for NdArray<E, I, Q>
where
    NdArrayTensor: From<SharedArray<E>>,
    NdArrayTensor: From<SharedArray<I>>,
{
}

impl<E: FloatNdArrayElement, I: IntNdArrayElement, Q: QuantElement> super::QuantBackend for NdArray<E, I, Q>
where
    NdArrayTensor: From<SharedArray<E>>,
    NdArrayTensor: From<SharedArray<I>>,
{
    const NAME: &'static str = "ndarray";

    fn dequantize_4bit(
        nibbles: Tensor<Self, 1, Int>,
        absmax: Tensor<Self, 1>,
        code: &Codebook,
        blocksize: Blocksize,
        dtype: FloatDtype,
        numel: usize,
    ) -> Tensor<Self, 1> {
        let device = nibbles.device();
        let words = nibbles.into_data();
        let absmax = absmax.into_data().convert::<f32>();
        let mut out = vec![0f32; numel];
        super::dequantize_on_host(
            words.as_slice().expect("4-bit weights are stored as i32 words"),
            absmax.as_slice().expect("converted to f32"),
            code,
            blocksize,
            dtype,
            &mut out,
        );
        Tensor::from_data(TensorData::new(out, [numel]), &device)
    }
}

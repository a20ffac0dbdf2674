//! Differential: arbitrary f32/f16/bf16 data, every blocksize and codebook, through the fast
//! quantize/dequantize kernels at every SIMD level this CPU has and through the scalar reference.
//! Packed bytes, absmax and dequantized values must agree bit for bit (NaN payloads included).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use quantbound_codebook::{
    dequantize_blocks_reference, quantize_blocks_reference, Blocksize, Codebook, FloatDtype, FloatVec,
    QuantType, QuantizeOptions, Quantized4bit,
};
use quantbound_simd::SimdLevel;

#[derive(Arbitrary, Debug)]
struct Input {
    dtype: u8,
    blocksize: u8,
    /// 0 NF4, 1 FP4, else a custom table from `custom`.
    codebook: u8,
    custom: [f32; 16],
    double_quant: bool,
    data: Vec<u8>,
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fuzz_target!(|input: Input| {
    let dtype = [FloatDtype::F32, FloatDtype::F16, FloatDtype::Bf16][usize::from(input.dtype) % 3];
    let blocksize = Blocksize::SUPPORTED[usize::from(input.blocksize) % Blocksize::SUPPORTED.len()];
    let blocksize = Blocksize::new(blocksize, "fuzz").unwrap();
    let codebook = match input.codebook {
        0 => QuantType::Nf4.codebook(),
        1 => QuantType::Fp4.codebook(),
        _ => match Codebook::custom(input.custom) {
            Ok(c) => c,
            Err(_) => return,
        },
    };
    let len = input.data.len() - input.data.len() % dtype.size();
    let values = FloatVec::from_le_bytes(dtype, &input.data[..len]).unwrap();
    let data = values.as_slice();
    let n = data.len();
    let options = QuantizeOptions { codebook: codebook.clone(), blocksize, double_quant: input.double_quant };

    let (packed, absmax) = quantize_blocks_reference(data, blocksize, &codebook);
    let mut reference = dequantize_blocks_reference(&packed, &absmax, blocksize, &codebook, n);
    dtype.round_in_place(&mut reference);
    let mut first: Option<(SimdLevel, Quantized4bit, Vec<u32>)> = None;
    for level in SimdLevel::supported() {
        let (q, dq) = quantbound_simd::with_level(level, || {
            let q = Quantized4bit::quantize("fuzz", data, &[n], &options).unwrap();
            let dq = bits(&q.dequantize().to_f32_vec());
            (q, dq)
        })
        .unwrap();
        assert!(q.packed == packed, "{level}: packed bytes differ from the reference");
        if !input.double_quant {
            assert_eq!(bits(&q.state.absmax.to_f32()), bits(&absmax), "{level}: absmax differs from the reference");
            assert_eq!(dq, bits(&reference), "{level}: dequantized values differ from the reference");
        }
        match &first {
            None => first = Some((level, q, dq)),
            Some((first_level, q0, dq0)) => {
                assert!(q == *q0 || bits(&q.state.absmax.to_f32()) == bits(&q0.state.absmax.to_f32()), "{level} vs {first_level}: states differ");
                assert_eq!(&dq, dq0, "{level} vs {first_level}: dequantized values differ");
            }
        }
    }
});

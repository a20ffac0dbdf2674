//! Bad input gets a typed error that names the tensor and what was expected; never a panic.

mod common;

use common::*;
use quantbound_codebook::checkpoint::{dequantize_safetensors, quantize_safetensors};
use quantbound_codebook::{
    bnb_json::QuantStateJson, hf, Absmax, Blocksize, CodebookError, FloatSlice, QuantType, QuantizeOptions,
    Quantized4bit,
};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

fn nf4() -> QuantizeOptions {
    QuantizeOptions::new(QuantType::Nf4.codebook())
}

#[test]
fn wrong_length_for_shape() {
    let err = Quantized4bit::quantize("layer.w", FloatSlice::F32(&[0.0; 10]), &[3, 4], &nf4()).unwrap_err();
    assert!(matches!(err, CodebookError::ShapeMismatch { numel: 12, found: 10, .. }), "{err}");
    assert!(err.to_string().contains("layer.w"), "{err}");
}

#[test]
fn unsupported_blocksizes() {
    for bad in [0, 16, 48, 100, 8192] {
        let err = Blocksize::new(bad, "layer.w").unwrap_err();
        assert!(err.to_string().contains("layer.w") && err.to_string().contains("4096"), "{err}");
    }
}

#[test]
fn unknown_quant_type() {
    let err = QuantType::parse("int4", "layer.w.quant_state").unwrap_err();
    assert!(err.to_string().contains("\"int4\"") && err.to_string().contains("nf4"), "{err}");
}

#[test]
fn absmax_length_must_match_shape() {
    let q = Quantized4bit::quantize("w", FloatSlice::F32(&[1.0; 256]), &[256], &nf4()).unwrap();
    let mut state = q.state.clone();
    state.absmax = Absmax::Plain(vec![1.0; 3]);
    let err = Quantized4bit::from_parts("model.w", q.packed.clone(), state).unwrap_err();
    assert!(matches!(err, CodebookError::Length { what: "absmax", expected: 4, found: 3, .. }), "{err}");
    let err = Quantized4bit::from_parts("model.w", q.packed[1..].to_vec(), q.state.clone()).unwrap_err();
    assert!(matches!(err, CodebookError::Length { what: "packed weight", .. }), "{err}");
}

#[test]
fn malformed_quant_state_json() {
    let good = br#"{"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [128, 64]}"#;
    assert!(QuantStateJson::parse(good, "k").is_ok());
    let bad: [&[u8]; 7] = [
        &good[..good.len() - 5],                                                        // truncated
        b"",                                                                            // empty
        b"\xff\xfe",                                                                    // not UTF-8
        br#"{"quant_type": "nf4", "dtype": "float16", "shape": [1]}"#,                  // no blocksize
        br#"{"quant_type": "nf5", "blocksize": 64, "dtype": "float16", "shape": [1]}"#, // unknown type
        br#"{"quant_type": "nf4", "blocksize": 64, "dtype": "float64", "shape": [1]}"#, // bad dtype
        br#"{"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [1], "nested_offset": 0.1}"#,
    ];
    for json in bad {
        let err = QuantStateJson::parse(json, "m.weight.quant_state.bitsandbytes__nf4").unwrap_err();
        assert!(err.to_string().contains("m.weight.quant_state"), "{err}");
    }
}

/// A checkpoint whose JSON is cut short is refused when read, naming the key.
#[test]
fn truncated_json_in_checkpoint() {
    let q = Quantized4bit::quantize("w", FloatSlice::F32(&[0.5; 128]), &[2, 64], &nf4()).unwrap();
    let mut tensors = hf::to_tensors("w", q).unwrap();
    let json = tensors.iter_mut().find(|t| t.name.contains("quant_state")).unwrap();
    json.data = hf::TensorData::Bytes(json.data.as_bytes()[..20].to_vec());
    json.shape = vec![20];
    let views: Vec<_> = tensors
        .iter()
        .map(|t| (t.name.clone(), TensorView::new(t.dtype, t.shape.clone(), t.data.as_bytes()).unwrap()))
        .collect();
    let file = safetensors::serialize(views, None).unwrap();
    let err = hf::from_safetensors(&SafeTensors::deserialize(&file).unwrap(), "w", "cut.safetensors").unwrap_err();
    assert!(matches!(err, CodebookError::QuantStateJson { .. }), "{err}");
    assert!(err.to_string().contains("w.quant_state.bitsandbytes__nf4"), "{err}");
}

#[test]
fn truncated_or_foreign_safetensors() {
    let bytes = read(golden_dir().join("tiny_llama_fp32/model.safetensors"));
    let cut = &bytes[..bytes.len() - 100];
    for (file, data) in [
        ("cut.safetensors", cut),
        ("text.safetensors", b"hello, this is not safetensors".as_slice()),
        ("empty", &[][..]),
    ] {
        let err = quantize_safetensors(data, file, &nf4(), |_, _| true, Vec::new()).unwrap_err();
        assert!(matches!(err, CodebookError::Safetensors { .. }) && err.to_string().contains(file), "{err}");
        let err = dequantize_safetensors(data, file, Vec::new()).unwrap_err();
        assert!(err.to_string().contains(file), "{err}");
    }
}

#[test]
fn selecting_a_non_float_tensor_is_an_error() {
    let bytes = [7u8; 128];
    let file = safetensors::serialize([("w", TensorView::new(Dtype::U8, vec![2, 64], &bytes).unwrap())], None).unwrap();
    let mut out = Vec::new();
    let err = quantize_safetensors(&file, "q.safetensors", &nf4(), |name, _| name == "w", &mut out).unwrap_err();
    assert!(matches!(err, CodebookError::UnsupportedDtype { .. }), "{err}");
    assert!(out.is_empty(), "nothing is written before every tensor is known to convert");
}

/// quantize refuses a file that is already bnb-4bit instead of copying it through and calling
/// that a conversion (a checkpoint with nothing to convert at all is the command's error).
#[test]
fn quantizing_a_bnb_checkpoint_is_an_error() {
    let q = Quantized4bit::quantize("w", FloatSlice::F32(&[0.5; 128]), &[2, 64], &nf4()).unwrap();
    let tensors = hf::to_tensors("w", q).unwrap();
    let views: Vec<_> = tensors
        .iter()
        .map(|t| (t.name.clone(), TensorView::new(t.dtype, t.shape.clone(), t.data.as_bytes()).unwrap()))
        .collect();
    let bnb = safetensors::serialize(views, None).unwrap();
    let err = quantize_safetensors(&bnb, "q.safetensors", &nf4(), |_, _| true, Vec::new()).unwrap_err();
    assert!(matches!(&err, CodebookError::AlreadyQuantized { tensor, .. } if tensor == "w"), "{err}");
}

/// A NaN or an infinity in a tensor quantize selects is refused, naming the file, the tensor and
/// the element; bnb would quantize it (the kernels do, as bnb does), but no working model has one.
#[test]
fn non_finite_weights_are_refused_by_element() {
    for (bad, word) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf"), (f32::NEG_INFINITY, "-inf")] {
        let mut values = [0.25f32; 128];
        values[77] = bad;
        let f32s: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let f16s: Vec<u8> = values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
        let bf16s: Vec<u8> = values.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect();
        for (dtype, bytes) in [(Dtype::F32, f32s), (Dtype::F16, f16s), (Dtype::BF16, bf16s)] {
            let file =
                safetensors::serialize([("w", TensorView::new(dtype, vec![2, 64], &bytes).unwrap())], None).unwrap();
            let err = quantize_safetensors(&file, "d.safetensors", &nf4(), |_, _| true, Vec::new()).unwrap_err();
            assert!(matches!(err, CodebookError::NonFinite { index: 77, .. }), "{dtype:?}: {err}");
            assert!(
                err.to_string().contains("d.safetensors: w: element 77 is ") && err.to_string().contains(word),
                "{dtype:?}: {err}"
            );
        }
    }
}

#[test]
fn custom_codebook_cannot_become_a_bnb_checkpoint() {
    let custom = quantbound_codebook::Codebook::custom(std::array::from_fn(|i| i as f32 / 15.0)).unwrap();
    let q = Quantized4bit::quantize("w", FloatSlice::F32(&[0.5; 64]), &[64], &QuantizeOptions::new(custom)).unwrap();
    assert!(matches!(hf::to_tensors("w", q), Err(CodebookError::NotBnbCodebook { .. })));
    assert!(quantbound_codebook::Codebook::custom([f32::NAN; 16]).is_err());
}

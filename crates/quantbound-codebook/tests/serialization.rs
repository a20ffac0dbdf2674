//! The HF bnb-4bit layout: bnb's serialised `Linear4bit` states, a real transformers bnb-4bit
//! checkpoint, and round trips through our own writer.

mod common;

use common::*;
use quantbound_codebook::checkpoint::{dequantize_safetensors, quantize_safetensors};
use quantbound_codebook::{
    dequantize_blocks_reference, hf, Blocksize, FloatSlice, FloatVec, QuantType, QuantizeOptions, Quantized4bit,
};
use safetensors::SafeTensors;

/// The module of every serialised case, as bnb recorded it.
const PREFIX: &str = "model.layers.0.mlp.down_proj.weight";

#[test]
fn serialised_linear4bit_states_are_byte_equal() {
    let manifest = manifest();
    let cases = manifest["serialized"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expected_bytes = read(golden_dir().join(case["file"].as_str().unwrap()));
        let expected = SafeTensors::deserialize(&expected_bytes).unwrap();
        let input_bytes = read(golden_dir().join(case["input_file"].as_str().unwrap()));
        let input = SafeTensors::deserialize(&input_bytes).unwrap();
        let (weight, shape) = float_tensor(&input, "input");

        let options = QuantizeOptions {
            codebook: QuantType::parse(case["quant_type"].as_str().unwrap(), name).unwrap().codebook(),
            blocksize: Blocksize::new(case["blocksize"].as_u64().unwrap() as usize, name).unwrap(),
            double_quant: case["compress_statistics"].as_bool().unwrap(),
        };
        let q = Quantized4bit::quantize(PREFIX, weight.as_slice(), &shape, &options).unwrap();
        let ours = hf::to_tensors(PREFIX, q.clone()).unwrap();

        let mut expected_names: Vec<String> = expected.names().iter().map(|s| s.to_string()).collect();
        let mut our_names: Vec<String> = ours.iter().map(|t| t.name.clone()).collect();
        expected_names.sort();
        our_names.sort();
        assert_eq!(our_names, expected_names, "{name}: keys");
        for tensor in &ours {
            let view = expected.tensor(&tensor.name).unwrap();
            assert_eq!(tensor.dtype, view.dtype(), "{name}: {} dtype", tensor.name);
            assert_eq!(tensor.shape, view.shape(), "{name}: {} shape", tensor.name);
            assert!(tensor.data.as_bytes() == view.data(), "{name}: {} bytes differ", tensor.name);
        }
        let json_key = case["packed_json_key"].as_str().unwrap();
        let json = ours.iter().find(|t| t.name == json_key).unwrap().data.as_bytes();
        assert_eq!(std::str::from_utf8(json).unwrap(), case["packed_json"].as_str().unwrap(), "{name}");

        // Reading bnb's tensors back gives the same quantized tensor, and bnb's dequantization.
        let read_back = hf::from_safetensors(&expected, PREFIX, name).unwrap();
        assert_eq!(read_back, q, "{name}: read back");
        // bnb's CPU dequant is only right when rows are whole blocks (docs/formats/bnb-4bit.md);
        // otherwise the yardstick is the flat-block formula.
        let ours = read_back.dequantize().to_f32_vec();
        if shape[1] % options.blocksize.get() == 0 {
            let (dequant, _) = float_tensor(&input, "dequant");
            assert_eq!(first_difference(&dequant.to_f32_vec(), &ours), None, "{name}");
        } else {
            let absmax = read_back.state.absmax.to_f32();
            let flat = dequantize_blocks_reference(
                &read_back.packed,
                &absmax,
                options.blocksize,
                &read_back.state.code,
                q.numel(),
            );
            let rounded = FloatVec::Bf16(flat.iter().map(|&v| half::bf16::from_f32(v)).collect());
            assert_eq!(weight.dtype(), quantbound_codebook::FloatDtype::Bf16, "only the bf16 case has such rows");
            assert_eq!(first_difference(&rounded.to_f32_vec(), &ours), None, "{name}");
        }
    }
}

/// The tiny real transformers checkpoint: its every quantized linear equals the fp32 original
/// quantized by us (NF4, blocksize 64, double quant), and dequantizes identically.
#[test]
fn transformers_bnb_checkpoint_equals_ours() {
    let dir = golden_dir();
    let quantized_bytes = read(dir.join("tiny_llama_bnb4bit_nf4_dq/model.safetensors"));
    let quantized = SafeTensors::deserialize(&quantized_bytes).unwrap();
    let original_bytes = read(dir.join("tiny_llama_fp32/model.safetensors"));
    let original = SafeTensors::deserialize(&original_bytes).unwrap();
    let options =
        QuantizeOptions { codebook: QuantType::Nf4.codebook(), blocksize: Blocksize::DEFAULT, double_quant: true };

    let mut n_linear = 0;
    for name in original.names() {
        if hf::bnb_quant_type(&quantized, name).is_none() {
            // Not quantized by transformers: embeddings, norms, lm_head; stored unchanged.
            assert_eq!(quantized.tensor(name).unwrap().data(), original.tensor(name).unwrap().data(), "{name}");
            continue;
        }
        n_linear += 1;
        let theirs = hf::from_safetensors(&quantized, name, "tiny_llama_bnb4bit_nf4_dq").unwrap();
        let (weight, shape) = float_tensor(&original, name);
        let ours = Quantized4bit::quantize(name, weight.as_slice(), &shape, &options).unwrap();
        assert_eq!(ours, theirs, "{name}");
        assert_eq!(ours.dequantize(), theirs.dequantize(), "{name}");
    }
    assert_eq!(n_linear, 7, "q, k, v, o, gate, up, down");
}

fn options(quant_type: QuantType, blocksize: usize, double_quant: bool) -> QuantizeOptions {
    QuantizeOptions {
        codebook: quant_type.codebook(),
        blocksize: Blocksize::new(blocksize, "test").unwrap(),
        double_quant,
    }
}

/// quantize → write → read → dequantize, for the whole tiny checkpoint, both quant types, with and
/// without double quant: the file dequantizes to exactly what the in-memory tensor does.
#[test]
fn checkpoint_round_trip() {
    let original_bytes = read(golden_dir().join("tiny_llama_fp32/model.safetensors"));
    let original = SafeTensors::deserialize(&original_bytes).unwrap();
    for (quant_type, blocksize, double_quant) in [
        (QuantType::Nf4, 64, true),
        (QuantType::Fp4, 128, false),
        (QuantType::Nf4, 4096, false),
        (QuantType::Fp4, 32, true),
    ] {
        let options = options(quant_type, blocksize, double_quant);
        let is_linear = |name: &str| name.contains("_proj");
        let mut file = Vec::new();
        let summary =
            quantize_safetensors(&original_bytes, "tiny.safetensors", &options, |n, _| is_linear(n), &mut file)
                .unwrap();
        assert_eq!(summary.converted.len(), 7);
        assert_eq!(summary.copied.len(), 5);

        let written = SafeTensors::deserialize(&file).unwrap();
        let mut dense = Vec::new();
        dequantize_safetensors(&file, "written", &mut dense).unwrap();
        let dense = SafeTensors::deserialize(&dense).unwrap();
        for name in original.names() {
            let view = original.tensor(name).unwrap();
            if is_linear(name) {
                let (weight, shape) = float_tensor(&original, name);
                let q = Quantized4bit::quantize(name, weight.as_slice(), &shape, &options).unwrap();
                assert_eq!(hf::from_safetensors(&written, name, "written").unwrap(), q, "{name}");
                let out = dense.tensor(name).unwrap();
                assert_eq!((out.dtype(), out.shape()), (view.dtype(), view.shape()), "{name}");
                assert_eq!(out.data(), q.dequantize().as_bytes(), "{name}");
            } else {
                assert_eq!(written.tensor(name).unwrap().data(), view.data(), "{name}");
                assert_eq!(dense.tensor(name).unwrap().data(), view.data(), "{name}");
            }
        }
        assert_eq!(dense.names().len(), original.names().len());
    }
}

/// Every float dtype survives the file round trip with its dtype and shape.
#[test]
fn round_trip_keeps_dtype_and_shape() {
    let values: Vec<f32> = (0..3 * 100).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
    let f16: Vec<half::f16> = values.iter().map(|&v| half::f16::from_f32(v)).collect();
    let bf16: Vec<half::bf16> = values.iter().map(|&v| half::bf16::from_f32(v)).collect();
    for data in [FloatSlice::F32(&values), FloatSlice::F16(&f16), FloatSlice::Bf16(&bf16)] {
        let q = Quantized4bit::quantize("w", data, &[3, 100], &options(QuantType::Nf4, 64, true)).unwrap();
        let tensors = hf::to_tensors("w", q.clone()).unwrap();
        let views: Vec<_> = tensors
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    safetensors::tensor::TensorView::new(t.dtype, t.shape.clone(), t.data.as_bytes()).unwrap(),
                )
            })
            .collect();
        let file = safetensors::serialize(views, None).unwrap();
        let back = hf::from_safetensors(&SafeTensors::deserialize(&file).unwrap(), "w", "mem").unwrap();
        assert_eq!(back, q);
        assert_eq!(back.dequantize().dtype(), data.dtype());
    }
}

/// Our writer lays tensors out as safetensors does for transformers, so quantizing the fp32 tiny
/// model's decoder linears gives, byte for byte, the checkpoint transformers + bnb saved.
#[test]
fn quantized_checkpoint_is_byte_identical_to_transformers() {
    let dir = golden_dir();
    let original = read(dir.join("tiny_llama_fp32/model.safetensors"));
    let expected = read(dir.join("tiny_llama_bnb4bit_nf4_dq/model.safetensors"));
    let mut ours = Vec::new();
    let linear = regex_free_is_decoder_linear;
    quantize_safetensors(&original, "tiny_llama_fp32", &options(QuantType::Nf4, 64, true), |n, _| linear(n), &mut ours)
        .unwrap();
    assert_eq!(ours.len(), expected.len());
    assert!(ours == expected, "first differing byte {:?}", ours.iter().zip(&expected).position(|(a, b)| a != b));
}

/// `model.layers.N.(self_attn|mlp).*_proj.weight`
fn regex_free_is_decoder_linear(name: &str) -> bool {
    name.starts_with("model.layers.")
        && name.ends_with("_proj.weight")
        && (name.contains(".self_attn.") || name.contains(".mlp."))
}

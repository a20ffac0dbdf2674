//! Every quantization case recorded from bitsandbytes 0.50.2 (tests/data/bnb4bit): our bytes must
//! equal bnb's bytes, and our dequantization the correct flat-block result.

mod common;

use common::*;
use quantbound_codebook::{
    dequantize_blocks_reference, dynamic_map, quantize_blocks_reference, Absmax, Blocksize, DoubleQuant, FloatVec,
    QuantType, QuantizeOptions, Quantized4bit,
};
use safetensors::SafeTensors;

/// A golden case's file bytes, its input tensor and shape, and the options bnb quantized it with.
struct GoldenCase {
    bytes: Vec<u8>,
    input: FloatVec,
    shape: Vec<usize>,
    options: QuantizeOptions,
}

fn golden_case(case: &serde_json::Value) -> GoldenCase {
    let name = case["name"].as_str().unwrap();
    let bytes = read(golden_dir().join(case["file"].as_str().unwrap()));
    let (input, shape) = float_tensor(&SafeTensors::deserialize(&bytes).unwrap(), "input");
    let quant_type = QuantType::parse(case["quant_type"].as_str().unwrap(), name).unwrap();
    let blocksize = Blocksize::new(case["blocksize"].as_u64().unwrap() as usize, name).unwrap();
    let double_quant = case["compress_statistics"].as_bool().unwrap();
    let options = QuantizeOptions { codebook: quant_type.codebook(), blocksize, double_quant };
    GoldenCase { bytes, input, shape, options }
}

/// One failure description per mismatching case, so a run lists all of them at once.
fn check_case(case: &serde_json::Value) -> Vec<String> {
    let name = case["name"].as_str().unwrap();
    let GoldenCase { bytes, input, shape, options } = golden_case(case);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (blocksize, double_quant) = (options.blocksize, options.double_quant);
    let mut failures = Vec::new();
    let mut fail = |what: String| failures.push(format!("{name}: {what}"));

    let q = Quantized4bit::quantize(name, input.as_slice(), &shape, &options).unwrap();
    let code = f32_tensor(&st, "code");
    if code.iter().map(|c| c.to_bits()).ne(q.state.code.values().iter().map(|c| c.to_bits())) {
        fail(format!("code table {code:?} != ours {:?}", q.state.code.values()));
    }
    let packed = u8_tensor(&st, "packed");
    if let Some(i) = (0..packed.len()).find(|&i| packed.get(i) != q.packed.get(i)) {
        fail(format!("packed byte {i}: bnb {:#04x}, ours {:#04x?}", packed[i], q.packed.get(i)));
    }
    if packed.len() != q.packed.len() {
        fail(format!("packed length bnb {} ours {}", packed.len(), q.packed.len()));
    }

    // The reference path must agree with the fast one on every case.
    let (ref_packed, ref_absmax) = quantize_blocks_reference(input.as_slice(), blocksize, &options.codebook);
    if ref_packed != q.packed {
        fail("reference quantizer's packed bytes differ from the fast path's".into());
    }

    let expected_absmax = f32_tensor(&st, if double_quant { "absmax_raw" } else { "absmax" });
    if let Some((i, a, b)) = first_difference(&expected_absmax, &ref_absmax) {
        fail(format!("reference absmax[{i}]: bnb {a:e}, ours {b:e}"));
    }
    match &q.state.absmax {
        Absmax::Plain(absmax) => {
            if let Some((i, a, b)) = first_difference(&expected_absmax, absmax) {
                fail(format!("absmax[{i}]: bnb {a:e}, ours {b:e}"));
            }
        }
        Absmax::Double(dq) => {
            let offset = f32_tensor(&st, "offset")[0];
            if !same_value(offset, dq.offset) {
                fail(format!(
                    "offset: bnb {offset:e} ({:#x}), ours {:e} ({:#x})",
                    offset.to_bits(),
                    dq.offset,
                    dq.offset.to_bits()
                ));
            }
            // The nested bytes from bnb's own offset, so an offset slip shows up once, not twice.
            let from_bnb_offset = DoubleQuant::compress_with_offset(&expected_absmax, offset);
            let codes = u8_tensor(&st, "absmax");
            if let Some(i) = (0..codes.len()).find(|&i| codes[i] != from_bnb_offset.codes[i]) {
                fail(format!("absmax code {i}: bnb {}, ours {}", codes[i], from_bnb_offset.codes[i]));
            }
            if dq.codes != from_bnb_offset.codes && same_value(offset, dq.offset) {
                fail("codes depend on something other than the offset".into());
            }
            let nested_absmax = f32_tensor(&st, "nested_absmax");
            if let Some((i, a, b)) = first_difference(&nested_absmax, &from_bnb_offset.nested_absmax) {
                fail(format!("nested_absmax[{i}]: bnb {a:e}, ours {b:e}"));
            }
            let nested_code = f32_tensor(&st, "nested_code");
            if let Some((i, a, b)) = first_difference(&nested_code, dynamic_map()) {
                fail(format!("nested_code[{i}]: bnb {a:e}, ours {b:e}"));
            }
            let absmax_dequant = f32_tensor(&st, "absmax_dequant");
            if let Some((i, a, b)) = first_difference(&absmax_dequant, &from_bnb_offset.absmax()) {
                fail(format!("rebuilt absmax[{i}]: bnb {a:e}, ours {b:e}"));
            }
        }
    }

    // Dequantization: the correct flat-block result, in the input dtype, compared flattened.
    let expected_name = if st.tensor("dequant_expected").is_ok() { "dequant_expected" } else { "dequant" };
    let (expected, _) = float_tensor(&st, expected_name);
    let ours = q.dequantize();
    if ours.dtype() != input.dtype() {
        fail(format!("dequantized dtype {:?}, expected {:?}", ours.dtype(), input.dtype()));
    }
    if let Some((i, a, b)) = first_difference(&expected.to_f32_vec(), &ours.to_f32_vec()) {
        fail(format!("{expected_name}[{i}]: bnb {a:e}, ours {b:e}"));
    }
    let reference =
        dequantize_blocks_reference(&q.packed, &q.state.absmax.to_f32(), blocksize, &q.state.code, q.numel());
    let ours_f32 = ours.to_f32_vec();
    if input.dtype() == quantbound_codebook::FloatDtype::F32 {
        if let Some((i, a, b)) = first_difference(&reference, &ours_f32) {
            fail(format!("reference dequant[{i}] {a:e} != fast {b:e}"));
        }
    }
    failures
}

#[test]
fn every_golden_case_is_bit_exact() {
    let manifest = manifest();
    let cases = manifest["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 107, "the golden set has 107 cases");
    let failures: Vec<String> = cases.iter().flat_map(check_case).collect();
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn golden_grid_covers_every_blocksize_dtype_and_type() {
    let manifest = manifest();
    let mut seen = std::collections::BTreeSet::new();
    for case in manifest["cases"].as_array().unwrap() {
        seen.insert((
            case["quant_type"].as_str().unwrap().to_owned(),
            case["blocksize"].as_u64().unwrap(),
            case["dtype"].as_str().unwrap().to_owned(),
        ));
    }
    for qt in ["nf4", "fp4"] {
        for bs in Blocksize::SUPPORTED {
            for dtype in ["float32", "float16", "bfloat16"] {
                assert!(seen.contains(&(qt.to_owned(), bs as u64, dtype.to_owned())), "{qt} {bs} {dtype}");
            }
        }
    }
}

/// The double-quant offset is torch's `absmax.mean()`: our emulation of torch's CPU summation
/// order gives its sums and means bit for bit (scripts/golden/torch_mean.py wrote the values).
#[test]
fn torch_mean_matches_torch() {
    let bytes = read(golden_dir().parent().unwrap().join("torch_mean.safetensors"));
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut checked = 0;
    for name in st.names() {
        let Some(n) = name.strip_prefix("x_") else { continue };
        let x = f32_tensor(&st, name);
        let sum = f32_tensor(&st, &format!("sum_{n}"))[0];
        let mean = f32_tensor(&st, &format!("mean_{n}"))[0];
        assert_eq!(quantbound_codebook::torch_sum(&x).to_bits(), sum.to_bits(), "sum of {n}");
        assert_eq!(quantbound_codebook::torch_mean(&x).to_bits(), mean.to_bits(), "mean of {n}");
        checked += 1;
    }
    assert_eq!(checked, 25);
}

/// bnb's NaN absmax, bit for bit, at every SIMD level: in the golden non-finite cases a full block
/// that holds a NaN stores that NaN's magnitude (0x7fc00000 here) and the partial last block stores
/// all ones (0xffffffff), as torch's clamp leaves it. The other tests compare NaN = NaN.
#[test]
fn nan_absmax_bits_are_bnbs_at_every_level() {
    let manifest = manifest();
    let cases: Vec<&serde_json::Value> = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["name"].as_str().unwrap().starts_with("nonfinite") && !c["compress_statistics"].as_bool().unwrap()
        })
        .collect();
    assert_eq!(cases.len(), 2, "nonfinite_nf4 and nonfinite_fp4");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let GoldenCase { bytes, input, shape, options } = golden_case(case);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let blocksize = options.blocksize;
        let expected: Vec<u32> = f32_tensor(&st, "absmax").iter().map(|a| a.to_bits()).collect();
        assert!(expected.contains(&0xffff_ffff) && expected.contains(&0x7fc0_0000), "{name}: {expected:x?}");
        let (_, reference) = quantize_blocks_reference(input.as_slice(), blocksize, &options.codebook);
        assert_eq!(reference.iter().map(|a| a.to_bits()).collect::<Vec<_>>(), expected, "{name}: reference");
        for level in quantbound_simd::SimdLevel::supported() {
            let q = quantbound_simd::with_level(level, || {
                Quantized4bit::quantize(name, input.as_slice(), &shape, &options)
            })
            .unwrap()
            .unwrap();
            let ours: Vec<u32> = q.state.absmax.to_f32().iter().map(|a| a.to_bits()).collect();
            assert_eq!(ours, expected, "{name}: level {level}");
        }
    }
}

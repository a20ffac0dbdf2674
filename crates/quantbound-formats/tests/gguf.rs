//! llama.cpp's block formats against gguf-py 0.19's quantizers and dequantizers
//! (tests/data/gguf_quants.json, made by scripts/formats/gguf_quants.py): every byte, and every
//! dequantized value bit for bit.

use quantbound_formats::{BnbSettings, FormatError, FormatName};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn bits(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u32).collect()
}

#[test]
fn block_formats_equal_gguf_py_byte_for_byte() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gguf_quants.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for case in cases {
        let (name, format) = (case["case"].as_str().unwrap(), case["format"].as_str().unwrap());
        let input: Vec<f32> = bits(&case["input"]).into_iter().map(f32::from_bits).collect();
        let format = FormatName::parse(format).unwrap().format(BnbSettings::default()).unwrap();
        let q = format.quantize(name, &input, &[input.len()]).unwrap();
        let expected = hex(case["bytes"].as_str().unwrap());
        let ours = q.as_ggml_bytes().unwrap();
        assert_eq!(q.storage_bytes(), expected.len());
        if ours != expected.as_slice() {
            let first = ours.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(0);
            failures.push(format!("{name} {}: bytes differ from byte {first}", format.name()));
        }
        let mut out = vec![0f32; input.len()];
        q.dequantize_into(&mut out).unwrap();
        let theirs = bits(&case["dequantized"]);
        if let Some(i) = out.iter().zip(&theirs).position(|(a, b)| a.to_bits() != *b) {
            failures.push(format!(
                "{name} {}: value {i} is {} not {}",
                format.name(),
                out[i],
                f32::from_bits(theirs[i])
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bits_per_weight_count_every_scale() {
    let bpw = |name: &str| FormatName::parse(name).unwrap().format(BnbSettings::default()).unwrap().bits_per_weight();
    // 32 codes of 4 bits plus an f16 scale; plus an f16 minimum; plus one E8M0 byte.
    assert_eq!(bpw("q4_0"), (32.0 * 4.0 + 16.0) / 32.0);
    assert_eq!(bpw("q4_1"), (32.0 * 4.0 + 32.0) / 32.0);
    assert_eq!(bpw("mxfp4"), (32.0 * 4.0 + 8.0) / 32.0);
    assert_eq!(bpw("nf4"), 4.5);
}

#[test]
fn bad_input_names_the_format_and_the_tensor() {
    let err = FormatName::parse("q3_k").unwrap_err().to_string();
    assert!(err.contains("q3_k") && err.contains("q4_0") && err.contains("nf4"), "{err}");
    let q4_0 = FormatName::Q4_0.format(BnbSettings::default()).unwrap();
    let err = q4_0.quantize("model.layers.0.mlp.down_proj.weight", &[0.0; 176 * 2], &[2, 176]).unwrap_err();
    assert!(matches!(err, FormatError::Unblockable { row: 176, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("down_proj") && text.contains("q4_0") && text.contains("176"), "{text}");
    let mut w = vec![0.5f32; 64];
    w[40] = f32::NAN;
    let err =
        FormatName::Mxfp4.format(BnbSettings::default()).unwrap().quantize("w", &w, &[64]).unwrap_err().to_string();
    assert!(err.contains("mxfp4") && err.contains("index 40") && err.contains("NaN"), "{err}");
}

/// Every GGUF block type quantbound reads, decoded from random block bytes, against gguf-py's
/// dequantization of the same bytes (tests/data/gguf_decode.json), bit for bit.
#[test]
fn every_block_type_decodes_as_gguf_py() {
    use quantbound_formats::ggml::BlockType;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gguf_decode.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(cases.len(), BlockType::ALL.len());
    for case in cases {
        let name = case["type"].as_str().unwrap();
        let ty = BlockType::ALL.into_iter().find(|t| t.name() == name).unwrap_or_else(|| panic!("{name}"));
        let bytes = hex(case["bytes"].as_str().unwrap());
        let expected = bits(&case["dequantized"]);
        let mut out = vec![0f32; expected.len()];
        ty.dequantize(&bytes, &mut out).unwrap();
        for (i, (a, b)) in out.iter().zip(&expected).enumerate() {
            assert_eq!(a.to_bits(), *b, "{name} weight {i}: {a} vs gguf-py {}", f32::from_bits(*b));
        }
        // A byte short is an error, not a panic.
        let err = ty.dequantize(&bytes[1..], &mut out).unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
}

//! llama.cpp's Q4_K, IQ4_NL, NVFP4, Q5_0 (Q4_K's fallback), Q4_0, Q4_1 and MXFP4 against ggml's own C quantizers and
//! dequantizers (tests/data/ggml_ref.json, made by scripts/formats/ggml_ref.py): every byte, and
//! every dequantized value bit for bit.

use quantbound_formats::ggml::BlockType;
use quantbound_formats::{BnbSettings, FormatName};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn bits(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u32).collect()
}

#[test]
fn block_formats_equal_ggml_c_reference_byte_for_byte() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ggml_ref.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 50);
    let mut failures = Vec::new();
    for case in cases {
        let (name, format) = (case["case"].as_str().unwrap(), case["format"].as_str().unwrap());
        let input: Vec<f32> = bits(&case["input"]).into_iter().map(f32::from_bits).collect();
        // Q5_0 is the format of Q4_K's fallback: a row of 32 weights is not a Q4_K super-block.
        let (format, shape) = match format {
            "q5_0" => ("q4_k", vec![input.len() / 32, 32]),
            other => (other, vec![input.len()]),
        };
        let format = FormatName::parse(format).unwrap().format(BnbSettings::default()).unwrap();
        let q = format.quantize(name, &input, &shape).unwrap();
        let expected = hex(case["bytes"].as_str().unwrap());
        let ours = q.as_ggml_bytes().unwrap();
        assert_eq!(q.storage_bytes(), expected.len(), "{name} {format:?}");
        if ours != expected.as_slice() {
            let first = ours.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(0);
            failures.push(format!(
                "{name} {} {shape:?}: bytes differ from byte {first}: {:02x?} vs {:02x?}",
                format.name(),
                &ours[first..(first + 8).min(ours.len())],
                &expected[first..(first + 8).min(ours.len())]
            ));
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
fn q4_k_falls_back_to_q5_0_where_a_row_is_not_whole_super_blocks() {
    let q4_k = FormatName::Q4K.format(BnbSettings::default()).unwrap();
    assert_eq!(q4_k.bits_per_weight(), 4.5);
    assert_eq!(q4_k.bits_per_weight_of(&[64, 512]), 4.5);
    // SmolLM2's hidden size, 576 = 2.25 super-blocks: Q5_0's 22 bytes per 32.
    assert_eq!(q4_k.bits_per_weight_of(&[64, 576]), 5.5);
    let w: Vec<f32> = (0..2 * 576).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
    let q = q4_k.quantize("w", &w, &[2, 576]).unwrap();
    assert_eq!(q.storage_bytes(), 2 * 576 / 32 * 22);
    // Still whole blocks of 32 required, naming the fallback's block.
    let err = q4_k.quantize("model.layers.0.mlp.up_proj.weight", &w[..2 * 100], &[2, 100]).unwrap_err().to_string();
    assert!(err.contains("up_proj") && err.contains("q4_k") && err.contains("32") && err.contains("100"), "{err}");
}

#[test]
fn bits_per_weight_of_the_new_block_types() {
    let bpw = |name: &str| FormatName::parse(name).unwrap().format(BnbSettings::default()).unwrap().bits_per_weight();
    // f16 d and dmin, 12 bytes of 6-bit scales and mins, 128 of codes per 256.
    assert_eq!(bpw("q4_k"), (2.0 * 16.0 + 12.0 * 8.0 + 256.0 * 4.0) / 256.0);
    assert_eq!(bpw("iq4_nl"), (16.0 + 32.0 * 4.0) / 32.0);
    // One UE4M3 byte per 16.
    assert_eq!(bpw("nvfp4_ggml"), (8.0 + 16.0 * 4.0) / 16.0);
    assert_eq!(BlockType::Q5_0.bits_per_weight(), (16.0 + 32.0 + 32.0 * 4.0) / 32.0);
}

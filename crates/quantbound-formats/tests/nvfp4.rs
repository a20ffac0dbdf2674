//! NVIDIA's NVFP4 against torchao's recipe run in numpy with ml_dtypes' E4M3 and E2M1 casts
//! (tests/data/nvfp4_ref.json, made by scripts/formats/nvfp4_ref.py): the per-tensor scale, every
//! scale byte and code byte, and every dequantized value bit for bit.

use quantbound_formats::nvfp4::Nvfp4;
use quantbound_formats::{BnbSettings, FormatName, Quantized};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn bits(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u32).collect()
}

#[test]
fn nvfp4_equals_the_torchao_recipe_bit_for_bit() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nvfp4_ref.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        let name = case["case"].as_str().unwrap();
        let input: Vec<f32> = bits(&case["input"]).into_iter().map(f32::from_bits).collect();
        let q = Nvfp4.quantize_tensor(name, &input, &[input.len()]).unwrap();
        assert_eq!(q.global.to_bits(), case["global"].as_u64().unwrap() as u32, "{name}: global scale");
        assert_eq!(q.scales, hex(case["scales"].as_str().unwrap()), "{name}: E4M3 scales");
        assert_eq!(q.codes, hex(case["codes"].as_str().unwrap()), "{name}: E2M1 codes");
        let mut out = vec![0f32; input.len()];
        q.dequantize_into(&mut out).unwrap();
        for (i, (a, b)) in out.iter().zip(bits(&case["dequantized"])).enumerate() {
            assert_eq!(a.to_bits(), b, "{name} weight {i}: {a} vs {}", f32::from_bits(b));
        }
    }
}

#[test]
fn nvfp4_counts_its_per_tensor_scale_and_refuses_partial_blocks() {
    let nvfp4 = FormatName::Nvfp4.format(BnbSettings::default()).unwrap();
    assert_eq!(nvfp4.bits_per_weight(), 4.5);
    assert_eq!(nvfp4.bits_per_weight_of(&[4, 16]), 4.5 + 32.0 / 64.0);
    let q = nvfp4.quantize("w", &[1.0; 64], &[4, 16]).unwrap();
    assert_eq!(q.storage_bytes(), 32 + 4 + 4);
    let err = nvfp4.quantize("model.layers.3.self_attn.o_proj.weight", &[1.0; 40], &[2, 20]).unwrap_err().to_string();
    assert!(err.contains("o_proj") && err.contains("nvfp4") && err.contains("16") && err.contains("20"), "{err}");
    // An all-zero tensor, whose reference divides 0 by 0, is zeros.
    let q = nvfp4.quantize("zeros", &[0.0; 32], &[32]).unwrap();
    let mut out = [1f32; 32];
    q.dequantize_into(&mut out).unwrap();
    assert!(out.iter().all(|&v| v == 0.0));
}

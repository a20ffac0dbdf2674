//! `mxfp4_ocp` against the OCP Microscaling reference library's rounding (microxcaling's
//! `_quantize_mx` for fp4_e2m1, written out in torch by scripts/formats/mxfp4_ocp_ref.py into
//! tests/data/mxfp4_ocp_ref.json): every dequantized value bit for bit, ±0 alike (the block has
//! no −0). ggml's `mxfp4` on the same inputs differs exactly where ties are.

use quantbound_formats::{BnbSettings, FormatName};

fn bits(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u32).collect()
}

fn round_trip(format: FormatName, input: &[f32]) -> Vec<f32> {
    let q = format.format(BnbSettings::default()).unwrap().quantize("w", input, &[input.len()]).unwrap();
    let mut out = vec![0f32; input.len()];
    q.dequantize_into(&mut out).unwrap();
    out
}

#[test]
fn mxfp4_ocp_equals_microxcaling_and_differs_from_ggml_on_ties() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/mxfp4_ocp_ref.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["case"].as_str().unwrap();
        let input: Vec<f32> = bits(&case["input"]).into_iter().map(f32::from_bits).collect();
        let ours = round_trip(FormatName::Mxfp4Ocp, &input);
        for (i, (a, b)) in ours.iter().zip(bits(&case["dequantized"])).enumerate() {
            let b = f32::from_bits(b);
            assert!(a.to_bits() == b.to_bits() || (*a == 0.0 && b == 0.0), "{name} weight {i}: {a} vs {b}");
        }
        let ggml = round_trip(FormatName::Mxfp4, &input);
        if name == "ties" {
            // 0.75 → 1 (OCP) vs 0.5 (ggml), 5 → 6 vs 4, …
            assert!(ours.iter().zip(&ggml).filter(|(a, b)| a != b).count() >= 24, "{name}");
        }
        if name.starts_with("normal") {
            assert_eq!(ours, ggml, "{name}: random weights meet no exact tie");
        }
    }
    assert_eq!(FormatName::Mxfp4Ocp.format(BnbSettings::default()).unwrap().bits_per_weight(), 4.25);
}

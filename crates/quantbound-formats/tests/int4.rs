//! INT4 against AutoAWQ 0.2.9's own `pseudo_quantize_tensor` run by torch on f16 weights
//! (tests/data/awq_int4.json, made by scripts/formats/awq_int4.py): every output value bit for
//! bit (±0 aside, below), for groups of 32, 64 and 128, with and without the zero-point.

use quantbound_formats::{BnbSettings, FormatName};

fn halves(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|b| half::f16::from_bits(b.as_u64().unwrap() as u16).to_f32()).collect()
}

#[test]
fn int4_equals_autoawq_bit_for_bit() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/awq_int4.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut failures = Vec::new();
    for case in golden["cases"].as_array().unwrap() {
        let (group, zero_point) = (case["group"].as_u64().unwrap(), case["zero_point"].as_bool().unwrap());
        let name = format!("int4{}_g{group}", if zero_point { "" } else { "sym" });
        let format = FormatName::parse(&name).unwrap().format(BnbSettings::default()).unwrap();
        let shape: Vec<usize> =
            case["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let input = halves(&case["input"]);
        let q = format.quantize("w", &input, &shape).unwrap();
        let mut out = vec![0f32; input.len()];
        q.dequantize_into(&mut out).unwrap();
        let expected = halves(&case["output"]);
        // AWQ's float simulation leaves a symmetric weight that rounds to 0 from below at −0; the
        // stored integer code cannot say so, and comes back +0 (as from AWQ's packed kernels).
        let same = |a: &f32, b: &f32| a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0 && !zero_point);
        if let Some(i) = out.iter().zip(&expected).position(|(a, b)| !same(a, b)) {
            failures.push(format!("{} {name}: value {i} is {} not {}", case["case"], out[i], expected[i]));
        }
        let groups = input.len() / group as usize;
        let zero_bytes = if zero_point { groups.div_ceil(2) } else { 0 };
        assert_eq!(q.storage_bytes(), input.len() / 2 + 2 * groups + zero_bytes);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn int4_bits_and_names() {
    let bpw = |name: &str| FormatName::parse(name).unwrap().format(BnbSettings::default()).unwrap().bits_per_weight();
    assert_eq!(bpw("int4"), 4.0 + 20.0 / 128.0);
    assert_eq!(bpw("int4_g32"), 4.625);
    assert_eq!(bpw("int4sym"), 4.125);
    let err = FormatName::Int4G128
        .format(BnbSettings::default())
        .unwrap()
        .quantize("model.layers.0.mlp.up_proj.weight", &[0.0, f32::NAN], &[1, 2])
        .unwrap_err();
    assert!(err.to_string().contains("int4_g128") && err.to_string().contains("up_proj"), "{err}");
}

/// A row that is not whole groups (the sample's 576 under groups of 128) ends in a shorter group,
/// as GPTQ cuts its columns: each row of 192 is a group of 128 then one of 64, quantized as those
/// groups alone are (whose rule the AutoAWQ golden test pins), and its scale is counted.
#[test]
fn int4_rows_end_in_a_short_group() {
    let format = |name: FormatName| name.format(BnbSettings::default()).unwrap();
    let weights: Vec<f32> = (0..384).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013 + (i / 192) as f32 * 0.4).collect();
    for (g128, g64) in [(FormatName::Int4G128, FormatName::Int4G64), (FormatName::Int4SymG128, FormatName::Int4SymG64)]
    {
        let mut ours = vec![0f32; 384];
        format(g128).quantize("w", &weights, &[2, 192]).unwrap().dequantize_into(&mut ours).unwrap();
        for (r, row) in weights.chunks(192).enumerate() {
            let (mut head, mut tail) = (vec![0f32; 128], vec![0f32; 64]);
            format(g128).quantize("w", &row[..128], &[128]).unwrap().dequantize_into(&mut head).unwrap();
            format(g64).quantize("w", &row[128..], &[64]).unwrap().dequantize_into(&mut tail).unwrap();
            let expected: Vec<u32> = head.iter().chain(&tail).map(|v| v.to_bits()).collect();
            let got: Vec<u32> = ours[r * 192..(r + 1) * 192].iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, expected, "{g128} row {r}");
        }
        let q = format(g128).quantize("w", &weights, &[2, 192]).unwrap();
        let group_bits = if g128 == FormatName::Int4G128 { 20.0 } else { 16.0 };
        assert_eq!(format(g128).bits_per_weight_of(&[2, 192]), 4.0 + group_bits * 2.0 / 192.0);
        assert_eq!(q.storage_bytes(), 192 + 2 * 4 + if group_bits == 20.0 { 2 } else { 0 });
    }
}

//! The sensitivity stage end to end on the tiny fixture: its single-layer path against
//! transformers' logits, and one linear type at a time against transformers doing the same.

mod common;

use std::path::Path;

use common::*;
use quantbound::codebook::{FloatSlice, QuantType, QuantizeOptions, Quantized4bit};
use quantbound::llama::backend::Cpu;
use quantbound::report::render::write_report;
use quantbound::report::{NoProgress, ReportOptions};
use safetensors::SafeTensors;

/// `--sensitivity linears`: each linear type quantized in every layer at once, against
/// transformers doing the same (tests/data/sensitivity/tiny.json); `--sensitivity off` runs
/// neither and writes no sensitivity plot.
#[test]
fn linear_type_sensitivity_matches_transformers_and_off_runs_none() {
    use quantbound::report::SensitivityMode;
    let bytes = std::fs::read(tiny().join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let options = ReportOptions { sensitivity: SensitivityMode::Linears, ..tiny_options(&reference) };
    let report = quantbound::report::run::<Cpu>(&options, &Default::default(), &NoProgress).unwrap();
    let sensitivity = report.sensitivity.as_ref().unwrap();
    assert_eq!(sensitivity.linears.len(), 7 * 2);
    let fixture = json_fixture("tiny.json");
    for expected in fixture["linears"].as_array().unwrap() {
        let (linear, format) = (expected["linear"].as_str().unwrap(), expected["format"].as_str().unwrap());
        let row = sensitivity.linears.iter().find(|r| r.linear.to_string() == linear && r.format.as_str() == format);
        let row = row.unwrap_or_else(|| panic!("{format} {linear}: no row"));
        let what = format!("{format} all {linear}");
        same_run(&what, part(&row.run), expected, 1e-3, 2e-5);
    }
    for (format, a) in &sensitivity.additivity {
        let sum: f64 = fixture["linears"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["format"] == format.as_str())
            .map(|r| r["kl_mean"].as_f64().unwrap())
            .sum();
        let ours = a.sum_kl_linear_types.unwrap();
        assert!((ours - sum).abs() <= 1e-3 * sum, "{format} Σ KL over linear types {ours} vs {sum}");
    }

    let off = ReportOptions { sensitivity: SensitivityMode::Off, ..options };
    let report = quantbound::report::run::<Cpu>(&off, &Default::default(), &NoProgress).unwrap();
    assert!(report.sensitivity.is_none() && !report.timings.contains_key("sensitivity"));
    assert!(report.layers.iter().all(|r| r.layer_kl_mean.is_none()));
    let dir = tempfile::tempdir().unwrap();
    write_report(&report, &dir.path().join("r"), false).unwrap();
    assert!(!dir.path().join("r/plots/sensitivity.svg").exists());
    let md = std::fs::read_to_string(dir.path().join("r/report.md")).unwrap();
    assert!(!md.contains("## Layer sensitivity") && md.contains("amplification (derived)"));
}

/// The sensitivity stage's path: only layer 1 quantized, run from the reference's residual stream
/// entering layer 1, gives the logits of transformers' model whose layer-1 linears were replaced
/// by bnb's dequantize(quantize_4bit(W)) (tests/data/sensitivity/tiny_layer1_nf4_logits).
#[test]
fn single_layer_logits_match_transformers() {
    use burn::tensor::{Int, Tensor, TensorData};
    use quantbound::llama::linear::Linear;
    use quantbound::llama::model::Llama;

    let device = Default::default();
    let bytes = std::fs::read(tiny().join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let (ids, mask) = (ints(&reference, "input_ids"), ints(&reference, "attention_mask"));
    let (batch, seq) = (4, ids.len() / 4);
    let model = Llama::<Cpu>::from_folder(&tiny(), &device, &|_, t| Ok(t)).unwrap();
    let options = QuantizeOptions::new(QuantType::Nf4.codebook());
    let layer1 = model
        .map_linears(|id, linear| {
            if id.layer != 1 {
                return Ok(linear.clone());
            }
            let name = id.tensor_name();
            let q =
                Quantized4bit::quantize(&name, FloatSlice::F32(&linear.weight_values()), &linear.shape(), &options)?;
            Linear::quantized(&q, &name, &device)
        })
        .unwrap();
    let tensor = |v: &[i64]| Tensor::<Cpu, 2, Int>::from_data(TensorData::new(v.to_vec(), [batch, seq]), &device);
    let (residuals, _) = model.forward_traced(tensor(&ids), tensor(&mask));
    assert_eq!(residuals.len(), 2);
    let logits: Vec<f32> = layer1.forward_from(1, residuals[1].clone(), tensor(&mask)).into_data().to_vec().unwrap();
    let whole: Vec<f32> = layer1.forward(tensor(&ids), tensor(&mask)).into_data().to_vec().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sensitivity/tiny_layer1_nf4_logits.safetensors");
    let expected_bytes = std::fs::read(path).unwrap();
    let expected = floats(&SafeTensors::deserialize(&expected_bytes).unwrap(), "logits");
    let mut worst = 0f32;
    for (position, &real) in mask.iter().enumerate() {
        if real == 1 {
            for v in position * 512..(position + 1) * 512 {
                worst = worst.max((logits[v] - expected[v]).abs());
                // Starting at layer 1 skips no arithmetic that differs: the same numbers.
                assert_eq!(logits[v], whole[v], "position {position}");
            }
        }
    }
    assert!(worst <= 1e-4, "max |Δlogit| {worst} against transformers");
}

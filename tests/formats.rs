//! The formats beyond bnb's through whole reports on the tiny fixture: llama.cpp's against
//! gguf-py's round trips in transformers, and the Hadamard rotation.

mod common;

use std::path::Path;

use common::*;
use quantbound::formats::FormatName;
use quantbound::llama::backend::Cpu;
use quantbound::report::{ModelSpec, NoProgress, ReportOptions};
use safetensors::SafeTensors;

/// llama.cpp's formats in the report: every linear's weight MSE equals gguf-py's round trip of
/// the same weights, and the function metrics those of transformers' model holding them
/// (tests/data/formats/tiny_ggml.json, from scripts/formats/tiny_ggml_logits.py), on the tiny
/// fixture whose rows are whole blocks of 32.
#[test]
fn llama_cpp_formats_match_gguf_py_and_transformers() {
    use quantbound::report::SensitivityMode;
    let dir = tiny().parent().unwrap().join("llama32_rope");
    let bytes = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let options = ReportOptions {
        model: ModelSpec::Folder(dir),
        formats: vec![FormatName::Q4_0, FormatName::Q4_1, FormatName::Mxfp4],
        sensitivity: SensitivityMode::Off,
        ..tiny_options(&reference)
    };
    let report = quantbound::report::run::<Cpu>(&options, &Default::default(), &NoProgress).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats/tiny_ggml.json");
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(report.layers.len(), 3 * 7 * 3);
    for row in &report.layers {
        let name = format!("model.layers.{}.{}.weight", row.layer, row.linear);
        close_to(
            &name,
            row.format.as_str(),
            row.mse,
            &fixture["formats"][row.format.as_str()]["weight_mse"][&name],
            1e-9,
        );
    }
    for (f, bits) in report.formats.iter().zip([4.5, 5.0, 4.25]) {
        let expected = &fixture["formats"][f.format.as_str()];
        let (what, m) = (f.format.as_str(), &f.metrics);
        assert_eq!(f.bits_per_weight, bits, "{what}");
        assert_eq!(report.seed.methods[&f.format].bits_per_weight, bits, "{what}");
        same_run(what, [m.logits_mse, m.kl_mean, m.delta_ce, m.top1_agreement], expected, 1e-3, 2e-5);
        // Each format has its gaps at its own rate.
        assert!(report.own_rate_gap(f.format).is_some(), "{what}");
    }
}

/// `--rotate hadamard`: each format quantizes the rotated rows and the error is measured back in
/// the original basis, which for an orthonormal rotation equals the error in the rotated basis
/// (Parseval); the rotated weights' β and KL are recorded; the model still runs.
#[test]
fn hadamard_rotation_measures_in_the_original_basis() {
    use quantbound::codebook::{FloatDtype, FloatVec};
    use quantbound::formats::rotation::Hadamard;
    use quantbound::formats::BnbSettings;
    use quantbound::report::{Rotation, SensitivityMode};
    let dir = tiny().parent().unwrap().join("llama32_rope");
    let bytes = std::fs::read(dir.join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let options = ReportOptions {
        model: ModelSpec::Folder(dir.clone()),
        formats: vec![FormatName::Nf4, FormatName::Q4_0],
        sensitivity: SensitivityMode::Off,
        rotate: Rotation::Hadamard,
        ..tiny_options(&reference)
    };
    let report = quantbound::report::run::<Cpu>(&options, &Default::default(), &NoProgress).unwrap();
    let model_bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let model = SafeTensors::deserialize(&model_bytes).unwrap();
    for row in &report.layers {
        let name = format!("model.layers.{}.{}.weight", row.layer, row.linear);
        let view = model.tensor(&name).unwrap();
        let shape = view.shape().to_vec();
        let dtype = match view.dtype() {
            safetensors::Dtype::F32 => FloatDtype::F32,
            safetensors::Dtype::F16 => FloatDtype::F16,
            _ => FloatDtype::Bf16,
        };
        let w = FloatVec::from_le_bytes(dtype, view.data()).unwrap().to_f32_vec();
        // The rotated basis: whatever signs the report drew, R is orthonormal, so the error there
        // is the error here; measure it with a rotation of our own (seed 1, index 0).
        let rotation = Hadamard { seed: 1 };
        let rotated = rotation.rotate(0, &w, shape[1]);
        assert!(rotated.iter().zip(&w).any(|(a, b)| a != b));
        let format = row.format.format(BnbSettings::default()).unwrap();
        assert!(row.rotated_ggd_beta.is_some() && row.rotated_kl_to_gauss_bits.is_some(), "{name}");
        // Not equal to the unrotated error: the format saw other values.
        let q = format.quantize(&name, &w, &shape).unwrap();
        let mut plain = vec![0f32; w.len()];
        q.dequantize_into(&mut plain).unwrap();
        let unrotated_mse =
            w.iter().zip(&plain).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>() / w.len() as f64;
        assert!(
            (row.mse - unrotated_mse).abs() > 1e-6 * unrotated_mse,
            "{name} {}: rotation changed nothing",
            row.format
        );
        // Parseval: the report's error, in the original basis, equals the error the format makes on
        // the rotated rows with the report's signs; check its size against ours (same distribution).
        let q = format.quantize(&name, &rotated, &shape).unwrap();
        let mut back = vec![0f32; w.len()];
        q.dequantize_into(&mut back).unwrap();
        let rotated_mse = rotated.iter().zip(&back).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>()
            / w.len() as f64;
        let mut original = back.clone();
        rotation.unrotate(0, &mut original, shape[1]);
        let original_mse =
            w.iter().zip(&original).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((original_mse / rotated_mse - 1.0).abs() < 1e-5, "{name}: Parseval {original_mse} vs {rotated_mse}");
        assert!((row.mse / rotated_mse - 1.0).abs() < 0.2, "{name} {}: {} vs {rotated_mse}", row.format, row.mse);
    }
    assert_eq!(report.settings.rotate, Rotation::Hadamard);
    for f in &report.formats {
        assert!(f.metrics.kl_mean.is_finite() && f.metrics.logits_mse > 0.0);
    }
    let md = quantbound::report::render::markdown(&report, &[]);
    assert!(md.contains("## Rotation"), "the report has its rotation section");
}

/// Q4_K on rows that are not whole 256-weight super-blocks: llama-quantize stores such a tensor as
/// Q5_0 (5.5 bits per weight), and the report does the same and says so beside the format. In
/// `llama32_rope` only `down_proj` (rows of 256) is Q4_K; in tests/data/candidates/base (every row
/// 256) all are, 4.5 bits, with no caveat. The seed tensor's gaps are taken at its own rate.
#[test]
fn q4_k_falls_back_to_q5_0_and_says_so() {
    use quantbound::report::SensitivityMode;
    let tiny_rope = tiny().parent().unwrap().join("llama32_rope");
    let bytes = std::fs::read(tiny_rope.join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/candidates/base");
    for (model, layer, caveat) in [(tiny_rope, 1, Some("18 of the 21 linears as Q5_0")), (base, 0, None)] {
        let options = ReportOptions {
            model: ModelSpec::Folder(model.clone()),
            formats: vec![FormatName::Q4K],
            sensitivity: SensitivityMode::Off,
            layer,
            ..tiny_options(&reference)
        };
        let report = quantbound::report::run::<Cpu>(&options, &Default::default(), &NoProgress).unwrap();
        let model_bytes = std::fs::read(model.join("model.safetensors")).unwrap();
        let weights = SafeTensors::deserialize(&model_bytes).unwrap();
        let (mut bits, mut numel) = (0.0, 0.0);
        for row in &report.layers {
            let shape =
                weights.tensor(&format!("model.layers.{}.{}.weight", row.layer, row.linear)).unwrap().shape().to_vec();
            let n = (shape[0] * shape[1]) as f64;
            bits += n * if shape[1] % 256 == 0 { 4.5 } else { 5.5 };
            numel += n;
        }
        let f = &report.formats[0];
        assert!((f.bits_per_weight - bits / numel).abs() < 1e-12, "{}: {}", model.display(), f.bits_per_weight);
        // The seed tensor, down_proj (rows of 256), is Q4_K itself: its gap is taken at 4.5 bits.
        assert_eq!(report.seed.methods[&FormatName::Q4K].bits_per_weight, 4.5);
        let gap = report.own_rate_gap(FormatName::Q4K).expect("a gap at the seed tensor's own rate");
        let row = report.layers.iter().find(|r| r.layer == layer && r.linear.to_string() == "mlp.down_proj").unwrap();
        assert_eq!(gap.weight_mse, row.mse);
        match caveat {
            Some(text) => assert!(f.caveat.as_deref().is_some_and(|c| c.contains(text)), "{:?}", f.caveat),
            None => assert_eq!(f.caveat, None),
        }
    }
}

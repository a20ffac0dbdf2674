//! End-to-end: a whole report on the tiny fixture model checked against numbers computed outside
//! the report (the codebook crate's quantization of the checkpoint's weights; transformers'
//! losses and logits stored in the fixture), a short report on the sample model, and the bad
//! inputs that must fail cleanly without leaving a report directory behind. The sensitivity
//! runs' own tests are in sensitivity.rs, the other formats' in formats.rs.

mod common;

use std::path::Path;

use common::*;
use quantbound::codebook::{FloatSlice, QuantizeOptions, Quantized4bit};
use quantbound::formats::FormatName;
use quantbound::llama::backend::Cpu;
use quantbound::report::render::write_report;
use quantbound::report::{ModelSpec, NoProgress, ReportOptions, Texts};
use safetensors::SafeTensors;

#[test]
fn tiny_report_matches_independent_computations() {
    let bytes = std::fs::read(tiny().join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let options = tiny_options(&reference);
    let report = quantbound::report::run::<Cpu>(&options, &Default::default(), &NoProgress).unwrap();

    // Weight MSE of every linear: quantize the checkpoint's own tensor with the codebook crate.
    let model_bytes = std::fs::read(tiny().join("model.safetensors")).unwrap();
    let model = SafeTensors::deserialize(&model_bytes).unwrap();
    assert_eq!(report.layers.len(), 2 * 7 * 2);
    for row in &report.layers {
        let name = format!("model.layers.{}.{}.weight", row.layer, row.linear);
        let view = model.tensor(&name).unwrap();
        let w = floats(&model, &name);
        let q = Quantized4bit::quantize(
            &name,
            FloatSlice::F32(&w),
            view.shape(),
            &QuantizeOptions::new(row.format.quant_type().unwrap().codebook()),
        )
        .unwrap();
        let wq = q.dequantize().to_f32_vec();
        let mse = w.iter().zip(&wq).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((row.mse - mse).abs() <= 1e-12 * mse, "{name} {}: {} vs {mse}", row.format, row.mse);
    }

    // ΔCE and logits MSE against transformers' (fixture) losses and logits.
    let mask = ints(&reference, "attention_mask");
    let logits = floats(&reference, "logits");
    for (format, key) in [(FormatName::Nf4, "nf4"), (FormatName::Fp4, "fp4")] {
        let result = report.formats.iter().find(|f| f.format == format).unwrap();
        let loss = f64::from(floats(&reference, "loss")[0]);
        let loss_q = f64::from(floats(&reference, &format!("loss_{key}"))[0]);
        let m = &result.metrics;
        assert!((m.ce_ref - loss).abs() < 2e-5, "CE ref {} vs transformers {loss}", m.ce_ref);
        assert!((m.delta_ce - (loss_q - loss)).abs() < 2e-5, "{format} ΔCE {} vs {}", m.delta_ce, loss_q - loss);
        let quantized = floats(&reference, &format!("logits_{key}"));
        let (mut se, mut n) = (0f64, 0usize);
        for (i, (a, b)) in logits.chunks(512).zip(quantized.chunks(512)).enumerate() {
            if mask[i] == 1 {
                se += a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>();
                n += 512;
            }
        }
        let expected = se / n as f64;
        assert!(
            (m.logits_mse - expected).abs() <= 1e-3 * expected,
            "{format} logits MSE {} vs {expected}",
            m.logits_mse
        );
        assert_eq!(m.scored_positions, (24 - 1) + (19 - 1) + (13 - 1) + (6 - 1));
        // The seed object carries the same numbers under the notebook's names.
        let seed = &report.seed.methods[&format];
        assert_eq!(seed.delta_ce, m.delta_ce);
        assert_eq!(seed.amplification, m.logits_mse / seed.weight_mse);
    }

    // Each layer quantized alone, against transformers running bnb's round trip of that layer
    // (tests/data/sensitivity/tiny.json): the metrics, and the sums and allocation run computed on
    // the host from transformers' logits.
    let fixture = json_fixture("tiny.json");
    let sensitivity = report.sensitivity.as_ref().expect("sensitivity is on by default");
    assert_eq!(sensitivity.layers.len(), 2 * 2);
    for expected in fixture["layers"].as_array().unwrap() {
        let (layer, format) = (expected["layer"].as_u64().unwrap() as usize, expected["format"].as_str().unwrap());
        let row = sensitivity.layers.iter().find(|r| r.layer == layer && r.format.as_str() == format).unwrap();
        let what = format!("{format} layer {layer}");
        same_run(&what, part(&row.run), expected, 1e-3, 2e-5);
        // The layer's weight MSE pools its seven linears, as quantized by the codebook crate above.
        let (se, n) = report
            .layers
            .iter()
            .filter(|r| r.layer == layer && r.format == row.format)
            .fold((0.0, 0usize), |(se, n), r| (se + r.mse * r.numel as f64, n + r.numel));
        assert!((row.run.weight_mse - se / n as f64).abs() <= 1e-12 * row.run.weight_mse, "{what} weight MSE");
        assert_eq!(row.run.amplification, row.run.logits_mse / row.run.weight_mse);
    }
    for (format, additivity) in &sensitivity.additivity {
        let key = format.as_str();
        let what = format!("{key} additivity");
        close_to(&what, "Σ KL", additivity.sum_kl, &fixture["sums"][key]["sum_kl"], 1e-3);
        close_to(&what, "full KL", additivity.full_kl, &fixture["full"][key]["kl_mean"], 1e-3);
        let sum_delta_ce = fixture["sums"][key]["sum_delta_ce"].as_f64().unwrap();
        assert!((additivity.sum_delta_ce - sum_delta_ce).abs() < 4e-5, "{what} Σ ΔCE {}", additivity.sum_delta_ce);
        let r2 = additivity.r2.expect("two formats give an R²");
        assert!(r2 <= 1.0 && r2.is_finite(), "{what} R² {r2}");
        // Two layers: k = 1 is the one allocation, and it is run for real.
        let kept = &fixture["kept"][key];
        let allocation = sensitivity.allocation.iter().find(|a| a.format == *format).unwrap();
        assert_eq!(allocation.k, 1);
        assert_eq!(allocation.kept_layers, vec![kept["kept_layers"][0].as_u64().unwrap() as usize], "{what}");
        close_to(&what, "k = 1 measured KL", allocation.measured_kl.unwrap(), &kept["kl_mean"], 1e-3);
    }

    // All four outputs, atomically, and refused over an existing directory without --force.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    write_report(&report, &out, false).unwrap();
    if let Some(keep) = std::env::var_os("QUANTBOUND_KEEP_TINY_REPORT") {
        write_report(&report, Path::new(&keep), true).unwrap();
    }
    for file in [
        "report.md",
        "report.json",
        "layers.csv",
        "plots/histogram.svg",
        "plots/rate_distortion.svg",
        "plots/layer_mse.svg",
        "plots/layer_amplification.svg",
        "plots/sensitivity.svg",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    for key in [
        "sigma",
        "d_shannon_gauss",
        "ggd",
        "mean_kl_to_gauss_bits",
        "h_gauss_bits",
        "h_ggd_bits",
        "h_ggd_bits_seed_formula",
        "bonus",
        "bonus_seed_formula",
        "bound_ggd_4",
        "bound_ggd_4_seed_formula",
        "ce_ref",
    ] {
        assert!(json["seed"].get(key).is_some(), "seed.{key}");
    }
    for key in [
        "weight_mse",
        "logits_mse",
        "delta_ce",
        "amplification",
        "gap_bits_vs_gauss",
        "gap_bits_vs_ggd",
        "ce",
        "mean_kl_nats",
        "top1_agreement",
    ] {
        assert!(json["seed"]["methods"]["nf4"].get(key).is_some(), "seed.methods.nf4.{key}");
    }
    let csv = std::fs::read_to_string(out.join("layers.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 28);
    let err = write_report(&report, &out, false).unwrap_err().to_string();
    assert!(err.contains("--force"), "{err}");
    write_report(&report, &out, true).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("report")], "no temporary directory is left");
}

#[test]
fn bad_inputs_fail_with_clear_errors() {
    let bytes = std::fs::read(tiny().join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let run = |options: &ReportOptions| {
        quantbound::report::run::<Cpu>(options, &Default::default(), &NoProgress).unwrap_err().to_string()
    };
    let err = run(&ReportOptions { formats: Vec::new(), ..tiny_options(&reference) });
    assert!(err.contains("no format") && err.contains("nf4"), "{err}");

    let err = run(&ReportOptions { layer: 2, ..tiny_options(&reference) });
    assert!(err.contains("--layer 2") && err.contains("2 layers"), "{err}");

    let err =
        run(&ReportOptions { texts: Texts::Lines(vec!["fine".into(), String::new()]), ..tiny_options(&reference) });
    assert!(err.contains("text 2") && err.contains("tokenizes to nothing"), "{err}");

    // The tiny model's down_proj rows (176 weights) are not whole blocks of llama.cpp's 32.
    let err = run(&ReportOptions { formats: vec![FormatName::Q4_0], ..tiny_options(&reference) });
    assert!(err.contains("q4_0") && err.contains("down_proj") && err.contains("176"), "{err}");

    let err = ModelSpec::parse("no/such/dir/model.gguf").unwrap_err().to_string();
    assert!(err.contains("model.gguf"), "{err}");
}

/// Repeated sequences are evaluated once and counted per occurrence: every function metric equals
/// the run that evaluates each copy. Not bit for bit: the copies sit in batches of other sizes
/// and paddings, and the GEMMs' rounding depends on the row count, which moves the undeduplicated
/// run's own numbers by as much when only --batch-size changes (~1e-8 relative here).
#[test]
fn deduplicated_texts_give_the_numbers_of_every_copy() {
    let bytes = std::fs::read(tiny().join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let base = tiny_options(&reference);
    let Texts::Tokens(four) = &base.texts else { unreachable!() };
    let repeated: Vec<Vec<u32>> = [0, 1, 0, 2, 1, 0, 3, 2, 0].iter().map(|&i| four[i].clone()).collect();
    let options = ReportOptions { texts: Texts::Tokens(repeated), batch_size: 3, ..base };
    let once = quantbound::report::run::<Cpu>(&options, &Default::default(), &NoProgress).unwrap();
    let every = quantbound::report::run::<Cpu>(
        &ReportOptions { deduplicate: false, ..options },
        &Default::default(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!((once.settings.sequences, once.settings.distinct_sequences), (9, 4));
    assert_eq!((every.settings.sequences, every.settings.distinct_sequences), (9, 9));
    assert_eq!(once.formats.len(), 2);
    let close =
        |what: &str, a: f64, b: f64| assert!((a - b).abs() <= 1e-6 * a.abs().max(b.abs()) + 1e-9, "{what}: {a} vs {b}");
    for (a, b) in once.formats.iter().map(|f| &f.metrics).zip(every.formats.iter().map(|f| &f.metrics)) {
        assert_eq!((a.scored_positions, a.real_positions), (b.scored_positions, b.real_positions));
        assert_eq!(a.scored_positions, 4 * (24 - 1) + 2 * (19 - 1) + 2 * (13 - 1) + (6 - 1));
        for (what, x, y) in [
            ("logits MSE", a.logits_mse, b.logits_mse),
            ("CE ref", a.ce_ref, b.ce_ref),
            ("CE", a.ce, b.ce),
            ("KL mean", a.kl_mean, b.kl_mean),
            ("KL max", a.kl_max, b.kl_max),
            ("top-1", a.top1_agreement, b.top1_agreement),
            ("rms Δp", a.rms_delta_p, b.rms_delta_p),
        ] {
            close(what, x, y);
        }
        assert!((a.delta_ce - b.delta_ce).abs() <= 1e-6, "ΔCE {} vs {}", a.delta_ce, b.delta_ce);
        for ((p, x), (_, y)) in a.kl_percentiles.iter().zip(&b.kl_percentiles) {
            close(&format!("KL p{p}"), *x, *y);
        }
    }
}

/// A short report on the sample model (CI fetches it; skipped, saying so, without it).
#[test]
fn short_sample_report() {
    let Ok(_) = quantbound::llama::sample::find() else {
        eprintln!("SKIPPED short_sample_report: run `cargo xtask fetch-sample`");
        return;
    };
    // Two sentences as transformers' tokenizer of the GGUF gives them (no bos).
    let fixture = json_fixture("smollm2_layer8.json");
    let sequences = fixture["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect())
        .collect();
    let options = ReportOptions {
        texts: Texts::Tokens(sequences),
        texts_label: "two sentences".into(),
        ..ReportOptions::seed(ModelSpec::Sample, "sample")
    };
    let report = quantbound::report::run::<Cpu>(&options, &Default::default(), &NoProgress).unwrap();
    // Layer 8 alone quantized, against transformers with bnb's round trip of that layer.
    let sensitivity = report.sensitivity.as_ref().unwrap();
    assert_eq!(sensitivity.layers.len(), 30 * 2);
    for (key, expected) in fixture["runs"].as_object().unwrap() {
        let row = sensitivity.layers.iter().find(|r| r.layer == 8 && r.format.as_str() == key).unwrap();
        let what = format!("SmolLM2 layer 8 {key}");
        same_run(&what, part(&row.run), expected, 2e-3, 1e-4);
    }
    assert_eq!(report.model.layers, 30);
    // The sample's weights are its GGUF's Q4_1 blocks, named as ggml names them, and every format
    // carries the caveat that this flatters it.
    assert_eq!(report.model.weight_dtypes.get("Q4_1"), Some(&210), "{:?}", report.model.weight_dtypes);
    assert!(report.formats.iter().all(|f| f.caveat.is_some()), "every format has the sample's caveat");
    assert_eq!(report.layers.len(), 30 * 7 * 2);
    let nf4 = &report.seed.methods[&FormatName::Nf4];
    let fp4 = &report.seed.methods[&FormatName::Fp4];
    // NF4 is the better 4-bit code for bell-shaped weights: lower weight MSE and less damage.
    assert!(nf4.weight_mse < fp4.weight_mse && nf4.mean_kl_nats < fp4.mean_kl_nats);
    // The seed's entropy formula understates h_ggd by (log2 e − 1)/β bits.
    let beta = report.seed.ggd.beta;
    let gap = report.seed.h_ggd_bits - report.seed.h_ggd_bits_seed_formula;
    assert!((gap - (std::f64::consts::LOG2_E - 1.0) / beta).abs() < 1e-9, "{gap}");
    // The seed's KL loop, per layer, against numpy and scipy running the notebook's cell on the
    // same weights (tests/data/smollm2_seed_kl.json): the 200k-weight subsample drawn exactly as
    // numpy draws it, and the all-weights value.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/smollm2_seed_kl.json");
    let numpy: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let values =
        |key: &str| -> Vec<f64> { numpy[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect() };
    let theory = &report.theory;
    for (ours, theirs, what) in [
        (&theory.down_proj_kl_bits_seed_sampling, values("seed_sampling"), "seed-sampled"),
        (&theory.down_proj_kl_bits, values("all_weights"), "all-weights"),
    ] {
        assert_eq!(ours.len(), 30);
        for (layer, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!((a - b).abs() <= 1e-9, "layer {layer} {what} KL: {a} vs numpy {b}");
        }
    }
    // Blahut–Arimoto on the fitted GGD's density, certified, never dips below its Shannon lower
    // bound up to 5 bits; on the weights themselves it may, by as much as the weights' entropy is
    // below their fit's (the bound uses the fit's), which is small.
    let slb = |rate: f64| quantbound::theory::bounds::shannon_lower_bound(theory.h_ggd_bits, rate);
    assert!(theory.blahut_arimoto_ggd.points.last().unwrap().rate > 4.98);
    for p in &theory.blahut_arimoto_ggd.points {
        assert!(
            p.distortion >= slb(p.rate),
            "GGD density R {}: D {} below the SLB {}",
            p.rate,
            p.distortion,
            slb(p.rate)
        );
    }
    for p in &theory.blahut_arimoto.points {
        assert!(
            p.distortion >= 0.99 * slb(p.rate),
            "weights R {}: D {} vs the SLB {}",
            p.rate,
            p.distortion,
            slb(p.rate)
        );
    }
    let mean = numpy["mean_seed_sampling"].as_f64().unwrap();
    assert!((report.seed.mean_kl_to_gauss_bits_seed_sampling - mean).abs() <= 1e-9);
    // NF4 device bytes: at most 0.3 × f16.
    let f = report.formats.iter().find(|f| f.format == FormatName::Nf4).unwrap();
    assert!((f.device_bytes as f64) <= 0.3 * f.f16_bytes as f64);
}

/// Keys whose values depend on the machine or the run, not on the numbers: skipped.
const RUN_DEPENDENT: [&str; 3] = ["timings", "resolved", "simd"];

/// Walks `expected` and checks `actual` holds every field with the same value; floats to `rel`
/// relative (the GEMMs round differently on CPUs with other vector widths). Fields `actual` adds
/// are allowed: a report may grow, but no number it had may change.
fn same_fields(
    path: &str,
    expected: &serde_json::Value,
    actual: &serde_json::Value,
    rel: f64,
    diffs: &mut Vec<String>,
) {
    use serde_json::Value;
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, value) in e {
                if RUN_DEPENDENT.contains(&key.as_str()) {
                    continue;
                }
                match a.get(key) {
                    Some(other) => same_fields(&format!("{path}.{key}"), value, other, rel, diffs),
                    None => diffs.push(format!("{path}.{key}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                same_fields(&format!("{path}[{i}]"), x, y, rel, diffs);
            }
        }
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            // With a tolerance at all, also an absolute 1e-7: ΔCE-like fields are differences of
            // nearly equal CEs, which a CPU's GEMM microkernel moves by a few 1e-8.
            let floor = if rel > 0.0 { 1e-7 } else { 0.0 };
            if (x - y).abs() > rel * x.abs().max(y.abs()) + floor {
                diffs.push(format!("{path}: {x} → {y}"));
            }
        }
        (e, a) if e != a => diffs.push(format!("{path}: {e} → {a}")),
        _ => {}
    }
}

/// The tiny fixture's report.json before the report crate was split into stages
/// (`tests/data/tiny_report.json`, see tests/README.md) against today's, field by field. Set
/// `QUANTBOUND_REPORT_TOLERANCE=0` to demand bit-equal numbers (true on the machine that wrote
/// the file). The default, 1e-5 relative plus 1e-7 absolute, is what the forward pass moves by on
/// another CPU: the `gemm` crate picks its own microkernels (AVX-512 or AVX2), and on an AVX-512
/// machine ΔCE moved by up to 7e-8 and the KL percentiles by up to 2.5e-6 relative.
#[test]
fn tiny_report_numbers_are_unchanged() {
    let bytes = std::fs::read(tiny().join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let report = quantbound::report::run::<Cpu>(&tiny_options(&reference), &Default::default(), &NoProgress).unwrap();
    // Through text, as the fixture was: serde_json's parse of a float is not always the nearest
    // double, but it is the same on both sides.
    let actual: serde_json::Value = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny_report.json");
    if std::env::var_os("QUANTBOUND_BLESS_REPORT").is_some() {
        let mut kept = actual.clone();
        for section in ["settings", "model"] {
            RUN_DEPENDENT.iter().for_each(|key| drop(kept[section].as_object_mut().unwrap().remove(*key)));
        }
        kept.as_object_mut().unwrap().remove("timings");
        std::fs::write(&path, serde_json::to_string_pretty(&kept).unwrap() + "\n").unwrap();
    }
    let expected: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let rel = std::env::var("QUANTBOUND_REPORT_TOLERANCE").map_or(1e-5, |v| v.parse().unwrap());
    let mut diffs = Vec::new();
    same_fields("report", &expected, &actual, rel, &mut diffs);
    assert!(diffs.is_empty(), "{} fields differ:\n{}", diffs.len(), diffs.join("\n"));
}

/// `--weights-only` on the tiny fixture gives the weight half of the full report bit for bit:
/// every format's bits per weight and weight MSE, every linear's row, and the seed tensor's
/// theory. (The full report's weight MSEs are checked against the codebook crate's quantization
/// of the checkpoint in `tiny_report_matches_independent_computations`.) It refuses candidates,
/// which need the forward passes.
#[test]
fn weights_only_report_is_the_full_reports_weight_half() {
    let bytes = std::fs::read(tiny().join("reference.safetensors")).unwrap();
    let reference = SafeTensors::deserialize(&bytes).unwrap();
    let options = ReportOptions {
        formats: vec![FormatName::Nf4, FormatName::Fp4, FormatName::Af4],
        sensitivity: quantbound::report::SensitivityMode::Off,
        ..tiny_options(&reference)
    };
    let full = quantbound::report::run::<Cpu>(&options, &Default::default(), &NoProgress).unwrap();
    let weights = quantbound::report::run_weights_only(&options, &NoProgress).unwrap();
    assert_eq!(weights.formats.len(), full.formats.len());
    for (w, f) in weights.formats.iter().zip(&full.formats) {
        assert_eq!(w.format, f.format);
        assert_eq!(w.bits_per_weight.to_bits(), f.bits_per_weight.to_bits(), "{}", f.format);
        assert_eq!(w.storage_bytes, f.storage_bytes, "{}", f.format);
        assert_eq!(w.seed_layer_weight_mse.to_bits(), f.seed_layer_weight_mse.to_bits(), "{}", f.format);
        assert_eq!(w.mean_weight_mse.to_bits(), f.mean_weight_mse.to_bits(), "{}", f.format);
    }
    assert_eq!(weights.layers.len(), full.layers.len());
    for (w, f) in weights.layers.iter().zip(&full.layers) {
        assert_eq!((w.layer, w.linear, w.format), (f.layer, f.linear, f.format));
        assert_eq!((w.weight_mse.to_bits(), w.sigma.to_bits()), (f.mse.to_bits(), f.sigma.to_bits()));
        assert_eq!(
            (w.ggd_beta.to_bits(), w.kl_to_gauss_bits.to_bits()),
            (f.ggd_beta.to_bits(), f.kl_to_gauss_bits.to_bits())
        );
    }
    let (wt, ft) = (&weights.theory, &full.theory);
    assert_eq!(wt.tensor, ft.tensor);
    assert_eq!((wt.sigma.to_bits(), wt.h_ggd_bits.to_bits()), (ft.sigma.to_bits(), ft.h_ggd_bits.to_bits()));
    assert_eq!(wt.rates.len(), ft.rates.len());
    for (w, f) in wt.rates.iter().zip(&ft.rates) {
        assert_eq!((w.rate.to_bits(), w.slb_ggd.to_bits()), (f.rate.to_bits(), f.slb_ggd.to_bits()));
        assert_eq!(w.blahut_arimoto.to_bits(), f.blahut_arimoto.to_bits());
    }
    // The dtypes of the decoder linears only (the full report counts every tensor it loads).
    assert!(weights.model.weight_dtypes.keys().eq(full.model.weight_dtypes.keys()));
    assert_eq!(weights.model.weight_dtypes.values().sum::<usize>(), 2 * 7);

    // Written as a report folder: report.json reads back, layers.csv has a row per linear and format.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("weights");
    quantbound::report::render::write_weights_report(&weights, &out, false).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["formats"].as_array().unwrap().len(), 3);
    assert_eq!(std::fs::read_to_string(out.join("layers.csv")).unwrap().lines().count(), 1 + 2 * 7 * 3);
    assert!(std::fs::read_to_string(out.join("report.md")).unwrap().contains("## Weight MSE"));

    let candidates = vec![("x".to_owned(), ModelSpec::Folder(tiny()))];
    let err = quantbound::report::run_weights_only(&ReportOptions { candidates, ..options }, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("--candidate"), "{err}");
}

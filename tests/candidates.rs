//! `--candidate`: models quantized elsewhere, scored against their base. The fixture
//! (tests/data/candidates, from scripts/formats/candidates.py) is a tiny random Llama, its
//! Q4_K_M-style GGUF made with ggml's C quantizers and its bnb-4bit NF4 checkpoint saved by
//! transformers, with each candidate's weight errors and transformers' logit metrics.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use quantbound::formats::FormatName;
use quantbound::llama::backend::Cpu;
use quantbound::report::{ModelSpec, NoProgress, ReportError, ReportOptions, SensitivityMode, Texts};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/candidates")
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data().join("expected.json")).unwrap()).unwrap()
}

/// The base with its sentences, scoring `candidates`.
fn options(candidates: Vec<(String, ModelSpec)>) -> ReportOptions {
    options_on(data().join("base"), candidates)
}

/// `model` as the reference, with the fixture's sentences, scoring `candidates`.
fn options_on(model: PathBuf, candidates: Vec<(String, ModelSpec)>) -> ReportOptions {
    let sentences =
        expected()["sentences"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    ReportOptions {
        layer: 0,
        formats: vec![FormatName::Nf4],
        sensitivity: SensitivityMode::Off,
        texts: Texts::Lines(sentences),
        texts_label: "the fixture's three sentences".into(),
        candidates,
        ..ReportOptions::seed(ModelSpec::Folder(model), "candidates")
    }
}

/// `candidate`'s linears and metrics against expected.json's.
fn matches_the_script(c: &quantbound::report::report::CandidateResult) {
    let expected = &expected()["candidates"][&c.candidate];
    for l in &c.linears {
        let name = format!("model.layers.{}.{}.weight", l.layer, l.linear);
        close_to(&c.candidate, &name, l.mse, &expected["weight_mse"][&name], 1e-9);
        assert_eq!(l.bits_per_weight, expected["bits"][&name].as_f64().unwrap(), "{} {name}", c.candidate);
    }
    let m = &c.metrics;
    same_run(&c.candidate, [m.logits_mse, m.kl_mean, m.delta_ce, m.top1_agreement], expected, 1e-3, 2e-5);
}

/// Both candidates read as stored (Q4_K, Q6_K and Q8_0 blocks; bnb NF4 with double quant), each
/// decoder linear's error equal to the script's, the stored bits counted per type, and the
/// function metrics those of transformers' base holding the candidate's values, on sentences the
/// GGUF's tokenizer must split as the base's tokenizer.json does.
#[test]
fn gguf_and_bnb_candidates_match_transformers() {
    let candidates = vec![
        ("q4_k_m.gguf".to_owned(), ModelSpec::Gguf(data().join("q4_k_m.gguf"))),
        ("bnb_nf4".to_owned(), ModelSpec::Folder(data().join("bnb_nf4"))),
    ];
    let report = quantbound::report::run::<Cpu>(&options(candidates), &Default::default(), &NoProgress).unwrap();
    assert_eq!(report.candidates.len(), 2);
    for c in &report.candidates {
        assert_eq!(c.linears.len(), 7, "{}", c.candidate);
        matches_the_script(c);
        // Weighted by each linear's size: k and v are 128 × 256, the others 256 × 256.
        let (mut bits, mut numel) = (0.0, 0.0);
        for l in &c.linears {
            let n = if matches!(l.linear.to_string().as_str(), "self_attn.k_proj" | "self_attn.v_proj") {
                0.5
            } else {
                1.0
            };
            bits += l.bits_per_weight * n;
            numel += n;
        }
        assert!((c.bits_per_weight - bits / numel).abs() < 1e-12, "{}: {} bits", c.candidate, c.bits_per_weight);
    }
    let gguf = &report.candidates[0].linear_dtypes;
    assert_eq!(gguf.get("Q4_K"), Some(&5), "{gguf:?}");
    assert_eq!(gguf.get("Q6_K"), Some(&2), "{gguf:?}");
    // The formats still run beside the candidates, on the same forward passes.
    assert_eq!(report.formats.len(), 1);
    // report.md gives each its row, with the gap at the seed tensor's own stored rate (ffn_down is
    // Q6_K in the GGUF, NF4 with double quant in the bnb checkpoint).
    let md = quantbound::report::render::markdown(&report, &[]);
    let section = &md[md.find("## Models quantized elsewhere").expect("a candidates section")..];
    assert!(section.contains("| `q4_k_m.gguf` | 5× Q4_K, 2× Q6_K |"), "{section}");
    assert!(section.contains("at R = 6.5625") && section.contains("at R = 4.1270"), "{section}");
}

/// A candidate of another architecture, or with another tokenizer, is refused by name.
#[test]
fn incompatible_candidates_are_refused() {
    let other = ("tied_gqa".to_owned(), ModelSpec::Folder(tiny()));
    let err = quantbound::report::run::<Cpu>(&options(vec![other]), &Default::default(), &NoProgress).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ReportError::Incompatible { .. }), "{message}");
    assert!(message.contains("tied_gqa") && message.contains("hidden size 64, not 256"), "{message}");

    // The base's weights with a tokenizer that has lost its merges.
    let dir = std::env::temp_dir().join(format!("quantbound-candidate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer_config.json"] {
        std::fs::copy(data().join("base").join(f), dir.join(f)).unwrap();
    }
    let mut tokenizer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data().join("base/tokenizer.json")).unwrap()).unwrap();
    tokenizer["model"]["merges"] = serde_json::json!([]);
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let retokenized = ("retokenized".to_owned(), ModelSpec::Folder(dir.clone()));
    let err = quantbound::report::run::<Cpu>(&options(vec![retokenized]), &Default::default(), &NoProgress);
    std::fs::remove_dir_all(&dir).unwrap();
    let message = err.unwrap_err().to_string();
    assert!(message.contains("retokenized") && message.contains("tokenizer differs"), "{message}");
}

/// A Llama-3-style GGUF (llama3 RoPE scaling, which convert_hf_to_gguf stores as a rope_freqs
/// tensor of divisors) against its HF original (the same scaling as config.json's parameters):
/// accepted, and its metrics those of transformers, which applies the scaling from the config.
#[test]
fn a_llama3_gguf_carries_its_rope_scaling() {
    let original = tiny().parent().unwrap().join("llama32_rope");
    let candidate = ("llama3_rope_q8_0.gguf".to_owned(), ModelSpec::Gguf(data().join("llama3_rope_q8_0.gguf")));
    let report =
        quantbound::report::run::<Cpu>(&options_on(original, vec![candidate]), &Default::default(), &NoProgress)
            .unwrap();
    let c = &report.candidates[0];
    assert_eq!(c.linears.len(), 21);
    assert_eq!(c.linear_dtypes.get("Q8_0"), Some(&21), "{:?}", c.linear_dtypes);
    matches_the_script(c);
}

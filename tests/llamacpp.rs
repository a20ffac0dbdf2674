//! `--ppl-mode llama-cpp` against llama.cpp's own `llama-perplexity` output
//! (tests/data/llamacpp, from scripts/llamacpp/make_fixture.py): a tiny F32 Llama GGUF, a short
//! document in 64-token chunks, and the model with every decoder linear through Q4_0. The report
//! quantizes with its own (ggml bit-exact) Q4_0, so the same two models run on both sides.
//!
//! llama.cpp ran with `-fa off -ctk f32 -ctv f32`, an all-f32 forward like ours (its default
//! rounds K and V to f16). Each figure must agree with llama.cpp's to the decimals it prints, give
//! or take what two f32 forwards of the same model differ by; the KLD run's base side also
//! carries llama.cpp's 16-bit storage of the base log-probabilities (a step of ≤ 2.4e-4 nats),
//! which the slack of those figures covers.

use std::path::{Path, PathBuf};

use quantbound::formats::FormatName;
use quantbound::llama::backend::Cpu;
use quantbound::llama::model::Llama;
use quantbound::metrics::LogitMetrics;
use quantbound::report::{ModelSpec, NoProgress, PplMode, ReportOptions, SensitivityMode, Texts};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/llamacpp")
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data().join("expected.json")).unwrap()).unwrap()
}

fn document() -> String {
    std::fs::read_to_string(data().join("document.txt")).unwrap()
}

/// `ours` equals llama.cpp's printed `theirs` (a number printed with `decimals` decimals) to
/// within half its last digit, plus `slack`.
fn agrees(what: &str, ours: f64, theirs: &serde_json::Value, decimals: i32, slack: f64) {
    let theirs = theirs.as_f64().unwrap_or_else(|| panic!("{what}: no such figure in expected.json"));
    let tolerance = 0.5 * 10f64.powi(-decimals) + slack;
    eprintln!(
        "{what}: ours {ours:.7}, llama.cpp {theirs}, |Δ| {:.2e} (tolerance {tolerance:.1e})",
        (ours - theirs).abs()
    );
    assert!((ours - theirs).abs() <= tolerance, "{what}: ours {ours}, llama.cpp {theirs} (tolerance {tolerance})");
}

#[test]
fn the_gguf_tokenizer_gives_llama_cpps_ids() {
    let (_, tokenizer) =
        Llama::<Cpu>::from_gguf_file_with_tokenizer(&data().join("tiny_f32.gguf"), &Default::default(), &|_, t| Ok(t))
            .unwrap();
    let ids: Vec<u32> =
        expected()["token_ids_with_bos"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    assert_eq!(tokenizer.encode(&document(), true).unwrap(), ids);
    // The chunks: 29 of 64 from those ids, BOS first in each; a trailing newline is dropped, as
    // llama-perplexity's `-f` drops it.
    let chunks = |text: String| Texts::Document(text).tokenize(&tokenizer, 64, PplMode::LlamaCpp).unwrap();
    let expected: Vec<Vec<u32>> = ids[..29 * 64].chunks(64).map(|c| [&[ids[0]][..], &c[1..]].concat()).collect();
    assert_eq!(chunks(document()), expected);
    assert_eq!(chunks(document() + "\n"), expected);
}

#[test]
fn llama_cpp_mode_gives_llama_perplexitys_figures() {
    let expected = expected();
    let options = ReportOptions {
        layer: 0,
        formats: vec![FormatName::Q4_0],
        sensitivity: SensitivityMode::Off,
        texts: Texts::Document(document()),
        texts_label: "the fixture's document".into(),
        ppl_mode: PplMode::LlamaCpp,
        max_length: expected["n_ctx"].as_u64().unwrap() as usize,
        ..ReportOptions::seed(ModelSpec::Gguf(data().join("tiny_f32.gguf")), "tiny_f32.gguf")
    };
    let report = quantbound::report::run::<Cpu>(&options, &Default::default(), &NoProgress).unwrap();
    let m: &LogitMetrics = &report.formats[0].metrics;

    // 29 chunks of 64, 31 positions scored in each.
    assert_eq!(report.settings.sequences as u64, expected["n_chunk"].as_u64().unwrap());
    assert_eq!(m.scored_positions as u64, expected["n_scored"].as_u64().unwrap());

    // The plain runs: PPL printed with 4 decimals, its error with 5. Two f32 forwards of this
    // model differ by ~4e-8 relative in PPL.
    let runs = &expected["runs"];
    let forward = |x: f64| 1e-7 * x.abs();
    agrees("PPL(base)", m.ppl_ref, &runs["ppl_base_f32attn"]["ppl"], 4, forward(m.ppl_ref));
    agrees("PPL(base) error", m.errors.ppl_ref, &runs["ppl_base_f32attn"]["ppl_err"], 5, forward(m.ppl_ref));
    agrees("PPL(Q4_0)", m.ppl, &runs["ppl_q4_0_f32attn"]["ppl"], 4, forward(m.ppl));
    agrees("PPL(Q4_0) error", m.errors.ppl, &runs["ppl_q4_0_f32attn"]["ppl_err"], 5, forward(m.ppl));

    // The KLD run (6 decimals; Δp and same-top as percentages with 3). Its base figures come from
    // the 16-bit log-probabilities: PPL(base) there is 1879.4131 where the plain run's is 1879.4146
    // (8e-7 relative). A single position's KLD moves by up to ~1e-5 with them, so the maximum,
    // minimum and percentiles get that much.
    let kld = &runs["kld_f32attn"];
    let stored = |x: f64| 1e-6 * x.abs();
    agrees("Mean PPL(Q)", m.ppl, &kld["ppl_q"], 6, forward(m.ppl));
    agrees("Mean PPL(Q) error", m.errors.ppl, &kld["ppl_q_err"], 6, forward(m.ppl));
    agrees("Mean PPL(base)", m.ppl_ref, &kld["ppl_base"], 6, stored(m.ppl_ref));
    agrees("Mean PPL(base) error", m.errors.ppl_ref, &kld["ppl_base_err"], 6, stored(m.ppl_ref));
    agrees("Cor(ln PPL(Q), ln PPL(base)) %", 100.0 * m.nll_correlation, &kld["cor_ln_ppl_pct"], 2, 0.0);
    agrees("Mean ln(PPL(Q)/PPL(base))", m.delta_ce, &kld["ln_ppl_ratio"], 6, 2e-6);
    agrees("its error", m.errors.delta_ce, &kld["ln_ppl_ratio_err"], 6, 1e-6);
    agrees("Mean PPL(Q)/PPL(base)", m.ppl_ratio, &kld["ppl_ratio"], 6, 2e-6);
    agrees("its error", m.errors.ppl_ratio, &kld["ppl_ratio_err"], 6, 1e-6);
    agrees("Mean PPL(Q)-PPL(base)", m.ppl - m.ppl_ref, &kld["ppl_diff"], 6, stored(m.ppl_ref) + forward(m.ppl));
    agrees("its error", m.errors.ppl_difference, &kld["ppl_diff_err"], 6, forward(m.ppl));
    agrees("Mean KLD", m.kl_mean, &kld["kld_mean"], 6, 2e-6);
    agrees("Mean KLD error", m.errors.kl_mean, &kld["kld_mean_err"], 6, 1e-6);
    agrees("Maximum KLD", m.kl_max, &kld["kld_max"], 6, 2e-5);
    agrees("Minimum KLD", m.kl_min, &kld["kld_min"], 6, 2e-5);
    for &(p, value) in &m.kl_percentiles {
        let key = if p == 50.0 { "kld_median".to_owned() } else { format!("kld_p{p:.1}") };
        if !kld[&key].is_null() {
            agrees(&format!("{p}% KLD"), value, &kld[&key], 6, 2e-5);
        }
    }
    let pct = |x: f64| 100.0 * x;
    agrees("Mean Δp %", pct(m.delta_p_mean), &kld["dp_mean_pct"], 3, 1e-4);
    agrees("Mean Δp error %", pct(m.errors.delta_p_mean), &kld["dp_mean_err_pct"], 3, 1e-4);
    agrees("Maximum Δp %", pct(m.delta_p_max), &kld["dp_max_pct"], 3, 1e-3);
    agrees("Minimum Δp %", pct(m.delta_p_min), &kld["dp_min_pct"], 3, 1e-3);
    for &(p, value) in &m.delta_p_percentiles {
        let key = if p == 50.0 { "dp_median_pct".to_owned() } else { format!("dp_p{p:.1}_pct") };
        agrees(&format!("{p}% Δp %"), pct(value), &kld[&key], 3, 1e-3);
    }
    agrees("RMS Δp %", pct(m.rms_delta_p), &kld["dp_rms_pct"], 3, 1e-4);
    agrees("RMS Δp error %", pct(m.errors.rms_delta_p), &kld["dp_rms_err_pct"], 3, 1e-4);
    agrees("Same top p %", pct(m.top1_agreement), &kld["same_top_pct"], 3, 0.0);
    agrees("Same top p error %", pct(m.errors.top1_agreement), &kld["same_top_err_pct"], 3, 0.0);
}

#[test]
fn llama_cpp_mode_refuses_what_llama_perplexity_refuses() {
    let options = |texts: Texts, max_length: usize| ReportOptions {
        layer: 0,
        formats: vec![FormatName::Q4_0],
        sensitivity: SensitivityMode::Off,
        texts,
        ppl_mode: PplMode::LlamaCpp,
        max_length,
        ..ReportOptions::seed(ModelSpec::Gguf(data().join("tiny_f32.gguf")), "tiny_f32.gguf")
    };
    let run = |o: &ReportOptions| quantbound::report::run::<Cpu>(o, &Default::default(), &NoProgress).unwrap_err();
    // 1864 tokens: n_ctx 1024 needs 2048.
    let err = run(&options(Texts::Document(document()), 1024)).to_string();
    assert!(err.contains("1864 tokens") && err.contains("at least 2048"), "{err}");
    let err = run(&options(Texts::Lines(vec!["a line".into()]), 64)).to_string();
    assert!(err.contains("--text-file"), "{err}");
}

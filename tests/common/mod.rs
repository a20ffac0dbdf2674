//! What the end-to-end tests share: the tiny fixture, its tensors and report options, and the
//! comparison of a run's numbers with the fixtures' (tests/data, see tests/README.md).
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};

use quantbound::report::{ModelSpec, ReportOptions, Texts};
use safetensors::SafeTensors;

pub fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/quantbound-llama/tests/data/tiny_llama/tied_gqa")
}

pub fn ints(st: &SafeTensors<'_>, name: &str) -> Vec<i64> {
    st.tensor(name).unwrap().data().chunks(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
}

pub fn floats(st: &SafeTensors<'_>, name: &str) -> Vec<f32> {
    st.tensor(name).unwrap().data().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

/// A JSON file of tests/data/sensitivity (scripts/sensitivity/single_layer.py's output).
pub fn json_fixture(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sensitivity").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `ours` within `rel` (relative) of the fixture's number `theirs`.
pub fn close_to(what: &str, name: &str, ours: f64, theirs: &serde_json::Value, rel: f64) {
    let theirs = theirs.as_f64().unwrap();
    assert!((ours - theirs).abs() <= rel * theirs.abs() + 1e-9, "{what} {name}: {ours} vs transformers {theirs}");
}

/// A run's logits MSE and KL mean within `rel`, its ΔCE within `delta_ce` (absolute) and its top-1
/// agreement exactly, against the fixture's numbers for the same run.
pub fn same_run(what: &str, run: [f64; 4], expected: &serde_json::Value, rel: f64, delta_ce: f64) {
    let [logits_mse, kl_mean, dce, top1] = run;
    eprintln!("{what}: logits MSE {logits_mse} KL {kl_mean} ΔCE {dce} top-1 {top1}");
    close_to(what, "logits MSE", logits_mse, &expected["logits_mse"], rel);
    close_to(what, "KL mean", kl_mean, &expected["kl_mean"], rel);
    let theirs = expected["delta_ce"].as_f64().unwrap();
    assert!((dce - theirs).abs() < delta_ce, "{what} ΔCE {dce} vs transformers {theirs}");
    assert_eq!(top1, expected["top1_agreement"].as_f64().unwrap(), "{what} top-1");
}

/// A part run's four numbers, as [`same_run`] takes them.
pub fn part(run: &quantbound::report::report::PartRun) -> [f64; 4] {
    [run.logits_mse, run.kl_mean, run.delta_ce, run.top1_agreement]
}

/// The fixture's four sequences at their real lengths, and the tiny model's options.
pub fn tiny_options(reference: &SafeTensors<'_>) -> ReportOptions {
    let ids = ints(reference, "input_ids");
    let lengths = ints(reference, "lengths");
    let seq = ids.len() / lengths.len();
    let sequences = lengths
        .iter()
        .enumerate()
        .map(|(b, &n)| ids[b * seq..b * seq + n as usize].iter().map(|&v| v as u32).collect())
        .collect();
    ReportOptions {
        layer: 1,
        texts: Texts::Tokens(sequences),
        texts_label: "the fixture's four sequences".into(),
        ..ReportOptions::seed(ModelSpec::Folder(tiny()), "tiny_llama/tied_gqa")
    }
}

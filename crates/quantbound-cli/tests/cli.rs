//! The `quantbound quantize | dequantize | inspect | fit | report --candidate` commands, run as a user runs them, and the
//! `QUANTBOUND_SIMD` check every command makes first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn golden(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/quantbound-codebook/tests/data/bnb4bit").join(path)
}

fn quantbound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantbound")).args(args).output().expect("quantbound runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Files in `dir` other than the expected ones: a failed run must leave no temporary behind.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

const LINEARS: &str = r"layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight$";

#[test]
fn quantize_matches_transformers_and_writes_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.safetensors");
    let input = golden("tiny_llama_fp32/model.safetensors");
    let run = quantbound(&[
        "quantize",
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--double-quant",
        "--only",
        LINEARS,
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(golden("tiny_llama_bnb4bit_nf4_dq/model.safetensors")).unwrap()
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(golden("tiny_llama_bnb4bit_nf4_dq/config.json")).unwrap()).unwrap();
    assert_eq!(config["quantization_config"], expected["quantization_config"]);

    let dense = dir.path().join("dense.safetensors");
    let run = quantbound(&["dequantize", "--input", out.to_str().unwrap(), "--output", dense.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("dequantized 7 tensors, copied 5"), "{}", text(&run));

    let run = quantbound(&["inspect", out.to_str().unwrap(), "--tensor", "model.layers.0.mlp.down_proj.weight"]);
    let shown = text(&run);
    assert!(run.status.success(), "{shown}");
    for expected in
        ["shape       [64, 128]", "quant_type  nf4", "blocksize   64", "offset", "0x27  0010 0111   2 → -0.525073"]
    {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
}

#[test]
fn bad_input_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    let truncated = dir.path().join("truncated.safetensors");
    let bytes = std::fs::read(golden("tiny_llama_fp32/model.safetensors")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let checkpoint = golden("tiny_llama_bnb4bit_nf4_dq/model.safetensors");
    let cases: [(&[&str], &str); 5] = [
        (
            &["quantize", "--input", truncated.to_str().unwrap(), "--output", out.to_str().unwrap()],
            "truncated.safetensors",
        ),
        (
            &["dequantize", "--input", truncated.to_str().unwrap(), "--output", out.to_str().unwrap()],
            "truncated.safetensors",
        ),
        (
            &[
                "quantize",
                "--input",
                truncated.to_str().unwrap(),
                "--output",
                out.to_str().unwrap(),
                "--blocksize",
                "100",
            ],
            "blocksize 100",
        ),
        (
            &[
                "quantize",
                "--input",
                truncated.to_str().unwrap(),
                "--output",
                out.to_str().unwrap(),
                "--quant-type",
                "int4",
            ],
            "int4",
        ),
        (&["inspect", checkpoint.to_str().unwrap(), "--tensor", "nope"], "nope"),
    ];
    for (args, expected) in cases {
        let run = quantbound(args);
        assert!(!run.status.success(), "{args:?} succeeded");
        assert!(text(&run).contains(expected), "{args:?}: {}", text(&run));
        assert_eq!(leftovers(dir.path()), vec!["truncated.safetensors".to_owned()], "{args:?}");
    }
}

#[test]
fn fit_writes_the_documented_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("fit.json");
    let input = golden("tiny_llama_fp32/model.safetensors");
    let run = quantbound(&[
        "fit",
        "--input",
        input.to_str().unwrap(),
        "--only",
        r"mlp\.down_proj",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let out: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let entry = &out["model.layers.0.mlp.down_proj.weight"];
    for field in [
        "sigma",
        "beta",
        "loc",
        "scale",
        "loglik",
        "h_gauss_bits",
        "h_ggd_bits",
        "d_gauss_r4",
        "d_slb_ggd_r4",
        "kl_to_gauss_bits",
    ] {
        assert!(entry[field].as_f64().is_some_and(f64::is_finite), "{field} in {entry}");
    }
    assert_eq!(out.as_object().unwrap().len(), 1);
    // σ against a plain two-pass computation on the same tensor.
    let bytes = std::fs::read(&input).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let x: Vec<f32> = st
        .tensor("model.layers.0.mlp.down_proj.weight")
        .unwrap()
        .data()
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64;
    let sigma = (x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    assert!((entry["sigma"].as_f64().unwrap() / sigma - 1.0).abs() < 1e-12);
    // D(R) = σ²·2^(−8) at R = 4.
    assert!((entry["d_gauss_r4"].as_f64().unwrap() / (sigma * sigma / 256.0) - 1.0).abs() < 1e-12);
}

/// An unknown `QUANTBOUND_SIMD`, or a level this CPU lacks, stops any task with an error that
/// names the levels; it never runs other code in their place.
#[test]
fn bad_simd_levels_are_refused_by_name() {
    let run = |value: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_quantbound"))
            .args(["fit", "--input", "missing.safetensors"])
            .env("QUANTBOUND_SIMD", value)
            .output()
            .expect("quantbound runs");
        assert!(!output.status.success(), "QUANTBOUND_SIMD={value} ran");
        text(&output)
    };
    let unknown = run("sse9");
    assert!(unknown.contains("unknown SIMD level \"sse9\"") && unknown.contains("avx2"), "{unknown}");
    assert!(!unknown.contains("missing.safetensors"), "the task ran: {unknown}");
    // A level of the other architecture is never available.
    let foreign = if cfg!(target_arch = "x86_64") { "neon" } else { "avx2" };
    let lacking = run(foreign);
    assert!(lacking.contains(&format!("cannot run the {foreign} level")) && lacking.contains("scalar"), "{lacking}");
}

/// `report --candidate`, repeated, as a user runs it on the repo's candidate fixture: both
/// candidates in report.json and report.md; one of another architecture stops the run, naming
/// it, before anything is written.
#[test]
fn report_scores_candidates_and_refuses_a_stranger() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/candidates");
    let dir = tempfile::tempdir().unwrap();
    let texts = dir.path().join("texts.txt");
    std::fs::write(&texts, "The capital of France is Paris.\nRust is a systems language.\n").unwrap();
    let out = dir.path().join("report");
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let base = path(&data.join("base"));
    let (gguf, bnb, texts_arg, out_arg) =
        (path(&data.join("q4_k_m.gguf")), path(&data.join("bnb_nf4")), path(&texts), path(&out));
    let common = ["report", "--model", &base, "--layer", "0", "--formats", "nf4", "--sensitivity", "off"];
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--texts", &texts_arg, "--candidate", &gguf, "--candidate", &bnb, "--out", &out_arg]);
    let run = quantbound(&args);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("5×Q4_K, 2×Q6_K"), "{}", text(&run));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let names: Vec<&str> =
        report["candidates"].as_array().unwrap().iter().map(|c| c["candidate"].as_str().unwrap()).collect();
    assert_eq!(names, [gguf.as_str(), bnb.as_str()]);
    assert!(std::fs::read_to_string(out.join("report.md")).unwrap().contains("## Models quantized elsewhere"));

    let stranger = path(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/quantbound-llama/tests/data/tiny_llama/tied_gqa"),
    );
    let refused = dir.path().join("refused");
    let refused_arg = path(&refused);
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--texts", &texts_arg, "--candidate", &stranger, "--out", &refused_arg]);
    let run = quantbound(&args);
    assert!(!run.status.success() && run.status.code() != Some(101), "{}", text(&run));
    assert!(
        text(&run).contains("tied_gqa") && text(&run).contains("not a quantization of the reference"),
        "{}",
        text(&run)
    );
    assert!(!refused.exists(), "a refused run wrote {}", refused.display());
}

/// `quantize` and `dequantize` on a sharded checkpoint (the tiny model's f16 weights in three
/// shards, saved by transformers): a folder with a shard of the same name for each input shard
/// and an index that lists every tensor written; each shard equal to the single-file conversion
/// of its input shard; the folder loading, through its index, as a pre-quantized bnb-4bit model;
/// and dequantizing it giving dense shards with each weight back in f16.
#[test]
fn sharded_checkpoints_convert_shard_by_shard() {
    use quantbound_llama::backend::Cpu;
    use quantbound_llama::model::Llama;

    let sharded =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/quantbound-llama/tests/data/tiny_llama/sharded");
    let dir = tempfile::tempdir().unwrap();
    let (quantized, dense) = (dir.path().join("nf4"), dir.path().join("dense"));
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let run = quantbound(&[
        "quantize",
        "--input",
        &path(&sharded),
        "--output",
        &path(&quantized),
        "--double-quant",
        "--only",
        LINEARS,
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("quantized 14 tensors, copied 6"), "{}", text(&run));

    // The index lists exactly what each shard holds, and the data bytes.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(quantized.join("model.safetensors.index.json")).unwrap()).unwrap();
    let weight_map = index["weight_map"].as_object().unwrap();
    let (mut listed, mut data_bytes) = (0, 0);
    for i in 1..=3 {
        let shard = format!("model-0000{i}-of-00003.safetensors");
        let bytes = std::fs::read(quantized.join(&shard)).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for name in st.names() {
            assert_eq!(weight_map[name], shard.as_str(), "{name}");
            data_bytes += st.tensor(name).unwrap().data().len();
            listed += 1;
        }
    }
    assert_eq!(listed, weight_map.len());
    assert_eq!(index["metadata"]["total_size"], data_bytes);
    assert!(std::fs::read_to_string(quantized.join("config.json")).unwrap().contains("quantization_config"));

    // Each shard is what quantizing that shard's file alone gives (the single-file path, byte for
    // byte transformers' own bnb-4bit checkpoint in `quantize_matches_transformers_and_writes_config`).
    for i in 1..=3 {
        let shard = format!("model-0000{i}-of-00003.safetensors");
        let alone = dir.path().join(&shard);
        let run = quantbound(&[
            "quantize",
            "--input",
            &path(&sharded.join(&shard)),
            "--output",
            &path(&alone),
            "--double-quant",
            "--only",
            LINEARS,
        ]);
        assert!(run.status.success(), "{}", text(&run));
        assert!(std::fs::read(&alone).unwrap() == std::fs::read(quantized.join(&shard)).unwrap(), "{shard}");
    }
    // The folder loads through its index as a pre-quantized model.
    let device = Default::default();
    let model = Llama::<Cpu>::from_folder(&quantized, &device, &|_, t| Ok(t)).unwrap();
    assert_eq!(model.linears().iter().filter(|(_, l)| l.is_quantized()).count(), 14);

    // `inspect` reads the folder too: every shard's 4-bit weights, and one weight from the shard
    // the index puts it in.
    let run = quantbound(&["inspect", &path(&quantized)]);
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(text(&run).matches("  model.layers.").count(), 14, "{}", text(&run));
    let last = weight_map.iter().rev().find(|(n, _)| n.ends_with("down_proj.weight")).unwrap();
    let run = quantbound(&["inspect", &path(&quantized), "--tensor", last.0]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains(last.1.as_str().unwrap()) && text(&run).contains("double quant yes"), "{}", text(&run));

    // The round trip: dense shards with each weight back in f16, every shard equal to the
    // single-file round trip of its input shard, and every tensor left alone byte-equal to the input's.
    let run = quantbound(&["dequantize", "--input", &path(&quantized), "--output", &path(&dense)]);
    assert!(run.status.success(), "{}", text(&run));
    let bytes = std::fs::read(dense.join("model-00001-of-00003.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let q = st.tensor("model.layers.0.self_attn.q_proj.weight").unwrap();
    assert_eq!((q.dtype(), q.shape()), (safetensors::Dtype::F16, &[64usize, 64][..]));
    assert!(!std::fs::read_to_string(dense.join("model.safetensors.index.json")).unwrap().contains("absmax"));
    let only = regex::Regex::new(LINEARS).unwrap();
    for i in 1..=3 {
        let shard = format!("model-0000{i}-of-00003.safetensors");
        let alone = dir.path().join(format!("dense-{shard}"));
        let run = quantbound(&["dequantize", "--input", &path(&dir.path().join(&shard)), "--output", &path(&alone)]);
        assert!(run.status.success(), "{}", text(&run));
        let ours = std::fs::read(dense.join(&shard)).unwrap();
        assert!(std::fs::read(&alone).unwrap() == ours, "{shard}");
        let input = std::fs::read(sharded.join(&shard)).unwrap();
        let (input, ours) = (
            safetensors::SafeTensors::deserialize(&input).unwrap(),
            safetensors::SafeTensors::deserialize(&ours).unwrap(),
        );
        for name in input.names().into_iter().filter(|n| !only.is_match(n)) {
            assert_eq!(input.tensor(name).unwrap().data(), ours.tensor(name).unwrap().data(), "{name}");
        }
    }

    // An output folder that already holds something is refused, and left as it was.
    let run = quantbound(&["dequantize", "--input", &path(&quantized), "--output", &path(&dense)]);
    assert!(!run.status.success() && text(&run).contains("not empty"), "{}", text(&run));
}

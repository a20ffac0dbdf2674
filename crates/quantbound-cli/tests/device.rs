//! `report --device`: with the crate's `wgpu` feature, the same tiny Qwen2 report (biases, NF4 on
//! the device, Q4_0 as dense dequantized weights) on the CPU and on wgpu (Mesa's lavapipe in CI)
//! gives the same numbers. Skipped, saying so, where wgpu finds no adapter, unless
//! QUANTBOUND_REQUIRE_WGPU=1 (CI sets it). Without the feature, `--device wgpu` is refused with
//! the feature to build with.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tiny_qwen2() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/quantbound-llama/tests/data/tiny_qwen2")
}

fn report(device: &str, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantbound"))
        .args(["report", "--device", device, "--model", tiny_qwen2().to_str().unwrap()])
        .args(["--layer", "1", "--sensitivity", "off", "--formats", "nf4,q4_0", "--out", out.to_str().unwrap()])
        .output()
        .expect("quantbound runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[cfg(feature = "wgpu")]
#[test]
fn a_wgpu_report_equals_the_cpu_report() {
    let dir = tempfile::tempdir().unwrap();
    let (cpu, wgpu) = (dir.path().join("cpu"), dir.path().join("wgpu"));
    let run = report("cpu", &cpu);
    assert!(run.status.success(), "{}", text(&run));
    let run = report("wgpu", &wgpu);
    if !run.status.success() && text(&run).contains("no device could be opened") {
        assert!(
            std::env::var("QUANTBOUND_REQUIRE_WGPU").map_or(true, |v| v != "1"),
            "QUANTBOUND_REQUIRE_WGPU=1 but wgpu has no device: {}",
            text(&run)
        );
        eprintln!("skipped: wgpu has no device here (on Linux: Mesa's lavapipe, mesa-vulkan-drivers)");
        return;
    }
    assert!(run.status.success(), "{}", text(&run));
    let read = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
    };
    let (a, b) = (read(&cpu), read(&wgpu));
    assert_eq!(b["settings"]["backend"], "wgpu");
    assert_eq!(b["settings"]["device"], "wgpu");
    for (fa, fb) in a["formats"].as_array().unwrap().iter().zip(b["formats"].as_array().unwrap()) {
        let format = fa["format"].as_str().unwrap();
        // Quantized on the host either way: the weight errors are the same numbers.
        assert_eq!(fa["seed_layer_weight_mse"], fb["seed_layer_weight_mse"], "{format}");
        for key in ["logits_mse", "ce_ref", "ce", "kl_mean", "top1_agreement", "rms_delta_p"] {
            let (x, y) = (fa["metrics"][key].as_f64().unwrap(), fb["metrics"][key].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-5 + 1e-4 * x.abs(), "{format} {key}: cpu {x}, wgpu {y}");
        }
    }
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn a_build_without_wgpu_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let run = report("wgpu", &out);
    assert!(!run.status.success() && run.status.code() != Some(101), "{}", text(&run));
    assert!(text(&run).contains("build with the `wgpu` feature"), "{}", text(&run));
    assert!(!out.exists());
}

//! Every command on every entry of the malformed-input corpus (tests/data/malformed/, made by
//! scripts/malformed/make_corpus.py; its manifest.json names each entry's defect and the words its
//! error must hold). A run on a broken entry must exit non-zero without panicking (101 is Rust's
//! panic code), name the entry, say what was wrong where the command reads that kind of file,
//! leave nothing in its output folder and finish in seconds. The exceptions are model folders
//! whose defect lies where a weights-only command never looks ([`ignores`]): those it must
//! accept. The intact controls the entries are cut from must be accepted by the commands that
//! read them, so that a refusal is the defect's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The longest a run may take, on a debug build of the tasks on a 2-core machine.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// The one bnb-4bit weight the corpus's safetensors entries hold.
const TENSOR: &str = "model.layers.0.mlp.down_proj.weight";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/malformed")
}

/// What an entry is, by the name the corpus script gives it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A GGUF file (`gguf_*`).
    Gguf,
    /// A Hugging Face model folder (`folder_*`).
    Folder,
    /// A bnb-4bit safetensors file (`bnb_*`).
    Bnb,
    /// A dense safetensors file (`dense_*`).
    Dense,
    /// A safetensors file broken below the tensors (`st_*`): every safetensors reader must refuse it.
    Safetensors,
}

impl Kind {
    fn of(name: &str) -> Kind {
        match name.split('_').next() {
            Some("gguf") => Kind::Gguf,
            Some("folder") => Kind::Folder,
            Some("bnb") => Kind::Bnb,
            Some("dense") => Kind::Dense,
            Some("st") => Kind::Safetensors,
            _ => panic!("the corpus entry {name} has no known prefix"),
        }
    }
}

/// One command line: how it is run on an entry, and which kinds of entry it reads, so that its
/// error must say what the manifest expects.
struct Task {
    name: &'static str,
    reads: &'static [Kind],
    args: fn(entry: &str, out: &str, texts: &str, control: &str) -> Vec<String>,
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

const REPORT: &[&str] = &["report", "--layer", "0", "--formats", "nf4", "--sensitivity", "off"];

const TASKS: &[Task] = &[
    Task {
        name: "report --model",
        reads: &[Kind::Gguf, Kind::Folder],
        args: |entry, out, texts, _| {
            let mut args = owned(REPORT);
            args.extend(owned(&["--model", entry, "--texts", texts, "--out", &format!("{out}/report")]));
            args
        },
    },
    Task {
        name: "report --candidate",
        reads: &[Kind::Gguf],
        args: |entry, out, texts, control| {
            let mut args = owned(REPORT);
            let out = format!("{out}/report");
            args.extend(owned(&["--model", control, "--candidate", entry, "--texts", texts, "--out", &out]));
            args
        },
    },
    Task {
        name: "quantize",
        reads: &[Kind::Dense, Kind::Safetensors],
        args: |entry, out, _, _| owned(&["quantize", "--input", entry, "--output", &format!("{out}/q.safetensors")]),
    },
    Task {
        name: "dequantize",
        reads: &[Kind::Bnb, Kind::Safetensors],
        args: |entry, out, _, _| owned(&["dequantize", "--input", entry, "--output", &format!("{out}/d.safetensors")]),
    },
    Task {
        name: "inspect",
        reads: &[Kind::Bnb, Kind::Safetensors],
        args: |entry, _, _, _| owned(&["inspect", entry, "--tensor", TENSOR]),
    },
    Task {
        name: "fit",
        reads: &[Kind::Dense, Kind::Safetensors],
        args: |entry, out, _, _| owned(&["fit", "--input", entry, "--json", &format!("{out}/fit.json")]),
    },
];

/// Model folders whose defect lies in a part a weights-only command never reads (the tokenizer,
/// the config's shape fields, a tensor the model needs): `quantize` and `fit` take the folder's
/// safetensors as they are and must succeed on them. `quantize` reads config.json only to copy
/// it beside its output, so a config that is not JSON stops it; `fit` reads no config at all.
fn ignores(task: &str, entry: &str) -> bool {
    const WEIGHTS_ONLY: [&str; 6] = [
        "folder_config_huge_layers",
        "folder_config_huge_vocab",
        "folder_config_missing_field",
        "folder_missing_tensor",
        "folder_tokenizer_bad_merge",
        "folder_tokenizer_broken",
    ];
    match task {
        "quantize" => WEIGHTS_ONLY.contains(&entry),
        "fit" => WEIGHTS_ONLY.contains(&entry) || entry == "folder_config_not_json",
        _ => false,
    }
}

struct Run {
    code: Option<i32>,
    text: String,
    took: Duration,
    left: Vec<String>,
}

/// Runs `task` on `entry` with an empty output folder, and says what it left there.
fn run(task: &Task, entry: &Path, texts: &Path) -> Run {
    let out = tempfile::tempdir().unwrap();
    let control = corpus().join("control/tiny");
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let args = (task.args)(&path(entry), &path(out.path()), &path(texts), &path(&control));
    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_quantbound")).args(&args).output().expect("quantbound runs");
    let took = start.elapsed();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let left =
        std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    Run { code: output.status.code(), text, took, left }
}

fn texts() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("texts.txt"), "The capital of France is Paris.\nRust is a systems language.\n")
        .unwrap();
    dir
}

#[test]
fn every_command_refuses_every_malformed_entry() {
    let manifest: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(corpus().join("manifest.json")).unwrap()).unwrap();
    let on_disk: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "manifest.json" && name != "control")
        .collect();
    assert_eq!(on_disk.len(), manifest.len(), "every entry on disk is in the manifest and back");
    let texts = texts();
    let texts = texts.path().join("texts.txt");
    let mut failures = Vec::new();
    for (name, facts) in &manifest {
        let kind = Kind::of(name);
        let expect = facts["expect"].as_str().unwrap();
        for task in TASKS {
            let run = run(task, &corpus().join(name), &texts);
            let mut wrong = Vec::new();
            let refuses = !ignores(task.name, name);
            if !refuses && run.code != Some(0) {
                wrong.push(format!("it refused a defect it does not read (exit {:?})", run.code));
            }
            if refuses && run.code == Some(0) {
                wrong.push("it succeeded".to_owned());
            }
            if run.code == Some(101) || run.text.contains("panicked") {
                wrong.push("it panicked".to_owned());
            }
            if run.code.is_none() {
                wrong.push("it was killed by a signal".to_owned());
            }
            if refuses && !run.text.contains(name.as_str()) {
                wrong.push(format!("its message does not name {name}"));
            }
            // The expected words must be in the message proper, not only in the entry's name.
            if refuses && task.reads.contains(&kind) && !run.text.replace(name.as_str(), "").contains(expect) {
                wrong.push(format!("its message does not say {expect:?}"));
            }
            if refuses && !run.left.is_empty() {
                wrong.push(format!("it left {:?}", run.left));
            }
            if run.took > RUN_LIMIT {
                wrong.push(format!("it took {:.1} s", run.took.as_secs_f64()));
            }
            if !wrong.is_empty() {
                failures.push(format!(
                    "{} on {name} ({}): {}\n    {}",
                    task.name,
                    facts["defect"],
                    wrong.join("; "),
                    run.text.trim().replace('\n', "\n    ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs went wrong:\n{}",
        failures.len(),
        manifest.len() * TASKS.len(),
        failures.join("\n")
    );
}

/// The intact files the entries are cut from, each through the commands that read its kind: a
/// refusal in the sweep above is then the defect's, not the command's.
#[test]
fn every_command_accepts_the_controls() {
    let texts = texts();
    let texts = texts.path().join("texts.txt");
    let controls = [
        ("tiny", Kind::Folder),
        ("tiny.gguf", Kind::Gguf),
        ("bnb_nf4_dq.safetensors", Kind::Bnb),
        ("dense.safetensors", Kind::Dense),
    ];
    let mut failures = Vec::new();
    for (name, kind) in controls {
        for task in TASKS.iter().filter(|t| t.reads.contains(&kind)) {
            let run = run(task, &corpus().join("control").join(name), &texts);
            if run.code != Some(0) || run.took > RUN_LIMIT {
                failures.push(format!(
                    "{} on control/{name}: exit {:?} in {:.1} s\n    {}",
                    task.name,
                    run.code,
                    run.took.as_secs_f64(),
                    run.text.trim().replace('\n', "\n    ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

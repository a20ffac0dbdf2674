//! ARCHITECTURE.md's invariants, checked on the source tree: each fact stated in one place.
//! Each test reads the workspace's own `.rs` and `Cargo.toml` files and names every offending line.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The command-line crate: it prints and writes files by design (its library half exists so that
/// `cargo xtask` runs the same code), so the library rules do not apply to it.
const COMMAND_LINE: &str = "quantbound-cli";

/// The library crates' source files, relative to the root.
fn library_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for krate in std::fs::read_dir(root().join("crates")).unwrap() {
        let krate = krate.unwrap().path();
        if krate.ends_with(COMMAND_LINE) {
            continue;
        }
        for file in rust_files(&krate.join("src")) {
            let relative = file.strip_prefix(root()).unwrap().display().to_string();
            out.push((relative, std::fs::read_to_string(&file).unwrap()));
        }
    }
    out
}

/// The code lines (comments dropped) of every library file not in `allowed` that contain any of
/// `needles`, as `file:line: text`.
fn offending(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (file, text) in library_sources() {
        if allowed.iter().any(|a| file.starts_with(a)) {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if needles.iter().any(|n| code.contains(n)) {
                out.push(format!("{file}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    out
}

#[test]
fn backends_are_named_only_in_the_backend_module() {
    let found = offending(
        &["burn::backend::", "burn_flex", "burn_ndarray", "burn_cuda", "burn_wgpu", "cubecl"],
        &["crates/quantbound-llama/src/backend/"],
    );
    assert!(found.is_empty(), "backend crates named outside quantbound-llama/src/backend/:\n{}", found.join("\n"));
}

#[test]
fn nibble_order_lives_in_nibble_rs() {
    // quantbound-formats' ggml module holds ggml's own block layouts (element j and j + 16 in one
    // byte, the K-quants' packed scales and high bits), not bnb's; the GGUF reader decodes
    // through it.
    let found = offending(
        &[">> 4", "<< 4", "0xf0", "0xF0"],
        &["crates/quantbound-codebook/src/nibble.rs", "crates/quantbound-formats/src/ggml/"],
    );
    assert!(found.is_empty(), "nibble shifts outside nibble.rs:\n{}", found.join("\n"));
}

#[test]
fn decoder_linear_names_live_in_the_layout_table() {
    let names = [
        "\"self_attn",
        "\"mlp.",
        "_proj\"",
        "_proj.weight\"",
        "\"attn_q",
        "\"attn_k",
        "\"attn_v",
        "\"attn_output",
        "\"ffn_gate",
        "\"ffn_up",
        "\"ffn_down",
    ];
    let found = offending(&names, &["crates/quantbound-llama/src/layout.rs"]);
    assert!(found.is_empty(), "decoder linear names outside layout.rs:\n{}", found.join("\n"));
}

#[test]
fn libraries_do_not_print_and_only_render_writes_files() {
    let found = offending(&["println!", "eprintln!", "print!(", "eprint!(", "dbg!("], &[]);
    assert!(found.is_empty(), "library code prints (return errors or use tracing):\n{}", found.join("\n"));
    let found = offending(&["fs::write", "File::create", "create_dir"], &["crates/quantbound-report/src/render/"]);
    assert!(found.is_empty(), "files written outside quantbound-report's render:\n{}", found.join("\n"));
}

/// The dependency directions of ARCHITECTURE.md's diagram: codebook and theory know nothing of
/// Burn; codebook does not use theory; metrics and llama are siblings; only report joins them.
#[test]
fn crate_dependencies_point_one_way() {
    let manifest = |krate: &str| {
        let text = std::fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml")).unwrap();
        // The [dependencies] table only (dev-dependencies may use anything).
        let start = text.find("[dependencies]").expect("a [dependencies] table");
        let rest = &text[start + 1..];
        rest[..rest.find("\n[").unwrap_or(rest.len())].to_owned()
    };
    let depends = |krate: &str, on: &str| manifest(krate).lines().any(|l| l.trim_start().starts_with(on));
    for (krate, forbidden) in [
        ("quantbound-simd", &["burn", "quantbound-"][..]),
        ("quantbound-codebook", &["burn", "quantbound-theory", "quantbound-llama", "quantbound-metrics"]),
        (
            "quantbound-formats",
            &["burn", "quantbound-theory", "quantbound-llama", "quantbound-metrics", "quantbound-report"],
        ),
        ("quantbound-theory", &["burn", "quantbound-llama", "quantbound-metrics", "quantbound-report"]),
        ("quantbound-metrics", &["quantbound-llama", "quantbound-report"]),
        ("quantbound-llama", &["quantbound-theory", "quantbound-metrics", "quantbound-report"]),
        // The libraries are usable without the command line, and the command line names no
        // backend crate (quantbound-llama's `backend` does).
        ("quantbound-report", &[COMMAND_LINE]),
        (COMMAND_LINE, &["burn"]),
    ] {
        for on in forbidden {
            assert!(!depends(krate, on), "{krate} must not depend on {on}");
        }
    }
}

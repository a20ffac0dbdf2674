//! Hub models without a network: with `HF_HUB_OFFLINE=1` a snapshot comes from the standard HF
//! cache layout, and a model that is not cached gives an error saying there is no connection.
//! Downloads, retries and a gated repo's "set HF_TOKEN" error are tested against a loopback Hub
//! in crates/quantbound-cli/tests/hub.rs.

use std::path::Path;

use quantbound_llama::hub::HubModel;
use quantbound_llama::progress::NoProgress;

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

// One test: the environment is process-wide.
#[test]
fn offline_hub_uses_the_cache_or_says_why_not() {
    let home = tempfile::tempdir().unwrap();
    std::env::set_var("HF_HOME", home.path());
    std::env::set_var("HF_HUB_OFFLINE", "1");
    std::env::remove_var("HF_TOKEN");

    let err = HubModel::parse("meta-llama/Llama-3.2-1B").snapshot(&NoProgress).unwrap_err().to_string();
    assert!(err.contains("meta-llama/Llama-3.2-1B@main"), "{err}");
    assert!(err.contains("no network connection") && err.contains("HF_HUB_OFFLINE"), "{err}");

    // The layout huggingface_hub writes: refs/<revision> names the snapshot folder.
    let repo = home.path().join("hub/models--owner--tiny");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    write(&repo.join("refs/main"), commit.as_bytes());
    let snapshot = repo.join("snapshots").join(commit);
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny_llama/tied_gqa");
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        write(&snapshot.join(file), &std::fs::read(tiny.join(file)).unwrap());
    }
    let folder = HubModel::parse("owner/tiny").snapshot(&NoProgress).unwrap();
    assert_eq!(folder, snapshot);

    // A cached model that lacks its weights names the missing file.
    std::fs::remove_file(snapshot.join("model.safetensors")).unwrap();
    let err = HubModel::parse("owner/tiny@main").snapshot(&NoProgress).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

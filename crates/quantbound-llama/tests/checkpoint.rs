//! Configs and weights of the tiny fixture checkpoints (transformers 5.23 `save_pretrained`
//! output, tests/data/tiny_llama), and of the GGUF sample.

use std::path::{Path, PathBuf};

use quantbound_llama::config::LlamaConfig;
use quantbound_llama::gguf::Gguf;
use quantbound_llama::weights::{expected_tensors, GgufWeights, SafetensorsFolder, WeightSource};
use quantbound_llama::LlamaError;
use safetensors::SafeTensors;

fn tiny(variant: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny_llama").join(variant)
}

fn config(variant: &str, file: &str) -> LlamaConfig {
    let path = tiny(variant).join(file);
    LlamaConfig::from_json(&std::fs::read_to_string(&path).unwrap(), &path.display().to_string()).unwrap()
}

/// transformers' f32 inverse frequencies, from the fixture's reference file.
fn reference_inv_freq(variant: &str) -> Vec<f32> {
    let bytes = std::fs::read(tiny(variant).join("reference.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensor("inv_freq").unwrap().data().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

#[test]
fn both_config_layouts_resolve_alike() {
    for variant in ["tied_gqa", "llama32_rope", "sharded"] {
        let new = config(variant, "config.json");
        let legacy = config(variant, "config_legacy.json");
        assert_eq!(new, legacy, "{variant}");
    }
    let c = config("llama32_rope", "config.json");
    assert_eq!((c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads, c.head_dim), (128, 3, 8, 2, 16));
    assert!(!c.tie_word_embeddings);
    assert_eq!(c.rope.theta, 500_000.0);
    assert_eq!(c.rope.scaling.unwrap().factor, 32.0);
    assert!(config("tied_gqa", "config.json").tie_word_embeddings);
    assert_eq!((c.bos_token_id, c.eos_token_ids.as_slice()), (Some(1), &[2][..]));
}

/// RoPE frequencies equal transformers' within an ulp, default and llama3-scaled (all three llama3
/// branches are hit at head_dim 16, θ 500000).
#[test]
fn inverse_frequencies_match_transformers() {
    for variant in ["tied_gqa", "llama32_rope"] {
        let c = config(variant, "config.json");
        let ours = c.rope.inv_freq(c.head_dim);
        let theirs = reference_inv_freq(variant);
        assert_eq!(ours.len(), theirs.len());
        for (a, b) in ours.iter().zip(&theirs) {
            assert!((a.to_bits() as i64 - b.to_bits() as i64).abs() <= 1, "{variant}: {ours:?} vs {theirs:?}");
        }
    }
}

/// Every weight loads with the shape the config implies; the sharded f16 copy equals the f32
/// tied_gqa weights rounded to f16, as the fixture was made.
#[test]
fn weights_load_single_sharded_and_bf16() {
    let c = config("tied_gqa", "config.json");
    let single = SafetensorsFolder::open(&tiny("tied_gqa")).unwrap();
    let sharded = SafetensorsFolder::open(&tiny("sharded")).unwrap();
    let expected = expected_tensors(&c);
    assert_eq!(expected.len(), 1 + 2 * 9 + 1, "embed, 2 layers, norm; no lm_head when tied");
    for (name, shape) in &expected {
        let f32s = single.load(name, shape).unwrap();
        let f16s = sharded.load(name, shape).unwrap();
        assert_eq!((f32s.source_dtype.as_str(), f16s.source_dtype.as_str()), ("F32", "F16"));
        let rounded: Vec<f32> = f32s.values.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
        assert_eq!(rounded, f16s.values, "{name}");
    }
    let bf16 = config("llama32_rope", "config.json");
    let folder = SafetensorsFolder::open(&tiny("llama32_rope")).unwrap();
    for (name, shape) in expected_tensors(&bf16) {
        assert_eq!(folder.load(&name, &shape).unwrap().source_dtype, "BF16");
    }
}

#[test]
fn bad_configs_and_checkpoints_are_named_errors() {
    let text = std::fs::read_to_string(tiny("tied_gqa").join("config.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases: [(&str, serde_json::Value, &str); 4] = [
        ("hidden_size", serde_json::Value::Null, "hidden_size"),
        ("hidden_act", "gelu".into(), "hidden_act"),
        ("num_key_value_heads", 3.into(), "num_key_value_heads"),
        ("rope_parameters", serde_json::json!({"rope_type": "yarn", "rope_theta": 1e4}), "rope_type"),
    ];
    for (key, value, expected) in cases {
        let mut bad = json.clone();
        if value.is_null() {
            bad.as_object_mut().unwrap().remove(key);
        } else {
            bad[key] = value;
        }
        let err = LlamaConfig::from_json(&bad.to_string(), "bad/config.json").unwrap_err();
        assert!(err.to_string().contains("bad/config.json") && err.to_string().contains(expected), "{key}: {err}");
    }
    // A config that asks for a third layer: the missing tensor is named with the file.
    json["num_hidden_layers"] = 3.into();
    let c = LlamaConfig::from_json(&json.to_string(), "x").unwrap();
    let folder = SafetensorsFolder::open(&tiny("tied_gqa")).unwrap();
    let missing = expected_tensors(&c).into_iter().find(|(n, _)| n.starts_with("model.layers.2.")).unwrap();
    let err = folder.load(&missing.0, &missing.1).unwrap_err();
    assert!(matches!(err, LlamaError::MissingTensor { .. }) && err.to_string().contains("model.safetensors"), "{err}");
    // A wrong shape names the tensor and both shapes.
    let err = folder.load("model.norm.weight", &[65]).unwrap_err();
    assert!(err.to_string().contains("model.norm.weight") && err.to_string().contains("[64]"), "{err}");
    // A truncated file is refused when opened.
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(tiny("tied_gqa").join("model.safetensors")).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), &bytes[..bytes.len() - 10]).unwrap();
    let err = SafetensorsFolder::open(dir.path()).err().expect("a truncated file");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

/// The sample GGUF's metadata gives SmolLM2-135M's configuration, and every weight it needs loads
/// through the same interface. Needs `cargo xtask fetch-sample`; skipped (and says so) without it.
#[test]
fn sample_gguf_config_and_weights() {
    let Ok(path) = quantbound_llama::sample::find() else {
        eprintln!("SKIPPED sample_gguf_config_and_weights: run `cargo xtask fetch-sample`");
        return;
    };
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: read-only mapping of a file nothing writes during the test.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let name = path.display().to_string();
    let gguf = Gguf::parse(&bytes, &name).unwrap();
    let c = LlamaConfig::from_gguf(&gguf, &name).unwrap();
    assert_eq!((c.hidden_size, c.intermediate_size, c.num_layers), (576, 1536, 30));
    assert_eq!((c.num_heads, c.num_kv_heads, c.head_dim, c.vocab_size), (9, 3, 64, 49152));
    assert_eq!(c.rope.theta, 100_000.0);
    assert_eq!(c.rms_norm_eps, 9.999999747378752e-06);
    assert!(c.tie_word_embeddings);
    let weights = GgufWeights::new(&gguf, &name);
    let expected = expected_tensors(&c);
    assert_eq!(expected.len(), 272);
    for (tensor, shape) in expected.iter().filter(|(n, _)| n.contains("layers.0.") || !n.contains("layers.")) {
        weights.load(tensor, shape).unwrap();
    }
}

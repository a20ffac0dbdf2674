//! Tokenization against transformers' (tests/data/*/tokenization.json): the tiny byte-level BPE
//! (10 strings, bos prepended) and SmolLM2's 49152-token tokenizer (20 strings, no bos).

use std::path::{Path, PathBuf};

use quantbound_llama::tokenizer::Tokenizer;

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(path)
}

/// `skip_special`: how the fixture decoded (the tiny one skipped special tokens, SmolLM2's kept them).
fn check(tokenizer_json: &str, tokenization_json: &str, pad_id: u32, skip_special: bool) {
    check_tokenizer(&Tokenizer::from_file(&data(tokenizer_json), pad_id).unwrap(), tokenization_json, skip_special);
}

fn check_tokenizer(tokenizer: &Tokenizer, tokenization_json: &str, skip_special: bool) {
    let cases: serde_json::Value = serde_json::from_slice(&std::fs::read(data(tokenization_json)).unwrap()).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as u32).collect()
    };
    let mut checked = 0;
    for case in cases.as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(tokenizer.encode(text, true).unwrap(), ids(&case["ids"]), "{text:?}");
        assert_eq!(tokenizer.encode(text, false).unwrap(), ids(&case["ids_no_special"]), "{text:?}");
        assert_eq!(
            tokenizer.decode(&ids(&case["ids"]), skip_special).unwrap(),
            case["decoded"].as_str().unwrap(),
            "{text:?}"
        );
        checked += 1;
    }
    assert!(checked >= 10);
}

#[test]
fn tiny_tokenizer_matches_transformers() {
    check("tiny_llama/tied_gqa/tokenizer.json", "tiny_llama/tied_gqa/tokenization.json", 0, true);
}

#[test]
fn smollm2_tokenizer_matches_transformers() {
    check("smollm2/tokenizer.json", "smollm2/tokenization.json", 2, false);
}

/// The same tokenizer built from the sample GGUF's metadata (vocabulary, merges, token types).
/// Needs `cargo xtask fetch-sample` (CI runs it); skipped, saying so, without it.
#[test]
fn smollm2_tokenizer_from_gguf_matches_transformers() {
    let Ok(path) = quantbound_llama::sample::find() else {
        eprintln!("SKIPPED smollm2_tokenizer_from_gguf_matches_transformers: run `cargo xtask fetch-sample`");
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let name = path.display().to_string();
    let gguf = quantbound_llama::gguf::Gguf::parse(&bytes, &name).unwrap();
    let tokenizer = Tokenizer::from_gguf(&gguf, &name, 2).unwrap();
    check_tokenizer(&tokenizer, "smollm2/tokenization.json", false);
}

#[test]
fn batches_are_right_padded_and_truncated() {
    let tokenizer = Tokenizer::from_file(&data("tiny_llama/tied_gqa/tokenizer.json"), 0).unwrap();
    let batch = tokenizer.encode_batch(&["The river", "The river runs far and wide to the sea", "a"], 6).unwrap();
    assert_eq!(batch.len(), 3);
    assert_eq!(batch.seq_len(), 6);
    assert_eq!(&batch.ids[0][..4], &[1, 471, 429, 319]); // the fixture's "The river" with bos
    assert_eq!(batch.attention_mask[0], vec![1, 1, 1, 1, 0, 0]);
    assert_eq!(&batch.ids[0][4..], &[0, 0]);
    assert_eq!(batch.attention_mask[1], vec![1; 6]);
    // SmolLM2 adds no bos, so an empty text is empty: an error naming it.
    let smol = Tokenizer::from_file(&data("smollm2/tokenizer.json"), 2).unwrap();
    let err = smol.encode_batch(&["hello", ""], 128).unwrap_err();
    assert!(err.to_string().contains("text 1"), "{err}");
    assert!(Tokenizer::from_file(&data("nope/tokenizer.json"), 0).is_err());
}

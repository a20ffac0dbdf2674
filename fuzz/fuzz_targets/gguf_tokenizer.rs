//! The tokenizer a GGUF carries: arbitrary vocabularies, merges, token types, pre-tokenizer
//! names and BOS settings, written into a real GGUF, built, and used on arbitrary text.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use quantbound_fuzz::{gguf_with_metadata, Meta};
use quantbound_llama::gguf::Gguf;
use quantbound_llama::tokenizer::Tokenizer;

#[derive(Arbitrary, Debug)]
struct Input {
    /// None writes "gpt2".
    model: Option<String>,
    tokens: Vec<String>,
    merges: Vec<String>,
    token_types: Option<Vec<i32>>,
    /// An index into the known names, or an arbitrary one.
    pre: Result<u8, String>,
    bos: Option<u32>,
    add_bos: bool,
    pad: u32,
    text: String,
}

const PRE: [&str; 5] = ["default", "gpt2", "smollm", "llama-bpe", "llama3"];

fuzz_target!(|input: Input| {
    let mut metadata = vec![
        ("tokenizer.ggml.model", Meta::Str(input.model.unwrap_or_else(|| "gpt2".into()))),
        ("tokenizer.ggml.tokens", Meta::Strs(input.tokens)),
        ("tokenizer.ggml.merges", Meta::Strs(input.merges)),
        ("tokenizer.ggml.add_bos_token", Meta::Bool(input.add_bos)),
        (
            "tokenizer.ggml.pre",
            Meta::Str(match input.pre {
                Ok(i) => PRE[usize::from(i) % PRE.len()].to_owned(),
                Err(s) => s,
            }),
        ),
    ];
    if let Some(types) = input.token_types {
        metadata.push(("tokenizer.ggml.token_type", Meta::I32s(types)));
    }
    if let Some(bos) = input.bos {
        metadata.push(("tokenizer.ggml.bos_token_id", Meta::U32(bos)));
    }
    let bytes = gguf_with_metadata(&metadata);
    let gguf = Gguf::parse(&bytes, "fuzz.gguf").expect("the writer writes valid GGUF");
    let Ok(tokenizer) = Tokenizer::from_gguf(&gguf, "fuzz.gguf", input.pad) else { return };
    if let Ok(ids) = tokenizer.encode(&input.text, true) {
        let _ = tokenizer.decode(&ids, false);
    }
    let _ = tokenizer.encode_batch(&[&input.text, ""], 16);
});

//! The GGUF reader on arbitrary bytes: header, metadata, tensor infos, offsets, every block type's
//! decoder, the HF name mapping with its q/k un-permutation, and the config from the metadata.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quantbound_llama::config::LlamaConfig;
use quantbound_llama::gguf::Gguf;

fuzz_target!(|data: &[u8]| {
    let Ok(gguf) = Gguf::parse(data, "fuzz.gguf") else { return };
    for info in &gguf.tensors {
        if let Ok(values) = gguf.dequantize(info) {
            assert_eq!(values.len(), info.numel(), "{}", info.name);
        }
        let _ = gguf.hf_tensor(info);
    }
    let _ = LlamaConfig::from_gguf(&gguf, "fuzz.gguf");
});

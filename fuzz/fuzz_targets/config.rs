//! config.json in both layouts (`rope_parameters`, or `rope_theta`/`rope_scaling` at the top
//! level); a config that parses must give finite RoPE frequencies without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quantbound_llama::config::LlamaConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = LlamaConfig::from_json(text, "config.json") {
        let _ = config.rope.inv_freq(config.head_dim.min(4096));
        let _ = quantbound_llama::weights::expected_tensors(&config);
    }
});

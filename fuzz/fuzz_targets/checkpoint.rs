//! The safetensors checkpoint path of `quantize` and `dequantize` on arbitrary bytes: the header,
//! every dtype and shape, and the conversion of whatever parses (written to a sink). The first
//! byte picks the options.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quantbound_codebook::{checkpoint, Blocksize, QuantType, QuantizeOptions};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else { return };
    let options = QuantizeOptions {
        codebook: if pick & 1 == 0 { QuantType::Nf4 } else { QuantType::Fp4 }.codebook(),
        blocksize: Blocksize::new(Blocksize::SUPPORTED[usize::from(pick >> 1) % Blocksize::SUPPORTED.len()], "fuzz")
            .unwrap(),
        double_quant: pick & 0x80 != 0,
    };
    let quantized = checkpoint::quantize_safetensors(
        file,
        "fuzz.safetensors",
        &options,
        |_, view| checkpoint::is_default_quantize_target(view),
        std::io::sink(),
    );
    let _ = checkpoint::dequantize_safetensors(file, "fuzz.safetensors", std::io::sink());
    // What quantize wrote must read back: run the round trip on the bytes it produced (a file
    // in which nothing was selected has no 4-bit weight, which dequantize refuses).
    if quantized.is_ok_and(|summary| !summary.converted.is_empty()) {
        let mut out = Vec::new();
        checkpoint::quantize_safetensors(
            file,
            "fuzz.safetensors",
            &options,
            |_, view| checkpoint::is_default_quantize_target(view),
            &mut out,
        )
        .unwrap();
        checkpoint::dequantize_safetensors(&out, "quantized.safetensors", std::io::sink())
            .expect("quantize's output dequantizes");
    }
});

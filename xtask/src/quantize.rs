//! `cargo xtask quantize` and `cargo xtask dequantize`: whole checkpoints, streamed tensor by tensor.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use quantbound_codebook::checkpoint::{self, ConversionSummary};
use quantbound_codebook::{Blocksize, QuantType, QuantizeOptions};
use regex::Regex;

use crate::files::{map, write_atomically, Error};

#[derive(Args)]
pub struct QuantizeArgs {
    /// Dense safetensors checkpoint (f32, f16 or bf16 tensors).
    #[arg(long)]
    input: PathBuf,
    /// Where to write the bnb-4bit safetensors file.
    #[arg(long)]
    output: PathBuf,
    /// The 4-bit code table.
    #[arg(long, value_enum, default_value = "nf4")]
    quant_type: QuantType,
    /// Elements per absmax block: 32, 64, 128, 256, 512, 1024, 2048 or 4096.
    #[arg(long, default_value_t = 64)]
    blocksize: usize,
    /// Quantize the absmax too (bnb's compress_statistics, transformers' bnb_4bit_use_double_quant).
    #[arg(long)]
    double_quant: bool,
    /// Quantize only the tensors whose full name matches this regex, whatever their rank. Without
    /// it every floating-point tensor of rank ≥ 2 is quantized. For a transformers-loadable
    /// checkpoint, select the decoder linears: 'layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight$'.
    #[arg(long)]
    only: Option<String>,
}

#[derive(Args)]
pub struct DequantizeArgs {
    /// bnb-4bit safetensors checkpoint.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the dense safetensors file.
    #[arg(long)]
    output: PathBuf,
}

pub fn quantize(args: QuantizeArgs) -> Result<(), Error> {
    let input_name = args.input.display().to_string();
    let options = QuantizeOptions {
        codebook: args.quant_type.codebook(),
        blocksize: Blocksize::new(args.blocksize, "--blocksize")?,
        double_quant: args.double_quant,
    };
    let only = args.only.as_deref().map(Regex::new).transpose().map_err(|e| format!("--only: {e}"))?;
    let bytes = map(&args.input)?;
    let start = Instant::now();
    let summary = write_atomically(&args.output, |out| {
        Ok(checkpoint::quantize_safetensors(
            &bytes,
            &input_name,
            &options,
            |name, view| match &only {
                Some(only) => only.is_match(name),
                None => checkpoint::is_default_quantize_target(view),
            },
            out,
        )?)
    })?;
    report("quantized", &args.output, &summary, bytes.len(), start);
    write_config(&args.input, &args.output, args.quant_type, &options)?;
    Ok(())
}

pub fn dequantize(args: DequantizeArgs) -> Result<(), Error> {
    let bytes = map(&args.input)?;
    let start = Instant::now();
    let input_name = args.input.display().to_string();
    let summary =
        write_atomically(&args.output, |out| Ok(checkpoint::dequantize_safetensors(&bytes, &input_name, out)?))?;
    report("dequantized", &args.output, &summary, bytes.len(), start);
    Ok(())
}

fn report(verb: &str, output: &Path, summary: &ConversionSummary, bytes_in: usize, start: Instant) {
    println!(
        "{verb} {} tensors, copied {} → {} ({:.1} MB in, {:.1} MB out, {:.2} s)",
        summary.converted.len(),
        summary.copied.len(),
        output.display(),
        bytes_in as f64 / 1e6,
        summary.bytes_written as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
}

/// A Hugging Face model folder needs `config.json` with a `quantization_config` for transformers
/// to load bnb-4bit weights. When the input sits beside a config.json and the output goes to
/// another folder, write one there with the settings used.
fn write_config(input: &Path, output: &Path, quant_type: QuantType, options: &QuantizeOptions) -> Result<(), Error> {
    let folder =
        |p: &Path| p.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d }).map(Path::to_path_buf);
    let (Some(in_dir), Some(out_dir)) = (folder(input), folder(output)) else { return Ok(()) };
    let source = in_dir.join("config.json");
    let target = out_dir.join("config.json");
    if !source.is_file() || std::fs::canonicalize(&in_dir).ok() == std::fs::canonicalize(&out_dir).ok() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    let mut config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", source.display()))?;
    let compute_dtype = config.get("torch_dtype").or(config.get("dtype")).cloned().unwrap_or("float32".into());
    config["quantization_config"] = serde_json::json!({
        "quant_method": "bitsandbytes",
        "load_in_4bit": true,
        "load_in_8bit": false,
        "_load_in_4bit": true,
        "_load_in_8bit": false,
        "bnb_4bit_quant_type": quant_type.as_str(),
        "bnb_4bit_use_double_quant": options.double_quant,
        "bnb_4bit_compute_dtype": compute_dtype,
        "bnb_4bit_quant_storage": "uint8",
        "llm_int8_enable_fp32_cpu_offload": false,
        "llm_int8_has_fp16_weight": false,
        "llm_int8_skip_modules": null,
        "llm_int8_threshold": 6.0,
    });
    let json = serde_json::to_string_pretty(&config).expect("a JSON value serialises");
    write_atomically(&target, |out| Ok(out.write_all(json.as_bytes())?))?;
    println!("wrote {} with quantization_config (blocksize is read from each tensor's quant state)", target.display());
    Ok(())
}

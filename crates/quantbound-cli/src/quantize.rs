//! `quantbound quantize` and `quantbound dequantize`: whole checkpoints, streamed tensor by tensor.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use quantbound_codebook::checkpoint::{self, ConversionSummary};
use quantbound_codebook::{Blocksize, QuantType, QuantizeOptions};
use regex::Regex;

use crate::files::{map, write_atomically, write_folder_atomically, write_index, written_tensors, Checkpoint, Error};

#[derive(Args)]
pub struct QuantizeArgs {
    /// Dense safetensors checkpoint (f32, f16 or bf16 tensors): one file, or a sharded one (its
    /// folder or its model.safetensors.index.json).
    #[arg(long)]
    input: PathBuf,
    /// Where to write the bnb-4bit safetensors file; for a sharded input, a new (or empty) folder
    /// that gets a shard of the same name for each input shard and a rewritten index.
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
    /// bnb-4bit safetensors checkpoint: one file, or a sharded one (its folder or its index).
    #[arg(long)]
    input: PathBuf,
    /// Where to write the dense safetensors file; for a sharded input, a new (or empty) folder.
    #[arg(long)]
    output: PathBuf,
}

/// Converts one safetensors buffer (`file` labels errors) into `out`.
type Convert<'a> = dyn Fn(&[u8], &str, &mut dyn Write) -> Result<ConversionSummary, Error> + 'a;

/// What [`convert_checkpoint`] did.
struct Converted {
    summary: ConversionSummary,
    bytes_in: usize,
}

/// Runs `convert` over the checkpoint at `input`: one file into the file `output`, or each shard
/// into a shard of the same name in the folder `output`, with a rewritten index; streamed a
/// tensor at a time, one shard mapped at a time. A checkpoint in which nothing converts is an
/// error (`nothing` says why), found before the output is put in place; a single shard with
/// nothing to convert (the embeddings' shard, say) is not.
fn convert_checkpoint(
    checkpoint: &Checkpoint,
    input: &Path,
    output: &Path,
    nothing: &str,
    convert: &Convert<'_>,
) -> Result<Converted, Error> {
    let nothing = || -> Error { format!("{}: {nothing}", input.display()).into() };
    match checkpoint {
        Checkpoint::File(path) => {
            let bytes = map(path)?;
            let name = path.display().to_string();
            let summary = write_atomically(output, |out| {
                let summary = convert(&bytes, &name, out)?;
                if summary.converted.is_empty() {
                    return Err(nothing());
                }
                Ok(summary)
            })?;
            Ok(Converted { summary, bytes_in: bytes.len() })
        }
        Checkpoint::Sharded { .. } => {
            let files = checkpoint.files();
            let mut bytes_in = 0;
            let summary = write_folder_atomically(output, |dir| {
                let mut total = ConversionSummary::default();
                let (mut shards, mut total_size) = (BTreeMap::new(), 0);
                for path in &files {
                    let bytes = map(path)?;
                    bytes_in += bytes.len();
                    let shard_name = path.file_name().expect("a shard is a file").to_string_lossy().into_owned();
                    let target = dir.join(&shard_name);
                    let file = File::create(&target).map_err(|e| format!("{}: {e}", target.display()))?;
                    let mut out = BufWriter::with_capacity(1 << 20, file);
                    let summary = convert(&bytes, &path.display().to_string(), &mut out)?;
                    out.into_inner().map_err(|e| format!("{}: {}", target.display(), e.error()))?;
                    let (names, size) = written_tensors(&target)?;
                    shards.insert(shard_name, names);
                    total_size += size;
                    total.converted.extend(summary.converted);
                    total.copied.extend(summary.copied);
                    total.bytes_written += summary.bytes_written;
                }
                if total.converted.is_empty() {
                    return Err(nothing());
                }
                write_index(dir, &shards, total_size)?;
                Ok(total)
            })?;
            Ok(Converted { summary, bytes_in })
        }
    }
}

pub fn quantize(args: QuantizeArgs) -> Result<(), Error> {
    let options = QuantizeOptions {
        codebook: args.quant_type.codebook(),
        blocksize: Blocksize::new(args.blocksize, "--blocksize")?,
        double_quant: args.double_quant,
    };
    let only = args.only.as_deref().map(Regex::new).transpose().map_err(|e| format!("--only: {e}"))?;
    let start = Instant::now();
    let quantize = |bytes: &[u8], file: &str, out: &mut dyn Write| -> Result<ConversionSummary, Error> {
        let select = |name: &str, view: &safetensors::tensor::TensorView<'_>| match &only {
            Some(only) => only.is_match(name),
            None => checkpoint::is_default_quantize_target(view),
        };
        Ok(checkpoint::quantize_safetensors(bytes, file, &options, select, out)?)
    };
    let nothing = "no tensor to quantize (--only matched none, or no floating-point tensor has rank ≥ 2)";
    let checkpoint = Checkpoint::open(&args.input)?;
    let (input, output) = checkpoint.anchors(&args.output);
    // The config is read (and so checked) before anything is written.
    let config = quantized_config(&input, &output, args.quant_type, &options)?;
    let done = convert_checkpoint(&checkpoint, &args.input, &args.output, nothing, &quantize)?;
    report("quantized", &args.output, &done.summary, done.bytes_in, start);
    if let Some((target, json)) = config {
        write_atomically(&target, |out| Ok(out.write_all(json.as_bytes())?))?;
        println!(
            "wrote {} with quantization_config (blocksize is read from each tensor's quant state)",
            target.display()
        );
    }
    Ok(())
}

pub fn dequantize(args: DequantizeArgs) -> Result<(), Error> {
    let start = Instant::now();
    let dequantize = |bytes: &[u8], file: &str, out: &mut dyn Write| -> Result<ConversionSummary, Error> {
        Ok(checkpoint::dequantize_safetensors(bytes, file, out)?)
    };
    let nothing = "no bnb-4bit weight to dequantize (no tensor has a quant_state.bitsandbytes__nf4 or __fp4 beside it)";
    let done = convert_checkpoint(&Checkpoint::open(&args.input)?, &args.input, &args.output, nothing, &dequantize)?;
    report("dequantized", &args.output, &done.summary, done.bytes_in, start);
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
/// another folder, the config to write there with the settings used: its path and text.
fn quantized_config(
    input: &Path,
    output: &Path,
    quant_type: QuantType,
    options: &QuantizeOptions,
) -> Result<Option<(PathBuf, String)>, Error> {
    let folder =
        |p: &Path| p.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d }).map(Path::to_path_buf);
    let (Some(in_dir), Some(out_dir)) = (folder(input), folder(output)) else { return Ok(None) };
    let source = in_dir.join("config.json");
    let target = out_dir.join("config.json");
    if !source.is_file() || std::fs::canonicalize(&in_dir).ok() == std::fs::canonicalize(&out_dir).ok() {
        return Ok(None);
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
    Ok(Some((target, json)))
}

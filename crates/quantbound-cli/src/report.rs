//! `quantbound report`: the full comparison (quantbound-report) with progress bars, written
//! atomically to `--out`, and a short summary table at the end.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use quantbound_codebook::Blocksize;
use quantbound_formats::FormatName;
use quantbound_llama::backend::Cpu;
use quantbound_report::render::{refuse_existing, write_report, write_weights_report};
use quantbound_report::{
    Device, ModelSpec, PplMode, Progress, RefDtype, ReportOptions, Rotation, SensitivityMode, Stage, Texts,
};

use crate::files::Error;

#[derive(Args)]
pub struct ReportArgs {
    /// `sample` (SmolLM2-135M-Instruct, see `fetch-sample`), a .gguf file, a Hugging Face model
    /// folder, or a Hub id such as meta-llama/Llama-3.2-1B[@revision] (token from HF_TOKEN, Hub
    /// from HF_ENDPOINT, cache in HF_HOME).
    #[arg(long, default_value = "sample")]
    model: String,
    /// The compute device: Burn's CPU backend, or wgpu / CUDA when built with the `wgpu` / `cuda`
    /// feature (`cargo install --path crates/quantbound-cli --features wgpu`).
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
    /// Quantized formats to compare with the reference, comma-separated.
    #[arg(long, value_enum, default_value = "nf4,fp4", value_delimiter = ',')]
    formats: Vec<FormatName>,
    /// Weights per absmax block for the blockwise formats (bnb's 32 … 4096).
    #[arg(long, default_value_t = 64)]
    blocksize: usize,
    /// Double-quantize the absmax (bnb's compress_statistics).
    #[arg(long)]
    double_quant: bool,
    /// Reference weight precision: checkpoint (its own values), f16 (the seed's torch_dtype=float16) or bf16.
    #[arg(long, value_enum, default_value = "checkpoint")]
    ref_dtype: RefDtype,
    /// Tokens per sequence (longer texts are truncated; --text-file windows have this length).
    #[arg(long, default_value_t = 128)]
    max_length: usize,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// The layer whose mlp.down_proj the seed analyses.
    #[arg(long, default_value_t = 8)]
    layer: usize,
    /// One sequence per line (the seed's list of strings).
    #[arg(long, conflicts_with = "text_file")]
    texts: Option<PathBuf>,
    /// One long document, cut into --max-length token sequences as --ppl-mode says.
    #[arg(long)]
    text_file: Option<PathBuf>,
    /// How --text-file is cut and scored: consecutive windows, every position scored; or
    /// llama-perplexity's n_ctx chunks (n_ctx = --max-length), each with BOS, the second half
    /// scored, so that PPL and KLD compare with llama.cpp's.
    #[arg(long, value_enum, default_value = "windows", requires = "text_file")]
    ppl_mode: PplMode,
    /// Per-layer sensitivity: quantize one decoder layer at a time (layers), and also one linear
    /// type across the layers (linears), or neither (off).
    #[arg(long, value_enum, default_value = "layers")]
    sensitivity: SensitivityMode,
    /// Rotate every linear's rows before quantizing (randomized Hadamard, undone after; any format).
    #[arg(long, value_enum, default_value = "none")]
    rotate: Rotation,
    /// A model quantized elsewhere to score against --model, as the formats are: a GGUF of
    /// llama.cpp's block types, or a bnb-4bit checkpoint (folder or Hub id). Repeatable.
    #[arg(long = "candidate", value_name = "PATH_OR_HUB_ID")]
    candidates: Vec<String>,
    /// The output directory (must not exist unless --force).
    #[arg(long, default_value = "quantbound-report")]
    out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    force: bool,
    /// The weight half only, for checkpoints too large to run: each decoder linear read from the
    /// checkpoint on its own, fitted and quantized by every format, then dropped; no forward pass,
    /// so no texts, function metrics, sensitivity or candidates.
    #[arg(long, conflicts_with_all = ["candidates", "texts", "text_file"])]
    weights_only: bool,
}

/// indicatif bars, one per stage.
struct Bars;

struct Bar(ProgressBar);

impl Stage for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish();
    }
}

impl Progress for Bars {
    fn stage(&self, name: &str, total: u64) -> Box<dyn Stage> {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg:<52} [{bar:30}] {pos}/{len} {elapsed_precise} (eta {eta})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(name.to_owned());
        Box::new(Bar(bar))
    }
}

pub fn report(args: ReportArgs) -> Result<(), Error> {
    // A device this build lacks is refused before anything runs.
    run_on(args.device, None)?;
    // Refuse before a run of minutes, not after it.
    refuse_existing(&args.out, args.force)?;
    // The newcomer's first command: fetch the sample on first use.
    if args.model == "sample" && quantbound_llama::sample::find().is_err() {
        eprintln!("the sample model is not cached yet; fetching it (fetch-sample)");
        crate::fetch_sample::fetch_sample()?;
    }
    let read = |path: &PathBuf| std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    let (texts, texts_label) = match (&args.texts, &args.text_file) {
        (Some(path), _) => {
            let lines: Vec<String> = read(path)?.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
            if lines.is_empty() {
                return Err(format!("{}: no non-empty line to use as a text", path.display()).into());
            }
            let label = format!("{} ({} lines)", path.display(), lines.len());
            (Texts::Lines(lines), label)
        }
        (None, Some(path)) => {
            let text = read(path)?;
            if text.trim().is_empty() {
                return Err(format!("{}: the document is empty", path.display()).into());
            }
            let cut = match args.ppl_mode {
                PplMode::Windows => format!("{}-token windows", args.max_length),
                PplMode::LlamaCpp => {
                    format!("llama-perplexity's {}-token chunks, second halves scored", args.max_length)
                }
            };
            (Texts::Document(text), format!("{} in {cut}", path.display()))
        }
        (None, None) => {
            let seed = ReportOptions::seed(ModelSpec::Sample, "");
            (seed.texts, seed.texts_label)
        }
    };
    let options = ReportOptions {
        model: ModelSpec::parse(&args.model)?,
        model_label: args.model.clone(),
        formats: args.formats,
        device: args.device,
        blocksize: Blocksize::new(args.blocksize, "--blocksize")?,
        double_quant: args.double_quant,
        ref_dtype: args.ref_dtype,
        max_length: args.max_length,
        batch_size: args.batch_size,
        layer: args.layer,
        texts,
        ppl_mode: args.ppl_mode,
        texts_label,
        deduplicate: true,
        sensitivity: args.sensitivity,
        rotate: args.rotate,
        candidates: args
            .candidates
            .iter()
            .map(|c| Ok((c.clone(), ModelSpec::parse(c)?)))
            .collect::<Result<_, Error>>()?,
    };
    let start = std::time::Instant::now();
    if args.weights_only {
        return weights_only(&options, &args.out, args.force, start);
    }
    let report = run_on(args.device, Some(&options))?.expect("a run was asked for");
    write_report(&report, &args.out, args.force)?;
    println!(
        "\n{:<12} {:>12} {:>12} {:>10} {:>10} {:>8} {:>12}",
        "format", "weight MSE", "logits MSE", "ΔCE", "KL mean", "top-1", "gap vs GGD"
    );
    for f in &report.formats {
        let seed = &report.seed.methods[&f.format];
        println!(
            "{:<12} {:>12.4e} {:>12.4e} {:>+10.5} {:>10.5} {:>7.2}% {:>10.3} b",
            f.format.as_str().to_uppercase(),
            f.seed_layer_weight_mse,
            f.metrics.logits_mse,
            f.metrics.delta_ce,
            f.metrics.kl_mean,
            100.0 * f.metrics.top1_agreement,
            seed.gap_bits_vs_ggd
        );
    }
    for c in &report.candidates {
        let dtypes: Vec<String> = c.linear_dtypes.iter().map(|(d, n)| format!("{n}×{d}")).collect();
        println!(
            "{:<12} {:>12.4e} {:>12.4e} {:>+10.5} {:>10.5} {:>7.2}% {:>12} ({:.3} bpw: {})",
            "candidate",
            c.seed_layer_weight_mse,
            c.metrics.logits_mse,
            c.metrics.delta_ce,
            c.metrics.kl_mean,
            100.0 * c.metrics.top1_agreement,
            c.candidate,
            c.bits_per_weight,
            dtypes.join(", ")
        );
    }
    println!(
        "\nreference CE {:.5} nats; h_ggd {:.4} bits (seed formula {:.4}); wrote {} in {:.1} s",
        report.seed.ce_ref,
        report.seed.h_ggd_bits,
        report.seed.h_ggd_bits_seed_formula,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    if let Some(sensitivity) = &report.sensitivity {
        for (format, a) in &sensitivity.additivity {
            let ranked = sensitivity.layers.iter().filter(|r| r.format == *format);
            let most = ranked.clone().max_by(|a, b| a.run.kl_mean.total_cmp(&b.run.kl_mean)).map_or(0, |r| r.layer);
            println!(
                "{:<6} layer sensitivity: Σ single-layer KL {:.5} vs full {:.5}; most sensitive layer {most}",
                format.as_str().to_uppercase(),
                a.sum_kl,
                a.full_kl
            );
        }
    }
    println!(
        "stages: {}; SIMD {}, backend {}; {} sequences ({} distinct)",
        report.timings_line(),
        report.settings.simd,
        report.settings.backend,
        report.settings.sequences,
        report.settings.distinct_sequences
    );
    Ok(())
}

/// `--weights-only`: the weight half, written to `out`, and its summary.
fn weights_only(
    options: &ReportOptions,
    out: &std::path::Path,
    force: bool,
    start: std::time::Instant,
) -> Result<(), Error> {
    let report = quantbound_report::run_weights_only(options, &Bars)?;
    write_weights_report(&report, out, force)?;
    println!("\n{:<12} {:>12} {:>14} {:>16}", "format", "bits/weight", "weight MSE", "mean weight MSE");
    for f in &report.formats {
        println!(
            "{:<12} {:>12.4} {:>14.4e} {:>16.4e}",
            f.format.as_str().to_uppercase(),
            f.bits_per_weight,
            f.seed_layer_weight_mse,
            f.mean_weight_mse
        );
    }
    println!(
        "\nweights only: {} decoder linears, {} weights; h_ggd {:.4} bits; wrote {} in {:.1} s (SIMD {})",
        report.model.quantized_linears,
        report.model.quantized_weights,
        report.theory.h_ggd_bits,
        out.display(),
        start.elapsed().as_secs_f64(),
        report.settings.simd
    );
    Ok(())
}

/// Runs the report on `device`'s backend, or with `options` `None` only checks that this build
/// has it and that its device opens (`report` does that first, before any work).
fn run_on(device: Device, options: Option<&ReportOptions>) -> Result<Option<quantbound_report::Report>, Error> {
    fn on<B: quantbound_llama::backend::QuantBackend>(
        options: Option<&ReportOptions>,
    ) -> Result<Option<quantbound_report::Report>, Error> {
        let device = Default::default();
        match options {
            Some(options) => Ok(Some(quantbound_report::run::<B>(options, &device, &Bars)?)),
            None if quantbound_llama::backend::device_available::<B>(&device) => Ok(None),
            None => Err(format!(
                "--device {}: no device could be opened (wgpu needs a Vulkan, Metal or DX12 driver, on Linux \
                 e.g. Mesa's mesa-vulkan-drivers; CUDA an NVIDIA driver)",
                B::NAME
            )
            .into()),
        }
    }
    match device {
        Device::Cpu => on::<Cpu>(options),
        #[cfg(feature = "wgpu")]
        Device::Wgpu => on::<quantbound_llama::backend::Wgpu>(options),
        #[cfg(feature = "cuda")]
        Device::Cuda => on::<quantbound_llama::backend::Cuda>(options),
        #[allow(unreachable_patterns)]
        other => {
            let name = other.to_possible_value().expect("every device has a name");
            Err(format!(
                "--device {0}: this build has no {0} backend; build with the `{0}` feature \
                 (cargo install --path crates/quantbound-cli --features {0})",
                name.get_name()
            )
            .into())
        }
    }
}

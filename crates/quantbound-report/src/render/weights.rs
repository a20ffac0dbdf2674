//! A weights-only report (`--weights-only`): report.json, layers.csv and a short report.md with
//! the model, the formats' weight errors and the seed tensor against the bounds.

use std::fmt::Write as _;
use std::path::Path;

use quantbound_formats::FormatName;
use quantbound_llama::layout::LinearKind;

use super::table::Table;
use super::{csv_rows, e4, io, upper};
use crate::error::Result;
use crate::weights_only::WeightsReport;

pub(super) fn write_into(report: &WeightsReport, dir: &Path) -> Result<()> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(&path))
    };
    write("report.json", serde_json::to_string_pretty(report).expect("a report serializes") + "\n")?;
    write("layers.csv", csv_rows(&report.layers)?)?;
    write("report.md", markdown(report))
}

/// `format`'s gap to the GGD's Shannon lower bound on the seed tensor, at the bits per weight
/// that tensor is stored at.
fn own_rate_gap(report: &WeightsReport, format: FormatName) -> Option<f64> {
    let seed = report
        .layers
        .iter()
        .find(|r| r.layer == report.settings.layer && r.linear == LinearKind::Down && r.format == format)?;
    report.theory.gap_at(seed.bits_per_weight, format).map(|g| g.gap_bits_vs_ggd)
}

fn markdown(report: &WeightsReport) -> String {
    let (model, theory) = (&report.model, &report.theory);
    let mut md = format!("# quantbound weights-only report: {}\n\n", model.source);
    md.push_str(
        "Weights only (`--weights-only`): every decoder linear was read from the checkpoint on its own and \
         quantized by each format; no forward pass ran, so there are no function metrics, sensitivity or \
         candidates. Run without `--weights-only` for them.\n\n## Model\n\n",
    );
    let dtypes: Vec<String> = model.weight_dtypes.iter().map(|(d, n)| format!("{n}×{d}")).collect();
    let _ = writeln!(
        md,
        "`{}`: {} layers, hidden {}, intermediate {}; {} decoder linears, {} weights ({}).\n",
        model.resolved,
        model.layers,
        model.hidden_size,
        model.intermediate_size,
        model.quantized_linears,
        model.quantized_weights,
        dtypes.join(", ")
    );
    let _ = writeln!(md, "## Weight MSE\n");
    let seed = format!("weight MSE, layer {} `{}`", report.settings.layer, LinearKind::Down);
    let mut table =
        Table::new(&["format", "bits/weight", seed.as_str(), "mean weight MSE", "gap to GGD SLB at its rate (bits)"]);
    for f in &report.formats {
        let gap = own_rate_gap(report, f.format).map_or("–".into(), |g| format!("{g:.3}"));
        table.row(&[
            upper(f.format),
            format!("{:.4}", f.bits_per_weight),
            e4(f.seed_layer_weight_mse),
            e4(f.mean_weight_mse),
            gap,
        ]);
    }
    md.push_str(table.render());
    let _ = writeln!(md, "\n## `{}` against the bounds\n", theory.tensor);
    let _ = writeln!(
        md,
        "σ {}, GGD β {:.4} (μ {}, α {}); h_gauss {:.4} bits, h_ggd {:.4} bits; histogram KL to a Gaussian {:.5} bits.\n",
        e4(theory.sigma),
        theory.ggd.beta,
        e4(theory.ggd.loc),
        e4(theory.ggd.scale),
        theory.h_gauss_bits,
        theory.h_ggd_bits,
        theory.kl_to_gauss_bits
    );
    let mut bounds = Table::new(&["R (bits)", "Gaussian D(R)", "GGD SLB", "Blahut–Arimoto"]);
    for v in &theory.rates {
        bounds.row(&[format!("{:.4}", v.rate), e4(v.d_gauss), e4(v.slb_ggd), e4(v.blahut_arimoto)]);
    }
    md.push_str(bounds.render());
    let timings: Vec<String> = report.timings.iter().map(|(stage, s)| format!("{stage} {s:.1} s")).collect();
    let _ = writeln!(md, "\n## Run\n\n{}; SIMD {}.", timings.join(", "), report.settings.simd);
    md
}

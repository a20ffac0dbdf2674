//! report.md's "Layer sensitivity" section: each layer quantized on its own, whether the layers'
//! errors add up, and what keeping the most sensitive ones unquantized would buy.

use std::fmt::Write as _;

use super::table::Table;
use super::{e4, upper};
use crate::report::{PartRun, Report, Sensitivity};
use crate::sensitivity::KEPT_BITS;

/// The section, or nothing with `--sensitivity off`.
pub(super) fn layer_sensitivity(report: &Report) -> String {
    let Some(s) = &report.sensitivity else { return String::new() };
    let mut out = String::from(
        "\n## Layer sensitivity\n\nEach format applied to one decoder layer's seven linears at a time, every other \
         weight left as the reference; ΔKL is that model's mean KL(ref ‖ q) in nats, and amplification its logits MSE \
         over that layer's weight MSE.\n\n",
    );
    out.push_str(&per_layer(report, s));
    out.push_str(&extremes(report, s));
    out.push_str(&additivity(s));
    out.push_str(&allocation(s));
    if !s.linears.is_empty() {
        out.push_str(&linear_types(s));
    }
    out
}

fn per_layer(report: &Report, s: &Sensitivity) -> String {
    let mut header = vec!["Layer".to_owned()];
    for &f in &report.settings.formats {
        for column in ["weight MSE", "ΔKL", "ΔCE", "top-1", "amplification"] {
            header.push(format!("{} {column}", upper(f)));
        }
    }
    let mut table = Table::new(&header);
    for layer in 0..report.model.layers {
        let mut row = vec![layer.to_string()];
        for &f in &report.settings.formats {
            if let Some(r) = s.layers.iter().find(|r| r.layer == layer && r.format == f) {
                row.extend(run_cells(&r.run));
            }
        }
        table.row(&row);
    }
    table.render().to_owned()
}

/// The most and least sensitive layers of each format.
fn extremes(report: &Report, s: &Sensitivity) -> String {
    let mut out = String::from("\n");
    for &f in &report.settings.formats {
        let mut rows: Vec<_> = s.layers.iter().filter(|r| r.format == f).collect();
        rows.sort_by(|a, b| b.run.kl_mean.total_cmp(&a.run.kl_mean));
        let (Some(most), Some(least)) = (rows.first(), rows.last()) else { continue };
        let _ = writeln!(
            out,
            "- {}: most sensitive layer {} (ΔKL {}), least sensitive layer {} (ΔKL {}).",
            upper(f),
            most.layer,
            e4(most.run.kl_mean),
            least.layer,
            e4(least.run.kl_mean)
        );
    }
    out
}

fn additivity(s: &Sensitivity) -> String {
    let mut table = Table::new(&[
        "Format",
        "Σ_l ΔKL_l",
        "full ΔKL",
        "Σ / full",
        "predicted ΔKL",
        "Σ_l ΔCE_l",
        "full ΔCE",
        "predicted ΔCE",
        "R²",
        "R² (weight error only)",
    ]);
    for (format, a) in &s.additivity {
        table.row(&[
            upper(*format),
            e4(a.sum_kl),
            e4(a.full_kl),
            format!("{:.3}", a.sum_kl / a.full_kl),
            e4(a.predicted_kl),
            format!("{:+.3e}", a.sum_delta_ce),
            format!("{:+.3e}", a.full_delta_ce),
            format!("{:+.3e}", a.predicted_delta_ce),
            a.r2.map_or("–".into(), |r| format!("{r:.4}")),
            format!("{:.4}", a.r2_weight_error_only),
        ]);
    }
    format!(
        "\n### Additivity\n\nThe single-layer runs summed, against the fully quantized model. The linear model \
         ΔKL_l ≈ a_l · relMSE_l (relMSE = weight MSE / mean w² over the layer) has one coefficient per layer shared by \
         every format, fitted by least squares on the single-layer runs; R² is its fit on each format's runs, and \
         \"predicted\" its Σ_l a_l · relMSE_l for the full model. The last column fits one coefficient for every \
         layer: how much of the sensitivity the weight error alone explains.\n\n{}",
        table.render()
    )
}

fn allocation(s: &Sensitivity) -> String {
    let mut table = Table::new(&[
        "Format",
        "k",
        "kept layers",
        "bits per weight",
        "predicted ΔKL",
        "measured ΔKL",
        "predicted ΔCE",
        "measured ΔCE",
    ]);
    let measured = |v: Option<f64>, f: fn(f64) -> String| v.map_or("–".into(), f);
    for a in &s.allocation {
        table.row(&[
            upper(a.format),
            a.k.to_string(),
            a.kept_layers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            format!("{:.4}", a.bits_per_weight),
            e4(a.predicted_kl),
            measured(a.measured_kl, e4),
            format!("{:+.3e}", a.predicted_delta_ce),
            measured(a.measured_delta_ce, |v| format!("{v:+.3e}")),
        ]);
    }
    format!(
        "\n### Keeping the most sensitive layers\n\nThe k layers of largest ΔKL kept at {KEPT_BITS} bits (f16), the \
         rest in the format at its own bits per weight: the predicted ΔKL is the full model's minus the kept \
         layers' own ΔKL. The measured columns are a real run of that model.\n\n{}",
        table.render()
    )
}

fn linear_types(s: &Sensitivity) -> String {
    let mut table = Table::new(&["Linear", "Format", "weight MSE", "ΔKL", "ΔCE", "top-1", "amplification"]);
    for r in &s.linears {
        let mut row = vec![format!("`{}`", r.linear), upper(r.format)];
        row.extend(run_cells(&r.run));
        table.row(&row);
    }
    format!(
        "\n### One linear type at a time\n\nEach type quantized in every layer, the rest left as the reference.\n\n{}",
        table.render()
    )
}

/// weight MSE, ΔKL, ΔCE, top-1 and amplification, as the tables print them.
fn run_cells(r: &PartRun) -> [String; 5] {
    [
        e4(r.weight_mse),
        e4(r.kl_mean),
        format!("{:+.3e}", r.delta_ce),
        format!("{:.2}%", 100.0 * r.top1_agreement),
        e4(r.amplification),
    ]
}

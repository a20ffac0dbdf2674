//! report.md's sections beyond the seed's six.

use std::fmt::Write as _;

use super::table::Table;
use super::{e4, seed_tensor, upper};
use crate::options::Rotation;
use crate::report::{LinearRow, Report};
use crate::theory::{BA_BIN_FRACTION, BA_TOLERANCE};
use quantbound_llama::layout::LinearKind;
use quantbound_metrics::LogitMetrics;
use quantbound_theory::bounds::{gaussian_distortion_rate, shannon_lower_bound};

/// Per layer and format: the mean weight MSE of its linears, and the layer's amplification:
/// measured (only that layer quantized) with the sensitivity runs, else the whole model's logits
/// MSE over it.
pub(super) fn per_layer(report: &Report) -> String {
    let measured = report.sensitivity.as_ref();
    let mut header = vec!["Layer".to_owned()];
    for f in &report.formats {
        header.push(format!("{} mean MSE", upper(f.format)));
        let kind = if measured.is_some() { "amplification (measured)" } else { "amplification (derived)" };
        header.push(format!("{} {kind}", upper(f.format)));
    }
    let mut table = Table::new(&header);
    for layer in 0..report.model.layers {
        let mut row = vec![layer.to_string()];
        for f in &report.formats {
            let mean = report.layer_mean(layer, f.format, |r| r.mse);
            let amplification = match measured {
                Some(s) => s
                    .layers
                    .iter()
                    .find(|r| r.layer == layer && r.format == f.format)
                    .map_or(f64::NAN, |r| r.run.amplification),
                None => f.metrics.logits_mse / mean,
            };
            row.extend([e4(mean), e4(amplification)]);
        }
        table.row(&row);
    }
    format!(
        "\n## Per-layer weight MSE and amplification\n\n{}\nEvery linear's numbers (SQNR, GGD fit, KL, gaps at R = 4 \
         and R_eff, the layer's measured sensitivity) are in `layers.csv`.\n",
        table.render()
    )
}

/// With `--rotate hadamard`: how much closer to Gaussian the rotated weights are.
pub(super) fn rotation(report: &Report) -> String {
    if report.settings.rotate != Rotation::Hadamard {
        return String::new();
    }
    // One row per linear (the first format's rows carry each linear once).
    let Some(first) = report.settings.formats.first() else { return String::new() };
    let rows: Vec<_> = report.layers.iter().filter(|r| r.format == *first).collect();
    let mean = |f: &dyn Fn(&LinearRow) -> Option<f64>| {
        let v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let mut table =
        Table::new(&["", "GGD β (mean over linears)", "KL to a Gaussian, bits (mean)", &seed_tensor(report)]);
    let seed = rows.iter().find(|r| r.layer == report.settings.layer && r.linear == LinearKind::Down);
    table.row(&[
        "as stored".into(),
        format!("{:.4}", mean(&|r| Some(r.ggd_beta))),
        format!("{:.5}", mean(&|r| Some(r.kl_to_gauss_bits))),
        seed.map_or("–".into(), |r| format!("β {:.4}, KL {:.5}", r.ggd_beta, r.kl_to_gauss_bits)),
    ]);
    table.row(&[
        "rotated".into(),
        format!("{:.4}", mean(&|r| r.rotated_ggd_beta)),
        format!("{:.5}", mean(&|r| r.rotated_kl_to_gauss_bits)),
        seed.map_or("–".into(), |r| {
            format!(
                "β {:.4}, KL {:.5}",
                r.rotated_ggd_beta.unwrap_or(f64::NAN),
                r.rotated_kl_to_gauss_bits.unwrap_or(f64::NAN)
            )
        }),
    ]);
    format!(
        "\n## Rotation\n\nEvery linear's rows went through a randomized Hadamard transform (blocks of the largest power of \
         two dividing the row, random signs) before quantizing, undone after: the model computes the same function, \
         and every weight MSE here is measured in the original basis. The rotated weights are closer to Gaussian \
         (β → 2, KL → 0):\n\n{}",
        table.render()
    )
}

/// llama.cpp's perplexity and KL-divergence statistics (`llama-perplexity --kl-divergence`), a
/// column per format, each mean with its ± standard error.
pub(super) fn kl_statistics(report: &Report) -> String {
    let mut header = vec!["Statistic".to_owned()];
    header.extend(report.formats.iter().map(|f| upper(f.format)));
    let mut table = Table::new(&header);
    let mut stat = |name: &str, value: &dyn Fn(&LogitMetrics) -> String| {
        let mut row = vec![name.to_owned()];
        row.extend(report.formats.iter().map(|f| value(&f.metrics)));
        table.row(&row);
    };
    stat("Mean PPL(Q)", &|m| format!("{:.6} ± {:.6}", m.ppl, m.errors.ppl));
    stat("Mean PPL(base)", &|m| format!("{:.6} ± {:.6}", m.ppl_ref, m.errors.ppl_ref));
    stat("Cor(ln(PPL(Q)), ln(PPL(base)))", &|m| format!("{:.2}%", 100.0 * m.nll_correlation));
    stat("Mean ln(PPL(Q)/PPL(base))", &|m| format!("{:.6} ± {:.6}", m.delta_ce, m.errors.delta_ce));
    stat("Mean PPL(Q)/PPL(base)", &|m| format!("{:.6} ± {:.6}", m.ppl_ratio, m.errors.ppl_ratio));
    stat("Mean PPL(Q)-PPL(base)", &|m| format!("{:.6} ± {:.6}", m.ppl - m.ppl_ref, m.errors.ppl_difference));
    stat("Mean KLD", &|m| format!("{:.6} ± {:.6}", m.kl_mean, m.errors.kl_mean));
    stat("Maximum KLD", &|m| format!("{:.6}", m.kl_max));
    for (i, p) in quantbound_metrics::KL_PERCENTILES.iter().enumerate() {
        stat(&format!("{p}% KLD"), &|m| format!("{:.6}", m.kl_percentiles[i].1));
    }
    stat("Minimum KLD", &|m| format!("{:.6}", m.kl_min));
    stat("Mean Δp", &|m| format!("{:.3} ± {:.3}%", 100.0 * m.delta_p_mean, 100.0 * m.errors.delta_p_mean));
    stat("Maximum Δp", &|m| format!("{:.3}%", 100.0 * m.delta_p_max));
    for (i, p) in quantbound_metrics::DELTA_P_PERCENTILES.iter().enumerate() {
        stat(&format!("{p}% Δp"), &|m| format!("{:.3}%", 100.0 * m.delta_p_percentiles[i].1));
    }
    stat("Minimum Δp", &|m| format!("{:.3}%", 100.0 * m.delta_p_min));
    stat("RMS Δp", &|m| format!("{:.3} ± {:.3}%", 100.0 * m.rms_delta_p, 100.0 * m.errors.rms_delta_p));
    stat("Same top p (top-1 agreement)", &|m| {
        format!("{:.3} ± {:.3}%", 100.0 * m.top1_agreement, 100.0 * m.errors.top1_agreement)
    });
    stat("Scored positions", &|m| m.scored_positions.to_string());
    format!("\n## KL divergence statistics (llama.cpp's set)\n\n{}", table.render())
}

/// The gaps at the effective rate, and the Blahut–Arimoto curve.
pub(super) fn effective_rate(report: &Report) -> String {
    let (s, t) = (&report.settings, &report.theory);
    let mut gaps = Table::new(&[
        "R (bits)",
        "Method",
        "weight_mse",
        "Gaussian D(R)",
        "gap (bits)",
        "GGD SLB",
        "gap (bits)",
        "Blahut–Arimoto D(R)",
        "gap (bits)",
    ]);
    for v in &t.rates {
        for g in &v.gaps {
            gaps.row(&[
                format!("{:.4}", v.rate),
                upper(g.format),
                e4(g.weight_mse),
                e4(v.d_gauss),
                format!("{:.4}", g.gap_bits_vs_gauss),
                e4(v.slb_ggd),
                format!("{:.4}", g.gap_bits_vs_ggd),
                e4(v.blahut_arimoto),
                format!("{:.4}", g.gap_bits_vs_blahut_arimoto),
            ]);
        }
    }
    let mut curve = Table::new(&[
        "R (bits)",
        "D(R), weights",
        "± bits",
        "R (bits)",
        "D(R), fitted GGD",
        "± bits",
        "GGD SLB",
        "Gaussian D(R)",
    ]);
    let variance = t.sigma * t.sigma;
    for (p, g) in t.blahut_arimoto.points.iter().zip(&t.blahut_arimoto_ggd.points) {
        curve.row(&[
            format!("{:.4}", p.rate),
            e4(p.distortion),
            format!("{:.1e}", p.accuracy_bits),
            format!("{:.4}", g.rate),
            e4(g.distortion),
            format!("{:.1e}", g.accuracy_bits),
            e4(shannon_lower_bound(t.h_ggd_bits, p.rate)),
            e4(gaussian_distortion_rate(variance, p.rate)),
        ]);
    }
    let rates: Vec<String> =
        report.formats.iter().map(|f| format!("{} {:.4}", upper(f.format), f.bits_per_weight)).collect();
    let mut out = format!(
        "\n## The effective-rate view\n\nEvery format spends more than 4 bits per weight once its scales (and \
         zero-points) are counted: {}{}. Measured against the bounds at R = 4 and at each format's own rate, the gaps \
         are:\n\n{}",
        rates.join(", "),
        if s.double_quant { " (bnb's double quant: 8-bit absmax codes, one f32 per 256 blocks)" } else { "" },
        gaps.render()
    );
    let (w, g) = (&t.blahut_arimoto, &t.blahut_arimoto_ggd);
    let _ = writeln!(
        out,
        "\nBlahut–Arimoto D(R) of the weights and of their fitted GGD, each discretized in bins of {} ({} and {} bins \
         with mass, each at its centroid; the bins are {BA_BIN_FRACTION} × √D at the highest rate). Every D is the \
         discretized source's D plus the spread within its bins ({} and {}), so it is achievable for the weights \
         (or the density) themselves: a certified upper bound, which the Shannon lower bound stays below. ± is \
         Blahut's certificate on the rate (asked for ≤ {BA_TOLERANCE:.0e} bits). The seed's 200-bin histogram would \
         not do: its entropy is {:.3} bits, so its own D(R) falls to 0 there and dips below the bound well before.\n",
        e4(w.bin_width),
        w.bins,
        g.bins,
        e4(w.within_variance),
        e4(g.within_variance),
        t.histogram_entropy_bits
    );
    out + curve.render()
}

/// The codebooks on the seed tensor: expected and measured MSE.
pub(super) fn codebooks(report: &Report) -> String {
    let mut table = Table::new(&["Codebook", "Scaling", "Expected MSE (fitted GGD)", "Measured MSE"]);
    for c in &report.theory.codebooks {
        let measured = c.measured_mse.map_or("–".into(), e4);
        table.row(&[c.name.clone(), c.normalization.clone(), e4(c.expected_mse), measured]);
    }
    format!("\n## Optimal codebooks ({})\n\n{}", seed_tensor(report), table.render())
}

/// The plots, by file name under `plots/`.
pub(super) fn plots(plots: &[String]) -> String {
    let mut out = String::from("\n## Plots\n\n");
    for p in plots {
        let _ = writeln!(out, "![{p}](plots/{p})");
    }
    out
}

/// Versions, where the model resolved to, and the stage timings.
pub(super) fn run(report: &Report) -> String {
    let v = &report.versions;
    format!(
        "\n## Run\n\nquantbound {}, Burn {}, bnb format {}. Model resolved to `{}`. Timings: {}.\n",
        v.quantbound,
        v.burn,
        v.bitsandbytes_format,
        report.model.resolved,
        report.timings_line()
    )
}

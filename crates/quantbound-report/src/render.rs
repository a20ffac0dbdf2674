//! Writing a [`Report`]: `report.md` (the seed's six sections first, with its column names, then
//! the extra sections), `report.json`, `layers.csv` and `plots/*.svg`, into a directory that
//! appears only once complete.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{ReportError, Result};
use crate::report::Report;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { file: path.display().to_string(), source }
}

/// Writes the four outputs into `out`, atomically: everything goes into a temporary sibling
/// directory that is renamed to `out` at the end, so `out` either holds a whole report or does not
/// exist. An existing `out` is an error unless `force`, which replaces it.
pub fn write_report(report: &Report, out: &Path, force: bool) -> Result<()> {
    refuse_existing(out, force)?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let name = out.file_name().map_or("report".into(), |n| n.to_string_lossy().into_owned());
    let temp: PathBuf = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let written = write_into(report, &temp).and_then(|()| {
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(io(out))?;
        }
        std::fs::rename(&temp, out).map_err(io(out))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    written
}

/// The error for an existing output directory without `force` (callers check before a long run,
/// and [`write_report`] again before writing).
pub fn refuse_existing(out: &Path, force: bool) -> Result<()> {
    if out.exists() && !force {
        return Err(ReportError::Invalid(format!(
            "{}: the output directory exists; pass --force to replace it",
            out.display()
        )));
    }
    Ok(())
}

fn write_into(report: &Report, dir: &Path) -> Result<()> {
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).map_err(io(&plots))?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(&path))
    };
    write("report.json", serde_json::to_string_pretty(report).expect("a report serializes") + "\n")?;
    write("layers.csv", csv(report))?;
    let names = crate::plots::write_all(report, &plots)?;
    write("report.md", markdown(report, &names))
}

/// `layers.csv`: one row per (layer, linear, format).
pub fn csv(report: &Report) -> String {
    let mut out = String::from(
        "layer,linear,format,numel,mse,sqnr_db,max_abs_error,sigma,ggd_beta,ggd_scale,ggd_loc,kl_to_gauss_bits,\
         gap_bits_vs_gauss_r4,gap_bits_vs_ggd_r4,gap_bits_vs_gauss_reff,gap_bits_vs_ggd_reff,amplification\n",
    );
    for r in &report.layers {
        let _ = writeln!(
            out,
            "{},{},{},{},{:e},{},{:e},{:e},{},{:e},{:e},{},{},{},{},{},{}",
            r.layer,
            r.linear,
            r.format,
            r.numel,
            r.mse,
            r.sqnr_db,
            r.max_abs_error,
            r.sigma,
            r.ggd_beta,
            r.ggd_scale,
            r.ggd_loc,
            r.kl_to_gauss_bits,
            r.gap_bits_vs_gauss_r4,
            r.gap_bits_vs_ggd_r4,
            r.gap_bits_vs_gauss_reff,
            r.gap_bits_vs_ggd_reff,
            r.amplification
        );
    }
    out
}

/// `report.md`.
pub fn markdown(report: &Report, plots: &[String]) -> String {
    let s = &report.settings;
    let seed = &report.seed;
    let t = &report.theory;
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# quantbound report: {}\n", report.model.source);
    let _ = writeln!(
        w,
        "Formats {} at blocksize {}{}; reference weights: {}; compute {} on {} (SIMD {}). Texts: {} ({} sequences, {} distinct, {} tokens, max length {}, batch {}).\n",
        s.formats.join(", ").to_uppercase(),
        s.blocksize,
        if s.double_quant { " with double quant" } else { "" },
        s.ref_dtype,
        s.compute_dtype,
        s.backend,
        s.simd,
        s.texts,
        s.sequences,
        s.distinct_sequences,
        s.tokens,
        s.max_length,
        s.batch_size
    );
    let layer = s.layer;

    let _ = writeln!(w, "## 1. Models\n");
    let _ = writeln!(
        w,
        "| Model | Format | Blocksize | Double quant | Bits per weight (R_eff) | Linear weights on device |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    let f16_mib = report.formats.first().map_or(0.0, |f| f.f16_bytes as f64 / (1 << 20) as f64);
    let _ =
        writeln!(w, "| {} | reference ({}) | – | – | – | {f16_mib:.1} MiB as f16 |", report.model.source, s.ref_dtype);
    for f in &report.formats {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {:.4} | {:.1} MiB ({:.3} × f16) |",
            report.model.source,
            f.format.to_uppercase(),
            s.blocksize,
            if s.double_quant { "yes" } else { "no" },
            s.effective_rate,
            f.device_bytes as f64 / (1 << 20) as f64,
            f.device_bytes as f64 / f.f16_bytes as f64
        );
    }
    let _ = writeln!(
        w,
        "\n{} layers, hidden {}, intermediate {}, {} heads / {} KV heads, vocabulary {}; {} quantized linears ({} weights). Weight dtypes: {}.\n",
        report.model.layers,
        report.model.hidden_size,
        report.model.intermediate_size,
        report.model.heads,
        report.model.kv_heads,
        report.model.vocab_size,
        report.model.quantized_linears,
        report.model.quantized_weights,
        report.model.weight_dtypes.iter().map(|(k, v)| format!("{k} × {v}")).collect::<Vec<_>>().join(", ")
    );
    for note in &report.model.dtype_notes {
        let _ = writeln!(w, "- {note}");
    }

    let _ = writeln!(w, "\n## 2. Weight MSE (layer {layer} `mlp.down_proj`)\n");
    let _ = writeln!(w, "| Method | weight_mse | SQNR (dB) | max abs error | mean weight_mse, all linears |");
    let _ = writeln!(w, "|---|---|---|---|---|");
    for f in &report.formats {
        let row =
            report.layers.iter().find(|r| r.layer == layer && r.linear == "mlp.down_proj" && r.format == f.format);
        let _ = writeln!(
            w,
            "| {} | {:.4e} | {:.2} | {:.4e} | {:.4e} |",
            f.format.to_uppercase(),
            f.seed_layer_weight_mse,
            row.map_or(f64::NAN, |r| r.sqnr_db),
            row.map_or(f64::NAN, |r| r.max_abs_error),
            f.mean_weight_mse
        );
    }

    let _ = writeln!(w, "\n## 3. Functional distortion\n");
    let _ = writeln!(w, "ce_ref = {:.5} nats (perplexity {:.3}).\n", seed.ce_ref, seed.ce_ref.exp());
    let _ = writeln!(
        w,
        "| Method | logits_mse | ce | delta_ce | perplexity | mean_kl_nats | top1_agreement | amplification |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
    for f in &report.formats {
        let m = &f.metrics;
        let _ = writeln!(
            w,
            "| {} | {:.4e} | {:.5} | {:+.5} | {:.3} | {:.5} | {:.4} | {:.4e} |",
            f.format.to_uppercase(),
            m.logits_mse,
            m.ce,
            m.delta_ce,
            m.ppl,
            m.kl_mean,
            m.top1_agreement,
            f.amplification_seed
        );
    }
    let _ = writeln!(
        w,
        "\namplification = logits_mse / weight_mse of layer {layer}'s `down_proj` (the seed's definition). Over all quantized linears: {}.",
        report.formats.iter().map(|f| format!("{} {:.4e}", f.format.to_uppercase(), f.amplification_mean)).collect::<Vec<_>>().join(", ")
    );

    let _ = writeln!(w, "\n## 4. Distribution analysis (layer {layer} `mlp.down_proj`, {} weights)\n", t.numel);
    let _ = writeln!(w, "| Quantity | Value |\n|---|---|");
    let _ = writeln!(w, "| sigma | {:.6e} |", seed.sigma);
    let _ = writeln!(w, "| GGD beta | {:.5} |", seed.ggd.beta);
    let _ = writeln!(w, "| GGD scale (α) | {:.6e} |", seed.ggd.scale);
    let _ = writeln!(w, "| GGD loc (μ) | {:.3e} |", seed.ggd.loc);
    let _ = writeln!(w, "| h_gauss_bits | {:.5} |", seed.h_gauss_bits);
    let _ = writeln!(w, "| h_ggd_bits (corrected) | {:.5} |", seed.h_ggd_bits);
    let _ = writeln!(w, "| h_ggd_bits, seed formula | {:.5} |", seed.h_ggd_bits_seed_formula);
    let _ = writeln!(
        w,
        "| bonus = h_gauss − h_ggd | {:.5} bits (seed formula: {:.5}) |",
        seed.bonus, seed.bonus_seed_formula
    );
    let _ = writeln!(w, "| KL to Gaussian, this tensor | {:.5} bits |", t.kl_to_gauss_bits);
    let _ = writeln!(w, "| mean_kl_to_gauss_bits (every layer's down_proj) | {:.5} bits |", seed.mean_kl_to_gauss_bits);
    let _ = writeln!(
        w,
        "\n**The seed's GGD entropy is off by {:.4} bits.** Its `ggd_entropy` adds 1/β where the entropy in bits needs \
         (1/β)·log2(e): it mixes nats and bits and understates h by 0.4427/β = {:.4} bits here. Everything that follows \
         (the bonus, the GGD bound and the gaps to it) uses the corrected value; the seed's is shown beside it.",
        seed.h_ggd_bits - seed.h_ggd_bits_seed_formula,
        (std::f64::consts::LOG2_E - 1.0) / seed.ggd.beta
    );

    let _ = writeln!(w, "\n## 5. Gap analysis\n");
    let _ = writeln!(
        w,
        "d_shannon_gauss = σ²·2^(−8) = {:.4e}; bound_ggd_4 = 2^(2(h_ggd − 4))/(2πe) = {:.4e} (seed formula: {:.4e}). gap = ½·log2(weight_mse / bound).\n",
        seed.d_shannon_gauss, seed.bound_ggd_4, seed.bound_ggd_4_seed_formula
    );
    let _ =
        writeln!(w, "| Method | weight_mse | d_shannon_gauss | gap_bits_vs_gauss | bound_ggd_4 | gap_bits_vs_ggd |");
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for (name, m) in &seed.methods {
        let _ = writeln!(
            w,
            "| {} | {:.4e} | {:.4e} | {:.4} | {:.4e} | {:.4} |",
            name.to_uppercase(),
            m.weight_mse,
            seed.d_shannon_gauss,
            m.gap_bits_vs_gauss,
            seed.bound_ggd_4,
            m.gap_bits_vs_ggd
        );
    }

    let _ = writeln!(w, "\n## 6. Summary\n");
    let _ = writeln!(w, "| Method | weight_mse | logits_mse | delta_ce | amplification | gap_bits_vs_gauss | gap_bits_vs_ggd | top1_agreement |");
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
    for (name, m) in &seed.methods {
        let _ = writeln!(
            w,
            "| {} | {:.4e} | {:.4e} | {:+.5} | {:.4e} | {:.3} | {:.3} | {:.4} |",
            name.to_uppercase(),
            m.weight_mse,
            m.logits_mse,
            m.delta_ce,
            m.amplification,
            m.gap_bits_vs_gauss,
            m.gap_bits_vs_ggd,
            m.top1_agreement
        );
    }
    if let Some(best) = report.formats.iter().min_by(|a, b| a.metrics.delta_ce.total_cmp(&b.metrics.delta_ce)) {
        let _ = writeln!(
            w,
            "\n{} distorts least here: ΔCE {:+.5} nats, mean KL {:.5} nats, top-1 agreement {:.2}%. At 4 bits it sits \
             {:.3} bits above the GGD's Shannon lower bound for layer {layer}'s down_proj.",
            best.format.to_uppercase(),
            best.metrics.delta_ce,
            best.metrics.kl_mean,
            100.0 * best.metrics.top1_agreement,
            seed.methods.get(&best.format).map_or(f64::NAN, |m| m.gap_bits_vs_ggd)
        );
    }

    // Beyond the seed.
    let _ = writeln!(w, "\n## Per-layer weight MSE and amplification\n");
    let mut header = String::from("| Layer |");
    let mut rule = String::from("|---|");
    for f in &s.formats {
        let _ = write!(header, " {0} mean MSE | {0} amplification |", f.to_uppercase());
        rule.push_str("---|---|");
    }
    let _ = writeln!(w, "{header}\n{rule}");
    for l in 0..report.model.layers {
        let mut line = format!("| {l} |");
        for f in &report.formats {
            let rows: Vec<f64> =
                report.layers.iter().filter(|r| r.layer == l && r.format == f.format).map(|r| r.mse).collect();
            let mean = rows.iter().sum::<f64>() / rows.len().max(1) as f64;
            let _ = write!(line, " {:.4e} | {:.4e} |", mean, f.metrics.logits_mse / mean);
        }
        let _ = writeln!(w, "{line}");
    }
    let _ = writeln!(w, "\nEvery linear's numbers (SQNR, GGD fit, KL, gaps at R = 4 and R_eff) are in `layers.csv`.");

    let _ = writeln!(w, "\n## KL divergence statistics (llama.cpp's set)\n");
    let mut header = String::from("| Statistic |");
    let mut rule = String::from("|---|");
    for f in &report.formats {
        let _ = write!(header, " {} |", f.format.to_uppercase());
        rule.push_str("---|");
    }
    let _ = writeln!(w, "{header}\n{rule}");
    let stat = |w: &mut String, name: &str, value: &dyn Fn(&crate::report::FormatResult) -> String| {
        let mut line = format!("| {name} |");
        for f in &report.formats {
            let _ = write!(line, " {} |", value(f));
        }
        let _ = writeln!(w, "{line}");
    };
    stat(w, "Mean KLD", &|f| format!("{:.6}", f.metrics.kl_mean));
    stat(w, "Maximum KLD", &|f| format!("{:.6}", f.metrics.kl_max));
    for (i, p) in quantbound_metrics::KL_PERCENTILES.iter().enumerate() {
        stat(w, &format!("{p}% KLD"), &|f| format!("{:.6}", f.metrics.kl_percentiles[i].1));
    }
    stat(w, "Same top p (top-1 agreement)", &|f| format!("{:.3}%", 100.0 * f.metrics.top1_agreement));
    stat(w, "RMS Δp", &|f| format!("{:.3}%", 100.0 * f.metrics.rms_delta_p));
    stat(w, "PPL (ref → quant)", &|f| format!("{:.4} → {:.4}", f.metrics.ppl_ref, f.metrics.ppl));
    stat(w, "Scored positions", &|f| f.metrics.scored_positions.to_string());

    let _ = writeln!(w, "\n## The effective-rate view\n");
    let _ = writeln!(
        w,
        "A 4-bit code with one f32 absmax per {} weights costs {:.4} bits per weight{}. Measured against the bounds at that rate, the gaps are:\n",
        s.blocksize,
        s.effective_rate,
        if s.double_quant { " (double quant: 8-bit absmax codes, one f32 per 256 blocks)" } else { "" }
    );
    let _ = writeln!(w, "| R (bits) | Method | weight_mse | Gaussian D(R) | gap (bits) | GGD SLB | gap (bits) | Blahut–Arimoto D(R) | gap (bits) |");
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|");
    for v in &t.rates {
        for g in &v.gaps {
            let _ = writeln!(
                w,
                "| {:.4} | {} | {:.4e} | {:.4e} | {:.4} | {:.4e} | {:.4} | {:.4e} | {:.4} |",
                v.rate,
                g.format.to_uppercase(),
                g.weight_mse,
                v.d_gauss,
                g.gap_bits_vs_gauss,
                v.slb_ggd,
                g.gap_bits_vs_ggd,
                v.blahut_arimoto,
                g.gap_bits_vs_blahut_arimoto
            );
        }
    }
    let _ = writeln!(
        w,
        "\nBlahut–Arimoto D(R) of the {}-bin weight histogram taken as a discrete source (asked for ≤ {:.0e} \
         bits; the accuracy each point reached is in its last column). The source has entropy {:.3} bits, so its \
         D(R) falls to 0 at that rate: near it, the histogram's coarseness, not the weights, sets the curve.\n",
        t.histogram_bins, 1e-2, t.histogram_entropy_bits
    );
    let _ = writeln!(w, "| R (bits) | D(R) | D(R) / σ²·2^(−2R) |\n|---|---|---|");
    for p in &t.blahut_arimoto {
        let _ = writeln!(
            w,
            "| {:.4} | {:.4e} | {:.4} |",
            p.rate,
            p.distortion,
            p.distortion / (t.sigma * t.sigma * (-2.0 * p.rate).exp2())
        );
    }

    let _ = writeln!(w, "\n## Optimal codebooks (layer {layer} `mlp.down_proj`)\n");
    let _ = writeln!(w, "| Codebook | Scaling | Expected MSE (fitted GGD) | Measured MSE |\n|---|---|---|---|");
    for c in &t.codebooks {
        let _ = writeln!(
            w,
            "| {} | {} | {:.4e} | {} |",
            c.name,
            c.normalization,
            c.expected_mse,
            c.measured_mse.map_or("–".into(), |m| format!("{m:.4e}"))
        );
    }

    let _ = writeln!(w, "\n## Plots\n");
    for p in plots {
        let _ = writeln!(w, "![{p}](plots/{p})");
    }
    let _ = writeln!(w, "\n## Run\n");
    let _ = writeln!(
        w,
        "quantbound {}, Burn {}, bnb format {}. Model resolved to `{}`. Timings: {}.",
        report.versions.quantbound,
        report.versions.burn,
        report.versions.bitsandbytes_format,
        report.model.resolved,
        report.timings_line()
    );
    md
}

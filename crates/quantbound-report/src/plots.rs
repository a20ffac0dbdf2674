//! The SVG plots (plotters): the weight histogram with the GGD fit, the D(R) curves with each
//! format at R = 4 and at R_eff, per-layer weight MSE and amplification, and the measured
//! per-layer sensitivity.

use std::path::Path;

use plotters::prelude::*;
use quantbound_formats::FormatName;
use quantbound_llama::layout::DECODER_LINEARS;
use quantbound_theory::bounds::{gaussian_distortion_rate, shannon_lower_bound};
use quantbound_theory::GeneralizedGaussian;
use statrs::distribution::{Continuous, Normal};

use crate::error::{ReportError, Result};
use crate::render::upper;
use crate::report::Report;

const SIZE: (u32, u32) = (900, 560);
/// matplotlib's tab10.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// What drawing returns: plotters', statrs' and our errors alike, named with the file once.
type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;
/// A plot's file name and the function that draws it.
type Plot = (&'static str, fn(&Report, &Path) -> Drawn);
/// A labelled line and its colour.
type Line = (&'static str, Vec<(f64, f64)>, RGBColor);

/// Writes every plot into `dir`; returns the file names.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<String>> {
    let mut plots: Vec<Plot> = vec![
        ("histogram.svg", histogram),
        ("rate_distortion.svg", rate_distortion),
        ("layer_mse.svg", layer_mse),
        ("layer_amplification.svg", layer_amplification),
    ];
    if report.sensitivity.is_some() {
        plots.push(("sensitivity.svg", sensitivity));
    }
    let mut names = Vec::new();
    for (name, draw) in plots {
        let file = dir.join(name);
        draw(report, &file)
            .map_err(|e| ReportError::Plot { file: file.display().to_string(), reason: e.to_string() })?;
        names.push(name.to_owned());
    }
    Ok(names)
}

fn histogram(report: &Report, file: &Path) -> Drawn {
    let t = &report.theory;
    let hist = &t.histogram;
    let width = if hist.len() > 1 { hist[1].0 - hist[0].0 } else { 1.0 };
    let (lo, hi) = (hist.first().map_or(-1.0, |h| h.0 - width), hist.last().map_or(1.0, |h| h.0 + width));
    let ggd = GeneralizedGaussian::new(t.ggd.beta, t.ggd.loc, t.ggd.scale)?;
    let curve = |f: &dyn Fn(f64) -> f64| {
        (0..=400).map(|i| lo + (hi - lo) * i as f64 / 400.0).map(|x| (x, f(x))).collect::<Vec<_>>()
    };
    let ggd_curve = curve(&|x| ggd.pdf(x));
    let normal = Normal::new(ggd.loc(), t.sigma)?;
    let gauss_curve = curve(&|x| normal.pdf(x));
    let top = hist.iter().map(|h| h.1).chain(ggd_curve.iter().map(|p| p.1)).fold(0.0, f64::max) * 1.05;
    let root = SVGBackend::new(file, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{}: histogram and fits", t.tensor), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0.0..top)?;
    chart.configure_mesh().x_desc("weight").y_desc("density").draw()?;
    chart
        .draw_series(hist.iter().map(|&(c, d)| {
            Rectangle::new([(c - width / 2.0, 0.0), (c + width / 2.0, d)], RGBColor(160, 160, 160).filled())
        }))?
        .label(format!("weights ({} bins)", hist.len()))
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], RGBColor(160, 160, 160).filled()));
    chart
        .draw_series(LineSeries::new(ggd_curve, COLOURS[0].stroke_width(2)))?
        .label(format!("GGD fit β = {:.3}", t.ggd.beta))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], COLOURS[0].stroke_width(2)));
    chart
        .draw_series(LineSeries::new(gauss_curve, COLOURS[1].stroke_width(2)))?
        .label(format!("Gaussian σ = {:.3e}", t.sigma))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], COLOURS[1].stroke_width(2)));
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    Ok(root.present()?)
}

fn rate_distortion(report: &Report, file: &Path) -> Drawn {
    let t = &report.theory;
    let variance = t.sigma * t.sigma;
    let rates: Vec<f64> = (0..=70).map(|i| 0.5 + i as f64 * 0.1).collect();
    let gauss: Vec<(f64, f64)> = rates.iter().map(|&r| (r, gaussian_distortion_rate(variance, r))).collect();
    let slb: Vec<(f64, f64)> = rates.iter().map(|&r| (r, shannon_lower_bound(t.h_ggd_bits, r))).collect();
    let curve = |c: &crate::report::RdCurve| c.points.iter().map(|p| (p.rate, p.distortion)).collect::<Vec<_>>();
    let (ba, ba_ggd) = (curve(&t.blahut_arimoto), curve(&t.blahut_arimoto_ggd));
    let mut points = Vec::new();
    for view in &t.rates {
        for gap in &view.gaps {
            points.push((gap.format, view.rate, gap.weight_mse));
        }
    }
    let all = gauss
        .iter()
        .chain(&slb)
        .chain(&ba)
        .chain(&ba_ggd)
        .map(|p| p.1)
        .chain(points.iter().map(|p| p.2))
        .filter(|v| *v > 0.0);
    let (lo, hi) = all.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let root = SVGBackend::new(file, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("D(R) of {} and the formats at R = 4 and R_eff", t.tensor), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.4f64..7.6, (lo * 0.7..hi * 1.5).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("rate R (bits per weight)")
        .y_desc("MSE")
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()?;
    let lines: [Line; 4] = [
        ("Gaussian D(R) = σ²·2^(−2R)", gauss, COLOURS[0]),
        ("GGD Shannon lower bound", slb, COLOURS[1]),
        ("Blahut–Arimoto (the weights)", ba, COLOURS[2]),
        ("Blahut–Arimoto (the fitted GGD)", ba_ggd, COLOURS[3]),
    ];
    for (label, line, colour) in lines {
        chart
            .draw_series(LineSeries::new(line, colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    // The seed tensor's own rate in each format, where its points sit.
    let bits = |format: FormatName| report.seed.methods.get(&format).map_or(f64::NAN, |m| m.bits_per_weight);
    for (i, format) in report.settings.formats.iter().enumerate() {
        let colour = if i == 0 { BLACK } else { COLOURS[(i + 3) % COLOURS.len()] };
        let mine: Vec<(f64, f64)> = points.iter().filter(|p| &p.0 == format).map(|p| (p.1, p.2)).collect();
        chart
            .draw_series(mine.iter().map(|&p| Circle::new(p, 5, colour.filled())))?
            .label(format!("{} measured (R = 4 and its own {:.3})", upper(*format), bits(*format)))
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, colour.filled()));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    Ok(root.present()?)
}

/// Per layer: the mean weight MSE of `format`'s rows.
fn per_layer_mse(report: &Report, format: FormatName) -> Vec<(f64, f64)> {
    (0..report.model.layers).map(|layer| (layer as f64, report.layer_mean(layer, format, |r| r.mse))).collect()
}

fn layer_plot(
    report: &Report,
    file: &Path,
    title: &str,
    y_desc: &str,
    series: Vec<(String, Vec<(f64, f64)>)>,
) -> Drawn {
    let values = series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).filter(|v| *v > 0.0 && v.is_finite());
    let hi = values.fold(0.0f64, f64::max);
    let hi = if hi > 0.0 { hi } else { 1.0 };
    let root = SVGBackend::new(file, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let layers = report.model.layers as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..layers - 0.5, 0.0..hi * 1.1)?;
    chart.configure_mesh().x_desc("layer").y_desc(y_desc).y_label_formatter(&|v| format!("{v:.2e}")).draw()?;
    for (i, (label, line)) in series.into_iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(line.clone(), colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
        chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, colour.filled())))?;
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    Ok(root.present()?)
}

fn layer_mse(report: &Report, file: &Path) -> Drawn {
    let series = report
        .settings
        .formats
        .iter()
        .map(|&f| {
            let label = format!("{} (mean of the layer's {} linears)", upper(f), DECODER_LINEARS.len());
            (label, per_layer_mse(report, f))
        })
        .collect();
    layer_plot(report, file, "Weight MSE per layer", "weight MSE", series)
}

/// The measured amplification of each layer quantized alone; without the sensitivity runs, the
/// whole model's logits MSE over each layer's mean weight MSE, labelled as such.
fn layer_amplification(report: &Report, file: &Path) -> Drawn {
    let series = report
        .settings
        .formats
        .iter()
        .map(|&f| match &report.sensitivity {
            Some(sensitivity) => (
                format!("{}: only this layer quantized, its logits MSE / its weight MSE", upper(f)),
                sensitivity
                    .layers
                    .iter()
                    .filter(|r| r.format == f)
                    .map(|r| (r.layer as f64, r.run.amplification))
                    .collect(),
            ),
            None => {
                let logits_mse =
                    report.formats.iter().find(|r| r.format == f).map_or(f64::NAN, |r| r.metrics.logits_mse);
                (
                    format!("{}: whole model's logits MSE / layer's mean weight MSE (derived)", upper(f)),
                    per_layer_mse(report, f).into_iter().map(|(l, m)| (l, logits_mse / m)).collect(),
                )
            }
        })
        .collect();
    layer_plot(report, file, "Amplification per layer", "amplification", series)
}

/// ΔKL of each layer quantized alone, per format, beside the linear model's prediction.
fn sensitivity(report: &Report, file: &Path) -> Drawn {
    let Some(sensitivity) = &report.sensitivity else { return Ok(()) };
    let mut series = Vec::new();
    for &f in &report.settings.formats {
        let rows: Vec<_> = sensitivity.layers.iter().filter(|r| r.format == f).collect();
        series.push((format!("{} measured", upper(f)), rows.iter().map(|r| (r.layer as f64, r.run.kl_mean)).collect()));
        series.push((
            format!("{} predicted (a_l · relMSE_l)", upper(f)),
            rows.iter().map(|r| (r.layer as f64, r.predicted_kl)).collect(),
        ));
    }
    layer_plot(report, file, "KL(ref ‖ q) with only one layer quantized", "mean KL (nats)", series)
}

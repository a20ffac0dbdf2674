//! Writing a [`Report`]: `report.md` (the seed's six sections first, with its column names, then
//! the extra sections), `report.json`, `layers.csv` and `plots/*.svg`, into a directory that
//! appears only once complete.

mod beyond;
mod candidates;
mod seed;
mod sensitivity;
mod table;
mod weights;

use std::path::{Path, PathBuf};

use quantbound_formats::FormatName;
use quantbound_llama::layout::LinearKind;

use crate::error::{ReportError, Result};
use crate::report::Report;
use crate::weights_only::WeightsReport;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { file: path.display().to_string(), source }
}

/// Writes the four outputs into `out`, atomically: everything goes into a temporary sibling
/// directory that is renamed to `out` at the end, so `out` either holds a whole report or does not
/// exist. An existing `out` is an error unless `force`, which replaces it.
pub fn write_report(report: &Report, out: &Path, force: bool) -> Result<()> {
    write_directory(out, force, |dir| write_into(report, dir))
}

/// Writes a weights-only report into `out` ([`weights::write_into`]), as atomically as
/// [`write_report`].
pub fn write_weights_report(report: &WeightsReport, out: &Path, force: bool) -> Result<()> {
    write_directory(out, force, |dir| weights::write_into(report, dir))
}

/// Fills a temporary sibling of `out` with `write` and renames it to `out` (replacing an existing
/// `out` only with `force`); on any error the temporary directory is removed.
fn write_directory(out: &Path, force: bool, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    refuse_existing(out, force)?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let name = out.file_name().map_or("report".into(), |n| n.to_string_lossy().into_owned());
    let temp: PathBuf = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let written = std::fs::create_dir_all(&temp).map_err(io(&temp)).and_then(|()| write(&temp)).and_then(|()| {
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
    write("layers.csv", csv(report)?)?;
    let names = crate::plots::write_all(report, &plots)?;
    write("report.md", markdown(report, &names))
}

/// `layers.csv`: one row per (layer, linear, format), the columns [`LinearRow`]'s fields.
pub fn csv(report: &Report) -> Result<String> {
    csv_rows(&report.layers)
}

/// A CSV of `rows`, the columns their fields.
fn csv_rows<T: serde::Serialize>(rows: &[T]) -> Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).map_err(|e| ReportError::Invalid(format!("layers.csv: {e}")))?;
    }
    let bytes = writer.into_inner().map_err(|e| ReportError::Invalid(format!("layers.csv: {e}")))?;
    Ok(String::from_utf8(bytes).expect("the rows are UTF-8"))
}

/// A section of report.md, in the order [`markdown`] writes them.
type Section = fn(&Report) -> String;

const SECTIONS: [Section; 14] = [
    seed::title,
    seed::models,
    seed::weight_mse,
    seed::functional,
    seed::distribution,
    seed::gaps,
    seed::summary,
    candidates::candidates,
    beyond::per_layer,
    sensitivity::layer_sensitivity,
    beyond::rotation,
    beyond::kl_statistics,
    beyond::effective_rate,
    beyond::codebooks,
];

/// `report.md`: the sections, the `plots` (file names under `plots/`), then the run.
pub fn markdown(report: &Report, plots: &[String]) -> String {
    let mut md: String = SECTIONS.iter().map(|section| section(report)).collect();
    md.push_str(&beyond::plots(plots));
    md.push_str(&beyond::run(report));
    md
}

/// `4.0123e-5`: the report's format for MSEs and other small quantities.
fn e4(value: f64) -> String {
    format!("{value:.4e}")
}

/// The seed's tensor as headings name it: layer 8 `mlp.down_proj`.
fn seed_tensor(report: &Report) -> String {
    format!("layer {} `{}`", report.settings.layer, LinearKind::Down)
}

/// A format's name as the tables and plots print it (`NF4`).
pub(crate) fn upper(format: FormatName) -> String {
    format.as_str().to_uppercase()
}

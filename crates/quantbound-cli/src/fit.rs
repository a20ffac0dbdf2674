//! `quantbound fit`: the weight-only analysis of a checkpoint, tensor by tensor: σ, the GGD fit,
//! entropies, rate-distortion bounds at R = 4 and the histogram KL to a Gaussian.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use quantbound_codebook::{checkpoint, FloatDtype, FloatSlice, FloatVec};
use quantbound_theory::bounds::{gaussian_distortion_rate, gaussian_entropy_bits, shannon_lower_bound};
use quantbound_theory::fit_ggd;
use quantbound_theory::histogram::{kl_to_gaussian_bits, SEED_BINS};
use regex::Regex;
use serde_json::json;

use crate::files::{map, write_atomically, Checkpoint, Error};

/// The rate the seed evaluates its bounds at, bits per weight.
const RATE: f64 = 4.0;

#[derive(Args)]
pub struct FitArgs {
    /// A dense safetensors checkpoint: one file, or a sharded one (its folder or its index).
    #[arg(long)]
    input: PathBuf,
    /// Analyse only the tensors whose full name matches this regex (default: every floating-point
    /// tensor of rank ≥ 2).
    #[arg(long)]
    only: Option<String>,
    /// Also write the numbers as JSON, one object per tensor keyed by its name.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn fit(args: FitArgs) -> Result<(), Error> {
    let only = args.only.as_deref().map(Regex::new).transpose().map_err(|e| format!("--only: {e}"))?;
    println!(
        "{:<48} {:>9} {:>7} {:>10} {:>9} {:>14} {:>8} {:>8} {:>10} {:>10} {:>8}",
        "tensor", "σ", "β", "μ", "α", "loglik", "h_gauss", "h_ggd", "D_gauss(4)", "SLB_ggd(4)", "KL bits"
    );
    let mut out = BTreeMap::new();
    // One shard mapped at a time, one tensor converted at a time.
    for path in Checkpoint::open(&args.input)?.files() {
        fit_file(&path, only.as_ref(), &mut out)?;
    }
    if out.is_empty() {
        return Err(format!("{}: no floating-point tensor matches", args.input.display()).into());
    }
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&out).expect("JSON values serialise");
        write_atomically(&path, |w| Ok(w.write_all(text.as_bytes())?))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Fits every selected tensor of the safetensors file at `path` into `out`, printing a row each.
fn fit_file(path: &Path, only: Option<&Regex>, out: &mut BTreeMap<String, serde_json::Value>) -> Result<(), Error> {
    let file = path.display().to_string();
    let bytes = map(path)?;
    let st = checkpoint::open(&bytes, &file)?;
    let mut names: Vec<&str> = st
        .names()
        .into_iter()
        .filter(|name| {
            let view = st.tensor(name).expect("listed by the file");
            match only {
                Some(only) => only.is_match(name) && FloatDtype::from_safetensors(view.dtype()).is_some(),
                None => checkpoint::is_default_quantize_target(&view),
            }
        })
        .collect();
    names.sort();
    for name in names {
        let start = Instant::now();
        let view = st.tensor(name).expect("listed by the file");
        let dtype = FloatDtype::from_safetensors(view.dtype()).expect("filtered to floats");
        // An aligned f32 tensor is read in place from the mapping; anything else is widened into
        // one f32 copy (never two: the tensor is the largest thing this command holds).
        let widened;
        let x: &[f32] = match FloatSlice::from_le_bytes(dtype, view.data()) {
            Some(FloatSlice::F32(values)) => values,
            _ => {
                let values = FloatVec::from_le_bytes(dtype, view.data())
                    .ok_or_else(|| format!("{file}: {name}: data length is not a multiple of the element size"))?;
                widened = match values {
                    FloatVec::F32(v) => v,
                    other => other.to_f32_vec(),
                };
                &widened
            }
        };
        let n = x.len() as f64;
        let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let variance = x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        let fit = fit_ggd(&x).map_err(|e| format!("{file}: {name}: {e}"))?;
        let kl = kl_to_gaussian_bits(&x, SEED_BINS).map_err(|e| format!("{file}: {name}: {e}"))?;
        let (h_gauss, h_ggd) = (gaussian_entropy_bits(variance), fit.dist.entropy_bits());
        let (d_gauss, d_slb) = (gaussian_distortion_rate(variance, RATE), shannon_lower_bound(h_ggd, RATE));
        println!(
            "{name:<48} {:>9.3e} {:>7.4} {:>10.2e} {:>9.3e} {:>14.1} {:>8.4} {:>8.4} {:>10.3e} {:>10.3e} {:>8.5}  ({:.2} s)",
            variance.sqrt(),
            fit.dist.beta(),
            fit.dist.loc(),
            fit.dist.scale(),
            fit.loglik,
            h_gauss,
            h_ggd,
            d_gauss,
            d_slb,
            kl,
            start.elapsed().as_secs_f64()
        );
        out.insert(
            name.to_owned(),
            json!({
                "sigma": variance.sqrt(), "beta": fit.dist.beta(), "loc": fit.dist.loc(), "scale": fit.dist.scale(),
                "loglik": fit.loglik, "h_gauss_bits": h_gauss, "h_ggd_bits": h_ggd,
                "d_gauss_r4": d_gauss, "d_slb_ggd_r4": d_slb, "kl_to_gauss_bits": kl,
            }),
        );
    }
    Ok(())
}

//! The generalized Gaussian and its fit against scipy.stats.gennorm (values written by
//! scripts/theory/scipy_reference.py, scipy 1.17.1).

use std::path::PathBuf;

use quantbound_theory::{fit_ggd, GeneralizedGaussian};
use statrs::distribution::{Continuous, ContinuousCDF, Laplace, Normal};
use statrs::statistics::Distribution;

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// |a − b| ≤ rel·|b| + abs.
fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= rel * b.abs() + abs || (a.is_infinite() && a == b)
}

#[test]
fn pdf_cdf_ppf_entropy_variance_match_scipy() {
    let json: serde_json::Value = serde_json::from_slice(&data("gennorm.json")).unwrap();
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let xs: Vec<f64> = json["x"].as_array().unwrap().iter().map(f).collect();
    let ps: Vec<f64> = json["p"].as_array().unwrap().iter().map(f).collect();
    for case in json["cases"].as_array().unwrap() {
        let beta = f(&case["beta"]);
        let d = GeneralizedGaussian::new(beta, f(&json["loc"]), f(&json["scale"])).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            let (pdf, logpdf, cdf) = (f(&case["pdf"][i]), f(&case["logpdf"][i]), f(&case["cdf"][i]));
            assert!(close(d.pdf(x), pdf, 1e-12, 1e-300), "β {beta} pdf({x}) {} vs {pdf}", d.pdf(x));
            assert!(close(d.ln_pdf(x), logpdf, 1e-12, 1e-12), "β {beta} logpdf({x})");
            assert!(close(d.cdf(x), cdf, 1e-10, 1e-300), "β {beta} cdf({x}) {} vs {cdf}", d.cdf(x));
        }
        for (i, &p) in ps.iter().enumerate() {
            let ppf = f(&case["ppf"][i]);
            assert!(close(d.inverse_cdf(p), ppf, 1e-9, 1e-12), "β {beta} ppf({p}) {} vs {ppf}", d.inverse_cdf(p));
        }
        assert!(close(d.entropy_nats(), f(&case["entropy_nats"]), 1e-12, 1e-12), "β {beta} entropy");
        assert!(close(d.variance().unwrap(), f(&case["var"]), 1e-12, 0.0), "β {beta} variance");
    }
}

/// On fixed samples, our fit is within 1e-3 of scipy's β, and its likelihood is no lower: five
/// clean GGD samples, and rounded weights with outliers (`grid`: repeated values, and a kurtosis
/// that starts β at ~0.4 while the fit is ~1.15).
#[test]
fn fit_matches_scipy_and_is_no_worse() {
    let fits: serde_json::Value = serde_json::from_slice(&data("fit.json")).unwrap();
    let bytes = data("fit_samples.safetensors");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut cases: Vec<(String, &serde_json::Value)> = fits["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let beta_true = case["beta_true"].as_f64().unwrap();
            (if beta_true.fract() == 0.0 { format!("{beta_true:.1}") } else { format!("{beta_true}") }, case)
        })
        .collect();
    cases.push(("grid".into(), &fits["grid"]));
    for (beta_true, case) in cases {
        let key = format!("x_{beta_true}");
        let x: Vec<f32> = bytemuck::pod_collect_to_vec(st.tensor(&key).unwrap().data());
        let fit = fit_ggd(&x).unwrap();
        let scipy_beta = case["beta"].as_f64().unwrap();
        let scipy_loglik = case["loglik"].as_f64().unwrap();
        // Our likelihood, recomputed point by point, to check the fit's own figure too.
        let loglik: f64 = x.iter().map(|&v| fit.dist.ln_pdf(v.into())).sum();
        assert!(close(fit.loglik, loglik, 1e-10, 0.0), "β {beta_true}: reported {} vs summed {loglik}", fit.loglik);
        assert!(
            (fit.dist.beta() - scipy_beta).abs() < 1e-3,
            "β {beta_true}: ours {} scipy {scipy_beta}",
            fit.dist.beta()
        );
        assert!(
            loglik >= scipy_loglik - 1e-9 * scipy_loglik.abs(),
            "β {beta_true}: loglik ours {loglik} < scipy {scipy_loglik}"
        );
        eprintln!(
            "β {beta_true}: ours β {:.6} μ {:.3e} α {:.6} ℓ {:.4}; scipy β {scipy_beta:.6} ℓ {scipy_loglik:.4} ({} passes)",
            fit.dist.beta(),
            fit.dist.loc(),
            fit.dist.scale(),
            loglik,
            fit.passes
        );
    }
}

#[test]
fn shape_two_is_gaussian_and_shape_one_is_laplacian() {
    let sigma = 0.7;
    let gauss = GeneralizedGaussian::new(2.0, 0.1, sigma * 2f64.sqrt()).unwrap();
    let normal = Normal::new(0.1, sigma).unwrap();
    let laplace = Laplace::new(0.1, sigma).unwrap();
    let lap = GeneralizedGaussian::new(1.0, 0.1, sigma).unwrap();
    for x in [-3.0, -0.5, 0.1, 0.4, 2.0] {
        assert!(close(gauss.pdf(x), normal.pdf(x), 1e-13, 0.0));
        // statrs' Normal cdf is good to ~1e-10 (ours agrees with erfc to 1e-16 at x = −0.5;
        // the scipy test holds the cdf to 1e-10).
        assert!(close(gauss.cdf(x), normal.cdf(x), 1e-9, 1e-15), "{x}: {} vs {}", gauss.cdf(x), normal.cdf(x));
        assert!(close(lap.pdf(x), laplace.pdf(x), 1e-13, 0.0));
        assert!(close(lap.cdf(x), laplace.cdf(x), 1e-12, 1e-15), "{x}: {} vs {}", lap.cdf(x), laplace.cdf(x));
    }
    assert!(close(gauss.entropy_nats(), normal.entropy().unwrap(), 1e-13, 0.0));
    assert!(close(gauss.variance().unwrap(), sigma * sigma, 1e-13, 0.0));
    // The seed's formula understates the entropy by (log2 e − 1)/β bits.
    let gap = gauss.entropy_bits() - gauss.entropy_bits_seed_formula();
    assert!(close(gap, (std::f64::consts::LOG2_E - 1.0) / 2.0, 1e-13, 0.0));
}

#[test]
fn degenerate_samples_are_errors() {
    assert!(fit_ggd(&[1.0, 2.0]).is_err());
    assert!(fit_ggd(&[0.5; 100]).is_err());
    assert!(fit_ggd(&[1.0, f32::NAN, 2.0, 3.0]).is_err());
    assert!(fit_ggd(&[1.0, f32::INFINITY, 2.0, 3.0]).is_err());
    assert!(GeneralizedGaussian::new(0.0, 0.0, 1.0).is_err());
    assert!(GeneralizedGaussian::new(1.0, 0.0, -1.0).is_err());
    assert!(GeneralizedGaussian::new(f64::NAN, 0.0, 1.0).is_err());
}

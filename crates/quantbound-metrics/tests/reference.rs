//! The streamed, on-device metrics against a direct f64 computation on the host from the same
//! logits, and against textbook values (KL of identical distributions, CE of a uniform model).

/// The backend these checks run on (metrics choose none; any would do).
type TestBackend = burn::backend::NdArray;
use burn::tensor::{Tensor, TensorData};
use quantbound_metrics::{weight_error, LogitAccumulator};

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v.into()));
    let lse = row.iter().map(|&v| (f64::from(v) - max).exp()).sum::<f64>().ln() + max;
    row.iter().map(|&v| f64::from(v) - lse).collect()
}

/// Deterministic pseudo-random logits in [-4, 4).
fn logits(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
        })
        .collect()
}

#[test]
fn streamed_metrics_equal_a_direct_computation() {
    let (batch, seq, vocab) = (3, 5, 11);
    let ids = [vec![1, 2, 3, 4, 5], vec![6, 7, 8, 0, 0], vec![9, 10, 0, 0, 0]];
    let mask = [vec![1, 1, 1, 1, 1], vec![1, 1, 1, 0, 0], vec![1, 1, 0, 0, 0]];
    let a = logits(batch * seq * vocab, 1);
    let b: Vec<f32> = a.iter().zip(logits(batch * seq * vocab, 2)).map(|(x, y)| x + 0.3 * y).collect();
    let device = Default::default();
    // Two calls (the batch split in two) must give what one would.
    let mut acc = LogitAccumulator::new();
    for rows in [0..2, 2..3] {
        let n = rows.len();
        let slice = |v: &[f32]| v[rows.start * seq * vocab..rows.end * seq * vocab].to_vec();
        let t = |v: Vec<f32>| Tensor::<TestBackend, 3>::from_data(TensorData::new(v, [n, seq, vocab]), &device);
        acc.update(t(slice(&a)), t(slice(&b)), &ids[rows.clone()], &mask[rows]);
    }
    let m = acc.finish().unwrap();

    let (mut se, mut real, mut ce_a, mut ce_b, mut kls, mut same, mut dp) = (0.0, 0, 0.0, 0.0, vec![], 0, 0.0);
    for bi in 0..batch {
        for t in 0..seq {
            if mask[bi][t] == 0 {
                continue;
            }
            let at = (bi * seq + t) * vocab;
            let (ra, rb) = (&a[at..at + vocab], &b[at..at + vocab]);
            se += ra.iter().zip(rb).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>();
            real += vocab;
            if t + 1 >= seq || mask[bi][t + 1] == 0 {
                continue;
            }
            let (la, lb) = (log_softmax(ra), log_softmax(rb));
            let target = ids[bi][t + 1] as usize;
            ce_a -= la[target];
            ce_b -= lb[target];
            kls.push(la.iter().zip(&lb).map(|(p, q)| p.exp() * (p - q)).sum::<f64>());
            let argmax = |v: &[f64]| (0..vocab).max_by(|&i, &j| v[i].total_cmp(&v[j])).unwrap();
            same += usize::from(argmax(&la) == argmax(&lb));
            dp += (lb[target].exp() - la[target].exp()).powi(2);
        }
    }
    let n = kls.len() as f64;
    assert_eq!(m.scored_positions, 7); // 4 + 2 + 1
    assert_eq!(m.real_positions, 10);
    let close = |x: f64, y: f64, what: &str| assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{what}: {x} vs {y}");
    close(m.logits_mse, se / real as f64, "logits MSE");
    close(m.ce_ref, ce_a / n, "CE ref");
    close(m.ce, ce_b / n, "CE");
    close(m.delta_ce, (ce_b - ce_a) / n, "ΔCE");
    close(m.ppl, (ce_b / n).exp(), "PPL");
    close(m.kl_mean, kls.iter().sum::<f64>() / n, "KL mean");
    close(m.kl_max, kls.iter().cloned().fold(0.0, f64::max), "KL max");
    close(m.top1_agreement, same as f64 / n, "top-1");
    close(m.rms_delta_p, (dp / n).sqrt(), "RMS Δp");
    // Median of 7 sorted values is the 4th.
    kls.sort_by(f64::total_cmp);
    close(m.kl_percentiles[4].1, kls[3], "KL median");
}

#[test]
fn identical_models_have_no_distortion_and_uniform_logits_have_ln_vocab_ce() {
    let (seq, vocab) = (4, 8);
    let device = Default::default();
    let zeros = || Tensor::<TestBackend, 3>::zeros([1, seq, vocab], &device);
    let mut acc = LogitAccumulator::new();
    acc.update(zeros(), zeros(), &[vec![1, 2, 3, 4]], &[vec![1, 1, 1, 1]]);
    let m = acc.finish().unwrap();
    assert_eq!(m.logits_mse, 0.0);
    assert!(m.kl_max.abs() < 1e-7 && m.delta_ce.abs() < 1e-7);
    assert!((m.ce_ref - (vocab as f64).ln()).abs() < 1e-6, "{}", m.ce_ref);
    assert!((m.ppl_ref - vocab as f64).abs() < 1e-4);
    assert_eq!(m.top1_agreement, 1.0);
    // Nothing scored: no metrics rather than NaN.
    assert!(LogitAccumulator::new().finish().is_none());
}

#[test]
fn weight_error_matches_hand_values() {
    let w = [1.0f32, -2.0, 0.5, 0.0];
    let q = [1.0f32, -1.5, 0.5, 0.25];
    let e = weight_error(&w, &q);
    assert!((e.mse - (0.25 + 0.0625) / 4.0).abs() < 1e-12);
    assert!((e.sqnr_db - 10.0 * ((1.0 + 4.0 + 0.25) / 0.3125f64).log10()).abs() < 1e-9);
    assert_eq!(e.max_abs_error, 0.5);
}

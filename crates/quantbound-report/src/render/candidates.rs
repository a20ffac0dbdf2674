//! The models quantized elsewhere (`--candidate`), as stored, against the reference.

use super::table::Table;
use super::{e4, seed_tensor};
use crate::report::Report;
use quantbound_llama::layout::LinearKind;

/// One row per candidate: what its linears are stored as, their weight error, and the function
/// metrics of the same forward passes as the formats'; absent without `--candidate`.
pub(super) fn candidates(report: &Report) -> String {
    if report.candidates.is_empty() {
        return String::new();
    }
    let seed = seed_tensor(report);
    let mut table = Table::new(&[
        "Candidate",
        "decoder linears stored as",
        "bits/weight",
        &format!("weight_mse, {seed}"),
        "gap to GGD SLB (bits)",
        "weight_mse, mean",
        "logits_mse",
        "delta_ce",
        "mean_kl_nats",
        "top1_agreement",
    ]);
    for c in &report.candidates {
        let dtypes: Vec<String> = c.linear_dtypes.iter().map(|(dtype, n)| format!("{n}× {dtype}")).collect();
        // The gap at the seed tensor's own stored rate, as the formats' gaps are taken.
        let seed_rate = c.linears.iter().find(|l| l.layer == report.settings.layer && l.linear == LinearKind::Down);
        let gap =
            format!("{:.4} at R = {:.4}", c.seed_gap_bits_vs_ggd, seed_rate.map_or(f64::NAN, |l| l.bits_per_weight));
        let m = &c.metrics;
        table.row(&[
            format!("`{}`", c.candidate),
            dtypes.join(", "),
            format!("{:.4}", c.bits_per_weight),
            e4(c.seed_layer_weight_mse),
            gap,
            e4(c.mean_weight_mse),
            e4(m.logits_mse),
            format!("{:+.5}", m.delta_ce),
            format!("{:.5}", m.kl_mean),
            format!("{:.4}", m.top1_agreement),
        ]);
    }
    format!(
        "\n## Models quantized elsewhere\n\nEach `--candidate` as it is stored, read without requantizing, against the \
         reference's weights and on the same token sequences (its architecture and its tokenization of the texts \
         were checked equal). bits/weight counts every scale of its decoder linears; every linear's error is in \
         report.json's `candidates`.\n\n{}",
        table.render()
    )
}

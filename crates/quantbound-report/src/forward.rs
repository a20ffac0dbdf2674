//! Stage 3, forward: the token sequences through the reference and every quantized model, batch
//! by batch, the logits compared on the device.
//!
//! Each distinct sequence goes through once and its scores are counted once per occurrence: the
//! same sums as evaluating every copy. Batches are taken shortest first, so that a batch pads
//! little, and padded by the tokenizer's own batch code.

use std::collections::HashMap;

use burn::tensor::{Int, Tensor, TensorData};
use quantbound_llama::backend::QuantBackend;
use quantbound_llama::model::Llama;
use quantbound_llama::tokenizer::Batch;
use quantbound_metrics::{LogitAccumulator, LogitMetrics, SequenceScores};

use crate::error::{ReportError, Result};
use crate::options::ReportOptions;
use crate::progress::Progress;

/// The function metrics of each quantized model against the reference.
pub(crate) struct Evaluation {
    /// One per quantized model, in its order.
    pub metrics: Vec<LogitMetrics>,
    /// Sequences evaluated (each distinct one once).
    pub distinct: usize,
}

/// Runs `sequences` through `reference` and each of `models`; padding uses `pad_id`.
pub(crate) fn evaluate<B: QuantBackend>(
    reference: &Llama<B>,
    models: &[Llama<B>],
    sequences: &[Vec<u32>],
    pad_id: u32,
    options: &ReportOptions,
    progress: &dyn Progress,
) -> Result<Evaluation> {
    let (distinct, occurrence) = if options.deduplicate {
        deduplicate(sequences)
    } else {
        (sequences.iter().collect(), (0..sequences.len()).collect())
    };
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    order.sort_by_key(|&i| distinct[i].len());
    let batches: Vec<&[usize]> = order.chunks(options.batch_size).collect();
    let stage = progress.stage("forward passes", (batches.len() * (1 + models.len())) as u64);
    let mut scores = vec![vec![SequenceScores::default(); distinct.len()]; models.len()];
    let device = reference.device();
    for batch in &batches {
        let padded = Batch::right_padded(batch.iter().map(|&i| distinct[i].clone()).collect(), pad_id);
        let tensor = |rows: &[Vec<u32>]| {
            let flat: Vec<i64> = rows.iter().flatten().map(|&v| i64::from(v)).collect();
            Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [rows.len(), padded.seq_len()]), &device)
        };
        let (ids, mask) = (&padded.ids, &padded.attention_mask);
        let reference_logits = reference.forward(tensor(ids), tensor(mask));
        stage.inc(1);
        for (model, scores) in models.iter().zip(&mut scores) {
            let logits = model.forward(tensor(ids), tensor(mask));
            for (&i, row) in batch.iter().zip(LogitAccumulator::scores(reference_logits.clone(), logits, ids, mask)) {
                scores[i] = row;
            }
            stage.inc(1);
        }
    }
    stage.finish();
    tracing::info!(
        sequences = sequences.len(),
        distinct = distinct.len(),
        batches = batches.len(),
        "forward passes done"
    );
    let metrics = scores
        .iter()
        .map(|scores| {
            let mut accumulator = LogitAccumulator::new();
            occurrence.iter().for_each(|&i| accumulator.add(&scores[i]));
            accumulator.finish().ok_or_else(|| {
                ReportError::Invalid("no position to score: every text is a single token; give longer texts".into())
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Evaluation { metrics, distinct: distinct.len() })
}

/// The distinct sequences in order of first occurrence, and for each sequence the index of its
/// distinct copy.
fn deduplicate(sequences: &[Vec<u32>]) -> (Vec<&Vec<u32>>, Vec<usize>) {
    let mut index: HashMap<&[u32], usize> = HashMap::new();
    let mut distinct = Vec::new();
    let occurrence = sequences
        .iter()
        .map(|s| {
            *index.entry(s).or_insert_with(|| {
                distinct.push(s);
                distinct.len() - 1
            })
        })
        .collect();
    (distinct, occurrence)
}

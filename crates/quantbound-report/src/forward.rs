//! Stage 3, forward: the token sequences through the reference and every candidate model, batch
//! by batch, the logits compared on the device.
//!
//! Each distinct sequence goes through once and its scores are counted once per occurrence: the
//! same sums as evaluating every copy. Batches are taken shortest first, so that a batch pads
//! little, and padded by the tokenizer's own batch code.

use std::collections::HashMap;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use quantbound_llama::backend::QuantBackend;
use quantbound_llama::model::Llama;
use quantbound_llama::tokenizer::Batch;
use quantbound_metrics::{LogitAccumulator, LogitMetrics, SequenceScores};

use crate::error::{ReportError, Result};
use crate::options::ReportOptions;
use crate::progress::Progress;

/// A model to compare with the reference, and the first decoder layer at which it may differ
/// from it: the layers before are not recomputed, their output is the reference's.
pub(crate) struct Candidate<'a, B: Backend> {
    pub model: &'a Llama<B>,
    pub first_layer: usize,
}

impl<'a, B: Backend> Candidate<'a, B> {
    /// `model`, which may differ from the reference anywhere.
    pub fn whole(model: &'a Llama<B>) -> Self {
        Candidate { model, first_layer: 0 }
    }
}

/// The function metrics of each candidate against the reference.
pub(crate) struct Evaluation {
    /// One per candidate, in its order.
    pub metrics: Vec<LogitMetrics>,
    /// Sequences evaluated (each distinct one once).
    pub distinct: usize,
}

/// The reference and the token sequences every candidate is compared on.
pub(crate) struct Evaluator<'a, B: QuantBackend> {
    pub reference: &'a Llama<B>,
    pub sequences: &'a [Vec<u32>],
    /// The tokenizer's padding id.
    pub pad_id: u32,
    pub options: &'a ReportOptions,
    pub progress: &'a dyn Progress,
}

impl<B: QuantBackend> Evaluator<'_, B> {
    /// Runs the sequences through the reference and each of `candidates` (a progress stage
    /// named `stage`). Where a candidate starts past layer 0 it continues the reference's
    /// residual stream from there.
    pub fn evaluate(&self, candidates: &[Candidate<'_, B>], stage: &str) -> Result<Evaluation> {
        let sequences = self.sequences;
        let (distinct, occurrence) = if self.options.deduplicate {
            deduplicate(sequences)
        } else {
            (sequences.iter().collect(), (0..sequences.len()).collect())
        };
        let mut order: Vec<usize> = (0..distinct.len()).collect();
        order.sort_by_key(|&i| distinct[i].len());
        let batches: Vec<&[usize]> = order.chunks(self.options.batch_size).collect();
        let stage = self.progress.stage(stage, (batches.len() * (1 + candidates.len())) as u64);
        let mut scores = vec![vec![SequenceScores::default(); distinct.len()]; candidates.len()];
        let device = self.reference.device();
        let traced = candidates.iter().any(|c| c.first_layer > 0);
        let first_scored = self.options.ppl_mode.first_scored(self.options.max_length);
        for batch in &batches {
            let padded = Batch::right_padded(batch.iter().map(|&i| distinct[i].clone()).collect(), self.pad_id);
            let tensor = |rows: &[Vec<u32>]| {
                let flat: Vec<i64> = rows.iter().flatten().map(|&v| i64::from(v)).collect();
                Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [rows.len(), padded.seq_len()]), &device)
            };
            let (ids, mask) = (&padded.ids, &padded.attention_mask);
            let (residuals, reference_logits) = if traced {
                self.reference.forward_traced(tensor(ids), tensor(mask))
            } else {
                (Vec::new(), self.reference.forward(tensor(ids), tensor(mask)))
            };
            stage.inc(1);
            for (candidate, scores) in candidates.iter().zip(&mut scores) {
                let logits = match candidate.first_layer {
                    0 => candidate.model.forward(tensor(ids), tensor(mask)),
                    l => candidate.model.forward_from(l, residuals[l].clone(), tensor(mask)),
                };
                for (&i, row) in batch.iter().zip(LogitAccumulator::scores(
                    reference_logits.clone(),
                    logits,
                    ids,
                    mask,
                    first_scored,
                )) {
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
            candidates = candidates.len(),
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

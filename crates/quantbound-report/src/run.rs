//! One comparison run, the stages composed: load the reference once ([`crate::load`]), analyse and
//! quantize every decoder linear ([`crate::analyse`]), run the texts through all the models
//! ([`crate::forward`]), quantize one layer at a time ([`crate::sensitivity`]), the seed tensor's
//! theory ([`crate::theory`]), and the results put together ([`crate::results`]), each stage timed.

use std::collections::BTreeMap;
use std::time::Instant;

use quantbound_llama::backend::QuantBackend;

use crate::analyse::analyse;
use crate::error::Result;
use crate::forward::{Candidate, Evaluator};
use crate::options::ReportOptions;
use crate::progress::Progress;
use crate::report::Report;
use crate::results;
use crate::theory::SeedTensor;

/// Wall-clock seconds per stage.
struct Timings {
    laps: BTreeMap<String, f64>,
    clock: Instant,
}

impl Timings {
    fn start() -> Self {
        Timings { laps: BTreeMap::new(), clock: Instant::now() }
    }

    /// Ends stage `name` and starts the next.
    fn lap(&mut self, name: &str) {
        let seconds = self.clock.elapsed().as_secs_f64();
        tracing::info!(stage = name, seconds, "stage done");
        self.laps.insert(name.to_owned(), seconds);
        self.clock = Instant::now();
    }
}

/// Runs the comparison `options` describes on `device`.
pub fn run<B: QuantBackend>(options: &ReportOptions, device: &B::Device, progress: &dyn Progress) -> Result<Report> {
    options.validate()?;
    let mut timings = Timings::start();
    let stage = progress.stage("loading the reference model", 1);
    let loaded = crate::load::load::<B>(options, device, progress)?;
    stage.finish();
    let seed = options.seed_linear(loaded.model.config.num_layers)?;
    let sequences = options.texts.tokenize(&loaded.tokenizer, options.max_length, options.ppl_mode)?;
    timings.lap("load");

    let mut analysis = analyse(&loaded.model, options, seed, progress)?;
    let models = analysis.models(&loaded.model, device)?;
    timings.lap("quantize");

    let evaluator = Evaluator {
        reference: &loaded.model,
        sequences: &sequences,
        pad_id: loaded.tokenizer.pad_id(),
        options,
        progress,
    };
    let elsewhere = options
        .candidates
        .iter()
        .map(|(label, spec)| crate::candidates::load(spec, label, &loaded, &sequences, options, device, progress))
        .collect::<Result<Vec<_>>>()?;
    if !elsewhere.is_empty() {
        timings.lap("candidates");
    }

    let candidates: Vec<Candidate<'_, B>> =
        models.iter().chain(elsewhere.iter().map(|c| &c.model)).map(Candidate::whole).collect();
    let mut evaluation = evaluator.evaluate(&candidates, "forward passes")?;
    let elsewhere_metrics = evaluation.metrics.split_off(models.len());
    timings.lap("forward");

    let sensitivity = crate::sensitivity::measure(&evaluator, &analysis, &models, &evaluation.metrics)?;
    if sensitivity.is_some() {
        timings.lap("sensitivity");
    }

    let stage = progress.stage("theory: bounds, optimal codebooks, Blahut-Arimoto", 1);
    let theory = SeedTensor::new(&analysis, options).theory()?;
    stage.finish();
    timings.lap("theory");

    let metrics = &evaluation.metrics;
    let h_ggd_bits = theory.h_ggd_bits;
    let device_bytes: Vec<usize> =
        models.iter().map(|m| m.linears().iter().map(|(_, l)| l.device_bytes()).sum()).collect();
    Ok(Report {
        settings: results::settings::<B>(options, &sequences, evaluation.distinct),
        versions: results::versions(),
        model: results::model_info(options, &loaded, &analysis),
        seed: results::seed(&analysis, metrics, &theory),
        formats: results::format_results(&analysis, metrics, &device_bytes, &loaded.dtypes),
        layers: results::layer_rows(&analysis, metrics, sensitivity.as_ref()),
        theory,
        sensitivity,
        candidates: elsewhere
            .iter()
            .zip(&elsewhere_metrics)
            .map(|(c, m)| c.result(&loaded.model, m, analysis.seed, h_ggd_bits))
            .collect(),
        timings: timings.laps,
    })
}

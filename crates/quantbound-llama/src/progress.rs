//! How a long run reports its progress: one [`Stage`] per long step or download (a progress bar
//! in the CLI). The report and the Hub download share it.

/// Progress of a long step.
pub trait Stage {
    fn inc(&self, n: u64);
    fn finish(&self);
}

/// Starts the stages a run goes through; [`NoProgress`] ignores them.
pub trait Progress {
    fn stage(&self, name: &str, total: u64) -> Box<dyn Stage>;
}

/// No progress reporting (tests, library use).
pub struct NoProgress;

struct Silent;

impl Stage for Silent {
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

impl Progress for NoProgress {
    fn stage(&self, _: &str, _: u64) -> Box<dyn Stage> {
        Box::new(Silent)
    }
}

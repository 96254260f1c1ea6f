//! What every bench in `benches/` shares: one Criterion configuration, so their
//! figures are taken the same way.

use std::time::Duration;

use criterion::Criterion;

/// 60 samples, 1 s warm-up and 3 s measurement per benchmark: about 4 s each.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(60)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

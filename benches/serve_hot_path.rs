//! The webhook's own work around an admission, besides decoding and reviewing (the
//! `engine` bench's `admission/*`): what every request pays on the server's one core.
//!
//! ```text
//! cargo bench --bench serve_hot_path
//! ```
//!
//! - `budget/reserve_and_give_back`: reserving a 6.5 KB body in the request-body
//!   budget and giving it back (`serve::budget`);
//! - `log_line/text`, `log_line/json`: the admission log line of an ordinary pod,
//!   written into a reused buffer (`serve::access_log`);
//! - `log_line/json_clipped`: the same with fields over the 256-byte bound and 20
//!   containers, so every field is cut and the list counted.
//!
//! Whole-server figures (TLS, HTTP, the log writer thread) are
//! `scripts/bench-webhook.sh`'s.

mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use netdns_guard::serve::access_log::{self, Line, LineFormat, Outcome};
use netdns_guard::serve::budget::BodyBudget;

/// The review-pod.json body's size, what the shared bench sends.
const BODY_BYTES: usize = 6510;

fn budget(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let budget = BodyBudget::new(64 << 20, 4 << 20, Duration::from_secs(1));
    c.bench_function("budget/reserve_and_give_back", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let reservation = budget.reserve(black_box(BODY_BYTES)).await;
                black_box(reservation.is_ok())
            })
        })
    });
}

fn line<'a>(uid: &'a str, pod: &'a str, containers: &'a [String]) -> Line<'a> {
    Line {
        uid,
        namespace: "logging",
        pod,
        operation: "CREATE",
        outcome: Outcome::Answered {
            decision: "patched",
            containers,
            dry_run: false,
        },
        latency_us: 87,
    }
}

fn log_line(c: &mut Criterion) {
    let containers = vec!["fluent-bit".to_owned()];
    let ordinary = line(
        "6f1c8a52-3d4e-4b7a-9c2f-1e5d7a9b0c34",
        "fluent-bit-",
        &containers,
    );
    let long_name = "n".repeat(300);
    let many: Vec<String> = (0..20).map(|i| format!("{long_name}-{i}")).collect();
    let hostile = line(&long_name, &long_name, &many);
    let mut out = Vec::with_capacity(4096);
    let mut group = c.benchmark_group("log_line");
    for (name, format, line) in [
        ("text", LineFormat::Text, &ordinary),
        ("json", LineFormat::Json, &ordinary),
        ("json_clipped", LineFormat::Json, &hostile),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                access_log::format_line(&mut out, format, black_box(line));
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = serve_hot_path;
    config = support::config();
    targets = budget, log_line
}
criterion_main!(serve_hot_path);

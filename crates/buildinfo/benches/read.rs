//! Reading build info (and the ELF evidence beside it) from large real Go
//! binaries already in memory: what `netdns-guard inspect` does per file, and
//! what an image scan does per executable.
//!
//! ```text
//! cargo bench -p netdns-guard-buildinfo --bench read
//! NETDNS_BENCH_BINARIES=/path/a:/path/b cargo bench -p netdns-guard-buildinfo --bench read
//! ```
//!
//! The binaries: `NETDNS_BENCH_BINARIES` (colon-separated), else Helm 4 and 3
//! (`target/tools/helm{4,3}`, from `scripts/install-helm.sh`: ~60 MB, static,
//! with a symbol table) and Debian's podman (~40 MB, dynamic, stripped: the
//! function-name search path), whichever are there. `read/not-go` is the cost of
//! saying no to a large ELF file that is not Go: the benchmark binary itself.
//!
//! For scale, `scripts/bench-buildinfo.sh` times Go's own reader
//! (`go version -m`) on the same files.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use netdns_guard_buildinfo::read;

fn binaries() -> Vec<PathBuf> {
    if let Some(list) = std::env::var_os("NETDNS_BENCH_BINARIES") {
        return std::env::split_paths(&list).collect();
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        repo.join("target/tools/helm4"),
        repo.join("target/tools/helm3"),
        PathBuf::from("/usr/bin/podman"),
    ]
    .into_iter()
    .filter(|p| p.is_file())
    .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(30);
    let files = binaries();
    if files.is_empty() {
        eprintln!(
            "no Go binaries to read: run scripts/install-helm.sh or set NETDNS_BENCH_BINARIES"
        );
    }
    for path in files {
        let bytes = std::fs::read(&path).expect("read the binary");
        let binary = read(&bytes).expect("a Go binary");
        let name = format!(
            "{} ({} MB, {})",
            path.file_name().unwrap_or_default().to_string_lossy(),
            bytes.len() >> 20,
            binary.build.go_version
        );
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| read(black_box(&bytes))));
    }
    if let Ok(me) = std::env::current_exe().and_then(std::fs::read) {
        group.throughput(Throughput::Bytes(me.len() as u64));
        group.bench_function(format!("not-go ({} MB)", me.len() >> 20), |b| {
            b.iter(|| read(black_box(&me)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

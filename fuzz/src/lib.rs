//! Fuzz targets for netdns-guard's readers of hostile input (ARCHITECTURE.md,
//! "Hostile input"): the checks they assert ([`invariants`]) and the heap bound
//! each input runs under ([`limit_alloc`]). The binaries in `src/bin/` are one
//! target each, built with `cargo afl` by `fuzz/run.sh`.

pub mod invariants;
pub mod limit_alloc;

pub use invariants::Target;

/// Runs one input through `target` under the heap bound, and panics (which AFL
/// records as a crash, keeping the input) on any broken promise.
pub fn fuzz_one(target: Target, engine: &netdns_guard::Engine, input: &[u8]) {
    let (checked, _peak) = limit_alloc::bounded(target.name(), || target.check(engine, input));
    if let Err(violation) = checked {
        panic!("{}: {violation}", target.name());
    }
}

//! AFL target: a manifest stream, as `dry-run` reads it from stdin
//! (the checks: `netdns_guard_fuzz::invariants::Target::ManifestStream`).

use netdns_guard_fuzz::{Target, fuzz_one, invariants, limit_alloc};

#[global_allocator]
static HEAP: limit_alloc::Counting = limit_alloc::Counting;

fn main() {
    // Built once, outside the loop: the default policy is not what is fuzzed.
    let engine = invariants::default_engine();
    afl::fuzz!(|input: &[u8]| fuzz_one(Target::ManifestStream, &engine, input));
}

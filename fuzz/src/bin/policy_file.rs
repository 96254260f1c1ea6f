//! AFL target: a policy file, as `--config` reads it
//! (the checks: `netdns_guard_fuzz::invariants::Target::PolicyFile`).

use netdns_guard_fuzz::{Target, fuzz_one, invariants, limit_alloc};

#[global_allocator]
static HEAP: limit_alloc::Counting = limit_alloc::Counting;

fn main() {
    // Built once, outside the loop: the default policy is not what is fuzzed.
    let engine = invariants::default_engine();
    afl::fuzz!(|input: &[u8]| fuzz_one(Target::PolicyFile, &engine, input));
}

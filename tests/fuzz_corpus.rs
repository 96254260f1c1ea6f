//! The fuzzers' findings kept as regression data (ARCHITECTURE.md, "Hostile input"):
//! every input under `fuzz/corpus/<target>/` replayed through the same checks the
//! fuzz targets assert (`fuzz/src/invariants.rs`, included here by `#[path]`), each
//! within a heap bound of 64 MiB and a time bound; then a short, seeded mutation run
//! over the same corpus, so CI keeps some of the fuzzers' search without
//! installing one.

#[path = "../fuzz/src/invariants.rs"]
mod invariants;
#[path = "../fuzz/src/limit_alloc.rs"]
mod limit_alloc;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use invariants::Target;
use netdns_guard::Engine;
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError};

#[global_allocator]
static HEAP: limit_alloc::Counting = limit_alloc::Counting;

/// The longest one input may take. The fuzzers hold release builds to 1 s; this is
/// a debug build on a busy 2-core CI machine, some ten times slower.
const TIME_LIMIT: Duration = Duration::from_secs(10);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The kept inputs of `target`, in name order.
fn corpus(target: Target) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(target.name());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable corpus folder").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.display().to_string(), bytes)
        })
        .collect()
}

/// Runs one input through `target`'s checks, under the heap and time bounds.
fn replay(target: Target, engine: &Engine, label: &str, input: &[u8]) -> Result<(), String> {
    let start = Instant::now();
    let (checked, peak) = limit_alloc::bounded(label, || target.check(engine, input));
    let took = start.elapsed();
    checked.map_err(|v| format!("{label}: {v}"))?;
    if took > TIME_LIMIT {
        return Err(format!("{label}: took {took:?} (peak heap {peak} bytes)"));
    }
    Ok(())
}

fn replay_corpus(target: Target) {
    let engine = invariants::default_engine();
    let inputs = corpus(target);
    assert!(!inputs.is_empty(), "no corpus for {}", target.name());
    let failures: Vec<String> = inputs
        .iter()
        .filter_map(|(name, bytes)| replay(target, &engine, name, bytes).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} inputs broke a promise:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
}

#[test]
fn the_admission_review_corpus_holds() {
    replay_corpus(Target::AdmissionReview);
}

#[test]
fn the_manifest_stream_corpus_holds() {
    replay_corpus(Target::ManifestStream);
}

#[test]
fn the_policy_file_corpus_holds() {
    replay_corpus(Target::PolicyFile);
}

#[test]
fn an_input_over_the_heap_bound_is_measured() {
    // The bound only means something if the allocator counts: a 1 MiB buffer shows.
    let ((), peak) = limit_alloc::bounded("probe", || {
        std::hint::black_box(vec![1u8; 1 << 20]);
    });
    assert!(peak >= 1 << 20, "peak {peak}");
}

// --- a short mutation run -------------------------------------------------------

/// The tokens of the AFL dictionaries (`fuzz/dict/*.dict`, lines `"token"`), so
/// the mutation run inserts the words the fuzzers found worth inserting.
fn dictionary() -> Vec<Vec<u8>> {
    let mut tokens = Vec::new();
    for name in ["yaml", "json", "kubernetes"] {
        let path = fuzz_dir().join("dict").join(format!("{name}.dict"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in text.lines() {
            if let Some(token) = line
                .trim()
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
            {
                tokens.push(unescape(token));
            }
        }
    }
    tokens
}

/// AFL's dictionary escapes: `\\`, `\"` and `\xNN`.
fn unescape(token: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = token.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let hex = std::str::from_utf8(&hex).unwrap_or_default();
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
            }
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    out
}

/// One edit of an input, AFL's havoc stage in small.
#[derive(Debug, Clone)]
enum Edit {
    /// Flip one bit.
    Flip(prop::sample::Index, u8),
    /// Put a dictionary token at a place.
    Token(prop::sample::Index, prop::sample::Index),
    /// Delete up to 64 bytes.
    Delete(prop::sample::Index, u8),
    /// Repeat up to 64 bytes in place.
    Repeat(prop::sample::Index, u8),
    /// Replace the tail with another input's tail.
    Splice(
        prop::sample::Index,
        prop::sample::Index,
        prop::sample::Index,
    ),
}

fn edit() -> impl Strategy<Value = Edit> {
    use prop::sample::Index;
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, bit)| Edit::Flip(at, bit)),
        (any::<Index>(), any::<Index>()).prop_map(|(at, t)| Edit::Token(at, t)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, n)| Edit::Repeat(at, n)),
        (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(at, other, from)| Edit::Splice(at, other, from)),
    ]
}

fn apply(input: &mut Vec<u8>, edit: &Edit, tokens: &[Vec<u8>], others: &[(String, Vec<u8>)]) {
    // A place between bytes: one of `len + 1`.
    let len = input.len();
    let at = |i: &prop::sample::Index| i.index(len + 1);
    match edit {
        Edit::Flip(i, bit) if !input.is_empty() => {
            let i = i.index(input.len());
            input[i] ^= 1 << (bit % 8);
        }
        Edit::Flip(..) => {}
        Edit::Token(i, t) => {
            let at = at(i);
            input.splice(at..at, tokens[t.index(tokens.len())].iter().copied());
        }
        Edit::Delete(i, n) => {
            let at = at(i);
            let end = (at + usize::from(n % 64) + 1).min(input.len());
            input.drain(at..end);
        }
        Edit::Repeat(i, n) => {
            let at = at(i);
            let end = (at + usize::from(n % 64) + 1).min(input.len());
            let copy = input[at..end].to_vec();
            input.splice(at..at, copy);
        }
        Edit::Splice(i, other, from) => {
            let other = &others[other.index(others.len())].1;
            let at = at(i);
            let from = if other.is_empty() {
                0
            } else {
                from.index(other.len())
            };
            input.truncate(at);
            input.extend_from_slice(&other[from..]);
        }
    }
}

/// Mutates the corpus of `target` `cases` times from a fixed seed (the same edits
/// on every run and machine) and checks every mutant.
fn mutation_run(target: Target, cases: u32, seed: u64) {
    let engine = invariants::default_engine();
    let inputs = corpus(target);
    let tokens = dictionary();
    let config = ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // A mutant that breaks a promise is kept whole in the message; shrinking
        // edit lists of the mutated input gains little and costs minutes.
        max_shrink_iters: 0,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let strategy = (
        any::<prop::sample::Index>(),
        prop::collection::vec(edit(), 1..8),
    );
    proptest::test_runner::TestRunner::new(config)
        .run(&strategy, |(seed_input, edits)| {
            let (name, bytes) = &inputs[seed_input.index(inputs.len())];
            let mut mutant = bytes.clone();
            for edit in &edits {
                apply(&mut mutant, edit, &tokens, &inputs);
            }
            replay(target, &engine, &format!("{name} with {edits:?}"), &mutant).map_err(|e| {
                TestCaseError::fail(format!(
                    "{e}\nmutant: {:?}",
                    String::from_utf8_lossy(&mutant)
                ))
            })
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn mutated_admission_reviews_hold() {
    mutation_run(Target::AdmissionReview, 256, 12);
}

#[test]
fn mutated_manifest_streams_hold() {
    mutation_run(Target::ManifestStream, 128, 12);
}

#[test]
fn mutated_policy_files_hold() {
    mutation_run(Target::PolicyFile, 256, 12);
}

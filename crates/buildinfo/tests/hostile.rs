//! Hostile input: real and synthetic Go binaries with bytes flipped, cut off,
//! or with the offsets and sizes in their headers overwritten. Reading them
//! (and judging, showing and serializing what is read) never panics; the
//! reader either reads something or says what the file is not.

mod support;

use std::sync::OnceLock;

use netdns_guard_buildinfo::read;
use proptest::prelude::*;
use support::synth::{Format, MAGIC, Synth};
use support::tools;

/// The seeds: synthetic files of every shape, and real Go binaries (Go 1.19
/// and 1.23, dynamic, static and stripped) when the toolchains are here.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out = Vec::new();
        for class64 in [false, true] {
            for big_endian in [false, true] {
                for format in [Format::Inline, Format::Pointers] {
                    out.push(Synth::new(class64, big_endian, format).build());
                }
            }
        }
        for minor in [19, 23] {
            for name in ["cgo", "static", "stripped"] {
                let variant = tools::VARIANTS
                    .iter()
                    .find(|v| v.name == name)
                    .expect("variant");
                if let Some(exe) = tools::build(minor, variant) {
                    out.push(std::fs::read(exe).expect("read a built binary"));
                }
            }
        }
        out
    })
}

/// Offsets of the fields a reader trusts: the ELF header's, every program and
/// section header's, and the build info header's.
fn structural_offsets(file: &[u8]) -> Vec<usize> {
    let mut out: Vec<usize> = (16..64.min(file.len())).step_by(2).collect();
    let class64 = file.get(4) == Some(&2);
    let le = file.get(5) != Some(&2);
    let num = |at: usize, size: usize| -> usize {
        let Some(b) = file.get(at..at + size) else {
            return 0;
        };
        let mut v = 0usize;
        for i in 0..size {
            let byte = if le { b[size - 1 - i] } else { b[i] };
            v = v << 8 | usize::from(byte);
        }
        v
    };
    let (phoff, shoff, phent, phnum, shent, shnum) = if class64 {
        (
            num(32, 8),
            num(40, 8),
            num(54, 2),
            num(56, 2),
            num(58, 2),
            num(60, 2),
        )
    } else {
        (
            num(28, 4),
            num(32, 4),
            num(42, 2),
            num(44, 2),
            num(46, 2),
            num(48, 2),
        )
    };
    // A file an earlier hit damaged can hold any offset here, so the walk
    // stops at the end of the file instead of adding past usize::MAX.
    for (table, entsize, count) in [(phoff, phent, phnum), (shoff, shent, shnum)] {
        for i in 0..count.min(64) {
            let start = table.saturating_add(i * entsize).min(file.len());
            let end = start.saturating_add(entsize).min(file.len());
            out.extend((start..end).step_by(4));
        }
    }
    if let Some(at) = memchr::memmem::find(file, MAGIC) {
        out.extend((at + 14..(at + 64).min(file.len())).filter(|&o| o < file.len()));
    }
    out
}

/// One way of damaging a file.
#[derive(Debug, Clone)]
enum Damage {
    /// XOR these bytes at these (scaled) positions.
    Flip(Vec<(u32, u8)>),
    /// Flip bytes in the first 4 KiB, where the headers are.
    FlipHeaders(Vec<(u16, u8)>),
    /// Keep this fraction (per mille) of the file.
    Truncate(u16),
    /// Overwrite a header field (picked by index) with this value.
    Field(u16, u64, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        prop::collection::vec((any::<u32>(), 1..=255u8), 1..16).prop_map(Damage::Flip),
        prop::collection::vec((0..4096u16, 1..=255u8), 1..8).prop_map(Damage::FlipHeaders),
        (0..1000u16).prop_map(Damage::Truncate),
        (any::<u16>(), interesting_u64(), 1..=8u8).prop_map(|(i, v, w)| Damage::Field(i, v, w)),
    ]
}

/// Values that break arithmetic: zero, all ones, near the top, small.
fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(u64::MAX),
        Just(u64::MAX - 7),
        Just(u64::from(u32::MAX)),
        Just(1 << 63),
        0..0x10_0000u64,
        any::<u64>(),
    ]
}

fn apply(seed: &[u8], damage: &Damage) -> Vec<u8> {
    let mut file = seed.to_vec();
    if file.is_empty() {
        return file;
    }
    match damage {
        Damage::Flip(flips) => {
            for &(at, x) in flips {
                let i = ((u64::from(at) * file.len() as u64) >> 32) as usize;
                file[i] ^= x;
            }
        }
        Damage::FlipHeaders(flips) => {
            for &(at, x) in flips {
                let i = usize::from(at) % file.len();
                file[i] ^= x;
            }
        }
        Damage::Truncate(per_mille) => {
            file.truncate(file.len() * usize::from(*per_mille) / 1000);
        }
        Damage::Field(index, value, width) => {
            let offsets = structural_offsets(seed);
            if offsets.is_empty() {
                return file;
            }
            let at = offsets[usize::from(*index) % offsets.len()];
            let bytes = value.to_le_bytes();
            let end = (at + usize::from(*width)).min(file.len());
            file[at..end].copy_from_slice(&bytes[..end - at]);
        }
    }
    file
}

/// Everything a caller does with a result: nothing of it may panic.
fn read_and_use(file: &[u8]) {
    match read(file) {
        Ok(binary) => {
            let assessment = binary.assess();
            let _ = assessment.verdict.to_string();
            let _ = binary.build.to_string();
            serde_json::to_string(&binary).expect("a read binary serializes");
            serde_json::to_string(&assessment).expect("an assessment serializes");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn damaged_binaries_never_panic(seed in any::<prop::sample::Index>(), hits in prop::collection::vec(damage(), 1..4)) {
        let seeds = seeds();
        let mut file = seed.get(seeds).clone();
        for hit in &hits {
            file = apply(&file, hit);
        }
        read_and_use(&file);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        read_and_use(&bytes);
        // And the same bytes dressed as an ELF header.
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.extend_from_slice(&bytes);
        read_and_use(&elf);
    }
}

#[test]
fn every_seed_reads_before_it_is_damaged() {
    for seed in seeds() {
        let binary = read(seed).expect("an undamaged seed reads");
        assert!(binary.build.go_version.starts_with("go1."));
    }
}

/// The case CI found: a first hit writes all ones over a header offset, and
/// the second hit walks the damaged file's header tables from that offset.
/// Every seed takes both hits, and the result is read like any other.
#[test]
fn a_header_offset_of_all_ones_damages_again() {
    let hits = [Damage::Field(56262, u64::MAX, 8), Damage::Field(0, 0, 1)];
    for seed in seeds() {
        let mut file = seed.clone();
        for hit in &hits {
            file = apply(&file, hit);
        }
        assert_eq!(file.len(), seed.len(), "a field hit keeps the length");
        read_and_use(&file);
    }
}

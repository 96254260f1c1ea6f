//! The reader on hand-made ELF files: both blob formats, 32- and 64-bit, both
//! byte orders, with and without section headers, and every way such a file
//! can fail to be a Go executable.

mod support;

use netdns_guard_buildinfo::{Encoding, NotGo, ReadError, read};
use support::synth::{Format, Synth};

fn all_shapes() -> Vec<Synth> {
    let mut out = Vec::new();
    for class64 in [false, true] {
        for big_endian in [false, true] {
            for format in [Format::Inline, Format::Pointers] {
                for sections in [false, true] {
                    let mut s = Synth::new(class64, big_endian, format);
                    s.sections = sections;
                    out.push(s);
                }
            }
        }
    }
    out
}

#[test]
fn reads_every_format_class_and_byte_order() {
    for synth in all_shapes() {
        let what = format!("{synth:?}");
        let binary = read(&synth.build()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(binary.build.go_version, "go1.17.13", "{what}");
        assert_eq!(
            binary.build.path.as_deref(),
            Some("example.com/agent"),
            "{what}"
        );
        let main = binary.build.main.as_ref().expect("main module");
        assert_eq!(
            (main.path.as_str(), main.version.as_str()),
            ("example.com/agent", "v1.2.3")
        );
        assert_eq!(binary.build.deps.len(), 1, "{what}");
        assert!(!binary.build.has_settings(), "{what}");
        let ptr = if synth.class64 { 8 } else { 4 };
        let want = match synth.format {
            Format::Inline => Encoding::Inline { pointer_size: ptr },
            Format::Pointers => Encoding::Pointers {
                pointer_size: ptr,
                big_endian: synth.big_endian,
            },
        };
        assert_eq!(binary.encoding, want, "{what}");
    }
}

#[test]
fn reads_build_settings_and_quoted_values() {
    let mut s = Synth::new(true, false, Format::Inline);
    s.version = b"go1.23.5".to_vec();
    s.modinfo = b"path\tcommand-line-arguments\n\
        build\t-ldflags=\"-s -w -extldflags -static\"\n\
        build\tCGO_ENABLED=1\n\
        build\t-tags=netcgo\n\
        build\tDefaultGODEBUG=netdns=go,x509sha1=1\n"
        .to_vec();
    let b = read(&s.build()).unwrap();
    assert_eq!(
        b.build.setting("-ldflags"),
        Some("-s -w -extldflags -static")
    );
    assert_eq!(b.build.cgo_enabled(), Some(true));
    assert_eq!(b.build.tags(), ["netcgo"]);
    assert_eq!(
        b.build.setting("DefaultGODEBUG"),
        Some("netdns=go,x509sha1=1")
    );
    assert_eq!(
        b.build.to_string(),
        format!("go\tgo1.23.5\n{}", String::from_utf8_lossy(&s.modinfo))
    );
}

#[test]
fn skips_an_unaligned_magic_and_finds_the_aligned_header_after_it() {
    for format in [Format::Inline, Format::Pointers] {
        let mut s = Synth::new(true, false, format);
        s.sections = false;
        s.blob_offset = 0x40;
        s.decoy = true;
        assert_eq!(read(&s.build()).unwrap().build.go_version, "go1.17.13");
    }
}

#[test]
fn looks_no_further_than_64_kib() {
    let mut near = Synth::new(true, false, Format::Inline);
    near.sections = false;
    near.blob_offset = 64 * 1024 - 48;
    assert!(read(&near.build()).is_ok());
    let mut far = near.clone();
    far.blob_offset = 64 * 1024;
    assert_eq!(
        read(&far.build()),
        Err(ReadError::NotGo(NotGo::NoBuildInfo))
    );
}

#[test]
fn pointer_format_rejects_odd_pointer_sizes_and_unmapped_strings() {
    let mut s = Synth::new(true, false, Format::Pointers);
    s.pointer_size = Some(3);
    assert_eq!(
        read(&s.build()),
        Err(ReadError::NotGo(NotGo::PointerSize(3)))
    );

    // The version's string header points past every segment.
    let s = Synth::new(false, true, Format::Pointers);
    let mut bytes = s.build();
    let header = find(&bytes, support::synth::MAGIC);
    bytes[header + 16..header + 20].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    assert_eq!(read(&bytes), Err(ReadError::NotGo(NotGo::NoVersion)));
}

#[test]
fn inline_strings_longer_than_the_data_are_no_version() {
    let s = Synth::new(true, false, Format::Inline);
    let mut bytes = s.build();
    let header = find(&bytes, support::synth::MAGIC);
    // A ten-byte uvarint far larger than the file.
    bytes[header + 32..header + 41].fill(0xff);
    bytes[header + 41] = 0x01;
    assert_eq!(read(&bytes), Err(ReadError::NotGo(NotGo::NoVersion)));
}

#[test]
fn unframed_module_info_reads_as_none() {
    let s = Synth::new(true, false, Format::Inline);
    let mut bytes = s.build();
    // Break the framing: Go then ignores the module info (not a module build).
    let end = find(&bytes, support::synth::INFO_END);
    bytes[end - 1] = b'x';
    let b = read(&bytes).unwrap();
    assert_eq!(b.build.go_version, "go1.17.13");
    assert_eq!((b.build.path.as_deref(), b.build.deps.len()), (None, 0));
}

#[test]
fn malformed_module_info_is_an_error_naming_the_line() {
    let mut s = Synth::new(true, false, Format::Inline);
    s.modinfo = b"path\tp\nbuild\tk=a b\n".to_vec();
    let err = read(&s.build()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed Go module info: line 2: unquoted value must be quoted"
    );
}

#[test]
fn says_what_a_file_is_not() {
    assert_eq!(read(b""), Err(ReadError::NotElf));
    assert_eq!(read(b"#!/bin/sh\necho hi\n"), Err(ReadError::NotElf));
    assert!(matches!(
        read(b"\x7fELF\x02\x01"),
        Err(ReadError::Truncated { .. })
    ));
    assert_eq!(
        read(b"\x7fELF\x07\x01\x01"),
        Err(ReadError::Malformed("unknown ELF class"))
    );

    // No writable segment and no section: nowhere for build info to be.
    let mut s = Synth::new(true, false, Format::Inline);
    s.sections = false;
    let mut bytes = s.build();
    let second_flags = 64 + 56 + 4;
    bytes[second_flags..second_flags + 4].copy_from_slice(&5u32.to_le_bytes());
    assert_eq!(read(&bytes), Err(ReadError::NotGo(NotGo::NoDataSegment)));

    // A sound ELF file whose data holds no header.
    let mut s = Synth::new(true, false, Format::Inline);
    let mut bytes = s.build();
    let header = find(&bytes, support::synth::MAGIC);
    bytes[header] = b'X';
    assert_eq!(read(&bytes), Err(ReadError::NotGo(NotGo::NoBuildInfo)));
    s.sections = false;
    let mut bytes = s.build();
    let header = find(&bytes, support::synth::MAGIC);
    bytes[header] = b'X';
    assert_eq!(read(&bytes), Err(ReadError::NotGo(NotGo::NoBuildInfo)));
}

#[test]
fn a_cut_off_file_is_truncated() {
    let bytes = Synth::new(true, false, Format::Inline).build();
    for len in [40, 100, 0x1000 + 10, bytes.len() - 1] {
        let err = read(&bytes[..len]).unwrap_err();
        assert!(matches!(err, ReadError::Truncated { .. }), "{len}: {err}");
        assert!(
            err.to_string().starts_with("truncated or corrupt: "),
            "{err}"
        );
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in file")
}

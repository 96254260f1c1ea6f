//! Scratch directories for the integration tests: one way to make them, from the
//! `tempfile` crate, named after what they are for so a leftover is recognisable.

use tempfile::TempDir;

/// A fresh directory under the system temp dir, `netdns-guard-<tag>-<random>`,
/// removed when the returned guard drops (also when the test panics, since
/// unwinding runs destructors).
pub fn scratch_dir(tag: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("netdns-guard-{tag}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a scratch directory for {tag}: {e}"))
}

//! The reader agrees with Go's own (`go version -m`) on every field it reports,
//! for binaries built here in every lab variant with Go 1.19 and 1.23, and for
//! Go binaries nobody here built: Helm 3 and 4 (Go 1.23/1.25, CGO_ENABLED=0) and
//! Debian's podman and runc (Go 1.19, cgo, tags, -trimpath, stripped).

mod support;

use std::path::Path;

use netdns_guard_buildinfo::read;
use support::tools;

/// What `go version -m FILE` prints for `file`, from this crate's reading
/// (Go's `scanFile`: the version on the first line, then `BuildInfo.String()`
/// without its `go` line, each line indented by a tab).
fn as_go_prints(file: &Path) -> String {
    let bytes = std::fs::read(file).expect("read the binary");
    let mut build = read(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .build;
    let version = std::mem::take(&mut build.go_version);
    let modinfo = build.to_string();
    let mut out = format!("{}: {version}\n", file.display());
    if let Some(body) = modinfo.strip_suffix('\n') {
        out.push('\t');
        out.push_str(&body.replace('\n', "\n\t"));
        out.push('\n');
    }
    out
}

fn assert_agrees(go: &Path, file: &Path) -> usize {
    let want = tools::go_version_m(go, file);
    let got = as_go_prints(file);
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .find(|(g, w)| g != w)
            .map(|(g, w)| format!("first difference:\n  ours: {g:?}\n  go's: {w:?}"))
            .unwrap_or_else(|| "one is a prefix of the other".to_owned());
        panic!("{}: disagrees with go version -m; {first}", file.display());
    }
    want.lines().count()
}

#[test]
fn agrees_with_go_on_binaries_built_here() {
    let Some(go123) = tools::go(23) else { return };
    for minor in [19, 23] {
        for variant in tools::VARIANTS {
            let Some(exe) = tools::build(minor, variant) else {
                return;
            };
            let lines = assert_agrees(&go123, &exe);
            assert!(lines >= 5, "{}: only {lines} lines", exe.display());
        }
    }
}

#[test]
fn agrees_with_go_on_third_party_binaries() {
    let Some(go) = tools::go(23) else { return };
    let mut files: Vec<_> = [3, 4].into_iter().filter_map(tools::helm).collect();
    files.extend(tools::debian_go_programs());
    for file in files {
        let lines = assert_agrees(&go, &file);
        eprintln!("{}: {lines} lines agree", file.display());
    }
}

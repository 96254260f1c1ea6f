//! Finding the real Helm binaries the test command installs
//! (`scripts/install-helm.sh`): shared by the chart and post-renderer tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Returns the helm binary for `major`, or `None` when the test should skip.
///
/// `NETDNS_HELM{3,4}` names it, else `<repo>/target/tools/helm{3,4}`. A missing
/// helm skips, unless `NETDNS_GUARD_REQUIRE_TOOLS=1` (set by the test command),
/// where it fails. A helm that exists but reports the wrong major always fails:
/// a Helm 3 passed as Helm 4 would otherwise test the wrong contract.
pub fn find_helm(major: u8) -> Option<PathBuf> {
    let var = format!("NETDNS_HELM{major}");
    let path = match std::env::var_os(&var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/tools")
            .join(format!("helm{major}")),
    };
    if !path.is_file() {
        let msg = format!(
            "helm{major} not found at {} (set {var}, or run scripts/install-helm.sh)",
            path.display()
        );
        assert!(
            std::env::var("NETDNS_GUARD_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{msg}; NETDNS_GUARD_REQUIRE_TOOLS=1 makes a missing helm a failure"
        );
        eprintln!("SKIP: {msg}");
        return None;
    }
    let out = Command::new(&path)
        .args(["version", "--template", "{{.Version}}"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && version.starts_with(&format!("v{major}.")),
        "{} is not a working Helm {major} (status {}, version {version:?}, stderr {:?})",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!("using helm{major} {version} at {}", path.display());
    Some(path)
}

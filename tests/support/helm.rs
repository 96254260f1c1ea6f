//! The real Helm binaries the test command installs (`scripts/install-helm.sh`):
//! finding them, and running them confined to a throwaway home. Shared by the
//! chart and post-renderer tests.

use super::missing_tool;

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
        missing_tool::skip_or_fail(&msg);
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

/// A command for `helm` confined to `home`: config, data, cache and plugins all
/// live there, and variables that would change what Helm or the post-renderer
/// plugin does are cleared, so only what the test sets counts.
pub fn confined(helm: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(helm);
    cmd.env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        // Must be $HELM_DATA_HOME/plugins: Helm 4.1's local-directory
        // installer writes there even when HELM_PLUGINS points elsewhere,
        // while lookups follow HELM_PLUGINS (helm/helm#32646).
        .env("HELM_PLUGINS", home.join("data").join("plugins"))
        .env(
            "HELM_REPOSITORY_CONFIG",
            home.join("config").join("repositories.yaml"),
        )
        .env(
            "HELM_REPOSITORY_CACHE",
            home.join("cache").join("repository"),
        )
        .env(
            "HELM_REGISTRY_CONFIG",
            home.join("config").join("registry.json"),
        )
        // `helm template` never needs a cluster; point kubeconfig at nothing
        // so a developer's real context cannot be touched.
        .env("KUBECONFIG", home.join("no-kubeconfig"))
        .env_remove("HELM_DEBUG")
        .env_remove("HELM_NAMESPACE")
        .env_remove("HELM_KUBECONTEXT")
        .env_remove("NETDNS_GUARD_BIN")
        .env_remove("NETDNS_GUARD_STDERR")
        .stdin(Stdio::null());
    cmd
}

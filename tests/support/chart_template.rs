//! `helm template` of charts/netdns-guard with one real Helm binary and throwaway
//! HELM_* homes, for the tests that look at rendered objects.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::helm::find_helm;

/// Release name and namespace of every rendering.
pub const RELEASE: &str = "netdns-guard";

pub use tempfile::TempDir;

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/netdns-guard")
}

/// Owned arguments.
pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------
// Helm and promtool

/// One helm binary with throwaway HELM_* homes.
pub struct Helm {
    pub major: u8,
    path: PathBuf,
    home: TempDir,
}

/// Both Helm majors that are available (each test runs against every one).
pub fn helms() -> Vec<Helm> {
    [3, 4]
        .into_iter()
        .filter_map(|major| {
            find_helm(major).map(|path| Helm {
                major,
                path,
                home: super::scratch::scratch_dir(&format!("day-two-helm{major}")),
            })
        })
        .collect()
}

impl Helm {
    fn command(&self) -> Command {
        let h = self.home.path();
        let mut cmd = Command::new(&self.path);
        cmd.env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_DATA_HOME", h.join("data"))
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("KUBECONFIG", h.join("no-kubeconfig"))
            .stdin(Stdio::null());
        cmd
    }

    /// `helm template` of the chart (release and namespace netdns-guard, Kubernetes
    /// 1.30) with `extra`, whatever its outcome.
    pub fn template_raw(&self, extra: &[String]) -> Output {
        self.command()
            .args(["template", RELEASE])
            .arg(chart_dir())
            .args(["--namespace", RELEASE, "--kube-version", "1.30.0"])
            .args(extra)
            .output()
            .expect("run helm template")
    }

    /// `helm lint --strict` with `extra`.
    pub fn lint(&self, extra: &[String]) -> Output {
        self.command()
            .arg("lint")
            .arg("--strict")
            .arg(chart_dir())
            .args(extra)
            .output()
            .expect("run helm lint")
    }

    /// `helm template` that must succeed: its documents.
    pub fn template(&self, extra: &[String]) -> Vec<Value> {
        let out = self.template_raw(extra);
        assert!(
            out.status.success(),
            "helm{} template {extra:?} failed:\n{}",
            self.major,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        let docs: Vec<Option<Value>> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("helm output is not YAML: {e}\n{text}"));
        docs.into_iter()
            .flatten()
            .filter(|d| !d.is_null())
            .collect()
    }

    /// `helm template` that must fail, with `needle` in its error.
    pub fn refuses(&self, extra: &[String], needle: &str) {
        let out = self.template_raw(extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(needle),
            "helm{} template {extra:?} should fail with {needle:?}; status {}, stderr:\n{stderr}",
            self.major,
            out.status
        );
    }
}

/// The documents of one kind.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The one document of a kind (fails unless there is exactly one).
pub fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let all = of_kind(docs, kind);
    assert_eq!(all.len(), 1, "expected one {kind}, got {}", all.len());
    all[0]
}

/// `doc` as its k8s-openapi type.
pub fn typed<T: serde::de::DeserializeOwned>(doc: &Value) -> T {
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc:#}"))
}

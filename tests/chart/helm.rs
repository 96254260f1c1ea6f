//! Each available Helm major, run confined to a throwaway home (the discovery and
//! confinement in `tests/support/helm.rs`, shared with tests/helm_post_renderer.rs).

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use tempfile::TempDir;

use crate::rendered::Rendered;
use crate::support::helm::{confined, find_helm};
use crate::support::scratch::scratch_dir;
use crate::{NAMESPACE, RELEASE, chart_dir};

/// Both Helm majors that are available (each test runs against every one).
pub fn helms() -> Vec<Helm> {
    [3, 4]
        .into_iter()
        .filter_map(|major| find_helm(major).map(|path| Helm::new(major, path)))
        .collect()
}

/// One helm binary with its own throwaway HELM_* homes.
pub struct Helm {
    pub major: u8,
    path: PathBuf,
    home: TempDir,
}

impl Helm {
    fn new(major: u8, path: PathBuf) -> Self {
        Helm {
            major,
            path,
            home: scratch_dir(&format!("chart-helm{major}")),
        }
    }

    /// A helm command confined to this helm's home.
    pub fn cmd(&self) -> Command {
        confined(&self.path, self.home.path())
    }

    /// Writes `yaml` as a values file in this helm's home and returns its path.
    pub fn values_file(&self, yaml: &str) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = self
            .home
            .path()
            .join(format!("values-{}.yaml", N.fetch_add(1, Ordering::Relaxed)));
        fs::write(&path, yaml).expect("write values file");
        path
    }

    pub fn lint(&self, args: &[String]) -> Output {
        self.cmd()
            .arg("lint")
            .arg("--strict")
            .arg(chart_dir())
            .args(args)
            .output()
            .expect("run helm lint")
    }

    pub fn template_raw(&self, args: &[String]) -> Output {
        self.cmd()
            .args(["template", RELEASE])
            .arg(chart_dir())
            .args(["--namespace", NAMESPACE])
            .args(args)
            .output()
            .expect("run helm template")
    }

    /// `helm template` that must fail, with `needle` in its error.
    pub fn refuses(&self, args: &[String], needle: &str) {
        let out = self.template_raw(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(needle),
            "helm{} template {args:?} should fail with {needle:?}; status {}, stderr:\n{stderr}",
            self.major,
            out.status
        );
    }

    /// `helm template` that must succeed; the documents as JSON values.
    pub fn template(&self, args: &[String]) -> Rendered {
        let out = self.template_raw(args);
        assert!(
            out.status.success(),
            "helm{} template {args:?} failed:\n{}",
            self.major,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).expect("helm output is UTF-8");
        let docs: Vec<Option<Value>> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("helm{} output is not YAML: {e}\n{text}", self.major));
        let docs: Vec<Value> = docs
            .into_iter()
            .flatten()
            .filter(|d| !d.is_null())
            .collect();
        assert!(!docs.is_empty(), "nothing rendered for {args:?}");
        Rendered {
            what: format!("helm{} template {}", self.major, args.join(" ")),
            docs,
        }
    }
}

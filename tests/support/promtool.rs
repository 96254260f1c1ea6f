//! Finding and running promtool (Debian's `prometheus` package, installed by the
//! test command).

use super::missing_tool;

use std::path::{Path, PathBuf};
use std::process::Command;

/// promtool from `NETDNS_PROMTOOL` or PATH, or `None` when the test should skip.
pub fn find_promtool() -> Option<PathBuf> {
    let path = std::env::var_os("NETDNS_PROMTOOL")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("promtool"))
                .find(|p| p.is_file())
        });
    if path.is_none() {
        let msg = "promtool not found (Debian: apt-get install prometheus; or set NETDNS_PROMTOOL)";
        missing_tool::skip_or_fail(msg);
    }
    path
}

/// Runs promtool in `dir`; its output on failure.
pub fn promtool(promtool: &Path, args: &[&str], dir: &Path) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

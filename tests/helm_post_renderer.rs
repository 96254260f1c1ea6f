//! End-to-end check of the Helm post-renderer contract against real Helm
//! binaries (ARCHITECTURE.md, "The command line", "Real parts the tests run").
//!
//! Helm 3 and Helm 4 are both exercised because they reach us differently:
//! Helm 3 runs any executable given to `--post-renderer` (our binary plus
//! `--post-renderer-args`), while Helm 4 only accepts the name of an installed
//! `postrenderer/v1` plugin, i.e. `helm-plugin/netdns-guard`.
//!
//! The helm binaries come from `scripts/install-helm.sh` (default cache
//! `target/tools/helm{3,4}`) or from `NETDNS_HELM3` / `NETDNS_HELM4`. Without
//! them the tests skip, unless `NETDNS_GUARD_REQUIRE_TOOLS=1` (CI), where a
//! silent skip would hide a broken setup.
//!
//! Every helm run gets throwaway `HELM_*_HOME` / `HELM_PLUGINS` directories so a
//! developer's own plugins and repositories can neither leak into the result
//! nor be modified by it.
//!
//! The YAML checks are deliberately plain string searches over documents split
//! on `---`: the point is the process contract, and the engine's own tests
//! cover the exact object shape.

// The plugin entry point is a POSIX sh script and the failing stand-in is
// one too; Helm on Windows would need a different plugin command.
#![cfg(unix)]

mod support {
    pub mod helm;
    pub mod missing_tool;
    pub mod scratch;
}

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use std::process::{Command, Output};
use support::helm::{confined, find_helm};
use support::scratch::scratch_dir;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_netdns-guard");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const RELEASE: &str = "rel";

fn chart_dir() -> PathBuf {
    Path::new(MANIFEST_DIR).join("tests/data/helm-chart")
}

fn plugin_dir() -> PathBuf {
    Path::new(MANIFEST_DIR).join("helm-plugin/netdns-guard")
}

fn write_executable(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// A post-renderer that fails the way netdns-guard does on bad input: it
/// drains stdin (so Helm's writer never sees EPIPE first), complains on
/// stderr and exits 2.
fn failing_renderer(dir: &Path) -> PathBuf {
    let path = dir.join("failing-post-renderer");
    write_executable(
        &path,
        "#!/bin/sh\ncat >/dev/null\necho 'stand-in post-renderer: failing on purpose' >&2\nexit 2\n",
    );
    path
}

// ---------------------------------------------------------------------------
// Running helm

/// A helm command confined to `home` (see `support::helm::confined`).
fn helm_cmd(helm: &Path, home: &TempDir) -> Command {
    confined(helm, home.path())
}

fn run(cmd: &mut Command) -> Output {
    let shown = describe(cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{shown}`: {e}"));
    eprintln!(
        "`{shown}` -> {}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run_ok(cmd: &mut Command) -> String {
    let shown = describe(cmd);
    let out = run(cmd);
    assert!(
        out.status.success(),
        "`{shown}` failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    String::from_utf8(out.stdout).expect("helm output is UTF-8")
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// `helm template rel <chart>`, to which callers add post-renderer flags.
fn template_cmd(helm: &Path, home: &TempDir) -> Command {
    let mut cmd = helm_cmd(helm, home);
    cmd.arg("template").arg(RELEASE).arg(chart_dir());
    cmd
}

/// Helm 3 form: the executable itself, with our subcommand passed through
/// repeated `--post-renderer-args` (each one is a single argv entry; Helm 3
/// does not split them on commas).
fn helm3_post_renderer_args<'a>(
    cmd: &'a mut Command,
    exe: &Path,
    args: &[&str],
) -> &'a mut Command {
    cmd.arg("--post-renderer").arg(exe);
    for a in args {
        cmd.arg("--post-renderer-args").arg(a);
    }
    cmd
}

/// Installs the repository's plugin into the confined Helm 4 home. Installing
/// from a local directory is Helm 4's "development mode": it symlinks the
/// directory and needs no provenance, so no `--verify=false`.
fn install_plugin(helm4: &Path, home: &TempDir) {
    let entry = plugin_dir().join("bin/netdns-guard-postrender");
    let mode = fs::metadata(&entry)
        .unwrap_or_else(|e| panic!("{}: {e}", entry.display()))
        .permissions()
        .mode();
    assert!(
        mode & 0o111 != 0,
        "{} is not executable (mode {mode:o}); was the exec bit lost in git?",
        entry.display()
    );

    run_ok(
        helm_cmd(helm4, home)
            .args(["plugin", "install"])
            .arg(plugin_dir()),
    );
    let list = run_ok(helm_cmd(helm4, home).args(["plugin", "list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("netdns-guard") && l.contains("postrenderer/v1")),
        "plugin not listed as postrenderer/v1 after install:\n{list}"
    );
}

// ---------------------------------------------------------------------------
// Checking the rendered stream

/// Splits a YAML stream into its non-empty documents.
fn documents(stream: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in stream.lines() {
        // A document marker may carry a trailing comment or content; for the
        // streams Helm and we produce a bare `---` (or `--- ` prefix) is enough.
        if line == "---" || line.starts_with("--- ") {
            docs.push(String::new());
        } else {
            let cur = docs.last_mut().expect("never empty");
            cur.push_str(line);
            cur.push('\n');
        }
    }
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// True when `doc` has a top-level `key: value` line (quotes tolerated).
fn has_top_level(doc: &str, key: &str, value: &str) -> bool {
    doc.lines().any(|l| {
        l.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|v| unquote(v.trim()) == value)
    })
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// The single document of `kind` whose metadata name is `name`.
fn find_doc<'a>(docs: &'a [String], kind: &str, name: &str, stream: &str) -> &'a str {
    let matches: Vec<&String> = docs
        .iter()
        .filter(|d| has_top_level(d, "kind", kind))
        .filter(|d| d.lines().any(|l| is_entry(l, "name", name)))
        .collect();
    assert_eq!(
        matches.len(),
        1,
        "expected exactly one {kind} named {name} in the output:\n{stream}"
    );
    matches[0]
}

/// True when `line` (a list item or not) is `key: value`, however quoted.
fn is_entry(line: &str, key: &str, value: &str) -> bool {
    line.trim()
        .trim_start_matches("- ")
        .strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|v| unquote(v.trim()) == value)
}

/// True when an env entry `name: GODEBUG` / `value: netdns=go` appears as
/// two adjacent lines, in either order (serialisers differ on key order).
fn has_godebug_netdns_go(doc: &str) -> bool {
    let lines: Vec<&str> = doc.lines().collect();
    lines.windows(2).any(|w| {
        (is_entry(w[0], "name", "GODEBUG") && is_entry(w[1], "value", "netdns=go"))
            || (is_entry(w[0], "value", "netdns=go") && is_entry(w[1], "name", "GODEBUG"))
    })
}

/// What every successful post-render of the fixture chart must look like:
/// the Go agent gets GODEBUG=netdns=go, the C agent is left alone, objects
/// without pod templates survive, and nothing is added or dropped.
fn assert_post_rendered(stream: &str) {
    let docs = documents(stream);
    let kinds = ["DaemonSet", "Deployment", "ConfigMap", "Service"];
    assert_eq!(
        docs.len(),
        kinds.len(),
        "expected {} documents ({kinds:?}), got {}:\n{stream}",
        kinds.len(),
        docs.len()
    );

    let promtail = find_doc(&docs, "DaemonSet", &format!("{RELEASE}-promtail"), stream);
    assert!(
        promtail.contains("docker.io/grafana/promtail:3.5.1"),
        "promtail image changed:\n{promtail}"
    );
    assert!(
        has_godebug_netdns_go(promtail),
        "promtail DaemonSet lacks env GODEBUG=netdns=go:\n{promtail}"
    );
    assert_eq!(
        promtail.matches("GODEBUG").count(),
        1,
        "promtail DaemonSet should get exactly one GODEBUG entry:\n{promtail}"
    );

    let fluent_bit = find_doc(
        &docs,
        "Deployment",
        &format!("{RELEASE}-fluent-bit"),
        stream,
    );
    assert!(
        fluent_bit.contains("cr.fluentbit.io/fluent/fluent-bit:3.2.0"),
        "fluent-bit image changed:\n{fluent_bit}"
    );
    assert!(
        !fluent_bit.contains("GODEBUG") && !fluent_bit.contains("netdns"),
        "fluent-bit is not a Go binary and must pass through unchanged:\n{fluent_bit}"
    );

    let cm = find_doc(&docs, "ConfigMap", &format!("{RELEASE}-promtail"), stream);
    assert!(
        cm.contains("http_listen_port: 3101"),
        "ConfigMap data lost:\n{cm}"
    );
    find_doc(&docs, "Service", &format!("{RELEASE}-fluent-bit"), stream);
}

/// Helm must refuse to continue when the post-renderer fails, and must not
/// print a manifest as if nothing happened.
fn assert_helm_failed(out: &Output, what: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "{what}: helm succeeded although the post-renderer failed\n{stdout}"
    );
    assert!(
        !stdout.contains("kind:"),
        "{what}: helm failed but still printed manifests:\n{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("post render") || stderr.contains("post-render"),
        "{what}: helm failed, but not in the post-render step:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Helm 3

#[test]
fn helm3_runs_binary_as_post_renderer() {
    let Some(helm3) = find_helm(3) else { return };
    let home = scratch_dir("helm-h3");

    let mut cmd = template_cmd(&helm3, &home);
    helm3_post_renderer_args(&mut cmd, Path::new(BIN), &["dry-run", "-f", "-"]);
    let stream = run_ok(&mut cmd);
    assert_post_rendered(&stream);
}

#[test]
fn helm3_fails_when_post_renderer_fails() {
    let Some(helm3) = find_helm(3) else { return };
    let home = scratch_dir("helm-h3-fail");

    // A stand-in that exits 2: Helm 3 must fail and relay our stderr (it
    // quotes the post-renderer's error output in its own message).
    let failing = failing_renderer(home.path());
    let mut cmd = template_cmd(&helm3, &home);
    cmd.arg("--post-renderer").arg(&failing);
    let out = run(&mut cmd);
    assert_helm_failed(&out, "helm3 + failing stand-in");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failing on purpose"),
        "Helm 3 should relay the post-renderer's stderr"
    );

    // The real binary's own error path (a usage error exits 2) must stop
    // Helm just the same.
    let mut cmd = template_cmd(&helm3, &home);
    helm3_post_renderer_args(
        &mut cmd,
        Path::new(BIN),
        &["dry-run", "-f", "-", "--no-such-option-for-netdns-guard"],
    );
    let out = run(&mut cmd);
    assert_helm_failed(&out, "helm3 + netdns-guard usage error");
}

// ---------------------------------------------------------------------------
// Helm 4

#[test]
fn helm4_runs_plugin_as_post_renderer() {
    let Some(helm4) = find_helm(4) else { return };
    let home = scratch_dir("helm-h4");
    install_plugin(&helm4, &home);

    let stream = run_ok(
        template_cmd(&helm4, &home)
            .args(["--post-renderer", "netdns-guard"])
            .env("NETDNS_GUARD_BIN", BIN),
    );
    assert_post_rendered(&stream);
}

#[test]
fn helm4_plugin_finds_binary_on_path() {
    let Some(helm4) = find_helm(4) else { return };
    let home = scratch_dir("helm-h4-path");
    install_plugin(&helm4, &home);

    // Without NETDNS_GUARD_BIN the plugin falls back to `netdns-guard` on
    // PATH, which is how end users run it.
    let bin_dir = home.path().join("bin");
    fs::create_dir_all(&bin_dir).expect("create bin dir");
    std::os::unix::fs::symlink(BIN, bin_dir.join("netdns-guard")).expect("symlink binary");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(&path)))
        .expect("PATH entries contain no separator");

    let stream = run_ok(
        template_cmd(&helm4, &home)
            .args(["--post-renderer", "netdns-guard"])
            .env("PATH", &path),
    );
    assert_post_rendered(&stream);
}

#[test]
fn helm4_fails_when_post_renderer_fails() {
    let Some(helm4) = find_helm(4) else { return };
    let home = scratch_dir("helm-h4-fail");
    install_plugin(&helm4, &home);

    // Helm 4.1 drops a plugin's stderr (helm/helm#31843), so only the
    // failure itself can be asserted here.
    let failing = failing_renderer(home.path());
    let out = run(template_cmd(&helm4, &home)
        .args(["--post-renderer", "netdns-guard"])
        .env("NETDNS_GUARD_BIN", &failing));
    assert_helm_failed(&out, "helm4 + failing stand-in");

    // Extra --post-renderer-args reach the binary after `dry-run -f -`; an
    // unknown option makes the real binary exit 2.
    let out = run(template_cmd(&helm4, &home)
        .args(["--post-renderer", "netdns-guard"])
        .args(["--post-renderer-args", "--no-such-option-for-netdns-guard"])
        .env("NETDNS_GUARD_BIN", BIN));
    assert_helm_failed(&out, "helm4 + netdns-guard usage error");
}

#[test]
fn helm4_rejects_executable_path_as_post_renderer() {
    // Documents the Helm 4 break that the plugin exists for: the Helm 3
    // style invocation is refused before anything is rendered.
    let Some(helm4) = find_helm(4) else { return };
    let home = scratch_dir("helm-h4-exe");
    let out = run(template_cmd(&helm4, &home).arg("--post-renderer").arg(BIN));
    assert!(
        !out.status.success(),
        "Helm 4 unexpectedly accepted an executable path as --post-renderer; \
         helm-plugin/README.md and ARCHITECTURE.md (Real parts the tests run) need revisiting"
    );
}

// ---------------------------------------------------------------------------
// Checks of the string helpers themselves, so a parsing slip cannot make the
// Helm tests pass vacuously. These run even without helm.

#[test]
fn helpers_recognise_mutated_and_unmutated_streams() {
    let stream = "---\n# Source: x\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: rel-promtail\nspec:\n  template:\n    spec:\n      containers:\n      - name: promtail\n        image: docker.io/grafana/promtail:3.5.1\n        env:\n        - name: GODEBUG\n          value: \"netdns=go\"\n---\nkind: Deployment\nmetadata:\n  name: 'rel-fluent-bit'\nspec: {}\n";
    let docs = documents(stream);
    assert_eq!(docs.len(), 2);
    let ds = find_doc(&docs, "DaemonSet", "rel-promtail", stream);
    assert!(has_godebug_netdns_go(ds));
    let dep = find_doc(&docs, "Deployment", "rel-fluent-bit", stream);
    assert!(!has_godebug_netdns_go(dep));
    // Key order reversed, as another serialiser might emit it.
    assert!(has_godebug_netdns_go(
        "- value: netdns=go\n  name: GODEBUG\n"
    ));
    assert!(!has_godebug_netdns_go(
        "- name: GODEBUG\n  value: netdns=cgo\n"
    ));
    assert!(!has_top_level("  kind: DaemonSet\n", "kind", "DaemonSet"));
}

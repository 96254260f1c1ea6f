//! Real Go binaries for the tests: built here with Debian's Go toolchains (the
//! resolver lab's), and third-party ones nobody here built (Helm from
//! `scripts/install-helm.sh`, Debian's podman and runc).
//!
//! A missing tool skips, unless `NETDNS_GUARD_REQUIRE_TOOLS=1` (the test
//! command sets it), where it fails.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root: the nearest directory up holding `Cargo.lock` (this
/// file is also compiled into the root package's image tests).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(here)
        .to_owned()
}

/// Skips with `msg`, or fails under `NETDNS_GUARD_REQUIRE_TOOLS=1`.
pub fn missing(msg: &str) {
    assert!(
        std::env::var("NETDNS_GUARD_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{msg}; NETDNS_GUARD_REQUIRE_TOOLS=1 makes a missing tool a failure"
    );
    eprintln!("SKIP: {msg}");
}

/// The `go` command of Go 1.`minor` (`NETDNS_LAB_GO1xx`, else Debian's path).
pub fn go(minor: u32) -> Option<PathBuf> {
    let path = std::env::var_os(format!("NETDNS_LAB_GO1{minor}"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/usr/lib/go-1.{minor}/bin/go")));
    if path.is_file() {
        Some(path)
    } else {
        missing(&format!(
            "Go 1.{minor} not found at {} (tests/resolver-lab/run.sh installs it)",
            path.display()
        ));
        None
    }
}

/// Helm `major` (`NETDNS_HELM{3,4}`, else `target/tools/helm{3,4}`).
pub fn helm(major: u8) -> Option<PathBuf> {
    let path = match std::env::var_os(format!("NETDNS_HELM{major}")) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join(format!("target/tools/helm{major}")),
    };
    if path.is_file() {
        Some(path)
    } else {
        missing(&format!(
            "helm{major} not found at {} (scripts/install-helm.sh)",
            path.display()
        ));
        None
    }
}

/// Debian's Go programs (podman, runc: Go 1.19, cgo, with tags).
pub fn debian_go_programs() -> Vec<PathBuf> {
    ["/usr/bin/podman", "/usr/sbin/runc"]
        .into_iter()
        .map(PathBuf::from)
        .filter(|p| {
            let there = p.is_file();
            if !there {
                missing(&format!(
                    "{} not found (apt-get install podman runc)",
                    p.display()
                ));
            }
            there
        })
        .collect()
}

/// A way to build the test program.
pub struct Variant {
    pub name: &'static str,
    pub cgo: bool,
    pub args: &'static [&'static str],
    /// Files of the resolver lab (paths from the repository root) compiled
    /// into the main package beside the program, as the lab builds them.
    pub lab_files: &'static [&'static str],
}

/// The build variants the tests read: what changes build info or symbols.
pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "cgo",
        cgo: true,
        args: &[],
        lab_files: &[],
    },
    Variant {
        name: "nocgo",
        cgo: false,
        args: &[],
        lab_files: &[],
    },
    Variant {
        name: "netgo",
        cgo: true,
        args: &["-tags", "netgo"],
        lab_files: &[],
    },
    Variant {
        name: "netcgo",
        cgo: true,
        args: &["-tags", "netcgo"],
        lab_files: &[],
    },
    Variant {
        name: "trimpath",
        cgo: true,
        args: &["-trimpath"],
        lab_files: &[],
    },
    Variant {
        name: "stripped",
        cgo: true,
        args: &["-ldflags=-s -w"],
        lab_files: &[],
    },
    Variant {
        name: "static",
        cgo: true,
        args: &["-ldflags", "-extldflags -static"],
        lab_files: &[],
    },
    // The lab's `go-debug` build: cgo, but the main package's `//go:debug
    // netdns=go` makes Go >= 1.21 record DefaultGODEBUG=netdns=go, so Go's
    // resolver is the default (Go 1.19 reads the line as a comment).
    Variant {
        name: "godebug",
        cgo: true,
        args: &[],
        lab_files: &["tests/resolver-lab/variants/godebug.go"],
    },
];

const PROGRAM: &str = "package main\n\nimport (\n\t\"fmt\"\n\t\"net\"\n)\n\n\
    func main() {\n\taddrs, err := net.LookupHost(\"localhost\")\n\tfmt.Println(addrs, err)\n}\n";

/// Builds the test program with Go 1.`minor` in `variant`, once per run of
/// the test binary (the Go build cache makes later runs quick). Returns `None`
/// (after `missing`) when the toolchain is not there.
pub fn build(minor: u32, variant: &Variant) -> Option<PathBuf> {
    let go = go(minor)?;
    let dir = repo_root().join("target/buildinfo-tests");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("create the build directory");
    std::fs::write(src.join("main.go"), PROGRAM).expect("write main.go");
    let mut files = vec![OsString::from("main.go")];
    files.extend(variant.lab_files.iter().map(|file| copy_in(file, &src)));
    let exe = dir.join(format!("lookup-go1.{minor}-{}", variant.name));
    let out = Command::new(&go)
        .arg("build")
        .args(variant.args)
        .arg("-o")
        .arg(&exe)
        .args(&files)
        .current_dir(&src)
        .env("CGO_ENABLED", if variant.cgo { "1" } else { "0" })
        .env("GOCACHE", dir.join("gocache"))
        .env("GOPATH", dir.join("gopath"))
        .envs([
            ("GOTOOLCHAIN", "local"),
            ("GOPROXY", "off"),
            ("GOFLAGS", ""),
            ("GOENV", "off"),
            ("GO111MODULE", "on"),
            ("GOTELEMETRY", "off"),
        ])
        .output()
        .expect("run go build");
    assert!(
        out.status.success(),
        "go1.{minor} build {}: {}",
        variant.name,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(exe)
}

/// Copies the lab's `file` into `src` (go builds named files from one
/// directory only) and returns its name there.
fn copy_in(file: &str, src: &Path) -> OsString {
    let from = repo_root().join(file);
    let name = from.file_name().expect("a lab file has a name").to_owned();
    std::fs::copy(&from, src.join(&name))
        .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    name
}

/// `go version -m FILE`'s output.
pub fn go_version_m(go: &Path, file: &Path) -> String {
    let out = Command::new(go)
        .args(["version", "-m"])
        .arg(file)
        .env("GOTOOLCHAIN", "local")
        .output()
        .expect("run go version -m");
    assert!(
        out.status.success(),
        "go version -m {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("go version -m prints UTF-8")
}
